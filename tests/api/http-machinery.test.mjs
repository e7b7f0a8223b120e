// SPDX-License-Identifier: MIT
//
// http-machinery.test.mjs — the shared request machinery every module's routes will use,
// driven through the real server with `--test-routes`: JSON bodies (content type, size, depth,
// error positions), strong ETags with If-None-Match → 304 (RFC 9110 §15.4.5) and If-Match →
// 428/412 (spec §27.1), cursor pagination (§27.1), the errno → problem mapping (§22, §27.2),
// and the 401 every non-public route gives without credentials.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { BACKEND, assertProblem, get, rawRequest, startServer } from './lib/server.mjs';

const JSON_HEADERS = { 'Content-Type': 'application/json' };

describe(`shared HTTP machinery via /v1/_test (${BACKEND})`, () => {
    let srv;
    let base;
    before(async () => {
        srv = await startServer({ args: ['--test-routes'] });
        base = `${srv.url}/v1/_test`;
    });
    after(async () => {
        await srv?.stop();
    });

    it('test routes do not exist unless asked for', async () => {
        const plain = await startServer();
        try {
            const { res, text } = await get(`${plain.url}/v1/_test/echo`, {
                method: 'POST',
                headers: JSON_HEADERS,
                body: '{}',
            });
            assertProblem(res, text, { status: 404, code: 'NOT_FOUND' });
        } finally {
            await plain.stop();
        }
    });

    describe('JSON request bodies', () => {
        it('accepts application/json (with parameters) and hands the parsed body over', async () => {
            const body = { a: [1, 2, { b: 'ü ✓' }], n: null };
            for (const ct of ['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON']) {
                const { res, text } = await get(`${base}/echo`, {
                    method: 'POST',
                    headers: { 'Content-Type': ct },
                    body: JSON.stringify(body),
                });
                assert.equal(res.status, 200, `${ct}: ${text}`);
                assert.deepEqual(JSON.parse(text), { received: body });
            }
        });

        it('refuses other content types with 415 before reading the body', async () => {
            for (const ct of [null, 'text/plain', 'application/x-www-form-urlencoded', 'application/jsonp']) {
                const headers = ct ? { 'Content-Type': ct } : {};
                const { res, text } = await get(`${base}/echo`, { method: 'POST', headers, body: '{}' });
                assertProblem(res, text, { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', instance: '/v1/_test/echo' });
            }
        });

        it('refuses an empty body with 400 BODY_REQUIRED', async () => {
            const { res, text } = await get(`${base}/echo`, { method: 'POST', headers: JSON_HEADERS, body: '' });
            assertProblem(res, text, { status: 400, code: 'BODY_REQUIRED' });
        });

        it('reports malformed JSON with its position, line and column', async () => {
            const bad = '{\n  "a": 1,\n  "b": tru\n}';
            const { res, text } = await get(`${base}/echo`, { method: 'POST', headers: JSON_HEADERS, body: bad });
            const p = assertProblem(res, text, { status: 400, code: 'MALFORMED_JSON' });
            assert.ok(Array.isArray(p.errors) && p.errors.length === 1, text);
            assert.equal(p.errors[0].line, 3);
            assert.ok(p.errors[0].column >= 8, text);
            assert.ok(p.errors[0].position >= bad.indexOf('tru'), text);
            assert.ok(p.errors[0].position <= bad.length, text);
            assert.equal(typeof p.errors[0].message, 'string');
        });

        it('refuses duplicate keys and trailing garbage', async () => {
            for (const bad of ['{"a":1,"a":2}', '{} {}', '[1,]', '{"a":"\u0000"}x']) {
                const { res, text } = await get(`${base}/echo`, { method: 'POST', headers: JSON_HEADERS, body: bad });
                assertProblem(res, text, { status: 400, code: 'MALFORMED_JSON' });
            }
        });

        it('refuses nesting deeper than json_max_depth (32) and says where', async () => {
            const ok = '['.repeat(32) + ']'.repeat(32);
            let r = await get(`${base}/echo`, { method: 'POST', headers: JSON_HEADERS, body: ok });
            assert.equal(r.res.status, 200, r.text);
            const deep = '['.repeat(5000) + ']'.repeat(5000);
            r = await get(`${base}/echo`, { method: 'POST', headers: JSON_HEADERS, body: deep });
            const p = assertProblem(r.res, r.text, { status: 400, code: 'JSON_TOO_DEEP' });
            assert.equal(p.errors[0].position, 32);
            assert.equal(p.errors[0].column, 33);
        });

        it('refuses a declared body far over the route limit with 413 without reading it', async () => {
            const r = await rawRequest(srv.port, [
                'POST /v1/_test/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n' +
                    'Content-Length: 999999999\r\n\r\n',
            ]);
            assert.ok(r.response, `no response: ${r.data}`);
            assert.equal(r.response.status, 413);
            assert.match(r.response.headers['content-type'] || '', /^application\/problem\+json/);
            const p = JSON.parse(r.response.body.toString());
            assert.equal(p.code, 'PAYLOAD_TOO_LARGE');
            assert.equal(p.maxBytes, 65536);
        });

        it('answers 413 to a client that sends an oversized declared body without waiting', async () => {
            const r = await rawRequest(srv.port, [
                'POST /v1/_test/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n' +
                    'Content-Length: 100000\r\n\r\n' + 'x'.repeat(100000),
            ]);
            assert.ok(r.response, `no response: ${r.error} ${r.data}`);
            assert.equal(r.response.status, 413);
        });

        it('answers 413 at once to a client that waits for 100-continue', async () => {
            const r = await rawRequest(srv.port, [
                'POST /v1/_test/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n' +
                    'Expect: 100-continue\r\nContent-Length: 100000\r\n\r\n',
            ]);
            assert.ok(r.response, `no response: ${r.error} ${r.data}`);
            assert.equal(r.response.status, 413);
            assert.doesNotMatch(r.data.toString(), /100 Continue/);
        });

        it('refuses a chunked body that grows past the limit with 413', async () => {
            const chunk = 'x'.repeat(16000);
            const parts = ['POST /v1/_test/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n' +
                'Transfer-Encoding: chunked\r\n\r\n'];
            for (let i = 0; i < 6; i++) parts.push(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
            parts.push('0\r\n\r\n');
            const r = await rawRequest(srv.port, parts);
            assert.ok(r.response, `no response: ${r.data}`);
            assert.equal(r.response.status, 413);
            assert.equal(JSON.parse(r.response.body.toString()).code, 'PAYLOAD_TOO_LARGE');
            // and the server is fine afterwards
            const { res } = await get(`${srv.url}/healthz`);
            assert.equal(res.status, 200);
        });
    });

    describe('ETags and conditional requests', () => {
        it('GET carries a strong ETag; a matching If-None-Match gives 304 with the 200 length and no body', async () => {
            const full = await get(`${base}/etag`);
            assert.equal(full.res.status, 200);
            assert.equal(full.res.headers.get('etag'), '"test-v1"');
            const length = full.res.headers.get('content-length');
            assert.equal(Number(length), Buffer.byteLength(full.text));
            for (const inm of ['"test-v1"', 'W/"test-v1"', '"nope", "test-v1"', '*']) {
                const r = await rawRequest(srv.port, [
                    `GET /v1/_test/etag HTTP/1.1\r\nHost: t\r\nIf-None-Match: ${inm}\r\n\r\n`,
                ]);
                assert.equal(r.response.status, 304, inm);
                assert.equal(r.response.headers.etag, '"test-v1"');
                assert.equal(r.response.body.length, 0);
                // RFC 9110 §15.4.5: a Content-Length on a 304 must equal the 200's
                const cl = r.response.headers['content-length'];
                if (cl !== undefined) assert.equal(cl, length, `304 Content-Length for ${inm}`);
            }
            const miss = await get(`${base}/etag`, { headers: { 'If-None-Match': '"other"' } });
            assert.equal(miss.res.status, 200);
        });

        it('a keep-alive connection carries on after a 304', async () => {
            const r = await rawRequest(
                srv.port,
                [
                    'GET /v1/_test/etag HTTP/1.1\r\nHost: t\r\nIf-None-Match: "test-v1"\r\n\r\n' +
                        'GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
                ],
                { untilResponse: false, timeoutMs: 4000 },
            );
            const text = r.data.toString();
            assert.match(text, /^HTTP\/1\.1 304 /);
            assert.match(text, /HTTP\/1\.1 200 OK[\s\S]*\{"status":"ok"\}$/);
        });

        it('an ETag computed from the body round-trips to a 304 of the same length', async () => {
            const full = await get(`${base}/etag-auto`);
            const etag = full.res.headers.get('etag');
            assert.match(etag, /^"[0-9a-f]{32}"$/);
            const r = await rawRequest(srv.port, [
                `GET /v1/_test/etag-auto HTTP/1.1\r\nHost: t\r\nIf-None-Match: ${etag}\r\n\r\n`,
            ]);
            assert.equal(r.response.status, 304);
            assert.equal(r.response.body.length, 0);
            assert.equal(r.response.headers['content-length'], full.res.headers.get('content-length'));
        });

        it('a mutation without If-Match is 428, a stale one 412 with currentEtag, a fresh one proceeds', async () => {
            let r = await get(`${base}/etag`, { method: 'PUT' });
            assertProblem(r.res, r.text, { status: 428, code: 'PRECONDITION_REQUIRED' });
            r = await get(`${base}/etag`, { method: 'PUT', headers: { 'If-Match': '"test-v0"' } });
            const p = assertProblem(r.res, r.text, { status: 412, code: 'PRECONDITION_FAILED' });
            assert.equal(p.currentEtag, '"test-v1"');
            // If-Match uses the strong comparison: a weak validator never matches
            r = await get(`${base}/etag`, { method: 'PUT', headers: { 'If-Match': 'W/"test-v1"' } });
            assert.equal(r.res.status, 412);
            r = await get(`${base}/etag`, { method: 'PUT', headers: { 'If-Match': '"test-v1"' } });
            assert.equal(r.res.status, 200);
            assert.deepEqual(JSON.parse(r.text), { applied: true });
        });
    });

    describe('cursor pagination', () => {
        it('defaults to 50 and walks every item exactly once, in order', async () => {
            const seen = [];
            let cursor = null;
            let pages = 0;
            do {
                const q = cursor ? `?cursor=${encodeURIComponent(cursor)}` : '';
                const { res, text } = await get(`${base}/items${q}`);
                assert.equal(res.status, 200, text);
                const body = JSON.parse(text);
                assert.deepEqual(Object.keys(body).sort(), ['items', 'nextCursor']);
                assert.ok(body.items.length <= 50);
                seen.push(...body.items.map((i) => i.id));
                cursor = body.nextCursor;
                pages++;
            } while (cursor);
            assert.equal(pages, 3);
            assert.equal(seen.length, 120);
            assert.deepEqual(seen, Array.from({ length: 120 }, (_, i) => `item-${String(i).padStart(3, '0')}`));
        });

        it('honours limit up to 200 and ends with nextCursor null', async () => {
            const { text } = await get(`${base}/items?limit=200`);
            const body = JSON.parse(text);
            assert.equal(body.items.length, 120);
            assert.equal(body.nextCursor, null);
            const seven = JSON.parse((await get(`${base}/items?limit=7`)).text);
            assert.equal(seven.items.length, 7);
            assert.equal(typeof seven.nextCursor, 'string');
        });

        it('refuses a bad limit or a forged cursor with 400', async () => {
            for (const l of ['0', '201', '-1', 'ten', '1.5', '']) {
                const { res, text } = await get(`${base}/items?limit=${l}`);
                if (l === '') continue; // an empty limit is simply absent for some clients
                assertProblem(res, text, { status: 400, code: 'INVALID_LIMIT' });
            }
            for (const c of ['nonsense', 'YWJj', '!!!!', 'x'.repeat(3000)]) {
                const { res, text } = await get(`${base}/items?cursor=${c}`);
                assertProblem(res, text, { status: 400, code: 'INVALID_CURSOR' });
            }
        });
    });

    describe('errors become problem+json', () => {
        it('maps handler errors: busy → 503 with Retry-After, conflict → 409, anything else → 500', async () => {
            let r = await get(`${base}/fail/busy`);
            assertProblem(r.res, r.text, { status: 503, code: 'SERVICE_UNAVAILABLE' });
            assert.ok(Number(r.res.headers.get('retry-after')) >= 1);
            r = await get(`${base}/fail/conflict`);
            assertProblem(r.res, r.text, { status: 409, code: 'CONFLICT' });
            r = await get(`${base}/fail/other`);
            const p = assertProblem(r.res, r.text, { status: 500, code: 'INTERNAL_ERROR' });
            assert.doesNotMatch(p.detail, /errno|recoverable/i, 'no internals in the detail');
        });

        it('a route for users answers 401 with WWW-Authenticate when no credentials are given', async () => {
            const r = await get(`${base}/private`);
            assertProblem(r.res, r.text, { status: 401, code: 'UNAUTHORIZED' });
            assert.equal(r.res.headers.get('www-authenticate'), 'Bearer');
        });
    });
});
