// SPDX-License-Identifier: MIT
//
// health.test.mjs — /healthz, /readyz, /metrics and the answers every route shares: request
// ids (spec §27.1 Correlation), problem+json errors (§22, §27.2), 404/405/OPTIONS/HEAD.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { BACKEND, UUID_RE, assertProblem, get, rawRequest, startServer } from './lib/server.mjs';

describe(`health endpoints and shared HTTP behaviour (${BACKEND})`, () => {
    let srv;
    before(async () => {
        srv = await startServer();
    });
    after(async () => {
        await srv?.stop().catch(() => {});
    });

    describe('GET /healthz', () => {
        it('answers 200 application/json {"status":"ok"}', async () => {
            const { res, text } = await get(`${srv.url}/healthz`);
            assert.equal(res.status, 200);
            assert.match(res.headers.get('content-type') || '', /^application\/json\b/);
            assert.deepEqual(JSON.parse(text), { status: 'ok' });
        });

        it('sends a generated UUID X-Request-Id when the client sent none', async () => {
            const a = await get(`${srv.url}/healthz`);
            const b = await get(`${srv.url}/healthz`);
            assert.match(a.res.headers.get('x-request-id') || '', UUID_RE);
            assert.match(b.res.headers.get('x-request-id') || '', UUID_RE);
            assert.notEqual(a.res.headers.get('x-request-id'), b.res.headers.get('x-request-id'));
        });

        it('echoes a sane incoming X-Request-Id', async () => {
            for (const id of ['abc-123_x.y', 'A', 'req:42', 'x'.repeat(128)]) {
                const { res } = await get(`${srv.url}/healthz`, { headers: { 'X-Request-Id': id } });
                assert.equal(res.status, 200);
                assert.equal(res.headers.get('x-request-id'), id, `echo of ${id.length}-char id`);
            }
        });

        it('replaces an insane X-Request-Id (too long, spaces, quotes) with a UUID', async () => {
            for (const id of ['x'.repeat(129), 'a'.repeat(4000), 'has space', 'quo"te', "it's", 'semi;colon', '<script>']) {
                const { res } = await get(`${srv.url}/healthz`, { headers: { 'X-Request-Id': id } });
                assert.equal(res.status, 200);
                const got = res.headers.get('x-request-id') || '';
                assert.notEqual(got, id);
                assert.match(got, UUID_RE, `replacement for ${JSON.stringify(id.slice(0, 20))}`);
            }
        });

        it('replaces an X-Request-Id with control characters (raw request)', async () => {
            const r = await rawRequest(
                srv.port,
                'GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: ab\x01cd\x7f\r\nConnection: close\r\n\r\n',
            );
            assert.ok(r.response, `no response: ${r.data.toString('latin1')}`);
            // the library may refuse the header line outright (400); if answered, never echoed
            assert.ok(r.response.status < 500, `status ${r.response.status}`);
            const got = r.response.headers['x-request-id'];
            if (r.response.status === 200) assert.match(got || '', UUID_RE);
            if (got !== undefined) assert.ok(!got.includes('\x01') && !got.includes('\x7f'));
        });
    });

    describe('errors are problem+json (§27.2)', () => {
        it('GET /nope → 404 with exactly the §27.2 members', async () => {
            const { res, text } = await get(`${srv.url}/nope`);
            const body = assertProblem(res, text, { status: 404, code: 'NOT_FOUND', instance: '/nope', exact: true });
            assert.match(body.requestId, UUID_RE);
        });

        it('the 404 carries the client request id', async () => {
            const { res, text } = await get(`${srv.url}/nope?x=1`, { headers: { 'X-Request-Id': 'nf-1' } });
            assert.equal(res.headers.get('x-request-id'), 'nf-1');
            const body = assertProblem(res, text, { status: 404, code: 'NOT_FOUND', exact: true });
            assert.equal(body.requestId, 'nf-1');
            assert.equal(body.instance, '/nope', 'instance is the path without the query');
        });

        it('deeper unknown paths are 404 too', async () => {
            for (const p of ['/v1', '/v1/nope/deeper', '/healthz/extra', '/HEALTHZ']) {
                const { res, text } = await get(`${srv.url}${p}`);
                assertProblem(res, text, { status: 404, code: 'NOT_FOUND', instance: p });
            }
        });

        it('POST /healthz → 405 problem with Allow: GET, HEAD, OPTIONS', async () => {
            const { res, text } = await get(`${srv.url}/healthz`, { method: 'POST' });
            assertProblem(res, text, { status: 405, code: 'METHOD_NOT_ALLOWED', instance: '/healthz' });
            const allow = (res.headers.get('allow') || '').split(',').map((s) => s.trim());
            for (const m of ['GET', 'HEAD', 'OPTIONS']) assert.ok(allow.includes(m), `Allow "${allow}" lacks ${m}`);
            assert.ok(!allow.includes('POST'), `Allow "${allow}" lists POST`);
        });

        it('DELETE and PUT /healthz → 405 as well', async () => {
            for (const method of ['DELETE', 'PUT']) {
                const { res, text } = await get(`${srv.url}/healthz`, { method });
                assertProblem(res, text, { status: 405, code: 'METHOD_NOT_ALLOWED' });
                assert.ok(res.headers.get('allow'), `${method}: no Allow`);
            }
        });
    });

    describe('OPTIONS and HEAD', () => {
        it('OPTIONS /healthz → 204 with Allow: GET, HEAD, OPTIONS', async () => {
            const { res, text } = await get(`${srv.url}/healthz`, { method: 'OPTIONS' });
            assert.equal(res.status, 204);
            assert.equal(text, '');
            const allow = (res.headers.get('allow') || '').split(',').map((s) => s.trim());
            for (const m of ['GET', 'HEAD', 'OPTIONS']) assert.ok(allow.includes(m), `Allow "${allow}" lacks ${m}`);
            assert.match(res.headers.get('x-request-id') || '', UUID_RE);
        });

        it('OPTIONS /nope → 404 problem', async () => {
            const { res, text } = await get(`${srv.url}/nope`, { method: 'OPTIONS' });
            assertProblem(res, text, { status: 404, code: 'NOT_FOUND', instance: '/nope' });
        });

        it('HEAD /healthz → 200, no body, the Content-Length of the GET', async () => {
            const g = await get(`${srv.url}/healthz`);
            const getLen = g.res.headers.get('content-length');
            assert.equal(Number(getLen), Buffer.byteLength(g.text), 'GET Content-Length');
            // raw: fetch would hide a body sent in violation of HEAD
            const r = await rawRequest(srv.port, 'HEAD /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n', {
                head: true,
                untilResponse: false,
            });
            assert.ok(r.response, `no response to HEAD: ${r.data.toString('latin1')}`);
            assert.equal(r.response.status, 200);
            assert.equal(r.response.headers['content-length'], getLen);
            assert.equal(r.response.extra.length, 0, `HEAD answer has a body: ${r.response.extra.toString('latin1')}`);
            assert.match(r.response.headers['x-request-id'] || '', UUID_RE);
        });
    });

    describe('GET /readyz', () => {
        it('answers 200 {"status":"ready","schemaVersion":N} on a migrated store', async () => {
            const { res, text } = await get(`${srv.url}/readyz`);
            assert.equal(res.status, 200, text);
            assert.match(res.headers.get('content-type') || '', /^application\/json\b/);
            const body = JSON.parse(text);
            assert.deepEqual(Object.keys(body).sort(), ['schemaVersion', 'status']);
            assert.equal(body.status, 'ready');
            assert.ok(Number.isInteger(body.schemaVersion) && body.schemaVersion >= 1, text);
        });

        it('schemaVersion matches the store_ready log line', async () => {
            const ready = srv.logs().find((l) => l.event === 'store_ready');
            assert.ok(ready, 'no store_ready log line');
            assert.equal(ready.backend, BACKEND === 'pg' ? 'postgresql' : BACKEND);
            const { text } = await get(`${srv.url}/readyz`);
            assert.equal(JSON.parse(text).schemaVersion, ready.schemaVersion);
        });
    });

    describe('GET /metrics', () => {
        it('is Prometheus text with request counters, histogram, in-flight and pool gauges', async () => {
            await get(`${srv.url}/healthz`, { headers: { 'X-Request-Id': 'metrics-ok' } });
            await get(`${srv.url}/nope`, { headers: { 'X-Request-Id': 'metrics-nope' } });
            // the counters are updated when a request completes, just after the reply is sent
            await srv.waitForLog((l) => l.event === 'request' && l.requestId === 'metrics-ok');
            await srv.waitForLog((l) => l.event === 'request' && l.requestId === 'metrics-nope');
            const { res, text } = await get(`${srv.url}/metrics`);
            assert.equal(res.status, 200);
            assert.match(res.headers.get('content-type') || '', /^text\/plain; version=0\.0\.4/);
            const healthz = /^marquee_http_requests_total\{method="GET",route="\/healthz",status="200"\} (\d+)$/m.exec(text);
            assert.ok(healthz, `no healthz 200 counter in:\n${text}`);
            assert.ok(Number(healthz[1]) >= 1);
            assert.match(text, /^marquee_http_request_duration_seconds_bucket\{[^}]*le="\+Inf"[^}]*\} \d+$/m);
            assert.match(text, /^marquee_http_request_duration_seconds_bucket\{[^}]*route="\/healthz",status_class="2xx"/m);
            // latency by route and status (class): the 404 has its own histogram
            assert.match(text, /^marquee_http_request_duration_seconds_count\{method="GET",route="unmatched",status_class="4xx"\} [1-9]\d*$/m);
            assert.match(text, /^marquee_http_in_flight_requests \d+$/m);
            assert.match(text, /^marquee_store_pool_size \d+$/m);
            const unmatched = /^marquee_http_requests_total\{method="GET",route="unmatched",status="404"\} (\d+)$/m.exec(text);
            assert.ok(unmatched, `404 not counted under route="unmatched":\n${text}`);
            assert.ok(Number(unmatched[1]) >= 1);
        });

        it('never uses the raw path as a label (no unbounded cardinality)', async () => {
            await get(`${srv.url}/nope-unique-path-label-xyz`);
            await srv.waitForLog((l) => l.event === 'request' && l.path === '/nope-unique-path-label-xyz');
            const { text } = await get(`${srv.url}/metrics`);
            assert.ok(!text.includes('nope-unique-path-label-xyz'));
        });

        it('counts every request once', async () => {
            const read = async () => {
                const { text } = await get(`${srv.url}/metrics`);
                const m = /^marquee_http_requests_total\{method="GET",route="\/readyz",status="200"\} (\d+)$/m.exec(text);
                return m ? Number(m[1]) : 0;
            };
            const before = await read();
            for (let i = 0; i < 3; i++) await get(`${srv.url}/readyz`, { headers: { 'X-Request-Id': `count-${i}` } });
            await srv.waitForLog((l) => l.event === 'request' && l.requestId === 'count-2');
            assert.equal(await read(), before + 3);
        });
    });

    it('server exits cleanly (status 0, no sanitizer report)', async () => {
        await srv.stop();
    });
});
