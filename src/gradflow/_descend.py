"""Finite-step optimizers beside the flow: `descend`.

`descend` runs an optax optimizer on a `Problem` inside one compiled `jax.lax.scan` and
returns the same `Trajectory` as `integrate`, so every metric, plot and analysis takes
either; `gradflow._compare.compare` measures its distance to the flow (first order in
the learning rate, docs/mathematics.md §3), and `gradflow._optimizer` recognizes plain gradient
descent and its learning rate.

**Recording.** The state is kept only at the record steps $0 = k_0 < k_1 < \\dots <
k_R$ (log-spaced by default). An outer `lax.scan` runs over the record points; its body
is a `lax.while_loop` with the dynamic trip count $k_{j+1} - k_j$. Memory is
$O(R(d+1))$ whatever the number of steps, and the count array is padded with zeros to
a fixed length (at least `DEFAULT_NUM_RECORDS`), so that runs of different lengths and
record counts share the compiled loop.

**Time.** For plain gradient descent $\\theta_{k+1} = \\theta_k - \\eta\\nabla L(\\theta_k)$
the recorded time is $t = k\\eta$, so a GD trajectory overlays the flow (paper Eq. 7 uses
the step count $k$ as its time; docs/mathematics.md §1). optax does not expose an optimizer's
learning rate, so it is *measured*: an optimizer whose first three updates, for random
gradients at the problem's shape, are exactly $-\\eta g$ with one constant $\\eta$
(e.g. `optax.sgd(eta)` without momentum or schedule) is taken as plain GD with learning
rate $\\eta$. Any other optimizer (Adam, momentum, schedules) records $t = k$ unless the
time unit is given as `lr=`.
"""

import math
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._checks import _positive
from ._config import compiled
from ._flow import PhysicalTime
from ._integrate import initial_params
from ._optimizer import (
    _check_optimizer,
    _describe,
    descent_bound,
    optimizer_update,
    plain_gd_rate,
)
from ._problem import Params, Problem, as_problem
from ._trajectory import RESULTS, IntegrationError, Trajectory

jax.config.update("jax_enable_x64", True)

#: Number of log-spaced record steps used when `record` is not given (plus step 0).
DEFAULT_NUM_RECORDS = 200

# Incremented each time `_run` is traced, so tests can check what recompiles.
_TRACE_COUNT = {"run": 0}


# --------------------------------------------------------------------------- helpers


def _negative_gradient(problem: Problem, params: Params) -> Params:
    # The physical-time vector field is exactly -grad L (tests/test_flow.py checks it
    # against jax.grad); it is cheaper than autodiff through the logsumexp loss.
    return PhysicalTime().vector_field(0.0, params, problem)


def _gradient(problem: Problem, params: Params) -> Params:
    return jax.tree.map(jnp.negative, _negative_gradient(problem, params))


def _update(optimizer, problem: Problem, params: Params, state):
    grads = _gradient(problem, params)
    updates, state = optimizer_update(optimizer, problem, grads, state, params)
    return optax.apply_updates(params, updates), state


def _is_finite(params: Params):
    return jnp.all(jnp.isfinite(params.w)) & jnp.isfinite(params.b)


def _where(pred, new, old):
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)


@compiled
@eqx.filter_jit
def _run(optimizer, problem: Problem, y0: Params, counts, lr):
    """Run `sum(counts)` steps; record the state after each chunk of `counts[j]` steps.

    `optimizer=None` means `optax.sgd(lr)` with `lr` traced, so that plain GD given as a
    number compiles once for every learning rate. Returns the records `(w, b)` (shape
    `(len(counts), ...)`), the number of steps done before each record, the step whose
    parameters were non-finite (`-1` if none), and the last finite parameters with their
    step.
    """
    _TRACE_COUNT["run"] += 1
    if optimizer is None:
        optimizer = optax.sgd(lr)
    state0 = optimizer.init(y0)

    def one_step(carry):
        params, state, k, diverged_at = carry
        new_params, new_state = _update(optimizer, problem, params, state)
        ok = _is_finite(new_params) & (diverged_at < 0)
        params = _where(ok, new_params, params)
        state = _where(ok, new_state, state)
        diverged_at = jnp.where((diverged_at < 0) & ~ok, k + 1, diverged_at)
        return params, state, k + ok.astype(k.dtype), diverged_at

    def many_steps(carry, count):
        # A while loop with a dynamic trip count: one compiled body for any chunk length,
        # and it stops at once after a divergence. (Unrolling it was measured slower.)
        _, carry = jax.lax.while_loop(
            lambda c: (c[0] < count) & (c[1][3] < 0),
            lambda c: (c[0] + 1, one_step(c[1])),
            (jnp.asarray(0, dtype=count.dtype), carry),
        )
        params, _, k, _ = carry
        return carry, (params.w, params.b, k)

    carry0 = (y0, state0, jnp.asarray(0), jnp.asarray(-1))
    (params, _, k, diverged_at), (ws, bs, ks) = jax.lax.scan(many_steps, carry0, counts)
    return ws, bs, ks, diverged_at, params, k


