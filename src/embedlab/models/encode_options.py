"""Checks on `encode` options shared by every encoder, so all of them refuse bad values alike.

Kept free of torch so that static word-vector models import quickly.
"""

from __future__ import annotations

from embedlab.errors import EmbedlabError, check_positive_integer

CONVERSIONS = ("numpy", "torch")


def check_encode_options(
    batch_size: int, dim: int | None, model_dim: int, convert_to: str, max_tokens: int | None = None
) -> None:
    """Raise a one-line EmbedlabError for a bad batch size, token budget, Matryoshka dim or output type."""
    check_positive_integer("batch_size", batch_size)
    check_positive_integer("max_tokens", max_tokens, optional=True)
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= model_dim):
        raise EmbedlabError(f"dim must be an integer between 1 and {model_dim}, not {dim!r}")
    if convert_to not in CONVERSIONS:
        raise EmbedlabError(f"convert_to must be one of {', '.join(CONVERSIONS)}, not {convert_to!r}")

