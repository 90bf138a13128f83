import { describe, expect, it } from "vitest";
import { barOption, heatmapOption, intervalOption, lineOption, roundUp } from "../charts/options.js";
import { barChart, compactNumber, heatmap, intervalChart, lineChart } from "./svg.js";

/** ECharts marks each drawn data element with its series and data index (reference lines are silent). */
const marks = (svg: string, series: number) =>
  (
    svg.match(
      new RegExp(
        `ecmeta_series_index="${series}" ecmeta_data_index="\\d+" ecmeta_ssr_type="chart"(?! ecmeta_silent)`,
        "g",
      ),
    ) ?? []
  ).length;
type Series = { type: string; name: string; data: unknown[] };
const seriesOf = (o: { option: { series?: unknown } }) => o.option.series as Series[];

describe("SVG charts (ECharts, rendered in Node)", () => {
  it("writes compact tick labels", () => {
    expect(compactNumber(23160)).toBe("23.2k");
    expect(compactNumber(0.0798)).toBe("0.0798");
    expect(compactNumber(2_500_000)).toBe("2.5M");
  });

  const intervalSpec = {
    title: "Throughput by optimizer",
    series: [
      { name: "real tokens/s", axisLabel: "real tokens per second (tokens/s)" },
      { name: "processed tokens/s", axisLabel: "processed tokens per second (tokens/s)" },
    ],
    rows: [
      {
        label: "adamw_torch",
        points: [
          { median: 100, low: 95, high: 105, n: 3 },
          { median: 400, low: 390, high: 410, n: 3 },
        ],
      },
      { label: "paged_adamw_8bit", points: [{ median: 101, low: null, high: null, n: 1 }, null] },
      { label: "adamw_8bit", points: [null, null], note: "OOM 3/3" },
    ],
  };

  it("draws one marker per point with its interval, one panel per series with its unit", () => {
    const opt = intervalOption(intervalSpec);
    const [real, processed, realCi, processedCi] = seriesOf(opt);
    expect(real!.data).toHaveLength(2);
    expect(processed!.data).toHaveLength(1);
    expect(realCi!.data).toHaveLength(1); // the single-run point has no interval
    expect(processedCi!.data).toHaveLength(1);
    const svg = intervalChart(intervalSpec);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(marks(svg, 0)).toBe(2);
    expect(marks(svg, 1)).toBe(1);
    expect(svg).toContain("real tokens per second (tokens/s)");
    expect(svg).toContain("processed tokens per second (tokens/s)");
    expect(svg).toContain("OOM 3/3");
  });

  const memorySpec = {
    title: "Peak memory",
    xLabel: "sequence length (tokens)",
    yLabel: "peak reserved (GiB)",
    xCategories: [512, 1024, 2048],
    series: [
      {
        name: "batch 4",
        points: [
          { x: 512, y: 4 },
          { x: 1024, y: 7 },
        ],
      },
    ],
    reference: { y: 8, label: "budget 8.0 GiB" },
    markers: [{ series: 0, x: 2048, y: 8, label: "out of memory: batch 4 × seq 2048" }],
    yFromZero: true,
  };

  it("draws the budget line and a cross for each out-of-memory cell", () => {
    const [line, oom] = seriesOf(lineOption(memorySpec));
    expect(line!.data).toHaveLength(2);
    expect(oom!.name).toBe("out of memory");
    expect(oom!.data).toHaveLength(1);
    const svg = lineChart(memorySpec);
    expect(svg).toContain("budget 8.0 GiB");
    expect(marks(svg, 0)).toBe(2);
    expect(marks(svg, 1)).toBe(1);
    expect(svg).toContain("OOM · batch 4");
    expect(svg).toContain("peak reserved (GiB)");
  });

  const gridSpec = {
    title: "grid",
    rows: [1, 2],
    cols: [512, 1024],
    rowLabel: "batch size",
    colLabel: "sequence length (tokens)",
    valueLabel: "real tokens/s",
    cells: [
      { row: 1, col: 512, value: 100 },
      { row: 1, col: 1024, value: 200 },
      { row: 2, col: 512, value: 300 },
      { row: 2, col: 1024, value: null, status: "OOM" },
    ],
  };

  it("outlines heatmap cells without a value and labels the colour scale", () => {
    const [cells, missing] = seriesOf(heatmapOption(gridSpec));
    expect(cells!.data).toHaveLength(3);
    expect(missing!.data).toHaveLength(1);
    const svg = heatmap(gridSpec);
    expect(marks(svg, 0)).toBe(3);
    expect(svg).toContain(">OOM<");
    expect(svg).toContain("300 real tokens/s");
  });

  it("says why a chart is empty instead of drawing empty axes", () => {
    const svg = barChart({
      title: "Energy",
      xLabel: "J per real token",
      bars: [],
      empty: "not measured: no NVML",
    });
    expect(svg).toContain("not measured: no NVML");
    expect(svg).not.toContain('ecmeta_ssr_type="chart"');
  });

  it("draws one bar per value with its interval", () => {
    const spec = {
      title: "Energy",
      xLabel: "energy (J per real token)",
      bars: [
        { label: "a", value: 1, low: 0.9, high: 1.1, n: 3 },
        { label: "b", value: 2, low: null, high: null, n: 1 },
      ],
    };
    const [bars, ci] = seriesOf(barOption(spec));
    expect(bars!.data).toHaveLength(2);
    expect(ci!.data).toHaveLength(1);
    expect(marks(barChart(spec), 0)).toBe(2);
  });

  it("writes each value past its interval's end, on an axis that reaches the largest end", () => {
    const spec = {
      title: "Energy",
      xLabel: "energy (J per real token)",
      bars: [
        { label: "a", value: 1, low: 0.5, high: 1.9, n: 3 },
        { label: "b", value: 2, low: null, high: null, n: 1 },
      ],
    };
    const sized = barOption(spec);
    const axis = (sized.option as { xAxis: { max: number } }).xAxis;
    expect(axis.max).toBe(2);
    const [bars] = seriesOf(sized);
    const distances = (bars!.data as { label: { distance: number } }[]).map((d) => d.label.distance);
    expect(distances[1]).toBe(8); // no interval: just clear of the bar
    // 0.9 units past the bar at (chart width − labels − margins) / 2 units.
    const plotWidth = sized.width - 16 - 80 - 80;
    expect(distances[0]).toBeCloseTo(8 + (0.9 * plotWidth) / 2, 6);
  });

  it("rounds an axis end up to a plain number", () => {
    expect([0.96, 1, 1.19, 2.4, 18.4, 29, 0.0475, 0].map(roundUp)).toEqual([1, 1, 1.2, 2.5, 20, 30, 0.05, 1]);
  });

  it("escapes text from run labels", () => {
    const svg = barChart({
      title: "t",
      xLabel: "x (J)",
      bars: [{ label: "<script>x</script>", value: 1, low: null, high: null, n: 1 }],
    });
    expect(svg).not.toContain("<script>");
    expect(svg).toContain("&lt;script&gt;");
  });

  it("names every chart with its axes and units, for screen readers", () => {
    expect(lineChart(memorySpec)).toMatch(
      /aria-label="Peak memory: peak reserved \(GiB\) against sequence length \(tokens\)"/,
    );
  });
});

