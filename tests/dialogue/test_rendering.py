"""Rendering replies for a channel: numbered choices, splitting, answers, SMS segments."""

from __future__ import annotations

import random

import pytest

from dialogue.messages import Button, Reply
from dialogue.ports import Capabilities
from dialogue.rendering import Part, match_choice, render, sms_segments, split_text

SMS = Capabilities(max_buttons=0, max_length=1600, typing=False)
TELEGRAM = Capabilities(max_buttons=8, max_length=4096, typing=True)
WHATSAPP_INTERACTIVE = Capabilities(max_buttons=3, max_length=1024, typing=False)

CHOICES = (
    Button("Ver pedido", "order"),
    Button("Sí", "yes"),
    Button("Hablar con alguien", "human"),
)


def assert_split(text: str, parts: list[str], limit: int) -> None:
    """Each part fits, and the parts are `text` in order minus whitespace at the splits."""
    if len(text) <= limit:
        assert parts == [text], "a text that fits is kept as written"
        return
    assert all(0 < len(part) <= limit for part in parts)
    position = 0
    for index, part in enumerate(parts):
        gap = position
        while gap < len(text) and text[gap].isspace():
            gap += 1
        assert text.startswith(part, gap), f"part {index} is not the text at {gap}"
        assert not part[0].isspace(), "whitespace at a split is dropped"
        if index < len(parts) - 1:
            assert not part[-1].isspace(), "whitespace at a split is dropped"
        position = gap + len(part)
    assert text[position:].strip() == "", "nothing but whitespace follows the last part"


# Splitting


def test_a_text_that_fits_is_one_part_as_written() -> None:
    text = "  Hola, Ana.\n\nTu pedido está en camino.  "
    assert split_text(text, len(text)) == [text]
    assert render(Reply(text), SMS) == [Part(text)]
    assert split_text("", 10) == [""]


def test_splits_at_a_paragraph_break_before_anything_else() -> None:
    first = "Tu pedido 1234 ya salió. Llega mañana\nentre las 9 y las 14 h."
    second = "Si no estás, el repartidor deja un aviso."
    text = f"{first}\n\n{second}"
    parts = split_text(text, len(first) + 12)  # the window reaches into the second
    assert parts == [first, second]


def test_splits_at_a_line_break_when_no_paragraph_ends_in_reach() -> None:
    first = "Tienda Gran Vía. Abierta de 10 a 22 h, todos los días"
    text = f"{first}\nTienda Serrano: de 10 a 21 h"
    parts = split_text(text, len(first) + 10)
    assert parts == [first, "Tienda Serrano: de 10 a 21 h"]


def test_splits_at_a_sentence_end_when_no_line_ends_in_reach() -> None:
    first = "Hemos recibido tu devolución del pedido 1234."
    text = f"{first} El reembolso tarda de 3 a 5 días hábiles"
    parts = split_text(text, len(first) + 15)
    assert parts == [first, "El reembolso tarda de 3 a 5 días hábiles"]


@pytest.mark.parametrize("closing", ['"', "»", ")", "”"])
def test_a_sentence_may_end_in_a_closing_quote(closing: str) -> None:
    first = f"El estado es «Enviado.{closing}"
    text = f"{first} Puedes seguirlo con el enlace de abajo"
    assert split_text(text, len(first) + 8)[0] == first


def test_splits_at_the_last_space_when_no_sentence_ends_in_reach() -> None:
    text = "una talla más grande del mismo modelo en color azul marino"
    parts = split_text(text, 20)
    assert parts == ["una talla más grande", "del mismo modelo en", "color azul marino"]


def test_an_early_better_boundary_does_not_leave_a_part_half_empty() -> None:
    # A paragraph break at a tenth of the limit would cost a whole extra message.
    text = "Hola.\n\n" + " ".join(["palabra"] * 20)
    parts = split_text(text, 60)
    assert len(parts[0]) > 30
    assert parts[0].startswith("Hola.\n\npalabra")
    assert_split(text, parts, 60)


def test_cuts_a_word_longer_than_a_part() -> None:
    url = "https://tienda.example/seguimiento/" + "A1B2C3D4" * 8
    text = f"Sigue tu pedido: {url} gracias"
    parts = split_text(text, 40)
    # The link starts a part of its own, then is cut where the parts are full.
    assert parts == ["Sigue tu pedido:", url[:40], url[40:80], f"{url[80:]} gracias"]
    assert_split(text, parts, 40)


