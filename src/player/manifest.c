/* SPDX-License-Identifier: MIT */
/*
 * manifest.c — parsing, the pure helpers and the slot store of marquee-player (manifest.h).
 *
 * DESIGN — parsing. The body goes through jsonx_parse (size and depth checked before jansson
 * allocates, duplicate keys refused), then every §27.8.1 member is read by a typed getter
 * that names the field and the reason when it fails; the first failure wins. Members this
 * version does not know are never looked at, so a newer server can add some (a player in a
 * pub is updated long after its server). What the player relies on is strict: asset ids are
 * UUIDs because they become file names, checksums are exact because downloads are verified
 * against them, URLs are http(s) because libcurl would fetch file:// too, the tag is etagc
 * because it goes back in an If-None-Match header. Metadata it does not rely on (a video's
 * durationSeconds, widthPx/heightPx, which the server sends as 0 when unknown) only has to
 * be an integer in range.
 *
 * DESIGN — the store. DATA_DIR/manifests/ holds
 *     current.manifest  previous.manifest  staged.manifest  [apply.journal]
 * A slot file is one header line and the body exactly as received:
 *     marquee-manifest 1 <sha256 of the body> <ETag header>\n<body>
 * so damage (a torn or flipped block) is told from a valid manifest by the digest, and the
 * bytes are the server's, never a re-serialization. The staged slot and the journal are
 * written as <name>.tmp, fsynced, renamed over <name>, and the directory fsynced; current and
 * previous are only ever renamed into place, never written.
 *
 * The apply, previous ← current, current ← staged, is these steps, each rename followed by an
 * fsync of the directory so a power cut cannot reorder them:
 *     A1  apply.journal ← "marquee-apply 1 <sha256 of staged>" (atomically)  ← commit point
 *     A2  rename current.manifest → previous.manifest   (only if current is valid)
 *     A3  rename staged.manifest  → current.manifest
 *     A4  unlink apply.journal
 * Every on-disk state a crash can leave, and what the recovery in load makes of it:
 *     before A1 (or A1's temp file only)       old slots; the temp file is removed
 *     after A1: journal, current, staged        A2, A3 (roll forward) → new
 *     after A2: journal, no current, staged     A3                     → new
 *     after A3: journal, no staged              nothing to move        → new
 *     after A4                                  new
 * The journal is needed because "current and staged both present" is also the normal state of
 * a manifest waiting for its assets: only the journal says that the apply was decided. It
 * names the staged manifest's digest, so a journal that does not match the staged file (which
 * only damage could make) is dropped rather than applying something that was never decided.
 * Recovery repeats the same renames, so a crash during recovery is recovered the same way.
 * The old current is never lost: it is current until A2 moves it, in one rename, to previous.
 * A current that is absent or damaged at apply time is not moved (a damaged file must not
 * push a good fallback out of previous): A3 replaces it. Recovery decides that again from the
 * file, which gives the same answer, as the file cannot become valid in between.
 *
 * Only one process writes a data directory (the daemon's lock); `status` opens the store
 * read-only and is shown the slots as recovery would leave them, without writing.
 */
#include "player/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fsx.h"
#include "jsonx.h"
#include "macro.h"

/* ---- parsing ------------------------------------------------------------------------------ */

static int refuse(struct manifest_error *err, int r, const char *prefix, const char *name,
                  const char *fmt, ...) _printf_(5, 6);

static int refuse(struct manifest_error *err, int r, const char *prefix, const char *name,
                  const char *fmt, ...)
{
    if (err) {
        snprintf(err->field, sizeof(err->field), "%s%s", prefix, name);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
        va_end(ap);
    }
    return r;
}

/* The member @name of @obj, of type @want (JSON_TRUE: a boolean), else why it is not. */
static int member(json_t *obj, const char *prefix, const char *name, json_type want, json_t **ret,
                  struct manifest_error *err)
{
    static const char *const not_a[] = {
        [JSON_OBJECT] = "not an object", [JSON_ARRAY] = "not an array",
        [JSON_STRING] = "not a string",  [JSON_INTEGER] = "not an integer",
        [JSON_TRUE] = "not a boolean",
    };
    json_t *v = json_object_get(obj, name);
    if (!v)
        return refuse(err, -EBADMSG, prefix, name, "missing");
    json_type t = json_typeof(v) == JSON_FALSE ? JSON_TRUE : json_typeof(v);
    if (t != want)
        return refuse(err, -EBADMSG, prefix, name, "%s", not_a[want]);
    *ret = v;
    return 0;
}

