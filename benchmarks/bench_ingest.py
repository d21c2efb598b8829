"""Ingest throughput: `anatole batch-rate` and `import cdr` against pyarrow's and Python's CSV parsers.

Generates an Asterisk cdr_csv Master.csv (21 columns, no header, local times) and a Cisco CUCM CDR file (133
columns, header and types lines, UTC epochs) for a US site, then measures on each, every step in its own child
process (so that one step's peak memory cannot hide another's):

  pyarrow        pyarrow.csv.read_csv of the file (parse only, types inferred)
  csv_module     Python's csv.reader over the file (parse only)
  parser         the anatole parser alone (ingest.cdr.<format>.parse), every item counted
  batch_csv      pipeline.batchrate.batch_rate to CSV: parse, normalise, rate, write
  batch_parquet  the same to Parquet (needs pyarrow)
  import         pipeline.cdrimport.import_file into a fresh SQLite store
  sqlite_insert  Store.insert_calls alone on ready-made rows: the SQLite ceiling of the import
  cli            one `anatole batch-rate` run of the command line on the smaller file

and prints one JSON object per line. First, the outbound call centre case (`all_distinct`): an Asterisk file where
every row has a number of its own, rated with a 100,000-prefix tariff, batch_csv timed against pyarrow parse-only
of the same file in the same run (`--distinct-rows N`, default 2,000,000; 0 skips it).

Run from the repository root:

    .venv/bin/python benchmarks/bench_ingest.py [--quick] [--asterisk-rows N] [--cucm-rows N] [--repeat R] [--keep]
    .venv/bin/python benchmarks/bench_ingest.py --profile 100000    # cProfile of batch_rate and import_file

benchmarks/README.md explains every line.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import io
import json
import os
import platform
import pstats
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as anatole's entry point (anatole/__main__.py) sets it

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = 20260601
CHUNK_ROWS = 100_000  # rows generated (and written) per numpy batch
SITE = "nyc"
TIMEZONE = "America/New_York"
# calls between 2026-04-01 and 2026-06-01 local time: all in EDT (UTC-4), so local -> UTC is a constant shift
PERIOD_START_LOCAL = 1775001600  # 2026-04-01 00:00:00 as if UTC
PERIOD_DAYS = 61
UTC_OFFSET = 4 * 3600
HOUR_WEIGHTS = np.array([1, 0.5, 0.3, 0.3, 0.3, 0.5, 1, 3, 7, 10, 10, 9,  # local hours 0..11
                         6, 7, 9, 10, 9, 7, 4, 3, 2.5, 2, 1.5, 1])  # 12..23
WORKSPACE_TOML = f"""\
[workspace]
currency = "USD"

[[site]]
name = "{SITE}"
country = "US"
timezone = "{TIMEZONE}"
outside_prefix = "9"
national_prefix = "1"
international_prefix = "011"
area_code = "212"
extensions = ["2000-2999"]
tariff = "us-business.toml"

[[source]]
name = "nyc-asterisk"
site = "{SITE}"
format = "asterisk"

[[source]]
name = "nyc-cucm"
site = "{SITE}"
format = "cucm"
"""
SOURCES = {"asterisk": "nyc-asterisk", "cucm": "nyc-cucm"}
ISSUE_ROWS = {"asterisk": 5_000_000, "cucm": 1_000_000}  # the sizes the issue asks for (the defaults)
# outgoing numbers as sent to the network (the user dials "9" first): (kind, share, lead digits, random digits)
OUTGOING_KINDS: list[tuple[str, float, list[bytes], int]] = [
    ("national", 0.42, [b"1212", b"1646", b"1917", b"1718", b"1415", b"1312", b"1617", b"1305", b"1213", b"1202",
                        b"1404", b"1512", b"1206", b"1303", b"1702", b"1615"], 7),
    ("local", 0.10, [b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9"], 6),  # 7 digits, area code 212 implied
    ("toll_free", 0.08, [b"1800", b"1888", b"1877", b"1866", b"1855", b"1844", b"1833"], 7),
    ("canada_caribbean", 0.05, [b"1416", b"1514", b"1604", b"1613", b"1876", b"1809"], 7),
    ("intl_fixed", 0.15, [b"0114420", b"0114412", b"011331", b"011334", b"0114930", b"0114989", b"0115255",
                          b"0118621", b"0118131", b"0115511", b"011390", b"0113491"], 8),
    ("intl_mobile", 0.20, [b"0114477", b"0114479", b"011336", b"011337", b"01149151", b"01149172", b"0115215",
                           b"0119198", b"01186138", b"0115511", b"01139347", b"0113461"], 8),
]
EXTENSIONS = 1000  # 2000..2999
FIRST = [b"Alice", b"Bruno", b"Chloe", b"Dan", b"Emma", b"Farid", b"Grace", b"Hugo", b"Ines", b"Jack", b"Kim",
         b"Liam", b"Maya", b"Noah", b"Olga", b"Paul", b"Quinn", b"Rosa", b"Sam", b"Tara", b"Umar", b"Vera",
         b"Will", b"Xena", b"Yusuf", b"Zoe", b"Jose", b"Mei", b"Ravi", b"Nadia"]
LAST = [b"Martin", b"Keller", b"Durand", b"Roux", b"Garcia", b"Smith", b"Nguyen", b"Kowalski", b"Okafor",
        b"Rossi", b"Tanaka", b"Silva", b"Cohen", b"Murphy", b"Jensen", b"Haddad", b"Novak", b"Patel",
        b"Schmidt", b"Lopez", b"Brown", b"Ivanova", b"Moreau", b"Khan", b"Lee", b"Fischer", b"Walsh",
        b"Romero", b"Singh", b"Berg", b"Costa", b"Adams", b"Baker"]


def emit(**fields: Any) -> None:
    """Print one JSON line."""
    print(json.dumps({"bench": "ingest", **fields}, default=str), flush=True)  # default: --workdir is a Path


def rounded(x: float, digits: int = 4) -> float:
    """Round to `digits` significant digits, for readable JSON."""
    return float(f"{x:.{digits}g}")


def machine(args: argparse.Namespace) -> dict[str, Any]:
    """What ran the benchmark."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        import pyarrow
        pa_version: str | None = pyarrow.__version__
    except ImportError:
        pa_version = None
    import msgspec
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "pyarrow": pa_version,
            "msgspec": msgspec.__version__, "sqlite": sqlite3.sqlite_version, "args": vars(args)}


# --- vectorised text: a row is a sequence of fixed-width byte slots, NUL-padded; dropping the NULs joins them --


def assemble(parts: list[Any], n: int) -> bytes:
    """The bytes of n rows made of `parts` in order: each a constant (bytes) or a uint8 matrix (n, width) whose NUL
    bytes are padding. One (n, total width) matrix is filled slot by slot, then every NUL is dropped."""
    widths = [len(p) if isinstance(p, bytes) else p.shape[1] for p in parts]
    mat = np.empty((n, sum(widths)), np.uint8)
    at = 0
    for part, w in zip(parts, widths):
        mat[:, at:at + w] = np.frombuffer(part, np.uint8) if isinstance(part, bytes) else part
        at += w
    flat = mat.reshape(-1)
    return flat[flat != 0].tobytes()


def text(values: np.ndarray) -> np.ndarray:
    """An 'S' array (NUL-padded by numpy) as a uint8 matrix."""
    values = np.ascontiguousarray(values)
    return values.view(np.uint8).reshape(len(values), values.dtype.itemsize)


def pick(options: list[bytes], index: np.ndarray) -> np.ndarray:
    """options[index[i]] for each row, as a uint8 matrix."""
    return text(np.array(options, dtype="S")[index])


