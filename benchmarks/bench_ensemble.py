"""Ensembles: gradflow.ensemble against a Python loop of scipy solve_ivp, side by side.

Realizations of Gaussian data at n = 400, d = 190 (λ = 0.475), σ = 3, logistic loss,
to t = 1e12. gradflow: `ensemble` (log clock, Tsit5, rtol 1e-8; one compiled lax.map)
on one device, sharded over `--devices` CPU devices (default: one per core; JAX's
`jax_num_cpu_devices`, the same as XLA's forced host device count), and in vmap groups;
first call (compile included, with an empty persistent compilation cache) and warm.
Peer: a Python loop of scipy `solve_ivp` DOP853 on the same equations in numpy (BLAS
pinned to one thread), in physical time and in log time, at the loosest rtol whose
error on the first realization is within the gradflow error (matched accuracy; errors
against a tight reference, Dopri8 rtol 1e-12, max(‖Δw‖∞/‖w‖∞, |Δb|) at t_max). The
scipy loop is timed on a subset and scaled to the full count. Also: vector-field
throughput (evaluations/s and GFLOP/s at 4nd flops per evaluation) against the machine's
measured matmul peak, and the compile time of a first and a second process (JAX's
persistent cache).

Run: `python benchmarks/bench_ensemble.py [--members 100] [--devices 4] [--quick]`
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

_CACHE = tempfile.TemporaryDirectory()  # "first call" means a real compile
os.environ["GRADFLOW_CACHE_DIR"] = _CACHE.name

import diffrax  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.integrate  # noqa: E402
from scipy.special import log_expit  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import gradflow as gf  # noqa: E402
from gradflow._config import cpu_count, use_cpu_devices  # noqa: E402

N, D, SIGMA, T_MAX = 400, 190, 3.0, 1e12


def scipy_solve(x, clock, rtol):
    n, d = x.shape

    def f(t, y):
        u = x @ y[:d] + y[d]
        g = np.exp(log_expit(-u)) if clock == "physical" else np.exp(-u + log_expit(t + u))
        return np.append(g @ x / n, g.mean() - (clock == "log"))

    t1 = T_MAX if clock == "physical" else np.log1p(T_MAX)
    sol = scipy.integrate.solve_ivp(f, (0.0, t1), np.zeros(d + 1), method="DOP853", rtol=rtol,
                                    atol=rtol * 1e-2)
    w, c = sol.y[:d, -1], sol.y[d, -1]
    return w, (c if clock == "physical" else c + t1), sol.nfev


def error(w, b, ref):
    return max(np.max(np.abs(w - ref.w[-1])) / np.max(np.abs(ref.w[-1])), abs(b - ref.b[-1]))


def matmul_peak():
    a = jnp.ones((2000, 2000))
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    t0 = time.perf_counter()
    for _ in range(5):
        f(a).block_until_ready()
    return 5 * 2 * 2000**3 / (time.perf_counter() - t0) / 1e9


def compile_times():
    """First and second process time of one solve with the persistent cache in a fresh
    folder (compile included)."""
    code = ("import time; t=time.perf_counter(); import gradflow as gf; "
            "p=gf.gaussian_problem(400,190,3.0,seed=0); gf.integrate(p,1e12); "
            "print(time.perf_counter()-t)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, GRADFLOW_CACHE_DIR=cache)
        env.pop("XLA_FLAGS", None)
        out = [float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                    text=True, check=True).stdout.split()[-1])
               for _ in range(2)]
    return out


def new_process_first_calls(members: int, devices: int) -> list[float]:
    """First call of the sharded ensemble in two new processes sharing a fresh persistent
    cache: the first compiles and fills it, the second finds it (tracing and loading
    remain)."""
    code = (f"import time, jax; jax.config.update('jax_num_cpu_devices', {devices}); "
            "import gradflow as gf; "
            f"ps=[gf.gaussian_problem({N},{D},{SIGMA},seed=k) for k in range({members})]; "
            f"t=time.perf_counter(); gf.ensemble(ps,{T_MAX},saveat=[{T_MAX}]); "
            "print(time.perf_counter()-t)")
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        env["GRADFLOW_CACHE_DIR"] = cache
        return [float(subprocess.run([sys.executable, "-c", code], env=env,
                                     capture_output=True, text=True, check=True
                                     ).stdout.split()[-1]) for _ in range(2)]


def timed(problems, **kwargs):
    """(first, warm, ensemble): two calls of gf.ensemble, the first compiling."""
    t0 = time.perf_counter()
    gf.ensemble(problems, T_MAX, saveat=[T_MAX], **kwargs)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    ens = gf.ensemble(problems, T_MAX, saveat=[T_MAX], **kwargs)
    return first, time.perf_counter() - t0, ens


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--devices", type=int, default=cpu_count(),
                        help="CPU devices for the sharded rows (default: one per core)")
    parser.add_argument("--scipy-subset", type=int, default=10)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if not use_cpu_devices(args.devices):
        sys.exit(f"could not set {args.devices} CPU devices")
    if args.quick:
        args.members, args.scipy_subset = 8, 2
    print(f"# {args.members} members, n={N} d={D} σ={SIGMA} t_max={T_MAX:.0e}; "
          f"{cpu_count()} cores, {jax.device_count()} JAX CPU devices; "
          f"load average {os.getloadavg()[0]:.2f}")
    problems = [gf.gaussian_problem(N, D, SIGMA, seed=k) for k in range(args.members)]

    rows = []
    first, warm, ens = timed(problems, devices=None)
    steps = ens.num_steps
    if ens.stats["solver"] == "Radau5":  # three fields a Newton iteration, one a step
        evals = sum(3 * st["num_newton_iterations"] + st["num_steps"] + 1
                    for st in (ens.member(i).stats for i in range(args.members)))
    else:  # an explicit Runge-Kutta method with six stages (Tsit5)
        evals = 6 * int(steps.sum())
    print(f"gradflow lax.map, 1 device: first {first:.2f} s (compile included), warm "
          f"{warm:.2f} s ({ens.stats['solver']}, rtol {ens.stats['rtol']:g}); "
          f"steps per member {steps.min()}–{steps.max()} (sum {steps.sum()}); "
          f"all successful: {bool(ens.successful.all())}")
    rows.append(("gradflow lax.map, 1 device", first, warm))
    if args.devices > 1:
        f1, w1, sharded = timed(problems, devices="all")
        same = np.array_equal(sharded.w, ens.w) and np.array_equal(sharded.b, ens.b)
        print(f"gradflow lax.map, {args.devices} devices: first {f1:.2f} s, warm {w1:.2f} s; "
              f"bit-identical to 1 device: {same}")
        rows.append((f"gradflow lax.map, {args.devices} devices", f1, w1))
        cold, cached = new_process_first_calls(args.members, args.devices)
        print(f"  the same, first call in a new process: {cold:.2f} s with an empty "
              f"persistent cache, {cached:.2f} s with it filled")
        rows.append((f"gradflow lax.map, {args.devices} devices, new process, cache filled",
                     cached, w1))
    for bs in ([4] if args.quick else [4, 16]):
        f1, w1, _ = timed(problems, devices=None, batch_size=bs)
        print(f"gradflow vmap groups of {bs}, 1 device: first {f1:.2f} s, warm {w1:.2f} s")
        rows.append((f"gradflow vmap×{bs}, 1 device", f1, w1))

    ref = gf.integrate(problems[0], T_MAX, saveat=[T_MAX], rtol=1e-12,
                       solver=diffrax.Dopri8(), max_steps=100_000)
    err_gf = error(ens.w[0, -1], ens.b[0, -1], ref)
    print(f"gradflow error on member 0: {err_gf:.1e}")
    peers = []
    with threadpool_limits(1):
        for clock in ["log", "physical"]:
            chosen = None
            for rtol in [1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11]:
                w, b, nfev = scipy_solve(np.asarray(problems[0].x), clock, rtol)
                err = error(w, b, ref)
                if err <= max(err_gf, 1e-12):
                    chosen = rtol
                    break
            if chosen is None:
                print(f"scipy DOP853 {clock}: no rtol matched {err_gf:.1e}")
                continue
            t0 = time.perf_counter()
            nf = 0
            for p in problems[: args.scipy_subset]:
                nf += scipy_solve(np.asarray(p.x), clock, chosen)[2]
            per = (time.perf_counter() - t0) / args.scipy_subset
            print(f"scipy DOP853 {clock} time, rtol {chosen:.0e} (error {err:.1e}): "
                  f"{per:.3f} s/member, {nf / args.scipy_subset:.0f} evals/member → "
                  f"{per * args.members:.1f} s for {args.members}")
            peers.append((f"scipy DOP853 {clock} loop", per * args.members))
    if peers:
        best = min(t for _, t in peers)
        print(f"\n| {args.members} members | first call (s) | warm (s) | fastest scipy / first "
              "| fastest scipy / warm |\n|---|---|---|---|---|")
        for name, f1, w1 in rows:
            print(f"| {name} | {f1:.2f} | {w1:.2f} | {best / f1:.2f}× | {best / w1:.2f}× |")
        for name, t in peers:
            print(f"| {name} | {t:.2f} | {t:.2f} | {best / t:.2f}× | {best / t:.2f}× |")
    peak = matmul_peak()
    gflops = evals * 4 * N * D / warm / 1e9
    print(f"\nvector field (1 device): ≈{evals} evaluations in {warm:.2f} s = "
          f"{evals / warm:.3g} evals/s, {gflops:.2f} GFLOP/s; matmul peak {peak:.1f} GFLOP/s "
          f"({100 * gflops / peak:.1f}%)")
    c1, c2 = compile_times()
    print(f"one process, one solve incl. import and compile: first {c1:.2f} s, second "
          f"(persistent cache) {c2:.2f} s")


if __name__ == "__main__":
    main()
