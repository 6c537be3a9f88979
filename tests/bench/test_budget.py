"""The full run's time budget: which configurations it skips."""

from bench.__main__ import over_budget


def test_nothing_is_skipped_before_anything_ran():
    assert not over_budget(0.0, {}, 1, budget=10)


def test_a_configuration_is_predicted_from_the_slowest_with_its_process_count():
    took = {1: [89.0, 76.0], 2: [63.0]}
    # x2: 63 s expected, so starting at 228 s still ends inside 315 s ...
    assert not over_budget(228.0, took, 2, budget=315)
    # ... while another x1 (89 s) would not.
    assert over_budget(228.0, took, 1, budget=315)


def test_the_first_of_its_kind_is_predicted_from_the_slowest_of_any():
    took = {1: [89.0, 76.0]}
    assert not over_budget(165.0, took, 2, budget=315)
    assert over_budget(230.0, took, 2, budget=315)
