"""`integrate`: gradient flow solved with diffrax, returned as a `Trajectory`."""

import math

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from ._bdf import BDF, BDFController
from ._checks import ABSOLUTE_TOLERANCE, _positive, _real_array, _time, _tolerance
from ._config import compiled
from ._flow import AbstractClock, ConformalTime, LogTime, PhysicalTime, as_clock
from ._problem import Params, Problem, _params_pair, as_problem
from ._radau import Radau5
from ._rkc import RKC
from ._trajectory import RESULTS, IntegrationError, Trajectory

jax.config.update("jax_enable_x64", True)

#: Number of log-spaced output times used when `saveat` is not given (plus t = 0).
DEFAULT_NUM_SAVES = 200
#: Default `rtol` of explicit solvers, and of `Radau5` (order 5 whose error estimate is
#: conservative: rtol 1e-6 gave errors of 3e-9 at t = 1e12 for σ = 1, 3, 10; measured in
#: `benchmarks/bench_solvers.py`).
DEFAULT_RTOL = 1e-8
STIFF_RTOL = 1e-6
#: Above this bound on the spectral radius of the physical-time Jacobian at the start,
#: the paper's model (all labels equal, with a bias) is integrated with `Radau5`, below
#: it with `Tsit5`. Measured at n = 400, d = 190 (bound 0.25(σ²d + 1);
#: `benchmarks/bench_solvers.py`, `benchmarks/bench_ensemble.py`): σ = 1 (bound 48):
#: Tsit5 1.6x faster; σ = 3 (428): 100-member ensembles on one device 8.6 s against
#: Radau5's 8.8 s (5.4 s against 9.0 when the rule was set; single solves to 1e12 are now
#: faster with Radau5, 54 ms against 67); σ = 10 (4750): Radau5 5x faster.
#: Measured again after Radau5's amortized refresh (2026-12-01): single solves and
#: one-device ensembles are faster with Radau5 from σ ≈ 2.5 (σ = 3, 40 members, 1 device:
#: 2.2 s against 2.7 to 1e12, 2.6 against 6.3 to 1e30), but 100 members sharded over 2
#: devices were not (5.8 s against Tsit5's 4.1 to 1e12, `benchmarks/bench_ensemble.py`),
#: and vmap groups of 4 took 55 s against 5.6 sequentially (batched, each Newton loop runs
#: as long as its slowest member's; a refresh `cond` made a run-once loop did not help);
#: so the threshold stays where ensembles, the main use, are fastest.
STIFFNESS_THRESHOLD = 1500.0
#: Default step bound (accepted and rejected) for the physical and log clocks: σ = 30 takes
#: ~30k explicit steps to t = 1e12 (stiffness, `benchmarks/bench_solvers.py`).
DEFAULT_MAX_STEPS = 65_536
#: The conformal clock keeps dense output of `max_steps` steps in memory; a lower default.
CONFORMAL_MAX_STEPS = 8_192


def default_max_steps(clock) -> int:
    """`CONFORMAL_MAX_STEPS` for the conformal clock, else `DEFAULT_MAX_STEPS`."""
    return CONFORMAL_MAX_STEPS if isinstance(clock, ConformalTime) else DEFAULT_MAX_STEPS

# Incremented each time `_solve` is traced, so tests can check that new data of the same
# shape does not recompile.
_TRACE_COUNT = {"solve": 0}


def _separable_by_bias(problem: Problem) -> bool:
    """All labels equal, with a bias: the bias alone separates, and $b \\to \\infty$."""
    y = np.asarray(problem.y)
    return bool(problem.fit_bias and (np.all(y == y[0])))


