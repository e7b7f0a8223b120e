// SPDX-License-Identifier: MIT
//
// authz-matrix.test.mjs — the authorization matrix of issue 3, generated from the route table
// (`marqueed routes`): every route is called as every actor, and the status must be the one
// spec §25.5/§25.6/§25.10 require — 401 for no, malformed, expired, forged (another key, alg
// none) or wrong-kind tokens; 404 for another tenant's resources and venues the caller cannot
// see; 403 for a visible resource and too low a role; and neither where the role suffices.
// A route added by a later issue is covered the moment it is registered; a route without a
// declared audience makes marqueed refuse to start, which fails this suite.
import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { BACKEND, get, runMarqueed, startServer } from './lib/server.mjs';

const SECRET = randomBytes(32);
const KEY = `km:${SECRET.toString('base64url')}`;
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const sign = (header, claims, key = SECRET) => {
    const head = `${b64(header)}.${b64(claims)}`;
    return `${head}.${createHmac('sha256', key).update(head).digest('base64url')}`;
};

// the route requirement values of src/server/auth/auth.h (enum auth_requirement)
const REQ = { ANY: 0, TENANT_VIEWER: 1, TENANT_ADMIN: 2, VENUE_VIEWER: 3, VENUE_EDITOR: 4, VENUE_MANAGER: 5 };
const VROLE = { VENUE_VIEWER: 1, VENUE_EDITOR: 2, VENUE_MANAGER: 3 };
const GUARD_REFUSALS = new Set(['UNAUTHORIZED', 'INVALID_TOKEN', 'DEVICE_TOKEN_REQUIRED', 'FORBIDDEN']);

