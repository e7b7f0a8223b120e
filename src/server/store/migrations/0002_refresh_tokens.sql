-- SPDX-License-Identifier: MIT
-- 0002: refresh tokens (issue 3, spec §25.2, §25.7).
-- Opaque random tokens, stored only as their SHA-256 (hex). Every refresh rotates: the token
-- presented becomes USED and a new one of the same family is issued. Presenting a USED (or
-- REVOKED) token again is reuse — someone holds a copy — and revokes the whole family.
CREATE TABLE refresh_tokens (
    refresh_token_id   TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    user_id            TEXT    NOT NULL,
    family_id          TEXT    NOT NULL,
    token_hash         TEXT    NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    status             TEXT    NOT NULL DEFAULT 'ACTIVE'
                               CHECK (status IN ('ACTIVE', 'USED', 'REVOKED')),
    client_ip          TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    expires_at_utc     TEXT    NOT NULL CHECK (expires_at_utc LIKE '____-__-__T__:__:__.___Z'),
    used_at_utc        TEXT    CHECK (used_at_utc LIKE '____-__-__T__:__:__.___Z'),
    revoked_at_utc     TEXT    CHECK (revoked_at_utc LIKE '____-__-__T__:__:__.___Z'),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX ix_refresh_tokens_family ON refresh_tokens (family_id, status);
CREATE INDEX ix_refresh_tokens_user ON refresh_tokens (tenant_id, user_id, status);
CREATE INDEX ix_refresh_tokens_expiry ON refresh_tokens (expires_at_utc);
-- login looks a user up by email before it knows the tenant
CREATE INDEX ix_users_email_normalized ON users (email_normalized);
