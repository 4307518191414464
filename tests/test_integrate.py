import diffrax
import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import linf_rel, minimize_ltilde, scipy_log, scipy_physical

import gradflow as gf
from gradflow import _integrate

CLOCKS = ["physical", "conformal", "log"]
T_CHECK = np.array([1e4, 1e8, 1e12])
RTOL_RUN = 1e-10  # integrate's tolerance for the agreement checks (issue: rtol 1e-10)
TOL_W = 1e-7  # relative, in w (max-norm)
TOL_B = 1e-7  # absolute, in b


@pytest.fixture(scope="module")
def instance():
    x = 3.0 * np.random.default_rng(0).standard_normal((400, 190))  # λ = 0.475
    return x, gf.Problem(x, loss="logistic", sigma=3.0)


@pytest.fixture(scope="module")
def instance_ref(instance):
    x, _ = instance
    return scipy_log(x, "logistic", T_CHECK)


@pytest.mark.parametrize("clock", CLOCKS)
def test_agrees_with_scipy_on_the_instance(instance, instance_ref, clock):
    _, problem = instance
    w_ref, b_ref = instance_ref
    traj = gf.integrate(problem, 1e12, clock=clock, rtol=RTOL_RUN, saveat=T_CHECK,
                        max_steps=20000)
    np.testing.assert_array_equal(np.asarray(traj.t), T_CHECK)
    for k in range(3):
        assert linf_rel(traj.w[k], w_ref[k]) < TOL_W
        assert abs(float(traj.b[k]) - b_ref[k]) < TOL_B


def test_scipy_references_agree_with_each_other():
    # The log-time reference against a physical-time reference (small problem, t <= 1e4).
    x = 2.0 * np.random.default_rng(5).standard_normal((30, 10))
    ts = np.array([1.0, 100.0, 1e4])
    for loss in ["logistic", "exponential"]:
        w1, b1 = scipy_log(x, loss, ts)
        w2, b2 = scipy_physical(x, loss, ts)
        assert linf_rel(w1, w2) < 1e-9 and np.max(np.abs(b1 - b2)) < 1e-9


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["logistic", "exponential"])
@pytest.mark.parametrize("d", [100, 190, 240])  # λ = 0.25, 0.475, 0.6 at n = 400
def test_agrees_with_scipy_grid(loss, d):
    for sigma in [1.0, 3.0, 10.0]:
        x = sigma * np.random.default_rng(d).standard_normal((400, d))
        problem = gf.Problem(x, loss=loss, sigma=sigma)
        w_ref, b_ref = scipy_log(x, loss, T_CHECK)
        for clock in CLOCKS:
            traj = gf.integrate(problem, 1e12, clock=clock, rtol=RTOL_RUN, saveat=T_CHECK,
                                max_steps=100_000)
            for k in range(3):
                assert linf_rel(traj.w[k], w_ref[k]) < TOL_W, (sigma, clock, k)
                assert abs(float(traj.b[k]) - b_ref[k]) < TOL_B, (sigma, clock, k)


@pytest.fixture(scope="module")
def three_clocks(instance):
    _, problem = instance
    return {c: gf.integrate(problem, 1e12, clock=c, rtol=RTOL_RUN, max_steps=20000)
            for c in CLOCKS}


def test_clocks_agree_at_every_saved_time(three_clocks):
    ref = three_clocks["log"]
    assert ref.t.shape == (201,)
    for clock in ["physical", "conformal"]:
        tr = three_clocks[clock]
        np.testing.assert_array_equal(np.asarray(tr.t), np.asarray(ref.t))
        np.testing.assert_allclose(tr.w, ref.w, rtol=0, atol=TOL_W * np.max(np.abs(ref.w)))
        np.testing.assert_allclose(tr.b, ref.b, rtol=0, atol=TOL_B)


def test_invariants(three_clocks):
    for tr in three_clocks.values():
        loss = tr.train_loss
        assert np.all(np.diff(loss) <= 1e-13 * loss[:-1])  # non-increasing along the flow
        assert np.all(np.diff(np.asarray(tr.t)) > 0)
    tau = np.asarray(three_clocks["conformal"].clock_t)
    assert tau[0] == 0 and np.all(np.diff(tau) > 0)  # t strictly increasing in τ
    s = np.asarray(three_clocks["log"].clock_t)
    np.testing.assert_allclose(s, np.log1p(np.asarray(three_clocks["log"].t)), rtol=1e-14)


