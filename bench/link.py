"""A poor mobile link in userspace (no kernel netem here): a TCP proxy on 127.0.0.1 that
forwards to the DriveSync server through a shaped pipe.

Per direction (settings in `LinkSettings`, defaults from issue 10):

- bandwidth 64 kbit/s: every "packet" (a chunk of at most 1,460 bytes, one TCP segment's
  payload) waits for the previous one to leave and then takes len * 8 / bandwidth seconds
  on the wire — a token bucket one packet deep, i.e. a serial link shared by every
  connection going that way;
- 150 ms one-way delay (a 300 ms round trip) once on the wire;
- 1 % of packets held 1 s extra (a retransmission, as the phone would see it). Delivery
  stays in order per connection, as TCP's would: a held packet holds up those behind it.

What is counted: TCP payload bytes each way, counted when delivered to the far side.
TCP/IP headers (about 40 bytes a packet), TLS records and handshakes, and retransmitted
bytes are not counted; the same figures on a real phone would be some 3-5 % higher for
headers, plus TLS.

The proxy also reads the HTTP/1.1 it carries (request lines and headers going up, bodies by
Content-Length or chunked framing) to attribute bytes to requests: downstream bytes belong
to the last request seen on their connection (browsers do not pipeline). A WebSocket
upgrade is one exchange for as long as the socket lives.

`Link` runs the proxy in a thread with its own event loop, so a blocking caller (the
Playwright sync API) drives it: `mark()`/`since()` or `reset()`/`totals()` read bytes per
scenario, `drop()` closes every connection and refuses new ones until `restore()`, and
`drop_after(n)` does so once n more upstream bytes have been delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

UP, DOWN = "up", "down"
T = TypeVar("T")


@dataclass(frozen=True)
class LinkSettings:
    bandwidth_bps: int = 64_000  # each direction
    delay_s: float = 0.150  # one way
    hold_rate: float = 0.01  # fraction of packets held back
    hold_s: float = 1.0
    packet_bytes: int = 1460
    seed: int = 10

    def describe(self) -> str:
        return (
            f"{self.bandwidth_bps / 1000:g} kbit/s each way, "
            f"{self.delay_s * 2000:g} ms round trip, "
            f"{self.hold_rate * 100:g}% of packets (<= {self.packet_bytes} B) held "
            f"{self.hold_s:g} s; TCP payload bytes counted (no TCP/IP headers, no TLS)"
        )


@dataclass
class Exchange:
    """One HTTP request and its response, as they crossed the link."""

    conn: int
    method: str
    path: str
    request_headers: dict[str, str]
    started: float  # monotonic, when the request's head was delivered
    up: int = 0
    down: int = 0
    ended: float = 0.0  # monotonic, when the last byte of its answer was delivered
    response_head: bytes = b""

    @property
    def status(self) -> int:
        parts = self.response_head.split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

    def response_header(self, name: str) -> str:
        for line in self.response_head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                return value.strip().decode("latin-1")
        return ""

    @property
    def seconds(self) -> float:
        return max(0.0, (self.ended or self.started) - self.started)


@dataclass
class Window:
    """What crossed the link between a mark and now."""

    up: int
    down: int
    exchanges: list[Exchange] = field(default_factory=list)

    def only(self, predicate: Callable[[Exchange], bool]) -> Window:
        chosen = [e for e in self.exchanges if predicate(e)]
        return Window(sum(e.up for e in chosen), sum(e.down for e in chosen), chosen)


class _RequestReader:
    """Finds request boundaries in the upstream byte stream of one connection."""

    def __init__(self) -> None:
        self.buf = b""
        self.body_left = 0  # bytes of a Content-Length body still to come
        self.chunked = False
        self.upgraded = False  # a WebSocket: no more HTTP on this connection

    def feed(self, data: bytes) -> list[tuple[str, str, dict[str, str]]]:
        """Returns the heads of the requests that start in `data`."""
        heads: list[tuple[str, str, dict[str, str]]] = []
        if self.upgraded:
            return heads
        self.buf += data
        while self.buf:
            if self.body_left:
                taken = min(self.body_left, len(self.buf))
                self.body_left -= taken
                self.buf = self.buf[taken:]
                continue
            if self.chunked:
                if not self._skip_chunk():
                    break
                continue
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head, self.buf = self.buf[:end].decode("latin-1"), self.buf[end + 4 :]
            line, *rest = head.split("\r\n")
            headers = {}
            for h in rest:
                k, _, v = h.partition(":")
                headers[k.strip().lower()] = v.strip()
            method, _, target = line.partition(" ")
            heads.append((method, target.rsplit(" ", 1)[0], headers))
            if headers.get("upgrade"):
                self.upgraded, self.buf = True, b""
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                self.chunked = True
            else:
                self.body_left = int(headers.get("content-length") or 0)
        return heads

    def _skip_chunk(self) -> bool:
        """Consume one chunk of a chunked body; False when more bytes are needed."""
        end = self.buf.find(b"\r\n")
        if end < 0:
            return False
        size = int(self.buf[:end].split(b";")[0] or b"0", 16)
        if size == 0:  # last chunk (no trailers from browsers): ends with an empty line
            if len(self.buf) < end + 4:
                return False
            self.buf, self.chunked = self.buf[end + 4 :], False
            return True
        if len(self.buf) < end + 2 + size + 2:
            return False
        self.buf = self.buf[end + 2 + size + 2 :]
        return True


class _Conn:
    """One proxied connection: the browser's side, the server's side, two shaped pipes."""

    def __init__(self, link: Link, cid: int, client: Any, server: Any) -> None:
        self.link, self.id = link, cid
        self.client_r, self.client_w = client
        self.server_r, self.server_w = server
        self.requests = _RequestReader()
        self.current: Exchange | None = None
        self.last_arrival = {UP: 0.0, DOWN: 0.0}
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for direction, src, dst in (
            (UP, self.client_r, self.server_w),
            (DOWN, self.server_r, self.client_w),
        ):
            queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
            self.tasks.append(asyncio.create_task(self._read(direction, src, queue)))
            self.tasks.append(asyncio.create_task(self._deliver(direction, dst, queue)))

    async def _read(self, direction: str, src: Any, queue: asyncio.Queue[Any]) -> None:
        size = self.link.settings.packet_bytes
        try:
            while data := await src.read(65536):
                for i in range(0, len(data), size):
                    packet = data[i : i + size]
                    await queue.put((self.link.schedule(direction, self, len(packet)), packet))
        except (ConnectionError, OSError):
            pass
        finally:
            await queue.put(None)

    async def _deliver(self, direction: str, dst: Any, queue: asyncio.Queue[Any]) -> None:
        try:
            while (item := await queue.get()) is not None:
                arrival, packet = item
                await asyncio.sleep(max(0.0, arrival - time.monotonic()))
                packet = self.link.admit(direction, self, packet)
                if not packet:
                    return
                dst.write(packet)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self.close()

    def account(self, direction: str, packet: bytes, now: float) -> None:
        if direction == UP:
            # A packet is counted for the request whose head it holds or, when it holds
            # none, for the request whose body it carries: browsers do not pipeline, so a
            # packet never spans the end of one request and the start of the next.
            for method, path, headers in self.requests.feed(packet):
                self.current = Exchange(self.id, method, path, headers, now)
                self.link.exchanges.append(self.current)
            if self.current is not None:
                self.current.up += len(packet)
        elif self.current is not None:
            ex = self.current
            ex.down += len(packet)
            ex.ended = now
            if b"\r\n\r\n" not in ex.response_head and len(ex.response_head) < 16384:
                ex.response_head += packet
                cut = ex.response_head.find(b"\r\n\r\n")
                if cut >= 0:
                    ex.response_head = ex.response_head[:cut]

    def close(self) -> None:
        for w in (self.client_w, self.server_w):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self.link.conns.pop(self.id, None)


class Link:
    """The emulated link: `with Link(target_port) as link: ... link.url ...`."""

    def __init__(
        self, target_port: int, settings: LinkSettings | None = None, target_host: str = "127.0.0.1"
    ) -> None:
        self.settings = settings or LinkSettings()
        self.target = (target_host, target_port)
        self.port = 0
        self.up = 0
        self.down = 0
        self.exchanges: list[Exchange] = []
        self.conns: dict[int, _Conn] = {}
        self.down_since: float | None = None  # monotonic time of the last drop, while down
        self.mode = "refuse"
        self._cut_at: int | None = None  # drop once `up` reaches this
        self._free_at = {UP: 0.0, DOWN: 0.0}  # when the wire is next free, per direction
        self._rand = random.Random(self.settings.seed)
        self.shaped = True  # False: a plain fast proxy (set-up steps that are not measured)
        self._next_id = 0
        self._server: asyncio.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="link", daemon=True)

    # -- life cycle (called from the caller's thread) ------------------------------------
    def start(self) -> Link:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> Link:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    # -- measuring -----------------------------------------------------------------------
    def mark(self) -> tuple[int, int, int]:
        return self._call(self._mark())

    async def _mark(self) -> tuple[int, int, int]:
        return (self.up, self.down, len(self.exchanges))

    def since(self, mark: tuple[int, int, int]) -> Window:
        return self._call(self._since(mark))

    async def _since(self, mark: tuple[int, int, int]) -> Window:
        return Window(self.up - mark[0], self.down - mark[1], list(self.exchanges[mark[2] :]))

    def reset(self) -> None:
        self._reset_mark = self.mark()

    def totals(self) -> Window:
        return self.since(getattr(self, "_reset_mark", (0, 0, 0)))

    # -- cutting the link ----------------------------------------------------------------
    def drop(self, mode: str = "refuse") -> None:
        """Close every connection; new ones are refused (connection refused, as with no
        route) or, with mode="blackhole", accepted and never answered until restore()."""
        self._call(self._drop(mode))

    def drop_after(self, upstream_bytes: int, mode: str = "refuse") -> None:
        """Drop the link once `upstream_bytes` more bytes have gone up."""
        self._call(self._arm(upstream_bytes, mode))

    def restore(self) -> None:
        self._call(self._restore())

    @property
    def is_down(self) -> bool:
        return self.down_since is not None

    async def _arm(self, n: int, mode: str) -> None:
        self._cut_at, self.mode = self.up + n, mode

    async def _drop(self, mode: str) -> None:
        self.mode, self._cut_at = mode, None
        self.down_since = time.monotonic()
        await self._close_all(listening=mode == "blackhole")

    async def _restore(self) -> None:
        if self.down_since is None:
            return
        self.down_since = None
        await self._close_all(listening=False)  # blackholed connections: reset now
        await self._listen()

    async def _shutdown(self) -> None:
        await self._close_all(listening=False)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _close_all(self, listening: bool) -> None:
        for conn in list(self.conns.values()):
            conn.close()
        if not listening and self._server is not None:
            self._server.close()
            self._server = None

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    # -- the pipe (the link's own loop) ----------------------------------------------------
    async def _accept(self, reader: Any, writer: Any) -> None:
        if self.down_since is not None:  # blackhole: hold it open, silent, until restore
            self._next_id += 1
            self.conns[self._next_id] = _Conn(self, self._next_id, (reader, writer), (None, None))
            return
        try:
            server = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._next_id += 1
        conn = _Conn(self, self._next_id, (reader, writer), server)
        self.conns[conn.id] = conn
        conn.start()

    def schedule(self, direction: str, conn: _Conn, size: int) -> float:
        """When a packet read now reaches the far side."""
        s = self.settings
        now = time.monotonic()
        if not self.shaped:
            conn.last_arrival[direction] = max(now, conn.last_arrival[direction])
            return conn.last_arrival[direction]
        leaves = max(now, self._free_at[direction]) + size * 8 / s.bandwidth_bps
        self._free_at[direction] = leaves
        arrival = leaves + s.delay_s
        if s.hold_rate and self._rand.random() < s.hold_rate:
            arrival += s.hold_s
        arrival = max(arrival, conn.last_arrival[direction])  # in order, as TCP delivers
        conn.last_arrival[direction] = arrival
        return arrival

    def admit(self, direction: str, conn: _Conn, packet: bytes) -> bytes:
        """Count a packet as delivered (or cut it where the link drops); b"" = link down."""
        if self.down_since is not None or conn.id not in self.conns:
            return b""
        if direction == UP and self._cut_at is not None:
            room = self._cut_at - self.up
            if room <= 0:
                self._loop.create_task(self._drop(self.mode))
                return b""
            packet = packet[:room]
        now = time.monotonic()
        if direction == UP:
            self.up += len(packet)
        else:
            self.down += len(packet)
        conn.account(direction, packet, now)
        if direction == UP and self._cut_at is not None and self.up >= self._cut_at:
            self._loop.call_soon(lambda: self._loop.create_task(self._drop(self.mode)))
        return packet
