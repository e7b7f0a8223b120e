// SPDX-License-Identifier: MIT
//
// limits.test.mjs — what a hostile or broken client gets over raw TCP: oversized header
// blocks, request lines and bodies, garbage bytes, idle connections, percent-encoding tricks.
// A bad input is answered (4xx) or the connection closed, quickly; never a 5xx, a hang or a
// crash, and the server keeps answering /healthz afterwards.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { BACKEND, get, rawRequest, startServer } from './lib/server.mjs';

/** The server still answers: GET /healthz → 200. */
async function assertAlive(srv) {
    const dead = () => `marqueed exited ${JSON.stringify(srv.exitInfo)}:\n${srv.stderr().slice(-4000)}`;
    assert.equal(srv.exitInfo, null, dead());
    let res;
    try {
        ({ res } = await get(`${srv.url}/healthz`));
    } catch (e) {
        assert.fail(`${e.message}\n${srv.exitInfo ? dead() : srv.stderr().slice(-2000)}`);
    }
    assert.equal(res.status, 200);
}

/** If the response is marqueed's own (problem+json), it must be a well-formed §27.2 body. */
function checkProblemIfAny(response, status) {
    const ct = response.headers['content-type'] || '';
    if (!/^application\/problem\+json/.test(ct)) return null;
    const body = JSON.parse(response.body.toString('utf8'));
    assert.equal(body.status, status);
    assert.equal(typeof body.code, 'string');
    assert.equal(body.requestId, response.headers['x-request-id']);
    return body;
}

