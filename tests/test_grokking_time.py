"""`grokking_time` (events on the flow) against the two-point model's closed forms and
§10's prediction, and `grokking_prediction` (docs/mathematics.md §8, §10)."""

import math

import numpy as np
import pytest
import scipy.optimize
import scipy.special as sc

import gradflow as gf
from gradflow._analysis import _grokking_time as gt_module

#: Event times against the closed-form crossing times (rtol 1e-10 solve, Newton events).
RTOL_EVENT = 1e-8
#: The issue: log(t_gen/t_train) against §10 on the two-point model.
ATOL_LOG_RATIO = 1e-4


def _closed_form_crossing(model, fn, tau_max):
    """First tau with fn(w, b) <= 0 along the closed-form solution, and t there."""
    grid = np.linspace(0.0, tau_max, 2001)
    sol = model.conformal(grid)
    vals = fn(sol.w, sol.b)
    k = int(np.argmax(vals <= 0))
    assert k > 0 and vals[k] <= 0

    def f(tau):
        s = model.conformal(np.array([tau]))
        return float(fn(s.w, s.b)[0])

    tau = scipy.optimize.brentq(f, grid[k - 1], grid[k], xtol=1e-14, rtol=1e-15)
    return tau, float(model.conformal(np.array([tau])).t[0])


def _log_train(model):
    s, a = model.sigma, model.a
    return lambda w, b: -b + np.logaddexp(-s * w, -s * a * w) - math.log(2.0)


def _log_gen(model):
    return lambda w, b: -b + 0.5 * (model.sigma * w) ** 2


@pytest.fixture(scope="module")
def model():
    return gf.TwoPointModel(0.45, 4.0)


@pytest.fixture(scope="module")
def measured(model):
    return gf.grokking_time(model, np.array([1e-2, 1e-4]), accuracy=0.95)


@pytest.mark.parametrize("k,eps", [(0, 1e-2), (1, 1e-4)])
def test_event_times_match_closed_form(model, measured, k, eps):
    log_eps = math.log(eps)
    tau_tr, t_tr = _closed_form_crossing(model, lambda w, b: _log_train(model)(w, b) - log_eps,
                                         40.0)
    tau_gen, t_gen = _closed_form_crossing(model, lambda w, b: _log_gen(model)(w, b) - log_eps,
                                           60.0)
    assert measured.t_train[k] == pytest.approx(t_tr, rel=RTOL_EVENT)
    assert measured.t_gen[k] == pytest.approx(t_gen, rel=RTOL_EVENT)
    assert measured.tau_train[k] == pytest.approx(tau_tr, rel=RTOL_EVENT)
    assert measured.tau_gen[k] == pytest.approx(tau_gen, rel=RTOL_EVENT)
    assert measured.log_ratio[k] == pytest.approx(math.log(t_gen / t_tr), abs=1e-8)


def test_accuracy_event_matches_closed_form(model, measured):
    level = 0.95
    sigma = model.sigma
    tau, t = _closed_form_crossing(
        model, lambda w, b: level - sc.ndtr(b / (sigma * np.abs(w) + 1e-300)), 40.0)
    assert measured.reached_accuracy and measured.level == level
    assert measured.t_accuracy == pytest.approx(t, rel=RTOL_EVENT)
    assert measured.tau_accuracy == pytest.approx(tau, rel=RTOL_EVENT)


@pytest.mark.parametrize("lam,sigma", [(0.45, 10.0), (0.49, 10.0), (0.499, 20.0)])
def test_two_point_ratio_matches_section_10(lam, sigma):
    model = gf.TwoPointModel(lam, sigma)
    pred = gf.grokking_prediction(model, accuracy=1e-6)
    assert pred.log_ratio == pytest.approx(model.log_ratio_limit, rel=1e-12)
    assert pred.delta_tau == pytest.approx(model.delta_tau_limit, rel=1e-12)
    assert pred.h1 == pytest.approx(model.h1, rel=1e-7)
    assert -pred.relaxation_exponent == pytest.approx(model.log_rate, rel=1e-7)
    res = gf.grokking_time(model, log_eps=pred.log_eps - np.log(10.0) * np.array([0.0, 3.0]),
                           accuracy=None, t_max=math.inf)
    assert np.all(np.abs(res.log_ratio - model.log_ratio_limit) < ATOL_LOG_RATIO)
    # Δτ is ε-independent and = log ratio / L~* (docs/mathematics.md §10, not the paper's Eq. 41)
    assert np.all(np.abs(res.delta_tau - model.delta_tau_limit)
                  < ATOL_LOG_RATIO / model.ltilde_star)


def test_horizon_beyond_float_range():
    # λ = 0.499, σ = 10: t_train = e^1000 and t_gen = e^{1000 + 19.9}; log times stay exact.
    model = gf.TwoPointModel(0.499, 10.0)
    res = gf.grokking_time(model, log_eps=-1000.0, accuracy=None, t_max=math.inf)
    assert res.successful and np.isinf(res.t_gen) and np.isinf(res.t_train)
    assert float(res.log_t_train) == pytest.approx(1000.0 + model.log_ltilde_star
                                                   - math.log(model.ltilde_star), abs=1e-6)
    assert float(res.log_ratio) == pytest.approx(model.log_ratio_limit, abs=ATOL_LOG_RATIO)
    assert res.stats["num_steps"] < 2000


