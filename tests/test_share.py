"""Shareable views (ui.share): a page's settings round-trip through the URL."""

from streamlit.testing.v1 import AppTest

from ui.share import param_text, parse_bool


def _page():
    import streamlit as st

    from ui import share

    share.restore({"ds": "ds", "sigma": "sigma", "flip": "flip"},
                  parse={"sigma": float, "flip": share.parse_bool},
                  choices={"ds": ["face68", "ytf68"]})
    st.session_state.setdefault("sigma", 2.0)
    st.selectbox("Dataset", ["face68", "ytf68"], key="ds")
    st.slider("sigma", 0.5, 8.0, key="sigma")
    st.checkbox("flip", key="flip")
    share.publish()
    share.copy_link()


def test_a_link_restores_the_view_and_the_url_follows_the_widgets():
    at = AppTest.from_function(_page)
    at.query_params["ds"] = "ytf68"
    at.query_params["sigma"] = "3.5"
    at.query_params["flip"] = "1"
    at.run()
    assert at.selectbox(key="ds").value == "ytf68"
    assert at.slider(key="sigma").value == 3.5
    assert at.checkbox(key="flip").value is True
    at.slider(key="sigma").set_value(5.0).run()
    assert at.query_params["sigma"] == "5"
    assert at.query_params["ds"] == "ytf68"
    assert "sigma=5" in at.code[0].value and "ds=ytf68" in at.code[0].value


def test_values_a_page_would_not_offer_are_dropped_with_a_note():
    at = AppTest.from_function(_page)
    at.query_params["ds"] = "../../etc/passwd"
    at.query_params["sigma"] = "wide"
    at.run()
    assert not at.exception
    assert at.selectbox(key="ds").value == "face68" and at.slider(key="sigma").value == 2.0
    assert any("Ignored from the link" in c.value and "ds" in c.value and "sigma" in c.value for c in at.caption)


def test_param_text():
    assert param_text(True) == "1" and param_text(2.0) == "2" and param_text(0.25) == "0.25"
    assert param_text([1, 2]) == "1,2" and param_text(object()) is None
    assert parse_bool("Yes") and not parse_bool("off")


def test_within_and_parse_list():
    import pytest

    from ui.share import parse_list, within

    zoom = within(2, 10, int)
    assert zoom("4") == 4 and zoom("10") == 10
    for bad in ("1", "11", "x"):
        with pytest.raises(ValueError):
            zoom(bad)
    assert parse_list("dark,,topk") == ["dark", "topk"] and parse_list("") == []
