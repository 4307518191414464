"""`TwoPointModel`, its results, and the dispatch of a model and an initial point to the
immutable module of its case (docs/mathematics.md §9–11)."""

import math

import equinox as eqx
import numpy as np

from ..._problem import Problem, _params_pair
from ._base import AbstractTwoPointFlow
from ._explicit import AtRest, CaseA, CaseB, CaseC
from ._hypergeometric import Inseparable, Separable


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
        flow = _flow(self, w0, b0)
        w, b = flow.wb(tau)
        log_t = flow.log_t(tau)
        with np.errstate(over="ignore"):
            t = np.exp(log_t)
        return TwoPointSolution(tau, t, log_t, w, b, self.case, flow.physical_time)

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
        flow = _flow(self, w0, b0)
        with np.errstate(divide="ignore"):
            log_t = np.log(t)
        tau = flow.tau_of_log_t(log_t)
        w, b = flow.wb(tau)
        return TwoPointSolution(tau, t, log_t, w, b, self.case, flow.physical_time)


def _check_y0(y0):
    if y0 is None:
        return 0.0, 0.0
    w, b = _params_pair(y0)
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64)
    if w.size != 1 or b.shape != () or not (np.isfinite(w[0]) and np.isfinite(b)):
        raise ValueError(f"`y0` must hold a finite scalar w (or shape (1,)) and b; got {y0!r}.")
    return float(w[0]), float(b)


# --------------------------------------------------------------------------- dispatch


def _flow(model: TwoPointModel, w0: float, b0: float) -> AbstractTwoPointFlow:
    """The closed forms of `model` from `(w0, b0)`: the module of its case."""
    s, a = model.sigma, model.a
    if model.case == "A":
        return CaseA(s, w0, b0)
    if model.case == "B":
        return CaseB(s, w0, b0)
    if model.case == "C":
        return CaseC(s, w0, b0)
    if a > 0:  # 1/2 < lam < 1
        return Separable(s, a, w0, b0)
    if s * (1.0 - a) * (model.w_star - w0) == 0.0:  # 0 < lam < 1/2, starting at w*
        return AtRest(s, w0, b0, model.ltilde_star)
    return Inseparable(s, a, model.w_star, w0, b0)
