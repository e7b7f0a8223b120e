/* SPDX-License-Identifier: MIT */
/*
 * test-media-rules.c — the pure half of the media inspector (media-rules.h): every magic number
 * media_sniff() knows, every rule at its boundary (1920×1080 both ways, 120.5 s, 10 Mbps,
 * 30 fps), the order in which rules are applied (one reason only, the first), what the details
 * say, the thumbnail size, and the JPEG/PNG/MP4 structure walks on synthetic files cut at every
 * possible byte.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../../../unit/cmocka-prelude.h"
#include "content/media-rules.h"
#include "macro.h"

/* ---- sniffing ----------------------------------------------------------------------------- */

/* Sniffs @magic (@len bytes) padded with zeros to 64 bytes, as the start of a larger file. */
static enum media_container sniff_padded(const void *magic, size_t len)
{
    uint8_t head[64] = {0};
    assert_true(len <= sizeof(head));
    memcpy(head, magic, len);
    return media_sniff(head, sizeof(head));
}

/* An ISO base media file whose ftyp has @major and one compatible brand @compat. */
static enum media_container sniff_ftyp(const char *major, const char *compat)
{
    uint8_t head[64] = {0};
    memcpy(head,
           "\0\0\0\x18"
           "ftyp",
           8);
    memcpy(head + 8, major, 4);
    memcpy(head + 16, compat, 4);
    memcpy(head + 20, "isom", 4);
    memcpy(head + 28, "mdat", 4);
    return media_sniff(head, sizeof(head));
}

static void sniff_supported(void **state _unused_)
{
    assert_int_equal(sniff_padded("\xFF\xD8\xFF\xE0", 4), MEDIA_CONTAINER_JPEG);
    assert_int_equal(sniff_padded("\xFF\xD8\xFF\xE1", 4), MEDIA_CONTAINER_JPEG); /* Exif */
    assert_int_equal(sniff_padded("\xFF\xD8\xFF\xDB", 4), MEDIA_CONTAINER_JPEG);
    assert_int_equal(sniff_padded("\x89PNG\r\n\x1A\n", 8), MEDIA_CONTAINER_PNG);
    static const char *const mp4[] = {"isom", "iso2", "iso4", "iso5", "iso6", "iso9", "mp41",
                                      "mp42", "avc1", "M4V ", "dash", "3gp4", "MSNV", NULL};
    for (const char *const *b = mp4; *b; b++)
        assert_int_equal(sniff_ftyp(*b, "mp41"), MEDIA_CONTAINER_MP4);
    /* M4A is an MP4 too: it is refused later, for having no video track */
    assert_int_equal(sniff_ftyp("M4A ", "mp42"), MEDIA_CONTAINER_MP4);
}

static void sniff_iso_family_refused(void **state _unused_)
{
    assert_int_equal(sniff_ftyp("qt  ", "qt  "), MEDIA_CONTAINER_QUICKTIME);
    assert_int_equal(sniff_ftyp("heic", "mif1"), MEDIA_CONTAINER_HEIF);
    assert_int_equal(sniff_ftyp("heix", "mif1"), MEDIA_CONTAINER_HEIF);
    assert_int_equal(sniff_ftyp("mif1", "heic"), MEDIA_CONTAINER_HEIF);
    assert_int_equal(sniff_ftyp("msf1", "hevc"), MEDIA_CONTAINER_HEIF);
    assert_int_equal(sniff_ftyp("avif", "mif1"), MEDIA_CONTAINER_AVIF);
    assert_int_equal(sniff_ftyp("avis", "msf1"), MEDIA_CONTAINER_AVIF);
    assert_int_equal(sniff_ftyp("mif1", "avif"), MEDIA_CONTAINER_AVIF); /* generic major brand */
    /* QuickTime from before ftyp */
    assert_int_equal(sniff_padded("\0\0\0\x08wide", 8), MEDIA_CONTAINER_QUICKTIME);
    assert_int_equal(sniff_padded("\0\0\x10\0moov", 8), MEDIA_CONTAINER_QUICKTIME);
    assert_int_equal(sniff_padded("\0\0\x10\0mdat", 8), MEDIA_CONTAINER_QUICKTIME);
}

/* a string literal and its length, embedded NULs included */
#define MAGIC(s) s, sizeof(s) - 1

