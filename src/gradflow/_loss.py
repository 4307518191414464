"""Per-sample losses $\\ell(m)$ of the margin $m = y(w\\cdot x + b)$ (docs/mathematics.md §2).

Each loss is a small `equinox.Module` strategy with these numerically stable pieces:

- `value(m)`: $\\ell(m)$;
- `log_value(m)`: $\\log \\ell(m)$, finite wherever $\\ell(m) > 0$ mathematically;
- `log_rate(m)`: $\\log(-\\ell'(m))$, the log of the weight each sample gets in the
  gradient, from which every vector field of `gradflow._flow` is built;
- `log_curvature_plus_margin(m)`: $\\log\\ell''(m) + m$, the weight of each sample in
  the Jacobian of the vector fields (the stiff solver's linear part);
- `gaussian_mean(mbar, s)` and `log_gaussian_mean(mbar, s)`: the population loss
  $\\mathbb E\\,\\ell(m)$ of a Gaussian margin $m \\sim \\mathcal N(\\bar m, s^2)$ and its
  log (docs/mathematics.md §4), so that each loss carries its own closed form and populations
  dispatch on the loss's type, never on its `name`;
- `max_curvature`: $\\sup_m\\ell''(m)$ (`inf` when unbounded), which decides whether
  gradient descent has a global step-size bound (docs/mathematics.md §3).

`name` is data (file names, the command line), not a switch.

The two losses of the paper are exponentially tailed, $-\\ell'(m) \\sim e^{-m}$, so
`log_rate(m) + m` stays bounded as $m \\to \\infty$; the clocks use this to keep digits.
"""

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp

from . import _population as pop
from ._custom_types import Array

jax.config.update("jax_enable_x64", True)


class AbstractLoss(eqx.Module):
    """A per-sample loss $\\ell(m)$ of the margin $m$.

    A subclass's fields (if any) are arrays or numbers, or declared
    `eqx.field(static=True)`: gradflow's compiled functions take the problem, and its
    loss, whole; `Problem` refuses other fields."""

    name: eqx.AbstractClassVar[str]
    max_curvature: eqx.AbstractClassVar[float]

    @abc.abstractmethod
    def value(self, m: Array) -> Array:
        """$\\ell(m)$."""

    @abc.abstractmethod
    def log_value(self, m: Array) -> Array:
        """$\\log\\ell(m)$."""

    @abc.abstractmethod
    def log_rate_plus_margin(self, m: Array) -> Array:
        """$\\log(-\\ell'(m)) + m$: bounded for exponentially tailed losses."""

    @abc.abstractmethod
    def log_curvature_plus_margin(self, m: Array) -> Array:
        """$\\log\\ell''(m) + m$: bounded for exponentially tailed losses. The curvature
        $\\ell''$ weighs each sample in the Jacobian of every clock's vector field."""

    @abc.abstractmethod
    def gaussian_mean(self, mbar: Array, s: Array) -> Array:
        """$\\mathbb E\\,\\ell(m)$ for $m \\sim \\mathcal N(\\bar m, s^2)$: the population loss
        of a Gaussian margin (docs/mathematics.md §4), elementwise over broadcastable arrays."""

    @abc.abstractmethod
    def log_gaussian_mean(self, mbar: Array, s: Array) -> Array:
        """$\\log\\mathbb E\\,\\ell(m)$ for $m \\sim \\mathcal N(\\bar m, s^2)$, finite wherever
        the closed form allows (docs/mathematics.md §4)."""

    def log_rate(self, m: Array) -> Array:
        """$\\log(-\\ell'(m))$."""
        return self.log_rate_plus_margin(m) - m

    def shifted_rate_and_curvature(self, shift_minus_margin: Array, m: Array):
        """$e^{c}(-\\ell'(m))$ and $e^{c}\\ell''(m)$ for a clock shift $c$, given
        $c - m$ (formed by the caller without cancellation) and $m$: the weights of the
        samples in a clock's vector field and in its Jacobian. This generic form takes
        the exponential of `log_rate_plus_margin` and `log_curvature_plus_margin`;
        losses override it with fewer transcendental functions (the vector field's
        elementwise cost: `benchmarks/bench_solvers.py`)."""
        return (jnp.exp(shift_minus_margin + self.log_rate_plus_margin(m)),
                jnp.exp(shift_minus_margin + self.log_curvature_plus_margin(m)))


