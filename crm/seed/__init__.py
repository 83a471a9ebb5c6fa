"""Demo data for trying omnihub and bulk data for benchmarking it."""

from crm.seed.bulk import BulkSummary, seed_bulk
from crm.seed.demo import DemoLogin, DemoSummary, seed_demo

__all__ = ["BulkSummary", "DemoLogin", "DemoSummary", "seed_bulk", "seed_demo"]
