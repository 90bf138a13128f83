/**
 * Charts as SVG strings, rendered in Node by ECharts' server-side renderer: what the HTML report
 * inlines (no script needed to read it) and what the Markdown links to as files.
 */
import { echarts } from "./echarts.js";
import type { SizedOption } from "./options.js";

const escapeXml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/**
 * Renders one chart. ECharts' aria label names the container element in a browser; a static SVG
 * has none, so the same description becomes the SVG's accessible name and <title> here.
 */
export function renderSvg({ option, width, height }: SizedOption): string {
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width, height });
  let svg: string;
  try {
    chart.setOption(option);
    svg = chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
  const aria = option.aria as { label?: { description?: string } } | undefined;
  const name = aria?.label?.description;
  if (!name) return svg;
  return svg.replace(
    /^<svg ([^>]*)>/,
    (_m, attrs: string) =>
      `<svg role="img" aria-label="${escapeXml(name)}" ${attrs}><title>${escapeXml(name)}</title>`,
  );
}
