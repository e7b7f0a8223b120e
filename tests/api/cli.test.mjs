// SPDX-License-Identifier: MIT
//
// cli.test.mjs — the one-shot commands: `migrate` (idempotent), `create-tenant` (validation,
// duplicates, generated passwords) and `serve --demo` (demo login shown once, kept 0600).
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { BACKEND, UUID_RE, get, makeStore, runMarqueed, startServer } from './lib/server.mjs';

describe(`marqueed migrate (${BACKEND})`, () => {
    let store;
    before(async () => {
        store = await makeStore();
    });
    after(async () => {
        await store?.release();
    });

    it('migrates an empty store, then finds nothing to do the second time; exit 0 both times', async () => {
        const first = await runMarqueed(['migrate', ...store.args]);
        assert.equal(first.code, 0, first.stderr);
        const ready1 = first.logs.find((l) => l.event === 'store_ready');
        assert.ok(ready1, first.stderr);
        assert.ok(ready1.migrationsApplied >= 1, `first run applied ${ready1.migrationsApplied}`);
        const second = await runMarqueed(['migrate', ...store.args]);
        assert.equal(second.code, 0, second.stderr);
        const ready2 = second.logs.find((l) => l.event === 'store_ready');
        assert.ok(ready2, second.stderr);
        assert.equal(ready2.migrationsApplied, 0);
        assert.equal(ready2.schemaVersion, ready1.schemaVersion);
    });

    it('a server on the migrated store is ready', async () => {
        const srv = await startServer({ store });
        try {
            const { res, text } = await get(`${srv.url}/readyz`);
            assert.equal(res.status, 200, text);
        } finally {
            await srv.stop();
        }
    });
});

describe(`marqueed create-tenant (${BACKEND})`, () => {
    let store;
    before(async () => {
        store = await makeStore();
    });
    after(async () => {
        await store?.release();
    });

    const create = (args, env) => runMarqueed(['create-tenant', ...args, ...store.args], { env });

    it('creates "Acme Pubs" and prints the tenant id', async () => {
        const r = await create(['--name', 'Acme Pubs', '--admin-email', 'a@acme.test', '--admin-password', 'correct horse battery']);
        assert.equal(r.code, 0, r.stderr);
        const ids = r.stdout.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi) || [];
        assert.ok(ids.length >= 1 && UUID_RE.test(ids[0]), `no tenant id in: ${r.stdout}`);
        assert.ok(!r.stdout.includes('correct horse battery'), 'the given password is echoed');
        assert.ok(!r.stderr.includes('correct horse battery'), 'the given password is logged');
    });

    it('the same name again → non-zero, "already exists"', async () => {
        const r = await create(['--name', 'Acme Pubs', '--admin-email', 'b@acme.test', '--admin-password', 'another good password']);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /already exists/);
    });

    it('a bad email → exit 2 with a message about the email', async () => {
        for (const email of ['not-an-email', 'a@', '@b.test', 'a b@c.test', '']) {
            const r = await create(['--name', `Bad Email ${email.length}`, '--admin-email', email, '--admin-password', 'correct horse battery']);
            assert.equal(r.code, 2, `email ${JSON.stringify(email)}: exit ${r.code} ${r.stdout}${r.stderr}`);
            assert.match(r.stderr, /e-?mail/i);
        }
    });

    it('a password shorter than 12 characters → exit 2 with a message about the password', async () => {
        const r = await create(['--name', 'Short Pw', '--admin-email', 's@short.test', '--admin-password', 'elevenchars']);
        assert.equal(r.code, 2, r.stdout + r.stderr);
        assert.match(r.stderr, /password/i);
        assert.ok(!r.stderr.includes('elevenchars'), 'the rejected password is echoed');
    });

    it('a 12-character password is enough', async () => {
        const r = await create(['--name', 'Twelve Pw', '--admin-email', 't@twelve.test', '--admin-password', 'twelve-chars']);
        assert.equal(r.code, 0, r.stderr);
    });

    it('an empty name → exit 2', async () => {
        const r = await create(['--name', '', '--admin-email', 'e@empty.test', '--admin-password', 'correct horse battery']);
        assert.equal(r.code, 2, r.stdout + r.stderr);
        assert.match(r.stderr, /name/i);
    });

    it('--name or --admin-email missing → non-zero with a message', async () => {
        const r = await create(['--admin-email', 'x@y.test']);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /--name/);
    });

    it('without --admin-password prints a generated password (≥ 12 characters)', async () => {
        const r = await create(['--name', 'Generated Co', '--admin-email', 'g@gen.test']);
        assert.equal(r.code, 0, r.stderr);
        const m = /password[^:\n]*:\s*(\S+)/i.exec(r.stdout);
        assert.ok(m, `no password in: ${r.stdout}`);
        assert.ok(m[1].length >= 12, `generated password "${m[1]}" is short`);
        assert.ok(!r.stderr.includes(m[1]), 'the generated password is in the log');
        const again = await create(['--name', 'Generated Co 2', '--admin-email', 'g2@gen.test']);
        const m2 = /password[^:\n]*:\s*(\S+)/i.exec(again.stdout);
        assert.ok(m2 && m2[1] !== m[1], 'two generated passwords are equal');
    });

    it('MARQUEE_ADMIN_PASSWORD is used when the flag is absent (nothing generated)', async () => {
        const r = await create(['--name', 'Env Pw', '--admin-email', 'e@env.test'], { MARQUEE_ADMIN_PASSWORD: 'from the environment' });
        assert.equal(r.code, 0, r.stderr);
        assert.ok(!/generated/i.test(r.stdout), r.stdout);
    });
});

