"""``http_request``: one HTTP(S) request to an allow-listed host, with urllib (no extra deps).

Only hosts in ``ARBOR_HTTP_ALLOWED_HOSTS`` may be contacted, including every redirect target
(SSRF guard). The list holds exact host names or ``*.example.com`` patterns (sub-domains only).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable
from urllib.parse import urlsplit

from .base import CancelableExecutor, ExecutionCancelled, ExecutionContext, ExecutorError, PermanentError
from .config import SETTING_HTTP_ALLOWED_HOSTS

MAX_BODY_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_TIMEOUT_SECONDS = 60.0
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
RETRYABLE_CLIENT_STATUSES = (408, 429)  # request timeout, too many requests
# Dropped when a redirect leaves the original host, so credentials only reach the host they were meant for.
SENSITIVE_HEADERS = ("Authorization", "Cookie", "Proxy-authorization")

MSG_URL_REQUIRED = "inputs.url must be a non-empty string"
MSG_SCHEME = "only http and https URLs are allowed, not {url!r}"
MSG_NO_HOST = "URL {url!r} has no host"
MSG_NO_HOSTS_ALLOWED = "HTTP requests are disabled: settings." + SETTING_HTTP_ALLOWED_HOSTS + " is empty"
MSG_HOST_NOT_ALLOWED = "host {host!r} is not listed in settings." + SETTING_HTTP_ALLOWED_HOSTS
MSG_REDIRECT_REFUSED = "redirect to {url!r} refused: {reason}"
MSG_METHOD = "inputs.method must be one of " + ", ".join(METHODS)
MSG_HEADERS = "inputs.headers must be an object of string values"
MSG_TIMEOUT = "inputs.timeout must be a number of seconds, more than 0 and at most 60"
MSG_TIMED_OUT = "request to {url} timed out"
MSG_STATUS = "HTTP {status} {reason} from {method} {url}"
MSG_CONNECTION = "request to {url} failed: {reason}"


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """Return True if ``host`` equals a pattern or is a sub-domain of a ``*.domain`` pattern."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = str(pattern).strip().lower().rstrip(".").strip("[]")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif pattern and host == pattern:
            return True
    return False


