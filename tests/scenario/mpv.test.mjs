// SPDX-License-Identifier: MIT
//
// mpv.test.mjs — the `mpv` renderer of a real marquee-player on a real X display
// (docs/marquee-player.md "Running it": --renderer mpv plays fullscreen through libmpv).
//
// The test starts its own Xvfb (640×360×24, the first free display from :300 up, found with
// -displayfd, as tests/unit/player/test-render-mpv.c does from :90), runs the player with
// `--renderer mpv` and DISPLAY set to it, and looks at the screen with ffmpeg's x11grab:
//   - before pairing, the pairing screen: black and white only (a white card, a black QR code
//     and the code in black), both well represented;
//   - a published solid red image: while `status` says it is on screen (playback.assetId), the
//     screen is red, ≥ 95% of its pixels within a tolerance;
//   - then a published blue video: while it is on screen, the screen differs from the red one
//     (and shows the video's blue).
// Nothing is timed: each look is retried until the screen shows what it must, within a
// generous bound (a slow machine or ASan only makes it slower).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import { BACKEND } from '../api/lib/server.mjs';
import { pairPlayer, startPlayer } from './lib/player.mjs';
import { startWorld } from './lib/world.mjs';

const W = 640;
const H = 360;
const FRAME_BYTES = W * H * 3;
const DISPLAY_FIRST = 300;
const DISPLAY_LAST = 399;
const TOLERANCE = 40; // per channel: scaling and colour conversion
const FFMPEG = process.env.FFMPEG || 'ffmpeg';

const RED = [255, 0, 0];
const BLUE = [0, 0, 255];
const BLACK = [0, 0, 0];
const WHITE = [255, 255, 255];

