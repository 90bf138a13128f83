"""The process-wide device settings (the CUDA caching allocator: what the RunSpec asks, unless the user's
environment says otherwise; SDPA's cuDNN attention) and the host-speed probe stored with each run."""

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


def test_cudnn_attention_is_switched_for_the_process_on_cuda_only() -> None:
    import torch

    from loraprof_engine.device import configure_cudnn_attention

    before = torch.backends.cuda.cudnn_sdp_enabled()
    try:
        assert configure_cudnn_attention(False, torch.device("cpu")) is None
        assert torch.backends.cuda.cudnn_sdp_enabled() == before
        note = configure_cudnn_attention(False, torch.device("cuda"))
        assert note is not None and "without cuDNN attention" in note
        assert torch.backends.cuda.cudnn_sdp_enabled() is False
        assert configure_cudnn_attention(True, torch.device("cuda")) is None
        assert torch.backends.cuda.cudnn_sdp_enabled() is True
    finally:
        torch.backends.cuda.enable_cudnn_sdp(before)


def test_host_op_seconds_measures_a_small_positive_dispatch_time() -> None:
    from loraprof_engine.device import host_op_seconds

    seconds = host_op_seconds(ops=200, reps=3)
    assert 1e-8 < seconds < 1e-2  # a one-element add: nanoseconds at the least, never milliseconds
