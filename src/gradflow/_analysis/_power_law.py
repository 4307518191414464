"""Power laws of the divergence at $\\lambda \\to \\frac12^-$: $Q = A(\\frac12 - \\lambda)^{-\\nu}$,
fitted by least squares in logarithms (docs/mathematics.md §12), and the per-λ means
over draws they are fitted to."""

import math

import equinox as eqx
import numpy as np


class PowerLaw(eqx.Module):
    """A fit $Q = A\\,(\\frac12 - \\lambda)^{-\\nu}$ (least squares in logarithms).

    **Fields:** `exponent` $\\nu$, `exponent_err` (one standard error), `amplitude` $A$,
    `amplitude_err` (relative), `points`: the number of $\\lambda$ values used.
    """

    exponent: float
    exponent_err: float
    amplitude: float
    amplitude_err: float
    points: int

    def at_gap(self, gap) -> np.ndarray:
        """The fitted $Q = A\\,g^{-\\nu}$ at $g = \\frac12 - \\lambda$ (an array like `gap`;
        NaN for a fit that failed)."""
        return self.amplitude * np.asarray(gap, dtype=np.float64) ** (-self.exponent)


def fit_power_law(lam, values, errors=None) -> PowerLaw:
    """Fit $Q = A(\\frac12 - \\lambda)^{-\\nu}$ by (weighted) least squares in logarithms.

    **Arguments:** `lam` (shape `(L,)`, all $< \\frac12$); `values` $Q > 0$; `errors`:
    optional standard errors of $\\log Q$ (weights; non-positive or NaN ones are
    replaced by the median of the others).

    **Returns:** a `PowerLaw` (NaN exponent with fewer than 2 finite points).
    """
    lam = np.asarray(lam, dtype=np.float64)
    q = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(q) & (q > 0) & (lam < 0.5)
    if ok.sum() < 2:
        return PowerLaw(math.nan, math.nan, math.nan, math.nan, int(ok.sum()))
    x = np.log(0.5 - lam[ok])
    y = np.log(q[ok])
    w = None
    if errors is not None:
        e = np.asarray(errors, dtype=np.float64)[ok]
        good = np.isfinite(e) & (e > 0)
        if good.any():
            e = np.where(good, e, np.median(e[good]))
            w = 1.0 / e
    if ok.sum() == 2:
        coef = np.polyfit(x, y, 1, w=w)
        cov = np.full((2, 2), np.nan)
    else:
        coef, cov = np.polyfit(x, y, 1, w=w, cov=True)
    return PowerLaw(float(-coef[0]), float(math.sqrt(cov[0, 0])), float(math.exp(coef[1])),
                    float(math.sqrt(cov[1, 1])), int(ok.sum()))


def _mean_and_err(v):
    """Mean over the last axis of finite values, and the standard error of log(v)."""
    means = np.full(v.shape[0], np.nan)
    errs = np.full(v.shape[0], np.nan)
    for i, row in enumerate(v):
        row = row[np.isfinite(row) & (row > 0)]
        if row.size:
            means[i] = row.mean()
            if row.size > 1:
                errs[i] = np.std(np.log(row), ddof=1) / math.sqrt(row.size)
    return means, errs
