/* migrations.h - the SQL migrations of sql/, embedded at build time by
 * scripts/embed_sql.py, in the order they apply (by file name). */
#ifndef CS_MIGRATIONS_H
#define CS_MIGRATIONS_H

typedef struct cs_migration {
    const char *version; /* file name without .sql, e.g. "0001_core" */
    const char *sql;
} cs_migration;

extern const cs_migration cs_migrations[];
extern const unsigned cs_migrations_count;

#endif