/* The string member @name of @obj: 1…@max bytes, no NUL inside. */
static int get_string(json_t *obj, const char *prefix, const char *name, size_t max,
                      const char **ret, struct manifest_error *err)
{
    json_t *v = NULL;
    int r = member(obj, prefix, name, JSON_STRING, &v, err);
    if (r < 0)
        return r;
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0)
        return refuse(err, -EBADMSG, prefix, name, "empty");
    if (n > max)
        return refuse(err, -E2BIG, prefix, name, "longer than %zu bytes", max);
    if (strlen(s) != n)
        return refuse(err, -EBADMSG, prefix, name, "contains a NUL character");
    *ret = s;
    return 0;
}

static int get_int(json_t *obj, const char *prefix, const char *name, int64_t min, int64_t max,
                   int64_t *ret, struct manifest_error *err)
{
    json_t *v = NULL;
    int r = member(obj, prefix, name, JSON_INTEGER, &v, err);
    if (r < 0)
        return r;
    int64_t x = json_integer_value(v);
    if (x < min || x > max)
        return refuse(err, -EBADMSG, prefix, name, "%lld is outside %lld…%lld", (long long)x,
                      (long long)min, (long long)max);
    *ret = x;
    return 0;
}

static int get_bool(json_t *obj, const char *prefix, const char *name, bool *ret,
                    struct manifest_error *err)
{
    json_t *v = NULL;
    int r = member(obj, prefix, name, JSON_TRUE, &v, err);
    if (r >= 0)
        *ret = json_is_true(v);
    return r;
}

/* The string member @name, one of the two @names: its index. */
static int get_enum(json_t *obj, const char *prefix, const char *name, const char *const names[2],
                    int *ret, struct manifest_error *err)
{
    json_t *v = NULL;
    int r = member(obj, prefix, name, JSON_STRING, &v, err);
    for (int i = 0; r >= 0 && i < 2; i++)
        if (json_string_length(v) == strlen(names[i]) && !strcmp(json_string_value(v), names[i])) {
            *ret = i;
            return 0;
        }
    return r < 0 ? r : refuse(err, -EBADMSG, prefix, name, "not %s or %s", names[0], names[1]);
}

static int get_uuid(json_t *obj, const char *prefix, const char *name, char out[UUID_STR_LEN],
                    struct manifest_error *err)
{
    const char *s;
    int r = get_string(obj, prefix, name, UUID_STR_LEN - 1, &s, err);
    if (r == -E2BIG || (r >= 0 && !ids_is_uuid(s)))
        return refuse(err, -EBADMSG, prefix, name, "not a UUID");
    if (r >= 0)
        memcpy(out, s, UUID_STR_LEN);
    return r;
}

static int get_sha256(json_t *obj, const char *prefix, const char *name,
                      char out[HASH_SHA256_HEX_LEN], struct manifest_error *err)
{
    const char *s;
    int r = get_string(obj, prefix, name, HASH_SHA256_HEX_LEN - 1, &s, err);
    if (r == -E2BIG || (r >= 0 && (strlen(s) != 64 || strspn(s, "0123456789abcdef") != 64)))
        return refuse(err, -EBADMSG, prefix, name, "not 64 lower-case hex digits");
    if (r >= 0)
        memcpy(out, s, HASH_SHA256_HEX_LEN);
    return r;
}

/* RFC 9110 etagc: visible ASCII but '"'. */
static bool etagc_only(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"')
            return false;
    return true;
}

/* A reason @u cannot be downloaded from, or NULL. Percent-encoded ASCII only, as servers send. */
static const char *url_problem(const char *u)
{
    size_t scheme = !strncasecmp(u, "https://", 8) ? 8 : !strncasecmp(u, "http://", 7) ? 7 : 0;
    if (!scheme)
        return "not an http:// or https:// URL";
    for (const char *p = u; *p; p++)
        if (*p < 0x21 || *p > 0x7e || strchr("\"<>\\^`{|}", *p))
            return "holds a space, a control or non-ASCII byte, or a character URLs cannot hold";
    if (strcspn(u + scheme, "/?#") == 0)
        return "has no host";
    return NULL;
}

