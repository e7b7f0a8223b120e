// SPDX-License-Identifier: MIT
//
// play.test.mjs — "pair, publish, play": a real marquee-player (headless renderer) joins a venue
// by its pairing code, receives the venue's playlist — two solid-colour images of 2 s and 3 s
// and a 2 s video, published as the venue's fallback — downloads it through the origin proxy
// and plays it. The timeline must show the playlist's order, loop after loop, each image for
// its durationSeconds (the headless renderer plays a video for its manifest durationSeconds
// too: src/player/render.h), each item starting after the one before ended, every line naming
// the manifest the server gives that device; `status` must agree; SIGTERM must end the player
// with exit status 0 and no sanitizer report.
//
// The content is published before the player pairs: the player's first manifest then holds it.
// (A publish after pairing reaches a player at its next poll, up to nextCheckSeconds = 60 s
// later; that is a scenario of its own.)
//
// The durations are checked from below only (an item cut short): this is a test of order and of
// the duration the player was told, not of its speed, so a slow machine cannot fail it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { BACKEND } from '../api/lib/server.mjs';
import { pairPlayer, startPlayer } from './lib/player.mjs';
import { startWorld } from './lib/world.mjs';

const CLOCK_SLACK_MS = 50; // the timeline's wall-clock stamps vs the player's monotonic wait
const LOOPS = 2;

