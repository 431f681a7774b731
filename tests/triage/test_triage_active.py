"""The review order: most uncertain first, near-duplicates and one-type runs pushed back."""

import numpy as np
import pytest

from triage import active
from triage.retrieval import terms


def test_most_uncertain_comes_first_when_tickets_differ() -> None:
    vectors = np.eye(4)
    order = active.select(active.uncertainty([0.9, 0.4, 0.7, 0.55]), vectors, list("abcd"), 4)
    assert order == [1, 3, 2, 0]


def test_margin_from_probabilities_ranks_a_close_call_first() -> None:
    probs = np.array([[0.5, 0.45, 0.05, 0.0], [0.6, 0.1, 0.1, 0.2]])
    u = active.uncertainty(probs)
    assert u[0] > u[1]
    assert u[0] == pytest.approx(0.95)


def test_two_identical_tickets_are_not_both_in_the_first_step() -> None:
    texts = [
        "my parcel never arrived and tracking is stuck",
        "my parcel never arrived and tracking is stuck",
        "how do I change the invoice address",
        "the app crashes when I open settings",
        "I want a refund for the broken kettle",
    ]
    vectors = active.hashed_vectors([terms(t) for t in texts])
    # the duplicates are the two least confident tickets
    order = active.select(active.uncertainty([0.3, 0.3, 0.6, 0.6, 0.6]), vectors, list("abcde"), 3)
    assert 0 in order and 1 not in order


def test_picks_spread_across_predicted_types() -> None:
    # six distinct tickets, the three most uncertain all predicted "problem"
    predicted = ["problem", "problem", "problem", "complaint", "consultation", "after_sales"]
    u = active.uncertainty([0.40, 0.41, 0.42, 0.50, 0.52, 0.55])
    order = active.select(u, np.eye(6), predicted, 4)
    assert order[0] == 0
    assert len({predicted[i] for i in order}) >= 3
    without_spread = active.select(u, np.eye(6), predicted, 4, type_spread=0.0)
    assert [predicted[i] for i in without_spread[:3]] == ["problem"] * 3


def test_selection_is_bounded_and_validates_shapes() -> None:
    assert active.select([], np.zeros((0, 3)), [], 5) == []
    assert sorted(active.select([0.1, 0.2], np.eye(2), ["a", "b"], 10)) == [0, 1]
    with pytest.raises(ValueError):
        active.select([0.1, 0.2], np.eye(3), ["a", "b"], 1)
