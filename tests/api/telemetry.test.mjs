// SPDX-License-Identifier: MIT
//
// telemetry.test.mjs — what players report and what the server concludes from it (spec §17,
// §27.8.2, §27.8.3, §29.4.9, §29.4.10, §30.9; issue 7), seen from outside:
//
//   - POST /v1/player/heartbeat: the whole §27.8.2 body (plus syncStatus, the promised interval
//     and an inventory of files) is shown by GET …/devices/{d}/status as sent; the server's
//     receive time is the heartbeat's, the device clock's distance from it is kept; a heartbeat
//     without an inventory keeps the last one; every bad field is a 400 naming it (dotted path);
//   - POST /v1/player/events: all 17 §27.8.3 types, an unknown one 422 naming events[i].eventType,
//     at most 100 a batch (101: 413), payload an object of at most 4 KiB, a batch sent again is
//     stored once; GET …/events filters by type, severity and time, and pages;
//   - device tokens on both routes: none, a user's, a removed or disabled device's, a moved
//     device's, a disabled tenant's: 401;
//   - alerts (CACHE_NEARLY_FULL, SYNC_STALE, DOWNLOAD_FAILURES, ERRORS_RISING) open and resolve
//     from what devices report, one open alert of a kind per device; the venue summary counts;
//   - who may read: another tenant's device or venue is 404, a venue viewer reads its venue,
//     GET /v1/alerts needs a tenant role;
//   - with the test clock (last): three missed intervals take a device offline (event and
//     DEVICE_OFFLINE alert), its next heartbeat brings it back; ERRORS_RISING resolves after the
//     hour; and a server of its own with --event-retention-days 1 (and the default rate limits).
// Devices have no API yet: lib/devices.mjs writes them with SQL and signs their tokens.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { apiClient } from './lib/client.mjs';
import { deviceClient, deviceKey } from './lib/devices.mjs';
import { BACKEND, assertProblem, startServer } from './lib/server.mjs';

const PASSWORD = 'telemetry suite passphrase 1';
const KEY = deviceKey();
const RATE_LIMITS = 'login_ip=10000/60,login_account=10000/60,refresh_user=10000/60,upload=10000/3600,'
    + 'mutation=100000/60,publish=100000/60,manifest=100000/60,heartbeat=100000/60,events=100000/60';
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const iso = (ms) => new Date(ms).toISOString();
const sha = (c) => c.repeat(64);

// §27.8.3: each event type, its severity and its payload fields
const EVENT_TYPES = {
    APP_STARTED: ['INFO', { appVersion: '1.2.0', deviceModel: 'Shield TV', osVersion: '11' }],
    PLAYBACK_FAILED: ['ERROR', { assetId: 'ast_303', reason: 'DECODE_ERROR', message: 'MediaCodec failed' }],
    DOWNLOAD_FAILED: ['WARNING', { assetId: 'ast_404', url: 'https://cdn.example.com/a.mp4', httpStatus: 503, retryCount: 3 }],
    MANIFEST_FETCH_FAILED: ['WARNING', { httpStatus: 502, reason: 'BAD_GATEWAY' }],
    MANIFEST_STAGED: ['INFO', { manifestEtag: 'm-1' }],
    MANIFEST_APPLIED: ['INFO', { manifestEtag: 'm-2', previousEtag: 'm-1' }],
    MANIFEST_REJECTED: ['WARNING', { manifestEtag: 'm-3', reason: 'SCHEMA' }],
    OFFLINE_ENTERED: ['WARNING', { lastOnlineAtUtc: '2025-06-15T13:40:00Z' }],
    ONLINE_RESTORED: ['INFO', { offlineDurationSeconds: 300 }],
    FALLBACK_TO_PREVIOUS_MANIFEST: ['WARNING', { currentEtag: 'm-3', fallbackEtag: 'm-2' }],
    NO_PLAYABLE_CONTENT: ['ERROR', { manifestEtag: 'm-2' }],
    ERROR_SCREEN_ENTERED: ['ERROR', { reason: 'NO_CONTENT' }],
    LOCAL_MANIFEST_CORRUPT: ['ERROR', { fileName: 'manifest.json', parseError: 'unexpected end' }],
    COMMAND_EXECUTED: ['INFO', { commandId: 'c1', commandType: 'REBOOT_APP' }],
    COMMAND_FAILED: ['ERROR', { commandId: 'c2', commandType: 'CLEAR_CACHE_ALL', reason: 'BUSY' }],
    DEVICE_TOKEN_INVALID: ['ERROR', { httpStatus: 401 }],
    CACHE_EVICTION: ['INFO', { assetId: 'ast_9', freedBytes: 1048576, reason: 'LRU' }],
};

/** One event of @type as a player sends it (its table severity and payload), @over applied. */
function event(type, over = {}) {
    const [severity, payload] = EVENT_TYPES[type] || ['INFO', {}];
    return { eventId: randomUUID(), eventType: type, eventTimeUtc: iso(Date.now() - 5 * SECOND), severity, payload, ...over };
}

/** An inventory of @n files. */
function inventory(n = 2) {
    const states = ['READY', 'DOWNLOADING', 'PENDING', 'FAILED'];
    return Array.from({ length: n }, (_, i) => ({
        assetId: randomUUID(), checksumSha256: sha('0123456789abcdef'[i % 16]), bytes: 1000 * (i + 1), state: states[i % 4],
    }));
}

/** The §27.8.2 body with every field, plus marquee's syncStatus, interval and inventory. */
function fullHeartbeat(over = {}) {
    return {
        deviceTime: iso(Date.now()),
        appVersion: '1.2.0',
        state: 'PLAYING',
        manifestEtag: '"m-0123456789abcdef0123456789abcdef"',
        playback: { playlistId: 'pl_042', publishedVersion: 3, currentAssetId: 'ast_101', currentItemIndex: 0, loopCount: 14 },
        cache: { totalBytes: 2147483648, usedBytes: 524288000, assetCount: 12, pendingDownloads: 1 },
        network: { connected: true, type: 'ETHERNET', lastSyncAtUtc: iso(Date.now() - 17 * SECOND) },
        errors: { playbackFailures: 0, downloadFailures: 2, manifestFetchFailures: 0 },
        syncStatus: 'SYNCING',
        heartbeatIntervalSeconds: 60,
        inventory: inventory(3),
        ...over,
    };
}

/** The smallest heartbeat: the three required fields. */
const minimalHeartbeat = (over = {}) => ({ deviceTime: iso(Date.now()), appVersion: '1.2.0', state: 'PLAYING', ...over });

/** A deep copy of @body with the member at dotted @path set to @value (deleted when undefined). */
function withField(body, path, value) {
    const copy = structuredClone(body);
    const keys = path.split('.');
    let o = copy;
    for (const k of keys.slice(0, -1)) o = o[k];
    if (value === undefined) delete o[keys.at(-1)];
    else o[keys.at(-1)] = value;
    return copy;
}

/** Asserts a problem naming @field (errors[0].field) and returns the body. */
function assertField(r, { status = 400, code, field }) {
    const body = assertProblem(r.res, r.text, { status, code: code ?? JSON.parse(r.text).code });
    assert.ok(Array.isArray(body.errors) && body.errors.length >= 1, `errors[] in ${r.text}`);
    assert.equal(body.errors[0].field, field, r.text);
    assert.ok(body.detail.includes(field), `the detail names ${field}: ${body.detail}`);
    return body;
}

/** Asserts the server logged no 5xx answer and no failed task (the sweeper, retention). */
function assertCleanLogs(srv) {
    const bad = srv.logs().filter((l) => (l.event === 'request' && l.status >= 500) || l.event === 'task_failed'
        || l.level === 'error');
    assert.deepEqual(bad, [], 'no 5xx, no failed task, no error in the log');
}

/** Asserts @ms (a server timestamp) is within @slack of @want. */
function near(ts, want, slack, what) {
    const ms = Date.parse(ts);
    assert.ok(Number.isFinite(ms), `${what}: ${ts} is a time`);
    assert.ok(Math.abs(ms - want) <= slack, `${what}: ${ts} is within ${slack} ms of ${iso(want)}`);
}

