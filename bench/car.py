"""Issue 10's scenarios on a poor mobile link, measured with the PWA's own code.

    .venv/bin/python -m bench.car [--database sqlite|postgres] [--scenario NAME ...]
                                  [--bandwidth-kbit 64] [--rtt-ms 300] [--hold-pct 1] ...

The real server (`drivesync serve`, on a fresh demo school) sits behind bench/link.py's
emulated link; headless Debian Chromium (Playwright's sync API, the launch flags of the
browser tests) loads the app THROUGH the link, so every request the PWA makes — the shell,
sign-in, pushes, pulls, the live socket, the service worker's own fetches — crosses it.

Scenarios (names for --scenario; all by default, in this order):
  lesson      an hour's lesson recorded offline by instructor1 through the real UI
              (attendance, a note typed in pieces, 8 assessments, a 3,600-point GPS trip fed
              at 1 Hz times through a stubbed navigator.geolocation), then the link comes
              back: bytes and seconds until the outbox is empty
  pull_after  the pull the PWA does right after it (runs `lesson`)
  cut         the same upload cut halfway (the link drops after about half the upstream
              bytes of `lesson`, the phone is offline for --outage-s), then restored:
              bytes and seconds until everything is acknowledged
  poll        a no-change poll, by the PWA's own engine.pull()
  shell       the app shell on a first visit (bytes, and whether it came compressed)
  first_sync  a student's first sync (demo data)
  term_sync   the same student on a new device after a term of 30 recorded lessons
              (seeded straight into the server through the sync API as the instructor)
  route       instructor1 on a new phone after that term: its first sync, then one of the
              term's lessons opened and its route drawn (runs `term_sync` if need be)

After each scenario the server is read directly (not through the link) and checked: every
GPS point once and in order, no record twice. Each check prints PASS or FAIL; the script
exits 1 on any FAIL. Bytes are TCP payload (see bench/link.py); set-up steps that are not
measured (signing the instructor in, loading the shell before a measured sign-in) run with
the link's shaping off to save time.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.browser import ARGS, CHROMIUM
from bench.car_route import drive
from bench.car_server import (
    NOTE,
    Direct,
    check_lesson,
    check_student,
    records,
    seed_term,
    start_server,
    stop_server,
)
from bench.common import print_machine, say
from bench.link import Exchange, Link, LinkSettings, Window

PHONE = {"width": 360, "height": 740}
SCENARIOS = ["lesson", "pull_after", "cut", "poll", "shell", "first_sync", "term_sync", "route"]
INSTRUCTOR = "instructor1@demo.test"
PASSWORD = "drive-demo-1"
# The note is typed in these pieces, each left to auto-save (400 ms) before the next.
PIECES = [NOTE[:40], NOTE[40:81], NOTE[81:125], NOTE[125:]]
# A stand-in for the phone's GPS: the recorder's watchPosition callbacks, fed by the bench.
GPS_STUB = """(() => {
  const watchers = new Map(); let next = 1;
  const geo = {
    watchPosition(ok) { const id = next++; watchers.set(id, ok); return id; },
    clearWatch(id) { watchers.delete(id); },
    getCurrentPosition(ok, err) { if (err) err({ code: 2, message: 'bench: no fix' }); },
  };
  Object.defineProperty(Navigator.prototype, 'geolocation', { get: () => geo, configurable: true });
  globalThis.__benchGps = {
    watching: () => watchers.size,
    feed(fixes) {
      for (const [t, lat, lon, kmh, acc] of fixes) {
        const pos = { timestamp: t, coords: { latitude: lat, longitude: lon, accuracy: acc,
          speed: kmh / 3.6, altitude: null, altitudeAccuracy: null, heading: null } };
        for (const cb of watchers.values()) cb(pos);
      }
    },
  };
})();"""


@dataclass
class Row:
    """One line of the results table."""

    name: str
    up: int
    down: int
    seconds: float
    note: str = ""
    checks: list[str] = field(default_factory=list)  # failures; empty = PASS
    checked: bool = False


def is_live(e: Exchange) -> bool:
    return e.request_headers.get("upgrade", "").lower() == "websocket"


def is_pull(e: Exchange) -> bool:
    return e.path.startswith("/v1/sync/pull")


def breakdown(window: Window) -> str:
    """Bytes by request kind, e.g. `POST /v1/sync/push x1 172,881/1,204`."""
    kinds: dict[str, list[int]] = {}
    for e in window.exchanges:
        key = f"{e.method} {e.path.split('?')[0]}"
        k = kinds.setdefault(key, [0, 0, 0])
        k[0], k[1], k[2] = k[0] + 1, k[1] + e.up, k[2] + e.down
    return "; ".join(f"{key} x{n} {up:,}/{down:,}" for key, (n, up, down) in kinds.items())


def answers(window: Window) -> str:
    """Each answer's status, encoding and bytes down, e.g. `200 deflate 53,802`."""
    return ", ".join(
        f"{e.status} {e.response_header('content-encoding') or 'identity'} {e.down:,}"
        for e in window.exchanges
    )


