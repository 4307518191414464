"""Extensions of the reduced model (paper Sec. 5, App. G and App. I; docs/mathematics.md §13).

Three populations and their generators, each a `Problem` that every tool accepts
(`integrate`, `ensemble`, `descend`, `separability`, `fixed_point`, ...):

- `PowerLawPopulation` / `powerlaw_problem`: $x \\sim \\mathcal N(0, \\Sigma)$ with a
  power-law spectrum $\\Sigma_{kk} \\propto k^{-\\alpha}$ normalized to mean $\\sigma^2$
  (App. G (i)); the margin is Gaussian, $\\mathcal N(b, w^T\\Sigma w)$.
- `MixturePopulation` / `mixture_problem`: $\\frac12\\mathcal N(\\nu, \\sigma^2 I) +
  \\frac12\\mathcal N(-\\nu, \\sigma^2 I)$ (App. G (ii)); the margin is a mixture of two
  Gaussians, so accuracy and loss are averages of the Gaussian ones.
- `ThresholdPopulation` / `threshold_problem`: $x \\sim \\mathcal N(0, \\sigma^2 I)$ with
  label $+1$ iff $x_1 > \\theta = \\sigma\\Phi^{-1}(1 - r)$ (App. I); accuracy by the
  bivariate normal CDF (docs/mathematics.md §13, the paper's Eq. 52), exponential loss in closed
  form, logistic loss by a one-dimensional quadrature over $x_1$ of the Gaussian
  logistic loss of the conditional margin.

The fourth extension of the paper, the full $(d+1)$-dimensional two-Gaussian model with
finite $\\sigma_1 = \\sigma_A$ (Sec. 5), is `gradflow.two_gaussian_problem` with
`gradflow.TwoGaussianPopulation` (docs/mathematics.md §13: $A_{gen} = \\Phi(\\mu W_0/s)$,
$s^2 = \\sigma_A^2W_0^2 + \\sigma_B^2\\|W_\\perp\\|^2$).

All population metrics are pure JAX, float64, and work under `jax.jit` and `jax.vmap`
(`Trajectory` metrics are computed under `jit`).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr, ndtr, ndtri

from . import _population as pop
from ._custom_types import Scalar, Weights
from ._loss import AbstractLoss
from ._problem import AbstractPopulation, Problem, _positive, _positive_int, _seed

jax.config.update("jax_enable_x64", True)

__all__ = [
    "MixturePopulation",
    "PowerLawPopulation",
    "ThresholdPopulation",
    "mixture_problem",
    "powerlaw_problem",
    "threshold_problem",
]


def _f64(v):
    return jnp.asarray(v, dtype=jnp.float64)


def _concrete(v) -> np.ndarray | None:
    """`v` as a numpy array, or `None` under a JAX transformation (no checks there)."""
    try:
        return np.asarray(v)
    except jax.errors.TracerArrayConversionError:
        return None


# --------------------------------------------------------------------------- power law


def powerlaw_variances(d: int, sigma: float, alpha: float = 1.0) -> np.ndarray:
    """The variances $\\Sigma_{kk} = \\sigma^2 k^{-\\alpha} / (\\frac1d\\sum_j j^{-\\alpha})$,
    $k = 1, \\dots, d$: a power-law spectrum whose mean is $\\sigma^2$ (docs/mathematics.md §13)."""
    k = np.arange(1, d + 1, dtype=np.float64)
    spec = k ** (-float(alpha))
    return sigma**2 * spec / spec.mean()


class PowerLawPopulation(AbstractPopulation):
    """Gaussian inputs with a diagonal covariance, label $+1$ (paper App. G (i)).

    $x \\sim \\mathcal N(0, \\mathrm{diag}(v))$, so the margin $w\\cdot x + b$ is
    $\\mathcal N(b, w^T\\Sigma w)$ and accuracy and losses are those of docs/mathematics.md §4 at
    $s = \\sqrt{\\sum_k v_kw_k^2}$: $A = \\Phi(b/s)$, $L^{\\exp} = e^{-b+s^2/2}$.

    **Arguments:**

    - `variances`: the diagonal $v$ of $\\Sigma$, shape `(d,)`, positive (for a power law
      use `powerlaw_problem`, or `powerlaw_variances(d, sigma, alpha)`).

    **Raises:** `ValueError` if `variances` is not a non-empty 1-D array of positive
    finite values.
    """

    variances: jax.Array = eqx.field(converter=_f64)

    def __check_init__(self):
        v = _concrete(self.variances)
        if v is None:
            return
        if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(
                "`variances` must be a non-empty 1-D array of positive finite values; got "
                f"shape {v.shape}, min {np.min(v) if v.size else None!r}."
            )

    def margin_moments(self, w: Weights, b: Scalar) -> tuple[Scalar, Scalar]:
        """Mean $b$ and standard deviation $\\sqrt{w^T\\Sigma w}$ of the Gaussian margin.

        **Arguments:** `w`, shape `(d,)`; `b`, a scalar.

        **Returns:** `(mbar, s)`, two scalars.
        """
        return b, jnp.sqrt(jnp.sum(self.variances * w * w))


def powerlaw_problem(
    n: int, d: int, sigma: float, *, alpha: float = 1.0, seed: int = 0, loss="logistic"
) -> Problem:
    """Gaussian data with a power-law covariance spectrum, all labels $+1$ (App. G (i)).

    $x_{ik} = \\sqrt{v_k}\\,g_{ik}$ with $g$ =
    `numpy.random.default_rng(seed).standard_normal((n, d))` and
    $v_k = \\sigma^2k^{-\\alpha}/(\\frac1d\\sum_jj^{-\\alpha})$, so the covariance is
    diagonal in the coordinate basis with eigenvalues $\\propto k^{-\\alpha}$ and mean
    $\\sigma^2$ (the paper's $\\alpha$ is lost; docs/mathematics.md §13 uses $\\alpha = 1$).
    The law is symmetric under $x \\to -x$, so Wendel's formula and $\\lambda_c = \\frac12$ hold.

    **Arguments:** `n`, `d` positive integers ($\\lambda = d/n$); `sigma > 0` (the RMS
    scale); `alpha`: the spectral exponent, finite (0 gives `gaussian_problem`'s law);
    `seed`; `loss` as for `Problem`.

    **Returns:** a `Problem` with a `PowerLawPopulation` for test metrics.

    **Raises:** `ValueError` for non-positive sizes or $\\sigma$, or a non-finite `alpha`.
    """
    n = _positive_int("n", n)
    d = _positive_int("d", d)
    sigma = _positive("sigma", sigma)
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"`alpha` must be a finite number; got {alpha!r}.") from None
    if not math.isfinite(alpha):
        raise ValueError(f"`alpha` must be finite; got {alpha!r}.")
    var = powerlaw_variances(d, sigma, alpha)
    x = np.random.default_rng(_seed(seed)).standard_normal((n, d)) * np.sqrt(var)
    return Problem(x, loss=loss, population=PowerLawPopulation(var))


# --------------------------------------------------------------------------- mixture


class MixturePopulation(AbstractPopulation):
    """A symmetric mixture of two Gaussians, label $+1$ (paper App. G (ii)).

    $x \\sim \\frac12\\mathcal N(\\nu, \\sigma^2 I) + \\frac12\\mathcal N(-\\nu, \\sigma^2 I)$.
    The margin is the mixture $\\frac12\\sum_\\pm\\mathcal N(b \\pm w\\cdot\\nu, s^2)$,
    $s = \\sigma\\|w\\|$, which is not Gaussian: `accuracy` and `loss` average the
    Gaussian formulas of docs/mathematics.md §4 over the two components (docs/mathematics.md §13):
    $A = \\frac12\\sum_\\pm\\Phi\\big(\\frac{b \\pm w\\cdot\\nu}{s}\\big)$,
    $L^{\\exp} = e^{-b+s^2/2}\\cosh(w\\cdot\\nu)$, and the logistic loss is the average of
    the two Gaussian logistic losses.

    **Arguments:**

    - `nu`: the component mean $\\nu$, shape `(d,)`, finite.
    - `sigma`: the component scale $\\sigma > 0$.

    **Raises:** `ValueError` for a non-finite `nu` or $\\sigma \\le 0$.
    """

    nu: jax.Array = eqx.field(converter=_f64)
    sigma: jax.Array = eqx.field(converter=_f64)

    def __check_init__(self):
        nu, sigma = _concrete(self.nu), _concrete(self.sigma)
        if nu is not None and (nu.ndim != 1 or nu.size == 0 or not np.all(np.isfinite(nu))):
            raise ValueError(f"`nu` must be a non-empty finite 1-D array; got shape {nu.shape}.")
        if sigma is not None and not (np.all(np.isfinite(sigma)) and np.all(sigma > 0)):
            raise ValueError(f"`sigma` must be positive and finite; got {sigma!r}.")

    def margin_moments(self, w: Weights, b: Scalar) -> tuple[Scalar, Scalar]:
        """The exact mean $b$ and standard deviation $\\sqrt{\\sigma^2\\|w\\|^2 +
        (w\\cdot\\nu)^2}$ of the (non-Gaussian) margin; use `accuracy` and `loss` for the
        metrics, not a Gaussian formula of these moments.

        **Arguments:** `w`, shape `(d,)`; `b`, a scalar.

        **Returns:** `(mbar, s)`, two scalars.
        """
        wn = jnp.dot(w, self.nu)
        return b, jnp.sqrt(self.sigma**2 * jnp.sum(w * w) + wn * wn)

    def _components(self, w, b):
        shift = jnp.dot(w, self.nu)
        s = self.sigma * jnp.linalg.norm(w)
        return jnp.stack([b + shift, b - shift]), s

    def accuracy(self, w: Weights, b: Scalar) -> Scalar:
        """$A = \\frac12\\sum_\\pm\\Phi\\big((b \\pm w\\cdot\\nu)/\\sigma\\|w\\|\\big)$.

        **Arguments:** `w`, shape `(d,)`; `b`, a scalar.

        **Returns:** a scalar in $[0, 1]$ (the Heaviside convention of docs/mathematics.md §2 at
        $w = 0$).
        """
        means, s = self._components(w, b)
        return jnp.mean(pop.gaussian_accuracy(means, s))

    def loss(self, loss: AbstractLoss, w: Weights, b: Scalar) -> Scalar:
        """Population loss: the average of the Gaussian losses of the two components.

        **Arguments:** `loss`, an `AbstractLoss` (logistic or exponential); `w`, shape
        `(d,)`; `b`, a scalar.

        **Returns:** a scalar; for the exponential loss $e^{-b+s^2/2}\\cosh(w\\cdot\\nu)$
        (evaluated as $\\exp$ of a `logaddexp`, finite whenever the result is).
        """
        means, s = self._components(w, b)
        if loss.name == "exponential":
            logs = pop.gaussian_log_exponential_loss(means, s)
            return jnp.exp(jax.nn.logsumexp(logs) - jnp.log(2.0))
        return jnp.mean(pop.gaussian_logistic_loss(means, s))


def mixture_problem(
    n: int,
    d: int,
    sigma: float,
    *,
    nu_norm: float | None = None,
    seed: int = 0,
    loss="logistic",
) -> Problem:
    """Data from a symmetric two-Gaussian mixture, all labels $+1$ (App. G (ii)).

    $x_i = c_i\\nu + \\sigma g_i$ with signs $c_i = \\pm1$ equiprobable and
    $\\nu = \\|\\nu\\|e_1$ (any direction is equivalent, the noise being isotropic). With
    `rng = numpy.random.default_rng(seed)` the signs are `rng.choice([-1, 1], n)` and
    then $g$ = `rng.standard_normal((n, d))`. The law is symmetric under $x \\to -x$, so
    Wendel's formula and $\\lambda_c = \\frac12$ hold (the paper's $\\nu$ is lost;
    docs/mathematics.md §13 suggests $\\|\\nu\\| = \\sigma$, the default).

    **Arguments:** `n`, `d` positive integers; `sigma > 0`; `nu_norm`: $\\|\\nu\\| \\ge 0$
    (default $\\sigma$); `seed`; `loss` as for `Problem`.

    **Returns:** a `Problem` with a `MixturePopulation` for test metrics.

    **Raises:** `ValueError` for non-positive sizes or $\\sigma$, or a negative or
    non-finite `nu_norm`.
    """
    n = _positive_int("n", n)
    d = _positive_int("d", d)
    sigma = _positive("sigma", sigma)
    nu_norm = sigma if nu_norm is None else nu_norm
    try:
        nu_norm = float(nu_norm)
    except (TypeError, ValueError):
        raise ValueError(f"`nu_norm` must be a number >= 0; got {nu_norm!r}.") from None
    if not (math.isfinite(nu_norm) and nu_norm >= 0):
        raise ValueError(f"`nu_norm` must be >= 0 and finite; got {nu_norm!r}.")
    rng = np.random.default_rng(_seed(seed))
    signs = rng.choice(np.array([-1.0, 1.0]), size=n)
    nu = np.zeros(d)
    nu[0] = nu_norm
    x = signs[:, None] * nu + sigma * rng.standard_normal((n, d))
    return Problem(x, loss=loss, population=MixturePopulation(nu, sigma))


# --------------------------------------------------------------------------- bivariate normal

# Gauss-Legendre rule on [0, 2] (nodes 1 + x_i, weights w_i): Genz's choice for BVND.
_BV_X, _BV_W = np.polynomial.legendre.leggauss(20)
_BV_X = 1.0 + _BV_X
_TWO_PI = 2.0 * np.pi
_BV_CLIP = 40.0  # Phi(-40) < 1e-348: exactly 0 in float64


def _bvn_upper(h, k, r):
    """$P(X > h, Y > k)$ for a standard bivariate normal with correlation $r$.

    Genz's method (A. Genz, "Numerical computation of rectangular bivariate and
    trivariate normal and t probabilities", Stat. Comput. 14, 2004; after Drezner &
    Wesolowsky 1990), with a 20-point Gauss–Legendre rule throughout: for $|r| < 0.925$
    the integral over $\\theta \\in (0, \\arcsin r)$ of Sheppard's formula; for
    $|r| \\ge 0.925$ the expansion about $|r| = 1$ plus a quadrature of the remainder.
    Absolute error about $10^{-15}$. Both branches are computed and selected with
    `where`, so it jits and vmaps; $h, k$ are clipped to $\\pm40$ (where $\\Phi$ is exactly
    0 or 1) and $r$ to $[-1, 1]$.
    """
    h, k, r = jnp.broadcast_arrays(_f64(h), _f64(k), _f64(r))
    h = jnp.clip(h, -_BV_CLIP, _BV_CLIP)
    k = jnp.clip(k, -_BV_CLIP, _BV_CLIP)
    r = jnp.clip(r, -1.0, 1.0)
    hk = h * k
    small = jnp.abs(r) < 0.925

    # |r| < 0.925: (1/2π) ∫_0^{asin r} exp(-(h²+k²-2hk sinθ)/(2cos²θ)) dθ + Φ(-h)Φ(-k)
    r1 = jnp.where(small, r, 0.0)
    asr = jnp.arcsin(r1) / 2.0
    sn = jnp.sin(asr[..., None] * _BV_X)
    hs = (h * h + k * k) / 2.0
    expo = (sn * hk[..., None] - hs[..., None]) / (1.0 - sn * sn)
    bvn_small = jnp.sum(_BV_W * jnp.exp(expo), axis=-1) * asr / _TWO_PI + ndtr(-h) * ndtr(-k)

    # |r| >= 0.925
    neg = r < 0
    k2 = jnp.where(neg, -k, k)
    hk2 = jnp.where(neg, -hk, hk)
    r2 = jnp.where(small, 0.95, r)
    as_ = 1.0 - r2 * r2
    inner = as_ > 0.0  # |r| < 1: the expansion; |r| = 1: only the Φ term below
    as_ = jnp.where(inner, as_, 1.0)
    a = jnp.sqrt(as_)
    bs = (h - k2) ** 2
    c = (4.0 - hk2) / 8.0
    d = (12.0 - hk2) / 80.0
    asr2 = -(bs / as_ + hk2) / 2.0  # <= 0 (see Genz); exp underflows harmlessly
    t1 = jnp.where(
        asr2 > -100.0,
        a * jnp.exp(asr2) * (1.0 - c * (bs - as_) * (1.0 - d * bs) / 3.0 + c * d * as_ * as_),
        0.0,
    )
    bb = jnp.sqrt(bs)
    sp = np.sqrt(_TWO_PI) * ndtr(-bb / a)
    hk2_safe = jnp.where(hk2 > -100.0, hk2, 0.0)
    t2 = jnp.where(
        hk2 > -100.0,
        jnp.exp(-hk2_safe / 2.0) * sp * bb * (1.0 - c * bs * (1.0 - d * bs) / 3.0),
        0.0,
    )
    bvn = t1 - t2
    ah = a / 2.0
    xs = (ah[..., None] * _BV_X) ** 2
    asr3 = -(bs[..., None] / xs + hk2[..., None]) / 2.0
    ok = asr3 > -100.0
    sp3 = 1.0 + c[..., None] * xs * (1.0 + 5.0 * d[..., None] * xs)
    rs = jnp.sqrt(1.0 - xs)
    ep = jnp.exp(-(hk2[..., None] / 2.0) * xs / (1.0 + rs) ** 2) / rs
    terms = jnp.where(ok, jnp.exp(jnp.where(ok, asr3, 0.0)) * (sp3 - ep), 0.0)
    bvn = (ah * jnp.sum(_BV_W * terms, axis=-1) - bvn) / _TWO_PI
    bvn = jnp.where(inner, bvn, 0.0)
    bvn_pos = bvn + ndtr(-jnp.maximum(h, k2))
    lower = jnp.where(h < 0, ndtr(k2) - ndtr(h), ndtr(-h) - ndtr(-k2))
    bvn_neg = jnp.where(h >= k2, -bvn, lower - bvn)
    bvn_big = jnp.where(r > 0, bvn_pos, bvn_neg)
    return jnp.clip(jnp.where(small, bvn_small, bvn_big), 0.0, 1.0)


def bivariate_normal_cdf(h, k, rho):
    """$\\Phi_2(h, k; \\rho) = P(X \\le h, Y \\le k)$ for standard normals with
    correlation $\\rho$ (Genz's method, absolute error about $10^{-15}$).

    **Arguments:** `h`, `k`, `rho`: broadcastable arrays, $\\rho \\in [-1, 1]$.

    **Returns:** float64 array of the broadcast shape. Pure JAX (jit/vmap-able).
    """
    return _bvn_upper(-_f64(h), -_f64(k), rho)


# --------------------------------------------------------------------------- threshold labels

_TH_CLIP = 12.0  # |a_r| is clipped here in the logistic quadrature (r in (1e-33, 1))
_TH_RANGE = 13.0  # x_1/σ is integrated over [-13, 13] (the Gaussian weight beyond: 1e-38)
_TH_FIXED = np.array([-13.0, -10, -8, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 8, 10, 13])
_TH_KINK = np.array([-16.0, -4.0, -1.0, 0.0, 1.0, 4.0, 16.0])
_TH_TILT = np.array([-6.0, -3.0, 0.0, 3.0, 6.0])
_TH_GL_X, _TH_GL_W = np.polynomial.legendre.leggauss(16)
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def _threshold_logistic(sigma, a, w, b):
    """$\\mathbb E\\,\\mathrm{softplus}(-y(w\\cdot x + b))$ for threshold labels, $r < 1$.

    With $g = x_1/\\sigma$, the margin of a $+1$ sample given $g$ is Gaussian,
    $\\mathcal N(\\mu(g), c^2)$ with $\\mu(g) = b + \\sigma w_1g$ and $c = \\sigma\\|w_\\perp\\|$,
    so $L = \\int\\varphi(g)\\,[\\mathbf 1_{g > a}L_G(\\mu, c)
    + \\mathbf 1_{g < a}L_G(-\\mu, c)]\\,dg$ with $L_G$ the Gaussian logistic loss of
    docs/mathematics.md §4. Gauss–Legendre (16 nodes) on panels of $g \\in [-13, 13]$ split at $a$,
    at fixed points, around the kink $\\mu(g) = 0$ (width $\\max(1, c)/\\sigma|w_1|$)
    and around the tilted peaks $g = \\mp\\sigma w_1$ of $\\varphi(g)e^{\\mp\\mu(g)}$.
    """
    sw1 = sigma * w[0]
    c = sigma * jnp.linalg.norm(w[1:]) if w.shape[0] > 1 else jnp.zeros(())
    a = jnp.clip(a, -_TH_CLIP, _TH_CLIP)
    flat = jnp.abs(sw1) < 1e-300
    sw1_safe = jnp.where(flat, 1.0, sw1)
    g_kink = jnp.where(flat, 0.0, jnp.clip(-b / sw1_safe, -2 * _TH_RANGE, 2 * _TH_RANGE))
    width = jnp.where(flat, 1.0, jnp.minimum(jnp.maximum(1.0, c) / jnp.abs(sw1_safe), 4.0))
    tilt = jnp.clip(sw1, -2 * _TH_RANGE, 2 * _TH_RANGE)
    points = jnp.concatenate([
        jnp.asarray(_TH_FIXED), a[None], g_kink + width * _TH_KINK,
        tilt + _TH_TILT, -tilt + _TH_TILT,
    ])
    points = jnp.sort(jnp.clip(points, -_TH_RANGE, _TH_RANGE))
    lo, hi = points[:-1], points[1:]
    half = 0.5 * (hi - lo)
    g = 0.5 * (hi + lo)[:, None] + half[:, None] * _TH_GL_X  # (panels, nodes)
    mu = b + sw1 * g
    upper = g > a  # panels never straddle a (a is a break point)
    loss = pop.gaussian_logistic_loss(jnp.where(upper, mu, -mu), c)
    f = jnp.exp(-0.5 * g * g) * _INV_SQRT_2PI * loss
    return jnp.sum(half * jnp.sum(_TH_GL_W * f, axis=-1))


class ThresholdPopulation(AbstractPopulation):
    """Gaussian inputs with threshold labels (paper App. I; docs/mathematics.md §13).

    $x \\sim \\mathcal N(0, \\sigma^2 I_d)$, label $y = +1$ iff $x_1 > \\theta =
    \\sigma a_r$, $a_r = \\Phi^{-1}(1 - r)$, so a fraction $r$ is labelled $+1$ ($r = 1$ is
    the reduced model). The margin $m = y(w\\cdot x + b)$ is not Gaussian. With
    $\\beta = b/\\sigma\\|w\\|$, $\\rho = -w_1/\\|w\\|$ and $\\Phi_2$ the bivariate normal CDF
    (Genz's method, absolute error about $10^{-15}$):

    - accuracy (the paper's Eq. 52): $A = \\Phi(\\beta) + \\Phi(a_r) - 2\\Phi_2(a_r, \\beta;
      \\rho)$; at $w = 0$, $r$ for $b > 0$, $1 - r$ for $b < 0$, 0 at $b = 0$;
    - exponential loss: $L = e^{\\sigma^2\\|w\\|^2/2}[e^{-b}\\Phi(-a_r - \\sigma w_1) +
      e^{b}\\Phi(a_r - \\sigma w_1)]$, evaluated in log space;
    - logistic loss: a quadrature over $x_1$ of the Gaussian logistic loss of the
      conditional margin (16-node Gauss–Legendre on about 36 panels of
      $x_1/\\sigma \\in [-13, 13]$; relative error below $10^{-9}$ in the tests), and
      exactly §4's formula at $r = 1$. For $r < 1$, $a_r$ is clipped to $[-12, 12]$, i.e.
      fractions $r$ closer than $10^{-33}$ to 0 or 1 are treated as at that distance.

    **Arguments:**

    - `sigma`: $\\sigma > 0$.
    - `r`: the fraction labelled $+1$, in $(0, 1]$.

    **Raises:** `ValueError` for $\\sigma \\le 0$ or $r \\notin (0, 1]$.
    """

    sigma: jax.Array = eqx.field(converter=_f64)
    r: jax.Array = eqx.field(converter=_f64)

    def __check_init__(self):
        sigma, r = _concrete(self.sigma), _concrete(self.r)
        if sigma is not None and not (np.all(np.isfinite(sigma)) and np.all(sigma > 0)):
            raise ValueError(f"`sigma` must be positive and finite; got {sigma!r}.")
        if r is not None and not (np.all(r > 0) and np.all(r <= 1)):
            raise ValueError(f"`r` must be in (0, 1]; got {r!r}.")

    @property
    def a_r(self) -> jax.Array:
        """$a_r = \\Phi^{-1}(1 - r)$ ($-\\infty$ at $r = 1$)."""
        return ndtri(1.0 - self.r)

    @property
    def threshold(self) -> jax.Array:
        """The threshold $\\theta = \\sigma\\Phi^{-1}(1 - r)$ on $x_1$."""
        return self.sigma * self.a_r

    def margin_moments(self, w: Weights, b: Scalar) -> tuple[Scalar, Scalar]:
        """The exact mean $(2r - 1)b + 2\\sigma\\varphi(a_r)w_1$ and standard deviation
        of the (non-Gaussian) margin $y(w\\cdot x + b)$; use `accuracy` and `loss` for the
        metrics, not a Gaussian formula of these moments.

        **Arguments:** `w`, shape `(d,)`; `b`, a scalar.

        **Returns:** `(mbar, s)`, two scalars.
        """
        a = jnp.clip(self.a_r, -_BV_CLIP, _BV_CLIP)
        phi = jnp.exp(-0.5 * a * a) * _INV_SQRT_2PI
        mean = (2.0 * self.r - 1.0) * b + 2.0 * self.sigma * phi * w[0]
        second = self.sigma**2 * jnp.sum(w * w) + b * b
        return mean, jnp.sqrt(jnp.maximum(second - mean * mean, 0.0))

    def accuracy(self, w: Weights, b: Scalar) -> Scalar:
        """$A = \\Phi(\\beta) + \\Phi(a_r) - 2\\Phi_2(a_r, \\beta; \\rho)$
        (docs/mathematics.md §13).

        **Arguments:** `w`, shape `(d,)`; `b`, a scalar.

        **Returns:** a scalar in $[0, 1]$.
        """
        b = _f64(b)
        norm = jnp.linalg.norm(w)
        s = self.sigma * norm
        pos = s > 0
        s_safe = jnp.where(pos, s, 1.0)
        beta = jnp.clip(b / s_safe, -_BV_CLIP, _BV_CLIP)
        rho = -w[0] / jnp.where(pos, norm, 1.0)
        a = jnp.clip(self.a_r, -_BV_CLIP, _BV_CLIP)
        acc = ndtr(beta) + ndtr(a) - 2.0 * bivariate_normal_cdf(a, beta, rho)
        at_zero = jnp.where(b > 0, self.r, jnp.where(b < 0, 1.0 - self.r, 0.0))
        return jnp.clip(jnp.where(pos, acc, at_zero), 0.0, 1.0)

    def log_exponential_loss(self, w: Weights, b: Scalar) -> Scalar:
        """$\\log L^{\\exp}$: $\\sigma^2\\|w\\|^2/2 + \\log[e^{-b}\\Phi(-a_r - \\sigma w_1) +
        e^{b}\\Phi(a_r - \\sigma w_1)]$, without overflow.

        **Arguments:** `w`, shape `(d,)`; `b`, a scalar.

        **Returns:** a scalar.
        """
        sw1 = self.sigma * w[0]
        a = self.a_r
        return 0.5 * self.sigma**2 * jnp.sum(w * w) + jnp.logaddexp(
            -b + log_ndtr(-a - sw1), b + log_ndtr(a - sw1)
        )

    def loss(self, loss: AbstractLoss, w: Weights, b: Scalar) -> Scalar:
        """Population loss: the closed form (exponential) or the quadrature (logistic).

        **Arguments:** `loss`, an `AbstractLoss` (logistic or exponential); `w`, shape
        `(d,)`; `b`, a scalar.

        **Returns:** a scalar.
        """
        b = _f64(b)
        if loss.name == "exponential":
            return jnp.exp(self.log_exponential_loss(w, b))
        gaussian = pop.gaussian_logistic_loss(b, self.sigma * jnp.linalg.norm(w))
        quad = _threshold_logistic(self.sigma, self.a_r, w, b)
        return jnp.where(self.r >= 1.0, gaussian, quad)


def threshold_problem(
    n: int, d: int, sigma: float, *, r: float, seed: int = 0, loss="logistic"
) -> Problem:
    """Gaussian data with threshold labels: $+1$ iff $x_1 > \\sigma\\Phi^{-1}(1 - r)$
    (paper App. I; docs/mathematics.md §13).

    The data are those of `gaussian_problem(n, d, sigma, seed=seed)` (same numpy
    expression), so $r = 1$ gives exactly that problem. For $r < 1$ the labelled data
    are separable with the bias ($w = e_1$, $b = -\\theta$), so gradient flow tends to
    the max-margin solution and the limiting test accuracy is below 1.

    **Arguments:** `n`, `d` positive integers; `sigma > 0`; `r`: the fraction labelled
    $+1$, in $(0, 1]$ (the paper's Fig. 16 uses 1, 0.99, 0.95); `seed`; `loss` as for
    `Problem`.

    **Returns:** a `Problem` (labels $\\pm1$, with a bias) with a `ThresholdPopulation`.

    **Raises:** `ValueError` for non-positive sizes or $\\sigma$, or $r \\notin (0, 1]$.
    """
    n = _positive_int("n", n)
    d = _positive_int("d", d)
    sigma = _positive("sigma", sigma)
    try:
        r = float(r)
    except (TypeError, ValueError):
        raise ValueError(f"`r` must be a number in (0, 1]; got {r!r}.") from None
    if not (0.0 < r <= 1.0):
        raise ValueError(f"`r` must be in (0, 1]; got {r!r}.")
    x = sigma * np.random.default_rng(_seed(seed)).standard_normal((n, d))
    population = ThresholdPopulation(sigma, r)
    theta = float(population.threshold)
    y = np.where(x[:, 0] > theta, 1.0, -1.0)
    return Problem(x, y, loss=loss, population=population)
