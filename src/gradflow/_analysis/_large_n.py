"""Large-$n$ (proportional limit) curves of the bifurcation diagram (docs/mathematics.md §6, §8).

- Above $\\lambda_c = \\frac12$: the Gardner margin $\\gamma_z(\\lambda)$, solving
  $\\lambda = (1+\\gamma^2)\\Phi(\\gamma) + \\gamma\\varphi(\\gamma)$.
- Below: the CGMT prediction for $r = \\|\\tilde w^*\\|$ (unit-variance data) and $c > 0$,
  $\\mathbb E[W^2] = \\lambda r^2$, $\\mathbb E[W/(1+W)] = \\lambda$,
  $W = W_0(ce^{rG}) = \\omega(\\log c + rG)$ (Wright omega), $G\\sim\\mathcal N(0,1)$.

Expectations: Gauss–Hermite (96 nodes) while $r \\le 2$; beyond, the integrand has
structure on the scale $1/r$ in $G$ (the knee of $\\omega$ at $\\log c + rG \\approx 0$),
where Gauss–Hermite loses digits (3e-3 relative at $r = 30$), so the expectation is
taken in $u = \\log c + rG$ by composite Gauss–Legendre (16 nodes per panel, panels of
length $\\le 2$ on $|u| \\le 40$ and $\\le r/2$ outside, over $\\pm 12r$). Pure numpy/scipy
on the host.
"""

import math

import equinox as eqx
import numpy as np
import scipy.optimize
import scipy.special
import scipy.stats

_GH_U, _GH_W = np.polynomial.hermite.hermgauss(96)
_GL_U, _GL_W = np.polynomial.legendre.leggauss(16)


def _check_lambda(name, lam, lo, hi):
    arr = np.asarray(lam, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr <= lo) or np.any(arr >= hi):
        raise ValueError(f"`{name}` must lie in ({lo}, {hi}); got {lam!r}.")
    return arr


def _gardner_residual(g, lam):
    return (1.0 + g * g) * scipy.stats.norm.cdf(g) + g * scipy.stats.norm.pdf(g) - lam


def gardner_margin(lam):
    """Large-$n$ margin $\\gamma_z(\\lambda)$ of
    unit-variance Gaussian data (docs/mathematics.md §6).

    Solves $\\lambda = (1+\\gamma^2)\\Phi(\\gamma)+\\gamma\\varphi(\\gamma)$ by Brent's method
    for $\\lambda > \\frac12$; $0$ for $\\lambda \\le \\frac12$ (inseparable phase). Near
    $\\lambda_c$, $\\gamma_z \\simeq \\sqrt{\\pi/2}(\\lambda - \\frac12)$. For data of scale
    $\\sigma$ the margin is $\\gamma_x = \\sigma\\gamma_z$.

    **Arguments:** `lam`: $\\lambda = d/n > 0$, scalar or array.

    **Returns:** $\\gamma_z$, same shape as `lam` (a float for a scalar).

    **Raises:** `ValueError` for $\\lambda \\le 0$ or non-finite.
    """
    arr = _check_lambda("lam", lam, 0.0, np.inf)
    out = np.zeros_like(arr)
    for idx, v in np.ndenumerate(arr):
        if v > 0.5:
            hi = 1.0
            while _gardner_residual(hi, v) < 0:
                hi *= 2.0
            out[idx] = scipy.optimize.brentq(_gardner_residual, 0.0, hi, args=(v,), xtol=1e-15)
    return float(out) if out.ndim == 0 else out


def _expect(funcs, log_c, r):
    """$\\mathbb E[f(\\omega(\\log c + rG))]$ for each `f` in `funcs`."""
    if r <= 2.0:
        u = log_c + r * math.sqrt(2.0) * _GH_U
        wts = _GH_W / math.sqrt(math.pi)
    else:
        lo, hi = log_c - 12.0 * r, log_c + 12.0 * r
        inner = np.arange(-40.0, 40.0 + 1e-9, 2.0)
        outer_step = r / 2.0
        left = np.arange(-40.0, lo, -outer_step)[1:]
        right = np.arange(40.0, hi, outer_step)[1:]
        edges = np.concatenate([[lo], left[::-1], inner, right, [hi]])
        edges = np.unique(np.clip(edges, lo, hi))
        a, b = edges[:-1], edges[1:]
        half = 0.5 * (b - a)
        u = (0.5 * (a + b))[:, None] + half[:, None] * _GL_U[None, :]
        wts = half[:, None] * _GL_W[None, :] * scipy.stats.norm.pdf(u, log_c, r)
        u, wts = u.ravel(), wts.ravel()
    w = np.real(scipy.special.wrightomega(u))
    return [float(np.sum(wts * f(w))) for f in funcs]


