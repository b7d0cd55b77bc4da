"""The port city's container terminal: the terminal and its berths (SeaportFacilities), and
ship-to-shore cranes (Device) with their power meters (DeviceMeasurement).

Berths and cranes point to what they belong to with a `refSeaportFacilities` Relationship;
the schemas have no such property and allow additional ones.
"""

from __future__ import annotations

import math

from cityfabric.demo.build import Gen, draw_lifecycle, lifecycle_attrs
from cityfabric.demo.catalog import DEVICE_BY_KEY
from cityfabric.demo.ngsi import Entity, date_prop, entity, geo, iso, prop, rel
from cityfabric.demo.roads import StreetGrid

BERTH_LENGTH = 350.0
CRANES_PER_BERTH = 3
CRANE_RATED_KW = 2000.0


def build_port(gen: Gen, grid: StreetGrid) -> list[Entity]:
    rng = gen.rng("port")
    berths = max(2, round(4 * math.sqrt(gen.scale)))
    x0 = float(grid.xs[-1]) + 250.0
    x1 = x0 + 450.0
    y0 = float(grid.ys[0])
    y1 = y0 + berths * BERTH_LENGTH
    stamp = date_prop(iso(gen.as_of))
    terminal_id = gen.ids.next("SeaportFacilities")
    berth_ids = gen.ids.take("SeaportFacilities", berths)
    life = draw_lifecycle(gen, rng, 1 + berths, service_life=50, cost=60_000_000.0)
    common = {
        "dateLastReported": stamp,
        "typeOfPort": prop(["merchandise"]),
        "maxDraft": prop(16.0, "MTR"),
        "authorizedPropulsion": prop(["motor", "lng"]),
    }
    terminal = {
        "name": prop(f"{gen.city.name} Container Terminal"),
        "location": geo(gen.frame.rectangle(x0, y0, x1, y1)),
        "numberOfPlace": prop(berths),
        "maxLength": prop(BERTH_LENGTH, "MTR"),
        "maxTonnage": prop(200_000.0, "TNE"),
        "boatSupplyingServices": prop(["liftingCranes", "provisioning", "towing"]),
        "facilities": prop(["container", "electricTerminal"]),
        "portServicesProvided": prop(["harborOffice", "customsServices", "handlingAssistance"]),
        "contractingAuthority": prop(f"{gen.city.name} Port Authority"),
        **common,
    }
    terminal.update(lifecycle_attrs(gen, "SeaportFacilities", life, 0))
    out = [entity("SeaportFacilities", terminal_id, terminal)]
    for b, bid in enumerate(berth_ids):
        ya = y0 + b * BERTH_LENGTH
        attrs = {
            "name": prop(f"Berth {b + 1}"),
            "location": geo(gen.frame.rectangle(x1 - 40.0, ya, x1, ya + BERTH_LENGTH)),
            "numberOfPlace": prop(1),
            "maxLength": prop(BERTH_LENGTH, "MTR"),
            "availableSpotNumber": prop(1, "C62"),
            "refSeaportFacilities": rel(terminal_id),
            **common,
        }
        attrs.update(lifecycle_attrs(gen, "SeaportFacilities", life, b + 1))
        out.append(entity("SeaportFacilities", bid, attrs))
    out += _cranes(gen, berth_ids, x1, y0)
    return out


def _cranes(gen: Gen, berth_ids: list[str], quay_x: float, y0: float) -> list[Entity]:
    rng = gen.rng("cranes")
    n = len(berth_ids) * CRANES_PER_BERTH
    spec = DEVICE_BY_KEY["sts_crane"]
    crane_ids = gen.ids.take("Device", n)
    meter_ids = gen.ids.take("DeviceMeasurement", n)
    life = draw_lifecycle(gen, rng, n, service_life=spec.service_life, cost=spec.cost)
    stamp = date_prop(iso(gen.as_of))
    out: list[Entity] = []
    for k in range(n):
        b = k // CRANES_PER_BERTH
        y = y0 + b * BERTH_LENGTH + (k % CRANES_PER_BERTH + 0.5) * BERTH_LENGTH / CRANES_PER_BERTH
        where = geo(gen.frame.point(quay_x - 15.0, y))
        crane = {
            "name": prop(f"STS crane QC-{k + 1:02d}"),
            "location": where,
            "deviceCategory": prop(list(spec.category)),
            "controlledProperty": prop(list(spec.controlled)),
            "refSeaportFacilities": rel(berth_ids[b]),
            "serialNumber": prop(f"QL-{gen.city.key.upper()}-{k + 1:04d}"),
            "deviceState": prop("ok"),
        }
        crane.update(
            lifecycle_attrs(
                gen, "Device", life, k, model=gen.device_models[spec.key],
                rated=(CRANE_RATED_KW, "KWT"),
            )
        )  # fmt: skip
        out.append(entity("Device", crane_ids[k], crane))
        meter = {
            "name": prop(f"Power of STS crane QC-{k + 1:02d}"),
            "location": where,
            "refDevice": rel(crane_ids[k]),
            "deviceType": prop("cranePowerMeter"),
            "controlledProperty": prop("power"),
            "measurementType": prop("average"),
            "unit": prop("KWT"),
            "numValue": prop(0.0, "KWT"),
            "dateObserved": stamp,
        }
        out.append(entity("DeviceMeasurement", meter_ids[k], meter))
    return out
