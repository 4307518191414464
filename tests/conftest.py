import os

# Persistent compilation cache shared between test runs (and processes).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.expanduser("~/.cache/gradflow-tests-jax"))

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    # Reference computations in numpy/scipy: one BLAS thread (2-core machine, see README).
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(1):
        yield
