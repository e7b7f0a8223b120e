/* SPDX-License-Identifier: MIT */
/*
 * inspect.c — the FFmpeg half of the media inspector (contract in inspect.h, rules in
 * media-rules.h). It runs in a child process on files nobody has vetted, so:
 *
 *  - the container is decided by magic bytes (media_sniff) and FFmpeg is then FORCED to use the
 *    matching demuxer, with format/codec/protocol whitelists: a polyglot cannot steer it and no
 *    other demuxer, decoder or protocol is ever reached;
 *  - FFmpeg reads the file only through our own AVIO callbacks on the one descriptor we opened
 *    and measured, any attempt to open another URL is refused, and every read checks a
 *    monotonic deadline;
 *  - the facts are judged in stages (media_rules_check), so nothing is decoded for a thumbnail
 *    before its size, codecs and limits have passed (an image's size comes from its own header;
 *    avformat_find_stream_info may decode a first frame of an MP4, but only with whitelisted
 *    decoders), and every decoder refuses frames larger than the limits allow (max_pixels);
 *  - running out of time (INSPECT_DEADLINE_MS) is PROCESSING_TIMEOUT (§13.2: processing did not
 *    complete within the allowed window), running out of memory INTERNAL_ERROR, never
 *    FILE_CORRUPT: it may be the server's load, and the user can only retry;
 *  - the process limits its own CPU time, address space and file size.
 *
 * Stages: open + sniff → structure walk (JPEG markers, PNG chunks, MP4 boxes: truncation) →
 * demux (images: the first packet; MP4: streams, duration, bitrate, frame rate, and every
 * sample of the index inside the file) → rules → decode (images: all of it; MP4: from the
 * keyframe before 1 s up to the first frame at or after 1 s, never the whole file) → rules →
 * thumbnail (scale to fit 480×480, encode as JPEG, write THUMB_OUT exclusively) → rules → JSON.
 */
#include "content/inspect.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "clock.h"
#include "content/media-rules.h"
#include "macro.h"

#if defined(__SANITIZE_ADDRESS__)
#define INSPECT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define INSPECT_ASAN 1
#endif
#endif
#ifndef INSPECT_ASAN
#define INSPECT_ASAN 0
#endif

#define INSPECT_CPU_LIMIT_S  120           /* RLIMIT_CPU */
#define INSPECT_AS_LIMIT     (2ULL << 30)  /* RLIMIT_AS, not under ASan */
#define INSPECT_FSIZE_LIMIT  (16ULL << 20) /* RLIMIT_FSIZE: only the thumbnail is written */
#define INSPECT_MAX_STREAMS  16            /* more and the demuxer refuses the file */
#define INSPECT_MAX_PACKETS  600           /* video packets decoded for the thumbnail */
#define INSPECT_MAX_READS    (4 * INSPECT_MAX_PACKETS) /* packets read, any stream */
#define INSPECT_MAX_THREADS  4                         /* decoder threads */
#define INSPECT_AVIO_BUFFER  (64 * 1024)
#define INSPECT_THUMB_AT_MS  1000 /* thumbnail from 1 s in (clips under 2 s: the first frame) */
#define INSPECT_THUMB_QSCALE 4    /* JPEG quantizer scale: 2 (best) … 31 */
/* Largest frame a decoder may allocate: the largest picture the rules accept, plus the
 * alignment a decoder adds (1080 lines are coded as 1088, widths are padded to 64). */
#define INSPECT_MAX_PIXELS (2048 * 1152)
#define INSPECT_CODECS     "h264,aac,mjpeg,png"

struct inspector {
    int fd;
    uint64_t size;
    uint64_t pos; /* where the next AVIO read starts */
    int64_t deadline_ns;
    bool timed_out;
    AVIOContext *avio;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frame;   /* the picture the thumbnail is made from */
    AVFrame *scratch; /* decoder output before it is chosen */
    int vindex;       /* the video stream, -1 when none */
    int aindex;       /* the audio stream, -1 when none */
    struct media_facts facts;
};

