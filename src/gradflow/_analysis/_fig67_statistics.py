"""The fixed-point statistics of Figs. 6 and 7 (a λ-sweep of fixed points over draws).

Moved verbatim from `gradflow._figures` (issue #14); to be replaced by the shared
λ-sweep driver. Computation only: no plotting, no files.
"""

from __future__ import annotations

import functools

import numpy as np

from .._config import compiled


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
    fraction and mean of the positive $-\\tilde w^*\\cdot z_i$. Draw k of d uses
    `numpy.random.default_rng([seed, d, k])`, as `gradflow.bifurcation`."""
    import jax
    import jax.numpy as jnp
    import scipy.integrate
    import scipy.special
    import scipy.stats

    from ._fixed_point import DEFAULT_GTOL, newton
    from ._large_n import cgmt_fixed_point, gardner_margin
    from ._separability import qp_margin, wendel

    # Pass 1 (host): data; separability and margins by the hard-margin QP.
    draws_of = {}
    for d in ds:
        zs = np.stack([np.random.default_rng([seed, d, k]).standard_normal((n, d))
                       for k in range(draws)])
        sep = np.zeros(draws, bool)
        margins = []
        for k in range(draws):
            z = zs[k]
            _, u, _ = qp_margin(z)
            sep[k] = u is not None
            if sep[k]:
                margins.append(1.0 / np.linalg.norm(u))
        draws_of[d] = (zs, sep, np.array(margins))
    # Pass 2 (JAX): w* of the inseparable draws, one draw per call, so that each takes
    # its own number of Newton steps (a vmapped batch runs all as long as the slowest);
    # zero-padded to one width (the pad mask adds an identity block) to compile once.
    width = max([d for d in ds if not draws_of[d][1].all()], default=1)

    def one(z, pad):
        w, _, _, _, code = newton(z, jnp.zeros(z.shape[1]), DEFAULT_GTOL, 200, pad)
        return w, code

    solve = compiled(jax.jit(one))
    rows = []
    for d in ds:
        zs, sep, margins = draws_of[d]
        frac, mean_pos = [], []
        ins = np.flatnonzero(~sep)
        pad = jnp.asarray(np.r_[np.zeros(d), np.ones(max(0, width - d))])
        for k in ins:
            zp = np.zeros((n, width))
            zp[:, :d] = zs[k]
            w, code = solve(jnp.asarray(zp), pad)
            proj = -(zs[k] @ np.asarray(w)[:d])  # the paper's S∞·x_i (S = -w), σ = 1
            if int(code) == 0 and np.all(np.isfinite(proj)):  # converged draws only
                pos = proj > 0
                frac.append(pos.mean())
                mean_pos.append(proj[pos].mean() if pos.any() else np.nan)
        frac, mean_pos = np.array(frac), np.array(mean_pos)
        p = sep.mean()
        rows.append(dict(
            lam=d / n, p_sep=p, p_sep_se=np.sqrt(max(p * (1 - p), 0.25 / draws) / draws),
            wendel=wendel(n, d), inseparable=ins.size,
            frac_pos_mean=_mean(frac), frac_pos_se=_se(frac),
            mean_pos_mean=_mean(mean_pos), mean_pos_se=_se(mean_pos),
            margin_mean=_mean(margins), margin_se=_se(margins),
        ))
    stats = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    # CGMT (MATH.md §8): -w̃*·z =d rG - W, W = W0(c e^{rG}); positive iff G > c/r, where it
    # equals log W - log c.
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
