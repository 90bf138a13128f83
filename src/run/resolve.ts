/**
 * Resolution: a validated RunConfig becomes concrete choices (model source, device, precision,
 * weights) and then a RunSpec for the engine. Everything the engine will do is decided here, and
 * the resolved config is what gets stored with the run.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join, resolve as resolvePath } from "node:path";
import { locateHfConfig, modelFromHfConfig } from "../catalog/hfconfig.js";
import { findModel, MODELS } from "../catalog/models.js";
import { catalogTokenizerSpec } from "../catalog/tokenizer.js";
import type { ModelEntry } from "../catalog/types.js";
import type { TokenizerSpec } from "../data/tokenizer.js";
import { cudaOnlySettings, resolvePrecision } from "../config/device.js";
import { parseByteSize, type RunConfig } from "../config/schema.js";
import { LoraprofError } from "../util/errors.js";
import { listGpus, type GpuInfo } from "../util/gpu.js";
import { huggingfaceHubCache } from "../util/paths.js";
import { PROTOCOL_VERSION, type Precision, type RunSpec } from "../protocol/index.js";

export interface ResolvedModel {
  /** What the user named. */
  id: string;
  source: "synthetic" | "hub" | "local";
  entry: ModelEntry | null;
  hubId: string | null;
  path: string | null;
  /**
   * Synthetic weights built from a config.json (a local folder or a cached hub snapshot): that
   * folder, whose tokenizer the data stage uses.
   */
  configDir?: string;
}

/** A RunConfig whose `auto` values are decided. Stored with every run. */
export type ResolvedConfig = Omit<RunConfig, "device" | "precision" | "weights"> & {
  device: string;
  precision: Precision;
  weights: "random" | "pretrained";
};

export function resolveModel(config: RunConfig, cacheDir: string): ResolvedModel {
  const name = config.model;
  const entry = findModel(name) ?? null;
  const localDir = resolvePath(name);
  const isLocal = !entry && existsSync(localDir) && statSync(localDir).isDirectory();
  if (!entry && !isLocal && looksLikePath(name)) {
    // "./my-model" is a folder the user meant, never a Hugging Face id "."/"my-model".
    throw new LoraprofError("MODEL_NOT_FOUND", `no model folder at ${localDir}`, {
      problems: [
        {
          field: "model",
          message: existsSync(localDir) ? "exists but is not a folder" : "no such folder",
          hint: "point --model at a folder saved with save_pretrained (config.json, tokenizer.json, weights), or use a catalog id (see `loraprof models`)",
        },
      ],
    });
  }
  if (isLocal) {
    if (!existsSync(join(localDir, "config.json"))) {
      throw new LoraprofError("MODEL_NOT_FOUND", `${localDir} has no config.json`, {
        problems: [
          {
            field: "model",
            message: "not a Hugging Face model folder",
            hint: "point --model at a folder saved with save_pretrained",
          },
        ],
      });
    }
    if (config.weights === "random")
      return synthesizedFromConfig(name, join(localDir, "config.json"), cacheDir, config.seed);
    return { id: name, source: "local", entry: null, hubId: null, path: localDir };
  }
  if (!entry) {
    if (/^[\w.-]+\/[\w.-]+$/.test(name)) {
      const cachedConfig = config.weights === "random" ? locateHfConfig(name) : null;
      if (cachedConfig) return synthesizedFromConfig(name, cachedConfig, cacheDir, config.seed);
      if (config.weights === "random") {
        throw new LoraprofError(
          "CONFIG_INVALID",
          `${name} is not in the model catalog, so it has no architecture to randomize`,
          {
            problems: [
              {
                field: "weights",
                message: "random needs a catalog model",
                hint: `use a catalog id (${catalogIds()}) or --weights pretrained`,
              },
            ],
          },
        );
      }
      // Data preparation reads the model's tokenizer.json from disk, and nothing here downloads a
      // hub model that is not in the catalog: say so instead of looking for it in the wrong place.
      throw new LoraprofError("MODEL_NOT_FOUND", `${name} is not in the model catalog`, {
        problems: [
          {
            field: "model",
            message: "a Hugging Face id outside the catalog is not downloaded by loraprof",
            hint: `download it (huggingface-cli download ${name} --local-dir ./${name.split("/")[1]}) and pass --model ./${name.split("/")[1]}, or use a catalog id: ${catalogIds()}`,
          },
        ],
      });
    }
    throw new LoraprofError("MODEL_NOT_FOUND", `unknown model "${name}"`, {
      problems: [
        {
          field: "model",
          message: "not a catalog id, a Hugging Face id (owner/name) or an existing folder",
          hint: `catalog ids: ${catalogIds()}`,
        },
      ],
    });
  }
  const weights = config.weights === "auto" ? (entry.hubId ? "pretrained" : "random") : config.weights;
  if (weights === "pretrained") {
    if (!entry.hubId) {
      throw new LoraprofError("CONFIG_INVALID", `${entry.id} has no published weights`, {
        problems: [
          {
            field: "weights",
            message: "pretrained is not available for this model",
            hint: "use --weights random",
          },
        ],
      });
    }
    return { id: name, source: "hub", entry, hubId: entry.hubId, path: null };
  }
  return {
    id: name,
    source: "synthetic",
    entry,
    hubId: null,
    path: syntheticCheckpointDir(cacheDir, entry, config.seed),
  };
}

