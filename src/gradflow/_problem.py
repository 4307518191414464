"""Learning problems: data, labels, loss and the population that defines test metrics.

The model is linear with a bias, $f(x) = w\\cdot x + b$, and the margin of a sample with
label $y = \\pm1$ is $m = y(w\\cdot x + b)$ (docs/mathematics.md §1: labels $+1$,
generalization means $b \\to +\\infty$; the paper's
labels are $-1$, mapped by $S = -w$, $b_P = -b$).
"""

import math
import numbers

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._custom_types import Array, Data, Labels, Scalar, Weights
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


# --------------------------------------------------------------------------- validation


def _real_array(name: str, value) -> np.ndarray:
    """`value` as a float64 array; complex or non-numeric input is an error (numpy would
    drop an imaginary part with only a warning)."""
    arr = np.asarray(value)
    if np.iscomplexobj(arr):
        raise ValueError(f"`{name}` must be real; got complex values (their imaginary part "
                         "would be dropped).")
    try:
        return np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be an array of real numbers; got {arr.dtype} "
                         "values.") from None


def _as_data(name: str, value, d: int | None = None) -> np.ndarray:
    arr = _real_array(name, value)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"`{name}` must be a non-empty 2-D array of shape (n, d); got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    if d is not None and arr.shape[1] != d:
        raise ValueError(
            f"`{name}` must have d = {d} columns like the training data; got {arr.shape[1]}."
        )
    return arr


def _label_values(name: str, value) -> np.ndarray:
    """`value` (a sequence, numpy, pandas or xarray array) as a 1-D numpy array of labels,
    not yet mapped to ±1. Complex numbers are an error, as for the data."""
    arr = np.asarray(value)
    if np.iscomplexobj(arr):
        raise ValueError(f"`{name}` must be real; got complex values (their imaginary part "
                         "would be dropped).")
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    return arr


def _is_signed(arr: np.ndarray) -> bool:
    """Whether `arr` holds numbers that are all +1 or -1 (the native encoding)."""
    if arr.dtype.kind not in "iuf":
        return False
    return bool(np.all(np.isin(arr, (-1.0, 1.0))))


def _label_classes(name: str, arr: np.ndarray, positive_class=None) -> tuple:
    """The two classes `(negative, positive)` of training labels `arr`.

    Labels already in $\\{-1, +1\\}$ (numbers) keep their meaning, also with one class
    only (all $+1$ is the paper's reduced model): classes `(-1.0, 1.0)`. Booleans map
    `True` to $+1$. Any other encoding must have exactly two distinct values; the
    positive class is `positive_class` if given, else the larger one in sorted order
    (`1` of `{0, 1}`, `"b"` of `{"a", "b"}`).
    """
    if arr.dtype.kind == "b":
        classes = (False, True)
    elif _is_signed(arr) and positive_class in (None, 1, 1.0, -1, -1.0):
        classes = (-1.0, 1.0)
    else:
        try:
            values = np.unique(arr)
        except TypeError:
            raise ValueError(f"`{name}` must hold labels of one comparable type (numbers, "
                             f"booleans or strings); got {arr.dtype} values.") from None
        if values.size == 1:
            raise ValueError(
                f"`{name}` has one class only ({values[0]!r}): a classifier needs two. "
                "(Labels all +1, the paper's reduced model, are accepted as +1/-1 labels.)"
            )
        if values.size > 2:
            raise ValueError(
                f"`{name}` must have exactly two classes; got {values.size}: "
                f"{values[:5].tolist()}{' ...' if values.size > 5 else ''}."
            )
        classes = tuple(v.item() if hasattr(v, "item") else v for v in values)
    if positive_class is not None:
        if positive_class not in classes:
            raise ValueError(f"`positive_class` must be one of the classes of `{name}`, "
                             f"{list(classes)}; got {positive_class!r}.")
        if positive_class == classes[0]:
            classes = classes[::-1]
    return classes


def _as_labels(name: str, value, n: int, classes=(-1.0, 1.0)) -> np.ndarray:
    """Labels `value` (shape `(n,)`) as ±1 floats: the second of `classes` is +1."""
    if value is None:
        return np.ones(n)
    arr = _label_values(name, value)
    if arr.shape != (n,):
        raise ValueError(f"`{name}` must have shape ({n},) to match the data; got {arr.shape}.")
    neg, pos = classes
    is_pos = arr == pos
    bad = ~(is_pos | (arr == neg))
    if np.any(bad):
        allowed = "+1 and -1" if classes == (-1.0, 1.0) else f"the classes {list(classes)}"
        raise ValueError(
            f"`{name}` must contain only {allowed}; got {arr[bad][:5].tolist()} "
            f"at indices {np.flatnonzero(bad)[:5].tolist()}."
        )
    return np.where(is_pos, 1.0, -1.0)


