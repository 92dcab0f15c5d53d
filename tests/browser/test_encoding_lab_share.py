"""End to end in headless Chromium: a view of the Encoding lab, shared by its link, opens the
same in a fresh browser context (no cookies, no session)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import AppDriver

pytestmark = pytest.mark.browser


def encoding_checked(page, label: str) -> bool:
    """Whether the encoding ``label`` is chosen (the encoding controls sit above section 1)."""
    return page.locator('.st-key-enc_encoding label').filter(has_text=label).locator("input").first.is_checked()


def metric_value(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_a_shared_encoding_lab_link_opens_the_same_view_in_a_fresh_context(app, browser, app_server):
    app.page.set_viewport_size({"width": 1400, "height": 900})
    app.page.goto(app_server.url + "/Encoding_lab", wait_until="domcontentloaded")
    app.wait(timeout=300_000, min_runs=1)
    page = app.page
    app.interact(lambda: page.locator('.st-key-enc_encoding label').filter(
        has_text="Gaussian, UDP corner-aligned").first.click())
    sample = page.locator('[data-testid="stSidebar"] [data-testid="stNumberInput"] input').first
    app.interact(lambda: (sample.fill("2"), sample.press("Enter")))
    assert metric_value(page, "Stride") == "4.05 px"
    page.get_by_text("Copy link to this view").first.click()
    link = page.locator('[data-testid="stPopoverBody"] code').first.inner_text().strip()
    assert "enc=udp" in link and "sample=2" in link, link
    app.screenshot("encoding_lab_shared_view_source")

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        fresh = AppDriver(context.new_page(), app_server)
        fresh.page.goto(link, wait_until="domcontentloaded")
        fresh.wait(timeout=300_000, min_runs=1)
        fresh.assert_no_exception()
        assert encoding_checked(fresh.page, "Gaussian, UDP corner-aligned")
        assert fresh.page.locator('[data-testid="stSidebar"] [data-testid="stNumberInput"] input').first \
            .input_value() == "2"
        assert metric_value(fresh.page, "Stride") == "4.05 px"
        fresh.screenshot("encoding_lab_shared_view_fresh_context")
    finally:
        context.close()