def default_clock(problem: Problem) -> AbstractClock:
    """The clock `integrate` uses by default (measured: `benchmarks/bench_solvers.py`).

    - `LogTime()` where the parameters grow without bound: the extended points
      $(y_ix_i, a_i)$ are linearly separable (the paper's model, separable by the bias
      alone, without a test). The flow then tends to a fixed point in log time or moves
      like $\\log t$ along a fixed direction, and $t = 10^{30}$ costs little more than
      $10^{12}$.
    - `PhysicalTime()` where there is a finite optimum (not separable, decided by the
      hard-margin QP): there the flow converges to a fixed point in physical time, while
      in log time it gets stiffer like $e^{s}$.

    **Arguments:** `problem`, a `Problem`.

    **Returns:** an `AbstractClock`.
    """
    if _separable_by_bias(problem):
        return LogTime()
    from ._analysis._separability import is_separable  # scipy: imported when needed

    rows = np.hstack([np.asarray(problem.z), np.asarray(problem.a)[:, None]])
    return LogTime() if is_separable(rows) else PhysicalTime()


def default_solver(problem: Problem, clock: AbstractClock | None = None):
    """The solver `integrate` uses by default (measured: `benchmarks/bench_solvers.py`).

    - `diffrax.Tsit5()` for the conformal clock, and for the paper's model (all labels
      equal, with a bias) when the flow is not stiff: the bound on the spectral radius of
      the physical-time Jacobian at $w = 0$ is at most `STIFFNESS_THRESHOLD` (1500: σ ≲ 5.6
      at d = 190).
    - `Radau5()` otherwise: stiff flows, finite optima (where explicit steps stay
      stability-bound however slowly the flow moves) and separable data with mixed labels
      (whose support vectors make the late flow stiff).

    **Arguments:** `problem`, a `Problem`; `clock` (default `default_clock(problem)`).

    **Returns:** a diffrax solver.
    """
    clock = default_clock(problem) if clock is None else clock
    if isinstance(clock, ConformalTime):
        return diffrax.Tsit5()
    if _separable_by_bias(problem):
        zero = Params(jnp.zeros(problem.d), jnp.asarray(0.0))
        rho = float(_spectral_radius_bound(problem, zero))
        return Radau5() if rho > STIFFNESS_THRESHOLD else diffrax.Tsit5()
    return Radau5()


@eqx.filter_jit
def _spectral_radius_bound(problem, params):
    return PhysicalTime().spectral_radius_bound(0.0, params, problem)


def default_rtol(solver) -> float:
    """`STIFF_RTOL` (1e-6) for `Radau5`, `DEFAULT_RTOL` (1e-8) for any other solver."""
    return STIFF_RTOL if isinstance(solver, Radau5) else DEFAULT_RTOL


def default_saveat(t_max: float, num: int = DEFAULT_NUM_SAVES) -> np.ndarray:
    """`t = 0` and `num` log-spaced times from `min(1e-2, t_max/100)` to `t_max`."""
    lo = min(1e-2, t_max / 100.0)
    return np.concatenate([[0.0], np.geomspace(lo, t_max, num)])


_check_positive = _positive  # one validator for positive finite numbers, shared


def initial_params(problem: Problem, y0) -> Params:
    """Validate `y0` (`None`, `Params` or a `(w, b)` pair) against `problem`.

    **Raises:** `ValueError` for a wrong shape or non-finite values.
    """
    w, b = _initial_pair(problem, y0)
    return Params(jnp.asarray(w), jnp.asarray(b))


def _initial_pair(problem: Problem, y0):
    """`initial_params` as numpy arrays, for a compiled call to take as they are (the
    two `jnp.asarray` transfers cost ~0.1 ms, a tenth of a small solve; measured on
    iris)."""
    w, b = _params_pair((np.zeros(problem.d), 0.0) if y0 is None else y0)
    w, b = _real_array("y0", w), _real_array("y0", b)
    if w.shape != (problem.d,) or b.shape != ():
        raise ValueError(
            f"`y0` must have w of shape ({problem.d},) and a scalar b; got w {w.shape}, "
            f"b {b.shape}."
        )
    if not (np.all(np.isfinite(w)) and np.isfinite(b)):
        raise ValueError("`y0` contains NaN or infinite values.")
    if not problem.fit_bias and b != 0:
        raise ValueError("`y0` must have b = 0 for a problem without a bias (fit_bias=False).")
    return w, b


