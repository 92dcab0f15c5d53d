"""Helpers shared by the AppTest page tests (``streamlit.testing.v1``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 180  # seconds per script run; the first run imports torch on a shared machine

st = pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402


def open_page(page: str | None = None) -> AppTest:
    """Run the home page, or ``page`` (a path under pages/) directly; no exception allowed."""
    at = AppTest.from_file(str(REPO_ROOT / (page or "app.py")), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def switch_to(page: str) -> AppTest:
    """Open the home page, then go to ``page`` as a visitor would (multipage navigation)."""
    at = open_page()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    return at


def chart(at: AppTest, key: str) -> dict:
    """The plotly figure (as a dict) of the chart whose element key ends with ``key``."""
    found = [c for c in at.get("plotly_chart") if c.proto.id.endswith(key)]
    assert found, f"no chart {key}"
    return json.loads(found[0].proto.spec)


def image_urls(at: AppTest) -> list[str]:
    """The media addresses of the pictures shown with st.image, in page order (an address names
    its content: another picture gets another address)."""
    return [img.url for element in at.get("image") for img in element.proto.imgs]


def metric(at: AppTest, label: str) -> str:
    """The value of the first metric whose label starts with ``label``."""
    return next(m.value for m in at.metric if m.label.startswith(label))


def widget(at: AppTest, kind: str, key: str):
    """The widget of type ``kind`` (e.g. "button_group") with this key."""
    found = [w for w in at.get(kind) if getattr(w, "key", None) == key]
    assert found, f"no {kind} with key {key!r}"
    return found[0]


def fragment_keys(page: str) -> dict[str, set[str]]:
    """{function name: widget keys} of the ``@st.fragment`` functions of a page file (keys as
    written: a string, or the constant start of an f-string), read from its syntax tree. A
    widget there reruns only its fragment, not the whole page."""
    import ast

    tree = ast.parse((REPO_ROOT / page).read_text())
    found: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        if not any(ast.unparse(d).split("(")[0] == "st.fragment" for d in node.decorator_list):
            continue
        keys = found.setdefault(node.name, set())
        for call in ast.walk(node):
            for kw in getattr(call, "keywords", []) if isinstance(call, ast.Call) else []:
                if kw.arg != "key":
                    continue
                if isinstance(kw.value, ast.Constant):
                    keys.add(str(kw.value.value))
                elif isinstance(kw.value, ast.JoinedStr) and isinstance(kw.value.values[0], ast.Constant):
                    keys.add(kw.value.values[0].value)
    return found
