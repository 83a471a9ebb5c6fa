"""Fitting a reply to a channel: numbered choices, splitting long text, SMS segment counts."""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from dialogue.messages import Button, Reply
from dialogue.ports import Capabilities


@dataclass(frozen=True)
class Part:
    """One message of a rendered reply, as the channel will carry it."""

    text: str
    buttons: tuple[Button, ...] = ()


def render(reply: Reply, caps: Capabilities) -> list[Part]:
    """Render `reply` as the messages a channel with `caps` can carry, in sending order.

    Choices stay native buttons when the channel has room for all of them; otherwise
    they become a numbered list ("1) Ver pedido", one per line) that the customer
    answers with the number (see `match_choice`). Either way they come after the
    whole text, with its last part, or in a message of their own when that part has
    no room left.
    """
    if len(reply.buttons) <= caps.max_buttons:
        texts = split_text(reply.text, caps.max_length)
        return [Part(text) for text in texts[:-1]] + [Part(texts[-1], reply.buttons)]
    return [Part(text) for text in _with_numbered_choices(reply, caps.max_length)]


def numbered_choices(buttons: Sequence[Button]) -> str:
    """The choices as text, one "N) Title" line each, numbered from 1."""
    return "\n".join(f"{number}) {button.title}" for number, button in enumerate(buttons, 1))


def _with_numbered_choices(reply: Reply, limit: int) -> list[str]:
    choices = numbered_choices(reply.buttons)
    texts = split_text(reply.text, limit)
    with_last = _followed_by(texts[-1], choices)
    if len(with_last) <= limit:
        return [*texts[:-1], with_last]
    if len(choices) <= limit:
        # All the choices stay together, after the question: in a message of their own.
        return [*texts, choices]
    # Too many choices for one message: they run on from the question, split between
    # choices like any long text.
    return split_text(_followed_by(reply.text, choices), limit)


def _followed_by(text: str, choices: str) -> str:
    return text + ("" if not text or text.endswith("\n") else "\n") + choices


class _Gap(IntEnum):
    """Where a run of whitespace sits, ranked: a split prefers the highest kind."""

    WORD = 0
    SENTENCE = 1
    LINE = 2
    PARAGRAPH = 3


@dataclass(frozen=True)
class _Run:
    start: int
    end: int
    kind: _Gap


_WHITESPACE = re.compile(r"\s+")
# Closing quotes and brackets may follow the full stop: «Listo.» ("Sí.")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*\Z")
# A part that ends at a better boundary but is less than half full costs an extra
# message (an extra paid SMS) for little gain in readability, so below this fill a
# split takes the latest boundary of any kind instead.
_MIN_FILL = 0.5


def split_text(text: str, limit: int) -> list[str]:
    """Split `text` into parts of at most `limit` characters, in order.

    Splits fall at a paragraph break if one fits, else a line break, else a sentence
    end, else a space; a single word longer than `limit` is cut. Only the whitespace
    at each split (and before the first part) is dropped: joining the parts with that
    whitespace gives `text` back. A text that fits is returned unchanged, as the only
    part.
    """
    if limit < 1:
        raise ValueError(f"a part must hold at least one character, not {limit}")
    if len(text) <= limit:
        return [text]
    runs = [_Run(m.start(), m.end(), _kind(text, m)) for m in _WHITESPACE.finditer(text)]
    run_starts = [run.start for run in runs]
    parts: list[str] = []
    # A message of its own for leading blank lines would read as a glitch.
    start = runs[0].end if runs and runs[0].start == 0 else 0
    while len(text) - start > limit:
        # Runs beginning after `start` and no later than `start + limit`: a part can
        # end at any of them. One beginning exactly at `start` would leave it empty.
        first = bisect.bisect_right(run_starts, start)
        last = bisect.bisect_right(run_starts, start + limit)
        if first < last:
            run = _best_run(runs[first:last], start + limit * _MIN_FILL)
            parts.append(text[start : run.start])
            start = run.end
        else:
            end = _cut(text, start, start + limit)
            parts.append(text[start:end])
            start = end
    if start < len(text):
        parts.append(text[start:])
    return parts or [""]  # a text of nothing but whitespace


