"""The App. F figures (Fig. 11, F1, F3) at their quick size, checked against what the
paper's text says, and Fig. 1 right-top at the paper's configuration through the
resumable driver (`gradflow figure fig1 --draws N --n N`)."""

import numpy as np
import pytest
import scipy.stats

from gradflow._analysis import _appendix_figures as appendix
from gradflow._analysis._large_n import cgmt_norm, limiting_accuracy
from gradflow._analysis._paper_size import K1_D, k1_dimensions, norm_statistics
from gradflow._analysis._separability import qp_margin
from gradflow._cli import main
from gradflow._generators import gaussian_problem


@pytest.fixture(scope="module")
def f1():
    return appendix.figF1(True)


def test_f1_separable_accuracy_is_phi_of_the_qp_margin(f1):
    data, p = f1.data, f1.params
    # the margin from an independent QP solve (hard margin through the origin)
    x = np.asarray(gaussian_problem(p["n"], p["d_sep"], 1.0, seed=p["seed_sep"]).x)
    _, u, _ = qp_margin(x)
    gamma = 1.0 / np.linalg.norm(u)
    np.testing.assert_allclose(data["sep_margin"], gamma, rtol=1e-6)
    sig = data["sigmas"]
    np.testing.assert_allclose(data["sep_acc_formula"],
                               scipy.stats.norm.cdf(1.0 / (sig**2 * gamma)), rtol=1e-12)
    np.testing.assert_allclose(data["sep_acc_large_n"],
                               [limiting_accuracy(0.55, s) for s in sig])
    # the flow approaches Φ(1/σ²γ) from below (like 1/log t) and falls with σ
    assert np.all(data["sep_acc_flow"] <= data["sep_acc_formula"] + 1e-9)
    assert np.all(data["sep_acc_formula"] - data["sep_acc_flow"] < 0.05)
    assert np.all(np.diff(data["sep_acc_flow"]) < 0)


def test_f1_grokking_gap_opens_with_sigma(f1):
    gap = f1.data["t_gen"] / f1.data["t_fit"]
    assert np.all(np.isfinite(gap)) and gap[-1] > 10 * gap[0]


def test_f3_every_start_reaches_the_same_minimizer():
    res = appendix.figF3(True)
    assert float(res.data["final_w_spread"]) < 1e-3
    # b0 = 3 starts with test accuracy near 1; the others start at or below chance
    acc0 = {k: float(res.data[f"{k}_test_accuracy"][0]) for k in
            ("w0_b0", "w0.1_b0", "w0_b3", "w0_b-3")}
    assert acc0["w0_b3"] > 0.9 and acc0["w0_b-3"] < 0.5 and acc0["w0.1_b0"] <= 0.5 + 1e-9


def test_paper_size_statistics_and_resume(tmp_path, capsys):
    # App. K1's 17 dimensions rescaled to n = 120: the CLI path, then a resumed run
    assert len(K1_D) == 17 and k1_dimensions(2400).tolist() == list(K1_D)
    argv = ["figure", "fig1", "--draws", "3", "--n", "120", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "fig1-paper-size" in out and "max |mean/CGMT - 1|" in out
    with np.load(tmp_path / "fig1-paper-size.npz") as data:
        lam = data["k1_lam"]
        np.testing.assert_array_equal(data["k1_d"], k1_dimensions(120))
        np.testing.assert_allclose(data["k1_cgmt"], cgmt_norm(lam))
        first = data["k1_mean"].copy()
    assert (tmp_path / "fig1-paper-size-n120-draws3.nc").is_file()
    assert main(argv) == 0  # the sweep file is complete: resumed, nothing recomputed
    with np.load(tmp_path / "fig1-paper-size.npz") as data:
        np.testing.assert_array_equal(data["k1_mean"], first)


def test_norm_statistics_against_numpy():
    import xarray as xr

    norm = np.array([[1.0, 2.0, np.nan, 4.0], [3.0, np.nan, np.nan, 5.0]])
    result = np.array([[0, 0, 1, 0], [0, 1, 1, 0]])
    ds = xr.Dataset(dict(norm=(("lam", "draw"), norm), result=(("lam", "draw"), result),
                         separable=(("lam", "draw"), result == 1),
                         done=(("lam", "draw"), np.ones_like(result, bool))),
                    coords=dict(lam=[0.4, 0.45], d=("lam", [40, 45])))
    st = norm_statistics(ds)
    np.testing.assert_allclose(st["mean"], [7 / 3, 4.0])
    np.testing.assert_allclose(st["p_sep"], [0.25, 0.5])
    np.testing.assert_allclose(st["sem"][1], np.std([3, 5], ddof=1) / np.sqrt(2))
    np.testing.assert_allclose(st["rel_dev"], st["mean"] / cgmt_norm([0.4, 0.45]) - 1)


@pytest.mark.parametrize("argv", [["figure", "fig2", "--draws", "3"],
                                  ["figure", "fig1", "--n", "100"],
                                  ["figure", "fig1", "--quick", "--draws", "3"]])
def test_paper_size_options_are_for_fig1_only(argv, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert "fig1" in capsys.readouterr().err


def test_fig11_adam_groks_before_gd_and_the_separable_side_stays_below_one():
    res = appendix.fig11(True)
    d, p = res.data, res.params

    def first_step(prefix, lr, level):
        acc = d[f"{prefix}_test_accuracy"]
        hit = np.flatnonzero(acc >= level)
        return d[f"{prefix}_t"][hit[0]] / lr if hit.size else np.inf

    # App. F.2: Adam moves w towards w* faster than GD: below 1/2 it groks first (GD
    # leads early on, at low accuracy, as in the full-size figure) ...
    for level in (0.95, 0.99):
        assert (first_step("adam_lam0.48", p["adam_lr"], level)
                < first_step("gd_lam0.48", p["gd_lr"], level))
    # ... and above 1/2 neither reaches accuracy 1, ‖w‖ grows without bound
    for opt in ("gd", "adam"):
        assert d[f"{opt}_lam0.55_test_accuracy"][-1] < 0.9
        norms = np.linalg.norm(d[f"{opt}_lam0.55_w"], axis=1)
        assert norms[-1] > norms[len(norms) // 2] > 0
