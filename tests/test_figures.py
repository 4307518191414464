"""Every figure of the paper at its `--quick` size, through the command line
(`gradflow figure NAME --quick --out DIR`), writes its PNG, PDF, data and caption."""

import dataclasses
import importlib.util
import re
import sys
import time

import numpy as np
import pytest

from gradflow import _cli_figures
from gradflow._cli import main

NAMES = ["fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig9", "figF1", "fig11",
         "figF3", "fig14", "fig15", "fig16"]
RUN_TIMES: dict[str, float] = {}


def test_registry_is_the_paper_figure_list(capsys):
    assert _cli_figures.figure_names() == NAMES
    assert main(["figure", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in NAMES:
        assert re.search(rf"^{name}\s", listed, re.M), name


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_figure_quick_writes_its_files(name, tmp_path, capsys, monkeypatch):
    # Figs. 3 and 9 are computed by the package (they used to run scripts of examples/,
    # which an installed gradflow does not have): no script is loaded by path.
    load = importlib.util.spec_from_file_location

    def no_scripts(name, location=None, **kwargs):
        assert "examples" not in str(location), f"a figure loaded {location}"
        return load(name, location, **kwargs)

    monkeypatch.setattr(importlib.util, "spec_from_file_location", no_scripts)
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
    # only the figure's own files are left
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{name}.{ext}" for ext in ("npz", "pdf", "png", "txt"))


def test_unknown_figure_is_a_clear_error(tmp_path, capsys):
    assert main(["figure", "fig99", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown figure 'fig99'" in err and "fig16" in err
    assert main(["figure", "--out", str(tmp_path)]) == 2
    assert "figure name" in capsys.readouterr().err


def test_missing_matplotlib_is_reported_before_computing(tmp_path, capsys, monkeypatch):
    def refuse(quick):
        raise AssertionError("computed before checking for matplotlib")

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    monkeypatch.setattr(_cli_figures, "FIGURES", {
        name: dataclasses.replace(spec, compute=refuse)
        for name, spec in _cli_figures.FIGURES.items()})
    assert main(["figure", "fig3", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert 'pip install "gradflow[plot]"' in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())
    with pytest.raises(ImportError, match="gradflow\\[plot\\]"):
        _cli_figures.make_figure("fig9", tmp_path, quick=True)
