"""Camera RAW files through rawpy (``crfkit[raw]``): linear decoding and raw patches.

:func:`read_raw_linear` demosaics to a *linear* RGB image: no gamma curve
(``gamma=(1, 1)``), no auto-brightening, no maximum adjustment
(``adjust_maximum_thr=0``), 16-bit output, black level subtracted and the white
level mapped to full scale by LibRaw; the camera's own colour space is kept
(``output_color=raw``) and white balance is off (unit multipliers) unless asked,
so values stay proportional to the sensor's signal.
:func:`read_raw_mosaic` gives the undemosaiced sensor values normalised with the
black and white levels, for patch statistics per CFA colour.
"""

from pathlib import Path

import numpy as np

from .._optional import require
from .._validation import check_float
from ..curves.curve import short_repr
from ..errors import DataNotFoundError, ParseError, ValidationError

#: File suffixes treated as camera RAW.
RAW_SUFFIXES = (".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".pef", ".raf", ".kdc", ".srw", ".x3f", ".raw")


def _open(path):
    rawpy = require("rawpy", "raw", "RAW decoding")
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"RAW file not found: {path}")
    try:
        return rawpy, rawpy.imread(str(path))
    except Exception as exc:  # rawpy.LibRawFileUnsupportedError, LibRawIOError, ...
        raise ParseError(f"{path}: cannot decode RAW file ({type(exc).__name__}: {exc})") from None


def read_raw_linear(path, white_balance=None, half_size=False):
    """Decode a RAW file to linear RGB in [0, 1].

    Parameters
    ----------
    path : str or Path
    white_balance : None, 'camera', or sequence of 4 floats
        None (default): unit multipliers (no white balance: raw sensor ratios);
        ``'camera'``: the camera's as-shot multipliers; or explicit multipliers.
    half_size : bool
        Decode at half resolution (no demosaicing interpolation: faster, exact averages).

    Returns
    -------
    ndarray (H, W, 3), float64
        Linear values: 0 at the black level, 1 at the white level (saturation).

    Raises
    ------
    DataNotFoundError, ParseError
        Missing or undecodable file (the message names it).
    ValidationError
        ``white_balance`` is none of the above (4 finite multipliers >= 0).
    """
    # the argument is checked before the file is opened: a mistake in it is not the file's
    if white_balance is None:
        wb = {"user_wb": [1.0, 1.0, 1.0, 1.0]}
    elif isinstance(white_balance, str) and white_balance == "camera":
        wb = {"use_camera_wb": True}
    elif isinstance(white_balance, (list, tuple, np.ndarray)) and np.ndim(white_balance) == 1:
        if len(white_balance) != 4:
            raise ValidationError(f"white_balance needs 4 multipliers, got {len(white_balance)}")
        wb = {"user_wb": [check_float(v, f"white_balance[{i}]", low=0.0) for i, v in enumerate(white_balance)]}
    else:
        raise ValidationError("white_balance must be None, 'camera' or 4 multipliers, "
                              f"got {short_repr(white_balance)}")
    rawpy, raw = _open(path)
    with raw:
        kw = dict(gamma=(1, 1), no_auto_bright=True, output_bps=16, adjust_maximum_thr=0.0,
                  output_color=rawpy.ColorSpace.raw, half_size=bool(half_size), user_flip=0, **wb)
        try:
            rgb = raw.postprocess(**kw)
        except Exception as exc:
            raise ParseError(f"{path}: RAW decoding failed ({type(exc).__name__}: {exc})") from None
    return rgb.astype(np.float64) / 65535.0


def read_raw_mosaic(path):
    """Undemosaiced sensor values, normalised by the black and white levels.

    Returns
    -------
    values : ndarray (H, W), float64
        ``(raw - black[colour]) / (white - black[colour])``; 0 = black, 1 = saturation
        (may fall slightly below 0 through noise).
    colors : ndarray (H, W), int
        The CFA colour index of each pixel (0 = R, 1 = G, 2 = B, 3 = second G).
    info : dict
        ``black_level_per_channel``, ``white_level``, ``color_desc``, ``raw_pattern``.
    """
    _, raw = _open(path)
    with raw:
        try:
            vis = raw.raw_image_visible.astype(np.float64)
            cols = np.array(raw.raw_colors_visible, dtype=int)
            black = np.asarray(raw.black_level_per_channel, dtype=float)
            white = float(raw.white_level)
            desc = raw.color_desc.decode("ascii", "replace")
            pattern = np.asarray(raw.raw_pattern).tolist() if raw.raw_pattern is not None else None
        except Exception as exc:
            raise ParseError(f"{path}: cannot read raw sensor data ({type(exc).__name__}: {exc})") from None
    if white <= black.max():
        raise ParseError(f"{path}: white level {white} is not above the black level {black.max()}")
    values = (vis - black[cols]) / (white - black[cols])
    info = {"black_level_per_channel": black.tolist(), "white_level": white, "color_desc": desc,
            "raw_pattern": pattern}
    return values, cols, info


def raw_patch_means(path, layout, trim=0.2):
    """Per-patch linear means of the raw sensor values, by CFA colour (R, G, B).

    The layout's pixel coordinates refer to the *visible raw* image (the size of
    the RAW's mosaic); the two greens are averaged together.

    Returns
    -------
    ndarray (P, 3)
        Trimmed means in [0, 1] of the normalised raw values (NaN where a patch has
        no pixel of that colour).
    """
    values, cols, info = read_raw_mosaic(path)
    rgb_index = np.array([0, 1, 2, 1])[np.clip(cols, 0, 3)]
    if "B" not in info["color_desc"] or len(set(info["color_desc"])) < 3:
        raise ValidationError(f"{path}: raw colour layout {info['color_desc']!r} is not an RGB Bayer pattern")
    v_patches = layout.sample(values[:, :, None], name=str(path))
    c_patches = layout.sample(rgb_index[:, :, None], name=str(path))
    out = np.full((len(v_patches), 3), np.nan)
    for i, (v, c) in enumerate(zip(v_patches, c_patches)):
        for ch in range(3):
            sel = np.sort(v[c[:, 0] == ch, 0])
            if sel.size:
                cut = int(trim * sel.size)
                out[i, ch] = sel[cut:sel.size - cut].mean() if sel.size - 2 * cut > 0 else sel.mean()
    return out
