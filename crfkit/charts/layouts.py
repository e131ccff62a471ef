"""Where the patches of a chart are in an image.

A :class:`ChartLayout` holds, for every patch, the pixel positions to sample.
Two kinds of layout exist:

* **boxes**: axis-aligned sample boxes given as fractions of the image size, as
  in the Middlebury ``tags.json`` (rectified crops where the chart fills the image);
* **corners**: the four outer corners of the patch grid in pixels plus the
  number of rows and columns; each patch is sampled on a small regular grid of
  points around its centre mapped through the homography, so perspective is handled.

Patches are ordered row by row from the top-left one (the ColorChecker order:
dark skin ... black).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ParseError, ValidationError


def _count(value, what):
    """``value`` as a positive int (an integral number; not a bool nor a string), else ValidationError."""
    ok = isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating)) and float(value).is_integer())
    if isinstance(value, (bool, np.bool_)) or not ok or value < 1:
        raise ValidationError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _fraction(value, what, lo, hi, lo_open=True):
    """``value`` as a float in (lo, hi] (or [lo, hi) when not ``lo_open``), else ValidationError."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    v = float(value) if ok else None
    if ok and np.isfinite(v) and ((lo < v <= hi) if lo_open else (lo <= v < hi)):
        return v
    span = f"({lo}, {hi}]" if lo_open else f"[{lo}, {hi})"
    raise ValidationError(f"{what} must be a number in {span}, got {value!r}")


def _corner_points(value, what):
    """``value`` as a (4, 2) float array of finite pixel positions, else ValidationError."""
    bad = ValidationError(f"{what} must be 4 [x, y] points in pixels (top-left, top-right, bottom-right, "
                          f"bottom-left), got {value!r}")
    if isinstance(value, (str, bytes, dict)):
        raise bad
    try:
        c = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise bad from None
    if c.shape != (4, 2) or not np.all(np.isfinite(c)):
        raise bad
    return c


def _homography(src, dst):
    """3x3 homography mapping 4 ``src`` points to 4 ``dst`` points (DLT)."""
    a = []
    for (x, y), (u, v) in zip(src, dst):
        a.append([-x, -y, -1, 0, 0, 0, u * x, u * y, u])
        a.append([0, 0, 0, -x, -y, -1, v * x, v * y, v])
    _, _, vt = np.linalg.svd(np.asarray(a, float))
    h = vt[-1].reshape(3, 3)
    return h / h[2, 2]


