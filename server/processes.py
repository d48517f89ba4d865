"""`drivesync serve --processes N`: N server processes on one port.

The parent process resolves the settings once (the signing key included, so every process
signs and reads tokens and cursors with the same key), checks the port is free, forks N
workers and then only supervises. Each worker runs the whole aiohttp app on host:port with
`SO_REUSEPORT`, so the kernel spreads new connections over them; they share nothing in
memory, everything shared is in PostgreSQL (pokes cross them by LISTEN/NOTIFY, outbox
claims use `FOR UPDATE SKIP LOCKED`, the login lockout is a table). docs/operations.md
lists which limits are per process.

Signals: SIGTERM and SIGINT sent to the parent are passed on to every worker, which shuts
down gracefully (aiohttp: stop accepting, finish requests, close live sockets); the parent
waits for all of them, then exits. Workers sit in their own process group, so a Ctrl-C in a
terminal reaches them once (through the parent), not twice; and on Linux they get SIGTERM
if the parent itself dies, so a killed parent never leaves them serving.

A worker that dies while the server is meant to run is *not* restarted: the parent stops
the others and exits 1, naming the worker and how it ended. Restarting belongs to the
service manager (systemd `Restart=on-failure`, Kubernetes), which already has back-off,
logs and alerts; a supervisor of ours that restarted in silence would hide a crash loop,
and a server quietly running on fewer processes than configured would hide lost capacity.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from types import FrameType

from server.config import Settings

log = logging.getLogger("drivesync.processes")

# How long workers get to finish once asked to stop before they are killed: aiohttp's own
# shutdown timeout (60 s for requests in flight) plus the app's cleanup.
STOP_GRACE_S = 75


class PortInUse(Exception):
    """Something already listens on the address (possibly another server with
    SO_REUSEPORT, which would otherwise silently share our connections)."""


def check_port_free(host: str, port: int) -> None:
    """Bind host:port once without SO_REUSEPORT and let go: a listener already there makes
    this fail, where the workers' own binds (with SO_REUSEPORT) might succeed next to a
    stranger that set it too."""
    for family, kind, proto, _name, addr in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        with socket.socket(family, kind, proto) as probe:
            # As aiohttp does: connections of a previous run in TIME_WAIT do not count.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(addr)
            except OSError as exc:
                raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to send us SIGTERM when the parent dies (no-op elsewhere)."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


class Supervisor:
    """Runs each of `targets` in a forked process until they end or a signal stops them.
    `run()` answers the parent's exit status: 0 when stopped on request and every worker
    ended cleanly, 1 otherwise."""

    def __init__(
        self, targets: Sequence[Callable[[], object]], stop_grace_s: float = STOP_GRACE_S
    ) -> None:
        self.targets = list(targets)
        self.stop_grace_s = stop_grace_s
        self.workers: dict[int, int] = {}  # pid -> worker number
        self.stopping = False
        self.failed = False

    def run(self) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        for number in range(len(self.targets)):
            self._fork(number)
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGALRM)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        try:
            while self.workers:
                try:
                    pid, status = os.wait()  # a signal runs its handler, then wait resumes
                except ChildProcessError:
                    break
                if pid not in self.workers:
                    continue
                number = self.workers.pop(pid)
                if self.stopping and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
                    continue
                self.failed = True
                if self.stopping:
                    log.warning("server process %d (pid %d) %s", number, pid, _describe(status))
                else:
                    log.error(
                        "server process %d (pid %d) %s; stopping the others",
                        number,
                        pid,
                        _describe(status),
                    )
                    self._stop(signal.SIGTERM)
        finally:
            signal.alarm(0)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if self.failed else 0

    def _fork(self, number: int) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid:
            self.workers[pid] = number
            return
        # The worker: never return into the parent's code.
        code = 1
        try:
            os.setpgid(0, 0)
            _die_with_parent(parent)
            self.targets[number]()
            code = 0
        except BaseException:
            log.exception("server process %d failed", number)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGALRM:
            log.error("server processes still running after %ss: killing them", self.stop_grace_s)
            self.failed = True
            self._send(signal.SIGKILL)
            return
        self._stop(signal.Signals(signum))

    def _stop(self, sig: signal.Signals) -> None:
        if not self.stopping:
            self.stopping = True
            signal.alarm(max(1, round(self.stop_grace_s)))
        self._send(sig)

    def _send(self, sig: signal.Signals) -> None:
        for pid in list(self.workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def serve(settings: Settings, host: str, port: int, processes: int) -> int:
    """Run the app in `processes` processes sharing host:port (see the module docstring).
    `settings` must already carry its resolved secret key."""
    from aiohttp import web

    from server.app import create_app
    from server.shell import ShellQuietAccessLogger

    check_port_free(host, port)
    # Each worker gets an app of its own, made here so that the code it needs is imported
    # once, before forking, rather than by N processes at once; none is started here.
    apps = [create_app(settings) for _ in range(processes)]
    return Supervisor(
        [
            functools.partial(
                web.run_app,
                app,
                host=host,
                port=port,
                reuse_port=True,
                print=None,
                access_log_class=ShellQuietAccessLogger,
            )
            for app in apps
        ]
    ).run()
