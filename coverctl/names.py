"""Normalising and matching character and title strings. Pure functions, no I/O.

The rule everything here follows: the right person or nothing. A wrong face is worse than no
picture, so every matcher returns :class:`NoMatch` with a reason when the answer is not certain
(nothing matches, several different characters match equally well, the year is off).

Matching kinds, best first:

* **exact**: the normalised query equals an alias, ignoring a leading "the" and spaces
  ("Spiderman" = "Spider-Man", "Joker" = "The Joker").
* **partial**: every query token is a whole token of the alias ("jack sparrow" in
  "captain jack sparrow").
* **fuzzy**: a typo ("Hermoine Granger"), accepted only past :data:`FUZZY_THRESHOLD` and the
  guards documented on that constant.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from rapidfuzz import fuzz

__all__ = [
    "ACTOR_FUZZY_THRESHOLD",
    "FUZZY_MIN_LENGTH",
    "FUZZY_THRESHOLD",
    "TITLE_FUZZY_THRESHOLD",
    "CastMatch",
    "CastMember",
    "NoMatch",
    "TitleCandidate",
    "TitleMatch",
    "character_aliases",
    "filename_key",
    "match_character",
    "match_title",
    "normalize",
]

FUZZY_THRESHOLD: Final[float] = 88.0
"""Lowest rapidfuzz score (0..100, best of ``ratio`` and ``token_sort_ratio``) for a fuzzy
character match. 88 accepts one transposition in a two-word name ("Hermoine Granger" scores 93.75)
and rejects one changed letter in a word of up to eight letters. A fuzzy match also needs:

* both strings at least :data:`FUZZY_MIN_LENGTH` letters long (spaces not counted), so short
  names ("Bane", "Bale", "Dane") only ever match exactly or as whole tokens;
* the same first letters of their words (sorted), so "Bruce Wayne" never becomes "Bruce Payne";
* the same numbers (digits and roman numerals), so "Stormtrooper 1" never becomes "Stormtrooper 2";
* neither string merely extending the other ("Robin" / "Robins", "Alien" / "Aliens");
* the same number of words, all equal but one, and that one a near-spelling of at least
  :data:`FUZZY_WORD_MIN_LENGTH` letters: a typo in one long word, never another first name
  ("Mary Smith" is not "Mark Smith", "Mrs Bennet" is not "Mr Bennet").