struct verdict {
    enum media_reason reason;
    char detail[MEDIA_DETAIL_MAX];
};

static const char detail_timeout[] =
    "Checking the file took too long. Please try again, or export the file again.";
static const char detail_nomem[] =
    "The server ran out of memory while checking the file. Please try again.";

/* ---- process limits, clock --------------------------------------------------------------- */

static void lower_limit(int resource, rlim_t value)
{
    struct rlimit rl;
    if (getrlimit(resource, &rl) < 0)
        return;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > value)
        rl.rlim_cur = value;
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > value)
        rl.rlim_max = value;
    (void)setrlimit(resource, &rl); /* best effort: the worker's deadline still applies */
}

static void set_limits(void)
{
    lower_limit(RLIMIT_CPU, INSPECT_CPU_LIMIT_S);
    lower_limit(RLIMIT_FSIZE, INSPECT_FSIZE_LIMIT);
    /* ASan reserves terabytes of shadow address space: a limit would only break it */
    if (!INSPECT_ASAN)
        lower_limit(RLIMIT_AS, INSPECT_AS_LIMIT);
    /* a thumbnail over RLIMIT_FSIZE must fail a write (EFBIG), not kill us silently */
    signal(SIGXFSZ, SIG_IGN);
}

static bool deadline_passed(struct inspector *ins)
{
    if (!ins->timed_out && clock_mono_ns() > ins->deadline_ns)
        ins->timed_out = true;
    return ins->timed_out;
}

static int interrupt_cb(void *opaque)
{
    return deadline_passed(opaque);
}

/* ---- I/O ---------------------------------------------------------------------------------- */

static int64_t pread_all(int fd, uint64_t off, void *buf, size_t n)
{
    for (;;) {
        ssize_t k = pread(fd, buf, n, (off_t)off);
        if (k >= 0)
            return k;
        if (errno != EINTR)
            return -errno;
    }
}

static int64_t layout_read(void *userdata, uint64_t off, void *buf, size_t n)
{
    struct inspector *ins = userdata;
    if (deadline_passed(ins))
        return -ETIMEDOUT;
    return pread_all(ins->fd, off, buf, n);
}

/* AVIO over our descriptor, limited to the size measured at open: FFmpeg sees one fixed file. */
static int avio_read_cb(void *opaque, uint8_t *buf, int buf_size)
{
    struct inspector *ins = opaque;
    if (deadline_passed(ins))
        return AVERROR_EXIT;
    if (ins->pos >= ins->size || buf_size <= 0)
        return AVERROR_EOF;
    uint64_t left = ins->size - ins->pos;
    size_t n = left < (uint64_t)buf_size ? (size_t)left : (size_t)buf_size;
    int64_t k = pread_all(ins->fd, ins->pos, buf, n);
    if (k < 0)
        return AVERROR((int)-k);
    if (k == 0)
        return AVERROR_EOF;
    ins->pos += (uint64_t)k;
    return (int)k;
}

static int64_t avio_seek_cb(void *opaque, int64_t offset, int whence)
{
    struct inspector *ins = opaque;
    int64_t base;

    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE:
        return (int64_t)ins->size;
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = (int64_t)ins->pos;
        break;
    case SEEK_END:
        base = (int64_t)ins->size;
        break;
    default:
        return AVERROR(EINVAL);
    }
    if ((offset < 0 && base + offset < 0) || (offset > 0 && offset > INT64_MAX - base))
        return AVERROR(EINVAL);
    ins->pos = (uint64_t)(base + offset);
    return base + offset;
}

/* The demuxer never opens anything else (external MP4 data references and the like). */
static int refuse_io_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                          AVDictionary **options)
{
    return AVERROR(EPERM);
}

/* ---- demuxing ----------------------------------------------------------------------------- */

