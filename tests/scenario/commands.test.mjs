// SPDX-License-Identifier: MIT
//
// commands.test.mjs — the remote commands of §28.7 (docs/devices.md "Remote commands",
// docs/marquee-player.md "Remote commands"), each issued through the API
// (POST /v1/venues/{venueId}/devices/{deviceId}/commands) to a real, paired, playing
// marquee-player (headless renderer), and each checked three ways: its result is posted (the
// command reads back SUCCEEDED with completedAtUtc), exactly one COMMAND_EXECUTED event naming
// it reaches the server (checked for all of them at once by the last test: the player sends
// events in batches at most every 10 s), and it did what it says:
//
//   SET_LOG_LEVEL             {"level":"DEBUG"}: debug lines appear in the player's stderr;
//                             {"level":"INFO"}: they stop (while polls that would log one go on)
//   REQUEST_MANIFEST_REFRESH  a full sync follows: an unconditional manifest GET that marqueed
//                             answers 200 (every ordinary poll of an unchanged manifest is 304)
//   RESTART_PLAYBACK_LOOP     at the end of the item on screen (outcome "ended"), the timeline
//                             starts again at index 0 — before the loop's own end
//   CLEAR_CACHE_UNUSED        an asset that only an older manifest named (neither current nor
//                             previous) leaves DIR/assets; current's and previous's stay (the
//                             same files, not fetched again)
//   CLEAR_CACHE_ALL           only current's assets remain (previous's re-download is refused by
//                             the origin proxy so that the state can be seen), current's are the
//                             same files, and playback never stops (no failed / interrupted item,
//                             no error screen)
//   REBOOT_APP                the process executes itself again: the same pid (execv), a new
//                             APP_STARTED, it plays again, and the command is not executed a
//                             second time (one player.started more, one COMMAND_EXECUTED)
//
// And the durability of §28.7 "Persist last command processed": a result that could not be
// posted (marqueed stopped right after delivering the command) is posted once marqueed is back,
// even across a restart of the player meanwhile, which does not execute it again; and a command
// taken but not yet executed when the player was stopped is reported FAILED (`INTERRUPTED`)
// after its restart, never executed (docs/marquee-player.md "Never twice").
//
// The player polls commands every second and manifests every 2 s (command_poll_s, poll_max_s;
// the world raises marqueed's rate limits). Nothing here asserts a duration: every wait is a
// generous bound on something that must happen.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { BACKEND } from '../api/lib/server.mjs';
import { pairPlayer, startPlayer } from './lib/player.mjs';
import { startWorld } from './lib/world.mjs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FINAL = ['SUCCEEDED', 'FAILED', 'EXPIRED'];

/** The plays of a timeline: each `start` with the `end` that follows it, in file order. */
function playsOf(timeline) {
    const plays = [];
    let open = null;
    timeline.forEach((ev, line) => {
        if (ev.event === 'start') {
            open = { start: ev, end: null, line };
            plays.push(open);
        } else if (ev.event === 'end' && open) {
            open.end = ev;
            open = null;
        }
    });
    return plays;
}

/** A log line of the player's that reports the device event @type ({"event":"event","message":type}). */
const isEventLog = (type) => (l) => l.event === 'event' && l.message === type;

