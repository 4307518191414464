"""The symmetric Gaussian mixture population (paper App. G (ii); docs/mathematics.md §13).

Its margin is a mixture of two Gaussians, so accuracy and loss average the Gaussian
formulas of docs/mathematics.md §4 over the two components.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import _population as pop
from .._custom_types import Scalar, Weights
from .._loss import AbstractLoss
from .._ltilde import log_mean_exp
from ._abstract import AbstractPopulation, concrete, f64

jax.config.update("jax_enable_x64", True)


class MixturePopulation(AbstractPopulation):
    """A symmetric mixture of two Gaussians, label $+1$ (paper App. G (ii)).

    $x \\sim \\frac12\\mathcal N(\\nu, \\sigma^2 I) + \\frac12\\mathcal N(-\\nu, \\sigma^2 I)$.
    The margin is the mixture $\\frac12\\sum_\\pm\\mathcal N(b \\pm w\\cdot\\nu, s^2)$,
    $s = \\sigma\\|w\\|$, which is not Gaussian: `accuracy` and `log_loss` average the
    Gaussian formulas of docs/mathematics.md §4 over the two components (docs/mathematics.md §13):
    $A = \\frac12\\sum_\\pm\\Phi\\big(\\frac{b \\pm w\\cdot\\nu}{s}\\big)$,
    $L^{\\exp} = e^{-b+s^2/2}\\cosh(w\\cdot\\nu)$, and the logistic loss is the average of
    the two Gaussian logistic losses.

    **Arguments:**

    - `nu`: the component mean $\\nu$, shape `(d,)`, finite.
    - `sigma`: the component scale $\\sigma > 0$.

    **Raises:** `ValueError` for a non-finite `nu` or $\\sigma \\le 0$.
    """

    nu: jax.Array = eqx.field(converter=f64)
    sigma: jax.Array = eqx.field(converter=f64)

    def __check_init__(self):
        nu, sigma = concrete(self.nu), concrete(self.sigma)
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

    def log_loss(self, loss: AbstractLoss, w: Weights, b: Scalar) -> Scalar:
        """$\\log$ of the average of the Gaussian losses of the two components, each the
        loss's own closed form (`AbstractLoss.log_gaussian_mean`), combined by a
        `logsumexp`: for the exponential loss $-b + s^2/2 + \\log\\cosh(w\\cdot\\nu)$,
        finite whenever the result is.

        **Arguments:** `loss`, an `AbstractLoss`; `w`, shape `(d,)`; `b`, a scalar.

        **Returns:** a scalar.
        """
        means, s = self._components(w, b)
        return log_mean_exp(loss.log_gaussian_mean(means, s))
