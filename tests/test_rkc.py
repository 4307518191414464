"""`RKC`, the stabilized explicit solver: order, stability interval against its stage
rule, spectral-radius estimate, agreement with independent references, batching and
options."""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import reference_solution

import gradflow as gf
from gradflow._rkc import _DAMPING, stability_bound, stages_for

# A stiff linear system with a smooth solution: y' = L (y - cos t) - sin t with y(0) = 1
# has y = cos t for every L (no stiff transient), and a real spectrum up to 1e4.
_RATES = -jnp.array([1.0, 10.0, 1e3, 1e4])


def _smooth_stiff(t, y, args):
    return _RATES * (y - jnp.cos(t)) - jnp.sin(t)


def test_order_two_with_the_stages_its_rule_asks_on_a_stiff_problem():
    errors = []
    for steps in (25, 50, 100, 200):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(_smooth_stiff), gf.RKC(), 0.0, 1.0, 1.0 / steps, jnp.ones(4),
            stepsize_controller=diffrax.ConstantStepSize(),
            saveat=diffrax.SaveAt(t1=True, solver_state=True))
        errors.append(float(jnp.max(jnp.abs(sol.ys[-1] - np.cos(1.0)))))
        # the power iteration finds the spectral radius (a diagonal system: exactly 1e4)
        np.testing.assert_allclose(sol.solver_state["rho"], 1e4, rtol=1e-10)
        # every step takes the stages of the rule for h * 1.2 * rho, and no more
        expected = int(stages_for(1.2 * 1e4 / steps, 1000))
        assert int(sol.solver_state["num_stages"]) == steps * expected
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 1.85) & (orders < 2.15)), (errors, orders)
    assert errors[-1] < 1e-6


@pytest.mark.parametrize("clock", [gf.PhysicalTime(), gf.LogTime()], ids=lambda c: c.name)
def test_order_two_on_the_two_point_closed_form(clock):
    model = gf.TwoPointModel(0.3, 2.0)
    t_end = 3.0
    exact = model.physical(np.array([t_end]))
    problem, errors = model.problem, []
    y0 = gf.Params(jnp.zeros(1), jnp.asarray(0.0))
    s0, s1 = clock.initial_time(), clock.time_of(t_end)
    for steps in (16, 32, 64):
        sol = diffrax.diffeqsolve(
            clock.term(), gf.RKC(), s0, s1, (s1 - s0) / steps,
            clock.initial_state(problem, y0), args=problem,
            stepsize_controller=diffrax.ConstantStepSize(), max_steps=steps + 1)
        _, params = clock.physical(sol.ts[-1], jax.tree.map(lambda v: v[-1], sol.ys))
        errors.append(max(abs(float(params.w[0]) - exact.w[0]),
                          abs(float(params.b) - exact.b[0])))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 1.7) & (orders < 2.4)), (errors, orders)


def test_the_stage_rule_stays_inside_the_stability_interval():
    # the stability polynomial's interval, read off numerically, against the asymptotic
    # beta_s = (2/3)(s^2 - 1)(1 - 2 eps / 15) of Sommeijer, Shampine & Verwer
    for s in (10, 20, 50):
        asymptotic = 2.0 / 3.0 * (s**2 - 1) * (1 - 2 * _DAMPING / 15)
        assert abs(stability_bound(s) / asymptotic - 1) < 0.01
    # the number of stages chosen for h * rho is always stable there
    for h_rho in np.geomspace(0.1, 1e5, 40):
        assert stability_bound(int(stages_for(h_rho, 10**6))) >= h_rho


def test_estimates_the_spectral_radius_of_the_flow():
    problem = gf.gaussian_problem(100, 40, 10.0, seed=4)
    clock = gf.PhysicalTime()
    params = gf.Params(0.01 * jnp.ones(40), jnp.asarray(0.3))
    state = gf.RKC().init(clock.term(), 0.0, 1.0, params, problem)
    rho = np.abs(np.linalg.eigvalsh(np.asarray(clock.jacobian(0.0, params, problem)))).max()
    # ||J v|| of a unit vector never exceeds the spectral radius, and 20 iterations get close
    assert float(state["rho"]) <= rho * (1 + 1e-12)
    assert float(state["rho"]) >= 0.95 * rho


