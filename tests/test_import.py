"""`import gradflow` loads the core only (jax, diffrax, equinox, optax and gradflow's
own core modules); the analysis (scipy), sweeps (xarray) and plotting (matplotlib) are
loaded on first use, and every public name is still there. How long the import takes is
measured in benchmarks/bench_import.py, not asserted here."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import gradflow

INIT = Path(gradflow.__file__)
NOT_AT_IMPORT = ("scipy", "matplotlib", "xarray", "h5py", "h5netcdf", "tqdm",
                 "gradflow._analysis", "gradflow._sweep", "gradflow.plotting", "gradflow._plots")


def run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_loads_the_core_only():
    loaded = run("import json, sys, gradflow; print(json.dumps(sorted(sys.modules)))")
    heavy = [m for m in loaded if any(m == p or m.startswith(p + ".") for p in NOT_AT_IMPORT)]
    assert not heavy, heavy
    assert "jax" in loaded and "diffrax" in loaded


def test_lazy_names_load_on_first_use():
    code = ("import json, sys, gradflow as gf\n"
            "before = 'gradflow._analysis._fixed_point' in sys.modules\n"
            "fp = gf.fixed_point\n"
            "from gradflow import wendel, load_sweep\n"
            "print(json.dumps(dict(before=before, module=fp.__module__,\n"
            "    loaded='gradflow._analysis._fixed_point' in sys.modules,\n"
            "    cached='fixed_point' in vars(gf), wendel=round(wendel(10, 5), 9))))")
    res = run(code)
    assert res == dict(before=False, module="gradflow._analysis._fixed_point", loaded=True,
                       cached=True, wendel=0.5)


def test_every_public_name_is_listed_and_resolves():
    names = set(gradflow.__all__)
    assert names <= set(dir(gradflow))
    for name in names:
        assert getattr(gradflow, name) is not None, name
    for name in ("integrate", "Problem", "fixed_point", "bifurcation", "sweep", "TwoPointModel"):
        assert name in names
    try:
        gradflow.no_such_name  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("an unknown name resolved")


def _type_checking_imports() -> dict[str, str]:
    tree = ast.parse(INIT.read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom)
                for alias in imp.names:
                    found[alias.asname or alias.name] = "." * imp.level + imp.module
    return found


def test_lazy_table_matches_the_static_imports():
    """The `TYPE_CHECKING` imports (read by type checkers and the API docs) and the table
    `__getattr__` loads from name the same modules."""
    assert _type_checking_imports() == gradflow._MODULE_OF


WITHOUT_MATPLOTLIB = """
import json, sys
sys.modules["matplotlib"] = None  # as if matplotlib were not installed
import gradflow.plotting as plotting
from gradflow._cli import main

errors = {}
for name in ("grokking_curves", "grokking_figure", "plot_bifurcation", "two_point_figure"):
    try:
        getattr(plotting, name)(None)
    except ImportError as err:
        errors[name] = str(err)
status = main(["demo", "--out", sys.argv[1]])
print(json.dumps(dict(errors=errors, status=status)))
"""


def test_plotting_without_matplotlib_says_how_to_install(tmp_path):
    out = subprocess.run([sys.executable, "-c", WITHOUT_MATPLOTLIB, str(tmp_path / "demo")],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(res["errors"]) == 4
    for message in res["errors"].values():
        assert 'pip install "gradflow[plot]"' in message
    # the demo refuses before computing: one line, no files, no traceback
    assert res["status"] == 2
    assert out.stderr.strip().splitlines() == [
        "gradflow: error: gradflow's plotting needs matplotlib, which is not installed: "
        'pip install "gradflow[plot]"']
    assert not any((tmp_path / "demo").glob("*"))


def test_only_the_drawing_code_imports_matplotlib():
    """matplotlib is the optional extra `plot`: only `_plots/` and `plotting.py` import
    it (the command reaches it through them)."""
    package = INIT.parent
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        if rel.startswith("_plots/") or rel == "plotting.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "matplotlib" for n in names), rel
