"""Evaluators: how every claim about an embedding model is judged, exactly and reproducibly."""

from embedlab.evaluation.result import EvalResult

__all__ = ["EvalResult"]
