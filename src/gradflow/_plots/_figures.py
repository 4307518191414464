"""Layouts of the paper's figures that no other plotting module draws (Figs. 1, 2, 4, 6,
7, 15, 16), and a caption footer for any figure. Used by `gradflow._plots._paper`.

Plotting only reads results (trajectories, a `Bifurcation`, arrays) and returns
matplotlib objects. Matplotlib is imported inside the functions (importing gradflow never
imports it), and figures are built with `matplotlib.figure.Figure` directly (no pyplot
state), with fixed layouts: constrained layout doubles the time to save.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np

from ._descend import plot_learning_curves, plot_norms
from ._matplotlib import needs_matplotlib

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .._analysis._bifurcation import Bifurcation

__all__ = [
    "add_caption",
    "fig1_figure",
    "fig2_figure",
    "fig4_figure",
    "fig6_figure",
    "fig7_figure",
    "distributions_figure",
]


@needs_matplotlib
def add_caption(fig: Figure, text: str, *, width: int | None = None,
                fontsize: float = 7.0) -> Figure:
    """Grow `fig` downwards and write `text` (wrapped) under its axes.

    Axes keep their size in inches; figures with constrained layout are left alone (the
    caption then overlaps nothing only if the layout left room), so use it on fixed
    layouts.

    **Arguments:** `fig`, a matplotlib `Figure`; `text`; `width`, the wrap width in
    characters (default: what fits the figure's width); `fontsize`.

    **Returns:** `fig`.
    """
    if width is None:  # about 0.5 em per character of a sans-serif font
        width = int(0.9 * fig.get_figwidth() * 72 / (0.5 * fontsize))
    lines = textwrap.wrap(text, width=width)
    if not lines:
        return fig
    h_old = fig.get_figheight()
    extra = (len(lines) * fontsize * 1.35 + 8) / 72.0
    positions = [(ax, ax.get_position()) for ax in fig.axes]
    fig.set_figheight(h_old + extra)
    h_new = h_old + extra
    for ax, p in positions:
        ax.set_position([p.x0, (p.y0 * h_old + extra) / h_new, p.width, p.height * h_old / h_new])
    if fig._suptitle is not None:  # keep the title at its distance from the top
        x, y = fig._suptitle.get_position()
        fig._suptitle.set_y(1 - (1 - y) * h_old / h_new)
    fig.text(0.01, 4 / 72.0 / h_new, "\n".join(lines), fontsize=fontsize, va="bottom",
             ha="left", family="sans-serif", color="0.25")
    return fig


def _fixed_figure(width, height, nrows, ncols, *, left=0.06, right=0.985, bottom=None,
                  top=None, hspace=0.45, wspace=0.28):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=left, right=right, bottom=bottom or 0.5 / height,
                        top=top or 1 - 0.75 / height, hspace=hspace, wspace=wspace)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _points_and_curve(ax, x, y, yerr, label, x_curve, y_curve, style, curve_label, *,
                      critical: bool = False, **labels) -> None:
    """One panel of Figs. 6 and 7: per-λ means with standard errors, and the curve they
    are compared with (drawn thin), against $\\lambda$; `critical` marks $\\lambda = 1/2$."""
    ax.errorbar(x, y, yerr, fmt="o", ms=4, label=label)
    ax.plot(x_curve, y_curve, style, lw=1, label=curve_label)
    if critical:
        ax.axvline(0.5, color="0.6", lw=0.8)
    ax.set(xlabel="$\\lambda$", **labels)
    ax.legend(fontsize="small")


def _inseparable_panel(ax, stats: dict, key: str, curve_label: str, **labels) -> None:
    """The left panel of Figs. 6 and 7: `stats[key + "_mean"]` (with `_se`) over the
    inseparable draws below $\\lambda = 1/2$ beside its CGMT limit `stats[key + "_cgmt"]`."""
    below = stats["lam"] < 0.5
    lam = stats["lam"][below]
    _points_and_curve(ax, lam, stats[f"{key}_mean"][below], stats[f"{key}_se"][below],
                      f"n = {stats['n']}, inseparable draws", lam, stats[f"{key}_cgmt"][below],
                      "k--", curve_label, **labels)


def _titled(fig: Figure, title: str | None) -> Figure:
    if title:
        fig.suptitle(title)
    return fig


@needs_matplotlib
def fig1_figure(runs, bif: Bifurcation, *, curves: dict, one_dim=None,
                title: str | None = None) -> Figure:
    """Paper Fig. 1: grokking curves for three λ (left, one row each: loss, accuracy,
    $\\|w\\|$ and $b$) and the late-time quantities against λ (right column).

    **Arguments:**

    - `runs`: three `(label, flow, finite)` tuples as for `grokking_figure` (`finite`
      may be `None`).
    - `bif`: a `Bifurcation` (right column: $\\|\\tilde w^*\\|$, the margin $\\gamma_z$,
      the limiting test accuracy).
    - `curves`: the $n = \\infty$ curves beside them, each `(lam, values)`: `"cgmt"`
      ($\\sigma\\|w^*\\|$, optional), `"gardner"` (margin), `"accuracy"`.
    - `one_dim`: optional `(lam, norm)` arrays of the two-point prediction
      $\\sigma|w^*|$ for the top-right panel.
    - `title`: figure title.

    **Returns:** the `Figure`.
    """
    runs = list(runs)
    fig, axs = _fixed_figure(17, 3.2 * len(runs) + 0.6, len(runs), 4, left=0.05,
                             wspace=0.3)
    for row, (label, flow, finite) in zip(axs, runs, strict=True):
        for traj, markers in ((flow, False), (finite, True)):
            if traj is None:
                continue
            plot_learning_curves(traj, axes=(row[0], row[1]), markers=markers, color="C1",
                                 test=True, train=False)
            plot_learning_curves(traj, axes=(row[0], row[1]), markers=markers, color="C0",
                                 test=False, train=True)
            plot_norms(traj, ax=row[2], markers=markers, color="C2" if markers else "k",
                       label="GD" if markers else "flow")
        row[0].set_title(f"{label}: loss", fontsize=9)
        row[1].set_title(f"{label}: accuracy", fontsize=9)
        row[2].set_title(f"{label}: $\\|w\\|$ and $b$", fontsize=9)
        row[1].set_ylim(-0.02, 1.02)
        row[2].legend(fontsize="x-small")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="C0", ls="--", label="train (flow)"),
               Line2D([], [], color="C1", ls="-", label="test (flow)")]
    if any(r[2] is not None for r in runs):
        handles += [Line2D([], [], color="C0", ls="none", marker="o", mfc="none",
                           label="train (GD)"),
                    Line2D([], [], color="C1", ls="none", marker="o", label="test (GD)")]
    axs[0, 1].legend(handles=handles, fontsize="x-small")

    lam = np.asarray(bif.lam)
    below = lam < 0.5
    ax = axs[0, 3]
    ax.plot(lam[below], bif.norm_median[below], "o", ms=4, label="median over draws")
    ax.fill_between(lam[below], bif.norm_q1[below], bif.norm_q3[below], alpha=0.3,
                    label="quartiles")
    if "cgmt" in curves:
        ax.plot(*curves["cgmt"], "k--", lw=1, label="CGMT, $n = \\infty$")
    if one_dim is not None:
        ax.plot(*one_dim, ":", color="C3", label="two-point model")
    ax.set(yscale="log", xlabel="$\\lambda$", ylabel="$\\sigma\\|w^*\\|$")
    ax.set_title("$\\|w_\\infty\\|$ (inseparable draws)", fontsize=9)
    ax = axs[1 % len(runs), 3]
    above = lam > 0.5
    ax.errorbar(lam[above], bif.margin_mean[above], bif.margin_std[above], fmt="o", ms=4,
                label="separable draws")
    ax.plot(*curves["gardner"], "k--", lw=1, label="Gardner, $n = \\infty$")
    ax.set(xlabel="$\\lambda$", ylabel="$\\gamma_z = \\gamma_x/\\sigma$")
    ax.set_title("margin (separable draws)", fontsize=9)
    ax = axs[2 % len(runs), 3]
    ax.plot(lam, bif.accuracy, "o", ms=4, label="mean over draws")
    ax.plot(*curves["accuracy"], "k--", lw=1,
            label="$\\Phi(1/\\sigma^2\\gamma_z)$, $n = \\infty$")
    ax.set(xlabel="$\\lambda$", ylabel="limiting test accuracy", ylim=(0.45, 1.02))
    ax.set_title(f"$t \\to \\infty$ ($\\sigma = {bif.sigma:g}$)", fontsize=9)
    for row in range(len(runs)):
        axs[row, 3].axvline(0.5, color="0.6", lw=0.8)
        axs[row, 3].legend(fontsize="x-small")
    return _titled(fig, title)


@needs_matplotlib
def fig2_figure(biased, bias_free, *, title: str | None = None, components: int = 4) -> Figure:
    """Paper Fig. 2: in conformal time $\\tau$ the weights follow the bias-free path.

    Panels: (a) $b$ and $\\|w\\|$ against $t$, with $\\log t$; (b) the first `components`
    coordinates of $w$ against $\\tau$ with the bias (lines) and of the bias-free flow
    against its own time (markers); (c) $\\tau$ against $t$.

    **Arguments:** `biased`: a conformal-clock `Trajectory` (`clock_t` is $\\tau$);
    `bias_free`: a `Trajectory` of the problem without bias, saved at those $\\tau$;
    `title`; `components`.

    **Returns:** the `Figure`.
    """
    fig, axs = _fixed_figure(15, 4.4, 1, 3, wspace=0.3)
    ax_b, ax_w, ax_tau = axs[0]
    t = np.asarray(biased.t)
    tau = np.asarray(biased.clock_t)
    keep = t > 0
    ax_b.semilogx(t[keep], np.asarray(biased.b)[keep], "k-", label="$b$")
    ax_b.semilogx(t[keep], np.linalg.norm(np.asarray(biased.w), axis=1)[keep], "C2-",
                  label="$\\|w\\|$")
    ax_b.semilogx(t[keep], np.log(t[keep]), ":", color="0.5", label="$\\log t$")
    ax_b.set(xlabel="$t$", title="with bias, physical time")
    ax_b.legend(fontsize="small")
    wb = np.asarray(biased.w)
    wf = np.asarray(bias_free.w)
    tf = np.asarray(bias_free.t)
    pos = tau > 0
    for k in range(min(components, wb.shape[1])):
        ax_w.semilogx(tau[pos], wb[pos, k], "-", color=f"C{k}",
                      label=f"$w_{k + 1}(\\tau)$ with bias" if k == 0 else None)
        sel = np.flatnonzero(tf > 0)[:: max(1, int(np.sum(tf > 0)) // 25)]
        ax_w.semilogx(tf[sel], wf[sel, k], "o", ms=4, mfc="none", color=f"C{k}",
                      label="bias-free $w_k(t)$" if k == 0 else None)
    err = np.max(np.abs(wb[: wf.shape[0]] - wf)) if wf.shape[0] else np.nan
    ax_w.set(xlabel="$\\tau$ (with bias) / $t$ (bias-free)",
             title=f"same path: max $|\\Delta w|$ = {err:.1e}")
    ax_w.legend(fontsize="small")
    ax_tau.loglog(t[keep], tau[keep], "k-")
    ax_tau.set(xlabel="$t$", ylabel="$\\tau$", title="conformal time $d\\tau = e^{-b}dt$")
    return _titled(fig, title)


@needs_matplotlib
def fig4_figure(runs, *, bounds, title: str | None = None) -> Figure:
    """Paper Fig. 4: the two-Gaussian model with finite $\\sigma_A$.

    Panels: test (solid) and train (dashed) accuracy against $t$ with the bound
    $\\Phi(\\mu/\\sigma_A)$ (dotted); test and train loss; $W_0$ (solid) and
    $\\|W_\\perp\\|$ (dashed).

    **Arguments:** `runs`: `(sigma_a, flow, finite)` tuples (`finite` a `descend`
    trajectory or `None`, drawn as markers); `bounds`: per run, the limiting accuracy
    $\\Phi(\\mu/\\sigma_A)$ drawn dotted, or `None`; `title`.

    **Returns:** the `Figure`.
    """
    fig, axs = _fixed_figure(15, 4.6, 1, 3, wspace=0.28)
    ax_acc, ax_loss, ax_w = axs[0]
    for k, ((sigma_a, flow, finite), bound) in enumerate(zip(runs, bounds, strict=True)):
        color = f"C{k}"
        label = f"$\\sigma_A = {sigma_a:g}$"
        for traj, markers in ((flow, False), (finite, True)):
            if traj is None:
                continue
            plot_learning_curves(traj, axes=(ax_loss, ax_acc), markers=markers, color=color,
                                 label=None if markers else label, max_markers=15,
                                 train=False)
            plot_learning_curves(traj, axes=(ax_loss, ax_acc), markers=markers, color=color,
                                 max_markers=15, test=False)
        t = np.asarray(flow.t)
        keep = t > 0
        w = np.asarray(flow.w)
        ax_w.semilogx(t[keep], w[keep, 0], "-", color=color, label=label)
        ax_w.semilogx(t[keep], np.linalg.norm(w[keep, 1:], axis=1), "--", color=color)
        if bound is not None:
            ax_acc.axhline(bound, color=color, ls=":", lw=1)
    ax_acc.set(ylim=(0.45, 1.02), title="accuracy (dashed: train; dotted: $\\Phi(\\mu/\\sigma_A)$)")
    ax_loss.set(title="loss (dashed: train)")
    ax_w.set(xlabel="$t$", ylabel="weights", title="$W_0$ (solid), $\\|W_\\perp\\|$ (dashed)")
    for ax in (ax_acc, ax_loss, ax_w):
        ax.legend(fontsize="x-small")
    return _titled(fig, title)


@needs_matplotlib
def fig6_figure(stats: dict, *, title: str | None = None) -> Figure:
    """Paper Fig. 6: (left) the fraction of samples with $S_\\infty\\cdot x_i > 0$ (ours:
    $w^*\\cdot x_i < 0$) against λ, with the CGMT limit $\\Phi(-c/r)$; (right) the
    fraction of separable draws against Wendel's formula.

    **Arguments:** `stats`: the dict of arrays `fixed_point_statistics` computes (`lam`,
    `frac_pos_mean`, `frac_pos_se`, `frac_pos_cgmt`, `p_sep`, `p_sep_se`, `wendel`,
    `lam_fine`, `wendel_fine`, `n`, `realizations`); `title`.

    **Returns:** the `Figure`.
    """
    fig, axs = _fixed_figure(11, 4.4, 1, 2, wspace=0.25, left=0.07)
    ax_f, ax_p = axs[0]
    _inseparable_panel(ax_f, stats, "frac_pos", "CGMT $\\Phi(-c/r)$, $n = \\infty$",
                       ylabel="fraction with $S_\\infty\\cdot x_i > 0$",
                       title="does not go to zero as $\\lambda \\to 1/2$")
    _points_and_curve(
        ax_p, stats["lam"], stats["p_sep"], stats["p_sep_se"],
        f"{stats['realizations']} draws per $\\lambda$ (hard-margin QP)", stats["lam_fine"],
        stats["wendel_fine"], "k-", "Wendel", critical=True, ylabel="fraction separable",
        title="fraction of separable draws")
    return _titled(fig, title)


@needs_matplotlib
def fig7_figure(stats: dict, *, title: str | None = None) -> Figure:
    """Paper Fig. 7: (left) the average positive $S_\\infty\\cdot x_i$ (ours:
    $-\\tilde w^*\\cdot z_i$ where positive) against λ with its CGMT limit; (right) the
    margin $\\gamma_z$ of separable draws against λ with Gardner's curve.

    **Arguments:** `stats` as for `fig6_figure` plus `mean_pos_mean`, `mean_pos_se`,
    `mean_pos_cgmt`, `margin_mean`, `margin_se`, `gardner_fine`; `title`.

    **Returns:** the `Figure`.
    """
    fig, axs = _fixed_figure(11, 4.4, 1, 2, wspace=0.25, left=0.07)
    ax_m, ax_g = axs[0]
    _inseparable_panel(ax_m, stats, "mean_pos", "CGMT, $n = \\infty$",
                       ylabel="mean of positive $\\tilde S_\\infty\\cdot z_i$",
                       title="average positive $S_\\infty\\cdot x_i$ ($\\sigma = 1$ units)")
    sep = np.isfinite(stats["margin_mean"])  # separable draws exist below 1/2 too at finite n
    _points_and_curve(
        ax_g, stats["lam"][sep], stats["margin_mean"][sep], stats["margin_se"][sep],
        f"n = {stats['n']}, separable draws", stats["lam_fine"], stats["gardner_fine"], "k--",
        "Gardner, $n = \\infty$", critical=True, ylabel="margin $\\gamma_z$",
        title="margin (finite-size bias near 1/2)")
    return _titled(fig, title)


@needs_matplotlib
def distributions_figure(runs, *, title: str | None = None) -> Figure:
    """Paper Fig. 15 layout: several problems on one set of axes: accuracy, loss, and
    $\\|w\\|$, $b$ against $t$ (test solid, train dashed; $\\|w\\|$ solid, $b$ dashed).

    **Arguments:** `runs`: `(label, flow)` tuples; `title`.

    **Returns:** the `Figure`.
    """
    fig, axs = _fixed_figure(15, 4.6, 1, 3, wspace=0.28)
    ax_acc, ax_loss, ax_norm = axs[0]
    for k, (label, flow) in enumerate(runs):
        plot_learning_curves(flow, axes=(ax_loss, ax_acc), color=f"C{k}", label=label,
                             train=False)
        plot_learning_curves(flow, axes=(ax_loss, ax_acc), color=f"C{k}", test=False)
        plot_norms(flow, ax=ax_norm, color=f"C{k}")
        ax_norm.plot([], [], color=f"C{k}", label=label)
    ax_acc.set(ylim=(0.45, 1.02), title="accuracy (dashed: train)")
    ax_loss.set(title="loss (dashed: train)")
    ax_norm.set(title="$\\|w\\|$ (solid) and $b$ (dashed)")
    for ax in (ax_acc, ax_loss, ax_norm):
        ax.legend(fontsize="x-small")
    return _titled(fig, title)