static int demuxer_open(struct inspector *ins, const char *name)
{
    const AVInputFormat *ifmt = av_find_input_format(name);
    if (!ifmt)
        return AVERROR_DEMUXER_NOT_FOUND;

    uint8_t *buffer = av_malloc(INSPECT_AVIO_BUFFER);
    if (!buffer)
        return AVERROR(ENOMEM);
    ins->avio =
        avio_alloc_context(buffer, INSPECT_AVIO_BUFFER, 0, ins, avio_read_cb, NULL, avio_seek_cb);
    if (!ins->avio) {
        av_free(buffer);
        return AVERROR(ENOMEM);
    }
    AVFormatContext *fmt = avformat_alloc_context();
    if (!fmt)
        return AVERROR(ENOMEM);
    fmt->pb = ins->avio;
    fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    fmt->interrupt_callback = (AVIOInterruptCB){interrupt_cb, ins};
    fmt->io_open = refuse_io_open;

    AVDictionary *opts = NULL;
    av_dict_set(&opts, "format_whitelist", ifmt->name, 0);
    av_dict_set(&opts, "codec_whitelist", INSPECT_CODECS, 0);
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    av_dict_set_int(&opts, "max_streams", INSPECT_MAX_STREAMS, 0);
    int r = avformat_open_input(&fmt, "", ifmt, &opts); /* frees fmt on failure */
    av_dict_free(&opts);
    if (r < 0)
        return r;
    ins->fmt = fmt;
    return 0;
}

static int find_stream_info(struct inspector *ins)
{
    unsigned n = ins->fmt->nb_streams;
    AVDictionary **opts = av_calloc(n ? n : 1, sizeof(*opts));
    if (!opts)
        return AVERROR(ENOMEM);
    for (unsigned i = 0; i < n; i++)
        av_dict_set_int(&opts[i], "max_pixels", INSPECT_MAX_PIXELS, 0);
    int r = avformat_find_stream_info(ins->fmt, opts);
    for (unsigned i = 0; i < n; i++)
        av_dict_free(&opts[i]);
    av_free(opts);
    return r;
}

/* Every sample the index knows about lies inside the file: else the file was cut short. */
static bool index_inside_file(AVStream *st, uint64_t size)
{
    int n = avformat_index_get_entries_count(st);
    for (int i = 0; i < n; i++) {
        const AVIndexEntry *e = avformat_index_get_entry(st, i);
        if (!e || e->pos < 0 || e->size < 0 || (uint64_t)e->pos > size ||
            (uint64_t)e->size > size - (uint64_t)e->pos)
            return false;
    }
    return true;
}

static int64_t duration_ms(const AVFormatContext *fmt)
{
    if (fmt->duration > 0)
        return av_rescale(fmt->duration, 1000, AV_TIME_BASE);
    int64_t longest = 0;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *st = fmt->streams[i];
        if (st->duration > 0) {
            int64_t ms = av_rescale_q(st->duration, st->time_base, (AVRational){1, 1000});
            if (ms > longest)
                longest = ms;
        }
    }
    return longest;
}

static void video_facts(struct inspector *ins)
{
    AVFormatContext *fmt = ins->fmt;
    struct media_facts *f = &ins->facts;

    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        AVStream *st = fmt->streams[i];
        enum AVMediaType type = st->codecpar->codec_type;
        if (type == AVMEDIA_TYPE_VIDEO && !(st->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
            if (f->n_video++ == 0)
                ins->vindex = (int)i;
        } else if (type == AVMEDIA_TYPE_AUDIO) {
            if (f->n_audio++ == 0)
                ins->aindex = (int)i;
        }
        /* only the video stream is ever read again */
        st->discard = AVDISCARD_ALL;
    }
    if (ins->vindex < 0)
        return;

    AVStream *vst = fmt->streams[ins->vindex];
    vst->discard = AVDISCARD_DEFAULT;
    f->video_codec = avcodec_get_name(vst->codecpar->codec_id);
    if (ins->aindex >= 0)
        f->audio_codec = avcodec_get_name(fmt->streams[ins->aindex]->codecpar->codec_id);
    f->width = vst->codecpar->width;
    f->height = vst->codecpar->height;
    AVRational fps = vst->avg_frame_rate.num > 0 && vst->avg_frame_rate.den > 0
                         ? vst->avg_frame_rate
                         : vst->r_frame_rate;
    f->fps_num = fps.num;
    f->fps_den = fps.den;
    f->duration_ms = duration_ms(fmt);
    f->bitrate_bps = vst->codecpar->bit_rate;
    if (f->bitrate_bps <= 0 && f->duration_ms > 0)
        f->bitrate_bps = (int64_t)av_rescale((int64_t)ins->size, 8000, f->duration_ms);

    if (!index_inside_file(vst, ins->size) ||
        (ins->aindex >= 0 && !index_inside_file(fmt->streams[ins->aindex], ins->size)))
        f->truncated = true;
}

