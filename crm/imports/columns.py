"""The columns of each spreadsheet kind: header in Chinese and English (and the other names people give them), the
field rule that parses a cell, the reference list or choice labels a value may be written as.

One spec serves both directions: the export writes these headers and values, the import recognises them, so an
exported list imports again with no change. Parsing reuses the services' field rules (crm.core.fields through
COMPANY_FIELDS, CONTACT_FIELDS, PROJECT_FIELDS): a cell is first turned into what a form would send (text, a date),
then the rule decides, with the same messages a form shows.
"""
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from flask_babel import lazy_gettext as _l

from crm.companies.services import COMPANY_FIELDS, CONTACT_FIELDS
from crm.core import fields as rules
from crm.core.spreadsheet import FORMULA_STARTS
from crm.core.text import fold_width
from crm.projects.services import PROJECT_FIELDS
from crm.projects.stages import STAGES

KINDS = ("companies", "contacts", "projects")
#: kinds that export (tasks have no import)
EXPORT_KINDS = (*KINDS, "tasks")

COMPANY_STATUS = {"prospect": ("意向企业", "Prospect"), "resident": ("落户企业", "Resident"),
                  "inactive": ("无效", "Inactive")}
LISTING_STATUS = {"none": ("未上市", "Not listed"), "preparing": ("拟上市", "Preparing to list"),
                  "listed": ("已上市", "Listed")}
STAGE_NAMES = {s.key: (s.name, s.name_en) for s in STAGES}
YES_NO = {True: ("是", "yes"), False: ("否", "no")}


class CellError(ValueError):
    """A cell that cannot become a value: the message names what to do."""


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    #: other headers people use for it (matched after folding width, case, spaces and brackets)
    aliases: tuple[str, ...] = ()
    #: the service's field rule; None for export-only columns
    rule: rules.Field | None = None
    #: a reference list: the cell may hold the key, the Chinese or the English name
    ref: str | None = None
    #: value → (Chinese, English) labels; the cell may hold the value or either label
    choices: dict | None = None
    #: an identifier (USCC, phone): only text, never a number Excel may have rounded (IE-3)
    identifier: bool = False
    #: free text: a formula cell is kept as its literal text (IE-4); elsewhere a formula is refused
    free_text: bool = False
    #: written by the export, never read back (owner, updated, days in stage...)
    export_only: bool = False
    #: required to create a record (the rule's own flag, or the company reference of a contact or project)
    required: bool = False
    #: written as a text cell (number_format '@')
    text_cell: bool = False
    #: read by the import, not written by the export (a company row's first contact)
    import_only: bool = False
    extra: dict = field(default_factory=dict)

    def header(self, english: bool) -> str:
        return self.en if english else self.zh


def _col(key: str, zh: str, en: str, spec: dict | None = None, *aliases: str, **kw) -> Column:
    rule = kw.pop("rule", None) or (spec or {}).get(key)
    required = kw.pop("required", bool(rule and rule.required))
    identifier = kw.get("identifier", False)
    return Column(key, zh, en, tuple(aliases), rule=rule, required=required,
                  text_cell=kw.pop("text_cell", identifier), **kw)


COMPANY_COLUMNS: tuple[Column, ...] = (
    _col("name", "企业名称", "Company name", COMPANY_FIELDS, "公司名称", "企业全称", "单位名称", "名称", "企业", "公司",
         "company", "name"),
    _col("short_name", "简称", "Short name", COMPANY_FIELDS, "企业简称", "公司简称"),
    _col("uscc", "统一社会信用代码", "Unified social credit code", COMPANY_FIELDS, "社会信用代码", "信用代码",
         "统一信用代码", "uscc", "credit code", identifier=True),
    _col("cluster", "产业集群", "Industry cluster", COMPANY_FIELDS, "集群", "所属产业", "产业", "所属集群", "cluster",
         ref="cluster"),
    _col("origin_city", "来源城市", "Origin city", COMPANY_FIELDS, "城市", "所在城市", "来源地", "所在地", "city",
         ref="city"),
    _col("status", "状态", "Status", COMPANY_FIELDS, "企业状态", choices=COMPANY_STATUS),
    _col("owner", "跟进人", "Held by", None, "持有人", "负责人", export_only=True),
    _col("chain_tags", "产业链环节", "Chain segments", COMPANY_FIELDS, "产业链", "产业链标签", "标签", "tags"),
    _col("employees", "员工人数", "Employees", COMPANY_FIELDS, "员工数", "人数", "职工人数"),
    _col("revenue", "营业收入（万元）", "Revenue (10,000 yuan)", COMPANY_FIELDS, "营业收入", "营收", "年营收",
         "营收（万元）", "revenue"),
    _col("address", "地址", "Address", COMPANY_FIELDS, "企业地址", "注册地址", "详细地址", free_text=True),
    _col("listing_status", "上市状态", "Listing", COMPANY_FIELDS, "是否上市", "listing status", choices=LISTING_STATUS),
    _col("hmt_funded", "港澳台资", "HK/Macao/Taiwan-funded", COMPANY_FIELDS, "是否港澳台资", choices=YES_NO),
    _col("source", "来源", "Source", COMPANY_FIELDS, "线索来源", "source", ref="source"),
    _col("notes", "备注", "Notes", COMPANY_FIELDS, "说明", "notes", free_text=True),
    # the first contact, on the company's row (event sign-in sheets): created with a new company, matched by phone
    _col("contact_name", "联系人", "Contact", None, "联系人姓名", "contact name",
         rule=rules.Text(max_length=100), import_only=True),
    _col("contact_title", "职务", "Title", None, "联系人职务", "职位", rule=CONTACT_FIELDS["title"], import_only=True),
    _col("contact_mobile", "手机", "Mobile", None, "联系电话", "电话", "手机号", "手机号码", "联系方式", "mobile",
         "phone", rule=CONTACT_FIELDS["mobile"], identifier=True, import_only=True),
    _col("contact_email", "邮箱", "E-mail", None, "电子邮箱", "email", rule=CONTACT_FIELDS["email"], import_only=True),
    _col("updated", "更新时间", "Updated", None, "更新日期", export_only=True),
)

