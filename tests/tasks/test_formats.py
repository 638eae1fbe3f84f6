"""Row conventions: detection, answer extraction per format and explicit field overrides."""

import pytest

from grpokit.tasks.formats import KNOWN, Row, RowError, detect, resolve

DAPO_ROW = {
    "prompt": [
        {"role": "system", "content": "Be careful."},
        {
            "role": "user",
            "content": "Solve the following math problem step by step. The last line of your response should be of "
            "the form Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
            'What is $2+2$?\n\nRemember to put your answer on its own line after "Answer:".',
        },
    ],
    "reward_model": {"ground_truth": "4", "style": "rule-math"},
    "extra_info": {"index": "abc-1"},
}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (DAPO_ROW, "dapo"),
        ({"question": "q", "answer": "r\n#### 4"}, "gsm8k"),
        ({"problem": "p", "answer": "4", "solution": "s"}, "math"),
        ({"problem": "p", "solution": "s \\boxed{4}"}, "math"),
        ({"question": "q", "answer": 4}, "aime"),
        ({"text": "q", "label": "4"}, None),
    ],
)
def test_detection_from_keys(row, expected):
    assert detect(row) == expected


def test_gsm8k_takes_the_final_answer_after_the_hashes():
    row = {"question": " How many? ", "answer": "5 * 250 = 1,250\n#### 1,250"}
    assert KNOWN["gsm8k"].read(row) == Row(question="How many?", answer="1250", id=None)
    with pytest.raises(RowError, match=r"field 'answer': has no '#### <final answer>' line"):
        KNOWN["gsm8k"].read({"question": "q", "answer": "just 4"})


def test_math_prefers_answer_then_the_last_box_of_the_solution():
    rows = [
        {"problem": "p", "answer": "\\frac{3}{4}", "unique_id": "test/x/1.json"},
        {"problem": "p", "solution": "first \\boxed{1}, then \\boxed{\\frac{\\pi}{2}}"},
    ]
    assert KNOWN["math"].read(rows[0]) == Row(question="p", answer="\\frac{3}{4}", id="test/x/1.json")
    assert KNOWN["math"].read(rows[1]).answer == "\\frac{\\pi}{2}"
    with pytest.raises(RowError, match=r"field 'solution': has no \\boxed\{\} answer"):
        KNOWN["math"].read({"problem": "p", "solution": "it is 4"})


def test_aime_accepts_problem_or_question_and_numeric_answers():
    assert KNOWN["aime"].read({"problem": "p", "answer": 33, "id": 7}) == Row(question="p", answer="33", id="7")
    assert KNOWN["aime"].read({"question": "q", "answer": "033"}).answer == "033"
    with pytest.raises(RowError, match="field 'answer': expected a string or number, got bool"):
        KNOWN["aime"].read({"problem": "p", "answer": True})


def test_dapo_takes_the_user_message_without_its_answer_line_instructions():
    assert KNOWN["dapo"].read(DAPO_ROW) == Row(question="What is $2+2$?", answer="4", id="abc-1")
    with pytest.raises(RowError, match="field 'reward_model': has no 'ground_truth' key"):
        KNOWN["dapo"].read({**DAPO_ROW, "reward_model": {"style": "rule"}})
    with pytest.raises(RowError, match="field 'prompt': is a list but has no user message"):
        KNOWN["dapo"].read({**DAPO_ROW, "prompt": [{"role": "system", "content": "x"}]})


def test_missing_and_empty_fields_are_named():
    with pytest.raises(RowError, match=r"missing field 'problem' or 'question' \(row has keys: answer, text\)"):
        KNOWN["aime"].read({"text": "q", "answer": "1"})
    with pytest.raises(RowError, match="field 'question' is empty"):
        KNOWN["aime"].read({"question": "  ", "answer": "1"})
    with pytest.raises(RowError, match="field 'answer' gives an empty answer"):
        KNOWN["aime"].read({"question": "q", "answer": ""})


def test_explicit_fields_override_the_format():
    row = {"text": "What is 1+1?", "label": 2, "uid": "u1"}
    fmt, rules = resolve("auto", row, "text", "label", "uid")
    assert fmt == "aime"
    assert rules.read(row) == Row(question="What is 1+1?", answer="2", id="u1")
    fmt, rules = resolve("gsm8k", {"q": "x", "a": "y #### 3"}, "q", "a", None)
    assert rules.read({"q": "x", "a": "y #### 3"}).answer == "3"


def test_undetectable_rows_and_unknown_formats_are_errors():
    with pytest.raises(RowError, match=r"cannot detect the format from its keys \['label', 'text'\]"):
        resolve("auto", {"text": "q", "label": "4"}, None, None, None)
    with pytest.raises(ValueError, match="unknown format 'csv'; known: auto, gsm8k, math, aime, dapo"):
        resolve("csv", {}, None, None, None)
