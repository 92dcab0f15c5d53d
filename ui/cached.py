"""Memoised calls into :mod:`lmkviz.labs` for the Dataset browser and the Encoding lab.

Every function takes plain values (dataset key, split, numbers) so that
``st.cache_data`` keys are cheap; the results are numpy arrays and plain dicts.
Tensor work runs on one thread (see :func:`lmkviz.labs.torch_threads`): these are
many small operations, and the server shares the CPU with training jobs.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from lmkviz import labs
from ui.common import open_split_cached, sample_cached

STATS_MAX_SAMPLES = {"synthetic": 300}
"""Samples used for statistics when faces are rendered on demand (folders: all, up to 20,000)."""

HEATMAP_SIZES = (16, 24, 32, 48, 64, 96, 128, 192, 256)
SIGMAS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 20.0)
SWEEP_POINTS = 128
"""Random points per setting of a sweep (each curve's points share their sub-cell offsets,
and the figures shade the 95 % band of every mean)."""


@st.cache_data(max_entries=16, show_spinner="Computing statistics…")
def split_stats(dataset: str, split: str) -> dict:
    """{"points01": (n, K, 2) normalised, "sizes": (n, 2) (H, W), "used": n, "total": N}."""
    limit = STATS_MAX_SAMPLES.get(dataset, 20_000)
    points, sizes, total = labs.split_geometry(open_split_cached(dataset, split), max_samples=limit)
    return {"points01": labs.normalised(points, sizes), "sizes": sizes, "used": len(points), "total": total}


@st.cache_data(max_entries=32, show_spinner=False)
def augment_preview(dataset: str, split: str, index: int, strength: float, size: int, draws: int,
                    seed: int, flip_perm: tuple | None) -> list:
    """Training-augmentation draws of one sample (:func:`lmkviz.labs.augment_draws`)."""
    from lmkviz.data import AugmentConfig

    image, points, _ = sample_cached(dataset, split, index)
    with labs.torch_threads(1):
        return labs.augment_draws(image, points, flip_perm, AugmentConfig(input_size=size, strength=strength),
                                  n=draws, seed=seed)


@st.cache_data(max_entries=256, show_spinner=False)
def roundtrip(image_size: int, heatmap_size: int, sigma: float, encoding: str, noise: float, blur: float,
              margin: float | None, k: int = 9) -> labs.RoundTrip:
    """:func:`lmkviz.labs.roundtrip` with 256 points."""
    with labs.torch_threads(1):
        return labs.roundtrip(image_size, heatmap_size, sigma, encoding, noise=noise, blur=blur, margin=margin,
                              k=k, n=256)


@st.cache_data(max_entries=128, show_spinner=False)
def sweep_sizes(image_size: int, sigma: float, encoding: str, noise: float, blur: float,
                margin: float | None, k: int = 9) -> dict:
    """Mean error against heatmap size (:data:`HEATMAP_SIZES`), sigma fixed in heatmap px."""
    with labs.torch_threads(1):
        return labs.sweep_heatmap_size(image_size, HEATMAP_SIZES, sigma, encoding, noise=noise, blur=blur,
                                       margin=margin, k=k, n=SWEEP_POINTS)


@st.cache_data(max_entries=128, show_spinner=False)
def sweep_sigmas(image_size: int, heatmap_size: int, encoding: str, noise: float, blur: float,
                 margin: float | None, k: int = 9) -> dict:
    """Mean error against sigma (:data:`SIGMAS`)."""
    with labs.torch_threads(1):
        return labs.sweep_sigma(image_size, heatmap_size, SIGMAS, encoding, noise=noise, blur=blur,
                                margin=margin, k=k, n=SWEEP_POINTS)


SIMCC_RATIOS = (0.25, 0.5, 1.0, 2.0, 3.0, 4.0)


@st.cache_data(max_entries=64, show_spinner=False)
def sweep_ratios(image_size: int, sigma: float, noise: float, blur: float, margin: float | None) -> dict:
    """SimCC's mean error against its ratio (:data:`SIMCC_RATIOS` bins per pixel)."""
    with labs.torch_threads(1):
        return labs.sweep_simcc_ratio(image_size, SIMCC_RATIOS, sigma, noise=noise, blur=blur, margin=margin,
                                      n=SWEEP_POINTS)


@st.cache_data(max_entries=64, show_spinner=False)
def rounding_draws(point_hm: tuple, heatmap_wh: tuple, draws: int, seed: int) -> np.ndarray:
    """(draws, 2) argmax positions of random binary heatmaps (:func:`lmkviz.labs.randomized_rounding_draws`)."""
    with labs.torch_threads(1):
        return labs.randomized_rounding_draws(point_hm, heatmap_wh, draws, seed)