def _kind(text: str, run: re.Match[str]) -> _Gap:
    newlines = run.group().count("\n")
    if newlines >= 2:
        return _Gap.PARAGRAPH
    if newlines == 1:
        return _Gap.LINE
    if _SENTENCE_END.search(text, max(0, run.start() - 8), run.start()):
        return _Gap.SENTENCE
    return _Gap.WORD


def _best_run(candidates: Sequence[_Run], floor: float) -> _Run:
    return max(
        candidates,
        key=lambda run: (run.start >= floor, run.kind if run.start >= floor else 0, run.start),
    )


def _cut(text: str, start: int, end: int) -> int:
    """Where to cut a word too long for one part: not inside an accented letter or emoji."""
    cut = end
    while cut - 1 > start and _joins_previous(text, cut):
        cut -= 1
    # A word made only of joined characters has no better place to be cut.
    return end if _joins_previous(text, cut) else cut


_JOINERS = frozenset("\u200d\ufe0e\ufe0f")  # zero-width joiner, text and emoji variation selectors


def _joins_previous(text: str, index: int) -> bool:
    char = text[index]
    return (
        unicodedata.combining(char) != 0
        or char in _JOINERS
        or text[index - 1] == "\u200d"
        or "\U0001f3fb" <= char <= "\U0001f3ff"  # skin tone modifiers
    )


_NUMBER_ANSWER = re.compile(r"#?\s*(\d+)\s*[.)]?")


def match_choice(text: str, buttons: Sequence[Button]) -> Button | None:
    """The button a customer chose by typing its number or its title, or None.

    Accepts "2", " 2 ", "2.", "2)" and "#2" for the second button, and a title typed
    back regardless of case, accents and surrounding punctuation ("si" is "Sí").
    Anything else, such as "2 pares", is not a choice. A number outside the list
    falls back to the titles, so "40" picks a button titled "40" (a shoe size).
    """
    number = _NUMBER_ANSWER.fullmatch(text.strip())
    if number is not None:
        index = int(number.group(1))
        if 1 <= index <= len(buttons):
            return buttons[index - 1]
    typed = _comparable(text)
    if not typed:
        return None
    matches = [button for button in buttons if _comparable(button.title) == typed]
    # Two titles that read the same once accents and case are gone cannot be told
    # apart from what was typed; asking again is better than guessing.
    return matches[0] if len(matches) == 1 else None


def _comparable(text: str) -> str:
    """`text` without case, accents, surrounding punctuation and repeated spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))
    words = bare.casefold().split()
    trimmed = " ".join(words)
    start, end = 0, len(trimmed)
    while start < end and _is_edge(trimmed[start]):
        start += 1
    while end > start and _is_edge(trimmed[end - 1]):
        end -= 1
    return trimmed[start:end]


def _is_edge(char: str) -> bool:
    # Punctuation, symbols (emoji included), separators and format characters.
    return unicodedata.category(char)[0] in "PSZC"


# 3GPP TS 23.038 GSM 7-bit default alphabet, without the escape code 0x1B. Position
# 0x09 is drawn as "Ç" in the specification, but the Unicode Consortium's mapping
# (GSM0338.TXT) and gateways such as Kannel read it as "ç" too, so both count here.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇç\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each of these is sent as the escape code plus one septet.
_GSM7_EXTENSION = frozenset("\f^{}\\[]~|€")


def sms_segments(text: str) -> int:
    """How many SMS segments carry `text`: what carriers bill and senders' rates count.

    GSM-7 text fits 160 septets in one segment and 153 per segment once concatenated
    (the rest holds the concatenation header); extension characters take two septets.
    Any other character makes the whole text UCS-2: 70 code units, then 67 per
    segment, where a character outside the BMP (most emoji) takes two. A character
    is never split across segments. An empty text is still one message.
    """
    if all(c in _GSM7_BASIC or c in _GSM7_EXTENSION for c in text):
        sizes = [2 if c in _GSM7_EXTENSION else 1 for c in text]
        single, concatenated = 160, 153
    else:
        sizes = [2 if ord(c) > 0xFFFF else 1 for c in text]
        single, concatenated = 70, 67
    if sum(sizes) <= single:
        return 1
    segments, used = 1, 0
    for size in sizes:
        if used + size > concatenated:
            segments, used = segments + 1, 0
        used += size
    return segments
