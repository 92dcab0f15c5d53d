"""AppTest: the Dataset browser on synthetic faces and on a LaPa-layout folder, widgets changed."""

from __future__ import annotations

import base64
import time

import numpy as np
import pytest

from tests.apptest import AppTest, chart, st, switch_to

PAGE = "pages/1_Dataset_browser.py"


@pytest.fixture
def lapa(monkeypatch, tmp_path, make_lapa_folder):
    """A LaPa-layout folder (68 points, with bad files) as the only folder in LMKVIZ_DATA."""
    folder = make_lapa_folder("lapa", n_per_split=3, size=64)
    monkeypatch.setenv("LMKVIZ_DATA", str(tmp_path))
    monkeypatch.setenv("LMKVIZ_RUNS", str(tmp_path / "runs"))
    st.cache_data.clear()
    st.cache_resource.clear()
    return folder


def browser() -> AppTest:
    return switch_to(PAGE)



def values(data) -> list:
    """A plotly JSON array: a list, or numpy data as {"dtype", "bdata" (base64), "shape"}."""
    if isinstance(data, dict) and "bdata" in data:
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return list(data or [])


def points_drawn(spec: dict) -> int:
    """Landmarks drawn in the chosen subset (not the faint others, not marker-only traces)."""
    return sum(len(values(t.get("x"))) for t in spec["data"] if t.get("name") not in (None, "other points")
               and t.get("type") == "scatter" and t.get("hoverinfo") != "skip")


def test_samples_tab_on_synthetic_faces(lapa):
    at = browser()
    grid = chart(at, "ds_grid")
    assert len(grid["layout"]["annotations"]) == 12  # one caption per thumbnail
    before = points_drawn(grid)
    assert before == 12 * 68
    detail = chart(at, "ds_detail_fig")
    hover = [c for t in detail["data"] for c in (t.get("customdata") or [])]
    assert "36: right eye outer corner (eyes)" in hover  # number, name and group on hover

    at.selectbox(key="ds_subset_ibug68").set_value("eyes").run()
    assert not at.exception
    assert points_drawn(chart(at, "ds_grid")) == 12 * 12

    at.button[0].click().run()  # shuffle: another first page
    assert not at.exception
    assert chart(at, "ds_grid")["layout"]["annotations"][0]["text"] != "#0" or \
        chart(at, "ds_grid")["layout"]["annotations"][1]["text"] != "#1"


def test_bad_custom_subset_says_what_to_change(lapa):
    at = browser()
    at.selectbox(key="ds_subset_ibug68").set_value("custom").run()
    at.text_input(key="ds_subset_custom_ibug68").input("36,45,abc").run()
    assert not at.exception
    assert any("cannot read 'abc'" in e.value and "36,45,48-54" in e.value for e in at.error)
    assert not at.get("plotly_chart")  # nothing drawn with a bad subset
    at.text_input(key="ds_subset_custom_ibug68").input("36,45,60-67").run()
    assert not at.error
    assert points_drawn(chart(at, "ds_grid")) == 12 * 10


def test_lapa_folder_dataset_and_statistics(lapa):
    at = browser()
    assert any(label.startswith("lapa · ") for label in at.selectbox(key="ds_dataset").options)
    at.selectbox(key="ds_dataset").set_value(str(lapa.root)).run()
    assert not at.exception, at.exception
    grid = chart(at, "ds_grid")
    titles = [a["text"] for a in grid["layout"]["annotations"]]
    # three good train samples, and a truncated JPEG whose header reads fine: shown as unreadable
    assert len(titles) == 4 and sum("unreadable" in t for t in titles) == 1
    at.session_state["ds_tab"] = "Statistics"
    at.run()
    assert not at.exception, at.exception
    sizes_text = " ".join(m.value for m in at.markdown)
    assert "64 × 64 px" in sizes_text
    mean = chart(at, "ds_mean")
    assert points_drawn(mean) == 68


def test_augmentation_preview_follows_strength(lapa):
    at = browser()
    at.session_state["ds_tab"] = "Augmentation"
    at.run()
    assert not at.exception, at.exception
    spec = chart(at, "ds_aug_fig")
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert titles[0] == "no augmentation" and len(titles) == 5
    at.slider(key="ds_strength").set_value(0.0).run()
    assert not at.exception
    plain = chart(at, "ds_aug_fig")
    assert not any("mirrored" in a["text"] for a in plain["layout"]["annotations"])  # strength 0: no flips
    assert spec != plain


