// SPDX-License-Identifier: MIT
//
// devices.test.mjs — a venue's groups and devices of docs/devices.md "Groups" and "Devices"
// (spec §26.4, §27.1, §27.6, §25.4–§25.5, §30.2, §11.1):
//
//   - groups: create (201, Location, ETag), read (304), rename under If-Match (428, 412), delete
//     (If-Match optional), names unique per venue whatever their case, every bad name, pages by
//     name then id and ?q=; a group of another venue or tenant is 404;
//   - a group that a draft or live schedule slot aims at cannot be deleted (409 naming the
//     slots); once the slot is out of the draft and that is published, it can, and its devices
//     leave it (their manifests are made anew);
//   - devices: read (304), every editable field and every bad value of each (400 naming it, all
//     of them at once), unknown fields, If-Match 428/412, a group of another venue, pages and
//     the ?q=, ?groupId=, ?status= filters, 404 across venues and tenants, delete (tokens
//     revoked); audit entries with from/to and the change feed;
//   - roles: a viewer reads, an editor cannot write, a manager and a tenant admin can;
//   - the manifest over HTTP: each playback field changes the device's manifest ETag and
//     settings, the name alone does not; disabled → 401 INVALID_TOKEN, enabled again → 200,
//     removed → 401.
// Devices are made by pairing (another part of issue 7): here they are inserted with SQL.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { apiClient } from './lib/client.mjs';
import { deviceClient, deviceKey, playerContent, ROW_TIME } from './lib/devices.mjs';
import { makeFixtures } from './lib/media.mjs';
import { BACKEND, UUID_RE, assertProblem, startServer } from './lib/server.mjs';

const PASSWORD = 'devices suite passphrase 1';
const KEY = deviceKey();
const RATE_LIMITS = 'login_ip=10000/60,login_account=10000/60,refresh_user=10000/60,upload=10000/3600,'
    + 'mutation=100000/60,publish=100000/60,manifest=100000/60';
const TS_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const GROUP_MEMBERS = ['groupId', 'venueId', 'name', 'deviceCount', 'createdAtUtc', 'updatedAtUtc'];
const DEVICE_MEMBERS = ['deviceId', 'venueId', 'name', 'groupId', 'timezone', 'runMode', 'launchOnBoot',
    'autoRelaunch', 'keepAwake', 'watchdogReturnToForeground', 'orientation', 'cacheBudgetBytes', 'status',
    'deviceHardwareId', 'appVersion', 'lastSeenAtUtc', 'createdAtUtc', 'updatedAtUtc'];
const MiB = 1024 * 1024;

/** The minute of the day it is now in @timeZone. */
function minuteIn(timeZone) {
    const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
        .formatToParts(new Date());
    const n = (type) => Number(parts.find((p) => p.type === type).value);
    return n('hour') * 60 + n('minute');
}

