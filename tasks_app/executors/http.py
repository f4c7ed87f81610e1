"""``http_request``: one HTTP(S) request to an allow-listed host, through ``tasks_app.outbound``.

Only URLs allowed by ``ARBOR_HTTP_ALLOWED_HOSTS`` may be contacted, including every redirect
target (SSRF guard). An entry is a host name or ``*.example.com`` pattern (sub-domains only), an
IP address or a network, each on the scheme's default port unless it ends in ``:port`` or ``:*``.
The host is resolved once; loopback, private, link-local, metadata... addresses are refused unless
an address entry allows them, and the connection goes to the checked address
(``tasks_app/outbound.py`` has the rules).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from tasks_app import outbound

from .base import CancelableExecutor, ExecutionCancelled, ExecutionContext, ExecutorError, PermanentError
from .config import SETTING_HTTP_ALLOWED_HOSTS

MAX_BODY_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_TIMEOUT_SECONDS = 60.0
MAX_REDIRECTS = outbound.DEFAULT_MAX_REDIRECTS
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
RETRYABLE_CLIENT_STATUSES = (408, 429)  # request timeout, too many requests

MSG_URL_REQUIRED = "inputs.url must be a non-empty string"
MSG_NO_HOSTS_ALLOWED = outbound.MSG_NO_HOSTS_ALLOWED.format(setting=SETTING_HTTP_ALLOWED_HOSTS)
MSG_METHOD = "inputs.method must be one of " + ", ".join(METHODS)
MSG_HEADERS = "inputs.headers must be an object of string values"
MSG_BAD_HEADER = "inputs.headers or inputs.url cannot be sent: {error}"
MSG_TIMEOUT = "inputs.timeout must be a number of seconds, more than 0 and at most 60"
MSG_TIMED_OUT = "request to {url} timed out"
MSG_STATUS = "HTTP {status} {reason} from {method} {url}"
MSG_CONNECTION = "request to {url} failed: {reason}"


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """Return True if ``host`` matches an allow-list entry's host part (ports are not considered)."""
    host = host.lower().rstrip(".").strip("[]")
    entries = []
    for pattern in patterns:
        try:
            entries.append(outbound.parse_entry(pattern))
        except ValueError:
            continue
    return any(entry.matches_host(host) for entry in entries)


def check_url(url: str, allowed_hosts: Iterable[str]) -> None:
    """Raise PermanentError unless the scheme, host and port of ``url`` are allowed (no DNS)."""
    try:
        outbound.check_target(url, allowed=allowed_hosts, setting=SETTING_HTTP_ALLOWED_HOSTS)
    except outbound.OutboundRefused as exc:
        raise PermanentError(exc.message, error_type="not_allowed", details=exc.details) from None


class HttpRequestExecutor(CancelableExecutor):
    """Send one request; the result is ``{status, headers, body, json?}``.

    2xx is success. 5xx, 408 and 429 raise a retryable ExecutorError; other statuses raise
    PermanentError. The body is decoded as text and cut at 1 MiB (``truncated: true``).
    """

    demo_result = {
        "demo": True,
        "status": 200,
        "headers": {"content-type": "application/json"},
        "body": '{"demo": true}',
        "json": {"demo": True},
    }
    id = "http_request"
    concurrent = True
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

    @classmethod
    def check_inputs(cls, inputs: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
        url = inputs.get("url")
        if not isinstance(url, str) or not url.strip():
            return []
        try:
            check_url(url.strip(), list(config.get(SETTING_HTTP_ALLOWED_HOSTS) or ()))
        except PermanentError as exc:
            return [exc.message]
        try:
            outbound.clean_headers(inputs.get("headers") if isinstance(inputs.get("headers"), dict) else None)
        except outbound.OutboundRefused as exc:
            return [exc.message]
        return []

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self._response: outbound.OutboundResponse | None = None
        self._connection: http.client.HTTPConnection | None = None

    def execute(self, inputs: dict[str, Any], context: ExecutionContext) -> dict[str, Any]:
        self.bind(context)
        allowed_hosts = list(self.config.get(SETTING_HTTP_ALLOWED_HOSTS) or ())
        url = inputs.get("url")
        if not isinstance(url, str) or not url.strip():
            raise PermanentError(MSG_URL_REQUIRED)
        url = url.strip()
        check_url(url, allowed_hosts)  # before the other inputs, and without DNS
        method = str(inputs.get("method") or "GET").upper()
        if method not in METHODS:
            raise PermanentError(MSG_METHOD)
        headers = _headers(inputs.get("headers"))
        data = _body(inputs.get("body"), headers)
        timeout_input = inputs.get("timeout")
        timeout = _timeout(DEFAULT_TIMEOUT_SECONDS if timeout_input is None else timeout_input, context, url)

        context.check_cancelled()
        try:
            response = outbound.safe_request(
                method,
                url,
                allowed=allowed_hosts,
                headers=headers,
                body=data,
                timeout=timeout,
                max_redirects=MAX_REDIRECTS,
                setting=SETTING_HTTP_ALLOWED_HOSTS,
                on_connection=lambda connection: self._connected(connection, context),
            )
        except outbound.OutboundRefused as exc:
            raise PermanentError(exc.message, error_type="not_allowed", details=exc.details) from None
        except ExecutionCancelled:
            raise
        except TimeoutError:
            context.check_cancelled()
            raise ExecutorError(MSG_TIMED_OUT.format(url=url), error_type="timeout") from None
        except (ValueError, http.client.InvalidURL) as exc:  # a header or path http.client refuses to send
            raise PermanentError(MSG_BAD_HEADER.format(error=exc)) from None
        except (http.client.HTTPException, OSError) as exc:
            context.check_cancelled()  # a connection shut down by cancel() fails
            raise ExecutorError(
                MSG_CONNECTION.format(url=url, reason=exc), error_type="connection_error"
            ) from None
        with self._lock:
            self._response = response
        try:
            if self.cancel_requested:
                response.shutdown()
            if not 200 <= response.status < 300:
                try:
                    body, _ = _read_body(response, context)
                except (OSError, ValueError, AttributeError, http.client.HTTPException):
                    body = ""
                raise _status_error(response.status, response.reason, method, url, body)
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
            result: dict[str, Any] = {
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

    def _connected(self, connection: http.client.HTTPConnection | None, context: ExecutionContext) -> None:
        """Remember the connection in use, so cancel() can interrupt it; stop between redirects."""
        with self._lock:
            self._connection = connection
        if connection is not None:
            context.check_cancelled()

    def cancel(self) -> None:
        super().cancel()
        with self._lock:
            response, connection = self._response, self._connection
        # Closing the response from another thread would wait for the reader's buffer lock;
        # shutting the socket down makes a blocked recv() return at once.
        if response is not None:
            response.shutdown()
        if connection is not None:
            outbound.shutdown_connection(connection)


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


def _read_body(response: outbound.OutboundResponse, context: ExecutionContext) -> tuple[str, bool]:
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


def _header_dict(headers: http.client.HTTPMessage) -> dict[str, str]:
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
