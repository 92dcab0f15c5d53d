"""In headless Chromium: what Upload a face and Compare decoders tell a person about trust.

Upload: a coffee cup is flagged (no face, the points are guesses), a photo with several
faces lists them largest first and each gets its crop, the stage timings are shown.
Compare: the flip test toggle, the warning for a model evaluated off its training data,
and checkpoints side by side. Screenshots go to tests/artifacts/ (``upload_*``,
``compare_*``). With ../shared/datasets (LMKVIZ_DATA) the faces and the evaluations are
real photos (face68); without, synthetic faces and the test's small folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.browser.test_pages_part2 import charts, finished_run  # noqa: F401  (finished_run: a fixture)

pytestmark = pytest.mark.browser

EVALUATION_TIMEOUT = 600_000


def _png(array: np.ndarray, path: Path) -> Path:
    from PIL import Image

    Image.fromarray(array).save(path)
    return path


def _faces_photo(tmp_path: Path) -> tuple[Path, bool]:
    """A 1150 x 470 photo of three faces of different sizes: face68/val photos (a dark-skinned
    face largest, a light-skinned one second) when the shared data is there, else synthetic
    faces. Returns (path, real photos?)."""
    from PIL import Image

    from tests.conftest import shared_datasets_dir

    canvas = Image.new("RGB", (1150, 470), (90, 110, 120))
    shared = shared_datasets_dir()
    if shared is not None:
        files = sorted((shared / "face68" / "val" / "images").glob("*.jpg"))
        named = {f.name: f for f in files}
        wanted = ["helen_2249998377_1.jpg", "helen_2229166768_1.jpg", "helen_2230569196_4.jpg"]
        faces = [Image.open(named[n]).convert("RGB") for n in wanted if n in named]
    else:
        faces = []
    real = len(faces) == 3
    if not real:
        from lmkviz.data.synthetic import render_face

        faces = [Image.fromarray(render_face(seed, 320)[0]) for seed in (2, 4, 8)]  # seeds the detector finds
    x = 10
    for face, side in zip(faces, (420, 330, 260)):
        canvas.paste(face.resize((side, side)), (x, (470 - side) // 2))
        x += side + 40
    path = tmp_path / "three_faces.png"
    canvas.save(path)
    return path, real


def _open(app, path: str) -> None:
    """``app.open`` with room for a first run that loads torch and a checkpoint on a busy machine."""
    app.page.goto(app.server.url + path, wait_until="domcontentloaded")
    app.wait(timeout=EVALUATION_TIMEOUT, min_runs=1)
    app.assert_no_exception()


def _upload(app, path: Path) -> None:
    page = app.page
    if not page.locator('[data-testid="stFileUploaderDropzoneInput"]').count():
        app.interact(lambda: page.get_by_text("Upload a photo", exact=True).click(), timeout=EVALUATION_TIMEOUT)
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    app.interact(lambda: uploader.set_input_files(str(path)), timeout=EVALUATION_TIMEOUT)
    app.wait(timeout=EVALUATION_TIMEOUT)
    app.assert_no_exception()


def _pick(app, container, label: str, option: str) -> None:
    """Choose ``option`` in the selectbox labelled ``label`` inside ``container``."""
    app.choose(container.locator('[data-testid="stSelectbox"]').filter(has_text=label).first, option,
               timeout=EVALUATION_TIMEOUT)
    app.assert_no_exception()


def test_upload_flags_a_coffee_cup_and_lists_several_faces(app, tmp_path):
    from skimage import data

    page = app.page
    _open(app, "/Upload_a_face")
    # the astronaut: a face, and the network is sure of it
    assert page.get_by_text("The network is confident").first.is_visible()

    _upload(app, _png(data.coffee(), tmp_path / "coffee.png"))
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="No face here")
    assert warning.count() == 1 and "The points are guesses" in warning.inner_text()
    photo = charts(page).first.inner_text()
    assert "guess (peak < 0.50)" in photo and "sure (heatmap peak ≥ 0.70)" in photo  # the colours, explained
    captions = " ".join(page.locator('[data-testid="stCaptionContainer"]').all_inner_texts())
    assert "black where it leaves the photo" in captions
    app.screenshot("upload_coffee_flagged")

    path, real = _faces_photo(tmp_path)
    _upload(app, path)
    picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="faces found")
    shown = picker.inner_text() + " " + (picker.locator("input").first.input_value()
                                          if picker.locator("input").count() else "")
    assert picker.count() == 1 and "face 1 of" in shown and "· largest" in shown, shown
    if real:
        assert "face 1 of 3" in shown  # the synthetic faces: as many as the detector finds
    timings = page.get_by_text("network", exact=False).filter(has_text=" ms").first.inner_text()
    for stage in ("detect", "crop", "network", "decode", "total"):
        assert stage in timings
    if real:
        assert page.get_by_text("The network is confident").first.is_visible()
    app.screenshot("upload_faces_dark_skin")  # face 1: the largest, a dark-skinned man

    app.choose(picker, "face 2 of", timeout=EVALUATION_TIMEOUT)
    app.assert_no_exception()
    assert "face 2 of" in picker.inner_text() + " " + (picker.locator("input").first.input_value()
                                                       if picker.locator("input").count() else "")
    app.screenshot("upload_faces_light_skin")  # face 2: a light-skinned woman


def test_compare_flip_test_domain_warning_and_checkpoints_side_by_side(app, finished_run):  # noqa: F811
    from tests.conftest import shared_datasets_dir

    page = app.page
    sidebar = page.locator('[data-testid="stSidebar"]')
    _open(app, "/Compare_decoders")
    real = shared_datasets_dir() is not None
    dataset = "face68" if real else "browser_lapa"
    _pick(app, sidebar, "Dataset", dataset)
    _pick(app, sidebar, "Split", "val")
    assert page.get_by_text("Every decoder on").first.is_visible()

    # the flip test: a second evaluation, named in the header
    app.interact(lambda: sidebar.get_by_text("Flip test", exact=True).click(), timeout=EVALUATION_TIMEOUT)
    app.assert_no_exception()
    header = page.locator("h1, h2").filter(has_text="Every decoder on").first.inner_text()
    assert header.endswith("flip test")
    summary = page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="the best decoder here").first
    assert summary.is_visible()
    app.screenshot("compare_flip_test")

    # a model trained on synthetic faces, evaluated on photos: warned, and the summary says it fails
    run = finished_run.name
    _pick(app, sidebar, "Checkpoint", "quick-demo · best")
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="Different data")
    assert warning.count() == 1 and "synthetic" in warning.inner_text() and dataset in warning.inner_text()
    app.screenshot("compare_domain_warning")

    # checkpoints side by side: the shipped model next to the run
    select = page.locator('[data-testid="stMultiSelect"]').filter(has_text="quick-demo")
    if "shipped model" not in select.inner_text():  # the page's first checkpoint may be chosen already
        select.click()
        app.interact(lambda: page.get_by_role("option").filter(has_text="shipped model").first.click(),
                     timeout=EVALUATION_TIMEOUT)
        page.keyboard.press("Escape")
        app.wait(timeout=EVALUATION_TIMEOUT)
    app.assert_no_exception()
    table = page.locator('[data-testid="stDataFrame"]').nth(1)
    assert table.is_visible()
    ced = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="failure threshold").nth(1)
    legend = ced.inner_text()
    assert "shipped model" in legend and "quick-demo" in legend, (run, legend)
    app.screenshot("compare_checkpoints_side_by_side")
