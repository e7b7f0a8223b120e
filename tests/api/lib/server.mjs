// SPDX-License-Identifier: MIT
//
// server.mjs — what the black-box API suites share: a store per test (a temp data dir with
// SQLite, or a fresh PostgreSQL database), a real `marqueed serve` on a free loopback port with
// its JSON-lines log captured, one-shot runs of the other commands, and raw TCP requests for
// the malformed-input tests.
//
// Environment (set by scripts/test.sh):
//   MARQUEED              the binary (default build-asan/marqueed from the repository root)
//   MARQUEE_TEST_BACKEND  sqlite (default) or postgresql
//   MARQUEE_TEST_PG       postgresql://USER@HOST:PORT of a server where databases may be
//                         created; one database per store, dropped when the store is released
//   MARQUEE_PG_BINDIR     where createdb/dropdb live (default: PATH)
//
// Every process this module starts is checked when it ends: a sanitizer report
// (AddressSanitizer, LeakSanitizer, UBSan "runtime error:") fails the test that stops it.
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const MARQUEED = path.resolve(REPO_ROOT, process.env.MARQUEED || 'build-asan/marqueed');
export const BACKEND = (process.env.MARQUEE_TEST_BACKEND || 'sqlite').toLowerCase();

const SANITIZER_MARKERS = ['AddressSanitizer', 'LeakSanitizer', 'runtime error:'];
const live = new Set(); // child processes not yet reaped, killed if the test process exits

process.on('exit', () => {
    for (const child of live) {
        try {
            child.kill('SIGKILL');
        } catch {
            /* already gone */
        }
    }
});

/**
 * The process environment without any MARQUEE_* variable, plus @extra: marqueed reads every
 * option from MARQUEE_<NAME> (MARQUEE_TEST_ROUTES is one), so the harness's own variables
 * (MARQUEE_TEST_BACKEND …) and the caller's settings must never reach it by accident.
 */
export function childEnv(extra = {}) {
    const env = {};
    for (const [k, v] of Object.entries(process.env)) {
        if (!k.startsWith('MARQUEE_')) env[k] = v;
    }
    // sanitizer findings must end the process with a report, never scroll past
    env.ASAN_OPTIONS ??= 'detect_leaks=1:abort_on_error=1';
    env.UBSAN_OPTIONS ??= 'print_stacktrace=1:halt_on_error=1';
    return { ...env, ...extra };
}

/** Throws (fails the test) if @text holds a sanitizer report. */
export function assertNoSanitizerReport(text, what = 'marqueed') {
    for (const marker of SANITIZER_MARKERS) {
        assert.ok(!text.includes(marker), `${what}: sanitizer report (${marker}):\n${text}`);
    }
}

function pgTool(tool) {
    const dir = process.env.MARQUEE_PG_BINDIR;
    return dir ? path.join(dir, tool) : tool;
}

function run(file, args, opts = {}) {
    return new Promise((resolve) => {
        execFile(file, args, { timeout: 30000, ...opts }, (error, stdout, stderr) => {
            resolve({ error, stdout, stderr });
        });
    });
}

function pgTarget() {
    const base = process.env.MARQUEE_TEST_PG;
    if (!base)
        throw new Error('MARQUEE_TEST_BACKEND=postgresql needs MARQUEE_TEST_PG=postgresql://USER@HOST:PORT');
    const u = new URL(base);
    return {
        base: `${u.protocol}//${u.username ? u.username + '@' : ''}${u.host}`,
        host: u.hostname,
        port: u.port || '5432',
        user: decodeURIComponent(u.username || 'postgres'),
    };
}

let dbCounter = 0;

/**
 * A fresh store: always a temp data dir (keys, media, demo-login.txt), plus on PostgreSQL a
 * new database. args are the flags that point marqueed at it. release() drops/removes both.
 */
export async function makeStore({ backend = BACKEND } = {}) {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'marquee-api-'));
    const store = {
        backend,
        dataDir,
        dbUrl: null,
        args: ['--data-dir', dataDir],
        async release() {
            if (store.dbUrl) {
                const t = pgTarget();
                const r = await run(pgTool('dropdb'), [
                    '--if-exists', '--force', '-h', t.host, '-p', t.port, '-U', t.user, store.dbName,
                ]);
                if (r.error) throw new Error(`dropdb ${store.dbName}: ${r.stderr || r.error.message}`);
                store.dbUrl = null;
            }
            await rm(dataDir, { recursive: true, force: true });
        },
    };
    if (backend === 'postgresql' || backend === 'pg') {
        const t = pgTarget();
        const name = `mq_api_${process.pid}_${++dbCounter}_${Math.random().toString(36).slice(2, 8)}`;
        const r = await run(pgTool('createdb'), ['-h', t.host, '-p', t.port, '-U', t.user, name]);
        if (r.error) {
            await rm(dataDir, { recursive: true, force: true });
            throw new Error(`createdb ${name}: ${r.stderr || r.error.message}`);
        }
        store.dbName = name;
        store.dbUrl = `${t.base}/${name}`;
        store.args.push('--db', store.dbUrl);
    } else if (backend !== 'sqlite') {
        throw new Error(`unknown MARQUEE_TEST_BACKEND "${backend}"`);
    }
    return store;
}

