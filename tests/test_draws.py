"""The λ-sweep driver over Gaussian draws (`gradflow._analysis._draws`): its drawing
convention, its classification and fixed points against the single-problem analyses,
its options against each other, and its files."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gradflow as gf
from gradflow._analysis._draws import (
    draw_points,
    fixed_point_sweep,
    transverse_max,
)
from gradflow._files import _write_atomic
from gradflow._results import RESULTS, result_index

N = 40
LAMBDAS = [0.35, 0.45, 0.5, 0.55, 0.7]
R = 6


@pytest.fixture(scope="module")
def by_qp():
    return fixed_point_sweep(N, LAMBDAS, R, seed=3)


def test_one_drawing_convention():
    x = draw_points(N, 18, 4, seed=3)
    np.testing.assert_array_equal(x, np.random.default_rng([3, 18, 4]).standard_normal((N, 18)))
    np.testing.assert_array_equal(2.0 * x, gf.gaussian_problem(N, 18, 2.0, seed=[3, 18, 4]).x)


def test_draws_agree_with_the_single_problem_analyses(by_qp):
    ds = by_qp
    assert ds["done"].values.all()
    assert list(ds["d"].values) == [14, 18, 20, 22, 28]
    seen = set()
    for i, d in enumerate(ds["d"].values):
        for k in range(R):
            problem = gf.Problem(draw_points(N, int(d), k, seed=3))
            sep = gf.separability(problem)  # the LP, independent of the QP used here
            assert bool(ds["separable"].values[i, k]) == sep.separable
            seen.add(sep.separable)
            if sep.separable:
                assert ds["margin"].values[i, k] == pytest.approx(sep.margin, rel=1e-8)
                assert ds["result"].values[i, k] == result_index(RESULTS.separable)
                continue
            fp = gf.fixed_point(problem)
            st = gf.stability(problem, fp)
            assert ds["result"].values[i, k] == result_index(RESULTS.successful)
            assert ds["norm"].values[i, k] == pytest.approx(float(fp.norm), rel=1e-10)
            assert ds["log_ltilde"].values[i, k] == pytest.approx(float(fp.log_ltilde),
                                                                  rel=1e-10, abs=1e-13)
            assert ds["h1"].values[i, k] == pytest.approx(float(st.h1), rel=1e-8)
            proj = -(problem.z @ fp.w)
            assert ds["frac_pos"].values[i, k] == pytest.approx(float(np.mean(proj > 0)))
    assert seen == {True, False}  # both phases occur


def test_newton_decides_like_the_qp_and_cg_solves_like_cholesky(by_qp):
    fast = fixed_point_sweep(N, LAMBDAS, R, seed=3, method="cg", decide="newton")
    np.testing.assert_array_equal(fast["separable"].values, by_qp["separable"].values)
    ok = by_qp["result"].values == result_index(RESULTS.successful)
    np.testing.assert_array_equal(fast["result"].values[ok], by_qp["result"].values[ok])
    np.testing.assert_allclose(fast["norm"].values[ok], by_qp["norm"].values[ok], rtol=1e-9)
    np.testing.assert_allclose(fast["log_ltilde"].values[ok], by_qp["log_ltilde"].values[ok],
                               rtol=1e-9, atol=1e-12)
    # separable draws decided by Newton's certificate carry no QP margin
    decided = fast["separable"].values & np.isnan(fast["margin"].values)
    assert decided.any()


def test_on_an_accelerator_draws_are_vectorized_with_the_same_results(by_qp, monkeypatch):
    """On an accelerator (here pretended) a device's draws run in one vmap by default;
    the fixed points are those of the one-after-another CPU default."""
    import jax

    from gradflow._analysis import _draws

    seen = []
    real = _draws._fixed_points

    def spy(z, pad, gtol, max_steps, method, slow, batch_size, mesh):
        seen.append((z.shape[0], batch_size))
        return real(z, pad, gtol, max_steps, method, slow, batch_size, mesh)

    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    monkeypatch.setattr(_draws, "_fixed_points", spy)
    vec = fixed_point_sweep(N, LAMBDAS, R, seed=3, devices=None)
    assert seen and all(rows == size for rows, size in seen)
    ok = by_qp["result"].values == result_index(RESULTS.successful)
    np.testing.assert_array_equal(vec["result"].values, by_qp["result"].values)
    np.testing.assert_allclose(vec["norm"].values[ok], by_qp["norm"].values[ok], rtol=1e-12)


def test_transverse_rates_match_the_lotka_volterra_over_fitting_state():
    sigma = 2.0
    ds = fixed_point_sweep(N, [0.7], 3, seed=3)
    for k in range(3):
        assert ds["separable"].values[0, k]
        problem = gf.Problem(sigma * draw_points(N, 28, k, seed=3))
        lv = gf.lotka_volterra(problem)
        expected = lv.overfitting.transverse.max() if lv.overfitting.transverse.size else -np.inf
        got = transverse_max(ds["margin"].values[0, k], ds["next_margin"].values[0, k], sigma)
        assert got == pytest.approx(expected, rel=1e-6)


def test_file_resumes_to_the_same_result(by_qp, tmp_path):
    out = tmp_path / "draws.nc"
    full = fixed_point_sweep(N, LAMBDAS, R, seed=3, out=out)
    loaded = gf.load_sweep(out)
    assert json.loads(loaded.attrs["config"])["kind"] == "fixed_points"
    for name in ("separable", "norm", "h1", "result"):
        np.testing.assert_array_equal(loaded[name].values, full[name].values)
        np.testing.assert_array_equal(loaded[name].values, by_qp[name].values)
    with pytest.raises(ValueError, match="exists"):
        fixed_point_sweep(N, LAMBDAS, R, seed=3, out=out)
    with pytest.raises(ValueError, match="another configuration"):
        fixed_point_sweep(N, LAMBDAS, R, seed=4, out=out, resume=True)
    # a file killed half-way: later draws not done (and their entries as never computed)
    half = loaded.copy(deep=True)
    later = np.zeros(half["done"].shape, bool)
    later[:, R // 2:] = True
    half["done"].values[later] = False
    half["norm"].values[later] = np.nan
    half["result"].values[later] = -1
    _write_atomic(half, out)
    assert (gf.load_sweep(out)["result"].values == -1).sum() == later.sum()
    resumed = fixed_point_sweep(N, LAMBDAS, R, seed=3, out=out, resume=True)
    for name in ("separable", "norm", "log_ltilde", "h1", "result", "done"):
        np.testing.assert_array_equal(resumed[name].values, full[name].values)


def test_bad_arguments_are_refused():
    for kwargs, name in [(dict(method="lu"), "method"), (dict(decide="lp"), "decide"),
                         (dict(chunk_size=0), "chunk_size"), (dict(gtol=1.0), "gtol"),
                         (dict(devices=64), "devices"), (dict(batch_size=0), "batch_size")]:
        with pytest.raises(ValueError, match=name):
            fixed_point_sweep(N, [0.4], 2, **kwargs)
    with pytest.raises(ValueError, match="`n`"):
        fixed_point_sweep(1, [0.4], 2)
    with pytest.raises(ValueError, match="lambdas"):
        fixed_point_sweep(N, [], 2)


SHARDED = textwrap.dedent(
    """
    import json
    import numpy as np, jax
    from gradflow._analysis._draws import fixed_point_sweep
    assert jax.device_count() == 4
    kw = dict(seed=3, decide="newton", chunk_size=5)  # 5 draws a chunk: padded to 8
    for method in ("cg", "cholesky"):
        sharded = fixed_point_sweep(40, [0.35, 0.45, 0.5, 0.55], 7, method=method, **kw)
        plain = fixed_point_sweep(40, [0.35, 0.45, 0.5, 0.55], 7, method=method,
                                  devices=None, **kw)
        same = all(np.array_equal(sharded[v].values, plain[v].values, equal_nan=True)
                   for v in sharded.data_vars)
        print(json.dumps(dict(method=method, equal=bool(same),
                              solved=int((sharded["result"].values == 0).sum()))))
    """
)


def test_sharded_over_four_devices_is_bit_identical():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    res = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    outs = [json.loads(line) for line in res.stdout.strip().splitlines()[-2:]]
    assert [o["equal"] for o in outs] == [True, True]
    assert all(o["solved"] > 0 for o in outs)
