"""Argument checks shared by gradflow's entry points: real arrays and data matrices,
finite and positive numbers, tolerances and their ranges, counts, seeds and times. Each
raises a `ValueError` that names the argument."""

import math
import numbers

import numpy as np


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

