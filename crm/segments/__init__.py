"""Segments: rules over the CRM (rules.py, fields.py) compiled to one query (compile.py)."""
