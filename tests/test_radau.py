"""`Radau5`, the stiff solver: order, agreement with independent references, reuse of
its eigendecomposition, dense output and events, and the default rules of `integrate`."""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
import pytest
from helpers import logistic_optimum, reference_solution

import gradflow as gf
from gradflow._flow import ConformalState


def _fixed_step(model, clock, t_end, steps, solver):
    """`steps` equal steps of `clock` from t = 0 to `t_end`, final (w, b)."""
    problem = model.problem
    y0 = gf.Params(jnp.zeros(1), jnp.asarray(0.0))
    s0, s1 = clock.initial_time(), clock.time_of(t_end)
    sol = diffrax.diffeqsolve(
        clock.term(), solver, s0, s1, (s1 - s0) / steps, clock.initial_state(problem, y0),
        args=problem, stepsize_controller=diffrax.ConstantStepSize(), max_steps=steps + 1,
    )
    _, params = clock.physical(sol.ts[-1], jax.tree.map(lambda v: v[-1], sol.ys))
    return float(params.w[0]), float(params.b)


@pytest.mark.parametrize("clock", [gf.PhysicalTime(), gf.LogTime()], ids=lambda c: c.name)
def test_order_five_on_the_two_point_closed_form(clock):
    # Radau IIA with 3 stages has order 5: halving the step divides the error by ~32.
    model = gf.TwoPointModel(0.3, 2.0)
    t_end = 3.0
    exact = model.physical(np.array([t_end]))
    tight = diffrax.VeryChord(rtol=1e-14, atol=1e-14, norm=optx.rms_norm)
    solver = gf.Radau5(root_finder=tight, root_find_max_steps=20)
    errors = []
    for steps in (8, 16, 32):
        w, b = _fixed_step(model, clock, t_end, steps, solver)
        errors.append(max(abs(w - exact.w[0]), abs(b - exact.b[0])))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 1e-8, errors
    assert np.all((orders > 4.4) & (orders < 6.0)), (errors, orders)


def _cases():
    rng = np.random.default_rng(3)
    x = 10.0 * rng.standard_normal((40, 18))
    y = np.where(rng.random(40) < 0.5, -1.0, 1.0)
    mixed = gf.Problem(0.2 * x + 1.0 * y[:, None], y)
    yield "paper sigma=10 log", gf.Problem(x, sigma=10.0), 1e12, "log"
    yield "paper sigma=10 physical", gf.Problem(x, sigma=10.0), 1e12, "physical"
    yield "exponential log", gf.Problem(x, loss="exponential", sigma=10.0), 1e12, "log"
    yield "mixed labels physical", mixed, 1e8, "physical"
    yield "mixed labels log", mixed, 1e8, "log"
    yield "no bias physical", gf.Problem(x, y, fit_bias=False), 1e8, "physical"


@pytest.mark.parametrize("name,problem,t_max,clock", list(_cases()), ids=lambda v: str(v)[:22])
def test_agrees_with_scipy_reference(name, problem, t_max, clock):
    # reference: scipy Radau at rtol 1e-12 on equations written apart in numpy. Physical
    # time carries b ~ log t absolutely (it loses digits at long horizons): a tighter rtol.
    w_ref, b_ref = reference_solution(problem, t_max)
    rtol = 1e-6 if clock == "log" else 1e-8
    traj = gf.integrate(problem, t_max, clock=clock, solver=gf.Radau5(), rtol=rtol,
                        saveat=[t_max])
    scale = max(np.abs(w_ref).max(), 1.0)
    assert np.abs(np.asarray(traj.w[-1]) - w_ref).max() / scale < 1e-7
    assert abs(float(traj.b[-1]) - b_ref) < 1e-7


