// SPDX-License-Identifier: MIT
//
// origin-proxy.mjs — a fault-injecting media origin for the scenario suites. A node HTTP server
// on 127.0.0.1 that forwards GET and HEAD (path, query and the Range / conditional headers,
// byte for byte: the signed `?expires=…&signature=…` of a media URL is over the path, so
// nothing of either may change) to marqueed's media origin, streams the answer back, and
// misbehaves on request:
//
//   const o = await startOriginProxy(upstreamBaseUrl);   // or null, and o.setUpstream(url) later
//   marqueed --media-public-url o.url                     // manifests then name the proxy
//   o.addFault({match: '/media/<sha>', kind: 'cut', fraction: 0.5, times: 1});
//   … the player downloads …
//   o.stats()['/media/<sha>.jpg'] → {requests, bytesSent, ranges, statuses, faults}
//
// Fault kinds (options beside kind):
//   status   answer `status` (e.g. 503) with no upstream call; `retryAfter` (seconds) adds a
//            Retry-After header, `body` replaces the problem+json body, `headers` adds headers
//   cut      send the upstream status and headers, then `fraction` (0…1, default 0.5) of THIS
//            response's body (or exactly `bytes` bytes), then destroy the TCP connection (the
//            fraction is of the upstream Content-Length, which marqueed always sends for media;
//            without one a fraction cuts right after the head)
//   corrupt  flip (XOR 0xff) the body byte at `offset` (a number or an array; offsets within
//            THIS response's body, default the middle), keeping the length and the headers
//   drip     send the body at `bytesPerSecond` (default 64 KiB/s)
//   reset    destroy the socket before any answer (`rst: true`: a TCP RST instead of a FIN)
//   delay    wait `ms` before forwarding (default 1000)
// Common options: `match` (a substring of the URL path, or a RegExp tested on it; absent =
// every request), `times` (how many of the next matching requests it applies to; default
// Infinity), `method` ('GET' / 'HEAD'; absent = both). The first rule (in the order added) that
// matches a request and has uses left is the one applied: one fault per request.
//
// Robustness: an upstream that cannot be reached or fails before answering is a 502 to the
// client (after the headers were sent: the client's connection is destroyed); a client that
// goes away mid-answer aborts the upstream request; nothing here rejects unhandled.
import { once } from 'node:events';
import http from 'node:http';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te',
    'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);
// what a player's request may carry that the origin acts on
const FORWARDED = ['range', 'if-range', 'if-none-match', 'if-match', 'if-modified-since',
    'if-unmodified-since', 'accept', 'accept-encoding', 'user-agent'];
const KINDS = new Set(['status', 'cut', 'corrupt', 'drip', 'reset', 'delay']);

/**
 * Starts the proxy. @upstreamBaseUrl: marqueed's base URL (http://127.0.0.1:PORT, optionally
 * with a path prefix that is put before every forwarded path), or null until setUpstream().
 * @opts.port: the port to listen on (default: a free one); @opts.host (default 127.0.0.1).
 * Resolves the proxy (see the module comment; each member is documented below).
 */
