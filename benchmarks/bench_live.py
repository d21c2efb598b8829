"""Load test of `anatole serve`: the daemon (a separate process) and N simulated IP Office PBXs on 127.0.0.1.

Prints JSON lines:
- `file_import`: the baseline, the same records imported from a file (`anatole import cdr`), records/s and CPU µs
  per record (the CPU figures compare like with like on a loaded machine);
- `throughput`: N connections sending as fast as they can; sustained records/s from the first byte sent to the
  last FinishedCall received by a subscriber (journal, parse, rate, store, publish all included), the daemon's CPU
  µs per record (all threads, and its main thread alone) and its resident memory before and after;
- `latency`: one connection at a fixed rate; per record, sent -> FinishedCall received by a subscriber (this
  includes the kernel hop both ways, so it is an upper bound of received -> published), p50/p99/max in ms;
- `stages`: where the writer's time goes, in-process (no sockets): CPU µs per record of the journal append, the
  parse (the format's row parser), the rating (the injected `rate`, anatole's `call_rows`) and the store step
  (one transaction per micro-batch: calls, marks, commit, then the counters and the FinishedCall events). CPU time
  of the thread, so other load on the machine moves it less than the wall-clock figures.

Each line carries its target (issue 17) and whether it is met, the machine (CPUs, Python) and its load average.

    python benchmarks/bench_live.py [--records 200000] [--connections 4] [--rate 1000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pbx.protocol import FinishedCall, FrameReader, Skipped, Subscribe, encode  # noqa: E402

SAMPLES = ROOT / "tariffs" / "samples"
CLI = "from anatole.cli import main; main()"
SITE = """
[workspace]
currency = "EUR"

