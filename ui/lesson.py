"""The Lesson page's glue: its steps (texts, questions), where the learner is (URL and session),
the presenter mode (large, no sidebar, arrow keys / Page Up / Page Down), cached experiments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import streamlit as st

from lmkviz import lesson
from lmkviz.lesson import architecture_answer, decoder_answer, flip_answer, regression_answer  # noqa: F401 (the pages read them here)

STEP_KEY = "lesson_step"
PRESENT_KEY = "lesson_present"
PRESENT_ENLARGE = 1.35
"""Figures are this much taller in presenter mode."""


@dataclass(frozen=True)
class Step:
    """One step of the lesson: a title, a short text, a question and its takeaway.

    options: the answers offered; ``answer`` the index of the right one when it does not
    depend on data (else the page passes it); ``why``: the explanation shown once answered
    (the page may add numbers); ``takeaway``: one line to remember.
    """

    slug: str
    title: str
    text: str
    question: str
    options: tuple[str, ...]
    why: str
    takeaway: str
    answer: Optional[int] = None


STEPS = (
    Step(
        "regression", "Why not regress (x, y) directly?",
        "The quickest keypoint model, where the blog post starts (fastai's keypoint tutorial), takes a CNN and "
        "puts a linear layer on top that outputs the (x, y) of every point. We trained that baseline, **ResNet-18 "
        "+ a linear layer** (136 outputs for 68 points), and a **heatmap model on the same ResNet-18** (a U-Net "
        "decoder painting one 32 × 32 map per point, read with DARK), from scratch on the same synthetic faces "
        "with the same epochs, batch size and learning-rate schedule.",
        "Same backbone, same data, same budget. Which one ends with the lower error?",
        ("Direct regression: it predicts exactly what we want", "Heatmaps",
         "About the same: the backbone does the work"),
        "The linear head sees 512 numbers averaged over the whole image: *where* a feature fired has been "
        "pooled away, so the network has to learn the arithmetic from position to number. A heatmap keeps the "
        "answer in image space: the cells under the eye corner light up, and every cell is computed by the same "
        "filters from its own neighbourhood (convolutions are translation-equivariant).",
        "Keep the answer where the evidence is: predict a map over the image, not a number."),
    Step(
        "heatmaps", "A heatmap per landmark",
        "Instead of 136 numbers, the network outputs one small image per landmark, a **heatmap**: trained to "
        "be a blob where the landmark is and 0 elsewhere. Training needs a target map for every point (the "
        "**encoding**, here a Gaussian); using the network needs a way back from map to point (the **decoder**). "
        "Pick a landmark and see its target.",
        "A 68-landmark model with 32 × 32 heatmaps outputs how many numbers per face?",
        ("136 (68 × 2)", "1,024 (32 × 32)", "69,632 (68 × 32 × 32)"),
        "One 32 × 32 map per landmark: 68 × 1,024 = 69,632 numbers, about 500 times more than the 136 "
        "coordinates. A decoder reduces each map to one (x, y). Because the output is an image, a convolutional "
        "network can paint it with the same filters everywhere.",
        "One channel per landmark: the network paints where each point is, a decoder reads it back.", answer=2),
    Step(
        "sigma", "σ: easy to learn, or precise?",
        "The width σ of the target blob (in heatmap cells) is a choice; the blog draws wide blobs, the "
        "lesson's model uses σ = 1.5 cells. Move σ and watch three things: the target itself (left); what a network loses by painting "
        "**nothing** (middle: how strongly the loss pushes it to find the point); how well argmax and DARK read "
        "a blob with a little noise on it (right: a stand-in for an imperfect network).",
        "With a very narrow blob (σ = 0.5 cells), what does a freshly started network learn first?",
        ("The exact points: the target is sharp", "To output almost zero everywhere", "Wide blobs anyway"),
        "At σ = 0.5 only a cell or two of a map are not zero, so an all-zero output is already almost perfect "
        "for the loss: the network gets very little reward for finding the point, and learns 'nothing here' "
        "first. Wide blobs give a strong signal, but their top is flat: noise moves the peak, and the error "
        "of both decoders grows with σ.",
        "Wide blobs are easy to learn, narrow blobs are precise: 1.5 to 2 cells is the usual compromise.",
        answer=1),
    Step(
        "rounding", "The blog's rounding example",
        "Heatmaps are coarse. The blog's example: a point at **(1822, 412)** in a **2500 × 2500** image and a "
        "**64 × 64** heatmap, so one cell spans 39 image pixels. Even a *perfect* network can only point at a "
        "cell. Change the heatmap size and see where the point comes back.",
        "With the 64 × 64 map, how far can a perfect network's point land from the truth, per axis?",
        ("Not at all: the network is perfect", "Up to half a cell, about 20 px", "Up to a whole cell, about 39 px"),
        "A cell covers 2500 / 64 ≈ 39 px. Decoding a cell to its centre lands within half a cell, 19.5 px per "
        "axis, whatever the network does. The blog's code decodes a cell to its *corner*, so it is off by up to "
        "a whole cell, and always towards the top left.",
        "Quantisation is an error floor no training removes: half a cell, in image pixels.", answer=1),
    Step(
        "randomized", "Randomized rounding: right on average",
        "H3R's fix, the blog's second half: do not round the point to one cell. Put the single 1 of a binary "
        "target in one of the **four cells around the point, at random**, the nearer the likelier. One target is "
        "up to a cell off; draw many and watch their mean.",
        "You average the cells of 1,000 such random targets. The mean lands…",
        ("On the nearest cell centre", "On the true point, within a fraction of a pixel",
         "Half a cell off, like rounding"),
        "Along each axis the upper cell is picked with probability equal to how far the point lies past the "
        "lower cell's centre, so the *expected* position is the point itself; the mean of n draws closes in like "
        "1/√n. Trained on a new draw every epoch, a network learns these probabilities.",
        "Random rounding trades a bias (every time) for noise (which averages out).", answer=1),
    Step(
        "topk", "Top-k decoding",
        "A network trained on random binary targets outputs, per cell, the probability that the 1 is there: "
        "the four cells around the point share it (this map is what it learns in theory). **Argmax** reads one "
        "cell. **Top-k** takes the k highest cells around the peak and averages their centres, each weighted by "
        "its value (H3R weighs a network's logits by their softmax).",
        "Where does top-k with k = 4 land on this map?",
        ("On the highest cell's centre, like argmax", "Between the four centres, on the true point",
         "On the centre of the map"),
        "Weighting each centre by its probability gives the expected position, and randomized rounding made that "
        "the point: on a perfect map top-k undoes the rounding exactly. With noise k matters: too small and it "
        "is argmax again, too large and cells far from the peak join in.",
        "The decoder must match the encoding: top-k turns a few probabilities into a sub-cell position.",
        answer=1),
    Step(
        "architecture", "HRNet against U-Net: where the resolution goes",
        "A landmark network must see the whole face (context) and still point at a pixel (resolution). Each "
        "dot is one convolution of a forward pass, placed at the resolution it works at. Both networks are "
        "the blog's: a U-Net on ResNet-18, and HRNet-18.",
        "Which network keeps a 1/4-resolution path from its first stage to its last?",
        ("U-Net", "HRNet", "Both"),
        "U-Net goes down to 1/32 and climbs back up, bringing fine detail back through skip connections. HRNet "
        "keeps its 1/4 branch running the whole way and adds 1/8, 1/16 and 1/32 branches beside it, exchanging "
        "information between them after every stage. In the blog it trained faster, with fewer parameters "
        "(9.6 M against the fastai U-Net's 31 M), to a lower error.",
        "Precision needs high resolution all the way through, context needs low resolution: HRNet keeps both."),
    Step(
        "dark", "DARK on a real predicted heatmap",
        "So far the maps were ideal. This is what the **lesson's model** (the fast CPU checkpoint: a small HRNet trained on "
        "real faces, 32 × 32 maps for a 128 px input) paints for one landmark, and where each decoder puts the point. "
        "**DARK** treats the blob as a Gaussian: the log of a Gaussian is a parabola, so one Newton step from "
        "the peak cell (derivatives from its 3 × 3 neighbourhood) jumps to the parabola's top.",
        "Argmax is stuck on a cell centre. Where does DARK put the point?",
        ("On the same cell centre", "Between cell centres, inside the blob, usually nearer the truth",
         "On the edge of the blob"),
        "DARK moves off the cell grid towards where the blob's log-parabola peaks. A real blob is not a perfect "
        "Gaussian, so DARK is not exact, but it recovers most of what argmax throws away.",
        "Decoding is free accuracy: the same heatmaps, read better.", answer=1),
    Step(
        "flip", "The flip test",
        "Faces are nearly symmetric. Run the network on the image **and on its mirror**; mirror the second "
        "set of heatmaps back, swap left and right landmarks (the mirror's left eye is the image's right eye), "
        "and average the two sets of maps before decoding.",
        "Does averaging with the mirror lower the error over the dataset?",
        ("Yes, a little", "Yes, by about half", "No: the mirror shows the same face"),
        "The two passes make partly independent mistakes, so their average is closer; the mirror is not the same "
        "input to the network, which is not exactly symmetric. It costs a second forward pass.",
        "Test-time augmentation: twice the compute for a small, reliable gain."),
    Step(
        "dataset", "What it adds up to",
        "The same network, the same heatmaps, read by every decoder, with and without the flip test, on a "
        "whole validation set: the Compare page's table. Right, that model's own training history: "
        "validation NME of each decoder, epoch by epoch.",
        "Read the table: how much of argmax's error does the best decoder remove, from the same heatmaps?",
        ("Almost nothing (under 10 %)", "A good share (10 to 40 %)", "Most of it (over 40 %)"),
        "Every decoder reads the same maps, so the difference is decoding alone: the part of argmax's error "
        "that is the grid's, not the network's.",
        "Encoding and decoding matter as much as the network: sub-cell decoders recover what the grid lost."),
)
"""The lesson, in order (step n is ``STEPS[n - 1]``)."""



# --------------------------------------------------------------------------- where the learner is


def parse_step(value, default: int = 1) -> int:
    """A step number from a URL value ("4"), clamped to 1..len(STEPS); ``default`` when unreadable."""
    try:
        step = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return min(max(step, 1), len(STEPS))


def current_step() -> int:
    """The step shown: from the session, else from ``?step=`` of the URL (a link opens a step)."""
    if STEP_KEY not in st.session_state:
        st.session_state[STEP_KEY] = parse_step(st.query_params.get("step", "1"))
    step = parse_step(st.session_state[STEP_KEY])
    st.session_state[STEP_KEY] = step
    st.query_params["step"] = str(step)
    return step


def go(step: int) -> None:
    """Move to ``step`` (clamped), in the session and the URL (a button callback); the
    previous step's settings leave the URL (the new step publishes its own)."""
    step = parse_step(step)
    st.session_state[STEP_KEY] = step
    kept = {k: st.query_params.get(k) for k in ("present",) if k in st.query_params}
    st.query_params.from_dict({"step": str(step), **kept})



