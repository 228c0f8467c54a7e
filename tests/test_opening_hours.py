"""Opening hours: a day may have several spans (a split shift), checked at start-up, and a caller is
put through only inside one of them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.content import ContentError, load_content
from ivr.content.directory import Directory, DirectoryFile
from ivr.simulator import FlaskTransport, Phone
from tests.support.app import AUTH_TOKEN, BASE_URL, answer
from tests.support.content import edit
from tests.support.routing import NEURO, routed_app

pytestmark = pytest.mark.unit

INDIA = timedelta(hours=5, minutes=30)
# Monday 30 November 2026, and the Saturday and Sunday after it, at a time of day in India.
MONDAY, SATURDAY, SUNDAY = (
    datetime(2026, 11, 30, tzinfo=UTC),
    datetime(2026, 12, 5, tzinfo=UTC),
    datetime(2026, 12, 6, tzinfo=UTC),
)


def india(day: datetime, hhmm: str) -> datetime:
    """`day` at HH:MM in India, as a UTC time (the line's clock is UTC)."""
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return day + timedelta(hours=hours, minutes=minutes) - INDIA


def directory(hours: Mapping[str, object]) -> Directory:
    file = DirectoryFile.model_validate(
        {
            "timezone": "Asia/Kolkata",
            "default": "desk",
            "specialties": {
                "desk": {
                    "name": {"en": "the desk"},
                    "dial": "+911140000009",
                    "languages": ["en"],
                    "hours": hours,
                    "hours_said": {"en": "at set times"},
                }
            },
        }
    )
    return Directory(file, {"desk": "+911140000009"})


SPLIT_SHIFT = [
    {"mon-fri": "09:00-13:00, 14:00-18:00"},  # one string, spans separated by commas
    {"mon-fri": ["09:00-13:00", "14:00-18:00"]},  # a list
    {"mon-fri": ["14:00-18:00", "09:00-13:00"]},  # in any order
]


@pytest.mark.parametrize("hours", SPLIT_SHIFT, ids=["string", "list", "unordered"])
@pytest.mark.parametrize(
    ("hhmm", "open_"),
    [
        ("08:59", False),
        ("09:00", True),
        ("12:59", True),
        ("13:00", False),
        ("13:30", False),
        ("13:59", False),
        ("14:00", True),
        ("17:59", True),
        ("18:00", False),
        ("00:00", False),
    ],
)
def test_a_split_shift_is_open_in_either_span_and_closed_between(
    hours: Mapping[str, object], hhmm: str, open_: bool
) -> None:
    assert directory(hours).is_open("desk", india(MONDAY, hhmm)) is open_
    assert directory(hours).is_open("desk", india(SATURDAY, hhmm)) is False  # not a listed day


@pytest.mark.parametrize(
    ("day", "hhmm", "open_"),
    [
        (SATURDAY, "19:59", False),
        (SATURDAY, "20:00", True),
        (SATURDAY, "23:59", True),
        (SUNDAY, "00:00", True),  # midnight: Saturday's 24:00 closes, Sunday's 00:00 opens
        (SUNDAY, "01:59", True),
        (SUNDAY, "02:00", False),
        (SUNDAY, "12:00", True),
        (SUNDAY, "23:59", False),
        (MONDAY, "00:00", False),
    ],
)
def test_spans_meet_at_midnight(day: datetime, hhmm: str, open_: bool) -> None:
    hours = {"sat": "20:00-24:00", "sun": ["00:00-02:00", "11:00-13:00"]}
    assert directory(hours).is_open("desk", india(day, hhmm)) is open_


def hours_written(root: Path, hours: str) -> int:
    """Give the neurologist `hours` (YAML lines under `hours:`); the line of the `hours:` key."""
    path = root / "knowledge/specialists.yaml"
    edit(path, '    hours:\n      mon-fri: "09:00-17:00"\n      sat: "09:00-13:00"\n', f"    hours:\n{hours}")
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line == "    hours:")


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        (
            '      mon-fri: "09:00-13:00, 12:30-18:00"\n',
            "on mon, the hours 09:00-13:00 and 12:30-18:00 overlap",
        ),
        (
            '      mon-fri: "09:00-13:00"\n      wed: "12:00-14:00"\n',
            "on wed, the hours 09:00-13:00 and 12:00-14:00 overlap",
        ),
        ('      fri-mon: "09:00-13:00"\n', "'fri-mon': a range of days runs forward within the week"),
        (
            '      mon: ["14:00-13:00"]\n',
            "'14:00-13:00': hours are HH:MM-HH:MM (00:00 to 24:00), opening before closing",
        ),
        ('      mon: "20:00-24:30"\n', "'20:00-24:30': hours are HH:MM-HH:MM"),
        ('      mon: "09:00-13:00,"\n', "'': hours are HH:MM-HH:MM"),
        ("      mon: []\n", "at least 1 item"),
    ],
)
def test_hours_that_cannot_be_right_are_refused_with_file_and_line(
    content_copy: Path, hours: str, message: str
) -> None:
    at = hours_written(content_copy, hours)
    with pytest.raises(ContentError) as caught:
        load_content(content_copy)
    problems = caught.value.problems
    assert any(f"specialists.yaml:{at}" in p or f"specialists.yaml:{at + 1}" in p for p in problems), problems
    assert any(message in p for p in problems), problems


@pytest.mark.integration
@pytest.mark.parametrize(
    ("hhmm", "dialled"), [("12:59", True), ("13:30", False), ("14:00", True), ("18:00", False)]
)
def test_a_caller_is_put_through_in_either_span_and_told_the_hours_between(
    content_copy: Path, hhmm: str, dialled: bool
) -> None:
    hours_written(content_copy, '      mon-fri: "09:00-13:00, 14:00-18:00"\n')
    app = routed_app(india(MONDAY, hhmm), CONTENT_DIR=str(content_copy))
    content = load_content(content_copy)
    assert content.directory is not None
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN)
    answer(phone)
    for key in content.tree.keys_to("drug_therapy"):
        phone.press(key)
    turn = phone.press("0")
    neurologist = content.directory.specialties["neurologist"]
    assert neurologist.hours_said is not None
    closed = content.prompts["en"].phrases.closed.format(
        name=neurologist.name["en"], hours=neurologist.hours_said["en"]
    )
    assert turn.dialed == ([NEURO] if dialled else [])
    assert (closed in turn.says) is not dialled
