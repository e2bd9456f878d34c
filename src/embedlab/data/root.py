"""Where the real datasets live: `EMBEDLAB_DATA`, else `../shared/data` beside the checkout.

Data is never copied into the repository; everything reads it through this one root.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "EMBEDLAB_DATA"
DEFAULT_RELATIVE = Path("..") / "shared" / "data"


def data_root() -> Path:
    """The configured data root; the default is tried from the working directory, then the checkout."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    from_cwd = Path.cwd() / DEFAULT_RELATIVE
    if from_cwd.is_dir():
        return from_cwd.resolve()
    checkout = Path(__file__).resolve().parents[3]  # src/embedlab/data/root.py -> checkout root
    return (checkout / DEFAULT_RELATIVE).resolve()


def dataset_path(*parts: str) -> Path | None:
    """A path under the data root, or None when that dataset is not present on this machine."""
    path = data_root().joinpath(*parts)
    return path if path.exists() else None
