"""The call state in a Gather's action URL, and back: any worker can serve any step of any call."""

from __future__ import annotations

from collections.abc import Mapping

from ivr.engine.model import (
    CONFIRM,
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


def state_from_query(line: Line, query: Mapping[str, str]) -> CallState | None:
    """Rebuild a state from action-URL parameters; None when they are missing or invalid."""
    tree = line.content.tree
    node = query.get("n", "")
    ret = query.get("b", "")
    lang = query.get("l", line.content.default_language)
    try:
        numbers = [int(query.get(k, "0")) for k in ("p", "s", "m", "r", "w", "bp")]
        visited = int(query.get("v", "0"), 16)
        flags = int(query.get("f", "0"), 16)
    except ValueError:
        return None
    part, silences, misses, rate, patience, ret_part = numbers
    pending = query.get("a", "")
    if not _is_pending(line, node, pending):
        return None
    if not (tree.is_stop(node) or node in SYSTEM_NODES) or not _is_return(line, ret, ret_part):
        return None
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
    query = {
        "n": state.node,
        "p": str(state.part),
        "s": str(state.silences),
        "m": str(state.misses),
        "l": state.lang,
        "r": str(RATES.index(state.rate)),
        "w": str(state.patience),
        "v": format(state.visited, "x"),
        "f": format(state.flags, "x"),
    }
    if state.pending:
        query["a"] = state.pending
    if state.ret:
        query["b"] = state.ret
        if state.ret_part:
            query["bp"] = str(state.ret_part)
    return query
