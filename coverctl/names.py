"""Normalising and matching character and title strings. Pure functions, no I/O.

The rule everything here follows: the right person or nothing. A wrong face is worse than no
picture, so every matcher returns :class:`NoMatch` with a reason when the answer is not certain
(nothing matches, several different characters match equally well, the year is off).

How :func:`match_character` reads names. Credits and queries are read alike: split into aliases
on "/", ";", "|" and " aka "; "(voice)", "(uncredited)", "(as ...)" dropped; an age in
parentheses kept ("Bruce Wayne (young)" is "Young Bruce Wayne"); a quoted nickname between two
names adds the name without it, the nickname with the surname and the nickname alone
("Robert 'Bob' Paulson"). Words are compared folded: accents, case and punctuation
(:func:`normalize`), a leading "the", and the spellings of one honorific or age word
(:data:`WORD_CLASSES`: Doc = Dr. = Doctor, Capt. = Captain, Mr. = Mister, Older = Old).

The rules, best first. The first rule that finds anybody decides; a later one is never asked.

1. **Whole credit.** A query written like a credit ("Bruce Wayne / Batman", "The Joker (voice)",
   "Mr. Freeze / Dr. Victor Fries") answers with the credit written the same way.
   Otherwise each of the query's aliases is the user's name for the character: the best match
   of any of them wins, and aliases pointing at different people are ambiguous.
2. **Exact**: an alias with the same words ("Spiderman" = "Spider-Man", "Joker" = "The Joker").
3. **Partial**: every query word is a word of the alias ("jack sparrow" in "captain jack
   sparrow", "Doc Brown" in "Dr. Emmett Brown").
4. **Loose**, reported as partial and taken only when one person qualifies: the formal form of
   a credited nickname or an initial ("William Adama" for "Bill Adama": a curated table, one
   step only); a credit shorter than the query that keeps its surname ("Walter Hartwell White"
   for "Walter White", "James Tiberius Kirk" for "James T. Kirk" or "Kirk", "Mary
   Crawley-Talbot" for "Mary Crawley"); a rank of the query that the credit leaves out
   ("Captain Jack Sparrow" for "Jack Sparrow"). Never an age word ("Young Bruce Wayne" is not
   Bruce Wayne) nor a form of address ("Mrs. Gordon" is not Lt. James Gordon) left out, and a
   bare surname only when nobody else carries it or it is the lead's.
5. **Fuzzy**: a typo in one long word, in word order ("Hermoine Granger"), or in a long surname
   after exact first names ("Robert Barratheon"), past :data:`FUZZY_THRESHOLD` and its guards,
   and only when nobody else in the cast is as close. Word order counts: "Anna Black" is never
   "Black Annis".

Who wins when several people match at the best rule:

* **Age variants**: "Young X", "Old X", "Teen X", "Little X Y" (:data:`_MODIFIERS`) are the same
  character as the plain X and lose to it ("Old Rose" to "Rose DeWitt Bukater", "Young Leia" to
  "Princess Leia"); a query naming the variant ("Old Rose") gets the variant.
* **The title character**: with ``title``, among relatives sharing the surname asked for, the
  lead whose name is in the title wins ("Presley" in *Elvis*).
* **A clear lead**: people sharing the very name asked for (or its surname) are settled by billing
  only when the top-billed is the lead and everybody else carrying it is far below
  (:data:`LEAD_MAX_ORDER`, :data:`FAR_BELOW_MIN_ORDER`, :data:`LEAD_MIN_GAP`); never between bit
  parts with a generic credit ("Soldier", "INS Agent": :data:`GENERIC_ROLE_WORDS`).
* **The credit as written**: an exact name still shared is settled by the one credit written
  exactly as the query ("Witch-King" over "Witch-King (uncredited)").
* Anything else is ambiguous, and the reason names who it could be.

Never an answer: a credit for a depiction of someone (a portrait, painting, photograph, statue,
archive footage, a voice on tape: "Portrait of Mrs. Crawley", "X (photograph)"), except to a
query written as that credit; a "Himself" credit, except to the person's own name.

Titles are matched in tiers (:data:`TitleStrength`): a work whose own title is the query (exact
or fuzzy) is certain; any other work a provider's search returned (an alternative title it
lists, the first book of a series of that name, a subtitle or franchise name, or only the right
year) is accepted only when that second signal exists *and* the character matches strongly in
its cast (:func:`pick_work`). When several works could be the title, the character decides, and
two works that both have it are ambiguous.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

__all__ = [
    "ACTOR_FUZZY_THRESHOLD",
    "FAR_BELOW_MIN_ORDER",
    "FUZZY_MIN_LENGTH",
    "FUZZY_THRESHOLD",
    "LEAD_MAX_ORDER",
    "LEAD_MIN_GAP",
    "TITLE_FUZZY_THRESHOLD",
    "VARIANT_MIN_LENGTH",
    "CastMatch",
    "CastMember",
    "NoMatch",
    "RankedTitle",
    "TitleCandidate",
    "TitleMatch",
    "TitlePlan",
    "TitleQuery",
    "TitleStrength",
    "WorkMatch",
    "character_aliases",
    "filename_key",
    "match_character",
    "match_title",
    "normalize",
    "pick_work",
    "plan_titles",
    "question_key",
    "rank_title",
    "split_title_year",
]

FUZZY_THRESHOLD: Final[float] = 88.0
"""Lowest rapidfuzz ``ratio`` (0..100, the words in the order written) for a fuzzy character
match. 88 accepts one transposition in a two-word name ("Hermoine Granger" scores 93.75) and
rejects one changed letter in a word of up to eight letters. A fuzzy match also needs:

* both strings at least :data:`FUZZY_MIN_LENGTH` letters long (spaces not counted), so short
  names ("Bane", "Bale", "Dane") only ever match exactly or as whole tokens;
