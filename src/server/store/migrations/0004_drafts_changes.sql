-- SPDX-License-Identifier: MIT
-- 0004: mergeable drafts and the change feed (issue 5, spec §15, §16; sync-module.md rule 4;
-- cross-device-sync-story.md).
--
-- Every version of a playlist draft is kept (name and items as JSON), so that an edit based on
-- an older version can be merged three ways instead of refused. Old versions are pruned beyond
-- a window (the server keeps the last 100).
CREATE TABLE playlist_draft_versions (
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    playlist_id        TEXT    NOT NULL,
    draft_version      BIGINT  NOT NULL CHECK (draft_version >= 1),
    name               TEXT    NOT NULL,
    items_json         TEXT    NOT NULL,
    created_by_user_id TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    PRIMARY KEY (playlist_id, draft_version),
    FOREIGN KEY (tenant_id, playlist_id) REFERENCES playlists (tenant_id, playlist_id)
        ON DELETE CASCADE
);

-- The change feed: one strictly increasing sequence per tenant, appended in the same
-- transaction as the change it records. The counter row is updated last in every such
-- transaction, just before commit, so on PostgreSQL writers of one tenant queue on its row lock
-- briefly and commit in sequence order: a client reading "after N" can never miss a change that
-- commits later with a smaller number. (Taken first, it would serialize every writer of the
-- tenant for whole transactions.)
CREATE TABLE tenant_change_seqs (
    tenant_id          TEXT    NOT NULL PRIMARY KEY REFERENCES tenants (tenant_id),
    last_seq           BIGINT  NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
);

CREATE TABLE changes (
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    seq                BIGINT  NOT NULL CHECK (seq >= 1),
    entity_type        TEXT    NOT NULL CHECK (entity_type IN ('ASSET', 'PLAYLIST', 'SCHEDULE_SET',
                                                               'VENUE', 'DEVICE', 'GROUP')),
    entity_id          TEXT    NOT NULL,
    -- the venue whose users may see it; NULL = every user of the tenant (the shared library)
    venue_id           TEXT,
    action             TEXT    NOT NULL CHECK (length(action) > 0),
    version            BIGINT,
    actor_user_id      TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX ix_changes_created ON changes (created_at_utc);
