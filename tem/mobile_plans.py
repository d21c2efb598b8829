"""Mobile plan catalogues and the bulk evaluation of every line on every plan over N months.

A catalogue is a TOML file per carrier contract, in the style of the tariffs: settings plus the plans, inline as
`[[plan]]` tables or in a CSV file named by `plans` (one row per plan version). Every value is checked and every
problem reported with its file, line and key. A plan:

    code, name, monthly_fee                     the fee per line and month (exact decimal)
    minutes, sms, data_mb                       included per line and month; "unlimited" (or -1) for no limit
    pooled                                      the allowances are shared by the lines of a pool (one account)
    voice_rate, sms_rate, data_rate             overage per minute / message / MB, home and EU ("roam like at home")
    world_voice_rate, world_sms_rate, world_data_rate   roaming outside the EU: never included
    valid_from, valid_to                        effective dates (YYYY-MM-DD; valid_to exclusive, empty: open)

How a month is priced (the model, identical in the numpy kernel and the plain Python reference):
- home and EU usage draws on the allowances (EU roaming is "roam like at home"); MMS count as SMS;
- voice overage is billed per started minute of the month's excess seconds, data overage per started MB
  (10**6 bytes) of the month's excess bytes, messages one by one; world usage is billed the same way, all of it;
- the line-month total (fee + overage + world) is rounded once to the catalogue's `rounding` (decimals and a named
  mode: up, down, half_up, half_even; default 2 decimals half_up);
- a pooled plan prices a pool of n lines as n fees and n times each allowance against the pool's summed usage;
- a month is priced with the plan version in force on its first day, else the nearest version (the earliest before
  the plan existed, the latest after it ended): "what it would have cost" on the plan as it was, or as first sold.

`evaluate` prices rows (lines or pools) x plans x months in numpy int64 in one vectorised pass per block of rows
(blocks bound the memory: 50,000 x 30 x 12 is 18 million cells per intermediate array); `reference_cost` is the
plain Python oracle (tests, benchmark baseline).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.money import DECIMALS, ROUNDING_MODES, SCALE, MoneyError, format_amount, parse_money, round_money
from i18n import _

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

UNLIMITED = -1
BIG = 1 << 60  # an "unlimited" allowance in the kernel: no usage reaches it
MB = 10**6
CATALOGUE_KEYS = {"carrier", "contract", "currency", "rounding", "plans", "plan", "description"}
PLAN_KEYS = ("code", "name", "monthly_fee", "minutes", "sms", "data_mb", "pooled", "voice_rate", "sms_rate",
             "data_rate", "world_voice_rate", "world_sms_rate", "world_data_rate", "valid_from", "valid_to")
RATE_KEYS = ("voice_rate", "sms_rate", "data_rate", "world_voice_rate", "world_sms_rate", "world_data_rate")
ALLOWANCE_KEYS = ("minutes", "sms", "data_mb")
# the usage components, in the order of the usage array's first axis
COMPONENTS = ("voice", "sms", "data", "world_voice", "world_sms", "world_data")


class PlanError(Exception):
    """Catalogue problems: every one named with file, line and key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems[:10]) + (f" (and {len(problems) - 10} more)" if len(problems) > 10
                                                      else ""))


@dataclass(frozen=True)
class Plan:
    carrier: str
    contract: str
    currency: str
    code: str
    name: str
    fee: int  # 10**-8 units per line and month
    minutes: int  # UNLIMITED or minutes
    sms: int
    data_mb: int
    pooled: bool
    rates: tuple[int, ...]  # RATE_KEYS, 10**-8 units per minute / message / MB
    valid_from: str
    valid_to: str | None
    decimals: int = 2
    mode: str = "half_up"
    source: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"carrier": self.carrier, "contract": self.contract, "currency": self.currency, "code": self.code,
                "name": self.name, "monthly_fee": format_amount(self.fee), "minutes": self.minutes, "sms": self.sms,
                "data_mb": self.data_mb, "pooled": self.pooled, "valid_from": self.valid_from,
                "valid_to": self.valid_to, "rounding": {"decimals": self.decimals, "mode": self.mode},
                **{k: format_amount(v) for k, v in zip(RATE_KEYS, self.rates)}}


