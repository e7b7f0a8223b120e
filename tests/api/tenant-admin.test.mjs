// SPDX-License-Identifier: MIT
//
// tenant-admin.test.mjs — the tenant-admin endpoints of spec §27.4 (venues, users, venue roles)
// and GET /v1/audit (§25.9), with two tenants on one server: everything tenant A's admin does
// must stay invisible to tenant B (404, never 403), a user without TENANT_ADMIN gets 403, and
// a venue-role change shows up in the user's next token.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { BACKEND, UUID_RE, assertProblem, get, runMarqueed, startServer } from './lib/server.mjs';

const PASSWORD_A = 'alpha admin passphrase 1';
const PASSWORD_B = 'bravo admin passphrase 2';
const USER_PASSWORD = 'viewer user passphrase 3';
const JSON_HEADERS = { 'Content-Type': 'application/json' };

describe(`tenant admin endpoints (${BACKEND})`, () => {
    let srv;
    let base;
    const A = {}; // {tenantId, userId, token, refresh}
    const B = {};

    const call = (method, path, token, body, headers = {}) =>
        get(`${base}${path}`, {
            method,
            headers: {
                ...(body !== undefined ? JSON_HEADERS : {}),
                ...(token ? { Authorization: `Bearer ${token}` } : {}),
                ...headers,
            },
            body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        });
    const ok = (r, status = 200) => {
        assert.equal(r.res.status, status, r.text);
        return JSON.parse(r.text);
    };
    const login = async (email, password, extra = {}) => {
        const r = await call('POST', '/v1/auth/login', null, { email, password, ...extra });
        return ok(r);
    };
    const createTenant = async (name, email, password) => {
        const made = await runMarqueed(['create-tenant', '--name', name, '--admin-email', email,
            '--admin-password', password, '--timezone', 'Europe/London', ...srv.store.args]);
        assert.equal(made.code, 0, made.stderr);
        const m = /tenant ([0-9a-f-]{36}) created[\s\S]*admin user ([0-9a-f-]{36})/.exec(made.stdout);
        assert.ok(m, made.stdout);
        const s = await login(email, password);
        return { tenantId: m[1], userId: m[2], token: s.accessToken, refresh: s.refreshToken };
    };
    // One value read straight from the store (no endpoint shows a manifest epoch yet).
    const sqlValue = (sql) => new Promise((resolve, reject) => {
        const [file, args] = srv.store.dbUrl
            ? [path.join(process.env.MARQUEE_PG_BINDIR || '', 'psql'), [srv.store.dbUrl, '-tAc', sql]]
            : ['sqlite3', [path.join(srv.dataDir, 'marquee.db'), sql]];
        execFile(file, args, { timeout: 10000 }, (e, out, err) => (e ? reject(new Error(`${file}: ${err || e.message}`)) : resolve(out.trim())));
    });
    const venuesPath = (t) => `/v1/tenants/${t.tenantId}/venues`;
    const usersPath = (t) => `/v1/tenants/${t.tenantId}/users`;
    const newVenue = async (t, body) => ok(await call('POST', venuesPath(t), t.token, body), 201);
    // every page of a list, following nextCursor
    const walk = async (path, token, limit) => {
        const seen = [];
        let cursor = null;
        for (let pages = 0; pages < 100; pages++) {
            const sep = path.includes('?') ? '&' : '?';
            const r = await call('GET', `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token);
            const body = ok(r);
            assert.ok(body.items.length <= limit, `page longer than limit ${limit}`);
            seen.push(...body.items);
            if (!body.nextCursor) return seen;
            cursor = body.nextCursor;
        }
        assert.fail('more than 100 pages');
    };

    before(async () => {
        srv = await startServer({
            args: ['--rate-limits',
                'login_ip=10000/60,login_account=10000/60,refresh_user=10000/60,mutation=10000/60'],
        });
        base = srv.url;
        Object.assign(A, await createTenant('Alpha Pubs', 'admin@alpha.test', PASSWORD_A));
        Object.assign(B, await createTenant('Bravo Bars', 'admin@bravo.test', PASSWORD_B));
    });
    after(async () => {
        await srv?.stop();
    });

    describe('venues', () => {
        it('POST creates a venue: 201, Location, ETag, the venue as sent', async () => {
            const r = await call('POST', venuesPath(A), A.token, {
                name: 'The Crown', timezone: 'Europe/London', addressLine1: '1 High Street',
                city: 'York', postalCode: 'YO1 1AA', countryCode: 'GB',
            });
            const v = ok(r, 201);
            assert.match(v.venueId, UUID_RE);
            assert.equal(r.res.headers.get('location'), `${venuesPath(A)}/${v.venueId}`);
            assert.match(r.res.headers.get('etag') || '', /^"[0-9a-f]{32}"$/);
            assert.equal(v.tenantId, A.tenantId);
            assert.equal(v.name, 'The Crown');
            assert.equal(v.timezone, 'Europe/London');
            assert.deepEqual(v.address, {
                addressLine1: '1 High Street', addressLine2: null, city: 'York', region: null,
                postalCode: 'YO1 1AA', countryCode: 'GB',
            });
            assert.equal(v.fallbackPlaylistId, null);
            assert.match(v.createdAtUtc, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
            assert.equal(v.updatedAtUtc, v.createdAtUtc);

            const g = await call('GET', r.res.headers.get('location'), A.token);
            assert.deepEqual(ok(g), v);
            assert.equal(g.res.headers.get('etag'), r.res.headers.get('etag'));
            const nm = await call('GET', r.res.headers.get('location'), A.token, undefined,
                { 'If-None-Match': g.res.headers.get('etag') });
            assert.equal(nm.res.status, 304);
        });

        it('GET lists by name in cursor pages, and ?q= filters by name without case', async () => {
            const names = ['Zeta Lounge', 'alpha bar', 'Mid Bar', 'Beta Barn', '100% Cider', 'Under_score'];
            for (const name of names) await newVenue(A, { name, timezone: 'Europe/Paris' });
            const all = await walk(venuesPath(A), A.token, 2);
            const got = all.map((v) => v.name);
            assert.equal(new Set(all.map((v) => v.venueId)).size, all.length, 'a venue on two pages');
            for (const n of names) assert.ok(got.includes(n), `${n} missing from ${got}`);
            const sorted = [...all].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.venueId < b.venueId ? -1 : 1));
            assert.deepEqual(got, sorted.map((v) => v.name), 'order by name, then id');
            assert.ok(all.every((v) => v.tenantId === A.tenantId));

            const q = ok(await call('GET', `${venuesPath(A)}?q=BAR`, A.token));
            assert.deepEqual(q.items.map((v) => v.name).sort(), ['Beta Barn', 'Mid Bar', 'alpha bar']);
            // LIKE's own characters are literal
            const pct = ok(await call('GET', `${venuesPath(A)}?q=${encodeURIComponent('%')}`, A.token));
            assert.deepEqual(pct.items.map((v) => v.name), ['100% Cider']);
            const us = ok(await call('GET', `${venuesPath(A)}?q=_`, A.token));
            assert.deepEqual(us.items.map((v) => v.name), ['Under_score']);
            const paged = await walk(`${venuesPath(A)}?q=bar`, A.token, 1);
            assert.equal(paged.length, 3);
            const none = ok(await call('GET', `${venuesPath(A)}?q=nothing-like-this`, A.token));
            assert.deepEqual(none, { items: [], nextCursor: null });
            const bad = await call('GET', `${venuesPath(A)}?cursor=garbage`, A.token);
            assertProblem(bad.res, bad.text, { status: 400, code: 'INVALID_CURSOR' });
        });

        it('PUT needs If-Match (428), refuses a stale one (412) and updates with the current one', async () => {
            const created = await call('POST', venuesPath(A), A.token, { name: 'Old Name', timezone: 'Europe/London' });
            const v = ok(created, 201);
            const path = `${venuesPath(A)}/${v.venueId}`;
            const etag = created.res.headers.get('etag');
            const body = { name: 'New Name', timezone: 'America/New_York', city: 'New York', countryCode: 'US' };

            let r = await call('PUT', path, A.token, body);
            assertProblem(r.res, r.text, { status: 428, code: 'PRECONDITION_REQUIRED' });
            r = await call('PUT', path, A.token, body, { 'If-Match': '"0123456789abcdef0123456789abcdef"' });
            const p = assertProblem(r.res, r.text, { status: 412, code: 'PRECONDITION_FAILED' });
            assert.equal(p.currentEtag, etag);
            assert.equal(ok(await call('GET', path, A.token)).name, 'Old Name', 'refused PUTs changed nothing');

            r = await call('PUT', path, A.token, body, { 'If-Match': etag });
            const u = ok(r);
            assert.equal(u.name, 'New Name');
            assert.equal(u.timezone, 'America/New_York');
            assert.equal(u.address.city, 'New York');
            assert.equal(u.createdAtUtc, v.createdAtUtc);
            assert.ok(u.updatedAtUtc > v.updatedAtUtc, 'updatedAtUtc moves forward');
            const etag2 = r.res.headers.get('etag');
            assert.ok(etag2 && etag2 !== etag, 'a new ETag');

            const g = await call('GET', path, A.token);
            assert.deepEqual(ok(g), u);
            assert.equal(g.res.headers.get('etag'), etag2, 'GET and PUT agree on the ETag');

            // the old ETag is stale now; a full replacement clears fields left out
            r = await call('PUT', path, A.token, body, { 'If-Match': etag });
            assertProblem(r.res, r.text, { status: 412, code: 'PRECONDITION_FAILED' });
            r = await call('PUT', path, A.token, { name: 'New Name', timezone: 'America/New_York' }, { 'If-Match': etag2 });
            assert.equal(ok(r).address.city, null);

            const audit = ok(await call('GET', `/v1/audit?action=venue.updated&limit=200`, A.token));
            const tz = audit.items.find((e) => e.resourceId === v.venueId && e.details?.changes?.timezone);
            assert.ok(tz, 'venue.updated with the time zone change audited');
            assert.deepEqual(tz.details.changes.timezone, { from: 'Europe/London', to: 'America/New_York' });
        });

        it("a time zone change moves the venue's manifest epoch; other changes and no-ops do not", async () => {
            const created = await call('POST', venuesPath(A), A.token, { name: 'Epoch Inn', timezone: 'Europe/London' });
            const v = ok(created, 201);
            const epoch = () => sqlValue(`SELECT manifest_epoch FROM venue_epochs WHERE venue_id = '${v.venueId}'`);
            assert.equal(await epoch(), '1');
            const path = `${venuesPath(A)}/${v.venueId}`;
            let etag = created.res.headers.get('etag');
            // the same body again: nothing changes, not even the ETag
            let r = await call('PUT', path, A.token, { name: 'Epoch Inn', timezone: 'Europe/London' }, { 'If-Match': etag });
            assert.deepEqual(ok(r), v);
            assert.equal(r.res.headers.get('etag'), etag);
            r = await call('PUT', path, A.token, { name: 'Epoch Tavern', timezone: 'Europe/London' }, { 'If-Match': etag });
            assert.equal(ok(r).name, 'Epoch Tavern');
            assert.equal(await epoch(), '1', 'a new name does not affect playback');
            etag = r.res.headers.get('etag');
            r = await call('PUT', path, A.token, { name: 'Epoch Tavern', timezone: 'Asia/Tokyo' }, { 'If-Match': etag });
            assert.equal(ok(r).timezone, 'Asia/Tokyo');
            assert.equal(await epoch(), '2', 'a new time zone does');
        });

        it('refuses bad bodies with 400: time zone, unknown field, wrong type, lengths, country', async () => {
            const v = await newVenue(A, { name: 'Validation Venue', timezone: 'UTC' });
            const cases = [
                [{ name: 'X', timezone: 'Mars/Olympus_Mons' }, 'INVALID_FIELD', 'timezone'],
                [{ name: 'X', timezone: '../../etc/passwd' }, 'INVALID_FIELD', 'timezone'],
                [{ name: 'X', timezone: 'UTC', colour: 'red' }, 'UNKNOWN_FIELD', 'colour'],
                [{ name: 'X', timezone: 'UTC', tenantId: B.tenantId }, 'UNKNOWN_FIELD', 'tenantId'],
                [{ name: 42, timezone: 'UTC' }, 'INVALID_FIELD', 'name'],
                [{ name: 'X', timezone: 'UTC', city: ['York'] }, 'INVALID_FIELD', 'city'],
                [{ name: 'x'.repeat(201), timezone: 'UTC' }, 'INVALID_FIELD', 'name'],
                [{ name: '', timezone: 'UTC' }, 'INVALID_FIELD', 'name'],
                [{ timezone: 'UTC' }, 'FIELD_REQUIRED', 'name'],
                [{ name: 'X' }, 'FIELD_REQUIRED', 'timezone'],
                [{ name: 'X', timezone: 'UTC', countryCode: 'gb' }, 'INVALID_FIELD', 'countryCode'],
                [{ name: 'X', timezone: 'UTC', countryCode: 'GBR' }, 'INVALID_FIELD', 'countryCode'],
            ];
            for (const [body, code, field] of cases) {
                for (const [method, path, headers] of [
                    ['POST', venuesPath(A), {}],
                    ['PUT', `${venuesPath(A)}/${v.venueId}`, { 'If-Match': '"x"' }],
                ]) {
                    const r = await call(method, path, A.token, body, headers);
                    const p = assertProblem(r.res, r.text, { status: 400, code });
                    assert.equal(p.errors?.[0]?.field, field, `${method} ${JSON.stringify(body).slice(0, 80)}`);
                }
            }
            // 200 characters is the limit, counted as characters, not bytes
            const long = await call('POST', venuesPath(A), A.token, { name: 'é'.repeat(200), timezone: 'UTC' });
            assert.equal(ok(long, 201).name, 'é'.repeat(200));
            const r = await call('POST', venuesPath(A), A.token, '[1,2]');
            assertProblem(r.res, r.text, { status: 400, code: 'INVALID_BODY' });
            const list = await walk(venuesPath(A), A.token, 200);
            assert.ok(!list.some((x) => x.name === 'X'), 'a refused venue was created');
        });

        it("another tenant's venues are 404, never 403", async () => {
            const bv = await newVenue(B, { name: 'Bravo Only', timezone: 'UTC' });
            const av = await newVenue(A, { name: 'Alpha Only', timezone: 'UTC' });
            for (const [method, path, body, headers] of [
                ['GET', venuesPath(B)],
                ['POST', venuesPath(B), { name: 'Intruder', timezone: 'UTC' }],
                ['GET', `${venuesPath(B)}/${bv.venueId}`],
                ['GET', `${venuesPath(A)}/${bv.venueId}`],
                ['PUT', `${venuesPath(A)}/${bv.venueId}`, { name: 'Stolen', timezone: 'UTC' }, { 'If-Match': '*' }],
                ['PUT', `${venuesPath(B)}/${bv.venueId}`, { name: 'Stolen', timezone: 'UTC' }, { 'If-Match': '*' }],
                ['GET', `${venuesPath(A)}/00000000-0000-4000-8000-000000000000`],
                ['GET', `${venuesPath(A)}/not-a-uuid`],
            ]) {
                const r = await call(method, path, A.token, body, headers);
                assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            }
            // B's venue is untouched, and A's list never shows it
            assert.equal(ok(await call('GET', `${venuesPath(B)}/${bv.venueId}`, B.token)).name, 'Bravo Only');
            const aList = await walk(venuesPath(A), A.token, 200);
            assert.ok(aList.some((v) => v.venueId === av.venueId));
            assert.ok(!aList.some((v) => v.venueId === bv.venueId || v.name === 'Intruder'));
            const bList = await walk(venuesPath(B), B.token, 200);
            assert.deepEqual(bList.map((v) => v.name), ['Bravo Only']);
        });
    });

    describe('users and venue roles', () => {
        const U = {}; // the viewer user A's admin creates

        it('POST creates a user: 201, Location, roles, never the password or its hash', async () => {
            const r = await call('POST', usersPath(A), A.token, {
                email: 'Viewer@Alpha.test', displayName: 'Val Viewer', password: USER_PASSWORD,
            });
            const u = ok(r, 201);
            assert.match(u.userId, UUID_RE);
            assert.equal(r.res.headers.get('location'), `${usersPath(A)}/${u.userId}`);
            assert.equal(u.tenantId, A.tenantId);
            assert.equal(u.email, 'Viewer@Alpha.test');
            assert.equal(u.displayName, 'Val Viewer');
            assert.equal(u.status, 'ACTIVE');
            assert.deepEqual(u.tenantRoles, []);
            assert.deepEqual(u.capabilities, []);
            assert.deepEqual(u.venueRoles, []);
            for (const k of Object.keys(u)) assert.ok(!/pass|hash/i.test(k), `member ${k}`);
            assert.ok(!r.text.includes(USER_PASSWORD) && !r.text.includes('argon2'), r.text);
            Object.assign(U, u);

            const g = await call('GET', `${usersPath(A)}/${u.userId}`, A.token);
            assert.deepEqual(ok(g), u);
            assert.ok(!g.text.includes('argon2'));

            const editor = ok(await call('POST', usersPath(A), A.token, {
                email: 'lib@alpha.test', displayName: 'Libby', password: USER_PASSWORD,
                tenantRoles: ['TENANT_VIEWER'], capabilities: ['EDIT_SHARED_LIBRARY'],
            }), 201);
            assert.deepEqual(editor.tenantRoles, ['TENANT_VIEWER']);
            assert.deepEqual(editor.capabilities, ['EDIT_SHARED_LIBRARY']);
        });

        it('lists users in pages with ?q= on email and display name; no hashes', async () => {
            const all = await walk(usersPath(A), A.token, 1);
            const emails = all.map((u) => u.email.toLowerCase());
            assert.deepEqual(emails, [...emails].sort(), 'ordered by email');
            assert.deepEqual(new Set(emails), new Set(['admin@alpha.test', 'viewer@alpha.test', 'lib@alpha.test']));
            const admin = all.find((u) => u.userId === A.userId);
            assert.deepEqual(admin.tenantRoles, ['TENANT_ADMIN']);
            assert.deepEqual(all.find((u) => u.email === 'lib@alpha.test').capabilities, ['EDIT_SHARED_LIBRARY']);
            assert.ok(!JSON.stringify(all).includes('argon2'));
            let q = ok(await call('GET', `${usersPath(A)}?q=VAL`, A.token));
            assert.deepEqual(q.items.map((u) => u.userId), [U.userId], 'q on displayName');
            q = ok(await call('GET', `${usersPath(A)}?q=lib%40`, A.token));
            assert.deepEqual(q.items.map((u) => u.email), ['lib@alpha.test'], 'q on email');
            const b = await walk(usersPath(B), B.token, 50);
            assert.deepEqual(b.map((u) => u.email), ['admin@bravo.test']);
        });

        it('refuses a taken email in any case (409), a short password and bad roles (400)', async () => {
            let r = await call('POST', usersPath(A), A.token, { email: 'VIEWER@alpha.TEST', displayName: 'Dup', password: USER_PASSWORD });
            const p = assertProblem(r.res, r.text, { status: 409, code: 'EMAIL_TAKEN' });
            assert.equal(p.errors[0].field, 'email');
            // the same email in another tenant is another account
            r = await call('POST', usersPath(B), B.token, { email: 'viewer@alpha.test', displayName: 'Other', password: USER_PASSWORD });
            const other = ok(r, 201);
            r = await call('POST', usersPath(A), A.token, { email: 'short@alpha.test', displayName: 'S', password: 'too short' });
            const w = assertProblem(r.res, r.text, { status: 400, code: 'INVALID_FIELD' });
            assert.equal(w.errors[0].field, 'password');
            assert.ok(!r.text.includes('too short'), 'the password is echoed');
            for (const [body, code, field] of [
                [{ email: 'not-an-email', displayName: 'N', password: USER_PASSWORD }, 'INVALID_FIELD', 'email'],
                [{ email: 'x@alpha.test', displayName: 'N', password: USER_PASSWORD, tenantRoles: ['ROOT'] }, 'INVALID_FIELD', 'tenantRoles'],
                [{ email: 'x@alpha.test', displayName: 'N', password: USER_PASSWORD, tenantRoles: 'TENANT_ADMIN' }, 'INVALID_FIELD', 'tenantRoles'],
                [{ email: 'x@alpha.test', displayName: 'N', password: USER_PASSWORD, capabilities: ['EDIT_SHARED_LIBRARY', 'EDIT_SHARED_LIBRARY'] }, 'INVALID_FIELD', 'capabilities'],
                [{ email: 'x@alpha.test', displayName: 'N', password: USER_PASSWORD, passwordHash: '$argon2id$' }, 'UNKNOWN_FIELD', 'passwordHash'],
                [{ email: 'x@alpha.test', password: USER_PASSWORD }, 'FIELD_REQUIRED', 'displayName'],
            ]) {
                r = await call('POST', usersPath(A), A.token, body);
                const q = assertProblem(r.res, r.text, { status: 400, code });
                assert.equal(q.errors[0].field, field);
            }
            // B's user is not A's
            r = await call('GET', `${usersPath(A)}/${other.userId}`, A.token);
            assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            r = await call('GET', `${usersPath(B)}/${U.userId}`, A.token);
            assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            r = await call('GET', `${usersPath(A)}/not-a-uuid`, A.token);
            assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
        });

        it('a user without TENANT_ADMIN gets 403 on every tenant-admin endpoint', async () => {
            // B has a viewer@alpha.test with the same password too: name the tenant
            const s = await login('viewer@alpha.test', USER_PASSWORD, { tenantId: A.tenantId });
            U.token = s.accessToken;
            U.refresh = s.refreshToken;
            const lib = await login('lib@alpha.test', USER_PASSWORD); // TENANT_VIEWER is not enough
            const venue = (await walk(venuesPath(A), A.token, 200))[0];
            for (const token of [U.token, lib.accessToken]) {
                for (const [method, path, body] of [
                    ['GET', venuesPath(A)],
                    ['POST', venuesPath(A), { name: 'Nope', timezone: 'UTC' }],
                    ['GET', usersPath(A)],
                    ['POST', usersPath(A), { email: 'n@alpha.test', displayName: 'N', password: USER_PASSWORD }],
                    ['GET', `${usersPath(A)}/${U.userId}`],
                    ['PUT', `${usersPath(A)}/${U.userId}/venue-roles`, { venueRoles: [] }],
                    ['GET', '/v1/audit'],
                ]) {
                    const r = await call(method, path, token, body);
                    assertProblem(r.res, r.text, { status: 403, code: 'FORBIDDEN' });
                }
            }
            // the tenant viewer sees every venue, so a venue route is 403 for it
            const r = await call('GET', `${venuesPath(A)}/${venue.venueId}`, lib.accessToken);
            assertProblem(r.res, r.text, { status: 403, code: 'FORBIDDEN' });
        });

        it('PUT venue-roles replaces the roles; the next token and /v1/me/venues show them', async () => {
            const venues = await walk(venuesPath(A), A.token, 200);
            const [v1, v2] = venues;
            const path = `${usersPath(A)}/${U.userId}/venue-roles`;
            let u = ok(await call('PUT', path, A.token, { venueRoles: [
                { venueId: v2.venueId, role: 'VENUE_EDITOR' }, { venueId: v1.venueId, role: 'VENUE_MANAGER' },
            ] }));
            assert.equal(u.venueRoles.length, 2);
            // replaced, not merged
            u = ok(await call('PUT', path, A.token, { venueRoles: [{ venueId: v1.venueId, role: 'VENUE_VIEWER' }] }));
            assert.deepEqual(u.venueRoles, [{ venueId: v1.venueId, role: 'VENUE_VIEWER' }]);
            assert.ok(!JSON.stringify(u).includes('argon2'));
            assert.deepEqual(ok(await call('GET', `${usersPath(A)}/${U.userId}`, A.token)).venueRoles, u.venueRoles);

            // the old access token does not carry the role; a refreshed one does
            const claims = (t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url'));
            assert.deepEqual(claims(U.token).v_roles, []);
            const fresh = ok(await call('POST', '/v1/auth/refresh', null, { refreshToken: U.refresh }));
            U.token = fresh.accessToken;
            U.refresh = fresh.refreshToken;
            assert.deepEqual(claims(U.token).v_roles, [{ vid: v1.venueId, role: 'VENUE_VIEWER' }]);
            const me = ok(await call('GET', '/v1/me', U.token));
            assert.deepEqual(me.venueRoles, [{ venueId: v1.venueId, role: 'VENUE_VIEWER' }]);
            const mine = ok(await call('GET', '/v1/me/venues', U.token));
            assert.deepEqual(mine.items.map((v) => v.venueId), [v1.venueId]);
            assert.equal(mine.items[0].access, 'VENUE_VIEWER');
        });

        it('PUT venue-roles: 400 for duplicates and bad entries, 422 for venues of another tenant, 404 for unknown users', async () => {
            const [v1, v2] = await walk(venuesPath(A), A.token, 200);
            const bv = (await walk(venuesPath(B), B.token, 200))[0];
            const path = `${usersPath(A)}/${U.userId}/venue-roles`;
            const before = ok(await call('GET', `${usersPath(A)}/${U.userId}`, A.token)).venueRoles;

            let r = await call('PUT', path, A.token, { venueRoles: [
                { venueId: v1.venueId, role: 'VENUE_VIEWER' }, { venueId: v1.venueId, role: 'VENUE_EDITOR' },
            ] });
            let p = assertProblem(r.res, r.text, { status: 400, code: 'INVALID_FIELD' });
            assert.deepEqual(p.errors.map((e) => e.field), ['venueRoles[1].venueId']);
            for (const body of [
                { venueRoles: [{ venueId: v1.venueId, role: 'OWNER' }] },
                { venueRoles: [{ venueId: v1.venueId }] },
                { venueRoles: [{ venueId: v1.venueId, role: 'VENUE_VIEWER', extra: 1 }] },
                { venueRoles: [{ venueId: 7, role: 'VENUE_VIEWER' }] },
                { venueRoles: 'all' },
                { venueRoles: [], more: true },
                {},
            ]) {
                r = await call('PUT', path, A.token, body);
                assert.equal(r.res.status, 400, `${JSON.stringify(body)}: ${r.text}`);
            }

            r = await call('PUT', path, A.token, { venueRoles: [
                { venueId: v2.venueId, role: 'VENUE_VIEWER' },
                { venueId: bv.venueId, role: 'VENUE_MANAGER' },
                { venueId: '00000000-0000-4000-8000-000000000000', role: 'VENUE_VIEWER' },
            ] });
            p = assertProblem(r.res, r.text, { status: 422, code: 'INVALID_REFERENCE' });
            assert.deepEqual(p.errors.map((e) => e.field).sort(), ['venueRoles[1].venueId', 'venueRoles[2].venueId']);
            assert.ok(p.errors.some((e) => e.venueId === bv.venueId));

            // nothing of the refused requests stuck
            assert.deepEqual(ok(await call('GET', `${usersPath(A)}/${U.userId}`, A.token)).venueRoles, before);

            r = await call('PUT', `${usersPath(A)}/00000000-0000-4000-8000-000000000000/venue-roles`, A.token, { venueRoles: [] });
            assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            r = await call('PUT', `${usersPath(A)}/${B.userId}/venue-roles`, A.token, { venueRoles: [] });
            assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            r = await call('PUT', `${usersPath(B)}/${B.userId}/venue-roles`, A.token, { venueRoles: [] });
            assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
        });
    });

    describe('GET /v1/audit', () => {
        it("shows the tenant's own actions, newest first, and nothing of another tenant", async () => {
            const a = await walk('/v1/audit', A.token, 200);
            const actions = new Set(a.map((e) => e.action));
            for (const want of ['auth.login', 'venue.created', 'venue.updated', 'user.created', 'user.venue_roles_changed'])
                assert.ok(actions.has(want), `${want} missing from ${[...actions]}`);
            for (let i = 1; i < a.length; i++) assert.ok(a[i - 1].createdAtUtc >= a[i].createdAtUtc, 'newest first');
            const e = a.find((x) => x.action === 'user.venue_roles_changed');
            for (const k of ['auditLogId', 'actorType', 'actorId', 'action', 'outcome', 'resourceType', 'resourceId',
                'venueId', 'requestId', 'ip', 'details', 'createdAtUtc'])
                assert.ok(k in e, `entry lacks ${k}`);
            assert.equal(e.actorType, 'USER');
            assert.equal(e.actorId, A.userId);
            assert.equal(e.resourceType, 'user');
            assert.equal(e.ip, '127.0.0.1');
            assert.ok(Array.isArray(e.details.before) && Array.isArray(e.details.after), JSON.stringify(e.details));
            const created = a.find((x) => x.action === 'venue.created');
            assert.equal(created.venueId, created.resourceId);

            const b = await walk('/v1/audit', B.token, 200);
            const aIds = new Set(a.map((x) => x.auditLogId));
            assert.ok(b.length > 0);
            assert.ok(!b.some((x) => aIds.has(x.auditLogId)), "B sees A's entries");
            assert.ok(!b.some((x) => x.actorId === A.userId), "B sees A's admin");
            const text = JSON.stringify(a) + JSON.stringify(b);
            for (const pw of [PASSWORD_A, PASSWORD_B, USER_PASSWORD]) assert.ok(!text.includes(pw), 'a password in the audit log');
            assert.ok(!text.includes('argon2'), 'a password hash in the audit log');
        });

        it('filters by action, actor, resource type and time; pages; refuses bad values', async () => {
            const byAction = await walk('/v1/audit?action=venue.created', A.token, 2);
            assert.ok(byAction.length >= 5);
            assert.ok(byAction.every((e) => e.action === 'venue.created'));
            assert.equal(new Set(byAction.map((e) => e.auditLogId)).size, byAction.length, 'an entry on two pages');
            const all = await walk('/v1/audit', A.token, 200);
            assert.equal(byAction.length, all.filter((e) => e.action === 'venue.created').length);

            const byActor = ok(await call('GET', `/v1/audit?actorId=${A.userId}&resourceType=user&limit=200`, A.token));
            assert.ok(byActor.items.length >= 2);
            assert.ok(byActor.items.every((e) => e.actorId === A.userId && e.resourceType === 'user'));

            const mid = all[Math.floor(all.length / 2)].createdAtUtc;
            const since = ok(await call('GET', `/v1/audit?since=${mid}&limit=200`, A.token)).items;
            const until = ok(await call('GET', `/v1/audit?until=${mid}&limit=200`, A.token)).items;
            assert.ok(since.length > 0 && until.length > 0);
            assert.ok(since.every((e) => e.createdAtUtc >= mid));
            assert.ok(until.every((e) => e.createdAtUtc < mid));
            assert.equal(since.length + until.length, all.length);
            const future = ok(await call('GET', '/v1/audit?since=2999-01-01T00:00:00Z', A.token));
            assert.deepEqual(future.items, []);

            for (const q of ['since=yesterday', 'until=2026-13-01T00:00:00Z', 'since=2026-01-01', 'action=', 'limit=0', 'cursor=x']) {
                const r = await call('GET', `/v1/audit?${q}`, A.token);
                assert.equal(r.res.status, 400, `${q}: ${r.text}`);
            }
            // B filtering by A's actor id finds nothing
            const cross = ok(await call('GET', `/v1/audit?actorId=${A.userId}`, B.token));
            assert.deepEqual(cross.items, []);
        });
    });
});
