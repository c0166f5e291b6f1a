"""Matching words of a lexicon in any text a policy or a batch carries.

Texts are matched after normalisation, so that spelling games do not get a term past:

- Unicode NFKC and case folding (full-width ``ＲＥＬＩＧＩＯＮ``, ``Religion``);
- look-alike letters from Cyrillic and Greek mapped to Latin (``Relіgion`` with a
  Cyrillic ``і``);
- a second reading with digits and signs read as letters (``r3l1g10n``, ``$ect``);
- Latin text split into words at every non-letter and at camel case, then matched over
  runs of words, so that ``c.h.u.r.c.h``, ``Church_Visits``, ``zong_jiao`` and
  ``ZongJiao`` all read as the words they spell;
- Chinese matched on its Han characters alone, with spaces, punctuation and Latin
  letters between them removed (``宗 教``, ``宗-教``).

A Latin term is a *stem* (``relig`` matches ``religious``) or, written with a trailing
``$``, a whole *word* (``iris$`` matches ``iris`` but not ``irish``); a term of several
words is written with ``_`` (``trade_union``) and matches those words in a row. A term
in Chinese characters matches anywhere. *Exceptions* are phrases removed before matching
(``non-emergency`` is not ``emergency``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Lexicon", "LexiconMatch", "normalise"]

#: Look-alike letters (Cyrillic, Greek) read as the Latin letters they imitate.
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j",
        "ѕ": "s", "ԁ": "d", "ɡ": "g", "ο": "o", "α": "a", "ε": "e", "ι": "i", "κ": "k",
        "ν": "v", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "β": "b", "η": "n", "μ": "u",
    }
)  # fmt: skip
#: Digits and signs read as letters, for the second reading.
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s",
     "!": "i", "|": "l", "+": "t"}
)  # fmt: skip
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_LATIN_WORD = re.compile(r"[a-z]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def normalise(text: str) -> str:
    """NFKC, look-alikes mapped to Latin, camel case split, case folded."""
    folded = unicodedata.normalize("NFKC", text).translate(_CONFUSABLES)
    return _CAMEL.sub(" ", folded).casefold()


@dataclass(frozen=True)
class LexiconMatch:
    """Which term of which group a text matched."""

    group: str
    term: str


@dataclass(frozen=True)
class _Term:
    group: str
    text: str  # as written in the lexicon
    letters: str  # Latin: the letters of its words, joined; Han: the characters
    whole: bool  # Latin: must end where a word ends
    han: bool


class Lexicon:
    """Groups of terms (``{"religion": ("relig", "church", "宗教", ...)}``) and the
    exceptions removed before matching."""

    def __init__(self, groups: Mapping[str, Iterable[str]], exceptions: Iterable[str] = ()) -> None:
        self.groups = {group: tuple(terms) for group, terms in groups.items()}
        self.exceptions = tuple(exceptions)
        self._terms = [
            _compile(group, term) for group, terms in self.groups.items() for term in terms
        ]
        self._exceptions = tuple(_squash(normalise(e)) for e in self.exceptions)
        # One scan per text: every place a Latin term starts (a lookahead, so overlapping
        # terms are all seen), and every Han term; each hit is then checked in order.
        latin = sorted({t.letters for t in self._terms if not t.han}, key=len, reverse=True)
        han = sorted({t.letters for t in self._terms if t.han}, key=len, reverse=True)
        self._latin = re.compile("(?=(" + "|".join(map(re.escape, latin)) + "))") if latin else None
        self._han = re.compile("|".join(map(re.escape, han))) if han else None
        self._by_letters: dict[str, list[_Term]] = {}
        for term in self._terms:
            self._by_letters.setdefault(term.letters, []).append(term)

    def extended(
        self, groups: Mapping[str, Iterable[str]], exceptions: Iterable[str] = ()
    ) -> Lexicon:
        """This lexicon with more terms (a charter adds; nothing removes)."""
        merged = {group: list(terms) for group, terms in self.groups.items()}
        for group, terms in groups.items():
            merged.setdefault(group, []).extend(terms)
        return Lexicon(merged, (*self.exceptions, *exceptions))

    def find(self, text: str) -> LexiconMatch | None:
        """The first term (in the lexicon's order) ``text`` matches, or None."""
        hits: list[_Term] = []
        for words, han in _readings(text, self._exceptions):
            joined = "".join(words)
            starts, ends = _boundaries(words)
            if self._latin is not None:
                for match in self._latin.finditer(joined):
                    at = match.start()
                    if at not in starts:
                        continue
                    for letters in _prefixes(joined, at, self._by_letters):
                        hits += [
                            t
                            for t in self._by_letters[letters]
                            if not t.han and (not t.whole or at + len(letters) in ends)
                        ]
            if self._han is not None and han and self._han.search(han):
                hits += [t for t in self._terms if t.han and t.letters in han]
        if not hits:
            return None
        first = min(hits, key=self._terms.index)
        return LexiconMatch(first.group, first.text)


def _prefixes(joined: str, at: int, known: Mapping[str, object]) -> list[str]:
    """The terms (by their letters) that start at ``at`` in ``joined``."""
    return [letters for letters in known if joined.startswith(letters, at)]


def _compile(group: str, term: str) -> _Term:
    whole = term.endswith("$")
    body = normalise(term.removesuffix("$"))
    han = "".join(_HAN.findall(body))
    if han:
        return _Term(group, term, han, whole=False, han=True)
    letters = "".join(_LATIN_WORD.findall(body))
    if not letters:
        raise ValueError(f"lexicon term {term!r} has no letters to match")
    return _Term(group, term, letters, whole=whole, han=False)


def _squash(text: str) -> str:
    return " ".join(_LATIN_WORD.findall(text)) + "|" + "".join(_HAN.findall(text))


def _readings(text: str, exceptions: tuple[str, ...]) -> list[tuple[list[str], str]]:
    """The words and Han characters of ``text`` as written and with digits read as
    letters, each with the exceptions' words and characters taken out."""
    plain = normalise(text)
    found = []
    for variant in (plain, plain.translate(_LEET)):
        words = _LATIN_WORD.findall(variant)
        han = "".join(_HAN.findall(variant))
        for exception in exceptions:
            latin, _, characters = exception.partition("|")
            if latin:
                words = _remove_run(words, latin.split())
            if characters:
                han = han.replace(characters, "")
        found.append((words, han))
    return found


def _remove_run(words: list[str], run: list[str]) -> list[str]:
    size = len(run)
    out: list[str] = []
    index = 0
    while index < len(words):
        if words[index : index + size] == run:
            index += size
            out.append("")  # keeps a boundary where the phrase was
            continue
        out.append(words[index])
        index += 1
    return [word for word in out if word] if size else words


def _boundaries(words: list[str]) -> tuple[set[int], set[int]]:
    starts, ends, offset = set(), set(), 0
    for word in words:
        starts.add(offset)
        offset += len(word)
        ends.add(offset)
    return starts, ends


def _matches(joined: str, starts: set[int], ends: set[int], term: _Term) -> bool:
    at = joined.find(term.letters)
    while at >= 0:
        if at in starts and (not term.whole or at + len(term.letters) in ends):
            return True
        at = joined.find(term.letters, at + 1)
    return False
