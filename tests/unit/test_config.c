/* Unit tests for src/config.c: keys, kafka.* passthrough, quoting, comments,
 * and errors naming file, line and key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

static char path[64];

static void write_file(const char *text)
{
    snprintf(path, sizeof(path), "/tmp/cs-config-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq((int)write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);
}

START_TEST(loads)
{
    write_file("# comment\n"
               "topics = a, b ,c\n"
               "postgres = \"host=/tmp dbname=x\"\n"
               "kafka.bootstrap.servers = 127.0.0.1:9092  # trailing comment\n"
               "kafka.security.protocol = plaintext\n"
               "flush.interval_ms = 500\n"
               "labels.order = namespace,api_key\n"
               "events.format = msgpack\n");
    cs_config cfg;
    cs_errlist errs = {0};
    ck_assert_int_eq(cs_config_init(&cfg), 0);
    ck_assert_int_eq(cs_config_load(&cfg, path, &errs), 0);
    ck_assert_int_eq((int)cfg.ntopics, 3);
    ck_assert_str_eq(cfg.topics[1], "b");
    ck_assert_str_eq(cfg.postgres, "host=/tmp dbname=x");
    ck_assert_int_eq((int)cfg.nkafka, 2);
    ck_assert_str_eq(cfg.kafka[0].key, "bootstrap.servers");
    ck_assert_str_eq(cfg.kafka[0].value, "127.0.0.1:9092");
    ck_assert_int_eq(cfg.flush_interval_ms, 500);
    ck_assert_str_eq(cfg.label_order[0], "namespace");
    ck_assert_int_eq(cfg.format, CS_EVENT_FORMAT_MSGPACK);
    ck_assert_str_eq(cfg.group, "costream"); /* default kept */
    ck_assert_int_eq(cs_config_set(&cfg, "kafka.bootstrap.servers", "h:1", "--set", &errs), 0);
    ck_assert_str_eq(cfg.kafka[0].value, "h:1");
    cs_config_free(&cfg);
    unlink(path);
}
END_TEST

START_TEST(errors)
{
    write_file("group = g\n"
               "flush.interval_ms = soon\n"
               "no equals sign\n"
               "colour = blue\n"
               "start_offset = middle\n");
    cs_config cfg;
    cs_errlist errs = {0};
    cs_config_init(&cfg);
    ck_assert_int_lt(cs_config_load(&cfg, path, &errs), 0);
    ck_assert_int_eq((int)errs.n, 4);
    char want[128];
    snprintf(want, sizeof(want), "%s:2: flush.interval_ms: \"soon\" is not a whole number", path);
    ck_assert_msg(strstr(errs.items[0], want) == errs.items[0], "%s", errs.items[0]);
    snprintf(want, sizeof(want), "%s:3: expected \"key = value\"", path);
    ck_assert_str_eq(errs.items[1], want);
    snprintf(want, sizeof(want), "%s:4: colour: unknown key", path);
    ck_assert_str_eq(errs.items[2], want);
    snprintf(want, sizeof(want), "%s:5: start_offset:", path);
    ck_assert(strstr(errs.items[3], want) == errs.items[3]);
    ck_assert_str_eq(cfg.group, "g");
    cs_errlist_free(&errs);
    cs_config_free(&cfg);
    unlink(path);
}
END_TEST

