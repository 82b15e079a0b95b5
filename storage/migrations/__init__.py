"""Alembic environment and versions for litwatch's database (run them with `storage.migrate`)."""
