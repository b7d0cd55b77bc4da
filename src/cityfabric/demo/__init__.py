"""The demo city: a smart district generated from a seed and simulated from physics.

A pure library (no HTTP, no store); the CLI and the API drive it.

- `cities`: the cities (tenants), `get_city(key)`.
- `assets.generate(city, scale, seed)`: the city's NGSI-LD normalized entities.
- `telemetry.TELEMETRY`: what each asset kind reports, its units and cadence.
- `simulator.Simulator(city, entities, seed, faults)`: `step(t, dt)` -> updates;
  `payload(update)` -> an NGSI-LD entity fragment; `run(start, end, dt)` for a backfill.
- `faults.plan_faults(entities, seed, start, days)`: faults with ground truth;
  `labels_json` / `labels_csv` export them.

Nothing is imported here: `cities` and `telemetry` stay cheap to import, while the
simulator loads pvlib and pandas (about a second).
"""
