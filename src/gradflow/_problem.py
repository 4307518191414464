"""Learning problems: data, labels, loss and the population that defines test metrics.

The model is linear with a bias, $f(x) = w\\cdot x + b$, and the margin of a sample with
label $y = \\pm1$ is $m = y(w\\cdot x + b)$ (docs/mathematics.md §1: labels $+1$,
generalization means $b \\to +\\infty$; the paper's
labels are $-1$, mapped by $S = -w$, $b_P = -b$).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import _as_data, _positive
from ._custom_types import Array, Data, Labels, Scalar, Weights
from ._labels import _as_labels, _label_classes, _label_values
from ._loss import AbstractLoss, as_loss
from ._ltilde import log_mean_exp
from ._populations import AbstractPopulation, GaussianPopulation

jax.config.update("jax_enable_x64", True)


class Params(eqx.Module):
    """Model parameters.

    **Fields:** `w`, the weights (shape `(d,)`); `b`, the bias (scalar).
    """

    w: Weights
    b: Scalar


def _params_pair(y0, name: str = "y0"):
    """`(w, b)` of a `Params` or of a pair; `ValueError` naming `name` otherwise."""
    if isinstance(y0, Params):
        return y0.w, y0.b
    try:
        w, b = y0
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be `Params(w, b)` or a pair `(w, b)`.") from None
    return w, b


def _check_fields(name: str, module) -> None:
    """A population's or loss's fields must be arrays (or numbers), or declared static:
    gradflow's compiled functions take the whole problem as an argument.

    **Raises:** `ValueError` naming `name` and the field."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(module):
        if not eqx.is_array_like(leaf):
            raise ValueError(
                f"`{name}` has a field {jax.tree_util.keystr(path)!r} of type "
                f"{type(leaf).__name__}, which is not an array: gradflow's compiled functions "
                "take the problem as an argument; declare such a field with "
                "`eqx.field(static=True)`."
            )


# --------------------------------------------------------------------------- the problem


