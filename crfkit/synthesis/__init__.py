"""Training-data synthesis for single-image CRF estimation (and restoration).

A linear image (an HDR photograph, or an ordinary photo linearised with the
sRGB inverse) is exposed by ``2**U(-3, 3)``, given shot and read noise,
clipped, passed through a CRF from the DoRF training split, quantised to 8
bits and JPEG-compressed at quality 90-100; samples with more than half the
pixels over- or under-exposed are drawn again.  Everything is reproducible from
a seed: sample ``i`` of a dataset depends only on ``(seed, i)``.

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
