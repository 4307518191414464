"""`compare`: the distance between two trajectories at the times they share (gradient
descent from `descend` against gradient flow from `integrate`: first order in the
learning rate, docs/mathematics.md §3).
"""

import math

import equinox as eqx
import numpy as np

from ._trajectory import Trajectory


class Comparison(eqx.Module):
    """Distances between two trajectories at their shared times (see `compare`).

    **Fields** (each a numpy array of shape `(T,)`, one entry per shared time):

    - `t`: the shared physical times (those of the first trajectory).
    - `w`: $\\lVert w_1 - w_2\\rVert$; `b`: $|b_1 - b_2|$;
      `params`: $\\lVert\\theta_1 - \\theta_2\\rVert$ with $\\theta = (w, b)$.
    - `train_loss`, `train_accuracy`, `test_loss`, `test_accuracy`: absolute differences
      of the metrics (`nan` where a problem defines no test metric).
    """

    t: np.ndarray
    w: np.ndarray
    b: np.ndarray
    params: np.ndarray
    train_loss: np.ndarray
    train_accuracy: np.ndarray
    test_loss: np.ndarray
    test_accuracy: np.ndarray

    _FIELDS = ("w", "b", "params", "train_loss", "train_accuracy", "test_loss", "test_accuracy")

    def at(self, t: float) -> dict[str, float]:
        """All distances at the shared time equal to `t` (to a relative `1e-9`).

        **Raises:** `ValueError` if `t` is not one of the shared times.
        """
        t = float(t)
        idx = np.flatnonzero(np.abs(self.t - t) <= 1e-9 * max(1.0, abs(t)))
        if idx.size == 0:
            near = self.t[np.argmin(np.abs(self.t - t))] if self.t.size else float("nan")
            raise ValueError(f"`t` = {t!r} is not a shared time; the nearest is {near!r}.")
        return {name: float(getattr(self, name)[idx[0]]) for name in self._FIELDS}

    def max(self) -> dict[str, float]:
        """The largest distance over the shared times, for each field."""
        return {name: float(np.nanmax(getattr(self, name))) for name in self._FIELDS}


def compare(flow: Trajectory, other: Trajectory, *, rtol: float = 1e-9) -> Comparison:
    """Distance between two trajectories at the times they share.

    Typically `flow` comes from `integrate` and `other` from `descend`; for GD the error
    at fixed $t$ is $O(\\eta)$ (docs/mathematics.md §3). No interpolation is done,
    so its error never mixes in: solve the flow at the optimizer's record times, e.g.
    `integrate(problem, gd.t[-1], saveat=gd.t)`.

    **Arguments:**

    - `flow`, `other`: `Trajectory`s of problems with the same dimension $d$ (the metrics
      of each come from its own problem).
    - `rtol`: two times are shared when they differ by at most
      `rtol * max(1, |t|)` (default `1e-9`; GD times are $k\\eta$ in floating point).

    **Returns:** a `Comparison`, ordered by time.

    **Raises:** `ValueError` if an argument is not a `Trajectory`, the dimensions differ,
    or no time is shared (the message says how to get shared times).
    """
    for name, tr in (("flow", flow), ("other", other)):
        if not isinstance(tr, Trajectory):
            raise ValueError(f"`{name}` must be a gradflow.Trajectory; got {type(tr).__name__}.")
    rtol = float(rtol)
    if not (math.isfinite(rtol) and rtol >= 0):
        raise ValueError(f"`rtol` must be >= 0 and finite; got {rtol!r}.")
    if flow.w.shape[1:] != other.w.shape[1:]:
        raise ValueError(
            f"The trajectories have different dimensions: `flow` d = {flow.w.shape[1:]}, "
            f"`other` d = {other.w.shape[1:]}."
        )
    t1, t2 = np.asarray(flow.t), np.asarray(other.t)
    j = np.clip(np.searchsorted(t2, t1), 1, max(t2.size - 1, 1))
    cand = np.stack([j - 1, np.minimum(j, t2.size - 1)])
    best = cand[np.argmin(np.abs(t2[cand] - t1), axis=0), np.arange(t1.size)]
    hit = np.abs(t2[best] - t1) <= rtol * np.maximum(1.0, np.abs(t1))
    i1, i2 = np.flatnonzero(hit), best[hit]
    if i1.size == 0:
        raise ValueError(
            "The trajectories share no time. Solve the flow at the other's times, e.g. "
            "`integrate(problem, other.t[-1], saveat=other.t)`."
        )
    dw = np.linalg.norm(np.asarray(flow.w)[i1] - np.asarray(other.w)[i2], axis=1)
    db = np.abs(np.asarray(flow.b)[i1] - np.asarray(other.b)[i2])
    m1 = [np.asarray(m)[i1] for m in flow._all_metrics()]
    m2 = [np.asarray(m)[i2] for m in other._all_metrics()]
    diffs = [np.abs(a - b) for a, b in zip(m1, m2, strict=True)]
    return Comparison(t1[i1], dw, db, np.hypot(dw, db), *diffs)
