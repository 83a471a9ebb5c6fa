"""Tests of the CRM services, each run on SQLite and on PostgreSQL."""
