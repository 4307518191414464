"""`BDF`: a variable-order (1 to 5) backward differentiation solver for gradient flow,
with a chord Newton iteration on one Cholesky factor reused over many steps.

**Method.** Shampine's numerical differentiation formulas (NDF, the $\\kappa$-modified
BDF of orders 1 to 5) in the quasi-constant step-size form of scipy's `BDF`
(`scipy/integrate/_ivp/bdf.py`; Shampine & Reichelt, *The MATLAB ODE suite*, 1997): the
solution history is a difference array $D$ (backward differences of the accepted values,
for the current step size), rescaled when the step size changes; the local error of order
$k$ is `error_const[k]` times the Newton correction; after $k + 1$ steps of one size the
order moves by at most one to whichever of $k - 1, k, k + 1$ allows the largest step.
As in LSODA/VODE, a proposed increase below `step_threshold` (1.5) is not taken, so
that the factor is not remade for little gain.

**Newton iteration.** Each step solves $y - c f(t_{n+1}, y) = \\psi$ with
$c = h / \\alpha_k$ by a chord iteration on $M = I - c_M J$, one vector field per
iteration. In physical and log time the Jacobian $J = -\\frac1n\\sum_i c_i\\hat a_i\\hat
a_i^\\top$ is symmetric negative semi-definite (`gradflow._flow`), so $M$ is symmetric
positive definite and is factored by Cholesky ($O(d^3/3)$, about a quarter of an LU).
$J$ is not stored: the state keeps the curvatures $c_i$ it came from and the factor, its
only matrix (diffrax copies the whole solver state at every step, ~0.1 ms a matrix at
d = 190, measured). As in VODE (Brown, Byrne & Hindmarsh 1989), a factor serves while
$c / c_M$ stays within `refactor_ratio` of 1, each correction being scaled by
$2 / (1 + c / c_M)$ (a contraction of at most $|1 - r|/(1 + r)$ for $r = c/c_M$, on
stiff and non-stiff modes alike); a new factor is made when the ratio leaves that band,
and new curvatures (a new $J$, at the predicted state) only when the iteration fails
(scipy's rule: the retry is within the step). The iteration stops once the estimated
remaining error is below `newton_tol` of the tolerance (VODE asks a tenth; scipy's
$\\min(0.03, \\sqrt{rtol})$ cost ~40% more iterations for the same error, measured); the
first iteration may already stop there, judged with the last measured contraction rate
made a little more pessimistic (RADAU5's rule, as in `Radau5`).

**Step-size control.** The step size and order are the method's own choice, which
diffrax's controllers (built for a fixed error order) cannot make. `BDF` returns, in
place of an error estimate, a small `BDFProposal` (the scaled error norm, at most 1 for an
accepted step, and the factor for the next step size), and `BDFController`, the step-size
controller this solver needs, accepts the step and scales the step size by it: pass
`stepsize_controller=gradflow.BDFController(rtol=..., atol=...)` to `diffeqsolve`
(`integrate` does). diffrax keeps the solver state only over accepted steps, so a
rejected step's work (a new factor, new curvatures) is made again on the retry.

The conformal clock's Jacobian adds a non-symmetric low-rank part; as `Radau5` does,
`BDF` factors the symmetric `linear_part` there and lets the Newton iteration absorb the
difference. Dense output (`SaveAt(dense=True)`, events) is the NDF's own interpolating
polynomial through the last $k + 1$ accepted values.
"""

from collections.abc import Callable
from typing import ClassVar

import diffrax
import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import jax.scipy.linalg
import numpy as np
import optimistix as optx

from ._flow import flat_field, flow_clock

jax.config.update("jax_enable_x64", True)

MAX_ORDER = 5
_MIN_FACTOR = 0.2
_MAX_FACTOR = 10.0
# scipy's (Shampine's) NDF coefficients.
_KAPPA = np.array([0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0])
_GAMMA = np.hstack([0.0, np.cumsum(1.0 / np.arange(1, MAX_ORDER + 1))])
_ALPHA = (1.0 - _KAPPA) * _GAMMA
_ERROR_CONST = _KAPPA * _GAMMA + 1.0 / np.arange(1, MAX_ORDER + 2)
_ROWS = MAX_ORDER + 3  # D holds differences up to order + 2


def _compute_r(order: int, factor):
    """scipy's `compute_R`: the change of a difference array of `order` to a step
    `factor` times larger, embedded in the identity of size `_ROWS`."""
    i = np.arange(1, order + 1)[:, None]
    j = np.arange(1, order + 1)[None, :]
    m = jnp.zeros((order + 1, order + 1), jnp.result_type(factor, float))
    m = m.at[0].set(1.0).at[1:, 1:].set((i - 1 - factor * j) / i)
    return jnp.cumprod(m, axis=0)


