"""End to end in headless Chromium: Train, Compare decoders and Upload a face, as a person uses them.

The Train test starts a shortened quick demo from the form and watches the background
job reach "done" while the page refreshes itself; Compare decoders then evaluates that
run's checkpoint; Upload a face takes a file through the browser's file input.
Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from lmkviz.decoding import DECODERS

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.browser

DONE_TIMEOUT_MS = 300_000


def charts(page):
    return page.locator('[data-testid="stPlotlyChart"]')


def metric_value(page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def set_number(app, label: str, value: int) -> None:
    box = app.page.get_by_label(label, exact=True)
    box.fill(str(value))
    app.interact(lambda: box.press("Enter"))


def stop_live_jobs(runs: Path) -> None:
    from lmkviz import jobs

    for info in jobs.list_runs(runs):
        if info.alive:
            jobs.stop(info.path, timeout=10)


def shorten_demo(app, epochs: int) -> None:
    """Fill the Train form for a short run: ``epochs`` epochs on 32 training and 8 validation faces."""
    set_number(app, "Epochs", epochs)
    app.page.locator('[data-testid="stExpander"] summary').filter(has_text="Advanced").click()  # no rerun
    set_number(app, "Use only the first N training images (0 = all)", 32)
    set_number(app, "… and N validation images (0 = all)", 8)


def start_and_wait_until_done(app, epochs: int) -> None:
    """Press Start training and wait until the live view shows the run done after ``epochs``
    epochs (another finished run may be on show until this one appears); live jobs are
    stopped whatever happens."""
    page = app.page
    app.interact(lambda: page.get_by_role("button", name="Start training").click())
    app.assert_no_exception()
    try:  # the job list and the live view refresh themselves until the job ends
        page.wait_for_function(
            """([epochs]) => { const ms = [...document.querySelectorAll('[data-testid="stMetric"]')];
                   return ms.some(m => m.innerText.startsWith('State') && m.innerText.includes('done'))
                       && ms.some(m => m.innerText.startsWith('Epoch') && m.innerText.includes(`${epochs} / ${epochs}`)); }""",
            arg=[epochs], timeout=DONE_TIMEOUT_MS, polling=500)
    finally:
        stop_live_jobs(app.server.runs)
    app.wait()
    app.assert_no_exception()


@pytest.fixture
def finished_run(app_server) -> Path:
    """A finished run in the test server's runs folder: the one the Train test launched, or a tiny
    one trained here when that test did not run."""
    from lmkviz import jobs
    from lmkviz.runs import RunFolder
    from lmkviz.training import PRESETS, train

    done = [r for r in jobs.list_runs(app_server.runs) if r.state == "done" and (r.path / "best.pt").exists()
            and r.config is not None and r.config.name == "quick-demo"]  # not the SimCC demo's run
    if done:
        return done[0].path
    config = PRESETS["quick-demo"].replace(epochs=1, limit_train=16, limit_val=8, name="quick-demo")
    path = train(config, runs_root=app_server.runs, progress_bar=False)
    RunFolder(path).write_status(pid=None)
    return path


def test_train_quick_demo_to_done(app):
    page = app.page
    app.open("/Train")
    app.assert_no_exception()
    assert page.get_by_role("heading", name="Train").first.is_visible()
    assert page.get_by_text("128 training and 32 validation images").is_visible()  # the quick demo preset
    assert page.get_by_text("No training run yet").is_visible()

    shorten_demo(app, 3)  # a shorter demo for the test: 3 epochs on 32 faces
    assert page.get_by_text("32 training and 8 validation images").is_visible()
    start_and_wait_until_done(app, 3)
    assert metric_value(page, "Epoch") == "3 / 3"
    assert metric_value(page, "Best val NME").endswith("%")
    assert charts(page).count() == 4  # loss, NME per decoder, learning rate, validation previews
    badge = page.locator('[data-testid="stBadge"], [data-testid="stMarkdownBadge"]').filter(has_text="done")
    assert badge.count() >= 1 or page.get_by_text("done", exact=True).count() >= 1
    app.screenshot("train")

    # the page finds the run again in a fresh tab (nothing lives only in the open tab)
    app.open("/Train")
    assert metric_value(page, "State") == "done"


def test_train_quick_demo_simcc_to_done(app):
    """The SimCC quick demo trains from the form like the heatmap one; its decoders are SimCC's."""
    from lmkviz.training import PRESET_LABELS

    page = app.page
    app.open("/Train")
    app.assert_no_exception()
    app.choose(page.get_by_label("Preset", exact=True), PRESET_LABELS["quick-demo-simcc"])
    app.assert_no_exception()
    shorten_demo(app, 2)
    start_and_wait_until_done(app, 2)  # the heatmap demo's finished run may be on show first
    assert metric_value(page, "Epoch") == "2 / 2"
    assert metric_value(page, "Best val NME").endswith("%")
    from lmkviz import jobs

    runs = [r for r in jobs.list_runs(app.server.runs) if r.config is not None and r.config.encoding == "simcc"]
    assert len(runs) == 1 and runs[0].state == "done" and (runs[0].path / "best.pt").is_file()
    app.screenshot("train_simcc")
    jobs.delete(runs[0].path)  # the Compare tests below expect the heatmap quick demo's run alone


