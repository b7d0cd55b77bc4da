// ECharts with only the parts the history chart uses; loaded on the first opened panel, so
// the map's first render does not wait for it.

import { LineChart } from "echarts/charts";
import { DataZoomComponent, GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([LineChart, GridComponent, TooltipComponent, LegendComponent, DataZoomComponent, CanvasRenderer]);

export type Chart = echarts.ECharts;
export type Option = echarts.EChartsCoreOption;

export function createChart(box: HTMLElement): Chart {
  return echarts.init(box, undefined, { renderer: "canvas" });
}