/* ---- decoding ----------------------------------------------------------------------------- */

static int decoder_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > INSPECT_MAX_THREADS ? INSPECT_MAX_THREADS : (int)n;
}

static int decoder_open(struct inspector *ins, const AVStream *st, bool image)
{
    const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!codec)
        return AVERROR_DECODER_NOT_FOUND;
    ins->dec = avcodec_alloc_context3(codec);
    if (!ins->dec)
        return AVERROR(ENOMEM);
    int r = avcodec_parameters_to_context(ins->dec, st->codecpar);
    if (r < 0)
        return r;
    ins->dec->pkt_timebase = st->time_base;
    ins->dec->max_pixels = INSPECT_MAX_PIXELS;
    if (image) {
        /* a picture is decoded once and whole: any deviation is an error */
        ins->dec->err_recognition = AV_EF_EXPLODE | AV_EF_CRCCHECK | AV_EF_BITSTREAM | AV_EF_BUFFER;
        ins->dec->thread_count = 1;
    } else {
        ins->dec->thread_count = decoder_threads();
        ins->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    }
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "codec_whitelist", INSPECT_CODECS, 0);
    r = avcodec_open2(ins->dec, codec, &opts);
    av_dict_free(&opts);
    return r;
}

/* Decodes the one packet of a picture into ins->frame. */
static int image_decode(struct inspector *ins)
{
    int r = avcodec_send_packet(ins->dec, ins->pkt);
    av_packet_unref(ins->pkt);
    if (r < 0)
        return r;
    r = avcodec_send_packet(ins->dec, NULL);
    if (r < 0)
        return r;
    r = avcodec_receive_frame(ins->dec, ins->frame);
    if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
        return AVERROR_INVALIDDATA;
    return r;
}

/* Takes what the decoder has, keeping the newest frame in ins->frame. 1 once that frame is at or
 * after @target, 0 when the decoder wants more input, or a negative AVERROR. */
static int take_frames(struct inspector *ins, int64_t target, bool *got)
{
    for (;;) {
        int r = avcodec_receive_frame(ins->dec, ins->scratch);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
            return 0;
        if (r < 0)
            return r;
        *got = true;
        av_frame_unref(ins->frame);
        av_frame_move_ref(ins->frame, ins->scratch);
        int64_t ts = ins->frame->best_effort_timestamp;
        if (ts == AV_NOPTS_VALUE || ts >= target)
            return 1;
    }
}

/* Decodes from the keyframe before INSPECT_THUMB_AT_MS to the first frame at or after it (the
 * first frame of a clip under twice that), reading at most INSPECT_MAX_PACKETS video packets;
 * falls back to the last frame decoded. An error before any frame fails. */
