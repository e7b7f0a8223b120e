/* SPDX-License-Identifier: MIT */
/*
 * media-rules.c — the pure half of the media inspector (see media-rules.h): sniffing magic
 * numbers, walking JPEG/PNG/MP4 structure through a read callback, and the acceptance rules.
 *
 * The walks treat every length in the file as hostile: offsets only grow, arithmetic is done
 * against the remaining size so it cannot overflow, and reads go through one fixed buffer, so a
 * walk costs at most one pass over the file and no allocation.
 */
#include "content/media-rules.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- containers --------------------------------------------------------------------------- */

static const char detail_unsupported[] =
    "This file is not a supported image or video. Use JPEG, PNG or MP4 (H.264/AAC).";
static const char detail_audio_only[] =
    "Audio-only files are not supported. Use JPEG, PNG or MP4 video (H.264/AAC).";

static const struct {
    const char *name;
    const char *detail; /* why it is refused; NULL for the supported ones */
} containers[_MEDIA_CONTAINER_MAX] = {
    [MEDIA_CONTAINER_UNKNOWN] = {"unknown", detail_unsupported},
    [MEDIA_CONTAINER_EMPTY] = {"empty", "The file is empty."},
    [MEDIA_CONTAINER_TOO_SHORT] = {"too short", "The file is too short to be an image or video "
                                                "(was the upload cut short?)."},
    [MEDIA_CONTAINER_JPEG] = {"JPEG", NULL},
    [MEDIA_CONTAINER_PNG] = {"PNG", NULL},
    [MEDIA_CONTAINER_MP4] = {"MP4", NULL},
    [MEDIA_CONTAINER_QUICKTIME] = {"QuickTime",
                                   "QuickTime MOV files are not supported. Export as MP4."},
    [MEDIA_CONTAINER_HEIF] = {"HEIC", "HEIC/HEIF images are not supported. Use JPEG or PNG."},
    [MEDIA_CONTAINER_AVIF] = {"AVIF", "AVIF images are not supported. Use JPEG or PNG."},
    [MEDIA_CONTAINER_GIF] = {"GIF", "GIF images are not supported. Use JPEG or PNG."},
    [MEDIA_CONTAINER_WEBP] = {"WebP", "WebP images are not supported. Use JPEG or PNG."},
    [MEDIA_CONTAINER_BMP] = {"BMP", "BMP images are not supported. Use JPEG or PNG."},
    [MEDIA_CONTAINER_TIFF] = {"TIFF", "TIFF images are not supported. Use JPEG or PNG."},
    [MEDIA_CONTAINER_SVG] = {"SVG", "SVG images are not supported. Use JPEG or PNG."},
    [MEDIA_CONTAINER_PSD] = {"PSD", "Photoshop files are not supported. Export as JPEG or PNG."},
    [MEDIA_CONTAINER_JPEG2000] = {"JPEG 2000",
                                  "JPEG 2000 images are not supported. Use JPEG or PNG."},
    [MEDIA_CONTAINER_JPEGXL] = {"JPEG XL", "JPEG XL images are not supported. Use JPEG or PNG."},
    [MEDIA_CONTAINER_WEBM] = {"WebM", "WebM videos are not supported. Use MP4 (H.264/AAC)."},
    [MEDIA_CONTAINER_MATROSKA] = {"MKV", "MKV videos are not supported. Use MP4 (H.264/AAC)."},
    [MEDIA_CONTAINER_AVI] = {"AVI", "AVI videos are not supported. Use MP4 (H.264/AAC)."},
    [MEDIA_CONTAINER_FLV] = {"FLV", "Flash videos are not supported. Use MP4 (H.264/AAC)."},
    [MEDIA_CONTAINER_ASF] = {"WMV", "Windows Media files are not supported. Use MP4 (H.264/AAC)."},
    [MEDIA_CONTAINER_MPEGTS] = {"MPEG-TS", "MPEG transport streams are not supported. "
                                           "Use MP4 (H.264/AAC)."},
    [MEDIA_CONTAINER_MPEGPS] = {"MPEG-PS", "MPEG program streams (.mpg, .vob) are not "
                                           "supported. Use MP4 (H.264/AAC)."},
    [MEDIA_CONTAINER_OGG] = {"Ogg", "Ogg files are not supported. Use MP4 (H.264/AAC)."},
    [MEDIA_CONTAINER_WAV] = {"WAV", detail_audio_only},
    [MEDIA_CONTAINER_MP3] = {"MP3", detail_audio_only},
    [MEDIA_CONTAINER_FLAC] = {"FLAC", detail_audio_only},
    [MEDIA_CONTAINER_PDF] = {"PDF", "PDF documents are not supported. "
                                    "Use JPEG, PNG or MP4 (H.264/AAC)."},
    [MEDIA_CONTAINER_ZIP] = {"ZIP", "ZIP archives are not supported. "
                                    "Upload each image or video on its own."},
};

