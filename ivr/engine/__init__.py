"""The pure call engine: from (line, state, input) to the next step. No Flask here.

`model` holds the types, `codec` the state in the action URL, `wording` what is said in each
language, `understanding` what a caller pressed or said, `flow` the transitions, `carry_on` the
offer to a returning caller to carry on where they stopped, and `catalog` every sentence known
before a call (for rendering audio ahead).
"""

from ivr.engine.carry_on import listening_at, topic_finished
from ivr.engine.catalog import fixed_sentences, specialty_sentences
from ivr.engine.codec import state_from_query, state_to_query
from ivr.engine.consent import AGREED, FORGET_EFFECT, REMEMBER_EFFECT, notice_version
from ivr.engine.flow import next_step, start
from ivr.engine.model import (
    ASKED,
    CARRY_ON,
    CHOSEN,
    CONFIRM,
    CONSENT,
    DESK,
    EMERGENCY,
    FORGET,
    GREETED,
    HIDDEN,
    KEPT,
    LANGUAGE,
    MAX_MISSES,
    MAX_SILENCES,
    PART_PAUSE_S,
    PATIENCE,
    RATES,
    REMEMBERED,
    SAFETY,
    SPECIALIST,
    SPEECH_ACTIONS,
    SYSTEM_NODES,
    CallerInput,
    CallState,
    Kind,
    Line,
    Place,
    Step,
)
from ivr.engine.people import specialty_for_state
from ivr.engine.understanding import hints

__all__ = [
    "AGREED",
    "ASKED",
    "CARRY_ON",
    "CHOSEN",
    "CONFIRM",
    "CONSENT",
    "DESK",
    "EMERGENCY",
    "FORGET",
    "FORGET_EFFECT",
    "GREETED",
    "HIDDEN",
    "KEPT",
    "LANGUAGE",
    "MAX_MISSES",
    "MAX_SILENCES",
    "PART_PAUSE_S",
    "PATIENCE",
    "RATES",
    "REMEMBERED",
    "REMEMBER_EFFECT",
    "SAFETY",
    "SPECIALIST",
    "SPEECH_ACTIONS",
    "SYSTEM_NODES",
    "CallState",
    "CallerInput",
    "Kind",
    "Line",
    "Place",
    "Step",
    "fixed_sentences",
    "hints",
    "listening_at",
    "next_step",
    "notice_version",
    "specialty_for_state",
    "specialty_sentences",
    "start",
    "state_from_query",
    "state_to_query",
    "topic_finished",
]
