"""Reading and writing images and curves.

* :mod:`crfkit.io.images`: ordinary images (PNG, JPEG, TIFF; 8/16-bit), EXIF exposure.
* :mod:`crfkit.io.raw`: camera RAW files through rawpy (``crfkit[raw]``).
* :mod:`crfkit.io.hdr`: Radiance ``.hdr`` and OpenEXR ``.exr`` (``crfkit[exr]``).
* :mod:`crfkit.io.linear`: :func:`write_linear_image`, linear images as ``.exr``,
  ``.hdr``, ``.npy`` or 16-bit ``.tif``/``.tiff``, chosen by suffix.
* :mod:`crfkit.io.preview`: :func:`tone_map`, a linear HDR image as an 8-bit sRGB
  picture for viewing (Reinhard's global operator, or a plain exposure).
* :mod:`crfkit.io.export`: :func:`export_curves`, curves as ``.cube`` and
  ``.spi1d`` 1-D LUTs (colour-science) or JSON/CSV, chosen by suffix.
"""

from .export import EXPORT_SUFFIXES, export_curves
from .images import read_image, write_image
from .linear import LINEAR_SUFFIXES, write_linear_image
from .preview import TONE_MAP_METHODS, tone_map

__all__ = ["EXPORT_SUFFIXES", "LINEAR_SUFFIXES", "TONE_MAP_METHODS", "export_curves", "read_image", "tone_map",
           "write_image", "write_linear_image"]
