"""The cost of `import gradflow` against importing its four big dependencies alone.

Each import runs in a fresh interpreter (nothing cached in `sys.modules`; the OS file
cache is warm after the first round, which is discarded). The two statements alternate,
so that a busy machine slows both alike; the script prints each median and their ratio.
The target (issue #14) is a ratio of at most 1.25: gradflow's own modules should add
little to jax, diffrax, equinox and optax, which it cannot do without. scipy, xarray,
matplotlib and the analysis modules are loaded on first use, not by `import gradflow`
(tests/test_import.py checks which modules an import loads, without timing).

Run: `python benchmarks/bench_import.py [--repeat 9] [--importtime]`
(`PYTHONPATH=src` in a checkout; point `PYTHONPATH` at another tree to compare.)
"""

import argparse
import statistics
import subprocess
import sys

DEPS = "import jax, diffrax, equinox, optax"
GRADFLOW = "import gradflow"
TARGET = 1.25

TIMER = ("import time; t = time.perf_counter(); {stmt}; "
         "print(time.perf_counter() - t)")


def timed(stmt: str) -> float:
    """Seconds that `stmt` takes in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", TIMER.format(stmt=stmt)], check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def importtime(top: int = 15) -> list[tuple[int, str]]:
    """The `top` slowest modules (cumulative microseconds) of `import gradflow` after
    its dependencies, from `python -X importtime`."""
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", f"{DEPS}; {GRADFLOW}"],
                         check=True, capture_output=True, text=True)
    rows = []
    seen_deps = False
    for line in res.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        if not cumulative.isdigit():
            continue
        seen_deps = seen_deps or name == "optax"
        if seen_deps and name.strip() != "optax":
            rows.append((int(cumulative), name))
    return sorted(rows, reverse=True)[:top]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="timed rounds (default 9)")
    parser.add_argument("--importtime", action="store_true",
                        help="also list what gradflow adds, module by module")
    args = parser.parse_args(argv)
    timed(DEPS), timed(GRADFLOW)  # warm the file cache; not counted
    deps, gradflow = [], []
    for _ in range(args.repeat):
        deps.append(timed(DEPS))
        gradflow.append(timed(GRADFLOW))
    d, g = statistics.median(deps), statistics.median(gradflow)
    ratio = g / d
    print(f"{DEPS:40s} median {d:.3f} s  (min {min(deps):.3f}, max {max(deps):.3f})")
    print(f"{GRADFLOW:40s} median {g:.3f} s  (min {min(gradflow):.3f}, "
          f"max {max(gradflow):.3f})")
    print(f"ratio {ratio:.3f} over {args.repeat} rounds (target <= {TARGET}): "
          f"{'met' if ratio <= TARGET else 'NOT met'}")
    if args.importtime:
        print("gradflow's modules after its dependencies (-X importtime, cumulative):")
        for micros, name in importtime():
            print(f"  {micros / 1e3:8.1f} ms  {name}")
    return dict(deps=d, gradflow=g, ratio=ratio)


if __name__ == "__main__":
    main()
