/* Unit tests for src/allocate.c: the worked example of docs/spend.md
 * (direct pools with weighted drivers, a line without usage, a shared pool
 * in proportion, a shared pool even, an unpooled line), checked row by row
 * and for conservation; pool selection by columns and tags. */
#include <errno.h>
#include <string.h>

#include "allocate.h"
#include "unit.h"

#define H INT64_C(3600000000)

static const char *RULES =
    "{\"version\": \"s\", \"currency\": \"USD\", \"rules\": ["
    " {\"id\": \"cpu\", \"product\": \"sandbox\", \"meter\": \"cpu\", \"unit\": \"s\", \"unit_price\": \"1\"},"
    " {\"id\": \"mem\", \"product\": \"sandbox\", \"meter\": \"mem\", \"unit\": \"s\", \"unit_price\": \"1\"},"
    " {\"id\": \"req\", \"product\": \"gateway\", \"meter\": \"requests\", \"unit\": \"r\", \"unit_price\": \"1\"}],"
    " \"allocation\": {\"pools\": ["
    "  {\"id\": \"compute\", \"select\": {\"ServiceName\": \"EC2\", \"Tags.cluster\": \"sandbox\"},"
    "   \"drivers\": [{\"product\": \"sandbox\", \"meter\": \"cpu\", \"weight\": \"0.6\"},"
    "                {\"product\": \"sandbox\", \"meter\": \"mem\", \"weight\": \"0.4\"}]},"
    "  {\"id\": \"gateway\", \"select\": {\"ServiceName\": \"ELB\"},"
    "   \"drivers\": [{\"product\": \"gateway\", \"meter\": \"requests\"}]},"
    "  {\"id\": \"control\", \"select\": {\"ServiceCategory\": \"Management\"}, \"shared\": \"proportional\"},"
    "  {\"id\": \"support\", \"select\": {\"ServiceName\": \"Support\"}, \"shared\": \"even\"}]}}";

static cs_dec D(const char *s)
{
    cs_dec d;
    ck_assert_int_eq(cs_dec_parse(s, strlen(s), &d), 0);
    return d;
}

static const char *amount(const cs_allocate *a, const char *pool, const char *customer,
                          const char *product, cs_allocate_kind kind)
{
    static char buf[CS_DEC_STRLEN];
    for (size_t i = 0; i < cs_allocate_count(a); i++) {
        const cs_allocate_row *r = cs_allocate_row_at(a, i);
        if (strcmp(r->pool ? r->pool : "", pool) == 0 && strcmp(r->customer, customer) == 0 &&
            strcmp(r->product, product) == 0 && r->kind == kind) {
            cs_dec_format(r->amount, 12, buf, sizeof(buf));
            return buf;
        }
    }
    return "none";
}

START_TEST(worked_example)
{
    cs_rules *rs;
    cs_errlist errs = {0};
    ck_assert_int_eq(cs_rules_parse(RULES, strlen(RULES), "s.json", &rs, &errs), 0);
    /* sorted by product, meter, hour */
    const cs_allocate_usage u[] = {
        {"gateway", "requests", "acme", 10 * H, D("100")},
        {"sandbox", "cpu", "acme", 10 * H, D("30")},
        {"sandbox", "cpu", "beta", 10 * H, D("10")},
        {"sandbox", "mem", "beta", 10 * H, D("3")},
        {"sandbox", "mem", "acme", 10 * H, D("1")},
    };
    cs_allocate_fields ec2 = {.service_name = "EC2", .tags_json = "{\"cluster\":\"sandbox\"}"};
    cs_allocate_fields ec2_other = {.service_name = "EC2", .tags_json = "{\"cluster\":\"ci\"}"};
    cs_allocate_fields elb = {.service_name = "ELB"};
    cs_allocate_fields mgmt = {.service_name = "CloudWatch", .service_category = "Management"};
    cs_allocate_fields support = {.service_name = "Support"};
    ck_assert_int_eq(cs_allocate_pool_of(rs, &ec2), 0);
    ck_assert_int_eq(cs_allocate_pool_of(rs, &ec2_other), CS_ALLOCATE_UNPOOLED);
    ck_assert_int_eq(cs_allocate_pool_of(rs, &elb), 1);
    ck_assert_int_eq(cs_allocate_pool_of(rs, &mgmt), 2);
    ck_assert_int_eq(cs_allocate_pool_of(rs, &support), 3);
    cs_allocate_fields bad = {.service_name = "EC2", .tags_json = "[1]"};
    ck_assert_int_eq(cs_allocate_pool_of(rs, &bad), -EINVAL);

    cs_allocate *a = cs_allocate_new(rs, u, sizeof(u) / sizeof(u[0]));
    ck_assert_int_eq(cs_allocate_line(a, 0, 10 * H, 11 * H, D("10")), 0);
    ck_assert_int_eq(cs_allocate_line(a, 1, 10 * H, 11 * H, D("1")), 0);
    ck_assert_int_eq(cs_allocate_line(a, 0, 11 * H, 12 * H, D("2")), 0); /* nobody used it */
    ck_assert_int_eq(cs_allocate_line(a, 2, 0, 24 * H, D("3")), 0);
    ck_assert_int_eq(cs_allocate_line(a, 3, 0, 24 * H, D("1")), 0);
    ck_assert_int_eq(cs_allocate_line(a, CS_ALLOCATE_UNPOOLED, 0, 24 * H, D("0.5")), 0);
    ck_assert_int_eq(cs_allocate_finish(a), 0);
    /* compute: cpu 6.00 split 30:10, mem 4.00 split 1:3 */
    ck_assert_str_eq(amount(a, "compute", "acme", "sandbox", CS_ALLOCATE_DIRECT), "5.500000000000");
    ck_assert_str_eq(amount(a, "compute", "beta", "sandbox", CS_ALLOCATE_DIRECT), "4.500000000000");
    ck_assert_str_eq(amount(a, "compute", "unallocated", "sandbox", CS_ALLOCATE_NO_USAGE), "2.000000000000");
    ck_assert_str_eq(amount(a, "gateway", "acme", "gateway", CS_ALLOCATE_DIRECT), "1.000000000000");
    /* control: 3.00 in proportion to 5.5 / 1 / 4.5; the last unit to the
     * largest remainder (beta's .72 over acme's .27) */
    ck_assert_str_eq(amount(a, "control", "acme", "sandbox", CS_ALLOCATE_SHARED), "1.500000000000");
    ck_assert_str_eq(amount(a, "control", "acme", "gateway", CS_ALLOCATE_SHARED), "0.272727272727");
    ck_assert_str_eq(amount(a, "control", "beta", "sandbox", CS_ALLOCATE_SHARED), "1.227272727273");
    ck_assert_str_eq(amount(a, "support", "acme", "shared", CS_ALLOCATE_SHARED), "0.500000000000");
    ck_assert_str_eq(amount(a, "support", "beta", "shared", CS_ALLOCATE_SHARED), "0.500000000000");
    ck_assert_str_eq(amount(a, "", "unallocated", "", CS_ALLOCATE_NO_POOL), "0.500000000000");
    cs_dec total = cs_dec_zero();
    for (size_t i = 0; i < cs_allocate_count(a); i++)
        cs_dec_add(total, cs_allocate_row_at(a, i)->amount, &total);
    ck_assert_int_eq(cs_dec_cmp(total, D("17.5")), 0);
    cs_allocate_free(a);
    cs_allocate_free(NULL);
    cs_rules_free(rs);
}
END_TEST

