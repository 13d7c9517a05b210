#!/bin/sh
# First start of the PostgreSQL volume only (docker-entrypoint-initdb.d): one role per system and
# one database each, so Casebridge cannot touch Temporal's data and Temporal cannot touch ours.
#   temporal   owns temporal, temporal_visibility   (schemas: the temporal-schema job)
#   casebridge owns casebridge                       (schema: the migrate job, `casebridge migrate`)
# Passwords come from the environment; nothing here has a default. Changing a password later is
# `ALTER ROLE ... PASSWORD ...` (this script does not run again on an initialised volume).
set -eu
: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD is required}"
: "${APP_DB_PASSWORD:?APP_DB_PASSWORD is required}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v temporal_password="$TEMPORAL_DB_PASSWORD" -v casebridge_password="$APP_DB_PASSWORD" <<'SQL'
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE ROLE casebridge LOGIN PASSWORD :'casebridge_password';

CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
CREATE DATABASE casebridge OWNER casebridge;

-- Every role may connect to every database by default (PUBLIC); keep each system to its own.
REVOKE CONNECT, TEMPORARY ON DATABASE temporal, temporal_visibility, casebridge FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE temporal, temporal_visibility TO temporal;
GRANT CONNECT, TEMPORARY ON DATABASE casebridge TO casebridge;
SQL