static void sniff_other_formats(void **state _unused_)
{
    static const struct {
        const char *magic;
        size_t len;
        enum media_container want;
    } cases[] = {
        {MAGIC("GIF89a"), MEDIA_CONTAINER_GIF},
        {MAGIC("GIF87a"), MEDIA_CONTAINER_GIF},
        {MAGIC("RIFF\x10\0\0\0WEBPVP8 "), MEDIA_CONTAINER_WEBP},
        {MAGIC("RIFF\x10\0\0\0AVI LIST"), MEDIA_CONTAINER_AVI},
        {MAGIC("RIFF\x10\0\0\0WAVEfmt "), MEDIA_CONTAINER_WAV},
        {MAGIC("RIFF\x10\0\0\0CDXAfmt "), MEDIA_CONTAINER_UNKNOWN},
        {MAGIC("\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x84webm"), MEDIA_CONTAINER_WEBM},
        {MAGIC("\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x88matroska"),
         MEDIA_CONTAINER_MATROSKA},
        {MAGIC("BM\x36\x10\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0"), MEDIA_CONTAINER_BMP},
        {MAGIC("BMxxxxxxxxxxxxxxxx"), MEDIA_CONTAINER_UNKNOWN}, /* "BM" alone is not enough */
        {MAGIC("II*\0\x08\0\0\0"), MEDIA_CONTAINER_TIFF},
        {MAGIC("MM\0*\0\0\0\x08"), MEDIA_CONTAINER_TIFF},
        {MAGIC("8BPS\0\x01"), MEDIA_CONTAINER_PSD},
        {MAGIC("\0\0\0\x0CjP  \r\n\x87\n"), MEDIA_CONTAINER_JPEG2000},
        {MAGIC("\xFF\x4F\xFF\x51"), MEDIA_CONTAINER_JPEG2000},
        {MAGIC("\xFF\x0A\xFA\x7F"), MEDIA_CONTAINER_JPEGXL},
        {MAGIC("\0\0\0\x0CJXL \r\n\x87\n"), MEDIA_CONTAINER_JPEGXL},
        {MAGIC("FLV\x01\x05"), MEDIA_CONTAINER_FLV},
        {MAGIC("\x30\x26\xB2\x75\x8E\x66\xCF\x11"), MEDIA_CONTAINER_ASF},
        {MAGIC("\0\0\x01\xBA\x44"), MEDIA_CONTAINER_MPEGPS},
        {MAGIC("OggS\0\x02"), MEDIA_CONTAINER_OGG},
        {MAGIC("fLaC\0\0\0\x22"), MEDIA_CONTAINER_FLAC},
        {MAGIC("ID3\x04\0\0"), MEDIA_CONTAINER_MP3},
        {MAGIC("\xFF\xFB\x90\x64"), MEDIA_CONTAINER_MP3},
        {MAGIC("\xFF\xF1\x50\x80"), MEDIA_CONTAINER_UNKNOWN}, /* ADTS AAC: not an MP3 frame */
        {MAGIC("%PDF-1.7\n"), MEDIA_CONTAINER_PDF},
        {MAGIC("PK\x03\x04\x14\0"), MEDIA_CONTAINER_ZIP},
        {MAGIC("PK\x05\x06\0\0"), MEDIA_CONTAINER_ZIP},
        {MAGIC("<?xml version=\"1.0\"?>\n<svg xmlns"), MEDIA_CONTAINER_SVG},
        {MAGIC("\xEF\xBB\xBF  <svg width=\"1\">"), MEDIA_CONTAINER_SVG},
        {MAGIC("<html><body>hello</body></html>"), MEDIA_CONTAINER_UNKNOWN},
        {MAGIC("Hello, world! This is text."), MEDIA_CONTAINER_UNKNOWN},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        enum media_container got = sniff_padded(cases[i].magic, cases[i].len);
        if (got != cases[i].want)
            fail_msg("case %zu: got %s, want %s", i, media_container_name(got),
                     media_container_name(cases[i].want));
    }
}

static void sniff_mpegts_needs_three_syncs(void **state _unused_)
{
    uint8_t ts[400] = {0};
    ts[0] = ts[188] = ts[376] = 0x47;
    assert_int_equal(media_sniff(ts, sizeof(ts)), MEDIA_CONTAINER_MPEGTS);
    ts[376] = 0;
    assert_int_equal(media_sniff(ts, sizeof(ts)), MEDIA_CONTAINER_UNKNOWN);
    assert_int_equal(media_sniff(ts, 100), MEDIA_CONTAINER_UNKNOWN);
}

static void sniff_empty_short_random(void **state _unused_)
{
    assert_int_equal(media_sniff(NULL, 0), MEDIA_CONTAINER_EMPTY);
    assert_int_equal(media_sniff((const uint8_t *)"\xFF\xD8\xFF", 3), MEDIA_CONTAINER_TOO_SHORT);
    uint8_t png[MEDIA_MIN_FILE_BYTES] = "\x89PNG\r\n\x1A\n";
    assert_int_equal(media_sniff(png, sizeof(png) - 1), MEDIA_CONTAINER_TOO_SHORT);
    assert_int_equal(media_sniff(png, sizeof(png)), MEDIA_CONTAINER_PNG);

    /* deterministic noise: never a supported container unless it starts with a magic */
    uint32_t x = 2463534242u;
    for (int round = 0; round < 2000; round++) {
        uint8_t head[MEDIA_SNIFF_BYTES];
        for (size_t i = 0; i < sizeof(head); i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            head[i] = (uint8_t)x;
        }
        enum media_container c = media_sniff(head, sizeof(head));
        if (c == MEDIA_CONTAINER_JPEG)
            assert_memory_equal(head, "\xFF\xD8\xFF", 3);
        else if (c == MEDIA_CONTAINER_PNG || c == MEDIA_CONTAINER_MP4)
            fail_msg("noise sniffed as %s", media_container_name(c));
    }
}

static void names_and_mime(void **state _unused_)
{
    assert_string_equal(media_container_name(MEDIA_CONTAINER_JPEG), "JPEG");
    assert_string_equal(media_container_name(MEDIA_CONTAINER_PNG), "PNG");
    assert_string_equal(media_container_name(MEDIA_CONTAINER_MP4), "MP4");
    assert_string_equal(media_container_name((enum media_container)999), "unknown");
    assert_string_equal(media_container_mime(MEDIA_CONTAINER_JPEG), "image/jpeg");
    assert_string_equal(media_container_mime(MEDIA_CONTAINER_PNG), "image/png");
    assert_string_equal(media_container_mime(MEDIA_CONTAINER_MP4), "video/mp4");
    assert_null(media_container_mime(MEDIA_CONTAINER_GIF));
    assert_true(media_container_is_video(MEDIA_CONTAINER_MP4));
    assert_false(media_container_is_video(MEDIA_CONTAINER_PNG));
    for (int c = 0; c < _MEDIA_CONTAINER_MAX; c++) {
        assert_non_null(media_container_name((enum media_container)c));
        assert_int_equal(media_container_supported((enum media_container)c),
                         c == MEDIA_CONTAINER_JPEG || c == MEDIA_CONTAINER_PNG ||
                             c == MEDIA_CONTAINER_MP4);
    }
    static const char *const reasons[] = {
        "OK",
        "INVALID_FORMAT",
        "INVALID_CODEC",
        "RESOLUTION_EXCEEDED",
        "DURATION_EXCEEDED",
        "BITRATE_EXCEEDED",
        "FILE_CORRUPT",
        "THUMBNAIL_FAILED",
        "INTERNAL_ERROR",
        "PROCESSING_TIMEOUT",
    };
    _Static_assert(ARRAY_SIZE(reasons) == _MEDIA_REASON_MAX, "every reason named");
    for (int r = 0; r < _MEDIA_REASON_MAX; r++)
        assert_string_equal(media_reason_name((enum media_reason)r), reasons[r]);
}

