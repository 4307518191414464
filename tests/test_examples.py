"""Smoke tests: every script in examples/ runs at its `--quick` size and writes its figure."""

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NAMES = ["grokking_curves", "gd_vs_flow", "adam_grokking", "exponential_loss", "two_point_model",
         "fig9_grokking_ratio", "real_data_grokking"]


def load(name):
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", NAMES)
def test_example_quick(name, tmp_path, capsys):
    if name == "real_data_grokking":
        pytest.importorskip("sklearn", reason="the example loads a scikit-learn data set")
    out = load(name).main(["--quick", "--out", str(tmp_path)])
    for ext in ("png", "pdf"):
        path = tmp_path / f"{name}.{ext}"
        assert path.is_file() and path.stat().st_size > 1000, path
    assert f"wrote {tmp_path}" in capsys.readouterr().out
    assert sorted(p.name for p in out["paths"]) == [f"{name}.pdf", f"{name}.png"]
    if name == "gd_vs_flow":
        # First order even at the smoke-test size.
        assert 0.9 <= out["slopes_small"]["params"] <= 1.1
    if name == "real_data_grokking":
        s = out["summary"]
        assert s["benign, n = n_c"]["regime"] == "bias_separable"
        assert s["two classes, n = n_c"]["regime"] == "inseparable"
        # just below the threshold the training set is fitted long before the test set
        near = s["benign, n = n_c"]
        assert near["t_train_acc_1"] < 10 and near["test_acc_at_train_fit"] < 0.9
    if name == "adam_grokking":
        adam, gd = out["summary"]["Adam"], out["summary"]["GD"]
        assert np.isfinite(adam["final_test_accuracy"]) and np.isfinite(gd["final_test_accuracy"])


def test_import_gradflow_does_not_import_matplotlib():
    import subprocess

    code = "import gradflow, sys; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_examples_use_the_public_api_only():
    for path in sorted(EXAMPLES.glob("*.py")):
        private = re.findall(r"gradflow\._\w+|from gradflow import _\w+", path.read_text())
        assert not private, (path.name, private)