bool media_container_supported(enum media_container c)
{
    return c == MEDIA_CONTAINER_JPEG || c == MEDIA_CONTAINER_PNG || c == MEDIA_CONTAINER_MP4;
}

bool media_container_is_video(enum media_container c)
{
    return c == MEDIA_CONTAINER_MP4;
}

const char *media_container_name(enum media_container c)
{
    if ((unsigned)c >= _MEDIA_CONTAINER_MAX)
        return "unknown";
    return containers[c].name;
}

const char *media_container_mime(enum media_container c)
{
    switch (c) {
    case MEDIA_CONTAINER_JPEG:
        return "image/jpeg";
    case MEDIA_CONTAINER_PNG:
        return "image/png";
    case MEDIA_CONTAINER_MP4:
        return "video/mp4";
    default:
        return NULL;
    }
}

const char *media_reason_name(enum media_reason r)
{
    static const char *const names[_MEDIA_REASON_MAX] = {
        [MEDIA_OK] = "OK",
        [MEDIA_INVALID_FORMAT] = "INVALID_FORMAT",
        [MEDIA_INVALID_CODEC] = "INVALID_CODEC",
        [MEDIA_RESOLUTION_EXCEEDED] = "RESOLUTION_EXCEEDED",
        [MEDIA_DURATION_EXCEEDED] = "DURATION_EXCEEDED",
        [MEDIA_BITRATE_EXCEEDED] = "BITRATE_EXCEEDED",
        [MEDIA_FILE_CORRUPT] = "FILE_CORRUPT",
        [MEDIA_THUMBNAIL_FAILED] = "THUMBNAIL_FAILED",
        [MEDIA_INTERNAL_ERROR] = "INTERNAL_ERROR",
        [MEDIA_PROCESSING_TIMEOUT] = "PROCESSING_TIMEOUT",
    };
    if ((unsigned)r >= _MEDIA_REASON_MAX)
        return "INTERNAL_ERROR";
    return names[r];
}

/* ---- sniffing ----------------------------------------------------------------------------- */

