"""Everything the simulator page says, in Spanish, Portuguese and English."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from crm.models import Language


@dataclass(frozen=True)
class PageTexts:
    title: str
    intro: str
    language: str
    live: str
    reconnecting: str
    customer: str
    phone: str
    name: str
    profile_name: str
    user_id: str
    phone_to_share: str
    shop: str
    placeholder: str
    send: str
    share_contact: str
    contact_shared: str  # followed by the phone number
    pressed: str  # followed by the button's title
    empty: str
    typing: str
    not_simulated: str
    status: dict[str, str]  # adapters.simulator.events.Status values
    errors: dict[str, str]  # page.SendError values

    def to_json(self) -> dict[str, object]:
        return asdict(self)


TEXTS: dict[Language, PageTexts] = {
    Language.EN: PageTexts(
        title="Channel simulator",
        intro=(
            "Play a customer who writes to the shop by SMS, WhatsApp or Telegram. Each "
            "message goes through the hub's real webhooks, signatures and adapters, and the "
            "replies arrive here as they would on the customer's phone."
        ),
        language="Language",
        live="Live",
        reconnecting="Reconnecting…",
        customer="Customer",
        phone="Phone",
        name="Name",
        profile_name="WhatsApp profile name",
        user_id="Telegram user id",
        phone_to_share="Phone number to share",
        shop="Shop",
        placeholder="Write a message",
        send="Send",
        share_contact="Share my phone number",
        contact_shared="Shared contact:",
        pressed="Pressed:",
        empty="No messages yet. Write as the customer to start the conversation.",
        typing="typing…",
        not_simulated=(
            "This channel uses the provider account set in the hub's settings, "
            "so it is not simulated here."
        ),
        status={
            "sending": "Sending…",
            "received": "Received by the hub",
            "refused": "Refused by the hub",
            "unreachable": "The hub did not answer",
            "queued": "Queued",
            "sent": "Sent",
            "delivered": "Delivered",
        },
        errors={
            "invalid_phone": "That is not a valid phone number.",
            "empty_text": "Write something first.",
            "too_long": "The message is too long for this channel.",
            "bad_user_id": "The Telegram user id must be a positive whole number.",
            "bad_name": "Write the customer's name.",
            "unknown_button": "That button is not there any more.",
            "not_simulated": "This channel is not simulated.",
            "bad_request": "The simulator could not read that request.",
            "network": "The simulator did not answer. Is the demo still running?",
        },
    ),
    Language.ES: PageTexts(
        title="Simulador de canales",
        intro=(
            "Haz de cliente que escribe a la tienda por SMS, WhatsApp o Telegram. Cada "
            "mensaje pasa por los webhooks, las firmas y los adaptadores reales del hub, y las "
            "respuestas llegan aquí como llegarían al móvil del cliente."
        ),
        language="Idioma",
        live="En directo",
        reconnecting="Reconectando…",
        customer="Cliente",
        phone="Teléfono",
        name="Nombre",
        profile_name="Nombre de perfil de WhatsApp",
        user_id="Id de usuario de Telegram",
        phone_to_share="Número que compartir",
        shop="Tienda",
        placeholder="Escribe un mensaje",
        send="Enviar",
        share_contact="Compartir mi número",
        contact_shared="Contacto compartido:",
        pressed="Pulsado:",
        empty="Aún no hay mensajes. Escribe como el cliente para empezar la conversación.",
        typing="escribiendo…",
        not_simulated=(
            "Este canal usa la cuenta del proveedor configurada en el hub, "
            "así que aquí no se simula."
        ),
        status={
            "sending": "Enviando…",
            "received": "Recibido por el hub",
            "refused": "Rechazado por el hub",
            "unreachable": "El hub no ha respondido",
            "queued": "En cola",
            "sent": "Enviado",
            "delivered": "Entregado",
        },
        errors={
            "invalid_phone": "Ese número de teléfono no es válido.",
            "empty_text": "Escribe algo primero.",
            "too_long": "El mensaje es demasiado largo para este canal.",
            "bad_user_id": "El id de usuario de Telegram debe ser un número entero positivo.",
            "bad_name": "Escribe el nombre del cliente.",
            "unknown_button": "Ese botón ya no está.",
            "not_simulated": "Este canal no se simula.",
            "bad_request": "El simulador no ha podido leer esa petición.",
            "network": "El simulador no responde. ¿Sigue en marcha la demo?",
        },
    ),
    Language.PT: PageTexts(
        title="Simulador de canais",
        intro=(
            "Faça de cliente que escreve à loja por SMS, WhatsApp ou Telegram. Cada mensagem "
            "passa pelos webhooks, assinaturas e adaptadores reais do hub, e as respostas "
            "chegam aqui como chegariam ao telemóvel do cliente."
        ),
        language="Idioma",
        live="Em direto",
        reconnecting="A ligar de novo…",
        customer="Cliente",
        phone="Telefone",
        name="Nome",
        profile_name="Nome de perfil do WhatsApp",
        user_id="Id de utilizador do Telegram",
        phone_to_share="Número a partilhar",
        shop="Loja",
        placeholder="Escreva uma mensagem",
        send="Enviar",
        share_contact="Partilhar o meu número",
        contact_shared="Contacto partilhado:",
        pressed="Carregou em:",
        empty="Ainda não há mensagens. Escreva como o cliente para começar a conversa.",
        typing="a escrever…",
        not_simulated=(
            "Este canal usa a conta do fornecedor configurada no hub, por isso não é simulado aqui."
        ),
        status={
            "sending": "A enviar…",
            "received": "Recebida pelo hub",
            "refused": "Recusada pelo hub",
            "unreachable": "O hub não respondeu",
            "queued": "Em fila",
            "sent": "Enviada",
            "delivered": "Entregue",
        },
        errors={
            "invalid_phone": "Esse número de telefone não é válido.",
            "empty_text": "Escreva algo primeiro.",
            "too_long": "A mensagem é demasiado longa para este canal.",
            "bad_user_id": "O id de utilizador do Telegram tem de ser um número inteiro positivo.",
            "bad_name": "Escreva o nome do cliente.",
            "unknown_button": "Esse botão já não existe.",
            "not_simulated": "Este canal não é simulado.",
            "bad_request": "O simulador não conseguiu ler esse pedido.",
            "network": "O simulador não respondeu. A demo ainda está a correr?",
        },
    ),
}
