"""The grokking ratio of the two-point model (paper Fig. 9; docs/mathematics.md §10).

Left: at $1 - 2\\lambda = 10^{-3}$, the first times $t_{train}(\\epsilon)$,
$t_{gen}(\\epsilon)$ at which the training and test losses fall to $\\epsilon$, measured
by `gradflow.grokking_time` (events on the flow, one solve for all $\\epsilon$): parallel
lines on log-log axes, i.e. $t_{gen}/t_{train}$ does not depend on $\\epsilon$.

Right: $\\sqrt{\\log(t_{gen}/t_{train})}$ against $\\log(1 - 2\\lambda)$, measured at the
$\\epsilon$ chosen by `grokking_prediction` (relative accuracy $10^{-6}$), beside §10's
closed form $\\frac{\\log^2(1-2\\lambda)}{8(1-\\lambda)^2} +
\\frac{(1-2\\lambda)\\log(1-2\\lambda)}{2(1-\\lambda)} - \\log(1-\\lambda)$, whose square root
approaches $-\\log(1-2\\lambda)/\\sqrt2$ (slope $1/\\sqrt2$ in magnitude). The ratio does
not depend on $\\sigma$ (docs/mathematics.md §12), so each $\\lambda$ uses
$\\sigma = \\max(10, 2/\\sqrt{1-2\\lambda})$: the relaxation rate $\\sigma^2(1-2\\lambda)$ per
unit $\\log t$ is then at least 4, and small $\\epsilon$ are not needed.

Full size: 16 values of $1 - 2\\lambda \\in [10^{-8}, 0.5]$, 25 values of $\\epsilon$
(about 15 s). `--quick`: 4 and 2.

Run: `python examples/fig9_grokking_ratio.py --out figures/`.
"""

import argparse
import time
from pathlib import Path

import numpy as np

import gradflow as gf
from gradflow.plotting import grokking_ratio_figure

SIGMA_LEFT = 20.0
GAP_LEFT = 1e-3


def _sizes(quick: bool) -> dict:
    if quick:
        return dict(gaps=np.geomspace(1e-6, 0.5, 4), eps=np.array([1e-10, 1e-30]))
    return dict(gaps=np.geomspace(1e-8, 0.5, 16), eps=np.geomspace(1e-2, 1e-60, 25))


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

    left_model = gf.TwoPointModel((1.0 - GAP_LEFT) / 2.0, SIGMA_LEFT)
    left = gf.grokking_time(left_model, cfg["eps"], accuracy=None)

    gaps = cfg["gaps"]
    measured = np.empty(gaps.size)
    limit = np.empty(gaps.size)
    delta_tau = np.empty((gaps.size, 2))
    sigmas = np.maximum(10.0, 2.0 / np.sqrt(gaps))
    for j, (gap, sigma) in enumerate(zip(gaps, sigmas, strict=True)):
        model = gf.TwoPointModel((1.0 - gap) / 2.0, sigma)
        pred = gf.grokking_prediction(model, accuracy=1e-6)
        res = gf.grokking_time(model, log_eps=pred.log_eps, accuracy=None, t_max=np.inf)
        measured[j] = float(res.log_ratio)
        limit[j] = model.log_ratio_limit
        delta_tau[j] = float(res.delta_tau), model.delta_tau_limit
    # slope of sqrt(log ratio) against log(1 - 2 lambda) over the smallest gaps
    small = gaps <= 1e-3
    slope = float(np.polyfit(np.log(gaps[small]), np.sqrt(measured[small]), 1)[0]) \
        if small.sum() >= 2 else float("nan")

    fig = grokking_ratio_figure(cfg["eps"], left.t_train, left.t_gen, gaps, measured, limit,
                                sigma=SIGMA_LEFT)
    paths = save(fig, args.out, "fig9_grokking_ratio")

    spread = float(np.ptp(left.log_ratio[cfg["eps"] <= 1e-10]))  # eps-independence
    print(f"fig9_grokking_ratio: left, 1 - 2 lambda = {GAP_LEFT:g}, sigma = {SIGMA_LEFT:g}: "
          f"log(t_gen/t_train) = {left.log_ratio[-1]:.6f} at eps = {cfg['eps'][-1]:.0e} "
          f"(§10: {left_model.log_ratio_limit:.6f}); spread over eps <= 1e-10: {spread:.1e}")
    print(f"{'1-2lam':>9} {'sigma':>8} {'log ratio':>12} {'§10':>12} {'diff':>9} "
          f"{'dtau':>10} {'§10 dtau':>10}")
    for j, gap in enumerate(gaps):
        print(f"{gap:>9.2e} {sigmas[j]:>8.1f} {measured[j]:>12.6f} {limit[j]:>12.6f} "
              f"{measured[j] - limit[j]:>9.1e} {delta_tau[j, 0]:>10.4f} {delta_tau[j, 1]:>10.4f}")
    print(f"slope of sqrt(log ratio) vs log(1 - 2 lambda) for 1 - 2 lambda <= 1e-3: {slope:.4f} "
          f"(-1/sqrt 2 = {-1 / np.sqrt(2):.4f})")
    print(f"wrote {', '.join(str(p) for p in paths)} in {time.perf_counter() - start:.1f} s")
    return dict(gaps=gaps, log_ratio=measured, log_ratio_limit=limit, delta_tau=delta_tau,
                slope=slope, left=left, paths=paths)


if __name__ == "__main__":
    main()
