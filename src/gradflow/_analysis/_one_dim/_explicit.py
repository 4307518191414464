"""The cases with explicit $w(\\tau)$, $b(\\tau)$ (docs/mathematics.md §11): (A) $\\lambda = 0$,
(B) $\\lambda = \\frac12$, (C) $\\lambda = 1$, and a start at rest on the fixed point
$w_0 = w^*$ ($0 < \\lambda < \\frac12$). Physical time is exact for (A) (through
${}_2F_1$, except where its form degenerates), (B) at $\\sigma = 1$ (Lambert W), (C) and
at rest."""

import math

import numpy as np
import scipy.special as sc

from ._base import AbstractTwoPointFlow


def _logarithmic_growth(tau, sigma, w0, b0, *, scale, drift):
    """$w = w_0 + \\frac1\\sigma\\ell$, $b = b_0 + \\alpha\\tau + \\frac1{\\sigma^2}\\ell$ with
    $\\ell = \\log(1 + \\sigma^2\\tau/(cA))$, $A = e^{\\sigma w_0}$: the form cases (B)
    ($c$ = `scale` = 2, $\\alpha$ = `drift` = ½) and (C) ($c = 1$, $\\alpha = 0$) share."""
    tau = np.asarray(tau, dtype=np.float64)
    big_a = math.exp(sigma * w0)
    ell = np.log1p(sigma**2 * tau / (scale * big_a))
    bias = b0 + drift * tau if drift else b0
    return w0 + ell / sigma, bias + ell / sigma**2


class CaseA(AbstractTwoPointFlow):
    """(A) $\\lambda = 0$: $w = \\frac2\\sigma\\operatorname{artanh}(k e^{-\\sigma^2\\tau})$,
    $k = \\tanh(\\sigma w_0/2)$."""

    sigma: float
    w0: float
    b0: float

    def wb(self, tau):
        tau = np.asarray(tau, dtype=np.float64)
        s, w0, b0 = self.sigma, self.w0, self.b0
        k = math.tanh(s * w0 / 2)
        p = 1.0 / s**2
        y = k * np.exp(-(s**2) * tau)
        w = 2.0 / s * np.arctanh(y)
        b = b0 + tau + p * (np.log1p(-y * y) - math.log1p(-k * k))
        return w, b

    def exact_log_t(self, tau):
        s, w0, b0 = self.sigma, self.w0, self.b0
        tau = np.asarray(tau, dtype=np.float64)
        p = 1.0 / s**2
        j = 1.0 / (2.0 * s**2)
        if abs(j - round(j)) < 1e-12 and round(j) >= 1:
            return None  # 1 - p/2 a non-positive integer: the 2F1 form degenerates
        k2 = math.tanh(s * w0 / 2) ** 2
        f0 = float(sc.hyp2f1(-p, -p / 2, 1 - p / 2, k2))
        fy = sc.hyp2f1(-p, -p / 2, 1 - p / 2, k2 * np.exp(-2 * s**2 * tau))
        with np.errstate(divide="ignore"):
            inner = np.log(fy - np.exp(-tau) * f0)
        return b0 - p * math.log1p(-k2) + tau + inner

    def exact_tau(self, log_t):
        return None


class CaseB(AbstractTwoPointFlow):
    """(B) $\\lambda = \\frac12$: $w = w_0 + \\frac1\\sigma\\log(1 + \\sigma^2\\tau/2A)$,
    $A = e^{\\sigma w_0}$; $t(\\tau)$ and its inverse (Lambert W) exact at $\\sigma = 1$."""

    sigma: float
    w0: float
    b0: float

    def wb(self, tau):
        return _logarithmic_growth(tau, self.sigma, self.w0, self.b0, scale=2, drift=0.5)

    def exact_log_t(self, tau):
        if self.sigma != 1.0:
            return None
        tau = np.asarray(tau, dtype=np.float64)
        big_a = math.exp(self.w0)
        # t e^{-b0} = 2 e^{tau/2}(1 + (tau-2)/(2A)) - 2 + 2/A
        with np.errstate(divide="ignore"):
            val = 2 * np.exp(tau / 2) * (1 + (tau - 2) / (2 * big_a)) - 2 + 2 / big_a
            return self.b0 + np.log(val)

    def exact_tau(self, log_t):
        if self.sigma != 1.0:
            return None
        big_a = math.exp(self.w0)
        big_t = np.exp(log_t - self.b0) + 2 - 2 / big_a
        arg = big_a / 2 * math.exp(big_a - 1) * big_t
        return 2 * (np.real(sc.lambertw(arg, 0)) + 1 - big_a)


class CaseC(AbstractTwoPointFlow):
    """(C) $\\lambda = 1$: $w = w_0 + \\frac1\\sigma\\log(1 + \\sigma^2\\tau/A)$,
    $A = e^{\\sigma w_0}$; $t(\\tau)$ and its inverse explicit."""

    sigma: float
    w0: float
    b0: float

    def wb(self, tau):
        return _logarithmic_growth(tau, self.sigma, self.w0, self.b0, scale=1, drift=0.0)

    def exact_log_t(self, tau):
        s, w0, b0 = self.sigma, self.w0, self.b0
        tau = np.asarray(tau, dtype=np.float64)
        big_a = math.exp(s * w0)
        g = (1 + s**2) / s**2
        with np.errstate(divide="ignore"):
            return (b0 + math.log(big_a / (1 + s**2))
                    + np.log(np.expm1(g * np.log1p(s**2 * tau / big_a))))

    def exact_tau(self, log_t):
        s, w0, b0 = self.sigma, self.w0, self.b0
        big_a = math.exp(s * w0)
        u = np.log1p((1 + s**2) * np.exp(log_t - b0) / big_a)
        return big_a / s**2 * np.expm1(s**2 / (1 + s**2) * u)


class AtRest(AbstractTwoPointFlow):
    """$0 < \\lambda < \\frac12$ from $w_0 = w^*$: $w$ stays, $b$ grows at the rate
    $\\tilde L^*$ (`ltilde_star`)."""

    sigma: float
    w0: float
    b0: float
    ltilde_star: float

    def wb(self, tau):
        tau = np.asarray(tau, dtype=np.float64)
        return np.full(tau.shape, self.w0), self.b0 + self.ltilde_star * tau

    def exact_log_t(self, tau):
        tau = np.asarray(tau, dtype=np.float64)
        lt = self.ltilde_star
        with np.errstate(divide="ignore"):
            return self.b0 - math.log(lt) + np.log(np.expm1(lt * tau))

    def exact_tau(self, log_t):
        return None