CONTACT_COLUMNS: tuple[Column, ...] = (
    _col("company", "企业名称", "Company name", None, "公司名称", "企业", "公司", "单位名称", "company", required=True),
    _col("company_uscc", "统一社会信用代码", "Unified social credit code", None, "社会信用代码", "信用代码", "uscc",
         rule=COMPANY_FIELDS["uscc"], identifier=True),
    _col("name", "姓名", "Name", CONTACT_FIELDS, "联系人", "联系人姓名", "name", "contact"),
    _col("title", "职务", "Title", CONTACT_FIELDS, "职位", "title"),
    _col("mobile", "手机", "Mobile", CONTACT_FIELDS, "手机号", "手机号码", "联系电话", "电话", "mobile", "phone",
         identifier=True),
    _col("email", "邮箱", "E-mail", CONTACT_FIELDS, "电子邮箱", "email"),
    _col("wechat", "微信", "WeChat", CONTACT_FIELDS, "微信号", "wechat", identifier=True),
    _col("notes", "备注", "Notes", CONTACT_FIELDS, "说明", "notes", free_text=True),
)

PROJECT_COLUMNS: tuple[Column, ...] = (
    # the export's first two columns stay the company's and the project's names (the lists' readers rely on them)
    _col("company", "企业名称", "Company", None, "公司名称", "企业", "公司", "投资方", "company", required=True),
    _col("name", "项目名称", "Project name", PROJECT_FIELDS, "项目", "project", "project name"),
    _col("stage", "阶段", "Stage", None, "项目阶段", "进展阶段", "stage", choices=STAGE_NAMES),
    _col("cluster", "产业集群", "Industry cluster", PROJECT_FIELDS, "集群", "所属产业", "产业", "cluster",
         ref="cluster"),
    _col("park", "园区", "Park", PROJECT_FIELDS, "落户园区", "拟落户园区", "park", ref="park"),
    _col("planned_investment", "计划投资（万元）", "Planned investment (10,000 yuan)", PROJECT_FIELDS, "计划投资",
         "总投资", "总投资（万元）", "投资额（万元）", "投资额"),
    _col("fixed_asset_investment", "固定资产投资（万元）", "Fixed-asset investment (10,000 yuan)", PROJECT_FIELDS,
         "固定资产投资", "固投", "固投（万元）"),
    _col("expected_output", "预计年产值（万元）", "Expected annual output (10,000 yuan)", PROJECT_FIELDS,
         "预计年产值", "年产值"),
    _col("expected_tax", "预计年税收（万元）", "Expected annual tax (10,000 yuan)", PROJECT_FIELDS,
         "预计年税收", "年税收"),
    _col("jobs", "就业人数", "Jobs", PROJECT_FIELDS, "用工人数", "带动就业"),
    _col("land_mu", "用地（亩）", "Land (mu)", PROJECT_FIELDS, "用地", "用地面积（亩）", "用地面积", "需求用地"),
    _col("funds_in_place", "到位资金（万元）", "Funds in place (10,000 yuan)", None, "到位资金", export_only=True),
    _col("owner", "责任人", "Owner", None, export_only=True),
    _col("first_contact", "首谈人", "First contact", None, export_only=True),
    _col("source", "来源", "Source", PROJECT_FIELDS, "项目来源", "source", ref="source"),
    _col("key_project", "重点项目", "Key project", PROJECT_FIELDS, "是否重点项目", choices=YES_NO),
    _col("confidential", "保密", "Confidential", PROJECT_FIELDS, "是否保密", choices=YES_NO),
    _col("code_name", "代号", "Code name", PROJECT_FIELDS, "项目代号"),
    _col("planned_start", "计划开工", "Planned start", PROJECT_FIELDS, "计划开工日期", "开工时间"),
    _col("planned_production", "计划投产", "Planned production", PROJECT_FIELDS, "计划投产日期", "投产时间"),
    _col("description", "项目内容", "Description", PROJECT_FIELDS, "建设内容", "项目概况", free_text=True),
    _col("notes", "备注", "Notes", PROJECT_FIELDS, "说明", free_text=True),
    _col("company_uscc", "统一社会信用代码", "Unified social credit code", None, "社会信用代码", "信用代码", "uscc",
         rule=COMPANY_FIELDS["uscc"], identifier=True),
    _col("days_in_stage", "本阶段天数", "Days in stage", None, export_only=True),
    _col("stale", "停滞", "Stale", None, export_only=True),
    _col("signed_on", "签约日期", "Signed on", None, export_only=True),
    _col("updated", "更新时间", "Updated", None, "更新日期", export_only=True),
)

