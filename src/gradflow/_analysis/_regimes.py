"""Where gradient flow goes on any data set: the three regimes (docs/mathematics.md §7a).

Decided by the extended points $\\hat z_i = (y_ix_i, a_i)$ (`points(problem, True)`;
$a_i = y_i$ with a bias, 0 without):

- **inseparable** (no $\\theta$ with $\\hat z_i\\cdot\\theta > 0$ for all $i$): the
  training loss has a finite minimizer $\\theta^*$, the maximum-likelihood fit, which is
  the fixed point of the physical-time flow. Found by damped Newton on the training loss
  with the analytic Hessian of `PhysicalTime` ($J = -\\nabla^2L$); its eigenvalues are the
  relaxation rates in physical time.
- **separable**: $\\theta(t) = \\hat\\theta\\log t + \\rho + o(1)$ (Soudry et al. 2018),
  $\\hat\\theta = \\arg\\min\\{\\|\\theta\\|^2 : \\hat z_i\\cdot\\theta \\ge 1\\}$, the hard-margin
  SVM of the extended points (the bias penalized like a weight). With $S$ the support
  vectors, the projection of $\\rho$ on $\\mathrm{span}\\{\\hat z_i\\}_S$ minimizes
  $F(\\rho) = \\frac1n\\sum_{i\\in S}e^{-\\hat z_i\\cdot\\rho} + \\hat\\theta\\cdot\\rho$.
  Since $\\hat z_i\\cdot\\hat\\theta = 1$ on $S$, writing $\\rho = \\rho_\\perp + c\\hat\\theta$
  ($\\rho_\\perp\\perp\\hat\\theta$) gives $c = \\log(G(\\rho_\\perp)/\\|\\hat\\theta\\|^2)$ and
  leaves $\\min\\log G(\\rho_\\perp)$, $G = \\frac1n\\sum_S e^{-\\hat z_i\\cdot\\rho_\\perp}$:
  a $\\log\\tilde L$ of the support vectors projected off $\\hat\\theta$, solved by the
  kernel's Newton (`gradflow._ltilde.newton`) in coordinates of their span. The angle
  between $\\theta(t)$ and $\\hat\\theta$ closes like
  $\\|\\rho_\\perp\\|/(\\|\\hat\\theta\\|\\log t)$, plus the part of the finite part outside
  the span, which the transient sets (`Regime.predicted_angle` can take it from a state).
- **bias_separable** (a bias, all labels equal, the $y_ix_i$ inseparable: the paper's
  model): $\\hat\\theta = (0, y)$, every point is a support vector, and the same formula
  gives $\\rho = (w^*, y\\log\\tilde L^*)$: today's conformal fixed point.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import _tolerance
from .._config import compiled
from .._flow import PhysicalTime
from .._ltilde import (
    CONVERGED,
    DEFAULT_GTOL,
    DEFAULT_MAX_STEPS,
    MAX_STEPS,
    SEPARATED,
    weighted_gram,
)
from .._problem import Params, Problem
from .._results import RESULTS, AbstractResult, AnalysisError
from ._fixed_point import _newton_jit
from ._separability import _check_problem, is_separable, points, qp_margin

jax.config.update("jax_enable_x64", True)

#: The regimes, as reported in `Regime.regime`.
REGIMES = ("inseparable", "separable", "bias_separable")
#: A point is a support vector when $\hat z_i\cdot\hat\theta \le 1 + $ this.
SUPPORT_RTOL = 1e-6
_ARMIJO = 1e-4
_MAX_HALVINGS = 60
_RESOLVED = 1e3


class Regime(AbstractResult):
    """Which regime gradient flow is in on a data set, its limit and its rates.

    $\\theta = (w, b)$ throughout (shape `(d+1,)`; `b` is 0 without a bias).

    **Fields:**

    - `regime`: `"inseparable"`, `"separable"` or `"bias_separable"` (module docstring).
    - `theta_star`: the maximum-likelihood fit $\\theta^*$, the flow's finite limit
      (inseparable; NaN otherwise).
    - `theta_hat`: the growth direction $\\hat\\theta = \\lim\\theta/\\log t$, the
      margin-1 hard-margin SVM of the extended points (zeros when inseparable).
    - `margin`: $1/\\|\\hat\\theta\\|$, the extended points' margin (0 when inseparable).
    - `support`: boolean mask of the support vectors (all `False` when inseparable).
    - `rho`: the finite part $\\lim(\\theta - \\hat\\theta\\log t)$ projected on the span of
      the support vectors (NaN when inseparable). For bias_separable it is
      $(w^*, y\\log\\tilde L^*)$.
    - `angle_coefficient`: $\\|\\rho_\\perp\\|/\\|\\hat\\theta\\|$, so that the angle between
      $\\theta(t)$ and $\\hat\\theta$ is about `angle_coefficient / log(t)` from the
      span part of the finite part (NaN when inseparable). The flow's finite part also
      has a component outside that span, set by the transient (on two wine cultivars its
      norm is 3.6 against $\\|\\rho_\\perp\\| = 2.0$, and the measured angle about twice
      the span part's); `predicted_angle(t, late=...)` adds it from one late state.
    - `rates`: relaxation rates, ascending. Inseparable: the eigenvalues of the
      training loss's Hessian at $\\theta^*$ (physical time, $\\|\\theta - \\theta^*\\|
      \\propto e^{-\\text{rate}\\,t}$). Separable: the eigenvalues of $\\nabla^2F(\\rho)$ on
      the span of the support vectors (log time $s = \\log t$); for bias_separable these
      are $\\{1\\}\\cup\\{h_k/\\tilde L^*\\}$, as in `stability(...).log_eigenvalues`.
    - `span`: an orthonormal basis (columns, shape `(d+1, r)`) of the span of the
      support vectors $\\{\\hat z_i\\}_S$, where `rho` lives (shape `(d+1, 0)` when
      inseparable).
    - `grad_norm`: the gradient norm at the solution (of the training loss at
      $\\theta^*$, or of $F$ at $\\rho$ on the span).
    - `steps`: Newton iterations.
    - `positive_class`: the original label that is $+1$.
    - `result`: a `RESULTS` member (`successful`, `max_steps_reached`,
      `newton_stalled`, or `degenerate_support`).
    """

    regime: str = eqx.field(static=True)
    theta_star: np.ndarray
    theta_hat: np.ndarray
    margin: float
    support: np.ndarray
    rho: np.ndarray
    angle_coefficient: float
    rates: np.ndarray
    span: np.ndarray
    grad_norm: float
    steps: int
    positive_class: object = eqx.field(static=True)
    result: RESULTS

    @property
    def separable(self) -> bool:
        """Whether $\\theta$ grows without bound (separable or bias_separable)."""
        return self.regime != "inseparable"

    @property
    def w(self) -> np.ndarray:
        """The weights of the limit: $w^*$ (inseparable) or $\\rho_w$ (separable)."""
        theta = self.theta_star if self.regime == "inseparable" else self.rho
        return theta[:-1]

    @property
    def b(self) -> float:
        """The bias of the limit: $b^*$ (inseparable) or $\\rho_b$, the limit of
        $b - \\hat b\\log t$ (separable)."""
        theta = self.theta_star if self.regime == "inseparable" else self.rho
        return float(theta[-1])

    @property
    def direction(self) -> np.ndarray:
        """$\\hat\\theta/\\|\\hat\\theta\\|$ (zeros when inseparable)."""
        norm = np.linalg.norm(self.theta_hat)
        return self.theta_hat / norm if norm > 0 else self.theta_hat

    def _need_separable(self, name):
        if self.regime == "inseparable":
            raise ValueError(f"`{name}` needs a separable regime; this problem is "
                             "inseparable (θ converges to `theta_star`).")

    def residual(self, t, theta):
        """Split $\\theta - \\hat\\theta\\log t$ of a flow state `theta` = $(w, b)$ at
        physical time `t` into its projection on the support vectors' span (which tends
        to `rho`) and the rest (set by the transient; it converges too).

        **Returns:** `(in_span, out_of_span)`, each of shape `(d+1,)`.

        **Raises:** `ValueError` when inseparable, or for a `theta` of the wrong shape.
        """
        self._need_separable("residual")
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != self.theta_hat.shape:
            raise ValueError(f"`theta` must have shape {self.theta_hat.shape} (w then b); "
                             f"got {theta.shape}.")
        res = theta - self.theta_hat * math.log(float(t))
        in_span = self.span @ (self.span.T @ res)
        return in_span, res - in_span

    def predicted_angle(self, t, *, late=None):
        """The predicted angle (radians) between $\\theta(t)$ and $\\hat\\theta$ at
        physical time(s) `t` > 1: $\\arctan(\\|r_\\perp\\|/(\\|\\hat\\theta\\|\\log t +
        r\\cdot\\hat\\theta/\\|\\hat\\theta\\|))$, $r$ the finite part, i.e.
        $\\|r_\\perp\\|/(\\|\\hat\\theta\\|\\log t)$ to leading order.

        With `late=None`, $r = \\rho$ (the span part alone, `angle_coefficient`). The part
        of $r$ outside the span is set by the transient; `late = (t_late, theta_late)`, a
        flow state at a late time, supplies it (`residual`), and the law then predicts
        every other time.

        **Raises:** `ValueError` when inseparable (θ converges; there is no angle law).
        """
        self._need_separable("predicted_angle")
        r = self.rho
        if late is not None:
            r = r + self.residual(*late)[1]
        norm = float(np.linalg.norm(self.theta_hat))
        along = float(r @ self.theta_hat) / norm
        perp = float(np.linalg.norm(r - along * self.theta_hat / norm))
        return np.arctan2(perp, norm * np.log(np.asarray(t, dtype=np.float64)) + along)


# --------------------------------------------------------------------------- inseparable


def _theta(problem: Problem, theta):
    return Params(theta[:-1], theta[-1])


@compiled
@eqx.filter_jit
def _loss_grad_hess(problem: Problem, theta):
    """Training loss, its gradient and Hessian at $\\theta = (w, b)$, from the physical
    clock's field ($-\\nabla L$) and Jacobian ($-\\nabla^2 L$). Without a bias the $b$ row
    and column are the identity's, so $b$ stays put."""
    clock = PhysicalTime()
    params = _theta(problem, theta)
    field, c = clock.field_and_curvature(0.0, params, problem)
    grad = -jnp.concatenate([field.w, field.b[None]])
    hess = -clock.linear_part(0.0, params, problem, c)
    if not problem.fit_bias:
        hess = hess.at[-1, -1].set(1.0)
    return problem.train_loss(params.w, params.b), grad, hess