function parseLine(line) {
    try {
        const v = JSON.parse(line);
        if (v && typeof v === 'object') return v;
    } catch {
        /* not JSON: kept as text */
    }
    return { raw: line };
}

/**
 * Runs `marqueed ARGS…` to completion (migrate, create-tenant, --help …).
 * Resolves {code, signal, stdout, stderr, logs}; fails on a sanitizer report or a timeout.
 */
export async function runMarqueed(args, { env = {}, timeoutMs = 30000, cwd } = {}) {
    const child = spawn(MARQUEED, args, { env: childEnv(env), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
    }, timeoutMs);
    const [code, signal] = await new Promise((resolve, reject) => {
        child.on('error', (e) => {
            if (child.pid !== undefined) return; // a kill that failed: 'close' follows
            clearTimeout(timer);
            live.delete(child);
            reject(e);
        });
        child.on('close', (c, s) => resolve([c, s]));
    });
    clearTimeout(timer);
    live.delete(child);
    assert.ok(!timedOut, `marqueed ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stderr}`);
    assertNoSanitizerReport(stderr, `marqueed ${args[0] ?? ''}`);
    const logs = stderr.split('\n').filter((l) => l.trim()).map(parseLine);
    return { code, signal, stdout, stderr, logs };
}

/**
 * Starts `marqueed serve` and resolves once it logs {"event":"listening",…,"port":N}.
 *   backend   sqlite | postgresql (default MARQUEE_TEST_BACKEND)
 *   store     an existing makeStore() result to serve (kept on stop); default: a fresh one,
 *             released on stop
 *   env       extra environment
 *   args      extra flags after the defaults
 *   listen    default '127.0.0.1:0'; null leaves --listen out (config file / env tests)
 *   logLevel  default 'info'; null leaves --log-level out
 *   command   default 'serve'
 *   readyPort when the log level hides the "listening" line: the port to poll instead
 * Returns {url, port, store, dataDir, child, logs(), stderr(), stdout(), waitForLog(), stop()}.
 */
