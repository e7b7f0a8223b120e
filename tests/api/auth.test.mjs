// SPDX-License-Identifier: MIT
//
// auth.test.mjs — login, refresh rotation and reuse detection, logout, /v1/me (spec §25,
// §27.3), and the router's authentication: tokens forged every way issue 3 names (alg none,
// another key, expired, wrong audience, tampered, garbage) against a server whose key the test
// knows, so it can sign its own tokens with node:crypto.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { BACKEND, assertProblem, get, runMarqueed, startServer } from './lib/server.mjs';

const SECRET = randomBytes(32);
const KID = 'k-test';
const KEYS = `${KID}:${SECRET.toString('base64url')}`;
const OTHER = randomBytes(32);
const PASSWORD = 'correct horse battery staple';

const b64 = (o) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
function sign(header, claims, key = SECRET) {
    const head = `${b64(header)}.${b64(claims)}`;
    return `${head}.${createHmac('sha256', key).update(head).digest('base64url')}`;
}
const JSON_HEADERS = { 'Content-Type': 'application/json' };

describe(`authentication and sessions (${BACKEND})`, () => {
    let srv;
    let tenant; // {tenantId, userId}
    let base;
    const post = (path, body, headers = {}) =>
        get(`${base}${path}`, { method: 'POST', headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) });
    const bearer = (t) => ({ headers: { Authorization: `Bearer ${t}` } });
    const login = async (extra = {}) => {
        const r = await post('/v1/auth/login', { email: 'Admin@Acme.test', password: PASSWORD, ...extra });
        assert.equal(r.res.status, 200, r.text);
        return JSON.parse(r.text);
    };

    before(async () => {
        // this suite logs in far more often than §27.1 allows a client: rate-limits.test.mjs
        // tests the limits themselves
        srv = await startServer({
            args: ['--test-routes', '--jwt-keys', KEYS, '--rate-limits',
                'login_ip=10000/60,login_account=10000/60,refresh_user=10000/60'],
        });
        base = srv.url;
        const made = await runMarqueed(['create-tenant', '--name', 'Acme Pubs', '--admin-email', 'admin@acme.test',
            '--admin-password', PASSWORD, ...srv.store.args]);
        assert.equal(made.code, 0, made.stderr);
        const m = /tenant ([0-9a-f-]{36}) created[\s\S]*admin user ([0-9a-f-]{36})/.exec(made.stdout);
        assert.ok(m, made.stdout);
        tenant = { tenantId: m[1], userId: m[2] };
    });
    after(async () => {
        await srv?.stop();
    });

    describe('login', () => {
        it('returns an access token, a refresh token and the user; email is case-insensitive', async () => {
            const body = await login();
            assert.equal(body.tokenType, 'Bearer');
            assert.equal(body.expiresIn, 900);
            assert.match(body.refreshToken, /^rt_[A-Za-z0-9_-]{43}$/);
            assert.deepEqual({ userId: body.user.userId, tenantId: body.user.tenantId }, tenant);
            const [h, p] = body.accessToken.split('.').slice(0, 2).map((x) => JSON.parse(Buffer.from(x, 'base64url')));
            assert.equal(h.alg, 'HS256');
            assert.equal(h.kid, KID);
            for (const c of ['sub', 'tid', 't_roles', 'v_roles', 'cap', 'exp', 'iss', 'aud']) assert.ok(c in p, c);
            assert.equal(p.sub, tenant.userId);
            assert.equal(p.tid, tenant.tenantId);
            assert.deepEqual(p.t_roles, ['TENANT_ADMIN']);
        });

        it('a wrong password or unknown email is 401 with the same answer', async () => {
            const a = await post('/v1/auth/login', { email: 'admin@acme.test', password: 'wrong password!!' });
            const b = await post('/v1/auth/login', { email: 'nobody@acme.test', password: 'wrong password!!' });
            const pa = assertProblem(a.res, a.text, { status: 401, code: 'INVALID_CREDENTIALS' });
            const pb = assertProblem(b.res, b.text, { status: 401, code: 'INVALID_CREDENTIALS' });
            assert.equal(pa.detail, pb.detail);
        });

        it('refuses bad bodies: unknown fields, wrong types, missing fields, not JSON', async () => {
            let r = await post('/v1/auth/login', { email: 'a@b.c', password: 'x', admin: true });
            const p = assertProblem(r.res, r.text, { status: 400, code: 'UNKNOWN_FIELD' });
            assert.equal(p.errors[0].field, 'admin');
            r = await post('/v1/auth/login', { email: 42, password: 'x' });
            assertProblem(r.res, r.text, { status: 400, code: 'INVALID_FIELD' });
            r = await post('/v1/auth/login', { email: 'a@b.c' });
            assertProblem(r.res, r.text, { status: 400, code: 'FIELD_REQUIRED' });
            r = await post('/v1/auth/login', ['not', 'an', 'object']);
            assertProblem(r.res, r.text, { status: 400, code: 'INVALID_BODY' });
            r = await get(`${base}/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{}' });
            assertProblem(r.res, r.text, { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
        });

        it('audits successful and failed logins with the client IP, never the password', async () => {
            await post('/v1/auth/login', { email: 'admin@acme.test', password: 'another wrong one' });
            await login();
            const logs = srv.logs().map((l) => JSON.stringify(l)).join('\n');
            assert.ok(!logs.includes(PASSWORD), 'password in the log');
            assert.ok(!logs.includes('another wrong one'), 'password attempt in the log');
        });
    });

    describe('refresh and logout', () => {
        it('rotates: the new refresh token works once, the old one no longer', async () => {
            const first = await login();
            const r1 = await post('/v1/auth/refresh', { refreshToken: first.refreshToken });
            assert.equal(r1.res.status, 200, r1.text);
            const second = JSON.parse(r1.text);
            assert.notEqual(second.refreshToken, first.refreshToken);
            assert.equal((await get(`${base}/v1/me`, bearer(second.accessToken))).res.status, 200);
            const r2 = await post('/v1/auth/refresh', { refreshToken: second.refreshToken });
            assert.equal(r2.res.status, 200, r2.text);
        });

        it('reuse of a rotated token revokes the whole family', async () => {
            const first = await login();
            const second = JSON.parse((await post('/v1/auth/refresh', { refreshToken: first.refreshToken })).text);
            const reuse = await post('/v1/auth/refresh', { refreshToken: first.refreshToken });
            assertProblem(reuse.res, reuse.text, { status: 401, code: 'INVALID_REFRESH_TOKEN' });
            // the legitimate newest token of that family is dead too
            const after2 = await post('/v1/auth/refresh', { refreshToken: second.refreshToken });
            assertProblem(after2.res, after2.text, { status: 401, code: 'INVALID_REFRESH_TOKEN' });
            // another session (family) of the same user is not affected
            const other = await login();
            assert.equal((await post('/v1/auth/refresh', { refreshToken: other.refreshToken })).res.status, 200);
            assert.ok(srv.logs().some((l) => l.event === 'refresh_token_reuse'));
        });

        it('logout revokes the session and answers 204 either way', async () => {
            const s = await login();
            let r = await post('/v1/auth/logout', { refreshToken: s.refreshToken });
            assert.equal(r.res.status, 204);
            r = await post('/v1/auth/refresh', { refreshToken: s.refreshToken });
            assert.equal(r.res.status, 401);
            r = await post('/v1/auth/logout', { refreshToken: 'rt_unknown' });
            assert.equal(r.res.status, 204);
        });

        it('an unknown, malformed or oversized refresh token is 400/401, never 500', async () => {
            for (const t of ['rt_nope', 'x', 'rt_' + 'A'.repeat(43)]) {
                const r = await post('/v1/auth/refresh', { refreshToken: t });
                assertProblem(r.res, r.text, { status: 401, code: 'INVALID_REFRESH_TOKEN' });
            }
            let r = await post('/v1/auth/refresh', { refreshToken: 'x'.repeat(200) });
            assertProblem(r.res, r.text, { status: 400, code: 'INVALID_FIELD' });
            r = await post('/v1/auth/refresh', { refreshToken: 'x'.repeat(5000) }); // body over 4 KiB
            assertProblem(r.res, r.text, { status: 413, code: 'PAYLOAD_TOO_LARGE' });
        });
    });

    describe('/v1/me and /v1/me/venues', () => {
        it('returns the profile and roles of the caller', async () => {
            const s = await login();
            const r = await get(`${base}/v1/me`, bearer(s.accessToken));
            assert.equal(r.res.status, 200);
            const me = JSON.parse(r.text);
            assert.equal(me.userId, tenant.userId);
            assert.equal(me.tenantId, tenant.tenantId);
            assert.equal(me.email, 'admin@acme.test');
            assert.deepEqual(me.tenantRoles, ['TENANT_ADMIN']);
        });

        it('lists accessible venues as a page', async () => {
            const s = await login();
            const r = await get(`${base}/v1/me/venues?limit=10`, bearer(s.accessToken));
            assert.equal(r.res.status, 200, r.text);
            const body = JSON.parse(r.text);
            assert.ok(Array.isArray(body.items));
            assert.ok('nextCursor' in body);
        });
    });

    describe('the router refuses every bad token with 401', () => {
        const now = () => Math.floor(Date.now() / 1000);
        const claims = (over = {}) => ({
            sub: tenant.userId, tid: tenant.tenantId, t_roles: ['TENANT_ADMIN'], v_roles: [], cap: [],
            iat: now(), exp: now() + 600, iss: 'marquee', aud: 'marquee-api', ...over,
        });
        const cases = () => [
            ['no token', null],
            ['not Bearer', 'Basic YTpi'],
            ['garbage', 'Bearer not.a.jwt'],
            ['a long garbage token', `Bearer ${'a'.repeat(7000)}`],
            ['alg none', `Bearer ${b64({ alg: 'none', kid: KID })}.${b64(claims())}.`],
            ['another key', `Bearer ${sign({ alg: 'HS256', kid: KID }, claims(), OTHER)}`],
            ['unknown kid', `Bearer ${sign({ alg: 'HS256', kid: 'other' }, claims())}`],
            ['HS512 header', `Bearer ${sign({ alg: 'HS512', kid: KID }, claims())}`],
            ['expired', `Bearer ${sign({ alg: 'HS256', kid: KID }, claims({ exp: now() - 1 }))}`],
            ['wrong audience', `Bearer ${sign({ alg: 'HS256', kid: KID }, claims({ aud: 'elsewhere' }))}`],
            ['wrong issuer', `Bearer ${sign({ alg: 'HS256', kid: KID }, claims({ iss: 'evil' }))}`],
            ['unknown role', `Bearer ${sign({ alg: 'HS256', kid: KID }, claims({ t_roles: ['SUPERUSER'] }))}`],
        ];

        it('a token the test signs with the server key is accepted (control)', async () => {
            const r = await get(`${base}/v1/me`, { headers: { Authorization: `Bearer ${sign({ alg: 'HS256', kid: KID }, claims())}` } });
            assert.equal(r.res.status, 200, r.text);
        });

        it('every forgery is 401 with WWW-Authenticate, on /v1/me', async () => {
            for (const [name, header] of cases()) {
                const headers = header ? { Authorization: header } : {};
                const r = await get(`${base}/v1/me`, { headers });
                const p = assertProblem(r.res, r.text, { status: 401, code: header ? 'INVALID_TOKEN' : 'UNAUTHORIZED' });
                assert.ok(p, name);
                assert.match(r.res.headers.get('www-authenticate') || '', /^Bearer/, name);
            }
        });

        it('an Authorization header past the header limit is 431, not parsed', async () => {
            const r = await get(`${base}/v1/me`, { headers: { Authorization: `Bearer ${'a'.repeat(9000)}` } });
            assertProblem(r.res, r.text, { status: 431, code: 'REQUEST_HEADER_TOO_LARGE' });
        });

        it('a user token on a player endpoint is 401', async () => {
            const s = await login();
            const r = await get(`${base}/v1/_test/player`, bearer(s.accessToken));
            assertProblem(r.res, r.text, { status: 401, code: 'DEVICE_TOKEN_REQUIRED' });
        });

        it('another tenant is hidden: 404, never 403', async () => {
            const s = await login();
            const own = await get(`${base}/v1/_test/tenants/${tenant.tenantId}/admin`, bearer(s.accessToken));
            assert.equal(own.res.status, 200, own.text);
            const other = await get(`${base}/v1/_test/tenants/00000000-0000-4000-8000-000000000000/admin`, bearer(s.accessToken));
            assertProblem(other.res, other.text, { status: 404, code: 'NOT_FOUND' });
            const venue = await get(`${base}/v1/_test/venues/00000000-0000-4000-8000-000000000000/view`, bearer(s.accessToken));
            assertProblem(venue.res, venue.text, { status: 404, code: 'NOT_FOUND' });
            const notUuid = await get(`${base}/v1/_test/venues/not-a-venue/manage`, bearer(s.accessToken));
            assertProblem(notUuid.res, notUuid.text, { status: 404, code: 'NOT_FOUND' });
        });

        it('no token or secret ever reaches the log', async () => {
            const s = await login();
            await get(`${base}/v1/me`, bearer(s.accessToken));
            const text = srv.logs().map((l) => JSON.stringify(l)).join('\n');
            assert.ok(!text.includes(s.accessToken.split('.')[2]), 'access token signature in the log');
            assert.ok(!text.includes(s.refreshToken), 'refresh token in the log');
            assert.ok(!text.includes(SECRET.toString('base64url')), 'signing key in the log');
        });
    });
});
