"""Chat prompts: the question followed by the boxed-answer instruction."""

from grpokit.tasks import DEFAULT_INSTRUCTION, Problem, build_messages

PROBLEM = Problem(id="t/1", question="What is 2 + 3?", answer="5", source="t")


def test_one_user_message_with_question_then_instruction():
    messages = build_messages(PROBLEM)
    assert messages == [{"role": "user", "content": f"What is 2 + 3?\n\n{DEFAULT_INSTRUCTION}"}]
    assert "\\boxed{}" in DEFAULT_INSTRUCTION


def test_the_instruction_can_be_replaced_or_dropped():
    assert build_messages(PROBLEM, instruction="Answer in \\boxed{}.")[0]["content"].endswith(
        "\n\nAnswer in \\boxed{}."
    )
    assert build_messages(PROBLEM, instruction="")[0]["content"] == "What is 2 + 3?"
