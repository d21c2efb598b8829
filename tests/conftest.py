"""Shared test helpers: build tariffs from dicts, rate with both implementations."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The suite speaks English whatever the machine's locale (a French desktop would otherwise turn every CLI
# subprocess French); the French tests ask for French themselves.
os.environ["ANATOLE_LANG"] = "en"
