"""AppTest: the home page renders its pipeline example and the live status of this machine."""

from __future__ import annotations

import json

import pytest

from tests.apptest import REPO_ROOT, AppTest, metric, open_page, st


@pytest.fixture
def env(monkeypatch, tmp_path):
    """An empty dataset search path and runs folder, and fresh Streamlit caches."""
    data, runs = tmp_path / "data_dirs", tmp_path / "runs"
    data.mkdir()
    monkeypatch.setenv("LMKVIZ_DATA", str(data))
    monkeypatch.setenv("LMKVIZ_RUNS", str(runs))
    import ui.common

    monkeypatch.setattr(ui.common, "DEFAULT_CHECKPOINT", tmp_path / "not_shipped.pt")
    st.cache_data.clear()
    st.cache_resource.clear()
    return data, runs



def home() -> AppTest:
    return open_page()


def test_home_shows_pipeline_status_and_links(env):
    at = home()
    assert at.title[0].value.endswith("lmkviz")
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    names = {trace.get("name") for trace in spec["data"]}
    assert {"true point", "argmax", "DARK"} <= names  # image -> heatmap -> decoded points
    assert int(metric(at, "Datasets")) >= 1  # synthetic faces are always there
    assert metric(at, "Checkpoints") == "0"
    assert metric(at, "Training jobs running") == "0"
    assert metric(at, "Compute")
    assert any("No checkpoint yet" in i.value for i in at.info)
    links = {link.proto.label for link in at.page_link}
    assert {"Home", "Dataset browser", "Encoding lab"} <= links
    later = {"3_Train.py": "Train", "4_Compare_decoders.py": "Compare decoders", "5_Upload_a_face.py": "Upload a face"}
    for script, label in later.items():  # linked only once the page exists
        assert (label in links) == (REPO_ROOT / "pages" / script).exists()


def test_home_lists_a_lapa_folder_and_run_checkpoints(env, make_lapa_folder, monkeypatch):
    data, runs = env
    folder = make_lapa_folder("lapa_home", n_per_split=2, bad_files=False, size=48)
    monkeypatch.setenv("LMKVIZ_DATA", str(folder.root.parent))
    run = runs / "20250101-000000-demo"
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}")  # unreadable config: listed as a failed run
    (run / "best.pt").write_bytes(b"not really a checkpoint")
    at = home()
    table = at.dataframe[0].value
    assert "lapa_home" in list(table["dataset"])
    row = table[table["dataset"] == "lapa_home"].iloc[0]
    assert (row["train"], row["val"], row["test"]) == (2, 2, 2)
    assert metric(at, "Checkpoints") == "1"
    assert int(metric(at, "Datasets")) >= 2
    runs_table = at.dataframe[2].value
    assert list(runs_table["state"]) == ["failed"]


def test_home_lists_the_shipped_checkpoint(env, monkeypatch, tmp_path):
    import ui.common

    from tests.helpers import make_checkpoint

    shipped = make_checkpoint(tmp_path / "default.pt", input_size=64)
    monkeypatch.setattr(ui.common, "DEFAULT_CHECKPOINT", shipped)
    at = home()
    assert metric(at, "Checkpoints") == "1"
    checkpoints = at.dataframe[1].value
    assert len(checkpoints) == 1 and "shipped" in " ".join(map(str, checkpoints.iloc[0].tolist()))


def test_home_lists_every_shipped_checkpoint_the_default_first(env, monkeypatch, tmp_path):
    import ui.common

    from tests.helpers import make_checkpoint

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    shipped = make_checkpoint(folder / "default.pt", input_size=64)
    make_checkpoint(folder / "fast-cpu.pt", input_size=64)
    (folder / "notes.txt").write_text("not a checkpoint")
    monkeypatch.setattr(ui.common, "DEFAULT_CHECKPOINT", shipped)
    files = ui.common.checkpoint_files()
    assert [(f["name"], f["source"]) for f in files] == [("default.pt", "shipped"), ("fast-cpu.pt", "shipped")]
    assert [ui.common.checkpoint_label(f) for f in files] == ["shipped model · default.pt",
                                                              "shipped model · fast-cpu.pt"]
    at = home()
    assert metric(at, "Checkpoints") == "2"
    assert at.dataframe[1].value["checkpoint"].tolist() == ["default.pt", "fast-cpu.pt"]


def test_checkpoints_show_the_training_date_stored_in_them_never_the_file_time(env, monkeypatch, tmp_path):
    """A fresh clone gives default.pt a new file time: the table shows the date the checkpoint
    says it was trained, or "unknown" for one that does not say."""
    import os
    from datetime import datetime

    import torch

    import ui.common
    from tests.helpers import make_checkpoint

    shipped = make_checkpoint(tmp_path / "default.pt", input_size=64)
    data = torch.load(shipped, weights_only=True)
    data["summary"] = {"epoch": 29, "val_nme": {"dark": 4.16}, "trained_at": "2026-11-22T07:48:10+00:00"}
    torch.save(data, shipped)
    monkeypatch.setattr(ui.common, "DEFAULT_CHECKPOINT", shipped)
    row = home().dataframe[1].value.iloc[0]
    local = datetime.fromisoformat("2026-11-22T07:48:10+00:00").astimezone()
    assert row["trained"] == f"{local:%d %b %Y %H:%M}" and row["val NME"] == "4.16 %"

    del data["summary"]["trained_at"]  # a checkpoint from before dates were stored
    torch.save(data, shipped)
    os.utime(shipped)  # just cloned
    st.cache_data.clear()
    row = home().dataframe[1].value.iloc[0]
    assert row["trained"] == "unknown"
    assert not any("ago" in str(v) for v in row.tolist())


def test_every_chart_downloads_for_slides_named_after_what_it_shows():
    """Every st.plotly_chart of the app gets figure_config: a camera button saving PNG at 3x or SVG."""
    import ast

    from tests.apptest import REPO_ROOT

    names = []
    for path in [REPO_ROOT / "app.py", *sorted((REPO_ROOT / "pages").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "plotly_chart":
                config = [k.value for k in node.keywords if k.arg == "config"]
                assert config and isinstance(config[0], ast.Call) and config[0].func.id == "figure_config", \
                    f"{path.name}:{node.lineno}: a chart without figure_config"
                names.append(config[0].args[0].value)
    assert len(names) == len(set(names)) >= 25  # one distinct file name per chart


def test_figure_config_follows_the_sidebar_format():
    import streamlit as st

    from ui.common import figure_config

    st.session_state.clear()
    png = figure_config("encoding-lab-error-vs-sigma")["toImageButtonOptions"]
    assert png == {"format": "png", "filename": "lmkviz-encoding-lab-error-vs-sigma", "scale": 3}
    st.session_state["lmkviz_figure_format"] = "SVG"
    assert figure_config("a b/c")["toImageButtonOptions"] == {"format": "svg", "filename": "lmkviz-a-b-c", "scale": 1}
    st.session_state.clear()
