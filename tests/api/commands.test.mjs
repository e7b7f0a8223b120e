// SPDX-License-Identifier: MIT
//
// commands.test.mjs — remote commands (spec §18, §26.10, §27.6, §27.8, §28.7; issue 7): a
// manager issues, the player polls (DELIVERED, in seq order, once) and reports (idempotent: the
// same result 200, another 409), the history pages newest first; concurrent issues get distinct
// consecutive seqs; every type's parameters are checked; another venue's or tenant's device is
// 404; roles; the bound on live commands; user and device tokens kept to their own routes;
// audit entries and changes; and, last, expiry with the clock (never delivered once expired,
// history EXPIRED, the job). Devices are inserted with SQL (pairing is another part).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { apiClient } from './lib/client.mjs';
import { deviceClient, deviceKey } from './lib/devices.mjs';
import { BACKEND, UUID_RE, assertProblem, startServer } from './lib/server.mjs';

const PASSWORD = 'commands suite passphrase 1';
const KEY = deviceKey();
const RATE_LIMITS = 'login_ip=10000/60,login_account=10000/60,refresh_user=10000/60,mutation=100000/60,'
    + 'commands=100000/60,default_device=100000/60,default_user=100000/60';
const TS_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const COMMAND_MEMBERS = ['commandId', 'deviceId', 'venueId', 'type', 'parameters', 'status', 'seq', 'issuedByUserId',
    'result', 'errorCode', 'errorMessage', 'expiresAtUtc', 'deliveredAtUtc', 'completedAtUtc', 'createdAtUtc',
    'updatedAtUtc'];
const POLLED_MEMBERS = ['commandId', 'type', 'parameters', 'seq', 'createdAtUtc', 'expiresAtUtc'];
const TYPES = ['REQUEST_MANIFEST_REFRESH', 'RESTART_PLAYBACK_LOOP', 'CLEAR_CACHE_UNUSED', 'CLEAR_CACHE_ALL',
    'REBOOT_APP', 'SET_LOG_LEVEL'];

