"""SQLite (the embedded default) refuses UPDATE on the audit log, as PostgreSQL does since 0002:
an entry, once written, cannot be changed on either runtime. DELETE stays refused on PostgreSQL
only: SQLite has no TRUNCATE, so a row-level DELETE trigger there would also refuse Django's own
`flush` (tests, `manage.py flush`), and it has no way to lift a trigger for one connection."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

CREATE = [
    f"""
CREATE TRIGGER IF NOT EXISTS accounts_auditevent_append_only_{op.lower()}
    BEFORE {op} ON accounts_auditevent
BEGIN
    SELECT RAISE(ABORT, 'accounts_auditevent is append-only ({op} refused)');
END;
"""
    for op in ("UPDATE",)
]
DROP = [
    f"DROP TRIGGER IF EXISTS accounts_auditevent_append_only_{op.lower()};" for op in ("UPDATE",)
]


def forwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "sqlite":
        for statement in CREATE:
            schema_editor.execute(statement, params=None)


def backwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "sqlite":
        for statement in DROP:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_merchant_sender_name_reply_to")]
    operations = [migrations.RunPython(forwards, backwards)]
