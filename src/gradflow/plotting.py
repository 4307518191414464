"""Figures from gradflow's results. Matplotlib is imported inside each function, so
`import gradflow` never imports it. Every function reads results only and returns the
`matplotlib.figure.Figure` it drew."""

import numpy as np

from ._trajectory import Trajectory


def grokking_curves(trajectories, labels=None, *, title=None, markers=None):
    """Train/test loss and accuracy against $t$ on a log axis (paper Fig. 1, left).

    **Arguments:**

    - `trajectories`: a `Trajectory` or a list of them (flow or finite-step runs).
    - `labels`: one legend label per trajectory.
    - `title`: figure title.
    - `markers`: per trajectory, `None` for lines or a marker string (e.g. for GD).

    **Returns:** the `Figure` (two panels: loss, accuracy).
    """
    import matplotlib.pyplot as plt

    if isinstance(trajectories, Trajectory):
        trajectories = [trajectories]
    labels = labels or [None] * len(trajectories)
    markers = markers or [None] * len(trajectories)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for k, (tr, label, marker) in enumerate(zip(trajectories, labels, markers, strict=True)):
        color = f"C{k}"
        t = np.asarray(tr.t)
        keep = t > 0
        style = dict(marker=marker, linestyle="none", markersize=3) if marker else dict()
        suffix = f" ({label})" if label else ""
        ax_loss.loglog(t[keep], tr.train_loss[keep], color=color, **style,
                       label="train" + suffix)
        ax_loss.loglog(t[keep], tr.test_loss[keep], color=color, alpha=0.6,
                       **(style or dict(linestyle="--")), label="test" + suffix)
        ax_acc.semilogx(t[keep], tr.train_accuracy[keep], color=color, **style,
                        label="train" + suffix)
        ax_acc.semilogx(t[keep], tr.test_accuracy[keep], color=color, alpha=0.6,
                        **(style or dict(linestyle="--")), label="test" + suffix)
    ax_loss.set(xlabel="t", ylabel="loss")
    ax_acc.set(xlabel="t", ylabel="accuracy", ylim=(0.45, 1.02))
    ax_acc.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
