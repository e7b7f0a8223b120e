-- SPDX-License-Identifier: MIT
-- 0003: upload sessions and processing bookkeeping (issue 4, spec §13, §26.6).
-- One session per asset: created with it (UPLOADING), COMPLETED when the client says every
-- byte is in. The bytes themselves live in <data_dir>/uploads/<asset_id> until processing
-- moves them into the content-addressed object store; received size is the file's size.
CREATE TABLE upload_sessions (
    upload_id          TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    asset_id           TEXT    NOT NULL UNIQUE,
    size_bytes         BIGINT  NOT NULL CHECK (size_bytes > 0),
    -- declared by the client; processing fails CHECKSUM_MISMATCH when the bytes differ
    checksum_sha256    TEXT    CHECK (checksum_sha256 IS NULL OR length(checksum_sha256) = 64),
    status             TEXT    NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'COMPLETED')),
    created_by_user_id TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    expires_at_utc     TEXT    NOT NULL CHECK (expires_at_utc LIKE '____-__-__T__:__:__.___Z'),
    completed_at_utc   TEXT    CHECK (completed_at_utc LIKE '____-__-__T__:__:__.___Z'),
    FOREIGN KEY (tenant_id, asset_id) REFERENCES assets (tenant_id, asset_id) ON DELETE CASCADE
);
CREATE INDEX ix_upload_sessions_expiry ON upload_sessions (status, expires_at_utc);

-- How many times processing of the asset was started. A file that kills the process that
-- inspects it must not be retried forever after restarts: three starts, then INTERNAL_ERROR.
ALTER TABLE assets ADD COLUMN processing_attempts INTEGER NOT NULL DEFAULT 0;
-- the §13.5 sweeper finds PROCESSING assets by when processing began
CREATE INDEX ix_assets_processing ON assets (status, processing_started_at_utc);
-- the store's garbage collector asks whether any asset still names an object
CREATE INDEX ix_assets_storage_key ON assets (storage_key);
CREATE INDEX ix_assets_thumbnail_key ON assets (thumbnail_storage_key);
