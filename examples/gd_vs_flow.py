"""Gradient descent converges to gradient flow at first order in the learning rate.

GD with $\\eta \\in \\{1, 0.3, 0.1, 0.03, 0.01\\}$ (`gradflow.descend`, $t = k\\eta$) against
the flow solved at `rtol=1e-11` (`gradflow.integrate`, log clock) at the same times.
Left: the error $\\|\\theta_{GD} - \\theta_{flow}\\|$ (and the test-loss error) at the
fixed time $t = 30$ against $\\eta$ on log-log axes, with the fitted slopes (docs/mathematics.md §3:
the error is $O(\\eta)$, slope 1). Right: the parameter error along the trajectory.

All five learning rates share the record times $t = 3j$ ($t = k\\eta$ with integer $k$
for every $\\eta$), so no interpolation enters the comparison.

Full size (default): $n = 400$, $\\lambda = 0.3$ ($d = 120$), $\\sigma = 1$ (descent
bound $8/\\lambda_{max} = 3.5$, so all five rates descend), $t \\le 300$ (30000 steps at
$\\eta = 0.01$). About 15 s, mostly compilation. `--quick`: $n = 40$, $t \\le 30$.

Run: `python examples/gd_vs_flow.py --out figures/`.
"""

import argparse
import time
from pathlib import Path

import numpy as np

import gradflow as gf
from gradflow.plotting import convergence_figure

LRS = (1.0, 0.3, 0.1, 0.03, 0.01)
T_FIXED = 30.0
SIGMA = 1.0
LAM = 0.3


def _sizes(quick: bool) -> dict:
    if quick:
        return dict(n=40, t_max=30.0, num_times=8)
    return dict(n=400, t_max=300.0, num_times=30)


def fitted_slope(lrs, errors) -> float:
    """Least-squares slope of log(error) against log(lr)."""
    return float(np.polyfit(np.log(lrs), np.log(errors), 1)[0])


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

    problem = gf.gaussian_problem(cfg["n"], int(round(LAM * cfg["n"])), SIGMA, seed=0)
    # Multiples of 3 are whole numbers of steps for every rate in LRS (3 = 300 * 0.01).
    multiples = np.rint(np.geomspace(1, cfg["t_max"] / 3, cfg["num_times"]))
    times = np.concatenate([[0.0], 3.0 * np.union1d(multiples, [T_FIXED / 3])])
    flow = gf.integrate(problem, times[-1], saveat=times, rtol=1e-11)

    comparisons, errors = {}, {"params": [], "test_loss": [], "test_accuracy": []}
    for lr in LRS:
        steps = np.rint(times / lr).astype(np.int64)
        gd = gf.descend(problem, lr, int(steps[-1]), record=steps)
        comp = gf.compare(flow, gd)
        comparisons[lr] = comp
        at = comp.at(T_FIXED)
        for name in errors:
            errors[name].append(at[name])
    errors = {k: np.asarray(v) for k, v in errors.items()}
    lrs = np.asarray(LRS)
    small = lrs <= 0.3
    slopes = {name: fitted_slope(lrs, errors[name]) for name in ("params", "test_loss")}
    slopes_small = {name: fitted_slope(lrs[small], errors[name][small])
                    for name in ("params", "test_loss")}

    fig = convergence_figure(
        lrs, {k: errors[k] for k in ("params", "test_loss")}, slopes, t_fixed=T_FIXED,
        comparisons=comparisons,
    )
    fig.suptitle(f"GD vs gradient flow: $n = {cfg['n']}$, $\\lambda = {LAM}$, "
                 f"$\\sigma = {SIGMA:g}$ (bound $8/\\lambda_{{max}}$ = "
                 f"{gf.descent_bound(problem):.3g})")
    paths = save(fig, args.out, "gd_vs_flow")

    print(f"gd_vs_flow: n={cfg['n']}, d={problem.d}, sigma={SIGMA}, error at t={T_FIXED:g}")
    print(f"{'lr':>6} {'|dtheta|':>11} {'|d test loss|':>14} {'|d test acc|':>13}")
    for i, lr in enumerate(LRS):
        print(f"{lr:>6g} {errors['params'][i]:>11.4g} {errors['test_loss'][i]:>14.4g} "
              f"{errors['test_accuracy'][i]:>13.4g}")
    print("fitted log-log slope, all rates: "
          + ", ".join(f"{k} {v:.4f}" for k, v in slopes.items()))
    print("fitted log-log slope, lr <= 0.3: "
          + ", ".join(f"{k} {v:.4f}" for k, v in slopes_small.items()))
    print(f"wrote {', '.join(str(p) for p in paths)} in {time.perf_counter() - start:.1f} s")
    return dict(errors=errors, slopes=slopes, slopes_small=slopes_small, paths=paths)


if __name__ == "__main__":
    main()
