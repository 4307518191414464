import json
import os
import subprocess
import sys
import textwrap

import equinox as eqx
import numpy as np
import pytest

import gradflow as gf

SIGMAS = [1.0, 3.0, 5.0, 3.0, 2.0]


@pytest.fixture(scope="module")
def problems():
    return [gf.gaussian_problem(30, 13, s, seed=k) for k, s in enumerate(SIGMAS)]


@pytest.fixture(scope="module")
def ens(problems):
    return gf.ensemble(problems, 1e10)


def test_members_equal_single_solves_bit_for_bit(problems, ens):
    assert ens.w.shape == (5, 201, 13) and ens.successful.all()
    for i, p in enumerate(problems):
        tr = gf.integrate(p, 1e10)
        np.testing.assert_array_equal(ens.w[i], np.asarray(tr.w))
        np.testing.assert_array_equal(ens.b[i], np.asarray(tr.b))
        m = ens.member(i)
        np.testing.assert_array_equal(np.asarray(m.t), np.asarray(tr.t))
        assert m.stats["num_steps"] == tr.stats["num_steps"]
    np.testing.assert_allclose(ens.metric("test_accuracy")[2], problems_metric(problems[2]))


def problems_metric(p):
    return gf.integrate(p, 1e10).test_accuracy


def test_vmapped_groups_agree(problems, ens):
    grouped = gf.ensemble(problems, 1e10, batch_size=2)
    np.testing.assert_allclose(grouped.w, ens.w, rtol=0, atol=1e-9 * np.abs(ens.w).max())
    np.testing.assert_array_equal(grouped.num_steps, ens.num_steps)  # order restored


def test_failing_member_leaves_the_others_intact(problems, ens):
    bad_x = np.asarray(problems[1].z).copy()
    bad_x[3, 2] = np.nan  # bypasses Problem's validation, as corrupted data would
    bad = eqx.tree_at(lambda p: p.z, problems[1], bad_x)
    mixed = [problems[0], bad, *problems[2:]]
    out = gf.ensemble(mixed, 1e10)
    assert not out.successful[1] and out.successful[[0, 2, 3, 4]].all()
    assert out.message[1] != "" and out.status[1] != "successful"
    for i in [0, 2, 3, 4]:
        np.testing.assert_array_equal(out.w[i], ens.w[i])
    # and a member that runs out of steps keeps what it reached
    few = gf.ensemble(problems, 1e10, max_steps=150)
    assert few.results[0] == gf.RESULTS.successful._value  # σ = 1 needs ~100 steps
    assert few.message[2].startswith("The maximum number of solver steps")
    assert few.reached[2].any() and not few.reached[2].all()
    assert 0 < float(few.member(2).t[-1]) < 1e10


def test_bad_ensembles():
    with pytest.raises(ValueError, match="empty"):
        gf.ensemble([], 1.0)
    ps = [gf.gaussian_problem(10, 3, 1.0, seed=0), gf.gaussian_problem(10, 4, 1.0, seed=0)]
    with pytest.raises(ValueError, match="shape"):
        gf.ensemble(ps, 1.0)
    with pytest.raises(ValueError, match="batch_size"):
        gf.ensemble(ps[:1], 1.0, batch_size=0)
    with pytest.raises(ValueError, match="devices"):
        gf.ensemble(ps[:1], 1.0, devices=64)
    with pytest.raises(ValueError, match="`rtol`"):
        gf.ensemble(ps[:1], 1.0, rtol=1.0)
    with pytest.raises(ValueError, match="`solver`"):  # was an AttributeError
        gf.ensemble(ps[:1], 1.0, solver="tsit5")
    with pytest.raises(ValueError, match="`t_max`"):
        gf.ensemble(ps[:1], 5e-324)
    with pytest.raises(ValueError, match="`atol`"):
        gf.ensemble(ps[:1], 1.0, atol=5.0)


SHARDED = textwrap.dedent(
    """
    import json, sys
    import numpy as np, jax, gradflow as gf
    assert jax.device_count() == 4
    ps = [gf.gaussian_problem(30, 13, s, seed=k) for k, s in enumerate(%r)]
    solver = {"radau": gf.Radau5(), "rkc": gf.RKC()}.get(sys.argv[1])
    sharded = gf.ensemble(ps, 1e10, solver=solver)
    plain = gf.ensemble(ps, 1e10, devices=None, solver=solver)
    print(json.dumps(dict(devices=sharded.stats["devices"],
                          equal=bool(np.array_equal(sharded.w, plain.w)
                                     and np.array_equal(sharded.b, plain.b)))))
    """
)


@pytest.mark.parametrize("solver", ["default", "radau", "rkc"])
def test_sharded_on_four_devices_is_bit_identical(ens, solver):
    # shard_map over 4 devices; the stiff solver's eigendecompositions and Newton loops
    # too, and RKC's stage loop of varying length
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    res = subprocess.run([sys.executable, "-c", SHARDED % SIGMAS, solver], env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out == {"devices": 4, "equal": True}


def test_members_are_dealt_round_robin_over_devices():
    from gradflow._ensemble import _deal

    index = _deal(np.array([3, 1, 4, 0, 2]), 2)
    # device 0 gets every other member of the order, device 1 the rest, padded by order[0]
    np.testing.assert_array_equal(index, [3, 4, 2, 1, 0, 3])
    np.testing.assert_array_equal(_deal(np.arange(4), 4), np.arange(4))
    slot = np.unique(index, return_index=True)[1]
    np.testing.assert_array_equal(index[slot], np.arange(5))


CPU_DEVICES = textwrap.dedent(
    """
    import json
    from gradflow._config import use_cpu_devices
    import jax
    first = use_cpu_devices(3)
    jax.numpy.ones(2).block_until_ready()
    print(json.dumps([first, jax.device_count(), use_cpu_devices(3), use_cpu_devices(5)]))
    """
)


def test_use_cpu_devices_applies_only_before_jax_runs():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    res = subprocess.run([sys.executable, "-c", CPU_DEVICES], env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout.strip().splitlines()[-1]) == [True, 3, True, False]
    from gradflow._config import use_cpu_devices

    with pytest.raises(ValueError, match="count"):
        use_cpu_devices(0)
