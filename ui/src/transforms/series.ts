// Temporal API answers -> chart series ([time ms, value] pairs), and the time ranges of the
// history chart: short ranges read raw values, long ones ask the broker for averages.

export type Point = [number, number];

export interface RangeInfo {
  key: string;
  label: string;
  ms: number;
  aggregate: string | null; // aggrPeriodDuration, or null for raw values
}

const HOUR = 3_600_000;
export const RANGES: RangeInfo[] = [
  { key: "6h", label: "6 hours", ms: 6 * HOUR, aggregate: null },
  { key: "24h", label: "24 hours", ms: 24 * HOUR, aggregate: null },
  { key: "7d", label: "7 days", ms: 7 * 24 * HOUR, aggregate: "PT1H" },
  { key: "30d", label: "30 days", ms: 30 * 24 * HOUR, aggregate: "PT6H" },
];

/** Query parameters of the temporal API for one attribute over a range ending at `now`. */
export function historyParams(attr: string, range: RangeInfo, now: number): Record<string, string> {
  const params: Record<string, string> = {
    attrs: attr,
    timerel: "between",
    timeAt: new Date(now - range.ms).toISOString(),
    endTimeAt: new Date(now).toISOString(),
  };
  if (range.aggregate) {
    params.options = "aggregatedValues";
    params.aggrMethods = "avg";
    params.aggrPeriodDuration = range.aggregate;
  } else {
    params.options = "temporalValues";
    params.lastN = "1000";
  }
  return params;
}

function numeric(v: unknown): number | null {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  return null;
}

/**
 * The points of `attr` in a temporal entity (temporalValues: `values` [[value, time]];
 * aggregatedValues: `avg` [[value, start, end]], plotted at the period's middle), sorted by
 * time; several instances (datasetIds) are merged.
 */
export function seriesOf(temporal: Record<string, unknown>, attr: string): Point[] {
  const raw = temporal[attr];
  const instances = (Array.isArray(raw) ? raw : raw ? [raw] : []) as Record<string, unknown>[];
  const points: Point[] = [];
  for (const inst of instances) {
    for (const row of (inst.values ?? []) as unknown[][]) {
      const v = numeric(row[0]);
      const t = Date.parse(String(row[1]));
      if (v !== null && !Number.isNaN(t)) points.push([t, v]);
    }
    for (const row of (inst.avg ?? []) as unknown[][]) {
      const v = numeric(row[0]);
      const start = Date.parse(String(row[1]));
      const end = Date.parse(String(row[2] ?? row[1]));
      if (v !== null && !Number.isNaN(start)) points.push([(start + (Number.isNaN(end) ? start : end)) / 2, v]);
    }
  }
  return points.sort((a, b) => a[0] - b[0]);
}

export interface ForecastSeries {
  mean: Point[];
  lower: Point[]; // the band's lower edge
  width: Point[]; // upper minus lower, stacked on `lower` to draw the band
  level: number | null;
}

/** A stored forecast (GET /cityfabric/v1/forecasts) as a mean line and its widest band. */
export function forecastSeries(forecast: Record<string, unknown>): ForecastSeries {
  const times = ((forecast.times ?? []) as unknown[]).map((t) => Date.parse(String(t)));
  const mean = (forecast.mean ?? []) as unknown[];
  const levels = ((forecast.levels ?? []) as unknown[]).filter((l): l is number => typeof l === "number");
  const level = levels.length ? Math.max(...levels) : null;
  const lo = (level !== null ? forecast[`lo${level}`] ?? [] : []) as unknown[];
  const hi = (level !== null ? forecast[`hi${level}`] ?? [] : []) as unknown[];
  const out: ForecastSeries = { mean: [], lower: [], width: [], level };
  times.forEach((t, i) => {
    if (Number.isNaN(t)) return;
    const m = numeric(mean[i]);
    if (m !== null) out.mean.push([t, m]);
    const l = numeric(lo[i]);
    const h = numeric(hi[i]);
    if (l !== null && h !== null) {
      out.lower.push([t, l]);
      out.width.push([t, h - l]);
    }
  });
  return out;
}