static int video_decode(struct inspector *ins)
{
    AVStream *st = ins->fmt->streams[ins->vindex];
    int64_t start = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
    int64_t target = start;

    if (ins->facts.duration_ms >= 2 * INSPECT_THUMB_AT_MS) {
        target = start + av_rescale_q(INSPECT_THUMB_AT_MS, (AVRational){1, 1000}, st->time_base);
        if (av_seek_frame(ins->fmt, ins->vindex, target, AVSEEK_FLAG_BACKWARD) < 0)
            (void)av_seek_frame(ins->fmt, ins->vindex, start, AVSEEK_FLAG_BACKWARD);
    }

    bool got = false;
    int r = 0, packets = 0, reads = 0;
    while (packets < INSPECT_MAX_PACKETS && reads++ < INSPECT_MAX_READS) {
        if (deadline_passed(ins))
            return AVERROR_EXIT;
        r = av_read_frame(ins->fmt, ins->pkt);
        if (r < 0)
            break; /* end of file or a damaged tail: keep what was decoded */
        if (ins->pkt->stream_index != ins->vindex) {
            av_packet_unref(ins->pkt);
            continue;
        }
        packets++;
        /* frames before the target are never shown: skip those nothing else refers to */
        bool early = ins->pkt->pts != AV_NOPTS_VALUE && ins->pkt->pts < target;
        ins->dec->skip_frame = early ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
        r = avcodec_send_packet(ins->dec, ins->pkt);
        av_packet_unref(ins->pkt);
        if (r < 0 && r != AVERROR(EAGAIN) && !got)
            return r;
        r = take_frames(ins, target, &got);
        if (r == 1)
            return 0;
        if (r < 0 && !got)
            return r;
    }
    if (ins->timed_out)
        return AVERROR_EXIT;
    if (r == AVERROR(ENOMEM))
        return r;

    (void)avcodec_send_packet(ins->dec, NULL); /* drain: frame threads hold a few back */
    r = take_frames(ins, target, &got);
    if (got)
        return 0;
    return r < 0 ? r : AVERROR_INVALIDDATA;
}

/* ---- thumbnail ---------------------------------------------------------------------------- */

/* Converts @src to a full-range YUV 4:2:0 picture that fits MEDIA_THUMB_MAX_SIDE square. */
static int thumb_scale(const AVFrame *src, AVFrame **ret)
{
    int w, h;
    if (media_thumb_size(src->width, src->height, &w, &h) < 0)
        return AVERROR(EINVAL);
    struct SwsContext *sws = sws_getContext(src->width, src->height, src->format, w, h,
                                            AV_PIX_FMT_YUVJ420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (!sws)
        return AVERROR(EINVAL); /* a pixel format swscale cannot read */

    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(src->format);
    if (desc && !(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3) {
        /* YUV input: honour its matrix and range (JPEG wants BT.601 full range) */
        int *inv, *table, src_range, dst_range, brightness, contrast, saturation;
        if (sws_getColorspaceDetails(sws, &inv, &src_range, &table, &dst_range, &brightness,
                                     &contrast, &saturation) >= 0) {
            int cs = src->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_DEFAULT;
            if (src->color_range == AVCOL_RANGE_JPEG)
                src_range = 1;
            (void)sws_setColorspaceDetails(sws, sws_getCoefficients(cs), src_range,
                                           sws_getCoefficients(SWS_CS_DEFAULT), 1, brightness,
                                           contrast, saturation);
        }
    }

    AVFrame *dst = av_frame_alloc();
    int r = dst ? 0 : AVERROR(ENOMEM);
    if (r == 0) {
        dst->width = w;
        dst->height = h;
        dst->format = AV_PIX_FMT_YUVJ420P;
        dst->color_range = AVCOL_RANGE_JPEG;
        r = av_frame_get_buffer(dst, 0);
    }
    if (r == 0)
        r = sws_scale(sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height,
                      dst->data, dst->linesize) == h
                ? 0
                : AVERROR(EINVAL);
    sws_freeContext(sws);
    if (r < 0) {
        av_frame_free(&dst);
        return r;
    }
    *ret = dst;
    return 0;
}

static int thumb_encode(AVFrame *pic, AVPacket **ret)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    if (!codec)
        return AVERROR_ENCODER_NOT_FOUND;
    AVCodecContext *enc = avcodec_alloc_context3(codec);
    AVPacket *pkt = av_packet_alloc();
    int r = enc && pkt ? 0 : AVERROR(ENOMEM);
    if (r == 0) {
        enc->width = pic->width;
        enc->height = pic->height;
        enc->pix_fmt = AV_PIX_FMT_YUVJ420P;
        enc->color_range = AVCOL_RANGE_JPEG;
        enc->time_base = (AVRational){1, 25};
        enc->thread_count = 1;
        enc->flags |= AV_CODEC_FLAG_QSCALE;
        enc->global_quality = FF_QP2LAMBDA * INSPECT_THUMB_QSCALE;
        pic->quality = enc->global_quality;
        pic->pts = 0;
        r = avcodec_open2(enc, codec, NULL);
    }
    if (r == 0)
        r = avcodec_send_frame(enc, pic);
    if (r == 0)
        r = avcodec_receive_packet(enc, pkt);
    avcodec_free_context(&enc);
    if (r < 0) {
        av_packet_free(&pkt);
        return r;
    }
    *ret = pkt;
    return 0;
}

/* Creates @path (it must not exist, nor be a symlink) with @data; removes it on failure. */
static int thumb_write(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0)
        return -errno; /* not ours: never unlink it */
    int r = 0;
    while (len > 0) {
        ssize_t k = write(fd, data, len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            r = k < 0 ? -errno : -EIO;
            break;
        }
        data += k;
        len -= (size_t)k;
    }
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r < 0)
        (void)unlink(path);
    return r;
}

