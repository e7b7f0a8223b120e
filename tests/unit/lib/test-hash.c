/* SPDX-License-Identifier: MIT */
/* test-hash.c — SHA-256 hex against the FIPS 180-2 test vectors. */
#include <string.h>

#include <sodium.h>

#include "../cmocka-prelude.h"
#include "hash.h"

static void known_vectors(void **state)
{
    char hex[HASH_SHA256_HEX_LEN];
    hash_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hash_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hash_sha256_hex(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(known_vectors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
