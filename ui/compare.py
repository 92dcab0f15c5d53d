"""The Compare decoders page's Streamlit glue: the cached evaluation and its texts and tables.

The evaluation keeps the network's heatmaps (:func:`lmkviz.evaluation.evaluate` with
``keep_heatmaps=True``), so the sample browser reads them from the cached result
instead of running the network again.
"""

from __future__ import annotations

import streamlit as st

from lmkviz.decoding import DECODER_LABELS


@st.cache_data(max_entries=4, show_spinner=False)
def evaluation_cached(checkpoint: str, checkpoint_mtime: float, dataset: str, split: str, n: int):
    """:func:`lmkviz.evaluation.evaluate` of a checkpoint on the first ``n`` images of a split,
    heatmaps kept, with a progress bar while it runs (cached per checkpoint version,
    dataset, split and n)."""
    from lmkviz.evaluation import evaluate
    from ui.common import predictor_cached

    bar = st.progress(0.0, text=f"Evaluating {n} images with every decoder…")

    def progress(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"Evaluating: {done} of {total} images")

    try:
        result = evaluate(predictor_cached(checkpoint, checkpoint_mtime), dataset, split, limit=n,
                          progress=progress, keep_heatmaps=True)
    finally:
        bar.empty()
    return result


@st.cache_data(max_entries=4, show_spinner=False)
def split_positions(checkpoint: str, checkpoint_mtime: float, dataset: str, split: str, n: int) -> list[int]:
    """The index in the split of each image of :func:`evaluation_cached` (same arguments; see
    :meth:`lmkviz.evaluation.Evaluation.positions_in`)."""
    from ui.common import open_split_cached

    evaluation = evaluation_cached(checkpoint, checkpoint_mtime, dataset, split, n)
    return evaluation.positions_in(open_split_cached(dataset, split)).tolist()


def summary_rows(evaluation) -> list[dict]:
    """The table: one row per decoder with NME %, FR@10 %, AUC@10 % and the change against argmax
    (:meth:`lmkviz.evaluation.Evaluation.table`)."""
    return [{"decoder": DECODER_LABELS.get(r["decoder"], r["decoder"]), "NME %": r["nme"], "FR@10 %": r["fr10"],
             "AUC@10 %": r["auc10"], "vs argmax": "—" if r["vs_base"] is None else f"{r['vs_base']:+.1f} %"}
            for r in evaluation.table("argmax")]


def summary_text(evaluation) -> str:
    """A sentence under the table: who wins and why it matters."""
    rows = {r["decoder"]: r for r in evaluation.table("argmax")}
    best = evaluation.best_decoder()
    label = DECODER_LABELS.get(best, best)
    change = rows[best]["vs_base"]
    if "argmax" not in rows or change is None or not change < 0:
        return f"**{label}** has the lowest error here."
    cell = getattr(evaluation.codec, "stride", None)
    spacing = f" ({cell:g} input px apart here)" if cell else ""
    return (f"**{label}** has the lowest error: {-change:.0f} % below argmax, from the same heatmaps. "
            f"argmax can only answer cell centres{spacing}; the others read the position inside the cell "
            "from the neighbouring values.")


def sample_title(name: str, index: int, errors: dict) -> str:
    """"**name** (sample 3) · NME argmax **4.10 %** · ..." for {decoder: NME %}."""
    return f"**{name}** (sample {index}) · NME " + " · ".join(
        f"{DECODER_LABELS.get(m, m)} **{e:.2f} %**" for m, e in errors.items())
