"""Refuse a file read with the wrong format before anything is stored (`import cdr`, `batch-rate`).

A wrong `--format` (or a source configured with another PBX's format) makes every line a reject: the counts still
balance, but the store fills with rejects and the administrator learns nothing. So before a file is imported, the
row parser reads a sample (its first SAMPLE_LINES lines); when more than half of the records in it are rejected
(or are lines the parser does not recognise as records) and there are at least MIN_RECORDS of them, the file is
refused as a whole: nothing is stored, no import row is written, and the message says what auto-detection sees.

A genuine file with some bad lines still imports (its bad lines become rejects); so does a file whose bad lines
come after a good first sample (a damaged tail): the sample bounds the cost of the check, and a huge file of the
wrong format is refused after reading its first lines only. The same rule holds whether the format was given,
configured for the source or detected (a detected format that rejects most lines is a variant anatole does not
read, or a damaged file).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from i18n import _
from ingest.cdr import SNIFF_BYTES, CallRecord, ParseContext, Reject, Skipped, UnknownFormat, detect, parser

SAMPLE_LINES = 1000  # lines of the file read to judge it
MIN_RECORDS = 5  # fewer records than this in the sample: too few to judge, the file imports
NOT_A_RECORD = "not a record"  # the Skipped.what prefix of lines a lenient parser does not recognise


@dataclass(frozen=True)
class Sample:
    """What the row parser made of the first lines of a file."""

    lines: int
    calls: int
    rejected: int  # rejects plus lines not recognised as records
    complete: bool  # the sample is the whole file
    first_reject: str = ""  # "line N: reason" of the first one


def sample(path: Path, fmt: str, ctx: ParseContext, lines: int = SAMPLE_LINES) -> Sample:
    """Parse the first `lines` lines of `path` as `fmt` and count calls and rejects."""
    calls = rejected = seen = 0
    first = ""
    with Path(path).open("rb") as stream:
        items = parser(fmt).parse(stream, ctx)
        for item in itertools.islice(items, lines):
            seen += 1
            if isinstance(item, CallRecord):
                calls += 1
            elif isinstance(item, Reject) or (isinstance(item, Skipped) and item.what.startswith(NOT_A_RECORD)):
                rejected += 1
                if not first:
                    why = getattr(item, "reason", None) or item.what
                    first = _("line {line}: {why}").format(line=item.line,
                                                           why=why if len(why) <= 100 else why[:99] + "…")
        complete = next(items, None) is None
    return Sample(seen, calls, rejected, complete, first)


def wrong_format(path: Path, fmt: str, ctx: ParseContext, how: str, *, outcome: str | None = None) -> str | None:
    """Why `path` cannot be read as `fmt` (a message for the user), or None when it can.

    `how` says where the format came from: "given" (--format), "source 'NAME'" (a configured source), "detected",
    or "detected on FILE" (batch-rate: the first input's format applies to all)."""
    outcome = outcome or _("Nothing was stored.")
    got = sample(path, fmt, ctx)
    records = got.calls + got.rejected
    if records < MIN_RECORDS or got.rejected * 2 <= records:
        return None
    share = (_("{rejected} of {records} lines") if got.complete else _("{rejected} of the first {records} lines")
             ).format(rejected=got.rejected, records=records)
    if how == "given":
        origin = f"--format {fmt}"
    elif how.startswith("source "):
        origin = _("source {name} is {fmt}").format(name=how[len("source "):], fmt=fmt)
    elif how.startswith("detected on "):
        origin = _("detected on {file}").format(file=how[len("detected on "):])
    else:
        origin = _("detected")
    try:
        with Path(path).open("rb") as f:
            seen, confidence = detect(f.read(SNIFF_BYTES))
    except UnknownFormat:
        seen, confidence = "", 0
    if seen and seen != fmt:
        if how == "given":
            advice = _("this file looks like {seen} (confidence {confidence}): try --format {seen} or leave "
                       "--format out")
        elif how.startswith("detected"):  # batch-rate: the format detected on its first input
            advice = _("this file looks like {seen} (confidence {confidence}): rate it on its own, or give "
                       "--format {seen}")
        else:
            advice = _("this file looks like {seen} (confidence {confidence}): give --format {seen}, or import it "
                       "with the [[source]] of that PBX")
    elif seen:
        advice = _("auto-detection sees {seen} too (confidence {confidence}): the file is damaged or a variant "
                   "anatole does not read; give a [csv.<profile>] mapping with --format csv:<profile>")
    else:
        advice = _("auto-detection cannot tell the format either: give the right --format, or a [csv.<profile>] "
                   "mapping with --format csv:<profile>")
    text = _("{path}: {share} rejected as {fmt} ({origin}); {advice}").format(
        path=path, share=share, fmt=fmt, origin=origin, advice=advice.format(seen=seen, confidence=confidence))
    if got.first_reject:
        text = _("{message} (first reject: {reject})").format(message=text, reject=got.first_reject)
    return f"{text}. {outcome}"


def fmt_given(fmt: str | None) -> bool:
    """Whether the user named a format (rather than leaving it to detection or to the source)."""
    return bool(fmt) and fmt != "auto"