* the same words in the same order but one, which starts with the same letter, so "Bruce Wayne"
  never becomes "Bruce Payne" and "Anna Black" never "Black Annis" (the order of the words is
  never ignored: sorting them would pair two different people's names);
* that one word a near-spelling of at least :data:`FUZZY_WORD_MIN_LENGTH` letters: a typo in
  one long word, never another first name ("Mary Smith" is not "Mark Smith", "Mrs Bennet" is
  not "Mr Bennet");
* the same numbers (digits and roman numerals), so "Stormtrooper 1" never becomes "Stormtrooper 2";
* neither string merely extending the other ("Robin" / "Robins", "Alien" / "Aliens"), except a
  surname of :data:`SURNAME_TYPO_MIN_LENGTH` letters or more after the same first names.
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


# Marks that make a typed string another question: a credit pasted with its alias separators or
# its qualifier ("Edgar / The Bug", "The Joker (voice)", 'Harold "Hal" Jordan') is matched as
# that credit, while the same words without them ("Edgar the Bug") are matched as one name.
_QUESTION_MARKS: Final = re.compile(r"""([/;|()\[\]"“”])""")


def question_key(text: str) -> str:
    """``normalize`` that keeps the marks the matcher reads (alias separators, brackets,
    quotes), for keys of "the same question" (caches, batch de-duplication).

    Plain names get exactly their ``normalize`` form, so keys made before this existed hold.

    >>> question_key("Edgar / The Bug"), question_key("Edgar the Bug")
    ('edgar / the bug', 'edgar the bug')
    """
    pieces = _QUESTION_MARKS.split(text)
    return " ".join(
        " ".join(
            piece if index % 2 else normalize(piece) for index, piece in enumerate(pieces)
        ).split()
    )


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


# ---------------------------------------------------------------- words and their classes


def _word_set(words: str) -> frozenset[str]:
    """A set of words written as one string, so the long lists below stay readable."""
    return frozenset(words.split())


# Words that mark an age or variant of a character ("Young Bruce Wayne", "Old Rose"): such an
# alias is the same character as the plain one, and loses to it (rule "age variants").
_MODIFIERS: Final = _word_set(
    "young younger youngest teen teenage teenaged adolescent old older oldest elder elderly "
    "aged age little child kid baby infant toddler adult "
    # French credits mark the child with a word after the name ("Amélie enfant", "Nino jeune").
    "enfant jeune"
)
# Age words that are also names or nicknames ("Little John", "Baby", "Billy the Kid"): they mark
# an age only before a full name ("Little Bruce Wayne") or in a parenthetical ("(little)").
_NAME_LIKE_MODIFIERS: Final = frozenset({"little", "baby", "kid"})
# Generation suffixes after a full name ("James Gordon Jr."): like an age, they make the alias
# another person of the same name, who loses to the plain one and never stands in for it.
_GENERATIONS: Final = frozenset({"jr", "junior", "sr", "senior"})

# Ranks and titles of office: a rank in the query may be left out of the credit
# ("Captain Kirk" for "Kirk") because a relative hardly ever holds the same rank.
_RANKS: Final = _word_set(
    "captain commissioner lieutenant sergeant detective inspector superintendent constable "
    "officer agent general colonel major corporal private brigadier admiral commander "
    "commodore ensign marshal sheriff deputy doctor professor reverend monsignor president "
    "judge chief principal headmaster headmistress coach mayor governor senator ambassador "
    "chancellor minister pastor bishop cardinal rabbi maester nurse"
)
# Forms of address that say whose family or which sex: never dropped, because "Mrs. Gordon"
# is not Lt. James Gordon and "Mr. Bennet" is not Mrs. Bennet.
_ADDRESS_FORMS: Final = _word_set(
    "mister mrs ms miss missus madam madame master mistress sir dame lord lady king queen "
    "prince princess duke duchess count countess baron baroness emperor empress saint "
    "father mother sister brother uncle aunt auntie grandma grandpa granny"
)
# The forms of address that say the person's sex, for the "form of address + one name" rule.
_MALE_ADDRESS: Final = _word_set(
    "mister master sir lord king prince duke count baron emperor father brother uncle grandpa"
)
_FEMALE_ADDRESS: Final = _word_set(
    "mrs ms miss missus madam madame mistress dame lady queen princess duchess countess "
    "baroness empress mother sister aunt auntie grandma granny"
)
HONORIFICS: Final = _RANKS | _ADDRESS_FORMS
"""Ranks and forms of address, in their canonical spelling (see :data:`WORD_CLASSES`)."""

WORD_CLASSES: Final[dict[str, str]] = {
    # Honorific equivalence classes: "Doc Brown" is "Dr. Emmett Brown", "Capt. Kirk" is
    # "Captain James T. Kirk". Both the query and the credit are folded, so an exact or partial
    # match sees through the spelling; nothing is dropped by folding.
    "dr": "doctor",
    "doc": "doctor",
    "capt": "captain",
    "cpt": "captain",
    "cap": "captain",
    "lt": "lieutenant",
    "lieut": "lieutenant",
    "sgt": "sergeant",
    "sarge": "sergeant",
    "prof": "professor",
    "mr": "mister",
    "st": "saint",
    "det": "detective",
    "insp": "inspector",
    "supt": "superintendent",
    "gen": "general",
    "col": "colonel",
    "maj": "major",
    "cpl": "corporal",
    "pvt": "private",
    "brig": "brigadier",
    "adm": "admiral",
    "cmdr": "commander",
    "comdr": "commander",
    "cdr": "commander",
    "rev": "reverend",
    "revd": "reverend",
    "fr": "father",
    "msgr": "monsignor",
    # Age words with the same meaning: "Older Rose" is the "Old Rose" credit.
    "older": "old",
    "elderly": "old",
    "younger": "young",
    "teenage": "teen",
    "teenaged": "teen",
    "adolescent": "teen",
    # A child credit is the young version whatever the word: "Young Amélie" is "Amélie enfant".
    # Two such credits for one name (a child and a teenager both "young") are then ambiguous.
    "child": "young",
    "enfant": "young",
    "jeune": "young",
}
"""Spellings folded to one canonical word before words are compared."""

_NICKNAME_TABLE: Final[dict[str, tuple[str, ...]]] = {
    "albert": ("al", "bert", "bertie"),
    "alexander": ("alex", "xander", "sasha"),
    "alexandra": ("alex", "sasha"),
    "andrew": ("andy", "drew"),
    "anthony": ("tony",),
    "arthur": ("art", "artie"),
    "augustus": ("gus",),
    "barbara": ("babs", "barb"),
    "benjamin": ("ben", "benji"),
    "bernard": ("bernie",),
    "catherine": ("cathy", "cat", "kate", "katie", "kitty"),
    "charles": ("charlie", "chuck", "chas"),
    "christopher": ("chris", "kit"),
    "christina": ("chris", "tina"),
    "christine": ("chris",),
    "daniel": ("dan", "danny"),
    "david": ("dave", "davy"),
    "deborah": ("deb", "debbie"),
    "donald": ("don", "donnie"),
    "dorothy": ("dot", "dottie", "dolly"),
    "douglas": ("doug",),
    "eddard": ("ned",),
    "edward": ("ed", "eddie", "ted", "teddy", "ned"),
    "eleanor": ("ellie", "nell", "nellie"),
    "elizabeth": ("liz", "lizzie", "lizzy", "beth", "betty", "betsy", "bess", "eliza", "libby"),
    "emily": ("em", "emmy"),
    "eugene": ("gene",),
    "francis": ("frank", "frankie"),
    "franklin": ("frank",),
    "frederick": ("fred", "freddie", "freddy"),
    "gabriel": ("gabe",),
    "gerald": ("gerry", "jerry"),
    "ginevra": ("ginny",),
    "gregory": ("greg",),
    "gustav": ("gus",),
    "gustavo": ("gus",),
    "harold": ("hal", "harry"),
    "henry": ("hank", "hal"),
    "isabella": ("bella", "izzy"),
    "isabel": ("bella", "izzy"),
    "jacob": ("jake",),
    "jacqueline": ("jackie",),
    "james": ("jim", "jimmy", "jamie"),
    "jeffrey": ("jeff",),
    "jennifer": ("jen", "jenny"),
    "john": ("johnny",),
    "jonathan": ("jon", "jonny"),
    "joseph": ("joe", "joey"),
    "joshua": ("josh",),
    "judith": ("judy",),
    "katherine": ("kate", "kathy", "katie", "kat", "kitty", "cathy"),
    "kathryn": ("kate", "kathy", "katie"),
    "kenneth": ("ken", "kenny"),
    "kimberly": ("kim",),
    "lawrence": ("larry",),
    "leonard": ("leo", "len", "lenny"),
    "margaret": ("peggy", "maggie", "meg", "madge", "marge", "margie"),
    "martin": ("marty",),
    "matthew": ("matt", "matty"),
    "maximilian": ("max",),
    "maxwell": ("max",),
    "michael": ("mike", "mikey", "mick", "mickey"),
    "mitchell": ("mitch",),
    "montgomery": ("monty",),
    "nathaniel": ("nate", "nat"),
    "nicholas": ("nick", "nicky"),
    "pamela": ("pam",),
    "patricia": ("pat", "patty", "trish"),
    "patrick": ("pat", "paddy"),
    "penelope": ("penny",),
    "peter": ("pete",),
    "philip": ("phil",),
    "phillip": ("phil",),
    "raymond": ("ray",),
    "rebecca": ("becky", "becca"),
    "reginald": ("reg", "reggie"),
    "richard": ("dick", "rick", "ricky", "rich", "richie"),
    "robert": ("bob", "bobby", "rob", "robbie", "bert"),
    "ronald": ("ron", "ronnie"),
    "samantha": ("sam", "sammy"),
    "samuel": ("sam", "sammy"),
    "samwise": ("sam",),
    "stanley": ("stan",),
    "stephen": ("steve",),
    "steven": ("steve",),
    "susan": ("sue", "susie"),
    "terence": ("terry",),
    "theodore": ("ted", "teddy", "theo"),
    "theresa": ("tess", "tessa", "terry"),
    "thomas": ("tom", "tommy"),
    "timothy": ("tim", "timmy"),
    "victoria": ("vicky", "tori"),
    "vincent": ("vince", "vinnie"),
    "virginia": ("ginny",),
    "walter": ("walt", "wally"),
    "william": ("bill", "billy", "will", "willy", "willie", "liam"),
    "zachary": ("zach", "zack"),
}
"""Formal first names and the short forms everybody knows ("William" for a credited "Bill").

Curated by hand and kept small on purpose: the ``nicknames`` package (2,691 pairs from
genealogy) also pairs Robert with Rupert, Margaret with Rita and Daisy, Elizabeth with Lisa, which
are different people's names today. Only one step is taken (formal to short form and back), so
"Will" and "Bill" are not the same name although both are William's. "John"/"Jack" is left out
on purpose: father and son are often John and Jack (John and Jack McClane)."""


def _name_forms() -> dict[str, frozenset[str]]:
    forms: dict[str, set[str]] = {}
    for formal, shorts in _NICKNAME_TABLE.items():
        forms.setdefault(formal, set()).update(shorts)
        for short in shorts:
            forms.setdefault(short, set()).add(formal)
    return {name: frozenset(others) for name, others in forms.items()}


_NAME_FORMS: Final = _name_forms()

# Words that make a credit a picture or a recording of someone, not the character played:
# "Portrait of Mrs. Crawley", "Ellie (archive footage)", "X (photograph)", "Voice on Tape".
_DEPICTION_WORDS: Final = _word_set(
    "portrait portraits painting paintings painted photo photos photograph photographs "
    "photographed picture pictures statue statues bust sculpture drawing sketch poster "
    "waxwork archive archival footage image images tape tapes recording recordings recorded"
)
# Words in a parenthetical that make it a credit qualifier, not a name: "(voice)",
# "(uncredited)", "(singing voice)", "(scenes deleted)".
_QUALIFIER_WORDS: Final = _word_set(
    "voice voices uncredited unbilled credit credits credited cameo segment episode "
    "episodes version dub dubbed motion capture mocap rumored rumoured unconfirmed deleted "
    "scene scenes double stunt flashback singing speaking cgi"
)
# A parenthetical starting with one of these is about the credit ("(as Bob Smith)").
_QUALIFIER_LEADS: Final = frozenset({"as", "also", "in"})
_SELF_WORDS: Final = frozenset({"self", "himself", "herself", "themselves", "themself"})
_AGE_WORDS: Final = frozenset({"year", "years", "yr", "yrs"})

# Head nouns of bit parts: several people credited "Soldier", "INS Agent", "Police Officer #4"
# are different people, so a tie between them is never settled by billing (rule "clear lead").
GENERIC_ROLE_WORDS: Final = _word_set(
    "soldier soldiers agent agents guard guards bodyguard nurse reporter journalist "
    "photographer officer policeman policewoman police cop trooper stormtrooper marine "
    "sailor pilot driver waiter waitress bartender barman maid servant butler clerk cashier "
    "receptionist secretary assistant intern technician tech scientist engineer medic "
    "paramedic surgeon security bouncer vendor merchant trader farmer villager peasant "
    "citizen townsperson townsman refugee prisoner inmate hostage victim witness survivor "
    "passenger patron customer guest tourist shopper pedestrian bystander onlooker "
    "spectator fan student teacher priest nun monk dancer singer musician drummer model "
    "announcer newscaster anchor official executive businessman businesswoman lawyer "
    "attorney juror thug goon henchman gangster mobster biker pirate warrior knight archer "
    "whore prostitute slave slaver worker man men woman women boy girl guy child kid baby "
    "extra orc hobbit elf goblin troll hai zombie vampire alien aliens wildling unsullied "
    "ironborn"
)
# "Alien on TV Monitor", "Cop in Morgue": the head noun comes before these words.
_HEAD_NOUN_ENDS: Final = frozenset({"of", "on", "at", "in", "with", "from", "for", "to", "near"})
_ORDINALS: Final = frozenset({"1st", "2nd", "3rd", "first", "second", "third", "fourth", "fifth"})


def _canonical(word: str) -> str:
    return WORD_CLASSES.get(word, word)


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


@dataclass(frozen=True, slots=True)
class _Alias:
    """One name a credit (or a query) goes by, prepared once for every comparison."""

    display: str  # as credited, for messages: "Dr. Jonathan Crane"
    text: str  # normalised: "dr jonathan crane" (what CastMatch.alias reports)
    words: tuple[str, ...]  # canonical words: ("doctor", "jonathan", "crane")
    keyed: tuple[str, ...]  # the words without a leading "the" ("The Joker" is "Joker")
    wordset: frozenset[str]  # the keyed words as a set
    spaced: str  # the keyed words joined by spaces: scores
    key: str  # the words without spaces or a leading "the": exact comparisons
    age_words: frozenset[str]  # "young", "jr"; not the "little" of "Little John"
    surname_parts: frozenset[str]  # the parts of a hyphenated last word: {"crawley", "talbot"}
    depiction: bool  # a portrait, photograph, statue, archive footage... of someone
    exact_only: bool  # the full form of a credit with an in-story quoted name ("Dwarf 'Joffrey'")
    is_self: bool  # "Himself", "Self - Host": only the person's own name matches
    generic: bool  # a bit part's head noun ("Soldier", "INS Agent", "Police Officer #4")


@dataclass(frozen=True, slots=True)
class _Credit:
    """A credit string (or a query) split into its aliases."""

    key: str  # the whole string, normalised, folded and without spaces
    aliases: tuple[_Alias, ...]
    shaped: bool  # written like a credit: several aliases, a parenthetical or quotes


# A quoted part: opened at the start or after a space, closed before a space, punctuation or the
# end, so apostrophes ("Gael's Mum", "O'Neil", "Yunkai'i") are never taken for quotes.
_QUOTED: Final = re.compile(r"(?:(?<=\s)|^)[\"'‘“«]([^\"'‘’“”«»]+)[\"'’”»](?=[\s,.;:!?)\]]|$)")
_PARENTHETICAL: Final = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\]")
_ALIAS_SEPARATOR: Final = re.compile(r"\s*(?:/|;|\||\s+a\.?k\.?a\.?\s+)\s*", re.IGNORECASE)
_LEADING_AS: Final = re.compile(r"^\s*as\s+(?=\S)", re.IGNORECASE)


