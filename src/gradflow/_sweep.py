"""Sweeps over λ, σ and seeds, written to disk chunk by chunk and resumable.

Format: netCDF-4 through h5netcdf, opened with xarray (`load_sweep`, or
`xarray.open_dataset(path, engine="h5netcdf")`). netCDF rather than zarr: one file that
any netCDF tool reads, written whole to a temporary file and renamed over the old one
after each chunk (`os.replace` is atomic), so a killed sweep leaves the last complete
file behind and `resume=True` continues from it. The configuration is stored as a JSON
string attribute; nothing is pickled.

Dimensions `lam`, `sigma`, `seed`, `t`; variables (per member and saved time) `b`,
`w_norm`, `train_loss`, `train_accuracy`, `test_loss`, `test_accuracy`; per member
`done`, `status` (a `RESULTS` code; messages in the `status_messages` attribute),
`num_steps`, `separable` (feasibility of the hard-margin QP, which `gradflow.separability`
checks its LP against; ~10× faster than the LP at n = 400, where the LP took 3–5× longer
than the integration) and `runs` (how many times the member was computed: 1 everywhere
after any number of resumes).

Multi-host: started in every process of a `jax.distributed` job, a sweep shards each
chunk over all the job's devices; process 0 alone writes `out` (and reads it to resume).
"""

import json
import os
import time
from pathlib import Path

import jax
import numpy as np
from jax.experimental import multihost_utils

from ._ensemble import ensemble
from ._integrate import DEFAULT_RTOL, _check_positive, default_saveat
from ._problem import _positive_int, _tolerance, gaussian_problem
from ._trajectory import RESULTS

FORMAT_VERSION = 1
METRICS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")


def parse_range(text: str) -> list[float]:
    """`"0.3:0.6:0.01"` (start:stop:step, stop included) or `"0.4,0.45"` → list of floats.

    **Raises:** `ValueError` for a malformed range or a non-positive step.
    """
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            if not step > 0:
                raise ValueError
            count = int(np.floor((stop - start) / step + 1e-9)) + 1
            return [round(start + k * step, 12) for k in range(count)]
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"bad range {text!r}: use start:stop:step or a,b,c") from None


def _config(n, lambdas, realizations, sigmas, t_max, loss, seed, rtol, num_saves):
    n = _positive_int("n", n)
    realizations = _positive_int("realizations", realizations)
    sigmas = [_check_positive("sigma", s) for s in np.atleast_1d(sigmas)]
    ds = sorted({int(round(lam * n)) for lam in np.atleast_1d(lambdas)})
    for lam in np.atleast_1d(lambdas):
        if not (0 < lam and round(lam * n) >= 1):
            raise ValueError(f"`lambdas` must give d = round(λ n) >= 1; got λ = {lam}.")
    return dict(
        format_version=FORMAT_VERSION, n=n, d=ds, sigmas=sigmas, realizations=realizations,
        t_max=_check_positive("t_max", t_max), loss=str(loss), seed=int(seed),
        rtol=_tolerance("rtol", rtol), num_saves=_positive_int("num_saves", num_saves),
    )


def _empty(config):
    import xarray as xr

    n, ds, sigmas, R = config["n"], config["d"], config["sigmas"], config["realizations"]
    ts = default_saveat(config["t_max"], config["num_saves"])
    shape = (len(ds), len(sigmas), R)
    data = {name: (("lam", "sigma", "seed", "t"), np.full(shape + (ts.size,), np.nan))
            for name in ("b", "w_norm", *METRICS)}
    data.update(
        done=(("lam", "sigma", "seed"), np.zeros(shape, dtype=bool)),
        status=(("lam", "sigma", "seed"), np.full(shape, -1, dtype=np.int32)),
        num_steps=(("lam", "sigma", "seed"), np.zeros(shape, dtype=np.int64)),
        separable=(("lam", "sigma", "seed"), np.zeros(shape, dtype=bool)),
        runs=(("lam", "sigma", "seed"), np.zeros(shape, dtype=np.int32)),
    )
    coords = dict(lam=np.array(ds) / n, sigma=np.array(sigmas), seed=np.arange(R), t=ts,
                  d=("lam", np.array(ds)))
    attrs = dict(config=json.dumps(config), n=n,
                 status_messages=json.dumps(RESULTS._index_to_message))
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _write_atomic(ds, path: Path):
    tmp = path.with_name(path.name + ".tmp")
    ds.to_netcdf(tmp, engine="h5netcdf")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _open_existing(out: Path, resume: bool, config):
    """The sweep in `out` to resume, or None if there is no file."""
    if not out.exists():
        return None
    if not resume:
        raise ValueError(f"`out` file {out} exists; pass resume=True (--resume) to continue it.")
    ds = load_sweep(out)
    if json.loads(ds.attrs["config"]) != config:
        raise ValueError(f"`out` file {out} holds a sweep with another configuration: "
                         f"{ds.attrs['config']}.")
    return ds


