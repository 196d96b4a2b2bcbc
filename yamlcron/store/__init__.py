"""The SQL store: shared SQL by role, tables written once, row codec, SQLite dialect.

``sqlite`` is the SQLite dialect with its locks and doorbell; PostgreSQL's is a plugin.

Nothing is imported here: the PostgreSQL plugin, registered by every command, imports the
shared SQL without the SQLite driver and the file watcher that ``sqlite`` brings.
"""
