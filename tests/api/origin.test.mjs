// SPDX-License-Identifier: MIT
//
// origin.test.mjs — the object store's own endpoint (/store/uploads/…: whole-file and chunked
// PUTs, resuming an interrupted upload, offsets, overflow, concurrent and closed uploads,
// signed and expiring URLs) and the media origin (/media/<sha256>.<ext>: exact bytes, strong
// ETag, immutable caching, byte ranges, conditional requests, signatures checked before the
// object is looked up), as docs/content.md "Upload sessions" and "Object store and media
// origin" describe them (spec §13, §27.5, §32.3).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { makeFixtures, sha256, walk } from './lib/media.mjs';
import { BACKEND, assertProblem, get, makeStore, rawRequest, runMarqueed, startServer } from './lib/server.mjs';

const PASSWORD = 'origin suite passphrase 1';
const JSON_HEADERS = { 'Content-Type': 'application/json' };
const RATE_LIMITS = 'login_ip=10000/60,login_account=10000/60,refresh_user=10000/60,upload=10000/3600,mutation=100000/60';
const LIB = '/v1/library/assets';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** @url with one query parameter replaced (or removed when @value is null). */
function withParam(url, name, value) {
    const u = new URL(url);
    if (value === null) u.searchParams.delete(name);
    else u.searchParams.set(name, value);
    return u.toString();
}

/** A hex string with its last digit changed. */
const flipHex = (h) => h.slice(0, -1) + (h.at(-1) === '0' ? '1' : '0');