def share_step(slug: str) -> None:
    """Register the shown step's widgets with :mod:`ui.share` (before they are drawn), so that
    a link holds the step, the presenter mode and the step's settings (σ, face, landmark, ...)."""
    from ui import share

    landmark = share.within(0, 67, int)
    face_number = share.within(0, 49, int)
    steps = {
        "regression": ({"face": "lesson_regression_face"}, {"face": share.within(0, 5, int)}, {}),
        "heatmaps": ({"landmark": "lesson_landmark"}, {"landmark": landmark}, {}),
        "sigma": ({"sigma": "lesson_sigma"}, {"sigma": float}, {"sigma": SIGMAS}),
        "rounding": ({"size": "lesson_rounding_size"}, {"size": int}, {"size": ROUNDING_SIZES}),
        "randomized": ({"draws": "lesson_draws"}, {"draws": int}, {"draws": DRAWS}),
        "topk": ({"k": "lesson_k", "noise": "lesson_topk_noise"},
                 {"k": share.within(1, 16, int), "noise": share.within(0.0, 0.2, float)}, {}),
        "dark": ({"face": "lesson_dark_face", "landmark": "lesson_dark_landmark", "blur": "lesson_dark_blur"},
                 {"face": face_number, "landmark": landmark, "blur": share.within(0.0, 2.0, float)}, {}),
        "flip": ({"face": "lesson_flip_face", "zoom": "lesson_flip_group"}, {"face": face_number},
                 {"zoom": ZOOM_GROUPS}),
    }
    params, parse, choices = steps.get(slug, ({}, {}, {}))
    share.restore(params, parse=parse, choices=choices)


