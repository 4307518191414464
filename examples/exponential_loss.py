"""Grokking with the exponential loss from the start (paper App. F.4, Fig. 14).

The paper's analysis replaces the cross-entropy by the exponential loss
$\\ell(m) = e^{-m}$, which it approaches at late times. Trained with the exponential
loss from $t = 0$, the model groks in the same way: for $\\lambda$ just below $1/2$ the
test accuracy rises long after the training set is fitted, and the test loss
$e^{-b + \\sigma^2\\|w\\|^2/2}$ first grows (35-fold at $\\lambda = 0.48$), then decays like
$1/t$. Gradient flow as lines, GD as markers, as in `grokking_curves.py`.

Full size (default): the data of `grokking_curves.py` ($n = 200$, $\\sigma = 5$,
$\\lambda \\in \\{0.3, 0.48, 0.55\\}$, seed 10), GD with $\\eta = 0.025$ for
$2\\times10^6$ steps ($t = 5\\times10^4$); flow to $t = 10^8$. The exponential loss has
no global descent bound; at $w = 0$, $b = 0$ its Hessian is $\\frac1n\\sum_i\\hat x_i\\hat
x_i^T$, so GD is stable there only for $\\eta < 2/\\lambda_{max} \\approx 0.028$ (0.05
diverges within 7–11 steps), hence the smaller step and longer run than for the logistic loss.
About 40 s on 2 idle cores. `--quick`: $n = 40$, 4000 steps, flow to $t = 10^4$.

Run: `python examples/exponential_loss.py --out figures/`.
"""

import argparse
import time
from pathlib import Path

import numpy as np

import gradflow as gf
from gradflow.plotting import grokking_figure

SIGMA = 5.0
LAMBDAS = (0.3, 0.48, 0.55)
LOSS = "exponential"
NAME = "exponential_loss"
TITLE = "Exponential loss: gradient flow (lines) and "


def _sizes(quick: bool) -> dict:
    if quick:
        return dict(n=40, seed=2, lr=0.025, steps=4_000, t_flow=1e4, records=40)
    return dict(n=200, seed=10, lr=0.025, steps=2_000_000, t_flow=1e8, records=60)


def _summary(traj) -> dict:
    tl = np.asarray(traj.test_loss)
    return dict(
        t_train_acc_1=traj.first_time("train_accuracy", 1.0),
        t_test_acc_099=gf.crossing_time(traj, "test_accuracy", 0.99),
        test_loss_peak=float(tl.max()),
        t_test_loss_peak=float(np.asarray(traj.t)[np.argmax(tl)]),
        final_test_accuracy=float(traj.test_accuracy[-1]),
        t_end=float(traj.t[-1]),
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

    # For each lambda: gradient flow and GD on one Gaussian draw.
    runs, summary = [], {}
    for lam in LAMBDAS:
        d = int(round(lam * cfg["n"]))
        problem = gf.gaussian_problem(cfg["n"], d, SIGMA, seed=cfg["seed"], loss=LOSS)
        flow = gf.integrate(problem, cfg["t_flow"])
        gd = gf.descend(problem, cfg["lr"], cfg["steps"], record=cfg["records"])
        runs.append((f"$\\lambda = {lam}$ (d = {d})", flow, gd))
        summary[lam] = dict(flow=_summary(flow), gd=_summary(gd))
    title = (TITLE
             + f"GD, $\\eta = {cfg['lr']}$ (markers); $n = {cfg['n']}$, $\\sigma = {SIGMA:g}$")
    paths = save(grokking_figure(runs, title=title), args.out, NAME)

    print(f"{NAME}: n={cfg['n']}, sigma={SIGMA}, GD lr={cfg['lr']}, "
          f"{cfg['steps']} steps; flow to t={cfg['t_flow']:g}")
    print(f"{'lambda':>7} {'run':>4} {'t(train acc=1)':>15} {'t(test acc>=.99)':>17} "
          f"{'test loss peak (t)':>22} {'final test acc':>15}")
    for lam, s in summary.items():
        for kind in ("flow", "gd"):
            r = s[kind]
            print(f"{lam:>7} {kind:>4} {r['t_train_acc_1']:>15.4g} {r['t_test_acc_099']:>17.4g} "
                  f"{r['test_loss_peak']:>11.4g} ({r['t_test_loss_peak']:.3g}) "
                  f"{r['final_test_accuracy']:>15.4f}")
    print(f"wrote {', '.join(str(p) for p in paths)} in {time.perf_counter() - start:.1f} s")
    return dict(summary=summary, paths=paths)


if __name__ == "__main__":
    main()
