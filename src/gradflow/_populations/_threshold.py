"""Gaussian inputs with threshold labels (paper App. I; docs/mathematics.md §13).

Accuracy by the bivariate normal CDF (the paper's Eq. 52), the exponential loss in
closed form, any other loss (logistic) by a one-dimensional quadrature over $x_1$ of the
loss's Gaussian closed form for the conditional margin.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr, ndtr, ndtri

from .._custom_types import Scalar, Weights
from .._loss import AbstractLoss, ExponentialLoss
from ._abstract import AbstractPopulation, concrete, f64
from ._bivariate_normal import _BV_CLIP, bivariate_normal_cdf

jax.config.update("jax_enable_x64", True)

_TH_CLIP = 12.0  # |a_r| is clipped here in the logistic quadrature (r in (1e-33, 1))
_TH_RANGE = 13.0  # x_1/σ is integrated over [-13, 13] (the Gaussian weight beyond: 1e-38)
_TH_FIXED = np.array([-13.0, -10, -8, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 8, 10, 13])
_TH_KINK = np.array([-16.0, -4.0, -1.0, 0.0, 1.0, 4.0, 16.0])
_TH_TILT = np.array([-6.0, -3.0, 0.0, 3.0, 6.0])
_TH_GL_X, _TH_GL_W = np.polynomial.legendre.leggauss(16)
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def _threshold_quadrature(loss: AbstractLoss, sigma, a, w, b):
    """$\\mathbb E\\,\\ell(y(w\\cdot x + b))$ for threshold labels, $r < 1$, by quadrature.

    With $g = x_1/\\sigma$, the margin of a $+1$ sample given $g$ is Gaussian,
    $\\mathcal N(\\mu(g), c^2)$ with $\\mu(g) = b + \\sigma w_1g$ and $c = \\sigma\\|w_\\perp\\|$,
    so $L = \\int\\varphi(g)\\,[\\mathbf 1_{g > a}L_G(\\mu, c)
    + \\mathbf 1_{g < a}L_G(-\\mu, c)]\\,dg$ with $L_G$ the loss's Gaussian closed form
    (`AbstractLoss.gaussian_mean`, docs/mathematics.md §4). Gauss–Legendre (16 nodes) on panels of
    $g \\in [-13, 13]$ split at $a$, at fixed points, around the kink $\\mu(g) = 0$ (width
    $\\max(1, c)/\\sigma|w_1|$) and around the tilted peaks $g = \\mp\\sigma w_1$ of
    $\\varphi(g)e^{\\mp\\mu(g)}$: the panels are placed for the logistic loss (a softplus
    kink, exponential tails).
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
    given_g = loss.gaussian_mean(jnp.where(upper, mu, -mu), c)
    f = jnp.exp(-0.5 * g * g) * _INV_SQRT_2PI * given_g
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

    sigma: jax.Array = eqx.field(converter=f64)
    r: jax.Array = eqx.field(converter=f64)

    def __check_init__(self):
        sigma, r = concrete(self.sigma), concrete(self.r)
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
        of the (non-Gaussian) margin $y(w\\cdot x + b)$; use `accuracy` and `log_loss` for the
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
        b = f64(b)
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

    def log_loss(self, loss: AbstractLoss, w: Weights, b: Scalar) -> Scalar:
        """$\\log$ of the population loss: the closed form `log_exponential_loss` for the
        exponential loss; for any other loss (logistic) the quadrature over $x_1$ of the
        loss's Gaussian closed form, and that closed form itself at $r = 1$.

        **Arguments:** `loss`, an `AbstractLoss`; `w`, shape `(d,)`; `b`, a scalar.

        **Returns:** a scalar.
        """
        b = f64(b)
        if isinstance(loss, ExponentialLoss):  # the one loss with a closed form here
            return self.log_exponential_loss(w, b)
        gaussian = loss.log_gaussian_mean(b, self.sigma * jnp.linalg.norm(w))
        quad = jnp.log(_threshold_quadrature(loss, self.sigma, self.a_r, w, b))
        return jnp.where(self.r >= 1.0, gaussian, quad)