"""

FUZZY_WORD_MIN_LENGTH: Final[int] = 5
"""Shortest word that may differ in a fuzzy character match."""

FUZZY_MIN_LENGTH: Final[int] = 6
"""Shortest string (letters and digits, spaces not counted) that may match fuzzily."""

TITLE_FUZZY_THRESHOLD: Final[float] = 90.0
"""Lowest ``token_sort_ratio`` for a fuzzy title match. Titles also need the length, number and
extension guards of :data:`FUZZY_THRESHOLD` ("Toy Story 2" is not "Toy Story 3", "Predator" is not
"Predators"), but not the first-letter one."""

ACTOR_FUZZY_THRESHOLD: Final[float] = 90.0
"""Lowest ``token_sort_ratio`` for the optional actor filter of :func:`match_character`."""

# Apostrophes are dropped rather than spaced so "O'Neil" -> "oneil" and "Ocean's" -> "oceans",
# which is how people type them without the apostrophe. The acute accent is listed because NFKD
# would otherwise turn it into a space plus a combining mark.
_APOSTROPHES: Final = dict.fromkeys(map(ord, "'’‘ʼ`´′＇"), None)

# Letters NFKD leaves alone but that people type without their stroke or ligature.
_TRANSLITERATE: Final = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "ı": "i"}
)

# Combining marks that are optional diacritics and are dropped (é -> e): Latin/Greek/Cyrillic
# combining blocks, Hebrew points, Arabic harakat. Marks that change a letter's identity
# elsewhere (Japanese voicing marks, Indic vowel signs) are kept.
_DROPPED_MARK_RANGES: Final = (
    (0x0300, 0x036F),
    (0x0591, 0x05C7),
    (0x064B, 0x065F),
    (0x0670, 0x0670),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE20, 0xFE2F),
)


def _is_dropped_mark(char: str) -> bool:
    code = ord(char)
    return unicodedata.category(char) == "Mn" and any(
        low <= code <= high for low, high in _DROPPED_MARK_RANGES
    )


def normalize(text: str) -> str:
    """Fold ``text`` to a comparable form: no accents, casefolded, punctuation as spaces.

    Apostrophes are removed ("O'Neil" -> "oneil"), "&" becomes "and", every other punctuation
    mark, symbol or control character becomes a space, and whitespace is collapsed.

    >>> normalize("  Spider-Man: Amélie’s ＢＡＴＭＡＮ!  ")
    'spider man amelies batman'
    """
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    text = text.translate(_APOSTROPHES).casefold()
    text = unicodedata.normalize("NFKD", text).translate(_TRANSLITERATE)
    kept: list[str] = []
    for char in text:
        if char == "&":
            kept.append(" and ")
        elif _is_dropped_mark(char):
            continue
        elif unicodedata.category(char)[0] in "LNM":
            kept.append(char)
        else:
            kept.append(" ")
    # NFC puts back what NFKD split and we kept (Hangul syllables, kana voicing marks).
    return " ".join(unicodedata.normalize("NFC", "".join(kept)).split())


_UNSAFE_FILENAME_CHARS: Final = re.compile(r"[\s/\\\x00-\x1f\x7f]")
_DOT_RUN: Final = re.compile(r"\.{2,}")


def filename_key(name: str) -> str:
    """The key used in local override file names, compatible with the old backend.

    Lowercased and stripped, whitespace and slashes become "_" ("Bruce Wayne" -> "bruce_wayne",
    "AC/DC" -> "ac_dc"). Made safe to join to a directory: NFKC first (so a full-width "／" is a
    slash too), no path separators or control characters, no "..", no leading or trailing dot.
    May return "" (for "", "..", "/"): callers must not look up a file for an empty key.
    """
    key = unicodedata.normalize("NFKC", name).strip().lower()
    key = _UNSAFE_FILENAME_CHARS.sub("_", key)
    key = _DOT_RUN.sub(".", key)
    return key.strip(".")


# Words that mark an age or variant of a character ("Young Bruce Wayne"): such an alias loses to
# the plain one.
_MODIFIERS: Final = frozenset(
    {
        "young",
        "younger",
        "youngest",
        "teen",
        "teenage",
        "teenaged",
        "adolescent",
        "old",
        "older",
        "oldest",
        "elder",
        "elderly",
        "aged",
        "age",
        "little",
        "child",
        "kid",
        "baby",
        "infant",
        "toddler",
        "adult",
    }
)
# Words in a parenthetical that make it a credit qualifier, not a name: "(voice)",
# "(uncredited)", "(archive footage)", "(singing voice)", "(scenes deleted)".
_QUALIFIER_WORDS: Final = frozenset(
    {
        "voice",
        "voices",
        "uncredited",
        "unbilled",
        "credit",
        "credits",
        "credited",
        "archive",
        "archival",
        "footage",
        "cameo",
        "segment",
        "episode",
        "episodes",
        "version",
        "dub",
        "dubbed",
        "motion",
        "capture",
        "mocap",
        "rumored",
        "rumoured",
        "unconfirmed",
        "deleted",
        "scene",
        "scenes",
        "double",
        "stunt",
        "photo",
        "photograph",
        "flashback",
        "singing",
        "speaking",
        "cgi",
    }
)
# A parenthetical starting with one of these is about the credit ("(as Bob Smith)").
_QUALIFIER_LEADS: Final = frozenset({"as", "also", "in"})
_SELF_WORDS: Final = frozenset({"self", "himself", "herself", "themselves", "themself"})
_PARENTHETICAL: Final = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\]")
_ALIAS_SEPARATOR: Final = re.compile(r"\s*(?:/|;|\||\s+a\.?k\.?a\.?\s+)\s*", re.IGNORECASE)


_AGE_WORDS: Final = frozenset({"year", "years", "yr", "yrs"})


def _is_modifier_parenthetical(tokens: list[str]) -> bool:
    # "(young)", "(age 8)", "(8 years old)"
    return any(t in _MODIFIERS for t in tokens) and all(
        t in _MODIFIERS or t in _AGE_WORDS or t.isdigit() for t in tokens
    )


def _is_qualifier_parenthetical(tokens: list[str]) -> bool:
    return (
        not tokens
        or tokens[0] in _QUALIFIER_LEADS
        or any(t in _QUALIFIER_WORDS or t.isdigit() for t in tokens)
    )


def _split_credit(credit: str | None) -> list[tuple[str, str]]:
    """``(display, normalised)`` pairs for each alias in a credited character string."""
    if not credit or not credit.strip():
        return []
    modifiers: list[str] = []
    extra: list[str] = []
    for match in _PARENTHETICAL.finditer(credit):
        inner = match.group(1) if match.group(1) is not None else match.group(2)
        tokens = normalize(inner).split()
        if _is_modifier_parenthetical(tokens):
            modifiers.append(inner.strip())
        elif not _is_qualifier_parenthetical(tokens):
            extra.append(inner)
    main = _PARENTHETICAL.sub(" ", credit)
    # An unclosed "(" or "[" starts a truncated qualifier: drop it and what follows.
    main = re.split(r"[(\[]", main, maxsplit=1)[0]
    prefix = " ".join(modifiers)
    pairs: list[tuple[str, str]] = []
    for piece in _ALIAS_SEPARATOR.split(main):
        piece = " ".join(piece.split())
        if piece:
            display = f"{piece} ({prefix})" if prefix else piece
            pairs.append((display, normalize(f"{prefix} {piece}")))
    for inner in extra:
        for piece in _ALIAS_SEPARATOR.split(inner):
            piece = " ".join(piece.split())
            pairs.append((piece, normalize(piece)))
    seen: set[str] = set()
    unique: list[tuple[str, str]] = []
    for display, alias in pairs:
        if alias and alias not in seen:
            seen.add(alias)
            unique.append((display, alias))
    return unique


def character_aliases(credit: str | None) -> list[str]:
    """Normalised aliases of a provider's credited character string, in credit order.

    Aliases are split on "/", ";", "|" and " aka ". Credit qualifiers in parentheses or brackets
    ("(voice)", "(uncredited)", "(archive footage)", "(as Bob)") are dropped; age qualifiers are
    kept as words ("Bruce Wayne (young)" -> "young bruce wayne"); any other parenthetical is a
    further alias ("Batman (Bruce Wayne)" -> ["batman", "bruce wayne"]). Empty or None -> [].

    >>> character_aliases("Bruce Wayne / Batman (voice)")
    ['bruce wayne', 'batman']
    """
    return [alias for _, alias in _split_credit(credit)]


@dataclass(frozen=True)
class CastMember:
    """One credit in a provider's cast list."""

    person_id: str
    person_name: str
    character: str  # raw provider string, e.g. "Bruce Wayne / Batman (voice)"
    order: int | None  # billing order; lower = bigger part; None = unknown (ranks last)
    has_image: bool  # never used for matching: a match without a photo is still the match


