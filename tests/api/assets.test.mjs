// SPDX-License-Identifier: MIT
//
// assets.test.mjs — the content API of docs/content.md (spec §6, §13, §14, §27.5, §27.6):
// upload sessions and their validation, complete, processing to READY with the real file's
// metadata and a thumbnail, every processing failure of §13.2 with exactly its reason, lists
// with filters and cursor pages, who may see / upload / delete what (a venue sees the shared
// library and its own assets; another venue's or tenant's asset is 404, never 403), the
// §13.5 timeouts on marqueed's injectable clock (test routes), and processing picked up again
// after a restart. The media files are made at test time (lib/media.mjs).
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { FIXTURE_EXPECT, FIXTURE_NAMES, makeFixtures, probe, sha256, walk } from './lib/media.mjs';
import { BACKEND, UUID_RE, assertProblem, get, makeStore, startServer } from './lib/server.mjs';
import { apiClient } from './lib/client.mjs';

const PASSWORD = 'content suite passphrase 1';
const RATE_LIMITS = 'login_ip=10000/60,login_account=10000/60,refresh_user=10000/60,upload=10000/3600,mutation=100000/60';
const MAX_UPLOAD = 209715200; // docs/content.md default max_upload_bytes
const TS_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/;
const HEX64 = /^[0-9a-f]{64}$/;
const ASSET_MEMBERS = [
    'assetId', 'scope', 'venueId', 'type', 'status', 'displayName', 'fileName', 'contentType',
    'sizeBytes', 'checksumSha256', 'width', 'height', 'durationMs', 'videoCodec', 'audioCodec',
    'bitrateBps', 'frameRate', 'failureReason', 'failureDetail', 'failedAtUtc', 'url',
    'thumbnailUrl', 'urlExpiresAtUtc', 'createdAtUtc', 'updatedAtUtc', 'readyAtUtc',
];
const LIB = '/v1/library/assets';
const venueAssets = (venueId) => `/v1/venues/${venueId}/assets`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The files under @dir holding exactly @bytes. */
async function filesWithContent(dir, bytes) {
    const hits = [];
    const want = sha256(bytes);
    for (const f of await walk(dir)) {
        if (!f.isFile || f.size !== bytes.length) continue;
        const data = await readFile(f.path).catch(() => null);
        if (data && sha256(data) === want) hits.push(f.path);
    }
    return hits;
}

/**
 * The API client of one server: users, sessions, uploads, polling. @srv is read through a
 * getter so a suite may swap servers (restart).
 */
