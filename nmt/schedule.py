"""Learning-rate schedules: the rate of every update as a function of the loop's position.

The rate is computed from what the checkpoint already holds (the update
number, the training time spent, the number of halvings so far), never from
a counter of its own, so a resumed run continues its schedule exactly where it
stopped, in the middle of the warmup included.

With ``peak = train.learning_rate``, ``w = train.warmup_steps`` and ``s`` the
1-based number of the update about to be applied:

    warmup (all schedules, when w > 0)   s <= w:  peak * s / w
    constant                                      peak
    rsqrt     inverse square root        s > w:   peak * sqrt(w / s)
    cosine    cosine to the budget's end s > w:   floor + (peak - floor) * (1 + cos(pi * p)) / 2
    plateau   halving on dev BLEU        s > w:   max(floor, peak * 0.5 ** halvings)

where ``floor = train.min_learning_rate`` and ``p`` in [0, 1] is how much of the
budget after the warmup is used: the larger of the step share (of
``max_steps`` or ``max_epochs``) and the time share (of ``max_minutes``).
The plateau schedule halves the rate each time ``train.plateau_patience``
validations in a row have not improved dev BLEU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCHEDULES = ("constant", "rsqrt", "cosine", "plateau")


@dataclass(frozen=True)
class Budget:
    """Where the loop stands and where it ends, as the cosine schedule needs it."""

    total_steps: int                # the step budget: max_steps, or max_epochs * batches per epoch
    max_seconds: float | None = None  # the time budget (train.max_minutes), if any


def budget_share(step: int, elapsed_seconds: float, warmup_steps: int, budget: Budget) -> float:
    """How much of the budget after the warmup is used, from 0 to 1 (steps or time, whichever
    runs out first)."""
    after = max(budget.total_steps - warmup_steps, 1)
    share = (step - warmup_steps) / after
    if budget.max_seconds:
        share = max(share, elapsed_seconds / budget.max_seconds)
    return min(max(share, 0.0), 1.0)


def learning_rate(schedule: str, peak: float, step: int, *, warmup_steps: int = 0,
                  min_rate: float = 0.0, halvings: int = 0, elapsed_seconds: float = 0.0,
                  budget: Budget | None = None) -> float:
    """The rate of the 1-based update ``step`` (see the module docstring for the formulas)."""
    step = max(step, 1)
    if step <= warmup_steps:
        return peak * step / warmup_steps
    if schedule == "constant":
        return peak
    if schedule == "rsqrt":
        return peak * math.sqrt(max(warmup_steps, 1) / step)
    if schedule == "cosine":
        share = budget_share(step, elapsed_seconds, warmup_steps, budget or Budget(step))
        return min_rate + (peak - min_rate) * (1 + math.cos(math.pi * share)) / 2
    if schedule == "plateau":
        return max(min_rate, peak * 0.5 ** halvings)
    raise ValueError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
