"""The CUDA caching allocator's settings: what the RunSpec asks, unless the user's environment says otherwise."""

from __future__ import annotations

from loraprof_engine.device import EXPANDABLE_SEGMENTS, configure_allocator


def test_expandable_segments_are_set_for_cuda_runs_and_applied_to_this_process() -> None:
    env: dict[str, str] = {}
    applied: list[str] = []
    out = configure_allocator("expandable", "cuda", env, applied.append)
    assert out == {"settings": EXPANDABLE_SEGMENTS, "source": "runspec"}
    assert env == {"PYTORCH_CUDA_ALLOC_CONF": EXPANDABLE_SEGMENTS}
    assert applied == [EXPANDABLE_SEGMENTS]


def test_a_setting_in_the_environment_wins_and_is_recorded_as_the_users() -> None:
    for name in ("PYTORCH_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF"):
        env = {name: "expandable_segments:False,max_split_size_mb:128"}
        applied: list[str] = []
        out = configure_allocator("expandable", "cuda", env, applied.append)
        assert out == {"settings": "expandable_segments:False,max_split_size_mb:128", "source": "environment"}
        assert env == {name: "expandable_segments:False,max_split_size_mb:128"} and applied == []


def test_the_default_mode_leaves_pytorch_alone() -> None:
    env: dict[str, str] = {}
    applied: list[str] = []
    assert configure_allocator("default", "cuda", env, applied.append) == {
        "settings": None,
        "source": "pytorch-default",
    }
    assert env == {} and applied == []


def test_cpu_runs_touch_nothing() -> None:
    env: dict[str, str] = {}
    applied: list[str] = []
    assert configure_allocator("expandable", "cpu", env, applied.append) == {"settings": None, "source": "cpu"}
    assert env == {} and applied == []
