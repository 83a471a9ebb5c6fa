"""What a customer's words answer in a return: a reason, yes or no, how, an order number."""

from __future__ import annotations

import re
from collections.abc import Sequence

from crm.models import ReturnReason
from crm.services.stock import fold

# A customer's own words for a reason, folded (no case, no accents), most telling first;
# each matches at the start of a word ("defect" is in "defective", "torn" not in "return").
# What matches none is OTHER, with the words kept as the return's note.
# fmt: off
_REASON_WORDS: tuple[tuple[ReturnReason, tuple[str, ...]], ...] = (
    (ReturnReason.DEFECTIVE, (
        "roto", "rota", "defect", "defeito", "estrag", "rasgad", "descosid", "mancha",
        "broken", "faulty", "damaged", "torn", "stain", "no funciona", "nao funciona",
        "doesn't work", "doesnt work", "partid", "quebrad",
    )),
    (ReturnReason.WRONG_SIZE, (
        "talla", "tamanho", "size", "pequen", "grande", "apret", "apert", "folgad", "larg",
        "small", "big", "large", "tight", "loose", "fit", "numero", "numeracao",
        "no me vale", "nao serve", "no me queda", "nao fica",
    )),
    (ReturnReason.NOT_AS_DESCRIBED, (
        "foto", "descri", "anuncio", "imagen", "imagem", "diferente", "different", "picture",
        "photo", "not as", "no es como", "nao e como", "otro color", "outra cor", "wrong colo",
        "equivocad", "errad", "wrong item",
    )),
    (ReturnReason.LATE_DELIVERY, (
        "tard", "atras", "retras", "demor", "late", "delay",
    )),
    (ReturnReason.CHANGED_MIND, (
        "no me gusta", "ya no", "cambie de opinion", "arrepent", "mudei de ideia",
        "nao gostei", "nao quero", "no lo quiero", "no la quiero", "changed my mind",
        "don't like", "dont like", "don't want", "dont want", "no longer",
    )),
)
# fmt: on

ALL_WORDS = frozenset({"all", "everything", "todo", "todos", "todas", "tudo", "ambos", "both"})
YES_WORDS = frozenset(
    {"si", "sim", "yes", "ok", "vale", "confirmar", "confirm", "confirmo", "dale"}
)
NO_WORDS = frozenset({"no", "nao", "nope", "nada"})
IN_STORE_WORDS = ("tienda", "loja", "store", "shop", "local")
COURIER_WORDS = (
    "mensajer", "courier", "recog", "domicilio", "casa", "home", "correo", "correio",
    "transportadora", "estafeta", "envio", "pick", "recolha", "coleta",
)  # fmt: skip
_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\d[A-Za-z0-9-]*")


def reason_from_text(text: str) -> ReturnReason:
    """The reason a customer's own words are closest to; OTHER when none fits."""
    for reason, words in _REASON_WORDS:
        if mentions(text, words):
            return reason
    return ReturnReason.OTHER


def mentions(text: str, words: Sequence[str]) -> bool:
    """Whether a word of `text` starts like one of `words`, compared folded."""
    folded = fold(text)
    return any(re.search(rf"\b{re.escape(word)}", folded) for word in words)


def order_number_in(text: str) -> str | None:
    """The order or ticket number in a typed answer: the last word with a digit in it."""
    found = _NUMBER.findall(text)
    return found[-1] if found else None
