"""Per-λ statistics of a flow sweep file (`gradflow.sweep`, `gradflow.load_sweep`): what
`sweep_summary` draws. Plain numpy on the dataset; Wendel's formula for the fraction of
separable draws (docs/mathematics.md §6)."""

import equinox as eqx
import numpy as np

from ._separability import wendel


class SweepSummary(eqx.Module):
    """Statistics of one σ of a sweep over the draws that are done.

    **Fields:**

    - `n`, `sigma`; `t` (shape `(T,)`, the saved times); `lam` (shape `(L,)`).
    - `has_draws`: whether each λ has a finished draw (shape `(L,)`).
    - `median_accuracy`: median test accuracy over the finished draws at each saved time
      (shape `(L, T)`; NaN rows where `has_draws` is false).
    - `final_accuracy`: that median at $t_{max}$; `separable_fraction`: the fraction of
      finished draws that are separable; `wendel`: Wendel's formula at $(n, d)$ (shape
      `(L,)`).
    """

    n: int
    sigma: float
    t: np.ndarray
    lam: np.ndarray
    has_draws: np.ndarray
    median_accuracy: np.ndarray
    final_accuracy: np.ndarray
    separable_fraction: np.ndarray
    wendel: np.ndarray


def sweep_statistics(ds, *, sigma_index: int = 0) -> SweepSummary:
    """Reduce one σ of a sweep dataset to per-λ statistics (see `SweepSummary`).

    **Arguments:** `ds`, the dataset of `gradflow.load_sweep`; `sigma_index`, which σ.

    **Returns:** a `SweepSummary`.
    """
    sub = ds.isel(sigma=sigma_index)
    done = sub["done"].values
    t = sub["t"].values
    lams = sub["lam"].values
    accuracy = sub["test_accuracy"].values
    median = np.full((len(lams), t.size), np.nan)
    for i in range(len(lams)):
        acc = accuracy[i][done[i]]
        if acc.size:
            median[i] = np.nanmedian(acc, axis=0)
    final = np.array([np.nanmedian(accuracy[i][done[i], -1]) if done[i].any() else np.nan
                      for i in range(len(lams))])
    frac = np.array([sub["separable"].values[i][done[i]].mean() if done[i].any() else np.nan
                     for i in range(len(lams))])
    n = int(ds.attrs["n"])
    return SweepSummary(
        n=n,
        sigma=float(sub["sigma"]),
        t=t,
        lam=lams,
        has_draws=done.any(axis=1),
        median_accuracy=median,
        final_accuracy=final,
        separable_fraction=frac,
        wendel=np.array([wendel(n, int(d)) for d in ds["d"].values]),
    )