class LogisticLoss(AbstractLoss):
    """Cross-entropy $\\ell(m) = \\log(1 + e^{-m}) = \\mathrm{softplus}(-m)$."""

    name = "logistic"
    max_curvature = 0.25  # l'' = sigmoid(m) sigmoid(-m) <= 1/4, at m = 0

    def value(self, m):
        return jnp.logaddexp(0.0, -m)

    def log_value(self, m):
        # log(softplus(-m)); for m > 30, softplus(-m) = e^{-m}(1 - e^{-m}/2 + ...) and
        # the direct form would underflow to log(0) once m > 745.
        big = m > 30.0
        m_small = jnp.where(big, 0.0, m)
        m_big = jnp.where(big, m, 31.0)
        direct = jnp.log(jnp.logaddexp(0.0, -m_small))
        tail = -m_big + jnp.log1p(-0.5 * jnp.exp(-m_big))
        return jnp.where(big, tail, direct)

    def log_rate_plus_margin(self, m):
        # -l'(m) = sigmoid(-m) = e^{-m} / (1 + e^{-m})  =>  log(-l') + m = -softplus(-m)
        return -jnp.logaddexp(0.0, -m)

    def log_curvature_plus_margin(self, m):
        # l''(m) = sigmoid(m) sigmoid(-m) = e^{-m} / (1 + e^{-m})^2
        return -2.0 * jnp.logaddexp(0.0, -m)

    def shifted_rate_and_curvature(self, shift_minus_margin, m):
        # With e = exp(-|m|): e^{c} sigmoid(-m) = exp(c - max(m, 0)) / (1 + e) and
        # sigmoid(m) = [1 or e] / (1 + e) for m >= 0 or m < 0: two exponentials where
        # the generic form takes four (softplus is an exp and a log1p), measured 3x
        # cheaper for n = 442. c - max(m, 0) = (c - m) + min(m, 0) keeps (c - m) exact.
        e = jnp.exp(-jnp.abs(m))
        rate = jnp.exp(shift_minus_margin + jnp.minimum(m, 0.0)) / (1.0 + e)
        return rate, rate * jnp.where(m >= 0, 1.0, e) / (1.0 + e)

    def gaussian_mean(self, mbar, s):
        return pop.gaussian_logistic_loss(mbar, s)

    def log_gaussian_mean(self, mbar, s):
        # no closed form for the log: the quadrature's own result, underflowing to
        # log(0) = -inf only where the loss itself underflows (mbar > ~745)
        return jnp.log(pop.gaussian_logistic_loss(mbar, s))


class ExponentialLoss(AbstractLoss):
    """Exponential loss $\\ell(m) = e^{-m}$."""

    name = "exponential"
    max_curvature = math.inf  # l'' = e^{-m}, unbounded as m -> -inf

    def value(self, m):
        return jnp.exp(-m)

    def log_value(self, m):
        return -m

    def log_rate_plus_margin(self, m):
        return jnp.zeros_like(m)

    def log_curvature_plus_margin(self, m):
        return jnp.zeros_like(m)

    def shifted_rate_and_curvature(self, shift_minus_margin, m):
        # -l' = l'' = e^{-m}: both are e^{c - m}
        rate = jnp.exp(shift_minus_margin)
        return rate, rate

    def gaussian_mean(self, mbar, s):
        return pop.gaussian_exponential_loss(mbar, s)

    def log_gaussian_mean(self, mbar, s):
        return pop.gaussian_log_exponential_loss(mbar, s)


LOSSES = {"logistic": LogisticLoss, "exponential": ExponentialLoss}


def as_loss(loss) -> AbstractLoss:
    """Turn `"logistic"`, `"exponential"` or an `AbstractLoss` into an `AbstractLoss`.

    **Raises:** `ValueError` for any other value.
    """
    if isinstance(loss, AbstractLoss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise ValueError(
        f"loss={loss!r} is not a known loss; use one of {sorted(LOSSES)}."
    )