def test_a_cut_keeps_accents_and_emoji_with_their_letter() -> None:
    decomposed = "e\u0301"  # é as e plus a combining accent
    family = "👨\u200d👩\u200d👧"
    thumbs = "👍🏽"
    for glyph in (decomposed, family, thumbs):
        text = "x" * 9 + glyph + "y" * 9
        parts = split_text(text, 10)
        assert "".join(parts) == text
        assert any(glyph in part for part in parts), f"{glyph!r} was cut apart"


def test_whitespace_only_at_a_split_is_dropped() -> None:
    text = "uno dos   \n \n   tres cuatro"
    parts = split_text(text, 8)
    assert parts == ["uno dos", "tres", "cuatro"]
    assert_split(text, parts, 8)
    assert split_text("\n\n uno dos tres ", 8) == ["uno dos", "tres "]
    assert split_text(" " * 20, 8) == [""]


def test_random_texts_split_without_losing_or_repeating_anything() -> None:
    rng = random.Random(20240611)
    words = ["pedido", "Sí", "ação", "naïve", "1234", "👍", "🇪🇸", "€50", "x" * 30, "¿Qué?"]
    gaps = [" ", " ", " ", ". ", "\n", "\n\n", "  \n \n ", "\t", "! "]
    for _ in range(500):
        count = rng.randint(0, 60)
        text = "".join(rng.choice(words) + rng.choice(gaps) for _ in range(count)).strip()
        text = rng.choice(["", " ", "\n"]) + text + rng.choice(["", " ", "\n\n"])
        limit = rng.randint(1, 120)
        parts = split_text(text, limit)
        assert_split(text, parts, limit)


def test_a_long_sms_reply_splits_into_1600_character_messages() -> None:
    sentence = "Tu devolución del pedido {n} está aprobada; te reembolsamos 59,90 € en 5 días. "
    paragraphs = []
    n = 0
    while sum(len(p) + 2 for p in paragraphs) < 5_000:
        n += 1
        paragraphs.append("".join(sentence.format(n=1000 + n + i) for i in range(3)).strip())
    text = "\n\n".join(paragraphs)[:5_000]
    parts = render(Reply(text), SMS)
    assert 4 <= len(parts) <= 5
    assert all(len(part.text) <= 1600 for part in parts)
    assert all(part.buttons == () for part in parts)
    assert_split(text, [part.text for part in parts], 1600)
    # Paragraph breaks are in reach everywhere, so every split falls on one.
    assert all(f"{part.text}\n\n" in text for part in parts[:-1])


# Choices


def test_choices_become_a_numbered_list_after_the_text_on_sms() -> None:
    parts = render(Reply("¿Qué quieres hacer?", CHOICES), SMS)
    assert parts == [Part("¿Qué quieres hacer?\n1) Ver pedido\n2) Sí\n3) Hablar con alguien")]


def test_choices_stay_native_where_the_channel_has_room() -> None:
    reply = Reply("¿Qué quieres hacer?", CHOICES)
    assert render(reply, TELEGRAM) == [Part("¿Qué quieres hacer?", CHOICES)]
    assert render(reply, WHATSAPP_INTERACTIVE) == [Part("¿Qué quieres hacer?", CHOICES)]


def test_more_choices_than_the_channel_holds_become_a_numbered_list() -> None:
    four = (*CHOICES, Button("Salir", "bye"))
    (part,) = render(Reply("Elige:", four), WHATSAPP_INTERACTIVE)
    assert part.buttons == ()
    assert part.text.splitlines() == [
        "Elige:",
        "1) Ver pedido",
        "2) Sí",
        "3) Hablar con alguien",
        "4) Salir",
    ]


def test_choices_without_text_are_just_the_list() -> None:
    assert render(Reply("", CHOICES), SMS) == [Part("1) Ver pedido\n2) Sí\n3) Hablar con alguien")]


def test_a_text_ending_in_a_newline_gets_no_blank_line_before_the_list() -> None:
    (part,) = render(Reply("Elige:\n", CHOICES[:1]), SMS)
    assert part.text == "Elige:\n1) Ver pedido"


def test_native_choices_go_with_the_last_part_of_a_long_text() -> None:
    caps = Capabilities(max_buttons=8, max_length=50, typing=True)
    text = " ".join(["Tu pedido sale hoy."] * 10)
    parts = render(Reply(text, CHOICES), caps)
    assert len(parts) > 1
    assert [part.buttons for part in parts] == [()] * (len(parts) - 1) + [CHOICES]
    assert_split(text, [part.text for part in parts], 50)


