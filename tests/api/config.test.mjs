// SPDX-License-Identifier: MIT
//
// config.test.mjs — where marqueed's settings come from: flag > MARQUEE_* environment >
// config file > default; errors that name the bad flag, key or value; --help and --version.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { BACKEND, REPO_ROOT, freePort, get, makeStore, runMarqueed, startServer } from './lib/server.mjs';

/** Whether an info-level line (store_ready) was logged by `marqueed migrate`. */
function infoLogged(result) {
    return result.logs.some((l) => l.event === 'store_ready');
}

describe(`configuration (${BACKEND})`, () => {
    let store;
    let file;
    before(async () => {
        store = await makeStore();
        file = path.join(store.dataDir, 'marqueed.conf');
        const first = await runMarqueed(['migrate', ...store.args]);
        assert.equal(first.code, 0, first.stderr);
    });
    after(async () => {
        await store?.release();
    });

    describe('log_level precedence: flag > env > file > default (observed with migrate)', () => {
        it('default is info: store_ready is logged', async () => {
            const r = await runMarqueed(['migrate', ...store.args]);
            assert.equal(r.code, 0, r.stderr);
            assert.ok(infoLogged(r), r.stderr);
        });

        it('file log_level = warn silences info', async () => {
            await writeFile(file, '# test config\nlog_level = warn\n');
            const r = await runMarqueed(['migrate', ...store.args], { env: { MARQUEE_CONFIG: file } });
            assert.equal(r.code, 0, r.stderr);
            assert.ok(!infoLogged(r), r.stderr);
        });

        it('MARQUEE_LOG_LEVEL=info beats the file', async () => {
            await writeFile(file, 'log_level = "warn"\n');
            const r = await runMarqueed(['migrate', ...store.args], { env: { MARQUEE_CONFIG: file, MARQUEE_LOG_LEVEL: 'info' } });
            assert.equal(r.code, 0, r.stderr);
            assert.ok(infoLogged(r), r.stderr);
        });

        it('--log-level warn beats MARQUEE_LOG_LEVEL=info and the file', async () => {
            await writeFile(file, 'log_level = info\n');
            const r = await runMarqueed(['migrate', ...store.args, '--log-level', 'warn'], {
                env: { MARQUEE_CONFIG: file, MARQUEE_LOG_LEVEL: 'info' },
            });
            assert.equal(r.code, 0, r.stderr);
            assert.ok(!infoLogged(r), r.stderr);
        });

        it('--log-level=info (with =) beats MARQUEE_LOG_LEVEL=error', async () => {
            const r = await runMarqueed(['migrate', ...store.args, '--log-level=info'], { env: { MARQUEE_LOG_LEVEL: 'error' } });
            assert.equal(r.code, 0, r.stderr);
            assert.ok(infoLogged(r), r.stderr);
        });

        it('--config FILE names the file (as config.h and --help promise)', async () => {
            await writeFile(file, 'log_level = warn\n');
            const r = await runMarqueed(['migrate', ...store.args, '--config', file]);
            assert.equal(r.code, 0, r.stderr);
            assert.ok(!infoLogged(r), r.stderr);
        });

        it('--config=FILE beats MARQUEE_CONFIG', async () => {
            const other = path.join(store.dataDir, 'other.conf');
            await writeFile(file, 'log_level = warn\n');
            await writeFile(other, 'log_level = info\n');
            const r = await runMarqueed(['migrate', ...store.args, `--config=${other}`], { env: { MARQUEE_CONFIG: file } });
            assert.equal(r.code, 0, r.stderr);
            assert.ok(infoLogged(r), r.stderr);
        });
    });

    describe('listen precedence (observed with serve)', () => {
        const serveWith = async (fileText, env, args) => {
            await writeFile(file, fileText);
            return startServer({ store, listen: null, args, env: { MARQUEE_CONFIG: file, ...env } });
        };
        const check = async (srv, port) => {
            try {
                assert.equal(srv.port, port);
                const { res } = await get(`http://127.0.0.1:${port}/healthz`);
                assert.equal(res.status, 200);
            } finally {
                await srv.stop();
            }
        };

        it('the file sets listen', async () => {
            const p1 = await freePort();
            await check(await serveWith(`listen = 127.0.0.1:${p1}\n`, {}, []), p1);
        });

        it('MARQUEE_LISTEN beats the file', async () => {
            const [p1, p2] = [await freePort(), await freePort()];
            await check(await serveWith(`listen = 127.0.0.1:${p1}\n`, { MARQUEE_LISTEN: `127.0.0.1:${p2}` }, []), p2);
        });

        it('--listen beats MARQUEE_LISTEN and the file', async () => {
            const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
            await check(
                await serveWith(`listen = 127.0.0.1:${p1}\n`, { MARQUEE_LISTEN: `127.0.0.1:${p2}` }, ['--listen', `127.0.0.1:${p3}`]),
                p3,
            );
        });

        const requestLines = async (fileText, env, args) => {
            const p1 = await freePort();
            await writeFile(file, `listen = 127.0.0.1:${p1}\n${fileText}`);
            // at warn the info "listening" line is absent: wait for the port instead
            const srv = await startServer({ store, listen: null, logLevel: null, readyPort: p1, args, env: { MARQUEE_CONFIG: file, ...env } });
            try {
                const { res } = await get(`${srv.url}/healthz`, { headers: { 'X-Request-Id': 'precedence' } });
                assert.equal(res.status, 200);
                await new Promise((r) => setTimeout(r, 300));
            } finally {
                await srv.stop();
            }
            return srv.logs().filter((l) => l.event === 'request').length;
        };

        it('serve: file log_level = warn → no info request lines', async () => {
            assert.equal(await requestLines('log_level = warn\n', {}, []), 0);
        });

        it('serve: MARQUEE_LOG_LEVEL=info beats the file → request lines', async () => {
            assert.equal(await requestLines('log_level = warn\n', { MARQUEE_LOG_LEVEL: 'info' }, []), 1);
        });

        it('serve: --log-level error beats MARQUEE_LOG_LEVEL=info → none', async () => {
            assert.equal(await requestLines('log_level = info\n', { MARQUEE_LOG_LEVEL: 'info' }, ['--log-level', 'error']), 0);
        });

        it('serving on [::1] works when IPv6 loopback exists', async (t) => {
            const r = await startServer({ store, listen: '[::1]:0' }).catch((e) => e);
            if (r instanceof Error) {
                if (/Address family|EAFNOSUPPORT|Cannot assign|EADDRNOTAVAIL/i.test(r.message)) return t.skip('no IPv6 loopback');
                throw r;
            }
            try {
                const { res } = await get(`http://[::1]:${r.port}/healthz`);
                assert.equal(res.status, 200);
            } finally {
                await r.stop();
            }
        });
    });

    describe('bad configuration fails with a message naming the problem', () => {
        const failsWith = async (args, env, pattern) => {
            const r = await runMarqueed(['migrate', ...store.args, ...args], { env });
            assert.notEqual(r.code, 0, `exit 0 for ${args.join(' ')} ${JSON.stringify(env)}`);
            assert.match(r.stderr, pattern);
            return r;
        };

        it('an unknown flag', async () => {
            await failsWith(['--no-such-flag', 'x'], {}, /--no-such-flag/);
        });

        it('a flag without its value', async () => {
            await failsWith(['--threads'], {}, /threads/);
        });

        it('an unknown key in the file (with file and line)', async () => {
            await writeFile(file, '# comment\n\ncolour = blue\n');
            const r = await failsWith([], { MARQUEE_CONFIG: file }, /colour/);
            assert.match(r.stderr, /:3\b/, 'the line number');
        });

        it('a file line that is not key = value', async () => {
            await writeFile(file, 'just some words\n');
            await failsWith([], { MARQUEE_CONFIG: file }, /marqueed\.conf/);
        });

        it('a missing config file', async () => {
            await failsWith([], { MARQUEE_CONFIG: path.join(store.dataDir, 'absent.conf') }, /absent\.conf/);
        });

        it('a bad number as a flag, an env var and a file value', async () => {
            await failsWith(['--threads', 'abc'], {}, /threads/);
            await failsWith(['--max-body-bytes', '12'], {}, /max_body_bytes|max-body-bytes/);
            await failsWith([], { MARQUEE_CONNECTION_TIMEOUT_S: '-5' }, /MARQUEE_CONNECTION_TIMEOUT_S|connection_timeout_s/);
            await writeFile(file, 'threads = 1.5\n');
            await failsWith([], { MARQUEE_CONFIG: file }, /threads/);
        });

        it('a bad boolean', async () => {
            await failsWith(['--demo=maybe'], {}, /demo/);
        });

        it('a bad log level', async () => {
            await failsWith(['--log-level', 'loud'], {}, /log_level|log-level/);
        });

        it('a bad listen address', async () => {
            const r = await runMarqueed(['serve', ...store.args, '--listen', 'nonsense']);
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /listen/);
        });

        it('an unknown command', async () => {
            const r = await runMarqueed(['frobnicate']);
            assert.notEqual(r.code, 0);
            assert.match(r.stderr, /frobnicate/);
        });
    });
});

