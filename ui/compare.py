"""The Compare decoders page's Streamlit glue: the cached evaluation and its texts and tables.

The evaluation keeps the network's heatmaps (:func:`lmkviz.evaluation.evaluate` with
``keep_heatmaps=True``), so the sample browser reads them from the cached result
instead of running the network again.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lmkviz.decoding import DECODER_LABELS
from ui import share


@st.cache_data(max_entries=4, show_spinner=False)
def evaluation_cached(checkpoint: str, checkpoint_mtime: float, dataset: str, split: str, n: int,
                      flip: bool = False):
    """:func:`lmkviz.evaluation.evaluate` of a checkpoint on the first ``n`` images of a split,
    heatmaps kept, with a progress bar while it runs (cached per checkpoint version,
    dataset, split, n and flip test)."""
    return _evaluate(checkpoint, checkpoint_mtime, dataset, split, n, flip, keep_heatmaps=True)


@st.cache_data(max_entries=16, show_spinner=False)
def scores_cached(checkpoint: str, checkpoint_mtime: float, dataset: str, split: str, n: int, flip: bool = False):
    """Like :func:`evaluation_cached` without the heatmaps (small: for comparing checkpoints)."""
    return _evaluate(checkpoint, checkpoint_mtime, dataset, split, n, flip, keep_heatmaps=False)


def _evaluate(checkpoint: str, checkpoint_mtime: float, dataset: str, split: str, n: int, flip: bool,
              keep_heatmaps: bool):
    from lmkviz.evaluation import evaluate
    from ui.imported import is_imported, predictor_for

    name = Path(checkpoint).parent.name if Path(checkpoint).name in ("best.pt", "last.pt") else Path(checkpoint).name
    bar = st.progress(0.0, text=f"Evaluating {name} on {n} images with every decoder…")

    def progress(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"Evaluating {name}: {done} of {total} images")

    try:
        if not is_imported(checkpoint):
            # lmkviz checkpoints: kept on disk by content, so a server restart does not evaluate again
            from lmkviz.evalcache import cached_evaluate

            result, _ = cached_evaluate(checkpoint, dataset, split, limit=n, flip_test=flip, progress=progress,
                                        keep_heatmaps=keep_heatmaps,
                                        predictor=lambda: predictor_for(checkpoint, checkpoint_mtime))
        else:
            result = evaluate(predictor_for(checkpoint, checkpoint_mtime), dataset, split, limit=n,
                              progress=progress, keep_heatmaps=keep_heatmaps, flip_test=flip)
    finally:
        bar.empty()
    return result


@st.cache_data(max_entries=4, show_spinner=False)
def split_positions(checkpoint: str, checkpoint_mtime: float, dataset: str, split: str, n: int,
                    flip: bool = False) -> list[int]:
    """The index in the split of each image of :func:`evaluation_cached` (same arguments; see
    :meth:`lmkviz.evaluation.Evaluation.positions_in`)."""
    from ui.common import open_split_cached

    evaluation = evaluation_cached(checkpoint, checkpoint_mtime, dataset, split, n, flip)
    return evaluation.positions_in(open_split_cached(dataset, split)).tolist()


def summary_rows(evaluation) -> list[dict]:
    """The table: one row per decoder with NME %, FR@10 %, AUC@10 % and the change against argmax
    (:meth:`lmkviz.evaluation.Evaluation.table`)."""
    return [{"decoder": DECODER_LABELS.get(r["decoder"], r["decoder"]), "NME %": r["nme"], "FR@10 %": r["fr10"],
             "AUC@10 %": r["auc10"], "vs argmax": "—" if r["vs_base"] is None else f"{r['vs_base']:+.1f} %"}
            for r in evaluation.table("argmax")]


def summary_text(evaluation) -> str:
    """The sentences under the table, written from the numbers (:func:`lmkviz.evaluation.summary_text`)."""
    from lmkviz.evaluation import summary_text as library_summary

    return library_summary(evaluation)


def decoder_label(name: str) -> str:
    return DECODER_LABELS.get(name, name)


def sample_title(name: str, index: int, errors: dict) -> str:
    """"**name** (sample 3) · NME argmax **4.10 %** · ..." for {decoder: NME %}."""
    return f"**{name}** (sample {index}) · NME " + " · ".join(
        f"{DECODER_LABELS.get(m, m)} **{e:.2f} %**" for m, e in errors.items())


def comparable_checkpoints(files: list[dict], num_points: int) -> dict[str, str]:
    """{path: menu label} of the checkpoints (:func:`ui.common.checkpoint_files`) that predict
    landmarks of a ``num_points`` scheme (unreadable ones are left out)."""
    from ui.common import checkpoint_info, checkpoint_label, file_mtime

    out = {}
    for entry in files:
        info = checkpoint_info(entry["path"], file_mtime(entry["path"]))
        if not isinstance(info, str) and info.num_points == num_points:
            out[entry["path"]] = checkpoint_label(entry)
    return out


def runs_evaluations(paths: list[str], labels: dict[str, str], dataset: str, split: str, n: int, flip: bool,
                     current: str, current_evaluation) -> tuple[dict, list[str]]:
    """({label: Evaluation} of the chosen checkpoints on the same images, [error messages]).

    The page's own checkpoint reuses its evaluation; the others are :func:`scores_cached`.
    """
    from ui.common import file_mtime

    evaluations, errors = {}, []
    for path in paths:
        label = labels.get(path, Path(path).name)
        if path == current:
            evaluations[label] = current_evaluation
            continue
        try:
            evaluations[label] = scores_cached(path, file_mtime(path), dataset, split, n, flip)
        except ValueError as err:
            errors.append(f"{label}: {err}")
    return evaluations, errors


def runs_rows(evaluations: dict, decoder) -> list[dict]:
    """:func:`lmkviz.evaluation.runs_table` with the page's column names."""
    from lmkviz.evaluation import runs_table

    return [{"checkpoint": r["checkpoint"], "decoder": DECODER_LABELS.get(r["decoder"], r["decoder"]),
             "NME %": r["nme"], "FR@10 %": r["fr10"], "AUC@10 %": r["auc10"], "trained on": r["trained on"]}
            for r in runs_table(evaluations, decoder)]


