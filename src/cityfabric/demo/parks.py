"""Parks and their solar benches (PhotovoltaicDevice, its battery controller and measurements).

A park is a Building of category "pavilion": the Building schema has no "park" category,
and the park's pavilion (toilets, kiosk, the benches' maintenance point) is a real building.
Its location is the whole park's polygon, so benches, lamps and the park are found together.
"""

from __future__ import annotations

from cityfabric.demo.build import Gen, draw_lifecycle, lifecycle_attrs
from cityfabric.demo.buildings import Plot
from cityfabric.demo.catalog import DEVICE_BY_KEY
from cityfabric.demo.ngsi import Entity, date_prop, entity, geo, iso, prop, rel

BENCHES_PER_PARK = 12
BENCH_MODEL = "Parkwatt SunSeat 160"


def build_parks(gen: Gen, parks: list[Plot]) -> tuple[list[str], list[Entity]]:
    rng = gen.rng("parks")
    ids = gen.ids.take("Building", len(parks))
    life = draw_lifecycle(gen, rng, len(parks), service_life=40, cost=0.0)
    out: list[Entity] = []
    for k, plot in enumerate(parks):
        area = (plot.x1 - plot.x0) * (plot.y1 - plot.y0)
        attrs = {
            "name": prop(f"{plot.street.rsplit(' ', 2)[0]} Park {k + 1}"),
            "description": prop("Public park; its pavilion houses the park services"),
            "category": prop(["pavilion"]),
            "address": prop(
                {
                    "streetAddress": plot.street.rsplit(" ", 1)[0],
                    "addressLocality": gen.city.name,
                    "addressCountry": gen.city.country,
                }
            ),
            "location": geo(gen.frame.rectangle(plot.x0, plot.y0, plot.x1, plot.y1)),
            "floorsAboveGround": prop(1),
            "peopleCapacity": prop(int(area / 40), "IE"),
            "openingHours": prop(["Mo-Su 06:00-22:00"]),
        }
        attrs.update(lifecycle_attrs(gen, "Building", life, k))
        attrs["purchaseCost"]["value"] = round(area * 60.0 * gen.city.cost_factor, 0)
        out.append(entity("Building", ids[k], attrs))
    return ids, out


def build_benches(gen: Gen, parks: list[Plot], park_ids: list[str]) -> list[Entity]:
    """Solar benches: panel (PhotovoltaicDevice), battery controller (Device), measurements."""
    rng = gen.rng("benches")
    n = len(parks) * BENCHES_PER_PARK
    pv_ids = gen.ids.take("PhotovoltaicDevice", n)
    ctrl_ids = gen.ids.take("Device", n)
    meas_ids = gen.ids.take("PhotovoltaicMeasurement", n)
    spec = DEVICE_BY_KEY["bench_ctrl"]
    panel_life = draw_lifecycle(gen, rng, n, service_life=25, cost=1900.0, years=(2016, 2024))
    ctrl_life = draw_lifecycle(gen, rng, n, service_life=spec.service_life, cost=spec.cost)
    peak = rng.choice([140.0, 160.0, 180.0], size=n)
    tilt = rng.uniform(0, 15, size=n).round(0)
    azimuth = rng.uniform(90, 270, size=n).round(0)
    capacity = rng.choice([384.0, 512.0, 768.0], size=n)
    u, v = rng.uniform(0.1, 0.9, size=(2, n))
    stamp = date_prop(iso(gen.as_of))
    out: list[Entity] = []
    for k in range(n):
        p = k // BENCHES_PER_PARK
        plot = parks[p]
        where = gen.frame.point(
            plot.x0 + float(u[k]) * (plot.x1 - plot.x0), plot.y0 + float(v[k]) * (plot.y1 - plot.y0)
        )
        name = f"Solar bench {k % BENCHES_PER_PARK + 1} in park {p + 1}"
        panel = {
            "name": prop(name),
            "location": geo(where),
            "dateLastReported": stamp,
            "brandName": prop("Parkwatt"),
            "manufacturerName": prop("Parkwatt"),
            "serialNumber": prop([f"PW-{gen.city.key.upper()}-{k + 1:06d}"]),
            "cellType": prop(["monocrystalline"]),
            "application": prop(["electric"]),
            "typeOfUse": prop(["outdoor"]),
            "installationMode": prop(["other"]),
            "possibilityOfUse": prop(["stationary"]),
            "temperatureCoefficient": prop({"Pmax": -0.0037, "Uoc": -0.0029, "Isc": 0.0005}),
            "refPointOfInterest": rel(park_ids[p]),
            "refDevice": rel(ctrl_ids[k]),
            "surfaceTilt": prop(float(tilt[k]), "DD"),
            "surfaceAzimuth": prop(float(azimuth[k]), "DD"),
        }
        rated = (float(peak[k]), "WTT")
        panel.update(
            lifecycle_attrs(
                gen, "PhotovoltaicDevice", panel_life, k, model=BENCH_MODEL, rated=rated
            )
        )
        out.append(entity("PhotovoltaicDevice", pv_ids[k], panel))
        ctrl = {
            "name": prop(f"Battery controller of {name.lower()}"),
            "location": geo(where),
            "deviceCategory": prop(list(spec.category)),
            "controlledProperty": prop(list(spec.controlled)),
            "controlledAsset": rel([pv_ids[k]]),
            "serialNumber": prop(f"PWC-{gen.city.key.upper()}-{k + 1:06d}"),
            "deviceState": prop("ok"),
            "batteryLevel": prop(0.8, "C62"),
            "batteryCapacity": prop(float(capacity[k]), "WHR"),
        }
        # rated power of the controller: its two 15 W USB ports
        ctrl.update(
            lifecycle_attrs(
                gen, "Device", ctrl_life, k, model=gen.device_models[spec.key], rated=(30.0, "WTT")
            )
        )
        out.append(entity("Device", ctrl_ids[k], ctrl))
        meas = {
            "name": prop(f"Output of {name.lower()}"),
            "location": geo(where),
            "refPhotovoltaicDevice": rel(pv_ids[k]),
            "dateObserved": stamp,
            "dateEnergyMeteringStarted": date_prop(panel_life.installed[k]),
            "nominalPeakPowerGeneration": prop(float(peak[k]), "WTT"),
            "activePower": prop(0.0, "WTT"),
            "temperature": prop(283.2, "KEL"),
            "phoneChargingPower": prop(0.0, "WTT"),
        }
        out.append(entity("PhotovoltaicMeasurement", meas_ids[k], meas))
    return out
