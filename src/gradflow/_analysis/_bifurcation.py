"""The bifurcation diagram in $\\lambda = d/n$ and the exchange of stability at $\\frac12$.

docs/mathematics.md §6–9. For each $\\lambda$, `realizations` Gaussian data sets
$x\\sim\\mathcal N(0, \\sigma^2 I_d)$ are classified by the hard-margin QP (`is_separable`;
the LP of `separability` agrees); inseparable draws get the fixed
point $w^*$ and its slowest rate $h_1$ (Newton and `eigh`, batched with `jax.vmap`),
separable draws the margin $\\gamma$ (NNLS). Everything σ-dependent is reported in the
σ-free variables of docs/mathematics.md §12: $\\|\\tilde w^*\\| = \\sigma\\|w^*\\|$,
$\\tilde h_1 = h_1/\\sigma^2$, $\\gamma_z = \\gamma_x/\\sigma$.

`critical_point` locates $\\lambda_c(n)$ from $P_{sep} = \\frac12$ (probit fit) and from
the divergence of $\\|\\tilde w^*\\|$; `extrapolate` takes $\\lambda_c(n)$ to $n = \\infty$;
`divergence_law` compares the power law $\\|\\tilde w^*\\|\\propto(\\frac12-\\lambda)^{-\\nu}$
(docs/mathematics.md §8: $\\nu = \\frac12$) with the logarithm of the two-point model.
"""

import math

import equinox as eqx
import jax
import numpy as np
import scipy.optimize
import scipy.stats

from .._checks import _positive_int, _tolerance
from .._results import RESULTS, AbstractResult, result_index
from ._draws import fixed_point_sweep, transverse_max
from ._fixed_point import DEFAULT_GTOL
from ._large_n import cgmt_norm, gardner_margin, limiting_accuracy, separable_accuracy
from ._separability import wendel

jax.config.update("jax_enable_x64", True)


def _quartiles(v):
    if v.size == 0:
        return (np.nan,) * 5
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return float(np.mean(v)), float(med), float(q1), float(q3), float(np.std(v))


class Bifurcation(eqx.Module):
    """A labelled bifurcation diagram: one entry per $\\lambda$ (arrays of shape `(L,)`).

    **Fields:**

    - `n`, `sigma`, `realizations`, `seed`; `d` and `lam` ($= d/n$ actually used).
    - `p_sep`: fraction of separable draws; `p_sep_err`: its binomial standard error;
      `wendel`: the exact $P_{sep}(n, d)$.
    - `norm_mean`, `norm_median`, `norm_q1`, `norm_q3`: $\\|\\tilde w^*\\|$ over the
      inseparable draws (NaN where none); `norm_count`: how many converged.
    - `h1_mean`, `h1_median`: $\\tilde h_1$ over the inseparable draws; `log_rate_median`:
      median of $h_1/\\tilde L^*$ (the relaxation exponent in $t$).
    - `margin_mean`, `margin_std`: $\\gamma_z$ over the separable draws.
    - `accuracy`: mean limiting test accuracy (1 inseparable, $\\Phi(1/(\\sigma\\gamma_x))$
      separable); `order_parameter`: mean of $m$ (0 or $\\gamma_x$).
    - `generalizing_stable`, `overfitting_stable`: fraction of draws whose
      generalizing ($\\ell^G$ exists, all eigenvalues $< 0$) / over-fitting (transverse
      rates $1 - \\hat z_i\\cdot\\hat\\theta < 0$ off the support vectors) state is stable;
      `transverse_max`: mean over separable draws of the largest transverse rate.
    - Large-$n$ curves at `lam`: `gardner` ($\\gamma_z$), `cgmt` ($r$, NaN above ½),
      `accuracy_large_n`.
    - `newton_failures`: inseparable draws whose Newton solve did not converge.
    """

    n: int
    sigma: float
    realizations: int
    seed: int
    d: np.ndarray
    lam: np.ndarray
    p_sep: np.ndarray
    p_sep_err: np.ndarray
    wendel: np.ndarray
    norm_mean: np.ndarray
    norm_median: np.ndarray
    norm_q1: np.ndarray
    norm_q3: np.ndarray
    norm_count: np.ndarray
    h1_mean: np.ndarray
    h1_median: np.ndarray
    log_rate_median: np.ndarray
    margin_mean: np.ndarray
    margin_std: np.ndarray
    accuracy: np.ndarray
    order_parameter: np.ndarray
    generalizing_stable: np.ndarray
    overfitting_stable: np.ndarray
    transverse_max: np.ndarray
    gardner: np.ndarray
    cgmt: np.ndarray
    accuracy_large_n: np.ndarray
    newton_failures: np.ndarray
    norms: tuple


