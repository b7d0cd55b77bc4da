// The side panel of one asset: attributes, relationships, a history chart with a time-range
// picker (averages from the broker for long ranges) and the forecast band when one exists.

import * as api from "./api";
import type { Chart, Option } from "./chart";
import { BY_TYPE, typeOfId } from "./catalog";
import { h } from "./dom";
import { relationships, scalar, type Entity } from "./transforms/entity";
import { forecastSeries, historyParams, RANGES, seriesOf } from "./transforms/series";

export class Panel {
  private chart: Chart | null = null;
  private current: { id: string; type: string } | null = null;

  constructor(private readonly root: HTMLElement) {
    root.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") this.close();
    });
    new ResizeObserver(() => this.chart?.resize()).observe(root);
  }

  close(): void {
    this.root.hidden = true;
    this.chart?.dispose();
    this.chart = null;
    this.current = null;
  }

  async open(id: string, type: string = typeOfId(id)): Promise<void> {
    this.current = { id, type };
    this.root.hidden = false;
    this.root.replaceChildren(h("p", { class: "muted" }, `Loading ${id}…`));
    let entity: Entity | null;
    try {
      entity = await api.entity(id, type);
    } catch (err) {
      this.root.replaceChildren(h("p", { class: "error" }, String(err)));
      return;
    }
    if (this.current?.id !== id) return; // another asset was picked meanwhile
    if (!entity) {
      this.root.replaceChildren(h("p", { class: "error" }, `${id} no longer exists`));
      return;
    }
    this.render(entity);
  }

  private render(entity: Entity): void {
    const info = BY_TYPE.get(entity.type);
    const close = h("button", { class: "close", "aria-label": "Close the panel", onclick: () => this.close() }, "×");
    const title = h("h2", { id: "panel-title", tabindex: "-1" }, String(scalar(entity.name) ?? entity.id));
    const attrs = h("table", { class: "attrs" });
    for (const [name, value] of Object.entries(entity)) {
      if (name === "location" || name === "name") continue;
      attrs.append(h("tr", {}, h("th", { scope: "row" }, name), h("td", {}, String(scalar(value) ?? ""))));
    }
    const rels = h("ul", { class: "rels" });
    for (const [name, ids] of relationships(entity)) {
      for (const target of ids) {
        rels.append(h("li", {}, `${name} → `, h("button", { class: "link", onclick: () => void this.open(target) }, target)));
      }
    }
    const history = info?.history ?? [];
    const chartBox = h("div", { class: "chart", id: "history-chart", role: "img", "aria-label": "history chart" });
    const attrPick = h("select", { id: "history-attr", "aria-label": "attribute" },
      ...history.map((a) => h("option", { value: a }, a)));
    const rangePick = h("select", { id: "history-range", "aria-label": "time range" },
      ...RANGES.map((r) => h("option", { value: r.key, selected: r.key === "24h" }, r.label)));
    const status = h("p", { class: "muted", id: "history-status" });
    const redraw = (): void => void this.drawHistory(entity, attrPick.value, rangePick.value, chartBox, status);
    attrPick.addEventListener("change", redraw);
    rangePick.addEventListener("change", redraw);
    const sections: (HTMLElement | null)[] = [
      h("header", {}, title, close),
      h("p", { class: "muted" }, `${entity.type} · ${entity.id}`),
      history.length
        ? h("section", {}, h("h3", {}, "History"), h("div", { class: "row" }, attrPick, rangePick), chartBox, status)
        : null,
      rels.childElementCount ? h("section", {}, h("h3", {}, "Relationships"), rels) : null,
      h("section", {}, h("h3", {}, "Attributes"), attrs),
    ];
    this.root.replaceChildren(...sections.filter((x): x is HTMLElement => x !== null));
    title.focus();
    this.chart?.dispose();
    this.chart = null;
    if (history.length) redraw();
  }

  private async drawHistory(
    entity: Entity, attr: string, rangeKey: string, box: HTMLElement, status: HTMLElement,
  ): Promise<void> {
    const range = RANGES.find((r) => r.key === rangeKey) ?? RANGES[1];
    status.textContent = "Loading history…";
    try {
      const [temporal, stored] = await Promise.all([
        api.temporal(entity.id, entity.type, historyParams(attr, range, Date.now())),
        api.forecasts(entity.id, entity.type).catch(() => []),
      ]);
      const points = seriesOf(temporal, attr);
      const forecast = stored.find((f) => f.attribute === attr);
      const band = forecast ? forecastSeries(forecast) : null;
      if (!this.chart) {
        const { createChart } = await import("./chart");
        if (!box.isConnected) return; // the panel moved on meanwhile
        this.chart = createChart(box);
      }
      const series: Option[] = [
        { name: range.aggregate ? `${attr} (avg per ${range.aggregate})` : attr, type: "line", showSymbol: false, data: points, lineStyle: { color: "#4aa3ff" }, itemStyle: { color: "#4aa3ff" } },
      ];
      if (band) {
        series.push(
          { name: "band low", type: "line", data: band.lower, stack: "band", lineStyle: { opacity: 0 }, showSymbol: false, tooltip: { show: false } },
          { name: `${band.level ?? ""}% interval`, type: "line", data: band.width, stack: "band", lineStyle: { opacity: 0 }, showSymbol: false, areaStyle: { color: "rgba(255, 176, 0, 0.25)" } },
          { name: "forecast", type: "line", data: band.mean, showSymbol: false, lineStyle: { type: "dashed", color: "#ffb000" }, itemStyle: { color: "#ffb000" } },
        );
      }
      this.chart.setOption({
        backgroundColor: "transparent",
        animation: false,
        tooltip: { trigger: "axis" },
        legend: { data: series.map((s) => s.name as string).filter((n) => n !== "band low"), textStyle: { color: "#e6edf5" } },
        grid: { left: 48, right: 16, top: 36, bottom: 48 },
        textStyle: { color: "#e6edf5" },
        xAxis: { type: "time", axisLabel: { color: "#c5d0dd" }, axisLine: { lineStyle: { color: "#5b6b80" } } },
        yAxis: { type: "value", scale: true, axisLabel: { color: "#c5d0dd" }, splitLine: { lineStyle: { color: "#2a3646" } } },
        dataZoom: [{ type: "inside" }, { type: "slider", height: 16, bottom: 8 }],
        series,
      }, true);
      status.textContent = `${points.length} points` + (band ? ` · forecast (${forecast?.model})` : "");
      box.dataset.points = String(points.length);
      box.dataset.forecast = String(band?.mean.length ?? 0);
    } catch (err) {
      status.textContent = String(err);
    }
  }
}
