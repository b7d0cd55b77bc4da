import { describe, expect, it } from "vitest";
import { colorExpression, colorOf, stateOf, STATES } from "../src/transforms/style";

const e = (type: string, attrs: Record<string, unknown>) => ({ id: "x", type, ...attrs });

describe("stateOf", () => {
  it("reads lamps: on, off, faulty by status or alert", () => {
    expect(stateOf(e("Streetlight", { powerState: "on", status: "ok" }), false)).toBe("on");
    expect(stateOf(e("Streetlight", { powerState: "off", status: "ok" }), false)).toBe("off");
    expect(stateOf(e("Streetlight", { powerState: "on", status: "defectiveLamp" }), false)).toBe("faulty");
    expect(stateOf(e("Streetlight", { powerState: "on", status: "ok" }), true)).toBe("faulty");
  });

  it("grades PV output against the peak", () => {
    const pv = (p: number) => e("PhotovoltaicMeasurement", { activePower: p, nominalPeakPowerGeneration: 160 });
    expect(stateOf(pv(0), false)).toBe("none");
    expect(stateOf(pv(40), false)).toBe("low");
    expect(stateOf(pv(120), false)).toBe("high");
  });

  it("colours air quality by the European PM2.5 bands", () => {
    const aq = (pm25?: number) => stateOf(e("AirQualityObserved", { pm25 }), false);
    expect([aq(5), aq(10), aq(15), aq(22), aq(40), aq(60), aq(200), aq(undefined)]).toEqual([
      "good", "good", "fair", "moderate", "poor", "very poor", "extremely poor", "unknown",
    ]);
  });

  it("tells free, busy, full and broken chargers apart", () => {
    const ev = (availableCapacity: number, status = "working") =>
      stateOf(e("EVChargingStation", { capacity: 2, availableCapacity, status }), false);
    expect([ev(2), ev(1), ev(0, "full"), ev(2, "outOfService")]).toEqual(["free", "busy", "full", "faulty"]);
  });

  it("gives every state a colour in the legend table", () => {
    for (const [type, states] of Object.entries(STATES)) {
      for (const s of states) expect(colorOf(type, s.state)).toBe(s.color);
    }
    expect(colorOf("Streetlight", "nonsense")).toBe("#7a8599");
  });
});

describe("colorExpression", () => {
  it("matches the state property against the table", () => {
    expect(colorExpression("TrafficFlowObserved")).toEqual([
      "match", ["get", "state"], "flowing", "#9be15d", "congested", "#ff5f9e", "#7a8599",
    ]);
    expect(colorExpression("Unknown")).toEqual(["literal", "#7a8599"]);
  });
});
