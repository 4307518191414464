"""Every Python code block of README.md and docs/ runs, and every number its comments show
is what it computes, to the digits shown (the conventions are in tests/doccode.py and
docs/getting-started.md). The pages run in one process, started once for this module
(importing JAX and gradflow costs seconds), each page in its own namespace; a block that
must start a process of its own (docs/integration.md sets the number of CPU devices,
which must precede any JAX work) is marked so and gets one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import doccode
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [p for p in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
         if doccode.python_blocks(p)]


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def test_the_pages_with_code_are_found():
    assert {"README.md", "docs/tutorial.md"} <= {_rel(p) for p in PAGES}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Every page with code run once, in one process: its report by page, and the log."""
    tmp = tmp_path_factory.mktemp("doccode")
    out = tmp / "reports.json"
    res = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "tests" / "doccode.py"),
         *map(str, PAGES), "--json", str(out)],
        cwd=tmp, env=dict(os.environ, MPLBACKEND="Agg"), capture_output=True, text=True,
        timeout=1800,
    )
    found = {r["path"]: r for r in json.loads(out.read_text())} if out.is_file() else {}
    return found, f"{res.stdout}\n{res.stderr[-5000:]}"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_code_blocks_run_and_show_what_they_compute(page, reports):
    found, log = reports
    assert _rel(page) in found, f"the runner failed:\n{log}"
    report = doccode.Report(**found[_rel(page)])
    if not report.ok():
        pytest.fail(f"{report.summary()}\nUpdate the page (or the code): `python "
                    f"tests/doccode.py {_rel(page)}` lists every difference; "
                    f"GRADFLOW_DOCS_FULL=1 also runs the quick-size blocks at full size.",
                    pytrace=False)
    assert report.blocks == len(doccode.python_blocks(page)), report.summary()


# ------------------------------------------------------------------ the runner itself


@pytest.mark.parametrize("comment, value", [
    ("(200, 96, 0.48)", (200, 96, 0.48)),
    ("0.5025 ± 0.0061: λ_c = 1/2", (0.50252, 0.006066)),
    ("3.6e-5 at t = 1e8", 3.5977e-5),
    ("2.4e4", 24094.0),
    ("-0.5277 = log L̃(w*)", np.float64(-0.52772)),
    ("'converged', 0.819, -0.528", ("converged", 0.8188, -0.5277)),
    ("False: the origin is in the hull", np.bool_(False)),
    ("[0.9974 0.9995 ...]", np.array([0.99739, 0.99954, 0.2, 0.3])),
    ("fraction separable: 0, .1, .25, 1", np.array([0.0, 0.1, 0.25, 1.0])),
    ("(8, 201, 96)", (8, 201, 96)),
    ("{'clock': 'log', 'num_accepted_steps': 673, ...}",
     {"clock": "log", "solver": "Tsit5", "num_accepted_steps": 673}),
    ("(T,), (T, d), (T,)  — t is always physical", object()),  # prose only
])
def test_comment_matches(comment, value):
    assert doccode.compare(comment, value) == []


@pytest.mark.parametrize("comment, value, message", [
    ("0.5025", 0.50256, "shows 0.5025, the code gives 0.50256 (0.5026 at the digits shown)"),
    ("2353", 2354, "shows 2353, the code gives 2354"),
    ("0", 0.04, "shows 0, the code gives 0.04"),  # an integer is exact
    ("2.4e4", 2.29e4, "(2.3e+04 at the digits shown)"),
    ("(201,), (201, 96)", ((201,), (201, 95)), "value 3 of 3: shows 96, the code gives 95"),
    ("[0.9974 0.9995]", np.array([0.9974, 0.9995, 0.9]), "the comment shows 2 values"),
    ("'converged'", "separable", "shows 'converged', the code gives 'separable'"),
    ("True", False, "shows True, the code gives False"),
    ("{'num_accepted_steps': 673}", {"num_accepted_steps": 674}, "['num_accepted_steps']"),
    ("{'num_steps': 673}", {"steps": 673}, "does not have"),
    ("~500 steps", object(), "the expression gives a object, not numbers"),
])
def test_comment_differs(comment, value, message):
    diffs = doccode.compare(comment, value)
    assert len(diffs) == 1 and message in diffs[0], diffs


PAGE = """# A page

<!-- quick: {"range(100)": "range(3)"} -->
```python
xs = [k * k for k in range(100)]
len(xs)        # 100
```

Text.

```python
sum(xs[:3]),   \\
  len(xs) > 2  # 5, True
d = {'a': 1.25,
     'b': 'x'}
d              # {'a': 1.5, ...}
               #  'b': 'y'}
print(1 / 3)   # 0.333
1 / 0
```
"""


def test_page_reports_each_difference_with_its_line():
    r = doccode.run_page("page.md", text=PAGE, full=True)
    assert r.blocks == 2 and len(r.checked) == 4 and not r.skipped
    assert r.checked == ["page.md:6", "page.md:13", "page.md:16", "page.md:18"]
    assert r.failures == [
        "page.md:16 (block 2) `d`: ['a'] shows 1.5, the code gives 1.25 "
        "(1.2 at the digits shown)",
        "page.md:16 (block 2) `d`: ['b'] shows 'y', the code gives 'x'",
    ]
    assert r.error.startswith("page.md:19 (block 2) `1 / 0` raised:")
    assert 'File "page.md", line 19' in r.error and "ZeroDivisionError" in r.error
    assert "doccode.py" not in r.error


def test_quick_markers_substitute_and_skip_the_comparisons():
    r = doccode.run_page("page.md", text=PAGE, full=False, blocks=1)
    assert r.skipped == ["page.md:6"] and not r.checked and r.ok()
    r = doccode.run_page("page.md", text=PAGE.replace("in range(100)", "in range(99)"),
                         blocks=1)
    assert "does not occur in the block" in r.error


def test_a_changed_number_in_the_tutorial_fails():
    text = (ROOT / "docs" / "tutorial.md").read_text()
    shown = "# (200, 96, 0.48)"
    assert text.count(shown) == 1
    line = text[:text.index(shown)].count("\n") + 1
    assert doccode.run_page("docs/tutorial.md", text=text, blocks=1).ok()
    r = doccode.run_page("docs/tutorial.md", text=text.replace(shown, "# (200, 96, 0.49)"),
                         blocks=1)
    assert r.error is None and len(r.failures) == 1, r.summary()
    assert r.failures[0].startswith(f"docs/tutorial.md:{line} (block 1) ")
    assert "value 3 of 3: shows 0.49, the code gives 0.48" in r.failures[0]


def test_a_new_process_block_runs_alone_in_a_new_process():
    page = """```python
import sys
x = 1
"doccode" in sys.modules   # True: this process runs the tests
```

<!-- new process -->
```python
import sys
"doccode" in sys.modules, "x" in dir()   # False, False
1 + 1                                     # 3
```
"""
    r = doccode.run_page("page.md", text=page)
    assert r.blocks == 2 and r.checked == ["page.md:4", "page.md:10", "page.md:11"]
    assert r.failures == ["page.md:11 (block 2) `1 + 1`: shows 3, the code gives 2"]
