"""Reading times off a trajectory's saved curves: the step count of a finite-step run,
and the interpolated time at which a metric crosses a level (used to compare a flow
with a finite-step run saved on another grid). Plain numpy on saved results."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .._trajectory import Trajectory


def step_axis(traj: Trajectory) -> np.ndarray:
    """The step count $k$ of each record of a `descend` trajectory.

    **Arguments:** `traj`, a `Trajectory`; for one from `descend`, `stats["lr"]` is its
    time unit.

    **Returns:** an array of shape `(T,)`: $t$ / `stats["lr"]` rounded to integers, or
    `traj.t` itself for a trajectory without a learning rate (gradient flow).
    """
    lr = traj.stats.get("lr")
    t = np.asarray(traj.t)
    return np.rint(t / lr) if lr else t


def crossing_time(traj: Trajectory, quantity: str, level: float, *,
                  steps: bool = False) -> float:
    """The first time (or step) at which a metric reaches `level` (`>=`).

    Unlike `Trajectory.first_time` (the first saved time), this interpolates linearly in
    $\\log t$ between the two saved points around the crossing, so that runs saved on
    different grids (a flow and a finite-step run) can be compared.

    **Arguments:**

    - `traj`: a `Trajectory` (from `integrate` or `descend`).
    - `quantity`: the name of a metric, e.g. `"test_accuracy"`.
    - `level`: the level to reach.
    - `steps`: the step count of `step_axis` instead of $t$.

    **Returns:** the time (or step) as a float: `nan` if the level is never reached, the
    first saved point if it already reaches it.
    """
    x = step_axis(traj) if steps else np.asarray(traj.t, dtype=float)
    v = np.asarray(getattr(traj, quantity), dtype=float)
    hit = np.flatnonzero(v >= level)
    if hit.size == 0:
        return float("nan")
    i = hit[0]
    if i == 0 or x[i - 1] <= 0:
        return float(x[i])
    f = (level - v[i - 1]) / (v[i] - v[i - 1])
    return float(np.exp(np.log(x[i - 1]) + f * (np.log(x[i]) - np.log(x[i - 1]))))