export async function startOriginProxy(upstreamBaseUrl = null, { port = 0, host = '127.0.0.1' } = {}) {
    let upstream = upstreamBaseUrl ? parseUpstream(upstreamBaseUrl) : null;
    let rules = [];
    let ruleSeq = 0;
    const log = []; // every request: {path, method, range, status, bytesSent, fault, cut, done}
    const sockets = new Set();
    const timers = new Set();
    const inflight = new Set(); // upstream requests
    let closed = false;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

    const server = http.createServer((req, res) => {
        handle(req, res).catch((e) => {
            // a bug here must not become an unhandled rejection; the client sees a 502 or a drop
            try {
                if (!res.headersSent) {
                    res.writeHead(502, { 'Content-Type': 'text/plain' });
                    res.end(`origin proxy: ${e.message}\n`);
                } else res.destroy();
            } catch {
                /* the socket is gone */
            }
        });
    });
    server.keepAliveTimeout = 5000;
    server.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {}); // resets by the client are normal here
    });
    server.on('clientError', (err, socket) => {
        if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
        else socket.destroy();
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
            server.off('error', reject);
            resolve();
        });
    });
    const addr = server.address();
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;

    function takeRule(p, method) {
        for (const r of rules) {
            if (r.left <= 0) continue;
            if (r.method && r.method.toUpperCase() !== method) continue;
            const hit = r.match === undefined || r.match === null ? true
                : r.match instanceof RegExp ? r.match.test(p) : p.includes(String(r.match));
            if (!hit) continue;
            r.left -= 1;
            r.applied += 1;
            return r;
        }
        return null;
    }

    const sleep = (ms) => new Promise((resolve) => {
        const t = setTimeout(() => {
            timers.delete(t);
            resolve();
        }, ms);
        timers.add(t);
    });

    async function handle(req, res) {
        const u = new URL(req.url, 'http://proxy.invalid');
        const p = u.pathname;
        const method = req.method;
        const entry = { path: p, method, range: req.headers.range ?? null, status: null, bytesSent: 0, fault: null,
            cut: false, done: false, at: Date.now() };
        log.push(entry);
        let clientGone = false;
        res.on('close', () => {
            clientGone = true;
        });
        const setStatus = (s) => {
            entry.status = s;
        };
        const finish = () => {
            entry.done = true;
        };

        if (method !== 'GET' && method !== 'HEAD') {
            setStatus(405);
            res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' });
            res.end('origin proxy: GET and HEAD only\n');
            return finish();
        }
        const rule = takeRule(p, method);
        if (rule) entry.fault = rule.kind;

        if (rule?.kind === 'reset') {
            setStatus('reset');
            if (rule.rst && typeof req.socket.resetAndDestroy === 'function') req.socket.resetAndDestroy();
            else req.socket.destroy();
            return finish();
        }
        if (rule?.kind === 'status') {
            const status = rule.status ?? 503;
            const headers = { 'Content-Type': 'application/problem+json', 'Cache-Control': 'no-store',
                ...(rule.headers || {}) };
            if (rule.retryAfter !== undefined && rule.retryAfter !== null) headers['Retry-After'] = String(rule.retryAfter);
            const body = rule.body ?? JSON.stringify({ type: 'about:blank', title: 'injected fault', status,
                detail: `origin proxy fault: status ${status}` });
            setStatus(status);
            res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
            res.end(method === 'HEAD' ? undefined : body);
            return finish();
        }
        if (rule?.kind === 'delay') {
            await sleep(rule.ms ?? 1000);
            if (clientGone || closed) {
                setStatus('aborted');
                return finish();
            }
        }
        if (!upstream) {
            setStatus(502);
            res.writeHead(502, { 'Content-Type': 'text/plain' });
            res.end('origin proxy: no upstream set\n');
            return finish();
        }

        // ---- forward
        const headers = { host: upstream.host };
        for (const h of FORWARDED) if (req.headers[h] !== undefined) headers[h] = req.headers[h];
        const up = http.request({
            agent, protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method,
            path: upstream.prefix + req.url, headers,
        });
        inflight.add(up);
        res.on('close', () => {
            if (!entry.done) up.destroy();
        });
        let upRes;
        try {
            up.end();
            [upRes] = await Promise.race([
                once(up, 'response'),
                once(res, 'close').then(() => [null]),
            ]);
        } catch (e) {
            inflight.delete(up);
            if (!clientGone && !res.headersSent) {
                setStatus(502);
                res.writeHead(502, { 'Content-Type': 'text/plain' });
                res.end(`origin proxy: upstream ${e.code || e.message}\n`);
            } else setStatus('aborted');
            return finish();
        }
        if (!upRes) {
            inflight.delete(up);
            up.destroy();
            setStatus('aborted');
            return finish();
        }
        upRes.on('error', () => {}); // surfaced through the iteration below
        const outHeaders = {};
        for (const [k, v] of Object.entries(upRes.headers)) if (!HOP_BY_HOP.has(k)) outHeaders[k] = v;
        const total = upRes.headers['content-length'] !== undefined ? Number(upRes.headers['content-length']) : null;
        setStatus(upRes.statusCode);

        // how this body is to be mangled
        let cutAt = Infinity; // body bytes to send before the cut
        let flips = null;
        let bps = 0;
        if (rule?.kind === 'cut') {
            if (rule.bytes !== undefined) cutAt = Math.max(0, Math.floor(rule.bytes));
            else cutAt = Math.floor((total ?? 0) * (rule.fraction ?? 0.5));
        } else if (rule?.kind === 'corrupt') {
            const offs = rule.offset === undefined ? [Math.floor((total ?? 1) / 2)]
                : Array.isArray(rule.offset) ? rule.offset : [rule.offset];
            flips = new Set(offs.map(Number));
        } else if (rule?.kind === 'drip') {
            bps = Math.max(1, rule.bytesPerSecond ?? 65536);
        }

        res.writeHead(upRes.statusCode, upRes.statusMessage, outHeaders);
        const isHead = method === 'HEAD' || upRes.statusCode === 204 || upRes.statusCode === 304;

        /** Writes @buf and resolves once it has been handed to the kernel (false: the client is gone). */
        const write = (buf) => new Promise((resolve) => {
            if (clientGone || res.destroyed) return resolve(false);
            let settled = false;
            const onClose = () => settle(false);
            const settle = (v) => {
                if (settled) return;
                settled = true;
                res.off('close', onClose);
                resolve(v);
            };
            res.on('close', onClose);
            res.write(buf, (err) => {
                if (!err) entry.bytesSent += buf.length;
                settle(!err);
            });
        });
        const cut = () => {
            entry.cut = true;
            res.socket?.destroy();
            up.destroy();
        };

        let offset = 0; // body bytes read from upstream so far
        const t0 = Date.now();
        try {
            if (isHead) {
                upRes.resume();
                await once(upRes, 'end').catch(() => {});
                if (rule?.kind === 'cut') return cut();
                res.end();
                return;
            }
            if (cutAt === 0) {
                // the head alone: make sure it left before the connection goes
                res.flushHeaders();
                await new Promise((resolve) => (res.socket ? res.socket.write('', resolve) : resolve()));
                return cut();
            }
            for await (const chunk of upRes) {
                let buf = chunk;
                if (flips) {
                    buf = Buffer.from(chunk);
                    for (const f of flips) if (f >= offset && f < offset + buf.length) buf[f - offset] ^= 0xff;
                }
                const start = offset;
                offset += chunk.length;
                if (offset >= cutAt) {
                    const keep = cutAt - start;
                    if (keep > 0) await write(buf.subarray(0, keep));
                    return cut();
                }
                if (bps) {
                    // small slices, each sent when the rate says it is due
                    const slice = Math.max(1, Math.min(16384, Math.floor(bps / 20)));
                    for (let i = 0; i < buf.length; i += slice) {
                        const part = buf.subarray(i, i + slice);
                        const due = t0 + ((entry.bytesSent + part.length) / bps) * 1000;
                        const wait = due - Date.now();
                        if (wait > 0) await sleep(wait);
                        if (closed || !(await write(part))) return abortUp();
                    }
                } else if (!(await write(buf))) return abortUp();
            }
            if (clientGone) return abortUp();
            await new Promise((resolve) => res.end(resolve));
        } catch {
            // upstream broke off mid-body: pass the breakage on (the length is then short)
            if (!clientGone) res.destroy();
            entry.upstreamAborted = true;
        } finally {
            inflight.delete(up);
            finish();
        }

        function abortUp() {
            up.destroy();
            entry.aborted = true;
        }
    }

    const proxy = {
        /** The base URL to give marqueed as media_public_url (no trailing slash). */
        url,
        port: addr.port,
        /** Where requests go now (null before setUpstream). */
        get upstream() {
            return upstream ? upstream.base : null;
        },
        /** Points the proxy at @baseUrl from the next request on (a restarted marqueed, …). */
        setUpstream(baseUrl) {
            upstream = parseUpstream(baseUrl);
        },
        /**
         * Adds a fault rule (see the module comment); returns it, with `applied` counting the
         * requests it has changed so far.
         */
        addFault(rule) {
            if (!rule || !KINDS.has(rule.kind)) throw new Error(`origin proxy: unknown fault kind ${rule?.kind}`);
            if (rule.kind === 'cut' && rule.fraction !== undefined && !(rule.fraction >= 0 && rule.fraction <= 1))
                throw new Error(`origin proxy: cut fraction ${rule.fraction} is not within 0…1`);
            const r = { ...rule, id: ++ruleSeq, left: rule.times ?? Infinity, applied: 0 };
            rules.push(r);
            return r;
        },
        /** Removes every fault rule (requests under way keep theirs). */
        clearFaults() {
            rules = [];
        },
        /**
         * Per URL path (query left out), over the requests so far: {requests, bytesSent (body
         * bytes written to clients), ranges (the Range header of each request that had one, in
         * order), statuses (each request's status: the HTTP status answered — also for a cut
         * answer, whose head was sent —, 'reset', or 'aborted' when the client left before an
         * answer; null while it waits), faults (the kind applied to each faulted request), cuts
         * (answers cut short), aborted (answers the client left before their end)}.
         */
        stats() {
            const out = {};
            for (const e of log) {
                const s = (out[e.path] ??= { requests: 0, bytesSent: 0, ranges: [], statuses: [], faults: [], cuts: 0,
                    aborted: 0 });
                s.requests += 1;
                s.bytesSent += e.bytesSent;
                if (e.range !== null) s.ranges.push(e.range);
                s.statuses.push(e.status);
                if (e.fault) s.faults.push(e.fault);
                if (e.cut) s.cuts += 1;
                if (e.aborted || e.upstreamAborted) s.aborted += 1;
            }
            return out;
        },
        /** The stats of the one path that contains @fragment (e.g. an asset's sha256), or zeros. */
        statsFor(fragment) {
            const all = proxy.stats();
            const keys = Object.keys(all).filter((k) => k.includes(fragment));
            if (keys.length > 1) throw new Error(`origin proxy: ${fragment} names several paths: ${keys}`);
            return keys.length ? all[keys[0]]
                : { requests: 0, bytesSent: 0, ranges: [], statuses: [], faults: [], cuts: 0, aborted: 0 };
        },
        /**
         * Every request so far, in order: {path, method, range, status, bytesSent, fault, cut,
         * aborted?, done, at (ms epoch of its arrival)}.
         */
        requests() {
            return log.map((e) => ({ ...e }));
        },
        /** Forgets the stats and the request log (not the fault rules). */
        resetStats() {
            log.length = 0;
        },
        /** Stops listening, ends every connection and upstream request. Idempotent. */
        async close() {
            if (closed) return;
            closed = true;
            for (const t of timers) clearTimeout(t);
            timers.clear();
            for (const u of inflight) u.destroy();
            const done = new Promise((resolve) => server.close(() => resolve()));
            server.closeAllConnections?.();
            for (const s of sockets) s.destroy();
            agent.destroy();
            await done;
        },
    };
    return proxy;
}

function parseUpstream(baseUrl) {
    const u = new URL(baseUrl);
    if (u.protocol !== 'http:') throw new Error(`origin proxy: upstream must be http://, not ${baseUrl}`);
    if (u.search || u.hash) throw new Error(`origin proxy: upstream ${baseUrl} has a query or fragment`);
    return {
        base: baseUrl,
        protocol: u.protocol,
        hostname: u.hostname.replace(/^\[|\]$/g, ''),
        port: u.port || 80,
        host: u.host,
        prefix: u.pathname.replace(/\/+$/, ''),
    };
}
