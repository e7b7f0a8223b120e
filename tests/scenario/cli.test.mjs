// SPDX-License-Identifier: MIT
//
// cli.test.mjs — marquee-player's command line (docs/marquee-player.md "Running it"): --help and
// --version, a clear error and exit status 2 for every bad argument or setting, one daemon per
// data directory, `status` with and without a daemon, and a stop that comes while it starts.
// No marqueed is needed for most of these: a player without a server pairs (and fails to) in
// the background, which is enough to hold the directory.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { assertNoSanitizerReport, childEnv, freePort } from '../api/lib/server.mjs';
import { MARQUEE_PLAYER, playerStatus, startPlayer } from './lib/player.mjs';

/** Runs the binary to its end: {code, stdout, stderr}. */
function run(args, { env = {}, timeoutMs = 20000 } = {}) {
    return new Promise((resolve) => {
        execFile(MARQUEE_PLAYER, args, { env: childEnv(env), timeout: timeoutMs }, (err, stdout, stderr) => {
            assertNoSanitizerReport(stderr, 'marquee-player');
            resolve({ code: err ? (err.code ?? 'killed') : 0, stdout, stderr });
        });
    });
}

describe('marquee-player command line', () => {
    let dir;
    let deadServer;
    before(async () => {
        dir = await mkdtemp(path.join(os.tmpdir(), 'mp-cli-'));
        deadServer = `http://127.0.0.1:${await freePort()}`; // nothing listens there
    });
    after(async () => {
        await rm(dir, { recursive: true, force: true });
    });

    it('--help lists the usage and every setting; --version names itself', async () => {
        const h = await run(['--help']);
        assert.equal(h.code, 0);
        for (const word of ['usage: marquee-player', 'status --data-dir', '--server', '--data-dir',
            '--renderer', '--max-downloads', '--bandwidth-bytes-s', '--offpeak-window',
            'MARQUEE_PLAYER_MAX_DOWNLOADS']) {
            assert.ok(h.stdout.includes(word), `--help lacks ${word}:\n${h.stdout}`);
        }
        const v = await run(['--version']);
        assert.equal(v.code, 0);
        assert.match(v.stdout, /^marquee-player \d+\.\d+\.\d+\n$/);
    });

    it('refuses bad arguments and settings with exit 2 and a message naming them', async () => {
        const d = path.join(dir, 'bad');
        const cases = [
            [[], /--server/],
            [['--data-dir', d], /--server must be an http\(s\):\/\/ URL \(required\)/],
            [['--server', 'ftp://x', '--data-dir', d], /--server must be an http/],
            [['--server', deadServer], /--data-dir is required/],
            [['--server', deadServer, '--data-dir', d, '--renderer', 'vga'], /--renderer must be headless or mpv/],
            [['--server', deadServer, '--data-dir', d, '--max-downloads', '0'], /max_downloads must be a whole number from 1 to 16/],
            [['--server', deadServer, '--data-dir', d, '--max_downloads', 'lots'], /max_downloads/],
            [['--server', deadServer, '--data-dir', d, '--offpeak-window', '25:00-03:00'], /offpeak_window must be HH:MM-HH:MM/],
            [['--server', deadServer, '--data-dir', d, '--offpeak-window', '01:00-01:00'], /offpeak_window/],
            [['--server', deadServer, '--data-dir', d, '--poll-min-s', '100', '--poll-max-s', '10'], /poll_min_s must not exceed poll_max_s/],
            [['--server', deadServer, '--data-dir', d, '--no-such-thing', '1'], /unknown option "--no-such-thing"/],
            [['--server', deadServer, '--data-dir', d, '--log-level', 'loud'], /log_level/],
            [['--server', deadServer, '--data-dir', d, '--config', path.join(dir, 'missing.conf')], /missing\.conf/],
        ];
        for (const [args, re] of cases) {
            const r = await run(args);
            assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
            assert.match(r.stderr, re, `${args.join(' ')}`);
        }
        // nothing was created for a refused command line
        await assert.rejects(stat(d), { code: 'ENOENT' });
    });

    it('reads a config file, and the environment, with flags strongest', async () => {
        const conf = path.join(dir, 'p.conf');
        await writeFile(conf, '# a comment\nrenderer = "vga"\n');
        const r = await run(['--server', deadServer, '--data-dir', path.join(dir, 'c'), '--config', conf]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /--renderer must be headless or mpv, not "vga"/);
        const bad = path.join(dir, 'bad.conf');
        await writeFile(bad, 'no_such_key = 1\n');
        const b = await run(['--server', deadServer, '--data-dir', path.join(dir, 'c'), '--config', bad]);
        assert.equal(b.code, 2);
        assert.match(b.stderr, /bad\.conf:1: unknown setting "no_such_key"/);
        const e = await run(['--server', deadServer, '--data-dir', path.join(dir, 'c')],
            { env: { MARQUEE_PLAYER_MAX_DOWNLOADS: '99' } });
        assert.equal(e.code, 2);
        assert.match(e.stderr, /MARQUEE_PLAYER_MAX_DOWNLOADS: max_downloads must be a whole number/);
    });

    it('status: a clear error without a data directory; a stopped directory reads as stopped', async () => {
        const none = await run(['status', '--data-dir', path.join(dir, 'never')]);
        assert.equal(none.code, 1);
        assert.match(none.stderr, /no data directory/);
        const usage = await run(['status']);
        assert.equal(usage.code, 2);
        assert.match(usage.stderr, /usage: marquee-player status --data-dir DIR/);
        const extra = await run(['status', '--data-dir', dir, '--frobnicate']);
        assert.equal(extra.code, 2);
    });

    it('one daemon per data directory; status sees it running, pairing, and then stopped', async () => {
        const d = path.join(dir, 'one');
        const p = await startPlayer({ server: deadServer, dataDir: d });
        try {
            const st = await p.waitFor(async () => {
                const s = await p.status();
                return s.running && s.state === 'UNREGISTERED' ? s : null;
            }, { what: 'the first player to hold the directory and want pairing' });
            assert.equal(st.pid, p.pid);
            assert.equal(st.pairingCode, null, 'no server: no code to show');
            const second = await run(['--server', deadServer, '--data-dir', d]);
            assert.equal(second.code, 1, second.stderr);
            assert.match(second.stderr, /another marquee-player runs on/);
            // the human form says the same
            const human = await run(['status', '--data-dir', d]);
            assert.equal(human.code, 0);
            assert.match(human.stdout, /daemon: +running/);
            assert.match(human.stdout, /state: +UNREGISTERED/);
        } finally {
            await p.stop();
        }
        const s = await playerStatus(d);
        assert.equal(s.running, false);
        assert.equal(s.state, null);
        assert.equal(s.pid, null);
        assert.deepEqual(s.manifest, { current: null, previous: null, staged: null });
        assert.equal(s.cache.usedBytes, 0);
    });

    // (A signal before main() has run cannot be caught by any program; from main() on it is
    // kept, and acted on once the daemon can stop cleanly.)
    it('SIGTERM as soon as the daemon has started still ends with status 0', async () => {
        const d = path.join(dir, 'quick');
        for (let i = 0; i < 5; i++) {
            const p = await startPlayer({ server: deadServer, dataDir: d });
            await p.waitForLog((l) => l.event === 'player.started', { what: 'its first log line' });
            await p.stop(); // asserts exit 0 and no sanitizer report
        }
    });
});
