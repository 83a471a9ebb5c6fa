"""Upserts from the shop's systems (customers, products, stores, stock, orders) and reads back.

Each batch service checks every record before it writes anything: duplicates inside
the batch, references to unknown customers, stores and SKUs, clashes with other rows.
All problems are reported together as RecordsRejected, and the caller's transaction
rolls back. Existing rows are loaded with one query per kind for the whole batch.

On update, fields the shop omitted keep their value (different systems own different
fields: the ERP the loyalty points, the web shop the email); a field sent as null is
cleared. Collections follow their own rules, documented on each record.

One module per kind of record; what they share (problems, rejection, field copying,
lookups) is in batch.
"""

from crm.services.sync.batch import Problem, RecordsRejected
from crm.services.sync.customers import get_customer, upsert_customer, upsert_customers
from crm.services.sync.inventory import set_inventory
from crm.services.sync.orders import get_order, upsert_order, upsert_orders
from crm.services.sync.products import get_product, upsert_product, upsert_products
from crm.services.sync.stores import get_store, upsert_store, upsert_stores

__all__ = [
    "Problem",
    "RecordsRejected",
    "get_customer",
    "get_order",
    "get_product",
    "get_store",
    "set_inventory",
    "upsert_customer",
    "upsert_customers",
    "upsert_order",
    "upsert_orders",
    "upsert_product",
    "upsert_products",
    "upsert_store",
    "upsert_stores",
]
