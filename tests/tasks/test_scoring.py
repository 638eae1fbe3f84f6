"""Answer scoring: math-verify equivalence, the normalised string fallback, and robustness to odd output."""

import threading

import math_verify
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grpokit.tasks import Score, score_answer
from grpokit.tasks.scoring import answers_match, normalise


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("\\boxed{1/2}", "0.5"),
        ("\\boxed{0.5}", "\\frac{1}{2}"),
        ("so it is 0.5", "\\frac{1}{2}"),
        ("\\boxed{\\frac12}", "1/2"),
        ("\\boxed{\\dfrac{1}{2}}", "\\frac{1}{2}"),
        ("The total is 1,234.", "1234"),
        ("\\boxed{1,234}", "1234"),
        ("\\boxed{-7}", "-7"),
        ("\\boxed{x = 3}", "3"),
        ("\\boxed{3.0}", "3"),
        ("\\boxed{099}", "99"),
        ("\\boxed{(3, \\frac{\\pi}{2})}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
        ("\\boxed{\\text{Evelyn}}", "Evelyn"),
    ],
)
def test_equivalent_answers_score_one(response, answer):
    score = score_answer(response, answer)
    assert (score.reward, score.correct, score.parsed) == (1.0, True, True)


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("\\boxed{0.4}", "\\frac{1}{2}"),
        ("\\boxed{42.001}", "42"),
        ("\\boxed{3}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
        ("\\boxed{7}", "-7"),
        ("I think 5 but \\boxed{6}", "5"),
    ],
)
def test_wrong_answers_score_zero_but_count_as_parsed(response, answer):
    score = score_answer(response, answer)
    assert (score.reward, score.correct, score.parsed) == (0.0, False, True)


def test_no_answer_is_unparsed():
    assert score_answer("I do not know.", "42") == Score(reward=0.0, correct=False, parsed=False, extracted=None)


def test_the_extracted_answer_is_reported():
    assert score_answer("a \\boxed{\\frac{1}{2}} b", "0.5").extracted == "\\frac{1}{2}"


def test_normalise_removes_only_spelling():
    assert normalise(" $\\dfrac{1}{2}$ ") == "\\frac{1}{2}"
    assert normalise("\\left( 1,\\! 2 \\right).") == "(1,2)"
    assert normalise("\\text{Evelyn}") == "Evelyn"
    assert normalise("12,345") == "12345"
    assert normalise("\\leftarrow") == "\\leftarrow"


def test_string_equality_decides_when_math_verify_fails(monkeypatch):
    calls = []

    def broken(text, **kwargs):
        calls.append(text)
        raise RuntimeError("math-verify exploded")

    monkeypatch.setattr(math_verify, "parse", broken)
    assert answers_match("\\text{zebra 17}", "zebra17")
    assert not calls, "equal spellings need no math-verify"
    assert not answers_match("zebra 18", "zebra17")
    assert calls, "different spellings go to math-verify, whose failure means 'not equal'"


def test_a_runaway_power_is_cut_off_not_raised():
    assert score_answer("\\boxed{9^{9^{9^{9}}}}", "5").correct is False


def test_scoring_works_outside_the_main_thread():
    results = []
    worker = threading.Thread(target=lambda: results.append(score_answer("\\boxed{2/4}", "0.5")))
    worker.start()
    worker.join()
    assert results[0].correct


@given(st.text(max_size=120))
def test_scoring_never_raises_on_arbitrary_output(response):
    score = score_answer(response, "42")
    assert score.reward in (0.0, 1.0)
    assert score.correct == (score.reward == 1.0)
    assert score.parsed == (score.extracted is not None)


@given(st.sampled_from(["{", "}", "\\boxed{", "\\frac{", "^", "\\sqrt", "1", "/", "0", "x", "=", "\\", "$", " "]))
def test_scoring_survives_latex_debris(piece):
    response = f"\\boxed{{{piece * 5}}} and \\boxed{{{piece}}}"
    assert isinstance(score_answer(response, "\\frac{1}{2}"), Score)
