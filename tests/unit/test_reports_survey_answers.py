"""Parsing a survey answer (pure): scores 1–5, optional texts, everything reported at once."""

from __future__ import annotations

import pytest

from models.services.common.errors import ValidationFailed
from models.services.tickets.surveys import AnswerInput, parse_answer


def test_a_valid_answer() -> None:
    answer = parse_answer(
        AnswerInput(
            speed="5", solution=" 3 ", attitude="1", comment="  很好 ", suggestion="", contact=""
        )
    )
    assert (answer.speed, answer.solution, answer.attitude) == (5, 3, 1)
    assert answer.comment == "很好" and answer.suggestion is None and answer.contact is None
    assert answer.lowest == 1


@pytest.mark.parametrize("bad", ["0", "6", "x", "", "3.5", "-1", "٣", "10"])
def test_scores_outside_one_to_five_are_refused(bad: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_answer(AnswerInput(speed=bad, solution="4", attitude="4"))
    assert caught.value.fields == {"speed": "Choose a score from 1 to 5."}


def test_every_problem_at_once() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_answer(AnswerInput(comment="字" * 2001, contact="1" * 201))
    assert set(caught.value.fields) == {"speed", "solution", "attitude", "comment", "contact"}
