"""Figure of the bifurcation diagram (paper Fig. 1 right column, Figs. 6–7).

Reads a `Bifurcation` and the large-$n$ curves of the analysis layer
(`large_n_curves`); matplotlib is imported inside the function.
"""

import numpy as np

from .._analysis._bifurcation import Bifurcation
from .._analysis._large_n import LargeNCurves, large_n_curves
from ._matplotlib import needs_matplotlib


@needs_matplotlib
def plot_bifurcation(bif: Bifurcation, *, axes=None, large_n: bool | LargeNCurves = True):
    """Plot a bifurcation diagram in six panels against $\\lambda = d/n$.

    Panels: (a) fraction of separable draws with Wendel's formula; (b) $\\|\\tilde w^*\\|$
    (median and quartiles over inseparable draws) with the CGMT curve; (c) slowest rate
    $\\tilde h_1$ (log scale); (d) margin $\\gamma_z$ over separable draws with Gardner's
    curve; (e) limiting test accuracy; (f) order parameter $m = \\lim\\|w\\|/b$ with the
    fraction of draws whose generalizing / over-fitting state is stable. The large-$n$
    curves are drawn on a fine grid when `large_n` is true.

    **Arguments:** `bif`: a `Bifurcation`; `axes`: six matplotlib `Axes` (default: a new
    2×3 figure); `large_n`: overlay the large-$n$ curves of docs/mathematics.md §6–8
    (`True`: those of `large_n_curves` over the range of `bif.lam`; or a `LargeNCurves`
    already computed; `False`: none).

    **Returns:** the matplotlib `Figure`.

    **Raises:** `ValueError` if `bif` is not a `Bifurcation` or `axes` does not hold six
    axes.
    """
    if not isinstance(bif, Bifurcation):
        raise ValueError(f"`bif` must be a Bifurcation; got {type(bif).__name__}.")
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    axes = np.ravel(np.asarray(axes, dtype=object))
    if axes.size != 6:
        raise ValueError(f"`axes` must hold 6 Axes; got {axes.size}.")
    fig = axes[0].figure
    lam = bif.lam
    if isinstance(large_n, LargeNCurves):
        curves = large_n
    else:
        curves = large_n_curves(lam, bif.sigma) if large_n else None

    ax = axes[0]
    ax.errorbar(lam, bif.p_sep, bif.p_sep_err, fmt="o", ms=4, label="drawn data (hard-margin QP)")
    ax.plot(lam, bif.wendel, "-", label="Wendel")
    ax.set_ylabel("fraction separable")

    ax = axes[1]
    ax.plot(lam, bif.norm_median, "o", ms=4, label="median")
    ax.fill_between(lam, bif.norm_q1, bif.norm_q3, alpha=0.3, label="quartiles")
    if curves is not None and curves.lam_inseparable.size:
        ax.plot(curves.lam_inseparable, curves.norm, "k--", label="CGMT $n=\\infty$")
    ax.set_ylabel(r"$\|\tilde w^*\|$ (inseparable draws)")
    ax.set_yscale("log")

    ax = axes[2]
    ax.plot(lam, bif.h1_median, "o", ms=4, label=r"median $\tilde h_1$")
    ax.plot(lam, bif.log_rate_median, "s", ms=3, label=r"median $h_1/\tilde L^*$")
    ax.set_yscale("log")
    ax.set_ylabel("slowest rate")

    ax = axes[3]
    ax.errorbar(lam, bif.margin_mean, bif.margin_std, fmt="o", ms=4, label="QP, separable draws")
    if curves is not None and curves.lam_separable.size:
        ax.plot(curves.lam_separable, curves.margin, "k--", label="Gardner $n=\\infty$")
    ax.set_ylabel(r"margin $\gamma_z$")

    ax = axes[4]
    ax.plot(lam, bif.accuracy, "o", ms=4, label="mean over draws")
    if curves is not None:
        ax.plot(curves.lam, curves.accuracy, "k--", label="$n=\\infty$")
    ax.set_ylabel(r"limiting test accuracy")

    ax = axes[5]
    ax.plot(lam, bif.order_parameter, "o", ms=4, label=r"$m=\lim\|w\|/b$")
    if curves is not None:
        ax.plot(curves.lam, curves.order_parameter, "k--", label="$n=\\infty$")
    ax.set_ylabel("order parameter")
    twin = ax.twinx()
    twin.plot(lam, bif.generalizing_stable, "g:", label=r"$\ell^G$ stable")
    twin.plot(lam, bif.overfitting_stable, "r:", label=r"$\ell^O$ stable")
    twin.set_ylabel("fraction of draws stable")
    twin.legend(loc="center right", fontsize="small")

    for ax in axes:
        ax.axvline(0.5, color="grey", lw=0.8)
        ax.set_xlabel(r"$\lambda = d/n$")
        ax.legend(fontsize="small")
    fig.suptitle(f"n = {bif.n}, σ = {bif.sigma:g}, {bif.realizations} draws per λ")
    return fig
