/* SPDX-License-Identifier: MIT */
/*
 * media-rules.h — the pure half of the media inspector (inspect.h is the FFmpeg half): what
 * an uploaded file is, by its first bytes; where its data really ends, by walking its own
 * structure (JPEG markers, PNG chunks, MP4 boxes) through a read callback; and whether the
 * facts gathered about it are acceptable for playback on a marquee screen (spec §13.2), with
 * exactly one reason and a one-sentence detail for a phone screen when they are not.
 *
 * Nothing here does I/O, reads a clock or calls FFmpeg, so every rule and every boundary is a
 * unit test (tests/unit/server/content/test-media-rules.c).
 *
 * Frame rate is judged as resolution: a frame rate above MEDIA_MAX_FPS is reported as
 * RESOLUTION_EXCEEDED, because frame rate is the temporal resolution of a video and spec
 * §13.2 has no reason of its own for it; the detail names the frame rate so the user knows
 * which limit was hit ("Video is 60 fps. The maximum is 30 fps.").
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Resolution is orientation-agnostic: portrait 1080×1920 screens are common in signage. */
#define MEDIA_MAX_LONG_SIDE  1920
#define MEDIA_MAX_SHORT_SIDE 1080
/* The spec's 120 s, plus tolerance for a 2:00 export whose AAC priming makes it a bit longer. */
#define MEDIA_MAX_DURATION_MS       120000
#define MEDIA_DURATION_TOLERANCE_MS 500
/* Video stream bitrate (10 Mbps). */
#define MEDIA_MAX_VIDEO_BITRATE_BPS 10000000
/* 30 fps, with room for 30000/1001 and for rounding in a container's timing. */
#define MEDIA_MAX_FPS             30
#define MEDIA_FPS_TOLERANCE_MILLI 50
/* The thumbnail fits in a square of this side, keeping the aspect ratio. */
#define MEDIA_THUMB_MAX_SIDE 480
/* How many leading bytes media_sniff() wants (it copes with fewer). */
#define MEDIA_SNIFF_BYTES 512
/* Below this no file can be a whole JPEG, PNG or MP4. */
#define MEDIA_MIN_FILE_BYTES 16
/* Details always fit in this, NUL included. */
#define MEDIA_DETAIL_MAX 200

/** What a file is, by its first bytes. Only JPEG, PNG and MP4 are supported. */
enum media_container {
    MEDIA_CONTAINER_UNKNOWN = 0,
    MEDIA_CONTAINER_EMPTY,     /* zero bytes */
    MEDIA_CONTAINER_TOO_SHORT, /* fewer than MEDIA_MIN_FILE_BYTES */
    MEDIA_CONTAINER_JPEG,
    MEDIA_CONTAINER_PNG,
    MEDIA_CONTAINER_MP4, /* an ISO base media file that is not QuickTime, HEIF or AVIF */
    /* recognized only to say precisely what is wrong */
    MEDIA_CONTAINER_QUICKTIME,
    MEDIA_CONTAINER_HEIF,
    MEDIA_CONTAINER_AVIF,
    MEDIA_CONTAINER_GIF,
    MEDIA_CONTAINER_WEBP,
    MEDIA_CONTAINER_BMP,
    MEDIA_CONTAINER_TIFF,
    MEDIA_CONTAINER_SVG,
    MEDIA_CONTAINER_PSD,
    MEDIA_CONTAINER_JPEG2000,
    MEDIA_CONTAINER_JPEGXL,
    MEDIA_CONTAINER_WEBM,
    MEDIA_CONTAINER_MATROSKA,
    MEDIA_CONTAINER_AVI,
    MEDIA_CONTAINER_FLV,
    MEDIA_CONTAINER_ASF,
    MEDIA_CONTAINER_MPEGTS,
    MEDIA_CONTAINER_MPEGPS,
    MEDIA_CONTAINER_OGG,
    MEDIA_CONTAINER_WAV,
    MEDIA_CONTAINER_MP3,
    MEDIA_CONTAINER_FLAC,
    MEDIA_CONTAINER_PDF,
    MEDIA_CONTAINER_ZIP,
    _MEDIA_CONTAINER_MAX,
};

/** The verdict: MEDIA_OK or one spec §13.2 reason (the size and checksum ones are the worker's). */
enum media_reason {
    MEDIA_OK = 0,
    MEDIA_INVALID_FORMAT,
    MEDIA_INVALID_CODEC,
    MEDIA_RESOLUTION_EXCEEDED,
    MEDIA_DURATION_EXCEEDED,
    MEDIA_BITRATE_EXCEEDED,
    MEDIA_FILE_CORRUPT,
    MEDIA_THUMBNAIL_FAILED,
    MEDIA_INTERNAL_ERROR,
    MEDIA_PROCESSING_TIMEOUT, /* the inspector's own deadline; never from media_rules_check */
    _MEDIA_REASON_MAX,
};

/** A step the inspector may not have reached yet; pending steps are not judged. */
enum media_step {
    MEDIA_STEP_PENDING = 0,
    MEDIA_STEP_OK,
    MEDIA_STEP_FAILED,
};

