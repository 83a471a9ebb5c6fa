"""The one check of a state machine's move, shared by conversations, reservations, returns."""

from __future__ import annotations

import pytest

from crm.errors import IllegalTransition
from crm.models import ConversationStatus, ReservationStatus, ReturnStatus
from crm.services.reservations import TRANSITIONS as RESERVATIONS
from crm.services.returns import TRANSITIONS as RETURNS
from crm.transitions import TransitionTable, check
from dialogue.handoff import OWNERSHIP
from dialogue.handoff import IllegalTransition as ConversationIllegalTransition


def test_a_move_the_table_refuses_is_an_error_naming_the_machine() -> None:
    check(RETURNS, ReturnStatus.REQUESTED, ReturnStatus.RECEIVED)  # allowed: no error
    with pytest.raises(IllegalTransition) as refused:
        check(RETURNS, ReturnStatus.REFUNDED, ReturnStatus.REJECTED)
    assert str(refused.value) == "return cannot go from refunded to rejected"
    with pytest.raises(IllegalTransition, match="reservation cannot go from expired to held"):
        check(RESERVATIONS, ReservationStatus.EXPIRED, ReservationStatus.HELD)


def test_a_conversation_refusal_is_the_type_the_inbox_catches_and_a_domain_error() -> None:
    with pytest.raises(ConversationIllegalTransition) as refused:
        check(OWNERSHIP, ConversationStatus.RESOLVED, ConversationStatus.BOT)
    assert isinstance(refused.value, IllegalTransition)
    assert str(refused.value) == "a conversation cannot go from resolved to bot"
    assert (refused.value.current, refused.value.target) == ("resolved", "bot")


def test_a_table_without_a_row_for_every_state_is_refused_when_written() -> None:
    with pytest.raises(ValueError, match="without a row"):
        TransitionTable[ReturnStatus]("return", {ReturnStatus.REQUESTED: frozenset()})
