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