/**
 * What the inspector found out about one file. Zero-initialise, then fill in what is known;
 * the rules judge in a fixed order and stop at the first failure, so an inspector can call
 * media_rules_check() after each stage and never work on a file already refused (for example,
 * never decode a 60000×60000 image).
 */
struct media_facts {
    enum media_container container; /* from media_sniff() */
    bool parsed;             /* the demuxer matching the container opened it and read its streams */
    bool truncated;          /* its data ends before its own structure says it does */
    unsigned n_video;        /* video streams, cover art not counted */
    unsigned n_audio;        /* audio streams */
    const char *video_codec; /* FFmpeg's codec name ("h264", "vp9"); NULL or "none": unknown */
    const char *audio_codec; /* likewise; ignored when n_audio is 0 */
    int64_t width, height;   /* pixels, as stored (before any rotation) */
    int64_t duration_ms;     /* videos only */
    int64_t bitrate_bps;     /* video stream; 0 when unknown (not judged) */
    int64_t fps_num, fps_den; /* average frame rate of a video; fps_den 0 when unknown */
    enum media_step decode;   /* a frame was decoded (images: the whole picture) */
    enum media_step thumbnail;
};

/**
 * Recognizes a file by its first @n bytes at @head (give MEDIA_SNIFF_BYTES, or the whole file
 * when it is shorter; @n is taken as the file size when below MEDIA_MIN_FILE_BYTES). Magic
 * numbers only: never the file name, never a decoder's opinion. Never fails.
 */
enum media_container media_sniff(const uint8_t *head, size_t n);

/** True for the three containers marquee plays. */
bool media_container_supported(enum media_container c);

/** True for MP4 (the only supported video container); false for the images. */
bool media_container_is_video(enum media_container c);

/** Short name: "JPEG", "PNG", "MP4", "GIF", …; never NULL. */
const char *media_container_name(enum media_container c);

/** MIME type of a supported container ("image/jpeg", "image/png", "video/mp4"), else NULL. */
const char *media_container_mime(enum media_container c);

/** The spec §13.2 spelling of @r ("FILE_CORRUPT"); "OK" for MEDIA_OK; never NULL. */
const char *media_reason_name(enum media_reason r);

/** A codec as people know it ("VP9", "HEVC/H.265") from FFmpeg's name ("vp9", "hevc"), or NULL. */
const char *media_codec_human(const char *ffmpeg_name);

/**
 * Judges @f, in this order, stopping at the first failure: format (container, parsable, track
 * counts) → codecs → resolution → frame rate → duration → bitrate → integrity (truncation,
 * decoding) → thumbnail. Returns MEDIA_OK, or the reason with one or two plain sentences in
 * @detail (always NUL-terminated when @detail_len > 0, never containing a path). Pure; never
 * fails; @detail is left untouched on MEDIA_OK.
 */
enum media_reason media_rules_check(const struct media_facts *f, char *detail, size_t detail_len);

/** Frame rate in thousandths (29970 for 30000/1001), rounded; 0 when unknown. */
int64_t media_fps_milli(int64_t num, int64_t den);

/**
 * The thumbnail size for a @width × @height picture: fits in MEDIA_THUMB_MAX_SIDE square, keeps
 * the aspect ratio, never upscales, and both sides are even and at least 2 (YUV 4:2:0).
 * Returns 0, or -EINVAL (outputs untouched) when a side is not positive.
 */
int media_thumb_size(int64_t width, int64_t height, int *ret_width, int *ret_height);

/*
 * Structure walks. They read through a callback so that they stay pure (and testable on byte
 * arrays), run in time linear in the file size whatever its contents, and never allocate.
 */

/** Reads up to @n bytes at @offset into @buf; returns the count (0 at end of file) or -errno. */
typedef int64_t (*media_read_fn)(void *userdata, uint64_t offset, void *buf, size_t n);

/** Where a file's own structure says it ends, and what the walk saw on the way. */
struct media_layout {
    bool complete;  /* the structure ends inside the file (JPEG EOI, PNG IEND, all boxes) */
    bool truncated; /* a segment, chunk or box runs past the end of the file */
    bool malformed; /* not the structure its magic promised (no SOF, no IHDR, …) */
    bool has_moov;  /* MP4: a top-level moov box (the index) */
    int64_t width;  /* images: from the JPEG SOF or PNG IHDR; 0 when not found */
    int64_t height;
    uint64_t end; /* images: offset just past EOI / IEND (data after it is ignored) */
};

/**
 * Walks the structure of a @size byte file of container @c (JPEG, PNG or MP4) read through
 * @read. Data after a JPEG's EOI or a PNG's IEND (a polyglot's tail) is not looked at; bytes
 * after the last MP4 box that do not form a known box (vendor trailers) are ignored. Returns 0
 * with @ret filled in, -EOPNOTSUPP for another container, or the callback's -errno (@ret
 * untouched on failure).
 */
int media_layout_scan(enum media_container c, uint64_t size, media_read_fn read, void *userdata,
                      struct media_layout *ret);
