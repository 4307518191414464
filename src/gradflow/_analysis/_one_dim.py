"""The two-point model of the paper (§4, App. E) and its closed forms (docs/mathematics.md §9–11).

Two training points on a line, in our flipped convention (docs/mathematics.md §11): $x_1 = \\sigma$,
$x_2 = \\sigma a$ with $a = 2\\lambda - 1$, labels $+1$, a bias, the exponential loss
$\\tilde L(w) = \\frac12(e^{-\\sigma w} + e^{-\\sigma aw})$, and the Gaussian population
$\\mathcal N(0, \\sigma^2)$ for test metrics (docs/mathematics.md §4 with $s = \\sigma|w|$).
The data are separable from the origin iff $\\lambda > \\frac12$ ($x_2 > 0$ here, $x_2 < 0$ in the
paper's convention).

`TwoPointModel` is a thin `equinox.Module` holding $\\lambda$, $\\sigma$ and the
`Problem` it builds (`.problem`); `as_problem` lets gradflow's analysis functions take
either. It is not a `Problem` subclass: `Problem` is a final class with its own
validating `__init__`, and `Problem.lam` is $d/n = \\frac12$ for any two points in one
dimension, which would clash with the model's $\\lambda$ (wrap, do not
override concrete methods).

Closed forms (conformal time $\\tau$, $d\\tau = e^{-b}dt$; docs/mathematics.md §11):

- general $a \\in (-1, 1)\\setminus\\{0\\}$: $\\tau = F(w) - F(w_0)$ with
  $F(w) = \\frac2{\\sigma^2}e^{\\sigma w}{}_2F_1(1, c; 1+c; -ae^{\\sigma(1-a)w})$,
  $c = \\frac1{1-a}$, inverted for $w(\\tau)$ by safeguarded Newton; $b(w)$ in closed form;
- (A) $\\lambda = 0$, (B) $\\lambda = \\frac12$, (C) $\\lambda = 1$: explicit $w(\\tau)$,
  $b(\\tau)$; physical time exact for (A) (through ${}_2F_1$), (C), and (B) at
  $\\sigma = 1$, where $\\tau(t)$ is a Lambert W (`scipy.special.lambertw`).

Elsewhere $t = \\int_0^\\tau e^{b}d\\tau'$ by Gauss–Legendre quadrature, accumulated in
logarithms so that no horizon overflows. Near the fixed point ($a < 0$) the unknown is
$\\xi = \\log|x|$, $x = \\sigma(1-a)(w^* - w)$, and ${}_2F_1$ near argument 1 is replaced
by its logarithmic expansion in $1 - z = -\\mathrm{expm1}(-x)$, so that $w - w^*$, and
with it $b(w)$, keep full relative accuracy as $\\tau \\to \\infty$.
"""

import math

import equinox as eqx
import numpy as np
import scipy.special as sc

from .._problem import Params, Problem, as_problem  # noqa: F401  (re-exported)

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


# --------------------------------------------------------------------------- results


class TwoPointSolution(eqx.Module):
    """The two-point model's gradient flow at given times, from the closed forms.

    **Fields:** `tau` (conformal time), `t` (physical time; `inf` past the float range),
    `log_t` ($\\log t$, always finite for $t > 0$), `w`, `b` (arrays of one shape);
    `case`: `"A"` ($\\lambda = 0$), `"B"` ($\\frac12$), `"C"` (1) or `"general"`;
    `physical`: how $t(\\tau)$ was obtained (`"exact"` or `"quadrature"`).
    """

    tau: np.ndarray
    t: np.ndarray
    log_t: np.ndarray
    w: np.ndarray
    b: np.ndarray
    case: str = eqx.field(static=True)
    physical: str = eqx.field(static=True)


