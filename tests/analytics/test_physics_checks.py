"""Each physics check flags its fault kind on a short synthetic series, and only it."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest

from cityfabric.analytics.physics_checks import (
    CHECKS,
    FlatlineCheck,
    LampCheck,
    SilenceCheck,
    Site,
)
from cityfabric.analytics.physics_checks_pv import PvCheck, peer_reference
from cityfabric.analytics.physics_checks_reference import ReferenceCheck
from cityfabric.analytics.physics_checks_series import (
    BatteryCheck,
    LevelCheck,
    SpikeCheck,
    StuckCheck,
)
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


def test_pv_shading_is_flagged_on_the_first_day_the_shadow_falls() -> None:
    def shaded(t: float, e: float) -> float:
        az = sun_at(t, 53.9, 27.56).azimuth
        return e * 0.2 if (t - T0) / DAY > 5 and abs(az - 200) < 10 else e

    found = run_pv(7, shaded)
    first = next(n for n, (s, k) in enumerate(found) if s >= 0.9 and k == "pv_shading")
    assert 5 * 288 < first < 6 * 288  # the day it starts, not the day after
    assert first - next(n for n in range(5 * 288, 7 * 288) if found[n][1] == "pv_shading") <= 2


def test_pv_soiling_is_judged_on_whole_days_not_on_the_hour() -> None:
    def biased(t: float, e: float) -> float:  # the model errs by the time of day, daily alike
        return e * (1.0 + 0.12 * math.cos(math.radians(sun_at(t, 53.9, 27.56).azimuth)))

    assert max(s for s, k in run_pv(10, biased) if k == "pv_soiling") < 0.9

    def soiled(t: float, e: float) -> float:  # and a panel losing 3 % a day from day 4
        return biased(t, e) * (1.0 - 0.03 * max(0.0, (t - T0) / DAY - 4))

    found = run_pv(10, soiled)
    first = next(n for n, (s, k) in enumerate(found) if s >= 0.9 and k == "pv_soiling")
    assert 4 * 288 < first < 7 * 288


def test_peer_reference_is_the_median_ratio_of_the_panels_in_each_hour() -> None:
    times = np.array([T0 + 36000.0, T0 + 36300.0, T0 + 39600.0])
    expected = np.array([100.0, 100.0, 100.0])
    panels = {
        f"p{k}": (times, expected * factor, expected)
        for k, factor in enumerate([0.9, 0.92, 0.5, 0.95])
    }
    peaks = {p: 200.0 for p in panels}
    hour = int(times[0] // 3600)
    assert peer_reference(panels, peaks) == pytest.approx({hour: 0.91, hour + 1: 0.91})
    two = {k: panels[k] for k in ("p0", "p1")}
    assert peer_reference(two, peaks) == {}  # two panels are no reference


def test_every_check_continues_exactly_from_its_state() -> None:
    for name, spec in CHECKS.items():
        a = spec.make(None)
        site = pv_site() if name == "pv" else MINSK
        if name == "reference":
            site = Site(53.9, 27.56, reference=lambda t: 2.0 + (t % 7))
        for n in range(1200):
            a.update(T0 + 300 * n, float(n % 17), site)
        b = spec.make(orjson.loads(orjson.dumps(a.to_state())))
        for n in range(1200, 1300):
            t, v = T0 + 300 * n, float(n % 13)
            assert a.update(t, v, site) == b.update(t, v, site), name


def daily_load(n: int, step: float = 900.0) -> float:
    """A meter's load at reading N: a daily cycle with a little noise, never repeating."""
    hours = (step * n) % DAY / 3600
    return round(100 + 60 * math.sin(2 * math.pi * hours / 24) + 3 * math.sin(n * 1.7), 2)