describe(`telemetry (${BACKEND})`, () => {
    let srv;
    const A = {}; // V1, V2, V3 (summary), V4 (alerts), V5 (many); users: viewer (V1), venue manager (V1), tenant viewer
    const B = {}; // another tenant
    const C = {}; // a tenant that gets disabled
    const api = apiClient(() => srv, PASSWORD);
    const { call, ok, createTenant, createVenue, createUser } = api;
    const devices = deviceClient(() => srv, KEY);
    const { sql, insertDevice, updateDevice, deviceToken } = devices;

    const moveClock = async (offsetMs) => ok(await call('POST', '/v1/_test/clock', null, { offsetMs }));
    const runJob = async (name) => ok(await call('POST', `/v1/_test/jobs/${name}`, null));
    const heartbeat = (token, body) => call('POST', '/v1/player/heartbeat', token, body);
    const sendEvents = (token, events, over = {}) =>
        call('POST', '/v1/player/events', token, { deviceTime: iso(Date.now()), events, ...over });
    /** A heartbeat that must be a 204 without a body. */
    const beat = async (s, body = minimalHeartbeat()) => {
        const r = await heartbeat(s.token, body);
        assert.equal(r.res.status, 204, r.text);
        assert.equal(r.text, '');
    };
    const post = async (s, events) => {
        const r = await sendEvents(s.token, events);
        assert.equal(r.res.status, 204, r.text);
        assert.equal(r.text, '');
    };
    /** A device of venue @v of tenant @t: {t, v, id, token}. */
    const screen = async (t, v, opts = {}) => {
        const id = await insertDevice(t, v, opts);
        return { t, v, id, token: deviceToken(t, v, id) };
    };
    const statusOf = async (s, token = s.t.token) => ok(await call('GET', `/v1/venues/${s.v}/devices/${s.id}/status`, token));
    /** Every event of device @s (all pages) for @query. */
    const eventsOf = async (s, query = '', { limit = 200, token = s.t.token } = {}) => {
        const items = [];
        let cursor = null;
        do {
            const q = new URLSearchParams(query);
            q.set('limit', String(limit));
            if (cursor) q.set('cursor', cursor);
            const page = ok(await call('GET', `/v1/venues/${s.v}/devices/${s.id}/events?${q}`, token));
            assert.ok(page.items.length <= limit);
            items.push(...page.items);
            cursor = page.nextCursor;
        } while (cursor);
        return items;
    };
    /** Alerts of venue @v (default: OPEN) as tenant @t's admin sees them. */
    const alertsOf = async (t, v, query = '') => ok(await call('GET', `/v1/venues/${v}/alerts?${query}`, t.token)).items;
    /** The alerts of device @s of @kind with @status ('OPEN' | 'RESOLVED'). */
    const alertsOfKind = async (s, kind, status = 'OPEN') =>
        (await alertsOf(s.t, s.v, `status=${status}&deviceId=${s.id}`)).filter((a) => a.kind === kind);
    const openKinds = async (s) => (await statusOf(s)).openAlerts;

    before(async () => {
        srv = await startServer({ args: ['--test-routes', '--jwt-keys', KEY.arg, '--rate-limits', RATE_LIMITS] });
        await devices.open();
        Object.assign(A, await createTenant('Alpha Telemetry', 'admin@alpha-telemetry.test'));
        Object.assign(B, await createTenant('Bravo Telemetry', 'admin@bravo-telemetry.test'));
        Object.assign(C, await createTenant('Charlie Telemetry', 'admin@charlie-telemetry.test'));
        [A.V1, A.V2, A.V3, A.V4, A.V5] = await Promise.all(['One', 'Two', 'Three', 'Four', 'Five'].map((n) => createVenue(A, `Venue ${n}`)));
        B.V = await createVenue(B, 'Bravo Venue');
        C.V = await createVenue(C, 'Charlie Venue');
        A.viewer = await createUser(A, 'viewer@alpha-telemetry.test', { venueRoles: [{ venueId: A.V1, role: 'VENUE_VIEWER' }] });
        A.manager = await createUser(A, 'manager@alpha-telemetry.test', { venueRoles: [{ venueId: A.V1, role: 'VENUE_MANAGER' }] });
        A.tviewer = await createUser(A, 'tviewer@alpha-telemetry.test', { tenantRoles: ['TENANT_VIEWER'] });
    });
    after(async () => {
        await moveClock(0).catch(() => {});
        await devices.close();
        await srv?.stop();
        if (srv) assertCleanLogs(srv);
    });

    // ---- heartbeats ------------------------------------------------------------------------

    it('a device clock that is far off (1970, or years ahead) is taken as it is, with its skew', async () => {
        const s = await screen(A, A.V1);
        for (const deviceTime of ['1970-01-01T00:00:05Z', iso(Date.now() + 3 * 365 * DAY)]) {
            const t0 = Date.now();
            await beat(s, fullHeartbeat({ deviceTime }));
            const st = await statusOf(s);
            near(st.lastHeartbeatAtUtc, t0, 5 * SECOND, 'the server time is the heartbeat\'s');
            assert.equal(st.deviceTimeUtc, iso(Date.parse(deviceTime)));
            assert.ok(Math.abs(st.clockSkewMs - (Date.parse(deviceTime) - Date.parse(st.lastHeartbeatAtUtc))) <= 1,
                `clockSkewMs ${st.clockSkewMs}`);
        }
        // an event dated by such a clock is kept with that date, and listed by when it arrived
        await post(s, [event('APP_STARTED', { eventTimeUtc: '1970-01-01T00:00:07Z' })]);
        const [e] = await eventsOf(s);
        assert.equal(e.eventTimeUtc, '1970-01-01T00:00:07.000Z');
        near(e.receivedAtUtc, Date.now(), 5 * SECOND, 'receivedAtUtc is the server\'s');
    });

    it('an event without an eventId (as in §27.8.3\'s example) is accepted, and stored once however often it is sent', async () => {
        const s = await screen(A, A.V1);
        const bare = event('MANIFEST_STAGED', { eventId: undefined });
        const other = event('MANIFEST_STAGED', { eventId: undefined, payload: { manifestEtag: 'm-2' } });
        await post(s, [bare]);
        await post(s, [bare, other]);
        const all = await eventsOf(s);
        assert.equal(all.length, 2, 'the repeat is dropped, the different one kept');
        for (const e of all) assert.match(e.eventId, /^h:[0-9a-f]{40}$/);
        assert.notEqual(all[0].eventId, all[1].eventId);
    });

    it('a string with a NUL inside is refused (the JSON reader takes no \\u0000), not cut short', async () => {
        const s = await screen(A, A.V1);
        const r = await sendEvents(s.token, [event('APP_STARTED', { eventType: 'APP_STARTED\u0000x' })]);
        assertProblem(r.res, r.text, { status: 400, code: 'MALFORMED_JSON' });
        const h = await heartbeat(s.token, { ...minimalHeartbeat(), appVersion: '1.0\u0000evil' });
        assertProblem(h.res, h.text, { status: 400, code: 'MALFORMED_JSON' });
        assert.deepEqual(await eventsOf(s), []);
        assert.equal((await statusOf(s)).lastHeartbeatAtUtc, null);
    });

    it('a full heartbeat: 204, and the status shows every field as sent, with the server time authoritative', async () => {
        const s = await screen(A, A.V1);
        const fresh = await statusOf(s);
        assert.equal(fresh.online, false, 'never seen: offline');
        assert.equal(fresh.lastHeartbeatAtUtc, null);
        assert.equal(fresh.inventory, null);

        // the device clock is three hours behind: accepted, and the server's time is the heartbeat's
        const deviceTime = Date.now() - 3 * HOUR;
        const body = fullHeartbeat({ deviceTime: iso(deviceTime) });
        const t0 = Date.now();
        await beat(s, body);
        const st = await statusOf(s);
        assert.equal(st.deviceId, s.id);
        assert.equal(st.online, true);
        near(st.lastHeartbeatAtUtc, t0, 5 * SECOND, 'lastHeartbeatAtUtc is the server time');
        assert.equal(st.onlineChangedAtUtc, st.lastHeartbeatAtUtc, 'it came online with this heartbeat');
        assert.equal(st.deviceTimeUtc, iso(deviceTime), 'the device time as sent (normalized)');
        assert.equal(typeof st.clockSkewMs, 'number');
        assert.ok(Math.abs(st.clockSkewMs - (deviceTime - Date.parse(st.lastHeartbeatAtUtc))) <= 1,
            `clockSkewMs ${st.clockSkewMs} = deviceTime − server time`);
        assert.ok(Math.abs(st.clockSkewMs + 3 * HOUR) <= 5 * SECOND, `about −3 h: ${st.clockSkewMs}`);
        assert.equal(st.appVersion, body.appVersion);
        assert.equal(st.state, body.state);
        assert.equal(st.manifestEtag, body.manifestEtag);
        assert.equal(st.syncStatus, 'SYNCING');
        assert.equal(st.heartbeatIntervalSeconds, 60);
        assert.deepEqual(st.playback, body.playback);
        assert.deepEqual(st.cache, body.cache);
        assert.deepEqual(st.network, { ...body.network, lastSyncAtUtc: iso(Date.parse(body.network.lastSyncAtUtc)) });
        assert.deepEqual(st.errors, body.errors);
        assert.deepEqual(st.inventory, body.inventory);
        assert.deepEqual(st.openAlerts, []);

        // an hour ahead works as well: skew positive
        await beat(s, fullHeartbeat({ deviceTime: iso(Date.now() + HOUR) }));
        const ahead = await statusOf(s);
        assert.ok(Math.abs(ahead.clockSkewMs - HOUR) <= 5 * SECOND, `about +1 h: ${ahead.clockSkewMs}`);
        near(ahead.lastHeartbeatAtUtc, Date.now(), 5 * SECOND, 'still the server time');
        assert.equal(ahead.onlineChangedAtUtc, st.onlineChangedAtUtc, 'online all along');

        // the device record: last seen and app version (GET of a device is being written)
        const d = await call('GET', `/v1/venues/${s.v}/devices/${s.id}`, A.token);
        if (d.res.status !== 404) {
            const dev = ok(d);
            assert.equal(dev.appVersion, '1.2.0');
            assert.equal(dev.lastSeenAtUtc, ahead.lastHeartbeatAtUtc);
        }
        // the first heartbeat of a device is no "restored" transition: nothing was lost
        assert.deepEqual(await eventsOf(s), []);
    });

    it('a heartbeat replaces what it says; without an inventory the last one is kept, [] clears it', async () => {
        const s = await screen(A, A.V1);
        const first = fullHeartbeat();
        await beat(s, first);
        await beat(s, minimalHeartbeat({ appVersion: '1.3.0', state: 'BOOTING', syncStatus: 'SYNCED' }));
        const st = await statusOf(s);
        assert.equal(st.appVersion, '1.3.0');
        assert.equal(st.state, 'BOOTING');
        assert.equal(st.syncStatus, 'SYNCED');
        assert.deepEqual(st.inventory, first.inventory, 'the inventory is kept until the next one');
        assert.equal(st.manifestEtag, null, 'said nothing: null');
        assert.deepEqual(st.playback, { playlistId: null, publishedVersion: null, currentAssetId: null, currentItemIndex: null, loopCount: null });
        assert.deepEqual(st.cache, { totalBytes: null, usedBytes: null, assetCount: null, pendingDownloads: null });
        assert.deepEqual(st.network, { connected: null, type: null, lastSyncAtUtc: null });
        assert.equal(st.heartbeatIntervalSeconds, null);

        // explicit nulls are "not said" as well
        await beat(s, minimalHeartbeat({ manifestEtag: null, playback: null, cache: null, syncStatus: null, inventory: null }));
        assert.deepEqual((await statusOf(s)).inventory, first.inventory);

        const next = inventory(1);
        await beat(s, minimalHeartbeat({ inventory: next }));
        assert.deepEqual((await statusOf(s)).inventory, next, 'a new inventory replaces the old');
        await beat(s, minimalHeartbeat({ inventory: [] }));
        assert.deepEqual((await statusOf(s)).inventory, [], 'an empty one: holds no files');
        // the boundaries that are allowed
        await beat(s, minimalHeartbeat({ heartbeatIntervalSeconds: 5, network: { connected: false, type: 'NONE' } }));
        await beat(s, minimalHeartbeat({ heartbeatIntervalSeconds: 3600, deviceTime: '2000-01-01T00:00:00Z' }));
        await beat(s, minimalHeartbeat({ deviceTime: iso(Date.now() + 12 * HOUR) }));
        await beat(s, minimalHeartbeat({ inventory: inventory(5000) }));
        assert.equal((await statusOf(s)).inventory.length, 5000);
    });

    it('every bad heartbeat field is a 400 naming the field, and nothing is stored', async () => {
        const s = await screen(A, A.V1);
        const good = fullHeartbeat();
        const bad = [
            // [path, value, code?]
            ['deviceTime', undefined, 'FIELD_REQUIRED'],
            ['deviceTime', 'yesterday'],
            ['deviceTime', '2025-06-15T13:45:12'],
            ['deviceTime', '2025-06-15T13:45:12+00:00'],
            ['deviceTime', '2025-06-15 13:45:12Z'],
            ['deviceTime', '2025-02-30T13:45:12Z'],
            ['deviceTime', 1750000000000],
            ['deviceTime', ''],
            ['appVersion', undefined, 'FIELD_REQUIRED'],
            ['appVersion', ''],
            ['appVersion', 120],
            ['appVersion', 'v'.repeat(65)],
            ['state', undefined, 'FIELD_REQUIRED'],
            ['state', 'DANCING'],
            ['state', 'playing'],
            ['state', true],
            ['manifestEtag', 5],
            ['manifestEtag', ''],
            ['manifestEtag', 'e'.repeat(65)],
            ['syncStatus', 'Synced'],
            ['syncStatus', 'DONE'],
            ['syncStatus', 1],
            ['heartbeatIntervalSeconds', 4],
            ['heartbeatIntervalSeconds', 3601],
            ['heartbeatIntervalSeconds', 1.5],
            ['heartbeatIntervalSeconds', '60'],
            ['playback', 'pl_042'],
            ['playback', []],
            ['playback.playlistId', 42],
            ['playback.playlistId', 'p'.repeat(37)],
            ['playback.publishedVersion', 0],
            ['playback.publishedVersion', '3'],
            ['playback.currentAssetId', {}],
            ['playback.currentItemIndex', -1],
            ['playback.currentItemIndex', 0.5],
            ['playback.currentItemIndex', 2 ** 31],
            ['playback.loopCount', -1],
            ['playback.loopCount', '14'],
            ['playback.shuffle', true, 'UNKNOWN_FIELD'],
            ['cache', 7],
            ['cache.totalBytes', -1],
            ['cache.usedBytes', '524288000'],
            ['cache.usedBytes', 1e300],
            ['cache.assetCount', 2 ** 31],
            ['cache.pendingDownloads', -2],
            ['cache.freeBytes', 5, 'UNKNOWN_FIELD'],
            ['network', true],
            ['network.connected', 'yes'],
            ['network.connected', 1],
            ['network.type', 'LTE'],
            ['network.type', 'wifi'],
            ['network.lastSyncAtUtc', 'now'],
            ['network.lastSyncAtUtc', '2025-06-15T13:44:55.1Z'],
            ['network.ssid', 'pub', 'UNKNOWN_FIELD'],
            ['errors', 'none'],
            ['errors.playbackFailures', -1],
            ['errors.downloadFailures', 1.5],
            ['errors.manifestFetchFailures', null, null], // null is allowed (not said)
            ['errors.manifestFetchFailures', 'x'],
            ['errors.decodeFailures', 0, 'UNKNOWN_FIELD'],
            ['colour', 'blue', 'UNKNOWN_FIELD'],
            ['inventory', 'all'],
            ['inventory', {}],
        ];
        for (const [path, value, code] of bad) {
            const r = await heartbeat(s.token, withField(good, path, value));
            if (code === null) {
                assert.equal(r.res.status, 204, `${path} = ${JSON.stringify(value)}: ${r.text}`);
                continue;
            }
            assertField(r, { code: code ?? 'INVALID_FIELD', field: path });
        }
        // the inventory, entry by entry
        const entry = inventory(1)[0];
        const badFiles = [
            [[5], 'inventory[0]'],
            [[entry, 'x'], 'inventory[1]'],
            [[{ ...entry, assetId: undefined }], 'inventory[0].assetId', 'FIELD_REQUIRED'],
            [[{ ...entry, assetId: 'ast_1' }], 'inventory[0].assetId'],
            [[{ ...entry, checksumSha256: undefined }], 'inventory[0].checksumSha256', 'FIELD_REQUIRED'],
            [[entry, { ...entry, checksumSha256: sha('A') }], 'inventory[1].checksumSha256'],
            [[{ ...entry, checksumSha256: 'abc' }], 'inventory[0].checksumSha256'],
            [[{ ...entry, checksumSha256: sha('g') }], 'inventory[0].checksumSha256'],
            [[{ ...entry, bytes: undefined }], 'inventory[0].bytes', 'FIELD_REQUIRED'],
            [[{ ...entry, bytes: -1 }], 'inventory[0].bytes'],
            [[{ ...entry, bytes: '1000' }], 'inventory[0].bytes'],
            [[{ ...entry, state: undefined }], 'inventory[0].state', 'FIELD_REQUIRED'],
            [[{ ...entry, state: 'DONE' }], 'inventory[0].state'],
            [[{ ...entry, size: 1 }], 'inventory[0].size', 'UNKNOWN_FIELD'],
            [inventory(5001), 'inventory'],
        ];
        for (const [inv, field, code] of badFiles) {
            assertField(await heartbeat(s.token, { ...good, inventory: inv }), { code: code ?? 'INVALID_FIELD', field });
        }
        // not an object, not JSON, no body
        for (const body of ['[]', '"beat"', '{']) {
            const r = await heartbeat(s.token, body);
            assert.equal(r.res.status, 400, `${body}: ${r.text}`);
        }
        const none = await call('POST', '/v1/player/heartbeat', s.token, undefined, { 'Content-Type': 'application/json' });
        assert.equal(none.res.status, 400, none.text);
        const st = await statusOf(s);
        assert.equal(st.appVersion, good.appVersion, 'only the one heartbeat with a null (allowed) was stored');
        assert.deepEqual(st.inventory, good.inventory);
    });

    // ---- events ----------------------------------------------------------------------------

    it('every §27.8.3 event type is accepted and shown with its severity, time and payload', async () => {
        const s = await screen(A, A.V1);
        const sent = Object.keys(EVENT_TYPES).map((type, i) => event(type, { eventTimeUtc: iso(Date.now() - (60 - i) * SECOND) }));
        assert.equal(sent.length, 17);
        const t0 = Date.now();
        await post(s, sent);
        const got = await eventsOf(s);
        assert.equal(got.length, 17);
        for (const e of sent) {
            const g = got.find((x) => x.eventId === e.eventId);
            assert.ok(g, `${e.eventType} is stored`);
            assert.equal(g.eventType, e.eventType);
            assert.equal(g.severity, EVENT_TYPES[e.eventType][0]);
            assert.equal(g.eventTimeUtc, e.eventTimeUtc, 'the device time as sent');
            assert.deepEqual(g.payload, e.payload);
            near(g.receivedAtUtc, t0, 5 * SECOND, 'receivedAtUtc is the server time');
            assert.match(g.deviceEventId, /^[0-9a-f-]{36}$/);
        }
        // one batch: shown newest first by device time
        assert.deepEqual(got.map((g) => g.eventId), sent.map((e) => e.eventId).reverse());
        // a severity of the three other than the table's is the device's to say; a payload may be left out
        const bare = [event('CACHE_EVICTION', { payload: undefined }),
            event('CACHE_EVICTION', { payload: null, eventTimeUtc: '2025-06-15T13:42:10Z' })];
        await post(s, [event('APP_STARTED', { severity: 'WARNING' }), ...bare]);
        const more = await eventsOf(s, 'type=CACHE_EVICTION');
        assert.equal(more.length, 3);
        assert.deepEqual(more.filter((e) => bare.some((b) => b.eventId === e.eventId)).map((e) => e.payload), [{}, {}]);
        assert.ok(more.some((e) => e.eventTimeUtc === '2025-06-15T13:42:10.000Z'), 'normalized to milliseconds');
        assert.equal((await eventsOf(s, 'type=APP_STARTED&severity=WARNING')).length, 1);
    });

    it('bad batches: unknown type 422 naming it, bad fields 400 naming them, and nothing of the batch is stored', async () => {
        const s = await screen(A, A.V1);
        const good = event('APP_STARTED');
        const cases = [
            // [events, field, status, code]
            [[good, event('APP_EXPLODED')], 'events[1].eventType', 422, 'UNKNOWN_EVENT_TYPE'],
            [[event('app_started')], 'events[0].eventType', 422, 'UNKNOWN_EVENT_TYPE'],
            [[event('APP_STARTED', { eventType: undefined })], 'events[0].eventType', 400, 'FIELD_REQUIRED'],
            [[event('APP_STARTED', { eventType: 7 })], 'events[0].eventType', 400, 'INVALID_FIELD'],
            [[good, event('PLAYBACK_FAILED', { severity: 'CRITICAL' })], 'events[1].severity', 400, 'INVALID_FIELD'],
            [[event('PLAYBACK_FAILED', { severity: 'error' })], 'events[0].severity', 400, 'INVALID_FIELD'],
            [[event('PLAYBACK_FAILED', { severity: undefined })], 'events[0].severity', 400, 'FIELD_REQUIRED'],
            [[event('APP_STARTED', { eventTimeUtc: undefined })], 'events[0].eventTimeUtc', 400, 'FIELD_REQUIRED'],
            [[event('APP_STARTED', { eventTimeUtc: 'soon' })], 'events[0].eventTimeUtc', 400, 'INVALID_FIELD'],
            [[event('APP_STARTED', { eventTimeUtc: '2025-06-15T13:42:10' })], 'events[0].eventTimeUtc', 400, 'INVALID_FIELD'],
            [[event('APP_STARTED', { eventId: '' })], 'events[0].eventId', 400, 'INVALID_FIELD'],
            [[event('APP_STARTED', { eventId: 'e'.repeat(65) })], 'events[0].eventId', 400, 'INVALID_FIELD'],
            [[event('APP_STARTED', { eventId: 17 })], 'events[0].eventId', 400, 'INVALID_FIELD'],
            [[good, { ...event('CACHE_EVICTION'), eventId: good.eventId }], 'events[1].eventId', 400, 'INVALID_FIELD'],
            [[event('APP_STARTED', { payload: 'started' })], 'events[0].payload', 400, 'INVALID_FIELD'],
            [[event('APP_STARTED', { payload: [1, 2] })], 'events[0].payload', 400, 'INVALID_FIELD'],
            [[event('APP_STARTED', { payload: 5 })], 'events[0].payload', 400, 'INVALID_FIELD'],
            [[event('APP_STARTED', { payload: { message: 'x'.repeat(4097) } })], 'events[0].payload', 400, 'INVALID_FIELD'],
            [[event('APP_STARTED', { colour: 'red' })], 'events[0].colour', 400, 'UNKNOWN_FIELD'],
            [[good, 'APP_STARTED'], 'events[1]', 400, 'INVALID_FIELD'],
            [[], 'events', 400, 'INVALID_FIELD'],
        ];
        for (const [events, field, status, code] of cases) {
            assertField(await sendEvents(s.token, events), { status, code, field });
        }
        for (const [over, field, code] of [
            [{ events: undefined }, 'events', 'INVALID_FIELD'],
            [{ events: { 0: good } }, 'events', 'INVALID_FIELD'],
            [{ deviceTime: undefined }, 'deviceTime', 'FIELD_REQUIRED'],
            [{ deviceTime: '2025-06-15T13:45:30+02:00' }, 'deviceTime', 'INVALID_FIELD'],
            [{ batchId: 'b1' }, 'batchId', 'UNKNOWN_FIELD'],
        ]) {
            const body = { deviceTime: iso(Date.now()), events: [good], ...over };
            for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
            assertField(await call('POST', '/v1/player/events', s.token, body), { code, field });
        }
        assert.deepEqual(await eventsOf(s), [], 'no event of a refused batch is stored');
        // a payload of just under 4 KiB is fine
        const big = event('PLAYBACK_FAILED', { payload: { message: 'x'.repeat(4000) } });
        await post(s, [big]);
        assert.deepEqual((await eventsOf(s))[0].payload, big.payload);
    });

    it('100 events a batch; 101 is a 413 and nothing is stored', async () => {
        const s = await screen(A, A.V1);
        const hundred = Array.from({ length: 100 }, () => event('CACHE_EVICTION'));
        await post(s, hundred);
        assert.equal((await eventsOf(s)).length, 100);
        const r = await sendEvents(s.token, Array.from({ length: 101 }, () => event('CACHE_EVICTION')));
        const p = assertProblem(r.res, r.text, { status: 413, code: 'TOO_MANY_EVENTS' });
        assert.equal(p.maxEvents, 100);
        assert.equal((await eventsOf(s)).length, 100);
    });

    it('a batch sent again is stored once; a batch that overlaps adds only its new events', async () => {
        const s = await screen(A, A.V1);
        const batch = [event('MANIFEST_STAGED'), event('MANIFEST_APPLIED'), event('CACHE_EVICTION')];
        await post(s, batch);
        await post(s, batch);
        assert.equal((await eventsOf(s)).length, 3);
        await post(s, [...batch.slice(1), event('APP_STARTED')]);
        const all = await eventsOf(s);
        assert.equal(all.length, 4);
        assert.equal(new Set(all.map((e) => e.eventId)).size, 4);
        // the same id from another device is that device's own
        const other = await screen(A, A.V1);
        await post(other, batch);
        assert.equal((await eventsOf(other)).length, 3);
    });

    it('GET …/events filters by type, severity and received time, and pages without gaps or repeats', async () => {
        const s = await screen(A, A.V1);
        const first = Object.keys(EVENT_TYPES).map((type) => event(type));
        await post(s, first);
        await new Promise((r) => setTimeout(r, 50));
        const mid = Date.now();
        await new Promise((r) => setTimeout(r, 50));
        const second = [event('DOWNLOAD_FAILED'), event('APP_STARTED')];
        await post(s, second);

        const all = await eventsOf(s);
        assert.equal(all.length, 19);
        assert.deepEqual(all.slice(0, 2).map((e) => e.eventId).sort(), second.map((e) => e.eventId).sort(), 'newest batch first');
        // type and severity
        assert.equal((await eventsOf(s, 'type=DOWNLOAD_FAILED')).length, 2);
        const errors = await eventsOf(s, 'severity=ERROR');
        assert.equal(errors.length, Object.values(EVENT_TYPES).filter(([sev]) => sev === 'ERROR').length);
        assert.ok(errors.every((e) => e.severity === 'ERROR'));
        assert.equal((await eventsOf(s, 'type=PLAYBACK_FAILED&severity=INFO')).length, 0);
        // since / until: the server's receive time
        const later = await eventsOf(s, `since=${iso(mid)}`);
        assert.deepEqual(later.map((e) => e.eventId).sort(), second.map((e) => e.eventId).sort());
        assert.equal((await eventsOf(s, `until=${iso(mid)}`)).length, 17);
        assert.equal((await eventsOf(s, `since=${iso(mid)}&until=${iso(mid + 1)}`)).length, 0);
        assert.equal((await eventsOf(s, `since=${iso(mid - HOUR)}&type=APP_STARTED`)).length, 2);
        // pages of 4: the same 19, once each, in the same order
        const paged = await eventsOf(s, '', { limit: 4 });
        assert.deepEqual(paged.map((e) => e.deviceEventId), all.map((e) => e.deviceEventId));
        const typed = await eventsOf(s, 'severity=ERROR', { limit: 2 });
        assert.deepEqual(typed.map((e) => e.deviceEventId), errors.map((e) => e.deviceEventId));
        // bad queries
        const base = `/v1/venues/${s.v}/devices/${s.id}/events`;
        for (const [q, field] of [['type=NOPE', 'type'], ['severity=FATAL', 'severity'], ['since=yesterday', 'since'],
            ['until=2025-06-15', 'until']]) {
            assertField(await call('GET', `${base}?${q}`, A.token), { code: 'INVALID_QUERY', field });
        }
        for (const q of ['limit=0', 'limit=201', 'cursor=garbage']) {
            const r = await call('GET', `${base}?${q}`, A.token);
            assert.equal(r.res.status, 400, `${q}: ${r.text}`);
        }
    });

    // ---- device tokens ---------------------------------------------------------------------

    it('both player routes refuse no token, a user token, and a removed, disabled or moved device: 401', async () => {
        const expect401 = async (token, code, why) => {
            for (const r of [await heartbeat(token, minimalHeartbeat()), await sendEvents(token, [event('APP_STARTED')])]) {
                assertProblem(r.res, r.text, { status: 401, code: code ?? JSON.parse(r.text).code });
                assert.match(r.res.headers.get('www-authenticate') || '', /^Bearer/, why);
            }
        };
        await expect401(null, 'UNAUTHORIZED', 'no token');
        await expect401(A.token, 'DEVICE_TOKEN_REQUIRED', 'a user token');
        await expect401('abc.def.ghi', 'INVALID_TOKEN', 'a malformed token');

        const removed = await screen(A, A.V1);
        await beat(removed);
        await updateDevice(removed.id, { deletedAtUtc: '2026-01-06T10:00:00.000Z' });
        await expect401(removed.token, 'INVALID_TOKEN', 'a removed device');

        const disabled = await screen(A, A.V1);
        await beat(disabled);
        await updateDevice(disabled.id, { status: 'DISABLED' });
        await expect401(disabled.token, 'INVALID_TOKEN', 'a disabled device');

        const moved = await screen(A, A.V1);
        await updateDevice(moved.id, { venueId: A.V2 });
        await expect401(moved.token, 'INVALID_TOKEN', 'a device moved to another venue (old token)');
        await beat({ token: deviceToken(A, A.V2, moved.id) });

        const unknown = { token: deviceToken(A, A.V1, randomUUID()) };
        await expect401(unknown.token, 'INVALID_TOKEN', 'a device that never was');
        const crossed = { token: deviceToken(B, A.V1, moved.id) };
        await expect401(crossed.token, 'INVALID_TOKEN', 'claims of another tenant');

        const c = await screen(C, C.V);
        await beat(c);
        await devices.setTenantStatus(C, 'DISABLED');
        try {
            await expect401(c.token, 'INVALID_TOKEN', 'a disabled tenant');
        } finally {
            await devices.setTenantStatus(C, 'ACTIVE');
        }
        await beat(c);
        // what the refused calls sent was not stored
        const stored = await sql(`SELECT count(*) FROM device_events WHERE device_id IN ('${removed.id}', '${disabled.id}')`);
        assert.equal(Number(stored), 0);
    });

    // ---- who may read ----------------------------------------------------------------------

    it('reads: another tenant\'s device or venue is 404, a venue viewer reads its venue, /v1/alerts needs a tenant role', async () => {
        const s = await screen(A, A.V1);
        const b = await screen(B, B.V);
        await beat(s, fullHeartbeat({ syncStatus: 'STALE' }));
        await beat(b, fullHeartbeat({ syncStatus: 'STALE' }));
        await post(s, [event('APP_STARTED')]);
        const paths = (v, d) => [`/v1/venues/${v}/devices/${d}/status`, `/v1/venues/${v}/devices/${d}/events`];
        const notFound = async (p, token, why) => {
            const r = await call('GET', p, token);
            assert.equal(r.res.status, 404, `${why}: ${p}: ${r.text}`);
            assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
        };

        for (const p of paths(B.V, b.id)) await notFound(p, A.token, 'another tenant\'s venue');
        for (const p of paths(A.V1, b.id)) await notFound(p, A.token, 'another tenant\'s device in my venue\'s path');
        for (const p of paths(A.V2, s.id)) await notFound(p, A.token, 'my device under another of my venues');
        for (const p of paths(A.V1, randomUUID())) await notFound(p, A.token, 'no such device');
        for (const p of paths(A.V1, 'not-a-uuid')) await notFound(p, A.token, 'not a device id');
        for (const p of [`/v1/venues/${B.V}/alerts`, `/v1/venues/${B.V}/status-summary`]) await notFound(p, A.token);
        const removed = await screen(A, A.V1, { deleted: true });
        for (const p of paths(A.V1, removed.id)) await notFound(p, A.token, 'a removed device');

        // the venue viewer: its venue only
        for (const p of [...paths(A.V1, s.id), `/v1/venues/${A.V1}/alerts`, `/v1/venues/${A.V1}/status-summary`]) {
            ok(await call('GET', p, A.viewer.token));
        }
        const v2 = await screen(A, A.V2);
        for (const p of [...paths(A.V2, v2.id), `/v1/venues/${A.V2}/alerts`, `/v1/venues/${A.V2}/status-summary`]) {
            await notFound(p, A.viewer.token, 'a venue the viewer has no role on');
        }
        // the tenant-wide view: a tenant role
        for (const u of [A.viewer, A.manager]) {
            const r = await call('GET', '/v1/alerts', u.token);
            assertProblem(r.res, r.text, { status: 403, code: 'FORBIDDEN' });
        }
        for (const token of [A.token, A.tviewer.token]) {
            const items = ok(await call('GET', '/v1/alerts', token)).items;
            assert.ok(items.some((a) => a.deviceId === s.id && a.kind === 'SYNC_STALE'));
            assert.ok(items.every((a) => a.deviceId !== b.id), 'never another tenant\'s');
        }
        const bItems = ok(await call('GET', '/v1/alerts', B.token)).items;
        assert.ok(bItems.some((a) => a.deviceId === b.id) && bItems.every((a) => a.deviceId !== s.id));
        // the tenant viewer reads every venue
        ok(await call('GET', paths(A.V2, v2.id)[0], A.tviewer.token));
        // no token: 401
        const r = await call('GET', '/v1/alerts', null);
        assert.equal(r.res.status, 401, r.text);
        // a device token is no user's
        const d = await call('GET', paths(A.V1, s.id)[0], s.token);
        assertProblem(d.res, d.text, { status: 401, code: 'USER_TOKEN_REQUIRED' });
    });

    // ---- alerts ----------------------------------------------------------------------------

    it('CACHE_NEARLY_FULL opens above 90% of the device\'s cache budget and resolves below 85%', async () => {
        const s = await screen(A, A.V4);
        await sql(`UPDATE devices SET cache_budget_bytes = 1000000 WHERE device_id = '${s.id}'`);
        const used = (usedBytes) => minimalHeartbeat({ cache: { totalBytes: 1000000, usedBytes, assetCount: 3, pendingDownloads: 0 } });
        await beat(s, used(900000));
        assert.deepEqual(await alertsOfKind(s, 'CACHE_NEARLY_FULL'), [], 'exactly 90% is not above');
        await beat(s, used(900001));
        let open = await alertsOfKind(s, 'CACHE_NEARLY_FULL');
        assert.equal(open.length, 1);
        const a = open[0];
        assert.equal(a.status, 'OPEN');
        assert.equal(a.severity, 'WARNING');
        assert.equal(a.venueId, A.V4);
        assert.equal(a.deviceId, s.id);
        assert.equal(a.resolvedAtUtc, null);
        assert.equal(a.details.usedBytes, 900001);
        assert.equal(a.details.budgetBytes, 1000000);
        near(a.openedAtUtc, Date.now(), 5 * SECOND, 'openedAtUtc');
        assert.deepEqual(await openKinds(s), ['CACHE_NEARLY_FULL']);
        // fuller, then between the thresholds: the same one alert
        await beat(s, used(990000));
        await beat(s, used(860000));
        await beat(s, used(850000));
        open = await alertsOfKind(s, 'CACHE_NEARLY_FULL');
        assert.equal(open.length, 1, 'one open alert of a kind');
        assert.equal(open[0].alertId, a.alertId);
        // a heartbeat that says nothing of the cache decides nothing
        await beat(s, minimalHeartbeat());
        assert.equal((await alertsOfKind(s, 'CACHE_NEARLY_FULL')).length, 1);
        await beat(s, used(849999));
        assert.deepEqual(await alertsOfKind(s, 'CACHE_NEARLY_FULL'), []);
        const resolved = await alertsOfKind(s, 'CACHE_NEARLY_FULL', 'RESOLVED');
        assert.equal(resolved.length, 1);
        assert.equal(resolved[0].alertId, a.alertId);
        assert.equal(resolved[0].status, 'RESOLVED');
        near(resolved[0].resolvedAtUtc, Date.now(), 5 * SECOND, 'resolvedAtUtc');
        assert.deepEqual(await openKinds(s), []);
        // full again: a new alert
        await beat(s, used(950000));
        const again = await alertsOfKind(s, 'CACHE_NEARLY_FULL');
        assert.equal(again.length, 1);
        assert.notEqual(again[0].alertId, a.alertId);
        assert.equal((await alertsOf(A, A.V4, `status=ALL&deviceId=${s.id}`)).filter((x) => x.kind === 'CACHE_NEARLY_FULL').length, 2);
        // a usedBytes far beyond any budget is just "full" (no overflow)
        await beat(s, used(Number.MAX_SAFE_INTEGER));
        await sql(`UPDATE devices SET cache_budget_bytes = 9000000000000000000 WHERE device_id = '${s.id}'`);
        await beat(s, used(8200000000000000000));
        assert.equal((await alertsOfKind(s, 'CACHE_NEARLY_FULL')).length, 1, '8.2e18 of 9e18 is above 90%');
        await beat(s, used(7000000000000000000));
        assert.equal((await alertsOfKind(s, 'CACHE_NEARLY_FULL')).length, 0, '7e18 of 9e18 is below 85%');
    });

    it('SYNC_STALE opens on STALE or FAILED and resolves on SYNCED', async () => {
        const s = await screen(A, A.V4);
        await beat(s, minimalHeartbeat({ syncStatus: 'PENDING' }));
        await beat(s, minimalHeartbeat({ syncStatus: 'SYNCING' }));
        assert.deepEqual(await alertsOfKind(s, 'SYNC_STALE'), []);
        await beat(s, minimalHeartbeat({ syncStatus: 'STALE' }));
        const open = await alertsOfKind(s, 'SYNC_STALE');
        assert.equal(open.length, 1);
        assert.equal(open[0].details.syncStatus, 'STALE');
        await beat(s, minimalHeartbeat({ syncStatus: 'FAILED' }));
        await beat(s, minimalHeartbeat({ syncStatus: 'SYNCING' }));
        await beat(s, minimalHeartbeat());
        const still = await alertsOfKind(s, 'SYNC_STALE');
        assert.equal(still.length, 1, 'FAILED, SYNCING, nothing said: the same alert stays open');
        assert.equal(still[0].alertId, open[0].alertId);
        await beat(s, minimalHeartbeat({ syncStatus: 'SYNCED' }));
        assert.deepEqual(await alertsOfKind(s, 'SYNC_STALE'), []);
        assert.equal((await alertsOfKind(s, 'SYNC_STALE', 'RESOLVED')).length, 1);
        await beat(s, minimalHeartbeat({ syncStatus: 'FAILED' }));
        const reopened = await alertsOfKind(s, 'SYNC_STALE');
        assert.equal(reopened.length, 1);
        assert.equal(reopened[0].details.syncStatus, 'FAILED');
    });

    it('DOWNLOAD_FAILURES opens on 3 DOWNLOAD_FAILED events or a heartbeat counting 3, and resolves on none and SYNCED', async () => {
        const s = await screen(A, A.V4);
        await post(s, [event('DOWNLOAD_FAILED'), event('DOWNLOAD_FAILED'), event('PLAYBACK_FAILED')]);
        assert.deepEqual(await alertsOfKind(s, 'DOWNLOAD_FAILURES'), [], 'two are not three');
        const third = event('DOWNLOAD_FAILED');
        await post(s, [third]);
        const open = await alertsOfKind(s, 'DOWNLOAD_FAILURES');
        assert.equal(open.length, 1);
        assert.equal(open[0].severity, 'WARNING');
        await post(s, [event('DOWNLOAD_FAILED')]);
        await post(s, [third]); // sent again: stored once, still one alert
        assert.equal((await alertsOfKind(s, 'DOWNLOAD_FAILURES')).length, 1);
        assert.equal((await eventsOf(s, 'type=DOWNLOAD_FAILED')).length, 4);

        // no failures but still syncing: open; a heartbeat that says nothing of errors: open
        await beat(s, minimalHeartbeat({ syncStatus: 'SYNCING', errors: { playbackFailures: 0, downloadFailures: 0, manifestFetchFailures: 0 } }));
        await beat(s, minimalHeartbeat({ syncStatus: 'SYNCED' }));
        assert.equal((await alertsOfKind(s, 'DOWNLOAD_FAILURES')).length, 1);
        await beat(s, minimalHeartbeat({ syncStatus: 'SYNCED', errors: { playbackFailures: 0, downloadFailures: 1, manifestFetchFailures: 0 } }));
        assert.equal((await alertsOfKind(s, 'DOWNLOAD_FAILURES')).length, 1);
        await beat(s, minimalHeartbeat({ syncStatus: 'SYNCED', errors: { playbackFailures: 0, downloadFailures: 0, manifestFetchFailures: 0 } }));
        assert.deepEqual(await alertsOfKind(s, 'DOWNLOAD_FAILURES'), []);
        assert.equal((await alertsOfKind(s, 'DOWNLOAD_FAILURES', 'RESOLVED')).length, 1);

        // the failures before the resolution do not open it again: the next batch, and one more failure
        await post(s, [event('APP_STARTED')]);
        await post(s, [event('DOWNLOAD_FAILED')]);
        assert.deepEqual(await alertsOfKind(s, 'DOWNLOAD_FAILURES'), [], 'resolved means those failures were dealt with');
        await post(s, [event('DOWNLOAD_FAILED'), event('DOWNLOAD_FAILED')]);
        assert.equal((await alertsOfKind(s, 'DOWNLOAD_FAILURES')).length, 1, 'three new ones');

        // from a heartbeat's count
        const h = await screen(A, A.V4);
        await beat(h, minimalHeartbeat({ errors: { playbackFailures: 0, downloadFailures: 2, manifestFetchFailures: 0 } }));
        assert.deepEqual(await alertsOfKind(h, 'DOWNLOAD_FAILURES'), []);
        await beat(h, minimalHeartbeat({ errors: { playbackFailures: 0, downloadFailures: 3, manifestFetchFailures: 0 } }));
        const counted = await alertsOfKind(h, 'DOWNLOAD_FAILURES');
        assert.equal(counted.length, 1);
        assert.equal(counted[0].details.downloadFailures, 3);
        // a player that never says its sync status (§27.8.2 has none): no failures resolve it
        await beat(h, minimalHeartbeat({ errors: { playbackFailures: 0, downloadFailures: 0, manifestFetchFailures: 0 } }));
        assert.deepEqual(await alertsOfKind(h, 'DOWNLOAD_FAILURES'), []);
    });

    it('ERRORS_RISING opens on 10 ERROR events within the hour or a heartbeat counting 5 failures', async () => {
        const s = await screen(A, A.V4);
        const errors = (n) => Array.from({ length: n }, (_, i) =>
            event(['PLAYBACK_FAILED', 'NO_PLAYABLE_CONTENT', 'COMMAND_FAILED'][i % 3]));
        await post(s, [...errors(9), event('DOWNLOAD_FAILED'), event('APP_STARTED')]);
        assert.deepEqual(await alertsOfKind(s, 'ERRORS_RISING'), [], 'nine ERROR events are not ten');
        await post(s, errors(1));
        const open = await alertsOfKind(s, 'ERRORS_RISING');
        assert.equal(open.length, 1);
        assert.equal(open[0].severity, 'ERROR');
        await post(s, errors(10));
        assert.equal((await alertsOfKind(s, 'ERRORS_RISING')).length, 1);
        // a heartbeat without failures cannot resolve it while the hour holds ten
        await beat(s, minimalHeartbeat({ errors: { playbackFailures: 0, downloadFailures: 0, manifestFetchFailures: 0 } }));
        assert.equal((await alertsOfKind(s, 'ERRORS_RISING')).length, 1);
        A.errorsRising = s; // resolved after the hour, with the clock (below)

        const h = await screen(A, A.V4);
        await beat(h, minimalHeartbeat({ errors: { playbackFailures: 2, downloadFailures: 0, manifestFetchFailures: 2 } }));
        assert.deepEqual(await alertsOfKind(h, 'ERRORS_RISING'), [], 'four are not five');
        await beat(h, minimalHeartbeat({ errors: { playbackFailures: 3, downloadFailures: 0, manifestFetchFailures: 2 } }));
        const counted = await alertsOfKind(h, 'ERRORS_RISING');
        assert.equal(counted.length, 1);
        assert.equal(counted[0].details.playbackFailures, 3);
        await beat(h, minimalHeartbeat({ errors: { playbackFailures: 1, downloadFailures: 0, manifestFetchFailures: 0 } }));
        assert.equal((await alertsOfKind(h, 'ERRORS_RISING')).length, 1, 'one failure: not resolved');
        await beat(h, minimalHeartbeat({ errors: { playbackFailures: 0, downloadFailures: 0, manifestFetchFailures: 0 } }));
        assert.deepEqual(await alertsOfKind(h, 'ERRORS_RISING'), [], 'none, and the hour held no ten ERROR events');
    });

    it('at most one open alert per kind and device; the lists filter by status and device, and page', async () => {
        const s = await screen(A, A.V4);
        await sql(`UPDATE devices SET cache_budget_bytes = 1000 WHERE device_id = '${s.id}'`);
        const worst = minimalHeartbeat({
            syncStatus: 'STALE', cache: { usedBytes: 999 },
            errors: { playbackFailures: 9, downloadFailures: 9, manifestFetchFailures: 9 },
        });
        await Promise.all(Array.from({ length: 6 }, () => beat(s, worst)));
        await Promise.all(Array.from({ length: 3 }, () => post(s, [...Array.from({ length: 10 }, () => event('PLAYBACK_FAILED')),
            ...Array.from({ length: 3 }, () => event('DOWNLOAD_FAILED'))])));
        const open = await alertsOf(A, A.V4, `deviceId=${s.id}`);
        assert.deepEqual(open.map((a) => a.kind).sort(), ['CACHE_NEARLY_FULL', 'DOWNLOAD_FAILURES', 'ERRORS_RISING', 'SYNC_STALE']);
        assert.deepEqual(await openKinds(s), ['CACHE_NEARLY_FULL', 'DOWNLOAD_FAILURES', 'ERRORS_RISING', 'SYNC_STALE']);
        const count = await sql(`SELECT count(*) FROM device_alerts WHERE device_id = '${s.id}'`);
        assert.equal(Number(count), 4, 'no alert was opened twice, even by concurrent reports');

        // the venue's list and the tenant's: every open alert of A.V4, pages of 2
        const all = await alertsOf(A, A.V4, 'limit=200');
        const paged = [];
        let cursor = null;
        do {
            const page = ok(await call('GET', `/v1/venues/${A.V4}/alerts?limit=2${cursor ? `&cursor=${cursor}` : ''}`, A.token));
            paged.push(...page.items);
            cursor = page.nextCursor;
        } while (cursor);
        assert.deepEqual(paged.map((a) => a.alertId), all.map((a) => a.alertId));
        assert.ok(all.every((a) => a.status === 'OPEN' && a.venueId === A.V4));
        for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].openedAtUtc >= all[i].openedAtUtc, 'newest first');
        const tenant = ok(await call('GET', '/v1/alerts?limit=200', A.token)).items;
        for (const a of all) assert.ok(tenant.some((x) => x.alertId === a.alertId));
        const resolved = await alertsOf(A, A.V4, 'status=RESOLVED&limit=200');
        assert.ok(resolved.length > 0 && resolved.every((a) => a.status === 'RESOLVED' && a.resolvedAtUtc));
        const everything = await alertsOf(A, A.V4, 'status=ALL&limit=200');
        assert.equal(everything.length, all.length + resolved.length);
        for (const q of ['status=CLOSED', 'deviceId=nope', 'limit=0']) {
            const r = await call('GET', `/v1/venues/${A.V4}/alerts?${q}`, A.token);
            assert.equal(r.res.status, 400, `${q}: ${r.text}`);
        }
        // a removed device's alerts are no one's concern any more
        await updateDevice(s.id, { deletedAtUtc: '2026-01-06T10:00:00.000Z' });
        assert.deepEqual(await alertsOf(A, A.V4, `deviceId=${s.id}`), []);
        assert.ok(ok(await call('GET', '/v1/alerts?limit=200', A.token)).items.every((a) => a.deviceId !== s.id));
    });

    it('the venue summary counts devices, online, never seen, sync statuses and open alerts', async () => {
        const empty = ok(await call('GET', `/v1/venues/${A.V3}/status-summary`, A.token));
        assert.deepEqual(empty, {
            venueId: A.V3, devices: 0, online: 0, offline: 0, neverSeen: 0,
            syncStatus: { SYNCED: 0, SYNCING: 0, PENDING: 0, FAILED: 0, STALE: 0 }, openAlerts: {},
        });
        const [synced, failed, pending] = await Promise.all([1, 2, 3].map(() => screen(A, A.V3)));
        await screen(A, A.V3); // never seen
        await screen(A, A.V3, { deleted: true }); // removed: not counted
        await beat(synced, minimalHeartbeat({ syncStatus: 'SYNCED' }));
        await beat(failed, minimalHeartbeat({ syncStatus: 'FAILED' }));
        await beat(pending, minimalHeartbeat({ syncStatus: 'PENDING' }));
        const sum = ok(await call('GET', `/v1/venues/${A.V3}/status-summary`, A.token));
        assert.deepEqual(sum, {
            venueId: A.V3, devices: 4, online: 3, offline: 0, neverSeen: 1,
            syncStatus: { SYNCED: 1, SYNCING: 0, PENDING: 1, FAILED: 1, STALE: 0 }, openAlerts: { SYNC_STALE: 1 },
        });
        A.summary = { synced, failed, pending };
    });

    // ---- with the test clock (last) --------------------------------------------------------

    it('three missed intervals: offline, OFFLINE_ENTERED and DEVICE_OFFLINE; the next heartbeat: back online, resolved', async () => {
        const s = await screen(A, A.V3);
        const slow = await screen(A, A.V3); // promises 60 s: not yet missed
        const disabled = await screen(A, A.V5);
        // 600 online devices that promised an hour and were last heard from 20 minutes ago (older
        // than the others, more than the sweeper's page of 500: they must not hide the others),
        // and 550 that promised 5 s then (due at once: more than a page)
        const ago = iso(Date.now() - 20 * MINUTE);
        const many = Array.from({ length: 600 }, () => randomUUID());
        const due = Array.from({ length: 550 }, () => randomUUID());
        for (const [ids, interval] of [[many, 3600], [due, 5]]) {
            for (let i = 0; i < ids.length; i += 100) { // a hundred a statement: psql takes the SQL as an argument
                const some = ids.slice(i, i + 100);
                await sql(`INSERT INTO devices (device_id, tenant_id, venue_id, name, created_at_utc, updated_at_utc) VALUES ${
                    some.map((id) => `('${id}', '${A.tenantId}', '${A.V5}', 'Many', '${ago}', '${ago}')`).join(', ')}`);
                await sql(`INSERT INTO device_status (device_id, tenant_id, venue_id, last_heartbeat_at_utc, is_online,
                        heartbeat_interval_s, online_changed_at_utc, created_at_utc, updated_at_utc) VALUES ${
                    some.map((id) => `('${id}', '${A.tenantId}', '${A.V5}', '${ago}', 1, ${interval}, '${ago}', '${ago}', '${ago}')`).join(', ')}`);
            }
        }
        try {
            await beat(s, minimalHeartbeat({ heartbeatIntervalSeconds: 5 }));
            await beat(slow, minimalHeartbeat({ heartbeatIntervalSeconds: 60 }));
            await beat(disabled, minimalHeartbeat({ heartbeatIntervalSeconds: 5 }));
            await updateDevice(disabled.id, { status: 'DISABLED' });
            // A.summary's devices promised nothing: 60 s by default
            await runJob('device-offline');
            assert.equal((await statusOf(s)).online, true, 'not a whole 15 s yet');

            await moveClock(16 * SECOND);
            const ran = await runJob('device-offline');
            assert.equal(typeof ran.wentOffline, 'number');
            const st = await statusOf(s);
            assert.equal(st.online, false, 'behind 600 devices that are not due yet');
            const manyOnline = ok(await call('GET', `/v1/venues/${A.V5}/status-summary`, A.token));
            assert.equal(manyOnline.online, 600, 'an hour\'s interval is not missed in 20 minutes');
            assert.equal(manyOnline.offline, 551, 'the 550 due (two pages) and the disabled one');
            assert.equal(manyOnline.openAlerts.DEVICE_OFFLINE, 550);
            // a disabled device goes offline (the event) without an alert: an operator switched it off
            assert.equal((await statusOf(disabled)).online, false);
            assert.equal((await eventsOf(disabled, 'type=OFFLINE_ENTERED')).length, 1);
            assert.deepEqual(await alertsOf(A, A.V5, `status=ALL&deviceId=${disabled.id}`), []);
            near(st.onlineChangedAtUtc, Date.now() + 16 * SECOND, 5 * SECOND, 'onlineChangedAtUtc (server clock)');
            assert.equal((await statusOf(slow)).online, true, '16 s are not three of 60 s');
            for (const x of Object.values(A.summary)) assert.equal((await statusOf(x)).online, true);

            const [off] = await eventsOf(s, 'type=OFFLINE_ENTERED');
            assert.ok(off, 'OFFLINE_ENTERED recorded');
            assert.equal(off.severity, 'WARNING');
            assert.equal(off.payload.source, 'server');
            assert.equal(off.payload.lastOnlineAtUtc, st.lastHeartbeatAtUtc);
            assert.equal(off.eventId, null, 'a server event has no device id');
            const venueAlert = await alertsOfKind(s, 'DEVICE_OFFLINE');
            assert.equal(venueAlert.length, 1);
            assert.equal(venueAlert[0].status, 'OPEN');
            assert.equal(venueAlert[0].severity, 'ERROR');
            const login = async (u) => api.login(u.email);
            const token = await login(A); // the clock moved: a fresh access token
            const tenantAlerts = ok(await call('GET', '/v1/alerts', token)).items;
            assert.ok(tenantAlerts.some((a) => a.alertId === venueAlert[0].alertId && a.kind === 'DEVICE_OFFLINE'));
            assert.deepEqual(st.openAlerts, ['DEVICE_OFFLINE']);
            const sum = ok(await call('GET', `/v1/venues/${A.V3}/status-summary`, token));
            assert.equal(sum.offline, 1);
            assert.equal(sum.online, 4);
            assert.equal(sum.openAlerts.DEVICE_OFFLINE, 1);

            // again: nothing new
            await runJob('device-offline');
            assert.equal((await eventsOf(s, 'type=OFFLINE_ENTERED')).length, 1);
            assert.equal((await alertsOf(A, A.V3, `status=ALL&deviceId=${s.id}`)).length, 1);

            // the next heartbeat
            await beat(s, minimalHeartbeat({ heartbeatIntervalSeconds: 5 }));
            const back = await statusOf(s);
            assert.equal(back.online, true);
            assert.equal(back.onlineChangedAtUtc, back.lastHeartbeatAtUtc);
            const [on] = await eventsOf(s, 'type=ONLINE_RESTORED');
            assert.ok(on, 'ONLINE_RESTORED recorded');
            assert.equal(on.severity, 'INFO');
            assert.equal(on.payload.source, 'server');
            assert.equal(typeof on.payload.offlineDurationSeconds, 'number');
            assert.ok(on.payload.offlineDurationSeconds >= 0 && on.payload.offlineDurationSeconds < 60, JSON.stringify(on.payload));
            assert.deepEqual(await alertsOfKind(s, 'DEVICE_OFFLINE'), []);
            const res = await alertsOfKind(s, 'DEVICE_OFFLINE', 'RESOLVED');
            assert.equal(res.length, 1);
            assert.equal(res[0].alertId, venueAlert[0].alertId);
            assert.deepEqual(back.openAlerts, []);
            // one transition each way
            assert.deepEqual((await eventsOf(s)).map((e) => e.eventType), ['ONLINE_RESTORED', 'OFFLINE_ENTERED']);

            // a removed device is not swept into an alert
            const gone = await screen(A, A.V3);
            await beat(gone, minimalHeartbeat({ heartbeatIntervalSeconds: 5 }));
            await updateDevice(gone.id, { deletedAtUtc: '2026-01-06T10:00:00.000Z' });
            await moveClock(40 * SECOND);
            await runJob('device-offline');
            assert.equal((await statusOf(s)).online, false, 'the 5 s device again');
            // five heartbeats at once bring it back once
            await Promise.all(Array.from({ length: 5 }, () => beat(s, minimalHeartbeat({ heartbeatIntervalSeconds: 5 }))));
            assert.equal((await statusOf(s)).online, true);
            assert.equal((await eventsOf(s, 'type=ONLINE_RESTORED')).length, 2, 'one transition, one event');
            assert.equal((await alertsOfKind(s, 'DEVICE_OFFLINE', 'RESOLVED')).length, 2);
            assert.deepEqual(await alertsOfKind(s, 'DEVICE_OFFLINE'), []);
            const goneAlerts = await sql(`SELECT count(*) FROM device_alerts WHERE device_id = '${gone.id}'`);
            assert.equal(Number(goneAlerts), 0, 'no alert for a removed device');
        } finally {
            await moveClock(0);
        }
    });

    it('ERRORS_RISING resolves once the hour holds fewer than ten ERROR events and a heartbeat reports none', async () => {
        const s = A.errorsRising;
        assert.ok(s, 'opened by the ERRORS_RISING test');
        try {
            await moveClock(61 * MINUTE);
            const late = { ...s, token: deviceToken(A, s.v, s.id, { iat: Math.floor((Date.now() + 61 * MINUTE) / 1000), exp: Math.floor((Date.now() + 2 * HOUR) / 1000) }) };
            await beat(late, minimalHeartbeat({ errors: { playbackFailures: 1, downloadFailures: 0, manifestFetchFailures: 0 } }));
            const token = await api.login(A.email);
            const open = ok(await call('GET', `/v1/venues/${s.v}/alerts?deviceId=${s.id}`, token)).items;
            assert.ok(open.some((a) => a.kind === 'ERRORS_RISING'), 'a failure reported: still open');
            await beat(late, minimalHeartbeat({ errors: { playbackFailures: 0, downloadFailures: 0, manifestFetchFailures: 0 } }));
            const after1 = ok(await call('GET', `/v1/venues/${s.v}/alerts?deviceId=${s.id}`, token)).items;
            assert.ok(after1.every((a) => a.kind !== 'ERRORS_RISING'), JSON.stringify(after1));
        } finally {
            await moveClock(0);
        }
    });
});

