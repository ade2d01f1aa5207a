#!/usr/bin/env bash
# Applies roles.sql (idempotent) and sets each role's password from the environment.
# Connection from the usual libpq variables (PGHOST, PGUSER, PGPASSWORD, PGDATABASE): a
# superuser on the aequatio database. compose.yaml runs it before and after `aequatio migrate`.
#
#   AEQUATIO_MIGRATOR_PASSWORD, AEQUATIO_WRITER_PASSWORD, AEQUATIO_API_READER_PASSWORD
#       the roles' passwords; an unset or empty one is left as it is.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 --file "$here/roles.sql"

for pair in aequatio_migrator:AEQUATIO_MIGRATOR_PASSWORD \
            aequatio_writer:AEQUATIO_WRITER_PASSWORD \
            aequatio_api_reader:AEQUATIO_API_READER_PASSWORD; do
    role=${pair%%:*}
    variable=${pair#*:}
    if [[ -n "${!variable:-}" ]]; then
        # psql reads the password from the environment itself (\getenv, psql 15+) and quotes
        # it: it is never on a command line. The server keeps a SCRAM hash of it.
        psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 -v role="$role" <<SQL
\\getenv password $variable
ALTER ROLE :"role" PASSWORD :'password';
SQL
    fi
done
echo "aequatio roles applied to ${PGDATABASE:-the database}"
