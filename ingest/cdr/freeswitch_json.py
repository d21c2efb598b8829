"""FreeSWITCH mod_json_cdr: one JSON document per leg, pretty-printed over many lines or one per line (JSON lines).

Documents are found by counting braces outside strings, line by line, so a file of concatenated pretty-printed
documents, a JSON-lines file, or a mix both stream with memory bounded by one document. A document yields its
CallRecord (or Reject) on its first line and Skipped("continuation") on its other lines; an unparseable document
yields one Reject on its first line (the decoder's message as reason) and Skipped("continuation of rejected
document") on the others, and so do the lines after it up to the next "{" in column 0 (the remains of a document
that closed early). A line starting with "{" in column 0 while a document is still open starts a new one
(pretty-printed documents indent their inner lines), and the open one is rejected as truncated. Stray text outside
any document is a Reject of its own.

The variables mean what they mean in mod_cdr_csv: the record is built by freeswitch_csv.fs_record.
The record carries facts, not a direction (freeswitch_csv.fs_facts: the leg's channel, or `sofia/gateway/<gw>`, the
bridge target, the last application; ingest.cdr.classify decides). The channel is the `channel_name` variable or
the caller profile's `chan_name`; the last application is `last_app`, else the last one of the app_log. Legs of one
call share `group`: a b-leg carries the a-leg's uuid (`originating_leg_uuid`, or the originator caller profile),
an a-leg its own uuid.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import unquote

import msgspec

from i18n import _
from ingest.cdr.asterisk import short
from ingest.cdr.freeswitch_csv import fs_record
from ingest.cdr.model import CallRecord, Item, ParseContext, Reject, Skipped, lines

NAME = "freeswitch-json"

MAX_DOC_CHARS = 4 << 20  # a CDR document is a few KiB; past this it is garbage, not a document
MAX_DOC_LINES = 50_000
PUNCTUATION = frozenset({"[", "]", ",", "],", "[,"})  # a JSON array of documents
PROFILE_KEYS = ("caller_id_number", "caller_id_name", "destination_number", "context", "uuid")
TIME_KEYS = {"created_time": "start_uepoch", "answered_time": "answer_uepoch", "hangup_time": "end_uepoch"}

_decode = msgspec.json.Decoder().decode


class Document:
    """An open document: its lines, and a brace scanner over them."""

    def __init__(self, number: int, text: str) -> None:
        self.first = (number, text)
        self.rest: list[tuple[int, str]] = []
        self.parts = [text]
        self.size = len(text)
        self.depth = 0
        self.closed = False
        self.failed = False
        self.scan(text)

    def add(self, number: int, text: str) -> None:
        self.rest.append((number, text))
        self.parts.append(text)
        self.size += len(text) + 1
        self.scan(text)

    def scan(self, text: str) -> None:
        """Count braces outside strings; a JSON string never spans lines, so string state ends with the line."""
        in_string = escaped = False
        for c in text:
            if in_string:
                if escaped:
                    escaped = False
                elif c == "\\":
                    escaped = True
                elif c == '"':
                    in_string = False
            elif c == '"':
                in_string = True
            elif c == "{":
                self.depth += 1
            elif c == "}":
                self.depth -= 1
                if self.depth <= 0:
                    self.closed = True
                    return

    @property
    def too_big(self) -> bool:
        return self.size > MAX_DOC_CHARS or len(self.rest) >= MAX_DOC_LINES

    def text(self) -> str:
        return "\n".join(self.parts).rstrip().rstrip(",")

    def reject(self, reason: str) -> Iterator[Item]:
        self.failed = True
        number, first = self.first
        yield Reject(line=number, raw=first, reason=reason)
        for n, t in self.rest:
            yield Skipped(line=n, raw=t, what="continuation of rejected document")

    def finish(self, ctx: ParseContext) -> Iterator[Item]:
        number, first = self.first
        try:
            doc = _decode(self.text())
        except Exception as e:  # msgspec.DecodeError, or anything a hostile input provokes
            yield from self.reject(f"json: {e}")
            return
        yield build(doc, number, first, ctx)
        for n, t in self.rest:
            yield Skipped(line=n, raw=t, what="continuation")


def _first_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    """A scalar as the decoded string FreeSWITCH meant (values may be URL-encoded); None for objects/lists."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int, float)):
        return unquote(str(value))
    return None


def bridge_target(variables: dict[str, Any], doc: dict[str, Any]) -> str:
    """The dial string of the leg's last bridge, where a gateway and the outpulsed number can be read."""
    for app, arg in (("last_app", "last_arg"), ("current_application", "current_application_data")):
        if variables.get(app) == "bridge":
            return _text(variables.get(arg)) or ""
    app_log = doc.get("app_log")
    apps = app_log.get("applications") if isinstance(app_log, dict) else None
    if isinstance(apps, list):
        for entry in reversed(apps):
            if isinstance(entry, dict) and entry.get("app_name") == "bridge":
                return _text(entry.get("app_data")) or ""
    return ""


