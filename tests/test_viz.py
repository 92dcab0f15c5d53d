"""Figure geometry of :mod:`lmkviz.viz`: what is drawn lands on the pixels the convention says."""

from __future__ import annotations

import numpy as np
import pytest

from lmkviz.viz.images import heatmap_overlay


def cell_edges(trace, axis: str, index: int) -> tuple[float, float]:
    """[left, right) of brick ``index`` of a plotly heatmap placed with x0/dx (or y0/dy):
    brick j is centred on x0 + j * dx and is dx wide."""
    start, step = getattr(trace, f"{axis}0"), getattr(trace, f"d{axis}")
    centre = start + index * step
    return centre - step / 2, centre + step / 2


@pytest.mark.parametrize("image_hw,heatmap_hw", [((64, 64), (16, 16)), ((40, 60), (8, 12)), ((48, 96), (48, 32))])
def test_heatmap_overlay_aligns_cells_with_their_image_pixels(image_hw, heatmap_hw):
    (H, W), (h, w) = image_hw, heatmap_hw
    sx, sy = W / w, H / h
    heatmap = np.zeros((h, w), np.float32)
    i, j = h // 3, w // 2
    heatmap[i, j] = 1.0
    fig = heatmap_overlay(np.zeros((H, W, 3), np.uint8), heatmap)
    image = fig.layout.images[0]
    assert (image.x, image.y, image.sizex, image.sizey) == (0, 0, W, H)  # the photo spans [0, W) x [0, H)
    layer = next(t for t in fig.data if t.type == "heatmap")
    assert np.asarray(layer.z).shape == (h, w)
    # cell (i, j) covers image x in [j * sx, (j + 1) * sx) and y in [i * sy, (i + 1) * sy)
    assert cell_edges(layer, "x", j) == pytest.approx((j * sx, (j + 1) * sx))
    assert cell_edges(layer, "y", i) == pytest.approx((i * sy, (i + 1) * sy))
    assert cell_edges(layer, "x", 0)[0] == pytest.approx(0) and cell_edges(layer, "x", w - 1)[1] == pytest.approx(W)
    # a known point: the image pixel centre (j * sx + 0.5, i * sy + 0.5) lies in the hot cell, not a neighbour
    x, y = j * sx + 0.5, i * sy + 0.5
    col = int(np.floor((x - (layer.x0 - layer.dx / 2)) / layer.dx))
    row = int(np.floor((y - (layer.y0 - layer.dy / 2)) / layer.dy))
    assert np.asarray(layer.z)[row, col] == 1.0


def test_figures_import_without_torch():
    """Drawing needs no torch: lmkviz.viz takes its encoder and decoder names from lmkviz.names
    (importing torch costs seconds of a cold start on a busy 2-core machine)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, lmkviz.viz, lmkviz.names; from lmkviz.viz import compare, dataset, encoding, training, upload; "
            "print(sorted(m for m in ('torch', 'torchvision', 'cv2', 'streamlit') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_names_are_the_ones_the_library_uses():
    from lmkviz import decoding, encoding, names
    from lmkviz.viz import style

    assert decoding.DECODERS is names.DECODERS is style.DECODERS
    assert decoding.DECODER_LABELS is names.DECODER_LABELS and encoding.ENCODINGS is names.ENCODINGS
    assert set(names.DECODER_LABELS) == set(names.DECODERS)
    assert set(names.ENCODING_LABELS) == set(names.ENCODINGS)
