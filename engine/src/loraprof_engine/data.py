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
    # Packed batches only: each record's position ids start at 0 (rotary positions restart per record),
    # and the record boundaries as cumulative lengths over the flattened [batch × width] tokens (every
    # record, then the padding at a row's end as a segment of its own). None for padded batches.
    position_ids: npt.NDArray[np.int64] | None = None
    cu_seqlens: npt.NDArray[np.int32] | None = None
    max_seqlen: int = 0  # the longest segment in cu_seqlens (flash attention sizes its grid by it)
    records: int = 0  # records in the micro-batch
    # Σ len² and Σ len over the sequences attention runs over (padded rows at their width; packed
    # records at their own length): their ratio is the token-weighted attention span, for FLOPs.
    span_sq: int = 0
    span_tokens: int = 0


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
    lengths = [int(shard.offsets[i + 1] - shard.offsets[i]) for i in indices]
    width = seq_len if padding == "max_length" else max(lengths)
    input_ids = np.full((len(indices), width), pad_token_id, dtype=np.int64)
    attention_mask = np.zeros((len(indices), width), dtype=np.int64)
    labels = np.full((len(indices), width), IGNORE_INDEX, dtype=np.int64)
    for row, index in enumerate(indices):
        _write_record(shard, index, (input_ids, attention_mask, labels), row, 0)
    return _micro_batch(
        (input_ids, attention_mask, labels),
        real=int(sum(lengths)),
        records=len(indices),
        span=(len(indices) * width * width, len(indices) * width),
    )


def _micro_batch(
    arrays: tuple[Any, Any, Any], real: int, records: int, span: tuple[int, int], **packed: Any
) -> MicroBatch:
    """The MicroBatch of filled (input ids, mask, labels) arrays, with its token counts."""
    input_ids, attention_mask, labels = arrays
    return MicroBatch(
        input_ids=input_ids,
        attention_mask=attention_mask,
        labels=labels,
        real_tokens=real,
        processed_tokens=int(input_ids.size),
        # The first position has no preceding token to predict it from: the causal shift drops it.
        label_tokens=int((labels[:, 1:] != IGNORE_INDEX).sum()),
        records=records,
        span_sq=span[0],
        span_tokens=span[1],
        **packed,
    )


def _write_record(shard: Shard, index: int, arrays: tuple[Any, Any, Any], row: int, at: int) -> None:
    """Record `index` into row `row` from column `at`: its ids, a 1 in the mask, its targets as labels."""
    input_ids, attention_mask, labels = arrays
    start, end = int(shard.offsets[index]), int(shard.offsets[index + 1])
    ids = shard.tokens[start:end].astype(np.int64)
    span = slice(at, at + end - start)
    input_ids[row, span] = ids
    attention_mask[row, span] = 1
    labels[row, span] = np.where(shard.labels[start:end] == 1, ids, IGNORE_INDEX)


@dataclass(frozen=True)
class StaticShape:
    """One fixed layout for every packed micro-batch of a run (CUDA graphs replay fixed shapes): `rows` rows
    of `width` tokens, and `slots` segments (records, then each row's padding), the unused ones as zero-length
    segments at the end of cu_seqlens (flash attention skips them)."""

    rows: int
    width: int
    slots: int


