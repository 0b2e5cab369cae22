"""POST to a receiver's URL without letting the URL reach inside our network (SSRF).

The host is resolved once, every address it resolves to is checked, and the connection goes to
the checked address (the Host header and TLS name stay the host's): a DNS answer that changes
between the check and the connect cannot point us at 127.0.0.1 or 169.254.169.254. Only http
and https; a connect timeout and a read timeout (per socket operation); the response body is
read up to a small cap; redirects are never followed (a 3xx is an unsuccessful attempt).

The standard library's http.client is used rather than an HTTP library because pinning the
connection to the checked address is a ten-line `connect()` override here, and no well-kept
SSRF-guarding client exists on PyPI (advocate is unmaintained).
"""

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.utils.translation import gettext

ALLOWED_SCHEMES = {"http": 80, "https": 443}

Resolver = Callable[[str, int], list[str]]


class AddressRefusedError(Exception):
    """The URL is not one we may call; the message says why."""


def resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # is_global is False for loopback, private (RFC 1918, ULA), link-local (169.254/16, where
    # cloud metadata lives, and fe80::/10), shared (100.64/10), reserved and unspecified ranges.
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


def url_target(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> Target:
    """Check a URL and resolve it to the address to connect to. Raises AddressRefusedError."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefusedError(gettext("Not a valid URL: %(error)s.") % {"error": exc}) from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise AddressRefusedError(gettext("Only http and https URLs are allowed."))
    if parts.username is not None or parts.password is not None:
        raise AddressRefusedError(gettext("Credentials in the URL are not allowed."))
    host = parts.hostname
    if not host:
        raise AddressRefusedError(gettext("The URL has no host."))
    port = port or ALLOWED_SCHEMES[scheme]
    try:
        addresses = (resolver or resolve)(host, port)
    except (OSError, UnicodeError) as exc:
        raise AddressRefusedError(gettext("The host %(host)s cannot be resolved.") % {"host": host}) from exc
    if not addresses:
        raise AddressRefusedError(gettext("The host %(host)s cannot be resolved.") % {"host": host})
    if not allow_private:
        private = [address for address in addresses if not address_is_public(address)]
        if private:
            # All or nothing: a name with one private address could be steered to it.
            raise AddressRefusedError(
                gettext(
                    "The host %(host)s resolves to a loopback, private, link-local or reserved address (%(address)s)."
                )
                % {"host": host, "address": private[0]}
            )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


class _PinnedConnection(http.client.HTTPConnection):
    """Connects to the checked address, whatever the host name resolves to by then."""

    def __init__(self, target: Target, *, connect_timeout: float, read_timeout: float):
        super().__init__(target.host, target.port, timeout=read_timeout)
        self._target = target
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout

    def connect(self):
        sock = socket.create_connection((self._target.address, self.port), timeout=self._connect_timeout)
        sock.settimeout(self._read_timeout)
        if self._target.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self._target.host)
        self.sock = sock


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    excerpt: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(
    url: str,
    *,
    body: bytes,
    headers: dict,
    allow_private: bool,
    connect_timeout: float,
    read_timeout: float,
    max_response_bytes: int,
    resolver: Resolver | None = None,
) -> PostResult:
    """One POST. Never raises for the receiver's faults: they come back in `error`."""
    started = time.monotonic()

    def result(status_code=None, excerpt="", error="") -> PostResult:
        return PostResult(status_code, excerpt, error[:500], int((time.monotonic() - started) * 1000))

    try:
        target = url_target(url, allow_private=allow_private, resolver=resolver)
    except AddressRefusedError as exc:
        return result(error=f"refused: {exc}")
    connection = _PinnedConnection(target, connect_timeout=connect_timeout, read_timeout=read_timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(max_response_bytes).decode("utf-8", errors="replace")
        return result(status_code=response.status, excerpt=excerpt)
    except TimeoutError:
        return result(error="timeout")
    except (OSError, http.client.HTTPException, ssl.SSLError, ValueError) as exc:
        # ValueError: a host or header the standard library cannot encode (UnicodeError).
        return result(error=f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()
