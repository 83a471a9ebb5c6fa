"""The sign-in page's words in each language, and which language a browser wants."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.web.languages import preferred_language
from crm.models import Language

DEFAULT_LANGUAGE = Language.EN


@dataclass(frozen=True)
class LoginTexts:
    title: str
    email_label: str
    password_label: str
    submit: str
    wrong: str  # never says which of the two was wrong
    throttled: str
    # Too many failed sign-ins from the client's address, whatever the emails.
    throttled_address: str
    expired: str  # the form's CSRF cookie is missing or does not match


LOGIN: dict[Language, LoginTexts] = {
    Language.ES: LoginTexts(
        title="Bandeja compartida: iniciar sesión",
        email_label="Correo electrónico",
        password_label="Contraseña",  # noqa: S106 (a label)
        submit="Entrar",
        wrong="Correo o contraseña incorrectos.",
        throttled="Demasiados intentos. Vuelve a intentarlo en unos minutos.",
        throttled_address=(
            "Demasiados intentos fallidos desde tu red. Vuelve a intentarlo en unos minutos."
        ),
        expired="El formulario ha caducado. Vuelve a intentarlo.",
    ),
    Language.PT: LoginTexts(
        title="Caixa partilhada: iniciar sessão",
        email_label="Email",
        password_label="Palavra-passe",  # noqa: S106 (a label)
        submit="Entrar",
        wrong="Email ou palavra-passe incorretos.",
        throttled="Demasiadas tentativas. Tente novamente dentro de alguns minutos.",
        throttled_address=(
            "Demasiadas tentativas falhadas a partir da sua rede. "
            "Tente novamente dentro de alguns minutos."
        ),
        expired="O formulário expirou. Tente novamente.",
    ),
    Language.EN: LoginTexts(
        title="Shared inbox: sign in",
        email_label="Email",
        password_label="Password",  # noqa: S106 (a label)
        submit="Sign in",
        wrong="Wrong email or password.",
        throttled="Too many attempts. Try again in a few minutes.",
        throttled_address="Too many failed sign-ins from your network. Try again in a few minutes.",
        expired="The form expired. Please try again.",
    ),
}


def browser_language(accept_language: str | None) -> Language:
    """The supported language the browser prefers most (Accept-Language with q-values)."""
    return preferred_language(accept_language) or DEFAULT_LANGUAGE
