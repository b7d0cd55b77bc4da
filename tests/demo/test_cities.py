from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from cityfabric.demo.cities import CITIES, DEFAULT_CITY, TENANT_NAME, get_city


def test_three_cities_with_valid_tenants() -> None:
    assert [c.key for c in CITIES] == ["tianjin-eco", "tashkent", "minsk"]
    assert DEFAULT_CITY == "tianjin-eco"
    for c in CITIES:
        assert TENANT_NAME.match(c.tenant), c.tenant
        assert ZoneInfo(c.timezone).key == c.timezone
        assert -90 <= c.latitude <= 90 and -180 <= c.longitude <= 180
        assert c.size > 0 and c.streets


def test_default_city_is_the_port_eco_district() -> None:
    c = get_city("tianjin-eco")
    assert c.port and abs(c.latitude - 39.1) < 0.1 and abs(c.longitude - 117.7) < 0.1
    assert c.timezone == "Asia/Shanghai"
    tashkent, minsk = get_city("tashkent"), get_city("minsk")
    assert abs(tashkent.latitude - 41.3) < 0.1 and abs(tashkent.longitude - 69.2) < 0.1
    assert abs(minsk.latitude - 53.9) < 0.1 and abs(minsk.longitude - 27.56) < 0.1
    assert (tashkent.timezone, minsk.timezone) == ("Asia/Tashkent", "Europe/Minsk")
    assert tashkent.size < c.size and minsk.size < c.size
    assert not tashkent.port and not minsk.port


def test_grid_extent_is_deterministic_and_scales() -> None:
    c = get_city("tianjin-eco")
    assert c.grid(1.0) == c.grid(1.0)
    assert 0.9 < c.grid(20).blocks / (20 * c.grid(1).blocks) < 1.1
    with pytest.raises(ValueError):
        c.grid(0)


def test_unknown_city_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="tianjin-eco, tashkent, minsk"):
        get_city("atlantis")
