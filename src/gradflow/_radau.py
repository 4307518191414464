"""`Radau5`: an implicit diffrax solver for gradient flow that reuses one
eigendecomposition of the flow's Jacobian over many steps.

Gradient flow is stiff: in physical and log time the Jacobian
$J = -\\frac1n\\sum_i c_i\\hat a_i\\hat a_i^\\top$ ($c_i$ the clock-shifted curvature
$\\ell''(m_i)$, $\\hat a_i = (y_ix_i, a_i)$) has a real spectrum in $[-\\rho, 0]$, and $\\rho$
grows like $\\sigma^2$ while the slowest relaxation rate does not, so an explicit solver's
steps are bounded by stability rather than accuracy (`benchmarks/bench_solvers.py`).

**Method.** The three-stage Radau IIA collocation method (order 5, L-stable, stiffly
accurate), with the simplified Newton iteration, error estimate and step-size-independent
transformation of Hairer & Wanner (*Solving ODEs II*, §IV.8, their code RADAU5; scipy's
`Radau` follows the same design). Each Newton iteration needs the three stage fields and
solves with $\\mu_r/h - W$ (real $\\mu_r$) and $\\mu_c/h - W$ (complex $\\mu_c$), where $W$
approximates $J$.

**Structure used.** $W = Q\\operatorname{diag}(\\nu)Q^\\top$ from one eigendecomposition,
so every solve, for any step size and either shift, costs two products with $Q$: a
change of step size needs no new factorization. Between decompositions the eigenvalues
follow $J$ to first order, $\\nu_k = q_k^\\top J(y_0) q_k = -\\frac1n\\sum_i c_i
\\langle\\hat a_i, q_k\\rangle^2$, an $O(nd)$ product with the curvatures that every vector
field returns anyway. The Newton iteration, not $W$, decides the answer: a stale $W$
only slows the convergence, whose rate is measured at every step.

**When to refresh** (measured in `benchmarks/bench_solvers.py`): a new eigendecomposition
is made at the start of a step when the last step's Newton contraction rate exceeded
`refresh_rate`, or when the iterations spent since the last one beyond the fewest any
step has needed since then add up to `refresh_cost` (a decomposition's cost in
iterations: an amortized rule, which refreshes early where decompositions are cheap);
and within a step when the Newton iteration fails with a $W$ that is not fresh (the step
is then retried once at the same size). A step whose iteration fails
with a fresh $W$ returns an infinite error, and the step-size controller shrinks it.

The Newton tolerance and norm come from the step-size controller (diffrax's
`with_stepsize_controller_tols` mechanism, as for its own implicit solvers). The solver
needs a `gradflow.FlowTerm` (a clock's `term()`, which `integrate` passes), because it
asks the clock for the curvatures and the linear part of its field.
"""

from collections.abc import Callable
from typing import ClassVar

import diffrax
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from ._flow import flat_field, flow_clock

jax.config.update("jax_enable_x64", True)

# ---- Radau IIA, three stages (Hairer & Wanner II, Table IV.5.6 and §IV.8).
_S6 = 6.0**0.5
_NODES = np.array([(4.0 - _S6) / 10.0, (4.0 + _S6) / 10.0, 1.0])
_A = np.array([
    [(88 - 7 * _S6) / 360, (296 - 169 * _S6) / 1800, (-2 + 3 * _S6) / 225],
    [(296 + 169 * _S6) / 1800, (88 + 7 * _S6) / 360, (-2 - 3 * _S6) / 225],
    [(16 - _S6) / 36, (16 + _S6) / 36, 1 / 9],
])
# A^{-1} = T diag(mu_real, [[alpha, -beta], [beta, alpha]]) T^{-1}: the real and complex
# eigenvalues of A^{-1}, and a real T that block-diagonalizes it (computed, not copied).
# With T = [v_real, Re v, Im v] for eigenvectors v_real and v (eigenvalue lam), the
# complex block acts on (W_2 + i W_3) as multiplication by conj(lam).
_EIG, _V = np.linalg.eig(np.linalg.inv(_A))
_ORDER = np.argsort(np.abs(_EIG.imag))
_EIG, _V = _EIG[_ORDER], _V[:, _ORDER]
_MU_REAL = float(_EIG[0].real)
_MU_COMPLEX = complex(np.conj(_EIG[1]))
_T = np.stack([_V[:, 0].real, _V[:, 1].real, _V[:, 1].imag], axis=1)
_TI = np.linalg.inv(_T)
# Error estimate (Hairer & Wanner II, Eq. IV.8.19-8.20): the embedded solution differs by
# (mu_real/h - J)^{-1} (f0 + E Z / h).
_E = np.array([-13.0 - 7.0 * _S6, -13.0 + 7.0 * _S6, -1.0]) / 3.0
# Collocation polynomial u(t0 + x h) = y0 + sum_k x^k (Z^T P)_k, for initial guesses.
_P = np.linalg.solve(np.vander(_NODES, 4, increasing=True)[:, 1:], np.eye(3)).T