/**
 * The tokenizer the data stage uses for a resolved model: the folder a config.json was read from, a
 * catalog model's (catalog/tokenizer.ts: its family's, or its cached hub snapshot's, else a TOKENIZER
 * error naming `model`), or the local model folder's.
 */
export function runTokenizerSpec(model: ResolvedModel, env: NodeJS.ProcessEnv = process.env): TokenizerSpec {
  if (model.configDir) return { dir: model.configDir };
  if (model.entry) return catalogTokenizerSpec(model.entry, { field: "model", env });
  return { dir: model.path ?? "" };
}

/** A name written as a path (./x, ../x, /x, ~/x): never read as a hub id. */
function looksLikePath(name: string): boolean {
  return /^(\.{1,2}[\\/]|[\\/]|~)/.test(name) || name === "." || name === "..";
}

/** `--weights random` for a model outside the catalog: seeded random weights of its config.json. */
function synthesizedFromConfig(
  name: string,
  configFile: string,
  cacheDir: string,
  seed: number,
): ResolvedModel {
  const entry = modelFromHfConfig(name, configFile);
  const folderSafe = { ...entry, id: basename(dirname(configFile)).replace(/[^\w.-]/g, "_") };
  return {
    id: name,
    source: "synthetic",
    entry,
    hubId: null,
    path: syntheticCheckpointDir(cacheDir, folderSafe, seed),
    configDir: dirname(configFile),
  };
}

function catalogIds(): string {
  return MODELS.map((m) => m.id).join(", ");
}

/** One folder per (architecture, seed): the checkpoint is materialized once and reused. */
export function syntheticCheckpointDir(cacheDir: string, entry: ModelEntry, seed: number): string {
  const h = createHash("sha256").update(JSON.stringify(entry.architecture)).digest("hex").slice(0, 12);
  return join(cacheDir, "checkpoints", `${entry.id}-${h}-seed${seed}`);
}

/**
 * Whether a run of this config would find its weights already on disk, so its first load writes no
 * shared cache: a local folder; a synthetic checkpoint already materialized; a hub model with a
 * snapshot in the Hugging Face cache. False when unsure (the caller then waits for the first load).
 */
export function checkpointCached(
  config: RunConfig,
  cacheDir: string,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  let model: ResolvedModel;
  try {
    model = resolveModel(config, cacheDir);
  } catch {
    return false; // the run itself reports the problem
  }
  if (model.source === "local") return true;
  if (model.source === "synthetic") return existsSync(join(model.path!, "config.json"));
  const hubCache = huggingfaceHubCache(env);
  const snapshots = join(hubCache, `models--${model.hubId!.replace("/", "--")}`, "snapshots");
  try {
    return readdirSync(snapshots).some((s) => existsSync(join(snapshots, s, "config.json")));
  } catch {
    return false;
  }
}

