"""Learning-rate schedules that torch does not ship under the official recipes' names.

Each is a factory `f(optimizer, ...) -> LRScheduler`, used from configs as a `_partial_`.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def exponential_decay(optimizer: Optimizer, rate: float, decay_steps: int) -> LambdaLR:
    """TensorFlow's non-staircase `exponential_decay`: lr = base · rate^(step / decay_steps)."""
    return LambdaLR(optimizer, lambda step: rate ** (step / decay_steps))


def warmup_cosine(optimizer: Optimizer, warmup_steps: int, total_steps: int | None, min_lr: float = 0.0) -> LambdaLR:
    """Linear warm-up to the base lr, then cosine annealing to `min_lr` at `total_steps`. `total_steps` None:
    `lle.modules.EnhancementModule` passes the run's number of optimiser steps (so the cosine follows
    trainer.max_epochs and the epoch's length); called directly it must be a number."""
    if total_steps is None:
        raise ValueError("warmup_cosine needs total_steps (None is filled in only by EnhancementModule)")
    base_lrs = [group["lr"] for group in optimizer.param_groups]

    def factor_for(base_lr: float):
        floor = min_lr / base_lr if base_lr > 0 else 0.0

        def factor(step: int) -> float:
            if step < warmup_steps:
                return (step + 1) / warmup_steps
            progress = min((step - warmup_steps) / max(total_steps - warmup_steps, 1), 1.0)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        return factor

    return LambdaLR(optimizer, [factor_for(lr) for lr in base_lrs])


def step_factors(optimizer: Optimizer, milestones: list[int], factors: list[float]) -> LambdaLR:
    """lr = base · factors[i] from step/epoch milestones[i] on (several decays with their own factors,
    which MultiStepLR's single gamma cannot express; e.g. ALEN's ÷10, ÷50, ÷100)."""
    if len(milestones) != len(factors) or list(milestones) != sorted(milestones):
        raise ValueError(f"step_factors needs increasing milestones and one factor each, got {milestones}, {factors}")
    milestones, factors = [int(m) for m in milestones], [float(f) for f in factors]

    def factor(step: int) -> float:
        current = 1.0
        for milestone, value in zip(milestones, factors):
            if step >= milestone:
                current = value
        return current

    return LambdaLR(optimizer, factor)


def cosine_restarts(
    optimizer: Optimizer, periods: list[int], restart_weights: list[float], eta_mins: list[float]
) -> LambdaLR:
    """BasicSR's `CosineAnnealingRestartCyclicLR`: cycle i (of `periods[i]` steps) runs a cosine from
    eta_mins[i] + restart_weights[i]·(base − eta_mins[i]) to eta_mins[i]:

        lr(t) = η_i + w_i · ½ (base − η_i) · (1 + cos(π (t − c_{i−1}) / p_i)),  i the first cycle with t ≤ c_i

    where c_i = p_0 + … + p_i (c_{−1} = 0): t = c_i still belongs to cycle i (its end, η_i), t = c_i + 1 restarts.
    An η_i above the base lr makes the cycle a cosine *rise* (Retinexformer's first cycle, 2e-4 → 3e-4). Step t is
    the official scheduler's `last_epoch`, i.e. BasicSR's iteration t + 1. Past the last cycle, where the official
    class fails, the lr stays at the last η."""
    if not (len(periods) == len(restart_weights) == len(eta_mins)) or min(periods, default=0) <= 0:
        raise ValueError(
            f"cosine_restarts needs positive periods and one restart weight and eta_min each, got {periods}, "
            f"{restart_weights}, {eta_mins}"
        )
    periods, weights, eta_mins = [int(p) for p in periods], [float(w) for w in restart_weights], list(eta_mins)
    ends = [sum(periods[: i + 1]) for i in range(len(periods))]
    base_lrs = [group["lr"] for group in optimizer.param_groups]

    def factor_for(base_lr: float):
        def factor(step: int) -> float:
            i = next((i for i, end in enumerate(ends) if step <= end), len(ends) - 1)
            progress = min((step - (ends[i - 1] if i else 0)) / periods[i], 1.0)
            eta = float(eta_mins[i])
            lr = eta + weights[i] * 0.5 * (base_lr - eta) * (1 + math.cos(math.pi * progress))
            return lr / base_lr if base_lr > 0 else 0.0

        return factor

    return LambdaLR(optimizer, [factor_for(lr) for lr in base_lrs])
