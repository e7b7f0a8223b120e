// SPDX-License-Identifier: MIT
//
// world.mjs — everything a screen needs around it, in one call: a real marqueed whose media
// URLs name a fault-injecting origin proxy (origin-proxy.mjs), a tenant with its admin, a venue,
// media made with the ffmpeg CLI and uploaded until READY, and a playlist published to the
// venue so that GET /v1/player/manifest gives it to every device of the venue.
//
//   const world = await startWorld({
//       media: {red: {type: 'image', color: 'red'}, clip: {type: 'video', seconds: 2}},
//       items: [{media: 'red', durationSeconds: 2}, {media: 'clip'}],
//   });
//   const player = await startPlayer({server: world, …});
//   const {deviceId} = await pairPlayer(player, world.admin, world.venueId);
//   world.origin.addFault({match: world.media.clip.sha256, kind: 'cut', fraction: 0.5, times: 1});
//   await world.publish([{media: 'clip'}]);          // another playlist, the venue's now
//   const m = await world.manifest(deviceId);         // what the server gives that device
//   await world.stop();
//
// How a playlist reaches the venue (docs/publishing.md): publish() makes a new library
// playlist, publishes it and sets it as the venue's fallback playlist (no schedule slots: the
// fallback covers every screen of the venue); each call bumps the venue's manifest epoch, so
// the manifest's ETag changes. republish() publishes new items as the next version of the
// current playlist instead (same playlistId, publishedVersion + 1).
//
// The chicken and egg of ports: the proxy starts first with no upstream, marqueed starts with
// media_public_url = the proxy's URL (MARQUEE_MEDIA_PUBLIC_URL), then the proxy is pointed at
// marqueed (setUpstream): no port is guessed. Upload URLs still name marqueed itself.
//
// marqueed runs with --test-routes (POST /v1/_test/clock …), its own token key (so a test can
// sign a device token for any device: world.deviceToken) and rate limits raised far above what
// a test reaches (WORLD_RATE_LIMITS; §27.1's defaults allow 2 manifests and 2 heartbeats a
// minute per device). A suite that tests the limits passes its own `rateLimits`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { apiClient } from '../../api/lib/client.mjs';
import { deviceClient, deviceKey, playerContent } from '../../api/lib/devices.mjs';
import { sha256 } from '../../api/lib/media.mjs';
import { BACKEND, makeStore, startServer } from '../../api/lib/server.mjs';
import { startOriginProxy } from './origin-proxy.mjs';

/** Every rate-limit class of marqueed (auth/limits.c), far above what a scenario reaches. */
export const WORLD_RATE_LIMITS = ['login_ip', 'login_account', 'refresh_user', 'mutation', 'publish', 'upload',
    'manifest', 'heartbeat', 'events', 'commands', 'pairing_ip', 'default_ip', 'default_user', 'default_device']
    .map((c) => `${c}=1000000/60`).join(',');

const PASSWORD = 'scenario world passphrase 1';
const FFMPEG = process.env.FFMPEG || 'ffmpeg';

let mediaDir = null; // a promise: media made in parallel share one directory
function scratch() {
    if (!mediaDir) {
        mediaDir = mkdtemp(path.join(os.tmpdir(), 'marquee-world-media-')).then((d) => {
            process.on('exit', () => rmSync(d, { recursive: true, force: true }));
            return d;
        });
    }
    return mediaDir;
}

function ffmpeg(args) {
    return new Promise((resolve, reject) => {
        execFile(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args],
            { timeout: 120000, maxBuffer: 16 * 1024 * 1024 }, (e, out, err) => {
                if (e) reject(new Error(`ffmpeg ${args.join(' ')}: ${e.message}\n${err}`));
                else resolve();
            });
    });
}

/**
 * Makes one media file with ffmpeg. @spec:
 *   {type: 'image', color = 'blue', width = 640, height = 360, format = 'jpeg' | 'png',
 *    noise = false (random pixels: a large file), bytes (JPEG: random bytes appended after the
 *    end-of-image marker until the file has this many — still a valid JPEG, READY)}
 *   {type: 'video', seconds = 2, width = 320, height = 240, fps = 25, color (a solid colour;
 *    default the moving test pattern), bitrateKbps (x264's average, e.g. 4000 for ~1 MB over
 *    2 s; the server refuses more than 10 Mbps)} — H.264 only, no audio, faststart MP4, so the
 *    duration is exactly seconds (whole seconds: the manifest's durationSeconds is rounded up)
 * Resolves {name, spec, path, bytes, size, sha256, fileName, contentType}.
 */
