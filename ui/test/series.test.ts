import { describe, expect, it } from "vitest";
import { forecastSeries, historyParams, RANGES, seriesOf } from "../src/transforms/series";

describe("seriesOf", () => {
  it("reads temporalValues, sorted, skipping non-numeric values", () => {
    const t = {
      id: "x", type: "Streetlight",
      powerConsumption: { type: "Property", values: [[45, "2026-12-05T18:00:00Z"], [90, "2026-12-05T17:00:00Z"], ["n/a", "2026-12-05T19:00:00Z"]] },
    };
    expect(seriesOf(t, "powerConsumption")).toEqual([
      [Date.parse("2026-12-05T17:00:00Z"), 90],
      [Date.parse("2026-12-05T18:00:00Z"), 45],
    ]);
  });

  it("plots aggregated averages at the middle of their period and merges instances", () => {
    const t = {
      pm25: [
        { type: "Property", avg: [[10, "2026-12-05T10:00:00Z", "2026-12-05T11:00:00Z"]] },
        { type: "Property", datasetId: "urn:b", values: [[true, "2026-12-05T09:00:00Z"]] },
      ],
    };
    expect(seriesOf(t, "pm25")).toEqual([
      [Date.parse("2026-12-05T09:00:00Z"), 1],
      [Date.parse("2026-12-05T10:30:00Z"), 10],
    ]);
    expect(seriesOf(t, "missing")).toEqual([]);
  });
});

describe("historyParams", () => {
  const now = Date.parse("2026-12-05T12:00:00Z");
  it("asks for raw values over short ranges", () => {
    const p = historyParams("pm25", RANGES.find((r) => r.key === "24h")!, now);
    expect(p).toMatchObject({ attrs: "pm25", timerel: "between", options: "temporalValues",
      timeAt: "2026-12-04T12:00:00.000Z", endTimeAt: "2026-12-05T12:00:00.000Z" });
    expect(p).not.toHaveProperty("aggrMethods");
  });
  it("asks for averages over long ranges", () => {
    const p = historyParams("pm25", RANGES.find((r) => r.key === "7d")!, now);
    expect(p).toMatchObject({ options: "aggregatedValues", aggrMethods: "avg", aggrPeriodDuration: "PT1H",
      timeAt: "2026-11-28T12:00:00.000Z" });
  });
});

describe("forecastSeries", () => {
  it("draws the widest band as lower edge plus width", () => {
    const f = forecastSeries({
      levels: [80, 95],
      times: ["2026-12-05T12:00:00Z", "2026-12-05T13:00:00Z"],
      mean: [10, 12], lo80: [8, 9], hi80: [12, 15], lo95: [5, 6], hi95: [15, null],
    });
    const t0 = Date.parse("2026-12-05T12:00:00Z");
    expect(f.level).toBe(95);
    expect(f.mean).toEqual([[t0, 10], [t0 + 3_600_000, 12]]);
    expect(f.lower).toEqual([[t0, 5]]);
    expect(f.width).toEqual([[t0, 10]]);
  });
});