def record_steps(steps: int, num: int = DEFAULT_NUM_RECORDS) -> np.ndarray:
    """Step 0 and up to `num` distinct log-spaced integer steps from 1 to `steps`.

    **Arguments:** `steps >= 1`; `num >= 1`.

    **Returns:** a strictly increasing `int64` array starting at 0 and ending at `steps`.
    """
    k = np.unique(np.rint(np.geomspace(1, steps, max(num, 2))).astype(np.int64))
    if num == 1:
        k = k[-1:]
    return np.concatenate([[0], k])


def _check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer | float):
        raise ValueError(f"`steps` must be a positive integer; got {steps!r}.")
    if isinstance(steps, float) and not (math.isfinite(steps) and steps == int(steps)):
        raise ValueError(f"`steps` must be a positive integer; got {steps!r}.")
    if steps <= 0:
        raise ValueError(f"`steps` must be a positive integer; got {steps!r}.")
    if steps >= 2**62:
        raise ValueError(f"`steps` must be below 2**62; got {steps!r}.")
    return int(steps)


def _padded_length(num: int) -> int:
    """At least `DEFAULT_NUM_RECORDS`, else the next power of two: few distinct shapes."""
    return max(DEFAULT_NUM_RECORDS, 1 << max(num - 1, 0).bit_length())


def _check_record(record, steps: int) -> np.ndarray:
    """The record steps: starting at 0, ending at `steps`, strictly increasing."""
    if isinstance(record, bool):
        raise ValueError(
            f"`record` must be a positive integer or an array of steps; got {record!r}."
        )
    if isinstance(record, int | np.integer):
        if record <= 0:
            raise ValueError(f"`record` must be a positive number of records; got {record!r}.")
        return record_steps(steps, int(record))
    ks = np.asarray(record)
    if ks.ndim != 1 or ks.size == 0 or not np.issubdtype(ks.dtype, np.integer):
        raise ValueError(
            "`record` must be a positive integer or a 1-D integer array of steps; got "
            f"{record!r}."
        )
    if ks[0] < 0 or ks[-1] > steps or np.any(np.diff(ks) <= 0):
        raise ValueError(
            f"`record` steps must be strictly increasing integers in [0, steps={steps}]; "
            f"got {ks[:3].tolist()}...{ks[-3:].tolist()}."
        )
    ks = ks.astype(np.int64)
    if ks[0] != 0:
        ks = np.concatenate([[0], ks])
    if ks[-1] != steps:
        ks = np.append(ks, steps)
    return ks


# --------------------------------------------------------------------------- descend


