// The map: the city's own roads and buildings as the base map (no remote tiles, fonts or
// sprites), and one layer per asset type coloured by live state.

import * as maplibregl from "maplibre-gl";
import type { GeoJSONSource, StyleSpecification } from "maplibre-gl";
import workerUrl from "maplibre-gl/dist/maplibre-gl-worker.mjs?worker&url";
import "maplibre-gl/dist/maplibre-gl.css";
import { allEntities } from "./api";
import { TYPES, type TypeInfo } from "./catalog";
import { h } from "./dom";
import type { Entity } from "./transforms/entity";
import { bounds, toCollection } from "./transforms/features";
import { colorExpression, STATES } from "./transforms/style";

maplibregl.setWorkerUrl(workerUrl);

export const MAP_TYPES: TypeInfo[] = TYPES.filter((t) => t.onMap);
const LIVE_TYPES = new Set(["Streetlight", "PhotovoltaicMeasurement", "AirQualityObserved",
  "EVChargingStation", "TrafficFlowObserved", "WeatherObserved", "SeaportFacilities", "Building"]);

export const layerId = (type: string): string => `asset-${type}`;

function baseStyle(tileUrl: string | null): StyleSpecification {
  const style: StyleSpecification = {
    version: 8,
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#111923" } }],
  };
  if (tileUrl) {
    style.sources.tiles = { type: "raster", tiles: [tileUrl], tileSize: 256 };
    style.layers.push({ id: "tiles", type: "raster", source: "tiles", paint: { "raster-opacity": 0.6 } });
  }
  return style;
}

function addLayer(map: maplibregl.Map, info: TypeInfo): void {
  const source = `src-${info.type}`;
  map.addSource(source, { type: "geojson", data: { type: "FeatureCollection", features: [] } });
  const id = layerId(info.type);
  const color = colorExpression(info.type) as maplibregl.ExpressionSpecification;
  switch (info.geometry) {
    case "line":
      map.addLayer({
        id, type: "line", source,
        paint: {
          "line-color": color,
          "line-width": ["interpolate", ["linear"], ["zoom"], 12, 1, 17, 10],
        },
      });
      break;
    case "extrusion":
      map.addLayer({
        id, type: "fill-extrusion", source,
        paint: {
          "fill-extrusion-color": color,
          "fill-extrusion-height": ["get", "height"],
          "fill-extrusion-opacity": 0.75,
        },
      });
      break;
    case "polygon":
      map.addLayer({ id, type: "fill", source, paint: { "fill-color": color, "fill-opacity": 0.55 } });
      break;
    default:
      map.addLayer({
        id, type: "circle", source,
        paint: {
          "circle-color": color,
          "circle-radius": ["interpolate", ["linear"], ["zoom"], 12, 2.5, 17, 8],
          "circle-stroke-color": "#0b1118",
          "circle-stroke-width": 1,
        },
      });
  }
}

export interface CityMap {
  map: maplibregl.Map;
  load(alerted: ReadonlySet<string>): Promise<number>;
  refresh(alerted: ReadonlySet<string>): Promise<void>;
  restyle(alerted: ReadonlySet<string>): void;
}

/**
 * The map in `container`; `onPick` gets the entity id and type of a clicked asset. The map's
 * style loads while `load` fetches the city's entities, so neither waits for the other.
 */
export function createMap(
  container: HTMLElement, tileUrl: string | null, onPick: (id: string, type: string) => void,
): CityMap {
  const map = new maplibregl.Map({
    container,
    style: baseStyle(tileUrl),
    center: [0, 0],
    zoom: 1,
    attributionControl: false,
    canvasContextAttributes: { preserveDrawingBuffer: true }, // screenshots in tests
  });
  map.addControl(new maplibregl.NavigationControl({ visualizePitch: true }), "top-right");
  const cache = new Map<string, Entity[]>();
  const pickable = MAP_TYPES.filter((t) => t.type !== "RoadSegment").map((t) => layerId(t.type));
  const styled = new Promise<void>((resolve) => {
    map.on("load", () => {
      for (const info of MAP_TYPES) addLayer(map, info);
      resolve();
    });
  });
  map.on("click", (ev: maplibregl.MapMouseEvent) => {
    const layers = pickable.filter((l) => map.getLayer(l) && map.getLayoutProperty(l, "visibility") !== "none");
    const hit = map.queryRenderedFeatures(ev.point, { layers })[0];
    if (hit) onPick(String(hit.properties.id), String(hit.properties.type));
  });
  for (const l of pickable) {
    map.on("mouseenter", l, () => (map.getCanvas().style.cursor = "pointer"));
    map.on("mouseleave", l, () => (map.getCanvas().style.cursor = ""));
  }

  const draw = (type: string, alerted: ReadonlySet<string>): void => {
    const src = map.getSource(`src-${type}`) as GeoJSONSource | undefined;
    src?.setData(toCollection(cache.get(type) ?? [], alerted));
  };
  const fetchAll = async (types: TypeInfo[]): Promise<Map<string, Entity[]>> => {
    const lists = await Promise.all(
      types.map((info) => allEntities(info.type, { attrs: [...info.attrs, "location"].join(",") })),
    );
    return new Map(types.map((t, i) => [t.type, lists[i]]));
  };

  return {
    map,
    async load(alerted) {
      const [fresh] = await Promise.all([fetchAll(MAP_TYPES), styled]);
      cache.clear();
      for (const [type, list] of fresh) cache.set(type, list);
      // move first, so the sources are tiled once, at the city's zoom
      const box = bounds(MAP_TYPES.map((t) => toCollection(cache.get(t.type) ?? [], alerted)));
      if (box) map.fitBounds(box, { padding: 30, animate: false, pitch: 45 });
      for (const info of MAP_TYPES) draw(info.type, alerted);
      return [...cache.values()].reduce((n, list) => n + list.length, 0);
    },
    async refresh(alerted) {
      const fresh = await fetchAll(MAP_TYPES.filter((t) => LIVE_TYPES.has(t.type)));
      for (const [type, list] of fresh) {
        cache.set(type, list);
        draw(type, alerted);
      }
    },
    restyle(alerted) {
      for (const info of MAP_TYPES) draw(info.type, alerted);
    },
  };
}

/** Layer toggles (checkboxes, keyboard usable) and the legend, built from STATES. */
export function layerControls(map: maplibregl.Map): HTMLElement {
  const list = h("ul", { class: "layers" });
  for (const info of MAP_TYPES) {
    const box = h("input", {
      type: "checkbox", checked: true, id: `toggle-${info.type}`,
      onchange: (ev: Event) => {
        const on = (ev.target as HTMLInputElement).checked;
        if (map.getLayer(layerId(info.type))) {
          map.setLayoutProperty(layerId(info.type), "visibility", on ? "visible" : "none");
        }
      },
    });
    const legend = h("ul", { class: "legend" });
    for (const s of STATES[info.type] ?? []) {
      legend.append(h("li", {}, h("span", { class: "swatch", style: `background:${s.color}` }), s.label));
    }
    list.append(h("li", {}, h("label", { for: `toggle-${info.type}` }, box, ` ${info.label}`), legend));
  }
  return list;
}
