"""AppTest: the Lesson page walks through its ten steps, keeps the step in the URL, reveals answers."""

from __future__ import annotations

import pytest

from tests.apptest import REPO_ROOT, AppTest, chart, rerun, st, switch_to, widget

PAGE = "pages/0_Lesson.py"


@pytest.fixture
def env(monkeypatch, tmp_path):
    """No extra datasets (the real-face steps use synthetic faces), fresh caches."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("LMKVIZ_DATA", str(data))
    monkeypatch.setenv("LMKVIZ_RUNS", str(tmp_path / "runs"))
    st.cache_data.clear()
    st.cache_resource.clear()


def lesson_at(step=None, present=None) -> AppTest:
    """The page opened directly, with ``?step=`` / ``?present=`` in the URL."""
    at = AppTest.from_file(str(REPO_ROOT / PAGE), default_timeout=300)
    if step is not None:
        at.query_params["step"] = str(step)
    if present is not None:
        at.query_params["present"] = str(present)
    return rerun(at)


def heading(at: AppTest) -> str:
    return at.header[0].value


def keys(node) -> set:
    """Every element and block key under ``node`` (containers keyed with ``st.container(key=...)``)."""
    found = {node.key} if getattr(node, "key", None) else set()
    children = getattr(node, "children", None)
    for child in (children.values() if isinstance(children, dict) else []):
        found |= keys(child)
    return found


def question(at: AppTest, slug: str):
    return widget(at, "radio", f"lesson_q_{slug}")


def test_next_and_previous_move_through_the_steps_and_the_url(env):
    at = switch_to(PAGE)
    assert heading(at).startswith("1 · Why not regress")
    assert at.query_params["step"] == "1"
    assert at.button(key="lesson_prev").disabled
    at.button(key="lesson_next").click()
    at = rerun(at)
    assert heading(at).startswith("2 · A heatmap per landmark")
    assert at.query_params["step"] == "2"
    at.button(key="lesson_next_bottom").click()
    at = rerun(at)
    assert heading(at).startswith("3 ·")
    at.button(key="lesson_prev").click()
    at = rerun(at)
    assert heading(at).startswith("2 ·") and at.session_state["lesson_step"] == 2
    at.selectbox(key="lesson_pick").set_value(7)
    at = rerun(at)
    assert heading(at).startswith("7 · HRNet against U-Net")
    assert at.query_params["step"] == "7"


@pytest.mark.parametrize("value,expected", [("4", 4), ("99", 10), ("0", 1), ("abc", 1)])
def test_a_link_opens_a_step(env, value, expected):
    at = lesson_at(value)
    assert heading(at).startswith(f"{expected} ·")
    assert at.query_params["step"] == str(expected)
    assert not at.exception and not at.error


@pytest.mark.parametrize("step,slug,charts", [
    (1, "regression", ["lesson_regression_curves", "lesson_regression_face_fig"]),
    (2, "heatmaps", ["lesson_heatmap_overlay", "lesson_heatmap_grid"]),
    (3, "sigma", ["lesson_sigma_zoom", "lesson_sigma_tradeoff"]),
    (4, "rounding", ["lesson_rounding_fig"]),
    (5, "randomized", ["lesson_randomized_fig", "lesson_randomized_mean"]),
    (6, "topk", ["lesson_topk_zoom"]),
    (7, "architecture", ["lesson_strides"]),
    (8, "dark", ["lesson_dark_zoom", "lesson_dark_face_fig"]),
    (9, "flip", ["lesson_flip_fig"]),
    (10, "dataset", ["lesson_compare_bars", "lesson_history"]),
])
def test_every_step_has_its_figures_and_a_question_without_an_answer(env, step, slug, charts):
    at = lesson_at(step)
    assert not at.exception and not at.error
    for key in charts:
        assert chart(at, key)["data"], key
    assert question(at, slug).value is None  # predict first: nothing chosen, nothing revealed
    assert not at.success and not at.warning


def test_answering_reveals_right_or_wrong_the_why_and_the_takeaway(env):
    at = lesson_at(2)
    question(at, "heatmaps").set_value(0)
    at = rerun(at)
    assert not at.success and "Not quite" in at.warning[0].value and "69,632" in at.warning[0].value
    assert at.info[0].value.startswith("**Takeaway:**")
    question(at, "heatmaps").set_value(2)
    at = rerun(at)
    assert at.success[0].value.startswith("Right") and not at.warning


def test_data_driven_answers_quote_the_measured_numbers(env):
    from lmkviz import lesson

    comparison = lesson.load_regression_comparison()
    at = lesson_at(1)
    question(at, "regression").set_value(1)  # heatmaps: the committed result
    at = rerun(at)
    assert at.success and f"{comparison.final('heatmap'):.1f} %" in at.success[0].value

    at = lesson_at(7)
    question(at, "architecture").set_value(1)  # HRNet, read from the traced resolutions
    at = rerun(at)
    assert at.success

    at = lesson_at(9)
    table = at.metric
    assert [m.label for m in table] == ["The image alone", "Its mirror, mapped back", "Average of the two"]
    for option in range(3):
        question(at, "flip").set_value(option)
        at = rerun(at)
        if at.success:
            assert "DARK's NME goes from" in at.success[0].value and "synthetic" in at.success[0].value
            break
    else:
        pytest.fail("no option of the flip question was accepted")


def test_step_ten_reads_its_answer_from_the_table(env):
    at = lesson_at(10)
    rows = at.dataframe[0].value
    assert list(rows["decoder"])[0] == "argmax" and "NME % (flip test)" in rows.columns
    argmax, best = rows["NME %"].iloc[0], rows["NME %"].min()
    gain = 100 * (argmax - best) / argmax
    right = 0 if gain < 10 else (1 if gain <= 40 else 2)
    question(at, "dataset").set_value(right)
    at = rerun(at)
    assert at.success and f"{gain:.0f} % less error" in at.success[0].value


def test_presenter_mode_from_the_url_and_the_toggle(env):
    at = lesson_at(3, present=1)
    assert at.toggle(key="lesson_present").value
    assert "lesson_keys" in keys(at._tree)  # the keyboard handler
    assert any("stSidebar" in h.proto.body and "display: none" in h.proto.body for h in at.get("html"))
    assert at.query_params["present"] == "1"
    figure = chart(at, "lesson_sigma_tradeoff")
    assert figure["layout"]["height"] > 400 and figure["layout"]["font"]["size"] == 17  # larger for a projector
    at.toggle(key="lesson_present").set_value(False)
    at = rerun(at)
    assert "present" not in at.query_params
    assert "lesson_keys" in keys(at._tree)
    assert not any("stSidebar" in h.proto.body for h in at.get("html"))
    assert chart(at, "lesson_sigma_tradeoff")["layout"]["height"] == 400
    assert heading(at).startswith("3 ·")  # the step stays


def test_the_lesson_is_first_in_the_menu_after_home():
    from ui.common import PAGES

    assert [p[1] for p in PAGES[:2]] == ["Home", "Lesson"]
    assert (REPO_ROOT / PAGES[1][0]).is_file()


def test_a_shared_link_opens_a_step_with_its_settings(env):
    at = AppTest.from_file(str(REPO_ROOT / PAGE), default_timeout=300)
    at.query_params["step"] = "3"
    at.query_params["sigma"] = "4"
    at = rerun(at)
    assert heading(at).startswith("3 · σ")
    assert at.select_slider(key="lesson_sigma").value == 4.0
    at.select_slider(key="lesson_sigma").set_value(0.5)
    at = rerun(at)
    assert at.query_params["sigma"] == "0.5" and at.query_params["step"] == "3"
    assert any("step=3" in c.value and "sigma=0.5" in c.value for c in at.code)  # the copy-link box
    at.button(key="lesson_next").click()
    at = rerun(at)
    assert "sigma" not in at.query_params and at.query_params["step"] == "4"  # step 3's setting left the URL


def test_the_model_steps_run_the_fast_cpu_checkpoint_and_say_when_it_is_missing(env, monkeypatch):
    """Steps 8-10 run the small 128 px model (checkpoints/fast-cpu.pt), whatever the default is."""
    from lmkviz import lesson

    at = lesson_at(8)
    assert "fast CPU checkpoint" in " ".join(m.value for m in at.markdown)
    assert lesson.LESSON_RUN.name == "fast-cpu-run" and lesson.model_history()
    monkeypatch.setattr(lesson, "LESSON_CHECKPOINT", "not-shipped")
    st.cache_resource.clear()
    at = lesson_at(8)
    assert not at.exception
    assert any("checkpoints/not-shipped.pt" in w.value and "missing" in w.value for w in at.warning)
