/**
 * The planner as a form: the verdict, the memory at the peak as a stacked bar against the card's
 * memory, and the predicted speed with its interval (from the calibration's held-out error).
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import type { PlanAnswer, PlanRequest } from "../../server/api.js";
import { stackOption } from "../../charts/options.js";
import { api, ApiFailure } from "../api.js";
import { Chart } from "../chart.js";
import { fmtNum, fmtSeconds, formatBytes, GiB } from "../format.js";
import { ErrorPanel, useApi } from "./common.js";

const DEFAULTS: Required<PlanRequest> = {
  model: "qwen2.5-1.5b-instruct",
  gpu: "rtx-4060",
  vramBudget: null,
  preset: null,
  recipe: "reference",
  method: "lora",
  precision: "auto",
  optimizer: "adamw_torch",
  padding: null,
  batchSize: 4,
  seqLen: 512,
  gradAccum: 1,
  loraR: 16,
  gradCheckpointing: false,
};

export function PlanView() {
  const options = useApi(() => api.planOptions(), []);
  const [form, setForm] = useState<Required<PlanRequest>>(DEFAULTS);
  const [answer, setAnswer] = useState<PlanAnswer | null>(null);
  const [failure, setFailure] = useState<ApiFailure | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    // Start from models and GPUs the catalog really has.
    const o = options?.data;
    if (!o) return;
    setForm((f) => ({
      ...f,
      model: o.models.some((m) => m.id === f.model) ? f.model : (o.models[0]?.id ?? f.model),
      gpu: o.gpus.some((g) => g.id === f.gpu) ? f.gpu : (o.gpus[0]?.id ?? f.gpu),
    }));
  }, [options]);
  const set = <K extends keyof PlanRequest>(k: K, v: Required<PlanRequest>[K]) =>
    setForm((f) => ({ ...f, [k]: v }));
  const submit = (e: Event) => {
    e.preventDefault();
    setBusy(true);
    api
      .plan(form)
      .then((a) => {
        setAnswer(a);
        setFailure(null);
      })
      .catch((err: unknown) => {
        setAnswer(null);
        setFailure(
          err instanceof ApiFailure
            ? err
            : new ApiFailure(0, { code: "CLIENT", message: String(err), problems: [] }),
        );
      })
      .finally(() => setBusy(false));
  };
  const chart = useMemo(
    () =>
      answer
        ? stackOption({
            title: "Memory at the peak",
            subtitle: `device peak ${formatBytes(answer.memory.devicePeakBytes)} of ${formatBytes(answer.fits?.limitBytes ?? answer.gpu.usableBytes)}`,
            xLabel: "memory (GiB)",
            parts: answer.memory.breakdown.map((b) => ({
              name: b.counted === "device" ? `${b.name} (NVML only)` : b.name,
              value: b.bytes / GiB,
              note: b.note,
            })),
            limit: {
              value: (answer.fits?.limitBytes ?? answer.gpu.usableBytes) / GiB,
              label: answer.fits?.limitSource === "budget" ? "VRAM budget" : "card memory",
            },
            format: (n) => n.toFixed(1),
            width: 900,
          })
        : null,
    [answer],
  );
  if (options?.error)
    return <ErrorPanel title="The planner's options cannot be loaded" error={options.error} />;
  const o = options?.data;
  const bad = new Set(failure?.body.problems.map((p) => p.field.replace(/^--/, "")) ?? []);
  const field = (name: keyof PlanRequest, label: string, input: preact.JSX.Element) => (
    <label class={bad.has(name) ? "bad" : ""}>
      <span>{label}</span>
      {input}
    </label>
  );
  const select = (name: keyof PlanRequest, values: string[], none: string | null = null) => (
    <select
      name={name}
      value={(form[name] as string | null) ?? ""}
      onChange={(e) => set(name, ((e.target as HTMLSelectElement).value || null) as never)}
    >
      {none !== null && <option value="">{none}</option>}
      {values.map((v) => (
        <option key={v} value={v}>
          {v}
        </option>
      ))}
    </select>
  );
  const number = (name: "batchSize" | "seqLen" | "gradAccum" | "loraR") => (
    <input
      type="number"
      name={name}
      min={1}
      value={form[name]}
      onInput={(e) => set(name, Number((e.target as HTMLInputElement).value))}
    />
  );
  return (
    <section>
      <header class="page-head">
        <h1>Plan</h1>
        <span class="muted">
          Will it fit, and how fast — predicted from the configuration alone, nothing run.
        </span>
      </header>
      <form id="plan-form" class="panel plan-form" onSubmit={submit}>
        {field(
          "model",
          "model",
          <select
            name="model"
            value={form.model}
            onChange={(e) => set("model", (e.target as HTMLSelectElement).value)}
          >
            {o?.models.map((m) => (
              <option key={m.id} value={m.id}>
                {m.id}
              </option>
            ))}
          </select>,
        )}
        {field(
          "gpu",
          "GPU",
          <select
            name="gpu"
            value={form.gpu}
            onChange={(e) => set("gpu", (e.target as HTMLSelectElement).value)}
          >
            {o?.gpus.map((g) => (
              <option key={g.id} value={g.id}>
                {g.name} ({formatBytes(g.memoryBytes)})
              </option>
            ))}
          </select>,
        )}
        {field(
          "vramBudget",
          "VRAM budget",
          <input
            name="vramBudget"
            placeholder="whole card, or e.g. 8GiB"
            value={form.vramBudget ?? ""}
            onInput={(e) => set("vramBudget", (e.target as HTMLInputElement).value || null)}
          />,
        )}
        {field("recipe", "recipe", select("recipe", o?.recipes ?? ["reference"]))}
        {field("preset", "study preset", select("preset", o?.presets ?? [], "none"))}
        {field("method", "method", select("method", o?.methods ?? ["lora"]))}
        {field("precision", "precision", select("precision", o?.precisions ?? ["auto"]))}
        {field("optimizer", "optimizer", select("optimizer", o?.optimizers ?? ["adamw_torch"]))}
        {field("padding", "padding", select("padding", o?.paddings ?? [], "the recipe's"))}
        {field("batchSize", "batch size", number("batchSize"))}
        {field("seqLen", "sequence length", number("seqLen"))}
        {field("gradAccum", "grad accumulation", number("gradAccum"))}
        {field("loraR", "LoRA rank", number("loraR"))}
        <label class="check">
          <input
            type="checkbox"
            name="gradCheckpointing"
            checked={form.gradCheckpointing}
            onChange={(e) => set("gradCheckpointing", (e.target as HTMLInputElement).checked)}
          />
          <span>gradient checkpointing</span>
        </label>
        <button type="submit" id="plan-submit" disabled={busy || !o}>
          {busy ? "planning…" : "Plan"}
        </button>
      </form>
      {failure && <ErrorPanel title="The planner cannot answer" error={failure.body} />}
      {answer && (
        <div id="plan-answer">
          <div
            class={`verdict ${answer.fits ? (answer.fits.verdict ? "fits" : "no-fit") : ""}`}
            id="plan-verdict"
          >
            {answer.fits
              ? answer.fits.verdict
                ? `Fits: device peak ${formatBytes(answer.memory.devicePeakBytes)} ≤ ${formatBytes(answer.fits.limitBytes)}, margin ${formatBytes(answer.fits.marginBytes)}`
                : `Does not fit: device peak ${formatBytes(answer.memory.devicePeakBytes)} > ${formatBytes(answer.fits.limitBytes)}, short by ${formatBytes(-answer.fits.marginBytes)}`
              : `Device peak ${formatBytes(answer.memory.devicePeakBytes)}`}
            {answer.fits?.tight &&
              " — close to the line: within the planner's device-peak error, so it may go either way; a short run settles it"}
          </div>
          <p class="muted">
            {answer.model} on {answer.gpu.name}: {answer.shape}
          </p>
          {chart && (
            <div class="chart-box wide">
              <Chart id="plan-memory" chart={chart} />
            </div>
          )}
          {answer.speed && (
            <div class="cards" id="plan-speed">
              <div class="card">
                <span class="card-label">real tokens/s (predicted)</span>
                <b>{fmtNum(answer.speed.realTokensPerSecond)}</b>
                <span class="card-sub">
                  {answer.speed.interval
                    ? `${fmtNum(answer.speed.interval.low)}–${fmtNum(answer.speed.interval.high)} (×${fmtNum(1 + answer.speed.interval.errorPct / 100, 2)} either way; ${answer.speed.interval.method}${answer.speed.interval.hostSpread ? `; host-bound: hosts differ up to ×${answer.speed.interval.hostSpread}` : ""})`
                    : "no interval: uncalibrated for this GPU (`loraprof plan calibrate` after a few runs)"}
                </span>
              </div>
              <div class="card">
                <span class="card-label">processed tokens/s</span>
                <b>{fmtNum(answer.speed.processedTokensPerSecond)}</b>
              </div>
              <div class="card">
                <span class="card-label">step time</span>
                <b>{fmtSeconds(answer.speed.stepSeconds)}</b>
                <span class="card-sub">{answer.speed.bound}-bound</span>
              </div>
              <div class="card">
                <span class="card-label">MFU</span>
                <b>{fmtNum(answer.speed.mfu * 100, 2)}%</b>
              </div>
            </div>
          )}
          <p class="muted small">constants: {answer.calibration}</p>
          <details class="panel">
            <summary>assumptions</summary>
            <ul>
              {answer.assumptions.map((a) => (
                <li key={a}>{a}</li>
              ))}
            </ul>
          </details>
        </div>
      )}
    </section>
  );
}
