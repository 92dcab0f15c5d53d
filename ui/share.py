"""Shareable views: a page's settings round-trip through the URL's query string.

A page names the widgets that make up its view, by their session-state keys, once
before it draws them::

    share.restore({"ds": "dataset", "sigma": "sigma"}, parse={"sigma": float})
    ... widgets with key="dataset", key="sigma" ...
    share.publish()          # after the widgets: the URL now shows ?ds=face68&sigma=2.0
    share.copy_link()        # "Copy link to this view"

``restore`` runs once per browser session and page: values from the URL seed the
widgets' session state (a value that does not parse, or that a widget would not accept,
is dropped with a note, never shown as an error). ``publish`` writes the current values
back, so the address bar always holds the view and a copied link opened in a fresh
browser shows the same view.

Widgets seeded this way must not also pass a default (``value=``/``index=``) while their
key is in session state (Streamlit warns); give the default through session state
instead, e.g. ``st.session_state.setdefault("sigma", 2.0)`` after ``restore``.

Only the keys a page registers are read from the URL; nothing in it is ever used as a
file path by this module (pages check names against the lists they offer).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

__all__ = ["restore", "publish", "copy_link", "view_url", "param_text", "parse_bool", "parse_list", "within"]

_REGISTRY = "_share_keys"  # session key: {page: {param: state key}}


def parse_bool(text: str) -> bool:
    """"1", "true", "yes", "on" (any case) -> True; "0", "false", "no", "off" -> False."""
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a yes/no value: {text!r}")


def parse_list(text: str) -> list[str]:
    """"a,b,,c" -> ["a", "b", "c"] (how :func:`param_text` writes a list)."""
    return [item for item in text.split(",") if item]


def within(low, high, cast: Callable[[str], Any] = float) -> Callable[[str], Any]:
    """A parser for :func:`restore`: ``cast`` of the text, refused (ValueError) outside
    [low, high], as a slider or number input would refuse it."""
    def parse(text: str):
        value = cast(text)
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low} – {high}")
        return value

    return parse


def param_text(value: Any) -> Optional[str]:
    """How a widget value is written in the URL (None: not shareable, left out)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (int, str)):
        return str(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, str)) for v in value):
        return ",".join(param_text(v) for v in value)  # type: ignore[misc]
    return None


def _page() -> str:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        return getattr(ctx, "page_script_hash", "") or "main"
    except Exception:  # pragma: no cover - outside a Streamlit run
        return "main"


def restore(params: Mapping[str, str], parse: Optional[Mapping[str, Callable[[str], Any]]] = None,
            choices: Optional[Mapping[str, Any]] = None) -> None:
    """Seed session state from the URL, once per session and page.

    params: query parameter -> session-state key of the widget it sets.
    parse: query parameter -> function from its text to the widget's value (default: str);
        ValueError/TypeError drops the value.
    choices: query parameter -> allowed values (a collection), for selectboxes and radios;
        a value not offered is dropped.
    """
    page = _page()
    registry = st.session_state.setdefault(_REGISTRY, {})
    first = page not in registry
    registry[page] = dict(params)
    if not first:
        return
    parse = parse or {}
    choices = choices or {}
    dropped = []
    for name, key in params.items():
        if name not in st.query_params:
            continue
        text = st.query_params.get(name, "")
        try:
            value = parse.get(name, str)(text)
        except (ValueError, TypeError):
            dropped.append(name)
            continue
        allowed = choices.get(name)
        if allowed is not None and value not in allowed:
            dropped.append(name)
            continue
        st.session_state[key] = value
    if dropped:
        st.session_state["_share_dropped"] = dropped


def publish() -> None:
    """Write the registered widgets' current values to the URL (after the widgets ran)."""
    keys = st.session_state.get(_REGISTRY, {}).get(_page(), {})
    wanted = {}
    for name, key in keys.items():
        if key in st.session_state:
            text = param_text(st.session_state[key])
            if text is not None:
                wanted[name] = text
    current = {k: st.query_params.get(k) for k in st.query_params.keys()}
    merged = {k: v for k, v in current.items() if k not in keys}
    merged.update(wanted)
    if merged != current:
        st.query_params.from_dict(merged)


def view_url(params: Optional[Mapping[str, str]] = None) -> str:
    """This page's address with its view in the query string."""
    if params is None:
        params = {k: st.query_params.get(k) for k in st.query_params.keys()}
    try:
        base = st.context.url or ""
    except Exception:  # pragma: no cover - older Streamlit or no browser (AppTest)
        base = ""
    scheme, netloc, path, _, _ = urlsplit(base) if base else ("http", "localhost:8501", "/", "", "")
    return urlunsplit((scheme, netloc, path, urlencode(dict(params)), ""))


def copy_link(where=None) -> None:
    """A "Copy link to this view" popover with the address (copy button on the code box)."""
    container = where if where is not None else st
    dropped = st.session_state.pop("_share_dropped", None)
    if dropped:
        container.caption("Ignored from the link (not available here): " + ", ".join(dropped))
    with container.popover("Copy link to this view", icon=":material/link:", help="A link that opens this page with these settings"):
        st.code(view_url(), language=None)
        st.caption("Use the copy button at the right of the box; anyone who can reach this server "
                   "and opens the link sees the same view.")
