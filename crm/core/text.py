"""Text rules shared by every entry path: name normalisation, pinyin keys, phone numbers, USCC."""
import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin
from pypinyin.constants import PHRASES_DICT, RE_HANS
from pypinyin.seg.mmseg import seg as _phrase_seg
from stdnum import exceptions as stdnum_errors
from stdnum.cn import uscc as stdnum_uscc

#: legal-form words that do not distinguish two companies (longest first)
_LEGAL_FORMS = ("有限责任公司", "股份有限公司", "集团有限公司", "有限公司", "股份公司", "集团", "股份", "公司",
                "co.,ltd.", "co., ltd.", "co.,ltd", "co. ltd", "limited", "ltd.", "ltd", "inc.", "inc", "corp.")
#: a bracketed place or note, e.g. 立讯精密工业（昆山）有限公司 → 立讯精密工业
_BRACKETS = re.compile(r"[(\[（【][^)\]）】]*[)\]）】]")
phrase_cut = _phrase_seg.cut
_NON_WORD = re.compile(r"[\s\-_·.,，。、'\"“”‘’&/]+")


def fold_width(value: str) -> str:
    """Full-width letters, digits and punctuation to their half-width forms."""
    return unicodedata.normalize("NFKC", value)


def normalise_name(name: str) -> str:
    """The key two spellings of one company share: no legal form, no bracketed city, no spaces, no width."""
    text = fold_width(name or "").lower()
    text = _BRACKETS.sub("", text)
    for form in _LEGAL_FORMS:
        text = text.replace(form, "")
    return _NON_WORD.sub("", text)


@lru_cache(maxsize=50_000)
def _word_pinyin(word: str, style: Style) -> tuple[str, ...]:
    return tuple(lazy_pinyin(word, style=style, errors="default"))


#: a run of characters that have pinyin, or a run of others: what pypinyin's simple_seg cuts a text into (it walks
#: the text a character at a time in Python; one regular expression gives the same runs)
_HAN_CLASS = RE_HANS.pattern[len("^(?:["):-len("])+$")]
_RUNS = re.compile(f"([{_HAN_CLASS}]+)|[^{_HAN_CLASS}]+", re.S)


@lru_cache(maxsize=4096)
def _run_words(run: str) -> tuple[str, ...]:
    """pypinyin's phrase segmentation (maximum matching) of a run of Chinese characters; runs such as 有限公司 or
    科技 recur from name to name."""
    return tuple(phrase_cut(run)) if PHRASES_DICT else (run,)


@lru_cache(maxsize=256)
def _words(text: str) -> tuple[tuple[str, bool], ...]:
    """pypinyin's segmentation of a text (`pypinyin.seg.simpleseg.seg`: the runs of Chinese characters and of others,
    the Chinese ones cut into phrases), each word with whether it is Chinese; a name's initials and full pinyin are
    asked for one after the other."""
    out = []
    for m in _RUNS.finditer(text):
        if m.group(1) is not None:
            out.extend((word, True) for word in _run_words(m.group(1)))
        else:
            out.append((m.group(0), False))
    return tuple(out)


def _pinyin(text: str, style: Style) -> list[str]:
    """`lazy_pinyin(text, style)`, word by word: pypinyin first cuts a text into words (its own segmentation, used
    here too) and converts each word on its own, so converting each word once and remembering it gives the same
    result, about five times faster over a book of company names (立讯, 电子, 有限公司 recur; an import of 100,000
    names spent most of its time here)."""
    return [syllable for word, chinese in _words(text)
            for syllable in (_word_pinyin(word, style) if chinese else (word,))]


def pinyin_initials(text: str) -> str:
    """`立讯智造` → `lxzz`; Latin letters and digits are kept, lower-cased."""
    parts = _pinyin(fold_width(text or ""), Style.FIRST_LETTER)
    return re.sub(r"[^a-z0-9]", "", "".join(parts).lower())


def pinyin_full(text: str) -> str:
    """`立讯智造` → `lixunzhizao`."""
    return re.sub(r"[^a-z0-9]", "", "".join(_pinyin(fold_width(text or ""), Style.NORMAL)).lower())


_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}$")


