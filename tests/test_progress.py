from grpokit.train.progress import step_line

STEP = {"reward/mean": 0.5, "reward/accuracy": 0.25, "response/length": 12.0, "train/grad_norm": 0.1, "time/step_s": 3}


def test_a_step_line_shows_the_loss_metrics_it_has():
    line = step_line(3, {**STEP, "loss/clipfrac": 0.01, "loss/ppo_kl": 0.002, "train/entropy": 0.456})
    assert "clip 0.010" in line and "kl +0.0020" in line and "H 0.456" in line


def test_a_step_with_every_row_skipped_shows_no_made_up_entropy():
    line = step_line(3, {**STEP, "train/grad_norm": 0.0})  # AdamW stepped on a zero gradient
    assert "clip -" in line and "kl -" in line and "H -" in line
    assert "0.000" not in line.split("acc")[1].split("|g|")[0]