export interface DeviceChoice {
  device: string;
  gpu: GpuInfo | null;
}

export async function resolveDevice(config: RunConfig, probe = listGpus): Promise<DeviceChoice> {
  if (config.device === "cpu") return { device: "cpu", gpu: null };
  const found = await probe();
  const gpus = found.ok ? found.gpus : [];
  if (config.device === "auto") {
    const first = gpus[0];
    return first ? { device: `cuda:${first.index}`, gpu: first } : { device: "cpu", gpu: null };
  }
  const index = config.device === "cuda" ? 0 : Number(config.device.split(":")[1]);
  const gpu = gpus.find((g) => g.index === index) ?? null;
  if (!gpu) {
    throw new LoraprofError("CONFIG_INVALID", `no CUDA GPU ${index} on this machine`, {
      problems: [
        {
          field: "device",
          message: found.ok ? `found GPUs: ${gpus.map((g) => g.index).join(", ") || "none"}` : found.reason,
          hint: "use --device cpu, or check `loraprof doctor`",
        },
      ],
    });
  }
  return { device: `cuda:${index}`, gpu };
}

export function resolveConfig(config: RunConfig, model: ResolvedModel, choice: DeviceChoice): ResolvedConfig {
  // Settings that need a GPU, all named at once before any data is prepared or the engine starts.
  if (choice.device === "cpu") {
    const problems = cudaOnlySettings(config);
    if (problems.length) {
      throw new LoraprofError(
        "CONFIG_INVALID",
        `${problems.map((p) => p.field).join(", ")} need${problems.length === 1 ? "s" : ""} a CUDA GPU; this run is on the CPU`,
        { problems },
      );
    }
  }
  return {
    ...config,
    device: choice.device,
    precision: resolvePrecision(
      config.precision,
      choice.device === "cpu" ? null : (choice.gpu?.computeCapability ?? "0"),
    ),
    weights: model.source === "synthetic" ? "random" : "pretrained",
  };
}

export function buildRunSpec(args: {
  runId: string;
  config: ResolvedConfig;
  model: ResolvedModel;
  shardDir: string;
  padTokenId: number;
}): RunSpec {
  const { config: c, model } = args;
  return {
    protocolVersion: PROTOCOL_VERSION,
    runId: args.runId,
    model: {
      id: model.id,
      source: model.source,
      path: model.path,
      hubId: model.hubId,
      revision: c.revision ?? null,
      architecture: model.entry?.architecture ?? null,
      syntheticSeed: c.seed,
    },
    data: {
      shardDir: args.shardDir,
      padTokenId: args.padTokenId,
      batchSize: c.batchSize,
      seqLen: c.seqLen,
      gradAccum: c.gradAccum,
      padding: c.padding,
      seed: c.seed,
    },
    train: {
      steps: c.steps,
      warmupSteps: c.warmupSteps,
      precision: c.precision,
      method: c.method,
      gradCheckpointing: c.gradCheckpointing,
      attnImplementation: c.attnImplementation,
      seed: c.seed,
      logEverySteps: c.logEverySteps,
      lossImplementation: c.loss,
      lossChunkTokens: c.lossChunkTokens,
      recipe: c.recipe,
      kernels: c.kernels,
      fusedLora: c.fusedLora,
      cudaGraphs: c.cudaGraphs,
      cudnnAttention: c.cudnnAttention,
      offloadActivations: c.offloadActivations,
      compile: c.compile,
    },
    lora: { ...c.lora },
    quant: c.method === "qlora" ? { ...c.quant } : null,
    optimizer: {
      name: c.optimizer.name,
      lr: c.optimizer.lr,
      weightDecay: c.optimizer.weightDecay,
      beta1: c.optimizer.betas[0],
      beta2: c.optimizer.betas[1],
      eps: c.optimizer.eps,
      maxGradNorm: c.optimizer.maxGradNorm,
      schedule: c.optimizer.schedule,
    },
    device: c.device,
    vramBudgetBytes: c.vramBudget === null ? null : parseByteSize(c.vramBudget),
    cudaAllocator: c.cudaAllocator,
    telemetry: { energy: c.device !== "cpu" },
  };
}
