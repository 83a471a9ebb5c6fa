"""Explicit state machines: a transition table per machine, and the one check of a move.

Each machine (a conversation's owner, a reservation, a return) writes its table beside
its ASCII diagram, in the module that moves it; `check` is the only place that says no.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from crm.errors import IllegalTransition

S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True)
class TransitionTable(Generic[S]):
    """From each state of a machine, the states it may move to (none: a final state).

    `what` names the machine in the error ("reservation"); `illegal`, when given, builds
    the error instead (a subclass of IllegalTransition that its callers catch).
    """

    what: str
    moves: Mapping[S, frozenset[S]]
    illegal: Callable[[S, S], IllegalTransition] | None = None

    def __post_init__(self) -> None:
        states = {type(state) for state in self.moves}
        if len(states) != 1:
            raise ValueError(f"a {self.what} table takes the states of one enum")
        missing = set(states.pop()) - set(self.moves)
        if missing:  # every state has a row, so a move from it never reads a missing key
            raise ValueError(f"{self.what} states without a row: {sorted(missing)}")

    def allows(self, current: S, target: S) -> bool:
        return target in self.moves[current]

    def error(self, current: S, target: S) -> IllegalTransition:
        """The error for a move the table refuses, or one a concurrent move made stale."""
        if self.illegal is not None:
            return self.illegal(current, target)
        return IllegalTransition(self.what, current, target)


def check(table: TransitionTable[S], current: S, target: S) -> None:
    """Raise the table's IllegalTransition unless it allows current -> target."""
    if not table.allows(current, target):
        raise table.error(current, target)
