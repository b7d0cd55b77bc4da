import { describe, expect, it } from "vitest";
import { bounds, toCollection, toFeature } from "../src/transforms/features";

const lamp = {
  id: "urn:ngsi-ld:Streetlight:x-1",
  type: "Streetlight",
  name: "Lamp 1",
  status: "ok",
  powerState: "on",
  dateInstalled: { "@type": "DateTime", "@value": "2020-01-01T00:00:00Z" },
  location: { type: "Point", coordinates: [27.5, 53.9] },
};

describe("toFeature", () => {
  it("keeps the geometry and flattens attributes with the live state", () => {
    const f = toFeature(lamp, new Set());
    expect(f?.geometry).toEqual({ type: "Point", coordinates: [27.5, 53.9] });
    expect(f?.properties).toMatchObject({
      id: lamp.id, type: "Streetlight", state: "on", name: "Lamp 1",
      dateInstalled: "2020-01-01T00:00:00Z",
    });
    expect(f?.properties).not.toHaveProperty("location");
  });

  it("marks an asset named by an open alert as faulty", () => {
    expect(toFeature(lamp, new Set([lamp.id]))?.properties?.state).toBe("faulty");
  });

  it("extrudes buildings by their floors", () => {
    const b = { id: "b", type: "Building", floorsAboveGround: 10, location: { type: "Polygon", coordinates: [[[0, 0], [1, 0], [1, 1], [0, 0]]] } };
    expect(toFeature(b, new Set())?.properties?.height).toBeCloseTo(32);
  });

  it("skips entities without a usable location", () => {
    expect(toFeature({ id: "a", type: "Streetlight" }, new Set())).toBeNull();
    expect(toFeature({ id: "a", type: "Streetlight", location: "here" }, new Set())).toBeNull();
    expect(toCollection([lamp, { id: "a", type: "Streetlight" }], new Set()).features).toHaveLength(1);
  });
});

describe("bounds", () => {
  it("spans points, lines and polygons", () => {
    const col = toCollection([
      lamp,
      { id: "r", type: "RoadSegment", location: { type: "LineString", coordinates: [[27.4, 53.8], [27.6, 53.85]] } },
    ], new Set());
    expect(bounds([col])).toEqual([27.4, 53.8, 27.6, 53.9]);
    expect(bounds([{ type: "FeatureCollection", features: [] }])).toBeNull();
  });
});