def test_spike_flags_one_reading_far_from_its_neighbours_but_not_a_step() -> None:
    check, scores = SpikeCheck(), []
    for n in range(400):
        value = daily_load(n) * (6.0 if n == 300 else 1.0)
        found = check.update(T0 + 900 * n, value, Site())
        scores.append(found.score or 0.0)
    assert max(scores[:301]) < 0.9  # the normal cycle, and the spike itself not yet judged
    assert scores[301] == 1.0  # judged on the reading after it
    assert max(scores[302:]) < 0.9
    step = SpikeCheck()  # a load that moves to a new level and stays there is no spike
    found_step = [
        step.update(T0 + 900 * n, daily_load(n) + (300.0 if n >= 300 else 0.0), Site()).score
        for n in range(400)
    ]
    assert max(s or 0.0 for s in found_step) < 0.9


def test_spike_on_a_meter_idling_at_zero() -> None:
    check, scores = SpikeCheck(), []
    for n in range(400):  # a heating meter: on for a few hours a day
        value = daily_load(n) if (n % 96) < 16 else 0.0
        if n == 350:
            value = 60.0
        scores.append(check.update(T0 + 900 * n, value, Site()).score or 0.0)
    assert max(scores[:351]) < 0.9
    assert scores[351] == 1.0


def test_the_top_of_a_ramp_that_drops_back_is_no_spike() -> None:
    check, scores = SpikeCheck(), []
    ramp = [0.0] * 12 + [9.0, 30.0, 59.0, 94.0, 93.7, 8.0, 0.0, 0.0]  # a heating load, on/off
    for n in range(400):  # a heating meter on for a few hours a day, then this
        idle = daily_load(n) if (n % 96) < 16 else 0.0
        value = idle if n < 300 else ramp[min(n - 300, len(ramp) - 1)]
        scores.append(check.update(T0 + 900 * n, value, Site()).score or 0.0)
    assert max(scores[300:]) < 0.9


def test_stuck_flags_repeats_at_hours_the_meter_moves_but_not_its_resting_values() -> None:
    check, scores = StuckCheck(), []
    for n in range(6 * 96):
        value = daily_load(n) if n < 4 * 96 + 40 else 123.45
        scores.append(check.update(T0 + 900 * n, value, Site()).score or 0.0)
    assert max(scores[: 4 * 96 + 41]) == 0.0
    assert max(scores[4 * 96 + 41 :]) == 1.0
    assert scores.index(1.0) - (4 * 96 + 40) <= 3  # the third repeat: within the hour
    rest = StuckCheck()  # at night the load sits at its base load: a resting value
    for n in range(8 * 96):
        hour = n % 96 / 4
        value = 50.0 if hour >= 20 or hour < 2 else daily_load(n) + 60
        assert (rest.update(T0 + 900 * n, value, Site()).score or 0.0) < 0.9
    idle = StuckCheck()  # a meter off for days (a heating meter in summer) learns it
    for n in range(8 * 96):
        value = daily_load(n) if n < 96 else 0.0
        assert (idle.update(T0 + 900 * n, value, Site()).score or 0.0) < 0.9
    never = StuckCheck()  # nor one that has not moved since its first reading
    for n in range(8 * 96):
        assert never.update(T0 + 900 * n, 0.0, Site()).score == 0.0


