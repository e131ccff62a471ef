"""Reading and writing images.

* :mod:`crfkit.io.images`: ordinary images (PNG, JPEG, TIFF; 8/16-bit), EXIF exposure.
* :mod:`crfkit.io.raw`: camera RAW files through rawpy (``crfkit[raw]``).
* :mod:`crfkit.io.hdr`: Radiance ``.hdr`` and OpenEXR ``.exr`` (``crfkit[exr]``).
"""

from .images import read_image, write_image

__all__ = ["read_image", "write_image"]