static void codec_names(void **state _unused_)
{
    assert_string_equal(media_codec_human("vp9"), "VP9");
    assert_string_equal(media_codec_human("hevc"), "HEVC/H.265");
    assert_string_equal(media_codec_human("av1"), "AV1");
    assert_string_equal(media_codec_human("mpeg4"), "MPEG-4 Part 2");
    assert_string_equal(media_codec_human("mp3"), "MP3");
    assert_string_equal(media_codec_human("pcm_s16le"), "uncompressed PCM");
    assert_null(media_codec_human("cinepak"));
    assert_null(media_codec_human(NULL));
}

/* ---- rules -------------------------------------------------------------------------------- */

static struct media_facts good_video(void)
{
    return (struct media_facts){
        .container = MEDIA_CONTAINER_MP4,
        .parsed = true,
        .n_video = 1,
        .n_audio = 1,
        .video_codec = "h264",
        .audio_codec = "aac",
        .width = 1920,
        .height = 1080,
        .duration_ms = 30000,
        .bitrate_bps = 8000000,
        .fps_num = 30,
        .fps_den = 1,
        .decode = MEDIA_STEP_OK,
        .thumbnail = MEDIA_STEP_OK,
    };
}

static struct media_facts good_image(enum media_container c)
{
    return (struct media_facts){
        .container = c,
        .parsed = true,
        .n_video = 1,
        .video_codec = c == MEDIA_CONTAINER_JPEG ? "mjpeg" : "png",
        .width = 1920,
        .height = 1080,
        .decode = MEDIA_STEP_OK,
        .thumbnail = MEDIA_STEP_OK,
    };
}

static char detail[MEDIA_DETAIL_MAX];

static enum media_reason check(const struct media_facts *f)
{
    memset(detail, 0, sizeof(detail));
    enum media_reason r = media_rules_check(f, detail, sizeof(detail));
    if (r != MEDIA_OK) {
        assert_true(strlen(detail) > 10);
        assert_true(strlen(detail) < MEDIA_DETAIL_MAX);
    }
    return r;
}

static void expect(const struct media_facts *f, enum media_reason want, const char *needle)
{
    enum media_reason got = check(f);
    if (got != want)
        fail_msg("got %s (\"%s\"), want %s", media_reason_name(got), detail,
                 media_reason_name(want));
    if (needle && !strstr(detail, needle))
        fail_msg("detail \"%s\" does not mention \"%s\"", detail, needle);
}

static void valid_files_pass(void **state _unused_)
{
    struct media_facts f = good_video();
    expect(&f, MEDIA_OK, NULL);
    f.n_audio = 0;
    f.audio_codec = NULL;
    expect(&f, MEDIA_OK, NULL);
    f = good_image(MEDIA_CONTAINER_JPEG);
    expect(&f, MEDIA_OK, NULL);
    f = good_image(MEDIA_CONTAINER_PNG);
    expect(&f, MEDIA_OK, NULL);
}

static void pending_steps_are_not_judged(void **state _unused_)
{
    struct media_facts f = good_video();
    f.decode = f.thumbnail = MEDIA_STEP_PENDING;
    expect(&f, MEDIA_OK, NULL);
    f.bitrate_bps = 0; /* unknown */
    f.fps_num = f.fps_den = 0;
    expect(&f, MEDIA_OK, NULL);
    char untouched[8] = "keep";
    assert_int_equal(media_rules_check(&f, untouched, sizeof(untouched)), MEDIA_OK);
    assert_string_equal(untouched, "keep");
}

static void format_failures(void **state _unused_)
{
    struct media_facts f = {.container = MEDIA_CONTAINER_GIF};
    expect(&f, MEDIA_INVALID_FORMAT, "GIF images are not supported. Use JPEG or PNG.");
    f.container = MEDIA_CONTAINER_QUICKTIME;
    expect(&f, MEDIA_INVALID_FORMAT, "QuickTime MOV files are not supported. Export as MP4.");
    f.container = MEDIA_CONTAINER_HEIF;
    expect(&f, MEDIA_INVALID_FORMAT, "HEIC");
    f.container = MEDIA_CONTAINER_AVIF;
    expect(&f, MEDIA_INVALID_FORMAT, "AVIF");
    f.container = MEDIA_CONTAINER_WEBM;
    expect(&f, MEDIA_INVALID_FORMAT, "WebM");
    f.container = MEDIA_CONTAINER_UNKNOWN;
    expect(&f, MEDIA_INVALID_FORMAT,
           "This file is not a supported image or video. Use JPEG, PNG or MP4 (H.264/AAC).");
    f.container = (enum media_container)12345;
    expect(&f, MEDIA_INVALID_FORMAT, "not a supported");
    /* every unsupported container has its own sentence */
    for (int c = 0; c < _MEDIA_CONTAINER_MAX; c++) {
        f.container = (enum media_container)c;
        if (media_container_supported(f.container))
            continue;
        enum media_reason r = check(&f);
        assert_true(r == MEDIA_INVALID_FORMAT || r == MEDIA_FILE_CORRUPT);
    }

    f = good_video();
    f.n_video = 0;
    expect(&f, MEDIA_INVALID_FORMAT, "The MP4 has no video track.");
    f.n_video = 2;
    expect(&f, MEDIA_INVALID_FORMAT, "2 video tracks");
    f.n_video = 1;
    f.n_audio = 2;
    expect(&f, MEDIA_INVALID_FORMAT, "2 audio tracks");
}

