"""The listening quiz: rounds in a random (seeded) order, answers, and the score against chance.

Pure logic, no audio and no storage: a round says which of its two excerpts (A or
B) is the human-written one; a listener's pick is right when it names that one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from statistics import NormalDist

from ..errors import MusicgenError

ROUNDS = 10
SLOTS = ("A", "B")
CONFIDENCE = {1: "Guessing", 2: "Fairly sure", 3: "Sure"}


class QuizError(MusicgenError, ValueError):
    """A quiz asked for something it cannot do; the message says what."""


@dataclass(frozen=True)
class QuizRound:
    """One round: a pair of excerpts and where the human-written one plays."""

    number: int  # 1-based
    pair_id: str  # the excerpt pair (see ``pool.ExcerptPair``)
    human_slot: int  # 0: A is the human one, 1: B

    def is_right(self, picked_slot: int) -> bool:
        """Whether picking ``picked_slot`` (0 = A, 1 = B) names the human-written excerpt."""
        if picked_slot not in (0, 1):
            raise QuizError("Pick excerpt A (0) or B (1).")
        return picked_slot == self.human_slot


def plan_rounds(pair_ids: Sequence[str], seed: int, n_rounds: int = ROUNDS) -> list[QuizRound]:
    """``n_rounds`` rounds over distinct pairs; which pairs, and A or B for the human one, drawn
    from ``random.Random(seed)`` (the same seed plans the same quiz).

    Raises
    ------
    QuizError
        When there are fewer distinct pairs than rounds.
    """
    ids = sorted(set(pair_ids))  # the order the pairs were made in does not matter
    if len(ids) < n_rounds:
        raise QuizError(f"A quiz of {n_rounds} rounds needs {n_rounds} excerpt pairs; there are {len(ids)}.")
    rng = random.Random(seed)
    chosen = rng.sample(ids, n_rounds)
    return [QuizRound(i + 1, pair, rng.randrange(2)) for i, pair in enumerate(chosen)]


@dataclass
class Quiz:
    """A quiz in progress: its rounds and the answers so far."""

    quiz_id: str
    rounds: list[QuizRound]
    picks: list[int] = field(default_factory=list)  # the slot picked in each answered round
    confidence: list[int | None] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return len(self.picks) == len(self.rounds)

    @property
    def current(self) -> QuizRound:
        """The round to answer next (the last one once finished)."""
        return self.rounds[min(len(self.picks), len(self.rounds) - 1)]

    def answer(self, picked_slot: int, confidence: int | None = None) -> bool:
        """Record the pick for the current round; returns whether it was right."""
        if self.finished:
            raise QuizError("This quiz is over; start a new one.")
        right = self.current.is_right(picked_slot)
        self.picks.append(picked_slot)
        self.confidence.append(confidence)
        return right

    @property
    def correct(self) -> int:
        """Rounds where the listener picked the human-written excerpt."""
        return sum(r.human_slot == p for r, p in zip(self.rounds, self.picks, strict=False))

    def score(self) -> QuizScore:
        """The score of the rounds answered so far."""
        return QuizScore(self.correct, len(self.picks))


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for ``k`` successes in ``n`` trials (Wilson 1927).

    Unlike ``p ± z·sqrt(p(1-p)/n)`` it stays inside [0, 1] and is sensible at
    0 or ``n`` successes. With no trials it is the whole range, (0, 1).
    """
    if not 0 <= k <= n:
        raise QuizError(f"{k} successes in {n} trials is impossible.")
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def p_at_least(k: int, n: int, p: float = 0.5) -> float:
    """P(X >= k) for X ~ Binomial(n, p): how often guessing alone does at least this well."""
    if not 0 <= k <= n:
        raise QuizError(f"{k} successes in {n} trials is impossible.")
    q = Fraction(p).limit_denominator(10**6)
    return float(sum(math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(k, n + 1)))


@dataclass(frozen=True)
class QuizScore:
    """A listener's score, and how it compares with guessing."""

    correct: int
    total: int

    @property
    def p_value(self) -> float:
        """One-sided: the chance that coin-flipping scores at least this much."""
        return p_at_least(self.correct, self.total)

    @property
    def p_fooled(self) -> float:
        """The chance that coin-flipping scores at most this much."""
        return 1.0 - p_at_least(self.correct + 1, self.total) if self.correct < self.total else 1.0

    @property
    def p_two_sided(self) -> float:
        """The chance that coin-flipping lands at least this far from half right, either way."""
        n, k = self.total, self.correct
        distance = abs(2 * k - n)
        return float(sum(Fraction(math.comb(n, i), 2**n) for i in range(n + 1) if abs(2 * i - n) >= distance))

    @property
    def interval(self) -> tuple[float, float]:
        """95% Wilson interval of the listener's true rate of picking the human excerpt."""
        return wilson_interval(self.correct, self.total)

    def verdict(self) -> str:
        """One plain sentence for the listener."""
        k, n = self.correct, self.total
        low, high = self.interval
        told = (f"You picked the human-written excerpt {k} times out of {n} "
                f"(95% interval {low:.0%}–{high:.0%}; guessing scores {n / 2:g} on average).")
        if self.p_value < 0.05:
            return f"{told} Guessing does this well only {self.p_value:.1%} of the time: you can tell them apart."
        if self.p_fooled < 0.05:
            return (f"{told} Guessing does this badly only {self.p_fooled:.1%} of the time: "
                    "the machine's music sounded more human to you than the real thing.")
        return (f"{told} Coin flips land at least this far from {n / 2:g} in {self.p_two_sided:.0%} of quizzes, "
                "so this is within chance: the model fooled you about as often as not.")
