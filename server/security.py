"""Browser-facing defences: the headers every response carries (API, PWA shell, static
files, errors, WebSocket upgrades), set in one `on_response_prepare` hook so that no
handler can forget them. JSON answers get the short API set (API_HEADERS).

`CONTENT_SECURITY_POLICY` is the one policy; the PWA is written to run under it (no inline
script or style attribute, no eval, nothing from other origins) and its browser test
imports this constant. `connect-src 'self'` also covers same-origin `ws:`/`wss:` in current
browsers (CSP Level 3), which the live socket needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self'; manifest-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Cross-Origin-Opener-Policy": "same-origin",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

# A JSON answer is never rendered as a page, so most of the above says nothing for it; on a
# 64 kbit/s link the full set was ~400 bytes of every poll's answer. What still matters for
# data: nothing may load or frame it as a document, and it is never sniffed as HTML.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
API_HEADERS: dict[str, str] = {
    "Content-Security-Policy": API_POLICY,
    "X-Content-Type-Options": "nosniff",
}
_DATA_TYPES = ("application/json", "application/x-ndjson")
# The `Server` header without the Python and aiohttp versions aiohttp would name.
SERVER = "DriveSync"

# Sent only over HTTPS: browsers ignore it on http://, and sending it from a server that is
# reached over plain HTTP (the demo on 127.0.0.1) would say nothing true.
HSTS = "max-age=31536000"


def is_https(request: web.BaseRequest, trusted_proxy_hops: int) -> bool:
    """Whether the client reached us over HTTPS: TLS on this socket, or, with trusted
    proxies in front (DRIVESYNC_TRUSTED_PROXY_HOPS, the setting that also makes
    X-Forwarded-For count), `X-Forwarded-Proto: https` as the outermost of them saw it.
    Without trusted proxies the header is ignored: any client can send it."""
    if request.secure:
        return True
    forwarded = request.headers.get("X-Forwarded-Proto")
    if not trusted_proxy_hops or not forwarded:
        return False
    # Proxies usually overwrite the header; those that append put theirs last, so the
    # outermost trusted proxy's value is `hops` from the end (as for X-Forwarded-For).
    chain = [part.strip().lower() for part in forwarded.split(",") if part.strip()]
    return bool(chain) and chain[max(0, len(chain) - trusted_proxy_hops)] == "https"


def security_headers(
    trusted_proxy_hops: int,
) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """The `on_response_prepare` hook that puts the headers above on every response."""

    async def add(request: web.Request, response: web.StreamResponse) -> None:
        data = response.content_type in _DATA_TYPES and response.status != 101
        for name, value in (API_HEADERS if data else SECURITY_HEADERS).items():
            response.headers.setdefault(name, value)
        response.headers["Server"] = SERVER
        if is_https(request, trusted_proxy_hops):
            response.headers.setdefault("Strict-Transport-Security", HSTS)

    return add