describe(`remote commands (${BACKEND})`, () => {
    let srv;
    const A = {}; // tenant A: venues V1, V2; users; devices
    const B = {}; // tenant B
    const api = apiClient(() => srv, PASSWORD);
    const { call, ok, login, createTenant, createVenue, createUser } = api;
    const devices = deviceClient(() => srv, KEY);
    const { sql, insertDevice, updateDevice, deviceToken } = devices;

    const path = (venue, device) => `/v1/venues/${venue}/devices/${device}/commands`;
    const issue = (token, venue, device, body) => call('POST', path(venue, device), token, body);
    /** A command issued by tenant A's admin that must be 201. */
    const issued = async (venue, device, body = { type: 'REQUEST_MANIFEST_REFRESH' }) =>
        ok(await issue(A.token, venue, device, body), 201);
    const poll = (token) => call('GET', '/v1/player/commands', token);
    const polled = async (token) => ok(await poll(token)).commands;
    const report = (token, id, body) => call('POST', `/v1/player/commands/${id}/result`, token, body);
    const history = async (venue, device, query = '', token = A.token) =>
        ok(await call('GET', `${path(venue, device)}${query}`, token));
    const one = async (venue, device, id, token = A.token) => ok(await call('GET', `${path(venue, device)}/${id}`, token));
    const problem = (r, status, code) => assertProblem(r.res, r.text, { status, code });
    const fields = (body) => body.errors.map((e) => e.field).sort();
    /** A fresh ACTIVE device of tenant A's venue @venue and its token. */
    const device = async (venue = A.V1) => {
        const id = await insertDevice(A, venue);
        return { id, token: deviceToken(A, venue, id, { exp: Math.floor(Date.now() / 1000) + 30 * 86400 }) };
    };

    before(async () => {
        srv = await startServer({ args: ['--test-routes', '--jwt-keys', KEY.arg, '--rate-limits', RATE_LIMITS] });
        await devices.open();
        Object.assign(A, await createTenant('Alpha Commands', 'admin@alpha-commands.test'));
        Object.assign(B, await createTenant('Bravo Commands', 'admin@bravo-commands.test'));
        A.V1 = await createVenue(A, 'Venue One');
        A.V2 = await createVenue(A, 'Venue Two');
        B.V = await createVenue(B, 'Bravo Venue');
        A.manager = await createUser(A, 'manager@alpha-commands.test', { venueRoles: [{ venueId: A.V1, role: 'VENUE_MANAGER' }] });
        A.editor = await createUser(A, 'editor@alpha-commands.test', { venueRoles: [{ venueId: A.V1, role: 'VENUE_EDITOR' }] });
        A.viewer = await createUser(A, 'viewer@alpha-commands.test', { venueRoles: [{ venueId: A.V1, role: 'VENUE_VIEWER' }] });
        A.manager2 = await createUser(A, 'manager2@alpha-commands.test', { venueRoles: [{ venueId: A.V2, role: 'VENUE_MANAGER' }] });
        A.D1 = await device();
        A.D2 = await device();
        A.DV2 = await device(A.V2);
        A.Dgone = await insertDevice(A, A.V1, { deleted: true });
        A.Doff = await insertDevice(A, A.V1, { status: 'DISABLED' });
        B.D = await insertDevice(B, B.V);
    });
    after(async () => {
        await call('POST', '/v1/_test/clock', null, { offsetMs: 0 }).catch(() => {});
        await devices.close();
        await srv?.stop();
    });

    it('round trip: issue (201 PENDING) → poll (DELIVERED) → result (SUCCEEDED) → history; audit and feed', async () => {
        const t0 = Date.now();
        const r = await issue(A.manager.token, A.V1, A.D1.id, { type: 'REQUEST_MANIFEST_REFRESH' });
        const c = ok(r, 201);
        assert.deepEqual(Object.keys(c).sort(), [...COMMAND_MEMBERS].sort());
        assert.match(c.commandId, UUID_RE);
        assert.equal(r.res.headers.get('location'), `${path(A.V1, A.D1.id)}/${c.commandId}`);
        assert.deepEqual([c.deviceId, c.venueId, c.type, c.status, c.seq, c.issuedByUserId],
            [A.D1.id, A.V1, 'REQUEST_MANIFEST_REFRESH', 'PENDING', 1, A.manager.userId]);
        assert.deepEqual(c.parameters, {});
        for (const k of ['result', 'errorCode', 'errorMessage', 'deliveredAtUtc', 'completedAtUtc']) assert.equal(c[k], null, k);
        assert.match(c.createdAtUtc, TS_RE);
        assert.ok(Math.abs(Date.parse(c.createdAtUtc) - t0) < 60000);
        assert.equal(Date.parse(c.expiresAtUtc) - Date.parse(c.createdAtUtc), 3600 * 1000, 'command_ttl_s by default');

        const got = await polled(A.D1.token);
        assert.equal(got.length, 1);
        assert.deepEqual(Object.keys(got[0]).sort(), [...POLLED_MEMBERS].sort());
        assert.deepEqual(got[0], { commandId: c.commandId, type: c.type, parameters: {}, seq: 1, createdAtUtc: c.createdAtUtc,
            expiresAtUtc: c.expiresAtUtc });
        const delivered = await one(A.V1, A.D1.id, c.commandId);
        assert.equal(delivered.status, 'DELIVERED');
        assert.match(delivered.deliveredAtUtc, TS_RE);
        assert.deepEqual(await polled(A.D1.token), [], 'a second poll has nothing new');
        assert.deepEqual(await polled(A.D2.token), [], 'another device has nothing');

        const res = ok(await report(A.D1.token, c.commandId, { status: 'SUCCEEDED', result: { manifestEtag: 'abc', took: 12 } }));
        assert.equal(res.status, 'SUCCEEDED');
        assert.deepEqual(res.result, { manifestEtag: 'abc', took: 12 });
        assert.match(res.completedAtUtc, TS_RE);
        assert.equal(res.venueId, undefined, 'the device is not shown the venue');
        assert.equal(res.issuedByUserId, undefined, 'nor who issued it');
        const h = await history(A.V1, A.D1.id);
        assert.equal(h.items.length, 1);
        assert.equal(h.nextCursor, null);
        assert.equal(h.items[0].status, 'SUCCEEDED');
        assert.deepEqual(h.items[0].result, { manifestEtag: 'abc', took: 12 });
        assert.equal(h.items[0].completedAtUtc, res.completedAtUtc);
        assert.equal(h.items[0].issuedByUserId, A.manager.userId);

        // audited: issued by the user, completed by the device
        const audit = async (action) => ok(await call('GET', `/v1/audit?action=${action}`, A.token)).items
            .filter((e) => e.resourceId === c.commandId);
        const [iss] = await audit('command.issued');
        assert.deepEqual([iss.actorType, iss.actorId, iss.resourceType, iss.venueId, iss.outcome],
            ['USER', A.manager.userId, 'DEVICE_COMMAND', A.V1, 'SUCCESS']);
        assert.deepEqual(iss.details, { deviceId: A.D1.id, type: c.type, parameters: {}, seq: 1, expiresAtUtc: c.expiresAtUtc });
        const [done] = await audit('command.completed');
        assert.deepEqual([done.actorType, done.actorId, done.outcome, done.details.status], ['DEVICE', A.D1.id, 'SUCCESS', 'SUCCEEDED']);
        // and in the change feed, for the device, seen by the venue's users
        const feed = ok(await call('GET', '/v1/changes?since=0&limit=200', A.viewer.token)).items
            .filter((x) => x.entityType === 'DEVICE' && x.entityId === A.D1.id);
        assert.deepEqual(feed.map((x) => [x.action, x.venueId, x.actorUserId]),
            [['command', A.V1, A.manager.userId], ['command', A.V1, null]]);
    });

    it('a device\'s commands are delivered in seq order; concurrent issues get distinct consecutive seqs', async () => {
        const d = await device();
        const first = [];
        for (const type of TYPES) {
            first.push(await issued(A.V1, d.id, type === 'SET_LOG_LEVEL' ? { type, parameters: { level: 'DEBUG' } } : { type }));
        }
        assert.deepEqual(first.map((c) => c.seq), [1, 2, 3, 4, 5, 6]);
        const got = await polled(d.token);
        assert.deepEqual(got.map((c) => [c.commandId, c.seq, c.type]), first.map((c) => [c.commandId, c.seq, c.type]));
        assert.deepEqual(got[5].parameters, { level: 'DEBUG' });

        const many = await Promise.all(Array.from({ length: 12 }, () => issue(A.token, A.V1, d.id, { type: 'CLEAR_CACHE_UNUSED' })));
        const seqs = many.map((r) => ok(r, 201).seq).sort((a, b) => a - b);
        assert.deepEqual(seqs, Array.from({ length: 12 }, (_, i) => 7 + i), 'distinct and consecutive');
        const next = await polled(d.token);
        assert.deepEqual(next.map((c) => c.seq), seqs, 'in order');
        assert.deepEqual(await polled(d.token), []);
        // another device counts on its own
        assert.equal((await issued(A.V1, A.D2.id)).seq, 1);
    });

    it('a result is idempotent: the same again is 200, another 409; never-delivered 409; unknown 404', async () => {
        const d = await device();
        const [c1, c2, c3] = [await issued(A.V1, d.id), await issued(A.V1, d.id, { type: 'REBOOT_APP' }),
            await issued(A.V1, d.id, { type: 'CLEAR_CACHE_ALL' })];
        assert.equal((await polled(d.token)).length, 3);
        const failed = { status: 'FAILED', errorCode: 'DISK_FULL', errorMessage: 'no space left on device', result: { freeBytes: 0 } };
        const first = ok(await report(d.token, c1.commandId, failed));
        assert.deepEqual([first.status, first.errorCode, first.errorMessage], ['FAILED', 'DISK_FULL', 'no space left on device']);
        // the same, with its members in another order: the same result
        const again = ok(await report(d.token, c1.commandId, { result: { freeBytes: 0 }, errorMessage: failed.errorMessage,
            errorCode: 'DISK_FULL', status: 'FAILED' }));
        assert.deepEqual(again, first);
        for (const other of [{ status: 'SUCCEEDED' }, { ...failed, errorCode: 'OTHER' }, { ...failed, result: { freeBytes: 1 } },
            { status: 'FAILED', errorCode: 'DISK_FULL', errorMessage: failed.errorMessage }]) {
            const b = problem(await report(d.token, c1.commandId, other), 409, 'COMMAND_RESULT_CONFLICT');
            assert.equal(b.command.status, 'FAILED', JSON.stringify(other));
        }
        assert.equal((await one(A.V1, d.id, c1.commandId)).errorCode, 'DISK_FULL', 'the first result stays');

        // concurrent reports of two different results: exactly one wins
        const rs = await Promise.all([report(d.token, c2.commandId, { status: 'SUCCEEDED' }),
            report(d.token, c2.commandId, { status: 'FAILED' })]);
        assert.deepEqual(rs.map((r) => r.res.status).sort(), [200, 409], rs.map((r) => r.text).join('\n'));
        // the same result twice at once: both 200, one audit entry
        const same = await Promise.all([report(d.token, c3.commandId, { status: 'SUCCEEDED' }),
            report(d.token, c3.commandId, { status: 'SUCCEEDED' })]);
        assert.deepEqual(same.map((r) => r.res.status), [200, 200], same.map((r) => r.text).join('\n'));
        assert.equal(await sql(`SELECT count(*) FROM audit_log WHERE action = 'command.completed' AND resource_id = '${c3.commandId}'`), '1');

        const pending = await issued(A.V1, d.id);
        problem(await report(d.token, pending.commandId, { status: 'SUCCEEDED' }), 409, 'COMMAND_NOT_DELIVERED');
        problem(await report(d.token, randomUUID(), { status: 'SUCCEEDED' }), 404, 'NOT_FOUND');
        problem(await report(d.token, 'not-an-id', { status: 'SUCCEEDED' }), 404, 'NOT_FOUND');
        // another device's token: the command is not its own
        const stranger = await device();
        problem(await report(stranger.token, pending.commandId, { status: 'SUCCEEDED' }), 404, 'NOT_FOUND');
        await polled(d.token);
        problem(await report(stranger.token, pending.commandId, { status: 'SUCCEEDED' }), 404, 'NOT_FOUND');
        assert.equal((await one(A.V1, d.id, pending.commandId)).status, 'DELIVERED');

        // the body
        const bad = async (body, status, code, field) => {
            const b = problem(await report(d.token, pending.commandId, body), status, code);
            if (field) assert.deepEqual(fields(b), [field], JSON.stringify(body));
        };
        await bad({}, 400, 'FIELD_REQUIRED', 'status');
        await bad({ status: 'DONE' }, 400, 'INVALID_FIELD', 'status');
        await bad({ status: 'DELIVERED' }, 400, 'INVALID_FIELD', 'status');
        await bad({ status: 'SUCCEEDED', result: [1, 2] }, 400, 'INVALID_FIELD', 'result');
        await bad({ status: 'SUCCEEDED', result: 'ok' }, 400, 'INVALID_FIELD', 'result');
        await bad({ status: 'SUCCEEDED', result: { blob: 'x'.repeat(5000) } }, 400, 'INVALID_FIELD', 'result');
        await bad({ status: 'SUCCEEDED', errorCode: 'E' }, 400, 'INVALID_FIELD', 'errorCode');
        await bad({ status: 'FAILED', errorCode: 'E'.repeat(65) }, 400, 'INVALID_FIELD', 'errorCode');
        await bad({ status: 'FAILED', errorMessage: 'é'.repeat(1001) }, 400, 'INVALID_FIELD', 'errorMessage');
        await bad({ status: 'FAILED', errorMessage: 7 }, 400, 'INVALID_FIELD', 'errorMessage');
        await bad({ status: 'SUCCEEDED', extra: 1 }, 400, 'UNKNOWN_FIELD', 'extra');
        assert.equal((await one(A.V1, d.id, pending.commandId)).status, 'DELIVERED', 'nothing was stored');
        const longest = ok(await report(d.token, pending.commandId, { status: 'FAILED', errorMessage: 'é'.repeat(1000),
            errorCode: 'E'.repeat(64) }));
        assert.equal(longest.errorMessage.length, 1000);
    });

    it('validation: every type, its parameters, ttlSeconds; unknown type 422; bad shapes 400', async () => {
        const d = await device();
        for (const type of TYPES.filter((t) => t !== 'SET_LOG_LEVEL')) {
            for (const body of [{ type }, { type, parameters: {} }, { type, parameters: null }]) {
                const c = ok(await issue(A.manager.token, A.V1, d.id, body), 201);
                assert.deepEqual([c.type, c.parameters], [type, {}]);
            }
            const b = problem(await issue(A.token, A.V1, d.id, { type, parameters: { delay: 5 } }), 422, 'INVALID_PARAMETERS');
            assert.deepEqual(fields(b), ['parameters.delay'], type);
        }
        const log = async (parameters) => issue(A.token, A.V1, d.id, { type: 'SET_LOG_LEVEL', parameters });
        for (const level of ['DEBUG', 'INFO', 'WARN', 'ERROR']) {
            assert.deepEqual(ok(await log({ level }), 201).parameters, { level });
        }
        assert.deepEqual(ok(await log({ durationSeconds: 600, level: 'WARN' }), 201).parameters, { level: 'WARN', durationSeconds: 600 });
        assert.deepEqual(ok(await log({ level: 'INFO', durationSeconds: 60 }), 201).parameters.durationSeconds, 60);
        assert.deepEqual(ok(await log({ level: 'INFO', durationSeconds: 86400 }), 201).parameters.durationSeconds, 86400);
        const badLog = async (parameters, want) => {
            const b = problem(await log(parameters), 422, 'INVALID_PARAMETERS');
            assert.deepEqual(fields(b), want, JSON.stringify(parameters));
        };
        await badLog({}, ['parameters.level']);
        await badLog({ level: 'TRACE' }, ['parameters.level']);
        await badLog({ level: 'debug' }, ['parameters.level']);
        await badLog({ level: 3 }, ['parameters.level']);
        await badLog({ level: 'INFO', durationSeconds: 59 }, ['parameters.durationSeconds']);
        await badLog({ level: 'INFO', durationSeconds: 86401 }, ['parameters.durationSeconds']);
        await badLog({ level: 'INFO', durationSeconds: '600' }, ['parameters.durationSeconds']);
        await badLog({ level: 'INFO', durationSeconds: 1.5 }, ['parameters.durationSeconds']);
        await badLog({ level: 'LOUD', verbose: true }, ['parameters.level', 'parameters.verbose']);
        problem(await issue(A.token, A.V1, d.id, { type: 'SET_LOG_LEVEL' }), 422, 'INVALID_PARAMETERS');

        const bad = async (body, status, code, field) => {
            const b = problem(await issue(A.token, A.V1, d.id, body), status, code);
            if (field) assert.deepEqual(fields(b), [field], JSON.stringify(body));
        };
        await bad({ type: 'FORMAT_DISK' }, 422, 'UNKNOWN_COMMAND_TYPE', 'type');
        await bad({ type: 'reboot_app' }, 422, 'UNKNOWN_COMMAND_TYPE', 'type');
        await bad({}, 400, 'FIELD_REQUIRED', 'type');
        await bad({ type: 7 }, 400, 'INVALID_FIELD', 'type');
        await bad({ type: 'REBOOT_APP', parameters: [] }, 400, 'INVALID_FIELD', 'parameters');
        await bad({ type: 'REBOOT_APP', parameters: 'now' }, 400, 'INVALID_FIELD', 'parameters');
        await bad({ type: 'REBOOT_APP', ttlSeconds: 59 }, 400, 'INVALID_FIELD', 'ttlSeconds');
        await bad({ type: 'REBOOT_APP', ttlSeconds: 604801 }, 400, 'INVALID_FIELD', 'ttlSeconds');
        await bad({ type: 'REBOOT_APP', ttlSeconds: '60' }, 400, 'INVALID_FIELD', 'ttlSeconds');
        await bad({ type: 'REBOOT_APP', when: 'now' }, 400, 'UNKNOWN_FIELD', 'when');
        await bad([], 400, 'INVALID_BODY');
        const notJson = await call('POST', path(A.V1, d.id), A.token, 'type=REBOOT_APP');
        assert.equal(notJson.res.status, 400, notJson.text);
        for (const ttlSeconds of [60, 604800]) {
            const c = ok(await issue(A.token, A.V1, d.id, { type: 'REBOOT_APP', ttlSeconds }), 201);
            assert.equal(Date.parse(c.expiresAtUtc) - Date.parse(c.createdAtUtc), ttlSeconds * 1000);
        }
        // none of the refusals made a command
        const all = await history(A.V1, d.id, '?limit=200');
        assert.equal(all.items.length, 5 * 3 + 4 + 3 + 2);
    });

    it('another venue\'s or tenant\'s device, a removed or unknown one: 404; a disabled one: 409', async () => {
        const c = await issued(A.V1, A.D2.id);
        const refused = async (venue, device, token = A.token) => {
            problem(await issue(token, venue, device, { type: 'REBOOT_APP' }), 404, 'NOT_FOUND');
            problem(await call('GET', path(venue, device), token), 404, 'NOT_FOUND');
        };
        await refused(A.V1, A.DV2.id); // A's device of V2, under V1
        await refused(A.V2, A.D2.id); // and the reverse
        await refused(A.V1, B.D); // B's device under A's venue
        await refused(B.V, B.D); // B's venue with A's token
        await refused(A.V1, A.Dgone);
        await refused(A.V1, randomUUID());
        await refused(A.V1, 'not-a-device');
        // a command is read through its own device and venue only
        problem(await call('GET', `${path(A.V1, A.D1.id)}/${c.commandId}`, A.token), 404, 'NOT_FOUND');
        problem(await call('GET', `${path(A.V2, A.D2.id)}/${c.commandId}`, A.token), 404, 'NOT_FOUND');
        problem(await call('GET', `${path(A.V1, A.D2.id)}/${randomUUID()}`, A.token), 404, 'NOT_FOUND');
        problem(await call('GET', `${path(A.V1, A.D2.id)}/nope`, A.token), 404, 'NOT_FOUND');
        problem(await call('GET', `${path(B.V, B.D)}/${c.commandId}`, B.token), 404, 'NOT_FOUND');
        assert.equal((await one(A.V1, A.D2.id, c.commandId)).commandId, c.commandId);

        problem(await issue(A.token, A.V1, A.Doff, { type: 'REBOOT_APP' }), 409, 'DEVICE_DISABLED');
        assert.deepEqual((await history(A.V1, A.Doff)).items, [], 'a disabled device still has a history');

        // a device moved to another venue: its commands stay with the venue they were issued in
        const m = await device();
        const before1 = await issued(A.V1, m.id);
        await updateDevice(m.id, { venueId: A.V2 });
        const moved = deviceToken(A, A.V2, m.id);
        assert.deepEqual(await polled(moved), [], 'not delivered in the new venue');
        assert.deepEqual((await history(A.V2, m.id)).items, []);
        problem(await call('GET', `${path(A.V1, m.id)}/${before1.commandId}`, A.token), 404, 'NOT_FOUND');
        const after1 = await issued(A.V2, m.id);
        assert.equal(after1.seq, 2, 'seq counts per device, across venues');
        assert.deepEqual((await polled(moved)).map((x) => x.commandId), [after1.commandId]);
    });

    it('roles: a manager (or tenant admin) issues; an editor or viewer may not; viewers read', async () => {
        problem(await issue(A.editor.token, A.V1, A.D2.id, { type: 'REBOOT_APP' }), 403, 'FORBIDDEN');
        problem(await issue(A.viewer.token, A.V1, A.D2.id, { type: 'REBOOT_APP' }), 403, 'FORBIDDEN');
        problem(await issue(A.manager2.token, A.V1, A.D2.id, { type: 'REBOOT_APP' }), 404, 'NOT_FOUND');
        problem(await issue(B.token, A.V1, A.D2.id, { type: 'REBOOT_APP' }), 404, 'NOT_FOUND');
        const c = ok(await issue(A.manager.token, A.V1, A.D2.id, { type: 'REBOOT_APP' }), 201);
        ok(await issue(A.manager2.token, A.V2, A.DV2.id, { type: 'REBOOT_APP' }), 201);
        for (const u of [A.viewer, A.editor, A.manager]) {
            assert.ok((await history(A.V1, A.D2.id, '', u.token)).items.some((x) => x.commandId === c.commandId));
            assert.equal((await one(A.V1, A.D2.id, c.commandId, u.token)).type, 'REBOOT_APP');
        }
        problem(await call('GET', path(A.V1, A.D2.id), A.manager2.token), 404, 'NOT_FOUND');
    });

    it('user tokens stay off player routes, device tokens off user routes (401)', async () => {
        const c = await issued(A.V1, A.D2.id);
        for (const token of [A.token, A.manager.token]) {
            problem(await poll(token), 401, 'DEVICE_TOKEN_REQUIRED');
            problem(await report(token, c.commandId, { status: 'SUCCEEDED' }), 401, 'DEVICE_TOKEN_REQUIRED');
        }
        problem(await poll(null), 401, 'UNAUTHORIZED');
        problem(await issue(A.D2.token, A.V1, A.D2.id, { type: 'REBOOT_APP' }), 401, 'USER_TOKEN_REQUIRED');
        problem(await call('GET', path(A.V1, A.D2.id), A.D2.token), 401, 'USER_TOKEN_REQUIRED');
        problem(await call('GET', `${path(A.V1, A.D2.id)}/${c.commandId}`, A.D2.token), 401, 'USER_TOKEN_REQUIRED');
        // a removed device's token no longer polls or reports
        const d = await device();
        const gone = await issued(A.V1, d.id);
        await polled(d.token);
        await updateDevice(d.id, { deletedAtUtc: '2026-01-05T10:00:00.000Z' });
        problem(await poll(d.token), 401, 'INVALID_TOKEN');
        problem(await report(d.token, gone.commandId, { status: 'SUCCEEDED' }), 401, 'INVALID_TOKEN');
    });

    it('history: newest first in cursor pages, ?status= filters; bad queries are 400', async () => {
        const d = await device();
        const made = [];
        for (let i = 0; i < 7; i++) made.push(await issued(A.V1, d.id));
        await polled(d.token); // all 7 DELIVERED
        ok(await report(d.token, made[2].commandId, { status: 'SUCCEEDED' }));
        ok(await report(d.token, made[4].commandId, { status: 'FAILED' }));
        made.push(await issued(A.V1, d.id)); // seq 8, PENDING
        const seen = [];
        let cursor = null;
        let pages = 0;
        do {
            const b = await history(A.V1, d.id, `?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, A.viewer.token);
            assert.ok(b.items.length <= 3);
            seen.push(...b.items);
            cursor = b.nextCursor;
            pages++;
        } while (cursor);
        assert.equal(pages, 3);
        assert.deepEqual(seen.map((x) => x.seq), [8, 7, 6, 5, 4, 3, 2, 1]);
        assert.deepEqual(seen.map((x) => x.commandId), made.map((x) => x.commandId).reverse());
        const only = async (status) => (await history(A.V1, d.id, `?status=${status}`)).items.map((x) => x.seq);
        assert.deepEqual(await only('PENDING'), [8]);
        assert.deepEqual(await only('DELIVERED'), [7, 6, 4, 2, 1]);
        assert.deepEqual(await only('SUCCEEDED'), [3]);
        assert.deepEqual(await only('FAILED'), [5]);
        assert.deepEqual(await only('EXPIRED'), []);
        const filtered = await history(A.V1, d.id, '?status=DELIVERED&limit=2');
        assert.deepEqual(filtered.items.map((x) => x.seq), [7, 6]);
        assert.deepEqual((await history(A.V1, d.id, `?status=DELIVERED&limit=2&cursor=${encodeURIComponent(filtered.nextCursor)}`))
            .items.map((x) => x.seq), [4, 2]);
        problem(await call('GET', `${path(A.V1, d.id)}?status=pending`, A.token), 400, 'INVALID_QUERY');
        problem(await call('GET', `${path(A.V1, d.id)}?limit=0`, A.token), 400, 'INVALID_LIMIT');
        problem(await call('GET', `${path(A.V1, d.id)}?cursor=garbage`, A.token), 400, 'INVALID_CURSOR');
    });

    it('at most 100 live commands a device (409 COMMAND_QUEUE_FULL); a poll delivers at most 50', async () => {
        const d = await device();
        for (let i = 0; i < 10; i++) {
            const rs = await Promise.all(Array.from({ length: 10 }, () => issue(A.token, A.V1, d.id, { type: 'CLEAR_CACHE_UNUSED' })));
            for (const r of rs) ok(r, 201);
        }
        const full = problem(await issue(A.token, A.V1, d.id, { type: 'REBOOT_APP' }), 409, 'COMMAND_QUEUE_FULL');
        assert.equal(full.liveCommandsMax, 100);
        const first = await polled(d.token);
        assert.deepEqual(first.map((c) => c.seq), Array.from({ length: 50 }, (_, i) => i + 1));
        // delivered but unanswered commands are still live
        problem(await issue(A.token, A.V1, d.id, { type: 'REBOOT_APP' }), 409, 'COMMAND_QUEUE_FULL');
        ok(await report(d.token, first[0].commandId, { status: 'SUCCEEDED' }));
        assert.equal((await issued(A.V1, d.id, { type: 'REBOOT_APP' })).seq, 101);
        problem(await issue(A.token, A.V1, d.id, { type: 'REBOOT_APP' }), 409, 'COMMAND_QUEUE_FULL');
        const second = await polled(d.token);
        assert.deepEqual(second.map((c) => c.seq), Array.from({ length: 50 }, (_, i) => i + 51));
        assert.deepEqual((await polled(d.token)).map((c) => c.seq), [101]);
        // the bound is the device's: another device of the venue is unaffected
        await issued(A.V1, A.D2.id);
    });

    // last: the moved clock leaves rate-limit keys used meanwhile blocked for a while
    it('expiry: a PENDING command past its time is never delivered; DELIVERED waits 15 min more; the job', async () => {
        const d = await device();
        const idle = await device();
        const soon = await issued(A.V1, d.id, { type: 'REBOOT_APP', ttlSeconds: 60 });
        const taken = await issued(A.V1, d.id, { type: 'CLEAR_CACHE_ALL', ttlSeconds: 60 });
        assert.deepEqual((await polled(d.token)).map((c) => c.commandId), [soon.commandId, taken.commandId]);
        const late = await issued(A.V1, d.id, { type: 'REBOOT_APP', ttlSeconds: 60 });
        const later = await issued(A.V1, d.id, { type: 'REQUEST_MANIFEST_REFRESH', ttlSeconds: 3600 });
        const jobOnly = await issued(A.V1, idle.id, { type: 'REBOOT_APP', ttlSeconds: 60 });
        const status = async (id) => sql(`SELECT status FROM device_commands WHERE command_id = '${id}'`);
        try {
            ok(await call('POST', '/v1/_test/clock', null, { offsetMs: 2 * 60 * 1000 }));
            const token = await login(A.manager.email);
            // the expired one is not delivered; the one still in time is
            assert.deepEqual((await polled(d.token)).map((c) => c.commandId), [later.commandId]);
            const h = await history(A.V1, d.id, '', token);
            const by = Object.fromEntries(h.items.map((x) => [x.commandId, x.status]));
            assert.deepEqual(by, { [soon.commandId]: 'DELIVERED', [taken.commandId]: 'DELIVERED', [late.commandId]: 'EXPIRED',
                [later.commandId]: 'DELIVERED' });
            problem(await report(d.token, late.commandId, { status: 'SUCCEEDED' }), 409, 'COMMAND_EXPIRED');
            // a delivered command may still be answered within the grace
            ok(await report(d.token, soon.commandId, { status: 'SUCCEEDED' }));
            // the job expires what no request touched (no request read the idle device's
            // commands; the job's own minute may have come first, hence no count here)
            const job = ok(await call('POST', '/v1/_test/jobs/command-expiry', null));
            assert.equal(typeof job.commandsExpired, 'number', JSON.stringify(job));
            assert.equal(await status(jobOnly.commandId), 'EXPIRED');
            assert.deepEqual(await polled(idle.token), []);

            // past the grace: the delivered one without a result expires (by the job), the
            // answered one stays, a result is refused
            ok(await call('POST', '/v1/_test/clock', null, { offsetMs: (2 + 15 + 1) * 60 * 1000 }));
            ok(await call('POST', '/v1/_test/jobs/command-expiry', null));
            assert.equal(await status(taken.commandId), 'EXPIRED');
            assert.equal(await status(soon.commandId), 'SUCCEEDED');
            assert.equal(await status(later.commandId), 'DELIVERED', 'its own time has not come');
            problem(await report(d.token, taken.commandId, { status: 'FAILED' }), 409, 'COMMAND_EXPIRED');
            const token2 = await login(A.manager.email);
            const expired = await history(A.V1, d.id, '?status=EXPIRED', token2);
            assert.deepEqual(expired.items.map((x) => x.commandId).sort(), [late.commandId, taken.commandId].sort());
            assert.equal((await one(A.V1, d.id, taken.commandId, token2)).completedAtUtc, null);
            // an expired command frees its place in the queue, and the device goes on
            const fresh = ok(await issue(token2, A.V1, d.id, { type: 'REBOOT_APP' }), 201);
            assert.equal(fresh.seq, 5);
            assert.deepEqual((await polled(d.token)).map((c) => c.commandId), [fresh.commandId]);
        } finally {
            ok(await call('POST', '/v1/_test/clock', null, { offsetMs: 0 }));
        }
    });
});
