"""Docker's time words and formats, as ``docker ps`` and ``--since`` use them."""

import pytest

from wharf.humanize import human_duration
from wharf.engine.timefmt import (ZERO_TIME, parse_go_duration, parse_rfc3339,
                                  parse_timestamp, rfc3339nano)


@pytest.mark.parametrize("seconds,words", [
    (0.4, "Less than a second"), (1, "1 second"), (3, "3 seconds"), (59, "59 seconds"),
    (60, "About a minute"), (119, "About a minute"), (120, "2 minutes"),
    (3599, "59 minutes"), (3600, "About an hour"), (7200, "2 hours"),
    (47 * 3600, "47 hours"), (3 * 86400, "3 days"), (15 * 86400, "2 weeks"),
    (90 * 86400, "3 months"), (800 * 86400, "2 years"),
])
def test_human_duration_matches_go_units(seconds, words):
    assert human_duration(seconds) == words



def test_rfc3339nano_trims_trailing_zeros_and_round_trips():
    ns = 1_700_000_000_120_000_000
    assert rfc3339nano(ns) == "2023-11-14T22:13:20.12Z"
    assert parse_rfc3339(rfc3339nano(ns)) == ns
    assert rfc3339nano(1_700_000_000 * 10**9) == "2023-11-14T22:13:20Z"
    assert rfc3339nano(0) == ZERO_TIME and parse_rfc3339(ZERO_TIME) == 0


def test_since_accepts_unix_time_durations_and_dates():
    assert parse_timestamp("1700000000.5") == 1700000000.5
    assert parse_timestamp("10m", now=1000.0) == 400.0
    assert parse_timestamp("1h30m", now=10000.0) == 10000.0 - 5400
    assert parse_timestamp("2023-11-14T22:13:20Z") == 1700000000
    assert parse_timestamp("2023-11-14") == 1699920000
    with pytest.raises(ValueError):
        parse_timestamp("yesterday")


def test_go_duration_rejects_garbage():
    assert parse_go_duration("1.5s") == 1.5
    assert parse_go_duration("300ms") == pytest.approx(0.3)
    assert parse_go_duration("5 minutes") is None
    assert parse_go_duration("") is None