describe(`remote commands: marquee-player headless (${BACKEND})`, () => {
    let world;
    let player;
    let deviceId;
    let p1; // the first playlist: red 3 s, green 2 s, clip (2 s video)
    let interrupted = null; // the command a restart cut short

    const base = () => `/v1/venues/${world.venueId}/devices/${deviceId}`;
    const call = (method, p, body) => world.admin.call(method, p, world.admin.token, body);

    async function issue(type, parameters) {
        const c = world.admin.ok(await call('POST', `${base()}/commands`, { type, ...(parameters ? { parameters } : {}) }), 201);
        assert.equal(c.status, 'PENDING');
        assert.match(c.commandId, UUID);
        return c;
    }
    const command = async (id) => world.admin.ok(await call('GET', `${base()}/commands/${id}`));
    async function events(type) {
        const out = [];
        let cursor = null;
        do {
            const q = `type=${type}&limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
            const page = world.admin.ok(await call('GET', `${base()}/events?${q}`));
            out.push(...page.items);
            cursor = page.nextCursor;
        } while (cursor);
        return out;
    }
    const executedEvents = async (id) => (await events('COMMAND_EXECUTED')).filter((e) => e.payload?.commandId === id);

    /** Waits for @c's final status; resolves the command as the API reads it back. */
    const final = (c, timeoutMs = 60000) => player.waitFor(async () => {
        const now = await command(c.commandId);
        return FINAL.includes(now.status) ? now : null;
    }, { timeoutMs, intervalMs: 200, what: `command ${c.type} (${c.commandId}) to get a final status` });

    // The commands whose event is still to be checked: [{c, eventType}]. The player sends its
    // events at most once every 10 s (EVENTS_GAP_MS in src/player/net.c, for the default
    // `events` rate class), so waiting for each command's event in turn would cost up to 10 s a
    // command: the last test checks them all at once.
    const expectedEvents = [];

    /**
     * The common part of every command's check: it reads back SUCCEEDED with completedAtUtc (and
     * exactly one COMMAND_EXECUTED event naming it must reach the server: the last test).
     */
    async function expectExecuted(c) {
        const done = await final(c);
        assert.equal(done.status, 'SUCCEEDED', `${c.type}: ${JSON.stringify(done)}`);
        assert.equal(typeof done.completedAtUtc, 'string', `${c.type}: completedAtUtc ${JSON.stringify(done)}`);
        assert.ok(Date.parse(done.completedAtUtc) >= Date.parse(done.createdAtUtc), JSON.stringify(done));
        assert.equal(done.errorCode, null);
        expectedEvents.push({ c, eventType: 'COMMAND_EXECUTED' });
        return done;
    }

    /** The asset ids held in DIR/assets. */
    const assetsOnDisk = async () => (await readdir(path.join(player.dataDir, 'assets'))).filter((f) => UUID.test(f)).sort();
    const idOf = (name) => world.assets[name].assetId;
    const ids = (...names) => names.map(idOf).sort();
    const inode = async (name) => (await stat(path.join(player.dataDir, 'assets', idOf(name)))).ino;

    /** Waits until the player's current manifest is playlist @pl (and its previous @prev, if given). */
    const waitCurrent = (pl, prev) => player.waitFor(async () => {
        const st = await player.status();
        return st.state === 'PLAYING' && st.manifest?.current?.playlistId === pl.playlistId
            && (!prev || st.manifest?.previous?.playlistId === prev.playlistId) && !st.manifest?.staged ? st : null;
    }, { timeoutMs: 60000, intervalMs: 250, what: `playlist ${pl.playlistId} as the current manifest` });

    /** Waits for a play that starts after timeline line @from and matches @pred; resolves it. */
    const waitStart = (from, pred, what) => player.waitFor(async () => {
        const plays = playsOf(await player.timeline()).filter((p) => p.line >= from);
        return plays.find((p) => pred(p.start)) ?? null;
    }, { timeoutMs: 60000, intervalMs: 100, what });

    let clockDir;
    let clockFile; // the player's test clock (SET_LOG_LEVEL's durationSeconds)
    before(async () => {
        clockDir = await mkdtemp(path.join(os.tmpdir(), 'mp-clock-'));
        clockFile = path.join(clockDir, 'offset-ms');
        await writeFile(clockFile, '0\n');
        world = await startWorld({
            media: {
                red: { type: 'image', color: 'red' },
                green: { type: 'image', color: 'green' },
                clip: { type: 'video', seconds: 2 },
                blue: { type: 'image', color: 'blue' },
                yellow: { type: 'image', color: 'yellow' },
                orange: { type: 'image', color: 'orange' },
            },
        });
        p1 = await world.publish([
            { media: 'red', durationSeconds: 3 },
            { media: 'green', durationSeconds: 2 },
            { media: 'clip' },
        ]);
        player = await startPlayer({
            server: world,
            logLevel: 'info', // SET_LOG_LEVEL turns debug on
            config: { heartbeat_min_s: 5, poll_min_s: 1, poll_max_s: 2, command_poll_s: 1, test_clock_file: clockFile },
        });
        ({ deviceId } = await pairPlayer(player, world.admin, world.venueId, { name: 'Commands screen' }));
        await waitCurrent(p1);
    });
    after(async () => {
        if (player && !player.exitInfo) await player.kill9().catch(() => {});
        await world?.stop();
        if (clockDir) await rm(clockDir, { recursive: true, force: true });
    });

    it('SET_LOG_LEVEL {"level":"DEBUG"}: debug lines appear in the player\'s stderr', async () => {
        assert.equal(player.lines.filter((l) => l.level === 'debug').length, 0, 'no debug line at --log-level info');
        const c = await issue('SET_LOG_LEVEL', { level: 'DEBUG' });
        await expectExecuted(c);
        await player.waitForLog((l) => l.level === 'debug', { timeoutMs: 30000, what: 'a debug line after SET_LOG_LEVEL DEBUG' });
    });

    it('REQUEST_MANIFEST_REFRESH: a full sync follows (an unconditional manifest GET, answered 200)', async () => {
        const isManifest = (l) => l.event === 'request' && l.route === '/v1/player/manifest';
        // the polls of an unchanged manifest are conditional: 304
        await player.waitFor(() => world.srv.logs().filter(isManifest).slice(-2).every((l) => l.status === 304)
            && world.srv.logs().filter(isManifest).length >= 2, { timeoutMs: 30000, what: 'conditional polls answered 304' });
        const mark = world.srv.logs().length;
        const c = await issue('REQUEST_MANIFEST_REFRESH');
        await expectExecuted(c);
        const full = await player.waitFor(() => world.srv.logs().slice(mark).find((l) => isManifest(l) && l.status === 200),
            { timeoutMs: 30000, what: 'a manifest GET answered 200 after REQUEST_MANIFEST_REFRESH' });
        assert.equal(full.method, 'GET');
        // and, the log being at debug now, the player says it scheduled the sync at once
        assert.ok(player.lines.some((l) => l.event === 'sync.scheduled'), 'debug sync.scheduled lines');
    });

    it('SET_LOG_LEVEL {"level":"INFO"}: the debug lines stop, while the polls that log them go on', async () => {
        const executedBefore = player.lines.filter(isEventLog('COMMAND_EXECUTED')).length;
        const c = await issue('SET_LOG_LEVEL', { level: 'INFO' });
        await expectExecuted(c);
        // the level changes before the command's own "event COMMAND_EXECUTED" line is logged
        await player.waitFor(() => player.lines.filter(isEventLog('COMMAND_EXECUTED')).length > executedBefore,
            { what: 'the COMMAND_EXECUTED log line' });
        const lines = player.lines;
        let mark = -1;
        for (let i = lines.length - 1; i >= 0; i--) {
            if (isEventLog('COMMAND_EXECUTED')(lines[i])) {
                mark = i;
                break;
            }
        }
        // two more manifest polls: the answer to the first was acted on before the second was
        // sent, and scheduling that second poll logs a debug line at DEBUG
        const isPoll = (l) => l.event === 'request' && l.route === '/v1/player/manifest';
        const polls = world.srv.logs().filter(isPoll).length;
        await player.waitFor(() => world.srv.logs().filter(isPoll).length >= polls + 2,
            { timeoutMs: 30000, what: 'two more manifest polls' });
        const debug = player.lines.slice(mark + 1).filter((l) => l.level === 'debug');
        assert.deepEqual(debug, [], 'no debug line after SET_LOG_LEVEL INFO');
    });

    it('SET_LOG_LEVEL {"level":"DEBUG","durationSeconds":60}: debug for 60 s of the player\'s clock, then its own level', async () => {
        const c = await issue('SET_LOG_LEVEL', { level: 'DEBUG', durationSeconds: 60 });
        await expectExecuted(c);
        const from = player.lines.length;
        await player.waitFor(() => player.lines.slice(from).some((l) => l.level === 'debug'),
            { timeoutMs: 30000, what: 'debug lines during durationSeconds' });
        await writeFile(clockFile, '61000\n'); // the player's clock, 61 s on
        const isPoll = (l) => l.event === 'request' && l.route === '/v1/player/manifest';
        // once the clock file is read (every 500 ms) the level is back, and the player says so
        const moved = player.lines.length;
        await player.waitFor(() => player.lines.slice(moved).some((l) => l.event === 'log.level_restored'),
            { timeoutMs: 30000, what: 'the log.level_restored line after the clock moved' });
        const mark = player.lines.findLastIndex((l) => l.event === 'log.level_restored');
        const polls = world.srv.logs().filter(isPoll).length;
        await player.waitFor(() => world.srv.logs().filter(isPoll).length >= polls + 2,
            { timeoutMs: 30000, what: 'two more manifest polls' });
        assert.deepEqual(player.lines.slice(mark + 1).filter((l) => l.level === 'debug'), [],
            'no debug line once durationSeconds has passed');
    });

    it('RESTART_PLAYBACK_LOOP: at the end of the item on screen, the loop starts again at index 0', async () => {
        const n = p1.items.length;
        let found = null;
        for (let attempt = 1; attempt <= 3 && !found; attempt++) {
            const from = (await player.timeline()).length;
            // issued while the first item (3 s) plays: the boundary is its end, or the next one's
            await waitStart(from, (s) => s.index === 0, 'a new start of item 0');
            const c = await issue('RESTART_PLAYBACK_LOOP');
            await expectExecuted(c);
            found = await player.waitFor(async () => {
                const plays = playsOf(await player.timeline()).filter((p) => p.line >= from);
                for (let k = 1; k < plays.length; k++) {
                    const [prev, p] = [plays[k - 1], plays[k]];
                    if (p.start.index === 0 && prev.start.index !== n - 1) return { prev, p };
                }
                // the loop came round on its own (index n-1, then 0) twice since: no restart seen
                const wraps = plays.filter((p, k) => k > 0 && p.start.index === 0).length;
                return wraps >= 2 ? 'none' : null;
            }, { timeoutMs: 60000, intervalMs: 100, what: 'item 0 starting after an item other than the last' });
            if (found === 'none') found = null;
        }
        assert.ok(found, 'after RESTART_PLAYBACK_LOOP, item 0 never started before the loop\'s own end (3 tries)');
        assert.ok(found.prev.end, 'the item before the restart has ended');
        assert.equal(found.prev.end.outcome, 'ended', `the restart waited for the item's end: ${JSON.stringify(found.prev.end)}`);
        assert.equal(found.p.start.manifestEtag, found.prev.start.manifestEtag, 'the same manifest, from its first item');
    });

    it('CLEAR_CACHE_UNUSED: an asset only an older manifest named leaves DIR/assets; current\'s and previous\'s stay', async () => {
        const p2 = await world.publish([{ media: 'blue', durationSeconds: 2 }]);
        await waitCurrent(p2, p1);
        const p3 = await world.publish([{ media: 'yellow', durationSeconds: 2 }]);
        await waitCurrent(p3, p2);
        // red, green and clip: p1's, which is neither current nor previous now, still cached
        assert.deepEqual(await assetsOnDisk(), ids('red', 'green', 'clip', 'blue', 'yellow'));
        const kept = { blue: await inode('blue'), yellow: await inode('yellow') };
        const fetched = { blue: world.origin.statsFor(world.media.blue.sha256).requests,
            yellow: world.origin.statsFor(world.media.yellow.sha256).requests };

        const c = await issue('CLEAR_CACHE_UNUSED');
        const done = await expectExecuted(c);
        assert.deepEqual(done.result, { evictedAssets: 3 }, JSON.stringify(done));
        assert.deepEqual(await assetsOnDisk(), ids('blue', 'yellow'), 'only current\'s and previous\'s assets remain');
        for (const name of ['blue', 'yellow']) {
            assert.equal(await inode(name), kept[name], `${name}: the same file`);
            assert.equal(world.origin.statsFor(world.media[name].sha256).requests, fetched[name], `${name}: not fetched again`);
        }
    });

    it('CLEAR_CACHE_ALL: only the current manifest\'s assets remain, and playback never stops', async () => {
        // current p3 (yellow), previous p2 (blue): previous's asset goes, and the origin refuses
        // it for now, so that the player (which fetches a missing fallback again) cannot put it back
        assert.deepEqual(await assetsOnDisk(), ids('blue', 'yellow'));
        world.origin.addFault({ match: world.media.blue.sha256, kind: 'status', status: 503 });
        const keptIno = await inode('yellow');
        const fetched = world.origin.statsFor(world.media.yellow.sha256).requests;
        const from = (await player.timeline()).length;

        const c = await issue('CLEAR_CACHE_ALL');
        const done = await expectExecuted(c);
        assert.deepEqual(done.result, { evictedAssets: 1 }, JSON.stringify(done));
        assert.deepEqual(await assetsOnDisk(), ids('yellow'), 'only current\'s asset remains');
        assert.equal(await inode('yellow'), keptIno, 'current\'s asset: the same file');
        assert.equal(world.origin.statsFor(world.media.yellow.sha256).requests, fetched, 'current\'s asset: not fetched again');

        // playback never stopped: yellow went on, item after item, each to its end
        const plays = await player.waitFor(async () => {
            const after = playsOf(await player.timeline()).filter((p) => p.line >= from);
            return after.filter((p) => p.end).length >= 3 ? after : null;
        }, { timeoutMs: 60000, what: 'three more plays after CLEAR_CACHE_ALL' });
        const tl = (await player.timeline()).slice(from);
        assert.deepEqual(tl.filter((e) => e.event === 'error_screen' || e.event === 'pairing'), [], 'no other screen');
        for (const p of plays.filter((x) => x.end)) {
            assert.equal(p.start.assetId, idOf('yellow'), JSON.stringify(p.start));
            assert.equal(p.end.outcome, 'ended', `playback never stops: ${JSON.stringify(p.end)}`);
        }
        assert.deepEqual(await assetsOnDisk(), ids('yellow'));
        assert.equal((await player.status()).state, 'PLAYING');
        world.origin.clearFaults();
    });

    it('REBOOT_APP: the player executes itself again (same pid), plays on, and never executes it twice', async () => {
        const pid = player.pid;
        const started = () => player.lines.filter((l) => l.event === 'player.started');
        assert.equal(started().length, 1);
        const appStarted = (await events('APP_STARTED')).length;

        const c = await issue('REBOOT_APP');
        await expectExecuted(c);
        await player.waitFor(() => started().length >= 2, { timeoutMs: 60000, what: 'a second player.started line (the re-executed process)' });
        const rebootMs = Date.parse(started()[1].time);
        assert.equal(player.pid, pid, 'the same process (execv)');
        assert.equal(player.exitInfo, null, 'the process did not exit');
        await player.waitFor(async () => (await events('APP_STARTED')).length > appStarted,
            { timeoutMs: 60000, intervalMs: 500, what: 'a new APP_STARTED event on the server' });

        // it plays again: three items end after the re-execution (three boundaries at which a
        // command taken again would run)
        await player.waitFor(async () => playsOf(await player.timeline())
            .filter((p) => p.start.t >= rebootMs && p.end?.outcome === 'ended').length >= 3,
        { timeoutMs: 60000, what: 'three plays after the re-execution' });
        const st = await player.status();
        assert.equal(st.running, true);
        assert.equal(st.pid, pid, 'status: the same pid');
        assert.equal(st.state, 'PLAYING');
        assert.equal(st.deviceId, deviceId);

        assert.equal(started().length, 2, 'executed once: one re-execution');
        const afterReboot = player.lines.slice(player.lines.indexOf(started()[1]));
        assert.deepEqual(afterReboot.filter(isEventLog('COMMAND_EXECUTED')), [], 'no command executed after the re-execution');
        assert.equal((await command(c.commandId)).status, 'SUCCEEDED');
        assert.equal((await executedEvents(c.commandId)).length, 1, 'one COMMAND_EXECUTED for REBOOT_APP');
        assert.equal((await events('APP_STARTED')).length, appStarted + 1, 'one APP_STARTED more');
    });

    it('a command taken but not executed when the player stops is reported FAILED (INTERRUPTED) after its restart', async () => {
        // an image of 6 s on screen: a boundary command waits for its end
        const p4 = await world.publish([{ media: 'orange', durationSeconds: 6 }]);
        await waitCurrent(p4);
        const from = (await player.timeline()).length;
        await waitStart(from, (s) => s.assetId === idOf('orange'), 'a new start of the 6 s image');
        const logMark = player.lines.length;
        const c = await issue('CLEAR_CACHE_UNUSED');
        interrupted = c;
        await player.waitFor(async () => (await command(c.commandId)).status === 'DELIVERED',
            { timeoutMs: 30000, intervalMs: 50, what: 'the command to be delivered' });
        const oldLines = player.lines; // this run's
        await player.restart(); // SIGTERM before the image's end: the command still waits for it
        assert.deepEqual(oldLines.slice(logMark).filter(isEventLog('COMMAND_EXECUTED')), [],
            'precondition: the player stopped before the image\'s end, the command not executed');

        const done = await final(c);
        assert.equal(done.status, 'FAILED', `reported as cut short: ${JSON.stringify(done)}`);
        assert.equal(done.errorCode, 'INTERRUPTED', JSON.stringify(done));
        assert.equal(typeof done.completedAtUtc, 'string');
        expectedEvents.push({ c, eventType: 'COMMAND_FAILED' });
        // that it is not executed at a later boundary either: the next test counts them
    });

    it('a result that could not be posted (marqueed stopped) is posted when marqueed is back; neither a restart nor a later boundary executes a command again', async () => {
        assert.ok(interrupted, 'the test before ran');
        const from = (await player.timeline()).length;
        await waitStart(from, (s) => s.assetId === idOf('orange'), 'a new start of the 6 s image');
        const logMark = player.lines.length;
        const executedBefore = player.lines.filter(isEventLog('COMMAND_EXECUTED')).length;

        const c = await issue('RESTART_PLAYBACK_LOOP');
        await player.waitFor(async () => (await command(c.commandId)).status === 'DELIVERED',
            { timeoutMs: 30000, intervalMs: 50, what: 'the command to be delivered' });
        const srv1 = world.srv;
        await world.stopServer();
        const posted = srv1.logs().filter((l) => l.event === 'request' && l.path === `/v1/player/commands/${c.commandId}/result`);
        assert.deepEqual(posted, [], 'precondition: the result was not posted before marqueed stopped');

        // executed at the image's end, with marqueed away; the interrupted command is not
        await player.waitFor(() => player.lines.slice(logMark).some(isEventLog('COMMAND_EXECUTED')),
            { timeoutMs: 60000, what: 'the command executed while marqueed is stopped' });
        assert.equal(player.lines.filter(isEventLog('COMMAND_EXECUTED')).length, executedBefore + 1,
            'one command executed at that boundary (not the interrupted one)');
        // a restart of the player meanwhile (SIGTERM, exit 0, started again on the same data)
        await player.restart();
        const tlRestart = (await player.timeline()).length;
        await waitStart(tlRestart, () => true, 'the restarted player playing');

        await world.startServer();
        await expectExecuted(c);
        // a boundary in the restarted run: a command executed again would have run there
        await player.waitFor(async () => playsOf(await player.timeline()).filter((p) => p.line >= tlRestart && p.end).length >= 1,
            { timeoutMs: 60000, what: 'a play in the restarted run' });
        assert.deepEqual(player.lines.filter(isEventLog('COMMAND_EXECUTED')), [], 'the restarted player executed nothing');
        assert.equal((await command(c.commandId)).status, 'SUCCEEDED');
        assert.equal((await command(interrupted.commandId)).status, 'FAILED');
    });

    it('each command\'s event reached the server, exactly once: COMMAND_EXECUTED (COMMAND_FAILED for the interrupted one)', async () => {
        assert.ok(expectedEvents.length >= 9, `every earlier test ran (${expectedEvents.length} commands)`);
        const byType = await player.waitFor(async () => {
            const got = { COMMAND_EXECUTED: await events('COMMAND_EXECUTED'), COMMAND_FAILED: await events('COMMAND_FAILED') };
            const missing = expectedEvents.filter(({ c, eventType }) => !got[eventType].some((e) => e.payload?.commandId === c.commandId));
            return missing.length ? null : got;
        }, { timeoutMs: 60000, intervalMs: 500, what: `the events of ${expectedEvents.length} commands`,
            describe: async () => `expected: ${JSON.stringify(expectedEvents.map(({ c, eventType }) => [c.type, c.commandId, eventType]))}\n${await player.describe()}` });
        for (const { c, eventType } of expectedEvents) {
            const mine = byType[eventType].filter((e) => e.payload?.commandId === c.commandId);
            assert.equal(mine.length, 1, `one ${eventType} for ${c.type} ${c.commandId}: ${JSON.stringify(mine)}`);
            assert.equal(mine[0].payload.commandType, c.type, JSON.stringify(mine[0]));
            assert.equal(mine[0].severity, eventType === 'COMMAND_EXECUTED' ? 'INFO' : 'ERROR');
            const other = eventType === 'COMMAND_EXECUTED' ? 'COMMAND_FAILED' : 'COMMAND_EXECUTED';
            assert.deepEqual(byType[other].filter((e) => e.payload?.commandId === c.commandId), [], `no ${other} for ${c.type}`);
            if (eventType === 'COMMAND_FAILED') assert.equal(mine[0].payload.reason, 'INTERRUPTED', JSON.stringify(mine[0]));
        }
        // CLEAR_CACHE_UNUSED's evictions: p1's three assets
        const evictions = (await events('CACHE_EVICTION')).filter((x) => x.payload?.reason === 'CLEAR_CACHE_UNUSED');
        assert.deepEqual(evictions.map((e) => e.payload.assetId).sort(), ids('red', 'green', 'clip'));
        const all = (await events('CACHE_EVICTION')).filter((x) => x.payload?.reason === 'CLEAR_CACHE_ALL');
        assert.deepEqual(all.map((e) => e.payload.assetId), [idOf('blue')]);
        await player.stop();
    });
});
