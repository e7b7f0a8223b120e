// SPDX-License-Identifier: MIT
//
// budget.test.mjs — a cache budget smaller than the content (spec §11.2, docs/marquee-player.md
// "Cache"): the device's cacheBudgetBytes is the least the server allows, 64 MiB, and the
// venue's playlists name six large images of 12 MiB (72 MiB together) and small ones. A real
// marquee-player (headless) goes through:
//
//   1. A, B, C, D (one large image each) in turn: 48 MiB held, all fits.
//   2. E: its download takes the cache past 90% of the budget. The least recently used assets
//      no manifest protects go (A's large image), CACHE_EVICTION events reach the server; B's,
//      used later, stays; C's and D's (previous and current) and E's own are never touched.
//   3. F: four large images (two of them evicted or unheld) besides E (current) and D
//      (previous): more than the budget can hold even with everything else evicted. The first
//      of them (B6) still fits; the player is killed (SIGKILL) in the middle of its download
//      and restarted: it resumes it (Range) and completes it — its reservation counted once.
//      Then downloads pause (status: downloads queued, none active; syncStatus not SYNCED),
//      F stays staged and E stays on screen, for as long as nothing changes.
//   4. G, smaller: the manifest change frees space (F is dropped, so B's and C's large images
//      are evicted, least recently used first: F's freshly downloaded one stays); downloads
//      resume, G is applied, and the player settles to SYNCED.
//
// Throughout, a sampler checks every ~200 ms that the cache never holds more than the budget
// (status cache.usedBytes, and the bytes of the files in DIR/assets and DIR/tmp) and that every
// asset of the current and previous manifests is in DIR/assets; the timeline never shows the
// error card. At the end the player stops cleanly (exit 0, no sanitizer report).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { BACKEND } from '../api/lib/server.mjs';
import { assetFiles, deviceEvents, setCacheBudget } from './lib/datadir.mjs';
import { pairPlayer, startPlayer } from './lib/player.mjs';
import { sleep } from './lib/wait.mjs';
import { startWorld } from './lib/world.mjs';

const MiB = 1 << 20;
const BUDGET = 64 * MiB; // the least cacheBudgetBytes the server takes (docs/devices.md)
const LARGE = 12 * MiB;
const HOLD_MS = 6000; // how long a pause is watched to stay one (three polls at poll_max_s 2)

