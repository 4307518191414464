"""The two-point model: extended-SVM geometry and grokking time (paper Fig. 3).

Top row (paper Fig. 3, left): the extended SVM in the plane $(w, b)$ for the two points
$x = (\\sigma, \\sigma(2\\lambda - 1))$ (our flipped convention; the paper's $x_2 > 0$, $= 0$,
$< 0$ is $\\lambda < \\frac12$, $= \\frac12$, $> \\frac12$). The solution is the pure bias
$(0, 1)$, i.e. generalizing, iff the segment between the points contains the origin.

Bottom row (paper Fig. 3, right): the first time the test accuracy $\\Phi(b/\\sigma|w|)$
reaches 0.95, from `gradflow.grokking_time` (an event on the flow), against $\\sigma$ and
$1 - 2\\lambda$. Grokking (a long delay) needs both $\\lambda \\to \\frac12$ and a large
$\\sigma$: for small $\\sigma$ the accuracy is above 0.95 from the start, since
$b/\\sigma|w| \\to 1/(\\sigma^2\\lambda)$ as $t \\to 0$. The summary also checks the closed
forms (docs/mathematics.md §11) against `integrate` and prints the Lotka–Volterra eigenvalues
(docs/mathematics.md §9) that cross at $\\lambda = \\frac12$.

Full size: a 14 × 14 grid, $\\sigma \\in [0.5, 30]$, $1 - 2\\lambda \\in [10^{-5}, 0.8]$
(about 20 s). `--quick`: 5 × 5.

Run: `python examples/two_point_model.py --out figures/`.
"""

import argparse
import time
from pathlib import Path

import numpy as np

import gradflow as gf
from gradflow.plotting import two_point_figure

LEVEL = 0.95


def _sizes(quick: bool) -> dict:
    k = 5 if quick else 14
    return dict(sigmas=np.geomspace(0.5, 30.0, k), gaps=np.geomspace(1e-5, 0.8, k))


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

    sigmas, gaps = cfg["sigmas"], cfg["gaps"]
    log10_t = np.full((sigmas.size, gaps.size), np.nan)
    for i, sigma in enumerate(sigmas):
        for j, gap in enumerate(gaps):
            model = gf.TwoPointModel((1.0 - gap) / 2.0, sigma)
            res = gf.grokking_time(model, accuracy=LEVEL, throw=False)
            if res.reached_accuracy:
                log10_t[i, j] = res.log_t_accuracy / np.log(10.0) if res.t_accuracy > 0 \
                    else np.nan
    # Closed forms against integrate, and the exchange of stability.
    checks = {}
    for lam in (0.0, 0.3, 0.5, 0.75, 1.0):
        model = gf.TwoPointModel(lam, 1.5)
        tau = np.geomspace(0.1, 20.0, 8)
        sol = model.conformal(tau, y0=(0.3, 0.5))
        traj = gf.integrate(model.problem, float(sol.t[-1]), y0=([0.3], 0.5), rtol=1e-12,
                            saveat=sol.t, max_steps=100_000)
        # in units of 1e-8 relative + 1e-10 absolute (w -> w* = 0 at lam = 0)
        err = np.abs(np.asarray(traj.w)[:, 0] - sol.w) / (1e-10 + 1e-8 * np.abs(sol.w))
        checks[lam] = float(np.max(err))
    exchange = {lam: gf.TwoPointModel(lam, 3.0).fixed_points() for lam in (0.45, 0.5, 0.55)}

    fig = two_point_figure([gf.TwoPointModel(lam, 1.0) for lam in (0.3, 0.5, 0.7)],
                           sigmas, gaps, log10_t, level=LEVEL)
    paths = save(fig, args.out, "two_point_model")

    print(f"two_point_model: first time test accuracy >= {LEVEL} on a "
          f"{sigmas.size}x{gaps.size} grid (sigma x (1 - 2 lambda))")
    print(f"{'sigma':>7} " + " ".join(f"{g:>8.1e}" for g in gaps))
    for i, sigma in enumerate(sigmas):
        print(f"{sigma:>7.3g} " + " ".join(f"{v:>8.2f}" for v in log10_t[i]))
    print("closed form vs integrate (log clock, rtol 1e-12), max |w - w_cf| / (1e-10 + "
          "1e-8 |w_cf|) over tau in [0.1, 20] (sigma = 1.5): "
          + ", ".join(f"lam={k}: {v:.1e}" for k, v in checks.items()))
    for lam, fp in exchange.items():
        print(f"  LV at lam={lam} (sigma=3): generalizing {fp.generalizing_eigenvalues}, "
              f"overfitting {fp.overfitting_eigenvalues}, attractor {fp.attractor}")
    print(f"wrote {', '.join(str(p) for p in paths)} in {time.perf_counter() - start:.1f} s")
    return dict(sigmas=sigmas, gaps=gaps, log10_t=log10_t, closed_form_errors=checks,
                paths=paths)


if __name__ == "__main__":
    main()
