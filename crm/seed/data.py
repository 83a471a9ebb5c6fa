"""The demo chain's static content: stores, catalogue, customers, orders, people and pools."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import Literal

from crm.models.enums import (
    AgentRole,
    Channel,
    Fulfilment,
    FunnelStage,
    Language,
    OrderStatus,
    ReservationStatus,
    ReturnMethod,
    ReturnReason,
    SalesChannel,
)

# --- Stores -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """Open from `opens` to `closes` on each of `days` (0 = Monday)."""

    days: tuple[int, ...]
    opens: time
    closes: time


MON_FRI = (0, 1, 2, 3, 4)
MON_SAT = (0, 1, 2, 3, 4, 5)
SATURDAY = (5,)
SUNDAY = (6,)
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)

# Spanish street shops close for lunch (two rows a day) and on Sundays; malls do not.
HOURS: Mapping[str, tuple[Interval, ...]] = {
    "es_street": (
        Interval(MON_SAT, time(10, 0), time(14, 0)),
        Interval(MON_SAT, time(17, 0), time(20, 30)),
    ),
    "es_street_south": (
        Interval(MON_SAT, time(10, 0), time(14, 0)),
        Interval(MON_SAT, time(17, 30), time(21, 0)),
    ),
    "es_mall": (Interval(EVERY_DAY, time(10, 0), time(22, 0)),),
    "pt_street": (Interval(MON_SAT, time(10, 0), time(20, 0)),),
    "pt_street_north": (Interval(MON_SAT, time(9, 30), time(19, 30)),),
    "br_street": (
        Interval(MON_FRI, time(10, 0), time(20, 0)),
        Interval(SATURDAY, time(10, 0), time(18, 0)),
    ),
    "br_mall": (
        Interval(MON_SAT, time(10, 0), time(22, 0)),
        Interval(SUNDAY, time(13, 0), time(21, 0)),
    ),
    "mx_mall": (
        Interval(MON_SAT, time(11, 0), time(21, 0)),
        Interval(SUNDAY, time(11, 0), time(20, 0)),
    ),
    "mx_street": (
        Interval(MON_SAT, time(10, 0), time(20, 0)),
        Interval(SUNDAY, time(11, 0), time(18, 0)),
    ),
}


@dataclass(frozen=True)
class StoreSeed:
    code: str
    name: str
    kind: Literal["street", "mall"]
    city: str
    country: str
    address: str
    postal_code: str
    phone: str
    timezone: str
    currency: str
    latitude: float
    longitude: float
    hours: str  # a key of HOURS


STORES: tuple[StoreSeed, ...] = (
    StoreSeed(
        "MAD-FUE", "Rumbo Fuencarral", "street", "Madrid", "ES",
        "Calle de Fuencarral 45", "28004", "+34915310042",
        "Europe/Madrid", "EUR", 40.4239, -3.7016, "es_street",
    ),
    StoreSeed(
        "MAD-VAG", "Rumbo La Vaguada", "mall", "Madrid", "ES",
        "Centro Comercial La Vaguada, Av. de Monforte de Lemos 36, local B-112", "28029",
        "+34917302518", "Europe/Madrid", "EUR", 40.4794, -3.7090, "es_mall",
    ),
    StoreSeed(
        "BCN-GRA", "Rumbo Passeig de Gràcia", "street", "Barcelona", "ES",
        "Passeig de Gràcia 62", "08007", "+34934872215",
        "Europe/Madrid", "EUR", 41.3930, 2.1639, "es_street",
    ),
    StoreSeed(
        "VLC-COL", "Rumbo Colón", "street", "Valencia", "ES",
        "Carrer de Colón 18", "46004", "+34963518730",
        "Europe/Madrid", "EUR", 39.4701, -0.3716, "es_street",
    ),
    StoreSeed(
        "SVQ-SIE", "Rumbo Sierpes", "street", "Sevilla", "ES",
        "Calle Sierpes 40", "41004", "+34954226081",
        "Europe/Madrid", "EUR", 37.3921, -5.9948, "es_street_south",
    ),
    StoreSeed(
        "LIS-CHI", "Rumbo Chiado", "street", "Lisboa", "PT",
        "Rua Garrett 50", "1200-204", "+351213470215",
        "Europe/Lisbon", "EUR", 38.7108, -9.1420, "pt_street",
    ),
    StoreSeed(
        "OPO-SCA", "Rumbo Santa Catarina", "street", "Porto", "PT",
        "Rua de Santa Catarina 210", "4000-442", "+351222008134",
        "Europe/Lisbon", "EUR", 41.1483, -8.6063, "pt_street_north",
    ),
    StoreSeed(
        "SAO-OSC", "Rumbo Oscar Freire", "street", "São Paulo", "BR",
        "Rua Oscar Freire 900, Jardins", "01426-001", "+551130824567",
        "America/Sao_Paulo", "BRL", -23.5629, -46.6719, "br_street",
    ),
    StoreSeed(
        "RIO-LEB", "Rumbo Shopping Leblon", "mall", "Rio de Janeiro", "BR",
        "Shopping Leblon, Av. Afrânio de Melo Franco 290, loja 205, Leblon", "22430-060",
        "+552125407310", "America/Sao_Paulo", "BRL", -22.9828, -43.2170, "br_mall",
    ),
    StoreSeed(
        "MEX-ANT", "Rumbo Antara", "mall", "Ciudad de México", "MX",
        "Antara Fashion Hall, Av. Ejército Nacional 843-B, local 118, Granada", "11520",
        "+525552809400", "America/Mexico_City", "MXN", 19.4393, -99.2037, "mx_mall",
    ),
    StoreSeed(
        "GDL-CHA", "Rumbo Chapultepec", "street", "Guadalajara", "MX",
        "Av. Chapultepec Sur 120, Col. Americana", "44160", "+523336150972",
        "America/Mexico_City", "MXN", 20.6724, -103.3699, "mx_street",
    ),
)  # fmt: skip

# --- Markets: what differs per country when selling -------------------------------------


@dataclass(frozen=True)
class CarrierSeed:
    name: str
    prefix: str  # tracking number: prefix, `digits` random digits, suffix
    digits: int
    suffix: str
    url: str  # {tracking} is replaced by the tracking number


CARRIERS: Mapping[str, CarrierSeed] = {
    "seur": CarrierSeed(
        "SEUR", "", 14, "", "https://www.seur.com/livetracking/?segOnlineIdentificador={tracking}"
    ),
    "correos_express": CarrierSeed(
        "Correos Express", "", 16, "",
        "https://s.correosexpress.com/SeguimientoSinCP/search?shippingNumber={tracking}",
    ),
    "ctt": CarrierSeed(
        "CTT Expresso", "DA", 9, "PT",
        "https://appserver.ctt.pt/CustomerArea/PublicArea_Detail?ObjectCodeInput={tracking}",
    ),
    "correios": CarrierSeed(
        "Correios", "QB", 9, "BR",
        "https://rastreamento.correios.com.br/app/index.php?objeto={tracking}",
    ),
    "estafeta": CarrierSeed(
        "Estafeta", "", 22, "",
        "https://rastreositecorp.estafeta.com/Tracking/searchByGet?wayBill={tracking}",
    ),
    "dhl": CarrierSeed(
        "DHL Express", "", 10, "",
        "https://www.dhl.com/mx-es/home/rastreo.html?tracking-id={tracking}",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Market:
    country: str
    currency: str
    order_prefix: str  # order numbers read "ES-100234"
    tax_basis_points: int  # VAT/IVA included in shelf prices
    carriers: tuple[str, ...]
    payments: tuple[tuple[str, int], ...]  # payment method at the till, weight
    minor_per_point: int  # loyalty: one point per this much spent


MARKETS: Mapping[str, Market] = {
    "ES": Market("ES", "EUR", "ES", 2100, ("seur", "correos_express"),
                 (("card", 70), ("cash", 22), ("bizum", 8)), 100),
    "PT": Market("PT", "EUR", "PT", 2300, ("ctt",),
                 (("card", 62), ("mbway", 23), ("cash", 15)), 100),
    "BR": Market("BR", "BRL", "BR", 1800, ("correios",),
                 (("card", 52), ("pix", 36), ("cash", 12)), 500),
    "MX": Market("MX", "MXN", "MX", 1600, ("estafeta", "dhl"),
                 (("card", 58), ("cash", 42)), 2000),
}  # fmt: skip

# --- Catalogue ----------------------------------------------------------------------------

# Colours are stored as these English keys; the codes make up the SKUs.
COLOURS: Mapping[str, str] = {
    "white": "WHT", "black": "BLK", "grey": "GRY", "blue": "BLU", "navy": "NVY",
    "brown": "BRN", "taupe": "TAU", "sand": "SND", "tan": "TAN", "red": "RED",
    "green": "GRN", "olive": "OLV", "yellow": "YEL", "orange": "ORG", "beige": "BEI",
    "tortoise": "TOR",
}  # fmt: skip

WOMEN_SHOES = ("36", "37", "38", "39", "40", "41")
UNISEX_SHOES = ("36", "37", "38", "39", "40", "41", "42", "43", "44")
WIDE_SHOES = ("36", "37", "38", "39", "40", "41", "42", "43", "44", "45")
MEN_SHOES = ("40", "41", "42", "43", "44", "45")
CLOTHES = ("XS", "S", "M", "L", "XL")
CLOTHES_NO_XS = ("S", "M", "L", "XL")
ONE_SIZE: tuple[str | None, ...] = (None,)


@dataclass(frozen=True)
class ProductSeed:
    external_id: str
    category: str
    brand: str
    names: Mapping[str, str]  # es, pt, en
    colours: tuple[str, ...]
    sizes: tuple[str | None, ...]
    prices: tuple[tuple[str, int], ...]  # currency, minor units; the same on every channel


def _prices(eur: int, brl: int, mxn: int) -> tuple[tuple[str, int], ...]:
    return (("EUR", eur), ("BRL", brl), ("MXN", mxn))


PRODUCTS: tuple[ProductSeed, ...] = (
    # Shoes
    ProductSeed("SHO-101", "shoes", "Rumbo",
                {"es": "Zapatilla urbana Brisa", "pt": "Tênis urbano Brisa",
                 "en": "Brisa city sneaker"},
                ("white", "black"), WIDE_SHOES, _prices(6995, 39990, 149900)),
    ProductSeed("SHO-102", "shoes", "Rumbo Sport",
                {"es": "Zapatilla de trail Sierra", "pt": "Tênis de trilha Sierra",
                 "en": "Sierra trail running shoe"},
                ("grey", "blue"), ("38", "39", "40", "41", "42", "43", "44", "45"),
                _prices(8995, 54990, 189900)),
    ProductSeed("SHO-103", "shoes", "Rumbo",
                {"es": "Mocasín de piel Lisboa", "pt": "Mocassim de couro Lisboa",
                 "en": "Lisboa leather loafer"},
                ("brown", "black"), ("39", "40", "41", "42", "43", "44", "45"),
                _prices(7995, 45990, 169900)),
    ProductSeed("SHO-104", "shoes", "Rumbo",
                {"es": "Botín de ante Alba", "pt": "Bota de camurça Alba",
                 "en": "Alba suede ankle boot"},
                ("taupe", "black"), WOMEN_SHOES, _prices(9995, 59990, 209900)),
    ProductSeed("SHO-105", "shoes", "Rumbo",
                {"es": "Alpargata Mar", "pt": "Alpargata Mar", "en": "Mar espadrille"},
                ("navy", "sand"), UNISEX_SHOES, _prices(2995, 16990, 64900)),
    ProductSeed("SHO-106", "shoes", "Rumbo",
                {"es": "Sandalia de tiras Copa", "pt": "Sandália de tiras Copa",
                 "en": "Copa strappy sandal"},
                ("tan", "black"), WOMEN_SHOES, _prices(4995, 27990, 99900)),
    ProductSeed("SHO-107", "shoes", "Rumbo",
                {"es": "Zapatilla de lona Tramo", "pt": "Tênis de lona Tramo",
                 "en": "Tramo canvas sneaker"},
                ("red", "white", "navy"), UNISEX_SHOES, _prices(3995, 22990, 84900)),
    ProductSeed("SHO-108", "shoes", "Rumbo",
                {"es": "Botín chelsea Norte", "pt": "Bota chelsea Norte",
                 "en": "Norte chelsea boot"},
                ("black", "brown"), MEN_SHOES, _prices(11995, 69990, 249900)),
    # Clothing
    ProductSeed("CLO-201", "clothing", "Rumbo",
                {"es": "Camisa de lino", "pt": "Camisa de linho", "en": "Linen shirt"},
                ("white", "blue"), CLOTHES_NO_XS, _prices(4995, 26990, 89900)),
    ProductSeed("CLO-202", "clothing", "Rumbo Essentials",
                {"es": "Camiseta de algodón orgánico", "pt": "Camiseta de algodão orgânico",
                 "en": "Organic cotton T-shirt"},
                ("white", "black", "olive"), CLOTHES, _prices(1995, 9990, 39900)),
    ProductSeed("CLO-203", "clothing", "Rumbo",
                {"es": "Pantalón chino slim", "pt": "Calça chino slim", "en": "Slim chinos"},
                ("beige", "navy"), CLOTHES_NO_XS, _prices(4495, 24990, 84900)),
    ProductSeed("CLO-204", "clothing", "Rumbo",
                {"es": "Cazadora vaquera", "pt": "Jaqueta jeans", "en": "Denim jacket"},
                ("blue",), CLOTHES, _prices(6995, 37990, 129900)),
    ProductSeed("CLO-205", "clothing", "Rumbo",
                {"es": "Vestido midi Flor", "pt": "Vestido midi Flor", "en": "Flor midi dress"},
                ("red", "green"), ("XS", "S", "M", "L"), _prices(5995, 32990, 114900)),
    ProductSeed("CLO-206", "clothing", "Rumbo",
                {"es": "Jersey de punto", "pt": "Suéter de tricô", "en": "Knit sweater"},
                ("grey", "beige"), CLOTHES_NO_XS, _prices(3995, 21990, 74900)),
    ProductSeed("CLO-207", "clothing", "Rumbo Sport",
                {"es": "Chubasquero ligero", "pt": "Corta-vento impermeável",
                 "en": "Lightweight rain jacket"},
                ("yellow", "navy"), CLOTHES, _prices(5495, 29990, 104900)),
    ProductSeed("CLO-208", "clothing", "Rumbo Essentials",
                {"es": "Sudadera con capucha", "pt": "Moletom com capuz",
                 "en": "Hooded sweatshirt"},
                ("grey", "black"), CLOTHES, _prices(3995, 19990, 69900)),
    ProductSeed("CLO-209", "clothing", "Rumbo Sport",
                {"es": "Bañador corto", "pt": "Short de banho", "en": "Swim shorts"},
                ("blue", "orange"), CLOTHES_NO_XS, _prices(2995, 14990, 54900)),
    ProductSeed("CLO-210", "clothing", "Rumbo",
                {"es": "Polo piqué", "pt": "Camisa polo piquê", "en": "Piqué polo shirt"},
                ("white", "navy"), CLOTHES_NO_XS, _prices(3495, 17990, 64900)),
    # Accessories
    ProductSeed("ACC-301", "accessories", "Rumbo",
                {"es": "Bolso tote de piel", "pt": "Bolsa tote de couro",
                 "en": "Leather tote bag"},
                ("tan", "black"), ONE_SIZE, _prices(8995, 49990, 179900)),
    ProductSeed("ACC-302", "accessories", "Rumbo Sport",
                {"es": "Mochila urbana", "pt": "Mochila urbana", "en": "City backpack"},
                ("black", "grey"), ONE_SIZE, _prices(4995, 27990, 94900)),
    ProductSeed("ACC-303", "accessories", "Rumbo",
                {"es": "Gafas de sol polarizadas", "pt": "Óculos de sol polarizados",
                 "en": "Polarised sunglasses"},
                ("black", "tortoise"), ONE_SIZE, _prices(3995, 21990, 79900)),
    ProductSeed("ACC-304", "accessories", "Rumbo",
                {"es": "Cinturón de piel", "pt": "Cinto de couro", "en": "Leather belt"},
                ("brown", "black"), ("85", "90", "95", "100"), _prices(2995, 15990, 59900)),
    ProductSeed("ACC-305", "accessories", "Rumbo Sport",
                {"es": "Gorra de béisbol", "pt": "Boné de beisebol", "en": "Baseball cap"},
                ("navy", "beige"), ONE_SIZE, _prices(1995, 8990, 34900)),
    ProductSeed("ACC-306", "accessories", "Rumbo Essentials",
                {"es": "Pack de 3 pares de calcetines", "pt": "Kit com 3 pares de meias",
                 "en": "Pack of 3 pairs of socks"},
                ("white", "black"), ("35-38", "39-42", "43-46"), _prices(1295, 5990, 24900)),
    ProductSeed("ACC-307", "accessories", "Rumbo",
                {"es": "Pañuelo de seda", "pt": "Lenço de seda", "en": "Silk scarf"},
                ("blue", "red"), ONE_SIZE, _prices(3495, 18990, 69900)),
)  # fmt: skip

# Stock levels set by hand where the demo tells a story ("last unit", "sold out");
# the rest are drawn at random.
INVENTORY_OVERRIDES: Mapping[tuple[str, str], int] = {
    ("MAD-FUE", "SHO-101-WHT-42"): 2,  # one is held for Lucía: the last unit on the shelf
    ("MAD-FUE", "SHO-101-WHT-43"): 0,
    ("MAD-FUE", "SHO-101-BLK-42"): 3,
    ("MAD-VAG", "SHO-101-WHT-43"): 6,
    ("BCN-GRA", "SHO-104-BLK-38"): 1,
    ("LIS-CHI", "CLO-204-BLU-M"): 0,
    ("OPO-SCA", "CLO-208-GRY-M"): 3,
    ("RIO-LEB", "SHO-102-GRY-42"): 4,
    ("MEX-ANT", "SHO-104-BLK-37"): 1,
    ("GDL-CHA", "SHO-104-BLK-37"): 0,
}

# Share of store-variant pairs that are sold out or down to their last 1-3 units.
STOCK_OUT_RATE = 0.08
LAST_UNITS_RATE = 0.14
COMFORTABLE_STOCK = (4, 24)

# --- Customers ------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerSeed:
    key: str
    name: str
    language: Language
    locale: str
    country: str
    city: str
    phone: str
    email: str
    home_store: str  # where they shop; sets the market of their orders
    tags: tuple[str, ...]
    stage: FunnelStage
    loyalty_points: int
    past_orders: int = 0  # older, finished orders drawn at random besides the stories below
    timezone: str | None = None  # None: the home store's


ES, PT, EN = Language.ES, Language.PT, Language.EN
LEAD, PROSPECT, CUSTOMER = FunnelStage.LEAD, FunnelStage.PROSPECT, FunnelStage.CUSTOMER
REPEAT, LAPSED = FunnelStage.REPEAT, FunnelStage.LAPSED

CUSTOMERS: tuple[CustomerSeed, ...] = (
    # Spain
    CustomerSeed("lucia", "Lucía Fernández García", ES, "es-ES", "ES", "Madrid",
                 "+34612489327", "lucia.fernandez@example.com", "MAD-FUE",
                 ("vip", "sneakers"), REPEAT, 1240, 4),
    CustomerSeed("javier", "Javier Martín López", ES, "es-ES", "ES", "Madrid",
                 "+34655210843", "javi.martin@example.net", "MAD-VAG",
                 ("newsletter",), REPEAT, 380, 2),
    CustomerSeed("carmen", "Carmen Ruiz Moreno", ES, "es-ES", "ES", "Sevilla",
                 "+34678901235", "carmen.ruiz@example.org", "SVQ-SIE", (), CUSTOMER, 60),
    CustomerSeed("pablo", "Pablo Sánchez Romero", ES, "es-ES", "ES", "Barcelona",
                 "+34622734190", "pablo.sanchez@example.com", "BCN-GRA",
                 ("click_and_collect",), REPEAT, 510, 3),
    CustomerSeed("marta", "Marta Gómez Navarro", ES, "es-ES", "ES", "Valencia",
                 "+34691356204", "marta.gomez@example.net", "VLC-COL",
                 ("whatsapp_first",), REPEAT, 220, 1),
    CustomerSeed("alejandro", "Alejandro Díaz Torres", ES, "es-ES", "ES", "Madrid",
                 "+34633507718", "alejandro.diaz@example.org", "MAD-FUE", (), CUSTOMER, 45),
    CustomerSeed("sofia", "Sofía Jiménez Vázquez", ES, "es-ES", "ES", "Madrid",
                 "+34640129856", "sofia.jimenez@example.com", "MAD-VAG",
                 ("newsletter",), REPEAT, 300, 2),
    CustomerSeed("diego", "Diego Álvarez Castro", ES, "es-ES", "ES", "Sevilla",
                 "+34662482630", "diego.alvarez@example.net", "SVQ-SIE", (), CUSTOMER, 35, 1),
    CustomerSeed("elena", "Elena Romero Gil", ES, "es-ES", "ES", "Valencia",
                 "+34605843172", "elena.romero@example.org", "VLC-COL",
                 ("newsletter",), LEAD, 0),
    CustomerSeed("raul", "Raúl Navarro Ortega", ES, "es-ES", "ES", "Barcelona",
                 "+34687265913", "raul.navarro@example.com", "BCN-GRA",
                 ("telegram",), REPEAT, 150, 1),
    CustomerSeed("pilar", "Pilar Molina Serrano", ES, "es-ES", "ES", "Madrid",
                 "+34619074588", "pilar.molina@example.net", "MAD-FUE",
                 ("phone_orders",), LAPSED, 90, 3),
    CustomerSeed("antonio", "Antonio Herrera Medina", ES, "es-ES", "ES", "Sevilla",
                 "+34664932051", "antonio.herrera@example.org", "SVQ-SIE",
                 ("phone_orders",), CUSTOMER, 70),
    CustomerSeed("nuria", "Núria Puig Soler", ES, "es-ES", "ES", "Barcelona",
                 "+34636718429", "nuria.puig@example.com", "BCN-GRA",
                 ("vip",), REPEAT, 2150, 5),
    CustomerSeed("miguel", "Miguel Ángel Vega Ramos", ES, "es-ES", "ES", "Valencia",
                 "+34651280497", "miguelangel.vega@example.org", "VLC-COL",
                 (), REPEAT, 260, 2),
    # Portugal, European and Brazilian Portuguese speakers
    CustomerSeed("joao", "João Silva Santos", PT, "pt-PT", "PT", "Lisboa",
                 "+351916482035", "joao.silva@example.com", "LIS-CHI",
                 ("newsletter",), REPEAT, 420, 2),
    CustomerSeed("ines", "Inês Ferreira Costa", PT, "pt-PT", "PT", "Porto",
                 "+351934207816", "ines.costa@example.net", "OPO-SCA",
                 ("click_and_collect",), CUSTOMER, 80),
    CustomerSeed("tiago", "Tiago Oliveira Pereira", PT, "pt-PT", "PT", "Porto",
                 "+351962518430", "tiago.pereira@example.org", "OPO-SCA", (), CUSTOMER, 40, 1),
    CustomerSeed("mariana", "Mariana Rodrigues Sousa", PT, "pt-PT", "PT", "Lisboa",
                 "+351961640195", "mariana.sousa@example.com", "LIS-CHI",
                 ("vip",), REPEAT, 1630, 4),
    CustomerSeed("rui", "Rui Martins Carvalho", PT, "pt-PT", "PT", "Lisboa",
                 "+351968301742", "rui.carvalho@example.net", "LIS-CHI", (), PROSPECT, 0),
    CustomerSeed("beatriz", "Beatriz Almeida Lima", PT, "pt-BR", "PT", "Lisboa",
                 "+351913775260", "beatriz.lima@example.org", "LIS-CHI",
                 ("expat",), CUSTOMER, 55),
    CustomerSeed("catarina", "Catarina Lopes Teixeira", PT, "pt-PT", "PT", "Porto",
                 "+351939482051", "catarina.teixeira@example.com", "OPO-SCA",
                 (), REPEAT, 310, 2),
    # Brazil
    CustomerSeed("ana", "Ana Clara Souza", PT, "pt-BR", "BR", "São Paulo",
                 "+5511974123856", "anaclara.souza@example.com", "SAO-OSC",
                 ("vip",), REPEAT, 2890, 3),
    CustomerSeed("rafael", "Rafael Costa Ribeiro", PT, "pt-BR", "BR", "Rio de Janeiro",
                 "+5521996382047", "rafael.ribeiro@example.net", "RIO-LEB", (), REPEAT, 640, 2),
    CustomerSeed("camila", "Camila Oliveira Santos", PT, "pt-BR", "BR", "São Paulo",
                 "+5511962037719", "camila.santos@example.org", "SAO-OSC",
                 ("marketplace",), CUSTOMER, 120),
    CustomerSeed("lucas", "Lucas Pereira Gomes", PT, "pt-BR", "BR", "Rio de Janeiro",
                 "+5521981546032", "lucas.gomes@example.com", "RIO-LEB",
                 ("whatsapp_first",), CUSTOMER, 90),
    CustomerSeed("fernanda", "Fernanda Carvalho Rocha", PT, "pt-BR", "BR", "São Paulo",
                 "+5511990875614", "fernanda.rocha@example.net", "SAO-OSC",
                 ("app",), REPEAT, 480, 1),
    CustomerSeed("gabriel", "Gabriel Barbosa Alves", PT, "pt-BR", "BR", "São Paulo",
                 "+5511955302478", "gabriel.alves@example.org", "SAO-OSC", (), LEAD, 0),
    CustomerSeed("juliana", "Juliana Martins Ferreira", PT, "pt-BR", "BR", "Rio de Janeiro",
                 "+5521973210865", "juliana.ferreira@example.com", "RIO-LEB",
                 ("newsletter",), LAPSED, 150, 2),
    # Mexico
    CustomerSeed("valeria", "Valeria Hernández Ramírez", ES, "es-MX", "MX", "Ciudad de México",
                 "+525541238790", "valeria.hernandez@example.com", "MEX-ANT",
                 ("vip",), REPEAT, 3100, 3),
    CustomerSeed("jose", "José Luis García Flores", ES, "es-MX", "MX", "Guadalajara",
                 "+523318452297", "joseluis.garcia@example.net", "GDL-CHA", (), REPEAT, 760, 2),
    CustomerSeed("daniela", "Daniela López Martínez", ES, "es-MX", "MX", "Ciudad de México",
                 "+525567890312", "daniela.lopez@example.org", "MEX-ANT",
                 ("click_and_collect",), CUSTOMER, 150),
    CustomerSeed("carlos", "Carlos Mendoza Ruiz", ES, "es-MX", "MX", "Guadalajara",
                 "+523336784501", "carlos.mendoza@example.com", "GDL-CHA",
                 ("telegram",), CUSTOMER, 210),
    CustomerSeed("fernando", "Fernando Castillo Vargas", ES, "es-MX", "MX", "Ciudad de México",
                 "+525539026174", "fernando.castillo@example.net", "MEX-ANT",
                 ("phone_orders",), REPEAT, 430, 1),
    CustomerSeed("ximena", "Ximena Torres Aguilar", ES, "es-MX", "MX", "Guadalajara",
                 "+523320517836", "ximena.torres@example.org", "GDL-CHA",
                 ("newsletter",), LEAD, 0),
    CustomerSeed("mariajose", "María José Reyes Cruz", ES, "es-MX", "MX", "Ciudad de México",
                 "+525551872043", "mariajose.reyes@example.com", "MEX-ANT",
                 ("marketplace",), CUSTOMER, 95),
    # English speakers: expats with a local phone, tourists with their own
    CustomerSeed("emily", "Emily Carter", EN, "en-GB", "ES", "Barcelona",
                 "+34698412753", "emily.carter@example.com", "BCN-GRA",
                 ("expat",), REPEAT, 340, 1),
    CustomerSeed("james", "James O'Connor", EN, "en-IE", "PT", "Lisboa",
                 "+351915603287", "james.oconnor@example.net", "LIS-CHI",
                 ("expat",), CUSTOMER, 60),
    CustomerSeed("sarah", "Sarah Thompson", EN, "en-US", "BR", "São Paulo",
                 "+5511944182736", "sarah.thompson@example.org", "SAO-OSC",
                 ("expat", "newsletter"), PROSPECT, 0),
    CustomerSeed("olivia", "Olivia Bennett", EN, "en-GB", "GB", "London",
                 "+447412583906", "olivia.bennett@example.com", "MAD-FUE",
                 ("tourist",), CUSTOMER, 0, timezone="Europe/London"),
    CustomerSeed("michael", "Michael Johnson", EN, "en-US", "US", "Austin",
                 "+15125550147", "michael.johnson@example.net", "MEX-ANT",
                 ("tourist",), CUSTOMER, 0, timezone="America/Chicago"),
)  # fmt: skip


@dataclass(frozen=True)
class ConsentSeed:
    customer: str
    channel: Channel
    granted: bool
    source: str
    days_ago: float


WA, SMS = Channel.WHATSAPP, Channel.SMS

CONSENTS: tuple[ConsentSeed, ...] = (
    ConsentSeed("lucia", WA, True, "signup_form", 210),
    ConsentSeed("javier", SMS, True, "signup_form", 150),
    ConsentSeed("nuria", WA, True, "signup_form", 400),
    ConsentSeed("elena", WA, True, "signup_form", 12),
    ConsentSeed("joao", WA, True, "signup_form", 95),
    ConsentSeed("mariana", WA, True, "signup_form", 300),
    ConsentSeed("ana", WA, True, "signup_form", 260),
    ConsentSeed("juliana", SMS, True, "signup_form", 500),
    ConsentSeed("valeria", WA, True, "signup_form", 180),
    ConsentSeed("ximena", WA, True, "signup_form", 30),
    ConsentSeed("emily", WA, True, "signup_form", 75),
    ConsentSeed("sarah", WA, True, "signup_form", 8),
    # Tiago said yes at sign-up and later texted PARAR: the newest row wins.
    ConsentSeed("tiago", WA, True, "signup_form", 120),
    ConsentSeed("tiago", WA, False, "keyword:PARAR", 21),
)

# --- Orders that tell the demo's stories ------------------------------------------------


@dataclass(frozen=True)
class OrderSeed:
    key: str
    customer: str
    sales_channel: SalesChannel
    fulfilment: Fulfilment
    status: OrderStatus
    placed_hours_ago: float
    items: tuple[tuple[str, int], ...]  # sku, quantity
    store: str | None = None  # the till for in-store sales, the pick-up point for pick-ups
    promise_days: int | None = None  # delivery or pick-up promised this long after placing
    carrier: str | None = None
    till: str = "T1"
    payment: str = "card"


ONLINE, APP, STORE = SalesChannel.ONLINE, SalesChannel.APP, SalesChannel.STORE
WHATSAPP, TELEGRAM = SalesChannel.WHATSAPP, SalesChannel.TELEGRAM
WEBCHAT, PHONE, MARKETPLACE = SalesChannel.WEBCHAT, SalesChannel.PHONE, SalesChannel.MARKETPLACE
DELIVERY, PICKUP, IN_STORE = Fulfilment.DELIVERY, Fulfilment.PICKUP, Fulfilment.IN_STORE
S = OrderStatus
DAY = 24.0

STORY_ORDERS: tuple[OrderSeed, ...] = (
    # Spain
    OrderSeed("lucia-in-transit", "lucia", ONLINE, DELIVERY, S.SHIPPED, 40,
              (("SHO-101-WHT-38", 1),), promise_days=4, carrier="seur"),
    OrderSeed("javier-late", "javier", ONLINE, DELIVERY, S.SHIPPED, 10 * DAY,
              (("SHO-102-BLU-43", 1), ("CLO-202-BLK-L", 2)), promise_days=3,
              carrier="correos_express"),
    OrderSeed("carmen-late-preparing", "carmen", APP, DELIVERY, S.PREPARING, 6 * DAY,
              (("SHO-104-TAU-38", 1),), promise_days=2),
    OrderSeed("pablo-ready", "pablo", ONLINE, PICKUP, S.READY_FOR_PICKUP, 70,
              (("CLO-204-BLU-M", 1),), store="BCN-GRA", promise_days=2),
    OrderSeed("marta-preparing", "marta", WHATSAPP, PICKUP, S.PREPARING, 5,
              (("SHO-105-NVY-39", 1), ("ACC-305-BEI", 1)), store="VLC-COL", promise_days=2),
    OrderSeed("alejandro-till", "alejandro", STORE, IN_STORE, S.COMPLETED, 26,
              (("CLO-201-WHT-M", 1), ("ACC-304-BRN-90", 1)), store="MAD-FUE", till="T2"),
    OrderSeed("sofia-delivered", "sofia", WEBCHAT, DELIVERY, S.DELIVERED, 12 * DAY,
              (("SHO-104-BLK-38", 1),), promise_days=4, carrier="seur"),
    OrderSeed("diego-cancelled", "diego", ONLINE, DELIVERY, S.CANCELLED, 20 * DAY,
              (("SHO-108-BRN-43", 1),), promise_days=4),
    OrderSeed("emily-app", "emily", APP, DELIVERY, S.DELIVERED, 30 * DAY,
              (("CLO-209-BLU-M", 1),), promise_days=3, carrier="seur"),
    OrderSeed("emily-till", "emily", STORE, IN_STORE, S.COMPLETED, 6 * DAY,
              (("ACC-303-TOR", 1),), store="BCN-GRA", payment="cash"),
    OrderSeed("raul-telegram", "raul", TELEGRAM, PICKUP, S.COLLECTED, 9 * DAY,
              (("SHO-107-RED-42", 1),), store="BCN-GRA", promise_days=2),
    OrderSeed("antonio-phone", "antonio", PHONE, DELIVERY, S.DELIVERED, 18 * DAY,
              (("CLO-206-GRY-L", 1), ("ACC-306-BLK-43-46", 2)), promise_days=4,
              carrier="correos_express"),
    OrderSeed("nuria-till", "nuria", STORE, IN_STORE, S.COMPLETED, 3,
              (("ACC-301-TAN", 1),), store="BCN-GRA", till="T3"),
    OrderSeed("olivia-till", "olivia", STORE, IN_STORE, S.COMPLETED, 50,
              (("SHO-105-SND-38", 1), ("ACC-307-RED", 1)), store="MAD-FUE"),
    # Portugal
    OrderSeed("joao-in-transit", "joao", ONLINE, DELIVERY, S.SHIPPED, 30,
              (("SHO-103-BRN-42", 1),), promise_days=3, carrier="ctt"),
    OrderSeed("ines-ready", "ines", APP, PICKUP, S.READY_FOR_PICKUP, 50,
              (("CLO-207-YEL-S", 1),), store="OPO-SCA", promise_days=2),
    OrderSeed("beatriz-late", "beatriz", WHATSAPP, DELIVERY, S.SHIPPED, 8 * DAY,
              (("CLO-205-GRN-S", 1),), promise_days=3, carrier="ctt"),
    OrderSeed("james-till", "james", STORE, IN_STORE, S.COMPLETED, 4 * DAY,
              (("CLO-210-NVY-L", 1),), store="LIS-CHI", payment="mbway"),
    OrderSeed("mariana-preparing", "mariana", WEBCHAT, PICKUP, S.PREPARING, 20,
              (("ACC-307-BLU", 1),), store="LIS-CHI", promise_days=2),
    # Brazil
    OrderSeed("ana-in-transit", "ana", ONLINE, DELIVERY, S.SHIPPED, 3 * DAY,
              (("SHO-101-BLK-37", 1), ("CLO-202-WHT-S", 1)), promise_days=7, carrier="correios"),
    OrderSeed("rafael-till", "rafael", STORE, IN_STORE, S.COMPLETED, 8 * DAY,
              (("CLO-209-ORG-L", 1),), store="RIO-LEB", payment="pix"),
    OrderSeed("camila-marketplace", "camila", MARKETPLACE, DELIVERY, S.DELIVERED, 15 * DAY,
              (("ACC-302-BLK", 1),), promise_days=6, carrier="correios"),
    OrderSeed("lucas-ready", "lucas", WHATSAPP, PICKUP, S.READY_FOR_PICKUP, 28,
              (("SHO-107-NVY-41", 1),), store="RIO-LEB", promise_days=2),
    OrderSeed("fernanda-late", "fernanda", APP, DELIVERY, S.SHIPPED, 12 * DAY,
              (("CLO-205-RED-M", 1),), promise_days=5, carrier="correios"),
    # Mexico
    OrderSeed("valeria-late", "valeria", ONLINE, DELIVERY, S.SHIPPED, 9 * DAY,
              (("SHO-104-BLK-37", 1), ("ACC-301-BLK", 1)), promise_days=4, carrier="estafeta"),
    OrderSeed("jose-till", "jose", STORE, IN_STORE, S.COMPLETED, 2 * DAY,
              (("SHO-108-BLK-42", 1),), store="GDL-CHA", payment="cash"),
    OrderSeed("daniela-preparing", "daniela", WEBCHAT, PICKUP, S.PREPARING, 3,
              (("CLO-202-OLV-M", 2),), store="MEX-ANT", promise_days=2),
    OrderSeed("michael-till", "michael", STORE, IN_STORE, S.COMPLETED, 30,
              (("ACC-303-BLK", 1), ("CLO-210-WHT-XL", 1)), store="MEX-ANT", till="T2"),
    OrderSeed("carlos-telegram", "carlos", TELEGRAM, DELIVERY, S.DELIVERED, 10 * DAY,
              (("SHO-102-GRY-44", 1),), promise_days=4, carrier="dhl"),
    OrderSeed("fernando-phone", "fernando", PHONE, PICKUP, S.COLLECTED, 14 * DAY,
              (("SHO-103-BLK-43", 1),), store="MEX-ANT", promise_days=2),
    OrderSeed("mariajose-marketplace", "mariajose", MARKETPLACE, DELIVERY, S.SHIPPED, 2 * DAY,
              (("CLO-206-BEI-S", 1),), promise_days=5, carrier="dhl"),
)  # fmt: skip


@dataclass(frozen=True)
class ReservationSeed:
    customer: str
    store: str
    sku: str
    quantity: int
    status: ReservationStatus
    pickup_code: str
    created_hours_ago: float
    hold_hours: float = 48


RESERVATIONS: tuple[ReservationSeed, ...] = (
    ReservationSeed("lucia", "MAD-FUE", "SHO-101-WHT-42", 1, ReservationStatus.HELD, "K7M2QD", 3),
    ReservationSeed("ines", "OPO-SCA", "CLO-208-GRY-M", 1, ReservationStatus.HELD, "P4X9TW", 20),
    ReservationSeed(
        "rafael", "RIO-LEB", "SHO-102-GRY-42", 1, ReservationStatus.EXPIRED, "R8C3VN", 6 * DAY
    ),
)


@dataclass(frozen=True)
class ReturnSeed:
    order: str  # an OrderSeed key
    rma_code: str
    reason: ReturnReason
    method: ReturnMethod
    store: str | None
    note: str
    items: tuple[tuple[str, int], ...]
    created_hours_ago: float


RETURNS: tuple[ReturnSeed, ...] = (
    ReturnSeed("sofia-delivered", "RMA-7Q4K2D", ReturnReason.WRONG_SIZE, ReturnMethod.IN_STORE,
               "MAD-VAG", "Me quedan pequeñas, necesito un 39.", (("SHO-104-BLK-38", 1),), 20),
)  # fmt: skip

# --- People -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentSeed:
    email: str
    name: str
    role: AgentRole


DEMO_PASSWORD = "omnihub-demo"  # noqa: S105 (a published demo login, never a real one)

AGENTS: tuple[AgentSeed, ...] = (
    AgentSeed("admin@demo.omnihub.test", "Laura Méndez", AgentRole.ADMIN),
    AgentSeed("supervisor@demo.omnihub.test", "Ricardo Nunes", AgentRole.SUPERVISOR),
    AgentSeed("agent@demo.omnihub.test", "Sara Vidal", AgentRole.AGENT),
    AgentSeed("marketer@demo.omnihub.test", "Marcos Prado", AgentRole.MARKETER),
)

# --- How orders are drawn at random (demo history and bulk) --------------------------

SALES_CHANNEL_WEIGHTS: tuple[tuple[SalesChannel, int], ...] = (
    (STORE, 44), (ONLINE, 24), (APP, 15), (WHATSAPP, 6), (WEBCHAT, 3),
    (TELEGRAM, 2), (PHONE, 3), (MARKETPLACE, 3),
)  # fmt: skip
# Orders not placed at a till are shipped or collected; marketplaces only ship.
REMOTE_FULFILMENT_WEIGHTS: tuple[tuple[Fulfilment, int], ...] = ((DELIVERY, 68), (PICKUP, 32))
HOME_STORE_SHARE = 0.85  # the rest of in-store sales happen in another store of the country
ORDERS_PER_CUSTOMER_WEIGHTS: tuple[tuple[int, int], ...] = ((1, 1), (2, 2), (3, 4), (4, 2), (5, 1))
LINES_PER_ORDER_WEIGHTS: tuple[tuple[int, int], ...] = ((1, 55), (2, 30), (3, 15))
QUANTITY_WEIGHTS: tuple[tuple[int, int], ...] = ((1, 88), (2, 10), (3, 2))
PROMISE_DAYS: Mapping[Fulfilment, tuple[int, int]] = {DELIVERY: (2, 6), PICKUP: (1, 3)}
CANCEL_RATE = 0.03
SLOW_DELIVERY_RATE = 0.08  # these take three times as long in transit, so some arrive late
TILLS: tuple[str, ...] = ("T1", "T1", "T2", "T3")

# Hours from the previous step to this one (low, high). The midpoint is used for the
# demo's stories; random draws are used elsewhere.
STEP_HOURS: Mapping[OrderStatus, tuple[float, float]] = {
    S.CONFIRMED: (0.05, 0.5),
    S.PREPARING: (1.0, 12.0),
    S.SHIPPED: (12.0, 36.0),
    S.DELIVERED: (24.0, 96.0),
    S.READY_FOR_PICKUP: (12.0, 48.0),
    S.COLLECTED: (4.0, 120.0),
    S.CANCELLED: (0.5, 24.0),
}

# Demo history: finished orders placed this many days before `now`.
HISTORY_DAYS = (20, 360)
LAPSED_HISTORY_DAYS = (400, 720)

# Bulk: orders placed over this many days before the newest order in the database.
BULK_HISTORY_DAYS = 730

# --- Names, phones and emails for bulk customers ----------------------------------------


@dataclass(frozen=True)
class NamePool:
    language: Language
    locale: str
    first_names: tuple[str, ...]
    surnames: tuple[str, ...]
    surname_count: int  # Spanish and Portuguese names usually carry two


_ES_SURNAMES = (
    "García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez",
    "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez",
    "Romero", "Alonso", "Gutiérrez", "Navarro", "Torres", "Domínguez", "Vázquez", "Ramos",
    "Gil", "Ramírez", "Serrano", "Blanco", "Molina", "Castro", "Ortiz", "Rubio", "Marín",
)  # fmt: skip
_MX_SURNAMES = (
    "Hernández", "García", "Martínez", "López", "González", "Pérez", "Rodríguez", "Sánchez",
    "Ramírez", "Cruz", "Flores", "Gómez", "Morales", "Vázquez", "Reyes", "Jiménez", "Torres",
    "Díaz", "Gutiérrez", "Ruiz", "Mendoza", "Aguilar", "Ortiz", "Moreno", "Castillo",
    "Romero", "Álvarez", "Méndez", "Chávez", "Rivera", "Juárez", "Ramos", "Domínguez",
)  # fmt: skip
_PT_SURNAMES = (
    "Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Rodrigues", "Martins",
    "Jesus", "Sousa", "Fernandes", "Gonçalves", "Gomes", "Lopes", "Marques", "Alves",
    "Almeida", "Ribeiro", "Pinto", "Carvalho", "Teixeira", "Moreira", "Correia", "Mendes",
    "Nunes", "Soares", "Vieira", "Monteiro", "Cardoso", "Rocha", "Neves", "Coelho",
)  # fmt: skip
_BR_SURNAMES = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira",
    "Lima", "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes",
    "Soares", "Fernandes", "Vieira", "Barbosa", "Rocha", "Dias", "Nascimento", "Andrade",
    "Moreira", "Nunes", "Marques", "Machado", "Mendes", "Freitas", "Cardoso", "Ramos",
)  # fmt: skip

NAME_POOLS: Mapping[str, NamePool] = {
    "es-ES": NamePool(ES, "es-ES", (
        "Lucía", "Sofía", "Martina", "María", "Julia", "Paula", "Valeria", "Emma", "Daniela",
        "Carla", "Alba", "Noa", "Sara", "Carmen", "Laura", "Elena", "Irene", "Marta",
        "Hugo", "Martín", "Lucas", "Mateo", "Leo", "Daniel", "Alejandro", "Pablo", "Manuel",
        "Álvaro", "Adrián", "David", "Mario", "Diego", "Javier", "Sergio", "Jorge", "Iker",
    ), _ES_SURNAMES, 2),
    "es-MX": NamePool(ES, "es-MX", (
        "Ximena", "Valentina", "Regina", "Camila", "Renata", "Fernanda", "Daniela", "Mariana",
        "Andrea", "Guadalupe", "Itzel", "Sofía", "Paola", "Alejandra", "Natalia", "Citlali",
        "Santiago", "Mateo", "Sebastián", "Leonardo", "Emiliano", "Diego", "Miguel Ángel",
        "José Luis", "Juan Carlos", "Luis", "Carlos", "Jorge", "Eduardo", "Ricardo", "Iván",
    ), _MX_SURNAMES, 2),
    "pt-PT": NamePool(PT, "pt-PT", (
        "Maria", "Leonor", "Matilde", "Beatriz", "Carolina", "Mariana", "Inês", "Ana",
        "Francisca", "Sofia", "Margarida", "Rita", "Catarina", "Joana", "João", "Francisco",
        "Santiago", "Afonso", "Tomás", "Duarte", "Rodrigo", "Martim", "Miguel", "Tiago",
        "Pedro", "Rui", "Diogo", "Gonçalo", "Nuno", "Bruno",
    ), _PT_SURNAMES, 2),
    "pt-BR": NamePool(PT, "pt-BR", (
        "Ana Clara", "Alice", "Helena", "Laura", "Valentina", "Heloísa", "Manuela", "Júlia",
        "Isabela", "Larissa", "Camila", "Fernanda", "Juliana", "Gabriela", "Letícia",
        "Bruna", "Miguel", "Arthur", "Heitor", "Bernardo", "Davi", "Gabriel", "Enzo",
        "Rafael", "Lucas", "Guilherme", "Matheus", "Thiago", "Felipe", "Rodrigo", "Caio",
    ), _BR_SURNAMES, 2),
    "en": NamePool(EN, "en-GB", (
        "Olivia", "Amelia", "Isla", "Emily", "Sophie", "Grace", "Hannah", "Chloe", "Jessica",
        "Oliver", "George", "Harry", "Jack", "James", "Thomas", "William", "Daniel", "Ryan",
    ), (
        "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
        "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
        "Hall", "Wood", "Jackson", "Clarke", "Murphy", "O'Brien", "Kelly", "Bennett",
    ), 1),
}  # fmt: skip

# Who lives in each country, by name pool; English speakers are expats.
COUNTRY_NAME_POOLS: Mapping[str, tuple[tuple[str, int], ...]] = {
    "ES": (("es-ES", 96), ("en", 4)),
    "PT": (("pt-PT", 84), ("pt-BR", 12), ("en", 4)),
    "BR": (("pt-BR", 98), ("en", 2)),
    "MX": (("es-MX", 97), ("en", 3)),
}
BULK_COUNTRY_WEIGHTS: Mapping[str, int] = {"ES": 40, "PT": 15, "BR": 25, "MX": 20}

# Bulk phones are the prefix plus the customer's number in 7 digits. Demo phones use
# other prefixes, so bulk phones never repeat one of them.
BULK_PHONE_DIGITS = 7
BULK_PHONE_PREFIX_BY_CITY: Mapping[str, str] = {
    "São Paulo": "+551193",
    "Rio de Janeiro": "+552193",
    "Ciudad de México": "+52558",
    "Guadalajara": "+52338",
}
BULK_PHONE_PREFIX_BY_COUNTRY: Mapping[str, str] = {
    "ES": "+3471",
    "PT": "+35192",
    "BR": "+551193",
    "MX": "+52558",
}
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
BULK_TAG_WEIGHTS: tuple[tuple[tuple[str, ...], int], ...] = (
    ((), 62), (("newsletter",), 14), (("click_and_collect",), 8), (("sneakers",), 5),
    (("whatsapp_first",), 5), (("vip",), 3), (("vip", "newsletter"), 3),
)  # fmt: skip
LAPSED_AFTER_DAYS = 365