class TwoPointFixedPoints(eqx.Module):
    """Both asymptotic states of the two-point model
    in Lotka–Volterra form (docs/mathematics.md §9).

    $\\ell_i = (t+t_c)e^{-m_i}$, $\\frac{d\\ell_i}{ds} = \\ell_i(1 - \\frac12\\sum_jK_{ij}\\ell_j)$,
    $K_{ij} = 1 + x_ix_j$.

    **Fields:**

    - `generalizing`: $\\ell^G = (\\frac{1-2\\lambda}{1-\\lambda}, \\frac1{1-\\lambda})$;
      `generalizing_eigenvalues`: $(-1, -\\sigma^2(1-2\\lambda))$ (ascending);
      `generalizing_slow`: $-\\sigma^2(1-2\\lambda)$ alone;
      `generalizing_physical`: $\\ell^G \\ge 0$, i.e. $\\lambda \\le \\frac12$.
    - `overfitting`: $\\ell^O = (0, \\frac2{1+\\sigma^2a^2})$; `overfitting_eigenvalues`:
      $-1$ and the transverse rate $-\\frac{2\\sigma^2(2\\lambda-1)(1-\\lambda)}
      {1+\\sigma^2(2\\lambda-1)^2}$ (ascending); `overfitting_transverse`: that rate alone
      (the growth rate of $\\ell_1$ near $\\ell^O$).
    - `generalizing_stable`, `overfitting_stable`: all eigenvalues $< 0$ (and physical).
      They exchange stability at $\\lambda = \\frac12$, where $\\ell^G = \\ell^O = (0, 2)$:
      a transcritical bifurcation.
    - `attractor`: `"generalizing"`, `"overfitting"` or `"critical"` ($\\lambda = \\frac12$,
      both slow rates 0).
    """

    generalizing: np.ndarray
    generalizing_eigenvalues: np.ndarray
    generalizing_slow: float
    generalizing_physical: bool
    generalizing_stable: bool
    overfitting: np.ndarray
    overfitting_eigenvalues: np.ndarray
    overfitting_transverse: float
    overfitting_stable: bool
    attractor: str = eqx.field(static=True)


# --------------------------------------------------------------------------- the model


def _check_lam_sigma(lam, sigma):
    try:
        lam = float(lam)
        sigma = float(sigma)
    except (TypeError, ValueError):
        raise ValueError(f"`lam` and `sigma` must be numbers; got {lam!r}, {sigma!r}.") from None
    if not (0.0 <= lam <= 1.0):
        raise ValueError(f"`lam` must be in [0, 1] (a = 2 lam - 1 in [-1, 1]); got {lam!r}.")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"`sigma` must be positive and finite; got {sigma!r}.")
    return lam, sigma


