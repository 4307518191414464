"""Gaussian draws over $\\lambda = d/n$: one data-drawing convention and one sweep driver.

**The convention.** Draw $k$ at dimension $d$ with $n$ samples and base seed `seed` is
`numpy.random.default_rng([seed, d, k]).standard_normal((n, d))` (`draw_points`), unit
variance; a data scale $\\sigma$ multiplies it. Every λ sweep draws this way:
`fixed_point_sweep` (and so `bifurcation` and the paper's Figs. 6–7), `slowing_down`,
and the flow `sweep` (files written before this convention was shared keep their own,
`[seed, n, d, k]`, so that resuming them stays exact).

**The driver.** `fixed_point_sweep` classifies each draw by the hard-margin QP
(`qp_margin`: separability, margin, the next margin off the support vectors) and finds
the fixed point of each inseparable one with the kernel's batched Newton
(`gradflow._ltilde.fixed_points`: zero-padded to one width, one compilation for all
$d$). Everything is stored σ-free (unit-variance points; see the mathematics page,
§12): $\\|w^*\\|$ is $\\|\\tilde w^*\\| = \\sigma\\|w^*(\\sigma z)\\|$, $h_1$ is
$h_1/\\sigma^2$, the margin is $\\gamma_z$. With `out` the results go to a checked
netCDF file of the flow sweep's format (`load_sweep` reads it), written atomically
every `write_every` seconds and at the end; `resume=True` continues it exactly.
"""

import json
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import _positive_int, _seed, _tolerance
from .._config import compiled
from .._files import FORMAT_VERSION, FileLock, _remove_stale_temporaries, _write_atomic
from .._ltilde import DEFAULT_GTOL, DEFAULT_MAX_STEPS, fixed_points
from .._results import RESULTS, result_index
from ._fixed_point import _result_of
from ._separability import qp_margin

#: The drawing key of `draw_seed` (stored in sweep files as `config["draws"]`).
DRAWS = "seed,d,k"
#: Per-draw variables of a fixed-point sweep, dimensions `("lam", "draw")`.
PER_DRAW = ("separable", "margin", "next_margin", "result", "steps", "norm", "log_ltilde",
            "h1", "frac_pos", "mean_pos", "done")


def draw_seed(seed: int, d: int, k: int) -> list[int]:
    """The numpy seed of draw `k` at dimension `d`: `[seed, d, k]`."""
    return [int(seed), int(d), int(k)]


def draw_points(n: int, d: int, k: int, seed: int = 0) -> np.ndarray:
    """Draw `k` at dimension `d`: the one drawing convention of every λ sweep.

    **Arguments:** `n`, `d` (sizes), `k` (the draw), `seed` (the base seed).

    **Returns:** `numpy.random.default_rng([seed, d, k]).standard_normal((n, d))`,
    unit-variance Gaussian points (multiply by σ for data of scale σ).
    """
    return np.random.default_rng(draw_seed(seed, d, k)).standard_normal((n, d))


def dimensions(n: int, lambdas) -> np.ndarray:
    """$d = \\mathrm{round}(\\lambda n)$ (at least 1) for each λ; `ValueError` for a bad
    `lambdas`."""
    lams = np.atleast_1d(np.asarray(lambdas, dtype=np.float64))
    if lams.ndim != 1 or lams.size == 0 or not np.all(np.isfinite(lams)) or np.any(lams <= 0):
        raise ValueError(
            f"`lambdas` must be a non-empty 1-D array of positive values; got {lambdas!r}."
        )
    return np.array([max(1, int(round(lam * n))) for lam in lams])


def classify(z: np.ndarray) -> tuple[bool, float, float]:
    """Separability of the points `z` by the hard-margin QP through the origin.

    **Returns:** `(separable, margin, next_margin)`: the margin $\\gamma$ and the
    smallest $z_i\\cdot\\hat u$ over points off the support vectors ($+\\infty$ if every
    point is one), both NaN for inseparable points.
    """
    _, u, _ = qp_margin(z)
    if u is None:
        return False, np.nan, np.nan
    gamma = 1.0 / np.linalg.norm(u)
    proj = z @ (u * gamma)
    off = proj[proj > gamma * (1 + 1e-6)]
    return True, gamma, float(off.min()) if off.size else np.inf


