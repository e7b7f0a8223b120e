/* SPDX-License-Identifier: MIT */
/*
 * render-mpv.c — the renderer for a real screen (render.h), on libmpv.
 *
 * DESIGN. One mpv instance for the renderer's life, idle, with a window that exists from the
 * start and never closes (force-window): each item goes into it with `loadfile … replace`, and
 * mpv keeps the last frame of one item up until the first frame of the next is drawn, so the
 * screen does not go black between items. keep-open makes a video that ends stay on its last
 * frame, and image-display-duration=inf makes an image stay until replaced: how long an image
 * shows is timed here, on the monotonic clock, from the moment mpv has loaded it.
 *
 * No thread of ours listens to mpv. The playback thread, which makes every call but
 * render_interrupt(), drives mpv's event queue itself: render_play() loads the item and reads
 * events until it ends; render_show_*() load their screen and return, and the events they cause
 * wait in the queue for the next call, which drains them (forwarding mpv's log lines). Events of
 * an earlier item can therefore turn up during a later one: every item is known by the playlist
 * entry id `loadfile` returns, and events of another entry are ignored. render_interrupt() sets
 * an atomic flag and wakes lib.wait_event() with lib.wakeup(), the one libmpv call made for
 * another thread's sake; a wakeup that finds no wait in progress makes the next wait return at
 * once, so an interrupt is never lost between the flag test and the wait.
 *
 * The pairing screen and the error card are images this file writes (binary netpbm: a header
 * and the pixels, nothing to encode) under DATA/render/ (not tmp/, which the cache owns and
 * sweeps), with their text drawn over them by mpv's OSD (an osd-overlay of ASS events, in a
 * 1280×720 frame mpv scales to the window). The overlay is taken down when the next item has
 * loaded, so it never shows over content.
 *
 * The video output is mpv's x11 VO, measured under Xvfb (no GPU) on Debian 12 with libmpv
 * 0.35: "gpu" refuses Mesa's software rasteriser (and, under ASan, its probe leaks memory from a
 * driver Mesa has already unloaded, which no suppression can name), "xv" fails for want of the
 * XVideo extension, x11 works, images and video alike. x11 scales in software; a device with a
 * working GPU would do better with "gpu,x11", a choice render_options does not offer yet.
 * No audio: the spec sets no volume or audio policy for a shared screen, so no audio device is
 * opened and no audio is decoded.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <mpv/client.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "fsx.h"
#include "jsonx.h"
#include "log.h"
#include "macro.h"
#include "player/render-internal.h"

#define MPV_VO "x11"

/*
 * libmpv is opened when an mpv renderer is, not linked: linked, its 240-odd libraries (X11,
 * FFmpeg, Lua, …) are mapped and relocated in every marquee-player, the headless ones too —
 * measured on Debian 12, 50 MB of idle RSS instead of 13, and a cold start 100 ms slower.
 * The symbols are those of client API 2.0 (libmpv.so.2), resolved once.
 */
static struct {
    mpv_handle *(*create)(void);
    int (*initialize)(mpv_handle *);
    void (*terminate_destroy)(mpv_handle *);
    int (*set_option_string)(mpv_handle *, const char *, const char *);
    int (*command_node)(mpv_handle *, mpv_node *, mpv_node *);
    void (*free_node_contents)(mpv_node *);
    int (*get_property)(mpv_handle *, const char *, mpv_format, void *);
    int (*observe_property)(mpv_handle *, uint64_t, const char *, mpv_format);
    int (*unobserve_property)(mpv_handle *, uint64_t);
    int (*request_log_messages)(mpv_handle *, const char *);
    mpv_event *(*wait_event)(mpv_handle *, double);
    void (*wakeup)(mpv_handle *);
} lib;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static bool lib_ok;

