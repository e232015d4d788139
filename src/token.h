/* token.h - bearer tokens for the report endpoints.
 *
 * A token reads "cst_<id>_<secret>": id is 12 hex digits (public, the row
 * key), secret 40 hex digits from the system's random source.  Only the
 * SHA-256 of the secret is stored; verification hashes the presented secret
 * and compares in constant time (OpenSSL's CRYPTO_memcmp).  Tokens are never
 * logged.
 */
#ifndef CS_TOKEN_H
#define CS_TOKEN_H

#include <stddef.h>

#define CS_TOKEN_ID_LEN 12
#define CS_TOKEN_SECRET_LEN 40
#define CS_TOKEN_LEN (4 + CS_TOKEN_ID_LEN + 1 + CS_TOKEN_SECRET_LEN)
#define CS_TOKEN_HASH_LEN 32

/* Makes a new token (NUL-terminated, CS_TOKEN_LEN chars), its id and the
 * hash to store.  0 or -errno (no randomness). */
int cs_token_generate(char token[CS_TOKEN_LEN + 1], char id[CS_TOKEN_ID_LEN + 1],
                      unsigned char hash[CS_TOKEN_HASH_LEN]);

/* Splits a presented token into id and the hash of its secret.  0, or
 * -EINVAL when it is not of the token's form. */
int cs_token_parse(const char *token, char id[CS_TOKEN_ID_LEN + 1],
                   unsigned char hash[CS_TOKEN_HASH_LEN]);

/* 1 if the two hashes are equal, compared in constant time. */
int cs_token_hash_equal(const unsigned char *a, const unsigned char *b);

#endif