def _row_scale(zext: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum(zext * zext, axis=1))))


def _mle(problem: Problem, gtol: float, max_steps: int):
    """Damped Newton (Armijo) on the training loss from 0: `(theta, grad_norm, steps,
    result)`. Stops one step after $\\|\\nabla L\\| \\le$ `gtol` × RMS$_i\\|\\hat z_i\\|$ ×
    $L(0)$ first holds (then Newton is in its quadratic phase)."""
    d = problem.d
    theta = np.zeros(d + 1)
    f, g, h = (np.asarray(v) for v in _loss_grad_hess(problem, jnp.asarray(theta)))
    tol = gtol * _row_scale(points(problem, True)) * float(f)
    met_before = False
    for k in range(max_steps):
        gnorm = float(np.linalg.norm(g))
        if gnorm <= tol and met_before:
            return theta, gnorm, k, RESULTS.successful
        met_before = met_before or gnorm <= tol
        try:
            step = -np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            return theta, gnorm, k, RESULTS.newton_stalled
        slope = float(g @ step)
        resolved = -slope > _RESOLVED * np.finfo(float).eps * (abs(float(f)) + 1.0)
        if not (np.all(np.isfinite(step)) and (slope < 0 or not resolved)):
            return theta, gnorm, k, (RESULTS.successful if gnorm <= 1e3 * tol
                                     else RESULTS.newton_stalled)
        t = 1.0
        for _ in range(_MAX_HALVINGS):
            f_new, g_new, h_new = (np.asarray(v) for v in
                                   _loss_grad_hess(problem, jnp.asarray(theta + t * step)))
            if np.isfinite(f_new) and (f_new <= f + _ARMIJO * t * slope or not resolved):
                break
            t *= 0.5
        else:
            return theta, gnorm, k, (RESULTS.successful if gnorm <= 1e3 * tol
                                     else RESULTS.newton_stalled)
        theta, f, g, h = theta + t * step, f_new, g_new, h_new
    gnorm = float(np.linalg.norm(g))
    return theta, gnorm, max_steps, (RESULTS.successful if gnorm <= tol
                                     else RESULTS.max_steps_reached)