def _change_d(d, order, factor):
    """Rescale the differences `d` (`_ROWS` rows) of the current `order` to a step
    `factor` times the present one (scipy's `change_D`); rows above the order are kept."""
    mats = []
    for k in range(1, MAX_ORDER + 1):
        ru = _compute_r(k, factor) @ _compute_r(k, 1.0)
        mats.append(jnp.eye(_ROWS, dtype=ru.dtype).at[: k + 1, : k + 1].set(ru.T))
    return jnp.stack(mats)[order - 1] @ d


def _maybe(pred, fn, operand):
    """`fn(operand)` if `pred`, else `operand`, as a while loop of zero or one trips (the
    pattern of `Radau5`'s refresh; measured no slower than `lax.cond` here)."""
    return jax.lax.while_loop(
        lambda c: c[0], lambda c: (jnp.asarray(False), fn(c[1])), (pred, operand))[1]


class BDFProposal(eqx.Module):
    """What `BDF` returns to `BDFController` in place of an error estimate.

    **Fields:** `error_norm` (the step is accepted when it is at most 1; infinite when
    the Newton iteration failed) and `factor` (the next step size over this one).
    """

    error_norm: jax.Array
    factor: jax.Array


class BDFInterpolation(diffrax.AbstractLocalInterpolation):
    """The NDF's interpolating polynomial over one step (scipy's `BdfDenseOutput`):
    through the last `order + 1` accepted values, from the differences `d` (a pytree of
    the state's structure, each leaf with `MAX_ORDER + 1` leading rows; `order` a float)."""

    t0: jax.Array
    t1: jax.Array
    d: object
    order: jax.Array

    def evaluate(self, t0, t1=None, left=True):
        del left
        if t1 is not None:
            return jax.tree.map(lambda a, b: a - b, self.evaluate(t1), self.evaluate(t0))
        h = self.t1 - self.t0
        j = jnp.arange(MAX_ORDER)
        x = (t0 - (self.t1 - h * j)) / (h * (1 + j))
        p = jnp.where(j < self.order, jnp.cumprod(x), 0.0)
        return jax.tree.map(lambda v: v[0] + jnp.tensordot(p, v[1:], axes=1), self.d)


class BDFController(diffrax.AbstractAdaptiveStepSizeController):
    """The step-size controller of `BDF`: it accepts a step when the solver's scaled
    error norm is at most 1, and multiplies the step size by the factor the solver
    proposes (which also chose the order). Only for `BDF`, whose `BDFProposal` it reads
    in place of an error estimate; with another solver it fails at trace time.

    The first step follows scipy's `select_initial_step` for order 1 unless `dt0` is
    given. A step size below $10\\epsilon|t|$ stops the solve (`RESULTS.dt_min_reached`).

    **Arguments:** `rtol`, `atol` (also the Newton iteration's, through diffrax's
    `with_stepsize_controller_tols`), `norm` (default `optimistix.rms_norm`, scipy's),
    `dtmax` (largest step, default none).
    """

    rtol: float
    atol: float
    norm: Callable = optx.rms_norm
    dtmax: float | None = None

    def wrap(self, direction):
        return self

    def init(self, terms, t0, t1, y0, dt0, args, func, error_order):
        del error_order
        if dt0 is not None:
            return t0 + dt0, None
        flat0, unravel = jax.flatten_util.ravel_pytree(y0)
        f0 = jax.flatten_util.ravel_pytree(func(terms, t0, y0, args))[0]
        scale = self.atol + self.rtol * jnp.abs(flat0)
        d0, d1 = self.norm(flat0 / scale), self.norm(f0 / scale)
        h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
        h0 = jnp.minimum(h0, t1 - t0)
        f1 = jax.flatten_util.ravel_pytree(func(terms, t0 + h0, unravel(flat0 + h0 * f0),
                                                args))[0]
        d2 = self.norm((f1 - f0) / scale) / h0
        h1 = jnp.where((d1 <= 1e-15) & (d2 <= 1e-15), jnp.maximum(1e-6, h0 * 1e-3),
                       (0.01 / jnp.maximum(d1, d2)) ** 0.5)
        h = jnp.minimum(jnp.minimum(100 * h0, h1), t1 - t0)
        if self.dtmax is not None:
            h = jnp.minimum(h, self.dtmax)
        return t0 + h, None

    def adapt_step_size(self, t0, t1, y0, y1_candidate, args, y_error, error_order,
                        controller_state):
        del y0, y1_candidate, args, error_order
        if not isinstance(y_error, BDFProposal):
            raise ValueError(
                "BDFController works only with `gradflow.BDF`, whose steps return a "
                f"`BDFProposal`; got an error estimate of type {type(y_error).__name__}."
            )
        accept = y_error.error_norm <= 1.0  # NaN (made inf by diffrax) rejects
        factor = jnp.where(jnp.isfinite(y_error.factor), y_error.factor, _MIN_FACTOR)
        h = (t1 - t0) * factor
        if self.dtmax is not None:
            h = jnp.minimum(h, self.dtmax)
        start = jnp.where(accept, t1, t0)
        tiny = 10 * jnp.finfo(jnp.result_type(h)).eps * jnp.abs(start)
        result = diffrax.RESULTS.where(h < tiny, diffrax.RESULTS.dt_min_reached,
                                       diffrax.RESULTS.successful)
        return accept, start, start + h, False, controller_state, result