def test_compare_decoders_on_the_run(app, finished_run):
    page = app.page
    started = time.time()
    app.open("/Compare_decoders")
    app.assert_no_exception()
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert "hrnet18_small · Gaussian, sub-pixel centre · 128 px → 32×32 heatmaps" in sidebar.inner_text()
    # the shipped models first (default.pt, then the others), then the run's best.pt and last.pt
    sidebar.locator('[data-testid="stSelectbox"]').filter(has_text="Checkpoint").click()
    options = [o.strip() for o in page.get_by_role("option").all_inner_texts()]
    stamp = datetime.strptime(finished_run.name[:15], "%Y%m%d-%H%M%S")
    best, last = f"quick-demo · best · {stamp:%d %b %H:%M}", f"quick-demo · last · {stamp:%d %b %H:%M}"
    shipped = [o for o in options if o.startswith("shipped model")]
    assert options[len(shipped):len(shipped) + 2] == [best, last]
    assert shipped == [f"shipped model · {p.name}" for p in
                       sorted((REPO_ROOT / "checkpoints").glob("*.pt"), key=lambda p: p.name != "default.pt")]
    if shipped:
        app.interact(lambda: page.get_by_role("option").filter(has_text=best).click())
    else:
        page.keyboard.press("Escape")
    assert page.get_by_text("Every decoder on 100 synthetic / test images").is_visible()
    table = page.locator('[data-testid="stDataFrame"]').first
    assert table.is_visible()
    # CED, sample, cell zoom; the checkpoints' CED and groups. The per-landmark chart, the heatmap
    # grid (closed expanders) and the overlay (the other tab) are drawn only when asked for
    assert charts(page).count() == 5
    first = page.get_by_text("synthetic_test_").first.inner_text()
    app.screenshot("compare_decoders")
    app.interact(lambda: page.get_by_text("Heatmaps of all 68 landmarks").click())
    app.interact(lambda: page.get_by_text("Error of each landmark").click())
    app.select_tab("Over the image")
    app.assert_no_exception()
    assert charts(page).count() == 7  # + per landmark, heatmap grid; the overlay in place of the zoom
    assert page.get_by_text("Heatmaps of", exact=True).is_visible()  # the grid's part picker
    app.screenshot("compare_decoders_open")
    print(f"Compare decoders: evaluated and drawn in {time.time() - started:.1f} s")

    # next-worst sample: only the sample browser reruns
    rank = page.get_by_label("Rank (1 = worst of 100)")
    rank.fill("2")
    app.interact(lambda: rank.press("Enter"))
    app.assert_no_exception()
    assert page.get_by_text("synthetic_test_").first.inner_text() != first


def _face_png(tmp_path: Path) -> Path:
    from PIL import Image

    from lmkviz.data.synthetic import render_face

    image, _ = render_face(11, 320)
    path = tmp_path / "my_face.png"
    Image.fromarray(image).save(path)
    return path


def test_upload_a_face(app, finished_run, tmp_path):
    page = app.page
    app.open("/Upload_a_face")
    app.assert_no_exception()
    app.interact(lambda: page.get_by_text("Upload a photo", exact=True).click())
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    app.interact(lambda: uploader.set_input_files(str(_face_png(tmp_path))))
    app.wait()
    app.assert_no_exception()
    assert page.get_by_text("my_face.png").first.is_visible()
    photo = charts(page).first
    assert "DARK" in photo.inner_text() and "argmax" in photo.inner_text()  # the legend of the landmarks
    assert charts(page).count() == 3  # the photo, the crop with a heatmap, all heatmaps
    for label in ("Landmarks (JSON)", "Landmarks (CSV)", "Picture with points (PNG)"):
        assert page.get_by_role("button", name=label).is_visible()

    # the JSON download holds the points of every decoder
    with page.expect_download() as download:
        page.get_by_role("button", name="Landmarks (JSON)").click()
    import json

    data = json.loads(Path(download.value.path()).read_text())
    assert set(data["points"]) == set(DECODERS)
    assert data["image"]["width"] == 320
    app.screenshot("upload_a_face")
