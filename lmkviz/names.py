"""Names and labels of the encodings and decoders, importable without torch.

:mod:`lmkviz.encoding` and :mod:`lmkviz.decoding` re-export them; figures and page texts
(:mod:`lmkviz.viz`) import them from here, so that drawing needs no torch import (about
2 s of a cold start on 2 CPU cores).
"""

ENCODINGS = ("gaussian", "gaussian_int", "binary")
"""Encoding names: sub-pixel Gaussian, integer-centred Gaussian (the blog's), binary
randomized rounding (H3R)."""

ENCODING_LABELS = {
    "gaussian": "Gaussian, sub-pixel centre",
    "gaussian_int": "Gaussian, integer centre (blog)",
    "binary": "Binary, randomized rounding (H3R)",
}

DECODERS = ("argmax", "quarter", "topk", "dark", "softargmax")
"""Decoders of 2-D heatmaps, for :func:`lmkviz.decoding.decode`."""

VECTOR_DECODERS = ("argmax", "dark", "softargmax")
"""Decoders of 1-D vectors (SimCC), for :func:`lmkviz.decoding.decode_vectors`."""

DECODER_LABELS = {
    "argmax": "argmax",
    "quarter": "quarter offset",
    "topk": "top-k softmax (H3R)",
    "dark": "DARK",
    "softargmax": "soft-argmax (integral)",
}