def load_sweep(path):
    """Open a sweep file as an `xarray.Dataset` (loaded into memory; no pickle involved).

    **Arguments:** `path`, a file written by `sweep` / `gradflow sweep`.

    **Returns:** the `xarray.Dataset` (see the module docstring for its variables).
    """
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def member_seed(config, d, k):
    """The data seed of realization `k` at dimension `d`: independent of the sweep's
    order and chunking, so a resumed sweep draws the same data."""
    return [config["seed"], config["n"], d, k]


def sweep(
    n: int,
    lambdas,
    realizations: int,
    sigma,
    *,
    t_max: float = 1e12,
    out,
    loss: str = "logistic",
    seed: int = 0,
    rtol: float = DEFAULT_RTOL,
    num_saves: int = 100,
    chunk_size: int | None = None,
    resume: bool = False,
    progress: bool = True,
    max_steps: int = 16_384,
):
    """Integrate `realizations` Gaussian datasets for each λ and σ, saving as it goes.

    **Arguments:**

    - `n`: samples; `lambdas`: values of λ (d = round(λn), duplicates merged);
      `realizations`: datasets per (λ, σ); `sigma`: one value or a list.
    - `t_max`, `rtol`, `loss`, `max_steps`: passed to `gradflow.ensemble` (log clock).
    - `out`: the netCDF file. `seed`: base seed (member seeds: `member_seed`).
    - `num_saves`: log-spaced saved times per member; `chunk_size`: members per
      compiled call and per write (default: 8 per device JAX sees, at least 16).
    - `resume`: continue an existing file (same configuration) instead of refusing it.
    - `progress`: show a tqdm bar (members done / total, rate, ETA).

    **Returns:** `(dataset, computed)`: the final `xarray.Dataset` and how many members
    this call computed.

    **Raises:** `ValueError` for bad arguments, an existing `out` without `resume`, or a
    file whose configuration differs from the one asked for.
    """
    from tqdm.auto import tqdm

    from ._analysis._separability import is_separable, points

    config = _config(n, lambdas, realizations, sigma, t_max, loss, seed, rtol, num_saves)
    # Several members per device per chunk, so that a device's slow member is averaged
    # over its others (one compiled call per chunk; one file write per chunk).
    chunk_size = (max(16, 8 * jax.device_count()) if chunk_size is None
                  else _positive_int("chunk_size", chunk_size))
    out = Path(out)
    # Multi-host (jax.distributed): every process runs this loop and takes part in every
    # ensemble; process 0 alone reads and writes the file, the others follow its record
    # of what is done.
    lead = jax.process_index() == 0
    ds, refusal = _empty(config), None
    if lead:
        try:
            existing = _open_existing(out, resume, config)
        except ValueError as err:
            refusal = err
        else:
            ds = ds if existing is None else existing
    if jax.process_count() > 1:
        if not multihost_utils.broadcast_one_to_all(np.asarray(refusal is None)):
            raise refusal or ValueError("process 0 refused the sweep's `out` file (see its "
                                        "error).")
        ds["done"].values[...] = multihost_utils.broadcast_one_to_all(ds["done"].values)
    if refusal is not None:
        raise refusal
    total = ds["done"].size
    bar = tqdm(total=total, initial=int(ds["done"].sum()), unit="member",
               disable=not (progress and lead), desc="sweep", smoothing=0.1)
    computed = 0
    start = time.perf_counter()
    for i, d in enumerate(config["d"]):
        for j, sig in enumerate(config["sigmas"]):
            todo = np.flatnonzero(~ds["done"].values[i, j])
            for c in range(0, todo.size, chunk_size):
                ks = todo[c:c + chunk_size]
                problems = [gaussian_problem(config["n"], d, sig, seed=member_seed(config, d, k),
                                             loss=loss) for k in ks]
                # A short last chunk is padded with copies (one compiled shape per d).
                padded = problems + [problems[0]] * (min(chunk_size, todo.size) - ks.size)
                ens = ensemble(padded, config["t_max"], rtol=config["rtol"],
                               saveat=ds["t"].values, max_steps=max_steps)
                metrics = {name: ens.metric(name) for name in METRICS}
                for m, k in enumerate(ks):
                    idx = (i, j, k)
                    ds["b"].values[idx] = ens.b[m]
                    ds["w_norm"].values[idx] = np.linalg.norm(ens.w[m], axis=-1)
                    for name in METRICS:
                        ds[name].values[idx] = metrics[name][m]
                    ds["status"].values[idx] = ens.results[m]
                    ds["num_steps"].values[idx] = ens.num_steps[m]
                    ds["separable"].values[idx] = is_separable(points(problems[m]))
                    ds["runs"].values[idx] += 1
                    ds["done"].values[idx] = True
                if lead:
                    _write_atomic(ds, out)
                computed += ks.size
                bar.update(ks.size)
    bar.close()
    if progress and computed and lead:
        rate = computed / (time.perf_counter() - start)
        print(f"sweep: {computed} members computed ({rate:.2f}/s), {total} in {out}")
    return ds, computed
