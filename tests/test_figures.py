"""Every figure of the paper at its `--quick` size, through the command line
(`gradflow figure NAME --quick --out DIR`), writes its PNG, PDF, data and caption."""

import re
import time
from pathlib import Path

import numpy as np
import pytest

from gradflow import _figures
from gradflow._cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NAMES = ["fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig9", "fig14", "fig15",
         "fig16"]
RUN_TIMES: dict[str, float] = {}


def test_registry_is_the_paper_figure_list(capsys):
    assert _figures.figure_names() == NAMES
    assert main(["figure", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in NAMES:
        assert re.search(rf"^{name}\s", listed, re.M), name


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_figure_quick_writes_its_files(name, tmp_path, capsys, monkeypatch):
    # Figs. 3 and 9 run scripts of examples/: point at this checkout's, wherever gradflow
    # itself is installed (CI installs a copy into site-packages).
    monkeypatch.setenv("GRADFLOW_EXAMPLES", str(EXAMPLES))
    start = time.perf_counter()
    assert main(["figure", name, "--quick", "--out", str(tmp_path)]) == 0
    RUN_TIMES[name] = time.perf_counter() - start
    out = capsys.readouterr().out
    assert f"gradflow figure {name} (quick)" in out
    assert re.search(r"run time \d+\.\d s", out)
    for ext in ("png", "pdf"):
        path = tmp_path / f"{name}.{ext}"
        assert path.is_file() and path.stat().st_size > 10_000, path
    with np.load(tmp_path / f"{name}.npz") as data:
        caption = str(data["caption"])
        assert caption.startswith(f"Fig. {name[3:]}"), caption[:40]
        arrays = [k for k in data.files if k not in ("caption", "params")]
        assert arrays and all(np.asarray(data[k]).size for k in arrays)
    text = (tmp_path / f"{name}.txt").read_text()
    assert caption in text and f"gradflow figure {name} --quick" in text
    # only the figure's own files are left (the example scripts' outputs are renamed)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{name}.{ext}" for ext in ("npz", "pdf", "png", "txt"))


def test_unknown_figure_is_a_clear_error(tmp_path, capsys):
    assert main(["figure", "fig99", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown figure 'fig99'" in err and "fig16" in err
    assert main(["figure", "--out", str(tmp_path)]) == 2
    assert "figure name" in capsys.readouterr().err


def test_missing_example_is_reported_not_skipped(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRADFLOW_EXAMPLES", str(tmp_path / "nowhere"))
    assert main(["figure", "fig3", "--quick", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "examples/two_point_model.py" in err and "not at" in err and "nowhere" in err
    assert not (tmp_path / "fig3.png").exists()
    with pytest.raises(_figures.MissingExampleError, match="fig9_grokking_ratio.py"):
        _figures.make_figure("fig9", tmp_path, quick=True)
