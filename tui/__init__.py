"""The Textual console (`anatole ui`, `anatole monitor`): screens over the store and the daemon's socket. No trio."""

# the screens of `anatole ui`, in the order of their number keys (here, so the CLI need not import Textual)
SCREENS_UI = ("live", "calls", "tariffs", "rejects", "invoices", "frontdesk", "inventory", "reports", "mobile")