describe(`devices and groups (${BACKEND})`, () => {
    let srv;
    let fx;
    const A = {}; // tenant A: venues V1 (users, most tests), V2, V3 (manifest), V4 (group delete), V5 (device lists)
    const B = {}; // tenant B
    const api = apiClient(() => srv, PASSWORD);
    const { call, ok, createTenant, createVenue, createUser } = api;
    const devices = deviceClient(() => srv, KEY);
    const { sql, insertDevice, deviceToken, manifest, fetchManifest } = devices;
    const { readyAsset, playlist, addSlot, deleteSlot, publishSchedule } = playerContent(api, () => fx);

    const groupsOf = (v) => `/v1/venues/${v}/groups`;
    const devicesOf = (v) => `/v1/venues/${v}/devices`;
    /** A group of venue @v made through the API: its JSON. */
    const newGroup = async (t, v, name = `Group ${randomUUID().slice(0, 8)}`) =>
        ok(await call('POST', groupsOf(v), t.token, { name }), 201);
    /** GET of @p: {body, etag}. */
    const read = async (t, p) => {
        const r = await call('GET', p, t.token);
        return { body: ok(r), etag: r.res.headers.get('etag') };
    };
    /** PATCH of @p with the ETag a GET gives now: {body, etag}. */
    const patch = async (t, p, body) => {
        const r = await call('PATCH', p, t.token, body, { 'If-Match': (await read(t, p)).etag });
        return { body: ok(r), etag: r.res.headers.get('etag') };
    };
    /** A request that must fail with @status / @code: the problem body. */
    const refuse = async (promise, status, code) => {
        const r = await promise;
        return assertProblem(r.res, r.text, { status, code });
    };
    /** Every page of list @p (with @query) at @limit a page: the items, in order. */
    const allPages = async (t, p, query = '', limit = 2) => {
        const items = [];
        let cursor = null;
        for (let pages = 0; ; pages++) {
            assert.ok(pages < 100, 'the cursor never ends');
            const q = `?limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
            const page = ok(await call('GET', `${p}${q}`, t.token));
            assert.ok(page.items.length <= limit);
            items.push(...page.items);
            if (!page.nextCursor) return items;
            cursor = page.nextCursor;
        }
    };
    /** Compares by name, then by the id in member @id (byte order, as the server sorts). */
    const byNameThen = (id) => (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a[id] < b[id] ? -1 : 1);
    /** The tenant's audit entries of @action about @id, newest first. */
    const audits = async (t, action, id) => ok(await call('GET', `/v1/audit?action=${action}&limit=200`, t.token))
        .items.filter((e) => e.resourceId === id);
    /** The change feed entries after seq @since about @id. */
    const feed = async (t, since, id) => ok(await call('GET', `/v1/changes?since=${since}&limit=200`, t.token))
        .items.filter((c) => c.entityId === id);
    const lastSeq = async (t) => {
        let since = 0;
        for (;;) {
            const page = ok(await call('GET', `/v1/changes?since=${since}&limit=200`, t.token));
            since = Number(page.nextCursor);
            if (!page.hasMore) return since;
        }
    };

    before(async () => {
        [srv, fx] = await Promise.all([
            startServer({ args: ['--jwt-keys', KEY.arg, '--rate-limits', RATE_LIMITS] }),
            makeFixtures(),
        ]);
        await devices.open();
        Object.assign(A, await createTenant('Alpha Devices', 'admin@alpha-devices.test'));
        Object.assign(B, await createTenant('Bravo Devices', 'admin@bravo-devices.test'));
        [A.V1, A.V2, A.V3, A.V4, A.V5] = await Promise.all(['One', 'Two', 'Three', 'Four', 'Five']
            .map((n) => createVenue(A, `Venue ${n}`)));
        B.V = await createVenue(B, 'Bravo Venue');
        const role = (role) => ({ venueRoles: [{ venueId: A.V1, role }] });
        [A.manager, A.editor, A.viewer] = await Promise.all([
            createUser(A, 'manager@alpha-devices.test', role('VENUE_MANAGER')),
            createUser(A, 'editor@alpha-devices.test', role('VENUE_EDITOR')),
            createUser(A, 'viewer@alpha-devices.test', role('VENUE_VIEWER')),
        ]);
        A.asset = await readyAsset(A);
        [A.P1, A.P2] = await Promise.all([playlist(A, A.asset.assetId), playlist(A, A.asset.assetId)]);
    });
    after(async () => {
        await devices.close();
        await srv?.stop();
    });

    // ---- groups ------------------------------------------------------------------------------

    it('groups: create, read (304), rename under If-Match (428, 412), delete; audit and change feed', async () => {
        const since = await lastSeq(A);
        let r = await call('POST', groupsOf(A.V1), A.token, { name: '  Front windows  ' });
        const g = ok(r, 201);
        assert.deepEqual(Object.keys(g), GROUP_MEMBERS);
        assert.match(g.groupId, UUID_RE);
        assert.equal(g.venueId, A.V1);
        assert.equal(g.name, 'Front windows', 'surrounding spaces trimmed');
        assert.equal(g.deviceCount, 0);
        assert.match(g.createdAtUtc, TS_RE);
        assert.equal(g.updatedAtUtc, g.createdAtUtc);
        assert.equal(r.res.headers.get('location'), `${groupsOf(A.V1)}/${g.groupId}`);
        const created = r.res.headers.get('etag');
        assert.match(created, /^"[0-9a-f]{32}"$/);

        // read: the same representation and ETag; If-None-Match → 304
        const one = await read(A, `${groupsOf(A.V1)}/${g.groupId}`);
        assert.deepEqual(one.body, g);
        assert.equal(one.etag, created);
        r = await call('GET', `${groupsOf(A.V1)}/${g.groupId}`, A.token, undefined, { 'If-None-Match': created });
        assert.equal(r.res.status, 304);
        assert.equal(r.res.headers.get('etag'), created);

        // devices joining it count, and move its ETag
        await insertDevice(A, A.V1, { groupId: g.groupId });
        await insertDevice(A, A.V1, { groupId: g.groupId, deleted: true });
        const counted = await read(A, `${groupsOf(A.V1)}/${g.groupId}`);
        assert.equal(counted.body.deviceCount, 1, 'live devices only');
        assert.notEqual(counted.etag, created);

        // rename: If-Match required, and must be current
        const p = `${groupsOf(A.V1)}/${g.groupId}`;
        await refuse(call('PATCH', p, A.token, { name: 'Windows' }), 428, 'PRECONDITION_REQUIRED');
        const stale = await refuse(call('PATCH', p, A.token, { name: 'Windows' }, { 'If-Match': created }), 412,
            'PRECONDITION_FAILED');
        assert.equal(stale.currentEtag, counted.etag);
        r = await call('PATCH', p, A.token, { name: 'Windows' }, { 'If-Match': counted.etag });
        const renamed = ok(r);
        assert.equal(renamed.name, 'Windows');
        assert.ok(renamed.updatedAtUtc > g.updatedAtUtc);
        assert.equal(renamed.createdAtUtc, g.createdAtUtc);
        const etag = r.res.headers.get('etag');
        assert.equal(etag, (await read(A, p)).etag);
        // the same name again: nothing written, the ETag stays
        r = await call('PATCH', p, A.token, { name: 'Windows' }, { 'If-Match': etag });
        assert.deepEqual(ok(r), renamed);
        assert.equal(r.res.headers.get('etag'), etag);
        // If-Match "*" matches any current representation
        r = await call('PATCH', p, A.token, { name: 'windows' }, { 'If-Match': '*' });
        assert.equal(ok(r).name, 'windows', 'its own name in another case is free');

        // delete: a stale If-Match is 412, none is fine; then 404 everywhere
        await refuse(call('DELETE', p, A.token, undefined, { 'If-Match': etag }), 412, 'PRECONDITION_FAILED');
        r = await call('DELETE', p, A.token);
        assert.equal(r.res.status, 204, r.text);
        await refuse(call('GET', p, A.token), 404, 'NOT_FOUND');
        await refuse(call('PATCH', p, A.token, { name: 'x' }, { 'If-Match': '*' }), 404, 'NOT_FOUND');
        await refuse(call('DELETE', p, A.token), 404, 'NOT_FOUND');
        assert.ok(!(await allPages(A, groupsOf(A.V1), '', 200)).some((x) => x.groupId === g.groupId));

        const actions = [];
        for (const a of ['group.created', 'group.updated', 'group.deleted']) {
            const e = await audits(A, a, g.groupId);
            assert.equal(e.length, a === 'group.updated' ? 2 : 1, a);
            assert.equal(e[0].resourceType, 'GROUP');
            assert.equal(e[0].venueId, A.V1);
            assert.equal(e[0].actorId, A.userId);
            actions.push(e[0]);
        }
        assert.deepEqual(actions[0].details, { name: 'Front windows' });
        assert.deepEqual(actions[1].details, { changes: { name: { from: 'Windows', to: 'windows' } } });
        assert.equal(actions[2].details.devicesUngrouped, 1);
        assert.deepEqual((await feed(A, since, g.groupId)).map((c) => [c.entityType, c.action, c.venueId]),
            [['GROUP', 'created', A.V1], ['GROUP', 'updated', A.V1], ['GROUP', 'updated', A.V1], ['GROUP', 'deleted', A.V1]]);
    });

    it('group names: every bad one is 400, unique per venue whatever the case (409), free again once deleted', async () => {
        const p = groupsOf(A.V1);
        for (const [body, code] of [
            [{}, 'FIELD_REQUIRED'], [{ name: '' }, 'INVALID_FIELD'], [{ name: '   \t ' }, 'INVALID_FIELD'],
            [{ name: 'x'.repeat(201) }, 'INVALID_FIELD'], [{ name: 'é'.repeat(201) }, 'INVALID_FIELD'],
            [{ name: 7 }, 'INVALID_FIELD'], [{ name: null }, 'INVALID_FIELD'], [{ name: ['a'] }, 'INVALID_FIELD'],
        ]) {
            const e = await refuse(call('POST', p, A.token, body), 400, code);
            assert.deepEqual(e.errors.map((x) => x.field), ['name'], JSON.stringify(body));
        }
        const unknown = await refuse(call('POST', p, A.token, { name: 'ok', colour: 'red' }), 400, 'UNKNOWN_FIELD');
        assert.deepEqual(unknown.errors.map((x) => x.field), ['colour']);
        await refuse(call('POST', p, A.token, '[]'), 400, 'INVALID_BODY');
        await refuse(call('POST', p, A.token, '{"name":'), 400, 'MALFORMED_JSON');
        await refuse(call('POST', p, A.token, { name: 'a\u0000b' }), 400, 'MALFORMED_JSON'); // the parser refuses \u0000
        assert.equal((await newGroup(A, A.V1, 'é'.repeat(200))).name.length, 200, '200 characters are fine');

        const bar = await newGroup(A, A.V1, 'Bar area');
        const taken = await refuse(call('POST', p, A.token, { name: 'BAR AREA' }), 409, 'GROUP_NAME_TAKEN');
        assert.deepEqual(taken.errors.map((x) => x.field), ['name']);
        await refuse(call('POST', p, A.token, { name: ' bar area ' }), 409, 'GROUP_NAME_TAKEN');
        // another venue, another tenant: free
        await newGroup(A, A.V2, 'Bar area');
        await newGroup(B, B.V, 'Bar area');
        // a rename onto another group's name
        const other = await newGroup(A, A.V1, 'Terrace');
        const r = await call('PATCH', `${p}/${other.groupId}`, A.token, { name: 'bar AREA' }, { 'If-Match': '*' });
        assertProblem(r.res, r.text, { status: 409, code: 'GROUP_NAME_TAKEN' });
        // deleted, the name is free again
        assert.equal((await call('DELETE', `${p}/${bar.groupId}`, A.token)).res.status, 204);
        assert.equal((await newGroup(A, A.V1, 'Bar Area')).name, 'Bar Area');
    });

    it('groups: pages by name then id, ?q= keeps names that contain it (any case, % and _ literal)', async () => {
        const v = A.V2;
        const names = ['Kitchen', 'lobby', 'Lobby 2', 'Lobby%', 'Lobby_x', 'Zebra', 'Atrium'];
        for (const n of names) await newGroup(A, v, n);
        const all = await allPages(A, groupsOf(v));
        const want = ok(await call('GET', `${groupsOf(v)}?limit=200`, A.token)).items;
        assert.deepEqual(all, want, 'pages of 2 = one page of 200');
        assert.deepEqual(all, [...all].sort(byNameThen('groupId')));
        for (const g of all) assert.deepEqual(Object.keys(g), GROUP_MEMBERS);
        const q = (s) => allPages(A, groupsOf(v), `&q=${encodeURIComponent(s)}`);
        assert.deepEqual((await q('LOBBY')).map((g) => g.name).sort(), ['Lobby 2', 'Lobby%', 'Lobby_x', 'lobby'].sort());
        assert.deepEqual((await q('%')).map((g) => g.name), ['Lobby%']);
        assert.deepEqual((await q('_')).map((g) => g.name), ['Lobby_x']);
        assert.deepEqual(await q('nothing like it'), []);
        await refuse(call('GET', `${groupsOf(v)}?limit=0`, A.token), 400, 'INVALID_LIMIT');
        await refuse(call('GET', `${groupsOf(v)}?limit=201`, A.token), 400, 'INVALID_LIMIT');
        await refuse(call('GET', `${groupsOf(v)}?cursor=garbage`, A.token), 400, 'INVALID_CURSOR');
        await refuse(call('GET', `${groupsOf(v)}?q=${'x'.repeat(201)}`, A.token), 400, 'INVALID_QUERY');
    });

    it('a group of another venue or tenant is 404, a venue of another tenant too', async () => {
        const g2 = await newGroup(A, A.V2);
        const gb = await newGroup(B, B.V);
        for (const [t, v, g] of [[A, A.V1, g2.groupId], [A, A.V1, gb.groupId], [A, A.V1, 'not-a-uuid'], [A, A.V1, randomUUID()]]) {
            const p = `${groupsOf(v)}/${g}`;
            await refuse(call('GET', p, t.token), 404, 'NOT_FOUND');
            await refuse(call('PATCH', p, t.token, { name: 'Mine now' }, { 'If-Match': '*' }), 404, 'NOT_FOUND');
            await refuse(call('DELETE', p, t.token), 404, 'NOT_FOUND');
        }
        // tenant B's admin on tenant A's venue: the venue does not exist for it
        await refuse(call('GET', groupsOf(A.V1), B.token), 404, 'NOT_FOUND');
        await refuse(call('POST', groupsOf(A.V1), B.token, { name: 'Intruders' }), 404, 'NOT_FOUND');
        await refuse(call('GET', `${groupsOf(A.V2)}/${g2.groupId}`, B.token), 404, 'NOT_FOUND');
        await refuse(call('GET', devicesOf(A.V1), B.token), 404, 'NOT_FOUND');
        // still there
        assert.equal((await read(A, `${groupsOf(A.V2)}/${g2.groupId}`)).body.name, g2.name);
    });

    it('a group that a draft or live slot aims at cannot be deleted (409 naming the slots); then it can, and its devices leave it', async () => {
        const v = A.V4;
        const g = await newGroup(A, v, 'Screens by the door');
        const p = `${groupsOf(v)}/${g.groupId}`;
        const d1 = await insertDevice(A, v, { groupId: g.groupId });
        const d2 = await insertDevice(A, v, { groupId: g.groupId });
        const other = await insertDevice(A, v);
        const token = deviceToken(A, v, d1);

        const slot = await addSlot(A, v, { targetType: 'GROUP', targetId: g.groupId, playlistId: A.P1.playlistId });
        let e = await refuse(call('DELETE', p, A.token), 409, 'GROUP_IN_USE');
        assert.deepEqual(e.context, { draftSlotIds: [slot.slotId], publishedSlotIds: [] });
        await publishSchedule(A, v);
        assert.equal((await fetchManifest(token)).body.playlist.playlistId, A.P1.playlistId);
        e = await refuse(call('DELETE', p, A.token), 409, 'GROUP_IN_USE');
        assert.deepEqual(e.context, { draftSlotIds: [slot.slotId], publishedSlotIds: [slot.slotId] });
        await deleteSlot(A, v, slot.slotId);
        e = await refuse(call('DELETE', p, A.token), 409, 'GROUP_IN_USE');
        assert.deepEqual(e.context, { draftSlotIds: [], publishedSlotIds: [slot.slotId] }, 'the live schedule still plays it');
        assert.equal((await read(A, p)).body.deviceCount, 2, 'nothing changed');

        await publishSchedule(A, v);
        const before = await fetchManifest(token);
        assert.equal(before.body.playlist, null);
        assert.equal((await fetchManifest(token)).source, 'cached');
        const since = await lastSeq(A);
        const r = await call('DELETE', p, A.token);
        assert.equal(r.res.status, 204, r.text);
        for (const d of [d1, d2]) {
            const dev = (await read(A, `${devicesOf(v)}/${d}`)).body;
            assert.equal(dev.groupId, null, 'out of the deleted group');
            assert.ok(dev.updatedAtUtc > ROW_TIME);
        }
        assert.equal((await read(A, `${devicesOf(v)}/${other}`)).body.updatedAtUtc, ROW_TIME, 'others untouched');
        const changes = (await feed(A, since, d1)).concat(await feed(A, since, d2));
        assert.deepEqual(changes.map((c) => [c.entityType, c.action]), [['DEVICE', 'updated'], ['DEVICE', 'updated']]);
        // the device's manifest is made anew (another cache lineage), and is still the same
        const after = await fetchManifest(token);
        assert.equal(after.source, 'resolved', 'the device row changed, so did its cache key');
        assert.equal(after.body.playlist, null);

        // nothing can point at it any more
        const set = await call('GET', `/v1/venues/${v}/scheduleset`, A.token);
        const s = await call('POST', `/v1/venues/${v}/scheduleset/slots`, A.token,
            { targetType: 'GROUP', targetId: g.groupId, playlistId: A.P1.playlistId, daysOfWeekMask: 127, startMinutes: 0, endMinutes: 0 },
            { 'If-Match': set.res.headers.get('etag') });
        assert.equal(s.res.status, 422, s.text);
        assert.deepEqual(JSON.parse(s.text).errors.map((x) => x.field), ['targetId']);
        const bad = await refuse(call('PATCH', `${devicesOf(v)}/${d1}`, A.token, { groupId: g.groupId }, { 'If-Match': '*' }),
            400, 'INVALID_FIELD');
        assert.deepEqual(bad.errors.map((x) => x.field), ['groupId']);
    });

    it('concurrently: one of many creates gets a name; a group delete and a device or slot joining it never both win', async () => {
        const v = A.V2;
        const racers = await Promise.all(['Stage', 'STAGE', 'stage', 'Stage', 'sTaGe', 'Stage', 'stage', 'STAGE']
            .map((name) => call('POST', groupsOf(v), A.token, { name })));
        assert.deepEqual(racers.map((r) => r.res.status).sort(), [201, 409, 409, 409, 409, 409, 409, 409],
            racers.map((r) => r.text).join('\n'));
        for (const r of racers.filter((x) => x.res.status === 409)) assertProblem(r.res, r.text, { status: 409, code: 'GROUP_NAME_TAKEN' });

        for (let round = 0; round < 6; round++) {
            const g = await newGroup(A, v);
            const d = await insertDevice(A, v);
            const setEtag = (await call('GET', `/v1/venues/${v}/scheduleset`, A.token)).res.headers.get('etag');
            const [joined, slotted, deleted] = await Promise.all([
                call('PATCH', `${devicesOf(v)}/${d}`, A.token, { groupId: g.groupId }, { 'If-Match': '*' }),
                call('POST', `/v1/venues/${v}/scheduleset/slots`, A.token, { targetType: 'GROUP', targetId: g.groupId,
                    playlistId: A.P1.playlistId, daysOfWeekMask: 127, startMinutes: 0, endMinutes: 0 }, { 'If-Match': setEtag }),
                call('DELETE', `${groupsOf(v)}/${g.groupId}`, A.token),
            ]);
            assert.ok([200, 400].includes(joined.res.status), joined.text);
            assert.ok([201, 422].includes(slotted.res.status), slotted.text);
            assert.ok([204, 409].includes(deleted.res.status), deleted.text);
            const groupLive = (await call('GET', `${groupsOf(v)}/${g.groupId}`, A.token)).res.status === 200;
            const device = (await read(A, `${devicesOf(v)}/${d}`)).body;
            if (slotted.res.status === 201) {
                assert.equal(deleted.res.status, 409, 'a slot aimed at it: the group stays');
                assert.ok(groupLive);
                await deleteSlot(A, v, JSON.parse(slotted.text).slotId);
            } else {
                assert.equal(deleted.res.status, 204, `the slot saw the group gone: ${slotted.text}`);
            }
            // the device is in the group only while the group lives
            assert.equal(device.groupId, groupLive && joined.res.status === 200 ? g.groupId : null, JSON.stringify(device));
        }
    });

    // ---- devices -----------------------------------------------------------------------------

    it('devices: read (all members, defaults, 304), a name change, nothing changed, audit from/to, change feed', async () => {
        const id = await insertDevice(A, A.V1);
        const p = `${devicesOf(A.V1)}/${id}`;
        const one = await read(A, p);
        assert.deepEqual(Object.keys(one.body), DEVICE_MEMBERS);
        assert.deepEqual(one.body, {
            deviceId: id, venueId: A.V1, name: `Screen ${id.slice(0, 4)}`, groupId: null, timezone: null,
            runMode: 'SHARED', launchOnBoot: true, autoRelaunch: false, keepAwake: false, watchdogReturnToForeground: false,
            orientation: 'LANDSCAPE', cacheBudgetBytes: 2000000000, status: 'ACTIVE', deviceHardwareId: null,
            appVersion: null, lastSeenAtUtc: null, createdAtUtc: ROW_TIME, updatedAtUtc: ROW_TIME,
        });
        assert.match(one.etag, /^"[0-9a-f]{32}"$/);
        let r = await call('GET', p, A.viewer.token, undefined, { 'If-None-Match': one.etag });
        assert.equal(r.res.status, 304);

        const since = await lastSeq(A);
        r = await call('PATCH', p, A.manager.token, { name: ' Till 3 ' }, { 'If-Match': one.etag });
        const renamed = ok(r);
        assert.equal(renamed.name, 'Till 3');
        assert.ok(renamed.updatedAtUtc > ROW_TIME);
        assert.deepEqual({ ...renamed, name: one.body.name, updatedAtUtc: ROW_TIME }, one.body, 'nothing else moved');
        const etag = r.res.headers.get('etag');
        assert.notEqual(etag, one.etag);
        assert.equal((await read(A, p)).etag, etag);

        // a patch that changes nothing (or is empty): the same device and ETag, no audit entry
        for (const body of [{}, { name: 'Till 3', runMode: 'SHARED', groupId: null, timezone: null }]) {
            r = await call('PATCH', p, A.token, body, { 'If-Match': etag });
            assert.deepEqual(ok(r), renamed);
            assert.equal(r.res.headers.get('etag'), etag);
        }
        const entries = await audits(A, 'device.updated', id);
        assert.equal(entries.length, 1);
        assert.equal(entries[0].resourceType, 'DEVICE');
        assert.equal(entries[0].actorId, A.manager.userId);
        assert.equal(entries[0].venueId, A.V1);
        assert.deepEqual(entries[0].details, { changes: { name: { from: one.body.name, to: 'Till 3' } } });
        assert.deepEqual((await feed(A, since, id)).map((c) => [c.entityType, c.action, c.venueId, c.actorUserId]),
            [['DEVICE', 'updated', A.V1, A.manager.userId]]);
    });

    it('devices: every field can be set, in any subset, and the audit entry lists each change', async () => {
        const g = await newGroup(A, A.V1);
        const id = await insertDevice(A, A.V1);
        const p = `${devicesOf(A.V1)}/${id}`;
        const change = {
            name: 'Menu board', groupId: g.groupId, timezone: 'America/New_York', runMode: 'KIOSK', launchOnBoot: false,
            autoRelaunch: true, keepAwake: true, watchdogReturnToForeground: true, orientation: 'PORTRAIT',
            cacheBudgetBytes: 64 * MiB, status: 'DISABLED',
        };
        const was = (await read(A, p)).body;
        const all = (await patch(A, p, change)).body;
        assert.deepEqual(all, { ...was, ...change, updatedAtUtc: all.updatedAtUtc });
        const entry = (await audits(A, 'device.updated', id))[0];
        assert.deepEqual(entry.details.changes, Object.fromEntries(Object.entries(change).map(([k, v]) => [k, { from: was[k], to: v }])));
        assert.equal((await read(A, `${groupsOf(A.V1)}/${g.groupId}`)).body.deviceCount, 1);

        // the edges of each range, and null back to the venue's zone / no group
        for (const body of [{ cacheBudgetBytes: 1024 * 1024 * MiB }, { cacheBudgetBytes: 2000000000 }, { timezone: 'UTC' },
            { timezone: null, groupId: null }, { status: 'ACTIVE', runMode: 'SHARED', orientation: 'LANDSCAPE' },
            { launchOnBoot: true, keepAwake: false }]) {
            const after = (await patch(A, p, body)).body;
            for (const [k, v] of Object.entries(body)) assert.deepEqual(after[k], v, k);
        }
        assert.equal((await read(A, `${groupsOf(A.V1)}/${g.groupId}`)).body.deviceCount, 0);
    });

    it('devices: each bad value is 400 naming its field, all of them at once; unknown fields; If-Match 428/412', async () => {
        const id = await insertDevice(A, A.V1);
        const p = `${devicesOf(A.V1)}/${id}`;
        const { etag } = await read(A, p);
        const g2 = await newGroup(A, A.V2);
        const gb = await newGroup(B, B.V);
        const gone = await newGroup(A, A.V1);
        assert.equal((await call('DELETE', `${groupsOf(A.V1)}/${gone.groupId}`, A.token)).res.status, 204);
        const bad = {
            name: ['', '   ', 'x'.repeat(201), null, 5, true, ['x']],
            groupId: ['nope', 7, true, '', {}],
            timezone: ['Mars/Olympus_Mons', '', 'Europe/../etc', 'right/UTC', 42, false, 'x'.repeat(300)],
            runMode: ['kiosk', 'BOTH', null, 1, ''],
            launchOnBoot: ['true', 1, null, 0],
            autoRelaunch: ['false', 0, null],
            keepAwake: ['yes', null, {}],
            watchdogReturnToForeground: [1, null, 'no'],
            orientation: ['landscape', 'SQUARE', null, 90],
            cacheBudgetBytes: [64 * MiB - 1, 1024 * 1024 * MiB + 1, 0, -1, 1500000000.5, '2000000000', null, true],
            status: ['active', 'DELETED', null, 1],
        };
        for (const [field, values] of Object.entries(bad)) {
            for (const value of values) {
                const e = await refuse(call('PATCH', p, A.token, { [field]: value }, { 'If-Match': etag }), 400, 'INVALID_FIELD');
                assert.deepEqual(e.errors.map((x) => x.field), [field], `${field} = ${JSON.stringify(value)}`);
                assert.ok(e.detail.startsWith(field), e.detail);
            }
        }
        // a number in exponent form is not a whole number to JSON parsers
        const exp = await refuse(call('PATCH', p, A.token, '{"cacheBudgetBytes": 2e9}', { 'If-Match': etag }), 400, 'INVALID_FIELD');
        assert.deepEqual(exp.errors.map((x) => x.field), ['cacheBudgetBytes']);
        // groups that are not this venue's live groups: named like the others, after the body checks
        for (const groupId of [g2.groupId, gb.groupId, gone.groupId, randomUUID()]) {
            const e = await refuse(call('PATCH', p, A.token, { groupId }, { 'If-Match': etag }), 400, 'INVALID_FIELD');
            assert.deepEqual(e.errors.map((x) => x.field), ['groupId']);
        }
        // every bad field at once
        const everything = Object.fromEntries(Object.entries(bad).map(([k, v]) => [k, v[0]]));
        const e = await refuse(call('PATCH', p, A.token, everything, { 'If-Match': etag }), 400, 'INVALID_FIELD');
        assert.deepEqual(e.errors.map((x) => x.field).sort(), Object.keys(bad).sort());
        // fields that are not editable, or do not exist
        for (const field of ['deviceId', 'venueId', 'deviceHardwareId', 'appVersion', 'lastSeenAtUtc', 'createdAtUtc', 'colour']) {
            const u = await refuse(call('PATCH', p, A.token, { [field]: 'x' }, { 'If-Match': etag }), 400, 'UNKNOWN_FIELD');
            assert.deepEqual(u.errors.map((x) => x.field), [field]);
        }
        await refuse(call('PATCH', p, A.token, '[1]', { 'If-Match': etag }), 400, 'INVALID_BODY');
        // If-Match: required, and must be current
        await refuse(call('PATCH', p, A.token, { name: 'New' }), 428, 'PRECONDITION_REQUIRED');
        const stale = await refuse(call('PATCH', p, A.token, { name: 'New' }, { 'If-Match': '"0123456789abcdef0123456789abcdef"' }),
            412, 'PRECONDITION_FAILED');
        assert.equal(stale.currentEtag, etag);
        await refuse(call('PATCH', p, A.token, { name: 'New' }, { 'If-Match': `W/${etag}` }), 412, 'PRECONDITION_FAILED');
        // nothing was written
        const now = await read(A, p);
        assert.equal(now.etag, etag);
        assert.equal(now.body.updatedAtUtc, ROW_TIME);
        assert.equal((await audits(A, 'device.updated', id)).length, 0);
    });

    it('devices: pages by name then id; ?q=, ?groupId=, ?status= filter; bad filters are 400; removed devices are not listed', async () => {
        const v = A.V5;
        const g = await newGroup(A, v);
        const ids = [];
        for (let i = 0; i < 7; i++) ids.push(await insertDevice(A, v, i % 2 ? { groupId: g.groupId } : {}));
        await insertDevice(A, v, { deleted: true });
        // names: some alike, so that the id breaks ties
        const names = ['Bar 1', 'bar 2', 'Bar 1', 'Door', 'Bar%', 'Zed', 'Bar 1'];
        for (let i = 0; i < ids.length; i++) {
            await patch(A, `${devicesOf(v)}/${ids[i]}`, { name: names[i], ...(i === 5 || i === 6 ? { status: 'DISABLED' } : {}) });
        }
        const all = await allPages(A, devicesOf(v));
        assert.deepEqual(all.map((d) => d.deviceId).sort(), [...ids].sort(), 'every live device once');
        assert.deepEqual(all, [...all].sort(byNameThen('deviceId')));
        for (const d of all) assert.deepEqual(Object.keys(d), DEVICE_MEMBERS);
        assert.deepEqual(await allPages(A, devicesOf(v), '', 3), all);

        const names_ = async (query) => (await allPages(A, devicesOf(v), query)).map((d) => d.name);
        assert.deepEqual(await names_('&q=BAR'), ['Bar 1', 'Bar 1', 'Bar 1', 'Bar%', 'bar 2']);
        assert.deepEqual(await names_('&q=%25'), ['Bar%']);
        assert.deepEqual((await allPages(A, devicesOf(v), `&groupId=${g.groupId}`)).map((d) => d.deviceId).sort(),
            [ids[1], ids[3], ids[5]].sort());
        assert.deepEqual(await names_(`&groupId=${randomUUID()}`), []);
        assert.deepEqual(await names_('&status=DISABLED'), ['Bar 1', 'Zed']);
        assert.equal((await allPages(A, devicesOf(v), '&status=ACTIVE')).length, 5);
        assert.deepEqual(await names_(`&status=DISABLED&groupId=${g.groupId}&q=z`), ['Zed']);
        for (const [query, field] of [['status=active', 'status'], ['status=', 'status'], ['groupId=nope', 'groupId'],
            [`q=${'x'.repeat(201)}`, 'q'], ['limit=0', 'limit'], ['limit=201', 'limit'], ['cursor=zzz', 'cursor']]) {
            const r = await call('GET', `${devicesOf(v)}?${query}`, A.token);
            assert.equal(r.res.status, 400, `${query}: ${r.text}`);
            if (['status', 'groupId', 'q'].includes(field)) assert.deepEqual(JSON.parse(r.text).errors.map((x) => x.field), [field]);
        }
    });

    it('devices: another venue\'s or tenant\'s device, a removed one, or a malformed id is 404', async () => {
        const mine = await insertDevice(A, A.V2);
        const theirs = await insertDevice(B, B.V);
        const removed = await insertDevice(A, A.V1, { deleted: true });
        for (const [t, v, id] of [[A, A.V1, mine], [A, A.V1, theirs], [A, A.V1, removed], [A, A.V1, 'x'],
            [A, A.V1, randomUUID()], [B, B.V, mine]]) {
            const p = `${devicesOf(v)}/${id}`;
            await refuse(call('GET', p, t.token), 404, 'NOT_FOUND');
            await refuse(call('PATCH', p, t.token, { name: 'Mine' }, { 'If-Match': '*' }), 404, 'NOT_FOUND');
            await refuse(call('DELETE', p, t.token), 404, 'NOT_FOUND');
        }
        await refuse(call('GET', `${devicesOf(A.V2)}/${mine}`, B.token), 404, 'NOT_FOUND');
        assert.equal((await read(A, `${devicesOf(A.V2)}/${mine}`)).body.status, 'ACTIVE', 'untouched');
    });

    it('roles: a viewer reads, an editor cannot change devices or groups, a manager and a tenant admin can', async () => {
        const g = await newGroup(A, A.V1);
        const id = await insertDevice(A, A.V1);
        const gp = `${groupsOf(A.V1)}/${g.groupId}`;
        const dp = `${devicesOf(A.V1)}/${id}`;
        for (const u of [A.viewer, A.editor, A.manager, A]) {
            ok(await call('GET', groupsOf(A.V1), u.token));
            ok(await call('GET', gp, u.token));
            ok(await call('GET', devicesOf(A.V1), u.token));
            ok(await call('GET', dp, u.token));
        }
        for (const u of [A.viewer, A.editor]) {
            await refuse(call('POST', groupsOf(A.V1), u.token, { name: 'Not mine to make' }), 403, 'FORBIDDEN');
            await refuse(call('PATCH', gp, u.token, { name: 'Renamed' }, { 'If-Match': '*' }), 403, 'FORBIDDEN');
            await refuse(call('DELETE', gp, u.token), 403, 'FORBIDDEN');
            await refuse(call('PATCH', dp, u.token, { name: 'Renamed' }, { 'If-Match': '*' }), 403, 'FORBIDDEN');
            await refuse(call('DELETE', dp, u.token), 403, 'FORBIDDEN');
        }
        // the users have no role on V2: it does not exist for them
        for (const u of [A.viewer, A.editor, A.manager]) {
            await refuse(call('GET', groupsOf(A.V2), u.token), 404, 'NOT_FOUND');
            await refuse(call('GET', devicesOf(A.V2), u.token), 404, 'NOT_FOUND');
        }
        const made = await newGroup(A.manager, A.V1, 'Made by the manager');
        ok(await call('PATCH', `${groupsOf(A.V1)}/${made.groupId}`, A.manager.token, { name: 'Renamed by the manager' }, { 'If-Match': '*' }));
        ok(await call('PATCH', dp, A.manager.token, { groupId: made.groupId }, { 'If-Match': '*' }));
        ok(await call('PATCH', dp, A.token, { groupId: null }, { 'If-Match': '*' }));
        assert.equal((await call('DELETE', `${groupsOf(A.V1)}/${made.groupId}`, A.manager.token)).res.status, 204);
        assert.equal((await call('DELETE', gp, A.token)).res.status, 204);
        assert.equal((await call('DELETE', dp, A.manager.token)).res.status, 204);
        assert.equal((await audits(A, 'device.deleted', id))[0].actorId, A.manager.userId);
    });

    // ---- devices and their manifest ---------------------------------------------------------------

    it('the manifest: each playback field changes its ETag and settings, the name alone does not', async () => {
        const v = A.V3; // Europe/London, no fallback
        // G1 plays P1 all day; G2 plays P2 from an hour ago to two hours on, Tokyo time
        const tokyo = minuteIn('Asia/Tokyo');
        const [g1, g2] = [await newGroup(A, v, 'All day'), await newGroup(A, v, 'Tokyo hours')];
        await addSlot(A, v, { targetType: 'GROUP', targetId: g1.groupId, playlistId: A.P1.playlistId });
        await addSlot(A, v, { targetType: 'GROUP', targetId: g2.groupId, playlistId: A.P2.playlistId,
            startMinutes: (tokyo + 1440 - 60) % 1440, endMinutes: (tokyo + 120) % 1440 });
        await publishSchedule(A, v);
        const id = await insertDevice(A, v, { groupId: g1.groupId });
        const p = `${devicesOf(v)}/${id}`;
        const token = deviceToken(A, v, id);

        let last = await fetchManifest(token);
        assert.equal(last.body.playlist.playlistId, A.P1.playlistId);
        // the name is not the manifest's business
        await patch(A, p, { name: 'Renamed screen' });
        let m = await fetchManifest(token);
        assert.equal(m.etag, last.etag, 'a name changes nothing the device does');
        assert.equal(m.text, last.text);

        // each setting: a new ETag, and the manifest says the new value
        for (const [field, value] of [['runMode', 'KIOSK'], ['launchOnBoot', false], ['autoRelaunch', true],
            ['keepAwake', true], ['watchdogReturnToForeground', true], ['orientation', 'PORTRAIT'],
            ['cacheBudgetBytes', 3000000000]]) {
            await patch(A, p, { [field]: value });
            m = await fetchManifest(token);
            assert.notEqual(m.etag, last.etag, field);
            assert.deepEqual(m.body.settings[field], value, field);
            assert.equal(m.body.playlist.playlistId, A.P1.playlistId);
            last = m;
        }
        // the group: another schedule (Tokyo hours, in London time: not now)
        await patch(A, p, { groupId: g2.groupId });
        m = await fetchManifest(token);
        assert.notEqual(m.etag, last.etag, 'groupId');
        assert.equal(m.body.playlist, null, 'the venue\'s zone: outside the Tokyo hours');
        last = m;
        // the zone: the device's own (§30.2), then the venue's again
        await patch(A, p, { timezone: 'Asia/Tokyo' });
        m = await fetchManifest(token);
        assert.notEqual(m.etag, last.etag, 'timezone');
        assert.equal(m.body.playlist?.playlistId, A.P2.playlistId, 'Tokyo hours, Tokyo time');
        last = m;
        await patch(A, p, { timezone: null });
        m = await fetchManifest(token);
        assert.notEqual(m.etag, last.etag, 'timezone back to the venue\'s');
        assert.equal(m.body.playlist, null);
        await patch(A, p, { groupId: g1.groupId });
        m = await fetchManifest(token);
        assert.equal(m.body.playlist.playlistId, A.P1.playlistId);
        assert.deepEqual(m.body.settings, {
            runMode: 'KIOSK', launchOnBoot: false, autoRelaunch: true, keepAwake: true, watchdogReturnToForeground: true,
            orientation: 'PORTRAIT', cacheBudgetBytes: 3000000000,
        });
    });

    it('the manifest: disabled → 401 INVALID_TOKEN, enabled again → 200; removed → 401, tokens revoked', async () => {
        const v = A.V3;
        const id = await insertDevice(A, v);
        const other = await insertDevice(A, v);
        const p = `${devicesOf(v)}/${id}`;
        const token = deviceToken(A, v, id);
        for (const [d, n] of [[id, 1], [id, 2], [other, 3]]) {
            await sql(`INSERT INTO device_auth_tokens (device_auth_token_id, tenant_id, venue_id, device_id, token_hash,
                issued_at_utc, created_at_utc, updated_at_utc) VALUES ('${randomUUID()}', '${A.tenantId}', '${v}', '${d}',
                '${randomUUID()}-${n}', '${ROW_TIME}', '${ROW_TIME}', '${ROW_TIME}')`);
        }
        const first = await fetchManifest(token);
        const refused = async () => {
            const r = await manifest(token);
            assertProblem(r.res, r.text, { status: 401, code: 'INVALID_TOKEN' });
        };
        await patch(A, p, { status: 'DISABLED' });
        await refused();
        await refused();
        await patch(A, p, { status: 'ACTIVE' });
        assert.equal((await fetchManifest(token)).etag, first.etag, 'the same manifest as before');

        // something waiting for it: a queued command and an open alert
        const cmd = await call('POST', `${p}/commands`, A.token, { type: 'REBOOT_APP' });
        assert.equal(cmd.res.status, 201, cmd.text);
        await sql(`INSERT INTO device_alerts (alert_id, tenant_id, venue_id, device_id, kind, severity, opened_at_utc,
            updated_at_utc) VALUES ('${randomUUID()}', '${A.tenantId}', '${v}', '${id}', 'SYNC_STALE', 'WARNING',
            '${ROW_TIME}', '${ROW_TIME}')`);
        const since = await lastSeq(A);
        await refuse(call('DELETE', p, A.token, undefined, { 'If-Match': first.etag }), 412, 'PRECONDITION_FAILED');
        const { etag } = await read(A, p);
        const r = await call('DELETE', p, A.token, undefined, { 'If-Match': etag });
        assert.equal(r.res.status, 204, r.text);
        await refused();
        await refuse(call('GET', p, A.token), 404, 'NOT_FOUND');
        const tokens = (await sql(`SELECT device_id, status, revoked_at_utc IS NOT NULL FROM device_auth_tokens
            WHERE device_id IN ('${id}', '${other}') ORDER BY device_id = '${other}', token_hash`)).split('\n');
        assert.deepEqual(tokens.map((l) => l.split('|').slice(1).join('|')).map((s) => s.replace(/^(\w+)\|(1|t)$/, '$1|yes')
            .replace(/^(\w+)\|(0|f)$/, '$1|no')), ['REVOKED|yes', 'REVOKED|yes', 'ACTIVE|no']);
        assert.equal(await sql(`SELECT status FROM device_commands WHERE device_id = '${id}'`), 'EXPIRED',
            'its queued command expires with it');
        assert.equal(await sql(`SELECT status || ' ' || (resolved_at_utc IS NOT NULL) FROM device_alerts
            WHERE device_id = '${id}'`).then((t) => t.replace(/ (1|t|true)$/, ' yes')), 'RESOLVED yes',
            'its open alert is resolved');
        const entry = (await audits(A, 'device.deleted', id))[0];
        assert.deepEqual(entry.details, { name: `Screen ${id.slice(0, 4)}`, groupId: null, tokensRevoked: 2 });
        assert.deepEqual((await feed(A, since, id)).map((c) => [c.entityType, c.action]), [['DEVICE', 'deleted']]);
        // the other device plays on
        await fetchManifest(deviceToken(A, v, other));
    });
});
