"""The inventory: cost centres (a hierarchy), people, sites, extensions, lines and services (DIDs, SIMs, circuits),
devices and contracts, each effective-dated, with a CSV import that previews before it applies.

A CSV file (an HR or directory export, a carrier's line list...) states, for each key, its fields from a date
(`from` column, else --effective, else today) until an optional `to`. `preview` compares it with the store: adds,
changes, removals (keys valid on the effective date but absent from the file, unless the import is partial) and
the problems (unknown cost centres, duplicate extensions, people with no cost centre, overlapping date ranges, bad
values). `apply` writes it all in one transaction, each change with a history row; it refuses while problems are
open unless they are accepted (bad values can never be accepted: fix the file). Accepted duplicates and overlaps
keep the first row and skip the later ones; accepted unknown or missing cost centres are stored as given, and
the costs of those people go to the unassigned bucket until the cost centre exists.

A column the file does not have keeps the stored value. A people file's `extension` column (several separated by
spaces, commas or semicolons) also sets who holds each extension: extensions are items of their own (key
`site/number`, or `number` without a site); a people file without extensions leaves them be.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.money import MoneyError, format_exact, parse_money
from i18n import _, pgettext
from store.inventory import InventoryStore

KINDS = ("cost_centre", "person", "site", "extension", "line", "device", "contract")
# the fields of each kind (columns of store.inventory); money fields are parsed as exact decimals
FIELDS: dict[str, tuple[str, ...]] = {
    "cost_centre": ("name", "parent", "gl_account", "budget"),
    "person": ("name", "email", "cost_centre", "site"),
    "site": ("name", "cost_centre"),
    "extension": ("site", "extension", "person", "cost_centre"),
    "line": ("name", "service_kind", "carrier", "account", "contract", "site", "person", "cost_centre", "extension"),
    "device": ("name", "service_kind", "person", "site", "extension", "line", "cost_centre"),
    "contract": ("name", "carrier", "account", "tariff", "monthly_fee", "notice_days"),
}
MONEY_FIELDS = ("budget", "monthly_fee")
INT_FIELDS = ("notice_days",)
# --kind names (plural, as a user says them) -> kind
FILE_KINDS = {"people": "person", "cost-centres": "cost_centre", "sites": "site", "extensions": "extension",
              "lines": "line", "devices": "device", "contracts": "contract"}
KEY_ALIASES = {
    "person": ("person", "id", "employee_id", "employee", "person_id", "staff_id", "user_id", "username"),
    "cost_centre": ("code", "cost_centre", "cost_centre_code", "id"),
    "site": ("site", "name", "code"),
    "extension": ("extension", "ext", "number"),
    "line": ("service", "line", "number", "did", "msisdn", "iccid", "circuit", "service_id"),
    "device": ("device", "serial", "asset", "asset_tag", "id"),
    "contract": ("contract", "contract_id", "id", "reference"),
}
FIELD_ALIASES = {
    "name": ("name", "full_name", "display_name", "description", "model", "label"),
    "parent": ("parent", "parent_code", "parent_cost_centre"),
    "cost_centre": ("cost_centre", "cost_centre_code", "department_code", "cc"),
    "email": ("email", "mail", "e_mail"),
    "site": ("site", "location", "office"),
    "extension": ("extension", "extensions", "ext", "phone_extension"),
    "person": ("person", "owner", "employee_id", "assigned_to", "user"),
    "service_kind": ("type", "kind", "service_kind", "service_type"),
    "carrier": ("carrier", "provider", "operator"),
    "account": ("account", "billing_account", "account_number"),
    "contract": ("contract", "contract_id"),
    "line": ("line", "service"),
    "tariff": ("tariff", "plan", "rate_plan"),
    "gl_account": ("gl_account", "account_code", "ledger_account"),
    "budget": ("budget", "monthly_budget"),
    "monthly_fee": ("monthly_fee", "fee", "monthly_fees", "recurring_fee"),
    "notice_days": ("notice_days", "notice", "notice_period_days"),
}
FROM_ALIASES = ("from", "valid_from", "effective", "effective_from", "start", "start_date")
TO_ALIASES = ("to", "valid_to", "until", "end", "end_date")
ACCEPTABLE = {"unknown_cost_centre", "duplicate_extension", "no_cost_centre", "overlapping_dates"}


class InventoryError(Exception):
    """The file or a value cannot be read at all; the message names the file, line and field."""


@dataclass
class Problem:
    line: int
    code: str  # unknown_cost_centre | duplicate_extension | no_cost_centre | overlapping_dates | bad_value
    key: str
    message: str

    @property
    def acceptable(self) -> bool:
        return self.code in ACCEPTABLE

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "code": self.code, "key": self.key, "message": self.message,
                "acceptable": self.acceptable}


@dataclass
class Version:
    kind: str
    key: str
    valid_from: str
    valid_to: str | None
    fields: dict[str, Any]
    line: int
    skip: bool = False  # set for rows that lose to an earlier one (accepted duplicate or overlap)


@dataclass
class Preview:
    kind: str
    file: str
    sha256: str
    effective: str
    partial: bool
    rows: int = 0
    versions: list[Version] = field(default_factory=list)
    adds: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    removals: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    operations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def blocking(self) -> list[Problem]:
        return [p for p in self.problems if not p.acceptable]

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "file": self.file, "effective": self.effective, "partial": self.partial,
                "rows": self.rows, "adds": self.adds, "changes": self.changes, "removals": self.removals,
                "unchanged": self.unchanged, "problems": [p.as_json() for p in self.problems]}


def normalise_service(text: str) -> str:
    """A service identifier as invoices and calls carry it: phone numbers lose '+', spaces, dots, dashes and
    brackets (E.164 digits); anything else (a circuit id) is kept as written, trimmed."""
    text = text.strip()
    digits = re.sub(r"[\s.\-()/]", "", text).lstrip("+")
    return digits if digits.isdigit() else text


def extension_key(site: str | None, number: str) -> str:
    return f"{site}/{number}" if site else number


def _header(name: str) -> str:
    h = re.sub(r"[^a-z0-9]+", "_", name.strip().lower().replace("center", "centre")).strip("_")
    return h


def _date(text: str, where: str) -> str:
    try:
        return dt.date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise InventoryError(f"{where}: " + _("{value} is not a date (YYYY-MM-DD)").format(value=repr(text))) from None


def read_csv(data: bytes, kind: str, name: str, *, effective: str) -> tuple[list[Version], list[Problem], int]:
    """The versions a CSV file states, with the problems of single rows (bad values). Raises InventoryError when
    the file cannot be read at all (not text, no header, no key column)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text.replace("\x00", ""), newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InventoryError(_("{path}: the file is empty (a header row is expected)").format(path=name)) from None
    except csv.Error as exc:
        raise InventoryError(_("{path}: line {n}: not CSV ({error})").format(path=name, n=1, error=exc)) from None
    cols = [_header(h) for h in header]
    key_col = next((cols.index(a) for a in KEY_ALIASES[kind] if a in cols), None)
    if key_col is None:
        raise InventoryError(_("{path}: line 1: no key column for {kind} (one of: {aliases}); columns are "
                               "{columns}").format(path=name, kind=kind, aliases=", ".join(KEY_ALIASES[kind]),
                                                   columns=", ".join(header)))
    wanted = FIELDS[kind] + (("extension",) if kind == "person" else ())
    field_cols: dict[str, int] = {}
    for f in wanted:
        for alias in FIELD_ALIASES[f]:
            if alias in cols and cols.index(alias) != key_col:
                field_cols[f] = cols.index(alias)
                break
    from_col = next((cols.index(a) for a in FROM_ALIASES if a in cols), None)
    to_col = next((cols.index(a) for a in TO_ALIASES if a in cols), None)
    versions: list[Version] = []
    problems: list[Problem] = []
    rows = 0
    for lineno, row in enumerate(_rows(reader, name), 2):
        if not any(c.strip() for c in row):
            continue
        rows += 1
        def cell(i: int | None, row: list[str] = row) -> str:
            return row[i].strip() if i is not None and i < len(row) else ""

        key = cell(key_col)
        where = _("{path}: line {n}").format(path=name, n=lineno)
        if not key:
            problems.append(Problem(lineno, "bad_value", "", f"{where}: " + _("{column} is empty").format(
                column=repr(header[key_col]))))
            continue
        if kind == "line":
            key = normalise_service(key)
        try:
            start = _date(cell(from_col), f"{where}, {header[from_col]}") if cell(from_col) else effective
            end = _date(cell(to_col), f"{where}, {header[to_col]}") if cell(to_col) else None
        except InventoryError as exc:
            problems.append(Problem(lineno, "bad_value", key, str(exc)))
            continue
        if end is not None and end <= start:
            problems.append(Problem(lineno, "bad_value", key, f"{where}: " + _("ends ({end}) on or before it starts "
                                                                                 "({start})").format(end=end,
                                                                                                     start=start)))
            continue
        values: dict[str, Any] = {}
        bad = False
        for f, i in field_cols.items():
            value = cell(i)
            if not value:
                values[f] = None
                continue
            if f in MONEY_FIELDS:
                try:
                    values[f] = parse_money(value)
                except MoneyError as exc:
                    problems.append(Problem(lineno, "bad_value", key, f"{where}, {header[i]}: {exc}"))
                    bad = True
            elif f in INT_FIELDS:
                if not value.isdigit():
                    problems.append(Problem(lineno, "bad_value", key, f"{where}, {header[i]}: " + _(
                        "{value} is not a whole number of days").format(value=repr(value))))
                    bad = True
                else:
                    values[f] = int(value)
            else:
                values[f] = value
        if bad:
            continue
        if kind == "person":
            extensions = re.split(r"[\s,;]+", values.pop("extension") or "") if "extension" in values else []
            fields = {f: values[f] for f in FIELDS["person"] if f in values}
            versions.append(Version("person", key, start, end, fields, lineno))
            for ext in filter(None, extensions):
                versions.append(Version("extension", extension_key(fields.get("site"), ext), start, end,
                                        {"site": fields.get("site"), "extension": ext, "person": key,
                                         "cost_centre": None}, lineno))
        else:
            fields = {f: values[f] for f in FIELDS[kind] if f in values}
            if kind == "extension":
                fields["extension"] = key
                key = extension_key(fields.get("site"), key)
            versions.append(Version(kind, key, start, end, fields, lineno))
    return versions, problems, rows


