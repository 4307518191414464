"""The paper's figures, one command each: `gradflow figure NAME` (docs/mathematics.md §14).

The registry `FIGURES` names each figure, says what the paper's shows, and points at
the function that computes it (`gradflow._analysis._paper_figures` and
`_paper_models`, which return a `PaperFigure`). This module draws it
(`gradflow._plots._paper`) and writes `NAME.png`, `NAME.pdf`, `NAME.npz` (the data
behind the figure, with the caption and the parameters as JSON) and `NAME.txt` (the
caption) into `out`; `make_figure` times all of it. Every figure has a `quick` size (a
smoke test for CI) and a full size.

Nothing here is jittable: this is the command line's file output.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ._analysis import _appendix_figures as appendix
from ._analysis import _paper_figures as flows
from ._analysis import _paper_models as models
from ._files import output_dir


@dataclasses.dataclass(frozen=True)
class FigureSpec:
    """One registered figure.

    **Fields:** `name` (e.g. `"fig1"`); `title` (one line); `paper` (what the paper's
    figure shows, from its text); `compute` (`(quick: bool) -> PaperFigure`).
    """

    name: str
    title: str
    paper: str
    compute: Callable


# In the paper's order.
FIGURES: dict[str, FigureSpec] = {spec.name: spec for spec in (
    FigureSpec(
        "fig1", "grokking curves for three λ; ‖w*‖, margin and limiting accuracy against λ",
        "Left: GD dynamics for three λ (losses, accuracies, ‖S‖ and b against steps); "
        "right: ‖S∞‖ against λ < 1/2 with the 1-D prediction, late-time quantities on "
        "both sides of 1/2 (App. K1, K3).", flows.fig1),
    FigureSpec(
        "fig2", "in conformal time the weights follow the bias-free path",
        "Middle: S(τ) with bias equals the bias-free path (Eq. 8); other panels "
        "reconstructed (b(t), τ(t)).", flows.fig2),
    FigureSpec(
        "fig3", "the two-point model: extended-SVM geometry and grokking time",
        "Left (×3): extended-SVM geometry in (S, b) for x₂ > 0, = 0, < 0; right: 1-D "
        "grokking time (test accuracy to 0.95) against σ and 1 − 2λ.", models.fig3),
    FigureSpec(
        "fig4", "the two-Gaussian model with finite σ₁ (σ_A)",
        "Two-Gaussian model, σ_A ∈ {0, 0.01, 0.05, 0.1}, λ = 0.4, μ = 0.2, σ_B = 1, "
        "η = 0.1: small σ_A follows σ_A = 0; larger σ_A limit the accuracy below 1 and "
        "the loss diverges at long times (Sec. 5).", models.fig4),
    FigureSpec(
        "fig5", "Adam: accuracy at chance while memorizing, then grokking",
        "Adam (β₁ = 0.8, β₂ = 0.9), λ = 0.495, N = 4000, σ = 1: test accuracy at "
        "chance level until late, then grokking (App. B).", models.fig5),
    FigureSpec(
        "fig6", "fraction of positive S∞·x_i and of separable draws near λ = 1/2",
        "Left: fraction of positive S∞·x_i against λ (does not go to zero); right: "
        "fraction of separable draws against Wendel (App. E.1, K1).", models.fig6),
    FigureSpec(
        "fig7", "average positive S∞·x_i and the margin near λ = 1/2",
        "Average positive S∞·x_i and the margin against λ: finite-size bias near 1/2 "
        "(App. E.1, K1, K2).", models.fig7),
    FigureSpec(
        "fig9", "t_gen/t_train of the two-point model does not depend on ε",
        "1-D model: left, 1 − 2λ = 1e-3, t*_train and t*_gen from loss = ε; right, "
        "sqrt(log(t*_gen/t*_train)) against log(1 − 2λ), slope ≈ 1/√2.", models.fig9),
    FigureSpec(
        "figF1", "the variance scale σ: grokking as σ grows; Φ(1/(σ²γ)) above 1/2",
        "App. F.1 (no figure in the paper): larger σ makes grokking more apparent, up to "
        "a point; on the separable side the limiting accuracy is Φ(1/(σ²γ)) (Eq. 44).",
        appendix.figF1),
    FigureSpec(
        "fig11", "Adam against GD on both sides of λ = 1/2",
        "Adam vs GD (App. F.2): Adam moves the weights faster; on the separable side it "
        "does not converge to the max-margin direction, and the accuracy stays below 1 "
        "since ‖S‖ diverges.", appendix.fig11),
    FigureSpec(
        "figF3", "initial conditions: one limit, reached at different times",
        "App. F.3 (heading only in the paper's text): the effect of the initial "
        "conditions.", appendix.figF3),
    FigureSpec(
        "fig14", "the exponential loss from t = 0 also groks",
        "Exponential loss from the start: grokking as with the cross-entropy (App. F.4).",
        flows.fig14),
    FigureSpec(
        "fig15", "isotropic, power-law covariance and Gaussian-mixture inputs",
        "Three input distributions (isotropic Gaussian, power-law covariance k^-α, "
        "mixture of Gaussians ±ν): grokking near λ = 1/2 for each (App. G).", flows.fig15),
    FigureSpec(
        "fig16", "threshold labels, r = 1, 0.99 and 0.95",
        "Threshold labels (App. I), r ∈ {1, 0.99, 0.95}, λ = 0.48, rest as Fig. 1: "
        "limiting accuracy below 1 for r < 1, but delayed generalization and a "
        "non-monotonic test loss remain.", flows.fig16),
)}


def figure_names() -> list[str]:
    """The names of the registered figures, in the paper's order.

    **Returns:** a list of strings (`"fig1"`, `"fig2"`, ...).
    """
    return list(FIGURES)


def save_figure(fig, out_dir, name: str, *, formats=("png", "pdf")) -> list[Path]:
    """Write `fig` as `out_dir/name.<format>` for each format (directory created).

    **Returns:** the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out / f"{name}.{fmt}"
        fig.savefig(path, dpi=130 if fmt == "png" else None)
        paths.append(path)
    return paths


