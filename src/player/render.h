/* SPDX-License-Identifier: MIT */
/*
 * render.h — what marquee-player puts on the screen (spec §9, §28.4 PLAYING and ERROR_SCREEN,
 * §28.10 the pairing screen, §33.10; issue 8 "Playback"), behind one interface with two
 * implementations:
 *
 *   headless (render-headless.c) — no screen: appends a JSON-lines timeline that tests and
 *       benchmarks read, one object per line, written with a single write(2) each:
 *         {"t":<ms since the epoch, UTC>,"event":"start","assetId":…,"manifestEtag":…,
 *          "index":<item index>,"type":"IMAGE"|"VIDEO"}
 *         {"t":…,"event":"end","assetId":…,"manifestEtag":…,"index":…,"type":…,
 *          "outcome":"ended"|"interrupted"|"failed"}
 *         {"t":…,"event":"pairing","code":"K7PX-4MNC"}
 *         {"t":…,"event":"error_screen","deviceName":…,"reason":…}
 *       An image "plays" for its duration; a video for its manifest durationSeconds (at least
 *       one second), after checking that its file opens and is not empty.
 *   mpv (render-mpv.c) — libmpv, fullscreen, no OSC, no input: images shown for their
 *       duration, videos to their end, the manifest's orientation applied; the pairing screen
 *       is the QR code with the code under it, the error screen a card with the device name
 *       and "no content".
 *
 * Threading: one thread (the playback thread) calls every function but render_interrupt(),
 * which any other thread may call at any time (SIGTERM's handling, a command, a new manifest to
 * show at once). Not from a signal handler.
 *
 * Only verified files reach a renderer: the playback thread passes paths under DIR/assets/,
 * never a .part.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "player/manifest.h"

struct render;

enum render_kind {
    RENDER_HEADLESS,
    RENDER_MPV,
};

struct render_options {
    enum render_kind kind;
    const char *timeline_path; /* headless: where the timeline goes (required) */
    const char *data_dir;      /* scratch files (the pairing screen's image) go under render/ */
    bool fullscreen;           /* mpv: [true] */
};

struct render_item {
    const char *asset_id;
    const char *path; /* the verified file under DIR/assets/ */
    enum manifest_item_type type;
    int64_t duration_ms; /* an image's display time; a video's durationSeconds · 1000 (the
                          * headless renderer's play time; mpv plays a video to its end) */
    size_t index;        /* in the manifest's items */
    const char *manifest_etag;
    enum manifest_orientation orientation;
};

/** The pairing screen's QR code: @size × @size modules, row-major, 1 = dark. */
struct render_qr {
    int size;
    const unsigned char *modules;
};

/**
 * Opens a renderer. 0 and *ret, or a negative errno (-EINVAL: bad options, for mpv a NULL
 * data_dir among them; -ENODEV: mpv could not open a display or a video output; -EIO: the
 * timeline, or mpv's scratch directory DIR/render/, cannot be opened). *ret is untouched on failure.
 */
int render_open(const struct render_options *opts, struct render **ret);

/** Closes @r (NULL is fine): stops what plays, closes the window or the timeline. NULL. */
struct render *render_free(struct render *r);

/**
 * Plays one item and blocks until it ends: 0 (it ended: an image's duration passed, a video
 * reached its end), -ECANCELED (render_interrupt() cut it short), or another negative errno
 * (it could not be played: -ENOENT the file is missing, -EIO it failed to decode or show;
 * the caller skips it and emits PLAYBACK_FAILED). The previous item stays on screen until the
 * next one shows, so the screen is never blank between items.
 */
int render_play(struct render *r, const struct render_item *item);

/**
 * Shows the pairing screen (§28.10): @code ("K7PX-4MNC") and, when @qr is not NULL, its QR
 * code, until the next render_play(), render_show_error() or render_show_pairing(). Does not
 * block. 0 or a negative errno.
 */
int render_show_pairing(struct render *r, const char *code, const struct render_qr *qr);

/**
 * Shows the fallback card (§28.4 ERROR_SCREEN): @device_name (NULL or "": none known) and
 * "no content", with @reason for logs and the timeline. Does not block. 0 or a negative errno.
 */
int render_show_error(struct render *r, const char *device_name, const char *reason);

/**
 * Makes the render_play() in progress (or the next one to start, if none is in progress)
 * return -ECANCELED at once (within about 50 ms). Any thread.
 */
void render_interrupt(struct render *r);

/** "headless" / "mpv" → *ret. 0, or -EINVAL. */
int render_kind_parse(const char *s, enum render_kind *ret);
