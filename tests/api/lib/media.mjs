// SPDX-License-Identifier: MIT
//
// media.mjs — the media files the content suites upload, made at test time with the ffmpeg CLI
// (nothing binary is checked in): one valid file of each accepted kind and one file for each
// way processing must refuse a file (docs/content.md "Processing", spec §13.2, §14). Generated
// once per process into a temp dir (removed when the process exits), at most as many ffmpeg
// runs at a time as there are CPUs.
//
// makeFixtures() resolves {dir, <name>: {path, bytes (Buffer), size, sha256, contentType,
// fileName, ...expectations}}; see FIXTURES below for the names.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Lower-case hex SHA-256 of a Buffer (or string). */
export function sha256(data) {
    return createHash('sha256').update(data).digest('hex');
}

/** Lower-case hex SHA-256 of a file's bytes. */
export async function sha256File(file) {
    return sha256(await readFile(file));
}

function run(file, args, { timeoutMs = 120000 } = {}) {
    return new Promise((resolve, reject) => {
        execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'buffer' },
            (error, stdout, stderr) => {
                if (error) reject(new Error(`${file} ${args.join(' ')}: ${error.message}\n${stderr.toString()}`));
                else resolve({ stdout, stderr });
            });
    });
}

const FFMPEG = process.env.FFMPEG || 'ffmpeg';
const FFPROBE = process.env.FFPROBE || 'ffprobe';

const ffmpeg = (args) => run(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args]);

/**
 * ffprobe of a file or a Buffer: {format: {...}, streams: [...]} (ffprobe -show_format
 * -show_streams as JSON). A Buffer is written to a temp file first.
 */
export async function probe(fileOrBuffer) {
    let file = fileOrBuffer;
    let tmp = null;
    if (Buffer.isBuffer(fileOrBuffer)) {
        tmp = await mkdtemp(path.join(os.tmpdir(), 'marquee-probe-'));
        file = path.join(tmp, 'probe.bin');
        await writeFile(file, fileOrBuffer);
    }
    try {
        const { stdout } = await run(FFPROBE, ['-v', 'error', '-print_format', 'json', '-show_format',
            '-show_streams', file], { timeoutMs: 30000 });
        return JSON.parse(stdout.toString());
    } finally {
        if (tmp) rmSync(tmp, { recursive: true, force: true });
    }
}

