"""End to end in headless Chromium: home, Dataset browser and Encoding lab, as a person uses them.

Each test opens a page on the real ``streamlit run app.py`` server, waits for the
script run *and* the drawing to finish, drives the main controls, checks what is
visible and saves a screenshot to tests/artifacts/.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def metric_value(page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def charts(page):
    return page.locator('[data-testid="stPlotlyChart"]')


def test_home_page(app):
    app.open("/")
    page = app.page
    app.assert_no_exception()
    assert page.get_by_role("heading", name="lmkviz").is_visible()
    assert charts(page).count() == 1 and charts(page).first.locator(".main-svg").first.is_visible()
    assert page.locator('[data-testid="stGraphVizChart"]').count() == 1
    assert metric_value(page, "Datasets") != "0"
    assert metric_value(page, "Compute")
    for name in ("Dataset browser", "Encoding lab"):
        assert page.locator('[data-testid="stPageLink"]').filter(has_text=name).count() >= 1
    app.screenshot("home")

    # the sidebar menu leads to the other pages
    app.interact(lambda: page.locator('[data-testid="stSidebar"] [data-testid="stPageLink"]')
                 .filter(has_text="Encoding lab").first.click())
    assert page.get_by_role("heading", name="Encoding lab").is_visible()
    app.assert_no_exception()


def test_dataset_browser(app):
    app.open("/Dataset_browser")
    page = app.page
    app.assert_no_exception()
    assert page.get_by_role("heading", name="Dataset browser").is_visible()
    assert charts(page).count() == 2  # the sample grid and the close-up
    app.screenshot("dataset_browser_samples")

    # switch to the small LaPa-layout folder of the test server
    app.choose(page.locator('[data-testid="stSelectbox"]').filter(has_text="Dataset").first, "browser_lapa")
    app.assert_no_exception()
    assert metric_value(page, "Image size") == "96 × 96 px"  # synthetic faces are 256 px

    app.select_tab("Statistics")
    app.assert_no_exception()
    assert page.get_by_text("Where the landmarks fall").is_visible()
    assert charts(page).count() == 3  # split counts, mean shape, density
    app.screenshot("dataset_browser_statistics")

    app.select_tab("Augmentation")
    app.assert_no_exception()
    assert charts(page).count() == 1
    assert page.get_by_text("no augmentation").is_visible()
    app.screenshot("dataset_browser_augmentation")


def test_encoding_lab(app):
    app.open("/Encoding_lab")
    page = app.page
    app.assert_no_exception()
    assert page.get_by_role("heading", name="Encoding lab").is_visible()
    assert charts(page).count() == 5  # the sweeps wait for the toggle
    grid = page.locator('[data-testid="stImage"] img')
    assert grid.count() == 1 and grid.first.evaluate("img => img.complete && img.naturalWidth > 0")
    assert metric_value(page, "σ in image px") == "8.0 px"
    grid_src = grid.first.get_attribute("src")

    # move the sigma slider with the keyboard: 2.00 -> 3.00 (step 0.25)
    thumb = page.get_by_role("slider", name="Sigma σ (heatmap cells)")
    thumb.focus()
    for _ in range(4):
        app.interact(lambda: page.keyboard.press("ArrowRight"))
    assert metric_value(page, "σ in image px") == "12.0 px"
    assert grid.first.get_attribute("src") != grid_src  # the heatmap grid picture follows σ

    # the blog's integer centre: all decoders share one error; sub-pixel: DARK finds the point
    assert len({metric_value(page, d) for d in ("argmax", "quarter offset", "DARK")}) == 1
    app.interact(lambda: page.get_by_test_id("stRadioGroup").get_by_text("Gaussian, sub-pixel centre").click())
    app.assert_no_exception()
    assert metric_value(page, "DARK") == "0.00 px"
    assert metric_value(page, "argmax") != "0.00 px"

    # a fragment: noise reruns only the decoding section, and hurts DARK
    noise = page.get_by_role("slider", name="Noise on the heatmap")
    noise.focus()
    for _ in range(5):
        app.interact(lambda: page.keyboard.press("ArrowRight"))
    app.assert_no_exception()
    assert metric_value(page, "DARK") != "0.00 px"
    assert charts(page).count() == 5

    app.interact(lambda: page.get_by_text("Show the error sweeps").click())
    app.assert_no_exception()
    assert charts(page).count() == 7
    assert page.get_by_text("Error against heatmap size").is_visible()
    app.screenshot("encoding_lab")
