"""AppTest: the Dataset browser's "Add a folder" takes LaPa, COCO, CSV and .pts folders, and the
added dataset opens on the Samples tab with every face's points drawn."""

from __future__ import annotations

import pytest

from lmkviz.data.formats import FORMATS, convert
from tests.apptest import chart, switch_to
from tests.test_app_dataset import lapa, points_drawn  # noqa: F401  (fixture)

PAGE = "pages/1_Dataset_browser.py"


@pytest.mark.parametrize("fmt", FORMATS)
def test_add_a_folder_in_each_format(lapa, make_lapa_folder, tmp_path, fmt):  # noqa: F811
    source = make_lapa_folder("elsewhere/src", n_per_split=2, size=48, num_points=68, bad_files=False)
    folder = tmp_path / "elsewhere" / f"mine_{fmt}"
    convert(source.root, folder, fmt)
    at = switch_to(PAGE)
    at.session_state["ds_tab"] = "Get data"
    at.run()
    at.text_input(key="ds_add_path").input(str(folder))
    at.button(key="FormSubmitter:ds_add_form-Check folder").click().run()
    assert not at.exception, at.exception
    assert any("was added to the Dataset list" in s.value for s in at.success)
    label = next(o for o in at.selectbox(key="ds_dataset").options if o.startswith(f"mine_{fmt} · "))
    assert label == f"mine_{fmt} · ibug68 · 6 faces"
    at.session_state["ds_tab"] = "Samples"
    at.selectbox(key="ds_dataset").select(label).run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert points_drawn(chart(at, "ds_grid")) == 2 * 68  # the two train faces, every point read
