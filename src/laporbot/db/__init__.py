"""Storage: SQLAlchemy 2 async models, Alembic migrations and a small repository surface.

`engine.create_engine(settings)` and `engine.make_sessionmaker(engine)` open the database;
`models` holds the tables; `migrate.upgrade(settings)` brings the schema to the newest revision;
the focused modules (`inbox`, `outbox`, `cases`, `complaints`, `sessions`, `reminders`,
`agencies`, `contacts`, `numbers`) are the repository functions, each taking an `AsyncSession`.
"""
