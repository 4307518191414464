"""The two-point model: closed forms (docs/mathematics.md §11) against `integrate`, fixed points and
the Lotka–Volterra exchange of stability (docs/mathematics.md §9), and the §10 formulas."""

import math

import numpy as np
import pytest
import scipy.special as sc

import gradflow as gf
from gradflow._analysis._one_dim._special import _beta0

#: Closed forms and `integrate` must agree to this, relative, on w, b and t (the issue).
RTOL_AGREE = 1e-8
#: `integrate` tolerance for that comparison (its error is then ~1e-11).
RTOL_INTEGRATE = 1e-12
TAUS = np.geomspace(0.1, 20.0, 9)
Y0 = (0.3, 0.5)  # w0 > 0 so that lam = 0 is not at rest; b0 > 0 keeps b away from 0

# lam = 0 (A, exact 2F1 time), 0.3 (general, below 1/2), 1/2 at sigma = 1 (B, Lambert W),
# 0.75 (general, separable), 1 (C). sigma = 0.6 at lam = 0 keeps w ~ e^{-sigma^2 tau}
# above 1e-4 at tau = 20, where the relative error of `integrate` is still ~1e-11.
CASES = [(0.0, 0.6, "A"), (0.3, 2.0, "general"), (0.5, 1.0, "B"), (0.75, 1.3, "general"),
         (1.0, 1.5, "C")]


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / np.abs(np.asarray(b))))


@pytest.fixture(scope="module")
def solutions():
    out = {}
    for lam, sigma, case in CASES:
        model = gf.TwoPointModel(lam, sigma)
        out[lam] = (model, model.conformal(TAUS, y0=Y0), case)
    return out


@pytest.mark.parametrize("clock", ["log", "physical", "conformal"])
@pytest.mark.parametrize("lam", [c[0] for c in CASES])
def test_closed_form_matches_integrate(solutions, lam, clock):
    model, sol, case = solutions[lam]
    assert sol.case == case
    traj = gf.integrate(model.problem, float(sol.t[-1]), clock=clock, y0=([Y0[0]], Y0[1]),
                        rtol=RTOL_INTEGRATE, saveat=sol.t, max_steps=100_000)
    assert traj.successful
    assert rel(np.asarray(traj.w)[:, 0], sol.w) < RTOL_AGREE
    assert rel(traj.b, sol.b) < RTOL_AGREE
    if clock == "conformal":
        # t and tau agree: the conformal clock's own time at the closed form's t(tau)
        assert rel(traj.clock_t, sol.tau) < RTOL_AGREE
    # t(tau) inverted back by `physical` (Lambert W at lam = 1/2, sigma = 1; explicit at 1)
    back = model.physical(sol.t, y0=Y0)
    assert rel(back.tau, TAUS) < 1e-12
    assert rel(back.w, sol.w) < 1e-12 and rel(back.b, sol.b) < 1e-12


def test_physical_time_is_exact_where_a_closed_form_exists(solutions):
    assert solutions[0.0][1].physical == "exact"  # (A) through 2F1
    assert solutions[0.5][1].physical == "exact"  # (B) at sigma = 1
    assert solutions[1.0][1].physical == "exact"  # (C)
    assert solutions[0.3][1].physical == "quadrature"


def test_lambert_w_case_matches_paper_eq31():
    # lam = 1/2, sigma = 1, w0 = b0 = 0: tau = 2 W0(t/2), w = log(1 + W0), b = log(t/2) +
    # log(1 + 1/W0) (paper Eq. 31, docs/mathematics.md §11 (B)), up to t = 1e60.
    model = gf.TwoPointModel(0.5, 1.0)
    t = np.geomspace(1e-3, 1e60, 40)
    sol = model.physical(t)
    w0 = np.real(sc.lambertw(t / 2))
    assert rel(sol.tau, 2 * w0) < 1e-12
    assert rel(sol.w, np.log1p(w0)) < 1e-12
    assert rel(sol.b, np.log(t / 2) + np.log1p(1 / w0)) < 1e-12


def test_lam_one_physical_closed_form():
    sigma, w0, b0 = 1.5, 0.2, -0.3
    model = gf.TwoPointModel(1.0, sigma)
    t = np.geomspace(1e-2, 1e40, 30)
    sol = model.physical(t, y0=(w0, b0))
    u = np.log1p((1 + sigma**2) * np.exp(-b0 - sigma * w0) * t)
    assert rel(sol.w, w0 + sigma / (1 + sigma**2) * u) < 1e-13
    assert rel(sol.b - b0, u / (1 + sigma**2)) < 1e-13


def test_far_horizon_matches_log_clock():
    # Near w* the closed form keeps w - w* (hence b) accurate; compare at t ~ 1e60.
    model = gf.TwoPointModel(0.45, 3.0)
    sol = model.conformal(np.array([50.0, 150.0, 280.0]))
    assert sol.log_t[-1] > 130  # t > 1e56
    traj = gf.integrate(model.problem, float(sol.t[-1]), rtol=RTOL_INTEGRATE, saveat=sol.t,
                        max_steps=100_000)
    assert rel(np.asarray(traj.w)[:, 0], sol.w) < RTOL_AGREE
    assert rel(traj.b, sol.b) < RTOL_AGREE


