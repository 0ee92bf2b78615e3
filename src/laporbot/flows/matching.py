"""Free text where a button was expected: matched to an option by number, label or a close
spelling, in any language, so "2", "Lansia terlantar", "lansia" and "lansai terlantar" all pick
the same button. An ambiguous or unknown text matches nothing (the step re-asks)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

_FUZZY_CUTOFF = 0.8


def normalize(text: str) -> str:
    """Lower case, punctuation dropped, spaces squeezed."""
    return " ".join(re.sub(r"[^\w\s]+", " ", text.casefold()).split())


def match_option(text: str, options: Sequence[tuple[str, Sequence[str]]]) -> str | None:
    """The id of the option `text` names, or None.

    `options` are (id, words) in display order: words are its labels in every language and its
    synonyms. Tried in turn: the option's number, an exact word, a unique word starting with the
    text, containing all its words, or that the text starts with; then the closest spelling
    above a similarity cutoff.
    """
    wanted = normalize(text)
    if not wanted:
        return None
    if wanted.isdecimal():
        index = int(wanted) - 1
        return options[index][0] if 0 <= index < len(options) else None
    by_word: dict[str, set[str]] = {}
    for option_id, words in options:
        for word in (option_id, *words):
            by_word.setdefault(normalize(word), set()).add(option_id)
    exact = by_word.get(wanted)
    if exact is not None and len(exact) == 1:
        return next(iter(exact))
    if len(wanted) >= 3:
        tokens = set(wanted.split())
        partial = {
            option_id
            for word, ids in by_word.items()
            if word.startswith(wanted)
            or (len(word) >= 3 and wanted.startswith(word + " "))
            or (len(wanted) >= 4 and tokens <= set(word.split()))
            for option_id in ids
        }
        if len(partial) == 1:
            return next(iter(partial))
    close = difflib.get_close_matches(wanted, list(by_word), n=2, cutoff=_FUZZY_CUTOFF)
    if close:
        candidates = by_word[close[0]]
        if len(candidates) == 1 and (len(close) == 1 or by_word[close[1]] == candidates):
            return next(iter(candidates))
    return None
