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


@needs_matplotlib
def optimizers_by_lambda_figure(rows, title: str | None = None) -> Figure:
    """Fig. 11: one row per λ, each `(label, runs)` with `runs` a list of `(label,
    trajectory, markers)`: loss, accuracy, and $\\|w\\|$, $b$ against the step count.

    **Returns:** the `Figure`.
    """
    from ._descend import plot_learning_curves, plot_norms
    from ._figures import _fixed_figure

    rows = list(rows)
    fig, axs = _fixed_figure(13, 3.4 * len(rows) + 0.6, len(rows), 3, left=0.05)
    for row, (lam_label, runs) in zip(axs, rows, strict=True):
        for i, (label, traj, markers) in enumerate(runs):
            plot_learning_curves(traj, axes=(row[0], row[1]), markers=markers,
                                 color=f"C{i}", label=label, steps=True)
            plot_norms(traj, ax=row[2], markers=markers, color=f"C{i}", label=label,
                       steps=True)
        row[0].set_title(f"{lam_label}: loss", fontsize=9)
        row[1].set_title(f"{lam_label}: accuracy", fontsize=9)
        row[1].set_ylim(-0.02, 1.02)
        row[2].set_title(f"{lam_label}: $\\|w\\|$ and $b$", fontsize=9)
        row[1].legend(fontsize="x-small")
        row[2].legend(fontsize="xx-small")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


@needs_matplotlib
def variance_scale_figure(runs, sep: dict, title: str | None = None) -> Figure:
    """App. F.1: accuracy and $\\|w\\|$ of one draw scaled by several σ (`runs`: `(label,
    flow)`), and the separable side's limiting accuracy against σ (`sep`: `sigmas`,
    `flow` (accuracy at the end), `formula` and `large_n` as `(sigma, accuracy)`).

    **Returns:** the `Figure`.
    """
    from ._descend import plot_learning_curves, plot_norms
    from ._figures import _fixed_figure

    fig, axs = _fixed_figure(14, 4.6, 1, 3, left=0.05)
    ax_acc, ax_norm, ax_sep = axs[0]
    import matplotlib.pyplot as plt  # noqa: F401  (colormap registry)
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    for i, (label, flow) in enumerate(runs):
        color = cmap(i / max(1, len(runs) - 1))
        plot_learning_curves(flow, axes=(ax_norm, ax_acc), color=color, label=label)
    ax_norm.cla()
    for i, (label, flow) in enumerate(runs):
        plot_norms(flow, ax=ax_norm, color=cmap(i / max(1, len(runs) - 1)), label=label)
    ax_acc.set_ylim(-0.02, 1.02)
    ax_acc.set_title("inseparable side: accuracy (train dashed)", fontsize=9)
    ax_acc.legend(fontsize="xx-small")
    ax_norm.set_title("$\\|w\\|$ (solid) and $b$ (dashed)", fontsize=9)
    ax_sep.plot(*sep["formula"], "k-", label="$\\Phi(1/(\\sigma^2\\gamma_z))$, this draw")
    ax_sep.plot(*sep["large_n"], "r--", label="large $n$")
    ax_sep.plot(sep["sigmas"], sep["flow"], "C0o", label="flow at $t_{max}$")
    ax_sep.set_xscale("log")
    ax_sep.set_xlabel("$\\sigma$")
    ax_sep.set_ylabel("limiting test accuracy")
    ax_sep.set_title("separable side", fontsize=9)
    ax_sep.legend(fontsize="x-small")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


@needs_matplotlib
def initial_conditions_figure(runs, title: str | None = None) -> Figure:
    """App. F.3: accuracy, loss, and $\\|w\\|$, $b$ of one problem from several starts
    (`runs`: `(label, flow)`).

    **Returns:** the `Figure`.
    """
    from ._descend import optimizer_figure

    return optimizer_figure([(label, flow, False) for label, flow in runs], title=title,
                            steps=False)