class TwoPointModel(eqx.Module):
    """The paper's one-dimensional two-point model (§4 Eq. 11, App. E; docs/mathematics.md §11).

    Data $x = (\\sigma, \\sigma(2\\lambda-1))$ (our flipped convention: the paper's points
    are $-\\sigma$, $\\sigma(1-2\\lambda)$ with labels $-1$), all labels $+1$, a bias, and
    the Gaussian population $\\mathcal N(0, \\sigma^2)$ for test metrics.

    **Arguments:**

    - `lam`: $\\lambda \\in [0, 1]$; inseparable (generalizing) for $\\lambda < \\frac12$.
    - `sigma`: $\\sigma > 0$.
    - `loss`: `"exponential"` (default; the closed forms are for it) or `"logistic"`.

    **Fields:** `lam`, `sigma`, and `problem`, the `Problem(x=[[σ], [σ(2λ−1)]],
    sigma=σ, loss=loss)`. Pass the model to `grokking_time`, `grokking_prediction` or
    `as_problem`, or its `.problem` to `integrate`, `fixed_point` and the rest.

    **Raises:** `ValueError` for $\\lambda \\notin [0, 1]$ or $\\sigma \\le 0$.
    """

    lam: float
    sigma: float
    problem: Problem

    def __init__(self, lam, sigma, *, loss="exponential"):
        lam, sigma = _check_lam_sigma(lam, sigma)
        self.lam = lam
        self.sigma = sigma
        self.problem = Problem(
            np.array([[sigma], [sigma * (2.0 * lam - 1.0)]]), loss=loss, sigma=sigma
        )

    # ---- parameters
    @property
    def a(self) -> float:
        """$a = 2\\lambda - 1$: $x_2 = \\sigma a$."""
        return 2.0 * self.lam - 1.0

    @property
    def c(self) -> float:
        """$c = \\frac1{1-a} = \\frac1{2(1-\\lambda)}$ (`inf` at $\\lambda = 1$)."""
        return math.inf if self.lam == 1.0 else 1.0 / (1.0 - self.a)

    @property
    def separable(self) -> bool:
        """Whether the points are separable from the origin ($\\lambda > \\frac12$)."""
        return self.lam > 0.5

    @property
    def margin(self) -> float:
        """Margin $M = \\sigma(2\\lambda-1)$ for $\\frac12 < \\lambda \\le 1$, else 0."""
        return self.sigma * self.a if self.separable else 0.0

    @property
    def case(self) -> str:
        """`"A"` ($\\lambda = 0$), `"B"` ($\\frac12$), `"C"` (1) or `"general"`."""
        return {0.0: "A", 0.5: "B", 1.0: "C"}.get(self.lam, "general")

    # ---- fixed point and relaxation (docs/mathematics.md §8, §11)
    @property
    def w_star(self) -> float:
        """$w^* = \\frac{\\log(1/(1-2\\lambda))}{2\\sigma(1-\\lambda)}$ for
        $\\lambda < \\frac12$, else `inf`."""
        if self.lam >= 0.5:
            return math.inf
        return -math.log1p(-2.0 * self.lam) / (2.0 * self.sigma * (1.0 - self.lam))

    @property
    def log_ltilde_star(self) -> float:
        """$\\log\\tilde L^* = \\log(1-\\lambda)
        - \\frac{1-2\\lambda}{2(1-\\lambda)}\\log(1-2\\lambda)$ ($\\lambda < \\frac12$; NaN
        otherwise)."""
        if self.lam >= 0.5:
            return math.nan
        lam = self.lam
        return math.log1p(-lam) - (1 - 2 * lam) / (2 * (1 - lam)) * math.log1p(-2 * lam)

    @property
    def ltilde_star(self) -> float:
        """$\\tilde L^* = (1-\\lambda)(1-2\\lambda)^{-\\frac{1-2\\lambda}{2(1-\\lambda)}}$."""
        return math.exp(self.log_ltilde_star)

    @property
    def h1(self) -> float:
        """Conformal relaxation rate $h_1 = \\tilde L''(w^*)
        = \\sigma^2(1-2\\lambda)\\tilde L^*$."""
        return self.sigma**2 * (1.0 - 2.0 * self.lam) * self.ltilde_star

    @property
    def log_rate(self) -> float:
        """$h_1/\\tilde L^* = \\sigma^2(1-2\\lambda)$:
        $|w - w^*| \\propto t^{-\\sigma^2(1-2\\lambda)}$ (NaN for $\\lambda \\ge \\frac12$)."""
        return self.sigma**2 * (1.0 - 2.0 * self.lam) if self.lam < 0.5 else math.nan

    @property
    def log_ratio_limit(self) -> float:
        """§10: $\\lim_{\\epsilon\\to0}\\log\\frac{t_{gen}}{t_{train}}
        = \\frac{\\log^2(1-2\\lambda)}{8(1-\\lambda)^2}
        + \\frac{(1-2\\lambda)\\log(1-2\\lambda)}{2(1-\\lambda)} - \\log(1-\\lambda)
        = \\sigma^2w^{*2}/2 - \\log\\tilde L^*$ (σ-independent; `inf` for
        $\\lambda \\ge \\frac12$)."""
        if self.lam >= 0.5:
            return math.inf
        lam = self.lam
        lg = math.log1p(-2 * lam)
        return (lg**2 / (8 * (1 - lam) ** 2) + (1 - 2 * lam) * lg / (2 * (1 - lam))
                - math.log1p(-lam))

    @property
    def delta_tau_limit(self) -> float:
        """§10: $\\tau_{gen} - \\tau_{train} \\to$ `log_ratio_limit` $/\\tilde L^*$
        (docs/mathematics.md's correction of the paper's Eqs. 40–41, which omit $1/\\tilde L^*$)."""
        if self.lam >= 0.5:
            return math.inf
        return self.log_ratio_limit / self.ltilde_star

    def grokking_times(self, eps, *, b0: float = 0.0):
        """§10's estimate assuming $w \\equiv w^*$ from the start:
        $t_{train} = \\frac1\\epsilon - \\frac{e^{b_0}}{\\tilde L^*}$,
        $t_{gen} = \\frac{e^{\\sigma^2w^{*2}/2}}{\\tilde L^*\\epsilon}
        - \\frac{e^{b_0}}{\\tilde L^*}$ (paper Eqs. 37–38 in our time units).

        **Returns:** `(t_train, t_gen)` arrays of the shape of `eps`.

        **Raises:** `ValueError` for $\\lambda \\ge \\frac12$ (no fixed point) or
        $\\epsilon \\le 0$.
        """
        if self.lam >= 0.5:
            raise ValueError(f"No finite fixed point for lam = {self.lam} >= 1/2.")
        eps = np.asarray(eps, dtype=np.float64)
        if np.any(~(eps > 0)):
            raise ValueError(f"`eps` must be positive; got {eps!r}.")
        lt = self.ltilde_star
        shift = math.exp(b0) / lt
        gain = math.exp(0.5 * (self.sigma * self.w_star) ** 2) / lt
        return 1.0 / eps - shift, gain / eps - shift

    # ---- Lotka–Volterra fixed points (docs/mathematics.md §9)
    def fixed_points(self) -> TwoPointFixedPoints:
        """Both fixed points of the Lotka–Volterra form
        with their eigenvalues (docs/mathematics.md §9).

        **Returns:** a `TwoPointFixedPoints`.
        """
        lam, s2, a = self.lam, self.sigma**2, self.a
        if lam < 1.0:
            ell_g = np.array([(1 - 2 * lam) / (1 - lam), 1 / (1 - lam)])
        else:
            ell_g = np.array([np.nan, np.nan])
        eig_g = np.sort(np.array([-1.0, -s2 * (1 - 2 * lam)]))
        ell_o = np.array([0.0, 2.0 / (1 + s2 * a * a)])
        transverse = -2 * s2 * (2 * lam - 1) * (1 - lam) / (1 + s2 * a * a)
        eig_o = np.sort(np.array([-1.0, transverse]))
        phys = bool(lam <= 0.5)
        stable_g = phys and bool(np.all(eig_g < 0))
        stable_o = bool(np.all(eig_o < 0))
        attractor = "generalizing" if stable_g else "overfitting" if stable_o else "critical"
        return TwoPointFixedPoints(ell_g, eig_g, -s2 * (1 - 2 * lam), phys, stable_g, ell_o,
                                   eig_o, transverse, stable_o, attractor)

    # ---- closed-form solutions
    def conformal(self, tau, *, y0=None) -> TwoPointSolution:
        """The flow at conformal times `tau` from `y0`,
        by the closed forms (docs/mathematics.md §11).

        **Arguments:** `tau`: conformal times $\\ge 0$ (any shape); `y0`: `Params(w, b)` or
        `(w, b)` with scalar `w` (default `(0, 0)`).

        **Returns:** a `TwoPointSolution`.

        **Raises:** `ValueError` for negative or non-finite `tau` or a bad `y0`.
        """
        w0, b0 = _check_y0(y0)
        tau = np.asarray(tau, dtype=np.float64)
        if not np.all(np.isfinite(tau)) or np.any(tau < 0):
            raise ValueError("`tau` must be finite and >= 0.")
        flow = _Flow(self, w0, b0)
        w, b = flow.wb(tau)
        log_t, how = flow.log_t(tau)
        with np.errstate(over="ignore"):
            t = np.exp(log_t)
        return TwoPointSolution(tau, t, log_t, w, b, self.case, how)

    def physical(self, t, *, y0=None) -> TwoPointSolution:
        """The flow at physical times `t` from `y0`: $\\tau(t)$ inverted from the closed form
        of $t(\\tau)$ (Lambert W for $\\lambda = \\frac12$, $\\sigma = 1$; explicit for
        $\\lambda = 1$; Newton on $\\log t$ otherwise), then `conformal`.

        **Arguments:** `t`: physical times $\\ge 0$ (any shape); `y0` as for `conformal`.

        **Returns:** a `TwoPointSolution`.

        **Raises:** `ValueError` for negative or non-finite `t` or a bad `y0`.
        """
        w0, b0 = _check_y0(y0)
        t = np.asarray(t, dtype=np.float64)
        if not np.all(np.isfinite(t)) or np.any(t < 0):
            raise ValueError("`t` must be finite and >= 0.")
        flow = _Flow(self, w0, b0)
        with np.errstate(divide="ignore"):
            log_t = np.log(t)
        tau = flow.tau_of_log_t(log_t)
        w, b = flow.wb(tau)
        _, how = flow.log_t(np.zeros(0))
        return TwoPointSolution(tau, t, log_t, w, b, self.case, how)