static bool has(const uint8_t *head, size_t n, size_t at, const void *magic, size_t len)
{
    return n >= at + len && memcmp(head + at, magic, len) == 0;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static bool brand_in(const uint8_t *brand, const char *const *list)
{
    for (; *list; list++)
        if (memcmp(brand, *list, 4) == 0)
            return true;
    return false;
}

/* An ISO base media file (ftyp at 4): which family, by its major and compatible brands. */
static enum media_container sniff_ftyp(const uint8_t *head, size_t n)
{
    static const char *const heif[] = {"heic", "heix", "hevc", "hevx", "heim", "heis",
                                       "hevm", "hevs", "mif1", "msf1", "mif2", NULL};
    static const char *const avif[] = {"avif", "avis", NULL};
    const uint8_t *major = head + 8;

    if (memcmp(major, "qt  ", 4) == 0)
        return MEDIA_CONTAINER_QUICKTIME;
    if (brand_in(major, avif))
        return MEDIA_CONTAINER_AVIF;
    if (brand_in(major, heif)) {
        /* AVIF files often carry the generic mif1 major brand and avif as a compatible one */
        size_t box = be32(head);
        if (box > n)
            box = n;
        for (size_t at = 16; at + 4 <= box; at += 4)
            if (brand_in(head + at, avif))
                return MEDIA_CONTAINER_AVIF;
        return MEDIA_CONTAINER_HEIF;
    }
    /* isom, iso2…iso9, mp41, mp42, avc1, M4V, dash, 3gp…: the MP4 family; codecs decide */
    return MEDIA_CONTAINER_MP4;
}

/* An SVG, perhaps after a BOM, white space, an XML declaration, a doctype or comments. */
static bool sniff_svg(const uint8_t *head, size_t n)
{
    size_t i = 0;
    if (has(head, n, 0, "\xEF\xBB\xBF", 3))
        i = 3;
    while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n'))
        i++;
    if (i >= n || head[i] != '<')
        return false;
    for (; i + 4 <= n; i++)
        if (memcmp(head + i, "<svg", 4) == 0)
            return true;
    return false;
}

static bool sniff_bmp(const uint8_t *head, size_t n)
{
    /* "BM" alone is too weak: also require a known DIB header size (little-endian) */
    static const uint32_t dib_sizes[] = {12, 40, 52, 56, 64, 108, 124};
    if (!has(head, n, 0, "BM", 2) || n < 18)
        return false;
    uint32_t dib =
        head[14] | (uint32_t)head[15] << 8 | (uint32_t)head[16] << 16 | (uint32_t)head[17] << 24;
    for (size_t i = 0; i < sizeof(dib_sizes) / sizeof(dib_sizes[0]); i++)
        if (dib == dib_sizes[i])
            return true;
    return false;
}

static bool sniff_mp3(const uint8_t *head, size_t n)
{
    if (has(head, n, 0, "ID3", 3))
        return true;
    /* an MPEG audio frame sync with a valid layer (layer bits 00 are ADTS AAC, not MP3) */
    return n >= 2 && head[0] == 0xFF && (head[1] & 0xE0) == 0xE0 && (head[1] & 0x06) != 0 &&
           head[1] != 0xFF;
}

enum media_container media_sniff(const uint8_t *head, size_t n)
{
    if (n == 0)
        return MEDIA_CONTAINER_EMPTY;
    if (n < MEDIA_MIN_FILE_BYTES)
        return MEDIA_CONTAINER_TOO_SHORT;

    if (has(head, n, 0, "\xFF\xD8\xFF", 3))
        return MEDIA_CONTAINER_JPEG;
    if (has(head, n, 0, "\x89PNG\r\n\x1A\n", 8))
        return MEDIA_CONTAINER_PNG;
    if (has(head, n, 4, "ftyp", 4))
        return sniff_ftyp(head, n);
    /* QuickTime files from before ftyp start with one of these atoms */
    if (has(head, n, 4, "moov", 4) || has(head, n, 4, "mdat", 4) || has(head, n, 4, "wide", 4) ||
        has(head, n, 4, "free", 4) || has(head, n, 4, "skip", 4) || has(head, n, 4, "pnot", 4))
        return MEDIA_CONTAINER_QUICKTIME;

    if (has(head, n, 0, "GIF8", 4))
        return MEDIA_CONTAINER_GIF;
    if (has(head, n, 0, "RIFF", 4)) {
        if (has(head, n, 8, "WEBP", 4))
            return MEDIA_CONTAINER_WEBP;
        if (has(head, n, 8, "AVI ", 4))
            return MEDIA_CONTAINER_AVI;
        if (has(head, n, 8, "WAVE", 4))
            return MEDIA_CONTAINER_WAV;
        return MEDIA_CONTAINER_UNKNOWN;
    }
    if (has(head, n, 0, "\x1A\x45\xDF\xA3", 4)) {
        /* the EBML header's DocType says "webm" or "matroska" */
        size_t lim = n < 64 ? n : 64;
        for (size_t i = 4; i + 4 <= lim; i++)
            if (memcmp(head + i, "webm", 4) == 0)
                return MEDIA_CONTAINER_WEBM;
        return MEDIA_CONTAINER_MATROSKA;
    }
    if (sniff_bmp(head, n))
        return MEDIA_CONTAINER_BMP;
    if (has(head, n, 0, "II*\0", 4) || has(head, n, 0, "MM\0*", 4))
        return MEDIA_CONTAINER_TIFF;
    if (has(head, n, 0, "8BPS", 4))
        return MEDIA_CONTAINER_PSD;
    if (has(head, n, 0, "\0\0\0\x0CjP  \r\n\x87\n", 12) || has(head, n, 0, "\xFF\x4F\xFF\x51", 4))
        return MEDIA_CONTAINER_JPEG2000;
    if (has(head, n, 0, "\0\0\0\x0CJXL \r\n\x87\n", 12) || has(head, n, 0, "\xFF\x0A", 2))
        return MEDIA_CONTAINER_JPEGXL;
    if (has(head, n, 0, "FLV\x01", 4))
        return MEDIA_CONTAINER_FLV;
    if (has(head, n, 0, "\x30\x26\xB2\x75\x8E\x66\xCF\x11", 8))
        return MEDIA_CONTAINER_ASF;
    if (n > 188 && head[0] == 0x47 && head[188] == 0x47 && (n <= 376 || head[376] == 0x47))
        return MEDIA_CONTAINER_MPEGTS;
    if (has(head, n, 0, "\0\0\x01\xBA", 4))
        return MEDIA_CONTAINER_MPEGPS;
    if (has(head, n, 0, "OggS", 4))
        return MEDIA_CONTAINER_OGG;
    if (has(head, n, 0, "fLaC", 4))
        return MEDIA_CONTAINER_FLAC;
    if (sniff_mp3(head, n))
        return MEDIA_CONTAINER_MP3;
    if (has(head, n, 0, "%PDF", 4))
        return MEDIA_CONTAINER_PDF;
    if (has(head, n, 0, "PK\x03\x04", 4) || has(head, n, 0, "PK\x05\x06", 4))
        return MEDIA_CONTAINER_ZIP;
    if (sniff_svg(head, n))
        return MEDIA_CONTAINER_SVG;
    return MEDIA_CONTAINER_UNKNOWN;
}

/* ---- codecs ------------------------------------------------------------------------------- */

const char *media_codec_human(const char *ffmpeg_name)
{
    static const struct {
        const char *ffmpeg, *human;
    } names[] = {
        {"h264", "H.264"},
        {"hevc", "HEVC/H.265"},
        {"vvc", "VVC/H.266"},
        {"vp8", "VP8"},
        {"vp9", "VP9"},
        {"av1", "AV1"},
        {"mpeg4", "MPEG-4 Part 2"},
        {"msmpeg4v3", "MPEG-4 Part 2 (DivX 3)"},
        {"h263", "H.263"},
        {"mpeg1video", "MPEG-1"},
        {"mpeg2video", "MPEG-2"},
        {"mjpeg", "Motion JPEG"},
        {"prores", "ProRes"},
        {"dnxhd", "DNxHD"},
        {"cfhd", "CineForm"},
        {"vc1", "VC-1"},
        {"wmv3", "Windows Media Video"},
        {"theora", "Theora"},
        {"png", "PNG"},
        {"qtrle", "QuickTime Animation"},
        {"rawvideo", "uncompressed video"},
        {"aac", "AAC"},
        {"mp3", "MP3"},
        {"mp2", "MP2"},
        {"mp1", "MP1"},
        {"ac3", "AC-3 (Dolby Digital)"},
        {"eac3", "E-AC-3 (Dolby Digital Plus)"},
        {"ac4", "AC-4"},
        {"dts", "DTS"},
        {"truehd", "Dolby TrueHD"},
        {"opus", "Opus"},
        {"vorbis", "Vorbis"},
        {"flac", "FLAC"},
        {"alac", "Apple Lossless (ALAC)"},
        {"amr_nb", "AMR"},
        {"amr_wb", "AMR-WB"},
        {"wmav2", "Windows Media Audio"},
    };
    if (!ffmpeg_name)
        return NULL;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(ffmpeg_name, names[i].ffmpeg) == 0)
            return names[i].human;
    if (strncmp(ffmpeg_name, "pcm_", 4) == 0)
        return "uncompressed PCM";
    if (strncmp(ffmpeg_name, "adpcm_", 6) == 0)
        return "ADPCM";
    return NULL;
}

