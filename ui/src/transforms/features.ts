// Entities -> GeoJSON features for the map: geometry from `location`, the live state and
// flat display properties.

import type { Feature, FeatureCollection, Geometry } from "geojson";
import type { Entity } from "./entity";
import { scalar } from "./entity";
import { stateOf } from "./style";

const FLOOR_HEIGHT = 3.2; // metres per floor, for extruded buildings

function geometryOf(entity: Entity): Geometry | null {
  const loc = entity.location as { type?: unknown; coordinates?: unknown } | undefined;
  if (!loc || typeof loc.type !== "string" || !Array.isArray(loc.coordinates)) return null;
  return loc as Geometry;
}

/** One entity as a feature, or null when it has no usable location. */
export function toFeature(entity: Entity, alerted: ReadonlySet<string>): Feature | null {
  const geometry = geometryOf(entity);
  if (!geometry) return null;
  const properties: Record<string, unknown> = {
    id: entity.id,
    type: entity.type,
    state: stateOf(entity, alerted.has(entity.id)),
  };
  for (const [name, value] of Object.entries(entity)) {
    if (name === "location" || name === "id" || name === "type") continue;
    const v = scalar(value);
    if (v !== null) properties[name] = v;
  }
  if (entity.type === "Building") {
    const floors = typeof entity.floorsAboveGround === "number" ? entity.floorsAboveGround : 3;
    properties.height = Math.max(1, floors) * FLOOR_HEIGHT;
  }
  return { type: "Feature", geometry, properties };
}

/** Entities as a FeatureCollection, skipping those without a location. */
export function toCollection(entities: Entity[], alerted: ReadonlySet<string>): FeatureCollection {
  const features: Feature[] = [];
  for (const e of entities) {
    const f = toFeature(e, alerted);
    if (f) features.push(f);
  }
  return { type: "FeatureCollection", features };
}

/** [west, south, east, north] of every coordinate of the collections, or null when empty. */
export function bounds(collections: FeatureCollection[]): [number, number, number, number] | null {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  const visit = (c: unknown): void => {
    if (Array.isArray(c) && typeof c[0] === "number" && typeof c[1] === "number") {
      w = Math.min(w, c[0]); e = Math.max(e, c[0]);
      s = Math.min(s, c[1]); n = Math.max(n, c[1]);
    } else if (Array.isArray(c)) {
      c.forEach(visit);
    }
  };
  for (const col of collections) {
    for (const f of col.features) {
      if (f.geometry && "coordinates" in f.geometry) visit(f.geometry.coordinates);
    }
  }
  return w === Infinity ? null : [w, s, e, n];
}
