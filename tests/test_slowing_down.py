"""Critical slowing down: the grokking ratio and the relaxation exponent on inseparable
Gaussian draws, measured against the fixed-point predictions (docs/mathematics.md §8, §10),
power-law fits, and smoke tests of the examples."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import gradflow as gf

#: The issue: measured log(t_gen/t_train) vs prediction, its ε-dependence over three
#: decades, and the relaxation exponent vs -h1/L~*, all within 1%.
RTOL_ISSUE = 1e-2
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# Five λ in [0.40, 0.49], one inseparable draw each, σ = 5, exponential loss.
LAMBDAS = (0.40, 0.42, 0.44, 0.46, 0.48)


@pytest.fixture(scope="module")
def sweep():
    return gf.slowing_down(200, LAMBDAS, 1, 5.0, seed=0)


def test_all_draws_measured(sweep):
    assert sweep.d.tolist() == [80, 84, 88, 92, 96]
    assert np.all(sweep.successful), sweep.message
    assert np.all(np.isfinite(sweep.norm)) and np.all(sweep.h1 > 0)


def test_log_ratio_matches_prediction_at_chosen_eps(sweep):
    rel = sweep.log_ratio_measured / sweep.log_ratio_predicted - 1
    assert np.all(np.abs(rel) < RTOL_ISSUE), rel
    # ... and does not move by more than 1% over three decades of ε below it
    assert np.all(sweep.log_ratio_spread < RTOL_ISSUE), sweep.log_ratio_spread
    assert np.all(sweep.log_eps <= math.log(1e-2))
    # Δτ = log ratio / L~* (docs/mathematics.md §10)
    assert np.allclose(sweep.delta_tau_measured, sweep.delta_tau_predicted, rtol=RTOL_ISSUE)


def test_relaxation_exponent_matches_prediction(sweep):
    rel = sweep.exponent_measured / sweep.exponent_predicted - 1
    assert np.all(np.abs(rel) < RTOL_ISSUE), rel
    # within the reported uncertainty too (a few times it)
    assert np.all(np.abs(sweep.exponent_measured - sweep.exponent_predicted)
                  <= 5 * sweep.exponent_err + 1e-6 * np.abs(sweep.exponent_predicted))
    # the model-free norm slope agrees within its (wider) uncertainty
    assert np.all(np.abs(sweep.exponent_norm - sweep.exponent_predicted)
                  <= 2 * sweep.exponent_norm_err + 1e-3 * np.abs(sweep.exponent_predicted))


def test_power_law_fits(sweep):
    for law in (sweep.log_ratio_law, sweep.log_ratio_predicted_law, sweep.relaxation_law,
                sweep.relaxation_predicted_law):
        assert law.points == len(LAMBDAS)
        assert np.isfinite(law.exponent) and law.exponent_err > 0
    # measured and predicted divergences agree well within their uncertainty
    assert abs(sweep.log_ratio_law.exponent - sweep.log_ratio_predicted_law.exponent) < \
        0.1 * sweep.log_ratio_law.exponent_err + 0.02
    assert abs(sweep.relaxation_law.exponent - sweep.relaxation_predicted_law.exponent) < \
        0.1 * sweep.relaxation_law.exponent_err + 0.02


def test_curves_are_what_the_figure_drew(sweep):
    """`slowing_down_figure` draws `slowing_down_curves`; the same arrays its inline code
    drew (power laws on 50 gaps, the CGMT ratio on 30, measured / predicted - 1)."""
    from gradflow._analysis._large_n import cgmt_fixed_point
    from gradflow._analysis._slowing_down import slowing_down_curves

    curves = slowing_down_curves(sweep)
    gap = 0.5 - sweep.lam
    g = np.geomspace(gap.min(), gap.max(), 50)
    law = sweep.log_ratio_law
    np.testing.assert_array_equal(curves.log_ratio_fit, law.amplitude * g ** (-law.exponent))
    law = sweep.relaxation_predicted_law
    np.testing.assert_array_equal(curves.relaxation_predicted_fit,
                                  law.amplitude * g ** (-law.exponent))
    fine = np.geomspace(max(gap.min(), 1e-3), min(gap.max(), 0.45), 30)
    cg = [cgmt_fixed_point(0.5 - v) for v in fine]
    np.testing.assert_array_equal(curves.cgmt_gap, fine)
    np.testing.assert_array_equal(curves.cgmt_log_ratio,
                                  [c.r**2 / 2 - np.log(c.ltilde) for c in cg])
    np.testing.assert_array_equal(curves.log_ratio_error,
                                  sweep.log_ratio_measured / sweep.log_ratio_predicted - 1.0)
    assert curves.gap_draws.shape == sweep.log_ratio_measured.shape
    assert slowing_down_curves(sweep, large_n=False).cgmt_gap.size == 0


def test_fit_power_law_recovers_exponent():
    lam = np.array([0.40, 0.44, 0.47, 0.49])
    q = 2.5 * (0.5 - lam) ** -1.3
    law = gf.fit_power_law(lam, q)
    assert law.exponent == pytest.approx(1.3, rel=1e-10)
    assert law.amplitude == pytest.approx(2.5, rel=1e-10)
    noisy = q * np.exp(0.01 * np.array([1, -1, 1, -1]))
    law = gf.fit_power_law(lam, noisy, errors=np.full(4, 0.01))
    assert abs(law.exponent - 1.3) < 3 * law.exponent_err
    assert math.isnan(gf.fit_power_law(lam[:1], q[:1]).exponent)


@pytest.mark.parametrize("lam,sigma", [(0.45, 3.0), (0.3, 1.0)])
def test_relaxation_two_point(lam, sigma):
    model = gf.TwoPointModel(lam, sigma)
    rel = gf.relaxation(model)
    assert rel.successful and rel.decades >= 4
    assert rel.exponent == pytest.approx(-model.log_rate, rel=1e-4)
    assert rel.exponent_norm == pytest.approx(-model.log_rate, rel=1e-4)  # one mode only
    assert rel.predicted == pytest.approx(-model.log_rate, rel=1e-9)


def test_relaxation_validation():
    with pytest.raises(ValueError, match="separable"):
        gf.relaxation(gf.TwoPointModel(0.7, 2.0))
    with pytest.raises(ValueError, match="window"):
        gf.relaxation(gf.TwoPointModel(0.3, 2.0), window=(1e-8, 1e-3))
    with pytest.raises(ValueError, match="max_steps"):
        gf.relaxation(gf.TwoPointModel(0.3, 2.0), max_steps=0)
    with pytest.raises(ValueError, match="`rtol`"):
        gf.relaxation(gf.TwoPointModel(0.3, 2.0), rtol=0.1)
    with pytest.raises(ValueError, match="`atol`"):  # was not checked at all
        gf.relaxation(gf.TwoPointModel(0.3, 2.0), atol=-1.0)
    # too few steps to cover the window: a status, or a RuntimeError with throw=True
    short = gf.relaxation(gf.TwoPointModel(0.45, 3.0), max_steps=20, throw=False)
    assert not short.successful and math.isnan(short.exponent)
    assert short.result == gf.RESULTS.max_steps_reached
    with pytest.raises(RuntimeError, match="window"):
        gf.relaxation(gf.TwoPointModel(0.45, 3.0), max_steps=20)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n=1), "n"), (dict(lambdas=[0.6]), "lambdas"), (dict(lambdas=[]), "lambdas"),
    (dict(realizations=0), "realizations"), (dict(sigma=-1.0), "sigma"),
    (dict(accuracy=2.0), "accuracy"), (dict(decades=-1), "decades"),
])
def test_slowing_down_validation(kwargs, match):
    args = dict(n=20, lambdas=[0.4], realizations=1, sigma=1.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        gf.slowing_down(args.pop("n"), args.pop("lambdas"), args.pop("realizations"),
                        args.pop("sigma"), **args)


# --------------------------------------------------------------------------- examples


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["critical_slowing_down", "two_point_model",
                                  "fig9_grokking_ratio"])
def test_example_quick(name, tmp_path, capsys):
    out = _load(name).main(["--quick", "--out", str(tmp_path)])
    for ext in ("png", "pdf"):
        path = tmp_path / f"{name}.{ext}"
        assert path.is_file() and path.stat().st_size > 1000, path
    assert f"wrote {tmp_path}" in capsys.readouterr().out
    assert sorted(p.name for p in out["paths"]) == [f"{name}.pdf", f"{name}.png"]
    if name == "two_point_model":
        assert max(out["closed_form_errors"].values()) < 1.0  # in units of 1e-8 rel + 1e-10
    if name == "fig9_grokking_ratio":
        assert np.all(np.abs(out["log_ratio"] - out["log_ratio_limit"]) < 1e-3)