TASK_COLUMNS: tuple[Column, ...] = (
    _col("title", "待办事项", "Task", None, export_only=True),
    _col("due", "截止", "Due", None, export_only=True),
    _col("owner", "负责人", "Owner", None, export_only=True),
    _col("company", "企业名称", "Company", None, export_only=True),
    _col("project", "项目名称", "Project", None, export_only=True),
    _col("done", "完成时间", "Done", None, export_only=True),
    _col("notes", "备注", "Notes", None, export_only=True),
)

COLUMNS: dict[str, tuple[Column, ...]] = {"companies": COMPANY_COLUMNS, "contacts": CONTACT_COLUMNS,
                                          "projects": PROJECT_COLUMNS, "tasks": TASK_COLUMNS}
KIND_LABELS = {"companies": _l("Companies"), "contacts": _l("Contacts"), "projects": _l("Projects"),
               "tasks": _l("Tasks")}


def by_key(kind: str) -> dict[str, Column]:
    return {c.key: c for c in COLUMNS[kind]}


def importable(kind: str) -> list[Column]:
    return [c for c in COLUMNS[kind] if not c.export_only]


# --- headers ---------------------------------------------------------------------------------------------------------

_HEADER_NOISE = re.compile(r"[\s*:：_\-·]+")


def header_key(text) -> str:
    """How a header is compared: half-width, lower case, without spaces, asterisks (required marks) or colons."""
    return _HEADER_NOISE.sub("", fold_width(str(text or "")).lower())


def _header_index(kind: str) -> dict[str, str]:
    index: dict[str, str] = {}
    for col in COLUMNS[kind]:
        for name in (col.zh, col.en, col.key, *col.aliases):
            index.setdefault(header_key(name), col.key)
    return index


def auto_mapping(kind: str, header: list) -> dict[str, str]:
    """Column index (text) → column key, from Chinese or English headers; each key at most once (the first)."""
    index = _header_index(kind)
    out, taken = {}, set()
    for i, cell in enumerate(header):
        key = index.get(header_key(cell))
        if key and key not in taken:
            out[str(i)] = key
            taken.add(key)
    return out


def header_score(kind: str, row: list) -> int:
    """How many cells of a row are headers of this kind (to find the header row under a title row)."""
    index = _header_index(kind)
    return len({index[k] for k in (header_key(c) for c in row if c not in (None, "")) if k in index})


# --- cells -----------------------------------------------------------------------------------------------------------

#: Excel's day 0 in the 1900 date system (with its 1900-02-29 bug folded in for dates after March 1900)
_EXCEL_EPOCH = date(1899, 12, 30)
#: serial numbers of 1990-01-01 and 2100-12-31: a number in a date column outside them is not a date
_SERIAL_RANGE = (32874, 73415)
_TEXT_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d+)?[eE][+-]?\d+$")
FORMULA = "formula"


