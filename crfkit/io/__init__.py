"""Reading and writing images and curves.

* :mod:`crfkit.io.images`: ordinary images (PNG, JPEG, TIFF; 8/16-bit), EXIF exposure.
* :mod:`crfkit.io.raw`: camera RAW files through rawpy (``crfkit[raw]``).
* :mod:`crfkit.io.hdr`: Radiance ``.hdr`` and OpenEXR ``.exr`` (``crfkit[exr]``).
* :mod:`crfkit.io.linear`: :func:`write_linear_image`, linear images as ``.exr``,
  ``.hdr``, ``.npy`` or 16-bit ``.tif``/``.tiff``, chosen by suffix.
* :mod:`crfkit.io.export`: :func:`export_curves`, curves as ``.cube`` and
  ``.spi1d`` 1-D LUTs (colour-science) or JSON/CSV, chosen by suffix.
"""

from .export import EXPORT_SUFFIXES, export_curves
from .images import read_image, write_image
from .linear import LINEAR_SUFFIXES, write_linear_image

__all__ = ["EXPORT_SUFFIXES", "LINEAR_SUFFIXES", "export_curves", "read_image", "write_image", "write_linear_image"]
