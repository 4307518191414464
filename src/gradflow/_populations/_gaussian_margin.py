"""Populations under which the margin is Gaussian (docs/mathematics.md §4, §13).

- `GaussianPopulation`: the paper's reduced model, $x \\sim \\mathcal N(0, \\sigma^2 I_d)$,
  label $+1$;
- `TwoGaussianPopulation`: the original two-Gaussian model without bias (finite
  $\\sigma_A$, paper Sec. 5);
- `PowerLawPopulation`: Gaussian inputs with a diagonal (power-law) covariance, label
  $+1$ (paper App. G (i)).

Each gives only `margin_moments`; accuracy and losses are the closed forms of
`AbstractGaussianMarginPopulation`.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._custom_types import Scalar, Weights
from ._abstract import AbstractGaussianMarginPopulation, check_field, concrete, f64

jax.config.update("jax_enable_x64", True)


class GaussianPopulation(AbstractGaussianMarginPopulation):
    """The paper's reduced model: $x \\sim \\mathcal N(0, \\sigma^2 I_d)$, label $+1$.

    The margin is $\\mathcal N(b, \\sigma^2\\|w\\|^2)$ (docs/mathematics.md §4, Eqs. 3–4).

    **Arguments:** `sigma > 0`, the standard deviation of each input coordinate.

    **Raises:** `ValueError` for `sigma <= 0` or non-finite (outside JAX transformations).
    """

    sigma: Scalar = eqx.field(converter=f64)

    def __check_init__(self):
        check_field("sigma", self.sigma, positive=True)

    def margin_moments(self, w, b):
        return b, self.sigma * jnp.linalg.norm(w)


class TwoGaussianPopulation(AbstractGaussianMarginPopulation):
    """The original two-Gaussian model (docs/mathematics.md §1, §13), without bias.

    $y = \\pm1$ equiprobable, $X = y\\mu e_0 + \\xi \\in \\mathbb R^{d+1}$,
    $\\xi_0 \\sim \\mathcal N(0, \\sigma_A^2)$, $\\xi_\\perp \\sim \\mathcal N(0, \\sigma_B^2 I_d)$.
    The margin $yW\\cdot X$ has mean $\\mu W_0$ and variance
    $\\sigma_A^2W_0^2 + \\sigma_B^2\\|W_\\perp\\|^2$ (the bias `b` is not part of this model).

    **Arguments:** `mu` ($\\mu > 0$), `sigma_a` ($\\sigma_A \\ge 0$), `sigma_b`
    ($\\sigma_B > 0$).

    **Raises:** `ValueError` for values outside these ranges or non-finite (outside JAX
    transformations).
    """

    mu: Scalar = eqx.field(converter=f64)
    sigma_a: Scalar = eqx.field(converter=f64)
    sigma_b: Scalar = eqx.field(converter=f64)

    def __check_init__(self):
        check_field("mu", self.mu, positive=True)
        check_field("sigma_a", self.sigma_a, positive=False)
        check_field("sigma_b", self.sigma_b, positive=True)

    def margin_moments(self, w, b):
        var = (self.sigma_a * w[0]) ** 2 + self.sigma_b**2 * jnp.sum(w[1:] ** 2)
        return self.mu * w[0], jnp.sqrt(var)


# --------------------------------------------------------------------------- power law


def powerlaw_variances(d: int, sigma: float, alpha: float = 1.0) -> np.ndarray:
    """The variances $\\Sigma_{kk} = \\sigma^2 k^{-\\alpha} / (\\frac1d\\sum_j j^{-\\alpha})$,
    $k = 1, \\dots, d$: a power-law spectrum whose mean is $\\sigma^2$ (docs/mathematics.md §13)."""
    k = np.arange(1, d + 1, dtype=np.float64)
    spec = k ** (-float(alpha))
    return sigma**2 * spec / spec.mean()


class PowerLawPopulation(AbstractGaussianMarginPopulation):
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

    variances: jax.Array = eqx.field(converter=f64)

    def __check_init__(self):
        v = concrete(self.variances)
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
