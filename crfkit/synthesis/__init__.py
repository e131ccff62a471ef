"""Training-data synthesis for single-image CRF estimation (and restoration).

A linear image (an HDR photograph, or an ordinary photo linearised with the
sRGB inverse) is exposed by ``2**U(-3, 3)``, given shot and read noise,
clipped, passed through a CRF from the DoRF training split, quantised to 8
bits and JPEG-compressed at quality 90-100; samples with more than half the
pixels over- or under-exposed are drawn again.  Everything is reproducible from
a seed: sample ``i`` of a dataset depends only on ``(seed, i)``.

``SynthesisConfig(camera_pipeline=True)`` adds what a real camera does
between sensor and JPEG (:mod:`.camera`): a real camera's colour matrix and
white balance, raw noise, a Bayer mosaic and demosaicking, mild denoising,
slightly different curves per channel (their mean is the drawn curve, the
target) and sharpening.  It is off by default, and off it reproduces the plain
camera bit for bit.

The NumPy part (:mod:`.sources`, :mod:`.pipeline`) needs no torch;
:mod:`.dataset` holds the torch ``Dataset`` and is imported on demand.
"""

from .pipeline import SynthesisConfig, apply_forward, synthesize, synthesize_sample
from .sources import (
    LinearImage,
    dorf_split,
    find_training_images,
    load_linear_image,
    load_linear_images,
    split_images,
)

__all__ = [
    "LinearImage",
    "SynthesisConfig",
    "apply_forward",
    "dorf_split",
    "find_training_images",
    "load_linear_image",
    "load_linear_images",
    "split_images",
    "synthesize",
    "synthesize_sample",
]
