"""The console's performance: the Calls screen over a 10-million-call store, and the Live screen fed 1,000 calls
per second by a fake daemon on a real Unix socket.

    .venv/bin/python benchmarks/bench_tui.py [--calls N] [--db PATH] [--rate 1000] [--seconds 10]

The store is generated on the real schema (store.open_store, then executemany in chunks; `--db PATH` keeps it and
reuses it on the next run when it holds N calls). Lines printed (one JSON object each):

  generate           rows/s of the generation (skipped when the file is reused)
  query_first_page   Store.calls_page, first page of 100, newest first (ms) — and the baselines measured in the
                     same run: `offset_page` (LIMIT/OFFSET to the same depth as page 1,000) and `count_all`
                     (COUNT over every call: why totals run in the background)
  query_next_page    Store.calls_page with a keyset, pages 2..50 (median and worst ms)
  ui_first_page      the Calls screen in a headless app: from the screen's mount to its first page on screen
                     (target < 500 ms), and the app's start alone, for comparison
  ui_page_down       the Calls screen: key 'n' to the next page on screen (median, p95, worst; target < 100 ms)
  monitor            the Live screen fed --rate FinishedCall/s for --seconds by a feeder process (as the daemon
                     is): calls applied, the backlog once the stream is over (0 = kept up), latency from send to
                     table (p50, p99, worst) — and the baseline `monitor_decode`: the same stream read by a bare
                     FrameReader client (no UI)
  totals_background  Reader.totals over every call (the totals row, counted in a worker)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pbx.protocol import FinishedCall, FrameReader, Hello, Subscribe, encode  # noqa: E402
from store import CALL_COLUMNS, open_store  # noqa: E402
from tui.context import ConsoleContext, SiteInfo  # noqa: E402
from tui.filters import CallFilter  # noqa: E402

SEED = 5
SITES = ("paris", "london", "new-york", "lyon")
START = 1735689600  # 2025-01-01 UTC
DESTS = ("France Fixed", "France Mobile", "United Kingdom", "Germany Mobile", "United States", "Belgium")


def emit(**fields: Any) -> None:
    print(json.dumps({"bench": "tui", **fields}), flush=True)


def generate(path: Path, n: int) -> None:
    """n calls over a year, in time order, on the real schema."""
    path.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    store = open_store(path)  # the schema and its indexes, exactly as the product creates them
    conn = store.conn
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    rng = np.random.default_rng(SEED)
    gap = 365 * 86400 / n
    chunk = 200_000
    t0 = time.perf_counter()
    sql = f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES ({', '.join('?' * len(CALL_COLUMNS))})"
    for lo in range(0, n, chunk):
        k = min(chunk, n - lo)
        idx = np.arange(lo, lo + k)
        start = (START + idx * gap).astype(np.int64).tolist()
        site = rng.integers(0, len(SITES), k).tolist()
        ext = rng.integers(1000, 1400, k).tolist()
        dur = rng.exponential(180, k).astype(np.int64).tolist()
        direction = rng.choice(3, k, p=[0.6, 0.3, 0.1]).tolist()
        dest = rng.integers(0, len(DESTS), k).tolist()
        num = rng.integers(10**9, 10**10, k).tolist()
        cost = (rng.integers(0, 200_000, k) * 100).tolist()
        rows = []
        for i in range(k):
            d = direction[i]
            out = d == 0
            rows.append((
                "pbx-" + SITES[site[i]], SITES[site[i]], None, None, str(lo + i), "", "", start[i], start[i] + 5,
                dur[i], dur[i], ("outgoing", "incoming", "internal")[d], "answered", str(ext[i]), "T1", None,
                f"9{num[i]}", None, None, f"33{num[i]}", "external", None, 1,
                "rated" if out else ("incoming", "internal")[d - 1], "fr.toml" if out else None,
                "33" if out else None, DESTS[dest[i]] if out else None, "peak" if out else None,
                dur[i] if out else None, cost[i] if out else None, "EUR" if out else None, start[i] if out else None,
                None, None))
        conn.executemany(sql, rows)
        conn.commit()
    conn.execute("PRAGMA synchronous = FULL")
    store.close()
    elapsed = time.perf_counter() - t0
    emit(line="generate", calls=n, seconds=round(elapsed, 1), rows_per_s=round(n / elapsed))


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def bench_queries(path: Path) -> None:
    store = open_store(path)
    ms, first = timed(lambda: store.calls_page(limit=100))
    offset_ms, _ = timed(lambda: list(store.conn.execute(
        "SELECT * FROM calls ORDER BY start DESC, id DESC LIMIT 100 OFFSET 99900")))
    count_ms, _ = timed(lambda: store.conn.execute("SELECT COUNT(*) FROM calls").fetchone())
    emit(line="query_first_page", ms=round(ms, 2), baseline_offset_page_1000_ms=round(offset_ms, 1),
         baseline_count_all_ms=round(count_ms, 1))
    times, page = [], first
    for _ in range(49):
        ms, page = timed(lambda p=page: store.calls_page(after=(p[-1]["sort_key"], p[-1]["id"]), limit=100))
        times.append(ms)
    site_ms, _ = timed(lambda: store.calls_page(limit=100, site="lyon", direction="outgoing"))
    emit(line="query_next_page", median_ms=round(statistics.median(times), 2), worst_ms=round(max(times), 2),
         filtered_first_page_ms=round(site_ms, 2))
    store.close()


def context(workspace: Path, db: Path, sock: Path) -> ConsoleContext:
    sites = {s: SiteInfo(s, "Europe/Paris") for s in SITES}
    return ConsoleContext(workspace=workspace, sites=sites, db_path=db, socket_path=sock, flash=False,
                          retry_seconds=0.2)


async def bench_ui(path: Path, workspace: Path) -> None:
    from tui.app import ConsoleApp
    from tui.calls_screen import CallsScreen, PageLoaded

    marks: dict[str, float] = {}
    original_mount = CallsScreen.on_mount
    original_loaded = CallsScreen.on_page_loaded

    def on_mount(self: CallsScreen) -> None:
        marks.setdefault("mount", time.perf_counter())
        original_mount(self)

    def on_page_loaded(self: CallsScreen, message: PageLoaded) -> None:
        original_loaded(self, message)
        marks.setdefault("first", time.perf_counter())
        marks["last"] = time.perf_counter()

    CallsScreen.on_mount = on_mount  # type: ignore[method-assign]
    CallsScreen.on_page_loaded = on_page_loaded  # type: ignore[method-assign]
    try:
        t0 = time.perf_counter()
        app = ConsoleApp(context(workspace, path, workspace / "none.sock"))
        async with app.run_test(size=(80, 24)) as pilot:
            while "first" not in marks:
                await pilot.pause(0.005)
            await pilot.pause()
            screen = app.screen
            emit(line="ui_first_page", ms=round((marks["first"] - marks["mount"]) * 1000, 1),
                 app_start_to_mount_ms=round((marks["mount"] - t0) * 1000, 1), rows=len(screen.rows),
                 target_ms=500)
            times = []
            for _ in range(30):
                page = screen.page_no
                t1 = time.perf_counter()
                await pilot.press("n")
                while screen.page_no == page:
                    await pilot.pause(0.001)
                times.append((marks["last"] - t1) * 1000)
            times.sort()
            emit(line="ui_page_down", median_ms=round(statistics.median(times), 1),
                 p95_ms=round(times[int(len(times) * 0.95) - 1], 1), worst_ms=round(times[-1], 1), pages=len(times),
                 target_ms=100)
    finally:
        CallsScreen.on_mount = original_mount  # type: ignore[method-assign]
        CallsScreen.on_page_loaded = original_loaded  # type: ignore[method-assign]


def feed(path: str, rate: int, seconds: float, ready: Any) -> None:
    """A fake daemon, in its own process as the real one is: greets, waits for Subscribe, then sends `rate`
    FinishedCall/s in 10 ms ticks. Each call carries its send instant (time.monotonic_ns, system-wide) in
    `caller`, so that the receiver can measure the latency."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    ready.set()
    conn, _ = server.accept()
    conn.sendall(encode(Hello(version=1, pid=os.getpid(), started=int(time.time()), workspace="bench")))
    reader = FrameReader()
    while not any(isinstance(m, Subscribe) for m in reader.feed(conn.recv(65536))):
        pass
    total = int(rate * seconds)
    t0 = time.monotonic()
    i = 0
    while i < total:
        due = min(total, int((time.monotonic() - t0) * rate) + 1)
        frames = []
        now = str(time.monotonic_ns())
        while i < due:
            frames.append(encode(FinishedCall(
                id=i + 1, source="pbx-paris", site=SITES[i % 4], start=1735689600 + i, duration=120, billable=115,
                direction="outgoing", disposition="answered", status="rated", extension=str(1000 + i % 400),
                caller=now, number=f"3361234{i % 10000:04d}", destination=DESTS[i % 6], band="peak",
                cost=(i % 997) * 10**6, currency="EUR")))
            i += 1
        if frames:
            conn.sendall(b"".join(frames))
        time.sleep(0.01)
    time.sleep(30)


