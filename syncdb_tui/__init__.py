"""syncdb-tui: move a PostgreSQL schema safely from dev to staging to prod."""

__version__ = "0.1.0"
