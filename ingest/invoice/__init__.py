"""Carrier invoice formats, one module per format: bytes -> canonical invoices (+ problems with reasons)."""
