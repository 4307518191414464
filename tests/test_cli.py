import subprocess
import sys

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


def test_sweep_devices_must_be_all_or_positive(tmp_path, capsys):
    for bad in ["0", "two"]:
        assert main(["sweep", "--n", "20", "--lambdas", "0.2", "--realizations", "1",
                     "--devices", bad, "--out", str(tmp_path / "x.nc")]) == 2
        assert "`--devices`" in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()
