import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tasks_app.executors import ExecutionCancelled, ExecutorError, PermanentError
from tasks_app.executors.http import (
    MAX_BODY_BYTES,
    MSG_NO_HOSTS_ALLOWED,
    HttpRequestExecutor,
    check_url,
    host_allowed,
)

ALLOWED_HOSTS = "ARBOR_HTTP_ALLOWED_HOSTS"


class Handler(BaseHTTPRequestHandler):
    server: "Server"

    def log_message(self, format, *args):  # silence the default stderr logging
        pass

    def _send(self, status, body=b"", content_type="text/plain", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _echo(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        payload = {
            "method": self.command,
            "path": self.path,
            "body": body,
            "content_type": self.headers.get("Content-Type"),
            "x_token": self.headers.get("X-Token"),
            "authorization": self.headers.get("Authorization"),
        }
        self._send(
            200, json.dumps(payload).encode(), "application/json", [("X-Multi", "a"), ("X-Multi", "b")]
        )

    def do_GET(self):
        path = self.path
        if path.startswith("/echo"):
            self._echo()
        elif path == "/text":
            self._send(200, "héllo".encode(), "text/plain; charset=utf-8")
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b"status body")
        elif path == "/redirect-inside":
            self._send(302, headers=[("Location", "/echo?redirected=1")])
        elif path == "/redirect-other-allowed":
            port = self.server.server_address[1]
            self._send(302, headers=[("Location", f"http://localhost:{port}/echo")])
        elif path == "/redirect-outside":
            self._send(302, headers=[("Location", "http://forbidden.example.org/steal")])
        elif path == "/redirect-file":
            self._send(302, headers=[("Location", "file:///etc/passwd")])
        elif path == "/redirect-ftp":
            self._send(302, headers=[("Location", "ftp://127.0.0.1/file")])
        elif path == "/big":
            self._send(200, b"x" * (MAX_BODY_BYTES + 100))
        elif path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.server.slow_started.set()
            try:
                for _ in range(100):
                    self.wfile.write(b"tick\n")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
        elif path == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.flush()
            self.server.slow_started.set()
            time.sleep(3)
        elif path == "/hang":
            time.sleep(1.5)
            self._send(200, b"late")
        else:
            self._send(404, b"not found")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.slow_started = threading.Event()


@pytest.fixture
def server(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    httpd = Server()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def base_url(server):
    return f"http://127.0.0.1:{server.server_address[1]}"


LOCAL = "127.0.0.1:*"  # the local test server listens on a random port of a loopback address


def request(make_context, allowed=(LOCAL,), **inputs):
    executor = HttpRequestExecutor({ALLOWED_HOSTS: list(allowed)})
    return executor.execute(inputs, make_context())


def test_get_returns_status_headers_text_and_parsed_json(make_context, base_url):
    result = request(make_context, url=f"{base_url}/echo")
    assert result["status"] == 200
    assert result["json"]["method"] == "GET"
    assert json.loads(result["body"]) == result["json"]
    assert result["headers"]["Content-Type"] == "application/json"
    assert result["headers"]["X-Multi"] == "a, b"
    assert "truncated" not in result
    json.dumps(result)


def test_text_body_is_decoded_with_its_charset_and_has_no_json(make_context, base_url):
    result = request(make_context, url=f"{base_url}/text", method=None, timeout=None, headers=None)
    assert result["body"] == "héllo"
    assert "json" not in result


def test_json_body_is_sent_as_json(make_context, base_url):
    result = request(make_context, method="post", url=f"{base_url}/echo", body={"a": [1, 2]})
    assert result["json"]["method"] == "POST"
    assert json.loads(result["json"]["body"]) == {"a": [1, 2]}
    assert result["json"]["content_type"] == "application/json"


def test_string_body_and_headers_are_sent_as_given(make_context, base_url):
    result = request(
        make_context,
        method="PUT",
        url=f"{base_url}/echo",
        body="raw text",
        headers={"X-Token": "t0k", "Content-Type": "text/plain"},
    )
    assert result["json"]["body"] == "raw text"
    assert result["json"]["x_token"] == "t0k"
    assert result["json"]["content_type"] == "text/plain"


def test_server_error_is_retryable_with_status(make_context, base_url):
    with pytest.raises(ExecutorError, match="HTTP 503") as excinfo:
        request(make_context, url=f"{base_url}/status/503")
    assert excinfo.value.permanent is False
    assert excinfo.value.error_type == "http_error"
    assert excinfo.value.details["status"] == 503
    assert excinfo.value.details["body"] == "status body"


def test_client_error_is_permanent(make_context, base_url):
    with pytest.raises(PermanentError, match="HTTP 404") as excinfo:
        request(make_context, url=f"{base_url}/status/404")
    assert excinfo.value.details["status"] == 404


def test_too_many_requests_is_retryable(make_context, base_url):
    with pytest.raises(ExecutorError) as excinfo:
        request(make_context, url=f"{base_url}/status/429")
    assert excinfo.value.permanent is False


def test_redirect_within_allowed_host_is_followed(make_context, base_url):
    result = request(make_context, url=f"{base_url}/redirect-inside")
    assert result["json"]["path"] == "/echo?redirected=1"


def test_redirect_to_disallowed_host_is_refused(make_context, base_url):
    with pytest.raises(PermanentError, match="redirect to 'http://forbidden.example.org/steal' refused"):
        request(make_context, url=f"{base_url}/redirect-outside")


def test_redirect_to_non_http_scheme_is_refused(make_context, base_url):
    with pytest.raises(PermanentError, match="redirect to 'file:///etc/passwd' refused: only http and https"):
        request(make_context, url=f"{base_url}/redirect-file")
    with pytest.raises(PermanentError, match="refused: only http and https"):
        request(make_context, url=f"{base_url}/redirect-ftp")


def test_redirect_to_other_allowed_host_drops_credentials(make_context, base_url):
    result = request(
        make_context,
        allowed=[LOCAL, "localhost:*", "[::1]:*"],
        url=f"{base_url}/redirect-other-allowed",
        headers={"Authorization": "Bearer secret", "X-Token": "kept"},
    )
    assert result["json"]["authorization"] is None
    assert result["json"]["x_token"] == "kept"


def test_every_request_is_refused_when_no_host_is_allowed(make_context, base_url):
    with pytest.raises(PermanentError, match=MSG_NO_HOSTS_ALLOWED) as excinfo:
        request(make_context, allowed=(), url=f"{base_url}/echo")
    assert ALLOWED_HOSTS in str(excinfo.value)
    with pytest.raises(PermanentError, match=ALLOWED_HOSTS):
        HttpRequestExecutor().execute({"url": f"{base_url}/echo"}, make_context())


def test_host_not_in_allow_list_is_refused(make_context, base_url):
    with pytest.raises(PermanentError, match=f"host '127.0.0.1' is not listed in settings.{ALLOWED_HOSTS}"):
        request(make_context, allowed=["example.com"], url=f"{base_url}/echo")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/"])
def test_only_http_and_https_are_allowed(make_context, url):
    with pytest.raises(PermanentError, match="only http and https"):
        request(make_context, url=url)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "inputs.url"),
        ({"url": "http:///nohost"}, "has no host"),
        ({"url": "http://127.0.0.1/", "method": "TRACE"}, "inputs.method"),
        ({"url": "http://127.0.0.1/", "headers": {"a": 1}}, "inputs.headers"),
        ({"url": "http://127.0.0.1/", "timeout": 0}, "inputs.timeout"),
        ({"url": "http://127.0.0.1/", "timeout": 61}, "inputs.timeout"),
        ({"url": "http://127.0.0.1/", "timeout": "soon"}, "inputs.timeout"),
    ],
)
def test_invalid_inputs_are_permanent_errors(make_context, inputs, message):
    with pytest.raises(PermanentError, match=message):
        request(make_context, **inputs)


