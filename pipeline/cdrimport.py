"""CDR files into the store: parse -> normalise (dial plan) -> classify -> rate (engine) -> store, in chunks.

Counts always balance: every record a parser finds is a stored call, a duplicate of one already stored, or a
stored reject (read = calls + rejected + duplicates); lines that are not records (headers, banners, blank lines)
are counted as skipped. A chunk is committed before the next is read, so an interrupted import keeps what it
reported and a re-import completes it without storing anything twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine import STATUS_NAMES
from i18n import _
from ingest.cdr import CallRecord, ParseContext, Reject, Skipped, UnknownFormat, detect, parser
from ingest.cdr.blocks import Block, blocks, has_scanner
from ingest.cdr.classify import (
    CALLER,
    DIAL,
    DIALLED,
    FORMAT_RULE,
    ORIGIN,
    TARGET,
    ChannelRules,
    decide,
    dialled_kind,
    key,
    peer,
)
from ingest.cdr.model import Facts
from ingest.dialplan import EXTERNAL, INTERNAL, DialPlan, Number
from pipeline.columnar import rate_block, store_rows
from pipeline.formatcheck import fmt_given, wrong_format
from pipeline.workspace import LIVE_FORMATS, Site, Source, Workspace
from store import CALL_COLUMNS, Store
from store.db import write_transaction
from tariffs.errors import TariffError

CHUNK = 20_000
STATUS, GROUP = CALL_COLUMNS.index("status"), CALL_COLUMNS.index("grp")
FILE_FORMAT_OF_LIVE = {"asterisk-ami": "asterisk", "freeswitch-esl": "freeswitch-json"}
# A stored call's status is the engine's (rated, no_rate, unanswered, invalid) for outgoing calls to external
# numbers, else why it has no price: incoming, internal, transit, service, emergency, no_tariff.


class CdrImportError(Exception):
    """A file that cannot be imported at all (unknown format, no source for it): nothing was stored."""


@dataclass
class ImportResult:
    file: str
    format: str
    source: str
    site: str
    detected: bool
    read: int = 0
    calls: int = 0
    rejected: int = 0
    duplicates: int = 0
    skipped: int = 0
    import_id: int | None = None
    statuses: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "import_id": self.import_id, "format": self.format, "detected": self.detected,
                "source": self.source,
                "site": self.site, "read": self.read, "calls": self.calls, "rejected": self.rejected,
                "duplicates": self.duplicates, "skipped": self.skipped, "statuses": self.statuses}


def resolve_source(ws: Workspace, path: Path, fmt: str | None, source: str | None, site: str | None
                   ) -> tuple[Source, str, bool]:
    """Which configured source (or an ad-hoc one for a site) a file comes from, and its format."""
    detected = False
    if source is not None:
        if source not in ws.sources:
            raise CdrImportError(_("no [[source]] named {source!r} in anatole.toml (sources: {sources})").format(
                source=source, sources=", ".join(ws.sources) or _("none")))
        src = ws.sources[source]
        if site is not None and site != src.site:  # the source's calls go to its own site: --site was ignored
            raise CdrImportError(_("source {source!r} is of site {own!r}, not {site!r}: give one of --source and "
                                   "--site").format(source=source, own=src.site, site=site))
        if not fmt or fmt == "auto":
            fmt = FILE_FORMAT_OF_LIVE.get(src.format, src.format)
        return src, fmt, detected
    if not fmt or fmt == "auto":
        try:
            with path.open("rb") as f:
                fmt, _confidence = detect(f.read(64 * 1024))
        except UnknownFormat as exc:
            raise CdrImportError(f"{path}: {exc}") from None
        detected = True
    base = fmt.split(":", 1)[0]
    try:
        parser(fmt)
    except UnknownFormat as exc:
        raise CdrImportError(str(exc)) from None
    candidates = [s for s in ws.sources.values()
                  if FILE_FORMAT_OF_LIVE.get(s.format, s.format) == fmt and (site is None or s.site == site)]
    if len(candidates) == 1:
        return candidates[0], fmt, detected
    if site is None:
        if len(ws.sites) == 1:
            site = next(iter(ws.sites))
        else:
            raise CdrImportError(_("{path}: format {fmt}: give --source NAME or --site NAME (sites: {sites})").format(
                path=path, fmt=fmt, sites=", ".join(ws.sites) or _("none")))
    if site not in ws.sites:
        raise CdrImportError(_("no [[site]] named {site!r} in anatole.toml (sites: {sites})").format(
            site=site, sites=", ".join(ws.sites) or _("none")))
    profile = ws.csv_profiles.get(fmt.partition(":")[2], {}) if base == "csv" else {}
    if base == "csv" and not profile:
        raise CdrImportError(_("format {fmt!r}: no [csv.{profile}] profile in anatole.toml").format(
            fmt=fmt, profile=fmt.partition(":")[2]))
    return Source(name=f"{site}:{fmt}", site=site, format=fmt, timezone=ws.sites[site].timezone,
                  profile=profile), fmt, detected


def import_file(ws: Workspace, store: Store, path: Path, *, fmt: str | None = None, source: str | None = None,
                site: str | None = None, progress: Callable[[int, int, int], None] | None = None,
                check_format: bool = True) -> ImportResult:
    """Import one file; raises CdrImportError before storing anything if the file cannot be imported at all
    (unknown format, no source for it, or most of its first lines rejected by the format: pipeline.formatcheck).
    `progress(bytes read, file size, records read)` is called after each stored chunk."""
    path = Path(path)
    if not path.is_file():
        raise CdrImportError((_("{path}: not a regular file (a pipe or a device): save the stream to a file first")
                              if path.exists() else _("{path}: no such file")).format(path=path))
    fmt_arg = fmt
    src, fmt, detected = resolve_source(ws, path, fmt, source, site)
    if src.format in LIVE_FORMATS and fmt not in FILE_FORMAT_OF_LIVE.values():
        raise CdrImportError(_("source {name!r} is a live {format} feed: give --format for its files").format(
            name=src.name, format=src.format))
    site_cfg = ws.sites[src.site]
    module = parser(fmt)
    ctx = ParseContext(timezone=src.timezone, reference=int(path.stat().st_mtime), profile=src.profile,
                       encoding=src.encoding)
    how = "detected" if detected else "given" if fmt_given(fmt_arg) else f"source {src.name!r}"
    refused = check_format and wrong_format(path, fmt, ctx, how)  # before anything is stored: no import row
    if refused:
        raise CdrImportError(refused)
    for tariff in {site_cfg.tariff, *site_cfg.trunk_tariffs.values()} - {None}:  # loaded here, once, or refused
        try:
            ws.tariff(tariff)
        except TariffError as exc:
            raise CdrImportError(_("site {site}: its tariff cannot be used, nothing was imported: {error}").format(
                site=site_cfg.name, error=exc)) from None
    digest, size = _sha256(path)
    store.upsert_site(site_cfg.name, site_cfg.country, site_cfg.timezone,
                      str(site_cfg.tariff) if site_cfg.tariff else None)
    store.upsert_source(src.name, src.site, src.format)
    result = ImportResult(str(path), fmt, src.name, src.site, detected)
    result.import_id = store.begin_import(src.name, str(path), digest, size, fmt)
    records: list[CallRecord] = []
    rejects: list[Reject] = []
    overlapping = getattr(module, "LEGS", "overlapping") == "overlapping"
    with path.open("rb") as stream:
        if has_scanner(fmt, src.encoding):
            for block in blocks(stream, fmt, ctx):
                _flush_block(ws, store, src, site_cfg, block, result, digest, overlapping)
                if progress:
                    progress(stream.tell(), size, result.calls + result.rejected + result.duplicates)
            store.finish_import(result.import_id, result.as_json())
            return result
        for item in module.parse(stream, ctx):
            if isinstance(item, CallRecord):
                records.append(item)
            elif isinstance(item, Reject):
                rejects.append(item)
            elif isinstance(item, Skipped):
                result.skipped += 1
            if len(records) + len(rejects) >= CHUNK:
                _flush(ws, store, src, site_cfg, records, rejects, result, digest, overlapping)
                records, rejects = [], []
                if progress:
                    progress(stream.tell(), size, result.calls + result.rejected + result.duplicates)
        _flush(ws, store, src, site_cfg, records, rejects, result, digest, overlapping)
        if progress:
            progress(size, size, result.calls + result.rejected + result.duplicates)
    store.finish_import(result.import_id, result.as_json())
    return result


def _flush(ws: Workspace, store: Store, src: Source, site: Site, records: list[CallRecord], rejects: list[Reject],
           result: ImportResult, digest: str, overlapping: bool) -> None:
    rows = call_rows(ws, src, site, records, result.import_id) if records else []
    _store(store, src, rows, rejects, result, digest, overlapping)


def _flush_block(ws: Workspace, store: Store, src: Source, site: Site, block: Block, result: ImportResult,
                 digest: str, overlapping: bool) -> None:
    """The columnar path: the block's scanned rows and the row parser's records stored together in line order."""
    rated = rate_block(ws, site, src, block)
    records = [item for _unused, item in block.items if isinstance(item, CallRecord)]
    rejects = [item for _unused, item in block.items if isinstance(item, Reject)]
    result.skipped += sum(isinstance(item, Skipped) for _unused, item in block.items)
    now = int(dt.datetime.now(dt.timezone.utc).timestamp())
    rows = store_rows(ws, src, site, block, rated, result.import_id, now)
    if records:
        rows = sorted(rows + call_rows(ws, src, site, records, result.import_id), key=lambda row: row[3])
    _store(store, src, rows, rejects, result, digest, overlapping)


def _store(store: Store, src: Source, rows: list[tuple], rejects: list[Reject], result: ImportResult, digest: str,
           overlapping: bool) -> None:
    """Rejects and call rows (store.CALL_COLUMNS order) into the store, counted in `result`; overlapping legs of a
    call merged where the format has them. One transaction (one fsync) per chunk."""
    with write_transaction(store.conn, what="import"):
        _store_chunk(store, src, rows, rejects, result, digest, overlapping)


def _store_chunk(store: Store, src: Source, rows: list[tuple], rejects: list[Reject], result: ImportResult,
                 digest: str, overlapping: bool) -> None:
    if rejects:
        store.insert_rejects([(src.name, result.import_id, result.file, digest, r.line, r.raw, r.reason)
                              for r in rejects])
        result.rejected += len(rejects)
        result.read += len(rejects)
    if not rows:
        return
    new = store.insert_calls(rows)
    result.read += len(rows)
    result.calls += new
    result.duplicates += len(rows) - new
    for row in rows:
        result.statuses[row[STATUS]] = result.statuses.get(row[STATUS], 0) + 1
    if overlapping:
        store.merge_overlapping_legs(src.name, [row[GROUP] for row in rows if row[GROUP]])


def classify(site: Site, src: Source, rec: CallRecord) -> tuple[str, Number]:
    """The call's direction and the number that matters (dialled for outgoing calls, caller for incoming), for a
    record whose direction, extension and number sent are already known (the format's, or decided from its facts);
    an unknown ("") direction is decided here from the numbers."""
    return classify_numbers(site, src, rec.dialled, rec.called, rec.caller, rec.direction, rec.extension)


def classify_numbers(site: Site, src: Source, dialled: str, called: str, caller: str, direction: str,
                     extension: str) -> tuple[str, Number]:
    """classify() on the values. The number as sent (`called`) wins over the dialled digits only when it differs
    from them and is a possible external number (the dial plan says `invalid` otherwise)."""
    plan = site.dialplan
    strip = src.strip_outside_prefix
    target = plan.normalise(dialled, as_dialled=True if strip is None else strip)
    if called and called != dialled:
        sent = plan.normalise(called, as_dialled=bool(strip))
        if sent.kind == EXTERNAL:
            target = sent
    origin = plan.normalise(caller, as_dialled=False) if caller else Number("invalid")
    if direction == "incoming":
        return direction, origin
    if not direction:
        caller_inside = origin.kind == INTERNAL or (extension and plan.is_extension(extension)) or not caller
        if target.kind == INTERNAL and caller_inside:
            direction = "internal"
        elif origin.kind == EXTERNAL and not caller_inside:
            return "incoming", origin  # (transit, trunk to trunk, only when the format says so)
        else:
            direction = "outgoing"
    if direction == "outgoing" and target.kind == INTERNAL:
        direction = "internal"
    return direction, target


Decided = tuple[str, str, str, str, str, str]  # direction, rule, status ("" or "service"), extension, trunk, called


def decide_record(plan: DialPlan, rules: ChannelRules, rec: CallRecord) -> Decided:
    """Direction, direction rule, status override, extension, trunk and number sent of a record: from its facts
    (Asterisk, FreeSWITCH: ingest.cdr.classify) or as its format gave them."""
    f = rec.facts
    if f is None:
        # a code or bridge number dialled or calling (*17 voicemail, CUCM b00... bridge legs) is a service when
        # internal; a `+` globalised DN is the site's extension it ends with (CUCM)
        code = "service" if rec.service or "code" in (dialled_kind(plan, rec.dialled),
                                                      dialled_kind(plan, rec.caller)) else ""
        return (rec.direction, FORMAT_RULE if rec.direction else "dialplan", code, plan.own_extension(rec.extension),
                rec.trunk, rec.called)
    d = decide(key(f, rec.caller, rec.dialled, rules, plan))
    pick = {"": "", CALLER: rec.caller, DIALLED: rec.dialled, ORIGIN: peer(f.origin), TARGET: peer(f.target),
            DIAL: f.dial_peer}
    return d.direction, d.rule, d.status, pick[d.extension], pick[d.trunk], f.dial_number if d.called else ""


def live_direction(site: Site, src: Source, facts: Facts, caller: str, dialled: str) -> str:
    """The direction of a call in progress from what its first event says (the calling channel, the context, the
    numbers), by the same rules as its record (decide_record, then the numbers): the live display and the stored
    call agree as far as those facts go; the stored call, decided on the full record, is the final word."""
    rec = CallRecord(line=0, native_id="", start=0, caller=caller, dialled=dialled, facts=facts)
    direction, _rule, _status, extension, _trunk, called = decide_record(site.dialplan, src.channel_rules, rec)
    return classify_numbers(site, src, dialled, called, caller, direction, extension)[0]


def call_rows(ws: Workspace, src: Source, site: Site, records: list[CallRecord], import_id: int | None
              ) -> list[tuple]:
    """Store rows (store.CALL_COLUMNS order) for parsed records: direction decided, numbers normalised, outgoing
    calls rated."""
    now = int(dt.datetime.now(dt.timezone.utc).timestamp())
    memo: dict[tuple[str, str, str, str, str], tuple[str, Number]] = {}  # PBXs dial the same numbers all day
    decided = [decide_record(site.dialplan, src.channel_rules, r) for r in records]
    classified = []
    for r, (direction, _rule, _status, extension, _trunk, called) in zip(records, decided):
        key = (r.dialled, called, r.caller, direction, extension)
        got = memo.get(key)
        if got is None:
            got = memo[key] = classify_numbers(site, src, r.dialled, called, r.caller, direction, extension)
        classified.append(got)
    priced = price_calls(ws, site, [(t[4], n, r.start, r.billable, d)
                                    for r, t, (d, n) in zip(records, decided, classified)])
    rows = []
    for rec, (first, rule, service, extension, trunk, called), (direction, number), price in zip(
            records, decided, classified, priced):
        status, tariff, prefix, destination, band, billed_seconds, cost, currency = price
        if service and direction == "internal":
            status = service  # answered by a PBX application: never priced
        if direction != first:
            rule = "dialplan"  # the numbers changed it (a number sent that is an extension)
        rows.append((
            src.name, site.name, import_id, rec.line, rec.native_id, rec.leg, rec.group, rec.start, rec.answer,
            rec.duration, rec.billable, direction, rec.disposition, extension, trunk, rec.caller,
            rec.dialled, called, rec.account, number.e164, number.kind, number.rule, 1, status, tariff, prefix,
            destination, band, billed_seconds, cost, currency, now if status in STATUS_NAMES else None,
            "; ".join(rec.notes) or None, rec.raw, rule,
        ))
    return rows


Priced = tuple[str, str | None, str | None, str | None, str | None, int | None, int | None, str | None]


def price_calls(ws: Workspace, site: Site, calls: Iterable[tuple[str, Number, int, int, str]],
                tariff_path: Path | None = None) -> list[Priced]:
    """(status, tariff, prefix, destination, band, billed_seconds, cost, currency) for each (trunk, number,
    start, billable seconds, direction). Outgoing calls to external numbers go through the engine in one batch
    per tariff; the rest get a status that says why they are not priced."""
    calls = list(calls)
    out: list[Priced] = [None] * len(calls)  # type: ignore[list-item]
    batches: dict[Path, list[int]] = {}
    for i, (trunk, number, _start, _seconds, direction) in enumerate(calls):
        if direction in ("incoming", "internal", "transit"):
            out[i] = (direction, None, None, None, None, None, None, None)
        elif number.kind != EXTERNAL:
            status = {"service": "service", "emergency": "emergency", "internal": "internal"}.get(number.kind,
                                                                                                 "invalid")
            out[i] = (status, None, None, None, None, None, None, None)
        else:
            path = tariff_path or ws.tariff_for(site, trunk)
            if path is None:
                out[i] = ("no_tariff", None, None, None, None, None, None, None)
            else:
                batches.setdefault(path, []).append(i)
    for path, index in batches.items():
        compiled = ws.tariff(path)
        t = compiled.tariff
        numbers = np.array([calls[i][1].e164.encode() for i in index], dtype="S18")
        starts = np.array([calls[i][2] for i in index], dtype=np.int64)
        seconds = np.array([calls[i][3] for i in index], dtype=np.int32)
        res = compiled.tables.rate(numbers, starts, seconds)
        name = str(path.name)
        rate = res["rate"]
        used = np.maximum(rate, 0)
        # the prefix that priced the call (a shorter one when the longest match has no rate in force)
        pid = np.where(rate >= 0, compiled.rate_prefix[used], res["prefix"]).tolist()
        dest = compiled.rate_dest[used].tolist()
        names, prefixes, destinations = t.bands, compiled.prefixes, t.rows.destinations
        for k, i in enumerate(index):
            status = STATUS_NAMES[res["status"][k]]
            band = int(res["band"][k])
            rated = rate[k] >= 0
            out[i] = (status, name, prefixes[pid[k]] if pid[k] >= 0 else None,
                      destinations[dest[k]] if rated else None, names[band].name if band >= 0 else None,
                      int(res["billed"][k]), int(res["cost"][k]) if status != "no_rate" else None, t.currency)
    return out


BYTES_PER_CALL = 250  # a short CDR line (Asterisk, IP Office); CUCM's are longer: the estimate errs high


def expected_calls(paths: Iterable[Path]) -> int:
    """About how many calls importing these files stores at most (Store.bulk_load decides from it)."""
    return sum(p.stat().st_size for p in paths if p.is_file()) // BYTES_PER_CALL


def _sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest(), os.path.getsize(path)
