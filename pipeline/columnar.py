"""The columnar path of `batch-rate` and `import cdr`: scanned blocks (ingest.cdr.blocks) classified, priced and
written as arrays, for the formats that have a block scanner.

The rules are those of `pipeline.cdrimport.classify` and `price_calls`, applied to columns: each distinct dialled,
called and caller string is normalised once per block by the site's dial plan, the per-call choices are numpy
masks, and the engine rates every outgoing external call of the block in one call. The lines the scanner leaves go
through the row path (`call_rows`), so a block's calls are the same as the row parser's; tests compare both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import STATUS_NAMES
from ingest._slices import decode, equal
from ingest.cdr._decide import RADIX, apply_decisions, fact_codes, pick_numbers, statuses
from ingest.cdr._scan import factorize
from ingest.cdr.blocks import DIRECTIONS, DISPOSITIONS, NONE, SLICES, Block
from ingest.cdr.classify import (
    CALLER,
    DIAL,
    DIALLED,
    FORMAT_RULE,
    ORIGIN,
    RULES,
    TARGET,
    Key,
    app_class,
    context_class,
    decide,
    dial_class,
    dial_kind,
    number_kind,
)
from ingest.dialplan import EXTERNAL, INTERNAL, KINDS, DialPlan, Number, Numbers
from ingest.dialplan import RULES as NUMBER_RULES
from pipeline.workspace import Site, Source, Workspace

_KIND = {k: i for i, k in enumerate(KINDS)}  # the compiled dial plan's kind codes
# row statuses: the engine's, then those of calls that are not priced
STATUSES = (*STATUS_NAMES, "incoming", "internal", "transit", "service", "emergency", "no_tariff")
_STATUS = {s: i for i, s in enumerate(STATUSES)}
_CALLED, _CALLER, _DIALLED = SLICES.index("called"), SLICES.index("caller"), SLICES.index("dialled")
OUTGOING, INCOMING, INTERNAL_CALL = (DIRECTIONS.index(d) for d in ("outgoing", "incoming", "internal"))
RULE_NAMES = (*RULES, FORMAT_RULE)  # direction_rule codes
_RULE = {r: i for i, r in enumerate(RULE_NAMES)}
LOW_FACTS = ("app", "context", "dial_tech", "dial_peer")  # few distinct values per block
_CALLER_KINDS, _DIALLED_KINDS, _DIAL_KINDS = ("extension", "external", "empty", "other"), \
    ("extension", "code", "other"), ("", "extension", "other")
_CHOICES = ("", CALLER, DIALLED, ORIGIN, TARGET, DIAL)
SAMPLE = 1024  # rows that tell whether a block's numbers are mostly distinct (mostly_distinct)
_APP_CLASSES, _CONTEXT_CLASSES = ("", "internal", "no-bleg"), ("", "incoming", "internal")
# a row's status before pricing by its direction, else by its number's kind (-1: none, priced) (_decide.statuses)
_BY_DIRECTION = np.array([_STATUS[d] if d in ("incoming", "internal", "transit") else -1 for d in DIRECTIONS], np.int8)
_BY_KIND = np.array([-1 if k == EXTERNAL else _STATUS[k] for k in KINDS], np.int8)
# the slices ingest.cdr._decide.apply_decisions reads and sets, in its order
_DECIDE_COLUMNS = np.array([SLICES.index(name) for name in ("caller", "dialled", "origin", "target", "dial_peer",
                                                             "extension", "trunk", "called", "dial_number")], np.int64)


@dataclass
class Rated:
    """The classified and priced calls of a block's `rows` (arrays aligned with block.rows)."""

    rows: np.ndarray  # int64 line indexes of the block
    direction: np.ndarray  # int8 into DIRECTIONS
    number: np.ndarray  # int32 into `numbers` (the number that matters: dialled for outgoing calls, caller else)
    numbers: Numbers  # kind, e164 and rule arrays (items are ingest.dialplan.Number)
    status: np.ndarray  # int8 into STATUSES
    tariff: np.ndarray  # int32 into `tariffs`, -1 unpriced
    tariffs: list[Path]
    prefix: np.ndarray  # int32 into the tariff's compiled prefixes, -1 none
    destination: np.ndarray  # int32 into the tariff's destinations, -1 none
    band: np.ndarray  # int32 into the tariff's bands, -1 none
    billed: np.ndarray  # int64 billed seconds, NONE unpriced
    cost: np.ndarray  # int64 units of 10**-8, NONE unpriced or no rate
    rule: np.ndarray  # int8 into RULE_NAMES: what decided the direction


