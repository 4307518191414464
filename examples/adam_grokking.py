"""Adam groks from chance level; GD does not (paper App. B and F.2, Figs. 5 and 11).

On an almost separable problem ($\\lambda = 0.495$, just below $1/2$) Adam's
per-coordinate step sizes grow $\\|w\\|$ about $\\sqrt d$ times faster than the bias, so
$b/\\sigma\\|w\\|$ stays near 0 and the test accuracy $\\Phi(b/\\sigma\\|w\\|)$ stays near
chance (1/2) while the training set is memorized; only later does $b$ take over and the
test accuracy rise to 1. Plain GD moves $b$ and $w$ together and generalizes from the
first steps. Both runs use `gradflow.descend` and are plotted against the step count.

Full size (default): $n = 400$, $d = 198$ ($\\lambda = 0.495$), $\\sigma = 1$, data seed 0
(inseparable), Adam with $\\beta_1 = 0.8$, $\\beta_2 = 0.9$ (paper Fig. 5; its lr is lost,
here $10^{-2}$) and GD with $\\eta = 1$ (descent bound 2.8), $3\\times10^4$ steps each.
The paper uses $N = 4000$; $n = 400$ keeps it at about 20 s on 2 cores.
`--quick`: $n = 40$, 2000 steps.

Run: `python examples/adam_grokking.py --out figures/`.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import optax

import gradflow as gf
from gradflow.plotting import optimizer_figure

SIGMA = 1.0
LAM = 0.495
ADAM = dict(b1=0.8, b2=0.9)


def _sizes(quick: bool) -> dict:
    if quick:
        return dict(n=40, seed=0, adam_lr=1e-2, gd_lr=1.0, steps=2_000)
    return dict(n=400, seed=0, adam_lr=1e-2, gd_lr=1.0, steps=30_000)


def _first_step(traj, quantity, level) -> float:
    k, v = gf.step_axis(traj), np.asarray(getattr(traj, quantity))
    hit = np.flatnonzero(v >= level)
    return float(k[hit[0]]) if hit.size else float("nan")


def _summary(traj) -> dict:
    k = gf.step_axis(traj)
    acc = np.asarray(traj.test_accuracy)
    k_fit = _first_step(traj, "train_accuracy", 1.0)
    before = (k > 0) & (k <= k_fit) if np.isfinite(k_fit) else k > 0
    return dict(
        k_train_acc_1=k_fit,
        test_acc_at_fit=float(acc[np.flatnonzero(k == k_fit)[0]]) if np.isfinite(k_fit)
        else float("nan"),
        max_test_acc_before_fit=float(acc[before].max()) if before.any() else float("nan"),
        k_test_acc_09=gf.crossing_time(traj, "test_accuracy", 0.9, steps=True),
        k_test_acc_099=gf.crossing_time(traj, "test_accuracy", 0.99, steps=True),
        final_test_accuracy=float(acc[-1]),
    )


def save(fig, out, name: str) -> list[Path]:
    """Write `fig` as `out/name.png` and `out/name.pdf`."""
    Path(out).mkdir(parents=True, exist_ok=True)
    paths = [Path(out) / f"{name}.{ext}" for ext in ("png", "pdf")]
    for path in paths:
        fig.savefig(path, dpi=130)
    return paths


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="output directory (default: .)")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    args = parser.parse_args(argv)
    cfg = _sizes(args.quick)
    start = time.perf_counter()

    d = int(round(LAM * cfg["n"]))
    problem = gf.gaussian_problem(cfg["n"], d, SIGMA, seed=cfg["seed"])
    # lr= sets the time unit, so that t / lr is the step count for both runs.
    adam = gf.descend(problem, optax.adam(cfg["adam_lr"], **ADAM), cfg["steps"],
                      lr=cfg["adam_lr"])
    gd = gf.descend(problem, cfg["gd_lr"], cfg["steps"], record=50)
    runs = {"Adam": adam, "GD": gd}
    summary = {name: _summary(traj) for name, traj in runs.items()}

    fig = optimizer_figure(
        [(f"Adam ($\\eta = {cfg['adam_lr']:g}$, $\\beta = (0.8, 0.9)$)", adam, False),
         (f"GD ($\\eta = {cfg['gd_lr']:g}$)", gd, True)],
        title=f"$n = {cfg['n']}$, $d = {d}$ ($\\lambda = {d / cfg['n']:.3g}$), "
              f"$\\sigma = {SIGMA:g}$",
    )
    paths = save(fig, args.out, "adam_grokking")

    print(f"adam_grokking: n={cfg['n']}, d={d}, sigma={SIGMA}, {cfg['steps']} steps")
    print(f"{'run':>5} {'k(train acc=1)':>15} {'test acc then':>14} {'max before':>11} "
          f"{'k(test>=.9)':>12} {'k(test>=.99)':>13} {'final':>7}")
    for name, s in summary.items():
        print(f"{name:>5} {s['k_train_acc_1']:>15.4g} {s['test_acc_at_fit']:>14.4f} "
              f"{s['max_test_acc_before_fit']:>11.4f} {s['k_test_acc_09']:>12.4g} "
              f"{s['k_test_acc_099']:>13.4g} {s['final_test_accuracy']:>7.4f}")
    print(f"wrote {', '.join(str(p) for p in paths)} in {time.perf_counter() - start:.1f} s")
    return dict(summary=summary, paths=paths)


if __name__ == "__main__":
    main()
