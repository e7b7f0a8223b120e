// SPDX-License-Identifier: MIT
//
// player.mjs — runs a real marquee-player and watches it: its JSON-lines log (stderr), its
// `status --json`, and the headless renderer's timeline (DIR/timeline.jsonl).
//
// Environment (set by scripts/test.sh):
//   MARQUEE_PLAYER  the binary (default build-asan/marquee-player from the repository root)
//
// The binary's contract, as the scenario suites use it:
//   marquee-player --server URL --data-dir DIR [--renderer headless|mpv] [--timeline FILE]
//                  [--config FILE] [--log-level debug|info|warn|error] [--<config_key> VALUE]…
//   marquee-player status --data-dir DIR --json      one JSON object (see playerStatus)
//   SIGTERM: exit status 0, promptly. No device token in DIR: pairing (the code in the timeline
//   and in status); once claimed the token is kept in DIR/device-token (mode 0600).
//   Timeline lines: {"t","event":"start"|"end","assetId","manifestEtag","index","type",
//   "outcome" (end: "ended"|"interrupted"|"failed")}, {"t","event":"pairing","code"},
//   {"t","event":"error_screen","deviceName","reason"}.
//
// Every run is checked when it ends (stop, kill9, restart): a sanitizer report in its stderr
// fails the test, and so does a stop() that does not end in exit status 0.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { constants, rmSync } from 'node:fs';
import { access, mkdtemp, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { REPO_ROOT, assertNoSanitizerReport, childEnv } from '../../api/lib/server.mjs';
import { waitFor } from './wait.mjs';

export { waitFor } from './wait.mjs';

export const MARQUEE_PLAYER = path.resolve(REPO_ROOT, process.env.MARQUEE_PLAYER || 'build-asan/marquee-player');

/** Where the player keeps its device token, under its data dir. */
export const TOKEN_FILE = 'device-token';

const live = new Set(); // player processes not yet reaped, killed if the test process exits
const tempDirs = new Set();
process.on('exit', () => {
    for (const child of live) {
        try {
            child.kill('SIGKILL');
        } catch {
            /* already gone */
        }
    }
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

function parseLine(line) {
    try {
        const v = JSON.parse(line);
        if (v && typeof v === 'object') return v;
    } catch {
        /* not JSON: kept as text */
    }
    return { raw: line };
}

/** Throws a clear error when @bin is not an executable file. */
async function assertExecutable(bin) {
    try {
        await access(bin, constants.X_OK);
        if (!(await stat(bin)).isFile()) throw new Error('not a file');
    } catch {
        throw new Error(`marquee-player binary not found: ${bin} does not exist or is not executable `
            + '(build it with `ninja -C build-asan marquee-player`, or point MARQUEE_PLAYER at one)');
    }
}

/**
 * Reads a headless timeline: the parsed lines, in order. A missing file is []; a last line
 * without its newline that does not parse (being written right now) is left out; any other
 * line that is not JSON throws (every line is written with one write(2): a torn line is a bug).
 */
export async function readTimeline(file) {
    let text;
    try {
        text = await readFile(file, 'utf8');
    } catch (e) {
        if (e.code === 'ENOENT') return [];
        throw e;
    }
    const lines = text.split('\n');
    const last = lines.pop(); // '' when the file ends with a newline
    const out = [];
    lines.forEach((l, i) => {
        if (!l.trim()) return;
        try {
            out.push(JSON.parse(l));
        } catch {
            throw new Error(`${file}:${i + 1}: a timeline line that is not JSON: ${JSON.stringify(l)}`);
        }
    });
    if (last.trim()) {
        try {
            out.push(JSON.parse(last));
        } catch {
            /* a partial last line */
        }
    }
    return out;
}

/**
 * `marquee-player status --data-dir DIR --json`, parsed: {running, pid, state, pairingCode,
 * syncStatus, deviceId, manifest: {current, previous, staged}, playback, cache, downloads}.
 * Throws (with the command's output) when the output is not one JSON object.
 */
export async function playerStatus(dataDir, { binary = MARQUEE_PLAYER, timeoutMs = 15000 } = {}) {
    await assertExecutable(binary);
    const { error, stdout, stderr } = await new Promise((resolve) => {
        execFile(binary, ['status', '--data-dir', dataDir, '--json'], { env: childEnv(), timeout: timeoutMs },
            (e, out, err) => resolve({ error: e, stdout: out, stderr: err }));
    });
    assertNoSanitizerReport(stderr, 'marquee-player status');
    let v;
    try {
        v = JSON.parse(stdout.trim());
    } catch {
        /* reported below */
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) {
        throw new Error(`marquee-player status --data-dir ${dataDir} --json: not one JSON object `
            + `(${error ? `exit ${error.code ?? error.signal ?? error.message}` : 'exit 0'})\n`
            + `stdout: ${stdout}\nstderr: ${stderr}`);
    }
    return v;
}

/**
 * Starts a player. Resolves a handle once the process has been spawned (not when it is ready:
 * wait for what you need with handle.waitFor / pairPlayer).
 *   server    marqueed's base URL, or anything with a .url (startServer's result, a world)
 *   dataDir   default: a new temp dir (removed when the test process exits)
 *   renderer  'headless' (default) or 'mpv'
 *   timeline  the headless timeline file (default: DIR/timeline.jsonl, --timeline not passed)
 *   config    {key: value}: each passed as `--key value` (keys as the player names them:
 *             heartbeat_min_s, poll_min_s, max_downloads, bandwidth_bytes_s,
 *             download_attempts, download_backoff_ms, test_clock_file, hardware_id, …)
 *   configFile  passed as --config
 *   logLevel  default 'debug'; null leaves --log-level out
 *   env       extra environment (MARQUEE_* of the test process never reaches the player)
 *   args      extra arguments after the rest
 *   binary    default MARQUEE_PLAYER
 *
 * The handle: {proc, pid, dataDir, timelinePath, tokenPath, argv, lines (this run's parsed log
 * lines), stderr() (this run's), runs (earlier runs: {argv, stderr, exitInfo}), exitInfo (null
 * while running), exited, waitForLog(pred, opts), waitFor(fn, opts) (fails at once if the
 * player exits; prints its state on failure), timeline(), status(), describe(), stop(), kill9(),
 * restart(over)}.
 */
export async function startPlayer({
    server, dataDir = null, renderer = 'headless', timeline = null, config = {}, configFile = null,
    logLevel = 'debug', env = {}, args = [], binary = MARQUEE_PLAYER,
} = {}) {
    const serverUrl = typeof server === 'string' ? server : server?.url;
    assert.ok(serverUrl, 'startPlayer: no server URL');
    await assertExecutable(binary);
    if (!dataDir) {
        dataDir = await mkdtemp(path.join(os.tmpdir(), 'marquee-player-'));
        tempDirs.add(dataDir);
    }
    const opts = { serverUrl, dataDir, renderer, timeline, config, configFile, logLevel, env, args, binary };
    const player = {
        dataDir,
        timelinePath: timeline || path.join(dataDir, 'timeline.jsonl'),
        tokenPath: path.join(dataDir, TOKEN_FILE),
        runs: [],
    };
    let run = null; // the current run: {child, argv, stderr, lines, exitInfo, exited, waiters}

    function argvOf(o) {
        const argv = ['--server', o.serverUrl, '--data-dir', o.dataDir, '--renderer', o.renderer];
        if (o.timeline) argv.push('--timeline', o.timeline);
        if (o.configFile) argv.push('--config', o.configFile);
        if (o.logLevel) argv.push('--log-level', o.logLevel);
        for (const [k, v] of Object.entries(o.config || {})) {
            if (v === undefined || v === null) continue;
            argv.push(`--${k}`, String(v));
        }
        argv.push(...o.args);
        return argv;
    }

    async function spawnRun(o) {
        const argv = argvOf(o);
        const child = spawn(o.binary, argv, { env: childEnv(o.env), stdio: ['ignore', 'pipe', 'pipe'] });
        live.add(child);
        const r = { child, argv, stderr: '', stdout: '', lines: [], exitInfo: null, waiters: new Set(), partial: '' };
        r.exited = new Promise((resolve) => {
            const ended = (info) => {
                if (r.exitInfo) return;
                live.delete(child);
                if (r.partial.trim()) r.lines.push(parseLine(r.partial));
                r.exitInfo = info;
                for (const w of r.waiters) w.check();
                resolve(info);
            };
            child.on('close', (code, signal) => ended({ code, signal }));
            child.on('error', (e) => {
                r.stderr += `spawn error: ${e.message}\n`;
                if (child.pid === undefined) ended({ code: null, signal: null, error: e.message });
            });
        });
        child.stdout.setEncoding('utf8').on('data', (d) => (r.stdout += d));
        child.stderr.setEncoding('utf8').on('data', (d) => {
            r.stderr += d;
            r.partial += d;
            let nl;
            while ((nl = r.partial.indexOf('\n')) >= 0) {
                const line = r.partial.slice(0, nl);
                r.partial = r.partial.slice(nl + 1);
                if (line.trim()) r.lines.push(parseLine(line));
            }
            for (const w of r.waiters) w.check();
        });
        // a binary that cannot be executed fails here, not in a later wait
        await Promise.race([new Promise((resolve) => child.once('spawn', resolve)), r.exited]);
        if (r.exitInfo?.error) throw new Error(`marquee-player could not be started: ${r.exitInfo.error} (${o.binary})`);
        return r;
    }

    const tail = (text, n = 40) => text.split('\n').slice(-n).join('\n');

    /** The player's state for a failure message: exit, status, the timeline's and log's tails. */
    async function describe() {
        const parts = [];
        parts.push(`marquee-player ${run.exitInfo ? `exited ${JSON.stringify(run.exitInfo)}` : `running (pid ${run.child.pid})`}`);
        try {
            parts.push(`status: ${JSON.stringify(await playerStatus(dataDir, { binary: opts.binary }))}`);
        } catch (e) {
            parts.push(`status: ${e.message.split('\n')[0]}`);
        }
        try {
            const tl = await readTimeline(player.timelinePath);
            parts.push(`timeline (${tl.length} lines, last 12):\n${tl.slice(-12).map((l) => `  ${JSON.stringify(l)}`).join('\n')}`);
        } catch (e) {
            parts.push(`timeline: ${e.message}`);
        }
        parts.push(`stderr (last 40 lines):\n${tail(run.stderr)}`);
        return parts.join('\n');
    }

    function checkRun(r, what) {
        assertNoSanitizerReport(r.stderr, `marquee-player (${what})`);
    }

    /** Ends the current run with SIGTERM: exit status 0 within @timeoutMs, no sanitizer report. */
    async function stop({ timeoutMs = 15000 } = {}) {
        const r = run;
        if (r.stopping) return r.stopping;
        r.stopping = (async () => {
            const t0 = Date.now();
            const wasRunning = !r.exitInfo;
            if (wasRunning) r.child.kill('SIGTERM');
            let killed = false;
            const timer = setTimeout(() => {
                killed = true;
                r.child.kill('SIGKILL');
            }, timeoutMs);
            const info = await r.exited;
            clearTimeout(timer);
            player.runs.push({ argv: r.argv, stderr: r.stderr, exitInfo: info });
            assert.ok(!killed, `marquee-player did not exit within ${timeoutMs} ms of SIGTERM\n${tail(r.stderr)}`);
            checkRun(r, 'stop');
            assert.ok(wasRunning, `marquee-player had exited before stop(): ${JSON.stringify(info)}\n${tail(r.stderr)}`);
            assert.equal(info.code, 0, `marquee-player exit status ${info.code} (signal ${info.signal}) after SIGTERM\n${tail(r.stderr)}`);
            return { ...info, ms: Date.now() - t0 };
        })();
        return r.stopping;
    }

    /** Kills the current run with SIGKILL (a power cut); checks only for a sanitizer report. */
    async function kill9() {
        const r = run;
        if (r.stopping) return r.stopping;
        r.stopping = (async () => {
            if (!r.exitInfo) r.child.kill('SIGKILL');
            const info = await r.exited;
            player.runs.push({ argv: r.argv, stderr: r.stderr, exitInfo: info });
            checkRun(r, 'kill -9');
            return info;
        })();
        return r.stopping;
    }

    /**
     * Starts the player again on the same data dir and timeline (stopping the current run with
     * stop() first if it still runs). @over: {config, env, args, serverUrl, logLevel} replacing
     * (config: merged into) the first run's. Resolves the same handle.
     */
    async function restart(over = {}) {
        if (!run.stopping) {
            if (run.exitInfo) await kill9(); // already gone: record it, check the sanitizer
            else await stop();
        } else await run.stopping;
        if (over.config) opts.config = { ...opts.config, ...over.config };
        for (const k of ['env', 'args', 'serverUrl', 'logLevel']) if (over[k] !== undefined) opts[k] = over[k];
        run = await spawnRun(opts);
        return player;
    }

    /** Resolves the first log line (of this run) matching @pred; fails if the player exits first. */
    function waitForLog(pred, { timeoutMs = 30000, what = 'log line' } = {}) {
        const r = run;
        return new Promise((resolve, reject) => {
            const w = {
                check() {
                    const hit = r.lines.find(pred);
                    if (hit) {
                        done();
                        resolve(hit);
                    } else if (r.exitInfo) {
                        done();
                        reject(new Error(`marquee-player exited (${JSON.stringify(r.exitInfo)}) before ${what}\n${tail(r.stderr)}`));
                    }
                },
            };
            const timer = setTimeout(() => {
                done();
                reject(new Error(`no ${what} from marquee-player within ${timeoutMs} ms\n${tail(r.stderr)}`));
            }, timeoutMs);
            function done() {
                clearTimeout(timer);
                r.waiters.delete(w);
            }
            r.waiters.add(w);
            w.check();
        });
    }

    // (defineProperties, not assign: assign would read the getters once instead of copying them)
    Object.defineProperties(player, Object.getOwnPropertyDescriptors({
        get proc() {
            return run.child;
        },
        get pid() {
            return run.child.pid;
        },
        get argv() {
            return run.argv;
        },
        get lines() {
            return run.lines;
        },
        get exitInfo() {
            return run.exitInfo;
        },
        get exited() {
            return run.exited;
        },
        stderr: () => run.stderr,
        stdout: () => run.stdout,
        waitForLog,
        /** waitFor (wait.mjs) that fails at once when the player exits, and describes it on failure. */
        waitFor: (fn, opts2 = {}) => waitFor(fn, {
            ...opts2,
            failIf: async () => (run.exitInfo && !run.stopping ? `marquee-player exited ${JSON.stringify(run.exitInfo)}` : null)
                || (opts2.failIf ? opts2.failIf() : null),
            describe: opts2.describe ?? describe,
        }),
        timeline: () => readTimeline(player.timelinePath),
        status: () => playerStatus(dataDir, { binary: opts.binary }),
        describe,
        stop,
        kill9,
        restart,
    }));
    run = await spawnRun(opts);
    return player;
}

/**
 * Pairs @player into venue @venueId the way a person does: waits for the code it shows (its
 * latest timeline `pairing` event, else `status`), claims it with @admin ({call, token}: an
 * apiClient()'s call and a venue manager's or tenant admin's token; world.admin is one), and
 * waits until the player has stored its token (DIR/device-token, mode 0600) and shows content
 * or the error screen. A code that a newer one replaced meanwhile (404/410) is retried with the
 * newer one. Resolves {deviceId, device (the claim's answer), code, status}.
 */
export async function pairPlayer(player, admin, venueId, { name = 'Scenario screen', groupId, timeoutMs = 60000 } = {}) {
    assert.ok(admin && typeof admin.call === 'function' && admin.token, 'pairPlayer: admin must be {call, token}');
    const deadline = Date.now() + timeoutMs;
    const left = () => Math.max(1, deadline - Date.now());
    const codeNow = async () => {
        const tl = await player.timeline();
        const ev = tl.filter((l) => l.event === 'pairing' && l.code).at(-1);
        if (ev) return ev.code;
        const st = await player.status();
        return st.pairingCode || null;
    };
    const tried = new Set();
    let device = null;
    let code = null;
    while (!device) {
        code = await player.waitFor(async () => {
            const c = await codeNow();
            return c && !tried.has(c) ? c : null;
        }, { timeoutMs: left(), what: tried.size ? `a new pairing code (tried ${[...tried]})` : 'a pairing code', intervalMs: 200 });
        assert.match(code, /^[ACDEFHJKLMNPQRTUVWXY3479]{4}-[ACDEFHJKLMNPQRTUVWXY3479]{4}$/, `pairing code ${code}`);
        tried.add(code);
        const r = await admin.call('POST', `/v1/venues/${venueId}/devices/pairing/claim`, admin.token,
            { pairingCode: code, name, ...(groupId ? { groupId } : {}) });
        if (r.res.status === 201) device = JSON.parse(r.text);
        else if (r.res.status !== 404 && r.res.status !== 410) assert.fail(`claim of ${code}: ${r.res.status} ${r.text}`);
        else if (Date.now() >= deadline) assert.fail(`claim of ${code}: ${r.res.status} ${r.text}, and no newer code`);
    }
    const status = await player.waitFor(async () => {
        const st = await player.status();
        return st.state === 'PLAYING' || st.state === 'ERROR_SCREEN' ? st : null;
    }, { timeoutMs: left(), what: `the player to leave pairing (claimed ${code} as device ${device.deviceId})`, intervalMs: 250 });
    const s = await stat(player.tokenPath).catch(() => null);
    assert.ok(s && s.isFile(), `no ${player.tokenPath} after pairing`);
    assert.equal(s.mode & 0o077, 0, `${player.tokenPath} has mode ${(s.mode & 0o777).toString(8)}, not 0600`);
    if (status.deviceId !== null && status.deviceId !== undefined) {
        assert.equal(status.deviceId, device.deviceId, 'status deviceId = the claimed device');
    }
    return { deviceId: device.deviceId, device, code, status };
}