function client(getSrv) {
    const { call, ok, login, createTenant, createVenue, createUser } = apiClient(getSrv, PASSWORD);
    /** POST {prefix}/uploads → the raw answer. */
    const session = (token, prefix, body) => call('POST', `${prefix}/uploads`, token, body);
    /** A 201 session for @fx (a fixture) or explicit members. */
    const newSession = async (token, prefix, fx, extra = {}) => {
        const body = fx
            ? { fileName: fx.fileName, contentType: fx.contentType, sizeBytes: fx.size, checksumSha256: fx.sha256, ...extra }
            : extra;
        for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
        return ok(await session(token, prefix, body), 201);
    };
    const put = (url, bytes, headers = {}) => get(url, { method: 'PUT', body: bytes, headers });
    const complete = (token, prefix, uploadId) => call('POST', `${prefix}/uploads/${uploadId}/complete`, token);
    const asset = (token, assetId) => call('GET', `/v1/assets/${assetId}`, token);
    /** Polls GET /v1/assets/{id} every 100 ms (60 s at most) until READY or FAILED. */
    const settle = async (token, assetId, timeoutMs = 60000) => {
        const deadline = Date.now() + timeoutMs;
        let last;
        for (;;) {
            last = ok(await asset(token, assetId));
            if (last.status === 'READY' || last.status === 'FAILED') return last;
            assert.ok(['UPLOADING', 'PROCESSING'].includes(last.status), `status ${last.status}`);
            if (Date.now() > deadline) assert.fail(`asset ${assetId} still ${last.status} after ${timeoutMs} ms: ${JSON.stringify(last)}`);
            await sleep(100);
        }
    };
    /** Session, whole-file PUT, complete (200 PROCESSING): the asset as complete answered. */
    const send = async (token, prefix, fx, extra = {}, bytes = fx.bytes) => {
        const s = await newSession(token, prefix, fx, extra);
        const p = ok(await put(s.uploadUrl, bytes));
        assert.equal(p.complete, true, JSON.stringify(p));
        const c = ok(await complete(token, prefix, s.uploadId));
        assert.equal(c.status, 'PROCESSING', JSON.stringify(c));
        return { session: s, completed: c };
    };
    /** send() then settle(): {session, asset}. */
    const upload = async (token, prefix, fx, extra = {}, bytes = fx.bytes) => {
        const { session: s } = await send(token, prefix, fx, extra, bytes);
        return { session: s, asset: await settle(token, s.assetId) };
    };
    /** Every page of a list (limit per page), following nextCursor. */
    const list = async (p, token, limit = 200) => {
        const seen = [];
        let cursor = null;
        for (let pages = 0; pages < 500; pages++) {
            const sep = p.includes('?') ? '&' : '?';
            const body = ok(await call('GET', `${p}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token));
            assert.ok(Array.isArray(body.items), JSON.stringify(body));
            assert.ok(body.items.length <= limit, `page of ${body.items.length} > limit ${limit}`);
            assert.ok('nextCursor' in body, 'nextCursor member');
            seen.push(...body.items);
            if (!body.nextCursor) return seen;
            cursor = body.nextCursor;
        }
        assert.fail('more than 500 pages');
    };
    const testRoute = async (p, body) => {
        const r = await call('POST', p, null, body);
        assert.ok(r.res.status >= 200 && r.res.status < 300, `${p}: ${r.res.status} ${r.text}`);
        return r.text ? JSON.parse(r.text) : null;
    };
    const setClock = (offsetMs) => testRoute('/v1/_test/clock', { offsetMs });
    const runJob = (name) => testRoute(`/v1/_test/jobs/${name}`, {});
    return { call, ok, login, createTenant, createVenue, createUser, session, newSession, put, complete, asset, settle, send, upload, list, setClock, runJob };
}

/** Every member present, and the invariants of docs/content.md "The asset representation". */
function assertAssetShape(a) {
    for (const k of ASSET_MEMBERS) assert.ok(k in a, `asset lacks "${k}": ${JSON.stringify(a)}`);
    assert.match(a.assetId, UUID_RE);
    assert.ok(['TENANT', 'VENUE'].includes(a.scope), a.scope);
    if (a.scope === 'TENANT') assert.equal(a.venueId, null);
    else assert.match(a.venueId, UUID_RE);
    assert.ok(['IMAGE', 'VIDEO'].includes(a.type), a.type);
    assert.ok(['UPLOADING', 'PROCESSING', 'READY', 'FAILED'].includes(a.status), a.status);
    assert.match(a.createdAtUtc, TS_RE);
    assert.match(a.updatedAtUtc, TS_RE);
    assert.ok(a.updatedAtUtc >= a.createdAtUtc);
    if (a.status === 'READY') {
        assert.equal(typeof a.url, 'string');
        assert.equal(typeof a.thumbnailUrl, 'string');
        assert.match(a.urlExpiresAtUtc, TS_RE);
        assert.match(a.readyAtUtc, TS_RE);
    } else {
        assert.equal(a.url, null, 'url only when READY');
        assert.equal(a.thumbnailUrl, null, 'thumbnailUrl only when READY');
        assert.equal(a.urlExpiresAtUtc, null, 'urlExpiresAtUtc only when READY');
        assert.equal(a.readyAtUtc, null, 'readyAtUtc only when READY');
    }
    if (a.status === 'FAILED') {
        assert.equal(typeof a.failureReason, 'string');
        assert.equal(typeof a.failureDetail, 'string');
        assert.match(a.failedAtUtc, TS_RE);
    } else {
        assert.equal(a.failureReason, null);
        assert.equal(a.failureDetail, null);
        assert.equal(a.failedAtUtc, null);
    }
}

/** failureDetail: a sentence for a phone screen, never a path on the server. */
function assertFailureDetail(a, srv, fixtureDir) {
    const d = a.failureDetail;
    assert.equal(typeof d, 'string');
    assert.ok(d.trim().length > 0, 'empty failureDetail');
    assert.ok(d.length < 200, `failureDetail of ${d.length} characters: ${d}`);
    for (const p of [srv.dataDir, fixtureDir, path.dirname(srv.dataDir), '/uploads/', '/objects/', '/tmp/', '/proc/']) {
        if (p) assert.ok(!d.includes(p), `failureDetail names a path (${p}): ${d}`);
    }
    assert.ok(!/(^|[\s(:'"])\/[\w.-]+\/[\w.-]+/.test(d), `failureDetail holds a path: ${d}`);
}

describe(`assets (${BACKEND})`, () => {
    let srv;
    let fx; // the fixtures
    const api = client(() => srv);
    const A = {}; // tenant A: admin token, venues V1 V2, users
    const B = {}; // tenant B

    before(async () => {
        [srv, fx] = await Promise.all([
            startServer({ args: ['--rate-limits', RATE_LIMITS] }),
            makeFixtures(),
        ]);
        Object.assign(A, await api.createTenant('Alpha Content', 'admin@alpha-content.test'));
        Object.assign(B, await api.createTenant('Bravo Content', 'admin@bravo-content.test'));
        A.V1 = await api.createVenue(A, 'Venue One');
        A.V2 = await api.createVenue(A, 'Venue Two');
        A.editor = await api.createUser(A, 'editor1@alpha-content.test', { venueRoles: [{ venueId: A.V1, role: 'VENUE_EDITOR' }] });
        A.viewer = await api.createUser(A, 'viewer1@alpha-content.test', { venueRoles: [{ venueId: A.V1, role: 'VENUE_VIEWER' }] });
        A.editor2 = await api.createUser(A, 'editor2@alpha-content.test', { venueRoles: [{ venueId: A.V2, role: 'VENUE_EDITOR' }] });
        A.librarian = await api.createUser(A, 'librarian@alpha-content.test', {
            capabilities: ['EDIT_SHARED_LIBRARY'], venueRoles: [{ venueId: A.V1, role: 'VENUE_EDITOR' }],
        });
    });
    after(async () => {
        await srv?.stop();
    });

    describe('upload sessions', () => {
        it('201: uploadId, assetId, a signed /store/uploads/ URL valid 60 minutes; the asset is UPLOADING', async () => {
            const t0 = Date.now();
            const r = await api.session(A.token, LIB, {
                fileName: 'summer-menu.mp4', contentType: 'video/mp4', sizeBytes: fx.mp4.size,
                checksumSha256: fx.mp4.sha256, displayName: 'Summer menu',
            });
            const s = api.ok(r, 201);
            assert.match(r.res.headers.get('content-type') || '', /^application\/json\b/);
            assert.match(s.uploadId, UUID_RE);
            assert.match(s.assetId, UUID_RE);
            const u = new URL(s.uploadUrl);
            assert.equal(u.origin, srv.url, 'uploadUrl on public_url');
            assert.equal(u.pathname, `/store/uploads/${s.uploadId}`);
            assert.match(u.searchParams.get('expires') || '', /^\d+$/);
            assert.match(u.searchParams.get('signature') || '', /^[0-9a-fA-F]{64}$/, 'an HMAC-SHA256 signature');
            assert.match(s.expiresAtUtc, TS_RE);
            const exp = Date.parse(s.expiresAtUtc);
            assert.ok(exp >= t0 + 59 * 60e3 && exp <= Date.now() + 61 * 60e3, `expiresAtUtc ${s.expiresAtUtc}`);
            const urlExp = Number(u.searchParams.get('expires')) * 1000;
            assert.ok(Math.abs(urlExp - exp) <= 1000, `the URL expires with the session (${urlExp} vs ${exp})`);

            for (const p of [`${LIB}/${s.assetId}`, `/v1/assets/${s.assetId}`]) {
                const a = api.ok(await api.call('GET', p, A.token));
                assertAssetShape(a);
                assert.equal(a.assetId, s.assetId);
                assert.equal(a.status, 'UPLOADING');
                assert.equal(a.scope, 'TENANT');
                assert.equal(a.venueId, null);
                assert.equal(a.type, 'VIDEO', 'type from the declared content type');
                assert.equal(a.contentType, 'video/mp4');
                assert.equal(a.displayName, 'Summer menu');
                assert.equal(a.fileName, 'summer-menu.mp4');
                assert.equal(a.sizeBytes, fx.mp4.size);
            }
            // no display name: still a non-empty string
            const s2 = await api.newSession(A.token, LIB, fx.jpeg);
            const a2 = api.ok(await api.asset(A.token, s2.assetId));
            assert.equal(a2.type, 'IMAGE');
            assert.equal(typeof a2.displayName, 'string');
            assert.ok(a2.displayName.length > 0);
            assert.notEqual(s2.uploadId, s.uploadId);
            assert.notEqual(s2.assetId, s.assetId);
        });

        it('a venue session makes a VENUE asset of that venue', async () => {
            const s = await api.newSession(A.editor.token, venueAssets(A.V1), fx.jpeg, { displayName: 'V1 still' });
            assert.equal(new URL(s.uploadUrl).pathname, `/store/uploads/${s.uploadId}`);
            const a = api.ok(await api.call('GET', `${venueAssets(A.V1)}/${s.assetId}`, A.editor.token));
            assertAssetShape(a);
            assert.equal(a.scope, 'VENUE');
            assert.equal(a.venueId, A.V1);
            assert.equal(a.status, 'UPLOADING');
        });

        it('400 for missing, mistyped and unknown members; 0 bytes; other content types; bad checksums', async () => {
            const good = { fileName: 'a.jpg', contentType: 'image/jpeg', sizeBytes: 1000 };
            const cases = [
                [{ contentType: 'image/jpeg', sizeBytes: 1000 }, 'FIELD_REQUIRED', 'fileName'],
                [{ fileName: 'a.jpg', sizeBytes: 1000 }, 'FIELD_REQUIRED', 'contentType'],
                [{ fileName: 'a.jpg', contentType: 'image/jpeg' }, 'FIELD_REQUIRED', 'sizeBytes'],
                [{ ...good, fileName: 7 }, 'INVALID_FIELD', 'fileName'],
                [{ ...good, fileName: '' }, 'INVALID_FIELD', 'fileName'],
                [{ ...good, fileName: 'bad\nname.jpg' }, 'INVALID_FIELD', 'fileName'],
                [{ ...good, fileName: 'tab\tname.jpg' }, 'INVALID_FIELD', 'fileName'],
                [{ ...good, fileName: 'nul\u0000name.jpg' }, 'INVALID_FIELD', 'fileName'],
                [{ ...good, fileName: '\u00e9'.repeat(126) + '.jpg' }, 'INVALID_FIELD', 'fileName'], // 256 bytes
                [{ ...good, fileName: '.' }, 'INVALID_FIELD', 'fileName'],
                [{ ...good, fileName: '..' }, 'INVALID_FIELD', 'fileName'],
                [{ ...good, fileName: 'a/b/..' }, 'INVALID_FIELD', 'fileName'],
                [{ ...good, fileName: 'folder/' }, 'INVALID_FIELD', 'fileName'],
                [{ ...good, fileName: '/' }, 'INVALID_FIELD', 'fileName'],
                [{ ...good, contentType: 'application/pdf' }, 'INVALID_FIELD', 'contentType'],
                [{ ...good, contentType: 'text/plain' }, 'INVALID_FIELD', 'contentType'],
                [{ ...good, contentType: 'audio/mpeg' }, 'INVALID_FIELD', 'contentType'],
                [{ ...good, contentType: 'image' }, 'INVALID_FIELD', 'contentType'],
                [{ ...good, contentType: 5 }, 'INVALID_FIELD', 'contentType'],
                [{ ...good, sizeBytes: 0 }, 'INVALID_FIELD', 'sizeBytes'],
                [{ ...good, sizeBytes: -1 }, 'INVALID_FIELD', 'sizeBytes'],
                [{ ...good, sizeBytes: 1.5 }, 'INVALID_FIELD', 'sizeBytes'],
                [{ ...good, sizeBytes: '1000' }, 'INVALID_FIELD', 'sizeBytes'],
                [{ ...good, checksumSha256: 'abc' }, 'INVALID_FIELD', 'checksumSha256'],
                [{ ...good, checksumSha256: 'g'.repeat(64) }, 'INVALID_FIELD', 'checksumSha256'],
                [{ ...good, checksumSha256: 'a'.repeat(63) }, 'INVALID_FIELD', 'checksumSha256'],
                [{ ...good, checksumSha256: 'a'.repeat(65) }, 'INVALID_FIELD', 'checksumSha256'],
                [{ ...good, checksumSha256: 12 }, 'INVALID_FIELD', 'checksumSha256'],
                [{ ...good, displayName: 12 }, 'INVALID_FIELD', 'displayName'],
                [{ ...good, colour: 'red' }, 'UNKNOWN_FIELD', 'colour'],
            ];
            const before = (await api.list(LIB, A.token)).length;
            const wrong = []; // every case that answers otherwise, reported together
            for (const [body, code, field] of cases) {
                const r = await api.session(A.token, LIB, body);
                try {
                    // jansson refuses \u0000 in a string before any handler sees it
                    const codes = body.fileName?.includes?.('\u0000') ? [code, 'MALFORMED_JSON'] : [code];
                    const got = JSON.parse(r.text).code;
                    const p = assertProblem(r.res, r.text, { status: 400, code: codes.includes(got) ? got : code, instance: `${LIB}/uploads` });
                    if (got !== 'MALFORMED_JSON') {
                        assert.ok(Array.isArray(p.errors) && p.errors.some((e) => e.field === field),
                            `errors name ${field}`);
                    }
                } catch (e) {
                    wrong.push(`${JSON.stringify(body).slice(0, 80)} → ${r.res.status} ${r.text.slice(0, 300)}\n    (${e.message.split('\n')[0]})`);
                }
            }
            assert.deepEqual(wrong, [], `sessions answered otherwise:\n${wrong.join('\n')}`);
            // not JSON, not an object
            for (const body of ['not json', '[]', '"x"']) {
                const r = await api.session(A.token, LIB, body);
                assert.equal(r.res.status, 400, `${body}: ${r.text}`);
                assert.match(r.res.headers.get('content-type') || '', /^application\/problem\+json/);
            }
            assert.equal((await api.list(LIB, A.token)).length, before, 'a refused session made no asset');

            // the edges that pass: 255 bytes of UTF-8, either case of hex, any image/* or video/*
            for (const body of [
                { ...good, fileName: '\u00e9'.repeat(125) + 'x.jpg' },
                { ...good, checksumSha256: 'AB'.repeat(32) },
                { ...good, checksumSha256: 'ab'.repeat(32) },
                { ...good, contentType: 'image/gif' },
                { ...good, contentType: 'video/webm' },
                { ...good, contentType: 'video/quicktime' },
                { ...good, sizeBytes: 1 },
                { ...good, sizeBytes: MAX_UPLOAD },
            ]) {
                api.ok(await api.session(A.token, LIB, body), 201);
            }
            // media-type parameters are dropped, the type is stored in lower case; a backslash
            // separates path components too
            const made = api.ok(await api.session(A.token, LIB,
                { ...good, contentType: 'Image/JPEG; charset=binary', fileName: '..\\..\\win.ini' }), 201);
            const asset = api.ok(await api.call('GET', `${LIB}/${made.assetId}`, A.token));
            assert.equal(asset.contentType, 'image/jpeg');
            assert.equal(asset.fileName, 'win.ini');
        });

        it('422 FILE_SIZE_EXCEEDED with maxBytes above max_upload_bytes (2 GB, and one byte over)', async () => {
            for (const sizeBytes of [2 * 1024 ** 3, MAX_UPLOAD + 1]) {
                const r = await api.session(A.token, LIB, { fileName: 'huge.mp4', contentType: 'video/mp4', sizeBytes });
                const p = assertProblem(r.res, r.text, { status: 422, code: 'FILE_SIZE_EXCEEDED' });
                assert.equal(p.maxBytes, MAX_UPLOAD);
            }
            const r = await api.session(A.editor.token, venueAssets(A.V1), { fileName: 'huge.mp4', contentType: 'video/mp4', sizeBytes: 2 * 1024 ** 3 });
            assert.equal(assertProblem(r.res, r.text, { status: 422, code: 'FILE_SIZE_EXCEEDED' }).maxBytes, MAX_UPLOAD);
        });

        it('fileName ../../etc/passwd is stored as passwd and names no file, inside the data dir or out', async () => {
            const parent = path.dirname(srv.dataDir);
            // where a fileName joined onto a server directory would land
            const targets = ['', 'uploads', 'objects', 'uploads/x', 'objects/ab', 'objects/ab/cd']
                .map((d) => path.resolve(srv.dataDir, d, '../../etc/passwd'));
            const statOf = async (p) => {
                const s = await stat(p).catch(() => null);
                return s ? { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino } : null;
            };
            const before = await Promise.all(targets.map(statOf));
            const parentBefore = new Set(await readdir(parent));
            const etcBefore = await statOf('/etc/passwd');

            const fileName = '../../etc/passwd';
            const s = await api.newSession(A.token, LIB, fx.jpeg, { fileName });
            let a = api.ok(await api.asset(A.token, s.assetId));
            assert.equal(a.fileName, 'passwd');
            // the bytes go in, the file is processed: still no file of that name anywhere
            api.ok(await api.put(s.uploadUrl, fx.jpeg.bytes));
            api.ok(await api.complete(A.token, LIB, s.uploadId));
            a = await api.settle(A.token, s.assetId);
            assert.equal(a.status, 'READY', JSON.stringify(a));
            assert.equal(a.fileName, 'passwd');

            assert.deepEqual(await Promise.all(targets.map(statOf)), before, 'a file outside the data dir changed');
            assert.deepEqual(await statOf('/etc/passwd'), etcBefore);
            const added = [...(await readdir(parent))].filter((n) => !parentBefore.has(n));
            for (const n of added) assert.ok(!/passwd|^etc$/.test(n), `new entry beside the data dir: ${n}`);
            const inside = (await walk(srv.dataDir)).map((f) => path.relative(srv.dataDir, f.path));
            for (const rel of inside) {
                assert.ok(!rel.startsWith('..'), rel);
                assert.ok(!/passwd/.test(rel), `the client's file name names a file on disk: ${rel}`);
            }
            // the bytes are in the object store, under the data dir
            const held = await filesWithContent(srv.dataDir, fx.jpeg.bytes);
            assert.ok(held.length >= 1, 'the READY file is under the data dir');
            for (const h of held) assert.ok(h.startsWith(path.join(srv.dataDir, 'objects') + path.sep), h);
        });
    });

    describe('complete', () => {
        it('before every byte is in: 409 UPLOAD_INCOMPLETE with receivedBytes and sizeBytes', async () => {
            const s = await api.newSession(A.token, LIB, fx.png);
            let r = await api.complete(A.token, LIB, s.uploadId);
            let p = assertProblem(r.res, r.text, { status: 409, code: 'UPLOAD_INCOMPLETE' });
            assert.equal(p.receivedBytes, 0);
            assert.equal(p.sizeBytes, fx.png.size);
            const half = Math.floor(fx.png.size / 2);
            const pr = api.ok(await api.put(s.uploadUrl, fx.png.bytes.subarray(0, half),
                { 'Content-Range': `bytes 0-${half - 1}/${fx.png.size}` }));
            assert.equal(pr.receivedBytes, half);
            r = await api.complete(A.token, LIB, s.uploadId);
            p = assertProblem(r.res, r.text, { status: 409, code: 'UPLOAD_INCOMPLETE' });
            assert.equal(p.receivedBytes, half);
            assert.equal(p.sizeBytes, fx.png.size);
            assert.equal(api.ok(await api.asset(A.token, s.assetId)).status, 'UPLOADING');
            // the rest, then complete works
            api.ok(await api.put(s.uploadUrl, fx.png.bytes.subarray(half),
                { 'Content-Range': `bytes ${half}-${fx.png.size - 1}/${fx.png.size}` }));
            const c = api.ok(await api.complete(A.token, LIB, s.uploadId));
            assertAssetShape(c);
            assert.equal(c.assetId, s.assetId);
            assert.equal(c.status, 'PROCESSING');
            assert.equal((await api.settle(A.token, s.assetId)).status, 'READY');
        });

        it('a body of {} is accepted; an unknown uploadId is 404; §13.3 names complete too', async () => {
            const s = await api.newSession(A.token, LIB, fx.jpeg);
            api.ok(await api.put(s.uploadUrl, fx.jpeg.bytes));
            const odd = await api.call('POST', `${LIB}/uploads/${s.uploadId}/complete`, A.token, { sizeBytes: 1 });
            assert.equal(odd.res.status, 400, `complete takes no body or {}: ${odd.text}`);
            assert.equal(api.ok(await api.asset(A.token, s.assetId)).status, 'UPLOADING');
            const c = api.ok(await api.call('POST', `${LIB}/uploads/${s.uploadId}/complete`, A.token, {}));
            assert.equal(c.status, 'PROCESSING');
            for (const p of [`${LIB}/uploads/00000000-0000-4000-8000-000000000000/complete`,
                '/v1/assets/uploads/00000000-0000-4000-8000-000000000000/complete',
                `${LIB}/uploads/not-a-uuid/complete`]) {
                const r = await api.call('POST', p, A.token);
                assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            }
            const s2 = await api.newSession(A.token, LIB, fx.png);
            api.ok(await api.put(s2.uploadUrl, fx.png.bytes));
            const c2 = api.ok(await api.call('POST', `/v1/assets/uploads/${s2.uploadId}/complete`, A.token));
            assert.equal(c2.assetId, s2.assetId);
            assert.equal(c2.status, 'PROCESSING');
            assert.equal((await api.settle(A.token, s2.assetId)).status, 'READY');
            assert.equal((await api.settle(A.token, s.assetId)).status, 'READY');
        });
    });

    describe('processing', () => {
        const started = {}; // fixture name → promise of {session, asset}
        before(() => {
            // everything at once: the worker pool takes them in order
            for (const name of FIXTURE_NAMES) {
                started[name] = api.upload(A.token, LIB, fx[name], { displayName: `fixture ${name}` });
                started[name].catch(() => {}); // awaited by its test
            }
        });

        const ready = FIXTURE_NAMES.filter((n) => FIXTURE_EXPECT[n].status === 'READY');
        const failed = FIXTURE_NAMES.filter((n) => FIXTURE_EXPECT[n].status === 'FAILED');

        for (const name of ready) {
            it(`${name} → READY with the real file's metadata, a media URL and a thumbnail`, async () => {
                const f = fx[name];
                const e = f.expect;
                const { asset: a } = await started[name];
                assertAssetShape(a);
                assert.equal(a.status, 'READY', JSON.stringify(a));
                assert.equal(a.type, e.type);
                assert.equal(a.contentType, e.contentType);
                assert.equal(a.width, e.width);
                assert.equal(a.height, e.height);
                assert.equal(a.sizeBytes, f.size);
                assert.equal(a.checksumSha256, f.sha256);
                assert.equal(a.fileName, f.fileName);
                assert.equal(a.displayName, `fixture ${name}`);
                if (e.type === 'VIDEO') {
                    assert.ok(Math.abs(a.durationMs - e.durationMs) <= 100, `durationMs ${a.durationMs}`);
                    assert.equal(a.videoCodec, e.videoCodec);
                    assert.equal(a.audioCodec, e.audioCodec);
                    assert.ok(Math.abs(a.frameRate - e.frameRate) < 0.01, `frameRate ${a.frameRate}`);
                    assert.ok(Number.isInteger(a.bitrateBps) && a.bitrateBps > 0 && a.bitrateBps <= 10e6, `bitrateBps ${a.bitrateBps}`);
                } else {
                    assert.equal(a.durationMs, null, 'an image has no duration');
                    assert.equal(a.audioCodec, null);
                    assert.equal(a.frameRate, null);
                }
                assert.ok(a.readyAtUtc >= a.createdAtUtc);

                const ext = { 'image/jpeg': 'jpg', 'image/png': 'png', 'video/mp4': 'mp4' }[e.contentType];
                const u = new URL(a.url);
                assert.equal(u.origin, srv.url, 'media_public_url defaults to public_url');
                assert.equal(u.pathname, `/media/${f.sha256}.${ext}`);
                assert.match(u.searchParams.get('signature') || '', /^[0-9a-fA-F]{64}$/);
                const exp = Number(u.searchParams.get('expires'));
                assert.equal(exp * 1000, Date.parse(a.urlExpiresAtUtc), 'urlExpiresAtUtc is the URL expiry');
                assert.equal(exp % 3600, 0, 'rounded up to the hour');
                const now = Date.now() / 1000;
                assert.ok(exp >= now + 86400 - 5 && exp <= now + 86400 + 3600, `expires ${exp} vs now ${now}`);
                const t = new URL(a.thumbnailUrl);
                assert.equal(t.origin, srv.url);
                assert.match(t.pathname, /^\/media\/[0-9a-f]{64}\.jpg$/);
                assert.equal(t.searchParams.get('expires'), String(exp));

                // no token needed: the bytes are the file's
                const m = await fetch(a.url);
                assert.equal(m.status, 200);
                assert.equal(m.headers.get('content-type'), e.contentType);
                const body = Buffer.from(await m.arrayBuffer());
                assert.equal(body.length, f.size);
                assert.equal(sha256(body), f.sha256);
                // the thumbnail is a JPEG within 480×480
                const th = await fetch(a.thumbnailUrl);
                assert.equal(th.status, 200);
                assert.equal(th.headers.get('content-type'), 'image/jpeg');
                const tb = Buffer.from(await th.arrayBuffer());
                assert.ok(tb.length > 100 && tb[0] === 0xff && tb[1] === 0xd8 && tb[2] === 0xff, 'JPEG magic');
                const info = await probe(tb);
                const v = info.streams.find((s) => s.codec_type === 'video');
                assert.ok(v && v.width > 0 && v.height > 0, JSON.stringify(info));
                assert.ok(v.width <= 480 && v.height <= 480, `thumbnail ${v.width}x${v.height}`);
                // the aspect ratio is kept (within rounding)
                assert.ok(Math.abs(v.width / v.height - e.width / e.height) < 0.05, `thumbnail ${v.width}x${v.height} of ${e.width}x${e.height}`);
            });
        }

        for (const name of failed) {
            it(`${name} → FAILED ${FIXTURE_EXPECT[name].reason ?? FIXTURE_EXPECT[name].reasons.join('|')}, a short detail, no URL, bytes deleted`, async () => {
                const f = fx[name];
                const e = f.expect;
                const { session: s, asset: a } = await started[name];
                assertAssetShape(a);
                assert.equal(a.status, 'FAILED', JSON.stringify(a));
                if (e.reason) assert.equal(a.failureReason, e.reason, JSON.stringify(a));
                else assert.ok(e.reasons.includes(a.failureReason), JSON.stringify(a));
                assertFailureDetail(a, srv, fx.dir);
                if (e.detailMatches) assert.match(a.failureDetail, e.detailMatches);
                assert.ok(a.failedAtUtc >= a.createdAtUtc);
                assert.equal(a.url, null);
                assert.equal(a.thumbnailUrl, null);
                // FAILED bytes are deleted at once (a short grace for the unlink after the update)
                let held = await filesWithContent(srv.dataDir, f.bytes);
                for (let i = 0; held.length && i < 50; i++) {
                    await sleep(100);
                    held = await filesWithContent(srv.dataDir, f.bytes);
                }
                assert.deepEqual(held, [], 'the bytes of a FAILED asset are kept');
                // never processed again (§13.4): complete again is 200 with the same failure
                const again = api.ok(await api.complete(A.token, LIB, s.uploadId));
                assert.equal(again.status, 'FAILED');
                assert.equal(again.failedAtUtc, a.failedAtUtc);
                assert.equal(again.failureReason, a.failureReason);
                await sleep(300);
                const later = api.ok(await api.asset(A.token, a.assetId));
                assert.equal(later.status, 'FAILED');
                assert.equal(later.failedAtUtc, a.failedAtUtc);
                assert.equal(later.failureReason, a.failureReason);
            });
        }

        it('a declared checksum the bytes do not match → FAILED CHECKSUM_MISMATCH', async () => {
            const { asset: a } = await api.upload(A.token, LIB, fx.jpeg, { checksumSha256: fx.png.sha256 });
            assert.equal(a.status, 'FAILED', JSON.stringify(a));
            assert.equal(a.failureReason, 'CHECKSUM_MISMATCH');
            assertFailureDetail(a, srv, fx.dir);
            assert.equal(a.url, null);
        });

        it('the checksum in upper case, or none at all: READY with the lower-case SHA-256 of the bytes', async () => {
            const { asset: upper } = await api.upload(A.token, LIB, fx.png, { checksumSha256: fx.png.sha256.toUpperCase() });
            assert.equal(upper.status, 'READY', JSON.stringify(upper));
            assert.equal(upper.checksumSha256, fx.png.sha256);
            const { asset: none } = await api.upload(A.token, LIB, fx.jpeg, { checksumSha256: undefined });
            assert.equal(none.status, 'READY', JSON.stringify(none));
            assert.equal(none.checksumSha256, fx.jpeg.sha256);
            assert.match(none.checksumSha256, HEX64);
        });

        it('GET of an asset has a strong ETag, 304 on If-None-Match, a new ETag when the status moves', async () => {
            const s = await api.newSession(A.token, LIB, fx.jpeg);
            const g1 = await api.asset(A.token, s.assetId);
            const e1 = g1.res.headers.get('etag');
            assert.match(e1 || '', /^"[^"]+"$/, `a strong ETag: ${e1}`);
            const nm = await api.call('GET', `/v1/assets/${s.assetId}`, A.token, undefined, { 'If-None-Match': e1 });
            assert.equal(nm.res.status, 304);
            assert.equal(nm.text, '');
            const lib = await api.call('GET', `${LIB}/${s.assetId}`, A.token, undefined, { 'If-None-Match': e1 });
            assert.equal(lib.res.status, 304, 'the library read has the same representation');
            api.ok(await api.put(s.uploadUrl, fx.jpeg.bytes));
            api.ok(await api.complete(A.token, LIB, s.uploadId));
            await api.settle(A.token, s.assetId);
            const g2 = await api.call('GET', `/v1/assets/${s.assetId}`, A.token, undefined, { 'If-None-Match': e1 });
            assert.equal(g2.res.status, 200, 'READY is not the UPLOADING representation');
            const e2 = g2.res.headers.get('etag');
            assert.ok(e2 && e2 !== e1);
            const nm2 = await api.call('GET', `/v1/assets/${s.assetId}`, A.token, undefined, { 'If-None-Match': e2 });
            assert.equal(nm2.res.status, 304);
        });

        it('completing a READY asset again: 200, still READY, not processed again', async () => {
            const { session: s, asset: a } = await started.jpeg;
            const again = api.ok(await api.complete(A.token, LIB, s.uploadId));
            assert.equal(again.status, 'READY');
            assert.equal(again.readyAtUtc, a.readyAtUtc);
            await sleep(300);
            const later = api.ok(await api.asset(A.token, a.assetId));
            assert.equal(later.status, 'READY');
            assert.equal(later.readyAtUtc, a.readyAtUtc);
        });

        it('/metrics counts every outcome: READY and FAILED, queue and workers', async () => {
            await Promise.all(FIXTURE_NAMES.map((n) => started[n]));
            const { text } = await get(`${srv.url}/metrics`);
            const value = (re) => {
                const m = re.exec(text);
                assert.ok(m, `${re} in /metrics`);
                return Number(m[1]);
            };
            assert.ok(value(/^marquee_media_processed_total\{outcome="ready"\} (\d+)$/m) >= ready.length);
            assert.ok(value(/^marquee_media_processed_total\{outcome="failed"\} (\d+)$/m) >= failed.length);
            assert.ok(value(/^marquee_media_processing_seconds_total ([\d.]+)$/m) > 0);
            assert.equal(value(/^marquee_media_workers (\d+)$/m), 2);
            assert.equal(value(/^marquee_media_queue_depth (\d+)$/m), 0);
        });
    });

    describe('lists', () => {
        const tag = `zq${Date.now().toString(36)}`; // marks this test's assets
        const made = {}; // name → asset
        before(async () => {
            // oldest first: a READY image, a READY video, a FAILED gif, an UPLOADING video, and
            // one whose file name (not display name) carries the tag
            made.image = (await api.upload(A.token, LIB, fx.jpeg, { displayName: `${tag} Image` })).asset;
            made.video = (await api.upload(A.token, LIB, fx.mp4, { displayName: `${tag} VIDEO` })).asset;
            made.gif = (await api.upload(A.token, LIB, fx.gif, { displayName: `100% ${tag} gif` })).asset;
            const up = await api.newSession(A.token, LIB, fx.mp4, { displayName: `${tag} uploading` });
            made.uploading = api.ok(await api.asset(A.token, up.assetId));
            const byFile = await api.newSession(A.token, LIB, fx.png, { displayName: 'plain name', fileName: `${tag.toUpperCase()}-file.png` });
            made.byFile = api.ok(await api.asset(A.token, byFile.assetId));
            // one venue asset of V1 and one of V2 with the tag
            const v1 = await api.newSession(A.editor.token, venueAssets(A.V1), fx.jpeg, { displayName: `${tag} v1` });
            made.v1 = api.ok(await api.asset(A.token, v1.assetId));
            const v2 = await api.newSession(A.editor2.token, venueAssets(A.V2), fx.jpeg, { displayName: `${tag} v2` });
            made.v2 = api.ok(await api.asset(A.token, v2.assetId));
            assert.equal(made.image.status, 'READY');
            assert.equal(made.video.status, 'READY');
            assert.equal(made.gif.status, 'FAILED');
        });
        const ids = (items) => items.map((a) => a.assetId);
        const libOrder = () => [made.byFile, made.uploading, made.gif, made.video, made.image].map((a) => a.assetId);

        it('q matches display or file name without case, newest first; items are whole assets', async () => {
            const r = api.ok(await api.call('GET', `${LIB}?q=${tag.toUpperCase()}`, A.token));
            assert.deepEqual(ids(r.items), libOrder());
            assert.equal(r.nextCursor, null);
            for (const a of r.items) assertAssetShape(a);
            const v = r.items.find((a) => a.assetId === made.video.assetId);
            const noUrls = (a) => ({ ...a, url: null, thumbnailUrl: null, urlExpiresAtUtc: null });
            assert.deepEqual(noUrls(v), noUrls(made.video));
            for (let i = 1; i < r.items.length; i++) assert.ok(r.items[i - 1].createdAtUtc >= r.items[i].createdAtUtc, 'newest first');
            // LIKE's own characters are literal
            const pct = api.ok(await api.call('GET', `${LIB}?q=${encodeURIComponent(`% ${tag}`)}`, A.token));
            assert.deepEqual(ids(pct.items), [made.gif.assetId]);
            const us = api.ok(await api.call('GET', `${LIB}?q=${encodeURIComponent(`${tag}_`)}`, A.token));
            assert.deepEqual(us.items, []);
            const none = api.ok(await api.call('GET', `${LIB}?q=${tag}-nothing-like-this`, A.token));
            assert.deepEqual(none, { items: [], nextCursor: null });
        });

        it('status, type and scope filter; they combine with q', async () => {
            const q = (extra) => api.call('GET', `${LIB}?q=${tag}&${extra}`, A.token).then((r) => ids(api.ok(r).items));
            assert.deepEqual(await q('status=READY'), [made.video.assetId, made.image.assetId]);
            assert.deepEqual(await q('status=FAILED'), [made.gif.assetId]);
            assert.deepEqual(await q('status=UPLOADING'), [made.byFile.assetId, made.uploading.assetId]);
            assert.deepEqual(await q('status=PROCESSING'), []);
            // gif was declared image/gif: IMAGE; the UPLOADING one was declared video/mp4
            assert.deepEqual(await q('type=IMAGE'), [made.byFile.assetId, made.gif.assetId, made.image.assetId]);
            assert.deepEqual(await q('type=VIDEO'), [made.uploading.assetId, made.video.assetId]);
            assert.deepEqual(await q('type=VIDEO&status=READY'), [made.video.assetId]);
            assert.deepEqual(await q('scope=TENANT'), libOrder());
            // the venue's list: the shared library plus its own, never another venue's
            const vq = (extra, token = A.editor.token) => api.call('GET', `${venueAssets(A.V1)}?q=${tag}${extra}`, token).then((r) => ids(api.ok(r).items));
            assert.deepEqual(await vq(''), [made.v1.assetId, ...libOrder()]);
            assert.deepEqual(await vq('&scope=VENUE'), [made.v1.assetId]);
            assert.deepEqual(await vq('&scope=TENANT'), libOrder());
            assert.deepEqual(await vq('&scope=VENUE', A.token), [made.v1.assetId], 'the tenant admin sees the same');
            assert.deepEqual(await vq('&status=UPLOADING&type=IMAGE'), [made.v1.assetId, made.byFile.assetId]);
            const v2 = api.ok(await api.call('GET', `${venueAssets(A.V2)}?q=${tag}&scope=VENUE`, A.editor2.token));
            assert.deepEqual(ids(v2.items), [made.v2.assetId]);
        });

        it('limit=1 walks every item once through nextCursor, in the same order', async () => {
            const one = await api.list(`${LIB}?q=${tag}`, A.token, 1);
            assert.deepEqual(ids(one), libOrder());
            const two = await api.list(`${venueAssets(A.V1)}?q=${tag}`, A.editor.token, 2);
            assert.deepEqual(ids(two), [made.v1.assetId, ...libOrder()]);
            const filtered = await api.list(`${LIB}?q=${tag}&type=IMAGE`, A.token, 1);
            assert.deepEqual(ids(filtered), [made.byFile.assetId, made.gif.assetId, made.image.assetId]);
            // the whole library, default page size: no asset twice, every tagged one present
            const all = await api.list(LIB, A.token, 50);
            assert.equal(new Set(ids(all)).size, all.length, 'an asset on two pages');
            for (const id of libOrder()) assert.ok(ids(all).includes(id));
            assert.ok(all.every((a) => a.scope === 'TENANT'), 'the library holds only TENANT assets');
            const first = api.ok(await api.call('GET', LIB, A.token));
            assert.ok(first.items.length <= 50, 'default limit 50');
        });

        it('a bad filter is 400 INVALID_QUERY; the library has no VENUE scope; bad limit and cursor are 400', async () => {
            for (const p of [`${LIB}?status=DONE`, `${LIB}?type=AUDIO`, `${LIB}?scope=GLOBAL`, `${LIB}?scope=VENUE`,
                `${venueAssets(A.V1)}?type=PDF`, `${venueAssets(A.V1)}?scope=EVERYTHING`, `${venueAssets(A.V1)}?status=DELETED`,
                `${LIB}?status=DRAFT`]) { // docs/content.md names four statuses
                const r = await api.call('GET', p, A.token);
                assertProblem(r.res, r.text, { status: 400, code: 'INVALID_QUERY' });
            }
            for (const p of [`${LIB}?limit=0`, `${LIB}?limit=201`, `${LIB}?limit=abc`, `${LIB}?cursor=garbage`]) {
                const r = await api.call('GET', p, A.token);
                assert.equal(r.res.status, 400, `${p}: ${r.text}`);
                const body = JSON.parse(r.text);
                assert.ok(['INVALID_QUERY', 'INVALID_LIMIT', 'INVALID_CURSOR'].includes(body.code), `${p}: ${r.text}`);
            }
            const r = api.ok(await api.call('GET', `${LIB}?limit=200&q=${tag}`, A.token));
            assert.equal(r.items.length, 5);
        });
    });

    describe('scope and visibility', () => {
        const assets = {}; // shared, v1, v2: READY assets
        before(async () => {
            assets.shared = (await api.upload(A.librarian.token, LIB, fx.jpeg, { displayName: 'shared by the librarian' })).asset;
            assets.v1 = (await api.upload(A.editor.token, venueAssets(A.V1), fx.png, { displayName: 'V1 own' })).asset;
            assets.v2 = (await api.upload(A.editor2.token, venueAssets(A.V2), fx.jpeg, { displayName: 'V2 own' })).asset;
            assets.b = (await api.upload(B.token, LIB, fx.jpeg, { displayName: 'Bravo shared' })).asset;
            for (const a of Object.values(assets)) assert.equal(a.status, 'READY', JSON.stringify(a));
        });

        it('the librarian (EDIT_SHARED_LIBRARY) made a TENANT asset; venue uploads are VENUE assets', () => {
            assert.equal(assets.shared.scope, 'TENANT');
            assert.equal(assets.shared.venueId, null);
            assert.equal(assets.v1.scope, 'VENUE');
            assert.equal(assets.v1.venueId, A.V1);
            assert.equal(assets.v2.venueId, A.V2);
        });

        it('V1 sees the shared library and its own assets, not V2\'s', async () => {
            for (const token of [A.editor.token, A.viewer.token, A.token]) {
                const seen = (await api.list(venueAssets(A.V1), token)).map((a) => a.assetId);
                assert.ok(seen.includes(assets.shared.assetId));
                assert.ok(seen.includes(assets.v1.assetId));
                assert.ok(!seen.includes(assets.v2.assetId), 'another venue\'s asset in the list');
                assert.ok(!seen.includes(assets.b.assetId), 'another tenant\'s asset in the list');
                for (const id of [assets.shared.assetId, assets.v1.assetId]) {
                    const a = api.ok(await api.call('GET', `${venueAssets(A.V1)}/${id}`, token));
                    assert.equal(a.assetId, id);
                    assert.equal(a.status, 'READY');
                }
            }
            // by the §13.3 name too
            api.ok(await api.asset(A.editor.token, assets.v1.assetId));
            api.ok(await api.asset(A.viewer.token, assets.shared.assetId));
        });

        it('another venue\'s asset is 404 (never 403), through every path', async () => {
            for (const [token, p] of [
                [A.editor.token, `${venueAssets(A.V1)}/${assets.v2.assetId}`],
                [A.token, `${venueAssets(A.V1)}/${assets.v2.assetId}`],
                [A.editor.token, `/v1/assets/${assets.v2.assetId}`],
                [A.viewer.token, `/v1/assets/${assets.v2.assetId}`],
                [A.editor2.token, `/v1/assets/${assets.v1.assetId}`],
                [A.editor.token, `${venueAssets(A.V2)}/${assets.v2.assetId}`],
                [A.editor.token, venueAssets(A.V2)],
            ]) {
                const r = await api.call('GET', p, token);
                assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND', instance: p });
            }
            // the library only holds TENANT assets
            let r = await api.call('GET', `${LIB}/${assets.v1.assetId}`, A.token);
            assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            r = await api.call('DELETE', `${LIB}/${assets.v1.assetId}`, A.token);
            assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            api.ok(await api.asset(A.token, assets.v1.assetId));
            // and the library list is readable by any user of the tenant
            for (const token of [A.viewer.token, A.editor2.token, A.editor.token]) {
                const seen = (await api.list(LIB, token)).map((a) => a.assetId);
                assert.ok(seen.includes(assets.shared.assetId));
                assert.ok(!seen.includes(assets.v1.assetId) && !seen.includes(assets.v2.assetId));
                api.ok(await api.call('GET', `${LIB}/${assets.shared.assetId}`, token));
            }
        });

        it('another tenant\'s assets, venues and uploads are 404, never 403', async () => {
            const s = await api.newSession(A.token, LIB, fx.jpeg);
            api.ok(await api.put(s.uploadUrl, fx.jpeg.bytes));
            for (const [method, p] of [
                ['GET', `/v1/assets/${assets.shared.assetId}`],
                ['GET', `${LIB}/${assets.shared.assetId}`],
                ['DELETE', `${LIB}/${assets.shared.assetId}`],
                ['GET', `/v1/assets/${assets.v1.assetId}`],
                ['GET', venueAssets(A.V1)],
                ['GET', `${venueAssets(A.V1)}/${assets.v1.assetId}`],
                ['DELETE', `${venueAssets(A.V1)}/${assets.v1.assetId}`],
                ['POST', `${LIB}/uploads/${s.uploadId}/complete`],
                ['POST', `/v1/assets/uploads/${s.uploadId}/complete`],
                ['POST', `${venueAssets(A.V1)}/uploads`],
            ]) {
                const r = await api.call(method, p, B.token, method === 'POST' && p.endsWith('/uploads')
                    ? { fileName: 'x.jpg', contentType: 'image/jpeg', sizeBytes: 10 } : undefined);
                assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            }
            const r = await api.call('GET', `/v1/assets/${assets.b.assetId}`, A.token);
            assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            const bl = (await api.list(LIB, B.token)).map((a) => a.assetId);
            assert.deepEqual(bl, [assets.b.assetId]);
            const al = (await api.list(LIB, A.token)).map((a) => a.assetId);
            assert.ok(!al.includes(assets.b.assetId));
            // B's attempt did not complete A's upload
            assert.equal(api.ok(await api.asset(A.token, s.assetId)).status, 'UPLOADING');
            assert.equal(api.ok(await api.complete(A.token, LIB, s.uploadId)).status, 'PROCESSING');
        });

        it('403 for a visible venue or library and too low a role', async () => {
            const jpeg = { fileName: 'x.jpg', contentType: 'image/jpeg', sizeBytes: 100 };
            const cases = [
                // a venue viewer cannot upload, complete or delete
                [A.viewer.token, 'POST', `${venueAssets(A.V1)}/uploads`, jpeg],
                [A.viewer.token, 'DELETE', `${venueAssets(A.V1)}/${assets.v1.assetId}`],
                // a venue editor has no say over the shared library
                [A.editor.token, 'POST', `${LIB}/uploads`, jpeg],
                [A.editor.token, 'DELETE', `${LIB}/${assets.shared.assetId}`],
                [A.viewer.token, 'POST', `${LIB}/uploads`, jpeg],
                // nor through the venue endpoint
                [A.editor.token, 'DELETE', `${venueAssets(A.V1)}/${assets.shared.assetId}`],
                [A.librarian.token, 'DELETE', `${venueAssets(A.V1)}/${assets.shared.assetId}`],
                [A.token, 'DELETE', `${venueAssets(A.V1)}/${assets.shared.assetId}`],
            ];
            for (const [token, method, p, body] of cases) {
                const r = await api.call(method, p, token, body);
                assertProblem(r.res, r.text, { status: 403, code: 'FORBIDDEN' });
            }
            // a session the viewer cannot complete, through either name
            const s = await api.newSession(A.editor.token, venueAssets(A.V1), fx.jpeg);
            api.ok(await api.put(s.uploadUrl, fx.jpeg.bytes));
            for (const p of [`${venueAssets(A.V1)}/uploads/${s.uploadId}/complete`, `/v1/assets/uploads/${s.uploadId}/complete`]) {
                const r = await api.call('POST', p, A.viewer.token);
                assertProblem(r.res, r.text, { status: 403, code: 'FORBIDDEN' });
            }
            // a library session the venue editor cannot complete
            const ls = await api.newSession(A.token, LIB, fx.jpeg);
            api.ok(await api.put(ls.uploadUrl, fx.jpeg.bytes));
            for (const p of [`${LIB}/uploads/${ls.uploadId}/complete`, `/v1/assets/uploads/${ls.uploadId}/complete`]) {
                const r = await api.call('POST', p, A.editor.token);
                assertProblem(r.res, r.text, { status: 403, code: 'FORBIDDEN' });
            }
            // nothing of that changed anything
            assert.equal(api.ok(await api.asset(A.token, s.assetId)).status, 'UPLOADING');
            assert.equal(api.ok(await api.asset(A.token, ls.assetId)).status, 'UPLOADING');
            api.ok(await api.asset(A.token, assets.shared.assetId));
            api.ok(await api.asset(A.token, assets.v1.assetId));
            // the venue editor completes its own through the §13.3 name
            assert.equal(api.ok(await api.call('POST', `/v1/assets/uploads/${s.uploadId}/complete`, A.editor.token)).status, 'PROCESSING');
            // the capability opens the library to a venue editor; the tenant admin may upload anywhere
            api.ok(await api.session(A.librarian.token, LIB, jpeg), 201);
            api.ok(await api.session(A.token, venueAssets(A.V2), jpeg), 201);
        });

        it('DELETE: 204, then 404 on every read and gone from every list; a second DELETE is 404', async () => {
            const lib = (await api.upload(A.librarian.token, LIB, fx.png, { displayName: 'to delete' })).asset;
            const ven = (await api.upload(A.editor.token, venueAssets(A.V1), fx.jpeg, { displayName: 'to delete too' })).asset;
            let r = await api.call('DELETE', `${LIB}/${lib.assetId}`, A.librarian.token);
            assert.equal(r.res.status, 204, r.text);
            assert.equal(r.text, '');
            r = await api.call('DELETE', `${venueAssets(A.V1)}/${ven.assetId}`, A.editor.token);
            assert.equal(r.res.status, 204, r.text);
            for (const p of [`${LIB}/${lib.assetId}`, `/v1/assets/${lib.assetId}`, `${venueAssets(A.V1)}/${lib.assetId}`,
                `${venueAssets(A.V1)}/${ven.assetId}`, `/v1/assets/${ven.assetId}`]) {
                r = await api.call('GET', p, A.token);
                assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            }
            const seen = [...(await api.list(LIB, A.token)), ...(await api.list(venueAssets(A.V1), A.token)),
                ...(await api.list(`${LIB}?status=READY`, A.token)), ...(await api.list(`${LIB}?q=to%20delete`, A.token))]
                .map((a) => a.assetId);
            assert.ok(!seen.includes(lib.assetId) && !seen.includes(ven.assetId), 'a deleted asset in a list');
            for (const [p, token] of [[`${LIB}/${lib.assetId}`, A.token], [`${venueAssets(A.V1)}/${ven.assetId}`, A.editor.token]]) {
                r = await api.call('DELETE', p, token);
                assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            }
            // the tenant admin deletes a venue's asset through its venue
            r = await api.call('DELETE', `${venueAssets(A.V1)}/${assets.v1.assetId}`, A.token);
            assert.equal(r.res.status, 204, r.text);
            r = await api.call('GET', `${venueAssets(A.V1)}/${assets.v1.assetId}`, A.editor.token);
            assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
        });
    });
});

