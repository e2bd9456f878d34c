"""Validation of the texts handed to every encoder.

One place decides what counts as a text so that all encoders reject bad input the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

from embedlab.errors import InputTypeError


def as_text_list(texts: str | Iterable[str]) -> tuple[list[str], bool]:
    """Return the texts as a list and whether a single bare string was given.

    Raises InputTypeError naming the index of the first item that is not a string.
    """
    if texts is None:
        raise InputTypeError("texts is None: pass a string or a list of strings")
    if isinstance(texts, str):
        return [texts], True
    if isinstance(texts, (bytes, bytearray)):
        raise InputTypeError("texts is bytes: decode it to str first")
    try:
        items = list(texts)
    except TypeError:
        raise InputTypeError(
            f"texts must be a string or a list of strings, not {type(texts).__name__}"
        ) from None
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise InputTypeError(
                f"texts[{i}] is {type(item).__name__}, not str: every item must be a string"
            )
    return items, False