static void lib_load(void)
{
    void *h = dlopen("libmpv.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        log_msg(LOG_ERROR, "render.mpv", "cannot load libmpv.so.2: %s", dlerror());
        return;
    }
#define SYM(f)                                                                                     \
    if (!(*(void **)&lib.f = dlsym(h, "mpv_" #f))) {                                               \
        log_msg(LOG_ERROR, "render.mpv", "libmpv.so.2 has no mpv_%s", #f);                         \
        return;                                                                                    \
    }
    SYM(create)
    SYM(initialize)
    SYM(terminate_destroy)
    SYM(set_option_string)
    SYM(command_node) SYM(free_node_contents) SYM(get_property) SYM(observe_property)
        SYM(unobserve_property) SYM(request_log_messages) SYM(wait_event) SYM(wakeup)
#undef SYM
            lib_ok = true; /* the handle stays open for the process's life */
}

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S  INT64_C(1000000000)

/* How long render_open() waits for mpv's window, and render_play() for a file to load: local
 * files load in milliseconds; these only bound a hung X server or a stuck demuxer. */
#define OPEN_TIMEOUT_NS (10 * NS_PER_S)
#define LOAD_TIMEOUT_NS (30 * NS_PER_S)
/* A video that has not reached its end this long after its length is taken as stuck. */
#define VIDEO_SLACK_NS (30 * NS_PER_S)
/* The longest single lib.wait_event(): interrupts wake it at once; this bounds the rest. */
#define WAIT_SLICE_NS (250 * NS_PER_MS)

/* The frame the pairing screen and the error card are laid out in (16:9, as most screens). */
#define CANVAS_W 1280
#define CANVAS_H 720
/* The pairing screen: the QR code with its quiet zone in a square of at most QR_BOX px, QR_TOP
 * from the top, the code centred in the band under it. */
#define QR_QUIET 4 /* modules, what the standard asks */
#define QR_BOX   520
#define QR_TOP   40
/* The error card is one flat colour, so a small image mpv scales up does. */
#define CARD_W    160
#define CARD_H    90
#define CARD_GREY 0x1c

#define OVERLAY_ID  1
#define OVERLAY_MAX 4096 /* bytes of ASS text */
#define TEXT_MAX    128  /* bytes of a code or a device name shown */

enum {
    OBS_EOF = 1,  /* eof-reached: a video at its end (keep-open holds its last frame) */
    OBS_VO_READY, /* vo-configured: the window is up */
};

struct render_mpv {
    struct render base; /* first: what render.c sees */
    mpv_handle *mpv;
    atomic_bool interrupted;
    bool dead;     /* mpv shut down (its core quit): every call fails */
    bool overlay;  /* a text overlay is up */
    char *tmp_dir; /* DATA/render */
    char *pairing_path, *card_path;
};

static struct render_mpv *to_mpv(struct render *r)
{
    return (struct render_mpv *)r;
}

static int mpv_errno(int error)
{
    return error == MPV_ERROR_NOMEM ? -ENOMEM : -EIO;
}

/* ---- mpv's log and events ------------------------------------------------------------------ */

/* mpv's own log lines (warn and worse, as requested at open) go to ours, one line each. */
static void log_forward(const mpv_event_log_message *msg)
{
    enum log_level level = msg->log_level <= MPV_LOG_LEVEL_ERROR ? LOG_ERROR : LOG_WARN;
    if (!log_enabled(level))
        return;
    size_t n = strlen(msg->text);
    while (n > 0 && (msg->text[n - 1] == '\n' || msg->text[n - 1] == '\r'))
        n--;
    if (n == 0)
        return;
    _cleanup_free_ char *text = xstrndup(msg->text, n);
    json_t *fields = json_object();
    json_object_set_new(fields, "module", jsonx_string_lossy(msg->prefix));
    json_object_set_new(fields, "mpvLevel", jsonx_string_lossy(msg->level));
    json_object_set_new(fields, "message", jsonx_string_lossy(text));
    log_json(level, "render.mpv", fields);
}

/* Handles what every loop over mpv's events handles alike: log lines and mpv's shutdown.
 * True when the event is consumed by that. */
static bool event_common(struct render_mpv *m, const mpv_event *e)
{
    switch (e->event_id) {
    case MPV_EVENT_LOG_MESSAGE:
        log_forward(e->data);
        return true;
    case MPV_EVENT_SHUTDOWN:
        m->dead = true;
        return true;
    default:
        return false;
    }
}

/* Reads whatever events are queued, without waiting. */
static void events_drain(struct render_mpv *m)
{
    for (;;) {
        mpv_event *e = lib.wait_event(m->mpv, 0);
        if (e->event_id == MPV_EVENT_NONE)
            return;
        event_common(m, e);
    }
}

static double ns_to_s(int64_t ns)
{
    return (double)ns / (double)NS_PER_S;
}

static bool flag_event(const mpv_event *e, uint64_t which)
{
    const mpv_event_property *p = e->data;
    return e->event_id == MPV_EVENT_PROPERTY_CHANGE && e->reply_userdata == which &&
           p->format == MPV_FORMAT_FLAG && *(const int *)p->data;
}

/* ---- commands ------------------------------------------------------------------------------ */

static mpv_node node_str(const char *s)
{
    return (mpv_node){.format = MPV_FORMAT_STRING, .u.string = (char *)s};
}

static mpv_node node_int(int64_t v)
{
    return (mpv_node){.format = MPV_FORMAT_INT64, .u.int64 = v};
}

/* Runs a command given with named arguments. 0 or a negative errno; *@ret_result (may be
 * NULL) is the command's result, to lib.free_node_contents(). */
static int command_named(struct render_mpv *m, char **keys, mpv_node *values, int n,
                         mpv_node *ret_result)
{
    mpv_node_list list = {.num = n, .values = values, .keys = keys};
    mpv_node cmd = {.format = MPV_FORMAT_NODE_MAP, .u.list = &list};
    mpv_node result;
    int r = lib.command_node(m->mpv, &cmd, &result);
    if (r < 0)
        return mpv_errno(r);
    if (ret_result)
        *ret_result = result;
    else
        lib.free_node_contents(&result);
    return 0;
}

/*
 * Replaces what plays with @path, with @options (per-file options, "name=value,…", or NULL)
 * applying to it alone. *@ret_id: its playlist entry id, what its events carry.
 */
static int loadfile(struct render_mpv *m, const char *path, const char *options, int64_t *ret_id)
{
    /* A relative path that looks like "proto://…" would be taken for a URL: anchor it. */
    _cleanup_free_ char *url = path[0] == '/' ? xstrdup(path) : xasprintf("./%s", path);
    char *keys[] = {"name", "url", "flags", "options"};
    mpv_node values[] = {node_str("loadfile"), node_str(url), node_str("replace"),
                         node_str(options ? options : "")};
    mpv_node result;
    int r = command_named(m, keys, values, (int)ARRAY_SIZE(values), &result);
    if (r < 0)
        return r;
    int64_t id = -1;
    if (result.format == MPV_FORMAT_NODE_MAP)
        for (int i = 0; i < result.u.list->num; i++)
            if (strcmp(result.u.list->keys[i], "playlist_entry_id") == 0 &&
                result.u.list->values[i].format == MPV_FORMAT_INT64)
                id = result.u.list->values[i].u.int64;
    lib.free_node_contents(&result);
    if (id < 0) /* a libmpv older than 0.35 is not supported (meson asks for it) */
        return -EIO;
    *ret_id = id;
    return 0;
}

/* Puts @ass (ASS events, one per line, in the CANVAS_W × CANVAS_H frame) over the screen. */
static int overlay_set(struct render_mpv *m, const char *ass)
{
    char *keys[] = {"name", "id", "format", "data", "res_x", "res_y"};
    mpv_node values[] = {node_str("osd-overlay"), node_int(OVERLAY_ID), node_str("ass-events"),
                         node_str(ass),           node_int(CANVAS_W),   node_int(CANVAS_H)};
    int r = command_named(m, keys, values, (int)ARRAY_SIZE(values), NULL);
    if (r < 0)
        return r;
    m->overlay = true;
    return 0;
}

static void overlay_clear(struct render_mpv *m)
{
    if (!m->overlay)
        return;
    char *keys[] = {"name", "id", "format", "data"};
    mpv_node values[] = {node_str("osd-overlay"), node_int(OVERLAY_ID), node_str("none"),
                         node_str("")};
    if (command_named(m, keys, values, (int)ARRAY_SIZE(values), NULL) == 0)
        m->overlay = false;
}

/*
 * Appends at most TEXT_MAX bytes of @s to @b as ASS text: '{' and '}' would open and close an
 * override block and '\' start an escape ("\N", "\h"), so braces are escaped and a backslash is
 * followed by U+2060 WORD JOINER, which shows as nothing but keeps it from pairing with what
 * comes next; control characters become spaces. Never cuts a UTF-8 sequence in two.
 */
static int ass_append_text(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    if (n > TEXT_MAX) {
        n = TEXT_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) /* s[n] continues a sequence */
            n--;
    }
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\')
            r = buf_append_str(b, "\\\xe2\x81\xa0");
        else if (c == '{' || c == '}')
            r = buf_append(b, (char[]){'\\', (char)c}, 2);
        else if (c < 0x20 || c == 0x7f)
            r = buf_append_str(b, " ");
        else
            r = buf_append(b, &s[i], 1);
    }
    return r;
}

/* One ASS event: @text centred on (x, y) in @size px, @colour (ASS &HBBGGRR&) with an outline
 * of @border px in @outline. */
static int ass_append_line(struct buf *b, int x, int y, int size, const char *colour, int border,
                           const char *outline, const char *text)
{
    char head[160];
    snprintf(head, sizeof(head), "{\\an5\\pos(%d,%d)\\fs%d\\1c%s\\3c%s\\bord%d\\shad0}", x, y, size,
             colour, outline, border);
    int r = buf_append_str(b, head);
    if (r == 0)
        r = ass_append_text(b, text);
    if (r == 0)
        r = buf_append_str(b, "\n");
    return r;
}

/* ---- scratch images ------------------------------------------------------------------------ */

/*
 * A binary netpbm image of @w × @h pixels, header included, every pixel @fill: PGM (P5, one
 * grey byte a pixel) when @channels is 1, PPM (P6, RGB) when 3. The pixels begin at
 * *@ret_pixels (if not NULL). mpv (FFmpeg) takes a grey image for limited-range video, which
 * stretches 16…235 to 0…255: pure black and white survive that, a grey does not, so only
 * black-and-white images are written as PGM.
 */
static unsigned char *netpbm_new(int w, int h, int channels, const unsigned char *fill,
                                 size_t *ret_len, unsigned char **ret_pixels)
{
    char header[32];
    int hn = snprintf(header, sizeof(header), "P%c\n%d %d\n255\n", channels == 1 ? '5' : '6', w, h);
    size_t n = (size_t)w * (size_t)h;
    unsigned char *p = xmalloc((size_t)hn + n * (size_t)channels);
    memcpy(p, header, (size_t)hn);
    unsigned char *px = p + hn;
    for (size_t i = 0; i < n; i++)
        memcpy(px + i * (size_t)channels, fill, (size_t)channels);
    *ret_len = (size_t)hn + n * (size_t)channels;
    if (ret_pixels)
        *ret_pixels = px;
    return p;
}

/* The screens' images are written with fsx_write_atomic(), not durable (scratch files), so mpv
 * never reads half a file (it may still be reading the previous one: it keeps the old inode). */

/* The pairing screen's image: white, with @qr (if any) black in its quiet zone. Its layout
 * (where the code goes) in *@ret_text_y and *@ret_text_size. */
static int pairing_image_write(struct render_mpv *m, const struct render_qr *qr, int *ret_text_y,
                               int *ret_text_size)
{
    size_t len;
    unsigned char *px;
    _cleanup_free_ unsigned char *pgm =
        netpbm_new(CANVAS_W, CANVAS_H, 1, (const unsigned char[]){0xff}, &len, &px);
    if (qr) {
        int total = qr->size + 2 * QR_QUIET;
        int scale = MAX(1, QR_BOX / total);
        int x0 = (CANVAS_W - total * scale) / 2 + QR_QUIET * scale;
        int y0 = QR_TOP + (QR_BOX - total * scale) / 2 + QR_QUIET * scale;
        for (int y = 0; y < qr->size * scale && y0 + y < CANVAS_H; y++)
            for (int x = 0; x < qr->size * scale && x0 + x < CANVAS_W; x++)
                if (qr->modules[(size_t)(y / scale) * (size_t)qr->size + (size_t)(x / scale)])
                    px[(size_t)(y0 + y) * CANVAS_W + (size_t)(x0 + x)] = 0;
        *ret_text_y = (QR_TOP + QR_BOX + CANVAS_H) / 2;
        *ret_text_size = 72;
    } else {
        *ret_text_y = CANVAS_H / 2;
        *ret_text_size = 120;
    }
    return fsx_write_atomic(m->pairing_path, pgm, len, 0600, false);
}

/* ---- the ops ------------------------------------------------------------------------------- */

static void mpv_render_free(struct render *r);

/* Options set before lib.initialize(). The required ones make the renderer what render.h
 * says; the others only keep mpv from doing what a signage screen has no use for (and a libmpv
 * that no longer knows one of them still works without it). */
static const struct {
    const char *name, *value;
    bool required;
} mpv_options[] = {
    {"vo", MPV_VO, true},
    {"force-window", "yes", true},           /* the window exists while idle and between items */
    {"idle", "yes", true},                   /* mpv stays up with nothing to play */
    {"keep-open", "yes", true},              /* a video that ends holds its last frame … */
    {"keep-open-pause", "no", false},        /* … without pausing the player for the next file */
    {"image-display-duration", "inf", true}, /* images are timed here */
    {"audio", "no", true},
    {"hwdec", "no", false},
    {"terminal", "no", false},
    {"osc", "no", false},
    {"input-default-bindings", "no", false},
    {"input-vo-keyboard", "no", false},
    {"input-cursor", "no", false},
    {"cursor-autohide", "always", false},
    {"osd-bar", "no", false},
    {"sub-auto", "no", false}, /* no subtitle files picked up next to an asset */
    {"ytdl", "no", false},
    {"load-scripts", "no", false},
    {"load-stats-overlay", "no", false},
    {"load-osd-console", "no", false},
    {"stop-screensaver", "yes", false},
    {"title", "marquee", false},
};

/* Waits for mpv's window: 0, or -ENODEV when mpv reports a fatal error (no display, no video
 * output) or the window is not up within OPEN_TIMEOUT_NS. */
static int window_wait(struct render_mpv *m)
{
    int64_t deadline = clock_mono_ns() + OPEN_TIMEOUT_NS;
    for (;;) {
        int64_t left = deadline - clock_mono_ns();
        if (left <= 0 || m->dead)
            return -ENODEV;
        mpv_event *e = lib.wait_event(m->mpv, ns_to_s(MIN(left, WAIT_SLICE_NS)));
        if (e->event_id == MPV_EVENT_LOG_MESSAGE &&
            ((mpv_event_log_message *)e->data)->log_level <= MPV_LOG_LEVEL_FATAL) {
            log_forward(e->data);
            return -ENODEV;
        }
        if (event_common(m, e))
            continue;
        if (flag_event(e, OBS_VO_READY))
            return 0;
    }
}

static int mpv_render_open(const struct render_options *opts, struct render **ret)
{
    if (!opts->data_dir || !*opts->data_dir)
        return -EINVAL;
    pthread_once(&lib_once, lib_load);
    if (!lib_ok)
        return -ENODEV;
    struct render_mpv *m = xcalloc(1, sizeof(*m));
    m->base.ops = &render_mpv_ops;
    atomic_init(&m->interrupted, false);
    m->tmp_dir = xasprintf("%s/render", opts->data_dir);
    m->pairing_path = xasprintf("%s/pairing-%d.pgm", m->tmp_dir, (int)getpid());
    m->card_path = xasprintf("%s/card-%d.ppm", m->tmp_dir, (int)getpid());
    int r;
    struct stat st;
    if (mkdir(m->tmp_dir, 0700) < 0 &&
        (errno != EEXIST || stat(m->tmp_dir, &st) < 0 || !S_ISDIR(st.st_mode))) {
        r = -EIO; /* no scratch directory: render.h's "-EIO, cannot be opened" */
        goto fail;
    }

    /* libmpv requires LC_NUMERIC to be "C"; marquee-player never calls setlocale() */
    m->mpv = lib.create();
    if (!m->mpv) {
        r = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < ARRAY_SIZE(mpv_options); i++) {
        int e = lib.set_option_string(m->mpv, mpv_options[i].name, mpv_options[i].value);
        if (e < 0 && mpv_options[i].required) {
            r = -ENODEV; /* a libmpv that cannot be this renderer */
            goto fail;
        }
    }
    if (lib.set_option_string(m->mpv, "fullscreen", opts->fullscreen ? "yes" : "no") < 0 ||
        lib.request_log_messages(m->mpv, "warn") < 0 || lib.initialize(m->mpv) < 0 ||
        lib.observe_property(m->mpv, OBS_EOF, "eof-reached", MPV_FORMAT_FLAG) < 0 ||
        lib.observe_property(m->mpv, OBS_VO_READY, "vo-configured", MPV_FORMAT_FLAG) < 0) {
        r = -ENODEV;
        goto fail;
    }
    r = window_wait(m);
    if (r < 0)
        goto fail;
    /* only open needed it; an X server's resize would otherwise queue events no one reads */
    lib.unobserve_property(m->mpv, OBS_VO_READY);
    *ret = &m->base;
    return 0;

fail:
    mpv_render_free(&m->base);
    return r;
}

static void mpv_render_free(struct render *r)
{
    struct render_mpv *m = to_mpv(r);
    if (m->mpv)
        lib.terminate_destroy(m->mpv);
    if (m->pairing_path)
        unlink(m->pairing_path);
    if (m->card_path)
        unlink(m->card_path);
    free(m->pairing_path);
    free(m->card_path);
    free(m->tmp_dir);
    free(m);
}

static bool eof_reached_now(struct render_mpv *m)
{
    int flag = 0;
    return lib.get_property(m->mpv, "eof-reached", MPV_FORMAT_FLAG, &flag) >= 0 && flag;
}

/* How long a loaded video may take to reach its end before it counts as stuck: its length as
 * mpv reads it from the file (the manifest's when mpv knows none), plus VIDEO_SLACK_NS. */
static int64_t video_budget_ns(struct render_mpv *m, const struct render_item *item)
{
    double length_s = 0;
    if (lib.get_property(m->mpv, "duration", MPV_FORMAT_DOUBLE, &length_s) < 0 || length_s <= 0 ||
        length_s > 86400.0)
        length_s = (double)item->duration_ms / 1000.0;
    return (int64_t)(length_s * (double)NS_PER_S) + VIDEO_SLACK_NS;
}

/*
 * Follows entry @id until it ends. An image ends when item->duration_ms has passed since it
 * loaded; a video when eof-reached turns true (keep-open: no END_FILE at its end). END_FILE of
 * the entry itself means it failed (an error, or a file that turned out to be a playlist) —
 * or, for a video mpv ended on its own, that it ended. An image reaching its end means its
 * decoder gave up before a frame showed: a failure too.
 */
static int play_follow(struct render_mpv *m, const struct render_item *item, int64_t id)
{
    bool image = item->type == MANIFEST_ITEM_IMAGE;
    int64_t started = -1; /* the entry of the last START_FILE: FILE_LOADED speaks of it */
    bool loaded = false;
    int64_t deadline = clock_mono_ns() + LOAD_TIMEOUT_NS;
    for (;;) {
        if (atomic_exchange(&m->interrupted, false))
            return -ECANCELED;
        if (m->dead)
            return -EIO;
        int64_t now = clock_mono_ns();
        if (now >= deadline)
            return loaded && image ? 0 : -EIO; /* shown its time; or never loaded, or stuck */
        mpv_event *e = lib.wait_event(m->mpv, ns_to_s(MIN(deadline - now, WAIT_SLICE_NS)));
        if (event_common(m, e))
            continue;
        switch (e->event_id) {
        case MPV_EVENT_START_FILE:
            started = ((mpv_event_start_file *)e->data)->playlist_entry_id;
            break;
        case MPV_EVENT_FILE_LOADED:
            if (started != id || loaded)
                break;
            loaded = true;
            overlay_clear(m);
            deadline = clock_mono_ns() +
                       (image ? item->duration_ms * NS_PER_MS : video_budget_ns(m, item));
            break;
        case MPV_EVENT_END_FILE: {
            const mpv_event_end_file *end = e->data;
            if (end->playlist_entry_id != id)
                break; /* the previous item, replaced */
            if (end->reason == MPV_END_FILE_REASON_QUIT)
                m->dead = true;
            return end->reason == MPV_END_FILE_REASON_EOF && !image ? 0 : -EIO;
        }
        case MPV_EVENT_PROPERTY_CHANGE:
            /* eof-reached as of now, not a notification left from the item before */
            if (loaded && flag_event(e, OBS_EOF) && eof_reached_now(m))
                return image ? -EIO : 0;
            break;
        default:
            break;
        }
    }
}

static int mpv_render_play(struct render *r, const struct render_item *item)
{
    struct render_mpv *m = to_mpv(r);
    if (atomic_exchange(&m->interrupted, false))
        return -ECANCELED;
    if (m->dead)
        return -EIO;
    events_drain(m);
    struct stat st;
    if (stat(item->path, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EIO;
    /* A per-file option: the frame on screen keeps its rotation until the new one replaces it */
    int64_t id;
    int k = loadfile(m, item->path,
                     item->orientation == MANIFEST_PORTRAIT ? "video-rotate=90" : "video-rotate=0",
                     &id);
    if (k < 0)
        return k;
    k = play_follow(m, item, id);
    /* loadfile took down the pairing screen or the card at once: their text goes too, even
     * when the item failed or was cut short before it loaded */
    overlay_clear(m);
    return k;
}

static int mpv_render_show_pairing(struct render *r, const char *code, const struct render_qr *qr)
{
    struct render_mpv *m = to_mpv(r);
    atomic_store(&m->interrupted, false); /* a screen replaces what an interrupt meant to cut */
    if (m->dead)
        return -EIO;
    events_drain(m);
    int text_y, text_size;
    int k = pairing_image_write(m, qr, &text_y, &text_size);
    if (k < 0)
        return k;
    int64_t id;
    k = loadfile(m, m->pairing_path, NULL, &id);
    if (k < 0)
        return k;
    /* black on the white image; the white outline keeps it legible over a letterbox band */
    struct buf ass;
    buf_init(&ass, OVERLAY_MAX);
    k = ass_append_line(&ass, CANVAS_W / 2, text_y, text_size, "&H000000&", 3, "&HFFFFFF&", code);
    if (k == 0)
        k = overlay_set(m, ass.data);
    buf_release(&ass);
    return k;
}

static int mpv_render_show_error(struct render *r, const char *device_name, const char *reason)
{
    struct render_mpv *m = to_mpv(r);
    atomic_store(&m->interrupted, false); /* a screen replaces what an interrupt meant to cut */
    if (m->dead)
        return -EIO;
    events_drain(m);
    size_t len;
    _cleanup_free_ unsigned char *ppm = netpbm_new(
        CARD_W, CARD_H, 3, (const unsigned char[]){CARD_GREY, CARD_GREY, CARD_GREY}, &len, NULL);
    int k = fsx_write_atomic(m->card_path, ppm, len, 0600, false);
    if (k < 0)
        return k;
    int64_t id;
    k = loadfile(m, m->card_path, NULL, &id);
    if (k < 0)
        return k;
    struct buf ass;
    buf_init(&ass, OVERLAY_MAX);
    bool named = device_name && *device_name;
    if (named)
        k = ass_append_line(&ass, CANVAS_W / 2, CANVAS_H / 2 - 50, 64, "&HFFFFFF&", 0, "&H000000&",
                            device_name);
    if (k == 0)
        k = ass_append_line(&ass, CANVAS_W / 2, named ? CANVAS_H / 2 + 50 : CANVAS_H / 2,
                            named ? 44 : 64, "&HB0B0B0&", 0, "&H000000&", "no content");
    if (k == 0)
        k = overlay_set(m, ass.data);
    buf_release(&ass);
    if (k == 0 && log_enabled(LOG_INFO))
        log_json(LOG_INFO, "render.error_screen",
                 json_pack("{s:o, s:o}", "deviceName", jsonx_string_lossy(named ? device_name : ""),
                           "reason", jsonx_string_lossy(reason)));
    return k;
}

static void mpv_render_interrupt(struct render *r)
{
    struct render_mpv *m = to_mpv(r);
    atomic_store(&m->interrupted, true);
    lib.wakeup(m->mpv);
}

const struct render_ops render_mpv_ops = {
    .open = mpv_render_open,
    .free = mpv_render_free,
    .play = mpv_render_play,
    .show_pairing = mpv_render_show_pairing,
    .show_error = mpv_render_show_error,
    .interrupt = mpv_render_interrupt,
};
