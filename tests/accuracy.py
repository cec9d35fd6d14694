"""The accuracy corpus: real-shaped provider data, the cases people type, and the scorer.

`tests/data/accuracy/` holds whole casts of real works as TMDB (movies, TV aggregate credits),
TheTVDB v4 (series characters with their messy artwork fields) and Hardcover (books, characters)
list them, and `cases.csv`, the queries people really type (first names, surnames, nicknames,
honorifics, accents, US titles, subtitles, remakes...). Every credit string of every cast is a
case too (`exact_credit`, pasted as TMDB/TVDB write it), and so are rows carrying provider ids
as exports give them (`ids`: work, credit, person and character ids, and ids that contradict
the row).

The corpus is served by the project's own fakes (FakeTmdb, FakeTvdb, FakeHardcover, one
FakeImageHost per picture host) and run through the real `Resolver` (real SQLite store, real
diskcache, default options, web search off: no network). Each answer is judged by its picture:

- **correct**: a loading picture of the expected person (or book cover), or not found when that
  is the right answer (nobody is certain; a found person without any picture named in the reason);
- **wrong**: another person's picture, a picture when nothing should be found, or a picture that
  does not load (404, truncated) — a broken picture is never a right answer;
- **missed**: not found although a right picture exists.

Picture identities come from the data (every URL the fakes serve belongs to one person, or to a
book), so a wrong face can never be counted as correct. `scripts/bench_accuracy.py` prints the
scores; `tests/test_accuracy.py` keeps wrong picks at zero and the correct rate above a floor.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import json
import re
import socket
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from unittest import mock
from urllib.parse import urlsplit

import httpx

from coverctl.config import Settings
from coverctl.models import ExternalIds, Query, Resolution
from coverctl.resolver import ResolveOptions, close_resolver, open_resolver
from tests.fakes.base import FakeService, UnexpectedRequest
from tests.fakes.hardcover import COVER_HOST, FakeHardcover, book, character, cover
from tests.fakes.hardcover import VALID_TOKEN as HARDCOVER_TOKEN
from tests.fakes.images import FakeImageHost, cut_jpeg, sharp_photo
from tests.fakes.routing import HostRouter
from tests.fakes.tmdb import VALID_KEY as TMDB_KEY
from tests.fakes.tmdb import FakeTmdb, cast_member
from tests.fakes.tvdb import VALID_API_KEY as TVDB_KEY
from tests.fakes.tvdb import FakeTvdb
from tests.fakes.tvdb import character as tvdb_character

DATA_DIR = Path(__file__).parent / "data" / "accuracy"
TMDB_IMAGE_HOST = "image.tmdb.org"
TVDB_ARTWORK_HOST = "artworks.thetvdb.com"
ARTWORK = f"https://{TVDB_ARTWORK_HOST}"

# Report order. `ids`: rows carrying provider ids (TMDB/TVDB exports), generated from the works.
CATEGORIES = (
    "exact_credit",
    "alias",
    "first_name",
    "surname",
    "nickname",
    "honorific",
    "accents",
    "voice",
    "young_old",
    "remake_year",
    "alternative_title",
    "partial_title",
    "shared_title",
    "family_surname",
    "null_photo",
    "dead_picture",
    "absent",
    "ids",
)
SKIPPED_CATEGORIES: dict[str, str] = {}  # category -> why it is not measured yet

Outcome = Literal["picture", "no_picture", "none", "either"]
Verdict = Literal["correct", "wrong", "missed"]
PictureState = Literal["ok", "404", "cut"]


@dataclass(frozen=True)
class Case:
    """One query and what the right answer is.

    `outcome`: "picture" (a picture of `expect` or of one in `also`), "no_picture" (`expect` is
    found but has no picture anywhere: not found naming them is right), "none" (nothing may be
    found) or "either" (a picture of `expect`/`also`, or not found).
    """

    category: str
    character: str
    title: str
    year: int | None
    media_type: str | None
    expect: str | None  # a person's name, or "book:<hardcover id>"
    also: tuple[str, ...]
    outcome: Outcome
    note: str = ""
    ids: ExternalIds = field(default_factory=ExternalIds)

    @property
    def id(self) -> str:
        parts = [self.category, self.character, self.title, str(self.year or "")]
        parts.append(self.media_type or "")
        parts += [f"{name}={value}" for name, value in self.ids.as_dict().items()]
        return "|".join(parts)

    @property
    def accepted(self) -> frozenset[str]:
        if self.outcome == "none":
            return frozenset()
        return frozenset(w for w in (self.expect, *self.also) if w)

    def query(self) -> Query:
        return Query(self.character, self.title, self.year, self.media_type, ids=self.ids)


@dataclass(frozen=True)
class Picture:
    """A picture URL the fakes serve: whose it is, and whether it loads."""

    who: str
    state: PictureState


@dataclass
class Corpus:
    cases: list[Case]
    movies: dict[int, dict[str, Any]]
    shows: dict[int, dict[str, Any]]
    series: dict[int, dict[str, Any]]
    books: list[dict[str, Any]]
    book_characters: list[dict[str, Any]]
    people: set[str]
    pictures: dict[str, Picture] = field(default_factory=dict)  # key: see picture_key()
    _names_pattern: re.Pattern[str] | None = None

    def picture(self, url: str) -> Picture | None:
        return self.pictures.get(picture_key(url))

    def named_in(self, text: str) -> set[str]:
        """The people of the corpus whose full name appears in `text`."""
        if self._names_pattern is None:
            names = sorted(self.people, key=len, reverse=True)  # the longest name wins
            alternation = "|".join(map(re.escape, names))
            self._names_pattern = re.compile(rf"(?<!\w)(?:{alternation})(?!\w)")
        return {m.group(0) for m in self._names_pattern.finditer(text)}

    def fakes(self) -> dict[str, FakeService]:
        """Host -> fake, for a HostRouter: the three APIs and their picture hosts."""
        images = {host: FakeImageHost(host) for host in (TVDB_ARTWORK_HOST, COVER_HOST)}
        for key, picture in self.pictures.items():
            host, _, path = key.partition("/")
            if host in images and picture.state != "404":
                images[host].add(path, sharp_photo() if picture.state == "ok" else cut_jpeg())
        tmdb_images = FakeImageHost(TMDB_IMAGE_HOST)
        tmdb_images.default = (sharp_photo(), "image/jpeg")  # every TMDB profile loads
        return {
            "api.themoviedb.org": FakeTmdb(movies=self.movies, tv=self.shows),
            "api4.thetvdb.com": FakeTvdb(series=self.series),
            "api.hardcover.app": FakeHardcover(books=self.books, characters=self.book_characters),
            TMDB_IMAGE_HOST: tmdb_images,
            **images,
        }


def picture_key(url: str) -> str:
    """`host/path` of a picture URL; a TMDB profile without its size ("w500"), which the caller
    chooses."""
    parts = urlsplit(url)
    path = parts.path.lstrip("/")
    if parts.hostname == TMDB_IMAGE_HOST:
        path = path.rsplit("/", 1)[-1]  # /t/p/w500/abc.jpg -> abc.jpg
    return f"{parts.hostname}/{path}"


def person_id(name: str) -> int:
    """A stable id per person, the same in every work (TMDB ids are per person)."""
    return 10_000 + int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % 90_000_000


def _token(seed: str, length: int = 27) -> str:
    """A file-name-like token, as TMDB profile paths and TVDB artwork names look."""
    raw = base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()
    return re.sub(r"[^A-Za-z0-9]", "", raw)[:length]


def profile_path(name: str) -> str:
    return f"/{_token(name)}.jpg"


def credit_key(credit: str) -> str:
    """A credit as compared for "the same credit string": parentheticals dropped, case, accents
    and punctuation ignored ("Drug-Dealer" = "Drug Dealer", "Thug (uncredited)" = "Thug")."""
    text = re.sub(r"\([^)]*\)", " ", credit)
    text = unicodedata.normalize("NFKD", text.casefold().replace("'", ""))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^\w]", " ", text).split())


# Picture states as the data files write them -> whether the URL loads.
_PICTURE_STATES: dict[str, PictureState] = {
    "ok": "ok",
    "rel": "ok",
    "double": "ok",
    "404": "404",
    "cut": "cut",
}
_OUTCOMES: dict[str, Outcome] = {
    "picture": "picture",
    "no_picture": "no_picture",
    "none": "none",
    "either": "either",
}
_SELF_CREDITS = {"self", "himself", "herself", "themselves"}
# A credit for a picture of someone, not for them: "(portrait)", "(archive footage)", "Portrait of".
_DEPICTION = re.compile(
    r"\((portrait|photo|photograph|statue|painting|archive)|^(portrait|painting|photo) of ",
    re.IGNORECASE,
)


def _year(date: str | None) -> int | None:
    return int(date[:4]) if date else None


# --- loading -------------------------------------------------------------------------------------


def load_corpus(data_dir: Path = DATA_DIR) -> Corpus:
    """The works, the pictures they serve, and every case (exact credits first)."""
    corpus = Corpus([], {}, {}, {}, [], [], set())
    exact: list[Case] = []
    live_tv: set[tuple[str, str]] = set()  # (title key, person) with a loading TV picture
    tv_credits: list[tuple[str, str, str, int | None]] = []  # person, credit, title, year
    movies = json.loads((data_dir / "tmdb_movies.json").read_text(encoding="utf-8"))["movies"]
    for movie in movies:
        corpus.movies[movie["id"]] = _tmdb_movie(movie, corpus)
        exact += _exact_cases(
            movie["title"],
            _year(movie["release_date"]),
            "movie",
            [(m[0], m[1], len(m) < 3 or m[2] is not None) for m in movie["cast"]],
        )
    shows = json.loads((data_dir / "tmdb_tv.json").read_text(encoding="utf-8"))["shows"]
    for show in shows:
        corpus.shows[show["id"]] = _tmdb_show(show, corpus)
        for member in show["cast"]:
            has_photo = len(member) < 3 or member[2] is not None
            if has_photo:
                live_tv.add((credit_key(show["name"]), member[0]))
            for role in member[1]:
                tv_credits.append((member[0], role, show["name"], _year(show["first_air_date"])))
    series_list = json.loads((data_dir / "tvdb_series.json").read_text(encoding="utf-8"))
    for series in series_list["series"]:
        corpus.series[series["id"]] = _tvdb_series(series, corpus, live_tv)
        for entry in series["characters"]:
            if (entry[5] if len(entry) > 5 else 3) in (3, 4):
                tv_credits.append((entry[1], entry[0], series["name"], int(series["year"])))
    # A TV person has a picture if TVDB or TMDB has a loading one for a series of that title (the
    # cascade asks TVDB, then TMDB), so TV exact credits are built once every series is loaded.
    by_work: dict[tuple[str, int | None], list[tuple[str, str, bool]]] = {}
    for person, credit, title, year in tv_credits:
        live = (credit_key(title), person) in live_tv
        by_work.setdefault((title, year), []).append((person, credit, live))
    for (title, year), credits in by_work.items():
        exact += _exact_cases(title, year, "tv", credits)
    hardcover = json.loads((data_dir / "hardcover.json").read_text(encoding="utf-8"))
    for doc in hardcover["books"]:
        corpus.books.append(_hardcover_book(doc, corpus))
    corpus.book_characters = [
        character(c["id"], c["name"], c["books"], c["authors"]) for c in hardcover["characters"]
    ]
    corpus.cases = _unique(exact + _read_cases(data_dir / "cases.csv") + _id_cases(corpus, exact))
    _check(corpus)
    return corpus


def _tmdb_movie(movie: dict[str, Any], corpus: Corpus) -> dict[str, Any]:
    item: dict[str, Any] = {
        "title": movie["title"],
        "original_title": movie.get("original_title", movie["title"]),
        "original_language": movie.get("original_language", "en"),
        "release_date": movie["release_date"],
        "popularity": movie["popularity"],
        "cast": [
            _tmdb_member(
                entry[0],
                entry[1],
                order,
                len(entry) < 3 or entry[2] is not None,
                corpus,
                f"movie/{movie['id']}",
            )
            for order, entry in enumerate(movie["cast"])
        ],
    }
    if "alternative_titles" in movie:
        item["alternative_titles"] = _alternative_titles(movie["alternative_titles"])
    if "collection" in movie:
        collection_id, name = movie["collection"]
        item["belongs_to_collection"] = {
            "id": collection_id,
            "name": name,
            "poster_path": f"/{_token(name)}.jpg",
            "backdrop_path": None,
        }
    return item


def credit_id(work: str, name: str, role: str) -> str:
    """TMDB's id of one role of one person in one work: 24 hexadecimal digits."""
    return hashlib.sha1(f"{work}/{name}/{role}".encode()).hexdigest()[:24]


