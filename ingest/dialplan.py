"""A site's dial plan: turn digits as a PBX wrote them into E.164, or say what else they are.

Order (CONFIG.md): strip the outside-line prefix where the digits are as dialled; a leading `+` or the international
prefix gives E.164 directly; a leading national prefix is replaced by the country code; otherwise the number is
local and gets the country code and area code. Extensions are internal; `*`/`#` codes, dial-by-name and dialplan
placeholders (`s`, `h`) are service codes; emergency numbers are recognised with phonenumbers. Results are cached
per distinct string: a PBX dials the same numbers all day.

An E.164 result must be a possible number (phonenumbers' possible lengths of its country, full national number: a
local-only length is too short once the area code is in). Otherwise the digits are tried as the site's short
numbers (directory enquiries, operator, carrier services: `service`), and else they are `invalid` ("too short",
"too long", ...), never priced: a user who hung up after `901`, or a 6-digit French number, is not a call to price.
Digits as dialled that start with the outside-line prefix are read without it, and never with it: reading `9608966`
whole when `608966` is impossible would make up a number nobody dialled.

Blocks of numbers (the columnar import, batch-rate) go through the compiled plan instead (normalise_slices,
normalise_all: ingest/_dialplan.pyx), tables built once per site by compile_plan: the same rules in one loop
without the GIL, about 100 ns a number against 15-20 µs here; a row the tables cannot decide is normalised here,
so the results are always this module's (tests/test_dialplan_compiled.py compares both).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

import numpy as np
import phonenumbers
from phonenumbers import shortnumberinfo

from i18n import _

EXTERNAL, INTERNAL, SERVICE, EMERGENCY, INVALID = "external", "internal", "service", "emergency", "invalid"
UNKNOWN_CC = "unknown country code"
KINDS = (EXTERNAL, INTERNAL, SERVICE, EMERGENCY, INVALID)  # kind codes of the compiled plan (ingest._dialplan)
RULES = ("", "empty", "+", "code", "emergency", "extension", "international", "national", "local", "short number",
         "too short", "too long", "invalid length", "no country code", UNKNOWN_CC)  # its rule codes
_NOISE = re.compile(r"[\s().\-/]")
CACHE_LIMIT = 100_000


@dataclass(frozen=True)
class Number:
    kind: str  # external | internal | service | emergency | invalid
    e164: str | None = None  # digits without '+', for external numbers
    rule: str = ""  # which rule produced it: "+", "international", "national", "local", "extension", ...


@dataclass
class DialPlan:
    country: str  # ISO 3166 alpha-2
    outside_prefix: str = ""
    national_prefix: str = ""
    international_prefix: str = "00"
    area_code: str = ""
    extensions: list[tuple[str, str]] = field(default_factory=list)  # inclusive ranges of equal-length digits
    _cache: dict[tuple[str, bool], Number] = field(default_factory=dict, repr=False)
    _own: dict[str, str] = field(default_factory=dict, repr=False)

    @functools.cached_property
    def country_code(self) -> str:
        return str(phonenumbers.country_code_for_region(self.country))

    def is_extension(self, digits: str) -> bool:
        return any(len(digits) == len(lo) and lo <= digits <= hi for lo, hi in self.extensions)

    def own_extension(self, number: str) -> str:
        """A phone's own number as the site's extension: a `+`-globalised or full national DN (`+14085551234`,
        CUCM's globalised dial plans) whose last digits are in the site's extension ranges becomes that extension
        (`1234` with ranges "1000-1999"); anything else is returned as it is. Only numbers of the site's own
        country (any area code: DIDs of one site may span several): a foreign number stays a number."""
        if not number or self.is_extension(number) or not self.extensions:
            return number
        got = self._own.get(number)
        if got is None:
            got = number
            n = self.normalise(number, as_dialled=False)
            if n.kind == EXTERNAL and n.e164.startswith(self.country_code):
                for width in sorted({len(lo) for lo, _hi in self.extensions}, reverse=True):
                    if len(n.e164) > width and self.is_extension(n.e164[-width:]):
                        got = n.e164[-width:]
                        break
            if len(self._own) >= CACHE_LIMIT:
                self._own.clear()
            self._own[number] = got
        return got

    @functools.cached_property
    def compiled(self) -> CompiledPlan | None:
        """The plan as tables for ingest._dialplan, built on first use (None: settings it cannot take, e.g.
        prefixes that are not digits; normalise_all then uses normalise). Change no setting after the first use."""
        return compile_plan(self)

    def normalise_all(self, values: Sequence[str], *, as_dialled: bool = True) -> Numbers:
        """normalise() of each value, in one compiled pass (same results, see ingest._dialplan)."""
        encoded = [v.encode("utf-8", "surrogatepass") for v in values]
        lengths = np.fromiter(map(len, encoded), np.int32, len(encoded))
        offsets = np.zeros(len(encoded), np.int64)
        np.cumsum(lengths[:-1], out=offsets[1:])
        buf = np.frombuffer(b"".join(encoded), np.uint8)
        return self.normalise_slices(buf, offsets, lengths, np.arange(len(encoded), dtype=np.int64),
                                     as_dialled=as_dialled, values=values)

    def normalise_slices(self, buf: bytes | np.ndarray, offsets: np.ndarray, lengths: np.ndarray, rows: np.ndarray, *,
                         as_dialled: bool = True, values: Sequence[str] | None = None) -> Numbers:
        """normalise() of the strings buf[offsets[r]:offsets[r] + lengths[r]] for r in rows, in one nogil loop;
        the rows the tables cannot decide go through normalise() (`values`: the rows' strings, else decoded)."""
        from ingest._dialplan import normalise_slices

        plan = self.compiled
        rows = np.ascontiguousarray(rows, np.int64)
        if plan is None:
            strings = values if values is not None else _decode(buf, offsets, lengths, rows)
            return Numbers.of([self.normalise(v, as_dialled=as_dialled) for v in strings])
        data = _bytes(buf)
        wanted = np.zeros(len(plan.cc_npp), np.uint8)
        kind, rule, e164, undecided = normalise_slices(plan.tables, data, offsets, lengths, rows, as_dialled, wanted)
        if wanted.any() and plan.add_countries(wanted):  # numbers of a country met for the first time: again
            again = np.flatnonzero(undecided)
            wanted[:] = 0
            k, r, e, u = normalise_slices(plan.tables, data, offsets, lengths, rows[again], as_dialled, wanted)
            kind[again], rule[again], e164[again], undecided[again] = k, r, e, u
        left = np.flatnonzero(undecided)
        if len(left):
            strings = [values[i] for i in left.tolist()] if values is not None \
                else _decode(buf, offsets, lengths, rows[left])
            done = Numbers.of([self.normalise(v, as_dialled=as_dialled) for v in strings])
            kind[left], rule[left] = done.kind, done.rule
            if done.e164.dtype.itemsize > e164.dtype.itemsize:
                e164 = e164.astype(done.e164.dtype)
            e164[left] = done.e164
        return Numbers(kind, rule, e164)

    def normalise(self, raw: str, *, as_dialled: bool = True) -> Number:
        """Classify digits. `as_dialled`: the digits may start with the outside-line prefix (a user's dialling);
        False for numbers as sent to or received from the network (outpulsed, CLI)."""
        key = (raw, as_dialled)
        got = self._cache.get(key)
        if got is None:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()  # bounded memory however large the file: a month's numbers fit many times
            got = self._cache[key] = self._normalise(raw, as_dialled)
        return got

    def _normalise(self, raw: str, as_dialled: bool) -> Number:
        text = _NOISE.sub("", raw or "")
        if text.endswith("#") and text[:-1].lstrip("+").isdigit():
            text = text[:-1]  # a '#' terminator is not part of the number
        if not text:
            return Number(INVALID, rule="empty")
        if text.startswith("+"):
            rest = text[1:]
            if not (rest.isdigit() and rest.isascii()):
                return Number(SERVICE if not rest.isdigit() else INVALID, rule="+")
            why = _impossible(rest)
            return Number(EXTERNAL, rest, "+") if why in ("", UNKNOWN_CC) else Number(INVALID, rule=why)
        if not (text.isdigit() and text.isascii()):
            return Number(SERVICE, rule="code")  # *88, #31#, dial by name, 's', 'h', 'i', ...
        if self._is_emergency(text):  # before the extension ranges: 112 or 999 inside "100-999" is still 999
            return Number(EMERGENCY, rule="emergency")
        if self.is_extension(text):
            return Number(INTERNAL, rule="extension")
        if as_dialled and self.outside_prefix and text.startswith(self.outside_prefix) \
                and len(text) > len(self.outside_prefix):
            stripped = text[len(self.outside_prefix):]
            if self._is_emergency(stripped):
                return Number(EMERGENCY, rule="emergency")
            return self._checked(stripped)
        return self._checked(text)

    def _is_emergency(self, digits: str) -> bool:
        return len(digits) <= 6 and shortnumberinfo.is_emergency_number(digits, self.country)

    def _checked(self, digits: str) -> Number:
        """Digits as sent to the network: a possible E.164 number, else a short number of the site's country
        (service), else invalid with the reason."""
        got = self._external(digits)
        if got.kind != EXTERNAL or self.country_code == "0":  # no numbering plan (batch-rate without a site)
            return got
        why = _impossible(got.e164)
        if not why or why == UNKNOWN_CC:  # a code phonenumbers does not know (retired +871...): the tariff decides
            return got
        if len(digits) <= 8 and _short_number(digits, self.country):
            return Number(SERVICE, rule="short number")
        return Number(INVALID, rule=why)

    def _external(self, digits: str) -> Number:
        cc = self.country_code
        if self.international_prefix and digits.startswith(self.international_prefix):
            rest = digits[len(self.international_prefix):]
            return Number(EXTERNAL, rest, "international") if len(rest) >= 3 else Number(INVALID, rule="too short")
        if self.national_prefix and digits.startswith(self.national_prefix):
            return Number(EXTERNAL, cc + digits[len(self.national_prefix):], "national")
        local = cc + self.area_code + digits
        if self.area_code and not _possible(local) and _possible(cc + digits):
            return Number(EXTERNAL, cc + digits, "national")  # dialled with its area code, without a prefix
        return Number(EXTERNAL, local, "local")


@functools.lru_cache(maxsize=4096)
def _short_number(digits: str, country: str) -> bool:
    """A valid short number of the country (118 218, 3631, 100...): a service, not a call to an E.164 number."""
    try:
        return shortnumberinfo.is_valid_short_number_for_region(phonenumbers.parse(digits, country), country)
    except phonenumbers.NumberParseException:
        return False


def _possible(e164: str) -> bool:
    """+e164 is a possible full number (see _impossible)."""
    return not _impossible(e164)


def _impossible(e164: str) -> str:
    """"" when +e164 is a possible full number, else why not ("too short", "too long", "invalid length", "unknown
    country code"); phonenumbers' answer, memoised by (country code, national length) where that alone decides it:
    parsing strips a national prefix only where the region's national-prefix-for-parsing pattern matches at the
    start of the national number; otherwise the answer depends on the length only. The other numbers are parsed
    each time (a PBX dials hundreds of thousands of distinct numbers a month)."""
    if e164[:1] in ("", "0"):
        return "no country code"  # none starts with 0: an international prefix dialled twice, or a bad number
    head = e164[:3]
    split = _HEADS.get(head)
    if split is None:
        split = _HEADS[head] = _country_code(head)
    cc, prefix = split
    if not cc:
        return _parse_impossible(e164)
    national = e164[len(cc):]
    if prefix is not None and prefix.match(national):
        return _parse_impossible(e164)
    key = (cc, len(national))
    got = _BY_LENGTH.get(key)
    if got is None:
        got = _BY_LENGTH[key] = _parse_impossible(e164)
    return got


_BY_LENGTH: dict[tuple[str, int], str] = {}
_HEADS: dict[str, tuple[str, re.Pattern[str] | None]] = {}  # first 3 digits -> (country code, its NP pattern)


def _country_code(head: str) -> tuple[str, re.Pattern[str] | None]:
    """The country code a number starting with `head` has ("" when none is known), and its region's
    national-prefix-for-parsing pattern."""
    for i in range(1, len(head) + 1):
        cc = int(head[:i])
        if cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return head[:i], _national_prefix_for_parsing(cc)
    return "", None
_REASONS = {
    phonenumbers.ValidationResult.IS_POSSIBLE: "",
    # possible only when dialled inside its area: as a full E.164 number it lacks digits
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "too short",
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "invalid length",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: UNKNOWN_CC,
}


@functools.cache
def _national_prefix_for_parsing(cc: int) -> re.Pattern[str] | None:
    region = phonenumbers.region_code_for_country_code(cc)
    meta = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
    pattern = meta.national_prefix_for_parsing if meta is not None else None
    return re.compile(pattern) if pattern else None


def _parse_possible(e164: str) -> bool:
    return not _parse_impossible(e164)


def _parse_impossible(e164: str) -> str:
    """_impossible without the memo: phonenumbers parses +e164 (the oracle of the tests)."""
    if e164[:1] in ("", "0"):
        return "no country code"
    try:
        number = phonenumbers.parse("+" + e164)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            return UNKNOWN_CC
        return "too long" if exc.error_type == phonenumbers.NumberParseException.TOO_LONG else "too short"
    return _REASONS.get(phonenumbers.is_possible_number_with_reason(number), "invalid length")


def parse_ranges(specs: list[str]) -> list[tuple[str, str]]:
    """"1000-1999" or "2001" -> inclusive ranges of equal-length digit strings; ValueError names the bad one."""
    out = []
    for spec in specs:
        lo, _dash, hi = str(spec).partition("-")
        lo, hi = lo.strip(), (hi or lo).strip()
        if not (lo.isdigit() and hi.isdigit() and lo.isascii() and hi.isascii()) or len(lo) != len(hi) or lo > hi:
            raise ValueError(_("{value} is not an extension range like '1000-1999' (same number of digits)").format(
                value=repr(spec)))
        out.append((lo, hi))
    return out


class Numbers(Sequence[Number]):
    """Normalised numbers as arrays (what the compiled plan gives): kind (int8 into KINDS), rule (int16 into RULES),
    e164 (bytes, b"" unless external). Items are Number objects, made only when asked for."""

    __slots__ = ("kind", "rule", "e164")

    def __init__(self, kind: np.ndarray, rule: np.ndarray, e164: np.ndarray) -> None:
        self.kind, self.rule, self.e164 = kind, rule, e164

    @classmethod
    def of(cls, numbers: Sequence[Number]) -> Numbers:
        rules = _RULE_CODES
        return cls(np.array([_KIND_CODES[n.kind] for n in numbers], np.int8).reshape(-1),
                   np.array([rules[n.rule] for n in numbers], np.int16).reshape(-1),
                   np.array([(n.e164 or "").encode() for n in numbers] or [b""], "S")[:len(numbers)])

    def __len__(self) -> int:
        return len(self.kind)

    @overload
    def __getitem__(self, i: int) -> Number: ...
    @overload
    def __getitem__(self, i: slice) -> Numbers: ...
    def __getitem__(self, i: int | slice) -> Number | Numbers:
        if isinstance(i, slice):
            return Numbers(self.kind[i], self.rule[i], self.e164[i])
        k = int(self.kind[i])
        return Number(KINDS[k], self.e164[i].decode() if k == 0 else None, RULES[self.rule[i]])

    def __iter__(self) -> Iterator[Number]:
        for k, e, r in zip(self.kind.tolist(), self.e164.tolist(), self.rule.tolist()):
            yield Number(KINDS[k], e.decode() if k == 0 else None, RULES[r])

    def __add__(self, other: Numbers) -> Numbers:
        return Numbers(np.concatenate([self.kind, other.kind]), np.concatenate([self.rule, other.rule]),
                       np.concatenate([self.e164, other.e164]))


_KIND_CODES = {k: i for i, k in enumerate(KINDS)}
_RULE_CODES = {r: i for i, r in enumerate(RULES)}


def _bytes(buf: bytes | np.ndarray) -> bytes | np.ndarray:
    """A block's buffer as the compiled plan takes it (bytes as they are, arrays as contiguous uint8)."""
    return buf if isinstance(buf, (bytes, bytearray, memoryview)) else np.ascontiguousarray(buf, np.uint8)


def _decode(buf: bytes | np.ndarray, offsets: np.ndarray, lengths: np.ndarray, rows: np.ndarray) -> list[str]:
    data = np.frombuffer(_bytes(buf), np.uint8)
    return [bytes(data[offsets[r]:offsets[r] + lengths[r]]).decode("utf-8", "surrogateescape")
            for r in rows.tolist()]


# ---- the compiled plan's tables -------------------------------------------------------------------------------------

MAX_NATIONAL = 24  # national lengths the possible-length table covers (longer: the Python plan decides)
NO_PATTERN, UNSUPPORTED, NOT_READY = -1, -2, -3  # DFA start states that are not states


class CompiledPlan:
    """A site's dial plan as flat tables (ingest._dialplan.Tables), built once per site by compile_plan. A
    country code's rows (its possible lengths, its national-prefix pattern) are added the first time a number of
    it is met (loading phonenumbers' metadata of every country up front costs half a second): `tables` is then
    replaced, never changed, so a thread still reading the old one is safe. Pickles as its arrays (a Dask worker
    gets the tables built so far)."""

    def __init__(self, automata: _Automata, site: dict, cc_npp: np.ndarray, reason: np.ndarray) -> None:
        self.automata, self.site, self.cc_npp, self.reason = automata, site, cc_npp, reason
        self._lock = threading.Lock()
        self._build()

    def _build(self) -> None:
        from ingest._dialplan import Tables

        dfa, accept = self.automata.arrays()
        self.states = len(accept)  # DFA states of the patterns it holds
        self.tables = Tables(**self.site, dfa=dfa, accept=accept, cc_npp=self.cc_npp, reason=self.reason)

    def add_countries(self, wanted: np.ndarray) -> bool:
        """Add the country codes whose index is set in `wanted` (uint8 per code): True when any was added."""
        with self._lock:
            index, codes = _country_codes()
            todo = [i for i in np.flatnonzero(wanted).tolist() if self.cc_npp[i] == NOT_READY]
            if not todo:
                return False
            cc_npp, reason = self.cc_npp.copy(), self.reason.copy()
            for i in todo:
                pattern, reason[i] = _country_row(codes[i])
                cc_npp[i] = self.automata.add(pattern)
            self.cc_npp, self.reason = cc_npp, reason
            self._build()
            return True

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("tables", "_lock")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._build()


class _Unsupported(Exception):
    """A pattern construct the DFA compiler does not take: the rows that need it go to the Python plan."""


@functools.cache
def _dfa(pattern: str) -> tuple[np.ndarray, np.ndarray]:
    """The pattern as a DFA over the ten digits and an end-of-input symbol (column 10, for `$`): (next state
    [n, 11], -1 dead; accepting [n]); state 0 starts. Only what phonenumbers' metadata uses: literals, classes,
    groups, alternation, repeats and `$`."""
    try:
        from re import _constants as c
        from re import _parser as sre
    except ImportError:  # Python < 3.11
        import sre_constants as c  # type: ignore[no-redef]
        import sre_parse as sre  # type: ignore[no-redef]
    eps: list[list[int]] = [[]]
    moves: list[list[tuple[int, int]]] = [[]]

    def new() -> int:
        eps.append([])
        moves.append([])
        return len(eps) - 1

    def step(s: int, mask: int) -> int:
        t = new()
        moves[s].append((mask, t))
        return t

    def digit(ch: int) -> int:
        return 1 << (ch - 48) if 48 <= ch <= 57 else 0

    def charset(items: list) -> int:
        mask, negate = 0, False
        for op, av in items:
            if op is c.NEGATE:
                negate = True
            elif op is c.LITERAL:
                mask |= digit(av)
            elif op is c.RANGE:
                mask |= sum(1 << d for d in range(10) if av[0] <= 48 + d <= av[1])
            elif op is c.CATEGORY and av in (c.CATEGORY_DIGIT, c.CATEGORY_WORD, c.CATEGORY_NOT_SPACE):
                mask |= 1023
            elif op is c.CATEGORY and av in (c.CATEGORY_NOT_DIGIT, c.CATEGORY_NOT_WORD, c.CATEGORY_SPACE):
                pass
            else:
                raise _Unsupported(op)
        return 1023 & ~mask if negate else mask

    def seq(items: list, s: int) -> int:
        for op, av in items:
            s = node(op, av, s)
        return s

    def node(op: object, av: object, s: int) -> int:
        if op is c.LITERAL:
            return step(s, digit(av))
        if op is c.NOT_LITERAL:
            return step(s, 1023 & ~digit(av))
        if op is c.ANY:
            return step(s, 1023)
        if op is c.IN:
            return step(s, charset(av))
        if op is c.SUBPATTERN:
            return seq(av[-1], s)
        if op is c.AT and av in (c.AT_END, c.AT_END_STRING):
            return step(s, 1 << 10)
        if op is c.BRANCH:
            end = new()
            for branch in av[1]:
                start = new()
                eps[s].append(start)
                eps[seq(branch, start)].append(end)
            return end
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):
            lo, hi, sub = av
            if lo > 32 or (hi != c.MAXREPEAT and hi > 32):
                raise _Unsupported("repeat")
            for _i in range(lo):
                start = new()
                eps[s].append(start)
                s = seq(sub, start)
            if hi == c.MAXREPEAT:
                loop = new()
                eps[s].append(loop)
                eps[seq(sub, loop)].append(loop)
                return loop
            ends = [s]
            for _i in range(hi - lo):
                start = new()
                eps[s].append(start)
                s = seq(sub, start)
                ends.append(s)
            end = new()
            for e in ends:
                eps[e].append(end)
            return end
        raise _Unsupported(op)

    final = seq(sre.parse(pattern), 0)

    def closure(states: set[int]) -> frozenset[int]:
        todo, seen = list(states), set(states)
        while todo:
            for t in eps[todo.pop()]:
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        return frozenset(seen)

    start = closure({0})
    index, order, table, accept = {start: 0}, [start], [], []
    while len(table) < len(order):
        here = order[len(table)]
        row = []
        for d in range(11):
            nxt = {t for s in here for mask, t in moves[s] if mask >> d & 1}
            if not nxt:
                row.append(-1)
                continue
            key = closure(nxt)
            if key not in index:
                if len(order) >= 20_000:
                    raise _Unsupported("too many states")
                index[key] = len(order)
                order.append(key)
            row.append(index[key])
        table.append(row)
        accept.append(final in here)
    return np.array(table, np.int32).reshape(-1, 11), np.array(accept, np.uint8)


class _Automata:
    """DFAs of several patterns in one table (the compiled plan's)."""

    def __init__(self) -> None:
        self.tables: list[np.ndarray] = [np.full((1, 11), -1, np.int32)]  # state 0: dead, for empty tables
        self.accepts: list[np.ndarray] = [np.zeros(1, np.uint8)]
        self.size = 1
        self.starts: dict[str, int] = {}

    def add(self, pattern: str | None) -> int:
        """The start state of the pattern (NO_PATTERN for none, UNSUPPORTED when it cannot be compiled)."""
        if pattern is None:
            return NO_PATTERN
        got = self.starts.get(pattern)
        if got is None:
            try:
                table, accept = _dfa(pattern)
            except (_Unsupported, re.error):
                got = UNSUPPORTED
            else:
                got = self.size
                self.tables.append(np.where(table >= 0, table + self.size, -1).astype(np.int32))
                self.accepts.append(accept)
                self.size += len(accept)
            self.starts[pattern] = got
        return got

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.ascontiguousarray(np.concatenate(self.tables).reshape(-1)), np.concatenate(self.accepts)


@functools.cache
def _country_codes() -> tuple[np.ndarray, list[int]]:
    """(index of each value 0..999 among the country codes phonenumbers knows, -1 none; those codes)."""
    codes = sorted(cc for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE if 0 < cc < 1000)
    index = np.full(1000, -1, np.int16)
    index[codes] = np.arange(len(codes))
    return index, codes


@functools.cache
def _country_row(cc: int) -> tuple[str | None, np.ndarray]:
    """A country code's national-prefix-for-parsing pattern, and the rule code of _impossible for each national
    length (-1 where the length does not decide): phonenumbers' own answers (_parse_impossible) on a number of that
    length the pattern does not match, computed once per process."""
    prefix = _national_prefix_for_parsing(cc)
    reason = np.full(MAX_NATIONAL + 1, -1, np.int8)
    for length in range(MAX_NATIONAL + 1):
        for d in "9876543210":
            sample = d * length
            if prefix is None or not prefix.match(sample):
                reason[length] = _RULE_CODES[_parse_impossible(str(cc) + sample)]
                break
    return (prefix.pattern if prefix is not None else None), reason


def compile_plan(plan: DialPlan) -> CompiledPlan | None:
    """The plan's tables: its prefixes and extension ranges; DFAs of its country's emergency and short-number
    patterns (phonenumbers' short-number metadata) and of every country code's national-prefix-for-parsing pattern;
    the possible-length answer per country code and national length. None when a setting is not plain digits."""
    settings = (plan.outside_prefix, plan.national_prefix, plan.international_prefix, plan.area_code)
    if not all(isinstance(x, str) and (x == "" or (x.isdigit() and x.isascii())) for x in settings):
        return None
    if not all(isinstance(x, str) and x.isdigit() and x.isascii() and len(x) == len(y)
               for lo, hi in plan.extensions for x, y in ((lo, hi), (hi, lo))):
        return None
    cc = plan.country_code
    automata = _Automata()
    region = plan.country if isinstance(plan.country, str) else ""
    short = PhoneMetadataShort(region)
    emergency = automata.add(short.emergency) if short.ok else NO_PATTERN
    general, code = automata.add(short.general), automata.add(short.code)
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region) if region == region.upper() else None
    site_npp = automata.add(meta.national_prefix_for_parsing or None) if meta is not None else UNSUPPORTED
    site_idd = automata.add(meta.international_prefix) if meta is not None else UNSUPPORTED
    short_ok = short.ok and region == region.upper() and meta is not None \
        and UNSUPPORTED not in (general, code, site_npp, site_idd)
    literals = _literal_alternatives(meta.national_prefix_for_parsing) if meta is not None \
        and not meta.national_prefix_transform_rule else None
    main_general = automata.add(_pattern(meta.general_desc)) if meta is not None else UNSUPPORTED
    index, codes = _country_codes()
    site = dict(
        outside=plan.outside_prefix.encode(), national=plan.national_prefix.encode(),
        international=plan.international_prefix.encode(), area=plan.area_code.encode(), cc=cc.encode(),
        ext_lo="".join(lo for lo, _hi in plan.extensions).encode(), ext_hi="".join(hi for _lo, hi in plan.extensions
                                                                                   ).encode(),
        ext_len=np.array([len(lo) for lo, _hi in plan.extensions], np.int32), emergency=emergency,
        short_general=general, short_code=code, short_general_lengths=short.general_lengths,
        short_code_lengths=short.code_lengths, short_ok=short_ok, site_npp=site_npp, site_idd=site_idd,
        cc_index=index, no_plan=cc == "0", npp_literal=literals is not None,
        npp_lits="".join(literals or []).encode(), npp_lit_len=np.array([len(x) for x in literals or []], np.int32),
        main_general=main_general, strip_lengths=_strip_lengths(meta))
    compiled = CompiledPlan(automata, site, np.full(len(codes), NOT_READY, np.int32),
                            np.full((len(codes), MAX_NATIONAL + 1), -1, np.int8))
    if cc != "0" and int(cc) < len(index) and index[int(cc)] >= 0:  # the site's own country, from the start
        wanted = np.zeros(len(codes), np.uint8)
        wanted[index[int(cc)]] = 1
        compiled.add_countries(wanted)
    return compiled


