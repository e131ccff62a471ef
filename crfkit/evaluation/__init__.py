"""Evaluation: model-comparison tables and cross-validation."""

from .real_camera import (RealBracket, hdr_error_blocks, linearisation_error_blocks, load_middlebury_brackets,
                          raw_reference_blocks, score_brackets, score_merge, score_merges)
from .table import DEFAULT_COLUMNS, DEFAULT_PCA_K, ComparisonTable, compare_models, cross_validated_pca, parse_column

__all__ = ["RealBracket", "hdr_error_blocks", "linearisation_error_blocks", "load_middlebury_brackets",
           "raw_reference_blocks", "score_brackets", "score_merge", "score_merges", "DEFAULT_COLUMNS", "DEFAULT_PCA_K", "ComparisonTable", "compare_models", "cross_validated_pca", "parse_column"]
