// SPDX-License-Identifier: MIT
//
// origin-proxy.test.mjs — the scenario harness's fault-injecting media origin
// (lib/origin-proxy.mjs) and world (lib/world.mjs), against a real marqueed with media made by
// ffmpeg: the world's manifest names the proxy and its media URLs deliver the uploaded bytes;
// each fault does what it says, seen from curl (the CLI) and node's fetch — a status with
// Retry-After that never reaches marqueed, a cut after half the body that a `Range: bytes=N-`
// request resumes (206; the two answers add up to the file, the basis of "a resumed download
// fetches only the rest"), a corrupted body of the right length, a reset, a drip, a delay —
// and rules apply to the next `times` matching requests only. Then robustness: an upstream that
// is down is a 502, a client that leaves mid-answer is cleaned up, close() ends what is under
// way, and nothing rejects unhandled.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';

import { BACKEND, freePort } from '../api/lib/server.mjs';
import { startOriginProxy } from './lib/origin-proxy.mjs';
import { sleep, waitFor } from './lib/wait.mjs';
import { startWorld } from './lib/world.mjs';

const sha = (b) => createHash('sha256').update(b).digest('hex');

const unhandled = [];
process.on('unhandledRejection', (e) => unhandled.push(e));

/** curl (the CLI): {code (curl's exit status), status, headers (lower-case), body (Buffer)}. */
async function curl(url, { headers = {}, head = false, maxTimeS = 30 } = {}) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'marquee-curl-'));
    const bodyFile = path.join(dir, 'body');
    const headFile = path.join(dir, 'head');
    const args = ['-sS', '--max-time', String(maxTimeS), '-o', bodyFile, '-D', headFile,
        ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), ...(head ? ['-I'] : []), url];
    const r = await new Promise((resolve) => {
        execFile('curl', args, { encoding: 'utf8', timeout: (maxTimeS + 10) * 1000 }, (e, out, err) =>
            resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, stderr: err }));
    });
    const headText = await readFile(headFile, 'latin1').catch(() => '');
    const body = await readFile(bodyFile).catch(() => Buffer.alloc(0));
    await rm(dir, { recursive: true, force: true });
    const blocks = headText.split(/\r?\n\r?\n/).filter((b) => b.trim());
    const last = blocks.at(-1) || '';
    const [statusLine, ...lines] = last.split(/\r?\n/);
    const hdrs = {};
    for (const l of lines) {
        const i = l.indexOf(':');
        if (i > 0) hdrs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const m = /^HTTP\/[\d.]+ (\d{3})/.exec(statusLine || '');
    return { code: r.code, stderr: r.stderr, status: m ? Number(m[1]) : null, headers: hdrs, body };
}

/** fetch + the whole body; {res, body} or {error} when the transfer broke. */
async function fetchAll(url, init = {}) {
    let res;
    try {
        res = await fetch(url, { signal: AbortSignal.timeout(30000), ...init });
    } catch (e) {
        return { error: e };
    }
    try {
        return { res, body: Buffer.from(await res.arrayBuffer()) };
    } catch (e) {
        return { res, error: e };
    }
}

