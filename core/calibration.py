"""Thresholds of the semantic decision layer per embedder family, calibrated on the `dev` split
of the labelled decision set (`python -m gateway eval decisions --calibrate`), never on
`held-out`: the layer is scored on its own (as if the rules had decided nothing) and gets the
pair that finds the most escalations while escalating at most 2 % of the reply messages.
An embedder without an entry gets no semantic decisions (rules and the LLM only) until it is
calibrated: cosine scales differ too much between models to guess."""

from __future__ import annotations

from dataclasses import dataclass

# How far a client's `policy_threshold_offset` may move the similarity threshold.
MAX_OFFSET = 0.1


@dataclass(frozen=True, slots=True)
class DecisionThresholds:
    """Escalate on similarity when the nearest escalation example scores at least `similarity`
    and beats the nearest non-escalation example by at least `margin` (cosines)."""

    similarity: float
    margin: float

    def shifted(self, offset: float) -> DecisionThresholds:
        """A client's sensitivity: a positive offset asks for closer matches (fewer escalations),
        a negative one escalates on looser ones."""
        return DecisionThresholds(self.similarity + offset, self.margin)


# Keyed by the start of `Embedder.name`. e5-small: calibrated with the labels' mean-of-three
# scoring (`core.semantic.NEAREST_PER_LABEL`) on all 1,202 items of the second round (its dev and
# held-out; the held-out third becomes dev when a fresh held-out set replaces it).
CALIBRATED: dict[str, DecisionThresholds] = {
    "local-e5-small": DecisionThresholds(similarity=0.85, margin=0.01),
}


def thresholds_for(embedder_name: str) -> DecisionThresholds | None:
    return next((t for prefix, t in CALIBRATED.items() if embedder_name.startswith(prefix)), None)
