"""Exposure-bracket calibration and HDR merging.

Data flows one way: images -> :mod:`~crfkit.bracket.samples` (stratified,
screened pixels) -> a registry of :mod:`~crfkit.bracket.solvers` (model
self-calibration, Debevec, Robertson, Mitsunaga-Nayar) ->
:class:`BracketCalibration` (curves, times, residuals, bootstrap band) ->
:mod:`~crfkit.bracket.merge` (noise-aware HDR merge).
"""

from .calibrate import BracketCalibration, calibrate_bracket
from .inputs import Bracket, read_bracket
from .merge import align_images, exposure_disagreement, merge_bracket
from .samples import BracketSamples, sample_bracket
from .solvers import SOLVERS, BracketSolver, get_solver, register_solver

__all__ = [
    "SOLVERS",
    "Bracket",
    "BracketCalibration",
    "BracketSamples",
    "BracketSolver",
    "align_images",
    "calibrate_bracket",
    "exposure_disagreement",
    "get_solver",
    "merge_bracket",
    "read_bracket",
    "register_solver",
    "sample_bracket",
]
