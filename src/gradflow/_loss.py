"""Per-sample losses $\\ell(m)$ of the margin $m = y(w\\cdot x + b)$ (docs/mathematics.md §2).

Each loss is a small `equinox.Module` strategy with three numerically stable pieces:

- `value(m)`: $\\ell(m)$;
- `log_value(m)`: $\\log \\ell(m)$, finite wherever $\\ell(m) > 0$ mathematically;
- `log_rate(m)`: $\\log(-\\ell'(m))$, the log of the weight each sample gets in the
  gradient, from which every vector field of `gradflow._flow` is built;
- `log_curvature_plus_margin(m)`: $\\log\\ell''(m) + m$, the weight of each sample in
  the Jacobian of the vector fields (the stiff solver's linear part).

The two losses of the paper are exponentially tailed, $-\\ell'(m) \\sim e^{-m}$, so
`log_rate(m) + m` stays bounded as $m \\to \\infty$; the clocks use this to keep digits.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp

from ._custom_types import Array

jax.config.update("jax_enable_x64", True)


class AbstractLoss(eqx.Module):
    """A per-sample loss $\\ell(m)$ of the margin $m$."""

    name: eqx.AbstractClassVar[str]

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

    def log_rate(self, m: Array) -> Array:
        """$\\log(-\\ell'(m))$."""
        return self.log_rate_plus_margin(m) - m


class LogisticLoss(AbstractLoss):
    """Cross-entropy $\\ell(m) = \\log(1 + e^{-m}) = \\mathrm{softplus}(-m)$."""

    name = "logistic"

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


class ExponentialLoss(AbstractLoss):
    """Exponential loss $\\ell(m) = e^{-m}$."""

    name = "exponential"

    def value(self, m):
        return jnp.exp(-m)

    def log_value(self, m):
        return -m

    def log_rate_plus_margin(self, m):
        return jnp.zeros_like(m)

    def log_curvature_plus_margin(self, m):
        return jnp.zeros_like(m)


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
