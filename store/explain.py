"""What one import stored, explained: can an administrator trust it? (`import cdr --explain`, `imports explain`,
the console's imports view).

Computed from the store by import id, never by re-parsing, so an old import is explained as well as the one just
made. Two halves: `import_facts` (the SQL: counts grouped by direction, status, extension, direction rule, the
most common unpriced numbers) and `explain` (pure: shares, the warnings a new administrator can act on, and the
text). The analysis lives here rather than in `anatole` because the console (`tui/`) shows it too and may not
import `anatole`; it reads no configuration, so its warnings name the settings by their keys in `anatole.toml`.

Shares are whole percents rounded half up, except that a share of some but not all is never shown as 0 % or
100 % (it shows 1 % or 99 %): "0 %" always means none.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

import phonenumbers
from phonenumbers import geocoder

from i18n import _, current, pgettext
from store.db import Store

UNPRICED = ("no_rate", "no_tariff", "invalid")  # statuses of outgoing calls that should have had a price
TOP = 10  # unpriced numbers listed
WEAK_RULES = ("context",)  # direction rules (ingest.cdr.classify ids) that decided on a context name alone
NO_RATE_WARN = 5  # % of outgoing calls no_rate (or invalid) from which a warning is given
EXTENSION_WARN = 90  # % of outgoing calls with an extension under which a warning is given
INDEX = "calls_import_id"


def prepare(store: Store) -> None:
    """The index that makes an import's calls a range read (an old import on a big store explains at once).
    Created on first use; a reader that cannot write (the database busy) scans instead."""
    conn = store.conn
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (INDEX,)).fetchone():
        return
    try:
        conn.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON calls (import_id)")
        conn.commit()
    except sqlite3.OperationalError:
        if conn.in_transaction:
            conn.rollback()


def import_facts(store: Store, import_id: int) -> dict[str, Any] | None:
    """The import's row and what its calls and rejects look like, grouped (None: no such import)."""
    prepare(store)
    conn = store.conn
    cur = conn.execute("SELECT * FROM imports WHERE id = ?", (import_id,))
    row = cur.fetchone()
    if row is None:
        return None
    facts: dict[str, Any] = {"import": dict(zip([d[0] for d in cur.description], row))}
    facts["groups"] = [
        {"direction": d, "status": s, "extension": bool(e), "billed": bool(b), "calls": n}
        for d, s, e, b, n in conn.execute(
            "SELECT direction, status, COALESCE(extension, '') != '', billed, COUNT(*) FROM calls "
            "WHERE import_id = ? GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4", (import_id,))]
    facts["sites"] = [r[0] for r in conn.execute(
        "SELECT DISTINCT site FROM calls WHERE import_id = ? ORDER BY site", (import_id,))]
    columns = {r[1] for r in conn.execute("PRAGMA table_info(calls)")}
    facts["rules"] = None if "direction_rule" not in columns else [
        {"rule": rule or "", "direction": d, "calls": n} for rule, d, n in conn.execute(
            "SELECT direction_rule, direction, COUNT(*) FROM calls WHERE import_id = ? GROUP BY 1, 2 "
            "ORDER BY 3 DESC, 1, 2", (import_id,))]
    marks = ", ".join("?" * len(UNPRICED))
    facts["unpriced"] = [
        {"number": number or "", "status": status, "calls": n} for number, status, n in conn.execute(
            f"SELECT COALESCE(NULLIF(number, ''), dialled), status, COUNT(*) FROM calls "
            f"WHERE import_id = ? AND status IN ({marks}) GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT {TOP}",
            (import_id, *UNPRICED))]
    facts["no_rate_prefixes"] = [  # 3 leading digits hold every country code: few groups on any import
        {"prefix": p or "", "tariff": t, "calls": n} for p, t, n in conn.execute(
            "SELECT substr(number, 1, 3), tariff, COUNT(*) FROM calls WHERE import_id = ? AND status = 'no_rate' "
            "GROUP BY 1, 2", (import_id,))]
    facts["no_tariff_trunks"] = [
        {"trunk": t or "", "calls": n} for t, n in conn.execute(
            "SELECT trunk, COUNT(*) FROM calls WHERE import_id = ? AND status = 'no_tariff' GROUP BY 1 "
            "ORDER BY 2 DESC, 1", (import_id,))]
    facts["reject_reasons"] = [
        {"reason": r, "lines": n} for r, n in conn.execute(
            "SELECT CASE WHEN instr(reason, ':') > 0 THEN substr(reason, 1, instr(reason, ':') - 1) ELSE reason END, "
            "COUNT(*) FROM rejects WHERE import_id = ? GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3", (import_id,))]
    return facts