def _finite(name: str, value, what: str = "a finite number") -> float:
    """A finite float; `ValueError` naming `name` (and saying `what` it must be) otherwise."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be {what}; got {value!r}.") from None
    if not math.isfinite(v):
        raise ValueError(f"`{name}` must be {what}; got {value!r}.")
    return v


def _positive(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a positive number; got {value!r}.") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"`{name}` must be positive and finite; got {value!r}.")
    return v


#: The range of a relative accuracy knob (`rtol` of the ODE solves, `gtol` of Newton).
#: Below 1e-14 (about 45 float64 roundings) step-size control cannot meet the tolerance
#: and a solve only runs out of steps; above 1e-2 the result is not a solution any more
#: (`integrate(..., rtol=1.0)` returned b = 3.8e7 where the flow has b = 18.1, and was
#: called successful).
RELATIVE_TOLERANCE = (1e-14, 1e-2)
#: The range of an absolute tolerance (`atol`): positive (an error norm relative to
#: `atol + rtol |y|` is undefined at y = 0 with atol = 0) and at most 1e-2, like `rtol`.
ABSOLUTE_TOLERANCE = (0.0, 1e-2)


def _tolerance(name: str, value, bounds=RELATIVE_TOLERANCE) -> float:
    """`value` as a float inside `bounds` = (low, high): `low <= value <= high`, or
    `0 < value <= high` when `low` is 0. The one validator of gradflow's accuracy knobs
    (`rtol`, `atol`, `gtol`).

    **Raises:** `ValueError` naming `name` and the range.
    """
    low, high = bounds
    interval = f"(0, {high:g}]" if low == 0 else f"[{low:g}, {high:g}]"
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number in {interval}; got {value!r}.") from None
    if not (math.isfinite(v) and (v > 0 if low == 0 else v >= low) and v <= high):
        raise ValueError(
            f"`{name}` must be in {interval}: a tolerance outside it gives no meaningful "
            f"result; got {value!r}."
        )
    return v


def _positive_int(name: str, value, minimum: int = 1) -> int:
    """An integer $\\ge$ `minimum` (default 1: positive; an integral float such as `3.0` is
    accepted)."""
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    bad = ValueError(f"`{name}` must be {what}; got {value!r}.")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise bad
    if not isinstance(value, numbers.Integral):
        if not (math.isfinite(value) and float(value).is_integer()):
            raise bad
    if int(value) < minimum:
        raise bad
    return int(value)


def _params_pair(y0, name: str = "y0"):
    """`(w, b)` of a `Params` or of a pair; `ValueError` naming `name` otherwise."""
    if isinstance(y0, Params):
        return y0.w, y0.b
    try:
        w, b = y0
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be `Params(w, b)` or a pair `(w, b)`.") from None
    return w, b


def _seed(value):
    """A seed for `numpy.random.default_rng`: a non-negative integer or a non-empty list
    of them (returned as `int` or `list[int]`)."""
    def one(v):
        return (isinstance(v, numbers.Integral) and not isinstance(v, bool) and int(v) >= 0)

    if one(value):
        return int(value)
    if isinstance(value, list | tuple | np.ndarray) and len(value) > 0 and all(
        one(v) for v in np.asarray(value, dtype=object).ravel()
    ) and np.ndim(value) == 1:
        return [int(v) for v in value]
    raise ValueError(f"`seed` must be a non-negative integer or a list of them; "
                     f"got {value!r}.")


def _time(name: str, value) -> float:
    """A positive finite time, at least the smallest normal float64 (about 2.2e-308):
    below it, the default saved times `t_max/100 .. t_max` cannot be told apart."""
    v = _positive(name, value)
    if v < np.finfo(np.float64).tiny:
        raise ValueError(f"`{name}` must be at least {np.finfo(np.float64).tiny:.3g} (the "
                         f"smallest normal float64); got {value!r}.")
    return v


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
    def margins(self, w: Weights, b) -> Array:
        """Training margins $m_i = y_i(w\\cdot x_i + b)$ (bias term dropped without a bias)."""
        return self.z @ w + self.a * b

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
