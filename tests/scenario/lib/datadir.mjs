// SPDX-License-Identifier: MIT
//
// datadir.mjs — a player's data directory as the scenario suites inspect it from outside
// (docs/marquee-player.md "The data directory"), and the device settings and events a suite
// reads or changes on the server side.
//
//   readSlots(dir)          the manifests under DIR/manifests/, each checked as the player
//                           checks it (header line, SHA-256 of the body, JSON with a
//                           manifestEtag): a torn or damaged file throws
//   assetFiles(dir, sub)    the regular files of DIR/assets (or DIR/tmp): [{name, size}]
//   sha256File(path)        the hex SHA-256 of a file
//   cacheRows(dir)          the rows of DIR/cache.db (the `sqlite3` CLI, read-only)
//   cacheIndexMismatches(dir)  what does not agree between the index and DIR/assets, once
//   cacheIndexSettled(dir)  the same on a running daemon: a mismatch must go away (a commit or
//                           an eviction under way), one that stays fails
//   setCacheBudget(world, deviceId, bytes)   PATCH the device's cacheBudgetBytes
//   deviceEvents(world, deviceId, {type})    the device's events as the server stored them
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

const SQLITE3 = process.env.SQLITE3 || 'sqlite3';
const SLOTS = ['current', 'previous', 'staged'];

/** The hex SHA-256 of the file at @p (streamed). */
export function sha256File(p) {
    return new Promise((resolve, reject) => {
        const h = createHash('sha256');
        createReadStream(p).on('error', reject).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex')));
    });
}

/** The regular files of DIR/@sub ('assets' or 'tmp'): [{name, size}], by name; [] when it is missing. */
export async function assetFiles(dir, sub = 'assets') {
    let names;
    try {
        names = await readdir(path.join(dir, sub));
    } catch (e) {
        if (e.code === 'ENOENT') return [];
        throw e;
    }
    const out = [];
    for (const name of names.sort()) {
        const st = await stat(path.join(dir, sub, name)).catch(() => null); // gone meanwhile
        if (st?.isFile()) out.push({ name, size: st.size });
    }
    return out;
}

/**
 * The manifest slots as files: {current, previous, staged} each null (no file) or {etag (the
 * manifestEtag), httpEtag, body (parsed)}, and journal (whether apply.journal exists). A slot
 * file is `marquee-manifest 1 <sha256 of body> <ETag>\n<body>` (src/player/manifest.c): a file
 * whose header, digest or JSON is wrong is a torn or damaged write, and throws.
 */
export async function readSlots(dir) {
    const out = { journal: false };
    for (const s of SLOTS) {
        const file = path.join(dir, 'manifests', `${s}.manifest`);
        let data;
        try {
            data = await readFile(file);
        } catch (e) {
            if (e.code !== 'ENOENT') throw e;
            out[s] = null;
            continue;
        }
        const nl = data.indexOf(0x0a);
        assert.ok(nl > 0, `${file}: no header line (${data.length} bytes)`);
        const header = data.subarray(0, nl).toString('latin1');
        const m = /^marquee-manifest 1 ([0-9a-f]{64}) (\S+)$/.exec(header);
        assert.ok(m, `${file}: a malformed header line ${JSON.stringify(header.slice(0, 200))}`);
        const body = data.subarray(nl + 1);
        const digest = createHash('sha256').update(body).digest('hex');
        assert.equal(digest, m[1], `${file}: the body (${body.length} bytes) does not match its SHA-256: a torn write`);
        let parsed;
        try {
            parsed = JSON.parse(body.toString('utf8'));
        } catch (e) {
            assert.fail(`${file}: the body is not JSON (${e.message})`);
        }
        assert.equal(typeof parsed?.manifestEtag, 'string', `${file}: no manifestEtag`);
        out[s] = { etag: parsed.manifestEtag, httpEtag: m[2], body: parsed };
    }
    out.journal = await stat(path.join(dir, 'manifests', 'apply.journal')).then(() => true, () => false);
    return out;
}