def bifurcation(
    n: int,
    lambdas,
    realizations: int,
    sigma: float,
    *,
    seed: int = 0,
    gtol: float = DEFAULT_GTOL,
    max_steps: int = 200,
) -> Bifurcation:
    """Sweep $\\lambda = d/n$ over Gaussian data and collect the bifurcation diagram.

    Draws, separability and fixed points come from `fixed_point_sweep` (draw $k$ at
    $\\lambda$ is `numpy.random.default_rng([seed, d, k])`, so draws are reproducible and
    independent of the other $\\lambda$ values). $d = \\mathrm{round}(\\lambda n)$ (at
    least 1); `lam` holds $d/n$. One compiled Newton solver for all $d$.

    **Arguments:**

    - `n`: samples per draw ($\\ge 2$); `lambdas`: 1-D array of $\\lambda > 0$;
      `realizations`: draws per $\\lambda$; `sigma`: data scale $> 0$.
    - `seed`; `gtol`, `max_steps`: as for `fixed_point`.

    **Returns:** a `Bifurcation` (its `norms` field holds, per $\\lambda$, the array of
    $\\|\\tilde w^*\\|$ of the inseparable draws, for histograms and fits).

    **Raises:** `ValueError` for bad arguments. Not jittable (the QP runs on the host).
    """
    n = _positive_int("n", n, 2)
    realizations = _positive_int("realizations", realizations)
    lams = np.atleast_1d(np.asarray(lambdas, dtype=np.float64))
    if lams.ndim != 1 or lams.size == 0 or not np.all(np.isfinite(lams)) or np.any(lams <= 0):
        raise ValueError(
            f"`lambdas` must be a non-empty 1-D array of positive values; got {lambdas!r}."
        )
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"`sigma` must be positive and finite; got {sigma!r}.")
    sigma = float(sigma)
    gtol = _tolerance("gtol", gtol)
    ds_ = np.array([max(1, int(round(lam * n))) for lam in lams])
    draws = fixed_point_sweep(n, lams, realizations, seed=seed, gtol=gtol,
                              max_steps=max_steps)
    row_of = {int(d): i for i, d in enumerate(draws["d"].values)}
    rows = []
    norms_all = []
    for d in ds_:
        row = draws.isel(lam=row_of[int(d)])
        sep = row["separable"].values
        gam = np.where(sep, row["margin"].values, np.nan)
        ok = row["result"].values == result_index(RESULTS.successful)
        fails = int(np.sum(~sep & ~ok))
        norms = row["norm"].values[ok]
        h1s = row["h1"].values[ok]
        logr = h1s / np.exp(row["log_ltilde"].values[ok])
        trans = transverse_max(gam, row["next_margin"].values, sigma)
        norms_all.append(norms)
        nm, nmed, nq1, nq3, _ = _quartiles(norms)
        hm, hmed, _, _, _ = _quartiles(h1s)
        _, lrmed, _, _, _ = _quartiles(logr)
        gs = gam[sep & np.isfinite(gam)]
        gmean, _, _, _, gstd = _quartiles(gs)
        safe = np.where(np.isfinite(gam), gam, 1.0)
        acc = np.where(sep, separable_accuracy(safe, sigma), 1.0)
        acc = np.where(sep & ~np.isfinite(gam), np.nan, acc)
        order = np.where(sep, sigma * gam, 0.0)
        ts = trans[sep]
        p = sep.mean()
        rows.append(dict(
            d=int(d), lam=d / n, p_sep=p,
            p_sep_err=math.sqrt(max(p * (1 - p), 0.25 / realizations) / realizations),
            wendel=wendel(n, int(d)), norm_mean=nm, norm_median=nmed, norm_q1=nq1,
            norm_q3=nq3, norm_count=norms.size, h1_mean=hm, h1_median=hmed,
            log_rate_median=lrmed, margin_mean=gmean, margin_std=gstd,
            accuracy=float(np.nanmean(acc)), order_parameter=float(np.nanmean(order)),
            generalizing_stable=norms.size / realizations,
            overfitting_stable=float(np.sum(ts < 0)) / realizations,
            transverse_max=float(np.mean(ts)) if ts.size else np.nan,
            newton_failures=fails,
        ))
    col = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    lam_used = col["lam"]
    below = lam_used < 0.5 - 1e-7
    cg = np.full(lam_used.shape, np.nan)
    if np.any(below):
        cg[below] = cgmt_norm(lam_used[below])
    return Bifurcation(
        n=n, sigma=sigma, realizations=realizations, seed=int(seed),
        gardner=np.asarray(gardner_margin(lam_used)), cgmt=cg,
        accuracy_large_n=np.asarray(limiting_accuracy(lam_used, sigma)),
        norms=tuple(norms_all), **col,
    )


# --------------------------------------------------------------------------- λ_c estimates


