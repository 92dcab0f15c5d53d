"""AppTest: the Encoding lab reacts to every control with the numbers a learner should see."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from tests.apptest import AppTest, chart, image_urls, metric, st, switch_to

PAGE = "pages/2_Encoding_lab.py"


@pytest.fixture
def env(monkeypatch, tmp_path, make_lapa_folder):
    """A LaPa-layout folder in LMKVIZ_DATA, fresh caches."""
    folder = make_lapa_folder("lapa", n_per_split=3, size=64, bad_files=False)
    monkeypatch.setenv("LMKVIZ_DATA", str(tmp_path))
    monkeypatch.setenv("LMKVIZ_RUNS", str(tmp_path / "runs"))
    st.cache_data.clear()
    st.cache_resource.clear()
    return folder


@pytest.fixture
def lab(env) -> AppTest:
    return switch_to(PAGE)



def px(text: str) -> float:
    return float(text.split()[0])



def values(data) -> np.ndarray:
    if isinstance(data, dict) and "bdata" in data:
        flat = np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"])
        shape = data.get("shape")
        if isinstance(shape, str):
            shape = [int(n) for n in shape.split(",")]
        return flat.reshape(shape) if shape else flat
    return np.asarray(data)


def change(at, widget, value) -> AppTest:
    widget.set_value(value)
    at.run()
    assert not at.exception, at.exception
    return at


def show_sweeps(at) -> AppTest:
    return change(at, at.toggle(key="enc_sweeps"), True)


def test_defaults_show_the_blogs_integer_centre(lab):
    at = lab
    assert metric(at, "Stride (px per cell)") == "4 px"
    assert metric(at, "σ in image px") == "8.0 px"
    # integer centre: every decoder is stuck on the cell centre, all with the same error
    errors = {px(metric(at, name)) for name in ("argmax", "quarter offset", "top-k (H3R)", "DARK")}
    assert len(errors) == 1
    for key in ("enc_overlay", "enc_zoom", "enc_encodings", "enc_q_fig", "enc_rr_fig"):
        chart(at, key)
    assert len(image_urls(at)) == 1  # the heatmap grid: one picture, not a figure
    assert any(c.value.startswith("All 5 selected channels (30, 36, 45, 48, 54), 64×64 cells each") for c in at.caption)
    table = at.dataframe[-1].value  # the quantisation calculator, the blog's example
    assert list(table["distance (px)"]) == [22.52, 32.99, 5.89]


def test_subpixel_encoding_lets_dark_recover_the_point(lab):
    at = change(lab, lab.radio(key="enc_encoding"), "gaussian")
    assert px(metric(at, "DARK")) < 0.05
    assert px(metric(at, "argmax")) > 1.0
    assert px(metric(at, "quarter offset")) < px(metric(at, "argmax"))


def test_sigma_heatmap_size_and_input_size_change_what_is_drawn(lab):
    at = lab
    zoom_before = values(chart(at, "enc_zoom")["data"][0]["z"]).copy()
    at = change(at, at.slider(key="enc_sigma"), 4.0)
    assert metric(at, "σ in image px") == "16.0 px"
    zoom_after = values(chart(at, "enc_zoom")["data"][0]["z"])
    assert not np.allclose(zoom_before, zoom_after)  # a wider blob

    at = change(at, at.select_slider(key="enc_hm"), 32)
    assert metric(at, "Stride (px per cell)") == "8 px"
    at = show_sweeps(at)
    sweep = chart(at, "enc_sweep_size")
    current = [t for t in sweep["data"] if t.get("name") == "current setting"][0]
    assert list(values(current["x"])) == [32, 32]  # the current setting is marked

    at = change(at, at.select_slider(key="enc_input"), 128)
    assert metric(at, "Stride (px per cell)") == "4 px"


def test_binary_encoding_is_one_hot_and_redraws(lab):
    at = change(lab, lab.radio(key="enc_encoding"), "binary")
    assert metric(at, "σ in image px") == "—"
    z = values(chart(at, "enc_zoom")["data"][0]["z"])
    assert set(np.unique(z)) <= {0.0, 1.0} and z.sum() == 1.0  # the single 1 is in the zoom window
    assert not any("σ plays no part" in i.value for i in at.info)  # the sweeps are off
    at = show_sweeps(at)
    assert any("σ plays no part" in i.value for i in at.info)
    grid_before = image_urls(at)
    at.button(key="enc_redraw").click().run()
    assert not at.exception
    assert image_urls(at) != grid_before  # new random cells
    assert len(image_urls(at)) == 1
    assert at.session_state["enc_draw_seed"] == 1
    assert values(chart(at, "enc_zoom")["data"][0]["z"]).sum() == 1.0  # still a single 1


def test_noise_hurts_dark_and_blur_helps(lab):
    at = change(lab, lab.radio(key="enc_encoding"), "gaussian")
    clean = px(metric(at, "DARK"))
    at = change(at, at.slider(key="enc_noise"), 0.05)
    noisy = px(metric(at, "DARK"))
    at = change(at, at.slider(key="enc_blur"), 1.5)
    blurred = px(metric(at, "DARK"))
    assert clean < blurred < noisy
    rows = at.dataframe[0].value  # decoder estimates in the zoom view
    assert list(rows["decoder"]) == ["argmax", "quarter offset", "top-k (H3R)", "DARK",
                                     "soft-argmax (integral)"]


def test_subset_dataset_and_bad_spec(lab, env):
    at = change(lab, lab.selectbox(key="enc_subset_ibug68"), "eyes")
    assert any(c.value.startswith("All 12 selected channels (36, 37,") for c in at.caption)  # one panel per eye landmark
    assert len(image_urls(at)) == 1
    at = change(at, at.selectbox(key="enc_subset_ibug68"), "custom")
    at.text_input(key="enc_subset_custom_ibug68").input("36-99").run()
    assert any("out of range" in e.value for e in at.error)
    assert not at.get("plotly_chart") and not image_urls(at)
    at.text_input(key="enc_subset_custom_ibug68").input("36,45").run()
    assert not at.error
    at = change(at, at.selectbox(key="enc_dataset"), str(env.root))
    assert not at.error
    assert metric(at, "Stride (px per cell)") == "4 px"  # 64 px images resized to the 256 px input


def test_quantisation_calculator_and_rounding_draws(lab):
    at = lab
    at.number_input(key="enc_q_w").set_value(128)
    at.number_input(key="enc_q_h").set_value(128).run()
    assert not at.exception
    table = at.dataframe[-1].value
    assert list(table["convention"]) == ["blog's arithmetic", "blog's code", "lmkviz"]
    assert table["distance (px)"].iloc[2] <= np.hypot(2500 / 128, 2500 / 128) / 2 + 1e-6

    at = change(at, at.select_slider(key="enc_draws"), 5000)
    m = next(m for m in at.metric if m.label.startswith("Mean of 5000 draws"))
    off = float(m.delta.split()[2])
    assert off < 2.0  # the mean of many random draws lands close to the point (stride 19.5 px)


def test_lapa106_defaults_to_the_blogs_five_points(env, make_lapa_folder):
    folder = make_lapa_folder("lapa106", n_per_split=2, num_points=106, size=80, bad_files=False)
    at = switch_to(PAGE)
    at = change(at, at.selectbox(key="enc_dataset"), str(folder.root))
    assert at.selectbox(key="enc_subset_lapa106").value == "blog5"
    assert any(c.value.startswith("All 5 selected channels (30, 40, 50, 60, 70)") for c in at.caption)
    assert metric(at, "Inter-ocular distance") != "—"  # eye corners 66 and 79


def test_generic_scheme_without_eyes(env, make_lapa_folder):
    folder = make_lapa_folder("five", n_per_split=2, num_points=5, size=80, bad_files=False)
    at = switch_to(PAGE)
    at = change(at, at.selectbox(key="enc_dataset"), str(folder.root))
    assert metric(at, "Inter-ocular distance") == "—"
    assert not any("% IOD" in str(m.delta) for m in at.metric if m.label == "DARK")


def lab_at(params: dict) -> AppTest:
    """The lab opened from a link with these query parameters."""
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / PAGE), default_timeout=180)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_shared_link_restores_the_view_and_the_url_follows(env):
    import logging

    from streamlit.elements.lib import policies

    warned: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: warned.append(record.getMessage())
    policies._LOGGER.addHandler(handler)  # Streamlit's loggers do not propagate to pytest's
    try:
        at = lab_at({"enc": "gaussian", "input": "128", "hm": "32", "sigma": "3", "noise": "0.05", "k": "4",
                     "zoom": "6", "border": "1", "sample": "2"})
    finally:
        policies._LOGGER.removeHandler(handler)
    # a widget set from the link gets its value from session state only, without Streamlit's
    # "created with a default value but also had its value set via the Session State API"
    assert not [w for w in warned if "Session State API" in w], warned
    assert at.radio(key="enc_encoding").value == "gaussian"
    assert at.select_slider(key="enc_input").value == 128 and at.select_slider(key="enc_hm").value == 32
    assert at.slider(key="enc_sigma").value == 3.0 and at.slider(key="enc_noise").value == 0.05
    assert at.slider(key="enc_k").value == 4 and at.slider(key="enc_radius").value == 6
    assert at.toggle(key="enc_border").value is True
    assert [n for n in at.number_input if n.key.startswith("enc_sample:")][0].value == 2
    assert metric(at, "Stride (px per cell)") == "4 px" and metric(at, "σ in image px") == "12.0 px"
    # the address follows the widgets, and the copy-link box holds it
    at = change(at, at.slider(key="enc_sigma"), 5.0)
    assert at.query_params["sigma"] == "5" and at.query_params["hm"] == "32"
    assert any("sigma=5" in c.value and "enc=gaussian" in c.value for c in at.code)


def test_a_link_with_values_the_lab_does_not_offer_is_ignored(env):
    at = lab_at({"enc": "nonsense", "hm": "33", "sigma": "99", "ds": "../../etc"})
    assert at.radio(key="enc_encoding").value == "gaussian_int"
    assert at.select_slider(key="enc_hm").value == 64 and at.slider(key="enc_sigma").value == 2.0
    assert any("Ignored from the link" in c.value for c in at.caption)


def test_stride_fits_its_metric_at_48_cells(lab):
    at = change(lab, lab.select_slider(key="enc_hm"), 48)
    assert metric(at, "Stride (px per cell)") == "5.33 px"  # not "5.33333 px per cell", cut off


def test_sigma_slider_is_disabled_only_for_binary(lab):
    assert not lab.slider(key="enc_sigma").disabled
    at = change(lab, lab.radio(key="enc_encoding"), "binary")
    assert at.slider(key="enc_sigma").disabled
    at = change(at, at.radio(key="enc_encoding"), "udp")
    assert not at.slider(key="enc_sigma").disabled


def test_sweeps_shade_the_uncertainty_of_each_mean(lab):
    at = show_sweeps(change(lab, lab.radio(key="enc_encoding"), "gaussian_int"))
    fig = chart(at, "enc_sweep_sigma")
    bands = [t for t in fig["data"] if t.get("fill") == "toself"]
    assert len(bands) >= 4  # one 95 % band per decoder
    dark = [t for t in fig["data"] if t.get("name") == "DARK"][0]
    ys = values(dark["y"])
    assert np.ptp(ys) < 0.01  # the integer-centre error does not depend on sigma: a flat curve, no wobble


def test_udp_and_simcc_side_by_side(lab):
    at = change(lab, lab.radio(key="enc_encoding"), "udp")
    assert metric(at, "Stride (px per cell)") == "4.05 px"  # (256 - 1) / (64 - 1)
    assert px(metric(at, "DARK")) < 0.05
    at = change(at, at.radio(key="enc_encoding"), "simcc")
    assert at.select_slider(key="enc_hm").disabled
    assert metric(at, "Stride (px per bin)") == "0.5 px"
    assert metric(at, "Half a bin") == "0.25 px"
    at = show_sweeps(at)
    for key in ("enc_simcc", "enc_simcc_matrix", "enc_simcc_zoom", "enc_sweep_ratio", "enc_encodings"):
        chart(at, key)
    encodings = chart(at, "enc_encodings")
    names = [t["name"] for t in encodings["data"]]
    assert any("SimCC" in n for n in names) and any("UDP" in n for n in names) and len(names) == 5


def test_sweeps_are_computed_only_on_request(lab, monkeypatch):
    from lmkviz import labs

    calls = []
    for name in ("sweep_heatmap_size", "sweep_sigma"):
        real = getattr(labs, name)
        monkeypatch.setattr(labs, name, lambda *a, _real=real, _name=name, **kw: calls.append(_name) or _real(*a, **kw))
    at = change(lab, lab.slider(key="enc_sigma"), 2.5)  # a new setting: nothing cached
    assert not at.toggle(key="enc_sweeps").value
    assert not [c for c in at.get("plotly_chart") if "sweep" in c.proto.id]
    assert calls == []
    at = show_sweeps(at)
    assert sorted(calls) == ["sweep_heatmap_size", "sweep_sigma"]
    chart(at, "enc_sweep_size")
    chart(at, "enc_sweep_sigma")
    assert at.query_params["sweeps"] == "1"  # a shared link opens with the sweeps shown
    at = change(at, at.slider(key="enc_noise"), 0.02)
    assert len(calls) == 4  # new settings, sweeps still shown: computed again