class Feeder:
    def __init__(self, path: Path, rate: int, seconds: float) -> None:
        import multiprocessing

        mp = multiprocessing.get_context("spawn")
        ready = mp.Event()
        self.process = mp.Process(target=feed, args=(str(path), rate, seconds, ready), daemon=True)
        self.process.start()
        ready.wait(30)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)


def bench_decode(workspace: Path, rate: int, seconds: float) -> None:
    sock_path = workspace / "decode.sock"
    feeder = Feeder(sock_path, rate, seconds)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(str(sock_path))
    reader = FrameReader()
    got = 0
    total = int(rate * seconds)
    lat: list[float] = []
    while got < total:
        for m in reader.feed(client.recv(1 << 18)):
            if isinstance(m, Hello):
                client.sendall(encode(Subscribe(["calls"])))
            elif isinstance(m, FinishedCall):
                got += 1
                lat.append((time.monotonic_ns() - int(m.caller)) / 1e9)
    client.close()
    feeder.stop()
    lat.sort()
    emit(line="monitor_decode", calls=got, p50_ms=round(lat[len(lat) // 2] * 1000, 2),
         p99_ms=round(lat[int(len(lat) * 0.99)] * 1000, 2))


async def bench_monitor(path: Path, workspace: Path, rate: int, seconds: float) -> None:
    from tui.app import ConsoleApp
    from tui.live_screen import LiveScreen

    sock_path = workspace / "anatole.sock"
    feeder = Feeder(sock_path, rate, seconds)
    applied: dict[int, float] = {}  # id -> latency (s)
    original = LiveScreen._add_finished

    def add_finished(self: LiveScreen, calls: list[FinishedCall]) -> None:
        original(self, calls)
        now = time.monotonic_ns()
        for c in calls:
            if c.id not in applied and c.caller.isdigit():
                applied[c.id] = (now - int(c.caller)) / 1e9

    LiveScreen._add_finished = add_finished  # type: ignore[method-assign]
    try:
        app = ConsoleApp(context(workspace, path, sock_path), screens=("live",), start="live")
        async with app.run_test(size=(80, 24)) as pilot:
            total = int(rate * seconds)
            await pilot.pause(seconds)
            while not applied:
                await pilot.pause(0.05)
            await pilot.pause(seconds * 0.2)  # the feeder started when the screen subscribed
            end = time.perf_counter()
            backlog_at_end = total - len(applied)
            deadline = end + 10
            while len(applied) < total and time.perf_counter() < deadline:
                await pilot.pause(0.01)
            drained = (time.perf_counter() - end) * 1000
            lat = sorted(applied.values())
            emit(line="monitor", rate_per_s=rate, seconds=seconds, sent=total, applied=len(applied),
                 backlog_after_stream=backlog_at_end, drained_after_ms=round(drained, 1),
                 p50_ms=round(lat[len(lat) // 2] * 1000, 1), p99_ms=round(lat[int(len(lat) * 0.99)] * 1000, 1),
                 worst_ms=round(lat[-1] * 1000, 1), rows_shown=app.screen.query_one("#finished").row_count,
                 kept_up=len(applied) == total)
    finally:
        LiveScreen._add_finished = original  # type: ignore[method-assign]
        feeder.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--db", type=Path, help="keep the generated store here and reuse it when it has --calls calls")
    ap.add_argument("--rate", type=int, default=1000, help="calls per second fed to the monitor")
    ap.add_argument("--seconds", type=float, default=10.0, help="how long the monitor is fed")
    args = ap.parse_args()
    emit(line="machine", python=platform.python_version(), cpus=os.cpu_count(), platform=platform.platform())
    with tempfile.TemporaryDirectory(prefix="benchtui", dir="/tmp") as tmp:
        workspace = Path(tmp)
        db = args.db or workspace / "anatole.db"
        reuse = False
        if db.exists():
            store = open_store(db)
            reuse = store.count("calls") == args.calls
            store.close()
        if not reuse:
            generate(db, args.calls)
        bench_queries(db)
        asyncio.run(bench_ui(db, workspace))
        bench_decode(workspace, args.rate, min(args.seconds, 5.0))
        asyncio.run(bench_monitor(db, workspace, args.rate, args.seconds))
        from tui.data import Reader

        r = Reader(db)
        ms, totals = timed(lambda: r.totals(CallFilter()))
        r.close()
        emit(line="totals_background", ms=round(ms, 1), calls=totals["calls"] if totals else None)


if __name__ == "__main__":
    main()
