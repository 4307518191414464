"""Labels: any two-class encoding (±1 numbers, booleans, {0, 1}, strings) read as the ±1
floats of the margin $m = y(w\\cdot x + b)$ (docs/mathematics.md §1)."""

import numpy as np


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

