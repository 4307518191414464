"""Relaxation to the fixed point in log time, measured on a trajectory and predicted.

docs/mathematics.md §8. Near the fixed point the log-time flow relaxes as
$\\|w - w^*\\| \\propto t^{-h_1/\\tilde L^*}$ (the Jacobian at $(w^*, \\beta^*)$ is
$\\mathrm{diag}(-H^*/\\tilde L^*, -1)$), and $h_1 \\to 0$ as the data approach
separability. `relaxation` measures the exponent on an integrated trajectory and sets it
beside $-h_1/\\tilde L^*$.
"""

import math

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ABSOLUTE_TOLERANCE, _tolerance
from .._flow import LogTime
from .._integrate import _solve, default_solver, initial_params
from .._results import RESULTS, AbstractResult, IntegrationError
from ._fixed_point import fixed_point
from ._grokking_prediction import GrokkingPrediction, polish_fixed_point
from ._stability import stability

jax.config.update("jax_enable_x64", True)

#: Default window of $\|w - w^*\|/\max(\|w^*\|, 1)$ over which the exponent is fitted:
#: late enough for the slowest mode to dominate, early enough to stay above the
#: integration error (rtol 1e-12).
DEFAULT_WINDOW = (1e-5, 1e-10)
#: Default tolerance for `relaxation` (tight: $\|w - w^*\|$ is followed down to 1e-10).
DEFAULT_RTOL = 1e-13
#: Default bound on solver steps per solve in `relaxation` and `slowing_down`.
DEFAULT_MAX_STEPS = 200_000
#: Points saved (uniformly in $s$) by `relaxation`.
_NUM_SAVES = 600



class Relaxation(AbstractResult):
    """The relaxation of $w$ to $w^*$ in log time, measured and predicted (docs/mathematics.md §8).

    **Fields:**

    - `exponent`: measured slope, against $\\log t$, of $\\log|v_1\\cdot(w - w^*)|$, the
      component of $w - w^*$ along the slow eigenvector $v_1$ of $H^*$ (negative). The
      direction comes from the fixed point, the rate from the trajectory (a wrong $v_1$
      would still show the slowest rate, only later). `exponent_err`: its uncertainty,
      the larger of the fit's standard error and half the difference between the slopes
      of the window's two halves.
    - `exponent_norm`, `exponent_norm_err`: the same for $\\|w - w^*\\|$ itself, with no
      input from the fixed point but $w^*$. A second mode close to the slowest one, with
      a larger amplitude, can keep this slope off by a few per cent down to the
      integration floor; its uncertainty also includes `|exponent_norm - exponent|`.
    - `predicted`: $-h_1/\\tilde L^*$; `relative_error`: `exponent / predicted - 1`.
    - `log_t`, `distance`, `slow`: $\\log t$, $\\|w - w^*\\|$ and $|v_1\\cdot(w - w^*)|$
      at the saved points of the window.
    - `window`: the relative window used; `decades`: how many decades of
      $\\|w - w^*\\|$ it spans.
    - `result`: `RESULTS.successful`, `RESULTS.threshold_not_reached` (the window was
      not covered over 2 decades before the solver stopped) or the solver's failure.
    """

    exponent: float
    exponent_err: float
    exponent_norm: float
    exponent_norm_err: float
    predicted: float
    relative_error: float
    log_t: np.ndarray
    distance: np.ndarray
    slow: np.ndarray
    window: tuple
    decades: float
    result: RESULTS


def _slope(log_t, y):
    """Least-squares slope, its standard error, and half the difference of the slopes of
    the two halves (curvature: faster modes not yet gone)."""
    coef, cov = np.polyfit(log_t, y, 1, cov=True)
    half = log_t.size // 2
    s1 = np.polyfit(log_t[:half], y[:half], 1)[0]
    s2 = np.polyfit(log_t[half:], y[half:], 1)[0]
    return float(coef[0]), math.sqrt(max(cov[0, 0], 0.0)), 0.5 * abs(s1 - s2)


def _fit_window(s, dist, slow, scale, window):
    hi, lo = window[0] * scale, window[1] * scale
    keep = np.isfinite(dist) & (dist <= hi) & (dist >= lo) & np.isfinite(s) & (slow > 0)
    if keep.sum() < 6:
        return None
    s_k, d_k, p_k = s[keep], dist[keep], slow[keep]
    log_t = s_k + np.log(-np.expm1(-s_k))
    y = np.log(d_k)
    slope_norm, stat_norm, curve_norm = _slope(log_t, y)
    slope, stat, curve = _slope(log_t, np.log(p_k))
    err = max(stat, curve)
    err_norm = max(stat_norm, curve_norm, abs(slope_norm - slope))
    decades = float((y.max() - y.min()) / math.log(10.0))
    return slope, err, slope_norm, err_norm, log_t, d_k, p_k, decades


