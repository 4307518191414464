"""The `gradflow` command: a thin layer over the package (parse, call, write files).

Everything is imported inside the command that needs it, from gradflow's own modules
(never the whole package), so `gradflow --help` stays fast and a command loads only
what it uses. The figures are drawn by `gradflow._plots` and written here and in
`_cli_figures.py`; without matplotlib (`pip install "gradflow[plot]"`) the commands that
draw say so before computing anything.
"""

import argparse
import sys
import time
from pathlib import Path


def _demo(args) -> int:
    from ._analysis._separability import separability
    from ._checks import _time
    from ._files import output_dir
    from ._generators import gaussian_problem
    from ._integrate import default_saveat, integrate
    from ._plots._matplotlib import require_matplotlib
    from ._plots._summary import grokking_curves

    start = time.perf_counter()
    problem = gaussian_problem(args.n, args.d, args.sigma, seed=args.seed)
    # 600 log-spaced times from min(1e-2, t_max/100): any t_max, also below 1e-2.
    saveat = default_saveat(_time("t_max", args.t_max), 600)
    out = output_dir(args.out, "--out")  # before computing, not after
    require_matplotlib()  # likewise
    sep = separability(problem)
    traj = integrate(problem, args.t_max, saveat=saveat, max_steps=20_000, throw=False)
    t_train = traj.first_time("train_accuracy", 1.0)
    t_test = traj.first_time("test_accuracy", 0.99)
    fig = grokking_curves(
        traj,
        title=f"n={problem.n}, d={problem.d} (λ={problem.lam:.3f}), σ={args.sigma:g}, "
        f"seed={args.seed}",
    )
    for ext in ("png", "pdf"):
        fig.savefig(out / f"demo.{ext}", dpi=150)
    ratio = t_test / t_train
    print(f"gradflow demo: n = {problem.n}, d = {problem.d}, λ = d/n = {problem.lam:.4f}, "
          f"σ = {args.sigma:g}, seed = {args.seed}")
    print(f"  separable from the origin: {sep.separable} (LP value {sep.lp_value + 0.0:.3g})")
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


def _sweep(args) -> int:
    from ._config import cpu_count, use_cpu_devices
    from ._sweep import parse_range, sweep

    # One JAX device per core, so that each chunk's members are sharded over the cores.
    count = None if args.devices == "all" else _count("--devices", args.devices)
    if count is not None and count > cpu_count():
        print(f"gradflow: warning: --devices {count} is more than the {cpu_count()} cores "
              "this process may run on; the extra CPU devices share those cores and only "
              "add overhead (default: one per core)", file=sys.stderr)
    if not use_cpu_devices(count) and count is not None:
        print("gradflow: note: JAX's devices were already fixed in this process; "
              "--devices is ignored", file=sys.stderr)

    _, computed = sweep(
        args.n, parse_range(args.lambdas), args.realizations, parse_range(args.sigma),
        t_max=args.t_max, out=args.out, loss=args.loss, seed=args.seed, rtol=args.rtol,
        num_saves=args.num_saves, chunk_size=args.chunk_size, resume=args.resume,
        progress=not args.no_progress,
    )
    return 0


def _count(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"`{name}` must be 'all' or a positive integer; got {text!r}.")
    return value


def _plot(args) -> int:
    from ._files import output_dir
    from ._plots._matplotlib import require_matplotlib
    from ._plots._summary import sweep_summary
    from ._sweep import load_sweep

    ds = load_sweep(args.results)  # a bad file: one ValueError line, no traceback
    out = output_dir(args.out or Path(args.results).with_suffix(""), "--out")
    require_matplotlib()
    for j in range(ds.sizes["sigma"]):
        fig = sweep_summary(ds, sigma_index=j)
        for ext in ("png", "pdf"):
            path = out / f"sweep_sigma{j}.{ext}"
            fig.savefig(path, dpi=150)
            print(path)
    return 0


def _figure(args) -> int:
    from ._cli_figures import figure_command

    return figure_command(args.name, args.out, quick=args.quick, list_only=args.list,
                          draws=args.draws, n=args.n)


def main(argv=None) -> int:
    """Entry point of the `gradflow` console script; returns the exit status."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="gradflow", description=__doc__)
    parser.add_argument("--version", action="version", version=f"gradflow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="integrate a small grokking problem and plot it")
    demo.add_argument("--out", default="gradflow-demo", help="output folder")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--n", type=int, default=200, help="samples")
    demo.add_argument("--d", type=int, default=95, help="dimension (λ = d/n)")
    demo.add_argument("--sigma", type=float, default=5.0, help="data scale σ")
    demo.add_argument("--t-max", type=float, default=1e12, help="final time")
    demo.set_defaults(func=_demo)

    sw = sub.add_parser("sweep", help="integrate many random datasets over λ and σ")
    sw.add_argument("--n", type=int, required=True, help="samples per dataset")
    sw.add_argument("--lambdas", required=True, help="start:stop:step or a,b,c")
    sw.add_argument("--realizations", type=int, required=True)
    sw.add_argument("--sigma", default="1", help="one value, a,b,c or start:stop:step")
    sw.add_argument("--t-max", type=float, default=1e12)
    sw.add_argument("--loss", default="logistic", choices=["logistic", "exponential"])
    sw.add_argument("--seed", type=int, default=0)
    sw.add_argument("--rtol", type=float, default=1e-8,
                    help="relative tolerance, in [1e-14, 1e-2] (default 1e-8)")
    sw.add_argument("--num-saves", type=int, default=100)
    sw.add_argument("--chunk-size", type=int, default=None,
                    help="members per compiled call and per write (default: 8 per device, "
                         "at least 16)")
    sw.add_argument("--out", required=True, help="netCDF file to write")
    sw.add_argument("--resume", action="store_true", help="continue an existing file")
    sw.add_argument("--devices", default="all",
                    help="CPU devices to shard members over: all (one per core, default) or N "
                         "(more than the cores: a warning)")
    sw.add_argument("--no-progress", action="store_true")
    sw.set_defaults(func=_sweep)

    pl = sub.add_parser("plot", help="standard figures of a sweep file")
    pl.add_argument("results", help="a file written by `gradflow sweep`")
    pl.add_argument("--out", default=None, help="folder (default: next to the file)")
    pl.set_defaults(func=_plot)

    fg = sub.add_parser("figure", help="reproduce a figure of the paper (see --list)")
    fg.add_argument("name", nargs="?", help="figure name, e.g. fig1, or `all`")
    fg.add_argument("--list", action="store_true", help="list the figures and exit")
    fg.add_argument("--out", default="figures", help="output folder (default: figures)")
    fg.add_argument("--quick", action="store_true", help="small smoke-test size")
    fg.add_argument("--draws", type=int, default=None,
                    help="fig1 only: right-top panel at the paper's configuration (App. K1) "
                         "with this many draws per λ (the paper: 15000); resumable")
    fg.add_argument("--n", type=int, default=None,
                    help="fig1 --draws only: samples per draw (default 2400, App. K1)")
    fg.set_defaults(func=_figure)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError, ImportError) as err:
        # bad input, a file that is missing/unwritable, or matplotlib not installed
        print(f"gradflow: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
