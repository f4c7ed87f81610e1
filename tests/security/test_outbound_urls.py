"""Item 3: outbound URLs may not reach loopback, private, link-local or metadata addresses.

The attack: an ``http_request`` task reached Arbor's own ``/metrics``. The host was checked by
name only, before DNS, on any port, and the connection resolved the name again. Now the address
is checked after resolution (and on every redirect), the connection goes to that address, the
port is part of the allow-list and a user ``Host`` header is dropped (``tasks_app/outbound.py``).
"""

import ipaddress
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings

from tasks_app import outbound
from tasks_app.executors import ExecutionContext, PermanentError, check_registry
from tasks_app.executors.http import HttpRequestExecutor

from .conftest import t


@pytest.fixture(autouse=True)
def _granted(executor_grants):
    """The user of these tests may use the dangerous executors (docs/security.md): what is
    tested here is what a granted user can still not do."""


SETTING = "ARBOR_HTTP_ALLOWED_HOSTS"
REAL_GETADDRINFO = socket.getaddrinfo


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def do_GET(self):
        port = self.server.server_address[1]
        target = self.server.redirects.get(self.path)
        if target is not None:
            self.send_response(302)
            self.send_header("Location", target.format(port=port))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps(
            {"path": self.path, "host": self.headers.get("Host"), "x_token": self.headers.get("X-Token")}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address="127.0.0.1", port=0):
        super().__init__((address, port), Handler)
        self.redirects = {
            "/to-internal-name": "http://internal.public.test:{port}/metrics",
            "/to-metadata": "http://169.254.169.254/latest/meta-data/",
            "/to-other-port": "http://127.0.0.1:1/metrics",
            "/to-mapped": "http://mapped.test:{port}/metrics",
            "/loop": "/loop",
            "/to-echo": "/echo",
        }


@pytest.fixture
def server():
    httpd = Server()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def port(server):
    return server.server_address[1]


@pytest.fixture
def dns(monkeypatch):
    """A resolver: ``dns["name"] = [answer, answer...]`` (the last answer repeats); counts lookups."""

    class FakeDNS(dict):
        lookups: dict

    answers = FakeDNS()
    answers.lookups = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        count = answers.lookups.get(host, 0)
        answers.lookups[host] = count + 1
        sequence = answers[host]
        addresses = sequence[min(count, len(sequence) - 1)]
        addresses = [addresses] if isinstance(addresses, str) else addresses
        result = []
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, port or 0, 0, 0) if family == socket.AF_INET6 else (address, port or 0)
            result.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return result

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def ctx():
    return ExecutionContext(task_id="t1", attempt_id="a1", attempt_number=1, task_name="t", task_key="k")


def fetch(url, allowed, **inputs):
    return HttpRequestExecutor({SETTING: list(allowed)}).execute({"url": url, **inputs}, ctx())


# --- the pure address classification ------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("fec0::1", "site-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "IPv4-mapped 127.0.0.1"),
        ("::ffff:169.254.169.254", "metadata"),
        ("::127.0.0.1", "IPv4-compatible"),
        ("64:ff9b::a00:1", "NAT64 10.0.0.1"),
        ("2002:7f00:1::", "6to4 127.0.0.1"),
        ("2002:a9fe:a9fe::", "6to4 169.254.169.254"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo"),
        ("192.0.2.1", ""),
        ("198.18.0.1", ""),
    ],
)
def test_blocked_addresses(address, reason):
    found = outbound.blocked_reason(address)
    assert found is not None and reason in found


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "2002:808:808::"])
def test_public_addresses_are_not_blocked(address):
    assert outbound.blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("entry", "url", "ok"),
    [
        ("api.example.com", "http://api.example.com/", True),
        ("api.example.com", "https://api.example.com/", True),
        ("api.example.com", "http://api.example.com:8080/", False),
        ("api.example.com", "http://api.example.com:443/", False),
        ("api.example.com:8080", "http://api.example.com:8080/", True),
        ("api.example.com:8080", "http://api.example.com/", False),
        ("api.example.com:*", "http://api.example.com:1234/", True),
        ("*.example.com", "https://a.b.example.com/", True),
        ("*.example.com", "https://example.com/", False),
        ("127.0.0.1", "http://127.0.0.1/", True),
        ("127.0.0.1", "http://127.0.0.1:8000/metrics", False),
        ("127.0.0.1:8000", "http://127.0.0.1:8000/metrics", True),
        ("10.0.0.0/8:*", "http://10.20.30.40:9000/", True),
        ("10.0.0.0/8:*", "http://11.0.0.1:9000/", False),
        ("[::1]:*", "http://[::1]:5000/", True),
        ("[fd00::/8]:443", "https://[fd00::5]/", True),
    ],
)
def test_allow_list_entries_and_ports(entry, url, ok):
    if ok:
        outbound.check_target(url, allowed=[entry])
    else:
        with pytest.raises(outbound.OutboundRefused, match=SETTING):
            outbound.check_target(url, allowed=[entry])


