"""The fixed-point kernel: $\\tilde L$, $\\log\\tilde L$ and Newton on them, in one place.

$\\tilde L(w) = \\frac1n\\sum_i e^{-w\\cdot z_i}$ over points $z_i$ (rows of `z`, shape
`(n, d)`) is the potential of the conformal-time flow (mathematics page, §8). Every
analysis (fixed points, stability, grokking-time predictions, the λ sweeps over draws)
and the clocks' curvature-weighted Gram matrices use the functions below; nothing else
in gradflow computes $\\tilde L$ or its derivatives.

All functions are pure JAX (jit-, vmap- and `lax.map`-able); `z` may carry zero-padded
columns marked by `pad` (1 on padding), so that draws of different $d$ share one
compiled solver: the padding gets an identity Hessian block, never moves and never
enters the spectrum.
"""

import jax
import jax.numpy as jnp
import lineax as lx

jax.config.update("jax_enable_x64", True)

#: Default tolerance on $\|\nabla\log\tilde L\|$ relative to the RMS norm of the points.
DEFAULT_GTOL = 1e-10
#: Default bound on Newton iterations (6–20 are typical; more only very near λ = 1/2).
DEFAULT_MAX_STEPS = 200
_ARMIJO = 1e-4
_MAX_HALVINGS = 60
_CG_MAX_STEPS = 250  # CG iterations per Newton step (truncated Newton: a capped solve is still
# a descent direction; uncapped, separable draws, whose Hessian degenerates, took minutes)
_RESOLVED = 1e3  # Newton decrements² below this many ulps of log L~ skip the line search

#: Newton's outcome codes (`newton`'s `code`).
CONVERGED, SEPARATED, MAX_STEPS, STALLED = 0, 1, 2, 3


def log_mean_exp(v, axis=-1):
    """$\\log\\frac1n\\sum_i e^{v_i}$ without overflow (`logsumexp` minus $\\log n$)."""
    return jax.nn.logsumexp(v, axis=axis) - jnp.log(v.shape[axis])


def weighted_gram(a, c):
    """$\\sum_i c_i a_ia_i^\\top$ for rows $a_i$ of `a` (shape `(n, k)`)."""
    return (c[:, None] * a).T @ a


def log_ltilde(z, w):
    """$\\log\\tilde L(w) = \\log\\frac1n\\sum_i e^{-w\\cdot z_i}$ (overflow-free)."""
    return log_mean_exp(-z @ w)


def weights(z, w):
    """$p = \\mathrm{softmax}(-Zw)$: the points' shares of $\\tilde L(w)$."""
    return jax.nn.softmax(-z @ w)


def grad_hess_log_ltilde(z, w):
    """Gradient $-Z^\\top p$ and Hessian $Z^\\top\\mathrm{diag}(p)Z - (Z^\\top p)(Z^\\top p)^\\top$
    of $\\log\\tilde L$, with $p$ = `weights(z, w)`."""
    p = weights(z, w)
    mu = p @ z
    return -mu, weighted_gram(z, p) - jnp.outer(mu, mu)


def ltilde_grad_norm(z, w):
    """$\\|\\nabla\\tilde L(w)\\| = \\tilde L\\|Z^\\top p\\|$, the size of the conformal field."""
    return jnp.exp(log_ltilde(z, w)) * jnp.linalg.norm(weights(z, w) @ z)


def hessian_ltilde(z, w):
    """$\\nabla^2\\tilde L(w) = \\frac1n\\sum_i e^{-w\\cdot z_i}z_iz_i^\\top$, as
    $\\tilde L\\sum_i p_iz_iz_i^\\top$ (no overflow).

    **Returns:** `(hessian, ltilde, grad_norm)` with $\\tilde L(w)$ and
    $\\|\\nabla\\tilde L(w)\\| = \\tilde L\\|Z^\\top p\\|$.
    """
    p = weights(z, w)
    lt = jnp.exp(log_ltilde(z, w))
    return lt * weighted_gram(z, p), lt, lt * jnp.linalg.norm(p @ z)


