"""In headless Chromium at 1400 x 900: your own model on Upload a face and Compare decoders,
and shared links that reopen the same view in a fresh browser.

The ONNX model is a tiny checkpoint exported by ``lmkviz.export`` with its sidecar; the
TorchScript one is a plain torch module (BGR, 0-255) set up through the settings form.
Screenshots go to tests/artifacts/ (``your_model_*``, ``shared_*``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.test_pages_part2 import charts

pytestmark = pytest.mark.browser

TIMEOUT = 300_000
VIEWPORT = {"width": 1400, "height": 900}


def _open(app, path: str) -> None:
    app.page.set_viewport_size(VIEWPORT)
    app.page.goto(app.server.url + path, wait_until="domcontentloaded")
    app.wait(timeout=TIMEOUT, min_runs=1)
    app.assert_no_exception()


def _upload_model(app, model: Path, sidecar: Path | None) -> None:
    page = app.page
    sidebar = page.locator('[data-testid="stSidebar"]')
    app.interact(lambda: sidebar.get_by_text("Your model", exact=True).click(), timeout=TIMEOUT)
    inputs = sidebar.locator('[data-testid="stFileUploaderDropzoneInput"]')
    app.interact(lambda: inputs.nth(0).set_input_files(str(model)), timeout=TIMEOUT)
    if sidecar is not None:
        app.interact(lambda: inputs.nth(1).set_input_files(str(sidecar)), timeout=TIMEOUT)
    app.assert_no_exception()


def _pick(app, container, label: str, option: str) -> None:
    """Choose ``option`` in the selectbox labelled ``label`` (typed in: long lists are virtual)."""
    app.choose(container.locator('[data-testid="stSelectbox"]').filter(has_text=label).first, option,
               timeout=TIMEOUT, type_it=True)
    app.assert_no_exception()


def _slider(page, label: str) -> str:
    """The value a slider shows."""
    return page.locator('[data-testid="stSlider"]').filter(has_text=label).first.locator(
        '[data-testid="stSliderThumbValue"]').inner_text().strip()


def _errors(page) -> list[str]:
    return page.locator('[data-testid="stAlertContentError"]').all_inner_texts()


def test_upload_a_face_with_an_exported_onnx_model_and_a_torchscript_module(app, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from tests.helpers import PLAIN_MEAN, PLAIN_STD, exported_onnx, scripted_plain_module

    page = app.page
    _, model, sidecar = exported_onnx(tmp_path / "export")
    _open(app, "/Upload_a_face")
    _upload_model(app, model, sidecar)
    assert not _errors(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.get_by_text("tiny.onnx (onnx)", exact=False).first.is_visible()  # the model, described
    assert page.get_by_text("All 68 heatmaps").is_visible()
    assert charts(page).count() >= 3  # photo, overlay, heatmap grid
    assert page.get_by_text("16×16 cells", exact=False).first.is_visible()  # the model's own heatmaps
    assert "opacity=0.6" in page.url and _slider(page, "Opacity") == "0.60"  # not reset by the page's reruns
    app.screenshot("your_model_upload_onnx")

    # a plain torch module, TorchScript, no sidecar: the form
    scripted = scripted_plain_module(tmp_path / "plain")
    _open(app, "/Upload_a_face")  # a new visit: no file uploaded
    _upload_model(app, scripted, None)
    assert sidebar.get_by_role("button", name="Use these settings").is_visible()
    for label, value in (("Input height (px)", "64"), ("Input width (px)", "64"),
                         ("Mean per channel", ", ".join(map(str, PLAIN_MEAN))),
                         ("Std per channel", ", ".join(map(str, PLAIN_STD)))):
        sidebar.get_by_label(label, exact=True).fill(value)
    sidebar.get_by_text("BGR", exact=True).click()
    sidebar.locator('[data-testid="stSelectbox"]').filter(has_text="Pixel values").click()
    page.get_by_role("option").filter(has_text="0 – 255").first.click()
    app.interact(lambda: sidebar.get_by_role("button", name="Use these settings").click(), timeout=TIMEOUT)
    app.assert_no_exception()
    assert not _errors(page)
    assert sidebar.get_by_text("plain.pt (torchscript)", exact=False).first.is_visible()
    assert page.get_by_text("All 68 heatmaps").is_visible()
    app.screenshot("your_model_upload_torchscript_form")


def test_compare_decoders_with_an_exported_onnx_model(app, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from tests.helpers import exported_onnx

    page = app.page
    sidebar = page.locator('[data-testid="stSidebar"]')
    _, model, sidecar = exported_onnx(tmp_path / "export")
    _open(app, "/Compare_decoders")
    _upload_model(app, model, sidecar)
    _pick(app, sidebar, "Dataset", "browser_lapa")
    _pick(app, sidebar, "Split", "val")
    assert not _errors(page)
    assert page.get_by_text("Every decoder on 3 browser_lapa / val images").is_visible()
    table = page.locator('[data-testid="stDataFrame"]').first
    assert table.is_visible()
    assert page.get_by_text("tiny.onnx (onnx)", exact=False).first.is_visible()
    assert page.get_by_text("One landmark, cell by cell").is_visible()  # its heatmaps, cell by cell
    assert _slider(page, "Heatmap opacity") == "0.70" and _slider(page, "Zoom") == "4"  # not reset by reruns
    app.screenshot("your_model_compare_onnx")


def _fresh(browser, url: str, server):
    """A new browser context (no cookies, no session) opened at ``url``."""
    from tests.browser.conftest import AppDriver

    context = browser.new_context(viewport=VIEWPORT)
    driver = AppDriver(context.new_page(), server)
    driver.page.goto(url, wait_until="domcontentloaded")
    driver.wait(timeout=TIMEOUT, min_runs=1)
    driver.assert_no_exception()
    return context, driver


def _selected(page, label: str) -> str:
    """The option a selectbox shows (Streamlit writes it in the box's input)."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    inputs = box.locator("input")
    value = inputs.first.input_value() if inputs.count() else ""
    return (box.inner_text() + " " + value).strip()


def test_a_shared_link_reopens_the_same_upload_view_in_a_fresh_browser(app, browser):
    page = app.page
    _open(app, "/Upload_a_face")
    app.interact(lambda: page.get_by_text("Example: synthetic face", exact=True).click(), timeout=TIMEOUT)
    _pick(app, page, "Heatmap of landmark", "30 ·")
    sidebar = page.locator('[data-testid="stSidebar"]')
    app.interact(lambda: sidebar.get_by_text("decoder", exact=True).click(), timeout=TIMEOUT)
    assert "lmk=30" in page.url and "img=synthetic" in page.url and "colour=decoder" in page.url
    sidebar.get_by_role("button", name="Copy link to this view").first.click()
    link = page.locator('[data-testid="stPopoverBody"] [data-testid="stCode"]').first.inner_text().strip()
    assert link.startswith(app.server.url) and "lmk=30" in link
    want = _selected(page, "Heatmap of landmark")
    assert "30 ·" in want, want

    context, other = _fresh(browser, link, app.server)
    try:
        assert _selected(other.page, "Heatmap of landmark") == want
        assert other.page.get_by_text("A face drawn by lmkviz's synthetic-face generator").is_visible()
        assert "one colour and symbol per decoder" in " ".join(
            other.page.locator('[data-testid="stCaptionContainer"]').all_inner_texts())
        other.screenshot("shared_upload_fresh_browser")
    finally:
        context.close()


def test_a_shared_link_reopens_the_same_compare_view_in_a_fresh_browser(app, browser):
    page = app.page
    sidebar = page.locator('[data-testid="stSidebar"]')
    _open(app, "/Compare_decoders")
    _pick(app, sidebar, "Dataset", "browser_lapa")
    _pick(app, sidebar, "Split", "val")
    app.interact(lambda: sidebar.get_by_text("Flip test", exact=True).click(), timeout=TIMEOUT)
    _pick(app, page, "Landmark", "48 ·")
    header = page.locator("h1, h2").filter(has_text="Every decoder on").first.inner_text()
    assert header.endswith("flip test") and "flip=1" in page.url and "lmk=48" in page.url
    want = _selected(page, "Landmark")
    assert "48 ·" in want, want
    link = page.url

    context, other = _fresh(browser, link, app.server)
    try:
        assert other.page.locator("h1, h2").filter(has_text="Every decoder on").first.inner_text() == header
        assert _selected(other.page, "Landmark") == want
        other.screenshot("shared_compare_fresh_browser")
    finally:
        context.close()
