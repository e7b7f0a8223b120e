/* SPDX-License-Identifier: MIT */
/*
 * render.c — the renderer front (render.h): checks arguments once, for every implementation,
 * and calls through the implementation's ops table (render-internal.h). The implementations
 * may take their arguments as valid.
 */
#include "player/render.h"

#include <errno.h>
#include <string.h>

#include "player/render-internal.h"

int render_open(const struct render_options *opts, struct render **ret)
{
    if (!opts || !ret)
        return -EINVAL;
    const struct render_ops *ops;
    switch (opts->kind) {
    case RENDER_HEADLESS:
        ops = &render_headless_ops;
        break;
    case RENDER_MPV:
        ops = &render_mpv_ops;
        break;
    default:
        return -EINVAL;
    }
    if (!ops->open) /* an implementation this build leaves out */
        return -EOPNOTSUPP;
    return ops->open(opts, ret);
}

struct render *render_free(struct render *r)
{
    if (r)
        r->ops->free(r);
    return NULL;
}

int render_play(struct render *r, const struct render_item *item)
{
    if (!r || !item || !item->path || !*item->path || item->duration_ms < 0)
        return -EINVAL;
    if (item->type != MANIFEST_ITEM_IMAGE && item->type != MANIFEST_ITEM_VIDEO)
        return -EINVAL;
    return r->ops->play(r, item);
}

int render_show_pairing(struct render *r, const char *code, const struct render_qr *qr)
{
    if (!r || !code)
        return -EINVAL;
    if (qr && (qr->size <= 0 || !qr->modules))
        return -EINVAL;
    return r->ops->show_pairing(r, code, qr);
}

int render_show_error(struct render *r, const char *device_name, const char *reason)
{
    if (!r || !reason)
        return -EINVAL;
    return r->ops->show_error(r, device_name, reason);
}

void render_interrupt(struct render *r)
{
    if (r)
        r->ops->interrupt(r);
}

int render_kind_parse(const char *s, enum render_kind *ret)
{
    if (!s || !ret)
        return -EINVAL;
    if (strcmp(s, "headless") == 0)
        *ret = RENDER_HEADLESS;
    else if (strcmp(s, "mpv") == 0)
        *ret = RENDER_MPV;
    else
        return -EINVAL;
    return 0;
}