def _check_saveat(saveat, t_max):
    ts = np.asarray(saveat, dtype=np.float64)
    if ts.ndim != 1 or ts.size == 0:
        raise ValueError(f"`saveat` must be a non-empty 1-D array of times; got shape {ts.shape}.")
    if not np.all(np.isfinite(ts)) or ts[0] < 0 or ts[-1] > t_max or np.any(np.diff(ts) <= 0):
        raise ValueError(
            "`saveat` must be strictly increasing, finite times in [0, t_max]; "
            f"got {ts[:3].tolist()}...{ts[-3:].tolist()} with t_max={t_max}."
        )
    return ts


def stepsize_controller(solver, rtol, atol):
    """`BDFController` for `BDF` (which chooses its own step sizes and orders),
    diffrax's `PIDController` for any other solver."""
    if isinstance(solver, BDF):
        return BDFController(rtol=rtol, atol=atol)
    return diffrax.PIDController(rtol=rtol, atol=atol)


def _solve_impl(clock, solver, problem, y0, ts, t_max, rtol, atol, max_steps):
    """One solve, traceable under jit, vmap, lax.map and shard_map."""
    _TRACE_COUNT["solve"] += 1
    term = clock.term()
    counted = isinstance(solver, Radau5 | BDF | RKC)  # solvers that count their work
    controller = stepsize_controller(solver, rtol, atol)
    state0 = clock.initial_state(problem, y0)
    time0 = clock.initial_time()
    if isinstance(clock, ConformalTime):
        q_max = jnp.log1p(t_max)
        event = diffrax.Event(
            lambda t, y, args, **kwargs: y.q - q_max,
            root_finder=optx.Newton(rtol=1e-13, atol=1e-13),
        )
        sol = diffrax.diffeqsolve(
            term, solver, time0, jnp.inf, None, state0, args=problem,
            saveat=diffrax.SaveAt(t1=True, dense=True, solver_state=counted),
            stepsize_controller=controller,
            event=event, max_steps=max_steps, throw=False,
        )
        tau_end = sol.ts[-1]
        q_end = sol.ys.q[-1]
        q_targets = jnp.log1p(ts)
        bisection = optx.Bisection(rtol=1e-15, atol=1e-12, flip=False)

        def invert(q_k):
            # τ at which q(τ) = log(1 + t_k), on the dense interpolant (q increases in τ).
            fn = lambda tau, _: sol.evaluate(tau).q - q_k
            root = optx.root_find(
                fn, bisection, tau_end / 2, options=dict(lower=time0, upper=tau_end),
                max_steps=256, throw=False,
            )
            return jnp.where(q_k == 0, time0, root.value)  # t = 0 is τ = 0 exactly

        reached = q_targets <= q_end * (1 + 1e-15)
        taus = jax.vmap(invert)(jnp.where(reached, q_targets, 0.0))
        states = jax.vmap(sol.evaluate)(taus)
        t_out, params = jax.vmap(clock.physical)(taus, states)
        # Points past the last reached time are marked unreached (inf), like diffrax does.
        t_out = jnp.where(reached, t_out, jnp.inf)
        t_last, params_last = clock.physical(tau_end, jax.tree.map(lambda v: v[-1], sol.ys))
        clock_ts, clock_last = taus, tau_end
    else:
        sol = diffrax.diffeqsolve(
            term, solver, time0, clock.time_of(t_max), None, state0, args=problem,
            saveat=diffrax.SaveAt(
                subs=[diffrax.SubSaveAt(ts=clock.time_of(ts)), diffrax.SubSaveAt(t1=True)],
                solver_state=counted,
            ),
            stepsize_controller=controller, max_steps=max_steps, throw=False,
        )
        (clock_ts, clock_last), (ys, ys_last) = sol.ts, sol.ys
        t_out, params = jax.vmap(clock.physical)(clock_ts, ys)
        t_out = jnp.where(jnp.isfinite(clock_ts), t_out, jnp.inf)
        clock_last = clock_last[0]
        t_last, params_last = clock.physical(clock_last, jax.tree.map(lambda v: v[0], ys_last))
    # Report the requested times exactly where reached (not clock.physical's rounding).
    t_out = jnp.where(jnp.isfinite(t_out), ts, t_out)
    # Is the state, or its vector field, non-finite at the last point reached?
    field_last = _state_and_field(problem, params_last)
    finite = jnp.all(jnp.isfinite(field_last)) & jnp.isfinite(t_last)
    ok = (sol.result == diffrax.RESULTS.successful) | (sol.result == diffrax.RESULTS.event_occurred)
    result = RESULTS.where(ok, RESULTS.successful, RESULTS.promote(sol.result))
    result = RESULTS.where(finite, result, RESULTS.nonfinite_state)
    stats = dict(
        num_steps=sol.stats["num_steps"],
        num_accepted_steps=sol.stats["num_accepted_steps"],
        num_rejected_steps=sol.stats["num_rejected_steps"],
    )
    if isinstance(solver, RKC):  # counted over accepted steps
        stats.update(num_stages=sol.solver_state["num_stages"],
                     num_jvps=sol.solver_state["num_jvps"])
    elif counted:  # counted over accepted steps
        stats.update(num_jacobians=sol.solver_state["num_jacobians"],
                     num_newton_iterations=sol.solver_state["num_newton_iterations"])
        if isinstance(solver, BDF):
            stats.update(num_factorizations=sol.solver_state["num_factorizations"])
    return t_out, clock_ts, params, (t_last, clock_last, params_last), result, stats


