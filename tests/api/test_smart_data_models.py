"""Every Smart Data Models normalized example goes in through the API and comes back intact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.api.test_entities import B
from tests.conftest import SDM, link

EXAMPLES = sorted(SDM.glob("*/example-normalized.jsonld"))
SYSTEM = {"createdAt", "modifiedAt"}
# Examples that break NGSI-LD rules, and the detail the broker must answer instead of storing
# them (clause 4.5: entity ids are URIs, a Relationship carries "object", location is a
# GeoProperty). Orion-LD rejects these too; accepting them would break relationship and geo
# queries.
DEFECTIVE = {
    "DeviceMeasurement": "'location' must be a GeoProperty",
    "GreenEnergyMeasurement": "Relationship 'refGreenEnergyGenerator' needs a 'object' member",
    "PhotovoltaicDevice": "Relationship 'refDevice' needs a 'object' member",
    "PhotovoltaicMeasurement": "Relationship 'refPhotovoltaicDevice' needs a 'object' member",
    "SeaportFacilities": "Relationship 'refBoatAuthorized' needs a 'object' member",
    "WeatherForecast": "id must be a URI",
}


def _simple(attr: Any) -> Any:
    """The keyValues form of one normalized attribute."""
    if isinstance(attr, list):
        return [_simple(a) for a in attr]
    kind = attr.get("type")
    return attr["object"] if kind == "Relationship" else attr["value"]


def _q_for(entity: dict[str, Any]) -> str | None:
    """A q filter the entity matches: equality on its first plain string or number property."""
    for name, attr in entity.items():
        if not isinstance(attr, dict) or attr.get("type") != "Property":
            continue
        value = attr.get("value")
        if isinstance(value, str) and '"' not in value and "\\" not in value:
            return f'{name}=="{value}"'
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"{name}=={value}"
    return None


def test_examples_are_there() -> None:
    assert len(EXAMPLES) >= 20
    assert set(DEFECTIVE) <= {p.parent.name for p in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_round_trip(client: TestClient, path: Path) -> None:
    raw = path.read_bytes()
    entity = orjson.loads(raw)
    context = entity.pop("@context")
    urls = context if isinstance(context, list) else [context]
    ctx_url = next(u for u in urls if "uri.etsi.org" not in u)
    r = client.post(f"{B}/entities", content=raw, headers={"Content-Type": "application/ld+json"})
    if path.parent.name in DEFECTIVE:
        assert r.status_code == 400, r.text
        assert DEFECTIVE[path.parent.name] in r.json()["detail"]
        return
    assert r.status_code == 201, r.text
    entity = {k: v for k, v in entity.items() if k not in SYSTEM}
    url = f"{B}/entities/{entity['id']}"
    got = client.get(url, headers=link(ctx_url)).json()
    assert {k: v for k, v in got.items() if k not in SYSTEM} == entity
    kv = client.get(url, params={"options": "keyValues"}, headers=link(ctx_url)).json()
    expected = {k: (_simple(v) if k not in ("id", "type") else v) for k, v in entity.items()}
    assert kv == expected
    found = client.get(f"{B}/entities", params={"type": entity["type"]}, headers=link(ctx_url))
    assert [e["id"] for e in found.json()] == [entity["id"]]
    q = _q_for(entity)
    assert q is not None, "every example has a plain property to filter on"
    found = client.get(
        f"{B}/entities", params={"type": entity["type"], "q": q}, headers=link(ctx_url)
    )
    assert [e["id"] for e in found.json()] == [entity["id"]], q
