"""The bifurcation diagram, λ_c estimates and the divergence law (docs/mathematics.md §6–9, §16)."""

import math

import equinox as eqx
import numpy as np
import pytest

from gradflow._analysis._bifurcation import (
    BifurcationPoint,
    bifurcation,
    critical_point,
    divergence_law,
    extrapolate,
)
from gradflow._analysis._large_n import limiting_accuracy
from gradflow._results import RESULTS

LAMS = [0.25, 0.35, 0.45, 0.5, 0.55, 0.65, 0.8]


@pytest.fixture(scope="module")
def diagram():
    return bifurcation(40, LAMS, 24, 2.0, seed=0)


def test_labels_and_consistency(diagram):
    b = diagram
    np.testing.assert_allclose(b.lam, np.round(np.array(LAMS) * 40) / 40)
    assert b.p_sep[0] == 0.0 and b.p_sep[-1] == 1.0
    # measured fraction separable vs Wendel: within 4 binomial standard errors
    se = np.sqrt(b.wendel * (1 - b.wendel) / b.realizations) + 1e-3
    assert np.all(np.abs(b.p_sep - b.wendel) < 4 * se + 1.0 / b.realizations)
    # each draw has exactly one stable branch: ℓ^G (inseparable) or ℓ^O (separable)
    np.testing.assert_allclose(b.generalizing_stable + b.overfitting_stable, 1.0)
    np.testing.assert_allclose(b.generalizing_stable, 1 - b.p_sep)
    assert np.all(b.newton_failures == 0)
    assert np.all(b.transverse_max[b.p_sep > 0] < 0)
    # σ-free columns; large-n curves beside them
    assert np.isnan(b.cgmt[-1]) and b.cgmt[0] == pytest.approx(0.857, abs=0.001)
    assert b.gardner[0] == 0 and b.gardner[-1] == pytest.approx(0.3106, abs=1e-4)
    np.testing.assert_allclose(b.accuracy_large_n, limiting_accuracy(b.lam, 2.0))
    below = b.lam < 0.5
    assert np.all(np.diff(b.norm_median[below]) > 0)  # ‖w̃*‖ grows towards 1/2
    assert np.all(np.diff(b.h1_median[below]) < 0)  # critical slowing down
    expected_m = np.where(b.p_sep > 0, 2.0 * np.nan_to_num(b.margin_mean) * b.p_sep, 0.0)
    np.testing.assert_allclose(b.order_parameter, expected_m, rtol=1e-12, atol=1e-15)
    assert np.all((b.accuracy > 0.5) & (b.accuracy <= 1.0))
    assert len(b.norms) == len(LAMS) and b.norms[0].size == b.norm_count[0]


def test_critical_point_from_p_sep(diagram):
    cp = critical_point(diagram, method="p_sep")
    assert isinstance(cp, BifurcationPoint) and cp.status == "successful" and cp.successful
    assert abs(cp.lam - 0.5) < 3 * cp.precision + 0.02
    assert cp.interval[0] < cp.lam < cp.interval[1]
    for method in ("divergence", "h1"):
        other = critical_point(diagram, method=method)
        assert np.isfinite(other.lam) and other.method == method
    with pytest.raises(ValueError, match="`method`"):
        critical_point(diagram, method="nope")


def test_extrapolate_recovers_a_linear_law():
    ns = np.array([100, 400, 1600])
    pts = [BifurcationPoint(0.5 - 0.3 / math.sqrt(n), 0.001, (0, 1), "p_sep",
                            RESULTS.successful, {}) for n in ns]
    e = extrapolate(pts, ns)
    assert e.lam == pytest.approx(0.5, abs=1e-9) and e.method == "extrapolated"
    with pytest.raises(ValueError, match="at least two"):
        extrapolate(pts[:1], ns[:1])