def test_array_eps_equals_scalar_calls(model):
    both = gf.grokking_time(model, [1e-3, 1e-6], accuracy=None)
    one = gf.grokking_time(model, 1e-6, accuracy=None)
    assert both.t_gen.shape == (2,) and one.t_gen.shape == ()
    assert float(one.t_gen) == pytest.approx(both.t_gen[1], rel=1e-9)
    assert float(one.tau_train) == pytest.approx(both.tau_train[1], rel=1e-9)


def test_compiled_once_per_shape(model):
    gf.grokking_time(model, [1e-3, 1e-5], accuracy=None)
    before = gt_module._TRACES["segment"]
    gf.grokking_time(gf.TwoPointModel(0.3, 2.0), [1e-4, 1e-7], accuracy=None)
    assert gt_module._TRACES["segment"] == before


def test_accuracy_from_the_start():
    # σ²λ < 1/1.645: b/(σ|w|) -> 1/(σ²λ) at t -> 0+, so A >= 0.95 from t = 0+.
    res = gf.grokking_time(gf.TwoPointModel(0.45, 0.5))
    assert res.reached_accuracy and res.t_accuracy == 0.0
    assert res.t_train.shape == (0,)


def test_separable_threshold_not_reached():
    model = gf.TwoPointModel(0.7, 3.0)
    res = gf.grokking_time(model, 1e-3, t_max=1e30, throw=False)
    assert res.result == gf.RESULTS.threshold_not_reached and not res.successful
    assert res.reached_train and not res.reached_gen and not res.reached_accuracy
    assert np.isinf(res.t_gen) and np.isfinite(res.t_train)
    with pytest.raises(RuntimeError, match="threshold was not reached") as info:
        gf.grokking_time(model, 1e-3, t_max=1e30)
    assert isinstance(info.value.trajectory, gf.GrokkingTime)
    pred = gf.grokking_prediction(model)
    assert not pred.successful and math.isnan(pred.log_ratio)


def test_logistic_loss_tends_to_the_same_ratio():
    model = gf.TwoPointModel(0.45, 5.0, loss="logistic")
    res = gf.grokking_time(model, [1e-10, 1e-20], accuracy=None)
    assert np.all(np.abs(res.log_ratio / model.log_ratio_limit - 1) < 1e-6)


def test_held_out_test_set():
    # A held-out set of label +1: the prediction uses log mean exp(-w*·x_test).
    rng = np.random.default_rng(3)
    x = 3.0 * rng.standard_normal((40, 12))
    problem = gf.Problem(x, loss="exponential", x_test=3.0 * rng.standard_normal((500, 12)))
    pred = gf.grokking_prediction(problem)
    res = gf.grokking_time(problem, log_eps=pred.log_eps - np.log(10.0) * np.arange(3),
                           accuracy=None)
    assert np.all(np.abs(res.log_ratio / pred.log_ratio - 1) < pred.accuracy)
    with pytest.raises(ValueError, match="accuracy"):
        gf.grokking_time(problem, 1e-3)


def test_prediction_on_gaussian_draw():
    problem = gf.gaussian_problem(100, 40, 5.0, seed=0, loss="exponential")
    pred = gf.grokking_prediction(problem)
    fp = gf.fixed_point(problem)
    st = gf.stability(problem, fp.w)
    d_star = 0.5 * 25.0 * float(fp.norm) ** 2 - float(fp.log_ltilde)
    assert pred.log_ratio == pytest.approx(d_star, rel=1e-9)
    assert pred.delta_tau == pytest.approx(d_star / float(fp.ltilde), rel=1e-9)
    assert pred.relaxation_exponent == pytest.approx(-float(st.h1 / fp.ltilde), rel=1e-7)
    assert 0 < pred.eps <= 1e-2 and pred.log_eps == pytest.approx(math.log(pred.eps))
    tighter = gf.grokking_prediction(problem, accuracy=1e-4)
    assert tighter.log_eps < pred.log_eps


@pytest.mark.parametrize("kwargs,match", [
    (dict(eps=0.0), "eps"), (dict(eps=[1e-3, -1.0]), "eps"), (dict(eps=[[1e-3]]), "eps"),
    (dict(eps=1e-3, log_eps=-3.0), "at most one"), (dict(accuracy=None), "eps"),
    (dict(eps=1e-3, accuracy=1.5), "accuracy"), (dict(eps=1e-3, t_max=-1.0), "t_max"),
    (dict(eps=1e-3, rtol=0.0), "rtol"), (dict(eps=1e-3, rtol=0.5), "rtol"),
    (dict(eps=1e-3, atol=1.0), "atol"), (dict(eps=1e-3, max_steps=0), "max_steps"),
    (dict(eps=1e-3, solver="Tsit5"), "solver"), (dict(eps=1e-3, y0=([0.0, 0.0], 0.0)), "y0"),
])
def test_grokking_time_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gf.grokking_time(gf.TwoPointModel(0.45, 2.0), **kwargs)


def test_validation_of_problem():
    with pytest.raises(ValueError, match="TwoPointModel"):
        gf.grokking_time(np.zeros((3, 2)), 1e-3)
    with pytest.raises(ValueError, match="test metric"):
        gf.grokking_time(gf.Problem(np.ones((3, 2))), 1e-3)
    with pytest.raises(ValueError, match="accuracy"):
        gf.grokking_prediction(gf.TwoPointModel(0.45, 2.0), accuracy=0.0)
    with pytest.raises(ValueError, match="reduced"):
        gf.grokking_prediction(gf.Problem(np.ones((3, 2)), y=[1, -1, 1], sigma=1.0))
