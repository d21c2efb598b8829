"""`anatole bench`: run the benchmark suite here and plan capacity; `anatole bench compare` and `bench runs` read the
runs saved in the workspace."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from anatole.clitools import console, emit_json, fail, store, workspace

# (area, figure key, label, unit, baseline key, baseline label): the table's rows, anatole's figure beside its baseline
ROWS = [
    ("rate", "engine_calls_per_s", "engine, 1 thread", "calls/s", "python_dict_calls_per_s", "Python dict loop"),
    ("ingest", "batch_rows_per_s", "batch-rate to CSV", "rows/s", "pyarrow_rows_per_s", "pyarrow read_csv"),
    ("store", "import_calls_per_s", "import cdr into SQLite", "calls/s", "insert_calls_per_s",
     "insert_calls alone"),
    ("store", "bytes_per_call", "bytes per stored call", "B", None, None),
    ("recon", "engine_lines_per_s", "reconcile kernel", "lines/s", "pandas_seconds", "pandas merge_asof"),
    ("live", "records_per_s", "daemon, TCP to subscriber", "records/s", "file_import_records_per_s",
     "import cdr of a file"),
    ("live", "latency_p99_ms", "latency p99", "ms", None, None),
]


def _num(value: Any, unit: str = "") -> str:
    if not isinstance(value, int | float):
        return "" if value is None else str(value)
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def _baseline(figures: dict[str, Any], area: str, key: str | None) -> tuple[str, str]:
    """The baseline's value and anatole's figure against it ("3.2x faster")."""
    got = figures.get(area, {})
    if key is None:
        return "", ""
    if key == "pandas_seconds":  # the recon baselines are timed in seconds: compare the times
        seconds = got.get("pandas_seconds")
        if seconds is None:
            return str(got.get("pandas", "")), ""
        return f"{seconds:.3g} s (engine {got['engine_seconds']:.3g} s)", f"{seconds / got['engine_seconds']:.2g}x"
    value = got.get(key)
    if value is None:
        return str(got.get("pyarrow", "")) if area == "ingest" else "", ""
    mine = {"rate": "engine_calls_per_s", "ingest": "batch_rows_per_s", "store": "import_calls_per_s",
            "live": "records_per_s"}[area]
    return _num(value), f"{got[mine] / value:.2g}x"


def render(figures: dict[str, Any], plan: dict[str, Any] | None, run_id: int | None) -> None:
    out = console()
    m = figures["machine"]
    out.print(f"[bold]anatole bench[/] ({figures['size']}, {figures['seconds']:.0f} s) on {m['host']}: {m['cpu']}, "
              f"{m['cores']} cores; load average {m['load_average_before'][0]} before, "
              f"{m['load_average_after'][0]} after (other processes share the cores)")
    table = Table(title="Figures (anatole beside the baseline measured in the same run)")
    for col in ("area", "figure", "anatole", "baseline", "baseline figure", "anatole speed / baseline"):
        table.add_column(col, justify="right" if col in ("anatole", "baseline figure") else "left")
    shown = set()
    for area, key, label, unit, base_key, base_label in ROWS:
        got = figures.get(area, {})
        if "skipped" in got:
            if area not in shown:
                table.add_row(area, "skipped", "", "", "", got["skipped"])
            shown.add(area)
            continue
        shown.add(area)
        base_value, ratio = _baseline(figures, area, base_key)
        table.add_row(area, label, _num(got.get(key), unit), base_label or "", base_value, ratio)
    out.print(table)
    if plan is not None:
        p = plan["profile"]
        title = (f"Capacity plan: {p['extensions']} extensions x {p['calls_per_extension_per_day']:g} calls/day, "
                 f"busy hour {p['busy_hour_share']:.0%}, {p['retention_months']} months, {p['sites']} site(s) = "
                 f"{plan['calls_per_month']:,} calls/month")
        table = Table(title=title)
        for col in ("check", "need", "this machine", "headroom", "ok", "rule"):
            table.add_column(col)
        for c in plan["checks"]:
            table.add_row(c["check"], c["need"], c["have"], _num(c["headroom"]) + "x",
                          "[green]yes[/]" if c["ok"] else "[red]no[/]", c["rule"])
        out.print(table)
        if plan["suffices"]:
            out.print("[green]This machine suffices for the profile.[/]")
        elif plan["suffices"] is None:
            out.print("No figure to plan with (every area was skipped).")
        else:
            out.print("[red]This machine does not suffice.[/] Add:")
            for line in plan["add"]:
                out.print(f"  - {line}", markup=False)
    if run_id is not None:
        out.print(f"Saved as run {run_id} (`anatole bench compare` shows it beside the previous run).")


def _open_bench(ctx: click.Context, required: bool) -> tuple[Any, Any] | None:
    """(store, BenchStore) of the workspace; None when there is no anatole.toml and it is not required."""
    from anatole.config import workspace_path
    from store.bench import BenchStore, BenchStoreError

    if not required and not (workspace_path(ctx.obj["workspace"]) / "anatole.toml").exists():
        return None
    st = store(workspace(ctx))
    try:
        return st, BenchStore(st.conn)
    except BenchStoreError as exc:
        st.close()
        fail(str(exc))
    return None


@click.group("bench", invoke_without_command=True)
@click.option("--quick", is_flag=True, help="About a minute: the 'quick' size.")
@click.option("--size", type=click.Choice(["quick", "standard", "large"]), default=None,
              help="Rows per benchmark: quick (~1 min), standard (~5 min), large (the scripts' full sizes).")
@click.option("--only", multiple=True, type=click.Choice(["rate", "ingest", "store", "recon", "live"]),
              help="Run only these areas (repeatable).")
@click.option("--extensions", type=int, default=500, show_default=True, help="Plan: extensions in all.")
@click.option("--calls-per-extension-per-day", "cpe", type=float, default=20.0, show_default=True)
@click.option("--busy-hour-share", type=float, default=0.15, show_default=True,
              help="Plan: share of a day's calls in its busiest hour.")
@click.option("--retention-months", type=int, default=24, show_default=True)
@click.option("--sites", type=int, default=1, show_default=True, help="Plan: sites (one PBX connection each).")
@click.option("--rerate-hours", type=float, default=1.0, show_default=True,
              help="Plan: a month of calls must re-rate within this many hours.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Also write the JSON to this file.")
@click.option("--no-save", is_flag=True, help="Do not save the run in the workspace.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with every figure and the plan.")
@click.pass_context
def bench(ctx: click.Context, quick: bool, size: str | None, only: tuple[str, ...], extensions: int, cpe: float,
          busy_hour_share: float, retention_months: int, sites: int, rerate_hours: float, output: Path | None,
          no_save: bool, as_json: bool) -> None:
    """Benchmark this machine (rating, ingest, store, reconciliation, live daemon) and plan capacity."""
    if ctx.invoked_subcommand is not None:
        return
    import json
    import socket

    from anatole.bench import AREAS, Profile, plan, run_suite

    if quick and size not in (None, "quick"):
        fail("give --quick or --size, not both")
    size = "quick" if quick else size or "standard"
    for name, value in (("--extensions", extensions), ("--calls-per-extension-per-day", cpe),
                        ("--retention-months", retention_months), ("--sites", sites),
                        ("--rerate-hours", rerate_hours)):
        if value <= 0:
            fail(f"{name} {value}: give a positive number")
    if not 0 < busy_hour_share <= 1:
        fail(f"--busy-hour-share {busy_hour_share}: give a share in (0, 1], e.g. 0.15")
    opened = None if no_save else _open_bench(ctx, required=False)
    err = console(err=True)
    t0 = time.monotonic()

    def progress(area: str) -> None:
        err.print(f"[dim]{time.monotonic() - t0:5.0f} s  {area}...[/]")

    figures = run_suite(size, tuple(a for a in AREAS if not only or a in only), progress=progress)
    from anatole.config import workspace_path

    profile = Profile(extensions=extensions, calls_per_extension_per_day=cpe, busy_hour_share=busy_hour_share,
                      retention_months=retention_months, sites=sites, rerate_hours=rerate_hours)
    capacity = plan(figures, profile, disk_path=workspace_path(ctx.obj["workspace"]).resolve())
    run_id = None
    if opened is not None:
        st, runs = opened
        m = figures["machine"]
        run_id = runs.save(at=int(time.time()), host=m.get("host", socket.gethostname()), size=size,
                           cores=m.get("cores"), cpu=m.get("cpu"), seconds=figures["seconds"], figures=figures,
                           plan=capacity)
        st.close()
    result = {"run": run_id, "figures": figures, "plan": capacity}
    if output is not None:
        output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if as_json:
        emit_json(result)
    else:
        render(figures, capacity, run_id)


@bench.command("runs")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def runs_cmd(ctx: click.Context, as_json: bool) -> None:
    """The benchmark runs saved in the workspace, newest first."""
    st, runs = _open_bench(ctx, required=True)  # type: ignore[misc]
    rows = runs.runs()
    st.close()
    if as_json:
        emit_json(rows)
        return
    table = Table(title="Benchmark runs")
    for col in ("run", "when (UTC)", "host", "size", "cores", "cpu", "seconds"):
        table.add_column(col)
    for r in rows:
        when = dt.datetime.fromtimestamp(r["at"], dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
        table.add_row(str(r["id"]), when, r["host"], r["size"], str(r["cores"]), r["cpu"] or "", f"{r['seconds']:.0f}")
    console().print(table)


@bench.command("compare")
@click.argument("run_a", type=int, required=False)
@click.argument("run_b", type=int, required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def compare_cmd(ctx: click.Context, run_a: int | None, run_b: int | None, as_json: bool) -> None:
    """Two saved runs side by side (default: the two newest), every numeric figure with B/A."""
    from anatole.bench import flatten

    st, runs = _open_bench(ctx, required=True)  # type: ignore[misc]
    try:
        if run_a is None:
            newest = runs.runs(limit=2)
            if len(newest) < 2:
                fail("fewer than two saved runs: run `anatole bench --quick` (again)")
            run_b, run_a = newest[0]["id"], newest[1]["id"]
        elif run_b is None:
            fail("give two runs (RUN_A RUN_B), or none for the two newest")
        a, b = runs.run(run_a), runs.run(run_b)
    finally:
        st.close()
    for rid, got in ((run_a, a), (run_b, b)):
        if got is None:
            fail(f"no benchmark run {rid}: `anatole bench runs` lists them")
    fa, fb = flatten(a["figures"]), flatten(b["figures"])  # type: ignore[index]
    keys = [k for k in dict.fromkeys([*fa, *fb]) if not k.startswith("sizes.")
            and (isinstance(fa.get(k), int | float) or isinstance(fb.get(k), int | float))
            and not isinstance(fa.get(k), bool)]
    rows = []
    for k in keys:
        va, vb = fa.get(k), fb.get(k)
        ratio = vb / va if isinstance(va, int | float) and isinstance(vb, int | float) and va else None
        rows.append({"figure": k, "a": va, "b": vb, "b_over_a": None if ratio is None else rounded3(ratio)})
    if as_json:
        emit_json({"a": {k: a[k] for k in ("id", "at", "host", "size", "cores", "cpu")},  # type: ignore[index]
                   "b": {k: b[k] for k in ("id", "at", "host", "size", "cores", "cpu")},  # type: ignore[index]
                   "figures": rows})
        return
    table = Table(title=f"Run {run_a} ({a['host']}, {a['size']}) against run {run_b} ({b['host']}, {b['size']})")  # type: ignore[index]
    for col in ("figure", f"run {run_a}", f"run {run_b}", "B/A"):
        table.add_column(col, justify="left" if col == "figure" else "right")
    for r in rows:
        table.add_row(r["figure"], _num(r["a"]), _num(r["b"]), "" if r["b_over_a"] is None else f"{r['b_over_a']:.3g}")
    console().print(table)
    if a["size"] != b["size"]:  # type: ignore[index]
        console().print("[yellow]The runs have different sizes: compare throughputs loosely.[/]")


def rounded3(x: float) -> float:
    return float(f"{x:.3g}")
