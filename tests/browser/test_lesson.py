"""End to end in headless Chromium: the whole Lesson in presenter mode, driven with the keyboard only
(arrow keys and Page Up / Page Down, what a presentation clicker sends)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

STEPS = [  # (heading, at least this many charts)
    ("1 · Why not regress (x, y) directly?", 2),
    ("2 · A heatmap per landmark", 2),
    ("3 · σ: easy to learn, or precise?", 2),
    ("4 · The blog's rounding example", 1),
    ("5 · Randomized rounding: right on average", 2),
    ("6 · Top-k decoding", 1),
    ("7 · HRNet against U-Net: where the resolution goes", 1),
    ("8 · DARK on a real predicted heatmap", 2),
    ("9 · The flip test", 1),
    ("10 · What it adds up to", 2),
]
FORWARD = ["ArrowRight", "PageDown"]


def open_slowly(app, path: str) -> None:
    """``app.open`` at 1400 x 900 (a laptop, a projector) with room for a first run that imports
    torch on a busy machine."""
    app.page.set_viewport_size({"width": 1400, "height": 900})
    app.page.goto(app.server.url + path, wait_until="domcontentloaded")
    app.wait(timeout=300_000, min_runs=1)


def step_heading(page) -> str:
    return page.locator('[data-testid="stHeading"] h2').first.inner_text().strip()



def test_the_whole_lesson_in_presenter_mode_with_the_keyboard(app):
    open_slowly(app, "/Lesson?present=1")
    page = app.page
    app.assert_no_exception()
    assert not page.locator('[data-testid="stSidebar"]').is_visible()  # presenter mode hides the sidebar
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "21px"
    for n, (title, charts) in enumerate(STEPS, start=1):
        assert step_heading(page) == title
        assert re.search(rf"[?&]step={n}(&|$)", page.url) and "present=1" in page.url
        assert page.locator('[data-testid="stPlotlyChart"]').count() >= charts
        for chart in page.locator('[data-testid="stPlotlyChart"]').all():
            assert chart.locator(".main-svg").first.is_visible()
        radios = page.locator('[data-testid="stRadio"] [role="radiogroup"] label')
        assert radios.count() >= 3 and page.get_by_text("Predict, then reveal.").is_visible()
        assert page.get_by_text("Takeaway:").count() == 0  # nothing revealed before an answer
        app.interact(lambda: radios.first.click())
        app.assert_no_exception()
        verdict = page.locator('[data-testid="stAlertContentSuccess"], [data-testid="stAlertContentWarning"]')
        assert verdict.count() == 1 and page.get_by_text("Takeaway:").is_visible()
        app.screenshot(f"lesson_step_{n:02d}")
        if n < len(STEPS):
            # the focus is on the answer's radio button: in presenter mode the keys still turn the page
            app.interact(lambda: page.keyboard.press(FORWARD[n % 2]))
            app.assert_no_exception()
    # back with the other two keys, and no further than the first step
    app.interact(lambda: page.keyboard.press("ArrowLeft"))
    assert step_heading(page) == STEPS[8][0]
    app.interact(lambda: page.keyboard.press("PageUp"))
    assert step_heading(page) == STEPS[7][0]
    assert "step=8" in page.url


def test_a_link_opens_a_step_and_keys_leave_text_boxes_alone(app):
    open_slowly(app, "/Lesson?step=8")
    page = app.page
    app.assert_no_exception()
    assert step_heading(page) == STEPS[7][0]
    assert page.locator('[data-testid="stSidebar"]').is_visible()  # not presenting
    face = page.get_by_label("Face (synthetic val)").or_(page.get_by_label(re.compile(r"Face \(.* val\)"))).first
    face.click()
    face.press("ArrowRight")  # moves the text cursor, not the lesson
    page.wait_for_timeout(500)
    assert step_heading(page) == STEPS[7][0]
    page.locator("h2").first.click()  # focus back on the page
    app.interact(lambda: page.keyboard.press("PageDown"))
    assert step_heading(page) == STEPS[8][0]
    app.screenshot("lesson_step_09_normal_mode")
