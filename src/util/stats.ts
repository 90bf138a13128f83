/**
 * The statistics, one owner (median, mean, intervals): behind every interval in a report, the
 * planner's held-out errors, the idle-power baseline and the sweep's time estimate. Kept small and exact:
 *
 * - A condition's figure is the **median** of its repeats; its 95% interval is the Student-t
 *   interval of the mean (n ≥ 2; none for one run).
 * - An effect between two conditions A → B is a **ratio** for rates (tokens/s, J/token): Welch's
 *   t-interval on the difference of mean log values, exponentiated, i.e. the ratio of geometric
 *   means with its 95% interval. Memory effects are differences (bytes), Welch on raw values.
 * - An effect is "not distinguishable from noise" when its interval contains no change (ratio 1,
 *   difference 0). With one run on either side there is no interval and the report says so.
 */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample variance (n − 1). */
export function variance(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
}

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9); accurate to ~1e-15 for x > 0.
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction for the regularized incomplete beta function (Numerical Recipes' betacf). */
function betacf(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-14) break;
  }
  return h;
}

function incompleteBeta(a: number, b: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const bt = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (bt * betacf(a, b, x)) / a : 1 - (bt * betacf(b, a, 1 - x)) / b;
}

/** CDF of Student's t with `df` degrees of freedom (df may be fractional, as in Welch). */
export function studentTCdf(t: number, df: number): number {
  const x = df / (df + t * t);
  const tail = 0.5 * incompleteBeta(df / 2, 0.5, x);
  return t >= 0 ? 1 - tail : tail;
}

/** Critical values already found: a report of thousands of runs asks for the same few (n − 1) again and again. */
const tCriticalCache = new Map<string, number>();

/** The two-sided (1 − alpha) critical value of Student's t. */
export function tCritical(df: number, alpha = 0.05): number {
  if (!Number.isFinite(df)) return 1.959963984540054;
  const key = `${df}|${alpha}`;
  const known = tCriticalCache.get(key);
  if (known !== undefined) return known;
  const value = tCriticalSearch(df, alpha);
  if (tCriticalCache.size >= 4096) tCriticalCache.clear();
  tCriticalCache.set(key, value);
  return value;
}

function tCriticalSearch(df: number, alpha: number): number {
  const target = 1 - alpha / 2;
  let lo = 0;
  let hi = 1000;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    // lo and hi are neighbouring doubles: no further halving changes the answer.
    if (mid === lo || mid === hi) break;
    if (studentTCdf(mid, df) < target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export interface Summary {
  n: number;
  median: number;
  mean: number;
  /** 95% t-interval of the mean; null below two values. */
  low: number | null;
  high: number | null;
  values: number[];
}

export function summarize(values: readonly number[]): Summary | null {
  const xs = values.filter((v) => Number.isFinite(v));
  if (xs.length === 0) return null;
  const m = mean(xs);
  if (xs.length < 2) return { n: 1, median: xs[0]!, mean: m, low: null, high: null, values: xs };
  const half = (tCritical(xs.length - 1) * Math.sqrt(variance(xs))) / Math.sqrt(xs.length);
  // Two or three noisy repeats give a wide t interval; for a figure that cannot be negative
  // (tokens/s, bytes, joules) its lower end is cut at 0 rather than printed as "131 [-221–484]".
  const floor = xs.every((v) => v >= 0) ? 0 : -Infinity;
  return {
    n: xs.length,
    median: median(xs),
    mean: m,
    low: Math.max(floor, m - half),
    high: m + half,
    values: xs,
  };
}

export interface Effect {
  kind: "ratio" | "difference";
  /** B relative to A: geometric-mean ratio, or difference of means. */
  estimate: number;
  /** 95% interval; null when either side has a single value. */
  low: number | null;
  high: number | null;
  nA: number;
  nB: number;
  /** The interval excludes "no change"; null when there is no interval. */
  distinguishable: boolean | null;
}

function welch(a: readonly number[], b: readonly number[]): { diff: number; half: number | null } {
  const diff = mean(b) - mean(a);
  if (a.length < 2 || b.length < 2) return { diff, half: null };
  const va = variance(a) / a.length;
  const vb = variance(b) / b.length;
  const se = Math.sqrt(va + vb);
  if (se === 0) return { diff, half: 0 };
  const df = (va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  return { diff, half: tCritical(df) * se };
}

/** Ratio B/A of geometric means with a 95% Welch interval on the log scale. Values must be > 0. */
export function ratioEffect(a: readonly number[], b: readonly number[]): Effect | null {
  const la = a.filter((v) => v > 0 && Number.isFinite(v)).map(Math.log);
  const lb = b.filter((v) => v > 0 && Number.isFinite(v)).map(Math.log);
  if (!la.length || !lb.length) return null;
  const { diff, half } = welch(la, lb);
  const low = half === null ? null : Math.exp(diff - half);
  const high = half === null ? null : Math.exp(diff + half);
  return {
    kind: "ratio",
    estimate: Math.exp(diff),
    low,
    high,
    nA: la.length,
    nB: lb.length,
    distinguishable: low === null || high === null ? null : low > 1 || high < 1,
  };
}

/** Difference of means B − A with a 95% Welch interval. */
export function differenceEffect(a: readonly number[], b: readonly number[]): Effect | null {
  const xa = a.filter(Number.isFinite);
  const xb = b.filter(Number.isFinite);
  if (!xa.length || !xb.length) return null;
  const { diff, half } = welch(xa, xb);
  const low = half === null ? null : diff - half;
  const high = half === null ? null : diff + half;
  return {
    kind: "difference",
    estimate: diff,
    low,
    high,
    nA: xa.length,
    nB: xb.length,
    distinguishable: low === null || high === null ? null : low > 0 || high < 0,
  };
}