describe(`asset timeouts on marqueed's clock (${BACKEND})`, () => {
    let srv;
    let fx;
    const api = client(() => srv);
    const A = {};

    before(async () => {
        [srv, fx] = await Promise.all([
            startServer({ args: ['--media-workers', '0', '--test-routes', '--rate-limits', RATE_LIMITS] }),
            makeFixtures(),
        ]);
        Object.assign(A, await api.createTenant('Clock Tenant', 'admin@clock-content.test'));
    });
    after(async () => {
        if (srv && !srv.exitInfo) await api.setClock(0).catch(() => {});
        await srv?.stop();
    });

    it('a completed asset stays PROCESSING where media_workers = 0', async () => {
        const { session: s, completed } = await api.send(A.token, LIB, fx.jpeg);
        await sleep(500);
        assert.equal(api.ok(await api.asset(A.token, s.assetId)).status, 'PROCESSING');
        // completing again is harmless: the asset as it is
        const again = api.ok(await api.complete(A.token, LIB, s.uploadId));
        assert.equal(again.status, 'PROCESSING');
        assert.equal(again.assetId, completed.assetId);
        assert.equal(again.failedAtUtc, null);
    });

    // last: requests made while the clock is ahead leave rate-limit debt behind once it is
    // set back (the limiter clamps it to one window), so nothing may log in after this
    it('PROCESSING > 10 min and UPLOADING > 60 min become FAILED PROCESSING_TIMEOUT; partial bytes and sessions go', async () => {
        // P: complete (no worker here, so it stays PROCESSING); U: half sent; E: nothing sent
        const P = await api.newSession(A.token, LIB, fx.mp4, { displayName: 'processing' });
        api.ok(await api.put(P.uploadUrl, fx.mp4.bytes));
        assert.equal(api.ok(await api.complete(A.token, LIB, P.uploadId)).status, 'PROCESSING');
        const U = await api.newSession(A.token, LIB, fx.jpeg, { displayName: 'uploading' });
        const half = Math.floor(fx.jpeg.size / 2);
        const partial = fx.jpeg.bytes.subarray(0, half);
        const pr = api.ok(await api.put(U.uploadUrl, partial, { 'Content-Range': `bytes 0-${half - 1}/${fx.jpeg.size}` }));
        assert.equal(pr.receivedBytes, half);
        const E = await api.newSession(A.token, LIB, fx.png, { displayName: 'empty' });
        const status = async (s) => api.ok(await api.asset(A.token, s.assetId));
        const uploadsDir = path.join(srv.dataDir, 'uploads');
        const held = (await walk(uploadsDir)).filter((f) => f.size > 0);
        assert.ok(held.length >= 1, `the partial upload under ${uploadsDir}`);

        // now: nothing is due
        await api.runJob('asset-timeouts');
        assert.equal((await status(P)).status, 'PROCESSING');
        assert.equal((await status(U)).status, 'UPLOADING');
        // +9 min: still nothing
        await api.setClock(9 * 60e3);
        await api.runJob('asset-timeouts');
        assert.equal((await status(P)).status, 'PROCESSING');
        // +11 min: the PROCESSING one times out; UPLOADING has 60 minutes
        await api.setClock(11 * 60e3);
        await api.runJob('asset-timeouts');
        const p = await status(P);
        assertAssetShape(p);
        assert.equal(p.status, 'FAILED');
        assert.equal(p.failureReason, 'PROCESSING_TIMEOUT');
        assertFailureDetail(p, srv, fx.dir);
        assert.ok(Date.parse(p.failedAtUtc) >= Date.now() + 10 * 60e3, `failedAtUtc ${p.failedAtUtc} is on marqueed's clock`);
        assert.equal((await status(U)).status, 'UPLOADING');
        assert.equal((await status(E)).status, 'UPLOADING');
        assert.deepEqual(await filesWithContent(srv.dataDir, fx.mp4.bytes), [], 'the timed-out file is kept');
        // the upload URL still works for U (60 minutes)
        const head = await fetch(U.uploadUrl, { method: 'HEAD' });
        assert.equal(head.status, 200);
        assert.equal(head.headers.get('upload-offset'), String(half));

        // +61 min: the UPLOADING ones time out (tokens expire with the clock: log in again)
        await api.setClock(61 * 60e3);
        A.token = await api.login(A.email);
        await api.runJob('asset-timeouts');
        for (const s of [U, E]) {
            const a = await status(s);
            assertAssetShape(a);
            assert.equal(a.status, 'FAILED', JSON.stringify(a));
            assert.equal(a.failureReason, 'PROCESSING_TIMEOUT');
            assertFailureDetail(a, srv, fx.dir);
            assert.ok(Date.parse(a.failedAtUtc) >= Date.now() + 60 * 60e3, `failedAtUtc ${a.failedAtUtc}`);
        }
        // P is not touched again
        assert.equal((await status(P)).failedAtUtc, p.failedAtUtc);
        // the partial bytes and the sessions are gone
        assert.deepEqual(await filesWithContent(srv.dataDir, partial), [], 'the partial upload is kept');
        const left = (await walk(uploadsDir)).filter((f) => f.size > 0);
        assert.deepEqual(left, [], 'files left under uploads/');
        for (const s of [U, E]) {
            for (const method of ['PUT', 'HEAD']) {
                const r = await fetch(s.uploadUrl, { method, body: method === 'PUT' ? fx.jpeg.bytes.subarray(half) : undefined,
                    headers: method === 'PUT' ? { 'Content-Range': `bytes ${half}-${fx.jpeg.size - 1}/${fx.jpeg.size}` } : {} });
                assert.ok([403, 404].includes(r.status), `${method} of a timed-out upload: ${r.status}`);
            }
        }
        // completing a timed-out upload does not revive it
        const c = await api.complete(A.token, LIB, U.uploadId);
        assert.ok([200, 404, 409].includes(c.res.status), c.text);
        assert.equal((await status(U)).status, 'FAILED');
        await api.setClock(0);
    });

});

