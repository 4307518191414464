"""The population interface: what every data distribution gives for test metrics.

Equinox's abstract/final pattern (as in diffrax): abstract classes declare abstract
methods and may define concrete ones; final classes implement the abstract methods and
override nothing concrete. So `AbstractPopulation.loss` is the one population loss of
every population, and no caller needs to ask which class defined it.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import _population as pop
from .._custom_types import Scalar, Weights
from .._loss import AbstractLoss

jax.config.update("jax_enable_x64", True)


class AbstractPopulation(eqx.Module):
    """A data distribution of labelled inputs, which defines the test metrics of a
    `Problem` through the margin $m = y(w\\cdot x + b)$ (docs/mathematics.md §4, §13).

    Subclasses give `accuracy` and `log_loss`; `loss` is $\\exp$ of `log_loss` for
    every population. A population whose margin is Gaussian subclasses
    `AbstractGaussianMarginPopulation` and gives only the margin's moments. Their fields
    are arrays or numbers, or declared `eqx.field(static=True)`: gradflow's compiled
    functions take the problem whole, and `Problem` refuses other fields.
    """

    @abc.abstractmethod
    def accuracy(self, w: Weights, b: Scalar) -> Scalar:
        """Population accuracy $P(m > 0)$ (the Heaviside convention of docs/mathematics.md §2).

        **Arguments:** `w`, shape `(d,)`; `b`, a scalar.

        **Returns:** a scalar in $[0, 1]$.
        """

    @abc.abstractmethod
    def log_loss(self, loss: AbstractLoss, w: Weights, b: Scalar) -> Scalar:
        """$\\log\\mathbb E\\,\\ell(m)$, the log of the population loss, finite wherever
        the formula allows (no overflow of $e^{-m}$ for the exponential loss).

        **Arguments:** `loss`, an `AbstractLoss`; `w`, shape `(d,)`; `b`, a scalar.

        **Returns:** a scalar.
        """

    def loss(self, loss: AbstractLoss, w: Weights, b: Scalar) -> Scalar:
        """Population loss $\\mathbb E\\,\\ell(m) = \\exp$ `log_loss`.

        **Arguments:** `loss`, an `AbstractLoss`; `w`, shape `(d,)`; `b`, a scalar.

        **Returns:** a scalar.
        """
        return jnp.exp(self.log_loss(loss, w, b))


class AbstractGaussianMarginPopulation(AbstractPopulation):
    """A population under which the margin is Gaussian, $m \\sim \\mathcal N(\\bar m, s^2)$.

    Subclasses give `margin_moments`; accuracy $\\Phi(\\bar m/s)$ and the losses follow
    from docs/mathematics.md §4 (`gradflow._population`), the loss's formula chosen by the loss
    itself (`AbstractLoss.log_gaussian_mean`).
    """

    @abc.abstractmethod
    def margin_moments(self, w: Weights, b: Scalar) -> tuple[Scalar, Scalar]:
        """Mean $\\bar m$ and standard deviation $s$ of the population margin.

        **Arguments:** `w`, shape `(d,)`; `b`, a scalar.

        **Returns:** `(mbar, s)`, two scalars.
        """

    def accuracy(self, w: Weights, b: Scalar) -> Scalar:
        """$\\Phi(\\bar m/s)$ (docs/mathematics.md §4)."""
        mbar, s = self.margin_moments(w, b)
        return pop.gaussian_accuracy(mbar, s)

    def log_loss(self, loss: AbstractLoss, w: Weights, b: Scalar) -> Scalar:
        """The loss's Gaussian closed form at the margin's moments (docs/mathematics.md §4)."""
        mbar, s = self.margin_moments(w, b)
        return loss.log_gaussian_mean(mbar, s)


# --------------------------------------------------------------------------- field helpers


def f64(v):
    """`v` as a float64 JAX array (the converter of population fields)."""
    return jnp.asarray(v, dtype=jnp.float64)


def concrete(v) -> np.ndarray | None:
    """`v` as a numpy array, or `None` under a JAX transformation (no checks there)."""
    try:
        return np.asarray(v)
    except jax.errors.TracerArrayConversionError:
        return None


def check_field(name: str, value, *, positive: bool) -> None:
    """A population parameter: finite and `> 0` (or `>= 0`); not checked under a JAX
    transformation, where it has no value.

    **Raises:** `ValueError` naming `name`.
    """
    v = concrete(value)
    if v is None:
        return
    ok = np.all(np.isfinite(v)) and (np.all(v > 0) if positive else np.all(v >= 0))
    if not ok:
        raise ValueError(f"`{name}` must be {'positive' if positive else '>= 0'} and finite; "
                         f"got {v.tolist()!r}.")
