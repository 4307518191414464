"""The documentation site builds in strict mode (any warning fails), documents every
public name, and every public name has a docstring with its arguments, returns and
raises (Markdown `**Arguments:**`, `**Returns:**`, `**Raises:**`)."""

import dataclasses
import functools
import html
import http.server
import inspect
import os
import re
import subprocess
import sys
import textwrap
import threading
import types
from pathlib import Path

import browser
import pytest

import gradflow
import gradflow.plotting

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _public_names() -> dict:
    names = {}
    for name in dir(gradflow):  # dir, not vars: the analysis is loaded on first use
        obj = getattr(gradflow, name)
        if not name.startswith("_") and not isinstance(obj, types.ModuleType):
            names[f"gradflow.{name}"] = obj
    for name, obj in vars(gradflow.plotting).items():
        if (not name.startswith("_") and callable(obj) and obj is not gradflow.Trajectory
                and getattr(obj, "__module__", "").startswith("gradflow")):
            names[f"gradflow.plotting.{name}"] = obj
    return names


PUBLIC = _public_names()

# Docstring gaps in modules this test does not own (reported; fixing one turns its xfail
# into an xpass, which is fine: the marker is not strict).
KNOWN_GAPS: dict = {}

_ARGS = re.compile(r"\*\*Arguments[:*]")
_FIELDS = re.compile(r"\*\*(Arguments|Fields)\b")
_RETURNS = re.compile(r"\*\*Returns[:*]")
_RAISES = re.compile(r"\*\*Raises[:*]")


def docstring_gaps(name: str, obj) -> list[str]:
    """What the docstring of a public name lacks: the docstring itself; for classes
    with fields or constructor arguments, `**Arguments:**` or `**Fields:**`; for
    functions with parameters `**Arguments:**`, with a `return value` `**Returns:**`, and
    with a `raise` in their body `**Raises:**`. Exceptions, result enumerations and
    abstract bases need a docstring only."""
    doc = inspect.getdoc(obj) or ""
    if not doc.strip():
        return ["docstring"]
    if inspect.isclass(obj):
        short = name.rsplit(".", 1)[-1]
        if issubclass(obj, BaseException) or short.endswith("RESULTS") or \
                short.endswith("Results") or short.startswith("Abstract"):
            return []
        fields = dataclasses.fields(obj) if dataclasses.is_dataclass(obj) else ()
        try:
            params = inspect.signature(obj).parameters
        except (TypeError, ValueError):
            params = {}
        return ["Arguments/Fields"] if (fields or params) and not _FIELDS.search(doc) else []
    fn = inspect.unwrap(obj)
    gaps = []
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    if params and not _ARGS.search(doc):
        gaps.append("Arguments")
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        source = ""
    if re.search(r"^\s+return\s+\S", source, re.M) and not _RETURNS.search(doc):
        gaps.append("Returns")
    if re.search(r"^\s+raise\s+\w", source, re.M) and not _RAISES.search(doc):
        gaps.append("Raises")
    return gaps


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.xfail(reason=f"known gap: {KNOWN_GAPS[n]}",
                                             strict=False))
     if n in KNOWN_GAPS else n for n in PUBLIC],
)
def test_public_docstring_is_complete(name):
    gaps = docstring_gaps(name, PUBLIC[name])
    assert not gaps, f"{name}: the docstring lacks {', '.join(gaps)}"


def test_every_public_name_is_in_the_api_reference():
    text = "\n".join(p.read_text() for p in (DOCS / "api").glob("*.md"))
    documented = set(re.findall(r"^::: (gradflow[\w.]*)\s*$", text, re.M))
    missing = sorted(set(PUBLIC) - documented)
    assert not missing, f"add `::: NAME` to a page of docs/api/ for: {missing}"
    unknown = sorted(documented - set(PUBLIC))
    assert not unknown, f"docs/api/ documents names that are not public: {unknown}"


def test_gallery_shows_every_figure_with_its_command():
    from gradflow._cli_figures import figure_names

    gallery = (DOCS / "gallery.md").read_text()
    for name in figure_names():
        assert f"gradflow figure {name}" in gallery, name
        png = DOCS / "gallery" / f"{name}.png"
        assert png.is_file(), png
        assert png.stat().st_size < 350_000, (png, png.stat().st_size)
        assert f"gallery/{name}.png" in gallery, name


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built in strict mode (once for this module): its folder and the build log."""
    site = tmp_path_factory.mktemp("docs") / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    res = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    return site, res.returncode, res.stdout + res.stderr


def test_docs_build_strict(site):
    site, returncode, log = site
    assert returncode == 0, log[-5000:]
    assert "WARNING" not in log, log[-5000:]
    for page in ("index.html", "tutorial/index.html", "gallery/index.html",
                 "integration/index.html", "api/problems/index.html"):
        assert (site / page).is_file(), page
    api = (site / "api" / "problems" / "index.html").read_text()
    assert "threshold_problem" in api and "Genz" in api  # rendered from the docstrings


def test_site_loads_nothing_from_outside(site):
    """MathJax is served by the site (mkdocs_hooks/offline_mathjax.py), the fonts are the
    system's: no page names a URL outside the site in a script, stylesheet or image."""
    site, returncode, log = site
    assert returncode == 0, log[-5000:]
    assert (site / "javascripts" / "mathjax" / "tex-chtml.js").is_file()
    assert list((site / "javascripts" / "mathjax" / "output" / "chtml" / "fonts").rglob(
        "*.woff"))
    outside = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//""")
    for page in site.rglob("*.html"):
        found = outside.findall(page.read_text())
        assert not found, (page.relative_to(site), found)


