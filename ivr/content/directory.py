"""The specialist directory: who a caller can be put through to, in which languages, and when."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from ivr.content.models import Lang, NodeId, NonEmpty, Strict, Text
from ivr.content.tree import Tree
from ivr.numbers import NumberError, phone_number

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")
_DAYS = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)(?:-(mon|tue|wed|thu|fri|sat|sun))?$")


def _spans(value: object) -> object:
    """A day's opening hours as a list of "HH:MM-HH:MM" spans: a list, or one string with the spans
    separated by commas ("09:00-13:00, 14:00-18:00": a split shift)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")]
    return value


def _span(span: str) -> str:
    """One span of opening hours, HH:MM-HH:MM: opening before closing, 24:00 the latest close."""
    match = _SPAN.match(span)
    if not match or match.group(1, 2) >= match.group(3, 4) or match.group(3, 4) > ("24", "00"):
        raise ValueError(f"{span!r}: hours are HH:MM-HH:MM (00:00 to 24:00), opening before closing")
    return span


# One day's hours: one span, or several for a split shift (a list, or one string with commas).
Spans = Annotated[list[Annotated[str, AfterValidator(_span)]], BeforeValidator(_spans), Field(min_length=1)]
QueueName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
ENV = "env:"
# An environment variable's name, as `dial: env:NAME` gives it.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Specialty(Strict):
    """One place to send callers: a number to dial or a Twilio queue, its languages and hours."""

    name: Text
    # A phone number (kept in E.164), or env:NAME to read it from the environment at start-up.
    dial: NonEmpty | None = None
    queue: QueueName | None = None
    languages: list[Lang] = Field(min_length=1)
    # {"mon-fri": ["09:00-13:00", "14:00-18:00"], "sat": "09:00-13:00"}; none means always open.
    hours: dict[str, Spans] | None = None
    hours_said: Text | None = None

    @model_validator(mode="after")
    def _one_way_in(self) -> Specialty:
        if (self.dial is None) == (self.queue is None):
            raise ValueError("give exactly one of dial or queue")
        if self.hours is not None and self.hours_said is None:
            raise ValueError("hours_said is needed to tell callers the hours")
        return self

    @field_validator("dial")
    @classmethod
    def _dial(cls, dial: str | None) -> str | None:
        if dial is None:
            return None
        if dial.startswith(ENV):
            if not _ENV_NAME.fullmatch(dial[len(ENV) :]):
                raise ValueError(f"{dial!r}: env: is followed by an environment variable's name")
            return dial
        return phone_number(dial)

    @field_validator("hours")
    @classmethod
    def _hours(cls, hours: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        for days in hours or {}:
            match = _DAYS.match(days)
            if not match:
                raise ValueError(f"{days!r}: days are mon..sun or a range like mon-fri")
            if match.group(2) and DAYS.index(match.group(2)) <= DAYS.index(match.group(1)):
                raise ValueError(f"{days!r}: a range of days runs forward within the week, like mon-fri")
        for day in DAYS:  # two spans of one day that overlap are a typo, not a longer day
            spans = sorted(_day_spans(hours or {}, day))
            for (_, _, first), (opens, _, second) in itertools.pairwise(spans):
                if opens < _clock(first.split("-")[1]):
                    raise ValueError(f"on {day}, the hours {first} and {second} overlap")
        return hours


def _day_spans(hours: Mapping[str, list[str]], day: str) -> Iterator[tuple[time, time, str]]:
    """Each span of `day` (mon..sun) as (opens, closes, "HH:MM-HH:MM")."""
    for days, spans in hours.items():
        first, _, last = days.partition("-")
        if DAYS.index(first) <= DAYS.index(day) <= DAYS.index(last or first):
            for span in spans:
                opens, closes = span.split("-")
                yield _clock(opens), _clock(closes), span


class DirectoryFile(Strict):
    """The contents of knowledge/specialists.yaml."""

    timezone: NonEmpty
    holidays: list[date] = Field(default_factory=list)
    default: NodeId
    specialties: dict[NodeId, Specialty] = Field(min_length=1)
    topics: dict[NodeId, NodeId] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r}") from exc
        return name


@dataclass(frozen=True)
class Route:
    """Where one specialty is reached right now: a number or a queue (None: not configured)."""

    specialty: str
    number: str | None
    queue: str | None

    @property
    def reachable(self) -> bool:
        """True when there is a number or a queue to send the caller to."""
        return bool(self.number or self.queue)


@dataclass(frozen=True)
class Directory:
    """The validated directory, with numbers resolved from the environment."""

    file: DirectoryFile
    numbers: Mapping[str, str | None]

    def specialty_for(self, tree: Tree, node: str) -> str:
        """The specialty for a node: its own or its nearest menu's entry in topics, else the default."""
        while True:
            if node in self.file.topics:
                return self.file.topics[node]
            if node not in tree.parent:
                return self.file.default
            node = tree.parent[node]

    def route(self, specialty: str) -> Route:
        """How to reach a specialty."""
        return Route(specialty, self.numbers.get(specialty), self.file.specialties[specialty].queue)

    def is_open(self, specialty: str, now: datetime) -> bool:
        """Whether a specialty takes calls at `now` (any time zone; compared in the directory's)."""
        hours = self.file.specialties[specialty].hours
        if hours is None:
            return True
        local = now.astimezone(ZoneInfo(self.file.timezone))
        if local.date() in self.file.holidays:
            return False
        today = DAYS[local.weekday()]
        return any(opens <= local.time() < closes for opens, closes, _ in _day_spans(hours, today))

    def is_holiday(self, now: datetime) -> bool:
        """Whether `now` falls on one of the directory's holidays."""
        return now.astimezone(ZoneInfo(self.file.timezone)).date() in self.file.holidays


def _clock(hhmm: str) -> time:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return time.max if hours == 24 else time(hours, minutes)


def resolve_numbers(file: DirectoryFile, environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """Each dialled specialty's number in E.164: written in the file, or read from env:NAME (None if
    unset or empty); a queue specialty's is None.

    Raises NumberError, naming every variable whose value is not a valid phone number (so that the
    line refuses to start rather than fail a caller's <Dial>).
    """
    env = os.environ if environ is None else environ
    numbers: dict[str, str | None] = {}
    problems: list[str] = []
    for sid, specialty in file.specialties.items():
        dial = specialty.dial
        if dial and dial.startswith(ENV):
            name = dial[len(ENV) :]
            raw = (env.get(name) or "").strip()
            try:
                dial = phone_number(raw) if raw else None
            except ValueError as exc:
                problems.append(f"{name} (dialled for {sid!r} in knowledge/specialists.yaml) {exc}")
                dial = None
        numbers[sid] = dial
    if problems:
        raise NumberError("\n".join(problems))
    return numbers