def _log_c_of(r, lam):
    def g(log_c):
        return _expect([lambda w: w / (1.0 + w)], log_c, r)[0] - lam

    lo, hi = -10.0 - 20.0 * r, 10.0 + 20.0 * r
    return scipy.optimize.brentq(g, lo, hi, xtol=1e-13, rtol=1e-14)


def _cgmt_residual(log_r, lam):
    r = math.exp(log_r)
    log_c = _log_c_of(r, lam)
    (w2,) = _expect([lambda w: w * w], log_c, r)
    return math.log(w2) - math.log(lam * r * r)


class CGMTFixedPoint(eqx.Module):
    """Large-$n$ prediction for the fixed point at $\\lambda < \\frac12$ (docs/mathematics.md §8).

    **Fields:** `lam`; `r` $= \\|\\tilde w^*\\|$; `c`; `ltilde` $= \\tilde L^* =
    \\mathbb E[W]/c$; `negative_fraction` $= \\Phi(-c/r)$, the fraction of samples with
    $\\tilde w^*\\cdot z_i < 0$.
    """

    lam: float
    r: float
    c: float
    ltilde: float
    negative_fraction: float


def cgmt_fixed_point(lam: float) -> CGMTFixedPoint:
    """Solve the CGMT equations of docs/mathematics.md §8
    for $r = \\|\\tilde w^*\\|$ at one $\\lambda$.

    Nested Brent root finding ($c$ from $\\mathbb E[W/(1+W)] = \\lambda$ at fixed $r$,
    then $r$ from $\\mathbb E[W^2] = \\lambda r^2$). Near $\\lambda_c$,
    $r \\approx 0.93(\\frac12-\\lambda)^{-1/2}$.

    **Arguments:** `lam`: $\\lambda\\in(0, \\frac12)$, at most $\\frac12 - 10^{-7}$.

    **Returns:** a `CGMTFixedPoint`.

    **Raises:** `ValueError` for $\\lambda$ outside $(0, \\frac12 - 10^{-7}]$.
    """
    lam = float(_check_lambda("lam", lam, 0.0, 0.5))
    if lam > 0.5 - 1e-7:
        raise ValueError(f"`lam` must be at most 1/2 - 1e-7; got {lam!r}.")
    guess = 0.93 / math.sqrt(0.5 - lam)
    lo, hi = math.log(1e-3), math.log(20.0 * guess)
    log_r = scipy.optimize.brentq(_cgmt_residual, lo, hi, args=(lam,), xtol=1e-12)
    r = math.exp(log_r)
    log_c = _log_c_of(r, lam)
    (ew,) = _expect([lambda w: w], log_c, r)
    c = math.exp(log_c)
    return CGMTFixedPoint(lam, r, c, ew / c, float(scipy.stats.norm.cdf(-c / r)))


def cgmt_norm(lam):
    """$r(\\lambda) = \\|\\tilde w^*\\|$ of the CGMT prediction, scalar or array of
    $\\lambda\\in(0, \\frac12)$ (see `cgmt_fixed_point`).

    **Arguments:** `lam`, a scalar or array of $\\lambda$.

    **Returns:** $r$ as a float, or an array shaped like `lam`.

    **Raises:** `ValueError` for $\\lambda$ outside $(0, \\frac12 - 10^{-7}]$.
    """
    arr = _check_lambda("lam", lam, 0.0, 0.5)
    out = np.vectorize(lambda v: cgmt_fixed_point(float(v)).r, otypes=[float])(arr)
    return float(out) if out.ndim == 0 else out


def separable_accuracy(margin, sigma: float):
    """Limiting test accuracy $\\Phi(1/(\\sigma^2\\gamma_z))$ of separable points with
    σ-free margin $\\gamma_z$ = `margin` (> 0) and data scale σ (paper Prop. 3.2 with
    App. F.1's Eq. 44)."""
    return scipy.stats.norm.cdf(1.0 / (sigma * sigma * np.asarray(margin, dtype=np.float64)))


