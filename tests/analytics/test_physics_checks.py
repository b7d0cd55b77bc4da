"""Each physics check flags its fault kind on a short synthetic series, and only it."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import orjson

from cityfabric.analytics.physics_checks import (
    CHECKS,
    FlatlineCheck,
    LampCheck,
    SilenceCheck,
    Site,
)
from cityfabric.analytics.physics_checks_pv import PvCheck
from cityfabric.analytics.physics_checks_sun import sun_at

MINSK = Site(53.9, 27.56)
DAY = 86400.0
T0 = datetime(2026, 6, 1, tzinfo=UTC).timestamp()


def noon() -> float:
    return T0 + 10 * 3600  # 13:00 in Minsk: the sun is high


def midnight() -> float:
    return T0 + 21 * 3600  # 00:00 in Minsk


def test_the_sun_is_up_at_noon_and_down_at_midnight() -> None:
    assert sun_at(noon(), 53.9, 27.56).elevation > 50
    assert sun_at(midnight(), 53.9, 27.56).elevation < -5


def test_lamp_check_flags_a_day_burner_and_a_dead_lamp() -> None:
    check = LampCheck()
    assert check.update(noon(), 0.0, MINSK).score is None  # off by day: no evidence
    day_burner = check.update(noon(), 60.0, MINSK)
    assert (day_burner.score, day_burner.kind) == (1.0, "day_burner")
    assert "daylight" in day_burner.reason
    assert check.update(midnight(), 60.0, MINSK).score == 0.0  # on at night: healthy
    dead = check.update(midnight(), 0.0, MINSK)
    assert (dead.score, dead.kind) == (1.0, "lamp_failure")
    assert LampCheck().update(noon(), 60.0, Site()).score is None  # no location, no verdict


def test_flatline_flags_a_stuck_meter_but_not_a_meter_idling_at_zero() -> None:
    check = FlatlineCheck()
    scores = []
    for n in range(100):
        value = 10 + 3 * math.sin(n / 5) if n < 90 else 42.5
        scores.append(check.update(T0 + 900 * n, round(value, 2), Site()).score)
    assert max(s or 0 for s in scores[:93]) == 0.0
    assert scores[93] == 1.0  # the fourth identical reading
    idle = FlatlineCheck()
    for n in range(200):  # a crane: long idle runs at zero are its normal
        value = 0.0 if (n // 20) % 2 else 5 + (n % 7)
        found = idle.update(T0 + 60 * n, value, Site())
    assert found.score == 0.0


def test_silence_flags_a_communication_loss_after_three_usual_intervals() -> None:
    check = SilenceCheck()
    for n in range(10):
        check.update(T0 + 900 * n, 1.0, Site())
    last = T0 + 900 * 9
    assert check.silence(last + 1800).score is None
    lost = check.silence(last + 3 * 900 + 60)
    assert (lost.score, lost.kind) == (1.0, "comm_loss")
    assert "usually every 15 min" in lost.reason


def pv_site(loss: float = 0.0) -> Site:
    def expected(seconds: float) -> float:
        sun = sun_at(seconds, 53.9, 27.56)
        return max(0.0, 200 * math.sin(math.radians(sun.elevation)))

    return Site(53.9, 27.56, peak=200.0, expected=expected, expected_is_measured=True)


def run_pv(days: int, output: object) -> list[tuple[float, str]]:
    """Five-minute readings over DAYS; OUTPUT(seconds, expected) gives the measured power."""
    site, check, found = pv_site(), PvCheck(), []
    assert site.expected is not None
    for n in range(days * 288):
        t = T0 + 300 * n
        expected = site.expected(t)
        value = output(t, expected)  # type: ignore[operator]
        f = check.update(t, value, site)
        found.append((f.score or 0.0, f.kind))
    return found


def test_pv_failure_soiling_and_shading() -> None:
    healthy = run_pv(8, lambda t, e: e)
    assert max(s for s, _ in healthy) < 0.9
    dead = run_pv(2, lambda t, e: 0.0)
    assert "pv_failure" in {k for s, k in dead if s == 1.0}
    soiled = run_pv(10, lambda t, e: e * (1 - 0.3 * max(0.0, (t - T0) / DAY - 5) / 5))
    assert {k for s, k in soiled if s >= 0.9} == {"pv_soiling"}

    def shaded(t: float, e: float) -> float:
        az = sun_at(t, 53.9, 27.56).azimuth
        return e * 0.2 if (t - T0) / DAY > 5 and abs(az - 200) < 10 else e

    hits = [k for s, k in run_pv(8, shaded) if s >= 0.9]
    assert hits and set(hits) == {"pv_shading"}


def test_every_check_continues_exactly_from_its_state() -> None:
    for name, spec in CHECKS.items():
        a = spec.make(None)
        site = pv_site() if name == "pv" else MINSK
        for n in range(600):
            a.update(T0 + 300 * n, float(n % 17), site)
        b = spec.make(orjson.loads(orjson.dumps(a.to_state())))
        for n in range(600, 700):
            t, v = T0 + 300 * n, float(n % 13)
            assert a.update(t, v, site) == b.update(t, v, site), name
