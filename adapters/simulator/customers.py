"""Who the simulator page plays at first on each channel: customers of the seeded demo chain.

They are people `omnihub seed --demo` creates (crm/seed/data.py), so a demo hub knows
them by their phones; the page lets one edit them into anyone else.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.simulator.telegram_api import TelegramUser


@dataclass(frozen=True)
class PhoneCustomer:
    phone: str  # E.164
    name: str


# Lucía, in Madrid, who writes by SMS (Spanish).
SMS_CUSTOMER = PhoneCustomer("+34612489327", "Lucía Fernández García")
# Lucas, in Rio de Janeiro, tagged whatsapp_first (Brazilian Portuguese).
WHATSAPP_CUSTOMER = PhoneCustomer("+5521981546032", "Lucas Pereira Gomes")
# Carlos, in Guadalajara, tagged telegram: sharing his contact links him by this phone.
TELEGRAM_CUSTOMER = TelegramUser(
    id=5812347906,
    first_name="Carlos",
    last_name="Mendoza",
    username="carlos_mendoza_gdl",
    language_code="es",
)
TELEGRAM_CUSTOMER_PHONE = "+523336784501"
