"""Learning-rate schedules of ``crfkit train`` (a pure function of the step, so resumes need no state)."""

import math

from ..errors import ValidationError

SCHEDULES = ("constant", "cosine")


def lr_factor(step, total, schedule="constant", warmup=0):
    """Multiplier of the base learning rate for optimisation step ``step`` (0-based).

    Parameters
    ----------
    step, total : int
        Current step and the run's total steps.
    schedule : {'constant', 'cosine'}
        ``'cosine'`` decays from 1 to 0 over ``[warmup, total]`` (half a cosine).
    warmup : int
        Steps of linear warm-up from ``1 / warmup`` to 1 (either schedule).

    Returns
    -------
    float
    """
    if schedule not in SCHEDULES:
        raise ValidationError(f"unknown learning-rate schedule {schedule!r}; known: {', '.join(SCHEDULES)}")
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    span = max(total - warmup, 1)
    t = min(max(step - warmup, 0) / span, 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * t))