START_TEST(hostile_files)
{
    cs_config cfg;
    cs_errlist errs = {0};
    cs_config_init(&cfg);
    ck_assert_int_eq(cs_config_load(&cfg, "/dev/zero", &errs), -EFBIG);
    ck_assert_msg(strstr(errs.items[0], "/dev/zero: larger than") == errs.items[0], "%s", errs.items[0]);
    cs_errlist_free(&errs);
    ck_assert_int_eq(cs_config_load(&cfg, "/tmp", &errs), -EISDIR);
    ck_assert_msg(strstr(errs.items[0], "/tmp: is a directory") == errs.items[0], "%s", errs.items[0]);
    cs_errlist_free(&errs);
    /* a NUL byte in a value, a port out of range, a signed port */
    char text[] = "group = ab\0cd\nserve.listen = 127.0.0.1:99999\nhttp.listen = :+80\n"
                  "serve.listen = 127.0.0.1:8443\n";
    snprintf(path, sizeof(path), "/tmp/cs-config-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_eq((int)write(fd, text, sizeof(text) - 1), (int)sizeof(text) - 1);
    close(fd);
    ck_assert_int_eq(cs_config_load(&cfg, path, &errs), -EINVAL);
    ck_assert_int_eq((int)errs.n, 3);
    char want[128];
    snprintf(want, sizeof(want), "%s:1: contains a NUL byte", path);
    ck_assert_str_eq(errs.items[0], want);
    ck_assert(strstr(errs.items[1], ":2: serve.listen: \"127.0.0.1:99999\" is not host:port") != NULL);
    ck_assert(strstr(errs.items[2], ":3: http.listen:") != NULL);
    ck_assert_str_eq(cfg.serve_listen, "127.0.0.1:8443");
    cs_errlist_free(&errs);
    cs_config_free(&cfg);
    unlink(path);
}
END_TEST

/* Listen addresses: one port, a range for several workers on a host. */
START_TEST(listen_ranges)
{
    char host[64];
    int lo, hi;
    ck_assert_int_eq(cs_config_listen_range("127.0.0.1:9464-9473", host, sizeof(host), &lo, &hi), 0);
    ck_assert(strcmp(host, "127.0.0.1") == 0 && lo == 9464 && hi == 9473);
    ck_assert_int_eq(cs_config_listen_range("[::1]:80", host, sizeof(host), &lo, &hi), 0);
    ck_assert(strcmp(host, "[::1]") == 0 && lo == 80 && hi == 80);
    ck_assert_int_eq(cs_config_listen_range(":0", host, sizeof(host), &lo, &hi), 0);
    static const char *const bad[] = {"h:9473-9464", "h:0-5", "h:1-", "h:-1", "h:+80", "h:70000",
                                      "h:1-70000", "h:", "h", "h:1x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(cs_config_listen_range(bad[i], host, sizeof(host), &lo, &hi) == -EINVAL, "%s",
                      bad[i]);
    cs_config cfg;
    ck_assert_int_eq(cs_config_init(&cfg), 0);
    ck_assert_str_eq(cfg.http_listen, "127.0.0.1:9464-9473");
    cs_config_free(&cfg);
}
END_TEST

/* redis.url: host, port, db, user and password (percent-decoded), unix
 * sockets; TLS and malformed URLs refused with the file and line. */
START_TEST(redis_urls)
{
    cs_config cfg;
    cs_errlist errs = {0};
    ck_assert_int_eq(cs_config_init(&cfg), 0);
    ck_assert_int_eq(cs_config_redis_url(&cfg, "redis://ops:p%40ss%3Aw@redis.internal:6380/3", "c:1", &errs), 0);
    ck_assert_str_eq(cfg.redis_host, "redis.internal");
    ck_assert_int_eq(cfg.redis_port, 6380);
    ck_assert_int_eq(cfg.redis_db, 3);
    ck_assert_str_eq(cfg.redis_username, "ops");
    ck_assert_str_eq(cfg.redis_password, "p@ss:w");
    ck_assert_int_eq(cs_config_redis_url(&cfg, "redis://:secret@10.0.0.5", "c:1", &errs), 0);
    ck_assert(cfg.redis_username == NULL && strcmp(cfg.redis_password, "secret") == 0);
    ck_assert(strcmp(cfg.redis_host, "10.0.0.5") == 0 && cfg.redis_port == 6379 && cfg.redis_db == 0);
    ck_assert_int_eq(cs_config_redis_url(&cfg, "unix://:pw@/run/redis/redis.sock?db=2", "c:1", &errs), 0);
    ck_assert(strcmp(cfg.redis_socket, "/run/redis/redis.sock") == 0 && cfg.redis_db == 2);
    ck_assert_int_eq(cs_config_redis_url(&cfg, "redis://localhost/", "c:1", &errs), 0);
    ck_assert(cfg.redis_socket == NULL && cfg.redis_password == NULL); /* a URL says it all */
    ck_assert_int_eq(errs.n, 0);
    static const char *const bad[] = {"redis://", "redis://h:0", "redis://h:70000", "redis://h:12x",
                                      "redis://h/x", "redis://h/2000", "redis://:%4@h", "redis://:%00@h",
                                      "http://h", "unix://relative.sock", "redis://h?x=1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(cs_config_redis_url(&cfg, bad[i], "c:1", &errs) == -EINVAL, "%s", bad[i]);
    ck_assert_int_eq(cs_config_redis_url(&cfg, "rediss://h:6380", "costream.conf:7", &errs), -EINVAL);
    ck_assert(strstr(errs.items[errs.n - 1], "costream.conf:7: redis.url: rediss:// (TLS)") != NULL);
    ck_assert(strstr(errs.items[0], "c:1: redis.url: \"redis://\" is not") != NULL);
    cs_errlist_free(&errs);
    cs_config_free(&cfg);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, loads);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, hostile_files);
    tcase_add_test(tc, listen_ranges);
    tcase_add_test(tc, redis_urls);
    suite_add_tcase(s, tc);
    return s;
}
