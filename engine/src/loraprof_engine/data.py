"""Token shard reading and batching, all on the host with numpy.

Shard layout (written by the TS side, src/data/shard.ts): a folder with
  meta.json     JSON object describing the shard (formatVersion 1, records, seqLen, tokenizer, template, ...)
  tokens.bin    uint32 little-endian token ids, all records back to back
  labels.bin    uint8, one per token: 1 = the token is a training target, 0 = context (prompt)
  offsets.bin   uint64 little-endian, records + 1 entries: record i is tokens[offsets[i]:offsets[i+1]]
Records are already truncated to the run's seqLen.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import EngineError
from .spec import DataSpec

SHARD_FORMAT_VERSION = 1  # meta.json's formatVersion (SHARD_FORMAT_VERSION in src/data/shard.ts)
IGNORE_INDEX = -100  # the label value cross-entropy skips (PyTorch's and transformers' convention)


@dataclass(frozen=True)
class Shard:
    tokens: npt.NDArray[np.uint32]
    labels: npt.NDArray[np.uint8]
    offsets: npt.NDArray[np.uint64]
    meta: dict[str, Any]

    @property
    def records(self) -> int:
        return len(self.offsets) - 1


@dataclass(frozen=True)
class MicroBatch:
    input_ids: npt.NDArray[np.int64]  # [batch, width]
    attention_mask: npt.NDArray[np.int64]  # 1 on real tokens, 0 on padding
    labels: npt.NDArray[np.int64]  # input ids on target tokens, IGNORE_INDEX elsewhere (padding included)
    real_tokens: int  # non-padding tokens
    processed_tokens: int  # every position the model computes, padding included
    label_tokens: int  # positions whose next token is a target: what the loss averages over


def open_shard(shard_dir: str, seq_len: int) -> Shard:
    """Memory-map a shard and check its structure; any inconsistency is a `data` error naming the file."""
    folder = Path(shard_dir)
    hint = "Rebuild the shard (delete the folder; `loraprof run` tokenizes the dataset again)."
    if not folder.is_dir():
        raise EngineError("data", f"token shard folder not found: {folder}", hint)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EngineError("data", f"{folder / 'meta.json'} is missing or not JSON: {exc}", hint) from None
    if not isinstance(meta, dict):
        raise EngineError("data", f"{folder / 'meta.json'} must hold a JSON object", hint)
    if meta.get("formatVersion", SHARD_FORMAT_VERSION) != SHARD_FORMAT_VERSION:
        raise EngineError(
            "data",
            f"{folder}: shard formatVersion {meta.get('formatVersion')!r}, this engine reads {SHARD_FORMAT_VERSION}",
            hint,
        )
    offsets = _map(folder / "offsets.bin", np.dtype("<u8"), hint)
    tokens = _map(folder / "tokens.bin", np.dtype("<u4"), hint)
    labels = _map(folder / "labels.bin", np.dtype("u1"), hint)
    if len(offsets) < 2:
        raise EngineError("data", f"{folder} holds no record (offsets.bin has {len(offsets)} entries)", hint)
    if int(offsets[0]) != 0 or int(offsets[-1]) != len(tokens):
        raise EngineError(
            "data",
            f"{folder}: offsets.bin spans [{int(offsets[0])}, {int(offsets[-1])}] but tokens.bin holds "
            f"{len(tokens)} tokens",
            hint,
        )
    if isinstance(meta.get("records"), int) and meta["records"] != len(offsets) - 1:
        raise EngineError(
            "data", f"{folder}: meta.json says {meta['records']} records, offsets.bin holds {len(offsets) - 1}", hint
        )
    if len(labels) != len(tokens):
        raise EngineError("data", f"{folder}: labels.bin has {len(labels)} entries for {len(tokens)} tokens", hint)
    lengths = np.diff(offsets.astype(np.int64))
    if (lengths <= 0).any():
        bad = int(np.argmax(lengths <= 0))
        raise EngineError("data", f"{folder}: record {bad} is empty or its offsets decrease", hint)
    if int(lengths.max()) > seq_len:
        bad = int(np.argmax(lengths > seq_len))
        raise EngineError(
            "data",
            f"{folder}: record {bad} has {int(lengths[bad])} tokens, more than data.seqLen {seq_len} "
            "(the shard was built for another seqLen)",
            hint,
        )
    record_starts = offsets[:-1].astype(np.int64)
    if np.count_nonzero(labels) - np.count_nonzero(labels[record_starts]) == 0:
        raise EngineError("data", f"{folder}: no token is marked as a training target in labels.bin", hint)
    return Shard(tokens=tokens, labels=labels, offsets=offsets, meta=meta)


def check_token_ids(shard: Shard, vocab_size: int, pad_token_id: int) -> None:
    """An id outside the embedding table is an index error on the CPU and a device-side assert on CUDA
    (which poisons the CUDA context): refuse it up front, naming the record."""
    if pad_token_id >= vocab_size:
        raise EngineError(
            "data",
            f"data.padTokenId {pad_token_id} is outside the model's vocabulary of {vocab_size}",
            "The shard was tokenized for another model: rebuild it with this model's tokenizer.",
        )
    top = int(shard.tokens.max())
    if top >= vocab_size:
        position = int(np.argmax(shard.tokens >= vocab_size))
        record = int(np.searchsorted(shard.offsets, position, side="right")) - 1
        raise EngineError(
            "data",
            f"record {record} holds token id {int(shard.tokens[position])}, outside the model's vocabulary "
            f"of {vocab_size} (largest id in the shard: {top})",
            "The shard was tokenized for another model: rebuild it with this model's tokenizer.",
        )


def record_order(records: int, seed: int) -> Iterator[int]:
    """Record indices forever: a seeded permutation per epoch, a new one each epoch."""
    rng = np.random.default_rng(seed)
    while True:
        yield from (int(i) for i in rng.permutation(records))


def collate(shard: Shard, indices: list[int], pad_token_id: int, padding: str, seq_len: int) -> MicroBatch:
    """Right-pad the records to one width: the longest record (`longest`) or seqLen (`max_length`)."""
    starts = [int(shard.offsets[i]) for i in indices]
    ends = [int(shard.offsets[i + 1]) for i in indices]
    lengths = [e - s for s, e in zip(starts, ends, strict=True)]
    width = seq_len if padding == "max_length" else max(lengths)
    input_ids = np.full((len(indices), width), pad_token_id, dtype=np.int64)
    attention_mask = np.zeros((len(indices), width), dtype=np.int64)
    labels = np.full((len(indices), width), IGNORE_INDEX, dtype=np.int64)
    for row, (start, end, length) in enumerate(zip(starts, ends, lengths, strict=True)):
        ids = shard.tokens[start:end].astype(np.int64)
        input_ids[row, :length] = ids
        attention_mask[row, :length] = 1
        labels[row, :length] = np.where(shard.labels[start:end] == 1, ids, IGNORE_INDEX)
    real = int(sum(lengths))
    return MicroBatch(
        input_ids=input_ids,
        attention_mask=attention_mask,
        labels=labels,
        real_tokens=real,
        processed_tokens=int(input_ids.size),
        # The first position has no preceding token to predict it from: the causal shift drops it.
        label_tokens=int((labels[:, 1:] != IGNORE_INDEX).sum()),
    )


def micro_batches(shard: Shard, data: DataSpec) -> Iterator[MicroBatch]:
    """Micro-batches of batchSize records in the seeded, cycled record order."""
    order = record_order(shard.records, data.seed)
    while True:
        indices = [next(order) for _ in range(data.batch_size)]
        yield collate(shard, indices, data.pad_token_id, data.padding, data.seq_len)


def _map(path: Path, dtype: np.dtype[Any], hint: str) -> Any:
    if not path.is_file():
        raise EngineError("data", f"shard file missing: {path}", hint)
    size = path.stat().st_size
    if size % dtype.itemsize:
        raise EngineError("data", f"{path} is {size} bytes, not a whole number of {dtype.itemsize}-byte values", hint)
    if size == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")