describe(`telemetry retention and default rate limits (${BACKEND})`, () => {
    let srv;
    const T = {};
    const api = apiClient(() => srv, PASSWORD);
    const { call, ok } = api;
    const devices = deviceClient(() => srv, KEY);
    const moveClock = async (offsetMs) => ok(await call('POST', '/v1/_test/clock', null, { offsetMs }));

    before(async () => {
        // the default rate limits, but for logins
        srv = await startServer({
            args: ['--test-routes', '--jwt-keys', KEY.arg, '--event-retention-days', '1', '--rate-limits',
                'login_ip=10000/60,login_account=10000/60,mutation=100000/60'],
        });
        await devices.open();
        Object.assign(T, await api.createTenant('Tango Telemetry', 'admin@tango-telemetry.test'));
        T.V = await api.createVenue(T, 'Tango Venue');
    });
    after(async () => {
        await moveClock(0).catch(() => {});
        await devices.close();
        await srv?.stop();
        if (srv) assertCleanLogs(srv);
    });

    it('heartbeats: 2 a minute per device; events: 6 a minute per device (429 beyond)', async () => {
        const [d1, d2] = await Promise.all([devices.insertDevice(T, T.V), devices.insertDevice(T, T.V)]);
        const t1 = devices.deviceToken(T, T.V, d1);
        const t2 = devices.deviceToken(T, T.V, d2);
        for (let i = 0; i < 2; i++) assert.equal((await call('POST', '/v1/player/heartbeat', t1, minimalHeartbeat())).res.status, 204);
        const r = await call('POST', '/v1/player/heartbeat', t1, minimalHeartbeat());
        assertProblem(r.res, r.text, { status: 429, code: JSON.parse(r.text).code });
        assert.ok(Number(r.res.headers.get('retry-after')) > 0);
        assert.equal((await call('POST', '/v1/player/heartbeat', t2, minimalHeartbeat())).res.status, 204, 'per device');
        for (let i = 0; i < 6; i++) {
            const e = await call('POST', '/v1/player/events', t1, { deviceTime: iso(Date.now()), events: [event('APP_STARTED')] });
            assert.equal(e.res.status, 204, e.text);
        }
        const e = await call('POST', '/v1/player/events', t1, { deviceTime: iso(Date.now()), events: [event('APP_STARTED')] });
        assert.equal(e.res.status, 429, e.text);
    });

    it('retention: events and resolved alerts older than --event-retention-days go, open alerts stay', async () => {
        const id = await devices.insertDevice(T, T.V);
        const token = devices.deviceToken(T, T.V, id);
        await devices.sql(`UPDATE devices SET cache_budget_bytes = 100 WHERE device_id = '${id}'`);
        const hb = (over) => call('POST', '/v1/player/heartbeat', token, minimalHeartbeat(over));
        assert.equal((await hb({ syncStatus: 'STALE', cache: { usedBytes: 99 } })).res.status, 204);
        assert.equal((await hb({ syncStatus: 'SYNCED', cache: { usedBytes: 99 } })).res.status, 204);
        const old = await call('POST', '/v1/player/events', token, {
            deviceTime: iso(Date.now()), events: [event('APP_STARTED'), event('CACHE_EVICTION')],
        });
        assert.equal(old.res.status, 204, old.text);
        const count = async (q) => Number(await devices.sql(q));
        // the device's own events (the server's, OFFLINE_ENTERED when the ticker sweeps, have no eventId)
        const own = `SELECT count(*) FROM device_events WHERE device_id = '${id}' AND client_event_id IS NOT NULL`;
        const alerts = (status) => `SELECT count(*) FROM device_alerts WHERE device_id = '${id}' AND status = '${status}' `
            + "AND kind IN ('CACHE_NEARLY_FULL', 'SYNC_STALE')";
        assert.equal(await count(own), 2);
        assert.equal(await count(alerts('OPEN')), 1);
        assert.equal(await count(alerts('RESOLVED')), 1);
        try {
            // within the day: nothing goes
            let r = ok(await call('POST', '/v1/_test/jobs/event-retention', null));
            assert.equal(r.eventsDeleted, 0);
            assert.equal(r.alertsDeleted, 0);
            await moveClock(2 * DAY);
            const now = Math.floor((Date.now() + 2 * DAY) / 1000);
            const late = devices.deviceToken(T, T.V, id, { iat: now, exp: now + 3600 });
            const kept = event('APP_STARTED');
            const fresh = await call('POST', '/v1/player/events', late, { deviceTime: iso(Date.now()), events: [kept] });
            assert.equal(fresh.res.status, 204, fresh.text);
            fresh.sent = kept.eventId;
            // (the ticker may have run the task already, on its own, when the clock moved)
            r = ok(await call('POST', '/v1/_test/jobs/event-retention', null));
            assert.equal(typeof r.eventsDeleted, 'number');
            assert.equal(await count(own), 1, 'the new event stays');
            assert.equal(await count(alerts('OPEN')), 1, 'the open alert stays, however old');
            assert.equal(await count(alerts('RESOLVED')), 0);
            const admin = await api.login(T.email);
            const evs = ok(await call('GET', `/v1/venues/${T.V}/devices/${id}/events`, admin)).items;
            assert.deepEqual(evs.filter((e) => e.eventId).map((e) => e.eventId), [fresh.sent]);
        } finally {
            await moveClock(0);
        }
    });
});
