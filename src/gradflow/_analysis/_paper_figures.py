"""What the paper's figures show, computed: Figs. 1, 2, 14, 15 and 16 (grokking curves
of Gaussian data and its variants). Figs. 3-7 and 9 are in `_paper_models.py`.

Each `figN(quick)` returns a `PaperFigure`: the arrays saved with the figure, its
caption, a few summary numbers and the keyword arguments of its drawing function
(`gradflow._plots._paper`). Nothing here draws or writes a file; `gradflow figure NAME`
(`gradflow._cli_figures`) does both. Every figure has a `quick` size (a smoke test for
CI) and a full size, the paper's where the paper states it; parameters the paper does
not state are chosen here and said in the caption.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._descend import descend
from .._generators import (
    gaussian_problem,
    mixture_problem,
    powerlaw_problem,
    threshold_problem,
)
from .._integrate import integrate
from .._problem import Problem
from ._curves import crossing_time

SIGMA = 5.0  # σ of Figs. 1, 2, 14, 15, 16 (docs/mathematics.md §14: reconstructed)
LAMBDAS = (0.3, 0.48, 0.55)  # Fig. 1 left: well below, just below and above 1/2


@dataclasses.dataclass(frozen=True)
class PaperFigure:
    """One computed figure of the paper.

    **Fields:** `name` (e.g. `"fig1"`); `caption`; `summary` (label → text, printed by
    `gradflow figure`); `data` (key → array: the data saved in `NAME.npz`); `params`
    (the parameters, saved as JSON in `NAME.npz`; `None` for none); `plot` (the keyword
    arguments of the figure's drawing function).
    """

    name: str
    caption: str
    summary: dict
    data: dict
    params: dict | None
    plot: dict


def traj_data(prefix: str, traj) -> dict:
    """The arrays of a `Trajectory` (times, parameters, metrics) under `prefix_`."""
    return {
        f"{prefix}_t": np.asarray(traj.t),
        f"{prefix}_w": np.asarray(traj.w),
        f"{prefix}_b": np.asarray(traj.b),
        f"{prefix}_train_loss": traj.train_loss,
        f"{prefix}_train_accuracy": traj.train_accuracy,
        f"{prefix}_test_loss": traj.test_loss,
        f"{prefix}_test_accuracy": traj.test_accuracy,
    }


def first_inseparable_seed(make, start: int = 0, tries: int = 50) -> int:
    """The first seed `>= start` whose problem `make(seed)` is inseparable.

    Newton on $\\log\\tilde L$ decides first (a finite minimizer exists iff the points are
    inseparable; an iterate with all $w\\cdot z_i > 0$ certifies separability): seconds
    where the LP of `separability` takes minutes ($n = 2000$). The hard-margin QP
    (`is_separable`) decides the rest."""
    from ._fixed_point import fixed_point_from_points
    from ._separability import is_separable, points

    for seed in range(start, start + tries):
        z = points(make(seed))
        status = fixed_point_from_points(z).status
        if status == "successful":
            return seed
        if status not in ("successful", "separable") and not is_separable(z):
            return seed
    raise RuntimeError(f"no inseparable draw among seeds {start}..{start + tries - 1}.")


def fmt(v) -> str:
    return "never" if not np.isfinite(v) else f"{v:.3g}"


# --------------------------------------------------------------------------- Fig. 1


def _fig1_sizes(quick: bool) -> dict:
    if quick:
        return dict(n=40, seed=2, lr=0.1, steps=2_000, t_flow=1e4, records=40, bif_n=40,
                    bif_d=[8, 16, 19, 21, 24, 32], bif_draws=4)
    # App. K3: n = 400, d = 20 ... 360 (22 values), 100 realizations.
    return dict(n=200, seed=10, lr=0.1, steps=1_000_000, t_flow=1e8, records=60, bif_n=400,
                bif_d=[20, 40, 80, 100, 120, 140, 160, 168, 180, 188, 192, 196, 200, 208, 220,
                       228, 240, 260, 280, 300, 320, 360], bif_draws=40)


def _large_n_curves(bif) -> dict:
    """The $n = \\infty$ curves beside a bifurcation diagram: the CGMT $\\sigma\\|w^*\\|$
    below 1/2, Gardner's margin above, the limiting accuracy over the whole range."""
    from ._large_n import cgmt_norm, gardner_margin, limiting_accuracy

    lam = np.asarray(bif.lam)
    curves = {}
    if (lam < 0.5).any():
        fine = np.linspace(max(1e-3, lam.min()), min(0.4995, lam.max()), 60)
        curves["cgmt"] = (fine, cgmt_norm(fine))
    fine_up = np.linspace(0.5, max(0.51, lam.max()), 60)
    curves["gardner"] = (fine_up, gardner_margin(fine_up))
    fine_all = np.linspace(lam.min(), lam.max(), 200)
    curves["accuracy"] = (fine_all, limiting_accuracy(fine_all, bif.sigma))
    return curves


def fig1(quick: bool) -> PaperFigure:
    """Fig. 1: grokking curves for three λ; ‖w*‖, margin and limiting accuracy against λ."""
    from ._bifurcation import bifurcation
    from ._one_dim import TwoPointModel

    cfg = _fig1_sizes(quick)
    runs, data, summary = [], {}, {}
    for lam in LAMBDAS:
        d = int(round(lam * cfg["n"]))
        problem = gaussian_problem(cfg["n"], d, SIGMA, seed=cfg["seed"])
        flow = integrate(problem, cfg["t_flow"], max_steps=20_000)
        gd = descend(problem, cfg["lr"], cfg["steps"], record=cfg["records"])
        runs.append((f"$\\lambda = {d / cfg['n']:.3g}$ (d = {d})", flow, gd))
        data |= traj_data(f"flow_lam{lam}", flow) | traj_data(f"gd_lam{lam}", gd)
        summary[f"λ = {lam}"] = (
            f"test acc 0.99 at t = {fmt(crossing_time(flow, 'test_accuracy', 0.99))} (flow), "
            f"{fmt(crossing_time(gd, 'test_accuracy', 0.99))} (GD); final test acc "
            f"{flow.test_accuracy[-1]:.3f}")
    lams = np.asarray(cfg["bif_d"]) / cfg["bif_n"]
    bif = bifurcation(cfg["bif_n"], lams, cfg["bif_draws"], SIGMA, seed=0)
    fine = np.linspace(0.05, 0.499, 80)
    one_dim = (fine, np.array([TwoPointModel(v, 1.0).w_star for v in fine]))
    title = (f"Fig. 1: gradient flow (lines) and GD (markers), $n = {cfg['n']}$, "
             f"$\\sigma = {SIGMA:g}$ (left); {cfg['bif_draws']} draws of "
             f"$n = {cfg['bif_n']}$ per λ (right)")
    for field in ("lam", "p_sep", "norm_median", "norm_q1", "norm_q3", "margin_mean",
                  "margin_std", "accuracy", "accuracy_large_n", "gardner", "cgmt"):
        data[f"bif_{field}"] = getattr(bif, field)
    caption = (
        f"Fig. 1. Left: train (dashed, open) and test (solid, filled) loss and accuracy, and "
        f"‖w‖, b, for λ = {', '.join(str(v) for v in LAMBDAS)} (d = "
        f"{', '.join(str(int(round(v * cfg['n']))) for v in LAMBDAS)}), n = {cfg['n']}, "
        f"σ = {SIGMA:g}, one data draw (seed {cfg['seed']}); gradient flow to t = "
        f"{cfg['t_flow']:.0e} and GD with η = {cfg['lr']} for {cfg['steps']:.0e} steps "
        f"(t = kη). The paper's n, λ set and η are not stated (docs/mathematics.md §14: σ = 5 "
        f"reconstructed). Right: {cfg['bif_draws']} draws per λ at n = {cfg['bif_n']} "
        f"(App. K3's d grid{' subsampled' if quick else ''}; App. K3 averages 100 draws, "
        "which takes over 10 minutes here): σ‖w*‖ of the inseparable draws "
        "(median, quartiles) with the CGMT large-n curve and the two-point model; the "
        "margin γ_z of the separable draws with Gardner's curve; the limiting test accuracy "
        f"(1 below 1/2, Φ(1/σ²γ_z) above). The paper's top-right panel uses n = 2400 and "
        "15000 draws (App. K1).")
    summary["P_sep"] = ", ".join(f"{v:.2f}" for v in bif.p_sep)
    return PaperFigure("fig1", caption, summary, data, cfg,
                       plot=dict(runs=runs, bif=bif, curves=_large_n_curves(bif),
                                 one_dim=one_dim, title=title))


# --------------------------------------------------------------------------- Fig. 2


def fig2(quick: bool) -> PaperFigure:
    """Fig. 2: in conformal time the weights follow the bias-free path."""
    n, seed, t_max = (40, 2, 1e4) if quick else (200, 10, 1e8)
    d = int(round(0.48 * n))
    problem = gaussian_problem(n, d, SIGMA, seed=seed, loss="exponential")
    biased = integrate(problem, t_max, clock="conformal", rtol=1e-10, max_steps=20_000)
    taus = np.asarray(biased.clock_t)
    free = Problem(np.asarray(problem.x), loss="exponential", sigma=SIGMA, fit_bias=False)
    bias_free = integrate(free, float(taus[-1]), saveat=taus, rtol=1e-10, max_steps=20_000)
    err = float(np.max(np.abs(np.asarray(biased.w) - np.asarray(bias_free.w))))
    title = f"Fig. 2: exponential loss, $n = {n}$, $d = {d}$, $\\sigma = {SIGMA:g}$"
    caption = (
        f"Fig. 2. Exponential loss (paper Eqs. 7-8), n = {n}, d = {d} (λ = {d / n:.3g}), "
        f"σ = {SIGMA:g}, data seed {seed}. (a) b and ‖w‖ against t with log t; (b) the first "
        "four coordinates of w against conformal time τ (dτ = e^{-b}dt, conformal clock, "
        "lines) and of the flow without bias against its own time (markers, log clock): "
        f"the same path, max |Δw| = {err:.1e} at rtol 1e-10; (c) τ(t). Only the middle "
        "panel is described in the paper's text; the others are our choice.")
    data = traj_data("biased", biased) | traj_data("bias_free", bias_free)
    data["biased_tau"] = taus
    return PaperFigure("fig2", caption,
                       {"max |w(τ) - w_bias-free(τ)|": f"{err:.2e}",
                        "τ at t_max": f"{taus[-1]:.4g}"},
                       data, dict(n=n, d=d, sigma=SIGMA, seed=seed, t_max=t_max),
                       plot=dict(biased=biased, bias_free=bias_free, title=title))


# --------------------------------------------------------------------------- Fig. 14


def fig14(quick: bool) -> PaperFigure:
    """Fig. 14: the exponential loss from t = 0 also groks."""
    n, seed, lr, steps, t_flow = (40, 2, 0.025, 4_000, 1e4) if quick else \
        (200, 10, 0.025, 2_000_000, 1e8)
    runs, data, summary = [], {}, {}
    for lam in LAMBDAS:
        d = int(round(lam * n))
        problem = gaussian_problem(n, d, SIGMA, seed=seed, loss="exponential")
        flow = integrate(problem, t_flow, max_steps=20_000)
        gd = descend(problem, lr, steps, record=40 if quick else 60, throw=False)
        runs.append((f"$\\lambda = {d / n:.3g}$ (d = {d})", flow, gd))
        data |= traj_data(f"flow_lam{lam}", flow) | traj_data(f"gd_lam{lam}", gd)
        finite = np.where(np.isfinite(flow.test_loss), flow.test_loss, np.nan)
        summary[f"λ = {lam}"] = (
            f"test acc 0.99 at t = {fmt(crossing_time(flow, 'test_accuracy', 0.99))} (flow), "
            f"peak test loss {np.nanmax(finite):.3g}")
    title = (f"Fig. 14: exponential loss, gradient flow (lines) and GD $\\eta = {lr}$ "
             f"(markers), $n = {n}$, $\\sigma = {SIGMA:g}$")
    caption = (
        f"Fig. 14. The exponential loss e^(-m) from t = 0, the data of Fig. 1 (n = {n}, "
        f"σ = {SIGMA:g}, seed {seed}, λ = {', '.join(str(v) for v in LAMBDAS)}): gradient flow to "
        f"t = {t_flow:.0e} and GD with η = {lr} for {steps:.0e} steps (the exponential loss has "
        "no global descent bound; at w = b = 0 GD is stable only for η < 2/λ_max ≈ 0.028). "
        "Test losses above 1e30 are not drawn. The paper's parameters are not stated.")
    return PaperFigure("fig14", caption, summary, data,
                       dict(n=n, seed=seed, lr=lr, steps=steps, t_flow=t_flow, sigma=SIGMA),
                       plot=dict(runs=runs, title=title))


# --------------------------------------------------------------------------- Fig. 15


def fig15(quick: bool) -> PaperFigure:
    """Fig. 15: isotropic, power-law covariance and Gaussian-mixture inputs."""
    lam, alpha = 0.48, 1.0
    n, t_max = (40, 1e8) if quick else (200, 1e12)
    d = int(round(lam * n))
    makers = {
        "isotropic": lambda s: gaussian_problem(n, d, SIGMA, seed=s),
        f"power law $k^{{-{alpha:g}}}$": lambda s: powerlaw_problem(n, d, SIGMA, alpha=alpha,
                                                                     seed=s),
        "mixture $\\pm\\nu$, $\\|\\nu\\| = \\sigma$": lambda s: mixture_problem(n, d, SIGMA,
                                                                                seed=s),
    }
    runs, data, summary, seeds, facts = [], {}, {}, {}, []
    names = ["isotropic", "power law", "mixture"]
    for k, (label, make) in enumerate(makers.items()):
        seed = first_inseparable_seed(make, start=10)
        seeds[k] = seed
        flow = integrate(make(seed), t_max, max_steps=20_000)
        runs.append((f"{label} (seed {seed})", flow))
        data |= traj_data(f"dist{k}", flow)
        t_fit = flow.first_time("train_accuracy", 1.0)
        t_099 = crossing_time(flow, "test_accuracy", 0.99)
        tl = np.asarray(flow.test_loss)
        summary[names[k]] = (
            f"seed {seed}: train acc 1 at t = {fmt(t_fit)}, test acc 0.99 at t = "
            f"{fmt(t_099)}, final {flow.test_accuracy[-1]:.4f}; test loss peak {tl.max():.3g}")
        bump = (f"the test loss rises from log 2 to {tl.max():.2f} first" if tl.max() > tl[0]
                else "the test loss decreases monotonically")
        facts.append(f"{names[k]}: train accuracy 1 at t = {fmt(t_fit)}, test accuracy 0.99 "
                     f"at t = {fmt(t_099)}; {bump}")
    title = (f"Fig. 15: three input distributions, $n = {n}$, $d = {d}$, "
             f"$\\sigma = {SIGMA:g}$")
    caption = (
        f"Fig. 15. Gradient flow (logistic loss) for three input laws at λ = {d / n:.3g} (n = "
        f"{n}, d = {d}), all labels +1, RMS scale σ = {SIGMA:g}: isotropic N(0, σ²I); "
        f"N(0, Σ) with eigenvalues ∝ k^-{alpha:g} normalized to mean σ² (α = {alpha:g}); "
        "½N(ν, σ²I) + ½N(-ν, σ²I) with ‖ν‖ = σ. The paper's λ, "
        "α and ν are lost (docs/mathematics.md §13); "
        "each law uses its first inseparable draw from seed 10 on (test metrics from the "
        f"closed forms of docs/mathematics.md §13). {'; '.join(facts)}.")
    return PaperFigure("fig15", caption, summary, data,
                       dict(n=n, d=d, sigma=SIGMA, alpha=alpha, nu_norm=SIGMA, seeds=seeds,
                            t_max=t_max),
                       plot=dict(runs=runs, title=title))


# --------------------------------------------------------------------------- Fig. 16


def fig16(quick: bool) -> PaperFigure:
    """Fig. 16: threshold labels, r = 1, 0.99 and 0.95."""
    lam = 0.48
    n, seed, t_max = (40, 2, 1e8) if quick else (200, 10, 1e12)
    d = int(round(lam * n))
    runs, data, summary, facts = [], {}, {}, []
    for r in (1.0, 0.99, 0.95):
        problem = threshold_problem(n, d, SIGMA, r=r, seed=seed)
        flow = integrate(problem, t_max, max_steps=20_000)
        runs.append((f"$r = {r:g}$", flow, None))
        data |= traj_data(f"r{r}", flow)
        tl = np.asarray(flow.test_loss)
        acc = np.asarray(flow.test_accuracy)
        t_fit = flow.first_time("train_accuracy", 1.0)
        # "generalized": 99% of the way from the initial to the best test accuracy
        t_gen = crossing_time(flow, "test_accuracy", acc[0] + 0.99 * (acc.max() - acc[0]))
        early = max(2, int(np.searchsorted(np.asarray(flow.t), 1e2)))  # the early bump
        peak = int(np.argmax(tl[:early]))
        facts.append(f"r = {r:g}: train accuracy 1 at t = {fmt(t_fit)}, test accuracy within "
                     f"1% of its limit {acc.max():.3f} at t = {fmt(t_gen)}; test loss from "
                     f"log 2 up to {tl[peak]:.2f}, down to {tl[peak:].min():.3g}, "
                     f"{tl[-1]:.3g} at the end")
        summary[f"r = {r}"] = (
            f"{int(np.sum(np.asarray(problem.y) < 0))} labels -1; max test acc "
            f"{np.max(flow.test_accuracy):.4f}, final {flow.test_accuracy[-1]:.4f}; test loss "
            f"peak {tl.max():.3g} at t = {float(np.asarray(flow.t)[np.argmax(tl)]):.3g}, final "
            f"{tl[-1]:.3g}")
    title = (f"Fig. 16: threshold labels, $n = {n}$, $d = {d}$, $\\sigma = {SIGMA:g}$ "
             "(gradient flow)")
    caption = (
        f"Fig. 16. Threshold labels (App. I): label +1 iff x₁ > σΦ⁻¹(1 - r), for r = 1, 0.99, "
        f"0.95 on the same inputs (n = {n}, d = {d}, λ = {d / n:.3g}, σ = {SIGMA:g}, seed {seed}; "
        f"the paper: λ = 0.48, rest as Fig. 1). Gradient flow, logistic loss, to t = "
        f"{t_max:.0e}. Test accuracy from docs/mathematics.md §13 "
        "(the paper's Eq. 52, Φ₂ by Genz's "
        "method), test loss by quadrature. For r < 1 the labelled data are separable with the "
        f"bias and the limiting accuracy is below 1. {'; '.join(facts)}.")
    return PaperFigure("fig16", caption, summary, data,
                       dict(n=n, d=d, sigma=SIGMA, seed=seed, t_max=t_max, r=[1.0, 0.99, 0.95]),
                       plot=dict(runs=runs, title=title))
