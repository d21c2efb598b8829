"""Shared test helpers: build tariffs from dicts, rate with both implementations."""

from __future__ import annotations

import gettext
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The suite speaks English whatever the machine's locale (a French desktop would otherwise turn every CLI
# subprocess French); the French tests ask for French themselves.
os.environ["ANATOLE_LANG"] = "en"


@pytest.fixture
def french(monkeypatch: pytest.MonkeyPatch):
    """French for one test, English again after it. For messages made at run time only: a module that translates at
    import (click help, console bindings) needs a subprocess. i18n.use also sets LANGUAGE and gettext's domain (for
    click's own words): both are put back."""
    import i18n

    monkeypatch.setenv("LANGUAGE", os.environ.get("LANGUAGE", "en"))
    domain = gettext.textdomain()
    before = i18n.current()
    i18n.use("fr")
    try:
        yield
    finally:
        i18n.use(before)
        gettext.textdomain(domain)