class Bench:
    """The scenarios, the phones (browser contexts) they use, and the rows they report."""

    def __init__(self, args: argparse.Namespace, link: Link, base: str, pw: Any) -> None:
        self.args, self.link, self.base, self.pw = args, link, base, pw
        self.rows: list[Row] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="drivesync-car-profiles-"))
        self.contexts: list[Any] = []
        self.instructor: tuple[Any, Any] | None = None  # (context, page)
        self.upload_bytes = 0  # upstream bytes of `lesson` (where `cut` cuts)
        self.lessons: list[str] = []  # scheduled lessons of instructor1, soonest first
        self.student_email = ""
        self.term: list[str] = []  # the lessons term_sync seeded, oldest first

    # -- browser ---------------------------------------------------------------------------
    def context(self, name: str, **options: Any) -> tuple[Any, Any]:
        ctx = self.pw.chromium.launch_persistent_context(
            str(self.tmp / f"profile-{name}-{uuid.uuid4().hex[:6]}"),
            executable_path=CHROMIUM,
            args=ARGS,
            service_workers="allow",
            viewport=PHONE,
            locale="en-GB",
            timezone_id="Europe/London",
            **options,
        )
        ctx.set_default_timeout(60_000)
        self.contexts.append(ctx)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.on("pageerror", lambda exc: say(f"  [pageerror {name}] {exc}"))
        return ctx, page

    def open_shell(self, page: Any) -> None:
        page.goto(self.link.url)
        page.wait_for_selector("input[name=email]", timeout=300_000)
        page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")

    def sign_in(self, page: Any, email: str, timeout_s: float = 600) -> None:
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", PASSWORD)
        page.click("form.login button[type=submit]")
        ms = int(timeout_s * 1000)
        page.wait_for_selector("[data-testid=synced]:not([data-at=''])", timeout=ms)
        page.wait_for_selector("[data-testid=pending][data-count='0']", timeout=ms)
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=ms)

    def pending(self, page: Any) -> int:
        return int(page.evaluate("() => __drivesync.engine.status().then(s => s.pending)"))

    def wait_outbox_empty(self, page: Any, timeout_s: float = 600) -> float:
        """Poll the PWA's outbox (IndexedDB, through the page: no network) until empty;
        returns the monotonic time it was first seen empty."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pending(page) == 0:
                return time.monotonic()
            time.sleep(0.05)
        raise TimeoutError(f"outbox still holds {self.pending(page)} mutations")

    def wait_quiet(
        self, mark: tuple[int, int, int], quiet_s: float = 2.5, limit_s: float = 600
    ) -> None:
        """Until nothing but the live socket has moved on the link for `quiet_s`."""
        deadline = time.monotonic() + limit_s
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            w = self.link.since(mark).only(lambda e: not is_live(e))
            moved = w.up + w.down
            if moved != last:
                last, since = moved, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return
            time.sleep(0.1)

    # -- the instructor's phone ----------------------------------------------------------------
    def instructor_phone(self) -> tuple[Any, Any]:
        if self.instructor is None:
            ctx, page = self.context("instructor")
            ctx.add_init_script(GPS_STUB)
            self.link.shaped = False  # set-up, not measured
            self.open_shell(page)
            self.sign_in(page, INSTRUCTOR)
            self.link.shaped = True
            self.instructor = (ctx, page)
        return self.instructor

    def scheduled(self) -> list[str]:
        """instructor1's scheduled lessons, soonest first (read once, before any scenario
        changes them): `lesson` records the first, `cut` the second."""
        if not self.lessons:
            direct = Direct(self.base, INSTRUCTOR)
            me = direct.user["instructor_id"]
            lessons = [
                r
                for r in records(direct.pull_all(), "lesson")
                if r["instructor_id"] == me and r["status"] == "scheduled"
            ]
            self.lessons = [r["id"] for r in sorted(lessons, key=lambda r: r["scheduled_start"])]
        return self.lessons

    def put_away(self) -> None:
        """Close every phone: the next scenario's device is alone on the link (another
        signed-in device would pull what the scenario changes, over the same link)."""
        self.close()
        self.contexts, self.instructor = [], None

    def record_lesson(self, lesson_id: str, seed: int) -> list[list[Any]]:
        """The lesson, offline, through the UI; returns the GPS fixes fed to the recorder."""
        ctx, page = self.instructor_phone()
        page.evaluate("r => { location.hash = r }", f"#/lesson/{lesson_id}")
        page.wait_for_selector("#main[data-view='lesson']")
        ctx.set_offline(True)
        self.link.drop()
        page.wait_for_selector("[data-testid=net]:has-text('Offline')")
        page.click("text=Start lesson")  # sets attended
        page.wait_for_selector("text=Finish lesson")

        page.click("[data-testid=add-note]")
        area = page.locator("textarea[data-note-id]").first
        area.click()
        for piece in PIECES:  # typed in pieces, each auto-saved on the device
            area.press_sequentially(piece)
            page.wait_for_selector("[data-testid=note-state]:has-text('Saved on this device')")

        page.evaluate(
            "() => document.querySelectorAll('details.stage').forEach(d => { d.open = true })"
        )
        selects = page.locator("select[data-skill]")
        for i in range(8):
            selects.nth(i).select_option(str(1 + i % 5))
        page.click("text=Save assessment")
        page.wait_for_selector("[data-testid=assessed] li >> nth=7")

        page.click("text=Record route")
        page.wait_for_function("() => __benchGps.watching() > 0")
        # An hour of fixes, 1 s apart, ending a minute ago (times a real recording would
        # have); fed at once: the recorder queues and stores them as it would live.
        fixes = drive(3600, int(time.time() * 1000) - 3_660_000, seed=seed)
        page.evaluate("fixes => __benchGps.feed(fixes)", fixes)
        page.wait_for_function(
            "() => Number(document.querySelector('[data-testid=trip-points]')?.textContent)"
            " >= 3600",
            timeout=600_000,
        )
        page.click("text=Stop recording")
        page.wait_for_selector("[data-testid=trip]")
        page.click("text=Finish lesson")
        page.wait_for_selector("h1 >> text=Completed")
        return fixes

    def check(self, row: Row, fails: list[str]) -> None:
        row.checks += fails
        row.checked = True
        say(f"  check: {'PASS' if not fails else 'FAIL: ' + '; '.join(fails)}")

    # -- scenarios -------------------------------------------------------------------------
    def lesson(self, with_pull: bool) -> None:
        ctx, page = self.instructor_phone()
        lesson_id = self.scheduled()[0]
        fixes = self.record_lesson(lesson_id, seed=1)
        queued = self.pending(page)
        mark = self.link.mark()
        t0 = time.monotonic()
        self.link.restore()
        ctx.set_offline(False)
        t_empty = self.wait_outbox_empty(page)
        self.wait_quiet(mark)
        w = self.link.since(mark)
        upload = w.only(lambda e: not is_pull(e))
        self.upload_bytes = upload.up
        pushes = answers(upload.only(lambda e: e.path.startswith("/v1/sync/push")))
        row = Row(
            "an hour's lesson uploaded on reconnect",
            upload.up,
            upload.down,
            t_empty - t0,
            f"{queued} mutations queued; {breakdown(upload)}; push answers: {pushes}",
        )
        self.report(row, upload)
        self.check(
            row, check_lesson(Direct(self.base, INSTRUCTOR).pull_all(), lesson_id, NOTE, fixes)
        )
        if with_pull:
            pulls = w.only(is_pull)
            secs = max((e.ended for e in pulls.exchanges), default=0) - min(
                (e.started for e in pulls.exchanges), default=0
            )
            row = Row(
                "the pull the PWA does right after it",
                pulls.up,
                pulls.down,
                secs,
                f"{breakdown(pulls)}; answers: {answers(pulls)}",
            )
            self.report(row, pulls)
            self.check(
                row, check_lesson(Direct(self.base, INSTRUCTOR).pull_all(), lesson_id, NOTE, fixes)
            )

    def cut(self) -> None:
        ctx, page = self.instructor_phone()
        lesson_id = self.scheduled()[1]
        fixes = self.record_lesson(lesson_id, seed=2)
        cut_at = (self.upload_bytes or self.args.cut_bytes * 2) // 2
        mark = self.link.mark()
        t0 = time.monotonic()
        self.link.restore()
        self.link.drop_after(cut_at)
        ctx.set_offline(False)
        while not self.link.is_down:
            if time.monotonic() - t0 > 600:
                raise TimeoutError("the upload never reached the cut")
            time.sleep(0.02)
        t_cut = time.monotonic()
        ctx.set_offline(True)  # the phone has lost its signal
        time.sleep(self.args.outage_s)
        self.link.restore()
        ctx.set_offline(False)
        t_back = time.monotonic()
        t_empty = self.wait_outbox_empty(page)
        self.wait_quiet(mark)
        w = self.link.since(mark).only(lambda e: not is_pull(e))
        row = Row(
            "the same upload cut halfway, then resumed",
            w.up,
            w.down,
            t_empty - t0,
            f"cut after {cut_at:,} B up at {t_cut - t0:.1f} s, {self.args.outage_s:g} s "
            f"without signal, then {t_empty - t_back:.1f} s to empty the outbox; "
            f"{breakdown(w)}",
        )
        self.report(row, w)
        self.check(
            row, check_lesson(Direct(self.base, INSTRUCTOR).pull_all(), lesson_id, NOTE, fixes)
        )

    def poll(self, polls: int = 5) -> None:
        """`polls` no-change polls one after another: the bytes of one (they are all the
        same size) and the median time (one held packet adds a second to a poll)."""
        _, page = self.instructor_phone()
        self.wait_quiet(self.link.mark(), quiet_s=1.0)
        first = self.link.mark()
        times, fails = [], []
        for _ in range(polls):
            mark = self.link.mark()
            t0 = time.monotonic()
            page.evaluate("() => __drivesync.engine.pull()")
            times.append(time.monotonic() - t0)
            w = self.link.since(mark).only(lambda e: not is_live(e))
            if [e.path.split("?")[0] for e in w.exchanges] != ["/v1/sync/pull"]:
                fails.append(f"expected one pull, saw {breakdown(w)}")
        all_polls = self.link.since(first).only(lambda e: not is_live(e))
        row = Row(
            "a no-change poll",
            all_polls.up // polls,
            all_polls.down // polls,
            statistics.median(times),
            f"median of {polls}: {', '.join(f'{t:.2f}' for t in times)} s; {breakdown(all_polls)}",
        )
        self.report(row, all_polls)
        self.check(row, fails + check_student(Direct(self.base, INSTRUCTOR).pull_all(), 0))

    def student(self) -> str:
        """A student of instructor1 whose lessons the other scenarios did not touch."""
        if not self.student_email:
            direct = Direct(self.base, INSTRUCTOR)
            changes = direct.pull_all()
            touched = {
                r["student_id"]
                for r in records(changes, "lesson")
                if r["id"] in self.scheduled()[:2]
            }
            me = direct.user["instructor_id"]
            mine = [s for s in records(changes, "student") if me in s["instructor_ids"]]
            pick = [s for s in mine if s["id"] not in touched] or mine
            self.student_email = sorted(pick, key=lambda s: s["email"])[0]["email"]
        return self.student_email

    def shell_and_first_sync(self, shell: bool, first_sync: bool) -> None:
        email = self.student()
        self.put_away()
        _, page = self.context("student")
        self.link.shaped = shell
        mark = self.link.mark()
        t0 = time.monotonic()
        page.goto(self.link.url)
        page.wait_for_selector("input[name=email]", timeout=300_000)
        t_form = time.monotonic()
        page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
        self.wait_quiet(mark)
        self.link.shaped = True
        if shell:
            w = self.link.since(mark)
            enc = [e for e in w.exchanges if e.response_header("content-encoding")]
            zipped = sum(e.down for e in enc)
            row = Row(
                "the app shell on a first visit (service worker installed)",
                w.up,
                w.down,
                t_form - t0,
                f"sign-in form after {t_form - t0:.1f} s; {len(w.exchanges)} requests, "
                f"{len(enc)} compressed ({zipped:,} of {w.down:,} B down); "
                f"largest: {self.largest(w)}",
            )
            self.report(row, w)
            self.check(row, [] if w.exchanges else ["no request crossed the link"])
        if first_sync:
            self.first_sync(page, email, "a student's first sync (demo data)", 0)

    def first_sync(self, page: Any, email: str, name: str, full_trips: int) -> None:
        mark = self.link.mark()
        t0 = time.monotonic()
        self.sign_in(page, email)
        secs = time.monotonic() - t0
        self.wait_quiet(mark)
        w = self.link.since(mark).only(lambda e: not is_live(e))
        pulls = answers(w.only(is_pull))
        row = Row(name, w.up, w.down, secs, f"{breakdown(w)}; pull answers: {pulls}")
        self.report(row, w)
        self.check(row, check_student(Direct(self.base, email).pull_all(), full_trips))

    def term_sync(self) -> None:
        email = self.student()
        self.put_away()  # before seeding: the first student device would pull the term too
        instructor = Direct(self.base, INSTRUCTOR)
        changes = instructor.pull_all()
        student_id = next(s["id"] for s in records(changes, "student") if s["email"] == email)
        skills = sorted(r["id"] for r in records(changes, "skill"))
        t = time.monotonic()
        self.term = seed_term(instructor, student_id, self.args.term_lessons, skills)
        say(
            f"  seeded {self.args.term_lessons} lessons for {email} in {time.monotonic() - t:.1f} s"
        )
        _, page = self.context("student-term")
        self.link.shaped = False  # the shell is not what this scenario measures
        self.open_shell(page)
        self.link.shaped = True
        name = f"a student's first sync after a term of {self.args.term_lessons} recorded lessons"
        self.first_sync(page, email, name, self.args.term_lessons)

    def route(self) -> None:
        """instructor1 on a new phone after the term: the first sync, then one recorded
        lesson opened, its route drawn (fetched when viewed, or already in the replica)."""
        if not self.term:
            self.term_sync()
        self.put_away()
        _, page = self.context("instructor-new")
        self.link.shaped = False
        self.open_shell(page)
        self.link.shaped = True
        name = f"an instructor's first sync after the term ({len(self.term)} lessons recorded)"
        self.first_sync(page, INSTRUCTOR, name, len(self.term))
        mark = self.link.mark()
        t0 = time.monotonic()
        page.evaluate("r => { location.hash = r }", f"#/lesson/{self.term[-1]}")
        page.wait_for_selector("[data-testid=trip] svg.route", timeout=600_000)
        secs = time.monotonic() - t0
        self.wait_quiet(mark)
        w = self.link.since(mark).only(lambda e: not is_live(e))
        label = page.get_attribute("[data-testid=trip] svg.route", "aria-label") or ""
        row = Row(
            "a recorded lesson's route viewed on that phone",
            w.up,
            w.down,
            secs,
            f"{label}; {breakdown(w)}",
        )
        self.report(row, w)
        fails = [] if "3600 points" in label else [f"the route drawn: {label!r}"]
        self.check(row, fails + check_student(Direct(self.base, INSTRUCTOR).pull_all(), 30))

    @staticmethod
    def largest(w: Window) -> str:
        top = sorted(w.exchanges, key=lambda e: -e.down)[:3]
        return ", ".join(f"{e.path.split('?')[0]} {e.down:,} B" for e in top)

    def report(self, row: Row, window: Window) -> None:
        self.rows.append(row)
        say(
            f"\n{row.name}: {row.up / 1000:.1f} KB up / {row.down / 1000:.1f} KB down, "
            f"{row.seconds:.1f} s"
        )
        say(f"  {row.note}")
        if self.args.verbose:  # every request: when, which connection, what, how big
            t0 = min((e.started for e in window.exchanges), default=0.0)
            for e in window.exchanges:
                say(
                    f"    +{e.started - t0:6.1f} s {e.seconds:6.1f} s conn {e.conn:3} "
                    f"{e.method} {e.path[:70]} -> {e.status} "
                    f"{e.response_header('content-encoding') or '-'} {e.up:,}/{e.down:,}"
                )

    def attempt(self, name: str, step: Callable[[], None]) -> None:
        """Run a scenario; one that breaks (the UI changed, a timeout) is a FAIL row and
        the next starts afresh: link up, shaped, every phone closed."""
        try:
            step()
        except Exception as exc:  # reported, and the exit code says FAIL
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            say(f"\n{name}: FAILED TO RUN: {error}")
            self.rows.append(Row(name, 0, 0, 0.0, error, [error], True))
            self.link.restore()
            self.link.shaped = True
            self.put_away()

    def close(self) -> None:
        for ctx in self.contexts:
            with contextlib.suppress(Exception):
                ctx.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--scenario", action="append", choices=SCENARIOS, help="repeatable; default all")
    p.add_argument("--bandwidth-kbit", type=float, default=64.0, help="each direction")
    p.add_argument("--rtt-ms", type=float, default=300.0, help="round trip (half each way)")
    p.add_argument("--hold-pct", type=float, default=1.0, help="%% of packets held back")
    p.add_argument("--hold-s", type=float, default=1.0, help="how long a held packet waits")
    p.add_argument("--seed", type=int, default=10, help="which packets are held")
    p.add_argument("--outage-s", type=float, default=3.0, help="cut: seconds without signal")
    p.add_argument(
        "--cut-bytes",
        type=int,
        default=86_000,
        help="cut: upstream bytes before the drop when `lesson` did not run",
    )
    p.add_argument("--term-lessons", type=int, default=30)
    p.add_argument("--token-ttl-s", type=int, default=900, help="the server's access token life")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--verbose", action="store_true", help="print every request of a scenario")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> list[Row]:
    from playwright.sync_api import sync_playwright

    wanted = args.scenario or SCENARIOS
    settings = LinkSettings(
        bandwidth_bps=int(args.bandwidth_kbit * 1000),
        delay_s=args.rtt_ms / 2000,
        hold_rate=args.hold_pct / 100,
        hold_s=args.hold_s,
        seed=args.seed,
    )
    print_machine()
    say(f"link: {settings.describe()}; database: {args.database}")
    server, db = start_server(args.database, args.token_ttl_s)
    try:
        served = urllib_get(f"{server.base}/app/js/sync.js")
        from bench.common import ROOT

        if served != (ROOT / "clients/pwa/js/sync.js").read_bytes():
            raise RuntimeError(f"the server does not serve the PWA of {ROOT}")
        with Link(server.port, settings) as link, sync_playwright() as pw:
            bench = Bench(args, link, server.base, pw)
            steps: list[tuple[str, bool, Callable[[], None]]] = [
                (
                    "lesson",
                    "lesson" in wanted or "pull_after" in wanted,
                    lambda: bench.lesson("pull_after" in wanted),
                ),
                ("cut", "cut" in wanted, bench.cut),
                ("poll", "poll" in wanted, bench.poll),
                (
                    "shell/first_sync",
                    "shell" in wanted or "first_sync" in wanted,
                    lambda: bench.shell_and_first_sync("shell" in wanted, "first_sync" in wanted),
                ),
                ("term_sync", "term_sync" in wanted, bench.term_sync),
                ("route", "route" in wanted, bench.route),
            ]
            try:
                for name, on, step in steps:
                    if on:
                        bench.attempt(name, step)
            finally:
                bench.close()
                shutil.rmtree(bench.tmp, ignore_errors=True)
        if server.errors():  # shown, not failed: the checks say whether data suffered
            say(f"\nthe server logged errors ({server.log_path}):\n{server.tail(6000)}")
        return bench.rows
    finally:
        stop_server(server, db, args.keep_db)


def urllib_get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as resp:
        return bytes(resp.read())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = run(args)
    say("\n| scenario | bytes up / down | seconds | check |\n|---|---|---|---|")
    for r in rows:
        verdict = "PASS" if r.checked and not r.checks else "FAIL"
        say(
            f"| {r.name} | {r.up / 1000:.1f} KB / {r.down / 1000:.1f} KB "
            f"| {r.seconds:.1f} | {verdict} |"
        )
    failed = [r for r in rows if r.checks or not r.checked]
    say(
        f"\nFAIL: {len(failed)} of {len(rows)} scenarios failed"
        if failed
        else f"\nPASS: all {len(rows)} scenarios checked out"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