def _age_words(words: tuple[str, ...], from_parenthetical: frozenset[str]) -> frozenset[str]:
    """The words of an alias that make it an age or generation of a character."""
    found = set()
    for position, word in enumerate(words):
        if word in _GENERATIONS and position >= 2 and position == len(words) - 1:
            found.add(word)  # "James Gordon Jr.": the son, not the Gordon asked for
        if word not in _MODIFIERS:
            continue
        followed_by = len(words) - position - 1
        if word in _NAME_LIKE_MODIFIERS and followed_by < 2 and word not in from_parenthetical:
            continue  # "Little John" is a name, "Little Bruce Wayne" a younger Bruce Wayne
        found.add(word)
    return frozenset(found)


def _is_generic(words: tuple[str, ...]) -> bool:
    head = list(words)
    for position, word in enumerate(head):
        if position and word in _HEAD_NOUN_ENDS:
            head = head[:position]
            break
    numbered = False
    while head and (head[-1].isdigit() or head[-1] in _ORDINALS):
        head.pop()  # "Soldier #2", "Dufflepud 3": a numbered credit is a bit part
        numbered = True
    return (
        numbered
        or not head
        or head[-1] in GENERIC_ROLE_WORDS
        or all(word in HONORIFICS for word in head)
    )


def _make_alias(
    display: str,
    text: str,
    *,
    depiction: bool,
    exact_only: bool = False,
    parenthetical_ages: frozenset[str] = frozenset(),
    last_word: str = "",
) -> _Alias | None:
    normal = normalize(text)
    if not normal:
        return None
    words = tuple(_canonical(w) for w in normal.split())
    keyed = words[1:] if len(words) > 1 and words[0] in _CHARACTER_ARTICLES else words
    parts = normalize(last_word).split() if last_word else []
    return _Alias(
        display=display,
        text=normal,
        words=words,
        keyed=keyed,
        wordset=frozenset(keyed),
        spaced=" ".join(keyed),
        key="".join(keyed),
        age_words=_age_words(words, parenthetical_ages),
        surname_parts=frozenset(parts) if len(parts) > 1 else frozenset(),
        depiction=depiction or any(w in _DEPICTION_WORDS for w in words),
        exact_only=exact_only,
        is_self=words[0] in _SELF_WORDS,
        generic=_is_generic(words),
    )


def _piece_aliases(
    piece: str, prefix: str, depiction: bool, parenthetical_ages: frozenset[str]
) -> list[_Alias | None]:
    """The aliases of one "/"-separated piece, quoted nicknames included.

    "Robert 'Bob' Paulson" -> "robert bob paulson", "robert paulson",
    "bob paulson", "bob": a nickname between two names is a name the character goes by.
    "Dwarf 'Joffrey'" -> "dwarf joffrey" (exact only), "dwarf": a quoted name at either end is
    somebody the character plays or stands for (a dwarf playing Joffrey), so it never answers
    a query for Joffrey. "'Steph'" -> "steph".
    """
    piece = " ".join(piece.split())
    quoted = _QUOTED.search(piece)
    pieces: list[tuple[str, bool]] = []  # (text, exact_only)
    if quoted is None:
        pieces.append((piece, False))
    else:
        before = piece[: quoted.start()].strip()
        after = piece[quoted.end() :].strip()
        inner = quoted.group(1).strip()
        plain = " ".join(f"{before} {inner} {after}".split())
        if not before and not after:
            pieces.append((inner, False))
        elif before and after:
            surname = after.split()[-1]
            pieces += [
                (plain, False),
                (f"{before} {after}", False),
                (f"{inner} {surname}", False),
                (inner, False),
            ]
        else:
            pieces += [(plain, True), (before or after, False)]
    made = []
    for text, exact_only in pieces:
        display = f"{text} ({prefix})" if prefix else text
        made.append(
            _make_alias(
                display,
                f"{prefix} {text}",
                depiction=depiction,
                exact_only=exact_only,
                parenthetical_ages=parenthetical_ages,
                last_word=text.split()[-1] if text.split() else "",
            )
        )
    return made


_PARSE_CACHE_SIZE: Final = 16384  # distinct credit strings (and queries) kept parsed


