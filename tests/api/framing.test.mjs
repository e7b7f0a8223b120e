// SPDX-License-Identifier: MIT
//
// framing.test.mjs — requests whose framing or target a server and a proxy in front of it
// could read differently (RFC 9112 §6: request smuggling), and targets and bytes that must
// still get a well-formed answer: absolute-form, OPTIONS *, bytes that are not UTF-8, and
// paths long enough to stress the request log line.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { BACKEND, rawRequest, startServer } from './lib/server.mjs';

const ECHO = 'POST /v1/_test/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n';
const SMUGGLED = 'GET /v1/_test/fail/conflict HTTP/1.1\r\nHost: t\r\n\r\n';

function problemOf(response) {
    assert.match(response.headers['content-type'] || '', /^application\/problem\+json/);
    return JSON.parse(response.body.toString('utf8'));
}

describe(`request framing and targets (${BACKEND})`, () => {
    let srv;
    before(async () => {
        srv = await startServer({ args: ['--test-routes'] });
    });
    after(async () => {
        await srv?.stop();
    });

    const ambiguous = [
        ['two Content-Length values', `${ECHO}Content-Length: 2\r\nContent-Length: 71\r\n\r\n{}${SMUGGLED}`, 400, 'BAD_CONTENT_LENGTH'],
        ['Content-Length and Transfer-Encoding', `${ECHO}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n${SMUGGLED}`, 400, 'BAD_FRAMING'],
        ['whitespace before the colon of Content-Length', `${ECHO}Content-Length : 2\r\n\r\n{}${SMUGGLED}`, 400, 'BAD_HEADER'],
        ['whitespace before the colon of Transfer-Encoding', `${ECHO}Transfer-Encoding : chunked\r\nContent-Length: 2\r\n\r\n{}${SMUGGLED}`, 400, 'BAD_HEADER'],
        ['a transfer coding other than chunked', `${ECHO}Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n${SMUGGLED}`, 501, 'UNSUPPORTED_TRANSFER_ENCODING'],
        ['two Transfer-Encoding fields', `${ECHO}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n${SMUGGLED}`, 501, 'UNSUPPORTED_TRANSFER_ENCODING'],
        ['HTTP/1.1 without Host', `GET /healthz HTTP/1.1\r\n\r\n${SMUGGLED}`, 400, 'BAD_HOST'],
        ['two Host fields', `GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n${SMUGGLED}`, 400, 'BAD_HOST'],
    ];
    for (const [name, bytes, status, code] of ambiguous) {
        it(`${name}: ${status} ${code}, connection closed, nothing after it is served`, async () => {
            const r = await rawRequest(srv.port, [bytes], { untilResponse: false, timeoutMs: 4000 });
            assert.ok(r.closed && !r.timedOut, `connection left open (${r.ms} ms)`);
            const text = r.data.toString('latin1');
            const answers = text.match(/^HTTP\/1\.1 \d{3}/gm) || [];
            assert.equal(answers.length, 1, `expected exactly one answer, got: ${text}`);
            assert.ok(r.response, text);
            assert.equal(r.response.status, status);
            assert.equal(r.response.headers.connection, 'close');
            const p = problemOf(r.response);
            assert.equal(p.code, code);
            assert.doesNotMatch(text, /HTTP\/1\.1 409|"code":"CONFLICT"/, 'the smuggled request was served');
        });
    }

    it('HTTP/1.0 without Host is fine', async () => {
        const r = await rawRequest(srv.port, ['GET /healthz HTTP/1.0\r\n\r\n']);
        assert.equal(r.response?.status, 200);
    });

    it('accepts the absolute-form target (RFC 9112 §3.2.2)', async () => {
        const r = await rawRequest(srv.port, ['GET http://marquee.test/healthz?x=1 HTTP/1.1\r\nHost: marquee.test\r\n\r\n']);
        assert.equal(r.response?.status, 200);
        const miss = await rawRequest(srv.port, ['GET http://marquee.test/nope HTTP/1.1\r\nHost: marquee.test\r\n\r\n']);
        assert.equal(miss.response?.status, 404);
        assert.equal(problemOf(miss.response).instance, '/nope');
    });

    it('OPTIONS * answers 204 with the methods the server knows', async () => {
        const r = await rawRequest(srv.port, ['OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n']);
        assert.equal(r.response?.status, 204);
        assert.match(r.response.headers.allow, /GET/);
        assert.match(r.response.headers.allow, /OPTIONS/);
    });

    it('bytes that are not UTF-8 still give every problem member', async () => {
        const cases = [
            [Buffer.concat([Buffer.from('GET /'), Buffer.from([0xff, 0xfe]), Buffer.from(' HTTP/1.1\r\nHost: t\r\n\r\n')]), 404],
            [Buffer.concat([Buffer.from('FOO'), Buffer.from([0xc3]), Buffer.from(' /healthz HTTP/1.1\r\nHost: t\r\n\r\n')]), 405],
            [Buffer.from('GET /v1/_test/fail/%ff HTTP/1.1\r\nHost: t\r\n\r\n'), 400],
        ];
        for (const [bytes, status] of cases) {
            const r = await rawRequest(srv.port, [bytes]);
            assert.equal(r.response?.status, status, r.data.toString('latin1'));
            const p = problemOf(r.response);
            for (const m of ['type', 'title', 'status', 'code', 'detail', 'instance', 'requestId'])
                assert.ok(m in p, `${status}: missing ${m}`);
        }
    });

    it('every request log line is valid JSON, whatever the path', async () => {
        const paths = ['/' + 'a'.repeat(1500), '/' + '%ff'.repeat(400), '/q"\\u0001\\x', '/' + 'é'.repeat(700)];
        const before = srv.logs().length;
        for (const p of paths) {
            const r = await rawRequest(srv.port, [`GET ${p} HTTP/1.1\r\nHost: t\r\n\r\n`]);
            assert.ok(r.response?.status >= 400 && r.response.status < 500, `status ${r.response?.status}`);
        }
        await new Promise((res) => setTimeout(res, 200));
        const fresh = srv.logs().slice(before);
        for (const l of fresh) assert.ok(!('raw' in l), `not JSON: ${String(l.raw).slice(0, 200)}`);
        const lines = fresh.filter((l) => l.event === 'request');
        assert.ok(lines.length >= paths.length, `only ${lines.length} request lines`);
        for (const l of lines) {
            assert.ok(!('raw' in l), `not JSON: ${String(l.raw).slice(0, 200)}`);
            assert.equal(typeof l.path, 'string');
            assert.ok(l.path.length <= 512);
        }
    });
});
