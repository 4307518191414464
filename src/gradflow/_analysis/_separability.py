"""Linear separability from the origin, the hard-margin SVM, and Wendel's formula.

docs/mathematics.md §6. The points are the signed data $z_i = y_ix_i$ (`problem.z`); for the paper's
reduced model (all labels $+1$) these are the $x_i$ themselves. With `extended=True` the
points are $\\hat z_i = (z_i, a_i)$ (the bias column, docs/mathematics.md §7), which for the reduced
model are always separable by $(0, 1)$.

Two independent solvers decide separability and must agree:

- **LP** (scipy's HiGHS) in the bounded form $\\max\\gamma$ s.t. $Zu \\ge \\gamma\\mathbf 1$,
  $|u_j| \\le 1$, $\\gamma \\le 1$: always feasible and bounded, so HiGHS never answers
  "unknown" (the plain feasibility LP did on inseparable data). Separable iff
  $\\gamma^* > 0$; the LP dual gives a convex certificate $\\alpha\\in\\Delta$,
  $Z^T\\alpha = 0$, when inseparable.
- **QP** for the hard margin through the origin, $\\min\\frac12\\|u\\|^2$ s.t.
  $Zu\\ge\\mathbf 1$, solved exactly as a least-distance problem by scipy's NNLS
  (Lawson–Hanson active set; see `qp_margin`): margin $\\gamma = 1/\\|u\\|$, dual weights
  $\\alpha$ with $u = Z^T\\alpha$ and $\\sum\\alpha = \\gamma^{-2}$; a zero residual means
  infeasible (inseparable). OSQP (ADMM) was tried first and rejected: at margins
  $\\sim 10^{-3}$ it hit 1e5 iterations without converging, and took 38 s at n = 1200.

These run in numpy/scipy on the host and cannot be jitted.
"""

import math

import equinox as eqx
import numpy as np
import scipy.optimize
import scipy.special

from .._problem import Problem, as_problem

#: Relative threshold on the LP value $\gamma^*/\max_i\|z_i\|$ above which data count as
#: separable (HiGHS's feasibility tolerance is 1e-7 absolute on unit-scale rows).
LP_RTOL = 1e-7
#: The hard-margin QP counts as feasible (separable) when the NNLS residual, which is
#: $\gamma/\sqrt{1+\gamma^2}$ for rows scaled to unit maximum norm, exceeds this.
QP_FEASIBILITY_TOL = 1e-10


class Separability(eqx.Module):
    """Whether points are linearly separable from the origin, and by how much.

    **Fields:**

    - `separable`: `True` iff some $u$ has $u\\cdot z_i > 0$ for all $i$ (LP decision).
    - `margin`: $\\gamma = \\max_{\\|u\\|=1}\\min_i u\\cdot z_i$ of the data as given (the
      origin–hull distance), from the QP; `0.0` when inseparable.
    - `direction`: the max-margin unit vector (shape `(d,)`, or `(d+1,)` extended);
      zeros when inseparable.
    - `alpha`: SVM dual weights ($u_{svm} = Z^T\\alpha$, $\\sum\\alpha = \\gamma^{-2}$) when
      separable; when inseparable, the LP's convex certificate ($\\alpha \\ge 0$,
      $\\sum\\alpha = 1$, $Z^T\\alpha \\approx 0$).
    - `support`: boolean mask of the support vectors ($u\\cdot z_i = \\gamma$ to
      `1e-6` relative), all `False` when inseparable.
    - `lp_value`: $\\gamma^*$ of the bounded LP ($\\ge 0$); `lp_gap`: its duality gap.
    - `certificate_residual`: $\\|Z^T\\alpha\\|/\\max_i\\|z_i\\|$ of the inseparability
      certificate (`nan` when separable).
    - `qp_status`: `"solved"` or `"infeasible"` (the QP's answer); `agree`: whether LP
      and QP decided the same.
    - `extended`: whether the points were $(z_i, a_i)$.
    - `regime`: the regime of gradient flow on the problem (`gradflow.regime`), whichever
      points were asked about: `"inseparable"` (extended points inseparable: a finite
      optimum), `"bias_separable"` (a bias, all labels equal, $z_i$ inseparable: the
      paper's generalizing phase) or `"separable"`.
    """

    separable: bool
    margin: float
    direction: np.ndarray
    alpha: np.ndarray
    support: np.ndarray
    lp_value: float
    lp_gap: float
    certificate_residual: float
    qp_status: str = eqx.field(static=True)
    agree: bool = eqx.field(static=True)
    extended: bool = eqx.field(static=True)
    regime: str = eqx.field(static=True, default="")


