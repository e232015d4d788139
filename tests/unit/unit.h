/* unit.h - shared scaffolding for the check-based unit tests: each
 * tests/unit/test_<module>.c defines make_suite() and includes this once. */
#ifndef CS_UNIT_H
#define CS_UNIT_H

#include <check.h>
#include <stdlib.h>

static Suite *make_suite(void);

int main(void)
{
    SRunner *sr = srunner_create(make_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