@dataclass
class ChartLayout:
    """Patch sample positions of a chart.

    Use the constructors :meth:`from_boxes`, :meth:`from_tags_json`,
    :meth:`from_corners` or :meth:`grid` rather than the fields.

    Attributes
    ----------
    kind : {'boxes', 'corners'}
    boxes : ndarray (P, 4), optional
        ``x0, y0, x1, y1`` as fractions of width/height (boxes layouts).
    corners : ndarray (4, 2), optional
        Outer corners of the patch grid in pixels (x, y): top-left, top-right,
        bottom-right, bottom-left, in the chart's own orientation.
    rows, cols : int
    sample_fraction : float
        Side of the sampled square as a fraction of the patch pitch (corners layouts).
    source : str
        Where the layout came from, for messages.
    """

    kind: str
    rows: int
    cols: int
    boxes: np.ndarray = None
    corners: np.ndarray = None
    sample_fraction: float = 0.5
    source: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def n_patches(self):
        return self.rows * self.cols if self.kind == "corners" else len(self.boxes)

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_boxes(cls, boxes, rows=4, cols=6, source="boxes"):
        """Boxes ``(x0, y0, x1, y1)`` as fractions of the image, row-major order."""
        b = np.asarray(boxes, dtype=float)
        if b.ndim != 2 or b.shape[1] != 4 or len(b) == 0:
            raise ValidationError(f"{source}: patch boxes must be a list of [x0, y0, x1, y1], got shape {b.shape}")
        if np.any(b < 0) or np.any(b > 1) or np.any(b[:, 2] <= b[:, 0]) or np.any(b[:, 3] <= b[:, 1]):
            raise ValidationError(f"{source}: patch boxes must lie in [0, 1] with x0 < x1 and y0 < y1")
        if len(b) != rows * cols:
            rows, cols = 1, len(b)
        return cls("boxes", rows, cols, boxes=b, source=str(source))

    @classmethod
    def from_tags_json(cls, path):
        """Read a Middlebury-style ``tags.json``.

        ``references[i].position`` is the top-left corner of the sample box as
        fractions of the image and ``references[i].rect`` its size in
        thousandths of the image (see the data's PROVENANCE.md).
        """
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
            refs = (doc[0] if isinstance(doc, list) else doc)["references"]
            boxes = []
            for r in refs:
                x, y = float(r["position"]["x"]), float(r["position"]["y"])
                w, h = float(r["rect"]["x"]) / 1000.0, float(r["rect"]["y"]) / 1000.0
                boxes.append([x, y, x + w, y + h])
        except FileNotFoundError:
            raise ParseError(f"{path}: layout file not found") from None
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise ParseError(
                f"{path}: not a tags.json layout (expected references[].position.x/y and rect.x/y): {exc}"
            ) from None
        return cls.from_boxes(boxes, source=str(path))

    @classmethod
    def from_corners(cls, corners, rows=4, cols=6, sample_fraction=0.5, source="corners"):
        """Four outer corners (pixels, TL, TR, BR, BL) of a ``rows`` x ``cols`` patch grid."""
        c = _corner_points(corners, f"{source}: corners")
        rows, cols = _count(rows, f"{source}: rows"), _count(cols, f"{source}: cols")
        sample_fraction = _fraction(sample_fraction, f"{source}: sample_fraction", 0, 1)
        area = 0.5 * abs(np.dot(c[:, 0], np.roll(c[:, 1], 1)) - np.dot(c[:, 1], np.roll(c[:, 0], 1)))
        if area < 4.0 * rows * cols:
            raise ValidationError(f"{source}: the corners enclose {area:.0f} px^2, too small for {rows}x{cols} patches")
        return cls("corners", int(rows), int(cols), corners=c, sample_fraction=float(sample_fraction), source=str(source))

    @classmethod
    def grid(cls, rows=4, cols=6, margin=0.0, sample_fraction=0.5):
        """A rectified crop where the patch grid fills the image (minus ``margin``, a fraction of its size)."""
        rows, cols = _count(rows, "grid: rows"), _count(cols, "grid: cols")
        m = _fraction(margin, "grid: margin", 0, 0.5, lo_open=False)
        sample_fraction = _fraction(sample_fraction, "grid: sample_fraction", 0, 1)
        boxes = []
        pw, ph = (1 - 2 * m) / cols, (1 - 2 * m) / rows
        for r in range(rows):
            for c in range(cols):
                cx, cy = m + (c + 0.5) * pw, m + (r + 0.5) * ph
                boxes.append([cx - 0.5 * sample_fraction * pw, cy - 0.5 * sample_fraction * ph,
                              cx + 0.5 * sample_fraction * pw, cy + 0.5 * sample_fraction * ph])
        return cls.from_boxes(boxes, rows, cols, source=f"grid {rows}x{cols}")

    # ----------------------------------------------------------------- sampling
    def centres(self, shape):
        """Patch centres in pixels (x, y), shape (P, 2), for an image of ``shape``."""
        h, w = shape[:2]
        if self.kind == "boxes":
            b = self.boxes
            return np.column_stack([(b[:, 0] + b[:, 2]) / 2 * w, (b[:, 1] + b[:, 3]) / 2 * h])
        return self._points(n=1).reshape(-1, 2)

    def _points(self, n=9):
        """Sample points (P, n*n, 2) in pixels for a corners layout."""
        hmat = _homography([(0, 0), (1, 0), (1, 1), (0, 1)], self.corners)
        rr, cc = np.meshgrid(np.arange(self.rows), np.arange(self.cols), indexing="ij")
        t = (np.arange(n) + 0.5) / n - 0.5 if n > 1 else np.zeros(1)
        du, dv = np.meshgrid(t * self.sample_fraction, t * self.sample_fraction, indexing="xy")
        u = ((cc.ravel()[:, None] + 0.5 + du.ravel()[None, :]) / self.cols)
        v = ((rr.ravel()[:, None] + 0.5 + dv.ravel()[None, :]) / self.rows)
        pts = np.stack([u, v, np.ones_like(u)], axis=-1) @ hmat.T
        return pts[..., :2] / pts[..., 2:3]

    def sample(self, image, name="image"):
        """Pixels of every patch.

        Parameters
        ----------
        image : ndarray (H, W) or (H, W, C)
        name : str
            For messages (file name).

        Returns
        -------
        list of ndarray (n_i, C)
            Raw pixel values (dtype kept) of each patch, row-major patch order.
        """
        img = np.asarray(image)
        if img.ndim == 2:
            img = img[:, :, None]
        h, w = img.shape[:2]
        if self.kind == "boxes":
            out = []
            for i, (x0, y0, x1, y1) in enumerate(self.boxes):
                # The tags.json convention: int(frac * size) for the start, int(size * extent) for the size.
                c0, r0 = int(x0 * w), int(y0 * h)
                c1, r1 = c0 + max(int((x1 - x0) * w + 1e-6), 1), r0 + max(int((y1 - y0) * h + 1e-6), 1)
                if r1 > h or c1 > w:
                    raise ValidationError(f"{name}: patch {i + 1} of layout {self.source} lies outside the {w}x{h} image")
                out.append(img[r0:r1, c0:c1].reshape(-1, img.shape[2]))
            return out
        n = max(3, min(15, int(np.sqrt(self._patch_pixel_area()) * self.sample_fraction)))
        pts = self._points(n)
        xi, yi = np.rint(pts[..., 0]).astype(int), np.rint(pts[..., 1]).astype(int)
        if xi.min() < 0 or yi.min() < 0 or xi.max() >= w or yi.max() >= h:
            raise ValidationError(f"{name}: chart corners of layout {self.source} lie outside the {w}x{h} image")
        return list(img[yi, xi])  # nearest pixels: keeps the stored values (clipping stays visible)

    def _patch_pixel_area(self):
        c = self.corners
        area = 0.5 * abs(np.dot(c[:, 0], np.roll(c[:, 1], 1)) - np.dot(c[:, 1], np.roll(c[:, 0], 1)))
        return area / (self.rows * self.cols)

    def to_dict(self):
        d = {"kind": self.kind, "rows": self.rows, "cols": self.cols, "source": self.source}
        if self.kind == "boxes":
            d["boxes"] = np.round(self.boxes, 6).tolist()
        else:
            d["corners"] = np.round(self.corners, 3).tolist()
            d["sample_fraction"] = self.sample_fraction
        return d
