// SPDX-License-Identifier: MIT
//
// devices.mjs — what the player-endpoint suites share until devices have an API (issue 7):
//
//   deviceKey()                  a token signing key: start marqueed with `--jwt-keys key.arg`
//                                and the tokens signed here are the server's own (§25.3)
//   deviceClient(getSrv, key)    devices and groups written straight into the store with SQL,
//                                device tokens, and the manifest requests a player makes;
//                                without a key, all but the tokens (sign, deviceToken)
//   playerContent(api, getFx)    what screens are given: READY assets, published playlists,
//                                schedule slots, publishes, the venue fallback (API calls)
//
// When devices get endpoints, insertDevice / insertGroup / updateDevice keep their signatures
// and change their insides; the suites need not change.
import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';

import { get } from './server.mjs';

/** A timestamp in the store's format, for the rows inserted here. */
export const ROW_TIME = '2026-01-05T10:00:00.000Z';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** A fresh HS256 key {kid, secret, arg}; arg is the value of marqueed's --jwt-keys. */
export function deviceKey(kid = 'km') {
    const secret = randomBytes(32);
    return { kid, secret, arg: `${kid}:${secret.toString('base64url')}` };
}

/** @v as an SQL literal both SQLite and PostgreSQL read: NULL, a number, 1/0, or a quoted string. */
export function sqlLiteral(v) {
    if (v === null || v === undefined) return 'NULL';
    if (typeof v === 'boolean') return v ? '1' : '0';
    if (typeof v === 'number') return String(v);
    return `'${String(v).replaceAll("'", "''")}'`;
}

