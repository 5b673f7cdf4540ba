"""The pipeline's stages (线索 → 达产, plus 搁置 and 流失) and the rules for moving between them.

Any stage may follow any other (projects get signed on the spot at events, and deals fall back), but every move is
recorded, a move to "lost" needs a reason, and a move is refused when the project changed since it was read.
"""
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Stage:
    key: str
    name: str  # Chinese, the officers' word
    name_en: str
    #: on the main path (lead → full capacity); on hold and lost are side states
    main: bool = True

    @property
    def label(self):
        """The name in the UI language (through Flask-Babel, so zh shows the officers' word)."""
        return _LABELS[self.key]


STAGES: tuple[Stage, ...] = (
    Stage("lead", "线索", "Lead"),
    Stage("negotiating", "洽谈", "Negotiating"),
    Stage("site_visit", "考察", "Site visit"),
    Stage("signed", "签约", "Signed"),
    Stage("under_construction", "在建", "Under construction"),
    Stage("in_production", "投产", "In production"),
    Stage("full_capacity", "达产", "Full capacity"),
    Stage("on_hold", "搁置", "On hold", main=False),
    Stage("lost", "流失", "Lost", main=False),
)
_LABELS = {
    "lead": _l("Lead"), "negotiating": _l("Negotiating"), "site_visit": _l("Site visit"), "signed": _l("Signed"),
    "under_construction": _l("Under construction"), "in_production": _l("In production"),
    "full_capacity": _l("Full capacity"), "on_hold": _l("On hold"), "lost": _l("Lost"),
}
BY_KEY = {s.key: s for s in STAGES}
KEYS = tuple(s.key for s in STAGES)
#: the stages a deal is still being worked in: the board's "open stages" filter
OPEN = ("lead", "negotiating", "site_visit", "signed", "under_construction", "in_production")
#: from signed on, a project is the zone's: the support board tracks it
SIGNED_OR_LATER = ("signed", "under_construction", "in_production", "full_capacity")
#: the reason a move to this stage must carry
NEEDS_REASON = ("lost",)


def order(key: str) -> int:
    """Position on the main path (side states after it), for sorting and for telling forwards from back."""
    return KEYS.index(key) if key in BY_KEY else len(KEYS)


def is_backwards(from_key: str | None, to_key: str) -> bool:
    """A move back along the main path (e.g. signed → negotiating); side states are neither."""
    start, end = BY_KEY.get(from_key), BY_KEY.get(to_key)
    if start is None or end is None or not (start.main and end.main):
        return False
    return order(to_key) < order(from_key)


def move_problems(from_key: str | None, to_key, reason: str) -> dict[str, list[str]]:
    """Per-field messages for a move that breaks a rule (empty when the move is allowed)."""
    if not isinstance(to_key, str) or to_key not in BY_KEY:
        return {"stage": [str(_l("Choose one of the stages: %(keys)s.", keys=", ".join(KEYS)))]}
    if to_key == from_key:
        return {"stage": [str(_l("The project is already at this stage."))]}
    if to_key in NEEDS_REASON and not (reason or "").strip():
        return {"reason": [str(_l("Say why the project was lost."))]}
    return {}
