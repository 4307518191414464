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
import lineax as lx
import numpy as np

from .._config import compiled
from .._problem import Problem, _tolerance
from .._trajectory import RESULTS
from ._separability import _check_problem, is_separable

jax.config.update("jax_enable_x64", True)

#: Default tolerance on $\|\nabla\log\tilde L\|$ relative to the RMS norm of the points.
DEFAULT_GTOL = 1e-10
#: Default bound on Newton iterations (6–20 are typical; more only very near λ = 1/2).
DEFAULT_MAX_STEPS = 200
_ARMIJO = 1e-4
_MAX_HALVINGS = 60
_RESOLVED = 1e3  # Newton decrements² below this many ulps of log L~ skip the line search


class AnalysisResults(RESULTS):  # pyright: ignore[reportGeneralTypeIssues]
    """`RESULTS` plus the outcomes of the fixed-point analysis."""

    separable = (
        "The data are linearly separable from the origin: $\\log\\tilde L$ is unbounded "
        "below and there is no finite fixed point $w^*$ (the flow goes to the max-margin "
        "direction; see `separability` and `asymptotics`)."
    )
    newton_stalled = (
        "Newton's line search could not decrease $\\log\\tilde L$ before the gradient "
        "tolerance was met (singular Hessian: do the points span R^d?). Try a larger "
        "`gtol`."
    )


class FixedPoint(eqx.Module):
    """The fixed point $w^*$ of the conformal-time flow, or why there is none.

    **Fields:**

    - `w`: $w^*$, shape `(d,)`; NaN when there is no finite fixed point (separable).
    - `log_ltilde`: $\\log\\tilde L(w^*)$ (the limit of $b - \\log t$, docs/mathematics.md §7).
    - `grad_norm`: $\\|\\nabla\\tilde L(w^*)\\|$, the conformal vector field at `w`.
    - `steps`: Newton iterations used.
    - `result`: an `AnalysisResults` member.

    `status` says `"converged"`, `"separable"` (no finite fixed point) or
    `"not_converged"`; `ltilde` is $\\tilde L(w^*)$ and `norm` is $\\|w^*\\|$.
    """

    w: jax.Array
    log_ltilde: jax.Array
    grad_norm: jax.Array
    steps: jax.Array
    result: AnalysisResults

    @property
    def ltilde(self):
        """$\\tilde L(w^*)$."""
        return jnp.exp(self.log_ltilde)

    @property
    def norm(self):
        """$\\|w^*\\|$."""
        return jnp.linalg.norm(self.w, axis=-1)

    @property
    def status(self) -> str:
        """`"converged"`, `"separable"` or `"not_converged"` (single result only)."""
        if self.result == AnalysisResults.successful:
            return "converged"
        if self.result == AnalysisResults.separable:
            return "separable"
        return "not_converged"

    @property
    def message(self) -> str:
        """The result's message ('' when converged)."""
        return AnalysisResults[self.result]


def log_ltilde(z, w):
    """$\\log\\tilde L(w) = \\mathrm{logsumexp}(-Zw) - \\log n$ (overflow-free)."""
    return jax.nn.logsumexp(-z @ w) - jnp.log(z.shape[0])


def grad_hess_log_ltilde(z, w):
    """Gradient $-Z^Tp$ and Hessian $Z^T\\mathrm{diag}(p)Z - (Z^Tp)(Z^Tp)^T$ of
    $\\log\\tilde L$, with $p = \\mathrm{softmax}(-Zw)$ (docs/mathematics.md §8)."""
    p = jax.nn.softmax(-z @ w)
    mu = p @ z
    hess = (z * p[:, None]).T @ z - jnp.outer(mu, mu)
    return -mu, hess


