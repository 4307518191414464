"""Critical slowing down: relaxation and grokking times as $\\lambda \\to \\frac12^-$.

docs/mathematics.md §8, §10, §12. Near the fixed point the log-time flow relaxes as
$\\|w - w^*\\| \\propto t^{-h_1/\\tilde L^*}$ (the Jacobian at $(w^*, \\beta^*)$ is
$\\mathrm{diag}(-H^*/\\tilde L^*, -1)$), and $h_1 \\to 0$ as the data approach
separability. `relaxation` measures the exponent on an integrated trajectory;
`slowing_down` sweeps $\\lambda$ over inseparable Gaussian draws, measures the grokking
ratio (`grokking_time`, at the $\\epsilon$ chosen by `grokking_prediction`) and the
relaxation exponent, sets them beside their fixed-point predictions, and fits how both
diverge against $\\frac12 - \\lambda$.
"""

import math

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ABSOLUTE_TOLERANCE, _positive_int, _tolerance
from .._flow import LogTime
from .._integrate import _solve, default_solver, initial_params
from .._problem import Problem
from .._results import RESULTS, AbstractResult, IntegrationError, result_index
from ._draws import _fixed_points, draw_points
from ._fixed_point import DEFAULT_GTOL, _result_of, fixed_point
from ._grokking_time import (
    DEFAULT_ACCURACY,
    GrokkingPrediction,
    _check_accuracy,
    grokking_time,
    polish_fixed_point,
    predict_from_fixed_point,
)
from ._separability import is_separable
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


