"""The engine's types: where a call is (CallState), what the caller did, what happens next (Step)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from ivr.content import Content
from ivr.content.directory import Directory
from ivr.content.models import Prompts
from ivr.content.signoff import Reviews

MAX_SILENCES = 2  # re-prompts after no input before the line warns that it will end the call
MAX_MISSES = 2  # replies to wrong keys or unknown words before the line warns that it will end the call
RATES = ("normal", "slow", "fast")  # speaking speeds; the index travels in the URL
PATIENCE = (1.0, 2.0, 3.0)  # gather timeout multipliers: more time after each silence or on request
PART_PAUSE_S = 2  # the pause after a topic's part before the next part plays on by itself
LANGUAGE = "_language"  # system node: choose a language
EMERGENCY = "_emergency"  # system node: emergency advice and transfer
SPECIALIST = "_specialist"  # system node: no one can take the call now; call back or record
CONFIRM = "_confirm"  # system node: "Did you mean ...?" about words the line was unsure of
# Asking whether to forget what the line keeps for the caller's number (ivr.engine.consent).
FORGET = "_forget"
SYSTEM_NODES = (LANGUAGE, EMERGENCY, SPECIALIST, CONFIRM, FORGET)
# Where a returning caller is offered to carry on where they stopped last time (ivr.engine.carry_on):
# `ret` and `ret_part` hold that place. Said once, at a call's start; not a node to return to.
CARRY_ON = "_carry_on"
# Asking, once a caller has chosen a language, whether to remember it (ivr.engine.consent): `ret`
# and `ret_part` hold where the call goes on after (none: the welcome, not yet said).
CONSENT = "_consent"
SPEECH_ACTIONS = (
    "repeat",
    "back",
    "main",
    "operator",
    "help",
    "next",
    "previous",
    "again",
    "slower",
    "faster",
    "more_time",
    "language",
    "text",
    "forget",
)

# CallState.flags: what this call has heard, and how the next silence is taken.
CHOSEN = 1  # the caller's language is settled; before that every reply is in every language
GREETED = 2  # the welcome, disclaimer and main menu have been said
SAFETY = 4  # the emergency sentence has been said
HINTED = 8  # the keys to move between a topic's parts have been said
RESUME = 16  # the last reply did not say what is here (help, "more time"): silence says it, unblamed
HELP_MORE = 32  # the last reply was help's first page: 6 again gives the rest
KEPT = 64  # the language was kept by default (the caller never chose): star switches, reprompts say how
DESK = 128  # at the call-back choices: the help desk could take the call now, so 3 is offered for it
# Consent (ivr.engine.consent): nothing is kept for a caller without REMEMBERED.
REMEMBERED = 256  # the caller agreed to be remembered (on this call or before): their choices are kept
ASKED = 512  # the consent question was asked on this call, or is never to be (remembered, hidden)
HIDDEN = 1024  # the caller's number is withheld: nothing is kept for it, nothing to forget
FLAGS = CHOSEN | GREETED | SAFETY | HINTED | RESUME | HELP_MORE | KEPT | DESK | REMEMBERED | ASKED | HIDDEN
TRANSIENT = RESUME | HELP_MORE  # about the last reply only: cleared by whatever the caller does next


class Kind(Enum):
    """What the caller's phone does next."""

    GATHER = "gather"  # speak, then wait for keys or speech
    TRANSFER = "transfer"  # speak, then connect to a person (a number or a queue)
    RECORD = "record"  # speak, then record the caller's question
    EFFECT = "effect"  # do something outside the call (send a text, save a callback), then ask again
    HANGUP = "hangup"  # speak, then end the call


@dataclass(frozen=True)
class CallState:
    """Where a call is and how the caller likes it; all of it travels in the action URL.

    `part` is a section's part; a topic's end (its choices: again, text, back) is the part after
    its last. `ret` and `ret_part` are where a system node (emergency, language, specialist)
    goes back to. `visited` has bit i set once menu i has been heard in full this call.
    """

    node: str
    part: int = 0
    silences: int = 0
    misses: int = 0
    lang: str = "en"
    rate: str = "normal"
    patience: int = 0
    visited: int = 0
    ret: str = ""
    ret_part: int = 0
    flags: int = 0
    pending: str = ""  # at CONFIRM: what the caller may have asked for ("goto:treatment")

    def has(self, flag: int) -> bool:
        """Whether a flag (CHOSEN, GREETED, ...) is set."""
        return bool(self.flags & flag)


