// SPDX-License-Identifier: MIT
//
// pairing.test.mjs — how a screen joins a venue (spec §8, §25.2, §25.3, §26.5, §27.7; issue 7;
// docs/devices.md "Pairing"): start → status PENDING → claim → status COMPLETED carrying the
// device token exactly once → the manifest answers that token → later polls carry no token.
// The code's shape and the forgiving ways it may be typed; a wrong, malformed, expired,
// superseded, claimed-twice and concurrently claimed code; another tenant's venue; who may
// claim; the group; the audit entries and the change feed without a secret; validation of
// every field; poll tokens that are wrong; a removed device, a disabled tenant; the log never
// holding a secret; the pairing_ip rate limit (its own server); and, last, expiry with the
// server's clock moved (reset afterwards).
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { apiClient } from './lib/client.mjs';
import { deviceClient } from './lib/devices.mjs';
import { BACKEND, UUID_RE, assertProblem, get, startServer } from './lib/server.mjs';

const PASSWORD = 'pairing suite passphrase 1';
const RATE_LIMITS = 'login_ip=10000/60,login_account=10000/60,refresh_user=10000/60,mutation=100000/60,'
    + 'pairing_ip=100000/60,manifest=100000/60,default_ip=100000/60';
const CODE_RE = /^[ACDEFHJKLMNPQRTUVWXY3479]{4}-[ACDEFHJKLMNPQRTUVWXY3479]{4}$/;
const START = '/v1/devices/pairing/start';
const STATUS = '/v1/devices/pairing/status';
const claimPath = (venueId) => `/v1/venues/${venueId}/devices/pairing/claim`;
const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const jwtClaims = (t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString());
const TTL_S = 600;

