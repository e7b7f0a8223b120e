/* SPDX-License-Identifier: MIT */
/*
 * test-render-mpv.c — the mpv renderer (render.h, render-mpv.c) on a real X display: the test
 * starts its own Xvfb (640×360, the first free display from :90 up, found with -displayfd),
 * makes its media with the ffmpeg command line (a red PNG, a red|blue PNG, a blue H.264 video,
 * a file of noise), plays them through render_open(RENDER_MPV) and looks at the screen with
 * ffmpeg's x11grab while they play: an image must cover the screen in its colour, a video must
 * show its own, a portrait item must come out rotated, the pairing screen must hold the very
 * QR code that was asked for, module by module.
 *
 * Nothing here asserts a duration: the waits are bounds (a screen that never shows what it
 * should fails after SCREEN_WAIT_S), so a slow machine or an ASan build only makes it slower.
 * Xvfb is killed by the group teardown, and by atexit() when a setup fails half way; it shares
 * our process group, so a harness that kills the group on a time-out takes it too.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../cmocka-prelude.h"
#include "clock.h"
#include "macro.h"
#include "player/qr.h"
#include "player/render.h"

extern char **environ;

#define SCREEN_W      640
#define SCREEN_H      360
#define FRAME_BYTES   ((size_t)SCREEN_W * SCREEN_H * 3)
#define DISPLAY_FIRST 90
#define DISPLAY_LAST  189
#define SCREEN_WAIT_S 20 /* the longest wait for the screen to show something */
#define TOLERANCE     40 /* per channel: scaling and colour conversion */

static struct {
    char dir[PATH_MAX - 64];
    char data_dir[PATH_MAX], log_path[PATH_MAX];
    char red[PATH_MAX], split[PATH_MAX], video[PATH_MAX], garbage[PATH_MAX];
    char display[16];
    pid_t xvfb;
    struct render *r; /* each test's renderer, freed by the teardown */
} S;

struct rgb {
    int r, g, b;
};

static const struct rgb RED = {255, 0, 0}, BLUE = {0, 0, 255}, BLACK = {0, 0, 0};

/* ---- processes ----------------------------------------------------------------------------- */

/* Starts @argv (from PATH) with stdin from /dev/null, stdout into @out_fd (-1: /dev/null) and
 * stderr appended to the log. posix_spawn: safe with mpv's threads running, unlike fork(). */
static pid_t spawn(char *const argv[], int out_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    else
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, S.log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    pid_t pid;
    int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0)
        fail_msg("cannot run %s: %s", argv[0], strerror(r));
    return pid;
}

/* Runs @argv to its end; asserts it succeeded. */
static void run(char *const argv[])
{
    pid_t pid = spawn(argv, -1);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("%s failed (status %d; see %s)", argv[0], st, S.log_path);
}

static void xvfb_kill(void)
{
    if (S.xvfb > 0) {
        kill(S.xvfb, SIGTERM);
        waitpid(S.xvfb, NULL, 0);
        S.xvfb = 0;
    }
}

/* Xvfb on :@n; true once it accepts connections (it writes its display number to the
 * -displayfd pipe then), false when it exits first (:@n is taken). */
static bool xvfb_try(int n)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(fcntl(p[1], F_SETFD, 0), 0); /* Xvfb's end: inherited */
    char display[16], fd[16];
    snprintf(display, sizeof(display), ":%d", n);
    snprintf(fd, sizeof(fd), "%d", p[1]);
    char *argv[] = {"Xvfb",      display, "-screen",    "0", "640x360x24",
                    "-nolisten", "tcp",   "-displayfd", fd,  NULL};
    S.xvfb = spawn(argv, -1);
    close(p[1]);
    char buf[32] = "";
    size_t len = 0;
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    while (len < sizeof(buf) - 1 && !memchr(buf, '\n', len) && poll(&pfd, 1, 15000) > 0) {
        ssize_t k = read(p[0], buf + len, sizeof(buf) - 1 - len);
        if (k <= 0)
            break;
        len += (size_t)k;
        buf[len] = '\0';
    }
    close(p[0]);
    if (strtol(buf, NULL, 10) == n && memchr(buf, '\n', len)) {
        snprintf(S.display, sizeof(S.display), ":%d", n);
        return true;
    }
    xvfb_kill();
    return false;
}

