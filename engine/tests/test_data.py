"""Shard reading and batching: padding modes, label masks, token counts, record order."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from loraprof_engine.data import IGNORE_INDEX, check_token_ids, collate, micro_batches, open_shard, record_order
from loraprof_engine.errors import EngineError
from loraprof_engine.spec import DataSpec

from conftest import write_shard

PAD = 0
# Three records: prompt tokens (label 0) then response tokens (label 1).
RECORDS = [
    ([11, 12, 13, 14, 15], [0, 0, 1, 1, 1]),
    ([21, 22, 23], [0, 1, 1]),
    ([31, 32, 33, 34, 35, 36, 37], [0, 0, 0, 0, 1, 1, 1]),
]


@pytest.fixture
def shard_dir(tmp_path: Path) -> Path:
    return write_shard(tmp_path / "shard", RECORDS)


def data_spec(**overrides: object) -> DataSpec:
    values: dict = {
        "shard_dir": "",
        "pad_token_id": PAD,
        "batch_size": 2,
        "seq_len": 8,
        "grad_accum": 1,
        "padding": "longest",
        "seed": 0,
    }
    values.update(overrides)
    return DataSpec(**values)


def test_a_shard_maps_records_by_offsets(shard_dir: Path) -> None:
    shard = open_shard(str(shard_dir), seq_len=8)
    assert shard.records == 3
    assert shard.tokens[int(shard.offsets[1]) : int(shard.offsets[2])].tolist() == [21, 22, 23]


def test_longest_padding_pads_to_the_longest_record_of_the_batch(shard_dir: Path) -> None:
    batch = collate(open_shard(str(shard_dir), 8), [0, 1], PAD, "longest", seq_len=8)
    assert batch.input_ids.tolist() == [[11, 12, 13, 14, 15], [21, 22, 23, PAD, PAD]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]


def test_max_length_padding_pads_to_seq_len(shard_dir: Path) -> None:
    batch = collate(open_shard(str(shard_dir), 8), [1], PAD, "max_length", seq_len=8)
    assert batch.input_ids.shape == (1, 8)
    assert batch.processed_tokens == 8 and batch.real_tokens == 3


def test_labels_are_the_targets_and_ignore_prompt_and_padding(shard_dir: Path) -> None:
    batch = collate(open_shard(str(shard_dir), 8), [0, 1], PAD, "longest", seq_len=8)
    ig = IGNORE_INDEX
    assert batch.labels.tolist() == [[ig, ig, 13, 14, 15], [ig, 22, 23, ig, ig]]


def test_token_counts_separate_real_processed_and_predicted_tokens(shard_dir: Path) -> None:
    batch = collate(open_shard(str(shard_dir), 8), [0, 1, 2], PAD, "longest", seq_len=8)
    assert batch.real_tokens == 5 + 3 + 7
    assert batch.processed_tokens == 3 * 7
    assert batch.label_tokens == 3 + 2 + 3


def test_a_target_on_the_first_token_is_not_counted_because_nothing_predicts_it(tmp_path: Path) -> None:
    shard = open_shard(str(write_shard(tmp_path / "s", [([5, 6, 7], [1, 1, 1])])), 8)
    assert collate(shard, [0], PAD, "longest", 8).label_tokens == 2


def test_the_record_order_is_a_seeded_permutation_renewed_each_epoch() -> None:
    order = list(itertools.islice(record_order(5, seed=3), 15))
    epochs = [order[0:5], order[5:10], order[10:15]]
    assert all(sorted(e) == [0, 1, 2, 3, 4] for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1
    assert order == list(itertools.islice(record_order(5, seed=3), 15))
    assert order != list(itertools.islice(record_order(5, seed=4), 15))


def test_micro_batches_cycle_through_the_shard(shard_dir: Path) -> None:
    shard = open_shard(str(shard_dir), 8)
    batches = list(itertools.islice(micro_batches(shard, data_spec(batch_size=2)), 3))
    assert [b.input_ids.shape[0] for b in batches] == [2, 2, 2]
    assert sum(b.real_tokens for b in batches) == 2 * (5 + 3 + 7)  # 6 records = 2 epochs of 3


def test_a_record_longer_than_seq_len_is_a_data_error(shard_dir: Path) -> None:
    with pytest.raises(EngineError, match="record 2 has 7 tokens") as caught:
        open_shard(str(shard_dir), seq_len=6)
    assert caught.value.kind == "data"


def test_inconsistent_files_are_data_errors(tmp_path: Path) -> None:
    folder = write_shard(tmp_path / "s", RECORDS)
    np.array([0, 5, 8], dtype="<u8").tofile(folder / "offsets.bin")
    with pytest.raises(EngineError, match=r"offsets\.bin spans") as caught:
        open_shard(str(folder), 8)
    assert caught.value.kind == "data"


def test_a_missing_folder_or_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="not found"):
        open_shard(str(tmp_path / "nope"), 8)
    folder = write_shard(tmp_path / "s", RECORDS)
    (folder / "labels.bin").unlink()
    with pytest.raises(EngineError, match=r"labels\.bin"):
        open_shard(str(folder), 8)


def test_another_shard_format_version_is_refused(tmp_path: Path) -> None:
    folder = write_shard(tmp_path / "s", RECORDS, meta={"formatVersion": 2})
    with pytest.raises(EngineError, match="formatVersion"):
        open_shard(str(folder), 8)


def test_a_shard_without_any_target_is_refused(tmp_path: Path) -> None:
    folder = write_shard(tmp_path / "s", [([1, 2, 3], [0, 0, 0])])
    with pytest.raises(EngineError, match="no token is marked"):
        open_shard(str(folder), 8)


def test_a_token_id_outside_the_vocabulary_names_its_record(shard_dir: Path) -> None:
    shard = open_shard(str(shard_dir), 8)
    check_token_ids(shard, vocab_size=38, pad_token_id=PAD)
    with pytest.raises(EngineError, match=r"record 2 holds token id 3[0-9]") as caught:
        check_token_ids(shard, vocab_size=30, pad_token_id=PAD)
    assert caught.value.kind == "data"
    with pytest.raises(EngineError, match="padTokenId"):
        check_token_ids(shard, vocab_size=38, pad_token_id=40)


def test_record_order_is_the_stream_the_planner_reproduces() -> None:
    # src/plan/order.test.ts expects these same indices: the planner predicts which records a run visits.
    assert list(itertools.islice(record_order(20, 0), 20)) == [
        4,
        19,
        6,
        2,
        13,
        16,
        3,
        11,
        10,
        8,
        0,
        12,
        7,
        5,
        18,
        17,
        14,
        9,
        1,
        15,
    ]
    assert list(itertools.islice(record_order(5, 3), 10)) == [4, 2, 1, 3, 0, 3, 0, 2, 1, 4]
