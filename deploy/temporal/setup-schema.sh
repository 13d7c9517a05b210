#!/bin/sh
# One-shot job (temporalio/admin-tools): create or upgrade Temporal's schemas in PostgreSQL before
# the server starts. Safe on every `docker compose up`: `setup-schema -v 0.0` is skipped when the
# database already has a newer version, and `update-schema` applies only the versions it lacks, so
# bumping the admin-tools/server image tags together upgrades the schema first.
# The databases and the `temporal` role are made by deploy/postgres/initdb.
# Connection: SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD (read by temporal-sql-tool).
set -eu
: "${SQL_PLUGIN:?}" "${SQL_HOST:?}" "${SQL_PORT:?}" "${SQL_USER:?}" "${SQL_PASSWORD:?}"
: "${TEMPORAL_DB:=temporal}" "${TEMPORAL_VISIBILITY_DB:=temporal_visibility}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

tries=0
until nc -z -w 2 "$SQL_HOST" "$SQL_PORT"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
        echo "PostgreSQL at $SQL_HOST:$SQL_PORT did not answer" >&2
        exit 1
    fi
    sleep 2
done

temporal-sql-tool --db "$TEMPORAL_DB" setup-schema -v 0.0
temporal-sql-tool --db "$TEMPORAL_DB" update-schema -d "$SCHEMA_DIR/temporal/versioned"
temporal-sql-tool --db "$TEMPORAL_VISIBILITY_DB" setup-schema -v 0.0
temporal-sql-tool --db "$TEMPORAL_VISIBILITY_DB" update-schema -d "$SCHEMA_DIR/visibility/versioned"
echo "Temporal schemas are up to date ($TEMPORAL_DB, $TEMPORAL_VISIBILITY_DB)"
