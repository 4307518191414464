import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import gradflow as gf
from gradflow import _sweep
from gradflow._cli import main
from gradflow._files import FileLock
from gradflow._sweep import parse_range

ARGS = ["--n", "20", "--lambdas", "0.2,0.3,0.45", "--realizations", "4", "--sigma", "3",
        "--t-max", "1e8", "--chunk-size", "2", "--num-saves", "20", "--no-progress"]
VARS = ["b", "w_norm", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "status",
        "num_steps", "separable", "done"]


@pytest.fixture(scope="module")
def full_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "full.nc"
    assert main(["sweep", *ARGS, "--out", str(path)]) == 0
    assert not list(path.parent.glob("full.nc.*"))  # no temporary or lock file left
    return path


@pytest.fixture(scope="module")
def uninterrupted(full_path):
    return gf.load_sweep(full_path)


def test_sweep_file_is_labelled_and_opens_with_xarray(uninterrupted):
    import xarray as xr

    ds = uninterrupted
    assert dict(ds.sizes) == {"lam": 3, "sigma": 1, "seed": 4, "t": 21}
    np.testing.assert_allclose(ds["lam"].values, [0.2, 0.3, 0.45])
    assert ds["done"].values.all() and (ds["runs"].values == 1).all()
    config = json.loads(ds.attrs["config"])
    assert config["n"] == 20 and config["d"] == [4, 6, 9]
    # the member at (λ = 0.45, seed 2) is the data gaussian_problem draws with its seed,
    # by the drawing convention of every λ sweep (`[seed, d, k]`)
    assert config["kind"] == "flow" and config["draws"] == "seed,d,k"
    p = gf.gaussian_problem(20, 9, 3.0, seed=[0, 9, 2])
    tr = gf.integrate(p, 1e8, saveat=ds["t"].values)
    np.testing.assert_array_equal(ds["b"].values[2, 0, 2], np.asarray(tr.b))
    np.testing.assert_array_equal(ds["test_accuracy"].values[2, 0, 2], tr.test_accuracy)
    # `separable` (the QP) is the LP's decision for every member
    for i, d in enumerate(config["d"]):
        for k in range(4):
            q = gf.gaussian_problem(20, d, 3.0, seed=[0, d, k])
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


def test_sweep_statistics_are_what_the_summary_drew(uninterrupted):
    """`sweep_summary` draws `sweep_statistics`; the same numbers its inline code drew."""
    from gradflow._analysis._sweep_summary import sweep_statistics

    st = sweep_statistics(uninterrupted)
    sub = uninterrupted.isel(sigma=0)
    done, acc = sub["done"].values, sub["test_accuracy"].values
    for i in range(len(st.lam)):
        np.testing.assert_array_equal(st.median_accuracy[i], np.nanmedian(acc[i][done[i]], axis=0))
        assert st.final_accuracy[i] == np.nanmedian(acc[i][done[i], -1])
        assert st.separable_fraction[i] == sub["separable"].values[i][done[i]].mean()
    assert st.wendel.tolist() == [gf.wendel(20, int(d)) for d in uninterrupted["d"].values]
    assert st.has_draws.all() and st.n == 20 and st.sigma == 3.0


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
    assert parse_range("0.4:0.4:0.1") == [0.4]
    with pytest.raises(ValueError, match="range"):
        parse_range("0.3:0.6:0")
    # used to give [] (a sweep of nothing, exit 0), [inf] and [nan]
    with pytest.raises(ValueError, match="empty"):
        parse_range("0.6:0.3:0.1")
    for text in ["inf", "nan", "0.3,nan", "0.3:inf:0.1", "-inf:0.3:0.1"]:
        with pytest.raises(ValueError, match="finite"):
            parse_range(text)
    with pytest.raises(ValueError, match="at most"):
        parse_range("0:1:1e-9")
    with pytest.raises(ValueError, match="range"):
        parse_range("0.1:0.2")
    with pytest.raises(ValueError, match="`n`"):
        gf.sweep(0, [0.2], 1, 1.0, out="never.nc")
    with pytest.raises(ValueError, match="`chunk_size`"):
        gf.sweep(20, [0.2], 1, 1.0, out="never.nc", chunk_size=0)