def test_reuses_its_eigendecomposition():
    # σ = 10: stiff; one eigendecomposition serves many steps
    problem = gf.gaussian_problem(200, 95, 10.0, seed=1)
    traj = gf.integrate(problem, 1e12, solver=gf.Radau5(), saveat=[1e12])
    st = traj.stats
    assert st["num_jacobians"] * 5 <= st["num_accepted_steps"], st
    assert st["num_newton_iterations"] <= 6 * st["num_steps"], st
    # a stricter refresh rule decomposes more often, and gives the same answer
    strict = gf.integrate(problem, 1e12, solver=gf.Radau5(refresh_rate=0.01), saveat=[1e12])
    assert strict.stats["num_jacobians"] > st["num_jacobians"]
    np.testing.assert_allclose(strict.w[-1], traj.w[-1], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("solver, tol", [(gf.Radau5(), 2e-6), (gf.BDF(), 1e-5)],
                         ids=["Radau5", "BDF"])
def test_dense_output_and_events_in_the_conformal_clock(solver, tol):
    # the conformal clock stops on an event and reads saved points off the dense output
    # (both stiff solvers; BDF's order-varying interpolant is the looser)
    problem = gf.gaussian_problem(60, 28, 3.0, seed=2)
    ts = np.geomspace(1e-2, 1e8, 9)
    ref = gf.integrate(problem, 1e8, clock="log", solver=diffrax.Dopri8(), rtol=1e-12,
                       saveat=ts)
    traj = gf.integrate(problem, 1e8, clock="conformal", solver=solver, rtol=1e-9,
                        saveat=ts)
    np.testing.assert_array_equal(traj.t, ts)
    np.testing.assert_allclose(traj.w, ref.w, rtol=0, atol=tol * np.abs(ref.w).max())
    np.testing.assert_allclose(traj.b, ref.b, rtol=0, atol=tol)


def test_solves_to_the_maximum_likelihood_fit():
    # inseparable data with mixed labels: the flow converges to the optimum, which scipy
    # finds by Newton's method on the same loss
    rng = np.random.default_rng(5)
    y = np.where(rng.random(80) < 0.5, -1.0, 1.0)
    x = rng.standard_normal((80, 4)) * [1.0, 10.0, 0.1, 3.0]
    x[:, 0] += 0.7 * y
    problem = gf.Problem(x, y)
    w_opt, b_opt = logistic_optimum(x, y)
    scale = max(np.abs(w_opt).max(), abs(b_opt))
    assert gf.default_clock(problem).name == "physical"
    traj = gf.integrate(problem, 1e9, saveat=[1e9])  # defaults: physical clock, Radau5
    assert traj.stats["solver"] == "Radau5"
    np.testing.assert_allclose(traj.w[-1], w_opt, rtol=0, atol=1e-8 * scale)
    assert abs(float(traj.b[-1]) - b_opt) < 1e-8
    # A loose tolerance controls the path, not where the flow ends: once settled, the
    # Newton iteration starts from Z = 0 and converges onto the fixed point (starting
    # from the extrapolated polynomial left a bias of the tolerance's size: 7e-7 here).
    loose = gf.integrate(problem, 1e9, saveat=[1e9], rtol=1e-4)
    assert np.abs(np.asarray(loose.w[-1]) - w_opt).max() < 1e-10 * scale
    assert abs(float(loose.b[-1]) - b_opt) < 1e-10 * scale


def test_refreshes_early_where_decompositions_are_cheap():
    # iris versicolor/virginica, raw features, a finite optimum: with the amortized rule
    # (default, a decomposition priced at 3 iterations on data this small) W is renewed
    # more often and the Newton iteration runs less (measured 2 -> 11 decompositions,
    # 499 -> 351 iterations at rtol 1e-6); both end on the optimum.
    from sklearn import datasets

    iris = datasets.load_iris()
    keep = iris.target > 0
    problem = gf.Problem(iris.data[keep], np.where(iris.target[keep] == 1, 1.0, -1.0))
    assert gf.Radau5()._refresh_cost(problem) == 3.0
    assert gf.Radau5()._refresh_cost(gf.gaussian_problem(400, 190, 1.0)) > 30
    amortized = gf.integrate(problem, 1e8, solver=gf.Radau5(), saveat=[1e8])
    rate_only = gf.integrate(problem, 1e8, solver=gf.Radau5(refresh_cost=1e9), saveat=[1e8])
    a, r = amortized.stats, rate_only.stats
    assert a["num_jacobians"] > 2 * r["num_jacobians"], (a, r)
    assert a["num_newton_iterations"] < 0.85 * r["num_newton_iterations"], (a, r)
    w_opt, b_opt = logistic_optimum(np.asarray(problem.x), np.asarray(problem.y))
    for traj in (amortized, rate_only):
        np.testing.assert_allclose(traj.w[-1], w_opt, rtol=0, atol=1e-8 * np.abs(w_opt).max())
        assert abs(float(traj.b[-1]) - b_opt) < 1e-8 * max(abs(b_opt), 1.0)


def test_default_rules():
    paper = gf.gaussian_problem(100, 40, 1.0, seed=0)
    assert gf.default_clock(paper).name == "log"  # separable by the bias alone
    assert isinstance(gf.default_solver(paper), diffrax.Tsit5)  # bound 0.25(40+1) < 1500
    mild = gf.gaussian_problem(100, 40, 5.0, seed=0)  # bound 0.25(25*40+1) < 1500
    assert isinstance(gf.default_solver(mild), diffrax.Tsit5)
    stiff = gf.gaussian_problem(100, 40, 20.0, seed=0)  # bound 0.25(400*40+1) > 1500
    assert isinstance(gf.default_solver(stiff), gf.Radau5)
    assert isinstance(gf.default_solver(stiff, gf.ConformalTime()), diffrax.Tsit5)
    rng = np.random.default_rng(0)
    y = np.where(rng.random(50) < 0.5, -1.0, 1.0)
    separable = gf.Problem(rng.standard_normal((50, 3)) + 4.0 * y[:, None], y)
    assert gf.default_clock(separable).name == "log"
    assert isinstance(gf.default_solver(separable), gf.Radau5)
    traj = gf.integrate(stiff, 1e6, saveat=[1e6])
    assert (traj.stats["solver"], traj.stats["rtol"]) == ("Radau5", 1e-6)


def test_explicit_solver_out_of_steps_suggests_the_stiff_solver():
    rng = np.random.default_rng(5)
    y = np.where(rng.random(60) < 0.5, -1.0, 1.0)
    problem = gf.Problem(rng.standard_normal((60, 3)) * [1.0, 30.0, 1.0] + 0.3 * y[:, None], y)
    with pytest.raises(gf.IntegrationError, match="Radau5"):
        gf.integrate(problem, 1e8, solver=diffrax.Tsit5(), max_steps=2000)


def test_needs_a_flow_term_and_valid_options():
    with pytest.raises(ValueError, match="refresh_rate"):
        gf.Radau5(refresh_rate=1.5)
    with pytest.raises(ValueError, match="refresh_cost"):
        gf.Radau5(refresh_cost=0.0)
    problem = gf.gaussian_problem(10, 3, 1.0)
    y0 = gf.Params(jnp.zeros(3), jnp.asarray(0.0))
    term = diffrax.ODETerm(gf.PhysicalTime().vector_field)
    with pytest.raises(ValueError, match="FlowTerm"):
        diffrax.diffeqsolve(term, gf.Radau5(), 0.0, 1.0, None, y0, args=problem,
                            stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-8))