export async function makeMedia(name, spec) {
    const dir = await scratch();
    const type = spec.type || 'image';
    let file;
    let contentType;
    if (type === 'image') {
        const { color = 'blue', width = 640, height = 360, format = 'jpeg', noise = false } = spec;
        const ext = format === 'png' ? 'png' : 'jpg';
        file = path.join(dir, `${name}.${ext}`);
        contentType = format === 'png' ? 'image/png' : 'image/jpeg';
        const input = noise ? `nullsrc=s=${width}x${height}:d=1,geq=random(1)*255:random(1)*255:random(1)*255`
            : `color=c=${color}:s=${width}x${height}:d=1`;
        const codec = format === 'png' ? ['-c:v', 'png'] : ['-c:v', 'mjpeg', '-q:v', '3', '-pix_fmt', 'yuvj420p'];
        await ffmpeg(['-f', 'lavfi', '-i', input, '-frames:v', '1', ...codec, file]);
        if (spec.bytes) {
            assert.equal(format, 'jpeg', `media ${name}: bytes is for JPEGs`);
            const made = await readFile(file);
            if (made.length < spec.bytes) await writeFile(file, Buffer.concat([made, randomBytes(spec.bytes - made.length)]));
        }
    } else if (type === 'video') {
        const { seconds = 2, width = 320, height = 240, fps = 25, color = null, bitrateKbps = null } = spec;
        assert.ok(Number.isInteger(seconds) && seconds >= 1, `media ${name}: whole seconds`);
        file = path.join(dir, `${name}.mp4`);
        contentType = 'video/mp4';
        const input = color ? `color=c=${color}:s=${width}x${height}:r=${fps}:d=${seconds}`
            : `testsrc2=s=${width}x${height}:r=${fps}:d=${seconds}`;
        await ffmpeg(['-f', 'lavfi', '-i', input, '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
            ...(bitrateKbps ? ['-b:v', `${bitrateKbps}k`, '-maxrate', `${bitrateKbps}k`, '-bufsize', `${bitrateKbps}k`] : []),
            '-movflags', '+faststart', '-metadata', `title=${name}`, file]);
    } else {
        throw new Error(`media ${name}: unknown type ${type}`);
    }
    const bytes = await readFile(file);
    return { name, spec, path: file, bytes, size: bytes.length, sha256: sha256(bytes), fileName: path.basename(file),
        contentType };
}

/**
 * Starts the world. Options:
 *   media       {name: spec} (see makeMedia), made and uploaded to READY, in parallel; two
 *               media with the same bytes are refused (they would share one URL)
 *   items       if given, published at once: [{media: name | assetId, durationSeconds?,
 *               enabled?}] (durationSeconds: an image's display time; a video plays its own)
 *   proxy       true (default): media URLs name an origin proxy; false: marqueed itself
 *   rateLimits  marqueed's --rate-limits (default WORLD_RATE_LIMITS)
 *   serverArgs, serverEnv   more for marqueed
 * Resolves the world: {srv, url, port, origin, api, admin (the tenant's admin: {tenantId,
 * userId, email, token, call, ok}), tenant (= admin), venueId, key, devices (deviceClient),
 * content (playerContent), media {name: file}, assets {name: READY asset}, current (the
 * playlist the venue plays: {playlistId, publishedVersion, etag, items}), addMedia(name, spec),
 * publish(items), republish(items), itemsOf(items), login(), deviceToken(deviceId),
 * manifest(deviceId), stopServer(), startServer(), restartServer(), stop()}.
 */
