// SPDX-License-Identifier: MIT
//
// faults.test.mjs — a flaky media origin while a screen plays. A real marquee-player (headless)
// plays content A (two images); then content B (five images) is published, and every one of
// B's files hits a different fault in the origin proxy (tests/scenario/lib/origin-proxy.mjs):
//
//   bRetry  503 with Retry-After: 2, twice       → retried, no sooner than Retry-After; then 200
//   bCut    the answer cut at 50%                → resumed with Range: only the rest is fetched
//   bBad    one byte flipped                     → the SHA-256 fails, never applied nor played
//                                                  while corrupt, fetched again from 0
//   bDrip   a slow drip (64 KiB/s)               → fine, just slow
//   bReset  the connection reset, twice (RST, FIN) → retried, then fine
//
// Throughout, A keeps playing back to back (each start right after the last end, every item
// `ended`, no error screen) until B is applied, and B is applied only once all of its files are
// verified (every file in DIR/assets/ always has its SHA-256; each `download.done` precedes B's
// first start). Then content C — a new file cFail plus one of B's — is published while cFail's
// origin answers 500: after download_attempts attempts a DOWNLOAD_FAILED with httpStatus and
// retryCount reaches the server and the sync status goes FAILED, B keeps playing and C is not
// applied; once the fault is gone, C downloads, is applied, plays, and the status is SYNCED.
//
// Nothing here asserts how fast anything was. The one comparison of times is an order of
// events: the retry of a 503 came no sooner than its Retry-After said (a lower bound that only
// a player ignoring Retry-After can break; it cannot fail by the machine being slow).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { BACKEND } from '../api/lib/server.mjs';
import { pairPlayer, startPlayer } from './lib/player.mjs';
import { startWorld } from './lib/world.mjs';

const ATTEMPTS = 3; // download_attempts
const RETRY_AFTER_S = 2;
const SLACK_BYTES = 64 * 1024; // what a resume may fetch twice (a chunk in flight at the cut)

