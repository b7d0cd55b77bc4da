"""The demo city's assets as NGSI-LD normalized entities (Smart Data Models), from a seed.

`generate(city, scale, seed)` is deterministic: the same arguments give the same entities,
in the same order. Scale 1 is about 5,000 entities for the default city; counts grow
linearly with the scale (street grid blocks = BASE_BLOCKS * size * scale).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from cityfabric.demo.build import Frame, Gen, Ids, gc_paused
from cityfabric.demo.buildings import build_buildings, plan_blocks
from cityfabric.demo.catalog import DEVICE_MODELS
from cityfabric.demo.cities import City, get_city
from cityfabric.demo.lighting import build_lighting, lamp_models, park_lamps, street_lamps
from cityfabric.demo.ngsi import Entity, entity, prop
from cityfabric.demo.parks import build_benches, build_parks
from cityfabric.demo.port import build_port
from cityfabric.demo.roads import build_streets
from cityfabric.demo.sensors import build_sensors

# life-cycle dates are drawn before this instant, and static observations are stamped with it
DEFAULT_AS_OF: Final = datetime(2025, 1, 1, tzinfo=UTC)


def generate(
    city: City | str,
    scale: float = 1.0,
    seed: int = 0,
    *,
    as_of: datetime = DEFAULT_AS_OF,
) -> list[Entity]:
    """Every entity of `city` at `scale`: static attributes, relationships, life cycle and
    initial telemetry values. Nested values may be shared between entities: copy before
    mutating them."""
    c = get_city(city) if isinstance(city, str) else city
    if scale <= 0:
        raise ValueError("scale must be positive")
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    gen = Gen(c, scale, seed, as_of, Frame(c.latitude, c.longitude), Ids(c.key))
    with gc_paused():
        return _generate(gen)


def _generate(gen: Gen) -> list[Entity]:
    c = gen.city
    out = _device_models(gen)
    grid, streets = build_streets(gen)
    out += streets
    plan = plan_blocks(gen, grid)
    model_ids, models = lamp_models(gen)
    out += models
    park_ids, parks = build_parks(gen, plan.parks)
    lamps = street_lamps(gen, grid) + park_lamps(
        [(f"park {k + 1}", (p.x0, p.y0, p.x1, p.y1)) for k, p in enumerate(plan.parks)]
    )
    out += build_lighting(gen, lamps, model_ids)
    out += build_buildings(gen, plan.plots)
    out += parks
    out += build_benches(gen, plan.parks, park_ids)
    out += build_sensors(gen, grid, plan.plots)
    if c.port:
        out += build_port(gen, grid)
    return out


def _device_models(gen: Gen) -> list[Entity]:
    out: list[Entity] = []
    for spec in DEVICE_MODELS:
        eid = gen.device_models[spec.key] = gen.ids.next("DeviceModel")
        attrs = {
            "name": prop(spec.name),
            "brandName": prop(spec.brand),
            "modelName": prop(spec.name),
            "manufacturerName": prop(spec.manufacturer),
            "category": prop(list(spec.category)),
            "controlledProperty": prop(list(spec.controlled)),
            "function": prop(list(spec.function)),
        }
        out.append(entity("DeviceModel", eid, attrs))
    return out