/** Runs the sqlite3 CLI read-only on @db with @sql; resolves the rows (-json). */
function sqliteJson(db, sql) {
    return new Promise((resolve, reject) => {
        execFile(SQLITE3, ['-readonly', '-json', '-cmd', '.timeout 5000', db, sql], { timeout: 20000 }, (e, out, err) => {
            if (e) return reject(new Error(`sqlite3 ${db}: ${e.message}\n${err}`));
            try {
                resolve(out.trim() ? JSON.parse(out) : []);
            } catch (pe) {
                reject(new Error(`sqlite3 ${db}: not JSON (${pe.message}): ${out.slice(0, 300)}`));
            }
        });
    });
}

/** The rows of DIR/cache.db: [{asset_id, state, sha256, bytes, last_used_utc, path}], by assetId. */
export function cacheRows(dir) {
    return sqliteJson(path.join(dir, 'cache.db'),
        'SELECT asset_id, state, sha256, bytes, last_used_utc, path FROM assets ORDER BY asset_id');
}

/**
 * Compares the cache index with DIR/assets once: resolves a list of what disagrees (empty when
 * all agree): a READY row without its file or with a file of another size, a file in assets/
 * without a READY row. Exact with no daemon running; see cacheIndexSettled for a running one.
 */
export async function cacheIndexMismatches(dir) {
    const rows = await cacheRows(dir);
    const files = await assetFiles(dir, 'assets');
    const byName = new Map(files.map((f) => [f.name, f]));
    const ready = new Map(rows.filter((r) => r.state === 'READY').map((r) => [r.asset_id, r]));
    const out = [];
    for (const r of ready.values()) {
        const f = byName.get(r.asset_id);
        if (!f) out.push({ kind: 'row-without-file', assetId: r.asset_id, bytes: r.bytes });
        else if (f.size !== Number(r.bytes)) out.push({ kind: 'size', assetId: r.asset_id, bytes: r.bytes, size: f.size });
    }
    for (const f of files) if (!ready.has(f.name)) out.push({ kind: 'file-without-row', name: f.name, size: f.size });
    return out;
}

/**
 * Checks that the cache index and DIR/assets agree, on a running daemon, and resolves the rows.
 * The index and the directory cannot be read at one instant: a commit (file renamed in, then
 * its row) or an eviction (row deleted, then its file) under way between the two reads shows
 * as a mismatch that the next read no longer has. So a mismatch must go within @settleMs; one
 * that stays is a broken index.
 */
export async function cacheIndexSettled(dir, { settleMs = 10000, what = 'the cache index' } = {}) {
    const deadline = Date.now() + settleMs;
    for (;;) {
        const bad = await cacheIndexMismatches(dir);
        if (bad.length === 0) return cacheRows(dir);
        if (Date.now() >= deadline) {
            assert.fail(`${what}: the index and assets/ disagree for ${settleMs} ms: ${JSON.stringify(bad)}\n`
                + `rows: ${JSON.stringify(await cacheRows(dir))}\nfiles: ${JSON.stringify(await assetFiles(dir, 'assets'))}`);
        }
        await new Promise((r) => setTimeout(r, 100));
    }
}

/** Sets the device's cacheBudgetBytes (PATCH with If-Match); resolves the device. */
export async function setCacheBudget(world, deviceId, bytes) {
    const p = `/v1/venues/${world.venueId}/devices/${deviceId}`;
    const g = await world.admin.call('GET', p, world.admin.token);
    world.admin.ok(g);
    const r = await world.admin.call('PATCH', p, world.admin.token, { cacheBudgetBytes: bytes },
        { 'If-Match': g.res.headers.get('etag') });
    const d = world.admin.ok(r);
    assert.equal(d.cacheBudgetBytes, bytes, JSON.stringify(d));
    return d;
}

/** Every event the server stored for @deviceId (newest first), optionally of one @type. */
export async function deviceEvents(world, deviceId, { type = null } = {}) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < 100; page++) {
        const q = new URLSearchParams({ limit: '200' });
        if (type) q.set('type', type);
        if (cursor) q.set('cursor', cursor);
        const r = await world.admin.call('GET', `/v1/venues/${world.venueId}/devices/${deviceId}/events?${q}`,
            world.admin.token);
        const body = world.admin.ok(r);
        items.push(...body.items);
        cursor = body.nextCursor;
        if (!cursor) break;
    }
    return items;
}
