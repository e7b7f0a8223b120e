/* SPDX-License-Identifier: MIT */
/*
 * qr.h — the pairing screen's QR code (spec §8, §28.10): the pairing code as a QR symbol for the
 * renderers (struct render_qr, render.h) and for a terminal (`marquee-player pair` on a device
 * with no screen attached yet).
 *
 * What is encoded is the text it is given, byte for byte (8-bit mode, error correction level M:
 * 15% of the symbol may be unreadable, a smudged screen or a glare spot). Which text (the bare
 * code or a claim URL carrying it) is the caller's decision.
 *
 * Pure: no I/O but qr_print()'s stream. Reentrant.
 */
#pragma once

#include <stdio.h>

#include "player/render.h"

/** The longest text qr_encode() takes, in bytes: a code or a short URL, never a document. */
#define QR_TEXT_MAX 256

/**
 * Encodes @text (1…QR_TEXT_MAX bytes, NUL-terminated) into *@ret: the smallest QR version that
 * holds it, size × size modules (size = 21 + 4·(version − 1)), row-major, 1 = dark, 0 = light,
 * without the quiet zone (the light margin a reader needs; drawing it is the drawer's job).
 * 0, -EINVAL (@text NULL, empty or too long, @ret NULL) or -ENOMEM. *@ret is untouched on
 * failure; on success release it with qr_release().
 */
int qr_encode(const char *text, struct render_qr *ret);

/** Frees what qr_encode() allocated and zeroes @q. NULL, or a zeroed struct, is fine. */
void qr_release(struct render_qr *q);

/**
 * Prints @q to @f for a terminal: two module rows per line with the Unicode half blocks
 * (U+2580 ▀, U+2584 ▄, U+2588 █) and spaces, UTF-8, inside a quiet zone of QR_PRINT_QUIET
 * modules, so (size + 2·QR_PRINT_QUIET + 1) / 2 lines of size + 2·QR_PRINT_QUIET characters.
 *
 * A terminal draws its characters in a light colour on a dark background (the Linux console,
 * most terminal themes): so the glyphs paint the light modules and the quiet zone, and the dark
 * modules are the background showing through. No colour escapes, so the output survives a log
 * file or a serial console; on a light-themed terminal it comes out inverted, which many phone
 * readers still decode but not all.
 *
 * 0, -EINVAL (@f or @q NULL, @q empty) or -EIO (the stream failed).
 */
int qr_print(FILE *f, const struct render_qr *q);

/** The quiet zone qr_print() draws, in modules (the standard asks 4; 2 reads fine on a screen). */
#define QR_PRINT_QUIET 2