def _rows(reader: Any, name: str) -> Any:
    """The reader's rows; a broken quote or stray character is an error naming the line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InventoryError(_("{path}: line {n}: not CSV ({error})").format(path=name, n=reader.line_num,
                                                                                 error=exc)) from None


def _overlaps(a: Version, b: Version) -> bool:
    return a.valid_from < (b.valid_to or "9999-12-31") and b.valid_from < (a.valid_to or "9999-12-31")


def _ext_number(v: Version) -> tuple[str, str]:
    return (v.fields.get("site") or "", v.fields.get("extension") or v.key)


def preview(istore: InventoryStore, data: bytes, kind: str, name: str, *, effective: str | None = None,
            partial: bool = False) -> Preview:
    """What importing this file would do: adds, changes, removals and problems, with the operations to apply."""
    if kind not in KINDS:
        raise InventoryError(_("unknown kind {kind} (one of: {kinds})").format(kind=repr(kind),
                                                                             kinds=", ".join(FILE_KINDS)))
    effective = effective or dt.date.today().isoformat()
    versions, problems, rows = read_csv(data, kind, name, effective=effective)
    p = Preview(kind, name, hashlib.sha256(data).hexdigest(), effective, partial, rows, versions, problems=problems)
    # a column the file does not have keeps what the store knows (the version in force then, else the latest)
    for v in versions:
        if len(v.fields) < len(FIELDS[v.kind]):
            known = istore.items(v.kind, key=v.key, at=v.valid_from) or istore.items(v.kind, key=v.key)[-1:]
            base = known[0] if known else {}
            v.fields = {f: v.fields[f] if f in v.fields else base.get(f) for f in FIELDS[v.kind]}

    # overlapping date ranges of one key; duplicate extensions (two holders of one number at the same time)
    by_key: dict[tuple[str, str], list[Version]] = {}
    for v in versions:
        by_key.setdefault((v.kind, v.key), []).append(v)
    for (k, key), vs in by_key.items():
        for i, v in enumerate(vs):
            for w in vs[:i]:
                if not w.skip and _overlaps(v, w):
                    v.skip = True
                    if k == "extension" and w.fields.get("person") != v.fields.get("person"):
                        p.problems.append(Problem(v.line, "duplicate_extension", key,
                                                  _("line {n}: extension {key} is also given to {person} (line "
                                                    "{other}) over the same dates").format(
                                                      n=v.line, key=key, person=w.fields.get("person"),
                                                      other=w.line)))
                    else:
                        p.problems.append(Problem(v.line, "overlapping_dates", key,
                                                  _("line {n}: {kind} {key} from {start} to {end} overlaps line "
                                                    "{other} ({other_start} to {other_end})").format(
                                                      n=v.line, kind=k, key=key, start=v.valid_from,
                                                      end=v.valid_to or pgettext("no end date", "open"), other=w.line,
                                                      other_start=w.valid_from,
                                                      other_end=w.valid_to or pgettext("no end date", "open"))))
                    break
    # a partial import must not give a number already held by someone the file does not mention
    if partial:
        file_people = {v.key for v in versions if v.kind == "person"}
        for v in versions:
            if v.kind != "extension" or v.skip:
                continue
            for r in istore.items("extension", key=v.key, overlapping=(v.valid_from, v.valid_to or "9999-12-31")):
                if r["person"] and r["person"] != v.fields["person"] and r["person"] not in file_people:
                    v.skip = True
                    p.problems.append(Problem(v.line, "duplicate_extension", v.key,
                                              _("line {n}: extension {key} is held by {person} from {start}").format(
                                                  n=v.line, key=v.key, person=r["person"], start=r["valid_from"])))
                    break

    # cost centres: known in the store or defined by this file
    known = {r["key"] for r in istore.items("cost_centre")} | {v.key for v in versions if v.kind == "cost_centre"}
    for v in versions:
        if v.skip:
            continue
        refs = [("cost_centre", v.fields.get("cost_centre"))] if "cost_centre" in v.fields else []
        if v.kind == "cost_centre" and v.fields.get("parent"):
            refs.append(("parent", v.fields["parent"]))
        for what, code in refs:
            if code and code not in known:
                p.problems.append(Problem(v.line, "unknown_cost_centre", v.key,
                                          _("line {n}: {kind} {key}: {what} {code} is not a known cost "
                                            "centre").format(n=v.line, kind=v.kind, key=v.key, what=what,
                                                             code=repr(code))))
        if v.kind == "person" and not v.fields.get("cost_centre"):
            p.problems.append(Problem(v.line, "no_cost_centre", v.key,
                                      _("line {n}: person {key} has no cost centre (their costs will be "
                                        "unassigned)").format(n=v.line, key=v.key)))
    if kind == "cost_centre":
        _check_cycles(p, istore)

    # the diff against the store
    for v in versions:
        if v.skip:
            continue
        end = v.valid_to or "9999-12-31"
        existing = istore.items(v.kind, key=v.key, overlapping=(v.valid_from, end))
        entry = {"kind": v.kind, "key": v.key, "from": v.valid_from, "to": v.valid_to, "line": v.line,
                 "fields": _show(v.fields)}
        before = None
        if not existing:
            if istore.items(v.kind, key=v.key):
                p.changes.append({**entry, "before": None})
                action = "change"
            else:
                p.adds.append(entry)
                action = "add"
        else:
            e = existing[0]
            same = len(existing) == 1 and e["valid_from"] <= v.valid_from and e["valid_to"] == v.valid_to and \
                all(e[f] == v.fields.get(f) for f in FIELDS[v.kind])
            if same:
                p.unchanged += 1
                continue
            before = {f: e[f] for f in FIELDS[v.kind]}
            p.changes.append({**entry, "before": _show(before)})
            action = "change"
        p.operations.append({"op": "set", "kind": v.kind, "key": v.key, "valid_from": v.valid_from,
                             "valid_to": v.valid_to, "fields": v.fields, "action": action, "before": before,
                             "note": _("{path}: line {n}").format(path=name, n=v.line)})
    if not partial:
        stated = {(v.kind, v.key) for v in versions}
        # a people file manages extensions only when it lists some (a file without the column leaves them be)
        kinds = {kind, "extension"} if kind == "person" and any(v.kind == "extension" for v in versions) else {kind}
        for k in sorted(kinds):
            for r in istore.items(k, at=effective):
                if (k, r["key"]) in stated:
                    continue
                if k == "extension" and kind == "person" and not r["person"]:
                    continue  # an extension held by no one is not the directory's business
                before = {f: r[f] for f in FIELDS[k]}
                p.removals.append({"kind": k, "key": r["key"], "from": effective, "fields": _show(before)})
                p.operations.append({"op": "close", "kind": k, "key": r["key"], "valid_from": effective,
                                     "action": "remove", "before": before,
                                     "note": _("{path}: not in the file").format(path=name)})
    unique = {(x.line, x.code): x for x in reversed(p.problems)}  # a person's row and its extensions: once
    p.problems = sorted(unique.values(), key=lambda x: (x.line, x.code))
    return p


def _check_cycles(p: Preview, istore: InventoryStore) -> None:
    parent = {r["key"]: r["parent"] for r in istore.items("cost_centre", at=p.effective)}
    parent.update({v.key: v.fields.get("parent") for v in p.versions if v.kind == "cost_centre" and not v.skip})
    for v in p.versions:
        if v.kind != "cost_centre" or v.skip:
            continue
        seen, code = {v.key}, parent.get(v.key)
        while code:
            if code in seen:
                v.skip = True
                p.problems.append(Problem(v.line, "bad_value", v.key,
                                          _("line {n}: cost centre {key}: its parents loop back to it").format(
                                              n=v.line, key=v.key)))
                break
            seen.add(code)
            code = parent.get(code)


def _show(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (format_exact(v) if k in MONEY_FIELDS and v is not None else v) for k, v in fields.items()}


def apply(istore: InventoryStore, p: Preview, *, accept: bool = False, actor: str = "unknown") -> int:
    """Write a preview's operations in one transaction; returns the batch id. Refuses (InventoryError, nothing
    written) while there are bad values, or other problems that are not accepted."""
    if p.blocking:
        raise InventoryError(_("{path}: {n} row(s) cannot be read; fix the file (nothing applied):").format(
            path=p.file, n=len(p.blocking)) + "\n" + "\n".join(x.message for x in p.blocking))
    if p.problems and not accept:
        raise InventoryError(_("{path}: {n} problem(s); resolve them or give --accept (nothing applied):").format(
            path=p.file, n=len(p.problems)) + "\n" + "\n".join(x.message for x in p.problems))
    summary = {"adds": len(p.adds), "changes": len(p.changes), "removals": len(p.removals),
               "unchanged": p.unchanged, "problems": len(p.problems)}
    return istore.apply({"kind": p.kind, "file": p.file, "sha256": p.sha256, "effective": p.effective,
                         "accepted": [x.as_json() for x in p.problems], "summary": summary}, p.operations, actor)


def import_file(istore: InventoryStore, path: Path, kind: str, *, effective: str | None = None,
                partial: bool = False, apply_it: bool = False, accept: bool = False,
                actor: str = "unknown") -> tuple[Preview, int | None]:
    """Preview (and, with apply_it, apply) one CSV file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InventoryError(_("{path}: cannot be read ({error})").format(path=path,
                                                                       error=exc.strerror or exc)) from None
    p = preview(istore, data, kind, str(path), effective=effective, partial=partial)
    batch = apply(istore, p, accept=accept, actor=actor) if apply_it else None
    return p, batch


def describe(row: dict[str, Any]) -> dict[str, Any]:
    """One stored item version for display/JSON."""
    out = {"kind": row["kind"], "key": row["key"], "from": row["valid_from"], "to": row["valid_to"]}
    out.update(_show({f: row[f] for f in FIELDS[row["kind"]]}))
    return out