describe(`device pairing (${BACKEND})`, () => {
    let srv;
    const A = {};
    const B = {};
    const api = apiClient(() => srv, PASSWORD);
    const { call, ok, createTenant, createVenue, createUser } = api;
    const devices = deviceClient(() => srv);
    const { sql, insertGroup, manifest } = devices;

    /** POST start with @body (a fresh hardware id by default): the raw answer. */
    const startRaw = (body) => call('POST', START, null, body);
    /** A started pairing: {pairingId, pairingCode, expiresAtUtc, pollToken, hardwareId}. */
    const start = async (over = {}) => {
        const hardwareId = over.deviceHardwareId ?? `hw-${randomUUID()}`;
        const body = { deviceHardwareId: hardwareId, appVersion: '1.4.2', deviceModel: 'AFTMM Fire TV', ...over };
        const r = await startRaw(body);
        return { ...ok(r, 201), hardwareId, res: r.res };
    };
    /** GET status with @pollToken as a bearer token (@headers replace the default). */
    const status = (pollToken, headers) => call('GET', STATUS, null, undefined,
        headers ?? { Authorization: `Bearer ${pollToken}` });
    const statusOk = async (pollToken) => ok(await status(pollToken));
    const claim = (token, venueId, body) => call('POST', claimPath(venueId), token, body);
    /** Start, claim into @venueId as @token, and collect: {p, device, done (the COMPLETED answer)}. */
    const pairDevice = async (token, venueId, extra = {}) => {
        const p = await start();
        const device = ok(await claim(token, venueId, { pairingCode: p.pairingCode, name: 'Bar screen', ...extra }), 201);
        const done = await statusOk(p.pollToken);
        assert.equal(done.status, 'COMPLETED', JSON.stringify(done));
        return { p, device, done };
    };

    before(async () => {
        srv = await startServer({ args: ['--test-routes', '--rate-limits', RATE_LIMITS] });
        await devices.open();
        Object.assign(A, await createTenant('Alpha Pairing', 'admin@alpha-pairing.test'));
        Object.assign(B, await createTenant('Bravo Pairing', 'admin@bravo-pairing.test'));
        A.V1 = await createVenue(A, 'Venue One');
        A.V2 = await createVenue(A, 'Venue Two');
        B.V = await createVenue(B, 'Bravo Venue');
        A.G1 = await insertGroup(A, A.V1);
        A.G2 = await insertGroup(A, A.V2);
        A.manager = await createUser(A, 'manager@alpha-pairing.test', { venueRoles: [{ venueId: A.V1, role: 'VENUE_MANAGER' }] });
        A.editor = await createUser(A, 'editor@alpha-pairing.test', { venueRoles: [{ venueId: A.V1, role: 'VENUE_EDITOR' }] });
        A.viewer = await createUser(A, 'viewer@alpha-pairing.test', { venueRoles: [{ venueId: A.V1, role: 'VENUE_VIEWER' }] });
        A.tviewer = await createUser(A, 'tviewer@alpha-pairing.test', { tenantRoles: ['TENANT_VIEWER'] });
        A.manager2 = await createUser(A, 'manager2@alpha-pairing.test', { venueRoles: [{ venueId: A.V2, role: 'VENUE_MANAGER' }] });
    });
    after(async () => {
        await call('POST', '/v1/_test/clock', null, { offsetMs: 0 }).catch(() => {});
        await devices.close();
        await srv?.stop();
    });

    it('the full flow: start, PENDING, claim, COMPLETED with the token once, manifest, no token again', async () => {
        const t0 = Date.now();
        const p = await start();
        assert.deepEqual(Object.keys(p).filter((k) => !['hardwareId', 'res'].includes(k)).sort(),
            ['expiresAtUtc', 'pairingCode', 'pairingId', 'pollIntervalSeconds', 'pollToken']);
        assert.match(p.pairingId, UUID_RE);
        assert.match(p.pairingCode, CODE_RE);
        assert.match(p.pollToken, /^pt_[0-9a-f-]{36}_[A-Za-z0-9_-]{43}$/);
        assert.equal(p.res.headers.get('cache-control'), 'no-store');
        const expires = Date.parse(p.expiresAtUtc);
        assert.ok(Math.abs(expires - (t0 + TTL_S * 1000)) < 10000, `expiresAtUtc ${p.expiresAtUtc}: 10 minutes ahead`);

        const pending = await statusOk(p.pollToken);
        assert.deepEqual(pending, { pairingId: p.pairingId, status: 'PENDING', expiresAtUtc: p.expiresAtUtc, pollIntervalSeconds: 5 });

        const r = await claim(A.token, A.V1, { pairingCode: p.pairingCode, name: 'Bar screen' });
        const device = ok(r, 201);
        assert.match(device.deviceId, UUID_RE);
        assert.equal(r.res.headers.get('location'), `/v1/venues/${A.V1}/devices/${device.deviceId}`);
        assert.deepEqual(Object.keys(device), ['deviceId', 'venueId', 'name', 'groupId', 'timezone', 'runMode',
            'launchOnBoot', 'autoRelaunch', 'keepAwake', 'watchdogReturnToForeground', 'orientation',
            'cacheBudgetBytes', 'status', 'deviceHardwareId', 'appVersion', 'lastSeenAtUtc', 'createdAtUtc',
            'updatedAtUtc']);
        assert.equal(device.venueId, A.V1);
        assert.equal(device.name, 'Bar screen');
        assert.equal(device.groupId, null);
        assert.equal(device.status, 'ACTIVE');
        assert.equal(device.deviceHardwareId, p.hardwareId);
        assert.equal(device.appVersion, '1.4.2');
        assert.equal(device.lastSeenAtUtc, null);

        const done = await status(p.pollToken);
        assert.equal(done.res.headers.get('cache-control'), 'no-store');
        const body = ok(done);
        assert.equal(body.status, 'COMPLETED');
        assert.equal(body.pairingId, p.pairingId);
        assert.equal(body.deviceId, device.deviceId);
        assert.equal(body.venueId, A.V1);
        assert.equal(body.tenantId, A.tenantId);
        assert.equal(body.deviceName, 'Bar screen', 'the claim\'s name, for the player\'s error card');
        assert.equal(typeof body.deviceToken, 'string');
        const claims = jwtClaims(body.deviceToken);
        assert.equal(claims.typ, 'device');
        assert.equal(claims.did, device.deviceId);
        assert.equal(claims.vid, A.V1);
        assert.equal(claims.tid, A.tenantId);
        assert.ok(!('sub' in claims) && !('t_roles' in claims), JSON.stringify(claims));
        // long-lived: device_token_ttl_s, 365 days by default
        assert.ok(Math.abs(claims.exp - claims.iat - 365 * 86400) <= 1, JSON.stringify(claims));
        assert.equal(Date.parse(body.deviceTokenExpiresAtUtc), claims.exp * 1000);

        // the token works on the player endpoint at once; no schedule: playlist null
        const m = await devices.fetchManifest(body.deviceToken);
        assert.equal(m.body.playlist, null);

        // exactly once
        for (let i = 0; i < 2; i++) {
            const later = await statusOk(p.pollToken);
            assert.equal(later.status, 'COMPLETED');
            assert.equal(later.deviceId, device.deviceId);
            assert.ok(!('deviceToken' in later) && !('deviceTokenExpiresAtUtc' in later), JSON.stringify(later));
        }

        // the store holds hashes only
        const row = await sql(`SELECT status, device_secret_hash, resulting_device_id, claimed_name, claimed_venue_id,
            app_version, device_model, completed_at_utc IS NOT NULL FROM device_pairings WHERE pairing_id = '${p.pairingId}'`);
        const [st, secretHash, resulting, cname, cvenue, appVersion, model, completed] = row.split('|');
        assert.deepEqual([st, resulting, cname, cvenue, appVersion, model], ['COMPLETED', device.deviceId, 'Bar screen', A.V1,
            '1.4.2', 'AFTMM Fire TV']);
        assert.ok(['1', 't'].includes(completed), row);
        assert.equal(secretHash, sha256(p.pollToken));
        const tok = await sql(`SELECT token_hash, status, venue_id, expires_at_utc FROM device_auth_tokens
            WHERE device_id = '${device.deviceId}'`);
        assert.deepEqual(tok.split('|').slice(0, 3), [sha256(body.deviceToken), 'ACTIVE', A.V1]);
        assert.equal(tok.split('|')[3], body.deviceTokenExpiresAtUtc);
        const leak = await sql(`SELECT count(*) FROM device_pairings WHERE device_secret_hash = '${p.pollToken}'
            OR pairing_code = '${p.pollToken}'`);
        assert.equal(leak, '0');
    });

    it('codes: 8 of 24 unambiguous characters, different each time; typed in any case, with or without the dash', async () => {
        const seen = new Set();
        for (let i = 0; i < 20; i++) {
            const p = await start();
            assert.match(p.pairingCode, CODE_RE);
            seen.add(p.pairingCode);
        }
        assert.equal(seen.size, 20);
        for (const typed of [(c) => c.toLowerCase(), (c) => c.replace('-', ''), (c) => c.replace('-', '').toLowerCase(),
            (c) => ` ${c.slice(0, 2)} ${c.slice(2).toLowerCase()} `]) {
            const p = await start();
            const d = ok(await claim(A.token, A.V1, { pairingCode: typed(p.pairingCode), name: 'Typed' }), 201);
            assert.equal(d.deviceHardwareId, p.hardwareId);
        }
    });

    it('a wrong code is 404; a malformed one 400; neither says more', async () => {
        const p = await start();
        // a code of the alphabet that no pairing holds (change one character of a live one)
        const wrong = p.pairingCode.slice(0, 8) + (p.pairingCode[8] === 'A' ? 'C' : 'A');
        let r = await claim(A.token, A.V1, { pairingCode: wrong, name: 'X' });
        const prob = assertProblem(r.res, r.text, { status: 404, code: 'PAIRING_CODE_NOT_FOUND' });
        assert.ok(!r.text.includes(wrong) && !r.text.includes(p.pairingCode), prob.detail);
        for (const bad of ['ABCD-EFGH' /* B, G: not in the alphabet */, 'ACDE-FHJ', 'ACDE-FHJKL', 'ACDE_FHJK', '0000-0000', '']) {
            r = await claim(A.token, A.V1, { pairingCode: bad, name: 'X' });
            assertProblem(r.res, r.text, { status: 400, code: 'INVALID_FIELD' });
        }
        r = await claim(A.token, A.V1, { pairingCode: 12345678, name: 'X' });
        assertProblem(r.res, r.text, { status: 400, code: 'INVALID_FIELD' });
        // the real code still works
        ok(await claim(A.token, A.V1, { pairingCode: p.pairingCode, name: 'Still fine' }), 201);
    });

    it('a code claimed twice: 409, before and after the device collected its token', async () => {
        const p = await start();
        ok(await claim(A.token, A.V1, { pairingCode: p.pairingCode, name: 'First' }), 201);
        let r = await claim(A.token, A.V1, { pairingCode: p.pairingCode, name: 'Second' });
        assertProblem(r.res, r.text, { status: 409, code: 'PAIRING_ALREADY_CLAIMED' });
        r = await claim(B.token, B.V, { pairingCode: p.pairingCode, name: 'Bravo' });
        assertProblem(r.res, r.text, { status: 409, code: 'PAIRING_ALREADY_CLAIMED' });
        assert.equal((await statusOk(p.pollToken)).status, 'COMPLETED');
        r = await claim(A.token, A.V1, { pairingCode: p.pairingCode, name: 'Third' });
        assertProblem(r.res, r.text, { status: 409, code: 'PAIRING_ALREADY_CLAIMED' });
        const n = await sql(`SELECT count(*) FROM devices WHERE device_hardware_id = '${p.hardwareId}'`);
        assert.equal(n, '1');
    });

    it('concurrent claims of one code: exactly one wins, one device', async () => {
        for (let round = 0; round < 3; round++) {
            const p = await start();
            const results = await Promise.all([
                claim(A.token, A.V1, { pairingCode: p.pairingCode, name: 'Racer 1' }),
                claim(A.manager.token, A.V1, { pairingCode: p.pairingCode.toLowerCase(), name: 'Racer 2' }),
                claim(A.token, A.V2, { pairingCode: p.pairingCode, name: 'Racer 3' }),
                claim(B.token, B.V, { pairingCode: p.pairingCode, name: 'Racer 4' }),
            ]);
            const statuses = results.map((r) => r.res.status);
            assert.equal(statuses.filter((s) => s === 201).length, 1, `round ${round}: ${statuses}`);
            for (const r of results) {
                if (r.res.status !== 201) assertProblem(r.res, r.text, { status: 409, code: 'PAIRING_ALREADY_CLAIMED' });
            }
            const n = await sql(`SELECT count(*) FROM devices WHERE device_hardware_id = '${p.hardwareId}'`);
            assert.equal(n, '1');
            const winner = JSON.parse(results.find((r) => r.res.status === 201).text);
            const done = await statusOk(p.pollToken);
            assert.equal(done.deviceId, winner.deviceId);
        }
    });

    it('concurrent polls of a claimed pairing: the token is handed out once', async () => {
        const p = await start();
        ok(await claim(A.token, A.V1, { pairingCode: p.pairingCode, name: 'Polled' }), 201);
        const answers = (await Promise.all(Array.from({ length: 6 }, () => status(p.pollToken)))).map((r) => ok(r));
        assert.ok(answers.every((a) => a.status === 'COMPLETED'), JSON.stringify(answers));
        assert.equal(answers.filter((a) => 'deviceToken' in a).length, 1, JSON.stringify(answers));
    });

    it('another tenant\'s venue is 404; the code is not spent', async () => {
        const p = await start();
        const r = await claim(B.token, A.V1, { pairingCode: p.pairingCode, name: 'Intruder' });
        assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
        assert.equal((await statusOk(p.pollToken)).status, 'PENDING');
        // a venue that does not exist
        const r2 = await claim(A.token, randomUUID(), { pairingCode: p.pairingCode, name: 'Nowhere' });
        assertProblem(r2.res, r2.text, { status: 404, code: 'NOT_FOUND' });
    });

    it('who may claim: venue manager and tenant admin; not editor, viewer, tenant viewer, another venue\'s manager', async () => {
        const p = await start();
        for (const [who, token, want] of [['editor', A.editor.token, 403], ['viewer', A.viewer.token, 403],
            ['tenant viewer', A.tviewer.token, 403], ['manager of V2', A.manager2.token, 404]]) {
            const r = await claim(token, A.V1, { pairingCode: p.pairingCode, name: 'No' });
            assert.equal(r.res.status, want, `${who}: ${r.text}`);
        }
        assert.equal((await statusOk(p.pollToken)).status, 'PENDING');
        ok(await claim(A.manager.token, A.V1, { pairingCode: p.pairingCode, name: 'By the manager' }), 201);
        const p2 = await start();
        ok(await claim(A.token, A.V2, { pairingCode: p2.pairingCode, name: 'By the admin' }), 201);
        const p3 = await start();
        ok(await claim(A.manager2.token, A.V2, { pairingCode: p3.pairingCode, name: 'By manager 2' }), 201);
        // a device token is no user token
        const { done } = await pairDevice(A.token, A.V1);
        const r = await claim(done.deviceToken, A.V1, { pairingCode: (await start()).pairingCode, name: 'Self' });
        assertProblem(r.res, r.text, { status: 401, code: 'USER_TOKEN_REQUIRED' });
    });

    it('the group: one of the venue is set; another venue\'s, a deleted one or a made-up id is 422', async () => {
        const p = await start();
        for (const groupId of [A.G2, randomUUID(), 'not-a-uuid']) {
            const r = await claim(A.token, A.V1, { pairingCode: p.pairingCode, name: 'Grouped', groupId });
            assertProblem(r.res, r.text, { status: 422, code: 'INVALID_GROUP' });
        }
        const gone = await insertGroup(A, A.V1);
        await sql(`UPDATE device_groups SET deleted_at_utc = '2026-01-06T10:00:00.000Z' WHERE group_id = '${gone}'`);
        let r = await claim(A.token, A.V1, { pairingCode: p.pairingCode, name: 'Grouped', groupId: gone });
        assertProblem(r.res, r.text, { status: 422, code: 'INVALID_GROUP' });
        assert.equal((await statusOk(p.pollToken)).status, 'PENDING', 'a refused claim leaves the code usable');
        r = await claim(A.token, A.V1, { pairingCode: p.pairingCode, name: 'Grouped', groupId: A.G1 });
        const d = ok(r, 201);
        assert.equal(d.groupId, A.G1);
        const row = await sql(`SELECT claimed_group_id FROM device_pairings WHERE pairing_id = '${p.pairingId}'`);
        assert.equal(row, A.G1);
    });

    it('claim validation: every field', async () => {
        const p = await start();
        const cases = [
            [{ name: 'X' }, 'FIELD_REQUIRED'],
            [{ pairingCode: p.pairingCode }, 'FIELD_REQUIRED'],
            [{ pairingCode: p.pairingCode, name: '' }, 'INVALID_FIELD'],
            [{ pairingCode: p.pairingCode, name: 'x'.repeat(201) }, 'INVALID_FIELD'],
            [{ pairingCode: p.pairingCode, name: 'tab\there' }, 'INVALID_FIELD'],
            [{ pairingCode: p.pairingCode, name: 7 }, 'INVALID_FIELD'],
            [{ pairingCode: p.pairingCode, name: 'X', groupId: 5 }, 'INVALID_FIELD'],
            [{ pairingCode: p.pairingCode, name: 'X', venueId: A.V2 }, 'UNKNOWN_FIELD'],
        ];
        for (const [body, code] of cases) {
            const r = await claim(A.token, A.V1, body);
            assertProblem(r.res, r.text, { status: 400, code });
        }
        // 200 characters (not bytes) is the limit
        const d = ok(await claim(A.token, A.V1, { pairingCode: p.pairingCode, name: 'é'.repeat(200) }), 201);
        assert.equal(d.name, 'é'.repeat(200));
    });

    it('the audit log has device.paired (and the token collection) without a secret; the change feed a DEVICE', async () => {
        const { p, device, done } = await pairDevice(A.token, A.V1, { name: 'Audited', groupId: A.G1 });
        // and a refused claim
        const r = await claim(A.token, A.V1, { pairingCode: p.pairingCode, name: 'Again' });
        assert.equal(r.res.status, 409);
        const audit = ok(await call('GET', '/v1/audit?action=device.paired&limit=200', A.token));
        const paired = audit.items.find((e) => e.resourceId === device.deviceId);
        assert.ok(paired, JSON.stringify(audit.items.slice(0, 3)));
        assert.equal(paired.outcome, 'SUCCESS');
        assert.equal(paired.actorType, 'USER');
        assert.equal(paired.actorId, A.userId);
        assert.equal(paired.resourceType, 'DEVICE');
        assert.equal(paired.venueId, A.V1);
        assert.deepEqual(paired.details, {
            pairingId: p.pairingId, name: 'Audited', groupId: A.G1, deviceHardwareId: p.hardwareId,
            appVersion: '1.4.2', deviceModel: 'AFTMM Fire TV',
        });
        const refused = audit.items.find((e) => e.outcome === 'FAILURE' && e.resourceId === p.pairingId);
        assert.ok(refused, `the refused claim is audited: ${JSON.stringify(audit.items.filter((e) => e.outcome === "FAILURE").slice(0, 3))}`);
        assert.equal(refused.details.reason, 'PAIRING_ALREADY_CLAIMED');
        const issued = ok(await call('GET', '/v1/audit?action=device.token_issued&limit=200', A.token));
        const entry = issued.items.find((e) => e.resourceId === device.deviceId);
        assert.ok(entry);
        assert.equal(entry.actorType, 'DEVICE');
        assert.equal(entry.actorId, device.deviceId);
        const all = JSON.stringify(ok(await call('GET', '/v1/audit?limit=200', A.token)));
        const bare = p.pairingCode.replace('-', '');
        for (const secret of [done.deviceToken, p.pollToken, p.pollToken.slice(40), p.pairingCode, bare]) {
            assert.ok(!all.includes(secret), 'a secret in the audit log');
        }
        // other tenants see none of it
        const theirs = JSON.stringify(ok(await call('GET', '/v1/audit?limit=200', B.token)));
        assert.ok(!theirs.includes(device.deviceId));
        // the change feed
        const feed = ok(await call('GET', '/v1/changes?since=0&limit=200', A.token));
        const ch = feed.items.find((c) => c.entityId === device.deviceId);
        assert.ok(ch, JSON.stringify(feed.items.slice(-3)));
        assert.equal(ch.entityType, 'DEVICE');
        assert.equal(ch.action, 'created');
        assert.equal(ch.venueId, A.V1);
        assert.equal(ch.actorUserId, A.userId);
    });

    it('start validation: every field', async () => {
        const hw = `hw-${randomUUID()}`;
        const cases = [
            [{}, 'FIELD_REQUIRED'],
            [{ appVersion: '1' }, 'FIELD_REQUIRED'],
            [{ deviceHardwareId: '' }, 'INVALID_FIELD'],
            [{ deviceHardwareId: 'x'.repeat(129) }, 'INVALID_FIELD'],
            [{ deviceHardwareId: 42 }, 'INVALID_FIELD'],
            [{ deviceHardwareId: 'line\nbreak' }, 'INVALID_FIELD'],
            [{ deviceHardwareId: 'café' }, 'INVALID_FIELD'],
            [{ deviceHardwareId: hw, appVersion: '' }, 'INVALID_FIELD'],
            [{ deviceHardwareId: hw, appVersion: '1'.repeat(65) }, 'INVALID_FIELD'],
            [{ deviceHardwareId: hw, appVersion: 3 }, 'INVALID_FIELD'],
            [{ deviceHardwareId: hw, appVersion: '1.0\u001b' }, 'INVALID_FIELD'],
            [{ deviceHardwareId: hw, deviceModel: 'm'.repeat(129) }, 'INVALID_FIELD'],
            [{ deviceHardwareId: hw, deviceModel: ['x'] }, 'INVALID_FIELD'],
            [{ deviceHardwareId: hw, deviceModel: 'bell\u0007' }, 'INVALID_FIELD'],
            [{ deviceHardwareId: hw, tenantId: randomUUID() }, 'UNKNOWN_FIELD'],
        ];
        for (const [body, code] of cases) {
            const r = await startRaw(body);
            const prob = assertProblem(r.res, r.text, { status: 400, code });
            assert.ok(Array.isArray(prob.errors) && prob.errors.length >= 1, r.text);
        }
        const r = await startRaw('[1,2]');
        assert.equal(r.res.status, 400, r.text);
        const noJson = await call('POST', START, null, undefined);
        assert.ok([400, 415].includes(noJson.res.status), noJson.text);
        // the limits themselves are fine, and the optional fields optional
        ok(await startRaw({ deviceHardwareId: 'h'.repeat(128), appVersion: 'v'.repeat(64), deviceModel: 'ü'.repeat(128) }), 201);
        ok(await startRaw({ deviceHardwareId: `${hw} with spaces ~!@#` }), 201);
    });

    it('poll tokens: missing is 400; malformed, unknown or another pairing\'s secret is 404', async () => {
        const p = await start();
        let r = await status(null, {});
        assertProblem(r.res, r.text, { status: 400, code: 'POLL_TOKEN_REQUIRED' });
        r = await status(null, { Authorization: `Basic ${p.pollToken}` });
        assertProblem(r.res, r.text, { status: 400, code: 'POLL_TOKEN_REQUIRED' });
        const other = await start();
        const forged = p.pollToken.slice(0, 40) + other.pollToken.slice(40); // p's id, other's secret
        const flipped = p.pollToken.slice(0, -1) + (p.pollToken.endsWith('A') ? 'B' : 'A');
        for (const bad of ['x', p.pollToken.slice(0, -1), `${p.pollToken}A`, forged, flipped,
            `pt_${randomUUID()}_${p.pollToken.slice(40)}`, p.pollToken.replace('pt_', 'rt_')]) {
            r = await status(bad);
            assertProblem(r.res, r.text, { status: 404, code: 'PAIRING_NOT_FOUND' });
        }
        assert.equal((await statusOk(p.pollToken)).status, 'PENDING');
        assert.equal((await statusOk(other.pollToken)).status, 'PENDING');
    });

    it('a new start for the same hardware expires the older code (claim: 410)', async () => {
        const hw = `hw-${randomUUID()}`;
        const first = await start({ deviceHardwareId: hw });
        const second = await start({ deviceHardwareId: hw });
        assert.equal((await statusOk(first.pollToken)).status, 'EXPIRED');
        assert.equal((await statusOk(second.pollToken)).status, 'PENDING');
        const r = await claim(A.token, A.V1, { pairingCode: first.pairingCode, name: 'Old code' });
        if (first.pairingCode !== second.pairingCode) assertProblem(r.res, r.text, { status: 410, code: 'PAIRING_EXPIRED' });
        ok(await claim(A.token, A.V1, { pairingCode: second.pairingCode, name: 'New code' }), 201);
    });

    it('a removed device\'s token is refused (401 INVALID_TOKEN); so is a disabled tenant\'s', async () => {
        const { device, done } = await pairDevice(A.token, A.V1, { name: 'To remove' });
        await devices.fetchManifest(done.deviceToken);
        await sql(`UPDATE devices SET deleted_at_utc = '2026-01-06T10:00:00.000Z' WHERE device_id = '${device.deviceId}'`);
        let r = await manifest(done.deviceToken);
        assertProblem(r.res, r.text, { status: 401, code: 'INVALID_TOKEN' });

        // a tenant of its own, disabled and enabled again
        const C = await createTenant('Charlie Pairing', 'admin@charlie-pairing.test');
        const cv = await createVenue(C, 'Charlie Venue');
        const c = await pairDevice(C.token, cv);
        await devices.fetchManifest(c.done.deviceToken);
        await devices.setTenantStatus(C, 'DISABLED');
        try {
            r = await manifest(c.done.deviceToken);
            assertProblem(r.res, r.text, { status: 401, code: 'INVALID_TOKEN' });
        } finally {
            await devices.setTenantStatus(C, 'ACTIVE');
        }
        await devices.fetchManifest(c.done.deviceToken);
    });

    it('a device removed before it collected its token: the poll answers EXPIRED, no token', async () => {
        const p = await start();
        const device = ok(await claim(A.token, A.V1, { pairingCode: p.pairingCode, name: 'Gone early' }), 201);
        await sql(`UPDATE devices SET deleted_at_utc = '2026-01-06T10:00:00.000Z' WHERE device_id = '${device.deviceId}'`);
        const s = await statusOk(p.pollToken);
        assert.equal(s.status, 'EXPIRED');
        assert.ok(!('deviceToken' in s));
        const n = await sql(`SELECT count(*) FROM device_auth_tokens WHERE device_id = '${device.deviceId}'`);
        assert.equal(n, '0');
    });

    it('the log holds no poll token, device token or code', async () => {
        const { p, done } = await pairDevice(A.token, A.V1, { name: 'Quiet' });
        await status(`${p.pollToken}x`); // a refused one too
        const log = srv.stderr();
        assert.ok(log.includes('/v1/devices/pairing/status'), 'status requests are logged');
        for (const secret of [p.pollToken, p.pollToken.slice(40), done.deviceToken, p.pairingCode, p.pairingCode.replace('-', '')]) {
            assert.ok(!log.includes(secret), 'a secret in the log');
        }
    });

    // ---- the server's clock moves: these come last, and put it back --------------------

    it('expiry: past its TTL a code answers EXPIRED and cannot be claimed (410); a claimed one still completes', async () => {
        const p = await start();
        const claimed = await start();
        const device = ok(await claim(A.token, A.V1, { pairingCode: claimed.pairingCode, name: 'Claimed in time' }), 201);
        try {
            ok(await call('POST', '/v1/_test/clock', null, { offsetMs: (TTL_S + 5) * 1000 }));
            assert.equal((await statusOk(p.pollToken)).status, 'EXPIRED');
            const r = await claim(A.token, A.V1, { pairingCode: p.pairingCode, name: 'Too late' });
            assertProblem(r.res, r.text, { status: 410, code: 'PAIRING_EXPIRED' });
            const s = await statusOk(claimed.pollToken);
            assert.equal(s.status, 'COMPLETED');
            assert.equal(s.deviceId, device.deviceId);
            await devices.fetchManifest(s.deviceToken);
        } finally {
            ok(await call('POST', '/v1/_test/clock', null, { offsetMs: 0 }));
        }
    });

    it('expiry: an expired code is claimed nowhere, not even before anyone read it (410)', async () => {
        const p = await start();
        try {
            ok(await call('POST', '/v1/_test/clock', null, { offsetMs: (TTL_S + 5) * 1000 }));
            const r = await claim(A.token, A.V1, { pairingCode: p.pairingCode, name: 'Too late' });
            assertProblem(r.res, r.text, { status: 410, code: 'PAIRING_EXPIRED' });
            assert.equal(await sql(`SELECT status FROM device_pairings WHERE pairing_id = '${p.pairingId}'`), 'EXPIRED');
            assert.equal((await statusOk(p.pollToken)).status, 'EXPIRED');
        } finally {
            ok(await call('POST', '/v1/_test/clock', null, { offsetMs: 0 }));
        }
    });

    it('at most 10,000 pairings wait at once, whoever started them: then 503 PAIRING_BUSY with Retry-After', async () => {
        // 9,999 live ones, made with SQL (codes Z0000001…: Z is outside the alphabet, so no
        // start can draw one)
        const expires = new Date(Date.now() + 3600 * 1000).toISOString();
        const now = new Date().toISOString();
        const cols = `pairing_id, pairing_code, device_hardware_id, status, expires_at_utc, created_at_utc, updated_at_utc`;
        const live = await sql('SELECT count(*) FROM device_pairings WHERE status = \'PENDING\'').then(Number);
        const n = 9999 - live;
        await sql(BACKEND === 'postgresql'
            ? `INSERT INTO device_pairings (${cols}) SELECT 'cap-' || i, 'Z' || lpad(i::text, 7, '0'),
                'hw-cap-' || i, 'PENDING', '${expires}', '${now}', '${now}' FROM generate_series(1, ${n}) AS i`
            : `WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ${n})
                INSERT INTO device_pairings (${cols}) SELECT 'cap-' || i, printf('Z%07d', i), 'hw-cap-' || i,
                'PENDING', '${expires}', '${now}', '${now}' FROM k`);
        try {
            await start(); // the 10,000th
            const r = await startRaw({ deviceHardwareId: `hw-${randomUUID()}` });
            assertProblem(r.res, r.text, { status: 503, code: 'PAIRING_BUSY' });
            assert.equal(r.res.headers.get('retry-after'), '60');
        } finally {
            await sql(`DELETE FROM device_pairings WHERE pairing_id LIKE 'cap-%'`);
        }
        await start(); // room again
    });

    it('ended pairings are deleted a week after their code expired; younger ones are kept', async () => {
        const old = await start();
        const young = await start();
        await sql(`UPDATE device_pairings SET status = 'EXPIRED', expires_at_utc = '${new Date(Date.now() - 8 * 86400000).toISOString()}'
            WHERE pairing_id = '${old.pairingId}'`);
        await sql(`UPDATE device_pairings SET status = 'EXPIRED', expires_at_utc = '${new Date(Date.now() - 6 * 86400000).toISOString()}'
            WHERE pairing_id = '${young.pairingId}'`);
        const job = ok(await call('POST', '/v1/_test/jobs/pairing-expiry', null));
        assert.ok(job.deleted >= 1, JSON.stringify(job));
        assert.equal(await sql(`SELECT count(*) FROM device_pairings WHERE pairing_id = '${old.pairingId}'`), '0');
        assert.equal(await sql(`SELECT status FROM device_pairings WHERE pairing_id = '${young.pairingId}'`), 'EXPIRED');
    });

    it('expiry: the pairing-expiry job marks what nobody read', async () => {
        const p = await start();
        const q = await start();
        try {
            ok(await call('POST', '/v1/_test/clock', null, { offsetMs: (TTL_S - 60) * 1000 }));
            let job = ok(await call('POST', '/v1/_test/jobs/pairing-expiry', null));
            assert.equal(await sql(`SELECT status FROM device_pairings WHERE pairing_id = '${p.pairingId}'`), 'PENDING');
            ok(await call('POST', '/v1/_test/clock', null, { offsetMs: (TTL_S + 5) * 1000 }));
            job = ok(await call('POST', '/v1/_test/jobs/pairing-expiry', null));
            assert.ok(job.expired >= 2, JSON.stringify(job));
            const rows = await sql(`SELECT status FROM device_pairings WHERE pairing_id IN ('${p.pairingId}', '${q.pairingId}')`);
            assert.deepEqual(rows.split('\n'), ['EXPIRED', 'EXPIRED']);
            assert.equal((await statusOk(q.pollToken)).status, 'EXPIRED');
            // a fresh start at the moved clock gets the full TTL from then
            const fresh = await start();
            assert.ok(Date.parse(fresh.expiresAtUtc) > Date.now() + (2 * TTL_S - 60) * 1000, fresh.expiresAtUtc);
            assert.equal((await statusOk(fresh.pollToken)).status, 'PENDING');
        } finally {
            ok(await call('POST', '/v1/_test/clock', null, { offsetMs: 0 }));
        }
    });
});

describe(`device pairing: the pairing_ip rate limit (${BACKEND})`, () => {
    let srv;

    before(async () => {
        srv = await startServer({ args: ['--rate-limits', 'pairing_ip=3/60'] });
    });
    after(async () => {
        await srv?.stop();
    });

    it('the 4th start from one IP within a minute is 429 with Retry-After', async () => {
        const send = () => get(`${srv.url}${START}`, {
            method: 'POST', headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ deviceHardwareId: `hw-${randomUUID()}` }),
        });
        for (let i = 0; i < 3; i++) {
            const r = await send();
            assert.equal(r.res.status, 201, r.text);
            assert.equal(r.res.headers.get('x-ratelimit-limit'), '3');
        }
        const r = await send();
        const prob = assertProblem(r.res, r.text, { status: 429, code: 'RATE_LIMITED' });
        assert.ok(Number(r.res.headers.get('retry-after')) > 0);
        assert.ok(prob.retryAfterSeconds > 0);
        // polling is another class: still answered
        const s = await get(`${srv.url}${STATUS}`, { headers: { Authorization: 'Bearer x' } });
        assert.equal(s.res.status, 404, s.text);
    });
});
