// SPDX-License-Identifier: MIT
//
// client.mjs — the API calls every suite makes to set itself up: JSON requests with a bearer
// token, "this status or fail with the body", login, and tenants, venues and users made the
// way an operator makes them (create-tenant, then the tenant-admin endpoints).
import assert from 'node:assert/strict';

import { get, runMarqueed } from './server.mjs';

const JSON_HEADERS = { 'Content-Type': 'application/json' };

/** The client of the server @getSrv() returns; every user it makes has @password. */
export function apiClient(getSrv, password) {
    const call = (method, p, token, body, headers = {}) =>
        get(`${getSrv().url}${p}`, {
            method,
            headers: {
                ...(body !== undefined ? JSON_HEADERS : {}),
                ...(token ? { Authorization: `Bearer ${token}` } : {}),
                ...headers,
            },
            body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        });
    /** The parsed body of an answer that must have @status. */
    const ok = (r, status = 200) => {
        assert.equal(r.res.status, status, `${r.res.url}: ${r.text}`);
        return JSON.parse(r.text);
    };
    const login = async (email, pw = password) =>
        ok(await call('POST', '/v1/auth/login', null, { email, password: pw })).accessToken;
    /** A tenant and its admin: {tenantId, userId, email, token}. */
    const createTenant = async (name, email) => {
        const made = await runMarqueed(['create-tenant', '--name', name, '--admin-email', email,
            '--admin-password', password, '--timezone', 'Europe/London', ...getSrv().store.args]);
        assert.equal(made.code, 0, made.stderr);
        const m = /tenant ([0-9a-f-]{36}) created[\s\S]*admin user ([0-9a-f-]{36})/.exec(made.stdout);
        assert.ok(m, made.stdout);
        return { tenantId: m[1], userId: m[2], email, token: await login(email) };
    };
    const createVenue = async (t, name) =>
        ok(await call('POST', `/v1/tenants/${t.tenantId}/venues`, t.token, { name, timezone: 'Europe/London' }), 201).venueId;
    /** A user of tenant @t with roles and capabilities: {userId, email, token}. */
    const createUser = async (t, email, { venueRoles = [], capabilities = [], tenantRoles = [] } = {}) => {
        const u = ok(await call('POST', `/v1/tenants/${t.tenantId}/users`, t.token, {
            email, displayName: email.split('@')[0], password, tenantRoles, capabilities,
        }), 201);
        if (venueRoles.length) {
            ok(await call('PUT', `/v1/tenants/${t.tenantId}/users/${u.userId}/venue-roles`, t.token, { venueRoles }));
        }
        return { userId: u.userId, email, token: await login(email) };
    };
    return { call, ok, login, createTenant, createVenue, createUser };
}
