"""The grpokit command as a user runs it: list, train (and resume), eval, plot, errors."""

import json
import os

import pytest
import torch

from grpokit.cli import main
from grpokit.evaluate import EvalResult
from grpokit.train import factory
from tests.helpers import PARITY, REPO, ParityRoom

TINY = str(REPO / "configs" / "tiny-test.yaml")
FIXTURES = REPO / "tests" / "fixtures" / "tasks"


def assert_one_line_error(capsys, code: int, fragment: str) -> None:
    """Exit code 2 and exactly one line ``error: ...`` on stderr that contains ``fragment``; no traceback."""
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert fragment in lines[0]
    assert "Traceback" not in captured.err + captured.out


def test_list_shows_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    names = ("dgpo", "cispo", "grpo", "rloo", "proxmo", "gigpo", "neyman", "arithmetic", "webshop", "alfworld")
    for name in (*names, "smollm2-135m-instruct"):
        assert name in out


@pytest.mark.slow
def test_train_then_resume_then_plot(tmp_path, capsys):
    run = tmp_path / "run"
    args = [
        "train",
        "--config",
        str(REPO / "configs" / "tiny-test.yaml"),
        f"run_dir={run}",
        f"task.name={PARITY}",
        "task.params={}",
        "task.train_size=8",
        "tensorboard=true",
        "steps=2",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "held-out accuracy before training" in out and "gain" in out
    for name in ("config.yaml", "metrics.jsonl", "eval.json", "checkpoints/latest", "plots/curves.png"):
        assert (run / name).exists(), name
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert json.loads((run / "eval.json").read_text())["steps"] == 2

    metrics = (run / "metrics.jsonl").read_text()
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 0
    assert capsys.readouterr().out == f"grpokit: {run} already finished at step 2; nothing to do\n"
    assert (run / "metrics.jsonl").read_text() == metrics
    assert main(["plot", str(run)]) == 0
    assert (run / "plots" / "curves.png").stat().st_size > 10_000


def test_train_with_an_unknown_key_names_it(capsys):
    assert_one_line_error(capsys, main(["train", "--config", TINY, "stepz=3"]), "did you mean steps?")


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["loss=grpoo"], "error: loss: unknown policy loss 'grpoo'; known: cegppo, cispo, dgpo"),
        (["advantage=gae"], "error: advantage: unknown advantage estimator 'gae'; known: dr_grpo, grpo, rloo"),
        (["allocation.rule=greedy"], "error: allocation.rule: unknown allocation rule 'greedy'; known: neyman"),
        (["task.name=gsm9k"], "error: task.name: unknown task 'gsm9k'; known: arithmetic"),
        (["agent.env=nethack"], "error: agent.env: unknown environment 'nethack'; known: alfworld"),
        (
            ["agent.env=webshop", "agent.credit=gae"],
            "error: agent.credit: unknown credit estimator 'gae'; known: gigpo",
        ),
        (["task.name=jsonl", "task.params={path: no.jsonl}"], "error: task.params.path: data file no.jsonl does not"),
        (
            ["task.name=jsonl", f"task.params={{path: {FIXTURES / 'malformed.jsonl'}}}"],
            "malformed.jsonl, line 3: missing field 'answer' (row has keys: question, rationale)",
        ),
        (["task.params={digits: 0}"], "error: task: arithmetic: digits must be >= 1, got 0"),
        (["eval.split=valid"], "error: eval: task 'arithmetic' has no split 'valid'; it has: train, test"),
        (["loss_params={n: -2}"], "error: loss_params: n must be >= -1"),
        (["loss_params={eps_low: 1.5}"], "error: loss_params: eps_low must be in (0, 1)"),
        (["lr=-1e-5"], "error: lr must be >= 0, got -1e-05"),
        (["steps=-1"], "error: steps must be >= 0, got -1"),
        (["group_size=1"], "error: group_size must be >= 2 with the group-relative advantage estimator 'grpo'"),
        (["temperature=-1"], "error: temperature must be >= 0"),
        (["top_p=2"], "error: top_p must be in (0, 1], got 2.0"),
    ],
)
def test_a_mistake_in_train_is_one_line_and_leaves_no_run_directory(tmp_path, capsys, overrides, fragment):
    run = tmp_path / "run"
    assert_one_line_error(capsys, main(["train", "--config", TINY, f"run_dir={run}", *overrides]), fragment)
    assert not run.exists()