describe(`storage clean-up on marqueed's clock (${BACKEND})`, () => {
    let srv;
    let fx;
    const api = client(() => srv);
    const A = {};

    before(async () => {
        [srv, fx] = await Promise.all([
            startServer({ args: ['--test-routes', '--rate-limits', RATE_LIMITS] }),
            makeFixtures(),
        ]);
        Object.assign(A, await api.createTenant('Cleanup Tenant', 'admin@cleanup-content.test'));
    });
    after(async () => {
        if (srv && !srv.exitInfo) await api.setClock(0).catch(() => {});
        await srv?.stop();
    });

    it('deleted and FAILED assets go with their files after 30 days; files still in use stay', async () => {
        const objects = path.join(srv.dataDir, 'objects');
        const objectFiles = async (sha) => (await walk(objects)).filter((f) => path.basename(f.path).startsWith(sha));
        const thumbSha = (a) => /\/media\/([0-9a-f]{64})\.jpg/.exec(new URL(a.thumbnailUrl).pathname)[1];
        const kept = (await api.upload(A.token, LIB, fx.jpeg, { displayName: 'kept' })).asset;
        const gone = (await api.upload(A.token, LIB, fx.png, { displayName: 'deleted' })).asset;
        const twin = (await api.upload(A.token, LIB, fx.mp4, { displayName: 'deleted twin' })).asset;
        const twinKept = (await api.upload(A.token, LIB, fx.mp4, { displayName: 'kept twin' })).asset;
        const failed = (await api.upload(A.token, LIB, fx.gif, { displayName: 'failed' })).asset;
        for (const a of [kept, gone, twin, twinKept]) assert.equal(a.status, 'READY', JSON.stringify(a));
        assert.equal(failed.status, 'FAILED');
        for (const a of [gone, twin]) {
            const r = await api.call('DELETE', `${LIB}/${a.assetId}`, A.token);
            assert.equal(r.res.status, 204, r.text);
        }
        // now, and 29 days on: a soft-deleted asset's files stay, the FAILED record stays
        for (const offset of [0, 29 * 86400e3]) {
            await api.setClock(offset);
            await api.runJob('storage-cleanup');
            assert.equal((await objectFiles(fx.png.sha256)).length, 1, `the deleted PNG's file at +${offset} ms`);
            assert.equal((await objectFiles(thumbSha(gone))).length, 1, 'its thumbnail');
        }
        await api.setClock(0);
        assert.equal(api.ok(await api.asset(A.token, failed.assetId)).status, 'FAILED', 'the FAILED record is kept');

        await api.setClock(31 * 86400e3);
        await api.runJob('asset-timeouts');
        await api.runJob('storage-cleanup');
        assert.deepEqual(await objectFiles(fx.png.sha256), [], 'the file of an asset deleted 31 days ago');
        assert.deepEqual(await objectFiles(thumbSha(gone)), [], 'its thumbnail');
        assert.equal((await objectFiles(fx.jpeg.sha256)).length, 1, 'the file of a live asset');
        assert.equal((await objectFiles(thumbSha(kept))).length, 1, 'the thumbnail of a live asset');
        assert.equal((await objectFiles(fx.mp4.sha256)).length, 1, 'a file another live asset uses');
        assert.equal((await objectFiles(thumbSha(twinKept))).length, 1);
        await api.setClock(0);
        // the FAILED record is gone after 30 days, the live ones are whole (the token is the
        // one from before the clock moved: nothing logs in after it went back)
        let r = await api.asset(A.token, failed.assetId);
        assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
        const live = api.ok(await api.asset(A.token, kept.assetId));
        assert.equal(live.status, 'READY');
        r = await get(live.url);
        assert.equal(r.res.status, 200);
        r = await get(api.ok(await api.asset(A.token, twinKept.assetId)).url);
        assert.equal(r.res.status, 200);
        const all = (await api.list(LIB, A.token)).map((a) => a.assetId);
        assert.deepEqual(all.sort(), [kept.assetId, twinKept.assetId].sort());
    });
});