@pytest.mark.parametrize("lambdas, match", [
    ("0.6:0.3:0.1", "empty"), ("inf", "finite"), ("nan", "finite"), ("0.2,", "range"),
])
def test_cli_refuses_empty_and_nonfinite_ranges(tmp_path, capsys, lambdas, match):
    out = tmp_path / "x.nc"
    args = ["sweep", "--n", "20", "--lambdas", lambdas, "--realizations", "1", "--out",
            str(out), "--no-progress"]
    assert main(args) == 2
    assert match in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kwargs, match", [
    (dict(lambdas=[]), "`lambdas`"), (dict(lambdas=[np.inf]), "`lambdas`"),
    (dict(lambdas=[np.nan]), "`lambdas`"), (dict(sigma=[]), "`sigma`"),
    (dict(seed=1.5), "`seed`"), (dict(seed=-1), "`seed`"), (dict(t_max=5e-324), "`t_max`"),
])
def test_sweep_of_nothing_or_bad_values_is_an_error(tmp_path, kwargs, match):
    args = dict(n=20, lambdas=[0.2], realizations=1, sigma=1.0, out=tmp_path / "x.nc",
                progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        gf.sweep(args.pop("n"), args.pop("lambdas"), args.pop("realizations"),
                 args.pop("sigma"), **args)
    assert not list(tmp_path.iterdir())


@pytest.fixture
def no_computing(monkeypatch):
    """Any attempt to compute fails the test: refusals must come first."""
    def refuse(*args, **kwargs):
        raise AssertionError("computed before refusing")

    monkeypatch.setattr(_sweep, "ensemble", refuse)


def test_unwritable_output_is_refused_before_computing(tmp_path, capsys, no_computing):
    args = (20, [0.2], 1, 3.0)
    kw = dict(t_max=1e8, num_saves=20, progress=False)
    with pytest.raises(ValueError, match="does not exist"):
        gf.sweep(*args, out=tmp_path / "missing" / "x.nc", **kw)
    with pytest.raises(ValueError, match="is a folder"):
        gf.sweep(*args, out=tmp_path, **kw)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="does not exist"):
        gf.sweep(*args, out=tmp_path / "file" / "x.nc", **kw)
    if os.path.isdir("/proc"):  # a folder nobody can create files in, root included
        with pytest.raises(ValueError, match="cannot be written"):
            gf.sweep(*args, out="/proc/gradflow-test.nc", **kw)
    assert main(["sweep", *ARGS, "--out", str(tmp_path / "no" / "x.nc")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_second_writer_is_refused_at_once(full_path, tmp_path, capsys, no_computing):
    """While a sweep holds `out`, a second one (resuming, or new) is refused with a clear
    message before it reads or computes anything; the first one's file is untouched."""
    path = tmp_path / "x.nc"
    shutil.copy(full_path, path)
    before = path.read_bytes()
    with FileLock(path):  # what a running sweep holds
        with pytest.raises(ValueError, match="being written by another process"):
            gf.sweep(20, [0.2, 0.3, 0.45], 4, 3.0, t_max=1e8, out=path, chunk_size=2,
                     num_saves=20, progress=False, resume=True)
        assert main(["sweep", *ARGS, "--out", str(path), "--resume"]) == 2
        err = capsys.readouterr().err
        assert "being written by another process" in err and f"pid {os.getpid()}" in err
    assert path.read_bytes() == before
    assert not (tmp_path / "x.nc.lock").exists()  # released and removed
    ds, computed = gf.sweep(20, [0.2, 0.3, 0.45], 4, 3.0, t_max=1e8, out=path, chunk_size=2,
                            num_saves=20, progress=False, resume=True)
    assert computed == 0 and int(ds["done"].sum()) == 12


def _data_offset(path, name):
    import h5py

    with h5py.File(path, "r") as f:
        return f[name].id.get_offset()


def test_damaged_file_is_refused_on_load_resume_and_plot(full_path, tmp_path, capsys):
    """16 zeroed bytes in the data used to load as 0.0 where 0.81 was stored, and
    `--resume` exited 0."""
    path = tmp_path / "x.nc"
    data = bytearray(full_path.read_bytes())
    start = _data_offset(full_path, "test_accuracy") + 8 * 5
    data[start:start + 16] = bytes(16)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        gf.load_sweep(path)
    # without the whole-file trailer (a file re-saved by another tool), the per-variable
    # checksums name what is damaged
    bare = tmp_path / "bare.nc"
    bare.write_bytes(bytes(data[:-_sweep._TRAILER_SIZE]))
    with pytest.raises(ValueError, match="damaged.*test_accuracy"):
        gf.load_sweep(bare)
    with pytest.raises(ValueError, match="damaged"):
        gf.sweep(20, [0.2, 0.3, 0.45], 4, 3.0, t_max=1e8, out=path, chunk_size=2,
                 num_saves=20, progress=False, resume=True)
    for argv in (["sweep", *ARGS, "--out", str(path), "--resume"], ["plot", str(path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "damaged" in err and len(err.strip().splitlines()) == 1


def test_truncated_empty_or_foreign_files_are_one_clear_error(full_path, tmp_path, capsys):
    import xarray as xr

    cases = {
        "empty.nc": b"",
        "truncated.nc": full_path.read_bytes()[: full_path.stat().st_size // 2],
        "text.nc": b"lambda,accuracy\n0.3,0.9\n",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_netcdf(tmp_path / "foreign.nc",
                                                       engine="h5netcdf")
    for name, match in [("empty.nc", "cannot be read"), ("truncated.nc", "cannot be read"),
                        ("text.nc", "cannot be read"), ("foreign.nc", "not a gradflow sweep")]:
        with pytest.raises(ValueError, match=match):
            gf.load_sweep(tmp_path / name)
        assert main(["plot", str(tmp_path / name), "--out", str(tmp_path / "fig")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("gradflow: error:") and len(err.strip().splitlines()) == 1, err
    with pytest.raises(FileNotFoundError):
        gf.load_sweep(tmp_path / "missing.nc")
    assert main(["plot", str(tmp_path / "missing.nc")]) == 2
    assert "missing.nc" in capsys.readouterr().err


def test_dimensions_that_disagree_with_the_configuration_are_refused(tmp_path):
    config = _sweep._config(20, [0.2, 0.3], 3, [1.0], 1e4, "logistic", 0, 1e-8, 5)
    ds = _sweep._empty(config)
    claimed = dict(config, realizations=2)  # the file says 2, its arrays hold 3
    ds.attrs["config"] = json.dumps(claimed)
    _sweep._write_atomic(ds, tmp_path / "x.nc")  # checksums of what was written: valid
    with pytest.raises(ValueError, match="dimensions .* disagree with its configuration"):
        gf.load_sweep(tmp_path / "x.nc")


def test_a_file_from_before_the_shared_drawing_convention_resumes_with_its_own(tmp_path):
    # Files written before sweeps had kinds drew member k at d with [seed, n, d, k];
    # resuming one must draw the rest the same way (exact resume), while new files use
    # the convention of `bifurcation` and the figures, [seed, d, k].
    config = _sweep._config(20, [0.2, 0.45], 2, [3.0], 1e6, "logistic", 0, 1e-8, 5)
    legacy = {k: v for k, v in config.items() if k not in ("kind", "draws")}
    ds = _sweep._empty(config)
    ds.attrs["config"] = json.dumps(legacy)
    _sweep._write_atomic(ds, tmp_path / "old.nc")  # nothing done yet
    out, computed = gf.sweep(20, [0.2, 0.45], 2, 3.0, t_max=1e6, num_saves=5,
                             out=tmp_path / "old.nc", resume=True, progress=False)
    assert computed == 4
    old = gf.gaussian_problem(20, 9, 3.0, seed=[0, 20, 9, 1])
    new = gf.gaussian_problem(20, 9, 3.0, seed=[0, 9, 1])
    b_old = gf.integrate(old, 1e6, saveat=out["t"].values).b
    b_new = gf.integrate(new, 1e6, saveat=out["t"].values).b
    np.testing.assert_array_equal(out["b"].values[1, 0, 1], np.asarray(b_old))
    assert not np.allclose(out["b"].values[1, 0, 1], np.asarray(b_new))
    assert json.loads(gf.load_sweep(tmp_path / "old.nc").attrs["config"]) == legacy


KILLED_IN_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    import xarray as xr
    from gradflow._cli import main
    calls = [0]
    original = xr.Dataset.to_netcdf

    def to_netcdf(self, path, *args, **kwargs):
        calls[0] += 1
        original(self, path, *args, **kwargs)
        if calls[0] == 2:  # the second chunk's write: killed half-way through it
            os.truncate(path, os.path.getsize(path) // 2)
            os.kill(os.getpid(), signal.SIGKILL)

    xr.Dataset.to_netcdf = to_netcdf
    sys.exit(main(sys.argv[1:]))
    """
)


def test_fault_injection(uninterrupted, full_path, tmp_path):
    """A writer killed in the middle of writing, a second writer, a flipped byte: nothing
    lost or mixed, and every fault reported."""
    path = tmp_path / "x.nc"
    args = dict(chunk_size=2, num_saves=20, progress=False, t_max=1e8)
    # 1. killed during its second write: the first chunk's file stays, complete
    res = subprocess.run([sys.executable, "-c", KILLED_IN_WRITE, "sweep", *ARGS, "--out",
                          str(path)], capture_output=True, text=True)
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    assert len(list(tmp_path.glob("x.nc.*.tmp"))) == 1  # the half-written temporary
    first = gf.load_sweep(path)
    assert int(first["done"].sum()) == 2 and (first["runs"].values <= 1).all()
    # 2. a second writer while the first one runs is refused; the first finishes
    with FileLock(path):
        with pytest.raises(ValueError, match="another process"):
            gf.sweep(20, [0.2, 0.3, 0.45], 4, 3.0, out=path, resume=True, **args)
    ds, computed = gf.sweep(20, [0.2, 0.3, 0.45], 4, 3.0, out=path, resume=True, **args)
    assert computed == 10 and (ds["runs"].values == 1).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nc"]  # temporary removed
    for name in VARS:
        np.testing.assert_array_equal(ds[name].values, uninterrupted[name].values,
                                      err_msg=name)
    # 3. a flipped bit anywhere is reported or harmless, never read as other numbers (a
    # flip in HDF5's own structures could make the HDF5 library hang before the
    # whole-file digest was checked first); all 24,799 single-byte flips of a small
    # sweep file were checked this way when this was written
    clean = path.read_bytes()
    names = VARS + ["runs", "t", "lam"]
    offsets = {name: _data_offset(path, name) for name in names}
    positions = list(offsets.values())
    positions += np.random.default_rng(0).integers(0, len(clean), 40).tolist()
    positions += [len(clean) - k for k in range(1, 4)]  # the trailer itself
    reported = 0
    for pos in positions:
        data = bytearray(clean)
        data[pos] ^= 0x01
        path.write_bytes(bytes(data))
        try:
            damaged = gf.load_sweep(path)
        except ValueError as err:
            assert "damaged" in str(err), (pos, err)
            reported += 1
        else:  # only a flip in the trailer's own text can be harmless
            assert pos >= len(clean) - _sweep._TRAILER_SIZE, pos
            assert damaged.identical(ds)
    assert reported >= len(positions) - 3
    # without the trailer (a file re-saved by another tool), per-variable checksums
    # report the same flips and name the damaged variable
    for name in names:
        data = bytearray(clean[:-_sweep._TRAILER_SIZE])
        data[offsets[name]] ^= 0x01  # the first element's lowest bit
        path.write_bytes(bytes(data))
        with pytest.raises(ValueError, match=f"damaged.*{name}"):
            gf.load_sweep(path)
    path.write_bytes(clean)
    assert gf.load_sweep(path).identical(ds)


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
