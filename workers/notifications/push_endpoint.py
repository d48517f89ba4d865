"""Where web push may send: the rule that keeps the dispatcher from being a request forgery
tool.

A subscription's endpoint is whatever URL the client sent — a browser's push service, or
anything a student's token chooses — and the dispatcher POSTs to it from inside the
server's network. So: https only, to a DNS name or a public address; never a loopback,
private (RFC 1918, 100.64/10 shared/CGNAT), link-local, unique-local (fc00::/7), multicast,
unspecified or otherwise reserved address, IPv4 or IPv6. An IPv6 address that carries an
IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, 6to4, NAT64 `64:ff9b::/96`) is judged by that IPv4
address. A numeric host must be a dotted quad: the legacy forms the C resolver maps onto an
address (`2130706433`, `0x7f.1`, `127.1`) are refused, not interpreted.

Checked twice:
- when a subscription is saved (`check`): the URL alone, no DNS lookup inside a request;
- at send time (`check` again, then `VettedResolver`): the host is resolved, refused if any
  of its addresses is disallowed, and aiohttp connects to the addresses the resolver
  returned — the vetted ones — so a DNS answer cannot change between check and connect
  (rebinding). The channel does not follow redirects, which would lead anywhere unchecked.

`allow_local` (WorkerConfig.push_allow_local_endpoints, off by default) lifts the rule for
tests and development: http and any address, such as a push service on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from sync.errors import Invalid

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_PLAIN = re.compile(r"[\x21-\x7e]+")


class EndpointRefused(Invalid):
    """A push endpoint the server will not send to (422 `invalid_endpoint`)."""

    code = "invalid_endpoint"


class AddressRefused(OSError):
    """Raised by `VettedResolver`: the host resolved to a disallowed address. An OSError, so
    aiohttp reports it as a connection error (its `os_error`) without connecting."""


def refusal(address: Address) -> str | None:
    """Why `address` may not receive a push (a few words), or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in _NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return refusal(inner)
        if address in _UNIQUE_LOCAL:
            return "unique-local"
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address in _SHARED, "shared (CGNAT)"),
        (address.is_private, "private"),
        (address.is_reserved or not address.is_global, "reserved"),
    )
    return next((why for hit, why in checks if hit), None)


def _numeric(name: str) -> bool:
    """A host the C resolver would read as an IPv4 number: its last label is digits or
    hex (`2130706433`, `127.1`, `0x7f000001`). No DNS name ends so."""
    last = name.rsplit(".", 1)[-1]
    return last.isdigit() or last.startswith("0x")


def plain(endpoint: str) -> bool:
    """Printable ASCII without spaces, as a browser serializes a push endpoint (hosts in
    punycode, paths percent-encoded). Anything else — NUL, which PostgreSQL cannot store, a
    lone surrogate, `①②⑦.0.0.1` that IDNA folds to 127.0.0.1 — is no endpoint."""
    return _PLAIN.fullmatch(endpoint) is not None


def check(endpoint: str, allow_local: bool = False) -> None:
    """EndpointRefused unless `endpoint` is a URL the dispatcher may POST to (see the module
    docstring). The host is read as aiohttp will read it (yarl)."""
    if not plain(endpoint):
        raise EndpointRefused(
            "endpoint must be a URL in printable ASCII without spaces", {"field": "endpoint"}
        )
    try:
        url = URL(endpoint)
        host = url.host
    except (ValueError, TypeError, UnicodeError):
        raise EndpointRefused("endpoint is not a URL", {"field": "endpoint"}) from None
    schemes = ("https", "http") if allow_local else ("https",)
    if url.scheme not in schemes or not host or not url.is_absolute():
        raise EndpointRefused("endpoint must be an https URL", {"field": "endpoint"})
    if allow_local:
        return
    name = host.rstrip(".").lower()
    try:
        address: Address | None = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is not None:
        why = refusal(address)
    elif not name.strip("."):
        why = "empty name"
    elif name == "localhost" or name.endswith(".localhost"):
        why = "loopback"
    elif _numeric(name):
        why = "a number that is not a dotted quad"
    else:
        return
    if why is not None:
        raise EndpointRefused(
            f"endpoint host not allowed: {why}", {"field": "endpoint", "reason": why}
        )


class VettedResolver(AbstractResolver):
    """A resolver that refuses a host when any of its addresses is disallowed; what it
    returns is what the connector connects to. `inner` does the lookup (the system's,
    through aiohttp's ThreadedResolver, unless a test gives a fake DNS)."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            try:
                why = refusal(ipaddress.ip_address(result["host"]))
            except ValueError:
                why = "unreadable"
            if why is not None:
                raise AddressRefused(f"{host} resolves to a {why} address")
        return found

    async def close(self) -> None:
        await self._inner.close()


class NoRedirects:
    """The `post` pywebpush calls on its session, with redirects not followed: a push
    service answers 201, and a 3xx could point anywhere (a literal address skips the
    resolver). The 3xx then counts as a refusal of the message."""

    def __init__(self, session: Any) -> None:
        self._session = session

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._session.post(url, allow_redirects=False, **kwargs)