def check_url(url: str, allowed_hosts: Iterable[str]) -> None:
    """Raise PermanentError unless ``url`` is http(s) and its host is allow-listed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise PermanentError(MSG_SCHEME.format(url=url), error_type="not_allowed")
    if not parts.hostname:
        raise PermanentError(MSG_NO_HOST.format(url=url))
    allowed_hosts = list(allowed_hosts)
    if not allowed_hosts:
        raise PermanentError(MSG_NO_HOSTS_ALLOWED, error_type="not_allowed")
    if not host_allowed(parts.hostname, allowed_hosts):
        raise PermanentError(MSG_HOST_NOT_ALLOWED.format(host=parts.hostname), error_type="not_allowed")


class _AllowListRedirectHandler(urllib.request.HTTPRedirectHandler):
    def __init__(self, allowed_hosts: list[str]) -> None:
        self.allowed_hosts = allowed_hosts

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        try:
            check_url(newurl, self.allowed_hosts)
        except PermanentError as exc:
            fp.close()
            raise PermanentError(
                MSG_REDIRECT_REFUSED.format(url=newurl, reason=exc.message), error_type="not_allowed"
            ) from None
        new_req = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new_req is not None and urlsplit(newurl).hostname != urlsplit(req.full_url).hostname:
            for name in SENSITIVE_HEADERS:
                new_req.remove_header(name)
        return new_req


class HttpRequestExecutor(CancelableExecutor):
    """Send one request; the result is ``{status, headers, body, json?}``.

    2xx is success. 5xx, 408 and 429 raise a retryable ExecutorError; other statuses raise
    PermanentError. The body is decoded as text and cut at 1 MiB (``truncated: true``).
    """

    id = "http_request"
    permission = "use_http_request"
    name = "HTTP request"
    description = "Sends an HTTP request to a host listed in settings.ARBOR_HTTP_ALLOWED_HOSTS."
    input_schema = {
        "type": "object",
        "required": ["url"],
        "properties": {
            "method": {"type": "string", "enum": list(METHODS), "default": "GET"},
            "url": {"type": "string", "format": "uri"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}, "default": {}},
            "body": {"description": "A string is sent as-is; any other JSON value is sent as JSON"},
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": MAX_TIMEOUT_SECONDS,
                "default": DEFAULT_TIMEOUT_SECONDS,
            },
        },
    }

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self._response: http.client.HTTPResponse | None = None

    def execute(self, inputs: dict, context: ExecutionContext) -> dict:
        self.bind(context)
        allowed_hosts = list(self.config.get(SETTING_HTTP_ALLOWED_HOSTS) or ())
        url = inputs.get("url")
        if not isinstance(url, str) or not url.strip():
            raise PermanentError(MSG_URL_REQUIRED)
        url = url.strip()
        check_url(url, allowed_hosts)
        method = str(inputs.get("method") or "GET").upper()
        if method not in METHODS:
            raise PermanentError(MSG_METHOD)
        headers = _headers(inputs.get("headers"))
        data = _body(inputs.get("body"), headers)
        timeout_input = inputs.get("timeout")
        timeout = _timeout(DEFAULT_TIMEOUT_SECONDS if timeout_input is None else timeout_input, context, url)

        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        opener = urllib.request.build_opener(_AllowListRedirectHandler(allowed_hosts))
        context.check_cancelled()
        try:
            response = opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            try:
                body, _ = _read_body(exc, context)
            except (OSError, ValueError, AttributeError, http.client.HTTPException):
                body = ""
            finally:
                exc.close()
            raise _status_error(exc.code, exc.reason, method, url, body) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise ExecutorError(MSG_TIMED_OUT.format(url=url), error_type="timeout") from None
            raise ExecutorError(
                MSG_CONNECTION.format(url=url, reason=exc.reason), error_type="connection_error"
            ) from None
        except TimeoutError:
            raise ExecutorError(MSG_TIMED_OUT.format(url=url), error_type="timeout") from None
        except (http.client.HTTPException, OSError) as exc:
            raise ExecutorError(
                MSG_CONNECTION.format(url=url, reason=exc), error_type="connection_error"
            ) from None

        with self._lock:
            self._response = response
        try:
            if self.cancel_requested:
                self._shutdown_socket(response)
            try:
                text, truncated = _read_body(response, context)
            except ExecutionCancelled:
                raise
            except TimeoutError:
                raise ExecutorError(MSG_TIMED_OUT.format(url=url), error_type="timeout") from None
            except (http.client.HTTPException, OSError, ValueError, AttributeError) as exc:
                context.check_cancelled()  # reading from a socket shut down by cancel() fails
                raise ExecutorError(
                    MSG_CONNECTION.format(url=url, reason=exc), error_type="connection_error"
                ) from None
            context.check_cancelled()
            result: dict = {
                "status": response.status,
                "headers": _header_dict(response.headers),
                "body": text,
            }
        finally:
            with self._lock:
                self._response = None
            response.close()
        if truncated:
            result["truncated"] = True
        elif text.strip():
            with contextlib.suppress(ValueError):
                result["json"] = json.loads(text)
        return result

    def cancel(self) -> None:
        super().cancel()
        with self._lock:
            response = self._response
        if response is not None:
            self._shutdown_socket(response)

    @staticmethod
    def _shutdown_socket(response: http.client.HTTPResponse) -> None:
        # Closing the response from another thread would wait for the reader's buffer lock;
        # shutting the socket down makes a blocked recv() return at once.
        sock = getattr(getattr(response.fp, "raw", None), "_sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _headers(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PermanentError(MSG_HEADERS)
    return dict(value)


def _body(value: object, headers: dict[str, str]) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    return json.dumps(value).encode("utf-8")


def _timeout(value: object, context: ExecutionContext, url: str) -> float:
    if isinstance(value, bool):
        raise PermanentError(MSG_TIMEOUT)
    try:
        timeout = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise PermanentError(MSG_TIMEOUT) from None
    if math.isnan(timeout) or not 0 < timeout <= MAX_TIMEOUT_SECONDS:
        raise PermanentError(MSG_TIMEOUT)
    remaining = context.time_remaining()
    if remaining is not None:
        if remaining <= 0:
            raise ExecutorError(MSG_TIMED_OUT.format(url=url), error_type="timeout")
        timeout = min(timeout, remaining)
    return timeout


def _read_body(response, context: ExecutionContext) -> tuple[str, bool]:
    """Read at most MAX_BODY_BYTES, checking for cancellation between chunks."""
    chunks: list[bytes] = []
    size = 0
    truncated = False
    read = getattr(response, "read1", None) or response.read
    while True:
        context.check_cancelled()
        chunk = read(READ_CHUNK_BYTES)
        if not chunk:
            break
        if size + len(chunk) > MAX_BODY_BYTES:
            chunks.append(chunk[: MAX_BODY_BYTES - size])
            truncated = True
            break
        chunks.append(chunk)
        size += len(chunk)
    context.check_cancelled()
    charset = response.headers.get_content_charset() if response.headers is not None else None
    data = b"".join(chunks)
    try:
        return data.decode(charset or "utf-8", errors="replace"), truncated
    except LookupError:
        return data.decode("utf-8", errors="replace"), truncated


def _header_dict(headers) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, value in headers.items():
        result[name] = f"{result[name]}, {value}" if name in result else value
    return result


def _status_error(status: int, reason: object, method: str, url: str, body: str) -> ExecutorError:
    message = MSG_STATUS.format(status=status, reason=reason, method=method, url=url)
    details = {"status": status, "body": body[:4096]}
    retryable = status >= 500 or status in RETRYABLE_CLIENT_STATUSES
    if retryable:
        return ExecutorError(message, error_type="http_error", details=details)
    return PermanentError(message, error_type="http_error", details=details)