static int thumb_make(const AVFrame *src, const char *path)
{
    AVFrame *pic = NULL;
    AVPacket *jpeg = NULL;
    int r = thumb_scale(src, &pic);
    if (r == 0)
        r = thumb_encode(pic, &jpeg);
    if (r == 0)
        r = thumb_write(path, jpeg->data, (size_t)jpeg->size);
    av_frame_free(&pic);
    av_packet_free(&jpeg);
    return r;
}

/* ---- the stages --------------------------------------------------------------------------- */

/* Judges the facts so far: true when there is a verdict (a refusal). */
static bool judge(const struct inspector *ins, struct verdict *v)
{
    v->reason = media_rules_check(&ins->facts, v->detail, sizeof(v->detail));
    return v->reason != MEDIA_OK;
}

/* A failure that is not the file's fault; true so callers can return it. */
static bool internal(struct inspector *ins, struct verdict *v, int err, const char *detail)
{
    v->reason = MEDIA_INTERNAL_ERROR;
    if (ins->timed_out || err == AVERROR_EXIT) {
        v->reason = MEDIA_PROCESSING_TIMEOUT;
        detail = detail_timeout;
    } else if (err == AVERROR(ENOMEM))
        detail = detail_nomem;
    snprintf(v->detail, sizeof(v->detail), "%s", detail);
    return true;
}

/* True when @err is ours (time, memory) rather than the file's. */
static bool not_the_files_fault(const struct inspector *ins, int err)
{
    return ins->timed_out || err == AVERROR_EXIT || err == AVERROR(ENOMEM);
}

