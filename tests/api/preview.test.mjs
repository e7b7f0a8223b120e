// SPDX-License-Identifier: MIT
//
// preview.test.mjs — the schedule preview of docs/publishing.md "Schedule preview" (issue 6):
// GET /v1/venues/{venueId}/devices/{deviceId}/schedule-preview at an instant (playlist, version,
// validToUtc, reason) and over a range (chained, merged intervals), from the published schedule
// or the draft. Venue One is in Europe/London and the instants sit on and around the 2026
// changes (29 March, 25 October), so every expected UTC boundary below is worked out by hand
// with the offset in force that day. Devices and groups have no API yet: they are inserted
// with SQL.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { apiClient } from './lib/client.mjs';
import { deviceClient, playerContent } from './lib/devices.mjs';
import { makeFixtures } from './lib/media.mjs';
import { BACKEND, assertProblem, startServer } from './lib/server.mjs';

const PASSWORD = 'preview suite passphrase 1';
const RATE_LIMITS = 'login_ip=10000/60,login_account=10000/60,refresh_user=10000/60,upload=10000/3600,'
    + 'mutation=100000/60,publish=100000/60';
const ALL_DAYS = 127;

describe(`schedule preview (${BACKEND})`, () => {
    let srv;
    let fx;
    const A = {}; // tenant A: venues V1 (fallback PF), V2, V3 (no fallback)
    const B = {}; // tenant B
    const S = {}; // slot ids
    const api = apiClient(() => srv, PASSWORD);
    const { call, ok, createTenant, createVenue, createUser } = api;
    const devices = deviceClient(() => srv);
    const { insertDevice, insertGroup } = devices;
    const { readyAsset } = playerContent(api, () => fx);
    /** A library playlist with one item; published (version 1) unless told not to. */
    const playlist = async (t, assetId, { publish = true } = {}) => {
        const prefix = '/v1/library/playlists';
        let r = await call('POST', prefix, t.token, { name: `List ${randomUUID().slice(0, 8)}` });
        const p = ok(r, 201);
        r = await call('PUT', `${prefix}/${p.playlistId}/items`, t.token, { items: [{ assetId }] },
            { 'If-Match': r.res.headers.get('etag') });
        ok(r);
        if (publish) {
            ok(await call('POST', `${prefix}/${p.playlistId}/publish`, t.token, undefined,
                { 'If-Match': r.res.headers.get('etag') }));
        }
        return p.playlistId;
    };
    const setPath = (v) => `/v1/venues/${v}/scheduleset`;
    /** POST a draft slot of venue @v (every day unless told): its id. */
    const addSlot = async (v, slot) => {
        const r0 = await call('GET', setPath(v), A.token);
        ok(r0);
        const r = await call('POST', `${setPath(v)}/slots`, A.token, { daysOfWeekMask: ALL_DAYS, ...slot },
            { 'If-Match': r0.res.headers.get('etag') });
        return ok(r, 201).slotId;
    };
    const publish = async (v) => {
        const r0 = await call('GET', setPath(v), A.token);
        ok(r0);
        ok(await call('POST', `${setPath(v)}/publish`, A.token, undefined, { 'If-Match': r0.res.headers.get('etag') }));
    };
    const previewPath = (v, d, query) => `/v1/venues/${v}/devices/${d}/schedule-preview?${query}`;
    const preview = async (v, d, query, token = A.token) => ok(await call('GET', previewPath(v, d, query), token));
    const at = (v, d, when, extra = '') => preview(v, d, `at=${encodeURIComponent(when)}${extra}`);
    /** The compact outcome: [playlist, kind, slot] */
    const outcome = (b) => [b.playlistId, b.reason.kind, b.reason.slotId];

    before(async () => {
        [srv, fx] = await Promise.all([startServer({ args: ['--rate-limits', RATE_LIMITS] }), makeFixtures()]);
        await devices.open(); // the sqlite3 shell holds the database open from the start
        Object.assign(A, await createTenant('Alpha Preview', 'admin@alpha-preview.test'));
        Object.assign(B, await createTenant('Bravo Preview', 'admin@bravo-preview.test'));
        [A.V1, A.V2, A.V3] = await Promise.all(['One', 'Two', 'Three'].map((n) => createVenue(A, `Venue ${n}`)));
        B.V = await createVenue(B, 'Bravo Venue');
        A.viewer = await createUser(A, 'viewer@alpha-preview.test', { venueRoles: [{ venueId: A.V1, role: 'VENUE_VIEWER' }] });
        const asset = (await readyAsset(A)).assetId;
        [A.P1, A.P2, A.P3, A.PF, A.PU] = await Promise.all([
            playlist(A, asset), playlist(A, asset), playlist(A, asset), playlist(A, asset),
            playlist(A, asset, { publish: false }),
        ]);
        A.G1 = await insertGroup(A, A.V1);
        A.D1 = await insertDevice(A, A.V1, { groupId: A.G1 }); // group member with a slot of its own
        A.D5 = await insertDevice(A, A.V1, { groupId: A.G1 }); // group member, venue zone
        A.DNY = await insertDevice(A, A.V1, { groupId: A.G1, timezone: 'America/New_York' });
        A.D3 = await insertDevice(A, A.V1); // no group: fallback unless the draft says otherwise
        A.Dgone = await insertDevice(A, A.V1, { groupId: A.G1, deleted: true });
        A.D2 = await insertDevice(A, A.V2);
        A.D4 = await insertDevice(A, A.V3);
        B.D = await insertDevice(B, B.V);
        ok(await call('PUT', `/v1/venues/${A.V1}/fallback-playlist`, A.token, { playlistId: A.PF }));
        // Venue One, local (Europe/London) times, every day:
        S.group = await addSlot(A.V1, { targetType: 'GROUP', targetId: A.G1, playlistId: A.P1, startMinutes: 480, endMinutes: 1200 });
        S.prio = await addSlot(A.V1, { targetType: 'GROUP', targetId: A.G1, playlistId: A.P3, startMinutes: 540, endMinutes: 600, priority: 5 });
        S.high = await addSlot(A.V1, { targetType: 'GROUP', targetId: A.G1, playlistId: A.P3, startMinutes: 750, endMinutes: 810, priority: 100 });
        S.dev = await addSlot(A.V1, { targetType: 'DEVICE', targetId: A.D1, playlistId: A.P2, startMinutes: 720, endMinutes: 840 });
        await publish(A.V1);
        // draft only, never published: D3 gets P2 at 12:00–14:00 and the unpublished PU at 15:00–16:00
        S.draftP2 = await addSlot(A.V1, { targetType: 'DEVICE', targetId: A.D3, playlistId: A.P2, startMinutes: 720, endMinutes: 840 });
        S.draftPU = await addSlot(A.V1, { targetType: 'DEVICE', targetId: A.D3, playlistId: A.PU, startMinutes: 900, endMinutes: 960 });
        await publish(A.V3); // an empty schedule, no fallback
    });
    after(async () => {
        await devices.close();
        await srv?.stop();
    });

    it('at: the whole answer for a device slot; validToUtc is the slot\'s end in BST', async () => {
        // Monday 30 March 2026, BST (UTC+1): 12:30Z is 13:30 local, inside the device's 12:00–14:00
        const b = await at(A.V1, A.D1, '2026-03-30T12:30:00Z');
        assert.deepEqual(Object.keys(b).sort(), ['at', 'deviceId', 'nextCheckSeconds', 'playlistId', 'publishedVersion',
            'reason', 'source', 'timezone', 'validToUtc']);
        assert.deepEqual(b, {
            deviceId: A.D1, at: '2026-03-30T12:30:00.000Z', timezone: 'Europe/London', playlistId: A.P2, publishedVersion: 1,
            validToUtc: '2026-03-30T13:00:00.000Z', nextCheckSeconds: 60, reason: { kind: 'SLOT', slotId: S.dev }, source: 'PUBLISHED',
        });
        // 30 s before the end: the poll interval is what is left
        const late = await at(A.V1, A.D1, '2026-03-30T12:59:30.500Z');
        assert.equal(late.at, '2026-03-30T12:59:30.500Z');
        assert.equal(late.validToUtc, '2026-03-30T13:00:00.000Z');
        assert.equal(late.nextCheckSeconds, 30);
    });

    it('device beats group whatever the priority; a higher priority beats a lower one', async () => {
        // 12:45 local: the device slot (priority 0) and S.high (group, priority 100) both cover it
        assert.deepEqual(outcome(await at(A.V1, A.D1, '2026-03-30T11:45:00Z')), [A.P2, 'SLOT', S.dev]);
        assert.deepEqual(outcome(await at(A.V1, A.D5, '2026-03-30T11:45:00Z')), [A.P3, 'SLOT', S.high]);
        // 09:30 local: S.prio (5) over S.group (0), until 10:00 local = 09:00Z
        const p = await at(A.V1, A.D5, '2026-03-30T08:30:00Z');
        assert.deepEqual(outcome(p), [A.P3, 'SLOT', S.prio]);
        assert.equal(p.validToUtc, '2026-03-30T09:00:00.000Z');
        const g = await at(A.V1, A.D5, '2026-03-30T09:00:00Z');
        assert.deepEqual(outcome(g), [A.P1, 'SLOT', S.group]);
        assert.equal(g.validToUtc, '2026-03-30T11:30:00.000Z', 'until S.high starts at 12:30 local');
    });

    it('outside every slot: the venue fallback, or nothing at all (NONE, nulls)', async () => {
        const f = await at(A.V1, A.D3, '2026-03-30T12:30:00Z');
        assert.deepEqual([f.playlistId, f.publishedVersion, f.reason], [A.PF, 1, { kind: 'VENUE_FALLBACK', slotId: null }]);
        const n = await at(A.V3, A.D4, '2026-03-30T12:30:00Z');
        assert.deepEqual([n.playlistId, n.publishedVersion, n.reason], [null, null, { kind: 'NONE', slotId: null }]);
        assert.equal(n.validToUtc, '2026-03-30T18:30:00.000Z', 'nothing changes: the 6-hour clamp');
        // Venue Two has never published: its device gets no slot either
        const v2 = await at(A.V2, A.D2, '2026-03-30T12:30:00Z');
        assert.equal(v2.reason.kind, 'NONE');
    });

    it('validToUtc follows the clocks on the change days (29 March and 25 October 2026)', async () => {
        // Sunday 29 March: GMT until 01:00Z, then BST. 02:30 BST → the group slot starts at 08:00 BST = 07:00Z
        let b = await at(A.V1, A.D5, '2026-03-29T01:30:00Z');
        assert.deepEqual(outcome(b), [A.PF, 'VENUE_FALLBACK', null]);
        assert.equal(b.validToUtc, '2026-03-29T07:00:00.000Z');
        // Saturday 28 March (GMT): the group slot ends at 20:00 = 20:00Z; on the Sunday at 20:00 BST = 19:00Z
        b = await at(A.V1, A.D5, '2026-03-28T19:30:00Z');
        assert.deepEqual([outcome(b), b.validToUtc], [[A.P1, 'SLOT', S.group], '2026-03-28T20:00:00.000Z']);
        b = await at(A.V1, A.D5, '2026-03-29T18:30:00Z');
        assert.deepEqual([outcome(b), b.validToUtc], [[A.P1, 'SLOT', S.group], '2026-03-29T19:00:00.000Z']);
        // Sunday 25 October: BST until 01:00Z, then GMT. 02:30 GMT → 08:00 GMT = 08:00Z
        b = await at(A.V1, A.D5, '2026-10-25T02:30:00Z');
        assert.deepEqual([outcome(b), b.validToUtc], [[A.PF, 'VENUE_FALLBACK', null], '2026-10-25T08:00:00.000Z']);
        // the day before, still BST: 08:00 BST = 07:00Z
        b = await at(A.V1, A.D5, '2026-10-24T02:30:00Z');
        assert.equal(b.validToUtc, '2026-10-24T07:00:00.000Z');
    });

    it('a device with its own zone (America/New_York) is resolved on its own clock', async () => {
        // 07:30Z on Monday 30 March: 08:30 in London (BST), 03:30 in New York (EDT since 8 March)
        const ny = await at(A.V1, A.DNY, '2026-03-30T07:30:00Z');
        assert.equal(ny.timezone, 'America/New_York');
        assert.deepEqual(outcome(ny), [A.PF, 'VENUE_FALLBACK', null]);
        assert.equal(ny.validToUtc, '2026-03-30T12:00:00.000Z', '08:00 EDT');
        const ldn = await at(A.V1, A.D5, '2026-03-30T07:30:00Z');
        assert.equal(ldn.timezone, 'Europe/London');
        assert.deepEqual(outcome(ldn), [A.P1, 'SLOT', S.group]);
        assert.equal(ldn.validToUtc, '2026-03-30T08:00:00.000Z', '09:00 BST');
        // 13:30Z: 09:30 in New York → S.prio there
        assert.deepEqual(outcome(await at(A.V1, A.DNY, '2026-03-30T13:30:00Z')), [A.P3, 'SLOT', S.prio]);
    });

    it('from/to: the local day of 29 March (23 hours) as merged intervals with the BST boundaries', async () => {
        const b = await preview(A.V1, A.D1, 'from=2026-03-29T00:00:00Z&to=2026-03-29T23:00:00Z');
        assert.deepEqual(Object.keys(b).sort(), ['deviceId', 'from', 'intervals', 'source', 'timezone', 'to', 'truncated']);
        assert.deepEqual([b.deviceId, b.from, b.to, b.timezone, b.source, b.truncated],
            [A.D1, '2026-03-29T00:00:00.000Z', '2026-03-29T23:00:00.000Z', 'Europe/London', 'PUBLISHED', false]);
        const iv = (s, e, p, kind, slotId) => ({
            startUtc: `2026-03-29T${s}:00:00.000Z`, endUtc: `2026-03-29T${e}:00:00.000Z`, playlistId: p, publishedVersion: 1,
            reason: { kind, slotId },
        });
        assert.deepEqual(b.intervals, [
            iv('00', '07', A.PF, 'VENUE_FALLBACK', null), // 00:00 GMT – 08:00 BST, across the 6-hour clamp
            iv('07', '08', A.P1, 'SLOT', S.group),
            iv('08', '09', A.P3, 'SLOT', S.prio),
            iv('09', '11', A.P1, 'SLOT', S.group),
            iv('11', '13', A.P2, 'SLOT', S.dev), // S.high inside it does not show: device beats group
            iv('13', '19', A.P1, 'SLOT', S.group),
            iv('19', '23', A.PF, 'VENUE_FALLBACK', null),
        ]);
    });

    it('from/to: 14 days are allowed and cover the range without a gap', async () => {
        const b = await preview(A.V1, A.D5, 'from=2026-10-18T00:00:00.250Z&to=2026-11-01T00:00:00.250Z');
        assert.equal(b.truncated, false);
        assert.equal(b.intervals[0].startUtc, '2026-10-18T00:00:00.250Z');
        assert.equal(b.intervals.at(-1).endUtc, '2026-11-01T00:00:00.250Z');
        for (let i = 1; i < b.intervals.length; i++) {
            assert.equal(b.intervals[i].startUtc, b.intervals[i - 1].endUtc);
            assert.notDeepEqual([b.intervals[i].playlistId, b.intervals[i].reason], [b.intervals[i - 1].playlistId, b.intervals[i - 1].reason],
                'neighbours differ (merged)');
        }
        // D5: fallback, P1, P3, P1, P3 (S.high), P1, fallback each day = 7 a day, neighbours across
        // midnight merge (fallback–fallback): 14 × 6 + 1
        assert.equal(b.intervals.length, 14 * 6 + 1);
        // the group slot starts at 07:00Z before the change and at 08:00Z after it
        const starts = b.intervals.filter((i) => i.reason.slotId === S.group && /T0[78]:00/.test(i.startUtc)).map((i) => i.startUtc);
        assert.ok(starts.includes('2026-10-24T07:00:00.000Z'), starts.join());
        assert.ok(starts.includes('2026-10-25T08:00:00.000Z'), starts.join());
    });

    it('draft=true shows the unpublished slots (an unpublished playlist with publishedVersion null)', async () => {
        const pub = await at(A.V1, A.D3, '2026-03-30T11:30:00Z');
        assert.deepEqual([pub.source, ...outcome(pub)], ['PUBLISHED', A.PF, 'VENUE_FALLBACK', null]);
        const d = await at(A.V1, A.D3, '2026-03-30T11:30:00Z', '&draft=true');
        assert.deepEqual([d.source, ...outcome(d), d.publishedVersion, d.validToUtc],
            ['DRAFT', A.P2, 'SLOT', S.draftP2, 1, '2026-03-30T13:00:00.000Z']);
        const u = await at(A.V1, A.D3, '2026-03-30T14:30:00Z', '&draft=true');
        assert.deepEqual([...outcome(u), u.publishedVersion], [A.PU, 'SLOT', S.draftPU, null]);
        assert.equal((await at(A.V1, A.D3, '2026-03-30T11:30:00Z', '&draft=false')).source, 'PUBLISHED');
        // the published slots are in the draft as well
        assert.deepEqual(outcome(await at(A.V1, A.D1, '2026-03-30T11:30:00Z', '&draft=true')), [A.P2, 'SLOT', S.dev]);
        const r = await preview(A.V1, A.D3, 'from=2026-03-30T10:00:00Z&to=2026-03-30T16:00:00Z&draft=true');
        assert.equal(r.source, 'DRAFT');
        assert.deepEqual(r.intervals.map((i) => [i.startUtc.slice(11, 16), i.endUtc.slice(11, 16), i.playlistId, i.publishedVersion]), [
            ['10:00', '11:00', A.PF, 1], ['11:00', '13:00', A.P2, 1], ['13:00', '14:00', A.PF, 1],
            ['14:00', '15:00', A.PU, null], ['15:00', '16:00', A.PF, 1],
        ]);
    });

    it('400 INVALID_QUERY for a bad, mixed, missing, reversed or too long query', async () => {
        const bad = [
            ['at=yesterday', 'at'],
            ['at=2026-03-30T12:30:00%2B01:00', 'at'],
            ['at=2026-02-30T12:00:00Z', 'at'],
            ['', 'at'],
            ['draft=true', 'at'],
            ['at=2026-03-30T12:30:00Z&from=2026-03-30T00:00:00Z', 'at'],
            ['at=2026-03-30T12:30:00Z&from=2026-03-30T00:00:00Z&to=2026-03-31T00:00:00Z', 'at'],
            ['from=2026-03-30T00:00:00Z', 'to'],
            ['to=2026-03-30T00:00:00Z', 'from'],
            ['from=2026-03-30T00:00:00Z&to=soon', 'to'],
            ['from=2026-03-30T00:00:00Z&to=2026-03-30T00:00:00Z', 'to'],
            ['from=2026-03-30T00:00:00Z&to=2026-03-29T00:00:00Z', 'to'],
            ['from=2026-03-01T00:00:00Z&to=2026-03-15T00:00:00.001Z', 'to'],
            ['at=2026-03-30T12:30:00Z&draft=yes', 'draft'],
        ];
        for (const [query, field] of bad) {
            const r = await call('GET', previewPath(A.V1, A.D1, query), A.token);
            assertProblem(r.res, r.text, { status: 400, code: 'INVALID_QUERY' });
            assert.deepEqual(JSON.parse(r.text).errors.map((e) => e.field), [field], query);
        }
    });

    it('404 for a deleted device, another venue\'s device and another tenant; a viewer may read', async () => {
        const when = 'at=2026-03-30T12:30:00Z';
        for (const [v, d] of [[A.V1, A.Dgone], [A.V1, A.D2], [A.V2, A.D1], [A.V1, randomUUID()], [A.V1, 'not-a-uuid'], [A.V1, B.D]]) {
            const r = await call('GET', previewPath(v, d, when), A.token);
            assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
        }
        for (const [v, d] of [[A.V1, A.D1], [B.V, A.D1]]) {
            const r = await call('GET', previewPath(v, d, when), B.token);
            assert.equal(r.res.status, 404, `tenant B: ${r.text}`);
        }
        assert.equal((await preview(A.V1, A.D1, when, A.viewer.token)).playlistId, A.P2);
        const r = await call('GET', previewPath(A.V2, A.D2, when), A.viewer.token);
        assert.equal(r.res.status, 404, 'a venue the viewer has no role on');
        const anon = await call('GET', previewPath(A.V1, A.D1, when));
        assert.equal(anon.res.status, 401);
    });
});