def test_broken_yaml_names_the_file_and_line(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("steps: 3\nloss: [dgpo\nlr: 1.0e-5\n")
    code = main(["train", "--config", str(broken), f"run_dir={tmp_path / 'run'}"])
    assert_one_line_error(capsys, code, f"error: {broken}: not valid YAML: line 3, column 3: expected ',' or ']'")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("files", "fragment"), [(["config.json"], "has no weights"), (["x.safetensors"], "has no tokenizer")]
)
def test_a_model_directory_without_weights_or_tokenizer_is_one_line(tmp_path, capsys, files, fragment):
    model = tmp_path / "model"
    model.mkdir()
    for name in files:
        (model / name).write_text("{}")
    code = main(["train", "--config", TINY, f"run_dir={tmp_path / 'run'}", f"model.name={model}"])
    assert_one_line_error(capsys, code, f"error: model.name: model directory {model} {fragment}")
    assert not (tmp_path / "run").exists()


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    code = main(["train", "--resume", str(tmp_path)])
    assert_one_line_error(capsys, code, f"error: {tmp_path} has no checkpoint to resume from")


class RunsCode:
    """Unpickling this calls os.system, which here creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_resume_refuses_a_checkpoint_that_would_run_code(tmp_path, capsys):
    checkpoint = tmp_path / "checkpoints" / "step_000001"
    checkpoint.mkdir(parents=True)
    (tmp_path / "checkpoints" / "latest").write_text("step_000001")
    marker = tmp_path / "executed"
    torch.save({"step": 1, "optimizer": RunsCode(marker)}, checkpoint / "trainer_state.pt")
    code = main(["train", "--resume", str(tmp_path)])
    state = checkpoint / "trainer_state.pt"
    assert_one_line_error(
        capsys, code, f"error: refusing to load {state}: it contains code/objects that are not plain data"
    )
    assert not marker.exists()
    torch.load(state, weights_only=False)  # the control: an unguarded load runs the payload
    assert marker.exists()


def test_resuming_a_finished_run_changes_nothing(tmp_path, capsys):
    checkpoint = tmp_path / "checkpoints" / "step_000002"
    checkpoint.mkdir(parents=True)
    (tmp_path / "checkpoints" / "latest").write_text("step_000002")
    torch.save({}, checkpoint / "trainer_state.pt")
    (tmp_path / "config.yaml").write_text("steps: 2\n")
    (tmp_path / "eval.json").write_text("{}\n")
    (tmp_path / "metrics.jsonl").write_text('{"step": 2, "eval/accuracy": 0.5}\n')
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    assert main(["train", "--resume", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"grpokit: {tmp_path} already finished at step 2; nothing to do\n"
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


def test_debug_shows_the_traceback_of_a_user_error(monkeypatch, capsys):
    monkeypatch.setenv("GRPOKIT_DEBUG", "1")
    assert main(["train", "--config", TINY, "loss=grpoo"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.splitlines()[-1].startswith("error: loss: unknown policy loss 'grpoo'")


def test_a_bug_keeps_its_traceback(monkeypatch):
    def broken(args):
        raise KeyError("a bug")

    monkeypatch.setattr("grpokit.cli._list", broken)
    with pytest.raises(KeyError, match="a bug"):
        main(["list"])


def test_eval_prints_json(capsys):
    code = main(
        [
            "eval",
            "--model",
            "tiny-random",
            "--task",
            "arithmetic",
            "--problems",
            "3",
            "--max-new-tokens",
            "4",
            "--samples",
            "2",
            "--device",
            "cpu",
            "digits=1",
            "operations=+",
            "test_fraction=0.5",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["problems"] == 3 and 0 <= result["accuracy"] <= 1 and "pass@2" in result


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--problems", "0"], "error: --problems must be >= 1, got 0"),
        (["--problems", "many"], "error: grpokit eval: argument --problems: invalid int value: 'many'"),
        (["--samples", "-1"], "error: --samples must be >= 0, got -1"),
        (["--temperature", "-1"], "error: --temperature must be >= 0, got -1.0"),
        (["--max-new-tokens", "0"], "error: --max-new-tokens must be >= 1, got 0"),
        (["--dtype", "fp8"], "error: --dtype: unknown dtype 'fp8'"),
        (["--device", "gpu"], "error: --device: unknown device 'gpu'"),
        (["--model", "./no/such/model"], "error: --model: model directory ./no/such/model does not exist"),
        (["--task", "gsm9k"], "error: --task: unknown task 'gsm9k'; known: arithmetic"),
        (["digitz=2"], "error: task 'arithmetic' got unknown parameter(s) digitz; it accepts: digits"),
        (["digits=two"], "error: digits: expected int, got 'two' (str)"),
        (["--split", "valid"], "error: task: task 'arithmetic' has no split 'valid'; it has: train, test"),
        (["--task", "jsonl", "path=no.jsonl"], "error: path: data file no.jsonl does not exist"),
        (["--task", "jsonl", f"path={FIXTURES / 'malformed.jsonl'}"], "malformed.jsonl, line 3: missing field"),
    ],
)
def test_a_mistake_in_eval_is_one_line(capsys, args, fragment):
    assert_one_line_error(capsys, main(["eval", "--model", "tiny-random", "--device", "cpu", *args]), fragment)


def test_eval_run_evaluates_a_runs_checkpoint_with_overrides(tmp_path, capsys):
    run = tmp_path / "run"
    agent = [f"agent.env={ParityRoom.name}", "agent.tasks_per_step=2", "group_size=2", "eval.problems=2"]
    assert main(["train", "--config", TINY, f"run_dir={run}", "steps=1", *agent]) == 0
    capsys.readouterr()
    assert main(["eval", "--run", str(run), "eval.split=valid", "eval.problems=3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    folder = run / "evals" / "step_000001-valid"
    assert printed["folder"] == str(folder) and printed["problems"] == 3
    assert json.loads((folder / "eval.json").read_text()) == printed
    assert len((folder / "eval_episodes.jsonl").read_text().splitlines()) == 3

    code = main(["eval", "--run", str(run), "--problems", "5"])
    assert_one_line_error(capsys, code, "--run evaluates as the run's config says; instead of --problems use overrides")
    assert_one_line_error(capsys, main(["eval", "--run", str(tmp_path)]), "has no checkpoint to evaluate")
    code = main(["eval", "--run", str(run), "--step", "0"])  # the starting point was replaced (keep_checkpoints=1)
    assert_one_line_error(capsys, code, "keeps no checkpoint of step 0; it keeps steps [1] (keep_checkpoints)")
    code = main(["eval", "--model", "tiny-random", "--step", "0"])
    assert_one_line_error(capsys, code, "--step chooses one of a run's checkpoints: give it with --run RUN_DIR")


def test_eval_run_against_an_earlier_checkpoint_pairs_their_games(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    agent = [f"agent.env={ParityRoom.name}", "agent.tasks_per_step=2", "group_size=2", "eval.problems=2"]
    assert main(["train", "--config", TINY, f"run_dir={run}", "steps=1", "keep_checkpoints=2", *agent]) == 0
    capsys.readouterr()
    code = main(["eval", "--run", str(run), "--step", "7", "--against", "0"])
    assert_one_line_error(capsys, code, "keeps no checkpoint of step 7")
    assert not (run / "evals").exists()  # refused before step 0 played
    code = main(["eval", "--run", str(run), "--against", "5"])
    assert_one_line_error(capsys, code, "keeps no checkpoint of step 5; it keeps steps [0, 1] (keep_checkpoints)")
    code = main(["eval", "--model", "tiny-random", "--against", "0"])
    assert_one_line_error(capsys, code, "--against chooses one of a run's checkpoints: give it with --run RUN_DIR")

    assert main(["eval", "--run", str(run), "--against", "0", "eval.problems=6"]) == 0
    printed = json.loads(capsys.readouterr().out)

    def won(step: int) -> list[float]:
        lines = (run / "evals" / f"step_{step:06d}-test" / "eval_episodes.jsonl").read_text().splitlines()
        return [float(json.loads(line)["won"]) for line in lines]

    before, after = won(0), won(1)
    assert len(before) == len(after) == 6 and printed["against_step"] == 0
    assert printed["accuracy_before"] == sum(before) / 6 and printed["accuracy_after"] == sum(after) / 6
    differences = [a - b for a, b in zip(after, before, strict=True)]
    assert printed["gain"] == pytest.approx(sum(differences) / 6)
    assert printed["gain_se"] == pytest.approx(float(torch.tensor(differences).std() / 6**0.5))
    assert json.loads((run / "evals" / "step_000001-test" / "eval.json").read_text()) == printed

    # Which checkpoint is "before": the tiny policy plays both alike, so give the two checkpoints different games.
    results = {0: EvalResult([0.0, 1.0], 1, 1), 1: EvalResult([1.0, 1.0], 1, 1)}
    monkeypatch.setattr(
        factory, "evaluate_run", lambda _run, _params, step: (results[1 if step is None else step], tmp_path)
    )
    assert main(["eval", "--run", str(run), "--against", "0"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["accuracy_before"], printed["accuracy_after"], printed["gain"]) == (0.5, 1.0, 0.5)


def test_a_missing_argument_or_command_is_one_line(capsys):
    assert_one_line_error(capsys, main(["eval"]), "error: grpokit eval: one of the arguments --model --run is required")
    code = main(["eval", "--model", "tiny-random", "--run", "runs/x"])
    assert_one_line_error(capsys, code, "argument --run: not allowed with argument --model")
    assert_one_line_error(capsys, main(["trian"]), "error: grpokit: argument command: invalid choice: 'trian'")
    assert_one_line_error(capsys, main(["plot", "nowhere"]), "is nowhere a grpokit run directory?")


def test_help_config_lists_keys(capsys):
    assert main(["train", "--help-config"]) == 0
    assert "allocation.rule" in capsys.readouterr().out