def test_beta0_series_matches_hypergeometric():
    # Near argument 1 the expansion replaces 2F1; both agree where both are accurate.
    y = np.array([0.5, 0.6, 0.9, 0.99])
    for p in (0.3, 0.55, 0.9):
        direct = y**p / p * sc.hyp2f1(1.0, p, 1.0 + p, y)
        assert rel(_beta0(p, y, 1.0 - y), direct) < 1e-13
    # and keeps digits where 1 - y is below rounding of y
    x = 1e-20
    assert _beta0(0.7, np.exp(-x), -np.expm1(-x)) == pytest.approx(-math.log(x) - (
        sc.digamma(0.7) - sc.digamma(1.0)), rel=1e-14)


@pytest.mark.parametrize("lam,sigma", [(0.2, 1.0), (0.2, 3.0), (0.45, 3.0), (0.499, 10.0),
                                       (0.49999, 1.0)])
def test_fixed_point_and_rates_match_analysis(lam, sigma):
    model = gf.TwoPointModel(lam, sigma)
    fp = gf.fixed_point(model.problem)
    st = gf.stability(model.problem, fp.w)
    # to rounding, also where h_1 ~ 1 - 2λ -> 0 (conditioning 1/(1 - 2λ) allows 1e-11)
    assert float(fp.w[0]) == pytest.approx(model.w_star, rel=1e-13)
    assert float(fp.log_ltilde) == pytest.approx(model.log_ltilde_star, rel=1e-9, abs=1e-12)
    assert float(st.h1) == pytest.approx(model.h1, rel=1e-7)
    assert float(st.h1 / fp.ltilde) == pytest.approx(model.log_rate, rel=1e-7)
    # the whole log-time state's slowest rate is capped by beta's rate 1 ((0.2, 3): 5.4 > 1)
    assert float(st.log_rate) == pytest.approx(min(model.log_rate, 1.0), rel=1e-7)
    # §10: sigma^2 w*^2 / 2 - log L~* is the closed form, and sigma-independent
    d_star = 0.5 * (sigma * model.w_star) ** 2 - model.log_ltilde_star
    assert model.log_ratio_limit == pytest.approx(d_star, rel=1e-12)
    assert gf.TwoPointModel(lam, 2 * sigma).log_ratio_limit == pytest.approx(d_star, rel=1e-12)
    assert model.delta_tau_limit == pytest.approx(d_star / model.ltilde_star, rel=1e-12)


def test_log_ratio_limit_near_critical():
    # -> 1/2 log^2(1 - 2 lam) + log 2 (Fig. 9's slope 1/sqrt 2);
    # docs/mathematics.md §16: 19.9124 at 0.499
    assert gf.TwoPointModel(0.499, 1.0).log_ratio_limit == pytest.approx(19.9124, abs=1e-4)
    assert gf.TwoPointModel(0.499, 1.0).delta_tau_limit == pytest.approx(39.2554, abs=1e-4)
    gap = 2.0**-40  # exact in lam = 1/2 - 2^-41, so 1 - 2 lam has no rounding error
    model = gf.TwoPointModel(0.5 - gap / 2, 1.0)
    assert model.log_ratio_limit == pytest.approx(0.5 * math.log(gap) ** 2 + math.log(2),
                                                  rel=1e-10)


def test_grokking_times_formula():
    model = gf.TwoPointModel(0.45, 2.0)
    t_tr, t_gen = model.grokking_times(np.array([1e-6, 1e-9]))
    assert np.allclose(np.log(t_gen / t_tr), model.log_ratio_limit, atol=1e-5)
    with pytest.raises(ValueError, match="fixed point"):
        gf.TwoPointModel(0.6, 2.0).grokking_times(1e-3)


def test_lotka_volterra_fixed_points_exchange_stability():
    # docs/mathematics.md §9/§16: lam = 0.49, sigma = 3: -0.18 and +0.1829
    fp = gf.TwoPointModel(0.49, 3.0).fixed_points()
    assert fp.generalizing_slow == pytest.approx(-0.18, rel=1e-12)
    assert fp.overfitting_transverse == pytest.approx(0.18294, abs=1e-5)
    assert fp.generalizing_eigenvalues == pytest.approx([-1.0, -0.18], rel=1e-12)
    assert fp.attractor == "generalizing" and not fp.overfitting_stable
    above = gf.TwoPointModel(0.51, 3.0).fixed_points()
    assert above.attractor == "overfitting" and not above.generalizing_physical
    assert above.generalizing[0] < 0  # outside the positive orthant
    at = gf.TwoPointModel(0.5, 3.0).fixed_points()
    assert np.allclose(at.generalizing, [0, 2]) and np.allclose(at.overfitting, [0, 2])
    assert at.attractor == "critical"
    # the slow eigenvalues cross zero together at lam = 1/2 (transcritical)
    lams = np.linspace(0.4, 0.6, 21)
    slow_g = np.array([gf.TwoPointModel(v, 3.0).fixed_points().generalizing_slow
                       for v in lams])
    slow_o = np.array([gf.TwoPointModel(v, 3.0).fixed_points().overfitting_transverse
                       for v in lams])
    assert np.all(np.sign(slow_g[lams < 0.5]) == -1) and np.all(np.sign(slow_o[lams < 0.5]) == 1)
    assert np.all(np.sign(slow_g[lams > 0.5]) == 1) and np.all(np.sign(slow_o[lams > 0.5]) == -1)


