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

from gradflow._plots._descend import grokking_example

SIGMA = 5.0
LAMBDAS = (0.3, 0.48, 0.55)


def _sizes(quick: bool) -> dict:
    if quick:
        return dict(n=40, seed=2, lr=0.025, steps=4_000, t_flow=1e4, records=40)
    return dict(n=200, seed=10, lr=0.025, steps=2_000_000, t_flow=1e8, records=60)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="output directory (default: .)")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    args = parser.parse_args(argv)
    cfg = _sizes(args.quick)
    return grokking_example(
        "exponential_loss", cfg, sigma=SIGMA, lambdas=LAMBDAS, loss="exponential", out=args.out,
        title=(f"Exponential loss: gradient flow (lines) and GD, $\\eta = {cfg['lr']}$ "
               f"(markers); $n = {cfg['n']}$, $\\sigma = {SIGMA:g}$"),
    )


if __name__ == "__main__":
    main()