def _solve_summarized(clock, solver, max_steps, problem, y0, ts, t_max, rtol, atol):
    """`_solve_impl`, plus one small integer array that `finish` reads in one transfer:
    [complete, *stats in the order of their sorted names]."""
    out = _solve_impl(clock, solver, problem, y0, ts, t_max, rtol, atol, max_steps)
    t_out, _, _, _, result, stats = out
    complete = jnp.all(jnp.isfinite(t_out)) & (result == RESULTS.successful)
    summary = jnp.stack([complete.astype(int),
                         *(jnp.asarray(stats[k]).astype(int) for k in sorted(stats))])
    return out, summary


# `jax.jit` with the clock, solver and `max_steps` static; the problem goes in whole (its
# non-array part, `fit_bias` and the classes, is static in its tree structure, and
# `Problem` refuses population and loss fields that jit cannot take): its C++ dispatch
# costs ~0.3 ms less per call than `eqx.filter_jit`'s, and ~50 us less than with an
# `eqx.partition` of the problem (measured on iris, where a whole solve takes a few ms).
_solve_jit = compiled(jax.jit(_solve_summarized, static_argnums=(0, 1, 2)))


def _solve(clock, solver, problem, y0, ts, t_max, rtol, atol, max_steps):
    """The compiled solve: `_solve_impl`'s outputs and `_solve_summarized`'s summary."""
    return _solve_jit(clock, solver, int(max_steps), problem, y0, ts, t_max, rtol, atol)


def _state_and_field(problem: Problem, params: Params):
    """The state and physical-time vector field at `params`, flattened (for finiteness)."""
    f = PhysicalTime().vector_field(0.0, params, problem)
    return jnp.concatenate([params.w, params.b[None], f.w, f.b[None]])