static int open_input(struct inspector *ins, const char *path, struct verdict *v)
{
    ins->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (ins->fd < 0 || fstat(ins->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        internal(ins, v, 0, "The uploaded file could not be opened on the server.");
        return -1;
    }
    ins->size = (uint64_t)st.st_size;

    uint8_t head[MEDIA_SNIFF_BYTES];
    size_t want = ins->size < sizeof(head) ? (size_t)ins->size : sizeof(head);
    int64_t n = pread_all(ins->fd, 0, head, want);
    if (n < 0) {
        internal(ins, v, 0, "The uploaded file could not be read on the server.");
        return -1;
    }
    ins->facts.container = media_sniff(head, (size_t)n);
    /* nothing else is known yet: only an unsupported container can be judged */
    if (!media_container_supported(ins->facts.container) && judge(ins, v))
        return -1;
    return 0;
}

static bool stage_layout(struct inspector *ins, struct verdict *v)
{
    struct media_layout l;
    int r = media_layout_scan(ins->facts.container, ins->size, layout_read, ins, &l);
    if (r < 0)
        return internal(ins, v, 0, "The uploaded file could not be read on the server.");
    ins->facts.truncated = l.truncated;
    if (media_container_is_video(ins->facts.container)) {
        /* cut before the end of its moov: whatever FFmpeg could make of the rest, it is not
         * the whole video (a moov cut short can even parse as "no tracks") */
        if (l.truncated && !l.has_moov)
            return judge(ins, v);
        return false; /* otherwise boxes say only that; FFmpeg judges the rest */
    }
    /* an image's size comes from its own header, so nothing is decoded before it is judged */
    ins->facts.width = l.width;
    ins->facts.height = l.height;
    ins->facts.parsed = !l.malformed && l.width > 0;
    return !ins->facts.parsed && judge(ins, v);
}

/* The last stage of both kinds: the thumbnail of the decoded frame. */
static bool stage_thumbnail(struct inspector *ins, const char *thumb_out, struct verdict *v)
{
    int r = thumb_make(ins->frame, thumb_out);
    if (r == AVERROR(ENOMEM))
        return internal(ins, v, r, "");
    ins->facts.thumbnail = r == 0 ? MEDIA_STEP_OK : MEDIA_STEP_FAILED;
    return judge(ins, v);
}

static bool stage_image(struct inspector *ins, const char *thumb_out, struct verdict *v)
{
    bool jpeg = ins->facts.container == MEDIA_CONTAINER_JPEG;
    int r = demuxer_open(ins, jpeg ? "jpeg_pipe" : "png_pipe");
    if (r == 0)
        r = av_read_frame(ins->fmt, ins->pkt);
    if (r < 0 && (not_the_files_fault(ins, r) || r == AVERROR_DEMUXER_NOT_FOUND))
        return internal(ins, v, r, "The server cannot check images right now.");
    if (r < 0)
        ins->facts.parsed = false;
    if (ins->fmt) {
        for (unsigned i = 0; i < ins->fmt->nb_streams; i++) {
            AVStream *st = ins->fmt->streams[i];
            if (st->codecpar->codec_type != AVMEDIA_TYPE_VIDEO)
                continue;
            if (ins->facts.n_video++ == 0) {
                ins->vindex = (int)i;
                ins->facts.video_codec = avcodec_get_name(st->codecpar->codec_id);
            }
        }
    }
    if (judge(ins, v))
        return true;

    r = decoder_open(ins, ins->fmt->streams[ins->vindex], true);
    if (r == AVERROR_DECODER_NOT_FOUND)
        return internal(ins, v, r, "The server cannot decode images right now.");
    if (r == 0)
        r = image_decode(ins); /* else the decoder refused the file's parameters */
    if (not_the_files_fault(ins, r))
        return internal(ins, v, r, "");
    /* the decoder must agree with the header the limits were checked on */
    bool same =
        r == 0 && ins->frame->width == ins->facts.width && ins->frame->height == ins->facts.height;
    ins->facts.decode = same ? MEDIA_STEP_OK : MEDIA_STEP_FAILED;
    if (judge(ins, v))
        return true;

    return stage_thumbnail(ins, thumb_out, v);
}

static bool stage_video(struct inspector *ins, const char *thumb_out, struct verdict *v)
{
    int r = demuxer_open(ins, "mp4");
    if (r == 0)
        r = find_stream_info(ins);
    if (r < 0 && (not_the_files_fault(ins, r) || r == AVERROR_DEMUXER_NOT_FOUND))
        return internal(ins, v, r, "The server cannot check videos right now.");
    ins->facts.parsed = r >= 0;
    if (r >= 0)
        video_facts(ins);
    if (judge(ins, v))
        return true;

    r = decoder_open(ins, ins->fmt->streams[ins->vindex], false);
    if (r == AVERROR_DECODER_NOT_FOUND)
        return internal(ins, v, r, "The server cannot decode videos right now.");
    if (r == 0)
        r = video_decode(ins); /* else the decoder refused the file's parameters (avcC) */
    if (not_the_files_fault(ins, r))
        return internal(ins, v, r, "");
    ins->facts.decode = r == 0 ? MEDIA_STEP_OK : MEDIA_STEP_FAILED;
    if (r == 0) {
        /* the stream may disagree with its container: the decoded size is the truth */
        ins->facts.width = ins->frame->width;
        ins->facts.height = ins->frame->height;
    }
    if (judge(ins, v))
        return true;

    return stage_thumbnail(ins, thumb_out, v);
}

/* ---- output ------------------------------------------------------------------------------- */

static json_t *int_or_null(bool known, int64_t value)
{
    return known ? json_integer((json_int_t)value) : json_null();
}

static json_t *verdict_json(const struct inspector *ins, const struct verdict *v)
{
    if (v->reason != MEDIA_OK)
        return json_pack("{s:b, s:s, s:s}", "ok", 0, "reason", media_reason_name(v->reason),
                         "detail", v->detail);

    const struct media_facts *f = &ins->facts;
    bool video = media_container_is_video(f->container);
    int64_t fps_milli = media_fps_milli(f->fps_num, f->fps_den);
    return json_pack("{s:b, s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "ok", 1, "type",
                     video ? "VIDEO" : "IMAGE", "container", media_container_name(f->container),
                     "contentType", media_container_mime(f->container), "width",
                     (json_int_t)f->width, "height", (json_int_t)f->height, "durationMs",
                     int_or_null(video, f->duration_ms), "videoCodec",
                     video ? json_string(f->video_codec) : json_null(), "audioCodec",
                     video && f->n_audio == 1 ? json_string(f->audio_codec) : json_null(),
                     "bitrateBps", int_or_null(video && f->bitrate_bps > 0, f->bitrate_bps),
                     "frameRateMilli", int_or_null(video && fps_milli > 0, fps_milli));
}

static int print_verdict(const struct inspector *ins, const struct verdict *v)
{
    json_t *o = verdict_json(ins, v);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        return -ENOMEM;
    int r = puts(s) < 0 || fflush(stdout) != 0 ? -EIO : 0;
    free(s);
    return r;
}

static void inspector_release(struct inspector *ins)
{
    avcodec_free_context(&ins->dec);
    av_frame_free(&ins->frame);
    av_frame_free(&ins->scratch);
    av_packet_free(&ins->pkt);
    avformat_close_input(&ins->fmt);
    if (ins->avio) {
        av_freep(&ins->avio->buffer); /* may have been replaced by FFmpeg: free the current one */
        avio_context_free(&ins->avio);
    }
    if (ins->fd >= 0)
        close(ins->fd);
    ins->fd = -1;
}

int media_inspect_main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: marqueed media-inspect FILE THUMB_OUT\n");
        return 2;
    }
    set_limits();
    av_log_set_level(AV_LOG_ERROR); /* FFmpeg logs to stderr: stdout carries only the JSON */

    struct inspector ins = {
        .fd = -1,
        .deadline_ns = clock_mono_ns() + INSPECT_DEADLINE_MS * 1000000,
        .vindex = -1,
        .aindex = -1,
    };
    struct verdict v = {.reason = MEDIA_OK};
    ins.pkt = av_packet_alloc();
    ins.frame = av_frame_alloc();
    ins.scratch = av_frame_alloc();

    if (!ins.pkt || !ins.frame || !ins.scratch)
        internal(&ins, &v, AVERROR(ENOMEM), "");
    else if (open_input(&ins, argv[1], &v) < 0 || stage_layout(&ins, &v))
        ; /* refused before FFmpeg saw a byte */
    else if (media_container_is_video(ins.facts.container))
        stage_video(&ins, argv[2], &v);
    else
        stage_image(&ins, argv[2], &v);

    int r = print_verdict(&ins, &v);
    inspector_release(&ins);
    if (r < 0) {
        fprintf(stderr, "media-inspect: cannot write the verdict: %s\n", strerror(-r));
        return 1;
    }
    return 0;
}
