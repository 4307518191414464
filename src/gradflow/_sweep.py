"""Sweeps over λ, σ and seeds, written to disk chunk by chunk and resumable.

Format: netCDF-4 through h5netcdf, opened with xarray (`load_sweep`, or
`xarray.open_dataset(path, engine="h5netcdf")`). netCDF rather than zarr: one file that
any netCDF tool reads, written whole to a temporary file of a unique name and renamed
over the old one after each chunk (`os.replace` is atomic), so a killed sweep leaves the
last complete file behind and `resume=True` continues from it. The configuration is
stored as a JSON string attribute; nothing is pickled.

Integrity (format 2): the file ends with a trailer line `gradflow-sha256:<digest>` of
all the bytes before it (HDF5 ignores bytes after its data; netCDF tools read the file
as usual), and the attribute `checksums` holds a SHA-256 of every variable, coordinate
and attribute. `load_sweep` (and so `resume`) checks the trailer before the file is
parsed (a damaged HDF5 structure can make the HDF5 library hang, not only fail), then
the per-variable checksums (which name what is damaged, and still hold for a file that
another tool re-saved without the trailer), then the dimensions against the
configuration: a damaged file is refused with a `ValueError` instead of returning other
numbers than were stored. Files of format 1 (before checksums) are read with a warning
and cannot be resumed.

One writer per file: a sweep holds an advisory lock (`fcntl.flock` on `out.lock`) from
before it reads `out` until it returns; a second sweep on the same `out` is refused at
once. The output folder is checked (exists, writable) before anything is computed.

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
import time
from pathlib import Path

import jax
import numpy as np
from jax.experimental import multihost_utils

from ._checks import _positive_int, _seed, _time, _tolerance
from ._ensemble import ensemble
from ._files import (
    _TRAILER_SIZE,  # noqa: F401  (the file format's trailer, used by the tests)
    FORMAT_VERSION,
    FileLock,
    _remove_stale_temporaries,
    _write_atomic,
    read_checked,
)
from ._generators import gaussian_problem
from ._integrate import DEFAULT_RTOL, _check_positive, default_saveat
from ._trajectory import RESULTS

#: The data-drawing key of new files (`gradflow._analysis._draws.draw_seed`): draw k at
#: dimension d is `default_rng([seed, d, k])`, as in `bifurcation` and the figures.
DRAWS = "seed,d,k"
#: The key of files written before the convention was shared: `[seed, n, d, k]`.
LEGACY_DRAWS = "seed,n,d,k"
METRICS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")
PER_TIME = ("b", "w_norm", *METRICS)
PER_MEMBER = ("done", "status", "num_steps", "separable", "runs")
#: Most values a range may expand to (a typo such as a step of 1e-9 is refused).
MAX_RANGE = 100_000


def parse_range(text: str) -> list[float]:
    """`"0.3:0.6:0.01"` (start:stop:step, stop included) or `"0.4,0.45"` → list of floats.

    **Raises:** `ValueError` for a malformed range, a non-finite value, a non-positive
    step, a reversed range (start > stop: it would be empty), or more than `MAX_RANGE`
    values.
    """
    try:
        if ":" in text:
            values = [float(v) for v in text.split(":")]
            if len(values) != 3:
                raise ValueError
        else:
            values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"bad range {text!r}: use start:stop:step or a,b,c") from None
    if not all(np.isfinite(values)):
        raise ValueError(f"bad range {text!r}: values must be finite numbers.")
    if ":" not in text:
        return values
    start, stop, step = values
    if not step > 0:
        raise ValueError(f"bad range {text!r}: the step must be positive.")
    if start > stop:
        raise ValueError(f"bad range {text!r}: start {start:g} is above stop {stop:g}, so the "
                         "range is empty (ranges go upwards: start:stop:step).")
    count = int(np.floor((stop - start) / step + 1e-9)) + 1
    if count > MAX_RANGE:
        raise ValueError(f"bad range {text!r}: {count} values (at most {MAX_RANGE}).")
    return [round(start + k * step, 12) for k in range(count)]


def _values(name: str, values) -> np.ndarray:
    """A non-empty 1-D array of finite floats."""
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be numbers; got {values!r}.") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"`{name}` must be a non-empty list of numbers; got {values!r} "
                         "(a sweep over nothing computes nothing).")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite; got {values!r}.")
    return arr


def _config(n, lambdas, realizations, sigmas, t_max, loss, seed, rtol, num_saves):
    n = _positive_int("n", n)
    realizations = _positive_int("realizations", realizations)
    sigmas = [_check_positive("sigma", s) for s in _values("sigma", sigmas)]
    lambdas = _values("lambdas", lambdas)
    for lam in lambdas:
        if not (0 < lam and round(lam * n) >= 1):
            raise ValueError(f"`lambdas` must give d = round(λ n) >= 1; got λ = {lam}.")
    ds = sorted({int(round(lam * n)) for lam in lambdas})
    return dict(
        format_version=FORMAT_VERSION, kind="flow", draws=DRAWS, n=n, d=ds, sigmas=sigmas,
        realizations=realizations,
        t_max=_time("t_max", t_max), loss=str(loss), seed=_seed(seed),
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


def _open_existing(out: Path, resume: bool, config):
    """The sweep in `out` to resume, or None if there is no file."""
    if not out.exists():
        return None
    if not resume:
        raise ValueError(f"`out` file {out} exists; pass resume=True (--resume) to continue it.")
    ds = load_sweep(out)
    stored = _normalized(json.loads(ds.attrs["config"]))
    if {k: v for k, v in stored.items() if k != "draws"} != \
            {k: v for k, v in config.items() if k != "draws"}:
        raise ValueError(f"`out` file {out} holds a sweep with another configuration: "
                         f"{ds.attrs['config']}.")
    config["draws"] = stored["draws"]  # resumed members are drawn as the file's were
    return ds


def _check_layout(ds, config, where: str) -> None:
    """The dimensions, coordinates and variables that `config` implies."""
    ts = default_saveat(config["t_max"], config["num_saves"])
    sizes = dict(lam=len(config["d"]), sigma=len(config["sigmas"]),
                 seed=config["realizations"], t=ts.size)
    if dict(ds.sizes) != sizes:
        raise ValueError(f"{where}: dimensions {dict(ds.sizes)} disagree with its "
                         f"configuration, which implies {sizes}.")
    for name, dims in [*((v, ("lam", "sigma", "seed", "t")) for v in PER_TIME),
                       *((v, ("lam", "sigma", "seed")) for v in PER_MEMBER)]:
        if name not in ds.data_vars or ds[name].dims != dims:
            raise ValueError(f"{where}: variable `{name}` with dimensions {dims} is missing.")
    coords = dict(d=np.array(config["d"]), sigma=np.array(config["sigmas"]), t=ts,
                  seed=np.arange(config["realizations"]))
    for name, expected in coords.items():
        if name not in ds.coords or not np.array_equal(ds[name].values, expected):
            raise ValueError(f"{where}: coordinate `{name}` disagrees with its configuration.")


def load_sweep(path):
    """Open a sweep file as an `xarray.Dataset` (loaded into memory; no pickle involved),
    after checking it.

    **Arguments:** `path`, a file written by `sweep` / `gradflow sweep`, or by
    `fixed_point_sweep` (its `config` attribute says which: `kind` `"flow"` or
    `"fixed_points"`).

    **Returns:** the `xarray.Dataset` (see the module docstring for its variables).

    **Raises:** `FileNotFoundError` if there is no file; `ValueError`, in one line naming
    the file, for anything else that is not an intact sweep file: empty, truncated or
    foreign (not netCDF, or netCDF without a sweep configuration), a checksum that does
    not match the data read back, or dimensions that disagree with the configuration.
    **Warns:** for a file of format 1, which has no checksums to verify.
    """
    path = Path(path)
    where = f"sweep file {str(path)!r}"
    ds, config = read_checked(path, where)
    config = _normalized(config)
    try:
        if config["kind"] == "fixed_points":
            from ._analysis._draws import check_layout

            check_layout(ds, config, where)
        elif config["kind"] == "flow":
            _check_layout(ds, config, where)
        else:
            raise ValueError(f"{where} holds a sweep of unknown kind {config['kind']!r}.")
    except (KeyError, TypeError) as err:
        raise ValueError(f"{where}: its configuration is incomplete ({err}).") from None
    return ds


def _normalized(config: dict) -> dict:
    """A stored configuration with today's keys: files written before sweeps had kinds
    are flow sweeps, and drew their data with the legacy key (`member_seed`)."""
    config = dict(config)
    config.setdefault("kind", "flow")
    config.setdefault("draws", LEGACY_DRAWS)
    return config


def member_seed(config, d, k):
    """The data seed of realization `k` at dimension `d`: independent of the sweep's
    order and chunking, so a resumed sweep draws the same data. New files use the one
    convention of every λ sweep (`gradflow._analysis._draws.draw_seed`); a file written
    before it keeps its own (`LEGACY_DRAWS`), so that resuming it stays exact."""
    from ._analysis._draws import draw_seed

    if config["draws"] == LEGACY_DRAWS:
        return [config["seed"], config["n"], d, k]
    return draw_seed(config["seed"], d, k)


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

    **Raises:** `ValueError`, before anything is computed, for bad arguments (empty or
    non-finite `lambdas` or `sigma`, a tolerance outside its range, ...), an `out`
    whose folder is missing or cannot be written, an `out` another sweep is writing
    (the lock `out.lock`), an existing `out` without `resume`, or a file that is damaged
    (checksums, dimensions) or whose configuration differs from the one asked for.
    """
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
    ds, refusal, lock = _empty(config), None, FileLock(out, "out")
    if lead:
        try:
            lock.acquire()  # refuses a second writer, and an output that cannot be written
            _remove_stale_temporaries(out)
            existing = _open_existing(out, resume, config)
        except ValueError as err:
            lock.release()
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
    try:
        return _run(ds, config, out, lead, chunk_size, max_steps, loss, progress)
    finally:
        lock.release()


def _run(ds, config, out, lead, chunk_size, max_steps, loss, progress):
    """The loop of `sweep` over (d, σ) and chunks of members, writing after each chunk."""
    from tqdm.auto import tqdm

    from ._analysis._separability import is_separable, points

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
