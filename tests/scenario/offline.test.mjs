// SPDX-License-Identifier: MIT
//
// offline.test.mjs — the server goes away for days. A real marquee-player (headless) pairs and
// receives three manifests in turn: P1 [x], P2 [y], P3 [a, b], so that P3 plays, P2 is its
// fallback (previous) and x is named by no manifest any more. Then marqueed stops, and the
// player's wall clock (test_clock_file) is moved forward in steps: +25 h, +49 h, +73 h, +100 h.
//
// After each step the screen keeps playing P3 from the cache: new starts of its items, in
// order, back to back, every item `ended`, no error screen; the files of a, b (on screen) and
// y (the fallback) stay in DIR/assets/ with their SHA-256 (§11.3: what a manifest names is
// never dropped, however long offline); the sync status is STALE (no successful sync for 24 h).
//
// The expiry sweep runs once a minute and at boot; to make it run at a known clock, the power
// goes (kill -9) at +49 h and at +100 h, and the player boots again, still offline: each time
// it plays P3 from the cache at once (the first line after the boot is a start of P3). At
// +49 h x — unused and named by no manifest for 49 h — is still cached (the 72 h minimum);
// at +100 h it is gone, and nothing any manifest names is.
//
// Then marqueed starts again. Its clock is moved to the player's (+100 h): a manifest is valid
// for a few hours of the server's clock, so a server still on the real time would hand the
// player a manifest that expired days ago by its clock. The player comes back: it syncs (a new
// manifest, the same content), the status is SYNCED, and its OFFLINE_ENTERED and
// ONLINE_RESTORED events (sent by the player: they carry its eventId) reach the server, along
// with the CACHE_EVICTION of x (EXPIRED).
//
// No timing is asserted: every wait is for something to happen, with a generous bound.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { BACKEND } from '../api/lib/server.mjs';
import { pairPlayer, startPlayer } from './lib/player.mjs';
import { startWorld } from './lib/world.mjs';

const HOUR_MS = 3600 * 1000;
const STEPS_H = [25, 49, 73, 100];
const STARTS_PER_STEP = 3;

