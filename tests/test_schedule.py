"""Learning-rate schedules equal their formulas; the stall guard fires on a stalling run only."""

from __future__ import annotations

import math
import re

import pytest
from helpers import run_cli, save_config, tiny_config

from nmt.config import load_config
from nmt.errors import NmtError
from nmt.schedule import Budget, learning_rate


def test_warmup_is_linear_and_shared_by_every_schedule():
    for schedule in ("constant", "rsqrt", "cosine", "plateau"):
        rates = [learning_rate(schedule, 0.002, step, warmup_steps=100, budget=Budget(1000))
                 for step in (1, 50, 100)]
        assert rates == pytest.approx([0.00002, 0.001, 0.002]), schedule


def test_constant_and_rsqrt_after_the_warmup():
    assert learning_rate("constant", 0.003, 5000, warmup_steps=100) == 0.003
    assert learning_rate("constant", 0.003, 1) == 0.003
    assert learning_rate("rsqrt", 0.002, 400, warmup_steps=100) == pytest.approx(0.001)
    assert learning_rate("rsqrt", 0.002, 10_000, warmup_steps=100) == pytest.approx(0.0002)


def test_cosine_decays_to_the_floor_at_the_end_of_the_step_budget():
    budget = Budget(total_steps=1100)
    at = {step: learning_rate("cosine", 0.002, step, warmup_steps=100, min_rate=0.0002, budget=budget)
          for step in (101, 350, 600, 1100, 1500)}
    assert at[101] == pytest.approx(0.0002 + 0.0018 * (1 + math.cos(math.pi / 1000)) / 2)
    assert at[350] == pytest.approx(0.0002 + 0.0018 * (1 + math.cos(math.pi / 4)) / 2)
    assert at[600] == pytest.approx(0.0011)
    assert at[1100] == pytest.approx(0.0002) and at[1500] == pytest.approx(0.0002)


def test_cosine_follows_the_time_budget_when_it_runs_out_first():
    budget = Budget(total_steps=1_000_000, max_seconds=600.0)
    half_time = learning_rate("cosine", 0.002, 200, warmup_steps=100, elapsed_seconds=300.0,
                              budget=budget)
    assert half_time == pytest.approx(0.001)
    assert learning_rate("cosine", 0.002, 200, warmup_steps=100, elapsed_seconds=600.0,
                         budget=budget) == pytest.approx(0.0)


def test_plateau_halves_per_halving_down_to_the_floor():
    assert learning_rate("plateau", 0.004, 500, halvings=0) == 0.004
    assert learning_rate("plateau", 0.004, 500, halvings=3) == pytest.approx(0.0005)
    assert learning_rate("plateau", 0.004, 500, halvings=10, min_rate=0.0001) == 0.0001


def test_inconsistent_schedule_keys_are_one_line_errors(tmp_path):
    path = save_config(tmp_path, tiny_config(tmp_path))
    with pytest.raises(NmtError) as error:
        load_config(path, ["train.schedule=rsqrt"])
    assert str(error.value) == (
        f"{path} (with overrides): train.schedule: rsqrt needs train.warmup_steps of at least 1 "
        f"(the rate after the warmup is learning_rate * sqrt(warmup_steps / step))")
    with pytest.raises(NmtError, match=r"train.min_learning_rate \(0.1\) must not exceed "
                                       r"train.learning_rate \(0.01\)"):
        load_config(path, ["train.learning_rate=0.01", "train.min_learning_rate=0.1"])
    with pytest.raises(NmtError, match="train.schedule: expected one of constant, rsqrt, cosine, plateau"):
        load_config(path, ["train.schedule=linear"])


def progress(stderr: str) -> dict[int, tuple[str, str]]:
    """{step: (loss, learning rate)} from the progress lines."""
    return {int(step): (loss, rate) for step, loss, rate in
            re.findall(r"step (\d+)/\d+ \| loss ([\d.]+) \| lr ([\d.e+-]+) \|", stderr)}


@pytest.mark.slow
def test_progress_line_shows_the_scheduled_rate(tmp_path):
    config = tiny_config(tmp_path, train={"schedule": "rsqrt", "warmup_steps": 4, "learning_rate": 0.004,
                                          "max_steps": 16, "log_every": 1})
    result = run_cli("train", "--config", str(save_config(tmp_path, config)))
    assert result.returncode == 0, result.stderr
    rates = {step: float(rate) for step, (_, rate) in progress(result.stderr).items()}
    assert rates[1] == pytest.approx(0.001) and rates[4] == pytest.approx(0.004)
    assert rates[16] == pytest.approx(0.002)


STALL = "is not clearly below the target side's unigram entropy"


def stall_config(tmp_path, learning_rate: float, **train) -> dict:
    return tiny_config(tmp_path, train={"learning_rate": learning_rate, "max_steps": 120,
                                        "max_epochs": 100, "stall_steps": 100, "log_every": 20,
                                        "checkpoint_every": 1000, "validate_every": 1000, **train})


@pytest.mark.slow
def test_stall_guard_warns_once_on_a_stalling_run_and_goes_on(tmp_path):
    result = run_cli("train", "--config", str(save_config(tmp_path, stall_config(tmp_path, 1.0))))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if STALL in line]
    assert len(warnings) == 1, result.stderr
    assert re.fullmatch(r"warning: training loss [\d.]+ at step 100 is not clearly below the target "
                        r"side's unigram entropy \([\d.]+\): the model has not learned to use the "
                        r"source\. Likely fix: lower train.learning_rate \(now 1\) or warm it up "
                        r"\(train.warmup_steps\) \(train.on_stall=warn\)", warnings[0])
    assert "step 120/" in result.stderr


@pytest.mark.slow
def test_stall_guard_stops_when_asked_and_keeps_a_checkpoint(tmp_path):
    config = stall_config(tmp_path, 1.0, on_stall="stop")
    result = run_cli("train", "--config", str(save_config(tmp_path, config)))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert STALL in last and last.endswith("stopped (train.on_stall=stop), checkpoint saved in "
                                           f"{tmp_path / 'runs' / 'tiny' / 'checkpoints'}")
    assert (tmp_path / "runs" / "tiny" / "checkpoints" / "ckpt-100.index").exists()


@pytest.mark.slow
def test_stall_guard_is_silent_on_a_learning_run(tmp_path):
    result = run_cli("train", "--config", str(save_config(tmp_path, stall_config(tmp_path, 0.01))))
    assert result.returncode == 0, result.stderr
    assert STALL not in result.stderr
