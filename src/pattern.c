/* pattern.c - see pattern.h.
 *
 * One pass over the pattern with a stack of groups.  Each group keeps the
 * copies and loops of what it holds so far, whether its current branch
 * (and any finished one) can match nothing, and its last atom, which a
 * quantifier then rewrites: "*" makes it optional and, over a body that can
 * match nothing, a loop; "+" doubles it ("xx*"); {m,n} multiplies it by n
 * ({m,} by m + 1); "?" makes it optional.  A group closed becomes the atom
 * of the group around it. */
#include "pattern.h"

#include <stdbool.h>
#include <string.h>

typedef struct atom {
    size_t copies, loops;
    size_t runs; /* the sum of the squares of its optional runs */
    bool empty;  /* can match the empty string */
} atom;

typedef struct group {
    size_t copies, loops, runs; /* including last */
    bool branch_empty;    /* every atom of the current branch before last can match nothing */
    bool any_empty;       /* a finished branch can */
    bool has_last;
    atom last;
} group;

#define CAP(x, max) ((x) > (max) ? (max) + 1 : (x))
#define BYTES_PER_COPY 400
#define BYTES_PER_RUN_SQUARED 8
#define MAX_RUNS (CS_PATTERN_FILE_MAX_BYTES / BYTES_PER_RUN_SQUARED)

/* The ']' closing the bracket expression that opens at p (or the last byte). */
static const char *bracket_end(const char *p)
{
    p++;
    if (*p == '^')
        p++;
    if (*p == ']')
        p++; /* a leading ']' is a member */
    for (; *p && *p != ']'; p++)
        if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
            const char *close = strchr(p + 2, p[1]);
            while (close && close[1] != ']')
                close = strchr(close + 1, p[1]);
            if (!close)
                return p + strlen(p) - 1;
            p = close + 1;
        }
    return *p ? p : p - 1;
}

/* The interval opening at *p ({m}, {m,}, {m,n}): moves *p to its '}'.
 * False if it is none (a literal '{'). */
static bool interval(const char **p, size_t *ret_min, size_t *ret_max, bool *ret_unbounded)
{
    const char *q = *p + 1;
    size_t m = 0, n = 0;
    bool digits = false, comma = false, ndigits = false;
    for (; *q >= '0' && *q <= '9'; q++, digits = true)
        m = CAP(m * 10 + (size_t)(*q - '0'), CS_PATTERN_MAX_COPIES);
    if (*q == ',') {
        comma = true;
        for (q++; *q >= '0' && *q <= '9'; q++, ndigits = true)
            n = CAP(n * 10 + (size_t)(*q - '0'), CS_PATTERN_MAX_COPIES);
    }
    if (!digits || *q != '}')
        return false;
    *p = q;
    *ret_min = m;
    *ret_max = comma ? n : m;
    *ret_unbounded = comma && !ndigits;
    return true;
}

/* Applies a quantifier to g's last atom. */
static void quantify(group *g, size_t min, size_t max, bool unbounded)
{
    atom *a = &g->last;
    g->copies -= a->copies;
    g->loops -= a->loops;
    g->runs -= a->runs;
    size_t times = unbounded ? min + 1 : max;
    if (times == 0)
        times = 1;
    /* the n - m optional copies nest: one run of that many times the body */
    size_t run = !unbounded && max > min ? CAP(a->copies * (max - min), CS_PATTERN_MAX_COPIES) : 0;
    a->runs = CAP(CAP(a->runs * times, MAX_RUNS) + run * run, MAX_RUNS);
    a->loops = CAP(a->loops * times + (unbounded && a->empty), CS_PATTERN_MAX_LOOPS);
    a->copies = CAP(a->copies * times, CS_PATTERN_MAX_COPIES);
    a->empty = a->empty || min == 0;
    g->copies = CAP(g->copies + a->copies, CS_PATTERN_MAX_COPIES);
    g->loops = CAP(g->loops + a->loops, CS_PATTERN_MAX_LOOPS);
    g->runs = CAP(g->runs + a->runs, MAX_RUNS);
}