@dataclass(frozen=True)
class Place:
    """Where a caller stopped inside a topic on an earlier call: a section and the part they were
    hearing. The edge keeps it (ivr.store) and gives it to `start` as an input, like `returning`."""

    node: str
    part: int


@dataclass(frozen=True)
class CallerInput:
    """One webhook's worth of caller input."""

    digits: str = ""
    speech: str = ""
    silent: bool = False
    dial_status: str | None = None
    outcome: tuple[str, str] | None = None  # how an effect or a recording went: ("sms", "sent")
    detail: str = ""  # with an outcome: e.g. the last digits of the number a callback goes to
    now: datetime | None = None  # for opening hours; None means "treat as open"
    confidence: float | None = None  # Twilio's Confidence in a SpeechResult, 0 to 1


@dataclass(frozen=True)
class Step:
    """What to say and do next, and the state the next request will carry.

    `playing` marks a topic's part: the line waits only a short pause (PART_PAUSE_S) before
    playing on. `lang_of` gives each sentence's language where they are not all `state.lang`.
    """

    kind: Kind
    say: tuple[str, ...]
    state: CallState
    event: str
    hints: tuple[str, ...] = ()
    number: str | None = None
    lang_of: tuple[str, ...] = ()
    queue: str | None = None  # TRANSFER into a Twilio queue instead of a number
    specialty: str | None = None  # who a TRANSFER, EFFECT or RECORD is for
    # A TRANSFER to staff: whoever answers must press 1 to take the call (a voicemail cannot).
    screened: bool = False
    effect: str | None = None  # EFFECT: "sms" or "callback"
    playing: bool = False

    def __hash__(self) -> int:
        # Steps are the keys of the rendered-TwiML cache: hash the fields once per step, not per request.
        cached: int | None = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(
                (
                    self.kind,
                    self.say,
                    self.lang_of,
                    self.state,
                    self.event,
                    self.number,
                    self.queue,
                    self.effect,
                    self.screened,
                )
            )
            object.__setattr__(self, "_hash", cached)
        return cached

    def language_of(self, index: int) -> str:
        """The language sentence `index` is spoken in."""
        return self.lang_of[index] if self.lang_of else self.state.lang


@dataclass(frozen=True)
class Line:
    """The content plus the operator settings the engine needs."""

    content: Content
    operator_number: str | None = None
    emergency_number: str = "112"
    emergency_transfer: str | None = None
    directory: Directory | None = None
    # Whether the line can text a topic (8): only when a sender will really send it (Twilio's
    # credentials are set). Off, 8 and "text me" are neither offered nor promised.
    texts: bool = True
    # The clinical sign-offs that count for today's text (the edge refreshes them from the database):
    # a topic's end says "clinically reviewed" only with one.
    reviews: Reviews = field(default_factory=Reviews, compare=False)
    # Retention periods said to callers (days; the store's purge enforces the same settings):
    # a remembered caller unused, a call back's number after it is done, a recorded question.
    prefs_days: int = 365
    callback_days: int = 30
    recording_days: int = 90
    _hints: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict, compare=False)
    _steps: dict[tuple[CallState, str, bool, int], Step] = field(default_factory=dict, compare=False)
    # ivr.engine.understanding.Ear per (node, language, confirming), typed there: the model does not
    # import the understanding, which imports the model.
    _speech: dict[tuple[str, str, bool], object] = field(default_factory=dict, compare=False)

    def prompts(self, lang: str) -> Prompts:
        """The prompts of a language, falling back to the default language."""
        return self.content.prompts.get(lang) or self.content.prompts[self.content.default_language]

    def menu_bit(self, node: str) -> int:
        """The bit that marks a menu as heard in full (0 for anything else)."""
        menus = list(self.content.tree.menus)
        return 1 << menus.index(node) if node in menus else 0

    def said_number(self) -> str:
        """The emergency number as said aloud: digit by digit ("1 1 2")."""
        return " ".join(self.emergency_number)

    def languages_for(self, state: CallState) -> list[str]:
        """The languages a reply is said in: the caller's, or every one until they have chosen."""
        if state.has(CHOSEN) or len(self.content.languages) == 1:
            return [state.lang]
        return list(self.content.languages)