def test_get_data_adds_a_checked_folder_and_reports_skipped_files(lapa, make_lapa_folder):
    hidden = make_lapa_folder("not/discovered/mine", n_per_split=2, size=48)  # too deep for discovery
    at = browser()
    at.session_state["ds_tab"] = "Get data"
    at.run()
    assert not any(label.startswith("mine · ") for label in at.selectbox(key="ds_dataset").options)
    at.text_input(key="ds_add_path").input(str(hidden.root))  # inside a form: sent with the submit
    at.button(key="FormSubmitter:ds_add_form-Check folder").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    reasons = " ".join(table["reason"])
    assert "missing landmark file" in reasons and "wrong point count" in reasons
    assert any("was added to the Dataset list" in s.value for s in at.success)
    added = [label for label in at.selectbox(key="ds_dataset").options if label.startswith("mine · ")]
    assert added, "the checked folder is offered in the dataset picker"

    at.text_input(key="ds_add_path").input(str(hidden.root / "nope"))
    at.button(key="FormSubmitter:ds_add_form-Check folder").click().run()
    assert any("does not exist" in e.value for e in at.error)


def test_a_checked_folder_is_kept_after_a_reload_until_it_is_removed(lapa, make_lapa_folder, lmkviz_home):
    hidden = make_lapa_folder("far/away/kept", n_per_split=2, size=48, bad_files=False)

    def get_data() -> AppTest:  # a fresh browser session: what a reload gives
        at = browser()
        at.session_state["ds_tab"] = "Get data"
        return at.run()

    def offered(at) -> bool:
        return any(label.startswith("kept · ") for label in at.selectbox(key="ds_dataset").options)

    at = get_data()
    assert at.checkbox(key="ds_add_keep").value  # keeping is the default
    at.text_input(key="ds_add_path").input(str(hidden.root))
    at.button(key="FormSubmitter:ds_add_form-Check folder").click().run()
    assert not at.exception, at.exception
    assert any("kept for later visits" in s.value and "settings.json" in s.value for s in at.success)
    assert str(hidden.root) in (lmkviz_home / "settings.json").read_text()

    again = get_data()
    assert offered(again), "the kept folder is in the dataset list of a new session"
    assert any(str(hidden.root) in m.value for m in again.markdown)  # listed under "Kept folders"
    again.button(key=f"ds_forget:{hidden.root}").click().run()
    assert not again.exception, again.exception
    assert not offered(get_data())
    assert hidden.root.is_dir()

    # not kept: only this session has it
    at = get_data()
    at.checkbox(key="ds_add_keep").uncheck()
    at.text_input(key="ds_add_path").input(str(hidden.root))
    at.button(key="FormSubmitter:ds_add_form-Check folder").click().run()
    assert offered(at) and any("until the page is reloaded" in s.value for s in at.success)
    assert not offered(get_data())


def test_get_data_survives_link_loops_and_non_utf8_names(lapa, make_lapa_folder):
    import os

    odd = make_lapa_folder("odd", n_per_split=2, size=48, bad_files=False)
    train = odd.root / "train"
    os.symlink("loop.jpg", train / "images" / "loop.jpg")  # ln -s loop.jpg images/loop.jpg
    (train / "landmarks" / "loop.txt").write_text("1\n1 2\n")
    images, landmarks = os.fsencode(train / "images"), os.fsencode(train / "landmarks")
    image = next((train / "images").glob("train_001.*")).read_bytes()
    for name in (b"caf\xe9.jpg", b"na\xefve.jpg"):  # file names that are not UTF-8
        with open(os.path.join(images, name), "wb") as f:
            f.write(image)
    with open(os.path.join(landmarks, b"caf\xe9.txt"), "wb") as f:
        f.write((train / "landmarks" / "train_001.txt").read_bytes())
    at = browser()
    at.session_state["ds_tab"] = "Get data"
    at.run()
    for _ in range(2):  # the table is drawn again on every rerun
        at.text_input(key="ds_add_path").input(str(odd.root))
        at.button(key="FormSubmitter:ds_add_form-Check folder").click().run()
        assert not at.exception, at.exception
        table = at.dataframe[0].value
        rows = dict(zip(table["file"], table["reason"]))
        assert "symbolic link loop" in rows["train/images/loop.jpg"]
        assert "missing landmark file" in rows["train/images/na\\xefve.jpg"]
        assert any("odd" in s.value and "7 faces" in s.value for s in at.success)  # 3 + 2 + 2


def test_download_runs_in_the_background_and_shows_its_error(lapa, monkeypatch):
    from lmkviz.data import download

    def offline(dest, quiet=False, progress=None, cancel=None, **kwargs):
        progress(10, 100)
        raise download.DownloadError("cannot reach Google Drive (no network connection); check the connection")

    monkeypatch.setattr(download, "download_lapa", offline)
    at = browser()
    at.session_state["ds_tab"] = "Get data"
    at.run()
    at.button(key="ds_download").click().run()
    assert not at.exception, at.exception
    for _ in range(50):
        if any("cannot reach Google Drive" in e.value for e in at.error):
            break
        time.sleep(0.1)
        at.run()
    assert any("The download failed: cannot reach Google Drive" in e.value for e in at.error)


