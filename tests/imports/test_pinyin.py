"""The word-by-word pinyin of crm.core.text (remembered per word, for the import's speed) gives exactly what
pypinyin gives for the whole text: polyphones in phrases, Latin letters, digits, brackets, rare characters."""
import random
import re

from pypinyin import Style, lazy_pinyin

from crm.core.text import fold_width, pinyin_full, pinyin_initials


def _initials(text: str) -> str:
    parts = lazy_pinyin(fold_width(text), style=Style.FIRST_LETTER, errors="default")
    return re.sub(r"[^a-z0-9]", "", "".join(parts).lower())


def _full(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", "".join(lazy_pinyin(fold_width(text))).lower())


def test_word_by_word_pinyin_equals_pypinyin_on_the_whole_text():
    rng = random.Random(8)
    pool = [chr(c) for c in range(0x4E00, 0x9FA5, 7)] + list("abcXYZ0123 -_.,（）()&·〇ü!") + \
        ["有限公司", "重庆", "长沙", "银行", "行长", "重量", "长春长生"]
    samples = ["立讯智造（江西）有限公司", "重庆长安汽车股份有限公司", "TCL科技集团", "伊戈尔电气", "银行行长", "",
               *("".join(rng.choice(pool) for _ in range(rng.randrange(0, 16))) for _ in range(3000))]
    for text in samples:
        assert (pinyin_initials(text), pinyin_full(text)) == (_initials(text), _full(text)), text
    assert pinyin_initials("立讯智造") == "lxzz" and pinyin_full("重庆") == "chongqing"
