"""Figures of critical slowing down and of the two-point model (paper Figs. 3 and 9).

Plotting only reads results (`SlowingDown` and its `slowing_down_curves`,
`TwoPointModel`, arrays from `grokking_time`) and returns matplotlib objects.
Matplotlib is imported inside the functions, so importing gradflow never imports it;
figures are built with `matplotlib.figure.Figure` directly (no pyplot state), as in
`_plots/_descend.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._matplotlib import needs_matplotlib

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .._analysis._power_law import PowerLaw
    from .._analysis._slowing_down import SlowingDown

__all__ = [
    "grokking_ratio_figure",
    "grokking_time_map",
    "slowing_down_figure",
    "two_point_figure",
    "two_point_geometry",
]


def _new_figure(ncols: int, nrows: int = 1, size=(4.2, 3.6)) -> tuple[Figure, np.ndarray]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), constrained_layout=True)
    axes = np.atleast_1d(fig.subplots(nrows, ncols))
    return fig, axes.ravel()


def _law_line(ax, law: PowerLaw, gaps, values, style, label):
    if not np.isfinite(law.exponent):
        return
    ax.plot(gaps, values, style,
            label=f"{label}: $\\nu = {law.exponent:.2f} \\pm {law.exponent_err:.2f}$")


@needs_matplotlib
def slowing_down_figure(sd: SlowingDown, *, large_n: bool = True) -> Figure:
    """Three panels against $\\frac12 - \\lambda$: (a) $\\log(t_{gen}/t_{train})$, measured per
    draw and predicted $\\sigma^2\\|w^*\\|^2/2 - \\log\\tilde L^*$, with their power-law fits
    (and, with `large_n`, the $n = \\infty$ value $r^2/2 - \\log\\tilde L^*$ from the CGMT
    equations of docs/mathematics.md §8, which diverges like $(\\frac12 - \\lambda)^{-1}$);
    (b) the relaxation time $\\tilde L^*/h_1$ (in $\\log t$), measured and predicted, with
    fits; (c) measured / predicted $- 1$ for both, per draw.

    The fits, the CGMT curve and the ratios of panel (c) are `slowing_down_curves(sd)`.

    **Arguments:** `sd`: a `SlowingDown`; `large_n`: overlay the CGMT curve.

    **Returns:** the `Figure`.

    **Raises:** `ValueError` if `sd` is not a `SlowingDown`.
    """
    from .._analysis._slowing_down import SlowingDown, slowing_down_curves

    if not isinstance(sd, SlowingDown):
        raise ValueError(f"`sd` must be a SlowingDown; got {type(sd).__name__}.")
    curves = slowing_down_curves(sd, large_n=large_n)
    fig, (ax_r, ax_t, ax_e) = _new_figure(3)
    reps, g = curves.gap_draws, curves.fit_gap

    ax_r.loglog(reps.ravel(), sd.log_ratio_predicted.ravel(), "o", mfc="none", color="C0",
                label="predicted (fixed point)")
    ax_r.loglog(reps.ravel(), sd.log_ratio_measured.ravel(), ".", color="C1",
                label="measured (events)")
    _law_line(ax_r, sd.log_ratio_predicted_law, g, curves.log_ratio_predicted_fit, "C0-",
              "fit, predicted")
    _law_line(ax_r, sd.log_ratio_law, g, curves.log_ratio_fit, "C1--", "fit, measured")
    if large_n:
        ax_r.loglog(curves.cgmt_gap, curves.cgmt_log_ratio, "k:", label="$n = \\infty$ (CGMT)")
    ax_r.set(xlabel=r"$\frac{1}{2} - \lambda$", ylabel=r"$\log(t_{gen}/t_{train})$",
             title=f"grokking ratio (n = {sd.n}, $\\sigma$ = {sd.sigma:g})")
    ax_r.legend(fontsize=7)

    ax_t.loglog(reps.ravel(), sd.relaxation_time_predicted.ravel(), "o", mfc="none",
                color="C0", label=r"predicted $\tilde L^*/h_1$")
    ax_t.loglog(reps.ravel(), sd.relaxation_time_measured.ravel(), ".", color="C1",
                label=r"measured, $\|w - w^*\| \propto t^{-1/T}$")
    _law_line(ax_t, sd.relaxation_predicted_law, g, curves.relaxation_predicted_fit, "C0-",
              "fit, predicted")
    _law_line(ax_t, sd.relaxation_law, g, curves.relaxation_fit, "C1--", "fit, measured")
    ax_t.set(xlabel=r"$\frac{1}{2} - \lambda$", ylabel=r"relaxation time $T$ (units of $\log t$)",
             title="critical slowing down")
    ax_t.legend(fontsize=7)

    ax_e.semilogx(reps.ravel(), curves.log_ratio_error.ravel(), "s", ms=4,
                  label=r"$\log$ ratio")
    ax_e.semilogx(reps.ravel(), curves.exponent_error.ravel(), "^", ms=4,
                  label="relaxation exponent")
    ax_e.axhline(0.0, color="k", lw=0.8)
    ax_e.set(xlabel=r"$\frac{1}{2} - \lambda$", ylabel="measured / predicted $-$ 1",
             title="agreement per draw")
    ax_e.legend(fontsize=7)
    return fig


@needs_matplotlib
def two_point_geometry(models, *, axes=None) -> Figure:
    """The extended-SVM geometry of the two-point model (paper Fig. 3, left panels).

    In the plane $\\theta = (w, b)$ each point gives the half-plane $\\hat x_i\\cdot\\theta
    \\ge 1$, $\\hat x_i = (x_i, 1)$; the extended SVM $\\hat\\theta$ is the feasible point
    nearest the origin. It is $(0, 1)$ (pure bias: generalizing) iff the segment
    $[x_2, x_1]$ contains the origin, i.e. $\\lambda \\le \\frac12$; otherwise it tilts by
    the margin $M = \\sigma(2\\lambda - 1)$ to $(M, 1)/(1 + M^2)$.

    **Arguments:** `models`: `TwoPointModel`s (one panel each); `axes`: as many
    matplotlib `Axes` (default: a new row).

    **Returns:** the `Figure`.
    """
    models = list(models)
    if axes is None:
        fig, axes = _new_figure(len(models), size=(3.6, 3.6))
    else:
        axes = np.ravel(np.asarray(axes, dtype=object))
        fig = axes[0].figure
    for ax, m in zip(axes, models, strict=True):
        xs = np.asarray(m.problem.x)[:, 0]
        lim = 2.2
        grid = np.linspace(-lim, lim, 401)
        ww, bb = np.meshgrid(grid, grid)
        feasible = np.ones_like(ww, bool)
        for x in xs:
            feasible &= x * ww + bb >= 1.0
        ax.contourf(ww, bb, feasible.astype(float), levels=[0.5, 1.5], colors=["C2"],
                    alpha=0.25)
        for k, x in enumerate(xs):
            ax.plot(grid, 1.0 - x * grid, color=f"C{k}",
                    label=f"$x_{k + 1}\\,w + b = 1$, $x_{k + 1} = {x:.2g}$")
        if m.separable:
            margin = m.margin
            theta = np.array([margin, 1.0]) / (1.0 + margin**2)
        else:
            theta = np.array([0.0, 1.0])
        ax.plot(*theta, "k*", ms=12, label=r"extended SVM $\hat\theta$")
        ax.annotate("", xy=theta, xytext=(0, 0), arrowprops=dict(arrowstyle="->", lw=1.2))
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axvline(0, color="0.6", lw=0.6)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="$w$", ylabel="$b$", aspect="equal")
        paper_x2 = -xs[1]
        rel = ">" if paper_x2 > 1e-12 else "<" if paper_x2 < -1e-12 else "="
        phase = "separable" if m.separable else "inseparable"
        ax.set_title(f"paper $x_2 {rel} 0$: $\\lambda = {m.lam:g}$ ({phase})", fontsize=9)
        ax.legend(fontsize=6, loc="lower left")
    return fig


@needs_matplotlib
def grokking_time_map(sigmas, gaps, log10_times, *, level: float = 0.95, axes=None) -> Figure:
    """Grokking time of the two-point model against $\\sigma$ and $1 - 2\\lambda$ (paper
    Fig. 3, right): a colour map of $\\log_{10}t$ at which the test accuracy first
    reaches `level`, and the same as curves for each $\\sigma$.

    **Arguments:** `sigmas` (shape `(S,)`), `gaps` $= 1 - 2\\lambda$ (shape `(G,)`),
    `log10_times` (shape `(S, G)`; NaN where the level holds from $t = 0^+$ or is never
    reached, drawn blank); `level`; `axes`: two matplotlib `Axes` (default: a new row).

    **Returns:** the `Figure`.
    """
    sigmas = np.asarray(sigmas, dtype=float)
    gaps = np.asarray(gaps, dtype=float)
    z = np.asarray(log10_times, dtype=float)
    if axes is None:
        fig, (ax_map, ax_lines) = _new_figure(2, size=(4.6, 3.8))
    else:
        ax_map, ax_lines = np.ravel(np.asarray(axes, dtype=object))
        fig = ax_map.figure
    mesh = ax_map.pcolormesh(gaps, sigmas, z, shading="nearest", cmap="viridis")
    ax_map.set(xscale="log", yscale="log", xlabel=r"$1 - 2\lambda$", ylabel=r"$\sigma$",
               title=f"$\\log_{{10}}t$ to test accuracy {level:g} (blank: from $t=0^+$)")
    fig.colorbar(mesh, ax=ax_map)
    for k, s in enumerate(sigmas):
        ax_lines.semilogx(gaps, z[k], "-o", ms=3, color=f"C{k % 10}", label=f"$\\sigma = {s:g}$")
    ax_lines.set(xlabel=r"$1 - 2\lambda$", ylabel=r"$\log_{10} t$",
                 title="grokking needs $\\lambda \\to \\frac{1}{2}$ and large $\\sigma$")
    ax_lines.legend(fontsize=6, ncol=2)
    return fig


@needs_matplotlib
def two_point_figure(models, sigmas, gaps, log10_times, *, level: float = 0.95) -> Figure:
    """The paper's Fig. 3 for the two-point model: the extended-SVM geometry of `models`
    (top row, `two_point_geometry`) above the grokking-time map (bottom row,
    `grokking_time_map`).

    **Arguments:** `models`: `TwoPointModel`s, one top panel each (the paper: λ = 0.3,
    0.5, 0.7 at σ = 1); `sigmas`, `gaps`, `log10_times`, `level` as for
    `grokking_time_map` (e.g. from `grokking_time` on a grid of `TwoPointModel`s).

    **Returns:** the `Figure`.
    """
    from matplotlib.figure import Figure

    models = list(models)
    fig = Figure(figsize=(12, 8.5), constrained_layout=True)
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.0, 1.05])
    two_point_geometry(models, axes=top.subplots(1, len(models)))
    grokking_time_map(sigmas, gaps, log10_times, level=level, axes=bottom.subplots(1, 2))
    return fig


@needs_matplotlib
def grokking_ratio_figure(eps, t_train, t_gen, gaps, log_ratio, log_ratio_limit, *,
                          sigma=None) -> Figure:
    """The paper's Fig. 9 for the two-point model.

    Left: $t_{train}(\\epsilon)$ and $t_{gen}(\\epsilon)$ (log-log, parallel lines: their
    ratio does not depend on $\\epsilon$). Right: $\\sqrt{\\log(t_{gen}/t_{train})}$
    against $\\log(1 - 2\\lambda)$, measured and from §10's formula, with the asymptote
    $|\\log(1-2\\lambda)|/\\sqrt2$ (slope $1/\\sqrt2$ in magnitude).

    **Arguments:** `eps`, `t_train`, `t_gen` (shape `(E,)`); `gaps` $= 1 - 2\\lambda$,
    `log_ratio` (measured), `log_ratio_limit` (§10), shape `(G,)`; `sigma` for the title.

    **Returns:** the `Figure`.
    """
    eps = np.asarray(eps, dtype=float)
    gaps = np.asarray(gaps, dtype=float)
    fig, (ax_t, ax_r) = _new_figure(2, size=(4.6, 3.8))
    ax_t.loglog(eps, t_train, "o-", ms=3, label=r"$t_{train}$")
    ax_t.loglog(eps, t_gen, "s-", ms=3, label=r"$t_{gen}$")
    ax_t.invert_xaxis()
    ax_t.set(xlabel=r"$\epsilon$", ylabel="first time loss $= \\epsilon$",
             title="ratio independent of $\\epsilon$"
             + (f" ($\\sigma = {sigma:g}$)" if sigma is not None else ""))
    ax_t.legend(fontsize=8)
    x = np.log(gaps)
    ax_r.plot(x, np.sqrt(log_ratio), "o", ms=4, label="measured (events)")
    ax_r.plot(x, np.sqrt(log_ratio_limit), "-", label="§10 formula")
    ax_r.plot(x, -x / np.sqrt(2.0), "k--", lw=0.8, label=r"$-\log(1-2\lambda)/\sqrt{2}$")
    ax_r.set(xlabel=r"$\log(1 - 2\lambda)$", ylabel=r"$\sqrt{\log(t_{gen}/t_{train})}$",
             title=r"slope $\to -1/\sqrt{2}$")
    ax_r.legend(fontsize=8)
    return fig
