"""Where gradient flow ends up, predicted before integrating (docs/mathematics.md §7).

For exponentially tailed losses $\\theta(t) = \\hat\\theta\\log t + O(1)$ with
$\\hat\\theta = \\arg\\min\\{\\|\\theta\\|^2 : \\hat z_i\\cdot\\theta \\ge 1\\}$, the extended
hard-margin SVM on $\\hat z_i = (z_i, a_i)$ (Soudry et al.; paper Prop 3.2).

- Inseparable $z$ (reduced model): $\\hat\\theta = (0, 1)$, $w \\to w^*$,
  $b - \\log t \\to \\log\\tilde L(w^*)$, test accuracy $\\to 1$.
- Separable, margin $\\gamma$, direction $u$: $\\hat\\theta =
  (\\gamma u, 1)/(1+\\gamma^2)$, $b/\\|w\\| \\to 1/\\gamma$, test accuracy
  $\\to \\Phi(1/(\\sigma\\gamma))$ for the Gaussian population.

Any other problem (both labels, or no bias) is analysed by `regime`
(docs/mathematics.md §7a) and reported in the same fields.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._problem import Problem
from ._fixed_point import fixed_point
from ._regimes import Regime, regime
from ._separability import _check_problem, separability
from ._stability import _check_reduced


class Asymptotics(eqx.Module):
    """The $t\\to\\infty$ limit of gradient flow.

    **Fields** (for the reduced model; other problems below):

    - `regime`: `"bias_separable"` (the reduced model with $z_i$ inseparable),
      `"separable"` or `"inseparable"` (a finite optimum; never for the reduced model).
    - `separable`: phase of the data ($z_i$ separable from the origin); always
      `regime == "separable"`.
    - `margin`: $\\gamma$ of the data (0 when inseparable).
    - `w_hat`, `b_hat`: $\\hat\\theta$, the growth rates $dw/d\\log t$, $db/d\\log t$.
    - `w_rate`: $d\\|w\\|/d\\log t = \\|\\hat w\\|$ ($\\gamma/(1+\\gamma^2)$ or 0);
      `b_rate`: $db/d\\log t$ ($1/(1+\\gamma^2)$ or 1).
    - `order_parameter`: $m = \\lim\\|w\\|/b$ ($\\gamma$ or 0); `bias_ratio`:
      $\\lim b/\\|w\\| = 1/m$ (`inf` when inseparable).
    - `test_accuracy`: the limiting test accuracy, the accuracy of the direction
      $\\hat\\theta$ ($\\Phi(1/(\\sigma\\gamma))$ for the Gaussian population, 1 when
      inseparable); NaN if the problem defines no test metric.
    - `w_star`: the finite limit $w^*$ of $w$ (NaN when separable).
    - `b_offset`: $\\lim(b - \\log t) = \\log\\tilde L(w^*)$ (NaN when separable).
    - `analysis`: the full `Regime` (support vectors, finite part $\\rho$, angle law,
      rates), or `None` if its Newton solve did not converge.

    For any other problem (both labels, or no bias; `regime` decides): `margin` is the
    extended points' margin $1/\\|\\hat\\theta\\|$; `w_hat`, `b_hat` are $\\hat\\theta$
    (zeros when inseparable); `w_rate`, `b_rate` as above; `order_parameter`
    $= \\|\\hat w\\|/|\\hat b|$ and `bias_ratio` its inverse (NaN when inseparable);
    `test_accuracy` is that of $\\hat\\theta$, or of $\\theta^*$ when inseparable;
    `w_star`, `b_offset` are the maximum-likelihood $w^*$, $b^*$ when inseparable
    ($b_{offset} = \\lim(b - \\hat b\\log t)$ with $\\hat b = 0$), NaN when separable.
    """

    separable: bool
    margin: float
    w_hat: np.ndarray
    b_hat: float
    w_rate: float
    b_rate: float
    order_parameter: float
    bias_ratio: float
    test_accuracy: float
    w_star: np.ndarray
    b_offset: float
    regime: str = eqx.field(static=True, default="")
    analysis: Regime | None = None


def asymptotics(problem: Problem) -> Asymptotics:
    """Predict the late-time state of gradient flow without integrating (docs/mathematics.md §7).

    Holds for the logistic and exponential losses alike (both are exponentially tailed).

    **Arguments:** `problem`: any `Problem`. The reduced model (a bias and all labels
    $+1$) keeps its closed forms; any other is analysed by `regime`.

    **Returns:** an `Asymptotics`.

    **Raises:** `ValueError` for a non-`Problem` or an inseparable problem whose
    extended points do not span (no unique limit); `AnalysisError` (a `RuntimeError`)
    if a Newton solve fails. Not jittable (LP and QP on the host).
    """
    problem = _check_problem(problem)
    try:
        _check_reduced(problem)
    except ValueError:
        return _general(problem)
    sep = separability(problem)
    d = problem.d
    if sep.separable:
        g = sep.margin
        w_hat = g * np.asarray(sep.direction) / (1.0 + g * g)
        b_hat = 1.0 / (1.0 + g * g)
        w_star = np.full(d, np.nan)
        b_offset = float("nan")
    else:
        g = 0.0
        w_hat = np.zeros(d)
        b_hat = 1.0
        fp = fixed_point(problem)
        w_star = np.asarray(fp.w)
        b_offset = float(fp.log_ltilde)
    acc = float(problem.test_accuracy(jnp.asarray(w_hat), jnp.asarray(b_hat)))
    w_rate = float(np.linalg.norm(w_hat))
    return Asymptotics(
        bool(sep.separable), float(g), w_hat, float(b_hat), w_rate, float(b_hat),
        float(w_rate / b_hat), float(b_hat / w_rate) if w_rate > 0 else float("inf"),
        acc, w_star, b_offset, "separable" if sep.separable else "bias_separable",
        _analysis(problem),
    )


def _analysis(problem: Problem) -> Regime | None:
    try:
        return regime(problem, throw=False)
    except ValueError:  # points that do not span
        return None


def _general(problem: Problem) -> Asymptotics:
    """`asymptotics` of a problem that is not of the reduced form, from `regime`."""
    r = regime(problem)
    d = problem.d
    nan = float("nan")
    if r.regime == "inseparable":
        theta = r.theta_star
        w_hat, b_hat = np.zeros(d), 0.0
        w_star, b_offset, margin = theta[:d], float(theta[d]), 0.0
        ratio, inverse = nan, nan
    else:
        theta = r.theta_hat
        w_hat, b_hat = theta[:d], float(theta[d])
        w_star, b_offset, margin = np.full(d, np.nan), nan, float(r.margin)
        w_norm = float(np.linalg.norm(w_hat))
        ratio = w_norm / abs(b_hat) if b_hat != 0 else float("inf")
        inverse = abs(b_hat) / w_norm if w_norm > 0 else float("inf")
    acc = float(problem.test_accuracy(jnp.asarray(theta[:d]), jnp.asarray(theta[d])))
    return Asymptotics(
        r.regime == "separable", margin, w_hat, b_hat, float(np.linalg.norm(w_hat)), b_hat,
        ratio, inverse, acc, w_star, b_offset, r.regime, r,
    )