describe("interval chart with long configuration names", () => {
  const long = (i: number) =>
    `dataset=/work/shared/data/alpaca/alpaca_random_9k.json · logEverySteps=10 · syntheticRecords=5000 · steps=3 · subset=100 · seed=0 · batch ${i} × seq 48`;
  const svg = intervalChart({
    title: "Throughput by configuration",
    series: [
      { name: "real tokens/s", axisLabel: "real tokens per second (tokens/s)" },
      { name: "processed tokens/s", axisLabel: "processed tokens per second (tokens/s)" },
    ],
    rows: [1, 2, 3].map((i) => ({
      label: long(i),
      points: [
        { median: 100 * i, low: null, high: null, n: 1 },
        { median: 200 * i, low: null, high: null, n: 1 },
      ],
    })),
  });
  // The x of each median marker of series 0, from ECharts' transform of the drawn symbol.
  const xs = () =>
    [
      ...svg.matchAll(
        /transform="matrix\([\d.]+,0,0,[\d.]+,([\d.]+),[\d.]+\)"[^>]*ecmeta_series_index="0" ecmeta_data_index="\d+" ecmeta_ssr_type="chart"/g,
      ),
    ].map((m) => Number(m[1]));

  it("keeps the axis running left to right: larger values further right", () => {
    const cx = xs();
    expect(cx).toHaveLength(3);
    expect(cx[0]!).toBeLessThan(cx[1]!);
    expect(cx[1]!).toBeLessThan(cx[2]!);
  });

  it("keeps the points apart (each panel keeps a readable width)", () => {
    const cx = xs();
    expect(cx[2]! - cx[0]!).toBeGreaterThan(100);
  });

  it("cuts a label that would crowd out the panels, with the whole label in its tooltip", () => {
    expect(svg).toContain("…");
    // The SVG's <title> (its tooltip and accessible name) keeps every row's whole label.
    expect(svg).toMatch(new RegExp(`<title>[^<]*${long(1).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  });
});

describe("bar chart with long configuration names", () => {
  const long = (i: number) =>
    `adamw_torch · fp16 · max_length · cudaGraphs=false · cudnnAttention=true · fusedLora=false · kernels=none · lora.dropout=0.05 · loss=full · recipe=reference · batch ${i} × seq 512`;
  const svg = barChart({
    title: "Energy per real token",
    xLabel: "energy (J per real token)",
    bars: [1, 2, 3].map((i) => ({ label: long(i), value: i, low: null, high: null, n: 1 })),
  });
  // Each bar's drawn length, from its path `M x y l <length> 0 …`.
  const lengths = [
    ...svg.matchAll(/<path d="M[\d.]+ [\d.]+l([\d.-]+) 0[^"]*"[^>]*ecmeta_series_index="0"/g),
  ].map((m) => Number(m[1]));

  it("leaves the bars room: each drawn in proportion to its value", () => {
    expect(lengths).toHaveLength(3);
    expect(lengths[2]!).toBeGreaterThan(200);
    expect(lengths[1]! / lengths[0]!).toBeCloseTo(2, 1);
    expect(lengths[2]! / lengths[0]!).toBeCloseTo(3, 1);
  });

  it("cuts the labels, with every whole label in the chart's accessible name", () => {
    expect(svg).toContain("…");
    expect(svg).toMatch(new RegExp(`<title>[^<]*${long(3).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  });
});