@pytest.mark.parametrize(
    ("host", "patterns", "allowed"),
    [
        ("api.example.com", ["api.example.com"], True),
        ("API.Example.com.", ["api.example.com"], True),
        ("api.example.com", ["*.example.com"], True),
        ("a.b.example.com", ["*.example.com"], True),
        ("example.com", ["*.example.com"], False),
        ("evilexample.com", ["*.example.com"], False),
        ("example.com.evil.org", ["example.com"], False),
        ("127.0.0.1", ["127.0.0.1"], True),
        ("::1", ["[::1]"], True),
        ("anything.org", [], False),
    ],
)
def test_host_allowed_matches_exact_hosts_and_subdomain_patterns(host, patterns, allowed):
    assert host_allowed(host, patterns) is allowed


def test_check_url_accepts_https_on_allowed_host_and_port():
    check_url("https://api.example.com/path?q=1", ["*.example.com"])
    check_url("https://api.example.com:8443/path?q=1", ["*.example.com:8443"])
    with pytest.raises(PermanentError, match="port 8443 of host 'api.example.com' is not allowed"):
        check_url("https://api.example.com:8443/path?q=1", ["*.example.com"])


def test_large_body_is_truncated_to_one_mebibyte(make_context, base_url):
    result = request(make_context, url=f"{base_url}/big")
    assert len(result["body"]) == MAX_BODY_BYTES
    assert result["truncated"] is True
    assert "json" not in result


def test_request_timeout_is_a_retryable_timeout_error(make_context, base_url):
    start = time.monotonic()
    with pytest.raises(ExecutorError, match="timed out") as excinfo:
        request(make_context, url=f"{base_url}/hang", timeout=0.3)
    assert excinfo.value.error_type == "timeout"
    assert excinfo.value.permanent is False
    assert time.monotonic() - start < 1.2


def test_context_timeout_caps_the_request_timeout(make_context, base_url):
    executor = HttpRequestExecutor({ALLOWED_HOSTS: [LOCAL]})
    with pytest.raises(ExecutorError, match="timed out"):
        executor.execute({"url": f"{base_url}/hang", "timeout": 30}, make_context(timeout=0.3))


def test_connection_refused_is_retryable(make_context):
    with pytest.raises(ExecutorError, match="failed") as excinfo:
        request(make_context, url="http://127.0.0.1:1/")
    assert excinfo.value.permanent is False
    assert excinfo.value.error_type == "connection_error"


def test_cancel_closes_a_streaming_response_promptly(make_context, server, base_url, run_in_thread):
    executor = HttpRequestExecutor({ALLOWED_HOSTS: [LOCAL]})
    assert executor.cancelable is True
    runner = run_in_thread(executor, {"url": f"{base_url}/slow"}, make_context())
    assert server.slow_started.wait(5)
    time.sleep(0.15)
    cancelled_at = time.monotonic()
    executor.cancel()
    runner.join(3)
    assert isinstance(runner.error, ExecutionCancelled)
    assert runner.finished_at - cancelled_at < 1


def test_cancel_interrupts_a_read_blocked_on_a_silent_server(make_context, server, base_url, run_in_thread):
    executor = HttpRequestExecutor({ALLOWED_HOSTS: [LOCAL]})
    runner = run_in_thread(executor, {"url": f"{base_url}/stall", "timeout": 30}, make_context())
    assert server.slow_started.wait(5)
    time.sleep(0.2)
    cancelled_at = time.monotonic()
    executor.cancel()
    runner.join(3)
    assert isinstance(runner.error, ExecutionCancelled)
    assert runner.finished_at - cancelled_at < 1
