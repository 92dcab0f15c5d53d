"""The Dataset browser's Streamlit glue: its view (dataset, split, sample, landmarks) in the URL.

The page's split, sample and landmark widgets have keys that depend on the dataset,
split or scheme shown (each remembers its own choice), so the shareable view
(:mod:`ui.share`) goes through fixed *view keys*::

    restore_view()                       # before the widgets: the URL's values, once per session
    key = seed(VIEW["split"], f"ds_split:{name}", splits)   # before a widget with a varying key
    ... the widget ...
    note(VIEW["split"], value)           # after it: what the URL shows
    share.publish()

:func:`seed` gives a widget the view's value only when the widget has no value of its
own yet (the first visit from a link, or a dataset switched to), so a person's later
choices are never overwritten.
"""

from __future__ import annotations

from typing import Any, Optional

import streamlit as st

from ui import share

VIEW = {"ds": "ds_dataset", "split": "ds_view_split", "sample": "ds_view_sample", "lm": "ds_view_landmarks",
        "point": "ds_density_point"}
"""Query parameter -> session-state key of the Dataset browser's shareable view."""


def _point(text: str) -> Any:
    return text if text == "selected" else int(text)


def restore_view(datasets) -> None:
    """Read the view from the URL (once per browser session); ``datasets``: the keys offered."""
    share.restore(VIEW, parse={"sample": int, "point": _point}, choices={"ds": list(datasets)})


def seed(view_key: str, widget_key: str, options) -> None:
    """Give the widget ``widget_key`` the view's value when it has none of its own yet and the
    value is one of ``options``."""
    value = st.session_state.get(view_key)
    if widget_key not in st.session_state and value is not None and value in list(options):
        st.session_state[widget_key] = value


def note(view_key: str, value: Any) -> None:
    """Record a widget's current value as the view's (what :func:`ui.share.publish` writes)."""
    st.session_state[view_key] = value


def page_holding(order, per_page: int, sample: Optional[int]) -> Optional[int]:
    """The 1-based page of a paginated ``order`` that shows ``sample`` (None when it is not in it)."""
    order = [int(i) for i in order]
    if sample is None or sample not in order:
        return None
    return order.index(sample) // per_page + 1


def sample_page(order, per_page: int) -> int:
    """The pagination's first page: the one that holds the view's sample (1 without one)."""
    return page_holding(order, per_page, st.session_state.get(VIEW["sample"])) or 1


def keep_density_point(options) -> None:
    """Drop a density landmark (from a link) that the chosen landmarks do not offer."""
    if st.session_state.get(VIEW["point"]) not in list(options):
        st.session_state.pop(VIEW["point"], None)