/** An ETag as a tag: W/ and the quotes dropped. */
const tagOf = (e) => (typeof e === 'string' ? e.replace(/^W\//, '').replace(/^"(.*)"$/, '$1') : e);

/**
 * The plays of timeline lines @lines (from the first `start` on): [{start, end, startLine,
 * endLine}]. Fails on anything but start/end pairs back to back: an error screen, a pairing
 * screen, a start while another item plays, a line between an end and the next start, an end
 * other than `ended`. The last play may have no end yet. @offset: the line number of lines[0].
 */
function playsOf(lines, { offset = 0 } = {}) {
    const first = lines.findIndex((e) => e.event === 'start');
    if (first < 0) return [];
    const plays = [];
    let open = null;
    for (let k = first; k < lines.length; k++) {
        const ev = lines[k];
        const where = `timeline line ${offset + k + 1} (${JSON.stringify(ev)})`;
        if (ev.event === 'start') {
            assert.equal(open, null, `${where}: a start while line ${open?.startLine + 1} still plays`);
            const prev = plays.at(-1);
            if (prev) {
                assert.equal(offset + k, prev.endLine + 1, `${where}: not right after the last end (line ${prev.endLine + 1})`);
                assert.ok(ev.t >= prev.end.t, `${where}: starts before the last end (t ${prev.end.t})`);
            }
            open = { start: ev, end: null, startLine: offset + k, endLine: null };
            plays.push(open);
        } else if (ev.event === 'end') {
            assert.ok(open, `${where}: an end with no start`);
            assert.equal(ev.assetId, open.start.assetId, `${where}: ends another item than line ${open.startLine + 1}`);
            assert.equal(ev.outcome, 'ended', `${where}: playback was ${ev.outcome}`);
            open.end = ev;
            open.endLine = offset + k;
            open = null;
        } else {
            assert.fail(`${where}: the screen left the content (${ev.event})`);
        }
    }
    return plays;
}

const sha256File = async (p) => createHash('sha256').update(await readFile(p)).digest('hex');

describe(`days offline: marquee-player headless (${BACKEND})`, () => {
    let world;
    let player;
    let clockDir;

    before(async () => {
        world = await startWorld({
            media: {
                x: { type: 'image', color: 'red', width: 320, height: 180 },
                y: { type: 'image', color: 'yellow', width: 320, height: 180 },
                a: { type: 'image', color: 'green', width: 320, height: 180 },
                b: { type: 'image', color: 'blue', width: 320, height: 180 },
            },
        });
        clockDir = await mkdtemp(path.join(os.tmpdir(), 'marquee-offline-clock-'));
    });
    after(async () => {
        if (player && !player.exitInfo) await player.kill9().catch(() => {});
        await world?.stop();
        if (clockDir) rmSync(clockDir, { recursive: true, force: true });
    });

    it('plays from the cache through 100 h without a server, keeps what it plays, comes back SYNCED', async () => {
        const id = (n) => world.assets[n].assetId;
        const file = (n) => path.join(player.dataDir, 'assets', id(n));
        const cached = async (n) => (await stat(file(n)).catch(() => null)) !== null;
        const clockFile = path.join(clockDir, 'offset-ms');
        await writeFile(clockFile, '0\n');
        let offsetMs = 0;
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

        const p1 = await world.publish([{ media: 'x', durationSeconds: 2 }]);
        player = await startPlayer({
            server: world,
            config: {
                poll_min_s: 1, poll_max_s: 2, heartbeat_min_s: 5, backoff_base_ms: 500, backoff_cap_ms: 2000,
                test_clock_file: clockFile,
            },
        });
        const { deviceId } = await pairPlayer(player, world.admin, world.venueId, { name: 'Offline screen' });
        const onScreen = (playlistId, what) => player.waitFor(async () => {
            const st = await player.status();
            return st.manifest?.current?.playlistId === playlistId && st.playback ? st : null;
        }, { timeoutMs: 60000, intervalMs: 250, what });
        await onScreen(p1.playlistId, 'P1 [x] on screen');
        const p2 = await world.publish([{ media: 'y', durationSeconds: 2 }]);
        await onScreen(p2.playlistId, 'P2 [y] on screen');
        const p3 = await world.publish([{ media: 'a', durationSeconds: 2 }, { media: 'b', durationSeconds: 2 }]);
        const synced = await player.waitFor(async () => {
            const st = await player.status();
            return st.manifest?.current?.playlistId === p3.playlistId && st.syncStatus === 'SYNCED' ? st : null;
        }, { timeoutMs: 60000, intervalMs: 250, what: 'P3 [a, b] on screen, SYNCED' });
        assert.equal(synced.manifest.previous?.playlistId, p2.playlistId, 'P2 is the fallback');
        const p3Etag = tagOf(synced.manifest.current.etag);
        const P3 = [id('a'), id('b')];
        const tl0 = await player.timeline();
        for (const n of ['x', 'y']) assert.ok(tl0.some((e) => e.event === 'start' && e.assetId === id(n)), `${n} was played`);
        for (const n of ['x', 'y', 'a', 'b']) assert.equal(await sha256File(file(n)), world.media[n].sha256, `${n} is cached`);

        // ---- the server goes away
        await world.stopServer();
        const linesAtStop = (await player.timeline()).length;
        await player.waitFor(async () => (await player.status()).online === false,
            { timeoutMs: 30000, what: 'the player to notice it is offline' });

        let segment = 0; // the timeline line where this run of the process began
        /** The plays since the server stopped, checked: P3 only, in its order, back to back. */
        const offlinePlays = async () => {
            const plays = playsOf((await player.timeline()).slice(segment), { offset: segment });
            const since = plays.filter((p) => p.startLine >= linesAtStop);
            since.forEach((p, k) => {
                const what = `offline play ${k} (line ${p.startLine + 1}: ${JSON.stringify(p.start)})`;
                assert.equal(tagOf(p.start.manifestEtag), p3Etag, `${what}: not P3`);
                assert.equal(p.start.assetId, P3[p.start.index], `${what}: the asset of item ${p.start.index}`);
                if (k > 0) assert.equal(p.start.index, (since[k - 1].start.index + 1) % P3.length, `${what}: order`);
            });
            return since;
        };
        /** a, b (P3, on screen) and y (P2, the fallback) are cached, whole. */
        const keptAll = async (when) => {
            for (const n of ['a', 'b', 'y']) {
                assert.equal(await sha256File(file(n)), world.media[n].sha256, `${when}: ${n} is still cached, whole`);
            }
        };

        /** A power cut: kill -9, boot again (still offline) and play P3 from the cache at once. */
        const powerCut = async (h) => {
            await player.kill9();
            segment = (await player.timeline()).length;
            const bootAt = Date.now();
            await player.restart();
            const boot = await player.waitFor(strict(async () => {
                await offlinePlays();
                const tl = (await player.timeline()).slice(segment);
                return tl.filter((e) => e.event === 'start').length >= 2 ? tl : null;
            }), { timeoutMs: 30000, intervalMs: 250, failIf, what: `P3 playing again after a power cut at +${h} h` });
            assert.equal(boot[0].event, 'start', `the first thing on screen after the boot: ${JSON.stringify(boot[0])}`);
            const first = boot[0];
            assert.ok(first.t >= bootAt + offsetMs - 1000, `after the boot the player's clock is still at +${h} h: ${first.t}`);
            // the expiry sweep ran at boot, before the first item ended
            await keptAll(`+${h} h, after the boot`);
        };

        for (const h of STEPS_H) {
            offsetMs = h * HOUR_MS;
            await writeFile(clockFile, `${offsetMs}\n`);
            const stepAt = Date.now() + offsetMs; // the player's clock from here on
            await player.waitFor(strict(async () => (await offlinePlays()).filter((p) => p.start.t >= stepAt).length >= STARTS_PER_STEP),
                { timeoutMs: 30000, intervalMs: 250, failIf, what: `${STARTS_PER_STEP} starts of P3 at +${h} h` });
            const st = await player.waitFor(async () => {
                const s = await player.status();
                return s.syncStatus === 'STALE' ? s : null;
            }, { timeoutMs: 15000, what: `syncStatus STALE at +${h} h` });
            assert.equal(st.state, 'PLAYING', `+${h} h`);
            assert.equal(st.online, false, `+${h} h`);
            assert.equal(tagOf(st.manifest.current.etag), p3Etag, `+${h} h: P3 is still current`);
            await keptAll(`+${h} h`);
            if (h === 49) {
                // x (named by no manifest, unused for 49 h) must survive a sweep: the 72 h minimum
                await powerCut(h);
                assert.ok(await cached('x'), '+49 h: x was dropped before 72 h unused');
                assert.equal(await sha256File(file('x')), world.media.x.sha256);
            }
        }
        // at +100 h: x, unused and unnamed for more than 72 h, goes in the sweep at boot; nothing
        // any manifest names does
        await powerCut(100);
        assert.ok(!(await cached('x')), '+100 h: x, unused for 100 h and named by no manifest, is still cached');
        assert.equal((await player.status()).syncStatus, 'STALE');

        // ---- the server comes back, on the player's time
        await world.startServer();
        world.api.ok(await world.api.call('POST', '/v1/_test/clock', null, { offsetMs: offsetMs }));
        await world.login();
        const back = await player.waitFor(async () => {
            const st = await player.status();
            return st.online === true && st.syncStatus === 'SYNCED' && st.manifest?.current?.playlistId === p3.playlistId
                ? st : null;
        }, { timeoutMs: 60000, intervalMs: 250, what: 'online and SYNCED again' });
        assert.equal(back.state, 'PLAYING');

        const events = async (type) => {
            const r = await world.api.call('GET', `/v1/venues/${world.venueId}/devices/${deviceId}/events?type=${type}&limit=200`,
                world.admin.token);
            return world.api.ok(r).items.filter((e) => e.eventId); // the player's own, not the server's
        };
        const seen = await player.waitFor(async () => {
            const off = await events('OFFLINE_ENTERED');
            const on = await events('ONLINE_RESTORED');
            const ev = await events('CACHE_EVICTION');
            return off.length && on.length && ev.length ? { off, on, ev } : null;
        }, { timeoutMs: 60000, intervalMs: 1000, what: 'OFFLINE_ENTERED, ONLINE_RESTORED and CACHE_EVICTION at the server' });
        const lastOff = Math.max(...seen.off.map((e) => Date.parse(e.eventTimeUtc)));
        const lastOn = Math.max(...seen.on.map((e) => Date.parse(e.eventTimeUtc)));
        assert.ok(lastOn >= lastOff, `ONLINE_RESTORED (${lastOn}) after OFFLINE_ENTERED (${lastOff})`);
        for (const e of seen.on) assert.ok(Number.isInteger(e.payload.offlineDurationSeconds), JSON.stringify(e));
        assert.ok(seen.off.some((e) => e.payload.lastOnlineAtUtc), JSON.stringify(seen.off));
        const evicted = seen.ev.filter((e) => e.payload.assetId === id('x'));
        assert.ok(evicted.length === 1 && evicted[0].payload.reason === 'EXPIRED', JSON.stringify(seen.ev));
        assert.ok(!seen.ev.some((e) => [...P3, id('y')].includes(e.payload.assetId) && Date.parse(e.eventTimeUtc) < lastOn),
            `an asset of P3 or P2 was evicted while offline: ${JSON.stringify(seen.ev)}`);

        // it keeps playing after it is back (a new manifest, the same content: a and b)
        const n0 = (await player.timeline()).length;
        await player.waitFor(async () => (await player.timeline()).slice(n0).filter((e) => e.event === 'start').length >= 2,
            { timeoutMs: 30000, what: 'playback after the server came back' });
        const plays = playsOf((await player.timeline()).slice(segment), { offset: segment });
        for (const p of plays) assert.ok(P3.includes(p.start.assetId), `after the boot: ${JSON.stringify(p.start)}`);

        await player.stop();
    });
});
