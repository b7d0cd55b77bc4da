// Live state of an asset -> a named state and its colour; the map's paint expressions and
// the legend are both built from STATES, so they cannot disagree.

import type { Entity } from "./entity";

export interface StateStyle {
  state: string;
  label: string;
  color: string;
}

// European Air Quality Index bands for PM2.5 (ug/m3, upper bounds), EEA colours
export const PM25_BANDS: [number, string, string][] = [
  [10, "good", "#50f0e6"],
  [20, "fair", "#50ccaa"],
  [25, "moderate", "#f0e641"],
  [50, "poor", "#ff5050"],
  [75, "very poor", "#960032"],
  [Infinity, "extremely poor", "#7d2181"],
];

export const STATES: Record<string, StateStyle[]> = {
  Streetlight: [
    { state: "on", label: "lamp on", color: "#ffd23f" },
    { state: "off", label: "lamp off", color: "#7a8599" },
    { state: "faulty", label: "faulty", color: "#ff3b3b" },
  ],
  PhotovoltaicMeasurement: [
    { state: "high", label: "PV above 50% of peak", color: "#ffb000" },
    { state: "low", label: "PV up to 50% of peak", color: "#b8860b" },
    { state: "none", label: "PV no output", color: "#6d5f4b" },
    { state: "faulty", label: "faulty", color: "#ff3b3b" },
  ],
  AirQualityObserved: [
    ...PM25_BANDS.map(([, label, color]) => ({ state: label, label: `air ${label}`, color })),
    { state: "unknown", label: "air no reading", color: "#7a8599" },
  ],
  EVChargingStation: [
    { state: "free", label: "charger free", color: "#3ddc84" },
    { state: "busy", label: "charger in use", color: "#4aa3ff" },
    { state: "full", label: "charger full", color: "#ff8c42" },
    { state: "faulty", label: "charger out of service", color: "#ff3b3b" },
  ],
  TrafficFlowObserved: [
    { state: "flowing", label: "traffic flowing", color: "#9be15d" },
    { state: "congested", label: "congested", color: "#ff5f9e" },
  ],
  WeatherObserved: [{ state: "station", label: "weather station", color: "#9ecbff" }],
  Building: [{ state: "building", label: "building", color: "#8a9bb3" }],
  SeaportFacilities: [{ state: "port", label: "port facility", color: "#2f7f9f" }],
  RoadSegment: [{ state: "road", label: "road", color: "#4b5a70" }],
};

const num = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isFinite(v) ? v : undefined;

/** The state of an entity; `alerted` says an open Alert names it as its source. */
export function stateOf(entity: Entity, alerted: boolean): string {
  switch (entity.type) {
    case "Streetlight": {
      if (alerted || (entity.status !== undefined && entity.status !== "ok")) return "faulty";
      return entity.powerState === "on" ? "on" : "off";
    }
    case "PhotovoltaicMeasurement": {
      if (alerted) return "faulty";
      const power = num(entity.activePower) ?? 0;
      const peak = num(entity.nominalPeakPowerGeneration);
      if (power <= 0) return "none";
      return peak !== undefined && power > peak / 2 ? "high" : "low";
    }
    case "AirQualityObserved": {
      const pm25 = num(entity.pm25);
      if (pm25 === undefined) return "unknown";
      return PM25_BANDS.find(([upper]) => pm25 <= upper)![1];
    }
    case "EVChargingStation": {
      const status = entity.status;
      if (alerted || (status !== undefined && status !== "working" && status !== "full")) {
        return "faulty";
      }
      const free = num(entity.availableCapacity);
      const capacity = num(entity.capacity);
      if (free === 0 || status === "full") return "full";
      return capacity !== undefined && free !== undefined && free < capacity ? "busy" : "free";
    }
    case "TrafficFlowObserved":
      return entity.congested === true ? "congested" : "flowing";
    default:
      return STATES[entity.type]?.[0]?.state ?? "unknown";
  }
}

/** The colour of a state of a type (grey for one the table does not know). */
export function colorOf(type: string, state: string): string {
  return STATES[type]?.find((s) => s.state === state)?.color ?? "#7a8599";
}

/** A MapLibre expression colouring features of `type` by their `state` property. */
export function colorExpression(type: string): unknown[] {
  const pairs = (STATES[type] ?? []).flatMap((s) => [s.state, s.color]);
  return pairs.length === 0 ? ["literal", "#7a8599"] : ["match", ["get", "state"], ...pairs, "#7a8599"];
}
