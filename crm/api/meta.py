"""GET /meta: the reference lists a client needs to fill its pickers."""
from crm.projects import stages
from crm.reference import services as reference
from crm.support import models as support_models

from . import bp, token_required

#: fixed lists; keys are stable
STAGES = [(s.key, s.name, s.name_en) for s in stages.STAGES]
#: the support board's fixed lists, from the models (the keys records hold)
MILESTONE_KINDS = [(k.key, k.name, k.name_en) for k in support_models.MILESTONE_KINDS]
REQUEST_CATEGORIES = [(c.key, c.name, c.name_en) for c in support_models.REQUEST_CATEGORIES]
MEETING_TYPES = [("visit", "拜访", "Visit"), ("negotiation", "洽谈", "Negotiation"),
                 ("inbound_visit", "来访考察", "Inbound site visit"), ("call", "电话", "Call"),
                 ("event", "活动", "Event meeting")]


def _fixed(rows):
    return [{"key": k, "name": n, "name_en": e} for k, n, e in rows]


@bp.get("/meta")
@token_required
def meta():
    return {
        "stages": _fixed(STAGES),
        "clusters": reference.meta_items("cluster"),
        "parks": reference.meta_items("park"),
        "cities": reference.meta_items("city"),
        "departments": reference.meta_items("department"),
        "sources": reference.meta_items("source"),
        "chain_tags": reference.meta_items("chain_tag"),
        "milestone_kinds": _fixed(MILESTONE_KINDS),
        "request_categories": _fixed(REQUEST_CATEGORIES),
        "meeting_types": _fixed(MEETING_TYPES),
        "company_statuses": _fixed([("prospect", "意向", "Prospect"), ("resident", "落户", "Resident"),
                                    ("inactive", "无效", "Inactive")]),
    }
