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
# Callers hold at most four choices in mind; a longer list is split into menus (or a series).
MAX_OPTIONS = 4
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
    # To a returning caller who stopped inside a topic: its title only, before they choose.
    last_topic: Annotated[NonEmpty, Placeholders("topic")]
    calling_back: NonEmpty  # first, on the line's call back after a missed call
    disclaimer: NonEmpty
    safety: Annotated[NonEmpty, Placeholders("number")]  # what to do in an emergency, said early
    help_line: Annotated[NonEmpty, Placeholders("action", "key")]
    help_more: NonEmpty  # the last line of help's first page
    option: Annotated[NonEmpty, Placeholders("label", "key")]
    speech_hint: NonEmpty
    no_input: NonEmpty
    not_an_option: Annotated[NonEmpty, Placeholders("heard")]
    not_understood: NonEmpty  # the caller's words are not read back: they may be anyone's
    offer_person: NonEmpty  # after a second failure in a row
    misses_warning: NonEmpty  # after a third failure in a row: the call ends at the next
    first_part: NonEmpty
    end_of_topic: NonEmpty
    doctor_advice: NonEmpty
    updated: Annotated[NonEmpty, Placeholders("month", "year")]
    reviewed: Annotated[NonEmpty, Placeholders("month", "year")]  # only for clinically signed-off text
    at_main_menu: NonEmpty
    final_warning: NonEmpty
    more_time: NonEmpty
    rate_slow: NonEmpty
    rate_normal: NonEmpty
    rate_fast: NonEmpty
    rate_slowest: NonEmpty
    rate_fastest: NonEmpty
    goodbye: NonEmpty
    connecting: NonEmpty
    connecting_emergency: NonEmpty
    operator_unavailable: NonEmpty
    dial_failed: NonEmpty
    state_lost: NonEmpty
    emergency_advice: Annotated[NonEmpty, Placeholders("number")]
    emergency_transfer: NonEmpty
    go_back: NonEmpty
    choose_language: Annotated[NonEmpty, Placeholders("key")]
    language_by_name: NonEmpty  # "Or say English.", in that language
    switch_language: NonEmpty  # how to switch to this language, said when another was kept by default
    language_set: NonEmpty
    help_desk: NonEmpty  # who takes call backs when there is no specialist directory
    connecting_to: Annotated[NonEmpty, Placeholders("name")]
    closed: Annotated[NonEmpty, Placeholders("name", "hours")]
    closed_holiday: Annotated[NonEmpty, Placeholders("name", "hours")]
    language_note: Annotated[NonEmpty, Placeholders("name")]
    # The call back's and the question's offers say how long each is kept ({days}: the retention settings).
    offer_callback: Annotated[NonEmpty, Placeholders("days")]
    offer_record: Annotated[NonEmpty, Placeholders("days")]
    offer_desk: NonEmpty  # when a specialist cannot take the call but the help desk can
    confirm: Annotated[NonEmpty, Placeholders("name")]  # "Did you mean treatment?"
    confirm_keys: NonEmpty  # how to answer it
    person_name: NonEmpty  # how "Did you mean ...?" names a person
    callback_saved: Annotated[NonEmpty, Placeholders("name", "digits")]
    callback_failed: NonEmpty
    no_number: NonEmpty
    record_intro: NonEmpty
    record_saved: Annotated[NonEmpty, Placeholders("name")]
    record_empty: NonEmpty
    record_failed: NonEmpty
    queue_wait: NonEmpty
    queue_leave: NonEmpty  # while held in a queue: the key (star) that stops waiting
    queue_left: NonEmpty  # the caller pressed it
    queue_waited: NonEmpty  # the longest wait passed: no one was free
    transfer_unknown: NonEmpty  # a transfer ended and the line cannot tell whether anyone took it
    whisper: Annotated[NonEmpty, Placeholders("language", "rate", "topics")]
    whisper_no_topics: NonEmpty
    whisper_accept: NonEmpty  # to the person answering a transfer: the key that takes the call
    whisper_missed: NonEmpty  # to them (or their voicemail) when no key took it
    sms_sent: NonEmpty
    sms_saved: NonEmpty
    sms_failed: NonEmpty
    sms_in_menu: NonEmpty
    sms_unavailable: NonEmpty  # the line has no way to send texts (no Twilio credentials)
    sms_capped: NonEmpty  # the caller has had today's texts (IVR_SMS_DAILY_LIMIT)
    sms_not_allowed: NonEmpty  # a number texts may not go to: another country, a landline, malformed
    sms_footer: NonEmpty
    busy: NonEmpty
    # Consent, once a caller chose a language (ivr/engine/consent.py): the question with what is
    # kept, how ({days}: kept after the last call), and the thanks.
    consent_ask: NonEmpty
    consent_keep: Annotated[NonEmpty, Placeholders("days")]
    consent_given: NonEmpty
    consent_failed: NonEmpty  # the store could not keep the consent: nothing is kept
    # Being forgotten: the key at the language menu, what is forgotten, how to answer, and how it went.
    forget_offer: Annotated[NonEmpty, Placeholders("key")]
    forget_what: NonEmpty
    forget_keys: NonEmpty
    forget_done: NonEmpty
    forget_failed: NonEmpty  # the store could not erase now: nothing was
    forget_hidden: NonEmpty  # a withheld number: nothing is kept for it

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
    previous: list[NonEmpty] = Field(min_length=1)
    again: list[NonEmpty] = Field(min_length=1)  # a topic from its start ("from the beginning")
    slower: list[NonEmpty] = Field(min_length=1)
    faster: list[NonEmpty] = Field(min_length=1)
    more_time: list[NonEmpty] = Field(min_length=1)
    language: list[NonEmpty] = Field(min_length=1)
    text: list[NonEmpty] = Field(min_length=1)
    callback: list[NonEmpty] = Field(min_length=1)  # a call back: what 0 offers when no one can take the call
    # At the offer to carry on where a returning caller stopped: the same as 1 there.
    resume: list[NonEmpty] = Field(min_length=1)
    # Asking the line to forget the caller's number, from anywhere ("forget me", "मेरा नंबर हटा दो").
    forget: list[NonEmpty] = Field(min_length=1)
    # Yes to "To have me remember ..., press 1." and to "To forget, press 1." (with confirm_yes):
    # "yes", "ok", "हाँ"; never words that say which (those are keep_me and dont_keep).
    remember: list[NonEmpty] = Field(min_length=1)
    # Keep what you know of me ("remember me", "याद रखो"): yes to being remembered, and so at
    # "To forget, press 1." it keeps everything.
    keep_me: list[NonEmpty] = Field(min_length=1)
    # Do not keep it ("don't remember", "मत रखो"): no to being remembered, and so at "To forget,
    # press 1." it forgets (as the forget words do).
    dont_keep: list[NonEmpty] = Field(min_length=1)
    confirm_yes: list[NonEmpty] = Field(min_length=1)  # the answers to "Did you mean ...?"
    confirm_no: list[NonEmpty] = Field(min_length=1)