[[site]]
name = "paris"
country = "FR"
timezone = "Europe/Paris"
outside_prefix = "9"
national_prefix = "0"
international_prefix = "00"
extensions = ["2000-2999"]
tariff = "tariffs/fr-business.toml"
"""
TARGET_RATE = 50_000  # records/s received -> stored -> published (issue 17)
TARGET_P99 = 20.0  # ms at 1,000 records/s
NUMBERS = ["0155501234", "0612345678", "0442123456", "004930123456", "0033155509999", "0800123456"]
BASE = dt.datetime(2025, 3, 3, 8, 0, 0)


def line(conn: int, n: int) -> bytes:
    """A distinct outgoing IP Office record (connection, sequence)."""
    start = (BASE + dt.timedelta(seconds=n)).strftime("%Y/%m/%d %H:%M:%S")
    number = NUMBERS[n % len(NUMBERS)]
    ext = 2000 + n % 300
    talk = 30 + n % 600
    return (f"{start},{talk // 3600:02d}:{talk % 3600 // 60:02d}:{talk % 60:02d},3,{ext},O,{number},9{number},,0,"
            f"{10_000_000 * conn + n},0,E{ext},User {ext},T9001,Line 1.3,0,0,,,,,,,,,,,,,,10.1.20.5,3301,"
            f"10.1.20.5,3302\r\n").encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workspace(root: Path, connections: int) -> list[int]:
    (root / "tariffs").mkdir(parents=True)
    for ext in (".toml", ".csv"):
        shutil.copy(SAMPLES / f"fr-business{ext}", root / "tariffs" / f"fr-business{ext}")
    ports = [free_port() for _ in range(connections)]
    sources = "".join(f'\n[[source]]\nname = "pbx{i}"\nsite = "paris"\nformat = "avaya-ipo"\n'
                      f'listen = "127.0.0.1:{p}"\n' for i, p in enumerate(ports))
    (root / "anatole.toml").write_text(SITE + sources)
    return ports


def start_daemon(root: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", CLI, "--workspace", str(root), "serve"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=open(root / "serve.log", "wb"))  # noqa: SIM115
    for _ in range(600):
        if (root / "anatole.sock").exists():
            return proc
        time.sleep(0.05)
    raise SystemExit("the daemon did not start: " + (root / "serve.log").read_text())


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of each thread of a process, by thread id ("main" for the main thread)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out["main" if tid == str(pid) else tid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def cpu_per_record(before: dict[str, float], after: dict[str, float], records: int) -> dict:
    """The daemon's CPU µs per record over a run: all threads, and its main thread (sources, journal hand-off,
    publishing) apart from the worker threads (journal appends, the writer)."""
    spent = {k: v - before.get(k, 0.0) for k, v in after.items()}
    return {"daemon_cpu_us": round(sum(spent.values()) * 1e6 / records, 1),
            "main_thread_cpu_us": round(spent.get("main", 0.0) * 1e6 / records, 1)}


def rss_kib(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1])
    return 0


async def subscriber(path: Path, expect: int, times: list[float], ready: trio.Event) -> None:
    stream = await trio.open_unix_socket(str(path))
    await stream.send_all(encode(Subscribe(topics=["calls"])))
    reader = FrameReader()
    ready.set()
    skipped = 0
    with trio.move_on_after(600):
        while len(times) + skipped < expect:
            data = await stream.receive_some(1 << 20)
            if not data:
                break
            now = time.perf_counter()
            for m in reader.feed(data):
                if isinstance(m, FinishedCall):
                    times.append(now)
                elif isinstance(m, Skipped):
                    skipped += m.count
    if skipped:
        print(json.dumps({"warning": f"the subscriber skipped {skipped} messages"}), file=sys.stderr)
    await stream.aclose()


async def throughput(root: Path, ports: list[int], per_conn: int) -> dict:
    times: list[float] = []
    ready = trio.Event()
    total = per_conn * len(ports)
    payloads = [b"".join(line(c, n) for n in range(per_conn)) for c in range(len(ports))]

    async def sender(c: int) -> None:
        stream = await trio.open_tcp_stream("127.0.0.1", ports[c])
        data = payloads[c]
        for i in range(0, len(data), 1 << 16):
            await stream.send_all(data[i:i + (1 << 16)])
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(subscriber, root / "anatole.sock", total, times, ready)
        await ready.wait()
        t0 = time.perf_counter()
        for c in range(len(ports)):
            nursery.start_soon(sender, c)
    seconds = times[-1] - t0
    rate = round(total / seconds)
    return {"bench": "live", "figure": "throughput", "connections": len(ports), "records": total,
            "published": len(times), "seconds": round(seconds, 3), "records_per_s": rate,
            "target_records_per_s": TARGET_RATE, "met": rate >= TARGET_RATE and len(times) == total}


async def latency(root: Path, port: int, rate: int, seconds: float, offset: int) -> dict:
    n = int(rate * seconds)
    sent: list[float] = []
    times: list[float] = []
    ready = trio.Event()
    tick = 0.005  # send a burst every 5 ms
    per_tick = max(1, int(rate * tick))

    async def sender() -> None:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        start = time.perf_counter()
        k = 0
        while k < n:
            burst = min(per_tick, n - k)
            data = b"".join(line(9, offset + k + j) for j in range(burst))
            now = time.perf_counter()
            await stream.send_all(data)
            sent.extend([now] * burst)
            k += burst
            await trio.sleep_until(trio.current_time() + max(0.0, start + k / rate - time.perf_counter()))
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(subscriber, root / "anatole.sock", n, times, ready)
        await ready.wait()
        nursery.start_soon(sender)
    lat = sorted((t - s) * 1000 for s, t in zip(sent, times))
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 2)  # noqa: E731
    return {"bench": "live", "figure": "latency", "rate": rate, "records": n, "published": len(times),
            "p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": round(lat[-1], 2), "target_p99_ms": TARGET_P99,
            "met": pick(0.99) < TARGET_P99 and len(times) == n}


def stages(root: Path, records: int, batch: int) -> dict:
    """The writer's steps on micro-batches of `batch` records, in this process: CPU µs per record of each."""
    from anatole.cli_serve import build_config
    from anatole.config import open_workspace
    from ingest.cdr import CallRecord
    from pbx.daemon import Bundle, Daemon
    from store.live import LiveStore

    config, problems = build_config(open_workspace(root), log=open(os.devnull, "w"))  # noqa: SIM115
    assert not problems, problems
    daemon = Daemon(config)
    live = daemon.live = LiveStore(config.db_path)
    spent = dict.fromkeys(("append", "parse", "rate", "store"), 0.0)
    clock = time.thread_time
    for first in range(0, records, batch):
        entries = [("line", line(8, n).rstrip(b"\r\n")) for n in range(first, min(records, first + batch))]
        bundle = Bundle("pbx0", "bench", time.time_ns() // 1000, entries)
        t0 = clock()
        bundle.ids = live.append([(bundle.source, bundle.received, k, d) for k, d in entries])
        t1 = clock()
        parsed = daemon._parse("pbx0", "bench", [(j, bundle.received, k, d) for j, (k, d) in zip(bundle.ids, entries)])
        t2 = clock()
        units = daemon._rate("pbx0", [(j, r) for j, r in parsed if isinstance(r, CallRecord)])
        t3 = clock()
        events: list = []
        daemon._store_units(units, events)
        for event in events:
            daemon.hub.publish(event)
        t4 = clock()
        for k, (a, b) in zip(spent, ((t0, t1), (t1, t2), (t2, t3), (t3, t4))):
            spent[k] += b - a
    live.close()
    us = {f"{k}_us": round(v * 1e6 / records, 1) for k, v in spent.items()}
    total = sum(spent.values()) * 1e6 / records
    return {"bench": "live", "figure": "stages", "records": records, "batch": batch, **us,
            "total_us": round(total, 1), "one_core_records_per_s": round(1e6 / total),
            "stored": daemon.stored_calls, "target_total_us": round(1e6 / TARGET_RATE, 1)}


def file_import(root: Path, records: int) -> dict:
    path = root / "smdr.txt"
    with path.open("wb") as f:
        for n in range(records):
            f.write(line(7, n))
    t0 = time.perf_counter()
    cpu0 = os.times()
    subprocess.run([sys.executable, "-c", CLI, "--workspace", str(root), "import", "cdr", str(path),
                    "--source", "pbx0"], cwd=ROOT, check=True, capture_output=True)
    cpu1 = os.times()
    seconds = time.perf_counter() - t0
    cpu = cpu1.children_user + cpu1.children_system - cpu0.children_user - cpu0.children_system
    return {"bench": "live", "figure": "file_import", "records": records, "seconds": round(seconds, 3),
            "records_per_s": round(records / seconds), "cpu_us": round(cpu * 1e6 / records, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="throughput: records in all")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rate", type=int, default=1000, help="latency: records per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="latency: how long")
    parser.add_argument("--batch", type=int, default=2000, help="stages: records per micro-batch")
    args = parser.parse_args()

    def machine() -> dict:
        return {"cpus": os.cpu_count(), "python": sys.version.split()[0], "load_average": round(os.getloadavg()[0], 2)}

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        base.mkdir()
        workspace(base, 1)
        print(json.dumps({**file_import(base, args.records), **machine()}), flush=True)
        inproc = Path(tmp) / "stages"
        inproc.mkdir()
        workspace(inproc, 1)
        print(json.dumps({**stages(inproc, min(args.records, 40_000), args.batch), **machine()}), flush=True)
        root = Path(tmp) / "live"
        root.mkdir()
        ports = workspace(root, args.connections)
        proc = start_daemon(root)
        try:
            before, cpu = rss_kib(proc.pid), cpu_seconds(proc.pid)
            got = trio.run(throughput, root, ports, args.records // args.connections)
            got.update(cpu_per_record(cpu, cpu_seconds(proc.pid), got["records"]))
            after = rss_kib(proc.pid)
            print(json.dumps({**got, "rss_kib_before": before, "rss_kib_after": after, **machine()}), flush=True)
            got = trio.run(latency, root, ports[0], args.rate, args.seconds, 5_000_000)
            print(json.dumps({**got, "rss_kib_after": rss_kib(proc.pid), **machine()}), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
