/* SPDX-License-Identifier: MIT */
/* test-hash.c — SHA-256 hex against the FIPS 180-2 vectors, of buffers and of files (across
 * the reader's 1 MiB chunks), and HMAC-SHA256 against RFC 4231. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* FIPS 180-2: one million 'a' is the digest below; written to a file it spans the reader's
 * chunks, and the file offset must be left where it was. */
static void file_digest(void **state)
{
    char path[] = "/tmp/test-hash-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    for (int i = 0; i < 3; i++) /* 3 MB of 'a' — then truncate back to exactly 1 M */
        assert_int_equal(write(fd, a, 1000000), 1000000);
    assert_int_equal(ftruncate(fd, 1000000), 0);
    off_t before = lseek(fd, 0, SEEK_CUR);
    char hex[HASH_SHA256_HEX_LEN];
    uint64_t size = 0;
    assert_int_equal(hash_sha256_fd(fd, hex, &size), 0);
    assert_int_equal(size, 1000000);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    assert_int_equal(lseek(fd, 0, SEEK_CUR), before);
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(hash_sha256_fd(fd, hex, &size), 0);
    assert_int_equal(size, 0);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(hash_sha256_fd(-1, hex, NULL), -EBADF);
    close(fd);
    free(a);
}

/* RFC 4231 test cases 2 and 6 (a key longer than the block size) */
static void hmac_vectors(void **state)
{
    char hex[HASH_SHA256_HEX_LEN];
    const char *data = "what do ya want for nothing?";
    hash_hmac_sha256_hex("Jefe", 4, data, strlen(data), hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    unsigned char key[131];
    memset(key, 0xaa, sizeof(key));
    const char *big = "Test Using Larger Than Block-Size Key - Hash Key First";
    hash_hmac_sha256_hex(key, sizeof(key), big, strlen(big), hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_vectors),
        cmocka_unit_test(file_digest),
        cmocka_unit_test(hmac_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