static void corrupt_files(void **state _unused_)
{
    struct media_facts f = {.container = MEDIA_CONTAINER_EMPTY};
    expect(&f, MEDIA_FILE_CORRUPT, "The file is empty.");
    f.container = MEDIA_CONTAINER_TOO_SHORT;
    expect(&f, MEDIA_FILE_CORRUPT, "too short");

    f = good_video();
    f.parsed = false;
    expect(&f, MEDIA_FILE_CORRUPT, "could not be read");
    f.truncated = true; /* e.g. cut before its moov: says why */
    expect(&f, MEDIA_FILE_CORRUPT, "The video file is incomplete");

    f = good_video();
    f.truncated = true;
    expect(&f, MEDIA_FILE_CORRUPT,
           "The video file is incomplete: it ends before all of its frames (was the upload "
           "cut short?).");
    f = good_video();
    f.decode = MEDIA_STEP_FAILED;
    expect(&f, MEDIA_FILE_CORRUPT, "could not be decoded");
    f = good_video();
    f.duration_ms = 0;
    expect(&f, MEDIA_FILE_CORRUPT, "no length");
    f = good_video();
    f.width = 0;
    expect(&f, MEDIA_FILE_CORRUPT, "no picture size");

    f = good_image(MEDIA_CONTAINER_JPEG);
    f.truncated = true;
    expect(&f, MEDIA_FILE_CORRUPT, "The image file is incomplete");
    f = good_image(MEDIA_CONTAINER_PNG);
    f.parsed = false;
    expect(&f, MEDIA_FILE_CORRUPT, "The image file is damaged");
    f = good_image(MEDIA_CONTAINER_PNG);
    f.decode = MEDIA_STEP_FAILED;
    expect(&f, MEDIA_FILE_CORRUPT, "The image could not be decoded");
    f = good_image(MEDIA_CONTAINER_PNG);
    f.n_video = 0;
    expect(&f, MEDIA_FILE_CORRUPT, NULL);
}

static void codec_failures(void **state _unused_)
{
    struct media_facts f = good_video();
    f.video_codec = "vp9";
    expect(&f, MEDIA_INVALID_CODEC, "VP9");
    expect(&f, MEDIA_INVALID_CODEC, "Only H.264 is supported.");
    f.video_codec = "hevc";
    expect(&f, MEDIA_INVALID_CODEC, "HEVC/H.265");
    f.video_codec = "av1";
    expect(&f, MEDIA_INVALID_CODEC, "AV1");
    f.video_codec = "mpeg4";
    expect(&f, MEDIA_INVALID_CODEC, "MPEG-4 Part 2");
    f.video_codec = "cinepak"; /* no human name: FFmpeg's */
    expect(&f, MEDIA_INVALID_CODEC, "cinepak");
    f.video_codec = "none";
    expect(&f, MEDIA_INVALID_CODEC, "unrecognized");
    f.video_codec = NULL;
    expect(&f, MEDIA_INVALID_CODEC, "unrecognized");
    f.video_codec = "evil\"<codec>/../x";
    expect(&f, MEDIA_INVALID_CODEC, "evil??codec?");
    assert_null(strstr(detail, "/.."));
    assert_null(strchr(detail, '"'));

    f = good_video();
    f.audio_codec = "mp3";
    expect(&f, MEDIA_INVALID_CODEC, "Audio uses MP3. Only AAC is supported.");
    f.audio_codec = "opus";
    expect(&f, MEDIA_INVALID_CODEC, "Opus");
    f.audio_codec = "none";
    expect(&f, MEDIA_INVALID_CODEC, "Audio uses an unrecognized codec");
    f.n_audio = 0; /* no audio: its codec does not matter */
    expect(&f, MEDIA_OK, NULL);

    f = good_image(MEDIA_CONTAINER_JPEG);
    f.video_codec = "png";
    expect(&f, MEDIA_INVALID_CODEC, NULL);
}

static void resolution_boundaries(void **state _unused_)
{
    static const struct {
        int64_t w, h;
        enum media_reason want;
    } cases[] = {
        {1920, 1080, MEDIA_OK},
        {1080, 1920, MEDIA_OK}, /* portrait */
        {1921, 1080, MEDIA_RESOLUTION_EXCEEDED},
        {1920, 1081, MEDIA_RESOLUTION_EXCEEDED},
        {1080, 1921, MEDIA_RESOLUTION_EXCEEDED},
        {1081, 1920, MEDIA_RESOLUTION_EXCEEDED},
        {1440, 1440, MEDIA_RESOLUTION_EXCEEDED}, /* square: short side over 1080 */
        {1080, 1080, MEDIA_OK},
        {1, 1, MEDIA_OK},
        {3840, 2160, MEDIA_RESOLUTION_EXCEEDED},
        {60000, 60000, MEDIA_RESOLUTION_EXCEEDED},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct media_facts v = good_video(), im = good_image(MEDIA_CONTAINER_PNG);
        v.width = im.width = cases[i].w;
        v.height = im.height = cases[i].h;
        expect(&v, cases[i].want, cases[i].want ? "Video is" : NULL);
        expect(&im, cases[i].want, cases[i].want ? "Image is" : NULL);
    }
    struct media_facts f = good_video();
    f.width = 3840;
    f.height = 2160;
    expect(&f, MEDIA_RESOLUTION_EXCEEDED, "Video is 3840×2160. The maximum is 1920×1080");
}

