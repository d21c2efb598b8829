"""The import, batch-rate and re-rate pipelines: files in through `ingest/`, rated by `engine/` (via `tariffs/`),
written by `store/` (import, re-rate) or to CSV/Parquet (batch-rate), on one machine or on Dask workers.

They sit between the CLI (`anatole`, which parses options and opens the workspace) and the parsers, engine and
store. Arrows point down: this package never imports `anatole`, `tui` or `pbx` (tests/test_layers.py checks it).
What they read of the workspace is `pipeline.workspace`; `anatole.config` fills it from `anatole.toml` and registers
its loader for the Dask workers.

- `cdrimport`: `anatole import cdr` (and the live daemon's per-record rules: `call_rows`, `live_direction`);
- `batchrate`: `anatole batch-rate` to CSV or Parquet, no store;
- `columnar`: the block path both use (classify, rate and store a block of columns);
- `distributed`: the same on Dask workers (batch-rate, what-if), one task per byte range of the input;
- `rerate`: `anatole rerate` of stored calls, page by page;
- `formatcheck`: a file given with the wrong format is refused before anything is written.
"""
