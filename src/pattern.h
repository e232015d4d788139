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
#define CS_PATTERN_MAX_LOOPS 12     /* loops over a body that can match nothing */
#define CS_PATTERN_MAX_DEPTH 32     /* nested groups */

typedef struct cs_pattern_cost {
    size_t copies; /* atoms after every repetition is written out */
    size_t loops;  /* of them, loops whose body can match the empty string */
    int depth;     /* deepest group nesting */
} cs_pattern_cost;

/* The cost of pattern; counts stop growing once past their limits. */
cs_pattern_cost cs_pattern_measure(const char *pattern);

/* NULL if pattern is within every limit, else why not (a static string). */
const char *cs_pattern_too_costly(const char *pattern);

#endif
