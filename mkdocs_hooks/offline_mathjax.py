"""MkDocs hook: the site carries its own MathJax, so formulas render without a network.

The files come from the pip package `django-static-mathjax` (MathJax 3.2.2, the official
`es5/` build; the package has no dependencies, and nothing of Django is used), in the
`test` extra with the rest of the documentation toolchain. The hook adds to the site,
under `javascripts/mathjax/`, the component that `mkdocs.yml` loads, `tex-chtml.js` (TeX
input only, as arithmatex writes it: the MathML input of `tex-mml-chtml.js` would typeset
the hidden assistive MathML a second time when the page is typeset again), and what it may
load later from its own folder: the CHTML fonts, the TeX extensions that `autoload` fetches
for less common macros, the menu and the accessibility components. Nothing is fetched at
build time or in the reader's browser.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

DEST = "javascripts/mathjax"
MAIN = "tex-chtml.js"
# What tex-chtml.js may load from [mathjax]/ after it starts.
LAZY = ("input/", "output/chtml", "ui/", "a11y/", "sre/", "adaptors/")


def mathjax_dir() -> Path:
    """The `es5/` folder of the installed MathJax (package `django-static-mathjax`)."""
    spec = importlib.util.find_spec("mathjax")
    for root in (spec.submodule_search_locations or []) if spec else []:
        es5 = Path(root) / "static" / "mathjax" / "es5"
        if (es5 / MAIN).is_file():
            return es5
    raise PluginError(
        "MathJax is not installed: pip install django-static-mathjax (in gradflow's test "
        "extra); the site serves it itself so that formulas render offline")


def on_files(files, config):
    es5 = mathjax_dir()
    for path in sorted(es5.rglob("*")):
        rel = path.relative_to(es5).as_posix()
        if path.is_file() and (rel == MAIN or rel.startswith(LAZY)):
            files.append(File.generated(config, f"{DEST}/{rel}", abs_src_path=str(path)))
    return files
