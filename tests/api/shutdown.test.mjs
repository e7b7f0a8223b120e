// SPDX-License-Identifier: MIT
//
// shutdown.test.mjs — SIGTERM/SIGINT: stop accepting, let the request in flight finish (within
// shutdown_timeout_s), exit 0 with shutdown_started / shutdown_complete in the log; a client
// that never finishes does not hold the process past the timeout.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';

import { BACKEND, canConnect, get, parseResponse, startServer } from './lib/server.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A raw connection with a write helper and everything the server sent so far. */
function connect(port) {
    return new Promise((resolve, reject) => {
        const sock = net.connect({ host: '127.0.0.1', port });
        const got = [];
        const conn = {
            sock,
            closed: false,
            data: () => Buffer.concat(got),
            write: (s) => new Promise((r) => sock.write(s, () => r())),
            closedPromise: new Promise((r) => sock.on('close', () => r())),
        };
        sock.on('data', (d) => got.push(d));
        sock.on('close', () => (conn.closed = true));
        sock.on('error', () => {});
        sock.on('connect', () => resolve(conn));
        sock.once('error', reject);
    });
}

async function waitUntil(pred, timeoutMs, what) {
    const deadline = Date.now() + timeoutMs;
    while (!(await pred())) {
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
        await sleep(50);
    }
}

/** Whether the gauge marquee_http_in_flight_requests is at least @n. */
async function inFlightAtLeast(srv, n) {
    const { text } = await get(`${srv.url}/metrics`);
    const m = /^marquee_http_in_flight_requests (\d+)$/m.exec(text);
    return m && Number(m[1]) >= n;
}

describe(`graceful shutdown (${BACKEND})`, () => {
    it('SIGTERM with a slow upload in flight: refuses new connections, finishes it, exits 0', async () => {
        const srv = await startServer({ args: ['--shutdown-timeout-s', '8'] });
        try {
            const body = '{"slow":"upload...."}'; // 21 bytes
            const c = await connect(srv.port);
            await c.write(
                'POST /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: slow-1\r\nConnection: close\r\n' +
                    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 2)}`,
            );
            // the metrics request is in flight itself: 2 means the slow one is too
            await waitUntil(() => inFlightAtLeast(srv, 2), 5000, 'the slow request to be in flight');

            const t0 = Date.now();
            srv.child.kill('SIGTERM');
            const started = await srv.waitForLog((l) => l.event === 'shutdown_started', 5000, 'shutdown_started');
            assert.ok(started.inFlight >= 1, `shutdown_started inFlight ${started.inFlight}`);
            await waitUntil(async () => !(await canConnect(srv.port, 500)), 3000, 'new connections to be refused');

            for (let i = 2; i < body.length; i++) {
                assert.equal(srv.exitInfo, null, 'exited with the request still in flight');
                await c.write(body[i]);
                await sleep(60);
            }
            await Promise.race([c.closedPromise, sleep(5000)]);
            const res = parseResponse(c.data(), { closed: c.closed });
            assert.ok(res && res.complete, `the in-flight request got no complete answer: ${c.data().toString('latin1')}`);
            assert.equal(res.status, 405);
            assert.equal(res.headers['x-request-id'], 'slow-1');

            const { code, ms } = await srv.stop();
            assert.equal(code, 0);
            assert.ok(Date.now() - t0 < 8000 + 3000, `took ${Date.now() - t0} ms, shutdown timeout 8 s`);
            void ms;
            const events = srv.logs().map((l) => l.event);
            assert.ok(events.includes('shutdown_complete'), events.join(','));
            assert.ok(!events.includes('shutdown_timeout'), 'the in-flight request was abandoned');
            assert.ok(events.indexOf('shutdown_started') < events.indexOf('shutdown_complete'));
            const line = srv.logs().find((l) => l.event === 'request' && l.requestId === 'slow-1');
            assert.ok(line, 'the in-flight request was not logged');
            assert.equal(line.status, 405);
        } finally {
            await srv.stop().catch(() => {});
        }
    });

    it('a client that never finishes its body does not hold the process past --shutdown-timeout-s', async () => {
        const srv = await startServer({ args: ['--shutdown-timeout-s', '2'] });
        const c = await connect(srv.port);
        await c.write('POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
        await waitUntil(() => inFlightAtLeast(srv, 2), 5000, 'the stalled request to be in flight');
        const t0 = Date.now();
        srv.child.kill('SIGTERM');
        await srv.exited;
        const took = Date.now() - t0;
        c.sock.destroy();
        const { code } = await srv.stop();
        assert.equal(code, 0);
        assert.ok(took >= 1500, `exited after ${took} ms, before the 2 s shutdown timeout`);
        assert.ok(took < 2000 + 3000, `exited after ${took} ms with a 2 s shutdown timeout`);
        const events = srv.logs().map((l) => l.event);
        assert.ok(events.includes('shutdown_started'), events.join(','));
        assert.ok(events.includes('shutdown_timeout'), events.join(','));
        assert.ok(events.includes('shutdown_complete'), events.join(','));
    });

    it('idle keep-alive connections do not delay shutdown', async () => {
        const srv = await startServer({ args: ['--shutdown-timeout-s', '10'] });
        const c = await connect(srv.port);
        await c.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
        await waitUntil(() => {
            const r = parseResponse(c.data());
            return r && r.complete;
        }, 5000, 'the keep-alive answer');
        const t0 = Date.now();
        const { code } = await srv.stop();
        c.sock.destroy();
        assert.equal(code, 0);
        assert.ok(Date.now() - t0 < 3000, `idle connection delayed shutdown by ${Date.now() - t0} ms`);
        assert.ok(srv.logs().some((l) => l.event === 'shutdown_complete'));
    });

    it('SIGINT shuts down the same way (exit 0)', async () => {
        const srv = await startServer();
        const { res } = await get(`${srv.url}/healthz`);
        assert.equal(res.status, 200);
        const { code } = await srv.stop({ signal: 'SIGINT' });
        assert.equal(code, 0);
        const started = srv.logs().find((l) => l.event === 'shutdown_started');
        assert.ok(started, 'no shutdown_started');
        assert.equal(started.signal, 'SIGINT');
        assert.ok(srv.logs().some((l) => l.event === 'shutdown_complete'));
    });
});
