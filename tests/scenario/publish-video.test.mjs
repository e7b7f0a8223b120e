// SPDX-License-Identifier: MIT
//
// publish-video.test.mjs — a publish while a video plays is applied at the video's end, never
// mid-video (§28.1 "no mid-video interruptions", §28.4 PLAYING "No manifest swap mid-video",
// §28.5 "At safe boundary: previous ← current, current ← staged"; docs/marquee-player.md
// "Two-phase apply": an image's end, a video's end, never mid-video).
//
// A real marquee-player (headless) plays a playlist of an 8 s video and a 2 s image. A new
// playlist (two other images) is published while the video is on screen; the player, polling
// every 2 s, stages it and downloads its assets while the video still plays (checked: `status`
// shows it staged with both assets in DIR/assets before the timeline has that video's end).
// The timeline must then show that video's `end` with outcome "ended" (never "interrupted"),
// and the first `start` under the new manifestEtag right after it: the new manifest from its
// first item, at the video's end — not before it, and not one item later.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { BACKEND } from '../api/lib/server.mjs';
import { pairPlayer, startPlayer } from './lib/player.mjs';
import { startWorld } from './lib/world.mjs';

const tagOf = (e) => (typeof e === 'string' ? e.replace(/^W\//, '').replace(/^"(.*)"$/, '$1') : e);

/** The plays of a timeline: each `start` with the `end` that follows it, in file order. */
function playsOf(timeline) {
    const plays = [];
    let open = null;
    timeline.forEach((ev, line) => {
        if (ev.event === 'start') {
            assert.equal(open, null, `timeline line ${line + 1}: a start while line ${open?.line + 1} still plays`);
            open = { start: ev, end: null, line, endLine: null };
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

describe(`a publish while a video plays: marquee-player headless (${BACKEND})`, () => {
    let world;
    let player;

    before(async () => {
        world = await startWorld({
            media: {
                film: { type: 'video', seconds: 8 },
                red: { type: 'image', color: 'red' },
                green: { type: 'image', color: 'green' },
                blue: { type: 'image', color: 'blue' },
            },
        });
    });
    after(async () => {
        if (player && !player.exitInfo) await player.kill9().catch(() => {});
        await world?.stop();
    });

    it('the new manifest starts at the video\'s end (outcome "ended"), never mid-video', async () => {
        const p1 = await world.publish([{ media: 'film' }, { media: 'red', durationSeconds: 2 }]);
        player = await startPlayer({ server: world, config: { heartbeat_min_s: 5, poll_min_s: 1, poll_max_s: 2 } });
        const { deviceId } = await pairPlayer(player, world.admin, world.venueId, { name: 'Publish video screen' });
        const m1 = await world.manifest(deviceId);
        assert.equal(m1.body.playlist.playlistId, p1.playlistId);
        const etag1 = m1.body.manifestEtag;
        const film = world.assets.film.assetId;
        assert.deepEqual(m1.body.playlist.items.map((i) => [i.type, i.durationSeconds]), [['VIDEO', 8], ['IMAGE', 2]]);

        // a fresh start of the video, and the publish at once
        const from = (await player.timeline()).length;
        const playing = await player.waitFor(async () => playsOf(await player.timeline())
            .find((p) => p.line >= from && p.start.assetId === film && tagOf(p.start.manifestEtag) === etag1 && !p.end),
        { timeoutMs: 60000, intervalMs: 50, what: 'the video starting' });
        const p2 = await world.publish([{ media: 'green', durationSeconds: 2 }, { media: 'blue', durationSeconds: 2 }]);
        const m2 = await world.manifest(deviceId);
        const etag2 = m2.body.manifestEtag;
        assert.notEqual(etag2, etag1);
        assert.equal(m2.body.playlist.playlistId, p2.playlistId);

        // the player has the new manifest (staged, or applied already) and its assets while the
        // video still plays: status and files first, then the timeline, which must not have
        // that video's end yet
        const want = [world.assets.green.assetId, world.assets.blue.assetId];
        const readyMidVideo = await player.waitFor(async () => {
            const st = await player.status();
            const files = await readdir(path.join(player.dataDir, 'assets'));
            const tl = await player.timeline();
            const still = !tl.slice(playing.line + 1).some((e) => e.event === 'end');
            const held = [st.manifest?.staged?.etag, st.manifest?.current?.etag].map(tagOf).includes(etag2);
            const ready = held && want.every((id) => files.includes(id));
            if (ready) return still ? 'ready while the video plays' : 'ready after the video';
            return still ? null : 'the video ended first';
        }, { timeoutMs: 60000, intervalMs: 100, what: 'the new manifest held with its assets' });
        if (readyMidVideo !== 'ready while the video plays') {
            // a video cut short says more than the precondition
            const cut = playsOf(await player.timeline()).find((p) => p.line === playing.line);
            assert.equal(cut.end?.outcome, 'ended', `the video played to its end: ${JSON.stringify(cut.end)}`);
        }
        assert.equal(readyMidVideo, 'ready while the video plays',
            'precondition: the new manifest was ready to apply before the video ended');

        // the switch
        const plays = await player.waitFor(async () => {
            const all = playsOf(await player.timeline());
            const k = all.findIndex((p) => tagOf(p.start.manifestEtag) === etag2);
            return k >= 0 ? { all, k } : null;
        }, { timeoutMs: 60000, intervalMs: 100, what: 'the first start under the new manifest' });
        const first = plays.all[plays.k];
        const prev = plays.all[plays.k - 1];
        assert.equal(prev.line, playing.line, `the play before the switch is the video that was on screen: ${JSON.stringify(prev.start)}`);
        assert.ok(prev.end && prev.endLine < first.line, 'the video ended before the new manifest started');
        assert.equal(prev.end.outcome, 'ended', `the video played to its end: ${JSON.stringify(prev.end)}`);
        assert.equal(prev.end.assetId, film);
        assert.equal(first.start.index, 0, 'the new manifest from its first item');
        assert.equal(first.start.assetId, world.assets.green.assetId);

        // nothing was cut, before or after: every play from the publish on ended
        await player.waitFor(async () => playsOf(await player.timeline()).filter((p) => tagOf(p.start.manifestEtag) === etag2 && p.end).length >= 2,
            { timeoutMs: 60000, what: 'two plays of the new manifest' });
        const tl = await player.timeline();
        const interrupted = tl.slice(playing.line).filter((e) => e.event === 'end' && e.outcome !== 'ended');
        assert.deepEqual(interrupted, [], 'no item cut short or failed');
        const st = await player.status();
        assert.equal(tagOf(st.manifest.current.etag), etag2);
        assert.equal(tagOf(st.manifest.previous?.etag), etag1);
        await player.stop();
    });
});
