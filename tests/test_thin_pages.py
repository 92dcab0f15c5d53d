"""Thin pages: no coordinate maths, no metric maths and no scheme knowledge in pages/ or ui/.

The pages lay out widgets and call the library; ``ui/`` holds the Streamlit glue. A scan
of their syntax trees enforces it:

* pages/*.py and app.py may not do arithmetic at all (``+ - * / // ** % @``, also as
  ``+=``), except to build text, paths and lists (an operand that is a string, an
  f-string or a list literal) and the few layout expressions of :data:`PAGE_LAYOUT`,
  each with its reason. They may not import torch nor call numpy's maths.
* ui/*.py may do layout and bookkeeping arithmetic (columns, steps, durations), but
  none on a value whose name says it is a point, a coordinate, a size of the image or
  heatmap grid, or a metric (:data:`GEOMETRY_WORDS`).
* Neither names a landmark scheme ("ibug68", "lapa106"): what a scheme has comes from
  :mod:`lmkviz.data.schemes`.

A page or ui module that needs such a computation calls lmkviz (coords, a Box, labs,
evaluation, metrics, runs) instead.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Pow, ast.Mod, ast.MatMult)

PAGE_LAYOUT = {
    "pages/1_Dataset_browser.py": {
        "len(reader) - 1": "the largest sample number a number input accepts",
        "len(report['splits']) + 1": "one metric column per split and one for the point count",
    },
}
"""Arithmetic a page may do: {page: {expression as ast.unparse writes it: why}}."""

GEOMETRY_WORDS = {
    "point", "points", "pts", "pt", "xy", "x", "y", "w", "h", "x0", "y0", "x1", "y1", "cx", "cy", "tx", "ty", "hx",
    "hy", "sx", "sy", "dx", "dy", "stride", "scale", "inv", "crop", "box", "face", "side", "truth", "target",
    "pred", "preds", "estimate", "estimates", "found", "offset", "distance", "shape", "input", "heatmap", "heatmaps",
    "hm", "cell", "cells", "sigma", "nme", "iod", "interocular", "error", "errors", "err", "gain", "mean", "norm",
    "confidence", "fr10", "auc10",
}
"""Words of names (split at "_" and non-letters) that mark a point, a coordinate, a grid size or a metric."""

NUMPY_MATHS = {"hypot", "sqrt", "linalg", "norm", "mean", "nanmean", "median", "argmax", "nanargmax", "argmin",
               "argsort", "floor", "ceil", "round", "abs", "sum", "cumsum", "std", "var", "clip", "exp", "log"}
SCHEME_NAMES = {"ibug68", "lapa106"}


def sources(root: Path, pattern: str) -> list[Path]:
    return sorted(p for p in root.glob(pattern) if p.is_file())


def page_files(root: Path = REPO_ROOT) -> list[Path]:
    return sources(root, "pages/*.py") + sources(root, "app.py")


def ui_files(root: Path = REPO_ROOT) -> list[Path]:
    return sources(root, "ui/*.py")


def builds_text_or_list(node: ast.AST) -> bool:
    """A string, an f-string, a list/tuple literal, or a conditional between such: what
    ``+`` (and a path's ``/``) joins without doing maths."""
    if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return True
    if isinstance(node, (ast.List, ast.Tuple, ast.ListComp)):
        return True
    if isinstance(node, ast.IfExp):
        return builds_text_or_list(node.body) and builds_text_or_list(node.orelse)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return builds_text_or_list(node.left) or builds_text_or_list(node.right)
    return False


def arithmetic(tree: ast.AST):
    """(node, left, right) of every arithmetic operation that does not build text, paths or lists."""
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ARITHMETIC):
            left, right = node.left, node.right
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, ARITHMETIC):
            left, right = node.target, node.value
        else:
            continue
        if isinstance(node.op, (ast.Add, ast.Div)) and (builds_text_or_list(left) or builds_text_or_list(right)):
            continue  # "a" + b, f"..." + c, [x] + list(y), path / "file.json"
        yield node, left, right


