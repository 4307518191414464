"""What an optimizer is, as `descend` needs to know: plain gradient descent or not, its
learning rate (the time per step), a short description, and the descent bound.

optax does not expose an optimizer's learning rate, so it is *measured*: an optimizer
whose first three updates, for random gradients at the problem's shape, are exactly
$-\\eta g$ with one constant $\\eta$ (e.g. `optax.sgd(eta)` without momentum or schedule)
is taken as plain GD with learning rate $\\eta$.
"""

import math

import jax.numpy as jnp
import numpy as np
import optax

from ._integrate import initial_params
from ._problem import Params, Problem

#: Number of probe updates used to recognize plain gradient descent.
_PROBE_STEPS = 3


def optimizer_update(optimizer, problem: Problem, grads: Params, state, params: Params):
    """`optimizer.update` with what line-search optimizers (optax.lbfgs, ...) read by name
    (the loss, its value and gradient); others ignore it, and XLA removes the unused loss
    evaluation."""
    if isinstance(optimizer, optax.GradientTransformationExtraArgs):
        loss_fn = _loss_fn(problem)
        return optimizer.update(
            grads, state, params, value=loss_fn(params), grad=grads, value_fn=loss_fn
        )
    return optimizer.update(grads, state, params)


def _loss_fn(problem: Problem):
    """The mean training loss as a function of `Params`, for optimizers that read it
    (optax's extra arguments)."""
    return lambda params: problem.train_loss(params.w, params.b)


def _check_optimizer(optimizer) -> tuple[optax.GradientTransformation | None, float | None]:
    """`(optimizer, None)` for an optax transformation, `(None, lr)` for a number."""
    if isinstance(optimizer, optax.GradientTransformation):
        return optimizer, None
    if isinstance(optimizer, bool) or not isinstance(optimizer, int | float | np.floating):
        raise ValueError(
            "`optimizer` must be an optax.GradientTransformation (e.g. optax.sgd(lr), "
            f"optax.adam(lr)) or a positive learning rate; got {optimizer!r}."
        )
    lr = float(optimizer)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"`optimizer` as a learning rate must be positive; got {optimizer!r}.")
    return None, lr


def plain_gd_rate(optimizer, problem: Problem, y0: Params | None = None) -> float | None:
    """The learning rate $\\eta$ if `optimizer` acts as plain gradient descent, else `None`.

    Applies `optimizer` for three steps to random gradients of the problem's shape
    (eagerly, on the host) and checks that every update is exactly $-\\eta g$ with one
    constant $\\eta > 0$ (to a relative `1e-12`). `optax.sgd(eta)` passes; momentum,
    Nesterov, Adam and learning-rate schedules that change within three steps do not.

    **Arguments:** `optimizer` an `optax.GradientTransformation`; `problem` a `Problem`;
    `y0` the parameters to probe at (default zeros).

    **Returns:** $\\eta$ as a float, or `None`.

    **Raises:** `ValueError` naming `optimizer` if it fails on these gradients (its
    error chained): such an optimizer would fail in `descend` too, and returning `None`
    would silently record the step count as time.
    """
    params = initial_params(problem, y0)
    rng = np.random.default_rng(12345)
    try:
        state = optimizer.init(params)
        rate = None
        for _ in range(_PROBE_STEPS):
            g = Params(
                jnp.asarray(rng.uniform(0.5, 2.0, problem.d) * rng.choice([-1, 1], problem.d)),
                jnp.asarray(rng.uniform(0.5, 2.0)),
            )
            upd, state = optimizer_update(optimizer, problem, g, state, params)
            gv = np.append(np.asarray(g.w), float(g.b))
            uv = np.append(np.asarray(upd.w), float(upd.b))
            if not problem.fit_bias:  # the bias gradient is 0 in real runs
                gv, uv = gv[:-1], uv[:-1]
            ratio = -uv / gv
            eta = float(ratio[0])
            if not (np.all(np.isfinite(ratio)) and eta > 0):
                return None
            if np.max(np.abs(ratio - eta)) > 1e-12 * eta:
                return None
            if rate is not None and abs(eta - rate) > 1e-12 * rate:
                return None
            rate = eta
            params = optax.apply_updates(params, upd)
        return rate
    except Exception as err:  # any failure of the user's optimizer, reported as such
        raise ValueError(
            f"`optimizer` failed when applied to gradients of the problem's shape (d = "
            f"{problem.d}), to check whether it is plain gradient descent: "
            f"{type(err).__name__}: {err}"
        ) from err


def descent_bound(problem: Problem) -> float:
    """The logistic descent bound $8/\\lambda_{max}$ of gradient descent (docs/mathematics.md §3).

    For the logistic loss the Hessian of $L$ is at most $\\frac14\\frac1n\\sum_i\\hat x_i\\hat
    x_i^T$ with $\\hat x_i = (y_ix_i, a_i)$ (the bias column dropped without a bias), so
    GD with $\\eta$ below this bound decreases the loss at every step. The exponential loss
    has no global bound (its Hessian grows like $e^{-b}$).

    **Arguments:** `problem`, a `Problem`.

    **Returns:** the bound as a float (computed on the host, exact eigenvalue).
    """
    xh = np.asarray(problem.z)
    if problem.fit_bias:
        xh = np.column_stack([xh, np.asarray(problem.a)])
    n = xh.shape[0]
    gram = xh @ xh.T if xh.shape[0] < xh.shape[1] else xh.T @ xh
    lam_max = float(np.linalg.eigvalsh(gram)[-1]) / n
    return 8.0 / lam_max


def _describe(optimizer, lr: float | None) -> str:
    """A short description for `stats`, e.g. `'plain GD (lr=0.1)'` or
    `'chain(scale_by_adam, scale_by_learning_rate)'` (read from optax's closure names)."""
    if lr is not None:
        return f"plain GD (lr={lr!r})"

    def names(init) -> list[str]:
        base = (getattr(init, "__qualname__", "") or "").split(".<locals>")[0]
        if base == "chain":
            try:
                return [m for i in init.__closure__[0].cell_contents for m in names(i)]
            except (AttributeError, IndexError, TypeError):
                return []
        return [] if base in ("", "init_empty_state") else [base]

    found = names(getattr(optimizer, "init", None))
    return f"optax: {', '.join(found)}" if found else f"optax {type(optimizer).__name__}"
