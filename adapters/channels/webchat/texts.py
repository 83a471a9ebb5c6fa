"""What the web chat says to visitors from the server side, in Spanish, Portuguese and English.

The widget's own labels live in static/widget.js, next to the code that shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from crm.models import Language


class FrameError(StrEnum):
    """Why a frame from the widget was refused; sent with the text as `code`."""

    NOT_JSON = "not_json"
    UNKNOWN_TYPE = "unknown_type"
    TOO_LONG = "too_long"
    EMPTY = "empty"
    MISSING_CLIENT_MSG_ID = "missing_client_msg_id"
    BAD_CLIENT_MSG_ID = "bad_client_msg_id"
    BAD_TEXT = "bad_text"
    BAD_CHOICE = "bad_choice"
    RATE_LIMITED = "rate_limited"


FRAME_ERRORS: dict[FrameError, dict[Language, str]] = {
    FrameError.NOT_JSON: {
        Language.EN: "That message could not be read.",
        Language.ES: "No se ha podido leer ese mensaje.",
        Language.PT: "Não foi possível ler essa mensagem.",
    },
    FrameError.UNKNOWN_TYPE: {
        Language.EN: "That kind of message is not supported.",
        Language.ES: "Ese tipo de mensaje no está admitido.",
        Language.PT: "Esse tipo de mensagem não é suportado.",
    },
    FrameError.TOO_LONG: {
        Language.EN: "Messages can be at most 4,000 characters long.",
        Language.ES: "Los mensajes pueden tener como máximo 4.000 caracteres.",
        Language.PT: "As mensagens podem ter no máximo 4.000 caracteres.",
    },
    FrameError.EMPTY: {
        Language.EN: "The message is empty.",
        Language.ES: "El mensaje está vacío.",
        Language.PT: "A mensagem está vazia.",
    },
    FrameError.MISSING_CLIENT_MSG_ID: {
        Language.EN: "The message has no id, so it was not sent.",
        Language.ES: "El mensaje no tiene identificador, así que no se ha enviado.",
        Language.PT: "A mensagem não tem identificador, por isso não foi enviada.",
    },
    FrameError.BAD_CLIENT_MSG_ID: {
        Language.EN: "The message id is not valid (letters, digits, - and _ only), "
        "so it was not sent.",
        Language.ES: "El identificador del mensaje no es válido (solo letras, cifras, - y _), "
        "así que no se ha enviado.",
        Language.PT: "O identificador da mensagem não é válido (só letras, algarismos, - e _), "
        "por isso não foi enviada.",
    },
    FrameError.BAD_TEXT: {
        Language.EN: "The message has characters that cannot be sent.",
        Language.ES: "El mensaje tiene caracteres que no se pueden enviar.",
        Language.PT: "A mensagem tem caracteres que não podem ser enviados.",
    },
    FrameError.BAD_CHOICE: {
        Language.EN: "That option could not be read.",
        Language.ES: "No se ha podido leer esa opción.",
        Language.PT: "Não foi possível ler essa opção.",
    },
    FrameError.RATE_LIMITED: {
        Language.EN: "You are sending messages too quickly. Wait a moment and send it again.",
        Language.ES: "Estás enviando mensajes demasiado rápido. Espera un momento y "
        "vuelve a enviarlo.",
        Language.PT: "Está a enviar mensagens demasiado depressa. Aguarde um momento e "
        "volte a enviá-la.",
    },
}


def frame_error_text(error: FrameError, language: Language) -> str:
    return FRAME_ERRORS[error][language]


@dataclass(frozen=True)
class Product:
    name: str
    price: str
    colour: str  # CSS colour of the product's swatch


@dataclass(frozen=True)
class DemoShopTexts:
    shop: str
    tagline: str
    nav: tuple[str, ...]
    hero_title: str
    hero_text: str
    products: tuple[Product, ...]
    add_to_cart: str
    help: str
    footer: str


DEMO_SHOP: dict[Language, DemoShopTexts] = {
    Language.EN: DemoShopTexts(
        shop="Sol & Mar",
        tagline="Footwear and clothing since 1987",
        nav=("Women", "Men", "Kids", "Stores"),
        hero_title="The new season is here",
        hero_text="Free delivery over €50 and free returns in any of our stores.",
        products=(
            Product("City sneaker", "€69.90", "#2f5d62"),
            Product("Linen shirt", "€39.90", "#d8b384"),
            Product("Leather sandal", "€49.90", "#8c5a3c"),
            Product("Canvas tote bag", "€19.90", "#5e8b7e"),
        ),
        add_to_cart="Add to cart",
        help="Questions about an order, a size or a store? Chat with us (bottom right).",
        footer="Demo shop of omnihub. Nothing here is for sale.",
    ),
    Language.ES: DemoShopTexts(
        shop="Sol & Mar",
        tagline="Calzado y moda desde 1987",
        nav=("Mujer", "Hombre", "Niños", "Tiendas"),
        hero_title="Ya llegó la nueva temporada",
        hero_text="Envío gratis a partir de 50 € y devoluciones gratis en cualquier tienda.",
        products=(
            Product("Zapatilla urbana", "69,90 €", "#2f5d62"),
            Product("Camisa de lino", "39,90 €", "#d8b384"),
            Product("Sandalia de piel", "49,90 €", "#8c5a3c"),
            Product("Bolso de lona", "19,90 €", "#5e8b7e"),
        ),
        add_to_cart="Añadir a la cesta",
        help=(
            "¿Dudas sobre un pedido, una talla o una tienda? "
            "Chatea con nosotros (abajo a la derecha)."
        ),
        footer="Tienda de demostración de omnihub. Aquí no se vende nada.",
    ),
    Language.PT: DemoShopTexts(
        shop="Sol & Mar",
        tagline="Calçado e moda desde 1987",
        nav=("Mulher", "Homem", "Criança", "Lojas"),
        hero_title="A nova estação chegou",
        hero_text="Entrega grátis acima de 50 € e devoluções grátis em qualquer loja.",
        products=(
            Product("Ténis urbano", "69,90 €", "#2f5d62"),
            Product("Camisa de linho", "39,90 €", "#d8b384"),
            Product("Sandália de couro", "49,90 €", "#8c5a3c"),
            Product("Saco de lona", "19,90 €", "#5e8b7e"),
        ),
        add_to_cart="Adicionar ao carrinho",
        help=(
            "Dúvidas sobre uma encomenda, um tamanho ou uma loja? "
            "Fale connosco (canto inferior direito)."
        ),
        footer="Loja de demonstração do omnihub. Nada aqui está à venda.",
    ),
}
