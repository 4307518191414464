"""The figures of the paper's App. F, computed: Fig. 11 (Adam against GD on both sides
of λ = 1/2, App. F.2), `figF1` (the variance scale σ, App. F.1) and `figF3` (initial
conditions, App. F.3). The paper states none of their parameters: every choice made here
is said in the caption. Each returns a `PaperFigure` (`gradflow figure NAME`)."""

from __future__ import annotations

import numpy as np

from .._descend import descend
from .._generators import gaussian_problem
from .._integrate import integrate
from ._curves import crossing_time, step_axis
from ._paper_figures import SIGMA, PaperFigure, first_inseparable_seed, fmt, traj_data

LAM_IN, LAM_SEP = 0.48, 0.55  # just below and above λ = 1/2
T_SEP = 1e30  # separable side: the accuracy approaches its limit like 1/log t


def _final(traj, name):
    return float(np.asarray(getattr(traj, name))[-1])


def _sizes(quick: bool) -> dict:
    return dict(n=40, seed=0) if quick else dict(n=200, seed=10)


# --------------------------------------------------------------------------- Fig. 11


def fig11(quick: bool) -> PaperFigure:
    """Fig. 11: Adam against GD, on both sides of λ = 1/2 (App. F.2)."""
    import optax

    n = _sizes(quick)["n"]
    steps = 10_000 if quick else 300_000
    gd_lr, adam_lr = 0.1, 1e-2
    rows, data, summary, facts = [], {}, {}, []
    params = dict(n=n, sigma=SIGMA, steps=steps, gd_lr=gd_lr, adam_lr=adam_lr,
                  adam_betas=[0.9, 0.999], lambdas=[LAM_IN, LAM_SEP])
    for lam in (LAM_IN, LAM_SEP):
        d = int(round(lam * n))
        make = lambda s, d=d: gaussian_problem(n, d, SIGMA, seed=s)  # noqa: E731
        seed = first_inseparable_seed(make, _sizes(quick)["seed"]) if lam < 0.5 else \
            _sizes(quick)["seed"]
        problem = make(seed)
        gd = descend(problem, gd_lr, steps, record=60)
        adam = descend(problem, optax.adam(adam_lr), steps, record=60, lr=adam_lr)
        key = f"lam{lam}"
        params[f"seed_{key}"] = seed
        data |= traj_data(f"gd_{key}", gd) | traj_data(f"adam_{key}", adam)
        label = f"$\\lambda = {d / n:.3g}$ ($d = {d}$)"
        rows.append((label, [(f"GD ($\\eta = {gd_lr:g}$)", gd, True),
                             (f"Adam ($\\eta = {adam_lr:g}$)", adam, False)]))
        for name, traj in (("GD", gd), ("Adam", adam)):
            k_fit = _first(traj, "train_accuracy", _final(traj, "train_accuracy"))
            summary[f"λ = {lam}, {name}"] = (
                f"train acc {_final(traj, 'train_accuracy'):.3f} from step {fmt(k_fit)}; "
                f"test acc 0.99 at step {fmt(_first(traj, 'test_accuracy', 0.99))}; final "
                f"test acc {_final(traj, 'test_accuracy'):.4f}, ‖w‖ "
                f"{float(np.linalg.norm(np.asarray(traj.w)[-1])):.3g}")
            facts.append(f"λ = {lam} {name}: final test accuracy "
                         f"{_final(traj, 'test_accuracy'):.3f}")
    caption = (
        f"Fig. 11 (App. F.2). GD (η = {gd_lr:g}, markers) and Adam (lr {adam_lr:g}, β = "
        f"(0.9, 0.999), lines) for {steps:.0e} steps on Gaussian data, n = {n}, σ = "
        f"{SIGMA:g}, logistic loss with bias, from w = 0, b = 0; top λ = {LAM_IN} (an "
        f"inseparable draw, seed {params[f'seed_lam{LAM_IN}']}), bottom λ = {LAM_SEP} (seed "
        f"{params[f'seed_lam{LAM_SEP}']}), against the step count. The paper states none "
        f"of these parameters. {'; '.join(facts)}.")
    return PaperFigure("fig11", caption, summary, data, params,
                       plot=dict(rows=rows, title=f"Fig. 11: Adam and GD, $n = {n}$, "
                                                  f"$\\sigma = {SIGMA:g}$"))


