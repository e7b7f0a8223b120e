// SPDX-License-Identifier: MIT
//
// schedules.test.mjs — a venue's schedule of docs/publishing.md "Schedules" (spec §7, §15, §16,
// §26.8, §27.6, §27.9, §27.10): the lazily made set and its ETag, slot create / replace /
// delete under If-Match, every validation rule (all bad members listed at once), references
// that must belong to the venue, roles, publish (refused while a playlist is unpublished; the
// snapshot equals the draft; the venue epoch, the publishing history and the change feed),
// concurrent publishes numbered without a gap, rollback, and the venue's fallback playlist.
// Devices and groups have no API yet: they are inserted with SQL.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { deviceClient, playerContent, ROW_TIME as NOW } from './lib/devices.mjs';
import { makeFixtures } from './lib/media.mjs';
import { BACKEND, UUID_RE, assertProblem, get, runMarqueed, startServer } from './lib/server.mjs';

const PASSWORD = 'schedule suite passphrase 1';
const RATE_LIMITS = 'login_ip=10000/60,login_account=10000/60,refresh_user=10000/60,upload=10000/3600,'
    + 'mutation=100000/60,publish=100000/60';
const TS_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const SLOT_MEMBERS = ['slotId', 'targetType', 'targetId', 'playlistId', 'daysOfWeekMask', 'startMinutes',
    'endMinutes', 'priority', 'validFromDate', 'validToDate', 'enabled', 'createdAtUtc', 'updatedAtUtc'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe(`schedules (${BACKEND})`, () => {
    let srv;
    let fx;
    const A = {}; // tenant A: venues V1..V4, users, playlists, devices, groups
    const B = {}; // tenant B

    const call = (method, p, token, body, headers = {}) => get(`${srv.url}${p}`, {
        method,
        headers: {
            ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
            ...(token ? { Authorization: `Bearer ${token}` } : {}),
            ...headers,
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const ok = (r, status = 200) => {
        assert.equal(r.res.status, status, `${r.res.url}: ${r.text}`);
        return r.text ? JSON.parse(r.text) : null;
    };
    const devices = deviceClient(() => srv);
    const { sql, insertDevice, insertGroup } = devices;
    const { readyAsset } = playerContent({ call, ok }, () => fx);
    const login = async (email) => ok(await call('POST', '/v1/auth/login', null, { email, password: PASSWORD })).accessToken;
    const createTenant = async (name, email) => {
        const made = await runMarqueed(['create-tenant', '--name', name, '--admin-email', email,
            '--admin-password', PASSWORD, '--timezone', 'Europe/London', ...srv.store.args]);
        assert.equal(made.code, 0, made.stderr);
        const m = /tenant ([0-9a-f-]{36}) created[\s\S]*admin user ([0-9a-f-]{36})/.exec(made.stdout);
        assert.ok(m, made.stdout);
        return { tenantId: m[1], userId: m[2], token: await login(email) };
    };
    const createVenue = async (t, name) =>
        ok(await call('POST', `/v1/tenants/${t.tenantId}/venues`, t.token, { name, timezone: 'Europe/London' }), 201).venueId;
    const createUser = async (t, email, venueRoles) => {
        const u = ok(await call('POST', `/v1/tenants/${t.tenantId}/users`, t.token, {
            email, displayName: email.split('@')[0], password: PASSWORD, tenantRoles: [], capabilities: [],
        }), 201);
        ok(await call('PUT', `/v1/tenants/${t.tenantId}/users/${u.userId}/venue-roles`, t.token, { venueRoles }));
        return { userId: u.userId, token: await login(email) };
    };
    /** A playlist at @prefix (library or venue) with one item; published unless told not to. */
    const playlist = async (t, prefix, assetId, { publish = true } = {}) => {
        let r = await call('POST', prefix, t.token, { name: `List ${randomUUID().slice(0, 8)}` });
        const p = ok(r, 201);
        if (assetId) {
            r = await call('PUT', `${prefix}/${p.playlistId}/items`, t.token, { items: [{ assetId }] },
                { 'If-Match': r.res.headers.get('etag') });
            ok(r);
            if (publish) {
                ok(await call('POST', `${prefix}/${p.playlistId}/publish`, t.token, undefined,
                    { 'If-Match': r.res.headers.get('etag') }));
            }
        }
        return p.playlistId;
    };
    const setPath = (v) => `/v1/venues/${v}/scheduleset`;
    const getSet = async (v, token = A.token) => {
        const r = await call('GET', setPath(v), token);
        return { body: ok(r), etag: r.res.headers.get('etag') };
    };
    /** POST a slot with the set's current ETag: {slot, etag}. */
    const addSlot = async (v, slot, token = A.token) => {
        const { etag } = await getSet(v, token);
        const r = await call('POST', `${setPath(v)}/slots`, token, slot, { 'If-Match': etag });
        return { slot: ok(r, 201), etag: r.res.headers.get('etag') };
    };
    const publish = async (v, token = A.token) => {
        const { etag } = await getSet(v, token);
        return call('POST', `${setPath(v)}/publish`, token, undefined, { 'If-Match': etag });
    };
    const epoch = async (v) => Number(await sql(`SELECT manifest_epoch FROM venue_epochs WHERE venue_id = '${v}'`) || 0);
    const changesSince = async (token, since = 0) => {
        const seen = [];
        for (let cursor = since; ;) {
            const b = ok(await call('GET', `/v1/changes?since=${cursor}&limit=200`, token));
            seen.push(...b.items);
            if (!b.hasMore) return seen;
            cursor = b.nextCursor;
        }
    };
    const lastSeq = async (token) => (await changesSince(token)).reduce((m, c) => Math.max(m, c.seq), 0);
    /** A valid slot body for venue V1. */
    const slotBody = (extra = {}) => ({
        targetType: 'DEVICE', targetId: A.D1, playlistId: A.P1, daysOfWeekMask: 31, startMinutes: 540, endMinutes: 1020, ...extra,
    });
    const assertSlotShape = (s) => {
        assert.deepEqual(Object.keys(s).sort(), [...SLOT_MEMBERS].sort(), JSON.stringify(s));
        assert.match(s.slotId, UUID_RE);
        assert.match(s.createdAtUtc, TS_RE);
        assert.match(s.updatedAtUtc, TS_RE);
    };
    const problemFields = (text) => JSON.parse(text).errors.map((e) => e.field).sort();

    before(async () => {
        [srv, fx] = await Promise.all([startServer({ args: ['--rate-limits', RATE_LIMITS] }), makeFixtures()]);
        await devices.open(); // the sqlite3 shell holds the database open from the start
        Object.assign(A, await createTenant('Alpha Schedules', 'admin@alpha-sched.test'));
        Object.assign(B, await createTenant('Bravo Schedules', 'admin@bravo-sched.test'));
        [A.V1, A.V2, A.V3, A.V4] = await Promise.all(['One', 'Two', 'Three', 'Four'].map((n) => createVenue(A, `Venue ${n}`)));
        B.V = await createVenue(B, 'Bravo Venue');
        A.editor = await createUser(A, 'editor@alpha-sched.test', [{ venueId: A.V1, role: 'VENUE_EDITOR' }]);
        A.viewer = await createUser(A, 'viewer@alpha-sched.test', [{ venueId: A.V1, role: 'VENUE_VIEWER' }]);
        A.manager = await createUser(A, 'manager@alpha-sched.test', [{ venueId: A.V1, role: 'VENUE_MANAGER' }]);
        A.editor2 = await createUser(A, 'editor2@alpha-sched.test', [{ venueId: A.V2, role: 'VENUE_EDITOR' }]);
        const [asset, bAsset] = (await Promise.all([readyAsset(A), readyAsset(B)])).map((a) => a.assetId);
        const LIB = '/v1/library/playlists';
        const ven = (v) => `/v1/venues/${v}/playlists`;
        [A.P1, A.P2, A.P3, A.PV1, A.PV2, A.PD, A.PDV1, B.P] = await Promise.all([
            playlist(A, LIB, asset), playlist(A, LIB, asset), playlist(A, LIB, asset),
            playlist(A, ven(A.V1), asset), playlist(A, ven(A.V2), asset),
            playlist(A, LIB, asset, { publish: false }), playlist(A, ven(A.V1), asset, { publish: false }),
            playlist(B, LIB, bAsset),
        ]);
        A.D1 = await insertDevice(A, A.V1);
        A.D2 = await insertDevice(A, A.V2);
        A.Dgone = await insertDevice(A, A.V1, { deleted: true });
        A.D3 = await insertDevice(A, A.V3);
        A.G1 = await insertGroup(A, A.V1);
        A.G2 = await insertGroup(A, A.V2);
        B.D = await insertDevice(B, B.V);
    });
    after(async () => {
        await devices.close();
        await srv?.stop();
    });

    it('GET makes the set lazily (version 1, nothing published) with a strong ETag; If-None-Match → 304', async () => {
        const count = () => sql(`SELECT count(*) FROM venue_schedule_sets WHERE venue_id = '${A.V1}'`);
        assert.equal(await count(), '0', 'no set before it is read');
        const r = await call('GET', setPath(A.V1), A.viewer.token);
        const s = ok(r);
        assert.deepEqual(Object.keys(s).sort(), ['draftVersion', 'fallbackPlaylistId', 'publishedSlots', 'publishedVersion',
            'slots', 'updatedAtUtc', 'venueId', 'venueScheduleSetId']);
        assert.match(s.venueScheduleSetId, UUID_RE);
        assert.equal(s.venueId, A.V1);
        assert.equal(s.draftVersion, 1);
        assert.equal(s.publishedVersion, 0);
        assert.deepEqual(s.slots, []);
        assert.deepEqual(s.publishedSlots, []);
        assert.equal(s.fallbackPlaylistId, null);
        assert.match(s.updatedAtUtc, TS_RE);
        const etag = r.res.headers.get('etag');
        assert.match(etag || '', /^"v1-[^"]+"$/, 'a strong ETag naming draft version 1');
        assert.equal(await count(), '1');
        const again = await call('GET', setPath(A.V1), A.token);
        assert.equal(ok(again).venueScheduleSetId, s.venueScheduleSetId, 'one set per venue');
        assert.equal(again.res.headers.get('etag'), etag);
        const nm = await call('GET', setPath(A.V1), A.token, undefined, { 'If-None-Match': etag });
        assert.equal(nm.res.status, 304);
        assert.equal(nm.text, '');
        assert.equal(nm.res.headers.get('content-length'), again.res.headers.get('content-length'), 'the 200\'s length');
        assert.equal(await count(), '1');
        // racing first reads still make one row
        const rs = await Promise.all(Array.from({ length: 8 }, () => call('GET', setPath(A.V4), A.token)));
        assert.equal(new Set(rs.map((x) => ok(x).venueScheduleSetId)).size, 1);
    });

    it('slots: create (428/412/201), full replacement, delete; every change bumps the draft, audits and feeds', async () => {
        const seq0 = await lastSeq(A.token);
        let { body: set, etag } = await getSet(A.V1);
        const v0 = set.draftVersion;
        const url = `${setPath(A.V1)}/slots`;
        let r = await call('POST', url, A.editor.token, slotBody());
        assertProblem(r.res, r.text, { status: 428, code: 'PRECONDITION_REQUIRED' });
        r = await call('POST', url, A.editor.token, slotBody(), { 'If-Match': '"v99-00000000"' });
        assertProblem(r.res, r.text, { status: 412, code: 'PRECONDITION_FAILED' });
        assert.equal(JSON.parse(r.text).currentEtag, etag);
        r = await call('POST', url, A.editor.token, slotBody(), { 'If-Match': etag });
        const s = ok(r, 201);
        assertSlotShape(s);
        assert.deepEqual({ ...s, slotId: 0, createdAtUtc: 0, updatedAtUtc: 0 }, {
            ...slotBody(), slotId: 0, priority: 0, validFromDate: null, validToDate: null, enabled: true, createdAtUtc: 0, updatedAtUtc: 0,
        });
        assert.equal(r.res.headers.get('location'), `${url}/${s.slotId}`);
        const e1 = r.res.headers.get('etag');
        assert.notEqual(e1, etag);
        ({ body: set, etag } = await getSet(A.V1));
        assert.equal(etag, e1, 'the answer carries the set\'s new ETag');
        assert.equal(set.draftVersion, v0 + 1);
        assert.deepEqual(set.slots, [s]);
        assert.deepEqual(set.publishedSlots, [], 'the draft is not live');

        // the old ETag is stale now
        r = await call('POST', url, A.editor.token, slotBody(), { 'If-Match': `"v${v0}-${set.venueScheduleSetId.slice(0, 8)}"` });
        assert.equal(r.res.status, 412, r.text);

        // full replacement: members left out take their defaults again
        const slotUrl = `${url}/${s.slotId}`;
        await sleep(5);
        r = await call('PUT', slotUrl, A.editor.token, slotBody({
            targetType: 'GROUP', targetId: A.G1, playlistId: A.PV1, priority: -7, validFromDate: '2026-03-01',
            validToDate: '2026-03-31', enabled: false,
        }), { 'If-Match': etag });
        let u = ok(r);
        assert.equal(u.slotId, s.slotId);
        assert.equal(u.createdAtUtc, s.createdAtUtc);
        assert.ok(u.updatedAtUtc > s.updatedAtUtc, 'updatedAtUtc moves');
        assert.deepEqual([u.targetType, u.targetId, u.playlistId, u.priority, u.validFromDate, u.validToDate, u.enabled],
            ['GROUP', A.G1, A.PV1, -7, '2026-03-01', '2026-03-31', false]);
        r = await call('PUT', slotUrl, A.editor.token, slotBody(), { 'If-Match': r.res.headers.get('etag') });
        u = ok(r);
        assert.deepEqual([u.priority, u.validFromDate, u.validToDate, u.enabled], [0, null, null, true]);
        r = await call('PUT', slotUrl, A.editor.token, slotBody(), { 'If-Match': etag });
        assert.equal(r.res.status, 412, 'PUT with a stale ETag');
        ({ body: set, etag } = await getSet(A.V1));
        assert.equal(set.draftVersion, v0 + 3);
        assert.deepEqual(set.slots, [u]);

        // unknown slots
        for (const id of [randomUUID(), 'not-a-uuid']) {
            r = await call('PUT', `${url}/${id}`, A.editor.token, slotBody(), { 'If-Match': etag });
            assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            r = await call('DELETE', `${url}/${id}`, A.editor.token, undefined, { 'If-Match': etag });
            assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
        }
        r = await call('DELETE', slotUrl, A.editor.token);
        assert.equal(r.res.status, 428, r.text);
        r = await call('DELETE', slotUrl, A.editor.token, undefined, { 'If-Match': etag });
        assert.equal(r.res.status, 204, r.text);
        assert.equal(r.text, '');
        const e4 = r.res.headers.get('etag');
        ({ body: set, etag } = await getSet(A.V1));
        assert.equal(etag, e4);
        assert.equal(set.draftVersion, v0 + 4);
        assert.deepEqual(set.slots, []);
        r = await call('DELETE', slotUrl, A.editor.token, undefined, { 'If-Match': etag });
        assert.equal(r.res.status, 404, 'deleted once');

        const feed = (await changesSince(A.token, seq0)).filter((c) => c.entityType === 'SCHEDULE_SET');
        assert.deepEqual(feed.map((c) => [c.entityId, c.venueId, c.action, c.version, c.actorUserId]),
            [1, 2, 3, 4].map((k) => [set.venueScheduleSetId, A.V1, 'updated', v0 + k, A.editor.userId]));
        assert.ok((await changesSince(A.editor.token, seq0)).some((c) => c.entityType === 'SCHEDULE_SET'),
            'the venue\'s editor sees its changes');
        assert.ok(!(await changesSince(A.editor2.token, seq0)).some((c) => c.entityType === 'SCHEDULE_SET'),
            'another venue\'s editor does not');
        const audits = await sql(`SELECT action FROM audit_log WHERE resource_id = '${set.venueScheduleSetId}'`);
        assert.deepEqual(audits.split('\n').sort(), ['schedule.slot_created', 'schedule.slot_deleted', 'schedule.slot_updated',
            'schedule.slot_updated']);
    });

    it('422 INVALID_SLOT lists every bad member at once; 400 for unknown members and non-JSON; nothing changes', async () => {
        const { body: before0, etag } = await getSet(A.V1);
        const url = `${setPath(A.V1)}/slots`;
        const post = (body) => call('POST', url, A.editor.token, body, { 'If-Match': etag });
        let r = await post({
            targetType: 'ROBOT', targetId: 'nope', playlistId: 5, daysOfWeekMask: 0, startMinutes: 1440, endMinutes: -1,
            priority: 1001, validFromDate: '2026-02-30', validToDate: '2026-13-01', enabled: 'yes',
        });
        assertProblem(r.res, r.text, { status: 422, code: 'INVALID_SLOT' });
        for (const e of JSON.parse(r.text).errors) assert.equal(typeof e.message, 'string');
        assert.deepEqual(problemFields(r.text), ['daysOfWeekMask', 'enabled', 'endMinutes', 'playlistId', 'priority',
            'startMinutes', 'targetId', 'targetType', 'validFromDate', 'validToDate']);
        r = await post({});
        assertProblem(r.res, r.text, { status: 422, code: 'INVALID_SLOT' });
        assert.deepEqual(problemFields(r.text), ['daysOfWeekMask', 'endMinutes', 'playlistId', 'startMinutes', 'targetId', 'targetType']);
        const one = [
            [{ daysOfWeekMask: 128 }, 'daysOfWeekMask'], [{ daysOfWeekMask: 1.5 }, 'daysOfWeekMask'],
            [{ daysOfWeekMask: '31' }, 'daysOfWeekMask'], [{ startMinutes: -1 }, 'startMinutes'],
            [{ endMinutes: 1440 }, 'endMinutes'], [{ startMinutes: null }, 'startMinutes'],
            [{ priority: -1001 }, 'priority'], [{ priority: 2.5 }, 'priority'],
            [{ validFromDate: '2027-02-29' }, 'validFromDate'], [{ validToDate: '2026-04-31' }, 'validToDate'],
            [{ validFromDate: '2026-1-05' }, 'validFromDate'], [{ validFromDate: '2026-01-05T00:00:00Z' }, 'validFromDate'],
            [{ validFromDate: '0000-01-01' }, 'validFromDate'], [{ validToDate: 20260105 }, 'validToDate'],
            [{ validFromDate: '2026-05-02', validToDate: '2026-05-01' }, 'validToDate'],
            [{ enabled: 1 }, 'enabled'], [{ targetType: 'device' }, 'targetType'], [{ targetId: null }, 'targetId'],
        ];
        for (const [extra, field] of one) {
            r = await post(slotBody(extra));
            assertProblem(r.res, r.text, { status: 422, code: 'INVALID_SLOT' });
            assert.deepEqual(problemFields(r.text), [field], JSON.stringify(extra));
        }
        r = await post({ ...slotBody(), colour: 'red' });
        assertProblem(r.res, r.text, { status: 400, code: 'UNKNOWN_FIELD' });
        r = await post('{"targetType": "DEVICE",');
        assert.equal(r.res.status, 400, r.text);
        r = await post([slotBody()]);
        assert.equal(r.res.status, 400, r.text);
        const { body: after0, etag: e2 } = await getSet(A.V1);
        assert.equal(e2, etag, 'no refused request changed the draft');
        assert.deepEqual(after0.slots, before0.slots);
    });

    it('accepts the edges: wrap past midnight, start == end, every day, priorities ±1000, a leap day, from == to', async () => {
        const cases = [
            { startMinutes: 1320, endMinutes: 360 }, { startMinutes: 600, endMinutes: 600 },
            { startMinutes: 0, endMinutes: 1439, daysOfWeekMask: 127 }, { daysOfWeekMask: 1, priority: -1000 },
            { daysOfWeekMask: 64, priority: 1000 }, { validFromDate: '2028-02-29', validToDate: '2028-02-29' },
            { validFromDate: '2026-12-31', validToDate: null }, { validToDate: '2000-02-29' },
            { targetType: 'GROUP', targetId: A.G1 }, { playlistId: A.PV1 }, { playlistId: A.PDV1, enabled: false },
        ];
        const made = [];
        for (const extra of cases) {
            const { slot } = await addSlot(A.V1, slotBody(extra), A.editor.token);
            for (const [k, v] of Object.entries(extra)) assert.deepEqual(slot[k], v, k);
            made.push(slot);
        }
        const { body } = await getSet(A.V1);
        for (const s of made) assert.deepEqual(body.slots.find((x) => x.slotId === s.slotId), s);
        // clean up for the publish tests
        for (const s of made) {
            const { etag } = await getSet(A.V1);
            ok(await call('DELETE', `${setPath(A.V1)}/slots/${s.slotId}`, A.editor.token, undefined, { 'If-Match': etag }), 204);
        }
    });

    it('references must belong to the venue: another venue\'s or tenant\'s device, group or playlist is 422', async () => {
        const { etag } = await getSet(A.V1);
        const post = (extra) => call('POST', `${setPath(A.V1)}/slots`, A.editor.token, slotBody(extra), { 'If-Match': etag });
        const cases = [
            [{ targetId: A.D2 }, ['targetId']], [{ targetId: A.Dgone }, ['targetId']], [{ targetId: B.D }, ['targetId']],
            [{ targetId: randomUUID() }, ['targetId']], [{ targetType: 'GROUP', targetId: A.G2 }, ['targetId']],
            [{ targetType: 'GROUP', targetId: A.D1 }, ['targetId']], [{ targetId: A.G1 }, ['targetId']],
            [{ playlistId: A.PV2 }, ['playlistId']], [{ playlistId: B.P }, ['playlistId']],
            [{ playlistId: randomUUID() }, ['playlistId']],
            [{ targetId: A.D2, playlistId: A.PV2, startMinutes: 9999 }, ['playlistId', 'startMinutes', 'targetId']],
        ];
        for (const [extra, fields] of cases) {
            const r = await post(extra);
            assertProblem(r.res, r.text, { status: 422, code: 'INVALID_SLOT' });
            assert.deepEqual(problemFields(r.text), fields, JSON.stringify(extra));
        }
    });

    it('404 for another venue\'s slot and another tenant\'s venue; 403 for a viewer\'s change and an editor\'s fallback', async () => {
        const { slot: s2 } = await addSlot(A.V2, slotBody({ targetId: A.D2, playlistId: A.PV2 }));
        const { etag } = await getSet(A.V1);
        let r = await call('PUT', `${setPath(A.V1)}/slots/${s2.slotId}`, A.token, slotBody(), { 'If-Match': etag });
        assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
        r = await call('DELETE', `${setPath(A.V1)}/slots/${s2.slotId}`, A.token, undefined, { 'If-Match': etag });
        assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
        assert.equal((await getSet(A.V2)).body.slots.length, 1, 'still there');
        for (const [m, p, body] of [['GET', ''], ['POST', '/slots', slotBody()], ['POST', '/publish'],
            ['POST', '/rollback', { version: 1 }]]) {
            r = await call(m, `${setPath(A.V1)}${p}`, B.token, body, { 'If-Match': etag });
            assert.equal(r.res.status, 404, `tenant B ${m} ${p}: ${r.text}`);
        }
        r = await call('PUT', `/v1/venues/${A.V1}/fallback-playlist`, B.token, { playlistId: null });
        assert.equal(r.res.status, 404, r.text);
        r = await call('GET', setPath(A.V1), A.editor2.token);
        assert.equal(r.res.status, 404, 'a venue the caller has no role on');
        const viewer = A.viewer.token;
        for (const [m, p, body] of [['POST', '/slots', slotBody()], ['PUT', `/slots/${s2.slotId}`, slotBody()],
            ['DELETE', `/slots/${s2.slotId}`], ['POST', '/publish'], ['POST', '/rollback', { version: 1 }]]) {
            r = await call(m, `${setPath(A.V1)}${p}`, viewer, body, { 'If-Match': etag });
            assertProblem(r.res, r.text, { status: 403, code: 'FORBIDDEN' });
        }
        for (const token of [viewer, A.editor.token]) {
            r = await call('PUT', `/v1/venues/${A.V1}/fallback-playlist`, token, { playlistId: A.P1 });
            assertProblem(r.res, r.text, { status: 403, code: 'FORBIDDEN' });
        }
    });

    it('publish: refused while a playlist is unpublished (all listed), then the snapshot equals the draft', async () => {
        const V = A.V3;
        const t = A.token;
        const bad1 = (await addSlot(V, slotBody({ targetId: A.D3, playlistId: A.PD }), t)).slot;
        const good = (await addSlot(V, slotBody({ targetId: A.D3, playlistId: A.P1, priority: 5, validFromDate: '2026-01-01' }), t)).slot;
        const bad2 = (await addSlot(V, slotBody({ targetId: A.D3, playlistId: A.PD, startMinutes: 1300, endMinutes: 120 }), t)).slot;
        const epoch0 = await epoch(V);
        let r = await call('POST', `${setPath(V)}/publish`, t);
        assertProblem(r.res, r.text, { status: 428, code: 'PRECONDITION_REQUIRED' });
        r = await publish(V);
        assertProblem(r.res, r.text, { status: 422, code: 'SCHEDULE_NOT_PUBLISHABLE' });
        const errs = JSON.parse(r.text).errors.map((e) => [e.slotId, e.playlistId, e.reason]).sort();
        assert.deepEqual(errs, [[bad1.slotId, A.PD, 'NOT_PUBLISHED'], [bad2.slotId, A.PD, 'NOT_PUBLISHED']].sort());
        let { body: set, etag } = await getSet(V);
        assert.equal(set.publishedVersion, 0, 'nothing published');
        assert.equal(await epoch(V), epoch0);
        assert.equal(await sql(`SELECT count(*) FROM schedule_published WHERE venue_id = '${V}'`), '0');

        // fix the slots, then publish
        for (const s of [bad1, bad2]) {
            ({ etag } = await getSet(V));
            ok(await call('PUT', `${setPath(V)}/slots/${s.slotId}`, t, slotBody({ targetId: A.D3, playlistId: A.P2,
                startMinutes: s.startMinutes, endMinutes: s.endMinutes }), { 'If-Match': etag }));
        }
        ({ body: set, etag } = await getSet(V));
        const seq0 = await lastSeq(t);
        const t0 = new Date().toISOString();
        r = await call('POST', `${setPath(V)}/publish`, t, undefined, { 'If-Match': etag });
        const p1 = ok(r);
        assert.deepEqual(Object.keys(p1).sort(), ['publishedAtUtc', 'publishedVersion', 'sourceVersion', 'venueScheduleSetId']);
        assert.equal(p1.venueScheduleSetId, set.venueScheduleSetId);
        assert.equal(p1.publishedVersion, 1);
        assert.equal(p1.sourceVersion, null);
        assert.match(p1.publishedAtUtc, TS_RE);
        assert.ok(p1.publishedAtUtc >= t0.slice(0, 19));
        const after1 = (await getSet(V)).body;
        assert.equal(after1.publishedVersion, 1);
        assert.equal(after1.draftVersion, set.draftVersion, 'publishing leaves the draft alone');
        assert.equal(after1.slots.length, 3);
        assert.deepEqual(after1.publishedSlots, after1.slots, 'the snapshot is the draft, ids and timestamps included');
        assert.ok(after1.publishedSlots.some((s) => s.slotId === good.slotId && s.priority === 5 && s.validFromDate === '2026-01-01'));
        assert.equal(await epoch(V), epoch0 + 1, 'the venue epoch goes up');

        const events = ok(await call('GET', `/v1/venues/${V}/publishes?limit=200`, t)).items
            .filter((e) => e.entityId === set.venueScheduleSetId);
        assert.equal(events.length, 1);
        assert.deepEqual({ ...events[0], publishEventId: 0, publishedAtUtc: 0 }, {
            publishEventId: 0, type: 'SCHEDULE_PUBLISH', entityId: set.venueScheduleSetId, venueId: V, previousVersion: 0,
            publishedVersion: 1, sourceVersion: null, publishedByUserId: A.userId, publishedAtUtc: 0,
        });
        const feed = (await changesSince(t, seq0)).filter((c) => c.entityType === 'SCHEDULE_SET');
        assert.deepEqual(feed.map((c) => [c.entityId, c.venueId, c.action, c.version]),
            [[set.venueScheduleSetId, V, 'published', 1]]);
        assert.equal(await sql(`SELECT count(*) FROM audit_log WHERE action = 'schedule.published' AND resource_id = '${set.venueScheduleSetId}'`), '1');

        // a playlist that a published schedule names cannot be deleted
        r = await call('DELETE', `/v1/library/playlists/${A.P2}`, t);
        assertProblem(r.res, r.text, { status: 409, code: 'PLAYLIST_IN_USE' });

        // a draft change does not touch the live snapshot; the next publish is version 2
        ({ etag } = await getSet(V));
        ok(await call('DELETE', `${setPath(V)}/slots/${good.slotId}`, t, undefined, { 'If-Match': etag }), 204);
        const mid = (await getSet(V)).body;
        assert.deepEqual(mid.publishedSlots, after1.publishedSlots);
        const p2 = ok(await publish(V));
        assert.equal(p2.publishedVersion, 2);
        const after2 = (await getSet(V)).body;
        assert.deepEqual(after2.publishedSlots, after2.slots);
        assert.equal(after2.publishedSlots.length, 2);
        assert.equal(await epoch(V), epoch0 + 2);
        A.V3published = { v1: after1.publishedSlots, v2: after2.publishedSlots };
    });

    it('an empty schedule may be published', async () => {
        const r = await publish(A.V4);
        assert.equal(ok(r).publishedVersion, 1);
        assert.deepEqual((await getSet(A.V4)).body.publishedSlots, []);
    });

    it('rollback publishes an old snapshot as a new version; the draft stays; unknown versions are 422', async () => {
        const V = A.V3;
        const t = A.token;
        assert.ok(A.V3published, 'needs the publish test');
        const before1 = (await getSet(V)).body;
        const epoch0 = await epoch(V);
        const url = `${setPath(V)}/rollback`;
        for (const version of [0, -1, 'x', 1.5, null]) {
            const r = await call('POST', url, t, { version });
            assertProblem(r.res, r.text, { status: 400, code: 'INVALID_FIELD' });
        }
        let r = await call('POST', url, t, { version: 1, extra: true });
        assert.equal(r.res.status, 400, r.text);
        for (const version of [99, before1.publishedVersion + 1]) {
            r = await call('POST', url, t, { version });
            assertProblem(r.res, r.text, { status: 422, code: 'INVALID_VERSION' });
        }
        assert.equal((await getSet(V)).body.publishedVersion, before1.publishedVersion, 'a refused rollback uses no version');
        r = await call('POST', url, A.editor.token, { version: 1 });
        assert.equal(r.res.status, 404, 'an editor of another venue does not see this one');
        const rb = ok(await call('POST', url, t, { version: 1 }));
        assert.equal(rb.publishedVersion, before1.publishedVersion + 1);
        assert.equal(rb.sourceVersion, 1);
        const after1 = (await getSet(V)).body;
        assert.deepEqual(after1.publishedSlots, A.V3published.v1, 'version 1\'s content is live again');
        assert.deepEqual(after1.slots, before1.slots, 'the draft is untouched');
        assert.equal(after1.draftVersion, before1.draftVersion);
        assert.equal(await epoch(V), epoch0 + 1);
        const ev = ok(await call('GET', `/v1/venues/${V}/publishes?limit=200`, t)).items
            .find((e) => e.type === 'SCHEDULE_ROLLBACK' && e.entityId === before1.venueScheduleSetId);
        assert.ok(ev, 'a rollback event');
        assert.deepEqual([ev.previousVersion, ev.publishedVersion, ev.sourceVersion],
            [before1.publishedVersion, rb.publishedVersion, 1]);
        // and forward again to version 2's content
        const fwd = ok(await call('POST', url, t, { version: 2 }));
        assert.equal(fwd.publishedVersion, rb.publishedVersion + 1);
        assert.deepEqual((await getSet(V)).body.publishedSlots, A.V3published.v2);
    });

    it('20 concurrent publishes number 1..20 without a gap or a duplicate, every snapshot complete', async () => {
        const V = A.V2;
        const t = A.token;
        // V2 has one slot (from the 404 test); make it three
        await addSlot(V, slotBody({ targetId: A.D2, playlistId: A.P1 }), t);
        await addSlot(V, slotBody({ targetType: 'GROUP', targetId: A.G2, playlistId: A.P3 }), t);
        const { body: set, etag } = await getSet(V);
        assert.equal(set.slots.length, 3);
        assert.equal(set.publishedVersion, 0);
        const epoch0 = await epoch(V);
        const rs = await Promise.all(Array.from({ length: 20 }, () =>
            call('POST', `${setPath(V)}/publish`, t, undefined, { 'If-Match': etag })));
        const versions = rs.map((r) => ok(r).publishedVersion).sort((a, b) => a - b);
        assert.deepEqual(versions, Array.from({ length: 20 }, (_, i) => i + 1));
        assert.equal((await getSet(V)).body.publishedVersion, 20);
        const rows = await sql(`SELECT published_version, count(*) FROM schedule_published_slots WHERE venue_id = '${V}' `
            + 'GROUP BY published_version ORDER BY published_version');
        assert.deepEqual(rows.split('\n'), Array.from({ length: 20 }, (_, i) => `${i + 1}|3`));
        assert.equal(await sql(`SELECT count(*) FROM schedule_published WHERE venue_id = '${V}'`), '20');
        assert.equal(await epoch(V), epoch0 + 20);
        const events = ok(await call('GET', `/v1/venues/${V}/publishes?limit=200`, t)).items
            .filter((e) => e.entityId === set.venueScheduleSetId);
        assert.deepEqual(events.map((e) => e.publishedVersion).sort((a, b) => a - b), versions);
    });

    it('concurrent slot changes with the same ETag: exactly one wins, the rest are 412', async () => {
        const { body: set, etag } = await getSet(A.V2);
        const rs = await Promise.all(Array.from({ length: 10 }, (_, i) =>
            call('POST', `${setPath(A.V2)}/slots`, A.token, slotBody({ targetId: A.D2, playlistId: A.P1, priority: i }),
                { 'If-Match': etag })));
        assert.deepEqual(rs.map((r) => r.res.status).sort(), [201, ...Array(9).fill(412)]);
        const after1 = (await getSet(A.V2)).body;
        assert.equal(after1.draftVersion, set.draftVersion + 1);
        assert.equal(after1.slots.length, set.slots.length + 1);
    });

    it('at most 500 slots per venue', async () => {
        const V = A.V4;
        await sql(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 499)
            INSERT INTO schedule_slots (slot_id, tenant_id, venue_id, target_type, target_id, playlist_id,
                days_of_week_mask, start_minutes, end_minutes, created_at_utc, updated_at_utc)
            SELECT 'fill-${V}-' || i, '${A.tenantId}', '${V}', 'DEVICE', 'x', '${A.P1}', 1, 0, 60, '${NOW}', '${NOW}' FROM n`);
        const D4 = await insertDevice(A, V);
        await addSlot(V, slotBody({ targetId: D4 }));
        const { etag } = await getSet(V);
        const r = await call('POST', `${setPath(V)}/slots`, A.token, slotBody({ targetId: D4 }), { 'If-Match': etag });
        assertProblem(r.res, r.text, { status: 422, code: 'TOO_MANY_SLOTS' });
        assert.equal(await sql(`SELECT count(*) FROM schedule_slots WHERE venue_id = '${V}'`), '500');
        await sql(`DELETE FROM schedule_slots WHERE slot_id LIKE 'fill-%'`);
    });

    it('fallback playlist: must be live, the venue\'s and published; set and cleared with the epoch', async () => {
        const V = A.V1;
        const url = `/v1/venues/${V}/fallback-playlist`;
        const m = A.manager.token;
        const epoch0 = await epoch(V);
        for (const [body, code] of [[{}, 'FIELD_REQUIRED'], [{ playlistId: 'abc' }, 'INVALID_FIELD'],
            [{ playlistId: 7 }, 'INVALID_FIELD'], [{ playlistId: A.P1, x: 1 }, 'UNKNOWN_FIELD']]) {
            const r = await call('PUT', url, m, body);
            assertProblem(r.res, r.text, { status: 400, code });
        }
        for (const [playlistId, why] of [[A.PD, 'unpublished'], [A.PDV1, 'unpublished venue playlist'],
            [A.PV2, 'another venue\'s'], [B.P, 'another tenant\'s'], [randomUUID(), 'unknown']]) {
            const r = await call('PUT', url, m, { playlistId });
            assertProblem(r.res, r.text, { status: 422, code: 'INVALID_FALLBACK' });
            assert.deepEqual(problemFields(r.text), ['playlistId'], why);
        }
        assert.equal(await epoch(V), epoch0, 'no refused request moves the epoch');
        const seq0 = await lastSeq(A.token);
        let r = await call('PUT', url, m, { playlistId: A.PV1 });
        assert.deepEqual(ok(r), { venueId: V, fallbackPlaylistId: A.PV1 });
        assert.equal(await epoch(V), epoch0 + 1);
        assert.equal((await getSet(V, A.viewer.token)).body.fallbackPlaylistId, A.PV1);
        const venue = ok(await call('GET', `/v1/tenants/${A.tenantId}/venues/${V}`, A.token));
        assert.equal(venue.fallbackPlaylistId, A.PV1);
        r = await call('PUT', url, m, { playlistId: A.PV1 });
        assert.deepEqual(ok(r), { venueId: V, fallbackPlaylistId: A.PV1 });
        assert.equal(await epoch(V), epoch0 + 1, 'the same playlist again changes nothing');
        r = await call('DELETE', `/v1/venues/${V}/playlists/${A.PV1}`, A.token);
        assertProblem(r.res, r.text, { status: 409, code: 'PLAYLIST_IN_USE' });
        r = await call('PUT', url, A.token, { playlistId: A.P3 });
        assert.equal(ok(r).fallbackPlaylistId, A.P3, 'a library playlist, by a tenant admin');
        r = await call('PUT', url, m, { playlistId: null });
        assert.deepEqual(ok(r), { venueId: V, fallbackPlaylistId: null });
        assert.equal(await epoch(V), epoch0 + 3);
        assert.equal((await getSet(V)).body.fallbackPlaylistId, null);
        const feed = (await changesSince(A.token, seq0)).filter((c) => c.entityType === 'VENUE' && c.entityId === V);
        assert.deepEqual(feed.map((c) => c.action), ['updated', 'updated', 'updated']);
        assert.equal(await sql(`SELECT count(*) FROM audit_log WHERE action = 'venue.fallback_set' AND resource_id = '${V}'`), '3');
    });
    it('publishing a playlist bumps the epoch of exactly the venues that can play it', async () => {
        // PX reaches V3 through V3's published schedule and V4 through its fallback; V2 names it
        // only in a draft slot, V1 not at all
        const LIB = '/v1/library/playlists';
        const asset = (await sql(`SELECT asset_id FROM assets WHERE tenant_id = '${A.tenantId}' AND status = 'READY' LIMIT 1`)).trim();
        let r = await call('POST', LIB, A.token, { name: 'Reach test' });
        const px = ok(r, 201).playlistId;
        r = await call('PUT', `${LIB}/${px}/items`, A.token, { items: [{ assetId: asset }] }, { 'If-Match': r.res.headers.get('etag') });
        ok(r);
        const etag = r.res.headers.get('etag');
        assert.equal(ok(await call('POST', `${LIB}/${px}/publish`, A.token, undefined, { 'If-Match': etag })).venuesNotified, 0);
        await addSlot(A.V3, { targetType: 'DEVICE', targetId: A.D3, playlistId: px, daysOfWeekMask: 127, startMinutes: 0, endMinutes: 0 });
        ok(await publish(A.V3));
        ok(await call('PUT', `/v1/venues/${A.V4}/fallback-playlist`, A.token, { playlistId: px }));
        await addSlot(A.V2, { targetType: 'DEVICE', targetId: A.D2, playlistId: px, daysOfWeekMask: 1, startMinutes: 60, endMinutes: 120 });
        const before = await Promise.all([A.V1, A.V2, A.V3, A.V4].map(epoch));
        const p = ok(await call('POST', `${LIB}/${px}/publish`, A.token, undefined, { 'If-Match': etag }));
        assert.equal(p.venuesNotified, 2, JSON.stringify(p));
        const after = await Promise.all([A.V1, A.V2, A.V3, A.V4].map(epoch));
        assert.deepEqual(after, [before[0], before[1], before[2] + 1, before[3] + 1], 'V3 and V4 only');
        // leave V4 as the other tests expect it
        ok(await call('PUT', `/v1/venues/${A.V4}/fallback-playlist`, A.token, { playlistId: null }));
    });
});
