// SPDX-License-Identifier: MIT
//
// harness.test.mjs — the parts of the scenario harness that need no player: the timeline reader
// (a torn last line is tolerated, a torn middle line is not), waitFor's failure messages, the
// clear failure of a missing marquee-player binary, and the world (lib/world.mjs) against a real
// marqueed: publish and republish change what a device of the venue is given, and marqueed
// restarts on the same port and store with the origin proxy following it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { BACKEND } from '../api/lib/server.mjs';
import { playerStatus, readTimeline, startPlayer } from './lib/player.mjs';
import { waitFor } from './lib/wait.mjs';
import { startWorld } from './lib/world.mjs';

const sha = (b) => createHash('sha256').update(b).digest('hex');

describe('harness helpers', () => {
    let dir;
    before(async () => {
        dir = await mkdtemp(path.join(os.tmpdir(), 'marquee-harness-'));
    });
    after(async () => {
        await rm(dir, { recursive: true, force: true });
    });

    it('readTimeline: no file is []; a partial last line is left out, a complete one kept; a torn middle line throws', async () => {
        const f = path.join(dir, 'timeline.jsonl');
        assert.deepEqual(await readTimeline(f), []);
        const a = { t: 1, event: 'start', index: 0 };
        const b = { t: 2, event: 'end', index: 0, outcome: 'ended' };
        await writeFile(f, `${JSON.stringify(a)}\n${JSON.stringify(b)}\n{"t":3,"event":"sta`);
        assert.deepEqual(await readTimeline(f), [a, b]);
        await writeFile(f, `${JSON.stringify(a)}\n${JSON.stringify(b)}`);
        assert.deepEqual(await readTimeline(f), [a, b]);
        await writeFile(f, `${JSON.stringify(a)}\n{"t":2,"ev\n${JSON.stringify(b)}\n`);
        await assert.rejects(readTimeline(f), /timeline\.jsonl:2: a timeline line that is not JSON/);
    });

    it('waitFor: resolves the first truthy value; says what it waited for, the last error and the state; failIf stops at once', async () => {
        let n = 0;
        assert.equal(await waitFor(() => (++n >= 3 ? 'yes' : null), { intervalMs: 5 }), 'yes');
        await assert.rejects(waitFor(() => {
            throw new Error('still 7');
        }, { timeoutMs: 200, intervalMs: 20, what: 'the answer', describe: () => 'the state: blue' }),
        (e) => /timed out after 200 ms .* waiting for the answer/.test(e.message) && /still 7/.test(e.message)
            && /the state: blue/.test(e.message));
        await assert.rejects(waitFor(() => false, { timeoutMs: 60000, what: 'never', failIf: () => 'it died' }),
            /gave up waiting for never: it died/);
    });

    it('a missing marquee-player binary fails at once, naming the path and how to build it', async () => {
        const binary = path.join(dir, 'no-such-player');
        await assert.rejects(startPlayer({ server: 'http://127.0.0.1:9', binary }),
            (e) => e.message.includes(binary) && /binary not found/.test(e.message) && /MARQUEE_PLAYER/.test(e.message));
        await assert.rejects(playerStatus(dir, { binary }), /binary not found/);
    });
});

describe(`the world (${BACKEND})`, () => {
    let world;
    let deviceId;

    before(async () => {
        world = await startWorld({
            media: {
                blue: { type: 'image', color: 'blue' },
                big: { type: 'image', color: 'yellow', width: 320, height: 200, bytes: 250_000 },
                noise: { type: 'image', format: 'png', noise: true, width: 200, height: 100 },
                clip: { type: 'video', seconds: 1, color: 'purple' },
            },
            items: [{ media: 'blue', durationSeconds: 4 }, { media: 'clip' }],
        });
        await world.devices.open();
        deviceId = await world.devices.insertDevice(world.tenant, world.venueId);
    });
    after(async () => {
        await world?.stop();
    });

    it('media: made as asked, READY with the uploaded bytes', async () => {
        assert.equal(world.media.big.size, 250_000);
        assert.equal(world.assets.big.checksumSha256, world.media.big.sha256);
        assert.equal(world.assets.noise.contentType, 'image/png');
        assert.deepEqual([world.assets.noise.width, world.assets.noise.height], [200, 100]);
        assert.ok(world.media.noise.size > 20_000, `random pixels compress badly: ${world.media.noise.size} bytes`);
        assert.equal(world.assets.clip.type, 'VIDEO');
        assert.equal(world.assets.clip.durationMs, 1000);
        const more = await world.addMedia('white', { type: 'image', color: 'white', width: 100, height: 100 });
        assert.equal(more.status, 'READY');
        await assert.rejects(world.addMedia('blue2', { type: 'image', color: 'blue' }), /same bytes as blue/);
    });

    it('publish: a new playlist the venue\'s devices get; republish: its next version; each a new ETag', async () => {
        const m1 = await world.manifest(deviceId);
        assert.equal(m1.body.playlist.playlistId, world.current.playlistId);
        assert.deepEqual(m1.body.playlist.items.map((i) => [i.assetId, i.durationSeconds]),
            [[world.assets.blue.assetId, 4], [world.assets.clip.assetId, 1]]);

        const first = world.current.playlistId;
        const p2 = await world.republish([{ media: 'clip' }, { media: 'big', durationSeconds: 9 }]);
        assert.equal(p2.playlistId, first);
        assert.equal(p2.publishedVersion, 2);
        const m2 = await world.manifest(deviceId);
        assert.notEqual(m2.etag, m1.etag);
        assert.equal(m2.body.playlist.publishedVersion, 2);
        assert.deepEqual(m2.body.playlist.items.map((i) => [i.assetId, i.durationSeconds]),
            [[world.assets.clip.assetId, 1], [world.assets.big.assetId, 9]]);

        const p3 = await world.publish([{ media: 'noise', durationSeconds: 1 }]);
        assert.notEqual(p3.playlistId, first);
        const m3 = await world.manifest(deviceId);
        assert.notEqual(m3.etag, m2.etag);
        assert.equal(m3.body.playlist.playlistId, p3.playlistId);
        assert.deepEqual(m3.body.playlist.items.map((i) => i.assetId), [world.assets.noise.assetId]);
        // the URLs name the proxy, which delivers the bytes
        const u = m3.body.playlist.items[0].url;
        assert.equal(new URL(u).origin, world.origin.url);
        assert.equal(sha(Buffer.from(await (await fetch(u)).arrayBuffer())), world.media.noise.sha256);
        await assert.rejects(async () => world.publish([{ media: 'nope' }]), /no media "nope"/);
    });

    it('restartServer: the same port and store; the proxy follows; the world still works', async () => {
        const port = world.port;
        const m1 = await world.manifest(deviceId);
        await world.stopServer();
        const down = await fetch(m1.body.playlist.items[0].url);
        assert.equal(down.status, 502, 'the origin is down behind the proxy');
        await down.arrayBuffer();
        await world.startServer();
        assert.equal(world.port, port);
        const m2 = await world.manifest(deviceId);
        assert.equal(m2.body.playlist.playlistId, m1.body.playlist.playlistId);
        const r = await fetch(m2.body.playlist.items[0].url);
        assert.equal(r.status, 200);
        assert.equal(sha(Buffer.from(await r.arrayBuffer())), world.media.noise.sha256);
        await world.devices.open();
        const d2 = await world.devices.insertDevice(world.tenant, world.venueId);
        assert.equal((await world.manifest(d2)).body.playlist.playlistId, world.current.playlistId);
    });
});