static bool codec_known(const char *name)
{
    return name && *name && strcmp(name, "none") != 0;
}

/* The codec's name for a detail: the human one, else FFmpeg's, kept to safe characters. */
static const char *codec_display(const char *name, char *buf, size_t len)
{
    const char *human = media_codec_human(name);
    if (human)
        return human;
    size_t o = 0;
    for (const char *p = name; *p && o + 1 < len && o < 32; p++) {
        char ch = *p;
        bool safe = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
        buf[o++] = safe ? ch : '?';
    }
    buf[o] = '\0';
    return buf;
}

/* ---- rules -------------------------------------------------------------------------------- */

static enum media_reason fail(enum media_reason r, char *detail, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum media_reason fail(enum media_reason r, char *detail, size_t len, const char *fmt, ...)
{
    if (len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, len < MEDIA_DETAIL_MAX ? len : MEDIA_DETAIL_MAX, fmt, ap);
        va_end(ap);
    }
    return r;
}

/* @v / @unit rounded up to one decimal as "12.4": a value over a limit never reads as the limit */
static void tenths_up(int64_t v, int64_t unit, char *buf, size_t len)
{
    int64_t tenth = unit / 10;
    int64_t t = v / tenth + (v % tenth != 0);
    snprintf(buf, len, "%lld.%lld", (long long)(t / 10), (long long)(t % 10));
}

static bool check_codecs(const struct media_facts *f, char *detail, size_t len,
                         enum media_reason *ret)
{
    char buf[40];

