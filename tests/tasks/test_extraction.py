"""Answer extraction: the last balanced \\boxed{} or \\fbox{}, else the last number."""

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grpokit.tasks.extraction import extract_answer, last_boxed, last_number


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("so the answer is \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
        ("$\\boxed{ 42 }$", "42"),
        ("first \\boxed{3}, on reflection \\boxed{5}", "5"),
        ("\\fbox{7}", "7"),
        ("\\boxed {x^{2}}", "x^{2}"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("\\boxed{4} then a cut-off \\boxed{\\frac{1}{", "4"),
        ("\\boxed{4} and an empty \\boxed{}", "4"),
        ("\\boxed{\\text{Evelyn}} and 12 later", "\\text{Evelyn}"),
    ],
)
def test_the_last_well_formed_box_wins(response, expected):
    assert extract_answer(response) == expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("I count 3 apples, then 7 more.", "7"),
        ("The total is 1,234.", "1234"),
        ("It costs $1,234,567.50 in all", "1234567.50"),
        ("the result is -12", "-12"),
        ("x = (-4)", "-4"),
        ("7-3=4", "4"),
        ("so x-5 is the factor", "5"),
        ("three quarters: 3/4", "3/4"),
        ("about 0.25 of it", "0.25"),
        ("numbers 1,2,3", "3"),
        ("12,3456", "3456"),
        ("\\frac{1}{2}", "2"),
    ],
)
def test_without_a_box_the_last_number_is_taken(response, expected):
    assert extract_answer(response) == expected


@pytest.mark.parametrize("response", ["", "no numbers here", "\\boxed{}", "\\boxed{unclosed", "v2 and x3"])
def test_nothing_to_extract_gives_none(response):
    assert extract_answer(response) is None


def test_the_parts_are_usable_alone():
    assert last_boxed("12 \\boxed{1} 13") == "1"
    assert last_boxed("12 13") is None
    assert last_number("\\boxed{1} 13") == "13"


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_any_integer_is_read_back_with_or_without_commas(n):
    assert extract_answer(f"The answer is {n:,}.") == str(n)
    assert extract_answer(f"The answer is {n}.") == str(n)
    assert extract_answer(f"\\boxed{{{n}}}") == str(n)


@given(st.text(alphabet=string.ascii_letters + string.digits + " {}$\n.,-", max_size=60), st.integers())
def test_a_final_box_beats_any_text_before_it(text, n):
    assert extract_answer(f"{text} \\boxed{{{n}}}") == str(n)


@given(st.text(max_size=200))
def test_extraction_never_raises(text):
    result = extract_answer(text)
    assert result is None or isinstance(result, str)