def load_catalogue(path: Path) -> list[Plan]:
    """Every plan version of one catalogue, or PlanError listing every problem."""
    problems: list[str] = []
    where = str(path)
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise PlanError([_("{where}: cannot be read ({error})").format(where=where, error=exc.strerror)]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PlanError([_("{where}: invalid TOML: {error}").format(where=where, error=exc)]) from None
    for key in sorted(set(doc) - CATALOGUE_KEYS):
        problems.append(f"{where}: {key}: " + _("unknown key (expected one of: {keys})").format(
            keys=", ".join(sorted(CATALOGUE_KEYS))))
    for key in ("carrier", "currency"):
        if not isinstance(doc.get(key), str) or not doc.get(key):
            problems.append(f"{where}: {key}: " + _("required (a non-empty string)"))
    rounding = doc.get("rounding", {})
    decimals, mode = 2, "half_up"
    if not isinstance(rounding, dict) or set(rounding) - {"decimals", "mode"}:
        problems.append(f"{where}: rounding: " + _("must be a table {{ decimals = 2, mode = \"half_up\" }}").format())
    else:
        decimals, mode = rounding.get("decimals", 2), rounding.get("mode", "half_up")
        if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= DECIMALS:
            problems.append(f"{where}: rounding.decimals: " + _("{value} must be 0..{max}").format(
                value=repr(decimals), max=DECIMALS))
            decimals = 2
        if mode not in ROUNDING_MODES:
            problems.append(f"{where}: rounding.mode: " + _("{value} must be one of {choices}").format(
                value=repr(mode), choices=", ".join(ROUNDING_MODES)))
            mode = "half_up"
    rows: list[tuple[str, dict[str, Any]]] = []
    inline = doc.get("plan", [])
    if not isinstance(inline, list):
        problems.append(f"{where}: plan: " + _("must be an array of tables ([[plan]])"))
        inline = []
    for n, raw in enumerate(inline, 1):
        rows.append((f"{where}: [[plan]] #{n}", raw if isinstance(raw, dict) else {}))
    if "plans" in doc:
        deck = Path(path).parent / str(doc["plans"])
        try:
            text = deck.read_text(encoding="utf-8-sig")
        except OSError as exc:
            problems.append(f"{where}: plans: " + _("{path} cannot be read ({error})").format(path=deck,
                                                                                            error=exc.strerror))
            text = ""
        reader = csv.DictReader(io.StringIO(text))
        unknown = set(reader.fieldnames or []) - set(PLAN_KEYS)
        if unknown:
            problems.append(_("{path}: line 1: unknown columns {columns} (expected: {expected})").format(
                path=deck, columns=", ".join(sorted(unknown)), expected=", ".join(PLAN_KEYS)))
        for raw in reader:
            rows.append((_("{path}: line {n}").format(path=deck, n=reader.line_num),
                         {k: v for k, v in raw.items() if v not in (None, "")}))
    if not rows and not problems:
        problems.append(_("{where}: no plan ([[plan]] tables or a plans = \"file.csv\" deck)").format(where=where))
    plans: list[Plan] = []
    for at, raw in rows:
        plan = _plan(raw, at, problems, doc, decimals, mode, where)
        if plan is not None:
            plans.append(plan)
    _check_versions(plans, problems)
    if problems:
        raise PlanError(problems)
    return plans


def _plan(raw: dict[str, Any], at: str, problems: list[str], doc: dict[str, Any], decimals: int, mode: str,
          where: str) -> Plan | None:
    before = len(problems)
    for key in sorted(set(raw) - set(PLAN_KEYS)):
        problems.append(f"{at}: {key}: " + _("unknown key (expected one of: {keys})").format(keys=", ".join(PLAN_KEYS)))
    code = str(raw.get("code", "")).strip()
    if not code:
        problems.append(f"{at}: code: " + _("required"))

    def money(key: str, required: bool) -> int:
        if key not in raw:
            if required:
                problems.append(f"{at}: {key}: " + _("required (an amount, e.g. \"15.00\")"))
            return 0
        try:
            value = parse_money(str(raw[key]))
        except MoneyError as exc:
            problems.append(f"{at}: {key}: {exc}")
            return 0
        if value < 0:
            problems.append(f"{at}: {key}: " + _("{value} must not be negative").format(value=repr(raw[key])))
        return value

    def allowance(key: str) -> int:
        value = raw.get(key, 0)
        if str(value).strip().lower() in ("unlimited", "-1"):
            return UNLIMITED
        try:
            n = int(str(value).strip())
            if n < 0:
                raise ValueError
            return n
        except ValueError:
            problems.append(f"{at}: {key}: " + _("{value} must be a whole number >= 0 or \"unlimited\"").format(
                value=repr(value)))
            return 0

    def day(key: str) -> str | None:
        value = raw.get(key)
        if value in (None, ""):
            return None
        try:
            return (value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))).isoformat()
        except ValueError:
            problems.append(f"{at}: {key}: " + _("{value} is not a date (YYYY-MM-DD)").format(value=repr(value)))
            return None

    fee = money("monthly_fee", True)
    rates = tuple(money(k, False) for k in RATE_KEYS)
    allowances = [allowance(k) for k in ALLOWANCE_KEYS]
    pooled_raw = raw.get("pooled", False)
    pooled = pooled_raw if isinstance(pooled_raw, bool) else str(pooled_raw).strip().lower() in ("true", "yes", "1")
    if not isinstance(pooled_raw, bool) and str(pooled_raw).strip().lower() not in ("true", "yes", "1", "false",
                                                                                      "no", "0", ""):
        problems.append(f"{at}: pooled: " + _("{value} must be true or false").format(value=repr(pooled_raw)))
    valid_from = day("valid_from") or "1970-01-01"
    valid_to = day("valid_to")
    if valid_to is not None and valid_to <= valid_from:
        problems.append(f"{at}: valid_to: " + _("{end} is not after valid_from {start}").format(end=valid_to,
                                                                                               start=valid_from))
    if len(problems) > before:
        return None
    return Plan(carrier=str(doc.get("carrier", "")), contract=str(doc.get("contract", "")),
                currency=str(doc.get("currency", "")), code=code, name=str(raw.get("name", code)), fee=fee,
                minutes=allowances[0], sms=allowances[1], data_mb=allowances[2], pooled=pooled, rates=rates,
                valid_from=valid_from, valid_to=valid_to, decimals=decimals, mode=mode, source=where)


