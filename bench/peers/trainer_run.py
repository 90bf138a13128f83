"""The study's own method, side by side with loraprof's engine: HF Trainer + PEFT + bitsandbytes.

Driven by the RunSpec loraprof's engine ran (same checkpoint, same records in the same order from the
same token shard, same padding, LoRA, optimizer, precision and gradient checkpointing; bench/peers/
common.py says how). What differs from the engine is only what the Trainer does by default: its data
loader and bookkeeping, and `prepare_model_for_kbit_training` (which upcasts every non-quantized
parameter to fp32) under QLoRA.

    python bench/peers/trainer_run.py --spec RUN_DIR/spec.json [--out result.json]
        [--padding longest|max_length|packed]   (default: the RunSpec's)

A packed RunSpec (loraprof run --packing: data.padding "packed") gives the engine's packed rows, without
an attention mask: transformers keeps attention inside each record from the position ids.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # after the path line above


def main() -> None:
    args = common.parse_args("HF Trainer + PEFT on a loraprof RunSpec")
    spec = common.read_spec(args.spec, args.padding)
    device = common.device_of(spec)
    measure = common.Measure(spec, device)  # before loading: NVML sees the whole process, as the engine's

    t_import = time.perf_counter()  # transformers and PEFT (torch came with common, before)
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig, Trainer

    import_seconds = time.perf_counter() - t_import

    train, lora = spec["train"], spec["lora"]
    dtype = common.DTYPES[train["precision"]]
    model_path = spec["model"]["path"] or spec["model"]["hubId"]
    load_kwargs: dict[str, Any] = {"attn_implementation": train["attnImplementation"]}
    if train["method"] == "qlora":
        q = spec["quant"]
        load_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=q["type"],
            bnb_4bit_use_double_quant=q["doubleQuant"],
            bnb_4bit_compute_dtype=dtype,
        )
        load_kwargs["device_map"] = {"": device}
    t_load = time.perf_counter()
    model: Any = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, **load_kwargs)
    if train["method"] == "qlora":
        # What QLoRA scripts of the study's kind do: upcasts non-quantized params to fp32.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=train["gradCheckpointing"])
    else:
        model.to(device)
    model = get_peft_model(
        model,
        LoraConfig(
            r=lora["r"],
            lora_alpha=lora["alpha"],
            lora_dropout=lora["dropout"],
            target_modules=lora["targetModules"],
            task_type="CAUSAL_LM",
        ),
    )
    load_seconds = time.perf_counter() - t_load

    trainer = common.make_trainer(
        Trainer,
        measure,
        model=model,
        args=common.training_args(spec, "/tmp/loraprof-peer-trainer"),
        train_dataset=common.MicroBatches(common.micro_batches(spec, flat=False)),
    )
    trainer.train()
    result = {
        "method": "hf-trainer",
        **measure.figures(spec),
        "loadSeconds": load_seconds,
        "importSeconds": import_seconds,
        "options": {
            "padding": spec["data"]["padding"],
            "specPadding": spec["data"]["specPadding"],
            "gradientCheckpointing": "hf-non-reentrant" if train["gradCheckpointing"] else None,
            "prepareModelForKbitTraining": train["method"] == "qlora",
            "attnImplementation": train["attnImplementation"],
            "optim": common.OPTIM_NAMES[spec["optimizer"]["name"]],
        },
        "versions": common.versions("torch", "transformers", "peft", "accelerate", "bitsandbytes"),
        "command": " ".join(sys.argv),
    }
    common.emit(result, args.out)


if __name__ == "__main__":
    common.run_main(main)