def test_default_outputs(three_clocks):
    tr = three_clocks["log"]
    assert tr.w.shape == (201, 190) and tr.b.shape == (201,)
    for name in ["train_loss", "train_accuracy", "test_loss", "test_accuracy"]:
        v = getattr(tr, name)
        assert v.shape == (201,) and np.all(np.isfinite(v))
    assert tr.stats["rtol"] == RTOL_RUN and tr.stats["clock"] == "log"
    assert tr.stats["solver"] == type(_integrate.default_solver(tr.problem)).__name__
    assert tr.successful and tr.message == ""
    # grokking instance: trains first, generalizes later
    assert tr.train_accuracy[-1] == 1.0 and tr.test_accuracy[-1] > 0.99


@pytest.mark.parametrize("loss", ["logistic", "exponential"])
def test_horizon_1e30(instance, loss):
    x, _ = instance
    problem = gf.Problem(x, loss=loss, sigma=3.0)
    traj = gf.integrate(problem, 1e30)  # default options
    assert traj.successful and float(traj.t[-1]) == 1e30
    assert traj.stats["num_accepted_steps"] <= 3000
    assert np.all(np.isfinite(np.asarray(traj.w)))
    w_star, log_lt = minimize_ltilde(x)
    assert abs(float(traj.b[-1]) - np.log(1e30) - log_lt) < 1e-8  # docs/mathematics.md §7
    assert linf_rel(traj.w[-1], w_star) < 1e-7


def test_compiled_once_per_shape():
    rng = np.random.default_rng(1)
    p1 = gf.Problem(rng.standard_normal((20, 7)), sigma=1.0)
    p2 = gf.Problem(rng.standard_normal((20, 7)), sigma=2.0)
    gf.integrate(p1, 10.0)
    before = _integrate._TRACE_COUNT["solve"]
    gf.integrate(p2, 100.0, rtol=1e-9)
    gf.integrate(p1, 5.0, y0=(np.ones(7), 0.5))
    assert _integrate._TRACE_COUNT["solve"] == before


def test_population_fields_must_be_arrays_or_static():
    # compiled functions take the problem whole: a field jit cannot take is refused
    # where the problem is made, naming it; a static or numeric field is fine
    class Labelled(gf.GaussianPopulation):
        label: str = "mine"

    class Static(gf.GaussianPopulation):
        label: str = eqx.field(static=True, default="mine")

    class Weighted(gf.GaussianPopulation):
        weight: float = 2.0

    x = np.random.default_rng(2).standard_normal((20, 7))
    with pytest.raises(ValueError, match=r"`population` has a field '\.label' of type str"):
        gf.Problem(x, population=Labelled(1.0))

    class NamedLoss(gf.LogisticLoss):
        note: str = "mine"

    with pytest.raises(ValueError, match=r"`loss` has a field '\.note' of type str"):
        gf.Problem(x, loss=NamedLoss())
    plain = gf.integrate(gf.Problem(x, sigma=1.0), 1e6)
    for population in (Static(1.0), Weighted(1.0)):
        traj = gf.integrate(gf.Problem(x, population=population), 1e6)
        np.testing.assert_array_equal(np.asarray(traj.w), np.asarray(plain.w))
        assert float(traj.test_loss[-1]) == float(plain.test_loss[-1])


def test_max_steps_reached_returns_what_it_reached():
    p = gf.gaussian_problem(20, 7, 1.0, seed=0)
    tr = gf.integrate(p, 1e12, max_steps=20, throw=False)
    assert tr.result == gf.RESULTS.max_steps_reached and not tr.successful
    assert "max_steps" in tr.message
    assert 0 < float(tr.t[-1]) < 1e12 and np.all(np.isfinite(np.asarray(tr.w)))
    # the last row is the state where it stopped: it matches a full solve at that time
    full = gf.integrate(p, float(tr.t[-1]), saveat=[float(tr.t[-1])], rtol=1e-10)
    assert linf_rel(tr.w[-1], full.w[-1]) < 1e-5
    with pytest.raises(gf.IntegrationError, match="max_steps") as err:
        gf.integrate(p, 1e12, max_steps=20)
    assert isinstance(err.value, RuntimeError)
    assert err.value.trajectory.t.shape == tr.t.shape


def test_conformal_max_steps():
    p = gf.gaussian_problem(20, 7, 1.0, seed=0)
    tr = gf.integrate(p, 1e12, clock="conformal", max_steps=20, throw=False)
    assert tr.result == gf.RESULTS.max_steps_reached
    assert 0 < float(tr.t[-1]) < 1e12