def transverse_max(margin, next_margin, sigma: float):
    """Largest transverse rate $1 - \\hat z_i\\cdot\\hat\\theta$ of the over-fitting state off
    the support vectors, for data of scale σ, from the σ-free margins of `classify`
    (closed form of the extended SVM, mathematics page §7):
    $\\sigma^2\\gamma(\\gamma - q)/(1 + \\sigma^2\\gamma^2)$ with $q$ = `next_margin`;
    negative means stable, $-\\infty$ when every point is a support vector."""
    margin = np.asarray(margin, dtype=np.float64)
    s2 = sigma * sigma
    with np.errstate(invalid="ignore"):
        return s2 * margin * (margin - next_margin) / (1.0 + s2 * margin * margin)


@compiled
@eqx.filter_jit
def _fixed_points(z, pad, gtol, max_steps, method, slow, batch_size, mesh):
    """`fixed_points` of the batch `z`, its leading axis sharded over `mesh` (one
    contiguous block per device) when there is one."""
    def local(zl):
        return fixed_points(zl, pad, gtol, max_steps, batch_size=batch_size, method=method,
                            slow=slow)

    if mesh is None:
        return local(z)
    from jax.sharding import PartitionSpec

    spec = PartitionSpec("members")
    return jax.shard_map(local, mesh=mesh, in_specs=(spec,), out_specs=spec,
                         check_vma=False)(z)


def _config(n, ds, realizations, seed, gtol, max_steps, method, decide, slow) -> dict:
    return dict(format_version=FORMAT_VERSION, kind="fixed_points", draws=DRAWS, n=n,
                d=[int(d) for d in ds], realizations=realizations, seed=seed, gtol=gtol,
                max_steps=max_steps, method=method, decide=decide, slow=slow)


def _empty(config):
    import xarray as xr

    shape = (len(config["d"]), config["realizations"])
    fill = dict(separable=False, result=-1, steps=0, done=False)
    data = {name: (("lam", "draw"), np.full(shape, fill.get(name, np.nan),
                                            dtype=type(fill.get(name, np.nan))))
            for name in PER_DRAW}
    ds = np.array(config["d"])
    coords = dict(lam=ds / config["n"], d=("lam", ds), draw=np.arange(config["realizations"]))
    attrs = dict(config=json.dumps(config), n=config["n"],
                 status_messages=json.dumps(RESULTS._index_to_message))
    return xr.Dataset(data, coords=coords, attrs=attrs)


def check_layout(ds, config, where: str) -> None:
    """The dimensions, coordinates and variables that a fixed-point sweep's `config`
    implies (used by `load_sweep`)."""
    sizes = dict(lam=len(config["d"]), draw=config["realizations"])
    if dict(ds.sizes) != sizes:
        raise ValueError(f"{where}: dimensions {dict(ds.sizes)} disagree with its "
                         f"configuration, which implies {sizes}.")
    for name in PER_DRAW:
        if name not in ds.data_vars or ds[name].dims != ("lam", "draw"):
            raise ValueError(f"{where}: variable `{name}` with dimensions (lam, draw) is "
                             "missing.")
    if not np.array_equal(ds["d"].values, np.array(config["d"])):
        raise ValueError(f"{where}: coordinate `d` disagrees with its configuration.")