def _literal_alternatives(pattern: str | None) -> list[str] | None:
    """A national-prefix-for-parsing pattern of plain digits ("0", "0|180020") as its alternatives, when no one
    starts another (then re.match ends where the one that starts the digits ends); else None."""
    if not pattern or not re.fullmatch(r"\d+(?:\|\d+)*", pattern):
        return None
    alternatives = pattern.split("|")
    if any(a != b and b.startswith(a) for a in alternatives for b in alternatives):
        return None
    return alternatives


def _strip_lengths(meta: object) -> int:
    """Bitmask of the national lengths phonenumbers.parse keeps a national prefix stripped for (its
    _test_number_length: not too short, not local only, not an invalid length)."""
    if meta is None:
        return 0
    from phonenumbers.phonenumberutil import _test_number_length

    refused = (phonenumbers.ValidationResult.TOO_SHORT, phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
               phonenumbers.ValidationResult.INVALID_LENGTH)
    return sum(1 << n for n in range(32) if _test_number_length("5" * n, meta) not in refused)


class PhoneMetadataShort:
    """What _is_emergency and _short_number read of a region's short-number metadata."""

    def __init__(self, region: str) -> None:
        meta = phonenumbers.PhoneMetadata.short_metadata_for_region(region.upper(), None) if region else None
        self.ok = meta is not None
        self.emergency = _pattern(meta.emergency) if meta is not None else None
        self.general = _pattern(meta.general_desc) if meta is not None else None
        self.code = _pattern(meta.short_code) if meta is not None else None
        self.general_lengths = _lengths(meta.general_desc) if meta is not None else 0
        self.code_lengths = _lengths(meta.short_code) if meta is not None else 0


def _pattern(desc: object) -> str | None:
    """A description's national-number pattern; None where phonenumbers matches nothing (no or empty pattern)."""
    pattern = getattr(desc, "national_number_pattern", None) if desc is not None else None
    return pattern or None


def _lengths(desc: object) -> int:
    """Bitmask of the possible lengths (every length when the description lists none)."""
    lengths = getattr(desc, "possible_length", None) if desc is not None else None
    if not lengths:
        return 0xFFFFFFFF
    return sum(1 << n for n in lengths if 0 <= n < 32)