static int parse_settings(json_t *root, struct manifest_settings *st, struct manifest_error *err)
{
    static const char *const run_modes[2] = {"SHARED", "KIOSK"};
    static const char *const orientations[2] = {"LANDSCAPE", "PORTRAIT"};
    json_t *o = NULL;
    const char *p = "settings.";
    int run_mode = 0, orientation = 0;
    int r = member(root, "", "settings", JSON_OBJECT, &o, err);
    if (r >= 0)
        r = get_enum(o, p, "runMode", run_modes, &run_mode, err);
    if (r >= 0)
        r = get_bool(o, p, "launchOnBoot", &st->launch_on_boot, err);
    if (r >= 0)
        r = get_bool(o, p, "autoRelaunch", &st->auto_relaunch, err);
    if (r >= 0)
        r = get_bool(o, p, "keepAwake", &st->keep_awake, err);
    if (r >= 0)
        r = get_bool(o, p, "watchdogReturnToForeground", &st->watchdog_return_to_foreground, err);
    if (r >= 0)
        r = get_enum(o, p, "orientation", orientations, &orientation, err);
    if (r < 0)
        return r;
    st->run_mode = run_mode == 1 ? MANIFEST_RUN_KIOSK : MANIFEST_RUN_SHARED;
    st->orientation = orientation == 1 ? MANIFEST_PORTRAIT : MANIFEST_LANDSCAPE;
    /* not in §27.8.1: the server adds it (docs/player.md); absent or null is the default */
    json_t *b = json_object_get(o, "cacheBudgetBytes");
    st->cache_budget_default = !b || json_is_null(b);
    st->cache_budget_bytes = MANIFEST_BUDGET_DEFAULT;
    if (!st->cache_budget_default)
        return get_int(o, p, "cacheBudgetBytes", 1, INT64_MAX, &st->cache_budget_bytes, err);
    return 0;
}

static int parse_item(json_t *o, size_t i, struct manifest_item *it, struct manifest_error *err)
{
    static const char *const types[2] = {"IMAGE", "VIDEO"};
    char p[40];
    snprintf(p, sizeof(p), "playlist.items[%zu]", i);
    if (!json_is_object(o))
        return refuse(err, -EBADMSG, p, "", "not an object");
    snprintf(p, sizeof(p), "playlist.items[%zu].", i);
    const char *url;
    int type = 0;
    int r = get_uuid(o, p, "assetId", it->asset_id, err);
    if (r >= 0)
        r = get_enum(o, p, "type", types, &type, err);
    if (r >= 0)
        r = get_string(o, p, "url", MANIFEST_URL_MAX, &url, err);
    if (r >= 0 && url_problem(url))
        r = refuse(err, -EBADMSG, p, "url", "%s", url_problem(url));
    if (r >= 0)
        r = get_sha256(o, p, "checksumSha256", it->checksum_sha256, err);
    it->type = type == 1 ? MANIFEST_ITEM_VIDEO : MANIFEST_ITEM_IMAGE;
    /* a video plays to its end: its durationSeconds is informative, so any count will do */
    int64_t min_dur = it->type == MANIFEST_ITEM_IMAGE ? 1 : 0;
    int64_t max_dur = it->type == MANIFEST_ITEM_IMAGE ? MANIFEST_DURATION_MAX : INT64_MAX;
    if (r >= 0)
        r = get_int(o, p, "durationSeconds", min_dur, max_dur, &it->duration_seconds, err);
    if (r >= 0)
        r = get_int(o, p, "widthPx", 0, MANIFEST_PIXELS_MAX, &it->width_px, err);
    if (r >= 0)
        r = get_int(o, p, "heightPx", 0, MANIFEST_PIXELS_MAX, &it->height_px, err);
    if (r >= 0)
        r = get_int(o, p, "fileSizeBytes", 0, MANIFEST_FILE_SIZE_MAX, &it->file_size_bytes, err);
    if (r < 0)
        return r;
    it->url = xstrdup(url);
    return 0;
}

static int cmp_item_by_asset(const void *a, const void *b)
{
    const struct manifest_item *x = *(const struct manifest_item *const *)a;
    const struct manifest_item *y = *(const struct manifest_item *const *)b;
    int c = strcmp(x->asset_id, y->asset_id);
    return c ? c : (x > y) - (x < y); /* same asset: in manifest order (one array) */
}

/* Pointers to @m's items ordered by asset id, then by position: each run is one asset. */
static const struct manifest_item **items_by_asset(const struct manifest *m)
{
    const struct manifest_item **v = xmalloc(m->n_items * sizeof(*v));
    for (size_t i = 0; i < m->n_items; i++)
        v[i] = &m->items[i];
    qsort(v, m->n_items, sizeof(*v), cmp_item_by_asset);
    return v;
}

