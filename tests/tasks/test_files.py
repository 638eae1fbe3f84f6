"""JSONL and Parquet loaders on the fixture files, and the errors a malformed file gives."""

import json
import sys
from pathlib import Path

import pytest

from grpokit.tasks import make_task, score_answer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tasks"


def write_jsonl(path, rows):
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


@pytest.mark.parametrize(
    ("fixture", "fmt", "answers"),
    [
        ("gsm8k.jsonl", "gsm8k", ["6", "1250", "68"]),
        ("math500.jsonl", "math", ["\\frac{3}{4}", "\\left( 3, \\frac{\\pi}{2} \\right)", "8"]),
        ("aime.jsonl", "aime", ["24", "24", "099"]),
        ("dapo.jsonl", "dapo", ["4", "25", "14"]),
    ],
)
def test_each_fixture_loads_with_auto_and_explicit_format(fixture, fmt, answers):
    auto = make_task("jsonl", path=FIXTURES / fixture)
    explicit = make_task("jsonl", path=str(FIXTURES / fixture), format=fmt)
    problems = auto.problems("test")
    assert [p.answer for p in problems] == answers
    assert [p.question for p in explicit.problems("train")] == [p.question for p in problems]
    assert all(p.source == auto.name == Path(fixture).stem for p in problems)
    assert [p.meta["row"] for p in problems] == [1, 2, 3]
    assert len({p.id for p in problems}) == 3


def test_ids_come_from_the_id_field_or_the_question_hash():
    math = make_task("jsonl", path=FIXTURES / "math500.jsonl").problems("test")
    assert math[0].id == "math500/test/prealgebra/1.json"
    dapo = make_task("jsonl", path=FIXTURES / "dapo.jsonl", source="dapo17k").problems("test")
    assert dapo[0].id == "dapo17k/9a0c1e52-dapo-mock-0001"
    gsm = make_task("jsonl", path=FIXTURES / "gsm8k.jsonl").problems("test")
    assert all(p.id.startswith("gsm8k/") and len(p.id) == len("gsm8k/") + 16 for p in gsm)


def test_fixture_answers_score_against_boxed_responses():
    for fixture in ("gsm8k.jsonl", "math500.jsonl", "aime.jsonl", "dapo.jsonl"):
        for problem in make_task("jsonl", path=FIXTURES / fixture).problems("test"):
            assert score_answer(f"Done: \\boxed{{{problem.answer}}}", problem.answer).correct


def test_dapo_questions_lose_their_answer_line_instructions():
    question = make_task("jsonl", path=FIXTURES / "dapo.jsonl").problems("test")[0].question
    assert question == "Let $x$ be a real number with $2x + 3 = 11$. Find $x$."


def test_count_takes_a_seeded_shuffle():
    task = make_task("jsonl", path=FIXTURES / "gsm8k.jsonl")
    assert task.problems("train", 2, seed=0) == task.problems("train", 2, seed=0)
    assert {p.answer for p in task.problems("train", 3, seed=4)} == {"6", "1250", "68"}
    with pytest.raises(ValueError, match=r"gsm8k\.jsonl has 3 problems; cannot take count=4"):
        task.problems("train", 4)


def test_a_malformed_row_names_file_line_and_field():
    with pytest.raises(ValueError) as error:
        make_task("jsonl", path=FIXTURES / "malformed.jsonl")
    message = str(error.value)
    assert "malformed.jsonl, line 3:" in message
    assert "missing field 'answer'" in message
    assert "row has keys: question, rationale" in message


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"question": "q", "answer": "#### 1"}', "{not json"], r"bad.jsonl, line 2: invalid JSON"),
        (['{"question": "q", "answer": "#### 1"}', "[1, 2]"], r"bad.jsonl, line 2: expected an object, got list"),
        (['{"question": "q", "answer": "#### 1"}', '{"question": "r", "answer": "7"}'], r"line 2: field 'answer'"),
        (['{"text": "q"}'], r"bad.jsonl, line 1: cannot detect the format"),
        (["", "  "], r"bad.jsonl: no rows"),
        (
            ['{"problem": "a", "answer": "1", "id": 5}', '{"problem": "b", "answer": "2", "id": 5}'],
            r"line 2: id 'bad/5' is already used by a different problem at .*bad.jsonl, line 1",
        ),
    ],
)
def test_broken_files_fail_with_the_place_and_reason(tmp_path, lines, message):
    with pytest.raises(ValueError, match=message):
        make_task("jsonl", path=write_jsonl(tmp_path / "bad.jsonl", lines))


def test_exact_duplicate_rows_are_dropped(tmp_path):
    row = {"question": "What is 1+1?", "answer": "#### 2"}
    task = make_task("jsonl", path=write_jsonl(tmp_path / "dup.jsonl", [row, row, {**row, "question": "1+2?"}]))
    assert [p.meta["row"] for p in task.problems("test")] == [1, 3]


def test_explicit_fields_read_any_layout(tmp_path):
    path = write_jsonl(tmp_path / "custom.jsonl", [{"prompt_text": "2 + 5?", "target": 7}])
    task = make_task("jsonl", path=path, question_field="prompt_text", answer_field="target")
    (problem,) = task.problems("test")
    assert (problem.question, problem.answer) == ("2 + 5?", "7")


def test_a_missing_file_is_named():
    with pytest.raises(FileNotFoundError, match=r"nowhere\.jsonl"):
        make_task("jsonl", path=FIXTURES / "nowhere.jsonl")


def test_parquet_reads_the_same_rows_as_jsonl(tmp_path):
    pa = pytest.importorskip("pyarrow", reason="pyarrow (the 'data' extra) is not installed")
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in (FIXTURES / "dapo.jsonl").read_text().splitlines()]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "dapo.parquet")
    from_parquet = make_task("parquet", path=tmp_path / "dapo.parquet").problems("train")
    from_jsonl = make_task("jsonl", path=FIXTURES / "dapo.jsonl").problems("train")
    assert [(p.id, p.question, p.answer) for p in from_parquet] == [(p.id, p.question, p.answer) for p in from_jsonl]

    broken = [*rows, {**rows[0], "reward_model": {"style": "rule-math", "ground_truth": None}}]
    pq.write_table(pa.Table.from_pylist(broken), tmp_path / "broken.parquet")
    with pytest.raises(ValueError, match=r"broken.parquet, row 4: field 'reward_model': expected a string or number"):
        make_task("parquet", path=tmp_path / "broken.parquet")


def test_parquet_without_pyarrow_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r"pip install 'grpokit\[data\]'"):
        make_task("parquet", path=FIXTURES / "dapo.parquet")