class BDF(diffrax.AbstractImplicitSolver, diffrax.AbstractAdaptiveSolver):
    """Variable-order NDF/BDF (orders 1 to 5, scipy's `BDF` design) for `gradflow`'s
    clocks, with a chord Newton iteration on a Cholesky factor reused over many steps
    (see the module documentation).

    Works with diffrax's `diffeqsolve` and `SaveAt` (its own polynomial dense output, so
    `SaveAt(dense=True)` and events work), under `jit`, `vmap`, `lax.map` and
    `shard_map`, with `gradflow.BDFController` as the step-size controller (it needs no
    other). Needs a `gradflow.FlowTerm` (what `integrate` passes). The final solver
    state (`SaveAt(solver_state=True)`) counts, over accepted steps, the curvatures
    evaluated for a Jacobian (`num_jacobians`), the Cholesky factorizations
    (`num_factorizations`) and the Newton iterations (`num_newton_iterations`, one
    vector field each), and holds the current `order`.

    **Arguments:**

    - `refactor_ratio`: keep the factor of $I - c_MJ$ while $|c/c_M - 1|$ is at most
      this (default 0.5; VODE's 0.3 made ~40% more factorizations at σ = 10, measured in
      `benchmarks/bench_solvers.py`).
    - `newton_tol`: stop the Newton iteration when its estimated remaining error is
      below this fraction of the tolerance (default 0.1, VODE's).
    - `step_threshold`: after an accepted step, an increase of the step size by less
      than this factor is not taken (default 1.5, VODE's; 1 is scipy's rule).
    - `root_find_max_steps`: Newton iterations per attempt (default 4, scipy's).
    - `root_finder`: only its tolerances and norm are used; by default they are the
      step-size controller's.
    """

    refactor_ratio: float = 0.5
    newton_tol: float = 0.1
    step_threshold: float = 1.5
    root_finder: optx.AbstractRootFinder = diffrax.with_stepsize_controller_tols(
        diffrax.VeryChord)()
    root_find_max_steps: int = 4

    term_structure: ClassVar = diffrax.AbstractTerm
    interpolation_cls: ClassVar[Callable[..., diffrax.AbstractLocalInterpolation]] = (
        BDFInterpolation
    )

    def __check_init__(self):
        if not (0 <= self.refactor_ratio < 1):
            raise ValueError(
                f"`refactor_ratio` must be in [0, 1); got {self.refactor_ratio!r}.")
        if not (0 < self.newton_tol < 1):
            raise ValueError(f"`newton_tol` must be in (0, 1); got {self.newton_tol!r}.")
        if not (self.step_threshold >= 1):
            raise ValueError(
                f"`step_threshold` must be at least 1; got {self.step_threshold!r}.")
        if not (isinstance(self.root_find_max_steps, int) and self.root_find_max_steps >= 2):
            raise ValueError("`root_find_max_steps` must be an integer of at least 2; got "
                             f"{self.root_find_max_steps!r}.")

    def order(self, terms):
        return MAX_ORDER

    def error_order(self, terms):
        return MAX_ORDER

    def _clock(self, terms):
        return flow_clock(terms, type(self).__name__)

    def _field(self, terms, t, y, args):
        return flat_field(terms, type(self).__name__, t, y, args)

    def _factor(self, terms, t, y, args, curvature, c):
        """Cholesky factor (lower) of $I - cJ$, $J$ the linear part at `curvature`."""
        jac = self._clock(terms).linear_part(t, y, args, curvature)
        m = jnp.eye(jac.shape[0], dtype=jac.dtype) - c * jac
        return jax.scipy.linalg.cho_factor(m, lower=True)[0]

    def init(self, terms, t0, t1, y0, args):
        f, curv = self._field(terms, t0, y0, args)
        flat0 = jax.flatten_util.ravel_pytree(y0)[0]
        h = jnp.asarray(t1 - t0, f.dtype)
        d = jnp.zeros((_ROWS,) + f.shape, f.dtype).at[0].set(flat0).at[1].set(h * f)
        m = f.shape[0]
        return dict(
            d=d, h=h, order=jnp.asarray(1), n_equal_steps=jnp.asarray(0),
            curvature=curv, chol=jnp.eye(m, dtype=f.dtype),
            c_factor=jnp.asarray(jnp.nan, f.dtype),  # no factor yet
            rate=jnp.asarray(0.5, f.dtype),
            num_jacobians=jnp.asarray(1), num_factorizations=jnp.asarray(0),
            num_newton_iterations=jnp.asarray(0),
        )

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        del made_jump  # the history lives in D; a jump would need a restart (none here)
        state = dict(solver_state)
        flat0, unravel = jax.flatten_util.ravel_pytree(y0)
        dtype = flat0.dtype
        h = jnp.asarray(t1 - t0, dtype)
        order = state["order"]
        alpha = jnp.asarray(_ALPHA, dtype)[order]
        gamma = jnp.asarray(_GAMMA, dtype)
        error_const = jnp.asarray(_ERROR_CONST, dtype)
        rtol, atol = self.root_finder.rtol, self.root_finder.atol
        norm = self.root_finder.norm
        eps = jnp.finfo(dtype).eps
        newton_tol = self.newton_tol
        max_iterations = self.root_find_max_steps

        # A new step size (a rejected step, the end of the interval, a controller's
        # choice): rescale the differences, which were for the last accepted step.
        changed = h != state["h"]
        d = jnp.where(changed, _change_d(state["d"], order, h / state["h"]), state["d"])
        n_equal_steps = jnp.where(changed, 0, state["n_equal_steps"])

        rows = jnp.arange(_ROWS)
        y_predict = jnp.sum(jnp.where((rows <= order)[:, None], d, 0.0), axis=0)
        weights = jnp.where((rows >= 1) & (rows <= order),
                            jnp.concatenate([gamma, jnp.zeros(_ROWS - MAX_ORDER - 1)]), 0.0)
        psi = (weights @ d) / alpha
        c = h / alpha
        t_new = t0 + h
        scale = atol + rtol * jnp.abs(y_predict)

        def iterations(chol, c_factor, rate0):
            # chord iteration on the factor of I - c_factor J, corrections scaled by
            # 2 / (1 + c / c_factor) (VODE); the carry holds only state-sized vectors
            ratio = c / c_factor
            relax = 2.0 / (1.0 + ratio)
            first_rate = jnp.minimum(jnp.maximum(rate0, eps) ** 0.8, 0.9)

            def body(carry):
                k, y, dsum = carry["k"], carry["y"], carry["dsum"]
                f = self._field(terms, t_new, unravel(y), args)[0]
                rhs = c * f - psi - dsum
                dy = relax * jax.scipy.linalg.cho_solve((chol, True), rhs)
                size = norm(dy / scale)
                rate = jnp.where(k == 0, first_rate, size / carry["old"])
                ok = jnp.isfinite(size) & (rate < 1)
                slow = (k > 0) & (rate ** (max_iterations - k) / (1 - rate) * size
                                  > newton_tol)
                y = jnp.where(ok, y + dy, y)
                dsum = jnp.where(ok, dsum + dy, dsum)
                done = ok & ((size == 0) | (rate / (1 - rate) * size < newton_tol))
                failed = ~done & (~ok | slow | (k + 1 >= max_iterations))
                measured = jnp.where(k == 0, carry["rate"], rate)
                return dict(k=k + 1, y=y, dsum=dsum, old=size, done=done, failed=failed,
                            rate=measured)

            init = dict(k=jnp.asarray(0), y=y_predict, dsum=jnp.zeros_like(y_predict),
                        old=jnp.asarray(1.0, dtype), done=jnp.asarray(False),
                        failed=jnp.asarray(False), rate=first_rate)
            return jax.lax.while_loop(lambda a: ~a["done"] & ~a["failed"], body, init)

        # Pass 1 with the stored curvatures, refactored only when c left the band.
        # The state holds one matrix (the factor): every matrix in it is copied at
        # every step (diffrax keeps or restores the state; a conditional update copies).
        y_pred = unravel(y_predict)
        refactor = ~(jnp.abs(c / state["c_factor"] - 1.0) <= self.refactor_ratio)
        curvature = state["curvature"]
        chol = _maybe(refactor, lambda _: self._factor(terms, t_new, y_pred, args, curvature, c),
                      state["chol"])
        c_factor = jnp.where(refactor, c, state["c_factor"])
        out = iterations(chol, c_factor, state["rate"])
        # Pass 2, only after a failure: new curvatures at the predicted state, a new
        # factor, the iteration again from the prediction.
        retry = ~out["done"]

        def second_pass(carry):
            curvature = self._field(terms, t_new, y_pred, args)[1]
            chol = self._factor(terms, t_new, y_pred, args, curvature, c)
            again = iterations(chol, c, carry[3]["rate"])
            return curvature, chol, jnp.asarray(c, dtype), again

        curvature, chol, c_factor, out2 = _maybe(
            retry, second_pass, (curvature, chol, c_factor, out))
        out = dict(done=out2["done"], y=out2["y"], dsum=out2["dsum"], rate=out2["rate"],
                   last=out2["k"], iterations=out["k"] + jnp.where(retry, out2["k"], 0),
                   curvature=curvature, chol=chol, c_factor=c_factor,
                   num_jacobians=state["num_jacobians"] + retry,
                   num_factorizations=state["num_factorizations"] + refactor + retry)
        converged = out["done"]
        y_new, dsum = out["y"], out["dsum"]

        # Error estimate, acceptance and the next step size and order (scipy's rules).
        safety = 0.9 * (2 * max_iterations + 1) / (2 * max_iterations + out["last"])
        scale = atol + rtol * jnp.abs(y_new)
        error_norm = norm(error_const[order] * dsum / scale)
        error_norm = jnp.where(converged & jnp.isfinite(error_norm), error_norm, jnp.inf)
        accept = error_norm <= 1.0
        reject_factor = jnp.where(
            converged,
            jnp.maximum(_MIN_FACTOR, safety * error_norm ** (-1.0 / (order + 1))), 0.5)

        # the accepted step's differences (scipy's update of D)
        row_o1 = jnp.take(d, order + 1, axis=0)
        d_new = d.at[order + 2].set(dsum - row_o1).at[order + 1].set(dsum)
        upper = rows[:, None] <= rows[None, :]
        below = (rows[None, :] <= order + 1)
        tri = jnp.where(upper & below & (rows[:, None] <= order), 1.0, 0.0)
        tri = jnp.where((rows[:, None] > order) & (rows[:, None] == rows[None, :]), 1.0, tri)
        d_new = tri @ d_new  # D[i] += D[i+1] from the top down, for i <= order
        n_equal_steps = n_equal_steps + 1

        err_m = jnp.where(
            order > 1,
            norm(error_const[order - 1] * jnp.take(d_new, order, axis=0) / scale), jnp.inf)
        err_p = jnp.where(
            order < MAX_ORDER,
            norm(error_const[jnp.minimum(order + 1, MAX_ORDER)]
                 * jnp.take(d_new, jnp.minimum(order + 2, _ROWS - 1), axis=0) / scale),
            jnp.inf)
        norms = jnp.stack([err_m, error_norm, err_p])
        factors = jnp.where(norms > 0, norms, 1e-300) ** (
            -1.0 / (order + jnp.arange(3)))
        delta = jnp.argmax(factors) - 1
        best = jnp.minimum(_MAX_FACTOR, safety * jnp.max(factors))
        choose = (n_equal_steps >= order + 1) & ~((best >= 1) & (best < self.step_threshold))
        accept_factor = jnp.where(choose, best, 1.0)
        new_order = jnp.where(choose, order + delta, order)
        factor = jnp.where(accept, accept_factor, reject_factor)

        y1 = unravel(y_new)
        # the order as a float: diffrax fills unused dense-output slots with inf
        dense_info = dict(d=jax.vmap(unravel)(d_new[: MAX_ORDER + 1]),
                          order=order.astype(dtype))
        new_state = dict(
            d=d_new, h=h, order=new_order, n_equal_steps=n_equal_steps,
            curvature=out["curvature"], chol=out["chol"], c_factor=out["c_factor"],
            rate=out["rate"], num_jacobians=out["num_jacobians"],
            num_factorizations=out["num_factorizations"],
            num_newton_iterations=state["num_newton_iterations"] + out["iterations"],
        )
        proposal = BDFProposal(error_norm=error_norm, factor=factor)
        return y1, proposal, dense_info, new_state, diffrax.RESULTS.successful

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)