@functools.lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _parse_credit(credit: str | None) -> _Credit:
    """Split a provider's credit string, or a query written like one, into its aliases.

    Cached: a batch matches thousands of queries against the same few casts.
    """
    if not credit or not credit.strip():
        return _Credit("", (), False)
    modifiers: list[str] = []
    extra: list[str] = []
    depiction = False
    for match in _PARENTHETICAL.finditer(credit):
        inner = match.group(1) if match.group(1) is not None else match.group(2)
        tokens = normalize(inner).split()
        if any(t in _DEPICTION_WORDS for t in tokens):
            depiction = True  # "(portrait)", "(photograph) (uncredited)", "(archive footage)"
        elif _is_modifier_parenthetical(tokens):
            modifiers.append(inner.strip())
        elif not _is_qualifier_parenthetical(tokens):
            extra.append(inner)
    main = _PARENTHETICAL.sub(" ", credit)
    # An unclosed "(" or "[" starts a truncated qualifier: drop it and what follows.
    main = re.split(r"[(\[]", main, maxsplit=1)[0]
    main = _LEADING_AS.sub("", main)
    prefix = " ".join(modifiers)
    parenthetical_ages = frozenset(normalize(prefix).split())
    found: list[_Alias | None] = []
    pieces = [p for p in _ALIAS_SEPARATOR.split(main) if p.strip()]
    for piece in pieces:
        found += _piece_aliases(piece, prefix, depiction, parenthetical_ages)
    for inner in extra:
        for piece in _ALIAS_SEPARATOR.split(inner):
            if piece.strip():
                found += _piece_aliases(piece, "", depiction, frozenset())
    seen: set[str] = set()
    aliases: list[_Alias] = []
    for alias in found:
        if alias is not None and alias.text not in seen:
            seen.add(alias.text)
            aliases.append(alias)
    whole = "".join(_canonical(w) for w in normalize(credit).split())
    shaped = len(pieces) > 1 or bool(extra) or "(" in credit or "[" in credit
    shaped = shaped or _QUOTED.search(credit) is not None
    return _Credit(whole, tuple(aliases), shaped)


def character_aliases(credit: str | None) -> list[str]:
    """Normalised aliases of a provider's credited character string, in credit order.

    Aliases are split on "/", ";", "|" and " aka ". Credit qualifiers in parentheses or brackets
    ("(voice)", "(uncredited)", "(as Bob)") are dropped; age qualifiers are kept as words
    ("Bruce Wayne (young)" -> "young bruce wayne"); any other parenthetical is a further alias
    ("Batman (Bruce Wayne)" -> ["batman", "bruce wayne"]). A quoted nickname between two names
    adds the name without it, the nickname with the surname and the nickname alone
    ("Robert 'Bob' Paulson"). A depiction ("(archive footage)", "Portrait of X") is still listed
    here; the matcher never answers with it. Empty or None -> [].

    >>> character_aliases("Bruce Wayne / Batman (voice)")
    ['bruce wayne', 'batman']
    """
    return [alias.text for alias in _parse_credit(credit).aliases]


@dataclass(frozen=True)
class CastMember:
    """One credit in a provider's cast list."""

    person_id: str
    person_name: str
    character: str  # raw provider string, e.g. "Bruce Wayne / Batman (voice)"
    order: int | None  # billing order; lower = bigger part; None = unknown (ranks last)
    has_image: bool  # never used for matching: a match without a photo is still the match
    # The person's gender as the provider lists it ("female", "male"), None when unknown (TVDB
    # does not list it). Only the "form of address + one name" rule reads it.
    gender: str | None = None


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


LEAD_MAX_ORDER: Final[int] = 2
"""Highest billing ``order`` (0 = top of the cast) that is "the lead" for the clear-lead and
title-character rules: TMDB bills the film's one to three stars at 0..2, TVDB's ``sort`` starts at
1 for its lead."""

TITLE_ROLE_MAX_ORDER: Final[int] = 10
"""Highest billing ``order`` at which a credit made only of title words ("Private Ryan" in *Saving
Private Ryan*) is the title's character for the title-character rule: the one the film is named
after is billed among its first ten credits even when stars are billed above them."""

FAR_BELOW_MIN_ORDER: Final[int] = 10
"""Lowest billing ``order`` of the other people sharing a name with the lead for the lead to win
(rule "clear lead"): past the first ten credits come the supporting parts and bit parts, not a
co-star who could be the one meant."""

LEAD_MIN_GAP: Final[int] = 8
"""Fewest billing places between the lead and every other person sharing the name: a voice at
order 5 beside the star at 0 is a co-star, not a bit part, so "Batman" stays ambiguous there."""

SURNAME_TYPO_MIN_LENGTH: Final[int] = 7
"""Shortest surname that may carry a one-letter typo when the query's other words are exact
("Barratheon" for "Baratheon", "Grangers" for "Granger"): shorter ones are different names too
often ("Stark"/"Starke", "Hanson"/"Hansson")."""

FUZZY_CLOSE_RIVAL: Final[float] = 80.0
"""A fuzzy answer stands only when nobody else in the cast scores this close to the query."""

_FUZZY_WORD_RATIO: Final = 75.0  # the one differing word of a fuzzy match: a near-spelling

_WHOLE, _EXACT, _PARTIAL, _LOOSE, _FUZZY = range(5)
_TIER_KIND: Final[tuple[_Kind, ...]] = ("exact", "exact", "partial", "partial", "fuzzy")
_TITLE_FILLER: Final = frozenset({"the", "a", "an", "and", "of", "part", "chapter", "volume"})


@dataclass(frozen=True, slots=True)
class _Hit:
    member: CastMember
    index: int  # position in the cast list: last tie-breaker
    person: str  # who: the provider's person id, or the position when it gave none
    alias: _Alias
    display: str  # the credit as shown in messages
    tier: int
    score: float
    modified: bool  # the alias has an age word the query lacks ("Young Bruce Wayne" for "Bruce")
    base: frozenset[str]  # the alias's words without those age words

    @property
    def order(self) -> float:
        return float("inf") if self.member.order is None else float(self.member.order)

    def rank_key(self) -> tuple[int, bool, float, float, int]:
        return (self.tier, self.modified, self.order, -self.score, self.index)


@dataclass(frozen=True, slots=True)
class _Found:
    hit: _Hit


@dataclass(frozen=True, slots=True)
class _Tied:
    hits: tuple[_Hit, ...]  # the people it could be, best first


_Outcome = _Found | _Tied | None


def _age_variant(
    alias_words: frozenset[str], matched: frozenset[str], alias: _Alias
) -> tuple[bool, frozenset[str]]:
    """``(modified, base)``: whether the alias's unmatched words include an age word."""
    extra = alias_words - matched
    if not extra & alias.age_words:
        return False, alias_words
    variant = {w for w in extra if w in alias.age_words or w in _AGE_WORDS or w.isdigit()}
    return True, alias_words - variant


def _strict(query: _Alias, alias: _Alias) -> tuple[int, float, bool, frozenset[str]] | None:
    """Exact (same words) or partial (every query word is a word of the alias)."""
    if query.key == alias.key:
        return _EXACT, 100.0, False, alias.wordset
    if alias.exact_only or not query.wordset <= alias.wordset:
        return None
    modified, base = _age_variant(alias.wordset, query.wordset, alias)
    return _PARTIAL, fuzz.ratio(query.spaced, alias.spaced), modified, base


def _same_name(typed: str, credited: str) -> bool:
    """Equal, an initial of the other ("T." for "Tiberius"), or a nickname one step away."""
    if typed == credited:
        return True
    if (len(typed) == 1) != (len(credited) == 1):
        return credited.startswith(typed) or typed.startswith(credited)
    return credited in _NAME_FORMS.get(typed, ())


def _align(short: Sequence[str], long: Sequence[str]) -> list[int] | None:
    """Where each word of ``short`` is in ``long``, in order (see _same_name); None if not all."""
    positions: list[int] = []
    start = 0
    for word in short:
        for position in range(start, len(long)):
            if _same_name(word, long[position]):
                positions.append(position)
                start = position + 1
                break
        else:
            return None
    return positions


def _ranks(words: Iterable[str]) -> frozenset[str]:
    return frozenset(w for w in words if w in _RANKS)