def limiting_accuracy(lam, sigma: float):
    """Large-$n$ limiting test accuracy $A_\\infty(\\lambda)$ (docs/mathematics.md §7).

    $1$ for $\\lambda \\le \\frac12$, $\\Phi(1/(\\sigma^2\\gamma_z(\\lambda)))$ above.

    **Arguments:** `lam`, a scalar or array of $\\lambda > 0$; `sigma > 0`.

    **Returns:** $A_\\infty$ as a float, or an array shaped like `lam`.

    **Raises:** `ValueError` for $\\lambda \\le 0$ or $\\sigma \\le 0$.
    """
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"`sigma` must be positive; got {sigma!r}.")
    g = np.asarray(gardner_margin(lam))
    with np.errstate(divide="ignore"):
        out = np.where(g > 0, separable_accuracy(np.where(g > 0, g, 1), sigma), 1.0)
    return float(out) if out.ndim == 0 else out


def cgmt_log_ratio(lam) -> np.ndarray:
    """Large-$n$ grokking ratio $\\log(t_{gen}/t_{train}) \\to r^2/2 - \\log\\tilde L^*$ of
    unit-variance data (docs/mathematics.md §8, §10), from `cgmt_fixed_point` at each
    $\\lambda$; it diverges like $(\\frac12 - \\lambda)^{-1}$.

    **Arguments:** `lam`, a 1-D array of $\\lambda\\in(0, \\frac12 - 10^{-7}]$.

    **Returns:** an array shaped like `lam`.

    **Raises:** `ValueError` for $\\lambda$ outside that range.
    """
    cg = [cgmt_fixed_point(v) for v in np.asarray(lam, dtype=np.float64)]
    return np.array([c.r**2 / 2 - np.log(c.ltilde) for c in cg], dtype=np.float64)


class LargeNCurves(eqx.Module):
    """The $n = \\infty$ curves of a bifurcation diagram on fine grids of $\\lambda$
    (docs/mathematics.md §6–8); what `plot_bifurcation` draws beside the data.

    **Fields:**

    - `lam_inseparable`, `norm`: 40 values of $\\lambda$ in the range and below $\\frac12$
      (inside $[10^{-3}, 0.4995]$), and the CGMT $r = \\|\\tilde w^*\\|$ there (`cgmt_norm`);
      empty when the range has no $\\lambda < \\frac12$.
    - `lam_separable`, `margin`: 60 values from $\\max(\\lambda_{min}, \\frac12)$ to
      $\\lambda_{max}$, and Gardner's margin $\\gamma_z$ (`gardner_margin`); empty when the
      range has no $\\lambda > \\frac12$.
    - `lam`, `accuracy`, `order_parameter`: 200 values over the whole range, the limiting
      test accuracy (`limiting_accuracy`) and the order parameter $m = \\sigma\\gamma_z$.
    """

    lam_inseparable: np.ndarray
    norm: np.ndarray
    lam_separable: np.ndarray
    margin: np.ndarray
    lam: np.ndarray
    accuracy: np.ndarray
    order_parameter: np.ndarray


def large_n_curves(lam, sigma: float) -> LargeNCurves:
    """The $n = \\infty$ curves over the range of `lam` (see `LargeNCurves`).

    **Arguments:** `lam`, the $\\lambda$ values of a diagram (their range sets the grids);
    `sigma > 0`, the data scale.

    **Returns:** a `LargeNCurves`.

    **Raises:** `ValueError` for $\\lambda \\le 0$ or $\\sigma \\le 0$.
    """
    lam = np.asarray(lam, dtype=np.float64)
    lo, hi = float(lam.min()), float(lam.max())
    below = np.linspace(max(lo, 1e-3), min(hi, 0.4995), 40) if lo < 0.5 else np.zeros(0)
    above = np.linspace(max(lo, 0.5), hi, 60) if hi > 0.5 else np.zeros(0)
    fine = np.linspace(lo, hi, 200)
    return LargeNCurves(
        lam_inseparable=below,
        norm=cgmt_norm(below) if below.size else np.zeros(0),
        lam_separable=above,
        margin=gardner_margin(above) if above.size else np.zeros(0),
        lam=fine,
        accuracy=limiting_accuracy(fine, sigma),
        order_parameter=sigma * np.asarray(gardner_margin(fine)),
    )