    if (f->container == MEDIA_CONTAINER_MP4) {
        if (!codec_known(f->video_codec)) {
            *ret = fail(MEDIA_INVALID_CODEC, detail, len,
                        "Video uses an unrecognized codec. Only H.264 is supported.");
            return false;
        }
        if (strcmp(f->video_codec, "h264") != 0) {
            *ret = fail(MEDIA_INVALID_CODEC, detail, len,
                        "Video uses the %s codec. Only H.264 is supported.",
                        codec_display(f->video_codec, buf, sizeof(buf)));
            return false;
        }
        if (f->n_audio == 1 && !codec_known(f->audio_codec)) {
            *ret = fail(MEDIA_INVALID_CODEC, detail, len,
                        "Audio uses an unrecognized codec. Only AAC is supported.");
            return false;
        }
        if (f->n_audio == 1 && strcmp(f->audio_codec, "aac") != 0) {
            *ret = fail(MEDIA_INVALID_CODEC, detail, len, "Audio uses %s. Only AAC is supported.",
                        codec_display(f->audio_codec, buf, sizeof(buf)));
            return false;
        }
        return true;
    }

    const char *want = f->container == MEDIA_CONTAINER_JPEG ? "mjpeg" : "png";
    if (!codec_known(f->video_codec) || strcmp(f->video_codec, want) != 0) {
        *ret = fail(MEDIA_INVALID_CODEC, detail, len,
                    "This %s uses an encoding that is not supported. Save it again as a "
                    "standard JPEG or PNG.",
                    media_container_name(f->container));
        return false;
    }
    return true;
}

static bool frame_rate_too_high(int64_t num, int64_t den)
{
    if (num <= 0 || den <= 0)
        return false; /* unknown */
    /* exact in double for any int64 up to 2^53 / 1000, which covers every AVRational */
    return (double)num * 1000.0 > (double)(MEDIA_MAX_FPS * 1000 + MEDIA_FPS_TOLERANCE_MILLI) * den;
}

static void format_fps(int64_t num, int64_t den, char *buf, size_t len)
{
    int64_t milli = media_fps_milli(num, den);
    int64_t hundredths = (milli + 5) / 10;
    if (hundredths % 100 == 0)
        snprintf(buf, len, "%lld", (long long)(hundredths / 100));
    else if (hundredths % 10 == 0)
        snprintf(buf, len, "%lld.%lld", (long long)(hundredths / 100),
                 (long long)(hundredths / 10 % 10));
    else
        snprintf(buf, len, "%lld.%02lld", (long long)(hundredths / 100),
                 (long long)(hundredths % 100));
}

static enum media_reason fail_truncated(bool video, char *detail, size_t len)
{
    if (video)
        return fail(MEDIA_FILE_CORRUPT, detail, len,
                    "The video file is incomplete: it ends before all of its frames (was the "
                    "upload cut short?).");
    return fail(MEDIA_FILE_CORRUPT, detail, len,
                "The image file is incomplete: it ends before the end of the picture (was the "
                "upload cut short?).");
}

enum media_reason media_rules_check(const struct media_facts *f, char *detail, size_t len)
{
    const bool video = media_container_is_video(f->container);
    const char *noun = video ? "video" : "image";
    const char *Noun = video ? "Video" : "Image";
    char a[32];

    /* format */
    if ((unsigned)f->container >= _MEDIA_CONTAINER_MAX)
        return fail(MEDIA_INVALID_FORMAT, detail, len, "%s", detail_unsupported);
    if (f->container == MEDIA_CONTAINER_EMPTY || f->container == MEDIA_CONTAINER_TOO_SHORT)
        return fail(MEDIA_FILE_CORRUPT, detail, len, "%s", containers[f->container].detail);
    if (!media_container_supported(f->container))
        return fail(MEDIA_INVALID_FORMAT, detail, len, "%s", containers[f->container].detail);
    if (!f->parsed && f->truncated)
        return fail_truncated(video, detail, len);
    if (!f->parsed)
        return fail(MEDIA_FILE_CORRUPT, detail, len,
                    "The %s file is damaged and could not be read.", noun);
    if (video) {
        if (f->n_video == 0)
            return fail(MEDIA_INVALID_FORMAT, detail, len, "The MP4 has no video track.");
        if (f->n_video > 1)
            return fail(MEDIA_INVALID_FORMAT, detail, len,
                        "The MP4 has %u video tracks. Only one is supported.", f->n_video);
        if (f->n_audio > 1)
            return fail(MEDIA_INVALID_FORMAT, detail, len,
                        "The MP4 has %u audio tracks. At most one is supported.", f->n_audio);
    } else if (f->n_video != 1) {
        return fail(MEDIA_FILE_CORRUPT, detail, len,
                    "The image file is damaged and could not be read.");
    }