// SQL straight to the store. On SQLite through ONE sqlite3 process kept open for the whole
// suite: a sqlite3 that closes as the last connection it can see checkpoints and deletes the
// WAL, and marqueed (store/sqlite.c: open()+close() of the database file in every new pool
// connection drops the process's POSIX locks) may hold no lock that would stop it.
function sqliteShell(dbFile) {
    const child = spawn('sqlite3', ['-batch', '-cmd', '.timeout 5000', dbFile], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let waiting = null;
    child.stdout.setEncoding('utf8').on('data', (d) => {
        out += d;
        const end = out.indexOf('__END__\n');
        if (end >= 0 && waiting) {
            const [text, w] = [out.slice(0, end), waiting];
            out = out.slice(end + 8);
            waiting = null;
            // stderr may trail stdout by a moment
            setTimeout(() => (err ? w.reject(new Error(`sqlite3: ${err}`)) : w.resolve(text.trim())), 5);
        }
    });
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    let chain = Promise.resolve();
    return {
        query: (q) => (chain = chain.catch(() => {}).then(() => new Promise((resolve, reject) => {
            err = '';
            waiting = { resolve, reject };
            child.stdin.write(`${q.trim().replace(/;?$/, ';')}\nSELECT '__END__';\n`);
        }))),
        close: () => {
            child.stdin.end();
            return new Promise((r) => child.on('close', r));
        },
    };
}

function psql(dbUrl, q) {
    return new Promise((resolve, reject) => {
        execFile(path.join(process.env.MARQUEE_PG_BINDIR || '', 'psql'), [dbUrl, '-v', 'ON_ERROR_STOP=1', '-tAc', q],
            { timeout: 10000 }, (e, out, err) => (e ? reject(new Error(`psql: ${err || e.message}`)) : resolve(out.trim())));
    });
}

// devices columns that updateDevice / insertDevice take, by their API-style names
const DEVICE_COLUMNS = {
    venueId: 'venue_id',
    groupId: 'primary_group_id',
    timezone: 'timezone',
    status: 'status',
    runMode: 'run_mode',
    launchOnBoot: 'launch_on_boot',
    autoRelaunch: 'auto_relaunch',
    keepAwake: 'keep_awake',
    watchdogReturnToForeground: 'watchdog_return_to_foreground',
    orientation: 'orientation',
    deletedAtUtc: 'deleted_at_utc',
};

function deviceColumns(fields) {
    return Object.entries(fields).map(([k, v]) => {
        const col = DEVICE_COLUMNS[k];
        assert.ok(col, `devices have no field "${k}" here (known: ${Object.keys(DEVICE_COLUMNS).join(', ')})`);
        return [col, sqlLiteral(v)];
    });
}

/**
 * Devices of the server @getSrv() returns, whose tokens are signed with @key (deviceKey()).
 * @key may be left out by a suite that signs no token: sign and deviceToken then throw.
 * Tenants @t are {tenantId, ...} as apiClient().createTenant makes them.
 */
export function deviceClient(getSrv, key) {
    let shell = null;
    const srv = () => getSrv();

    /** Runs one SQL statement on the server's store; resolves its output (psql -tA / sqlite3). */
    const sql = (q) => {
        if (!srv().store.dbUrl) return (shell ??= sqliteShell(path.join(srv().dataDir, 'marquee.db'))).query(q);
        return psql(srv().store.dbUrl, q);
    };
    /** Opens the SQL channel now (on SQLite: the sqlite3 process held open until close()). */
    const open = async () => {
        if (!srv().store.dbUrl) await sql('SELECT 1');
    };
    /** Ends the sqlite3 process, if one was started; call before the server stops. */
    const close = async () => {
        await shell?.close();
        shell = null;
    };

    /**
     * A device of venue @venueId; resolves its id. @opts: groupId (its primary group), timezone,
     * deleted (removed already), and any field updateDevice takes (settings, status).
     */
    const insertDevice = async (t, venueId, { groupId = null, timezone = null, deleted = false, ...fields } = {}) => {
        const id = randomUUID();
        const extra = deviceColumns(fields);
        await sql(`INSERT INTO devices (device_id, tenant_id, venue_id, name, primary_group_id, timezone,
                created_at_utc, updated_at_utc, deleted_at_utc${extra.map(([c]) => `, ${c}`).join('')})
            VALUES ('${id}', '${t.tenantId}', '${venueId}', 'Screen ${id.slice(0, 4)}', ${sqlLiteral(groupId)},
                ${sqlLiteral(timezone)}, '${ROW_TIME}', '${ROW_TIME}', ${deleted ? `'${ROW_TIME}'` : 'NULL'}
                ${extra.map(([, v]) => `, ${v}`).join('')})`);
        return id;
    };
    /** A device group of venue @venueId; resolves its id. */
    const insertGroup = async (t, venueId) => {
        const id = randomUUID();
        await sql(`INSERT INTO device_groups (group_id, tenant_id, venue_id, name, created_at_utc, updated_at_utc)
            VALUES ('${id}', '${t.tenantId}', '${venueId}', 'Group ${id.slice(0, 4)}', '${ROW_TIME}', '${ROW_TIME}')`);
        return id;
    };
    /**
     * Changes device @deviceId: {groupId, venueId, timezone, status, deletedAtUtc, runMode,
     * orientation, keepAwake, …}; null clears a nullable field. A move to another venue must
     * clear groupId in the same call (a group belongs to one venue).
     */
    const updateDevice = async (deviceId, fields) => {
        const set = deviceColumns(fields).map(([c, v]) => `${c} = ${v}`).join(', ');
        await sql(`UPDATE devices SET ${set}, updated_at_utc = '${ROW_TIME}' WHERE device_id = '${deviceId}'`);
    };
    /** Changes tenant @t's status ('ACTIVE' | 'DISABLED'). */
    const setTenantStatus = (t, status) =>
        sql(`UPDATE tenants SET status = ${sqlLiteral(status)} WHERE tenant_id = '${t.tenantId}'`);

    /** A JWT of @claims signed with the server's key. */
    const sign = (claims) => {
        assert.ok(key, 'deviceClient(getSrv) was given no key to sign with: pass deviceKey()');
        const head = `${b64({ alg: 'HS256', kid: key.kid })}.${b64(claims)}`;
        return `${head}.${createHmac('sha256', key.secret).update(head).digest('base64url')}`;
    };
    /** A device token (§25.3) of device @did in @venueId of tenant @t, valid an hour; @extra overrides claims. */
    const deviceToken = (t, venueId, did, extra = {}) => sign({
        typ: 'device', did, vid: venueId, tid: t.tenantId, iss: 'marquee', aud: 'marquee-api',
        iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 3600, ...extra,
    });

    /**
     * GET /v1/player/manifest with @token (none when null): {res, text}. Identity unless @headers
     * ask for gzip (fetch asks for gzip by default, and decodes it).
     */
    const manifest = (token, headers = {}) => get(`${srv().url}/v1/player/manifest`, {
        headers: { 'Accept-Encoding': 'identity', ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers },
    });
    /**
     * A manifest that must be a 200: {body (parsed), text (the bytes as sent), etag, source (the
     * X-Marquee-Manifest header: cached | resolved | stale | degraded), res}.
     */
    const fetchManifest = async (token, headers = {}) => {
        const r = await manifest(token, headers);
        assert.equal(r.res.status, 200, r.text);
        return {
            body: JSON.parse(r.text), text: r.text, etag: r.res.headers.get('etag'),
            source: r.res.headers.get('x-marquee-manifest'), res: r.res,
        };
    };

    return {
        sql, open, close, insertDevice, insertGroup, updateDevice, setTenantStatus, sign, deviceToken,
        manifest, fetchManifest,
    };
}

/**
 * What screens are given, made through the API with @api (apiClient()) and the media fixtures
 * @getFx() returns (makeFixtures()). Tenants @t carry their admin's token.
 */
export function playerContent({ call, ok }, getFx) {
    /**
     * An uploaded file, processed to READY: the asset. @f: {fileName, contentType, size, sha256,
     * bytes} as makeFixtures() makes them; by default the fixtures' JPEG.
     */
    const readyAsset = async (t, f = getFx().jpeg) => {
        const lib = '/v1/library/assets';
        const s = ok(await call('POST', `${lib}/uploads`, t.token, {
            fileName: f.fileName, contentType: f.contentType, sizeBytes: f.size, checksumSha256: f.sha256,
        }), 201);
        ok(await get(s.uploadUrl, { method: 'PUT', body: f.bytes }));
        ok(await call('POST', `${lib}/uploads/${s.uploadId}/complete`, t.token));
        for (const deadline = Date.now() + 30000; ;) {
            const a = ok(await call('GET', `/v1/assets/${s.assetId}`, t.token));
            if (a.status === 'READY') return a;
            assert.ok(a.status !== 'FAILED' && Date.now() < deadline, JSON.stringify(a));
            await sleep(100);
        }
    };
    /**
     * A published library playlist: {playlistId, etag (the draft's ETag), publishedVersion}.
     * @items: one asset id (an item of @durationSeconds), or the items as PUT …/items takes them
     * ([{assetId, durationSeconds?, enabled?}], in order).
     */
    const playlist = async (t, items, { durationSeconds = 7 } = {}) => {
        const prefix = '/v1/library/playlists';
        let r = await call('POST', prefix, t.token, { name: `List ${randomUUID().slice(0, 8)}` });
        const p = ok(r, 201);
        if (!Array.isArray(items)) items = [{ assetId: items, durationSeconds }];
        r = await call('PUT', `${prefix}/${p.playlistId}/items`, t.token, { items },
            { 'If-Match': r.res.headers.get('etag') });
        ok(r);
        const etag = r.res.headers.get('etag');
        const pub = ok(await call('POST', `${prefix}/${p.playlistId}/publish`, t.token, undefined, { 'If-Match': etag }));
        return { playlistId: p.playlistId, etag, publishedVersion: pub.publishedVersion };
    };
    /** Publishes playlist @p ({playlistId, etag}) again: the publish's answer. */
    const republish = async (t, p) => ok(await call('POST', `/v1/library/playlists/${p.playlistId}/publish`, t.token,
        undefined, { 'If-Match': p.etag }));
    const setFallback = async (t, venueId, playlistId) =>
        ok(await call('PUT', `/v1/venues/${venueId}/fallback-playlist`, t.token, { playlistId }));

    const setPath = (venueId) => `/v1/venues/${venueId}/scheduleset`;
    const setEtag = async (t, venueId) => {
        const r = await call('GET', setPath(venueId), t.token);
        ok(r);
        return r.res.headers.get('etag');
    };
    /**
     * Adds a slot to the venue's draft schedule; resolves the slot. @slot: {targetType, targetId,
     * playlistId} and optionally the rest; by default every day, all day (start = end = 0).
     */
    const addSlot = async (t, venueId, slot) => ok(await call('POST', `${setPath(venueId)}/slots`, t.token,
        { daysOfWeekMask: 127, startMinutes: 0, endMinutes: 0, ...slot }, { 'If-Match': await setEtag(t, venueId) }), 201);
    /** Removes slot @slotId from the venue's draft schedule. */
    const deleteSlot = async (t, venueId, slotId) => {
        const r = await call('DELETE', `${setPath(venueId)}/slots/${slotId}`, t.token, undefined,
            { 'If-Match': await setEtag(t, venueId) });
        assert.equal(r.res.status, 204, r.text);
    };
    /** Publishes the venue's draft schedule (and so moves its manifest epoch). */
    const publishSchedule = async (t, venueId) => ok(await call('POST', `${setPath(venueId)}/publish`, t.token,
        undefined, { 'If-Match': await setEtag(t, venueId) }));

    return { readyAsset, playlist, republish, setFallback, addSlot, deleteSlot, publishSchedule };
}
