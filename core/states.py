"""The conversation state machine (PRODUCT.md §3)."""

from __future__ import annotations

from core.models import State

VALID_TRANSITIONS: dict[State, frozenset[State]] = {
    State.BOT_ACTIVE: frozenset({State.PENDING}),
    State.PENDING: frozenset({State.MANAGER_ACTIVE, State.BOT_ACTIVE}),
    State.MANAGER_ACTIVE: frozenset({State.BOT_ACTIVE}),
}


class InvalidTransition(Exception):
    def __init__(self, old: State, new: State) -> None:
        super().__init__(f"invalid transition {old} -> {new}")
        self.old = old
        self.new = new


def check_transition(old: State, new: State) -> None:
    if new not in VALID_TRANSITIONS[old]:
        raise InvalidTransition(old, new)
