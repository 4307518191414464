"""Grokking times measured on the flow (docs/mathematics.md §10).

`grokking_time` integrates gradient flow in log time $s = \\log(1+t)$ (docs/mathematics.md §5), with
conformal time $\\tau$ carried along ($d\\tau/ds = e^{-\\beta}$, $\\beta = b - s$), and
locates each threshold crossing with a `diffrax.Event` whose condition is a smooth
function of the state ($\\log L - \\log\\epsilon$, or level $-$ accuracy;
`_threshold_events.py`) and an
`optimistix.Newton` root find on the solver's dense interpolant inside the step where
the sign changed. After each event the next segment continues from the state at the
event (no re-solve from $t = 0$); the crossed condition is switched off. The log clock
reaches $t = 10^{60}$ ($s \\approx 138$) and far beyond in a few thousand steps.

What the fixed point predicts for these times is `grokking_prediction`
(`_grokking_prediction.py`).
"""

import math

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from .._checks import ABSOLUTE_TOLERANCE, _tolerance
from .._config import compiled
from .._flow import LogTime
from .._integrate import initial_params
from .._results import RESULTS, AbstractResult, IntegrationError
from ._one_dim import as_problem
from ._threshold_events import (
    _conditions,
    _event_cond,
    _field,
    _initial_values,
    _State,
    _Thresholds,
)

jax.config.update("jax_enable_x64", True)

#: Default relative tolerance of the PID controller (state $w$, $\beta = b - s$, $\tau$).
DEFAULT_RTOL = 1e-10
#: Default bound on solver steps per segment (between two events).
DEFAULT_MAX_STEPS = 100_000
#: Default accuracy level whose first crossing is timed (paper Fig. 3 uses 0.95).
DEFAULT_LEVEL = 0.95
#: Default horizon: reaching thresholds stops the solve early, so a far horizon is free.
DEFAULT_T_MAX = 1e100
# Conditions within this of the smallest one at an event count as crossed together.
_SIMULTANEOUS = 1e-9


# --------------------------------------------------------------------------- results


class GrokkingTime(AbstractResult):
    """First times the training and test losses fall to $\\epsilon$ (docs/mathematics.md §10).

    Arrays have the shape of `eps` (scalars for a scalar `eps`).

    **Fields:**

    - `eps`, `log_eps`: the loss thresholds $\\epsilon$ and their logarithms.
    - `t_train`, `t_gen`: first physical times with $L_{train} \\le \\epsilon$ and
      $L_{test} \\le \\epsilon$ (`inf` where not reached before `t_max`).
    - `log_t_train`, `log_t_gen`: their logarithms, accurate at any horizon
      ($t = 10^{300}$ overflows neither); `log_ratio` $= \\log(t_{gen}/t_{train})$ and
      `ratio` $= t_{gen}/t_{train}$.
    - `tau_train`, `tau_gen`: conformal times $\\tau = \\int_0^t e^{-b}dt'$ of the same
      events; `delta_tau` $= \\tau_{gen} - \\tau_{train}$.
    - `level`: the test-accuracy level (NaN when not asked); `t_accuracy`,
      `log_t_accuracy`, `tau_accuracy`: first time the test accuracy reaches it.
    - `reached_train`, `reached_gen`, `reached_accuracy`: whether each was reached.
    - `t_max`: the horizon; `result`: `RESULTS.successful`, or
      `RESULTS.threshold_not_reached` when some threshold was not reached before
      `t_max`, or the solver's failure.
    - `stats`: solver, tolerances, root finder, number of segments and steps.
    """

    eps: np.ndarray
    log_eps: np.ndarray
    t_train: np.ndarray
    t_gen: np.ndarray
    log_t_train: np.ndarray
    log_t_gen: np.ndarray
    log_ratio: np.ndarray
    ratio: np.ndarray
    tau_train: np.ndarray
    tau_gen: np.ndarray
    delta_tau: np.ndarray
    level: float
    t_accuracy: float
    log_t_accuracy: float
    tau_accuracy: float
    reached_train: np.ndarray
    reached_gen: np.ndarray
    reached_accuracy: bool
    t_max: float
    result: RESULTS
    stats: dict = eqx.field(static=True)


# --------------------------------------------------------------------------- the solve


_TRACES = {"segment": 0}


