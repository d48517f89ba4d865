"""What crossed the wire between the browser and the app under test, and a link that can
drop: the outermost middleware of the e2e server (tests/e2e/conftest.py) logs every
request as the server received it (request line and header bytes, Content-Encoding, the
body's inflated size, a push's seqs, the final status) and, when told to, drops
connections as a lost mobile link does — before the request reaches the app, or after
the app has committed a push but before its answer leaves."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from server.http import RAW_BODY


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: str
    head_bytes: int  # request line + headers + the blank line, as received
    encoding: str | None  # the body's Content-Encoding
    wire_bytes: int | None  # the body as sent (Content-Length), compressed or not
    header_names: list[str]  # as received, lowercase
    body_bytes: int = 0  # the body after inflating (what the JSON weighs)
    seqs: list[int] = field(default_factory=list)  # a push's mutation seqs, in order
    status: int | None = None  # None: the connection was dropped before an answer
    answered: bool = True  # False: the answer was lost with the link
    duplicates: list[int] = field(default_factory=list)  # seqs answered `duplicate: true`
    records: int = 0  # push results that carried the whole record
    answer_bytes: int = 0  # the push answer's JSON (before any compression)


@dataclass
class Link:
    """The browser's link to the server. `down`: every request is dropped (connection
    closed, no answer). `cut_after`: let that many more pushes through, then on the next
    one lose the answer (`lose_answer`: the push is committed) or the request, and go down."""

    down: bool = False
    cut_after: int | None = None
    lose_answer: bool = False
    log: list[Seen] = field(default_factory=list)

    def pushes(self) -> list[Seen]:
        return [s for s in self.log if s.path == "/v1/sync/push" and s.method == "POST"]


def _head_bytes(request: web.Request) -> int:
    version = f"{request.version.major}.{request.version.minor}"
    line = f"{request.method} {request.raw_path} HTTP/{version}\r\n"
    return len(line.encode()) + sum(len(k) + len(v) + 4 for k, v in request.raw_headers) + 2


def _drop(request: web.Request) -> web.Response:
    """Close the connection: the browser's fetch fails as on a lost link."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=499)


def link_middleware(link: Link) -> Any:
    @web.middleware
    async def wire(request: web.Request, handler: Any) -> web.StreamResponse:
        seen = Seen(
            request.method,
            request.path,
            request.query_string,
            _head_bytes(request),
            request.headers.get("Content-Encoding"),
            request.content_length,
            [k.decode("latin-1").lower() for k, _ in request.raw_headers],
        )
        link.log.append(seen)
        push = seen.path == "/v1/sync/push" and seen.method == "POST"
        cutting = False
        if push and link.cut_after is not None:
            if link.cut_after == 0:
                cutting, link.cut_after, link.down = True, None, True
            else:
                link.cut_after -= 1
        if link.down and not (cutting and link.lose_answer):
            seen.answered = False
            return _drop(request)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            seen.status = exc.status
            raise
        seen.status = response.status
        raw = request.get(RAW_BODY)
        if raw is not None:
            seen.body_bytes = len(raw)
            if push:
                try:
                    seen.seqs = [m["seq"] for m in json.loads(raw)["mutations"]]
                except (ValueError, KeyError, TypeError):
                    pass
        if push and isinstance(response, web.Response) and response.body is not None:
            try:
                answer = bytes(response.body)  # type: ignore[arg-type]
                seen.answer_bytes = len(answer)
                results = json.loads(answer)["results"]
                seen.duplicates = [r["seq"] for r in results if r.get("duplicate")]
                seen.records = sum(1 for r in results if "record" in r)
            except (ValueError, KeyError, TypeError):
                pass
        if cutting:
            seen.answered = False
            return _drop(request)
        return response

    return wire
