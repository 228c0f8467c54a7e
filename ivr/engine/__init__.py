"""The pure call engine: from (line, state, input) to the next step. No Flask here.

`model` holds the types, `codec` the state in the action URL, `wording` what is said in each
language, `understanding` what a caller pressed or said, `flow` the transitions, and `catalog`
every sentence known before a call (for rendering audio ahead).
"""

from ivr.engine.catalog import fixed_sentences, specialty_sentences
from ivr.engine.codec import state_from_query, state_to_query
from ivr.engine.flow import next_step, start
from ivr.engine.model import (
    CHOSEN,
    CONFIRM,
    DESK,
    EMERGENCY,
    GREETED,
    KEPT,
    LANGUAGE,
    MAX_MISSES,
    MAX_SILENCES,
    PART_PAUSE_S,
    PATIENCE,
    RATES,
    SAFETY,
    SPECIALIST,
    SPEECH_ACTIONS,
    SYSTEM_NODES,
    CallerInput,
    CallState,
    Kind,
    Line,
    Step,
)
from ivr.engine.people import specialty_for_state
from ivr.engine.understanding import hints

__all__ = [
    "CHOSEN",
    "CONFIRM",
    "DESK",
    "EMERGENCY",
    "GREETED",
    "KEPT",
    "LANGUAGE",
    "MAX_MISSES",
    "MAX_SILENCES",
    "PART_PAUSE_S",
    "PATIENCE",
    "RATES",
    "SAFETY",
    "SPECIALIST",
    "SPEECH_ACTIONS",
    "SYSTEM_NODES",
    "CallState",
    "CallerInput",
    "Kind",
    "Line",
    "Step",
    "fixed_sentences",
    "hints",
    "next_step",
    "specialty_for_state",
    "specialty_sentences",
    "start",
    "state_from_query",
    "state_to_query",
]