def test_a_failed_newton_iteration_refreshes_its_eigenbasis():
    # Separable real data (iris setosa against the rest, raw features) in log time: the
    # Jacobian turns as the margins grow. Refreshing W within a step whose Newton
    # iteration failed keeps rejections rare; rejecting the step instead (diffrax then
    # drops the solver state, and the small steps that follow converge fast enough never
    # to trigger a refresh) left W stale for good: 68 of 206 steps rejected.
    from sklearn import datasets

    iris = datasets.load_iris()
    problem = gf.Problem(iris.data, np.where(iris.target == 0, 1.0, -1.0))
    traj = gf.integrate(problem, 1e30, clock="log", solver=gf.Radau5(), rtol=1e-6,
                        saveat=[1e30])
    assert traj.stats["num_rejected_steps"] <= 0.1 * traj.stats["num_steps"]
    assert traj.stats["num_steps"] < 150


def test_runs_under_vmap_and_lax_map():
    problems = [gf.gaussian_problem(30, 12, 10.0, seed=k) for k in range(3)]
    singles = [gf.integrate(p, 1e8, solver=gf.Radau5(), saveat=[1e8]) for p in problems]
    for batch_size in (1, 3):  # lax.map, and vmap over groups of 3
        ens = gf.ensemble(problems, 1e8, solver=gf.Radau5(), saveat=[1e8],
                          batch_size=batch_size, devices=1)
        for k, single in enumerate(singles):
            # the same steps, to rounding: a batched program is compiled (fused,
            # vectorized) differently, and its last digits travel through ~60 steps (seen:
            # 1e-11); a different solve would differ at the tolerance, 1e-6
            assert ens.num_steps[k] == single.stats["num_steps"]
            np.testing.assert_allclose(ens.w[k, -1], single.w[-1], rtol=1e-10, atol=1e-10)


