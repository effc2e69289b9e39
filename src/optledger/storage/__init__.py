"""Storage: the SQL implementation of the domain ports, on SQLite or PostgreSQL.

- `engine`: `make_engine` (durable SQLite and PostgreSQL settings) and `database_ready`.
- `tables`: the schema as SQLAlchemy Core tables.
- `repositories`: one `Sql…Repository` per repository port and `SqlUnitOfWork`.
- `transactions`: `SqlTransactions`, the `Transactions` port with group commit.
- `migrate`: Alembic `upgrade` to head and `check_drift`.

Importing this package does nothing; `bootstrap` imports the modules it wires.
"""
