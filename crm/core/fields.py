"""Field rules for the values a service accepts, shared by the web forms, the API, the importer and the CLI.

A record kind declares its fields once (a dict of name → Field); `clean()` turns raw values (from a form, JSON or a
spreadsheet) into typed ones or per-field messages, and `schema()` describes them for the OpenAPI document.
"""
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l

from crm.core import text as textrules


class FieldError(ValueError):
    pass


@dataclass
class Field:
    required: bool = False
    #: a value the caller may not set (server-managed); sent values are refused
    read_only: bool = False

    def parse(self, value):
        return value

    def empty(self):
        return None

    def schema(self) -> dict:
        return {}


@dataclass
class Text(Field):
    max_length: int = 200
    multiline: bool = False

    def parse(self, value):
        if value is None:
            return ""
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise FieldError(_l("Enter text."))
        raw = str(value)
        if not self.multiline:
            raw = raw.replace("\r", " ").replace("\n", " ")
        cleaned = textrules.clean_text(raw, self.max_length)
        if len(cleaned) > self.max_length:
            raise FieldError(_l("At most %(n)d characters.", n=self.max_length))
        return cleaned

    def empty(self):
        return ""

    def schema(self):
        return {"type": "string", "maxLength": self.max_length}


@dataclass
class Uscc(Field):
    def parse(self, value):
        if value in (None, ""):
            return None
        if not isinstance(value, str):
            raise FieldError(_l("Enter the 18-character code as text."))
        try:
            return textrules.normalise_uscc(value) or None
        except textrules.UsccError as exc:
            raise FieldError({
                "checksum": _l("The check character is wrong: please check the code."),
                "length": _l("A unified social credit code has 18 characters."),
            }.get(exc.reason, _l("This is not a unified social credit code."))) from None

    def schema(self):
        return {"type": "string", "nullable": True, "minLength": 18, "maxLength": 18,
                "description": "统一社会信用代码 (GB 32100-2015, check character validated)"}


@dataclass
class Phone(Field):
    def parse(self, value):
        if value in (None, ""):
            return ""
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise FieldError(_l("Enter a phone number."))
        try:
            return textrules.normalise_phone(str(value))
        except ValueError:
            raise FieldError(_l("Enter a mobile (13800138000) or landline (0796-8123456) number.")) from None

    def empty(self):
        return ""

    def schema(self):
        return {"type": "string", "example": "13800138000"}


@dataclass
class Email(Field):
    def parse(self, value):
        if value in (None, ""):
            return ""
        from email_validator import EmailNotValidError, validate_email

        if not isinstance(value, str) or len(value) > 254:
            raise FieldError(_l("Enter a valid e-mail address."))
        try:
            return validate_email(value.strip(), check_deliverability=False).normalized
        except EmailNotValidError:
            raise FieldError(_l("Enter a valid e-mail address.")) from None

    def empty(self):
        return ""

    def schema(self):
        return {"type": "string", "format": "email"}


