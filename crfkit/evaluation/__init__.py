"""Evaluation: model-comparison tables and cross-validation."""

from .table import DEFAULT_COLUMNS, DEFAULT_PCA_K, ComparisonTable, compare_models, cross_validated_pca, parse_column

__all__ = ["DEFAULT_COLUMNS", "DEFAULT_PCA_K", "ComparisonTable", "compare_models", "cross_validated_pca", "parse_column"]
