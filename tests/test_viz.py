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


def test_compare_zoom_writes_every_cell_alike_and_the_threshold_label_sits_above_the_curves():
    from lmkviz.viz.compare import ced_figure, cell_zoom_figure
    from lmkviz.viz.style import cell_text

    assert [cell_text(v) for v in (-0.004, 0.0, 0.004, -0.012, 0.5)] == ["0.00", "0.00", "0.00", "-0.01", "0.50"]
    heatmap = np.full((16, 16), -0.003, dtype=np.float32)  # a real map: tiny negative values around the peak
    heatmap[8, 8], heatmap[8, 9] = 0.9, 0.004
    fig = cell_zoom_figure(heatmap, [8.5, 8.5], {"dark": [8.6, 8.4]}, stride=4.0, radius=3)
    text = np.asarray(fig.data[0].text)
    assert text.shape == np.asarray(fig.data[0].z).shape and text.size == 49
    assert all(len(t) == 4 and t[1] == "." for t in text.ravel())  # "0.00", "0.90": no blank, no "-0.00"
    ced = ced_figure({"argmax": np.array([0.02, 0.05, 0.2]), "dark": np.array([0.01, 0.04, 0.15])})
    label = next(a for a in ced.layout.annotations if "failure threshold" in a.text)
    assert label.yref == "paper" and label.y >= 1.0 and label.yanchor == "bottom"  # above the plot area


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


# ----------------------------------------------------------------------------- heatmap grid as one picture

def panel_block(image: np.ndarray, k: int, columns: int, size: int, gap: int) -> np.ndarray:
    """The pixels of panel ``k`` of a grid picture with square panels of ``size`` px."""
    r, c = divmod(k, columns)
    y, x = r * (size + gap), c * (size + gap)
    return image[y:y + size, x:x + size]


def test_heatmap_grid_image_puts_each_channels_peak_on_its_cell():
    from lmkviz.viz.images import colourise, heatmap_grid_image

    k, h, w, columns = 5, 16, 16, 3
    maps = np.zeros((k, h, w), np.float32)
    peaks = [(8, 9), (12, 4), (6, 14), (15, 15), (9, 2)]  # (row, column) of each channel's single 1
    for ch, (i, j) in enumerate(peaks):
        maps[ch, i, j] = 1.0
    image = heatmap_grid_image(maps, titles=[str(30 + 10 * ch) for ch in range(k)], columns=columns, panel_px=64)
    up, gap = 4, 2  # 64 px panels of 16 cells: 4 px per cell, gaps of max(2, 4 // 2) px
    assert image.dtype == np.uint8 and image.shape == (2 * 64 + gap, 3 * 64 + 2 * gap, 3)
    top = colourise(np.ones(1))[0]
    for ch, (i, j) in enumerate(peaks):
        panel = panel_block(image, ch, columns, 64, gap)
        hot = np.argwhere((panel == top).all(axis=-1))
        assert hot.min(axis=0).tolist() == [i * up, j * up]  # the peak cell's block, and nothing else
        assert hot.max(axis=0).tolist() == [i * up + up - 1, j * up + up - 1]
        assert len(hot) == up * up
        assert (panel[40:, :40] == colourise(np.zeros(1))[0]).all(axis=-1).mean() > 0.9  # zeros: first colour
    assert (image[64:64 + gap] == 255).all()  # white gap between the rows
    assert (panel_block(image, 5, columns, 64, gap) == 255).all()  # no sixth panel: blank


def test_heatmap_grid_image_uses_a_fixed_scale_and_draws_the_titles():
    from lmkviz.viz.images import colourise, heatmap_grid_image

    half = np.full((2, 8, 8), 0.5, np.float32)
    image = heatmap_grid_image(half, titles=["", ""], columns=2, panel_px=32)
    assert (image[20:, 20:32] == colourise(np.array([0.5]))[0]).all()  # 0.5 is the middle colour, not the top
    assert not (image[20:, 20:32] == colourise(np.ones(1))[0]).all()
    free = heatmap_grid_image(half, titles=["", ""], columns=2, panel_px=32, zmax=None)
    assert (free[20:, 20:32] == colourise(np.ones(1))[0]).all()  # zmax=None: the largest value is the top

    titled = heatmap_grid_image(half, titles=["36", "45"], columns=2, panel_px=32)
    corner = titled[:12, :14].astype(int)
    assert corner.min(axis=-1).max() > 180  # light text in the top-left corner...
    assert (corner.sum(axis=-1) < image[0, 0].astype(int).sum() * 0.6).any()  # ...on a darkened box
    assert (titled[20:] == image[20:]).all()  # titles touch only their corner
    assert heatmap_grid_image(np.zeros((1, 4, 4)), titles=[], panel_px=8).shape == (8, 8, 3)


def test_heatmap_grid_image_max_pools_large_maps_so_no_peak_disappears():
    from lmkviz.viz.images import colourise, heatmap_grid_image, pooled_note

    maps = np.zeros((1, 256, 256), np.float32)
    maps[0, 201, 130] = 1.0
    image = heatmap_grid_image(maps, titles=[""], columns=1, panel_px=64)
    assert image.shape == (64, 64, 3)  # 256 cells max-pooled 4×4 to 64
    hot = np.argwhere((image == colourise(np.ones(1))[0]).all(axis=-1))
    assert hot.tolist() == [[201 // 4, 130 // 4]]
    assert pooled_note((256, 256)) == "maps shown max-pooled 4×4 (256×256 → 64×64)"
    assert pooled_note((64, 48)) is None
    with pytest.raises(ValueError, match="one map per channel"):
        heatmap_grid_image(np.zeros((8, 8)))
