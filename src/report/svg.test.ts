import { describe, expect, it } from "vitest";
import { barChart, compactNumber, heatmap, intervalChart, lineChart, niceTicks } from "./svg.js";

const count = (svg: string, re: RegExp) => (svg.match(re) ?? []).length;

describe("SVG charts", () => {
  it("chooses round ticks that cover the data", () => {
    expect(niceTicks(0, 97)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    const t = niceTicks(1423, 1517, 4);
    expect(t[0]!).toBeLessThanOrEqual(1423);
    expect(t[t.length - 1]!).toBeGreaterThanOrEqual(1517);
  });

  it("writes compact tick labels", () => {
    expect(compactNumber(23160)).toBe("23.2k");
    expect(compactNumber(0.0798)).toBe("0.0798");
    expect(compactNumber(2_500_000)).toBe("2.5M");
  });

  it("draws one marker per point with its interval, one panel per series with its unit", () => {
    const svg = intervalChart({
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
    });
    expect(count(svg, /<circle [^>]*class="mark"/g)).toBe(3);
    expect(count(svg, /class="interval"/g)).toBe(2);
    expect(svg).toContain("real tokens per second (tokens/s)");
    expect(svg).toContain('data-value="400"');
    expect(svg).toContain("OOM 3/3");
    expect(svg.startsWith("<svg")).toBe(true);
  });

  it("draws the budget line and a cross for each out-of-memory cell", () => {
    const svg = lineChart({
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
    });
    expect(svg).toContain('class="budget-line"');
    expect(svg).toContain("budget 8.0 GiB");
    expect(count(svg, /class="mark oom"/g)).toBe(1);
    expect(count(svg, /class="mark point"/g)).toBe(2);
    expect(svg).toContain("peak reserved (GiB)");
  });

  it("outlines heatmap cells without a value and labels the colour scale", () => {
    const svg = heatmap({
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
    });
    expect(count(svg, /class="mark cell"/g)).toBe(3);
    expect(svg).toContain('data-status="OOM"');
    expect(svg).toContain("linearGradient");
  });

  it("says why a chart is empty instead of drawing empty axes", () => {
    const svg = barChart({
      title: "Energy",
      xLabel: "J per real token",
      bars: [],
      empty: "not measured: no NVML",
    });
    expect(svg).toContain("not measured: no NVML");
    expect(svg).not.toContain('class="mark');
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
  const xs = (re: RegExp) => [...svg.matchAll(re)].map((m) => Number(m[1]));

  it("keeps the axis running left to right: larger values further right", () => {
    const cx = xs(/<circle cx="([\d.]+)"[^>]*data-series="real tokens\/s"/g);
    expect(cx).toHaveLength(3);
    expect(cx[0]!).toBeLessThan(cx[1]!);
    expect(cx[1]!).toBeLessThan(cx[2]!);
  });

  it("keeps the points apart (each panel keeps a readable width)", () => {
    const cx = xs(/<circle cx="([\d.]+)"[^>]*data-series="real tokens\/s"/g);
    expect(cx[2]! - cx[0]!).toBeGreaterThan(100);
  });

  it("cuts a label that would crowd out the panels, with the whole label in its tooltip", () => {
    expect(svg).toContain("…");
    expect(svg).toContain(`<title>${long(1)}</title>`);
  });
});