@dataclass
class Integer(Field):
    minimum: int = 0
    maximum: int = 10**9

    def parse(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            raise FieldError(_l("Enter a whole number."))
        try:
            number = int(str(value).strip())
        except ValueError:
            raise FieldError(_l("Enter a whole number.")) from None
        if not self.minimum <= number <= self.maximum:
            raise FieldError(_l("Enter a number from %(lo)s to %(hi)s.", lo=self.minimum, hi=self.maximum))
        return number

    def schema(self):
        return {"type": "integer", "nullable": True, "minimum": self.minimum, "maximum": self.maximum}


@dataclass
class Money(Field):
    """An amount in 万元, never negative, two decimals."""

    maximum: Decimal = Decimal("999999999999")
    #: "mu" for land (亩); the unit only changes the messages and the documentation
    unit: str = "wan_yuan"
    #: allow amounts below zero (a correction entry); the caller checks any total
    signed: bool = False

    def _enter(self):
        return _l("Enter an area in mu.") if self.unit == "mu" else _l("Enter an amount in 10,000 yuan.")

    def parse(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise FieldError(self._enter())
        try:
            amount = Decimal(textrules.fold_width(str(value)).strip().replace(",", ""))
        except InvalidOperation:
            raise FieldError(self._enter()) from None
        if not amount.is_finite():
            raise FieldError(self._enter())
        if amount < 0 and not self.signed:
            raise FieldError(_l("The amount cannot be negative."))
        # copy_abs, not abs(): abs() rounds in the context and signals Overflow for 1E+999999999
        if amount.copy_abs() > self.maximum:
            raise FieldError(_l("The amount is too large."))
        return amount.quantize(Decimal("0.01"))

    def schema(self):
        out = {"type": "number", "nullable": True, "description": "亩" if self.unit == "mu" else "万元"}
        if not self.signed:
            out["minimum"] = 0
        return out


@dataclass
class Date(Field):
    """A calendar date, `YYYY-MM-DD` (a date object passes)."""

    def parse(self, value):
        from datetime import date, datetime

        if value in (None, ""):
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if not isinstance(value, str):
            raise FieldError(_l("Enter a date as YYYY-MM-DD."))
        try:
            parsed = date.fromisoformat(textrules.fold_width(value).strip())
        except ValueError:
            raise FieldError(_l("Enter a date as YYYY-MM-DD.")) from None
        if not 1990 <= parsed.year <= 2100:
            raise FieldError(_l("Enter a date between 1990 and 2100."))
        return parsed

    def schema(self):
        return {"type": "string", "format": "date", "nullable": True}


def _zoned(value):
    """An aware datetime in UTC; a naive one is read in the zone's time zone (what an officer typed)."""
    from datetime import UTC

    from crm.core.timeutil import zone

    if value.tzinfo is None:
        value = value.replace(tzinfo=zone())
    return value.astimezone(UTC)


def _parse_datetime(value):
    from datetime import datetime

    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        raw = textrules.fold_width(value).strip().replace("Z", "+00:00").replace("z", "+00:00")
        if len(raw) <= 10:  # a date alone is not a time
            raise ValueError(raw)
        parsed = datetime.fromisoformat(raw)
    else:
        raise ValueError(value)
    if not 1990 <= parsed.year <= 2100:
        raise ValueError(value)
    return _zoned(parsed)


@dataclass
class DateTime(Field):
    """A date and time: ISO 8601 with an offset, or without one (then in the zone's time zone). Stored in UTC."""

    def parse(self, value):
        if value in (None, ""):
            return None
        try:
            return _parse_datetime(value)
        except (TypeError, ValueError):
            raise FieldError(_l("Enter a date and time as YYYY-MM-DD HH:MM.")) from None

    def schema(self):
        return {"type": "string", "format": "date-time", "nullable": True,
                "description": "ISO 8601; without an offset it is read in the zone's time zone"}


@dataclass
class Due(Field):
    """When a task is due: a date (`YYYY-MM-DD`, the whole day) or a date and time. Returns a date or an aware
    datetime in UTC."""

    def parse(self, value):
        from datetime import date, datetime

        if value in (None, ""):
            return None
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str) and len(textrules.fold_width(value).strip()) <= 10:
            return Date().parse(value) if _looks_like_date(value) else self._fail()
        try:
            return _parse_datetime(value)
        except (TypeError, ValueError):
            return self._fail()

    @staticmethod
    def _fail():
        raise FieldError(_l("Enter a date (YYYY-MM-DD) or a date and time (YYYY-MM-DD HH:MM)."))

    def schema(self):
        return {"type": "string", "nullable": True, "description": "a date (YYYY-MM-DD) or an ISO 8601 date-time",
                "example": "2026-12-01"}


def _looks_like_date(value: str) -> bool:
    from datetime import date

    try:
        date.fromisoformat(textrules.fold_width(value).strip())
    except ValueError:
        return False
    return True


@dataclass
class IdList(Field):
    """A list of record ids (participants); a form's comma-separated text passes too."""

    max_items: int = 50

    def parse(self, value):
        if value in (None, ""):
            return []
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise FieldError(_l("Send a list of ids."))
        ids = []
        for item in value:
            if isinstance(item, bool):
                raise FieldError(_l("Send a list of ids."))
            text = str(item).strip()
            if not (text.isascii() and text.isdigit() and 0 < int(text) <= 2**31 - 1):
                raise FieldError(_l("Send a list of ids."))
            if int(text) not in ids:
                ids.append(int(text))
        if len(ids) > self.max_items:
            raise FieldError(_l("At most %(n)d people.", n=self.max_items))
        return ids

    def empty(self):
        return []

    def schema(self):
        return {"type": "array", "items": {"type": "integer"}}


@dataclass
class Boolean(Field):
    def parse(self, value):
        if isinstance(value, bool):
            return value
        if value in (None, ""):
            return False
        if str(value).lower() in {"1", "true", "yes", "on", "y", "是"}:
            return True
        if str(value).lower() in {"0", "false", "no", "off", "n", "否"}:
            return False
        raise FieldError(_l("Enter true or false."))

    def empty(self):
        return False

    def schema(self):
        return {"type": "boolean"}


@dataclass
class Choice(Field):
    values: tuple[str, ...] = ()
    default: str | None = None

    def parse(self, value):
        if value in (None, ""):
            return self.default
        if value not in self.values:
            raise FieldError(_l("Choose one of: %(v)s.", v=", ".join(self.values)))
        return value

    def empty(self):
        return self.default

    def schema(self):
        return {"type": "string", "enum": list(self.values)}


@dataclass
class Ref(Field):
    """A key of a reference list (cluster, park, city, ...); checked against the list by the service."""

    kind: str = ""

    def parse(self, value):
        if value in (None, ""):
            return None
        if not isinstance(value, str) or len(value) > 50:
            raise FieldError(_l("Choose a value from the list."))
        return value

    def schema(self):
        return {"type": "string", "nullable": True, "description": f"a `{self.kind}` key from GET /api/v1/meta"}


@dataclass
class Tags(Field):
    max_items: int = 20
    max_length: int = 30

    def parse(self, value):
        if value in (None, ""):
            return []
        if isinstance(value, str):
            value = [v for v in value.replace("，", ",").replace("、", ",").split(",")]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise FieldError(_l("Enter a list of tags."))
        tags = []
        for tag in value:
            tag = textrules.clean_text(tag, self.max_length)
            if len(tag) > self.max_length:
                raise FieldError(_l("A tag has at most %(n)d characters.", n=self.max_length))
            if tag and tag not in tags:
                tags.append(tag)
        if len(tags) > self.max_items:
            raise FieldError(_l("At most %(n)d tags.", n=self.max_items))
        return tags

    def empty(self):
        return []

    def schema(self):
        return {"type": "array", "items": {"type": "string", "maxLength": self.max_length}}


@dataclass
class Cleaned:
    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)


def clean(spec: dict[str, Field], data: dict, *, partial: bool = False) -> Cleaned:
    """Parse the fields of `spec` found in `data`. With `partial` (PATCH) absent fields are left out."""
    out = Cleaned()
    for name, rule in spec.items():
        if rule.read_only:
            continue
        if name not in data:
            if partial:
                continue
            if rule.required:
                out.errors[name] = [str(_l("This field is required."))]
                continue
            out.values[name] = rule.empty()
            continue
        try:
            value = rule.parse(data[name])
        except FieldError as exc:
            out.errors[name] = [str(exc.args[0])]
            continue
        if rule.required and value in (None, "", []):
            out.errors[name] = [str(_l("This field is required."))]
            continue
        out.values[name] = value
    return out


def schema(spec: dict[str, Field]) -> dict:
    """The OpenAPI schema of a record kind's writable fields."""
    return {
        "type": "object",
        "properties": {name: rule.schema() for name, rule in spec.items()},
        "required": [name for name, rule in spec.items() if rule.required],
    }
