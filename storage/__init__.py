"""Persistence: SQLAlchemy tables, Alembic migrations, repositories and the object store."""
