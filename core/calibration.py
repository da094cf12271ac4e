"""Thresholds of the semantic decision layer per embedder family, calibrated on the `dev` split
of the labelled decision set (`python -m gateway eval decisions --calibrate`), never on
`held-out`: the classifier's probabilities are taken out of fold (5 folds; each message scored
by a classifier fitted without it) and run through the whole decision, rules included; the pair
kept is the one that finds the most escalations while escalating at most 1 % of the reply
messages (the floor is 3 %: fresh messages came out about 2 points above the out-of-fold
figure). An embedder without an entry gets no semantic decisions (rules and the LLM only) until
it is calibrated: probability scales differ between models."""

from __future__ import annotations

from dataclasses import dataclass

# How far a client's `policy_threshold_offset` may move the thresholds.
MAX_OFFSET = 0.1


@dataclass(frozen=True, slots=True)
class DecisionThresholds:
    """`escalate`: the classifier alone hands a turn to a person when the probability that it
    needs one is at least this. `overrule`: an escalation the rules found (a topic's word such
    as "оплата" or "отмен", a request for a person, frustration) is not made when that
    probability is below this: the message reads as something the bot answers ("оплата за
    снятие отдельно или в цене?", "администратор вчера была очень вежливая, спасибо ей").
    `mute`: the classifier alone hears "stop writing to me" at this probability."""

    escalate: float
    overrule: float
    mute: float = 0.6

    def shifted(self, offset: float) -> DecisionThresholds:
        """A client's sensitivity: a positive offset asks for surer escalations (fewer), a
        negative one escalates on less."""
        return DecisionThresholds(round(min(max(self.escalate + offset, 0.0), 1.0), 4),
                                  round(min(max(self.overrule + offset, 0.0), 1.0), 4), self.mute)


# Keyed by the start of `Embedder.name`. e5-small: calibrated on the 2,540 dev messages of round 5
# (rounds 1–4; out of fold: escalation recall 96.8 %, false escalations 1.0 %, no false mute).
CALIBRATED: dict[str, DecisionThresholds] = {
    "local-e5-small": DecisionThresholds(escalate=0.8, overrule=0.15),
}


def thresholds_for(embedder_name: str) -> DecisionThresholds | None:
    return next((t for prefix, t in CALIBRATED.items() if embedder_name.startswith(prefix)), None)