def test_a_finished_download_is_a_job_with_who_and_when_that_another_session_can_dismiss(lapa, monkeypatch):
    """The LaPa download belongs to the server, not to one tab: a new browser session sees it as a
    job started by another session, with its time, and can dismiss it."""
    from lmkviz.data import download

    def offline(dest, quiet=False, progress=None, cancel=None, **kwargs):
        raise download.DownloadError("cannot reach Google Drive (no network connection); check the connection")

    monkeypatch.setattr(download, "download_lapa", offline)

    def get_data() -> AppTest:
        at = browser()
        at.session_state["ds_tab"] = "Get data"
        return at.run()

    mine = get_data()
    mine.button(key="ds_download").click().run()
    for _ in range(50):
        if any("cannot reach Google Drive" in e.value for e in mine.error):
            break
        time.sleep(0.1)
        mine.run()
    assert any("in this browser session" in c.value for c in mine.caption)

    other = get_data()  # another tab, or another person on the same server
    assert not other.exception, other.exception
    who = " ".join(c.value for c in other.caption)
    assert "started" in who and "in another browser session" in who and "ended" in who
    assert any("cannot reach Google Drive" in e.value for e in other.error)
    other.button(key="ds_dismiss_download").click().run()
    assert not other.exception, other.exception
    assert not any("cannot reach Google Drive" in e.value for e in other.error)
    assert not [b for b in other.button if b.key == "ds_dismiss_download"]
    mine.run()  # dismissed for everyone
    assert not any("cannot reach Google Drive" in e.value for e in mine.error)


def test_scheme_without_left_right_pairs_turns_mirroring_off(lapa, make_lapa_folder):
    folder = make_lapa_folder("five", n_per_split=2, num_points=5, size=80, bad_files=False)
    at = browser()
    at.selectbox(key="ds_dataset").set_value(str(folder.root)).run()
    at.session_state["ds_tab"] = "Augmentation"
    at.run()
    assert not at.exception, at.exception
    assert any("Mirroring is off" in i.value for i in at.info)
    titles = [a["text"] for a in chart(at, "ds_aug_fig")["layout"]["annotations"]]
    assert not any("mirrored" in t for t in titles)


def test_a_shared_link_opens_the_same_view_and_the_url_follows(lapa):
    """?ds=&split=&sample=&lm=&point= (ui.share) set the dataset, split, sample (on the pagination
    page that holds it), landmarks and density landmark; changing a widget changes the URL."""
    from tests.apptest import REPO_ROOT

    at = AppTest.from_file(str(REPO_ROOT / PAGE), default_timeout=180)
    for name, value in {"ds": "synthetic", "split": "val", "sample": "17", "lm": "eyes", "point": "36"}.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="ds_dataset").value == "synthetic"
    assert [w.value for w in at.get("button_group") if w.key == "ds_split:synthetic"] == ["val"]
    assert at.selectbox(key="ds_subset_ibug68").value == "eyes"
    assert at.selectbox(key="ds_detail:synthetic:val").value == 17  # on page 2 of 12 per page
    titles = [a["text"] for a in chart(at, "ds_grid")["layout"]["annotations"]]
    assert "#17" in titles and "#0" not in titles
    assert points_drawn(chart(at, "ds_detail_fig")) == 12  # the eyes only
    assert not [w for w in at.warning if "Session State API" in w.value]
    at.session_state["ds_tab"] = "Statistics"
    at.run()
    assert at.selectbox(key="ds_density_point").value == 36
    # the URL follows the widgets
    at.selectbox(key="ds_subset_ibug68").set_value("mouth").run()
    assert not at.exception
    assert at.query_params["lm"] == "mouth" and at.query_params["sample"] == "17"
    assert at.query_params["ds"] == "synthetic" and at.query_params["split"] == "val"
    assert at.query_params["point"] == "selected"  # 36 is not a mouth landmark: not kept in the URL
    assert any("lm=mouth" in c.value and "sample=17" in c.value for c in at.code)  # the link to copy
    # the close-up's sample picker (a fragment) moves the URL and the one link to copy with it
    at.session_state["ds_tab"] = "Samples"
    at.run()
    at.selectbox(key="ds_detail:synthetic:val").set_value(20).run()
    assert not at.exception
    assert at.query_params["sample"] == "20"
    links = [c.value for c in at.code if "Dataset" in c.value or "sample=" in c.value]
    assert len(links) == 1 and "sample=20" in links[0] and "lm=mouth" in links[0], links


def test_a_link_with_values_the_page_does_not_offer_is_ignored_with_a_note(lapa):
    from tests.apptest import REPO_ROOT

    at = AppTest.from_file(str(REPO_ROOT / PAGE), default_timeout=180)
    at.query_params["ds"] = "/etc"
    at.query_params["sample"] = "many"
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="ds_dataset").value == "synthetic"
    assert any("Ignored from the link" in c.value for c in at.caption)


def test_the_sample_picker_reruns_only_the_close_up():
    """The close-up's sample picker lives in a fragment with the close-up alone: picking a sample
    does not rebuild (nor send again) the page's grid of faces."""
    from tests.apptest import fragment_keys

    found = fragment_keys("pages/1_Dataset_browser.py")
    assert {"ds_detail:", "ds_numbers", "ds_detail_fig"} <= found["close_up"]
    assert "ds_grid" not in found["close_up"]