def _check_y0(y0):
    if y0 is None:
        return 0.0, 0.0
    if isinstance(y0, Params):
        w, b = y0.w, y0.b
    else:
        try:
            w, b = y0
        except (TypeError, ValueError):
            raise ValueError("`y0` must be `Params(w, b)` or a pair `(w, b)`.") from None
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64)
    if w.size != 1 or b.shape != () or not (np.isfinite(w[0]) and np.isfinite(b)):
        raise ValueError(f"`y0` must hold a finite scalar w (or shape (1,)) and b; got {y0!r}.")
    return float(w[0]), float(b)


# --------------------------------------------------------------------------- the solver


class _Flow:
    """Closed forms of one model from one initial point (numpy, host only)."""

    def __init__(self, model: TwoPointModel, w0: float, b0: float):
        self.m = model
        self.sigma = model.sigma
        self.a = model.a
        self.w0 = w0
        self.b0 = b0
        self.case = model.case
        s = self.sigma
        a = self.a
        self.kind = self.case
        if self.case == "general":
            self.kind = "inside" if a < 0 else "outside"
        if self.kind == "inside":  # 0 < lam < 1/2: a fixed point
            c = 1.0 / (1.0 - a)
            self.c = c
            self.kappa = s * (1.0 - a)  # x = kappa (w* - w)
            self.w_star = model.w_star
            self.K = 2.0 * c / s**2 * (-a) ** (-c)
            self.x0 = self.kappa * (self.w_star - w0)
            self.sign = 1.0 if self.x0 > 0 else -1.0
            self.q = c if self.x0 > 0 else 1.0 - c
            if self.x0 == 0.0:
                self.kind = "at_rest"
            else:
                self.T0 = self._T(np.log(abs(self.x0)))
        elif self.kind == "outside":  # 1/2 < lam < 1
            c = 1.0 / (1.0 - a)
            self.c = c
            self.K = 2.0 * c / s**2 * a ** (-c)
            self.eta0 = math.log(a) + s * (1.0 - a) * w0
            self.J0 = float(_lerch_neg(c, math.exp(self.eta0)))

    # ---- w(tau), b(tau)
    def _T(self, xi):
        """$T$ with $\\tau = K[T(x) - T(x_0)]$, at $\\xi = \\log|x|$ on the side of $x_0$."""
        ax = np.exp(xi)
        omy = -np.expm1(-ax)
        y = np.exp(-ax)
        return _beta0(self.q, y, omy)

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
            short = self.K * (self._T(lo) - self.T0) < tau
            if not short.any():
                break
            lo = np.where(short, lo - 2.0 * (xi0 - lo), lo)
        x = np.clip(xi0 - tau / self.K, lo, hi)

        def residual(x):  # tau decreases with xi: tau - tau(xi) increases
            return tau - self.K * (self._T(x) - self.T0), -self._dtau_dxi(x)

        return _bracketed_newton(residual, x, lo, hi, 4e-16)

    def _eta_of_tau(self, tau):
        """$\\lambda > \\frac12$: solve $K[J(e^\\eta) - J_0] = \\tau$ for $\\eta$ (Newton)."""
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
        """$w(\\tau)$, $b(\\tau)$."""
        tau = np.asarray(tau, dtype=np.float64)
        s, a, w0, b0 = self.sigma, self.a, self.w0, self.b0
        if self.kind == "A":
            k = math.tanh(s * w0 / 2)
            p = 1.0 / s**2
            y = k * np.exp(-(s**2) * tau)
            w = 2.0 / s * np.arctanh(y)
            b = b0 + tau + p * (np.log1p(-y * y) - math.log1p(-k * k))
            return w, b
        if self.kind == "B":
            big_a = math.exp(s * w0)
            w = w0 + np.log1p(s**2 * tau / (2 * big_a)) / s
            b = b0 + tau / 2 + np.log1p(s**2 * tau / (2 * big_a)) / s**2
            return w, b
        if self.kind == "C":
            big_a = math.exp(s * w0)
            w = w0 + np.log1p(s**2 * tau / big_a) / s
            b = b0 + np.log1p(s**2 * tau / big_a) / s**2
            return w, b
        if self.kind == "at_rest":  # w0 = w*: w stays, b grows at rate L~*
            return np.full(tau.shape, w0), b0 + self.m.ltilde_star * tau
        if self.kind == "inside":
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
        # outside: eta = log a + sigma (1 - a) w
        eta = self._eta_of_tau(tau)
        w = w0 + (eta - self.eta0) / (s * (1.0 - a))
        # (E + a)/(E0 + a) = (1 + y)/y * y0/(1 + y0), y = e^eta
        log_ratio = (np.logaddexp(0.0, -eta) - np.logaddexp(0.0, -self.eta0))
        b = b0 + (w - w0) / (s * a) + log_ratio / (s**2 * a)
        return w, b

    # ---- physical time
    def _exact_log_t(self, tau):
        """$\\log t(\\tau)$ where a closed form exists, else `None`."""
        s, w0, b0 = self.sigma, self.w0, self.b0
        tau = np.asarray(tau, dtype=np.float64)
        if self.kind == "A":
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
        if self.kind == "B" and s == 1.0:
            big_a = math.exp(w0)
            # t e^{-b0} = 2 e^{tau/2}(1 + (tau-2)/(2A)) - 2 + 2/A
            with np.errstate(divide="ignore"):
                val = 2 * np.exp(tau / 2) * (1 + (tau - 2) / (2 * big_a)) - 2 + 2 / big_a
                return b0 + np.log(val)
        if self.kind == "C":
            big_a = math.exp(s * w0)
            g = (1 + s**2) / s**2
            with np.errstate(divide="ignore"):
                return (b0 + math.log(big_a / (1 + s**2))
                        + np.log(np.expm1(g * np.log1p(s**2 * tau / big_a))))
        if self.kind == "at_rest":
            lt = self.m.ltilde_star
            with np.errstate(divide="ignore"):
                return b0 - math.log(lt) + np.log(np.expm1(lt * tau))
        return None

    def _panel_edges(self, tau_max):
        s2 = self.sigma**2
        geo = np.geomspace(min(1e-4 / s2, 1e-4), 1.0, 40)
        edges = np.concatenate([[0.0], geo[geo < tau_max]])
        if tau_max > 1.0:
            edges = np.concatenate([edges, np.arange(1.0, tau_max, _PANEL)])
        return np.unique(np.concatenate([edges, [tau_max]]))

    def _log_panel_integrals(self, lo, hi):
        """$\\log\\int_{lo}^{hi}e^{b}d\\tau$ per panel (Gauss–Legendre)."""
        half = 0.5 * (hi - lo)
        nodes = (0.5 * (hi + lo))[:, None] + half[:, None] * _GL_X
        _, b = self.wb(nodes.ravel())
        b = b.reshape(nodes.shape)
        with np.errstate(divide="ignore"):
            return sc.logsumexp(b + np.log(_GL_W), axis=1) + np.log(half)

    def log_t(self, tau):
        """$\\log t(\\tau)$, and `"exact"` or `"quadrature"`."""
        tau = np.asarray(tau, dtype=np.float64)
        exact = self._exact_log_t(tau)
        if exact is not None:
            return exact, "exact"
        if tau.size == 0:
            return np.zeros(0), "quadrature"
        flat = tau.ravel()
        edges = self._panel_edges(float(flat.max()))
        edges = np.unique(np.concatenate([edges, flat]))
        logs = self._log_panel_integrals(edges[:-1], edges[1:])
        cum = np.concatenate([[-np.inf], np.logaddexp.accumulate(logs)])
        out = cum[np.searchsorted(edges, flat)]
        return out.reshape(tau.shape), "quadrature"

    def tau_of_log_t(self, log_t):
        """Invert $\\log t(\\tau)$ (explicit for (C) and (B) at $\\sigma = 1$)."""
        log_t = np.asarray(log_t, dtype=np.float64)
        s, w0, b0 = self.sigma, self.w0, self.b0
        if self.kind == "C":
            big_a = math.exp(s * w0)
            u = np.log1p((1 + s**2) * np.exp(log_t - b0) / big_a)
            return big_a / s**2 * np.expm1(s**2 / (1 + s**2) * u)
        if self.kind == "B" and s == 1.0:
            big_a = math.exp(w0)
            big_t = np.exp(log_t - b0) + 2 - 2 / big_a
            arg = big_a / 2 * math.exp(big_a - 1) * big_t
            return 2 * (np.real(sc.lambertw(arg, 0)) + 1 - big_a)
        return self._tau_newton(log_t)

    def _tau_newton(self, log_t):
        """Newton on $\\log t(\\tau)$ with $d\\log t/d\\tau = e^{b - \\log t}$, bracketed.

        With quadrature, $\\log t$ is tabulated once at the panel edges and each target is
        then solved inside its panel, where one Gauss–Legendre panel gives $\\log t$."""
        shape = log_t.shape
        target = log_t.ravel()
        out = np.zeros(target.shape)
        pos = np.isfinite(target)
        if not pos.any():
            return out.reshape(shape)
        tgt = target[pos]
        tau_hi = 1.0
        for _ in range(64):
            if self.log_t(np.array([tau_hi]))[0][0] >= tgt.max():
                break
            tau_hi *= 2.0
        exact = self._exact_log_t(np.zeros(1)) is not None
        if exact:
            lo, hi = np.zeros(tgt.shape), np.full(tgt.shape, tau_hi)
            base = None
        else:
            edges = self._panel_edges(tau_hi)
            logs = self._log_panel_integrals(edges[:-1], edges[1:])
            cum = np.concatenate([[-np.inf], np.logaddexp.accumulate(logs)])
            j = np.clip(np.searchsorted(cum, tgt, side="right") - 1, 0, edges.size - 2)
            lo, hi, base, start = edges[j], edges[j + 1], cum[j], edges[j]

        def log_t_at(x):
            if base is None:
                return self.log_t(x)[0]
            return np.logaddexp(base, self._log_panel_integrals(start, x))

        def residual(x):  # d log t / d tau = e^{b - log t}
            lt_x = log_t_at(x)
            return lt_x - tgt, np.exp(self.wb(x)[1] - lt_x)

        out[pos] = _bracketed_newton(residual, 0.5 * (lo + hi), lo, hi, 1e-15)
        return out.reshape(shape)