/* An asset named twice must be the same file twice: the cache keeps one per asset id. */
static int check_repeats(const struct manifest *m, struct manifest_error *err)
{
    if (m->n_items < 2)
        return 0;
    _cleanup_free_ const struct manifest_item **v = items_by_asset(m);
    for (size_t i = 1; i < m->n_items; i++) {
        const struct manifest_item *first = v[i - 1], *again = v[i];
        if (strcmp(first->asset_id, again->asset_id))
            continue;
        const char *what = first->type != again->type ? "type"
                           : strcmp(first->checksum_sha256, again->checksum_sha256)
                               ? "checksumSha256"
                           : first->file_size_bytes != again->file_size_bytes ? "fileSizeBytes"
                                                                              : NULL;
        if (what) {
            char p[40];
            snprintf(p, sizeof(p), "playlist.items[%zu].", (size_t)(again - m->items));
            return refuse(err, -EBADMSG, p, what, "differs from items[%zu], the same assetId",
                          (size_t)(first - m->items));
        }
    }
    return 0;
}

static int parse_playlist(json_t *root, struct manifest *m, struct manifest_error *err)
{
    json_t *o = json_object_get(root, "playlist");
    if (!o)
        return refuse(err, -EBADMSG, "", "playlist", "missing");
    if (json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return refuse(err, -EBADMSG, "", "playlist", "neither an object nor null");
    m->has_playlist = true;
    int r = get_uuid(o, "playlist.", "playlistId", m->playlist_id, err);
    if (r >= 0)
        r = get_int(o, "playlist.", "publishedVersion", 1, MANIFEST_VERSION_MAX,
                    &m->published_version, err);
    json_t *items = NULL;
    if (r >= 0)
        r = member(o, "playlist.", "items", JSON_ARRAY, &items, err);
    if (r < 0)
        return r;
    size_t n = json_array_size(items);
    if (n > MANIFEST_ITEMS_MAX)
        return refuse(err, -E2BIG, "playlist.", "items", "more than %u items", MANIFEST_ITEMS_MAX);
    m->items = n ? xcalloc(n, sizeof(*m->items)) : NULL;
    for (size_t i = 0; i < n; i++) {
        r = parse_item(json_array_get(items, i), i, &m->items[i], err);
        if (r < 0)
            return r;
        m->n_items = i + 1; /* what manifest_free() must free */
    }
    return check_repeats(m, err);
}

int manifest_parse(const char *body, size_t len, struct manifest **ret, struct manifest_error *err)
{
    _cleanup_(json_decrefp) json_t *root = NULL;
    struct jsonx_error je;
    int r = jsonx_parse(body, len, MANIFEST_BODY_MAX, MANIFEST_DEPTH_MAX, 1, &root, &je);
    if (r == -E2BIG)
        return refuse(err, r, "", "(body)", "larger than %u bytes", MANIFEST_BODY_MAX);
    if (r < 0) /* malformed (-EINVAL), or nested too deep (-ELOOP) */
        return refuse(err, r == -ELOOP ? -E2BIG : -EBADMSG, "", "(body)", "line %d, column %d: %s",
                      je.line, je.column, je.text);
    if (!json_is_object(root))
        return refuse(err, -EBADMSG, "", "(body)", "not a JSON object");
    struct manifest *m = xcalloc(1, sizeof(*m));
    const char *etag, *valid_to;
    r = get_string(root, "", "manifestEtag", MANIFEST_ETAG_MAX, &etag, err);
    if (r >= 0 && !etagc_only(etag, strlen(etag)))
        r = refuse(err, -EBADMSG, "", "manifestEtag",
                   "holds a quote, a space or a byte outside visible ASCII");
    if (r >= 0)
        r = get_string(root, "", "validToUtc", 64, &valid_to, err);
    if (r >= 0 && ids_timestamp_parse(valid_to, &m->valid_to_ms) < 0)
        r = refuse(err, -EBADMSG, "", "validToUtc",
                   "not an ISO 8601 UTC timestamp (YYYY-MM-DDTHH:MM:SS[.mmm]Z)");
    if (r >= 0)
        r = get_int(root, "", "nextCheckSeconds", 1, MANIFEST_NEXT_CHECK_MAX,
                    &m->next_check_seconds, err);
    if (r >= 0)
        r = parse_settings(root, &m->settings, err);
    if (r >= 0)
        r = parse_playlist(root, m, err);
    if (r < 0) {
        manifest_free(m);
        return r;
    }
    m->etag = xstrdup(etag);
    *ret = m;
    return 0;
}

struct manifest *manifest_free(struct manifest *m)
{
    if (!m)
        return NULL;
    for (size_t i = 0; i < m->n_items; i++)
        free(m->items[i].url);
    free(m->items);
    free(m->etag);
    free(m);
    return NULL;
}

/* ---- pure helpers ------------------------------------------------------------------------- */

enum manifest_playability manifest_playability(const struct manifest *m, manifest_ready_fn ready,
                                               void *userdata)
{
    size_t n_ready = 0;
    for (size_t i = 0; i < m->n_items; i++)
        n_ready += ready(&m->items[i], userdata);
    return n_ready == 0           ? MANIFEST_PLAYABLE_NONE
           : n_ready < m->n_items ? MANIFEST_PLAYABLE_PARTIAL
                                  : MANIFEST_PLAYABLE_ALL;
}

int manifest_rotation_next(const struct manifest *m, size_t after, manifest_ready_fn ready,
                           void *userdata, size_t *ret_index)
{
    size_t n = m->n_items;
    /* from the top: as if after the last item */
    size_t start = after < n ? after + 1 : 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        if (ready(&m->items[i], userdata)) {
            *ret_index = i;
            return 0;
        }
    }
    return -ENOENT;
}

