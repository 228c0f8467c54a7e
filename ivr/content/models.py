"""Pydantic models of the content files: prompts, menus and knowledge sections."""

from __future__ import annotations

import string
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
NodeId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
OptionKey = Literal["1", "2", "3", "4", "5", "6", "7", "8"]
MAX_OPTIONS = 5
# The same keys do the same thing in every menu and section.
RESERVED_KEYS: dict[str, str] = {"9": "repeat", "*": "back", "#": "main", "0": "operator"}

# Placeholders each phrase may use; a phrase that needs one must contain it.
PHRASE_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    # name: (allowed placeholders, required placeholders)
    "welcome": (set(), set()),
    "disclaimer": (set(), set()),
    "keys_intro": (set(), set()),
    "help": (set(), set()),
    "option": ({"label", "key"}, {"label", "key"}),
    "speech_hint": (set(), set()),
    "no_input": (set(), set()),
    "not_an_option": ({"heard"}, {"heard"}),
    "not_understood": ({"heard"}, {"heard"}),
    "part_controls": (set(), set()),
    "last_part": (set(), set()),
    "last_part_controls": (set(), set()),
    "no_more_parts": (set(), set()),
    "at_main_menu": (set(), set()),
    "final_offer": (set(), set()),
    "goodbye": (set(), set()),
    "connecting": (set(), set()),
    "operator_unavailable": (set(), set()),
    "dial_failed": (set(), set()),
    "state_lost": (set(), set()),
}

ACTIONS = ("repeat", "back", "main", "operator", "help", "next")


class Strict(BaseModel):
    """Base model: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Phrases(Strict):
    """Every system phrase the line speaks."""

    welcome: NonEmpty
    disclaimer: NonEmpty
    keys_intro: NonEmpty
    help: NonEmpty
    option: NonEmpty
    speech_hint: NonEmpty
    no_input: NonEmpty
    not_an_option: NonEmpty
    not_understood: NonEmpty
    part_controls: NonEmpty
    last_part: NonEmpty
    last_part_controls: NonEmpty
    no_more_parts: NonEmpty
    at_main_menu: NonEmpty
    final_offer: NonEmpty
    goodbye: NonEmpty
    connecting: NonEmpty
    operator_unavailable: NonEmpty
    dial_failed: NonEmpty
    state_lost: NonEmpty

    @field_validator("*")
    @classmethod
    def _placeholders(cls, value: str, info: object) -> str:
        name = getattr(info, "field_name", "")
        allowed, required = PHRASE_FIELDS[name]
        used = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        if unknown := used - allowed:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        if missing := required - used:
            raise ValueError(f"missing placeholder(s) {sorted(missing)}")
        return value


class SpeechWords(Strict):
    """Words and phrases that trigger each reserved action by voice."""

    repeat: list[NonEmpty] = Field(min_length=1)
    back: list[NonEmpty] = Field(min_length=1)
    main: list[NonEmpty] = Field(min_length=1)
    operator: list[NonEmpty] = Field(min_length=1)
    help: list[NonEmpty] = Field(min_length=1)
    next: list[NonEmpty] = Field(min_length=1)


class Prompts(Strict):
    """One language's system phrases, voice and speech vocabulary."""

    language: NonEmpty
    voice: NonEmpty | None = None
    phrases: Phrases
    key_names: dict[Literal["*", "#"], NonEmpty]
    speech: SpeechWords
    numbers: dict[Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], list[NonEmpty]]


class Option(Strict):
    """One menu choice: the key, what it is called, the words that pick it, where it goes."""

    key: OptionKey
    label: NonEmpty
    say: list[NonEmpty] = Field(default_factory=list)
    goto: NodeId


class Menu(Strict):
    """A menu of up to five options."""

    title: NonEmpty
    intro: NonEmpty | None = None
    options: list[Option] = Field(min_length=1, max_length=MAX_OPTIONS)


class TreeFile(Strict):
    """The contents of knowledge/tree.yaml."""

    root: NodeId
    menus: dict[NodeId, Menu] = Field(min_length=1)


class SectionMeta(Strict):
    """Front matter of a knowledge section file."""

    title: NonEmpty
    source: NonEmpty


class Section(Strict):
    """A knowledge section: a title and short parts spoken one at a time."""

    id: NodeId
    title: NonEmpty
    source: NonEmpty
    parts: tuple[NonEmpty, ...] = Field(min_length=1)
