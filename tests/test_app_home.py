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