/** An ETag as a tag: W/ and the quotes dropped (a timeline or status may carry either form). */
const tagOf = (e) => (typeof e === 'string' ? e.replace(/^W\//, '').replace(/^"(.*)"$/, '$1') : e);

/**
 * The plays of a timeline: each `start` with the `end` that follows it, in file order:
 * [{start, end (null while it plays), startLine, endLine}]. A start while another item has not
 * ended is a bug of the player, reported as such.
 */
function playsOf(timeline) {
    const plays = [];
    let open = null;
    timeline.forEach((ev, line) => {
        if (ev.event === 'start') {
            assert.equal(open, null, `timeline line ${line + 1}: a start while line ${open?.startLine + 1} still plays:\n`
                + `${JSON.stringify(open?.start)}\n${JSON.stringify(ev)}`);
            open = { start: ev, end: null, startLine: line, endLine: null };
            plays.push(open);
        } else if (ev.event === 'end') {
            assert.ok(open, `timeline line ${line + 1}: an end with no start: ${JSON.stringify(ev)}`);
            open.end = ev;
            open.endLine = line;
            open = null;
        }
    });
    return plays;
}

describe(`pair, publish, play: marquee-player headless (${BACKEND})`, () => {
    let world;
    let player;

    before(async () => {
        world = await startWorld({
            media: {
                red: { type: 'image', color: 'red', width: 640, height: 360 },
                green: { type: 'image', color: 'green', width: 640, height: 360 },
                clip: { type: 'video', seconds: 2, width: 320, height: 240 },
            },
        });
    });
    after(async () => {
        // a test that failed half way: the player is killed (stop() is the test's own check)
        if (player && !player.exitInfo) await player.kill9().catch(() => {});
        await world?.stop();
    });

    it('pairs, plays the playlist in order for two loops, each item for its duration, then stops with 0', async () => {
        const pub = await world.publish([
            { media: 'red', durationSeconds: 2 },
            { media: 'green', durationSeconds: 3 },
            { media: 'clip' },
        ]);

        player = await startPlayer({ server: world, config: { heartbeat_min_s: 5 } });
        const paired = await pairPlayer(player, world.admin, world.venueId, { name: 'Play scenario screen' });

        // what the server gives this device
        const m = await world.manifest(paired.deviceId);
        assert.equal(m.etag, `"${m.body.manifestEtag}"`);
        assert.equal(m.body.playlist?.playlistId, pub.playlistId, 'the server gives the device the published playlist');
        const items = m.body.playlist.items;
        assert.deepEqual(items.map((i) => i.assetId),
            [world.assets.red.assetId, world.assets.green.assetId, world.assets.clip.assetId]);
        assert.deepEqual(items.map((i) => [i.type, i.durationSeconds]), [['IMAGE', 2], ['IMAGE', 3], ['VIDEO', 2]]);
        const n = items.length;

        // two full loops from the first time item 0 starts
        const firstLoop = (plays) => plays.findIndex((p) => p.start.index === 0);
        const plays = await player.waitFor(async () => {
            const all = playsOf(await player.timeline());
            const from = firstLoop(all);
            if (from < 0) return null;
            const run = all.slice(from, from + LOOPS * n);
            return run.length === LOOPS * n && run.every((p) => p.end) ? run : null;
        }, { timeoutMs: 120000, intervalMs: 250, what: `${LOOPS} full loops of the ${n} items in the timeline` });

        const timeline = await player.timeline();
        const pairing = timeline.filter((e) => e.event === 'pairing');
        assert.ok(pairing.some((e) => e.code === paired.code), `the timeline shows the code that was claimed (${paired.code})`);

        plays.forEach((p, k) => {
            const want = items[k % n];
            const what = `play ${k} (timeline line ${p.startLine + 1}: ${JSON.stringify(p.start)})`;
            assert.equal(p.start.index, k % n, `${what}: playlist order`);
            assert.equal(p.start.assetId, want.assetId, `${what}: asset`);
            assert.equal(p.start.type, want.type, `${what}: type`);
            assert.equal(tagOf(p.start.manifestEtag), m.body.manifestEtag, `${what}: the server's manifest ETag`);
            assert.equal(p.end.index, p.start.index, `${what}: its end`);
            assert.equal(p.end.assetId, p.start.assetId, `${what}: its end`);
            assert.equal(tagOf(p.end.manifestEtag), m.body.manifestEtag, `${what}: its end's manifest ETag`);
            assert.equal(p.end.outcome, 'ended', `${what}: ended, not ${p.end.outcome}`);
            assert.equal(typeof p.start.t, 'number');
            const shown = p.end.t - p.start.t;
            // a lower bound only: an item cut short is a bug, one shown late is a slow machine
            assert.ok(shown >= want.durationSeconds * 1000 - CLOCK_SLACK_MS,
                `${what}: shown ${shown} ms, less than its durationSeconds ${want.durationSeconds}`);
            if (k > 0) {
                const prev = plays[k - 1];
                assert.ok(p.start.t >= prev.end.t, `${what}: starts at ${p.start.t}, before the last ended (${prev.end.t})`);
                assert.ok(p.startLine > prev.endLine, `${what}: its start line comes after the last end line`);
            }
        });

        // status agrees with the timeline and the server
        const st = await player.status();
        assert.equal(st.running, true);
        assert.equal(st.pid, player.pid);
        assert.equal(st.state, 'PLAYING');
        assert.equal(st.pairingCode, null);
        assert.equal(st.deviceId, paired.deviceId);
        assert.equal(tagOf(st.manifest?.current?.etag), m.body.manifestEtag);
        assert.equal(st.manifest.current.playlistId, pub.playlistId);
        assert.equal(st.manifest.current.publishedVersion, pub.publishedVersion);
        assert.ok(st.playback && items.some((i) => i.assetId === st.playback.assetId), JSON.stringify(st.playback));
        assert.equal(st.cache.assets, n, JSON.stringify(st.cache));
        assert.equal(st.cache.partFiles, 0);

        // every file came through the proxy, whole
        for (const name of ['red', 'green', 'clip']) {
            const s = world.origin.statsFor(world.media[name].sha256);
            assert.ok(s.requests >= 1, `${name} was never fetched through the origin`);
            assert.ok(s.bytesSent >= world.media[name].size, `${name}: ${s.bytesSent} of ${world.media[name].size} bytes`);
        }

        await player.stop();
    });
});

