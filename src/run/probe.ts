/**
 * What the engine's Python has: versions of the libraries it needs, CUDA, GPUs and the NVML energy
 * counter. Runs a short script with the chosen interpreter (no model is loaded); used by `setup`
 * and `doctor`.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { engineEnv } from "./engine.js";

const run = promisify(execFile);

const PROBE_PY = String.raw`
import importlib, json, platform, sys
out = {"python": platform.python_version(), "executable": sys.executable, "libraries": {}, "errors": {}}
for name, mod in [("torch","torch"),("transformers","transformers"),("peft","peft"),("numpy","numpy"),
                  ("accelerate","accelerate"),("safetensors","safetensors"),("bitsandbytes","bitsandbytes"),
                  ("nvidia-ml-py","pynvml"),("liger-kernel","liger_kernel"),("pytest","pytest"),("jsonschema","jsonschema"),("ruff","ruff"),("mypy","mypy"),("loraprof_engine","loraprof_engine")]:
    try:
        m = importlib.import_module(mod)
        out["libraries"][name] = str(getattr(m, "__version__", "present"))
    except Exception as e:  # noqa: BLE001 - report any import failure
        out["libraries"][name] = None
        out["errors"][name] = f"{type(e).__name__}: {e}"[:300]
cuda = {"available": False, "version": None, "devices": []}
try:
    import torch
    cuda["version"] = torch.version.cuda
    cuda["available"] = bool(torch.cuda.is_available())
    if cuda["available"]:
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            cuda["devices"].append({"index": i, "name": p.name, "totalMemoryBytes": p.total_memory,
                                    "capability": f"{p.major}.{p.minor}", "bf16": bool(torch.cuda.is_bf16_supported()) if i == 0 else None})
except Exception as e:  # noqa: BLE001
    cuda["error"] = str(e)[:300]
out["cuda"] = cuda
nvml = {"available": False, "driver": None, "energyCounter": None, "reason": None}
try:
    import pynvml
    pynvml.nvmlInit()
    nvml["available"] = True
    d = pynvml.nvmlSystemGetDriverVersion()
    nvml["driver"] = d.decode() if isinstance(d, bytes) else d
    try:
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
        nvml["energyCounter"] = True
    except Exception as e:  # noqa: BLE001
        nvml["energyCounter"] = False
        nvml["reason"] = str(e)[:200]
except Exception as e:  # noqa: BLE001
    nvml["reason"] = str(e)[:200]
out["nvml"] = nvml
print(json.dumps(out))
`;

export interface ProbeResult {
  python: string;
  executable: string;
  libraries: Record<string, string | null>;
  errors: Record<string, string>;
  cuda: {
    available: boolean;
    version: string | null;
    devices: {
      index: number;
      name: string;
      totalMemoryBytes: number;
      capability: string;
      bf16: boolean | null;
    }[];
    error?: string;
  };
  nvml: { available: boolean; driver: string | null; energyCounter: boolean | null; reason: string | null };
}

export async function probePython(
  python: string,
): Promise<{ ok: true; probe: ProbeResult } | { ok: false; reason: string }> {
  try {
    const { stdout } = await run(python, ["-c", PROBE_PY], {
      env: engineEnv(),
      timeout: 120_000,
      maxBuffer: 4 << 20,
    });
    const last = stdout.trim().split("\n").pop() ?? "";
    return { ok: true, probe: JSON.parse(last) as ProbeResult };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") return { ok: false, reason: `${python} not found` };
    return { ok: false, reason: (e.stderr || e.message).trim().split("\n").slice(-3).join(" ") };
  }
}

/** Packages the engine needs, with the pip requirement that installs each. */
export const REQUIRED = {
  torch: "torch",
  transformers: "transformers>=4.45",
  peft: "peft>=0.12",
  numpy: "numpy",
  accelerate: "accelerate>=0.26",
  safetensors: "safetensors",
} as const;
/** liger-kernel: the fast recipe's fused kernels (Triton); without it the engine falls back, with a note. */
export const GPU_EXTRAS = {
  bitsandbytes: "bitsandbytes>=0.43",
  "nvidia-ml-py": "nvidia-ml-py",
  "liger-kernel": "liger-kernel>=0.8",
} as const;
export const DEV_EXTRAS = { pytest: "pytest", jsonschema: "jsonschema", ruff: "ruff", mypy: "mypy" } as const;
