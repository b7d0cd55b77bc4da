// The alerts list: Alert and Anomaly entities, newest first, filterable, with acknowledge;
// kept live by the tenant's dashboard subscription read as a server-sent-events stream.

import * as api from "./api";
import { h } from "./dom";
import type { Entity } from "./transforms/entity";
import { alertedAssets, alertRows, filterAlerts, upsertAlert, type AlertFilter, type AlertRow } from "./transforms/alerts";

const RETRY_MS = 3000;

export class Alerts {
  rows: AlertRow[] = [];
  live = false;
  private filter: AlertFilter = { text: "", kind: "", status: "" };
  private stream: AbortController | null = null;
  private readonly list: HTMLElement;
  private readonly counter: HTMLElement;

  constructor(
    root: HTMLElement,
    private readonly onSelect: (assetId: string) => void,
    private readonly onChange: (alerted: ReadonlySet<string>) => void,
  ) {
    const text = h("input", { type: "search", id: "alert-filter", placeholder: "Filter alerts", "aria-label": "Filter alerts" });
    text.addEventListener("input", () => this.setFilter({ text: text.value }));
    const kind = h("select", { id: "alert-kind", "aria-label": "Kind" },
      h("option", { value: "" }, "all kinds"), h("option", { value: "Alert" }, "alerts"), h("option", { value: "Anomaly" }, "anomalies"));
    kind.addEventListener("change", () => this.setFilter({ kind: kind.value as AlertFilter["kind"] }));
    const status = h("select", { id: "alert-status", "aria-label": "Status" },
      h("option", { value: "" }, "any status"), h("option", { value: "open" }, "open"),
      h("option", { value: "acknowledged" }, "acknowledged"), h("option", { value: "cleared" }, "cleared"));
    status.addEventListener("change", () => this.setFilter({ status: status.value as AlertFilter["status"] }));
    this.counter = h("span", { class: "muted", id: "alert-count", "aria-live": "polite" });
    this.list = h("ol", { class: "alerts", id: "alert-list" });
    root.replaceChildren(
      h("h2", {}, "Alerts ", this.counter),
      h("div", { class: "row" }, text, kind, status),
      this.list,
    );
  }

  private setFilter(part: Partial<AlertFilter>): void {
    this.filter = { ...this.filter, ...part };
    this.render();
  }

  /** Load the tenant's alerts and (re)open the live stream. */
  async load(): Promise<void> {
    this.stream?.abort();
    this.live = false;
    const [alerts, anomalies] = await Promise.all([
      api.allEntities("Alert", {}, 5000),
      api.allEntities("Anomaly", {}, 5000),
    ]);
    this.rows = alertRows([...alerts, ...anomalies]);
    this.render();
    this.onChange(alertedAssets(this.rows));
    void this.follow();
  }

  private async follow(): Promise<void> {
    const ctl = new AbortController();
    this.stream = ctl;
    while (!ctl.signal.aborted) {
      try {
        const sub = await api.alertSubscription();
        await api.streamNotifications(sub, (entities) => this.receive(entities), ctl.signal, () => {
          this.live = true;
          this.render();
        });
      } catch (err) {
        if (ctl.signal.aborted) return;
        console.warn("alert stream:", err);
      }
      this.live = false;
      this.render();
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }

  private receive(entities: Entity[]): void {
    for (const e of entities) this.rows = upsertAlert(this.rows, e);
    this.render();
    this.onChange(alertedAssets(this.rows));
  }

  private async acknowledge(row: AlertRow): Promise<void> {
    await api.mergeAttrs(row.id, row.kind, { status: { type: "Property", value: "acknowledged" } });
    this.rows = this.rows.map((r) => (r.id === row.id ? { ...r, status: "acknowledged" } : r));
    this.render();
    this.onChange(alertedAssets(this.rows));
  }

  private render(): void {
    const shown = filterAlerts(this.rows, this.filter);
    this.counter.textContent = `${shown.length} of ${this.rows.length}${this.live ? " · live" : ""}`;
    this.list.replaceChildren(
      ...shown.slice(0, 300).map((row) =>
        h("li", { class: `alert ${row.status} sev-${row.severity}`, "data-id": row.id },
          h("div", { class: "alert-head" },
            h("span", { class: "badge" }, row.kind === "Alert" ? row.severity : "anomaly"),
            h("time", { datetime: row.time }, row.time.replace("T", " ").slice(0, 16)),
            h("span", { class: "status" }, row.status)),
          h("p", {}, row.description),
          h("div", { class: "row" },
            h("button", { class: "link", onclick: () => this.onSelect(row.source) }, "Show asset"),
            row.kind === "Alert" && row.status === "open"
              ? h("button", { onclick: () => void this.acknowledge(row).catch((e) => alert(String(e))) }, "Acknowledge")
              : null),
        ),
      ),
    );
  }
}
