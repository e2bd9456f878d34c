"""The exceptions embedlab raises for problems a user can fix.

Each carries a one-line message; the CLI prints it without a traceback.
"""


class EmbedlabError(Exception):
    """A failure caused by input, files or settings rather than by a bug."""


class InputTypeError(EmbedlabError, TypeError):
    """A text input of the wrong type (None, bytes, a number ...)."""


class ModelLoadError(EmbedlabError, ValueError):
    """A model directory, file or name that cannot be loaded safely."""
