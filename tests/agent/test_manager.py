"""The agent loop on scripted policies and toy environments: rows, ids, order, failures, metrics, prompts."""

import time

import pytest

from grpokit.agent.manager import Answer, EnvPool, episode_metrics, run_episodes, step_rows, time_limit
from grpokit.agent.projection import project_action
from grpokit.agent.prompts import History, next_turn_prompt, turn_prompt
from grpokit.core.credit import proxmo_advantages


class Corridor:
    """Walk ``length`` rooms forward to win; ``back`` goes back; anything else: "Nothing happens."."""

    name = "corridor"
    max_turns = 6

    def __init__(self, length=3, fail_on=None, slow_on=None):
        self.length, self.fail_on, self.slow_on = length, fail_on, slow_on

    def _info(self):
        won = self.position >= self.length
        return {
            "admissible_actions": ["forward", "back"],
            "won": won,
            "task": "reach the end",
            "expert_action": "forward",
            "task_type": "walk",
        }

    def reset(self, seed):
        self.position = 0
        return f"You are in room 0 of corridor {seed}.", self._info()

    def step(self, action):
        if action == self.fail_on:
            raise RuntimeError("engine crashed")
        if action == self.slow_on:
            time.sleep(2)
        if action == "forward":
            self.position += 1
        elif action == "back":
            self.position = max(0, self.position - 1)
        else:
            return "Nothing happens.", 0.0, False, self._info()
        won = self.position >= self.length
        return f"You are in room {self.position}.", float(won), won, self._info()


def scripted(choice):
    """A policy that answers with ``choice(conversation)`` inside well-formed tags."""

    def policy(turns):
        return [Answer(f"<think>ok</think><action>{choice(t.conversation)}</action>") for t in turns]

    return policy


def test_rows_are_contiguous_per_trajectory_and_in_time_order():
    turn = {"n": 0}

    def alternate(conversation):
        turn["n"] += 1
        return "forward" if "room 0" in conversation[0]["content"] or turn["n"] % 3 else "back"

    episodes = run_episodes(EnvPool(Corridor), [7, 8], 3, scripted(alternate))
    rows = step_rows(episodes)
    assert [e.traj_id for e in episodes] == ["seed7/0", "seed7/1", "seed7/2", "seed8/0", "seed8/1", "seed8/2"]
    seen = []
    for row in rows:
        if not seen or seen[-1] != row.traj_id:
            assert row.traj_id not in seen
            seen.append(row.traj_id)
    for episode in episodes:
        assert [r.step_index for r in episode.records] == list(range(episode.length))
        assert episode.records[0].anchor.startswith("You are in room 0 of corridor")
        assert all(r.group_id == episode.group_id for r in episode.records)
    assert all(len(e.records) <= 6 for e in episodes)


def test_a_winning_policy_wins_in_the_shortest_path_and_rows_feed_credit():
    episodes = run_episodes(EnvPool(Corridor), [1], 2, scripted(lambda c: "forward"))
    assert all(e.won and e.length == 3 for e in episodes)
    rows = step_rows(episodes)
    assert [r.reward for r in rows] == [0, 0, 1, 0, 0, 1]
    advantages = proxmo_advantages(
        [r.group_id for r in rows],
        [r.traj_id for r in rows],
        [r.anchor for r in rows],
        [r.reward for r in rows],
        [r.valid for r in rows],
    )
    assert advantages.abs().max() < 1e-6  # identical successful trajectories: nothing to prefer


def test_invalid_answers_are_projected_and_counted():
    def policy(turns):
        return [Answer("I will go forward") for _ in turns]

    episodes = run_episodes(EnvPool(Corridor), [0], 1, policy, max_turns=2)
    rows = step_rows(episodes)
    assert [r.valid for r in rows] == [False, False]
    assert rows[0].action == "i will go forward"
    assert episode_metrics(episodes)["agent/invalid_action_rate"] == 1.0


def test_an_env_crash_ends_only_its_trajectory_and_the_env_is_replaced():
    crashing = iter([Corridor(fail_on="forward"), Corridor(), Corridor(), Corridor()])
    pool = EnvPool(lambda: next(crashing))
    episodes = run_episodes(pool, [0], 3, scripted(lambda c: "forward"))
    assert [e.fail_on for e in pool.envs] == [None, None]
    assert len(run_episodes(pool, [0], 3, scripted(lambda c: "forward"))) == 3
    assert [e.fail_on for e in pool.envs] == [None, None, None]
    assert episodes[0].error == "RuntimeError: engine crashed" and not episodes[0].won
    assert episodes[0].records[-1].done and episodes[0].records[-1].error
    assert all(e.won for e in episodes[1:])
    assert episode_metrics(episodes)["agent/env_errors"] == pytest.approx(1 / 3)


def test_a_step_over_the_time_limit_fails_its_trajectory():
    episodes = run_episodes(
        EnvPool(lambda: Corridor(slow_on="forward")), [0], 1, scripted(lambda c: "forward"), step_timeout_s=0.2
    )
    assert episodes[0].error.startswith("TimeoutError")
    with time_limit(1.0):
        time.sleep(0.01)


def test_the_pool_reuses_its_environments_from_batch_to_batch():
    made = []
    pool = EnvPool(lambda: made.append(Corridor()) or made[-1])
    run_episodes(pool, [0, 1], 2, scripted(lambda c: "forward"))
    run_episodes(pool, [2], 3, scripted(lambda c: "forward"))
    assert len(made) == 4 and pool.envs == made


