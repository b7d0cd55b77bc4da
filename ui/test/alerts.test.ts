import { describe, expect, it } from "vitest";
import { alertedAssets, alertRows, filterAlerts, upsertAlert } from "../src/transforms/alerts";
import { parseEvents } from "../src/transforms/sse";

const dt = (v: string) => ({ "@type": "DateTime", "@value": v });
const alert = (id: string, time: string, extra: Record<string, unknown> = {}) => ({
  id, type: "Alert", severity: "high", alertSource: `urn:ngsi-ld:Streetlight:${id}`,
  dateIssued: dt(time), description: `lamp ${id} dark`, ...extra,
});

describe("alertRows", () => {
  it("orders alerts and anomalies newest first with their status", () => {
    const rows = alertRows([
      alert("a", "2026-12-05T10:00:00Z"),
      alert("b", "2026-12-05T12:00:00Z", { validTo: dt("2026-12-05T13:00:00Z") }),
      { id: "n", type: "Anomaly", dateDetected: dt("2026-12-05T11:00:00Z"), detectedBy: "urn:x", description: "spike" },
      { id: "s", type: "Streetlight" },
    ]);
    expect(rows.map((r) => [r.id, r.status])).toEqual([["b", "cleared"], ["n", "open"], ["a", "open"]]);
    expect(rows[1]).toMatchObject({ kind: "Anomaly", source: "urn:x", severity: "anomaly" });
    expect([...alertedAssets(rows)]).toEqual(["urn:ngsi-ld:Streetlight:a"]);
  });

  it("filters by text, kind and status", () => {
    const rows = alertRows([alert("a", "2026-12-05T10:00:00Z"), alert("b", "2026-12-05T11:00:00Z", { status: "acknowledged" })]);
    expect(filterAlerts(rows, { text: "LAMP A", kind: "", status: "" }).map((r) => r.id)).toEqual(["a"]);
    expect(filterAlerts(rows, { text: "", kind: "Anomaly", status: "" })).toEqual([]);
    expect(filterAlerts(rows, { text: "", kind: "Alert", status: "acknowledged" }).map((r) => r.id)).toEqual(["b"]);
  });

  it("upserts a notified alert in order", () => {
    let rows = alertRows([alert("a", "2026-12-05T10:00:00Z")]);
    rows = upsertAlert(rows, alert("c", "2026-12-05T14:00:00Z"));
    rows = upsertAlert(rows, alert("a", "2026-12-05T10:00:00Z", { status: "acknowledged" }));
    expect(rows.map((r) => [r.id, r.status])).toEqual([["c", "open"], ["a", "acknowledged"]]);
  });
});

describe("parseEvents", () => {
  it("returns complete data events, skips comments and keeps the rest", () => {
    const p = parseEvents(': listening\n\ndata: {"a":1}\n\n: keepalive\n\ndata: {"b"');
    expect(p.data).toEqual(['{"a":1}']);
    expect(p.rest).toBe('data: {"b"');
    expect(parseEvents('data: x\r\ndata: y\r\n\r\n').data).toEqual(["x\ny"]);
  });
});