def _paper_problems():
    x = 10.0 * np.random.default_rng(3).standard_normal((40, 18))
    yield "logistic", gf.Problem(x, sigma=10.0)
    yield "exponential", gf.Problem(x, loss="exponential", sigma=10.0)


@pytest.mark.parametrize("name,problem", list(_paper_problems()), ids=lambda v: str(v)[:12])
def test_agrees_with_scipy_reference_and_dense_output(name, problem):
    # separable data in log time, where RKC's steps stay bounded: scipy Radau at rtol 1e-12
    t_max = 1e12
    w_ref, b_ref = reference_solution(problem, t_max)
    ts = np.array([1e-1, 1e3, 1e6, t_max])
    traj = gf.integrate(problem, t_max, clock="log", solver=gf.RKC(), rtol=1e-8, saveat=ts)
    scale = max(np.abs(w_ref).max(), 1.0)
    assert np.abs(np.asarray(traj.w[-1]) - w_ref).max() / scale < 1e-7
    assert abs(float(traj.b[-1]) - b_ref) < 1e-7
    assert traj.stats["num_stages"] >= 2 * traj.stats["num_accepted_steps"]
    assert traj.stats["num_jvps"] == 2 * traj.stats["num_accepted_steps"]
    # saved points in between come from the dense output (an independent solver there)
    ref = gf.integrate(problem, t_max, clock="log", solver=diffrax.Dopri8(), rtol=1e-12,
                       saveat=ts)
    np.testing.assert_allclose(traj.w, ref.w, rtol=0, atol=1e-6 * np.abs(ref.w).max())
    np.testing.assert_allclose(traj.b, ref.b, rtol=0, atol=1e-6)


def test_a_step_needing_too_many_stages_is_rejected_and_shrunk():
    problem = gf.gaussian_problem(60, 28, 10.0, seed=2)
    free = gf.integrate(problem, 1e6, clock="log", solver=gf.RKC(), rtol=1e-7, saveat=[1e6])
    capped = gf.integrate(problem, 1e6, clock="log", solver=gf.RKC(max_stages=2), rtol=1e-7,
                          saveat=[1e6])
    st = capped.stats
    assert st["num_rejected_steps"] > 0
    assert st["num_stages"] <= 2 * st["num_accepted_steps"]
    assert free.stats["num_stages"] > 2 * free.stats["num_accepted_steps"]
    np.testing.assert_allclose(capped.w[-1], free.w[-1], rtol=1e-5, atol=1e-6)


def test_runs_under_vmap_and_lax_map():
    problems = [gf.gaussian_problem(30, 12, 10.0, seed=k) for k in range(3)]
    singles = [gf.integrate(p, 1e8, clock="log", solver=gf.RKC(), rtol=1e-7, saveat=[1e8])
               for p in problems]
    for batch_size in (1, 3):  # lax.map, and vmap over groups of 3
        ens = gf.ensemble(problems, 1e8, clock="log", solver=gf.RKC(), rtol=1e-7,
                          saveat=[1e8], batch_size=batch_size, devices=1)
        for k, single in enumerate(singles):
            assert ens.num_steps[k] == single.stats["num_steps"]
            np.testing.assert_allclose(ens.w[k, -1], single.w[-1], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kwargs, name", [
    (dict(power_iterations=0), "power_iterations"), (dict(power_iterations=1.5),
                                                     "power_iterations"),
    (dict(safety=0.9), "safety"), (dict(safety=float("inf")), "safety"),
    (dict(max_stages=1), "max_stages")])
def test_validates_its_options(kwargs, name):
    with pytest.raises(ValueError, match=name):
        gf.RKC(**kwargs)