@dataclass(frozen=True)
class CastMatch:
    """The cast member who plays the queried character, and how certain that is."""

    member: CastMember
    alias: str  # the normalised alias that matched
    kind: Literal["exact", "partial", "fuzzy"]
    score: float  # 0..100


@dataclass(frozen=True)
class NoMatch:
    """No certain answer; ``reason`` is one human sentence saying why."""

    reason: str


_Kind = Literal["exact", "partial", "fuzzy"]
_KIND_RANK: Final[dict[str, int]] = {"exact": 0, "partial": 1, "fuzzy": 2}
_ROMAN: Final = frozenset(
    {"i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii", "xiii", "xiv"}
)


def _strip_leading(text: str, articles: frozenset[str]) -> str:
    head, _, rest = text.partition(" ")
    return rest if rest and head in articles else text


_CHARACTER_ARTICLES: Final = frozenset({"the"})
# "a" is not stripped from characters: there it is usually an initial ("A. Smith").
_TITLE_ARTICLES: Final = frozenset({"the", "a", "an"})


def _compact(text: str) -> str:
    return text.replace(" ", "")


def _numbers(tokens: Iterable[str]) -> frozenset[str]:
    return frozenset(t for t in tokens if t.isdigit() or t in _ROMAN)


def _fuzzy_guards_pass(left: str, right: str) -> bool:
    """The guards shared by character and title fuzzy matching (see FUZZY_THRESHOLD)."""
    a, b = _compact(left), _compact(right)
    if min(len(a), len(b)) < FUZZY_MIN_LENGTH:
        return False
    if a.startswith(b) or b.startswith(a):
        return False
    return _numbers(left.split()) == _numbers(right.split())


