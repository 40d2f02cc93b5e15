"""Persistence only: tables, engine setup, repositories, the audit chain, migrations."""
