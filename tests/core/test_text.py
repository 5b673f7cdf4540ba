"""Unit tests of the shared text rules: names, pinyin keys, phones, USCC, masking, LIKE escaping."""
import pytest

from crm.core import text


@pytest.mark.parametrize(("a", "b"), [
    ("立讯精密工业（昆山）有限公司", "立讯精密工业有限公司"),
    ("深圳市华信精密电子 有限公司", "深圳市华信精密电子有限公司"),
    ("ＡＢＣ电子股份有限公司", "abc电子"),
    ("伊戈尔电气(吉安)有限责任公司", "伊戈尔电气"),
    ("Luxshare Co., Ltd.", "luxshare"),
])
def test_normalised_names_match(a, b):
    assert text.normalise_name(a) == text.normalise_name(b)


def test_different_companies_stay_different():
    assert text.normalise_name("立讯智造有限公司") != text.normalise_name("立讯精密有限公司")


def test_pinyin_keys():
    assert text.pinyin_initials("立讯智造") == "lxzz"
    assert text.pinyin_full("立讯智造") == "lixunzhizao"
    assert text.pinyin_initials("TCL华星光电") == "tclhxgd"


@pytest.mark.parametrize(("raw", "stored"), [
    ("+86 138-0013-8000", "13800138000"),
    ("138 0013 8000", "13800138000"),
    ("0086 13800138000", "13800138000"),
    ("010-12345678", "010-12345678"),
    ("01012345678", "010-12345678"),
    ("0796-8123456", "0796-8123456"),
    ("+852 9123 4567", "+852 91234567"),
    ("１３８００１３８０００", "13800138000"),
])
def test_phone_numbers_are_normalised(raw, stored):
    assert text.normalise_phone(raw) == stored


@pytest.mark.parametrize("raw", ["text", "12345", "+1 202 555 0100", "138001380001", "13800138000 ext 5"])
def test_bad_phone_numbers_are_refused(raw):
    with pytest.raises(ValueError):
        text.normalise_phone(raw)


@pytest.mark.parametrize(("raw", "reason"), [
    ("91350200776049653B", "checksum"),
    ("9135020077604965", "length"),
    ("913502007760496531A", "length"),
    ("91350200776049653I", "format"),
    ("9135020077604965OA", "format"),
])
def test_uscc_rejections_say_why(raw, reason):
    with pytest.raises(text.UsccError) as exc:
        text.normalise_uscc(raw)
    assert exc.value.reason == reason


def test_uscc_is_upper_cased_and_width_folded():
    assert text.normalise_uscc(" ９１３５０２００７７６０４９６５３ａ ") == "91350200776049653A"


def test_masking():
    assert text.mask_phone("13812348123") == "138****8123"
    assert text.mask_phone("0796-8123456") == "079****3456"
    assert text.mask_text("wx_12345") == "w***5"


def test_like_wildcards_are_escaped():
    assert text.escape_like("50%_a\\b") == "50\\%\\_a\\\\b"


def test_clean_text_keeps_joined_emoji_whole_but_drops_bidi_overrides():
    family, flag = "👨\u200d👩\u200d👧", "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
    assert text.clean_text(f"家庭{family} {flag}", 100) == f"家庭{family} {flag}"
    assert text.clean_text("abc\u202edef\u0007", 100) == "abcdef"