def test_metrics_per_task_type_and_singleton_anchors():
    episodes = run_episodes(EnvPool(Corridor), [0, 1], 2, scripted(lambda c: "forward"))
    metrics = episode_metrics(episodes)
    assert metrics["agent/success"] == 1.0 and metrics["agent/success/walk"] == 1.0
    assert metrics["agent/episode_length"] == 3
    assert metrics["agent/singleton_anchor_share"] == 0.0  # both rollouts of a seed see the same rooms


@pytest.mark.parametrize(
    ("text", "action", "valid"),
    [
        ("<think>go</think><action>Go to Fridge 1</action>", "go to fridge 1", True),
        ("<action>open drawer 2</action>", "open drawer 2", False),
        (
            "<think>x</think> no tags here, take the last thirty characters of it",
            "the last thirty characters of it",
            False,
        ),
        ("<think>这是</think><action>look</action>", "look", False),
        ("<think>a</think><action>first</action><action>second</action>", "first", True),
    ],
)
def test_action_projection(text, action, valid):
    got_action, got_valid = project_action(text, fallback_chars=32)
    assert (got_action, got_valid) == (action, valid)


def test_prompt_shows_task_observation_actions_and_recent_history():
    history = History(length=2)
    assert "current observation is: obs0" in turn_prompt("alfworld", "put a mug in fridge", "obs0", ["look"], history)
    for i in range(3):
        history.add(f"obs{i}", f"act{i}")
    prompt = turn_prompt("alfworld", "put a mug in fridge", "obs3", ["look", "help", "go to desk 1"], history)
    assert "ALFRED" in prompt and "put a mug in fridge" in prompt
    assert "[Observation 2: 'obs1', Action 2: 'act1']" in prompt and "obs0" not in prompt
    assert "step 4" in prompt and "'go to desk 1'" in prompt and "'help'" not in prompt
    assert "<action>" in prompt


def test_compact_prompt_is_a_transcript_of_the_recent_steps():
    history = History(length=2)
    first = turn_prompt("alfworld", "put a mug in fridge", "obs0", ["look", "help", "go to desk 1"], history, "compact")
    assert first == (
        "Task: put a mug in fridge\nobs0\nActions: look, go to desk 1\n"
        "Answer with one admissible action inside <action> </action>."
    )
    for i in range(3):
        history.add(f"obs{i}", f"act{i}")
    prompt = turn_prompt("alfworld", "put a mug in fridge", "obs3", ["look"], history, "compact")
    assert "obs0" not in prompt and "act0" not in prompt and "obs1" not in prompt
    assert "\n> act1\nobs2\n> act2\nobs3\nActions: look\n" in prompt
    assert "<think>" not in prompt


@pytest.mark.parametrize("length", [0, 2])
def test_compact_actions_prompt_lists_the_actions_before_the_transcript(length):
    history = History(length=length)
    first = turn_prompt("alfworld", "put a mug in fridge", "obs0", ["look"], history, "compact_actions")
    assert first == turn_prompt("alfworld", "put a mug in fridge", "obs0", ["look"], history, "compact")
    for i in range(4):
        history.add(f"obs{i}", f"act{i}")
    prompt = turn_prompt("alfworld", "put a mug in fridge", "obs4", ["look"], history, "compact_actions")
    earlier = "; ".join(f"act{i}" for i in range(4 - length))
    recent = "".join(f"> act{i}\nobs{i + 1}\n" for i in range(4 - length, 4)) or "obs4\n"
    assert prompt == (
        f"Task: put a mug in fridge\nEarlier actions: {earlier}\n{recent}Actions: look\n"
        "Answer with one admissible action inside <action> </action>."
    )


def test_compact_moves_names_a_later_turns_moves_by_one_phrase():
    actions = ["go to desk 1", "help", "take mug 1 from desk 1", "go to fridge 1", "look"]
    assert next_turn_prompt("obs", actions, "compact") == (
        "obs\nActions: go to desk 1, take mug 1 from desk 1, go to fridge 1, look"
    )
    assert next_turn_prompt("obs", actions, "compact_moves") == (
        "obs\nActions: go to a place of the first list, take mug 1 from desk 1, look"
    )
    assert next_turn_prompt("obs", ["look"], "compact_moves") == next_turn_prompt("obs", ["look"], "compact")
    history = History(length=2)  # the first turn, and every step-row prompt, list the moves
    first = turn_prompt("alfworld", "put a mug in fridge", "obs0", actions, history, "compact_moves")
    assert first == turn_prompt("alfworld", "put a mug in fridge", "obs0", actions, history, "compact")


def test_compact_answers_are_valid_without_think_tags_and_full_ones_are_not():
    assert project_action("<action>Go to desk 1</action>", think=False) == ("go to desk 1", True)
    assert project_action("<action>go to desk 1</action>") == ("go to desk 1", False)
    assert project_action("go to desk 1", think=False) == ("go to desk 1", False)


@pytest.mark.parametrize(
    ("style", "answer", "valid"),
    [
        ("compact", "<action>forward</action>", True),
        ("compact_actions", "<action>forward</action>", True),
        ("full", "<action>forward</action>", False),
    ],
)
def test_run_episodes_projects_answers_by_the_prompt_style(style, answer, valid):
    seen = []

    def policy(turns):
        seen.extend(t.conversation[0]["content"] for t in turns)
        return [Answer(answer) for _ in turns]

    episodes = run_episodes(EnvPool(Corridor), [1], 1, policy, prompt_style=style)
    assert episodes[0].won and all(r.valid is valid for r in episodes[0].records)
    assert seen[0].startswith("Task: reach the end\n") is (style != "full")
