"""Dial-plan throughput on distinct numbers: the compiled plan (ingest._dialplan) against the Python DialPlan.

An outbound call centre dials lists: nearly every number of a month is distinct, so the per-string memo of
DialPlan.normalise does not help and each number costs a full normalisation. For a French and a UK site this builds
N distinct numbers as their PBX writes them (outside-line digit, then national fixed and mobile numbers, toll-free
and premium numbers, international numbers of the sample countries, short service numbers, emergency numbers,
extensions, truncated and over-long dialling), then prints one JSON object per site:

- compiled_per_s: distinct numbers/s of DialPlan.normalise_slices over the numbers as (buffer, offsets, lengths)
  slices (what the columnar path has), the undecided rows through the Python plan included;
- compiled_list_per_s: the same from a list of str (DialPlan.normalise_all: encodes them first);
- python_per_s: DialPlan.normalise on a fresh plan (nothing memoised) over the first --python numbers;
- speedup, ns_per_number, undecided (share of rows the tables leave to the Python plan), mismatches (compiled
  against Python on the --python numbers: must be 0), compile_s (building the site's tables, once per site).

Run from the repository root:  .venv/bin/python benchmarks/bench_dialplan.py [--numbers N] [--python N]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import phonenumbers

from ingest._dialplan import normalise_slices
from ingest.dialplan import DialPlan, parse_ranges

SEED = 20261206
FOREIGN = ["GB", "US", "DE", "ES", "BE", "CH", "SE", "IT", "FR", "MA", "PT", "NL"]


def digits(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """n random digit strings of `width` digits."""
    return np.char.zfill(rng.integers(0, 10 ** width, n, dtype=np.int64).astype(str), width)


def national_numbers(country: str, rng: np.random.Generator, n: int) -> list[str]:
    """National significant numbers of real-looking shape: an example number of a type, its last digits random."""
    out: list[str] = []
    types = [phonenumbers.PhoneNumberType.FIXED_LINE] * 5 + [phonenumbers.PhoneNumberType.MOBILE] * 4 + \
        [phonenumbers.PhoneNumberType.TOLL_FREE, phonenumbers.PhoneNumberType.PREMIUM_RATE]
    examples = [phonenumbers.example_number_for_type(country, t) for t in types]
    heads = [phonenumbers.national_significant_number(e) for e in examples if e is not None]
    pick = rng.integers(0, len(heads), n)
    tails = digits(rng, n, 6)
    for i, t in zip(pick.tolist(), tails.tolist()):
        head = heads[i]
        out.append(head[:-6] + t if len(head) > 6 else head)
    return out


def site_numbers(plan: DialPlan, rng: np.random.Generator, n: int) -> list[str]:
    """n distinct numbers as dialled at the site (outside-line prefix first)."""
    out = plan.outside_prefix
    np_ = plan.national_prefix
    parts: list[str] = []
    share = {"national": 0.75, "international": 0.14, "short": 0.03, "invalid": 0.05, "extension": 0.02,
             "code": 0.01, "long": 0.01}
    count = {k: int(v * n * 1.05) for k, v in share.items()}
    parts += [out + np_ + x for x in national_numbers(plan.country, rng, count["national"])]
    for country in FOREIGN:
        cc = str(phonenumbers.country_code_for_region(country))
        k = count["international"] // len(FOREIGN)
        parts += [out + plan.international_prefix + cc + x for x in national_numbers(country, rng, k)]
    parts += [out + head + x for head in ("3", "118", "10", "1") for x in digits(rng, count["short"] // 4, 3)]
    parts += [out + np_ + x[:rng.integers(3, 8)] for x in national_numbers(plan.country, rng, count["invalid"])]
    parts += [out + np_ + x + "12" for x in national_numbers(plan.country, rng, count["long"])]
    parts += [str(x) for x in range(1000, 2000)] + [str(x) for x in range(200, 300)]
    parts += ["*" + x for x in digits(rng, count["code"], 3).tolist()] + [out + "112", out + "15", out + "999"]
    unique = list(dict.fromkeys(parts))
    while len(unique) < n:  # top up with national numbers
        unique = list(dict.fromkeys(unique + [out + np_ + x for x in national_numbers(plan.country, rng, n)]))
    rng.shuffle(unique)
    return unique[:n]


def as_slices(values: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    encoded = [v.encode() for v in values]
    lengths = np.array([len(b) for b in encoded], np.int32)
    offsets = np.zeros(len(values), np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), np.uint8), offsets, lengths, np.arange(len(values), dtype=np.int64)


def best(f, repeat: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def bench(name: str, settings: dict, n: int, n_python: int, repeat: int) -> dict:
    rng = np.random.default_rng(SEED)
    t = time.perf_counter()
    plan = DialPlan(**settings)
    plan.compiled  # noqa: B018
    compile_s = time.perf_counter() - t
    values = site_numbers(plan, rng, n)
    buf, off, ln, rows = as_slices(values)
    plan.normalise_slices(buf, off, ln, rows, values=values)  # the country codes met join the tables
    wanted = np.zeros(len(plan.compiled.cc_npp), np.uint8)
    undecided = int(normalise_slices(plan.compiled.tables, buf, off, ln, rows, True, wanted)[3].sum())

    def compiled() -> None:
        fresh = DialPlan(**settings)  # nothing memoised; the tables are built once per site
        fresh.__dict__["compiled"] = plan.compiled
        fresh.normalise_slices(buf, off, ln, rows, values=values)

    def compiled_list() -> None:
        fresh = DialPlan(**settings)
        fresh.__dict__["compiled"] = plan.compiled
        fresh.normalise_all(values)

    sample = values[:n_python]

    def python() -> None:
        fresh = DialPlan(**settings)
        for v in sample:
            fresh.normalise(v)

    python()  # warm phonenumbers' own caches, as a running import would have
    s_compiled = best(compiled, repeat)
    s_list = best(compiled_list, repeat)
    s_python = best(python, 1)
    fresh = DialPlan(**settings)
    got = list(plan.normalise_all(sample))
    mismatches = sum(fresh.normalise(v) != g for v, g in zip(sample, got))
    kinds = np.bincount(plan.normalise_all(values).kind, minlength=5).tolist()
    return {
        "case": "dialplan_distinct", "site": name, "numbers": len(values), "kinds": dict(zip(
            ("external", "internal", "service", "emergency", "invalid"), kinds)),
        "compile_s": round(compile_s, 3), "compiled_per_s": round(len(values) / s_compiled),
        "compiled_list_per_s": round(len(values) / s_list), "python_per_s": round(len(sample) / s_python),
        "ns_per_number": round(s_compiled / len(values) * 1e9, 1),
        "speedup": round((len(values) / s_compiled) / (len(sample) / s_python), 1),
        "undecided": round(undecided / len(values), 5), "mismatches": mismatches, "python_numbers": len(sample),
        "machine": platform.machine(), "python": platform.python_version(),
    }


SITES = {
    "paris": {"country": "FR", "outside_prefix": "0", "national_prefix": "0", "international_prefix": "00",
              "extensions": parse_ranges(["1000-1999"])},
    "london": {"country": "GB", "outside_prefix": "9", "national_prefix": "0", "international_prefix": "00",
               "extensions": parse_ranges(["200-299"])},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--numbers", type=int, default=1_000_000, help="distinct numbers per site")
    parser.add_argument("--python", type=int, default=50_000, help="numbers the Python plan is timed on")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for name, settings in SITES.items():
        print(json.dumps(bench(name, settings, args.numbers, min(args.python, args.numbers), args.repeat)),
              flush=True)


if __name__ == "__main__":
    main()
