"""Linear stability of the fixed point, and both asymptotic states as fixed points.

docs/mathematics.md §8–9. Near $w^*$ the conformal-time flow is $\\dot\\delta = -H\\delta$ with
$H = \\nabla^2\\tilde L(w) = \\frac1n\\sum_i z_iz_i^Te^{-w\\cdot z_i}$; in log time
$s = \\log(t + t_c)$ the Jacobian at $(w^*, \\beta^* = \\log\\tilde L^*)$ is
$\\mathrm{diag}(-H^*/\\tilde L^*, -1)$ (exponential loss; the logistic field tends to it).

The Lotka–Volterra form (docs/mathematics.md §9): with $\\ell_i = (t+t_c)e^{-m_i}$ and
$K = \\hat Z\\hat Z^T$, $\\hat z_i = (z_i, 1)$, the exponential-loss flow is
$\\frac{d\\ell_i}{ds} = \\ell_i(1 - \\frac1n\\sum_jK_{ij}\\ell_j)$; physical orbits lie on
$\\log\\ell\\in\\mathrm{range}\\,\\hat Z$. Its fixed points are the generalizing state
$\\ell^G = e^{-Zw^*}/\\tilde L^*$ (interior) and the over-fitting state
$\\ell^O = n\\alpha^{ext}$ (extended-SVM dual weights, supported on the support vectors).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._config import compiled
from .._ltilde import ltilde_grad_norm, slow_mode
from .._problem import Problem
from ._fixed_point import FixedPoint, fixed_point
from ._separability import _check_problem, qp_margin

jax.config.update("jax_enable_x64", True)

#: Default relative tolerance: an eigenvalue counts as zero (neutral) if its modulus is
#: at most this times the spectral radius.
DEFAULT_RTOL = 1e-9


class Stability(eqx.Module):
    """Linearization of the conformal-time flow $\\dot w = -\\nabla\\tilde L(w)$ at `w`.

    **Fields:**

    - `eigenvalues`: of the Jacobian $J = -\\nabla^2\\tilde L(w)$, ascending (so the last
      one, $-h_1$, is the slowest); `eigenvectors[:, k]` belongs to `eigenvalues[k]`.
    - `unstable`: number of eigenvalues $>$ `tol`; `neutral`: number with
      $|\\mu| \\le$ `tol`; `tol`: the absolute tolerance used.
    - `h1`: slowest rate $h_1 = \\min\\mathrm{eig}\\,H$; `slow_direction`: its unit
      eigenvector (sign fixed so that its largest component is positive).
    - `ltilde`: $\\tilde L(w)$; `grad_norm`: $\\|\\nabla\\tilde L(w)\\|$ (small iff `w` is a
      fixed point).
    - `log_eigenvalues`: the log-time Jacobian $\\mathrm{diag}(-H/\\tilde L, -1)$ in the
      state `(w, beta)`, ascending (shape `(d+1,)`); `log_rate`: its slowest rate
      $\\min(h_1/\\tilde L, 1)$, the rate of the whole state. The Jacobian is block
      diagonal: the rate 1 is $\\beta$'s alone, so $w$ relaxes as
      $\\|w - w^*\\| \\propto t^{-h_1/\\tilde L^*}$ also when $h_1/\\tilde L^* > 1$
      (`GrokkingPrediction.log_rate` is that rate, uncapped).
    - `clock`: `"conformal"` (the above), or `"physical"` for a problem with a bias and
      both labels: then the state is $\\theta = (w, b)$, the Jacobian is that of the
      physical-time flow, $J = -\\nabla^2L(\\theta)$ (the training loss's Hessian, from
      `PhysicalTime.jacobian`), `ltilde` and `grad_norm` are the training loss and its
      gradient norm, and `log_eigenvalues`, `log_rate` are NaN (no log-time fixed
      point: the flow stops at the maximum-likelihood fit).
    """

    eigenvalues: jax.Array
    eigenvectors: jax.Array
    unstable: jax.Array
    neutral: jax.Array
    tol: jax.Array
    h1: jax.Array
    slow_direction: jax.Array
    ltilde: jax.Array
    grad_norm: jax.Array
    log_eigenvalues: jax.Array
    log_rate: jax.Array
    clock: str = eqx.field(static=True, default="conformal")


def spectrum(z, w, rtol=DEFAULT_RTOL, pad=None):
    """Pure-JAX core of `stability` on points `z` (jit/vmap-able). `pad` marks zero-padded
    columns (batched use only): they get eigenvalue $+\\infty$-like and only `h1`,
    `ltilde` are then meaningful."""
    h1, v1, lt, h, vecs = slow_mode(z, w, pad)  # ascending h
    grad_norm = ltilde_grad_norm(z, w)
    eig = -h[::-1]
    eigvecs = vecs[:, ::-1]
    tol = rtol * jnp.max(jnp.abs(h))
    log_eig = jnp.sort(jnp.concatenate([-h / lt, jnp.array([-1.0])]))
    return Stability(
        eig,
        eigvecs,
        jnp.sum(eig > tol),
        jnp.sum(jnp.abs(eig) <= tol),
        tol,
        h1,
        v1,
        lt,
        grad_norm,
        log_eig,
        jnp.minimum(h1 / lt, 1.0),
    )


_spectrum_jit = compiled(jax.jit(spectrum))


def stability(problem: Problem, w, *, rtol: float = DEFAULT_RTOL) -> Stability:
    """Eigen-analysis of the conformal-time Jacobian
    $-\\nabla^2\\tilde L(w)$ (docs/mathematics.md §8).

    At $w = w^*$ all eigenvalues are $\\le 0$ ($\\tilde L$ is convex): $w^*$ is stable, and
    $h_1 \\to 0$ as $\\lambda \\to \\frac12^-$ is the critical slowing down.

    **Arguments:**

    - `problem`: a `Problem` (points $z_i = y_ix_i$).
    - `w`: a point of shape `(d,)`, or a converged `FixedPoint`.
    - `rtol`: relative tolerance for counting eigenvalues as zero (default `1e-9`); the
      absolute one used is `rtol` × spectral radius, stored in `tol`.

    **Returns:** a `Stability`.

    For a problem with a bias and both labels (not the paper's model) the flow's fixed
    point is the maximum-likelihood fit, and the linearization is that of the
    physical-time flow: give `w` as $\\theta = (w, b)$, shape `(d+1,)`, or the
    `FixedPoint` from `fixed_point` (`clock == "physical"` in the result).

    **Raises:** `ValueError` for a non-`Problem`, a `w` of the wrong shape or non-finite,
    a `FixedPoint` that is not converged, or `rtol` outside $[0, 1)$.
    """
    problem = _check_problem(problem)
    if isinstance(w, FixedPoint):
        if not w.successful:
            raise ValueError(
                f"`w` is a FixedPoint with status {w.status!r}; there is no finite "
                "fixed point to linearize about."
            )
        w = w.w if w.b is None else jnp.concatenate([w.w, jnp.atleast_1d(w.b)])
    labels = np.asarray(problem.y)
    if problem.fit_bias and not np.all(labels == labels[0]):
        return _physical_stability(problem, w, rtol)
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (problem.d,) or not np.all(np.isfinite(w)):
        raise ValueError(
            f"`w` must be a finite array of shape ({problem.d},); got shape {w.shape}."
        )
    if not (0 <= rtol < 1):
        raise ValueError(f"`rtol` must be in [0, 1); got {rtol!r}.")
    return _spectrum_jit(problem.z, jnp.asarray(w), float(rtol))


def _physical_stability(problem: Problem, theta, rtol) -> Stability:
    """`stability` at $\\theta = (w, b)$ of the physical-time flow (J = -Hessian of the
    training loss, from `_regimes._loss_grad_hess`, i.e. `PhysicalTime`)."""
    from ._regimes import _loss_grad_hess  # the regimes module builds on this one

    d1 = problem.d + 1
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (d1,) or not np.all(np.isfinite(theta)):
        raise ValueError(
            f"`w` must be a finite array of shape ({d1},), the parameters (w, b), for a "
            f"problem with a bias and both labels; got shape {theta.shape}."
        )
    if not (0 <= rtol < 1):
        raise ValueError(f"`rtol` must be in [0, 1); got {rtol!r}.")
    f, g, hess = (np.asarray(v) for v in _loss_grad_hess(problem, jnp.asarray(theta)))
    h, vecs = np.linalg.eigh(hess)
    v1 = vecs[:, 0] * np.sign(vecs[np.argmax(np.abs(vecs[:, 0])), 0])
    tol = rtol * float(np.max(np.abs(h)))
    eig, eigvecs = -h[::-1], vecs[:, ::-1]
    nan = jnp.asarray(jnp.nan)
    return Stability(
        jnp.asarray(eig), jnp.asarray(eigvecs), jnp.asarray(np.sum(eig > tol)),
        jnp.asarray(np.sum(np.abs(eig) <= tol)), jnp.asarray(tol), jnp.asarray(h[0]),
        jnp.asarray(v1), jnp.asarray(f), jnp.asarray(np.linalg.norm(g)),
        jnp.full(d1 + 1, nan), nan, clock="physical",
    )


# --------------------------------------------------------------------------- Lotka–Volterra


class LVState(eqx.Module):
    """A fixed point $\\ell^*$ of the Lotka–Volterra form (docs/mathematics.md §9).

    **Fields:**

    - `ell`: $\\ell^*$, shape `(n,)` (NaN if the state does not exist).
    - `exists`: whether it is a physical fixed point ($\\ell^G$ needs inseparable data).
    - `eigenvalues`: ascending eigenvalues along the state's own directions: for
      $\\ell^G$ the $d+1$ eigenvalues on the physical manifold,
      $\\{-1\\}\\cup\\{-h_k/\\tilde L^*\\}$; for $\\ell^O$ those of the support-vector
      block $-\\mathrm{diag}(\\ell_S)K_{SS}/n$.
    - `transverse`: for $\\ell^O$, $1 - \\hat z_i\\cdot\\hat\\theta$ off the support vectors
      (the rates at which their $\\ell_i$ decay; empty for $\\ell^G$).
    - `stable`: all eigenvalues and transverse rates $< -$`tol`.
    - `theta`: $\\hat\\theta = \\frac1n\\sum_j\\ell^*_j\\hat z_j = (\\dot w, \\dot b)$ per unit
      $\\log t$.
    - `order_parameter`: $m = \\|\\sum_jz_j\\ell^*_j\\|/\\sum_j\\ell^*_j$.
    """

    ell: np.ndarray
    exists: bool
    eigenvalues: np.ndarray
    transverse: np.ndarray
    stable: bool
    theta: np.ndarray
    order_parameter: float


class LotkaVolterra(eqx.Module):
    """Both asymptotic states of the exponential-loss flow as fixed points (docs/mathematics.md §9).

    **Fields:** `generalizing` ($\\ell^G$) and `overfitting` ($\\ell^O$), both `LVState`;
    `attractor`: `"generalizing"`, `"overfitting"` or `"undetermined"`;
    `order_parameter`: $m = \\lim\\|w\\|/b$ of the attractor (0 or the margin $\\gamma$);
    `tol`: the tolerance used for the signs of eigenvalues.
    """

    generalizing: LVState
    overfitting: LVState
    attractor: str = eqx.field(static=True)
    order_parameter: float
    tol: float


def _lv_jacobian_blocks(zhat, ell):
    """Eigenvalues of $-\\mathrm{diag}(\\ell)K/n$ on the span of $\\hat Z$ (symmetrized)."""
    n = zhat.shape[0]
    m = (zhat * ell[:, None]).T @ zhat / n  # (d+1, d+1): same nonzero spectrum
    return -np.linalg.eigvalsh(m)[::-1]


def _check_reduced(problem: Problem):
    a = np.asarray(problem.a)
    if not (problem.fit_bias and np.all(a == 1.0)):
        raise ValueError(
            "`problem` must be of the reduced form (a bias and all labels +1, e.g. "
            "`gaussian_problem`): the generalizing state b → ∞ is defined only there "
            "(the bias_separable regime). For other data, `gradflow.regime(problem)` "
            "gives the regime, its limit and rates."
        )


def lotka_volterra(problem: Problem, *, rtol: float = DEFAULT_RTOL) -> LotkaVolterra:
    """Both asymptotic states as fixed points of the Lotka–Volterra form (docs/mathematics.md §9).

    The generalizing state $\\ell^G_i = e^{-w^*\\cdot z_i}/\\tilde L^*$ exists iff the data
    are inseparable; its eigenvalues on the physical manifold are $\\{-1\\}\\cup
    \\{-h_k/\\tilde L^*\\}$, all negative: it is the attractor. The over-fitting state
    $\\ell^O = n\\alpha^{ext}$ (extended hard-margin SVM through the origin on
    $\\hat z_i = (z_i, 1)$, solved by NNLS) always exists; off the support vectors its
    transverse rates $1 - \\hat z_i\\cdot\\hat\\theta$ are negative when the data are
    separable (then it is the attractor) and zero when inseparable
    ($\\hat\\theta = (0, 1)$: neutral).

    **Arguments:** `problem`: a reduced-model `Problem` (bias, all labels +1);
    `rtol`: relative tolerance on eigenvalue signs (default `1e-9`).

    **Returns:** a `LotkaVolterra`.

    **Raises:** `ValueError` for other problems; `RuntimeError` if a solver fails.
    Not jittable.
    """
    problem = _check_problem(problem)
    _check_reduced(problem)
    if not (0 <= rtol < 1):
        raise ValueError(f"`rtol` must be in [0, 1); got {rtol!r}.")
    z = np.asarray(problem.z)
    n, d = z.shape
    zhat = np.concatenate([z, np.ones((n, 1))], axis=1)
    kscale = float(np.max(np.sum(zhat * zhat, axis=1)))
    tol = rtol * kscale

    # generalizing state
    fp = fixed_point(problem, throw=False)
    if fp.successful:
        w = np.asarray(fp.w)
        logits = -z @ w
        ell = np.exp(logits - np.log(float(fp.ltilde)))
        eig_g = _lv_jacobian_blocks(zhat, ell)
        theta_g = zhat.T @ ell / n
        gen = LVState(
            ell, True, np.sort(eig_g), np.zeros(0), bool(np.all(eig_g < -tol)), theta_g,
            float(np.linalg.norm(theta_g[:d]) / theta_g[d]),
        )
    else:
        nan = np.full(n, np.nan)
        gen = LVState(
            nan, False, np.full(d + 1, np.nan), np.zeros(0), False, np.full(d + 1, np.nan),
            float("nan"),
        )

    # over-fitting state: extended SVM
    status, theta, alpha = qp_margin(zhat)
    if theta is None:
        raise RuntimeError(f"The extended SVM (always feasible) failed: {status}")
    alpha = np.clip(alpha, 0.0, None)
    ell_o = n * alpha
    proj = zhat @ theta
    support = proj <= 1.0 + 1e-6
    k_ss = zhat[support] @ zhat[support].T
    sq = np.sqrt(ell_o[support])
    eig_o = -np.linalg.eigvalsh(sq[:, None] * k_ss * sq[None, :] / n)[::-1]
    transverse = 1.0 - proj[~support]
    theta_o = zhat.T @ ell_o / n
    stable_o = bool(np.all(eig_o < -tol) and np.all(transverse < -1e-6))
    over = LVState(
        ell_o, True, np.sort(eig_o), np.sort(transverse), stable_o, theta_o,
        float(np.linalg.norm(theta_o[:d]) / theta_o[d]),
    )
    if gen.exists and gen.stable:
        attractor, m = "generalizing", 0.0
    elif stable_o:
        attractor, m = "overfitting", over.order_parameter
    else:
        attractor, m = "undetermined", float("nan")
    return LotkaVolterra(gen, over, attractor, m, tol)