class BifurcationPoint(AbstractResult):
    """An estimate of the critical $\\lambda_c$ (cf. BifurcationKit's `SpecialPoint`).

    **Fields:** `lam` (estimate); `precision` (one standard error); `interval`
    (`lam ± 2 precision`); `method` (`"p_sep"`, `"divergence"`, `"h1"` or
    `"extrapolated"`); `result`: `RESULTS.successful` or `RESULTS.fit_failed` (then
    `extra["reason"]` says why; `successful`, `status`, `message` as for every result);
    `extra`: fitted parameters (e.g. the width of the probit, the exponent of $h_1$).
    """

    lam: float
    precision: float
    interval: tuple
    method: str = eqx.field(static=True)
    result: RESULTS
    extra: dict


def _point(lam, err, method, failure=None, extra=None):
    extra = dict(extra or {})
    if failure is not None:
        extra["reason"] = failure
    result = RESULTS.successful if failure is None else RESULTS.fit_failed
    return BifurcationPoint(float(lam), float(err), (lam - 2 * err, lam + 2 * err), method,
                            result, extra)


def _fit_cov(resid_fn, p0):
    res = scipy.optimize.least_squares(resid_fn, p0)
    dof = max(res.fun.size - len(p0), 1)
    s2 = float(res.fun @ res.fun) / dof
    try:
        cov = np.linalg.inv(res.jac.T @ res.jac) * s2
    except np.linalg.LinAlgError:
        cov = np.full((len(p0), len(p0)), np.nan)
    return res.x, cov, res


def critical_point(bif: Bifurcation, *, method: str = "p_sep") -> BifurcationPoint:
    """Locate $\\lambda_c(n)$ in a `Bifurcation`.

    - `"p_sep"`: maximum-likelihood probit fit $P_{sep} = \\Phi((\\lambda-\\lambda_c)/w)$
      to the separable counts; error from the observed Fisher information.
    - `"divergence"`: $\\|\\tilde w^*\\|^{-2}$ (median) is linear in $\\lambda$ and vanishes at
      $\\lambda_c$ if $\\|\\tilde w^*\\|\\propto(\\lambda_c-\\lambda)^{-1/2}$; weighted linear fit.
    - `"h1"`: $\\tilde h_1 = A(\\lambda_c-\\lambda)^\\kappa$ (median), nonlinear least squares
      in logs; the exponent is in `extra`.

    **Arguments:** `bif`, a `Bifurcation`; `method`, one of the three above.

    **Returns:** a `BifurcationPoint` (estimate, standard error, interval, status).

    **Raises:** `ValueError` for an unknown `method`.
    """
    lam = bif.lam
    if method == "p_sep":
        k = np.round(bif.p_sep * bif.realizations)
        m = bif.realizations

        def nll(p):
            q = np.clip(scipy.stats.norm.cdf((lam - p[0]) / abs(p[1])), 1e-12, 1 - 1e-12)
            return -np.sum(k * np.log(q) + (m - k) * np.log(1 - q))

        w0 = max(1.0 / math.sqrt(bif.n), 1e-3)
        res = scipy.optimize.minimize(nll, [0.5, w0], method="Nelder-Mead",
                                      options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 4000})
        hess = _num_hessian(nll, res.x)
        try:
            err = math.sqrt(np.linalg.inv(hess)[0, 0])
        except (np.linalg.LinAlgError, ValueError):
            err = float("nan")
        failure = None if res.success and np.isfinite(err) else "probit fit"
        return _point(res.x[0], err, "p_sep", failure, {"width": abs(res.x[1])})
    if method in ("divergence", "h1"):
        ok = (lam < 0.5) & np.isfinite(bif.norm_median) & (bif.norm_count >= 3)
        if ok.sum() < 3:
            return _point(np.nan, np.nan, method, "fewer than 3 points below 1/2")
        x = lam[ok]
        if method == "divergence":
            y = bif.norm_median[ok] ** -2.0
            # relative error of the median ~ spread / sqrt(count)
            spread = (bif.norm_q3[ok] - bif.norm_q1[ok]) / bif.norm_median[ok]
            rel = spread / np.sqrt(bif.norm_count[ok])
            sd = 2.0 * y * np.maximum(rel, 1e-3)
            (a, b), cov = np.polyfit(x, y, 1, w=1.0 / sd, cov="unscaled")
            lc = -b / a
            grad = np.array([b / a**2, -1.0 / a])
            err = math.sqrt(max(grad @ cov @ grad, 0.0))
            return _point(lc, err, method, extra={"slope": a})
        y = np.log(bif.h1_median[ok])

        def resid(p):
            gap = np.maximum(p[0] - x, 1e-12)
            return p[1] + p[2] * np.log(gap) - y

        p0 = [max(0.5, x.max() + 0.01), 0.0, 1.0]
        p, cov, _ = _fit_cov(resid, p0)
        return _point(p[0], math.sqrt(max(cov[0, 0], 0.0)), method, extra={"exponent": p[2]})
    raise ValueError(f"`method` must be 'p_sep', 'divergence' or 'h1'; got {method!r}.")