# --------------------------------------------------------------------------- relaxation


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
    from ._grokking_time import grokking_prediction
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
    _, _, params, _, res, _ = _solve(LogTime(), solver, problem, p0, jnp.asarray(ts),
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


# --------------------------------------------------------------------------- the sweep


class PowerLaw(eqx.Module):
    """A fit $Q = A\\,(\\frac12 - \\lambda)^{-\\nu}$ (least squares in logarithms).

    **Fields:** `exponent` $\\nu$, `exponent_err` (one standard error), `amplitude` $A$,
    `amplitude_err` (relative), `points`: the number of $\\lambda$ values used.
    """

    exponent: float
    exponent_err: float
    amplitude: float
    amplitude_err: float
    points: int


class SlowingDown(AbstractResult):
    """Grokking ratio and relaxation time across $\\lambda \\to \\frac12^-$, measured and
    predicted (docs/mathematics.md §8, §10).

    Per-draw arrays have shape `(L, R)` (λ values × realizations); NaN where a draw
    could not be measured (see `status`).

    **Fields:**

    - `n`, `sigma`, `seed`, `realizations`; `lam` (the $d/n$ used, shape `(L,)`), `d`.
    - `norm`: $\\|\\tilde w^*\\| = \\sigma\\|w^*\\|$; `ltilde`: $\\tilde L^*$; `h1`: $h_1$.
    - `log_ratio_predicted`: $\\sigma^2\\|w^*\\|^2/2 - \\log\\tilde L^*$;
      `log_ratio_measured`: $\\log(t_{gen}/t_{train})$ from `grokking_time` at the
      chosen `log_eps` (from `grokking_prediction`, `accuracy`); `log_ratio_spread`:
      the largest relative change of the measured value over `decades` further decades
      of $\\epsilon$ below it.
    - `delta_tau_predicted`, `delta_tau_measured`: $\\tau_{gen} - \\tau_{train}$.
    - `exponent_predicted` ($-h_1/\\tilde L^*$), `exponent_measured`,
      `exponent_err`: the relaxation exponent in $\\log t$ of the slow mode
      (`Relaxation.exponent`); `exponent_norm`, `exponent_norm_err`: that of
      $\\|w - w^*\\|$ (`Relaxation.exponent_norm`).
    - `relaxation_time_predicted` $= \\tilde L^*/h_1$, `relaxation_time_measured`
      $= -1/$`exponent_measured` (units of $\\log t$).
    - `result`: per draw, the index of a `RESULTS` member: `successful`, `separable` (no
      inseparable draw found), or the first failure (fixed point, `grokking_time`,
      `relaxation`); `successful`, `status` and `message` are read from it (shape
      `(L, R)`), as for every result.
    - Per λ (shape `(L,)`), means over measured draws: `log_ratio_mean`,
      `log_ratio_predicted_mean`, `relaxation_time_mean`,
      `relaxation_time_predicted_mean`.
    - Fits of the divergence against $\\frac12 - \\lambda$ (`PowerLaw`s):
      `log_ratio_law`, `log_ratio_predicted_law`, `relaxation_law`,
      `relaxation_predicted_law`.
    """

    n: int
    sigma: float
    seed: int
    realizations: int
    lam: np.ndarray
    d: np.ndarray
    norm: np.ndarray
    ltilde: np.ndarray
    h1: np.ndarray
    log_eps: np.ndarray
    log_ratio_predicted: np.ndarray
    log_ratio_measured: np.ndarray
    log_ratio_spread: np.ndarray
    delta_tau_predicted: np.ndarray
    delta_tau_measured: np.ndarray
    exponent_predicted: np.ndarray
    exponent_measured: np.ndarray
    exponent_err: np.ndarray
    exponent_norm: np.ndarray
    exponent_norm_err: np.ndarray
    relaxation_time_predicted: np.ndarray
    relaxation_time_measured: np.ndarray
    result: np.ndarray
    log_ratio_mean: np.ndarray
    log_ratio_predicted_mean: np.ndarray
    relaxation_time_mean: np.ndarray
    relaxation_time_predicted_mean: np.ndarray
    log_ratio_law: PowerLaw
    log_ratio_predicted_law: PowerLaw
    relaxation_law: PowerLaw
    relaxation_predicted_law: PowerLaw


def fit_power_law(lam, values, errors=None) -> PowerLaw:
    """Fit $Q = A(\\frac12 - \\lambda)^{-\\nu}$ by (weighted) least squares in logarithms.

    **Arguments:** `lam` (shape `(L,)`, all $< \\frac12$); `values` $Q > 0$; `errors`:
    optional standard errors of $\\log Q$ (weights; non-positive or NaN ones are
    replaced by the median of the others).

    **Returns:** a `PowerLaw` (NaN exponent with fewer than 2 finite points).
    """
    lam = np.asarray(lam, dtype=np.float64)
    q = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(q) & (q > 0) & (lam < 0.5)
    if ok.sum() < 2:
        return PowerLaw(math.nan, math.nan, math.nan, math.nan, int(ok.sum()))
    x = np.log(0.5 - lam[ok])
    y = np.log(q[ok])
    w = None
    if errors is not None:
        e = np.asarray(errors, dtype=np.float64)[ok]
        good = np.isfinite(e) & (e > 0)
        if good.any():
            e = np.where(good, e, np.median(e[good]))
            w = 1.0 / e
    if ok.sum() == 2:
        coef = np.polyfit(x, y, 1, w=w)
        cov = np.full((2, 2), np.nan)
    else:
        coef, cov = np.polyfit(x, y, 1, w=w, cov=True)
    return PowerLaw(float(-coef[0]), float(math.sqrt(cov[0, 0])), float(math.exp(coef[1])),
                    float(math.sqrt(cov[1, 1])), int(ok.sum()))


def _mean_and_err(v):
    """Mean over the last axis of finite values, and the standard error of log(v)."""
    means = np.full(v.shape[0], np.nan)
    errs = np.full(v.shape[0], np.nan)
    for i, row in enumerate(v):
        row = row[np.isfinite(row) & (row > 0)]
        if row.size:
            means[i] = row.mean()
            if row.size > 1:
                errs[i] = np.std(np.log(row), ddof=1) / math.sqrt(row.size)
    return means, errs


def slowing_down(
    n: int,
    lambdas,
    realizations: int,
    sigma: float,
    *,
    seed: int = 0,
    loss="exponential",
    accuracy: float = DEFAULT_ACCURACY,
    decades: int = 3,
    window=DEFAULT_WINDOW,
    max_steps: int = DEFAULT_MAX_STEPS,
    max_tries: int = 50,
) -> SlowingDown:
    """Measure critical slowing down over inseparable Gaussian draws as $\\lambda \\to \\frac12^-$.

    For each $\\lambda$ ($d = \\mathrm{round}(\\lambda n)$) the first `realizations` draws
    `draw_points(n, d, k, seed) * sigma` (`numpy.random.default_rng([seed, d, k])`) that the
    hard-margin QP (`is_separable`) finds inseparable are kept (at most `max_tries`
    tried). For each: the fixed point and slow eigenpair (Newton and `eigh`, batched),
    the prediction (`grokking_prediction`: $D^*$, $\\Delta\\tau$, $-h_1/\\tilde L^*$ and the
    $\\epsilon$ for `accuracy`), the measured $\\log(t_{gen}/t_{train})$ at that $\\epsilon$ and
    `decades` decades below (`grokking_time`), and the measured relaxation exponent
    (`relaxation`). Data are zero-padded to the largest $d$ (padding does not change the
    flow), so one compilation serves the whole sweep. Finally the divergence of the
    grokking ratio and of the relaxation time is fitted as a power of
    $\\frac12 - \\lambda$, measured and predicted alike (`fit_power_law`, weighted by the
    spread over draws).

    **Arguments:**

    - `n` ($\\ge 2$), `lambdas` (values in $(0, \\frac12)$), `realizations` ($\\ge 1$),
      `sigma` ($> 0$); `seed`.
    - `loss`: `"exponential"` (default) or `"logistic"`.
    - `accuracy`: relative accuracy for the choice of $\\epsilon$ (default `1e-2`).
    - `decades`: further decades of $\\epsilon$ checked below it (default 3).
    - `window`: the relaxation fit window (see `relaxation`).
    - `max_steps`: solver steps per solve (default 200 000); draws that need more are
      kept with their status, not raised ("near criticality, `max_steps_reached` is data").
    - `max_tries`: draws tried per $\\lambda$ to find inseparable ones.

    **Returns:** a `SlowingDown`.

    **Raises:** `ValueError` for bad arguments. Not jittable (the QP runs on the host).
    """
    n = _positive_int("n", n, 2)
    realizations = _positive_int("realizations", realizations)
    decades = _positive_int("decades", decades, 0)
    max_tries = _positive_int("max_tries", max_tries)
    lams = np.atleast_1d(np.asarray(lambdas, dtype=np.float64))
    if lams.ndim != 1 or lams.size == 0 or np.any(~np.isfinite(lams)) or np.any(lams <= 0) or \
            np.any(lams >= 0.5):
        raise ValueError(f"`lambdas` must be a non-empty 1-D array in (0, 1/2); got {lambdas!r}.")
    try:
        sigma = float(sigma)
    except (TypeError, ValueError):
        raise ValueError(f"`sigma` must be a positive number; got {sigma!r}.") from None
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"`sigma` must be positive and finite; got {sigma!r}.")
    accuracy = _check_accuracy(accuracy)
    ds = np.array([max(1, int(round(lam * n))) for lam in lams])
    width = int(ds.max())
    shape = (lams.size, realizations)
    arrays = {k: np.full(shape, np.nan) for k in (
        "norm", "ltilde", "h1", "log_eps", "log_ratio_predicted", "log_ratio_measured",
        "log_ratio_spread", "delta_tau_predicted", "delta_tau_measured",
        "exponent_predicted", "exponent_measured", "exponent_err", "exponent_norm",
        "exponent_norm_err")}
    status = np.full(shape, result_index(RESULTS.separable), dtype=np.int32)
    log_steps = np.log(10.0) * np.arange(decades + 1)
    for i, d in enumerate(ds):
        xs = []
        for k in range(max_tries):
            x = draw_points(n, int(d), k, seed)
            if not is_separable(x):
                xs.append(x)
                if len(xs) == realizations:
                    break
        if not xs:
            continue
        zb = np.zeros((len(xs), n, width))
        for k, x in enumerate(xs):
            zb[k, :, :d] = sigma * x
        pad = np.r_[np.zeros(d), np.ones(width - d)]
        fp = _fixed_points(jnp.asarray(zb), jnp.asarray(pad), DEFAULT_GTOL, 200, "cholesky",
                           True, None, None)
        w, code, h1, v1 = fp["w"], fp["code"], fp["h1"], fp["slow_direction"]
        for k in range(len(xs)):
            if int(code[k]) != 0:
                status[i, k] = result_index(_result_of(int(code[k])))
                continue
            problem = Problem(zb[k], loss=loss, sigma=sigma)
            pred = predict_from_fixed_point(problem, w[k], h1[k], v1[k], accuracy=accuracy)
            arrays["norm"][i, k] = sigma * pred.w_norm
            arrays["ltilde"][i, k] = pred.ltilde
            arrays["h1"][i, k] = pred.h1
            arrays["log_eps"][i, k] = pred.log_eps
            arrays["log_ratio_predicted"][i, k] = pred.log_ratio
            arrays["delta_tau_predicted"][i, k] = pred.delta_tau
            arrays["exponent_predicted"][i, k] = pred.relaxation_exponent
            gt = grokking_time(problem, log_eps=pred.log_eps - log_steps, accuracy=None,
                               t_max=math.inf, max_steps=int(max_steps), throw=False)
            failures = []
            if gt.successful:
                arrays["log_ratio_measured"][i, k] = gt.log_ratio[0]
                arrays["delta_tau_measured"][i, k] = gt.delta_tau[0]
                arrays["log_ratio_spread"][i, k] = float(
                    np.max(np.abs(gt.log_ratio - gt.log_ratio[0])) / abs(gt.log_ratio[0]))
            else:
                failures.append(gt.result)
            rel = relaxation(problem, window=window, max_steps=int(max_steps),
                             prediction=pred, w_star=w[k], slow_direction=v1[k], throw=False)
            if rel.successful:
                arrays["exponent_measured"][i, k] = rel.exponent
                arrays["exponent_err"][i, k] = rel.exponent_err
                arrays["exponent_norm"][i, k] = rel.exponent_norm
                arrays["exponent_norm_err"][i, k] = rel.exponent_norm_err
            else:
                failures.append(rel.result)
            status[i, k] = result_index(failures[0] if failures else RESULTS.successful)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_pred = -1.0 / arrays["exponent_predicted"]
        t_meas = -1.0 / arrays["exponent_measured"]
    lr_mean, lr_err = _mean_and_err(arrays["log_ratio_measured"])
    lp_mean, lp_err = _mean_and_err(arrays["log_ratio_predicted"])
    tm_mean, tm_err = _mean_and_err(t_meas)
    tp_mean, tp_err = _mean_and_err(t_pred)
    lam_used = ds / n
    return SlowingDown(
        n=n, sigma=sigma, seed=int(seed), realizations=realizations, lam=lam_used, d=ds,
        relaxation_time_predicted=t_pred, relaxation_time_measured=t_meas,
        result=status,
        log_ratio_mean=lr_mean, log_ratio_predicted_mean=lp_mean,
        relaxation_time_mean=tm_mean, relaxation_time_predicted_mean=tp_mean,
        log_ratio_law=fit_power_law(lam_used, lr_mean, lr_err),
        log_ratio_predicted_law=fit_power_law(lam_used, lp_mean, lp_err),
        relaxation_law=fit_power_law(lam_used, tm_mean, tm_err),
        relaxation_predicted_law=fit_power_law(lam_used, tp_mean, tp_err),
        **arrays,
    )


__all__ = [
    "PowerLaw",
    "Relaxation",
    "SlowingDown",
    "fit_power_law",
    "relaxation",
    "slowing_down",
]
