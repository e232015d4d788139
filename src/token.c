/* token.c - see token.h. */
#include "token.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "hex.h"

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int cs_token_generate(char token[CS_TOKEN_LEN + 1], char id[CS_TOKEN_ID_LEN + 1],
                      unsigned char hash[CS_TOKEN_HASH_LEN])
{
    unsigned char rnd[CS_TOKEN_ID_LEN / 2 + CS_TOKEN_SECRET_LEN / 2];
    char secret[CS_TOKEN_SECRET_LEN + 1];
    size_t got = 0;
    while (got < sizeof(rnd)) {
        ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    cs_hex_encode(rnd, CS_TOKEN_ID_LEN / 2, id);
    cs_hex_encode(rnd + CS_TOKEN_ID_LEN / 2, CS_TOKEN_SECRET_LEN / 2, secret);
    snprintf(token, CS_TOKEN_LEN + 1, "cst_%s_%s", id, secret);
    SHA256((const unsigned char *)secret, CS_TOKEN_SECRET_LEN, hash);
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(rnd, sizeof(rnd));
    return 0;
}

int cs_token_parse(const char *token, char id[CS_TOKEN_ID_LEN + 1],
                   unsigned char hash[CS_TOKEN_HASH_LEN])
{
    if (!token || strlen(token) != CS_TOKEN_LEN || strncmp(token, "cst_", 4) != 0 ||
        token[4 + CS_TOKEN_ID_LEN] != '_' || !is_hex(token + 4, CS_TOKEN_ID_LEN) ||
        !is_hex(token + 5 + CS_TOKEN_ID_LEN, CS_TOKEN_SECRET_LEN))
        return -EINVAL;
    memcpy(id, token + 4, CS_TOKEN_ID_LEN);
    id[CS_TOKEN_ID_LEN] = '\0';
    SHA256((const unsigned char *)token + 5 + CS_TOKEN_ID_LEN, CS_TOKEN_SECRET_LEN, hash);
    return 0;
}

int cs_token_hash_equal(const unsigned char *a, const unsigned char *b)
{
    return CRYPTO_memcmp(a, b, CS_TOKEN_HASH_LEN) == 0;
}