static void xvfb_start(void)
{
    for (int n = DISPLAY_FIRST; n <= DISPLAY_LAST; n++) {
        char lock[64];
        snprintf(lock, sizeof(lock), "/tmp/.X%d-lock", n);
        if (access(lock, F_OK) == 0)
            continue;
        if (xvfb_try(n)) {
            assert_int_equal(setenv("DISPLAY", S.display, 1), 0);
            return;
        }
    }
    fail_msg("no Xvfb could start on :%d…:%d (see %s)", DISPLAY_FIRST, DISPLAY_LAST, S.log_path);
}

/* The screen as RGB24, SCREEN_W × SCREEN_H, into @frame (FRAME_BYTES). */
static void grab(uint8_t *frame)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    char *argv[] = {"ffmpeg",   "-nostdin",    "-loglevel", "error",       "-f",
                    "x11grab",  "-draw_mouse", "0",         "-video_size", "640x360",
                    "-i",       S.display,     "-frames:v", "1",           "-f",
                    "rawvideo", "-pix_fmt",    "rgb24",     "-",           NULL};
    pid_t pid = spawn(argv, p[1]);
    close(p[1]);
    size_t got = 0;
    while (got < FRAME_BYTES) {
        ssize_t k = read(p[0], frame + got, FRAME_BYTES - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(p[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (got != FRAME_BYTES || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("x11grab of %s: %zu bytes, status %d (see %s)", S.display, got, st, S.log_path);
}

/* ---- what is on the screen ----------------------------------------------------------------- */

static struct rgb pixel(const uint8_t *frame, int x, int y)
{
    const uint8_t *p = frame + ((size_t)y * SCREEN_W + (size_t)x) * 3;
    return (struct rgb){p[0], p[1], p[2]};
}

static bool near(struct rgb a, struct rgb b, int tol)
{
    return abs(a.r - b.r) <= tol && abs(a.g - b.g) <= tol && abs(a.b - b.b) <= tol;
}

/* The share of the rectangle [x0, x1) × [y0, y1) that is @c. */
static double share_in(const uint8_t *frame, int x0, int y0, int x1, int y1, struct rgb c)
{
    size_t hit = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            hit += near(pixel(frame, x, y), c, TOLERANCE);
    return (double)hit / ((double)(x1 - x0) * (double)(y1 - y0));
}

static double share(const uint8_t *frame, struct rgb c)
{
    return share_in(frame, 0, 0, SCREEN_W, SCREEN_H, c);
}

/* ---- the media ----------------------------------------------------------------------------- */

/* Runs ffmpeg -f lavfi -i @graph, then the further arguments up to a NULL, then @out. */
static void ffmpeg_make(const char *out, const char *graph, ...)
{
    char *argv[32] = {"ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"};
    size_t n = 8;
    argv[n++] = (char *)graph;
    va_list ap;
    va_start(ap, graph);
    for (char *a; (a = va_arg(ap, char *)) && n < ARRAY_SIZE(argv) - 2;)
        argv[n++] = a;
    va_end(ap);
    argv[n++] = (char *)out;
    argv[n] = NULL;
    run(argv);
}

static void media_make(void)
{
    snprintf(S.red, sizeof(S.red), "%s/red.png", S.dir);
    snprintf(S.split, sizeof(S.split), "%s/split.png", S.dir);
    snprintf(S.video, sizeof(S.video), "%s/blue.mp4", S.dir);
    snprintf(S.garbage, sizeof(S.garbage), "%s/garbage.mp4", S.dir);
    ffmpeg_make(S.red, "color=c=red:s=640x360", "-frames:v", "1", NULL);
    /* left half red, right half blue: which way up it is shows */
    ffmpeg_make(S.split, "color=c=red:s=320x360[a];color=c=blue:s=320x360[b];[a][b]hstack",
                "-frames:v", "1", NULL);
    /* 2 s of blue, H.264 in MP4 as the spec's media constraints ask */
    ffmpeg_make(S.video, "color=c=blue:s=640x360:r=25:d=2", "-c:v", "libx264", "-preset",
                "ultrafast", "-pix_fmt", "yuv420p", NULL);
    /* 64 KiB of xorshift noise that no demuxer recognises */
    FILE *f = fopen(S.garbage, "we");
    assert_non_null(f);
    uint64_t x = UINT64_C(0x9e3779b97f4a7c15);
    for (int i = 0; i < 65536; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        fputc((int)(x >> 56), f);
    }
    assert_int_equal(fclose(f), 0);
}

/* ---- setup and teardown -------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int group_setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(S.dir, sizeof(S.dir), "%s/marquee-test-render-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(S.dir));
    snprintf(S.data_dir, sizeof(S.data_dir), "%s/data", S.dir);
    snprintf(S.log_path, sizeof(S.log_path), "%s/children.log", S.dir);
    assert_int_equal(mkdir(S.data_dir, 0700), 0);
    xvfb_start();
    media_make();
    return 0;
}

static int group_teardown(void **state)
{
    xvfb_kill();
    nftw(S.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ---- playing in a thread while the test looks ---------------------------------------------- */

/* One render_play() at a time runs in a thread; static, so that a test that fails while it
 * runs (cmocka jumps out of the test) leaves it to the teardown to interrupt and join. */
static struct {
    struct render_item item;
    pthread_t thread;
    bool running;
    int rc;
} P;

static void *player_main(void *userdata)
{
    P.rc = render_play(S.r, &P.item);
    return NULL;
}

static void player_start(const char *path, enum manifest_item_type type, int64_t duration_ms,
                         enum manifest_orientation orientation)
{
    assert_false(P.running);
    P.item = (struct render_item){.asset_id = "a",
                                  .path = path,
                                  .type = type,
                                  .duration_ms = duration_ms,
                                  .manifest_etag = "\"e\"",
                                  .orientation = orientation};
    assert_int_equal(pthread_create(&P.thread, NULL, player_main, NULL), 0);
    P.running = true;
}

/* Waits for the play to end; what render_play() returned. */
static int player_join(void)
{
    assert_true(P.running);
    P.running = false;
    assert_int_equal(pthread_join(P.thread, NULL), 0);
    return P.rc;
}

static int fx_setup(void **state)
{
    struct render_options opts = {.kind = RENDER_MPV, .data_dir = S.data_dir, .fullscreen = true};
    int r = render_open(&opts, &S.r);
    if (r < 0)
        fail_msg("render_open: %s", strerror(-r));
    return 0;
}

static int fx_teardown(void **state)
{
    if (P.running) { /* the test failed while something played */
        render_interrupt(S.r);
        P.running = false;
        pthread_join(P.thread, NULL);
    }
    S.r = render_free(S.r);
    return 0;
}

typedef bool (*screen_test_fn)(const uint8_t *frame, const void *userdata);

/* Grabs the screen until @test holds (true) or SCREEN_WAIT_S pass (false; @frame holds the last
 * grab). A bound, not a measurement. */
static bool screen_wait(uint8_t *frame, screen_test_fn test, const void *userdata)
{
    int64_t end = clock_mono_ns() + INT64_C(1000000000) * SCREEN_WAIT_S;
    do {
        grab(frame);
        if (test(frame, userdata))
            return true;
        usleep(50 * 1000);
    } while (clock_mono_ns() < end);
    return false;
}

/* Nearly all of the screen is @userdata's colour. */
static bool is_colour(const uint8_t *frame, const void *userdata)
{
    return share(frame, *(const struct rgb *)userdata) >= 0.95;
}

static uint8_t *frame_new(void)
{
    return xmalloc(FRAME_BYTES);
}

/* ---- the tests ----------------------------------------------------------------------------- */

static void test_arguments(void **state)
{
    enum render_kind k = RENDER_HEADLESS;
    assert_int_equal(render_kind_parse("mpv", &k), 0);
    assert_int_equal(k, RENDER_MPV);
    assert_int_equal(render_kind_parse("headless", &k), 0);
    assert_int_equal(k, RENDER_HEADLESS);
    assert_int_equal(render_kind_parse("MPV", &k), -EINVAL);
    assert_int_equal(render_kind_parse(NULL, &k), -EINVAL);
    assert_int_equal(k, RENDER_HEADLESS);

    struct render *r = NULL;
    struct render_options opts = {.kind = RENDER_MPV, .data_dir = NULL, .fullscreen = true};
    assert_int_equal(render_open(NULL, &r), -EINVAL);
    assert_int_equal(render_open(&opts, NULL), -EINVAL);
    assert_int_equal(render_open(&opts, &r), -EINVAL); /* mpv needs DIR for its scratch files */
    opts.kind = (enum render_kind)42;
    opts.data_dir = S.data_dir;
    assert_int_equal(render_open(&opts, &r), -EINVAL);
    assert_null(r);

    struct render_item item = {.path = S.red, .type = MANIFEST_ITEM_IMAGE, .duration_ms = 1};
    assert_int_equal(render_play(NULL, &item), -EINVAL);
    assert_int_equal(render_show_pairing(NULL, "K7PX-4MNC", NULL), -EINVAL);
    assert_int_equal(render_show_error(NULL, "Lobby", "none"), -EINVAL);
    render_interrupt(NULL);
    assert_null(render_free(NULL));
}

static void test_no_display(void **state)
{
    /* no X display at all: mpv's window cannot open, and render_open() says so */
    assert_int_equal(unsetenv("DISPLAY"), 0);
    struct render_options opts = {.kind = RENDER_MPV, .data_dir = S.data_dir, .fullscreen = true};
    struct render *r = NULL;
    int rc = render_open(&opts, &r);
    assert_int_equal(setenv("DISPLAY", S.display, 1), 0);
    assert_int_equal(rc, -ENODEV);
    assert_null(r);
}

static void test_image(void **state)
{
    _cleanup_free_ uint8_t *frame = frame_new();
    player_start(S.red, MANIFEST_ITEM_IMAGE, 4000, MANIFEST_LANDSCAPE);
    if (!screen_wait(frame, is_colour, &RED))
        fail_msg("the red image never filled the screen (%.1f%% red)", 100 * share(frame, RED));
    assert_int_equal(player_join(), 0);
    /* its time is up, and it stays on screen until something replaces it */
    grab(frame);
    assert_true(share(frame, RED) >= 0.95);
}

static void test_video(void **state)
{
    _cleanup_free_ uint8_t *frame = frame_new();
    struct render_item red = {
        .asset_id = "r", .path = S.red, .type = MANIFEST_ITEM_IMAGE, .duration_ms = 300};
    assert_int_equal(render_play(S.r, &red), 0);
    grab(frame);
    assert_true(share(frame, RED) >= 0.95);

    player_start(S.video, MANIFEST_ITEM_VIDEO, 2000, MANIFEST_LANDSCAPE);
    if (!screen_wait(frame, is_colour, &BLUE))
        fail_msg("the blue video never showed (%.1f%% blue, %.1f%% red)", 100 * share(frame, BLUE),
                 100 * share(frame, RED));
    assert_int_equal(player_join(), 0); /* it reached its end */
    /* the last frame stays: the screen is not blank after a video */
    grab(frame);
    assert_true(share(frame, BLUE) >= 0.95);
    assert_true(share(frame, BLACK) < 0.05);
    /* a one-video playlist: the same file again plays again to its end (a video that ended is
     * not left paused for the next one) */
    struct render_item blue = {
        .asset_id = "b", .path = S.video, .type = MANIFEST_ITEM_VIDEO, .duration_ms = 2000};
    assert_int_equal(render_play(S.r, &blue), 0);
    /* and an image after a video */
    assert_int_equal(render_play(S.r, &red), 0);
    grab(frame);
    assert_true(share(frame, RED) >= 0.95);
}

/* The red|blue image turned a quarter: red on top, blue under it, pillarboxed in black. */
static bool is_portrait(const uint8_t *frame, const void *userdata)
{
    return share_in(frame, 290, 20, 350, 160, RED) >= 0.95 &&
           share_in(frame, 290, 200, 350, 340, BLUE) >= 0.95 &&
           share_in(frame, 0, 0, 150, SCREEN_H, BLACK) >= 0.95 &&
           share_in(frame, SCREEN_W - 150, 0, SCREEN_W, SCREEN_H, BLACK) >= 0.95;
}

/* The red|blue image as it is: red on the left, blue on the right. */
static bool is_landscape(const uint8_t *frame, const void *userdata)
{
    return share_in(frame, 20, 20, 300, 340, RED) >= 0.95 &&
           share_in(frame, 340, 20, 620, 340, BLUE) >= 0.95;
}

static void test_orientation(void **state)
{
    _cleanup_free_ uint8_t *frame = frame_new();
    player_start(S.split, MANIFEST_ITEM_IMAGE, 3000, MANIFEST_PORTRAIT);
    bool portrait = screen_wait(frame, is_portrait, NULL);
    assert_int_equal(player_join(), 0);
    if (!portrait)
        fail_msg("a PORTRAIT item did not show rotated");
    /* the rotation belonged to that item: the next one, LANDSCAPE, is upright */
    player_start(S.split, MANIFEST_ITEM_IMAGE, 3000, MANIFEST_LANDSCAPE);
    bool landscape = screen_wait(frame, is_landscape, NULL);
    assert_int_equal(player_join(), 0);
    if (!landscape)
        fail_msg("a LANDSCAPE item after a PORTRAIT one did not show upright");
}

static void test_failures(void **state)
{
    _cleanup_free_ char *missing = xasprintf("%s/no-such-asset.png", S.dir);
    struct render_item item = {
        .asset_id = "m", .path = missing, .type = MANIFEST_ITEM_IMAGE, .duration_ms = 1000};
    assert_int_equal(render_play(S.r, &item), -ENOENT);
    item.type = MANIFEST_ITEM_VIDEO;
    assert_int_equal(render_play(S.r, &item), -ENOENT);
    /* noise: mpv cannot make it out, as an image or as a video — an error, not a hang */
    item.path = S.garbage;
    assert_int_equal(render_play(S.r, &item), -EIO);
    item.type = MANIFEST_ITEM_IMAGE;
    assert_int_equal(render_play(S.r, &item), -EIO);
    /* a directory is no file to play */
    item.path = S.dir;
    assert_int_equal(render_play(S.r, &item), -EIO);
    /* and the renderer still plays what it can */
    item.path = S.red;
    item.duration_ms = 200;
    assert_int_equal(render_play(S.r, &item), 0);
}

static void test_interrupt(void **state)
{
    _cleanup_free_ uint8_t *frame = frame_new();
    /* an image for ten minutes, cut short once it shows */
    player_start(S.red, MANIFEST_ITEM_IMAGE, 600000, MANIFEST_LANDSCAPE);
    bool shown = screen_wait(frame, is_colour, &RED);
    render_interrupt(S.r);
    assert_int_equal(player_join(), -ECANCELED);
    assert_true(shown);
    /* an interrupt with nothing playing cancels the next play, and only that one */
    render_interrupt(S.r);
    struct render_item item = {
        .asset_id = "r", .path = S.red, .type = MANIFEST_ITEM_IMAGE, .duration_ms = 200};
    assert_int_equal(render_play(S.r, &item), -ECANCELED);
    assert_int_equal(render_play(S.r, &item), 0);
    /* a video, interrupted while it plays */
    player_start(S.video, MANIFEST_ITEM_VIDEO, 2000, MANIFEST_LANDSCAPE);
    shown = screen_wait(frame, is_colour, &BLUE);
    render_interrupt(S.r);
    int rc = player_join();
    assert_true(shown);
    /* it may have ended on its own before the interrupt came: then 0, and the interrupt cancels
     * the next play */
    if (rc == 0)
        assert_int_equal(render_play(S.r, &item), -ECANCELED);
    else
        assert_int_equal(rc, -ECANCELED);
}

/* Mostly black and white: every channel near 0 or near 255, with a fair share of each. */
static bool is_black_and_white(const uint8_t *frame, const void *userdata)
{
    const struct rgb white = {255, 255, 255};
    double b = share(frame, BLACK), w = share(frame, white);
    return b + w >= 0.90 && b >= 0.05 && w >= 0.30;
}

static bool luma_dark(const uint8_t *frame, int x, int y)
{
    struct rgb c = pixel(frame, x, y);
    return c.r + c.g + c.b < 3 * 128;
}

/*
 * Reads the QR code off the screen and compares it with @q, module by module: its top-left
 * corner is the first dark pixel in reading order (the pairing screen is white above the
 * symbol); the top edge of its top-left finder pattern is a run of 7 dark modules, which gives
 * the module's size in pixels; then each module is sampled at its centre. The share of the
 * modules that match.
 */
static double qr_match(const uint8_t *frame, const struct render_qr *q)
{
    int x0 = -1, y0 = -1;
    for (int y = 0; y < SCREEN_H && x0 < 0; y++)
        for (int x = 0; x < SCREEN_W && x0 < 0; x++)
            if (luma_dark(frame, x, y))
                x0 = x, y0 = y;
    if (x0 < 0)
        return 0;
    int run = 0, row = MIN(y0 + 1, SCREEN_H - 1);
    while (x0 + run < SCREEN_W && luma_dark(frame, x0 + run, row))
        run++;
    double m = run / 7.0;
    if (m < 2 || x0 + m * q->size > SCREEN_W || y0 + m * q->size > SCREEN_H)
        return 0;
    int same = 0;
    for (int j = 0; j < q->size; j++)
        for (int i = 0; i < q->size; i++) {
            int x = x0 + (int)((i + 0.5) * m), y = y0 + (int)((j + 0.5) * m);
            same += luma_dark(frame, x, y) == (q->modules[j * q->size + i] != 0);
        }
    return (double)same / (q->size * q->size);
}

static bool is_pairing(const uint8_t *frame, const void *userdata)
{
    return is_black_and_white(frame, NULL) && qr_match(frame, userdata) >= 0.98;
}

static void test_pairing(void **state)
{
    _cleanup_free_ uint8_t *frame = frame_new();
    /* something else on screen first, so the pairing screen has to replace it */
    struct render_item red = {
        .asset_id = "r", .path = S.red, .type = MANIFEST_ITEM_IMAGE, .duration_ms = 200};
    assert_int_equal(render_play(S.r, &red), 0);

    struct render_qr qr = {0};
    assert_int_equal(qr_encode("K7PX-4MNC", &qr), 0);
    assert_int_equal(render_show_pairing(S.r, "K7PX-4MNC", &qr), 0); /* does not block */
    bool shown = screen_wait(frame, is_pairing, &qr);
    if (!shown)
        fail_msg("no pairing QR code on screen (%.1f%% black, %.1f%% white, %.1f%% of modules)",
                 100 * share(frame, BLACK), 100 * share(frame, (struct rgb){255, 255, 255}),
                 100 * qr_match(frame, &qr));
    /* the code is written under the symbol: dark pixels below its bottom edge */
    int dark_below = 0;
    for (int y = SCREEN_H * 5 / 6; y < SCREEN_H; y++)
        for (int x = 0; x < SCREEN_W; x++)
            dark_below += luma_dark(frame, x, y);
    assert_true(dark_below > 100);
    qr_release(&qr);

    /* then content again: the code's text goes with the pairing screen */
    red.duration_ms = 1000;
    assert_int_equal(render_play(S.r, &red), 0);
    grab(frame);
    assert_true(share(frame, RED) >= 0.995);

    /* no QR code: the code alone, on white */
    assert_int_equal(render_show_pairing(S.r, "K7PX-4MNC", NULL), 0);
    const struct rgb white = {255, 255, 255};
    if (!screen_wait(frame, is_colour, &white))
        fail_msg("the pairing screen without a QR code is not white (%.1f%%)",
                 100 * share(frame, white));
    assert_true(share(frame, BLACK) > 0.001); /* the text */
}

/* The error card: dark, with light text on it. */
static bool is_card(const uint8_t *frame, const void *userdata)
{
    const struct rgb dark = {0x1c, 0x1c, 0x1c}, light = {0xc0, 0xc0, 0xc0};
    return share(frame, dark) >= 0.85 && share_in(frame, 0, 0, SCREEN_W, SCREEN_H, light) > 0.002;
}

static void test_error_screen(void **state)
{
    _cleanup_free_ uint8_t *frame = frame_new();
    struct render_item red = {
        .asset_id = "r", .path = S.red, .type = MANIFEST_ITEM_IMAGE, .duration_ms = 200};
    assert_int_equal(render_play(S.r, &red), 0);
    assert_int_equal(render_show_error(S.r, "Lobby {north} \\N screen", "NO_PLAYABLE_CONTENT"), 0);
    if (!screen_wait(frame, is_card, NULL))
        fail_msg("no error card on screen");
    assert_int_equal(render_show_error(S.r, NULL, "NO_PLAYABLE_CONTENT"), 0);
    assert_true(screen_wait(frame, is_card, NULL));
    /* content comes back */
    red.duration_ms = 500;
    assert_int_equal(render_play(S.r, &red), 0);
    grab(frame);
    assert_true(share(frame, RED) >= 0.995);
}

int main(void)
{
    atexit(xvfb_kill);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_no_display),
        cmocka_unit_test_setup_teardown(test_image, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_video, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_orientation, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_failures, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_interrupt, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pairing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_error_screen, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
