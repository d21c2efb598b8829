"""Hotel front desk under load: `anatole serve` (a separate process) with 1,000 guest rooms, an IP Office PBX and a
simulated FIAS PMS (tests/fias_pms.py) on 127.0.0.1, both in this process.

Prints JSON lines:
- `checkin`: the PMS checks every room in (GI); GI records applied per second (stays in SQLite);
- `latency`: one PBX connection at a fixed rate of guest calls; per call, the SMDR record written -> the PS frame
  received by the PMS (kernel hops included: an upper bound of record received -> PS sent), p50/p99/max in ms;
  the baseline beside it, measured on the same calls in the same run: record written -> FinishedCall received by
  a subscriber of the daemon's socket (journal, parse, rate, store, publish, without the hotel);
- `burst`: N calls written at once; postings per second to the PMS (one outstanding at a time: PS -> PA -> PS);
- every posting arrives exactly once (checked).

    python benchmarks/bench_hotel.py [--rooms 1000] [--calls 1000] [--rate 50] [--burst 500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fias_pms import SimulatedPms  # noqa: E402

from pbx.protocol import FinishedCall, FrameReader, Subscribe, encode  # noqa: E402

SAMPLES = ROOT / "tariffs" / "samples"
CLI = "from anatole.cli import main; main()"
PARIS = ZoneInfo("Europe/Paris")
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
extensions = ["2000-3999"]
tariff = "tariffs/fr-business.toml"

[[source]]
name = "hotel-ipo"
site = "paris"
format = "avaya-ipo"
listen = "127.0.0.1:{pbx}"

[hotel]
markup_percent = "100"
surcharge = "0.50"
minimum = "0.60"
rounding = "up"
rooms_csv = "rooms.csv"

[pms]
protocol = "fias"
connect = "127.0.0.1:{pms}"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workspace(root: Path, rooms: int, pbx: int, pms: int) -> None:
    (root / "tariffs").mkdir(parents=True)
    for ext in (".toml", ".csv"):
        shutil.copy(SAMPLES / f"fr-business{ext}", root / "tariffs" / f"fr-business{ext}")
    (root / "rooms.csv").write_text("number,extension\n" + "".join(f"{1000 + i},{2000 + i}\n" for i in range(rooms)))
    (root / "anatole.toml").write_text(SITE.format(pbx=pbx, pms=pms))


def record(n: int, ext: int) -> tuple[str, bytes]:
    """An IP Office record of a 1-second national call that just ended, to a number unique to `n`."""
    number = f"01{55000000 + n:08d}"
    start = dt.datetime.now(PARIS).replace(microsecond=0) - dt.timedelta(seconds=1)
    text = (f"{start:%Y/%m/%d %H:%M:%S},00:00:01,2,{ext},O,{number},9{number},,0,{5000000 + n},0,E{ext},Room {ext},"
            f"T9001,Line 1.3,0,0,,,,,,,,,,,,,,10.1.20.5,3301,10.1.20.5,3302\r\n")
    return number, text.encode()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def emit(**fields: object) -> None:
    print(json.dumps({"bench": "hotel", **fields}), flush=True)


async def subscriber(path: Path, seen: dict[str, float]) -> None:
    stream = await trio.open_unix_socket(str(path))
    await stream.send_all(encode(Subscribe(topics=["calls"])))
    reader = FrameReader()
    while True:
        data = await stream.receive_some(1 << 18)
        if not data:
            return
        now = trio.current_time()
        for m in reader.feed(data):
            if isinstance(m, FinishedCall):
                seen.setdefault(m.dialled[1:] if m.dialled.startswith("9") else m.dialled, now)


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="benchhotel"))
    pms = SimulatedPms()
    ps_at: dict[str, float] = {}
    pms.on_record = lambda rec: ps_at.setdefault(rec.get("DD"), trio.current_time()) if rec.kind == "PS" else None
    proc = None
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(pms.serve)
            pbx_port = free_port()
            workspace(tmp, args.rooms, pbx_port, pms.port)
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            proc = subprocess.Popen([sys.executable, "-c", CLI, "--workspace", str(tmp), "serve"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=open(tmp / "serve.log", "wb"))  # noqa: SIM115
            with trio.fail_after(60):
                await pms.alive.wait()
                while not (tmp / "anatole.sock").exists():
                    await trio.sleep(0.05)
            db = sqlite3.connect(tmp / "anatole.db", timeout=30)
            # 1. check every room in over FIAS
            began = trio.current_time()
            for i in range(args.rooms):
                await pms.checkin(str(1000 + i), str(880000 + i), f"Guest {i}")
            while db.execute("SELECT COUNT(*) FROM hotel_stays WHERE checkout IS NULL").fetchone()[0] < args.rooms:
                await trio.sleep(0.02)
            took = trio.current_time() - began
            emit(figure="checkin", rooms=args.rooms, seconds=round(took, 3), gi_per_s=round(args.rooms / took))
            await trio.sleep(2.1)  # the calls below start after every check-in (second resolution)
            # 2. latency at a fixed rate, with the subscriber baseline on the same calls
            finished: dict[str, float] = {}
            nursery.start_soon(subscriber, tmp / "anatole.sock", finished)
            await trio.sleep(0.2)
            rng = random.Random(8)
            sent: dict[str, float] = {}
            stream = await trio.open_tcp_stream("127.0.0.1", pbx_port)
            for n in range(args.calls):
                number, data = record(n, 2000 + rng.randrange(args.rooms))
                sent[number] = trio.current_time()
                await stream.send_all(data)
                await trio.sleep(1 / args.rate)
            with trio.fail_after(120):
                while len([k for k in sent if k in ps_at]) < args.calls:
                    await trio.sleep(0.02)
                while len([k for k in sent if k in finished]) < args.calls:
                    await trio.sleep(0.02)
            ps_ms = [(ps_at[k] - t) * 1000 for k, t in sent.items()]
            fc_ms = [(finished[k] - t) * 1000 for k, t in sent.items()]
            emit(figure="latency", path="record -> PS at the PMS", rooms=args.rooms, calls=args.calls,
                 rate=args.rate, p50_ms=round(pct(ps_ms, 0.5), 1), p99_ms=round(pct(ps_ms, 0.99), 1),
                 max_ms=round(max(ps_ms), 1), target_p99_ms=200)
            emit(figure="latency", path="baseline: record -> FinishedCall at a subscriber (no hotel step)",
                 rooms=args.rooms, calls=args.calls, rate=args.rate, p50_ms=round(pct(fc_ms, 0.5), 1),
                 p99_ms=round(pct(fc_ms, 0.99), 1), max_ms=round(max(fc_ms), 1))
            # 3. a burst: postings per second, one outstanding at a time
            burst: dict[str, float] = {}
            began = trio.current_time()
            data = b""
            for n in range(args.calls, args.calls + args.burst):
                number, line = record(n, 2000 + rng.randrange(args.rooms))
                burst[number] = began
                data += line
            await stream.send_all(data)
            with trio.fail_after(300):
                while len([k for k in burst if k in ps_at]) < args.burst:
                    await trio.sleep(0.01)
            took = trio.current_time() - began
            emit(figure="burst", calls=args.burst, seconds=round(took, 3), postings_per_s=round(args.burst / took),
                 p99_ms=round(pct([(ps_at[k] - began) * 1000 for k in burst], 0.99), 1))
            total = args.calls + args.burst
            emit(figure="exactly_once", postings=len(pms.postings), expected=total, duplicates=len(pms.duplicates),
                 ok=len(pms.postings) == total and not pms.duplicates)
            await stream.aclose()
            db.close()
            nursery.cancel_scope.cancel()
    except BaseException:
        if (tmp / "serve.log").exists():
            sys.stderr.write((tmp / "serve.log").read_text()[-3000:])
        raise
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="guest calls per second in the latency run")
    parser.add_argument("--burst", type=int, default=500)
    emit(figure="machine", cpus=os.cpu_count(), python=sys.version.split()[0],
         note="shared 2-core VM: other work runs beside it" if os.cpu_count() == 2 else "")
    trio.run(main, parser.parse_args())
