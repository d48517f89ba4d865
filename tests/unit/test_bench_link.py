"""The poor-link emulator of bench/car.py (bench/link.py), through a real TCP echo server:
bandwidth and delay roughly as configured, bytes counted exactly and attributed to the HTTP
requests they carry, the link dropped (refused, then restored) and cut after N bytes."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from bench.link import Link, LinkSettings


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        received = self.server.received  # type: ignore[attr-defined]
        while data := self.request.recv(65536):
            received.append(len(data))
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[tuple[int, list[int]]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def _exchange(sock: socket.socket, payload: bytes) -> float:
    """Send `payload`, read it all back; seconds taken."""
    t0 = time.monotonic()
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        assert chunk, "connection closed early"
        got += chunk
    assert got == payload
    return time.monotonic() - t0


def test_delay_bandwidth_and_exact_counts(echo: tuple[int, list[int]]) -> None:
    port, _ = echo
    # 80 kbit/s = 10 kB/s each way, 100 ms one way, nothing held back: predictable.
    settings = LinkSettings(bandwidth_bps=80_000, delay_s=0.1, hold_rate=0.0)
    with Link(port, settings) as link, socket.create_connection(("127.0.0.1", link.port)) as s:
        rtt = _exchange(s, b"ping")
        assert 0.2 <= rtt < 0.35  # two 100 ms delays and 2 x 3.2 ms on the wire

        mark = link.mark()
        # 10,000 bytes: 1 s on the wire going up; the echo comes down packet by packet
        # behind it, so the last byte lands after ~1 s + one packet down + the round trip.
        took = _exchange(s, bytes(range(256)) * 39 + b"x" * 16)
        assert 1.0 + 0.2 <= took < 1.8
        window = link.since(mark)
        assert (window.up, window.down) == (10_000, 10_000)


def test_bytes_are_attributed_to_http_requests(echo: tuple[int, list[int]]) -> None:
    port, _ = echo
    fast = LinkSettings(bandwidth_bps=10_000_000, delay_s=0.001, hold_rate=0.0)
    first = b"POST /v1/sync/push HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    second = b"GET /v1/sync/pull?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    with Link(port, fast) as link, socket.create_connection(("127.0.0.1", link.port)) as s:
        link.reset()
        _exchange(s, first)
        _exchange(s, second)
        totals = link.totals()
    assert [(e.method, e.path) for e in totals.exchanges] == [
        ("POST", "/v1/sync/push"),
        ("GET", "/v1/sync/pull?limit=1"),
    ]
    # The echo plays the server: what went up on a request comes back down on it.
    assert [(e.up, e.down) for e in totals.exchanges] == [(len(first),) * 2, (len(second),) * 2]
    assert totals.only(lambda e: e.path.startswith("/v1/sync/pull")).up == len(second)


def test_held_packets_stay_in_order(echo: tuple[int, list[int]]) -> None:
    port, _ = echo
    # Every packet held 0.3 s: the data still arrives whole and in order, just later.
    settings = LinkSettings(bandwidth_bps=10_000_000, delay_s=0.01, hold_rate=1.0, hold_s=0.3)
    with Link(port, settings) as link, socket.create_connection(("127.0.0.1", link.port)) as s:
        took = _exchange(s, bytes(range(256)) * 20)
        assert 0.6 <= took < 1.2


def test_drop_refuses_until_restored_and_cut_after_n_bytes(echo: tuple[int, list[int]]) -> None:
    port, received = echo
    fast = LinkSettings(bandwidth_bps=10_000_000, delay_s=0.001, hold_rate=0.0)
    with Link(port, fast) as link:
        s = socket.create_connection(("127.0.0.1", link.port))
        _exchange(s, b"before")
        link.drop()
        assert link.is_down
        assert s.recv(100) == b""  # the open connection was closed
        s.close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", link.port), timeout=2)

        link.restore()
        with socket.create_connection(("127.0.0.1", link.port)) as s:
            _exchange(s, b"after")

        received.clear()
        mark = link.mark()
        link.drop_after(1000)
        with socket.create_connection(("127.0.0.1", link.port)) as s:
            s.sendall(b"y" * 3000)
            deadline = time.monotonic() + 5
            while not link.is_down and time.monotonic() < deadline:
                time.sleep(0.01)
            assert link.is_down
        time.sleep(0.1)
        assert link.since(mark).up == 1000
        assert sum(received) == 1000  # the server got exactly the bytes before the cut
