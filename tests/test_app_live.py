"""AppTest: the live camera section of Upload a face (ui/live.py).

AppTest runs scripts without a Streamlit server, so WebRTC is unavailable there and the
section falls back to snapshots, which is what these tests drive; the live stream itself
is tested in Chromium (tests/browser/test_live_camera.py).
"""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from PIL import Image

from tests.apptest import REPO_ROOT, AppTest, st, widget

PAGE = str(REPO_ROOT / "pages" / "5_Upload_a_face.py")


def jpeg(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture
def clean(monkeypatch, tmp_path):
    monkeypatch.setenv("LMKVIZ_RUNS", str(tmp_path / "runs"))
    st.cache_data.clear()
    st.cache_resource.clear()


def open_live() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception, at.exception
    assert not [w for w in at.get("camera_input") if w.key == "live_snapshot"]  # off until asked for
    at.toggle(key="live_on").set_value(True).run()
    assert not at.exception, at.exception
    return at


def images_captions(at: AppTest) -> list[str]:
    return [c.caption for image in at.get("image") for c in image.proto.imgs]


def test_the_page_has_a_live_camera_section_that_falls_back_to_snapshots(clean):
    at = open_live()
    mode = widget(at, "button_group", "live_mode")
    assert mode.value == "snapshot" and mode.options == ["Snapshots"]  # no WebRTC without a server
    assert any("served by `streamlit run`" in i.value for i in at.info)
    assert at.selectbox(key="live_channel").value == 30  # the nose tip's heatmap first
    assert at.selectbox(key="live_decoder").value == "dark"
    assert at.camera_input(key="live_snapshot") is not None
    # the rest of the page is still there
    assert at.radio(key="up_source").value == "astronaut"


def test_a_snapshot_gets_the_landmarks(clean):
    at = open_live()
    at.camera_input(key="live_snapshot").set_value(("shot.jpg", jpeg(astronaut()), "image/jpeg")).run()
    assert not at.exception, at.exception
    assert "68 landmarks (DARK)" in images_captions(at)
    at.selectbox(key="live_decoder").set_value("argmax").run()
    assert "68 landmarks (argmax)" in images_captions(at)


def test_a_snapshot_without_a_face_says_so(clean):
    at = open_live()
    blank = np.full((240, 320, 3), 128, np.uint8)
    at.camera_input(key="live_snapshot").set_value(("shot.jpg", jpeg(blank), "image/jpeg")).run()
    assert not at.exception, at.exception
    assert any(c.startswith("No face found") for c in images_captions(at))


def test_the_snapshot_image_has_the_points_drawn(clean):
    import ui.live
    from lmkviz.live import LiveSettings
    from ui.common import DEFAULT_CHECKPOINT

    data = jpeg(astronaut())
    image, landmarks = ui.live.snapshot_cached(str(DEFAULT_CHECKPOINT), 0.0, data, LiveSettings(channel=30))
    original = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert landmarks == 68 and image.shape == original.shape
    changed = np.abs(image.astype(int) - original).max(axis=2) > 40
    assert changed[60:170, 170:280].mean() > 0.015  # on the face (detector box ~ x 177-270, y 67-160)
    assert changed[300:, :].mean() < 0.005  # hardly anywhere else


def test_without_streamlit_webrtc_the_page_says_how_to_get_it(clean, monkeypatch):
    monkeypatch.setitem(sys.modules, "streamlit_webrtc", None)  # import fails
    at = open_live()
    assert any("`streamlit-webrtc` package" in i.value for i in at.info)
    assert widget(at, "button_group", "live_mode").options == ["Snapshots"]


def test_without_the_shipped_model_the_section_says_so(clean, monkeypatch, tmp_path):
    import ui.common

    monkeypatch.setattr(ui.common, "DEFAULT_CHECKPOINT", tmp_path / "not_shipped.pt")
    at = open_live()
    assert any("not installed" in w.value for w in at.warning)
    assert not [w for w in at.get("camera_input") if w.key == "live_snapshot"]