def _check_versions(plans: list[Plan], problems: list[str]) -> None:
    by_code: dict[str, list[Plan]] = {}
    for p in plans:
        by_code.setdefault(p.code, []).append(p)
    for code, versions in by_code.items():
        versions.sort(key=lambda p: p.valid_from)
        for a, b in zip(versions, versions[1:]):
            if a.valid_to is None or a.valid_to > b.valid_from:
                problems.append(_("{source}: plan {code}: version from {first} overlaps the version from {second} "
                                  "(give the earlier one a valid_to)").format(source=a.source, code=code,
                                                                              first=a.valid_from, second=b.valid_from))
            if a.pooled != b.pooled:
                problems.append(_("{source}: plan {code}: pooled changes between versions (make it a new "
                                  "plan)").format(source=a.source, code=code))


def load_catalogues(paths: list[Path]) -> list[Plan]:
    """The plans of every catalogue; a code used by two catalogues of one carrier is an error."""
    plans: list[Plan] = []
    problems: list[str] = []
    for path in paths:
        try:
            plans += load_catalogue(path)
        except PlanError as exc:
            problems += exc.problems
    seen: dict[tuple[str, str], str] = {}
    for p in plans:
        other = seen.setdefault((p.carrier, p.code), p.source)
        if other != p.source:
            problems.append(_("{source}: plan {code} of {carrier} is also in {other}").format(
                source=p.source, code=p.code, carrier=p.carrier, other=other))
    if problems:
        raise PlanError(problems)
    return plans


@dataclass
class PlanSet:
    """The distinct plans (by carrier and code) with their parameters per month: arrays of shape (P, M)."""

    keys: list[tuple[str, str]]  # (carrier, code)
    plans: list[Plan]  # one version per key (the latest), for names and flags
    fee: np.ndarray
    allowance: np.ndarray  # (3, P, M): seconds, messages, bytes; BIG when unlimited
    rates: np.ndarray  # (6, P, M)
    quantum: np.ndarray  # (P,) 10**(8 - decimals)
    modes: list[str]  # (P,)


def plan_set(plans: list[Plan], months: list[str]) -> PlanSet:
    """Each plan's version in force on the first day of each month (else the nearest), as arrays."""
    by_key: dict[tuple[str, str], list[Plan]] = {}
    for p in plans:
        by_key.setdefault((p.carrier, p.code), []).append(p)
    keys = sorted(by_key)
    n_p, n_m = len(keys), len(months)
    fee = np.zeros((n_p, n_m), np.int64)
    allowance = np.zeros((3, n_p, n_m), np.int64)
    rates = np.zeros((6, n_p, n_m), np.int64)
    latest: list[Plan] = []
    for i, key in enumerate(keys):
        versions = sorted(by_key[key], key=lambda p: p.valid_from)
        latest.append(versions[-1])
        for j, month in enumerate(months):
            v = version_at(versions, f"{month}-01")
            fee[i, j] = v.fee
            allowance[:, i, j] = [_allow(v.minutes, 60), _allow(v.sms, 1), _allow(v.data_mb, MB)]
            rates[:, i, j] = v.rates
    quantum = np.array([10 ** (DECIMALS - p.decimals) for p in latest], np.int64)
    return PlanSet(keys, latest, fee, allowance, rates, quantum, [p.mode for p in latest])


