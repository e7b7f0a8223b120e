// SPDX-License-Identifier: MIT
//
// manifest.test.mjs — GET /v1/player/manifest (spec §27.8.1, §31; issue 6) with device tokens
// (§25.3 claims, signed here with the server's key as pairing will sign them): the body's shape
// and settings, playlist null without schedule or fallback, the venue fallback, a group slot
// beating it, the ETag (= manifestEtag) answering 304 and changing exactly when what the
// device should do changes (publish, settings, validToUtc passing), signed media URLs that
// deliver the checksummed bytes, and who may call it (a removed device, another venue, a user
// token: 401). Devices and groups have no API yet: they are inserted with SQL.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { apiClient } from './lib/client.mjs';
import { deviceClient, deviceKey, playerContent, ROW_TIME as NOW } from './lib/devices.mjs';
import { makeFixtures } from './lib/media.mjs';
import { BACKEND, assertProblem, get, startServer } from './lib/server.mjs';

const PASSWORD = 'manifest suite passphrase 1';
const KEY = deviceKey();
const RATE_LIMITS = 'login_ip=10000/60,login_account=10000/60,refresh_user=10000/60,upload=10000/3600,'
    + 'mutation=100000/60,publish=100000/60,manifest=100000/60';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe(`player manifest (${BACKEND})`, () => {
    let srv;
    let fx;
    const A = {};
    const B = {};
    const api = apiClient(() => srv, PASSWORD);
    const { call, ok, createTenant, createVenue } = api;
    const devices = deviceClient(() => srv, KEY);
    const { insertDevice, insertGroup, updateDevice, deviceToken, manifest, fetchManifest } = devices;
    const { readyAsset, playlist, republish, setFallback } = playerContent(api, () => fx);

    before(async () => {
        [srv, fx] = await Promise.all([
            startServer({ args: ['--test-routes', '--jwt-keys', KEY.arg, '--rate-limits', RATE_LIMITS] }),
            makeFixtures(),
        ]);
        await devices.open();
        Object.assign(A, await createTenant('Alpha Manifest', 'admin@alpha-manifest.test'));
        Object.assign(B, await createTenant('Bravo Manifest', 'admin@bravo-manifest.test'));
        A.V1 = await createVenue(A, 'Venue One');
        A.V2 = await createVenue(A, 'Venue Two');
        B.V = await createVenue(B, 'Bravo Venue');
        A.asset = await readyAsset(A);
        B.asset = await readyAsset(B);
        [A.P1, A.P2, B.P] = await Promise.all([playlist(A, A.asset.assetId), playlist(A, A.asset.assetId),
            playlist(B, B.asset.assetId)]);
        A.G1 = await insertGroup(A, A.V1);
        A.D1 = await insertDevice(A, A.V1, { groupId: A.G1 });
        A.D2 = await insertDevice(A, A.V1);
        A.Dgone = await insertDevice(A, A.V1, { deleted: true });
        B.D = await insertDevice(B, B.V);
        A.t1 = deviceToken(A, A.V1, A.D1);
        A.t2 = deviceToken(A, A.V1, A.D2);
    });
    after(async () => {
        await call('POST', '/v1/_test/clock', null, { offsetMs: 0 }).catch(() => {});
        await devices.close();
        await srv?.stop();
    });

    it('no schedule and no fallback: playlist null, default settings, ETag = manifestEtag, 304', async () => {
        const { body, etag } = await fetchManifest(A.t2);
        assert.deepEqual(Object.keys(body), ['manifestEtag', 'validToUtc', 'nextCheckSeconds', 'settings', 'playlist']);
        assert.equal(body.playlist, null);
        assert.equal(etag, `"${body.manifestEtag}"`);
        assert.deepEqual(body.settings, {
            runMode: 'SHARED', launchOnBoot: true, autoRelaunch: false, keepAwake: false,
            watchdogReturnToForeground: false, orientation: 'LANDSCAPE', cacheBudgetBytes: 2000000000,
        });
        // nothing changes within the 6 h horizon: the hour before it, so the tag holds an hour
        const validTo = Date.parse(body.validToUtc);
        assert.equal(validTo % 3600000, 0, `validToUtc ${body.validToUtc} on the hour`);
        assert.ok(validTo <= Date.now() + 6 * 3600 * 1000 && validTo > Date.now() + 5 * 3600 * 1000 - 60000,
            `validToUtc ${body.validToUtc}: within the last hour of the 6 h horizon`);
        assert.equal(body.nextCheckSeconds, 60);
        const again = await manifest(A.t2, { 'If-None-Match': etag });
        assert.equal(again.res.status, 304, again.text);
        assert.equal(again.text, '');
        assert.equal(again.res.headers.get('etag'), etag);
        // the same request again, seconds later: the same tag (not one per second)
        await sleep(1100);
        const twice = await fetchManifest(A.t2);
        const hour = (ms) => Math.floor((ms + 6 * 3600 * 1000) / 3600000);
        if (hour(Date.now()) === validTo / 3600000) { // unless the hour turned in between
            assert.equal(twice.etag, etag);
            assert.equal(twice.body.validToUtc, body.validToUtc);
        }
    });

    it('the venue fallback plays; its items carry signed URLs that deliver the checksummed bytes', async () => {
        const before1 = await fetchManifest(A.t2);
        await setFallback(A, A.V1, A.P1.playlistId);
        const { body, etag } = await fetchManifest(A.t2);
        assert.notEqual(etag, before1.etag, 'the epoch moved: a new ETag');
        assert.equal(body.playlist.playlistId, A.P1.playlistId);
        assert.equal(body.playlist.publishedVersion, 1);
        assert.equal(body.playlist.items.length, 1);
        const item = body.playlist.items[0];
        assert.deepEqual(Object.keys(item).sort(), ['assetId', 'checksumSha256', 'durationSeconds', 'fileSizeBytes',
            'heightPx', 'type', 'url', 'widthPx']);
        assert.equal(item.assetId, A.asset.assetId);
        assert.equal(item.type, 'IMAGE');
        assert.equal(item.durationSeconds, 7);
        assert.equal(item.checksumSha256, fx.jpeg.sha256);
        assert.equal(item.fileSizeBytes, fx.jpeg.size);
        assert.equal(item.widthPx, A.asset.width);
        assert.equal(item.heightPx, A.asset.height);
        const media = await fetch(item.url);
        assert.equal(media.status, 200);
        const bytes = Buffer.from(await media.arrayBuffer());
        assert.equal(createHash('sha256').update(bytes).digest('hex'), item.checksumSha256);
    });

    it('a group slot of the published schedule beats the fallback; a publish changes the tag', async () => {
        const r0 = await call('GET', `/v1/venues/${A.V1}/scheduleset`, A.token);
        const slot = ok(await call('POST', `/v1/venues/${A.V1}/scheduleset/slots`, A.token,
            { targetType: 'GROUP', targetId: A.G1, playlistId: A.P2.playlistId, daysOfWeekMask: 127, startMinutes: 0, endMinutes: 0 },
            { 'If-Match': r0.res.headers.get('etag') }), 201);
        const draftOnly = await fetchManifest(A.t1);
        assert.equal(draftOnly.body.playlist.playlistId, A.P1.playlistId, 'a draft slot plays nowhere');
        const r1 = await call('GET', `/v1/venues/${A.V1}/scheduleset`, A.token);
        ok(await call('POST', `/v1/venues/${A.V1}/scheduleset/publish`, A.token, undefined, { 'If-Match': r1.res.headers.get('etag') }));
        const d1 = await fetchManifest(A.t1);
        assert.equal(d1.body.playlist.playlistId, A.P2.playlistId, `slot ${slot.slotId} for the group`);
        assert.notEqual(d1.etag, draftOnly.etag);
        const d2 = await fetchManifest(A.t2);
        assert.equal(d2.body.playlist.playlistId, A.P1.playlistId, 'no group: the fallback');
        // republishing the fallback playlist moves the version (and the venue epoch)
        const v2 = await republish(A, A.P1);
        assert.equal(v2.publishedVersion, 2);
        const d2b = await fetchManifest(A.t2);
        assert.equal(d2b.body.playlist.publishedVersion, 2);
        assert.notEqual(d2b.etag, d2.etag);
        assert.equal((await manifest(A.t2, { 'If-None-Match': d2.etag })).res.status, 200, 'the old tag is stale');
    });

    it('gzip when the client takes it: the same manifest, the weak form of the same tag, 304 either way', async () => {
        const plain = await fetchManifest(A.t1);
        const r = await manifest(A.t1, { 'Accept-Encoding': 'gzip' });
        assert.equal(r.res.status, 200, r.text);
        assert.equal(r.res.headers.get('content-encoding'), 'gzip');
        assert.match(r.res.headers.get('vary') || '', /Accept-Encoding/i);
        assert.equal(r.res.headers.get('etag'), `W/${plain.etag}`);
        assert.deepEqual(JSON.parse(r.text), plain.body, 'fetch decoded the same manifest');
        for (const [ae, inm] of [['gzip', plain.etag], ['identity', `W/${plain.etag}`], ['gzip', `W/${plain.etag}`]]) {
            const nm = await manifest(A.t1, { 'Accept-Encoding': ae, 'If-None-Match': inm });
            assert.equal(nm.res.status, 304, `${ae} with ${inm}: ${nm.text}`);
        }
        // a client that refuses gzip gets identity
        const no = await manifest(A.t1, { 'Accept-Encoding': 'gzip;q=0, identity' });
        assert.equal(no.res.headers.get('content-encoding'), null);
    });

    it('a settings change changes the tag; nothing else does', async () => {
        const before1 = await fetchManifest(A.t2);
        await updateDevice(A.D2, { orientation: 'PORTRAIT', keepAwake: true });
        const after1 = await fetchManifest(A.t2);
        assert.equal(after1.body.settings.orientation, 'PORTRAIT');
        assert.equal(after1.body.settings.keepAwake, true);
        assert.notEqual(after1.etag, before1.etag);
        assert.equal(after1.body.playlist.publishedVersion, before1.body.playlist.publishedVersion);
        // D1 of the same venue is untouched by D2's settings
        const d1 = await fetchManifest(A.t1);
        assert.equal(d1.body.settings.orientation, 'LANDSCAPE');
    });

    it('who may fetch: device tokens of live devices only, and only their own venue\'s content', async () => {
        const refused = async (token, code, why) => {
            const r = await manifest(token);
            assertProblem(r.res, r.text, { status: 401, code });
            assert.match(r.res.headers.get('www-authenticate') || '', /^Bearer/, why);
        };
        await refused(null, 'UNAUTHORIZED', 'no token');
        await refused(A.token, 'DEVICE_TOKEN_REQUIRED', 'a user token');
        await refused(deviceToken(A, A.V1, A.Dgone), 'INVALID_TOKEN', 'a removed device');
        await refused(deviceToken(A, A.V2, A.D1), 'INVALID_TOKEN', 'a device in another venue than it says');
        await refused(deviceToken(B, A.V1, A.D1), 'INVALID_TOKEN', 'another tenant than the device\'s');
        await refused(deviceToken(A, A.V1, A.D1, { exp: Math.floor(Date.now() / 1000) - 10 }), 'INVALID_TOKEN', 'expired');
        await refused(deviceToken(A, A.V1, randomUUID()), 'INVALID_TOKEN', 'an unknown device');
        await refused(`${A.t1.slice(0, -2)}xx`, 'INVALID_TOKEN', 'a bad signature');
        // a device token is no user token
        const me = await get(`${srv.url}/v1/me`, { headers: { Authorization: `Bearer ${A.t1}` } });
        assert.equal(me.res.status, 401, me.text);
        // tenant B's device sees B's world only
        const b = await fetchManifest(deviceToken(B, B.V, B.D));
        assert.equal(b.body.playlist, null, 'B has no fallback or schedule');
        // a device deleted while its token lives: refused from then on
        await updateDevice(A.D2, { deletedAtUtc: NOW });
        await refused(A.t2, 'INVALID_TOKEN', 'deleted after issue');
    });

    // last: the moved clock leaves rate-limit keys used meanwhile blocked for a while
    it('when validToUtc passes, the next manifest has a new window and a new tag', async () => {
        // a long-lived token: device tokens may be (§25.7), and the clock moves 6 h on
        const token = deviceToken(A, A.V1, A.D1, { exp: Math.floor(Date.now() / 1000) + 30 * 86400 });
        const first = await fetchManifest(token);
        const validTo = Date.parse(first.body.validToUtc);
        try {
            await call('POST', '/v1/_test/clock', null, { offsetMs: validTo - Date.now() + 60 * 1000 });
            const r = await manifest(token, { 'If-None-Match': first.etag });
            assert.equal(r.res.status, 200, r.text);
            const later = JSON.parse(r.text);
            assert.ok(Date.parse(later.validToUtc) > validTo, later.validToUtc);
            assert.equal(later.playlist.playlistId, first.body.playlist.playlistId, 'still the group slot');
            assert.notEqual(r.res.headers.get('etag'), first.etag);
        } finally {
            await call('POST', '/v1/_test/clock', null, { offsetMs: 0 });
        }
    });
});
