"""Data-parallel runs on the CPU: the engine under torchrun, 2 gloo ranks vs one process, same global batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import learnable_records, make_spec, run_engine, write_shard

pytestmark = pytest.mark.slow

TORCHRUN = ("loraprof_engine.launch", "2")  # torchrun --standalone --nproc-per-node 2, fd 3 kept
TRAIN = {"steps": 6, "warmupSteps": 1, "logEverySteps": 2}
# fp32 on the CPU, one thread in both runs: only gloo's sum of the two ranks' gradients may round
# differently from one process's accumulation, in the last bits.
REL = 1e-5


def steps(events: list[dict], field: str) -> list[float]:
    return [e[field] for e in events if e["type"] == "step"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple, tuple]:
    tmp = tmp_path_factory.mktemp("ddp")
    shard = write_shard(tmp / "shard", learnable_records(64, vocab=512, seed=0))
    # Global batch 2 × 4 sequences per step: one process accumulating 2 micro-batches, or 2 ranks of 1 each.
    # One thread in both (torchrun sets OMP_NUM_THREADS=1 in its ranks): the matmuls reduce in the same order.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OMP_NUM_THREADS", "1")
        one = run_engine(make_spec(tmp, shard, data={"gradAccum": 2}, train=TRAIN), tmp)
    two = run_engine(make_spec(tmp, shard, data={"gradAccum": 1}, train=TRAIN), tmp, timeout=240, module=TORCHRUN)
    return one, two


def test_two_gloo_ranks_follow_one_process_step_by_step(runs: tuple) -> None:
    (code1, one, err1), (code2, two, err2) = runs
    assert (code1, code2) == (0, 0), err1[-2000:] + err2[-2000:]
    assert [e["type"] for e in two] == [e["type"] for e in one]  # rank 0 alone reports
    assert len(steps(two, "loss")) == TRAIN["steps"]
    assert steps(two, "loss") == pytest.approx(steps(one, "loss"), rel=REL)
    assert steps(two, "gradNorm") == pytest.approx(steps(one, "gradNorm"), rel=REL)
    # The loss moved: the ranks trained (a rank without the gradient average would drift from step 2).
    assert steps(one, "loss")[0] != steps(one, "loss")[-1]


def test_tokens_are_summed_over_ranks_and_memory_is_reported_per_rank(runs: tuple) -> None:
    (_, one, _), (_, two, _) = runs
    for field in ("realTokens", "processedTokens", "labelTokens"):
        assert steps(two, field) == steps(one, field)
    summary = two[-1]
    assert summary["type"] == "summary" and summary["realTokens"] == one[-1]["realTokens"]
    ranks = summary["ranks"]
    assert ranks["worldSize"] == 2 and [r["rank"] for r in ranks["perRank"]] == [0, 1]
    assert ranks["maxPeakHostRssBytes"] == max(r["peakHostRssBytes"] for r in ranks["perRank"]) > 0
    assert "ranks" not in one[-1]


def test_a_chunked_loss_is_refused_for_data_parallel_runs(tmp_path: Path) -> None:
    shard = write_shard(tmp_path / "shard", learnable_records(16, vocab=512, seed=0))
    spec = make_spec(tmp_path, shard, train={**TRAIN, "lossImplementation": "chunked"})
    code, events, _ = run_engine(spec, tmp_path, timeout=240, module=TORCHRUN)
    assert code != 0
    assert events[-1]["type"] == "error" and events[-1]["kind"] == "config"
    assert "lossImplementation" in events[-1]["message"]
