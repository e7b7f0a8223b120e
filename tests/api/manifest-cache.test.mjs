// SPDX-License-Identifier: MIT
//
// manifest-cache.test.mjs — the manifest cache of GET /v1/player/manifest (spec §31.8) and what
// a device is given when resolution fails (§31.9), seen from outside: the X-Marquee-Manifest
// header says how each answer was made (cached | resolved | stale | degraded), and the bytes,
// the ETag and the playlist say whether it was the right one.
//
//   - one device asks twice: resolved, then cached, byte for byte; devices alike (same venue,
//     group and settings) share the group's manifest, a device with other settings does not;
//   - what must be seen at once, whatever is cached: a schedule publish, a playlist republish,
//     a device moved to another group, a device-level slot added or removed (that device only),
//     a device's own time zone (with the test clock), a move to another venue (old token: 401);
//   - a removed or disabled device, or a disabled tenant: 401 INVALID_TOKEN though cached;
//   - §31.9 with the test fault on: the lineage's last manifest (stale, 304 on its tag), or a
//     degraded one (the venue fallback, else playlist null; 15 s, a minute, its own tag);
//   - /metrics counts each way an answer was made; venues and tenants never share;
//   - with --manifest-cache-ttl-s 1 (a server of its own), a cached manifest is resolved again
//     after a second, and is still the last manifest (stale) when the resolver fails.
// Devices and groups have no API yet: lib/devices.mjs writes them with SQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { apiClient } from './lib/client.mjs';
import { deviceClient, deviceKey, playerContent, ROW_TIME } from './lib/devices.mjs';
import { makeFixtures } from './lib/media.mjs';
import { BACKEND, assertProblem, get, startServer } from './lib/server.mjs';

const PASSWORD = 'manifest cache suite passphrase 1';
const KEY = deviceKey();
const RATE_LIMITS = 'login_ip=10000/60,login_account=10000/60,refresh_user=10000/60,upload=10000/3600,'
    + 'mutation=100000/60,publish=100000/60,manifest=100000/60';