def test_nonfinite_state_is_reported():
    # exponential loss from b = -800: the gradient weights e^{800} overflow at once.
    p = gf.Problem(np.ones((4, 2)), loss="exponential")
    tr = gf.integrate(p, 10.0, clock="physical", y0=(np.zeros(2), -800.0), throw=False)
    assert tr.result == gf.RESULTS.nonfinite_state
    with pytest.raises(gf.IntegrationError, match="non-finite"):
        gf.integrate(p, 10.0, clock="physical", y0=(np.zeros(2), -800.0))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(t_max=0.0), "`t_max`"),
        (dict(t_max=-1.0), "`t_max`"),
        (dict(t_max=np.inf), "`t_max`"),
        (dict(t_max=np.nan), "`t_max`"),
        (dict(t_max=5e-324), "`t_max` must be at least"),  # failed inside numpy's geomspace
        (dict(y0=(np.zeros(2) + 1j, 0.0)), "`y0` must be real"),
        (dict(rtol=0.0), "`rtol`"),
        (dict(atol=-1.0), "`atol`"),
        # tolerances without meaning: rtol=1.0 returned b = 3.8e7 (the flow: 18.1) as a
        # success; below 1e-14 a solve can only run out of steps
        (dict(rtol=1.0), r"`rtol` must be in \[1e-14, 0.01\]"),
        (dict(rtol=0.05), "`rtol`"),
        (dict(rtol=1e-15), "`rtol`"),
        (dict(rtol="tight"), "`rtol`"),
        (dict(atol=10.0), r"`atol` must be in \(0, 0.01\]"),
        (dict(atol=0.0), "`atol`"),
        (dict(clock="lunar"), "clock"),
        (dict(y0=(np.zeros(3), 0.0)), "`y0`"),
        (dict(y0=(np.zeros(2), np.nan)), "`y0`"),
        (dict(y0="zero"), "`y0`"),
        (dict(saveat=[2.0, 1.0]), "`saveat`"),
        (dict(saveat=[0.0, 20.0]), "`saveat`"),
        (dict(max_steps=0), "`max_steps`"),
        (dict(solver="tsit5"), "`solver`"),
    ],
)
def test_bad_arguments(kwargs, match):
    p = gf.Problem(np.ones((3, 2)))
    kwargs = {"t_max": 10.0, **kwargs}
    t_max = kwargs.pop("t_max")
    with pytest.raises(ValueError, match=match):
        gf.integrate(p, t_max, **kwargs)
    with pytest.raises(ValueError, match="problem"):
        gf.integrate(np.ones((3, 2)), 10.0)


def test_conformal_needs_a_bias():
    p = gf.two_gaussian_problem(10, 3, mu=1.0, sigma_a=0.0, sigma_b=1.0)
    with pytest.raises(ValueError, match="conformal"):
        gf.integrate(p, 10.0, clock="conformal")


def test_other_solver_and_recorded():
    p = gf.gaussian_problem(20, 7, 1.0, seed=0)
    tr = gf.integrate(p, 100.0, solver=diffrax.Dopri5(), saveat=[0.0, 100.0])
    ref = gf.integrate(p, 100.0, saveat=[0.0, 100.0], rtol=1e-11)
    assert tr.stats["solver"] == "Dopri5"
    assert linf_rel(tr.w[-1], ref.w[-1]) < 1e-6
    np.testing.assert_array_equal(np.asarray(tr.w[0]), np.zeros(7))
    assert isinstance(tr.w, jnp.ndarray)


@pytest.mark.parametrize("max_steps", [150, 65_536])
def test_saved_times_are_the_requested_times_exactly(max_steps):
    # In log time the saved times come back through expm1(log1p(t)), which rounds; the
    # trajectory reports the requested times bit for bit, whether the solve finished or
    # stopped early (then followed by the last state reached, later than the rows).
    ts = np.array([0.0, 0.1, 0.3, 1.7, 3.3, 29.9, 1e3 / 3, 7e5 / 3, 1e9 / 7])
    assert np.any(np.expm1(np.log1p(ts)) != ts)  # the rounding this guards against
    traj = gf.integrate(gf.gaussian_problem(40, 10, 3.0, seed=1), ts[-1], clock="log",
                        saveat=ts, max_steps=max_steps, throw=False)
    t = np.asarray(traj.t)
    if traj.successful:
        np.testing.assert_array_equal(t, ts)
    else:
        k = t.size - 1
        assert 4 <= k < ts.size and ts[k - 1] < t[-1] < ts[k]  # past 1.7 and 29.9
        np.testing.assert_array_equal(t[:-1], ts[:k])