ROUNDING_SIZES = (16, 32, 64, 128, 256)
DRAWS = (1, 2, 5, 10, 30, 100, 300, 1000, 3000)


def _picked() -> None:
    go(st.session_state["lesson_pick"])


def navigation(step: int, where: str = "top") -> None:
    """Previous / step picker / Next, and a progress bar (top); the buttons' keys end in the
    place (``lesson_prev``, ``lesson_next`` at the top: the keyboard presses those)."""
    suffix = "" if where == "top" else f"_{where}"
    left, middle, right = st.columns([1.3, 4, 1.3], vertical_alignment="center")
    left.button("Previous", key=f"lesson_prev{suffix}", icon=":material/arrow_back:", disabled=step <= 1,
                on_click=go, args=(step - 1,), width="stretch")
    right.button("Next", key=f"lesson_next{suffix}", icon=":material/arrow_forward:", disabled=step >= len(STEPS),
                 on_click=go, args=(step + 1,), width="stretch", type="primary")
    if where == "top":
        st.session_state["lesson_pick"] = step
        middle.selectbox("Step", list(range(1, len(STEPS) + 1)), key="lesson_pick", on_change=_picked,
                         format_func=lambda n: f"{n} / {len(STEPS)} · {STEPS[n - 1].title}",
                         label_visibility="collapsed")
    else:
        middle.progress(step / len(STEPS), text=f"Step {step} of {len(STEPS)}")


