"""DGPO, DynaMO and ProxMO against their baselines: small-scale evidence of the papers' mechanisms.

    .venv/bin/python benchmarks/loss_study.py --study losses --seeds 0 1 2
    .venv/bin/python benchmarks/loss_study.py --study dynamo --seeds 0 1 2
    .venv/bin/python benchmarks/loss_study.py --study credit --seeds 0 1 2     # the LLM agent on ALFWorld
    .venv/bin/python benchmarks/loss_study.py --study bf16 --seeds 0 1 2 3 4 --jobs 2   # bf16 against float32
    .venv/bin/python benchmarks/loss_study.py --study losses --report-only     # tables from finished runs

Each arm of ``losses`` and ``dynamo`` is ``grpokit train --config configs/cpu-demo.yaml`` (the main job), each arm
of ``credit`` ``grpokit train --config configs/alfworld-proxmo-cpu.yaml`` (cloning, then RL with the arm's credit
estimator; 24 steps and 32 held-out games, the preset when the study ran), with the arm's overrides and a seed,
under ``runs/<study>-study/<arm>/seed<k>``; ``--jobs 2`` runs two at a time with one thread each (LoRA runs give the
same answers whatever the thread count). A finished run (``eval.json``) is not run again; an interrupted one starts
over. The report (the table between the ``<!-- table -->`` markers of ``docs/loss-study.md``,
``docs/dynamo-study.md`` or ``docs/credit-study.md``, a curve per arm beside it as a .png) is built from every
finished run under the root, whatever ``--seeds`` says, and from the study's record of earlier runs
(``<doc>-runs.jsonl`` beside the doc, one summary per run, rewritten by every report and committed with it, so that
a study outlives the machine its ``runs/`` were on): per arm and seed the held-out gain ± paired SE, and over the
seeds that every arm has finished the mean gain, the held-out accuracy after training, and averaged over steps the
policy entropy, the share of tokens outside the trust region on each side (``clipfrac_low`` / ``clipfrac_high``: the
tokens whose gradient GRPO drops and DGPO decays), the share of mixed groups, DynaMO's objective sum p(1-p)/n_i
against uniform allocation, the agent's training success and share of singleton anchor groups, and the median
seconds per step.

The bf16 study's bf16 arms run under ``benchmarks/bf16_emulation.py`` on a CPU without native bf16 (bf16 matrix
products computed as float32 products of the bf16 operands, rounded to bf16: torch's own bf16 kernels there take
~20x float32). Its table adds each bf16 arm minus its float32 arm seed by seed (a study's ``baselines``).

The DynaMO study changes two things for every arm, its baseline included: the training set is 24 problems, so each
prompt comes back every 4 steps and has a success history to allocate by (with the main job's 2,000 problems no
prompt recurs in 10 steps and allocation stays uniform), and a prompt may get up to 16 rollouts (``n_max``; at the
default 8 = group_size a budget of 6 x 8 leaves nothing to move). The rollout budget stays 6 x 8 = 48 per step.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from grpokit.evaluate import standard_error
from grpokit.models import cpu_supports_bf16
from grpokit.train.logger import read_metrics

REPO = Path(__file__).resolve().parents[1]
EPS = "eps_low: 0.2, eps_high: 0.2"
PERCENT = {
    "clip low",
    "clip high",
    "mixed groups",
    "train success",
    "singleton anchors",
    "rollouts on mastered",
    "rollouts on unsolved",
}
MARKERS = ("<!-- table -->\n", "<!-- /table -->")


@dataclass(frozen=True)
class Study:
    """One study: the preset every arm trains, the arms' overrides and what the report shows."""

    config: Path
    arms: dict[str, list[str]]  # arm name -> its config overrides
    averages: dict[str, str]  # column -> per-step metrics key, averaged over steps (then the median s/step)
    curve: tuple[str, str]  # the per-step metric plotted for each arm: (metrics key, axis label)
    doc: Path  # docs/<name>: the .md whose table is replaced and the .png beside it
    shared: list[str] = field(default_factory=list)  # overrides for every arm, baseline included
    baselines: dict[str, str] = field(default_factory=dict)  # arm -> the arm it is compared with, seed by seed
    maxima: dict[str, str] = field(default_factory=dict)  # column -> per-step metrics key, its largest value in a run
    collapse: bool = False  # count the runs that collapse: held-out gain < 0, or training reward ends below its start