class Problem(eqx.Module):
    """A training set, a loss, and where test metrics come from.

    **Arguments:**

    - `x`: data, shape `(n, d)`, finite.
    - `y`: labels, shape `(n,)`; default all $+1$ (the paper's reduced model). Numbers
      $\\pm1$ are used as they are (one class is allowed: all $+1$ is the reduced
      model); booleans map `True` to $+1$; any other two distinct values (e.g. `{0, 1}`
      or two strings) map to $\\pm1$, the positive class being the larger in sorted
      order unless `positive_class` names it. A list, numpy, pandas or xarray array.
    - `loss`: `"logistic"` (cross-entropy, default) or `"exponential"`, or an `AbstractLoss`.
    - `sigma`: if given, test metrics come from the Gaussian population
      $\\mathcal N(0, \\sigma^2 I)$ with label $+1$ (closed forms, docs/mathematics.md §4).
    - `x_test`, `y_test`: a held-out set (labels default to $+1$); used for test metrics
      when given (it takes precedence over `sigma` and `population`).
    - `population`: any `AbstractPopulation` (e.g. `TwoGaussianPopulation`) instead of `sigma`.
    - `fit_bias`: train the bias $b$ (default). With `False` the model is $w\\cdot x$ and
      $b$ stays at 0, as in the two-Gaussian model.
    - `positive_class`: the label value that becomes $+1$ (default: see `y`).

    `x` and `x_test` may be numpy, pandas (`DataFrame`) or xarray (`DataArray`) arrays
    (converted with `numpy.asarray`). The labels' original values are kept in `classes`
    = `(negative, positive)`; `positive_class` is the second.

    **Raises:** `ValueError` for data that is not a finite non-empty 2-D array, labels
    with one class only (other than all $\\pm1$), more than two classes or the wrong
    length, a `positive_class` that is not a class, $\\sigma \\le 0$, an unknown loss, or
    a test set with the wrong number of columns.
    """

    x: Data
    y: Labels
    loss: AbstractLoss
    population: AbstractPopulation | None
    x_test: Data | None
    y_test: Labels | None
    fit_bias: bool = eqx.field(static=True)
    classes: tuple = eqx.field(static=True)  # (negative, positive) label values
    # Derived, stored so that the vector field does not redo an (n, d) product per call.
    z: Data  # y_i x_i
    zt: Data  # z transposed (d, n), stored contiguous: `w @ zt` is XLA's fast layout on a
    # CPU when w is a batch (Radau5's three stages: 46 against 95 us at n = 400, d = 190)
    a: Labels  # coefficient of b in the margin: y_i, or 0 without a bias

    def __init__(
        self,
        x,
        y=None,
        *,
        loss="logistic",
        sigma=None,
        x_test=None,
        y_test=None,
        population: AbstractPopulation | None = None,
        fit_bias: bool = True,
        positive_class=None,
    ):
        x = _as_data("x", x)
        n, d = x.shape
        if y is None:
            if positive_class is not None:
                raise ValueError("`positive_class` was given without labels `y`.")
            classes = (-1.0, 1.0)
        else:
            classes = _label_classes("y", _label_values("y", y), positive_class)
        y = _as_labels("y", y, n, classes)
        self.classes = classes
        self.loss = as_loss(loss)
        if sigma is not None and population is not None:
            raise ValueError("Give either `sigma` or `population`, not both.")
        if sigma is not None:
            population = GaussianPopulation(_positive("sigma", sigma))
        if population is not None and not isinstance(population, AbstractPopulation):
            raise ValueError(
                f"`population` must be an AbstractPopulation; got {type(population).__name__}."
            )
        _check_fields("population", population)
        _check_fields("loss", self.loss)
        if y_test is not None and x_test is None:
            raise ValueError("`y_test` was given without `x_test`.")
        if x_test is not None:
            x_test = _as_data("x_test", x_test, d)
            y_test = jnp.asarray(_as_labels("y_test", y_test, x_test.shape[0], classes))
            x_test = jnp.asarray(x_test)
        self.x = jnp.asarray(x)
        self.y = jnp.asarray(y)
        self.population = population
        self.x_test = x_test
        self.y_test = y_test
        self.fit_bias = bool(fit_bias)
        self.z = jnp.asarray(y[:, None] * x)
        self.zt = jnp.asarray(np.ascontiguousarray((y[:, None] * x).T))
        self.a = jnp.asarray(y if fit_bias else np.zeros(n))

    # ---- shapes and parameters
    @property
    def n(self) -> int:
        """Number of training samples."""
        return self.x.shape[0]

    @property
    def d(self) -> int:
        """Input dimension."""
        return self.x.shape[1]

    @property
    def lam(self) -> float:
        """$\\lambda = d/n$."""
        return self.d / self.n

    @property
    def positive_class(self):
        """The original label value mapped to $+1$ (`classes[1]`)."""
        return self.classes[1]

    @property
    def sigma(self):
        """$\\sigma$ of a `GaussianPopulation`, else `None`."""
        if isinstance(self.population, GaussianPopulation):
            return self.population.sigma
        return None

    @property
    def has_test(self) -> bool:
        """Whether test metrics are defined (a held-out set or a population)."""
        return self.x_test is not None or self.population is not None

    # ---- metrics of one parameter point (jit/vmap-able)
    def zw(self, w: Weights) -> Array:
        """$y_i\\,w\\cdot x_i$ for each sample, as `w @ zt` (see `zt`)."""
        return w @ self.zt

    def margins(self, w: Weights, b) -> Array:
        """Training margins $m_i = y_i(w\\cdot x_i + b)$ (bias term dropped without a bias)."""
        return self.zw(w) + self.a * b

    def train_loss(self, w, b) -> Scalar:
        """Mean training loss $L = \\frac1n\\sum_i \\ell(m_i)$, overflow-safe."""
        return _mean_loss(self.loss, self.margins(w, b))

    def train_accuracy(self, w, b) -> Scalar:
        """Fraction of training samples with $m_i > 0$."""
        return jnp.mean(self.margins(w, b) > 0)

    def _test_margins(self, w, b):
        bias = b if self.fit_bias else 0.0
        return self.y_test * (self.x_test @ w + bias)

    def test_loss(self, w, b) -> Scalar:
        """Test loss: held-out mean loss, or the population loss (docs/mathematics.md §4)."""
        if self.x_test is not None:
            return _mean_loss(self.loss, self._test_margins(w, b))
        if self.population is not None:
            return self.population.loss(self.loss, w, b)
        return jnp.nan

    def test_accuracy(self, w, b) -> Scalar:
        """Test accuracy: held-out fraction correct,
        or $\\Phi(\\bar m/s)$ (docs/mathematics.md §4)."""
        if self.x_test is not None:
            return jnp.mean(self._test_margins(w, b) > 0)
        if self.population is not None:
            return self.population.accuracy(w, b)
        return jnp.nan


def _mean_loss(loss: AbstractLoss, m):
    # mean of l(m_i) as exp(logsumexp(log l(m_i)) - log n): finite whenever the true
    # value is, for the exponential loss too (docs/mathematics.md §2).
    return jnp.exp(log_mean_exp(loss.log_value(m)))


def as_problem(problem) -> Problem:
    """The `Problem` behind `problem`: itself, or the `.problem` of a model object that
    carries one (e.g. `TwoPointModel`), so such models are accepted wherever a `Problem` is.

    **Arguments:** `problem`, a `Problem` or an object with a `.problem`.

    **Returns:** the `Problem`.

    **Raises:** `ValueError` (naming `problem`) for anything else.
    """
    if isinstance(problem, Problem):
        return problem
    inner = getattr(problem, "problem", None)
    if isinstance(inner, Problem):
        return inner
    raise ValueError(
        f"`problem` must be a gradflow.Problem (or a model with a `.problem`, such as "
        f"TwoPointModel); got {type(problem).__name__}."
    )