def newton(z, w0, gtol, max_steps: int, pad=None):
    """Damped Newton on $\\log\\tilde L$ (pure JAX; jit- and vmap-able).

    **Returns:** `(w, log_ltilde, grad_log_norm, steps, code)` with `code` 0 = converged,
    1 = separable (an iterate with $\\min_i w\\cdot z_i > 0$, a certificate),
    2 = `max_steps` reached, 3 = stalled (no descent or non-finite step). `pad` (optional,
    shape `(d,)`, 1 on zero-padded columns of `z`) adds an identity block there so that a
    batch of different $d$ shares one compilation.
    """
    pad = jnp.zeros(z.shape[1]) if pad is None else pad
    scale = jnp.sqrt(jnp.mean(jnp.sum(z * z, axis=1)))
    tol = gtol * scale

    def f(w):
        return log_ltilde(z, w)

    def status(w, g, g_prev):
        # Converged one Newton step past the tolerance: quadratic convergence then takes
        # w to rounding level, also near λ = 1/2 where h_1 -> 0 and a gradient at the
        # tolerance alone would leave |w - w*| ~ tol / h_1.
        sep = jnp.min(z @ w) > 0
        conv = (jnp.linalg.norm(g) <= tol) & (jnp.linalg.norm(g_prev) <= tol)
        return jnp.where(conv, 0, jnp.where(sep, 1, -1))

    def cond(carry):
        k, _, _, _, code = carry
        return (code < 0) & (k < max_steps)

    def body(carry):
        k, w, fw, g, _ = carry
        _, hess = grad_hess_log_ltilde(z, w)
        d = w.shape[0]
        jitter = 1e-14 * (jnp.trace(hess) / d + 1e-300)
        op = lx.MatrixLinearOperator(
            hess + jnp.diag(pad + jitter), lx.positive_semidefinite_tag
        )
        step = lx.linear_solve(op, -g, lx.Cholesky(), throw=False).value
        slope = g @ step
        # -slope is the squared Newton decrement, the decrease a full step predicts.
        # Below what log L~ can resolve, Armijo's test only compares rounding errors
        # (and halves the step to nothing): take the full step, Newton is converging
        # quadratically there.
        resolved = -slope > _RESOLVED * jnp.finfo(fw.dtype).eps * (jnp.abs(fw) + 1.0)

        def ls_cond(c):
            t, f_new, j = c
            ok = jnp.isfinite(f_new) & ((f_new <= fw + _ARMIJO * t * slope) | ~resolved)
            return (~ok) & (j < _MAX_HALVINGS)

        def ls_body(c):
            t, _, j = c
            t = 0.5 * t
            return t, f(w + t * step), j + 1

        t, f_new, j = jax.lax.while_loop(ls_cond, ls_body, (1.0, f(w + step), 0))
        good = jnp.all(jnp.isfinite(step)) & ((slope < 0) | ~resolved) & (j < _MAX_HALVINGS)
        w_new = jnp.where(good, w + t * step, w)
        f_new = jnp.where(good, f_new, fw)
        g_new, _ = grad_hess_log_ltilde(z, w_new)
        code = jnp.where(good, status(w_new, g_new, g), 3)
        code = jnp.where((code == 3) & (jnp.linalg.norm(g) <= 1e3 * tol), 0, code)
        return k + 1, w_new, f_new, g_new, code

    g0, _ = grad_hess_log_ltilde(z, w0)
    init = (jnp.asarray(0), w0, f(w0), g0, status(w0, g0, g0))
    k, w, fw, g, code = jax.lax.while_loop(cond, body, init)
    code = jnp.where(code < 0, 2, code)
    return w, fw, jnp.linalg.norm(g), k, code


_newton_jit = compiled(eqx.filter_jit(newton))


def _result_of(code):
    return AnalysisResults.where(
        code == 0,
        AnalysisResults.successful,
        AnalysisResults.where(
            code == 1,
            AnalysisResults.separable,
            AnalysisResults.where(
                code == 2, AnalysisResults.max_steps_reached, AnalysisResults.newton_stalled
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
    w = jnp.where(code == 1, jnp.nan, w)
    grad = jnp.exp(lf) * jnp.linalg.norm(jax.nn.softmax(-z @ w) @ z)
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
    - `throw`: raise `RuntimeError` if Newton did not converge on inseparable data
      (default). A separable problem is an answer, not a failure, and never raises.

    **Returns:** a `FixedPoint`.

    **Raises:** `ValueError` for a non-`Problem`, a bad `w0`, `gtol` outside
    $[10^{-14}, 10^{-2}]$ or `max_steps < 1`; `RuntimeError` as above. The QP runs on the
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
    if is_separable(problem.z):
        nan = jnp.asarray(jnp.nan)
        return FixedPoint(
            jnp.full(d, jnp.nan), nan, nan, jnp.asarray(0), AnalysisResults.separable
        )
    out = fixed_point_from_points(problem.z, w0=w0, gtol=float(gtol), max_steps=int(max_steps))
    if throw and out.status == "not_converged":
        raise RuntimeError(
            f"fixed_point did not converge after {int(out.steps)} Newton steps "
            f"(|grad log L~| relative to data scale above {gtol}): {out.message}"
        )
    return out