LOSS_ARMS = {  # each policy loss at eps 0.2 wherever it has one (CISPO: upper bound only; SAPO: its temperatures)
    "ppo (GRPO clip)": ["loss=ppo", f"loss_params={{{EPS}}}"],
    "cispo": ["loss=cispo", "loss_params={eps_high: 0.2}"],
    "gppo": ["loss=gppo", f"loss_params={{{EPS}}}"],
    "sapo": ["loss=sapo", "loss_params={}"],
    "dgpo n=1 m=2": ["loss=dgpo", f"loss_params={{{EPS}, n: 1, m: 2}}"],
    "dgpo n=2 m=4": ["loss=dgpo", f"loss_params={{{EPS}, n: 2, m: 4}}"],
}
OFFPOLICY_ARMS = {  # the same, and DAPO's clip-higher after ppo
    "ppo (GRPO clip)": LOSS_ARMS["ppo (GRPO clip)"],
    "ppo clip-higher": ["loss=ppo", "loss_params={eps_low: 0.2, eps_high: 0.28}"],
    **LOSS_ARMS,
}
BOUNDARY_AVERAGES = {"entropy": "train/entropy", "clip low": "loss/clipfrac_low", "clip high": "loss/clipfrac_high"}

STUDIES = {
    "losses": Study(
        config=REPO / "configs" / "cpu-demo.yaml",
        arms=LOSS_ARMS,
        averages={**BOUNDARY_AVERAGES, "mixed groups": "reward/mixed_groups"},
        curve=("train/entropy", "policy entropy"),
        doc=REPO / "docs" / "loss-study",
    ),
    "dynamo": Study(
        config=REPO / "configs" / "cpu-demo.yaml",
        arms={
            "uniform, no modulation": [],
            "allocation": ["allocation.enabled=true"],
            "modulation": ["modulation.enabled=true"],
        },
        averages={
            "entropy": "train/entropy",
            "mixed groups": "reward/mixed_groups",
            "Σp(1-p)/n": "allocation/bernoulli_variance",
            "uniform Σp(1-p)/n": "allocation/bernoulli_variance_uniform",
        },
        curve=("train/entropy", "policy entropy"),
        doc=REPO / "docs" / "dynamo-study",
        shared=["task.train_size=24", "allocation.n_max=16"],
    ),
    "credit": Study(
        config=REPO / "configs" / "alfworld-proxmo-cpu.yaml",
        arms={
            "GRPO": ["agent.credit=grpo", "agent.credit_params={}"],
            "GiGPO": ["agent.credit=gigpo", "agent.credit_params={}"],
            "ProxMO (paper)": ["agent.credit=proxmo", "agent.credit_params={variant: paper}"],
            "ProxMO (official)": ["agent.credit=proxmo", "agent.credit_params={variant: official}"],
        },
        averages={
            "train success": "agent/success",
            "singleton anchors": "agent/singleton_anchor_share",
        },
        curve=("agent/success", "training success"),
        doc=REPO / "docs" / "credit-study",
        shared=["steps=24", "eval.problems=32", "eval.base_problems=0"],  # the preset as the study ran (2026-12-04)
    ),
    "dgpo-offpolicy": Study(
        config=REPO / "configs" / "studies" / "dgpo-offpolicy.yaml",
        arms=OFFPOLICY_ARMS,
        averages=BOUNDARY_AVERAGES,
        curve=("train/entropy", "policy entropy"),
        doc=REPO / "docs" / "studies" / "dgpo-offpolicy",
        baselines=dict.fromkeys(list(OFFPOLICY_ARMS)[1:], "ppo (GRPO clip)"),
        maxima={"max |g|": "train/grad_norm"},
        collapse=True,
    ),
    "dynamo-mixed": Study(
        config=REPO / "configs" / "studies" / "dynamo-mixed.yaml",
        arms={
            "uniform": [],
            "official": ["allocation.enabled=true", "allocation.rule=official"],
            "neyman": ["allocation.enabled=true", "allocation.rule=neyman"],
            "neyman + modulation": ["allocation.enabled=true", "allocation.rule=neyman", "modulation.enabled=true"],
        },
        averages={
            "mixed groups": "reward/mixed_groups",
            "Σp(1-p)/n": "allocation/bernoulli_variance",
            "uniform Σp(1-p)/n": "allocation/bernoulli_variance_uniform",
            "optimal Σp(1-p)/n": "allocation/bernoulli_variance_optimal",
            "rollouts on mastered": "allocation/rollouts_mastered",
            "rollouts on unsolved": "allocation/rollouts_unsolved",
            "entropy": "train/entropy",
        },
        curve=("allocation/bernoulli_variance", "Σ p(1-p)/n"),
        doc=REPO / "docs" / "studies" / "dynamo-mixed",
        baselines={"official": "uniform", "neyman": "uniform", "neyman + modulation": "neyman"},
        collapse=True,
    ),
    "bf16": Study(
        config=REPO / "configs" / "cpu-demo.yaml",
        arms={
            "float32": ["model.dtype=float32"],
            "bf16 before the fix": [
                "model.dtype=bfloat16",
                "model.float32_lm_head=false",
                "recompute_old_log_probs=false",
                "model.float32_lora_sum=false",
            ],
            "bf16 fixed": ["model.dtype=bfloat16", "model.float32_lora_sum=false"],
            "float32 (amendment)": ["model.dtype=float32"],
            "bf16 fully fixed": ["model.dtype=bfloat16"],
            "bf16 fully fixed, sampler's pi_old": ["model.dtype=bfloat16", "recompute_old_log_probs=false"],
        },
        averages=BOUNDARY_AVERAGES,
        curve=("reward/accuracy", "training accuracy"),
        doc=REPO / "docs" / "studies" / "bf16-study",
        baselines={
            "bf16 before the fix": "float32",
            "bf16 fixed": "float32",
            "bf16 fully fixed": "float32 (amendment)",
            "bf16 fully fixed, sampler's pi_old": "float32 (amendment)",
        },
    ),
}


