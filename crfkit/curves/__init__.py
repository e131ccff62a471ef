"""Curves and curve sets: the one representation of a CRF used everywhere."""

from .curve import GRID, GRID_SIZE, Curve
from .curveset import CurveIndexError, CurveSet
from .image import apply_curve, channel_curves, linearize

__all__ = ["GRID", "GRID_SIZE", "Curve", "CurveIndexError", "CurveSet", "apply_curve", "channel_curves", "linearize"]
