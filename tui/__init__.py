"""The Textual console (`anatole ui`, `anatole monitor`): screens over the store and the daemon's socket. No trio."""
