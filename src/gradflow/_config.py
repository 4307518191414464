"""Process-wide JAX settings gradflow relies on.

- float64 everywhere (`jax_enable_x64`).
- JAX's persistent compilation cache in a user cache folder, so a second process does not
  pay the compile of a diffrax solve again. The folder is `$GRADFLOW_CACHE_DIR`, else
  `$XDG_CACHE_HOME/gradflow/jax`, else `~/.cache/gradflow/jax`. Opt out with
  `GRADFLOW_NO_COMPILATION_CACHE=1`; a cache folder the user already configured for JAX
  (`JAX_COMPILATION_CACHE_DIR` or `jax.config`) is left alone.
- JAX refuses to cache a compiled function that contains host callbacks, and equinox's
  runtime checks (`eqx.error_if`, inside diffrax and optimistix) are host callbacks in
  equinox's default `EQX_ON_ERROR=raise` mode. So that the cache works, gradflow sets
  `EQX_ON_ERROR=nan` when nobody has set it and equinox is not imported yet: a failed
  internal check then gives NaN instead of an exception, which gradflow's entry points
  (all solving with `throw=False`, then checking finiteness) report as a status. Measured
  (`benchmarks/bench_ensemble.py`): one solve's compile 2.1 s in a first process, 0.7 s
  in a second. Setting `EQX_ON_ERROR` yourself, or `GRADFLOW_NO_COMPILATION_CACHE=1`,
  keeps equinox's behaviour.
- On a CPU, JAX shows one device however many cores there are, and one device runs one
  member at a time (diffrax's solves are chains of small matrix–vector products).
  `use_cpu_devices` (called by `gradflow sweep`, which owns its process) asks JAX for one
  CPU device per core, so that `gradflow.ensemble` shards members over the cores:
  measured 2.0× on this 2-core machine (`benchmarks/bench_ensemble.py`). It must run
  before JAX executes anything; a library import never calls it.
"""

import os
import sys
from pathlib import Path

import jax


def cache_dir() -> Path:
    """The folder gradflow uses for JAX's persistent compilation cache."""
    if "GRADFLOW_CACHE_DIR" in os.environ:
        return Path(os.environ["GRADFLOW_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gradflow" / "jax"


def configure() -> None:
    """Apply the settings above (idempotent)."""
    jax.config.update("jax_enable_x64", True)
    if os.environ.get("GRADFLOW_NO_COMPILATION_CACHE", "0") not in ("", "0"):
        return
    if "EQX_ON_ERROR" not in os.environ and "equinox" not in sys.modules:
        os.environ["EQX_ON_ERROR"] = "nan"
    if jax.config.jax_compilation_cache_dir:
        return
    try:
        path = cache_dir()
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only home: run without the cache
        return
    jax.config.update("jax_compilation_cache_dir", str(path))
    # diffrax solves take seconds to compile; tiny jits are not worth a disk write.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def use_cpu_devices(count: int | None = None) -> bool:
    """Ask JAX for `count` CPU devices (default: one per core).

    Takes effect only before JAX has executed anything in this process (JAX fixes its
    devices then) and only if `XLA_FLAGS` does not already force a host device count.

    **Returns:** whether JAX now has `count` CPU devices.

    **Raises:** `ValueError` for a `count` that is not a positive integer.
    """
    if count is None:
        count = cpu_count()
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        raise ValueError(f"`count` must be a positive integer; got {count!r}.")
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return False
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:  # JAX already initialized its backends: applied only if equal
        return len(jax.devices("cpu")) == count
    return True
