"""Alembic revisions, oldest first: 0001 ingestion tables, 0002 assessment and digest tables."""