def _check_tables():
    """The transformation reproduces A^{-1} (import-time self-check, cheap)."""
    block = np.array([[_MU_REAL, 0, 0], [0, _MU_COMPLEX.real, -_MU_COMPLEX.imag],
                      [0, _MU_COMPLEX.imag, _MU_COMPLEX.real]])
    assert np.allclose(_T @ block @ _TI, np.linalg.inv(_A), rtol=1e-12, atol=1e-12)


_check_tables()


def _eigh(matrix):
    """Eigenvalues and eigenvectors of a symmetric matrix, in LAPACK's order. The input
    is not symmetrized and the pairs are not sorted (nothing here needs either): at
    d = 190 on this CPU that takes `eigh` from 6.2 to 4.4 ms (`jax.lax.linalg.eigh`
    defaults, measured; LAPACK reads one triangle)."""
    q, nu = jax.lax.linalg.eigh(matrix, symmetrize_input=False, sort_eigenvalues=False)
    return nu, q


# W's eigenbasis is kept in single precision, with its transpose stored beside it: W only
# approximates J (the Newton iteration's residuals, in float64, decide the answer), so its
# eigenvectors need no more than float32's 1e-7, which halves the state that diffrax
# selects and copies at every step; and `v @ q` is XLA's fast layout on a CPU where
# `v @ q.T` is not (at d = 190 in a solve: 18 against 67 us for three stages, measured).
# The decomposition itself stays float64: float32 eigenvalues (off by 1e-7 of the largest)
# made 844 of 1883 steps rejected on raw breast-cancer features, against 34 of 283.
_BASIS = jnp.float32


def _tracked(p2, c):
    """$-\\frac1n\\sum_i c_i\\langle\\hat a_i, q_k\\rangle^2$ for each eigenvector $q_k$
    (in single precision relative to the largest $c_i$, which cannot overflow)."""
    top = jnp.max(c)
    top = jnp.where(top > 0, top, 1.0)
    return -((c / top).astype(p2.dtype) @ p2).astype(c.dtype) * (top / c.shape[0])


def _to_eigen(v, basis):
    """Coordinates of the rows of `v` in W's eigenbasis."""
    return (v.astype(_BASIS) @ basis["q"]).astype(v.dtype)


def _from_eigen(e, basis):
    """Back from eigen coordinates (the rows of `e`)."""
    return (e.astype(_BASIS) @ basis["qt"]).astype(e.dtype)


