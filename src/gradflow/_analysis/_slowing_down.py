"""Critical slowing down: relaxation and grokking times as $\\lambda \\to \\frac12^-$.

docs/mathematics.md §8, §10, §12. Near the fixed point the log-time flow relaxes as
$\\|w - w^*\\| \\propto t^{-h_1/\\tilde L^*}$, and $h_1 \\to 0$ as the data approach
separability (`relaxation`, in `_relaxation.py`). `slowing_down` sweeps $\\lambda$ over
inseparable Gaussian draws, measures the grokking ratio (`grokking_time`, at the
$\\epsilon$ chosen by `grokking_prediction`) and the relaxation exponent, sets them beside
their fixed-point predictions, and fits how both diverge against $\\frac12 - \\lambda$
(`fit_power_law`, in `_power_law.py`).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import _positive, _positive_int
from .._problem import Problem
from .._results import RESULTS, AbstractResult, result_index
from ._draws import _fixed_points, draw_points
from ._fixed_point import DEFAULT_GTOL, _result_of
from ._grokking_prediction import DEFAULT_ACCURACY, _check_accuracy, predict_from_fixed_point
from ._grokking_time import grokking_time
from ._large_n import cgmt_log_ratio
from ._power_law import PowerLaw, _mean_and_err, fit_power_law
from ._relaxation import DEFAULT_MAX_STEPS, DEFAULT_WINDOW, relaxation
from ._separability import is_separable

jax.config.update("jax_enable_x64", True)


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
    sigma = _positive("sigma", sigma)
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



class SlowingDownCurves(eqx.Module):
    """What `slowing_down_figure` draws from a `SlowingDown`, against the gap
    $g = \\frac12 - \\lambda$.

    **Fields:**

    - `gap` (shape `(L,)`) and `gap_draws` (shape `(L, R)`, the gap of each draw).
    - `fit_gap`: 50 gaps spanning `gap`, geometrically; `log_ratio_fit`,
      `log_ratio_predicted_fit`, `relaxation_fit`, `relaxation_predicted_fit`: the four
      power laws of the `SlowingDown` there (`PowerLaw.at_gap`).
    - `cgmt_gap`, `cgmt_log_ratio`: 30 gaps in $[\\max(g_{min}, 10^{-3}),
      \\min(g_{max}, 0.45)]$ and the $n = \\infty$ ratio $r^2/2 - \\log\\tilde L^*$ there
      (`cgmt_log_ratio`); empty without `large_n`.
    - `log_ratio_error`, `exponent_error`: measured / predicted $- 1$ per draw, for the
      grokking ratio and the relaxation exponent (shape `(L, R)`).
    """

    gap: np.ndarray
    gap_draws: np.ndarray
    fit_gap: np.ndarray
    log_ratio_fit: np.ndarray
    log_ratio_predicted_fit: np.ndarray
    relaxation_fit: np.ndarray
    relaxation_predicted_fit: np.ndarray
    cgmt_gap: np.ndarray
    cgmt_log_ratio: np.ndarray
    log_ratio_error: np.ndarray
    exponent_error: np.ndarray


def slowing_down_curves(sd: SlowingDown, *, large_n: bool = True) -> SlowingDownCurves:
    """The curves beside a `SlowingDown`'s points (see `SlowingDownCurves`).

    **Arguments:** `sd`: a `SlowingDown`; `large_n`: also solve the CGMT equations for the
    $n = \\infty$ grokking ratio (a few seconds).

    **Returns:** a `SlowingDownCurves`.
    """
    gap = 0.5 - sd.lam
    fit_gap = np.geomspace(gap.min(), gap.max(), 50)
    if large_n:
        cgmt_gap = np.geomspace(max(gap.min(), 1e-3), min(gap.max(), 0.45), 30)
        cgmt = cgmt_log_ratio(0.5 - cgmt_gap)
    else:
        cgmt_gap = cgmt = np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        e_ratio = sd.log_ratio_measured / sd.log_ratio_predicted - 1.0
        e_relax = sd.exponent_measured / sd.exponent_predicted - 1.0
    return SlowingDownCurves(
        gap=gap,
        gap_draws=np.broadcast_to(gap[:, None], sd.log_ratio_measured.shape),
        fit_gap=fit_gap,
        log_ratio_fit=sd.log_ratio_law.at_gap(fit_gap),
        log_ratio_predicted_fit=sd.log_ratio_predicted_law.at_gap(fit_gap),
        relaxation_fit=sd.relaxation_law.at_gap(fit_gap),
        relaxation_predicted_fit=sd.relaxation_predicted_law.at_gap(fit_gap),
        cgmt_gap=cgmt_gap,
        cgmt_log_ratio=cgmt,
        log_ratio_error=e_ratio,
        exponent_error=e_relax,
    )


__all__ = [
    "SlowingDown",
    "SlowingDownCurves",
    "slowing_down",
    "slowing_down_curves",
]
