"""The grokking time predicted from the fixed point (docs/mathematics.md §8, §10).

`grokking_prediction` needs the fixed point only: for the exponential loss
$\\log(t_{gen}/t_{train}) \\to \\sigma^2\\|w^*\\|^2/2 - \\log\\tilde L^*$ and
$\\tau_{gen} - \\tau_{train} \\to$ that over $\\tilde L^*$ (docs/mathematics.md §10, not the paper's
Eqs. 40–41); the relaxation rate $h_1$ says how small $\\epsilon$ must be.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

from .._config import compiled
from .._integrate import initial_params
from .._ltilde import log_ltilde, polish
from .._problem import Problem
from .._results import AbstractResult
from ._fixed_point import AnalysisResults, fixed_point
from ._log_losses import _log_ratio_of_w
from ._one_dim import as_problem
from ._stability import _check_reduced, stability

jax.config.update("jax_enable_x64", True)

#: Default relative accuracy asked of the prediction when choosing $\epsilon$.
DEFAULT_ACCURACY = 1e-2
#: Safety factor on the amplitude of the slow mode in the choice of $\epsilon$ (the
#: linear estimate of that amplitude from $w_0$ ignores the nonlinear transient).
EPS_SAFETY = 10.0
#: Safety factor on the bias-transient term $\epsilon e^{b_0}/\tilde L^*$ of the error
#: estimate (that term is accurate, so without it the error at `eps` would be `accuracy`
#: itself rather than below it).
BIAS_SAFETY = 2.0


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
