import json
import os
import subprocess
import sys
import textwrap

import pytest

import gradflow as gf
from gradflow import _cli_figures
from gradflow._cli import main


def test_demo_writes_figures_and_summary(tmp_path, capsys):
    # a smaller problem than the default, same shape of output
    status = main(["demo", "--out", str(tmp_path), "--n", "60", "--d", "28", "--sigma", "5",
                   "--t-max", "1e8"])
    out = capsys.readouterr().out
    assert status == 0
    assert (tmp_path / "demo.png").stat().st_size > 1000
    assert (tmp_path / "demo.pdf").stat().st_size > 1000
    for word in ["λ = d/n = 0.4667", "σ = 5", "separable from the origin", "train accuracy",
                 "test accuracy reaches 0.99"]:
        assert word in out


def test_bad_option_is_a_clear_error(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--sigma", "-1"]) == 2
    assert "`sigma`" in capsys.readouterr().err


def test_python_m_gradflow_help():
    res = subprocess.run([sys.executable, "-m", "gradflow", "--help"], capture_output=True,
                         text=True, check=True)
    assert "demo" in res.stdout


def test_import_does_not_import_matplotlib():
    code = "import sys, gradflow; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


SIDE_EFFECTS = textwrap.dedent(
    """
    import json, os
    cache = os.environ["GRADFLOW_CACHE_DIR"]
    import gradflow as gf
    import diffrax, equinox as eqx, jax, jax.numpy as jnp
    report = dict(env=os.environ.get("EQX_ON_ERROR"), cache_made=os.path.exists(cache))

    def raises(fn):
        try:
            jax.block_until_ready(fn())
        except Exception as err:
            return type(err).__name__
        return None

    term = diffrax.ODETerm(lambda t, y, args: -y)
    # the user's own solves: out of steps, and saved times outside [t0, t1] (the check
    # gradflow's solves carry too, here with the same shape as gradflow's saveat)
    out_of_steps = lambda: diffrax.diffeqsolve(term, diffrax.Tsit5(), 0.0, 10.0, 0.1,
                                               jnp.ones(2), max_steps=2, throw=True).ys
    bad_ts = lambda: diffrax.diffeqsolve(
        term, diffrax.Tsit5(), 0.0, 1.0, 0.1, jnp.ones(2),
        saveat=diffrax.SaveAt(ts=jnp.linspace(0.0, 2.0, 201))).ys
    check = jax.jit(lambda x: eqx.error_if(x, x < 0, "negative"))
    cases = dict(out_of_steps=out_of_steps, bad_ts=bad_ts, error_if=lambda: check(-1.0))
    report["before"] = {k: raises(f) for k, f in cases.items()}
    traj = gf.integrate(gf.gaussian_problem(30, 13, 3.0), 1e8)
    report["solved"] = bool(traj.successful)
    report["after"] = {k: raises(f) for k, f in cases.items()}
    report["entries"] = sorted(os.listdir(cache))
    report["jax_cache_dir"] = jax.config.jax_compilation_cache_dir
    report["env_after"] = os.environ.get("EQX_ON_ERROR")
    print(json.dumps(report))
    """
)


def test_import_changes_nothing_global_and_solves_are_cached(tmp_path):
    """`import gradflow` leaves os.environ, the user's equinox error checks and the file
    system alone; gradflow's own solve is still written to its compilation cache."""
    env = {k: v for k, v in os.environ.items() if k != "EQX_ON_ERROR"}
    env["GRADFLOW_CACHE_DIR"] = str(tmp_path / "cache")
    res = subprocess.run([sys.executable, "-c", SIDE_EFFECTS], env=env, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["env"] is None and report["env_after"] is None
    assert not report["cache_made"]
    assert report["solved"]
    for when in ("before", "after"):
        assert all(report[when].values()), (when, report[when])  # every case raised
    assert any("solve_summarized" in name for name in report["entries"]), report["entries"]
    assert report["jax_cache_dir"] is None  # the user's JAX configuration is restored


def test_sweep_devices_must_be_all_or_positive(tmp_path, capsys):
    for bad in ["0", "two"]:
        assert main(["sweep", "--n", "20", "--lambdas", "0.2", "--realizations", "1",
                     "--devices", bad, "--out", str(tmp_path / "x.nc")]) == 2
        assert "`--devices`" in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"gradflow {gf.__version__}"


def test_demo_with_a_short_horizon(tmp_path, capsys):
    # --t-max below 1e-2 used to fail with a complaint about `saveat`
    status = main(["demo", "--out", str(tmp_path), "--n", "60", "--d", "28", "--t-max", "1e-3"])
    assert status == 0, capsys.readouterr().err
    assert "integrated to t = 0.001" in capsys.readouterr().out


@pytest.fixture
def no_computing(monkeypatch):
    """Any solve fails the test: outputs must be checked first."""
    def refuse(*args, **kwargs):
        raise AssertionError("computed before checking the output")

    for name in ("integrate", "separability", "ensemble"):
        monkeypatch.setattr(gf, name, refuse)
    # the command imports gradflow's own modules, not the package's names
    from gradflow import _ensemble, _integrate
    from gradflow._analysis import _separability

    for module, name in ((_integrate, "integrate"), (_separability, "separability"),
                         (_ensemble, "ensemble")):
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.setattr(_cli_figures, "make_figure", refuse)


def test_outputs_that_cannot_be_written_fail_before_computing(tmp_path, capsys, no_computing):
    a_file = tmp_path / "file"
    a_file.write_text("")
    for argv in (["demo", "--out", str(a_file)],  # used to fail after 8 s of work
                 ["demo", "--out", str(a_file / "sub")],
                 ["figure", "fig1", "--quick", "--out", str(a_file)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "`--out`" in err and len(err.strip().splitlines()) == 1, err
    if os.path.isdir("/proc"):  # cannot be written, even by root
        assert main(["demo", "--out", "/proc/gradflow-demo"]) == 2
        assert "cannot be written" in capsys.readouterr().err


def test_more_devices_than_cores_is_warned(tmp_path, capsys, monkeypatch):
    from gradflow import _config

    monkeypatch.setattr(_config, "cpu_count", lambda: 2)
    monkeypatch.setattr(_config, "use_cpu_devices", lambda count=None: True)
    # the sweep itself is refused (empty range) right after the devices are set up
    assert main(["sweep", "--n", "20", "--lambdas", "0.6:0.3:0.1", "--realizations", "1",
                 "--devices", "64", "--out", str(tmp_path / "x.nc")]) == 2
    err = capsys.readouterr().err
    assert "warning: --devices 64 is more than the 2 cores" in err
    assert main(["sweep", "--n", "20", "--lambdas", "0.6:0.3:0.1", "--realizations", "1",
                 "--devices", "2", "--out", str(tmp_path / "x.nc")]) == 2
    assert "warning" not in capsys.readouterr().err
