"""What counts as a list of texts, for every encoder."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from embedlab.errors import InputTypeError
from embedlab.models.inputs import as_text_list


@given(st.lists(st.text()))
def test_lists_tuples_and_generators_of_strings_pass_through(texts):
    assert as_text_list(texts) == (texts, False)
    assert as_text_list(tuple(texts)) == (texts, False)
    assert as_text_list(t for t in texts) == (texts, False)


@given(st.text())
def test_a_bare_string_is_one_text(text):
    assert as_text_list(text) == ([text], True)


def test_numpy_string_arrays_are_accepted():
    assert as_text_list(np.array(["a", "b"])) == (["a", "b"], False)


@given(st.lists(st.text(), max_size=5), st.one_of(st.integers(), st.none(), st.floats(), st.binary()))
def test_first_non_string_is_named_by_index(prefix, bad):
    with pytest.raises(InputTypeError, match=rf"texts\[{len(prefix)}\] is"):
        as_text_list([*prefix, bad, "after"])


@pytest.mark.parametrize("bad", [None, 3, b"raw", 2.5])
def test_non_text_containers_are_refused(bad):
    with pytest.raises(TypeError):
        as_text_list(bad)
