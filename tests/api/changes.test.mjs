// SPDX-License-Identifier: MIT
//
// changes.test.mjs — the change feed of docs/publishing.md "The change feed" (spec §15, §16,
// §27.1; cross-device-sync-story.md): GET /v1/changes?since=&limit= lists a tenant's changes in
// commit order from one per-tenant sequence. Two clients of one tenant: B polls with limit=1
// while A creates, edits, merges, publishes, rolls back and deletes playlists, and sees every
// change once, in order, promptly; and the other way round. Who sees what (a venue user: the
// library's and its venues', another tenant nothing). 30 concurrent edits and publishes, with a
// poller running through them: afterwards the feed is 1..N without gap or duplicate, N = what
// succeeded. Bad since / limit, hasMore and nextCursor.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { makeFixtures } from './lib/media.mjs';
import { BACKEND, UUID_RE, assertProblem, get, startServer } from './lib/server.mjs';
import { apiClient } from './lib/client.mjs';

const PASSWORD = 'change feed passphrase 1';
const RATE_LIMITS = 'login_ip=10000/60,login_account=10000/60,refresh_user=10000/60,upload=10000/3600,'
    + 'mutation=100000/60,publish=100000/60';
const TS_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/;
const LIB = '/v1/library/playlists';
const LIB_ASSETS = '/v1/library/assets';
const venuePl = (venueId) => `/v1/venues/${venueId}/playlists`;
const CHANGE_MEMBERS = ['seq', 'entityType', 'entityId', 'venueId', 'action', 'version', 'actorUserId', 'createdAtUtc'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function assertChangeShape(c) {
    for (const k of CHANGE_MEMBERS) assert.ok(k in c, `change lacks "${k}": ${JSON.stringify(c)}`);
    assert.ok(Number.isInteger(c.seq) && c.seq >= 1, `seq ${c.seq}`);
    assert.equal(typeof c.entityType, 'string');
    assert.match(c.entityId, UUID_RE);
    assert.ok(c.venueId === null || UUID_RE.test(c.venueId), `venueId ${c.venueId}`);
    assert.equal(typeof c.action, 'string');
    assert.ok(c.version === null || Number.isInteger(c.version), `version ${c.version}`);
    assert.ok(c.actorUserId === null || UUID_RE.test(c.actorUserId), `actorUserId ${c.actorUserId}`);
    assert.match(c.createdAtUtc, TS_RE);
}

/** The API client of one server (as in assets.test.mjs), the playlist calls and the feed. */
function client(getSrv) {
    const { call, ok, login, createTenant, createVenue, createUser } = apiClient(getSrv, PASSWORD);
    /** A READY library asset of @fx (session, PUT, complete, poll). */
    const upload = async (token, fx) => {
        const s = ok(await call('POST', `${LIB_ASSETS}/uploads`, token, {
            fileName: fx.fileName, contentType: fx.contentType, sizeBytes: fx.size, checksumSha256: fx.sha256,
        }), 201);
        const p = await get(s.uploadUrl, { method: 'PUT', body: fx.bytes });
        assert.equal(p.res.status, 200, p.text);
        ok(await call('POST', `${LIB_ASSETS}/uploads/${s.uploadId}/complete`, token));
        const deadline = Date.now() + 60000;
        for (;;) {
            const a = ok(await call('GET', `/v1/assets/${s.assetId}`, token));
            if (a.status === 'READY') return a;
            assert.ok(a.status !== 'FAILED' && Date.now() < deadline, JSON.stringify(a));
            await sleep(100);
        }
    };

    // ---- playlists ----
    const create = async (token, prefix, name) => {
        const r = await call('POST', prefix, token, { name });
        const pl = ok(r, 201);
        return { pl, etag: r.res.headers.get('etag'), path: `${prefix}/${pl.playlistId}` };
    };
    /** A draft change (method, path suffix, body) with If-Match and optionally X-Base-Version. */
    const edit = (method, p, token, body, etag, baseVersion) => call(method, p, token, body, {
        'If-Match': etag, ...(baseVersion ? { 'X-Base-Version': String(baseVersion) } : {}),
    });
    /** A 200 draft change: {pl, etag}. */
    const edited = (r) => ({ pl: ok(r), etag: r.res.headers.get('etag') });
    const publish = (p, token, etag) => call('POST', `${p}/publish`, token, undefined, { 'If-Match': etag });

    // ---- the feed ----
    const changes = (token, query = '') => call('GET', `/v1/changes${query}`, token);
    /** Walks the feed from @since with @limit per page: {items, cursor}. */
    const walk = async (token, since = 0, limit = 200) => {
        const items = [];
        let cursor = since;
        for (let pages = 0; pages < 10000; pages++) {
            const body = ok(await changes(token, `?since=${encodeURIComponent(cursor)}&limit=${limit}`));
            assert.ok(Array.isArray(body.items), JSON.stringify(body));
            assert.ok(body.items.length <= limit, `page of ${body.items.length} > limit ${limit}`);
            assert.equal(typeof body.hasMore, 'boolean');
            assert.ok(body.nextCursor !== null && body.nextCursor !== undefined, 'nextCursor');
            items.push(...body.items);
            if (body.items.length === 0) assert.equal(String(body.nextCursor), String(cursor), 'nothing new: nextCursor stays');
            cursor = body.nextCursor;
            if (!body.hasMore) return { items, cursor };
            assert.ok(body.items.length > 0, 'hasMore with an empty page');
        }
        assert.fail('more than 10000 pages');
    };
    /**
     * A client polling the feed from @since (limit @limit, @pauseMs between polls when caught
     * up) until stop(): {seen, stop(), error}.
     */
    const poller = (token, since, { limit = 1, pauseMs = 5 } = {}) => {
        const state = { seen: [], stopping: false, error: null, cursor: since, polls: 0 };
        state.done = (async () => {
            try {
                for (;;) {
                    const r = await changes(token, `?since=${encodeURIComponent(state.cursor)}&limit=${limit}`);
                    const body = ok(r);
                    state.polls++;
                    assert.ok(body.items.length <= limit);
                    if (!body.items.length) assert.equal(String(body.nextCursor), String(state.cursor), 'nothing new: nextCursor stays');
                    state.seen.push(...body.items);
                    state.cursor = body.nextCursor;
                    if (!body.hasMore) {
                        if (state.stopping) return;
                        await sleep(pauseMs);
                    }
                }
            } catch (e) {
                state.error = e;
            }
        })();
        /** Resolves once @n changes were seen (fails after @timeoutMs). */
        state.waitFor = async (n, timeoutMs = 5000) => {
            const deadline = Date.now() + timeoutMs;
            while (state.seen.length < n) {
                if (state.error) throw state.error;
                if (Date.now() > deadline) assert.fail(`the poller saw ${state.seen.length} changes, not ${n}, within ${timeoutMs} ms: ${JSON.stringify(state.seen)}`);
                await sleep(5);
            }
        };
        /** Stops after one last poll that finds nothing more; rethrows the poller's error. */
        state.stop = async () => {
            state.stopping = true;
            await state.done;
            if (state.error) throw state.error;
            return state.seen;
        };
        return state;
    };
    return { call, ok, login, createTenant, createVenue, createUser, upload, create, edit, edited, publish, changes, walk, poller };
}

/** Strictly increasing seqs, none twice. */
function assertIncreasing(items, what) {
    for (let i = 1; i < items.length; i++) {
        assert.ok(items[i].seq > items[i - 1].seq, `${what}: seq ${items[i].seq} after ${items[i - 1].seq}`);
    }
}

describe(`the change feed (${BACKEND})`, () => {
    let srv;
    let fx;
    const api = client(() => srv);
    const A = {};
    const B = {};

    before(async () => {
        [srv, fx] = await Promise.all([
            // 8 HTTP workers whatever the machine: the concurrent writers really race
            startServer({ args: ['--rate-limits', RATE_LIMITS, '--threads', '8'] }),
            makeFixtures(),
        ]);
        Object.assign(A, await api.createTenant('Alpha Feed', 'admin@alpha-feed.test'));
        Object.assign(B, await api.createTenant('Bravo Feed', 'admin@bravo-feed.test'));
        A.V1 = await api.createVenue(A, 'Feed Venue One');
        A.V2 = await api.createVenue(A, 'Feed Venue Two');
        [A.editor1, A.editor2, A.viewer1] = await Promise.all([
            api.createUser(A, 'editor1@alpha-feed.test', { venueRoles: [{ venueId: A.V1, role: 'VENUE_EDITOR' }] }),
            api.createUser(A, 'editor2@alpha-feed.test', { venueRoles: [{ venueId: A.V2, role: 'VENUE_EDITOR' }] }),
            api.createUser(A, 'viewer1@alpha-feed.test', { venueRoles: [{ venueId: A.V1, role: 'VENUE_VIEWER' }] }),
        ]);
        [A.asset, B.asset] = await Promise.all([api.upload(A.token, fx.jpeg), api.upload(B.token, fx.png)]);
    });
    after(async () => {
        await srv?.stop();
    });

    it('two clients: B polls with limit=1 and sees each of A\'s changes once, in order, promptly; and the other way round', async () => {
        // B: a second user of the tenant (a venue editor of V1), logged in on its own
        const startB = await api.walk(A.editor1.token);
        const b = api.poller(A.editor1.token, startB.cursor, { limit: 1 });
        const expected = [];
        const step = async (what, change) => {
            if (change) expected.push(change);
            await b.waitFor(expected.length);
            // nothing more than expected arrives (a refused change writes nothing)
            await sleep(change ? 0 : 60);
            assert.equal(b.seen.length, expected.length, `${what}: B saw ${JSON.stringify(b.seen.slice(expected.length))}`);
        };
        const lib = await api.create(A.token, LIB, 'two clients: library');
        const L = lib.pl.playlistId;
        const ch = (entityId, venueId, action, version) => ({ entityType: 'PLAYLIST', entityId, venueId, action, version });
        await step('create', ch(L, null, 'created', 1));
        let r = await api.edit('PUT', `${lib.path}/items`, A.token, { items: [{ assetId: A.asset.assetId }, { assetId: A.asset.assetId }] }, lib.etag);
        const v2 = api.edited(r);
        await step('items', ch(L, null, 'updated', 2));
        r = await api.edit('PATCH', lib.path, A.token, { name: 'two clients: renamed' }, v2.etag);
        let cur = api.edited(r);
        await step('rename', ch(L, null, 'updated', 3));
        r = await api.publish(lib.path, A.token, cur.etag);
        assert.equal(api.ok(r).publishedVersion, 1);
        await step('publish', ch(L, null, 'published', 1));
        // an edit from version 2 merged over version 3
        const [i1, i2] = v2.pl.items.map((it) => it.playlistItemId);
        r = await api.edit('PUT', `${lib.path}/items`, A.token, { items: [{ playlistItemId: i1, durationSeconds: 30 }, { playlistItemId: i2 }] }, v2.etag, 2);
        cur = api.edited(r);
        assert.equal(cur.pl.draftVersion, 4);
        await step('merge', ch(L, null, 'updated', 4));
        // refused changes write nothing: a conflict, a stale If-Match, a bad body, an empty publish
        r = await api.edit('PUT', `${lib.path}/items`, A.token, { items: [{ playlistItemId: i1, durationSeconds: 31 }, { playlistItemId: i2 }] }, v2.etag, 2);
        assert.equal(r.res.status, 409, r.text);
        r = await api.edit('PATCH', lib.path, A.token, { name: 'stale' }, v2.etag);
        assert.equal(r.res.status, 412, r.text);
        r = await api.edit('PATCH', lib.path, A.token, { name: '' }, cur.etag);
        assert.equal(r.res.status, 400, r.text);
        await step('refused changes', null);
        r = await api.publish(lib.path, A.token, cur.etag);
        assert.equal(api.ok(r).publishedVersion, 2);
        await step('publish 2', ch(L, null, 'published', 2));
        r = await api.call('POST', `${lib.path}/rollback`, A.token, { version: 1 });
        assert.equal(api.ok(r).publishedVersion, 3);
        await step('rollback', ch(L, null, 'rolled_back', 3));
        // a playlist of B's own venue
        const ven = await api.create(A.token, venuePl(A.V1), 'two clients: V1');
        const P = ven.pl.playlistId;
        await step('venue create', ch(P, A.V1, 'created', 1));
        r = await api.edit('PUT', `${ven.path}/items`, A.token, { items: [{ assetId: A.asset.assetId }] }, ven.etag);
        const pv = api.edited(r);
        await step('venue items', ch(P, A.V1, 'updated', 2));
        r = await api.publish(ven.path, A.token, pv.etag);
        assert.equal(api.ok(r).publishedVersion, 1);
        await step('venue publish', ch(P, A.V1, 'published', 1));
        r = await api.call('DELETE', ven.path, A.token);
        assert.equal(r.res.status, 204, r.text);
        await step('venue delete', ch(P, A.V1, 'deleted', undefined));
        r = await api.call('DELETE', lib.path, A.token);
        assert.equal(r.res.status, 204, r.text);
        await step('library delete', ch(L, null, 'deleted', undefined));
        const seen = await b.stop();
        assert.ok(b.polls > expected.length, 'B polled');

        assert.equal(seen.length, expected.length, `B saw ${seen.length} changes: ${JSON.stringify(seen)}`);
        assertIncreasing(seen, 'B');
        seen.forEach((c, i) => {
            assertChangeShape(c);
            const want = expected[i];
            const got = { entityType: c.entityType, entityId: c.entityId, venueId: c.venueId, action: c.action, version: c.version };
            if (want.version === undefined) delete got.version; // what a deletion's version is, the contract does not say
            assert.deepEqual(got, Object.fromEntries(Object.entries(want).filter(([, v]) => v !== undefined)), `change ${i}`);
            assert.equal(c.actorUserId, A.userId);
        });
        assert.equal(seen[0].seq, Number(startB.cursor) + 1, 'the first change after the cursor');
        for (let i = 1; i < seen.length; i++) assert.equal(seen[i].seq, seen[i - 1].seq + 1, 'no other change in between');
        // the same changes in one page, and walked again with limit=1
        const again = await api.walk(A.editor1.token, startB.cursor, 200);
        assert.deepEqual(again.items, seen);
        assert.deepEqual((await api.walk(A.editor1.token, startB.cursor, 1)).items, seen);
        assert.deepEqual((await api.walk(A.token, startB.cursor, 3)).items, seen, 'the admin sees the same');

        // the other way round: the venue editor edits, the admin polls
        const a = api.poller(A.token, again.cursor, { limit: 1 });
        const mine = await api.create(A.editor1.token, venuePl(A.V1), 'two clients: by B');
        r = await api.edit('PATCH', mine.path, A.editor1.token, { name: 'two clients: by B, renamed' }, mine.etag);
        api.edited(r);
        await a.waitFor(2);
        const back = await a.stop();
        assert.deepEqual(back.map((c) => [c.entityId, c.venueId, c.action, c.version, c.actorUserId]), [
            [mine.pl.playlistId, A.V1, 'created', 1, A.editor1.userId],
            [mine.pl.playlistId, A.V1, 'updated', 2, A.editor1.userId],
        ]);
        assertIncreasing(back, 'A');
    });

    it('a venue user sees the library\'s changes and its venues\', never another venue\'s; another tenant sees none', async () => {
        const lib = await api.create(A.token, LIB, 'vis: library');
        const v1 = await api.create(A.editor1.token, venuePl(A.V1), 'vis: V1');
        const v2 = await api.create(A.editor2.token, venuePl(A.V2), 'vis: V2');
        let r = await api.edit('PUT', `${v2.path}/items`, A.editor2.token, { items: [{ assetId: A.asset.assetId }] }, v2.etag);
        const v2b = api.edited(r);
        r = await api.publish(v2.path, A.editor2.token, v2b.etag);
        api.ok(r);
        r = await api.edit('PATCH', v1.path, A.editor1.token, { name: 'vis: V1 renamed' }, v1.etag);
        api.edited(r);
        const bl = await api.create(B.token, LIB, 'vis: bravo');

        const ids = (items) => new Set(items.map((c) => c.entityId));
        const all = (await api.walk(A.token)).items;
        assertIncreasing(all, 'admin');
        all.forEach(assertChangeShape);
        assert.deepEqual(all.map((c) => c.seq), all.map((_, i) => i + 1), 'the admin sees 1..N');
        for (const id of [lib.pl.playlistId, v1.pl.playlistId, v2.pl.playlistId]) assert.ok(ids(all).has(id), `admin misses ${id}`);
        assert.ok(!ids(all).has(bl.pl.playlistId), 'another tenant\'s change in the feed');
        assert.deepEqual(all.filter((c) => c.entityId === v2.pl.playlistId).map((c) => [c.action, c.version, c.venueId]),
            [['created', 1, A.V2], ['updated', 2, A.V2], ['published', 1, A.V2]]);

        for (const [user, venue, other] of [[A.editor1, A.V1, v2], [A.viewer1, A.V1, v2], [A.editor2, A.V2, v1]]) {
            const seen = (await api.walk(user.token, 0, 7)).items;
            assertIncreasing(seen, user.email);
            assert.ok(seen.every((c) => c.venueId === null || c.venueId === venue), `${user.email} sees another venue: ${JSON.stringify(seen.filter((c) => c.venueId !== null && c.venueId !== venue))}`);
            assert.ok(!ids(seen).has(other.pl.playlistId), `${user.email} sees the other venue's playlist`);
            assert.ok(ids(seen).has(lib.pl.playlistId), `${user.email} misses the library`);
            // exactly the admin's changes that are the library's or this venue's
            assert.deepEqual(seen, all.filter((c) => c.venueId === null || c.venueId === venue));
        }
        // tenant B: its own sequence, none of A's changes
        const bs = (await api.walk(B.token)).items;
        assert.ok(bs.length >= 1);
        assert.deepEqual(bs.map((c) => c.seq), bs.map((_, i) => i + 1), 'tenant B counts from 1');
        for (const c of bs) assert.ok(!ids(all).has(c.entityId), `tenant B sees ${c.entityId}`);
        assert.ok(ids(bs).has(bl.pl.playlistId));
        // a since past A's last change shows B nothing of A's either
        const past = api.ok(await api.changes(B.token, `?since=${all.length + 1000}`));
        assert.deepEqual(past.items, []);
        assert.equal(String(past.nextCursor), String(all.length + 1000));
        assert.equal(past.hasMore, false);
        // no token: 401
        r = await api.changes(null);
        assertProblem(r.res, r.text, { status: 401, code: JSON.parse(r.text).code });
    });

    it('30 concurrent edits and publishes across 3 playlists, a poller running: the feed is 1..N with N = the successful changes', async () => {
        const C = await api.createTenant('Charlie Feed', 'admin@charlie-feed.test');
        C.asset = await api.upload(C.token, fx.jpeg);
        let made = 0; // changes this test made (created + successful draft changes and publishes)
        const pls = [];
        for (let p = 0; p < 3; p++) {
            const c = await api.create(C.token, LIB, `race ${p}`);
            made++;
            const r = await api.edit('PUT', `${c.path}/items`, C.token,
                { items: Array.from({ length: 7 }, (_, k) => ({ assetId: C.asset.assetId, durationSeconds: k + 1 })) }, c.etag);
            const e = api.edited(r);
            made++;
            pls.push({ path: c.path, id: c.pl.playlistId, etag: e.etag, version: e.pl.draftVersion, ids: e.pl.items.map((it) => it.playlistItemId) });
        }
        // enough sequential renames that N passes the default page size
        for (let i = 0; i < 30; i++) {
            const r = await api.edit('PATCH', pls[0].path, C.token, { name: `race 0 / ${i}` }, pls[0].etag);
            const e = api.edited(r);
            made++;
            pls[0].etag = e.etag;
            pls[0].version = e.pl.draftVersion;
        }
        const before = await api.walk(C.token);
        const seqBefore = Number(before.cursor);
        assert.deepEqual(before.items.map((c) => c.seq), before.items.map((_, i) => i + 1), 'the feed before the race is 1..n');
        assert.equal(before.items.filter((c) => c.entityType === 'PLAYLIST').length, made, 'one change per playlist change so far');

        const watcher = api.poller(C.token, before.cursor, { limit: 3, pauseMs: 1 });
        // per playlist: 7 merges from the same base, each changing a different item, and 3 publishes
        const perPlaylist = pls.map((p) => [
            ...Array.from({ length: 7 }, (_, k) => ({ p, kind: 'updated', run: () => api.edit('PUT', `${p.path}/items`, C.token, {
                items: p.ids.map((id, j) => (j === k ? { playlistItemId: id, durationSeconds: 100 + k } : { playlistItemId: id })),
            }, p.etag, p.version) })),
            ...Array.from({ length: 3 }, () => ({ p, kind: 'published', run: () => api.publish(p.path, C.token, p.etag) })),
        ]);
        // interleaved: the playlists' writers queue on the same tenant sequence
        const ops = [];
        for (let i = 0; i < 10; i++) for (const list of perPlaylist) ops.push(list[(i * 3) % 10]);
        assert.equal(new Set(ops).size, 30);
        const answers = await Promise.all(ops.map((o) => o.run()));
        const outcomes = answers.map((r, i) => ({ ...ops[i], status: r.res.status, body: r.text ? JSON.parse(r.text) : null }));
        const succeeded = outcomes.filter((o) => o.status === 200);
        for (const o of outcomes) {
            assert.ok([200, 412, 409, 503].includes(o.status), `${o.kind}: ${o.status} ${JSON.stringify(o.body)}`);
        }
        assert.ok(succeeded.length >= 21, `only ${succeeded.length} of 30 succeeded: ${outcomes.filter((o) => o.status !== 200).map((o) => `${o.kind} ${o.status} ${o.body?.code}`).join(', ')}`);

        // the feed from 0: 1..N, N = everything before + what succeeded
        await sleep(50);
        const seen = await watcher.stop();
        for (const limit of [7, 200]) {
            const { items } = await api.walk(C.token, 0, limit);
            const N = items.length;
            assert.deepEqual(items.map((c) => c.seq), Array.from({ length: N }, (_, i) => i + 1), `limit ${limit}: no gap, no duplicate`);
            assert.equal(N, seqBefore + succeeded.length, `N = ${seqBefore} before + ${succeeded.length} successful changes`);
            assert.deepEqual(items.slice(0, seqBefore), before.items);
            assert.deepEqual(seen, items.slice(seqBefore), 'the poller saw exactly the new changes, in order');
        }
        const raced = seen;
        raced.forEach(assertChangeShape);
        for (const p of pls) {
            const mine = raced.filter((c) => c.entityId === p.id);
            for (const kind of ['updated', 'published']) {
                const versions = mine.filter((c) => c.action === kind).map((c) => c.version);
                const answered = succeeded.filter((o) => o.p === p && o.kind === kind)
                    .map((o) => (kind === 'updated' ? o.body.draftVersion : o.body.publishedVersion));
                assert.deepEqual(versions, [...answered].sort((x, y) => x - y), `${kind} of ${p.id}: the feed lists the versions in commit order`);
            }
            assert.ok(mine.every((c) => c.entityType === 'PLAYLIST' && c.venueId === null && c.actorUserId === C.userId));
        }
        assert.equal(raced.length, raced.filter((c) => pls.some((p) => p.id === c.entityId)).length, 'nothing else in the feed');
        // the contract: merges of different items succeed (reported here too, asserted in playlists.test.mjs)
        const failedMerges = outcomes.filter((o) => o.kind === 'updated' && o.status !== 200);
        assert.deepEqual(failedMerges.map((o) => `${o.status} ${o.body?.code}`), [], 'every non-overlapping merge succeeds');

        // default page size 50, hasMore, and a cursor at the end
        const N = seqBefore + succeeded.length;
        assert.ok(N > 50, `N = ${N}`);
        let page = api.ok(await api.changes(C.token));
        assert.equal(page.items.length, 50, 'default limit 50');
        assert.equal(page.hasMore, true);
        assert.equal(String(page.nextCursor), '50');
        page = api.ok(await api.changes(C.token, `?since=0&limit=${N - 1}`));
        assert.equal(page.items.length, N - 1);
        assert.equal(page.hasMore, true);
        page = api.ok(await api.changes(C.token, `?since=0&limit=${Math.min(N, 200)}`));
        assert.equal(page.items.length, Math.min(N, 200));
        assert.equal(page.hasMore, N > 200);
        page = api.ok(await api.changes(C.token, `?since=${N - 1}&limit=1`));
        assert.deepEqual(page.items.map((c) => c.seq), [N]);
        assert.equal(page.hasMore, false);
        assert.equal(String(page.nextCursor), String(N));
        page = api.ok(await api.changes(C.token, `?since=${N}`));
        assert.deepEqual(page, { items: [], nextCursor: page.nextCursor, hasMore: false });
        assert.equal(String(page.nextCursor), String(N), 'nothing new: nextCursor stays at since');
        page = api.ok(await api.changes(C.token, `?since=${N - 3}&limit=2`));
        assert.deepEqual(page.items.map((c) => c.seq), [N - 2, N - 1]);
        assert.equal(page.hasMore, true);
        assert.equal(String(page.nextCursor), String(N - 1));
    });

    it('400 INVALID_CURSOR for a bad since and INVALID_LIMIT for a bad limit', async () => {
        for (const since of ['-1', 'abc', '1.5', '1e3', '0x10', '99999999999999999999999', '%20', '1;2']) {
            const r = await api.changes(A.token, `?since=${since}`);
            assertProblem(r.res, r.text, { status: 400, code: 'INVALID_CURSOR' });
        }
        for (const limit of ['0', '201', '-1', 'abc', '1.5', '1000']) {
            const r = await api.changes(A.token, `?limit=${limit}`);
            assertProblem(r.res, r.text, { status: 400, code: 'INVALID_LIMIT' });
        }
        for (const q of ['?limit=1', '?limit=200', '?since=0', '?since=0&limit=200', '']) {
            const body = api.ok(await api.changes(A.token, q));
            assert.ok(Array.isArray(body.items) && 'nextCursor' in body && typeof body.hasMore === 'boolean', JSON.stringify(body));
        }
    });
});