# --------------------------------------------------------------------------- presenter mode


PRESENTER_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stSidebarCollapseButton"],
header[data-testid="stHeader"], [data-testid="stToolbar"] { display: none !important; }
html { font-size: 21px; }
.stMainBlockContainer, .block-container { max-width: 100% !important; padding: 1.2rem 2.5rem 3rem !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.12rem; line-height: 1.5; }
h1 { font-size: 2.0rem !important; }
</style>
"""

KEYS_SCRIPT = """
<script>
(() => {
  if (window.__lmkLessonKeys) return;
  window.__lmkLessonKeys = true;
  document.addEventListener('keydown', (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const forward = event.key === 'ArrowRight' || event.key === 'PageDown';
    const back = event.key === 'ArrowLeft' || event.key === 'PageUp';
    if (!forward && !back) return;
    const button = document.querySelector(forward ? '.st-key-lesson_next button' : '.st-key-lesson_prev button');
    if (!button) return;  // not on the lesson page
    const target = event.target instanceof Element ? event.target : null;
    const tag = target ? target.tagName.toLowerCase() : '';
    const type = (target && target.type || '').toLowerCase();
    const typing = tag === 'textarea' || tag === 'select' || (target && target.isContentEditable)
      || (tag === 'input' && !['radio', 'checkbox', 'button'].includes(type))
      || (target && target.closest('[role="slider"], [role="combobox"], [role="listbox"], [role="spinbutton"]'));
    if (typing) return;  // keys that edit a value stay with that widget
    const toggle = document.querySelector('.st-key-lesson_present input[type="checkbox"]');
    const presenting = !!(toggle && toggle.checked);
    if (tag === 'input' && !presenting && event.key.startsWith('Arrow')) return;  // arrows choose an answer
    event.preventDefault();
    event.stopPropagation();
    if (target && target.blur) target.blur();
    if (!button.disabled) button.click();
  }, true);
})();
</script>
"""
"""Installs (once per browser tab) a key handler on the app's document (``st.html`` runs it
in the page itself, no iframe): Right / Page Down
press Next, Left / Page Up press Previous (a presentation clicker sends Page Up/Down),
unless the key edits a text box, a slider or a select box; outside the presenter mode
arrows on an answer's radio button stay with it."""