def _initials(text: str) -> list[str]:
    return sorted(token[0] for token in text.split())


def _one_word_typo(query: str, alias: str) -> bool:
    """Same words but one, which is a near-spelling of a long enough word (in order or sorted)."""
    left, right = query.split(), alias.split()
    if len(left) != len(right):
        return False
    for a_words, b_words in ((left, right), (sorted(left), sorted(right))):
        differing = [(a, b) for a, b in zip(a_words, b_words, strict=True) if a != b]
        if len(differing) == 1:
            a, b = differing[0]
            if min(len(a), len(b)) >= FUZZY_WORD_MIN_LENGTH and fuzz.ratio(a, b) >= 75:
                return True
    return False


def _character_fuzzy_score(query: str, alias: str) -> float | None:
    if not _fuzzy_guards_pass(query, alias) or _initials(query) != _initials(alias):
        return None
    if not _one_word_typo(query, alias):
        return None
    score = max(fuzz.ratio(query, alias), fuzz.token_sort_ratio(query, alias))
    return score if score >= FUZZY_THRESHOLD else None


@dataclass(frozen=True)
class _Hit:
    member: CastMember
    index: int  # position in the cast list: last tie-breaker
    display: str  # the alias as credited, for messages
    alias: str
    kind: _Kind
    score: float
    modified: bool  # a partial hit whose extra tokens include an age/variant word
    base: str  # the alias without those extra age/variant words

    def rank_key(self) -> tuple[int, bool, float, float, int]:
        order = float("inf") if self.member.order is None else float(self.member.order)
        return (_KIND_RANK[self.kind], self.modified, order, -self.score, self.index)


def _hit_for_alias(query: str, alias: str) -> tuple[_Kind, float, bool, str] | None:
    """``(kind, score, modified, base)`` when ``alias`` matches the (normalised) ``query``."""
    query_key = _strip_leading(query, _CHARACTER_ARTICLES)
    alias_key = _strip_leading(alias, _CHARACTER_ARTICLES)
    if _compact(query_key) == _compact(alias_key):
        return "exact", 100.0, False, alias
    query_tokens = set(query_key.split())
    alias_tokens = alias_key.split()
    if query_tokens <= set(alias_tokens):
        extra = [t for t in alias_tokens if t not in query_tokens]
        modified = any(t in _MODIFIERS for t in extra)
        # The base drops the age words, and with them any age ("age 8", "8 years old").
        variant_words = {t for t in extra if t in _MODIFIERS or t in _AGE_WORDS or t.isdigit()}
        base = " ".join(t for t in alias_tokens if not modified or t not in variant_words)
        return "partial", fuzz.ratio(query_key, alias_key), modified, base
    score = _character_fuzzy_score(query_key, alias_key)
    if score is not None:
        return "fuzzy", score, False, alias
    return None


def _best_hit(query: str, member: CastMember, index: int) -> _Hit | None:
    hits: list[_Hit] = []
    for display, alias in _split_credit(member.character):
        if alias.split()[0] in _SELF_WORDS:
            # "Himself", "Self - Host": the character is the person, so only their name matches.
            person = normalize(member.person_name)
            if person and _compact(person) == _compact(query):
                hits.append(
                    _Hit(member, index, member.person_name, person, "exact", 100.0, False, person)
                )
            continue
        found = _hit_for_alias(query, alias)
        if found is not None:
            kind, score, modified, base = found
            hits.append(_Hit(member, index, display, alias, kind, score, modified, base))
    return min(hits, key=_Hit.rank_key, default=None)


