/**
 * One ECharts instance per chart element, kept across renders: new data is a setOption on the same
 * instance (ECharts diffs it), so a live chart grows without flicker. `data-points` on the element
 * counts the first series' points: what a reader (and the browser test) can check without pixels.
 */
import { useEffect, useRef } from "preact/hooks";
import { echarts } from "../charts/echarts.js";
import type { SizedOption } from "../charts/options.js";

export function Chart({ id, chart, height }: { id: string; chart: SizedOption; height?: number }) {
  const el = useRef<HTMLDivElement>(null);
  const inst = useRef<ReturnType<typeof echarts.init> | null>(null);
  useEffect(() => {
    if (!el.current) return;
    const c = echarts.init(el.current, null, { renderer: "canvas" });
    inst.current = c;
    const ro = new ResizeObserver(() => c.resize());
    ro.observe(el.current);
    return () => {
      ro.disconnect();
      c.dispose();
      inst.current = null;
    };
  }, []);
  const shape = useRef("");
  useEffect(() => {
    // The same series (new points): replaceMerge keeps the zoom a reader set. A different chart
    // (an empty one gaining its first values): drawn afresh.
    const series = chart.option.series;
    const now = Array.isArray(series) ? series.map((s: { name?: unknown }) => String(s.name)).join("|") : "";
    const same = now === shape.current;
    shape.current = now;
    if (!same) {
      inst.current?.setOption(chart.option, { notMerge: true });
      return;
    }
    inst.current?.setOption(chart.option, { replaceMerge: ["series"], lazyUpdate: true });
  }, [chart]);
  const series = (chart.option.series ?? []) as { data?: unknown[] }[];
  const points = Array.isArray(series) && series[0]?.data ? series[0].data.length : 0;
  return (
    <div
      class="chart"
      ref={el}
      data-chart={id}
      data-points={points}
      data-series={Array.isArray(series) ? series.length : 0}
      style={{ height: `${height ?? chart.height}px` }}
    />
  );
}