describe(`origin proxy against marqueed's media origin (${BACKEND})`, () => {
    let world;
    let o;
    let deviceId;
    let still; // {url (through the proxy), path, size, bytes, sha256}
    let clip;

    /** marqueed's request log lines for @p (a media path). */
    const upstreamHits = (p) => world.srv.logs().filter((l) => l.event === 'request' && l.path === p).length;

    before(async () => {
        world = await startWorld({
            media: {
                // ~400 KB: big enough that a cut, a drip and a resume are many TCP writes
                still: { type: 'image', color: 'red', width: 640, height: 360, bytes: 400_000 },
                clip: { type: 'video', seconds: 2, bitrateKbps: 2000 },
            },
            items: [{ media: 'still', durationSeconds: 5 }, { media: 'clip' }],
        });
        o = world.origin;
        await world.devices.open();
        deviceId = await world.devices.insertDevice(world.tenant, world.venueId);
        const m = await world.manifest(deviceId);
        const byAsset = Object.fromEntries(m.body.playlist.items.map((i) => [i.assetId, i]));
        const entry = (name) => {
            const item = byAsset[world.assets[name].assetId];
            const f = world.media[name];
            return { url: item.url, path: new URL(item.url).pathname, size: f.size, bytes: f.bytes, sha256: f.sha256, item };
        };
        still = entry('still');
        clip = entry('clip');
    });
    beforeEach(() => {
        // each test starts with no rule and no count (a failed test leaves none behind)
        o?.clearFaults();
        o?.resetStats();
    });
    after(async () => {
        await world?.stop();
        assert.deepEqual(unhandled, [], 'unhandled rejections');
    });

    it('the world: the manifest plays the published items in order, from URLs on the proxy', async () => {
        const m = await world.manifest(deviceId);
        assert.equal(m.body.playlist.playlistId, world.current.playlistId);
        assert.equal(m.body.playlist.publishedVersion, world.current.publishedVersion);
        assert.deepEqual(m.body.playlist.items.map((i) => i.assetId),
            [world.assets.still.assetId, world.assets.clip.assetId]);
        assert.deepEqual(m.body.playlist.items.map((i) => [i.type, i.durationSeconds]), [['IMAGE', 5], ['VIDEO', 2]]);
        assert.equal(still.item.checksumSha256, still.sha256);
        assert.equal(still.item.fileSizeBytes, still.size);
        assert.ok(still.size >= 400_000, `still is ${still.size} bytes`);
        for (const u of [still.url, clip.url]) {
            const url = new URL(u);
            assert.equal(url.origin, o.url, 'media URLs name the proxy');
            assert.match(url.pathname, /^\/media\/[0-9a-f]{64}\.(jpg|mp4)$/);
            assert.ok(url.searchParams.get('expires') && url.searchParams.get('signature'), u);
        }
    });

    it('no fault: GET and HEAD through the proxy are the origin\'s answers, the exact bytes; stats count them', async () => {
        const before1 = upstreamHits(still.path);
        const r = await curl(still.url);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.status, 200);
        assert.equal(r.headers['content-length'], String(still.size));
        assert.equal(r.headers.etag, `"${still.sha256}"`, 'the origin\'s headers are passed on');
        assert.equal(r.headers['content-type'], 'image/jpeg');
        assert.equal(sha(r.body), still.sha256);
        const h = await fetchAll(still.url, { method: 'HEAD' });
        assert.equal(h.res.status, 200);
        assert.equal(h.res.headers.get('content-length'), String(still.size));
        assert.equal(h.body.length, 0);
        const s = o.statsFor(still.sha256);
        assert.equal(s.requests, 2);
        assert.equal(s.bytesSent, still.size);
        assert.deepEqual(s.statuses, [200, 200]);
        assert.deepEqual(s.ranges, []);
        assert.deepEqual(s.faults, []);
        await waitFor(() => upstreamHits(still.path) >= before1 + 2, { what: 'marqueed to log both requests' });
        // a signed query that is changed on the way would be refused: the origin saw it intact
        const lines = world.srv.logs().filter((l) => l.event === 'request' && l.path === still.path);
        assert.ok(lines.slice(-2).every((l) => l.status === 200), JSON.stringify(lines.slice(-2)));
    });

    it('status: 503 with Retry-After, no upstream call, for `times` requests; then the real answer', async () => {
        const before1 = upstreamHits(still.path);
        o.addFault({ match: still.sha256, kind: 'status', status: 503, retryAfter: 7, times: 2 });
        for (let i = 0; i < 2; i++) {
            const r = await curl(still.url);
            assert.equal(r.code, 0, r.stderr);
            assert.equal(r.status, 503);
            assert.equal(r.headers['retry-after'], '7');
            assert.ok(r.body.length < 1000, 'not the media');
        }
        // another path is not matched
        const c = await fetchAll(clip.url);
        assert.equal(c.res.status, 200);
        assert.equal(sha(c.body), clip.sha256);
        const ok = await curl(still.url);
        assert.equal(ok.status, 200, 'the rule was used up');
        assert.equal(sha(ok.body), still.sha256);
        const s = o.statsFor(still.sha256);
        assert.deepEqual(s.statuses, [503, 503, 200]);
        assert.deepEqual(s.faults, ['status', 'status']);
        assert.equal(s.bytesSent, still.size, 'only the real answer\'s body counts');
        // marqueed saw one request for the still: the good one
        await waitFor(() => upstreamHits(still.path) >= before1 + 1, { what: 'marqueed to log the forwarded request' });
        await sleep(300); // a request the proxy should not have made would be logged by now
        assert.equal(upstreamHits(still.path), before1 + 1, 'the 503s reached marqueed');
        o.clearFaults();
    });

    it('cut at 50 %: half the body then the connection ends; `Range: bytes=N-` resumes with a 206 of the rest', async () => {
        o.addFault({ match: still.sha256, kind: 'cut', fraction: 0.5, times: 1 });
        const half = Math.floor(still.size * 0.5);
        const r = await curl(still.url);
        assert.equal(r.status, 200, 'the head was sent');
        assert.equal(r.headers['content-length'], String(still.size), 'the whole length was announced');
        assert.equal(r.code, 18, `curl: a partial file (exit 18), not ${r.code}: ${r.stderr}`);
        assert.equal(r.body.length, half, 'exactly half arrived');
        assert.ok(r.body.equals(still.bytes.subarray(0, half)), 'the bytes that arrived are the file\'s');
        let s = o.statsFor(still.sha256);
        assert.equal(s.bytesSent, half);
        assert.equal(s.cuts, 1);

        // resume: only the rest is fetched, and the origin answers it as a range
        const rest = await curl(still.url, { headers: { Range: `bytes=${r.body.length}-` } });
        assert.equal(rest.code, 0, rest.stderr);
        assert.equal(rest.status, 206);
        assert.equal(rest.headers['content-range'], `bytes ${half}-${still.size - 1}/${still.size}`);
        assert.equal(rest.body.length, still.size - half);
        assert.equal(sha(Buffer.concat([r.body, rest.body])), still.sha256, 'cut + resumed range = the file');
        s = o.statsFor(still.sha256);
        assert.equal(s.requests, 2);
        assert.deepEqual(s.ranges, [`bytes=${half}-`], 'the Range header was forwarded as sent');
        assert.deepEqual(s.statuses, [200, 206]);
        assert.equal(s.bytesSent, still.size, 'the two answers together carried the file once');
        const log = world.srv.logs().filter((l) => l.event === 'request' && l.path === still.path);
        assert.ok(log.some((l) => l.status === 206), 'marqueed answered the range itself');
    });

    it('cut through fetch, by bytes and on a range: the body is short and the stream errors', async () => {
        o.addFault({ match: clip.sha256, kind: 'cut', bytes: 1000, times: 1 });
        const r = await fetchAll(clip.url);
        assert.equal(r.res?.status, 200);
        assert.ok(r.error, 'the body stream failed');
        // a range answer is cut at a fraction of ITS body
        o.addFault({ match: clip.sha256, kind: 'cut', fraction: 0.5, times: 1 });
        const from = 1000;
        const part = await curl(clip.url, { headers: { Range: `bytes=${from}-` } });
        assert.equal(part.status, 206);
        assert.equal(part.code, 18, part.stderr);
        assert.equal(part.body.length, Math.floor((clip.size - from) * 0.5));
        assert.ok(part.body.equals(clip.bytes.subarray(from, from + part.body.length)));
        const s = o.statsFor(clip.sha256);
        assert.equal(s.cuts, 2);
        assert.equal(s.bytesSent, 1000 + part.body.length);
        // and a cut after no byte at all
        o.addFault({ match: clip.sha256, kind: 'cut', fraction: 0, times: 1 });
        const none = await curl(clip.url);
        assert.equal(none.status, 200);
        assert.equal(none.code, 18, none.stderr);
        assert.equal(none.body.length, 0);
    });

    it('corrupt: the same length and headers, other bytes at the offsets given, another SHA-256', async () => {
        const offsets = [0, 1234, still.size - 1];
        o.addFault({ match: still.sha256, kind: 'corrupt', offset: offsets, times: 1 });
        const r = await curl(still.url);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.status, 200);
        assert.equal(r.headers.etag, `"${still.sha256}"`, 'the headers still claim the original');
        assert.equal(r.body.length, still.size);
        assert.notEqual(sha(r.body), still.sha256);
        const differ = [];
        for (let i = 0; i < still.size; i++) if (r.body[i] !== still.bytes[i]) differ.push(i);
        assert.deepEqual(differ, offsets);
        assert.equal(r.body[1234], still.bytes[1234] ^ 0xff);
        // the default: one byte in the middle
        o.addFault({ match: clip.sha256, kind: 'corrupt', times: 1 });
        const c = await fetchAll(clip.url);
        assert.equal(c.body.length, clip.size);
        assert.notEqual(sha(c.body), clip.sha256);
        // used up: the next one is intact
        assert.equal(sha((await fetchAll(still.url)).body), still.sha256);
        assert.deepEqual(o.statsFor(still.sha256).faults, ['corrupt']);
    });

    it('reset: the connection closes with no answer, once; the next request is served', async () => {
        o.addFault({ match: still.sha256, kind: 'reset', times: 1 });
        const r = await curl(still.url);
        assert.notEqual(r.code, 0, 'curl got an answer');
        assert.ok([52, 56].includes(r.code), `curl exit ${r.code}: empty reply / recv failure (${r.stderr})`);
        assert.equal(r.status, null);
        o.addFault({ match: still.sha256, kind: 'reset', rst: true, times: 1 });
        const f = await fetchAll(still.url);
        assert.ok(f.error && !f.res, 'fetch got an answer to a reset');
        const ok = await fetchAll(still.url);
        assert.equal(ok.res.status, 200);
        assert.equal(sha(ok.body), still.sha256);
        const s = o.statsFor(still.sha256);
        assert.deepEqual(s.statuses, ['reset', 'reset', 200]);
        assert.equal(s.bytesSent, still.size);
    });

    it('drip: the right bytes, no faster than the rate (a lower bound only)', async (t) => {
        const t0 = Date.now();
        const direct = await fetchAll(still.url);
        const directMs = Date.now() - t0;
        assert.equal(sha(direct.body), still.sha256);
        const bps = 400_000; // about a second for the still
        o.addFault({ match: still.sha256, kind: 'drip', bytesPerSecond: bps, times: 1 });
        const t1 = Date.now();
        const r = await curl(still.url);
        const dripMs = Date.now() - t1;
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.status, 200);
        assert.equal(sha(r.body), still.sha256);
        t.diagnostic(`${still.size} bytes: ${directMs} ms through the proxy, ${dripMs} ms dripped at ${bps} B/s`);
        // a drip that did nothing would pass every other check; a slow machine only adds time
        assert.ok(dripMs >= (still.size / bps) * 1000 * 0.9, `dripped in ${dripMs} ms, faster than ${bps} B/s`);
        const s = o.statsFor(still.sha256);
        assert.deepEqual(s.faults, ['drip']);
        assert.equal(s.bytesSent, 2 * still.size);
    });

    it('delay: the answer comes, intact, no sooner than the delay; a RegExp matches too', async (t) => {
        o.addFault({ match: /\.mp4$/, kind: 'delay', ms: 400, times: 1 });
        const t0 = Date.now();
        const r = await fetchAll(clip.url);
        const delayedMs = Date.now() - t0;
        t.diagnostic(`delayed answer after ${delayedMs} ms`);
        assert.ok(delayedMs >= 390, `answered after ${delayedMs} ms, before the 400 ms delay`);
        assert.equal(r.res.status, 200);
        assert.equal(sha(r.body), clip.sha256);
        assert.deepEqual(o.statsFor(clip.sha256).faults, ['delay']);
        const again = await fetchAll(still.url);
        assert.equal(sha(again.body), still.sha256);
        assert.deepEqual(o.statsFor(still.sha256).faults, [], 'the .mp4 rule did not touch the .jpg');
    });

    it('rules: first match wins, `times` counts matching requests only, clearFaults drops the rest', async () => {
        const a = o.addFault({ match: still.sha256, kind: 'status', status: 500, times: 1 });
        const b = o.addFault({ match: still.sha256, kind: 'status', status: 404, times: 1 });
        o.addFault({ match: clip.sha256, kind: 'status', status: 429, retryAfter: 1 });
        assert.equal((await fetchAll(still.url)).res.status, 500);
        assert.equal((await fetchAll(still.url)).res.status, 404);
        assert.equal((await fetchAll(still.url)).res.status, 200);
        assert.equal(a.applied, 1);
        assert.equal(b.applied, 1);
        for (let i = 0; i < 3; i++) assert.equal((await fetchAll(clip.url)).res.status, 429, 'times defaults to every request');
        o.clearFaults();
        assert.equal((await fetchAll(clip.url)).res.status, 200);
        assert.throws(() => o.addFault({ kind: 'explode' }), /unknown fault kind/);
        const put = await fetchAll(still.url, { method: 'PUT', body: 'x' });
        assert.equal(put.res.status, 405);
    });

    it('a client that leaves mid-drip is cleaned up; the proxy keeps serving', async () => {
        o.addFault({ match: still.sha256, kind: 'drip', bytesPerSecond: 20_000, times: 1 });
        const ac = new AbortController();
        const res = await fetch(still.url, { signal: ac.signal });
        const reader = res.body.getReader();
        let got = 0;
        while (got < 5000) {
            const { value, done } = await reader.read();
            if (done) break;
            got += value.length;
        }
        ac.abort();
        await reader.cancel().catch(() => {});
        await waitFor(() => o.requests().find((e) => e.fault === 'drip')?.done, { what: 'the dripping answer to end' });
        const e = o.requests().find((x) => x.fault === 'drip');
        assert.ok(e.aborted, JSON.stringify(e));
        assert.ok(e.bytesSent < still.size, `${e.bytesSent} bytes sent to a client that left`);
        const ok = await fetchAll(still.url);
        assert.equal(sha(ok.body), still.sha256);
    });

    it('an upstream that is down, or not set, is a 502; close() ends answers under way', async () => {
        const dead = await startOriginProxy(`http://127.0.0.1:${await freePort()}`);
        try {
            const r = await curl(`${dead.url}${still.path}`);
            assert.equal(r.status, 502);
            assert.equal(r.code, 0);
            assert.deepEqual(dead.statsFor(still.sha256).statuses, [502]);
        } finally {
            await dead.close();
        }
        const unset = await startOriginProxy(null);
        try {
            assert.equal((await fetchAll(`${unset.url}/media/x.jpg`)).res.status, 502);
            unset.setUpstream(world.url);
            const u = new URL(still.url);
            const r = await fetchAll(`${unset.url}${u.pathname}${u.search}`);
            assert.equal(r.res.status, 200);
            assert.equal(sha(r.body), still.sha256);
            // a slow answer under way when the proxy closes: the client sees its connection end
            unset.addFault({ kind: 'drip', bytesPerSecond: 10_000 });
            const pending = fetchAll(`${unset.url}${u.pathname}${u.search}`);
            await waitFor(() => unset.requests().some((e) => e.fault === 'drip' && e.bytesSent > 0), { what: 'the drip to start' });
            await unset.close();
            const p = await pending;
            assert.ok(p.error, 'the transfer was not ended');
        } finally {
            await unset.close();
        }
    });
});
