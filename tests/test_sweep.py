import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import gradflow as gf
from gradflow._cli import main
from gradflow._sweep import parse_range

ARGS = ["--n", "20", "--lambdas", "0.2,0.3,0.45", "--realizations", "4", "--sigma", "3",
        "--t-max", "1e8", "--chunk-size", "2", "--num-saves", "20", "--no-progress"]
VARS = ["b", "w_norm", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "status",
        "num_steps", "separable", "done"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "full.nc"
    assert main(["sweep", *ARGS, "--out", str(path)]) == 0
    return gf.load_sweep(path)


def test_sweep_file_is_labelled_and_opens_with_xarray(uninterrupted):
    import xarray as xr

    ds = uninterrupted
    assert dict(ds.sizes) == {"lam": 3, "sigma": 1, "seed": 4, "t": 21}
    np.testing.assert_allclose(ds["lam"].values, [0.2, 0.3, 0.45])
    assert ds["done"].values.all() and (ds["runs"].values == 1).all()
    config = json.loads(ds.attrs["config"])
    assert config["n"] == 20 and config["d"] == [4, 6, 9]
    # the member at (λ = 0.45, seed 2) is the data gaussian_problem draws with its seed
    p = gf.gaussian_problem(20, 9, 3.0, seed=[0, 20, 9, 2])
    tr = gf.integrate(p, 1e8, saveat=ds["t"].values)
    np.testing.assert_array_equal(ds["b"].values[2, 0, 2], np.asarray(tr.b))
    np.testing.assert_array_equal(ds["test_accuracy"].values[2, 0, 2], tr.test_accuracy)
    # `separable` (the QP) is the LP's decision for every member
    for i, d in enumerate(config["d"]):
        for k in range(4):
            q = gf.gaussian_problem(20, d, 3.0, seed=[0, 20, d, k])
            assert bool(ds["separable"].values[i, 0, k]) == gf.separability(q).separable
    assert 0 < ds["separable"].values.sum() < 12  # both phases occur
    assert isinstance(ds, xr.Dataset)


def test_killed_sweep_resumes_to_the_same_result(uninterrupted, tmp_path):
    path = tmp_path / "killed.nc"
    cmd = [sys.executable, "-m", "gradflow", "sweep", *ARGS, "--out", str(path)]
    with open(tmp_path / "stderr.txt", "w") as err, subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=err
    ) as proc:
        deadline = time.time() + 300
        while not path.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert path.exists(), (tmp_path / "stderr.txt").read_text()[-2000:]
    before = gf.load_sweep(path)
    done_before = int(before["done"].sum())
    assert 0 < done_before < 12  # killed mid-run, the file is a complete earlier state
    with pytest.raises(ValueError, match="resume"):
        gf.sweep(20, [0.2, 0.3, 0.45], 4, 3.0, t_max=1e8, out=path, chunk_size=2,
                 num_saves=20, progress=False)
    ds, computed = gf.sweep(20, [0.2, 0.3, 0.45], 4, 3.0, t_max=1e8, out=path, chunk_size=2,
                            num_saves=20, progress=False, resume=True)
    assert computed == 12 - done_before  # nothing recomputed
    assert (ds["runs"].values == 1).all()  # no member computed twice
    for name in VARS:
        np.testing.assert_array_equal(ds[name].values, uninterrupted[name].values, err_msg=name)


def test_resume_refuses_another_configuration(uninterrupted, tmp_path):
    path = tmp_path / "x.nc"
    gf.sweep(20, [0.2], 1, 3.0, t_max=1e8, out=path, num_saves=20, progress=False)
    with pytest.raises(ValueError, match="configuration"):
        gf.sweep(20, [0.2], 1, 5.0, t_max=1e8, out=path, num_saves=20, progress=False,
                 resume=True)


def test_plot_command(uninterrupted, tmp_path):
    path = tmp_path / "s.nc"
    uninterrupted.to_netcdf(path, engine="h5netcdf")
    assert main(["plot", str(path), "--out", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig" / "sweep_sigma0.png").stat().st_size > 1000


def test_meaningless_tolerance_is_refused_before_computing(tmp_path, capsys):
    # `gradflow sweep --rtol 5` used to store garbage with exit status 0
    out = tmp_path / "x.nc"
    assert main(["sweep", *ARGS, "--rtol", "5", "--out", str(out)]) == 2
    assert "`rtol`" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ValueError, match="`rtol`"):
        gf.sweep(20, [0.2], 1, 3.0, out=out, rtol=1e-16)


def test_parse_range():
    assert parse_range("0.3:0.6:0.1") == [0.3, 0.4, 0.5, 0.6]
    assert parse_range("1,2.5") == [1.0, 2.5]
    with pytest.raises(ValueError, match="range"):
        parse_range("0.3:0.6:0")
    with pytest.raises(ValueError, match="`n`"):
        gf.sweep(0, [0.2], 1, 1.0, out="never.nc")
    with pytest.raises(ValueError, match="`chunk_size`"):
        gf.sweep(20, [0.2], 1, 1.0, out="never.nc", chunk_size=0)


MULTIHOST = textwrap.dedent(
    """
    import json, sys
    pid, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_num_cpu_devices", 2)
    jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=pid)
    import numpy as np, gradflow as gf
    ps = [gf.gaussian_problem(30, 13, s, seed=k) for k, s in enumerate([1.0, 3.0, 5.0])]
    ens = gf.ensemble(ps, 1e10)
    equal = all(np.array_equal(ens.w[i], np.asarray(gf.integrate(p, 1e10).w))
                for i, p in enumerate(ps))
    _, computed = gf.sweep(20, [0.2, 0.3, 0.45], 4, 3.0, t_max=1e8, out=out, chunk_size=2,
                           num_saves=20, progress=False)
    try:  # the file exists now: process 0 refuses, and the others with it
        gf.sweep(20, [0.2, 0.3, 0.45], 4, 3.0, t_max=1e8, out=out, chunk_size=2,
                 num_saves=20, progress=False)
        refused = ""
    except ValueError as err:
        refused = str(err)
    print(json.dumps(dict(pid=pid, devices=jax.device_count(), equal=equal,
                          computed=computed, refused=refused)))
    """
)


def test_multihost_job_matches_one_process(uninterrupted, tmp_path):
    """Two processes joined by jax.distributed (2 CPU devices each, gloo collectives):
    ensemble members equal single solves bit for bit in both, and the sweep file, written
    by process 0 alone, equals the one-process sweep."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = str(s.getsockname()[1])
    path = tmp_path / "multi.nc"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    procs = [subprocess.Popen([sys.executable, "-c", MULTIHOST, str(pid), port, str(path)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for pid in (0, 1)]
    outs = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=600)
            assert proc.returncode == 0, stderr[-3000:]
            outs.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            proc.kill()
    assert [o["pid"] for o in outs] == [0, 1]
    assert all(o["devices"] == 4 and o["equal"] and o["computed"] == 12 for o in outs)
    assert "resume" in outs[0]["refused"] and "process 0 refused" in outs[1]["refused"]
    ds = gf.load_sweep(path)
    assert not list(tmp_path.glob("*.tmp"))
    for name in VARS:
        np.testing.assert_array_equal(ds[name].values, uninterrupted[name].values, err_msg=name)