# --------------------------------------------------------------------------- separable


def _finite_part(zs: np.ndarray, theta_hat: np.ndarray, n: int, gtol: float,
                 max_steps: int):
    """$\\rho$ on the span of the support vectors `zs` (rows $\\hat z_i$, $i \\in S$):
    `(rho, grad_norm, steps, result, rates)` (module docstring)."""
    norm2 = float(theta_hat @ theta_hat)
    e = theta_hat / math.sqrt(norm2)
    q = zs - np.outer(zs @ e, e)  # support vectors projected off theta_hat
    _, sv, vt = np.linalg.svd(q, full_matrices=False)
    rank = int(np.sum(sv > 1e-10 * max(float(sv[0]) if sv.size else 0.0, 1e-300)))
    basis = vt[:rank].T  # (D, rank): orthonormal basis of span(q_S)
    k = zs.shape[0]
    steps, result = 0, RESULTS.successful
    if rank > 0:
        coords = q @ basis
        v, log_lt, _, steps, code = _newton_jit(jnp.asarray(coords), jnp.zeros(rank),
                                                gtol, max_steps)
        code = int(code)
        if code == SEPARATED:
            result = RESULTS.degenerate_support
        elif code != CONVERGED:
            result = (RESULTS.max_steps_reached if code == MAX_STEPS
                      else RESULTS.newton_stalled)
        rho_perp = basis @ np.asarray(v)
        log_lt = float(log_lt)
    else:
        rho_perp = np.zeros_like(theta_hat)
        log_lt = 0.0
    # G = (1/n) sum_S exp(-z.rho_perp) = (k/n) L~_S;  c = log(G / |theta_hat|^2)
    c = log_lt + math.log(k / n) - math.log(norm2)
    rho = rho_perp + c * theta_hat
    # gradient of F on the span and its Hessian (log-time rates)
    weights = np.exp(-(zs @ rho)) / n
    grad = theta_hat - zs.T @ weights
    hess = np.asarray(weighted_gram(jnp.asarray(zs), jnp.asarray(weights)))
    eig = np.linalg.eigvalsh(hess)
    rates = np.sort(eig)[-(rank + 1):]
    _, sz, vz = np.linalg.svd(zs, full_matrices=False)
    span = vz[: int(np.sum(sz > 1e-10 * sz[0]))].T
    return rho, float(np.linalg.norm(grad)), int(steps), result, rates, span