def slug(arm: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in arm).strip("-")


def run_arm(config: Path, run_dir: Path, overrides: list[str], seed: int, threads: int) -> None:
    if (run_dir / "eval.json").exists():
        return
    shutil.rmtree(run_dir, ignore_errors=True)  # an interrupted run starts over rather than append to its metrics
    command = [sys.executable, "-m", "grpokit.cli", "train", "--config", str(config)]
    if "model.dtype=bfloat16" in overrides and not cpu_supports_bf16():  # torch's fallback kernels: ~20x float32
        command[1:3] = [str(REPO / "benchmarks" / "bf16_emulation.py")]
    command += [f"run_dir={run_dir}", f"seed={seed}", "tensorboard=false", *overrides]
    print(" ".join(command), flush=True)
    started = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    print(f"  {run_dir}: {time.perf_counter() - started:.0f} s", flush=True)


def mean(values: list[float]) -> float:
    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def summarise(run_dir: Path, study: Study) -> dict[str, float]:
    summary = json.loads((run_dir / "eval.json").read_text())
    steps = [row for row in read_metrics(run_dir) if "time/step_s" in row]
    out = {"gain": summary["gain"], "gain_se": summary["gain_se"], "after": summary["accuracy_after"]}
    out.update({name: mean([row.get(key, math.nan) for row in steps]) for name, key in study.averages.items()})
    for name, key in study.maxima.items():
        values = [row[key] for row in steps if isinstance(row.get(key), int | float) and math.isfinite(row[key])]
        out[name] = max(values, default=math.nan)
    rewards = [row.get("reward/mean", math.nan) for row in steps]
    out["collapsed"] = float(summary["gain"] < 0 or mean(rewards[-3:]) < mean(rewards[:1]))
    curve = study.curve[0]
    out["s/step"] = statistics.median(row["time/step_s"] for row in steps)  # robust to a step that waited
    out["curve"] = [row.get(curve, math.nan) for row in steps]
    return out