    /* codecs */
    enum media_reason r;
    if (!check_codecs(f, detail, len, &r))
        return r;

    /* resolution: orientation-agnostic */
    if (f->width <= 0 || f->height <= 0)
        return fail(MEDIA_FILE_CORRUPT, detail, len,
                    "The %s file is damaged: it has no picture size.", noun);
    int64_t long_side = f->width > f->height ? f->width : f->height;
    int64_t short_side = f->width > f->height ? f->height : f->width;
    if (long_side > MEDIA_MAX_LONG_SIDE || short_side > MEDIA_MAX_SHORT_SIDE)
        return fail(MEDIA_RESOLUTION_EXCEEDED, detail, len,
                    "%s is %lld×%lld. The maximum is %d×%d (%d×%d portrait).", Noun,
                    (long long)f->width, (long long)f->height, MEDIA_MAX_LONG_SIDE,
                    MEDIA_MAX_SHORT_SIDE, MEDIA_MAX_SHORT_SIDE, MEDIA_MAX_LONG_SIDE);

    if (video) {
        /* frame rate: temporal resolution */
        if (frame_rate_too_high(f->fps_num, f->fps_den)) {
            format_fps(f->fps_num, f->fps_den, a, sizeof(a));
            return fail(MEDIA_RESOLUTION_EXCEEDED, detail, len,
                        "Video is %s fps. The maximum is %d fps.", a, MEDIA_MAX_FPS);
        }
        /* duration */
        if (f->duration_ms <= 0)
            return fail(MEDIA_FILE_CORRUPT, detail, len,
                        "The video file is damaged: it has no length.");
        if (f->duration_ms > MEDIA_MAX_DURATION_MS + MEDIA_DURATION_TOLERANCE_MS) {
            tenths_up(f->duration_ms, 1000, a, sizeof(a));
            return fail(MEDIA_DURATION_EXCEEDED, detail, len,
                        "Video is %s seconds long. The maximum is %d seconds.", a,
                        MEDIA_MAX_DURATION_MS / 1000);
        }
        /* bitrate */
        if (f->bitrate_bps > MEDIA_MAX_VIDEO_BITRATE_BPS) {
            tenths_up(f->bitrate_bps, 1000000, a, sizeof(a));
            return fail(MEDIA_BITRATE_EXCEEDED, detail, len,
                        "Video bitrate is %s Mbps. The maximum is %d Mbps.", a,
                        MEDIA_MAX_VIDEO_BITRATE_BPS / 1000000);
        }
    }

    /* integrity */
    if (f->truncated)
        return fail_truncated(video, detail, len);
    if (f->decode == MEDIA_STEP_FAILED) {
        if (video)
            return fail(MEDIA_FILE_CORRUPT, detail, len,
                        "The video could not be decoded: the file is damaged.");
        return fail(MEDIA_FILE_CORRUPT, detail, len,
                    "The image could not be decoded: the file is damaged or uses an unusual "
                    "encoding. Save it again as JPEG or PNG.");
    }

    /* thumbnail */
    if (f->thumbnail == MEDIA_STEP_FAILED)
        return fail(MEDIA_THUMBNAIL_FAILED, detail, len,
                    "The %s is fine, but its preview image could not be made. Please try again.",
                    noun);
    return MEDIA_OK;
}

int64_t media_fps_milli(int64_t num, int64_t den)
{
    if (num <= 0 || den <= 0 || num > INT64_MAX / 2000)
        return 0;
    return (num * 1000 + den / 2) / den;
}

int media_thumb_size(int64_t width, int64_t height, int *ret_width, int *ret_height)
{
    if (width <= 0 || height <= 0 || width > INT32_MAX || height > INT32_MAX)
        return -EINVAL;
    int64_t m = width > height ? width : height;
    int64_t w = width, h = height;
    if (m > MEDIA_THUMB_MAX_SIDE) {
        w = (width * MEDIA_THUMB_MAX_SIDE + m / 2) / m;
        h = (height * MEDIA_THUMB_MAX_SIDE + m / 2) / m;
    }
    w &= ~(int64_t)1;
    h &= ~(int64_t)1;
    *ret_width = w < 2 ? 2 : (int)w;
    *ret_height = h < 2 ? 2 : (int)h;
    return 0;
}

/* ---- structure walks ---------------------------------------------------------------------- */

/* One window over the file; the walks address bytes by absolute offset. */
struct reader {
    media_read_fn read;
    void *userdata;
    uint64_t size;
    uint64_t base; /* offset of buf[0] */
    size_t len;    /* valid bytes in buf */
    uint8_t buf[16384];
};

