/* SPDX-License-Identifier: MIT */
/*
 * inspect.h — the media inspector: validates one uploaded file with FFmpeg's libraries
 * (container, codecs, resolution, duration, bitrate, frame rate, integrity), extracts its
 * metadata and writes a JPEG thumbnail. It runs as a child process (`marqueed media-inspect
 * FILE THUMB_OUT`), started by the processing worker, so that a hostile or broken file can at
 * worst kill that child, never marqueed; the worker enforces a deadline and reads one JSON
 * object from the child's stdout:
 *
 *   {"ok":true,"type":"IMAGE"|"VIDEO","container":"JPEG"|"PNG"|"MP4",
 *    "contentType":"image/jpeg"|"image/png"|"video/mp4","width":W,"height":H,
 *    "durationMs":N|null,"videoCodec":"h264"|null,"audioCodec":"aac"|null,
 *    "bitrateBps":N|null,"frameRateMilli":N|null}
 *   {"ok":false,"reason":"<a spec §13.2 reason>","detail":"<one sentence for a phone screen>"}
 *
 * The size and SHA-256 checks are the worker's (it has the file and the declared values).
 */
#pragma once

#include <stdint.h>

/* The inspector's own deadline (it answers PROCESSING_TIMEOUT past it), and when the worker
 * kills a child that is still not done. */
#define INSPECT_DEADLINE_MS (60LL * 1000)
#define INSPECT_KILL_MS     (INSPECT_DEADLINE_MS + 30LL * 1000)

/** Entry point of `marqueed media-inspect FILE THUMB_OUT`; returns the exit status. */
int media_inspect_main(int argc, char **argv);