/** An ETag as a tag: W/ and the quotes dropped. */
const tagOf = (e) => (typeof e === 'string' ? e.replace(/^W\//, '').replace(/^"(.*)"$/, '$1') : e);

/**
 * The plays of a timeline from its first `start` on: [{start, end, startLine, endLine}]. Fails
 * on anything but start/end pairs back to back (an error screen, a pairing screen, a start
 * while another item plays, a line between an end and the next start).
 */
function playsOf(timeline) {
    const first = timeline.findIndex((e) => e.event === 'start');
    if (first < 0) return [];
    const plays = [];
    let open = null;
    for (let line = first; line < timeline.length; line++) {
        const ev = timeline[line];
        const where = `timeline line ${line + 1} (${JSON.stringify(ev)})`;
        if (ev.event === 'start') {
            assert.equal(open, null, `${where}: a start while line ${open?.startLine + 1} still plays`);
            const prev = plays.at(-1);
            if (prev) {
                assert.equal(line, prev.endLine + 1, `${where}: not right after the last end (line ${prev.endLine + 1})`);
                assert.ok(ev.t >= prev.end.t, `${where}: starts before the last end (t ${prev.end.t})`);
            }
            open = { start: ev, end: null, startLine: line, endLine: null };
            plays.push(open);
        } else if (ev.event === 'end') {
            assert.ok(open, `${where}: an end with no start`);
            assert.equal(ev.assetId, open.start.assetId, `${where}: ends another item than line ${open.startLine + 1}`);
            assert.equal(ev.outcome, 'ended', `${where}: playback was ${ev.outcome}`);
            open.end = ev;
            open.endLine = line;
            open = null;
        } else {
            assert.fail(`${where}: the screen left the content (${ev.event}) while content was playable`);
        }
    }
    return plays;
}

/**
 * The plays cut into runs of one manifest each (by manifestEtag): [{etag, content (the name in
 * @contents — {name: [assetId of each item]} — whose assets they are), plays}]. Each play must
 * show the item its index names; a run of a manifest applied complete (every run but the very
 * first, which goes on screen as soon as one of its files is there) must follow its order
 * from the first item.
 */
function runsOf(plays, contents) {
    const runs = [];
    for (const p of plays) {
        const etag = tagOf(p.start.manifestEtag);
        assert.equal(tagOf(p.end?.manifestEtag ?? etag), etag, `play at line ${p.startLine + 1}: its end names another manifest`);
        if (runs.at(-1)?.etag !== etag) runs.push({ etag, plays: [] });
        runs.at(-1).plays.push(p);
    }
    for (const r of runs) {
        const name = Object.keys(contents).find((n) => r.plays.every((p) => contents[n].includes(p.start.assetId)));
        assert.ok(name, `the plays of manifest ${r.etag} are not one content's: ${r.plays.map((p) => p.start.assetId)}`);
        r.content = name;
        const items = contents[name];
        const strict = r !== runs[0];
        r.plays.forEach((p, k) => {
            const what = `manifest ${r.etag} (${name}), play ${k} at line ${p.startLine + 1}`;
            assert.equal(p.start.assetId, items[p.start.index], `${what}: the asset of item ${p.start.index}`);
            if (strict) assert.equal(p.start.index, k % items.length, `${what}: order`);
        });
    }
    return runs;
}

const sha256File = async (p) => createHash('sha256').update(await readFile(p)).digest('hex');

/**
 * Watches DIR/assets/ every 100 ms: each time a watched asset's file is new or changed, its
 * SHA-256 must be the asset's. @want: {assetId: sha256}. stop() resolves the violations.
 */
function watchAssets(dataDir, want) {
    const seen = new Map(); // assetId → "ino:size:mtime" last hashed
    const violations = [];
    let stopped = false;
    let busy = null;
    const tick = async () => {
        for (const [id, sha] of Object.entries(want)) {
            const p = path.join(dataDir, 'assets', id);
            const st = await stat(p).catch(() => null);
            if (!st) continue;
            const key = `${st.ino}:${st.size}:${st.mtimeMs}`;
            if (seen.get(id) === key) continue;
            seen.set(id, key);
            const got = await sha256File(p).catch(() => null); // gone in between: looked at next time
            if (got !== null && got !== sha) violations.push(`${p}: SHA-256 ${got}, want ${sha} (${st.size} bytes)`);
        }
    };
    const timer = setInterval(() => {
        if (!busy && !stopped) busy = tick().finally(() => (busy = null));
    }, 100);
    timer.unref(); // a test that failed half way must not keep the process alive
    return {
        async stop() {
            stopped = true;
            clearInterval(timer);
            await busy;
            await tick();
            return violations;
        },
    };
}

describe(`a flaky origin while playing: marquee-player headless (${BACKEND})`, () => {
    let world;
    let player;

    before(async () => {
        world = await startWorld({
            media: {
                a1: { type: 'image', color: 'red', width: 320, height: 180 },
                a2: { type: 'image', color: 'green', width: 320, height: 180 },
                bRetry: { type: 'image', color: 'blue', bytes: 300000 },
                bCut: { type: 'image', color: 'yellow', bytes: 1000000 },
                bBad: { type: 'image', color: 'purple', bytes: 300000 },
                bDrip: { type: 'image', color: 'orange', bytes: 160000 },
                bReset: { type: 'image', color: 'cyan', bytes: 200000 },
                cFail: { type: 'image', color: 'magenta', bytes: 100000 },
            },
        });
    });
    after(async () => {
        if (player && !player.exitInfo) await player.kill9().catch(() => {});
        await world?.stop();
    });

    it('retries, resumes and re-fetches through origin faults without a gap on screen; FAILED, then SYNCED', async () => {
        const id = (name) => world.assets[name].assetId;
        const sha = (name) => world.media[name].sha256;
        const A = ['a1', 'a2'];
        const B = ['bRetry', 'bCut', 'bBad', 'bDrip', 'bReset'];
        const C = ['cFail', 'bCut'];
        const contents = { A: A.map(id), B: B.map(id), C: C.map(id) };
        // a broken rule found inside a wait fails it at once (waitFor takes a throw for "not yet")
        let broken = null;
        const strict = (fn) => async () => {
            try {
                return await fn();
            } catch (e) {
                if (e instanceof assert.AssertionError) broken = e;
                throw e;
            }
        };
        const failIf = () => (broken ? broken.message : null);
        /** The timeline, checked so far: plays back to back, each manifest's in its order. */
        const checkedTimeline = async () => {
            const tl = await player.timeline();
            runsOf(playsOf(tl), contents);
            return tl;
        };

        await world.publish(A.map((m) => ({ media: m, durationSeconds: 2 })));
        player = await startPlayer({
            server: world,
            config: {
                poll_min_s: 1, poll_max_s: 2, heartbeat_min_s: 5, max_downloads: 2,
                download_attempts: ATTEMPTS, download_backoff_ms: 300, backoff_base_ms: 500, backoff_cap_ms: 2000,
            },
        });
        const { deviceId } = await pairPlayer(player, world.admin, world.venueId, { name: 'Faults screen' });
        await player.waitFor(async () => (await player.timeline()).some((e) => e.event === 'start'),
            { timeoutMs: 60000, what: 'content A on screen' });

        // ---- B, each file behind its own fault
        const o = world.origin;
        o.addFault({ match: sha('bRetry'), kind: 'status', status: 503, retryAfter: RETRY_AFTER_S, times: 2 });
        o.addFault({ match: sha('bCut'), kind: 'cut', fraction: 0.5, times: 1 });
        o.addFault({ match: sha('bBad'), kind: 'corrupt', times: 1 });
        o.addFault({ match: sha('bDrip'), kind: 'drip', bytesPerSecond: 65536, times: 1 });
        o.addFault({ match: sha('bReset'), kind: 'reset', rst: true, times: 1 });
        o.addFault({ match: sha('bReset'), kind: 'reset', times: 1 });
        const watch = watchAssets(player.dataDir, Object.fromEntries([...B, 'cFail'].map((n) => [id(n), sha(n)])));

        await world.publish(B.map((m) => ({ media: m, durationSeconds: 2 })));
        const firstOf = (tl, ids) => tl.find((e) => e.event === 'start' && ids.includes(e.assetId));
        const bStart = await player.waitFor(strict(async () => firstOf(await checkedTimeline(), contents.B)),
            { timeoutMs: 90000, intervalMs: 200, failIf, what: 'content B on screen' });

        // B was applied only after every one of its files was verified: each download.done
        // (logged by the core, which applies only after) precedes B's first start
        for (const n of B) {
            const done = player.lines.find((l) => l.event === 'download.done' && l.message?.includes(id(n)));
            assert.ok(done, `no download.done for ${n} (${id(n)}) before B played`);
            assert.ok(Date.parse(done.time) <= bStart.t, `${n} was verified at ${done.time}, after B's first start at ${bStart.t}`);
        }
        const received = (n) => Number(/\((\d+) bytes received\)/.exec(
            player.lines.find((l) => l.event === 'download.done' && l.message?.includes(id(n))).message)[1]);

        // (a) 503 + Retry-After: retried, no sooner than Retry-After, then fine
        const reqs = (n) => o.requests().filter((r) => r.path.includes(sha(n)) && r.method === 'GET');
        const sRetry = o.statsFor(sha('bRetry'));
        assert.deepEqual(sRetry.statuses.slice(0, 3), [503, 503, 200], JSON.stringify(sRetry));
        const rr = reqs('bRetry');
        for (let k = 1; k < 3; k++) {
            assert.ok(rr[k].at - rr[k - 1].at >= RETRY_AFTER_S * 1000 - 50,
                `bRetry request ${k + 1} came ${rr[k].at - rr[k - 1].at} ms after a 503 with Retry-After: ${RETRY_AFTER_S}`);
        }

        // (b) cut at 50%: resumed with Range, only the rest fetched
        const size = (n) => world.media[n].size;
        const sCut = o.statsFor(sha('bCut'));
        assert.equal(sCut.cuts, 1, JSON.stringify(sCut));
        const cr = reqs('bCut');
        assert.equal(cr[0].range, null, 'the first request of bCut has no Range');
        const resumed = cr.slice(1).find((r) => r.range);
        assert.ok(resumed, `bCut was not resumed with a Range: ${JSON.stringify(cr)}`);
        const from = Number(/^bytes=(\d+)-$/.exec(resumed.range)?.[1]);
        assert.ok(from > 0 && from <= size('bCut') / 2 + 1, `bCut resumed from ${resumed.range} (cut at ${cr[0].bytesSent})`);
        assert.equal(resumed.status, 206);
        assert.ok(sCut.bytesSent <= size('bCut') + SLACK_BYTES,
            `bCut: ${sCut.bytesSent} bytes sent for a file of ${size('bCut')}: the resume fetched more than the rest`);
        assert.equal(received('bCut'), size('bCut'), 'bCut: the player received the file once, in two parts');

        // (c) corrupt: refetched from 0, never on screen or in assets/ while corrupt
        const br = reqs('bBad');
        assert.ok(br.length >= 2 && br[0].fault === 'corrupt', JSON.stringify(br));
        const clean = br.find((r, k) => k > 0 && r.status === 200 && !r.fault);
        assert.ok(clean, `no clean copy of bBad was fetched: ${JSON.stringify(br)}`);
        assert.equal(clean.range, null, 'the corrupt .part was dropped: the clean copy came from byte 0');
        assert.equal(received('bBad'), 2 * size('bBad'), 'bBad: the corrupt copy and the clean one');
        const badStart = firstOf(await player.timeline(), [id('bBad')]);
        assert.ok(!badStart || badStart.t >= clean.at, 'bBad was on screen before a clean copy was fetched');

        // (d) drip and (e) resets: fine in the end
        assert.deepEqual(o.statsFor(sha('bDrip')).faults.slice(0, 1), ['drip']);
        const sReset = o.statsFor(sha('bReset'));
        assert.deepEqual(sReset.statuses.slice(0, 2), ['reset', 'reset'], JSON.stringify(sReset));
        assert.ok(sReset.statuses.includes(200), JSON.stringify(sReset));

        // B plays through a whole loop
        await player.waitFor(strict(async () => {
            const runs = runsOf(playsOf(await player.timeline()), contents);
            return runs.some((r) => r.content === 'B' && r.plays.filter((p) => p.end).length >= B.length);
        }), { timeoutMs: 60000, intervalMs: 250, failIf, what: 'a whole loop of B' });
        await player.waitFor(async () => (await player.status()).syncStatus === 'SYNCED',
            { timeoutMs: 30000, what: 'syncStatus SYNCED with B' });

        // ---- (f) C: cFail's origin answers 500 until the fault is cleared
        o.addFault({ match: sha('cFail'), kind: 'status', status: 500 });
        await world.publish(C.map((m) => ({ media: m, durationSeconds: 2 })));
        const failed = await player.waitFor(async () => {
            const r = await world.api.call('GET',
                `/v1/venues/${world.venueId}/devices/${deviceId}/events?type=DOWNLOAD_FAILED&limit=200`, world.admin.token);
            const items = world.api.ok(r).items;
            return items.find((e) => e.payload?.assetId === id('cFail'));
        }, { timeoutMs: 60000, intervalMs: 500, what: 'a DOWNLOAD_FAILED of cFail at the server' });
        assert.equal(failed.payload.httpStatus, 500, JSON.stringify(failed));
        assert.equal(failed.payload.retryCount, ATTEMPTS - 1, JSON.stringify(failed));
        assert.ok(failed.eventId, 'the player sent it (an eventId), not the server');
        assert.ok(o.statsFor(sha('cFail')).statuses.filter((s) => s === 500).length >= ATTEMPTS);
        const st = await player.waitFor(async () => {
            const s = await player.status();
            return s.syncStatus === 'FAILED' ? s : null;
        }, { timeoutMs: 30000, what: 'syncStatus FAILED' });
        assert.ok(st.downloads.failed >= 1, JSON.stringify(st.downloads));
        assert.equal(st.state, 'PLAYING');
        // C is not applied while cFail is missing, though bCut of it could play
        const tlFailed = await player.timeline();
        assert.ok(!firstOf(tlFailed, [id('cFail')]), 'cFail played while its origin failed');
        const runsFailed = runsOf(playsOf(tlFailed), contents);
        assert.equal(runsFailed.at(-1).content, 'B', `C was applied without cFail: ${runsFailed.map((r) => r.content)}`);

        o.clearFaults();
        const cStart = await player.waitFor(strict(async () => firstOf(await checkedTimeline(), [id('cFail')])),
            { timeoutMs: 60000, intervalMs: 250, failIf, what: 'content C on screen once the fault is gone' });
        const cDone = player.lines.find((l) => l.event === 'download.done' && l.message?.includes(id('cFail')));
        assert.ok(cDone && Date.parse(cDone.time) <= cStart.t, 'C was applied before cFail was verified');
        await player.waitFor(async () => (await player.status()).syncStatus === 'SYNCED',
            { timeoutMs: 30000, what: 'syncStatus SYNCED again' });

        // ---- the whole timeline: A, B, C, back to back, in order, nothing else on screen
        const violations = await watch.stop();
        assert.deepEqual(violations, [], 'a file in assets/ without its SHA-256');
        const runs = runsOf(playsOf(await player.timeline()), contents);
        const order = runs.map((r) => r.content).filter((c, k, all) => k === 0 || all[k - 1] !== c);
        assert.deepEqual(order, ['A', 'B', 'C'], `the manifests on screen: ${runs.map((r) => `${r.content} ${r.etag}`)}`);
        assert.ok(runs.filter((r) => r.content === 'A').reduce((n, r) => n + r.plays.length, 0) >= 2, 'A played before B');

        await player.stop();
    });
});