/* A driver with a capacity: the unused part is idle, visible, conserved. */
START_TEST(idle_capacity)
{
    const char *rules =
        "{\"version\": \"i\", \"currency\": \"USD\", \"rules\": ["
        " {\"id\": \"req\", \"product\": \"gateway\", \"meter\": \"requests\", \"unit\": \"r\", \"unit_price\": \"1\"}],"
        " \"allocation\": {\"pools\": [{\"id\": \"lb\", \"select\": {\"ServiceName\": \"ELB\"},"
        "  \"drivers\": [{\"product\": \"gateway\", \"meter\": \"requests\", \"capacity_per_hour\": \"150\"}]}]}}";
    cs_rules *rs;
    cs_errlist errs = {0};
    ck_assert_int_eq(cs_rules_parse(rules, strlen(rules), "i.json", &rs, &errs), 0);
    const cs_allocate_usage u[] = {{"gateway", "requests", "acme", 10 * H, D("100")},
                                   {"gateway", "requests", "acme", 12 * H, D("400")}};
    cs_allocate *a = cs_allocate_new(rs, u, 2);
    char idle[CS_DEC_STRLEN];
    ck_assert_int_eq(cs_allocate_line(a, 0, 10 * H, 11 * H, D("1")), 0);  /* 100 of 150 used */
    cs_dec_format(cs_allocate_line_idle(a), 12, idle, sizeof(idle));
    ck_assert_str_eq(idle, "0.333333333333"); /* the line's idle part, for its resource */
    ck_assert_int_eq(cs_allocate_line(a, 0, 11 * H, 12 * H, D("0.3")), 0); /* nothing used: all idle */
    cs_dec_format(cs_allocate_line_idle(a), 12, idle, sizeof(idle));
    ck_assert_str_eq(idle, "0.300000000000");
    ck_assert_int_eq(cs_allocate_line(a, 0, 12 * H, 13 * H, D("2")), 0);  /* over capacity: no idle */
    ck_assert(cs_dec_is_zero(cs_allocate_line_idle(a)));
    ck_assert_int_eq(cs_allocate_finish(a), 0);
    /* acme: 0.666666666667 + 2; idle: 0.333333333333 + 0.3 */
    ck_assert_str_eq(amount(a, "lb", "acme", "gateway", CS_ALLOCATE_DIRECT), "2.666666666667");
    ck_assert_str_eq(amount(a, "lb", "idle", "gateway", CS_ALLOCATE_IDLE), "0.633333333333");
    ck_assert_int_eq((int)cs_allocate_count(a), 2);
    cs_allocate_free(a);
    cs_rules_free(rs);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("allocate");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, worked_example);
    tcase_add_test(tc, idle_capacity);
    suite_add_tcase(s, tc);
    return s;
}
