"""Data-parallel runs on the CPU: the engine under torchrun, 2 gloo ranks vs one process, same global batch."""

from __future__ import annotations

import jsonschema
import pytest

from loraprof_engine.distributed import summarize_ranks

from conftest import learnable_records, make_spec, run_engine, write_shard

pytestmark = pytest.mark.slow

TORCHRUN = ("loraprof_engine.launch", "2")  # torchrun --standalone --nproc-per-node 2, fd 3 kept
TRAIN = {"steps": 6, "warmupSteps": 1, "logEverySteps": 2}
# fp32 on the CPU, one thread in both runs: only gloo's sum of the two ranks' gradients may round
# differently from one process's accumulation, in the last bits.
REL = 1e-5


def steps(events: list[dict], field: str) -> list[float]:
    return [e[field] for e in events if e["type"] == "step"]


# Each case: the one process's gradAccum, the two ranks' gradAccum, and the train settings both share.
CASES = {
    # the full loss, one micro-batch per rank: DDP's all-reduce in every backward
    "full": (2, 1, {}),
    # the chunked loss (it calls the decoder body and the LM head itself) under gradient checkpointing, two
    # micro-batches per rank: the first accumulates locally (no_sync), the second all-reduces
    "chunked-checkpointed-accum": (4, 2, {"lossImplementation": "chunked", "gradCheckpointing": True}),
}


@pytest.fixture(scope="module", params=list(CASES))
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple, tuple]:
    one_accum, rank_accum, train = CASES[request.param]
    tmp = tmp_path_factory.mktemp("ddp")
    shard = write_shard(tmp / "shard", learnable_records(64, vocab=512, seed=0))
    # Same global batch (batchSize 4 × one_accum sequences per step): one process accumulating, or 2 ranks.
    # One thread in both (torchrun sets OMP_NUM_THREADS=1 in its ranks): the matmuls reduce in the same order.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OMP_NUM_THREADS", "1")
        one = run_engine(make_spec(tmp, shard, data={"gradAccum": one_accum}, train={**TRAIN, **train}), tmp)
    spec = make_spec(tmp, shard, data={"gradAccum": rank_accum}, train={**TRAIN, **train})
    two = run_engine(spec, tmp, timeout=240, module=TORCHRUN)
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


def test_tokens_are_summed_over_ranks_and_memory_is_reported_per_rank(runs: tuple, event_schema: dict) -> None:
    (_, one, _), (_, two, _) = runs
    for event in two:
        jsonschema.validate(event, event_schema)  # the TS side's wire schema, exported
    for field in ("realTokens", "processedTokens", "labelTokens"):
        assert steps(two, field) == steps(one, field)
    summary = two[-1]
    assert summary["type"] == "summary" and summary["realTokens"] == one[-1]["realTokens"]
    ranks = summary["ranks"]
    assert ranks["worldSize"] == 2 and [r["rank"] for r in ranks["perRank"]] == [0, 1]
    assert ranks["maxPeakHostRssBytes"] == max(r["peakHostRssBytes"] for r in ranks["perRank"]) > 0
    # No NVML on the CPU: no device figures and no energy, with the reason of the rank that has none.
    assert ranks["maxNvmlPeakDeviceBytes"] is None
    assert summary["energyJoules"]["value"] is None and summary["energyJoules"]["reason"].startswith("rank 0: ")
    assert "ranks" not in one[-1]


def test_the_ranks_figures_take_the_maxima_and_sum_the_energy_over_the_gpus() -> None:
    def rank(r: int, allocated: int | None, device: int | None, joules: float | None) -> dict:
        return {
            "rank": r,
            "peakAllocatedBytes": allocated,
            "peakReservedBytes": allocated,
            "peakHostRssBytes": 100 + r,
            "nvmlPeakProcessBytes": device,
            "nvmlPeakDeviceBytes": device,
            "energyJoules": {"value": joules, "reason": None if joules is not None else "no counter"},
        }

    ranks, energy = summarize_ranks([rank(0, 5, 7, 10.0), rank(1, 6, 9, 12.5)])
    assert energy == {"value": 22.5, "reason": None}
    maxima = ("maxPeakAllocatedBytes", "maxNvmlPeakDeviceBytes", "maxPeakHostRssBytes")
    assert [ranks[k] for k in maxima] == [6, 9, 101]
    assert [r["energyJoules"] for r in ranks["perRank"]] == [10.0, 12.5]
    # One rank without a reading: no sum (it would undercount), and which rank and why.
    _, energy = summarize_ranks([rank(0, 5, 7, 10.0), rank(1, None, None, None)])
    assert energy == {"value": None, "reason": "rank 1: no counter"}