def percent(part: int, whole: int) -> int:
    """Whole percent, rounded half up; some-but-not-all is never 0 or 100."""
    if whole <= 0:
        return 0
    pct = (200 * part + whole) // (2 * whole)
    if 0 < part < whole:
        pct = min(max(pct, 1), 99)
    return pct


def _iso(epoch: int | None) -> str | None:
    return None if epoch is None else \
        dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _count(groups: list[dict[str, Any]], **match: Any) -> int:
    return sum(g["calls"] for g in groups if all(g[k] == v for k, v in match.items()))


def _tally(groups: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for g in groups:
        out[g[key]] = out.get(g[key], 0) + g["calls"]
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def _countries(prefixes: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(+country code, name, calls) of no_rate numbers, most calls first."""
    out: dict[str, int] = {}
    for p in prefixes:
        digits, code = p["prefix"], ""
        for k in (1, 2, 3):
            if digits[:k].isdigit() and phonenumbers.region_codes_for_country_code(int(digits[:k])):
                code = digits[:k]
                break
        out[code] = out.get(code, 0) + p["calls"]
    named = []
    for code, n in out.items():
        region = phonenumbers.region_code_for_country_code(int(code)) if code else ""
        example = phonenumbers.example_number(region) if region and region != "001" else None
        name = geocoder.country_name_for_number(example, current()) if example else ""
        named.append((f"+{code}" if code else "?", name or (_("international") if region == "001" else region), n))
    return sorted(named, key=lambda t: (-t[2], t[0]))


def explain(facts: dict[str, Any]) -> dict[str, Any]:
    """The explanation of one import (JSON-ready): counts, shares and the warnings, most important first."""
    imp = facts["import"]
    groups = facts["groups"]
    calls = _count(groups)
    outgoing = _count(groups, direction="outgoing")
    with_ext = _count(groups, extension=True)
    out_ext = _count(groups, direction="outgoing", extension=True)
    statuses = _tally(groups, "status")
    out_statuses = _tally([g for g in groups if g["direction"] == "outgoing"], "status")
    rules = None
    if facts["rules"] is not None:
        rules = {}
        for r in facts["rules"]:
            rules[r["rule"] or "(none)"] = rules.get(r["rule"] or "(none)", 0) + r["calls"]
    source = imp["source"]
    sites = facts["sites"]
    site = sites[0] if len(sites) == 1 else None
    site_ref = f"[[site]] {site!r}" if site else _("the [[site]]")
    source_ref = f"[[source]] {source!r}"
    if site and source == f"{site}:{imp['format']}":  # imported with --site: no [[source]] of its own yet
        source_ref = _("a [[source]] with site = {site} and format = {format} (then import with --source)").format(
            site=repr(site), format=repr(imp["format"]))
    warnings: list[str] = []
    read, rejected = imp["read"] or 0, imp["rejected"] or 0
    if imp["finished"] is None:
        warnings.append(_("this import did not finish (interrupted, or still running): import the file again to "
                          "complete it; what was stored is kept and nothing is stored twice"))
    elif read == 0:
        warnings.append(_("no call records in the file ({count} lines skipped as not records)").format(
            count=imp["skipped"] or 0))
    elif calls == 0 and imp["duplicates"]:
        warnings.append(_("nothing new: all {count} records were already stored (the file was imported "
                          "before)").format(count=imp["duplicates"]))
    if calls and with_ext == 0:
        warnings.append(_("0 % of calls have an extension: nothing can be charged back to a person; set "
                          "`extensions = [...]` in {site} (the numbers of its phones) or `internal_channels` "
                          "in {source}").format(site=site_ref, source=source_ref))
    elif outgoing and percent(out_ext, outgoing) < EXTENSION_WARN:
        warnings.append(_("{share} % of outgoing calls ({count}) have no extension: check `extensions` in {site} "
                          "and `internal_channels` in {source}").format(
            share=percent(outgoing - out_ext, outgoing), count=outgoing - out_ext, site=site_ref, source=source_ref))
    incoming = _count(groups, direction="incoming")
    if calls >= 10 and outgoing == 0 and incoming:
        warnings.append(_("no call was classified as outgoing ({incoming} incoming): if this PBX calls out, name "
                          "its trunks with `trunk_channels` in {source}").format(incoming=incoming, source=source_ref))
    weak = sum(n for rule, n in (rules or {}).items() if rule in WEAK_RULES)
    if weak:
        warnings.append(_("{count} call(s) were classified by context name only: so that channels decide, set "
                          "`trunk_channels` and `internal_channels` in {source}").format(count=weak, source=source_ref))
    no_rate = out_statuses.get("no_rate", 0)
    if outgoing and no_rate and percent(no_rate, outgoing) >= NO_RATE_WARN:
        tariffs = sorted({p["tariff"] for p in facts["no_rate_prefixes"] if p["tariff"]})
        lacks = ", ".join(f"{code} ({name}: {n})" if name else f"{code} ({n})"
                          for code, name, n in _countries(facts["no_rate_prefixes"])[:3])
        if tariffs:
            text = _("{share} % of outgoing calls are no_rate ({count}): the tariff {tariffs} lacks prefixes for "
                     "{lacks}")
        else:
            text = _("{share} % of outgoing calls are no_rate ({count}): the tariff lacks prefixes for {lacks}")
        warnings.append(text.format(share=percent(no_rate, outgoing), count=no_rate, tariffs=", ".join(tariffs),
                                    lacks=lacks))
    no_tariff = statuses.get("no_tariff", 0)
    if no_tariff:
        trunks = [t["trunk"] for t in facts["no_tariff_trunks"] if t["trunk"]][:3]
        if trunks:
            text = _("{count} outgoing call(s) have no tariff: set `tariff = ...` in {site} (or `trunk_tariffs` "
                     "for {trunks})")
        else:
            text = _("{count} outgoing call(s) have no tariff: set `tariff = ...` in {site}")
        warnings.append(text.format(count=no_tariff, site=site_ref, trunks=", ".join(trunks)))
    invalid = out_statuses.get("invalid", 0)
    if outgoing and invalid and percent(invalid, outgoing) >= NO_RATE_WARN:
        examples = ", ".join(u["number"] for u in facts["unpriced"] if u["status"] == "invalid" and u["number"])
        warnings.append(_("{share} % of outgoing calls ({count}) have numbers that cannot be dialled ({examples}): "
                          "check `outside_prefix`, `national_prefix` and `area_code` of {site}").format(
            share=percent(invalid, outgoing), count=invalid, examples=examples or _("no digits"), site=site_ref))
    if rejected:
        why = ", ".join(f"{r['reason']} ({r['lines']})" for r in facts["reject_reasons"])
        if why:
            text = _("{share} % rejected ({count} of {read} records; {why}): see `anatole rejects --source {source}`")
        else:
            text = _("{share} % rejected ({count} of {read} records): see `anatole rejects --source {source}`")
        warnings.append(text.format(share=percent(rejected, read), count=rejected, read=read, why=why,
                                    source=source))
    return {
        "import": {**{k: imp[k] for k in ("id", "file", "format", "source", "read", "calls", "rejected",
                                          "duplicates", "skipped")},
                   "started": _iso(imp["started"]), "finished": _iso(imp["finished"])},
        "sites": sites,
        "calls": calls,
        "merged": _count(groups, billed=False),
        "extension": {"calls": with_ext, "share": percent(with_ext, calls),
                      "outgoing": out_ext, "outgoing_calls": outgoing, "outgoing_share": percent(out_ext, outgoing)},
        "directions": _tally(groups, "direction"),
        "statuses": statuses,
        "outgoing_statuses": out_statuses,
        "rules": rules,
        "unpriced": facts["unpriced"],
        "warnings": warnings,
    }


def explain_import(store: Store, import_id: int) -> dict[str, Any] | None:
    facts = import_facts(store, import_id)
    return None if facts is None else explain(facts)


def _line(counts: dict[str, int], words: dict[str, str] | None = None) -> str:
    """`outgoing 4687 · incoming 1640`: each code as `words` names it in the user's language (the same words as the
    console's lists), else as it is stored."""
    words = words or {}
    return " · ".join(f"{words.get(k, k)} {v}" for k, v in counts.items()) or _("none")


def _direction_words() -> dict[str, str]:
    return {"outgoing": pgettext("direction", "outgoing"), "incoming": pgettext("direction", "incoming"),
            "internal": pgettext("direction", "internal"), "transit": pgettext("direction", "transit")}


def _status_words() -> dict[str, str]:
    return {"rated": pgettext("call status", "rated"), "no_rate": pgettext("call status", "no_rate"),
            "unanswered": pgettext("call status", "unanswered"), "incoming": pgettext("call status", "incoming"),
            "internal": pgettext("call status", "internal"), "transit": pgettext("call status", "transit"),
            "service": pgettext("call status", "service"), "emergency": pgettext("call status", "emergency"),
            "invalid": pgettext("call status", "invalid"), "no_tariff": pgettext("call status", "no_tariff"),
            "merged": pgettext("call status", "merged")}


def text_lines(e: dict[str, Any]) -> list[str]:
    """The explanation as plain text lines (the CLI and the console print them as they are)."""
    ext = e["extension"]
    if ext["outgoing_calls"]:
        first = _("extension: {count} of {calls} calls ({share} %); outgoing {outgoing} of {outgoing_calls} "
                  "({outgoing_share} %)")
    else:
        first = _("extension: {count} of {calls} calls ({share} %)")
    statuses = _line(e["statuses"], _status_words())
    out = [first.format(count=ext["calls"], calls=e["calls"], share=ext["share"], outgoing=ext["outgoing"],
                        outgoing_calls=ext["outgoing_calls"], outgoing_share=ext["outgoing_share"]),
           _("direction: {counts}").format(counts=_line(e["directions"], _direction_words())),
           _("status:    {counts} (merged legs {merged})").format(counts=statuses, merged=e["merged"])
           if e["merged"] else _("status:    {counts}").format(counts=statuses)]
    if e["rules"] is None:
        out.append(_("decided by: (this store does not record the direction rules)"))
    else:
        out.append(_("decided by: {counts}").format(counts=_line(e["rules"])))
    if e["unpriced"]:
        out.append(_("unpriced numbers:"))
        width = max(len(u["number"]) for u in e["unpriced"])
        words = _status_words()
        shown = [words.get(u["status"], u["status"]) for u in e["unpriced"]]
        wide = max(9, *(len(s) for s in shown))
        out += [f"  {u['number']:<{width}}  {s:<{wide}} {u['calls']}" for u, s in zip(e["unpriced"], shown)]
    else:
        out.append(_("unpriced numbers: none"))
    out += [f"! {w}" for w in e["warnings"]] or [_("no warnings")]
    return out
