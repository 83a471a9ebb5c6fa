"""Phone numbers in E.164, the one form the CRM stores and compares."""

from __future__ import annotations

import phonenumbers


class InvalidPhone(ValueError):
    pass


def normalise_phone(raw: str, default_region: str | None = None) -> str:
    """E.164 for a number as people and providers write it.

    Accepts "+34 612 34 56 78", "0034612345678", "whatsapp:+34612345678" and, with a
    default region, national forms. Telegram sends contacts without the "+", so digits
    that only make sense as an international number are read as one.
    """
    text = raw.strip()
    if text.lower().startswith("whatsapp:"):
        text = text[len("whatsapp:") :]
    if text.startswith("00"):
        text = "+" + text[2:]
    # A national form (with a default region) is tried before the bare-digits reading.
    candidates = [text] if text.startswith("+") else [text, "+" + text]
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidPhone(f"not a valid phone number: {raw!r}")