@pytest.mark.parametrize("law", ["power", "log"])
def test_divergence_law_tells_power_from_log(diagram, law):
    lam = np.array([0.3, 0.35, 0.4, 0.43, 0.45, 0.46])
    gap = 0.5 - lam
    r = 0.93 * gap**-0.5 if law == "power" else 1.0 + 0.5 * np.log(1 / gap)
    fake = eqx.tree_at(lambda b: (b.lam, b.norm_median), diagram, (lam, r))
    fake = eqx.tree_at(lambda b: b.n, fake, 10_000)
    fit = divergence_law(fake, lam_min=0.3)
    assert fit.preferred == law
    if law == "power":
        assert fit.exponent == pytest.approx(0.5, abs=1e-9)
        assert fit.amplitude == pytest.approx(0.93, rel=1e-9)
    with pytest.raises(ValueError, match="at least 3"):
        divergence_law(diagram, lam_min=0.49)


def test_validation():
    with pytest.raises(ValueError, match="`n`"):
        bifurcation(1, [0.3], 2, 1.0)
    with pytest.raises(ValueError, match="`lambdas`"):
        bifurcation(10, [-0.3], 2, 1.0)
    with pytest.raises(ValueError, match="`realizations`"):
        bifurcation(10, [0.3], 0, 1.0)
    with pytest.raises(ValueError, match="`gtol`"):  # was not checked at all
        bifurcation(10, [0.3], 2, 1.0, gtol=0.0)
    with pytest.raises(ValueError, match="`sigma`"):
        bifurcation(10, [0.3], 2, 0.0)


@pytest.mark.slow
def test_n400_sweep_oracle():
    """docs/mathematics.md §16, n = 400, σ = 1 (inseparable draws): mean ‖w*‖ and h1 at λ = 0.2,
    0.4; Gardner margin at λ = 0.7 vs the QP mean (0.219 ± 0.006)."""
    b = bifurcation(400, [0.2, 0.4, 0.7], 8, 1.0, seed=2)
    assert b.norm_mean[0] == pytest.approx(0.69, rel=0.15)
    assert b.norm_mean[1] == pytest.approx(2.02, rel=0.15)
    assert b.h1_mean[0] == pytest.approx(0.24, rel=0.2)
    assert b.h1_mean[1] == pytest.approx(0.048, rel=0.3)
    assert b.margin_mean[2] == pytest.approx(0.219, abs=0.015)


def test_plot(diagram):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gradflow._plots._bifurcation import plot_bifurcation

    fig = plot_bifurcation(diagram)
    assert len(fig.axes) == 7  # six panels and one twin axis
    plt.close(fig)
    with pytest.raises(ValueError, match="`bif`"):
        plot_bifurcation(None)


def test_large_n_curves_are_what_the_plot_drew(diagram):
    """`plot_bifurcation` draws `large_n_curves`; the same arrays its inline code drew."""
    from gradflow._analysis._large_n import cgmt_norm, gardner_margin, large_n_curves

    curves = large_n_curves(diagram.lam, diagram.sigma)
    lo, hi = float(diagram.lam.min()), float(diagram.lam.max())
    below = np.linspace(max(lo, 1e-3), min(hi, 0.4995), 40)
    above = np.linspace(max(lo, 0.5), hi, 60)
    fine = np.linspace(lo, hi, 200)
    np.testing.assert_array_equal(curves.lam_inseparable, below)
    np.testing.assert_array_equal(curves.norm, cgmt_norm(below))
    np.testing.assert_array_equal(curves.lam_separable, above)
    np.testing.assert_array_equal(curves.margin, gardner_margin(above))
    np.testing.assert_array_equal(curves.accuracy, limiting_accuracy(fine, diagram.sigma))
    np.testing.assert_array_equal(curves.order_parameter,
                                  diagram.sigma * np.asarray(gardner_margin(fine)))
    one_side = large_n_curves(np.array([0.6, 0.8]), 1.0)
    assert one_side.lam_inseparable.size == 0 and one_side.norm.size == 0


def test_import_does_not_load_matplotlib():
    import subprocess
    import sys

    code = ("import sys, gradflow._analysis._bifurcation, gradflow._plots._bifurcation; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