describe('--help and --version', () => {
    it('--version prints the meson project version', async () => {
        const meson = await readFile(path.join(REPO_ROOT, 'meson.build'), 'utf8');
        const version = /version\s*:\s*'([^']+)'/.exec(meson)[1];
        const r = await runMarqueed(['--version']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), `marqueed ${version}`);
    });

    it('--help exits 0 and lists every option with its flag and environment variable', async () => {
        const r = await runMarqueed(['--help']);
        assert.equal(r.code, 0, r.stderr);
        for (const s of ['--data-dir', 'MARQUEE_DATA_DIR', '--listen', 'MARQUEE_LISTEN', '--log-level', 'MARQUEE_LOG_LEVEL',
            '--connection-timeout-s', '--max-header-bytes', '--db', 'serve', 'migrate', 'create-tenant'])
            assert.ok(r.stdout.includes(s), `--help lacks ${s}`);
    });

    it('--help documents the config file as --config and MARQUEE_CONFIG (the names that work)', async () => {
        const r = await runMarqueed(['--help']);
        assert.match(r.stdout, /--config\b(?!-)/, '--help lacks --config');
        assert.match(r.stdout, /MARQUEE_CONFIG\b(?!_)/, '--help lacks MARQUEE_CONFIG');
        assert.ok(!r.stdout.includes('MARQUEE_CONFIG_FILE'), '--help names MARQUEE_CONFIG_FILE, which is never read');
    });

    it('no arguments prints usage and fails', async () => {
        const r = await runMarqueed([]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr + r.stdout, /usage/);
    });
});