def integrate(
    problem: Problem,
    t_max,
    *,
    clock: str | AbstractClock | None = None,
    y0=None,
    rtol: float | None = None,
    atol: float | None = None,
    solver: diffrax.AbstractSolver | None = None,
    saveat=None,
    max_steps: int | None = None,
    throw: bool = True,
) -> Trajectory:
    """Solve gradient flow from `y0` up to physical time `t_max` with diffrax.

    **Arguments:**

    - `problem`: a `Problem`.
    - `t_max`: final physical time, finite and at least the smallest normal float64
      ($2.2\\cdot10^{-308}$; $10^{30}$ and beyond is fine with the log clock).
    - `clock`: `"log"` ($s = \\log(1+t)$, the long-horizon clock), `"physical"` ($t$) or
      `"conformal"` ($d\\tau = e^{-b}dt$, stopped by an event at $t_{max}$ and read out
      by dense interpolation), or an `AbstractClock`; default `default_clock(problem)`:
      log time where the parameters grow without bound (separable data, the paper's
      model), physical time where there is a finite optimum. Whatever the clock, the
      returned time axis is physical $t$.
    - `y0`: initial `Params(w, b)` or `(w, b)`; default $w = 0, b = 0$.
    - `rtol`, `atol`: tolerances of diffrax's `PIDController` (`BDFController` for `BDF`)
      in the clock's state ($w$ and $\\beta = b - s$ in log time); `rtol` defaults to
      1e-6 for `Radau5` and 1e-8 for other solvers (`default_rtol`), `atol` to
      `rtol * 1e-2`. `rtol` must lie
      in $[10^{-14}, 10^{-2}]$ and `atol` in $(0, 10^{-2}]$: beyond them a solve is either
      impossible or not a solution (`gradflow._checks._tolerance`).
    - `solver`: a diffrax solver; default `default_solver(problem, clock)`: the stiff
      `Radau5` unless the flow is the paper's model and not stiff (then `Tsit5()`), and
      `Tsit5()` in the conformal clock.
    - `saveat`: increasing physical times in $[0, t_{max}]$; default $t = 0$ and 200
      log-spaced times ending at `t_max`.
    - `max_steps`: bound on solver steps (accepted and rejected); default 65,536 for the
      physical and log clocks and 8,192 for the conformal clock, which keeps dense output
      of this many steps in memory.
    - `throw`: if true, a failed solve raises `IntegrationError` (a `RuntimeError`) with
      the partial trajectory attached; if false, the trajectory up to where it got is
      returned with its `result` set.

    **Returns:** a `Trajectory`; `stats` records the clock, solver, tolerances and steps.

    **Raises:** `ValueError` for bad arguments (naming the argument);
    `IntegrationError` on failure when `throw=True`.

    Compiled once per problem shape, clock, solver and `max_steps`: new data of the same
    shape, new tolerances, `t_max` or `y0` reuse the compiled solve.
    """
    problem = as_problem(problem)
    t_max = _time("t_max", t_max)
    clock, solver, rtol, atol, max_steps = resolve_options(
        problem, clock, solver, rtol, atol, max_steps)
    ts = default_saveat(t_max) if saveat is None else _check_saveat(saveat, t_max)
    y0 = Params(*_initial_pair(problem, y0))
    out, summary = _solve(
        clock, solver, problem, y0, ts, np.float64(t_max), np.float64(rtol), np.float64(atol),
        int(max_steps),
    )
    traj = finish(problem, out, dict(clock=clock.name, solver=type(solver).__name__,
                                     rtol=rtol, atol=atol, max_steps=int(max_steps)),
                  summary=summary)
    if throw and not traj.successful:
        raise IntegrationError(
            f"integrate stopped at t = {float(traj.t[-1]) if traj.t.size else 0.0:.6g} of "
            f"t_max = {t_max:.6g}: {traj.message}{advice(traj)} (The partial trajectory is "
            "on this exception's `.trajectory`; pass throw=False to get it returned.)",
            traj,
        )
    return traj


