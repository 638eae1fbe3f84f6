"""Reward of the smoke runs (``reward.custom_reward_function.path``): one a random model earns about half the time.

1 when the response has an even number of characters, else 0, so every group has spread and the advantages, the
losses and DynaMO's statistics all see non-trivial values. ``acc`` is what DynaMO counts as correct.
"""


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    even = len(solution_str) % 2 == 0
    return {"score": 1.0 if even else 0.0, "acc": even}
