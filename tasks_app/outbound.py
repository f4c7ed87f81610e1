"""Outbound HTTP(S) with an SSRF guard: the one way Arbor code reaches a URL a user chose.

Standard library only (no models, no settings read here): the caller passes the allow-list and
the name of the setting it came from (for error messages). Used by the ``http_request`` executor;
meant for outbound webhooks and notifications too.

Allow-list entries (``ARBOR_HTTP_ALLOWED_HOSTS``), case-insensitive:

- ``api.example.com`` / ``*.example.com``: that host name (or its sub-domains) on the scheme's
  default port only (80 for http, 443 for https);
- ``api.example.com:8443``: that port only; ``api.example.com:*``: any port;
- an IP address or network, with the same port suffix: ``127.0.0.1:8000``, ``10.0.0.0/8:*``,
  ``[::1]:*``, ``[fd00::/8]:443``, ``203.0.113.7``. Only such entries let a request reach a
  *blocked* address (``blocked_reason``): a host name on the list that resolves to a loopback,
  private, link-local... address is still refused unless that address (and port) is allowed too.
  A cloud metadata address is only allowed by an entry naming that single address.

``check_url`` resolves the host once and refuses the URL if ANY address is blocked and not
allowed. ``safe_request`` then connects to those checked addresses (no second DNS lookup, so DNS
rebinding cannot swap them), sends the real host name in ``Host`` and in TLS SNI (the certificate
is checked against it), drops a caller's ``Host`` header, refuses hop-by-hop headers, and follows
at most ``max_redirects`` redirects itself, checking every hop the same way. Proxy environment
variables are not used.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_SETTING = "ARBOR_HTTP_ALLOWED_HOSTS"
DEFAULT_PORTS = {"http": 80, "https": 443}
DEFAULT_MAX_REDIRECTS = 5
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Never sent as given: Host is always the URL's host; hop-by-hop and framing headers are refused.
DROPPED_HEADERS = frozenset({"host"})
REFUSED_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
    }
)
# Dropped when a redirect leaves the original origin, so credentials only reach the host they were meant for.
SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
USER_AGENT = "Arbor"

MSG_SCHEME = "only http and https URLs are allowed, not {url!r}"
MSG_NO_HOST = "URL {url!r} has no host"
MSG_BAD_URL = "URL {url!r} is not valid: {error}"
MSG_NO_HOSTS_ALLOWED = "HTTP requests are disabled: settings.{setting} is empty"
MSG_HOST_NOT_ALLOWED = "host {host!r} is not listed in settings.{setting}"
MSG_PORT_NOT_ALLOWED = (
    "port {port} of host {host!r} is not allowed by settings.{setting} "
    "(an entry without a port allows only 80/443; add '{entry}' to allow it)"
)
MSG_ADDRESS_BLOCKED = (
    "host {host!r} resolves to {address} ({reason}), which is blocked; "
    "add '{entry}' to settings.{setting} to allow it"
)
MSG_NO_ADDRESS = "host {host!r} did not resolve to any address"
MSG_REDIRECT_REFUSED = "redirect to {url!r} refused: {reason}"
MSG_TOO_MANY_REDIRECTS = "more than {count} redirects from {url!r}"
MSG_HEADER_REFUSED = "header {name!r} may not be set (hop-by-hop or message framing header)"
MSG_BAD_ENTRY = (
    "settings.{setting}: entry {entry!r} is not a host name, address or network with an optional :port or :*"
)

_NAME = re.compile(
    r"^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$"
)


class OutboundRefused(Exception):
    """The URL, a redirect or a header is not allowed. Retrying cannot help."""

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


# --- address classification (pure) ------------------------------------------------------------


def blocked_reason(address: str | IPAddress) -> str | None:
    """Return why ``address`` is not a public address (None if it is one).

    IPv4-mapped, IPv4-compatible, NAT64, 6to4 and Teredo IPv6 addresses are judged by the IPv4
    address they embed as well.
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if ip in METADATA_ADDRESSES:
        return "cloud metadata address"
    if ip.version == 6:
        for label, embedded in _embedded_ipv4(ip):
            reason = blocked_reason(embedded)
            if reason is not None:
                return f"{label} {embedded}: {reason}"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_multicast:
        return "multicast address"
    if ip.version == 4 and ip in CARRIER_GRADE_NAT:
        return "carrier-grade NAT address"
    if ip.version == 6 and ip in ipaddress.ip_network("fc00::/7"):
        return "unique-local address"
    if ip.version == 6 and ip.is_site_local:
        return "site-local address"
    if ip.is_reserved:
        return "reserved address"
    if ip.is_private:
        return "private address"
    if not ip.is_global:
        return "not a globally routable address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    found = []
    if ip.ipv4_mapped is not None:
        found.append(("IPv4-mapped", ip.ipv4_mapped))
    elif ip in IPV4_COMPATIBLE and int(ip) > 1:
        found.append(("IPv4-compatible", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    if ip in NAT64:
        found.append(("NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    if ip.sixtofour is not None:
        found.append(("6to4", ip.sixtofour))
    if ip.teredo is not None:
        server, client = ip.teredo
        found.extend([("Teredo server", server), ("Teredo client", client)])
    return found


# --- the allow-list -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AllowEntry:
    """One parsed allow-list entry: a host name pattern or a network, and its ports."""

    text: str
    name: str | None = None  # "api.example.com" or "*.example.com"
    network: IPNetwork | None = None
    port: int | None = None  # None: the scheme's default port
    any_port: bool = False

    def allows_port(self, scheme: str, port: int) -> bool:
        if self.any_port:
            return True
        return port == (self.port if self.port is not None else DEFAULT_PORTS.get(scheme))

    def matches_host(self, host: str) -> bool:
        ip = _ip_or_none(host)
        if ip is not None:
            return self.network is not None and ip.version == self.network.version and ip in self.network
        if self.name is None:
            return False
        if self.name.startswith("*."):
            return host.endswith(self.name[1:]) and len(host) > len(self.name) - 1
        return host == self.name

    def allows_address(self, ip: IPAddress, scheme: str, port: int) -> bool:
        if self.network is None or ip.version != self.network.version or ip not in self.network:
            return False
        if ip in METADATA_ADDRESSES and self.network.num_addresses != 1:
            return False  # only an entry naming the metadata address itself reaches it
        return self.allows_port(scheme, port)


def parse_entry(text: str) -> AllowEntry:
    """Parse one allow-list entry; raise ValueError if it is not one."""
    raw = str(text).strip().lower()
    host, port_text = raw, None
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(text)
        port_text = rest[1:] if rest else None
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
    host = host.rstrip(".")
    any_port, port = False, None
    if port_text is not None:
        if port_text == "*":
            any_port = True
        elif port_text.isdigit() and 0 < int(port_text) < 65536:
            port = int(port_text)
        else:
            raise ValueError(text)
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        network = None
    if network is not None:
        return AllowEntry(text=str(text), network=network, port=port, any_port=any_port)
    if not host or not _NAME.match(host):
        raise ValueError(text)
    return AllowEntry(text=str(text), name=host, port=port, any_port=any_port)


def parse_allow_list(entries: Iterable[str], setting: str = DEFAULT_SETTING) -> list[AllowEntry]:
    """Parse every entry; raise OutboundRefused naming the first bad one."""
    parsed = []
    for entry in entries:
        try:
            parsed.append(parse_entry(entry))
        except ValueError:
            raise OutboundRefused(MSG_BAD_ENTRY.format(setting=setting, entry=entry)) from None
    return parsed


def check_allow_list(entries: Iterable[object], setting: str = DEFAULT_SETTING) -> list[str]:
    """Return one message per entry that does not parse (for system checks)."""
    errors = []
    for entry in entries:
        try:
            parse_entry(str(entry))
        except ValueError:
            errors.append(MSG_BAD_ENTRY.format(setting=setting, entry=entry))
    return errors


# --- checking a URL -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A URL that passed the checks, with the addresses it may be connected to."""

    url: str
    scheme: str
    host: str  # lower-case, IDNA-encoded, without brackets
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...] = field(default=())

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def resolve(host: str, port: int) -> list[str]:
    """Return the addresses of ``host`` (an IP literal is returned as is), in resolver order."""
    if _ip_or_none(host) is not None:
        return [str(ipaddress.ip_address(host))]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    return addresses


def check_target(url: str, *, allowed: Iterable[str], setting: str = DEFAULT_SETTING) -> Target:
    """Check the scheme, host and port of ``url`` against the allow-list, without DNS."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(MSG_BAD_URL.format(url=url, error=exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise OutboundRefused(MSG_SCHEME.format(url=url))
    if not parts.hostname:
        raise OutboundRefused(MSG_NO_HOST.format(url=url))
    host = _normal_host(parts.hostname, url)
    port = port if port is not None else DEFAULT_PORTS[scheme]
    entries = parse_allow_list(allowed, setting)
    if not entries:
        raise OutboundRefused(MSG_NO_HOSTS_ALLOWED.format(setting=setting))
    matching = [entry for entry in entries if entry.matches_host(host)]
    if not matching:
        raise OutboundRefused(MSG_HOST_NOT_ALLOWED.format(host=host, setting=setting), host=host)
    if not any(entry.allows_port(scheme, port) for entry in matching):
        raise OutboundRefused(
            MSG_PORT_NOT_ALLOWED.format(port=port, host=host, setting=setting, entry=_entry_for(host, port)),
            host=host,
            port=port,
        )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(url=url, scheme=scheme, host=host, port=port, path=path)


def check_url(url: str, *, allowed: Iterable[str], setting: str = DEFAULT_SETTING) -> Target:
    """Check ``url`` (``check_target``), resolve its host once and check every address.

    Return the Target with the addresses to connect to. Raise OutboundRefused if the URL is not
    allowed or ANY address is blocked (``blocked_reason``) and not allowed by an IP/network
    entry; OSError (``socket.gaierror``) if the name does not resolve.
    """
    allowed = list(allowed)
    target = check_target(url, allowed=allowed, setting=setting)
    entries = parse_allow_list(allowed, setting)
    addresses = resolve(target.host, target.port)
    if not addresses:
        raise OutboundRefused(MSG_NO_ADDRESS.format(host=target.host), host=target.host)
    for address in addresses:
        ip = ipaddress.ip_address(address)
        reason = blocked_reason(ip)
        if reason is None or any(entry.allows_address(ip, target.scheme, target.port) for entry in entries):
            continue
        raise OutboundRefused(
            MSG_ADDRESS_BLOCKED.format(
                host=target.host,
                address=address,
                reason=reason,
                setting=setting,
                entry=_entry_for(address, target.port),
            ),
            host=target.host,
            address=address,
        )
    return Target(**{**target.__dict__, "addresses": tuple(addresses)})


# --- sending ------------------------------------------------------------------------------------


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked addresses, never to whatever the host name resolves to now."""

    kept_sock: socket.socket | None = None

    def __init__(self, target: Target, timeout: float | None) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._addresses = target.addresses

    def connect(self) -> None:
        self.sock = self.kept_sock = _connect_any(self._addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    kept_sock: socket.socket | None = None

    def __init__(self, target: Target, timeout: float | None, context: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._addresses = target.addresses
        self._ssl_context = context

    def connect(self) -> None:
        sock = _connect_any(self._addresses, self.port, self.timeout)
        try:
            self.sock = self._ssl_context.wrap_socket(sock, server_hostname=self.host)  # SNI + cert check
            self.kept_sock = self.sock
        except BaseException:
            sock.close()
            raise


def _connect_any(addresses: Iterable[str], port: int, timeout: float | None) -> socket.socket:
    error: OSError | None = None
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect((address, port))
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError("no address to connect to")


class OutboundResponse:
    """The final response: ``status``, ``reason``, ``headers``, ``url``, ``read``/``read1``, ``close``.

    ``shutdown()`` may be called from another thread to make a blocked read return at once.
    """

    def __init__(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse, url: str):
        self.connection = connection
        self.response = response
        self.url = url
        self.status = response.status
        self.reason = response.reason
        self.headers = response.headers

    def read(self, amt: int | None = None) -> bytes:
        return self.response.read(amt)

    def read1(self, amt: int = -1) -> bytes:
        return self.response.read1(amt)

    def shutdown(self) -> None:
        shutdown_connection(self.connection)

    def close(self) -> None:
        self.response.close()
        self.connection.close()


def shutdown_connection(connection: http.client.HTTPConnection) -> None:
    """Shut the connection's socket down (from any thread): a blocked read or write returns at once.

    http.client forgets ``connection.sock`` once a ``Connection: close`` response owns it, so the
    pinned connections keep their own reference.
    """
    sock = getattr(connection, "kept_sock", None) or connection.sock
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def clean_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Return the headers to send: ``Host`` dropped, hop-by-hop and framing headers refused."""
    cleaned: dict[str, str] = {}
    for name, value in (headers or {}).items():
        lower = name.lower()
        if lower in DROPPED_HEADERS:
            continue
        if lower in REFUSED_HEADERS:
            raise OutboundRefused(MSG_HEADER_REFUSED.format(name=name))
        cleaned[name] = value
    return cleaned


def safe_request(
    method: str,
    url: str,
    *,
    allowed: Iterable[str],
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float | None = 10.0,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    setting: str = DEFAULT_SETTING,
    ssl_context: ssl.SSLContext | None = None,
    on_connection: Callable[[http.client.HTTPConnection | None], None] | None = None,
) -> OutboundResponse:
    """Send one request to ``url`` through ``check_url`` and return the final response.

    Every redirect (301, 302, 303, 307, 308) is checked like the first URL; 303, and 301/302 of a
    POST, continue as GET without a body. Credentials are dropped when a redirect changes origin.
    Any status is returned (the caller decides what an error is); a 3xx is returned when it has
    no ``Location``. ``on_connection`` is called with each new connection before it is used and
    with None when the request ends (a caller that may be cancelled keeps it for ``shutdown_connection``;
    it may also raise to stop between redirects).

    Raise OutboundRefused when something is not allowed, OSError/TimeoutError/HTTPException on
    network failures.
    """
    allowed = list(allowed)
    headers = clean_headers(headers)
    headers.setdefault("User-Agent", USER_AGENT)
    headers["Connection"] = "close"
    context = ssl_context or ssl.create_default_context()
    method = method.upper()
    target = check_url(url, allowed=allowed, setting=setting)
    first_origin = target.origin
    redirects = 0
    try:
        while True:
            connection = _open(target, timeout, context)
            if on_connection is not None:
                on_connection(connection)
            try:
                connection.request(method, target.path, body=body, headers=headers)
                response = connection.getresponse()
            except BaseException:
                connection.close()
                raise
            location = response.getheader("Location")
            if response.status not in REDIRECT_STATUSES or not location:
                return OutboundResponse(connection, response, target.url)
            response.close()
            connection.close()
            redirects += 1
            new_url = urljoin(target.url, location.strip())
            if redirects > max_redirects:
                raise OutboundRefused(MSG_TOO_MANY_REDIRECTS.format(count=max_redirects, url=url))
            try:
                new_target = check_url(new_url, allowed=allowed, setting=setting)
            except OutboundRefused as exc:
                raise OutboundRefused(
                    MSG_REDIRECT_REFUSED.format(url=new_url, reason=exc.message), **exc.details
                ) from None
            if (
                response.status == 303
                and method != "HEAD"
                or response.status in (301, 302)
                and method == "POST"
            ):
                method, body = "GET", None
                headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type",)}
            if new_target.origin != first_origin:
                headers = {k: v for k, v in headers.items() if k.lower() not in SENSITIVE_HEADERS}
            target = new_target
    finally:
        if on_connection is not None:
            with contextlib.suppress(Exception):
                on_connection(None)


def _open(target: Target, timeout: float | None, context: ssl.SSLContext) -> http.client.HTTPConnection:
    if target.scheme == "https":
        return _PinnedHTTPSConnection(target, timeout, context)
    return _PinnedHTTPConnection(target, timeout)


# --- helpers ------------------------------------------------------------------------------------


def _ip_or_none(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _normal_host(hostname: str, url: str) -> str:
    host = hostname.lower().rstrip(".")
    ip = _ip_or_none(host.split("%", 1)[0])
    if ip is not None:
        return str(ip)
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise OutboundRefused(MSG_BAD_URL.format(url=url, error=exc)) from None


def _entry_for(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