export async function startServer({
    backend = BACKEND,
    store = null,
    env = {},
    args = [],
    listen = '127.0.0.1:0',
    logLevel = 'info',
    command = 'serve',
    startTimeoutMs = 30000,
    readyPort = null,
} = {}) {
    const ownStore = !store;
    if (!store) store = await makeStore({ backend });
    const argv = [command, ...store.args];
    if (listen !== null) argv.push('--listen', listen);
    if (logLevel !== null) argv.push('--log-level', logLevel);
    argv.push(...args);

    const child = spawn(MARQUEED, argv, { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stderrText = '';
    let stdoutText = '';
    let partial = '';
    const lines = [];
    const waiters = new Set();
    let exitInfo = null;
    const exited = new Promise((resolve) => {
        const ended = (info) => {
            if (exitInfo) return;
            live.delete(child);
            exitInfo = info;
            for (const w of waiters) w.check();
            resolve(exitInfo);
        };
        child.on('close', (code, signal) => ended({ code, signal }));
        // a binary that cannot be started never emits 'close'
        child.on('error', (e) => {
            stderrText += `spawn error: ${e.message}\n`;
            if (child.pid === undefined) ended({ code: null, signal: null, error: e.message });
        });
    });
    child.stdout.setEncoding('utf8').on('data', (d) => (stdoutText += d));
    child.stderr.setEncoding('utf8').on('data', (d) => {
        stderrText += d;
        partial += d;
        let nl;
        while ((nl = partial.indexOf('\n')) >= 0) {
            const line = partial.slice(0, nl);
            partial = partial.slice(nl + 1);
            if (line.trim()) lines.push(parseLine(line));
        }
        for (const w of waiters) w.check();
    });

    /** Resolves with the first log line matching @pred (checking earlier lines too). */
    function waitForLog(pred, timeoutMs = 10000, what = 'log line') {
        return new Promise((resolve, reject) => {
            const w = {
                check() {
                    const hit = lines.find(pred);
                    if (hit) {
                        done();
                        resolve(hit);
                    } else if (exitInfo) {
                        done();
                        reject(new Error(`marqueed exited (${JSON.stringify(exitInfo)}) before ${what}\n${stderrText}`));
                    }
                },
            };
            const timer = setTimeout(() => {
                done();
                reject(new Error(`no ${what} within ${timeoutMs} ms\n${stderrText}`));
            }, timeoutMs);
            function done() {
                clearTimeout(timer);
                waiters.delete(w);
            }
            waiters.add(w);
            w.check();
        });
    }

    let listening = null;
    try {
        if (readyPort) {
            const deadline = Date.now() + startTimeoutMs;
            while (!(await canConnect(readyPort, 500))) {
                if (exitInfo) throw new Error(`marqueed exited (${JSON.stringify(exitInfo)}) before listening\n${stderrText}`);
                if (Date.now() > deadline) throw new Error(`nothing listening on ${readyPort} within ${startTimeoutMs} ms\n${stderrText}`);
                await new Promise((r) => setTimeout(r, 50));
            }
        } else {
            listening = await waitForLog((l) => l.event === 'listening', startTimeoutMs, '"listening" log line');
            assert.equal(typeof listening.port, 'number', `listening line without a port: ${JSON.stringify(listening)}`);
        }
    } catch (e) {
        child.kill('SIGKILL');
        await exited;
        if (ownStore) await store.release().catch(() => {});
        throw e;
    }
    const port = readyPort || listening.port;
    let stopped = null;

    const server = {
        url: `http://127.0.0.1:${port}`,
        port,
        store,
        dataDir: store.dataDir,
        child,
        listening,
        argv,
        logs: () => lines.slice(),
        stderr: () => stderrText,
        stdout: () => stdoutText,
        exited,
        waitForLog,
        /** True once the process has ended (on its own or by stop()). */
        get exitInfo() {
            return exitInfo;
        },
        /**
         * SIGTERM, wait (15 s, then SIGKILL and fail), assert exit code 0 and no sanitizer
         * report, release the store if it was made here. Resolves {code, signal, ms}.
         * Idempotent: later calls return the first call's promise.
         */
        stop({ signal = 'SIGTERM', timeoutMs = 15000 } = {}) {
            if (!stopped) stopped = doStop(signal, timeoutMs);
            return stopped;
        },
    };

    async function doStop(signal, timeoutMs) {
        const t0 = Date.now();
        if (!exitInfo) child.kill(signal);
        let killed = false;
        const timer = setTimeout(() => {
            killed = true;
            child.kill('SIGKILL');
        }, timeoutMs);
        const info = await exited;
        clearTimeout(timer);
        const ms = Date.now() - t0;
        try {
            assert.ok(!killed, `marqueed did not exit within ${timeoutMs} ms of ${signal}\n${stderrText}`);
            assertNoSanitizerReport(stderrText);
            assert.equal(info.code, 0, `marqueed exit status ${info.code} (signal ${info.signal})\n${stderrText}`);
        } finally {
            if (ownStore) await store.release();
        }
        return { ...info, ms };
    }

    return server;
}

/** A TCP port free on 127.0.0.1 at the time of asking. */
export function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.on('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

/**
 * Parses the first HTTP response in @buf. Returns null while incomplete, else
 * {status, reason, headers (lower-case names), body (Buffer), complete, length}.
 * @head: the request was HEAD (no body whatever Content-Length says).
 */
export function parseResponse(buf, { head = false, closed = false } = {}) {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const headText = buf.subarray(0, end).toString('latin1');
    const [statusLine, ...headerLines] = headText.split('\r\n');
    const m = /^HTTP\/\d\.\d (\d{3})(?: (.*))?$/.exec(statusLine);
    if (!m) return { status: null, reason: statusLine, headers: {}, body: buf.subarray(end + 4), complete: true };
    const headers = {};
    for (const h of headerLines) {
        const i = h.indexOf(':');
        if (i <= 0) continue;
        const k = h.slice(0, i).trim().toLowerCase();
        const v = h.slice(i + 1).trim();
        headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
    }
    const status = Number(m[1]);
    const rest = buf.subarray(end + 4);
    let body = rest;
    let complete;
    if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) {
        body = rest.subarray(0, 0);
        complete = true;
    } else if (headers['content-length'] !== undefined) {
        const n = Number(headers['content-length']);
        complete = rest.length >= n;
        body = rest.subarray(0, n);
    } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
        complete = /(^|\r\n)0\r\n\r\n$/.test(rest.toString('latin1')) || closed;
    } else {
        complete = closed;
    }
    return { status, reason: m[2] ?? '', headers, body, complete, rawHead: headText, extra: rest };
}

/**
 * Opens a TCP connection to 127.0.0.1:@port, writes @chunks (Buffers/strings; a number is a
 * pause in ms), and collects what comes back until the server closes, a complete response has
 * arrived (with untilResponse), or @timeoutMs passes.
 * Resolves {response (parseResponse or null), data (Buffer), closed, timedOut, error, ms}.
 */
export function rawRequest(port, chunks, { timeoutMs = 5000, untilResponse = true, head = false, end = false } = {}) {
    if (!Array.isArray(chunks)) chunks = [chunks];
    return new Promise((resolve) => {
        const t0 = Date.now();
        const sock = net.connect({ host: '127.0.0.1', port });
        const got = [];
        let finished = false;
        let closed = false;
        let error = null;
        const timer = setTimeout(() => finish(true), timeoutMs);
        function data() {
            return Buffer.concat(got);
        }
        function finish(timedOut) {
            if (finished) return;
            finished = true;
            clearTimeout(timer);
            const buf = data();
            const response = parseResponse(buf, { head, closed });
            sock.destroy();
            resolve({ response, data: buf, closed, timedOut, error, ms: Date.now() - t0 });
        }
        sock.on('data', (d) => {
            got.push(d);
            if (untilResponse) {
                const r = parseResponse(data(), { head });
                if (r && r.complete) finish(false);
            }
        });
        sock.on('error', (e) => {
            error = e;
        });
        sock.on('close', () => {
            closed = true;
            finish(false);
        });
        sock.on('connect', async () => {
            for (const c of chunks) {
                if (finished || sock.destroyed) return;
                if (typeof c === 'number') {
                    await new Promise((r) => setTimeout(r, c));
                } else {
                    await new Promise((r) => sock.write(c, () => r()));
                }
            }
            if (end && !sock.destroyed) sock.end();
        });
    });
}

/** Resolves when a TCP connect to @port succeeds (true) or is refused / times out (false). */
export function canConnect(port, timeoutMs = 2000) {
    return new Promise((resolve) => {
        const sock = net.connect({ host: '127.0.0.1', port });
        const timer = setTimeout(() => {
            sock.destroy();
            resolve(false);
        }, timeoutMs);
        sock.on('connect', () => {
            clearTimeout(timer);
            sock.destroy();
            resolve(true);
        });
        sock.on('error', () => {
            clearTimeout(timer);
            resolve(false);
        });
    });
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The members every problem+json body carries (spec §27.2). */
export const PROBLEM_MEMBERS = ['code', 'detail', 'instance', 'requestId', 'status', 'title', 'type'];

/**
 * Checks a fetch Response (already read into @body) against spec §27.2 for @status/@code and
 * returns the parsed body. @exact: no members beyond the seven required ones.
 */
export function assertProblem(res, bodyText, { status, code, instance, exact = false }) {
    assert.equal(res.status, status, `status (body: ${bodyText})`);
    const ct = res.headers.get('content-type') || '';
    assert.match(ct, /^application\/problem\+json\b/, `content-type of a ${status}`);
    let body;
    assert.doesNotThrow(() => (body = JSON.parse(bodyText)), `problem body is not JSON: ${bodyText}`);
    if (exact) assert.deepEqual(Object.keys(body).sort(), PROBLEM_MEMBERS, `problem members: ${bodyText}`);
    for (const k of PROBLEM_MEMBERS) assert.ok(k in body, `problem lacks "${k}": ${bodyText}`);
    assert.equal(typeof body.type, 'string');
    assert.doesNotThrow(() => new URL(body.type), `type is not a URL: ${body.type}`);
    assert.ok(body.type.endsWith(`/errors/${code}`), `type ${body.type} does not end in /errors/${code}`);
    assert.equal(typeof body.title, 'string');
    assert.ok(body.title.length > 0, 'empty title');
    assert.equal(body.status, status);
    assert.equal(body.code, code);
    assert.equal(typeof body.detail, 'string');
    if (instance !== undefined) assert.equal(body.instance, instance);
    assert.equal(body.requestId, res.headers.get('x-request-id'), 'requestId = X-Request-Id header');
    return body;
}

/** fetch() + text(), with a timeout; resolves {res, text}. */
export async function get(url, init = {}) {
    try {
        const res = await fetch(url, { signal: AbortSignal.timeout(10000), ...init });
        const text = await res.text();
        return { res, text };
    } catch (e) {
        // undici says only "fetch failed"; the reason is in the cause
        const cause = e.cause ? `: ${e.cause.code || ''} ${e.cause.message || e.cause}` : '';
        throw new Error(`${init.method || 'GET'} ${url}: ${e.message}${cause}`, { cause: e });
    }
}