/** Xvfb on :@n: resolves the process once it accepts connections, or null if it exits first. */
function xvfbTry(n) {
    return new Promise((resolve) => {
        // -displayfd 3: Xvfb writes its display number to fd 3 (a pipe) once it is ready
        const child = spawn('Xvfb', [`:${n}`, '-screen', '0', `${W}x${H}x24`, '-nolisten', 'tcp', '-displayfd', '3'],
            { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        let done = false;
        const finish = (v) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            resolve(v);
        };
        const timer = setTimeout(() => {
            child.kill('SIGKILL');
            finish(null);
        }, 15000);
        child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
        child.stdio[3].setEncoding('utf8').on('data', (d) => {
            out += d;
            if (out.includes('\n')) finish(Number.parseInt(out, 10) === n ? { child, display: `:${n}`, stderr: () => err } : null);
        });
        child.on('exit', () => finish(null));
        child.on('error', () => finish(null));
    });
}

async function startXvfb() {
    for (let n = DISPLAY_FIRST; n <= DISPLAY_LAST; n++) {
        if (existsSync(`/tmp/.X${n}-lock`)) continue;
        const x = await xvfbTry(n);
        if (x) {
            // an Xvfb outlives nothing: not even a test process that exits without its after()
            process.on('exit', () => {
                if (x.child.exitCode === null) x.child.kill('SIGKILL');
            });
            return x;
        }
    }
    throw new Error(`no Xvfb could start on :${DISPLAY_FIRST}…:${DISPLAY_LAST}`);
}

/** The screen of @display as RGB24, W × H bytes × 3 (ffmpeg's x11grab). */
function grab(display) {
    return new Promise((resolve, reject) => {
        const child = spawn(FFMPEG, ['-nostdin', '-loglevel', 'error', '-f', 'x11grab', '-draw_mouse', '0',
            '-video_size', `${W}x${H}`, '-i', display, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
        { stdio: ['ignore', 'pipe', 'pipe'] });
        const chunks = [];
        let err = '';
        child.stdout.on('data', (d) => chunks.push(d));
        child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
        child.on('error', reject);
        child.on('close', (code) => {
            const frame = Buffer.concat(chunks);
            if (code !== 0 || frame.length !== FRAME_BYTES) {
                reject(new Error(`x11grab of ${display}: ${frame.length} bytes, exit ${code}: ${err}`));
            } else resolve(frame);
        });
    });
}

const near = (f, i, c, tol = TOLERANCE) => Math.abs(f[i] - c[0]) <= tol && Math.abs(f[i + 1] - c[1]) <= tol
    && Math.abs(f[i + 2] - c[2]) <= tol;

/** The share of the frame's pixels that are @c (within the tolerance). */
function share(frame, c, tol = TOLERANCE) {
    let hit = 0;
    for (let i = 0; i < FRAME_BYTES; i += 3) if (near(frame, i, c, tol)) hit += 1;
    return hit / (W * H);
}

/** A frame's make-up for a failure message: the shares of a few colours and its mean. */
function describeFrame(frame) {
    const mean = [0, 0, 0];
    for (let i = 0; i < FRAME_BYTES; i += 3) for (let k = 0; k < 3; k++) mean[k] += frame[i + k];
    return `red ${share(frame, RED).toFixed(3)}, blue ${share(frame, BLUE).toFixed(3)}, black ${share(frame, BLACK).toFixed(3)}, `
        + `white ${share(frame, WHITE).toFixed(3)}, mean rgb ${mean.map((v) => Math.round(v / (W * H)))}`;
}

describe(`the mpv renderer on an X display: marquee-player --renderer mpv (${BACKEND})`, () => {
    let world;
    let player;
    let xvfb;
    let lastFrame = null;

    /** Grabs until @ok(frame) holds (and @pre() too, checked first); resolves that frame. */
    const screenUntil = (ok, what, pre = async () => true) => player.waitFor(async () => {
        if (!(await pre())) return null;
        const frame = await grab(xvfb.display);
        lastFrame = frame;
        return ok(frame) ? frame : null;
    }, {
        timeoutMs: 60000,
        intervalMs: 250,
        what,
        describe: async () => `screen: ${lastFrame ? describeFrame(lastFrame) : 'never grabbed'}\n${await player.describe()}`,
    });

    before(async () => {
        xvfb = await startXvfb();
        world = await startWorld({
            media: {
                red: { type: 'image', color: 'red', width: W, height: H, format: 'png' },
                clip: { type: 'video', seconds: 3, width: W, height: H, color: 'blue' },
            },
        });
    });
    after(async () => {
        if (player && !player.exitInfo) await player.kill9().catch(() => {});
        await world?.stop();
        if (xvfb && xvfb.child.exitCode === null) {
            xvfb.child.kill('SIGTERM');
            await new Promise((r) => xvfb.child.once('exit', r));
        }
    });

    it('shows the pairing screen, then a red image full-screen, then a video that differs from it', async (t) => {
        player = await startPlayer({
            server: world,
            renderer: 'mpv',
            env: { DISPLAY: xvfb.display },
            config: { heartbeat_min_s: 5, poll_min_s: 1, poll_max_s: 2 },
        });

        // the pairing screen: black and white
        const code = await player.waitFor(async () => (await player.status()).pairingCode,
            { timeoutMs: 60000, intervalMs: 200, what: 'a pairing code' });
        const pairing = await screenUntil((f) => {
            const white = share(f, WHITE);
            const black = share(f, BLACK);
            return white + black >= 0.95 && white >= 0.3 && black >= 0.02;
        }, `the pairing screen (${code}): black and white only, both present`);
        assert.ok(share(pairing, RED) < 0.01);
        t.diagnostic(`pairing screen: ${describeFrame(pairing)}`);

        // a red image
        await world.publish([{ media: 'red', durationSeconds: 3 }]);
        const red = world.assets.red.assetId;
        await pairPlayer(player, world.admin, world.venueId, { name: 'mpv screen' });
        const onScreen = async (id) => (await player.status()).playback?.assetId === id;
        const redFrame = await screenUntil((f) => share(f, RED) >= 0.95, 'the red image full-screen (≥ 95% red)',
            () => onScreen(red));
        assert.ok(share(redFrame, RED) >= 0.95, describeFrame(redFrame));
        t.diagnostic(`red image: ${describeFrame(redFrame)}`);

        // a blue video
        await world.publish([{ media: 'clip' }]);
        const clip = world.assets.clip.assetId;
        const videoFrame = await screenUntil((f) => share(f, RED) < 0.05 && share(f, BLUE) >= 0.9,
            'the blue video on screen, unlike the red image', () => onScreen(clip));
        assert.ok(share(videoFrame, RED) < 0.05, describeFrame(videoFrame));
        t.diagnostic(`video: ${describeFrame(videoFrame)}`);

        // the player drove mpv without a failure
        const failed = player.lines.filter((l) => l.event === 'event' && l.message === 'PLAYBACK_FAILED');
        assert.deepEqual(failed, [], 'no playback failure');
        await player.stop();
    });
});
