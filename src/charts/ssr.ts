/**
 * Charts as SVG strings, rendered in Node by ECharts' server-side renderer: what the HTML report
 * inlines (no script needed to read it) and what the Markdown links to as files.
 */
import { echarts } from "./echarts.js";
import type { SizedOption } from "./options.js";

export function renderSvg({ option, width, height }: SizedOption): string {
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width, height });
  try {
    chart.setOption(option);
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}
