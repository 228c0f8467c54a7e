"""Pydantic models of the content files: prompts, menus and knowledge sections."""

from __future__ import annotations

import string
from datetime import date
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
NodeId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
OptionKey = Literal["1", "2", "3", "4"]
MAX_OPTIONS = 5
# The same keys do the same thing in every menu and section. 5 is emergency because it carries
# the raised dot every keypad has: the easiest key to find by touch.
RESERVED_KEYS: dict[str, str] = {
    "5": "emergency",
    "6": "help",
    "7": "rate",
    "8": "text",
    "9": "repeat",
    "*": "back",
    "#": "main",
    "0": "operator",
}


class Placeholders(frozenset[str]):
    """Field metadata: the {placeholders} a phrase must contain (and the only ones it may)."""

    def __new__(cls, *names: str) -> Placeholders:
        """Placeholders("label", "key")."""
        return super().__new__(cls, names)


class Strict(BaseModel):
    """Base model: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Phrases(Strict):
    """Every system phrase the line speaks."""

    welcome: NonEmpty
    welcome_back: NonEmpty
    disclaimer: NonEmpty
    keys_intro: NonEmpty
    help: NonEmpty
    help_line: Annotated[NonEmpty, Placeholders("action", "key")]
    help_speech: NonEmpty
    option: Annotated[NonEmpty, Placeholders("label", "key")]
    speech_hint: NonEmpty
    no_input: NonEmpty
    not_an_option: Annotated[NonEmpty, Placeholders("heard")]
    not_understood: Annotated[NonEmpty, Placeholders("heard")]
    part_controls: NonEmpty
    last_part: NonEmpty
    last_part_controls: NonEmpty
    reviewed: Annotated[NonEmpty, Placeholders("month", "year")]
    no_more_parts: NonEmpty
    at_main_menu: NonEmpty
    final_warning: NonEmpty
    final_person: NonEmpty
    more_time: NonEmpty
    rate_slow: NonEmpty
    rate_normal: NonEmpty
    rate_fast: NonEmpty
    goodbye: NonEmpty
    connecting: NonEmpty
    operator_unavailable: NonEmpty
    dial_failed: NonEmpty
    state_lost: NonEmpty
    emergency_advice: Annotated[NonEmpty, Placeholders("number")]
    emergency_transfer: NonEmpty
    emergency_back: NonEmpty
    choose_language: Annotated[NonEmpty, Placeholders("key")]
    language_set: NonEmpty
    connecting_to: Annotated[NonEmpty, Placeholders("name")]
    closed: Annotated[NonEmpty, Placeholders("name", "hours")]
    closed_holiday: Annotated[NonEmpty, Placeholders("name", "hours")]
    unavailable: Annotated[NonEmpty, Placeholders("name")]
    language_note: Annotated[NonEmpty, Placeholders("name")]
    offer_callback: NonEmpty
    offer_record: NonEmpty
    callback_saved: Annotated[NonEmpty, Placeholders("name", "digits")]
    callback_failed: NonEmpty
    no_number: NonEmpty
    record_intro: NonEmpty
    record_saved: Annotated[NonEmpty, Placeholders("name")]
    record_empty: NonEmpty
    record_failed: NonEmpty
    queue_wait: NonEmpty
    whisper: Annotated[NonEmpty, Placeholders("language", "rate", "topics")]
    whisper_no_topics: NonEmpty
    sms_sent: NonEmpty
    sms_saved: NonEmpty
    sms_failed: NonEmpty
    sms_in_menu: NonEmpty
    sms_footer: NonEmpty
    busy: NonEmpty

    @field_validator("*")
    @classmethod
    def _placeholders(cls, value: str, info: ValidationInfo) -> str:
        wanted = placeholders(info.field_name or "")
        used = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        if unknown := used - wanted:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(wanted)}")
        if missing := wanted - used:
            raise ValueError(f"missing placeholder(s) {sorted(missing)}")
        return value


def placeholders(phrase: str) -> frozenset[str]:
    """The placeholders a phrase takes (empty for one spoken exactly as written)."""
    found = [m for m in Phrases.model_fields[phrase].metadata if isinstance(m, Placeholders)]
    return found[0] if found else frozenset()


class SpeechWords(Strict):
    """Words and phrases that trigger each reserved action by voice."""

    repeat: list[NonEmpty] = Field(min_length=1)
    back: list[NonEmpty] = Field(min_length=1)
    main: list[NonEmpty] = Field(min_length=1)
    operator: list[NonEmpty] = Field(min_length=1)
    help: list[NonEmpty] = Field(min_length=1)
    next: list[NonEmpty] = Field(min_length=1)
    slower: list[NonEmpty] = Field(min_length=1)
    faster: list[NonEmpty] = Field(min_length=1)
    emergency: list[NonEmpty] = Field(min_length=1)
    more_time: list[NonEmpty] = Field(min_length=1)
    language: list[NonEmpty] = Field(min_length=1)
    text: list[NonEmpty] = Field(min_length=1)


class HelpActions(Strict):
    """How help names each action, option first: "To repeat" (then ", press 9")."""

    next: NonEmpty
    repeat: NonEmpty
    back: NonEmpty
    main: NonEmpty
    operator: NonEmpty
    help: NonEmpty
    rate: NonEmpty
    emergency: NonEmpty
    language: NonEmpty
    text: NonEmpty


class Prompts(Strict):
    """One language's system phrases, voice and speech vocabulary."""

    language: NonEmpty
    voice: NonEmpty | None = None
    name: list[NonEmpty] = Field(min_length=1)  # what callers call this language, for speech
    display_name: NonEmpty  # the language's name as staff hear it in a whisper ("Hindi")
    rate_names: dict[Literal["normal", "slow", "fast"], NonEmpty]
    phrases: Phrases
    actions: HelpActions
    key_names: dict[Annotated[str, StringConstraints(pattern=r"^[*#]$")], NonEmpty]
    months: list[NonEmpty] = Field(min_length=12, max_length=12)
    lexicon: dict[NonEmpty, NonEmpty] = Field(default_factory=dict)
    fillers: list[NonEmpty] = Field(default_factory=list)  # words ignored around a spoken number
    speech: SpeechWords
    numbers: dict[Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], list[NonEmpty]]