static void frame_rate_boundaries(void **state _unused_)
{
    struct media_facts f = good_video();
    f.fps_num = 30000, f.fps_den = 1001;
    expect(&f, MEDIA_OK, NULL);
    f.fps_num = 30, f.fps_den = 1;
    expect(&f, MEDIA_OK, NULL);
    f.fps_num = 3005, f.fps_den = 100; /* inside the tolerance */
    expect(&f, MEDIA_OK, NULL);
    f.fps_num = 3006, f.fps_den = 100;
    expect(&f, MEDIA_RESOLUTION_EXCEEDED, "Video is 30.06 fps.");
    f.fps_num = 60, f.fps_den = 1;
    expect(&f, MEDIA_RESOLUTION_EXCEEDED, "Video is 60 fps. The maximum is 30 fps.");
    f.fps_num = 60000, f.fps_den = 1001;
    expect(&f, MEDIA_RESOLUTION_EXCEEDED, "59.94 fps");
    f.fps_num = 50, f.fps_den = 1;
    expect(&f, MEDIA_RESOLUTION_EXCEEDED, "50 fps");
    f.fps_num = 61, f.fps_den = 2;
    expect(&f, MEDIA_RESOLUTION_EXCEEDED, "30.5 fps");
    f.fps_num = 24000, f.fps_den = 1001;
    expect(&f, MEDIA_OK, NULL);
    f.fps_num = INT32_MAX, f.fps_den = 1; /* absurd but no overflow */
    expect(&f, MEDIA_RESOLUTION_EXCEEDED, "fps");
    f.fps_num = 60, f.fps_den = 0; /* unknown */
    expect(&f, MEDIA_OK, NULL);
    f.fps_num = -60, f.fps_den = 1;
    expect(&f, MEDIA_OK, NULL);
}

static void duration_boundaries(void **state _unused_)
{
    struct media_facts f = good_video();
    f.duration_ms = 120000;
    expect(&f, MEDIA_OK, NULL);
    f.duration_ms = 120500; /* a 2:00 export with AAC priming */
    expect(&f, MEDIA_OK, NULL);
    f.duration_ms = 120501;
    expect(&f, MEDIA_DURATION_EXCEEDED, "Video is 120.6 seconds long.");
    f.duration_ms = 120600;
    expect(&f, MEDIA_DURATION_EXCEEDED,
           "Video is 120.6 seconds long. The maximum is 120 "
           "seconds.");
    f.duration_ms = 130000;
    expect(&f, MEDIA_DURATION_EXCEEDED,
           "Video is 130.0 seconds long. The maximum is 120 "
           "seconds.");
    f.duration_ms = 1;
    expect(&f, MEDIA_OK, NULL);
    f.duration_ms = -5;
    expect(&f, MEDIA_FILE_CORRUPT, NULL);
    f.duration_ms = INT64_MAX;
    expect(&f, MEDIA_DURATION_EXCEEDED, "seconds long");
    /* images have no duration */
    struct media_facts im = good_image(MEDIA_CONTAINER_JPEG);
    im.duration_ms = 999999999;
    expect(&im, MEDIA_OK, NULL);
}

static void bitrate_boundaries(void **state _unused_)
{
    struct media_facts f = good_video();
    f.bitrate_bps = 10000000;
    expect(&f, MEDIA_OK, NULL);
    f.bitrate_bps = 10000001;
    expect(&f, MEDIA_BITRATE_EXCEEDED, "Video bitrate is 10.1 Mbps. The maximum is 10 Mbps.");
    f.bitrate_bps = 12300000;
    expect(&f, MEDIA_BITRATE_EXCEEDED, "Video bitrate is 12.3 Mbps. The maximum is 10 Mbps.");
    f.bitrate_bps = 68572604;
    expect(&f, MEDIA_BITRATE_EXCEEDED, "68.6 Mbps");
}

static void thumbnail_failure_is_last(void **state _unused_)
{
    struct media_facts f = good_video();
    f.thumbnail = MEDIA_STEP_FAILED;
    expect(&f, MEDIA_THUMBNAIL_FAILED, "preview");
    f = good_image(MEDIA_CONTAINER_PNG);
    f.thumbnail = MEDIA_STEP_FAILED;
    expect(&f, MEDIA_THUMBNAIL_FAILED, "image is fine");
    f.decode = MEDIA_STEP_FAILED;
    expect(&f, MEDIA_FILE_CORRUPT, NULL);
}

static void first_failure_wins(void **state _unused_)
{
    /* everything wrong at once: peel off one failure at a time, in the documented order */
    struct media_facts f = good_video();
    f.n_audio = 2;
    f.video_codec = "vp9";
    f.audio_codec = "mp3";
    f.width = 3840;
    f.height = 2160;
    f.fps_num = 60;
    f.duration_ms = 130000;
    f.bitrate_bps = 12300000;
    f.truncated = true;
    f.decode = MEDIA_STEP_FAILED;
    f.thumbnail = MEDIA_STEP_FAILED;

    expect(&f, MEDIA_INVALID_FORMAT, "audio tracks");
    f.n_audio = 1;
    expect(&f, MEDIA_INVALID_CODEC, "VP9"); /* a 4K VP9 file is a codec problem first */
    f.video_codec = "h264";
    expect(&f, MEDIA_INVALID_CODEC, "MP3");
    f.audio_codec = "aac";
    expect(&f, MEDIA_RESOLUTION_EXCEEDED, "3840×2160");
    f.width = 1280;
    f.height = 720;
    expect(&f, MEDIA_RESOLUTION_EXCEEDED, "60 fps");
    f.fps_num = 25;
    expect(&f, MEDIA_DURATION_EXCEEDED, "130.0");
    f.duration_ms = 60000;
    expect(&f, MEDIA_BITRATE_EXCEEDED, "12.3");
    f.bitrate_bps = 5000000;
    expect(&f, MEDIA_FILE_CORRUPT, "incomplete");
    f.truncated = false;
    expect(&f, MEDIA_FILE_CORRUPT, "decoded");
    f.decode = MEDIA_STEP_OK;
    expect(&f, MEDIA_THUMBNAIL_FAILED, NULL);
    f.thumbnail = MEDIA_STEP_OK;
    expect(&f, MEDIA_OK, NULL);
}

