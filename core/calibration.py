"""Thresholds of the semantic decision layer per embedder family, calibrated on the `dev` split
of the labelled decision set (`python -m gateway eval decisions --calibrate`), never on
`held-out`: the classifier's probabilities are taken out of fold (5 folds; each message scored
by a classifier fitted without it) and run through the whole decision, rules included; the pair
kept is the one that finds the most escalations while escalating at most 1 % of the reply
messages (the floor is 3 %: fresh messages came out about 2 points above the out-of-fold
figure). `clear` is chosen after them, on the same out-of-fold verdicts: the highest value under
which at most 0.5 % of the dev messages that need a person or a mute would skip the LLM. An
embedder without an entry gets no semantic decisions (rules and the LLM only) until it is
calibrated: probability scales differ between models."""

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
    `mute`: the classifier alone hears "stop writing to me" at this probability.
    `clear`: when the classifier settles nothing, the LLM classifier is asked only if the
    probability that the turn needs a person or asks the bot to stop (the two together) is at
    least this; under it the turn is surely a message the bot answers, and an LLM call (300–1,000
    ms with a real model) is saved. None: the LLM is asked whenever the classifier settles
    nothing."""

    escalate: float
    overrule: float
    mute: float = 0.6
    clear: float | None = None

    def shifted(self, offset: float) -> DecisionThresholds:
        """A client's sensitivity: a positive offset asks for surer escalations (fewer; the LLM
        skipped more often), a negative one escalates on less (the LLM asked more often)."""
        return DecisionThresholds(_moved(self.escalate, offset), _moved(self.overrule, offset),
                                  self.mute, None if self.clear is None else _moved(self.clear, offset))


def _moved(threshold: float, offset: float) -> float:
    return round(min(max(threshold + offset, 0.0), 1.0), 4)


# Keyed by the start of `Embedder.name`. e5-small: calibrated on the 2,540 dev messages of round 5
# (rounds 1–4; out of fold: escalation recall 96.8 %, false escalations 1.0 %, no false mute;
# under `clear`, 80.9 % of the reply messages the LLM was asked about skip it, and 5 of the 1,180
# messages needing a person or a mute, 0.42 %).
CALIBRATED: dict[str, DecisionThresholds] = {
    "local-e5-small": DecisionThresholds(escalate=0.8, overrule=0.15, clear=0.035),
}


def thresholds_for(embedder_name: str) -> DecisionThresholds | None:
    return next((t for prefix, t in CALIBRATED.items() if embedder_name.startswith(prefix)), None)