def _regime_name(problem: Problem, extended: bool, separable: bool) -> str:
    """The regime (`gradflow.regime`) from one separability answer and, where needed, the
    other set of points (decided by the QP alone)."""
    labels = np.asarray(problem.y)
    one_class = bool(problem.fit_bias and np.all(labels == labels[0]))
    if extended:
        if not separable:
            return "inseparable"
        return "bias_separable" if one_class and not is_separable(points(problem)) \
            else "separable"
    if separable:
        return "separable"
    if one_class:
        return "bias_separable"
    return "separable" if is_separable(points(problem, True)) else "inseparable"


def _check_problem(problem) -> Problem:
    return as_problem(problem)


def points(problem: Problem, extended: bool = False) -> np.ndarray:
    """The points whose separability from the origin is asked: $z_i$ or $(z_i, a_i)$."""
    z = np.asarray(problem.z, dtype=np.float64)
    if extended:
        z = np.concatenate([z, np.asarray(problem.a, dtype=np.float64)[:, None]], axis=1)
    return z


#: Above this many entries of `z`, the LP uses HiGHS's interior-point method (with
#: crossover, so the duals are a vertex's) instead of the dual simplex. Measured (one
#: BLAS thread): n = 2000, d = 1000: 15 s vs 41 s; d = 1200: 18 s vs 75 s; d = 800: 14 s vs
#: 13 s; at n = 400 the simplex is as fast or faster (0.14 s vs 0.19 s at d = 200).
LP_IPM_SIZE = 200_000