Lang = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]
Text = dict[Lang, NonEmpty]  # the same words in each language


class Option(Strict):
    """One menu choice: the key, what it is called, the words that pick it, where it goes."""

    key: OptionKey
    label: Text
    say: dict[Lang, list[NonEmpty]] = Field(default_factory=dict)
    goto: NodeId


class Menu(Strict):
    """A menu of up to five options."""

    title: Text
    intro: Text | None = None
    options: list[Option] = Field(min_length=1, max_length=MAX_OPTIONS)


class TreeFile(Strict):
    """The contents of knowledge/tree.yaml."""

    root: NodeId
    menus: dict[NodeId, Menu] = Field(min_length=1)


class SectionMeta(Strict):
    """Front matter of a knowledge section file: its title and its clinical governance."""

    title: NonEmpty
    source: NonEmpty
    reviewer: NonEmpty
    reviewed_on: date
    review_by: date

    @model_validator(mode="after")
    def _dates_in_order(self) -> SectionMeta:
        if self.review_by <= self.reviewed_on:
            raise ValueError("review_by must come after reviewed_on")
        return self


class Section(Strict):
    """A knowledge section in one language: a title and short parts spoken one at a time."""

    id: NodeId
    lang: Lang
    meta: SectionMeta
    parts: tuple[NonEmpty, ...] = Field(min_length=1)
    # The parts to read rather than hear: without the {phone: ...} sentences ("" if that was all).
    web_parts: tuple[str, ...]

    @model_validator(mode="after")
    def _web_parts_match(self) -> Section:
        if len(self.web_parts) != len(self.parts):
            raise ValueError("web_parts must have one entry per part")
        return self

    @property
    def title(self) -> str:
        """The spoken title."""
        return self.meta.title
