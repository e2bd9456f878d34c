"""The one check of integer settings every config uses."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from embedlab.errors import EmbedlabError, check_positive_integers


@given(st.one_of(st.integers(), st.booleans(), st.floats(allow_nan=False), st.none(), st.text(max_size=3)))
def test_integer_settings_are_refused_alike(value) -> None:
    settings = SimpleNamespace(count=value)
    good = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if good or (value is None):
        check_positive_integers(settings, ["count"], optional=True)
    if not good:
        with pytest.raises(EmbedlabError, match=r"^count must be a positive integer, not "):
            check_positive_integers(settings, ["count"])