class AskedAbout(Strict):
    """The signs a caller may ask about without anyone being in danger, and how a question is told.

    "Can myasthenia cause breathing problems", "साँस की तकलीफ़ का इलाज क्या है": a question (an
    `asking` word anywhere, or an `asking_first` word first) about the disorders in general (a
    place's own words, a `disease_words` word or a `general` word: "hoti hai", "people with") whose
    only emergency signs are these weaker ones (`alone` words; `together` words of a group's second
    list: breathing with "problems", not with "not") goes where it asks, when the line is sure of
    that place. A `now` word ("right now", "अभी", "is having", "ho rahi") keeps it an emergency.
    """

    alone: list[NonEmpty] = Field(default_factory=list)  # of the emergency words' own `alone`
    together: dict[NodeId, list[NonEmpty]] = Field(default_factory=dict)  # of a group's second list
    asking: list[NonEmpty] = Field(min_length=1)
    asking_first: list[NonEmpty] = Field(default_factory=list)
    general: list[NonEmpty] = Field(default_factory=list)
    now: list[NonEmpty] = Field(min_length=1)


class EmergencyWords(Strict):
    """How callers say it is an emergency; any language's words count in every call.

    An utterance is an emergency when it holds one of `alone` ("ambulance", "बेहोश"), or, for any
    group of `together`, a word of each of its two lists: breathing with "not" or "difficulty",
    a face with "drooping", lips with "blue". Groups of the same name join across languages, so
    "breathing" and "नहीं" said together count. A question about the weaker signs only
    (`asked_about`) is not one.
    """

    alone: list[NonEmpty] = Field(min_length=1)
    together: dict[NodeId, tuple[list[NonEmpty], list[NonEmpty]]] = Field(min_length=1)
    asked_about: AskedAbout | None = None

    @model_validator(mode="after")
    def _asked_about_its_own_signs(self) -> EmergencyWords:
        asked = self.asked_about
        if asked is None:
            return self
        problems = [
            f"asked_about.alone: {w!r} is not an `alone` word" for w in asked.alone if w not in self.alone
        ]
        for group, said in asked.together.items():
            if group not in self.together:
                problems.append(f"asked_about.together: no group {group!r} in `together`")
                continue
            second = self.together[group][1]
            problems += [
                f"asked_about.together.{group}: {w!r} is not in the group's second list"
                for w in said
                if w not in second
            ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class HelpActions(Strict):
    """How help names each action, option first: "To repeat" (then ", press 9")."""

    next: NonEmpty  # in a topic: the next part
    previous: NonEmpty  # in a topic: the part before
    again: NonEmpty  # at the end of a topic: all of it again, from the start
    repeat: NonEmpty
    back: NonEmpty
    leave: NonEmpty  # * in a topic: the menu it was chosen from
    main: NonEmpty
    operator: NonEmpty
    help: NonEmpty
    slower: NonEmpty  # 7 at the normal speed
    normal_speed: NonEmpty  # 7 at any other speed
    emergency: NonEmpty
    language: NonEmpty
    text: NonEmpty
    resume: NonEmpty  # 1 at the offer to carry on where the caller stopped last time


class Prompts(Strict):
    """One language's system phrases, voice and speech vocabulary."""

    language: NonEmpty
    voice: NonEmpty | None = None
    name: list[NonEmpty] = Field(min_length=1)  # what callers call this language, for speech
    display_name: NonEmpty  # the language's name as staff hear it in a whisper ("Hindi")
    rate_names: dict[Literal["normal", "slow", "fast"], NonEmpty]
    phrases: Phrases
    actions: HelpActions
    # How a key is said where the digit alone would not be said as callers say it ("ज़ीरो" for 0).
    key_names: dict[Annotated[str, StringConstraints(pattern=r"^[0-9*#]$")], NonEmpty]
    months: list[NonEmpty] = Field(min_length=12, max_length=12)
    lexicon: dict[NonEmpty, NonEmpty] = Field(default_factory=dict)
    fillers: list[NonEmpty] = Field(default_factory=list)  # words ignored around a spoken number
    # Words that tell little about what a caller wants ("please", "the", "mujhe"): they weigh little.
    stopwords: list[NonEmpty] = Field(default_factory=list)
    # Words that make what was said the name of a kind of disease ("spinal cord disease", "सूजन वाली
    # बीमारी"), not a description of what the caller feels: a type named so goes to that type.
    disease_words: list[NonEmpty] = Field(default_factory=list)
    speech: SpeechWords
    emergency_words: EmergencyWords
    numbers: dict[Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], list[NonEmpty]]


