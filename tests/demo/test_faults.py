"""Each injected fault changes the telemetry the way its label says (against a clean twin)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson

from cityfabric.demo.faults import (
    Fault,
    FaultKind,
    faults_from_labels,
    labels_csv,
    labels_json,
    plan_faults,
)
from cityfabric.demo.fleet import kind_of
from cityfabric.demo.injection import Injector
from cityfabric.demo.simulator import Simulator
from tests.demo.conftest import FAULT_DAYS, FAULT_START, SEED, FaultRuns

Arr = np.ndarray[Any, Any]


def _of(runs: FaultRuns, kind: FaultKind) -> list[Fault]:
    faults = [f for f in runs.faults if f.kind is kind]
    assert faults, f"no {kind} planned"
    return faults


def _pair(runs: FaultRuns, f: Fault, attr: str) -> tuple[Arr, Arr, Arr]:
    window = runs.faulty.mask(f.start, f.end)
    return runs.faulty.series(f.asset_id, attr), runs.clean.series(f.asset_id, attr), window


def test_plan_is_deterministic_covers_every_kind_and_stays_in_the_period(
    port_city: list[dict[str, Any]], fault_runs: FaultRuns
) -> None:
    again = plan_faults(port_city, SEED, FAULT_START, FAULT_DAYS, rate=4.0)
    assert again == fault_runs.faults
    assert plan_faults(port_city, SEED + 1, FAULT_START, FAULT_DAYS, rate=4.0) != again
    assert {f.kind for f in again} == set(FaultKind)
    end = FAULT_START + timedelta(days=FAULT_DAYS)
    assert all(FAULT_START <= f.start < f.end <= end for f in again)
    assert len({f.asset_id for f in again}) == len(again)  # one fault per asset
    assert Counter(f.kind for f in again)[FaultKind.SPIKE] > 1


def test_labels_export_as_json_and_csv(fault_runs: FaultRuns) -> None:
    faults = fault_runs.faults
    labels = orjson.loads(labels_json(faults))
    assert faults_from_labels(labels) == faults
    assert set(labels[0]) >= {"asset_id", "attributes", "kind", "start", "end"}
    rows = list(csv.DictReader(io.StringIO(labels_csv(faults))))
    assert len(rows) == len(faults)
    assert rows[0]["asset_id"] == faults[0].asset_id
    assert rows[0]["attributes"].split(";") == list(faults[0].attributes)


def test_outside_their_windows_faults_change_nothing(fault_runs: FaultRuns) -> None:
    for f in fault_runs.faults:
        if f.kind is FaultKind.BATTERY_DEGRADATION:
            continue  # a worn battery stays worn (its state differs after the window)
        for attr in f.attributes:
            faulty, clean, window = _pair(fault_runs, f, attr)
            before = np.array([t < f.start for t in fault_runs.faulty.times])
            assert np.array_equal(faulty[before], clean[before], equal_nan=True), (f, attr)
            if f.kind not in (FaultKind.PV_SOILING, FaultKind.LAMP_FAILURE):
                after = ~window & ~before
                assert np.array_equal(faulty[after], clean[after], equal_nan=True), (f, attr)


def test_lamp_failure_dark_while_commanded_on(fault_runs: FaultRuns) -> None:
    for f in _of(fault_runs, FaultKind.LAMP_FAILURE):
        faulty, clean, window = _pair(fault_runs, f, "powerConsumption")
        lit = window & (clean > 0)
        assert lit.any(), f
        assert np.all(faulty[lit] == 0.0)


def test_day_burner_on_while_the_sun_is_up(fault_runs: FaultRuns) -> None:
    up = np.array(fault_runs.faulty.elevation) > 5.0
    for f in _of(fault_runs, FaultKind.DAY_BURNER):
        state, clean_state, window = _pair(fault_runs, f, "powerState")
        power = fault_runs.faulty.series(f.asset_id, "powerConsumption")
        day = window & up
        assert day.any(), f
        assert np.all(state[day] == 1.0) and np.all(power[day] > 0.0)
        assert np.all(clean_state[day] == 0.0)


def test_soiling_output_falls_slowly_against_a_clean_panel(fault_runs: FaultRuns) -> None:
    for f in _of(fault_runs, FaultKind.PV_SOILING):
        faulty, clean, window = _pair(fault_runs, f, "activePower")
        sunny = window & (clean > 5.0)
        ratio = faulty[sunny] / clean[sunny]
        assert np.all(ratio <= 1.0 + 1e-3)
        quarter = max(1, len(ratio) // 4)
        assert ratio[-quarter:].mean() < ratio[:quarter].mean() - 0.05, f
        assert ratio.min() > 1.0 - f.magnitude - 0.05  # never more than the labelled loss


def test_shading_dips_sharply_when_the_sun_is_behind_the_obstacle(fault_runs: FaultRuns) -> None:
    azimuth = np.array(fault_runs.faulty.azimuth)
    for f in _of(fault_runs, FaultKind.PV_SHADING):
        assert f.azimuth is not None
        faulty, clean, window = _pair(fault_runs, f, "activePower")
        sunny = window & (clean > 5.0)
        ratio = np.ones(len(clean))
        ratio[sunny] = faulty[sunny] / clean[sunny]
        behind = np.abs((azimuth - f.azimuth + 180.0) % 360.0 - 180.0) < 20.0
        assert np.all(ratio[sunny & ~behind] > 0.999)
        assert (sunny & behind).any(), f
        assert ratio[sunny & behind].min() < 0.75


def test_degraded_battery_swings_deeper(fault_runs: FaultRuns) -> None:
    for f in _of(fault_runs, FaultKind.BATTERY_DEGRADATION):
        faulty, clean, window = _pair(fault_runs, f, "batteryLevel")
        late = window & np.array([f.progress(t) > 0.5 for t in fault_runs.faulty.times])
        assert late.any()
        assert np.all((faulty >= 0.0) & (faulty <= 1.0))
        swing = np.ptp(faulty[late]) if late.sum() > 1 else 0.0
        assert faulty[late].min() < clean[late].min() - 0.005 or swing > np.ptp(clean[late]), f


def test_stuck_meter_is_flat_in_its_window(fault_runs: FaultRuns) -> None:
    for f in _of(fault_runs, FaultKind.STUCK_METER):
        faulty, clean, window = _pair(fault_runs, f, "numValue")
        assert window.sum() > 1
        assert len(np.unique(faulty[window])) == 1
        assert len(np.unique(clean[window])) > 1


def test_stuck_meters_are_planted_on_live_loads_and_show(
    port_city: list[dict[str, Any]], fault_runs: FaultRuns
) -> None:
    """Only building electricity meters, whose load always moves: a frozen one differs from
    its working twin at (nearly) every reading, so no label is invisible."""
    kinds = {e["id"]: kind_of(e) for e in port_city}
    for seed in range(6):
        plan = plan_faults(port_city, seed, FAULT_START, FAULT_DAYS, rate=4.0)
        stuck = [f for f in plan if f.kind is FaultKind.STUCK_METER]
        assert stuck and {kinds[f.asset_id] for f in stuck} == {"electricity"}
    for f in _of(fault_runs, FaultKind.STUCK_METER):
        faulty, clean, window = _pair(fault_runs, f, "numValue")
        assert (faulty[window] != clean[window]).mean() > 0.9, f
    assert fault_runs.faulty.sim.injector.unseen() == []


def test_drift_grows_linearly_to_its_labelled_offset(fault_runs: FaultRuns) -> None:
    for f in _of(fault_runs, FaultKind.SENSOR_DRIFT):
        (attr,) = f.attributes
        faulty, clean, window = _pair(fault_runs, f, attr)
        seen = window & ~np.isnan(faulty)
        progress = np.array([f.progress(t) for t in fault_runs.faulty.times])
        offset = faulty[seen] - clean[seen]
        assert np.allclose(offset, f.magnitude * progress[seen], atol=0.11), f
        assert offset[-1] > 0.5 * offset.max() > 0


def test_spike_is_one_outlying_reading(fault_runs: FaultRuns) -> None:
    for f in _of(fault_runs, FaultKind.SPIKE):
        (attr,) = f.attributes
        faulty, clean, window = _pair(fault_runs, f, attr)
        differs = faulty != clean
        assert differs.sum() == 1 and differs[window].sum() == 1, f
        i = int(np.flatnonzero(differs)[0])
        assert faulty[i] >= max(clean[i] * f.magnitude, clean[i] + 10 * f.magnitude) - 0.6


def test_communication_loss_sends_nothing(fault_runs: FaultRuns) -> None:
    for f in _of(fault_runs, FaultKind.COMM_LOSS):
        attr = f.attributes[0]
        faulty, clean, window = _pair(fault_runs, f, attr)
        assert np.all(np.isnan(faulty[window]))
        assert not np.any(np.isnan(clean[window]))
        assert not np.any(np.isnan(faulty[~window]))


def test_faults_on_other_assets_are_ignored(port_city: list[dict[str, Any]]) -> None:
    ghost = Fault(
        "urn:ngsi-ld:Streetlight:elsewhere-1",
        ("powerConsumption",),
        FaultKind.LAMP_FAILURE,
        FAULT_START,
        FAULT_START + timedelta(days=1),
    )
    sim = Simulator("tianjin-eco", port_city, SEED, [ghost])
    assert len(sim.step(FAULT_START, timedelta(minutes=15))) > 1000


def test_a_stuck_meter_that_never_changes_a_reading_is_unseen() -> None:
    start = datetime(2026, 6, 1, tzinfo=UTC)
    idle = Fault("m0", ("numValue",), FaultKind.STUCK_METER, start, start + timedelta(hours=2))
    busy = Fault("m1", ("numValue",), FaultKind.STUCK_METER, start, start + timedelta(hours=2))
    injector = Injector([idle, busy], {"m0": ("electricity", 0), "m1": ("electricity", 1)},
                        {"electricity": 2})  # fmt: skip
    for minute in range(0, 120, 15):
        t = start + timedelta(minutes=minute)
        injector.begin(t)
        values = {"numValue": np.array([0.0, 10.0 + minute / 100])}  # m1's load moves
        injector.readings(t, "electricity", values, np.array([True, True]))
        assert values["numValue"].tolist() == [0.0, 10.0]  # both frozen where they began
    assert injector.unseen() == [idle]
