/* store_migrate.c - the embedded SQL migrations and the schema check (see
 * store.h).  Each migration runs in its own transaction under an advisory
 * lock, so concurrent or repeated runs are harmless. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrations.h"
#include "store_internal.h"

int cs_store_migrate(cs_store *s, unsigned *ret_applied, char *err, size_t errsize)
{
    int r;
    *ret_applied = 0;
    if ((r = cs_store_connect(s, err, errsize)) < 0)
        return r;
    if ((r = cs__store_exec_ok(s,
                               "CREATE TABLE IF NOT EXISTS schema_migrations ("
                               " version text PRIMARY KEY,"
                               " applied_at timestamptz NOT NULL DEFAULT now())",
                               PGRES_COMMAND_OK, err, errsize)) < 0)
        return r;
    for (unsigned i = 0; i < cs_migrations_count; i++) {
        const cs_migration *m = &cs_migrations[i];
        if ((r = cs__store_exec_ok(s, "BEGIN", PGRES_COMMAND_OK, err, errsize)) < 0 ||
            (r = cs__store_exec_ok(s, "SELECT pg_advisory_xact_lock(7461228)", PGRES_TUPLES_OK, err,
                                   errsize)) < 0)
            return r;
        const char *params[1] = {m->version};
        PGresult *res = PQexecParams(s->conn, "SELECT 1 FROM schema_migrations WHERE version = $1",
                                     1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            cs__store_set_err(err, errsize, "postgres: %s", PQerrorMessage(s->conn));
            PQclear(res);
            cs__store_rollback(s);
            return -EIO;
        }
        int done = PQntuples(res) > 0;
        PQclear(res);
        if (done) {
            cs__store_rollback(s);
            continue;
        }
        if ((r = cs__store_exec_ok(s, m->sql, PGRES_COMMAND_OK, err, errsize)) < 0) {
            char inner[512];
            snprintf(inner, sizeof(inner), "%s", err);
            cs__store_set_err(err, errsize, "migration %s: %s", m->version, inner);
            cs__store_rollback(s);
            return r;
        }
        res = PQexecParams(s->conn, "INSERT INTO schema_migrations (version) VALUES ($1)", 1, NULL,
                           params, NULL, NULL, 0);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok || (r = cs__store_exec_ok(s, "COMMIT", PGRES_COMMAND_OK, err, errsize)) < 0) {
            cs__store_set_err(err, errsize, "migration %s: %s", m->version,
                              PQerrorMessage(s->conn));
            cs__store_rollback(s);
            return -EIO;
        }
        (*ret_applied)++;
    }
    return 0;
}

int cs_store_check_schema(cs_store *s, char *err, size_t errsize)
{
    int r;
    if ((r = cs_store_connect(s, err, errsize)) < 0)
        return r;
    PGresult *res = PQexec(s->conn, "SELECT version FROM schema_migrations");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        r = cs__store_fail(s, res, "schema_migrations", err, errsize);
        PQclear(res);
        if (r == -ENOENT)
            cs__store_set_err(err, errsize,
                              "the database has no costream schema: run `costream migrate`");
        return r;
    }
    unsigned missing = 0;
    const char *first = NULL;
    for (unsigned i = 0; i < cs_migrations_count; i++) {
        int found = 0;
        for (int row = 0; row < PQntuples(res) && !found; row++)
            found = strcmp(PQgetvalue(res, row, 0), cs_migrations[i].version) == 0;
        if (!found && !missing++)
            first = cs_migrations[i].version;
    }
    PQclear(res);
    if (missing) {
        cs__store_set_err(err, errsize,
                          "the database lacks %u of costream's %u migrations (first: %s):"
                          " run `costream migrate`",
                          missing, cs_migrations_count, first);
        return -ENOENT;
    }
    return 0;
}