static int cmp_item_position(const void *a, const void *b)
{
    const struct manifest_item *x = *(const struct manifest_item *const *)a;
    const struct manifest_item *y = *(const struct manifest_item *const *)b;
    return (x > y) - (x < y);
}

size_t manifest_assets(const struct manifest *m, const struct manifest_item ***ret)
{
    if (m->n_items == 0) {
        *ret = NULL;
        return 0;
    }
    const struct manifest_item **v = items_by_asset(m);
    size_t n = 0;
    for (size_t i = 0; i < m->n_items; i++)
        if (i == 0 || strcmp(v[i]->asset_id, v[n - 1]->asset_id))
            v[n++] = v[i]; /* the first of each run: the asset's first appearance */
    qsort(v, n, sizeof(*v), cmp_item_position);
    *ret = v;
    return n;
}

bool manifest_references(const struct manifest *m, const char *asset_id)
{
    for (size_t i = 0; m && i < m->n_items; i++)
        if (!strcmp(m->items[i].asset_id, asset_id))
            return true;
    return false;
}

bool manifest_is_expired(const struct manifest *m, int64_t now_ms)
{
    return now_ms >= m->valid_to_ms;
}

/* ---- the store ---------------------------------------------------------------------------- */

#define SLOT_MAGIC    "marquee-manifest 1 "
#define JOURNAL_MAGIC "marquee-apply 1 "
#define JOURNAL       "apply.journal"
#define HEADER_MAX    (sizeof(SLOT_MAGIC) + 64 + 1 + MANIFEST_HTTP_ETAG_MAX + 1)

static const char *const slot_files[MANIFEST_SLOT_COUNT] = {
    [MANIFEST_SLOT_CURRENT] = "current.manifest",
    [MANIFEST_SLOT_PREVIOUS] = "previous.manifest",
    [MANIFEST_SLOT_STAGED] = "staged.manifest",
};

/* The files only a crash leaves behind (the only names ever written in place). */
static const char *const temp_files[] = {"staged.manifest.tmp", JOURNAL ".tmp"};

struct manifest_store {
    int dirfd; /* -1: read-only and the directory does not exist (an empty store) */
    bool read_only;
};

/* Tests (which #include this file) stop the process before a chosen step of the writes, to
 * leave exactly what a kill -9 there leaves. Every call that changes the disk goes through a
 * wrapper below that calls it first. */
static void (*test_step_hook)(const char *what);

static void step(const char *what)
{
    if (test_step_hook)
        test_step_hook(what);
}

static int sync_dir(struct manifest_store *s)
{
    step("fsync dir");
    return fsync(s->dirfd) < 0 ? -errno : 0;
}

static int rename_in(struct manifest_store *s, const char *from, const char *to)
{
    step(to);
    if (renameat(s->dirfd, from, s->dirfd, to) < 0)
        return -errno;
    return sync_dir(s);
}

