"""CRM services: async functions of one verb each, taking a session.

A service flushes but never commits: the caller owns the transaction
(`async with db.transaction() as session: ...`), so several services compose into
one atomic change, and a domain error rolls all of it back.
"""