def _loose(
    query: _Alias, alias: _Alias, member: CastMember
) -> tuple[float, bool, frozenset[str], int] | None:
    """The looser rules, tried only when no credit matches exactly or partially.

    * the formal form of a credited nickname, or an initial ("William Adama" for "Bill Adama",
      "James T. Kirk" for "James Tiberius Kirk"); the surname itself must be exact;
    * a credit shorter than the query ("Walter Hartwell White" for "Walter White", "James
      Tiberius Kirk" for "Kirk", "Mary Crawley-Talbot" for "Mary Crawley"): the credit keeps the
      query's surname; a rank of the query may be missing from it, an age word or a form of
      address never ("Young Bruce Wayne" is not "Bruce Wayne", "Mrs. Gordon" is not "Gordon");
    * a rank of the query missing from the credit ("Captain Kirk" for "James T. Kirk").

    A bare surname answers only for the lead (Kirk in Star Trek): anybody else credited by the
    surname alone, or matched by it alone, could be a relative of the one asked for ("Mary
    Bennet" is not the "Bennet" billed fourth, "Captain Kirk" is not Winona Kirk), and casts
    are often incomplete (TMDB's series credits list only the current regulars).
    """
    typed, credited = query.keyed, alias.keyed
    if alias.exact_only or not typed or not credited:
        return None
    lead = member.order is not None and member.order <= LEAD_MAX_ORDER
    typed_ranks, credited_ranks = _ranks(typed), _ranks(credited)
    if typed_ranks and credited_ranks and not typed_ranks & credited_ranks:
        return None  # "Commissioner Gordon" is not "Lt. James Gordon"
    score = fuzz.ratio(query.spaced, alias.spaced)

    if len(typed) <= len(credited):
        positions = _align(typed, credited)
        if (
            positions is not None
            and any(typed[i] != credited[p] for i, p in enumerate(positions))
            and (
                typed[-1] == credited[positions[-1]]
                if len(typed) > 1
                # A first name alone answers through a nickname, never through an initial.
                else credited[positions[0]] in _NAME_FORMS.get(typed[0], ())
            )
            and any(len(w) > 1 for w in typed)
        ):
            matched = frozenset(credited[p] for p in positions)
            modified, base = _age_variant(alias.wordset, matched, alias)
            return score, modified, base, len(typed)

    names = [w for w in credited if w not in HONORIFICS]
    core = names if len(names) >= 2 else list(credited)
    if len(core) < len(typed):
        positions = _align(core, typed)
        if positions is not None and core[-1] == typed[positions[-1]]:
            last = positions[-1]
            keeps_surname = last == len(typed) - 1 or (
                core[-1] in query.surname_parts and last >= len(typed) - len(query.surname_parts)
            )
            left_out = [typed[i] for i in range(len(typed)) if i not in positions]
            if (
                keeps_surname
                and not any(w in query.age_words for w in left_out)
                and (len(core) >= 2 or (lead and not any(w in _ADDRESS_FORMS for w in left_out)))
            ):
                return score, False, alias.wordset, len(core)

    leading = 0
    while leading < len(typed) - 1 and typed[leading] in _RANKS:
        leading += 1
    rest = typed[leading:]
    if leading and set(rest) <= alias.wordset:
        bare = len(rest) == 1
        if not bare or (rest[0] == credited[-1] and lead):
            modified, base = _age_variant(alias.wordset, frozenset(rest), alias)
            return score, modified, base, len(rest)
    return None


def _fuzzy(query: _Alias, alias: _Alias) -> float | None:
    """A typo in one long word, in word order (see FUZZY_THRESHOLD), or in a long surname."""
    typed, credited = query.keyed, alias.keyed
    if alias.exact_only or not typed or not credited:
        return None
    if len(typed) == len(credited):
        differing = [i for i, (a, b) in enumerate(zip(typed, credited, strict=True)) if a != b]
        if len(differing) != 1:
            return None
        position = differing[0]
        left, right = typed[position], credited[position]
        if (
            left[0] != right[0]
            or min(len(left), len(right)) < FUZZY_WORD_MIN_LENGTH
            or fuzz.ratio(left, right) < _FUZZY_WORD_RATIO
        ):
            return None
        compact_typed, compact_credited = "".join(typed), "".join(credited)
        if min(len(compact_typed), len(compact_credited)) < FUZZY_MIN_LENGTH:
            return None
        if _numbers(typed) != _numbers(credited):
            return None
        extends = compact_typed.startswith(compact_credited) or compact_credited.startswith(
            compact_typed
        )
        # "Robin"/"Robins", "Alien"/"Aliens" are different names; "Hermione Grangers" is a
        # surname with one letter more after the same first name.
        if extends and not (
            position == len(typed) - 1
            and position > 0
            and min(len(left), len(right)) >= SURNAME_TYPO_MIN_LENGTH
        ):
            return None
        score = fuzz.ratio(query.spaced, alias.spaced)
        return score if score >= FUZZY_THRESHOLD else None
    if len(typed) < len(credited):
        surname, credited_surname = typed[-1], credited[-1]
        if (
            len(surname) < SURNAME_TYPO_MIN_LENGTH
            or surname == credited_surname
            or surname[0] != credited_surname[0]
            or OSA.distance(surname, credited_surname, score_cutoff=1) > 1
            or not set(typed[:-1]) <= set(credited[:-1])
        ):
            return None
        score = fuzz.ratio(surname, credited_surname)
        return score if score >= FUZZY_THRESHOLD else None
    return None


def _describe(hit: _Hit) -> str:
    return f"{hit.display} ({hit.member.person_name})"


def _ambiguous(query: str, hits: Sequence[_Hit], why: str = "") -> NoMatch:
    named: list[str] = []
    for hit in hits:
        described = _describe(hit)
        if described not in named:
            named.append(described)
    shown = named[:3]
    listing = ", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else shown[0]
    if len(named) > 3:
        listing += f" (and {len(named) - 3} more)"
    return NoMatch(f"ambiguous: '{query}' matches {listing}{why}")


def _actor_matches(actor: str, person_name: str) -> bool:
    person = normalize(person_name)
    return actor == person or fuzz.token_sort_ratio(actor, person) >= ACTOR_FUZZY_THRESHOLD


def _title_words(title: str | None) -> frozenset[str]:
    if not title:
        return frozenset()
    words = (_canonical(w) for w in normalize(title).split())
    return frozenset(
        w for w in words if w not in _TITLE_FILLER and not w.isdigit() and w not in _ROMAN
    )


def _is_title_character(credit: _Credit, title_words: frozenset[str], order: float) -> bool:
    """The credit names the work: "Elvis Presley" in *Elvis*, "Batman" in *Batman Begins*,
    "Private Ryan" in *Saving Private Ryan*.

    A credit wholly inside the title (every word of it is a title word) is the title's character
    wherever it is billed within :data:`TITLE_ROLE_MAX_ORDER` (Private Ryan is billed ninth); a
    credit that merely contains the title ("Elvis Presley" for *Elvis*) must be the lead, or an
    "Elvis Impersonator" bit part would count.
    """
    for alias in credit.aliases:
        if alias.depiction or alias.is_self or alias.generic:
            continue
        names = alias.wordset - HONORIFICS
        if not names:
            continue
        if alias.wordset <= title_words and order <= TITLE_ROLE_MAX_ORDER:
            return True
        if title_words <= alias.wordset and order <= LEAD_MAX_ORDER:
            return True
    return False


class _Cast:
    """One matching job: the cast (after the actor filter) with its credits parsed."""

    def __init__(self, pool: Sequence[tuple[int, CastMember]], title: str | None) -> None:
        self.pool = pool
        self.credits = [_parse_credit(member.character) for _, member in pool]
        self.persons = [member.person_id or f"#{index}" for index, member in pool]
        self.title_words = _title_words(title)

    def entries(self) -> Iterable[tuple[int, CastMember, str, _Credit]]:
        for (index, member), person, credit in zip(
            self.pool, self.persons, self.credits, strict=True
        ):
            yield index, member, person, credit


def _self_hit(query: _Alias, index: int, member: CastMember, person: str) -> _Hit | None:
    # "Himself", "Self - Host": the character is the person, so only their name matches.
    own = _parse_credit(member.person_name).aliases
    if own and own[0].key == query.key:
        return _Hit(
            member, index, person, own[0], member.person_name, _EXACT, 100.0, False, own[0].wordset
        )
    return None


def _collect(query: _Alias, cast: _Cast) -> list[_Hit]:
    """Every member's best hit at the best tier anybody reaches (exact, partial, loose, fuzzy)."""
    strict: list[_Hit] = []
    for index, member, person, credit in cast.entries():
        for alias in credit.aliases:
            if alias.is_self:
                hit = _self_hit(query, index, member, person)
                if hit is not None:
                    strict.append(hit)
                continue
            if alias.depiction and not query.depiction:
                continue  # a portrait or photograph of someone is not the character
            found = _strict(query, alias)
            if found is not None:
                tier, score, modified, base = found
                strict.append(
                    _Hit(member, index, person, alias, alias.display, tier, score, modified, base)
                )
    if strict:
        best_tier = min(hit.tier for hit in strict)
        return [hit for hit in strict if hit.tier == best_tier]
    loose: list[tuple[int, _Hit]] = []
    # Every loose rule needs a word in common, or a nickname of one: skip the rest unread.
    related = query.wordset.union(*(_NAME_FORMS.get(word, ()) for word in query.wordset))
    for index, member, person, credit in cast.entries():
        for alias in credit.aliases:
            if alias.is_self or alias.depiction or related.isdisjoint(alias.wordset):
                continue
            loosely = _loose(query, alias, member)
            if loosely is not None:
                score, modified, base, covered = loosely
                hit = _Hit(
                    member, index, person, alias, alias.display, _LOOSE, score, modified, base
                )
                loose.append((covered, hit))
    if loose:
        # The credit that accounts for more of the query's words is the more specific one:
        # "George Samuel Kirk" is George Kirk, not the lead credited "Kirk".
        most = max(covered for covered, _ in loose)
        return [hit for covered, hit in loose if covered == most]
    fuzzy: list[_Hit] = []
    for index, member, person, credit in cast.entries():
        for alias in credit.aliases:
            if alias.is_self or alias.depiction:
                continue
            fuzzy_score = _fuzzy(query, alias)
            if fuzzy_score is not None:
                fuzzy.append(
                    _Hit(
                        member,
                        index,
                        person,
                        alias,
                        alias.display,
                        _FUZZY,
                        fuzzy_score,
                        False,
                        alias.wordset,
                    )
                )
    return fuzzy


