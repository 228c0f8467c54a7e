"""The call state in a Gather's action URL, and back: any worker can serve any step of any call."""

from __future__ import annotations

from collections.abc import Mapping

from ivr.engine.model import (
    CARRY_ON,
    CONFIRM,
    CONSENT,
    FLAGS,
    LANGUAGE,
    MAX_MISSES,
    MAX_SILENCES,
    PATIENCE,
    RATES,
    SYSTEM_NODES,
    CallState,
    Line,
)

# The query parameter that carries each CallState field. Short on purpose: every <Gather> action and
# its no-input <Redirect> carry the whole state, Twilio signs the full URL, and calls in progress
# during a deploy must keep working, so these names are a wire format: add, never rename.
PARAM = {
    "node": "n",
    "part": "p",
    "silences": "s",
    "misses": "m",
    "lang": "l",
    "rate": "r",  # index into RATES
    "patience": "w",  # index into PATIENCE ("wait")
    "visited": "v",  # hex bit set of menus heard in full
    "flags": "f",  # hex bit set of FLAGS
    "pending": "a",  # what a "Did you mean ...?" question asks about
    "ret": "b",  # where a system node returns to ("back")
    "ret_part": "bp",
}
_NUMBERS = ("part", "silences", "misses", "rate", "patience", "ret_part")


def state_from_query(line: Line, query: Mapping[str, str]) -> CallState | None:
    """Rebuild a state from action-URL parameters; None when they are missing or invalid."""
    tree = line.content.tree
    node = query.get(PARAM["node"], "")
    ret = query.get(PARAM["ret"], "")
    lang = query.get(PARAM["lang"], line.content.default_language)
    try:
        numbers = [int(query.get(PARAM[field], "0")) for field in _NUMBERS]
        visited = int(query.get(PARAM["visited"], "0"), 16)
        flags = int(query.get(PARAM["flags"], "0"), 16)
    except ValueError:
        return None
    part, silences, misses, rate, patience, ret_part = numbers
    pending = query.get(PARAM["pending"], "")
    if not _is_pending(line, node, pending):
        return None
    placed = tree.is_stop(node) or node in (*SYSTEM_NODES, CARRY_ON, CONSENT)
    if not placed or not _is_return(line, ret, ret_part):
        return None
    if node == CARRY_ON and not (ret in tree.sections and ret_part < tree.part_count(ret)):
        return None  # the offer is of a topic's part: where the caller stopped
    if lang not in line.content.prompts or not 0 <= rate < len(RATES) or not 0 <= patience < len(PATIENCE):
        return None
    if not (0 <= part <= last_part(line, node) and 0 <= silences <= MAX_SILENCES + 1):
        return None
    if not (0 <= misses <= MAX_MISSES + 1 and 0 <= visited < 1 << len(tree.menus) and 0 <= flags <= FLAGS):
        return None
    return CallState(
        node, part, silences, misses, lang, RATES[rate], patience, visited, ret, ret_part, flags, pending
    )


def _is_pending(line: Line, node: str, pending: str) -> bool:
    """Whether a "Did you mean ...?" question's subject is one the line could have asked about."""
    if node != CONFIRM:
        return pending == ""
    kind, _, value = pending.partition(":")
    return (kind == "goto" and line.content.tree.has(value)) or pending == "action:operator"


def _is_return(line: Line, ret: str, ret_part: int) -> bool:
    """Whether (ret, ret_part) is somewhere a system node can send the caller back to."""
    if ret == "":
        return ret_part == 0
    if ret == LANGUAGE:
        return ret_part == 0
    return line.content.tree.is_stop(ret) and 0 <= ret_part <= last_part(line, ret)


def last_part(line: Line, node: str) -> int:
    """The highest part a state may be at: a topic's end (one past its last part) for the section
    a topic ends with, the last part for other sections, 0 for menus and system nodes."""
    tree = line.content.tree
    if node not in tree.sections:
        return 0
    count = tree.part_count(node)
    return count if tree.neighbour(node, +1) is None else count - 1


def state_to_query(state: CallState) -> dict[str, str]:
    """The action-URL parameters that carry a state to the next request (defaults left out)."""
    fields = {
        "node": state.node,
        "part": str(state.part),
        "silences": str(state.silences),
        "misses": str(state.misses),
        "lang": state.lang,
        "rate": str(RATES.index(state.rate)),
        "patience": str(state.patience),
        "visited": format(state.visited, "x"),
        "flags": format(state.flags, "x"),
    }
    if state.pending:
        fields["pending"] = state.pending
    if state.ret:
        fields["ret"] = state.ret
        if state.ret_part:
            fields["ret_part"] = str(state.ret_part)
    return {PARAM[field]: value for field, value in fields.items()}
