#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised: the two login roles the
# migrations expect (README, "Database roles"), with passwords, so that the API and the
# workers can connect over the network. `ducha migrate` then only grants them rights.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_pw="$APP_DB_PASSWORD" -v system_pw="$SYSTEM_DB_PASSWORD" <<'SQL'
CREATE ROLE ducha_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'app_pw';
CREATE ROLE ducha_system LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS PASSWORD :'system_pw';
SQL
