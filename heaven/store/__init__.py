"""The store: SQLAlchemy 2 tables, the snapshot loader and the single write port (apply_plan). Transactions belong to the caller."""
