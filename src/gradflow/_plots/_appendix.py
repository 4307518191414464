"""Drawing of the appendix figures and of Fig. 1 right-top at the paper's size: results
in (`gradflow._analysis._paper_size`, `_appendix_figures`), figures out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._matplotlib import needs_matplotlib

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@needs_matplotlib
def paper_size_figure(stats: dict, cgmt, title: str | None = None) -> Figure:
    """‖w̃*‖ against λ: mean ± s.e. (markers), median and quartiles (band) of the
    inseparable draws, with the CGMT curve `cgmt = (lam, norm)`; below, the relative
    deviation of the mean from CGMT.

    **Returns:** the `Figure`.
    """
    from ._figures import _fixed_figure

    fig, axs = _fixed_figure(6.5, 6.0, 2, 1, left=0.13, wspace=0.3)
    ax, dev = axs[0][0], axs[1][0]
    lam = stats["lam"]
    ax.fill_between(lam, stats["q1"], stats["q3"], color="C0", alpha=0.25,
                    label="quartiles")
    ax.plot(lam, stats["median"], "C0-", lw=1, label="median")
    ax.errorbar(lam, stats["mean"], yerr=stats["sem"], fmt="ko", ms=3, label="mean ± s.e.")
    ax.plot(*cgmt, "r--", label="CGMT ($n = \\infty$)")
    ax.set_yscale("log")
    ax.set_ylabel("$\\sigma\\|w^*\\|$")
    ax.legend(fontsize="x-small")
    dev.axhline(0, color="r", ls="--", lw=0.8)
    dev.errorbar(lam, stats["rel_dev"], yerr=stats["sem"] / stats["cgmt"], fmt="ko", ms=3)
    dev.set_xlabel("$\\lambda = d/n$")
    dev.set_ylabel("mean / CGMT − 1")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