def _newton_step(z, w, pad, method: str = "cholesky", scale=1.0):
    """The Newton step on $\\log\\tilde L$ at `w` (identity block on padding), and the
    gradient.

    `method="cholesky"` forms the Hessian ($2nd^2$ flops) and factors it;
    `method="cg"` is matrix-free: conjugate gradients on Hessian-vector products
    $Z^\\top(p\\odot Zv) - \\mu(\\mu\\cdot v)$ ($4nd$ flops each), Jacobi-preconditioned, to
    the relative residual $\\sqrt{\\|g\\|/\\text{scale}}$ clipped to $[10^{-12}, \\frac12]$
    (Eisenstat–Walker forcing: loose far away, tight near the minimizer, so that Newton
    stays superlinear).
    """
    d = w.shape[0]
    if method == "cholesky":
        g, hess = grad_hess_log_ltilde(z, w)
        jitter = 1e-14 * (jnp.trace(hess) / d + 1e-300)
        # (jax.scipy rather than lineax: lineax compares structures, which carry the
        # mesh's sharding inside `shard_map`; a failed factorization gives NaN either way)
        factor = jax.scipy.linalg.cho_factor(hess + jnp.diag(pad + jitter), lower=True)
        return jax.scipy.linalg.cho_solve(factor, -g), g
    p = weights(z, w)
    mu = p @ z
    g = -mu
    diag = p @ (z * z) - mu * mu
    jitter = 1e-14 * (jnp.sum(diag) / d + 1e-300)

    def hvp(v):
        return (p * (z @ v)) @ z - mu * (mu @ v) + (pad + jitter) * v

    # The structure as JAX sees it (inside `shard_map` it carries the mesh's sharding,
    # which lineax compares with the output's).
    op = lx.FunctionLinearOperator(hvp, jax.eval_shape(hvp, w), lx.positive_semidefinite_tag)
    inv_diag = 1.0 / (diag + pad + jitter)
    precond = lx.FunctionLinearOperator(lambda v: inv_diag * v, op.in_structure(),
                                        lx.positive_semidefinite_tag)
    rtol = jnp.clip(jnp.sqrt(jnp.linalg.norm(g) / jnp.maximum(scale, 1e-300)), 1e-12, 0.5)
    # lineax tests each component, |r_i| <= atol + rtol |y_i|: with atol = 0 the padding's
    # 0 <= 0 reads 0/0 and stopped CG after one iteration. A floor far below the step
    # (|y| ~ |g| / H) keeps the test relative.
    atol = 1e-3 * rtol * jnp.max(jnp.abs(g)) / jnp.max(diag + pad + jitter)
    solver = lx.CG(rtol=rtol, atol=atol, max_steps=_CG_MAX_STEPS)
    step = lx.linear_solve(op, -g, solver, options={"preconditioner": precond},
                           throw=False).value
    return step, g


def newton(z, w0, gtol=DEFAULT_GTOL, max_steps: int = DEFAULT_MAX_STEPS, pad=None,
           method: str = "cholesky"):
    """Damped Newton on $\\log\\tilde L$ from `w0` (Armijo backtracking; `_newton_step`).

    Stops one step after $\\|\\nabla\\log\\tilde L\\| \\le$ `gtol` $\\times$ RMS$_i\\|z_i\\|$
    first holds: that step, converging quadratically, takes $w$ to rounding level, also
    near $\\lambda = \\frac12$ where the Hessian's smallest eigenvalue tends to 0.
    `method`: `"cholesky"` (form and factor the Hessian) or `"cg"` (matrix-free; see
    `_newton_step`): the first costs $2nd^2$ flops a step, the second $4nd$ per CG
    iteration.

    **Returns:** `(w, log_ltilde, grad_log_norm, steps, code)`, `code` one of
    `CONVERGED`, `SEPARATED` (an iterate with $\\min_i w\\cdot z_i > 0$: a certificate
    that the points are separable), `MAX_STEPS`, `STALLED` (no descent or a non-finite
    step).
    """
    pad = jnp.zeros(z.shape[1]) if pad is None else pad
    scale = jnp.sqrt(jnp.mean(jnp.sum(z * z, axis=1)))
    tol = gtol * scale

    def f(w):
        return log_ltilde(z, w)

    def status(w, g, g_prev):
        sep = jnp.min(z @ w) > 0
        conv = (jnp.linalg.norm(g) <= tol) & (jnp.linalg.norm(g_prev) <= tol)
        return jnp.where(conv, CONVERGED, jnp.where(sep, SEPARATED, -1))

    def cond(carry):
        k, _, _, _, code = carry
        return (code < 0) & (k < max_steps)

    def body(carry):
        k, w, fw, g, _ = carry
        step, _ = _newton_step(z, w, pad, method, scale)
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
        code = jnp.where(good, status(w_new, g_new, g), STALLED)
        code = jnp.where((code == STALLED) & (jnp.linalg.norm(g) <= 1e3 * tol), CONVERGED, code)
        return k + 1, w_new, f_new, g_new, code

    g0, _ = grad_hess_log_ltilde(z, w0)
    init = (jnp.asarray(0), w0, f(w0), g0, status(w0, g0, g0))
    k, w, fw, g, code = jax.lax.while_loop(cond, body, init)
    code = jnp.where(code < 0, MAX_STEPS, code)
    return w, fw, jnp.linalg.norm(g), k, code