export async function startWorld({
    media = {}, items = null, proxy = true, rateLimits = WORLD_RATE_LIMITS, serverArgs = [], serverEnv = {},
    backend = BACKEND,
} = {}) {
    const key = deviceKey('kw');
    const origin = proxy ? await startOriginProxy(null) : null;
    let store = null;
    let srv = null;
    const args = ['--test-routes', '--jwt-keys', key.arg, '--rate-limits', rateLimits, ...serverArgs];
    const env = { ...(origin ? { MARQUEE_MEDIA_PUBLIC_URL: origin.url } : {}), ...serverEnv };
    const api = apiClient(() => srv, PASSWORD);
    const devices = deviceClient(() => srv, key);
    const content = playerContent(api, () => {
        throw new Error('world: readyAsset needs the file');
    });
    const world = {
        get srv() {
            return srv;
        },
        get url() {
            return srv.url;
        },
        get port() {
            return srv.port;
        },
        origin,
        api,
        key,
        devices,
        content,
        media: {},
        assets: {},
        current: null,
    };

    try {
        store = await makeStore({ backend });
        srv = await startServer({ store, args, env });
        origin?.setUpstream(srv.url);
        const t = await api.createTenant('Scenario Tenant', 'admin@scenario.test');
        world.admin = { ...t, call: api.call, ok: api.ok };
        world.tenant = world.admin;
        world.venueId = await api.createVenue(t, 'Scenario Venue');

        /** Makes and uploads one more medium; resolves its READY asset. */
        world.addMedia = async (name, spec) => {
            assert.ok(!(name in world.media), `world: media ${name} exists`);
            const f = await makeMedia(name, spec);
            const twin = Object.values(world.media).find((m) => m.sha256 === f.sha256);
            assert.ok(!twin, `world: media ${name} has the same bytes as ${twin?.name} (vary colour or size)`);
            world.media[name] = f;
            const a = await content.readyAsset(world.admin, f);
            assert.equal(a.status, 'READY', JSON.stringify(a));
            world.assets[name] = a;
            return a;
        };
        const made = await Promise.all(Object.entries(media).map(async ([name, spec]) => [name, await makeMedia(name, spec)]));
        for (const [name, f] of made) {
            const twin = Object.values(world.media).find((m) => m.sha256 === f.sha256);
            assert.ok(!twin, `world: media ${name} has the same bytes as ${twin?.name} (vary colour or size)`);
            world.media[name] = f;
        }
        await Promise.all(made.map(async ([name, f]) => {
            const a = await content.readyAsset(world.admin, f);
            assert.equal(a.status, 'READY', JSON.stringify(a));
            world.assets[name] = a;
        }));

        /** Playlist items as the API takes them, from [{media, durationSeconds, enabled}]. */
        world.itemsOf = (list) => list.map((it) => {
            const { media: m, assetId, ...rest } = it;
            const id = assetId ?? world.assets[m]?.assetId ?? (m && /^[0-9a-f-]{36}$/.test(m) ? m : null);
            assert.ok(id, `world: no media "${m}" (have ${Object.keys(world.assets)})`);
            return { assetId: id, ...rest };
        });

        /** A new library playlist of @list, published and made the venue's fallback. */
        world.publish = async (list) => {
            const apiItems = world.itemsOf(list);
            const p = await content.playlist(world.admin, apiItems);
            await content.setFallback(world.admin, world.venueId, p.playlistId);
            world.current = { ...p, items: apiItems };
            return world.current;
        };

        /** @list as the next published version of the current playlist (same playlistId). */
        world.republish = async (list) => {
            assert.ok(world.current, 'world.republish: nothing published yet');
            const apiItems = world.itemsOf(list);
            const prefix = `/v1/library/playlists/${world.current.playlistId}`;
            const cur = await api.call('GET', prefix, world.admin.token);
            api.ok(cur);
            // every draft item replaced: the new ones carry no playlistItemId
            const r = await api.call('PUT', `${prefix}/items`, world.admin.token, { items: apiItems },
                { 'If-Match': cur.res.headers.get('etag') });
            api.ok(r);
            const etag = r.res.headers.get('etag');
            const pub = api.ok(await api.call('POST', `${prefix}/publish`, world.admin.token, undefined, { 'If-Match': etag }));
            world.current = { playlistId: world.current.playlistId, etag, publishedVersion: pub.publishedVersion, items: apiItems };
            return world.current;
        };

        /**
         * Logs the admin in again (world.admin.token): access tokens live 15 minutes of
         * marqueed's clock, so a test that moves it (POST /v1/_test/clock) needs a new one.
         */
        world.login = async () => {
            world.admin.token = await api.login(world.admin.email);
            return world.admin.token;
        };

        /** A device token for @deviceId of the venue, signed with marqueed's key (valid an hour). */
        world.deviceToken = (deviceId) => devices.deviceToken(world.admin, world.venueId, deviceId);
        /** What marqueed answers @deviceId's GET /v1/player/manifest: {body, etag, text, source, res}. */
        world.manifest = (deviceId) => devices.fetchManifest(world.deviceToken(deviceId));

        /** Stops marqueed (SIGTERM, exit 0), keeping its store: the player sees a dead server. */
        world.stopServer = async () => {
            if (srv && !srv.exitInfo) await srv.stop();
        };
        /** Starts marqueed again on the same store and port (so the player's --server stays right). */
        world.startServer = async () => {
            assert.ok(srv.exitInfo, 'world.startServer: marqueed is running');
            const port = srv.port;
            await devices.close();
            srv = await startServer({ store, args, env, listen: `127.0.0.1:${port}` });
            origin?.setUpstream(srv.url);
            return srv;
        };
        world.restartServer = async () => {
            await world.stopServer();
            return world.startServer();
        };

        /** Stops everything (marqueed must exit 0), removes the store. */
        world.stop = async () => {
            const errors = [];
            const attempt = async (f) => {
                try {
                    await f();
                } catch (e) {
                    errors.push(e);
                }
            };
            await attempt(() => devices.close());
            await attempt(() => (srv && !srv.exitInfo ? srv.stop() : null));
            await attempt(() => origin?.close());
            await attempt(() => store?.release());
            if (errors.length) throw errors[0];
        };

        if (items) await world.publish(items);
        return world;
    } catch (e) {
        await devices.close().catch(() => {});
        if (srv && !srv.exitInfo) await srv.stop().catch(() => {});
        await origin?.close().catch(() => {});
        await store?.release().catch(() => {});
        throw e;
    }
}
