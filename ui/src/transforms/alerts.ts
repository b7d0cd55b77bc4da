// Alert and Anomaly entities -> the rows of the alerts list, newest first, and its filter.

import type { Entity } from "./entity";
import { scalar } from "./entity";

export interface AlertRow {
  id: string;
  kind: "Alert" | "Anomaly";
  time: string; // ISO 8601
  severity: string;
  source: string; // the asset's entity id
  description: string;
  status: string; // "open", "cleared" (validTo set) or what an operator set (acknowledged)
}

const text = (v: unknown): string => {
  const s = scalar(v);
  return s === null ? "" : String(s);
};

/** One row per Alert or Anomaly entity (other types are skipped), newest first. */
export function alertRows(entities: Entity[]): AlertRow[] {
  const rows: AlertRow[] = [];
  for (const e of entities) {
    if (e.type !== "Alert" && e.type !== "Anomaly") continue;
    const alert = e.type === "Alert";
    let status = text(e.status);
    if (!status) status = alert && e.validTo !== undefined ? "cleared" : "open";
    rows.push({
      id: e.id,
      kind: e.type,
      time: text(alert ? e.dateIssued ?? e.validFrom : e.dateDetected),
      severity: alert ? text(e.severity) || "unknown" : "anomaly",
      source: text(alert ? e.alertSource : e.detectedBy),
      description: text(e.description),
      status,
    });
  }
  return rows.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : a.id.localeCompare(b.id)));
}

export interface AlertFilter {
  text: string;
  kind: "" | "Alert" | "Anomaly";
  status: "" | "open" | "acknowledged" | "cleared";
}

/** The rows matching every non-empty part of the filter (text: case-insensitive substring). */
export function filterAlerts(rows: AlertRow[], filter: AlertFilter): AlertRow[] {
  const needle = filter.text.trim().toLowerCase();
  return rows.filter(
    (r) =>
      (!filter.kind || r.kind === filter.kind) &&
      (!filter.status || r.status === filter.status) &&
      (!needle || `${r.description} ${r.source} ${r.severity}`.toLowerCase().includes(needle)),
  );
}

/** Ids of the assets with an open (not cleared, not acknowledged) Alert. */
export function alertedAssets(rows: AlertRow[]): Set<string> {
  return new Set(rows.filter((r) => r.kind === "Alert" && r.status === "open").map((r) => r.source));
}

/** `rows` with `entity` inserted or replacing the row of the same id, newest first. */
export function upsertAlert(rows: AlertRow[], entity: Entity): AlertRow[] {
  const fresh = alertRows([entity]);
  if (fresh.length === 0) return rows;
  const merged = rows.filter((r) => r.id !== entity.id).concat(fresh);
  return merged.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : a.id.localeCompare(b.id)));
}
