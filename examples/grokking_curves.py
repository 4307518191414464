"""Grokking curves: the paper's Fig. 1, left columns (gradient flow and GD on one axis).

Train/test loss and accuracy, and $\\|w\\|$, $b$, against $t$ for three values of
$\\lambda = d/n$: well below, just below and above the critical $\\lambda_c = 1/2$.
Gradient flow (`gradflow.integrate`, log clock) is drawn as lines and finite-step GD
(`gradflow.descend`, $t = k\\eta$) as markers on the same axes. Only just below $1/2$
does the model grok: the training set is fitted early ($t \\approx 7$), the test loss
rises and falls again, and the test accuracy reaches 0.99 thousands of times later.
Well below $1/2$ the test accuracy follows the training accuracy (at $\\sigma = 5$ a
small bump of the test loss remains). Above $1/2$ the data are separable and the test
accuracy stalls below 1 while the test loss grows.

Full size (default): $n = 200$, $\\sigma = 5$ (docs/mathematics.md §14: σ=5, η=0.01 are the
reconstructed values of Fig. 1; n is lost), $\\lambda \\in \\{0.3, 0.48, 0.55\\}$
($d = 60, 96, 110$), data seed 10 for all three (inseparable, inseparable, separable).
Just below 1/2 the grokking time varies over orders of magnitude between draws (for
seeds 0–29 at $\\lambda = 0.48$ the flow reaches test accuracy 0.99 between $t = 220$
and $7\\times10^8$, median about $2\\times10^5$); seed 10 is on the fast side
($2.3\\times10^4$) so that GD gets there within its run. GD uses $\\eta = 0.1$ (below
the descent bounds 0.112–0.137) for $10^6$ steps ($t = 10^5$); the flow goes to
$t = 10^8$. About 50 s on 2 idle cores.
`--quick`: $n = 40$, 2000 GD steps, flow to $t = 10^4$ (a smoke test).

Run: `python examples/grokking_curves.py --out figures/`.
"""

import argparse
import time
from pathlib import Path

import numpy as np

import gradflow as gf
from gradflow.plotting import grokking_figure

SIGMA = 5.0
LAMBDAS = (0.3, 0.48, 0.55)
LOSS = "logistic"
NAME = "grokking_curves"
TITLE = "Gradient flow (lines) and "


def _sizes(quick: bool) -> dict:
    if quick:
        return dict(n=40, seed=2, lr=0.1, steps=2_000, t_flow=1e4, records=40)
    return dict(n=200, seed=10, lr=0.1, steps=1_000_000, t_flow=1e8, records=60)


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