describe(`processing after a restart (${BACKEND})`, () => {
    let store;
    let srv;
    let fx;
    const api = client(() => srv);
    const A = {};

    before(async () => {
        [store, fx] = await Promise.all([makeStore(), makeFixtures()]);
    });
    after(async () => {
        await srv?.stop();
        await store?.release();
    });

    it('PROCESSING assets left by a stopped marqueed are processed by the next one (size checked again)', async () => {
        srv = await startServer({ store, args: ['--media-workers', '0', '--rate-limits', RATE_LIMITS] });
        Object.assign(A, await api.createTenant('Restart Tenant', 'admin@restart-content.test'));
        const img = (await api.send(A.token, LIB, fx.jpeg, { displayName: 'survives' })).session;
        const vid = (await api.send(A.token, LIB, fx.mp4, { displayName: 'too big now' })).session;
        assert.equal(api.ok(await api.asset(A.token, img.assetId)).status, 'PROCESSING');
        await srv.stop();
        assert.ok(fx.jpeg.size < 100000 && fx.mp4.size > 100000);
        // the next instance processes, and a smaller max_upload_bytes applies to what it finds
        srv = await startServer({ store, args: ['--max-upload-bytes', '100000', '--rate-limits', RATE_LIMITS] });
        A.token = await api.login(A.email);
        const a = await api.settle(A.token, img.assetId);
        assert.equal(a.status, 'READY', JSON.stringify(a));
        assert.equal(a.checksumSha256, fx.jpeg.sha256);
        assert.equal(a.width, 640);
        const m = await fetch(a.url);
        assert.equal(m.status, 200);
        assert.equal(sha256(Buffer.from(await m.arrayBuffer())), fx.jpeg.sha256);
        const v = await api.settle(A.token, vid.assetId);
        assert.equal(v.status, 'FAILED', JSON.stringify(v));
        assert.equal(v.failureReason, 'FILE_SIZE_EXCEEDED');
        assertFailureDetail(v, srv, fx.dir);
    });
});