describe(`a cache budget smaller than the playlist: marquee-player headless (${BACKEND})`, () => {
    let world;
    let player;

    before(async () => {
        const colors = ['red', 'green', 'blue', 'yellow', 'cyan', 'magenta', 'orange', 'purple'];
        const media = {};
        for (let k = 1; k <= 6; k++) {
            media[`B${k}`] = { type: 'image', color: colors[k], width: 320, height: 180, bytes: LARGE + k * 4096 };
        }
        for (let k = 0; k <= 7; k++) media[`s${k}`] = { type: 'image', color: colors[k], width: 160, height: 90 };
        media.clip = { type: 'video', seconds: 1, color: 'white' };
        world = await startWorld({ media });
    });
    after(async () => {
        if (player && !player.exitInfo) await player.kill9().catch(() => {});
        await world?.stop();
    });

    it('evicts the least recently used unprotected assets, never the current or previous manifest\'s; '
        + 'pauses when even that cannot fit, until a manifest change frees space', async () => {
        const id = (name) => world.assets[name].assetId;
        const nameOf = new Map(Object.entries(world.assets).map(([n, a]) => [a.assetId, n]));
        const sizeOf = (assetId) => world.media[nameOf.get(assetId)].size;

        await world.publish([{ media: 's0', durationSeconds: 1 }, { media: 'clip' }]);
        player = await startPlayer({
            server: world,
            config: { poll_min_s: 1, poll_max_s: 2, heartbeat_min_s: 5, max_downloads: 2 },
            logLevel: 'info',
        });
        const dir = player.dataDir;
        const { deviceId } = await pairPlayer(player, world.admin, world.venueId, { name: 'budget screen' });

        const known = new Map(); // manifestEtag → the manifest the server gave
        const noteManifest = async () => {
            const m = await world.manifest(deviceId);
            known.set(m.body.manifestEtag, m.body);
            return m.body;
        };
        const assetsOf = (etag) => new Set((known.get(etag)?.playlist?.items ?? []).map((i) => i.assetId));

        /** Publishes @list, resolves the manifest the device is given for it. */
        const publish = async (list) => {
            await world.publish(list);
            return noteManifest();
        };
        // what the sampler below saw going wrong (a wait gives up at once on it)
        const samples = { n: 0, maxUsed: 0, maxFiles: 0, problems: [] };
        const failIf = () => (samples.problems.length ? `the sampler saw: ${samples.problems.slice(0, 5).join('; ')}` : null);
        /** Waits until @m is on screen and the player is SYNCED. */
        const settled = (m, what) => player.waitFor(async () => {
            const st = await player.status();
            return st.manifest?.current?.etag === m.manifestEtag && st.syncStatus === 'SYNCED' ? st : null;
        }, { timeoutMs: 60000, intervalMs: 200, what, failIf });

        await noteManifest();
        await setCacheBudget(world, deviceId, BUDGET);
        const budgeted = await noteManifest();
        assert.equal(budgeted.settings.cacheBudgetBytes, BUDGET);
        const st0 = await settled(budgeted, 'the manifest with the 64 MiB budget on screen');
        assert.equal(st0.cache.budgetBytes, BUDGET, JSON.stringify(st0.cache));

        // ---- the sampler: the budget holds, what plays and its fallback stay
        let sampling = true;
        const sampler = (async () => {
            while (sampling) {
                try {
                    const st = await player.status();
                    const files = await assetFiles(dir, 'assets');
                    const parts = await assetFiles(dir, 'tmp');
                    const fileBytes = [...files, ...parts].reduce((s, f) => s + f.size, 0);
                    samples.n++;
                    samples.maxUsed = Math.max(samples.maxUsed, st.cache?.usedBytes ?? 0);
                    samples.maxFiles = Math.max(samples.maxFiles, fileBytes);
                    if (st.cache?.usedBytes > BUDGET) samples.problems.push(`status usedBytes ${st.cache.usedBytes} > ${BUDGET}`);
                    if (fileBytes > BUDGET) {
                        samples.problems.push(`files ${fileBytes} bytes > ${BUDGET}: ${JSON.stringify([...files, ...parts])}`);
                    }
                    if (st.state === 'ERROR_SCREEN') samples.problems.push('state ERROR_SCREEN');
                    const have = new Set(files.map((f) => f.name));
                    for (const slot of ['current', 'previous']) {
                        const etag = st.manifest?.[slot]?.etag;
                        for (const a of etag ? assetsOf(etag) : []) {
                            if (!have.has(a)) samples.problems.push(`${nameOf.get(a)} of the ${slot} manifest is not in assets/`);
                        }
                    }
                } catch (e) {
                    samples.problems.push(`sampler: ${e.message}`);
                }
                await sleep(200);
            }
        })();
        const noProblems = (when) => assert.deepEqual(samples.problems.slice(0, 10), [],
            `${when}: the sampler saw ${samples.problems.length} problems`);
        const evictions = async () => (await deviceEvents(world, deviceId, { type: 'CACHE_EVICTION' }))
            .map((e) => ({ ...e.payload, name: nameOf.get(e.payload?.assetId) }));

        try {
            // ---- 1. A, B, C, D: 48 MiB of large images, all kept
            const lists = {};
            for (const [k, n] of [['A', 1], ['B', 2], ['C', 3], ['D', 4]]) {
                lists[k] = await publish([{ media: `B${n}`, durationSeconds: 1 }, { media: `s${n}`, durationSeconds: 1 }]);
                await settled(lists[k], `playlist ${k} on screen and SYNCED`);
            }
            assert.deepEqual(await evictions(), [], 'nothing evicted while everything fits');
            for (let n = 1; n <= 4; n++) assert.ok((await assetFiles(dir)).some((f) => f.name === id(`B${n}`)), `B${n} is held`);

            // ---- 2. E: past 90% of the budget — the least recently used unprotected asset goes
            lists.E = await publish([{ media: 'B5', durationSeconds: 1 }, { media: 's5', durationSeconds: 1 }]);
            await settled(lists.E, 'playlist E on screen and SYNCED');
            const large = (ev) => ev.filter((e) => /^B/.test(e.name ?? ''));
            const ev2 = await player.waitFor(async () => {
                const ev = await evictions();
                return large(ev).length > 0 ? ev : null;
            }, { timeoutMs: 60000, intervalMs: 1000, what: 'the CACHE_EVICTION of a large image at the server', failIf });
            const names2 = ev2.map((e) => e.name);
            assert.deepEqual(large(ev2).map((e) => e.name), ['B1'],
                `the one large image evicted is B1 (A's, the least recently used): ${names2}`);
            for (const e of ev2) {
                assert.equal(e.reason, 'BUDGET', JSON.stringify(e));
                assert.equal(e.freedBytes, sizeOf(e.assetId), `the freed bytes of ${e.name}: ${JSON.stringify(e)}`);
            }
            assert.ok(!names2.includes('B2'), `B2 (used after B1) was evicted before it was needed: ${names2}`);
            for (const n of ['B3', 's3', 'B4', 's4', 'B5', 's5']) {
                assert.ok(!names2.includes(n), `${n} (of the previous, current or staged manifest) was evicted: ${names2}`);
            }
            let files = new Set((await assetFiles(dir)).map((f) => f.name));
            assert.ok(!files.has(id('B1')), 'B1 is still in assets/ after its eviction');
            for (const n of ['B2', 'B3', 'B4', 'B5']) assert.ok(files.has(id(n)), `${n} is not in assets/`);
            noProblems('after E');

            // ---- 3. F: more than the budget holds besides E and D — downloads pause. B6, the
            // first to download, fits (60 MiB of 64); it is slowed down and the player killed in
            // the middle of it: resumed after the restart, its reservation must not count twice.
            world.origin.addFault({ match: world.media.B6.sha256, kind: 'drip', bytesPerSecond: 2 * MiB, times: 1 });
            lists.F = await publish([{ media: 'B6', durationSeconds: 1 }, { media: 'B1', durationSeconds: 1 },
                { media: 'B2', durationSeconds: 1 }, { media: 'B3', durationSeconds: 1 }, { media: 's6', durationSeconds: 1 }]);
            const b6part = `${id('B6')}.part`;
            await player.waitFor(async () => (await assetFiles(dir, 'tmp')).some((f) => f.name === b6part && f.size >= MiB),
                { timeoutMs: 60000, intervalMs: 100, what: 'B6 half downloaded', failIf });
            await player.kill9();
            await player.restart();
            const paused = (st) => st.manifest?.staged?.etag === lists.F.manifestEtag && st.manifest?.current?.etag === lists.E.manifestEtag
                && st.downloads?.active === 0 && st.downloads?.queued >= 1;
            await player.waitFor(async () => {
                const st = await player.status();
                return paused(st) && st.syncStatus !== 'SYNCED';
            }, { timeoutMs: 60000, intervalMs: 200, what: 'F staged, E on screen, downloads paused (queued, none active)', failIf });
            const holdFrom = Date.now();
            while (Date.now() - holdFrom < HOLD_MS) {
                const st = await player.status();
                assert.ok(paused(st), 'the pause did not hold while nothing changed: '
                    + `${JSON.stringify({ sync: st.syncStatus, downloads: st.downloads, manifest: st.manifest, cache: st.cache })}`);
                assert.notEqual(st.syncStatus, 'SYNCED', 'SYNCED while downloads are paused');
                await sleep(500);
            }
            files = new Set((await assetFiles(dir)).map((f) => f.name));
            assert.ok(files.has(id('B6')), 'B6, which fits within the budget, was not downloaded before the pause');
            assert.ok(world.origin.statsFor(world.media.B6.sha256).ranges.length >= 1,
                'B6 was not resumed with a Range request after the kill');
            assert.ok(!files.has(id('B1')), 'B1 was downloaded past the budget');
            for (const n of ['B4', 's4', 'B5', 's5']) assert.ok(files.has(id(n)), `${n} (of the current or previous manifest) is gone`);
            noProblems('while paused');

            // ---- 4. G: smaller; the change frees space, downloads resume, SYNCED
            lists.G = await publish([{ media: 'B1', durationSeconds: 1 }, { media: 's7', durationSeconds: 1 }]);
            await settled(lists.G, 'playlist G on screen and SYNCED after the pause');
            const ev4 = await player.waitFor(async () => {
                const ev = await evictions();
                return large(ev).length >= 3 ? ev : null;
            }, { timeoutMs: 60000, intervalMs: 1000, what: 'two more CACHE_EVICTIONs of large images (once F was dropped)', failIf });
            const names4 = ev4.map((e) => e.name);
            assert.deepEqual(large(ev4).map((e) => e.name).sort(), ['B1', 'B2', 'B3'],
                `B2 and B3 (the least recently used once F was dropped) evicted to make room for B1: ${names4}`);
            for (const n of ['B4', 's4', 'B5', 's5']) {
                assert.ok(!names4.includes(n), `${n} (of the previous or current manifest) was evicted: ${names4}`);
            }
            assert.ok(!names4.includes('B6'),
                `B6 (downloaded last, the most recently used) was evicted before B2 and B3 sufficed: ${names4}`);
            assert.equal(names4.filter((n) => n === 'B1').length, 1, `B1 evicted more than once: ${names4}`);
            files = new Set((await assetFiles(dir)).map((f) => f.name));
            for (const n of ['B1', 's7', 'B5', 's5', 'B6']) assert.ok(files.has(id(n)), `${n} is not in assets/`);
            for (const n of ['B2', 'B3']) assert.ok(!files.has(id(n)), `${n} is still in assets/ after its eviction`);
            const st = await player.status();
            assert.equal(st.manifest.previous?.etag, lists.E.manifestEtag, 'E is the previous manifest');
            assert.equal(st.downloads.queued + st.downloads.active, 0, JSON.stringify(st.downloads));
        } finally {
            sampling = false;
            await sampler;
        }
        noProblems('at the end');
        assert.ok(samples.n >= 20, `only ${samples.n} samples`);
        assert.ok(samples.maxUsed <= BUDGET && samples.maxFiles <= BUDGET, JSON.stringify(samples));
        // (before the first manifest came, right after pairing, the card is all there is to show)
        const tl = await player.timeline();
        const first = tl.findIndex((e) => e.event === 'start');
        assert.deepEqual(tl.slice(first).filter((e) => e.event === 'error_screen'), [], 'the error card showed while content was held');
        console.log(`# budget: ${samples.n} samples, at most ${samples.maxUsed} bytes in use (status), `
            + `${samples.maxFiles} in files, of ${BUDGET}`);
        await player.stop();
    });
});
