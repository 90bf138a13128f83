"""The study's own method, for a side-by-side with loraprof's engine.

HF Trainer + PEFT + bitsandbytes, driven by the same RunSpec loraprof's engine ran (same model
checkpoint, same records from the same token shard, same tokenization, same padding mode, same
LoRA, optimizer, precision and gradient checkpointing). Timing uses the same rules as the engine:
warmup steps excluded, the device synchronized at both ends of the measured window, real
(non-padding) and processed tokens counted separately.

    python bench/trainer_baseline.py --spec RUN_DIR/spec.json [--out result.json]

The Trainer reads the records in the engine's order (`loraprof_engine.data.record_order`, seeded by
data.seed) through a sequential sampler, so both see the same records step for step and count the
same real and processed tokens. What differs from the engine is only what the Trainer does by
default: its data loader and collation, `prepare_model_for_kbit_training` (which upcasts every
non-quantized parameter to fp32), and the Trainer's per-step bookkeeping.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

OPTIM_NAMES = {
    "adamw_torch": "adamw_torch",
    "adamw_torch_fused": "adamw_torch_fused",
    "adamw_8bit": "adamw_bnb_8bit",
    "paged_adamw_8bit": "paged_adamw_8bit",
    "paged_adamw_32bit": "paged_adamw_32bit",
}


def load_shard(shard_dir: str) -> list[tuple[np.ndarray, np.ndarray]]:
    d = Path(shard_dir)
    tokens = np.fromfile(d / "tokens.bin", dtype="<u4")
    labels = np.fromfile(d / "labels.bin", dtype=np.uint8)
    offsets = np.fromfile(d / "offsets.bin", dtype="<u8")
    return [
        (
            tokens[offsets[i] : offsets[i + 1]].astype(np.int64),
            labels[offsets[i] : offsets[i + 1]],
        )
        for i in range(len(offsets) - 1)
    ]


class ShardDataset(torch.utils.data.Dataset[dict[str, Any]]):
    def __init__(self, records: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        ids, mask = self.records[i]
        return {"ids": ids, "mask": mask}


def make_collator(pad_id: int, seq_len: int, padding: str):
    def collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = seq_len if padding == "max_length" else max(len(x["ids"]) for x in items)
        n = len(items)
        input_ids = torch.full((n, width), pad_id, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        labels = torch.full((n, width), -100, dtype=torch.long)
        for r, x in enumerate(items):
            k = len(x["ids"])
            ids = torch.from_numpy(x["ids"])
            input_ids[r, :k] = ids
            attention[r, :k] = 1
            labels[r, :k] = torch.where(torch.from_numpy(x["mask"].astype(bool)), ids, -100)
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}

    return collate


def main() -> None:
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import (
        AutoModelForCausalLM,
        BitsAndBytesConfig,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from loraprof_engine.data import record_order

    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--out")
    args = ap.parse_args()
    spec = json.loads(Path(args.spec).read_text())
    train, data, opt, lora = (
        spec["train"],
        spec["data"],
        spec["optimizer"],
        spec["lora"],
    )
    precision = train["precision"]
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[precision]
    model_path = spec["model"]["path"] or spec["model"]["hubId"]
    device_index = int(spec["device"].split(":")[1])
    torch.cuda.set_device(device_index)

    load_kwargs: dict[str, Any] = {"attn_implementation": train["attnImplementation"]}
    if train["method"] == "qlora":
        q = spec["quant"]
        load_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=q["type"],
            bnb_4bit_use_double_quant=q["doubleQuant"],
            bnb_4bit_compute_dtype=dtype,
        )
        load_kwargs["device_map"] = {"": device_index}
    t_load = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, **load_kwargs)
    if train["method"] == "qlora":
        # What QLoRA scripts of the study's kind do: upcasts non-quantized params to fp32.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=train["gradCheckpointing"])
    else:
        model.to(f"cuda:{device_index}")
    targets = lora["targetModules"]
    model = get_peft_model(
        model,
        LoraConfig(
            r=lora["r"],
            lora_alpha=lora["alpha"],
            lora_dropout=lora["dropout"],
            target_modules=targets,
            task_type="CAUSAL_LM",
        ),
    )
    load_seconds = time.perf_counter() - t_load

    warmup = train["warmupSteps"]
    state: dict[str, Any] = {"real": None, "processed": None, "t0": None, "t1": None}

    class CountingTrainer(Trainer):
        def _get_train_sampler(self, *args, **kwargs):  # type: ignore[no-untyped-def,override]
            return torch.utils.data.SequentialSampler(self.train_dataset)  # the engine's order, prepared

        def training_step(self, model, inputs, num_items_in_batch=None):  # type: ignore[no-untyped-def,override]
            if self.state.global_step >= warmup:
                m = inputs["attention_mask"]
                real = m.sum()
                state["real"] = real if state["real"] is None else state["real"] + real
                state["processed"] = (state["processed"] or 0) + m.numel()
            return super().training_step(model, inputs, num_items_in_batch)

    class Window(TrainerCallback):
        def on_step_begin(self, a, s, c, **kw):  # type: ignore[no-untyped-def]
            if s.global_step == warmup and state["t0"] is None:
                torch.cuda.synchronize()
                state["t0"] = time.perf_counter()

        def on_train_end(self, a, s, c, **kw):  # type: ignore[no-untyped-def]
            torch.cuda.synchronize()
            state["t1"] = time.perf_counter()

    targs = TrainingArguments(
        output_dir="/tmp/loraprof-trainer-baseline",
        per_device_train_batch_size=data["batchSize"],
        gradient_accumulation_steps=data["gradAccum"],
        max_steps=train["steps"],
        learning_rate=opt["lr"],
        weight_decay=opt["weightDecay"],
        adam_beta1=opt["beta1"],
        adam_beta2=opt["beta2"],
        adam_epsilon=opt["eps"],
        max_grad_norm=opt["maxGradNorm"] or 0.0,
        lr_scheduler_type="constant",
        optim=OPTIM_NAMES[opt["name"]],
        fp16=precision == "fp16",
        bf16=precision == "bf16",
        gradient_checkpointing=train["gradCheckpointing"],
        gradient_checkpointing_kwargs={"use_reentrant": False},
        logging_steps=10,
        save_strategy="no",
        report_to=[],
        seed=data["seed"],
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    records = load_shard(data["shardDir"])
    order = record_order(len(records), data["seed"])
    needed = train["steps"] * data["batchSize"] * data["gradAccum"]
    in_engine_order = [records[next(order)] for _ in range(needed)]
    torch.cuda.reset_peak_memory_stats()
    trainer = CountingTrainer(
        model=model,
        args=targs,
        train_dataset=ShardDataset(in_engine_order),
        data_collator=make_collator(data["padTokenId"], data["seqLen"], data["padding"]),
        callbacks=[Window()],
    )
    trainer.train()
    seconds = state["t1"] - state["t0"]
    real = int(state["real"].item())
    processed = int(state["processed"])
    result = {
        "method": "hf-trainer",
        "runSpec": spec["runId"],
        "measuredSteps": train["steps"] - warmup,
        "measuredSeconds": seconds,
        "realTokens": real,
        "processedTokens": processed,
        "realTokensPerSecond": real / seconds,
        "processedTokensPerSecond": processed / seconds,
        "peakAllocatedBytes": torch.cuda.max_memory_allocated(),
        "peakReservedBytes": torch.cuda.max_memory_reserved(),
        "loadSeconds": load_seconds,
    }
    text = json.dumps(result)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