def with_se(values: list[float]) -> str:
    """``mean ± SE`` of ``values`` (no SE from one value)."""
    return f"{mean(values):+.1f}" + (f" ± {standard_error(values):.1f}" if len(values) > 1 else "")


def cell(name: str, value: float) -> str:
    return f"{100 * value:.2f}%" if name in PERCENT else f"{value:.3g}"


def finished_seeds(arm_dir: Path) -> list[int]:
    """The seeds whose run under ``arm_dir`` finished (has an ``eval.json``), in order."""
    return sorted(int(run.parent.name.removeprefix("seed")) for run in arm_dir.glob("seed*/eval.json"))


def records_file(study: Study) -> Path:
    """The study's committed record of its finished runs, one JSON summary per line."""
    return study.doc.with_name(f"{study.doc.name}-runs.jsonl")


def finished_runs(study: Study, root: Path) -> dict[str, dict[int, dict]]:
    """arm -> seed -> summary of every finished run: the study's record with the runs under ``root`` added (a run on
    disk replaces its line); the merged record is written back."""
    path = records_file(study)
    runs: dict[str, dict[int, dict]] = {arm: {} for arm in study.arms}
    lines = path.read_text().splitlines() if path.exists() else []
    for number, record in enumerate(map(json.loads, lines), start=1):
        arm = record.pop("arm")
        if arm not in runs:
            raise ValueError(f"{path}:{number}: arm {arm!r} is not in the study (its arms: {', '.join(study.arms)})")
        runs[arm][record.pop("seed")] = record
    for arm in study.arms:
        for seed in finished_seeds(root / slug(arm)):
            runs[arm][seed] = summarise(root / slug(arm) / f"seed{seed}", study)
    runs = {arm: dict(sorted(by_seed.items())) for arm, by_seed in runs.items() if by_seed}
    if runs:
        lines = [json.dumps({"arm": arm, "seed": s, **r}) for arm, by_seed in runs.items() for s, r in by_seed.items()]
        path.write_text("\n".join(lines) + "\n")
    return runs


def report(study: Study, root: Path) -> str | None:
    """The study's table from every finished run, under ``root`` or in its record (None when there are none); plots
    the curves.

    The per-seed column shows every finished seed; the means (and the curves) use only the seeds that every arm in
    the table has finished, so that arms are compared on the same seeds. A run recorded without a figure (NaN, or no
    curve) is left out of that figure's mean."""
    runs_of = finished_runs(study, root)
    if not runs_of:
        return None
    done = {arm: list(runs) for arm, runs in runs_of.items()}
    shared = sorted(set.intersection(*(set(seeds) for seeds in done.values())))
    columns = [*study.averages, *study.maxima, "s/step"]
    over = ", ".join(map(str, shared)) or "none"
    header = ["arm", "gain by seed (± paired SE), points", f"mean gain ± SE over seeds {over}", "accuracy after"]
    baselines = {arm: base for arm, base in study.baselines.items() if arm in done and base in done}
    if baselines:
        header += ["minus its baseline, by seed", "mean difference ± SE"]
    header += columns + (["collapsed runs"] if study.collapse else [])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    gains_of, curves = {}, {}
    for arm, runs in runs_of.items():
        per_seed = ", ".join(f"{s}: {100 * r['gain']:+.1f} ± {100 * r['gain_se']:.1f}" for s, r in runs.items())
        rows = [runs[s] for s in shared]
        gains = [100 * r["gain"] for r in rows]
        cells = [arm, per_seed, with_se(gains)]
        cells += [f"{mean([100 * r['after'] for r in rows]):.1f}%"]
        if baselines and arm in baselines:
            base = runs_of[baselines[arm]]
            paired = {s: 100 * (r["gain"] - base[s]["gain"]) for s, r in runs.items() if s in shared}
            by_seed = ", ".join(f"{s}: {d:+.1f}" for s, d in paired.items())
            cells += [f"{baselines[arm]}: {by_seed}", with_se(list(paired.values()))]
        elif baselines:
            cells += ["", ""]
        cells += [cell(name, mean([r[name] for r in rows])) for name in columns]
        if study.collapse:
            collapsed = [str(s) for s, r in runs.items() if r["collapsed"]]
            cells.append(f"{len(collapsed)} of {len(runs)}" + (f" (seeds {', '.join(collapsed)})" if collapsed else ""))
        lines.append("| " + " | ".join(cells) + " |")
        gains_of[arm] = gains
        if any(r["curve"] for r in rows):
            curves[arm] = [r["curve"] for r in rows if r["curve"]]
    plot_study(gains_of, curves, study.curve[1], study.doc.with_suffix(".png"))
    return "\n".join(lines)


