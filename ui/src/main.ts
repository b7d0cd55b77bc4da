// The dashboard shell: city switcher, map and table views, alerts, the asset panel.

import "./style.css";
import type * as maplibregl from "maplibre-gl";
import * as api from "./api";
import { Alerts } from "./alerts";
import { typeOfId } from "./catalog";
import { byId, h } from "./dom";
import { createMap, layerControls, layerId, MAP_TYPES, type CityMap } from "./map";
import { Panel } from "./panel";
import { Table } from "./table";

const REFRESH_MS = 30_000;
const TENANT_KEY = "cityfabric.tenant";

interface Hook {
  map?: maplibregl.Map;
  tenant: string;
  firstRenderMs?: number; // navigation start -> the first rendered asset features
  idleMs?: number; // navigation start -> every layer of the first city drawn (map idle)
  assets: number;
  ready: boolean;
  open?: (id: string) => Promise<void>;
  assetFeatures?: () => number;
}

declare global {
  interface Window {
    __cityfabric: Hook;
  }
}

const hook: Hook = { tenant: "", assets: 0, ready: false };
window.__cityfabric = hook;

function tenantLabel(name: string): string {
  return name === "" ? "default tenant" : name;
}

function setStatus(text: string): void {
  byId("status").textContent = text;
}

function renderedAssets(map: maplibregl.Map): number {
  const layers = MAP_TYPES.map((t) => layerId(t.type)).filter((l) => map.getLayer(l));
  return map.queryRenderedFeatures({ layers }).length;
}

/** Resolves at the first rendered frame that shows asset features. */
function whenRendered(map: maplibregl.Map): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (renderedAssets(map) > 0) {
        map.off("render", check);
        resolve();
      }
    };
    map.on("render", check);
    map.triggerRepaint();
  });
}

async function main(): Promise<void> {
  const panel = new Panel(byId("panel"));
  const openAsset = (id: string, type: string = typeOfId(id)): Promise<void> => panel.open(id, type);
  hook.open = openAsset;

  let cityMap: CityMap | null = null;
  let alerted: ReadonlySet<string> = new Set();
  const alerts = new Alerts(byId("alerts"), (id) => void openAsset(id), (set) => {
    alerted = set;
    cityMap?.restyle(set);
  });
  const table = new Table(byId("table-view"), (id, type) => void openAsset(id, type));

  const [config, tenants] = await Promise.all([
    api.uiConfig().catch(() => ({ tileUrl: null })),
    api.tenants(),
  ]);
  const picker = byId<HTMLSelectElement>("city");
  picker.replaceChildren(...tenants.map((t) => h("option", { value: t }, tenantLabel(t))));
  // ?city=<tenant> links to a city; else the last one chosen here; else the first
  const asked = new URLSearchParams(location.search).get("city") ?? localStorage.getItem(TENANT_KEY);
  const initial = asked !== null && tenants.includes(asked) ? asked : tenants.find((t) => t !== "") ?? "";
  picker.value = initial;

  cityMap = createMap(byId("map"), config.tileUrl, (id, type) => void openAsset(id, type));
  hook.map = cityMap.map;
  hook.assetFeatures = () => renderedAssets(cityMap!.map);
  const layersBox = byId<HTMLDetailsElement>("layers-box");
  layersBox.append(layerControls(cityMap.map));
  layersBox.open = window.innerWidth > 1100; // tablets: the alerts come first


  const showCity = async (tenant: string): Promise<void> => {
    hook.ready = false;
    api.setTenant(tenant);
    hook.tenant = tenant;
    localStorage.setItem(TENANT_KEY, tenant);
    panel.close();
    setStatus(`Loading ${tenantLabel(tenant)}…`);
    try {
      const [count] = await Promise.all([cityMap!.load(alerted), alerts.load()]);
      hook.assets = count;
      if (count > 0) await whenRendered(cityMap!.map);
      hook.firstRenderMs ??= performance.now();
      if (hook.idleMs === undefined) cityMap!.map.once("idle", () => (hook.idleMs ??= performance.now()));
      setStatus(`${tenantLabel(tenant)}: ${count.toLocaleString()} assets`);
      hook.ready = true;
      document.body.dataset.tenant = tenant;
      if (!byId("table-view").hidden) void table.load();
    } catch (err) {
      setStatus(`Could not load ${tenantLabel(tenant)}: ${String(err)}`);
    }
  };
  picker.addEventListener("change", () => void showCity(picker.value));

  const views = { map: byId("map-view"), table: byId("table-view") };
  for (const name of Object.keys(views)) {
    byId(`tab-${name}`).addEventListener("click", () => {
      for (const [other, el] of Object.entries(views)) {
        el.hidden = other !== name;
        byId(`tab-${other}`).setAttribute("aria-pressed", String(other === name));
      }
      if (name === "table") void table.load();
      else cityMap?.map.resize();
    });
  }

  setInterval(() => {
    if (hook.ready && document.visibilityState === "visible") void cityMap?.refresh(alerted);
  }, REFRESH_MS);
  await showCity(initial);
}

void main().catch((err) => setStatus(`The dashboard failed to start: ${String(err)}`));