def test_the_numbered_list_goes_with_the_last_part_of_a_long_text() -> None:
    text = " ".join(["Tu pedido sale hoy."] * 200)
    parts = render(Reply(text, CHOICES), SMS)
    assert len(parts) == 3
    assert all(part.buttons == () and len(part.text) <= 1600 for part in parts)
    assert parts[-1].text.endswith("\n1) Ver pedido\n2) Sí\n3) Hablar con alguien")
    assert all("1) Ver pedido" not in part.text for part in parts[:-1])
    body = [*(part.text for part in parts[:-1]), parts[-1].text.split("\n1) ")[0]]
    assert_split(text, body, 1600)


def test_the_list_gets_a_message_of_its_own_when_the_last_part_is_full() -> None:
    caps = Capabilities(max_buttons=0, max_length=40, typing=False)
    text = "Tu pedido 1234 sale hoy desde Madrid."  # 37 characters: no room for the list
    parts = render(Reply(text, CHOICES[:2]), caps)
    assert parts == [Part(text), Part("1) Ver pedido\n2) Sí")]


def test_a_list_longer_than_a_message_splits_between_choices() -> None:
    caps = Capabilities(max_buttons=0, max_length=30, typing=False)
    parts = render(Reply("Elige tienda:", CHOICES), caps)
    assert [part.text for part in parts] == [
        "Elige tienda:\n1) Ver pedido",
        "2) Sí\n3) Hablar con alguien",
    ]


# Answers to a numbered list


@pytest.mark.parametrize(
    ("typed", "payload"),
    [
        ("2", "yes"),
        (" 2 ", "yes"),
        ("2.", "yes"),
        ("2)", "yes"),
        ("#2", "yes"),
        ("1", "order"),
        ("3\n", "human"),
        ("si", "yes"),
        ("SÍ", "yes"),
        ("¡Sí!", "yes"),
        ("sí.", "yes"),
        ("Ver pedido", "order"),
        ("ver   PEDIDO", "order"),
        ("«ver pedido»", "order"),
        ("hablar con alguien 🙏", "human"),
    ],
)
def test_a_choice_is_its_number_or_its_title(typed: str, payload: str) -> None:
    choice = match_choice(typed, CHOICES)
    assert choice is not None
    assert choice.payload == payload


@pytest.mark.parametrize(
    "typed",
    ["", " ", "?", "0", "4", "20", "-1", "2 pares", "1 y 2", "2,5", "ver", "sí, ver pedido", "##2"],
)
def test_anything_else_is_not_a_choice(typed: str) -> None:
    assert match_choice(typed, CHOICES) is None


def test_a_number_beyond_the_list_can_still_be_a_title() -> None:
    sizes = (Button("38", "size-38"), Button("39", "size-39"), Button("40", "size-40"))
    assert match_choice("40", sizes) == sizes[2]
    assert match_choice("2", sizes) == sizes[1]  # the number in the list comes first


def test_titles_that_read_the_same_are_ambiguous() -> None:
    assert match_choice("si", (Button("Sí", "a"), Button("Si", "b"))) is None


# SMS segments


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 153 * 2, 2),
        ("a" * (153 * 2 + 1), 3),
        ("€" * 80, 1),  # extension characters take two septets
        ("€" * 81, 2),
        ("a" * 159 + "[", 2),
        ("a" * 158 + "[", 1),
        ("a" * 152 + "€" + "a" * 152, 3),  # an escape pair never straddles two segments
        ("ç" * 160, 1),  # GSM-7 (0x09)
        ("Ç" * 160, 1),
        ("ñÑäöüàèéùìò¿¡ΔΩ@£$¥§" * 7, 1),
        ("ã" * 70, 1),  # not GSM-7: the whole text is UCS-2
        ("ã" * 71, 2),
        ("a" * 159 + "ã", 3),
        ("ã" * 67 * 2, 2),
        ("ã" * (67 * 2 + 1), 3),
        ("😀" * 35, 1),  # outside the BMP: two UCS-2 units each
        ("😀" * 36, 2),
        ("a" + "😀" * 33 + "a", 1),
        ("a" * 66 + "😀" + "a" * 66, 3),  # a surrogate pair never straddles two segments
    ],
)
def test_sms_segments(text: str, segments: int) -> None:
    assert sms_segments(text) == segments
