"""One colour per decoder, encoding, landmark group and split, shared by every page.

Colours are from the Okabe-Ito palette (distinguishable with colour-vision
deficiencies). Import these instead of writing colours in pages or figures.
"""

from lmkviz.names import DECODER_LABELS, DECODERS, ENCODING_LABELS, ENCODINGS  # noqa: F401  (no torch)

DECODER_COLOURS = {
    "argmax": "#E69F00",   # orange
    "quarter": "#56B4E9",  # sky blue
    "topk": "#009E73",     # bluish green
    "dark": "#CC79A7",     # reddish purple
    "softargmax": "#0072B2",  # blue
}
DECODER_SYMBOLS = {"argmax": "square", "quarter": "diamond", "topk": "triangle-up", "dark": "star",
                   "softargmax": "circle-open"}

ENCODING_COLOURS = {
    "gaussian": "#0072B2",      # blue
    "gaussian_int": "#D55E00",  # vermillion
    "binary": "#7F7F7F",        # grey
    "udp": "#56B4E9",           # sky blue: the sub-pixel Gaussian, corner-aligned
    "simcc": "#009E73",         # bluish green
}

TARGET_COLOUR = "#F0E442"  # yellow: ground truth
TARGET_SYMBOL = "circle"

GROUP_COLOURS = {
    "jaw": "#F0E442",
    "brows": "#E69F00",
    "nose": "#56B4E9",
    "eyes": "#009E73",
    "mouth": "#CC79A7",
    "all": "#F0E442",
}
OTHER_POINTS_COLOUR = "rgba(255,255,255,0.55)"
"""Landmarks outside the chosen subset, drawn small and faint."""

SPLIT_COLOURS = {"train": "#0072B2", "val": "#E69F00", "test": "#009E73"}

CONVENTION_COLOURS = {
    "blog's arithmetic": "#999999",   # grey
    "blog's code": "#D55E00",         # vermillion, like the blog's integer-centre encoding
    "lmkviz": "#0072B2",              # blue, like the sub-pixel encoding
}
CONVENTION_SYMBOLS = {"blog's arithmetic": "x", "blog's code": "square", "lmkviz": "diamond"}

HEATMAP_COLOURSCALE = "Viridis"
OVERLAY_COLOURSCALE = [  # Viridis fading to transparent at zero, so the face shows through
    [0.0, "rgba(68,1,84,0)"],
    [0.05, "rgba(68,1,84,0.25)"],
    [0.25, "rgba(59,82,139,0.75)"],
    [0.5, "rgba(33,145,140,0.9)"],
    [0.75, "rgba(94,201,98,1)"],
    [1.0, "rgba(253,231,37,1)"],
]


def group_of(scheme, index: int) -> str:
    """The main group ("jaw", "brows", "nose", "eyes", "mouth") of a landmark, or "all"."""
    for group in ("jaw", "brows", "nose", "eyes", "mouth"):
        if index in scheme.groups.get(group, ()):
            return group
    return "all"

APPROACH_COLOURS = {
    "regression": "#D55E00",  # vermillion: (x, y) regressed directly
    "heatmap": "#0072B2",     # blue: heatmaps and a decoder
}
APPROACH_LABELS = {
    "regression": "direct (x, y) regression",
    "heatmap": "heatmaps + DARK",
}
"""The Lesson's first step: the two ways of predicting points."""
