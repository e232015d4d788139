/* Unit tests for src/spool.c: what is written is read back from the
 * start of the descriptor, the bound refuses the write that would pass it
 * (and keeps what came before), the file has no name, and a spool that
 * was never taken closes its descriptor. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "unit.h"

START_TEST(write_take_read)
{
    cs_spool s;
    char block[1000], back[1000];
    ck_assert_int_eq(cs_spool_open(&s, "/tmp", 1 << 20), 0);
    for (int i = 0; i < 100; i++) {
        memset(block, 'a' + i % 26, sizeof(block));
        ck_assert_int_eq(cs_spool_write(&s, block, sizeof(block)), 0);
    }
    ck_assert_uint_eq(s.size, 100000);
    struct stat st;
    ck_assert_int_eq(fstat(s.fd, &st), 0);
    ck_assert_uint_eq(st.st_nlink, 0); /* no name: gone when closed */
    int fd = cs_spool_take(&s);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(s.fd, -1);
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(read(fd, back, sizeof(back)), (int)sizeof(back));
        memset(block, 'a' + i % 26, sizeof(block));
        ck_assert_mem_eq(back, block, sizeof(block));
    }
    ck_assert_int_eq(read(fd, back, 1), 0);
    close(fd);
    cs_spool_done(&s); /* taken: nothing to close */
}
END_TEST

START_TEST(bound)
{
    cs_spool s;
    char block[64] = {0};
    ck_assert_int_eq(cs_spool_open(&s, "/tmp", 100), 0);
    ck_assert_int_eq(cs_spool_write(&s, block, 64), 0);
    ck_assert_int_eq(cs_spool_write(&s, block, 36), 0); /* exactly the bound */
    ck_assert_int_eq(cs_spool_write(&s, block, 1), -EFBIG);
    ck_assert_uint_eq(s.size, 100);
    int fd = s.fd;
    cs_spool_done(&s);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1); /* closed */
    ck_assert_int_eq(cs_spool_open(&s, "/nonexistent-costream-dir", 100), -ENOENT);
    cs_spool_done(&s);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("spool");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, write_take_read);
    tcase_add_test(tc, bound);
    suite_add_tcase(s, tc);
    return s;
}
