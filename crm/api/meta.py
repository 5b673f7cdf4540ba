"""GET /meta: the reference lists a client needs to fill its pickers."""
from crm.projects import stages
from crm.reference import services as reference

from . import bp, token_required

#: fixed lists; keys are stable
STAGES = [(s.key, s.name, s.name_en) for s in stages.STAGES]
MILESTONE_KINDS = [("land_acquired", "土地摘牌", "Land acquired"), ("planning_permit", "规划许可", "Planning permit"),
                   ("construction_permit", "施工许可", "Construction permit"),
                   ("construction_start", "开工", "Construction start"), ("topping_out", "封顶", "Topping out"),
                   ("equipment_in", "设备进场", "Equipment in"), ("trial_production", "试产", "Trial production"),
                   ("production_start", "投产", "Production start"), ("full_capacity", "达产", "Full capacity")]
REQUEST_CATEGORIES = [("land", "用地", "Land"), ("utilities", "水电气", "Utilities"), ("permits", "审批", "Permits"),
                      ("financing", "融资", "Financing"), ("hiring", "招工", "Hiring"),
                      ("logistics", "物流", "Logistics"), ("policy", "政策兑现", "Policy")]
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
