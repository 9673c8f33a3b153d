"""Why a generated answer is not an exact match: a small, rule-based error taxonomy.

Following Gao et al. (EMNLP 2025), an answer that is not an exact match is a content error
(right language, wrong content) or one of four other failures. Each is a tested function,
applied in this order, the first that holds wins:

  empty           no letter or digit left after cleaning.
  refusal         contains a refusal phrase (`REFUSALS`, any listed language: a refusal in
                  the wrong language is still a refusal).
  gibberish       measurably degenerate (`gibberish_reason`): a character repeated 5+ times
                  in a row, a 2-10 character unit with a letter repeated 3+ times in a row
                  covering at least half the answer, 4+ words (with letters) of which at most half are distinct, or more
                  than 30% of its non-space characters outside letters, marks, digits and
                  punctuation (symbols, control or replacement characters).
  wrong_language  not in the expected language (the context's, where the gold span is):
                  letters in a script the language is not written in, or lingua names
                  another candidate language with confidence >= 0.5. An answer found in the
                  context (case-folded) is in the context's language by construction, as is
                  one without letters.
  content         everything else.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from xling.metrics.answers import fold_text
from xling.metrics.langid import identify, letter_scripts, script_fits

ERROR_CLASSES = ("content", "wrong_language", "gibberish", "refusal", "empty")

# Lower-case, matched on case-folded text; spaced scripts at word boundaries.
REFUSALS = {
    "en": ("i don't know", "i do not know", "i cannot", "i can't", "cannot answer", "can't answer",
           "not mentioned", "not stated", "not specified", "not provided", "no information",
           "not enough information", "unanswerable", "sorry", "unable to", "does not say",
           "doesn't say", "no answer", "not given"),
    "es": ("no sé", "no lo sé", "no puedo", "no se menciona", "no se indica", "no se especifica",
           "no hay información", "lo siento", "desconocido"),
    "de": ("ich weiß nicht", "weiß ich nicht", "ich kann nicht", "kann ich nicht", "nicht erwähnt",
           "nicht angegeben", "keine information", "keine angabe", "leider", "unbekannt"),
    "el": ("δεν ξέρω", "δεν γνωρίζω", "δεν μπορώ", "δεν αναφέρεται", "δεν υπάρχουν πληροφορίες",
           "λυπάμαι", "άγνωστο"),
    "ru": ("не знаю", "не могу", "не указано", "не упоминается", "нет информации", "неизвестно",
           "извините", "к сожалению"),
    "tr": ("bilmiyorum", "cevap veremem", "yanıt veremem", "belirtilmemiş", "bahsedilmemiş",
           "bilgi yok", "üzgünüm", "bilinmiyor"),
    "ar": ("لا أعرف", "لا اعرف", "لا أستطيع", "لا يمكنني", "غير مذكور", "لم يذكر", "لا توجد معلومات",
           "عذرا", "عذراً", "آسف", "غير معروف"),
    "vi": ("tôi không biết", "không biết", "tôi không thể", "không được đề cập", "không có thông tin",
           "xin lỗi", "không rõ"),
    "th": ("ไม่ทราบ", "ไม่รู้", "ไม่สามารถ", "ไม่ได้ระบุ", "ไม่มีข้อมูล", "ขอโทษ", "ขออภัย"),
    "zh": ("不知道", "无法回答", "无法确定", "没有提到", "未提及", "未提到", "没有信息", "抱歉", "对不起",
           "不清楚", "未知"),
    "hi": ("मुझे नहीं पता", "पता नहीं", "उल्लेख नहीं", "जानकारी नहीं", "माफ़ करें", "क्षमा करें", "अज्ञात"),
    "ro": ("nu știu", "nu pot", "nu este menționat", "nu se menționează", "nu există informații",
           "nu sunt informații", "îmi pare rău", "necunoscut"),
    "fr": ("je ne sais pas", "je ne peux pas", "pas mentionné", "aucune information", "désolé", "inconnu"),
    "it": ("non lo so", "non so", "non posso", "non è menzionato", "nessuna informazione", "mi dispiace",
           "sconosciuto"),
}  # fmt: skip
_UNSPACED = ("th", "zh", "ja")


def _refusal_pattern() -> re.Pattern:
    parts = []
    for lang, phrases in REFUSALS.items():
        for phrase in phrases:
            p = re.escape(fold_text(phrase))
            parts.append(p if lang in _UNSPACED else rf"(?<!\w){p}(?!\w)")
    return re.compile("|".join(parts))


_REFUSAL = _refusal_pattern()
_CHAR_RUN = re.compile(r"(\D)\1{4,}")  # one non-digit character 5+ times in a row
_UNIT_RUN = re.compile(r"(\D.{1,9}?)\1{2,}")  # a 2-10 character unit 3+ times in a row


def is_empty(answer: str) -> bool:
    return not any(ch.isalnum() for ch in answer)


def is_refusal(answer: str) -> bool:
    # Typographic apostrophes (I don’t know) are not folded by NFKC; the phrases use '.
    return _REFUSAL.search(fold_text(answer).replace("’", "'").replace("‘", "'")) is not None


def gibberish_reason(answer: str) -> str | None:
    """Which degeneracy rule holds ("char_run", "unit_run", "repeated_words", "junk_chars"),
    or None."""
    text = answer.strip()
    if _CHAR_RUN.search(text):
        return "char_run"
    for m in _UNIT_RUN.finditer(text):
        # A unit with a letter: "1,000,000,000" repeats ",000" but is a number.
        if len(m.group(0)) * 2 >= len(text) and any(ch.isalpha() for ch in m.group(1)):
            return "unit_run"
    words = [w for w in text.split() if any(ch.isalpha() for ch in w)]  # not "1 000 000 000"
    if len(words) >= 4 and len(set(words)) * 2 <= len(words):
        return "repeated_words"
    chars = [ch for ch in text if not ch.isspace()]
    junk = sum(1 for ch in chars if unicodedata.category(ch)[0] not in "LMNP")
    if chars and junk / len(chars) > 0.3:
        return "junk_chars"
    return None


def is_wrong_language(answer: str, lang: str, context: str = "", candidates: Iterable[str] = ()) -> bool:
    """Whether the answer is in another language than `lang` (module docstring)."""
    if not letter_scripts(answer):
        return False
    if context and fold_text(answer.strip()) in fold_text(context):
        return False
    if not script_fits(answer, lang):
        return True
    found = identify(answer, {lang, *candidates})
    return found.lang is not None and found.lang != lang


def classify_error(answer: str, lang: str, *, context: str = "", candidates: Iterable[str] = ()) -> str:
    """The error class of a (cleaned) answer that is not an exact match; `lang` is the language
    the answer should be in, `candidates` the other languages it might be in."""
    if is_empty(answer):
        return "empty"
    if is_refusal(answer):
        return "refusal"
    if gibberish_reason(answer):
        return "gibberish"
    if is_wrong_language(answer, lang, context, candidates):
        return "wrong_language"
    return "content"