def _best_per_person(hits: Iterable[_Hit]) -> list[_Hit]:
    best: dict[str, _Hit] = {}
    for hit in hits:
        if hit.person not in best or hit.rank_key() < best[hit.person].rank_key():
            best[hit.person] = hit
    return sorted(best.values(), key=_Hit.rank_key)


def _without_age_variants(people: list[_Hit]) -> list[_Hit]:
    """Drop "Young X" / "Old X" when the plain X is there (rule "age variants").

    The variant is the same character when its name is the plain credit's ("Young Bruce Wayne"
    and "Bruce Wayne"), or a part of it billed below it ("Old Rose" under "Rose DeWitt Bukater",
    "Young Leia" under "Princess Leia": the adult's title never makes the child win).
    """
    plain = [hit for hit in people if not hit.modified]
    if not plain:
        return people
    kept = []
    for hit in people:
        if hit.modified and any(
            other.person != hit.person
            and (
                hit.base == other.alias.wordset
                or (hit.base <= other.alias.wordset and other.order <= hit.order)
            )
            for other in plain
        ):
            continue
        kept.append(hit)
    return kept


def _near_spellings(word: str, cast: _Cast, people: set[str]) -> list[float]:
    """Billing of the others who carry a near-spelling of ``word`` ("Prevensie" for Pevensie)."""
    orders: list[float] = []
    if len(word) < FUZZY_WORD_MIN_LENGTH:
        return orders
    for _, member, person, credit in cast.entries():
        if person in people:
            continue
        for alias in credit.aliases:
            if alias.depiction or alias.is_self:
                continue
            if any(
                other != word
                and other[0] == word[0]
                and OSA.distance(other, word, score_cutoff=1) <= 1
                for other in alias.wordset
            ):
                orders.append(float("inf") if member.order is None else float(member.order))
                break
    return orders


def _clear_lead(people: list[_Hit], others: Iterable[float]) -> _Hit | None:
    """The top-billed person when they are the lead and everybody else is far below."""
    top = min(people, key=lambda hit: hit.order)
    if top.order > LEAD_MAX_ORDER:
        return None
    below = [hit.order for hit in people if hit is not top] + list(others)
    floor = max(FAR_BELOW_MIN_ORDER, top.order + LEAD_MIN_GAP)
    return top if all(order >= floor for order in below) else None


def _settle(query: _Alias, hits: list[_Hit], cast: _Cast, literal: str) -> _Outcome:
    """One person, or a tie settled by the rules below, or a tie (see the module docstring).

    A tie between different people is settled only when they share the very name asked for
    (an identical alias) or it is their common surname ("Presley"): by the title character, then
    by a clear lead, then, for an exact name, by the one credit written exactly as the query
    (``literal``: "Witch-King" over "Witch-King (uncredited)"). Bit parts with a generic credit
    are never settled by billing.
    """
    if not hits:
        return None
    tier = hits[0].tier
    people = _best_per_person(hits)
    if tier in (_EXACT, _PARTIAL, _LOOSE):
        people = _without_age_variants(people)
    if len(people) == 1:
        winner = people[0]
        close = _close_to(query, winner, cast) if tier == _FUZZY else []
        return _Tied((winner, *close)) if close else _Found(winner)
    identical = len({hit.alias.key for hit in people}) == 1
    size = len(query.keyed)
    surname = tier == _PARTIAL and all(hit.alias.keyed[-size:] == query.keyed for hit in people)
    if not (identical or surname):
        return _Tied(tuple(people))
    if not any(hit.alias.generic for hit in people):
        if cast.title_words:
            title_characters = [
                hit
                for hit in people
                if _is_title_character(
                    _parse_credit(hit.member.character), cast.title_words, hit.order
                )
            ]
            if len(title_characters) == 1:
                return _Found(title_characters[0])
        others = (
            _near_spellings(query.keyed[-1], cast, {hit.person for hit in people})
            if surname
            else []
        )
        lead = _clear_lead(people, others)
        if lead is not None:
            return _Found(lead)
    if tier == _EXACT:
        written_so = [hit for hit in people if _parse_credit(hit.member.character).key == literal]
        if len(written_so) == 1:
            return _Found(written_so[0])
    return _Tied(tuple(people))


def _close_to(query: _Alias, winner: _Hit, cast: _Cast) -> list[_Hit]:
    """Others whose name is about as close to the query as the fuzzy winner's."""
    close: list[_Hit] = []
    for index, member, person, credit in cast.entries():
        if person == winner.person:
            continue
        for alias in credit.aliases:
            if alias.depiction or alias.is_self or alias.key == winner.alias.key:
                continue
            score = fuzz.ratio(query.spaced, alias.spaced, score_cutoff=FUZZY_CLOSE_RIVAL)
            if score:
                close.append(
                    _Hit(
                        member,
                        index,
                        person,
                        alias,
                        alias.display,
                        _FUZZY,
                        score,
                        False,
                        alias.wordset,
                    )
                )
                break
    return close


def _whole_credit(parsed: _Credit, cast: _Cast) -> _Outcome:
    """Rule 1: a query written like a credit ("Bruce Wayne / Batman") answers with that credit."""
    hits = [
        _Hit(
            member,
            index,
            person,
            credit.aliases[0],
            member.character,
            _WHOLE,
            100.0,
            False,
            credit.aliases[0].wordset,
        )
        for index, member, person, credit in cast.entries()
        if credit.key == parsed.key and credit.aliases and not credit.aliases[0].is_self
    ]
    if not hits:
        return None
    people = _best_per_person(hits)
    if len(people) == 1:
        return _Found(people[0])
    if any(hit.alias.generic for hit in people):
        return _Tied(tuple(people))
    lead = _clear_lead(people, ())
    return _Found(lead) if lead is not None else _Tied(tuple(people))


def match_character(
    query: str,
    cast: Sequence[CastMember],
    actor: str | None = None,
    *,
    title: str | None = None,
) -> CastMatch | NoMatch:
    """The cast member who plays ``query``, or NoMatch with a reason.

    The rules, best first, are in the module docstring. ``title`` (the work's title) lets the
    title character win a tie over relatives sharing the surname (*Elvis*: "Presley"). With
    ``actor``, only cast members with that name are considered. ``has_image`` is never looked
    at: a match without a photo is still the match.
    """
    parsed = _parse_credit(query)
    if not parsed.aliases:
        return NoMatch("no character name given")
    if not cast:
        return NoMatch(f"no cast to look for '{query}' in")
    pool = list(enumerate(cast))
    wanted_actor = normalize(actor) if actor is not None else ""
    if wanted_actor:
        pool = [(i, m) for i, m in pool if _actor_matches(wanted_actor, m.person_name)]
        if not pool:
            return NoMatch(f"no cast member named '{actor}'")
    job = _Cast(pool, title)

    outcomes: list[_Outcome] = []
    if parsed.shaped:
        whole = _whole_credit(parsed, job)
        if whole is not None:
            outcomes.append(whole)
    if not outcomes:
        outcomes = [
            _settle(alias, _collect(alias, job), job, parsed.key) for alias in parsed.aliases
        ]

    found = [o.hit for o in outcomes if isinstance(o, _Found)]
    tied = [o.hits for o in outcomes if isinstance(o, _Tied)]
    people = {hit.person for hit in found}
    if len(people) > 1:
        return _ambiguous(query, _best_per_person(found), " (its names point at different people)")
    if people:
        (person,) = people
        for hits in tied:
            if person not in {hit.person for hit in hits}:
                return _ambiguous(query, [found[0], *hits])
        best = min(found, key=lambda hit: (hit.tier, -hit.score))
        return CastMatch(
            member=best.member, alias=best.alias.text, kind=_TIER_KIND[best.tier], score=best.score
        )
    if tied:
        return _ambiguous(query, tied[0])
    addressed = _addressed_by_one_name(parsed, job)
    if addressed is not None:
        return addressed
    who = f"'{actor}' does not play" if wanted_actor else "no cast member plays"
    return NoMatch(f"{who} '{query}'")


