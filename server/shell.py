"""Serving the PWA (clients/pwa): the shell at `/`, its files under `/app/`, and the service
worker at `/sw.js` (at the root, so that it controls `/`).

Built for a first visit on a poor mobile link (issue 10): text files go gzip-compressed
to clients that accept it, each compressed once and kept in memory until the file
changes (its size and mtime), so neither a request nor a restart-free edit of the PWA
pays for compression twice. After the first visit the service worker answers the shell
from its cache and the network carries none of it. The shell and the worker are sent
with `Cache-Control: no-cache` (revalidated, so an update is seen at once), and with a
Permissions-Policy that turns off the default User-Agent client hints: three headers
(about 100 bytes) that would otherwise ride on every poll the app makes.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.web_log import AccessLogger

# Files and folders of clients/pwa that are not part of the cached app shell.
NOT_SHELL = frozenset(
    {"sw.js", "tools", "tests", "node_modules", "package.json", "package-lock.json", "README.md"}
)
# What is worth compressing (images are compressed already).
COMPRESSIBLE = frozenset({".html", ".js", ".mjs", ".css", ".json", ".webmanifest", ".svg", ".txt"})
NO_CACHE = "no-cache"
# The app needs no client hints: without them a fetch carries no sec-ch-ua* headers.
NO_CLIENT_HINTS = "ch-ua=(), ch-ua-mobile=(), ch-ua-platform=()"


@dataclass(frozen=True)
class Packed:
    """A file compressed once: its gzip bytes and the validator of that representation."""

    stamp: tuple[int, int]  # (mtime_ns, size) of the file it was made from
    body: bytes
    etag: str


class Compressed:
    """gzip bytes of the shell's text files, made on first request and remade when the
    file changes on disk."""

    def __init__(self) -> None:
        self._packed: dict[Path, Packed] = {}

    def get(self, path: Path) -> Packed:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
        hit = self._packed.get(path)
        if hit is not None and hit.stamp == stamp:
            return hit
        raw = path.read_bytes()
        # mtime=0: the same file always compresses to the same bytes (a stable ETag).
        body = gzip.compress(raw, compresslevel=9, mtime=0)
        etag = f'"{hashlib.sha256(raw).hexdigest()[:20]}-gz"'
        packed = Packed(stamp, body, etag)
        self._packed[path] = packed
        return packed


def accepts_gzip(request: web.Request) -> bool:
    """Whether Accept-Encoding allows gzip (`gzip` or `*` with a q above 0)."""
    for part in request.headers.get("Accept-Encoding", "").split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        if coding.lower() not in ("gzip", "*"):
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            return True
    return False


def content_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


async def send_file(
    request: web.Request, cache: Compressed, path: Path, headers: dict[str, str]
) -> web.StreamResponse:
    """`path` gzip-compressed when the client accepts it and it is text, else as aiohttp's
    FileResponse sends it (ranges, conditional requests)."""
    if path.suffix not in COMPRESSIBLE or not accepts_gzip(request):
        return web.FileResponse(path, headers={**headers, "Vary": "Accept-Encoding"})
    packed = await asyncio.to_thread(cache.get, path)
    out = {**headers, "ETag": packed.etag, "Vary": "Accept-Encoding"}
    if packed.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=out)
    out["Content-Encoding"] = "gzip"
    return web.Response(body=packed.body, content_type=content_type(path), headers=out)


def add_pwa(app: web.Application, pwa_dir: Path) -> None:
    """The PWA's routes (none when `pwa_dir` holds no index.html). The worker is stamped
    with a hash of the shell's files and their list: any change to them installs a new
    worker and a new cache."""
    index = pwa_dir / "index.html"
    if not index.exists():
        return
    mimetypes.add_type("application/manifest+json", ".webmanifest")
    mimetypes.add_type("text/javascript", ".js")
    root = pwa_dir.resolve()
    cache = Compressed()
    document = {"Cache-Control": NO_CACHE, "Permissions-Policy": NO_CLIENT_HINTS}

    async def shell(request: web.Request) -> web.StreamResponse:
        return await send_file(request, cache, index, document)

    async def static(request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        try:
            path = (root / tail).resolve()
        except (OSError, ValueError):
            raise web.HTTPNotFound() from None
        if not path.is_relative_to(root) or not path.is_file():
            raise web.HTTPNotFound()
        return await send_file(request, cache, path, {})

    async def worker(request: web.Request) -> web.Response:
        text = await asyncio.to_thread(worker_script, pwa_dir)
        response = web.Response(text=text, content_type="text/javascript", headers=document)
        if accepts_gzip(request):
            response.enable_compression(web.ContentCoding.gzip)
        return response

    app.router.add_get("/", shell)
    app.router.add_get("/sw.js", worker)
    app.router.add_get("/app/{tail:.+}", static)


def is_shell_path(path: str) -> bool:
    """A request for the app's own files (the shell, its files, the worker)."""
    return path in ("/", "/sw.js") or path.startswith("/app/")


FEED_PREFIX = "/v1/calendar/feeds/"


class ShellQuietAccessLogger(AccessLogger):
    """aiohttp's access log without a line per shell file: a first visit fetches some thirty
    of them, which buried the API's lines. With DRIVESYNC_LOG_LEVEL=DEBUG they are logged
    too; a calendar feed's line leaves out the secret in its address; every other request
    is logged as aiohttp always does (at INFO)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if is_shell_path(request.path) and not self.logger.isEnabledFor(logging.DEBUG):
            return
        if request.path.startswith(FEED_PREFIX):
            # A calendar feed's address is its credential: never written to a log.
            self.logger.info(
                '%s "%s %s<secret>.ics" %s %.3fs',
                request.remote,
                request.method,
                FEED_PREFIX,
                response.status,
                time,
            )
            return
        super().log(request, response, time)


_WORKERS: dict[tuple[Any, ...], str] = {}


def worker_script(pwa_dir: Path) -> str:
    """sw.js prefixed with `self.DRIVESYNC_BUILD = {version, files}` for the current shell.
    Built again only when a file of the shell (or sw.js) changed: every page load asks for
    the worker, and reading and hashing the whole shell each time cost more than a stat."""
    files = sorted(
        p.relative_to(pwa_dir).as_posix()
        for p in pwa_dir.rglob("*")
        if p.is_file() and p.relative_to(pwa_dir).parts[0] not in NOT_SHELL
    )
    key = tuple(
        (rel, st.st_mtime_ns, st.st_size)
        for rel in (*files, "sw.js")
        for st in ((pwa_dir / rel).stat(),)
    )
    if key not in _WORKERS:
        if len(_WORKERS) > 8:  # old builds of a changing tree (development)
            _WORKERS.clear()
        _WORKERS[key] = _build_worker(pwa_dir, files)
    return _WORKERS[key]


def _build_worker(pwa_dir: Path, files: list[str]) -> str:
    digest = hashlib.sha256()
    for rel in files:
        digest.update(rel.encode() + b"\0" + (pwa_dir / rel).read_bytes())
    build = {"version": digest.hexdigest()[:16], "files": ["/", *(f"/app/{f}" for f in files)]}
    return f"self.DRIVESYNC_BUILD = {json.dumps(build)};\n" + (pwa_dir / "sw.js").read_text()