describe(`marqueed serve --demo (${BACKEND})`, () => {
    let store;
    let firstPassword;
    before(async () => {
        store = await makeStore();
    });
    after(async () => {
        await store?.release();
    });

    it('on an empty store prints the demo login once and writes demo-login.txt mode 0600', async () => {
        const srv = await startServer({ store, args: ['--demo'] });
        try {
            const out = srv.stdout();
            assert.match(out, /admin@demo\.marquee\.local/, out);
            const m = /password:\s*(\S+)/.exec(out);
            assert.ok(m, `no password on stdout: ${out}`);
            firstPassword = m[1];
            assert.ok(firstPassword.length >= 12);
            assert.equal(out.split(firstPassword).length - 1, 1, 'the password is printed more than once');
            assert.ok(!srv.stderr().includes(firstPassword), 'the demo password is in the log');
            const file = path.join(store.dataDir, 'demo-login.txt');
            const st = await stat(file);
            assert.equal(st.mode & 0o777, 0o600, `demo-login.txt mode ${(st.mode & 0o777).toString(8)}`);
            const text = await readFile(file, 'utf8');
            assert.ok(text.includes('admin@demo.marquee.local'), text);
            assert.ok(text.includes(firstPassword), 'demo-login.txt lacks the printed password');
            const { res } = await get(`${srv.url}/readyz`);
            assert.equal(res.status, 200);
        } finally {
            await srv.stop();
        }
    });

    it('a second start creates no tenant and prints no new password', async () => {
        assert.ok(firstPassword, 'the first start did not run');
        const file = path.join(store.dataDir, 'demo-login.txt');
        const before1 = await readFile(file, 'utf8');
        const mtime = (await stat(file)).mtimeMs;
        const srv = await startServer({ store, args: ['--demo'] });
        try {
            const out = srv.stdout();
            assert.ok(!out.includes(firstPassword), 'the password is printed again');
            assert.ok(!/password:\s*\S+/.test(out), `a new password is printed: ${out}`);
        } finally {
            await srv.stop();
        }
        assert.equal(await readFile(file, 'utf8'), before1, 'demo-login.txt changed');
        assert.equal((await stat(file)).mtimeMs, mtime, 'demo-login.txt rewritten');
        // the demo tenant exists exactly under its name
        const dup = await runMarqueed(['create-tenant', '--name', 'Demo Hospitality Group', '--admin-email', 'x@demo.test',
            '--admin-password', 'correct horse battery', ...store.args]);
        assert.notEqual(dup.code, 0);
        assert.match(dup.stderr, /already exists/);
    });

    it('--demo on a store that already has a tenant creates no demo tenant', async () => {
        const other = await makeStore();
        try {
            const c = await runMarqueed(['create-tenant', '--name', 'Existing', '--admin-email', 'e@x.test',
                '--admin-password', 'correct horse battery', ...other.args]);
            assert.equal(c.code, 0, c.stderr);
            const srv = await startServer({ store: other, args: ['--demo'] });
            await srv.stop();
            assert.ok(!/password:\s*\S+/.test(srv.stdout()), srv.stdout());
            await assert.rejects(stat(path.join(other.dataDir, 'demo-login.txt')));
        } finally {
            await other.release();
        }
    });
});
