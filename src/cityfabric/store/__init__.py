"""Persistence behind one narrow protocol (`base.Store`): SQLite embedded, PostgreSQL later."""