def _number_text(value: float) -> str:
    """A number cell as the text a user typed: 1200.0 → "1200", 1.5 → "1.5"."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _identifier(value) -> str:
    """An identifier read as text: a number cell is refused when Excel may have rounded it (more than 15 digits,
    or shown in scientific notation: the tail is already lost), else taken as its digits (IE-3)."""
    if isinstance(value, bool):
        raise CellError(_l("Format this column as Text and enter the value again."))
    if isinstance(value, (int, float)):
        if isinstance(value, float) and (not value.is_integer() or abs(value) >= 1e15):
            raise CellError(_l("This number has lost digits in Excel: format the column as Text and enter it "
                               "again."))
        return str(int(value))
    text = str(value).strip()
    if text[:1] == "'" and text[1:2] and text[1] in FORMULA_STARTS:
        text = text[1:]
    if _SCIENTIFIC.match(fold_width(text)):
        raise CellError(_l("This number has lost digits in Excel: format the column as Text and enter it again."))
    return text


def _date_text(value):
    """A date cell, an Excel serial number or a text date (2025-3-1, 2025/03/01, 2025年3月1日, 20250301) as a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not _SERIAL_RANGE[0] <= value <= _SERIAL_RANGE[1]:
            raise CellError(_l("Enter a date as YYYY-MM-DD."))
        return _EXCEL_EPOCH + timedelta(days=int(value))
    text = fold_width(str(value)).strip()
    match = _TEXT_DATE.match(text) or _COMPACT_DATE.match(text)
    if match:
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            raise CellError(_l("Enter a date as YYYY-MM-DD.")) from None
    return text


def _labelled(value, labels: dict):
    """A choice written as its value, its Chinese or its English label."""
    text = fold_width(str(value)).strip()
    lowered = text.lower()
    for key, (zh, en) in labels.items():
        if lowered in {str(key).lower(), zh.lower(), en.lower()}:
            return key
    return text


_YES = {"y": True, "yes": True, "true": True, "1": True, "是": True, "√": True, "✓": True, "n": False, "no": False,
        "false": False, "0": False, "否": False, "×": False}


def cell_to_input(col: Column, value, refs: dict[str, dict[str, str]]):
    """Turn a cell into what a form would send for this column (before the field rule checks it)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, tuple) and value and value[0] == FORMULA:
        if col.free_text:
            return value[1]  # kept as literal text; the export defuses it again (IE-4)
        raise CellError(_l("A formula cannot be imported here: enter the value itself."))
    if col.identifier:
        return _identifier(value)
    if col.ref:
        return refs[col.ref].get(header_key(value), str(value).strip()) if not isinstance(value, float) else \
            _number_text(value)
    if col.choices is YES_NO:
        if isinstance(value, bool):
            return value
        key = _number_text(value) if isinstance(value, float) else fold_width(str(value)).strip().lower()
        return _YES.get(key, key)
    if col.choices:
        return _labelled(value, col.choices)
    rule = col.rule
    if isinstance(rule, rules.Date):
        return _date_text(value)
    if isinstance(value, float):
        if isinstance(rule, rules.Integer) and not value.is_integer():
            raise CellError(_l("Enter a whole number."))
        if math.isnan(value) or math.isinf(value):
            raise CellError(_l("Enter a number."))
        return _number_text(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, bool):
        return "是" if value else "否"
    text = str(value)
    if text[:1] == "'" and text[1:2] and text[1] in FORMULA_STARTS:
        text = text[1:]  # the export's defusing of a formula-like text (IE-4): the value is what follows
    if isinstance(rule, (rules.Integer, rules.Money)):
        text = fold_width(text).replace(",", "").replace("，", "").strip()
    return text


def parse_cell(col: Column, value, refs: dict[str, dict[str, str]]):
    """The cell's value for the service (None for an empty cell: it keeps a stored value), or CellError /
    FieldError with the message to show."""
    raw = cell_to_input(col, value, refs)
    if raw is None:
        return None
    if col.rule is None:
        return raw.strip() if isinstance(raw, str) else raw
    value = col.rule.parse(raw)
    return None if value in ("", []) else value


def exported(kind: str) -> list[Column]:
    """The columns an export writes, in order."""
    return [c for c in COLUMNS[kind] if not c.import_only]


# --- export values ---------------------------------------------------------------------------------------------------

def choice_label(col: Column, value, english: bool):
    """A stored choice as the export writes it (the label in the language of the headers)."""
    if value is None:
        return None
    labels = col.choices.get(value)
    return (labels[1] if english else labels[0]) if labels else value


def money(value: Decimal | None):
    """An amount as a number cell: a whole number stays an int (1200, not 1200.0)."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def reference_lookup(kinds=("cluster", "park", "city", "source")) -> dict[str, dict[str, str]]:
    """For each reference list: its keys, Chinese and English names (as header_key folds them) → the key."""
    from crm.reference import services as reference

    out = {}
    for kind in kinds:
        index = {}
        for item in reference.items(kind, include_inactive=True):
            for text in (item.key, item.name, item.name_en):
                if text:
                    index.setdefault(header_key(text), item.key)
        out[kind] = index
    return out