def fixed_point_sweep(
    n: int,
    lambdas,
    realizations: int,
    *,
    seed: int = 0,
    gtol: float = DEFAULT_GTOL,
    max_steps: int = DEFAULT_MAX_STEPS,
    method: str = "cholesky",
    decide: str = "qp",
    slow: bool = True,
    out=None,
    resume: bool = False,
    chunk_size: int = 64,
    write_every: float = 30.0,
    devices="all",
    batch_size: int | None = None,
):
    """Separability, margins and fixed points of `realizations` Gaussian draws per λ.

    **Arguments:**

    - `n` ($\\ge 2$), `lambdas` (positive; $d = \\mathrm{round}(\\lambda n)$, duplicates
      merged), `realizations` (draws per λ, `draw_points`), `seed`.
    - `gtol`, `max_steps`: Newton's, as for `fixed_point`; `method`: its linear solves,
      `"cholesky"` (forms the Hessian, $2nd^2$ flops a step) or `"cg"` (matrix-free,
      $4nd$ flops per CG iteration: 3–5× faster at $n = 2400$, $d \\approx 1100$).
    - `decide`: how separability is decided. `"qp"` (default): the hard-margin QP for
      every draw, which also gives the margins. `"newton"`: Newton first, on every draw:
      a converged minimizer certifies inseparability, an iterate that separates the
      points certifies separability; the QP runs only for draws Newton leaves undecided
      (so `margin` and `next_margin` are NaN for the others). The QP costs ~10 s a draw
      at $n = 2400$.
    - `slow`: also the slow mode $h_1$ (an eigendecomposition; `False` leaves `h1` NaN).
    - `out`: optional netCDF file; `resume`: continue it (same configuration).
    - `chunk_size`: draws classified and solved per compiled call (memory: `chunk_size`
      $\\times n\\times d$ floats); `write_every`: seconds between writes of `out`.
    - `devices`: `"all"` (default) shards each chunk's Newton solves over all devices
      JAX sees (one contiguous block of draws per device; results bitwise identical to
      one device); `None` or `1`: the default device; an integer: the first that many
      (as `ensemble`; on a CPU, `jax.config.update("jax_num_cpu_devices", k)` first).
    - `batch_size`: `None` (default): on a CPU a device's draws one after another, on
      an accelerator all of a device's draws of a chunk in one `vmap`; `k > 1`
      vectorizes groups of `k`.

    **Returns:** an `xarray.Dataset` with dimensions `lam` (coordinate $d/n$, and `d`)
    and `draw`, and per draw: `separable`, `margin` ($\\gamma_z$, NaN inseparable),
    `next_margin` (see `classify`), `result` (a `RESULTS` index: successful,
    separable, max_steps_reached or newton_stalled; messages in the `status_messages`
    attribute), `steps`, `norm` ($\\|\\tilde w^*\\|$), `log_ltilde`, `h1` ($\\tilde h_1$),
    `frac_pos` and `mean_pos` (fraction and mean of the positive $-\\tilde w^*\\cdot z_i$),
    NaN where there is no converged fixed point; `done`.

    **Raises:** `ValueError` for bad arguments, or an `out` that exists without
    `resume`, is damaged, holds another configuration, or is being written.
    """
    from .._sweep import _open_existing

    n = _positive_int("n", n, 2)
    realizations = _positive_int("realizations", realizations)
    max_steps = _positive_int("max_steps", max_steps)
    chunk_size = _positive_int("chunk_size", chunk_size)
    from .._ensemble import _device_count, device_mesh

    n_dev = _device_count(devices)
    mesh = device_mesh(n_dev) if n_dev > 1 else None
    if batch_size is not None:
        batch_size = _positive_int("batch_size", batch_size)
    if method not in ("cholesky", "cg"):
        raise ValueError(f"`method` must be 'cholesky' or 'cg'; got {method!r}.")
    if decide not in ("qp", "newton"):
        raise ValueError(f"`decide` must be 'qp' or 'newton'; got {decide!r}.")
    ds_ = sorted(set(dimensions(n, lambdas).tolist()))
    config = _config(n, ds_, realizations, _seed(seed), _tolerance("gtol", gtol), max_steps,
                     method, decide, bool(slow))
    lock = None
    data = _empty(config)
    if out is not None:
        out = Path(out)
        lock = FileLock(out, "out").acquire()
    try:
        if out is not None:
            _remove_stale_temporaries(out)
            existing = _open_existing(out, resume, config)
            data = data if existing is None else existing
        _run(data, config, out, chunk_size, write_every, (mesh, n_dev, batch_size))
    finally:
        if lock is not None:
            lock.release()
    return data