_NOT_PROSE = re.compile(
    r'<(pre|code|script|style)\b.*?</\1>|<(span|div) class="arithmatex">.*?</\2>', re.S)
_RAW_TEX = re.compile(r"\\[()\[\]]|\$\$|\$[^$\s][^$]{0,200}?\$")


def test_no_page_shows_raw_tex(site):
    """Every formula of every page reaches MathJax: arithmatex takes `$x$` only without
    spaces inside the dollars (`$> $` stays text), so look for dollars and `\\(` left in
    the prose of the built pages."""
    site, returncode, log = site
    assert returncode == 0, log[-5000:]
    raw = {}
    for page in sorted(site.rglob("*.html")):
        article = re.search(r"<article\b.*?</article>", page.read_text(), re.S)
        if article:
            prose = html.unescape(re.sub(r"<[^>]+>", "", _NOT_PROSE.sub("", article[0])))
            if found := _RAW_TEX.findall(prose):
                raw[str(page.relative_to(site))] = found
    assert not raw, raw


# The pages the browser test opens (name: path in the site).
BROWSER_PAGES = {"home": "", "tutorial": "tutorial/", "api-analysis": "api/analysis/",
                 "gallery": "gallery/", "mathematics": "mathematics/"}

# Runs in each page once it has loaded: waits (at most 30 s) until MathJax has typeset
# every formula and every image has loaded or failed, then reports what the page shows.
RENDERED = r"""
(async () => {
  const formulas = () => [...document.querySelectorAll('.arithmatex')];
  const pending = () => formulas().filter(e => !e.querySelector('mjx-container')).length
    + [...document.images].filter(i => !i.complete).length;
  const deadline = Date.now() + 30000;
  while (pending() && Date.now() < deadline) await new Promise(r => setTimeout(r, 100));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise)
    await MathJax.startup.promise;
  const prose = (document.querySelector('article') || document.body).cloneNode(true);
  prose.querySelectorAll('pre, code, mjx-container, script').forEach(e => e.remove());
  return {
    formulas: formulas().length,
    typeset: document.querySelectorAll('.arithmatex mjx-container').length,
    untypeset: formulas().filter(e => !e.querySelector('mjx-container'))
      .map(e => e.textContent.slice(0, 60)).slice(0, 5),
    // a typeset character shows through CSS (content of mjx-c::before): none is blank
    // (but for the invisible operators U+2061-2064, function application and the like)
    blank: formulas().filter(e => [...e.querySelectorAll('mjx-c')].some(c =>
      !/\bmjx-c206[1-4]\b/.test(c.className) &&
      ['none', 'normal', '""'].includes(getComputedStyle(c, '::before').content)))
      .map(e => e.querySelector('mjx-assistive-mml')?.textContent.slice(0, 60))
      .slice(0, 5),
    tex_errors: [...document.querySelectorAll('mjx-merror')]
      .map(e => e.getAttribute('data-mjx-error') || e.textContent).slice(0, 5),
    raw_tex: (prose.textContent.match(/\\[()\[\]]|\$[^$\s][^$]{0,200}\$/g) || [])
      .slice(0, 5),
    images: [...document.images].map(i => ({src: i.src, complete: i.complete,
                                             width: i.naturalWidth})),
  };
})()
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.slow
def test_site_renders_offline_in_chromium(site, tmp_path):
    """The built site, served on 127.0.0.1 and opened in headless Chromium with no way out
    (every other address goes to a closed port): the formulas of the home page, the
    tutorial, an API page and the mathematics page are typeset, every image loads, and no
    page logs a JavaScript error or asks for anything outside the site.
    `GRADFLOW_DOCS_SCREENSHOTS=DIR` saves a screenshot of each page there."""
    exe = browser.find_chromium()
    if exe is None:
        pytest.skip("no Chromium to render the site: `apt-get install chromium` (.ci/run "
                    "does this where it runs as root with apt), or GRADFLOW_CHROMIUM=PATH")
    site, returncode, log = site
    assert returncode == 0, log[-5000:]
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/"
    shots = os.environ.get("GRADFLOW_DOCS_SCREENSHOTS")
    chrome = browser.Chromium(exe, str(tmp_path / "profile"))
    seen = {}
    try:
        tab = chrome.page()
        for name, path in BROWSER_PAGES.items():
            chrome.drain(tab)
            chrome.navigate(tab, base + path)
            seen[name] = chrome.evaluate(tab, RENDERED)
            if shots:
                os.makedirs(shots, exist_ok=True)
                chrome.screenshot(tab, os.path.join(shots, f"{name}.png"))
                if seen[name]["images"]:  # and one at its first figure
                    chrome.evaluate(tab, "document.images[0].scrollIntoView()")
                    chrome.screenshot(tab, os.path.join(shots, f"{name}-figure.png"))
            seen[name]["problems"] = browser.problems(chrome.drain(tab), base)
    finally:
        chrome.close()
        server.shutdown()
        server.server_close()
    for name, page in seen.items():
        assert not page["problems"], (name, page["problems"])
        assert not page["untypeset"] and not page["tex_errors"], (name, page)
        assert not page["blank"], (name, "formulas typeset but not shown", page["blank"])
        assert not page["raw_tex"], (name, page["raw_tex"])
        broken = [i["src"] for i in page["images"] if not (i["complete"] and i["width"] > 0)]
        assert not broken, (name, broken)
    for name in ("home", "tutorial", "api-analysis", "mathematics"):
        assert seen[name]["typeset"] == seen[name]["formulas"] > 0, (name, seen[name])
    assert len(seen["tutorial"]["images"]) == 2
    from gradflow._cli_figures import figure_names

    assert len(seen["gallery"]["images"]) == len(figure_names())