def polish(z, w, steps: int = 3, pad=None):
    """`steps` full Newton steps on $\\log\\tilde L$ from `w` (no line search), keeping the
    last finite iterate: a $w^*$ found with a loose tolerance (or given by a caller) taken
    to rounding level, where $\\|w - w^*\\| \\sim$ `gtol`$/h_1$ would otherwise remain."""
    pad = jnp.zeros(z.shape[1]) if pad is None else pad

    def body(_, w):
        step, _ = _newton_step(z, w, pad)
        return jnp.where(jnp.all(jnp.isfinite(step)), w + step * (1.0 - pad), w)

    return jax.lax.fori_loop(0, steps, body, w)


def slow_mode(z, w, pad=None):
    """The slowest rate $h_1 = \\min\\mathrm{eig}\\,\\nabla^2\\tilde L(w)$, its unit
    eigenvector (sign: largest component positive) and $\\tilde L(w)$.

    **Returns:** `(h1, v1, ltilde, eigenvalues, eigenvectors)` (ascending eigenvalues of
    the Hessian; padded columns are pushed above the spectrum).
    """
    hess, lt, _ = hessian_ltilde(z, w)
    if pad is not None:
        hess = hess + jnp.diag(pad) * (1.0 + 1e3 * jnp.trace(hess))
    h, vecs = jnp.linalg.eigh(hess)
    v1 = vecs[:, 0]
    v1 = v1 * jnp.sign(v1[jnp.argmax(jnp.abs(v1))])
    return h[0], v1, lt, h, vecs


def fixed_points(z, pad, gtol=DEFAULT_GTOL, max_steps: int = DEFAULT_MAX_STEPS,
                 batch_size: int | None = None, method: str = "cholesky",
                 slow: bool = True):
    """Newton and the slow mode for a batch of point sets `z` (B, n, D), zero-padded to a
    common width D with `pad` (D,) marking the padding: one compilation for every
    $d \\le D$. Draws run one after another (`lax.map`; `batch_size` > 1 vectorizes
    groups, faster on accelerators), so each takes its own number of Newton steps.
    `method`: Newton's linear solves (`newton`); `slow=False` skips the slow mode (an
    eigendecomposition, $O(d^3)$), whose entries are then NaN.

    **Returns:** a dict of arrays with leading axis B: `w`, `log_ltilde`, `steps`,
    `code`, `h1`, `slow_direction`.
    """

    def one(zi):
        w, lf, _, k, code = newton(zi, jnp.zeros(zi.shape[1]), gtol, max_steps, pad, method)
        if slow:
            h1, v1, _, _, _ = slow_mode(zi, w, pad)
        else:
            h1, v1 = jnp.asarray(jnp.nan), jnp.full(zi.shape[1], jnp.nan)
        return dict(w=w, log_ltilde=lf, steps=k, code=code, h1=h1, slow_direction=v1)

    return jax.lax.map(one, z, batch_size=batch_size)
