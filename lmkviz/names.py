"""Names and labels of the encodings, decoders and framings, importable without torch.

:mod:`lmkviz.encoding`, :mod:`lmkviz.decoding` and :mod:`lmkviz.data.augment` re-export them;
figures (:mod:`lmkviz.viz`) and training configs (:mod:`lmkviz.training.config`) import them
from here, so that drawing a figure or reading a run's config imports neither torch nor
torchvision (several seconds of a cold start on a busy 2-core machine).
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
    "topk": "top-k (H3R)",
    "dark": "DARK",
    "softargmax": "soft-argmax (integral)",
}

FRAMINGS = ("image", "face")
"""How a training sample is framed: the whole image resized, or a crop around the face."""

POINT_MODELS = ("resnet18_regression",)
"""Architectures whose output is (N, K, 2) points (fractions of the input's W and H), not
heatmaps (:data:`lmkviz.models.POINT_MODELS`)."""

LAB_ENCODINGS = (*ENCODINGS, "udp", "simcc")
"""What the Encoding lab encodes with: the heatmap encodings of :mod:`lmkviz.encoding`,
"udp" (sub-pixel Gaussians with UDP's corner-aligned scaling,
:class:`lmkviz.codecs.UDPHeatmapCodec`) and "simcc" (SimCC's two 1-D label vectors per
point, :class:`lmkviz.codecs.SimCCCodec`, at :data:`lmkviz.labs.SIMCC_RATIO` bins per pixel)."""

LAB_ENCODING_LABELS = {
    **ENCODING_LABELS,
    "udp": "Gaussian, UDP corner-aligned",
    "simcc": "SimCC, x and y label vectors",
}