def test_lotka_volterra_matches_general_analysis():
    # Below 1/2 the generalizing state agrees with `lotka_volterra`. (Its over-fitting
    # state is n * alpha of the extended SVM, which for inseparable data is l^G itself;
    # docs/mathematics.md §9's l^O = (0, 2/(1 + sigma^2 a^2)) is the unstable boundary state there.)
    model = gf.TwoPointModel(0.45, 2.0)
    mine = model.fixed_points()
    lv = gf.lotka_volterra(model.problem)
    assert np.allclose(lv.generalizing.ell, mine.generalizing, rtol=1e-8)
    assert np.allclose(np.sort(lv.generalizing.eigenvalues), mine.generalizing_eigenvalues,
                       rtol=1e-8)
    # Above 1/2 both define l^O by the extended SVM: same point, same transverse rate.
    model = gf.TwoPointModel(0.55, 2.0)
    mine = model.fixed_points()
    lv = gf.lotka_volterra(model.problem)
    assert np.allclose(lv.overfitting.ell, mine.overfitting, atol=1e-8)
    assert lv.overfitting.transverse == pytest.approx([mine.overfitting_transverse],
                                                      rel=1e-6)
    assert lv.overfitting.eigenvalues == pytest.approx([-1.0], rel=1e-8)


def test_model_builds_the_problem():
    model = gf.TwoPointModel(0.3, 2.0)
    assert np.allclose(np.asarray(model.problem.x), [[2.0], [-0.8]])
    assert float(model.problem.sigma) == 2.0 and model.problem.loss.name == "exponential"
    assert gf.as_problem(model) is model.problem
    assert gf.as_problem(model.problem) is model.problem
    assert not model.separable and model.margin == 0.0
    assert gf.TwoPointModel(0.75, 2.0).margin == pytest.approx(1.0)
    assert gf.TwoPointModel(0.3, 2.0, loss="logistic").problem.loss.name == "logistic"


@pytest.mark.parametrize("kwargs,match", [
    (dict(lam=-0.1, sigma=1.0), "lam"), (dict(lam=1.2, sigma=1.0), "lam"),
    (dict(lam=0.3, sigma=0.0), "sigma"), (dict(lam=0.3, sigma=float("nan")), "sigma"),
])
def test_model_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gf.TwoPointModel(**kwargs)


def test_solution_validation():
    model = gf.TwoPointModel(0.3, 1.0)
    with pytest.raises(ValueError, match="tau"):
        model.conformal([-1.0])
    with pytest.raises(ValueError, match="`t`"):
        model.physical([np.inf])
    with pytest.raises(ValueError, match="y0"):
        model.conformal([1.0], y0=(np.zeros(2), 0.0))
    with pytest.raises(ValueError, match="TwoPointModel"):
        gf.as_problem("two points")


def test_each_case_is_an_immutable_module_chosen_by_the_dispatcher():
    import dataclasses

    from gradflow._analysis._one_dim._base import AbstractTwoPointFlow
    from gradflow._analysis._one_dim._explicit import AtRest, CaseA, CaseB, CaseC
    from gradflow._analysis._one_dim._hypergeometric import Inseparable, Separable
    from gradflow._analysis._one_dim._model import _flow

    inside = gf.TwoPointModel(0.3, 2.0)
    flows = {CaseA: _flow(gf.TwoPointModel(0.0, 2.0), *Y0),
             CaseB: _flow(gf.TwoPointModel(0.5, 2.0), *Y0),
             CaseC: _flow(gf.TwoPointModel(1.0, 2.0), *Y0),
             Inseparable: _flow(inside, *Y0),
             AtRest: _flow(inside, inside.w_star, Y0[1]),
             Separable: _flow(gf.TwoPointModel(0.75, 2.0), *Y0)}
    shared = {name: f for name, f in vars(AbstractTwoPointFlow).items()
              if callable(f) and not getattr(f, "__isabstractmethod__", False)
              and not name.startswith("__")}
    for cls, flow in flows.items():
        assert type(flow) is cls and not cls.__abstractmethods__
        for name, f in shared.items():  # final: the shared time code is never overridden
            assert getattr(cls, name) is f, (cls.__name__, name)
        with pytest.raises(dataclasses.FrozenInstanceError):
            flow.w0 = 1.0