def presenting() -> bool:
    """The presenter-mode toggle (also ``?present=1``), its CSS, and the keyboard handler."""
    if PRESENT_KEY not in st.session_state:
        st.session_state[PRESENT_KEY] = st.query_params.get("present", "0") in ("1", "true", "yes")
    on = bool(st.session_state[PRESENT_KEY])
    if on:
        st.query_params["present"] = "1"
        st.html(PRESENTER_CSS)
    elif "present" in st.query_params:
        del st.query_params["present"]
    with st.container(key="lesson_keys"):
        st.html(KEYS_SCRIPT, unsafe_allow_javascript=True)
    return on


def presenter_toggle() -> None:
    st.toggle("Presenter mode", key=PRESENT_KEY, help="Large text and figures, no sidebar; ← → or Page Up / "
              "Page Down (a presentation clicker) move between steps. Also opens with ?present=1 in the URL.")


def sized(fig):
    """A figure with larger text in presenter mode (returns it)."""
    if st.session_state.get(PRESENT_KEY):
        fig.update_layout(font=dict(size=17))
        fig.update_annotations(font_size=17)
    return fig


def height(base: int) -> int:
    """A figure height, taller in presenter mode."""
    return int(base * PRESENT_ENLARGE) if st.session_state.get(PRESENT_KEY) else base


# --------------------------------------------------------------------------- predict, then reveal


def question(step: int, answer: Optional[int] = None, why: Optional[str] = None) -> Optional[bool]:
    """The step's question as radio buttons (none chosen); once answered, right or wrong, the
    answer with ``why`` (default the step's) and the takeaway. Returns None before an answer,
    else whether it was right."""
    s = STEPS[step - 1]
    answer = s.answer if answer is None else answer
    st.markdown(f"**Predict, then reveal.** {s.question}")
    chosen = st.radio(s.question, range(len(s.options)), format_func=lambda i: s.options[i], index=None,
                      key=f"lesson_q_{s.slug}", label_visibility="collapsed")
    if chosen is None:
        st.caption("Choose an answer to see the explanation.")
        return None
    right = chosen == answer
    text = f"**{s.options[answer]}.** {why or s.why}"
    (st.success if right else st.warning)(("Right: " if right else "Not quite. The answer: ") + text,
                                          icon=":material/check_circle:" if right else ":material/lightbulb:")
    st.info(f"**Takeaway:** {s.takeaway}", icon=":material/school:")
    return right


# --------------------------------------------------------------------------- cached experiments


@st.cache_data(show_spinner=False)
def regression_comparison():
    """:func:`lmkviz.lesson.load_regression_comparison`, or the error message as a str."""
    try:
        return lesson.load_regression_comparison()
    except ValueError as err:
        return str(err)


@st.cache_data(max_entries=32, show_spinner=False)
def face(index: int, dataset: str = "synthetic", split: str = "val") -> tuple[np.ndarray, np.ndarray]:
    """:func:`lmkviz.lesson.lesson_face` (128 px)."""
    return lesson.lesson_face(index, dataset=dataset, split=split)


SIGMAS = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


@st.cache_data(show_spinner="Measuring both sides of σ…")
def sigma_tradeoff() -> dict:
    return lesson.sigma_tradeoff(SIGMAS)


UNET_LABEL = "U-Net on ResNet-18 (the blog's first model)"
HRNET_LABEL = "HRNet-18 (the blog's second model)"


@st.cache_data(show_spinner="Tracing both networks…")
def strides() -> dict:
    """{label: layers} for the blog's U-Net (stride 1) and HRNet-18, traced on a 64 px input."""
    return {UNET_LABEL: lesson.feature_strides("unet_resnet18", 64, stride=1),
            HRNET_LABEL: lesson.feature_strides("hrnet18", 64)}


@st.cache_data(max_entries=16, show_spinner=False)
def rounding_draws(point_hm: tuple, size: int, draws: int) -> np.ndarray:
    from lmkviz import labs

    with labs.torch_threads(1):
        return labs.randomized_rounding_draws(point_hm, (size, size), draws, seed=0)


@st.cache_resource(show_spinner="Loading the lesson's model…")
def lesson_model():
    """The lesson's shipped checkpoint (:data:`lmkviz.lesson.LESSON_CHECKPOINT`) as a
    :class:`lmkviz.inference.Predictor` (None when it is missing)."""
    from lmkviz import paths

    path = paths.shipped_checkpoint(lesson.LESSON_CHECKPOINT)
    if path is None:
        return None
    from lmkviz.inference import Predictor

    return Predictor(str(path))