describe(`object store and media origin (${BACKEND})`, () => {
    let srv;
    let fx;
    const A = {};
    const B = {};

    const call = (method, p, token, body, headers = {}) =>
        get(`${srv.url}${p}`, {
            method,
            headers: {
                ...(body !== undefined ? JSON_HEADERS : {}),
                ...(token ? { Authorization: `Bearer ${token}` } : {}),
                ...headers,
            },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
    const ok = (r, status = 200) => {
        assert.equal(r.res.status, status, `${r.res.url}: ${r.text}`);
        return JSON.parse(r.text);
    };
    const login = async (email) => ok(await call('POST', '/v1/auth/login', null, { email, password: PASSWORD })).accessToken;
    const createTenant = async (name, email) => {
        const made = await runMarqueed(['create-tenant', '--name', name, '--admin-email', email,
            '--admin-password', PASSWORD, ...srv.store.args]);
        assert.equal(made.code, 0, made.stderr);
        const m = /tenant ([0-9a-f-]{36}) created/.exec(made.stdout);
        assert.ok(m, made.stdout);
        return { tenantId: m[1], email, token: await login(email) };
    };
    const newSession = async (f, extra = {}) =>
        ok(await call('POST', `${LIB}/uploads`, A.token, {
            fileName: f.fileName, contentType: f.contentType, sizeBytes: f.size, checksumSha256: f.sha256, ...extra,
        }), 201);
    /** A session for @size bytes of made-up content (never completed). */
    const rawSession = async (size) =>
        ok(await call('POST', `${LIB}/uploads`, A.token, { fileName: 'blob.jpg', contentType: 'image/jpeg', sizeBytes: size }), 201);
    const put = (url, body, headers = {}) => get(url, { method: 'PUT', body, headers });
    const head = (url, headers = {}) => fetch(url, { method: 'HEAD', headers, signal: AbortSignal.timeout(10000) });
    const range = (first, last, total) => ({ 'Content-Range': `bytes ${first}-${last}/${total}` });
    /** Upload-Offset of HEAD uploadUrl. */
    const offsetOf = async (url) => {
        const h = await head(url);
        assert.equal(h.status, 200, `HEAD ${url}`);
        return Number(h.headers.get('upload-offset'));
    };
    const complete = (uploadId, token = A.token, prefix = LIB) => call('POST', `${prefix}/uploads/${uploadId}/complete`, token);
    const settle = async (assetId) => {
        const deadline = Date.now() + 60000;
        for (;;) {
            const a = ok(await call('GET', `/v1/assets/${assetId}`, A.token));
            if (a.status === 'READY' || a.status === 'FAILED') return a;
            if (Date.now() > deadline) assert.fail(`asset still ${a.status}: ${JSON.stringify(a)}`);
            await sleep(100);
        }
    };
    const uploadReady = async (f, extra) => {
        const s = await newSession(f, extra);
        ok(await put(s.uploadUrl, f.bytes));
        assert.equal(ok(await complete(s.uploadId)).status, 'PROCESSING');
        const a = await settle(s.assetId);
        assert.equal(a.status, 'READY', JSON.stringify(a));
        return a;
    };
    const setClock = async (offsetMs) => {
        const r = await call('POST', '/v1/_test/clock', null, { offsetMs });
        assert.ok(r.res.status >= 200 && r.res.status < 300, `clock: ${r.res.status} ${r.text}`);
    };
    /** The head of a raw PUT of @url (path and query) with @headers. */
    const rawHead = (url, headers) => {
        const u = new URL(url);
        return `PUT ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n` +
            Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
    };
    /** A store problem: status, code and problem+json (a request id is on every answer). */
    const storeProblem = async (res, status, code) => {
        const text = typeof res.text === 'string' ? res.text : await res.text();
        return assertProblem(res.res ?? res, text, { status, code });
    };

    before(async () => {
        [srv, fx] = await Promise.all([
            startServer({ args: ['--test-routes', '--rate-limits', RATE_LIMITS] }),
            makeFixtures(),
        ]);
        Object.assign(A, await createTenant('Origin Alpha', 'admin@origin-alpha.test'));
        Object.assign(B, await createTenant('Origin Bravo', 'admin@origin-bravo.test'));
    });
    after(async () => {
        if (srv && !srv.exitInfo) await setClock(0).catch(() => {});
        await srv?.stop();
    });

    describe('the upload endpoint', () => {
        it('whole-file PUT: 200 {uploadId, receivedBytes, sizeBytes, complete} and Upload-Offset; HEAD before and after', async () => {
            const f = fx.jpeg;
            const s = await newSession(f);
            let h = await head(s.uploadUrl);
            assert.equal(h.status, 200);
            assert.equal(h.headers.get('upload-offset'), '0');
            assert.equal(h.headers.get('upload-length'), String(f.size));
            assert.equal(h.headers.get('range'), null, 'no Range header while nothing is held');
            assert.equal((await h.arrayBuffer()).byteLength, 0);

            const r = await put(s.uploadUrl, f.bytes);
            const body = ok(r);
            assert.deepEqual(body, { uploadId: s.uploadId, receivedBytes: f.size, sizeBytes: f.size, complete: true });
            assert.equal(r.res.headers.get('upload-offset'), String(f.size));
            assert.match(r.res.headers.get('content-type') || '', /^application\/json\b/);
            h = await head(s.uploadUrl);
            assert.equal(h.status, 200);
            assert.equal(h.headers.get('upload-offset'), String(f.size));
            assert.equal(h.headers.get('upload-length'), String(f.size));
            assert.equal(h.headers.get('range'), `bytes=0-${f.size - 1}`);
            // the status query: Content-Range bytes */size and no body
            const q = await put(s.uploadUrl, '', { 'Content-Range': `bytes */${f.size}` });
            assert.deepEqual(ok(q), body);
            assert.equal(q.res.headers.get('upload-offset'), String(f.size));
        });

        it('three Content-Range chunks add up; each answer and HEAD count them; the file is READY', async () => {
            const f = fx.mp4;
            const s = await newSession(f);
            const cuts = [0, 1000, Math.floor(f.size / 2), f.size];
            for (let i = 0; i < 3; i++) {
                const [first, end] = [cuts[i], cuts[i + 1]];
                const r = await put(s.uploadUrl, f.bytes.subarray(first, end), range(first, end - 1, f.size));
                assert.deepEqual(ok(r), { uploadId: s.uploadId, receivedBytes: end, sizeBytes: f.size, complete: end === f.size });
                assert.equal(r.res.headers.get('upload-offset'), String(end));
                const h = await head(s.uploadUrl);
                assert.equal(h.headers.get('upload-offset'), String(end));
                assert.equal(h.headers.get('range'), `bytes=0-${end - 1}`);
            }
            assert.equal(ok(await complete(s.uploadId)).status, 'PROCESSING');
            const a = await settle(s.assetId);
            assert.equal(a.status, 'READY', JSON.stringify(a));
            assert.equal(a.checksumSha256, f.sha256);
        });

        it('an upload cut off mid-body keeps what arrived and resumes from there', async () => {
            const f = fx.mp4;
            const s = await newSession(f);
            const sent = Math.floor(f.size * 0.6);
            // the whole file announced, 60 % of it sent, then the connection drops
            const cut = await rawRequest(srv.port, [
                rawHead(s.uploadUrl, { 'Content-Length': f.size }), f.bytes.subarray(0, sent), 500,
            ], { timeoutMs: 1500 });
            assert.equal(cut.response, null, 'no answer to a request whose body never ended');
            // once marqueed has noticed the broken request, HEAD and the status PUT agree
            let held = null;
            for (let i = 0; i < 100; i++) {
                const q = await put(s.uploadUrl, '', { 'Content-Range': `bytes */${f.size}` });
                if (q.res.status === 409 && JSON.parse(q.text).code === 'UPLOAD_IN_PROGRESS') {
                    await sleep(100);
                    continue;
                }
                const body = ok(q);
                held = body.receivedBytes;
                assert.deepEqual(body, { uploadId: s.uploadId, receivedBytes: held, sizeBytes: f.size, complete: false });
                assert.equal(q.res.headers.get('upload-offset'), String(held));
                break;
            }
            assert.notEqual(held, null, 'the broken upload stayed in progress');
            assert.ok(held > 0 && held <= sent, `kept ${held} of ${sent} bytes`);
            const h = await head(s.uploadUrl);
            assert.equal(h.headers.get('upload-offset'), String(held));
            assert.equal(h.headers.get('upload-length'), String(f.size));
            assert.equal(h.headers.get('range'), `bytes=0-${held - 1}`);
            // complete is refused until the rest is in
            const early = await complete(s.uploadId);
            const p = assertProblem(early.res, early.text, { status: 409, code: 'UPLOAD_INCOMPLETE' });
            assert.equal(p.receivedBytes, held);
            // resume where it stopped
            const r = await put(s.uploadUrl, f.bytes.subarray(held), range(held, f.size - 1, f.size));
            assert.equal(ok(r).complete, true);
            assert.equal(ok(await complete(s.uploadId)).status, 'PROCESSING');
            const a = await settle(s.assetId);
            assert.equal(a.status, 'READY', JSON.stringify(a));
            assert.equal(a.checksumSha256, f.sha256, 'the resumed file is the file');
            const m = await get(a.url);
            assert.equal(m.res.status, 200);
        });

        it('a chunk that does not start at the offset: 409 UPLOAD_OFFSET_MISMATCH, nothing written', async () => {
            const size = 1000;
            const data = randomBytes(size);
            const s = await rawSession(size);
            for (const [first, last] of [[100, 199], [1, 10]]) {
                const r = await put(s.uploadUrl, data.subarray(first, last + 1), range(first, last, size));
                await storeProblem(r, 409, 'UPLOAD_OFFSET_MISMATCH');
                assert.equal(await offsetOf(s.uploadUrl), 0);
            }
            ok(await put(s.uploadUrl, data.subarray(0, 400), range(0, 399, size)));
            for (const [first, last] of [[0, 99], [300, 499], [401, 500], [399, 399]]) {
                const r = await put(s.uploadUrl, data.subarray(first, last + 1), range(first, last, size));
                await storeProblem(r, 409, 'UPLOAD_OFFSET_MISMATCH');
            }
            assert.equal(await offsetOf(s.uploadUrl), 400, 'the offset after refused chunks');
        });

        it('more bytes than sizeBytes: 413 PAYLOAD_TOO_LARGE, and what the request wrote is dropped', async () => {
            const size = 1000;
            const data = randomBytes(size + 500);
            const s = await rawSession(size);
            // with a Content-Length over the size
            let r = await put(s.uploadUrl, data.subarray(0, size + 1));
            await storeProblem(r, 413, 'PAYLOAD_TOO_LARGE');
            assert.equal(await offsetOf(s.uploadUrl), 0);
            // chunked transfer coding: the length is only known once too much has arrived
            const chunked = (buf) => {
                const parts = [];
                for (let i = 0; i < buf.length; i += 256) {
                    const c = buf.subarray(i, i + 256);
                    parts.push(Buffer.concat([Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n')]));
                }
                parts.push(Buffer.from('0\r\n\r\n'));
                return parts;
            };
            const raw = await rawRequest(srv.port, [rawHead(s.uploadUrl, { 'Transfer-Encoding': 'chunked' }), ...chunked(data)]);
            assert.equal(raw.response?.status, 413, raw.data.toString('latin1').slice(0, 500));
            assert.equal(JSON.parse(raw.response.body.toString()).code, 'PAYLOAD_TOO_LARGE');
            let offset = null;
            for (let i = 0; i < 50 && offset !== 0; i++) {
                offset = await offsetOf(s.uploadUrl);
                if (offset !== 0) await sleep(100);
            }
            assert.equal(offset, 0, 'the bytes of a refused request are kept');
            // after 600 good bytes, a chunked body running past the end leaves 600
            ok(await put(s.uploadUrl, data.subarray(0, 600), range(0, 599, size)));
            const over = await rawRequest(srv.port, [
                rawHead(s.uploadUrl, { 'Transfer-Encoding': 'chunked', 'Content-Range': `bytes 600-${size - 1}/${size}` }),
                ...chunked(data.subarray(600, 1300)),
            ]);
            assert.equal(over.response?.status, 413, over.data.toString('latin1').slice(0, 500));
            assert.equal(JSON.parse(over.response.body.toString()).code, 'PAYLOAD_TOO_LARGE');
            assert.equal(await offsetOf(s.uploadUrl), 600);
            // and the upload still completes with the right bytes
            const done = ok(await put(s.uploadUrl, data.subarray(600, size), range(600, size - 1, size)));
            assert.equal(done.complete, true);
        });

        it('a malformed Content-Range: 400 INVALID_CONTENT_RANGE, nothing written', async () => {
            const size = 1000;
            const data = randomBytes(size);
            const s = await rawSession(size);
            for (const [cr, body] of [
                ['bytes 0-9', data.subarray(0, 10)],
                ['bytes=0-9/1000', data.subarray(0, 10)],
                ['bytes 0-9/*', data.subarray(0, 10)],
                ['chars 0-9/1000', data.subarray(0, 10)],
                ['bytes a-b/1000', data.subarray(0, 10)],
                ['bytes 9-0/1000', data.subarray(0, 10)],
                ['bytes -5-9/1000', data.subarray(0, 10)],
                ['bytes 0-9/999', data.subarray(0, 10)], // not the session's size
                ['bytes 0-9/1001', data.subarray(0, 10)],
                ['bytes 0-1000/1000', data], // last byte past the end
                ['bytes 0-9/1000', data.subarray(0, 5)], // the body is not the range
                ['bytes 0-9/1000', data.subarray(0, 20)],
                ['bytes */999', Buffer.alloc(0)],
                ['bytes 0-9/1000, bytes 10-19/1000', data.subarray(0, 20)],
            ]) {
                const r = await put(s.uploadUrl, body, { 'Content-Range': cr });
                assert.equal(r.res.status, 400, `Content-Range "${cr}": ${r.res.status} ${r.text}`);
                await storeProblem(r, 400, 'INVALID_CONTENT_RANGE');
            }
            assert.equal(await offsetOf(s.uploadUrl), 0);
        });

        it('a second PUT while one is running: 409 UPLOAD_IN_PROGRESS; the first one finishes', async () => {
            const f = fx.mp4;
            const s = await newSession(f);
            const half = Math.floor(f.size / 2);
            const first = rawRequest(srv.port, [
                rawHead(s.uploadUrl, { 'Content-Length': f.size }), f.bytes.subarray(0, half), 1500, f.bytes.subarray(half),
            ], { timeoutMs: 15000 });
            await sleep(400);
            const second = await put(s.uploadUrl, f.bytes);
            await storeProblem(second, 409, 'UPLOAD_IN_PROGRESS');
            const r = await first;
            assert.equal(r.response?.status, 200, r.data.toString('latin1').slice(0, 500));
            assert.deepEqual(JSON.parse(r.response.body.toString()),
                { uploadId: s.uploadId, receivedBytes: f.size, sizeBytes: f.size, complete: true });
            assert.equal(ok(await complete(s.uploadId)).status, 'PROCESSING');
            assert.equal((await settle(s.assetId)).checksumSha256, f.sha256);
        });

        it('an answered PUT is finished: the next chunk or complete sent at once never meets UPLOAD_IN_PROGRESS', async () => {
            const f = fx.jpeg;
            const third = Math.floor(f.size / 3);
            const cuts = [0, third, 2 * third, f.size];
            const seen = [];
            for (let round = 0; round < 25; round++) {
                const s = await newSession(f, { checksumSha256: undefined });
                for (let i = 0; i < 3; i++) {
                    const r = await put(s.uploadUrl, f.bytes.subarray(cuts[i], cuts[i + 1]), range(cuts[i], cuts[i + 1] - 1, f.size));
                    if (r.res.status !== 200) seen.push(`round ${round} chunk ${i}: ${r.res.status} ${r.text}`);
                }
                const c = await complete(s.uploadId);
                if (c.res.status !== 200) seen.push(`round ${round} complete: ${c.res.status} ${c.text}`);
            }
            assert.deepEqual(seen, [], 'sequential requests refused');
        });

        it('after complete: 409 UPLOAD_CLOSED', async () => {
            const f = fx.png;
            const s = await newSession(f);
            ok(await put(s.uploadUrl, f.bytes));
            ok(await complete(s.uploadId));
            let r = await put(s.uploadUrl, f.bytes);
            await storeProblem(r, 409, 'UPLOAD_CLOSED');
            r = await put(s.uploadUrl, f.bytes.subarray(0, 10), range(0, 9, f.size));
            await storeProblem(r, 409, 'UPLOAD_CLOSED');
            const a = await settle(s.assetId);
            assert.equal(a.status, 'READY');
            assert.equal(a.checksumSha256, f.sha256, 'the refused PUTs changed nothing');
        });

        it('a missing or tampered signature, path or expiry: 403 SIGNATURE_INVALID, for PUT and HEAD', async () => {
            const f = fx.jpeg;
            const s = await newSession(f);
            const other = await newSession(f);
            const u = new URL(s.uploadUrl);
            const sig = u.searchParams.get('signature');
            const exp = u.searchParams.get('expires');
            const otherPath = new URL(other.uploadUrl);
            otherPath.searchParams.set('signature', sig);
            otherPath.searchParams.set('expires', exp);
            const bad = [
                withParam(s.uploadUrl, 'signature', flipHex(sig)),
                withParam(s.uploadUrl, 'signature', `${sig}aa`),
                withParam(s.uploadUrl, 'signature', ''),
                withParam(s.uploadUrl, 'signature', null),
                withParam(s.uploadUrl, 'expires', String(Number(exp) + 1)),
                withParam(s.uploadUrl, 'expires', String(Number(exp) + 86400)),
                withParam(s.uploadUrl, 'expires', null),
                `${u.origin}${u.pathname}`,
                otherPath.toString(), // another upload's path with this signature
                `${u.origin}/store/uploads/00000000-0000-4000-8000-000000000000${u.search}`,
            ];
            for (const url of bad) {
                const r = await put(url, f.bytes);
                await storeProblem(r, 403, 'SIGNATURE_INVALID');
                const h = await head(url);
                assert.equal(h.status, 403, `HEAD ${url}`);
            }
            assert.equal(await offsetOf(s.uploadUrl), 0, 'a refused PUT wrote nothing');
            assert.equal(await offsetOf(other.uploadUrl), 0);
            assert.equal(ok(await put(s.uploadUrl, f.bytes)).complete, true);
        });

        it('an expired upload URL (marqueed\'s clock +2 h): 403 SIGNATURE_EXPIRED', async () => {
            const f = fx.jpeg;
            const s = await newSession(f);
            await setClock(2 * 3600e3);
            try {
                const r = await put(s.uploadUrl, f.bytes);
                await storeProblem(r, 403, 'SIGNATURE_EXPIRED');
                const h = await head(s.uploadUrl);
                assert.equal(h.status, 403);
            } finally {
                await setClock(0);
            }
            assert.equal(await offsetOf(s.uploadUrl), 0);
        });

        it('another tenant cannot complete this tenant\'s upload (404); its owner still can', async () => {
            const f = fx.jpeg;
            const s = await newSession(f);
            ok(await put(s.uploadUrl, f.bytes));
            for (const p of [`${LIB}/uploads/${s.uploadId}/complete`, `/v1/assets/uploads/${s.uploadId}/complete`]) {
                const r = await call('POST', p, B.token);
                assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            }
            const g = await call('GET', `/v1/assets/${s.assetId}`, B.token);
            assertProblem(g.res, g.text, { status: 404, code: 'NOT_FOUND' });
            assert.equal(ok(await call('GET', `/v1/assets/${s.assetId}`, A.token)).status, 'UPLOADING');
            assert.equal(ok(await complete(s.uploadId)).status, 'PROCESSING');
        });
    });

    describe('the media origin', () => {
        const ready = {}; // mp4, jpeg, png: READY assets
        before(async () => {
            [ready.mp4, ready.jpeg, ready.png] = await Promise.all([
                uploadReady(fx.mp4), uploadReady(fx.jpeg), uploadReady(fx.png),
            ]);
        });

        const assertMediaHeaders = (res, f, contentType) => {
            assert.equal(res.headers.get('etag'), `"${f.sha256}"`);
            assert.equal(res.headers.get('accept-ranges'), 'bytes');
            assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
            assert.equal(res.headers.get('content-type'), contentType);
            const cc = (res.headers.get('cache-control') || '').split(',').map((d) => d.trim().toLowerCase());
            assert.ok(cc.includes('public'), `Cache-Control ${cc}`);
            assert.ok(cc.includes('immutable'), `Cache-Control ${cc}`);
            const ma = cc.map((d) => /^max-age=(\d+)$/.exec(d)).find(Boolean);
            assert.ok(ma, `Cache-Control without max-age: ${cc}`);
            const maxAge = Number(ma[1]);
            const expires = Number(new URL(res.url).searchParams.get('expires'));
            const left = expires - Date.now() / 1000;
            assert.ok(maxAge > 0 && Math.abs(maxAge - left) <= 5, `max-age ${maxAge}, the URL expires in ${left} s`);
        };

        it('GET: 200, the exact bytes, ETag "<sha256>", Accept-Ranges, immutable caching, nosniff — no token', async () => {
            for (const [name, ct] of [['mp4', 'video/mp4'], ['jpeg', 'image/jpeg'], ['png', 'image/png']]) {
                const f = fx[name];
                const res = await fetch(ready[name].url);
                assert.equal(res.status, 200);
                assertMediaHeaders(res, f, ct);
                const body = Buffer.from(await res.arrayBuffer());
                assert.equal(res.headers.get('content-length'), String(f.size));
                assert.ok(body.equals(f.bytes), `${name}: not the uploaded bytes`);
            }
            const th = await fetch(ready.mp4.thumbnailUrl);
            assert.equal(th.status, 200);
            assert.equal(th.headers.get('content-type'), 'image/jpeg');
            const tb = Buffer.from(await th.arrayBuffer());
            assert.equal(th.headers.get('etag'), `"${sha256(tb)}"`, 'the thumbnail is named by its own SHA-256');
            assert.equal(new URL(ready.mp4.thumbnailUrl).pathname, `/media/${sha256(tb)}.jpg`);
        });

        it('HEAD: the same headers, no body', async () => {
            const f = fx.mp4;
            const res = await fetch(ready.mp4.url, { method: 'HEAD' });
            assert.equal(res.status, 200);
            assertMediaHeaders(res, f, 'video/mp4');
            assert.equal(res.headers.get('content-length'), String(f.size));
            assert.equal((await res.arrayBuffer()).byteLength, 0);
            const raw = await rawRequest(srv.port, [`HEAD ${new URL(ready.mp4.url).pathname}${new URL(ready.mp4.url).search} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
                { head: true, untilResponse: false, timeoutMs: 3000 });
            assert.equal(raw.response.status, 200);
            assert.equal(raw.response.extra.length, 0, 'HEAD sent a body');
        });

        it('one Range: 206 with Content-Range and the exact slice; suffix, open and clipped ranges', async () => {
            const f = fx.mp4;
            const n = f.size;
            for (const [spec, first, last] of [
                ['bytes=0-99', 0, 99],
                ['bytes=-100', n - 100, n - 1],
                ['bytes=100-', 100, n - 1],
                ['bytes=1000-1000', 1000, 1000],
                [`bytes=${n - 10}-${n + 5000}`, n - 10, n - 1],
                [`bytes=0-${n * 2}`, 0, n - 1],
            ]) {
                const res = await fetch(ready.mp4.url, { headers: { Range: spec } });
                assert.equal(res.status, 206, spec);
                assert.equal(res.headers.get('content-range'), `bytes ${first}-${last}/${n}`, spec);
                assert.equal(res.headers.get('content-type'), 'video/mp4');
                assert.equal(res.headers.get('etag'), `"${f.sha256}"`);
                const body = Buffer.from(await res.arrayBuffer());
                assert.equal(res.headers.get('content-length'), String(last - first + 1), spec);
                assert.ok(body.equals(f.bytes.subarray(first, last + 1)), `${spec}: wrong bytes`);
            }
        });

        it('an unsatisfiable Range: 416 with Content-Range bytes */size; several ranges: the whole file', async () => {
            const f = fx.mp4;
            for (const spec of ['bytes=999999999-', `bytes=${f.size}-`]) {
                const res = await fetch(ready.mp4.url, { headers: { Range: spec } });
                assert.equal(res.status, 416, spec);
                assert.equal(res.headers.get('content-range'), `bytes */${f.size}`);
                await res.arrayBuffer();
            }
            const res = await fetch(ready.mp4.url, { headers: { Range: 'bytes=0-9,20-29' } });
            assert.equal(res.status, 200);
            const body = Buffer.from(await res.arrayBuffer());
            assert.ok(body.equals(f.bytes));
        });

        it('If-None-Match → 304; If-Range with another ETag → 200 whole, with this one → 206', async () => {
            const f = fx.mp4;
            const etag = `"${f.sha256}"`;
            let res = await fetch(ready.mp4.url, { headers: { 'If-None-Match': etag } });
            assert.equal(res.status, 304);
            assert.equal(res.headers.get('etag'), etag);
            assert.equal((await res.arrayBuffer()).byteLength, 0);
            res = await fetch(ready.mp4.url, { headers: { 'If-None-Match': `"${'0'.repeat(64)}", ${etag}` } });
            assert.equal(res.status, 304);
            await res.arrayBuffer();
            res = await fetch(ready.mp4.url, { headers: { 'If-None-Match': `"${'0'.repeat(64)}"` } });
            assert.equal(res.status, 200);
            assert.equal(Buffer.from(await res.arrayBuffer()).length, f.size);
            res = await fetch(ready.mp4.url, { method: 'HEAD', headers: { 'If-None-Match': etag } });
            assert.equal(res.status, 304);

            res = await fetch(ready.mp4.url, { headers: { Range: 'bytes=0-99', 'If-Range': `"${'1'.repeat(64)}"` } });
            assert.equal(res.status, 200);
            assert.ok(Buffer.from(await res.arrayBuffer()).equals(f.bytes));
            res = await fetch(ready.mp4.url, { headers: { Range: 'bytes=0-99', 'If-Range': etag } });
            assert.equal(res.status, 206);
            assert.ok(Buffer.from(await res.arrayBuffer()).equals(f.bytes.subarray(0, 100)));
        });

        it('a tampered, missing or expired media signature is 403; the signature is checked before the object', async () => {
            const url = ready.mp4.url;
            const u = new URL(url);
            const sig = u.searchParams.get('signature');
            const exp = u.searchParams.get('expires');
            const thumbPath = new URL(ready.mp4.thumbnailUrl).pathname;
            const bad = [
                withParam(url, 'signature', flipHex(sig)),
                withParam(url, 'signature', null),
                withParam(url, 'expires', String(Number(exp) + 3600)),
                withParam(url, 'expires', null),
                `${u.origin}${u.pathname}`,
                `${u.origin}${u.pathname.replace(/\.mp4$/, '.png')}${u.search}`, // another extension
                `${u.origin}${thumbPath}${u.search}`, // another object with this signature
                `${u.origin}/media/${ready.jpeg.checksumSha256}.jpg${u.search}`,
                // an object that does not exist, with a signature of the right form: 403, not 404
                `${u.origin}/media/${'0'.repeat(64)}.mp4?expires=${exp}&signature=${randomBytes(32).toString('hex')}`,
                `${u.origin}/media/${'0'.repeat(64)}.mp4`,
            ];
            for (const b of bad) {
                const res = await fetch(b);
                const text = await res.text();
                assertProblem(res, text, { status: 403, code: 'SIGNATURE_INVALID' });
                const h = await fetch(b, { method: 'HEAD' });
                assert.equal(h.status, 403, `HEAD ${b}`);
            }
            // not a way out of the object store either
            for (const p of ['/media/..%2Fmarquee.db', '/media/../marquee.db', `/media/%2e%2e%2f%2e%2e%2fetc%2fpasswd?expires=${exp}&signature=${sig}`]) {
                const raw = await rawRequest(srv.port, [`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`], { untilResponse: false });
                assert.ok(raw.response && raw.response.status >= 400 && raw.response.status < 500, `${p}: ${raw.response?.status}`);
                assert.ok(!raw.data.includes(Buffer.from('SQLite format')) && !raw.data.includes(Buffer.from('root:')), `${p} served a file`);
            }
            // marqueed's clock a day and more ahead: the URL has expired
            await setClock(26 * 3600e3);
            try {
                const res = await fetch(url);
                assertProblem(res, await res.text(), { status: 403, code: 'SIGNATURE_EXPIRED' });
                const h = await fetch(url, { method: 'HEAD' });
                assert.equal(h.status, 403);
            } finally {
                await setClock(0);
            }
            assert.equal((await fetch(url)).status, 200, 'valid again on the real clock');
        });

        it('the same asset keeps the same URL within the hour; identical files are stored once', async () => {
            const again = ok(await call('GET', `/v1/assets/${ready.jpeg.assetId}`, A.token));
            const e1 = Number(new URL(ready.jpeg.url).searchParams.get('expires'));
            const e2 = Number(new URL(again.url).searchParams.get('expires'));
            // (unless the hour turned between the two reads)
            if (e1 === e2) assert.equal(again.url, ready.jpeg.url);
            else assert.equal(e2 - e1, 3600);
            const twin = await uploadReady(fx.jpeg, { displayName: 'the same bytes again' });
            assert.notEqual(twin.assetId, ready.jpeg.assetId);
            assert.equal(new URL(twin.url).pathname, new URL(ready.jpeg.url).pathname);
            const objects = (await walk(path.join(srv.dataDir, 'objects'))).map((f) => f.path).filter((p) => p.includes(fx.jpeg.sha256));
            assert.equal(objects.length, 1, `objects named by the SHA-256: ${objects}`);
            assert.ok((await readFile(objects[0])).equals(fx.jpeg.bytes));
            // deleting one of the two does not take the other's file
            const del = await call('DELETE', `${LIB}/${twin.assetId}`, A.token);
            assert.equal(del.res.status, 204, del.text);
            assert.equal((await fetch(ready.jpeg.url)).status, 200);
        });

        it('the media signing key is generated into the data dir', async () => {
            await access(path.join(srv.dataDir, 'media-signing.key'));
        });
    });
});

describe(`media_public_url, media_url_ttl_s, media_signing_key (${BACKEND})`, () => {
    let srv;
    let fx;
    let mediaUrl; // the READY asset's URL, minted on the CDN
    const CDN = 'http://cdn.example.test:8443';
    const KEY = randomBytes(32).toString('base64url');

    before(async () => {
        [srv, fx] = await Promise.all([
            startServer({ args: ['--media-public-url', CDN, '--media-url-ttl-s', '60', '--media-signing-key', KEY,
                '--rate-limits', RATE_LIMITS] }),
            makeFixtures(),
        ]);
    });
    after(async () => {
        await srv?.stop();
    });

    it('media URLs are minted on media_public_url, expire on the next hour; marqueed serves them as the origin', async () => {
        const made = await runMarqueed(['create-tenant', '--name', 'CDN Tenant', '--admin-email', 'admin@cdn.test',
            '--admin-password', PASSWORD, ...srv.store.args]);
        assert.equal(made.code, 0, made.stderr);
        const lr = await get(`${srv.url}/v1/auth/login`, { method: 'POST', headers: JSON_HEADERS,
            body: JSON.stringify({ email: 'admin@cdn.test', password: PASSWORD }) });
        assert.equal(lr.res.status, 200, lr.text);
        const auth = { Authorization: `Bearer ${JSON.parse(lr.text).accessToken}` };
        const f = fx.jpeg;
        const sr = await get(`${srv.url}${LIB}/uploads`, { method: 'POST', headers: { ...JSON_HEADERS, ...auth },
            body: JSON.stringify({ fileName: f.fileName, contentType: f.contentType, sizeBytes: f.size }) });
        assert.equal(sr.res.status, 201, sr.text);
        const s = JSON.parse(sr.text);
        assert.equal(new URL(s.uploadUrl).origin, srv.url, 'uploads go to marqueed, not the CDN');
        assert.equal((await get(s.uploadUrl, { method: 'PUT', body: f.bytes })).res.status, 200);
        const c = await get(`${srv.url}${LIB}/uploads/${s.uploadId}/complete`, { method: 'POST', headers: auth });
        assert.equal(c.res.status, 200, c.text);
        let a;
        for (let i = 0; i < 600; i++) {
            a = JSON.parse((await get(`${srv.url}/v1/assets/${s.assetId}`, { headers: auth })).text);
            if (a.status === 'READY' || a.status === 'FAILED') break;
            await sleep(100);
        }
        assert.equal(a.status, 'READY', JSON.stringify(a));
        const u = new URL(a.url);
        assert.equal(u.origin, CDN);
        assert.equal(u.pathname, `/media/${f.sha256}.jpg`);
        assert.equal(new URL(a.thumbnailUrl).origin, CDN);
        const exp = Number(u.searchParams.get('expires'));
        const now = Date.now() / 1000;
        assert.equal(exp % 3600, 0, 'rounded up to the hour');
        assert.ok(exp >= now + 60 - 2 && exp <= now + 3600 + 60, `expires ${exp}, now ${now}`);
        assert.equal(Date.parse(a.urlExpiresAtUtc), exp * 1000);
        const res = await fetch(`${srv.url}${u.pathname}${u.search}`);
        assert.equal(res.status, 200);
        assert.ok(Buffer.from(await res.arrayBuffer()).equals(f.bytes));
        const ma = /max-age=(\d+)/.exec(res.headers.get('cache-control') || '');
        assert.ok(ma && Number(ma[1]) > 0 && Number(ma[1]) <= 3600 + 60, res.headers.get('cache-control'));
        mediaUrl = a.url;
        assert.ok(!(await walk(srv.dataDir)).some((f) => path.basename(f.path) === 'media-signing.key'),
            'a key file generated although media_signing_key is set');
    });

    it('instances sharing media_signing_key accept each other\'s URLs; another key does not; a short key is refused', async () => {
        assert.ok(mediaUrl, 'needs the READY asset of the test before');
        const u = new URL(mediaUrl);
        // a second instance (its own, empty store) with the same key: the signature is good,
        // the object is not there (404); with another key the signature is refused (403)
        const same = await startServer({ args: ['--media-signing-key', KEY] });
        try {
            const r = await get(`${same.url}${u.pathname}${u.search}`);
            assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
        } finally {
            await same.stop();
        }
        const other = await startServer({ args: ['--media-signing-key', randomBytes(32).toString('base64url')] });
        try {
            const r = await get(`${other.url}${u.pathname}${u.search}`);
            assertProblem(r.res, r.text, { status: 403, code: 'SIGNATURE_INVALID' });
        } finally {
            await other.stop();
        }
        // base64url of fewer than 32 bytes: marqueed does not start
        const store = await makeStore();
        try {
            const short = await runMarqueed(['serve', ...store.args, '--listen', '127.0.0.1:0',
                '--media-signing-key', randomBytes(16).toString('base64url')], { timeoutMs: 15000 });
            assert.notEqual(short.code, 0, 'marqueed served with a 16-byte media signing key');
        } finally {
            await store.release();
        }
    });
});