def _run(data, config, out, chunk_size, write_every, devices):
    n, seed, width = config["n"], config["seed"], max(config["d"])
    pad_of = {d: jnp.asarray(np.r_[np.zeros(d), np.ones(width - d)]) for d in config["d"]}
    last = time.monotonic()
    dirty = False
    for i, d in enumerate(config["d"]):
        todo = np.flatnonzero(~data["done"].values[i])
        for c in range(0, todo.size, chunk_size):
            ks = todo[c:c + chunk_size]
            zs = {int(k): draw_points(n, d, k, seed) for k in ks}
            if config["decide"] == "newton":
                _solve(data, i, list(zs), zs, d, width, pad_of[d], config, devices)
                undecided = [k for k in zs if data["result"].values[i, k] not in
                             (result_index(RESULTS.successful), result_index(RESULTS.separable))]
                for k in zs:
                    data["separable"].values[i, k] = (data["result"].values[i, k]
                                                      == result_index(RESULTS.separable))
            else:
                undecided = list(zs)
            inseparable = []
            for k in undecided:
                sep, gamma, nxt = classify(zs[k])
                data["separable"].values[i, k] = sep
                data["margin"].values[i, k] = gamma
                data["next_margin"].values[i, k] = nxt
                if sep:
                    data["result"].values[i, k] = result_index(RESULTS.separable)
                else:
                    inseparable.append(k)
            if inseparable and config["decide"] == "qp":  # (with "newton": solved already)
                _solve(data, i, inseparable, zs, d, width, pad_of[d], config, devices)
            data["done"].values[i, ks] = True
            dirty = True
            if out is not None and time.monotonic() - last >= write_every:
                _write_atomic(data, out)
                last, dirty = time.monotonic(), False
    if out is not None and dirty:
        _write_atomic(data, out)


#: Batch rows per device are padded to a multiple of this (at most ~7 extra solves a chunk).
_BUCKET = 8


def _solve(data, i, ks, zs, d, width, pad, config, devices):
    """Newton (and the slow mode) for draws `ks` of row `i`, zero-padded to `width`;
    sharded over `devices = (mesh, n_dev, batch_size)`: the batch is padded with copies
    of its first draw (dropped from the results) to a multiple of `_BUCKET` per device,
    so that the varying number of inseparable draws per chunk compiles a few shapes, not
    one per count."""
    mesh, n_dev, batch_size = devices
    step = _BUCKET * n_dev
    rows = -(-len(ks) // step) * step
    zb = np.zeros((rows, zs[ks[0]].shape[0], width))
    for m, k in enumerate(ks):
        zb[m, :, :d] = zs[k]
    zb[len(ks):] = zb[0]
    if batch_size is None and jax.default_backend() != "cpu":
        batch_size = rows // n_dev  # an accelerator: each device's draws in one vmap
    fp = _fixed_points(jnp.asarray(zb), pad, config["gtol"], config["max_steps"],
                       config["method"], config["slow"], batch_size, mesh)
    _store(data, i, ks, zb, fp)


def _store(data, i, ks, zb, fp):
    """Write the batched Newton results of draws `ks` (rows of `zb`) into row `i`."""
    codes = np.asarray(fp["code"])
    results = [result_index(_result_of(int(c))) for c in codes]
    w = np.asarray(fp["w"])
    for m, k in enumerate(ks):
        data["result"].values[i, k] = results[m]
        data["steps"].values[i, k] = int(fp["steps"][m])
        if codes[m] != 0 or not np.all(np.isfinite(w[m])):
            continue
        proj = -(zb[m] @ w[m])  # the paper's S·x_i (S = -w), σ-free
        pos = proj > 0
        data["norm"].values[i, k] = np.linalg.norm(w[m])
        data["log_ltilde"].values[i, k] = float(fp["log_ltilde"][m])
        data["h1"].values[i, k] = float(fp["h1"][m])
        data["frac_pos"].values[i, k] = pos.mean()
        data["mean_pos"].values[i, k] = proj[pos].mean() if pos.any() else np.nan