def _num_hessian(f, x, h=1e-5):
    x = np.asarray(x, dtype=float)
    k = x.size
    out = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            ei = np.eye(k)[i] * h * max(1.0, abs(x[i]))
            ej = np.eye(k)[j] * h * max(1.0, abs(x[j]))
            out[i, j] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                4 * np.linalg.norm(ei) * np.linalg.norm(ej)
            )
    return out


def extrapolate(points, ns, *, exponent: float = 0.5) -> BifurcationPoint:
    """Extrapolate $\\lambda_c(n) = \\lambda_c(\\infty) + a\\,n^{-\\omega}$ to $n = \\infty$.

    Weighted least squares with the `precision` of each point as its error.

    **Arguments:** `points`: `BifurcationPoint`s; `ns`: their $n$; `exponent`: $\\omega$.

    **Returns:** a `BifurcationPoint` with `method="extrapolated"`; `extra` holds the slope.

    **Raises:** `ValueError` for fewer than two usable points or mismatched lengths.
    """
    ns = np.asarray(ns, dtype=float)
    if len(points) != ns.size:
        raise ValueError("`points` and `ns` must have the same length.")
    lc = np.array([p.lam for p in points])
    err = np.array([p.precision for p in points])
    ok = np.isfinite(lc) & np.isfinite(err) & (err > 0)
    if ok.sum() < 2:
        raise ValueError("`points` must hold at least two finite estimates with errors.")
    x = ns[ok] ** -exponent
    if ok.sum() == 2:
        (a, b), cov = np.polyfit(x, lc[ok], 1, w=1.0 / err[ok], cov="unscaled")
    else:
        (a, b), cov = np.polyfit(x, lc[ok], 1, w=1.0 / err[ok], cov=True)
    return _point(b, math.sqrt(cov[1, 1]), "extrapolated", extra={"slope": a, "exponent": exponent})


class DivergenceLaw(eqx.Module):
    """Fit of $\\|\\tilde w^*\\|$ as $\\lambda\\to\\frac12^-$ (docs/mathematics.md §8, §15.5).

    **Fields:** `exponent` $\\nu$ and `exponent_err` of the power law
    $A(\\frac12-\\lambda)^{-\\nu}$; `amplitude` $A$; `rss_power`, `rss_log`: residual sums
    of squares (of $\\log\\|\\tilde w^*\\|$) of the power law and of the logarithmic law
    $B + C\\log\\frac1{\\frac12-\\lambda}$; `preferred`: `"power"` or `"log"`; `lam`: the
    $\\lambda$ values used.
    """

    exponent: float
    exponent_err: float
    amplitude: float
    rss_power: float
    rss_log: float
    preferred: str = eqx.field(static=True)
    lam: np.ndarray


def divergence_law(bif: Bifurcation, *, lam_min: float = 0.3, lam_max: float | None = None):
    """Measure how $\\|\\tilde w^*\\|$ (median over inseparable draws) diverges at ½.

    Uses $\\lambda\\in[$`lam_min`, `lam_max`$]$; by default `lam_max` $= \\frac12 -
    2/\\sqrt n$, outside the finite-size window (docs/mathematics.md §15.5).

    **Arguments:** `bif`, a `Bifurcation`; `lam_min`, `lam_max`: the fitted range of $\\lambda$.

    **Returns:** a `DivergenceLaw`.

    **Raises:** `ValueError` if fewer than 3 usable $\\lambda$ remain.
    """
    if lam_max is None:
        lam_max = 0.5 - 2.0 / math.sqrt(bif.n)
    ok = (bif.lam >= lam_min) & (bif.lam <= lam_max) & np.isfinite(bif.norm_median)
    if ok.sum() < 3:
        raise ValueError(
            f"Need at least 3 λ in [{lam_min}, {lam_max:.4f}] with inseparable draws; "
            f"got {int(ok.sum())}. Widen the range or use a larger `n`."
        )
    x = -np.log(0.5 - bif.lam[ok])
    y = np.log(bif.norm_median[ok])
    (nu, la), cov = np.polyfit(x, y, 1, cov=True) if ok.sum() > 3 else (
        np.polyfit(x, y, 1), np.full((2, 2), np.nan))
    rss_p = float(np.sum((np.polyval([nu, la], x) - y) ** 2))
    c = np.polyfit(x, bif.norm_median[ok], 1)
    rss_l = float(np.sum((np.log(np.maximum(np.polyval(c, x), 1e-300)) - y) ** 2))
    return DivergenceLaw(float(nu), float(math.sqrt(cov[0, 0])), float(math.exp(la)), rss_p,
                         rss_l, "power" if rss_p <= rss_l else "log", bif.lam[ok])
