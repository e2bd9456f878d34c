"""The exceptions embedlab raises for problems a user can fix.

Each carries a one-line message; the CLI prints it without a traceback. check_positive_integers is the one
check of integer settings, so every config refuses them in the same words.
"""

from __future__ import annotations

from collections.abc import Iterable


class EmbedlabError(Exception):
    """A failure caused by input, files or settings rather than by a bug."""


class InputTypeError(EmbedlabError, TypeError):
    """A text input of the wrong type (None, bytes, a number ...)."""


class ModelLoadError(EmbedlabError, ValueError):
    """A model directory, file or name that cannot be loaded safely."""


def check_positive_integer(name: str, value: object, *, optional: bool = False) -> None:
    """Refuse, in one line, a `value` that is not an integer of at least 1 (a boolean is not one); with
    `optional`, None means "not set" and passes."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise EmbedlabError(f"{name} must be a positive integer, not {value!r}")


def check_positive_integers(settings: object, names: Iterable[str], *, optional: bool = False) -> None:
    """check_positive_integer for each of `names` on a settings object (a config dataclass)."""
    for name in names:
        check_positive_integer(name, getattr(settings, name), optional=optional)