class Radau5(diffrax.AbstractImplicitSolver, diffrax.AbstractAdaptiveSolver):
    """Radau IIA of order 5 for `gradflow`'s clocks: L-stable, stiffly accurate, with
    a simplified Newton iteration that reuses one eigendecomposition of the flow's
    Jacobian over many steps and tracks its eigenvalues in between (see the module
    documentation).

    Works with diffrax's `diffeqsolve`, `PIDController`, `SaveAt` (cubic Hermite dense
    output, so `SaveAt(dense=True)` and events work), under `jit`, `vmap`, `lax.map`
    and `shard_map`. Needs a `gradflow.FlowTerm` (what `integrate` passes). The final
    solver state (`SaveAt(solver_state=True)`) counts, over accepted steps, the
    eigendecompositions made (`num_jacobians`) and the Newton iterations
    (`num_newton_iterations`, three vector fields each).

    **Arguments:**

    - `refresh_rate`: make a new eigendecomposition when the last step's Newton
      contraction rate exceeded this (default 0.6; measured in
      `benchmarks/bench_solvers.py`).
    - `refresh_cost`: make one when the Newton iterations in excess of the fewest a step
      has needed since the last decomposition add up to this. Default: estimated from
      the data's shape (90 at n = 400, d = 190, where it changes little; 3, the floor,
      on small data, where it saved 10-25 % of the time: iris, diabetes, breast cancer,
      mixed labels, A/B timing).
    - `root_find_max_steps`: Newton iterations per attempt (default 20: an iteration
      costs about 1/40 of a new eigendecomposition at d = 190, so a slowly
      contracting iteration is let run rather than refreshed; RADAU5's 7 and 0.3 made 7
      decompositions at σ = 10, logistic, to t = 1e30, where 20 and 0.6 make 4,
      measured).
    - `root_finder`: only its tolerances and norm are used (the Newton iteration is this
      solver's own, in the eigenbasis); by default they are the step-size controller's.
    """

    refresh_rate: float = 0.6
    refresh_cost: float | None = None
    root_finder: optx.AbstractRootFinder = diffrax.with_stepsize_controller_tols(
        diffrax.VeryChord)()
    root_find_max_steps: int = 20

    term_structure: ClassVar = diffrax.AbstractTerm
    interpolation_cls: ClassVar[Callable[..., diffrax.AbstractLocalInterpolation]] = (
        diffrax.ThirdOrderHermitePolynomialInterpolation.from_k
    )

    def __check_init__(self):
        if not (0 < self.refresh_rate < 1):
            raise ValueError(f"`refresh_rate` must be in (0, 1); got {self.refresh_rate!r}.")
        if self.refresh_cost is not None and not self.refresh_cost > 0:
            raise ValueError(f"`refresh_cost` must be positive (or None); got "
                             f"{self.refresh_cost!r}.")

    def order(self, terms):
        return 5

    def _refresh_cost(self, args):
        """A new eigendecomposition's cost in Newton iterations (`refresh_cost`, or
        estimated from the data's shape)."""
        if self.refresh_cost is not None:
            return self.refresh_cost
        n, d = args.z.shape
        d = d + 1
        # Gram and coordinates ~ n d^2, eigh ~ d^3, an iteration ~ n d, in proportions
        # measured at n = 400, d = 191 (2.4, 4.4 and 0.15 ms), where this gives 90: twice
        # the time ratio, because 44 made σ = 10 up to 13 % slower there while 90 was
        # neutral (A/B timing, σ = 3-30). Small data get the floor, 3.
        return float(np.clip((n * d**2 / 3e6 + d**3 / 8e5) / (n * d / 5e5), 3.0, 500.0))

    def error_order(self, terms):
        return 4

    def _clock(self, terms):
        return flow_clock(terms, type(self).__name__)

    def _field(self, terms, t, y, args):
        return flat_field(terms, type(self).__name__, t, y, args)

    def _eigen(self, terms, t, y, args, c):
        """Eigendecomposition of the linear part at (t, y) and the squared coordinates
        of the samples in its eigenbasis."""
        gram = self._clock(terms).linear_part(t, y, args, c)
        nu, q = _eigh(gram)
        rows = jnp.concatenate([args.z, args.a[:, None]], axis=1)
        p2 = ((rows @ q[: rows.shape[1]]) ** 2).astype(_BASIS)
        return dict(q=q.astype(_BASIS), qt=q.T.astype(_BASIS), nu_rest=nu - _tracked(p2, c),
                    p2=p2)

    def init(self, terms, t0, t1, y0, args):
        f, c = self._field(terms, t0, y0, args)
        z = jnp.zeros((3,) + f.shape, f.dtype)
        state = dict(f0=f, c0=c, z_prev=z, h_prev=jnp.asarray(t1 - t0, f.dtype),
                     rate=jnp.asarray(1e-3, f.dtype), first_rate=jnp.asarray(1e-3, f.dtype),
                     num_jacobians=jnp.asarray(1),
                     num_newton_iterations=jnp.asarray(0), started=jnp.asarray(False),
                     fewest=jnp.asarray(self.root_find_max_steps), excess=jnp.asarray(0))
        state.update(self._eigen(terms, t0, y0, args, c))
        return state

    def _newton(self, terms, t0, y0, args, h, state, z0, scale, tol, stale):
        """Simplified Newton iteration for the stage increments Z in the eigenbasis of W.

        At most two passes: the first with the current W (refreshed first when `stale`),
        the second, from `z0` again, only after the first failed with a W that was not
        fresh, with a new eigendecomposition. The iterations of a pass run in an inner
        `while_loop` whose carry holds only stage-sized arrays: W (Q, the tracked
        eigenvalues, the samples' coordinates) is loop-invariant there, so no iteration
        copies it (a refresh inside the iteration loop's body did, measured ~0.15 ms an
        iteration at d = 190). Returns (converged, Z, the state with its W, iterations)."""
        flat0, unravel = jax.flatten_util.ravel_pytree(y0)
        times = t0 + jnp.asarray(_NODES) * h
        norm = self.root_finder.norm
        max_iterations = self.root_find_max_steps
        tiny = jnp.finfo(h.dtype).eps
        stage_fields = jax.vmap(lambda t, v: self._field(terms, t, unravel(flat0 + v), args)[0])

        def refresh(state):
            state = dict(state)
            state.update(self._eigen(terms, t0, y0, args, state["c0"]))
            state["num_jacobians"] = state["num_jacobians"] + 1
            state["rate"] = state["first_rate"] = jnp.asarray(1e-3, h.dtype)
            return state

        def iterations(state):
            nu = state["nu_rest"] + _tracked(state["p2"], state["c0"])
            # The first iteration's rate is not measured yet: the last step's, a little
            # more pessimistic (RADAU5's FACCON).
            first_rate = jnp.maximum(state["first_rate"], tiny) ** 0.8
            mu_c = _MU_COMPLEX
            inv_real = 1.0 / (_MU_REAL / h - nu)
            inv_complex = 1.0 / (mu_c / h - nu)

            def body(carry):
                k, w, z = carry["k"], carry["w"], carry["z"]
                g = _TI @ stage_fields(times, z)  # (3, m): transformed fields
                rhs = jnp.stack([g[0] - (_MU_REAL / h) * w[0],
                                 g[1] - (mu_c.real * w[1] - mu_c.imag * w[2]) / h,
                                 g[2] - (mu_c.imag * w[1] + mu_c.real * w[2]) / h])
                e = _to_eigen(rhs, state)
                e_complex = (e[1] + 1j * e[2]) * inv_complex
                dw = _from_eigen(jnp.stack([e[0] * inv_real, e_complex.real, e_complex.imag]),
                                 state)
                size = norm(dw / scale)
                rate = jnp.where(k == 0, first_rate, size / carry["old"])
                measured = jnp.where(k == 0, carry["rate"], rate)
                ok = jnp.isfinite(size) & (rate < 1)
                w = jnp.where(ok, w + dw, w)
                done = ok & ((size == 0) | (rate / (1 - rate) * size < tol))
                slow = (k > 0) & (rate ** (max_iterations - k) / (1 - rate) * size > tol)
                failed = ~done & (~ok | slow | (k + 1 >= max_iterations))
                # after a one-iteration step, the next first iteration is judged with the
                # pessimistic rate, so that the rate is measured again now and then
                return dict(k=k + 1, w=w, z=_T @ w, old=size, done=done, failed=failed,
                            rate=measured, first_rate=jnp.where(k == 0, first_rate, rate))

            init = dict(k=jnp.asarray(0), w=_TI @ z0, z=z0, old=jnp.asarray(1.0, h.dtype),
                        done=jnp.asarray(False), failed=jnp.asarray(False),
                        rate=state["rate"], first_rate=state["first_rate"])
            return jax.lax.while_loop(lambda c: ~c["done"] & ~c["failed"], body, init)

        def one_pass(carry):
            state, fresh = carry["state"], carry["fresh"]
            renew = carry["renew"]
            state = jax.lax.cond(renew, refresh, lambda s: dict(s), state)
            fresh = fresh | renew
            out = iterations(state)
            state = dict(state, rate=out["rate"], first_rate=out["first_rate"])
            return dict(state=state, fresh=fresh, renew=out["failed"] & ~fresh,
                        done=out["done"], z=out["z"],
                        iterations=carry["iterations"] + out["k"], passes=carry["passes"] + 1)

        init = dict(state=state, fresh=jnp.asarray(False), renew=jnp.asarray(stale),
                    done=jnp.asarray(False), z=z0, iterations=jnp.asarray(0),
                    passes=jnp.asarray(0))
        out = jax.lax.while_loop(
            lambda c: (c["passes"] == 0) | (~c["done"] & c["renew"]), one_pass, init)
        return out["done"], out["z"], out["state"], out["iterations"]

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        state = dict(solver_state)
        flat0, unravel = jax.flatten_util.ravel_pytree(y0)
        h = t1 - t0
        if made_jump is not False:
            f, c = jax.lax.cond(
                made_jump, lambda: self._field(terms, t0, y0, args),
                lambda: (state["f0"], state["c0"]),
            )
            state["f0"], state["c0"] = f, c
        rtol, atol = self.root_finder.rtol, self.root_finder.atol
        scale = atol + rtol * jnp.abs(flat0)
        eps = jnp.finfo(flat0.dtype).eps
        tol = jnp.maximum(10 * eps / rtol, jnp.minimum(0.03, jnp.sqrt(rtol)))
        # Initial guess: the previous step's collocation polynomial, extrapolated -- except
        # once the flow has settled (the last step moved y by less than one tolerance
        # unit), where Z = 0 is the better guess: the field vanishes at the fixed point,
        # while the extrapolated cubic amplifies the last increment by up to (1 + h/h_prev)^3
        # and leaves a Newton residual of the tolerance's size in every step, a bias that
        # does not decay (measured on iris and diabetes at rtol 1e-4: 2e-7 away from the
        # optimum at t = 1e8 with extrapolation, 1e-10 with this rule, same step count).
        x = 1.0 + (h / state["h_prev"]) * _NODES
        powers = jnp.stack([x, x**2, x**3], axis=1)  # (3 nodes, 3 powers)
        extrapolated = (powers @ _P.T) @ state["z_prev"] - state["z_prev"][2]
        settled = self.root_finder.norm(state["z_prev"][2] / scale) < 1
        z0 = jnp.where(state["started"] & ~settled, extrapolated, jnp.zeros_like(extrapolated))
        z0 = jnp.where(jnp.all(jnp.isfinite(z0)), z0, jnp.zeros_like(z0))
        stale = ~(state["rate"] <= self.refresh_rate)  # NaN also refreshes
        stale = stale | (state["excess"] >= self._refresh_cost(args))
        jacobians = state["num_jacobians"]
        done, z, state, iterations = self._newton(
            terms, t0, y0, args, h, state, z0, scale, tol, stale)
        # Iterations beyond the fewest a step has needed since the last decomposition,
        # summed: once they would have paid for a new one, make it (amortized refresh).
        refreshed = state["num_jacobians"] > jacobians
        fewest = jnp.where(refreshed, self.root_find_max_steps,
                           jnp.minimum(state["fewest"], iterations))
        excess = jnp.where(refreshed, 0, state["excess"] + iterations - fewest)
        state.update(fewest=fewest, excess=excess)

        flat1 = flat0 + z[2]
        y1 = unravel(flat1)
        # Error estimate (Hairer & Wanner II, Eq. IV.8.20): (mu_real/h - W)^{-1} applied
        # to f0 + E Z / h, and once more where that is too large (RADAU5's refinement).
        nu = state["nu_rest"] + _tracked(state["p2"], state["c0"])
        inv_real = 1.0 / (_MU_REAL / h - nu)

        def filtered(v):
            return _from_eigen(inv_real * _to_eigen(v, state), state)

        ze = (_E @ z) / h
        error = filtered(state["f0"] + ze)
        scale_err = atol + rtol * jnp.maximum(jnp.abs(flat0), jnp.abs(flat1))
        big = self.root_finder.norm(error / scale_err) >= 1
        error = jax.lax.cond(
            big & done,
            lambda: filtered(self._field(terms, t0, unravel(flat0 + error), args)[0] + ze),
            lambda: error,
        )
        error = jnp.where(done, error, jnp.inf)
        f1, c1 = self._field(terms, t1, y1, args)
        dense_info = dict(y0=y0, y1=y1, k=jax.tree.map(
            lambda a, b: jnp.stack([a, b]), unravel(h * state["f0"]), unravel(h * f1)))
        state.update(f0=f1, c0=c1, z_prev=z, h_prev=jnp.asarray(h, h.dtype),
                     rate=jnp.where(done, state["rate"], jnp.inf),
                     started=jnp.asarray(True),
                     num_newton_iterations=state["num_newton_iterations"] + iterations)
        return y1, unravel(error), dense_info, state, diffrax.RESULTS.successful

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)
