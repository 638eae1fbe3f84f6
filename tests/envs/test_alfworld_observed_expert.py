"""The observed ALFWorld expert: it reads goals, searches as a text policy must, never sees hidden state, and wins."""

from __future__ import annotations

import inspect
import json
import random
import statistics

import pytest

from grpokit.envs.alfworld import MISSING, TASK_TYPES, available
from grpokit.envs.alfworld.observed_expert import Goal, ObservedExpert, parse_goal, parse_receptacles

needs_alfworld = pytest.mark.skipif(not available(), reason=MISSING)
SIMPLE, LOOK, CLEAN, HEAT, COOL, TWO = TASK_TYPES


# ------------------------------------------------------------------------------------------------ reading texts
@pytest.mark.parametrize(
    ("text", "goal"),
    [
        ("put a mug in diningtable", Goal(SIMPLE, "mug", "diningtable")),
        ("put some spraybottle on toilet", Goal(SIMPLE, "spraybottle", "toilet")),
        ("put a clean butterknife in countertop", Goal(CLEAN, "butterknife", "countertop")),
        ("clean some soapbar and put it in cabinet", Goal(CLEAN, "soapbar", "cabinet")),
        ("put a hot potato in fridge", Goal(HEAT, "potato", "fridge")),
        ("heat some egg and put it in garbagecan", Goal(HEAT, "egg", "garbagecan")),
        ("put a cool tomato in microwave", Goal(COOL, "tomato", "microwave")),
        ("cool some pan and put it in stoveburner", Goal(COOL, "pan", "stoveburner")),
        ("put two cd in safe", Goal(TWO, "cd", "safe")),
        ("find two keychain and put them in dresser", Goal(TWO, "keychain", "dresser")),
        ("look at alarmclock under the desklamp", Goal(LOOK, "alarmclock", toggle="desklamp")),
        ("examine the pillow with the floorlamp", Goal(LOOK, "pillow", toggle="floorlamp")),
        ("Your task is to: put a clean mug in diningtable.", Goal(CLEAN, "mug", "diningtable")),
    ],
)
def test_goal_texts_of_every_template_parse(text, goal):
    assert parse_goal(text) == goal


@pytest.mark.parametrize(
    "text",
    ["put a hot slice of apple in fridge", "put sliced lettuce in countertop", "put a mug of pencil in desk", "dance"],
)
def test_goals_outside_the_six_task_types_are_refused(text):
    with pytest.raises(ValueError, match="cannot parse"):
        parse_goal(text)


def test_receptacles_are_read_from_the_room_description():
    text = (
        "You are in the middle of a room. Looking quickly around you, you see a cabinet 2, an armchair 1, and a bed 1."
    )
    assert parse_receptacles(text) == ["cabinet 2", "armchair 1", "bed 1"]
    with pytest.raises(ValueError, match="room"):
        parse_receptacles("Nothing happens.")


# ------------------------------------------------------------------------------------ deciding, on written texts
def room(receptacles: str, goal: str) -> str:
    return (
        "-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room. Looking quickly around you, you see "
        f"{receptacles}.\n\nYour task is to: {goal}."
    )


def play(expert: ObservedExpert, start: str, transcript: list[tuple[str, str]]) -> None:
    """Check that the expert answers each observation with the expected command (``start`` first)."""
    observation = start
    for expected, answer in transcript:
        admissible = [f"go to {r}" for r in expert.receptacles if r != expert.location] + ["look", expected]
        assert expert.act(observation, admissible) == expected
        assert expert.act("Nothing happens.", admissible) == expected  # an inadmissible command changes nothing
        observation = answer