static void detail_buffer_is_bounded(void **state _unused_)
{
    struct media_facts f = good_video();
    f.video_codec = "vp9";
    char small[12];
    memset(small, 'x', sizeof(small));
    assert_int_equal(media_rules_check(&f, small, sizeof(small)), MEDIA_INVALID_CODEC);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(media_rules_check(&f, NULL, 0), MEDIA_INVALID_CODEC);
    /* a long FFmpeg name cannot push the detail past its limit */
    f.video_codec = "a_very_long_codec_name_that_goes_on_and_on_and_on_and_on_and_on_and_on";
    expect(&f, MEDIA_INVALID_CODEC, "a_very_long");
}

static void fps_milli(void **state _unused_)
{
    assert_int_equal(media_fps_milli(30000, 1001), 29970);
    assert_int_equal(media_fps_milli(24000, 1001), 23976);
    assert_int_equal(media_fps_milli(30, 1), 30000);
    assert_int_equal(media_fps_milli(25, 1), 25000);
    assert_int_equal(media_fps_milli(1, 3), 333);
    assert_int_equal(media_fps_milli(2, 3), 667);
    assert_int_equal(media_fps_milli(30, 0), 0);
    assert_int_equal(media_fps_milli(0, 1), 0);
    assert_int_equal(media_fps_milli(INT64_MAX, 1), 0);
}

static void thumb_sizes(void **state _unused_)
{
    static const struct {
        int64_t w, h;
        int tw, th;
    } cases[] = {
        {1920, 1080, 480, 270}, {1080, 1920, 270, 480}, {1280, 720, 480, 270},
        {640, 480, 480, 360},   {480, 480, 480, 480},   {100, 50, 100, 50}, /* no upscaling */
        {101, 51, 100, 50},     {1, 1, 2, 2},           {1920, 3, 480, 2},
        {3, 1920, 2, 480},      {481, 481, 480, 480},   {1366, 768, 480, 270},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int w = -1, h = -1;
        assert_int_equal(media_thumb_size(cases[i].w, cases[i].h, &w, &h), 0);
        if (w != cases[i].tw || h != cases[i].th)
            fail_msg("%lld×%lld: got %d×%d, want %d×%d", (long long)cases[i].w,
                     (long long)cases[i].h, w, h, cases[i].tw, cases[i].th);
        assert_true(w % 2 == 0 && h % 2 == 0 && w <= 480 && h <= 480);
    }
    int w = 7, h = 7;
    assert_int_equal(media_thumb_size(0, 10, &w, &h), -EINVAL);
    assert_int_equal(media_thumb_size(10, -1, &w, &h), -EINVAL);
    assert_int_equal(media_thumb_size((int64_t)1 << 40, 10, &w, &h), -EINVAL);
    assert_int_equal(w, 7);
    assert_int_equal(h, 7);
}

/* ---- structure walks ---------------------------------------------------------------------- */

struct mem {
    const uint8_t *p;
    size_t n;
    bool fail;
};

static int64_t mem_read(void *userdata, uint64_t off, void *buf, size_t n)
{
    struct mem *m = userdata;
    if (m->fail)
        return -EIO;
    if (off >= m->n)
        return 0;
    if (n > m->n - off)
        n = m->n - off;
    /* short reads: the walks must not assume whole buffers */
    if (n > 7)
        n = 7;
    memcpy(buf, m->p + off, n);
    return (int64_t)n;
}

static struct media_layout scan(enum media_container c, const uint8_t *p, size_t n)
{
    struct mem m = {p, n, false};
    struct media_layout l;
    memset(&l, 0xA5, sizeof(l));
    assert_int_equal(media_layout_scan(c, n, mem_read, &m, &l), 0);
    return l;
}

/* A small baseline JPEG, structurally complete: an Exif APP1 holding a whole thumbnail JPEG
 * (SOI…EOI) to mislead naive EOI searches, a SOF0 of 321×123, entropy data with stuffed FF00,
 * a restart marker and fill bytes, a second (progressive-style) scan, then EOI. */
static const uint8_t jpeg[] = {
    0xFF, 0xD8,                                                 /* SOI */
    0xFF, 0xE0, 0x00, 0x06, 'J',  'F',  'I',  'F',              /* APP0 */
    0xFF, 0xE1, 0x00, 0x0C, 'E',  'x',  'i',  'f',  0,    0,    /* APP1 … */
    0xFF, 0xD8, 0xFF, 0xD9,                                     /* … with a JPEG inside */
    0xFF, 0xDB, 0x00, 0x04, 0x00, 0x01,                         /* DQT */
    0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x7B, 0x01, 0x41, 0x01, /* SOF0 123 × 321 */
    0x01, 0x11, 0x00,                                           /* component */
    0xFF, 0xC4, 0x00, 0x03, 0x00,                               /* DHT */
    0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, /* SOS */
    0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xFF, 0x00, /* entropy-coded data */
    0x78,                                                       /* */
    0xFF, 0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, /* second SOS, fill FF */
    0x00, 0x9A, 0xBC,                                           /* */
    0xFF, 0xD9,                                                 /* EOI */
};

static void jpeg_complete(void **state _unused_)
{
    struct media_layout l = scan(MEDIA_CONTAINER_JPEG, jpeg, sizeof(jpeg));
    assert_true(l.complete);
    assert_false(l.truncated);
    assert_false(l.malformed);
    assert_int_equal(l.width, 321);
    assert_int_equal(l.height, 123);
    assert_int_equal(l.end, sizeof(jpeg));

    /* a polyglot tail after EOI is not looked at */
    uint8_t poly[sizeof(jpeg) + 64];
    memcpy(poly, jpeg, sizeof(jpeg));
    memset(poly + sizeof(jpeg), 0xFF, 64);
    memcpy(poly + sizeof(jpeg), "PK\x03\x04\0\0\0\0ftypisom", 16);
    l = scan(MEDIA_CONTAINER_JPEG, poly, sizeof(poly));
    assert_true(l.complete);
    assert_int_equal(l.end, sizeof(jpeg));
}

