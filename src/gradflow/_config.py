"""Process-wide JAX settings gradflow relies on.

- float64 everywhere (`jax_enable_x64`).
- JAX's persistent compilation cache in a user cache folder, so a second process does not
  pay the compile of a diffrax solve again. The folder is `$GRADFLOW_CACHE_DIR`, else
  `$XDG_CACHE_HOME/gradflow/jax`, else `~/.cache/gradflow/jax`. Opt out with
  `GRADFLOW_NO_COMPILATION_CACHE=1`; a cache folder the user already configured for JAX
  (`JAX_COMPILATION_CACHE_DIR` or `jax.config`) is left alone.
"""

import os
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
