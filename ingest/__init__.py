"""File formats: pure parsers from bytes to canonical records plus rejects. No database, no screen."""
