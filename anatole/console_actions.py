"""What the console's Inventory and Reports screens need of `tem`, handed to `tui` as plain callables.

tui and tem are siblings (DESIGN.md: anatole -> tui, pbx, tem), so the screens never import tem: `anatole ui` builds
tui.context.InventoryActions and ReportActions here. Each callable is blocking (the screens call it in a worker
thread), opens its own connection to the workspace's database, and turns tem's and the store's errors into
tui.context.ActionError with a message for the user.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from i18n import _


@contextmanager
def guard(db_path: Path) -> Iterator[Any]:
    """An open store over `db_path`; every failure a user can cause becomes an ActionError for the screen."""
    from store.db import StoreError, open_existing
    from store.inventory import InventoryStoreError
    from store.invoices import InvoiceStoreError
    from tem.allocation import AllocationError
    from tem.inventory import InventoryError
    from tem.reconcile import ReconcileError
    from tem.reports import ReportError
    from tem.workflow import WorkflowError
    from tui.context import ActionError

    try:
        store = open_existing(db_path, timeout=10.0)
    except StoreError as exc:
        raise ActionError(str(exc)) from None
    try:
        yield store
    except (InventoryError, InventoryStoreError, ReportError, AllocationError, WorkflowError, ReconcileError,
            InvoiceStoreError) as exc:
        raise ActionError(str(exc)) from None
    except sqlite3.OperationalError as exc:
        busy = "locked" in str(exc) or "busy" in str(exc)
        raise ActionError(_("the database is locked by another program: try again in a moment") if busy
                          else _("cannot use the database: {problem}").format(problem=exc)) from None
    finally:
        store.close()


# --- Inventory ---------------------------------------------------------------------------------------------------


def inventory_actions(db_path: Path) -> Any:
    """tui.context.InventoryActions over the database at `db_path`."""
    from tem.inventory import FILE_KINDS
    from tui.context import InventoryActions

    return InventoryActions(kinds=tuple(FILE_KINDS), preview=partial(_preview, Path(db_path)))


def _preview(db_path: Path, path: Path, file_kind: str, effective: str | None, partial_file: bool) -> dict[str, Any]:
    """`anatole inventory import FILE --kind K [--effective D] [--partial]` (the preview: nothing written)."""
    from store.inventory import open_inventory
    from tem.inventory import FILE_KINDS, import_file
    from tui.context import ActionError

    if file_kind not in FILE_KINDS:
        raise ActionError(_("unknown kind {kind} (one of: {kinds})").format(kind=repr(file_kind),
                                                                           kinds=", ".join(FILE_KINDS)))
    with guard(db_path) as store:
        p, _applied = import_file(open_inventory(store.conn), Path(path), FILE_KINDS[file_kind], effective=effective,
                           partial=partial_file, apply_it=False)
        return {**p.as_json(), "blocking": len(p.blocking)}


# --- Reports -----------------------------------------------------------------------------------------------------


class _Reports:
    """Builds reports for the screen and exports the one on screen (the last built is kept, so that an export
    writes exactly what the user saw, without computing it again)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._lock = threading.Lock()
        self._last: tuple[tuple[str, str], Any] | None = None

    def _context(self, store: Any) -> Any:
        from store.inventory import open_inventory
        from store.reports import open_queries
        from tem.reports import Context

        return Context(self.ws, open_queries(store.conn), open_inventory(store.conn))

    def latest(self) -> str | None:
        from store.reports import open_queries
        from tem.allocation import latest_period

        with guard(self.ws.db_path) as store:
            return latest_period(open_queries(store.conn), {n: s.timezone for n, s in self.ws.sites.items()})

    def _report(self, name: str, period: str) -> Any:
        from tem.reports import build

        with self._lock:
            if self._last is not None and self._last[0] == (name, period):
                return self._last[1]
        with guard(self.ws.db_path) as store:
            report = build(self._context(store), name, period)
        with self._lock:
            self._last = ((name, period), report)
        return report

    def build(self, name: str, period: str) -> dict[str, Any]:
        with self._lock:
            self._last = None  # the screen asks again: read the store again
        r = self._report(name, period)
        return {"name": r.name, "title": r.title, "period": r.period, "columns": list(r.columns),
                "rows": r.text_rows(), "chart": r.chart, "notes": list(r.notes),
                "display_rows": r.display_rows(), "currencies": r.row_currencies()}

    def export(self, name: str, period: str, fmt: str, path: Path) -> None:
        from tem.reports import FORMATS, write
        from tui.context import ActionError

        if fmt not in FORMATS:
            raise ActionError(_("format {format} is not one of: {formats}").format(format=repr(fmt),
                                                                                  formats=", ".join(FORMATS)))
        report = self._report(name, period)
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write(report, fmt, path)
        except OSError as exc:
            raise ActionError(_("{path}: cannot be written ({problem})").format(path=path,
                                                                               problem=exc.strerror or exc)) from None


def report_actions(ws: Any) -> Any:
    """tui.context.ReportActions for the workspace `ws` (its sites, settings and database)."""
    from tem.reports import FORMATS, REPORTS
    from tui.context import ReportActions

    runner = _Reports(ws)
    return ReportActions(reports=dict(REPORTS), formats=tuple(FORMATS), latest=runner.latest, build=runner.build,
                         export=runner.export)
