"""Password checks off the event loop, a bounded number at a time.

Argon2 costs ~0.15 s of CPU per check. Run on the event loop it stalled every school's
requests during a login flood; here it runs on a small pool of threads (argon2-cffi releases
the GIL) whose priority is lowered where the OS allows, so sync traffic wins the CPU. At most
`threads` checks run at once and at most `queue` wait; past that the caller gets
`503 overloaded` with Retry-After instead of an unbounded queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

from server.auth.passwords import hash_password, verify_password
from sync.errors import Overloaded


def _lower_priority() -> None:
    # Linux applies setpriority to a single thread when given its native id.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class HashPool:
    """`verify` runs `verify_password` in the pool, or refuses when too many wait."""

    def __init__(self, threads: int, queue: int) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="argon2", initializer=_lower_priority
        )
        # Idle threads end when the pool is dropped (apps made by tests come and go).
        weakref.finalize(self, self._executor.shutdown, wait=False)
        self._slots = asyncio.Semaphore(threads)
        self._threads = threads
        self._queue = queue
        self._waiting = 0

    async def verify(self, stored: str | None, password: str) -> bool:
        """`verify_password(stored, password)` in a thread; 503 when the queue is full."""
        if self._slots.locked() and self._waiting >= self._queue:
            raise Overloaded(
                "too many sign-ins are being checked; retry shortly",
                {"reason": "login_busy"},
                retry_after=1,
            )
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(self._executor, verify_password, stored, password)
        # The slot is freed when the thread is, not when a cancelled request gives up.
        job.add_done_callback(lambda _: self._slots.release())
        return await asyncio.shield(job)

    async def hash(self, password: str) -> str:
        """A new hash of `password` (a sign-in replacing an old-parameter hash), made in the
        pool like a check, behind the same bound."""
        async with self._slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, hash_password, password)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