def descend(
    problem: Problem,
    optimizer,
    steps: int,
    *,
    record=DEFAULT_NUM_RECORDS,
    y0=None,
    lr: float | None = None,
    throw: bool = True,
) -> Trajectory:
    """Run an optax optimizer for `steps` steps and record the state at log-spaced steps.

    The whole run is one compiled `jax.lax.scan` over the record points (each a
    `lax.while_loop` over the steps between two records), so memory depends on the
    number of records, not on `steps` ($10^7$ steps record 201 states).

    **Arguments:**

    - `problem`: a `Problem`; the gradient is that of its mean training loss (full batch).
    - `optimizer`: any `optax.GradientTransformation` (`optax.sgd(lr)`, `optax.adam(lr)`,
      chains, ...), or a positive number $\\eta$, short for `optax.sgd(eta)` (same
      arithmetic) that compiles once for all learning rates. Optimizers that read the
      loss by keyword (`optax.lbfgs`) receive `value`, `grad` and `value_fn`.
    - `steps`: number of optimizer steps, a positive integer.
    - `record`: the number of log-spaced record steps (default 200, plus step 0; fewer
      when `steps` is small, as steps are distinct integers), or an increasing integer
      array of steps in `[0, steps]`. Steps 0 and `steps` are always recorded.
    - `y0`: initial `Params(w, b)` or `(w, b)`; default $w = 0$, $b = 0$. The optimizer's
      state starts from `optimizer.init(y0)`.
    - `lr`: the time per step, $t = k\\cdot$`lr`. Default: the learning rate when the
      optimizer is plain gradient descent (a number, or any optimizer whose updates are
      $-\\eta g$, see `plain_gd_rate`), so the trajectory overlays the flow at
      $t = k\\eta$; otherwise $1$ ($t$ is the step count).
    - `throw`: if true (default, as `integrate`), divergence raises `IntegrationError`
      with the partial trajectory on its `.trajectory`; if false, the partial trajectory
      is returned with `result = RESULTS.diverged`.

    **Returns:** a `Trajectory` with times $t = k\\cdot$`lr` at the record steps $k$.
    `stats` holds `optimizer` (a description), `steps`, `lr` (the time unit, `None`
    when it is the step count), `plain_gd` (whether plain GD was recognized),
    `num_records`, and `diverged_at`: the first step $k$ whose parameters
    $\\theta_k$ were non-finite, or `None`. After a divergence the trajectory keeps the
    records before it and ends with the last finite state $\\theta_{k-1}$.

    **Warns:** `UserWarning`, once per call, when plain GD on the logistic loss uses a
    learning rate above the descent bound $8/\\lambda_{max}$ (`descent_bound`,
    docs/mathematics.md §3): the loss may then increase. The logistic gradient is bounded, so such a
    run does not become non-finite (its parameters grow at most linearly in $k$), so
    the warning is its only report; the exponential loss has no global bound (no
    warning) and diverges to `inf` when the step is too large for the current state.

    **Raises:** `ValueError` for a bad argument (naming it); `IntegrationError` on
    divergence when `throw=True`.

    Compiled once per problem shape and optimizer instance (and once more per doubling of
    the number of records beyond 200): new data, `y0`, `steps` or `record` reuse the
    loop, and so does a new learning rate given as a number (optax closures compare by
    identity, so each new `optax.sgd(lr)` object compiles anew). Cannot itself be
    jitted (it validates and probes on the host).
    """
    problem = as_problem(problem)
    steps = _check_steps(steps)
    optimizer, number_lr = _check_optimizer(optimizer)
    ks = _check_record(record, steps)
    y0 = initial_params(problem, y0)
    if lr is not None:
        _positive("lr", lr)
    gd_rate = number_lr if optimizer is None else plain_gd_rate(optimizer, problem, y0)
    time_unit = float(lr) if lr is not None else gd_rate
    # only a loss of bounded curvature has a global step bound (logistic: l'' <= 1/4)
    if gd_rate is not None and math.isfinite(problem.loss.max_curvature):
        bound = descent_bound(problem)
        if gd_rate > bound:
            warnings.warn(
                f"Plain gradient descent with learning rate {gd_rate:.6g} is above the "
                f"logistic descent bound 8/lambda_max = {bound:.6g} "
                "(docs/mathematics.md §3); the loss "
                "may increase and the run need not follow gradient flow. Use a smaller "
                "learning rate.",
                UserWarning,
                stacklevel=2,
            )

    counts = np.zeros(_padded_length(ks.size - 1), dtype=np.int64)
    counts[: ks.size - 1] = np.diff(ks)
    ws, bs, _, diverged_at, params_last, k_last = _run(
        optimizer, problem, y0, jnp.asarray(counts), jnp.asarray(number_lr or 0.0)
    )
    ws = np.concatenate([np.asarray(y0.w)[None], np.asarray(ws)[: ks.size - 1]])
    bs = np.concatenate([[float(y0.b)], np.asarray(bs)[: ks.size - 1]])
    diverged_at = int(diverged_at)
    if diverged_at >= 0:
        keep = ks < diverged_at
        ks_out, ws, bs = ks[keep], ws[keep], bs[keep]
        k_last = int(k_last)  # = diverged_at - 1, the last finite state
        if k_last > ks_out[-1]:
            ks_out = np.append(ks_out, k_last)
            ws = np.vstack([ws, np.asarray(params_last.w)[None]])
            bs = np.append(bs, float(params_last.b))
        result = RESULTS.diverged
    else:
        ks_out = ks
        result = RESULTS.successful
    t = ks_out * (time_unit if time_unit is not None else 1.0)
    stats = dict(
        optimizer=_describe(optimizer, gd_rate),
        steps=steps,
        lr=time_unit,
        plain_gd=gd_rate is not None,
        num_records=int(ks_out.size),
        diverged_at=diverged_at if diverged_at >= 0 else None,
    )
    traj = Trajectory(
        jnp.asarray(t, dtype=jnp.float64), jnp.asarray(ws), jnp.asarray(bs), problem,
        result, stats,
    )
    if throw and diverged_at >= 0:
        raise IntegrationError(
            f"descend diverged at step {diverged_at} of {steps} (t = "
            f"{diverged_at * (time_unit or 1.0):.6g}): {traj.message} (The partial "
            "trajectory is on this exception's `.trajectory`; pass throw=False to get it "
            "returned.)",
            traj,
        )
    return traj