@pytest.mark.parametrize("entry", ["*", "http://x.org", "a.b:0", "a.b:99999", "a.b:port", "[::1", "a b", ""])
def test_bad_entries_are_reported_by_the_system_check(entry):
    assert outbound.check_allow_list([entry]) != []
    with override_settings(ARBOR_HTTP_ALLOWED_HOSTS=[entry]):
        assert any(SETTING in message for message in check_registry())


# --- resolution: the address is checked, then pinned --------------------------------------------


def test_public_name_resolving_to_loopback_is_refused(dns, port):
    dns["public.test"] = ["127.0.0.1"]
    with pytest.raises(PermanentError) as excinfo:
        # the plain entry is what the attacker's operator had; before the fix it allowed any port
        fetch(f"http://public.test:{port}/metrics", ["public.test", "public.test:*"])
    message = str(excinfo.value)
    assert "'public.test'" in message and "127.0.0.1" in message and "loopback" in message
    assert SETTING in message and f"'127.0.0.1:{port}'" in message
    assert excinfo.value.error_type == "not_allowed"


def test_public_name_resolving_to_metadata_is_refused(dns):
    dns["meta.test"] = ["169.254.169.254"]
    with pytest.raises(PermanentError, match="169.254.169.254 \\(cloud metadata address\\)"):
        fetch("http://meta.test/latest/meta-data/", ["meta.test"])
    # a broad network entry does not open the metadata address; only the address itself does
    with pytest.raises(outbound.OutboundRefused, match="metadata"):
        outbound.check_url("http://meta.test/", allowed=["meta.test", "169.254.0.0/16:*"])
    target = outbound.check_url("http://meta.test/", allowed=["meta.test", "169.254.169.254:80"])
    assert target.addresses == ("169.254.169.254",)


def test_one_blocked_address_among_public_ones_refuses(dns):
    dns["mixed.test"] = [["93.184.216.34", "10.0.0.7"]]
    with pytest.raises(outbound.OutboundRefused, match="10.0.0.7 \\(private address\\)"):
        outbound.check_url("https://mixed.test/", allowed=["mixed.test"])


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://100.100.100.200/", "http://[fd00:ec2::254]/"],
)
def test_metadata_literals_need_an_entry_naming_the_address(url):
    everything = ["0.0.0.0/0:*", "[::/0]:*"]
    with pytest.raises(outbound.OutboundRefused, match="cloud metadata address"):
        outbound.check_url(url, allowed=everything)
    host = url.split("/")[2]
    outbound.check_url(url, allowed=[*everything, host])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://10.0.0.1/",
    ],
)
def test_blocked_ip_literals_are_refused_by_name_entries(url):
    with pytest.raises(outbound.OutboundRefused, match="not listed"):
        outbound.check_url(url, allowed=["*.test", "localhost:*", "example.com"])


def test_dns_rebinding_cannot_swap_the_checked_address(dns, port):
    # First answer: the allowed local server. Any later lookup would say 10.0.0.1 (blocked).
    dns["rebind.test"] = ["127.0.0.1", "10.0.0.1"]
    result = fetch(f"http://rebind.test:{port}/echo", ["rebind.test:*", "127.0.0.1:*"])
    assert result["json"]["path"] == "/echo"
    assert result["json"]["host"] == f"rebind.test:{port}"  # the name, though connected by address
    assert dns.lookups["rebind.test"] == 1  # resolved once, connected to what was checked


def test_allowed_address_still_works(port):
    result = fetch(f"http://127.0.0.1:{port}/echo", ["127.0.0.1:*"])
    assert result["status"] == 200 and result["json"]["path"] == "/echo"


