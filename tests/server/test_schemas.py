"""OpenAI's `input` field: every JSON value is either accepted as texts or refused with a message, never passed on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from embedlab.server.errors import field_path
from embedlab.server.schemas import check_input

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)


@given(JSON)
def test_input_is_texts_or_a_clear_refusal(value):
    try:
        accepted = check_input(value)
    except ValueError as err:
        assert str(err) and "Traceback" not in str(err)
        return
    texts = [accepted] if isinstance(accepted, str) else accepted
    assert texts and all(isinstance(t, str) and t for t in texts)
    assert accepted == value


@pytest.mark.parametrize(
    "location, path",
    [
        (("body", "input"), "input"),
        (("body", "input", 2), "input[2]"),
        (("body", "pairs", 0, 1), "pairs[0][1]"),
        (("body", "filter", "topic"), "filter.topic"),
        (("body",), None),
    ],
)
def test_field_path_names_the_field(location, path):
    assert field_path(location) == path