def _describe(hit: _Hit) -> str:
    return f"{hit.display} ({hit.member.person_name})"


def _actor_matches(actor: str, person_name: str) -> bool:
    person = normalize(person_name)
    return actor == person or fuzz.token_sort_ratio(actor, person) >= ACTOR_FUZZY_THRESHOLD


# Ranks and forms of address users put before a name that credits often leave out
# ("Captain Jack Sparrow" credited as "Jack Sparrow", "Commissioner Gordon" as "James Gordon").
HONORIFICS: Final = frozenset(
    {
        "captain",
        "capt",
        "cpt",
        "commissioner",
        "lieutenant",
        "lt",
        "sergeant",
        "sgt",
        "detective",
        "det",
        "inspector",
        "officer",
        "agent",
        "general",
        "gen",
        "colonel",
        "col",
        "major",
        "admiral",
        "commander",
        "doctor",
        "dr",
        "professor",
        "prof",
        "mr",
        "mrs",
        "ms",
        "miss",
        "mister",
        "sir",
        "dame",
        "lord",
        "lady",
        "king",
        "queen",
        "prince",
        "princess",
        "father",
        "sister",
        "brother",
        "uncle",
        "aunt",
        "president",
        "judge",
        "chief",
    }
)


def match_character(
    query: str, cast: Sequence[CastMember], actor: str | None = None
) -> CastMatch | NoMatch:
    """The cast member who plays ``query``, or NoMatch with a reason.

    When nothing matches and the query starts with a rank or form of address ("Captain",
    "Dr.", "Commissioner"), the rest of the query is tried, as a partial match at best, so
    "Captain Jack Sparrow" finds a credit of "Jack Sparrow" but never beats a real exact match.
    """
    result = _match_character(query, cast, actor)
    if isinstance(result, CastMatch) or result.reason.startswith("ambiguous"):
        return result
    tokens = normalize(query).split()
    stripped = list(tokens)
    while len(stripped) > 1 and stripped[0] in HONORIFICS:
        stripped.pop(0)
    # A bare surname is not enough: "Mrs. Gordon" must not become Lt. James Gordon.
    if stripped == tokens or len(stripped) < 2:
        return result
    retry = _match_character(" ".join(stripped), cast, actor)
    if isinstance(retry, CastMatch):
        return CastMatch(
            member=retry.member, alias=retry.alias, kind="partial", score=min(retry.score, 90.0)
        )
    return (
        result
        if not retry.reason.startswith("ambiguous")
        else NoMatch(retry.reason.replace(f"'{' '.join(stripped)}'", f"'{query}'", 1))
    )


def _match_character(
    query: str, cast: Sequence[CastMember], actor: str | None = None
) -> CastMatch | NoMatch:
    """One matching pass over the cast (see match_character).

    Exact beats partial beats fuzzy, whatever the billing; a partial alias with an age word
    ("Young Bruce Wayne") loses to one without; then the lead (lowest ``order``, None last) wins.
    If the best match is partial or fuzzy and another person matches as well under a different
    alias ("Wayne": Bruce and Thomas), the answer is ambiguous. Several people credited with the
    same alias are not ambiguous: the lead wins. ``has_image`` is never looked at. With ``actor``,
    only cast members with that name are considered.
    """
    wanted = normalize(query)
    if not wanted:
        return NoMatch("no character name given")
    if not cast:
        return NoMatch(f"no cast to look for '{query}' in")
    pool = list(enumerate(cast))
    if actor is not None and normalize(actor):
        wanted_actor = normalize(actor)
        pool = [(i, m) for i, m in pool if _actor_matches(wanted_actor, m.person_name)]
        if not pool:
            return NoMatch(f"no cast member named '{actor}'")

    hits = sorted(
        (hit for i, m in pool if (hit := _best_hit(wanted, m, i)) is not None),
        key=_Hit.rank_key,
    )
    if not hits:
        who = f"'{actor}' does not play" if actor and normalize(actor) else "no cast member plays"
        return NoMatch(f"{who} '{query}'")

    best = hits[0]
    if best.kind != "exact":
        rivals = [
            hit
            for hit in hits[1:]
            if hit.kind == best.kind
            and hit.member.person_id != best.member.person_id
            and hit.alias != best.alias
            # "Young Bruce Wayne" is the same character as "Bruce Wayne", only younger.
            and not (hit.modified and not best.modified and hit.base == best.base)
        ]
        if rivals:
            named = [_describe(best), *(_describe(hit) for hit in rivals[:2])]
            listing = ", ".join(named[:-1]) + " and " + named[-1]
            if len(rivals) > 2:
                listing += f" (and {len(rivals) - 2} more)"
            return NoMatch(f"ambiguous: '{query}' matches {listing}")
    return CastMatch(member=best.member, alias=best.alias, kind=best.kind, score=best.score)


