"""The life of an accepted message on the async channel, as pure functions: states, transitions, retry schedule.

::

    accepted ──▶ ON_DELIVERY ──(attempt succeeded / pulled)──────────────▶ DELIVERED
                     │  ▲ (attempt failed, attempts left: stays, retried after backoff)
                     │  └──────────────(recipient asks RESEND)────────────┐
                     └──(attempts exhausted / recipient refused)──▶ NOT_DELIVERED ──(channel stops)──▶ DELIVERY_STOPPED
    DELIVERED ──(recipient reports MESSAGE_NOT_ACCTEPTED)──▶ ON_DELIVERY (RESEND) or NOT_DELIVERED (NOT_RESEND)

DELIVERY_STOPPED is final. Any other move is refused with :class:`IllegalTransition`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from shlyuz.shep.async_events import MessageState

S = MessageState
ALLOWED: dict[MessageState, frozenset[MessageState]] = {
    S.ON_DELIVERY: frozenset({S.DELIVERED, S.NOT_DELIVERED}),
    S.DELIVERED: frozenset({S.ON_DELIVERY, S.NOT_DELIVERED}),
    S.NOT_DELIVERED: frozenset({S.DELIVERY_STOPPED, S.ON_DELIVERY}),
    S.DELIVERY_STOPPED: frozenset(),
}

STATUS_MESSAGES = {
    S.ON_DELIVERY: "The message is being delivered",
    S.DELIVERED: "The message has been delivered",
    S.NOT_DELIVERED: "The message could not be delivered",
    S.DELIVERY_STOPPED: "Delivery of the message has been stopped",
}


class IllegalTransition(ValueError):
    def __init__(self, current: MessageState, target: MessageState) -> None:
        allowed = ", ".join(sorted(s.value for s in ALLOWED[current])) or "none: it is final"
        super().__init__(f"a message in state {current.value} cannot become {target.value} (allowed: {allowed})")
        self.current, self.target = current, target


def transition(current: MessageState, target: MessageState) -> MessageState:
    """``target`` if the move is allowed, else :class:`IllegalTransition`."""
    if target not in ALLOWED[current]:
        raise IllegalTransition(current, target)
    return target


def is_final(state: MessageState) -> bool:
    return not ALLOWED[state]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how fast a delivery is retried (``async_channel`` settings)."""

    max_attempts: int = 5
    backoff_base: float = 1.0  # seconds before the 2nd attempt
    backoff_max: float = 300.0  # the delay never exceeds this
    jitter: float = 0.2  # ± this fraction of the delay, drawn at random

    def delay(self, attempts_made: int, rand: Callable[[], float] = random.random) -> timedelta:
        """The wait after ``attempts_made`` failed attempts: base·2^(n-1), capped, ± jitter (never negative)."""
        raw = min(self.backoff_max, self.backoff_base * (2 ** max(0, attempts_made - 1)))
        spread = raw * self.jitter * (2 * rand() - 1)
        return timedelta(seconds=max(0.0, min(self.backoff_max, raw + spread)))


@dataclass(frozen=True, slots=True)
class AttemptVerdict:
    """What a failed attempt leads to: another attempt after ``retry_in``, or give up (NOT_DELIVERED)."""

    give_up: bool
    retry_in: timedelta | None


def after_failure(policy: RetryPolicy, attempts_made: int, rand: Callable[[], float] = random.random) -> AttemptVerdict:
    if attempts_made >= policy.max_attempts:
        return AttemptVerdict(True, None)
    return AttemptVerdict(False, policy.delay(attempts_made, rand))