static void jpeg_cut_anywhere_is_incomplete(void **state _unused_)
{
    for (size_t n = 0; n < sizeof(jpeg); n++) {
        struct media_layout l = scan(MEDIA_CONTAINER_JPEG, jpeg, n);
        if (l.complete || !(l.truncated || l.malformed))
            fail_msg("cut at %zu: complete=%d truncated=%d", n, l.complete, l.truncated);
        assert_true(l.truncated);
    }
}

static void jpeg_malformed(void **state _unused_)
{
    /* EOI with no frame header */
    static const uint8_t no_sof[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0, 0, 0xFF, 0xD9};
    struct media_layout l = scan(MEDIA_CONTAINER_JPEG, no_sof, sizeof(no_sof));
    assert_true(l.malformed);
    assert_false(l.complete);
    /* a scan before the frame header */
    static const uint8_t sos_first[] = {0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0x00, 0xFF, 0xD9};
    l = scan(MEDIA_CONTAINER_JPEG, sos_first, sizeof(sos_first));
    assert_true(l.malformed);
    /* a segment length below 2 */
    static const uint8_t bad_len[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01, 0xFF, 0xD9};
    l = scan(MEDIA_CONTAINER_JPEG, bad_len, sizeof(bad_len));
    assert_true(l.malformed);
    /* a zero-sized frame */
    uint8_t zero[sizeof(jpeg)];
    memcpy(zero, jpeg, sizeof(jpeg));
    zero[35] = zero[36] = 0; /* height */
    l = scan(MEDIA_CONTAINER_JPEG, zero, sizeof(zero));
    assert_true(l.malformed);
    /* a segment claiming more bytes than the file has */
    static const uint8_t huge[] = {0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0};
    l = scan(MEDIA_CONTAINER_JPEG, huge, sizeof(huge));
    assert_true(l.truncated);
}

/* PNG: signature, IHDR 640×360 RGBA, an IDAT, IEND. CRCs are the decoder's business. */
static const uint8_t png[] = {
    0x89, 'P', 'N',  'G',  '\r', '\n', 0x1A, '\n',    /* signature */
    0,    0,   0,    13,   'I',  'H',  'D',  'R',     /* */
    0,    0,   0x02, 0x80, 0,    0,    0x01, 0x68,    /* 640 × 360 */
    8,    6,   0,    0,    0,    1,    2,    3,    4, /* depth, RGBA, …, CRC */
    0,    0,   0,    3,    'I',  'D',  'A',  'T',  1,    2,    3,    9,    9, 9, 9, /* */
    0,    0,   0,    0,    'I',  'E',  'N',  'D',  0xAE, 0x42, 0x60, 0x82,          /* */
};

static void png_complete_and_cut(void **state _unused_)
{
    struct media_layout l = scan(MEDIA_CONTAINER_PNG, png, sizeof(png));
    assert_true(l.complete);
    assert_false(l.truncated || l.malformed);
    assert_int_equal(l.width, 640);
    assert_int_equal(l.height, 360);
    assert_int_equal(l.end, sizeof(png));

    for (size_t n = 8; n < sizeof(png); n++) {
        l = scan(MEDIA_CONTAINER_PNG, png, n);
        if (l.complete || !l.truncated)
            fail_msg("cut at %zu: complete=%d truncated=%d", n, l.complete, l.truncated);
    }

    uint8_t poly[sizeof(png) + 32];
    memcpy(poly, png, sizeof(png));
    memcpy(poly + sizeof(png),
           "\0\0\0\x18"
           "ftypisom\0\0\0\0isommp41",
           24);
    l = scan(MEDIA_CONTAINER_PNG, poly, sizeof(poly));
    assert_true(l.complete);
    assert_int_equal(l.end, sizeof(png));
}

static void png_malformed(void **state _unused_)
{
    uint8_t bad[sizeof(png)];
    memcpy(bad, png, sizeof(png));
    memcpy(bad + 12, "IDAT", 4); /* first chunk is not IHDR */
    assert_true(scan(MEDIA_CONTAINER_PNG, bad, sizeof(bad)).malformed);

    memcpy(bad, png, sizeof(png));
    bad[8] = 0x80; /* chunk length over 2^31 */
    assert_true(scan(MEDIA_CONTAINER_PNG, bad, sizeof(bad)).malformed);

    memcpy(bad, png, sizeof(png));
    memcpy(bad + 16, "\0\0\0\0", 4); /* zero width */
    assert_true(scan(MEDIA_CONTAINER_PNG, bad, sizeof(bad)).malformed);

    memcpy(bad, png, sizeof(png));
    bad[37] = '\x01'; /* IDAT type with a non-letter */
    assert_true(scan(MEDIA_CONTAINER_PNG, bad, sizeof(bad)).malformed);

    /* "PNG signature followed by MP4": the polyglot has no IHDR */
    uint8_t poly[64] = "\x89PNG\r\n\x1A\n\0\0\0\x18"
                       "ftypisom";
    assert_true(scan(MEDIA_CONTAINER_PNG, poly, sizeof(poly)).malformed);

    /* a 60000×60000 header is reported as is: the rules refuse it before any decoding */
    memcpy(bad, png, sizeof(png));
    memcpy(bad + 16, "\0\0\xEA\x60\0\0\xEA\x60", 8);
    struct media_layout l = scan(MEDIA_CONTAINER_PNG, bad, sizeof(bad));
    assert_int_equal(l.width, 60000);
    assert_int_equal(l.height, 60000);
}

