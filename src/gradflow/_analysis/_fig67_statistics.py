"""The fixed-point statistics of Figs. 6 and 7 (a λ-sweep of fixed points over draws).

The draws, their separability and fixed points come from the shared λ-sweep driver
(`fixed_point_sweep`); this module reduces them to per-λ statistics and adds the CGMT
predictions. Computation only: no plotting, no files.
"""

from __future__ import annotations

import functools

import numpy as np


def _mean(v) -> float:
    v = np.asarray(v, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def _se(v) -> float:
    """Standard error of the mean of the finite entries (NaN for fewer than two)."""
    v = np.asarray(v, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")


@functools.lru_cache(maxsize=4)
def fixed_point_statistics(n: int, ds: tuple, draws: int, seed: int = 0) -> dict:
    """Per λ = d/n: separability and the margin γ_z of separable draws (QP), and for
    inseparable draws the fixed point w̃* (Newton, σ = 1; converged draws) with the
    fraction and mean of the positive $-\\tilde w^*\\cdot z_i$, from `fixed_point_sweep`
    (draw k of d is `numpy.random.default_rng([seed, d, k])`, as in `gradflow.bifurcation`)."""
    import scipy.integrate
    import scipy.special
    import scipy.stats

    from .._results import RESULTS, result_index
    from ._draws import fixed_point_sweep
    from ._large_n import cgmt_fixed_point, gardner_margin
    from ._separability import wendel

    sweep = fixed_point_sweep(n, np.asarray(ds) / n, draws, seed=seed, slow=False)
    row_of = {int(d): i for i, d in enumerate(sweep["d"].values)}
    rows = []
    for d in ds:
        row = sweep.isel(lam=row_of[int(d)])
        sep = row["separable"].values
        ok = row["result"].values == result_index(RESULTS.successful)
        frac, mean_pos = row["frac_pos"].values[ok], row["mean_pos"].values[ok]
        margins = row["margin"].values[sep]
        p = sep.mean()
        rows.append(dict(
            lam=d / n, p_sep=p, p_sep_se=np.sqrt(max(p * (1 - p), 0.25 / draws) / draws),
            wendel=wendel(n, d), inseparable=int((~sep).sum()),
            frac_pos_mean=_mean(frac), frac_pos_se=_se(frac),
            mean_pos_mean=_mean(mean_pos), mean_pos_se=_se(mean_pos),
            margin_mean=_mean(margins), margin_se=_se(margins),
        ))
    stats = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    # CGMT (docs/mathematics.md §8): -w̃*·z =d rG - W, W = W0(c e^{rG}); positive iff G > c/r,
    # where it equals log W - log c.
    frac_cgmt, mean_cgmt = [], []
    for lam in stats["lam"]:
        if lam >= 0.5:
            frac_cgmt.append(np.nan)
            mean_cgmt.append(np.nan)
            continue
        cg = cgmt_fixed_point(float(lam))
        r, c = cg.r, cg.c

        def positive(g, r=r, c=c):
            w = np.real(scipy.special.wrightomega(np.log(c) + r * g))
            return (np.log(w) - np.log(c)) * scipy.stats.norm.pdf(g)

        integral = scipy.integrate.quad(positive, c / r, np.inf, limit=200)[0]
        frac_cgmt.append(cg.negative_fraction)
        mean_cgmt.append(integral / cg.negative_fraction)
    stats["frac_pos_cgmt"] = np.array(frac_cgmt)
    stats["mean_pos_cgmt"] = np.array(mean_cgmt)
    fine = np.linspace(min(stats["lam"]) - 0.01, max(stats["lam"]) + 0.01, 200)
    stats["lam_fine"] = fine
    stats["wendel_fine"] = np.array([wendel(n, max(1, int(round(v * n)))) for v in fine])
    stats["gardner_fine"] = np.asarray(gardner_margin(np.maximum(fine, 0.5)))
    stats["n"] = n
    stats["realizations"] = draws
    return stats