/* Appends atom a to g's current branch. */
static void append(group *g, atom a)
{
    if (g->has_last)
        g->branch_empty = g->branch_empty && g->last.empty;
    g->last = a;
    g->has_last = true;
    g->copies = CAP(g->copies + a.copies, CS_PATTERN_MAX_COPIES);
    g->loops = CAP(g->loops + a.loops, CS_PATTERN_MAX_LOOPS);
    g->runs = CAP(g->runs + a.runs, MAX_RUNS);
}

/* Whether g's current branch can match the empty string. */
static bool branch_empty(const group *g)
{
    return g->branch_empty && (!g->has_last || g->last.empty);
}

/* What group g, closed, is as an atom. */
static atom close_group(const group *g)
{
    return (atom){.copies = CAP(g->copies + 1, CS_PATTERN_MAX_COPIES), .loops = g->loops,
                  .runs = g->runs, .empty = g->any_empty || branch_empty(g)};
}

cs_pattern_cost cs_pattern_measure(const char *p)
{
    group st[CS_PATTERN_MAX_DEPTH + 1] = {{.branch_empty = true}};
    int d = 0, deepest = 0;
    for (; *p; p++) {
        size_t min, max;
        bool unbounded;
        if (*p == '(' && d < CS_PATTERN_MAX_DEPTH) {
            st[++d] = (group){.branch_empty = true};
            deepest = d > deepest ? d : deepest;
        } else if (*p == '(') {
            return (cs_pattern_cost){0, 0, CS_PATTERN_MAX_DEPTH + 1, 0};
        } else if (*p == ')' && d > 0) {
            atom a = close_group(&st[d--]);
            append(&st[d], a);
        } else if (*p == '|') {
            st[d].any_empty = st[d].any_empty || branch_empty(&st[d]);
            st[d].branch_empty = true;
            st[d].has_last = false;
        } else if ((*p == '*' || *p == '+' || *p == '?') && st[d].has_last) {
            quantify(&st[d], *p == '+', *p == '?', *p != '?'); /* {0,} {1,} {0,1} */
        } else if (*p == '{' && st[d].has_last && interval(&p, &min, &max, &unbounded)) {
            quantify(&st[d], min, max, unbounded);
        } else {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '[')
                p = bracket_end(p);
            append(&st[d], (atom){.copies = 1});
        }
    }
    size_t copies = 0, loops = 0, runs = 0;
    for (int i = 0; i <= d; i++) { /* groups left open: regcomp() refuses them */
        copies = CAP(copies + st[i].copies, CS_PATTERN_MAX_COPIES);
        loops = CAP(loops + st[i].loops, CS_PATTERN_MAX_LOOPS);
        runs = CAP(runs + st[i].runs, MAX_RUNS);
    }
    /* both terms stay far below SIZE_MAX: copies <= 10,001, runs <= MAX_RUNS + 1 */
    size_t bytes = copies * BYTES_PER_COPY + runs * BYTES_PER_RUN_SQUARED;
    return (cs_pattern_cost){copies, loops, deepest, bytes};
}

const char *cs_pattern_too_costly(const char *pattern)
{
    cs_pattern_cost c = cs_pattern_measure(pattern);
    if (c.depth > CS_PATTERN_MAX_DEPTH)
        return "groups nested more than 32 deep";
    if (c.copies > CS_PATTERN_MAX_COPIES)
        return "its repetitions expand to more than 10,000 copies";
    if (c.loops > CS_PATTERN_MAX_LOOPS)
        return "more than 12 repeated groups that can match nothing, as (a*)* or (a|)*";
    if (c.bytes > CS_PATTERN_MAX_BYTES)
        return "its optional repetitions, as x{1,9999}, would take regcomp() more than 64 MB";
    return NULL;
}

const char *cs_pattern_charge(size_t *budget, const char *pattern)
{
    cs_pattern_cost c = cs_pattern_measure(pattern);
    *budget += c.bytes < CS_PATTERN_FILE_MAX_BYTES ? c.bytes : CS_PATTERN_FILE_MAX_BYTES + 1;
    if (*budget > CS_PATTERN_FILE_MAX_BYTES)
        *budget = CS_PATTERN_FILE_MAX_BYTES + 1; /* stays put, whatever follows */
    return *budget > CS_PATTERN_FILE_MAX_BYTES
               ? "the rules' regular expressions together would take regcomp() more than 256 MB"
               : NULL;
}
