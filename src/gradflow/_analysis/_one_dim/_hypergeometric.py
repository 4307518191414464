"""General $\\lambda \\in (0, 1)\\setminus\\{\\frac12\\}$ (docs/mathematics.md §11):
$\\tau = F(w) - F(w_0)$ with $F$ a ${}_2F_1$ (an incomplete Beta or Lerch function),
inverted for $w(\\tau)$ by safeguarded Newton; $b(w)$ in closed form; physical time by quadrature.

Below $\\frac12$ (`Inseparable`) the unknown is $\\xi = \\log|x|$,
$x = \\sigma(1-a)(w^* - w)$, so that $w - w^*$, and with it $b(w)$, keep full relative
accuracy as $\\tau \\to \\infty$; above (`Separable`) it is $\\eta = \\log a + \\sigma(1-a)w$.
"""

import math

import numpy as np

from ._base import AbstractTwoPointFlow
from ._special import _beta0, _bracketed_newton, _lerch_neg, _log_expm1


def _t_of_xi(q: float, xi):
    """$T$ with $\\tau = K[T(x) - T(x_0)]$, at $\\xi = \\log|x|$ on the side of $x_0$."""
    ax = np.exp(xi)
    omy = -np.expm1(-ax)
    y = np.exp(-ax)
    return _beta0(q, y, omy)


class Inseparable(AbstractTwoPointFlow):
    """$0 < \\lambda < \\frac12$ ($-1 < a < 0$), $w_0 \\ne w^*$: $w \\to w^*$."""

    sigma: float
    a: float
    w0: float
    b0: float
    w_star: float
    c: float
    kappa: float  # x = kappa (w* - w)
    K: float
    x0: float
    sign: float
    q: float
    T0: float

    def __init__(self, sigma: float, a: float, w_star: float, w0: float, b0: float):
        self.sigma, self.a, self.w_star, self.w0, self.b0 = sigma, a, w_star, w0, b0
        c = 1.0 / (1.0 - a)
        self.c = c
        self.kappa = sigma * (1.0 - a)
        self.K = 2.0 * c / sigma**2 * (-a) ** (-c)
        self.x0 = self.kappa * (w_star - w0)
        self.sign = 1.0 if self.x0 > 0 else -1.0
        self.q = c if self.x0 > 0 else 1.0 - c
        self.T0 = float(_t_of_xi(self.q, np.log(abs(self.x0))))

    def _dtau_dxi(self, xi):
        ax = np.exp(xi)
        return -self.K * ax * np.exp(-self.q * ax) / (-np.expm1(-ax))

    def _xi_of_tau(self, tau):
        """Solve $K[T(\\xi) - T_0] = \\tau$ for $\\xi = \\log|x|$ (safeguarded Newton)."""
        xi0 = math.log(abs(self.x0))
        tau = np.asarray(tau, dtype=np.float64)
        hi = np.full(tau.shape, xi0)  # tau(hi) = 0 <= target
        lo = xi0 - tau / self.K - 1.0
        for _ in range(200):
            short = self.K * (_t_of_xi(self.q, lo) - self.T0) < tau
            if not short.any():
                break
            lo = np.where(short, lo - 2.0 * (xi0 - lo), lo)
        x = np.clip(xi0 - tau / self.K, lo, hi)

        def residual(x):  # tau decreases with xi: tau - tau(xi) increases
            return tau - self.K * (_t_of_xi(self.q, x) - self.T0), -self._dtau_dxi(x)

        return _bracketed_newton(residual, x, lo, hi, 4e-16)

    def wb(self, tau):
        tau = np.asarray(tau, dtype=np.float64)
        s, a, b0 = self.sigma, self.a, self.b0
        xi = self._xi_of_tau(tau)
        x = np.exp(xi)
        w = self.w_star - self.sign * x / self.kappa
        ax0 = abs(self.x0)
        dw = self.sign * (ax0 - x) / self.kappa  # w - w0, without cancellation
        # E + a = |a| expm1(x_signed), x_signed = sign |x|: the ratio of these
        if self.sign > 0:
            log_ratio = _log_expm1(x) - _log_expm1(ax0)
        else:
            log_ratio = np.log(-np.expm1(-x)) - math.log(-math.expm1(-ax0))
        b = b0 + dw / (s * a) + log_ratio / (s**2 * a)
        return w, b

    def exact_log_t(self, tau):
        return None

    def exact_tau(self, log_t):
        return None


class Separable(AbstractTwoPointFlow):
    """$\\frac12 < \\lambda < 1$ ($0 < a < 1$): $w$, $b \\to \\infty$."""

    sigma: float
    a: float
    w0: float
    b0: float
    c: float
    K: float
    eta0: float
    J0: float

    def __init__(self, sigma: float, a: float, w0: float, b0: float):
        self.sigma, self.a, self.w0, self.b0 = sigma, a, w0, b0
        c = 1.0 / (1.0 - a)
        self.c = c
        self.K = 2.0 * c / sigma**2 * a ** (-c)
        self.eta0 = math.log(a) + sigma * (1.0 - a) * w0
        self.J0 = float(_lerch_neg(c, math.exp(self.eta0)))

    def _eta_of_tau(self, tau):
        """Solve $K[J(e^\\eta) - J_0] = \\tau$ for $\\eta$ (Newton)."""
        tau = np.asarray(tau, dtype=np.float64)
        c, K = self.c, self.K
        lo = np.full(tau.shape, self.eta0)
        hi = self.eta0 + np.log1p(tau) + 1.0
        for _ in range(400):
            short = K * (_lerch_neg(c, np.exp(hi)) - self.J0) < tau
            if not short.any():
                break
            hi = np.where(short, hi + 2.0 * (hi - lo) + 1.0, hi)

        def residual(x):
            return (K * (_lerch_neg(c, np.exp(x)) - self.J0) - tau,
                    K * np.exp(c * x - np.logaddexp(0.0, x)))

        return _bracketed_newton(residual, 0.5 * (lo + hi), lo, hi, 4e-16)

    def wb(self, tau):
        tau = np.asarray(tau, dtype=np.float64)
        s, a, w0, b0 = self.sigma, self.a, self.w0, self.b0
        # eta = log a + sigma (1 - a) w
        eta = self._eta_of_tau(tau)
        w = w0 + (eta - self.eta0) / (s * (1.0 - a))
        # (E + a)/(E0 + a) = (1 + y)/y * y0/(1 + y0), y = e^eta
        log_ratio = (np.logaddexp(0.0, -eta) - np.logaddexp(0.0, -self.eta0))
        b = b0 + (w - w0) / (s * a) + log_ratio / (s**2 * a)
        return w, b

    def exact_log_t(self, tau):
        return None

    def exact_tau(self, log_t):
        return None