Lang = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]
Text = dict[Lang, NonEmpty]  # the same words in each language


class Option(Strict):
    """One menu choice: the key, what it is called, the words that pick it, where it goes.

    `describes` are words of a caller describing what they feel ("my legs are weak"): they lead
    here only when nothing else said names a place (a description is never taken for a disease).
    """

    key: OptionKey
    label: Text
    say: dict[Lang, list[NonEmpty]] = Field(default_factory=dict)
    describes: dict[Lang, list[NonEmpty]] = Field(default_factory=dict)
    goto: NodeId


class Menu(Strict):
    """A menu of up to four options."""

    title: Text
    intro: Text | None = None
    options: list[Option] = Field(min_length=1, max_length=MAX_OPTIONS)


class SeriesTopic(Strict):
    """One topic of a series: a section id, and the words that pick it by voice.

    `described_as` are words that describe the type ("spinal cord", "muscle inflammation"): they
    pick it only said with a word of the prompts' `disease_words` ("spinal cord disease"), since
    alone they are what a caller says of their own body ("pain in my spinal cord").
    """

    id: NodeId
    say: dict[Lang, list[NonEmpty]] = Field(default_factory=dict)
    described_as: dict[Lang, list[NonEmpty]] = Field(default_factory=dict)


class Series(Strict):
    """Topics heard one after another as one: a caller who listens hears them all, in order.

    An option leads to a series as to a topic; it starts at its first topic, and the next part
    after a topic's last is the next topic's first. Short topics of one kind (the six types, one
    sentence each) are heard together this way instead of behind another menu.
    """

    title: Text
    topics: list[SeriesTopic] = Field(min_length=2)


class TreeFile(Strict):
    """The contents of knowledge/tree.yaml."""

    root: NodeId
    menus: dict[NodeId, Menu] = Field(min_length=1)
    series: dict[NodeId, Series] = Field(default_factory=dict)


class SectionMeta(Strict):
    """Front matter of a knowledge section file: its title and its governance.

    `editor` is an internal note (who wrote or checked the text, and how); it is neither spoken
    nor published. A clinician's sign-off is not here but in the database, given on the staff
    dashboard for the text's content hash (ivr/content/signoff.py).
    """

    title: NonEmpty
    source: NonEmpty
    editor: NonEmpty
    updated_on: date
    review_by: date

    @model_validator(mode="after")
    def _dates_in_order(self) -> SectionMeta:
        if self.review_by <= self.updated_on:
            raise ValueError("review_by must come after updated_on")
        return self


class Block(Strict):
    """A piece of a part as the web and texts show it: a paragraph, or items of a numbered list."""

    text: str = ""
    items: tuple[NonEmpty, ...] = ()
    start: int = 1  # the number of the first item (a list may go on from the part before)


class Section(Strict):
    """A knowledge section in one language: a title and short parts spoken one at a time.

    `parts` are as spoken (list items numbered in words, {phone: ...} kept) and may hold the
    {emergency} token, the emergency number that the line's settings give. `web` is each part as
    blocks to read rather than hear (no {phone: ...} sentences; empty if that was all).
    """

    id: NodeId
    lang: Lang
    meta: SectionMeta
    parts: tuple[NonEmpty, ...] = Field(min_length=1)
    web: tuple[tuple[Block, ...], ...]

    @model_validator(mode="after")
    def _web_matches(self) -> Section:
        if len(self.web) != len(self.parts):
            raise ValueError("web must have one entry per part")
        return self

    @property
    def title(self) -> str:
        """The spoken title."""
        return self.meta.title
