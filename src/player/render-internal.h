/* SPDX-License-Identifier: MIT */
/*
 * render-internal.h — how render.c dispatches to an implementation. Each implementation's
 * state begins with a struct render, whose ops points at its table; render.c checks arguments
 * and calls through.
 */
#pragma once

#include "player/render.h"

struct render_ops {
    int (*open)(const struct render_options *opts, struct render **ret);
    void (*free)(struct render *r);
    int (*play)(struct render *r, const struct render_item *item);
    int (*show_pairing)(struct render *r, const char *code, const struct render_qr *qr);
    int (*show_error)(struct render *r, const char *device_name, const char *reason);
    void (*interrupt)(struct render *r);
};

struct render {
    const struct render_ops *ops;
};

extern const struct render_ops render_headless_ops;
extern const struct render_ops render_mpv_ops;