def whole(block: Block) -> slice | np.ndarray:
    """How to index a column by block.rows: a slice (a view, no copy) when the scanner took every line, as it
    does for all but odd lines; else the rows."""
    return slice(None) if len(block.rows) == len(block.line) else block.rows


def unique_strings(block: Block, name: str, rows: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The distinct values of a string field over `rows`: (values, index of each row's value), exact (a Cython
    hash table that compares the bytes: ingest.cdr._scan.factorize)."""
    off, ln = block.slice(name)
    if len(rows) == 0:
        return [], np.zeros(0, np.int64)
    ids, first = factorize(block.buf, off, ln, rows)
    return decode(block.buf, off, ln, rows[first]), ids


def mostly_distinct(block: Block, off: np.ndarray, ln: np.ndarray, rows: np.ndarray) -> bool:
    """Whether most of a big block's values differ, judged on its first SAMPLE rows: then normalising every row
    (~150 ns) is cheaper than hashing them all (~110 ns) to normalise the distinct ones (an outbound call centre's
    dialled numbers). Either way the results are the same; a wrong guess costs at most ~40 ns a row."""
    if len(rows) < 4 * SAMPLE:
        return False
    return len(factorize(block.buf, off, ln, rows[:SAMPLE])[1]) > SAMPLE // 2


def unique_numbers(block: Block, name: str, rows: np.ndarray, plan: DialPlan, as_dialled: bool
                   ) -> tuple[np.ndarray, np.ndarray, Numbers]:
    """The distinct values of a number field over `rows` normalised by the compiled dial plan in one call
    (DialPlan.normalise_slices: the same as plan.normalise of each value): (ids of the rows' values, the line
    index of each value's first row, the numbers); a block of mostly distinct values is not deduplicated (each
    row is its own value). No Python string is made but for the few numbers the compiled
    plan leaves to DialPlan.normalise (an outbound call centre's block holds tens of thousands of numbers)."""
    off, ln = block.slice(name)
    if len(rows) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), Numbers.of([])
    if mostly_distinct(block, off, ln, rows):  # hashing would cost more than it saves: every row its own value
        return (np.arange(len(rows), dtype=np.int64), rows,
                plan.normalise_slices(block.buf, off, ln, rows, as_dialled=as_dialled))
    ids, first = factorize(block.buf, off, ln, rows)
    reps = rows[first]
    return ids, reps, plan.normalise_slices(block.buf, off, ln, reps, as_dialled=as_dialled)


def _kind_table(what: str) -> np.ndarray:
    """number_kind of every (kind, rule) code pair, flattened: number_kinds is then one gather a block."""
    kinds = _CALLER_KINDS if what == "caller" else _DIALLED_KINDS
    return np.array([kinds.index(number_kind(what, Number(kind, rule=rule))) for kind in KINDS
                     for rule in NUMBER_RULES], np.int64)


def number_kinds(what: str, numbers: Numbers) -> np.ndarray:
    """ingest.cdr.classify.number_kind of each number, from the arrays, as codes into _CALLER_KINDS ("caller") or
    _DIALLED_KINDS (int64)."""
    return _KIND_TABLES[what][numbers.kind.astype(np.intp) * len(NUMBER_RULES) + numbers.rule]


_KIND_TABLES = {what: _kind_table(what) for what in ("caller", "dialled")}


def decide_facts(site: Site, src: Source, block: Block, c_inv: np.ndarray, caller_kinds: np.ndarray,
                 d_inv: np.ndarray, dialled_kinds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ingest.cdr.classify.decide once per distinct fact tuple of block.rows (Asterisk blocks): (direction, rule,
    service) per row; the extension, trunk and called slices of the rows are set to the fields the decisions
    name (a channel's peer is a sub-slice of the channel). `c_inv`, `d_inv`: ids of the rows' caller and dialled
    values; `caller_kinds`, `dialled_kinds`: codes of each value (number_kinds). Nothing here is per row or per
    distinct number in Python: only per distinct channel, application tuple, Dial number of an extension's length
    and fact tuple."""
    plan = site.dialplan
    rules = src.channel_rules
    rows = block.rows
    take = whole(block)
    # the scanner numbered the distinct origins, targets and (app, context, Dial target) tuples of the block
    assert block.fact_ids is not None and block.fact_first is not None
    low = {name: decode(block.buf, *block.slice(name), block.fact_first[2]) for name in LOW_FACTS}
    # the Dial string's number: "" none, else an extension only if it has an extension's length (checked then)
    n_off, n_len = block.slice("dial_number")
    n_len = n_len[take]
    nk = np.where(n_len > 0, _DIAL_KINDS.index("other"), _DIAL_KINDS.index("")).astype(np.int64)
    maybe = np.flatnonzero(np.isin(n_len, sorted({len(lo) for lo, _ in plan.extensions})))
    if len(maybe):  # once per distinct value (the same few extensions are dialled all day)
        m_inv, m_first = factorize(block.buf, n_off, block.len[:, SLICES.index("dial_number")], rows[maybe])
        values = decode(block.buf, n_off, block.len[:, SLICES.index("dial_number")], rows[maybe][m_first])
        nk[maybe] = np.array([_DIAL_KINDS.index(dial_kind(plan, v)) for v in values], np.int64)[m_inv]

    # each distinct origin and target channel: its class and its peer (worked out once per run)
    cache = rules.channels(plan)
    o_cls, o_start, o_len, _ = cache.of(block.buf, *block.slice("origin"), block.fact_first[0])
    t_cls, t_start, t_len, t_peers = cache.of(block.buf, *block.slice("target"), block.fact_first[1])
    low_keys = [(app_class(a), context_class(c, ""), dial_class(dt, dp, rules))
                for a, c, dt, dp in zip(low["app"], low["context"], low["dial_tech"], low["dial_peer"])]
    low_code = np.array([(_APP_CLASSES.index(a) * 3 + _CONTEXT_CLASSES.index(c)) * 8 + d for a, c, d in low_keys]
                        or [0], np.int64)
    dp_index: dict[str, int] = {}  # the Dial peers, numbered: the target is the Dial peer when the numbers match
    low_dp = np.array([dp_index.setdefault(dp, len(dp_index)) for dp in low["dial_peer"]] or [0], np.int64)
    t_dp = np.array([dp_index.get(p, -1) if p else -2 for p in t_peers] or [-2], np.int64)
    fact = [block.fact_ids[:, k] for k in range(3)]
    inverse, codes = fact_codes(
        block.buf, rows, *fact, c_inv, d_inv, nk, o_cls, t_cls, t_start, t_len, t_dp, low_code, low_dp,
        caller_kinds, dialled_kinds, block.off[:, SLICES.index("target")], *block.slice("dialled"))
    table = []
    for code in codes.tolist():
        o, t, low_at, t_is_dp, ck, dk, t_is_d, dial = _unpack(code)
        app, ctx = _APP_CLASSES[low_at // 8 // 3], _CONTEXT_CLASSES[low_at // 8 % 3]
        table.append(decide(Key(o, t, app, ctx, low_at % 8, bool(t_is_dp), _CALLER_KINDS[ck], _DIALLED_KINDS[dk],
                                bool(t_is_d), _DIAL_KINDS[dial])))

    def of(values: list) -> np.ndarray:
        return np.array(values or [0], np.int8)

    return apply_decisions(
        rows, inverse, of([DIRECTIONS.index(d.direction) for d in table]), of([_RULE[d.rule] for d in table]),
        of([d.status == "service" for d in table]).view(np.uint8), of([_CHOICES.index(d.extension) for d in table]),
        of([_CHOICES.index(d.trunk) for d in table]), of([d.called for d in table]).view(np.uint8), block.off,
        block.len, _DECIDE_COLUMNS, fact[0], fact[1], o_start, o_len, t_start, t_len)


def _unpack(code: int) -> list[int]:
    """The factors of a fact_codes code (RADIX order)."""
    out = []
    for radix in reversed(RADIX[1:]):
        code, rest = divmod(code, radix)
        out.append(rest)
    return [code, *reversed(out)]


def classify(site: Site, src: Source, block: Block) -> tuple[np.ndarray, np.ndarray, Numbers, np.ndarray,
                                                               np.ndarray]:
    """(direction, number index, numbers, rule, service) for block.rows, as cdrimport.call_rows decides per record:
    blocks with facts (Asterisk) through decide_facts, the others from the scanner's direction and the numbers."""
    plan = site.dialplan
    strip = src.strip_outside_prefix
    rows = block.rows
    take = whole(block)
    d_inv, _d_first, dialled_numbers = unique_numbers(block, "dialled", rows, plan, True if strip is None else strip)
    o_inv, o_first, caller_numbers = unique_numbers(block, "caller", rows, plan, False)
    no_caller = block.len[o_first, _CALLER] == 0
    caller_numbers.rule[no_caller] = 0  # Number("invalid"): no caller is no number
    if block.facts and len(rows):
        caller_kinds = number_kinds("caller", caller_numbers)
        caller_kinds[no_caller] = _CALLER_KINDS.index("empty")
        direction, rule, service = decide_facts(
            site, src, block, o_inv, caller_kinds, d_inv, number_kinds("dialled", dialled_numbers))
    else:
        direction = block.direction[take].copy()
        rule = np.where(direction == 0, _RULE["dialplan"], _RULE[FORMAT_RULE]).astype(np.int8)
        # a code or bridge number dialled or calling: a service when internal (cdrimport.decide_record)
        # (a code is one whatever the outside-line prefix: the numbers normalised above tell)
        code = _DIALLED_KINDS.index("code")
        service = (number_kinds("dialled", dialled_numbers) == code)[d_inv] \
            | (number_kinds("dialled", caller_numbers) == code)[o_inv]
    first = direction.copy()
    c_inv, _c_first, called_numbers = unique_numbers(block, "called", rows, plan, bool(strip))
    c_base = len(dialled_numbers)
    o_base = c_base + len(called_numbers)
    numbers = dialled_numbers + called_numbers + caller_numbers
    # the called value is the dialled one, row by row (as the row path compares the strings)
    same = equal(block.buf, block.off[:, _CALLED][take], block.len[:, _CALLED][take], block.off[:, _DIALLED][take],
                 block.len[:, _DIALLED][take])
    number, origin, t_kind, o_kind = pick_numbers(rows, direction, d_inv, c_inv, o_inv, c_base, o_base, numbers.kind,
                                                  block.len[:, _CALLED], same.view(np.uint8), _KIND[EXTERNAL],
                                                  INCOMING)
    unknown = direction == 0
    if unknown.any():  # (never with facts: decide_facts decided every row)
        extension, e_inv = unique_strings(block, "extension", rows)
        ext_inside = np.array([bool(v) and plan.is_extension(v) for v in extension], bool)
        inside = (o_kind == _KIND[INTERNAL]) | (ext_inside[e_inv] if len(extension) else False) \
            | (block.len[:, _CALLER][take] == 0)
        internal = unknown & (t_kind == _KIND[INTERNAL]) & inside
        incoming = unknown & ~internal & (o_kind == _KIND[EXTERNAL]) & ~inside
        direction[internal] = INTERNAL_CALL
        direction[incoming] = INCOMING
        number = np.where(incoming, origin, number)
        direction[unknown & ~internal & ~incoming] = OUTGOING
    direction[(direction == OUTGOING) & (t_kind == _KIND[INTERNAL])] = INTERNAL_CALL
    rule[(direction != first)] = _RULE["dialplan"]
    return direction, number, numbers, rule, service


def rate_block(ws: Workspace, site: Site, src: Source, block: Block, tariff_path: Path | None = None) -> Rated:
    """Classify and price block.rows (cdrimport.price_calls on columns); `tariff_path` overrides the site's."""
    direction, number, numbers, rule, service = classify(site, src, block)
    rows = block.rows
    n = len(rows)
    # incoming, internal, transit; an internal call answered by a PBX application; then by the number's kind
    status = statuses(direction, service.view(np.uint8), number, numbers.kind, _BY_DIRECTION, _BY_KIND,
                      INTERNAL_CALL, _STATUS["service"])
    priced = status < 0  # an external number
    tariff = np.full(n, -1, np.int32)
    tariffs: list[Path] = []
    if tariff_path is not None or not site.trunk_tariffs:
        path = tariff_path or site.tariff
        if path is not None:
            tariffs.append(path)
            tariff[priced] = 0
    else:
        trunks, t_inv = unique_strings(block, "trunk", rows)
        paths = [ws.tariff_for(site, t) for t in trunks]
        for path in dict.fromkeys(p for p in paths if p is not None):
            tariffs.append(path)
        index = np.array([tariffs.index(p) if p is not None else -1 for p in paths] or [-1], np.int32)
        tariff[priced] = index[t_inv[priced]]
    status[priced & (tariff < 0)] = _STATUS["no_tariff"]
    prefix = np.full(n, -1, np.int32)
    destination = np.full(n, -1, np.int32)
    band = np.full(n, -1, np.int32)
    billed = np.full(n, NONE, np.int64)
    cost = np.full(n, NONE, np.int64)
    for t, path in enumerate(tariffs):
        sel = np.flatnonzero(priced & (tariff == t))
        if not len(sel):
            continue
        compiled = ws.tariff(path)
        res = compiled.tables.rate(numbers.e164[number[sel]].astype("S18"), block.start[rows[sel]],
                                   block.billable[rows[sel]].astype(np.int32))
        rate = res["rate"]
        used = np.maximum(rate, 0)
        status[sel] = res["status"]
        prefix[sel] = np.where(rate >= 0, compiled.rate_prefix[used], res["prefix"])
        destination[sel] = np.where(rate >= 0, compiled.rate_dest[used], -1)
        band[sel] = res["band"]
        billed[sel] = res["billed"]
        cost[sel] = np.where(res["status"] != STATUS_NAMES.index("no_rate"), res["cost"], NONE)
    return Rated(rows=rows, direction=direction, number=number, numbers=numbers, status=status, tariff=tariff,
                 tariffs=tariffs, prefix=prefix, destination=destination, band=band, billed=billed, cost=cost,
                 rule=rule)


def store_rows(ws: Workspace, src: Source, site: Site, block: Block, rated: Rated, import_id: int | None,
               now: int) -> list[tuple]:
    """Store rows (store.CALL_COLUMNS order) of the rated rows, as cdrimport.call_rows makes them."""
    rows = rated.rows
    n = len(rows)
    if not n:
        return []

    def text(name: str) -> list[str]:
        off, ln = block.slice(name)
        return decode(block.buf, off, ln, rows)

    def lookup(index: np.ndarray, table: list) -> list:
        return [table[i] if i >= 0 else None for i in index.tolist()]

    def optional(values: np.ndarray) -> list:
        return [None if v == NONE else v for v in values.tolist()]

    numbers = rated.numbers
    tariffs = [ws.tariff(p) for p in rated.tariffs]
    # prefix, destination and band tables differ per tariff: look them up per tariff
    prefix: list = [None] * n
    destination: list = [None] * n
    band: list = [None] * n
    currency: list = [None] * n
    tariff_name: list = [None] * n
    engine = rated.status < len(STATUS_NAMES)
    for t, compiled in enumerate(tariffs):
        sel = np.flatnonzero(engine & (rated.tariff == t)).tolist()
        prefixes, destinations, bands = compiled.prefixes, compiled.tariff.rows.destinations, compiled.tariff.bands
        name, money = rated.tariffs[t].name, compiled.tariff.currency
        pre, dest, bnd = rated.prefix.tolist(), rated.destination.tolist(), rated.band.tolist()
        for i in sel:
            prefix[i] = prefixes[pre[i]] if pre[i] >= 0 else None
            destination[i] = destinations[dest[i]] if dest[i] >= 0 else None
            band[i] = bands[bnd[i]].name if bnd[i] >= 0 else None
            currency[i] = money
            tariff_name[i] = name
    status = [STATUSES[k] for k in rated.status.tolist()]
    columns = [
        [src.name] * n, [site.name] * n, [import_id] * n, block.line[rows].tolist(), text("native_id"), text("leg"),
        block.group_keys(rows), block.start[rows].tolist(), optional(block.answer[rows]), block.duration[rows].tolist(),
        block.billable[rows].tolist(), [DIRECTIONS[k] for k in rated.direction.tolist()],
        [DISPOSITIONS[k] for k in block.disposition[rows].tolist()], text("extension"), text("trunk"),
        text("caller"), text("dialled"), text("called"), text("account"),
        lookup(rated.number, [e.decode() or None for e in numbers.e164.tolist()]),
        lookup(rated.number, [KINDS[k] for k in numbers.kind.tolist()]),
        lookup(rated.number, [NUMBER_RULES[r] for r in numbers.rule.tolist()]), [1] * n, status, tariff_name, prefix,
        destination, band,
        optional(np.where(engine, rated.billed, NONE)), optional(np.where(engine, rated.cost, NONE)), currency,
        [now if e else None for e in engine.tolist()], [None] * n, text("raw"),
        [RULE_NAMES[k] for k in rated.rule.tolist()],
    ]
    return list(zip(*columns))
