"""What the paper's figures show, computed: Figs. 3-7 and 9 (the two-point model, the
two-Gaussian model, Adam, and the fixed-point statistics near λ = 1/2). Figs. 1, 2 and
14-16 are in `_paper_figures.py`, with the `PaperFigure` each function returns.

Figs. 3 and 9 compute what `examples/two_point_model.py` and
`examples/fig9_grokking_ratio.py` compute (those scripts draw the same figures with the
public API); the data keys are theirs. Nothing here draws or writes a file.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._descend import descend
from .._generators import gaussian_problem, two_gaussian_problem
from .._integrate import integrate
from ._curves import step_axis
from ._fig67_statistics import fixed_point_statistics
from ._paper_figures import PaperFigure, first_inseparable_seed, fmt, traj_data


def _flatten(prefix: str, value, into: dict):
    """Numeric leaves of dicts, tuples and equinox Modules as arrays under `prefix_key`."""
    import equinox as eqx

    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}_{k}", v, into)
    elif isinstance(value, eqx.Module):
        for f in dataclasses.fields(value):
            _flatten(f"{prefix}_{f.name}", getattr(value, f.name), into)
    elif isinstance(value, (bool, int, float, np.number, np.ndarray)) or hasattr(value, "dtype"):
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf":
            into[prefix] = arr


def _flat(result: dict) -> dict:
    data: dict = {}
    for key, value in result.items():
        _flatten(key, value, data)
    return data


# --------------------------------------------------------------------------- Fig. 3

LEVEL = 0.95  # Fig. 3: the test accuracy whose first time is mapped


def fig3(quick: bool) -> PaperFigure:
    """Fig. 3: the two-point model: extended-SVM geometry and grokking time."""
    from ._grokking_time import grokking_time
    from ._one_dim import TwoPointModel

    k = 5 if quick else 14
    sigmas, gaps = np.geomspace(0.5, 30.0, k), np.geomspace(1e-5, 0.8, k)
    log10_t = np.full((sigmas.size, gaps.size), np.nan)
    for i, sigma in enumerate(sigmas):
        for j, gap in enumerate(gaps):
            model = TwoPointModel((1.0 - gap) / 2.0, sigma)
            res = grokking_time(model, accuracy=LEVEL, throw=False)
            if res.reached_accuracy:
                log10_t[i, j] = res.log_t_accuracy / np.log(10.0) if res.t_accuracy > 0 \
                    else np.nan
    # Closed forms against integrate (in units of 1e-8 relative + 1e-10 absolute).
    checks = {}
    for lam in (0.0, 0.3, 0.5, 0.75, 1.0):
        model = TwoPointModel(lam, 1.5)
        tau = np.geomspace(0.1, 20.0, 8)
        sol = model.conformal(tau, y0=(0.3, 0.5))
        traj = integrate(model.problem, float(sol.t[-1]), y0=([0.3], 0.5), rtol=1e-12,
                         saveat=sol.t, max_steps=100_000)
        err = np.abs(np.asarray(traj.w)[:, 0] - sol.w) / (1e-10 + 1e-8 * np.abs(sol.w))
        checks[lam] = float(np.max(err))
    caption = (
        "Fig. 3 (also drawn by examples/two_point_model.py). Top: the extended SVM of the two "
        "points x = (σ, σ(2λ-1)) in the plane (w, b) for λ = 0.3, 0.5, 0.7 (σ = 1): the "
        "solution is the pure bias iff the segment contains the origin. Bottom: log10 of "
        "the first time the test accuracy Φ(b/σ|w|) reaches 0.95 (an event on the flow), "
        f"on a {sigmas.size} × {gaps.size} grid σ ∈ [{sigmas.min():g}, {sigmas.max():g}], "
        f"1 - 2λ ∈ [{gaps.min():.0e}, {gaps.max():g}] (ranges not stated in the paper).")
    data = _flat(dict(sigmas=sigmas, gaps=gaps, log10_t=log10_t, closed_form_errors=checks))
    models = [TwoPointModel(lam, 1.0) for lam in (0.3, 0.5, 0.7)]
    return PaperFigure("fig3", caption, {"grid": f"{sigmas.size} x {gaps.size}"}, data, None,
                       plot=dict(models=models, sigmas=sigmas, gaps=gaps, log10_times=log10_t,
                                 level=LEVEL))


# --------------------------------------------------------------------------- Fig. 4


def fig4(quick: bool) -> PaperFigure:
    """Fig. 4: the two-Gaussian model with finite σ₁ (σ_A)."""
    from scipy.stats import norm

    mu, sigma_b, lam, lr = 0.2, 1.0, 0.4, 0.1
    n, t_max, steps = (40, 1e8, 500) if quick else (400, 1e14, 100_000)
    d = int(round(lam * n))
    runs, data, summary = [], {}, {}
    for sigma_a in (0.0, 0.01, 0.05, 0.1):
        problem = two_gaussian_problem(n, d, mu=mu, sigma_a=sigma_a, sigma_b=sigma_b, seed=0)
        flow = integrate(problem, t_max, max_steps=20_000)
        gd = descend(problem, lr, steps, record=30)
        runs.append((sigma_a, flow, gd))
        data |= traj_data(f"flow_sa{sigma_a}", flow) | traj_data(f"gd_sa{sigma_a}", gd)
        summary[f"σ_A = {sigma_a}"] = (
            f"final test acc {flow.test_accuracy[-1]:.4f}, test loss "
            f"{flow.test_loss[-1]:.3g} (min {np.min(flow.test_loss):.3g})")
    bounds = [norm.cdf(mu / sigma_a) if sigma_a > 0 else None for sigma_a, _, _ in runs]
    title = (f"Fig. 4: two-Gaussian model, $n = {n}$, $d = {d}$, $\\mu = {mu}$, "
             f"$\\sigma_B = {sigma_b:g}$")
    caption = (
        f"Fig. 4. The (d+1)-dimensional two-Gaussian model without bias (Sec. 5): labels ±1, "
        f"X = yμe₀ + ξ, ξ₀ ~ N(0, σ_A²), ξ⊥ ~ N(0, σ_B² I), μ = {mu}, σ_B = {sigma_b:g}, "
        f"λ = d/n = {lam} (n = {n}, d = {d}; n is not stated in the paper), the same draw "
        f"(seed 0) for each σ_A. Gradient flow (lines, to t = {t_max:.0e}) and GD with "
        f"η = {lr} (markers, {steps:.0e} steps, t = kη); test metrics from docs/mathematics.md §13 "
        "(A = Φ(μW₀/s), s² = σ_A²W₀² + σ_B²‖W⊥‖²). Dotted: the bound Φ(μ/σ_A).")
    return PaperFigure("fig4", caption, summary, data,
                       dict(n=n, d=d, mu=mu, sigma_b=sigma_b, lr=lr, steps=steps, t_max=t_max),
                       plot=dict(runs=runs, bounds=bounds, title=title))


# --------------------------------------------------------------------------- Fig. 5


def _first_step(traj, quantity, level) -> float:
    k, v = step_axis(traj), np.asarray(getattr(traj, quantity))
    hit = np.flatnonzero(v >= level)
    return float(k[hit[0]]) if hit.size else float("nan")


def fig5(quick: bool) -> PaperFigure:
    """Fig. 5: Adam: accuracy at chance while memorizing, then grokking."""
    import optax

    sigma, lam, adam_lr, gd_lr = 1.0, 0.495, 1e-2, 1.0
    n, steps = (40, 2_000) if quick else (4000, 30_000)  # the paper's N = 4000
    d = int(round(lam * n))
    make = lambda s: gaussian_problem(n, d, sigma, seed=s)
    seed = 0 if quick else first_inseparable_seed(make)
    problem = make(seed)
    adam = descend(problem, optax.adam(adam_lr, b1=0.8, b2=0.9), steps, lr=adam_lr)
    gd = descend(problem, gd_lr, steps, record=50)
    runs = [(f"Adam ($\\eta = {adam_lr:g}$, $\\beta = (0.8, 0.9)$)", adam, False),
            (f"GD ($\\eta = {gd_lr:g}$)", gd, True)]
    title = f"Fig. 5: $n = {n}$, $d = {d}$ ($\\lambda = {d / n:.3g}$), $\\sigma = {sigma:g}$"
    summary = {}
    for label, traj in (("Adam", adam), ("GD", gd)):
        k_fit = _first_step(traj, "train_accuracy", 1.0)
        k_099 = _first_step(traj, "test_accuracy", 0.99)
        acc = np.asarray(traj.test_accuracy)
        at_fit = acc[np.flatnonzero(step_axis(traj) == k_fit)[0]] if np.isfinite(k_fit) else np.nan
        summary[label] = (f"train acc 1 at step {fmt(k_fit)} (test acc then {at_fit:.3f}), "
                          f"test acc 0.99 at step {fmt(k_099)}, final {acc[-1]:.4f}")
    caption = (
        f"Fig. 5. Adam (lr {adam_lr:g}, β₁ = 0.8, β₂ = 0.9; the paper's lr is not stated) and "
        f"GD (η = {gd_lr:g}) on n = {n}, d = {d} (λ = {d / n:.4g}; the paper's N = 4000), "
        f"σ = {sigma:g}, an inseparable draw (seed {seed}), "
        f"{steps:.0e} steps each, against the step count. Adam "
        "fits the training set while the test accuracy stays near chance, and groks later; GD "
        "generalizes from the first steps.")
    data = traj_data("adam", adam) | traj_data("gd", gd)
    return PaperFigure("fig5", caption, summary, data,
                       dict(n=n, d=d, sigma=sigma, seed=seed, steps=steps, adam_lr=adam_lr,
                            gd_lr=gd_lr),
                       plot=dict(runs=runs, title=title))


# --------------------------------------------------------------------------- Figs. 6 and 7


def _fig67_sizes(quick: bool) -> dict:
    if quick:
        return dict(n=40, d=(12, 16, 18, 19, 21, 24, 26), draws=6)
    # App. K1/K2 scaled from n = 2400 to n = 400: λ = 0.3875 ... 0.4975 and 0.5125 ... 0.65
    return dict(n=400, d=(155, 165, 175, 181, 185, 189, 192, 194, 196, 197, 198, 199, 205, 210,
                          220, 230, 240, 250, 260), draws=60)


def _fig67(quick: bool, which: int) -> PaperFigure:
    cfg = _fig67_sizes(quick)
    stats = fixed_point_statistics(cfg["n"], tuple(cfg["d"]), cfg["draws"])
    title = (f"Fig. {which}: $n = {cfg['n']}$, {cfg['draws']} draws per λ, "
             "unit variance ($\\sigma$-free)")
    common = (
        f"n = {cfg['n']} (the paper: n = 2400, App. K1/K2, with the d grid scaled to the same "
        f"λ), {cfg['draws']} draws per λ, unit-variance data (the paper's σ cannot be "
        "recovered, docs/mathematics.md §15.7: the quantities are in the σ-free units of §12). "
        "Separability and the margin by the hard-margin QP; w* by damped Newton on log L̃ "
        "for the inseparable draws.")
    if which == 6:
        caption = (
            "Fig. 6. Left: the fraction of samples with S∞·x_i > 0 (ours: w*·x_i < 0, S = -w) "
            "over the inseparable draws (mean ± s.e.), "
            "with the CGMT limit Φ(-c/r) (docs/mathematics.md "
            "§8; → 0.145 as λ → 1/2: it does not go to zero). Right: the fraction of "
            f"separable draws against Wendel's formula. {common}")
    else:
        caption = (
            "Fig. 7. Left: the mean of the positive values of S̃∞·z_i over the inseparable "
            "draws (mean ± s.e.), with its CGMT limit (the mean of log W - log c over G > "
            "c/r). Right: the margin γ_z of the separable draws (mean ± s.e.) with Gardner's "
            f"curve, which vanishes at 1/2 while the finite-n margin does not (the paper's "
            f"finite-size bias). {common}")
    lam = stats["lam"]
    summary = {"λ": ", ".join(f"{v:.3g}" for v in lam),
               "P_sep": ", ".join(f"{v:.2f}" for v in stats["p_sep"])}
    if which == 6:
        summary["fraction positive"] = ", ".join(f"{v:.3f}" for v in stats["frac_pos_mean"])
    else:
        summary["margin γ_z"] = ", ".join(f"{v:.3f}" for v in stats["margin_mean"])
    return PaperFigure(f"fig{which}", caption, summary, dict(stats), cfg,
                       plot=dict(stats=stats, title=title))


def fig6(quick: bool) -> PaperFigure:
    """Fig. 6: fraction of positive S∞·x_i and of separable draws near λ = 1/2."""
    return _fig67(quick, 6)


def fig7(quick: bool) -> PaperFigure:
    """Fig. 7: average positive S∞·x_i and the margin near λ = 1/2."""
    return _fig67(quick, 7)


# --------------------------------------------------------------------------- Fig. 9

SIGMA_LEFT = 20.0  # Fig. 9 left: σ and 1 - 2λ of the ε scan
GAP_LEFT = 1e-3


def fig9(quick: bool) -> PaperFigure:
    """Fig. 9: t_gen/t_train of the two-point model does not depend on ε."""
    from ._grokking_prediction import grokking_prediction
    from ._grokking_time import grokking_time
    from ._one_dim import TwoPointModel

    if quick:
        gaps, eps = np.geomspace(1e-6, 0.5, 4), np.array([1e-10, 1e-30])
    else:
        gaps, eps = np.geomspace(1e-8, 0.5, 16), np.geomspace(1e-2, 1e-60, 25)
    left = grokking_time(TwoPointModel((1.0 - GAP_LEFT) / 2.0, SIGMA_LEFT), eps, accuracy=None)
    measured = np.empty(gaps.size)
    limit = np.empty(gaps.size)
    delta_tau = np.empty((gaps.size, 2))
    sigmas = np.maximum(10.0, 2.0 / np.sqrt(gaps))  # relaxation rate σ²(1 - 2λ) >= 4
    for j, (gap, sigma) in enumerate(zip(gaps, sigmas, strict=True)):
        model = TwoPointModel((1.0 - gap) / 2.0, sigma)
        pred = grokking_prediction(model, accuracy=1e-6)
        res = grokking_time(model, log_eps=pred.log_eps, accuracy=None, t_max=np.inf)
        measured[j] = float(res.log_ratio)
        limit[j] = model.log_ratio_limit
        delta_tau[j] = float(res.delta_tau), model.delta_tau_limit
    # slope of sqrt(log ratio) against log(1 - 2 lambda) over the smallest gaps
    small = gaps <= 1e-3
    slope = float(np.polyfit(np.log(gaps[small]), np.sqrt(measured[small]), 1)[0]) \
        if small.sum() >= 2 else float("nan")
    caption = (
        "Fig. 9 (also drawn by examples/fig9_grokking_ratio.py). Left: at 1 - 2λ = 1e-3 and "
        "σ = 20, the first times t_train(ε), t_gen(ε) at which the training and test losses "
        "reach ε (exponential loss, events on the flow): parallel lines, i.e. a ratio "
        f"independent of ε. Right: sqrt(log(t_gen/t_train)) against log(1 - 2λ) for "
        f"{gaps.size} values of 1 - 2λ ∈ [{gaps.min():.0e}, {gaps.max():g}], each at σ = "
        "max(10, 2/sqrt(1 - 2λ)) (the ratio does not depend on σ), "
        "beside docs/mathematics.md §10's "
        f"closed form; slope {slope:.3f} over 1 - 2λ ≤ 1e-3 (-1/√2 = -0.707). σ and ε are "
        "not stated in the paper.")
    data = _flat(dict(gaps=gaps, log_ratio=measured, log_ratio_limit=limit,
                      delta_tau=delta_tau, slope=slope, left=left))
    return PaperFigure("fig9", caption, {"slope": f"{slope:.4f}"}, data, None,
                       plot=dict(eps=eps, t_train=left.t_train, t_gen=left.t_gen, gaps=gaps,
                                 log_ratio=measured, log_ratio_limit=limit, sigma=SIGMA_LEFT))