def test_stuck_leaves_a_healthy_meter_that_repeats_now_and_then() -> None:
    check, scores = StuckCheck(), []
    for n in range(20 * 96):  # once a day, at another hour each day, a reading sent 3 times
        at = (37 + 29 * (n // 96)) % 93
        value = daily_load(n - min(max(n % 96 - at, 0), 2))
        scores.append(check.update(T0 + 900 * n, value, Site()).score or 0.0)
    assert max(scores) < 0.9
    assert max(scores) > 0.0  # the repeats were seen, just not enough of them


def run_battery(days: int, capacity: object) -> list[float]:
    """A solar lamp's battery, 15-min readings: charged by day, a 40 W lamp at night."""
    check, soc, scores = BatteryCheck(), 0.9, []
    for n in range(days * 96):
        t = T0 + 900 * n
        sun = sun_at(t, 53.9, 27.56).elevation
        wh = capacity(t)  # type: ignore[operator]
        power = 120 * max(0.0, math.sin(math.radians(sun))) if sun > 0 else -40.0
        soc = min(1.0, max(0.0, soc + power * 0.25 / wh))
        scores.append(check.update(t, round(soc, 3), MINSK).score or 0.0)
    return scores


def test_battery_flags_a_battery_that_drains_faster_day_after_day() -> None:
    assert max(run_battery(25, lambda t: 1000.0)) < 0.9
    fading = run_battery(
        25, lambda t: 1000.0 * (1 - 0.6 * min(1.0, max(0.0, (t - T0) / DAY - 8) / 15))
    )
    assert max(fading[: 9 * 96]) == 0.0
    assert max(fading) == 1.0


def test_level_flags_a_drifting_floor_but_not_ordinary_days() -> None:
    def no2(n: int, drift: float) -> float:
        hours = 600 * n % DAY / 3600  # ten-minute readings: a rush-hour peak, a quiet night
        return round(12 + 25 * max(0.0, math.sin(math.pi * (hours - 5) / 14)) + drift, 1)

    healthy = LevelCheck()
    for n in range(20 * 144):
        wobble = 1.5 * math.sin(n / 144 * 2.1)  # day-to-day weather
        assert (healthy.update(T0 + 600 * n, no2(n, wobble), Site()).score or 0.0) < 0.9
    drifting, scores = LevelCheck(), []
    for n in range(20 * 144):
        drift = max(0.0, (n / 144 - 8) * 3.0)  # +3 a day from day 8
        scores.append(drifting.update(T0 + 600 * n, no2(n, drift), Site()).score or 0.0)
    assert max(scores[: 8 * 144]) == 0.0
    assert max(scores) == 1.0


def test_level_with_a_neighbour_ignores_weather_both_stations_share() -> None:
    def no2(n: int, scale: float, drift: float) -> float:  # background moved by the weather
        hours = 600 * n % DAY / 3600
        weather = 1.0 + 0.6 * max(0.0, n / 144 - 10) / 4 if n < 14 * 144 else 1.6
        return round(scale * weather * (12 + 25 * max(0.0, math.sin(math.pi * (hours - 5) / 14)))
                     + drift, 1)  # fmt: skip

    def run(drift: float, reference: bool) -> list[float]:
        check, scores = LevelCheck(), []
        for n in range(20 * 144):
            t = T0 + 600 * n
            neighbour = no2(n, 0.8, 0.0)
            site = Site(reference=(lambda _, v=neighbour: v) if reference else None)
            own = no2(n, 1.0, max(0.0, (n / 144 - 12) * drift))
            scores.append(check.update(t, own, site).score or 0.0)
        return scores

    assert max(run(0.0, reference=False)) == 1.0  # alone, a smoggy week looks like drift
    assert max(run(0.0, reference=True)) < 0.9  # beside its neighbour, it does not
    drifting = run(3.0, reference=True)  # +3 a day from day 12, on top of the smog
    assert max(drifting[: 12 * 144]) < 0.9 and max(drifting) == 1.0


def test_reference_flags_a_sensor_drifting_from_its_reference_not_the_weather() -> None:
    def air(t: float) -> float:  # weeks of warming, and a daily cycle
        return 12.0 + 0.5 * (t - T0) / DAY + 4.0 * math.sin(2 * math.pi * (t - T0) / DAY)

    def site(t: float) -> float | None:  # an independent measure, at night only
        return air(t) + 0.3 + 0.15 * math.sin(t / 7000.0) if (t - T0) % DAY < 6 * 3600 else None

    minsk = Site(53.9, 27.56, reference=site)
    healthy, drifting = ReferenceCheck(), ReferenceCheck()
    scores: list[float] = []
    for n in range(0, 20 * 144):  # every 10 minutes for 20 days
        t = T0 + 600 * n
        drift = 0.4 * max(0.0, (t - T0) / DAY - 8)  # 0.4 degC a day from day 8
        assert (healthy.update(t, round(air(t), 1), minsk).score or 0.0) < 0.9
        found = drifting.update(t, round(air(t) + drift, 1), minsk)
        scores.append(found.score or 0.0)
    first = next(n for n, s in enumerate(scores) if s >= 0.9) / 144
    assert 8 < first < 11
    assert ReferenceCheck().update(T0, 12.0, MINSK).score is None  # no reference, no verdict
