/* Unit tests for src/file.c's bill mapping: a plain file is mapped as it
 * is, a gzip file decompressed, a damaged one refused, the bound stops a
 * gzip bomb, an empty file maps to nothing and a directory is refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "file.h"
#include "unit.h"

static char dir[64];

/* A new directory for the test (check forks one process per test). */
static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/costream-test-file-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *name, const void *data, size_t len, char *path)
{
    sprintf(path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* data gzip-compressed, in a malloc'd buffer */
static unsigned char *gz(const char *data, size_t len, size_t *ret_len)
{
    z_stream z = {0};
    size_t cap = len + 1024;
    unsigned char *out = malloc(cap);
    ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)data;
    z.avail_in = (unsigned)len;
    z.next_out = out;
    z.avail_out = (unsigned)cap;
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    *ret_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

START_TEST(plain_gzip_damaged)
{
    char path[512], err[512];
    cs_file_map m;
    const char text[] = "BilledCost,BillingCurrency\r\n1,USD\r\n";
    write_file("plain.csv", text, strlen(text), path);
    ck_assert_int_eq(cs_file_map_maybe_gzip(path, 1 << 20, dir, &m, err, sizeof(err)), 0);
    ck_assert_uint_eq(m.len, strlen(text));
    ck_assert_mem_eq(m.data, text, m.len);
    cs_file_map_done(&m);
    size_t zlen;
    unsigned char *z = gz(text, strlen(text), &zlen);
    write_file("plain.csv.gz", z, zlen, path);
    ck_assert_int_eq(cs_file_map_maybe_gzip(path, 1 << 20, dir, &m, err, sizeof(err)), 0);
    ck_assert_uint_eq(m.len, strlen(text));
    ck_assert_mem_eq(m.data, text, m.len);
    cs_file_map_done(&m);
    write_file("cut.csv.gz", z, zlen - 6, path); /* truncated */
    ck_assert_int_eq(cs_file_map_maybe_gzip(path, 1 << 20, dir, &m, err, sizeof(err)), -EBADMSG);
    ck_assert(strstr(err, "not a valid gzip file") != NULL);
    free(z);
    write_file("empty.csv", "", 0, path);
    ck_assert_int_eq(cs_file_map_maybe_gzip(path, 1 << 20, dir, &m, err, sizeof(err)), 0);
    ck_assert_uint_eq(m.len, 0);
    cs_file_map_done(&m);
    ck_assert_int_eq(cs_file_map_maybe_gzip(dir, 1 << 20, dir, &m, err, sizeof(err)), -EISDIR);
}
END_TEST

START_TEST(bound)
{
    char path[512], err[512];
    cs_file_map m;
    size_t n = 8 << 20, zlen;
    char *zeros = calloc(1, n);
    memset(zeros, '0', n);
    unsigned char *z = gz(zeros, n, &zlen);
    write_file("bomb.csv.gz", z, zlen, path);
    ck_assert_int_eq(cs_file_map_maybe_gzip(path, 1 << 20, dir, &m, err, sizeof(err)), -EFBIG);
    ck_assert(strstr(err, "larger than allowed") != NULL);
    ck_assert_int_eq(cs_file_map_maybe_gzip(path, n, dir, &m, err, sizeof(err)), 0); /* exactly */
    ck_assert_uint_eq(m.len, n);
    ck_assert_mem_eq(m.data + n - 4, "0000", 4);
    cs_file_map_done(&m);
    write_file("big.csv", zeros, n, path);
    ck_assert_int_eq(cs_file_map_maybe_gzip(path, n - 1, dir, &m, err, sizeof(err)), -EFBIG);
    free(z);
    free(zeros);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("file");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, plain_gzip_damaged);
    tcase_add_test(tc, bound);
    suite_add_tcase(s, tc);
    return s;
}
