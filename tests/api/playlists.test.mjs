// SPDX-License-Identifier: MIT
//
// playlists.test.mjs — the playlists of docs/publishing.md (spec §6, §15, §16, §26.7, §27.1,
// §27.5, §27.6, §27.9, §27.10): create / read / list / rename / delete in the library and in a
// venue with the visibility and roles of assets (another venue's or tenant's playlist is 404,
// never 403); the draft's items and their validation; reorder; ETags (428 / 412) and the
// three-way merge of an edit made from an older version (X-Base-Version or baseVersion), clean
// or 409 MERGE_CONFLICT, audited, also under real concurrency; publish (READY assets only, never
// empty, numbered 1, 2, 3 … even when 50 publishes race, each snapshot whole — checked in the
// store with SQL); rollback as a new version; the venues' publishing history.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { makeFixtures } from './lib/media.mjs';
import { BACKEND, UUID_RE, assertProblem, get, startServer } from './lib/server.mjs';
import { apiClient } from './lib/client.mjs';

const PASSWORD = 'playlist suite passphrase 1';
const RATE_LIMITS = 'login_ip=10000/60,login_account=10000/60,refresh_user=10000/60,upload=10000/3600,'
    + 'mutation=100000/60,publish=100000/60';
const TS_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/;
const ETAG_RE = /^"v(\d+)-[^"]+"$/;
const LIB = '/v1/library/playlists';
const LIB_ASSETS = '/v1/library/assets';
const venuePl = (venueId) => `/v1/venues/${venueId}/playlists`;
const venueAssets = (venueId) => `/v1/venues/${venueId}/assets`;
const PLAYLIST_MEMBERS = ['playlistId', 'scope', 'venueId', 'name', 'draftVersion', 'publishedVersion', 'items',
    'createdAtUtc', 'updatedAtUtc'];
const ITEM_MEMBERS = ['playlistItemId', 'assetId', 'sequence', 'durationSeconds', 'enabled'];
const PUBLISH_EVENT_MEMBERS = ['publishEventId', 'type', 'entityId', 'venueId', 'previousVersion', 'publishedVersion',
    'sourceVersion', 'publishedByUserId', 'publishedAtUtc'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const versionOf = (etag) => {
    const m = ETAG_RE.exec(etag || '');
    assert.ok(m, `ETag ${etag} does not name a draft version ("v7-…")`);
    return Number(m[1]);
};

function assertPlaylistShape(p) {
    for (const k of PLAYLIST_MEMBERS) assert.ok(k in p, `playlist lacks "${k}": ${JSON.stringify(p)}`);
    assert.match(p.playlistId, UUID_RE);
    assert.ok(['TENANT', 'VENUE'].includes(p.scope), p.scope);
    if (p.scope === 'TENANT') assert.equal(p.venueId, null);
    else assert.match(p.venueId, UUID_RE);
    assert.equal(typeof p.name, 'string');
    assert.ok(Number.isInteger(p.draftVersion) && p.draftVersion >= 1, `draftVersion ${p.draftVersion}`);
    assert.ok(Number.isInteger(p.publishedVersion) && p.publishedVersion >= 0, `publishedVersion ${p.publishedVersion}`);
    assert.ok(Array.isArray(p.items));
    p.items.forEach((it, i) => {
        for (const k of ITEM_MEMBERS) assert.ok(k in it, `item lacks "${k}": ${JSON.stringify(it)}`);
        assert.match(it.playlistItemId, UUID_RE);
        assert.match(it.assetId, UUID_RE);
        assert.equal(it.sequence, i, 'sequence 0..n-1 in order');
        assert.ok(Number.isInteger(it.durationSeconds) && it.durationSeconds >= 1 && it.durationSeconds <= 86400);
        assert.equal(typeof it.enabled, 'boolean');
    });
    assert.match(p.createdAtUtc, TS_RE);
    assert.match(p.updatedAtUtc, TS_RE);
    assert.ok(p.updatedAtUtc >= p.createdAtUtc);
}

/** The API client of one server (as in assets.test.mjs) plus the playlist calls. */
function client(getSrv) {
    const { call, ok, login, createTenant, createVenue, createUser } = apiClient(getSrv, PASSWORD);
    const newSession = async (token, prefix, fx, extra = {}) =>
        ok(await call('POST', `${prefix}/uploads`, token, {
            fileName: fx.fileName, contentType: fx.contentType, sizeBytes: fx.size, checksumSha256: fx.sha256, ...extra,
        }), 201);
    /** Polls GET /v1/assets/{id} until READY or FAILED (60 s at most). */
    const settle = async (token, assetId, timeoutMs = 60000) => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            const a = ok(await call('GET', `/v1/assets/${assetId}`, token));
            if (a.status === 'READY' || a.status === 'FAILED') return a;
            if (Date.now() > deadline) assert.fail(`asset ${assetId} still ${a.status} after ${timeoutMs} ms`);
            await sleep(100);
        }
    };
    /** Session, PUT, complete, settle: the asset. */
    const upload = async (token, prefix, fx, extra = {}) => {
        const s = await newSession(token, prefix, fx, extra);
        const p = await get(s.uploadUrl, { method: 'PUT', body: fx.bytes });
        assert.equal(p.res.status, 200, p.text);
        ok(await call('POST', `${prefix}/uploads/${s.uploadId}/complete`, token));
        return settle(token, s.assetId);
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

    // ---- playlists ----
    /** POST {prefix} {name}: {pl, etag, path}. */
    const create = async (token, prefix, name) => {
        const r = await call('POST', prefix, token, { name });
        const pl = ok(r, 201);
        return { pl, etag: r.res.headers.get('etag'), path: `${prefix}/${pl.playlistId}`, res: r.res };
    };
    /** GET a playlist: {pl, etag}. */
    const read = async (token, p) => {
        const r = await call('GET', p, token);
        return { pl: ok(r), etag: r.res.headers.get('etag') };
    };
    /** A draft change with If-Match @ifMatch and, when @baseVersion, X-Base-Version. Raw answer. */
    const mutate = (method, p, token, body, { ifMatch, baseVersion, headers = {} } = {}) =>
        call(method, p, token, body, {
            ...(ifMatch ? { 'If-Match': ifMatch } : {}),
            ...(baseVersion !== undefined ? { 'X-Base-Version': String(baseVersion) } : {}),
            ...headers,
        });
    const putItems = (p, token, items, opts) => mutate('PUT', `${p}/items`, token, { items }, opts);
    const reorder = (p, token, itemIds, opts) => mutate('PUT', `${p}/reorder`, token, { itemIds }, opts);
    const rename = (p, token, name, opts) => mutate('PATCH', p, token, { name }, opts);
    /** A 200 draft change: {pl, etag}, the answer checked against a fresh GET. */
    const changed = async (r, token, p) => {
        const pl = ok(r);
        assertPlaylistShape(pl);
        const etag = r.res.headers.get('etag');
        assert.equal(versionOf(etag), pl.draftVersion, 'the ETag names the new draft version');
        if (token) {
            const now = await read(token, p);
            assert.deepEqual(now.pl, pl, 'the answer is the stored draft');
            assert.equal(now.etag, etag);
        }
        return { pl, etag };
    };
    const publish = (p, token, ifMatch) => call('POST', `${p}/publish`, token, undefined, ifMatch ? { 'If-Match': ifMatch } : {});
    const rollback = (p, token, body) => call('POST', `${p}/rollback`, token, body);

    return {
        call, ok, login, createTenant, createVenue, createUser, newSession, upload, settle, list,
        create, read, mutate, putItems, reorder, rename, changed, publish, rollback,
    };
}

