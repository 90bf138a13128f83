/**
 * The one chart library, ECharts, registered once with the parts loraprof draws (tree-shaken: the
 * dashboard bundle carries only these). Both renderers are registered: the dashboard draws on a
 * canvas (cheap to redraw as points stream in), the reports render SVG strings in Node (`ssr`), so
 * a report stays one file with no script and its charts also work as the Markdown's SVG files.
 */
import * as echarts from "echarts/core";
import { BarChart, CustomChart, HeatmapChart, LineChart, ScatterChart } from "echarts/charts";
import {
  AriaComponent,
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  TitleComponent,
  TooltipComponent,
  VisualMapComponent,
} from "echarts/components";
import { CanvasRenderer, SVGRenderer } from "echarts/renderers";

echarts.use([
  LineChart,
  BarChart,
  ScatterChart,
  HeatmapChart,
  CustomChart,
  AriaComponent,
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  TitleComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer,
  SVGRenderer,
]);

export { echarts };
export type { EChartsOption } from "echarts";
