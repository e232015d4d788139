/* Unit tests for src/attribution.c: the labels an unattributed event was
 * looked up by, written in labels.order and read back; values that cannot
 * be kept so; malformed texts refused. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attribution.h"
#include "unit.h"

static char *order[] = {"api_key", "namespace", "sandbox_id"};

START_TEST(format_and_parse)
{
    cs_label ev[] = {{"region", "eu"}, {"sandbox_id", "sbx=1"}, {"api_key", "ak_1"}};
    char buf[CS_ATTRIBUTION_MAX], scratch[CS_ATTRIBUTION_MAX];
    int n = cs_attribution_format(order, 3, ev, 3, buf, sizeof(buf));
    ck_assert_int_eq(n, (int)strlen("api_key=ak_1\x1fsandbox_id=sbx=1"));
    ck_assert_str_eq(buf, "api_key=ak_1\x1fsandbox_id=sbx=1"); /* labels.order, not the event's */
    cs_label back[4];
    ck_assert_int_eq(cs_attribution_parse(buf, back, 4, scratch), 2);
    ck_assert_str_eq(back[0].name, "api_key");
    ck_assert_str_eq(back[0].value, "ak_1");
    ck_assert_str_eq(back[1].name, "sandbox_id");
    ck_assert_str_eq(back[1].value, "sbx=1"); /* split at the first '=' */
    /* none of the labels: nothing to keep */
    ck_assert_int_eq(cs_attribution_format(order, 3, ev, 1, buf, sizeof(buf)), 0);
    /* a value that cannot be kept: no attribution at all */
    cs_label bad[] = {{"api_key", "a\x1f" "b"}};
    ck_assert_int_eq(cs_attribution_format(order, 3, bad, 1, buf, sizeof(buf)), 0);
    cs_label nl[] = {{"namespace", "x\ny"}};
    ck_assert_int_eq(cs_attribution_format(order, 3, nl, 1, buf, sizeof(buf)), 0);
    char tiny[8];
    ck_assert_int_eq(cs_attribution_format(order, 3, ev, 3, tiny, sizeof(tiny)), -ENOSPC);
    static const char *const wrong[] = {"novalue", "=v", "a=1\x1f", "a=1\x1f\x1f" "b=2"};
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
        ck_assert_msg(cs_attribution_parse(wrong[i], back, 4, scratch) == -EINVAL, "%zu", i);
    ck_assert_int_eq(cs_attribution_parse("a=1\x1f" "b=2\x1f" "c=3", back, 2, scratch), -EINVAL);
}
END_TEST

/* Random label sets round-trip. */
START_TEST(round_trip)
{
    char vals[3][32], buf[CS_ATTRIBUTION_MAX], scratch[CS_ATTRIBUTION_MAX];
    srand(3);
    for (int round = 0; round < 2000; round++) {
        cs_label ev[3];
        size_t n = 0;
        for (size_t i = 0; i < 3; i++) {
            if (rand() % 3 == 0)
                continue;
            int len = rand() % 20;
            for (int k = 0; k < len; k++)
                vals[i][k] = (char)(' ' + rand() % 95);
            vals[i][len] = '\0';
            ev[n++] = (cs_label){order[i], vals[i]};
        }
        int w = cs_attribution_format(order, 3, ev, n, buf, sizeof(buf));
        ck_assert_int_ge(w, 0);
        if (w == 0)
            continue;
        cs_label back[3];
        ck_assert_int_eq(cs_attribution_parse(buf, back, 3, scratch), (int)n);
        for (size_t i = 0; i < n; i++) {
            ck_assert_str_eq(back[i].name, ev[i].name);
            ck_assert_str_eq(back[i].value, ev[i].value);
        }
    }
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("attribution");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, format_and_parse);
    tcase_add_test(tc, round_trip);
    suite_add_tcase(s, tc);
    return s;
}
