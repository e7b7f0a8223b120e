// SPDX-License-Identifier: MIT
//
// kill9.test.mjs — power cuts at random moments (docs/marquee-player.md "Crash safety"): a real
// marquee-player is killed with SIGKILL ITERATIONS (50) times, at seeded random instants, while
// it downloads, verifies, applies manifests and evicts, and restarted each time on the same data
// directory. The seed is printed (replay: KILL9_SEED=n; KILL9_ITERATIONS=n, KILL9_VERBOSE=1).
//
// Something is always going on: the venue's playlist moves round LISTS playlists, each a large
// image (LARGE bytes: random bytes after a small JPEG), a small image and a 1 s video; the
// device's cache budget is the least the server allows (64 MiB) and the cache is filled close
// to its 90% mark first, so every new playlist's download evicts the least recently used large
// image; the download bandwidth is capped so that a download is in flight for a second or so;
// now and then the origin corrupts one response (the checksum must catch it). A new playlist is
// published whenever the last one is on screen, and now and then over a staged one still
// downloading. The player polls every 2 s (poll_max_s) and fully syncs at every boot. Each run
// is killed at a random instant up to KILL_AFTER_MS after its first `start`, or just after an
// item's end (the boundary where applies happen), or during its boot.
//
// While a run lives, a sampler reads `status` and the data directory every ~150 ms. After each
// kill, before the restart, the data directory as the kill left it:
//   (d) every manifest file is whole (header, SHA-256 of the body, JSON) and is one the server
//       gave; `status` (no daemon) shows the same slots (or the apply a journal completes);
//   (b) every file in assets/ is complete and verified (the size and SHA-256 of its medium):
//       partial downloads live only in tmp/, and every .part there is a prefix of its medium;
//       every timeline `start` of the run names an asset whose verified file is in assets/
//       (unless no manifest holds it any more: evicted after it played);
//   (a) every `start` of the run belongs to a manifest that was current or previous then (the
//       etags status showed during the run, and the slots the kill left), at its index;
//   (e) no error_screen in the run's timeline, no ERROR_SCREEN state in its status;
//   and the cache never held more than its budget (status usedBytes; the bytes of assets/ and
//   tmp/, sampled and after the kill).
// After each restart: (a) it plays — a `start` within a generous wait; (c) once it runs, and
// again now and then in the middle of the run, the cache index (DIR/cache.db, read with the
// sqlite3 CLI) agrees with assets/: every READY row has its file of its size, every file has a
// READY row (a mismatch is allowed only for the instant of a commit or an eviction under way).
// At the end the kills stop: the player converges (the last playlist on screen, SYNCED, no
// .part left), CACHE_EVICTION events have reached the server, it stops cleanly (exit 0, no
// sanitizer report), and the index then matches assets/ exactly, with only verified files. The
// run must also have done what it is meant to test: kills with downloads in flight, manifests
// applied.
//
// Nothing here asserts timing: the random delays only choose where the kills land.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { BACKEND } from '../api/lib/server.mjs';
import {
    assetFiles, cacheIndexMismatches, cacheIndexSettled, cacheRows, deviceEvents, readSlots, setCacheBudget, sha256File,
} from './lib/datadir.mjs';
import { pairPlayer, startPlayer } from './lib/player.mjs';
import { sleep } from './lib/wait.mjs';
import { startWorld } from './lib/world.mjs';

