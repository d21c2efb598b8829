"""`anatole demo`: the demo generator, its own sub-package of the CLI.

- `calls`: the made-up company, its month of calls, the PBX files and the summary (`anatole demo`);
- `hotel`: the hotel demo (`anatole demo --hotel`);
- `inventory`, `invoices`, `mobile`: the company's line inventory and allocation, carrier invoices, mobile usage.

What callers used from the former `anatole.demo` module is re-exported here: `from anatole.demo import run_demo`
keeps working. Tests that patch the module's internals use `anatole.demo.calls`.
"""

from anatole.demo.calls import (
    CDR_FOLDER,
    MARKER,
    SITE_NAMES,
    SITES,
    TARIFF_FILES,
    CallBatch,
    DemoError,
    RatedBatch,
    Site,
    check_folder,
    create_workspace,
    generate_calls,
    is_demo_workspace,
    rate_calls,
    render_summary,
    run_demo,
    summarise,
    write_pbx_files,
)

__all__ = ["CDR_FOLDER", "MARKER", "SITES", "SITE_NAMES", "TARIFF_FILES", "CallBatch", "DemoError", "RatedBatch",
           "Site", "check_folder", "create_workspace", "generate_calls", "is_demo_workspace", "rate_calls",
           "render_summary", "run_demo", "summarise", "write_pbx_files"]
