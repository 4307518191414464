"""Run the Python code blocks of a Markdown page and check the numbers their comments show.

Conventions (also in docs/getting-started.md, "The code on these pages is tested"):

- Every ```` ```python ```` block of a page runs, in order, in one namespace per page (as a
  reader who pastes the blocks one after another into one session would). Pages given
  together run one after another in one process (JAX is imported once), each in its own
  namespace.
- A trailing comment on an *expression statement* (not an assignment) shows its value:
  `problem.n, problem.d, problem.lam   # (200, 96, 0.48)`. The numbers, `True`/`False`/
  `None` and quoted strings of the comment are compared in order with the leaves of the
  value (tuples, lists and arrays flattened); words between them, and whatever follows
  once the value's leaves are used up, are prose. `...` ends the comparison (a truncated
  array). A dict value is compared by the `'key': value` pairs the comment shows. A
  comment line right below, with its `#` in the same column, continues the comment.
  A comment without any number, quoted string or `True`/`False`/`None` is prose only.
- A number matches when the computed value rounds to it at the digits shown
  (`0.5025` means [0.50245, 0.50255], `2.4e4` means [2.35e4, 2.45e4]); a number without a
  decimal point or exponent (`2353`, `0`) must be equal.
- Quick size: an HTML comment on the line right above a block,
  `<!-- quick: {"range(100)": "range(4)"} -->`, gives substitutions (old text: new text;
  each old text must occur in the block) that make a slow block fast. The tests apply
  them, run the block and skip its comparisons (they hold at full size only); with
  `GRADFLOW_DOCS_FULL=1` in the environment the block runs as shown, comparisons and all.
- `<!-- new process -->` on the line right above a block runs it alone in a new Python
  process: a block that must start a script (`jax.config.update("jax_num_cpu_devices", ...)`
  must come before any JAX work).

Run as a script to see every difference of a page at once:

    python tests/doccode.py docs/tutorial.md [--full] [--json OUT]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import tokenize
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

FULL_ENV = "GRADFLOW_DOCS_FULL"

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\s`]*)")
_MARKER = re.compile(r"^\s*<!--\s*(?P<marker>.*?)\s*-->\s*$")

_TOKEN = re.compile(
    r"""(?P<str>'[^']*'|"[^"]*")
      | (?P<kw>\b(?:True|False|None)\b)
      | (?P<ellipsis>\.\.\.|…)
      | (?P<num>(?<![\w.])[-+−]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+−]?\d+)?(?!\w)(?!\.\d))""",
    re.X,
)
_PAIR = re.compile(r"""['"](?P<key>\w+)['"]\s*:\s*(?P<val>'[^']*'|"[^"]*"|[^\s,}]+)""")


@dataclass
class Block:
    path: str
    index: int  # 1-based, among the page's Python blocks
    line: int  # line of the block's first code line in the page (1-based)
    code: str
    quick: dict = field(default_factory=dict)  # <!-- quick: {"old": "new"} -->
    new_process: bool = False  # <!-- new process -->
    source_page: str | None = None


@dataclass
class Report:
    path: str
    blocks: int = 0
    statements: int = 0
    checked: list = field(default_factory=list)  # "path:line" of each compared comment
    skipped: list = field(default_factory=list)  # comparisons skipped at quick size
    failures: list = field(default_factory=list)  # one message each
    error: str | None = None  # an exception that stopped the page
    seconds: list = field(default_factory=list)  # run time of each block (information only)

    def ok(self) -> bool:
        return not self.failures and self.error is None

    def summary(self) -> str:
        lines = [f"{self.path}: {self.blocks} blocks, {self.statements} statements, "
                 f"{len(self.checked)} output comments checked, {len(self.skipped)} skipped "
                 f"(quick size); seconds per block {self.seconds}"]
        lines += [f"  {f}" for f in self.failures]
        if self.error:
            lines.append(f"  {self.error}")
        return "\n".join(lines)


def python_blocks(path: str | Path, text: str | None = None) -> list[Block]:
    """The ```` ```python ```` blocks of a Markdown file, with their quick-size markers."""
    text = Path(path).read_text() if text is None else text
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m["fence"], m["info"].lower()
        j = i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence[0] * len(fence))
                                      and not lines[j].strip().strip(fence[0])):
            j += 1
        if info in ("python", "py", "python3"):
            quick, new_process, k = {}, False, i - 1
            while k >= 0 and (marker := _MARKER.match(lines[k])):  # markers right above
                if marker["marker"].startswith("quick:"):
                    quick = ast.literal_eval(marker["marker"][len("quick:"):].strip())
                elif marker["marker"] == "new process":
                    new_process = True
                k -= 1
            indent = len(m["indent"])
            code = "\n".join(line[indent:] for line in lines[i + 1:j]) + "\n"
            blocks.append(Block(str(path), len(blocks) + 1, i + 2, code, quick, new_process))
        i = j + 1
    return blocks


# ------------------------------------------------------------------ comparing a comment


def _leaves(value):
    """Numbers, strings and booleans of a value, in order (tuples, lists, arrays flattened)."""
    import numpy as np

    if isinstance(value, (str, bool, np.bool_, int, float, np.integer, np.floating)) \
            or value is None:
        yield value.item() if isinstance(value, np.generic) else value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _leaves(v)
    elif hasattr(value, "__array__") or hasattr(value, "shape"):
        a = np.asarray(value)
        for v in a.ravel():
            yield v.item()
    else:
        raise TypeError(f"a {type(value).__name__}, not numbers")


def _parse(tok: re.Match):
    kind = tok.lastgroup
    s = tok.group()
    if kind == "str":
        return s[1:-1]
    if kind == "kw":
        return {"True": True, "False": False, "None": None}[s]
    return s.replace("−", "-")  # numbers stay text: their digits are the tolerance


def _tolerance(shown: str) -> float | None:
    """Half a unit in the last digit shown; None for an integer (compared exactly)."""
    mant, _, exp = shown.lower().partition("e")
    if "." not in mant and not exp:
        return None
    decimals = len(mant.partition(".")[2])
    return 0.5 * 10.0 ** (int(exp or 0) - decimals)


def _at_digits(value: float, shown: str) -> str:
    mant, _, exp = shown.lower().partition("e")
    decimals = len(mant.partition(".")[2])
    if exp:
        return f"{value:.{decimals}e}"
    return f"{value:.{decimals}f}"


def _compare_one(shown, value) -> str | None:
    """None if `value` shows as `shown`, else how it differs."""
    if shown is None or isinstance(shown, bool):
        if value is shown or (isinstance(value, bool) and value == shown):
            return None
        return f"shows {shown}, the code gives {value!r}"
    if not isinstance(shown, str) or not re.fullmatch(r"[-+]?[\d.]+(e[-+]?\d+)?", shown, re.I):
        if str(value) == shown or getattr(value, "name", None) == shown:
            return None
        return f"shows '{shown}', the code gives {value!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"shows {shown}, the code gives {value!r}"
    expected = float(shown)
    tol = _tolerance(shown)
    if not math.isfinite(value):
        return f"shows {shown}, the code gives {value!r}"
    if tol is None:
        if value == expected:
            return None
        return f"shows {shown}, the code gives {value!r}"
    if abs(value - expected) <= tol * (1 + 1e-9) + 1e-15 * abs(expected):
        return None
    return (f"shows {shown}, the code gives {value!r} "
            f"({_at_digits(value, shown)} at the digits shown)")


def compare(comment: str, value) -> list[str]:
    """How `value` differs from what `comment` shows (empty: it matches or shows nothing)."""
    tokens = list(_TOKEN.finditer(comment))
    if not any(t.lastgroup != "ellipsis" for t in tokens):
        return []  # prose only
    if isinstance(value, Mapping):
        pairs = list(_PAIR.finditer(comment))
        if not pairs:
            return [f"the value is a dict; show it as 'key': value pairs (got {comment!r})"]
        out = []
        for p in pairs:
            key = p["key"]
            if key not in value:
                out.append(f"shows '{key}', which the dict does not have")
                continue
            tok = _TOKEN.fullmatch(p["val"])
            if tok is None:
                out.append(f"cannot read the value {p['val']!r} shown for '{key}'")
                continue
            leaves = list(_leaves(value[key]))
            diff = _compare_one(_parse(tok), leaves[0] if len(leaves) == 1 else value[key])
            if diff:
                out.append(f"['{key}'] {diff}")
        return out
    try:
        leaves = list(_leaves(value))
    except TypeError as e:
        return [f"the comment shows values, but the expression gives {e}"]
    out = []
    for k, leaf in enumerate(leaves):
        if k >= len(tokens):
            return out + [f"the comment shows {len(tokens)} values, the code gives "
                          f"{len(leaves)}: {leaves!r:.200} (end the comment with ... "
                          f"to show only the first ones)"]
        if tokens[k].lastgroup == "ellipsis":
            return out
        diff = _compare_one(_parse(tokens[k]), leaf)
        if diff:
            out.append(f"value {k + 1} of {len(leaves)}: {diff}" if len(leaves) > 1 else diff)
    return out


# ------------------------------------------------------------------ running a page


def _traceback(e: BaseException) -> str:
    """The traceback of an exception raised by a page, without this module's frames: the
    page's own line first, then at most the 3 innermost frames below it."""
    tbe = traceback.TracebackException.from_exception(e)
    frames = [f for f in tbe.stack if f.filename != __file__]
    if len(frames) > 4:
        frames = frames[:1] + frames[-3:]
    tbe.stack = traceback.StackSummary.from_list(frames)
    return "".join(tbe.format())


def _comments(code: str) -> dict[int, tuple[int, str]]:
    """Line (1-based, in the block) -> (column, text) of each comment."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = (tok.start[1], tok.string[1:].strip())
    return out


def _output_comment(stmt: ast.stmt, comments: dict, code_lines: list[str]) -> str | None:
    if stmt.end_lineno not in comments:
        return None
    col, text = comments[stmt.end_lineno]
    row = stmt.end_lineno + 1
    while row in comments and comments[row][0] == col and \
            code_lines[row - 1].lstrip().startswith("#"):
        text += " " + comments[row][1]
        row += 1
    return text


def _run_block(block: Block, namespace: dict, report: Report, full: bool) -> bool:
    """Run one block in `namespace`, adding to `report`; False if it raised."""
    label = report.path
    code, quick = block.code, bool(block.quick) and not full
    if quick:
        for old, new in block.quick.items():
            if old not in code:
                report.error = (f"{label}:{block.line - 1}: quick-size marker of block "
                                f"{block.index}: {old!r} does not occur in the block")
                return False
            code = code.replace(old, new)
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        report.error = f"{label}:{block.line + (e.lineno or 1) - 1}: {e.msg}"
        return False
    comments, code_lines = _comments(code), code.splitlines()
    start = time.perf_counter()
    for stmt in tree.body:
        report.statements += 1
        where = f"{label}:{block.line + stmt.end_lineno - 1}"
        source = ast.get_source_segment(code, stmt) or ""
        comment = _output_comment(stmt, comments, code_lines)
        node = ast.increment_lineno(stmt, block.line - 1)
        try:
            if not isinstance(stmt, ast.Expr):
                exec(compile(ast.Module([node], []), label, "exec"), namespace)
                continue
            expr = node.value
            if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and \
                    expr.func.id == "print" and not expr.keywords:
                expr = ast.Tuple(expr.args, ast.Load()) if len(expr.args) != 1 \
                    else expr.args[0]
                ast.fix_missing_locations(ast.copy_location(expr, node.value))
            value = eval(compile(ast.Expression(expr), label, "eval"), namespace)
        except Exception as e:
            report.error = (f"{where} (block {block.index}) `{source.splitlines()[0]}` "
                            f"raised:\n{_traceback(e)}")
            return False
        if comment is None or not any(t.lastgroup != "ellipsis"
                                      for t in _TOKEN.finditer(comment)):
            continue
        if quick:
            report.skipped.append(where)
            continue
        report.checked.append(where)
        for diff in compare(comment, value):
            report.failures.append(f"{where} (block {block.index}) `{source}`: {diff}")
    report.seconds.append(round(time.perf_counter() - start, 2))
    return True


def _run_in_new_process(path: Path, block: Block, report: Report, full: bool) -> bool:
    """Run one block by itself in a new Python process (`<!-- new process -->`)."""
    with tempfile.TemporaryDirectory() as tmp:
        page, out = Path(tmp) / "page.md", Path(tmp) / "report.json"
        page.write_text(path.read_text() if path.is_file() else block.source_page)
        cmd = [sys.executable, *(f"-W{w}" for w in sys.warnoptions), __file__, str(page),
               "--block", str(block.index), "--label", report.path, "--json", str(out)]
        res = subprocess.run(cmd + (["--full"] if full else []), capture_output=True,
                             text=True)
        if not out.is_file():
            report.error = (f"{report.path}:{block.line} (block {block.index}, a new "
                            f"process) did not report:\n{res.stderr[-3000:]}")
            return False
        (child,) = json.loads(out.read_text())
    report.statements += child["statements"]
    for key in ("checked", "skipped", "failures", "seconds"):
        getattr(report, key).extend(child[key])
    report.error = child["error"]
    return report.error is None


def run_page(path: str | Path, *, full: bool | None = None, blocks: int | None = None,
             text: str | None = None, label: str | None = None,
             only: int | None = None) -> Report:
    """Run the Python blocks of a page in one namespace (the first `blocks` of them, or
    block number `only` alone, if given) and compare every output comment. A block marked
    `<!-- new process -->` runs by itself in a new process. `full` (default:
    `GRADFLOW_DOCS_FULL=1` in the environment) ignores the quick-size markers. `text`
    replaces the file's contents (used by the tests of this module)."""
    if full is None:
        full = os.environ.get(FULL_ENV, "") not in ("", "0")
    path = Path(path)
    report = Report(label or str(path))
    namespace: dict = {"__name__": "__main__"}
    for block in python_blocks(path, text)[:blocks]:
        if only is not None and block.index != only:
            continue
        report.blocks += 1
        if block.new_process and only is None:
            block.source_page = text
            ok = _run_in_new_process(path, block, report, full)
        else:
            ok = _run_block(block, namespace, report, full)
        if not ok:
            break
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pages", nargs="+")
    p.add_argument("--full", action="store_true", help="ignore the quick-size markers")
    p.add_argument("--json", help="write the reports here")
    p.add_argument("--block", type=int, help="run this block (1, 2, ...) alone")
    p.add_argument("--label", help="the page's name in messages (one page only)")
    args = p.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    reports = []
    root = Path(__file__).resolve().parents[1]
    for page in args.pages:
        path = Path(page).resolve()
        label = args.label or (str(path.relative_to(root)) if path.is_relative_to(root)
                               else page)
        with contextlib.redirect_stdout(sys.stderr):
            r = run_page(path, full=args.full or None, label=label, only=args.block)
        if "matplotlib.pyplot" in sys.modules:  # the next page starts without figures
            sys.modules["matplotlib.pyplot"].close("all")
        reports.append(r)
        print(r.summary())
    if args.json:
        Path(args.json).write_text(json.dumps([vars(r) for r in reports], indent=1))
    return 0 if all(r.ok() for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
