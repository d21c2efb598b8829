"""Tariff loading: the columnar deck reader (tariffs/load.py + tariffs/_deck.pyx) against the row-by-row reference
(tariffs/load_reference.py, the loader before issue 16) in the same run, on generated carrier-like decks.

Prints one JSON object per line. Run from the repository root:

    .venv/bin/python benchmarks/bench_tariff.py [--quick] [--sizes 100000,1000000] [--decks carrier,distinct]
                                                [--repeat R]

`--quick` measures 100,000 prefixes only and times the reference on them (about 10 s); the default also measures
1,000,000 prefixes (the reference takes some 20 s there). Two decks per size: `carrier` (~2,000 destinations) and
`distinct` (one destination name per prefix, as an outbound call centre's NANP deck has: every name is decoded).
benchmarks/README.md explains every line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tariffs import load_reference  # noqa: E402
from tariffs.compile import compile_tariff, tz_table  # noqa: E402
from tariffs.load import clear_cache, compiled_tariff, load_tariff  # noqa: E402

TOML = """name = "bench"
currency = "EUR"
timezone = "Europe/Paris"
deck = "deck.csv"
[rounding]
decimals = 4
mode = "half_up"
"""
COUNTRIES = ["France", "Germany", "United Kingdom", "Italy", "Spain", "Korea, Republic of", "Congo, Democratic "
             "Republic of the", "Côte d'Ivoire", "São Tomé and Príncipe", "United States", "India", "Brazil"]


def emit(**fields: Any) -> None:
    print(json.dumps({"bench": "tariff", **fields}), flush=True)


def rounded(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        result = None
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def write_deck(folder: Path, n: int, seed: int = 1, distinct: bool = False) -> Path:
    """A deck of `n` distinct prefixes, one '*' row each: 2 to 11 digits, ~2,000 destinations (some quoted, some
    non-ASCII), ~3,000 distinct prices of up to 5 decimals, increments 1/6/60, connect fees on 10% and a dated
    version (effective_from) on 2%. `distinct`: a destination name of its own for each prefix (a few quoted or
    non-ASCII) instead."""
    rng = np.random.default_rng(seed)
    lens = rng.integers(2, 12, n * 2)
    prefixes = np.unique((rng.integers(1, 10, n * 2) * 10 ** (lens - 1)) + rng.integers(0, 10 ** (lens - 1)))
    prefixes = rng.permutation(prefixes)[:n]
    dest = [f'"{c}, zone {k}"' if "," in c else f"{c} {k}" for k in range(170) for c in COUNTRIES]
    dest_id = rng.integers(0, len(dest), n)
    prices = [f"{v // 100_000}.{v % 100_000:05d}" for v in rng.integers(0, 200_000, 3000)]
    price_id = rng.integers(0, len(prices), n)
    inc = np.array(["1", "6", "60"])[rng.integers(0, 3, n)]
    fee = np.where(rng.random(n) < 0.1, "0.0500", "")
    eff = np.where(rng.random(n) < 0.02, "2026-05-15", "")
    lines = ["prefix,destination,price,increment,connect_fee,effective_from"]
    names = [dest[d] for d in dest_id.tolist()]
    if distinct:
        names = [f'"{c}, {p}"' if "," in c else f"{c} {p}" for c, p in
                 zip((COUNTRIES[k % len(COUNTRIES)] for k in range(n)), prefixes.tolist())]
    lines += [f"{p},{d},{prices[q]},{i},{f},{e}" for p, d, q, i, f, e in
              zip(prefixes.tolist(), names, price_id.tolist(), inc.tolist(), fee.tolist(), eff.tolist())]
    (folder / "deck.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "bench.toml").write_text(TOML, encoding="utf-8")
    return folder / "bench.toml"


def same_rows(a: Any, b: Any) -> bool:
    cols = ("destination", "band", "connect_fee", "price", "unit", "increment", "slot_from", "min_cost", "max_cost",
            "effective_from", "line")
    return (list(a.prefix) == list(b.prefix) and a.destinations == b.destinations
            and all(np.array_equal(getattr(a, c), getattr(b, c)) for c in cols))


def run_size(n: int, repeat: int, reference: bool, deck: str = "carrier") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        toml = write_deck(Path(tmp), n, distinct=deck == "distinct")
        deck_mb = (Path(tmp) / "deck.csv").stat().st_size / 2**20
        tz_table.cache_clear()  # the zone's UTC-offset table: built once per process and zone, timed alone
        tz_s, _ = best_of(1, lambda: tz_table("Europe/Paris"))
        load_s, tariff = best_of(repeat, lambda: load_tariff(toml))
        compile_s, compiled = best_of(repeat, lambda: compile_tariff(tariff))
        total_s, _ = best_of(repeat, lambda: compile_tariff(load_tariff(toml)))
        clear_cache()
        compiled_tariff(toml)
        cached_s, _ = best_of(3, lambda: compiled_tariff(toml))  # what a second caller in the command pays
        line: dict[str, Any] = {
            "case": "load_compile", "deck": deck, "prefixes": n, "rows": len(tariff.rows), "deck_mb": rounded(deck_mb),
            "columnar_load_seconds": rounded(load_s), "compile_seconds": rounded(compile_s),
            "columnar_load_compile_seconds": rounded(total_s), "first_tz_table_seconds": rounded(tz_s),
            "cached_seconds": rounded(cached_s, 2),
            "target_seconds": 2.0 if n >= 1_000_000 else None,
            "rates": compiled.stats["rates"], "destinations": compiled.stats["destinations"],
        }
        cold = [_cold_process(toml) for _ in range(max(repeat, 5))]
        line.update(cold_process_seconds=rounded(min(c[0] for c in cold)),
                    cold_process_cpu_seconds=rounded(min(c[1] for c in cold)),
                    cold_process_cpu_median_seconds=rounded(sorted(c[1] for c in cold)[len(cold) // 2]))
        if n == 100_000:
            line["target_cold_cpu_seconds"] = 0.1  # issue 16, second round: a 100k-prefix tariff in < 0.1 s
            line["met_cold_cpu"] = line["cold_process_cpu_median_seconds"] < 0.1
        if n >= 1_000_000:
            line["met"] = line["cold_process_seconds"] < 2.0  # the target, for a command's first (cold) load
        if reference:
            ref_s, ref = best_of(1, lambda: load_reference.load_tariff(toml))
            line.update(reference_load_seconds=rounded(ref_s),
                        reference_load_compile_seconds=rounded(ref_s + compile_s),
                        speedup_load=rounded(ref_s / load_s, 3), same_rows=same_rows(tariff.rows, ref.rows))
        emit(**line)


def _cold_process(toml: Path) -> tuple[float, float]:
    """What a command pays: compiled_tariff in a fresh interpreter (imports excluded; the zone's offset table and
    every page of memory are new), as (wall, CPU) seconds."""
    code = ("import json, time\nimport tariffs.compile\nfrom tariffs.load import compiled_tariff\n"
            "t, c = time.perf_counter(), time.process_time()\n"
            f"compiled_tariff({str(toml)!r})\n"
            "print(json.dumps([time.perf_counter() - t, time.process_time() - c]))\n")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    wall, cpu = json.loads(out.stdout)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100,000 prefixes only")
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated deck sizes (prefixes)")
    ap.add_argument("--repeat", type=int, default=3, help="best of R runs for the columnar loader (fresh processes: "
                    "at least 5)")
    ap.add_argument("--decks", default="carrier,distinct", help="comma-separated decks: carrier, distinct")
    ap.add_argument("--no-reference", action="store_true", help="skip the row-by-row baseline")
    args = ap.parse_args()
    sizes = [100_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    emit(case="machine", python=platform.python_version(), cpus=os.cpu_count(), numpy=np.__version__)
    for n in sizes:
        for deck in args.decks.split(","):
            run_size(n, args.repeat, not args.no_reference, deck)
    emit(case="peak_rss", mib=rounded(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


if __name__ == "__main__":
    main()