# --- redirects ----------------------------------------------------------------------------------


def test_redirect_to_a_name_resolving_to_a_blocked_address_is_refused(dns, port):
    dns["internal.public.test"] = ["127.0.0.2"]
    with pytest.raises(PermanentError) as excinfo:
        fetch(
            f"http://127.0.0.1:{port}/to-internal-name",
            ["127.0.0.1", "127.0.0.1:*", "internal.public.test", "internal.public.test:*"],
        )
    message = str(excinfo.value)
    assert f"redirect to 'http://internal.public.test:{port}/metrics' refused" in message
    assert "127.0.0.2 (loopback address)" in message


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/to-metadata", "host '169.254.169.254' is not listed"), ("/to-mapped", "IPv4-mapped")],
)
def test_redirect_to_blocked_addresses_is_refused(dns, port, path, reason):
    dns["mapped.test"] = ["::ffff:127.0.0.1"]
    allowed = ["127.0.0.1:*", "mapped.test:*"]
    with pytest.raises(PermanentError, match=f"redirect to .* refused: .*{reason}"):
        fetch(f"http://127.0.0.1:{port}{path}", allowed)


def test_redirect_to_a_port_not_allowed_is_refused(port):
    with pytest.raises(PermanentError, match="redirect to 'http://127.0.0.1:1/metrics' refused: port 1"):
        fetch(f"http://127.0.0.1:{port}/to-other-port", [f"127.0.0.1:{port}"])


def test_redirects_are_bounded(port):
    with pytest.raises(PermanentError, match="more than 5 redirects"):
        fetch(f"http://127.0.0.1:{port}/loop", ["127.0.0.1:*"])


def test_allowed_redirect_is_followed(port):
    assert fetch(f"http://127.0.0.1:{port}/to-echo", ["127.0.0.1:*"])["json"]["path"] == "/echo"


# --- ports and headers --------------------------------------------------------------------------


def test_port_not_on_the_allow_list_is_refused(port):
    with pytest.raises(
        PermanentError, match=f"port {port} of host '127.0.0.1' is not allowed by settings.{SETTING}"
    ):
        fetch(f"http://127.0.0.1:{port}/metrics", ["127.0.0.1"])
    with pytest.raises(PermanentError, match=f"port {port}"):
        fetch(f"http://127.0.0.1:{port}/metrics", [f"127.0.0.1:{port + 1 if port < 65535 else 1}"])
    assert fetch(f"http://127.0.0.1:{port}/echo", [f"127.0.0.1:{port}"])["status"] == 200


def test_user_host_header_is_dropped(port):
    result = fetch(
        f"http://127.0.0.1:{port}/echo",
        ["127.0.0.1:*"],
        headers={"Host": "metrics.internal", "hOsT": "x", "X-Token": "kept"},
    )
    assert result["json"]["host"] == f"127.0.0.1:{port}"
    assert result["json"]["x_token"] == "kept"


@pytest.mark.parametrize("name", ["Transfer-Encoding", "Connection", "Content-Length", "Upgrade", "TE"])
def test_hop_by_hop_headers_are_refused(port, name):
    with pytest.raises(PermanentError, match=f"header '{name}' may not be set"):
        fetch(f"http://127.0.0.1:{port}/echo", ["127.0.0.1:*"], method="POST", body="x", headers={name: "1"})


def test_header_injection_is_refused(port):
    with pytest.raises(PermanentError, match="cannot be sent"):
        fetch(f"http://127.0.0.1:{port}/echo", ["127.0.0.1:*"], headers={"X-Token": "a\r\nHost: evil"})


# --- through the API ----------------------------------------------------------------------------


def run_task(api, make_tree, drain, url, **inputs):
    _, tasks = make_tree([t("fetch", "http_request", inputs={"url": url, **inputs})], execute=True)
    drain()
    return api.get(f"/api/v1/tasks/{tasks['fetch']['id']}/").json()


