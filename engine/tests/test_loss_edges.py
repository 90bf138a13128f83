"""lossFirst / lossLast of a short run never compare a window with itself."""

from __future__ import annotations

from loraprof_engine.recipe import loss_edges


def test_the_two_windows_never_overlap_on_a_short_run() -> None:
    # 5 steps: the first 2 against the last 2 (not all 5 against all 5).
    assert loss_edges([5.0, 4.0, 3.0, 2.0, 1.0]) == (4.5, 1.5)


def test_a_long_run_averages_five_steps_at_each_end() -> None:
    losses = [float(i) for i in range(20)]
    assert loss_edges(losses) == (2.0, 17.0)


def test_under_two_steps_there_is_nothing_to_compare() -> None:
    assert loss_edges([3.0]) == (None, None)
    assert loss_edges([]) == (None, None)
