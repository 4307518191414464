"""Paper-size draws: Newton on log L̃ for Gaussian draws at n = 2400 (App. K1), forming
the Hessian (Cholesky, 2nd² flops a step) against matrix-free Newton–CG (4nd flops per
Hessian-vector product), on every device kind JAX finds, and the projected time of the
paper's full Fig. 1 right-top: 15 000 draws at each of the 17 dimensions d = 930 … 1191.

Each configuration runs the driver's compiled kernel (`gradflow._analysis._draws.
_fixed_points`, slow mode off, as `gradflow figure fig1 --draws N` runs it) on `--draws`
draws after one warm-up call (compilation excluded); d = 1100 (inseparable, Newton
converges) and d = 1191 (near 1/2: about a third of the draws separable, certified by
a separating Newton iterate). Draws are zero-padded to width 1191 as in the sweep. The
projection uses the mean time per draw of the two dimensions and leaves out the QP for
draws that Newton leaves undecided (none in these runs) and the host's drawing of the
points. `--batch-size` vectorizes groups of draws (vmap); by default, as in the driver,
draws run one after another on a CPU and all in one vmap on an accelerator. The timed
call is the second of two on the same shape (compilation excluded). BLAS threads are
pinned (threadpoolctl) for the host-side drawing.

Measured once on an NVIDIA H200 (`--draws 64 --platforms gpu`, jax 0.11.2): Cholesky
320 draws/s at d = 1100 and 104 at d = 1191 (mean Newton steps 7.7 and 11.1), CG 52 and
0.95 (21 steps; a vmapped batch waits for its slowest draw): 0.4 h projected for the full
figure with Cholesky, 38 h with CG. On this 2-core CPU (quiet): CG 1.6 and 0.09 draws/s,
Cholesky 0.7 and 0.3.

Run: `python benchmarks/bench_draws.py [--draws 4] [--batch-size 8] [--methods cg,cholesky]
[--platforms cpu,gpu]`
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from threadpoolctl import threadpool_limits

from gradflow._analysis._draws import _fixed_points, draw_points
from gradflow._analysis._paper_size import K1_D, K1_DRAWS, K1_N
from gradflow._ltilde import DEFAULT_GTOL, DEFAULT_MAX_STEPS

WIDTH = max(K1_D)


def batch(d, draws, seed=0):
    zb = np.zeros((draws, K1_N, WIDTH))
    for k in range(draws):
        zb[k, :, :d] = draw_points(K1_N, d, k, seed)
    pad = np.r_[np.zeros(d), np.ones(WIDTH - d)]
    return zb, pad


def run(device, method, d, draws, batch_size):
    zb, pad = batch(d, draws)
    if batch_size is None and device.platform != "cpu":
        batch_size = draws
    with jax.default_device(device):
        z, p = jax.device_put(jnp.asarray(zb), device), jax.device_put(jnp.asarray(pad), device)
        args = (p, DEFAULT_GTOL, DEFAULT_MAX_STEPS, method, False, batch_size, None)
        out = _fixed_points(z, *args)  # compile and warm up on the same shape
        jax.block_until_ready(out)
        start = time.perf_counter()
        out = _fixed_points(z, *args)
        jax.block_until_ready(out)
        elapsed = time.perf_counter() - start
    codes = np.asarray(out["code"])
    return elapsed / draws, np.asarray(out["steps"]).mean(), codes


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--methods", default="cg,cholesky")
    ap.add_argument("--dims", default="1100,1191")
    ap.add_argument("--platforms", default=None,
                    help="comma-separated platforms to run (default: every one found)")
    args = ap.parse_args()
    kinds = {}
    for dev in jax.devices():
        kinds.setdefault(dev.platform, dev)
    if "cpu" not in kinds:
        try:
            kinds["cpu"] = jax.devices("cpu")[0]
        except RuntimeError:
            pass
    if args.platforms is not None:
        kinds = {k: v for k, v in kinds.items() if k in args.platforms.split(",")}
    total = K1_DRAWS * len(K1_D)
    dims = [int(v) for v in args.dims.split(",")]
    print(f"n = {K1_N}, padded width {WIDTH}, {args.draws} draws per configuration; "
          f"full Fig. 1 right-top = {K1_DRAWS} x {len(K1_D)} = {total} draws")
    with threadpool_limits(1):
        for kind, dev in kinds.items():
            for method in args.methods.split(","):
                per = []
                for d in dims:
                    t, steps, codes = run(dev, method, d, args.draws, args.batch_size)
                    per.append(t)
                    print(f"{kind:5s} ({dev.device_kind}) {method:8s} d = {d}: "
                          f"{1 / t:7.3f} draws/s ({t:.3f} s/draw), mean Newton steps "
                          f"{steps:.1f}, codes {np.bincount(codes, minlength=1).tolist()}")
                mean = float(np.mean(per))
                print(f"{kind:5s} {method:8s} projected full Fig. 1 right-top: "
                      f"{total * mean / 3600:.1f} h on one such device "
                      f"({1 / mean:.3f} draws/s)")


if __name__ == "__main__":
    main()
