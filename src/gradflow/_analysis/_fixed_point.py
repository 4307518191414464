"""The conformal-time fixed point $w^* = \\arg\\min\\tilde L$ (docs/mathematics.md §8).

$\\tilde L(w) = \\frac1n\\sum_i e^{-w\\cdot z_i}$ with $z_i = y_ix_i$ (`problem.z`). For the
reduced model (all labels $+1$, with a bias) the exponential-loss flow in conformal time
is exactly $\\frac{dw}{d\\tau} = -\\nabla\\tilde L(w)$, so $w^*$ is where the generalizing
solution settles (for the logistic loss too, since it tends to the exponential one as
$b \\to \\infty$). For `fit_bias=False` it is the minimizer of the exponential training
loss itself. $w^*$ is finite and unique iff the points are inseparable (and span
$\\mathbb R^d$).

Solver: damped Newton on the convex $\\log\\tilde L$ from $w = 0$, with the Newton system
solved by lineax (Cholesky) and an Armijo backtracking line search, all inside
`jax.lax.while_loop` so that it jits and vmaps (one compiled solver per shape).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import _tolerance
from .._config import compiled
from .._ltilde import (
    CONVERGED,
    DEFAULT_GTOL,
    DEFAULT_MAX_STEPS,
    MAX_STEPS,
    SEPARATED,
    ltilde_grad_norm,
    newton,
)
from .._problem import Problem
from .._results import RESULTS, AbstractResult, AnalysisError
from ._separability import _check_problem, is_separable

jax.config.update("jax_enable_x64", True)



#: The outcomes of the analyses: `RESULTS` itself (one vocabulary for every result).
AnalysisResults = RESULTS


class FixedPoint(AbstractResult):
    """The fixed point $w^*$ of the conformal-time flow, or why there is none.

    **Fields:**

    - `w`: $w^*$, shape `(d,)`; NaN when there is no finite fixed point (separable).
    - `log_ltilde`: $\\log\\tilde L(w^*)$ (the limit of $b - \\log t$, docs/mathematics.md §7).
    - `grad_norm`: $\\|\\nabla\\tilde L(w^*)\\|$, the conformal vector field at `w`.
    - `steps`: Newton iterations used.
    - `result`: an `AnalysisResults` member.

    - `b`: the bias of the fixed point where it has one: the maximum-likelihood $b^*$
      for a problem with a bias and both labels (`regime == "inseparable"`); `None`
      otherwise (the reduced model's $b$ grows like $\\log t$).
    - `regime`: the regime of the flow (`gradflow.regime`): `"bias_separable"` (the
      paper's model: a bias, all labels equal, $z_i$ inseparable; `w` is $w^*$),
      `"separable"` (no finite fixed point) or `"inseparable"` (a finite optimum:
      without a bias, `w` minimizes $\\tilde L$, the exponential training loss; with a
      bias and both labels, `(w, b)` is the maximum-likelihood fit of `problem.loss`, the
      physical-time fixed point, and `log_ltilde`, `grad_norm` are the log training loss
      and its gradient norm there). `""` from `fixed_point_from_points`, which does not
      decide.

    `status` says `"successful"`, `"separable"` (no finite fixed point),
    `"max_steps_reached"` or `"newton_stalled"`, `message` what it means, `successful`
    whether there is a fixed point; `ltilde` is $\\tilde L(w^*)$ and `norm` is
    $\\|w^*\\|$.
    """

    w: jax.Array
    log_ltilde: jax.Array
    grad_norm: jax.Array
    steps: jax.Array
    result: AnalysisResults
    b: jax.Array | None = None
    regime: str = eqx.field(static=True, default="")

    @property
    def ltilde(self):
        """$\\tilde L(w^*)$."""
        return jnp.exp(self.log_ltilde)

    @property
    def norm(self):
        """$\\|w^*\\|$."""
        return jnp.linalg.norm(self.w, axis=-1)


_newton_jit = compiled(eqx.filter_jit(newton))


def _result_of(code):
    """The `AnalysisResults` member of a Newton outcome code (`gradflow._ltilde`)."""
    return AnalysisResults.where(
        code == CONVERGED,
        AnalysisResults.successful,
        AnalysisResults.where(
            code == SEPARATED,
            AnalysisResults.separable,
            AnalysisResults.where(
                code == MAX_STEPS, AnalysisResults.max_steps_reached,
                AnalysisResults.newton_stalled
            ),
        ),
    )


def fixed_point_from_points(z, *, w0=None, gtol=DEFAULT_GTOL, max_steps=DEFAULT_MAX_STEPS):
    """Newton only (no LP) on points `z` of shape `(n, d)`: jit/vmap-able core of
    `fixed_point`. Returns a `FixedPoint` whose `result` is `separable` only if an iterate
    separated the points."""
    z = jnp.asarray(z)
    w0 = jnp.zeros(z.shape[-1]) if w0 is None else jnp.asarray(w0)
    w, lf, _, k, code = _newton_jit(z, w0, gtol, max_steps)
    result = _result_of(code)
    w = jnp.where(code == SEPARATED, jnp.nan, w)
    grad = ltilde_grad_norm(z, w)
    return FixedPoint(w, lf, grad, k, result)


def fixed_point(
    problem: Problem,
    *,
    w0=None,
    gtol: float = DEFAULT_GTOL,
    max_steps: int = DEFAULT_MAX_STEPS,
    throw: bool = True,
) -> FixedPoint:
    """Find $w^* = \\arg\\min_w \\tilde L(w)$,
    the conformal-time fixed point (docs/mathematics.md §8).

    For a problem with a bias and both labels the fixed point is that of the
    physical-time flow, the maximum-likelihood fit $(w^*, b^*)$ (`regime`, which see;
    `w0` is ignored there), and `status` is `"separable"` when the extended points are
    separable. Otherwise the fixed point is the conformal one, as follows.

    Separability is decided first (the hard-margin QP, `is_separable`): separable data
    have no finite fixed point and get `status == "separable"` (with `w` NaN) without a
    Newton solve. Otherwise damped Newton on $\\log\\tilde L$ from `w0` stops one step
    after $\\|\\nabla\\log\\tilde L\\| \\le$ `gtol` $\\times$ RMS$_i\\|z_i\\|$ first holds
    (that step, converging quadratically, takes $w$ to rounding level also near
    $\\lambda = 1/2$, where the Hessian's smallest eigenvalue $h_1 \\to 0$); at once if
    `w0` meets it.

    **Arguments:**

    - `problem`: a `Problem` (the points are $z_i = y_ix_i$; the loss does not matter).
    - `w0`: starting point, shape `(d,)` (default $0$).
    - `gtol`: relative gradient tolerance (default `1e-10`).
    - `max_steps`: Newton iterations allowed (default 200).
    - `throw`: raise `AnalysisError` (a `GradflowError`, with the partial `FixedPoint` as
      `.result`) if Newton did not converge on inseparable data
      (default). A separable problem is an answer, not a failure, and never raises.

    **Returns:** a `FixedPoint`.

    **Raises:** `ValueError` for a non-`Problem`, a bad `w0`, `gtol` outside
    $[10^{-14}, 10^{-2}]$ or `max_steps < 1`; `AnalysisError` as above. The QP runs on the
    host, so this function is not jittable; `fixed_point_from_points` is the
    jittable/vmappable Newton core.
    """
    problem = _check_problem(problem)
    gtol = _tolerance("gtol", gtol)
    if isinstance(max_steps, bool) or int(max_steps) != max_steps or max_steps < 1:
        raise ValueError(f"`max_steps` must be a positive integer; got {max_steps!r}.")
    d = problem.d
    if w0 is not None:
        w0 = np.asarray(w0, dtype=np.float64)
        if w0.shape != (d,) or not np.all(np.isfinite(w0)):
            raise ValueError(f"`w0` must be a finite array of shape ({d},); got {w0.shape}.")
    labels = np.asarray(problem.y)
    if problem.fit_bias and not np.all(labels == labels[0]):
        return _maximum_likelihood(problem, gtol, int(max_steps), throw)
    if is_separable(problem.z):
        nan = jnp.asarray(jnp.nan)
        return FixedPoint(
            jnp.full(d, jnp.nan), nan, nan, jnp.asarray(0), AnalysisResults.separable,
            regime="separable",
        )
    out = fixed_point_from_points(problem.z, w0=w0, gtol=float(gtol), max_steps=int(max_steps))
    out = FixedPoint(out.w, out.log_ltilde, out.grad_norm, out.steps, out.result,
                     regime="bias_separable" if problem.fit_bias else "inseparable")
    if throw and not out.successful:
        raise AnalysisError(
            f"fixed_point did not converge after {int(out.steps)} Newton steps "
            f"(|grad log L~| relative to data scale above {gtol}): {out.message} (The "
            "partial result is on this exception's `.result`.)", out
        )
    return out


def _maximum_likelihood(problem: Problem, gtol, max_steps, throw) -> FixedPoint:
    """`fixed_point` of a problem with a bias and both labels: the MLE from `regime`."""
    from ._regimes import regime  # the regimes module builds on this one

    d = problem.d
    r = regime(problem, gtol=gtol, max_steps=max_steps, throw=False)
    nan = jnp.asarray(jnp.nan)
    if r.regime != "inseparable":
        return FixedPoint(jnp.full(d, nan), nan, nan, jnp.asarray(0),
                          AnalysisResults.separable, b=nan, regime=r.regime)
    theta = jnp.asarray(r.theta_star)
    out = FixedPoint(theta[:d], jnp.log(problem.train_loss(theta[:d], theta[d])),
                     jnp.asarray(r.grad_norm), jnp.asarray(r.steps), r.result,
                     b=theta[d], regime="inseparable")
    if throw and not out.successful:
        raise AnalysisError(
            f"fixed_point (the maximum-likelihood fit) did not converge after {r.steps} "
            f"Newton steps: {out.message} (The partial result is on this exception's "
            "`.result`.)", out)
    return out