/* Removes @name; 0 also when it was not there (then nothing is synced). */
static int unlink_in(struct manifest_store *s, const char *name)
{
    step(name);
    if (unlinkat(s->dirfd, name, 0) < 0)
        return errno == ENOENT ? 0 : -errno;
    return sync_dir(s);
}

static int write_all(int fd, const char *p, size_t n)
{
    step("write");
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* @name ← @a then @b, atomically: temp file, fsync, rename, fsync of the directory. */
static int write_atomic(struct manifest_store *s, const char *name, const char *a, size_t a_len,
                        const char *b, size_t b_len)
{
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", name);
    step(tmp);
    _cleanup_close_ int fd =
        openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int r = write_all(fd, a, a_len);
    if (r >= 0)
        r = write_all(fd, b, b_len);
    if (r >= 0) {
        step("fsync");
        if (fsync(fd) < 0)
            r = -errno;
    }
    if (r >= 0)
        r = rename_in(s, tmp, name);
    if (r < 0) {
        step(tmp);
        unlinkat(s->dirfd, tmp, 0);
    }
    return r;
}

/* Reads the whole regular file @name, at most @max bytes, NUL-terminated. -ENOENT if absent,
 * -EFBIG if larger, -EISDIR / -ELOOP (a symbolic link) for what is not a regular file. */
static int read_in(struct manifest_store *s, const char *name, size_t max, char **ret,
                   size_t *ret_len)
{
    if (s->dirfd < 0)
        return -ENOENT;
    _cleanup_close_ int fd = openat(s->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EISDIR;
    if ((uint64_t)st.st_size > max)
        return -EFBIG;
    _cleanup_free_ char *data = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got <= (size_t)st.st_size) { /* one byte more than fstat said: the file grew */
        ssize_t n = read(fd, data + got, (size_t)st.st_size + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got > (size_t)st.st_size)
        return -EFBIG;
    data[got] = '\0';
    *ret_len = got;
    *ret = TAKE_PTR(data);
    return 0;
}

/* `"…"` or `W/"…"` with etagc between the quotes (RFC 9110 entity-tag), bounded. */
static bool http_etag_valid(const char *e, size_t n)
{
    if (n > MANIFEST_HTTP_ETAG_MAX)
        return false;
    if (n >= 2 && !strncmp(e, "W/", 2)) {
        e += 2;
        n -= 2;
    }
    return n >= 2 && e[0] == '"' && e[n - 1] == '"' && etagc_only(e + 1, n - 2);
}

static void slot_release(struct manifest_slot *slot)
{
    manifest_free(slot->manifest);
    free(slot->http_etag);
    *slot = (struct manifest_slot){.state = MANIFEST_SLOT_ABSENT};
}

void manifest_slots_release(struct manifest_slots *s)
{
    for (int i = 0; i < MANIFEST_SLOT_COUNT; i++)
        slot_release(&s->slot[i]);
    s->recovered = false;
}

static int corrupt(struct manifest_slot *slot, const char *fmt, ...) _printf_(2, 3);

static int corrupt(struct manifest_slot *slot, const char *fmt, ...)
{
    slot->state = MANIFEST_SLOT_CORRUPT;
    snprintf(slot->error.field, sizeof(slot->error.field), "(file)");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(slot->error.reason, sizeof(slot->error.reason), fmt, ap);
    va_end(ap);
    return 0;
}

/* Checks a slot file's header line and digest; the body and the ETag in place, or a reason. */
static const char *slot_unwrap(char *data, size_t len, const char **body, size_t *body_len,
                               char **etag, char sha[HASH_SHA256_HEX_LEN])
{
    size_t magic = strlen(SLOT_MAGIC);
    if (len < magic || memcmp(data, SLOT_MAGIC, magic))
        return "no marquee-manifest header line";
    char *nl = memchr(data, '\n', MIN(len, HEADER_MAX));
    if (!nl || (size_t)(nl - data) < magic + 64 + 1)
        return "a malformed header line";
    *nl = '\0';
    char *hex = data + magic;
    if (strspn(hex, "0123456789abcdef") != 64 || hex[64] != ' ' ||
        !http_etag_valid(hex + 65, strlen(hex + 65)))
        return "a malformed header line";
    *body = nl + 1;
    *body_len = len - (size_t)(nl + 1 - data);
    hash_sha256_hex(*body, *body_len, sha);
    if (memcmp(sha, hex, 64))
        return "its contents do not match their SHA-256 (damaged)";
    *etag = hex + 65;
    return NULL;
}

/* Reads slot @i into *@slot: ABSENT, OK or CORRUPT (0), or -errno when the failure is the
 * system's (out of descriptors …), not the file's. slot->sha256 is set whenever the digest
 * matched, even if the manifest is then refused (a newer or older player's rules). */
static int slot_read(struct manifest_store *s, int i, struct manifest_slot *slot)
{
    *slot = (struct manifest_slot){.state = MANIFEST_SLOT_ABSENT};
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    int r = read_in(s, slot_files[i], HEADER_MAX + MANIFEST_BODY_MAX, &data, &len);
    if (r == -ENOENT)
        return 0;
    if (r == -EIO || r == -EFBIG || r == -EISDIR || r == -ELOOP)
        return corrupt(slot, "cannot be read: %s", strerror(-r));
    if (r < 0)
        return r;
    const char *body;
    size_t body_len;
    char *etag;
    char sha[HASH_SHA256_HEX_LEN];
    const char *why = slot_unwrap(data, len, &body, &body_len, &etag, sha);
    if (why)
        return corrupt(slot, "%s", why);
    memcpy(slot->sha256, sha, sizeof(sha));
    r = manifest_parse(body, body_len, &slot->manifest, &slot->error);
    if (r < 0) {
        slot->state = MANIFEST_SLOT_CORRUPT;
        return 0;
    }
    slot->state = MANIFEST_SLOT_OK;
    slot->http_etag = xstrdup(etag);
    return 0;
}

/* The journal: *@ret_present when there is a file by its name, and the digest of the staged
 * manifest it applies in @sha, "" when the file is not a journal (damage only: it is written
 * atomically), which is then not followed, only removed. */
static int journal_read(struct manifest_store *s, bool *ret_present, char sha[HASH_SHA256_HEX_LEN])
{
    _cleanup_free_ char *data = NULL;
    size_t len = 0, magic = strlen(JOURNAL_MAGIC);
    int r = read_in(s, JOURNAL, 256, &data, &len);
    sha[0] = '\0';
    *ret_present = r != -ENOENT;
    if (r == -ENOENT || r == -EFBIG || r == -EISDIR || r == -ELOOP || r == -EIO)
        return 0;
    if (r < 0)
        return r;
    if (len == magic + 64 + 1 && !memcmp(data, JOURNAL_MAGIC, magic) &&
        strspn(data + magic, "0123456789abcdef") == 64 && data[len - 1] == '\n') {
        memcpy(sha, data + magic, 64);
        sha[64] = '\0';
    }
    return 0;
}

/* An apply's steps after its commit point (A2, A3, A4 in the DESIGN above). */
static int apply_finish(struct manifest_store *s, bool move_current)
{
    int r = 0;
    if (move_current)
        r = rename_in(s, slot_files[MANIFEST_SLOT_CURRENT], slot_files[MANIFEST_SLOT_PREVIOUS]);
    if (r >= 0)
        r = rename_in(s, slot_files[MANIFEST_SLOT_STAGED], slot_files[MANIFEST_SLOT_CURRENT]);
    if (r >= 0)
        r = unlink_in(s, JOURNAL);
    return r;
}

int manifest_store_load(struct manifest_store *s, struct manifest_slots *ret)
{
    struct manifest_slots d = {0};
    int r = 0;
    for (int i = 0; r >= 0 && i < MANIFEST_SLOT_COUNT; i++)
        r = slot_read(s, i, &d.slot[i]);
    bool journal = false;
    char applying[HASH_SHA256_HEX_LEN] = "";
    if (r >= 0)
        r = journal_read(s, &journal, applying);
    struct manifest_slot *cur = &d.slot[MANIFEST_SLOT_CURRENT];
    struct manifest_slot *prev = &d.slot[MANIFEST_SLOT_PREVIOUS];
    struct manifest_slot *stg = &d.slot[MANIFEST_SLOT_STAGED];
    /* the journal's apply is still to do while its staged file is there; once that has moved,
     * only the journal is left to remove */
    bool pending = applying[0] && !strcmp(stg->sha256, applying);
    bool move_current = pending && cur->state == MANIFEST_SLOT_OK;
    if (r >= 0 && !s->read_only) {
        for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(temp_files); i++)
            r = unlink_in(s, temp_files[i]);
        if (r >= 0 && pending)
            r = apply_finish(s, move_current);
        else if (r >= 0 && journal)
            r = unlink_in(s, JOURNAL); /* done, or not the staged file's: nothing to apply */
    }
    if (r < 0) {
        manifest_slots_release(&d);
        return r;
    }
    if (pending) {
        if (move_current) {
            slot_release(prev);
            *prev = *cur;
        } else {
            slot_release(cur);
        }
        *cur = *stg;
        *stg = (struct manifest_slot){.state = MANIFEST_SLOT_ABSENT};
    }
    d.recovered = pending || (applying[0] && stg->state == MANIFEST_SLOT_ABSENT);
    *ret = d;
    return 0;
}

/* Completes an interrupted apply before anything else changes the slots. */
static int recover(struct manifest_store *s)
{
    struct stat st;
    if (fstatat(s->dirfd, JOURNAL, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    struct manifest_slots d;
    int r = manifest_store_load(s, &d);
    if (r >= 0)
        manifest_slots_release(&d);
    return r;
}

int manifest_store_stage(struct manifest_store *s, const char *body, size_t len,
                         const char *http_etag, struct manifest **ret_manifest,
                         struct manifest_error *err)
{
    if (s->read_only)
        return -EROFS;
    if (http_etag && !http_etag_valid(http_etag, strlen(http_etag)))
        return -EINVAL;
    struct manifest *m = NULL;
    int r = manifest_parse(body, len, &m, err);
    if (r < 0)
        return r;
    r = recover(s);
    char sha[HASH_SHA256_HEX_LEN];
    hash_sha256_hex(body, len, sha);
    _cleanup_free_ char *header = http_etag ? xasprintf(SLOT_MAGIC "%s %s\n", sha, http_etag)
                                            : xasprintf(SLOT_MAGIC "%s \"%s\"\n", sha, m->etag);
    if (r >= 0)
        r = write_atomic(s, slot_files[MANIFEST_SLOT_STAGED], header, strlen(header), body, len);
    if (r < 0 || !ret_manifest)
        m = manifest_free(m);
    if (r >= 0 && ret_manifest)
        *ret_manifest = m;
    return r;
}

int manifest_store_apply(struct manifest_store *s)
{
    if (s->read_only)
        return -EROFS;
    int r = recover(s);
    if (r < 0)
        return r;
    struct manifest_slot stg, cur;
    r = slot_read(s, MANIFEST_SLOT_STAGED, &stg);
    if (r < 0)
        return r;
    int state = stg.state;
    char sha[HASH_SHA256_HEX_LEN];
    memcpy(sha, stg.sha256, sizeof(sha));
    slot_release(&stg);
    if (state != MANIFEST_SLOT_OK)
        return state == MANIFEST_SLOT_ABSENT ? -ENOENT : -EBADMSG;
    r = slot_read(s, MANIFEST_SLOT_CURRENT, &cur);
    if (r < 0)
        return r;
    bool move_current = cur.state == MANIFEST_SLOT_OK;
    slot_release(&cur);
    _cleanup_free_ char *journal = xasprintf(JOURNAL_MAGIC "%s\n", sha);
    r = write_atomic(s, JOURNAL, journal, strlen(journal), "", 0);
    if (r < 0)
        return r;
    return apply_finish(s, move_current);
}

int manifest_store_drop_current(struct manifest_store *s)
{
    if (s->read_only)
        return -EROFS;
    int r = recover(s);
    return r < 0 ? r : unlink_in(s, slot_files[MANIFEST_SLOT_CURRENT]);
}

int manifest_store_discard_staged(struct manifest_store *s)
{
    if (s->read_only)
        return -EROFS;
    int r = recover(s);
    return r < 0 ? r : unlink_in(s, slot_files[MANIFEST_SLOT_STAGED]);
}

int manifest_store_open(const char *data_dir, bool read_only, struct manifest_store **ret)
{
    _cleanup_free_ char *path = xasprintf("%s/manifests", data_dir);
    if (!read_only) {
        int r = fsx_mkdir(path, 0700); /* its entry in data_dir made durable too */
        if (r < 0)
            return r;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && !(read_only && errno == ENOENT))
        return -errno;
    struct manifest_store *s = xmalloc(sizeof(*s));
    *s = (struct manifest_store){.dirfd = fd, .read_only = read_only};
    *ret = s;
    return 0;
}

struct manifest_store *manifest_store_free(struct manifest_store *s)
{
    if (s) {
        if (s->dirfd >= 0)
            close(s->dirfd);
        free(s);
    }
    return NULL;
}
