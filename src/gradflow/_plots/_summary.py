"""Two figures of `gradflow.plotting`: a trajectory's grokking curves and the standard
summary of a sweep file (its statistics from `sweep_statistics`). Both read results only
and return the `Figure` they drew (with pyplot, so that it shows in notebooks)."""

import numpy as np

from .._trajectory import Trajectory
from ._matplotlib import needs_matplotlib


@needs_matplotlib
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


@needs_matplotlib
def sweep_summary(ds, *, sigma_index: int = 0):
    """Standard figures of a sweep (`gradflow.load_sweep`): median test accuracy against
    $t$ for each λ (left), and at $t_{max}$ the median test accuracy and the fraction of
    separable draws against λ with Wendel's formula (right); the statistics are
    `sweep_statistics(ds, sigma_index=sigma_index)`.

    **Arguments:** `ds`, the sweep dataset; `sigma_index`, which σ to show.

    **Returns:** the `Figure`.
    """
    import matplotlib.pyplot as plt

    from .._analysis._sweep_summary import sweep_statistics

    st = sweep_statistics(ds, sigma_index=sigma_index)
    fig, (ax_t, ax_l) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    keep = st.t > 0
    cmap = plt.get_cmap("viridis")
    lams = st.lam
    for i, lam in enumerate(lams):
        if st.has_draws[i]:
            ax_t.semilogx(st.t[keep], st.median_accuracy[i][keep],
                          color=cmap(i / max(1, len(lams) - 1)), label=f"λ={lam:.3f}")
    ax_t.set(xlabel="t", ylabel="median test accuracy", ylim=(0.45, 1.02),
             title=f"n={st.n}, σ={st.sigma:g}")
    if len(lams) <= 12:
        ax_t.legend(fontsize=7)
    ax_l.plot(lams, st.final_accuracy, "o-", label="median test accuracy at t_max")
    ax_l.plot(lams, st.separable_fraction, "s", label="fraction separable")
    ax_l.plot(lams, st.wendel, "k--", label="Wendel")
    ax_l.axvline(0.5, color="gray", lw=0.5)
    ax_l.set(xlabel="λ = d/n", ylim=(-0.02, 1.02))
    ax_l.legend(fontsize=8)
    return fig
