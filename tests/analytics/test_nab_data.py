"""Reading NAB's files; NAB's windows derived from its labels."""

from __future__ import annotations

from cityfabric.analytics.nab_data import (
    find_series,
    is_windows_file,
    read_labels,
    read_windows,
    windows_from_labels,
)
from tests.conftest import SHARED

NAB = SHARED / "nab"


def test_windows_derived_from_labels_match_nabs() -> None:
    series = find_series(NAB / "data")
    shipped = read_windows(NAB / "combined_windows.json")
    derived = windows_from_labels(read_labels(NAB / "combined_labels.json"), series)
    assert len(derived) == 25
    assert all(derived[name] == shipped[name] for name in derived)


def test_tells_windows_from_labels() -> None:
    assert is_windows_file(NAB / "combined_windows.json")
    assert not is_windows_file(NAB / "combined_labels.json")