def _first(traj, quantity, level) -> float:
    k, v = step_axis(traj), np.asarray(getattr(traj, quantity))
    hit = np.flatnonzero(v >= level)
    return float(k[hit[0]]) if hit.size else float("nan")


# --------------------------------------------------------------------------- App. F.1


def figF1(quick: bool) -> PaperFigure:
    """App. F.1: the variance scale σ: grokking on the inseparable side as σ grows; the
    separable side's limiting accuracy $\\Phi(1/(\\sigma^2\\gamma_z))$."""
    from ._draws import classify
    from ._large_n import limiting_accuracy, separable_accuracy
    from ._separability import points

    cfg = _sizes(quick)
    n, t_max = cfg["n"], (1e8 if quick else 1e12)
    sigmas = (1.0, 3.0, 10.0) if quick else (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
    d_in, d_sep = int(round(LAM_IN * n)), int(round(LAM_SEP * n))
    seed = first_inseparable_seed(lambda s: gaussian_problem(n, d_in, 1.0, seed=s), cfg["seed"])
    runs, data, summary = [], {}, {}
    t_fit, t_gen = [], []
    for sigma in sigmas:
        flow = integrate(gaussian_problem(n, d_in, sigma, seed=seed), t_max, max_steps=20_000)
        data |= traj_data(f"in_sigma{sigma:g}", flow)
        runs.append((f"$\\sigma = {sigma:g}$", flow))
        t_fit.append(crossing_time(flow, "train_accuracy", _final(flow, "train_accuracy")))
        t_gen.append(crossing_time(flow, "test_accuracy", 0.99))
        summary[f"λ = {LAM_IN}, σ = {sigma:g}"] = (
            f"train acc at its final {_final(flow, 'train_accuracy'):.3f} from t = "
            f"{fmt(t_fit[-1])}, test acc 0.99 at t = {fmt(t_gen[-1])}")
    seed_sep = cfg["seed"]
    sep_problem = lambda s: gaussian_problem(n, d_sep, s, seed=seed_sep)  # noqa: E731
    separable, gamma, _ = classify(np.asarray(points(sep_problem(1.0))))
    acc_flow = []
    for sigma in sigmas:
        flow = integrate(sep_problem(sigma), T_SEP, max_steps=20_000)
        data |= traj_data(f"sep_sigma{sigma:g}", flow)
        acc_flow.append(_final(flow, "test_accuracy"))
    fine = np.geomspace(min(sigmas) / 1.5, max(sigmas) * 1.5, 80)
    acc_draw = separable_accuracy(gamma, np.asarray(sigmas)) if separable else np.full(
        len(sigmas), np.nan)
    data |= dict(sigmas=np.asarray(sigmas), t_fit=np.asarray(t_fit), t_gen=np.asarray(t_gen),
                 sep_margin=np.asarray(gamma), sep_acc_flow=np.asarray(acc_flow),
                 sep_acc_formula=np.asarray(acc_draw),
                 sep_acc_large_n=np.array([limiting_accuracy(LAM_SEP, s) for s in sigmas]))
    summary[f"λ = {LAM_SEP}"] = (
        f"γ_z = {gamma:.4g}; test acc at t = {T_SEP:.0e} / Φ(1/σ²γ_z): " + ", ".join(
            f"σ = {s:g}: {a:.3f}/{b:.3f}" for s, a, b in zip(sigmas, acc_flow, acc_draw,
                                                              strict=True)))
    caption = (
        "Fig. F1 (App. F.1; the paper has no figure for it, this one is ours). Left and "
        f"middle: gradient flow on one inseparable draw (n = {n}, d = {d_in}, λ = "
        f"{d_in / n:.3g}, seed {seed}) "
        f"scaled by σ = {', '.join(f'{s:g}' for s in sigmas)}, to t = {t_max:.0e}: train "
        "(dashed) and test (solid) accuracy, and ‖w‖; the gap between fitting and "
        "generalizing (grokking) opens as σ grows, while the limit w̃* = σw* is the same "
        f"for every σ. Right: the separable side, one draw (n = {n}, d = {d_sep}, λ = "
        f"{d_sep / n:.3g}, seed {seed_sep}, margin γ_z = {gamma:.4g}): the test accuracy "
        f"of the flow at t = {T_SEP:.0e} (markers; it approaches its limit like 1/log t, "
        "from below) against Φ(1/(σ²γ_z)) (Eq. 44, line) and the large-n limiting accuracy "
        "(dashed): it falls as σ grows. σ values and sizes are our choice.")
    return PaperFigure(
        "figF1", caption, summary, data,
        dict(n=n, d_in=d_in, d_sep=d_sep, sigmas=list(sigmas), seed_in=seed,
             seed_sep=seed_sep, t_max=t_max, t_max_sep=T_SEP),
        plot=dict(runs=runs, sep=dict(sigmas=np.asarray(sigmas), flow=np.asarray(acc_flow),
                                      formula=(fine, separable_accuracy(gamma, fine)),
                                      large_n=(fine, np.array([limiting_accuracy(LAM_SEP, s)
                                                               for s in fine]))),
                  title=f"App. F.1: the variance scale σ, $n = {n}$"))


# --------------------------------------------------------------------------- App. F.3


def figF3(quick: bool) -> PaperFigure:
    """App. F.3: initial conditions: the same limit from every start, reached at
    different times."""
    cfg = _sizes(quick)
    n, t_max = cfg["n"], (1e8 if quick else 1e12)
    d = int(round(LAM_IN * n))
    make = lambda s: gaussian_problem(n, d, SIGMA, seed=s)  # noqa: E731
    seed = first_inseparable_seed(make, cfg["seed"])
    problem = make(seed)
    direction = np.random.default_rng([seed, d, 1]).standard_normal(d)
    direction /= np.linalg.norm(direction)
    starts = [("$w_0 = 0$, $b_0 = 0$", 0.0, 0.0), ("$\\|w_0\\| = 0.1$", 0.1, 0.0),
              ("$\\|w_0\\| = 1$", 1.0, 0.0), ("$b_0 = 3$", 0.0, 3.0),
              ("$b_0 = -3$", 0.0, -3.0)]
    runs, data, summary, finals = [], {}, {}, []
    for label, scale, b0 in starts:
        flow = integrate(problem, t_max, y0=(scale * direction, b0), max_steps=20_000)
        key = f"w{scale:g}_b{b0:g}"
        data |= traj_data(key, flow)
        runs.append((label, flow))
        finals.append(np.asarray(flow.w)[-1])
        summary[label.replace("$", "").replace("\\", "")] = (
            f"test acc 0.99 at t = {fmt(crossing_time(flow, 'test_accuracy', 0.99))}, min "
            f"test acc {float(np.min(flow.test_accuracy)):.3f}, final "
            f"{_final(flow, 'test_accuracy'):.4f}")
    spread = float(max(np.linalg.norm(w - finals[0]) for w in finals)
                   / np.linalg.norm(finals[0]))
    data["final_w_spread"] = np.asarray(spread)
    summary["max ‖w(T) - w_0=0(T)‖/‖w_0=0(T)‖"] = f"{spread:.2e}"
    caption = (
        "Fig. F3 (App. F.3; the paper gives no text or parameters, this figure is ours). "
        f"Gradient flow on one inseparable draw (n = {n}, d = {d}, λ = {d / n:.3g}, "
        f"σ = {SIGMA:g}, seed {seed}) "
        f"to t = {t_max:.0e} from five starts: w₀ = 0, b₀ = 0 (as everywhere else); w₀ of "
        "norm 0.1 and 1 along one random direction; b₀ = ±3 with w₀ = 0. Train (dashed) "
        "and test (solid) accuracy and ‖w‖: every start reaches the same minimizer w* "
        f"(largest relative spread of w(T): {spread:.1e}), since log L̃ is strictly convex "
        "for inseparable points; the start changes how early the test accuracy is high "
        "(b₀ = 3 starts at test accuracy 1) and when grokking completes.")
    return PaperFigure("figF3", caption, summary, data,
                       dict(n=n, d=d, sigma=SIGMA, seed=seed, t_max=t_max,
                            starts=[[s, b] for _, s, b in starts]),
                       plot=dict(runs=runs, title=f"App. F.3: initial conditions, $n = {n}$, "
                                                  f"$d = {d}$, $\\sigma = {SIGMA:g}$"))
