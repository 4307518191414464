"""Ensembles: many problems of one shape solved in one compiled call.

Members run through `jax.lax.map` (sequentially, so the total cost is the sum of the
members' own costs and nobody waits for a slow member), optionally vectorized in groups
of `batch_size` (members sorted by expected cost first, so a group's members take
similar numbers of steps), and sharded over the devices JAX sees with
`jax.shard_map` on a one-axis mesh `("members",)`. Every member is solved with
`throw=False` and keeps its own status: one failing member never loses the others.
"""

import math

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import PartitionSpec

from ._checks import _time
from ._config import compiled
from ._integrate import (
    _check_saveat,
    _solve_impl,
    default_saveat,
    finish,
    initial_params,
    resolve_options,
)
from ._problem import Problem, as_problem
from ._results import RESULTS, AbstractResult
from ._trajectory import Trajectory


def stack_problems(problems) -> Problem:
    """Stack problems of one shape (and the same loss, population type and bias setting)
    into one `Problem` whose array leaves have a leading `members` axis.

    **Arguments:** `problems`, a list of `Problem`s (or models with a `.problem`).

    **Returns:** one `Problem` with a leading `members` axis on every array.

    **Raises:** `ValueError` for an empty list, a non-`Problem`, or mismatched structure.
    """
    problems = [p if isinstance(p, Problem) else as_problem(p) for p in problems]
    if not problems:
        raise ValueError("`problems` is empty.")
    for k, p in enumerate(problems):
        if not isinstance(p, Problem):
            raise ValueError(f"`problems[{k}]` is a {type(p).__name__}, not a Problem.")
    ref = jax.tree.structure(problems[0])
    shapes = [x.shape for x in jax.tree.leaves(problems[0])]
    for k, p in enumerate(problems[1:], 1):
        if jax.tree.structure(p) != ref or [x.shape for x in jax.tree.leaves(p)] != shapes:
            raise ValueError(
                f"`problems[{k}]` differs from `problems[0]` in shape, loss, population type "
                "or bias setting; an ensemble needs one shape (group by shape first)."
            )
    return jax.tree.map(lambda *xs: jnp.stack(xs), *problems)


def _member(problems: Problem, i: int) -> Problem:
    return jax.tree.map(lambda x: x[i], problems)


def _cost_key(problem: Problem) -> float:
    # Stiffness grows like σ² (docs/mathematics.md §5):
    # members of similar σ take similar step counts.
    sigma = problem.sigma
    return float(sigma) if sigma is not None else float(jnp.std(problem.x))


class Ensemble(AbstractResult):
    """Solutions of many problems of one shape at shared saved times.

    **Fields:** `t` (shape `(T,)`), `w` (`(M, T, d)`), `b` (`(M, T)`), `reached` (`(M, T)`,
    whether each saved time was reached; unreached entries are NaN), `results` (`(M,)`
    `RESULTS` codes), `num_steps` (`(M,)`), `problems` (the stacked `Problem`),
    `stats` (shared configuration). `member(i)` gives member `i` as a `Trajectory`
    (with the last state reached appended after a failure, as `integrate` does).
    """

    t: np.ndarray
    w: np.ndarray
    b: np.ndarray
    reached: np.ndarray
    results: np.ndarray
    num_steps: np.ndarray
    problems: Problem
    stats: dict = eqx.field(static=True)
    _raw: tuple = eqx.field(repr=False)

    @property
    def size(self) -> int:
        """Number of members."""
        return self.w.shape[0]

    @property
    def result(self) -> np.ndarray:
        """`results`, under the name every result object uses: per member, `successful`,
        `status` and `message` (arrays of shape `(M,)`) are read from it."""
        return self.results

    def member(self, i: int) -> Trajectory:
        """Member `i` as a `Trajectory`."""
        out = jax.tree.map(lambda x: np.asarray(x)[i], self._raw)
        out = (*out[:4], _item(self.results[i]), out[5])
        return finish(_member(self.problems, i), out, dict(self.stats))

    def metric(self, name: str) -> np.ndarray:
        """A metric (`"train_loss"`, `"train_accuracy"`, `"test_loss"`, `"test_accuracy"`)
        for every member and saved time, shape `(M, T)`; NaN where not reached."""
        if name not in _METRIC_FNS:
            raise ValueError(f"unknown metric {name!r}; use one of {sorted(_METRIC_FNS)}.")
        w = np.where(self.reached[..., None], self.w, 0.0)
        b = np.where(self.reached, self.b, 0.0)
        vals = _METRIC_FNS[name](self.problems, w, b)
        return np.where(self.reached, np.asarray(vals), np.nan)


def _metric_fn(name):
    fn = getattr(Problem, name)
    return jax.jit(jax.vmap(jax.vmap(fn, in_axes=(None, 0, 0)), in_axes=(0, 0, 0)))


_METRIC_FNS = {name: _metric_fn(name) for name in
               ("train_loss", "train_accuracy", "test_loss", "test_accuracy")}


def _item(code) -> RESULTS:
    """The `RESULTS` member with integer code `code`."""
    return eqx.tree_at(lambda r: r._value, RESULTS.successful, np.asarray(code, dtype=np.int32))


@compiled
@eqx.filter_jit
def _solve_members(clock, solver, problems, y0, ts, t_max, rtol, atol, max_steps, batch_size,
                   mesh):
    def one(problem):
        out = _solve_impl(clock, solver, problem, y0, ts, t_max, rtol, atol, max_steps)
        t_out, clock_ts, params, last, result, stats = out
        return t_out, clock_ts, params, last, result._value, stats

    def local(batch):
        return jax.lax.map(one, batch, batch_size=batch_size if batch_size > 1 else None)

    if mesh is None:
        return local(problems)
    spec = PartitionSpec("members")
    return jax.shard_map(local, mesh=mesh, in_specs=(spec,), out_specs=spec,
                         check_vma=False)(problems)


