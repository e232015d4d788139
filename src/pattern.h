/* pattern.h - what a rule's regex (POSIX extended, for =~ and !~) costs
 * glibc's regcomp(), judged from its text before it is compiled.
 *
 * regcomp() copies a repeated part of the tree ("x+" is "xx*", "x{m,n}" n
 * copies), so repetitions of repetitions grow without bound ("k" and thirty
 * "+" took 2 GB, the fuzzer's finding), and its time doubles with every
 * loop whose body can match nothing ("(a*)*", "(a|)*"), copies included:
 * "((a*)*){20}" takes a second, {25} minutes.  The rules refuse such
 * patterns with a message instead of hanging or exhausting memory at load.
 * The estimate is an upper bound for well-formed patterns; malformed ones
 * get one too, and regcomp() judges them.  Pure. */
#ifndef CS_PATTERN_H
#define CS_PATTERN_H

#include <stddef.h>

#define CS_PATTERN_MAX_COPIES 10000 /* tree nodes after repetition, about */
#define CS_PATTERN_MAX_BYTES (64u << 20)       /* regcomp()'s memory for one pattern, estimated */
#define CS_PATTERN_FILE_MAX_BYTES (256u << 20) /* for every pattern of a rules file together */
#define CS_PATTERN_MAX_LOOPS 12     /* loops over a body that can match nothing */
#define CS_PATTERN_MAX_DEPTH 32     /* nested groups */

typedef struct cs_pattern_cost {
    size_t copies; /* atoms after every repetition is written out */
    size_t loops;  /* of them, loops whose body can match the empty string */
    int depth;     /* deepest group nesting */
    size_t bytes;  /* regcomp()'s memory, estimated (capped past the file's limit) */
} cs_pattern_cost;

/* The cost of pattern; counts stop growing once past their limits. */
cs_pattern_cost cs_pattern_measure(const char *pattern);

/* NULL if pattern is within every limit, else why not (a static string). */
const char *cs_pattern_too_costly(const char *pattern);

/* The memory estimate: regcomp() writes "x{m,n}" as m copies and n - m
 * nested optional ones, and nested optional runs cost the square of their
 * length: "x{1,2500}" takes 51 MB, "x{1,9999}" 790 MB and 3 s, while
 * "x{9999}" takes 3.5 MB.  So 400 bytes a copy and 8 bytes per square of
 * every optional run, fitted on glibc 2.36 (docs/rules.md).
 *
 * A rules file's patterns are charged together: *budget starts at 0 and
 * grows by each pattern's estimate; NULL while it stays within
 * CS_PATTERN_FILE_MAX_BYTES, else why not (a static string). */
const char *cs_pattern_charge(size_t *budget, const char *pattern);

#endif
