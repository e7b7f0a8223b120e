// SPDX-License-Identifier: MIT
//
// many-venues.test.mjs — spec §25.3 note: a user with roles on more venues than a token carries
// (50) gets a token without v_roles, and the server resolves the venue role per request. The
// authorization result must be the same either way: allowed where a role suffices, 403 where it
// is too low, 404 where there is none.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { BACKEND, get, runMarqueed, startServer } from './lib/server.mjs';

const PASSWORD = 'correct horse battery staple';
const JSON_HEADERS = { 'Content-Type': 'application/json' };

describe(`venue roles resolved server-side for users of many venues (${BACKEND})`, () => {
    let srv;
    let admin;
    const call = async (method, path, token, body) => {
        const r = await get(`${srv.url}${path}`, {
            method,
            headers: { ...JSON_HEADERS, Authorization: `Bearer ${token}` },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: r.res.status, body: r.text ? JSON.parse(r.text) : null };
    };
    const login = async (email) => {
        const r = await get(`${srv.url}/v1/auth/login`, {
            method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ email, password: PASSWORD }),
        });
        assert.equal(r.res.status, 200, r.text);
        return JSON.parse(r.text);
    };
    const claimsOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url'));

    before(async () => {
        srv = await startServer({
            args: ['--test-routes', '--rate-limits',
                'login_ip=10000/60,login_account=10000/60,mutation=10000/60,default_user=10000/60'],
        });
        const made = await runMarqueed(['create-tenant', '--name', 'Big Group', '--admin-email', 'admin@big.test',
            '--admin-password', PASSWORD, ...srv.store.args]);
        assert.equal(made.code, 0, made.stderr);
        admin = await login('admin@big.test');
    });
    after(async () => {
        await srv?.stop();
    });

    it('55 venues, roles on 52: the token carries none and says so; every decision is the same', async () => {
        const t = admin.user.tenantId;
        const venues = [];
        for (let i = 0; i < 55; i++) {
            const r = await call('POST', `/v1/tenants/${t}/venues`, admin.accessToken,
                { name: `Venue ${String(i).padStart(2, '0')}`, timezone: 'Europe/London' });
            assert.equal(r.status, 201, JSON.stringify(r.body));
            venues.push(r.body.venueId);
        }
        const u = await call('POST', `/v1/tenants/${t}/users`, admin.accessToken,
            { email: 'regional@big.test', displayName: 'Regional manager', password: PASSWORD });
        assert.equal(u.status, 201, JSON.stringify(u.body));
        // venues 0..49 VENUE_VIEWER, 50 VENUE_EDITOR, 51 VENUE_MANAGER, 52..54 nothing
        const roles = venues.slice(0, 52).map((venueId, i) => ({
            venueId, role: i === 51 ? 'VENUE_MANAGER' : i === 50 ? 'VENUE_EDITOR' : 'VENUE_VIEWER',
        }));
        const put = await call('PUT', `/v1/tenants/${t}/users/${u.body.userId}/venue-roles`, admin.accessToken,
            { venueRoles: roles });
        assert.equal(put.status, 200, JSON.stringify(put.body));

        const s = await login('regional@big.test');
        const claims = claimsOf(s.accessToken);
        assert.equal(claims.v_srv, true, 'the token should say its venue roles are resolved server-side');
        assert.deepEqual(claims.v_roles, []);
        // /v1/me still lists every role (not the token's empty list)
        const me = await call('GET', '/v1/me', s.accessToken);
        assert.equal(me.status, 200, JSON.stringify(me.body));
        assert.equal(me.body.venueRoles.length, 52);
        assert.equal(me.body.venueRolesTruncated, false);
        assert.deepEqual(me.body.venueRoles.filter((v) => v.role === 'VENUE_MANAGER').map((v) => v.venueId), [venues[51]]);
        const view = (i) => call('GET', `/v1/_test/venues/${venues[i]}/view`, s.accessToken);
        const manage = (i) => call('GET', `/v1/_test/venues/${venues[i]}/manage`, s.accessToken);
        assert.equal((await view(0)).status, 200);
        assert.equal((await view(49)).status, 200);
        assert.equal((await manage(0)).status, 403, 'a viewer cannot manage');
        assert.equal((await manage(50)).status, 403, 'an editor cannot manage');
        assert.equal((await manage(51)).status, 200, 'a manager can');
        assert.equal((await view(52)).status, 404, 'no role: hidden');
        assert.equal((await manage(54)).status, 404, 'no role: hidden');

        // the same user with few roles gets them in the token, and the same answers
        const fewer = roles.slice(48); // 48, 49 viewer, 50 editor, 51 manager
        assert.equal((await call('PUT', `/v1/tenants/${t}/users/${u.body.userId}/venue-roles`, admin.accessToken,
            { venueRoles: fewer })).status, 200);
        const s2 = await login('regional@big.test');
        const c2 = claimsOf(s2.accessToken);
        assert.equal(c2.v_srv, undefined);
        assert.equal(c2.v_roles.length, 4);
        const view2 = (i) => call('GET', `/v1/_test/venues/${venues[i]}/view`, s2.accessToken);
        const manage2 = (i) => call('GET', `/v1/_test/venues/${venues[i]}/manage`, s2.accessToken);
        assert.equal((await view2(49)).status, 200);
        assert.equal((await manage2(50)).status, 403);
        assert.equal((await manage2(51)).status, 200);
        assert.equal((await view2(0)).status, 404, 'role removed: hidden again');
    });
});
