/* Unit tests for src/flight.c: a batch handed to a flush while the next one
 * fills.  Another worker's row seen in the transaction takes the handed
 * batch's copy of an event back (once, also when the attempt is retried)
 * and keeps it out of the fingerprints stored; once stored, the sealed
 * fingerprints are stored ones, the row is merged and takes the next
 * batch's copy of its other event back, and the hour is known up to the
 * row the flush wrote.  A dropped flight forgets sealed and pending alike. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dedup.h"
#include "flight.h"
#include "unit.h"

#define H1 INT64_C(1793000000000000)

static cs_dec D(const char *s)
{
    cs_dec d;
    ck_assert_int_eq(cs_dec_parse(s, strlen(s), &d), 0);
    return d;
}

static unsigned char fps[8][16]; /* a..h */

static void setup(void)
{
    char id[2] = "a";
    for (int i = 0; i < 8; i++, id[0]++)
        cs_dedup_fingerprint("//s", id, fps[i]);
}

/* One event of customer c, quantity q (unit price 1, no discount), its
 * fingerprint fps[f] pending in d under its batch index. */
static void count(cs_dedup *d, cs_batch *b, const char *c, const char *q, int f)
{
    cs_agg_key k = {.hour_usec = H1, .customer = c, .product = "api", .meter = "calls",
                    .rule_id = "r", .rules_version = "v", .plan = "free", .currency = "USD",
                    .unit = "call", .unit_price = D("1"), .discount_rate = D("0")};
    size_t idx;
    ck_assert_int_eq(cs_dedup_check(d, H1, fps[f], cs_batch_events(b)), 1);
    ck_assert_int_eq(cs_batch_add(b, &k, D(q), D(q), D("0"), D(q), true, &idx), 0);
}

/* customer's quantity and events in b, as "quantity/events" */
static const char *row(cs_batch *b, const char *customer)
{
    static char out[64];
    cs_agg *agg = cs_batch_agg(b);
    for (size_t i = 0; i < cs_agg_count(agg); i++) {
        const cs_agg_row *r = cs_agg_row_at(agg, i);
        if (strcmp(r->key.customer, customer) == 0) {
            char q[CS_DEC_STRLEN];
            cs_dec_format(r->quantity, 0, q, sizeof(q));
            snprintf(out, sizeof(out), "%s/%lld", q, (long long)r->events);
            return out;
        }
    }
    return "none";
}

START_TEST(stored_while_the_next_batch_fills)
{
    cs_dedup *d = cs_dedup_new(1000);
    cs_batch *handed = cs_batch_new(), *next = cs_batch_new();
    ck_assert_int_eq(cs_dedup_mark_loaded(d, H1, 5), 0);
    count(d, handed, "A", "2", 0); /* a */
    count(d, handed, "B", "3", 1); /* b */
    count(d, handed, "C", "4", 2); /* c */
    cs_flight *f;
    ck_assert_int_eq(cs_flight_new(d, &f), 0);
    ck_assert_int_eq((int)cs_flight_nhours(f), 1);
    ck_assert(cs_flight_hours(f)[0] == H1 && cs_flight_known(f)[0] == 5 &&
              cs_flight_stored(f)[0] == 5);
    /* the next batch: a again (counted already, sealed), then d and e */
    ck_assert_int_eq(cs_dedup_check(d, H1, fps[0], 0), 0);
    count(d, next, "D", "5", 3); /* d */
    count(d, next, "E", "6", 4); /* e */
    /* the flusher's transaction reads another worker's row 7 holding b and e */
    unsigned char other[32];
    memcpy(other, fps[1], 16);
    memcpy(other + 16, fps[4], 16);
    ck_assert_int_eq(cs_flight_seen(f, handed, H1, other, 2, 7), 1); /* b, taken back now */
    ck_assert_str_eq(row(handed, "B"), "0/0");
    ck_assert_int_eq((int)cs_batch_duplicates(handed), 1);
    /* the attempt fails and is retried: the row is seen again, b stays out once */
    cs_flight_attempt(f);
    ck_assert_int_eq(cs_flight_seen(f, handed, H1, other, 2, 7), 0); /* nothing new */
    ck_assert_int_eq((int)cs_batch_duplicates(handed), 1);
    ck_assert_str_eq(row(handed, "A"), "2/1");
    ck_assert_str_eq(row(handed, "C"), "4/1");
    /* what it stores: a and c, not b */
    const unsigned char *fresh;
    size_t n;
    cs_flight_fresh(f, H1, &fresh, &n);
    ck_assert_int_eq((int)n, 2);
    bool has_a = false, has_c = false;
    for (size_t i = 0; i < n; i++) {
        has_a = has_a || memcmp(fresh + 16 * i, fps[0], 16) == 0;
        has_c = has_c || memcmp(fresh + 16 * i, fps[2], 16) == 0;
    }
    ck_assert(has_a && has_c);
    cs_flight_fresh(f, H1 + 1, &fresh, &n); /* an hour it has nothing for */
    ck_assert_int_eq((int)n, 0);
    /* stored as row 9: the next batch's e is taken back (the other worker has it) */
    cs_flight_stored(f)[0] = 9;
    ck_assert_int_eq(cs_flight_done(f, d, next), 1);
    ck_assert_str_eq(row(next, "E"), "0/0");
    ck_assert_str_eq(row(next, "D"), "5/1");
    int64_t seq;
    ck_assert(cs_dedup_loaded(d, H1, &seq) && seq == 9);
    for (int i = 0; i < 5; i++) /* a, b, c stored; d pending; e stored */
        ck_assert_int_eq(cs_dedup_check(d, H1, fps[i], 9), 0);
    int64_t hours[2];
    ck_assert_int_eq((int)cs_dedup_sealed_hours(d, hours, 2), 0);
    ck_assert_int_eq((int)cs_dedup_seal(d), 1); /* d: the next flight's only entry */
    cs_flight_free(f);
    cs_batch_free(handed);
    cs_batch_free(next);
    cs_dedup_free(d);
}
END_TEST

START_TEST(dropped_flight)
{
    cs_dedup *d = cs_dedup_new(1000);
    cs_batch *handed = cs_batch_new(), *next = cs_batch_new();
    ck_assert_int_eq(cs_dedup_mark_loaded(d, H1, 1), 0);
    count(d, handed, "A", "1", 5); /* f */
    cs_flight *f;
    ck_assert_int_eq(cs_flight_new(d, &f), 0);
    count(d, next, "B", "1", 6); /* g */
    /* fenced: both batches are dropped and will be read again */
    cs_dedup_discard(d);
    cs_flight_free(f);
    ck_assert_int_eq((int)cs_dedup_size(d), 0);
    ck_assert_int_eq(cs_dedup_check(d, H1, fps[5], 0), 1);
    ck_assert_int_eq(cs_dedup_check(d, H1, fps[6], 1), 1);
    /* nothing sealed: an empty flight */
    cs_dedup_discard(d);
    ck_assert_int_eq(cs_flight_new(d, &f), 0);
    ck_assert_int_eq((int)cs_flight_nhours(f), 0);
    ck_assert_int_eq(cs_flight_done(f, d, next), 0);
    cs_flight_free(f);
    cs_flight_free(NULL);
    cs_batch_free(handed);
    cs_batch_free(next);
    cs_dedup_free(d);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("flight");
    TCase *tc = tcase_create("core");
    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_add_test(tc, stored_while_the_next_batch_fills);
    tcase_add_test(tc, dropped_flight);
    suite_add_tcase(s, tc);
    return s;
}
