"""The hotel front desk: rooms mapped to extensions, stays, guest charge rules, and the daemon's hook that turns each
stored guest call into a folio charge and (with a PMS) a queued posting.

Layering: `anatole -> tui, pbx, tem -> hotel -> ingest, tariffs, store -> engine`. `hotel` holds no SQL (that is
`store/hotel.py`) and no I/O loop (the FIAS link is `pbx/fias.py`, trio); `pbx` and `tui` may import it.
"""
