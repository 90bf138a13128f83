/** Run progress on stderr: a bar on a terminal, a line every few steps otherwise, nothing with --quiet. */
import cliProgress from "cli-progress";
import type { RunProgress } from "../run/run.js";
import { formatNumber } from "./render.js";

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
  const stop = () => {
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
        const payload = {
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
                  "  {bar} {value}/{total} steps | {phase} | loss {loss} | {tps} real tok/s | ETA {eta_formatted}",
                hideCursor: true,
                clearOnComplete: false,
              },
              cliProgress.Presets.shades_classic,
            );
            bar.start(p.totalSteps, 0, payload);
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