describe(`playlists (${BACKEND})`, () => {
    let srv;
    let fx;
    const api = client(() => srv);
    const A = {}; // tenant A: admin, venues V1 V2, users
    const B = {}; // tenant B
    const as = {}; // assets: libA libB libC (READY, library), gif (FAILED), uploading, v1, v2, b

    /**
     * The output of an SQL query on the server's store ("|" between columns). SQLite is opened
     * read-only: the suite only looks (and a read-write sqlite3 closing last would checkpoint
     * the WAL under the running marqueed).
     */
    const sql = (text) => new Promise((resolve, reject) => {
        const [file, args] = srv.store.dbUrl
            ? [path.join(process.env.MARQUEE_PG_BINDIR || '', 'psql'), [srv.store.dbUrl, '-tAF', '|', '-c', text]]
            : ['sqlite3', ['-readonly', '-separator', '|', path.join(srv.dataDir, 'marquee.db'), text]];
        execFile(file, args, { timeout: 10000 }, (e, out, err) => (e ? reject(new Error(`${file}: ${err || e.message}`)) : resolve(out.trim())));
    });
    /** Rows of an SQL query as arrays of strings. */
    const sqlRows = async (text) => {
        const out = await sql(text);
        return out ? out.split('\n').map((l) => l.split('|')) : [];
    };
    /** A snapshot's items in order: [[assetId, sequence, durationSeconds]]. */
    const snapshot = (playlistId, version) => sqlRows(`SELECT asset_id, sequence, duration_seconds FROM playlist_published_items
        WHERE playlist_id = '${playlistId}' AND published_version = ${version} ORDER BY sequence`);
    /** Audit entries of the tenant (as its admin) for @action on @playlistId. */
    const auditOf = async (t, action, playlistId) =>
        (await api.list(`/v1/audit?action=${encodeURIComponent(action)}`, t.token)).filter((e) => e.resourceId === playlistId);

    /** A library playlist of A (made by the admin) with @n items of libA, durations 1..n: its state. */
    let serial = 0;
    const withItems = async (n, { prefix = LIB, token = null, name } = {}) => {
        token ??= A.token;
        const made = await api.create(token, prefix, name ?? `merge base ${++serial}`);
        const items = Array.from({ length: n }, (_, i) => ({ assetId: as.libA.assetId, durationSeconds: i + 1 }));
        const r = await api.putItems(made.path, token, items, { ifMatch: made.etag });
        const { pl, etag } = await api.changed(r, token, made.path);
        return { path: made.path, pl, etag, ids: pl.items.map((it) => it.playlistItemId), version: pl.draftVersion };
    };
    /** @items of a draft as the PUT body that keeps them all as they are (ids only). */
    const keep = (pl) => pl.items.map((it) => ({ playlistItemId: it.playlistItemId }));

    before(async () => {
        [srv, fx] = await Promise.all([
            // 8 HTTP workers whatever the machine: the races below really race
            startServer({ args: ['--rate-limits', RATE_LIMITS, '--threads', '8'] }),
            makeFixtures(),
        ]);
        Object.assign(A, await api.createTenant('Alpha Playlists', 'admin@alpha-playlists.test'));
        Object.assign(B, await api.createTenant('Bravo Playlists', 'admin@bravo-playlists.test'));
        A.V1 = await api.createVenue(A, 'Venue One');
        A.V2 = await api.createVenue(A, 'Venue Two');
        [A.editor, A.viewer, A.editor2, A.librarian] = await Promise.all([
            api.createUser(A, 'editor1@alpha-playlists.test', { venueRoles: [{ venueId: A.V1, role: 'VENUE_EDITOR' }] }),
            api.createUser(A, 'viewer1@alpha-playlists.test', { venueRoles: [{ venueId: A.V1, role: 'VENUE_VIEWER' }] }),
            api.createUser(A, 'editor2@alpha-playlists.test', { venueRoles: [{ venueId: A.V2, role: 'VENUE_EDITOR' }] }),
            api.createUser(A, 'librarian@alpha-playlists.test', {
                capabilities: ['EDIT_SHARED_LIBRARY'], venueRoles: [{ venueId: A.V1, role: 'VENUE_EDITOR' }],
            }),
        ]);
        [as.libA, as.libB, as.libC, as.gif, as.v1, as.v2, as.b, as.video] = await Promise.all([
            api.upload(A.token, LIB_ASSETS, fx.jpeg, { displayName: 'lib A' }),
            api.upload(A.token, LIB_ASSETS, fx.png, { displayName: 'lib B' }),
            api.upload(A.librarian.token, LIB_ASSETS, fx.jpeg, { displayName: 'lib C' }),
            api.upload(A.token, LIB_ASSETS, fx.gif, { displayName: 'lib gif' }),
            api.upload(A.editor.token, venueAssets(A.V1), fx.png, { displayName: 'v1 own' }),
            api.upload(A.editor2.token, venueAssets(A.V2), fx.jpeg, { displayName: 'v2 own' }),
            api.upload(B.token, LIB_ASSETS, fx.jpeg, { displayName: 'bravo lib' }),
            api.upload(A.token, LIB_ASSETS, fx.mp4, { displayName: 'lib video' }), // 3 s
        ]);
        for (const k of ['libA', 'libB', 'libC', 'v1', 'v2', 'b', 'video']) assert.equal(as[k].status, 'READY', `${k}: ${JSON.stringify(as[k])}`);
        assert.equal(as.gif.status, 'FAILED');
        const up = await api.newSession(A.token, LIB_ASSETS, fx.jpeg, { displayName: 'lib uploading' });
        as.uploading = api.ok(await api.call('GET', `/v1/assets/${up.assetId}`, A.token));
        assert.equal(as.uploading.status, 'UPLOADING');
        as.deleted = await api.upload(A.token, LIB_ASSETS, fx.png, { displayName: 'lib deleted' });
        const d = await api.call('DELETE', `${LIB_ASSETS}/${as.deleted.assetId}`, A.token);
        assert.equal(d.res.status, 204, d.text);
    });
    after(async () => {
        await srv?.stop();
    });

    // ------------------------------------------------------------------------------------------
    describe('create, read, list, rename, delete', () => {
        it('POST: 201, Location, ETag "v1-…", an empty draft at version 1; GET the same, 304 on If-None-Match', async () => {
            for (const [token, prefix, scope, venueId] of [
                [A.librarian.token, LIB, 'TENANT', null],
                [A.token, LIB, 'TENANT', null],
                [A.editor.token, venuePl(A.V1), 'VENUE', A.V1],
                [A.token, venuePl(A.V2), 'VENUE', A.V2],
            ]) {
                const t0 = new Date(Date.now() - 2000).toISOString();
                const made = await api.create(token, prefix, 'Lunch menu');
                const { pl, etag } = made;
                assertPlaylistShape(pl);
                assert.match(made.res.headers.get('content-type') || '', /^application\/json\b/);
                const loc = made.res.headers.get('location');
                assert.ok(loc, 'Location header');
                assert.equal(new URL(loc, srv.url).pathname, `${prefix}/${pl.playlistId}`);
                assert.match(etag || '', /^"v1-[^"]+"$/, `ETag ${etag}`);
                assert.equal(pl.scope, scope);
                assert.equal(pl.venueId, venueId);
                assert.equal(pl.name, 'Lunch menu');
                assert.equal(pl.draftVersion, 1);
                assert.equal(pl.publishedVersion, 0);
                assert.deepEqual(pl.items, []);
                assert.ok(pl.createdAtUtc >= t0.replace(/\.\d+Z$/, ''), pl.createdAtUtc);

                const got = await api.read(token, made.path);
                assert.deepEqual(got.pl, pl);
                assert.equal(got.etag, etag);
                const nm = await api.call('GET', made.path, token, undefined, { 'If-None-Match': etag });
                assert.equal(nm.res.status, 304, nm.text);
                assert.equal(nm.text, '');
                assert.equal(nm.res.headers.get('etag'), etag);
                const other = await api.call('GET', made.path, token, undefined, { 'If-None-Match': '"v9-0000"' });
                assert.equal(other.res.status, 200);
                // a 304 that says a Content-Length says the 200's (RFC 9110 §8.6)
                assert.equal(nm.res.headers.get('content-length'), other.res.headers.get('content-length'));
            }
        });

        it('400 for a missing, empty, mistyped name and for unknown members', async () => {
            for (const [body, code] of [
                [{}, 'FIELD_REQUIRED'],
                [{ name: '' }, 'INVALID_FIELD'],
                [{ name: 42 }, 'INVALID_FIELD'],
                [{ name: ['x'] }, 'INVALID_FIELD'],
                [{ name: 'ok', items: [] }, 'UNKNOWN_FIELD'],
                [{ name: 'ok', scope: 'TENANT' }, 'UNKNOWN_FIELD'],
            ]) {
                for (const prefix of [LIB, venuePl(A.V1)]) {
                    const r = await api.call('POST', prefix, A.token, body);
                    assertProblem(r.res, r.text, { status: 400, code });
                }
            }
            const r = await api.call('POST', LIB, A.token, '{"name": ');
            assert.equal(r.res.status, 400, r.text);
        });

        it('lists newest first without items; q (case-insensitive), scope, and a limit=1 walk through nextCursor', async () => {
            const tag = `pq${Date.now().toString(36)}`;
            const lib1 = await api.create(A.token, LIB, `${tag} Breakfast`);
            const v1a = await api.create(A.editor.token, venuePl(A.V1), `${tag} v1 DINNER`);
            const lib2 = await api.create(A.token, LIB, `${tag} brunch`);
            const v2a = await api.create(A.editor2.token, venuePl(A.V2), `${tag} v2 only`);
            const v1b = await api.create(A.editor.token, venuePl(A.V1), `${tag} v1 late`);
            const ids = (items) => items.map((p) => p.playlistId);
            const idOf = (m) => m.pl.playlistId;

            const lib = api.ok(await api.call('GET', `${LIB}?q=${tag.toUpperCase()}`, A.token));
            assert.deepEqual(ids(lib.items), [idOf(lib2), idOf(lib1)], 'the library: its own playlists, newest first');
            assert.equal(lib.nextCursor, null);
            for (const p of lib.items) {
                assert.ok(!('items' in p), `a list entry carries items: ${JSON.stringify(p)}`);
                for (const k of PLAYLIST_MEMBERS.filter((m) => m !== 'items')) assert.ok(k in p, `list entry lacks ${k}`);
            }
            const v1 = (q, token = A.editor.token) => api.call('GET', `${venuePl(A.V1)}?q=${tag}${q}`, token).then((r) => ids(api.ok(r).items));
            const v1All = [idOf(v1b), idOf(lib2), idOf(v1a), idOf(lib1)];
            assert.deepEqual(await v1(''), v1All, 'V1: the library and its own, newest first, never V2\'s');
            assert.deepEqual(await v1('', A.viewer.token), v1All);
            assert.deepEqual(await v1('', A.token), v1All);
            assert.deepEqual(await v1('&scope=VENUE'), [idOf(v1b), idOf(v1a)]);
            assert.deepEqual(await v1('&scope=TENANT'), [idOf(lib2), idOf(lib1)]);
            assert.deepEqual(await v1('%20V1%20dinner'), [idOf(v1a)]);
            const v2 = api.ok(await api.call('GET', `${venuePl(A.V2)}?q=${tag}&scope=VENUE`, A.editor2.token));
            assert.deepEqual(ids(v2.items), [idOf(v2a)]);
            const none = api.ok(await api.call('GET', `${LIB}?q=${tag}-nothing`, A.token));
            assert.deepEqual(none.items, []);

            // limit=1: every playlist once, the same order
            assert.deepEqual(ids(await api.list(`${venuePl(A.V1)}?q=${tag}`, A.editor.token, 1)), v1All);
            assert.deepEqual(ids(await api.list(`${LIB}?q=${tag}`, A.viewer.token, 1)), [idOf(lib2), idOf(lib1)]);
            const all = await api.list(venuePl(A.V1), A.token, 2);
            assert.equal(new Set(ids(all)).size, all.length, 'a playlist on two pages');
            assert.ok(!ids(all).includes(idOf(v2a)));

            for (const p of [`${LIB}?scope=GLOBAL`, `${venuePl(A.V1)}?scope=venue`]) {
                const r = await api.call('GET', p, A.token);
                assertProblem(r.res, r.text, { status: 400, code: 'INVALID_QUERY' });
            }
            for (const p of [`${LIB}?limit=0`, `${LIB}?limit=201`, `${LIB}?limit=x`, `${LIB}?cursor=garbage`]) {
                const r = await api.call('GET', p, A.token);
                assert.equal(r.res.status, 400, `${p}: ${r.text}`);
            }
        });

        it('PATCH renames with If-Match: 200, draftVersion 2, a new ETag; 428 without If-Match, 412 with an old one', async () => {
            const made = await api.create(A.token, LIB, 'Old name');
            let r = await api.rename(made.path, A.token, 'New name');
            let p = assertProblem(r.res, r.text, { status: 428, code: 'PRECONDITION_REQUIRED' });
            r = await api.rename(made.path, A.token, 'New name', { ifMatch: made.etag });
            const { pl, etag } = await api.changed(r, A.token, made.path);
            assert.equal(pl.name, 'New name');
            assert.equal(pl.draftVersion, 2);
            assert.match(etag, /^"v2-/);
            assert.notEqual(etag, made.etag);
            r = await api.rename(made.path, A.token, 'Newer name', { ifMatch: made.etag });
            p = assertProblem(r.res, r.text, { status: 412, code: 'PRECONDITION_FAILED' });
            assert.equal(p.currentEtag, etag);
            assert.deepEqual((await api.read(A.token, made.path)).pl, pl, 'a refused change changes nothing');
            for (const [body, code] of [[{}, 'FIELD_REQUIRED'], [{ name: '' }, 'INVALID_FIELD'], [{ name: 'x', items: [] }, 'UNKNOWN_FIELD']]) {
                r = await api.mutate('PATCH', made.path, A.token, body, { ifMatch: etag });
                assertProblem(r.res, r.text, { status: 400, code });
            }
            assert.equal((await api.read(A.token, made.path)).etag, etag);
        });

        it('DELETE: 204, then 404 on read, gone from lists, a second DELETE 404', async () => {
            for (const [token, prefix] of [[A.librarian.token, LIB], [A.editor.token, venuePl(A.V1)]]) {
                const made = await api.create(token, prefix, 'to delete');
                let r = await api.call('DELETE', made.path, token);
                assert.equal(r.res.status, 204, r.text);
                assert.equal(r.text, '');
                for (const p of [made.path, `${venuePl(A.V1)}/${made.pl.playlistId}`]) {
                    r = await api.call('GET', p, A.token);
                    assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
                }
                const seen = [...await api.list(prefix, A.token), ...await api.list(venuePl(A.V1), A.token)].map((p) => p.playlistId);
                assert.ok(!seen.includes(made.pl.playlistId), 'a deleted playlist in a list');
                r = await api.call('DELETE', made.path, token);
                assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
                r = await api.rename(made.path, token, 'ghost', { ifMatch: made.etag });
                assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            }
        });
    });

    // ------------------------------------------------------------------------------------------
    describe('scope and visibility (as for assets)', () => {
        const P = {}; // lib, v1, v2, b: {pl, etag, path}
        before(async () => {
            P.lib = await api.create(A.librarian.token, LIB, 'vis shared');
            P.v1 = await api.create(A.editor.token, venuePl(A.V1), 'vis v1');
            P.v2 = await api.create(A.editor2.token, venuePl(A.V2), 'vis v2');
            P.b = await api.create(B.token, LIB, 'vis bravo');
        });

        it('V1 sees the library\'s and its own, by the library and venue paths; V2\'s is 404 (never 403)', async () => {
            for (const token of [A.editor.token, A.viewer.token, A.librarian.token, A.token]) {
                const seen = (await api.list(venuePl(A.V1), token)).map((p) => p.playlistId);
                assert.ok(seen.includes(P.lib.pl.playlistId) && seen.includes(P.v1.pl.playlistId));
                assert.ok(!seen.includes(P.v2.pl.playlistId), 'another venue\'s playlist in the list');
                assert.ok(!seen.includes(P.b.pl.playlistId), 'another tenant\'s playlist in the list');
                api.ok(await api.call('GET', `${venuePl(A.V1)}/${P.lib.pl.playlistId}`, token));
                api.ok(await api.call('GET', `${LIB}/${P.lib.pl.playlistId}`, token));
                api.ok(await api.call('GET', P.v1.path, token));
            }
            for (const [token, p] of [
                [A.editor.token, `${venuePl(A.V1)}/${P.v2.pl.playlistId}`],
                [A.token, `${venuePl(A.V1)}/${P.v2.pl.playlistId}`],
                [A.editor.token, P.v2.path],
                [A.viewer.token, P.v2.path],
                [A.editor.token, venuePl(A.V2)],
                [A.editor2.token, P.v1.path],
                [A.token, `${LIB}/${P.v1.pl.playlistId}`], // the library holds only TENANT playlists
            ]) {
                const r = await api.call('GET', p, token);
                assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            }
            // changes through a path that does not see the playlist: 404 as well
            for (const [method, p, body] of [
                ['PATCH', `${venuePl(A.V1)}/${P.v2.pl.playlistId}`, { name: 'x' }],
                ['PUT', `${venuePl(A.V1)}/${P.v2.pl.playlistId}/items`, { items: [] }],
                ['POST', `${venuePl(A.V1)}/${P.v2.pl.playlistId}/publish`, undefined],
                ['DELETE', `${venuePl(A.V1)}/${P.v2.pl.playlistId}`, undefined],
                ['PATCH', `${LIB}/${P.v1.pl.playlistId}`, { name: 'x' }],
            ]) {
                const r = await api.call(method, p, A.token, body, { 'If-Match': P.v2.etag });
                assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            }
            assert.equal((await api.read(A.token, P.v2.path)).etag, P.v2.etag);
        });

        it('another tenant\'s playlists and venues are 404, never 403, for every method', async () => {
            for (const [method, p, body, etag] of [
                ['GET', `${LIB}/${P.lib.pl.playlistId}`],
                ['PATCH', `${LIB}/${P.lib.pl.playlistId}`, { name: 'x' }, P.lib.etag],
                ['PUT', `${LIB}/${P.lib.pl.playlistId}/items`, { items: [] }, P.lib.etag],
                ['PUT', `${LIB}/${P.lib.pl.playlistId}/reorder`, { itemIds: [] }, P.lib.etag],
                ['POST', `${LIB}/${P.lib.pl.playlistId}/publish`, undefined, P.lib.etag],
                ['POST', `${LIB}/${P.lib.pl.playlistId}/rollback`, { version: 1 }],
                ['DELETE', `${LIB}/${P.lib.pl.playlistId}`],
                ['GET', venuePl(A.V1)],
                ['POST', venuePl(A.V1), { name: 'intruder' }],
                ['GET', P.v1.path],
                ['PATCH', P.v1.path, { name: 'x' }, P.v1.etag],
                ['DELETE', P.v1.path],
            ]) {
                const r = await api.call(method, p, B.token, body, etag ? { 'If-Match': etag } : {});
                assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            }
            const r = await api.call('GET', `${LIB}/${P.b.pl.playlistId}`, A.token);
            assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            assert.deepEqual((await api.list(LIB, B.token)).map((p) => p.playlistId), [P.b.pl.playlistId]);
            assert.equal((await api.read(A.token, P.lib.path)).etag, P.lib.etag, 'nothing changed');
            assert.equal((await api.read(A.token, P.v1.path)).etag, P.v1.etag, 'nothing changed');
        });

        it('403: a viewer changes nothing; a venue editor cannot change the library (either path); the capability can', async () => {
            const lib = await api.create(A.librarian.token, LIB, 'perm shared');
            const v1 = await api.create(A.editor.token, venuePl(A.V1), 'perm v1');
            const libViaV1 = `${venuePl(A.V1)}/${lib.pl.playlistId}`;
            const changes = (p, etag) => [
                ['PATCH', p, { name: 'x' }, etag],
                ['PUT', `${p}/items`, { items: [] }, etag],
                ['PUT', `${p}/reorder`, { itemIds: [] }, etag],
                ['POST', `${p}/publish`, undefined, etag],
                ['POST', `${p}/rollback`, { version: 1 }],
                ['DELETE', p],
            ];
            const cases = [
                ...changes(v1.path, v1.etag).map((c) => [A.viewer.token, ...c]),
                [A.viewer.token, 'POST', venuePl(A.V1), { name: 'x' }],
                ...changes(lib.path, lib.etag).map((c) => [A.editor.token, ...c]),
                ...changes(lib.path, lib.etag).map((c) => [A.viewer.token, ...c]),
                [A.editor.token, 'POST', LIB, { name: 'x' }],
                // through a venue path the library is read-only, whoever asks
                ...changes(libViaV1, lib.etag).map((c) => [A.editor.token, ...c]),
                ...changes(libViaV1, lib.etag).map((c) => [A.librarian.token, ...c]),
                ...changes(libViaV1, lib.etag).map((c) => [A.token, ...c]),
            ];
            const wrong = [];
            for (const [token, method, p, body, etag] of cases) {
                const r = await api.call(method, p, token, body, etag ? { 'If-Match': etag } : {});
                try {
                    assertProblem(r.res, r.text, { status: 403, code: 'FORBIDDEN' });
                } catch (e) {
                    wrong.push(`${method} ${p} → ${r.res.status} ${r.text.slice(0, 200)}`);
                }
            }
            assert.deepEqual(wrong, [], `not 403:\n${wrong.join('\n')}`);
            assert.equal((await api.read(A.token, lib.path)).etag, lib.etag, 'nothing changed');
            assert.equal((await api.read(A.token, v1.path)).etag, v1.etag, 'nothing changed');
            // the viewer reads both
            api.ok(await api.call('GET', v1.path, A.viewer.token));
            api.ok(await api.call('GET', libViaV1, A.viewer.token));
            // EDIT_SHARED_LIBRARY and the tenant admin edit the library through the library path
            let r = await api.rename(lib.path, A.librarian.token, 'renamed by the librarian', { ifMatch: lib.etag });
            let c = await api.changed(r, A.librarian.token, lib.path);
            r = await api.rename(lib.path, A.token, 'renamed by the admin', { ifMatch: c.etag });
            c = await api.changed(r, A.token, lib.path);
            assert.equal(c.pl.name, 'renamed by the admin');
            // the tenant admin edits a venue's playlist; the venue editor its own
            r = await api.rename(v1.path, A.token, 'v1 by the admin', { ifMatch: v1.etag });
            c = await api.changed(r, A.editor.token, v1.path);
            r = await api.rename(v1.path, A.editor.token, 'v1 by its editor', { ifMatch: c.etag });
            await api.changed(r, A.editor.token, v1.path);
        });
    });

    // ------------------------------------------------------------------------------------------
    describe('items and reorder', () => {
        it('PUT items: new items get ids, sequence 0..n-1, durationSeconds 10 and enabled true by default', async () => {
            const made = await api.create(A.token, LIB, 'items defaults');
            const r = await api.putItems(made.path, A.token, [
                { assetId: as.libA.assetId },
                { assetId: as.libB.assetId, durationSeconds: 25 },
                { assetId: as.libC.assetId, enabled: false },
                { assetId: as.gif.assetId }, // not READY: fine until publish
                { assetId: as.uploading.assetId, durationSeconds: 86400, enabled: true },
                { assetId: as.libA.assetId, durationSeconds: 1 }, // the same asset twice
            ], { ifMatch: made.etag });
            const { pl, etag } = await api.changed(r, A.token, made.path);
            assert.equal(pl.draftVersion, 2);
            assert.notEqual(etag, made.etag);
            assert.deepEqual(pl.items.map(({ assetId, sequence, durationSeconds, enabled }) => [assetId, sequence, durationSeconds, enabled]), [
                [as.libA.assetId, 0, 10, true],
                [as.libB.assetId, 1, 25, true],
                [as.libC.assetId, 2, 10, false],
                [as.gif.assetId, 3, 10, true],
                [as.uploading.assetId, 4, 86400, true],
                [as.libA.assetId, 5, 1, true],
            ]);
            assert.equal(new Set(pl.items.map((it) => it.playlistItemId)).size, 6, 'every item its own id');
            assert.equal(pl.publishedVersion, 0, 'a draft change publishes nothing');
        });

        it('an existing playlistItemId keeps the fields not sent; items not sent go; order as sent', async () => {
            const made = await api.create(A.editor.token, venuePl(A.V1), 'items keep');
            let r = await api.putItems(made.path, A.editor.token, [
                { assetId: as.libA.assetId, durationSeconds: 7, enabled: false },
                { assetId: as.v1.assetId, durationSeconds: 8 },
                { assetId: as.libB.assetId, durationSeconds: 9 },
            ], { ifMatch: made.etag });
            let { pl, etag } = await api.changed(r, A.editor.token, made.path);
            const [i1, i2, i3] = pl.items.map((it) => it.playlistItemId);
            r = await api.putItems(made.path, A.editor.token, [
                { playlistItemId: i3 },
                { playlistItemId: i1, durationSeconds: 70 },
                { playlistItemId: i2, assetId: as.libC.assetId, enabled: false },
                { assetId: as.v1.assetId },
            ], { ifMatch: etag });
            ({ pl, etag } = await api.changed(r, A.editor.token, made.path));
            assert.equal(pl.draftVersion, 3);
            assert.deepEqual(pl.items.slice(0, 3).map(({ playlistItemId, assetId, sequence, durationSeconds, enabled }) =>
                [playlistItemId, assetId, sequence, durationSeconds, enabled]), [
                [i3, as.libB.assetId, 0, 9, true],
                [i1, as.libA.assetId, 1, 70, false],
                [i2, as.libC.assetId, 2, 8, false],
            ]);
            assert.ok(![i1, i2, i3].includes(pl.items[3].playlistItemId));
            assert.equal(pl.items[3].durationSeconds, 10);
            // dropping every item: an empty draft is a draft
            r = await api.putItems(made.path, A.editor.token, [{ playlistItemId: i1 }], { ifMatch: etag });
            ({ pl, etag } = await api.changed(r, A.editor.token, made.path));
            assert.deepEqual(pl.items.map((it) => it.playlistItemId), [i1]);
            assert.equal(pl.items[0].durationSeconds, 70);
            r = await api.putItems(made.path, A.editor.token, [], { ifMatch: etag });
            ({ pl } = await api.changed(r, A.editor.token, made.path));
            assert.deepEqual(pl.items, []);
        });

        it('invalid items are refused (400/422, naming the item) and change nothing', async () => {
            const made = await api.create(A.token, LIB, 'items invalid');
            let r = await api.putItems(made.path, A.token, [{ assetId: as.libA.assetId }], { ifMatch: made.etag });
            const { pl, etag } = await api.changed(r, A.token, made.path);
            const i1 = pl.items[0].playlistItemId;
            const good = { assetId: as.libB.assetId };
            const cases = [
                ['unknown playlistItemId', [{ playlistItemId: '00000000-0000-4000-8000-000000000000', durationSeconds: 5 }]],
                ['playlistItemId not a UUID', [{ playlistItemId: 'nope' }]],
                ['the same playlistItemId twice', [{ playlistItemId: i1 }, { playlistItemId: i1 }]],
                ['a new item without assetId', [{ durationSeconds: 5 }]],
                ['assetId not a UUID', [{ assetId: 'not-a-uuid' }]],
                ['assetId a number', [{ assetId: 17 }]],
                ['durationSeconds 0', [{ assetId: as.libA.assetId, durationSeconds: 0 }]],
                ['durationSeconds 86401', [{ assetId: as.libA.assetId, durationSeconds: 86401 }]],
                ['durationSeconds -5', [{ assetId: as.libA.assetId, durationSeconds: -5 }]],
                ['durationSeconds "x"', [{ assetId: as.libA.assetId, durationSeconds: 'x' }]],
                ['durationSeconds 1.5', [{ assetId: as.libA.assetId, durationSeconds: 1.5 }]],
                ['enabled "yes"', [{ assetId: as.libA.assetId, enabled: 'yes' }]],
                ['enabled 1', [{ playlistItemId: i1, enabled: 1 }]],
                ['an item that is not an object', ['x']],
            ];
            const wrong = [];
            for (const [what, items] of cases) {
                const body = [good, ...items]; // the bad one is items[1] (or later)
                const rr = await api.putItems(made.path, A.token, body, { ifMatch: etag });
                try {
                    assert.ok([400, 422].includes(rr.res.status), `status ${rr.res.status}`);
                    const p = JSON.parse(rr.text);
                    assertProblem(rr.res, rr.text, { status: rr.res.status, code: p.code });
                    assert.ok(Array.isArray(p.errors) && p.errors.length >= 1, 'errors[]');
                    assert.match(JSON.stringify(p.errors), /items\[1\]|items\[2\]/, 'errors[] names the item');
                    assert.doesNotMatch(JSON.stringify(p.errors), /items\[0\]/, 'the good item is not named');
                } catch (e) {
                    wrong.push(`${what}: ${e.message.split('\n')[0]} — ${rr.res.status} ${rr.text.slice(0, 300)}`);
                }
            }
            assert.deepEqual(wrong, [], wrong.join('\n'));
            for (const [body, code] of [
                [{ items: [good], extra: 1 }, 'UNKNOWN_FIELD'],
                [{ items: [good], name: 'x' }, 'UNKNOWN_FIELD'],
                [{}, null],
                [{ items: 'x' }, null],
                [{ items: { a: 1 } }, null],
            ]) {
                r = await api.mutate('PUT', `${made.path}/items`, A.token, body, { ifMatch: etag });
                assertProblem(r.res, r.text, { status: 400, code: code ?? JSON.parse(r.text).code });
            }
            const now = await api.read(A.token, made.path);
            assert.equal(now.etag, etag, 'a refused change changes nothing');
            assert.deepEqual(now.pl, pl);
        });

        it('422 INVALID_ITEMS naming each asset of another venue or tenant, or deleted, or unknown', async () => {
            const lib = await api.create(A.token, LIB, 'items scope lib');
            const v1 = await api.create(A.token, venuePl(A.V1), 'items scope v1');
            const unknown = '00000000-0000-4000-8000-0000000000aa';
            for (const [made, bad] of [
                [lib, [as.v1.assetId, as.v2.assetId, as.b.assetId, as.deleted.assetId, unknown]], // the library uses only library assets
                [v1, [as.v2.assetId, as.b.assetId, as.deleted.assetId, unknown]],
            ]) {
                const body = [{ assetId: as.libA.assetId }, ...bad.map((assetId) => ({ assetId, durationSeconds: 5 }))];
                const r = await api.putItems(made.path, A.token, body, { ifMatch: made.etag });
                const p = assertProblem(r.res, r.text, { status: 422, code: 'INVALID_ITEMS' });
                assert.ok(Array.isArray(p.errors), r.text);
                const named = JSON.stringify(p.errors);
                for (const id of bad) assert.ok(named.includes(id), `errors[] does not name ${id}: ${named}`);
                assert.ok(!named.includes(as.libA.assetId), `errors[] names a good asset: ${named}`);
                assert.equal(p.errors.length, bad.length, `one error per bad item: ${named}`);
                assert.equal((await api.read(A.token, made.path)).etag, made.etag);
            }
            // what each scope may use is accepted
            let r = await api.putItems(lib.path, A.token, [{ assetId: as.libA.assetId }, { assetId: as.libC.assetId }], { ifMatch: lib.etag });
            await api.changed(r, A.token, lib.path);
            r = await api.putItems(v1.path, A.token, [{ assetId: as.v1.assetId }, { assetId: as.libB.assetId }], { ifMatch: v1.etag });
            await api.changed(r, A.token, v1.path);
        });

        it('at most 1000 items: 1000 is fine, 1001 is 422 TOO_MANY_ITEMS', async () => {
            const made = await api.create(A.token, LIB, 'items many');
            let r = await api.putItems(made.path, A.token,
                Array.from({ length: 1001 }, () => ({ assetId: as.libA.assetId })), { ifMatch: made.etag });
            assertProblem(r.res, r.text, { status: 422, code: 'TOO_MANY_ITEMS' });
            assert.equal((await api.read(A.token, made.path)).etag, made.etag);
            r = await api.putItems(made.path, A.token,
                Array.from({ length: 1000 }, (_, i) => ({ assetId: as.libA.assetId, durationSeconds: 1 + (i % 100) })), { ifMatch: made.etag });
            const { pl } = await api.changed(r, A.token, made.path);
            assert.equal(pl.items.length, 1000);
            assert.equal(pl.items[999].sequence, 999);
            assert.equal(pl.items[999].durationSeconds, 100);
        });

        it('reorder takes a permutation of the draft\'s ids; missing, extra, duplicate or unknown ids are 422 INVALID_ORDER', async () => {
            const s = await withItems(4);
            const [a, b, c, d] = s.ids;
            let r = await api.reorder(s.path, A.token, [d, b, a, c]);
            assertProblem(r.res, r.text, { status: 428, code: 'PRECONDITION_REQUIRED' });
            for (const ids of [
                [d, b, a], // missing
                [d, b, a, c, a], // extra (a duplicate on top)
                [d, b, a, a], // duplicate instead of c
                [d, b, a, c, '00000000-0000-4000-8000-000000000001'], // unknown on top
                [d, b, a, '00000000-0000-4000-8000-000000000001'], // unknown instead of c
                [],
            ]) {
                r = await api.reorder(s.path, A.token, ids, { ifMatch: s.etag });
                assertProblem(r.res, r.text, { status: 422, code: 'INVALID_ORDER' });
            }
            for (const body of [{}, { itemIds: 'x' }, { itemIds: [d, b, a, c], items: [] }]) {
                r = await api.mutate('PUT', `${s.path}/reorder`, A.token, body, { ifMatch: s.etag });
                assert.equal(r.res.status, 400, `${JSON.stringify(body)}: ${r.text}`);
            }
            assert.equal((await api.read(A.token, s.path)).etag, s.etag, 'nothing changed');
            r = await api.reorder(s.path, A.token, [d, b, a, c], { ifMatch: s.etag });
            const { pl } = await api.changed(r, A.token, s.path);
            assert.equal(pl.draftVersion, s.version + 1);
            assert.deepEqual(pl.items.map((it) => [it.playlistItemId, it.sequence, it.durationSeconds]),
                [[d, 0, 4], [b, 1, 2], [a, 2, 1], [c, 3, 3]], 'items move with their fields');
        });
    });

    // ------------------------------------------------------------------------------------------
    describe('concurrent editing: ETags and the three-way merge', () => {
        /** A's edit applied with the current ETag: the new state. */
        const theirs = async (s, kind, payload) => {
            const fn = { items: api.putItems, reorder: api.reorder, rename: api.rename }[kind];
            const r = await fn(s.path, A.token, payload, { ifMatch: s.etag });
            return api.changed(r, A.token, s.path);
        };
        /** B's edit started from @s (stale If-Match + X-Base-Version): the raw answer. */
        const mine = (s, kind, payload, opts = {}) => {
            const fn = { items: api.putItems, reorder: api.reorder, rename: api.rename }[kind];
            return fn(s.path, A.librarian.token, payload, { ifMatch: s.etag, baseVersion: s.version, ...opts });
        };
        const shape = (pl) => pl.items.map((it) => [it.playlistItemId, it.durationSeconds, it.enabled]);

        it('428 without If-Match and 412 PRECONDITION_FAILED with currentEtag for an old one alone, on every draft change', async () => {
            const s = await withItems(2);
            const t = await theirs(s, 'rename', 'moved on');
            for (const [kind, payload] of [['items', keep(s.pl)], ['reorder', [...s.ids].reverse()], ['rename', 'mine']]) {
                const fn = { items: api.putItems, reorder: api.reorder, rename: api.rename }[kind];
                let r = await fn(s.path, A.token, payload);
                assertProblem(r.res, r.text, { status: 428, code: 'PRECONDITION_REQUIRED' });
                r = await fn(s.path, A.token, payload, { ifMatch: s.etag });
                const p = assertProblem(r.res, r.text, { status: 412, code: 'PRECONDITION_FAILED' });
                assert.equal(p.currentEtag, t.etag);
                r = await fn(s.path, A.token, payload, { ifMatch: '"v999-0000"' });
                assertProblem(r.res, r.text, { status: 412, code: 'PRECONDITION_FAILED' });
            }
            assert.equal((await api.read(A.token, s.path)).etag, t.etag, 'nothing changed');
        });

        it('non-overlapping: A changes item 1\'s duration, B (from the same version) disables item 2 → both', async () => {
            const s = await withItems(3);
            const [i1, i2, i3] = s.ids;
            const t = await theirs(s, 'items', [{ playlistItemId: i1, durationSeconds: 20 }, { playlistItemId: i2 }, { playlistItemId: i3 }]);
            const r = await mine(s, 'items', [{ playlistItemId: i1 }, { playlistItemId: i2, enabled: false }, { playlistItemId: i3 }]);
            const { pl } = await api.changed(r, A.token, s.path);
            assert.equal(pl.draftVersion, t.pl.draftVersion + 1, 'the merge is the next version');
            assert.deepEqual(shape(pl), [[i1, 20, true], [i2, 2, false], [i3, 3, true]]);
            const merged = await auditOf(A, 'playlist.merged', s.pl.playlistId);
            assert.equal(merged.length, 1, `playlist.merged audit entries: ${JSON.stringify(merged)}`);
            assert.equal(merged[0].outcome, 'SUCCESS');
            assert.equal(merged[0].actorId, A.librarian.userId);
        });

        it('non-overlapping: A renames while B adds items; A reorders while B edits a field; a delete on one side stays deleted', async () => {
            let s = await withItems(3);
            let [i1, i2, i3] = s.ids;
            await theirs(s, 'rename', 'renamed by A');
            let r = await mine(s, 'items', [...keep(s.pl), { assetId: as.libB.assetId, durationSeconds: 44 }]);
            let { pl } = await api.changed(r, A.token, s.path);
            assert.equal(pl.name, 'renamed by A');
            assert.deepEqual(pl.items.slice(0, 3).map((it) => it.playlistItemId), [i1, i2, i3]);
            assert.equal(pl.items.length, 4);
            assert.equal(pl.items[3].assetId, as.libB.assetId);
            assert.equal(pl.items[3].durationSeconds, 44);

            // and the other way round: A adds, B renames (with baseVersion in the body)
            s = await withItems(2);
            await theirs(s, 'items', [...keep(s.pl), { assetId: as.libC.assetId, durationSeconds: 45 }]);
            r = await api.mutate('PATCH', s.path, A.librarian.token, { name: 'renamed by B', baseVersion: s.version }, { ifMatch: s.etag });
            ({ pl } = await api.changed(r, A.token, s.path));
            assert.equal(pl.name, 'renamed by B');
            assert.deepEqual(pl.items.map((it) => it.durationSeconds), [1, 2, 45]);

            s = await withItems(3);
            [i1, i2, i3] = s.ids;
            await theirs(s, 'reorder', [i3, i1, i2]);
            r = await mine(s, 'items', [{ playlistItemId: i1 }, { playlistItemId: i2, durationSeconds: 99 }, { playlistItemId: i3 }]);
            ({ pl } = await api.changed(r, A.token, s.path));
            assert.deepEqual(shape(pl), [[i3, 3, true], [i1, 1, true], [i2, 99, true]], 'A\'s order, B\'s field');

            // B reorders while A edits a field
            s = await withItems(3);
            [i1, i2, i3] = s.ids;
            await theirs(s, 'items', [{ playlistItemId: i1, enabled: false }, { playlistItemId: i2 }, { playlistItemId: i3 }]);
            r = await mine(s, 'reorder', [i2, i3, i1]);
            ({ pl } = await api.changed(r, A.token, s.path));
            assert.deepEqual(shape(pl), [[i2, 2, true], [i3, 3, true], [i1, 1, false]]);

            // A deletes item 3, B (not touching it) edits item 1: item 3 stays deleted
            s = await withItems(3);
            [i1, i2, i3] = s.ids;
            await theirs(s, 'items', [{ playlistItemId: i1 }, { playlistItemId: i2 }]);
            r = await mine(s, 'items', [{ playlistItemId: i1, durationSeconds: 31 }, { playlistItemId: i2 }, { playlistItemId: i3 }]);
            ({ pl } = await api.changed(r, A.token, s.path));
            assert.deepEqual(shape(pl), [[i1, 31, true], [i2, 2, true]]);
            // B deletes item 2, A edited item 3
            s = await withItems(3);
            [i1, i2, i3] = s.ids;
            await theirs(s, 'items', [{ playlistItemId: i1 }, { playlistItemId: i2 }, { playlistItemId: i3, durationSeconds: 33 }]);
            r = await mine(s, 'items', [{ playlistItemId: i1 }, { playlistItemId: i3 }]);
            ({ pl } = await api.changed(r, A.token, s.path));
            assert.deepEqual(shape(pl), [[i1, 1, true], [i3, 33, true]]);
            // the same change on both sides is no conflict
            s = await withItems(2);
            [i1, i2] = s.ids;
            await theirs(s, 'items', [{ playlistItemId: i1, durationSeconds: 60 }, { playlistItemId: i2 }]);
            r = await mine(s, 'items', [{ playlistItemId: i1, durationSeconds: 60 }, { playlistItemId: i2 }]);
            ({ pl } = await api.changed(r, A.token, s.path));
            assert.deepEqual(shape(pl), [[i1, 60, true], [i2, 2, true]]);
        });

        it('both add items at the same place: both kept, theirs before mine, each after the item it followed', async () => {
            const s = await withItems(3);
            const [i1, i2, i3] = s.ids;
            const t = await theirs(s, 'items', [{ playlistItemId: i1 }, { assetId: as.libB.assetId, durationSeconds: 51 },
                { playlistItemId: i2 }, { playlistItemId: i3 }, { assetId: as.libB.assetId, durationSeconds: 53 }]);
            const r = await mine(s, 'items', [{ playlistItemId: i1 }, { assetId: as.libC.assetId, durationSeconds: 61 },
                { assetId: as.libC.assetId, durationSeconds: 62 }, { playlistItemId: i2 }, { playlistItemId: i3 }]);
            const { pl } = await api.changed(r, A.token, s.path);
            assert.deepEqual(pl.items.map((it) => it.durationSeconds), [1, 51, 61, 62, 2, 3, 53]);
            const theirIds = t.pl.items.map((it) => it.playlistItemId);
            assert.deepEqual(pl.items.filter((it) => it.durationSeconds === 51 || it.durationSeconds === 53).map((it) => it.playlistItemId),
                [theirIds[1], theirIds[4]], 'their new items keep their ids');
            assert.equal(new Set(pl.items.map((it) => it.playlistItemId)).size, 7);
        });

        it('overlapping edits: 409 MERGE_CONFLICT with the conflicts, currentEtag, baseVersion, currentVersion; nothing written', async () => {
            const cases = [
                {
                    what: 'the same field, different values',
                    a: (ids) => ['items', [{ playlistItemId: ids[0], durationSeconds: 20 }, { playlistItemId: ids[1] }, { playlistItemId: ids[2] }]],
                    b: (ids) => ['items', [{ playlistItemId: ids[0], durationSeconds: 30 }, { playlistItemId: ids[1] }, { playlistItemId: ids[2] }]],
                    want: (ids) => [{ itemId: ids[0], field: 'durationSeconds', kind: 'BOTH_CHANGED' }],
                },
                {
                    what: 'the same enabled flag and asset, different values',
                    a: (ids) => ['items', [{ playlistItemId: ids[0], assetId: as.libB.assetId }, { playlistItemId: ids[1] }, { playlistItemId: ids[2] }]],
                    b: (ids) => ['items', [{ playlistItemId: ids[0], assetId: as.libC.assetId }, { playlistItemId: ids[1] }, { playlistItemId: ids[2] }]],
                    want: (ids) => [{ itemId: ids[0], field: 'assetId', kind: 'BOTH_CHANGED' }],
                },
                {
                    what: 'deleted by them, changed by me',
                    a: (ids) => ['items', [{ playlistItemId: ids[0] }, { playlistItemId: ids[2] }]],
                    b: (ids) => ['items', [{ playlistItemId: ids[0] }, { playlistItemId: ids[1], enabled: false }, { playlistItemId: ids[2] }]],
                    want: (ids) => [{ itemId: ids[1], kind: 'DELETED_AND_CHANGED', deletedBy: 'them' }],
                },
                {
                    what: 'changed by them, deleted by me',
                    a: (ids) => ['items', [{ playlistItemId: ids[0] }, { playlistItemId: ids[1], durationSeconds: 77 }, { playlistItemId: ids[2] }]],
                    b: (ids) => ['items', [{ playlistItemId: ids[0] }, { playlistItemId: ids[2] }]],
                    want: (ids) => [{ itemId: ids[1], kind: 'DELETED_AND_CHANGED', deletedBy: 'you' }],
                },
                {
                    what: 'both reorder differently',
                    a: (ids) => ['reorder', [ids[2], ids[1], ids[0]]],
                    b: (ids) => ['reorder', [ids[1], ids[0], ids[2]]],
                    want: () => [{ itemId: null, kind: 'BOTH_CHANGED' }],
                },
                {
                    what: 'both rename differently',
                    a: () => ['rename', 'name by A'],
                    b: () => ['rename', 'name by B'],
                    want: () => [{ itemId: null, field: 'name', kind: 'BOTH_CHANGED' }],
                },
            ];
            const wrong = [];
            for (const c of cases) {
                const s = await withItems(3);
                const t = await theirs(s, ...c.a(s.ids));
                const r = await mine(s, ...c.b(s.ids));
                try {
                    const p = assertProblem(r.res, r.text, { status: 409, code: 'MERGE_CONFLICT' });
                    assert.ok(Array.isArray(p.conflicts), 'conflicts[]');
                    const want = c.want(s.ids);
                    assert.equal(p.conflicts.length, want.length, `conflicts: ${JSON.stringify(p.conflicts)}`);
                    want.forEach((w, i) => {
                        const got = p.conflicts[i];
                        for (const k of ['itemId', 'field', 'kind']) assert.ok(k in got, `conflict lacks ${k}: ${JSON.stringify(got)}`);
                        assert.equal(typeof got.field, 'string');
                        for (const [k, v] of Object.entries(w)) assert.equal(got[k], v, `conflict.${k}: ${JSON.stringify(got)}`);
                        if (w.kind === 'BOTH_CHANGED') assert.ok(!('deletedBy' in got) || got.deletedBy == null, JSON.stringify(got));
                    });
                    assert.equal(p.currentEtag, t.etag, 'currentEtag');
                    assert.equal(p.baseVersion, s.version, 'baseVersion');
                    assert.equal(p.currentVersion, t.pl.draftVersion, 'currentVersion');
                    const now = await api.read(A.token, s.path);
                    assert.equal(now.etag, t.etag, 'the draft is unchanged (ETag)');
                    assert.deepEqual(now.pl, t.pl, 'the draft is unchanged (items)');
                    const audited = await auditOf(A, 'playlist.merge_conflict', s.pl.playlistId);
                    assert.equal(audited.length, 1, `playlist.merge_conflict entries: ${JSON.stringify(audited)}`);
                    assert.equal(audited[0].actorId, A.librarian.userId);
                    assert.equal((await auditOf(A, 'playlist.merged', s.pl.playlistId)).length, 0);
                } catch (e) {
                    wrong.push(`${c.what}: ${e.message.split('\n')[0]} — ${r.res.status} ${r.text.slice(0, 400)}`);
                }
            }
            assert.deepEqual(wrong, [], wrong.join('\n'));
        });

        it('baseVersion in the body works like X-Base-Version; either disagreeing with If-Match is 400 BASE_VERSION_MISMATCH', async () => {
            let s = await withItems(2);
            let [i1, i2] = s.ids;
            await theirs(s, 'items', [{ playlistItemId: i1, durationSeconds: 40 }, { playlistItemId: i2 }]);
            let r = await api.mutate('PUT', `${s.path}/items`, A.token,
                { items: [{ playlistItemId: i1 }, { playlistItemId: i2, durationSeconds: 41 }], baseVersion: s.version }, { ifMatch: s.etag });
            let { pl } = await api.changed(r, A.token, s.path);
            assert.deepEqual(shape(pl), [[i1, 40, true], [i2, 41, true]]);
            r = await api.mutate('PUT', `${s.path}/reorder`, A.token, { itemIds: [i2, i1], baseVersion: s.version }, { ifMatch: s.etag });
            ({ pl } = await api.changed(r, A.token, s.path));
            assert.deepEqual(pl.items.map((it) => it.playlistItemId), [i2, i1]);
            // a conflict through the body member too
            r = await api.mutate('PUT', `${s.path}/items`, A.token,
                { items: [{ playlistItemId: i1, durationSeconds: 3 }, { playlistItemId: i2 }], baseVersion: s.version }, { ifMatch: s.etag });
            assertProblem(r.res, r.text, { status: 409, code: 'MERGE_CONFLICT' });

            s = await withItems(2);
            [i1, i2] = s.ids;
            const t = await theirs(s, 'rename', 'moved on');
            const body = { items: [{ playlistItemId: i1, durationSeconds: 5 }, { playlistItemId: i2 }] };
            for (const [extra, headers] of [
                [{}, { 'X-Base-Version': String(s.version + 1) }], // names the current version, If-Match the old one
                [{}, { 'X-Base-Version': String(s.version - 1) }],
                [{ baseVersion: s.version + 1 }, {}],
                [{ baseVersion: s.version - 1 }, {}],
            ]) {
                r = await api.mutate('PUT', `${s.path}/items`, A.token, { ...body, ...extra }, { ifMatch: s.etag, headers });
                assertProblem(r.res, r.text, { status: 400, code: 'BASE_VERSION_MISMATCH' });
            }
            for (const [extra, headers] of [
                [{}, { 'X-Base-Version': 'abc' }],
                [{}, { 'X-Base-Version': '0' }],
                [{ baseVersion: 'one' }, {}],
                [{ baseVersion: s.version }, { 'X-Base-Version': String(s.version - 1) }],
            ]) {
                r = await api.mutate('PUT', `${s.path}/items`, A.token, { ...body, ...extra }, { ifMatch: s.etag, headers });
                assert.equal(r.res.status, 400, `${JSON.stringify(extra)} ${JSON.stringify(headers)}: ${r.text}`);
            }
            assert.equal((await api.read(A.token, s.path)).etag, t.etag, 'nothing changed');
            // the current ETag with X-Base-Version naming it: applies as sent
            r = await api.putItems(s.path, A.token, body.items, { ifMatch: t.etag, baseVersion: t.pl.draftVersion });
            ({ pl } = await api.changed(r, A.token, s.path));
            assert.equal(pl.items[0].durationSeconds, 5);
        });

        it('the last 100 draft versions are kept: a base older than that is 412', async () => {
            const s = await withItems(2);
            const etags = { [s.version]: s.etag }; // draft version → its ETag
            let cur = { etag: s.etag };
            for (let i = 0; i < 100; i++) {
                const r = await api.rename(s.path, A.token, `rename ${i}`, { ifMatch: cur.etag });
                cur = { etag: r.res.headers.get('etag'), pl: api.ok(r) };
                etags[cur.pl.draftVersion] = cur.etag;
            }
            const v = cur.pl.draftVersion;
            assert.equal(v, s.version + 100);
            const edit = [{ playlistItemId: s.ids[0], durationSeconds: 9 }, { playlistItemId: s.ids[1] }];
            // base = s.version is 100 versions back: pruned
            let r = await api.putItems(s.path, A.token, edit, { ifMatch: s.etag, baseVersion: s.version });
            const p = assertProblem(r.res, r.text, { status: 412, code: 'PRECONDITION_FAILED' });
            assert.equal(p.currentEtag, cur.etag);
            assert.equal((await api.read(A.token, s.path)).etag, cur.etag);
            // 99 versions back (the oldest of the last 100, counting the current one) still merges
            const base = v - 99;
            r = await api.putItems(s.path, A.token, edit, { ifMatch: etags[base], baseVersion: base });
            const { pl } = await api.changed(r, A.token, s.path);
            assert.equal(pl.items[0].durationSeconds, 9);
            assert.equal(pl.name, 'rename 99');
        });

        it('10 non-overlapping merges fired at once from the same base: all 200, every change in the final draft', async () => {
            const s = await withItems(10);
            const rs = await Promise.all(s.ids.map((id, k) => api.putItems(s.path, A.librarian.token,
                s.ids.map((x) => (x === id ? { playlistItemId: x, durationSeconds: 100 + k } : { playlistItemId: x })),
                { ifMatch: s.etag, baseVersion: s.version })));
            const statuses = rs.map((r) => r.res.status);
            assert.deepEqual(statuses, Array(10).fill(200), rs.filter((r) => r.res.status !== 200).map((r) => r.text).join('\n'));
            const versions = rs.map((r) => api.ok(r).draftVersion).sort((x, y) => x - y);
            assert.deepEqual(versions, Array.from({ length: 10 }, (_, i) => s.version + 1 + i), 'one new version each');
            const { pl, etag } = await api.read(A.token, s.path);
            assert.equal(pl.draftVersion, s.version + 10);
            assert.equal(versionOf(etag), s.version + 10);
            assert.deepEqual(pl.items.map((it) => [it.playlistItemId, it.durationSeconds]), s.ids.map((id, k) => [id, 100 + k]));
            // one of them applied as sent, the nine others were merged
            const merged = await auditOf(A, 'playlist.merged', s.pl.playlistId);
            assert.equal(merged.length, 9, `playlist.merged entries: ${merged.length}`);
        });
    });

    // ------------------------------------------------------------------------------------------
    describe('publish', () => {
        it('needs If-Match (428, 412 with currentEtag); a publish is not a draft change', async () => {
            const s = await withItems(2);
            let r = await api.publish(s.path, A.token);
            assertProblem(r.res, r.text, { status: 428, code: 'PRECONDITION_REQUIRED' });
            r = await api.publish(s.path, A.token, '"v1-0000"');
            const p = assertProblem(r.res, r.text, { status: 412, code: 'PRECONDITION_FAILED' });
            assert.equal(p.currentEtag, s.etag);
            assert.equal((await api.read(A.token, s.path)).pl.publishedVersion, 0);
        });

        it('422 PLAYLIST_NOT_PUBLISHABLE listing every item whose asset is not READY or gone; nothing published', async () => {
            const made = await api.create(A.token, LIB, 'not publishable');
            const gone = await api.upload(A.token, LIB_ASSETS, fx.jpeg, { displayName: 'goes away' });
            let r = await api.putItems(made.path, A.token, [
                { assetId: as.libA.assetId },
                { assetId: as.gif.assetId },
                { assetId: as.libB.assetId },
                { assetId: as.uploading.assetId },
                { assetId: gone.assetId },
            ], { ifMatch: made.etag });
            const { pl, etag } = await api.changed(r, A.token, made.path);
            r = await api.call('DELETE', `${LIB_ASSETS}/${gone.assetId}`, A.token);
            assert.equal(r.res.status, 204, r.text);
            r = await api.publish(made.path, A.token, etag);
            const p = assertProblem(r.res, r.text, { status: 422, code: 'PLAYLIST_NOT_PUBLISHABLE' });
            assert.ok(Array.isArray(p.errors), r.text);
            const got = p.errors.map((e) => [e.playlistItemId, e.reason]).sort();
            const want = [[pl.items[1].playlistItemId, 'NOT_READY'], [pl.items[3].playlistItemId, 'NOT_READY'],
                [pl.items[4].playlistItemId, 'NOT_FOUND']].sort();
            assert.deepEqual(got, want, r.text);
            const after = await api.read(A.token, made.path);
            assert.equal(after.pl.publishedVersion, 0);
            assert.equal(after.etag, etag);
            assert.equal(await sql(`SELECT count(*) FROM playlist_published WHERE playlist_id = '${made.pl.playlistId}'`), '0');
        });

        it('422 PLAYLIST_EMPTY with no items or only disabled ones', async () => {
            const made = await api.create(A.token, LIB, 'empty');
            let r = await api.publish(made.path, A.token, made.etag);
            assertProblem(r.res, r.text, { status: 422, code: 'PLAYLIST_EMPTY' });
            r = await api.putItems(made.path, A.token, [{ assetId: as.libA.assetId, enabled: false },
                { assetId: as.libB.assetId, enabled: false }], { ifMatch: made.etag });
            const { etag } = await api.changed(r, A.token, made.path);
            r = await api.publish(made.path, A.token, etag);
            assertProblem(r.res, r.text, { status: 422, code: 'PLAYLIST_EMPTY' });
            assert.equal((await api.read(A.token, made.path)).pl.publishedVersion, 0);
        });

        it('publishes the enabled items as version 1, then 2; GET and the venues\' publishing history show it', async () => {
            const made = await api.create(A.librarian.token, LIB, 'publish me');
            let r = await api.putItems(made.path, A.librarian.token, [
                { assetId: as.libA.assetId, durationSeconds: 12 },
                { assetId: as.libB.assetId, enabled: false },
                { assetId: as.libC.assetId, durationSeconds: 14 },
            ], { ifMatch: made.etag });
            const { pl, etag } = await api.changed(r, A.librarian.token, made.path);
            const t0 = new Date(Date.now() - 2000).toISOString();
            r = await api.publish(made.path, A.librarian.token, etag);
            const p1 = api.ok(r);
            assert.deepEqual(Object.keys(p1).sort(), ['playlistId', 'publishedAtUtc', 'publishedVersion', 'sourceVersion', 'venuesNotified'].sort());
            assert.equal(p1.playlistId, pl.playlistId);
            assert.equal(p1.publishedVersion, 1);
            assert.equal(p1.sourceVersion, null);
            assert.match(p1.publishedAtUtc, TS_RE);
            assert.ok(p1.publishedAtUtc >= t0.slice(0, 19), p1.publishedAtUtc);
            assert.equal(p1.venuesNotified, 0, 'no schedule names it');
            let now = await api.read(A.token, made.path);
            assert.equal(now.pl.publishedVersion, 1);
            assert.equal(now.pl.draftVersion, pl.draftVersion, 'a publish is not a draft change');
            assert.equal(now.etag, etag);
            assert.deepEqual(await snapshot(pl.playlistId, 1), [
                [as.libA.assetId, '0', '12'], [as.libC.assetId, '1', '14'],
            ], 'the snapshot holds the enabled items, in order');
            r = await api.publish(made.path, A.token, etag);
            assert.equal(api.ok(r).publishedVersion, 2);
            now = await api.read(A.token, made.path);
            assert.equal(now.pl.publishedVersion, 2);
            // the list shows it too
            const listed = (await api.list(`${LIB}?q=publish%20me`, A.token)).find((x) => x.playlistId === pl.playlistId);
            assert.equal(listed.publishedVersion, 2);

            // a library publish is in every venue's history
            for (const [venueId, token] of [[A.V1, A.viewer.token], [A.V2, A.editor2.token], [A.V1, A.token]]) {
                const events = (await api.list(`/v1/venues/${venueId}/publishes`, token)).filter((e) => e.entityId === pl.playlistId);
                assert.equal(events.length, 2, `V ${venueId}: ${JSON.stringify(events)}`);
                for (const e of events) for (const k of PUBLISH_EVENT_MEMBERS) assert.ok(k in e, `event lacks ${k}: ${JSON.stringify(e)}`);
                assert.deepEqual(events.map((e) => [e.type, e.previousVersion, e.publishedVersion, e.sourceVersion, e.venueId]),
                    [['PLAYLIST_PUBLISH', 1, 2, null, null], ['PLAYLIST_PUBLISH', 0, 1, null, null]], 'newest first');
                assert.deepEqual(events.map((e) => e.publishedByUserId), [A.userId, A.librarian.userId]);
                assert.match(events[0].publishEventId, UUID_RE);
                assert.ok(events[0].publishedAtUtc >= events[1].publishedAtUtc);
            }
            // a venue playlist's publishes are its venue's only
            const v = await withItems(1, { prefix: venuePl(A.V1), token: A.editor.token });
            r = await api.publish(v.path, A.editor.token, v.etag);
            assert.equal(api.ok(r).publishedVersion, 1);
            const inV1 = (await api.list(`/v1/venues/${A.V1}/publishes`, A.editor.token)).filter((e) => e.entityId === v.pl.playlistId);
            assert.deepEqual(inV1.map((e) => [e.type, e.venueId, e.publishedVersion]), [['PLAYLIST_PUBLISH', A.V1, 1]]);
            const inV2 = (await api.list(`/v1/venues/${A.V2}/publishes`, A.token)).filter((e) => e.entityId === v.pl.playlistId);
            assert.deepEqual(inV2, []);
            // another venue's or tenant's history: 404
            for (const [token, venueId] of [[A.editor.token, A.V2], [B.token, A.V1]]) {
                r = await api.call('GET', `/v1/venues/${venueId}/publishes`, token);
                assertProblem(r.res, r.text, { status: 404, code: 'NOT_FOUND' });
            }
        });

        it('a video plays for its own length: its snapshot item lasts the video\'s seconds, an image its durationSeconds', async () => {
            const made = await api.create(A.token, LIB, 'with a video');
            assert.equal(as.video.durationMs, 3000);
            let r = await api.putItems(made.path, A.token, [
                { assetId: as.video.assetId, durationSeconds: 10 },
                { assetId: as.libA.assetId, durationSeconds: 10 },
            ], { ifMatch: made.etag });
            const { pl, etag } = await api.changed(r, A.token, made.path);
            assert.deepEqual(pl.items.map((it) => it.durationSeconds), [10, 10], 'the draft keeps what was sent');
            r = await api.publish(made.path, A.token, etag);
            assert.equal(api.ok(r).publishedVersion, 1);
            assert.deepEqual(await snapshot(pl.playlistId, 1), [[as.video.assetId, '0', '3'], [as.libA.assetId, '1', '10']]);
        });

        it('50 concurrent publishes of one playlist number exactly the next 50 versions; every snapshot whole (SQL)', async () => {
            const made = await api.create(A.token, LIB, 'publish race');
            let r = await api.putItems(made.path, A.token, [
                { assetId: as.libA.assetId, durationSeconds: 3 },
                { assetId: as.libB.assetId, enabled: false },
                { assetId: as.libC.assetId, durationSeconds: 4 },
                { assetId: as.libA.assetId, durationSeconds: 5 },
            ], { ifMatch: made.etag });
            const { pl, etag } = await api.changed(r, A.token, made.path);
            // an earlier publish: the race starts after it
            r = await api.publish(made.path, A.token, etag);
            const offset = api.ok(r).publishedVersion;
            assert.equal(offset, 1);
            const rs = await Promise.all(Array.from({ length: 50 }, (_, i) =>
                api.publish(made.path, i % 2 ? A.token : A.librarian.token, etag)));
            const bad = rs.filter((x) => x.res.status !== 200);
            assert.deepEqual(bad.map((x) => `${x.res.status} ${x.text}`), [], 'every publish succeeds');
            const versions = rs.map((x) => JSON.parse(x.text).publishedVersion).sort((a, b) => a - b);
            assert.deepEqual(versions, Array.from({ length: 50 }, (_, i) => offset + 1 + i), 'no gap, no duplicate');
            assert.equal((await api.read(A.token, made.path)).pl.publishedVersion, offset + 50);
            const id = pl.playlistId;
            const published = (await sqlRows(`SELECT published_version FROM playlist_published WHERE playlist_id = '${id}' ORDER BY published_version`)).map((x) => Number(x[0]));
            assert.deepEqual(published, Array.from({ length: offset + 50 }, (_, i) => i + 1));
            const counts = await sqlRows(`SELECT published_version, count(*) FROM playlist_published_items WHERE playlist_id = '${id}' GROUP BY published_version ORDER BY published_version`);
            assert.deepEqual(counts.map(([v, n]) => [Number(v), Number(n)]), published.map((v) => [v, 3]), 'each snapshot: the 3 enabled items');
            const distinct = await sqlRows(`SELECT DISTINCT asset_id, sequence, duration_seconds FROM playlist_published_items WHERE playlist_id = '${id}' ORDER BY sequence`);
            assert.deepEqual(distinct, [[as.libA.assetId, '0', '3'], [as.libC.assetId, '1', '4'], [as.libA.assetId, '2', '5']], 'every snapshot the same');
            const history = await api.list(`/v1/venues/${A.V1}/publishes`, A.token, 7);
            assert.equal(new Set(history.map((e) => e.publishEventId)).size, history.length, 'an event on two pages');
            for (let i = 1; i < history.length; i++) assert.ok(history[i - 1].publishedAtUtc >= history[i].publishedAtUtc, 'newest first');
            const events = history.filter((e) => e.entityId === id);
            assert.deepEqual(events.map((e) => e.publishedVersion).sort((a, b) => a - b), published);
            for (const e of events) assert.equal(e.previousVersion, e.publishedVersion - 1);
        });
    });

    // ------------------------------------------------------------------------------------------
    describe('rollback', () => {
        it('rollback to 1 publishes v1\'s items as v3 (SQL), a PLAYLIST_ROLLBACK event with sourceVersion 1; the draft is left alone', async () => {
            const made = await api.create(A.token, LIB, 'rollback me');
            let r = await api.putItems(made.path, A.token, [{ assetId: as.libA.assetId, durationSeconds: 21 },
                { assetId: as.libB.assetId, durationSeconds: 22 }], { ifMatch: made.etag });
            let { pl, etag } = await api.changed(r, A.token, made.path);
            assert.equal(api.ok(await api.publish(made.path, A.token, etag)).publishedVersion, 1);
            r = await api.putItems(made.path, A.token, [{ assetId: as.libC.assetId, durationSeconds: 23 }], { ifMatch: etag });
            ({ pl, etag } = await api.changed(r, A.token, made.path));
            assert.equal(api.ok(await api.publish(made.path, A.token, etag)).publishedVersion, 2);
            const v1 = await snapshot(pl.playlistId, 1);
            assert.deepEqual(v1, [[as.libA.assetId, '0', '21'], [as.libB.assetId, '1', '22']]);
            assert.deepEqual(await snapshot(pl.playlistId, 2), [[as.libC.assetId, '0', '23']]);

            r = await api.rollback(made.path, A.token, { version: 1 });
            const rb = api.ok(r);
            assert.equal(rb.playlistId, pl.playlistId);
            assert.equal(rb.publishedVersion, 3);
            assert.equal(rb.sourceVersion, 1);
            assert.match(rb.publishedAtUtc, TS_RE);
            assert.equal(typeof rb.venuesNotified, 'number');
            assert.deepEqual(await snapshot(pl.playlistId, 3), v1, 'v3 = v1, in order');
            assert.deepEqual(await snapshot(pl.playlistId, 1), v1, 'history is never rewritten');
            const now = await api.read(A.token, made.path);
            assert.equal(now.pl.publishedVersion, 3);
            assert.equal(now.etag, etag, 'the draft is unchanged');
            assert.deepEqual(now.pl.items, pl.items);
            const events = (await api.list(`/v1/venues/${A.V2}/publishes`, A.editor2.token)).filter((e) => e.entityId === pl.playlistId);
            assert.deepEqual(events.map((e) => [e.type, e.previousVersion, e.publishedVersion, e.sourceVersion]), [
                ['PLAYLIST_ROLLBACK', 2, 3, 1], ['PLAYLIST_PUBLISH', 1, 2, null], ['PLAYLIST_PUBLISH', 0, 1, null],
            ]);
            // rolling back to a rollback's version works the same way
            r = await api.rollback(made.path, A.librarian.token, { version: 2 });
            assert.equal(api.ok(r).publishedVersion, 4);
            assert.deepEqual(await snapshot(pl.playlistId, 4), [[as.libC.assetId, '0', '23']]);
        });

        it('a version that does not exist is 422; a bad body is 400; nothing is published', async () => {
            const s = await withItems(1);
            let r = await api.rollback(s.path, A.token, { version: 1 });
            assert.equal(r.res.status, 422, `never published: ${r.text}`);
            assert.equal(api.ok(await api.publish(s.path, A.token, s.etag)).publishedVersion, 1);
            for (const version of [2, 99, 2 ** 40]) {
                r = await api.rollback(s.path, A.token, { version });
                assert.equal(r.res.status, 422, `version ${version}: ${r.text}`);
                assertProblem(r.res, r.text, { status: 422, code: JSON.parse(r.text).code });
            }
            for (const body of [{}, { version: 0 }, { version: -1 }, { version: '1' }, { version: 1.5 }, { version: null },
                { version: 1, extra: true }, [1], '{"version": ']) {
                r = await api.rollback(s.path, A.token, body);
                assert.equal(r.res.status, 400, `${JSON.stringify(body)}: ${r.text}`);
            }
            assert.equal((await api.read(A.token, s.path)).pl.publishedVersion, 1);
            assert.equal(await sql(`SELECT count(*) FROM playlist_published WHERE playlist_id = '${s.pl.playlistId}'`), '1');
        });
    });
});
