import os

# Tests use their own compilation-cache folder (gradflow enables JAX's persistent cache).
os.environ.setdefault(
    "GRADFLOW_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "gradflow-tests")
)

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    # Reference computations in numpy/scipy: one BLAS thread (2-core machine, see README).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield
