"""The retail CRM: SQLAlchemy models and the async services that read and change them."""