def ensemble(
    problems,
    t_max,
    *,
    clock=None,
    y0=None,
    rtol: float | None = None,
    atol: float | None = None,
    solver: diffrax.AbstractSolver | None = None,
    saveat=None,
    max_steps: int | None = None,
    batch_size: int = 1,
    devices="all",
) -> Ensemble:
    """Solve gradient flow for many problems of one shape in one compiled call.

    **Arguments:**

    - `problems`: a list of `Problem`s of one shape (same loss, population type, bias).
    - `t_max`, `clock`, `y0` (shared), `rtol`, `atol`, `solver`, `saveat`, `max_steps`:
      as for `integrate`; the defaults are the ones `integrate` picks for the first
      member.
    - `batch_size`: 1 (default) runs members one after another inside one `lax.map`
      (measured fastest on CPU, see `benchmarks/bench_ensemble.py`); `k > 1` vectorizes
      groups of `k` members with `vmap`, after sorting members by expected cost.
    - `devices`: `"all"` (default) shards members over all devices JAX sees when there is
      more than one (members dealt round-robin); `None` or `1` keeps everything on the
      default device; an integer uses the first that many devices. On a CPU, JAX shows
      one device unless asked for more: `jax.config.update("jax_num_cpu_devices", k)`
      right after importing JAX gives one per core (measured 2.0× on 2 cores). In a
      multi-host job (`jax.distributed.initialize()` in every process, each calling
      `ensemble` with the same problems), members are sharded over all the job's
      devices and every process gets all of them back.

    **Returns:** an `Ensemble`; per-member status in `results`, never an exception for a
    failing member.

    **Raises:** `ValueError` for bad arguments (as `integrate`) or mismatched problems.
    """
    batched = stack_problems(problems)
    members = len(problems)
    t_max = _time("t_max", t_max)
    first = _member(batched, 0)
    clock, solver, rtol, atol, max_steps = resolve_options(
        first, clock, solver, rtol, atol, max_steps)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"`batch_size` must be a positive integer; got {batch_size!r}.")
    ts = default_saveat(t_max) if saveat is None else _check_saveat(saveat, t_max)
    y0 = initial_params(first, y0)

    # Slots: the order members are solved in. Sorted by expected cost for vmap groups;
    # dealt round-robin over devices.
    order = np.arange(members)
    if batch_size > 1:
        order = np.argsort([_cost_key(p) for p in problems], kind="stable")
    mesh = None
    n_dev = _device_count(devices)
    index = order  # index[j]: the member solved in slot j
    if n_dev > 1:
        mesh = device_mesh(n_dev)
        index = _deal(order, n_dev)
    raw = _solve_members(clock, solver, jax.tree.map(lambda x: x[index], batched), y0,
                         jnp.asarray(ts), jnp.asarray(t_max), jnp.asarray(rtol),
                         jnp.asarray(atol), int(max_steps), batch_size, mesh)
    if jax.process_count() > 1:  # multi-host: every process gets every member
        raw = multihost_utils.process_allgather(raw, tiled=True)
    # slot[i]: where member i was solved (its first slot, not a padding copy).
    slot = np.unique(index, return_index=True)[1]
    raw = jax.tree.map(lambda x: np.asarray(x)[slot], raw)
    batched = jax.tree.map(np.asarray, batched)
    t_out, clock_ts, params, last, codes, stats = raw
    reached = np.isfinite(t_out)
    w = np.where(reached[..., None], params.w, np.nan)
    b = np.where(reached, params.b, np.nan)
    config = dict(clock=clock.name, solver=type(solver).__name__, rtol=rtol, atol=atol,
                  max_steps=int(max_steps), batch_size=batch_size, devices=max(n_dev, 1))
    return Ensemble(np.asarray(ts), w, b, reached, np.asarray(codes),
                    np.asarray(stats["num_steps"]), batched, config, raw)


def _deal(order: np.ndarray, n_dev: int) -> np.ndarray:
    """Slots for `n_dev` devices: `order` dealt round-robin, so that each device's
    contiguous block gets every `n_dev`-th member (costs that vary along the list, as λ
    or σ do in a sweep, are spread evenly), padded with copies of the first member to a
    multiple of `n_dev`."""
    per = math.ceil(order.size / n_dev)
    padded = np.r_[order, np.full(per * n_dev - order.size, order[0])]
    return padded.reshape(per, n_dev).T.ravel()


def device_mesh(n_dev: int):
    """A one-axis mesh `("members",)` over the first `n_dev` devices JAX sees (used by
    `ensemble` and by the draws driver, `gradflow._analysis._draws`)."""
    return jax.make_mesh((n_dev,), ("members",), axis_types=(jax.sharding.AxisType.Auto,),
                         devices=jax.devices()[:n_dev])


def _device_count(devices) -> int:
    if devices is None:
        return 1
    if devices == "all":
        return jax.device_count()
    if isinstance(devices, bool) or not isinstance(devices, int) or devices <= 0:
        raise ValueError(f"`devices` must be 'all', None or a positive integer; got {devices!r}.")
    if devices > jax.device_count():
        raise ValueError(f"`devices`={devices} but JAX sees only {jax.device_count()} devices.")
    return devices