@st.cache_data(max_entries=32, show_spinner="Running the lesson's model…")
def face_view(dataset: str, index: int, flip: bool):
    """:func:`lmkviz.lesson.face_view` of the lesson's model on one face, with the image and truth:
    (image, target, view)."""
    from lmkviz.data import flip_perm_for, scheme_for

    predictor = lesson_model()
    image, target = face(index, dataset)
    perm = flip_perm_for(scheme_for(predictor.loaded.num_points), predictor.loaded.indices) if flip else None
    return image, target, lesson.face_view(predictor.model, predictor.codec, image, perm)


EVAL_LIMIT = 100


@st.cache_data(max_entries=8, show_spinner="Scoring the lesson's model on the validation set (once)…")
def evaluation_rows(dataset: str, split: str = "val") -> list[dict]:
    """The Compare table of the lesson's model on ``dataset``/``split`` (first :data:`EVAL_LIMIT`
    faces): rows of :meth:`lmkviz.evaluation.Evaluation.table` with "flip" False and True, and "n"."""
    from lmkviz.evaluation import evaluate

    rows = []
    for flip in (False, True):
        result = evaluate(lesson_model(), dataset, split, limit=EVAL_LIMIT, flip_test=flip)
        rows += [{**row, "flip": flip, "n": result.n} for row in result.table()]
    return rows


def table_rows(rows: Sequence[dict]) -> list[dict]:
    """:func:`evaluation_rows` as a table: decoder, NME without and with the flip test, FR@10."""
    from lmkviz.decoding import DECODER_LABELS

    out: dict = {}
    for r in rows:
        entry = out.setdefault(r["decoder"], {"decoder": DECODER_LABELS.get(r["decoder"], r["decoder"])})
        if r["flip"]:
            entry["NME % (flip test)"] = r["nme"]
        else:
            entry["NME %"] = r["nme"]
            entry["FR@10 %"] = r["fr10"]
    return list(out.values())


@st.cache_data(show_spinner=False)
def model_history() -> list[dict]:
    return lesson.model_history()


@st.cache_data(show_spinner=False)
def dataset_names() -> list[str]:
    from lmkviz.data import discover_datasets

    return [d.name for d in discover_datasets()]


# --------------------------------------------------------------------------- texts with numbers

APPROACH = {"regression": "Direct regression", "heatmap": "Heatmaps + DARK"}


def step_info(step: int) -> Step:
    """:data:`STEPS` entry of step number ``step`` (1-based)."""
    return STEPS[step - 1]


def face_label(sample: int) -> str:
    return f"face {sample + 1}"




def regression_caption(comparison) -> str:
    s = comparison.settings
    return (f"Validation NME per epoch ({s.get('limit_val')} synthetic faces), both trained from scratch on "
            f"{s.get('limit_train')} synthetic faces at {s.get('input_size')} px for {len(comparison.epochs)} "
            f"epochs, batch {s.get('batch_size')}, one-cycle learning rate up to {s.get('lr')}; "
            f"{comparison.minutes('regression'):.0f} and {comparison.minutes('heatmap'):.0f} minutes on "
            "2 CPU cores (`python bench/lesson_regression.py`). Right: the models' points on one face, a line from "
            "each true point (yellow) to each prediction.")


def regression_why(comparison) -> str:
    return (f"After {len(comparison.epochs)} epochs the heatmap model's NME is "
            f"{comparison.final('heatmap'):.1f} %, direct regression's {comparison.final('regression'):.1f} % "
            f"({comparison.ratio():.1f} times the better one). " + STEPS[0].why)


def sigma_why() -> str:
    ratio = lesson.empty_loss_ratio(2.0, 0.5)
    return (STEPS[2].why + f" Painting nothing costs {ratio:.0f} times less against a σ = 0.5 target than "
            "against a σ = 2 one (middle panel).")


def rounding_text(point_hm, rows, grid) -> str:
    (hx, hy), (arith, code, ours) = point_hm, rows
    sx, _ = grid.stride
    return (f"One cell is **{sx:.1f} px** wide; the point is at ({hx:.2f}, {hy:.2f}) in heatmap cells. Decoded to "
            f"the centre of its cell it lands **{ours.distance:.1f} px** away (never more than half a cell per "
            f"axis); the blog's arithmetic (round, then scale) {arith.distance:.1f} px; the blog's code (cell "
            f"index × stride, the cell's corner) {code.distance:.1f} px.")