describe(`authorization matrix from the route table (${BACKEND})`, () => {
    let srv;
    let routes;
    let tenantId;
    let venueId;

    before(async () => {
        const listed = await runMarqueed(['routes', '--test-routes']);
        assert.equal(listed.code, 0, listed.stderr);
        routes = JSON.parse(listed.stdout);
        srv = await startServer({
            args: ['--demo', '--test-routes', '--jwt-keys', KEY, '--rate-limits',
                'login_ip=100000/60,login_account=100000/60,refresh_user=100000/60,mutation=100000/60,' +
                'publish=100000/60,upload=100000/60,manifest=100000/60,heartbeat=100000/60,events=100000/60,' +
                'commands=100000/60'],
        });
        const demo = await readFile(path.join(srv.dataDir, 'demo-login.txt'), 'utf8');
        tenantId = /^tenant:.*\(([0-9a-f-]{36})\)$/m.exec(demo)[1];
        venueId = /^venue:.*\(([0-9a-f-]{36})\)$/m.exec(demo)[1];
    });
    after(async () => {
        await srv?.stop();
    });

    it('every route declares an audience marqueed knows', () => {
        assert.ok(routes.length > 0);
        for (const r of routes) assert.ok(['public', 'user', 'device'].includes(r.audience), `${r.method} ${r.pattern}`);
    });

    it('every route answers every actor as the spec requires', async (t) => {
        const now = Math.floor(Date.now() / 1000);
        const user = (over = {}) => ({
            sub: randomUUID(), tid: tenantId, t_roles: [], v_roles: [], cap: [], iat: now, exp: now + 600,
            iss: 'marquee', aud: 'marquee-api', ...over,
        });
        const bearer = (claims, header = { alg: 'HS256', kid: 'km' }, key = SECRET) => `Bearer ${sign(header, claims, key)}`;
        // actors that must be refused with 401 on every non-public route
        const refused = [
            ['no token', null],
            ['malformed token', 'Bearer abc.def.ghi'],
            ['expired token', bearer(user({ t_roles: ['TENANT_ADMIN'], exp: now - 5 }))],
            ['token signed with another key', bearer(user({ t_roles: ['TENANT_ADMIN'] }), undefined, randomBytes(32))],
            ['alg none', `Bearer ${b64({ alg: 'none', kid: 'km' })}.${b64(user({ t_roles: ['TENANT_ADMIN'] }))}.`],
            ['a device token (spec 25.3 claims)', bearer({ typ: 'device', did: randomUUID(), vid: randomUUID(), tid: tenantId, exp: now + 600 })],
        ];
        // user actors: [name, claims, tenant roles bits, role on the demo venue]
        const actors = [
            ['TENANT_ADMIN', user({ t_roles: ['TENANT_ADMIN'] })],
            ['TENANT_VIEWER', user({ t_roles: ['TENANT_VIEWER'] })],
            ['VENUE_MANAGER', user({ v_roles: [{ vid: null, role: 'VENUE_MANAGER' }] })],
            ['VENUE_EDITOR', user({ v_roles: [{ vid: null, role: 'VENUE_EDITOR' }] })],
            ['VENUE_VIEWER', user({ v_roles: [{ vid: null, role: 'VENUE_VIEWER' }] })],
            ['no role', user()],
            ['another tenant\'s admin', user({ tid: randomUUID(), t_roles: ['TENANT_ADMIN'] })],
        ];
        for (const [, c] of actors) for (const v of c.v_roles) v.vid = venueId;

        const expected = (route, name, claims) => {
            const params = [...route.pattern.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
            const scoped = params.includes('tenantId') || params.includes('venueId');
            if (route.audience === 'device') return 401; // user tokens never reach player routes
            if (claims.tid !== tenantId) return scoped ? 404 : 'allowed';
            const admin = claims.t_roles.includes('TENANT_ADMIN');
            const viewer = claims.t_roles.includes('TENANT_VIEWER');
            let venueRole = claims.v_roles.find((v) => v.vid === venueId);
            venueRole = venueRole ? VROLE[venueRole.role] : 0;
            const effective = admin ? 3 : venueRole || (viewer ? 1 : 0);
            if (params.includes('venueId') && effective === 0) return 404;
            let ok;
            switch (route.minRole) {
            case REQ.ANY: ok = true; break;
            case REQ.TENANT_VIEWER: ok = admin || viewer; break;
            case REQ.TENANT_ADMIN: ok = admin; break;
            default: ok = effective >= route.minRole - REQ.VENUE_VIEWER + 1;
            }
            if (ok && route.capability && !admin && !claims.cap.length) ok = false;
            return ok ? 'allowed' : 403;
        };

        let cases = 0;
        for (const route of routes) {
            const url = srv.url + route.pattern.replace(/\{(\w+)\}/g, (_, p) =>
                p === 'tenantId' ? tenantId : p === 'venueId' ? venueId : randomUUID());
            const send = (authorization) => get(url, {
                method: route.method,
                headers: {
                    ...(authorization ? { Authorization: authorization } : {}),
                    ...(route.bodyJson || !['GET', 'DELETE'].includes(route.method) ? { 'Content-Type': 'application/json' } : {}),
                },
                body: ['GET', 'DELETE'].includes(route.method) ? undefined : '{}',
            });
            const what = `${route.method} ${route.pattern}`;
            if (route.audience === 'public' && route.signedUrl) {
                // the object store and media origin: a signed URL is the permission, a token
                // is neither needed nor enough
                for (const authorization of [null, bearer(actors[0][1])]) {
                    const { res, text } = await send(authorization);
                    cases++;
                    assert.equal(res.status, 403, `${what} (signed) unsigned: ${text}`);
                    assert.equal(JSON.parse(text).code, 'SIGNATURE_INVALID', `${what}: ${text}`);
                }
                continue;
            }
            if (route.audience === 'public') {
                const { res, text } = await send(null);
                cases++;
                assert.ok(res.status !== 401 && res.status !== 403, `${what} (public) as nobody: ${res.status} ${text}`);
                continue;
            }
            for (const [name, authorization] of refused) {
                const { res, text } = await send(authorization);
                cases++;
                assert.equal(res.status, 401, `${what} with ${name}: ${text}`);
                assert.match(res.headers.get('www-authenticate') || '', /^Bearer/, `${what} with ${name}`);
            }
            for (const [name, claims] of actors) {
                const want = expected(route, name, claims);
                const { res, text } = await send(bearer(claims));
                cases++;
                let code = null;
                try {
                    code = JSON.parse(text).code;
                } catch {
                    /* not a problem body */
                }
                if (want === 'allowed') {
                    assert.ok(!GUARD_REFUSALS.has(code) && !(res.status === 404 && code === 'NOT_FOUND' &&
                        /\{(tenantId|venueId)\}/.test(route.pattern) && !/\{(?!tenantId|venueId)\w+\}/.test(route.pattern)),
                    `${what} as ${name}: refused (${res.status} ${code})`);
                } else {
                    assert.equal(res.status, want, `${what} as ${name}: ${text}`);
                }
            }
        }
        t.diagnostic(`authorization matrix: ${routes.length} routes, ${cases} route x actor cases checked`);
        assert.ok(cases >= routes.length);
    });
});