/* Makes @off the start of the window (or keeps the window when it already holds @off and @need
 * bytes after it); returns the bytes available at @off (0 at end of file) or -errno. */
static int64_t reader_at(struct reader *r, uint64_t off, size_t need)
{
    if (off >= r->base && off - r->base < r->len && r->len - (off - r->base) >= need)
        return (int64_t)(r->len - (off - r->base));
    if (off >= r->size)
        return 0;
    uint64_t left = r->size - off;
    size_t want = left < sizeof(r->buf) ? (size_t)left : sizeof(r->buf);
    size_t got = 0;
    while (got < want) {
        int64_t k = r->read(r->userdata, off + got, r->buf + got, want - got);
        if (k < 0) {
            r->len = 0;
            return k;
        }
        if (k == 0)
            break; /* the file shrank under us: what is left is its end */
        got += (size_t)k;
    }
    r->base = off;
    r->len = got;
    return (int64_t)got;
}

/* Copies @n bytes at @off to @dst: 1 when done, 0 when the file ends first, or -errno. */
static int reader_copy(struct reader *r, uint64_t off, void *dst, size_t n)
{
    int64_t k = reader_at(r, off, n);
    if (k < 0)
        return (int)k;
    if ((size_t)k < n)
        return 0;
    memcpy(dst, r->buf + (off - r->base), n);
    return 1;
}

/* The byte at @off, -1 past the end of the file, or -errno - 1 (so errors are < -1). */
static int reader_byte(struct reader *r, uint64_t off)
{
    uint8_t b = 0;
    int k = reader_copy(r, off, &b, 1);
    if (k < 0)
        return k - 1;
    return k == 0 ? -1 : b;
}