def strides_caption(layers: dict) -> str:
    counts = ", ".join(f"{name.split(' (')[0]}: {len(seq)} convolutions" for name, seq in layers.items())
    return ("Traced with forward hooks on a 64 px input (the shapes of the real networks, untrained): "
            f"{counts}. Hover a dot for its layer.")




def rounding_rows(rows) -> list[dict]:
    """The rounding table of step 4: convention, where the point comes back, how far off (image px)."""
    return [{"convention": r.label, "decoded (px)": f"({r.decoded[0]:.1f}, {r.decoded[1]:.1f})",
             "off by (px)": f"({r.error[0]:+.1f}, {r.error[1]:+.1f})", "distance (px)": round(r.distance, 1)}
            for r in rows]


def estimate_rows(estimates: list[dict]) -> list[dict]:
    """Decoder, estimate and error rows for a table (input px)."""
    from lmkviz.decoding import DECODER_LABELS

    return [{"decoder": DECODER_LABELS.get(e["decoder"], e["decoder"]), "x, y (px)": f"{e['x']:.2f}, {e['y']:.2f}",
             "error (px)": round(e["error_px"], 2)} for e in estimates]


def dark_why(estimates: list[dict], view, target) -> str:
    by = {e["decoder"]: e["error_px"] for e in estimates}
    face_argmax = lesson.mean_error(view.points["argmax"], target)
    face_dark = lesson.mean_error(view.points["dark"], target)
    return (STEPS[7].why + f" Here argmax is {by['argmax']:.2f} px off and DARK {by['dark']:.2f} px (input px; a "
            f"cell is {view.stride:g} px). Over all 68 points of this face: argmax {face_argmax:.2f} px, DARK "
            f"{face_dark:.2f} px on average.")


ZOOM_GROUPS = ("eyes", "mouth", "nose", "whole face")


def group_indices(scheme, group: str):
    """The landmarks of ``group`` of the scheme (None for the whole face)."""
    return None if group == "whole face" else list(scheme.groups.get(group, ()))


FLIP_NAMES = {"plain": "The image alone", "mirrored": "Its mirror, mapped back", "averaged": "Average of the two"}




def flip_why(effect: dict, dataset: str) -> str:
    return (f"DARK's NME goes from {effect['plain']:.2f} % to {effect['flip']:.2f} % ({effect['change']:+.1f} %) on "
            f"the first {effect['n']} {dataset} validation faces; on a single face it can go either way. "
            + STEPS[8].why)


TABLE_NUMBERS = ("NME %", "FR@10 %", "NME % (flip test)")


def dataset_caption(rows, dataset: str) -> str:
    n = rows[0]["n"] if rows else 0
    return (f"The lesson's model (checkpoints/{lesson.LESSON_CHECKPOINT}.pt) on the first {n} faces of {dataset}/val, "
            "each image resized whole to 128 px; NME in "
            "% of the inter-ocular distance, FR@10: share of faces above 10 %. The Compare decoders page has the "
            "full table, curves and per-landmark errors.")


def history_caption(history: list[dict]) -> str:
    if not history:
        return f"The lesson model's training history (checkpoints/{lesson.LESSON_RUN.name}) is not in this installation."
    return (f"The lesson model's training: validation NME on face68/val after each of its {len(history)} epochs "
            f"(checkpoints/{lesson.LESSON_RUN.name}). The gap between argmax and the others stays as the network improves: "
            "it is the grid's, not the network's.")




def decoder_why(summary: dict, dataset: str) -> str:
    from lmkviz.decoding import DECODER_LABELS

    return (f"{DECODER_LABELS.get(summary['best'], summary['best'])}: {summary['best_nme']:.2f} % against argmax's "
            f"{summary['argmax_nme']:.2f} % on {dataset}: {summary['gain']:.0f} % less error from the same heatmaps; "
            f"with the flip test the best is {summary['best_flip_nme']:.2f} %. " + STEPS[9].why)