/* MP4: ftyp, moov (with a child), mdat. */
static const uint8_t mp4[] = {
    0, 0, 0, 16, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0,   0,   2,   0,                  /* */
    0, 0, 0, 16, 'm', 'o', 'o', 'v', 0,   0,   0,   8,   'm', 'v', 'h', 'd',                /* */
    0, 0, 0, 20, 'm', 'd', 'a', 't', 1,   2,   3,   4,   5,   6,   7,   8,   9, 10, 11, 12, /* */
};

static void mp4_boxes(void **state _unused_)
{
    struct media_layout l = scan(MEDIA_CONTAINER_MP4, mp4, sizeof(mp4));
    assert_true(l.complete);
    assert_true(l.has_moov);
    assert_false(l.truncated || l.malformed);

    /* cut inside a box: truncated; fewer than 8 bytes after a whole box are taken as stray
     * trailing bytes (the index check in the inspector catches a cut there) */
    for (size_t n = 1; n < sizeof(mp4); n++) {
        l = scan(MEDIA_CONTAINER_MP4, mp4, n);
        size_t into = n < 16 ? n : n < 32 ? n - 16 : n - 32;
        if (n < 8 || into >= 8) {
            if (!l.truncated || l.complete)
                fail_msg("cut at %zu: not truncated", n);
        } else {
            assert_true(l.complete);
        }
        assert_false(l.malformed);
        assert_int_equal(l.has_moov, n >= 32);
    }
    /* the moov is only seen when whole */
    assert_false(scan(MEDIA_CONTAINER_MP4, mp4, 31).has_moov);

    /* an mdat running to the end of the file (size 0) */
    uint8_t open_end[sizeof(mp4)];
    memcpy(open_end, mp4, sizeof(mp4));
    open_end[35] = 0;
    l = scan(MEDIA_CONTAINER_MP4, open_end, sizeof(open_end));
    assert_true(l.complete);
    assert_false(l.truncated);

    /* a 64-bit size */
    static const uint8_t large[] = {0, 0, 0, 1,  'm', 'd', 'a', 't', 0, 0, 0, 0,
                                    0, 0, 0, 18, 0,   0,   0,   0,   0, 0, 0, 0};
    l = scan(MEDIA_CONTAINER_MP4, large, 18);
    assert_true(l.complete);
    l = scan(MEDIA_CONTAINER_MP4, large, 17);
    assert_true(l.truncated);

    /* a box smaller than its own header */
    uint8_t tiny[sizeof(mp4)];
    memcpy(tiny, mp4, sizeof(mp4));
    tiny[19] = 4;
    assert_true(scan(MEDIA_CONTAINER_MP4, tiny, sizeof(tiny)).malformed);
}

static void mp4_trailers_are_not_truncation(void **state _unused_)
{
    /* vendor data after the last box (phones append such trailers) */
    uint8_t t[sizeof(mp4) + 20];
    memcpy(t, mp4, sizeof(mp4));
    memcpy(t + sizeof(mp4), "\xFF\xFF\xFF\xFFSEFHxxxxxxxxxxxx", 20);
    struct media_layout l = scan(MEDIA_CONTAINER_MP4, t, sizeof(t));
    assert_false(l.truncated);
    assert_true(l.has_moov);
    /* a few stray bytes */
    l = scan(MEDIA_CONTAINER_MP4, t, sizeof(mp4) + 5);
    assert_false(l.truncated);
    assert_true(l.complete);
}

static void scan_errors(void **state _unused_)
{
    struct mem m = {jpeg, sizeof(jpeg), true};
    struct media_layout l = {.width = 77};
    assert_int_equal(media_layout_scan(MEDIA_CONTAINER_JPEG, sizeof(jpeg), mem_read, &m, &l), -EIO);
    assert_int_equal(media_layout_scan(MEDIA_CONTAINER_PNG, sizeof(png), mem_read, &m, &l), -EIO);
    assert_int_equal(media_layout_scan(MEDIA_CONTAINER_MP4, sizeof(mp4), mem_read, &m, &l), -EIO);
    assert_int_equal(l.width, 77); /* untouched */
    m.fail = false;
    assert_int_equal(media_layout_scan(MEDIA_CONTAINER_GIF, 10, mem_read, &m, &l), -EOPNOTSUPP);
    assert_int_equal(l.width, 77);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sniff_supported),
        cmocka_unit_test(sniff_iso_family_refused),
        cmocka_unit_test(sniff_other_formats),
        cmocka_unit_test(sniff_mpegts_needs_three_syncs),
        cmocka_unit_test(sniff_empty_short_random),
        cmocka_unit_test(names_and_mime),
        cmocka_unit_test(codec_names),
        cmocka_unit_test(valid_files_pass),
        cmocka_unit_test(pending_steps_are_not_judged),
        cmocka_unit_test(format_failures),
        cmocka_unit_test(corrupt_files),
        cmocka_unit_test(codec_failures),
        cmocka_unit_test(resolution_boundaries),
        cmocka_unit_test(frame_rate_boundaries),
        cmocka_unit_test(duration_boundaries),
        cmocka_unit_test(bitrate_boundaries),
        cmocka_unit_test(thumbnail_failure_is_last),
        cmocka_unit_test(first_failure_wins),
        cmocka_unit_test(detail_buffer_is_bounded),
        cmocka_unit_test(fps_milli),
        cmocka_unit_test(thumb_sizes),
        cmocka_unit_test(jpeg_complete),
        cmocka_unit_test(jpeg_cut_anywhere_is_incomplete),
        cmocka_unit_test(jpeg_malformed),
        cmocka_unit_test(png_complete_and_cut),
        cmocka_unit_test(png_malformed),
        cmocka_unit_test(mp4_boxes),
        cmocka_unit_test(mp4_trailers_are_not_truncation),
        cmocka_unit_test(scan_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