const SOURCES = ['cached', 'resolved', 'stale', 'degraded'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The counters and gauges of the manifest cache in a /metrics text. */
function manifestMetrics(text) {
    const value = (name) => {
        const line = text.split('\n').find((l) => l.startsWith(`${name} `));
        assert.ok(line, `${name} in /metrics:\n${text}`);
        return Number(line.slice(name.length + 1));
    };
    return {
        served: Object.fromEntries(SOURCES.map((s) => [s, value(`marquee_manifests_total{source="${s}"}`)])),
        entries: value('marquee_manifest_cache_entries'),
        bytes: value('marquee_manifest_cache_bytes'),
        evicted: value('marquee_manifest_cache_evicted_total'),
    };
}

/** Resolves early in a wall-clock second (the cache's windows are whole seconds). */
async function secondStart() {
    const ms = Date.now() % 1000;
    if (ms > 250) await sleep(1000 - ms + 20);
}

/** Asserts how a manifest answer was made. */
function madeBy(m, source, why = '') {
    assert.equal(m.source, source, `X-Marquee-Manifest ${m.source}, want ${source}${why ? ` (${why})` : ''}`);
}

describe(`manifest cache (${BACKEND})`, () => {
    let srv;
    let fx;
    const A = {}; // V1: groups made per test, no fallback; V2: a fallback; V3, V4: isolation
    const B = {}; // another tenant, for isolation
    const C = {}; // a tenant that gets disabled
    const api = apiClient(() => srv, PASSWORD);
    const { call, ok, createTenant, createVenue } = api;
    const devices = deviceClient(() => srv, KEY);
    const { insertDevice, insertGroup, updateDevice, deviceToken, manifest, fetchManifest } = devices;
    const { readyAsset, playlist, republish, setFallback, addSlot, deleteSlot, publishSchedule } =
        playerContent(api, () => fx);

    const fault = async (resolver) => ok(await call('POST', '/v1/_test/faults', null, { resolver }));
    const moveClock = async (offsetMs) => ok(await call('POST', '/v1/_test/clock', null, { offsetMs }));
    const refused = async (token, why, headers = {}) => {
        const r = await manifest(token, headers);
        assertProblem(r.res, r.text, { status: 401, code: 'INVALID_TOKEN' });
        assert.match(r.res.headers.get('www-authenticate') || '', /^Bearer/, why);
    };
    /** A group of venue @v whose every-day slot plays @p; the schedule is published. */
    const groupPlaying = async (t, v, p) => {
        const g = await insertGroup(t, v);
        const slot = await addSlot(t, v, { targetType: 'GROUP', targetId: g, playlistId: p.playlistId });
        await publishSchedule(t, v);
        return { groupId: g, slotId: slot.slotId };
    };
    /** @n devices of venue @v ({groupId, …} each): [{id, token}]. */
    const screens = async (t, v, n, opts = {}) => {
        const out = [];
        for (let i = 0; i < n; i++) {
            const id = await insertDevice(t, v, opts);
            out.push({ id, token: deviceToken(t, v, id) });
        }
        return out;
    };

    before(async () => {
        [srv, fx] = await Promise.all([
            startServer({ args: ['--test-routes', '--jwt-keys', KEY.arg, '--rate-limits', RATE_LIMITS] }),
            makeFixtures(),
        ]);
        await devices.open();
        Object.assign(A, await createTenant('Alpha Cache', 'admin@alpha-cache.test'));
        Object.assign(B, await createTenant('Bravo Cache', 'admin@bravo-cache.test'));
        Object.assign(C, await createTenant('Charlie Cache', 'admin@charlie-cache.test'));
        [A.V1, A.V2, A.V3, A.V4] = await Promise.all(['One', 'Two', 'Three', 'Four'].map((n) => createVenue(A, `Venue ${n}`)));
        B.V = await createVenue(B, 'Bravo Venue');
        C.V = await createVenue(C, 'Charlie Venue');
        [A.asset, B.asset] = await Promise.all([readyAsset(A), readyAsset(B)]);
        [A.P1, A.P2, A.P3, A.PF, A.PG3, A.PF3, A.PG4, A.PF4, B.PG, B.PF] = await Promise.all([
            ...Array.from({ length: 8 }, () => playlist(A, A.asset.assetId)),
            playlist(B, B.asset.assetId), playlist(B, B.asset.assetId)]);
        await setFallback(A, A.V2, A.PF.playlistId);
    });
    after(async () => {
        await fault('ok').catch(() => {});
        await moveClock(0).catch(() => {});
        await devices.close();
        await srv?.stop();
    });

    it('one device: resolved, then cached (same bytes and ETag); alike devices share, others do not', async () => {
        const { groupId } = await groupPlaying(A, A.V1, A.P1);
        const [d1, d2] = await screens(A, A.V1, 2, { groupId });

        const first = await fetchManifest(d1.token);
        madeBy(first, 'resolved', 'the first request of its kind');
        assert.equal(first.body.playlist.playlistId, A.P1.playlistId);
        assert.equal(first.etag, `"${first.body.manifestEtag}"`);
        const second = await fetchManifest(d1.token);
        madeBy(second, 'cached');
        assert.equal(second.etag, first.etag);
        assert.equal(second.text, first.text, 'byte for byte');
        // the cached manifest answers If-None-Match and gzip like a resolved one
        const nm = await manifest(d1.token, { 'If-None-Match': first.etag });
        assert.equal(nm.res.status, 304, nm.text);
        assert.equal(nm.res.headers.get('x-marquee-manifest'), 'cached');
        assert.equal(nm.res.headers.get('etag'), first.etag);
        const gz = await fetchManifest(d1.token, { 'Accept-Encoding': 'gzip' });
        madeBy(gz, 'cached');
        assert.equal(gz.res.headers.get('content-encoding'), 'gzip');
        assert.equal(gz.etag, `W/${first.etag}`);
        assert.equal(gz.text, first.text, 'the same bytes, once decoded');

        // another screen of the group with the default settings: the group's manifest
        const other = await fetchManifest(d2.token);
        madeBy(other, 'cached', 'devices without overrides share the group-level manifest');
        assert.equal(other.text, first.text);
        assert.equal(other.etag, first.etag);

        // settings of its own (any one of them): a manifest of its own, with its settings
        const variants = [{ orientation: 'PORTRAIT' }, { runMode: 'KIOSK' }, { launchOnBoot: false },
            { autoRelaunch: true }, { keepAwake: true }, { watchdogReturnToForeground: true }];
        for (const settings of variants) {
            const [d] = await screens(A, A.V1, 1, { groupId, ...settings });
            const own = await fetchManifest(d.token);
            madeBy(own, 'resolved', `other settings (${JSON.stringify(settings)}), another manifest`);
            assert.deepEqual(own.body.settings, { ...first.body.settings, ...settings });
            assert.equal(own.body.playlist.playlistId, A.P1.playlistId);
            assert.notEqual(own.etag, first.etag);
            const ownAgain = await fetchManifest(d.token);
            madeBy(ownAgain, 'cached');
            assert.equal(ownAgain.text, own.text);
        }
        // none of them replaced the group's
        const firstAgain = await fetchManifest(d1.token);
        madeBy(firstAgain, 'cached');
        assert.equal(firstAgain.text, first.text);
        assert.equal(firstAgain.body.settings.orientation, 'LANDSCAPE');
    });

    it('a schedule publish and a playlist republish are seen at once', async () => {
        const { groupId, slotId } = await groupPlaying(A, A.V1, A.P1);
        const [d] = await screens(A, A.V1, 1, { groupId });
        const before1 = await fetchManifest(d.token);
        madeBy(before1, 'resolved');
        assert.equal(before1.body.playlist.playlistId, A.P1.playlistId);
        madeBy(await fetchManifest(d.token), 'cached');

        await deleteSlot(A, A.V1, slotId);
        await addSlot(A, A.V1, { targetType: 'GROUP', targetId: groupId, playlistId: A.P2.playlistId });
        madeBy(await fetchManifest(d.token), 'cached', 'a draft change is nothing to the screens');
        await publishSchedule(A, A.V1);
        const published = await fetchManifest(d.token);
        madeBy(published, 'resolved', 'the epoch moved');
        assert.equal(published.body.playlist.playlistId, A.P2.playlistId);
        assert.notEqual(published.etag, before1.etag);
        const again = await fetchManifest(d.token);
        madeBy(again, 'cached');
        assert.equal(again.text, published.text);
        assert.equal((await manifest(d.token, { 'If-None-Match': before1.etag })).res.status, 200, 'the old tag is stale');

        // a new version of the playlist it plays
        const v = await republish(A, A.P2);
        const republished = await fetchManifest(d.token);
        madeBy(republished, 'resolved');
        assert.equal(republished.body.playlist.playlistId, A.P2.playlistId);
        assert.equal(republished.body.playlist.publishedVersion, v.publishedVersion);
        assert.ok(v.publishedVersion > published.body.playlist.publishedVersion);
    });

    it('a device moved to another group gets that group\'s manifest at once', async () => {
        const g1 = await insertGroup(A, A.V1);
        const g2 = await insertGroup(A, A.V1);
        await addSlot(A, A.V1, { targetType: 'GROUP', targetId: g1, playlistId: A.P1.playlistId });
        await addSlot(A, A.V1, { targetType: 'GROUP', targetId: g2, playlistId: A.P2.playlistId });
        await publishSchedule(A, A.V1);
        const [mover] = await screens(A, A.V1, 1, { groupId: g1 });
        const [peer] = await screens(A, A.V1, 1, { groupId: g2 });
        const inG1 = await fetchManifest(mover.token);
        assert.equal(inG1.body.playlist.playlistId, A.P1.playlistId);
        madeBy(await fetchManifest(mover.token), 'cached');
        const ofG2 = await fetchManifest(peer.token);
        assert.equal(ofG2.body.playlist.playlistId, A.P2.playlistId);

        await updateDevice(mover.id, { groupId: g2 });
        const inG2 = await fetchManifest(mover.token);
        assert.equal(inG2.body.playlist.playlistId, A.P2.playlistId, 'the new group\'s playlist, not the cached one');
        madeBy(inG2, 'cached', 'the new group\'s manifest was cached already');
        assert.equal(inG2.text, ofG2.text);

        await updateDevice(mover.id, { groupId: null });
        const none = await fetchManifest(mover.token);
        assert.equal(none.body.playlist, null, 'no group, no fallback in this venue');

        await updateDevice(mover.id, { groupId: g1 });
        const back = await fetchManifest(mover.token);
        assert.equal(back.body.playlist.playlistId, A.P1.playlistId);
        assert.equal(back.text, inG1.text, 'nothing was published meanwhile: the same manifest');
    });

    it('a device-level slot: that device gets its own manifest, the others of its group keep theirs', async () => {
        const { groupId } = await groupPlaying(A, A.V1, A.P1);
        const [special, plain] = await screens(A, A.V1, 2, { groupId });
        const s0 = await fetchManifest(special.token);
        const p0 = await fetchManifest(plain.token);
        madeBy(p0, 'cached');
        assert.equal(p0.text, s0.text);

        const slot = await addSlot(A, A.V1, { targetType: 'DEVICE', targetId: special.id, playlistId: A.P3.playlistId });
        await publishSchedule(A, A.V1);
        const s1 = await fetchManifest(special.token);
        madeBy(s1, 'resolved');
        assert.equal(s1.body.playlist.playlistId, A.P3.playlistId, 'the device slot beats the group\'s');
        const p1 = await fetchManifest(plain.token);
        assert.equal(p1.body.playlist.playlistId, A.P1.playlistId, 'the others play the group\'s playlist still');
        assert.equal(p1.body.playlist.publishedVersion, p0.body.playlist.publishedVersion);
        assert.deepEqual(p1.body.settings, p0.body.settings);
        assert.notEqual(p1.text, s1.text);
        // each is cached as its own
        const s2 = await fetchManifest(special.token);
        madeBy(s2, 'cached');
        assert.equal(s2.text, s1.text);
        const p2 = await fetchManifest(plain.token);
        madeBy(p2, 'cached');
        assert.equal(p2.text, p1.text);
        // a screen that joins the group gets the group's, not the special device's
        const [late] = await screens(A, A.V1, 1, { groupId });
        const l = await fetchManifest(late.token);
        madeBy(l, 'cached');
        assert.equal(l.text, p1.text);

        // the device slot removed: back to the group's manifest
        await deleteSlot(A, A.V1, slot.slotId);
        await publishSchedule(A, A.V1);
        const p3 = await fetchManifest(plain.token);
        madeBy(p3, 'resolved');
        assert.equal(p3.body.playlist.playlistId, A.P1.playlistId);
        const s3 = await fetchManifest(special.token);
        madeBy(s3, 'cached', 'no override any more: the group-level manifest');
        assert.equal(s3.text, p3.text);
    });

    it('a device moved to another venue: its old token is refused, a new one sees the new venue', async () => {
        const [d] = await screens(A, A.V1, 1);
        const v1 = await fetchManifest(d.token);
        assert.equal(v1.body.playlist, null, 'V1 has no fallback');
        madeBy(await fetchManifest(d.token), 'cached');
        await updateDevice(d.id, { venueId: A.V2, groupId: null });
        await refused(d.token, 'the token names the old venue');
        await refused(d.token, 'not even a 304', { 'If-None-Match': v1.etag });
        const v2 = await fetchManifest(deviceToken(A, A.V2, d.id));
        assert.equal(v2.body.playlist.playlistId, A.PF.playlistId, 'the new venue\'s fallback');
    });

    it('a removed or disabled device, or a tenant not ACTIVE: 401 INVALID_TOKEN though its manifest is cached', async () => {
        const { groupId } = await groupPlaying(A, A.V1, A.P1);
        const [keep, gone, off] = await screens(A, A.V1, 3, { groupId });
        const m = await fetchManifest(keep.token);
        madeBy(m, 'resolved');
        madeBy(await fetchManifest(gone.token), 'cached');
        madeBy(await fetchManifest(off.token), 'cached');

        await updateDevice(gone.id, { deletedAtUtc: ROW_TIME });
        await updateDevice(off.id, { status: 'DISABLED' });
        for (const [d, why] of [[gone, 'removed'], [off, 'disabled']]) {
            await refused(d.token, why);
            await refused(d.token, `${why}, with the cached tag`, { 'If-None-Match': m.etag });
        }
        const still = await fetchManifest(keep.token);
        madeBy(still, 'cached', 'the manifest is cached all along');
        assert.equal(still.text, m.text);
        // enabled again: answered again, from the cache
        await updateDevice(off.id, { status: 'ACTIVE' });
        const on = await fetchManifest(off.token);
        madeBy(on, 'cached');
        assert.equal(on.text, m.text);

        // a tenant disabled while its screens' manifests are cached
        const [c] = await screens(C, C.V, 1);
        const cm = await fetchManifest(c.token);
        madeBy(cm, 'resolved');
        madeBy(await fetchManifest(c.token), 'cached');
        await devices.setTenantStatus(C, 'DISABLED');
        await refused(c.token, 'the tenant is disabled');
        await refused(c.token, 'the tenant is disabled, with the cached tag', { 'If-None-Match': cm.etag });
    });

    it('§31.9: the resolver fails — the last manifest (stale), else a degraded one; then fresh again', async () => {
        const { groupId, slotId } = await groupPlaying(A, A.V1, A.P1);
        const [d1, d2, removed] = await screens(A, A.V1, 3, { groupId });
        // lineages never served: a new group of V2 (fallback PF), a new group of V1 (none)
        const [withFallback] = await screens(A, A.V2, 1, { groupId: await insertGroup(A, A.V2) });
        const [noFallback] = await screens(A, A.V1, 1, { groupId: await insertGroup(A, A.V1) });
        const last = await fetchManifest(d1.token);
        madeBy(last, 'resolved');
        assert.equal(last.body.playlist.playlistId, A.P1.playlistId);

        let degradedFb;
        let degradedNull;
        try {
            await fault('fail');
            const fresh = await fetchManifest(d1.token);
            madeBy(fresh, 'cached', 'a fresh entry needs no resolution');
            assert.equal(fresh.text, last.text);

            // a change the screens cannot be given while the resolver fails
            await deleteSlot(A, A.V1, slotId);
            await addSlot(A, A.V1, { targetType: 'GROUP', targetId: groupId, playlistId: A.P2.playlistId });
            await publishSchedule(A, A.V1);
            const stale = await fetchManifest(d1.token);
            madeBy(stale, 'stale');
            assert.equal(stale.text, last.text, 'the last manifest, byte for byte');
            assert.equal(stale.etag, last.etag);
            const nm = await manifest(d1.token, { 'If-None-Match': last.etag });
            assert.equal(nm.res.status, 304, nm.text);
            assert.equal(nm.res.headers.get('x-marquee-manifest'), 'stale');
            const peer = await fetchManifest(d2.token);
            madeBy(peer, 'stale', 'the group\'s last manifest serves every screen of the group');
            assert.equal(peer.text, last.text);
            // but only screens that are still registered
            await updateDevice(removed.id, { deletedAtUtc: ROW_TIME });
            await refused(removed.token, 'removed, while the resolver fails');
            await refused(removed.token, 'removed, with the last tag', { 'If-None-Match': last.etag });

            // nothing cached for these: a degraded manifest, for a minute, asking again in 15 s
            const t0 = Date.now();
            degradedFb = await fetchManifest(withFallback.token);
            madeBy(degradedFb, 'degraded');
            const fb = degradedFb.body;
            assert.deepEqual(Object.keys(fb), ['manifestEtag', 'validToUtc', 'nextCheckSeconds', 'settings', 'playlist']);
            assert.equal(fb.playlist.playlistId, A.PF.playlistId, 'the venue\'s fallback playlist');
            assert.equal(fb.playlist.items.length, 1);
            assert.equal(fb.playlist.items[0].assetId, A.asset.assetId);
            assert.equal(fb.nextCheckSeconds, 15);
            const validTo = Date.parse(fb.validToUtc);
            assert.ok(validTo >= t0 + 55000 && validTo <= Date.now() + 65000, `validToUtc ${fb.validToUtc}: about now + 60 s`);
            assert.equal(degradedFb.etag, `"${fb.manifestEtag}"`);
            degradedNull = await fetchManifest(noFallback.token);
            madeBy(degradedNull, 'degraded');
            assert.equal(degradedNull.body.playlist, null, 'no fallback: nothing to play, but an answer');
            assert.equal(degradedNull.body.nextCheckSeconds, 15);
            assert.equal(degradedNull.body.settings.runMode, 'SHARED');
            madeBy(await fetchManifest(withFallback.token), 'degraded', 'a degraded manifest is not cached');
        } finally {
            await fault('ok');
        }

        const now1 = await fetchManifest(d1.token);
        madeBy(now1, 'resolved');
        assert.equal(now1.body.playlist.playlistId, A.P2.playlistId, 'the change, once the resolver works');
        assert.notEqual(now1.etag, last.etag);
        madeBy(await fetchManifest(d1.token), 'cached');
        const normal = await fetchManifest(withFallback.token);
        madeBy(normal, 'resolved');
        assert.equal(normal.body.playlist.playlistId, A.PF.playlistId, 'no slot for its group: the fallback');
        assert.equal(normal.body.nextCheckSeconds, 60);
        assert.notEqual(normal.etag, degradedFb.etag, 'a degraded manifest has a tag of its own');
        assert.equal((await manifest(withFallback.token, { 'If-None-Match': degradedFb.etag })).res.status, 200);
        const normalNull = await fetchManifest(noFallback.token);
        madeBy(normalNull, 'resolved');
        assert.equal(normalNull.body.playlist, null);
        assert.notEqual(normalNull.etag, degradedNull.etag);
    });

    it('/metrics counts every answer by how it was made, and the entries the cache holds', async () => {
        const read = async () => {
            const r = await get(`${srv.url}/metrics`);
            assert.equal(r.res.status, 200, r.text);
            assert.match(r.text, /^# TYPE marquee_manifests_total counter$/m);
            assert.match(r.text, /^# TYPE marquee_manifest_cache_entries gauge$/m);
            return manifestMetrics(r.text);
        };
        const g = await insertGroup(A, A.V1);
        const [d] = await screens(A, A.V1, 1, { groupId: g });
        const [fresh] = await screens(A, A.V1, 1, { groupId: await insertGroup(A, A.V1) });
        const m0 = await read();

        const first = await fetchManifest(d.token); // resolved
        madeBy(first, 'resolved');
        madeBy(await fetchManifest(d.token), 'cached');
        const nm = await manifest(d.token, { 'If-None-Match': first.etag }); // a 304 counts as cached
        assert.equal(nm.res.status, 304);
        const m1 = await read();
        assert.deepEqual(m1.served, { ...m0.served, cached: m0.served.cached + 2, resolved: m0.served.resolved + 1 });
        assert.equal(m1.entries, m0.entries + 1, 'a new lineage, a new entry');
        assert.ok(m1.bytes > m0.bytes, `bytes ${m0.bytes} → ${m1.bytes}`);
        assert.equal(m1.evicted, m0.evicted);

        try {
            await fault('fail');
            await addSlot(A, A.V1, { targetType: 'GROUP', targetId: g, playlistId: A.P1.playlistId });
            await publishSchedule(A, A.V1);
            madeBy(await fetchManifest(d.token), 'stale');
            madeBy(await fetchManifest(fresh.token), 'degraded');
        } finally {
            await fault('ok');
        }
        const now1 = await fetchManifest(d.token);
        madeBy(now1, 'resolved');
        assert.equal(now1.body.playlist.playlistId, A.P1.playlistId);
        const m2 = await read();
        assert.deepEqual(m2.served, {
            cached: m1.served.cached, resolved: m1.served.resolved + 1, stale: m1.served.stale + 1,
            degraded: m1.served.degraded + 1,
        });
        assert.equal(m2.entries, m1.entries, 'the lineage\'s entry replaced; a degraded manifest is not kept');
    });

    it('venues and tenants never share: alike group-less screens and alike schedules, each its own playlist', async () => {
        // the same steps in each venue, so that their epochs are equal too
        const venues = [[A, A.V3, A.PG3, A.PF3], [A, A.V4, A.PG4, A.PF4], [B, B.V, B.PG, B.PF]];
        const kinds = [];
        for (const [t, v, pg, pf] of venues) {
            await setFallback(t, v, pf.playlistId);
            const { groupId } = await groupPlaying(t, v, pg);
            const [loose] = await screens(t, v, 1);
            const [grouped] = await screens(t, v, 1, { groupId });
            kinds.push({ t, v, d: loose, want: pf }, { t, v, d: grouped, want: pg });
        }
        const epochs = await devices.sql(`SELECT DISTINCT manifest_epoch FROM venue_epochs
            WHERE venue_id IN ('${A.V3}', '${A.V4}', '${B.V}')`);
        assert.equal(epochs.split('\n').length, 1, `one epoch for the three venues: ${epochs}`);
        for (const round of ['resolved', 'cached']) {
            for (const { t, d, want } of kinds) {
                const m = await fetchManifest(d.token);
                madeBy(m, round, `${t.tenantId === B.tenantId ? 'B' : 'A'}'s screen`);
                assert.equal(m.body.playlist.playlistId, want.playlistId);
                const asset = t === B ? B.asset : A.asset;
                assert.deepEqual(m.body.playlist.items.map((i) => i.assetId), [asset.assetId]);
            }
        }
    });

    // last: the moved clock leaves rate-limit keys used meanwhile blocked for a while
    it('a device with a time zone of its own plays what its zone says, and follows a change of zone at once', async () => {
        // 09:00–10:00 local, every day; at 00:30 UTC it is 09:30 in Tokyo and 00:30 or 01:30 in London
        const g = await insertGroup(A, A.V1);
        await addSlot(A, A.V1, { targetType: 'GROUP', targetId: g, playlistId: A.P2.playlistId, startMinutes: 540, endMinutes: 600 });
        await publishSchedule(A, A.V1);
        const long = { exp: Math.floor(Date.now() / 1000) + 30 * 86400 }; // the clock moves up to a day on
        const ids = [];
        for (const timezone of ['Asia/Tokyo', 'Asia/Tokyo', null]) ids.push(await insertDevice(A, A.V1, { groupId: g, timezone }));
        const [tokyo, tokyo2, local] = ids.map((id) => ({ id, token: deviceToken(A, A.V1, id, long) }));
        const day = 86400000;
        let target = Math.floor(Date.now() / day) * day + 30 * 60000;
        if (target < Date.now() + 60000) target += day;
        try {
            await moveClock(target - Date.now());
            const tk = await fetchManifest(tokyo.token);
            assert.equal(tk.body.playlist?.playlistId, A.P2.playlistId, 'Tokyo: inside 09:00–10:00');
            assert.equal(Date.parse(tk.body.validToUtc), target + 30 * 60000, 'until the slot ends, 10:00 Tokyo');
            const lc = await fetchManifest(local.token);
            assert.equal(lc.body.playlist, null, 'the venue\'s zone (London): outside the slot, and no fallback');
            madeBy(lc, 'resolved', 'the Tokyo manifest is not the group\'s');
            const tk2 = await fetchManifest(tokyo2.token);
            assert.equal(tk2.body.playlist?.playlistId, A.P2.playlistId);
            const again = await fetchManifest(tokyo.token);
            madeBy(again, 'cached');
            assert.equal(again.text, tk.text);
            madeBy(await fetchManifest(local.token), 'cached');

            // the zones change: each device follows at once
            await updateDevice(tokyo.id, { timezone: null });
            await updateDevice(local.id, { timezone: 'Asia/Tokyo' });
            const nowLocal = await fetchManifest(tokyo.token);
            assert.equal(nowLocal.body.playlist, null, 'the venue\'s zone now');
            assert.equal(nowLocal.text, lc.text);
            const nowTokyo = await fetchManifest(local.token);
            assert.equal(nowTokyo.body.playlist?.playlistId, A.P2.playlistId, 'Tokyo now');
            assert.equal(nowTokyo.text, tk.text);
        } finally {
            await moveClock(0);
        }
    });
});

describe(`manifest cache expiry (${BACKEND})`, () => {
    let srv;
    const T = {};
    const api = apiClient(() => srv, PASSWORD);
    const devices = deviceClient(() => srv, KEY);
    const fault = async (resolver) => api.ok(await api.call('POST', '/v1/_test/faults', null, { resolver }));

    before(async () => {
        srv = await startServer({
            args: ['--test-routes', '--jwt-keys', KEY.arg, '--rate-limits', RATE_LIMITS, '--manifest-cache-ttl-s', '1'],
        });
        await devices.open();
        Object.assign(T, await api.createTenant('Tango Cache', 'admin@tango-cache.test'));
        T.V = await api.createVenue(T, 'Tango Venue');
        T.D = await devices.insertDevice(T, T.V);
        T.token = devices.deviceToken(T, T.V, T.D);
    });
    after(async () => {
        await fault('ok').catch(() => {});
        await devices.close();
        await srv?.stop();
    });

    it('with --manifest-cache-ttl-s 1 a cached manifest is resolved again after more than a second', async () => {
        await secondStart();
        const first = await devices.fetchManifest(T.token);
        madeBy(first, 'resolved');
        const second = await devices.fetchManifest(T.token);
        madeBy(second, 'cached', 'within the second');
        assert.equal(second.text, first.text);
        await sleep(1100);
        await secondStart();
        const later = await devices.fetchManifest(T.token);
        madeBy(later, 'resolved', 'the TTL has passed');
        assert.deepEqual(later.body.settings, first.body.settings);
        assert.equal(later.body.playlist, null);
        if (later.body.validToUtc === first.body.validToUtc) assert.equal(later.etag, first.etag, 'nothing changed');
        madeBy(await devices.fetchManifest(T.token), 'cached', 'and cached again');
    });

    it('an entry past its TTL is still the last manifest when the resolver fails: stale', async () => {
        const last = await devices.fetchManifest(T.token);
        try {
            await fault('fail');
            await sleep(1100);
            const stale = await devices.fetchManifest(T.token);
            madeBy(stale, 'stale', 'expired, and the resolver fails');
            assert.equal(stale.text, last.text);
            assert.equal(stale.etag, last.etag);
        } finally {
            await fault('ok');
        }
        madeBy(await devices.fetchManifest(T.token), 'resolved');
    });
});