describe(`the upload rate limit (${BACKEND})`, () => {
    let srv;
    const api = client(() => srv);

    before(async () => {
        srv = await startServer({ args: ['--rate-limits', 'login_ip=10000/60,login_account=10000/60,mutation=100000/60,upload=3/3600'] });
    });
    after(async () => {
        await srv?.stop();
    });

    it('upload sessions count per tenant, library and venues together: 429 RATE_LIMITED after the limit', async () => {
        const A = await api.createTenant('Limited', 'admin@limited-content.test');
        const B = await api.createTenant('Unlimited', 'admin@unlimited-content.test');
        const v = await api.createVenue(A, 'Limited Venue');
        const body = { fileName: 'x.jpg', contentType: 'image/jpeg', sizeBytes: 10 };
        api.ok(await api.session(A.token, LIB, body), 201);
        api.ok(await api.session(A.token, venueAssets(v), body), 201);
        api.ok(await api.session(A.token, LIB, body), 201);
        for (const p of [LIB, venueAssets(v)]) {
            const r = await api.session(A.token, p, body);
            const prob = assertProblem(r.res, r.text, { status: 429, code: 'RATE_LIMITED' });
            assert.ok(Number(r.res.headers.get('retry-after')) > 0);
            assert.equal(prob.retryAfterSeconds, Number(r.res.headers.get('retry-after')));
        }
        // another tenant has its own budget; reads are not upload sessions
        api.ok(await api.session(B.token, LIB, body), 201);
        api.ok(await api.call('GET', LIB, A.token));
    });
});
