"""Plotly figures for the explorer (every function returns a ``plotly.graph_objects.Figure``).

Pages call these and only lay them out; nothing here imports Streamlit. Colours
come from :mod:`lmkviz.viz.style`, so a decoder or an encoding has the same
colour on every page. Images are drawn in the lmkviz pixel convention: pixel
``j`` covers ``[j, j + 1)``, so the image spans ``[0, W) x [0, H)`` and points
are plotted at their continuous coordinates without offsets.

Modules: :mod:`~lmkviz.viz.style` (colours), :mod:`~lmkviz.viz.images` (images,
points, heatmaps), :mod:`~lmkviz.viz.dataset` (Dataset browser) and
:mod:`~lmkviz.viz.encoding` (Encoding lab), :mod:`~lmkviz.viz.lesson` (Lesson).
"""

from lmkviz.viz.style import (  # noqa: F401
    CONVENTION_COLOURS,
    DECODER_COLOURS,
    DECODER_SYMBOLS,
    ENCODING_COLOURS,
    GROUP_COLOURS,
    SPLIT_COLOURS,
    TARGET_COLOUR,
    group_of,
)
from lmkviz.viz.images import (  # noqa: F401
    add_points,
    colourise,
    heatmap_grid,
    heatmap_grid_image,
    heatmap_overlay,
    image_figure,
    png_uri,
    pooled_note,
)
from lmkviz.viz import training  # noqa: F401,E402  (Train page)
from lmkviz.viz import compare  # noqa: F401,E402  (Compare decoders page)
from lmkviz.viz import upload  # noqa: F401,E402  (Upload a face page)
from lmkviz.viz import lesson  # noqa: F401,E402  (Lesson page)