def test_it_searches_likely_open_places_first_opens_closed_ones_then_cleans_and_puts():
    start = room("a cabinet 2, a cabinet 1, a countertop 1, a drawer 1, a fridge 1, and a sinkbasin 1", "")
    expert = ObservedExpert("clean some mug and put it in fridge", start, prior={"mug": {"cabinet", "countertop"}})
    play(
        expert,
        start,
        [
            ("go to countertop 1", "You arrive at countertop 1. On the countertop 1, you see a apple 1."),
            ("go to cabinet 1", "You arrive at cabinet 1. The cabinet 1 is closed."),
            ("open cabinet 1", "You open the cabinet 1. The cabinet 1 is open. In it, you see nothing."),
            ("go to cabinet 2", "You arrive at cabinet 2. The cabinet 2 is closed."),
            ("open cabinet 2", "You open the cabinet 2. The cabinet 2 is open. In it, you see a mug 3, and a mug 1."),
            ("take mug 3 from cabinet 2", "You pick up the mug 3 from the cabinet 2."),
            ("go to sinkbasin 1", "You arrive at sinkbasin 1. On the sinkbasin 1, you see nothing."),
            ("clean mug 3 with sinkbasin 1", "You clean the mug 3 using the sinkbasin 1."),
            ("go to fridge 1", "You arrive at fridge 1. The fridge 1 is closed."),
            ("open fridge 1", "You open the fridge 1. The fridge 1 is open. In it, you see a egg 1."),
            ("move mug 3 to fridge 1", "You move the mug 3 to the fridge 1."),
        ],
    )


def test_it_remembers_a_lamp_seen_while_searching():
    start = room("a desk 1, a drawer 1, a shelf 1, and a sidetable 1", "")
    expert = ObservedExpert("look at alarmclock under the desklamp", start, prior={"alarmclock": {"desk", "shelf"}})
    play(
        expert,
        start,
        [
            ("go to desk 1", "You arrive at desk 1. On the desk 1, you see a desklamp 1, and a pen 1."),
            ("go to shelf 1", "You arrive at shelf 1. On the shelf 1, you see a alarmclock 2."),
            ("take alarmclock 2 from shelf 1", "You pick up the alarmclock 2 from the shelf 1."),
            ("go to desk 1", "You arrive at desk 1. On the desk 1, you see a desklamp 1, and a pen 1."),
            ("use desklamp 1", "You turn on the desklamp 1."),
        ],
    )


def test_two_objects_the_second_fetched_from_where_it_was_seen():
    start = room("a desk 1, a drawer 1, a safe 1, and a shelf 1", "")
    expert = ObservedExpert("put two cd in safe", start, prior={"cd": {"desk", "drawer", "safe", "shelf"}})
    play(
        expert,
        start,
        [
            ("go to desk 1", "You arrive at desk 1. On the desk 1, you see a cd 1, and a cd 2."),
            ("take cd 1 from desk 1", "You pick up the cd 1 from the desk 1."),
            ("go to safe 1", "You arrive at safe 1. The safe 1 is closed."),
            ("open safe 1", "You open the safe 1. The safe 1 is open. In it, you see nothing."),
            ("move cd 1 to safe 1", "You move the cd 1 to the safe 1."),
            ("go to desk 1", "You arrive at desk 1. On the desk 1, you see a cd 2."),
            ("take cd 2 from desk 1", "You pick up the cd 2 from the desk 1."),
            ("go to safe 1", "You arrive at safe 1. The safe 1 is open. In it, you see a cd 1."),
            ("move cd 2 to safe 1", "You move the cd 2 to the safe 1."),
        ],
    )


def test_it_reads_only_strings():
    """Its whole input is text: the constructor and ``act`` take strings, and all it keeps are strings."""
    params = inspect.signature(ObservedExpert).parameters
    assert [params["goal"].annotation, params["initial_observation"].annotation] == ["str", "str"]
    assert list(inspect.signature(ObservedExpert.act).parameters) == ["self", "observation", "admissible_commands"]
    start = room("a countertop 1, and a fridge 1", "")
    expert = ObservedExpert("put a cool apple in countertop", start, prior={})
    expert.act(start, ["go to countertop 1", "go to fridge 1"])
    expert.act(
        "You arrive at countertop 1. On the countertop 1, you see a apple 1.", ["take apple 1 from countertop 1"]
    )

    def leaves(value):
        if isinstance(value, dict):
            return [leaf for k, v in value.items() for leaf in leaves(k) + leaves(v)]
        if isinstance(value, list | set | frozenset | tuple):
            return [leaf for v in value for leaf in leaves(v)]
        if isinstance(value, Goal):
            return leaves(list(vars(value).values()))
        return [value]

    assert all(isinstance(leaf, str | bool | None) for leaf in leaves(vars(expert)))