const MiB = 1 << 20;
const BUDGET = 64 * MiB; // the least cacheBudgetBytes the server takes (docs/devices.md)
const LARGE = 8 * MiB;
const LISTS = 8; // 8 large images: 64 MiB, more than the 90% mark of the budget
const BANDWIDTH = 10 * MiB; // bytes/s for all transfers, halved per transfer: ~1.6 s per large image
const ITERATIONS = Number(process.env.KILL9_ITERATIONS || 50);
const SEED = process.env.KILL9_SEED ? Number(process.env.KILL9_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
const KILL_AFTER_MS = 1500; // a kill comes up to this long after the first start of a run
const COLORS = ['red', 'green', 'blue', 'yellow', 'cyan', 'magenta', 'orange', 'purple'];

/** mulberry32: a small seeded generator, uniform in [0, 1). */
function random(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

describe(`kill -9 at random moments: marquee-player headless (${BACKEND})`, () => {
    let world;
    let player;

    before(async () => {
        const media = { v0: { type: 'video', seconds: 1, color: 'white' }, v1: { type: 'video', seconds: 1 } };
        for (let k = 0; k < LISTS; k++) {
            media[`L${k}`] = { type: 'image', color: COLORS[k], width: 320, height: 180, bytes: LARGE + k * 4096 };
            media[`s${k}`] = { type: 'image', color: COLORS[k], width: 160, height: 90 };
        }
        world = await startWorld({ media });
    });
    after(async () => {
        if (player && !player.exitInfo) await player.kill9().catch(() => {});
        await world?.stop();
    });

    it(`survives ${ITERATIONS} kills during download, apply and eviction`, async (t) => {
        const rnd = random(SEED);
        const say = (s) => {
            t.diagnostic(s);
            console.log(`# kill9: ${s}`);
        };
        say(`seed ${SEED} (replay with KILL9_SEED=${SEED})`);
        const t0 = Date.now();

        const lists = [];
        for (let k = 0; k < LISTS; k++) {
            lists.push([{ media: `L${k}`, durationSeconds: 1 }, { media: `s${k}`, durationSeconds: 1 }, { media: `v${k % 2}` }]);
        }
        const byAsset = new Map(); // assetId → the world's medium
        for (const [name, a] of Object.entries(world.assets)) byAsset.set(a.assetId, world.media[name]);

        await world.publish(lists[0]);
        player = await startPlayer({
            server: world,
            config: { poll_min_s: 1, poll_max_s: 2, heartbeat_min_s: 5, max_downloads: 2, download_backoff_ms: 200 },
            logLevel: 'info',
        });
        const dir = player.dataDir;
        const { deviceId } = await pairPlayer(player, world.admin, world.venueId, { name: 'kill -9 screen' });

        // every manifest the server gave the device, by manifestEtag
        const known = new Map();
        const noteManifest = async () => {
            const m = await world.manifest(deviceId);
            known.set(m.body.manifestEtag, m.body);
            return m.body;
        };
        await noteManifest();
        await setCacheBudget(world, deviceId, BUDGET);
        const budgeted = await noteManifest();
        assert.equal(budgeted.settings.cacheBudgetBytes, BUDGET, JSON.stringify(budgeted.settings));
        await player.waitFor(async () => {
            const st = await player.status();
            return st.manifest?.current?.etag === budgeted.manifestEtag && st.cache?.budgetBytes === BUDGET;
        }, { timeoutMs: 60000, what: 'the manifest with the 64 MiB budget on screen' });

        // the cache filled close to its 90% mark: 6 of the 8 large images (L0, and L1…L5 in one
        // playlist), so that from the second publish on each new playlist evicts one
        await world.publish([1, 2, 3, 4, 5].map((k) => ({ media: `L${k}`, durationSeconds: 1 })));
        const warm = await noteManifest();
        await player.waitFor(async () => (await player.status()).manifest?.current?.etag === warm.manifestEtag,
            { timeoutMs: 60000, what: 'the warm-up playlist on screen' });

        // from here downloads are slow enough for kills to land in them
        await player.restart({ config: { bandwidth_bytes_s: BANDWIDTH } });
        // (the first iteration stops this run with SIGTERM: not before it has its handler)
        await player.waitForLog((l) => l.event === 'player.started', { timeoutMs: 60000, what: 'the player started' });

        let next = 6; // the next playlist to publish: L6, L7, L0 … each one evicted or never held
        let published = warm.manifestEtag;
        const stats = { publishes: 0, killsWithPart: 0, killsWithJournal: 0, bootKills: 0, boundaryKills: 0, corrupt: 0,
            applied: new Set(), starts: 0 };

        // what the next run boots with as current and previous (as the last kill left them)
        let bootEtags = new Set([warm.manifestEtag, budgeted.manifestEtag]);
        /** Samples status while a run lives: the etags shown as current/previous, the states. */
        const sampler = () => {
            const seen = { etags: new Set(bootEtags), states: new Set(), currents: new Set(), overBudget: [] };
            let on = true;
            const done = (async () => {
                while (on) {
                    try {
                        const st = await player.status();
                        if (st.running && st.pid === player.pid && st.state) {
                            seen.states.add(st.state);
                            for (const s of ['current', 'previous']) if (st.manifest?.[s]?.etag) seen.etags.add(st.manifest[s].etag);
                            if (st.manifest?.current?.etag) seen.currents.add(st.manifest.current.etag);
                            if (st.cache?.usedBytes > BUDGET) seen.overBudget.push(`status usedBytes ${st.cache.usedBytes}`);
                        }
                        // the disk: what assets/ and tmp/ hold never passes the budget (the
                        // protected manifests need 3 × (LARGE + a little), well within it)
                        const files = [...await assetFiles(dir, 'assets'), ...await assetFiles(dir, 'tmp')];
                        const bytes = files.reduce((n, f) => n + f.size, 0);
                        if (bytes > BUDGET) seen.overBudget.push(`${bytes} bytes in assets/ and tmp/`);
                    } catch {
                        /* the status file was being replaced, or the player just died */
                    }
                    await sleep(150);
                }
            })();
            return { seen, stop: async () => { on = false; await done; } };
        };

        /** The checks of a data directory with no daemon, and of the run that just ended. */
        const afterKill = async (iter, from, seen) => {
            const what = `iteration ${iter} (seed ${SEED}), after the kill`;
            // (d) whole manifests, ones the server gave, shown by status
            const slots = await readSlots(dir).catch((e) => assert.fail(`${what}: ${e.message}`));
            for (const s of ['current', 'previous', 'staged']) {
                if (slots[s]) {
                    assert.ok(known.has(slots[s].etag), `${what}: ${s}.manifest has etag ${slots[s].etag}, never given by the server`);
                }
            }
            assert.ok(slots.current || slots.staged, `${what}: no current manifest on disk`);
            const st = await player.status();
            assert.equal(st.running, false, `${what}: status says a daemon runs`);
            const shown = (s) => st.manifest?.[s]?.etag ?? null;
            const onDisk = (s) => slots[s]?.etag ?? null;
            if (slots.journal) {
                stats.killsWithJournal++;
                assert.ok([onDisk('current'), onDisk('staged')].includes(shown('current')),
                    `${what}: an apply cut short: status shows current ${shown('current')}, `
                    + `the files ${JSON.stringify([onDisk('current'), onDisk('staged')])}`);
            } else {
                for (const s of ['current', 'previous', 'staged']) {
                    assert.equal(shown(s), onDisk(s), `${what}: status shows ${s} ${shown(s)}, the file holds ${onDisk(s)}`);
                }
            }
            // after the kill, the slots (as recovery leaves them) were current/previous too
            for (const s of ['current', 'previous']) if (shown(s)) seen.etags.add(shown(s));
            if (shown('current')) seen.currents.add(shown('current'));
            bootEtags = new Set(['current', 'previous'].map(shown).filter(Boolean));

            // (b) assets/ holds only complete, verified files; tmp/ only prefixes
            const files = await assetFiles(dir, 'assets');
            const present = new Set();
            for (const f of files) {
                const m = byAsset.get(f.name);
                assert.ok(m, `${what}: assets/${f.name} is no asset of the world`);
                assert.equal(f.size, m.size,
                    `${what}: assets/${f.name} (${m.name}) has ${f.size} bytes of ${m.size}: an incomplete file in assets/`);
                assert.equal(await sha256File(path.join(dir, 'assets', f.name)), m.sha256,
                    `${what}: assets/${f.name} (${m.name}) does not match its SHA-256: an unverified file in assets/`);
                present.add(f.name);
            }
            const parts = await assetFiles(dir, 'tmp');
            for (const p of parts) {
                const id = p.name.replace(/\.part$/, '');
                const m = byAsset.get(id);
                if (!m || !p.name.endsWith('.part')) continue; // reconciliation removes strays at boot
                assert.ok(p.size <= m.size, `${what}: tmp/${p.name} is longer (${p.size}) than ${m.name} (${m.size})`);
                // a prefix of the medium (unless the origin corrupted a response of it: then
                // only the checksum at the commit can tell)
                if (!world.origin.statsFor(m.sha256).faults.includes('corrupt')) {
                    const data = await readFile(path.join(dir, 'tmp', p.name));
                    assert.ok(data.equals(m.bytes.subarray(0, data.length)),
                        `${what}: tmp/${p.name} (${data.length} bytes) is not a prefix of ${m.name}`);
                }
            }
            if (parts.some((p) => p.name.endsWith('.part') && p.size > 0)) stats.killsWithPart++;

            assert.deepEqual(seen.overBudget.slice(0, 5), [], `${what}: the cache passed its budget of ${BUDGET} bytes during the run`);
            const held = [...files, ...parts].reduce((n, f) => n + f.size, 0);
            assert.ok(held <= BUDGET, `${what}: ${held} bytes in assets/ and tmp/, over the budget of ${BUDGET}`);

            // the run's timeline
            const tl = (await player.timeline()).slice(from);
            const errs = tl.filter((e) => e.event === 'error_screen');
            assert.deepEqual(errs, [], `${what}: (e) the error card showed while content was held`);
            assert.ok(!seen.states.has('ERROR_SCREEN'), `${what}: (e) status showed ERROR_SCREEN`);
            const referenced = new Set();
            for (const s of ['current', 'previous', 'staged']) {
                for (const it of slots[s]?.body.playlist?.items ?? []) referenced.add(it.assetId);
            }
            for (const ev of tl.filter((e) => e.event === 'start')) {
                stats.starts++;
                const line = JSON.stringify(ev);
                const m = known.get(ev.manifestEtag);
                assert.ok(m, `${what}: (a) a start of a manifest the server never gave: ${line}`);
                assert.ok(seen.etags.has(ev.manifestEtag),
                    `${what}: (a) a start of a manifest that was neither current nor previous (${[...seen.etags]}): ${line}`);
                assert.equal(m.playlist?.items?.[ev.index]?.assetId, ev.assetId,
                    `${what}: (a) not the manifest's item at that index: ${line}`);
                // (b) what played is a verified file (checked above), unless evicted since
                assert.ok(present.has(ev.assetId) || !referenced.has(ev.assetId),
                    `${what}: (b) ${byAsset.get(ev.assetId)?.name} played but has no verified file in assets/ `
                    + `while a manifest holds it: ${line}`);
            }
            for (const e of seen.currents) stats.applied.add(e);
        };

        /** Waits for the run's first start; (a) it plays. */
        const firstStart = (iter, from) => player.waitFor(async () => {
            const tl = await player.timeline();
            return tl.slice(from).find((e) => e.event === 'start');
        }, { timeoutMs: 60000, intervalMs: 100, what: `iteration ${iter} (seed ${SEED}): a timeline start after the restart` });

        for (let iter = 0; iter < ITERATIONS; iter++) {
            // the state the last kill left: publish when the last playlist is on screen, or now
            // and then over one still downloading
            const onScreen = (await readSlots(dir)).current?.etag;
            if (onScreen === published || rnd() < 0.08) {
                await world.publish(lists[next]);
                next = (next + 1) % LISTS;
                published = (await noteManifest()).manifestEtag;
                stats.publishes++;
            }
            if (rnd() < 0.1) {
                world.origin.addFault({ match: '/media/', kind: 'corrupt', times: 1 });
                stats.corrupt++;
            }

            let from = (await player.timeline()).length;
            await player.restart();
            if (rnd() < 0.15) {
                // a kill during the boot: reconciliation, the first sync, the first downloads
                const s = sampler();
                await sleep(Math.floor(rnd() * 400));
                await s.stop();
                await player.kill9();
                stats.bootKills++;
                await afterKill(iter, from, s.seen);
                from = (await player.timeline()).length;
                await player.restart();
            }
            const s = sampler();
            await firstStart(iter, from);
            // (c) the index agrees with the files once the boot reconciliation has run
            await cacheIndexSettled(dir, { what: `iteration ${iter} (seed ${SEED}): the cache index` });
            if (rnd() < 0.25) {
                // just after an item's end: the safe boundary where a staged manifest whose
                // assets are all there is applied (§28.5)
                const ends = (await player.timeline()).filter((e) => e.event === 'end').length;
                await player.waitFor(async () => (await player.timeline()).filter((e) => e.event === 'end').length > ends,
                    { timeoutMs: 30000, intervalMs: 2, what: `iteration ${iter} (seed ${SEED}): an item's end` });
                await sleep(Math.floor(rnd() * 20));
                stats.boundaryKills++;
            } else {
                await sleep(Math.floor(rnd() * KILL_AFTER_MS));
                // (c) again, in the middle of the run: evictions and commits keep the index true
                if (rnd() < 0.5) await cacheIndexSettled(dir, { what: `iteration ${iter} (seed ${SEED}): the cache index, mid-run` });
            }
            await s.stop();
            await player.kill9();
            await afterKill(iter, from, s.seen);
            if (process.env.KILL9_VERBOSE) {
                const tmp = JSON.stringify(await assetFiles(dir, 'tmp'));
                say(`iteration ${iter}: ${Math.round((Date.now() - t0) / 100) / 10} s; tmp ${tmp}`);
            }
        }

        // the end: with no more kills the player converges — the last playlist published on
        // screen, SYNCED, nothing left in tmp/ — and stops cleanly, leaving an index that
        // matches assets/ exactly and only verified files there
        world.origin.clearFaults();
        const from = (await player.timeline()).length;
        await player.restart();
        await firstStart(ITERATIONS, from);
        await cacheIndexSettled(dir, { what: 'after the last restart: the cache index' });
        say(`${ITERATIONS} iterations in ${Math.round((Date.now() - t0) / 1000)} s: ${stats.publishes} publishes, `
            + `${stats.applied.size} manifests on screen, ${stats.starts} starts checked, ${stats.killsWithPart} kills with a .part, `
            + `${stats.killsWithJournal} with an apply journal, ${stats.bootKills} during boot, `
            + `${stats.boundaryKills} at an item's end, ${stats.corrupt} corrupt responses`);
        const final = await player.waitFor(async () => {
            const st = await player.status();
            return st.manifest?.current?.etag === published && st.syncStatus === 'SYNCED' && st.cache?.partFiles === 0 ? st : null;
        }, { timeoutMs: 60000, intervalMs: 250, what: 'the last playlist published on screen, SYNCED, no .part left' });
        assert.ok(final.cache.usedBytes <= BUDGET, JSON.stringify(final.cache));
        const evictions = await player.waitFor(async () => {
            const ev = await deviceEvents(world, deviceId, { type: 'CACHE_EVICTION' });
            return ev.length > 0 ? ev : null;
        }, { timeoutMs: 60000, intervalMs: 1000, what: 'CACHE_EVICTION events at the server' });
        say(`${evictions.length} CACHE_EVICTION events at the server`);
        await player.stop();

        assert.deepEqual(await cacheIndexMismatches(dir), [], 'after a clean stop: the cache index and assets/ disagree');
        const rows = await cacheRows(dir);
        assert.deepEqual(rows.filter((r) => r.state !== 'READY'), [], 'after a clean stop: reservations left in the index');
        for (const f of await assetFiles(dir, 'assets')) {
            assert.equal(await sha256File(path.join(dir, 'assets', f.name)), byAsset.get(f.name)?.sha256,
                `after a clean stop: assets/${f.name}`);
        }
        // the run tested what it is meant to
        assert.ok(stats.killsWithPart >= 3, `only ${stats.killsWithPart} kills landed with a download in flight`);
        assert.ok(stats.applied.size >= 5, `only ${stats.applied.size} manifests reached the screen`);
        for (const e of evictions) {
            assert.ok(byAsset.has(e.payload?.assetId), `an eviction of an unknown asset: ${JSON.stringify(e)}`);
        }
    });
});