@compiled
@eqx.filter_jit
def _segment(problem, thr, s0, state0, s1, rtol, atol, solver, root_finder, max_steps):
    """Solve from `(s0, state0)` until the first active condition crosses zero, or `s1`."""
    _TRACES["segment"] += 1
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_field), solver, s0, s1, None, state0, args=(problem, thr),
        saveat=diffrax.SaveAt(t1=True),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        event=diffrax.Event(_event_cond, root_finder=root_finder),
        max_steps=max_steps, throw=False,
    )
    s_end = sol.ts[-1]
    state_end = jax.tree.map(lambda v: v[-1], sol.ys)
    values = _conditions(s_end, state_end, problem, thr)
    return s_end, state_end, values, sol.result, sol.stats["num_steps"]



# --------------------------------------------------------------------------- validation


def _check_thresholds(eps, log_eps, timing_accuracy: bool) -> np.ndarray:
    """$\\log\\epsilon$ from at most one of `eps`, `log_eps` (none: accuracy only)."""
    if eps is not None and log_eps is not None:
        raise ValueError("Give at most one of `eps` and `log_eps`.")
    if eps is None and log_eps is None:
        if not timing_accuracy:
            raise ValueError("Give `eps` (or `log_eps`), or an `accuracy` level to time.")
        return np.zeros(0)
    name, value = ("eps", eps) if eps is not None else ("log_eps", log_eps)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number or a 1-D array; got {value!r}.") from None
    if arr.ndim > 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(
            f"`{name}` must be a finite number or a non-empty 1-D array; got {value!r}."
        )
    if eps is not None:
        if np.any(arr <= 0):
            raise ValueError(
                f"`eps` must be positive; got {value!r}. (For thresholds below 1e-308 "
                "pass `log_eps`.)"
            )
        return np.log(arr)
    return arr


def _check_horizon(t_max) -> float:
    """$s_{max} = \\log(1 + t_{max})$; `t_max` may be `inf` (stop on `max_steps` only)."""
    try:
        v = float(t_max)
    except (TypeError, ValueError):
        raise ValueError(f"`t_max` must be a positive number or inf; got {t_max!r}.") from None
    if not v > 0:
        raise ValueError(f"`t_max` must be positive (or inf); got {t_max!r}.")
    return math.log1p(v) if math.isfinite(v) else math.inf


def _log_t(s):
    """$\\log t$ from $s = \\log(1+t)$, accurate for tiny and huge $t$."""
    s = np.asarray(s, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(s), s + np.log(-np.expm1(-s)), np.inf)


def _expm1(s):
    with np.errstate(over="ignore"):
        return np.expm1(s)


# --------------------------------------------------------------------------- grokking_time


def grokking_time(
    problem,
    eps=None,
    *,
    log_eps=None,
    t_max: float = DEFAULT_T_MAX,
    accuracy: float | None = DEFAULT_LEVEL,
    y0=None,
    rtol: float = DEFAULT_RTOL,
    atol: float | None = None,
    solver: diffrax.AbstractSolver | None = None,
    root_finder: optx.AbstractRootFinder | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    throw: bool = True,
) -> GrokkingTime:
    """Measure $t_{train}(\\epsilon)$, $t_{gen}(\\epsilon)$
    and their ratio (docs/mathematics.md §10).

    Gradient flow is solved in log time $s = \\log(1+t)$ with conformal time carried
    along; each threshold crossing is located by a `diffrax.Event` and a Newton root
    find on the dense interpolant of the step in which its condition changed sign
    (conditions: $\\log L_{train} - \\log\\epsilon$, $\\log L_{test} - \\log\\epsilon$ and
    level $-$ test accuracy; the log-losses are evaluated without under/overflow).
    Segment after segment continues the same trajectory from the state at the last
    event, until every threshold is reached or $t =$ `t_max`. A threshold met at
    $t = 0$ gets time 0 (the accuracy is read at $t = 0^+$, since at $w = 0$ the
    population accuracy jumps from $\\Theta(b_0)$).

    **Arguments:**

    - `problem`: a `Problem` with test metrics (a population or a held-out set), or a
      `TwoPointModel`.
    - `eps`: loss threshold(s) $\\epsilon > 0$, a number or a 1-D array; or instead
    - `log_eps`: $\\log\\epsilon$ (for thresholds below the float range, e.g. what
      `GrokkingPrediction.log_eps` gives very near $\\lambda = \\frac12$). With neither,
      only the `accuracy` level is timed (the loss fields are then empty arrays).
    - `t_max`: horizon in physical time (default $10^{100}$; the solve stops at the last
      threshold, so a far horizon costs nothing when they are reached); `inf` lets the
      solve run until the thresholds are reached or `max_steps` is spent.
    - `accuracy`: a test-accuracy level in $(0, 1)$ whose first crossing is timed too
      (default 0.95, as in the paper's Fig. 3), or `None`. It needs a population (the
      held-out accuracy is a step function of $t$).
    - `y0`: initial `Params(w, b)` or `(w, b)`; default zeros.
    - `rtol`, `atol`: PID tolerances on $(w, \\beta, \\tau)$ (default `1e-10`; `atol`
      defaults to `rtol * 1e-2`); ranges as for `integrate`.
    - `solver`: a diffrax solver (default `diffrax.Tsit5()`).
    - `root_finder`: an optimistix root finder for the event times (default
      `optx.Newton(rtol=1e-12, atol=1e-12)`, in $s$).
    - `max_steps`: solver steps allowed per segment (default 100 000).
    - `throw`: raise `IntegrationError` if the solver fails or a threshold is not
      reached (default); with `False` the result carries the `RESULTS` member instead.

    **Returns:** a `GrokkingTime` whose arrays have the shape of `eps` (or `log_eps`).

    **Raises:** `ValueError` for bad arguments (naming the argument);
    `IntegrationError` (a `RuntimeError`, with the partial result as `.trajectory`)
    when `throw=True` and the solve failed or a threshold was not reached. Not jittable
    (a host loop over segments); each segment is one `diffeqsolve`, compiled once per
    problem shape, number of thresholds, solver and `max_steps`.
    """
    problem = as_problem(problem)
    if not problem.has_test:
        raise ValueError(
            "`problem` defines no test metric; give it `sigma`, a `population` or "
            "`x_test`."
        )
    log_eps_arr = _check_thresholds(eps, log_eps, accuracy is not None)
    s_max = _check_horizon(t_max)
    t_max = float(t_max)
    rtol = _tolerance("rtol", rtol)
    atol = rtol * 1e-2 if atol is None else _tolerance("atol", atol, ABSOLUTE_TOLERANCE)
    if accuracy is not None:
        try:
            level = float(accuracy)
        except (TypeError, ValueError):
            raise ValueError(f"`accuracy` must be in (0, 1) or None; got {accuracy!r}.") from None
        if not (0.0 < level < 1.0):
            raise ValueError(f"`accuracy` must be in (0, 1) or None; got {accuracy!r}.")
        if problem.population is None or problem.x_test is not None:
            raise ValueError(
                "`accuracy` needs a population for a smooth test accuracy (the held-out "
                "accuracy is a step function of t); pass accuracy=None."
            )
    else:
        level = math.nan
    if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer) or max_steps <= 0:
        raise ValueError(f"`max_steps` must be a positive integer; got {max_steps!r}.")
    solver = diffrax.Tsit5() if solver is None else solver
    if not isinstance(solver, diffrax.AbstractSolver):
        raise ValueError(f"`solver` must be a diffrax solver; got {solver!r}.")
    root_finder = optx.Newton(rtol=1e-12, atol=1e-12) if root_finder is None else root_finder
    if not isinstance(root_finder, optx.AbstractRootFinder):
        raise ValueError(f"`root_finder` must be an optimistix root finder; got {root_finder!r}.")
    p0 = initial_params(problem, y0)

    flat = log_eps_arr.reshape(-1)
    k = flat.size
    train_on = np.ones(k, bool)
    gen_on = np.ones(k, bool)
    acc_on = accuracy is not None
    s_train = np.full(k, np.inf)
    s_gen = np.full(k, np.inf)
    tau_train = np.full(k, np.inf)
    tau_gen = np.full(k, np.inf)
    s_acc = tau_acc = math.inf

    def thresholds():
        return _Thresholds(
            jnp.asarray(flat), jnp.asarray(train_on), jnp.asarray(gen_on),
            jnp.asarray(0.5 if math.isnan(level) else level), jnp.asarray(acc_on),
        )

    state = _State(LogTime().initial_state(problem, p0), jnp.asarray(0.0))
    s = 0.0
    # Thresholds already met at t = 0.
    c_train, c_gen, c_acc = (np.asarray(v) for v in _initial_values(problem, thresholds(), state))
    hit = train_on & (c_train <= 0)
    s_train[hit], tau_train[hit], train_on[hit] = 0.0, 0.0, False
    hit = gen_on & (c_gen <= 0)
    s_gen[hit], tau_gen[hit], gen_on[hit] = 0.0, 0.0, False
    if acc_on and c_acc <= 0:
        s_acc, tau_acc, acc_on = 0.0, 0.0, False

    result = RESULTS.successful
    segments = steps = 0
    s_max_j = jnp.asarray(s_max)
    rtol_j, atol_j = jnp.asarray(rtol), jnp.asarray(atol)
    while (train_on.any() or gen_on.any() or acc_on) and s < s_max:
        s_end, state_end, values, res, nsteps = _segment(
            problem, thresholds(), jnp.asarray(s), state, s_max_j, rtol_j, atol_j, solver,
            root_finder, int(max_steps),
        )
        segments += 1
        steps += int(nsteps)
        finite = bool(np.all([np.all(np.isfinite(np.asarray(v)))
                              for v in jax.tree.leaves(state_end)]))
        if not finite:
            result = RESULTS.nonfinite_state
            break
        if res == diffrax.RESULTS.event_occurred:
            s_new, tau_new = float(s_end), float(state_end.tau)
            c_train, c_gen, c_acc = (np.asarray(v) for v in values)
            active = np.concatenate(
                [c_train[train_on], c_gen[gen_on], [c_acc] if acc_on else []]
            )
            cut = active.min() + _SIMULTANEOUS
            hit = train_on & (c_train <= cut)
            s_train[hit], tau_train[hit], train_on[hit] = s_new, tau_new, False
            hit = gen_on & (c_gen <= cut)
            s_gen[hit], tau_gen[hit], gen_on[hit] = s_new, tau_new, False
            if acc_on and c_acc <= cut:
                s_acc, tau_acc, acc_on = s_new, tau_new, False
            s, state = s_new, state_end
        elif res == diffrax.RESULTS.successful:
            s, state = float(s_end), state_end
            break
        else:
            s = float(s_end)
            result = RESULTS.promote(res)
            break
    if result == RESULTS.successful and (train_on.any() or gen_on.any() or acc_on):
        result = RESULTS.threshold_not_reached

    shape = log_eps_arr.shape
    log_t_train, log_t_gen = _log_t(s_train), _log_t(s_gen)
    with np.errstate(invalid="ignore", over="ignore"):
        log_ratio = log_t_gen - log_t_train
        ratio = np.exp(log_ratio)
        delta_tau = tau_gen - tau_train
        eps_out = np.exp(log_eps_arr)
    asked = accuracy is not None
    out = GrokkingTime(
        eps=eps_out, log_eps=log_eps_arr,
        t_train=_expm1(s_train).reshape(shape), t_gen=_expm1(s_gen).reshape(shape),
        log_t_train=log_t_train.reshape(shape), log_t_gen=log_t_gen.reshape(shape),
        log_ratio=log_ratio.reshape(shape), ratio=ratio.reshape(shape),
        tau_train=tau_train.reshape(shape), tau_gen=tau_gen.reshape(shape),
        delta_tau=delta_tau.reshape(shape),
        level=level,
        t_accuracy=float(_expm1(s_acc)) if asked else math.nan,
        log_t_accuracy=float(_log_t(s_acc)) if asked else math.nan,
        tau_accuracy=float(tau_acc) if asked else math.nan,
        reached_train=np.isfinite(s_train).reshape(shape),
        reached_gen=np.isfinite(s_gen).reshape(shape),
        reached_accuracy=bool(math.isfinite(s_acc)) if asked else False,
        t_max=t_max,
        result=result,
        stats=dict(
            clock="log", solver=type(solver).__name__, rtol=rtol, atol=atol,
            root_finder=type(root_finder).__name__, max_steps=int(max_steps),
            segments=segments, num_steps=steps, log_t_end=float(_log_t(s)),
        ),
    )
    if throw and not out.successful:
        raise IntegrationError(
            f"grokking_time stopped at log t = {float(_log_t(s)):.6g} (t_max = "
            f"{t_max:.6g}): {out.message} (The partial result is on this exception's "
            "`.trajectory`; pass throw=False to get it returned.)",
            out,
        )
    return out
