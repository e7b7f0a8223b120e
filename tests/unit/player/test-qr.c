/* SPDX-License-Identifier: MIT */
/*
 * test-qr.c — the pairing QR code (qr.h). No decoder: the symbol is checked against what the
 * standard fixes whatever the data (ISO/IEC 18004): a size of 21 + 4k, the three finder patterns
 * with their separators, the timing patterns, the dark module, and two equal copies of a format
 * word that says error correction level M. qr_print()'s output is read back glyph by glyph into
 * modules and compared with the symbol.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../cmocka-prelude.h"
#include "macro.h"
#include "player/qr.h"

static int dark(const struct render_qr *q, int x, int y)
{
    return q->modules[(size_t)y * (size_t)q->size + (size_t)x];
}

/* The 7×7 finder with its top-left corner at (x0, y0): a dark ring, a light ring, a dark 3×3
 * centre; and its light separator, the module rows and columns between it and the data. */
static void assert_finder(const struct render_qr *q, int x0, int y0)
{
    for (int y = 0; y < 7; y++)
        for (int x = 0; x < 7; x++) {
            int ring = MIN(MIN(x, y), MIN(6 - x, 6 - y)); /* 0 outer … 3 centre */
            int want = ring == 1 ? 0 : 1;
            if (dark(q, x0 + x, y0 + y) != want)
                fail_msg("finder at (%d,%d): module (%d,%d) is %d", x0, y0, x, y, !want);
        }
    for (int i = -1; i <= 7; i++) {
        int sx[] = {x0 - 1, x0 + 7}, sy[] = {y0 - 1, y0 + 7};
        for (int k = 0; k < 2; k++) {
            if (sx[k] >= 0 && sx[k] < q->size && y0 + i >= 0 && y0 + i < q->size)
                assert_int_equal(dark(q, sx[k], y0 + i), 0);
            if (sy[k] >= 0 && sy[k] < q->size && x0 + i >= 0 && x0 + i < q->size)
                assert_int_equal(dark(q, x0 + i, sy[k]), 0);
        }
    }
}

/* The 15-bit format word of level M (its two bits are 00) with mask @mask: BCH(15,5) with the
 * generator x^10 + x^8 + x^5 + x^4 + x^2 + x + 1, then XOR 101010000010010. */
static unsigned format_word_m(unsigned mask)
{
    unsigned data = (0u << 3) | mask;
    unsigned rem = data << 10;
    for (int bit = 14; bit >= 10; bit--)
        if (rem & (1u << bit))
            rem ^= 0x537u << (bit - 10);
    return ((data << 10) | rem) ^ 0x5412u;
}

/* The two copies of the format word, bit 0 first: around the top-left finder, and split
 * between the top-right and bottom-left ones. */
static void read_format(const struct render_qr *q, unsigned *ret_a, unsigned *ret_b)
{
    unsigned a = 0, b = 0;
    for (int i = 0; i < 15; i++) {
        int x, y;
        if (i < 6)
            x = 8, y = i;
        else if (i == 6)
            x = 8, y = 7;
        else if (i == 7)
            x = 8, y = 8;
        else if (i == 8)
            x = 7, y = 8;
        else
            x = 14 - i, y = 8;
        a |= (unsigned)dark(q, x, y) << i;
        if (i < 8)
            x = q->size - 1 - i, y = 8;
        else
            x = 8, y = q->size - 15 + i;
        b |= (unsigned)dark(q, x, y) << i;
    }
    *ret_a = a;
    *ret_b = b;
}

static void assert_symbol(const struct render_qr *q)
{
    assert_true(q->size >= 21 && q->size <= 177);
    assert_int_equal((q->size - 21) % 4, 0);
    for (int i = 0; i < q->size * q->size; i++)
        assert_true(q->modules[i] == 0 || q->modules[i] == 1);
    assert_finder(q, 0, 0);
    assert_finder(q, q->size - 7, 0);
    assert_finder(q, 0, q->size - 7);
    /* timing patterns: row and column 6 alternate between the finders, dark on even */
    for (int i = 8; i < q->size - 8; i++) {
        assert_int_equal(dark(q, i, 6), i % 2 == 0);
        assert_int_equal(dark(q, 6, i), i % 2 == 0);
    }
    assert_int_equal(dark(q, 8, q->size - 8), 1); /* the dark module */
    unsigned a, b;
    read_format(q, &a, &b);
    assert_int_equal(a, b);
    bool level_m = false;
    for (unsigned mask = 0; mask < 8; mask++)
        level_m |= a == format_word_m(mask);
    if (!level_m)
        fail_msg("format word %#x is not one of level M", a);
}

static void test_encode_code(void **state)
{
    struct render_qr q = {0};
    assert_int_equal(qr_encode("K7PX-4MNC", &q), 0);
    assert_non_null(q.modules);
    assert_int_equal(q.size, 21); /* 9 bytes fit version 1 at level M (14 bytes) */
    assert_symbol(&q);
    /* the same text, the same symbol; another text, another one */
    struct render_qr again = {0}, other = {0};
    assert_int_equal(qr_encode("K7PX-4MNC", &again), 0);
    assert_int_equal(again.size, q.size);
    assert_memory_equal(again.modules, q.modules, (size_t)q.size * (size_t)q.size);
    assert_int_equal(qr_encode("K7PX-4MND", &other), 0);
    assert_int_equal(other.size, q.size);
    assert_memory_not_equal(other.modules, q.modules, (size_t)q.size * (size_t)q.size);
    qr_release(&q);
    assert_null(q.modules);
    assert_int_equal(q.size, 0);
    qr_release(&q); /* twice: fine */
    qr_release(&again);
    qr_release(&other);
    qr_release(NULL);
}

