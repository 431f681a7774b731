"""Priority from urgency × customer level × type, and the board rank built from it."""

from __future__ import annotations

import pytest

from models.enums import CustomerLevel as L
from models.enums import Priority as P
from models.enums import RequestType as T
from models.enums import Urgency as U
from models.services.common.priority import compute_priority, priority_rank


@pytest.mark.parametrize(
    ("urgency", "level", "rtype", "expected"),
    [
        (U.NORMAL, L.NORMAL, None, P.MEDIUM),
        (U.NORMAL, L.VIP, None, P.HIGH),
        (U.NORMAL, L.STRATEGIC, None, P.HIGH),
        (U.LOW, L.NORMAL, None, P.LOW),
        (U.LOW, L.VIP, T.COMPLAINT, P.HIGH),
        (U.NORMAL, L.NORMAL, T.COMPLAINT, P.HIGH),
        (U.URGENT, L.VIP, T.COMPLAINT, P.URGENT),
        (U.NORMAL, L.NORMAL, T.CONSULTATION, P.MEDIUM),
    ],
)
def test_compute_priority(urgency: U, level: L, rtype: T | None, expected: P) -> None:
    assert compute_priority(urgency, level, rtype) is expected


def test_rank_orders_priority_first_then_key_customers() -> None:
    ranks = [
        priority_rank(P.URGENT, L.NORMAL),
        priority_rank(P.HIGH, L.STRATEGIC),
        priority_rank(P.HIGH, L.VIP),
        priority_rank(P.HIGH, L.NORMAL),
        priority_rank(P.LOW, L.STRATEGIC),
    ]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)
