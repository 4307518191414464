"""Population (generalization) metrics of a Gaussian margin distribution.

For the isotropic Gaussian population $x\\sim\\mathcal N(0,\\sigma^2 I)$ the margin
$m=w\\cdot x+b$ is distributed as $\\mathcal N(\\bar m, s^2)$ with $\\bar m=b$ and
$s=\\sigma\\lVert w\\rVert$ (docs/mathematics.md §4). The same functions serve every model whose
margin is Gaussian (docs/mathematics.md §13: finite $\\sigma_A$, anisotropic covariance).

All functions are pure JAX, float64, elementwise over broadcastable arrays, and safe
under `jax.jit`, `jax.vmap` and `jax.grad` (including at $s=0$ and at the $s=2$
branch switch of the logistic loss). The public functions are wrapped in `jax.jit`
(eager op-by-op dispatch of the quadratures would take seconds on first use).

Implementation notes (deviations from / additions to docs/mathematics.md §4):

* `jax.scipy.special.erfcx` (jax 0.10.2) returns 0 for arguments in a narrow window
  around $[26.54, 26.64]$; `_erfcx` below patches it with the asymptotic series for
  $x\\ge 10$. The hinge part of the logistic loss does not need `erfcx` there anyway:
  for $\\beta\\ge 4$ the factor $1-\\beta\\,\\mathrm{Mills}(\\beta)$ is evaluated by the
  Laplace continued fraction, which avoids the cancellation of the
  $\\varphi(\\beta)[1-\\beta\\sqrt{\\pi/2}\\,\\mathrm{erfcx}(\\beta/\\sqrt2)]$ form
  (relative error $\\sim\\epsilon\\beta^2$ there).
* The last Gauss–Legendre panel end $P_8$ of the $s>2$ rule is changed for a tilted
  peak left of the origin ($u_*<0$): docs/mathematics.md's $\\max(45, u_*+8s)$ cuts the decaying
  tail of the remainder integrand too early when $u_*<-3s$ or so (relative error
  $4\\cdot10^{-11}$ at $\\bar m=98$, $s=12.3$; $1.5\\cdot10^{-9}$ at $\\bar m=300$,
  $s=20$; $3\\cdot10^{-5}$ at $\\bar m=950$, $s=34.5$). Here
  $P_8=\\max\\big(45,\\ u_*+\\sqrt{u_*^2+64s^2}\\big)$ for $u_*<0$ (continuous with
  $u_*+8s$ at $u_*=0$): the integrand has decayed by $e^{-32}$ from its value at $u=0$.
* Tiny results. XLA on CPU flushes subnormals to zero, so products like
  $\\log(1+e^{-u})\\,p(u)$ lose digits once a factor or a partial product drops below
  $2\\cdot10^{-308}$ (relative error $3\\cdot10^{-8}$ at $\\bar m=700$, $s=5$ for the
  naive form). Both quadratures therefore factor the peak height out of the integrand
  ($e^{-\\max(\\bar m,0)}$ for Gauss–Hermite, $e^{-|\\bar m|+s^2/2}$ or
  $e^{-\\bar m^2/2s^2}$ for the remainder) and multiply it back last.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erfcx as _jax_erfcx
from jax.scipy.special import ndtr

jax.config.update("jax_enable_x64", True)

__all__ = [
    "gaussian_accuracy",
    "gaussian_exponential_loss",
    "gaussian_log_exponential_loss",
    "gaussian_logistic_loss",
]

# ---------------------------------------------------------------------------------
# Quadrature constants (computed once at import, numpy float64).
# ---------------------------------------------------------------------------------
_GH_N = 96
_gh_x, _gh_w = np.polynomial.hermite.hermgauss(_GH_N)
# E f(G) = (1/sqrt(pi)) sum_k w_k f(sqrt(2) x_k)
_GH_G = np.sqrt(2.0) * _gh_x
_GH_W = _gh_w / np.sqrt(np.pi)

_GL_N = 32
_gl_x, _gl_w = np.polynomial.legendre.leggauss(_GL_N)
_GL_X = _gl_x
_GL_W = _gl_w

_ACC_STEP = 40.0  # |mbar|/s beyond which Phi(mbar/s) is exactly 0 or 1 in float64
_SPLIT_S = 2.0  # s <= 2: Gauss-Hermite; s > 2: hinge + remainder (docs/mathematics.md §4)
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
_SQRT_PI_2 = np.sqrt(np.pi / 2.0)
_CF_BETA = 4.0  # beta >= 4: continued fraction for 1 - beta * Mills(beta)
_CF_DEPTH = 40  # rel. error <= 1e-15 for beta >= 4
_ERFCX_ASYM = 10.0  # x >= 10: asymptotic series for erfcx
_ERFCX_TERMS = 20  # last term <= 39!!/200^20 ~ 3e-23


def _as_f64(x):
    return jnp.asarray(x, dtype=jnp.float64)


def _erfcx(x):
    """Scaled complementary error function $e^{x^2}\\mathrm{erfc}(x)$ for $x\\ge0$.

    `jax.scipy.special.erfcx` for $x<10$, asymptotic series (20 terms) for $x\\ge10$
    (works around a zero-returning window of the JAX implementation near $x=26.6$).

    **Arguments:**

    - `x`: array, $x\\ge 0$.

    **Returns:** array of $\\mathrm{erfcx}(x)$, float64.
    """
    x = _as_f64(x)
    big = x >= _ERFCX_ASYM
    xs = jnp.where(big, _ERFCX_ASYM, x)
    xb = jnp.where(big, x, _ERFCX_ASYM)
    # erfcx(x) ~ 1/(x sqrt(pi)) * sum_n (-1)^n (2n-1)!! / (2x^2)^n
    z = 1.0 / (2.0 * xb * xb)

    def body(n, carry):  # lax loop: keeps the traced graph (and compile time) small
        term, total = carry
        term = -term * (2.0 * n - 1.0) * z
        return term, total + term

    _, total = jax.lax.fori_loop(1, _ERFCX_TERMS + 1, body, (jnp.ones_like(xb), jnp.ones_like(xb)))
    asym = total / (xb * np.sqrt(np.pi))
    return jnp.where(big, asym, _jax_erfcx(xs))


def _hinge_g(x):
    """$g(x)=1-x\\,\\mathrm{Mills}(x)=\\psi(x)/\\varphi(x)$ for $x\\ge0$,
    $\\mathrm{Mills}(x)=\\Phi(-x)/\\varphi(x)=\\sqrt{\\pi/2}\\,\\mathrm{erfcx}(x/\\sqrt2)$.

    For $x<4$ the direct form (cancellation of at most a few ulps); for $x\\ge4$ the
    Laplace continued fraction $g=T/(x+T)$, $T=1/(x+2/(x+3/(x+\\dots)))$ (depth 40),
    which avoids the $\\epsilon x^2$ cancellation error of the direct form.
    """
    small = x < _CF_BETA
    xs = jnp.where(small, x, 0.0)
    g_small = 1.0 - xs * _SQRT_PI_2 * _erfcx(xs / np.sqrt(2.0))
    xb = jnp.where(small, _CF_BETA, x)
    # backward recurrence t <- k / (x + t), k = depth, ..., 2
    t = jax.lax.fori_loop(
        0, _CF_DEPTH - 1, lambda i, t: (_CF_DEPTH - i) / (xb + t), jnp.zeros_like(xb)
    )
    t = 1.0 / (xb + t)
    g_big = t / (xb + t)
    return jnp.where(small, g_small, g_big)


@jax.custom_jvp
def _hinge(b, s):
    """Hinge part $H=\\mathbb E(-m)_+=s\\,\\psi(b/s)$, $s>0$ (docs/mathematics.md §4).

    $\\psi(\\beta)=\\varphi(\\beta)-\\beta\\Phi(-\\beta)
    =(-\\beta)_+ + \\varphi(|\\beta|)\\,g(|\\beta|)$ (using $\\psi(\\beta)-\\psi(-\\beta)=-\\beta$),
    so no cancellation for either sign.
    The $O(1)$ factors are multiplied before the possibly tiny $\\varphi$.
    """
    x = jnp.abs(b) / s
    phi = jnp.exp(-0.5 * x * x) * _INV_SQRT_2PI
    return jnp.maximum(-b, 0.0) + (s * _hinge_g(x)) * phi


@_hinge.defjvp
def _hinge_jvp(primals, tangents):
    # dH/db = -Phi(-b/s), dH/ds = phi(b/s): closed forms, so that differentiating does
    # not trace through the continued fraction / erfcx (and higher orders work too)
    b, s = primals
    db, ds = tangents
    beta = b / s
    dh = -ndtr(-beta) * db + jnp.exp(-0.5 * beta * beta) * _INV_SQRT_2PI * ds
    return _hinge(b, s), dh


def _psi(beta):
    """$\\psi(\\beta)=\\mathbb E(G-\\beta)_+=\\varphi(\\beta)-\\beta\\Phi(-\\beta)$
    (docs/mathematics.md §4)."""
    beta = _as_f64(beta)
    return _hinge(beta, jnp.ones_like(beta))


@jax.jit
def gaussian_accuracy(mbar, s):
    """Population accuracy $A_{\\rm gen}=P(m>0)=\\Phi(\\bar m/s)$ (docs/mathematics.md §4).

    Computed with `ndtr` (accurate in both tails). At $s=0$ the margin is
    deterministic and the result is the Heaviside function $\\Theta(\\bar m)$ with
    $\\Theta(0)=0$ (docs/mathematics.md §2); gradients there are 0, never NaN.

    **Arguments:**

    - `mbar`: mean margin $\\bar m$ ($=b$ for the isotropic population); array.
    - `s`: margin standard deviation $s=\\sigma\\lVert w\\rVert\\ge0$; array broadcastable
      with `mbar`.

    **Returns:** float64 array of the broadcast shape, values in $[0,1]$.
    """
    b, s = jnp.broadcast_arrays(_as_f64(mbar), _as_f64(s))
    # |mbar/s| > 40 (including s = 0): Phi is 0 or 1 to float64 precision
    # (Phi(-38.5) < 1e-323); avoid forming mbar/s there so gradients stay finite.
    step = (s <= 0.0) | (jnp.abs(b) > _ACC_STEP * s)
    s_safe = jnp.where(step, 1.0, s)
    b_safe = jnp.where(step, 0.0, b)
    val = ndtr(b_safe / s_safe)
    heaviside = jnp.where(b > 0, 1.0, 0.0)
    return jnp.where(step, heaviside, val)


@jax.jit
def gaussian_log_exponential_loss(mbar, s):
    """Logarithm of the population exponential loss, $-\\bar m+s^2/2$ (docs/mathematics.md §4).

    **Arguments:**

    - `mbar`: mean margin $\\bar m$; array.
    - `s`: margin standard deviation $s\\ge0$; array broadcastable with `mbar`.

    **Returns:** float64 array $\\log\\mathbb E\\,e^{-m}=-\\bar m+s^2/2$.
    """
    b, s = jnp.broadcast_arrays(_as_f64(mbar), _as_f64(s))
    return -b + 0.5 * s * s


@jax.jit
def gaussian_exponential_loss(mbar, s):
    """Population exponential loss $L^{\\exp}_{\\rm gen}=\\mathbb E\\,e^{-m}=e^{-\\bar m+s^2/2}$
    (docs/mathematics.md §4).

    Overflows to `inf` / underflows to 0 outside the float64 range; use
    `gaussian_log_exponential_loss` for extreme arguments.

    **Arguments:**

    - `mbar`: mean margin $\\bar m$; array.
    - `s`: margin standard deviation $s\\ge0$; array broadcastable with `mbar`.

    **Returns:** float64 array $e^{-\\bar m+s^2/2}$.
    """
    return jnp.exp(gaussian_log_exponential_loss(mbar, s))


def _softplus_neg_scaled(x):
    """Split $\\mathrm{softplus}(-x)=e^{-x_+}\\,k(x)$ with $k\\in[\\log 2, 1]$ for $x>0$.

    Returns `k(x)`: $\\log(1+e^{-x})e^{x}$ for $x>0$, $\\mathrm{softplus}(-x)$ for $x\\le0$.
    Lets callers combine $e^{-x}$ with other exponentials in a single `exp`, so that
    nothing underflows (XLA on CPU flushes subnormals to zero) before the final result.
    """
    pos = x > 0
    # one-sided copies (not |x|: its derivative at x = 0 would be 0, not -1/2)
    xp = jnp.where(pos, x, 1.0)
    xn = jnp.where(pos, 0.0, x)
    y = jnp.exp(-xp)
    far = xp > 30.0
    y_safe = jnp.where(far, 0.5, y)
    h_pos = jnp.where(far, 1.0 - 0.5 * y + y * y / 3.0, jnp.log1p(y_safe) / y_safe)
    return jnp.where(pos, h_pos, jnp.log1p(jnp.exp(xn)) - xn)


def _logistic_gh(b, s):
    """96-node Gauss–Hermite rule for E softplus(-b - s G) (accurate for s <= 2).

    Evaluated as $e^{-c}\\sum_k w_k e^{c-x_k^+}k(x_k)$, $c=\\max(b,0)$, $x_k=b+sg_k$, so
    that tiny results ($b$ up to ~745) keep full relative accuracy.
    """
    sg = s[..., None] * _GH_G
    bb = b[..., None]
    x = bb + sg
    c = jnp.maximum(b, 0.0)
    cc = c[..., None]
    # c - max(x, 0), written so that its b-derivative is right also at b = 0
    expo = jnp.where(x > 0, jnp.where(bb > 0, -sg, cc - x), cc)
    terms = jnp.exp(expo) * _softplus_neg_scaled(x)
    return jnp.exp(-c) * jnp.sum(_GH_W * terms, axis=-1)


def _logistic_split(b, s):
    """Hinge + remainder rule for s > 2 (docs/mathematics.md §4; P8 modified for u* < 0).

    The remainder integrand $\\log(1+e^{-u})[p(u)+p(-u)]$ is written as
    $e^{\\ell}\\,k(u)\\,e^{E(u)}[1+e^{-2|\\bar m|u/s^2}]/(s\\sqrt{2\\pi})$ with the peak
    log-height $\\ell$ factored out, so no intermediate product underflows.
    """
    hinge = _hinge(b, s)
    a = jnp.abs(b)  # the remainder is even in b
    s2 = s * s
    ustar = a - s2  # tilted peak of e^{-u} p(u)
    m = jnp.minimum(ustar, 0.0)
    # right end of the last panel: u* + 8s (u* >= 0), else where the tilted Gaussian
    # has dropped by e^{-32} from its value at 0:  u* + sqrt(u*^2 + 64 s^2)
    #   = 64 s^2 / (sqrt(u*^2 + 64 s^2) - u*)   (stable form for u* < 0)
    tail_neg = 64.0 * s2 / (jnp.sqrt(m * m + 64.0 * s2) - m)
    p8 = jnp.where(ustar >= 0.0, ustar + 8.0 * s, tail_neg)
    p6 = jnp.maximum(45.0, ustar - 8.0 * s)
    p7 = jnp.maximum(45.0, ustar)
    p8 = jnp.maximum(45.0, p8)
    shape = b.shape
    fixed_lo = [jnp.full(shape, v) for v in (0.0, 1.0, 3.0, 8.0, 20.0)]
    fixed_hi = [jnp.full(shape, v) for v in (1.0, 3.0, 8.0, 20.0, 45.0)]
    lo = jnp.stack(fixed_lo + [p6, p7], axis=-1)  # (..., 7)
    hi = jnp.stack(fixed_hi + [p7, p8], axis=-1)
    # The panel ends only place the nodes: the exact integral does not depend on them
    # (the integrand is ~e^{-32} of its peak at P6, P8, and P7 is interior), so they
    # carry no gradient; the derivative is then the same rule applied to d(integrand).
    lo = jax.lax.stop_gradient(lo)
    hi = jax.lax.stop_gradient(hi)
    half = 0.5 * (hi - lo)
    mid = 0.5 * (hi + lo)
    u = mid[..., None] + half[..., None] * _GL_X  # (..., 7, 32)
    aa = a[..., None, None]
    s2e = s2[..., None, None]
    ue = ustar[..., None, None]
    me = m[..., None, None]
    # log peak height of e^{-u} p(u) on u >= 0 (without 1/(s sqrt(2 pi))):
    #   u* >= 0: -a + s^2/2 ;  u* < 0: value at u = 0, -a^2/(2 s^2)
    logpeak = jnp.where(ustar >= 0.0, -a + 0.5 * s2, -0.5 * (a / s) ** 2)
    # -u - (u-a)^2/(2 s^2) - logpeak = -[(u-u*)^2 - m^2]/(2 s^2) <= 0
    expo = -(u - ue - me) * (u - ue + me) / (2.0 * s2e)
    f = _softplus_neg_scaled(u) * jnp.exp(expo) * (1.0 + jnp.exp(-2.0 * aa * u / s2e))
    scaled = jnp.sum(half * jnp.sum(_GL_W * f, axis=-1), axis=-1) * (_INV_SQRT_2PI / s)
    remainder = jnp.exp(logpeak) * scaled
    return hinge + remainder


@jax.jit
def gaussian_logistic_loss(mbar, s):
    """Population logistic (cross-entropy) loss
    $L^{\\log}_{\\rm gen}=\\mathbb E\\,\\mathrm{softplus}(-\\bar m-sG)$, $G\\sim\\mathcal N(0,1)$,
    by the split rule of docs/mathematics.md §4.

    * $s\\le2$: 96-node Gauss–Hermite.
    * $s>2$: $L=H+R$, hinge $H=s\\,\\psi(\\bar m/s)$ in closed form plus the remainder
      $R=\\int_0^\\infty\\log(1+e^{-u})[p(u)+p(-u)]\\,du$ by 32-point Gauss–Legendre on
      the panels $[0,1],[1,3],[3,8],[8,20],[20,45],[P_6,P_7],[P_7,P_8]$ around the tilted
      peak $u_*=|\\bar m|-s^2$ ($P_8$ extended for $u_*<0$, see the module notes).

    Both branches are evaluated and selected with `where` (guarded so gradients stay
    finite at $s=0$ and $s=2$). Measured relative error against adaptive quadrature:
    $\\le5\\cdot10^{-14}$ for $\\bar m\\in[-50,100]$, $s\\in[10^{-3},300]$ and
    $\\le1.3\\cdot10^{-13}$ (the float64 conditioning, $\\sim\\epsilon\\,(|\\bar m|+s^2)$) for
    $\\bar m\\in[-50,10^3]$, $s\\in[0,10^3]$, down to results of $10^{-300}$; smaller
    results underflow gracefully to 0 (XLA on CPU flushes subnormals).

    **Arguments:**

    - `mbar`: mean margin $\\bar m$; array.
    - `s`: margin standard deviation $s\\ge0$; array broadcastable with `mbar`.

    **Returns:** float64 array of the broadcast shape.
    """
    b, s = jnp.broadcast_arrays(_as_f64(mbar), _as_f64(s))
    hi = s > _SPLIT_S
    s_lo = jnp.where(hi, _SPLIT_S, s)
    s_hi = jnp.where(hi, s, 2.0 * _SPLIT_S)
    return jnp.where(hi, _logistic_split(b, s_hi), _logistic_gh(b, s_lo))