BEST_OF_EACH = "best of each"
"""The decoder choice "each checkpoint's best decoder" of the runs comparison."""


def output_view_available(evaluation) -> bool:
    """True when the sample browser can draw this evaluation's network output: heatmap codecs
    (:attr:`lmkviz.evaluation.Evaluation.has_heatmaps`). Other outputs (SimCC's 1-D vectors)
    need their own figures, added next to the heatmap ones."""
    return evaluation.has_heatmaps


def keep_valid(key: str, options, default=None) -> None:
    """Drop from a multiselect's state (``st.session_state[key]``) the values that are no longer
    options (a deleted run's checkpoint, a decoder from a link); ``default`` (a list) when unset."""
    if key in st.session_state:
        st.session_state[key] = [v for v in st.session_state[key] if v in options]
    elif default is not None:
        st.session_state[key] = list(default)


def include_current(key: str, current: str) -> None:
    """Put the page's checkpoint into the side-by-side choice ``st.session_state[key]`` when it
    changes (and at first), so that the comparison always starts from what the page shows; a
    link's choice is kept as it is on the first run."""
    marker = f"_{key}_current"
    last = st.session_state.get(marker)
    if last != current:
        chosen = list(st.session_state.get(key) or [])
        if not (last is None and chosen) and current not in chosen:
            st.session_state[key] = [current, *chosen]
        st.session_state[marker] = current


def keep_between(key: str, low: int, high: int, default: int) -> None:
    """Keep a number input's state within [low, high] (another split is smaller); ``default``
    (limited to the range) when unset."""
    value = st.session_state.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        value = default
    st.session_state[key] = int(min(max(value, low), high))


def follow_sample(key: str, sample: str, default, options) -> None:
    """A widget that starts anew on every sample (its ``default`` there, e.g. the landmark with
    the largest error); a value from a link (:mod:`ui.share`) is kept for the first sample."""
    marker = f"_{key}_sample"
    last = st.session_state.get(marker)
    if last != sample:
        if not (last is None and st.session_state.get(key) in options):
            st.session_state[key] = default
        st.session_state[marker] = sample
    elif st.session_state.get(key) not in options:
        st.session_state[key] = default



SHARED = {"model": "cmp_model", "ckpt": "cmp_checkpoint", "ds": "cmp_dataset", "split": "cmp_split", "n": "cmp_n",
          "flip": "cmp_flip", "sort": "cmp_sort", "rank": "cmp_rank", "dec": "cmp_shown", "part": "cmp_group",
          "lmk": "cmp_channel", "opacity": "cmp_opacity", "zoom": "cmp_radius", "runs": "cmp_runs",
          "rundec": "cmp_runs_decoder", "lmkerr": "cmp_landmarks_open", "grid": "cmp_grid_open",
          "lmkview": "cmp_landmark_view"}
"""The view in a shared link (:mod:`ui.share`): {query parameter: widget key}. Values the page
does not offer (a checkpoint or dataset that is not here, a decoder the model lacks) are
dropped by the widgets' checks (``ensure_choice``, :func:`keep_valid`, :func:`keep_between`)."""

SHARED_PARSE = {"n": int, "flip": share.parse_bool, "rank": int, "dec": share.parse_list, "lmk": int,
                "opacity": share.within(0.0, 1.0, float), "zoom": share.within(2, 10, int), "runs": share.parse_list,
                "lmkerr": share.parse_bool, "grid": share.parse_bool}

LANDMARK_VIEWS = ("Cells around the point", "Over the image")
"""The tabs of the sample browser's one-landmark view (only the open one is drawn)."""

VIEW_DEFAULTS = {"cmp_model": "checkpoint", "cmp_flip": False, "cmp_opacity": 0.7, "cmp_radius": 4,
                 "cmp_landmarks_open": False, "cmp_grid_open": False}
"""The per-landmark chart and the heatmap grid are closed at first: each is drawn (and sent to
the browser) only while its expander is open."""


def view_defaults() -> None:
    """The widgets' first values, through session state (a link's values win: :mod:`ui.share`),
    kept while a widget is not drawn (:func:`ui.common.keep_widget_state`)."""
    from ui.common import keep_widget_state

    keep_widget_state(SHARED.values(), VIEW_DEFAULTS)


def default_decoder(evaluation, encoding) -> str:
    """The decoder the sample browser sorts by at first: the run's primary decoder
    (:func:`lmkviz.evaluation.primary_decoder`) when it was evaluated, else the best one."""
    from lmkviz.evaluation import primary_decoder

    primary = primary_decoder(encoding or "")
    return primary if primary in evaluation.decoders else evaluation.best_decoder()