def lp_separability(z: np.ndarray, method: str | None = None
                    ) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Bounded separability LP on the rows of `z` (docs/mathematics.md §6).

    `method`: a `scipy.optimize.linprog` HiGHS method; default `"highs-ds"` (dual
    simplex), or `"highs-ipm"` when `z` has more than `LP_IPM_SIZE` entries.

    **Returns:** `(gamma_star, duality_gap, alpha, u)`, where `alpha` is the normalized
    dual of the margin constraints (a convex certificate of inseparability when
    `gamma_star == 0`) and `u` the LP's separating direction.

    **Raises:** `RuntimeError` if HiGHS does not report an optimum.
    """
    n, d = z.shape
    c = np.zeros(d + 1)
    c[-1] = -1.0
    a_ub = np.concatenate([-z, np.ones((n, 1))], axis=1)
    b_ub = np.zeros(n)
    lo = np.r_[-np.ones(d), -np.inf]
    hi = np.r_[np.ones(d), 1.0]
    res = scipy.optimize.linprog(
        c, A_ub=a_ub, b_ub=b_ub, bounds=list(zip(lo, hi, strict=True)),
        method=method or ("highs-ipm" if z.size > LP_IPM_SIZE else "highs-ds"),
    )
    if res.status != 0:
        raise RuntimeError(f"HiGHS did not solve the separability LP: {res.message}")
    y_ub = res.ineqlin.marginals
    y_lo, y_hi = res.lower.marginals, res.upper.marginals
    fin_lo, fin_hi = np.isfinite(lo), np.isfinite(hi)
    dual = b_ub @ y_ub + lo[fin_lo] @ y_lo[fin_lo] + hi[fin_hi] @ y_hi[fin_hi]
    gap = abs(res.fun - dual)
    alpha = -y_ub
    total = alpha.sum()
    alpha = alpha / total if total > 0 else alpha
    return float(-res.fun), float(gap), alpha, np.asarray(res.x[:d])


def qp_margin(z: np.ndarray) -> tuple[str, np.ndarray | None, np.ndarray | None]:
    """Hard-margin SVM through the origin, $\\min\\frac12\\|u\\|^2$ s.t. $Zu \\ge 1$.

    Solved exactly as a least-distance problem by non-negative least squares
    (Lawson & Hanson, *Solving Least Squares Problems*, ch. 23; `scipy.optimize.nnls`):
    with $E = [Z^T; \\mathbf 1^T]$ and $f = e_{d+1}$, the NNLS solution $\\hat\\alpha$ of
    $\\min_{\\alpha\\ge0}\\|E\\alpha - f\\|$ has residual $r = E\\hat\\alpha - f$, and the
    QP is feasible iff $r \\ne 0$, with $u = Z^T\\hat\\alpha/(1 - \\sum\\hat\\alpha)$ and SVM
    dual weights $\\alpha = \\hat\\alpha/(1-\\sum\\hat\\alpha)$ (so $\\sum\\alpha = \\gamma^{-2}$).
    The active-set method ends on the exact support set: measured here it keeps
    $\\min_i u\\cdot z_i = 1$ to 1e-10 at margins $\\gamma \\sim 10^{-3}$ where OSQP (ADMM)
    hit 1e5 iterations, and solves $n = 2400$, $d = 1250$ in ~10 s.

    **Returns:** `(status, u, alpha)`; `status` is `"solved"` or `"infeasible"` (then
    `u` and `alpha` are `None`).
    """
    n, d = z.shape
    scale = float(np.max(np.linalg.norm(z, axis=1)))
    if scale == 0.0:
        return "infeasible", None, None
    e = np.vstack([(z / scale).T, np.ones((1, n))])
    f = np.zeros(d + 1)
    f[-1] = 1.0
    a_hat, res = scipy.optimize.nnls(e, f, maxiter=50 * max(n, d + 1))
    if res <= QP_FEASIBILITY_TOL:
        return "infeasible", None, None
    denom = 1.0 - float(a_hat.sum())
    alpha = a_hat / denom
    u = (z / scale).T @ alpha  # solves the scaled problem: (z/scale) u >= 1
    return "solved", u / scale, alpha / scale**2


def is_separable(z: np.ndarray) -> bool:
    """Whether the rows of `z` are linearly separable from the origin, decided by the
    hard-margin QP (`qp_margin`, NNLS) alone: the answer of `separability` (which also
    runs the LP and checks that both agree) at a tenth of the cost or less. Measured (one
    BLAS thread): n = 400: 0.005–0.012 s vs the LP's 0.06–0.15 s; n = 2000: 0.9–3.4 s vs
    13–75 s. For loops over many draws (sweeps, bifurcation diagrams)."""
    return qp_margin(np.asarray(z, dtype=np.float64))[0] == "solved"


def separability(problem: Problem, *, extended: bool = False) -> Separability:
    """Decide whether the data are linearly separable from the origin (docs/mathematics.md §6).

    The LP (HiGHS) decides; the hard-margin QP (NNLS) gives the margin, the max-margin
    direction and the dual weights, and its feasibility must agree with the LP (`agree`).
    For the reduced model this is the phase of the problem: separable ⇒ over-fitting
    (max-margin limit), inseparable ⇒ generalizing (finite $w^*$).

    **Arguments:**

    - `problem`: a `Problem`; the points are $z_i = y_ix_i$.
    - `extended`: use the extended points $(z_i, a_i)$ instead (separability with the
      bias; docs/mathematics.md §7).

    **Returns:** a `Separability`.

    **Raises:** `ValueError` if `problem` is not a `Problem`; `RuntimeError` if HiGHS
    fails. Not jittable (scipy runs on the host).
    """
    problem = _check_problem(problem)
    z = points(problem, bool(extended))
    n, d = z.shape
    scale = float(np.max(np.linalg.norm(z, axis=1)))
    if scale == 0.0:
        # All points at the origin: never separable.
        zeros = np.zeros(d)
        return Separability(
            False, 0.0, zeros, np.full(n, 1.0 / n), np.zeros(n, bool), 0.0, 0.0, 0.0,
            "skipped", True, bool(extended), _regime_name(problem, bool(extended), False),
        )
    lp_value, lp_gap, lp_alpha, lp_u = lp_separability(z / scale)
    sep = lp_value > LP_RTOL
    lp_value *= scale
    qp_status, u, alpha = qp_margin(z)
    qp_sep = u is not None
    if sep and qp_sep:
        norm = float(np.linalg.norm(u))
        margin = 1.0 / norm
        direction = u / norm
        proj = z @ direction
        support = proj <= margin * (1.0 + 1e-6)
        alpha = np.clip(alpha, 0.0, None)
        cert = float("nan")
    else:
        margin = 0.0
        direction = np.zeros(d)
        support = np.zeros(n, bool)
        alpha = lp_alpha
        cert = float(np.linalg.norm(z.T @ lp_alpha) / scale) if not sep else float("nan")
    return Separability(
        bool(sep), float(margin), direction, alpha, support, float(lp_value),
        float(lp_gap * scale), cert, qp_status, bool(sep) == qp_sep, bool(extended),
        _regime_name(problem, bool(extended), bool(sep)),
    )


def _check_size(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")
    return int(value)


def _stirlerr(k: int) -> float:
    """$\\log k! - \\log(\\sqrt{2\\pi k}(k/e)^k)$ (Loader's `stirlerr`), for $k \\ge 1$."""
    if k <= 15:
        return float(
            scipy.special.gammaln(k + 1.0) - (k + 0.5) * math.log(k) + k
            - 0.5 * math.log(2.0 * math.pi)
        )
    k2 = 1.0 / (k * k)
    return (1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - k2 / 1188) * k2) * k2) * k2) / k


