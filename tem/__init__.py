"""Telecom expense management: invoice validation, audit, reconciliation, disputes, allocation, reports."""