def _addressed_by_one_name(parsed: _Credit, job: _Cast) -> CastMatch | None:
    """Rule "form of address + one name": "Mr. Filch" is the credit "Argus Filch", "Lady Jessica"
    is "Jessica" — when nothing else matched.

    Only when the one name is carried by exactly one person in the whole cast (no relative to
    confuse: "Mr. McFly" in *Back to the Future* stays unanswered), on a credit that is not a
    depiction, a self credit or a generic part, and when the form of address says a sex (Mr.,
    Mrs., Lady...) that the provider lists for that person: "Mrs. Gordon" is never Lt. James
    Gordon. A rank says no sex ("Captain Kirk" could be his mother Winona Kirk), and a cast
    without genders (TVDB) cannot confirm one, so those stay unanswered.
    """
    if len(parsed.aliases) != 1:
        return None
    words = parsed.aliases[0].keyed
    honorifics = [w for w in words if w in HONORIFICS]
    names = [w for w in words if w not in HONORIFICS]
    if not honorifics or len(names) != 1 or words[-1] != names[0]:
        return None
    name = names[0]
    wanted_sex = (
        "male"
        if any(w in _MALE_ADDRESS for w in honorifics)
        else "female"
        if any(w in _FEMALE_ADDRESS for w in honorifics)
        else None
    )
    if wanted_sex is None:
        # A rank says no sex: "Captain Kirk" must not become his mother Winona Kirk when he is
        # not in the cast. Nothing else tells them apart, so a rank alone never settles it.
        return None
    carriers: dict[str, tuple[CastMember, _Alias]] = {}
    for _, member, person, credit in job.entries():
        for alias in credit.aliases:
            if name in alias.wordset or name in alias.surname_parts:
                if alias.depiction or alias.is_self or alias.generic:
                    return None  # a portrait of, or a bit part named after, the family
                carriers.setdefault(person, (member, alias))
    if len(carriers) != 1:
        return None
    ((member, alias),) = carriers.values()
    if wanted_sex is not None and member.gender != wanted_sex:
        return None
    credited_sex = {w for w in alias.wordset if w in _MALE_ADDRESS or w in _FEMALE_ADDRESS}
    if wanted_sex is not None and credited_sex:
        clash = _FEMALE_ADDRESS if wanted_sex == "male" else _MALE_ADDRESS
        if credited_sex & clash:
            return None
    return CastMatch(member=member, alias=alias.text, kind="partial", score=80.0)


# ---------------------------------------------------------------------------------- titles
#
# A title is matched in tiers (TitleStrength), best first. Only "exact" and "fuzzy" titles are
# certain on their own; every other tier is a work the provider's search returned whose title is
# not the query, and such a work is accepted only with a second, independent signal (its
# `evidence`: a listed alternative title, the first book of a series of that name, the query
# being a whole-word part of its title, or the given year) *and* the character matching it
# strongly (see pick_work). A work with no second signal is never accepted.


TitleStrength = Literal["exact", "fuzzy", "alternative", "series", "variant", "unconfirmed"]
"""How a work's titles match the query, best first:

* ``exact``: one of the titles the search lists is the query (see plan_titles);
* ``fuzzy``: a typo of one (:data:`TITLE_FUZZY_THRESHOLD`);
* ``alternative``: a further title the provider lists once the work is looked up (TMDB's
  ``alternative_titles``: a US title of a film it lists under the UK one);
* ``series``: the name of a series the work is the first of (a series name for its first book);
* ``variant``: the query is a whole-word part of a title (see _part_of_title);
* ``unconfirmed``: nothing in its titles; only the given year can speak for it.
"""
_STRENGTH_RANK: Final[dict[str, int]] = {
    "exact": 0,
    "fuzzy": 1,
    "alternative": 2,
    "series": 3,
    "variant": 4,
    "unconfirmed": 5,
}
CERTAIN_STRENGTHS: Final = frozenset({"exact", "fuzzy"})

VARIANT_MIN_LENGTH: Final[int] = 4
"""Fewest letters (spaces not counted) a query needs to stand for a part of a longer title, so
"Up" or "It" never become a part of "Up in the Air" or "It Follows". A part at the end of a
title that is not set off by a separator (":", " - ", an en or em dash) must be at least two
words: "The Fellowship of the Ring" ends "The Making of The Fellowship of the Ring", but "King"
is no part of "The Return of the King". The first words of a title may be one word ("Batman" for
"Batman Begins"), never cut before a joining word ("Harry Potter and", "Return of the")."""

_TITLE_YEAR: Final = re.compile(
    r"^(?P<title>.*?\S)\s*[(\[]\s*(?P<year>(?:18|19|20)\d\d)\s*[)\]]\s*$"
)
# Providers set works that share a title apart with a trailing "(2013)" or "(US)" (TVDB's
# "House of Cards (US)"): the title without it is also the work's title.
_PROVIDER_QUALIFIER: Final = re.compile(r"\s*[(\[]\s*(?:[A-Z]{2}|(?:18|19|20)\d\d)\s*[)\]]\s*$")
_TITLE_PARTS: Final = re.compile(r"\s*[:：–—]\s*|\s+-\s+")
# Words that join a title's words: a run of words cut next to one is a fragment ("Return of
# the"), not a part of the title.
_JOINING_WORDS: Final = frozenset(
    {"of", "and", "the", "a", "an", "to", "in", "on", "at", "for", "with", "or", "from", "by"}
)


@dataclass(frozen=True)
class TitleQuery:
    """The title to look for and its year, once a year typed inside the title is taken out."""

    title: str
    year: int | None


def split_title_year(title: str, year: int | None = None) -> TitleQuery | NoMatch:
    """``"The Thing (1982)"`` -> title "The Thing", year 1982 (also ``"The Thing [1982]"``).

    People paste titles the way file names and lists write them. The typed year is used when
    no year is given; a given year within one year of it wins (release years differ by
    country); a given year further off contradicts the title, and guessing which one is meant
    could pick the wrong film, so that is a NoMatch saying so. A title that is only a year
    ("(1917)") is left alone.
    """
    found = _TITLE_YEAR.match(title.strip())
    if found is None or not normalize(found["title"]):
        return TitleQuery(title, year)
    typed = int(found["year"])
    if year is not None and abs(year - typed) > 1:
        return NoMatch(
            f"the title '{title.strip()}' says {typed} but the year given is {year}: give one year"
        )
    return TitleQuery(found["title"], typed if year is None else year)


@dataclass(frozen=True)
class TitleCandidate:
    """One search result from a provider, with every title it is known by."""

    id: str
    titles: tuple[str, ...]  # primary title first, then original title, aliases, translations...
    year: int | None
    rank: int  # position in the provider's results (0 = first)
    # Further names the provider lists for the work once it is looked up (TMDB's
    # alternative_titles): equal to the query, they make it an "alternative" title.
    alternative_titles: tuple[str, ...] = ()
    # Series this work is the first of (Hardcover's featured series at position 1): the series
    # name stands for its first book.
    opens_series: tuple[str, ...] = ()


@dataclass(frozen=True)
class TitleMatch:
    """The search result that is the queried title."""

    candidate: TitleCandidate
    kind: Literal["exact", "fuzzy"]


@dataclass(frozen=True)
class RankedTitle:
    """A search result, how well its title matches the query, and the evidence for it.

    ``evidence`` is empty when nothing but the provider's search links the work to the query:
    such a work is never accepted.
    """

    candidate: TitleCandidate
    strength: TitleStrength
    evidence: str
    distance: int = 0  # years between the work and the given year (0 without a year)

    @property
    def title(self) -> str | None:
        """The work's own (primary) title: its title character wins a shared surname."""
        return self.candidate.titles[0] if self.candidate.titles else None

    @property
    def certain(self) -> bool:
        """The title itself matches: no character is needed to accept the work."""
        return self.strength in CERTAIN_STRENGTHS

    def describe(self) -> str:
        """The work as people would name it: "'House of Cards' (1990)"."""
        candidate = self.candidate
        shown = candidate.titles[0] if candidate.titles else candidate.id
        return f"'{shown}'" + (f" ({candidate.year})" if candidate.year else "")

    def sort_key(self) -> tuple[int, int, int]:
        return (_STRENGTH_RANK[self.strength], self.distance, self.candidate.rank)


@dataclass(frozen=True)
class TitlePlan:
    """Which search results to look at for a title.

    ``certain`` holds the works whose own title matches (only the best kind and, with a year,
    the nearest year), best first: one of them is today's cheap path (one details request).
    ``others`` holds every other result that passes the year filter, best first, each with its
    evidence, for a character to confirm: when nothing is certain, or when no certain work has
    the character (the franchise name "Batman" for a character only "Batman Begins" has).
    ``reason`` says why no title is certain.
    """

    certain: list[RankedTitle]
    others: list[RankedTitle]
    reason: str


def _title_key(title: str) -> str:
    return _strip_leading(normalize(title), _TITLE_ARTICLES)


def _title_forms(title: str) -> list[str]:
    """``title`` and, when a provider qualifier ends it ("(US)", "(2013)"), the title without."""
    bare = _PROVIDER_QUALIFIER.sub("", title)
    return [title, bare] if bare != title and normalize(bare) else [title]


def _qualifier_year(title: str) -> int | None:
    found = _TITLE_YEAR.match(title.strip())
    return int(found["year"]) if found else None


def _title_kind(query_key: str, titles: Iterable[str]) -> Literal["exact", "fuzzy"] | None:
    keys = [key for title in titles for key in map(_title_key, _title_forms(title)) if key]
    if any(_compact(key) == _compact(query_key) for key in keys):
        return "exact"
    for key in keys:
        if (
            _fuzzy_guards_pass(query_key, key)
            and fuzz.token_sort_ratio(query_key, key) >= TITLE_FUZZY_THRESHOLD
        ):
            return "fuzzy"
    return None