def _bd0(x: float, mean: float) -> float:
    """Loader's deviance term $x\\log(x/\\mu) + \\mu - x$, without cancellation."""
    if abs(x - mean) < 0.1 * (x + mean):
        v = (x - mean) / (x + mean)
        s = (x - mean) * v
        ej = 2.0 * x * v
        v2 = v * v
        for j in range(1, 1000):
            ej *= v2
            s1 = s + ej / (2 * j + 1)
            if s1 == s:
                return s1
            s = s1
        return s
    return x * math.log(x / mean) + mean - x


def _log_binom_half(big_n: int, k: int) -> float:
    """$\\log[\\binom{N}{k}2^{-N}]$ to full relative accuracy (Loader's saddle point)."""
    if k == 0 or k == big_n:
        return -big_n * math.log(2.0)
    half = 0.5 * big_n
    return (
        _stirlerr(big_n) - _stirlerr(k) - _stirlerr(big_n - k)
        - _bd0(k, half) - _bd0(big_n - k, half)
        + 0.5 * math.log(big_n / (2.0 * math.pi * k * (big_n - k)))
    )


def _log_binom_cdf_half(big_n: int, m: int) -> float:
    """$\\log P(\\mathrm{Bin}(N, \\frac12) \\le m)$ for $0 \\le m \\le N/2$."""
    j = np.arange(m)
    # log C(N, k)/C(N, m) for k = 0..m, summed from the top so the large terms are exact.
    steps = np.log((j + 1.0) / (big_n - j))
    log_ratio = np.r_[np.cumsum(steps[::-1])[::-1], 0.0]
    return _log_binom_half(big_n, m) + float(scipy.special.logsumexp(log_ratio))


def log_wendel(n: int, d: int) -> float:
    """$\\log P_{sep}(n, d)$ of Wendel's formula, in log space (docs/mathematics.md §6).

    See `wendel`. $P_{sep} = P(\\mathrm{Bin}(n-1, \\frac12) \\le d-1)$; the largest
    binomial term is evaluated with Loader's saddle-point expansion and the rest as
    ratios to it, so the result keeps ~1e-14 relative accuracy for $n$ up to $10^6$ at
    $O(\\min(d, n))$ cost (`gammaln` differences lose ~1e-10 at $n = 10^5$).

    **Arguments:** `n`, `d`: positive integers.

    **Returns:** $\\log P_{sep}$ ($0$ for $d \\ge n$).

    **Raises:** `ValueError` for non-positive or non-integer `n`, `d`.
    """
    n = _check_size("n", n)
    d = _check_size("d", d)
    if d >= n:
        return 0.0
    big_n, m = n - 1, d - 1
    if 2 * m <= big_n:
        return _log_binom_cdf_half(big_n, m)
    # P = 1 - P(Bin <= N - d) by symmetry; the complement is the small side.
    return math.log1p(-math.exp(_log_binom_cdf_half(big_n, big_n - d)))


def wendel(n: int, d: int) -> float:
    """Wendel's probability that $n$ points in $\\mathbb R^d$ are separable from the origin.

    $P_{sep}(n,d) = 2^{-(n-1)}\\sum_{k=0}^{d-1}\\binom{n-1}{k}$ for any law symmetric under
    $x\\to-x$ in general position (docs/mathematics.md §6), summed in log space so that it is exact
    (to rounding) and free of overflow for $n$ up to $10^5$ and beyond.

    **Arguments:** `n`, `d`: positive integers.

    **Returns:** the probability as a float ($1$ for $d \\ge n$).

    **Raises:** `ValueError` for non-positive or non-integer `n`, `d`.
    """
    return math.exp(log_wendel(n, d))