def version_at(versions: list[Plan], day: str) -> Plan:
    """The version in force on `day` (versions sorted by valid_from), else the nearest one."""
    for v in versions:
        if v.valid_from <= day and (v.valid_to is None or day < v.valid_to):
            return v
    return versions[0] if day < versions[0].valid_from else versions[-1]


def _allow(value: int, unit: int) -> int:
    return BIG if value == UNLIMITED else value * unit


def evaluate(usage: np.ndarray, counts: np.ndarray, ps: PlanSet, *, block: int = 256) -> np.ndarray:
    """Cost of each row on each plan in each month: int64 (R, P, M) in 10**-8 units.

    usage: int64 (6, R, M) in COMPONENTS order (seconds, messages, bytes; home+EU then world); counts: (R,) the
    lines each row stands for (1 for a line, n for a pool of n lines on a pooled plan). Rows are priced in blocks
    (small enough for the temporaries to stay in the CPU caches), with in-place operations."""
    n_r = usage.shape[1]
    n_p, n_m = ps.fee.shape
    out = np.empty((n_r, n_p, n_m), np.int64)
    # a plan whose fee and rates are all multiples of its rounding quantum gives totals that are too: its rounding
    # is the identity and is skipped (exactly the same result, far less work for the usual cent-priced plans)
    needs = [i for i in range(n_p) if (ps.fee[i] % ps.quantum[i]).any() or (ps.rates[:, i] % ps.quantum[i]).any()]
    groups = {mode: np.array([i for i in needs if ps.modes[i] == mode]) for mode in sorted({ps.modes[i]
                                                                                            for i in needs})}
    ceil_units = (60, 1, MB)
    for lo in range(0, n_r, block):
        hi = min(n_r, lo + block)
        u = usage[:, lo:hi, None, :]  # (6, b, 1, M)
        n = counts[lo:hi, None, None].astype(np.int64)  # (b, 1, 1)
        single = bool((n == 1).all())
        cost = out[lo:hi]
        np.multiply(ps.fee[None], n, out=cost)
        for c in range(3):
            allow = ps.allowance[c][None] if single else np.where(ps.allowance[c][None] == BIG, BIG,
                                                                  ps.allowance[c][None] * n)  # n allowances
            over = u[c] - allow  # (b, P, M)
            np.maximum(over, 0, out=over)
            if ceil_units[c] > 1:  # started minutes / MB of the month's excess
                over += ceil_units[c] - 1
                over //= ceil_units[c]
            over *= ps.rates[c][None]
            cost += over
            world = u[3 + c]  # (b, 1, M): never included
            if ceil_units[c] > 1:
                world = (world + (ceil_units[c] - 1)) // ceil_units[c]
            cost += world * ps.rates[3 + c][None]
        for mode, cols in groups.items():  # the named rounding of each plan's catalogue, per line-month
            cost[:, cols, :] = round_array(cost[:, cols, :], ps.quantum[cols][None, :, None], mode)
    return out


def round_array(v: np.ndarray, q: np.ndarray, mode: str) -> np.ndarray:
    """engine.money.divide_round(v, q, mode) * q, element-wise, for v >= 0."""
    quot, rem = np.divmod(v, q)
    if mode == "down":
        up = np.zeros_like(rem, dtype=bool)
    elif mode == "up":
        up = rem > 0
    elif mode == "half_up":
        up = 2 * rem >= q
    elif mode == "half_even":
        up = (2 * rem > q) | ((2 * rem == q) & (quot % 2 == 1))
    else:
        raise ValueError(f"unknown rounding mode {mode!r}")
    return (quot + up) * q


def reference_cost(usage: tuple[int, ...], plan: Plan, n: int = 1) -> int:
    """The plain Python price of one month of usage (COMPONENTS order) on one plan version, for n lines."""
    voice, sms, data, w_voice, w_sms, w_data = usage
    allow = [_allow(plan.minutes, 60), _allow(plan.sms, 1), _allow(plan.data_mb, MB)]
    r = plan.rates
    cost = plan.fee * n
    cost += -(-max(0, voice - allow[0] * n) // 60) * r[0]
    cost += max(0, sms - allow[1] * n) * r[1]
    cost += -(-max(0, data - allow[2] * n) // MB) * r[2]
    cost += -(-w_voice // 60) * r[3] + w_sms * r[4] + -(-w_data // MB) * r[5]
    return round_money(cost, plan.decimals, plan.mode)


__all__ = ["COMPONENTS", "SCALE", "Plan", "PlanError", "PlanSet", "evaluate", "load_catalogue", "load_catalogues",
           "plan_set", "reference_cost", "round_array", "version_at"]