# -------------------------------------------------------------------------------------------- in the real games
def run_episode(env, seed: int, detour: int = 0) -> tuple[bool, int, list[tuple[str, list[str], str]]]:
    """Play ``seed`` with the env's ``expert_action`` (after ``detour`` random commands); the text transcript."""
    rng = random.Random(seed)
    obs, info = env.reset(seed=seed)
    transcript, done, turns = [], False, 0
    while not done:
        action = rng.choice(info["admissible_actions"]) if turns < detour else info["expert_action"]
        assert action in info["admissible_actions"]
        transcript.append((obs, info["admissible_actions"], action))
        obs, _, done, info = env.step(action)
        turns += 1
    return info["won"], turns, transcript


def make_env(cache_dir, task_type: str, distractor_types: int, expert: str | bool = "observed", **kwargs):
    from grpokit.envs import make

    return make(
        "alfworld",
        split=kwargs.pop("split", "train"),
        task_types=[task_type],
        cache_dir=cache_dir,
        distractor_types=distractor_types,
        source="generated",
        expert=expert,
        **kwargs,
    )


@pytest.fixture(scope="module")
def game_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("alfworld-games")


@needs_alfworld
@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_it_wins_a_generated_game_of_every_task_type(game_cache, task_type):
    env = make_env(game_cache, task_type, distractor_types=2)
    won, turns, _ = run_episode(env, seed=7)
    assert won and turns <= env.max_turns


@needs_alfworld
def test_it_acts_the_same_on_the_transcript_alone(game_cache):
    """Built from the strings of a recorded episode, with no environment anywhere, it chooses the same commands."""
    env = make_env(game_cache, TWO, distractor_types=2)
    won, _, transcript = run_episode(env, seed=7)
    transcript = json.loads(json.dumps(transcript))  # text only, nothing of the engine left
    first = transcript[0][0]
    replay = ObservedExpert(first.partition("Your task is to: ")[2], first)
    assert won and [replay.act(obs, admissible) for obs, admissible, _ in transcript] == [a for *_, a in transcript]


@needs_alfworld
def test_it_recovers_from_another_agents_detour(game_cache):
    env = make_env(game_cache, CLEAN, distractor_types=2)
    won, _, transcript = run_episode(env, seed=7, detour=5)
    assert won and len(transcript) > 5


@needs_alfworld
def test_expert_parameter_keeps_the_old_booleans_and_names_the_choices(game_cache):
    from grpokit.config import ConfigError
    from grpokit.envs.alfworld import make_alfworld
    from grpokit.validation import check_params

    assert make_env(game_cache, SIMPLE, 2, expert=True).expert == "planner"
    assert make_env(game_cache, SIMPLE, 2, expert=False).expert == "none"
    with pytest.raises(ValueError, match="planner, observed, none"):
        make_env(game_cache, SIMPLE, 2, expert="oracle")
    check_params(make_alfworld, {"expert": "observed"}, "agent.env_params", "environment 'alfworld'")
    with pytest.raises(ConfigError, match=r"agent\.env_params\.expert"):
        check_params(make_alfworld, {"expert": 3}, "agent.env_params", "environment 'alfworld'")


@needs_alfworld
@pytest.mark.slow
@pytest.mark.parametrize("split", ["train", "eval_out_of_distribution"])
@pytest.mark.parametrize("distractor_types", [0, 8])  # small rooms and the default
@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_it_wins_every_game_of_many_seeds(game_cache, task_type, distractor_types, split):
    env = make_env(game_cache, task_type, distractor_types, split=split)
    planner = make_env(game_cache, task_type, distractor_types, expert="planner", split=split)
    results = [run_episode(env, seed)[:2] for seed in range(10)]
    plans = [len(planner.reset(seed)[1]["expert_plan"]) for seed in range(10)]
    assert all(won and turns <= env.max_turns for won, turns in results)
    print(
        f"{task_type} ({split}, {distractor_types} distractor types): 10/10 won, "
        f"{statistics.mean(t for _, t in results):.1f} turns (planner {statistics.mean(plans):.1f})"
    )
