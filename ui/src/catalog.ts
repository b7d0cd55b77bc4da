// One row per entity type the dashboard knows: its Smart Data Model @context, how the map
// draws it and which attributes have a history worth charting. Adding a type is one row.

export type Geometry = "point" | "line" | "polygon" | "extrusion";

export interface TypeInfo {
  type: string;
  label: string;
  domain: string; // Smart Data Model domain, names the @context
  geometry: Geometry;
  onMap: boolean;
  attrs: string[]; // attributes the map needs for its style (besides location)
  history: string[]; // numeric attributes for the history chart, the first shown by default
}

const sdm = (domain: string): string =>
  `https://smart-data-models.github.io/${domain}/context.jsonld`;

export const TYPES: TypeInfo[] = [
  {
    type: "RoadSegment", label: "Roads", domain: "dataModel.Transportation",
    geometry: "line", onMap: true, attrs: [], history: [],
  },
  {
    type: "Building", label: "Buildings", domain: "dataModel.Building",
    geometry: "extrusion", onMap: true, attrs: ["floorsAboveGround", "category"],
    history: ["peopleOccupancy"],
  },
  {
    type: "SeaportFacilities", label: "Port facilities", domain: "dataModel.Ports",
    geometry: "polygon", onMap: true, attrs: ["availableSpotNumber"],
    history: ["availableSpotNumber"],
  },
  {
    type: "Streetlight", label: "Streetlights", domain: "dataModel.Streetlighting",
    geometry: "point", onMap: true, attrs: ["powerState", "status"],
    history: ["powerConsumption", "illuminanceLevel"],
  },
  {
    type: "PhotovoltaicMeasurement", label: "Solar output", domain: "dataModel.GreenEnergy",
    geometry: "point", onMap: true,
    attrs: ["activePower", "nominalPeakPowerGeneration"],
    history: ["activePower", "phoneChargingPower", "temperature"],
  },
  {
    type: "AirQualityObserved", label: "Air quality", domain: "dataModel.Environment",
    geometry: "point", onMap: true, attrs: ["pm25", "pm10", "no2"],
    history: ["pm25", "pm10", "no2", "o3"],
  },
  {
    type: "EVChargingStation", label: "EV chargers", domain: "dataModel.Transportation",
    geometry: "point", onMap: true, attrs: ["availableCapacity", "capacity", "status"],
    history: ["powerConsumption", "availableCapacity"],
  },
  {
    type: "TrafficFlowObserved", label: "Traffic counters", domain: "dataModel.Transportation",
    geometry: "point", onMap: true, attrs: ["congested", "intensity"],
    history: ["intensity", "averageVehicleSpeed", "occupancy"],
  },
  {
    type: "WeatherObserved", label: "Weather", domain: "dataModel.Weather",
    geometry: "point", onMap: true, attrs: ["temperature"],
    history: ["temperature", "relativeHumidity", "windSpeed", "solarRadiation"],
  },
  {
    type: "PhotovoltaicDevice", label: "Solar devices", domain: "dataModel.GreenEnergy",
    geometry: "point", onMap: false, attrs: [], history: [],
  },
  {
    type: "StreetlightGroup", label: "Lighting circuits", domain: "dataModel.Streetlighting",
    geometry: "point", onMap: false, attrs: [], history: ["illuminanceLevel"],
  },
  {
    type: "Device", label: "Devices", domain: "dataModel.Device",
    geometry: "point", onMap: false, attrs: [], history: [],
  },
  {
    type: "DeviceMeasurement", label: "Meters", domain: "dataModel.Device",
    geometry: "point", onMap: false, attrs: [], history: ["numValue"],
  },
  {
    type: "Alert", label: "Alerts", domain: "dataModel.Alert",
    geometry: "point", onMap: false, attrs: [], history: [],
  },
  {
    type: "Anomaly", label: "Anomalies", domain: "dataModel.Alert",
    geometry: "point", onMap: false, attrs: [], history: [],
  },
];

export const BY_TYPE: ReadonlyMap<string, TypeInfo> = new Map(TYPES.map((t) => [t.type, t]));

/** The @context URL of a type, or undefined for one the dashboard does not know. */
export function contextOf(type: string): string | undefined {
  const info = BY_TYPE.get(type);
  return info ? sdm(info.domain) : undefined;
}

/** The entity type named in a `urn:ngsi-ld:<Type>:...` id. */
export function typeOfId(id: string): string {
  return id.split(":")[2] ?? "";
}