def _part_of_title(query_key: str, title: str) -> str | None:
    """How the query is a whole-word part of ``title``, or None.

    "its subtitle" ("The Return of the King" in "The Lord of the Rings: The Return of the
    King"), "its franchise name" ("Pirates of the Caribbean" before the colon, or the first
    words: "Harry Potter"), "the end of its title". Punctuation inside a word is collapsed, so
    "MASH" is the start of "M*A*S*H: Goodbye, Farewell and Amen". See VARIANT_MIN_LENGTH.
    """
    wanted = _compact(query_key)
    if len(wanted) < VARIANT_MIN_LENGTH:
        return None
    for form in _title_forms(title):
        parts = [part for part in _TITLE_PARTS.split(form) if normalize(part)]
        if len(parts) > 1:
            if _compact(_title_key(parts[0])) == wanted:
                return "its franchise name"
            if any(_compact(_title_key(part)) == wanted for part in parts[1:]):
                return "its subtitle"
        words = normalize(form).split()
        for cut in range(1, len(words)):
            head = _strip_leading(" ".join(words[:cut]), _TITLE_ARTICLES)
            if words[cut - 1] not in _JOINING_WORDS and _compact(head) == wanted:
                return "its franchise name"
            tail = _strip_leading(" ".join(words[cut:]), _TITLE_ARTICLES)
            starts_joined = words[cut] in _JOINING_WORDS and words[cut] not in _TITLE_ARTICLES
            if len(tail.split()) >= 2 and not starts_joined and _compact(tail) == wanted:
                return "the end of its title"
    return None


def _classify(query: str, candidate: TitleCandidate, year: int | None) -> tuple[TitleStrength, str]:
    """The strength of ``candidate``'s title match and the evidence for it (see RankedTitle)."""
    query_key = _title_key(query)
    kind = _title_kind(query_key, candidate.titles)
    if kind is not None:
        return kind, f"titled '{query}'" if kind == "exact" else "titled nearly so"
    listed = [t for t in candidate.alternative_titles if _title_kind(query_key, [t])]
    if listed:
        return "alternative", f"also titled '{listed[0]}'"
    for series in candidate.opens_series:
        if _title_kind(query_key, [series]) == "exact":
            return "series", f"the first book of the series '{series}'"
    for title in (*candidate.titles, *candidate.alternative_titles):
        part = _part_of_title(query_key, title)
        if part is not None:
            return "variant", f"'{query}' is {part} '{title}'"
    # Nothing in its titles: only the year can speak for it.
    return "unconfirmed", f"released in {year}" if year is not None else ""


def _work_year(candidate: TitleCandidate) -> int | None:
    if candidate.year is not None:
        return candidate.year
    return next((y for t in candidate.titles if (y := _qualifier_year(t)) is not None), None)


def rank_title(query: str, year: int | None, candidate: TitleCandidate) -> RankedTitle | None:
    """How ``candidate`` matches ``query`` (see TitleStrength), or None when the year rules it
    out (more than one year from ``year``, or of unknown year when a year is given)."""
    work_year = _work_year(candidate)
    distance = 0
    if year is not None:
        if work_year is None or abs(work_year - year) > 1:
            return None
        distance = abs(work_year - year)
    strength, evidence = _classify(query, candidate, year)
    return RankedTitle(candidate, strength, evidence, distance)


def plan_titles(query: str, year: int | None, candidates: Sequence[TitleCandidate]) -> TitlePlan:
    """Sort a provider's search results for ``query`` into certain titles and the rest.

    A result is certain when the query equals one of its titles (ignoring a leading "the",
    "a", "an", punctuation and spaces, and a provider's trailing "(US)" or "(2013)") or
    fuzzily matches one (:data:`TITLE_FUZZY_THRESHOLD`). Exact beats fuzzy; with a year, only
    results within one year are kept and the nearest year wins; ties keep the provider's order.
    Several certain results (a shared title: "House of Cards" 1990 and 2013) are all returned,
    for the character to decide between.
    """
    query_key = _title_key(query)
    if not query_key:
        return TitlePlan([], [], "no title given")
    if not candidates:
        return TitlePlan([], [], f"no results for '{query}'")
    ranked = sorted(
        (r for c in candidates if (r := rank_title(query, year, c)) is not None),
        key=RankedTitle.sort_key,
    )
    certain = [r for r in ranked if r.certain]
    others = [r for r in ranked if not r.certain]
    if certain:
        best = certain[0]
        certain = [r for r in certain if (r.strength, r.distance) == (best.strength, best.distance)]
        return TitlePlan(certain, others, "")
    matching = [c for c in candidates if _title_kind(query_key, c.titles) is not None]
    if not matching:
        first = min(candidates, key=lambda c: c.rank)
        shown = first.titles[0] if first.titles else first.id
        reason = f"no result is titled '{query}' (first result: '{shown}')"
    else:
        found = sorted({str(y) for c in matching if (y := _work_year(c)) is not None})
        if any(_work_year(c) is None for c in matching):
            found.append("one of unknown year")
        reason = f"no '{query}' from {year} in the results; found {', '.join(found)}"
    return TitlePlan([], others, reason)


def match_title(
    query: str, year: int | None, candidates: Sequence[TitleCandidate]
) -> TitleMatch | NoMatch:
    """The search result that is ``query`` (from ``year``, if given), or NoMatch with a reason.

    The best certain title of :func:`plan_titles`, the provider's first among equals: for
    callers that need one work and have no character to decide with. A result whose titles do
    not match is never returned, even when it is the provider's first.
    """
    plan = plan_titles(query, year, candidates)
    if not plan.certain:
        return NoMatch(plan.reason)
    best = plan.certain[0]
    return TitleMatch(best.candidate, "exact" if best.strength == "exact" else "fuzzy")


@dataclass(frozen=True)
class WorkMatch:
    """The work the character was found in, and the match there."""

    work: RankedTitle
    match: CastMatch


def _listing(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def pick_work(
    character: str,
    works: Sequence[tuple[RankedTitle, Sequence[CastMember]]],
    actor: str | None = None,
) -> WorkMatch | NoMatch:
    """The one work among ``works`` (each with its cast) that has ``character``, or NoMatch.

    The character decides between works whose titles could all be the query (a shared title,
    remakes, the entries of a franchise). Works are taken tier by tier (certain titles, then
    alternative titles, series, variants, the year alone); the first tier where anybody
    matches decides: its one work with a strong match (exact or partial) wins, else its one work
    with a fuzzy match. Two works that both have the character are ambiguous unless the same
    person plays it in both (``person_id``: one face, the first work is reported), and so is a
    work whose own cast is ambiguous. A work whose title is not certain needs evidence and a
    strong match, never a fuzzy one: a loose title and a loose name together are too weak to
    tell whose face it is. With one certain work this is exactly :func:`match_character`.
    """
    if len(works) == 1 and works[0][0].certain:
        work, cast = works[0]
        found = match_character(character, cast, actor, title=work.title)
        return WorkMatch(work, found) if isinstance(found, CastMatch) else found
    matched: dict[int, list[WorkMatch]] = {}
    unsettled: dict[int, list[tuple[RankedTitle, NoMatch]]] = {}  # ambiguous in their own cast
    refused: list[str] = []
    for work, cast in works:
        if not work.certain and not work.evidence:
            continue
        if not cast:
            refused.append(f"{work.describe()} lists no cast")
            continue
        tier = 0 if work.certain else _STRENGTH_RANK[work.strength]
        found = match_character(character, cast, actor, title=work.title)
        if isinstance(found, NoMatch):
            if found.reason.startswith("ambiguous"):
                unsettled.setdefault(tier, []).append((work, found))
            else:
                refused.append(f"{work.describe()}: {found.reason}")
        elif found.kind == "fuzzy" and not work.certain:
            refused.append(
                f"{work.describe()} is only a variant title ({work.evidence}) and "
                f"'{character}' matches its credit '{found.member.character}' only loosely"
            )
        else:
            matched.setdefault(tier, []).append(WorkMatch(work, found))
    for tier in sorted({*matched, *unsettled}):
        hits = matched.get(tier, [])
        best = [hit for hit in hits if hit.match.kind != "fuzzy"] or hits
        inside = unsettled.get(tier, [])
        # The same person in several works (a role across a franchise) is one face: no doubt.
        if best and not inside and len({hit.match.member.person_id for hit in best}) == 1:
            return best[0]
        if not best and len(inside) == 1:
            work, ambiguous = inside[0]
            return NoMatch(f"{ambiguous.reason} in {work.describe()}")
        named = [hit.work.describe() for hit in best] + [work.describe() for work, _ in inside]
        return NoMatch(f"ambiguous: '{character}' is in {_listing(named)}")
    if refused:
        return NoMatch("; ".join(refused))
    return NoMatch(f"no work with a title like this has '{character}'")
