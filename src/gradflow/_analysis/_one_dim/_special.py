"""Special functions of the two-point closed forms (docs/mathematics.md §11) and the bracketed
Newton solver that inverts them (numpy, host only)."""

import numpy as np
import scipy.special as sc

# --------------------------------------------------------------------------- constants

#: Gauss–Legendre nodes per panel of the physical-time quadrature.
_GL_NODES = 20
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_NODES)
#: Panels of the quadrature in $\tau$: geometric up to 1 (resolves the fast initial
#: transient, rate $\sim\sigma^2$), then at most this wide (rate of $e^{b}$ is $\tilde L
#: \le \max(\tilde L(w_0), 1)$ after the transient).
_PANEL = 0.25
#: Terms of the logarithmic expansion of ${}_2F_1$ near argument 1 ($|1-z| \le 1/2$).
_SERIES_TERMS = 64
_NEWTON_ITERS = 100


def _bracketed_newton(residual, x, lo, hi, rtol: float):
    """Newton's method, elementwise, on an increasing function kept inside a bracket.

    `residual(x)` returns `(r, dr/dx)`; the root lies in `[lo, hi]`, which shrinks as
    iterates fall on either side of it; a Newton step leaving the bracket (or not finite)
    is replaced by bisection. Stops when every step is below `rtol * max(1, |x|)`.
    """
    for _ in range(_NEWTON_ITERS):
        r, slope = residual(x)
        lo = np.where(r < 0, x, lo)
        hi = np.where(r >= 0, x, hi)
        new = x - r / slope
        bad = ~((new > lo) & (new < hi)) | ~np.isfinite(new)
        new = np.where(bad, 0.5 * (lo + hi), new)
        done = np.abs(new - x) <= rtol * np.maximum(1.0, np.abs(x))
        x = new
        if done.all():
            break
    return x


# --------------------------------------------------------------------------- special functions


def _beta0(p: float, y, one_minus_y):
    """$B(y; p, 0) = \\int_0^y u^{p-1}(1-u)^{-1}du$ for $0 < y < 1$, $p > 0$.

    $= \\frac{y^p}p{}_2F_1(1, p; 1+p; y)$ (scipy) for $y \\le \\frac12$; above, the
    logarithmic expansion (Abramowitz & Stegun 15.3.10, $a = 1$, $b = p$)
    $-\\log(1-y) + y^p\\sum_n\\frac{(p)_n}{n!}[\\psi(n+1) - \\psi(p+n)](1-y)^n$,
    which takes the accurately known `one_minus_y` rather than $1 - y$.
    """
    y = np.asarray(y, dtype=np.float64)
    omy = np.asarray(one_minus_y, dtype=np.float64)
    small = y <= 0.5
    out = np.empty(np.broadcast(y, omy).shape)
    ys = np.where(small, y, 0.25)
    out_small = ys**p / p * sc.hyp2f1(1.0, p, 1.0 + p, ys)
    n = np.arange(_SERIES_TERMS)
    poch = np.concatenate([[1.0], np.cumprod((p + n[:-1]) / (n[:-1] + 1.0))])
    coef = poch * (sc.digamma(n + 1.0) - sc.digamma(p + n))
    ob = np.where(small, 0.5, omy)
    series = np.polynomial.polynomial.polyval(ob, coef)
    out_big = -np.log(ob) + np.where(small, 0.5, y) ** p * series
    out[...] = np.where(small, out_small, out_big)
    return out


def _lerch_neg(c: float, y):
    """$J(y) = \\int_0^y u^{c-1}(1+u)^{-1}du = \\frac{y^c}c{}_2F_1(1, c; 1+c; -y)$, $y > 0$."""
    y = np.asarray(y, dtype=np.float64)
    return y**c / c * sc.hyp2f1(1.0, c, 1.0 + c, -y)


def _log_expm1(x):
    """$\\log(e^x - 1)$ for $x > 0$ without overflow."""
    x = np.asarray(x, dtype=np.float64)
    big = x > 30.0
    xs = np.where(big, 1.0, x)
    return np.where(big, x + np.log1p(-np.exp(-np.where(big, x, 31.0))), np.log(np.expm1(xs)))