def _bias_separable(problem: Problem) -> bool:
    y = np.asarray(problem.y)
    return bool(problem.fit_bias and np.all(y == y[0]) and not is_separable(problem.z))


# --------------------------------------------------------------------------- entry point


def regime(problem: Problem, *, gtol: float = DEFAULT_GTOL,
           max_steps: int = DEFAULT_MAX_STEPS, throw: bool = True) -> Regime:
    """Which regime gradient flow is in on `problem`, its limit and rates, without
    integrating (docs/mathematics.md §7a; module docstring).

    **Arguments:**

    - `problem`: any `Problem` (labels $\\pm1$, with or without a bias; exponentially
      tailed loss: logistic or exponential). The MLE is that of `problem.loss`; the
      separable limits hold for both losses alike.
    - `gtol`: relative gradient tolerance of the Newton solves (default `1e-10`).
    - `max_steps`: Newton iterations allowed (default 200).
    - `throw`: raise `AnalysisError` (partial `Regime` on `.result`) when a Newton
      solve does not converge (default).

    **Returns:** a `Regime`.

    **Raises:** `ValueError` for a non-`Problem`, `gtol` outside $[10^{-14}, 10^{-2}]$
    or a bad `max_steps`; `AnalysisError` as above. Not jittable (the separability
    QP runs on the host).
    """
    problem = _check_problem(problem)
    gtol = _tolerance("gtol", gtol)
    if isinstance(max_steps, bool) or int(max_steps) != max_steps or max_steps < 1:
        raise ValueError(f"`max_steps` must be a positive integer; got {max_steps!r}.")
    max_steps = int(max_steps)
    zext = points(problem, True)
    n, dim = zext.shape
    nan = np.full(dim, np.nan)
    if _bias_separable(problem):
        name = "bias_separable"
        theta_hat = np.zeros(dim)
        theta_hat[-1] = float(problem.y[0])
        status = "solved"
    else:
        status, theta_hat, _ = qp_margin(zext)
        name = "separable" if status == "solved" else "inseparable"
    if name == "inseparable":
        active = zext if problem.fit_bias else zext[:, :-1]
        rank = int(np.linalg.matrix_rank(active))
        if rank < active.shape[1]:
            raise ValueError(
                f"`problem` is not of the reduced form and its extended points "
                f"(y_i x_i, a_i) span only {rank} of {active.shape[1]} dimensions: the "
                "training loss has a continuum of minimizers and no unique limit. Drop "
                "redundant features."
            )
        theta, gnorm, steps, result = _mle(problem, gtol, max_steps)
        _, _, hess = _loss_grad_hess(problem, jnp.asarray(theta))
        hess = np.asarray(hess)
        if not problem.fit_bias:
            hess = hess[:-1, :-1]
        out = Regime(name, theta, np.zeros(dim), 0.0, np.zeros(n, bool), nan,
                     float("nan"), np.linalg.eigvalsh(hess), np.zeros((dim, 0)), gnorm, steps,
                     problem.positive_class, result)
    else:
        proj = zext @ theta_hat
        support = (np.ones(n, bool) if name == "bias_separable"
                   else proj <= 1.0 + SUPPORT_RTOL)
        rho, gnorm, steps, result, rates, span = _finite_part(
            zext[support], theta_hat, n, gtol, max_steps)
        norm = float(np.linalg.norm(theta_hat))
        perp = rho - (rho @ theta_hat) / norm**2 * theta_hat
        out = Regime(name, nan, theta_hat, 1.0 / norm, support, rho,
                     float(np.linalg.norm(perp)) / norm, rates, span, gnorm, steps,
                     problem.positive_class, result)
    if throw and not out.successful:
        raise AnalysisError(
            f"regime ({name}) did not converge after {out.steps} Newton steps: "
            f"{out.message} (The partial result is on this exception's `.result`.)", out)
    return out