// a lavfi video source: the test pattern with a moving element (so frames differ)
const src = (size, rate, seconds) => ['-f', 'lavfi', '-i', `testsrc2=s=${size}:r=${rate}:d=${seconds}`];
const tone = (seconds) => ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`];
const H264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];

/**
 * name → {file, make(out, dir, made), contentType (what the client declares), then what the
 * server must conclude: status READY with type/contentType/width/height, or FAILED with
 * reason (or reasons, when the contract allows more than one)}.
 * `after` names fixtures this one is made from.
 */
const FIXTURES = {
    mp4: {
        file: 'clip.mp4', contentType: 'video/mp4',
        make: (out) => ffmpeg([...src('320x240', 25, 3), ...tone(3), ...H264, '-c:a', 'aac', '-b:a', '64k',
            '-shortest', '-movflags', '+faststart', out]),
        expect: { status: 'READY', type: 'VIDEO', contentType: 'video/mp4', width: 320, height: 240,
            durationMs: 3000, videoCodec: 'h264', audioCodec: 'aac', frameRate: 25 },
    },
    jpeg: {
        file: 'still.jpg', contentType: 'image/jpeg',
        make: (out) => ffmpeg([...src('640x360', 1, 1), '-frames:v', '1', '-c:v', 'mjpeg', '-q:v', '4', out]),
        expect: { status: 'READY', type: 'IMAGE', contentType: 'image/jpeg', width: 640, height: 360 },
    },
    png: {
        file: 'still.png', contentType: 'image/png',
        make: (out) => ffmpeg([...src('400x300', 1, 1), '-frames:v', '1', '-c:v', 'png', out]),
        expect: { status: 'READY', type: 'IMAGE', contentType: 'image/png', width: 400, height: 300 },
    },
    portraitJpeg: {
        file: 'portrait.jpg', contentType: 'image/jpeg',
        make: (out) => ffmpeg([...src('1080x1920', 1, 1), '-frames:v', '1', '-c:v', 'mjpeg', '-q:v', '8', out]),
        expect: { status: 'READY', type: 'IMAGE', contentType: 'image/jpeg', width: 1080, height: 1920 },
    },
    // a valid JPEG with an MP4 appended after its EOI marker: still a JPEG
    jpegTrailer: {
        file: 'trailer.jpg', contentType: 'image/jpeg', after: ['jpeg', 'mp4'],
        make: async (out, dir, made) => writeFile(out, Buffer.concat([made.jpeg.bytes, made.mp4.bytes])),
        expect: { status: 'READY', type: 'IMAGE', contentType: 'image/jpeg', width: 640, height: 360 },
    },
    // declared as a video, really a PNG: the file decides (type/contentType set when READY)
    pngAsVideo: {
        file: 'really-a-png.mp4', contentType: 'video/mp4', after: ['png'],
        make: async (out, dir, made) => writeFile(out, made.png.bytes),
        expect: { status: 'READY', type: 'IMAGE', contentType: 'image/png', width: 400, height: 300 },
    },
    vp9Mp4: {
        file: 'vp9.mp4', contentType: 'video/mp4',
        make: (out) => ffmpeg([...src('160x120', 10, 1), '-c:v', 'libvpx-vp9', '-deadline', 'realtime',
            '-cpu-used', '8', '-b:v', '200k', '-f', 'mp4', out]),
        expect: { status: 'FAILED', reason: 'INVALID_CODEC' },
    },
    ac3Mp4: {
        file: 'ac3-audio.mp4', contentType: 'video/mp4',
        make: (out) => ffmpeg([...src('160x120', 10, 1), ...tone(1), ...H264, '-c:a', 'ac3', '-shortest',
            '-movflags', '+faststart', out]),
        expect: { status: 'FAILED', reason: 'INVALID_CODEC' },
    },
    gif: {
        file: 'anim.gif', contentType: 'image/gif',
        make: (out) => ffmpeg([...src('160x120', 5, 1), '-c:v', 'gif', out]),
        expect: { status: 'FAILED', reason: 'INVALID_FORMAT' },
    },
    webm: {
        file: 'clip.webm', contentType: 'video/webm',
        make: (out) => ffmpeg([...src('160x120', 10, 1), '-c:v', 'libvpx-vp9', '-deadline', 'realtime',
            '-cpu-used', '8', '-b:v', '200k', '-f', 'webm', out]),
        expect: { status: 'FAILED', reason: 'INVALID_FORMAT' },
    },
    // H.264/AAC in a QuickTime container (ftyp brand "qt  "): docs name it as refused
    mov: {
        file: 'clip.mov', contentType: 'video/quicktime',
        make: (out) => ffmpeg([...src('160x120', 10, 1), ...H264, '-f', 'mov', out]),
        expect: { status: 'FAILED', reason: 'INVALID_FORMAT' },
    },
    uhd: {
        file: 'uhd.mp4', contentType: 'video/mp4',
        make: (out) => ffmpeg([...src('3840x2160', 5, 1), ...H264, '-crf', '40', '-movflags', '+faststart', out]),
        expect: { status: 'FAILED', reason: 'RESOLUTION_EXCEEDED' },
    },
    bigPng: {
        file: 'wide.png', contentType: 'image/png',
        make: (out) => ffmpeg([...src('2400x1000', 1, 1), '-frames:v', '1', '-c:v', 'png',
            '-compression_level', '1', out]),
        expect: { status: 'FAILED', reason: 'RESOLUTION_EXCEEDED' },
    },
    fps60: {
        file: 'fast.mp4', contentType: 'video/mp4',
        make: (out) => ffmpeg([...src('320x240', 60, 1), ...H264, '-movflags', '+faststart', out]),
        expect: { status: 'FAILED', reason: 'RESOLUTION_EXCEEDED', detailMatches: /fps|frame/i },
    },
    long: {
        file: 'long.mp4', contentType: 'video/mp4',
        make: (out) => ffmpeg([...src('64x48', 1, 130), ...H264, '-r', '1', '-movflags', '+faststart', out]),
        expect: { status: 'FAILED', reason: 'DURATION_EXCEEDED' },
    },
    // 2 s of full-frame noise at near-lossless quality: far above 10 Mbps
    bitrate: {
        file: 'noise.mp4', contentType: 'video/mp4',
        make: (out) => ffmpeg(['-f', 'lavfi', '-i', 'nullsrc=s=480x270:r=25:d=2,geq=random(1)*255:128:128',
            ...H264, '-qp', '5', '-movflags', '+faststart', out]),
        expect: { status: 'FAILED', reason: 'BITRATE_EXCEEDED' },
    },
    // the valid faststart MP4 cut to half: the moov names samples past the end of the file
    truncated: {
        file: 'truncated.mp4', contentType: 'video/mp4', after: ['mp4'],
        make: async (out, dir, made) => writeFile(out, made.mp4.bytes.subarray(0, Math.floor(made.mp4.size / 2))),
        expect: { status: 'FAILED', reason: 'FILE_CORRUPT' },
    },
    // no known magic at all, declared as a JPEG
    random: {
        file: 'photo.jpg', contentType: 'image/jpeg',
        make: async (out) => writeFile(out, Buffer.concat([Buffer.from('not a media file, honest\n'), randomBytes(8192)])),
        expect: { status: 'FAILED', reason: 'INVALID_FORMAT' },
    },
    // a PNG signature followed by an MP4: neither a PNG nor an MP4 (the contract does not say
    // which of the two reasons; it must never be READY)
    polyglot: {
        file: 'poly.png', contentType: 'image/png', after: ['mp4'],
        make: async (out, dir, made) => writeFile(out, Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), made.mp4.bytes])),
        expect: { status: 'FAILED', reasons: ['INVALID_FORMAT', 'FILE_CORRUPT'] },
    },
};

export const FIXTURE_NAMES = Object.keys(FIXTURES);

/** name → what the server must conclude of that fixture (known before anything is made). */
export const FIXTURE_EXPECT = Object.fromEntries(Object.entries(FIXTURES).map(([k, v]) => [k, v.expect]));

let memo = null;

/**
 * Makes every fixture (once per process; later calls get the same promise). @dir: where to
 * put them (default: a new temp dir, removed at exit).
 */
export function makeFixtures(dir) {
    if (!memo) memo = build(dir);
    return memo;
}

async function build(dir) {
    if (!dir) {
        dir = await mkdtemp(path.join(os.tmpdir(), 'marquee-media-'));
        process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    }
    const made = { dir };
    const started = new Map();
    const limit = Math.max(2, os.availableParallelism?.() ?? os.cpus().length);
    let running = 0;
    const queue = [];
    const slot = () => new Promise((resolve) => {
        if (running < limit) {
            running++;
            resolve();
        } else queue.push(resolve);
    });
    const release = () => {
        const next = queue.shift();
        if (next) next();
        else running--;
    };
    const one = (name) => {
        if (started.has(name)) return started.get(name);
        const f = FIXTURES[name];
        const p = (async () => {
            await Promise.all((f.after || []).map(one));
            const out = path.join(dir, f.file);
            await slot();
            try {
                await f.make(out, dir, made);
            } finally {
                release();
            }
            const bytes = await readFile(out);
            assert.ok(bytes.length > 0, `fixture ${name} is empty`);
            made[name] = {
                name, path: out, bytes, size: bytes.length, sha256: sha256(bytes),
                fileName: f.file, contentType: f.contentType, expect: f.expect,
            };
        })();
        started.set(name, p);
        return p;
    };
    // the slow ones first
    await Promise.all(['bitrate', 'uhd', 'long', ...FIXTURE_NAMES].map(one));

    // the bitrate fixture must really be above the 10 Mbps limit, by size and duration
    const info = await probe(made.bitrate.path);
    const seconds = Number(info.format.duration);
    assert.ok(seconds > 1.5 && seconds < 2.5, `noise clip lasts ${seconds} s`);
    const bps = (made.bitrate.size * 8) / seconds;
    assert.ok(bps > 10_000_000, `noise clip is only ${Math.round(bps)} bit/s`);
    made.bitrate.bitrateBps = bps;
    // the long clip is really over 120.5 s, the 60 fps one really 60 fps
    const long = await probe(made.long.path);
    assert.ok(Number(long.format.duration) > 125, `long clip lasts ${long.format.duration} s`);
    const fast = await probe(made.fps60.path);
    assert.equal(fast.streams.find((s) => s.codec_type === 'video').avg_frame_rate, '60/1');
    return made;
}

/** Every regular file under @dir: [{path, size}] (an absent dir is empty). */
export async function walk(dir) {
    const out = [];
    let entries;
    try {
        entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
        if (e.code === 'ENOENT') return out;
        throw e;
    }
    for (const e of entries) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) out.push(...(await walk(p)));
        else {
            const s = await lstat(p).catch(() => null);
            if (s) out.push({ path: p, size: s.size, isFile: s.isFile() });
        }
    }
    return out;
}

