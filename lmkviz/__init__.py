"""lmkviz: heatmap-based facial landmark regression, explained and explorable.

The library behind the Streamlit explorer (``streamlit run app.py``) and the CLI
(``python -m lmkviz``). It never imports Streamlit.

Coordinate convention (used by every module, in image and heatmap space alike)
------------------------------------------------------------------------------
Points are continuous ``(x, y)`` pixel coordinates. Pixel ``j`` spans the interval
``[j, j + 1)`` and its centre is at ``j + 0.5``; an image of width ``W`` covers
``[0, W)``. Going from an image of size ``(H_img, W_img)`` to a heatmap of size
``(H_hm, W_hm)`` is therefore a pure scale, with no half-pixel offsets::

    x_hm = x_img * W_hm / W_img        y_hm = y_img * H_hm / H_img

A perfect argmax on a heatmap decodes to the centre of the winning cell,
``(j + 0.5, i + 0.5)``. Horizontal flips map ``x`` to ``W - x``. Invisible or
missing points are ``NaN``.

Shape letters: ``N`` images in a batch, ``K`` landmarks, ``H`` x ``W`` heatmap
(or image) rows x columns.

Modules, one per concept: :mod:`lmkviz.coords`, :mod:`lmkviz.encoding` (points ->
heatmaps), :mod:`lmkviz.decoding` (heatmaps -> points), :mod:`lmkviz.codecs` (encode/decode
pairs: heatmap, UDP, SimCC; keypoint weights), :mod:`lmkviz.metrics`,
:mod:`lmkviz.evaluation` (the one evaluator), :mod:`lmkviz.losses`,
:mod:`lmkviz.data` (schemes, datasets, synthetic faces, augmentation),
:mod:`lmkviz.models`, :mod:`lmkviz.training` (config, builders, loop, lr_find),
:mod:`lmkviz.runs` (run folders), :mod:`lmkviz.devices`, :mod:`lmkviz.checkpoint`,
:mod:`lmkviz.jobs`, :mod:`lmkviz.inference`, :mod:`lmkviz.viz` (plotly figures) and
:mod:`lmkviz.cli`. docs/architecture.md draws the data flow between them.
"""

__version__ = "0.1.0"