def _load_genders(data_dir: Path = DATA_DIR) -> dict[str, int]:
    data = json.loads((data_dir / "genders.json").read_text(encoding="utf-8"))
    return {**dict.fromkeys(data["female"], 1), **dict.fromkeys(data["male"], 2)}


# TMDB lists a gender per person (1 female, 2 male, 0 not set): only the people the corpus lists
# have one, so the "form of address + one name" rule is tested with real and with missing data.
_GENDERS = _load_genders()


def _tmdb_member(
    name: str, credit: str, order: int, has_photo: bool, corpus: Corpus, work: str
) -> dict[str, Any]:
    corpus.people.add(name)
    path = profile_path(name) if has_photo else None
    if path:
        corpus.pictures[f"{TMDB_IMAGE_HOST}/{path.lstrip('/')}"] = Picture(name, "ok")
    member = cast_member(person_id(name), name, credit, order, path)
    member["credit_id"] = credit_id(work, name, credit)
    member["gender"] = _GENDERS.get(name, 0)
    return member


def _tmdb_show(show: dict[str, Any], corpus: Corpus) -> dict[str, Any]:
    cast = []
    for order, entry in enumerate(show["cast"]):
        name, roles = entry[0], entry[1]
        has_photo = len(entry) < 3 or entry[2] is not None
        member = _tmdb_member(name, "", order, has_photo, corpus, f"tv/{show['id']}")
        episodes = max(1, 120 - 4 * order)
        member.pop("character")
        member.pop("credit_id")
        member.pop("cast_id")
        member["roles"] = [
            {
                "credit_id": credit_id(f"tv/{show['id']}", name, role),
                "character": role,
                "episode_count": max(1, episodes // (i + 1)),
            }
            for i, role in enumerate(roles)
        ]
        member["total_episode_count"] = episodes
        cast.append(member)
    item: dict[str, Any] = {
        "name": show["name"],
        "original_name": show.get("original_name", show["name"]),
        "first_air_date": show["first_air_date"],
        "popularity": show["popularity"],
        "cast": cast,
    }
    if "alternative_titles" in show:
        item["alternative_titles"] = _alternative_titles(show["alternative_titles"])
    return item


def _alternative_titles(entries: list[list[str]]) -> list[dict[str, str]]:
    return [{"iso_3166_1": c, "title": t, "type": kind} for c, t, kind in entries]


def _tvdb_picture(state: str | None, path: str, who: str, corpus: Corpus) -> str | None:
    """The value TVDB would put in `image`/`personImgURL` for a picture in `state`, and the
    picture registered under its clean URL."""
    if state is None or state == "":
        return state
    served = _PICTURE_STATES[state]
    corpus.pictures[f"{TVDB_ARTWORK_HOST}/{path.lstrip('/')}"] = Picture(who, served)
    if state == "rel":
        return path
    if state == "double":
        return f"{ARTWORK}{ARTWORK}{path}"
    return f"{ARTWORK}{path}"


def _tvdb_series(
    series: dict[str, Any], corpus: Corpus, live_tv: set[tuple[str, str]]
) -> dict[str, Any]:
    characters = []
    for index, entry in enumerate(series["characters"]):
        name, person, image, person_img, sort = entry[:5]
        kind = entry[5] if len(entry) > 5 else 3
        corpus.people.add(person)
        people_id = person_id(person)
        char_id = 60_000_000 + series["id"] % 100_000 * 100 + index
        token = _token(f"{series['id']}/{name}", 13)
        image_path = (
            f"/banners/characters/{char_id}-{token}.jpg"
            if image == "rel"
            else f"/banners/v4/character/{char_id}/{token}.jpg"
        )
        person_path = (
            f"/banners/person/{people_id}/primary.jpg"
            if person_img == "rel"
            else f"/banners/v4/actor/{people_id}/photo/{_token(person, 13)}.jpg"
        )
        value = _tvdb_picture(image, image_path, person, corpus)
        person_value = _tvdb_picture(person_img, person_path, person, corpus)
        if {image, person_img} & {"ok", "rel", "double"}:
            live_tv.add((credit_key(series["name"]), person))
        item = tvdb_character(
            char_id, name, person, people_id, image=value, person_img=person_value, sort=sort
        )
        item.update(seriesId=series["id"], type=kind)
        characters.append(item)
    return {
        "name": series["name"],
        "slug": series["slug"],
        "year": series["year"],
        "aliases": series["aliases"],
        "translations": series["translations"],
        "characters": characters,
    }


def _hardcover_book(doc: dict[str, Any], corpus: Corpus) -> dict[str, Any]:
    state = doc.get("cover", "ok")
    if state is not None:
        url = cover(doc["id"])["url"]
        corpus.pictures[picture_key(url)] = Picture(f"book:{doc['id']}", state)
    return book(
        doc["id"],
        doc["title"],
        doc["year"],
        doc["authors"],
        users=doc["users"],
        image="cover" if state is not None else None,
        alternative_titles=tuple(doc.get("alternative_titles", ())),
        series=tuple(doc.get("series", ())),
        position=doc.get("position"),
    )


def _exact_cases(
    title: str, year: int | None, media: str, credits: Sequence[tuple[str, str, bool]]
) -> list[Case]:
    """One case per distinct credit string of a work, pasted as the provider writes it.

    A credit string several people share ("Soldier") has no right answer. One that differs from
    another person's only by case, punctuation or a qualifier ("Drug-Dealer" / "Drug Dealer",
    "Romulan (voice)" / "Romulan") is the same bit part: its own person or not found, never the
    other one. A "Self" credit or a depiction ("(portrait)", "(archive footage)") may be found or
    not. A person without any picture is right when found-without-a-picture.
    """
    people_by_key: dict[str, set[str]] = {}
    people_by_credit: dict[str, set[str]] = {}
    for person, credit, _ in credits:
        people_by_key.setdefault(credit_key(credit), set()).add(person)
        people_by_credit.setdefault(credit, set()).add(person)
    cases: dict[str, Case] = {}
    for person, credit, has_picture in credits:
        key = credit_key(credit)
        if not key or credit in cases:
            continue
        outcome: Outcome
        if len(people_by_credit[credit]) > 1:
            expect, outcome = None, "none"
        elif (
            len(people_by_key[key]) > 1
            or key.split()[0] in _SELF_CREDITS
            or _DEPICTION.search(credit)
        ):
            expect, outcome = person, "either"
        else:
            expect, outcome = person, "picture" if has_picture else "no_picture"
        cases[credit] = Case("exact_credit", credit, title, year, media, expect, (), outcome)
    return list(cases.values())


def _id_cases(corpus: Corpus, exact: Sequence[Case]) -> list[Case]:
    """Rows as TMDB/TVDB/Hardcover exports give them, ids included (`ids` category).

    The ids name the person, so even a bit part sharing its credit string ("Soldier") has one
    right answer. Per work: a few billed credits (and a photo-less one, and a shared one) with
    the work's id and the credit's id; the credit id alone; the work's id and the person's id;
    the work's id under another of its titles; and a row whose ids contradict its character.
    """
    cases: list[Case] = []
    outcome_of = {(c.title, c.year, c.character): c.outcome for c in exact}
    for movie_id, movie in corpus.movies.items():
        title, year = movie["title"], _year(movie["release_date"])
        cast = movie["cast"]
        outcomes = [outcome_of.get((title, year, m["character"])) for m in cast]
        picked = [m for m, o in zip(cast, outcomes, strict=True) if o != "either"][:3]
        picked += [m for m in cast if not m["profile_path"]][:1]
        picked += [m for m, o in zip(cast, outcomes, strict=True) if o == "none"][:1]
        for member in picked:
            ids = ExternalIds(tmdb_id=movie_id, credit_id=member["credit_id"])
            cases.append(_id_case(member, title, year, "movie", ids))
        first, second = picked[0], picked[1]
        cases.append(
            _id_case(first, title, year, "movie", ExternalIds(credit_id=first["credit_id"]))
        )
        ids = ExternalIds(tmdb_id=movie_id, tmdb_person_id=second["id"])
        cases.append(_id_case(second, title, year, "movie", ids))
        for alternative in (movie.get("alternative_titles") or [])[:1]:
            ids = ExternalIds(tmdb_id=movie_id)
            cases.append(_id_case(first, alternative["title"], None, "movie", ids))
        ids = ExternalIds(tmdb_id=movie_id, credit_id=second["credit_id"])
        contradiction = _id_case(first, title, year, "movie", ids)
        cases.append(_contradicted(contradiction, f"the credit id is {second['name']}'s"))
    for show_id, show in corpus.shows.items():
        title, year = show["name"], _year(show["first_air_date"])
        for member in show["cast"][:2] + [m for m in show["cast"] if not m["profile_path"]][:1]:
            role = member["roles"][0]
            ids = ExternalIds(tmdb_id=show_id, credit_id=role["credit_id"])
            cases.append(_id_case(member, title, year, "tv", ids))
    for series_id, series in corpus.series.items():
        actors = [c for c in series["characters"] if c["type"] in (3, 4)]
        dead = [c for c in actors if not _tvdb_loads(corpus, c["image"])]
        for item in actors[:3] + dead:
            ids = ExternalIds(tvdb_id=series_id, tvdb_character_id=item["id"])
            cases.append(_tvdb_id_case(corpus, item, series, ids))
        ids = ExternalIds(tvdb_character_id=actors[0]["id"])
        cases.append(_tvdb_id_case(corpus, actors[0], series, ids))
    for doc in corpus.books:
        named = [c["name"] for c in corpus.book_characters if doc["title"] in c["books"]]
        loads = doc["image"] is not None and corpus.picture(doc["image"]["url"]) == Picture(
            f"book:{doc['id']}", "ok"
        )
        cases.append(
            Case(
                "ids",
                named[0] if named else "the narrator",
                doc["title"],
                doc["release_year"],
                "book",
                f"book:{doc['id']}" if loads else None,
                (),
                "picture" if loads else "none",
                ids=ExternalIds(hardcover_id=int(doc["id"])),
            )
        )
    return cases


def _id_case(
    member: dict[str, Any], title: str, year: int | None, media: str, ids: ExternalIds
) -> Case:
    outcome: Outcome = "picture" if member["profile_path"] else "no_picture"
    character = member.get("character") or member["roles"][0]["character"]
    return Case("ids", character, title, year, media, member["name"], (), outcome, ids=ids)


def _contradicted(case: Case, why: str) -> Case:
    """The same row, whose ids name someone else: an error row, never a picture."""
    return replace(case, expect=None, outcome="none", note=why)


def _tvdb_loads(corpus: Corpus, value: Any) -> bool:
    """Whether a TVDB image field (absolute, relative or with a doubled prefix) loads."""
    if not isinstance(value, str) or not value.strip():
        return False
    url = value[value.rfind("https://") :] if "https://" in value else f"{ARTWORK}{value}"
    picture = corpus.picture(url)
    return picture is not None and picture.state == "ok"


def _tvdb_id_case(
    corpus: Corpus, item: dict[str, Any], series: dict[str, Any], ids: ExternalIds
) -> Case:
    # Ids ask TVDB only: its artwork, else the actor's TVDB photo, else no picture.
    live = _tvdb_loads(corpus, item["image"]) or _tvdb_loads(corpus, item["personImgURL"])
    outcome: Outcome = "picture" if live else "no_picture"
    year = int(series["year"])
    name, person = item["name"], item["personName"]
    return Case("ids", name, series["name"], year, "tv", person, (), outcome, ids=ids)


def _read_cases(path: Path) -> list[Case]:
    cases = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            expect = row["expect"].strip() or None
            written = row["outcome"].strip() or ("picture" if expect else "none")
            if written not in _OUTCOMES:
                raise ValueError(f"{path.name}: unknown outcome {written!r} in {row}")
            cases.append(
                Case(
                    category=row["category"].strip(),
                    character=row["character"].strip(),
                    title=row["title"].strip(),
                    year=int(row["year"]) if row["year"].strip() else None,
                    media_type=row["media_type"].strip() or None,
                    expect=expect,
                    also=tuple(a.strip() for a in row["also"].split(";") if a.strip()),
                    outcome=_OUTCOMES[written],
                    note=row["note"].strip(),
                )
            )
    return cases


def _unique(cases: list[Case]) -> list[Case]:
    seen: dict[str, Case] = {}
    for case in cases:
        earlier = seen.setdefault(case.id, case)
        if earlier is not case and (earlier.accepted, earlier.outcome) != (
            case.accepted,
            case.outcome,
        ):
            raise ValueError(f"case {case.id} is listed twice with different answers")
    return list(seen.values())


def _check(corpus: Corpus) -> None:
    """Mistakes in the data files fail loudly: unknown categories or people, an expected
    picture that exists nowhere."""
    books = {f"book:{b['id']}" for b in corpus.books}
    loading = {p.who for p in corpus.pictures.values() if p.state == "ok"}
    ids = Counter(person_id(p) for p in corpus.people)
    if clash := [i for i, n in ids.items() if n > 1]:
        raise ValueError(f"two people share an id: {clash}")
    for case in corpus.cases:
        if case.category not in CATEGORIES:
            raise ValueError(f"case {case.id}: unknown category {case.category!r}")
        for who in case.accepted:
            if who not in corpus.people and who not in books:
                raise ValueError(f"case {case.id}: {who!r} is in no work of the corpus")
        if case.outcome == "picture" and not case.accepted & loading:
            raise ValueError(f"case {case.id}: no loading picture of {sorted(case.accepted)}")


# --- judging -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    case: Case
    verdict: Verdict
    detail: str  # what was answered, for the report
    answer: str | None = None  # the picture URL, if any


def judge(case: Case, result: Resolution | BaseException, corpus: Corpus) -> Judgement:
    """Classify one answer (see the module docstring)."""
    if isinstance(result, BaseException):
        return Judgement(case, "missed", f"raised {type(result).__name__}: {result}")
    candidate = result.candidate
    if result.status == "resolved" and candidate is not None:
        url = candidate.image_url
        picture = corpus.picture(url)
        if picture is None:
            return Judgement(case, "wrong", "a picture the corpus does not know", url)
        who = picture.who
        if picture.state != "ok":
            return Judgement(case, "wrong", f"a broken picture ({picture.state}) of {who}", url)
        if who in case.accepted:
            return Judgement(case, "correct", f"{who}'s picture", url)
        expected = case.expect or "nothing"
        return Judgement(case, "wrong", f"{who}'s picture, expected {expected}", url)
    reason = result.error or ""
    if case.outcome in ("none", "either"):
        return Judgement(case, "correct", f"not found: {reason}")
    # Found without a picture: right when the reason names the expected person and nobody else
    # (an "ambiguous: ... matches A and B" names several).
    if case.outcome == "no_picture" and corpus.named_in(reason) == {case.expect}:
        return Judgement(case, "correct", f"found without a picture: {reason}")
    return Judgement(case, "missed", f"not found: {reason}")


# --- running -------------------------------------------------------------------------------------

FAKE_ADDRESS = ["93.184.216.34"]  # a public address: picture hosts pass the image checks' vetting


@contextmanager
def offline_names(hosts: Sequence[str]) -> Iterator[None]:
    """The image checks resolve host names before downloading: answer for the fake hosts and
    refuse every other name, so no run ever sends a DNS query."""

    async def resolve(host: str) -> list[str]:
        if host in hosts:
            return FAKE_ADDRESS
        raise socket.gaierror(socket.EAI_NONAME, f"{host}: the accuracy corpus resolves no names")

    with mock.patch("coverctl.net.guard.system_resolve", resolve):
        yield


def corpus_settings(home: Path) -> Settings:
    """Keys for the three providers, web search off, pacing off (the fakes are in-process)."""
    (home / "static").mkdir(parents=True, exist_ok=True)
    env = {
        "COVERCTL_HOME": str(home),
        "COVERCTL_STATIC_DIR": str(home / "static"),
        "TMDB_API_KEY": TMDB_KEY,
        "TVDB_API_KEY": TVDB_KEY,
        "HARDCOVER_API_KEY": HARDCOVER_TOKEN,
        "COVERCTL_WEB_SEARCH": "0",
    }
    for provider in ("TMDB", "TVDB", "HARDCOVER", "IMAGE_FETCH"):
        env[f"COVERCTL_RATE_{provider}"] = "100000"
    return Settings.from_env(env)


@dataclass
class Run:
    """The judged answers, and anything that says the harness itself went wrong: requests the
    fakes do not serve, and answers with a source unavailable (the fakes never fail)."""

    judgements: list[Judgement]
    unexpected_requests: list[str]
    unavailable: list[str]  # case ids


class _RecordingRouter(HostRouter):
    """A HostRouter that also keeps the requests no fake serves (they fail as before)."""

    def __init__(self, routes: dict[str, FakeService]) -> None:
        super().__init__(routes)
        self.unexpected: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle(request)
        except UnexpectedRequest as exc:
            self.unexpected.append(str(exc))
            raise


def run_corpus(
    corpus: Corpus, home: Path | None = None, cases: Sequence[Case] | None = None
) -> Run:
    """Resolve every case concurrently on one resolver, with default options, and judge it."""
    cases = list(corpus.cases if cases is None else cases)
    if home is None:
        with tempfile.TemporaryDirectory(prefix="coverctl-accuracy-") as tmp:
            return run_corpus(corpus, Path(tmp), cases)
    fakes = corpus.fakes()
    router = _RecordingRouter(fakes)

    async def run() -> list[Resolution | BaseException]:
        resolver = open_resolver(corpus_settings(home), transport=router.transport())
        try:
            return list(
                await asyncio.gather(
                    *(resolver.resolve(case.query(), ResolveOptions()) for case in cases),
                    return_exceptions=True,
                )
            )
        finally:
            await close_resolver(resolver)

    with offline_names(list(fakes)):
        results = asyncio.run(run())
    unavailable = [
        case.id
        for case, result in zip(cases, results, strict=True)
        if isinstance(result, Resolution) and result.unavailable_sources
    ]
    return Run(
        [judge(case, result, corpus) for case, result in zip(cases, results, strict=True)],
        router.unexpected,
        unavailable,
    )


# --- scoring -------------------------------------------------------------------------------------


@dataclass
class Tally:
    correct: int = 0
    wrong: int = 0
    missed: int = 0

    @property
    def total(self) -> int:
        return self.correct + self.wrong + self.missed

    @property
    def rate(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "correct": self.correct,
            "wrong": self.wrong,
            "missed": self.missed,
            "total": self.total,
            "correct_rate": round(self.rate, 4),
        }


def tally(judgements: Sequence[Judgement]) -> tuple[dict[str, Tally], Tally]:
    """Counts per category (in CATEGORIES order, only those with cases) and overall."""
    per: dict[str, Tally] = {c: Tally() for c in CATEGORIES}
    overall = Tally()
    for item in judgements:
        for counts in (per[item.case.category], overall):
            setattr(counts, item.verdict, getattr(counts, item.verdict) + 1)
    return {c: t for c, t in per.items() if t.total}, overall


def known_wrong(path: Path = DATA_DIR / "known_wrong.txt") -> set[str]:
    """Case ids answered wrong on the main branch when they were listed (bugs to fix; see the
    file). tests/test_accuracy.py fails on any other wrong answer, and on a listed case that is
    no longer wrong, so the list only ever shrinks."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}
