"""matplotlib is an optional dependency (`pip install "gradflow[plot]"`): the core of
gradflow (problems, solves, ensembles, analysis, sweeps) does not need it. Every drawing
function is decorated with `needs_matplotlib`, which says how to install it when it is
missing, before anything is drawn."""

import functools

INSTALL = 'pip install "gradflow[plot]"'


def require_matplotlib() -> None:
    """Raise an `ImportError` that says how to install matplotlib if it is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise ImportError(
            f"gradflow's plotting needs matplotlib, which is not installed: {INSTALL}"
        ) from err


def needs_matplotlib(fn):
    """Decorate a drawing function: `require_matplotlib` first, then the function."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        require_matplotlib()
        return fn(*args, **kwargs)

    return wrapper
