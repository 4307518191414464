"""Grokking times measured on the flow and predicted
from the fixed point (docs/mathematics.md §8, §10).

`grokking_time` integrates gradient flow in log time $s = \\log(1+t)$ (docs/mathematics.md §5), with
conformal time $\\tau$ carried along ($d\\tau/ds = e^{-\\beta}$, $\\beta = b - s$), and
locates each threshold crossing with a `diffrax.Event` whose condition is a smooth
function of the state ($\\log L - \\log\\epsilon$, or level $-$ accuracy) and an
`optimistix.Newton` root find on the solver's dense interpolant inside the step where
the sign changed. After each event the next segment continues from the state at the
event (no re-solve from $t = 0$); the crossed condition is switched off. The log clock
reaches $t = 10^{60}$ ($s \\approx 138$) and far beyond in a few thousand steps.

`grokking_prediction` needs the fixed point only: for the exponential loss
$\\log(t_{gen}/t_{train}) \\to \\sigma^2\\|w^*\\|^2/2 - \\log\\tilde L^*$ and
$\\tau_{gen} - \\tau_{train} \\to$ that over $\\tilde L^*$ (docs/mathematics.md §10, not the paper's
Eqs. 40–41); the relaxation rate $h_1$ says how small $\\epsilon$ must be.
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
from .._loss import ExponentialLoss
from .._ltilde import log_ltilde, log_mean_exp, polish
from .._problem import Params, Problem
from .._results import RESULTS, AbstractResult, IntegrationError
from ._fixed_point import AnalysisResults, fixed_point
from ._one_dim import as_problem
from ._stability import _check_reduced, stability

jax.config.update("jax_enable_x64", True)

#: Default relative tolerance of the PID controller (state $w$, $\beta = b - s$, $\tau$).
DEFAULT_RTOL = 1e-10
#: Default bound on solver steps per segment (between two events).
DEFAULT_MAX_STEPS = 100_000
#: Default accuracy level whose first crossing is timed (paper Fig. 3 uses 0.95).
DEFAULT_LEVEL = 0.95
#: Default horizon: reaching thresholds stops the solve early, so a far horizon is free.
DEFAULT_T_MAX = 1e100
#: Default relative accuracy asked of the prediction when choosing $\epsilon$.
DEFAULT_ACCURACY = 1e-2
#: Safety factor on the amplitude of the slow mode in the choice of $\epsilon$ (the
#: linear estimate of that amplitude from $w_0$ ignores the nonlinear transient).
EPS_SAFETY = 10.0
#: Safety factor on the bias-transient term $\epsilon e^{b_0}/\tilde L^*$ of the error
#: estimate (that term is accurate, so without it the error at `eps` would be `accuracy`
#: itself rather than below it).
BIAS_SAFETY = 2.0
# Conditions within this of the smallest one at an event count as crossed together.
_SIMULTANEOUS = 1e-9
_BIG = 1e300


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


class GrokkingPrediction(AbstractResult):
    """What the fixed point predicts for the grokking time (docs/mathematics.md §8, §10).

    **Fields:**

    - `log_ratio`: $\\lim_{\\epsilon\\to0}\\log(t_{gen}/t_{train}) = \\sigma^2\\|w^*\\|^2/2 -
      \\log\\tilde L^*$ (exponential loss; logistic once $b \\gg \\sigma^2\\|w^*\\|^2$), in
      general $\\log\\mathbb E_{test}e^{-w^*\\cdot x} - \\log\\tilde L^*$; `ratio` its
      exponential (`inf` past the float range).
    - `delta_tau`: $\\tau_{gen} - \\tau_{train} =$ `log_ratio` $/\\tilde L^*$, independent
      of $\\epsilon$ (docs/mathematics.md §10;
      the paper's Eqs. 40–41 drop the factor $\\tilde L^*$).
    - `ltilde`: $\\tilde L^* = \\tilde L(w^*)$; `w_norm`: $\\|w^*\\|$; `h1`: slowest
      conformal rate $h_1 = \\min\\mathrm{eig}\\,\\nabla^2\\tilde L(w^*)$.
    - `log_rate`: $h_1/\\tilde L^*$, so $\\|w - w^*\\| \\propto t^{-h_1/\\tilde L^*}$;
      `relaxation_exponent` $= -h_1/\\tilde L^*$; `relaxation_time` $= \\tilde L^*/h_1$
      (in units of $\\log t$).
    - `rate`: $\\kappa = \\min(h_1/\\tilde L^*, 1)$, the rate in $\\log t$ at which the
      ratio converges (the bias relaxes at rate 1); `amplitude`: $|\\nabla D\\cdot v_1|$
      times the slow-mode amplitude used (`EPS_SAFETY` $\\times|v_1\\cdot(w_0 - w^*)|$),
      i.e. the linear error term of `log_ratio` is estimated as
      `amplitude` $\\times e^{-h_1\\tau_{gen}}$.
    - `accuracy`: the relative accuracy asked; `eps`: the $\\epsilon$ below which the
      prediction should hold to it (at most $10^{-2}$), from the error estimate of
      `grokking_prediction`; `log_eps` its logarithm (`eps` underflows to 0 very near
      $\\lambda = \\frac12$; pass `log_eps` to `grokking_time` then).
    - `result`: `AnalysisResults.successful`, or `AnalysisResults.separable` (no finite
      $w^*$, no prediction; the numbers are then NaN).
    """

    log_ratio: float
    ratio: float
    delta_tau: float
    ltilde: float
    w_norm: float
    h1: float
    log_rate: float
    relaxation_exponent: float
    relaxation_time: float
    rate: float
    amplitude: float
    accuracy: float
    log_eps: float
    eps: float
    result: AnalysisResults


# --------------------------------------------------------------------------- conditions


class _Thresholds(eqx.Module):
    log_eps: jax.Array  # (K,)
    train_on: jax.Array  # (K,) bool
    gen_on: jax.Array  # (K,) bool
    level: jax.Array  # ()
    acc_on: jax.Array  # () bool


class _State(eqx.Module):
    params: Params  # (w, beta = b - s)
    tau: jax.Array


def _log_test_loss(problem: Problem, w, b):
    """$\\log L_{test}$ without under/overflow (docs/mathematics.md §2, §4)."""
    loss = problem.loss
    if problem.x_test is not None:
        bias = b if problem.fit_bias else 0.0
        m = problem.y_test * (problem.x_test @ w + bias)
        return log_mean_exp(loss.log_value(m))
    return problem.population.log_loss(loss, w, b)


def _log_train_loss(problem: Problem, w, b):
    m = problem.margins(w, b)
    return log_mean_exp(problem.loss.log_value(m))


def _conditions(s, state: _State, problem: Problem, thr: _Thresholds):
    """All conditions, positive before their crossing: $\\log L - \\log\\epsilon$ (train,
    then test, shape `(K,)` each) and level $-$ test accuracy."""
    w = state.params.w
    b = state.params.b + s
    c_train = _log_train_loss(problem, w, b) - thr.log_eps
    c_gen = _log_test_loss(problem, w, b) - thr.log_eps
    c_acc = thr.level - problem.test_accuracy(w, b)
    return c_train, c_gen, c_acc


def _masked_min(s, state, problem, thr):
    c_train, c_gen, c_acc = _conditions(s, state, problem, thr)
    c_train = jnp.where(thr.train_on, c_train, _BIG)
    c_gen = jnp.where(thr.gen_on, c_gen, _BIG)
    c_acc = jnp.where(thr.acc_on, c_acc, _BIG)
    if c_train.shape[0] == 0:  # only the accuracy is timed (static shape: no empty min,
        return c_acc  # whose derivative would be NaN and stall Newton)
    return jnp.minimum(jnp.minimum(jnp.min(c_train), jnp.min(c_gen)), c_acc)


def _field(s, state: _State, args):
    problem, _ = args
    dparams = LogTime().vector_field(s, state.params, problem)
    return _State(dparams, jnp.exp(-state.params.b))


def _event_cond(t, y, args, **kwargs):
    # diffrax passes `t`, `y`, `args` by keyword when root finding.
    problem, thr = args
    return _masked_min(t, y, problem, thr)


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


#: Step along the initial vector field at which the accuracy is read "at t = 0+": at
#: $w_0 = 0$ the population accuracy jumps from $\Theta(b_0)$ to $\Phi(\dot b/\sigma\|\dot w\|)$.
_T0_PLUS = 1e-9


@eqx.filter_jit
def _initial_values(problem, thr, state0):
    s0 = jnp.asarray(0.0)
    c_train, c_gen, c_acc = _conditions(s0, state0, problem, thr)
    ahead = jax.tree.map(lambda y, f: y + _T0_PLUS * f, state0, _field(s0, state0, (problem, thr)))
    _, _, c_acc_plus = _conditions(jnp.asarray(_T0_PLUS), ahead, problem, thr)
    return c_train, c_gen, jnp.minimum(c_acc, c_acc_plus)


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


# --------------------------------------------------------------------------- prediction


def _log_test_exp(problem: Problem, w):
    """$\\log\\mathbb E_{test}e^{-w\\cdot x}$: the test log-loss of the exponential loss
    minus $(-b)$, the $b$-independent part (reduced model)."""
    if problem.x_test is not None:
        return log_ltilde(problem.x_test, w)
    return problem.population.log_loss(ExponentialLoss(), w, jnp.asarray(0.0))


def _log_ratio_of_w(problem: Problem, w):
    """$D(w) = \\log\\mathbb E_{test}e^{-w\\cdot x} - \\log\\tilde L(w)$: the late-time
    $\\log(L_{test}/L_{train})$ of the exponential loss at weights $w$ (any $b$)."""
    return _log_test_exp(problem, w) - log_ltilde(problem.z, w)


def _error_model(log_eps, d_star, lt, h1, b0, amp_w, slope):
    """Estimated $|\\log(t_{gen}/t_{train}) - D^*|$ at $\\epsilon = e^{\\text{log\\_eps}}$.

    With $w$ on the slow mode, $\\delta w \\approx A_w e^{-h_1\\tau}$ and
    $\\tau(t) \\approx (\\log t + \\log\\tilde L^* - b_0)/\\tilde L^*$; then
    $\\log(t_{gen}/t_{train}) - D^* = [D(w(t_{gen})) - D^*] - g(t_{gen}) + g(t_{train})$
    with $g = \\beta - \\log\\tilde L(w)$ (docs/mathematics.md §10): a linear term
    $|\\nabla D\\cdot v_1|\\,\\delta w(t_{gen})$, a quadratic one
    $\\kappa^2\\delta w(t_{train})^2/|1-2\\kappa|$ and the bias transient
    $\\epsilon e^{b_0}/\\tilde L^*$.
    """
    kappa = h1 / lt
    tau_train = (-log_eps + math.log(lt) - b0) / lt
    tau_gen = tau_train + d_star / lt
    dw_train = amp_w * math.exp(-h1 * max(tau_train, 0.0))
    dw_gen = amp_w * math.exp(-h1 * max(tau_gen, 0.0))
    quad = kappa**2 * dw_train**2 / max(abs(1.0 - 2.0 * kappa), 0.1)
    return slope * dw_gen + quad + BIAS_SAFETY * math.exp(log_eps + b0) / lt


@compiled
@jax.jit
def polish_fixed_point(z, w):
    """Three Newton steps on $\\log\\tilde L$ (`gradflow._ltilde.polish`), so that a $w^*$
    given by the caller (or found with a loose `gtol`) is at rounding level. All-zero
    columns of `z` (padding) are left alone."""
    return polish(z, w, 3, jnp.all(z == 0.0, axis=0).astype(z.dtype))


def _log_eps_for(target, args) -> float:
    """Largest $\\log\\epsilon \\le \\log 10^{-2}$ whose estimated error is at most `target`
    (bisection; the estimate increases with $\\epsilon$)."""
    lo, hi = -1e5, math.log(1e-2)
    if _error_model(hi, *args) <= target:
        return hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _error_model(mid, *args) <= target:
            lo = mid
        else:
            hi = mid
    return lo


def predict_from_fixed_point(problem: Problem, w_star, h1, slow_direction, *,
                             accuracy: float = DEFAULT_ACCURACY, y0=None):
    """`GrokkingPrediction` from a fixed point already found (used by `slowing_down`, which
    finds a batch of them at once); $w^*$ is polished and $\\tilde L^*$ evaluated there.
    `grokking_prediction` is the public entry point."""
    p0 = initial_params(problem, y0)
    w_star = polish_fixed_point(problem.z, jnp.asarray(w_star))
    lt = math.exp(float(log_ltilde(problem.z, w_star)))
    h1 = float(h1)
    d_star = float(_log_ratio_of_w(problem, w_star))
    grad_d = np.asarray(jax.grad(lambda w: _log_ratio_of_w(problem, w))(w_star))
    v1 = np.asarray(slow_direction)
    w_norm = float(jnp.linalg.norm(w_star))
    # Linear slow-mode amplitude from w0 (at least 1e-3 |w*|: w0 may sit on another mode).
    amp_w = EPS_SAFETY * max(abs(float(v1 @ (np.asarray(p0.w) - np.asarray(w_star)))),
                             1e-3 * w_norm, 1e-300)
    slope = abs(float(grad_d @ v1))
    log_eps = _log_eps_for(accuracy * abs(d_star), (d_star, lt, h1, float(p0.b), amp_w, slope))
    kappa = h1 / lt
    return GrokkingPrediction(
        log_ratio=d_star,
        ratio=math.exp(d_star) if d_star < 709.0 else math.inf,
        delta_tau=d_star / lt,
        ltilde=lt,
        w_norm=w_norm,
        h1=h1,
        log_rate=kappa,
        relaxation_exponent=-kappa,
        relaxation_time=1.0 / kappa if kappa > 0 else math.inf,
        rate=min(kappa, 1.0),
        amplitude=slope * amp_w,
        accuracy=accuracy,
        log_eps=log_eps,
        eps=math.exp(log_eps),
        result=AnalysisResults.successful,
    )


def _check_prediction_problem(problem) -> Problem:
    problem = as_problem(problem)
    _check_reduced(problem)
    if not problem.has_test:
        raise ValueError(
            "`problem` defines no test metric; give it `sigma`, a `population` or `x_test`."
        )
    if problem.x_test is not None and not bool(jnp.all(problem.y_test == 1.0)):
        raise ValueError("`problem` must have held-out labels all +1 (the reduced model).")
    return problem


def _check_accuracy(accuracy) -> float:
    try:
        accuracy = float(accuracy)
    except (TypeError, ValueError):
        raise ValueError(f"`accuracy` must be a number in (0, 1); got {accuracy!r}.") from None
    if not (0.0 < accuracy < 1.0):
        raise ValueError(f"`accuracy` must be in (0, 1); got {accuracy!r}.")
    return accuracy


def grokking_prediction(
    problem, *, accuracy: float = DEFAULT_ACCURACY, y0=None
) -> GrokkingPrediction:
    """Predict the grokking-time ratio from the fixed point alone (docs/mathematics.md §8, §10).

    $\\log(t_{gen}/t_{train}) \\to D^* = \\sigma^2\\|w^*\\|^2/2 - \\log\\tilde L^*$ as
    $\\epsilon \\to 0$ (exponential loss: $\\log L_{test} - \\log L_{train} = D(w)$ exactly,
    at any $b$; logistic: once $b \\gg \\sigma^2\\|w^*\\|^2$), and $\\tau_{gen} -
    \\tau_{train} \\to D^*/\\tilde L^*$. How small $\\epsilon$ must be is set by the
    relaxation $w - w^* \\propto e^{-h_1\\tau} \\propto t^{-h_1/\\tilde L^*}$: the error at
    $\\epsilon$ is estimated from the slow-mode amplitude $|v_1\\cdot(w_0 - w^*)|$ (linear,
    times `EPS_SAFETY` = 10), the gradient of $D$ along $v_1$, the quadratic response of
    the bias, and the bias transient $\\epsilon e^{b_0}/\\tilde L^*$; `eps` is where that
    estimate equals `accuracy` $\\times|D^*|$. For $t_{gen}$ the slow mode has decayed by
    a further $e^{-h_1 D^*/\\tilde L^*}$, which is why the ratio settles at a much larger
    $\\epsilon$ than $\\|w - w^*\\|$ alone would suggest.

    **Arguments:**

    - `problem`: a reduced-model `Problem` (bias, all labels $+1$) with a population or a
      held-out set of label $+1$, or a `TwoPointModel`.
    - `accuracy`: relative accuracy in $(0, 1)$ asked of `log_ratio` at `eps`
      (default `1e-2`).
    - `y0`: the initial `Params(w, b)` or `(w, b)` the flow starts from (default zeros);
      it only enters the choice of `eps`.

    **Returns:** a `GrokkingPrediction`; for separable data (no finite $w^*$) its
    `result` is `AnalysisResults.separable` and the numbers are NaN.

    **Raises:** `ValueError` for bad arguments or a problem outside the reduced model;
    `RuntimeError` if Newton fails on inseparable data. Not jittable (LP on the host).
    """
    problem = _check_prediction_problem(problem)
    accuracy = _check_accuracy(accuracy)
    initial_params(problem, y0)
    fp = fixed_point(problem)
    if not fp.successful:
        nan = math.nan
        return GrokkingPrediction(nan, nan, nan, nan, math.inf, 0.0, 0.0, -0.0, math.inf,
                                  0.0, nan, accuracy, nan, nan, AnalysisResults.separable)
    st = stability(problem, fp.w)
    return predict_from_fixed_point(problem, fp.w, st.h1, st.slow_direction,
                                    accuracy=accuracy, y0=y0)
