/** Run progress on stderr: a bar on a terminal, a line every few steps otherwise, nothing with --quiet. */
import cliProgress from "cli-progress";
import type { RunProgress } from "../run/run.js";
import { formatNumber, formatSeconds } from "./render.js";

/**
 * The run's ETA from the engine's own step times, counted down by the wall clock between events.
 * Steps reach the CLI in bursts at the engine's flushes (every --log-every steps), so a rate taken
 * from arrival times (cli-progress' own ETA) swings with each burst (10 s, 30 s, 1 s, 20 s); the
 * engine-measured step seconds do not.
 */
export function etaEstimator(now: () => number = Date.now): {
  step: (step: number, totalSteps: number, stepSeconds: number | null) => void;
  seconds: () => number | null;
} {
  const recent: number[] = [];
  let anchor: { eta: number; atMs: number } | null = null;
  return {
    step(step, totalSteps, stepSeconds) {
      if (stepSeconds !== null && Number.isFinite(stepSeconds)) {
        recent.push(stepSeconds);
        if (recent.length > 20) recent.shift();
      }
      if (!recent.length) return;
      const mean = recent.reduce((a, b) => a + b, 0) / recent.length;
      anchor = { eta: Math.max(0, totalSteps - step) * mean, atMs: now() };
    },
    seconds() {
      return anchor ? Math.max(0, anchor.eta - (now() - anchor.atMs) / 1000) : null;
    },
  };
}

export function progressReporter(opts: { quiet: boolean; stream?: NodeJS.WriteStream }): {
  onProgress: (p: RunProgress) => void;
  stop: () => void;
} {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return { onProgress: () => undefined, stop: () => undefined };
  const tty = Boolean(stream.isTTY);
  let bar: cliProgress.SingleBar | null = null;
  let lastLogged = 0;
  let lastLoggedAt = 0;
  const eta = etaEstimator();
  const etaText = () => {
    const s = eta.seconds();
    return s === null ? "…" : formatSeconds(s);
  };
  // Between bursts the ETA counts down once a second instead of standing still.
  let ticker: NodeJS.Timeout | null = null;
  const stop = () => {
    if (ticker) clearInterval(ticker);
    ticker = null;
    bar?.stop();
    bar = null;
  };
  const onProgress = (p: RunProgress) => {
    switch (p.stage) {
      case "data":
      case "engine":
        if (!bar) stream.write(`· ${p.message}\n`);
        break;
      case "loaded": {
        const params = p.loaded.parameters;
        stream.write(
          `· model loaded in ${p.loaded.loadSeconds.toFixed(1)} s: ${formatNumber(params.total / 1e6)} M parameters, ` +
            `${formatNumber(params.trainable / 1e6, 2)} M trainable (${p.loaded.weightsDescription})\n`,
        );
        break;
      }
      case "step": {
        eta.step(p.step.step, p.totalSteps, p.step.stepSeconds);
        const payload = {
          eta: etaText(),
          phase: p.step.phase,
          loss: p.step.loss === null ? "…" : p.step.loss.toFixed(3),
          tps: p.realTokensPerSecond === null ? "…" : formatNumber(p.realTokensPerSecond, 0),
        };
        if (tty) {
          if (!bar) {
            bar = new cliProgress.SingleBar(
              {
                stream,
                format:
                  "  {bar} {value}/{total} steps | {phase} | loss {loss} | {tps} real tok/s | ETA {eta}",
                hideCursor: true,
                clearOnComplete: false,
              },
              cliProgress.Presets.shades_classic,
            );
            bar.start(p.totalSteps, 0, payload);
            ticker = setInterval(() => bar?.update({ eta: etaText() }), 1000);
            ticker.unref();
          }
          bar.update(p.step.step, payload);
        } else if (
          // Without a terminal: the first step, then every 10% of the run or every 10 s, and the last.
          lastLogged === 0 ||
          p.step.step - lastLogged >= Math.max(1, Math.floor(p.totalSteps / 10)) ||
          Date.now() - lastLoggedAt >= 10_000 ||
          p.step.step === p.totalSteps
        ) {
          lastLogged = p.step.step;
          lastLoggedAt = Date.now();
          stream.write(
            `  step ${p.step.step}/${p.totalSteps} ${payload.phase} loss ${payload.loss} ${payload.tps} real tok/s\n`,
          );
        }
        break;
      }
      case "done":
        stop();
        break;
    }
  };
  return { onProgress, stop };
}