def normalise_phone(raw: str) -> str:
    """Return a phone number in its stored form, or raise ValueError.

    Mobile numbers become 11 digits (`+86 138-0013-8000` → `13800138000`); landlines keep their area code with a
    hyphen (`010-12345678`); Hong Kong and Macao numbers keep their `+852`/`+853` prefix.
    """
    text = fold_width(raw or "").strip()
    if not text:
        return ""
    if re.search(r"[^\d\s+\-()]", text):
        raise ValueError("not a phone number")
    digits = re.sub(r"\D", "", text)
    if text.startswith("+") or text.startswith("00"):
        digits = digits[2:] if text.startswith("00") else digits
        if digits.startswith("86"):
            digits = digits[2:]
        elif digits[:3] in {"852", "853"} and len(digits) == 11:
            return f"+{digits[:3]} {digits[3:]}"
        else:
            raise ValueError("unsupported country code")
    if _MOBILE.match(digits):
        return digits
    if _LANDLINE.match(digits):
        area = 3 if digits[1] in "12" else 4  # 010, 020–029 have 3-digit area codes
        return f"{digits[:area]}-{digits[area:]}"
    raise ValueError("not a phone number")


def phone_digits(value: str) -> str:
    """Digits only, for matching a phone however it was typed."""
    return re.sub(r"\D", "", value or "")


def mask_phone(value: str) -> str:
    """`13812348123` → `138****8123`."""
    if not value:
        return ""
    if len(value) <= 7:
        return value[:2] + "*" * (len(value) - 2)
    return value[:3] + "****" + value[-4:]


def mask_digit_runs(value: str) -> str:
    """Mask every run of 7+ digits (a phone number typed into a search) for logs."""
    return re.sub(r"\d{7,}", lambda m: mask_phone(m.group(0)), value or "")


def mask_text(value: str) -> str:
    """A WeChat id or similar: keep the first and last character."""
    if not value:
        return ""
    return value[0] + "***" + value[-1] if len(value) > 2 else "***"


class UsccError(ValueError):
    """Why a unified social credit code is not valid: `reason` is checksum, length or format."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_INDEX = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def normalise_uscc(raw: str, *, accept_bad_check: bool = False) -> str:
    """Upper-case, half-width, without spaces; raise UsccError when GB 32100-2015 rejects it.

    `accept_bad_check` lets a well-formed code with a wrong check character through: some early pilot codes do not
    satisfy the checksum, and a manager may accept one (an audited override, see companies.services)."""
    text = fold_width(raw or "").strip().upper().replace(" ", "").replace("-", "")
    if not text:
        return ""
    if len(text) == 18 and text.isascii() and text.isalnum():  # python-stdnum's checks, without its cleaning
        if not text[:8].isdigit() or any(c not in _USCC_INDEX for c in text[8:]):
            raise UsccError("format")
        total = sum(_USCC_INDEX[c] * w for c, w in zip(text[:17], _USCC_WEIGHTS, strict=True))
        if text[-1] != _USCC_ALPHABET[(31 - total) % 31]:
            if accept_bad_check:
                return text
            raise UsccError("checksum")
        return text
    try:
        return stdnum_uscc.validate(text)
    except stdnum_errors.InvalidChecksum:
        if accept_bad_check:
            return text
        raise UsccError("checksum") from None
    except stdnum_errors.InvalidLength:
        raise UsccError("length") from None
    except stdnum_errors.ValidationError:
        raise UsccError("format") from None


def clean_text(value, max_length: int) -> str:
    """Strip, drop control characters (CR/LF kept only where multi-line text is allowed by the caller)."""
    text = "" if value is None else str(value)
    if text.isprintable():  # no control or format character at all (most text): nothing to drop
        return text.strip()[: max_length + 1]
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C" or _kept_format(ch))
    return text.strip()[: max_length + 1]


def _kept_format(ch: str) -> bool:
    """Invisible format characters that text needs: the (non-)joiners inside emoji such as 👨‍👩‍👧 and the tag
    characters of flag emoji. Bidi overrides and the rest stay out (they can disguise what a name says)."""
    return ch in "\u200c\u200d" or "\U000e0020" <= ch <= "\U000e007f"


def escape_like(value: str) -> str:
    """Escape LIKE wildcards so `%` and `_` in a search match themselves (use with escape='\\')."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