def resolve_options(problem: Problem, clock, solver, rtol, atol, max_steps):
    """Validate `integrate`'s options and fill in the defaults (one place for
    `integrate` and `ensemble`): clock, solver, rtol, atol, max_steps.

    **Raises:** `ValueError` naming the bad argument.
    """
    clock = default_clock(problem) if clock is None else as_clock(clock)
    if isinstance(clock, ConformalTime) and not problem.fit_bias:
        raise ValueError("clock='conformal' needs a bias (fit_bias=True); use 'log' or 'physical'.")
    if max_steps is None:
        max_steps = default_max_steps(clock)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer) or max_steps <= 0:
        raise ValueError(f"`max_steps` must be a positive integer; got {max_steps!r}.")
    solver = default_solver(problem, clock) if solver is None else solver
    if not isinstance(solver, diffrax.AbstractSolver):
        raise ValueError(f"`solver` must be a diffrax solver; got {solver!r}.")
    rtol = default_rtol(solver) if rtol is None else _tolerance("rtol", rtol)
    atol = rtol * 1e-2 if atol is None else _tolerance("atol", atol, ABSOLUTE_TOLERANCE)
    return clock, solver, rtol, atol, int(max_steps)


def advice(traj: Trajectory) -> str:
    """What helps after a solve ran out of steps (empty for other outcomes)."""
    if not bool(traj.result == RESULTS.max_steps_reached):
        return ""
    st = traj.stats
    if st["solver"] not in ("Radau5", "BDF"):
        return (" The flow is stiff here (explicit steps are bounded by stability, and more "
                "steps rarely help): pass solver=gradflow.Radau5(), and clock='physical' "
                "if the data have a finite optimum (not separable).")
    if st["clock"] == "log":
        return (" In log time a flow that converges to a finite optimum gets stiffer like "
                "e^s: try clock='physical', or a larger max_steps.")
    return (" Try the log clock (clock='log') if the data are separable, a looser rtol, or "
            "a larger max_steps.")


def finish(problem: Problem, out, config: dict, summary=None) -> Trajectory:
    """Turn the arrays `_solve_impl` returned (one member) into a Trajectory: unreached
    rows dropped, the last state reached appended after a failure.

    With `_solve_summarized`'s `summary`, a solve that succeeded and reached every saved
    time keeps its arrays where they are: one transfer of `summary` in all (host
    round trips of the arrays cost ~1 ms a call, measured on iris)."""
    t_out, clock_ts, params, (t_last, clock_last, params_last), result, stats = out
    if summary is not None:
        summary = np.asarray(summary)
        if summary[0]:
            stats = dict(**config, **dict(zip(sorted(stats), summary[1:].tolist(), strict=True)))
            return Trajectory(t_out, params.w, params.b, problem, result, stats,
                              clock_t=clock_ts)
    t_out = np.asarray(t_out)  # the requested times exactly where reached (_solve_impl)
    keep = np.isfinite(t_out)
    w, b = np.asarray(params.w)[keep], np.asarray(params.b)[keep]
    t_out, clock_ts = t_out[keep], np.asarray(clock_ts)[keep]
    result_ok = bool(result == RESULTS.successful)
    if not result_ok:
        # Append the last state reached, if finite and past the last saved point.
        t_last = float(t_last)
        w_last, b_last = np.asarray(params_last.w), float(params_last.b)
        if math.isfinite(t_last) and np.all(np.isfinite(w_last)) and math.isfinite(b_last) and (
            t_out.size == 0 or t_last > t_out[-1]
        ):
            t_out = np.append(t_out, t_last)
            clock_ts = np.append(clock_ts, float(clock_last))
            w = np.vstack([w, w_last[None]])
            b = np.append(b, b_last)
        fin = np.all(np.isfinite(w), axis=1) & np.isfinite(b)
        t_out, clock_ts, w, b = t_out[fin], clock_ts[fin], w[fin], b[fin]
    stats = dict(**config, **{k: int(v) for k, v in stats.items()})
    return Trajectory(
        jnp.asarray(t_out), jnp.asarray(w), jnp.asarray(b), problem, result, stats,
        clock_t=jnp.asarray(clock_ts),
    )