def save_data(out: Path, name: str, caption: str, data: dict, params: dict | None) -> Path:
    """`NAME.npz`: the caption, the parameters as JSON (unless `None`) and the arrays."""
    npz = out / f"{name}.npz"
    extra = {} if params is None else dict(params=np.asarray(json.dumps(params, default=float)))
    arrays = {k: np.asarray(v) for k, v in data.items()}
    np.savez_compressed(npz, caption=np.asarray(caption), **extra, **arrays)
    return npz


def make_figure(name: str, out=".", *, quick: bool = False, echo: bool = True,
                draws: int | None = None, n: int | None = None) -> dict:
    """Compute, draw and write one figure of the paper.

    **Arguments:**

    - `name`: a registered name (`figure_names()`), e.g. `"fig1"`.
    - `out`: the output folder (created if needed).
    - `quick`: the small smoke-test size instead of the full size.
    - `echo`: print what was written and the run time.
    - `draws`, `n` (Fig. 1 only): Fig. 1 right-top at the paper's configuration (App.
      K1; `n` default 2400) with `draws` draws per λ, written as `fig1-paper-size.*`
      beside its resumable sweep file `fig1-paper-size-n{n}-draws{draws}.nc` (a killed
      run continues where it stopped when run again).

    **Returns:** a dict with `name`, `files` (the paths written: PNG, PDF, NPZ, TXT),
    `runtime` (seconds), `caption`, `quick` and `summary` (a few numbers).

    **Raises:** `ValueError` for an unknown name or an `out` that is not a writable
    folder, `ImportError` without matplotlib (both checked before computing).
    """
    from ._plots._matplotlib import require_matplotlib

    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; use one of {', '.join(FIGURES)}.")
    if (draws is not None or n is not None) and (name != "fig1" or quick):
        raise ValueError("`draws` and `n` apply to fig1 only, without `quick`.")
    if n is not None and draws is None:
        raise ValueError("`n` needs `draws` (fig1 right-top at the paper's size).")
    out = output_dir(out, "out")  # a file or unwritable folder: refused before computing
    require_matplotlib()
    from ._plots._paper import paper_figure

    start = time.perf_counter()
    if draws is not None:
        from ._analysis._paper_size import K1_N, fig1_right_top

        n = K1_N if n is None else n
        result = fig1_right_top(n, draws, out=out / f"fig1-paper-size-n{n}-draws{draws}.nc")
        name = result.name
    else:
        result = FIGURES[name].compute(bool(quick))
    files = save_figure(paper_figure(result), out, name)
    files.append(save_data(out, name, result.caption, result.data, result.params))
    runtime = time.perf_counter() - start
    caption = result.caption
    size = "quick" if quick else "full"
    caption_file = out / f"{name}.txt"
    caption_file.write_text(f"{caption}\n\n(`gradflow figure {name}"
                            f"{' --quick' if quick else ''}`: {runtime:.0f} s, {size} size)\n")
    files.append(caption_file)
    if echo:
        title = FIGURES[name].title if name in FIGURES else result.caption.split(":")[0]
        print(f"gradflow figure {name} ({size}): {title}")
        for key, value in result.summary.items():
            print(f"  {key}: {value}")
        print(f"  wrote {', '.join(str(p) for p in files)}")
        print(f"  run time {runtime:.1f} s")
    return dict(name=name, files=files, runtime=runtime, caption=caption, quick=bool(quick),
                summary=result.summary)


def figure_command(name: str | None, out, *, quick: bool = False, list_only: bool = False,
                   draws: int | None = None, n: int | None = None) -> int:
    """What `gradflow figure` does: list the figures, or make one (or `"all"`).

    **Arguments:** `name` (a figure name, `"all"`, or `None` with `list_only`); `out`;
    `quick`; `list_only`; `draws`, `n` (Fig. 1 right-top at the paper's size, see
    `make_figure`).

    **Returns:** the exit status (0 on success).

    **Raises:** `ValueError` for a missing or unknown name or an `out` that is not a
    writable folder; `ImportError` without matplotlib.
    """
    if list_only:
        for spec in FIGURES.values():
            print(f"{spec.name:6s} {spec.title}")
        return 0
    if not name:
        raise ValueError("give a figure name (see `gradflow figure --list`) or `all`.")
    names = figure_names() if name == "all" else [name]
    if name != "all" and name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; use one of {', '.join(FIGURES)}.")
    if (draws is not None or n is not None) and name != "fig1":
        raise ValueError("--draws and --n apply to fig1 only.")
    output_dir(out, "--out")  # before the first figure is computed
    total = time.perf_counter()
    for item in names:
        make_figure(item, out, quick=quick, draws=draws, n=n)
    if len(names) > 1:
        print(f"gradflow figure all: {len(names)} figures in {time.perf_counter() - total:.1f} s")
    return 0