def collate_packed(
    shard: Shard, rows: list[list[int]], pad_token_id: int, static: StaticShape | None = None
) -> MicroBatch:
    """Rows of records laid end to end, right-padded to the fullest row (a few tokens, not a record's worth),
    or to the run's static shape (`static`: every row `width` wide, `rows` rows, `slots` segments).

    Each record keeps its own positions (0, 1, …) and its first token is never a target: the token before
    it belongs to another record, and predicting across that seam would train on a pairing that does not
    exist. With attention kept inside each record (`cu_seqlens`), every record's loss terms and therefore
    every gradient are those of the record trained alone (engine/tests/test_packing.py checks this).
    """
    if static is not None:
        rows = rows + [[] for _ in range(static.rows - len(rows))]  # an empty row: one padding segment
    lengths = [[int(shard.offsets[i + 1] - shard.offsets[i]) for i in row] for row in rows]
    width = static.width if static is not None else max(sum(row) for row in lengths)
    shape = (len(rows), width)
    input_ids = np.full(shape, pad_token_id, dtype=np.int64)
    attention_mask = np.zeros(shape, dtype=np.int64)
    labels = np.full(shape, IGNORE_INDEX, dtype=np.int64)
    position_ids = np.zeros(shape, dtype=np.int64)
    bounds = [0]
    for r, (row, row_lengths) in enumerate(zip(rows, lengths, strict=True)):
        at = 0
        for index, length in zip(row, row_lengths, strict=True):
            _write_record(shard, index, (input_ids, attention_mask, labels), r, at)
            labels[r, at] = IGNORE_INDEX  # no target across the seam with the record before
            position_ids[r, at : at + length] = np.arange(length)
            at += length
            bounds.append(r * width + at)
        if at < width:  # the row's padding: a segment of its own, attending only to itself
            position_ids[r, at:] = np.arange(width - at)
            bounds.append((r + 1) * width)
    if static is not None:
        if len(bounds) - 1 > static.slots:
            raise AssertionError(f"{len(bounds) - 1} segments in a micro-batch sized for {static.slots}")
        bounds += [bounds[-1]] * (static.slots + 1 - len(bounds))  # zero-length segments
    cu = np.asarray(bounds, dtype=np.int32)
    real = int(sum(sum(row) for row in lengths))
    return _micro_batch(
        (input_ids, attention_mask, labels),
        real=real,
        records=sum(len(row) for row in rows),
        span=(sum(n * n for row in lengths for n in row), real),
        position_ids=position_ids,
        cu_seqlens=cu,
        max_seqlen=int(np.diff(cu).max()),
    )


def record_lengths(shard: Shard) -> npt.NDArray[np.int64]:
    return np.diff(shard.offsets.astype(np.int64)).astype(np.int64)


def packed_static_shape(shard: Shard, data: DataSpec, micro_batch_count: int) -> StaticShape:
    """The static shape that holds the first `micro_batch_count` packed micro-batches of the run: the packer
    replayed on the host (no collation) to find the most segments one micro-batch will carry."""
    order = record_order(shard.records, data.seed)
    packs = pack_rows(order, record_lengths(shard), data.batch_size, data.seq_len)
    most = 0
    for _, rows in zip(range(micro_batch_count), packs, strict=False):
        most = max(most, sum(len(row) for row in rows))
    # + one padding segment per row, at most (a full row has none; an empty row is one)
    return StaticShape(rows=data.batch_size, width=data.seq_len, slots=most + data.batch_size)


PACK_LOOKAHEAD = 64  # records tried past one that fits no row before the micro-batch is closed


def pack_rows(
    order: Iterator[int], lengths: npt.NDArray[np.int64], rows: int, capacity: int
) -> Iterator[list[list[int]]]:
    """Records in the seeded order, packed best-fit into `rows` rows of `capacity` tokens per micro-batch.

    Each record goes to the row it leaves the least room in. A record that fits no row waits at the head
    of the next micro-batch while up to PACK_LOOKAHEAD later records are tried (short ones fill the gaps);
    then the micro-batch is closed. Deterministic for a seed, and the seeded order within a window of
    PACK_LOOKAHEAD records. src/plan/packing.ts mirrors this function exactly, so the planner walks the
    same micro-batches the engine will train on.
    """
    waiting: list[int] = []
    while True:
        free = [capacity] * rows
        batch: list[list[int]] = [[] for _ in range(rows)]
        deferred: list[int] = []
        misses = 0
        queue = waiting
        waiting = []
        while misses <= PACK_LOOKAHEAD:
            index = queue.pop(0) if queue else next(order)
            length = int(lengths[index])
            best = -1
            for r in range(rows):
                if length <= free[r] and (best < 0 or free[r] < free[best]):
                    best = r
            if best < 0:
                deferred.append(index)
                misses += 1
                continue
            batch[best].append(index)
            free[best] -= length
            if min(free) == 0 and max(free) == 0:
                break
        waiting = deferred + queue
        yield [row for row in batch if row]


def micro_batches(shard: Shard, data: DataSpec, static: StaticShape | None = None) -> Iterator[MicroBatch]:
    """Micro-batches in the seeded, cycled record order: batchSize records padded (`longest`, `max_length`),
    or batchSize rows of up to seqLen tokens packed with whole records (`packed`), in the run's `static`
    shape when one is given."""
    order = record_order(shard.records, data.seed)
    if data.padding == "packed":
        for rows in pack_rows(order, record_lengths(shard), data.batch_size, data.seq_len):
            yield collate_packed(shard, rows, data.pad_token_id, static)
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