def digits(values: np.ndarray, width: int, zero_fill: bool = False) -> np.ndarray:
    """Non-negative integers as decimal text (uint8 matrix, right-aligned; leading zeros dropped unless
    zero_fill, where the number is written on exactly `width` digits)."""
    rest = values.astype(np.int64)
    out = np.empty((len(values), width), np.uint8)
    for j in range(width - 1, -1, -1):
        out[:, j] = rest % 10 + 48
        rest = rest // 10
    if not zero_fill:
        lead = np.logical_and.accumulate(out == 48, axis=1)
        lead[:, -1] = False
        out[lead] = 0
    return out


def hex_digits(values: np.ndarray, width: int, upper: bool = False) -> np.ndarray:
    """Non-negative integers as hex on exactly `width` digits."""
    table = np.frombuffer(b"0123456789ABCDEF" if upper else b"0123456789abcdef", np.uint8)
    v = values.astype(np.int64)
    return np.stack([table[(v >> (4 * (width - 1 - j))) & 15] for j in range(width)], axis=1)


def stamp(seconds: np.ndarray) -> np.ndarray:
    """Epoch-like seconds as 'YYYY-MM-DD HH:MM:SS' (uint8 matrix, 19 wide); no time zone is applied."""
    t = seconds.astype("datetime64[s]")
    day = t.astype("datetime64[D]")
    month = t.astype("datetime64[M]")
    year = t.astype("datetime64[Y]").astype(np.int64) + 1970
    in_day = (t - day).astype(np.int64)
    cols = [digits(year, 4, True), b"-", digits(month.astype(np.int64) % 12 + 1, 2, True), b"-",
            digits((day - month).astype(np.int64) + 1, 2, True), b" ", digits(in_day // 3600, 2, True), b":",
            digits(in_day // 60 % 60, 2, True), b":", digits(in_day % 60, 2, True)]
    out = np.empty((len(seconds), 19), np.uint8)
    at = 0
    for c in cols:
        w = len(c) if isinstance(c, bytes) else c.shape[1]
        out[:, at:at + w] = np.frombuffer(c, np.uint8) if isinstance(c, bytes) else c
        at += w
    return out


def where_rows(mask: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row i of a where mask[i], else row i of b (matrices padded to the same width with NULs)."""
    w = max(a.shape[1], b.shape[1])
    a = np.pad(a, ((0, 0), (0, w - a.shape[1]))) if a.shape[1] < w else a
    b = np.pad(b, ((0, 0), (0, w - b.shape[1]))) if b.shape[1] < w else b
    return np.where(mask[:, None], a, b)


def blank(mat: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The matrix with the rows where keep is False emptied (all NUL)."""
    return mat * keep[:, None].astype(np.uint8)


def cat(*parts: Any, n: int) -> np.ndarray:
    """Parts joined into one NUL-padded matrix (the NULs stay inside; assemble() drops them)."""
    mats = [np.broadcast_to(np.frombuffer(p, np.uint8), (n, len(p))) if isinstance(p, bytes) else p for p in parts]
    return np.concatenate(mats, axis=1)


# --- the calls ------------------------------------------------------------------------------------------------


class Pools:
    """Distinct numbers the site calls and is called from, with a Zipf-like popularity."""

    def __init__(self, rng: np.random.Generator, rows: int, distinct: float, unique: bool = False):
        n_out = rows if unique else max(1000, int(rows * distinct))
        n_in = rows if unique else max(500, int(rows * distinct / 2))
        self.unique = unique  # every row its own number (an outbound call centre dialling lists)
        shares = np.array([k[1] for k in OUTGOING_KINDS])
        kind = rng.choice(len(OUTGOING_KINDS), n_out, p=shares / shares.sum())
        lead_w = max(len(p) for _, _, leads, _ in OUTGOING_KINDS for p in leads)
        lead = np.zeros((n_out, lead_w), np.uint8)
        tail_w = max(k[3] for k in OUTGOING_KINDS) + 1
        tail = rng.integers(48, 58, (n_out, tail_w), dtype=np.uint8)
        tail[:, 0] = rng.integers(50, 58, n_out, dtype=np.uint8)  # NXX: no 0 or 1 first
        for k, (_, _, leads, n_rand) in enumerate(OUTGOING_KINDS):
            rows_k = np.flatnonzero(kind == k)
            m = pick(leads, rng.integers(0, len(leads), len(rows_k)))
            lead[rows_k, :m.shape[1]] = m
            tail[rows_k, n_rand:] = 0
        # local numbers: 7 digits = lead digit (2-9) + 6 random; others: lead + 7 random
        self.out_kind = kind
        self.outgoing = np.concatenate([lead, tail], axis=1)  # as sent, without the outside prefix
        npa = pick([b"212", b"646", b"917", b"718", b"347", b"516", b"914", b"201", b"973", b"203", b"415",
                    b"310", b"312", b"617", b"305", b"404"], rng.integers(0, 16, n_in))
        rest = rng.integers(48, 58, (n_in, 7), dtype=np.uint8)
        rest[:, 0] = rng.integers(50, 58, n_in, dtype=np.uint8)
        self.incoming = np.concatenate([npa, rest], axis=1)  # 10-digit national CLI as US trunks send it
        self.out_cdf = self._zipf_cdf(n_out)
        self.in_cdf = self._zipf_cdf(n_in)

    @staticmethod
    def _zipf_cdf(n: int, s: float = 0.8) -> np.ndarray:
        cdf = np.cumsum(1.0 / np.arange(1, n + 1) ** s)
        return cdf / cdf[-1]

    def draw(self, rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
        return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


def start_quantiles() -> tuple[np.ndarray, np.ndarray]:
    """(minute of the period, cumulative share of calls): business hours and weekdays weighted."""
    minutes = np.arange(PERIOD_DAYS * 1440)
    day = minutes // 1440
    weekday = (day + 2) % 7  # 2026-04-01 is a Wednesday (0 = Monday)
    w = HOUR_WEIGHTS[(minutes // 60) % 24] * np.where(weekday >= 5, 0.3, 1.0)
    cdf = np.cumsum(w)
    return minutes, cdf / cdf[-1]


class Calls:
    """One batch of calls (rows first..first+n of a file of `total` rows): who, what, when."""

    def __init__(self, rng: np.random.Generator, pools: Pools, first: int, n: int, total: int,
                 shares: tuple[float, float, float]):
        self.n = n
        self.index = np.arange(first, first + n, dtype=np.int64)
        # start times increase through the file (records are written at the end of each call)
        minutes, cdf = start_quantiles()
        q = (self.index + rng.random(n)) / total
        minute = np.interp(q, cdf, minutes + 1.0)
        self.start_local = PERIOD_START_LOCAL + (minute * 60).astype(np.int64)
        self.start_utc = self.start_local + UTC_OFFSET
        self.kind = rng.choice(3, n, p=shares)  # 0 outgoing, 1 incoming, 2 internal
        self.ext = rng.integers(0, EXTENSIONS, n)
        self.other_ext = (self.ext + rng.integers(1, EXTENSIONS, n)) % EXTENSIONS
        self.out_id = self.index if pools.unique else pools.draw(rng, pools.out_cdf, n)
        self.in_id = self.index if pools.unique else pools.draw(rng, pools.in_cdf, n)
        self.answered = rng.random(n) >= 0.2
        self.ring = rng.integers(3, 26, n)
        talk = np.minimum(np.ceil(rng.exponential(180.0, n)), 4 * 3600).astype(np.int64)
        self.billsec = np.where(self.answered, talk, 0)
        self.duration = self.ring + self.billsec
        # unanswered: 70% no answer, 20% busy, 10% failed
        self.failure = rng.choice(3, n, p=[0.7, 0.2, 0.1])
        self.account = rng.random(n) < 0.05


def make_asterisk(path: Path, rows: int, distinct: float, seed: int, unique: bool = False) -> dict[str, Any]:
    """A 21-column cdr_csv Master.csv (loguniqueid, loguserfield, newcdrcolumns) of `rows` calls; `unique`: each
    row dials (or is called from) a number of its own."""
    rng = np.random.default_rng(seed)
    pools = Pools(rng, rows, distinct, unique)
    names = np.array([FIRST[i % len(FIRST)] + b" " + LAST[(i * 7) % len(LAST)] for i in range(EXTENSIONS)],
                     dtype="S")
    counts = {"outgoing": 0, "incoming": 0, "internal": 0, "answered": 0}
    used_out: set[int] = set()
    used_in: set[int] = set()
    with path.open("wb") as f:
        for first in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - first)
            c = Calls(rng, pools, first, n, rows, (0.6, 0.3, 0.1))
            out, inc, internal = c.kind == 0, c.kind == 1, c.kind == 2
            ext = digits(c.ext + 2000, 4)
            other = digits(c.other_ext + 2000, 4)
            number = pools.outgoing[c.out_id]
            caller = pools.incoming[c.in_id]
            src = where_rows(inc, caller, ext)
            dst = where_rows(out, cat(b"9", number, n=n), where_rows(inc, ext, other))
            name = where_rows(inc, caller, text(names[c.ext]))
            chan = hex_digits(c.index * 2 + 1, 8)
            dchan = hex_digits(c.index * 2 + 2, 8)
            channel = where_rows(inc, cat(b"trunk-in-", chan, n=n), cat(ext, b"-", chan, n=n))
            dstchannel = where_rows(out, cat(b"trunk-out-", dchan, n=n),
                                    where_rows(inc, cat(ext, b"-", dchan, n=n), cat(other, b"-", dchan, n=n)))
            lastdata = where_rows(out, cat(number, b"@trunk-out,60", n=n),
                                  where_rows(inc, cat(ext, b",20", n=n), cat(other, b",30", n=n)))
            answer = c.start_local + c.ring
            end = c.start_local + c.duration
            disposition = np.where(c.answered, 0, c.failure + 1)
            uniqueid = cat(digits(c.start_utc, 10), b".", digits(c.index + 1, 8), n=n)
            account = blank(pick([b"4711", b"7788", b"1234"], c.index % 3), c.account & out)
            parts = [
                b'"', account, b'","', src, b'","', dst, b'","',
                pick([b"from-internal", b"from-trunk", b"from-internal"], c.kind), b'","""', name, b'"" <', src,
                b'>","PJSIP/', channel, b'","PJSIP/', dstchannel, b'","Dial","PJSIP/', lastdata, b'","',
                stamp(c.start_local), b'",',
                blank(cat(b'"', stamp(answer), b'"', n=n), c.answered), b',"', stamp(end), b'",',
                digits(c.duration, 6), b",", digits(c.billsec, 6), b',"',
                pick([b"ANSWERED", b"NO ANSWER", b"BUSY", b"FAILED"], disposition), b'","DOCUMENTATION","',
                uniqueid, b'","","","', uniqueid, b'",', digits(c.index + 1, 9), b"\n",
            ]
            f.write(assemble(parts, n))
            counts["outgoing"] += int(out.sum())
            counts["incoming"] += int(inc.sum())
            counts["internal"] += int(internal.sum())
            counts["answered"] += int(c.answered.sum())
            used_out.update(np.unique(c.out_id[out]).tolist())
            used_in.update(np.unique(c.in_id[inc]).tolist())
    return {**counts, "distinct_dialled": len(used_out), "distinct_callers": len(used_in)}


def cucm_columns() -> tuple[list[str], list[str]]:
    """The 133 column names (the parser's headerless 133 profile) and their types (the test file's types line)."""
    from ingest.cdr.cucm import PROFILES

    names = list(PROFILES[133])
    with (ROOT / "tests" / "data" / "cdr" / "cucm-133.csv").open(encoding="utf-8") as f:
        f.readline()
        types = f.readline().strip().split(",")
    if len(types) != len(names):
        raise SystemExit(f"tests/data/cdr/cucm-133.csv: {len(types)} types for {len(names)} columns")
    return names, types


def make_cucm(path: Path, rows: int, distinct: float, seed: int) -> dict[str, Any]:
    """A CUCM 14/15 CDR file: quoted names, types, then `rows` end records (cdrRecordType 1)."""
    rng = np.random.default_rng(seed)
    pools = Pools(rng, rows, distinct)
    names, types = cucm_columns()
    counts = {"outgoing": 0, "incoming": 0, "internal": 0, "answered": 0}
    used_out: set[int] = set()
    used_in: set[int] = set()
    with path.open("wb") as f:
        f.write((",".join(f'"{n}"' for n in names) + "\n").encode())
        f.write((",".join(types) + "\n").encode())
        for first in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - first)
            c = Calls(rng, pools, first, n, rows, (0.55, 0.30, 0.15))
            out, inc = c.kind == 0, c.kind == 1
            ext = digits(c.ext + 2000, 4)
            other = digits(c.other_ext + 2000, 4)
            number = pools.outgoing[c.out_id]
            caller = pools.incoming[c.in_id]
            phone = cat(b"SEP00AB12C", hex_digits(c.ext, 3, True), b"F0", n=n)  # SEP + a 12-digit MAC
            other_phone = cat(b"SEP00AB12C", hex_digits(c.other_ext, 3, True), b"F0", n=n)
            trunk = pick([b"SIPTRK_PSTN_A", b"SIPTRK_PSTN_B"], (c.index % 7 == 0).astype(np.int64))
            connect = np.where(c.answered, c.start_utc + c.ring, 0)
            dest_cause = np.where(c.answered, 16, np.array([19, 17, 41])[c.failure])
            call_id = c.index + 1_000_000
            values: dict[str, Any] = {
                "cdrrecordtype": b"1", "globalcallid_callmanagerid": b"1",
                "globalcallid_callid": digits(call_id, 8), "origlegcallidentifier": digits(call_id * 2 + 1, 9),
                "datetimeorigination": digits(c.start_utc, 10), "orignodeid": b"1",
                "origipaddr": b"588513546", "callingpartynumber":
                    cat(b'"', where_rows(inc, caller, ext), b'"', n=n),
                "origcause_value": digits(np.where(c.answered, 16, 0), 2),
                "destlegidentifier": digits(call_id * 2 + 2, 9), "destnodeid": b"1", "destipaddr": b"167837962",
                "originalcalledpartynumber": cat(b'"', where_rows(out, cat(b"9", number, n=n),
                                                                  where_rows(inc, ext, other)), b'"', n=n),
                "finalcalledpartynumber": cat(b'"', where_rows(out, cat(b"9", number, n=n),
                                                               where_rows(inc, ext, other)), b'"', n=n),
                "destcause_value": digits(dest_cause, 2),
                "datetimeconnect": digits(connect, 10), "datetimedisconnect": digits(c.start_utc + c.duration, 10),
                "pkid": cat(b'"3f2a9c1e-', hex_digits(c.index >> 16, 4), b"-4e60-9a41-",
                            hex_digits(c.index, 12), b'"', n=n),
                "callingpartynumberpartition": b'"PT_INTERNAL"', "duration": digits(c.billsec, 6),
                "origdevicename": cat(b'"', where_rows(inc, trunk, phone), b'"', n=n),
                "destdevicename": cat(b'"', where_rows(out, trunk, where_rows(inc, phone, other_phone)), b'"',
                                      n=n),
                "origcallterminationonbehalfof": b"12", "destcallterminationonbehalfof": b"0",
                "globalcallid_clusterid": b'"ANATOLE-LAB"',
                "clientmattercode": cat(b'"', blank(pick([b"4711", b"7788", b"1234"], c.index % 3),
                                                    c.account & out), b'"', n=n),
                "outpulsedcallingpartynumber": cat(b'"', blank(cat(b"212555", digits(c.ext, 4, True), n=n), out),
                                                   b'"', n=n),
                "outpulsedcalledpartynumber": cat(b'"', blank(number, out), b'"', n=n),
            }
            parts: list[Any] = []
            constant = b""
            for i, (name, typ) in enumerate(zip(names, types)):
                v = values.get(name.lower())
                if v is None:
                    v = b"0" if typ.startswith("INTEGER") else b'""'
                sep = b"," if i else b""
                if isinstance(v, bytes):
                    constant += sep + v
                else:
                    if constant or sep:
                        parts.append(constant + sep)
                    constant = b""
                    parts.append(v)
            parts.append(constant + b"\n")
            f.write(assemble(parts, n))
            counts["outgoing"] += int(out.sum())
            counts["incoming"] += int(inc.sum())
            counts["internal"] += int((c.kind == 2).sum())
            counts["answered"] += int(c.answered.sum())
            used_out.update(np.unique(c.out_id[out]).tolist())
            used_in.update(np.unique(c.in_id[inc]).tolist())
    return {**counts, "distinct_dialled": len(used_out), "distinct_callers": len(used_in)}


MAKERS: dict[str, Callable[[Path, int, float, int], dict[str, Any]]] = {"asterisk": make_asterisk, "cucm": make_cucm}
HEADER_LINES = {"asterisk": 0, "cucm": 2}


def make_workspace(folder: Path) -> Path:
    """anatole.toml with one US site and a source per format, and the us-business sample tariff copied in."""
    ws = folder / "workspace"
    ws.mkdir(parents=True, exist_ok=True)
    for name in ("us-business.toml", "us-business.csv"):
        shutil.copy(ROOT / "tariffs" / "samples" / name, ws / name)
    (ws / "anatole.toml").write_text(WORKSPACE_TOML, encoding="utf-8")
    return ws


# --- the steps, each run in a child process ---------------------------------------------------------------------


def rss_kib(field: str) -> int:
    """A VmRSS/VmHWM figure of this process, in KiB (0 where /proc is not there)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def step_pyarrow(spec: dict[str, Any]) -> dict[str, Any]:
    import pyarrow.csv as pacsv

    headerless = spec["fmt"] == "asterisk"
    extra: dict[str, Any] = {}

    def read(threads: bool) -> Any:
        opts = pacsv.ReadOptions(use_threads=threads, autogenerate_column_names=headerless,
                                 skip_rows_after_names=0 if headerless else 1)  # CUCM: the types line
        return pacsv.read_csv(spec["path"], read_options=opts)

    t0, c0 = time.perf_counter(), time.process_time()
    table = read(True)
    seconds = time.perf_counter() - t0
    extra["cpu_seconds"] = rounded(time.process_time() - c0)
    rows, columns = table.num_rows, table.num_columns
    del table
    if spec.get("single_thread"):
        # the same read again in this process: the memory it takes is mapped already (a fresh process pays for
        # its first touch, 1.5 GB for 2M rows, whose cost on a VM swings with the host); the stricter reference
        t0 = time.perf_counter()
        read(True)
        extra["seconds_warm"] = rounded(time.perf_counter() - t0)
        t0 = time.perf_counter()
        read(False)
        extra["seconds_one_thread"] = rounded(time.perf_counter() - t0)
    return {"seconds": seconds, "rows": rows, "columns": columns, **extra}


def step_csv_module(spec: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    n = 0
    with open(spec["path"], newline="", encoding="utf-8") as f:
        for _ in csv.reader(f):
            n += 1
    return {"seconds": time.perf_counter() - t0, "rows": n - HEADER_LINES[spec["fmt"]]}


def _workspace(spec: dict[str, Any]) -> Any:
    from anatole.config import open_workspace

    return open_workspace(spec["ws"])


def _cache_sizes(ws: Any) -> dict[str, Any]:
    """Entries of the per-site dial-plan cache (one per distinct number string and mode seen) and their approximate
    size (sys.getsizeof of the dict, keys, strings and Number objects)."""
    entries, size = 0, 0
    for site in ws.sites.values():
        cache = site.dialplan._cache
        entries += len(cache)
        size += sys.getsizeof(cache)
        for key, num in cache.items():
            size += sys.getsizeof(key) + sys.getsizeof(key[0]) + sys.getsizeof(num)
            size += sys.getsizeof(getattr(num, "__dict__", {})) + (sys.getsizeof(num.e164) if num.e164 else 0)
    return {"dialplan_cache_entries": entries, "dialplan_cache_mib": rounded(size / 2**20, 3)}


def step_parser(spec: dict[str, Any]) -> dict[str, Any]:
    from ingest.cdr import ParseContext, parser

    ws = _workspace(spec)
    src = ws.sources[SOURCES[spec["fmt"]]]
    module = parser(spec["fmt"])
    ctx = ParseContext(timezone=src.timezone, reference=int(Path(spec["path"]).stat().st_mtime))
    counts: dict[str, int] = {}
    t0 = time.perf_counter()
    with open(spec["path"], "rb") as stream:
        for item in module.parse(stream, ctx):
            name = type(item).__name__
            counts[name] = counts.get(name, 0) + 1
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": counts.get("CallRecord", 0) + counts.get("Reject", 0), "items": counts}


def step_batch(spec: dict[str, Any]) -> dict[str, Any]:
    from pipeline.batchrate import batch_rate

    ws = _workspace(spec)
    out = Path(spec["out"])
    t0, c0 = time.perf_counter(), time.process_time()
    tariff = Path(spec["tariff"]) if spec.get("tariff") else ws.sites[SITE].tariff
    ws.tariff(tariff)  # what batch_rate does first (it then finds it loaded): timed apart, inside the total
    tariff_seconds = time.perf_counter() - t0
    result = batch_rate([Path(spec["path"])], tariff=tariff, fmt=spec["fmt"], out=out,
                        site=ws.sites[SITE], ws=ws, threads=1 if spec.get("profile") else None)
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0
    size = out.stat().st_size
    for p in (out, out.with_name(out.name + ".rejects.csv")):
        p.unlink(missing_ok=True)
    return {"seconds": seconds, "tariff_seconds": rounded(tariff_seconds), "cpu_seconds": rounded(cpu_seconds),
            "rows": result.read, "calls": result.calls, "rejected": result.rejected,
            "skipped": result.skipped, "statuses": result.statuses, "out_bytes": size, **_cache_sizes(ws)}


def step_import(spec: dict[str, Any]) -> dict[str, Any]:
    from pipeline.cdrimport import expected_calls, import_file
    from store.db import open_store

    ws = _workspace(spec)
    db = Path(spec["db"])
    for p in db.parent.glob(db.name + "*"):  # a fresh store for every run
        p.unlink()
    store = open_store(db)
    path = Path(spec["path"])
    t0 = time.perf_counter()
    # as `anatole import cdr` does (a large import builds the reader indexes at the end); import_rowwise: not
    with store.bulk_load(expected_calls([path]) if spec.get("step", "import") == "import" else 0):
        result = import_file(ws, store, path, fmt=spec["fmt"], source=SOURCES[spec["fmt"]])
    seconds = time.perf_counter() - t0
    stored = store.count("calls")
    store.close()
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    return {"seconds": seconds, "rows": result.read, "calls": result.calls, "stored": stored,
            "rejected": result.rejected, "duplicates": result.duplicates, "statuses": result.statuses,
            "db_bytes": size, **_cache_sizes(ws)}


SQLITE_SAMPLE = 20_000  # records parsed and turned into store rows once, then inserted again with new ids
SQLITE_VARIANTS: dict[str, tuple[bool, list[str]]] = {  # name: (in memory, statements run after open_store)
    "store": (False, []),
    "synchronous_normal": (False, ["PRAGMA synchronous = NORMAL"]),
    "reader_indexes_dropped": (False, ["DROP INDEX calls_start", "DROP INDEX calls_site_start",
                                       "DROP INDEX calls_extension"]),  # what Store.bulk_load does
    "synchronous_normal_no_indexes": (False, ["PRAGMA synchronous = NORMAL", "DROP INDEX calls_start",
                                              "DROP INDEX calls_site_start", "DROP INDEX calls_extension",
                                              "DROP INDEX calls_group"]),
    "in_memory": (True, []),
}


def step_sqlite(spec: dict[str, Any]) -> dict[str, Any]:
    """The SQLite ceiling: store.insert_calls alone, on rows already parsed, normalised and rated, in the import's
    chunks (one commit per cdrimport.CHUNK rows); as the store opens, then with lighter settings."""
    from ingest.cdr import CallRecord, ParseContext, parser
    from pipeline.cdrimport import CHUNK, call_rows
    from store import CALL_COLUMNS
    from store.db import open_store

    ws = _workspace(spec)
    src = ws.sources[SOURCES[spec["fmt"]]]
    ctx = ParseContext(timezone=src.timezone, reference=0)
    records = []
    with open(spec["path"], "rb") as stream:
        for item in parser(spec["fmt"]).parse(stream, ctx):
            if isinstance(item, CallRecord):
                records.append(item)
                if len(records) >= SQLITE_SAMPLE:
                    break
    base = call_rows(ws, src, ws.sites[src.site], records, 1)
    at = CALL_COLUMNS.index("native_id")
    total = spec["insert_rows"]
    rows = [r[:at] + (f"{r[at]}/{k}",) + r[at + 1:] for k in range(0, total, len(base)) for r in base][:total]
    chunks = [rows[i:i + CHUNK] for i in range(0, len(rows), CHUNK)]
    db = Path(spec["db"])
    out: dict[str, Any] = {}
    for name, (in_memory, pragmas) in SQLITE_VARIANTS.items():
        for p in db.parent.glob(db.name + "*"):
            p.unlink()
        store = open_store(":memory:" if in_memory else db)
        for sql in pragmas:
            store.conn.execute(sql)
        t0 = time.perf_counter()
        for chunk in chunks:
            store.insert_calls(chunk)
        out[name] = time.perf_counter() - t0
        store.close()
    for p in db.parent.glob(db.name + "*"):
        p.unlink()
    return {"seconds": out["store"], "rows": len(rows), "variants": out, "chunk": CHUNK}


STEPS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "pyarrow": step_pyarrow, "csv_module": step_csv_module, "parser": step_parser, "batch_csv": step_batch,
    "batch_parquet": step_batch, "import": step_import, "import_rowwise": step_import,
    "sqlite_insert": step_sqlite,
}


def child_main(spec_json: str) -> None:
    """Run one step in this (fresh) process and print its result as JSON, with this process's RSS figures."""
    spec = json.loads(spec_json)
    base = rss_kib("VmRSS")
    if spec.get("profile"):
        prof = cProfile.Profile()
        prof.enable()
        res = STEPS[spec["step"]](spec)
        prof.disable()
        res["profile"] = top_functions(prof, spec.get("top", 15))
    else:
        res = STEPS[spec["step"]](spec)
    res["rss_before_mib"] = base / 1024
    res["peak_rss_mib_self"] = rss_kib("VmHWM") / 1024
    print(json.dumps(res))


# (file suffix, function) whose cumulative time is shown per profile: the stages of batch_rate and import_file
STAGES = [("ingest/cdr/", "parse"), ("ingest/cdr/asterisk.py", "build_record"), ("ingest/cdr/cucm.py", "_record"),
          ("ingest/cdr/blocks.py", "block"), ("pipeline/columnar.py", "unique_strings"),
          ("pipeline/columnar.py", "classify"), ("pipeline/columnar.py", "rate_block"),
          ("pipeline/columnar.py", "store_rows"), ("pipeline/batchrate.py", "columns"),
          ("pipeline/cdrimport.py", "call_rows"), ("pipeline/cdrimport.py", "classify"),
          ("pipeline/cdrimport.py", "price_calls"), ("engine/", "rate"), ("pipeline/batchrate.py", "_out_row"),
          ("pipeline/batchrate.py", "write"), ("store/db.py", "insert_calls"),
          ("store/db.py", "merge_overlapping_legs"), ("pipeline/cdrimport.py", "_sha256")]


def _short(file: str) -> str:
    short = file.replace(str(ROOT) + "/", "")
    return "/".join(short.split("/")[-2:]) if short.startswith("/") else short


def top_functions(prof: cProfile.Profile, top: int) -> dict[str, Any]:
    """The functions with the most own time (tottime); own time per source file (a built-in's time goes to the
    files that called it); the cumulative time of the STAGES."""
    stats = pstats.Stats(prof, stream=io.StringIO()).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values())
    rows = []
    by_file: dict[str, float] = {}
    stages: dict[str, float] = {}
    for (file, line, name), (_cc, nc, tt, ct, callers) in stats.items():
        rows.append({"function": f"{_short(file)}:{line}({name})", "tottime": tt, "cumtime": ct, "calls": nc})
        if file == "~":  # a built-in: charge its callers' files
            for (cfile, _, _), (_, _, ctt, _) in callers.items():
                by_file[_short(cfile)] = by_file.get(_short(cfile), 0.0) + ctt
        else:
            by_file[_short(file)] = by_file.get(_short(file), 0.0) + tt
        for suffix, func in STAGES:
            if name == func and (file.endswith(suffix) or f"/{suffix}" in file):
                key = f"{_short(file)}:{func}"
                stages[key] = stages.get(key, 0.0) + ct
    rows.sort(key=lambda r: -r["tottime"])
    return {
        "top": [{**r, "tottime": rounded(r["tottime"], 3), "cumtime": rounded(r["cumtime"], 3),
                 "share": rounded(r["tottime"] / total, 2)} for r in rows[:top]],
        "by_file": {f: rounded(t / total, 3) for f, t in sorted(by_file.items(), key=lambda x: -x[1])[:top]},
        "stages_cumtime": {k: rounded(v, 3) for k, v in sorted(stages.items(), key=lambda x: -x[1])},
        "profiled_seconds": rounded(total),
    }


def run_child(argv: list[str]) -> tuple[str, int]:
    """(stdout, exit code) of a child process; its stderr is shown when it fails."""
    p = subprocess.run(argv, capture_output=True, cwd=ROOT)
    if p.returncode:
        sys.stderr.write(p.stderr.decode(errors="replace")[-4000:])
    return p.stdout.decode(), p.returncode


def run_step(step: str, spec: dict[str, Any], repeat: int) -> dict[str, Any] | None:
    """Best (shortest) of `repeat` runs of a step, each in a fresh child; peak RSS is the highest seen."""
    best: dict[str, Any] | None = None
    peak = 0.0
    for _ in range(repeat):
        out, code = run_child([sys.executable, str(Path(__file__).resolve()), "--child",
                                         json.dumps({**spec, "step": step})])
        if code:
            emit(format=spec["fmt"], impl=step, error=f"child exited with {code}")
            return None
        res = json.loads(out.strip().splitlines()[-1])
        peak = max(peak, res["peak_rss_mib_self"])
        if best is None or res["seconds"] < best["seconds"]:
            best = res
    assert best is not None
    best["peak_rss_mib"] = peak
    return best


# --- driver ---------------------------------------------------------------------------------------------------

NOTES = {
    "pyarrow": "pyarrow.csv.read_csv of the whole file into a Table, types inferred, default threads (all cores); "
               "the Asterisk file is headerless (autogenerate_column_names), the CUCM types line is skipped "
               "(skip_rows_after_names=1); seconds_one_thread: use_threads=False; seconds_warm: the threaded read "
               "again in the same process (its memory already mapped); cpu_seconds: CPU time of the first "
               "threaded read, all threads",
    "csv_module": "csv.reader over the file, every row iterated, nothing converted",
    "parser": "ingest.cdr.<format>.parse over the file, every item (CallRecord/Reject/Skipped) counted: the "
              "parse share of batch-rate and import",
    "batch_csv": "pipeline.batchrate.batch_rate(..., out=OUT.csv): parse, normalise (dial plan), rate (engine), "
                 "write CSV; compiling the tariff included (tariff_seconds: that part alone); cpu_seconds: CPU "
                 "time of the whole step, all threads",
    "batch_parquet": "the same with out=OUT.parquet",
    "import": "pipeline.cdrimport.import_file into a fresh SQLite store (WAL, synchronous=FULL) as `anatole import "
              "cdr` runs it: parse, normalise, rate, INSERT OR IGNORE, day summary, merge overlapping legs, one "
              "commit per chunk; a large import (Store.bulk_load) builds the reader indexes once at the end",
    "import_rowwise": "the same import with the reader indexes kept row by row (the baseline: how any import "
                      "small beside the store runs)",
}


class Runner:
    """Runs the steps on the files of one format and remembers the figures for the ratios and the summary."""

    def __init__(self, args: argparse.Namespace, work: Path, ws: Path, fmt: str):
        self.args, self.work, self.ws, self.fmt = args, work, ws, fmt
        self.pyarrow: dict[int, float] = {}
        self.figures: dict[tuple[str, int], dict[str, Any]] = {}

    def line(self, step: str, rows_in_file: int, res: dict[str, Any], size: str, **extra: Any) -> None:
        rows = res["rows"]
        seconds = res["seconds"]
        pa_seconds = self.pyarrow.get(rows_in_file)
        fields: dict[str, Any] = {
            "format": self.fmt, "impl": step, "size": size, "rows": rows, "seconds": rounded(seconds),
            "rows_per_s": rounded(rows / seconds) if seconds else None,
            "peak_rss_mib": rounded(res["peak_rss_mib"]), "rss_before_mib": rounded(res["rss_before_mib"]),
            "seconds_vs_pyarrow": rounded(seconds / pa_seconds) if pa_seconds else None,
        }
        if "skipped" in res:
            fields["skipped_lines"] = res["skipped"]
        for key in ("calls", "stored", "rejected", "duplicates", "statuses", "items", "columns",
                    "seconds_one_thread", "seconds_warm", "cpu_seconds", "tariff_seconds", "out_bytes", "db_bytes",
                    "dialplan_cache_entries", "dialplan_cache_mib"):
            if key in res:
                fields[key] = res[key]
        emit(**fields, **extra, notes=NOTES.get(step, ""))
        self.figures[(step, rows_in_file)] = {**res, "rows_in_file": rows_in_file}

    def run(self, step: str, path: Path, rows: int, size: str, repeat: int | None = None, tariff: Path | None = None,
            **extra: Any) -> None:
        spec = {"fmt": self.fmt, "path": str(path), "ws": str(self.ws), "step": step,
                "out": str(self.work / ("out.parquet" if step == "batch_parquet" else "out.csv")),
                "db": str(self.work / "bench.db"), "single_thread": True, "tariff": str(tariff) if tariff else None}
        res = run_step(step, spec, repeat or self.args.repeat)  # the import child starts from an empty store
        if step in ("import", "import_rowwise"):
            for p in self.work.glob("bench.db*"):
                p.unlink()
        if res is None:
            return
        if step == "pyarrow":
            self.pyarrow[rows] = res["seconds"]
        self.line(step, rows, res, size, **extra)

    def sqlite(self, path: Path, size: str) -> None:
        """The SQLite ceiling: store.insert_calls alone, in three configurations."""
        spec = {"fmt": self.fmt, "path": str(path), "ws": str(self.ws), "db": str(self.work / "ceiling.db"),
                "insert_rows": self.args.sqlite_rows}
        res = run_step("sqlite_insert", spec, self.args.repeat)
        if res is None:
            return
        for name, seconds in res["variants"].items():
            emit(format=self.fmt, impl="sqlite_insert", variant=name, rows=res["rows"], seconds=rounded(seconds),
                 rows_per_s=rounded(res["rows"] / seconds),
                 notes=f"Store.insert_calls alone (INSERT OR IGNORE, {res['chunk']} rows and one commit per call, "
                       f"as import_file does) of rows built once by call_rows from the first {SQLITE_SAMPLE} records "
                       "and repeated with new ids; store: the store as open_store leaves it (WAL, synchronous=FULL, "
                       "4 indexes + the UNIQUE key); synchronous_normal: PRAGMA synchronous = NORMAL; "
                       "_no_indexes: the 4 secondary indexes dropped (the UNIQUE key stays); in_memory: the store's "
                       "schema in a ':memory:' database (no disk: the CPU cost of the inserts); the run with the best "
                       "store time of --repeat")

    def cli(self, path: Path, rows: int, size: str) -> None:
        """One run of the real command line, to show it works (timed as a whole: interpreter start included)."""
        out = self.work / "cli-out.csv"
        exe = Path(sys.executable).with_name("anatole")
        argv = [str(exe)] if exe.exists() else [sys.executable, "-c", "from anatole.cli import main; main()"]
        argv += ["--workspace", str(self.ws), "batch-rate", str(path), "--tariff", str(self.ws / "us-business.toml"),
                 "--format", self.fmt, "--site", SITE, "--out", str(out), "--json"]
        # a fresh child: its peak RSS is read from /proc by a wrapper (the CLI cannot report it itself)
        wrapper = ("import resource, subprocess, sys, json, time; t = time.perf_counter(); "
                   "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
                   "print(json.dumps({'code': p.returncode, 'out': p.stdout, 'err': p.stderr[-2000:], "
                   "'seconds': time.perf_counter() - t, "
                   "'peak': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))")
        stdout, code = run_child([sys.executable, "-c", wrapper, *argv])
        for p in (out, out.with_name(out.name + ".rejects.csv")):
            p.unlink(missing_ok=True)
        res = json.loads(stdout.strip().splitlines()[-1]) if code == 0 else {"code": code, "out": "", "err": ""}
        if res["code"]:
            emit(format=self.fmt, impl="cli", size=size, error=f"exit {res['code']}: {res['err'][-500:]}")
            return
        summary = json.loads(res["out"])
        emit(format=self.fmt, impl="cli", size=size, rows=summary["read"], seconds=rounded(res["seconds"]),
             rows_per_s=rounded(summary["read"] / res["seconds"]), peak_rss_mib=rounded(res["peak"]),
             calls=summary["calls"], rejected=summary["rejected"],
             command="anatole --workspace WS batch-rate FILE --tariff WS/us-business.toml --format "
                     f"{self.fmt} --site {SITE} --out OUT.csv --json",
             notes="the command line as a user runs it, timed from the outside (interpreter start, imports and "
                   "tariff check included), one run")


def generate(fmt: str, path: Path, rows: int, distinct: float) -> None:
    t0 = time.perf_counter()
    info = MAKERS[fmt](path, rows, distinct, SEED + rows + (0 if fmt == "asterisk" else 1))
    seconds = time.perf_counter() - t0
    emit(format=fmt, impl="data", rows=rows, bytes=path.stat().st_size,
         bytes_per_row=rounded(path.stat().st_size / rows), generate_seconds=rounded(seconds),
         shares={k: rounded(v / rows, 3) for k, v in info.items() if k in ("outgoing", "incoming", "internal",
                                                                             "answered")},
         distinct_dialled=info["distinct_dialled"], distinct_callers=info["distinct_callers"],
         notes="generated with numpy from a fixed seed; outgoing numbers and incoming CLIs are drawn with a "
               "Zipf-like popularity from pools of rows*distinct and rows*distinct/2 numbers")


def bench_format(args: argparse.Namespace, work: Path, ws: Path, fmt: str, rows: int, import_rows: int,
                 has_pyarrow: bool, cli: bool) -> Runner:
    """Every step on the N-row file, the streaming steps also on N/5 rows (for the memory comparison); files are
    made smallest first and deleted as soon as their steps are done, so at most one file is on disk at a time."""
    r = Runner(args, work, ws, fmt)
    small, import_small = max(1, rows // 5), max(1, import_rows // 5)
    plan: dict[int, list[str]] = {}
    for n, steps in ((rows, ["pyarrow", "csv_module", "parser", "batch_csv", "batch_parquet"]),
                     (small, ["pyarrow", "batch_csv"]), (import_rows, ["pyarrow", "import", "import_rowwise"]),
                     (import_small, ["pyarrow", "import"])):
        plan.setdefault(n, [])
        plan[n] += [s for s in steps if s not in plan[n]]
    smallest = min(plan)
    for n in sorted(plan):
        path = work / (f"Master-{n}.csv" if fmt == "asterisk" else f"cdr_anatole_{n}.csv")
        generate(fmt, path, n, args.distinct)
        size = "N" if n == rows else "N/5" if n == small else "import" if n == import_rows else "import/5"
        for step in plan[n]:
            if step in ("pyarrow", "batch_parquet") and not has_pyarrow:
                emit(format=fmt, impl=step, size=size, skipped=True,
                     notes="skipped: pyarrow is not importable (pip install pyarrow)")
                continue
            # the smaller files are there for the memory comparison: one run is enough for them
            repeat = args.repeat if n in (rows, import_rows) or step == "pyarrow" else 1
            r.run(step, path, n, size, repeat=repeat, file_rows=n)
        if n == smallest:
            r.sqlite(path, size)
            if cli:
                r.cli(path, n, size)
        if not args.keep:
            path.unlink()
    return r


def make_big_tariff(ws: Path, prefixes: int, seed: int = SEED) -> Path:
    """The us-business tariff with its deck grown to `prefixes` rows: the sample's rows, then distinct 1+NPA+NXX
    prefixes (7 digits) with their own prices, as a carrier's NANP deck has them."""
    rng = np.random.default_rng(seed)
    sample = (ROOT / "tariffs" / "samples" / "us-business.csv").read_text(encoding="utf-8").splitlines()
    have = {line.split(",", 1)[0] for line in sample[1:]}
    want = max(0, prefixes - len(have))
    codes = rng.permutation(800 * 800)[:want + len(have)]  # NPA 200-999 x NXX 200-999
    lines = sample[:]
    mills = rng.integers(50, 400, len(codes))  # price per minute in 1/10,000 USD
    for code, m in zip(codes.tolist(), mills.tolist()):
        prefix = f"1{200 + code // 800}{200 + code % 800}"
        if prefix in have or len(lines) > prefixes:
            continue
        lines.append(f"{prefix},US {prefix[1:4]}-{prefix[4:]},,0.{m:04d},60,6,0,,,")
    (ws / "us-big.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    toml = (ws / "us-business.toml").read_text(encoding="utf-8").replace('deck = "us-business.csv"',
                                                                          'deck = "us-big.csv"')
    (ws / "us-big.toml").write_text(toml, encoding="utf-8")
    return ws / "us-big.toml"


def bench_distinct(args: argparse.Namespace, work: Path, ws: Path, has_pyarrow: bool) -> None:
    """The outbound call centre: every row its own number, a 100,000-prefix tariff; batch_rate against pyarrow's
    parse-only time of the same file, in the same run."""
    rows = args.distinct_rows
    tariff = make_big_tariff(ws, args.distinct_prefixes)
    path = work / f"Master-distinct-{rows}.csv"
    t0 = time.perf_counter()
    info = make_asterisk(path, rows, 1.0, SEED + 7 * rows, unique=True)
    emit(format="asterisk", impl="data", case="all_distinct", rows=rows, bytes=path.stat().st_size,
         generate_seconds=rounded(time.perf_counter() - t0), distinct_dialled=info["distinct_dialled"],
         distinct_callers=info["distinct_callers"], tariff_prefixes=args.distinct_prefixes,
         notes="every outgoing row dials a number of its own and every incoming row comes from one (random digits: "
               "a few may repeat by chance); tariff: us-business grown to --distinct-prefixes NANP prefixes")
    r = Runner(args, work, ws, "asterisk")
    for step in ("pyarrow", "batch_csv", "batch_parquet"):
        if step in ("pyarrow", "batch_parquet") and not has_pyarrow:
            emit(format="asterisk", impl=step, case="all_distinct", skipped=True,
                 notes="skipped: pyarrow is not importable (pip install pyarrow)")
            continue
        r.run(step, path, rows, "distinct", tariff=tariff, case="all_distinct")
    batch, pa = r.figures.get(("batch_csv", rows)), r.pyarrow.get(rows)
    if batch:
        ratio = batch["seconds"] / pa if pa else None
        one = r.figures.get(("pyarrow", rows), {}).get("seconds_one_thread")
        warm = r.figures.get(("pyarrow", rows), {}).get("seconds_warm")
        pa_cpu = r.figures.get(("pyarrow", rows), {}).get("cpu_seconds")
        emit(impl="summary", case="all_distinct", rows=rows, batch_csv_rows_per_s=rounded(rows / batch["seconds"]),
             pyarrow_rows_per_s=rounded(rows / pa) if pa else None,
             batch_csv_seconds_vs_pyarrow=rounded(ratio) if ratio else None,
             batch_csv_seconds_vs_pyarrow_warm=rounded(batch["seconds"] / warm) if warm else None,
             batch_csv_seconds_vs_pyarrow_one_thread=rounded(batch["seconds"] / one) if one else None,
             batch_csv_tariff_seconds=batch.get("tariff_seconds"),
             batch_csv_cpu_seconds_vs_pyarrow_cpu=rounded(batch["cpu_seconds"] / pa_cpu)
             if pa_cpu and batch.get("cpu_seconds") else None,
             load_average=[round(x, 2) for x in os.getloadavg()],
             targets={"batch_rate<=1.5x_pyarrow": ratio <= 1.5 if ratio else None,
                      "batch_rate<=1.5x_pyarrow_warm": batch["seconds"] <= 1.5 * warm if warm else None},
             notes="both use every core by default; on a shared machine pyarrow's threaded parse suffers more from "
                   "other processes than its one-thread time shows: read the one-thread ratio beside it, and the "
                   "ratio of CPU seconds (all threads of each process: the work done, whatever the load); "
                   "batch_csv_tariff_seconds: loading and compiling the tariff, inside batch-rate's time; "
                   "_warm: against pyarrow's second read in its process (batch-rate's figure is its fresh process's)")
    if not args.keep:
        path.unlink()


def summary(runners: dict[str, Runner], args: argparse.Namespace, rows: dict[str, int],
            import_rows: dict[str, int]) -> None:
    from pipeline.batchrate import CHUNK as batch_chunk
    from pipeline.cdrimport import CHUNK as import_chunk

    targets: dict[str, bool | None] = {}
    figures: dict[str, Any] = {}
    for fmt, r in runners.items():
        n, small = rows[fmt], max(1, rows[fmt] // 5)
        m, m_small = import_rows[fmt], max(1, import_rows[fmt] // 5)
        batch, pa = r.figures.get(("batch_csv", n)), r.pyarrow.get(n)
        imp = r.figures.get(("import", m))
        f: dict[str, Any] = {}
        if batch:
            f["batch_csv_rows_per_s"] = rounded(batch["rows"] / batch["seconds"])
            targets[f"{fmt}_batch_rate_rows_per_s>=1M"] = batch["rows"] / batch["seconds"] >= 1e6
        if batch and pa:
            f["batch_csv_seconds_vs_pyarrow"] = rounded(batch["seconds"] / pa)
            f["pyarrow_rows_per_s"] = rounded(n / pa)
            targets[f"{fmt}_batch_rate<=1.5x_pyarrow"] = batch["seconds"] <= 1.5 * pa
        if imp:
            f["import_rows"] = m
            f["import_calls_per_s"] = rounded(imp["rows"] / imp["seconds"])
            targets[f"{fmt}_import>=500k_calls_per_s"] = imp["rows"] / imp["seconds"] >= 5e5
            rowwise = r.figures.get(("import_rowwise", m))
            if rowwise:  # the baseline of the same run: the reader indexes kept row by row
                f["import_rowwise_calls_per_s"] = rounded(rowwise["rows"] / rowwise["seconds"])
                f["import_speedup_vs_rowwise"] = rounded(rowwise["seconds"] / imp["seconds"])
        for step, big, little, chunk in (("batch_csv", n, small, batch_chunk), ("import", m, m_small, import_chunk)):
            a, b = r.figures.get((step, big)), r.figures.get((step, little))
            if a and b and big != little:
                growth = a["peak_rss_mib"] / b["peak_rss_mib"]
                f[f"{step}_peak_rss_mib"] = {
                    f"{little}_rows": rounded(b["peak_rss_mib"]), f"{big}_rows": rounded(a["peak_rss_mib"]),
                    "ratio": rounded(growth),
                    "dialplan_cache_mib": [b.get("dialplan_cache_mib"), a.get("dialplan_cache_mib")],
                    # with fewer than two chunks in the small file, its peak holds less than the steady state does
                    "comparable": little >= 2 * chunk}
                targets[f"{fmt}_{step}_memory_flat(peak_at_N<=1.1x_peak_at_N/5)"] = growth <= 1.10
        figures[fmt] = f
    limited = {fmt: import_rows[fmt] for fmt in runners if import_rows[fmt] != rows[fmt]}
    reduced = {fmt: rows[fmt] for fmt in runners if rows[fmt] != ISSUE_ROWS[fmt]}
    emit(impl="summary", **figures, targets=targets,
         meets_targets=bool(targets) and all(v for v in targets.values()),
         rows=rows, issue_rows=ISSUE_ROWS, sizes_as_issue=not reduced, import_rows_limited=limited or None,
         notes="batch-rate targets: rows/s of batch_csv on the N-row file, and its time against pyarrow's parse-only "
               "time of the same file; import: calls read per second; memory: the step's peak RSS on the N-row "
               "file against the N/5-row file (comparable: false when N/5 holds fewer than two of the step's "
               f"chunks, batch_rate {batch_chunk} rows, import {import_chunk})" +
               ("; smaller files than the issue's: " + json.dumps(reduced) if reduced else "") +
               ("; import measured on fewer rows than N (--import-rows): " + json.dumps(limited) if limited else ""))


# --- profile --------------------------------------------------------------------------------------------------


def profile(args: argparse.Namespace, work: Path, ws: Path) -> None:
    """cProfile of batch_rate and import_file on an N-row file of each format: the top functions by own time."""
    for fmt in ("asterisk", "cucm"):
        path = work / f"profile-{fmt}.csv"
        generate(fmt, path, args.profile, args.distinct)
        for step in ("batch_csv", "import"):
            spec = {"fmt": fmt, "path": str(path), "ws": str(ws), "out": str(work / "out.csv"),
                    "db": str(work / "bench.db"), "profile": True, "top": args.top}
            for p in work.glob("bench.db*"):
                p.unlink()
            out, code = run_child([sys.executable, str(Path(__file__).resolve()), "--child",
                                         json.dumps({**spec, "step": step})])
            for p in work.glob("bench.db*"):
                p.unlink()
            if code:
                emit(format=fmt, impl=f"profile_{step}", error=f"child exited with {code}")
                continue
            res = json.loads(out.strip().splitlines()[-1])
            emit(format=fmt, impl=f"profile_{step}", rows=res["rows"], seconds_under_profile=rounded(res["seconds"]),
                 **res["profile"],
                 notes="cProfile; top: functions by own time (tottime), share = of all profiled own time; by_file: "
                       "share of own time per source file, built-ins charged to their callers; stages_cumtime: "
                       "cumulative seconds of the main stages; profiling inflates the time of Python code")
        if not args.keep:
            path.unlink()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--asterisk-rows", type=int, help="rows of the Asterisk Master.csv (default 5,000,000; 0: skip)")
    ap.add_argument("--cucm-rows", type=int, help="rows of the CUCM file (default 1,000,000; 0: skip)")
    ap.add_argument("--import-rows", type=int,
                    help="rows of the files imported into SQLite, at most the format's rows (default: all of them; "
                         "the store takes about 0.7 KB of disk per call)")
    ap.add_argument("--sqlite-rows", type=int,
                    help="rows inserted per configuration by the SQLite ceiling test (default 200,000; 50,000 with "
                         "--quick)")
    ap.add_argument("--quick", action="store_true", help="200k Asterisk rows, 50k CUCM rows")
    ap.add_argument("--repeat", type=int, help="runs of each step on the N-row file (and of pyarrow, import and the "
                                               "SQLite test everywhere); the best time is kept (default 1)")
    ap.add_argument("--distinct", type=float, default=0.1,
                    help="distinct dialled numbers per row (pool size; default 0.1; callers get half as many)")
    ap.add_argument("--distinct-rows", type=int,
                    help="rows of the all-distinct-numbers case (default 2,000,000, 500,000 with --quick; 0: skip)")
    ap.add_argument("--distinct-prefixes", type=int, default=100_000,
                    help="prefixes of the all-distinct case's tariff (default 100,000)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files and the workspace")
    ap.add_argument("--workdir", type=Path, help="folder for the files (default: a new temporary folder)")
    ap.add_argument("--profile", type=int, metavar="N",
                    help="instead of the benchmark: cProfile batch_rate and import_file on N-row files")
    ap.add_argument("--top", type=int, default=15, help="functions listed per profile (default 15)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child_main(args.child)
        return
    quick = {"asterisk": 200_000, "cucm": 50_000}
    given = {"asterisk": args.asterisk_rows, "cucm": args.cucm_rows}
    rows = {fmt: given[fmt] if given[fmt] is not None else quick[fmt] if args.quick else ISSUE_ROWS[fmt]
            for fmt in ISSUE_ROWS}
    import_rows = {fmt: min(n, args.import_rows) if args.import_rows else n for fmt, n in rows.items()}
    args.repeat = max(1, args.repeat or 1)
    args.sqlite_rows = args.sqlite_rows or (50_000 if args.quick else 200_000)
    emit(impl="machine", **machine(args))
    try:
        import pyarrow  # noqa: F401
        has_pyarrow = True
    except ImportError:
        has_pyarrow = False
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=args.workdir))
    else:
        work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        ws = make_workspace(work)
        if args.profile:
            profile(args, work, ws)
            return
        args.distinct_rows = (args.distinct_rows if args.distinct_rows is not None
                              else 500_000 if args.quick else 2_000_000)
        if args.distinct_rows > 0:
            bench_distinct(args, work, ws, has_pyarrow)
        runners: dict[str, Runner] = {}
        first = True
        for fmt in ("asterisk", "cucm"):
            if rows[fmt] > 0:
                runners[fmt] = bench_format(args, work, ws, fmt, rows[fmt], import_rows[fmt], has_pyarrow, first)
                first = False
        if runners:
            summary(runners, args, rows, import_rows)
    finally:
        if args.keep:
            emit(impl="kept", folder=str(work))
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
