"""The filter line of the console: what it accepts, and a clear message naming the word for what it does not."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from engine.money import SCALE
from tui.filters import CallFilter, FilterError, parse_filter

SITES = {"paris": "Europe/Paris", "london": "Europe/London"}


def zone_of(site: str | None) -> str:
    return SITES.get(site or "", "Europe/Paris")


def parse(text: str) -> CallFilter:
    return parse_filter(text, zone_of=zone_of, sites=SITES)


def local(y: int, m: int, d: int, zone: str) -> int:
    return int(dt.datetime(y, m, d, tzinfo=ZoneInfo(zone)).timestamp())


def test_every_key() -> None:
    f = parse("from:2025-03-01 to:2025-04-01 site:london ext:2001 dest:mobile dir:out min:1.5 num:+336 "
              "status:rated")
    assert f.start == local(2025, 3, 1, "Europe/London") and f.end == local(2025, 4, 1, "Europe/London")
    assert (f.site, f.extension, f.destination, f.direction, f.number, f.status) == \
        ("london", "2001", "mobile", "outgoing", "336", "rated")
    assert f.min_cost == 3 * SCALE // 2
    assert f.store_args() == {"start": f.start, "end": f.end, "site": "london", "extension": "2001",
                              "destination": "mobile", "direction": "outgoing", "min_cost": f.min_cost,
                              "number": "336", "status": "rated"}


def test_month_day_bare_words_and_quotes() -> None:
    f = parse('month:2025-12 "dest:united kingdom"')
    assert (f.start, f.end) == (local(2025, 12, 1, "Europe/Paris"), local(2026, 1, 1, "Europe/Paris"))
    assert f.destination == "united kingdom"
    g = parse("day:2025-03-30 mobile 4420")
    assert g.end - g.start == 23 * 3600  # the day the clocks go forward in Paris
    assert (g.destination, g.number) == ("mobile", "4420")
    assert parse("").empty and parse("cost>=2").min_cost == 2 * SCALE


@pytest.mark.parametrize("text, message", [
    ("from:2025-13-45", "from:2025-13-45: not a date"),
    ("to:yesterday", "to:yesterday: not a date"),
    ("min:12abc", "min:12abc: not an amount"),
    ("min:-3", "an amount of zero or more"),
    ("num:33x", "num:33x: digits only"),
    ("site:tokyo", "site:tokyo: no such site (sites: london, paris)"),
    ("dir:sideways", "dir:sideways: use in, out, int or transit"),
    ("color:red", "unknown filter 'color'"),
    ("ext:", "give a value after ext:"),
    ("from:2025-03-02 to:2025-03-01", "to: must be after from:"),
    ('dest:"open', "close the quote"),
    ("site:paris site:london", "site: is given twice"),
    ("month:2025-13", "month:2025-13: not a month"),
    ("status:happy", "status:happy: one of rated"),
])
def test_nonsense_is_named(text: str, message: str) -> None:
    with pytest.raises(FilterError) as err:
        parse(text)
    assert message in str(err.value)


def test_person_and_cost_centre_are_hooks_refused_by_the_store_query() -> None:
    f = parse("person:alice cc:sales")
    assert (f.person, f.cost_centre) == ("alice", "sales")
    with pytest.raises(FilterError, match="directory"):
        f.store_args()


def test_live_matching() -> None:
    f = parse("site:paris dir:out dest:mobile min:0.10")
    base = {"site": "paris", "extension": "2001", "direction": "outgoing", "number": "33612345678"}
    assert f.matches(**base, destination="France Mobile", cost=SCALE // 10)
    assert not f.matches(**base, destination="France Mobile", cost=SCALE // 10 - 1)
    assert not f.matches(**base, destination="France Fixed", cost=SCALE)
    assert not f.matches(**{**base, "site": "lyon"}, destination="France Mobile", cost=SCALE)
    assert f.matches(**base)  # a call in progress: destination and cost are not known yet
    assert not parse("num:44").matches(**base)


def test_french_key_names_mean_the_same() -> None:
    """The keys' French names (issue 19) work in any language, with the French directions; a key given under both
    of its names is given twice. The cell filter replaces a word typed under the other name."""
    from tui.filters import canonical_key
    from tui.table import combine_filter

    french = parse("du:2025-03-01 au:2025-04-01 site:london poste:2001 sens:sortant statut:rated")
    english = parse("from:2025-03-01 to:2025-04-01 site:london ext:2001 dir:out status:rated")
    assert french == english and french.direction == "outgoing"
    assert parse("mois:2025-03") == parse("month:2025-03") and parse("jour:2025-03-14") == parse("day:2025-03-14")
    with pytest.raises(FilterError, match="given twice"):
        parse("ext:2001 poste:2002")
    assert combine_filter("statut:rated poste:2001", "ext", "2002", canonical=canonical_key) == \
        "statut:rated ext:2002"