def last_application(doc: dict[str, Any]) -> str:
    """The name of the last application of the app_log ("" when there is none)."""
    app_log = doc.get("app_log")
    apps = app_log.get("applications") if isinstance(app_log, dict) else None
    if isinstance(apps, list):
        for entry in reversed(apps):
            if isinstance(entry, dict) and entry.get("app_name"):
                return _text(entry.get("app_name")) or ""
    return ""


def build(doc: Any, line: int, raw: str, ctx: ParseContext) -> CallRecord | Reject:
    """One decoded document -> CallRecord or Reject (the raw text is its first line)."""
    try:
        if not isinstance(doc, dict):
            return Reject(line=line, raw=raw, reason="json: " + _(
                "the document is a {value}, not an object").format(value=type(doc).__name__))
        variables = doc.get("variables")
        callflow = _first_dict(doc.get("callflow"))
        if not isinstance(variables, dict) and not callflow:
            return Reject(line=line, raw=raw, reason="json: " + _("not a FreeSWITCH CDR (no variables, no callflow)"))
        variables = variables if isinstance(variables, dict) else {}
        f: dict[str, str] = {}
        for key, value in variables.items():
            text = _text(value)
            if text is not None:
                f[key] = text
        profile = _first_dict(callflow.get("caller_profile"))
        for key in PROFILE_KEYS:
            text = _text(profile.get(key))
            if text and (key != "uuid" or not f.get("uuid")):
                f[key] = text
        if not f.get("channel_name"):
            f["channel_name"] = _text(profile.get("chan_name")) or ""
        if not f.get("last_app"):
            f["last_app"] = last_application(doc)
        times = _first_dict(callflow.get("times"))
        for key, name in TIME_KEYS.items():
            text = _text(times.get(key))
            if text is not None and text.strip():
                f[name] = text
        channel = _first_dict(doc.get("channel_data"))
        leg = _text(channel.get("direction")) or f.get("direction", "")
        f["direction"] = leg
        if not f.get("originating_leg_uuid"):
            originator = _first_dict(profile.get("originator"))
            a_leg = _first_dict(originator.get("originator_caller_profiles"))
            a_uuid = _text(a_leg.get("uuid")) or ""
            if a_uuid and a_uuid != f.get("uuid"):
                f["originating_leg_uuid"] = a_uuid
        f["bridge_target"] = bridge_target(variables, doc)
        return fs_record(f, line, raw, ctx)
    except Exception as e:  # a parser never lets a document abort the file
        return Reject(line=line, raw=raw, reason=f"unreadable: {type(e).__name__}: {e}")


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[Item]:
    """Every line: a document's first line -> CallRecord/Reject, its other lines -> Skipped("continuation"),
    blank lines and array punctuation -> Skipped, stray text -> Reject."""
    doc: Document | None = None
    orphan = False  # after a rejected document: its remains, up to the next "{" in column 0, are continuation
    for number, text in lines(stream, ctx.encoding):
        if doc is not None:
            if text.startswith("{"):
                yield from doc.reject("json: " + _(
                    "document truncated (a new one starts at line {value})").format(value=number))
                doc = None
            else:
                doc.add(number, text)
                if doc.closed:
                    yield from doc.finish(ctx)
                    orphan, doc = doc.failed, None
                elif doc.too_big:
                    yield from doc.reject("json: " + _(
                        "document not closed within {chars} characters or {lines} lines").format(
                        chars=MAX_DOC_CHARS, lines=MAX_DOC_LINES))
                    orphan, doc = True, None
                continue
        if orphan and not text.startswith("{"):
            yield Skipped(line=number, raw=text, what="continuation of rejected document")
            continue
        orphan = False
        stripped = text.strip()
        if not stripped:
            yield Skipped(line=number, raw=text, what="blank")
        elif stripped in PUNCTUATION:
            yield Skipped(line=number, raw=text, what="json punctuation")
        elif stripped.startswith("{"):
            if stripped.endswith(("}", "},")):  # JSON lines: the usual case, decoded without scanning
                try:
                    decoded = _decode(stripped.rstrip(","))
                except Exception:
                    decoded = None
                if decoded is not None:
                    yield build(decoded, number, text, ctx)
                    continue
            doc = Document(number, text)
            if doc.closed:
                yield from doc.finish(ctx)
                orphan, doc = doc.failed, None
        else:
            yield Reject(line=number, raw=text,
                         reason="json: " + _("{value} is outside any document (documents start with '{{')").format(
                             value=short(stripped)))
    if doc is not None:
        yield from doc.reject("json: " + _("document truncated (the input ends before its closing brace)"))


def sniff(head: bytes) -> int:
    """A JSON object with FreeSWITCH CDR keys (core-uuid / channel_data with variables / callflow)."""
    try:
        text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
        if text.startswith("["):
            text = text[1:].lstrip()
        if not text.startswith("{"):
            return 0
        switch = '"core-uuid"' in text or '"channel_data"' in text or '"switchname"' in text
        cdr = '"variables"' in text or '"callflow"' in text
        if switch and cdr:
            return 90
        if cdr and any(k in text for k in ('"hangup_cause"', '"start_epoch"', '"caller_profile"', '"billsec"')):
            return 70
        return 10 if cdr else 0
    except Exception:  # sniffing garbage answers 0, never raises
        return 0
