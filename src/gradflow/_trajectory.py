"""`Trajectory`: what `integrate` (and the finite-step optimizers) return."""


import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._config import compiled
from ._problem import Problem
from ._results import RESULTS, AbstractResult, IntegrationError  # noqa: F401

jax.config.update("jax_enable_x64", True)


@compiled
@jax.jit
def _metrics(problem: Problem, w, b):
    def one(w_, b_):
        return (
            problem.train_loss(w_, b_),
            problem.train_accuracy(w_, b_),
            problem.test_loss(w_, b_),
            problem.test_accuracy(w_, b_),
        )

    return jax.vmap(one)(w, b)


class Trajectory(AbstractResult):
    r"""A solution of gradient flow (or a finite-step run) at saved physical times.

    **Fields:**

    - `t`: physical times, shape `(T,)`, increasing.
    - `w`: weights, shape `(T, d)`; `b`: bias, shape `(T,)`.
    - `problem`: the `Problem` solved.
    - `result`: a `RESULTS` member; `successful` and `message` tell it in words.
    - `stats`: a dict with the clock, solver, tolerances and step counts used.
    - `clock_t`: the solver's own time at each row ($t$, conformal $\tau$ or log time
      $s = \log(t + t_c)$), or `None` for finite-step runs.

    Metrics (`train_loss`, `train_accuracy`, `test_loss`, `test_accuracy`, shape `(T,)`)
    are computed from `w`, `b` on first access. Rows the solver did not reach are not
    included: after a failure `t[-1]` is the last state reached.
    """

    t: jax.Array
    w: jax.Array
    b: jax.Array
    problem: Problem
    result: RESULTS
    stats: dict = eqx.field(static=True)
    clock_t: jax.Array | None = None

    def _all_metrics(self):
        # Computed once per Trajectory (cached on the instance, outside the pytree), with the
        # rows padded to a power of two so that few lengths are ever compiled.
        cached = self.__dict__.get("_metrics_cache")
        if cached is None:
            rows = self.t.shape[0]
            size = 1 << max(0, rows - 1).bit_length()
            pad = lambda v: jnp.concatenate([v, jnp.repeat(v[-1:], size - rows, axis=0)])
            if rows == 0:
                cached = tuple(np.zeros(0) for _ in range(4))
            else:
                out = _metrics(self.problem, pad(jnp.asarray(self.w)), pad(jnp.asarray(self.b)))
                cached = tuple(np.asarray(m)[:rows] for m in out)
            object.__setattr__(self, "_metrics_cache", cached)
        return cached

    @property
    def train_loss(self) -> np.ndarray:
        """Mean training loss at each saved time."""
        return self._all_metrics()[0]

    @property
    def train_accuracy(self) -> np.ndarray:
        """Training accuracy (fraction of margins $> 0$) at each saved time."""
        return self._all_metrics()[1]

    @property
    def test_loss(self) -> np.ndarray:
        """Test (population or held-out) loss; NaN when the problem defines none."""
        return self._all_metrics()[2]

    @property
    def test_accuracy(self) -> np.ndarray:
        """Test (population or held-out) accuracy; NaN when the problem defines none."""
        return self._all_metrics()[3]

    def first_time(self, quantity: str, level: float, *, above: bool = True) -> float:
        """First saved time at which `quantity` (a metric name) is `>= level` (or `<=`).

        A coarse look-up on the saved grid; returns `nan` if never reached.
        """
        values = getattr(self, quantity)
        hit = values >= level if above else values <= level
        idx = np.flatnonzero(hit)
        return float(self.t[idx[0]]) if idx.size else float("nan")
