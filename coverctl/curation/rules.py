"""Which curator decisions apply to a query, and whether a picture is rejected. Pure: no I/O.

A decision applies to a query about the same character and title (normalised) unless it is known
to be about another work of that title: both give a year and they are more than one year apart
(release years differ by country), or both give a media type and they differ. Joker pinned in
Batman (1989) is not served for Batman (1966); a pin made without a year applies to every year.

A picture is rejected when its URL is a rejected URL, or when both perceptual hashes are known and
at most ``images.SAME_PICTURE_DISTANCE`` bits apart (the same picture at another address or size).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from coverctl.models import Query
from coverctl.store.records import Decision

YEAR_TOLERANCE = 1


@functools.lru_cache(maxsize=4096)
def work_key(character_name: str, title: str) -> tuple[str, str]:
    """(normalised character, normalised title): how decisions are keyed. Memoised: it is asked
    on every resolution (for the pin and the rejections), mostly for the same few works."""
    from coverctl.names import normalize

    return normalize(character_name), normalize(title)


def applies(decision: Decision, query: Query) -> bool:
    """Whether `decision` (already for the query's character and title) covers `query`."""
    if decision.year and query.year and abs(decision.year - query.year) > YEAR_TOLERANCE:
        return False
    return not (
        decision.media_type and query.media_type and decision.media_type != query.media_type
    )


def applicable(decisions: Iterable[Decision], query: Query) -> list[Decision]:
    return [d for d in decisions if applies(d, query)]


def best_pin(pins: Sequence[Decision], query: Query) -> Decision | None:
    """The pin to serve for `query`: the one whose year and media type fit it most exactly, then
    the most recent (`pins` come newest first)."""
    fitting = applicable(pins, query)
    if not fitting:
        return None

    def fit(pin: Decision) -> tuple[bool, bool]:
        return (pin.year == query.year, pin.media_type == query.media_type)

    return max(fitting, key=fit)  # max keeps the first (newest) of equals


def same_picture(a: str | None, b: str | None) -> bool:
    """Whether two perceptual hashes (16 hex digits) show the same picture; False if either is
    unknown or malformed."""
    if not a or not b:
        return False
    from coverctl.images import same_picture as close

    try:
        return close(a, b)
    except ValueError:
        return False


def rejection_of(
    image_url: str, image_hash: str | None, rejections: Sequence[Decision]
) -> Decision | None:
    """The rejection that rules out this picture (by URL first, then by hash), or None."""
    for rejection in rejections:
        if rejection.image_url == image_url:
            return rejection
    for rejection in rejections:
        if same_picture(image_hash, rejection.image_hash):
            return rejection
    return None


def describe_rejection(rejection: Decision) -> str:
    """One phrase for --explain: who rejected the picture, and why if they said."""
    who = f" by {rejection.decided_by}" if rejection.decided_by else ""
    why = f": {rejection.note}" if rejection.note else ""
    return f"{CURATOR_REJECTED}{who} on {rejection.decided_at[:10]}{why}"


# The start of every attempt reason the resolver records for a curator's rejection (the resolver
# does not remember a miss caused by one: an `unreject` must be able to bring the picture back).
CURATOR_REJECTED = "rejected by a curator"
