// SPDX-License-Identifier: MIT
//
// logging.test.mjs — one JSON log line per request with the fields operators rely on, and no
// token or password ever reaches the log (STYLE rule 11), whatever the route answers.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { BACKEND, get, rawRequest, startServer } from './lib/server.mjs';

const SECRET_TOKEN = 'SECRET-TOKEN-123';
const SECRET_PASSWORD = 'hunter2-secret';

describe(`request logging (${BACKEND})`, () => {
    let srv;
    before(async () => {
        srv = await startServer();
    });
    after(async () => {
        await srv?.stop().catch(() => {});
    });

    it('every stderr line is a JSON object with time, level and event', () => {
        const lines = srv.logs();
        assert.ok(lines.length > 0);
        for (const l of lines) {
            assert.ok(!('raw' in l), `not a JSON line: ${l.raw}`);
            assert.equal(typeof l.time, 'string');
            assert.match(l.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
            assert.ok(['debug', 'info', 'warn', 'error'].includes(l.level), `level ${l.level}`);
            assert.equal(typeof l.event, 'string');
        }
    });

    it('logs one "request" line per request with id, method, route, status, duration, bytes', async () => {
        const { res, text } = await get(`${srv.url}/healthz`, { headers: { 'X-Request-Id': 'log-1' } });
        assert.equal(res.status, 200);
        const line = await srv.waitForLog((l) => l.event === 'request' && l.requestId === 'log-1');
        assert.equal(line.level, 'info');
        assert.equal(line.method, 'GET');
        assert.equal(line.route, '/healthz');
        assert.equal(line.status, 200);
        assert.equal(typeof line.durationMs, 'number');
        assert.ok(line.durationMs >= 0 && line.durationMs < 10000, `durationMs ${line.durationMs}`);
        assert.equal(line.bytes, Buffer.byteLength(text));
        // exactly one line for it
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(srv.logs().filter((l) => l.event === 'request' && l.requestId === 'log-1').length, 1);
    });

    it('the generated request id in the log is the one sent to the client', async () => {
        const { res } = await get(`${srv.url}/nope`);
        const id = res.headers.get('x-request-id');
        const line = await srv.waitForLog((l) => l.event === 'request' && l.requestId === id);
        assert.equal(line.status, 404);
        assert.equal(line.route, 'unmatched');
    });

    it('logs the route pattern for 405 and OPTIONS', async () => {
        await get(`${srv.url}/healthz`, { method: 'POST', headers: { 'X-Request-Id': 'log-405' } });
        await get(`${srv.url}/healthz`, { method: 'OPTIONS', headers: { 'X-Request-Id': 'log-opt' } });
        const a = await srv.waitForLog((l) => l.event === 'request' && l.requestId === 'log-405');
        const b = await srv.waitForLog((l) => l.event === 'request' && l.requestId === 'log-opt');
        assert.equal(a.status, 405);
        assert.equal(a.method, 'POST');
        assert.equal(b.status, 204);
        assert.equal(b.method, 'OPTIONS');
    });

    it(`never logs a bearer token or a password (${SECRET_TOKEN}, ${SECRET_PASSWORD})`, async () => {
        const headers = {
            Authorization: `Bearer ${SECRET_TOKEN}`,
            'Content-Type': 'application/json',
            Cookie: `session=${SECRET_TOKEN}`,
        };
        const body = JSON.stringify({ email: 'a@b.test', password: SECRET_PASSWORD });
        const ids = [];
        const send = async (method, p, withBody = true) => {
            const id = `secret-${ids.length}`;
            ids.push(id);
            const { res } = await get(`${srv.url}${p}`, {
                method,
                headers: { ...headers, 'X-Request-Id': id },
                body: withBody ? body : undefined,
            });
            assert.ok(res.status >= 200 && res.status < 500, `${method} ${p}: ${res.status}`);
        };
        await send('POST', '/nope');
        await send('POST', '/healthz');
        await send('PUT', '/v1/auth/login');
        await send('POST', '/v1/auth/login');
        await send('GET', '/healthz', false);
        await send('GET', `/nope?access_token=${SECRET_TOKEN}&password=${SECRET_PASSWORD}`, false);
        // a malformed body (cut short JSON) must not leak either
        const partial = `{"password":"${SECRET_PASSWORD}`;
        const raw = await rawRequest(
            srv.port,
            'POST /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Request-Id: secret-raw\r\n' +
                `Authorization: Bearer ${SECRET_TOKEN}\r\nContent-Type: application/json\r\n` +
                `Content-Length: ${partial.length}\r\n\r\n${partial}`,
            { timeoutMs: 5000 },
        );
        assert.ok(raw.response && raw.response.status === 404, `raw secret request: ${raw.data.toString('latin1')}`);
        ids.push('secret-raw');
        for (const id of ids) await srv.waitForLog((l) => l.event === 'request' && l.requestId === id);
        await new Promise((r) => setTimeout(r, 200));
        const all = srv.stderr() + srv.stdout();
        assert.ok(!all.includes(SECRET_TOKEN), `token in the log:\n${all}`);
        assert.ok(!all.includes(SECRET_PASSWORD), `password in the log:\n${all}`);
    });

    it('server exits cleanly and logs shutdown_started / shutdown_complete', async () => {
        await srv.stop();
        const events = srv.logs().map((l) => l.event);
        assert.ok(events.includes('shutdown_started'), events.join(','));
        assert.ok(events.includes('shutdown_complete'), events.join(','));
        const secrets = srv.stderr();
        assert.ok(!secrets.includes(SECRET_TOKEN) && !secrets.includes(SECRET_PASSWORD));
    });
});
