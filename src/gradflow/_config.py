"""JAX settings gradflow relies on, and the scope of its own compiled solves.

- float64 everywhere (`jax_enable_x64`), set at import.
- JAX's persistent compilation cache for gradflow's own compiled functions (the diffrax
  solves and the other jitted loops, each wrapped in `compiled`), so a second process
  does not pay their compile again. Measured (`benchmarks/bench_ensemble.py`): one
  solve's compile 2.1 s in a first process, 0.7 s in a second. The folder is
  `$GRADFLOW_CACHE_DIR`, else `$XDG_CACHE_HOME/gradflow/jax`, else
  `~/.cache/gradflow/jax`, created on the first compiled solve (never at import). Opt
  out with `GRADFLOW_NO_COMPILATION_CACHE=1`; a cache folder the user configured for
  JAX (`JAX_COMPILATION_CACHE_DIR` or `jax.config`) is used as it is.
- JAX refuses to cache a compiled function that contains host callbacks, and equinox's
  runtime checks (`eqx.error_if`, inside diffrax and optimistix) are host callbacks in
  equinox's default mode (`EQX_ON_ERROR=raise`, read once when equinox is imported). The
  only such checks in gradflow's solves are diffrax's checks of `saveat`, which gradflow
  makes on the host before solving. So *while gradflow traces its own functions* (in
  `compiled`, on that thread), checks in the default mode resolve as
  `on_error="nan"`: a failed check gives NaN, which gradflow's entry points (all solving
  with `throw=False`, then checking finiteness) report as a status.

  Nothing of this is global: `os.environ` is left alone (child processes inherit
  nothing), `EQX_ON_ERROR` keeps its meaning for the user's own code (a user's
  `diffeqsolve(..., throw=True)` still raises), and JAX's cache settings are restored
  when a gradflow call returns. Setting `EQX_ON_ERROR` yourself, or
  `GRADFLOW_NO_COMPILATION_CACHE=1`, keeps equinox's behaviour inside gradflow too.
  The settings are switched for the duration of a gradflow call; another thread
  compiling its own functions at that moment may share gradflow's cache folder (its
  error checks keep their mode: that part is per thread).
- On a CPU, JAX shows one device however many cores there are, and one device runs one
  member at a time (diffrax's solves are chains of small matrix–vector products).
  `use_cpu_devices` (called by `gradflow sweep`, which owns its process) asks JAX for one
  CPU device per core, so that `gradflow.ensemble` shards members over the cores:
  measured 2.0× on this 2-core machine (`benchmarks/bench_ensemble.py`). It must run
  before JAX executes anything; a library import never calls it.
"""

import contextlib
import functools
import os
import threading
from pathlib import Path

import jax

#: Compiles shorter than this are not written to the cache (tiny jits are not worth a
#: disk write; diffrax solves take seconds).
MIN_COMPILE_TIME_S = 0.5


def cache_dir() -> Path:
    """The folder gradflow uses for JAX's persistent compilation cache."""
    if "GRADFLOW_CACHE_DIR" in os.environ:
        return Path(os.environ["GRADFLOW_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gradflow" / "jax"


def configure() -> None:
    """What importing gradflow sets: float64 (idempotent). Nothing else is touched."""
    jax.config.update("jax_enable_x64", True)


def _cache_wanted() -> bool:
    return os.environ.get("GRADFLOW_NO_COMPILATION_CACHE", "0") in ("", "0")


_lock = threading.Lock()
_scope = {"depth": 0, "restore": None}
_thread = threading.local()


def _errors_module():
    """equinox's error module if it has the hook `compiled` uses, else None (then
    gradflow's solves simply run uncached in equinox's raise mode)."""
    try:
        import equinox._errors as errors
    except ImportError:  # pragma: no cover - another equinox layout
        return None
    return errors if callable(getattr(errors, "branched_error_if_impl_jit", None)) else None


def _enter():
    """Switch JAX's cache (and equinox's default error mode, on this thread) to
    gradflow's; returns what `_leave` needs to restore."""
    from jax.experimental.compilation_cache import compilation_cache as cc

    restore = {}
    if jax.config.jax_compilation_cache_dir is None:
        try:
            path = cache_dir()
            path.mkdir(parents=True, exist_ok=True)
        except OSError:  # read-only home: run without the cache
            return restore
        restore["min_time"] = jax.config.jax_persistent_cache_min_compile_time_secs
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_TIME_S)
        cc.reset_cache()  # JAX opens its cache folder once; point it at this one
    errors = _errors_module()
    if "EQX_ON_ERROR" not in os.environ and errors is not None:
        original = errors.branched_error_if_impl_jit

        def scoped(x, pred, index, msgs, *, on_error):
            # Only on a thread inside `compiled`: the user's own checks keep their mode.
            if on_error == "default" and getattr(_thread, "depth", 0):
                on_error = "nan"
            return original(x, pred, index, msgs, on_error=on_error)

        errors.branched_error_if_impl_jit = scoped
        restore["errors"] = (errors, original)
    return restore


def _leave(restore) -> None:
    from jax.experimental.compilation_cache import compilation_cache as cc

    if "errors" in restore:
        errors, original = restore["errors"]
        errors.branched_error_if_impl_jit = original
    if "min_time" in restore:
        jax.config.update("jax_compilation_cache_dir", None)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", restore["min_time"])
        cc.reset_cache()  # so that a cache folder the user sets later is the one used


@contextlib.contextmanager
def compile_scope():
    """The settings of gradflow's own compiled functions (see the module docstring),
    for the duration of the block; nested and multi-threaded use is fine."""
    if not _cache_wanted():
        yield
        return
    with _lock:
        if _scope["depth"] == 0:
            _scope["restore"] = _enter()
        _scope["depth"] += 1
    depth = getattr(_thread, "depth", 0)
    _thread.depth = depth + 1
    try:
        yield
    finally:
        _thread.depth = depth
        with _lock:
            _scope["depth"] -= 1
            if _scope["depth"] == 0:
                restore, _scope["restore"] = _scope["restore"], None
                _leave(restore)


class compiled:  # noqa: N801 - used as a decorator
    """Decorate a jitted function of gradflow: its calls (trace, compile, run) happen
    in `compile_scope`; its other attributes (`lower`, ...) are the function's."""

    def __init__(self, fn):
        self.__wrapped__ = fn
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        with compile_scope():
            return self.__wrapped__(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.__wrapped__, name)


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