def relaxation(
    problem,
    *,
    window=DEFAULT_WINDOW,
    y0=None,
    rtol: float = DEFAULT_RTOL,
    atol: float | None = None,
    solver: diffrax.AbstractSolver | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    prediction: GrokkingPrediction | None = None,
    w_star=None,
    slow_direction=None,
    throw: bool = True,
) -> Relaxation:
    """Measure the relaxation exponent of $\\|w(t) - w^*\\|$ and compare with $-h_1/\\tilde L^*$.

    Gradient flow is solved in log time $s = \\log(1+t)$ from `y0` up to where the
    linearized slow mode, started from $v_1\\cdot(w_0 - w^*)$, should have decayed
    below the window (a few more $e$-folds for safety); the exponent is the
    least-squares slope of $\\log\\|w - w^*\\|$ against $\\log t$ over the saved points
    with $\\|w - w^*\\|/\\max(\\|w^*\\|, 1)$ inside `window`.

    **Arguments:**

    - `problem`: a reduced-model `Problem` (or `TwoPointModel`) with inseparable data.
    - `window`: `(high, low)` relative distances bounding the fit (default
      `(1e-5, 1e-10)`).
    - `y0`: initial `Params(w, b)` or `(w, b)` (default zeros).
    - `rtol`, `atol`: PID tolerances (default `1e-13`, `atol = rtol * 1e-2`; ranges as
      for `integrate`).
    - `solver`: a diffrax solver (default: `integrate`'s for the log clock); `max_steps`
      (default 200 000).
    - `prediction`, `w_star`, `slow_direction`: a `GrokkingPrediction`, its $w^*$ and
      $v_1$, if already known (as in `slowing_down`); by default computed here.
    - `throw`: raise `IntegrationError` if the exponent could not be measured (default);
      with `False` the `Relaxation` carries the `RESULTS` member and NaN exponents.

    **Returns:** a `Relaxation`.

    **Raises:** `ValueError` for bad arguments or separable data (no $w^*$);
    `IntegrationError` (a `RuntimeError`) as above.
    """
    from ._grokking_prediction import grokking_prediction
    from ._one_dim import as_problem

    problem = as_problem(problem)
    try:
        hi, lo = (float(v) for v in window)
    except (TypeError, ValueError):
        raise ValueError(f"`window` must be a pair (high, low); got {window!r}.") from None
    if not (0 < lo < hi < 1):
        raise ValueError(f"`window` must satisfy 1 > high > low > 0; got {window!r}.")
    rtol = _tolerance("rtol", rtol)
    atol = rtol * 1e-2 if atol is None else _tolerance("atol", atol, ABSOLUTE_TOLERANCE)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer) or max_steps <= 0:
        raise ValueError(f"`max_steps` must be a positive integer; got {max_steps!r}.")
    solver = default_solver(problem, LogTime()) if solver is None else solver
    if not isinstance(solver, diffrax.AbstractSolver):
        raise ValueError(f"`solver` must be a diffrax solver; got {solver!r}.")
    p0 = initial_params(problem, y0)
    if prediction is None or w_star is None or slow_direction is None:
        prediction = grokking_prediction(problem, y0=y0)
        if not prediction.successful:
            raise ValueError("`problem` is separable: there is no fixed point to relax to.")
        w_star = fixed_point(problem).w
        slow_direction = stability(problem, w_star).slow_direction
    v1 = np.asarray(slow_direction)
    w_star = np.asarray(polish_fixed_point(problem.z, jnp.asarray(w_star)))
    kappa = prediction.log_rate
    scale = max(float(np.linalg.norm(w_star)), 1.0)
    # The linear slow-mode amplitude is at most |w0 - w*| (at least 1e-3 |w*|).
    amp = max(float(np.linalg.norm(np.asarray(p0.w) - w_star)), 1e-3 * scale)
    # e^{-kappa (s + log L~* - b0)} amp = low * scale, then 3 more e-folds of margin
    s_end = (math.log(amp / (lo * scale)) + 3.0) / kappa - math.log(prediction.ltilde) + float(p0.b)
    s_end = max(s_end, 10.0)
    ss = np.linspace(0.0, s_end, _NUM_SAVES + 1)[1:]
    ts = np.expm1(ss)
    (_, _, params, _, res, _), _ = _solve(LogTime(), solver, problem, p0, jnp.asarray(ts),
                                     jnp.asarray(ts[-1]), jnp.asarray(float(rtol)),
                                     jnp.asarray(atol), int(max_steps))
    ws = np.asarray(params.w)
    dist = np.linalg.norm(ws - w_star[None, :], axis=1)
    slow = np.abs((ws - w_star[None, :]) @ np.asarray(v1))
    fit = _fit_window(ss, dist, slow, scale, (hi, lo))
    predicted = -kappa
    result = res
    if fit is None or fit[-1] < 2.0:
        if result == RESULTS.successful:
            result = RESULTS.threshold_not_reached
        nan = math.nan
        empty = np.zeros(0)
        out = Relaxation(nan, nan, nan, nan, predicted, nan, empty, empty, empty, (hi, lo),
                         0.0, result)
        if throw:
            raise IntegrationError(
                f"relaxation: the window {window} was not covered over 2 decades up to "
                f"log t = {ss[-1]:.4g}: {RESULTS[result]} Try a larger `max_steps` or a "
                "wider `window`.",
                out,
            )
        return out
    slope, err, slope_norm, err_norm, log_t, d_k, p_k, decades = fit
    return Relaxation(slope, err, slope_norm, err_norm, predicted, slope / predicted - 1.0,
                      log_t, d_k, p_k, (hi, lo), decades, RESULTS.successful)