static void test_encode_sizes(void **state)
{
    /* a claim URL, the longest text taken, bytes that are not ASCII */
    char text[QR_TEXT_MAX + 2];
    const size_t lens[] = {1, 40, 100, QR_TEXT_MAX};
    int last = 0;
    for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
        memset(text, 'a' + (int)i, lens[i]);
        text[lens[i]] = '\0';
        struct render_qr q = {0};
        assert_int_equal(qr_encode(text, &q), 0);
        assert_symbol(&q);
        assert_true(q.size >= last); /* more data, a version at least as large */
        last = q.size;
        qr_release(&q);
    }
    struct render_qr q = {0};
    assert_int_equal(qr_encode("https://marquee.example/claim?code=K7PX-4MNC", &q), 0);
    assert_symbol(&q);
    qr_release(&q);
    assert_int_equal(qr_encode("caf\xc3\xa9 \xff\xfe", &q), 0);
    assert_symbol(&q);
    qr_release(&q);
}

static void test_encode_bad(void **state)
{
    unsigned char sentinel = 7;
    struct render_qr q = {.size = 99, .modules = &sentinel};
    assert_int_equal(qr_encode(NULL, &q), -EINVAL);
    assert_int_equal(qr_encode("", &q), -EINVAL);
    assert_int_equal(qr_encode("K7PX-4MNC", NULL), -EINVAL);
    char text[QR_TEXT_MAX + 2];
    memset(text, 'x', QR_TEXT_MAX + 1);
    text[QR_TEXT_MAX + 1] = '\0';
    assert_int_equal(qr_encode(text, &q), -EINVAL);
    /* untouched on failure */
    assert_int_equal(q.size, 99);
    assert_ptr_equal(q.modules, &sentinel);
}

/* ---- qr_print ------------------------------------------------------------------------------ */

/* Reads one glyph of @s into *@ret (bit 0: top half painted, bit 1: bottom); its length in
 * bytes, 0 for anything but the four glyphs qr_print() may use. */
static size_t glyph_read(const char *s, int *ret)
{
    if (s[0] == ' ') {
        *ret = 0;
        return 1;
    }
    if (strncmp(s, "\xe2\x96\x80", 3) == 0)
        *ret = 1;
    else if (strncmp(s, "\xe2\x96\x84", 3) == 0)
        *ret = 2;
    else if (strncmp(s, "\xe2\x96\x88", 3) == 0)
        *ret = 3;
    else
        return 0;
    return 3;
}

static void test_print(void **state)
{
    struct render_qr q = {0};
    assert_int_equal(qr_encode("K7PX-4MNC", &q), 0);
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    assert_non_null(f);
    assert_int_equal(qr_print(f, &q), 0);
    assert_int_equal(fclose(f), 0);

    const int side = q.size + 2 * QR_PRINT_QUIET;
    const int lines = (side + 1) / 2;
    int line = 0;
    for (char *p = out; *p; line++) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl); /* every line ends with a newline */
        assert_true(line < lines);
        int col = 0;
        while (p < nl) {
            int g = 0;
            size_t n = glyph_read(p, &g);
            if (n == 0)
                fail_msg("line %d: a byte %#x that is no half block or space", line,
                         (unsigned char)*p);
            assert_true(col < side);
            /* painted = light: the quiet zone, and the light modules of the symbol */
            for (int half = 0; half < 2; half++) {
                int x = col - QR_PRINT_QUIET, y = 2 * line + half - QR_PRINT_QUIET;
                bool want;
                if (y >= q.size + QR_PRINT_QUIET)
                    want = false; /* below the quiet zone: the terminal's own background */
                else if (x < 0 || y < 0 || x >= q.size || y >= q.size)
                    want = true;
                else
                    want = !dark(&q, x, y);
                if (((g >> half) & 1) != want)
                    fail_msg("line %d column %d: half %d is %d", line, col, half, !want);
            }
            p += n;
            col++;
        }
        assert_int_equal(col, side);
        p = nl + 1;
    }
    assert_int_equal(line, lines);
    free(out);
    qr_release(&q);
}

static void test_print_bad(void **state)
{
    struct render_qr q = {0};
    assert_int_equal(qr_print(stdout, NULL), -EINVAL);
    assert_int_equal(qr_print(stdout, &q), -EINVAL); /* empty */
    assert_int_equal(qr_encode("K7PX-4MNC", &q), 0);
    assert_int_equal(qr_print(NULL, &q), -EINVAL);
    /* a stream that cannot be written: the failure is reported, not swallowed */
    FILE *full = fopen("/dev/full", "we");
    if (full) {
        assert_int_equal(qr_print(full, &q), -EIO);
        fclose(full);
    }
    qr_release(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_code), cmocka_unit_test(test_encode_sizes),
        cmocka_unit_test(test_encode_bad),  cmocka_unit_test(test_print),
        cmocka_unit_test(test_print_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
