"""End to end in headless Chromium at 1400 × 900: Home, the Dataset browser and Train as a person meets them.

Run folders are written directly into the test server's runs folder (no training), so the
states a person meets are on screen at once: a finished 30-epoch run, a run killed after
0.6 epochs, a learning-rate finder run, and a run that is done while its process is
still exiting. Screenshots (tests/artifacts/): home_tables, train_form_estimate,
train_augmentation, train_lr_finder, train_jobs, train_live_charts, train_compare_runs,
dataset_kept_folder, dataset_shared_view, train_epoch_replay_first, train_epoch_replay_last.

The shareable views are opened from the "Copy link to this view" box in a fresh browser
context; the epoch slider replays a shortened quick demo trained here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]

OVERFLOW = """
() => [...document.querySelectorAll('[data-testid="stDataFrame"]')].map(frame => {
  const scroller = frame.querySelector('.dvn-scroller') || frame;
  return {width: scroller.clientWidth, content: scroller.scrollWidth,
          right: frame.getBoundingClientRect().right, page: document.querySelector('[data-testid="stMain"]')
            .getBoundingClientRect().right};
})
"""

X_RANGES = """
() => [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
  .filter(p => p.layout && p.layout.xaxis && p.layout.xaxis.title && p.layout.xaxis.title.text === 'epoch')
  .map(p => p.layout.xaxis.range)
"""


def write_runs(runs: Path) -> subprocess.Popen:
    """The runs of the module docstring; returns the process of the run that is done but still exiting."""
    from lmkviz import procs
    from lmkviz.runs import RunFolder
    from lmkviz.training import PRESETS

    runs.mkdir(parents=True, exist_ok=True)
    done = runs / "20261122-062352-default"
    shutil.copytree(REPO_ROOT / "checkpoints" / "default-run", done)
    RunFolder(done).write_status(state="done", epoch=30, step=8280, steps_per_epoch=276, total_steps=8280)
    other = runs / "20261123-090000-default-lr1e-3"
    shutil.copytree(done, other)
    RunFolder(other).write_config(RunFolder(done).config().replace(lr=1e-3, name="default-lr1e-3"))
    lines = [json.loads(line) for line in (other / "metrics.jsonl").read_text().splitlines()]
    for r in lines:  # a slightly different curve
        if r.get("kind") == "epoch":
            r["val_nme"] = {k: v * 1.05 for k, v in r["val_nme"].items()}
        elif r.get("kind") == "step":
            r["loss"] *= 1.1
    (other / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))

    cut = runs / "20261201-101500-quick-demo"
    cut.mkdir()
    RunFolder(cut).write_config(PRESETS["quick-demo"])
    (cut / "metrics.jsonl").write_text("".join(json.dumps(
        {"kind": "step", "epoch": 1, "step": s, "loss": 0.0069 - 4e-5 * s + 2e-5 * (s % 2), "lr": 3e-3 * s / 96})
        + "\n" for s in range(1, 6)))
    RunFolder(cut).write_status(state="stopped", epoch=0, step=5, steps_per_epoch=8, total_steps=96)

    finder = runs / "20261201-101000-lrfind-quick-demo"
    finder.mkdir()
    RunFolder(finder).write_config(PRESETS["quick-demo"])
    lrs = [1e-6 * 1e6 ** (i / 59) for i in range(60)]
    raw = [0.02 - 0.012 / (1 + (3e-4 / lr) ** 1.5) + (0.05 * (lr / 0.05) ** 2 if lr > 0.02 else 0) for lr in lrs]
    smooth, out = 0.0, []
    for i, v in enumerate(raw):
        smooth = 0.9 * smooth + 0.1 * v
        out.append(smooth / (1 - 0.9 ** (i + 1)))
    from lmkviz.training import suggest_lr

    (finder / "lr_find.json").write_text(json.dumps({"lr": lrs, "loss": out, "suggested": suggest_lr(lrs, out)}))
    RunFolder(finder).write_status(state="done", task="lr_find", step=60, total_steps=60)

    exiting = runs / "20261201-120000-just-finished"
    exiting.mkdir()
    RunFolder(exiting).write_config(PRESETS["quick-demo"].replace(name="just-finished", epochs=2))
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)"], start_new_session=True)
    RunFolder(exiting).write_status(state="done", **procs.identity(proc.pid), epoch=2, step=16, steps_per_epoch=8,
                                    total_steps=16)
    return proc


@pytest.fixture(scope="module")
def prepared(app_server):
    proc = write_runs(app_server.runs)
    yield app_server.runs
    proc.kill()
    proc.wait()
    for path in app_server.runs.iterdir():  # leave the runs folder as the other browser tests expect it
        if path.name.startswith("2026112") or path.name.startswith("20261201-"):
            shutil.rmtree(path)


@pytest.fixture(autouse=True)
def screen_1400x900(app):
    app.page.set_viewport_size({"width": 1400, "height": 900})


def pick(app, label: str, option: str) -> None:
    box = app.page.get_by_label(label, exact=True)
    box.click()
    box.fill(option)
    app.interact(lambda: app.page.keyboard.press("Enter"))


def test_home_tables_fit_the_page(app, prepared):
    app.open("/")
    app.assert_no_exception()
    tables = app.page.evaluate(OVERFLOW)
    assert len(tables) == 3  # datasets, checkpoints, jobs
    for table in tables:
        assert table["content"] <= table["width"] + 1, f"a table scrolls sideways: {table}"
        assert table["right"] <= table["page"] + 1
    text = app.page.locator('[data-testid="stMain"]').inner_text()
    assert "min ago" not in text and "saved" not in text
    app.screenshot("home_tables")


def test_train_page_as_a_person_meets_it(app, prepared):
    page = app.page
    app.open("/Train")
    app.assert_no_exception()
    main = page.locator('[data-testid="stMain"]')
    assert "two minutes" not in main.inner_text()
    assert page.get_by_text("on this machine", exact=False).first.is_visible()  # the measured estimate
    app.screenshot("train_form_estimate")

    # a heavy preset on 1,000 synthetic faces: a CPU warning with the measured estimate
    pick(app, "Preset", "Blog: HRNet-18, binary + BCE")
    assert page.get_by_text("On this CPU the run takes about").is_visible()
    assert "(Advanced)" in page.get_by_text("On this CPU the run takes about").inner_text()
    # a preset keeps the dataset
    pick(app, "Dataset", "browser_lapa")
    pick(app, "Preset", "Quick CPU demo")
    assert "browser_lapa" in page.get_by_label("Dataset", exact=True).input_value()
    page.locator('[data-testid="stExpander"] summary').filter(has_text="Augmentation").click()
    page.locator('[data-testid="stExpander"] summary').filter(has_text="Advanced").click()
    page.wait_for_timeout(500)
    assert page.get_by_text("Framing").first.is_visible() and page.get_by_text("ImageNet weights").first.is_visible()
    app.screenshot("train_augmentation")
    page.locator('[data-testid="stExpander"] summary').filter(has_text="Augmentation").click()
    page.locator('[data-testid="stExpander"] summary').filter(has_text="Advanced").click()

    # the finder's result and what it means
    page.locator('[data-testid="stExpander"] summary').filter(has_text="Learning-rate finder").click()
    page.wait_for_timeout(1500)
    finder = page.locator('[data-testid="stExpander"]').filter(has_text="Learning-rate finder")
    assert "Steepest descent" in finder.inner_text() and "epochs" not in finder.inner_text()
    app.screenshot("train_lr_finder")

    # a job that is done while its process exits: Delete, no Stop
    assert page.get_by_text("20261201-120000-just-finished").first.is_visible()
    assert page.get_by_role("button", name="Stop").count() == 0
    deletes = page.locator('[data-testid="stPopoverButton"]').filter(has_text="Delete").filter(has_not_text="finder")
    assert deletes.count() >= 4  # the four training runs, the one whose process still exits included
    app.screenshot("train_jobs")

    # the charts of a run killed at 0.6 epochs: every x-axis spans the planned 12 epochs
    pick(app, "Run", "20261201-101500-quick-demo")
    app.assert_no_exception()
    ranges = page.evaluate(X_RANGES)
    assert len(ranges) >= 2 and all(r == [0, 12] for r in ranges[:2])
    pick(app, "Run", "20261122-062352-default")
    ranges = page.evaluate(X_RANGES)
    assert ranges[:3] == [[0, 30]] * 3
    app.screenshot("train_live_charts")

    # two runs side by side
    compare = page.locator('[data-testid="stMain"]')
    assert "Settings by run" in compare.inner_text()
    app.screenshot("train_compare_runs")


def test_a_checked_folder_is_kept_after_a_reload(app, tmp_path):
    from conftest import build_lapa_folder

    folder = build_lapa_folder(tmp_path / "far" / "away" / "kept_faces", n_per_split=2, size=64, bad_files=False)
    page = app.page
    app.open("/Dataset_browser")
    app.select_tab("Get data")
    page.get_by_label("Folder", exact=True).fill(str(folder.root))
    app.interact(lambda: page.get_by_role("button", name="Check folder").click())
    assert page.get_by_text("kept for later visits").is_visible()
    app.open("/Dataset_browser")  # a reload: a new browser session
    page.get_by_label("Dataset", exact=True).click()
    assert page.get_by_role("option").filter(has_text="kept_faces").count() == 1
    page.keyboard.press("Escape")
    page.get_by_role("listbox").wait_for(state="hidden")
    app.select_tab("Get data")
    assert page.get_by_text("Kept folders").is_visible()
    app.screenshot("dataset_kept_folder")
    app.interact(lambda: page.get_by_role("button", name="Remove").first.click())
    assert page.get_by_text("Kept folders").count() == 0


COPIED_LINK = """
() => [...document.querySelectorAll('[data-testid="stPopoverBody"] [data-testid="stCode"], [data-testid="stCode"]')]
  .map(c => c.innerText.trim()).find(t => t.startsWith('http'))
"""

PREVIEW_STATE = """
() => {
  const plot = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
    .find(p => p.layout && (p.layout.images || []).some(i => i.layer === 'above'));
  if (!plot) return null;
  return {maps: plot.layout.images.filter(i => i.layer === 'above').map(i => i.source),
          titles: (plot.layout.annotations || []).map(a => a.text).filter(t => t.startsWith('image '))};
}
"""


def copied_link(app) -> str:
    app.page.locator('[data-testid="stPopoverButton"]').filter(has_text="Copy link to this view").first.click()
    try:
        link = app.page.wait_for_function(COPIED_LINK, timeout=30_000, polling=200).json_value()
    except Exception:
        app.screenshot("failed_copy_link")
        raise
    app.page.keyboard.press("Escape")
    assert link, "no link in the 'Copy link to this view' box"
    return link


def fresh_context(browser, app_server):
    from tests.browser.conftest import AppDriver

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    return context, AppDriver(context.new_page(), app_server)


def test_a_shared_dataset_view_opens_the_same_in_a_fresh_browser(app, browser, app_server):
    page = app.page
    app.open("/Dataset_browser?ds=synthetic&split=val&sample=17&lm=eyes")
    app.assert_no_exception()
    assert page.get_by_label("Sample", exact=True).input_value().startswith("#17 ")
    pick(app, "Landmarks", "mouth")
    assert "lm=mouth" in page.url and "sample=17" in page.url and "split=val" in page.url
    link = copied_link(app)
    assert "lm=mouth" in link and "sample=17" in link and link.startswith(app_server.url + "/Dataset_browser")

    context, other = fresh_context(browser, app_server)
    try:
        other.page.goto(link, wait_until="domcontentloaded")
        other.wait(min_runs=1)
        other.assert_no_exception()
        main = other.page.locator('[data-testid="stMain"]')
        assert other.page.get_by_label("Sample", exact=True).input_value().startswith("#17 ")
        assert other.page.get_by_label("Landmarks", exact=True).input_value().startswith("mouth")
        sidebar = other.page.locator('[data-testid="stSidebar"]')
        checked = sidebar.locator('[data-testid="stButtonGroup"] [data-selected]')
        texts = [t.strip() for t in checked.all_inner_texts() if t.strip()]
        assert "val (200)" in texts and not any(t.startswith("train") for t in texts), texts
        assert "#17" in main.inner_text()  # the grid's page that holds it
        other.screenshot("dataset_shared_view")
    finally:
        context.close()


@pytest.fixture(scope="module")
def replay_run(app_server):
    """A shortened quick demo (3 epochs on 16 faces) trained here, previews of every epoch kept."""
    from lmkviz.runs import RunFolder
    from lmkviz.training import PRESETS, train

    config = PRESETS["quick-demo"].replace(epochs=3, limit_train=16, limit_val=4, name="replay-demo")
    path = train(config, runs_root=app_server.runs, progress_bar=False)
    RunFolder(path).write_status(pid=None)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_epoch_slider_replays_a_quick_demo_and_its_link_reopens_it(app, browser, app_server, replay_run):
    from lmkviz.runs import RunFolder

    run = RunFolder(replay_run)
    assert run.preview_epochs() == [1, 2, 3]
    page = app.page
    app.open(f"/Train?run={replay_run.name}")
    app.assert_no_exception()
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Epoch").first
    slider.scroll_into_view_if_needed()
    last = page.evaluate(PREVIEW_STATE)
    nme = {e: run.epoch_preview(e)["nme_dark"] for e in (1, 2, 3)}
    assert last["titles"] == [f"image {i + 1} · NME {100 * v:.1f} %" for i, v in enumerate(nme[3])]
    app.screenshot("train_epoch_replay_last")
    thumb = slider.locator('input[type="range"]')
    thumb.focus()
    app.interact(lambda: page.keyboard.press("Home"))
    first = page.evaluate(PREVIEW_STATE)
    assert first["titles"] == [f"image {i + 1} · NME {100 * v:.1f} %" for i, v in enumerate(nme[1])]
    assert first["maps"] != last["maps"]  # the heatmaps of epoch 1
    assert page.get_by_text("Epoch 1.", exact=False).first.is_visible()
    assert "epoch=1" in page.url and f"run={replay_run.name}" in page.url
    app.screenshot("train_epoch_replay_first")

    link = copied_link(app)
    context, other = fresh_context(browser, app_server)
    try:
        other.page.goto(link, wait_until="domcontentloaded")
        other.wait(min_runs=1)
        other.assert_no_exception()
        assert other.page.evaluate(PREVIEW_STATE)["maps"] == first["maps"]
        assert other.page.get_by_label("Run", exact=True).input_value() == replay_run.name
    finally:
        context.close()