def test_conformal_state_linear_part_pads_q():
    problem = gf.gaussian_problem(10, 3, 1.0)
    state = ConformalState(gf.Params(jnp.zeros(3) + 0.1, jnp.asarray(0.5)), jnp.asarray(0.2))
    _, c = gf.ConformalTime().field_and_curvature(0.0, state, problem)
    lin = np.asarray(gf.ConformalTime().linear_part(0.0, state, problem, c))
    assert lin.shape == (5, 5) and lin[4, 4] == pytest.approx(-np.exp(0.5 - 0.2))


def test_single_precision_eigenbasis_tracks_the_jacobian():
    # W = Q diag(nu) Q^T is kept in float32 (it only approximates J); its tracked
    # eigenvalues nu_k = q_k^T J q_k must follow J to float32's digits when the
    # curvatures change, and stay finite for curvatures far beyond float32's range.
    from gradflow._radau import _tracked

    problem = gf.gaussian_problem(60, 20, 3.0, seed=2)
    clock, solver = gf.PhysicalTime(), gf.Radau5()
    y = gf.Params(jnp.zeros(20) + 0.05, jnp.asarray(0.1))
    _, c = clock.field_and_curvature(0.0, y, problem)
    basis = solver._eigen(clock.term(), 0.0, y, problem, c)
    q64 = np.asarray(basis["q"], dtype=np.float64)
    assert basis["q"].dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(basis["qt"]), np.asarray(basis["q"]).T)
    jac = np.asarray(clock.jacobian(0.0, y, problem))
    nu = np.asarray(basis["nu_rest"] + _tracked(basis["p2"], c))
    scale = np.abs(jac).max()
    np.testing.assert_allclose(q64 @ np.diag(nu) @ q64.T, jac, atol=1e-6 * scale)
    # other curvatures (another point): the tracked values are the diagonal of Q^T J Q
    c2 = c * (1.0 + 0.5 * np.sin(np.arange(c.shape[0])))
    jac2 = np.asarray(clock.linear_part(0.0, y, problem, c2))
    nu2 = np.asarray(basis["nu_rest"] + _tracked(basis["p2"], c2))
    np.testing.assert_allclose(nu2, np.diag(q64.T @ jac2 @ q64), atol=1e-6 * scale)
    # curvatures of 1e300 (log time far out): scaled before float32, no overflow
    big = np.asarray(_tracked(basis["p2"], c * 1e300))
    np.testing.assert_allclose(big, 1e300 * np.asarray(_tracked(basis["p2"], c)), rtol=1e-6)


def test_single_precision_basis_keeps_ill_conditioned_data_cheap():
    # Raw breast-cancer features (scales 1e-3 to 1e3; separable, log clock, to 1e8).
    # Rounding Q to float32 leaves the step sequence as in float64 here; a float32
    # eigendecomposition as well (eigenvalues off by 1e-7 of the largest) made 844 of
    # 1883 steps rejected and 280 decompositions, against 34 of 283 and 10 (24 with the
    # amortized refresh rule, which prices a decomposition at 3 iterations here).
    from sklearn import datasets

    data = datasets.load_breast_cancer()
    problem = gf.Problem(data.data, np.where(data.target == 1, 1.0, -1.0))
    traj = gf.integrate(problem, 1e8, saveat=[1e8])
    st = traj.stats
    assert st["solver"] == "Radau5" and st["clock"] == "log"
    assert st["num_rejected_steps"] <= 0.2 * st["num_steps"], st
    assert st["num_jacobians"] <= 40, st
