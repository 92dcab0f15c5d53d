"""AppTest: Compare decoders evaluates a checkpoint with every decoder and browses the samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lmkviz.decoding import DECODER_LABELS, DECODERS
from lmkviz.runs import RunFolder
from tests.apptest import REPO_ROOT, AppTest, chart, open_page, rerun, st, switch_to, widget
from tests.helpers import make_checkpoint, tiny_config

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
    next(w for w in at.number_input if w.key.startswith("cmp_n:")).set_value(n)
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
    per = chart(at, "cmp_per_landmark")
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
    at = evaluate_few(open_page(PAGE), 4)
    per = chart(at, "cmp_per_landmark")
    assert per["data"][0]["type"] == "bar" and per["data"][0]["x"] == ["36", "45", "30", "48", "54"]
    assert len(chart(at, "cmp_grid")["layout"]["annotations"]) == 5


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
    overlay = chart(at, "cmp_overlay")
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


def test_broken_run_folders_do_not_hide_the_good_checkpoint(env):
    from tests.helpers import make_broken_runs

    make_broken_runs(env)
    best = add_run(env, name="20260104-000000-tiny")
    at = open_page(PAGE)
    assert at.selectbox(key="cmp_checkpoint").value == str(best)