def words(node: ast.AST) -> set[str]:
    """The words of every name, attribute and string subscript in an expression."""
    found: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            text = sub.id
        elif isinstance(sub, ast.Attribute):
            text = sub.attr
        elif isinstance(sub, ast.Subscript) and isinstance(sub.slice, ast.Constant) and isinstance(sub.slice.value, str):
            text = sub.slice.value
        else:
            continue
        found |= {w for w in re.split(r"[^a-z0-9]+", text.lower()) if w}
    return found


def page_violations(path: Path, root: Path = REPO_ROOT) -> list[str]:
    rel = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    allowed = PAGE_LAYOUT.get(rel, {})
    out = [f"{rel}:{node.lineno}: arithmetic `{ast.unparse(node)}`" for node, _, _ in arithmetic(tree)
           if ast.unparse(node) not in allowed]
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            out += [f"{rel}:{node.lineno}: imports {m}" for m in modules if m.split(".")[0] == "torch"]
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("np", "numpy")
                and node.attr in NUMPY_MATHS):
            out.append(f"{rel}:{node.lineno}: numpy maths `{ast.unparse(node)}`")
    return out + scheme_names(tree, rel)


def ui_violations(path: Path, root: Path = REPO_ROOT) -> list[str]:
    rel = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node, left, right in arithmetic(tree):
        hits = (words(left) | words(right)) & GEOMETRY_WORDS
        if hits:
            out.append(f"{rel}:{node.lineno}: arithmetic on {', '.join(sorted(hits))}: `{ast.unparse(node)}`")
    return out + scheme_names(tree, rel)


def scheme_names(tree: ast.AST, rel: str) -> list[str]:
    return [f"{rel}:{node.lineno}: names the scheme {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in SCHEME_NAMES]


@pytest.mark.parametrize("path", page_files(), ids=lambda p: p.name)
def test_pages_lay_out_widgets_and_call_the_library(path):
    assert page_violations(path) == []


@pytest.mark.parametrize("path", ui_files(), ids=lambda p: p.name)
def test_ui_glue_does_no_coordinate_or_metric_maths(path):
    assert ui_violations(path) == []


def test_the_layout_allow_list_names_expressions_that_exist():
    """An entry of PAGE_LAYOUT that no longer matches anything must go (the list stays small)."""
    for rel, expressions in PAGE_LAYOUT.items():
        tree = ast.parse((REPO_ROOT / rel).read_text(encoding="utf-8"))
        present = {ast.unparse(node) for node, _, _ in arithmetic(tree)}
        assert set(expressions) <= present, rel


@pytest.mark.parametrize("code,in_page,in_ui", [
    ("x = points * (heatmap_size / input_size)", True, True),  # coordinate maths: both scans object
    ("in_crop = (pts - [box.x0, box.y0]) * (size / box.width)", True, True),
    ("gain = 100 * (argmax['NME %'] - best['NME %']) / argmax['NME %']", True, True),
    ("columns = width_px // 4", True, False),  # layout: only pages may not
    ("seed += 1", True, False),
    ("label = 'run ' + name", False, False),  # text
    ("path = folder / 'config.json'", False, False),  # a path
    ("error = np.hypot(a, b)", True, False),  # numpy maths in a page
    ("import torch", True, False),
    ("ok = scheme.name == 'lapa106'", True, True),  # scheme knowledge
])
def test_the_scans_see_what_they_are_meant_to(tmp_path, code, in_page, in_ui):
    for folder in ("pages", "ui"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.py").write_text(code + "\n")
    assert bool(page_violations(tmp_path / "pages" / "x.py", tmp_path)) == in_page
    assert bool(ui_violations(tmp_path / "ui" / "x.py", tmp_path)) == in_ui