@pytest.mark.django_db
@override_settings(ARBOR_HTTP_ALLOWED_HOSTS=["127.0.0.1"])
def test_api_task_cannot_reach_a_local_port_by_address(api, make_tree, drain, port):
    url = f"http://127.0.0.1:{port}/metrics"
    resp = api.post("/api/v1/trees/", [t("fetch", "http_request", inputs={"url": url})], format="json")
    assert resp.status_code == 400
    assert f"port {port}" in resp.json()["error"]["message"] and SETTING in resp.json()["error"]["message"]
    # the same URL arriving from a dependency's result is refused when the task runs
    _, tasks = make_tree(
        [
            t("r"),
            t("up", "echo", parent_id="r", inputs={"result": {"url": url}}),
            t("fetch", "http_request", parent_id="r", dependencies=["up"]),
        ],
        execute=True,
    )
    drain()
    task = api.get(f"/api/v1/tasks/{tasks['fetch']['id']}/").json()
    assert task["status"] == "failed" and task["error_type"] == "not_allowed"
    assert f"port {port}" in task["error"] and SETTING in task["error"]


@pytest.mark.django_db
@override_settings(ARBOR_HTTP_ALLOWED_HOSTS=["127.0.0.1:*"])
def test_api_refuses_hop_by_hop_headers_at_creation(api):
    inputs = {"url": "http://127.0.0.1:8000/", "headers": {"Transfer-Encoding": "chunked"}}
    resp = api.post("/api/v1/trees/", [t("fetch", "http_request", inputs=inputs)], format="json")
    assert resp.status_code == 400 and "Transfer-Encoding" in resp.json()["error"]["message"]


@pytest.mark.django_db
@override_settings(ARBOR_HTTP_ALLOWED_HOSTS=["status.public.test", "status.public.test:*"])
def test_api_task_cannot_reach_loopback_through_a_name(api, make_tree, drain, dns, port):
    dns["status.public.test"] = ["127.0.0.1"]
    task = run_task(api, make_tree, drain, f"http://status.public.test:{port}/metrics")
    assert task["status"] == "failed" and task["error_type"] == "not_allowed"
    assert "127.0.0.1 (loopback address)" in task["error"] and SETTING in task["error"]
    assert task["result"] is None


@pytest.mark.django_db
@override_settings(ARBOR_HTTP_ALLOWED_HOSTS=["127.0.0.1:*"])
def test_api_task_reaches_an_explicitly_allowed_address(api, make_tree, drain, port):
    task = run_task(api, make_tree, drain, f"http://127.0.0.1:{port}/echo", headers={"Host": "evil"})
    assert task["status"] == "completed", task["error"]
    assert task["result"]["json"] == {"path": "/echo", "host": f"127.0.0.1:{port}", "x_token": None}


# --- https: connected by address, SNI and certificate check by name -----------------------------


def _certificates(tmp_path, name):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def build(subject, issuer, key, signer, *, ca):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Arbor test CA")])
    ca = build(ca_name, ca_name, ca_key, ca_key, ca=True)
    leaf = build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), ca_name, key, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp_path / "leaf.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tmp_path / "ca.pem", tmp_path / "leaf.pem", tmp_path / "leaf.key"


@pytest.fixture
def tls_server(tmp_path):
    import ssl

    ca, cert, key = _certificates(tmp_path, "secure.test")
    httpd = Server()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    httpd.sni_names = []
    server_context.sni_callback = lambda sock, name, context: httpd.sni_names.append(name)
    httpd.socket = server_context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.client_context = ssl.create_default_context(cafile=str(ca))
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_https_connects_to_the_checked_address_with_sni_and_certificate_of_the_name(dns, tls_server):
    port = tls_server.server_address[1]
    dns["secure.test"] = ["127.0.0.1", "10.0.0.1"]  # a second lookup would get a blocked address
    response = outbound.safe_request(
        "GET",
        f"https://secure.test:{port}/echo",
        allowed=["secure.test:*", "127.0.0.1:*"],
        headers={"Host": "evil.test"},
        ssl_context=tls_server.client_context,
    )
    try:
        assert json.loads(response.read())["host"] == f"secure.test:{port}"
    finally:
        response.close()
    assert tls_server.sni_names == ["secure.test"] and dns.lookups["secure.test"] == 1


def test_https_certificate_must_match_the_name_not_the_address(dns, tls_server):
    import ssl

    port = tls_server.server_address[1]
    dns["other.test"] = ["127.0.0.1"]
    with pytest.raises(ssl.SSLCertVerificationError):
        outbound.safe_request(
            "GET",
            f"https://other.test:{port}/echo",
            allowed=["other.test:*", "127.0.0.1:*"],
            ssl_context=tls_server.client_context,
        )