describe(`request limits and malformed input (${BACKEND})`, () => {
    let srv;
    before(async () => {
        srv = await startServer();
    });
    after(async () => {
        await srv?.stop().catch(() => {});
    });

    it('a header block over 8 KiB (default max_header_bytes) → 431 (or 413), promptly', async () => {
        const req = `GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(9000)}\r\n\r\n`;
        const r = await rawRequest(srv.port, req, { timeoutMs: 5000 });
        assert.ok(!r.timedOut, `no answer within 5 s: ${r.data.toString('latin1').slice(0, 200)}`);
        assert.ok(r.response && r.response.status, `connection closed without an answer (${r.data.length} bytes)`);
        assert.ok([413, 431].includes(r.response.status), `status ${r.response.status}`);
        const body = checkProblemIfAny(r.response, r.response.status);
        if (body) assert.equal(body.code, 'REQUEST_HEADER_TOO_LARGE');
        await assertAlive(srv);
    });

    it('a header block of many small headers over 8 KiB → 431 (or 413)', async () => {
        let h = '';
        for (let i = 0; i < 300; i++) h += `X-H${i}: ${'v'.repeat(30)}\r\n`;
        const r = await rawRequest(srv.port, `GET /healthz HTTP/1.1\r\nHost: t\r\n${h}\r\n`, { timeoutMs: 5000 });
        assert.ok(!r.timedOut, 'no answer within 5 s');
        assert.ok(r.response && r.response.status, 'closed without an answer');
        assert.ok([413, 431].includes(r.response.status), `status ${r.response.status}`);
        checkProblemIfAny(r.response, r.response.status);
        await assertAlive(srv);
    });

    it('a header block larger than the connection buffer (64 KiB) → 413/431 or close, promptly', async () => {
        const req = `GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(65536)}\r\n\r\n`;
        const r = await rawRequest(srv.port, req, { timeoutMs: 5000 });
        assert.ok(!r.timedOut, 'connection left hanging');
        if (r.response && r.response.status) assert.ok([413, 431].includes(r.response.status), `status ${r.response.status}`);
        await assertAlive(srv);
    });

    it('a long request path → 414 or 404, never a crash', async () => {
        for (const n of [2000, 7000, 20000]) {
            const r = await rawRequest(srv.port, `GET /${'p'.repeat(n)} HTTP/1.1\r\nHost: t\r\n\r\n`, { timeoutMs: 5000 });
            assert.ok(!r.timedOut, `${n}: connection left hanging`);
            assert.ok(r.response && r.response.status, `${n}: closed without an answer`);
            assert.ok([404, 414].includes(r.response.status), `${n}: status ${r.response.status}`);
            checkProblemIfAny(r.response, r.response.status);
        }
        await assertAlive(srv);
    });

    it('a path with many segments → 404 or 414, never a crash', async () => {
        const r = await rawRequest(srv.port, `GET ${'/a'.repeat(2000)} HTTP/1.1\r\nHost: t\r\n\r\n`, { timeoutMs: 5000 });
        assert.ok(r.response && r.response.status, 'closed without an answer');
        assert.ok([404, 414].includes(r.response.status), `status ${r.response.status}`);
        await assertAlive(srv);
    });

    for (const p of ['/healthz', '/nope']) {
        it(`POST ${p} with Content-Length: 999999999 → 413 problem quickly, body never sent`, async () => {
            const r = await rawRequest(
                srv.port,
                `POST ${p} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\n\r\n`,
                { timeoutMs: 3000 },
            );
            assert.ok(!r.timedOut, `no answer within 3 s (the server waits for a body it will refuse)`);
            assert.ok(r.response && r.response.status, 'closed without an answer');
            assert.equal(r.response.status, 413, `status ${r.response.status}: ${r.response.body}`);
            const body = checkProblemIfAny(r.response, 413);
            assert.ok(body, `413 is not problem+json: ${r.response.rawHead}`);
            assert.equal(body.code, 'PAYLOAD_TOO_LARGE');
            await assertAlive(srv);
        });
    }

    it('a body over max_body_bytes without Content-Length (chunked) → 413, promptly', async () => {
        const chunk = 'x'.repeat(64 * 1024);
        const parts = ['POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n'];
        for (let i = 0; i < 20; i++) parts.push(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
        parts.push('0\r\n\r\n');
        const r = await rawRequest(srv.port, parts, { timeoutMs: 5000 });
        assert.ok(!r.timedOut, 'no answer within 5 s');
        assert.ok(r.response && r.response.status, 'closed without an answer');
        // the route has no POST: 405 is acceptable once the body is refused or drained, 413 too
        assert.ok([405, 413].includes(r.response.status), `status ${r.response.status}`);
        await assertAlive(srv);
    });

    it('a Content-Length that is not a number → 400, never 5xx', async () => {
        for (const cl of ['abc', '-1', '1e3', '99999999999999999999999']) {
            const r = await rawRequest(
                srv.port,
                `POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: ${cl}\r\nConnection: close\r\n\r\n`,
                { timeoutMs: 3000, untilResponse: false },
            );
            assert.ok(!r.timedOut, `CL ${cl}: connection left hanging`);
            if (r.response && r.response.status)
                assert.ok(r.response.status >= 400 && r.response.status < 500, `CL ${cl}: status ${r.response.status}`);
        }
        await assertAlive(srv);
    });

    const garbage = [
        ['high bytes', Buffer.from([0xff, 0xfe, 0x80, 0x81, 0x20, 0x2f, 0x20, 0xc3, 0x28, 0x0d, 0x0a, 0x0d, 0x0a])],
        ['HTTP/9.9', 'GET / HTTP/9.9\r\nHost: t\r\n\r\n'],
        ['HTTP/1.1 without Host', 'GET /healthz HTTP/1.1\r\n\r\n'],
        ['two Host headers', 'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
        ['no version', 'GET /healthz\r\n\r\n'],
        ['space-free garbage', 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\n\r\n'],
        ['a bad method token', 'G(T /healthz HTTP/1.1\r\nHost: t\r\n\r\n'],
        ['an unknown method', 'BREW /healthz HTTP/1.1\r\nHost: t\r\n\r\n'],
        ['a header without a colon', 'GET /healthz HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n'],
        ['CL and TE together', 'POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
        ['a bad chunk size', 'POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'],
        ['a NUL in the path', 'GET /heal\x00thz HTTP/1.1\r\nHost: t\r\n\r\n'],
        ['bare LF line ends', 'GET /healthz HTTP/1.1\nHost: t\n\n'],
    ];
    for (const [name, bytes] of garbage) {
        it(`garbage (${name}) → 4xx or a closed connection within a few seconds`, async () => {
            const r = await rawRequest(srv.port, bytes, { timeoutMs: 4000 });
            const status = r.response?.status;
            if (status) {
                // an unsupported HTTP major version is 505 (RFC 9110 §15.6.6); anything else 4xx
                const ok = (status >= 400 && status < 500) || (name === 'HTTP/9.9' && status === 505) ||
                    (status === 200 && name === 'bare LF line ends');
                assert.ok(ok, `status ${status}`);
                checkProblemIfAny(r.response, status);
            } else {
                assert.ok(!r.timedOut, `no answer and not closed within 4 s (got ${r.data.length} bytes)`);
            }
            await assertAlive(srv);
        });
    }

    it('a burst of garbage connections leaves the server answering', async () => {
        const bytes = Buffer.alloc(4096);
        for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
        await Promise.all(Array.from({ length: 40 }, () => rawRequest(srv.port, bytes, { timeoutMs: 4000, end: true })));
        await assertAlive(srv);
    });

    for (const p of ['/health%7A', '/health%7a', '/%2e%2e/healthz', '/..%2fhealthz', '/healthz%00', '/healthz%2F',
        '/%68ealthz', '/%', '/%zz', '/%C0%AF', '/healthz/..', '/./healthz', '//healthz', '/healthz?%00=%00', '/nope%ff%fe']) {
        it(`percent-encoded path ${p} never answers 5xx`, async () => {
            const r = await rawRequest(srv.port, `GET ${p} HTTP/1.1\r\nHost: t\r\n\r\n`, { timeoutMs: 4000 });
            assert.ok(r.response && r.response.status, `no answer (closed: ${r.closed}, timed out: ${r.timedOut})`);
            assert.ok(r.response.status < 500, `status ${r.response.status}`);
            if (r.response.status >= 400) {
                const body = checkProblemIfAny(r.response, r.response.status);
                assert.ok(body, `a ${r.response.status} from marqueed must be problem+json`);
            }
        });
    }

    it('a path with an encoded slash never reaches a different route', async () => {
        // "/healthz%2Fx" is one segment "healthz/x", not /healthz followed by x
        const r = await rawRequest(srv.port, 'GET /healthz%2Fx HTTP/1.1\r\nHost: t\r\n\r\n');
        assert.ok(r.response && r.response.status, 'no answer');
        assert.ok([400, 404].includes(r.response.status), `status ${r.response.status}`);
    });

    it('keep-alive: several requests on one connection are all answered', async () => {
        const one = 'GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n';
        const r = await rawRequest(srv.port, [one, 50, one, 50, 'GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'], {
            untilResponse: false,
            timeoutMs: 5000,
        });
        const text = r.data.toString('latin1');
        assert.equal((text.match(/HTTP\/1\.1 200 /g) || []).length, 3, text);
        assert.ok(r.closed, 'not closed after Connection: close');
    });

    it('server exits cleanly (status 0, no sanitizer report)', async () => {
        await srv.stop();
    });
});

describe(`idle connections (${BACKEND})`, () => {
    let srv;
    before(async () => {
        srv = await startServer({ args: ['--connection-timeout-s', '2'] });
    });
    after(async () => {
        await srv?.stop().catch(() => {});
    });

    it('a connection that sends nothing is closed after --connection-timeout-s 2 (within ~5 s)', async () => {
        const r = await rawRequest(srv.port, [], { timeoutMs: 8000, untilResponse: false });
        assert.ok(r.closed && !r.timedOut, `still open after ${r.ms} ms`);
        assert.ok(r.ms <= 5000, `closed only after ${r.ms} ms`);
        assert.ok(r.ms >= 1000, `closed after ${r.ms} ms, before the timeout`);
    });

    it('a connection that sends half a request line is closed too', async () => {
        const r = await rawRequest(srv.port, ['GET /heal'], { timeoutMs: 8000, untilResponse: false });
        assert.ok(r.closed && !r.timedOut, `still open after ${r.ms} ms`);
        assert.ok(r.ms <= 5000, `closed only after ${r.ms} ms`);
    });

    it('an idle keep-alive connection is closed after the timeout', async () => {
        const r = await rawRequest(srv.port, ['GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n'], { timeoutMs: 8000, untilResponse: false });
        assert.ok(r.response && r.response.status === 200, 'first request not answered');
        assert.ok(r.closed && !r.timedOut, `still open after ${r.ms} ms`);
        assert.ok(r.ms <= 5000, `closed only after ${r.ms} ms`);
    });

    // Two inputs that libmicrohttpd 0.9.75 itself does not answer, so marqueed never sees them:
    // a request line that starts with a NUL byte (read as an empty line, which may be skipped),
    // and the end of input from a client that half-closes (FIN) right after its request (epoll
    // sometimes misses it). What the server guarantees is the idle timeout: such a connection
    // is closed within --connection-timeout-s, it cannot hold a slot for longer.
    it('a request line starting with a NUL byte is closed by the idle timeout', async () => {
        const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x01, 0x80, 0x0d, 0x0a, 0x0d, 0x0a]);
        const r = await rawRequest(srv.port, bytes, { timeoutMs: 8000 });
        if (r.response?.status) assert.ok(r.response.status >= 400 && r.response.status < 500, `status ${r.response.status}`);
        else assert.ok(r.closed && !r.timedOut && r.ms <= 5000, `still open after ${r.ms} ms`);
        await assertAlive(srv);
    });

    it('a client that half-closes (FIN) after its request is answered and closed within the timeout', async () => {
        const cases = [
            ['a complete GET', 'GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n', 200],
            ['a POST cut short in its body', 'POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 30\r\n\r\n{"a":', null],
        ];
        const problems = [];
        for (const [name, bytes, want] of cases) {
            const runs = await Promise.all(Array.from({ length: 20 }, () =>
                rawRequest(srv.port, bytes, { untilResponse: false, end: true, timeoutMs: 6000 })));
            for (const r of runs) {
                if (want && r.response?.status !== want) problems.push(`${name}: status ${r.response?.status}`);
                if (r.timedOut || !r.closed) problems.push(`${name}: still open after ${r.ms} ms`);
            }
        }
        assert.deepEqual(problems, []);
        await assertAlive(srv);
    });

    it('the server still answers afterwards and exits cleanly', async () => {
        await assertAlive(srv);
        await srv.stop();
    });
});
