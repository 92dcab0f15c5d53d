"""The augmentation settings of a training run, importable without torch or torchvision.

:class:`AugmentConfig` is re-exported by :mod:`lmkviz.data.augment`, which builds the
transforms from it. Training configs validate their augmentation with it, so reading a
run's ``config.json`` (the job list, the home page) does not import torchvision.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lmkviz.names import FRAMINGS

__all__ = ["AugmentConfig"]


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation settings.

    input_size: side S of the square network input (images are resized to S x S,
        without keeping the aspect ratio).
    strength: in [0, 1], scales every random augmentation below; 0 turns them all off.
    rotation: maximum rotation in degrees (at strength 1).
    scale: (min, max) zoom factor (at strength 1; interpolated towards 1 by strength).
    translate: maximum shift as a fraction of S (at strength 1).
    flip: random horizontal flips with probability 0.5 (only when the scheme has a flip_perm).
    color: brightness/contrast/saturation jitter amount (hue jitter is color / 6).
    framing: "image" (resize the whole image) or "face" (square crop around the
        landmarks, see the module docstring). Evaluation always uses the whole image.
    margin: crop side / longer side of the landmark box, for ``framing="face"``.
    occlusion: probability of one random rectangle (10-40 % of the side, random grey
        level) drawn over the crop ("cutout"), at strength 1; ``framing="face"`` only.
    blur: probability of a Gaussian blur (sigma 0.5-1.5 px) that imitates small or
        soft faces, at strength 1; ``framing="face"`` only.
    """

    input_size: int = 256
    strength: float = 1.0
    rotation: float = 30.0
    scale: tuple[float, float] = (0.75, 1.25)
    translate: float = 0.1
    flip: bool = True
    color: float = 0.3
    framing: str = "image"
    margin: float = 1.7
    occlusion: float = 0.0
    blur: float = 0.0

    def __post_init__(self) -> None:
        if int(self.input_size) != self.input_size or self.input_size < 8:
            raise ValueError(f"input_size must be an integer >= 8, got {self.input_size!r}")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {self.strength!r}")
        if not 0.0 <= self.rotation <= 180.0:
            raise ValueError(f"rotation must be in [0, 180] degrees, got {self.rotation!r}")
        if len(self.scale) != 2 or not 0.0 < self.scale[0] <= 1.0 <= self.scale[1]:
            raise ValueError(f"scale must be (min, max) with 0 < min <= 1 <= max, got {self.scale!r}")
        if not 0.0 <= self.translate <= 0.5:
            raise ValueError(f"translate must be in [0, 0.5] (fraction of the input size), got {self.translate!r}")
        if not 0.0 <= self.color <= 1.0:
            raise ValueError(f"color must be in [0, 1], got {self.color!r}")
        if self.framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {', '.join(FRAMINGS)}, got {self.framing!r}")
        if not 1.0 <= self.margin <= 4.0:
            raise ValueError(f"margin must be in [1, 4] (crop side / landmark box side), got {self.margin!r}")
        for name in ("occlusion", "blur"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)!r}")
        object.__setattr__(self, "input_size", int(self.input_size))
        object.__setattr__(self, "scale", (float(self.scale[0]), float(self.scale[1])))

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        return asdict(self)
