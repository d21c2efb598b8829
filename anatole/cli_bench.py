"""`anatole bench`: run the benchmark suite here and plan capacity; `anatole bench compare` and `bench runs` read the
runs saved in the workspace."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from anatole.clitools import console, count, emit_json, fail, store, workspace
from i18n import N_, _

# (area, figure key, label, unit, baseline key, baseline label): the table's rows, anatole's figure beside its baseline
ROWS = [
    ("rate", "engine_calls_per_s", N_("engine, 1 thread"), N_("calls/s"), "python_dict_calls_per_s",
     N_("Python dict loop")),
    ("ingest", "batch_rows_per_s", N_("batch-rate to CSV"), N_("rows/s"), "pyarrow_rows_per_s", "pyarrow read_csv"),
    ("store", "import_calls_per_s", N_("import cdr into SQLite"), N_("calls/s"), "insert_calls_per_s",
     N_("insert_calls alone")),
    ("store", "bytes_per_call", N_("bytes per stored call"), "B", None, None),
    ("recon", "engine_lines_per_s", N_("reconcile kernel"), N_("lines/s"), "pandas_seconds", "pandas merge_asof"),
    ("live", "records_per_s", N_("daemon, TCP to subscriber"), N_("records/s"), "file_import_records_per_s",
     N_("import cdr of a file")),
    ("live", "latency_p99_ms", N_("latency p99"), "ms", None, None),
]
# the plan's checks (their English names are the JSON's keys) as a person reads them
CHECKS = {"live collection": N_("live collection"), "batch re-rating (a month)": N_("batch re-rating (a month)"),
          "storage": N_("storage"), "reconciliation (a month)": N_("reconciliation (a month)")}


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
        engine = got["engine_seconds"]
        return (_("{seconds} s (engine {engine} s)").format(seconds=f"{seconds:.3g}", engine=f"{engine:.3g}"),
                f"{seconds / engine:.2g}x")
    value = got.get(key)
    if value is None:
        return str(got.get("pyarrow", "")) if area == "ingest" else "", ""
    mine = {"rate": "engine_calls_per_s", "ingest": "batch_rows_per_s", "store": "import_calls_per_s",
            "live": "records_per_s"}[area]
    return _num(value), f"{got[mine] / value:.2g}x"


def render(figures: dict[str, Any], plan: dict[str, Any] | None, run_id: int | None) -> None:
    out = console()
    m = figures["machine"]
    out.print("[bold]anatole bench[/] " + _("({size}, {seconds} s) on {host}: {cpu}, {cores} cores; load average "
                                            "{before} before, {after} after (other processes share the cores)").format(
        size=figures["size"], seconds=f"{figures['seconds']:.0f}", host=m["host"], cpu=m["cpu"], cores=m["cores"],
        before=m["load_average_before"][0], after=m["load_average_after"][0]))
    table = Table(title=_("Figures (anatole beside the baseline measured in the same run)"))
    for col in (N_("area"), N_("figure"), "anatole", N_("baseline"), N_("baseline figure"),
                N_("anatole speed / baseline")):
        table.add_column(_(col), justify="right" if col in ("anatole", "baseline figure") else "left")
    shown = set()
    for area, key, label, unit, base_key, base_label in ROWS:
        got = figures.get(area, {})
        if "skipped" in got:
            if area not in shown:
                table.add_row(area, _("skipped"), "", "", "", got["skipped"])
            shown.add(area)
            continue
        shown.add(area)
        base_value, ratio = _baseline(figures, area, base_key)
        table.add_row(area, _(label), _num(got.get(key), _(unit)), _(base_label) if base_label else "", base_value,
                      ratio)
    out.print(table)
    if plan is not None:
        p = plan["profile"]
        title = _("Capacity plan: {extensions} extensions x {calls} calls/day, busy hour {share}, {months} months, "
                  "{sites} site(s) = {month} calls/month").format(
            extensions=p["extensions"], calls=f"{p['calls_per_extension_per_day']:g}",
            share=f"{p['busy_hour_share']:.0%}", months=p["retention_months"], sites=p["sites"],
            month=count(plan["calls_per_month"]))
        table = Table(title=title)
        for col in (N_("check"), N_("need"), N_("this machine"), N_("headroom"), N_("ok"), N_("rule")):
            table.add_column(_(col))
        for c in plan["checks"]:
            ok = "[green]" + _("yes") + "[/]" if c["ok"] else "[red]" + _("no") + "[/]"
            table.add_row(_(CHECKS[c["check"]]) if c["check"] in CHECKS else c["check"], c["need"], c["have"],
                          _num(c["headroom"]) + "x", ok, c["rule"])
        out.print(table)
        if plan["suffices"]:
            out.print("[green]" + _("This machine suffices for the profile.") + "[/]")
        elif plan["suffices"] is None:
            out.print(_("No figure to plan with (every area was skipped)."))
        else:
            out.print("[red]" + _("This machine does not suffice.") + "[/] " + _("Add:"))
            for line in plan["add"]:
                out.print(f"  - {line}", markup=False)
    if run_id is not None:
        out.print(_("Saved as run {run} (`anatole bench compare` shows it beside the previous run).").format(
            run=run_id))


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


@click.group("bench", invoke_without_command=True, help=_(
    "Benchmark this machine (rating, ingest, store, reconciliation, live daemon) and plan capacity."))
@click.option("--quick", is_flag=True, help=_("About a minute: the 'quick' size."))
@click.option("--size", type=click.Choice(["quick", "standard", "large"]), default=None,
              help=_("Rows per benchmark: quick (~1 min), standard (~5 min), large (the scripts' full sizes)."))
@click.option("--only", multiple=True, type=click.Choice(["rate", "ingest", "store", "recon", "live"]),
              help=_("Run only these areas (repeatable)."))
@click.option("--extensions", type=int, default=500, show_default=True, help=_("Plan: extensions in all."))
@click.option("--calls-per-extension-per-day", "cpe", type=float, default=20.0, show_default=True,
              help=_("Plan: calls each extension makes a day."))
@click.option("--busy-hour-share", type=float, default=0.15, show_default=True,
              help=_("Plan: share of a day's calls in its busiest hour."))
@click.option("--retention-months", type=int, default=24, show_default=True,
              help=_("Plan: months of calls kept in the store."))
@click.option("--sites", type=int, default=1, show_default=True, help=_("Plan: sites (one PBX connection each)."))
@click.option("--rerate-hours", type=float, default=1.0, show_default=True,
              help=_("Plan: a month of calls must re-rate within this many hours."))
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help=_("Also write the JSON to this file."))
@click.option("--no-save", is_flag=True, help=_("Do not save the run in the workspace."))
@click.option("--json", "as_json", is_flag=True, help=_("Print one JSON object with every figure and the plan."))
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
        fail(_("give --quick or --size, not both"))
    size = "quick" if quick else size or "standard"
    for name, value in (("--extensions", extensions), ("--calls-per-extension-per-day", cpe),
                        ("--retention-months", retention_months), ("--sites", sites),
                        ("--rerate-hours", rerate_hours)):
        if value <= 0:
            fail(_("{option} {value}: give a positive number").format(option=name, value=value))
    if not 0 < busy_hour_share <= 1:
        fail(_("--busy-hour-share {value}: give a share in (0, 1], e.g. 0.15").format(value=busy_hour_share))
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


@bench.command("runs", help=_("The benchmark runs saved in the workspace, newest first."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
@click.pass_context
def runs_cmd(ctx: click.Context, as_json: bool) -> None:
    """The benchmark runs saved in the workspace, newest first."""
    st, runs = _open_bench(ctx, required=True)  # type: ignore[misc]
    rows = runs.runs()
    st.close()
    if as_json:
        emit_json(rows)
        return
    from store import display

    table = Table(title=_("Benchmark runs"))
    for col in (N_("run"), N_("when"), N_("host"), N_("size"), N_("cores"), N_("cpu"), N_("seconds")):
        table.add_column(_(col))
    for r in rows:
        when = display.when(r["at"], "UTC")
        table.add_row(str(r["id"]), when, r["host"], r["size"], str(r["cores"]), r["cpu"] or "", f"{r['seconds']:.0f}")
    console().print(table)


@bench.command("compare", help=_("Two saved runs side by side (default: the two newest), every numeric figure with "
                                  "B/A."))
@click.argument("run_a", type=int, required=False)
@click.argument("run_b", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
@click.pass_context
def compare_cmd(ctx: click.Context, run_a: int | None, run_b: int | None, as_json: bool) -> None:
    """Two saved runs side by side (default: the two newest), every numeric figure with B/A."""
    from anatole.bench import flatten

    st, runs = _open_bench(ctx, required=True)  # type: ignore[misc]
    try:
        if run_a is None:
            newest = runs.runs(limit=2)
            if len(newest) < 2:
                fail(_("fewer than two saved runs: run `anatole bench --quick` (again)"))
            run_b, run_a = newest[0]["id"], newest[1]["id"]
        elif run_b is None:
            fail(_("give two runs (RUN_A RUN_B), or none for the two newest"))
        a, b = runs.run(run_a), runs.run(run_b)
    finally:
        st.close()
    for rid, got in ((run_a, a), (run_b, b)):
        if got is None:
            fail(_("no benchmark run {run}: `anatole bench runs` lists them").format(run=rid))
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
    table = Table(title=_("Run {a} ({host_a}, {size_a}) against run {b} ({host_b}, {size_b})").format(
        a=run_a, host_a=a["host"], size_a=a["size"], b=run_b, host_b=b["host"], size_b=b["size"]))  # type: ignore[index]
    for i, col in enumerate((_("figure"), _("run {run}").format(run=run_a), _("run {run}").format(run=run_b), "B/A")):
        table.add_column(col, justify="left" if i == 0 else "right")
    for r in rows:
        table.add_row(r["figure"], _num(r["a"]), _num(r["b"]), "" if r["b_over_a"] is None else f"{r['b_over_a']:.3g}")
    console().print(table)
    if a["size"] != b["size"]:  # type: ignore[index]
        console().print("[yellow]" + _("The runs have different sizes: compare throughputs loosely.") + "[/]")


def rounded3(x: float) -> float:
    return float(f"{x:.3g}")
