"""Figures for finite-step optimizers beside gradient flow (`gradflow.plotting`).

Plotting only reads `Trajectory`/`Comparison` results and returns matplotlib objects;
matplotlib is imported inside the functions, so importing gradflow never imports it, and
files are written by the caller (`gradflow figure`, the scripts of `examples/`).
Figures are built with `matplotlib.figure.Figure` directly (no pyplot state, no GUI
backend), so they can be saved from scripts and tests alike.

Conventions: gradient flow is drawn as lines, finite-step runs as markers; training
metrics are dashed / open markers, test metrics solid / filled markers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._analysis._curves import step_axis
from ._matplotlib import needs_matplotlib

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .._compare import Comparison
    from .._trajectory import Trajectory

__all__ = [
    "convergence_figure",
    "grokking_figure",
    "optimizer_figure",
    "plot_learning_curves",
    "plot_norms",
]


def _thin(x: np.ndarray, max_points: int | None) -> np.ndarray:
    """Indices of at most `max_points` entries of positive `x`, evenly spaced in log x."""
    pos = np.flatnonzero(x > 0)
    if max_points is None or pos.size <= max_points:
        return pos
    targets = np.geomspace(x[pos[0]], x[pos[-1]], max_points)
    idx = pos[np.searchsorted(x[pos], targets).clip(0, pos.size - 1)]
    return np.unique(idx)


def plot_learning_curves(
    traj: Trajectory,
    *,
    axes: tuple[Axes, Axes],
    markers: bool = False,
    color=None,
    label: str | None = None,
    steps: bool = False,
    max_markers: int | None = 40,
    test: bool = True,
    train: bool = True,
    loss_cap: float = 1e30,
):
    """Train/test loss on `axes[0]` (log-log) and train/test accuracy on `axes[1]`.

    **Arguments:**

    - `traj`: a `Trajectory` (from `integrate` or `descend`).
    - `axes`: the two matplotlib axes (loss, accuracy).
    - `markers`: draw markers (finite-step runs) instead of lines (gradient flow).
    - `color`, `label`: matplotlib color and legend label (the label goes on the test
      curve; the train curve gets `label + " (train)"`).
    - `steps`: use the step count $k$ (`step_axis`) as the x axis instead of $t$.
    - `max_markers`: thin markers to at most this many, evenly in $\\log x$.
    - `test`, `train`: which of the two metric families to draw.
    - `loss_cap`: losses above it (or non-finite, e.g. the exponential test loss
      $e^{-b+\\sigma^2\\|w\\|^2/2}$ once it overflows) are not drawn.

    **Returns:** the `axes`. Points at $x = 0$ are left out (log axis).
    """
    ax_loss, ax_acc = axes
    x = step_axis(traj) if steps else np.asarray(traj.t)
    idx = _thin(x, max_markers if markers else None)
    series = []
    if train:
        series.append((traj.train_loss, traj.train_accuracy, True))
    if test:
        series.append((traj.test_loss, traj.test_accuracy, False))
    for loss, acc, is_train in series:
        lab = None if label is None else (f"{label} (train)" if is_train else label)
        loss = np.asarray(loss, dtype=float)
        loss = np.where(np.isfinite(loss) & (loss <= loss_cap), loss, np.nan)
        for ax, y in ((ax_loss, loss), (ax_acc, acc)):
            y = np.asarray(y)[idx]
            if markers:
                ax.plot(
                    x[idx], y, linestyle="none", marker="o", markersize=3.5, color=color,
                    markerfacecolor="none" if is_train else color, label=lab,
                )
            else:
                ax.plot(x[idx], y, linestyle="--" if is_train else "-", color=color, label=lab)
    ax_loss.set_xscale("log")
    ax_loss.set_yscale("log")
    ax_acc.set_xscale("log")
    xlabel = "step $k$" if steps else "$t$"
    ax_loss.set_xlabel(xlabel)
    ax_acc.set_xlabel(xlabel)
    ax_loss.set_ylabel("loss")
    ax_acc.set_ylabel("accuracy")
    return axes


def plot_norms(
    traj: Trajectory,
    *,
    ax: Axes,
    markers: bool = False,
    color=None,
    label: str | None = None,
    steps: bool = False,
    max_markers: int | None = 40,
):
    """$\\lVert w\\rVert$ (solid / filled) and $b$ (dashed / open) against $t$ (log x).

    **Returns:** `ax`.
    """
    x = step_axis(traj) if steps else np.asarray(traj.t)
    idx = _thin(x, max_markers if markers else None)
    norm = np.linalg.norm(np.asarray(traj.w), axis=1)[idx]
    b = np.asarray(traj.b)[idx]
    for y, is_b in ((norm, False), (b, True)):
        lab = None if label is None else (f"{label}: $b$" if is_b else f"{label}: $\\|w\\|$")
        if markers:
            ax.plot(
                x[idx], y, linestyle="none", marker="s" if is_b else "o", markersize=3.5,
                color=color, markerfacecolor="none" if is_b else color, label=lab,
            )
        else:
            ax.plot(x[idx], y, linestyle="--" if is_b else "-", color=color, label=lab)
    ax.set_xscale("log")
    ax.set_xlabel("step $k$" if steps else "$t$")
    ax.set_ylabel("$\\|w\\|$, $b$")
    return ax


@needs_matplotlib
def grokking_figure(runs, *, title: str | None = None) -> Figure:
    """One row per run: loss, accuracy, and $\\lVert w\\rVert$, $b$ against $t$.

    **Arguments:**

    - `runs`: a sequence of `(label, flow, finite)` with `flow` a `Trajectory` drawn as
      lines and `finite` (a `descend` trajectory, or `None`) as markers on the same axes.
    - `title`: figure title.

    **Returns:** a matplotlib `Figure` (paper Fig. 1, left columns).
    """
    from matplotlib.figure import Figure

    runs = list(runs)
    # A fixed layout: matplotlib's constrained layout doubles the time to save.
    height = 3.1 * len(runs) + 0.5
    fig = Figure(figsize=(12, height))
    fig.subplots_adjust(left=0.06, right=0.985, bottom=0.5 / height, top=1 - 0.75 / height,
                        hspace=0.5, wspace=0.22)
    axs = fig.subplots(len(runs), 3, squeeze=False)
    for row, (label, flow, finite) in zip(axs, runs, strict=True):
        for traj, markers in ((flow, False), (finite, True)):
            if traj is None:
                continue
            kind = "GD" if markers else "flow"
            plot_learning_curves(traj, axes=(row[0], row[1]), markers=markers, color="C1",
                                 label=None, test=True, train=False)
            plot_learning_curves(traj, axes=(row[0], row[1]), markers=markers, color="C0",
                                 label=None, test=False, train=True)
            plot_norms(traj, ax=row[2], markers=markers, color="C2" if markers else "k",
                       label=kind)
        row[0].set_title(f"{label}: loss")
        row[1].set_title(f"{label}: accuracy")
        row[2].set_title(f"{label}: $\\|w\\|$ and $b$")
        row[1].set_ylim(-0.02, 1.02)
        row[2].legend(fontsize="small")
    _legend_key(axs[0, 0], finite_present=any(r[2] is not None for r in runs))
    _legend_key(axs[0, 1], finite_present=any(r[2] is not None for r in runs))
    if title:
        fig.suptitle(title)
    return fig


def _legend_key(ax: Axes, *, finite_present: bool):
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color="C0", linestyle="--", label="train (flow)"),
        Line2D([], [], color="C1", linestyle="-", label="test (flow)"),
    ]
    if finite_present:
        handles += [
            Line2D([], [], color="C0", linestyle="none", marker="o", markerfacecolor="none",
                   label="train (GD)"),
            Line2D([], [], color="C1", linestyle="none", marker="o", label="test (GD)"),
        ]
    ax.legend(handles=handles, fontsize="small")


@needs_matplotlib
def convergence_figure(
    lrs,
    errors: dict[str, np.ndarray],
    slopes: dict[str, float],
    *,
    t_fixed: float,
    comparisons: dict[float, Comparison] | None = None,
) -> Figure:
    """Finite-step error against the learning rate (log-log, with fitted slopes).

    **Arguments:**

    - `lrs`: the learning rates, shape `(L,)`.
    - `errors`: name → errors at `t_fixed`, shape `(L,)` each (e.g. `"params"`,
      `"test_loss"`).
    - `slopes`: name → fitted log-log slope, shown in the legend.
    - `t_fixed`: the time at which the errors were taken.
    - `comparisons`: optional lr → `Comparison`; adds a panel of the parameter error
      against $t$ for each learning rate.

    **Returns:** a matplotlib `Figure`.
    """
    from matplotlib.figure import Figure

    lrs = np.asarray(lrs, dtype=float)
    ncols = 2 if comparisons else 1
    fig = Figure(figsize=(5.2 * ncols, 4.4))
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.12, top=0.86, wspace=0.28)
    axs = fig.subplots(1, ncols, squeeze=False)[0]
    ax = axs[0]
    for i, (name, err) in enumerate(errors.items()):
        err = np.asarray(err, dtype=float)
        ax.plot(lrs, err, marker="o", color=f"C{i}",
                label=f"{name}: slope {slopes.get(name, np.nan):.3f}")
    ref = np.asarray(next(iter(errors.values())), dtype=float)
    j = int(np.argmin(lrs))
    ax.plot(lrs, ref[j] * lrs / lrs[j], color="0.5", linestyle=":", label="$\\propto\\eta$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate $\\eta$")
    ax.set_ylabel(f"|GD − flow| at $t = {t_fixed:g}$")
    ax.set_title("GD converges to gradient flow at first order")
    ax.legend(fontsize="small")
    if comparisons:
        ax = axs[1]
        for i, (lr, comp) in enumerate(sorted(comparisons.items(), reverse=True)):
            keep = comp.t > 0
            ax.plot(comp.t[keep], comp.params[keep], color=f"C{i}", label=f"$\\eta = {lr:g}$")
        ax.axvline(t_fixed, color="0.6", linestyle=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("$t$")
        ax.set_ylabel("$\\|\\theta_{GD} - \\theta_{flow}\\|$")
        ax.set_title("error along the trajectory")
        ax.legend(fontsize="small")
    return fig


@needs_matplotlib
def optimizer_figure(runs, *, title: str | None = None, steps: bool = True) -> Figure:
    """Several optimizers on one problem: accuracy, loss, and $\\lVert w\\rVert$, $b$.

    **Arguments:**

    - `runs`: a sequence of `(label, trajectory, markers)`; lines when `markers` is false.
    - `title`: figure title.
    - `steps`: plot against the step count $k$ (default) rather than $t$.

    **Returns:** a matplotlib `Figure` (paper Fig. 5 / Fig. 11 layout).
    """
    from matplotlib.figure import Figure

    runs = list(runs)
    fig = Figure(figsize=(13, 4.2))
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.13, top=0.85, wspace=0.22)
    ax_acc, ax_loss, ax_norm = fig.subplots(1, 3)
    for i, (label, traj, markers) in enumerate(runs):
        plot_learning_curves(traj, axes=(ax_loss, ax_acc), markers=markers, color=f"C{i}",
                             label=label, steps=steps)
        plot_norms(traj, ax=ax_norm, markers=markers, color=f"C{i}", label=label, steps=steps)
    ax_acc.axhline(0.5, color="0.6", linestyle=":", label="chance")
    ax_acc.set_ylim(-0.02, 1.02)
    ax_acc.set_title("accuracy (dashed/open: train)")
    ax_loss.set_title("loss (dashed/open: train)")
    ax_norm.set_title("$\\|w\\|$ (solid) and $b$ (dashed)")
    for ax in (ax_acc, ax_loss, ax_norm):
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig
