"""The `gradflow` command: a thin layer over the public API (parse, call, write files)."""

import argparse
import sys
import time
from pathlib import Path


def _demo(args) -> int:
    import numpy as np

    import gradflow as gf
    from gradflow import plotting

    start = time.perf_counter()
    problem = gf.gaussian_problem(args.n, args.d, args.sigma, seed=args.seed)
    sep = gf.separability(problem)
    saveat = np.concatenate([[0.0], np.geomspace(1e-2, args.t_max, 600)])
    traj = gf.integrate(problem, args.t_max, saveat=saveat, max_steps=20_000, throw=False)
    t_train = traj.first_time("train_accuracy", 1.0)
    t_test = traj.first_time("test_accuracy", 0.99)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig = plotting.grokking_curves(
        traj,
        title=f"n={problem.n}, d={problem.d} (λ={problem.lam:.3f}), σ={args.sigma:g}, "
        f"seed={args.seed}",
    )
    for ext in ("png", "pdf"):
        fig.savefig(out / f"demo.{ext}", dpi=150)
    ratio = t_test / t_train
    print(f"gradflow demo: n = {problem.n}, d = {problem.d}, λ = d/n = {problem.lam:.4f}, "
          f"σ = {args.sigma:g}, seed = {args.seed}")
    print(f"  separable from the origin: {sep.separable} (LP value {sep.lp_value:.3g})")
    print(f"  integrated to t = {float(traj.t[-1]):.3g} with {traj.stats['solver']} in "
          f"{traj.stats['clock']} time: {traj.stats['num_accepted_steps']} steps"
          + ("" if traj.successful else f" — {traj.message}"))
    print(f"  train accuracy reaches 1    at t ≈ {t_train:.4g}")
    print(f"  test accuracy reaches 0.99  at t ≈ {t_test:.4g}  ({ratio:.3g}× later)")
    print(f"  final: train loss {traj.train_loss[-1]:.3g}, test loss {traj.test_loss[-1]:.3g}, "
          f"test accuracy {traj.test_accuracy[-1]:.6f}")
    print(f"  figures: {out / 'demo.png'}, {out / 'demo.pdf'}  "
          f"({time.perf_counter() - start:.1f} s)")
    return 0 if traj.successful else 1


def main(argv=None) -> int:
    """Entry point of the `gradflow` console script; returns the exit status."""
    parser = argparse.ArgumentParser(prog="gradflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="integrate a small grokking problem and plot it")
    demo.add_argument("--out", default="gradflow-demo", help="output folder")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--n", type=int, default=200, help="samples")
    demo.add_argument("--d", type=int, default=95, help="dimension (λ = d/n)")
    demo.add_argument("--sigma", type=float, default=5.0, help="data scale σ")
    demo.add_argument("--t-max", type=float, default=1e12, help="final time")
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:
        print(f"gradflow: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