static bool jpeg_is_sof(int m)
{
    return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

/* After a scan header: finds the next marker in entropy-coded data (FF not followed by a stuffed
 * 00, a restart marker or a fill FF). 1 with *ret_off at its FF, 0 at end of file, or -errno. */
static int jpeg_skip_entropy(struct reader *r, uint64_t off, uint64_t *ret_off)
{
    for (;;) {
        int64_t k = reader_at(r, off, 1);
        if (k <= 0)
            return (int)k;
        const uint8_t *p = r->buf + (off - r->base);
        const uint8_t *ff = memchr(p, 0xFF, (size_t)k);
        if (!ff) {
            off += (uint64_t)k;
            continue;
        }
        uint64_t at = off + (uint64_t)(ff - p);
        int next = reader_byte(r, at + 1);
        if (next < -1)
            return next + 1;
        if (next == -1)
            return 0;
        if (next == 0x00 || (next >= 0xD0 && next <= 0xD7))
            off = at + 2;
        else if (next == 0xFF)
            off = at + 1;
        else {
            *ret_off = at;
            return 1;
        }
    }
}

static int scan_jpeg(struct reader *r, struct media_layout *l)
{
    uint64_t off = 2; /* after SOI */
    for (;;) {
        /* a marker: FF, any fill FFs, then its code; stray bytes before it are skipped the
         * way libjpeg does ("extraneous bytes before marker") */
        int b = reader_byte(r, off);
        if (b < -1)
            return b + 1;
        if (b == -1)
            goto truncated;
        if (b != 0xFF) {
            off++;
            continue;
        }
        while (b == 0xFF) {
            off++;
            b = reader_byte(r, off);
        }
        if (b < -1)
            return b + 1;
        if (b == -1)
            goto truncated;
        off++; /* past the code */
        if (b == 0x00)
            continue;
        if (b == 0xD9) {
            l->end = off;
            if (l->width == 0)
                l->malformed = true; /* a picture with no frame header */
            else
                l->complete = true;
            return 0;
        }
        if (b == 0xD8) {
            l->malformed = true;
            return 0;
        }
        if ((b >= 0xD0 && b <= 0xD7) || b == 0x01)
            continue; /* no length */

        uint8_t h[7];
        int k = reader_copy(r, off, h, 2);
        if (k < 0)
            return k;
        if (k == 0)
            goto truncated;
        uint64_t seglen = (uint64_t)h[0] << 8 | h[1];
        if (seglen < 2) {
            l->malformed = true;
            return 0;
        }
        if (seglen > r->size - off)
            goto truncated;
        if (jpeg_is_sof(b) && l->width == 0) {
            /* precision, height, width */
            if (seglen < 2 + 6 || (k = reader_copy(r, off + 2, h, 5)) == 0) {
                l->malformed = true;
                return 0;
            }
            if (k < 0)
                return k;
            l->height = (int64_t)h[1] << 8 | h[2];
            l->width = (int64_t)h[3] << 8 | h[4];
            if (l->width == 0 || l->height == 0) {
                l->malformed = true;
                return 0;
            }
        }
        off += seglen;
        if (b == 0xDA) {
            if (l->width == 0) {
                l->malformed = true;
                return 0;
            }
            k = jpeg_skip_entropy(r, off, &off);
            if (k < 0)
                return k;
            if (k == 0)
                goto truncated;
        }
    }

truncated:
    l->truncated = true;
    return 0;
}

static bool png_type_ok(const uint8_t *t)
{
    for (int i = 0; i < 4; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z')))
            return false;
    return true;
}

static int scan_png(struct reader *r, struct media_layout *l)
{
    uint64_t off = 8; /* after the signature */
    for (bool first = true;; first = false) {
        uint8_t h[16];
        int k = reader_copy(r, off, h, 8);
        if (k < 0)
            return k;
        if (k == 0)
            goto truncated;
        uint64_t len = be32(h);
        if (len > 0x7FFFFFFF || !png_type_ok(h + 4)) {
            l->malformed = true;
            return 0;
        }
        if (first) {
            if (memcmp(h + 4, "IHDR", 4) != 0 || len != 13) {
                l->malformed = true;
                return 0;
            }
            k = reader_copy(r, off + 8, h + 8, 8);
            if (k < 0)
                return k;
            if (k == 0)
                goto truncated;
            l->width = be32(h + 8);
            l->height = be32(h + 12);
            if (l->width == 0 || l->height == 0 || l->width > 0x7FFFFFFF ||
                l->height > 0x7FFFFFFF) {
                l->malformed = true;
                return 0;
            }
        }
        if (len + 12 > r->size - off)
            goto truncated;
        off += len + 12;
        if (memcmp(h + 4, "IEND", 4) == 0) {
            l->complete = true;
            l->end = off;
            return 0;
        }
    }

truncated:
    l->truncated = true;
    return 0;
}

static bool mp4_box_known(const uint8_t *type)
{
    static const char *const known[] = {"ftyp", "moov", "mdat", "moof", "mfra", "free",
                                        "skip", "wide", "sidx", "ssix", "styp", "meta",
                                        "uuid", "pdin", "prft", "emsg", "udta", NULL};
    return brand_in(type, known);
}

static int scan_mp4(struct reader *r, struct media_layout *l)
{
    uint64_t off = 0;
    while (off < r->size) {
        uint64_t left = r->size - off;
        uint8_t h[16];
        if (left < 8 && off == 0)
            goto truncated;
        if (left < 8)
            break; /* a few stray bytes after the last box: not ours to judge */
        int k = reader_copy(r, off, h, 8);
        if (k < 0)
            return k;
        if (k == 0)
            break;
        if (!mp4_box_known(h + 4))
            return 0; /* a vendor trailer or junk: FFmpeg judges what it needs */
        uint64_t size = be32(h), hdr = 8;
        if (size == 1) {
            if (left < 16)
                goto truncated;
            k = reader_copy(r, off, h, 16);
            if (k < 0)
                return k;
            if (k == 0)
                goto truncated;
            size = be64(h + 8);
            hdr = 16;
        } else if (size == 0) {
            size = left; /* to the end of the file */
        }
        if (size < hdr) {
            l->malformed = true;
            return 0;
        }
        if (size > left)
            goto truncated;
        if (memcmp(h + 4, "moov", 4) == 0)
            l->has_moov = true;
        off += size;
    }
    l->complete = true;
    return 0;

truncated:
    l->truncated = true;
    return 0;
}

int media_layout_scan(enum media_container c, uint64_t size, media_read_fn read, void *userdata,
                      struct media_layout *ret)
{
    struct reader r = {.read = read, .userdata = userdata, .size = size};
    struct media_layout l = {0};
    int k;

    switch (c) {
    case MEDIA_CONTAINER_JPEG:
        if (size < 3) {
            l.truncated = true;
            k = 0;
        } else {
            k = scan_jpeg(&r, &l);
        }
        break;
    case MEDIA_CONTAINER_PNG:
        k = scan_png(&r, &l);
        break;
    case MEDIA_CONTAINER_MP4:
        k = scan_mp4(&r, &l);
        break;
    default:
        return -EOPNOTSUPP;
    }
    if (k < 0)
        return k;
    *ret = l;
    return 0;
}
