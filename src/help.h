/* help.h - the command-line help of costream and its tools (pure): one
 * text per command, with its options, defaults and an example; the options
 * every configuration-reading command shares; the load generator's; and
 * everything at once for `costream help`, so that a user with only the
 * installed binary needs nothing else.  The texts are static. */
#ifndef CS_HELP_H
#define CS_HELP_H

#include "buf.h"

/* The help of one command ("run", "report", ...), or NULL if unknown. */
const char *cs_help_command(const char *name);

/* -c, --set, --help. */
const char *cs_help_common(void);

/* costream-loadgen's options. */
const char *cs_help_loadgen(void);

/* Every command, the common options and the tools. */
void cs_help_all(cs_buf *b);

#endif
