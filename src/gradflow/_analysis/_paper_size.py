"""Fig. 1 right-top at the paper's size (App. K1): $\\|\\tilde w^*\\|$ of many Gaussian
draws at $n = 2400$ and the 17 dimensions $d = 930 \\dots 1191$, against the CGMT curve.

The draws go through the resumable driver `fixed_point_sweep` with the matrix-free
Newton–CG (`method="cg"`), Newton deciding separability (`decide="newton"`: a converged
minimizer certifies inseparability, a separating iterate separability; the QP only for
the draws Newton leaves undecided) and no slow mode; chunks of draws are sharded over
all devices. With a sweep file the run resumes where a killed one stopped. Nothing
here draws or writes a figure (`gradflow figure fig1 --draws N`).
"""

from __future__ import annotations

import warnings

import numpy as np

from .._results import RESULTS, result_index

#: App. K1: n = 2400 and these 17 dimensions, 15 000 draws each.
K1_N = 2400
K1_D = (930, 990, 1050, 1086, 1110, 1134, 1152, 1158, 1164, 1170, 1173, 1176, 1179, 1182,
        1185, 1188, 1191)
K1_DRAWS = 15_000


def k1_dimensions(n: int) -> np.ndarray:
    """App. K1's 17 dimensions, rescaled to `n` (the same λ = d/2400, rounded, kept
    below n/2; duplicates merged at small `n`)."""
    return np.array(sorted({min(max(1, int(round(d * n / K1_N))), (n - 1) // 2)
                            for d in K1_D}))


def norm_statistics(sweep) -> dict:
    """Per λ: the fraction of separable draws and the mean, standard error, median and
    quartiles of $\\|\\tilde w^*\\|$ over the inseparable draws whose Newton converged,
    with the CGMT prediction and the relative deviation of the mean from it."""
    from ._large_n import cgmt_norm

    ok = sweep["result"].values == result_index(RESULTS.successful)
    norm = np.where(ok, sweep["norm"].values, np.nan)
    count = ok.sum(axis=1)
    lam = np.asarray(sweep["lam"].values, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # λ rows with < 2 inseparable draws
        mean = np.nanmean(norm, axis=1)
        sem = np.nanstd(norm, axis=1, ddof=1) / np.sqrt(count)
        q1, median, q3 = np.nanpercentile(norm, [25, 50, 75], axis=1)
    cgmt = cgmt_norm(lam)
    done = sweep["done"].values
    p_sep = (sweep["separable"].values & done).sum(axis=1) / np.maximum(1, done.sum(axis=1))
    return dict(lam=lam, d=np.asarray(sweep["d"].values), count=count,
                p_sep=p_sep,
                mean=mean, sem=sem, median=median, q1=q1, q3=q3, cgmt=cgmt,
                rel_dev=(mean - cgmt) / cgmt)


def fig1_right_top(n: int, draws: int, *, out=None, seed: int = 0, chunk_size: int = 64):
    """Fig. 1 right-top with `draws` draws per λ at `n` points (App. K1's dimensions,
    rescaled to `n`). `out`: the sweep's netCDF file (resumed if it exists).

    **Returns:** a `PaperFigure` named `"fig1-paper-size"`.
    """
    from pathlib import Path

    import jax

    from ._draws import fixed_point_sweep
    from ._paper_figures import PaperFigure

    ds = k1_dimensions(n)
    # Newton's linear solves: matrix-free CG on a CPU; on an accelerator the formed
    # Hessian's Cholesky, 60-110x faster there in vmapped batches (bench_draws.py).
    method = "cg" if jax.default_backend() == "cpu" else "cholesky"
    resume = out is not None and Path(out).exists()
    sweep = fixed_point_sweep(n, ds / n, draws, seed=seed, method=method, decide="newton",
                              slow=False, out=out, resume=resume, chunk_size=chunk_size)
    st = norm_statistics(sweep)
    from ._large_n import cgmt_norm

    fine = np.linspace(st["lam"].min() - 0.005, min(0.4995, st["lam"].max() + 0.002), 80)
    worst = int(np.nanargmax(np.abs(st["rel_dev"])))
    caption = (
        f"Fig. 1 right-top at the paper's configuration (App. K1): σ‖w*‖ = ‖w̃*‖ of the "
        f"inseparable draws, {draws} draws per λ at n = {n}, d = "
        f"{', '.join(str(int(d)) for d in ds)} (App. K1's 17 values"
        f"{'' if n == K1_N else f' rescaled from n = {K1_N}'}); the paper averages "
        f"{K1_DRAWS} draws per λ with Adam, here Newton–CG finds each minimizer and "
        "decides separability (separable draws are discarded, as in the paper). Mean ± "
        "standard error (markers), median and quartiles (band), the CGMT large-n curve "
        "and the two-point model. Largest relative deviation of the mean from CGMT: "
        f"{st['rel_dev'][worst]:+.3f} at λ = {st['lam'][worst]:.4f}.")
    summary = {"draws per λ": str(draws), "n": str(n),
               "inseparable per λ": ", ".join(str(int(c)) for c in st["count"]),
               "max |mean/CGMT - 1|": f"{abs(st['rel_dev'][worst]):.3f} at λ = "
                                      f"{st['lam'][worst]:.4f}"}
    params = dict(n=n, d=[int(d) for d in ds], draws=draws, seed=seed, method=method,
                  decide="newton")
    return PaperFigure("fig1-paper-size", caption, summary,
                       {f"k1_{k}": v for k, v in st.items()}, params,
                       plot=dict(stats=st, cgmt=(fine, cgmt_norm(fine)),
                                 title=f"Fig. 1 right-top: {draws} draws per λ, $n = {n}$"))
