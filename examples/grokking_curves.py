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

from gradflow._plots._descend import grokking_example

SIGMA = 5.0
LAMBDAS = (0.3, 0.48, 0.55)


def _sizes(quick: bool) -> dict:
    if quick:
        return dict(n=40, seed=2, lr=0.1, steps=2_000, t_flow=1e4, records=40)
    return dict(n=200, seed=10, lr=0.1, steps=1_000_000, t_flow=1e8, records=60)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="output directory (default: .)")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    args = parser.parse_args(argv)
    cfg = _sizes(args.quick)
    return grokking_example(
        "grokking_curves", cfg, sigma=SIGMA, lambdas=LAMBDAS, loss="logistic", out=args.out,
        title=(f"Gradient flow (lines) and GD, $\\eta = {cfg['lr']}$ (markers); "
               f"$n = {cfg['n']}$, $\\sigma = {SIGMA:g}$"),
    )


if __name__ == "__main__":
    main()
