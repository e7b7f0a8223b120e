// SPDX-License-Identifier: MIT
//
// presence.test.mjs — editor presence (spec §16, §26.12; docs/publishing.md "Presence"): two
// editors on one playlist see each other; a presence lapses 60 s after its last renewal (on
// marqueed's clock, moved by the test route); DELETE leaves; a venue's schedule set has its
// own; what the caller cannot see is 404, in another venue or another tenant.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { BACKEND, assertProblem, get, runMarqueed, startServer } from './lib/server.mjs';

const PASSWORD = 'presence suite passphrase 1';
const RATE_LIMITS = 'login_ip=10000/60,login_account=10000/60,refresh_user=10000/60,mutation=100000/60';

describe(`editor presence (${BACKEND})`, () => {
    let srv;
    const A = {};
    const B = {};

    const call = (method, p, token, body) => get(`${srv.url}${p}`, {
        method,
        headers: {
            ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
            ...(token ? { Authorization: `Bearer ${token}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const ok = (r, status = 200) => {
        assert.equal(r.res.status, status, `${r.res.url}: ${r.text}`);
        return r.text ? JSON.parse(r.text) : null;
    };
    const login = async (email) =>
        ok(await call('POST', '/v1/auth/login', null, { email, password: PASSWORD })).accessToken;
    const tenant = async (t, name, email) => {
        const made = await runMarqueed(['create-tenant', '--name', name, '--admin-email', email,
            '--admin-password', PASSWORD, '--timezone', 'Europe/London', ...srv.store.args]);
        assert.equal(made.code, 0, made.stderr);
        t.tenantId = /tenant ([0-9a-f-]{36}) created/.exec(made.stdout)[1];
        t.email = email;
        t.token = await login(email);
        t.v1 = ok(await call('POST', `/v1/tenants/${t.tenantId}/venues`, t.token, { name: 'V1', timezone: 'Europe/London' }), 201).venueId;
        t.v2 = ok(await call('POST', `/v1/tenants/${t.tenantId}/venues`, t.token, { name: 'V2', timezone: 'Europe/London' }), 201).venueId;
    };
    const editorOf = async (t, email, venueId) => {
        const u = ok(await call('POST', `/v1/tenants/${t.tenantId}/users`, t.token, {
            email, displayName: 'Editor One', password: PASSWORD, tenantRoles: [], capabilities: [],
        }), 201);
        ok(await call('PUT', `/v1/tenants/${t.tenantId}/users/${u.userId}/venue-roles`, t.token,
            { venueRoles: [{ venueId, role: 'VENUE_EDITOR' }] }));
        return { userId: u.userId, token: await login(email) };
    };
    const setClock = async (offsetMs) => ok(await call('POST', '/v1/_test/clock', null, { offsetMs }));

    before(async () => {
        srv = await startServer({ args: ['--test-routes', '--rate-limits', RATE_LIMITS] });
        await tenant(A, 'Presence A', 'admin@presence-a.test');
        await tenant(B, 'Presence B', 'admin@presence-b.test');
        A.editor = await editorOf(A, 'editor@presence-a.test', A.v1);
        A.lib = ok(await call('POST', '/v1/library/playlists', A.token, { name: 'Shared' }), 201).playlistId;
        A.own2 = ok(await call('POST', `/v1/venues/${A.v2}/playlists`, A.token, { name: 'V2 only' }), 201).playlistId;
        A.me = ok(await call('GET', '/v1/me', A.token)).userId;
    });
    after(async () => {
        await setClock(0).catch(() => {});
        await srv?.stop();
    });

    it('two editors on one playlist see each other, oldest first; DELETE leaves', async () => {
        const libPath = `/v1/library/playlists/${A.lib}/presence`;
        const viaVenue = `/v1/venues/${A.v1}/playlists/${A.lib}/presence`;
        const first = ok(await call('PUT', libPath, A.token));
        assert.equal(first.resourceType, 'PLAYLIST');
        assert.equal(first.resourceId, A.lib);
        assert.deepEqual(first.editors.map((e) => e.userId), [A.me]);
        const both = ok(await call('PUT', viaVenue, A.editor.token));
        assert.deepEqual(both.editors.map((e) => e.userId), [A.me, A.editor.userId]);
        const e = both.editors[1];
        assert.equal(e.displayName, 'Editor One');
        assert.ok(Date.parse(e.expiresAtUtc) - Date.parse(e.sinceUtc) >= 59000, JSON.stringify(e));
        // a renewal keeps "since" and moves the expiry
        const renewed = ok(await call('PUT', libPath, A.token)).editors[0];
        assert.equal(renewed.sinceUtc, first.editors[0].sinceUtc);
        assert.ok(renewed.expiresAtUtc >= first.editors[0].expiresAtUtc);
        assert.equal(ok(await call('GET', libPath, A.editor.token)).editors.length, 2);
        ok(await call('DELETE', libPath, A.token), 204);
        assert.deepEqual(ok(await call('GET', libPath, A.token)).editors.map((x) => x.userId), [A.editor.userId]);
        ok(await call('DELETE', viaVenue, A.editor.token), 204);
        assert.deepEqual(ok(await call('GET', libPath, A.token)).editors, []);
    });

    it('what the caller cannot see is 404: another venue\'s playlist, another tenant\'s; bad ids', async () => {
        // V1's editor: V2's playlist through V1's path, and V2's own path (no role there)
        const r1 = await call('GET', `/v1/venues/${A.v1}/playlists/${A.own2}/presence`, A.editor.token);
        assertProblem(r1.res, r1.text, { status: 404, code: 'NOT_FOUND' });
        const r2 = await call('PUT', `/v1/venues/${A.v2}/playlists/${A.own2}/presence`, A.editor.token);
        assert.equal(r2.res.status, 404, r2.text);
        // a venue playlist through the library path
        assert.equal((await call('GET', `/v1/library/playlists/${A.own2}/presence`, A.token)).res.status, 404);
        // tenant B sees nothing of A's
        for (const p of [`/v1/library/playlists/${A.lib}/presence`, `/v1/venues/${A.v1}/scheduleset/presence`]) {
            const r = await call('PUT', p, B.token);
            assert.equal(r.res.status, 404, `${p}: ${r.text}`);
        }
        assert.equal((await call('GET', '/v1/library/playlists/not-a-uuid/presence', A.token)).res.status, 404);
        assert.equal((await call('GET', `/v1/library/playlists/${A.lib}/presence`, null)).res.status, 401);
    });
    // last: moving marqueed's clock ahead and back leaves the rate-limit keys used meanwhile
    // blocked for a while (the limiter's documented clamp)
    it('a presence lapses 60 s after its last renewal (marqueed\'s clock)', async () => {
        const p = `/v1/venues/${A.v1}/scheduleset/presence`;
        const put = ok(await call('PUT', p, A.editor.token));
        assert.equal(put.resourceType, 'SCHEDULE_SET');
        assert.equal(put.resourceId, A.v1);
        try {
            await setClock(59 * 1000);
            assert.equal(ok(await call('GET', p, A.token)).editors.length, 1, 'still there at +59 s');
            await setClock(61 * 1000);
            assert.deepEqual(ok(await call('GET', p, A.token)).editors, [], 'gone at +61 s');
            // coming back later starts a new stay
            const again = ok(await call('PUT', p, A.editor.token)).editors[0];
            assert.ok(Date.parse(again.sinceUtc) >= Date.parse(put.editors[0].sinceUtc) + 60000, JSON.stringify(again));
        } finally {
            await setClock(0);
        }
    });
});
