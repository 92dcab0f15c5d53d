"""AppTest: Compare decoders evaluates a checkpoint with every decoder and browses the samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lmkviz.decoding import DECODER_LABELS, DECODERS
from lmkviz.runs import RunFolder
from tests.apptest import REPO_ROOT, AppTest, chart, open_page, rerun, st, switch_to, widget
from tests.helpers import exported_onnx, make_checkpoint, tiny_config

PAGE = str(REPO_ROOT / "pages" / "4_Compare_decoders.py")
DECODER_NAMES = [DECODER_LABELS[m] for m in DECODERS]  # every heatmap decoder, in order


@pytest.fixture
def env(monkeypatch, tmp_path, make_lapa_folder):
    """Empty runs folder, no shipped checkpoint, a 68-point and a 106-point LaPa-layout folder."""
    import ui.common

    make_lapa_folder("lapa68", n_per_split=4, num_points=68, size=64, bad_files=False)
    make_lapa_folder("lapa106", n_per_split=2, num_points=106, size=64, bad_files=False)
    monkeypatch.setenv("LMKVIZ_DATA", str(tmp_path))
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("LMKVIZ_RUNS", str(runs))
    monkeypatch.setattr(ui.common, "DEFAULT_CHECKPOINT", tmp_path / "not_shipped.pt")
    st.cache_data.clear()
    st.cache_resource.clear()
    return runs


def add_run(runs: Path, name: str = "20260101-000000-tiny", **checkpoint) -> Path:
    """A finished run folder holding an (untrained) tiny checkpoint as best.pt."""
    run = RunFolder(runs / name)
    run.path.mkdir()
    run.write_config(tiny_config(name="tiny"))
    run.write_status(state="done", epoch=2)
    make_checkpoint(run.best_path, input_size=64, **checkpoint)
    return run.best_path


def evaluate_few(at, n: int = 6) -> AppTest:
    at.selectbox(key="cmp_dataset").set_value("synthetic")
    at.selectbox(key="cmp_split").set_value("val")
    rerun(at)
    next(w for w in at.number_input if w.key == "cmp_n").set_value(n)
    return rerun(at)


def open_section(at, *keys: str) -> AppTest:
    """Open the expanders ``keys`` (the per-landmark chart "cmp_landmarks_open", the heatmap grid
    "cmp_grid_open"), closed at first, and run the page again."""
    for key in keys:
        at.session_state[key] = True
    return rerun(at)


def test_without_a_checkpoint_the_page_says_how_to_get_one(env):
    at = switch_to("pages/4_Compare_decoders.py")
    assert any("No checkpoint to compare yet" in i.value and "Train" in i.value for i in at.info)
    assert not at.get("plotly_chart")
    assert any(link.proto.label == "Go to Train" for link in at.get("page_link"))


def test_table_curves_and_landmarks_per_decoder(env):
    from lmkviz.evaluation import evaluate

    best = add_run(env)
    at = evaluate_few(open_page(PAGE), 6)
    assert at.header[0].value.startswith("1 · Every decoder on 6 synthetic / val images")
    table = at.dataframe[0].value
    assert list(table["decoder"]) == DECODER_NAMES
    # the table shows the evaluator's numbers for this checkpoint and these images
    expected = evaluate(best, "synthetic", "val", limit=6).summary()
    decoders = list(DECODERS)
    assert table["NME %"].tolist() == pytest.approx([expected["nme"][m] for m in decoders], abs=1e-3)
    assert table["FR@10 %"].tolist() == pytest.approx([expected["fr10"][m] for m in decoders], abs=1e-3)
    assert table["AUC@10 %"].tolist() == pytest.approx([expected["auc10"][m] for m in decoders], abs=1e-3)
    ced = chart(at, "cmp_ced")
    assert [t["name"] for t in ced["data"]] == DECODER_NAMES
    # the per-landmark chart and the heatmap grid are drawn only once asked for
    keys = [c.proto.id for c in at.get("plotly_chart")]
    assert not any(k.endswith("cmp_per_landmark") or k.endswith("cmp_grid") for k in keys), keys
    per = chart(open_section(at, "cmp_landmarks_open"), "cmp_per_landmark")
    assert [t["name"] for t in per["data"]] == DECODER_NAMES

    # more images: a new evaluation
    before = table["NME %"].tolist()
    evaluate_few(at, 9)
    assert at.header[0].value.startswith("1 · Every decoder on 9 synthetic")
    assert at.dataframe[0].value["NME %"].tolist() != before


def test_only_datasets_with_the_checkpoints_points_are_offered(env):
    add_run(env)
    at = open_page(PAGE)
    options = at.selectbox(key="cmp_dataset").options
    assert any("lapa68" in o for o in options) and any("synthetic" in o for o in options)
    assert not any("lapa106" in o for o in options)


def test_sample_browser_sorts_worst_first_and_zooms_on_a_landmark(env):
    add_run(env)
    at = evaluate_few(open_page(PAGE), 6)
    title = next(m.value for m in at.markdown if m.value.startswith("**synthetic_val_"))
    dark = [float(part.split("**")[1].rstrip(" %")) for part in title.split("·") if part.strip().startswith("DARK")]
    at.number_input(key="cmp_rank").set_value(6)
    rerun(at)
    last = next(m.value for m in at.markdown if m.value.startswith("**synthetic_val_"))
    assert last != title
    dark_last = [float(part.split("**")[1].rstrip(" %")) for part in last.split("·") if part.strip().startswith("DARK")]
    assert dark[0] >= dark_last[0]  # rank 1 is the worst image for DARK

    sample = chart(at, "cmp_sample")
    assert {t.get("name") for t in sample["data"]} >= {"target", *DECODER_NAMES}
    # the heatmaps: at first the part of the face holding this image's worst landmark, then all of them
    from lmkviz.data import scheme_for
    from lmkviz.viz.style import group_of

    worst = int(next(s for s in at.selectbox if s.key == "cmp_channel").value)
    part = group_of(scheme_for(68), worst)
    open_section(at, "cmp_grid_open")
    panels = [a["text"] for a in chart(at, "cmp_grid")["layout"]["annotations"]]
    assert panels == [str(i) for i in scheme_for(68).groups[part]] and str(worst) in panels
    assert any(t.get("marker", {}).get("showscale") for t in chart(at, "cmp_grid")["data"])  # a colour bar
    group_picker(at).set_value("all").run()
    grid = chart(at, "cmp_grid")
    assert [a["text"] for a in grid["layout"]["annotations"]] == [str(i) for i in range(68)]  # one per channel
    zoom = chart(at, "cmp_zoom")
    assert zoom["data"][0]["type"] == "heatmap"
    assert sum(1 for t in zoom["data"] if str(t.get("name", "")).split(":")[0] in DECODER_NAMES) == len(DECODERS)

    # hide decoders: they leave the picture and the zoom
    widget(at, "button_group", "cmp_shown").set_value(["dark"])
    rerun(at)
    names = {t.get("name") for t in chart(at, "cmp_sample")["data"]}
    assert "DARK" in names and "argmax" not in names


def test_a_subset_checkpoint_is_compared_on_its_landmarks(env):
    add_run(env, indices=[36, 45, 30, 48, 54])
    at = open_section(evaluate_few(open_page(PAGE), 4), "cmp_landmarks_open", "cmp_grid_open")
    per = chart(at, "cmp_per_landmark")
    # grouped by face part, in the scheme's order of groups
    assert per["data"][0]["type"] == "bar" and per["data"][0]["x"] == ["30", "36", "45", "48", "54"]
    assert [a["text"] for a in per["layout"]["annotations"]] == ["<b>nose</b>", "<b>eyes</b>", "<b>mouth</b>"]
    group_picker(at).set_value("all").run()
    assert len(chart(at, "cmp_grid")["layout"]["annotations"]) == 5


def group_picker(at):
    """The "Heatmaps of" control of the sample shown (its key carries the sample's name)."""
    return next(w for w in at.get("button_group") if getattr(w, "key", "") == "cmp_group")


def test_a_broken_checkpoint_is_reported(env):
    path = add_run(env)
    path.write_bytes(b"not a checkpoint")
    at = open_page(PAGE)
    assert "cannot be read as a checkpoint" in " ".join(e.value for e in at.error)
    assert not at.get("plotly_chart")


def test_sample_browser_reads_the_kept_heatmaps_without_running_the_network_again(env, monkeypatch):
    from lmkviz.evaluation import evaluate
    from lmkviz.inference import Predictor

    best = add_run(env)
    expected = evaluate(best, "synthetic", "val", limit=6, keep_heatmaps=True)
    calls = []
    monkeypatch.setattr(Predictor, "heatmaps", lambda self, crops: calls.append(len(crops)))  # the sample network run
    at = evaluate_few(open_page(PAGE), 6)
    assert calls == []  # neither the evaluation nor the sample browser ran Predictor.heatmaps
    row = int(expected.ranked("dark")[0])  # rank 1: the worst image for DARK
    view = expected.sample_view(row)
    channel = expected.worst_landmark(row, "dark")
    assert not any(c.proto.id.endswith("cmp_overlay") for c in at.get("plotly_chart"))  # its tab is not open
    at.session_state["cmp_landmark_view"] = "Over the image"
    overlay = chart(rerun(at), "cmp_overlay")
    assert calls == []
    layer = next(t for t in overlay["data"] if t["type"] == "heatmap")
    np.testing.assert_allclose(array(layer["z"]).reshape(view.maps[channel].shape), view.maps[channel], atol=1e-6)
    dark = next(t for t in overlay["data"] if t.get("name") == "DARK")
    np.testing.assert_allclose([array(dark["x"])[0], array(dark["y"])[0]], view.pred["dark"][channel], atol=1e-3)
    target = next(t for t in overlay["data"] if t.get("name") == "target")
    np.testing.assert_allclose([array(target["x"])[0], array(target["y"])[0]], view.target[channel], atol=1e-3)


def array(data) -> np.ndarray:
    """A plotly figure's array (typed-array dicts {"bdata", "dtype"} or plain lists)."""
    import base64

    if isinstance(data, dict) and "bdata" in data:
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"])
    return np.asarray(data, dtype=float)


# ----------------------------------------------------------------------------- issue 14 and 11


def test_the_flip_test_toggle_reevaluates_with_the_mirrored_images(env):
    from lmkviz.evaluation import evaluate

    best = add_run(env)
    at = evaluate_few(open_page(PAGE), 6)
    plain = at.dataframe[0].value["NME %"].tolist()
    at.toggle(key="cmp_flip").set_value(True)
    rerun(at)
    assert at.header[0].value.endswith(", flip test")
    expected = evaluate(best, "synthetic", "val", limit=6, flip_test=True).summary()["nme"]
    flipped = at.dataframe[0].value["NME %"].tolist()
    assert flipped == pytest.approx([expected[m] for m in DECODERS], abs=1e-3) and flipped != plain
    at.toggle(key="cmp_flip").set_value(False)
    rerun(at)
    assert at.dataframe[0].value["NME %"].tolist() == plain  # cached apart: off is the first evaluation again


def test_texts_come_from_the_numbers_and_a_domain_change_is_flagged(env):
    from lmkviz.data import IBUG68
    from lmkviz.evaluation import evaluate, landmark_caption

    best = add_run(env)  # an untrained model from a synthetic-data config: it fails everywhere
    at = evaluate_few(open_page(PAGE), 6)
    text = " ".join(m.value for m in at.markdown)
    assert "**The model fails on most of these faces.**" in text and "cannot repair that" in text
    assert not at.warning  # trained and evaluated on synthetic faces
    expected = evaluate(best, "synthetic", "val", limit=6)
    open_section(at, "cmp_landmarks_open")  # the caption goes with the per-landmark chart
    caption = next(c.value for c in at.caption if c.value.startswith("Mean error per landmark"))
    assert landmark_caption(expected, expected.best_decoder(), IBUG68) in caption
    assert "Jaw points are usually the hardest" not in caption

    at.selectbox(key="cmp_dataset").set_value(str(env.parent / "lapa68"))  # photos-like folder, not synthetic
    rerun(at)
    warning = " ".join(w.value for w in at.warning)
    assert "**Different data.**" in warning and "**synthetic**" in warning and "**lapa68**" in warning


def test_several_checkpoints_side_by_side(env):
    from lmkviz.evaluation import evaluate

    first = add_run(env)
    second = add_run(env, name="20260102-000000-other", seed=1)
    at = evaluate_few(open_page(PAGE), 6)
    picker = at.multiselect(key="cmp_runs")
    assert len(picker.options) == 2 and len(picker.value) == 1  # the page's own checkpoint
    assert picker.value == [str(second)]  # the newest run is the page's checkpoint
    picker.set_value([str(second), str(first)])
    rerun(at)
    rows = at.dataframe[1].value
    assert len(rows) == 2 and set(rows["checkpoint"]) == {"tiny · best · 01 Jan 00:00", "other · best · 02 Jan 00:00"}
    for path in (first, second):
        result = evaluate(path, "synthetic", "val", limit=6)
        label = "tiny · best · 01 Jan 00:00" if path == first else "other · best · 02 Jan 00:00"
        row = rows[rows["checkpoint"] == label].iloc[0]
        best = result.best_decoder()
        assert row["NME %"] == pytest.approx(result.summary()["nme"][best], abs=1e-3)
        assert row["decoder"] == DECODER_LABELS[best]
    assert [t["name"] for t in chart(at, "cmp_runs_ced")["data"]] == list(rows["checkpoint"])
    assert len(chart(at, "cmp_runs_groups")["data"]) == 2
    # another checkpoint on the page joins the comparison
    at.multiselect(key="cmp_runs").set_value([str(second)])
    at.selectbox(key="cmp_checkpoint").set_value(str(first))
    rerun(at)
    assert at.multiselect(key="cmp_runs").value == [str(first), str(second)]
    # one decoder for all
    at.selectbox(key="cmp_runs_decoder").set_value("argmax")
    rerun(at)
    assert set(at.dataframe[1].value["decoder"]) == {"argmax"}


def test_the_decoders_listed_are_those_of_the_checkpoints_codec(env, monkeypatch):
    from lmkviz.codecs import HeatmapCodec

    add_run(env)
    monkeypatch.setattr(HeatmapCodec, "decoders", property(lambda self: ("argmax", "dark")))
    at = evaluate_few(open_page(PAGE), 4)
    assert list(at.dataframe[0].value["decoder"]) == ["argmax", "DARK"]
    assert [t["name"] for t in chart(at, "cmp_ced")["data"]] == ["argmax", "DARK"]
    assert widget(at, "button_group", "cmp_shown").options == ["argmax", "DARK"]


def test_broken_run_folders_do_not_hide_the_good_checkpoint(env):
    from tests.helpers import make_broken_runs

    make_broken_runs(env)
    best = add_run(env, name="20260104-000000-tiny")
    at = open_page(PAGE)
    assert at.selectbox(key="cmp_checkpoint").value == str(best)


# ----------------------------------------------------------------------------- your own model (issue 16)


def test_an_onnx_model_exported_by_lmkviz_is_compared_like_its_checkpoint(env, tmp_path, monkeypatch):
    from lmkviz.evaluation import evaluate

    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    monkeypatch.setenv("LMKVIZ_MODELS", str(tmp_path / "uploaded"))
    checkpoint, model, sidecar = exported_onnx(tmp_path / "export")
    at = open_page(PAGE)  # no checkpoint here at all: the page offers a model of your own
    assert "No checkpoint to compare yet" in " ".join(i.value for i in at.info)
    at.segmented_control(key="cmp_model").set_value("imported").run()
    at.file_uploader(key="cmp_model_file").set_value((model.name, model.read_bytes(), "application/octet-stream"))
    at.file_uploader(key="cmp_model_sidecar").set_value((sidecar.name, sidecar.read_bytes(), "application/json"))
    at = evaluate_few(rerun(at), 4)
    assert not at.error
    expected = evaluate(checkpoint, "synthetic", "val", limit=4).summary()["nme"]
    table = at.dataframe[0].value
    assert list(table["decoder"]) == DECODER_NAMES
    assert table["NME %"].tolist() == pytest.approx([expected[m] for m in DECODERS], abs=0.02)
    assert any("tiny.onnx (onnx)" in c.value for c in at.caption)
    grid = chart(open_section(at, "cmp_grid_open"), "cmp_grid")  # its heatmaps in the sample browser
    assert grid["layout"]["annotations"]
    assert at.multiselect(key="cmp_runs").value == [str(next((tmp_path / "uploaded").glob("*/tiny.onnx")))]


# ----------------------------------------------------------------------------- shareable view (issue 15)


def test_a_link_restores_the_view(env):
    best = add_run(env)
    at = AppTest.from_file(PAGE, default_timeout=180)
    view = {"ckpt": str(best), "ds": "synthetic", "split": "val", "n": "5", "flip": "1", "sort": "argmax",
            "rank": "2", "dec": "argmax,dark", "lmk": "30", "opacity": "0.4", "zoom": "6", "part": "all",
            "rundec": "dark", "grid": "1", "lmkerr": "1", "lmkview": "Over the image"}
    for name, value in view.items():
        at.query_params[name] = value
    rerun(at.run())
    assert at.header[0].value == "1 · Every decoder on 5 synthetic / val images, flip test"
    assert at.selectbox(key="cmp_sort").value == "argmax" and at.number_input(key="cmp_rank").value == 2
    assert list(widget(at, "button_group", "cmp_shown").value) == ["argmax", "dark"]
    assert at.selectbox(key="cmp_channel").value == 30 and group_picker(at).value == "all"
    assert at.slider(key="cmp_opacity").value == 0.4 and at.slider(key="cmp_radius").value == 6
    assert at.selectbox(key="cmp_runs_decoder").value == "dark"
    assert {t.get("name") for t in chart(at, "cmp_sample")["data"]} - {None} == {"target", "argmax", "DARK"}
    # the link's open sections: the per-landmark chart, the grid and the one-landmark view's tab
    assert chart(at, "cmp_per_landmark") and chart(at, "cmp_grid") and chart(at, "cmp_overlay")
    assert not any(c.proto.id.endswith("cmp_zoom") for c in at.get("plotly_chart"))
    assert all(at.query_params[k] == v for k, v in view.items()), dict(at.query_params)
    # the address follows the widgets, also those in the sample browser (a fragment)
    at.number_input(key="cmp_rank").set_value(3).run()
    assert at.query_params["rank"] == "3"
    # the next sample starts on its own worst landmark again
    landmark = at.selectbox(key="cmp_channel")
    assert landmark.options[landmark.index].endswith("(largest error)")


def test_a_link_with_values_the_page_does_not_offer_is_ignored(env):
    add_run(env)
    at = AppTest.from_file(PAGE, default_timeout=180)
    for name, value in {"ckpt": "/etc/passwd", "ds": "../../x", "n": "many", "zoom": "99", "dec": "nope"}.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception
    assert at.selectbox(key="cmp_dataset").value != "../../x" and at.slider(key="cmp_radius").value == 4
    assert list(widget(at, "button_group", "cmp_shown").value) == []  # no decoder of the link is offered
    assert "ckpt" in " ".join(c.value for c in at.caption)


# ----------------------------------------------------------------------------- SimCC (issue 11)


def test_a_simcc_checkpoint_lists_the_simcc_decoders(env):
    from lmkviz.decoding import VECTOR_DECODERS
    from lmkviz.evaluation import evaluate

    best = add_run(env, encoding="simcc")
    at = evaluate_few(open_page(PAGE), 4)
    assert not at.error
    expected = evaluate(best, "synthetic", "val", limit=4).summary()["nme"]
    table = at.dataframe[0].value
    assert list(table["decoder"]) == [DECODER_LABELS.get(m, m) for m in VECTOR_DECODERS]
    assert table["NME %"].tolist() == pytest.approx([expected[m] for m in VECTOR_DECODERS], abs=1e-3)
    assert widget(at, "button_group", "cmp_shown").options == [DECODER_LABELS.get(m, m) for m in VECTOR_DECODERS]
    assert [t["name"] for t in chart(at, "cmp_ced")["data"]] == [DECODER_LABELS.get(m, m) for m in VECTOR_DECODERS]
    assert chart(at, "cmp_sample")  # its points on the image
    assert any("simcc vectors, not heatmaps" in i.value for i in at.info)


def test_the_evaluation_is_kept_on_disk_for_the_next_server(env):
    """Compare evaluates through lmkviz.evalcache: a later server reads the file instead of
    running the network again."""
    import os

    from lmkviz.evalcache import cache_root

    add_run(env)
    at = evaluate_few(open_page(PAGE), 4)
    assert not at.exception
    files = list((cache_root() / "evaluations").glob("*.npz"))
    assert files and str(cache_root()).startswith(os.environ["LMKVIZ_HOME"])


def test_only_the_sidebar_reruns_the_whole_page():
    """Every widget of the page's body lives in a fragment of its section: sorting, ranking,
    the landmark, the opened sections and the checkpoints side by side rerun only their part
    (the evaluation's widgets in the sidebar alone rerun the page)."""
    from tests.apptest import fragment_keys

    from ui.compare import SHARED

    found = fragment_keys("pages/4_Compare_decoders.py")
    in_fragments = set().union(*found.values())
    sidebar = {"cmp_model", "cmp_checkpoint", "cmp_dataset", "cmp_split", "cmp_n", "cmp_flip"}
    assert set(SHARED.values()) - sidebar <= in_fragments, set(SHARED.values()) - sidebar - in_fragments
    assert {"cmp_sort", "cmp_sample"} <= found["sample_browser"]
    assert {"cmp_channel", "cmp_opacity", "cmp_zoom", "cmp_overlay"} <= found["one_landmark"]  # not the sample's
    assert {"cmp_grid_open", "cmp_grid"} <= found["heatmap_grid"]
    assert {"cmp_landmarks_open", "cmp_per_landmark"} <= found["landmark_errors"]
    assert "cmp_ced" not in in_fragments


def test_every_fragment_with_a_shared_widget_puts_the_address_right_on_every_path():
    """A fragment reruns alone (AppTest cannot show it: it always runs the whole page), so each
    fragment holding a widget of the shared link calls ``share.publish()`` in its own body, not
    only in a branch: closing the heatmap grid must take ``grid=1`` off the address."""
    import ast

    from tests.apptest import REPO_ROOT, fragment_keys

    from ui.compare import SHARED

    tree = ast.parse((REPO_ROOT / PAGE).read_text())
    functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    shared = set(SHARED.values())
    for name, keys in fragment_keys(PAGE).items():
        if not keys & shared:
            continue
        calls = [ast.unparse(stmt.value) for stmt in functions[name].body
                 if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)]
        assert "share.publish()" in calls, f"{name} publishes the address only in some of its branches"
