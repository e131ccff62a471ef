"""Evaluation: model-comparison tables and cross-validation."""

from .real_camera import RealBracket, linearisation_error_blocks, load_middlebury_brackets, score_brackets
from .table import DEFAULT_COLUMNS, DEFAULT_PCA_K, ComparisonTable, compare_models, cross_validated_pca, parse_column

__all__ = ["RealBracket", "linearisation_error_blocks", "load_middlebury_brackets", "score_brackets", "DEFAULT_COLUMNS", "DEFAULT_PCA_K", "ComparisonTable", "compare_models", "cross_validated_pca", "parse_column"]
