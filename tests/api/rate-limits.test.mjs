// SPDX-License-Identifier: MIT
//
// rate-limits.test.mjs — spec §27.1: the X-RateLimit-Limit/Remaining/Reset headers, 429 with
// Retry-After and retryAfterSeconds, per IP and per account for login, per user for refresh,
// and recovery after the window. The server runs with windows of a few seconds (the classes
// are tuneable, as §27.1 requires) so that recovery can be waited for.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { BACKEND, assertProblem, get, runMarqueed, startServer } from './lib/server.mjs';

const PASSWORD = 'correct horse battery staple';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe(`rate limits (${BACKEND})`, () => {
    let srv;
    const login = (email, password = 'wrong password here') =>
        get(`${srv.url}/v1/auth/login`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ email, password }),
        });

    before(async () => {
        srv = await startServer({
            args: ['--rate-limits', 'login_ip=4/4,login_account=2/4,refresh_user=2/4'],
        });
        const made = await runMarqueed(['create-tenant', '--name', 'Limits', '--admin-email', 'admin@limits.test',
            '--admin-password', PASSWORD, ...srv.store.args]);
        assert.equal(made.code, 0, made.stderr);
    });
    after(async () => {
        await srv?.stop();
    });

    it('login per account: headers count down, then 429 with Retry-After and retryAfterSeconds', async () => {
        const a = await login('someone@limits.test');
        assert.equal(a.res.status, 401);
        assert.equal(a.res.headers.get('x-ratelimit-limit'), '2'); // the tighter, per-account class answers last
        assert.equal(a.res.headers.get('x-ratelimit-remaining'), '1');
        const reset = Number(a.res.headers.get('x-ratelimit-reset'));
        const now = Math.floor(Date.now() / 1000);
        assert.ok(reset >= now && reset <= now + 5, `reset ${reset} vs now ${now}`);
        const b = await login('someone@limits.test');
        assert.equal(b.res.headers.get('x-ratelimit-remaining'), '0');
        const c = await login('someone@limits.test');
        const p = assertProblem(c.res, c.text, { status: 429, code: 'RATE_LIMITED' });
        const retry = Number(c.res.headers.get('retry-after'));
        assert.ok(retry >= 1 && retry <= 4, `Retry-After ${retry}`);
        assert.equal(p.retryAfterSeconds, retry);
        // a limited account does not limit another one (the IP still has room)
        const other = await login('other@limits.test');
        assert.equal(other.res.status, 401);
        // and after Retry-After the account may try again
        await sleep(retry * 1000 + 100);
        const again = await login('someone@limits.test');
        assert.equal(again.res.status, 401, again.text);
    });

    it('login per IP: every account from one address counts', async () => {
        await sleep(4100); // a fresh window for this address
        const answers = [];
        for (let i = 0; i < 6; i++) answers.push((await login(`ip${i}@limits.test`)).res.status);
        assert.deepEqual(answers.slice(0, 4), [401, 401, 401, 401]);
        assert.deepEqual(answers.slice(4), [429, 429]);
        await sleep(4100);
        assert.equal((await login('ipdone@limits.test')).res.status, 401, 'no recovery after the window');
    });

    it('refresh per user', async () => {
        await sleep(4100);
        const ok = await login('admin@limits.test', PASSWORD);
        assert.equal(ok.res.status, 200, ok.text);
        let token = JSON.parse(ok.text).refreshToken;
        const statuses = [];
        for (let i = 0; i < 3; i++) {
            const r = await get(`${srv.url}/v1/auth/refresh`, {
                method: 'POST',
                headers: { 'Content-Type': 'application/json' },
                body: JSON.stringify({ refreshToken: token }),
            });
            statuses.push(r.res.status);
            if (r.res.status === 200) token = JSON.parse(r.text).refreshToken;
            else assertProblem(r.res, r.text, { status: 429, code: 'RATE_LIMITED' });
        }
        assert.deepEqual(statuses, [200, 200, 429]);
    });

    it('a bad rate_limits setting stops the server with a clear message', async () => {
        const r = await runMarqueed(['migrate', '--rate-limits', 'nope=1/1', ...srv.store.args]);
        assert.equal(r.code, 0, 'migrate does not read rate limits'); // only serve loads them
        const bad = await startServer({ args: ['--rate-limits', 'login_ip=0/60'] }).catch((e) => e);
        assert.ok(bad instanceof Error, 'a server with login_ip=0/60 started');
    });
});

describe(`rate-limit headers on every answer (${BACKEND})`, () => {
    let srv;
    before(async () => {
        srv = await startServer({ args: ['--test-routes'] });
    });
    after(async () => {
        await srv?.stop();
    });

    it('a route without a class of its own carries the default class headers', async () => {
        const a = await get(`${srv.url}/v1/_test/items`);
        assert.equal(a.res.status, 200);
        assert.equal(a.res.headers.get('x-ratelimit-limit'), '600');
        const before = Number(a.res.headers.get('x-ratelimit-remaining'));
        const b = await get(`${srv.url}/v1/_test/items`);
        assert.equal(Number(b.res.headers.get('x-ratelimit-remaining')), before - 1);
        assert.ok(Number(b.res.headers.get('x-ratelimit-reset')) >= Math.floor(Date.now() / 1000));
        // an unauthenticated call to a user route is refused before it is counted
        const me = await get(`${srv.url}/v1/me`);
        assert.equal(me.res.status, 401);
    });

    it('operator probes are never throttled and carry no rate-limit headers', async () => {
        for (const p of ['/healthz', '/readyz', '/metrics']) {
            const r = await get(`${srv.url}${p}`);
            assert.equal(r.res.status, 200, p);
            assert.equal(r.res.headers.get('x-ratelimit-limit'), null, p);
        }
    });
});