@dataclass(frozen=True)
class TitleCandidate:
    """One search result from a provider, with every title it is known by."""

    id: str
    titles: tuple[str, ...]  # primary title first, then original title, aliases, translations...
    year: int | None
    rank: int  # position in the provider's results (0 = first)


@dataclass(frozen=True)
class TitleMatch:
    """The search result that is the queried title."""

    candidate: TitleCandidate
    kind: Literal["exact", "fuzzy"]


def _title_key(title: str) -> str:
    return _strip_leading(normalize(title), _TITLE_ARTICLES)


def _title_kind(query_key: str, titles: Iterable[str]) -> Literal["exact", "fuzzy"] | None:
    keys = [key for key in map(_title_key, titles) if key]
    if any(_compact(key) == _compact(query_key) for key in keys):
        return "exact"
    for key in keys:
        if (
            _fuzzy_guards_pass(query_key, key)
            and fuzz.token_sort_ratio(query_key, key) >= TITLE_FUZZY_THRESHOLD
        ):
            return "fuzzy"
    return None


def match_title(
    query: str, year: int | None, candidates: Sequence[TitleCandidate]
) -> TitleMatch | NoMatch:
    """The search result that is ``query`` (from ``year``, if given), or NoMatch with a reason.

    A result matches when the query equals any of its titles (ignoring a leading "the", "a",
    "an") or fuzzily matches one (:data:`TITLE_FUZZY_THRESHOLD`). Exact beats fuzzy; then, with
    a year, the same year beats a year either side (release dates differ by country), and a
    result further off is never taken; then the provider's rank decides. A result whose titles
    do not match is never returned, even when it is the provider's first.
    """
    query_key = _title_key(query)
    if not query_key:
        return NoMatch("no title given")
    if not candidates:
        return NoMatch(f"no results for '{query}'")
    matching = [
        (kind, candidate)
        for candidate in candidates
        if (kind := _title_kind(query_key, candidate.titles)) is not None
    ]
    if not matching:
        first = min(candidates, key=lambda c: c.rank)
        shown = first.titles[0] if first.titles else first.id
        return NoMatch(f"no result is titled '{query}' (first result: '{shown}')")
    if year is not None:
        near = [
            (kind, candidate)
            for kind, candidate in matching
            if candidate.year is not None and abs(candidate.year - year) <= 1
        ]
        if not near:
            found = sorted({str(c.year) for _, c in matching if c.year is not None})
            if any(c.year is None for _, c in matching):
                found.append("one of unknown year")
            return NoMatch(f"no '{query}' from {year} in the results; found {', '.join(found)}")
        matching = near

    def rank_key(item: tuple[str, TitleCandidate]) -> tuple[int, int, int]:
        kind, candidate = item
        distance = 0 if year is None or candidate.year is None else abs(candidate.year - year)
        return (_KIND_RANK[kind], distance, candidate.rank)

    kind, candidate = min(matching, key=rank_key)
    return TitleMatch(candidate=candidate, kind="exact" if kind == "exact" else "fuzzy")
