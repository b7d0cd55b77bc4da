// The table view: entities of a type filtered by the NGSI-LD q language, paged, with CSV export.

import * as api from "./api";
import { TYPES } from "./catalog";
import { h } from "./dom";
import type { Entity } from "./transforms/entity";
import { scalar } from "./transforms/entity";
import { columnsOf, toCsv } from "./transforms/csv";

const PAGE = 50;
const EXPORT_MAX = 20_000;

export class Table {
  private offset = 0;
  private count = 0;
  private readonly type: HTMLSelectElement;
  private readonly q: HTMLInputElement;
  private readonly body: HTMLElement;
  private readonly status: HTMLElement;

  constructor(root: HTMLElement, private readonly onSelect: (id: string, type: string) => void) {
    this.type = h("select", { id: "table-type", "aria-label": "Entity type" },
      ...TYPES.map((t) => h("option", { value: t.type }, `${t.label} (${t.type})`)));
    this.q = h("input", { type: "search", id: "table-q", placeholder: 'q, e.g. powerState=="on"', "aria-label": "q filter" });
    const form = h("form", { class: "row", onsubmit: (ev: Event) => { ev.preventDefault(); this.offset = 0; void this.load(); } },
      this.type, this.q, h("button", { type: "submit" }, "Query"),
      h("button", { type: "button", id: "table-prev", onclick: () => this.page(-1) }, "◀ Previous"),
      h("button", { type: "button", id: "table-next", onclick: () => this.page(1) }, "Next ▶"),
      h("button", { type: "button", id: "table-csv", onclick: () => void this.exportCsv() }, "Export CSV"));
    this.type.addEventListener("change", () => { this.offset = 0; void this.load(); });
    this.status = h("p", { class: "muted", id: "table-status", "aria-live": "polite" });
    this.body = h("div", { class: "table-wrap" });
    root.replaceChildren(form, this.status, this.body);
  }

  private params(): Record<string, string> {
    return this.q.value.trim() ? { q: this.q.value.trim() } : {};
  }

  private page(step: number): void {
    const next = this.offset + step * PAGE;
    if (next < 0 || (step > 0 && next >= this.count)) return;
    this.offset = next;
    void this.load();
  }

  async load(): Promise<void> {
    this.status.textContent = "Loading…";
    try {
      const page = await api.entityPage(this.type.value, { ...this.params(), limit: PAGE, offset: this.offset });
      this.count = page.count;
      const last = Math.min(this.offset + page.entities.length, page.count);
      this.status.textContent = page.count
        ? `${this.offset + 1}–${last} of ${page.count}`
        : "No entities match";
      this.render(page.entities);
    } catch (err) {
      this.status.textContent = String(err);
      this.body.replaceChildren();
    }
  }

  private render(rows: Entity[]): void {
    const cols = columnsOf(rows).filter((c) => c !== "location").slice(0, 12);
    const table = h("table", { class: "entities" },
      h("thead", {}, h("tr", {}, ...cols.map((c) => h("th", { scope: "col" }, c)))));
    const tbody = h("tbody");
    for (const row of rows) {
      const tr = h("tr", { tabindex: "0", "data-id": row.id });
      const open = (): void => this.onSelect(row.id, row.type);
      tr.addEventListener("click", open);
      tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(); });
      for (const c of cols) tr.append(h("td", {}, String(scalar(row[c]) ?? "")));
      tbody.append(tr);
    }
    table.append(tbody);
    this.body.replaceChildren(table);
  }

  private async exportCsv(): Promise<void> {
    this.status.textContent = "Exporting…";
    try {
      const rows = await api.allEntities(this.type.value, this.params(), EXPORT_MAX);
      const blob = new Blob([toCsv(rows)], { type: "text/csv" });
      const a = h("a", { href: URL.createObjectURL(blob), download: `${this.type.value}.csv` });
      a.click();
      URL.revokeObjectURL(a.href);
      this.status.textContent = `Exported ${rows.length} rows`;
    } catch (err) {
      this.status.textContent = String(err);
    }
  }
}