def plot_study(gains: dict[str, list[float]], curves: dict[str, list[list[float]]], label: str, path: Path) -> None:
    """Two panels: each arm's held-out gain by seed (dots) with its mean ± SE over the seeds (error bar), and each
    arm's ``label`` over the training steps, mean over the runs that recorded it ± SE (band, from two runs on)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [1, 1.3]})
    for x, values in enumerate(gains.values()):
        finite = [v for v in values if math.isfinite(v)]
        left.scatter([x] * len(finite), finite, s=14, color="grey", zorder=2)
        se = standard_error(finite) if len(finite) > 1 else 0.0
        left.errorbar([x], [mean(finite)], yerr=[se], fmt="o", color="C0", capsize=5, zorder=3)
    left.axhline(0.0, color="black", linewidth=0.6)
    left.set_xticks(range(len(gains)), list(gains), rotation=30, ha="right", fontsize=8)
    left.set_ylabel("held-out gain, points (seeds; mean ± SE)")
    for arm, runs in curves.items():
        length = min(len(c) for c in runs)
        steps = range(1, length + 1)
        means = [mean([c[i] for c in runs]) for i in range(length)]
        line = right.plot(steps, means, label=f"{arm} ({len(runs)})")[0]
        if len(runs) > 1:
            errors = [standard_error([c[i] for c in runs]) for i in range(length)]
            lower = [m - e for m, e in zip(means, errors, strict=True)]
            upper = [m + e for m, e in zip(means, errors, strict=True)]
            right.fill_between(steps, lower, upper, color=line.get_color(), alpha=0.15)
    right.set_xlabel("training step")
    right.set_ylabel(f"{label} (mean ± SE over runs)")
    if curves:
        right.legend(fontsize=7, title="arm (runs)", title_fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", choices=sorted(STUDIES), required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="the seeds to run")
    parser.add_argument("--root", type=Path, help="where the runs go (default runs/<study>-study)")
    parser.add_argument("--report-only", action="store_true", help="only summarise the finished runs")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time, sharing the CPU cores between them")
    parser.add_argument("--arms", nargs="+", help="run only these arms (default: all; the report shows every arm)")
    parser.add_argument("overrides", nargs="*", help="extra config overrides for every arm")
    args = parser.parse_args()
    study = STUDIES[args.study]
    unknown = set(args.arms or []) - set(study.arms)
    if unknown:
        parser.error(f"no arm {', '.join(sorted(unknown))} in study {args.study}; its arms: {', '.join(study.arms)}")
    root = args.root or REPO / "runs" / f"{args.study}-study"
    if not args.report_only:
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
        # seed-major: an interrupted study still has every arm on the first seeds
        queue = [
            (study.config, root / slug(arm) / f"seed{seed}", [*study.shared, *overrides, *args.overrides], seed)
            for seed in args.seeds
            for arm, overrides in study.arms.items()
            if args.arms is None or arm in args.arms
        ]
        with ThreadPoolExecutor(args.jobs) as pool:
            for finished in [pool.submit(run_arm, *item, threads) for item in queue]:
                finished.result()
    table = report(study, root)
    if table is None:
        sys.exit(f"no finished runs under {root} or in {records_file(study)}: the report is left as it is")
    print(table)
    doc = study.doc.with_suffix(".md")
    text = doc.read_text() if doc.exists() else ""
    if all(marker in text for marker in MARKERS):
        head, rest = text.split(MARKERS[0], 1)
        doc.write_text(head + MARKERS[0] + table + "\n" + MARKERS[1] + rest.split(MARKERS[1], 1)[1])


if __name__ == "__main__":
    main()
