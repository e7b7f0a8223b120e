/* SPDX-License-Identifier: MIT */
/*
 * qr.c — the pairing QR code (qr.h), on libqrencode.
 *
 * libqrencode's symbol keeps more than the colour in each byte (bit 0 is dark, the others say
 * which function pattern a module belongs to); the renderers only want the colour, so
 * qr_encode() copies bit 0 into an array of its own and frees libqrencode's at once.
 */
#include "player/qr.h"

#include <errno.h>
#include <qrencode.h>
#include <stdbool.h>
#include <string.h>

#include "macro.h"

int qr_encode(const char *text, struct render_qr *ret)
{
    if (!text || !ret)
        return -EINVAL;
    size_t len = strnlen(text, QR_TEXT_MAX + 1);
    if (len == 0 || len > QR_TEXT_MAX)
        return -EINVAL;

    /* version 0: the smallest that holds it; 8-bit mode so any byte is taken as it is */
    errno = 0;
    QRcode *code = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
    if (!code)
        return errno == ENOMEM ? -ENOMEM : -EINVAL;
    size_t n = (size_t)code->width * (size_t)code->width;
    unsigned char *modules = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        modules[i] = code->data[i] & 1;
    *ret = (struct render_qr){.size = code->width, .modules = modules};
    QRcode_free(code);
    return 0;
}

void qr_release(struct render_qr *q)
{
    if (!q)
        return;
    free((void *)q->modules);
    *q = (struct render_qr){0};
}

/* Whether the terminal paints (x, y), in module coordinates with the symbol at 0…size − 1:
 * the light modules and the quiet zone do; the dark modules and whatever lies beyond the quiet
 * zone are the terminal's background. */
static bool painted(const struct render_qr *q, int x, int y)
{
    if (x < -QR_PRINT_QUIET || y < -QR_PRINT_QUIET || x >= q->size + QR_PRINT_QUIET ||
        y >= q->size + QR_PRINT_QUIET)
        return false;
    if (x < 0 || y < 0 || x >= q->size || y >= q->size)
        return true;
    return !q->modules[(size_t)y * (size_t)q->size + (size_t)x];
}

int qr_print(FILE *f, const struct render_qr *q)
{
    if (!f || !q || q->size <= 0 || !q->modules)
        return -EINVAL;
    static const char *const glyph[4] = {
        " ",            /* neither half */
        "\xe2\x96\x80", /* U+2580 upper half block */
        "\xe2\x96\x84", /* U+2584 lower half block */
        "\xe2\x96\x88", /* U+2588 full block */
    };
    for (int y = -QR_PRINT_QUIET; y < q->size + QR_PRINT_QUIET; y += 2) {
        for (int x = -QR_PRINT_QUIET; x < q->size + QR_PRINT_QUIET; x++)
            fputs(glyph[painted(q, x, y) | painted(q, x, y + 1) << 1], f);
        fputc('\n', f);
    }
    return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}
