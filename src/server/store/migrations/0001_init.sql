-- SPDX-License-Identifier: MIT
--
-- 0001_init.sql — the whole schema of spec §26 (with §8/§13/§17/§18/§25.9/§27.8 details).
--
-- DESIGN
-- One SQL text for SQLite (>= 3.35) and PostgreSQL (>= 15); store.c runs it in one transaction
-- and records it in schema_migrations (which store.c creates). Portable types only:
--   * ids are TEXT (UUIDs made by the application), primary keys have no AUTOINCREMENT/SERIAL;
--   * instants are TEXT ISO-8601 UTC with milliseconds, 'YYYY-MM-DDTHH:MM:SS.mmmZ', made by the
--     application and CHECKed by shape, so that text order is time order on both backends
--     (cursor pagination orders by (created_at_utc, <id>));
--   * calendar dates are TEXT 'YYYY-MM-DD'; minutes of the day are INTEGER 0..1439;
--   * booleans are INTEGER 0/1 with a CHECK; byte sizes, versions and epochs are BIGINT;
--   * JSON documents are TEXT (*_json), read and written by the application.
-- Enumerations are CHECK constraints (a new value is a new migration).
--
-- Tenant isolation (§25.6, §26.1). Every row carries tenant_id, and every reference between
-- tenant-owned rows is a composite foreign key that includes tenant_id — for instance a device
-- references venues(tenant_id, venue_id) — so the database itself refuses a row that points
-- into another tenant. The only exception is device_pairings, which exists before a tenant
-- claims it (claimed_tenant_id). Composite keys use MATCH SIMPLE (both backends' default): a
-- NULL optional reference (scope_venue_id of tenant content, primary_group_id …) is not
-- checked. Deletes: children that belong to their parent cascade (playlist items, published
-- snapshot rows, a device's status/events/commands/tokens, role rows of a user); everything
-- else refuses to go while referenced. User-managed resources are soft-deleted
-- (deleted_at_utc) and keep their references.
--
-- Naming: tables are the plural snake_case of §26's entities; columns are §26's camelCase
-- names in snake_case (tenantId → tenant_id, createdAtUtc → created_at_utc,
-- daysOfWeekMask → days_of_week_mask, isOnline → is_online, payloadJson → payload_json).
-- §26's collective words expand as follows:
--   "timestamps"            created_at_utc, updated_at_utc (append-only tables: created_at_utc)
--   "address fields"        address_line1, address_line2, city, region, postal_code, country_code
--   "file metadata"         original_file_name, mime_type, file_size_bytes, storage_key
--   "media metadata"        width_px, height_px, duration_ms, video_codec, audio_codec,
--                           bitrate_bps, frame_rate_milli (frames per 1000 s),
--                           thumbnail_storage_key
--   "playback & cache stats" the fields of the §27.8.2 heartbeat, prefixed by their object
--                           (playback_*, cache_*, network_*, errors_*)
--   "error fields"          error_code, error_message
--   "version fields"        previous_version, published_version, source_version
--
--   Tenant → tenants                          Venue → venues
--   User → users                              TenantUserRole → tenant_user_roles
--   VenueUserRole → venue_user_roles          Device → devices
--   DeviceGroup → device_groups               DevicePairing → device_pairings
--   DeviceAuthToken → device_auth_tokens      Asset → assets
--   Playlist → playlists                      PlaylistItem → playlist_items
--   PlaylistPublished → playlist_published    PlaylistPublishedItem → playlist_published_items
--   VenueScheduleSet → venue_schedule_sets    ScheduleSlot → schedule_slots
--   SchedulePublished → schedule_published    SchedulePublishedSlot → schedule_published_slots
--   VenueEpoch → venue_epochs                 DeviceStatus → device_status
--   DeviceEvent → device_events               DeviceCommand → device_commands
--   PublishEvent → publish_events             EditorPresence → editor_presence
-- Beyond §26: users.password_hash / email_normalized / last_login_at_utc, user_capabilities
-- (§25.4 capability flags), audit_log (§25.9), asset failure fields (§13.2), device_status's
-- heartbeat fields (§27.8.2), device_pairings.device_secret_hash.

-- ---------------------------------------------------------------------------------------------
-- §26.3 Core tables
-- ---------------------------------------------------------------------------------------------

CREATE TABLE tenants (
    tenant_id          TEXT    NOT NULL PRIMARY KEY,
    name               TEXT    NOT NULL CHECK (length(name) > 0),
    status             TEXT    NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DISABLED')),
    default_timezone   TEXT    NOT NULL DEFAULT 'UTC' CHECK (length(default_timezone) > 0),
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z')
);

-- one tenant per name, whatever the case ("Acme Pubs" and "acme pubs" are the same customer)
CREATE UNIQUE INDEX ux_tenants_name ON tenants (lower(name));

CREATE TABLE users (
    user_id            TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    email              TEXT    NOT NULL CHECK (length(email) > 0),
    -- lower-cased email: uniqueness and login lookup without a case-insensitive collation
    email_normalized   TEXT    NOT NULL CHECK (length(email_normalized) > 0),
    display_name       TEXT    NOT NULL DEFAULT '',
    -- Argon2id PHC string ($argon2id$v=19$…); NULL = cannot log in with a password
    password_hash      TEXT    CHECK (password_hash IS NULL OR password_hash LIKE '$argon2id$%'),
    status             TEXT    NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DISABLED')),
    last_login_at_utc  TEXT    CHECK (last_login_at_utc LIKE '____-__-__T__:__:__.___Z'),
    created_by_user_id TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    deleted_at_utc     TEXT    CHECK (deleted_at_utc LIKE '____-__-__T__:__:__.___Z'),
    UNIQUE (tenant_id, user_id),
    UNIQUE (tenant_id, email_normalized),
    FOREIGN KEY (tenant_id, created_by_user_id) REFERENCES users (tenant_id, user_id)
);
CREATE INDEX ix_users_list ON users (tenant_id, created_at_utc, user_id);
CREATE INDEX ix_users_email ON users (email_normalized);

CREATE TABLE venues (
    venue_id           TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    name               TEXT    NOT NULL CHECK (length(name) > 0),
    -- IANA zone; NULL = the tenant's default_timezone (§30.2)
    timezone           TEXT    CHECK (timezone IS NULL OR length(timezone) > 0),
    address_line1      TEXT,
    address_line2      TEXT,
    city               TEXT,
    region             TEXT,
    postal_code        TEXT,
    country_code       TEXT    CHECK (country_code IS NULL OR length(country_code) = 2),
    -- playlists.playlist_id; no foreign key because playlists reference venues (a cycle that
    -- SQLite cannot close with ALTER TABLE): the application checks it on write and the
    -- resolver tolerates a playlist that is gone.
    fallback_playlist_id TEXT,
    created_by_user_id TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    deleted_at_utc     TEXT    CHECK (deleted_at_utc LIKE '____-__-__T__:__:__.___Z'),
    UNIQUE (tenant_id, venue_id),
    FOREIGN KEY (tenant_id, created_by_user_id) REFERENCES users (tenant_id, user_id)
);
CREATE INDEX ix_venues_list ON venues (tenant_id, created_at_utc, venue_id);

CREATE TABLE tenant_user_roles (
    tenant_user_role_id TEXT   NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    user_id            TEXT    NOT NULL,
    role               TEXT    NOT NULL CHECK (role IN ('TENANT_ADMIN', 'TENANT_VIEWER')),
    created_by_user_id TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    UNIQUE (tenant_id, user_id, role),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, created_by_user_id) REFERENCES users (tenant_id, user_id)
);

CREATE TABLE venue_user_roles (
    venue_user_role_id TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    venue_id           TEXT    NOT NULL,
    user_id            TEXT    NOT NULL,
    role               TEXT    NOT NULL
                               CHECK (role IN ('VENUE_MANAGER', 'VENUE_EDITOR', 'VENUE_VIEWER')),
    created_by_user_id TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    -- one role per user and venue: the roles are a hierarchy (VIEWER < EDITOR < MANAGER)
    UNIQUE (venue_id, user_id),
    FOREIGN KEY (tenant_id, venue_id) REFERENCES venues (tenant_id, venue_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, created_by_user_id) REFERENCES users (tenant_id, user_id)
);
CREATE INDEX ix_venue_user_roles_user ON venue_user_roles (tenant_id, user_id);

-- §25.4 capability flags (EDIT_SHARED_LIBRARY), the `cap` claim of a user token.
CREATE TABLE user_capabilities (
    user_capability_id TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    user_id            TEXT    NOT NULL,
    capability         TEXT    NOT NULL CHECK (capability IN ('EDIT_SHARED_LIBRARY')),
    created_by_user_id TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    UNIQUE (tenant_id, user_id, capability),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, created_by_user_id) REFERENCES users (tenant_id, user_id)
);

-- ---------------------------------------------------------------------------------------------
-- §26.4 Devices & grouping
-- ---------------------------------------------------------------------------------------------

CREATE TABLE device_groups (
    group_id           TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    venue_id           TEXT    NOT NULL,
    name               TEXT    NOT NULL CHECK (length(name) > 0),
    created_by_user_id TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    deleted_at_utc     TEXT    CHECK (deleted_at_utc LIKE '____-__-__T__:__:__.___Z'),
    UNIQUE (tenant_id, venue_id, group_id),
    FOREIGN KEY (tenant_id, venue_id) REFERENCES venues (tenant_id, venue_id),
    FOREIGN KEY (tenant_id, created_by_user_id) REFERENCES users (tenant_id, user_id)
);
CREATE INDEX ix_device_groups_list ON device_groups (tenant_id, venue_id, created_at_utc, group_id);

CREATE TABLE devices (
    device_id          TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    venue_id           TEXT    NOT NULL,
    name               TEXT    NOT NULL CHECK (length(name) > 0),
    -- must be a group of the same venue; clear it before moving the device or deleting the group
    primary_group_id   TEXT,
    -- IANA zone; NULL = the venue's (§30.2)
    timezone           TEXT    CHECK (timezone IS NULL OR length(timezone) > 0),
    run_mode           TEXT    NOT NULL DEFAULT 'SHARED' CHECK (run_mode IN ('SHARED', 'KIOSK')),
    launch_on_boot     INTEGER NOT NULL DEFAULT 1 CHECK (launch_on_boot IN (0, 1)),
    auto_relaunch      INTEGER NOT NULL DEFAULT 0 CHECK (auto_relaunch IN (0, 1)),
    keep_awake         INTEGER NOT NULL DEFAULT 0 CHECK (keep_awake IN (0, 1)),
    watchdog_return_to_foreground INTEGER NOT NULL DEFAULT 0
                               CHECK (watchdog_return_to_foreground IN (0, 1)),
    orientation        TEXT    NOT NULL DEFAULT 'LANDSCAPE'
                               CHECK (orientation IN ('LANDSCAPE', 'PORTRAIT')),
    status             TEXT    NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DISABLED')),
    -- the identifier the player generated for pairing (§26.5)
    device_hardware_id TEXT,
    last_seen_at_utc   TEXT    CHECK (last_seen_at_utc LIKE '____-__-__T__:__:__.___Z'),
    app_version        TEXT,
    created_by_user_id TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    deleted_at_utc     TEXT    CHECK (deleted_at_utc LIKE '____-__-__T__:__:__.___Z'),
    UNIQUE (tenant_id, device_id),
    FOREIGN KEY (tenant_id, venue_id) REFERENCES venues (tenant_id, venue_id),
    FOREIGN KEY (tenant_id, venue_id, primary_group_id)
        REFERENCES device_groups (tenant_id, venue_id, group_id),
    FOREIGN KEY (tenant_id, created_by_user_id) REFERENCES users (tenant_id, user_id)
);
CREATE INDEX ix_devices_list ON devices (tenant_id, venue_id, created_at_utc, device_id);
CREATE INDEX ix_devices_group ON devices (primary_group_id);
CREATE INDEX ix_devices_hardware ON devices (device_hardware_id);

-- ---------------------------------------------------------------------------------------------
-- §26.5 Pairing & device tokens (§8)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE device_pairings (
    pairing_id         TEXT    NOT NULL PRIMARY KEY,
    pairing_code       TEXT    NOT NULL CHECK (length(pairing_code) > 0),
    device_hardware_id TEXT    NOT NULL CHECK (length(device_hardware_id) > 0),
    -- hash of a secret only the device holds and proves when it polls the status, so that the
    -- code shown on screen is not enough to collect the device token
    device_secret_hash TEXT,
    status             TEXT    NOT NULL DEFAULT 'PENDING'
                               CHECK (status IN ('PENDING', 'CLAIMED', 'COMPLETED', 'EXPIRED')),
    expires_at_utc     TEXT    NOT NULL CHECK (expires_at_utc LIKE '____-__-__T__:__:__.___Z'),
    claimed_by_user_id TEXT,
    claimed_tenant_id  TEXT    REFERENCES tenants (tenant_id),
    claimed_venue_id   TEXT,
    claimed_at_utc     TEXT    CHECK (claimed_at_utc LIKE '____-__-__T__:__:__.___Z'),
    resulting_device_id TEXT,
    completed_at_utc   TEXT    CHECK (completed_at_utc LIKE '____-__-__T__:__:__.___Z'),
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    -- PENDING → CLAIMED → COMPLETED, or PENDING → EXPIRED: a claim names tenant, venue and user
    CHECK (status NOT IN ('CLAIMED', 'COMPLETED') OR (claimed_tenant_id IS NOT NULL
           AND claimed_venue_id IS NOT NULL AND claimed_by_user_id IS NOT NULL)),
    CHECK (status <> 'COMPLETED' OR resulting_device_id IS NOT NULL),
    FOREIGN KEY (claimed_tenant_id, claimed_venue_id) REFERENCES venues (tenant_id, venue_id),
    FOREIGN KEY (claimed_tenant_id, claimed_by_user_id) REFERENCES users (tenant_id, user_id),
    FOREIGN KEY (claimed_tenant_id, resulting_device_id) REFERENCES devices (tenant_id, device_id)
);
-- a code identifies one live pairing; expired and completed ones may reuse it
CREATE UNIQUE INDEX ux_device_pairings_live_code ON device_pairings (pairing_code)
    WHERE status IN ('PENDING', 'CLAIMED');
CREATE INDEX ix_device_pairings_hardware ON device_pairings (device_hardware_id, created_at_utc);
CREATE INDEX ix_device_pairings_expiry ON device_pairings (status, expires_at_utc);

CREATE TABLE device_auth_tokens (
    device_auth_token_id TEXT  NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    venue_id           TEXT    NOT NULL,
    device_id          TEXT    NOT NULL,
    -- hex SHA-256 of the token; the token itself is never stored
    token_hash         TEXT    NOT NULL UNIQUE CHECK (length(token_hash) > 0),
    status             TEXT    NOT NULL DEFAULT 'ACTIVE'
                               CHECK (status IN ('ACTIVE', 'REVOKED', 'EXPIRED')),
    issued_at_utc      TEXT    NOT NULL CHECK (issued_at_utc LIKE '____-__-__T__:__:__.___Z'),
    expires_at_utc     TEXT    CHECK (expires_at_utc LIKE '____-__-__T__:__:__.___Z'),
    revoked_at_utc     TEXT    CHECK (revoked_at_utc LIKE '____-__-__T__:__:__.___Z'),
    last_used_at_utc   TEXT    CHECK (last_used_at_utc LIKE '____-__-__T__:__:__.___Z'),
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    FOREIGN KEY (tenant_id, venue_id) REFERENCES venues (tenant_id, venue_id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, device_id) ON DELETE CASCADE
);
CREATE INDEX ix_device_auth_tokens_device ON device_auth_tokens (device_id, status);

-- ---------------------------------------------------------------------------------------------
-- §26.6 Assets (§6, §13)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE assets (
    asset_id           TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    scope_type         TEXT    NOT NULL CHECK (scope_type IN ('TENANT', 'VENUE')),
    scope_venue_id     TEXT,
    type               TEXT    NOT NULL CHECK (type IN ('IMAGE', 'VIDEO')),
    status             TEXT    NOT NULL DEFAULT 'UPLOADING'
                               CHECK (status IN ('DRAFT', 'UPLOADING', 'PROCESSING', 'READY',
                                                 'FAILED')),
    display_name       TEXT    NOT NULL DEFAULT '',
    -- file metadata
    original_file_name TEXT,
    mime_type          TEXT,
    file_size_bytes    BIGINT  CHECK (file_size_bytes IS NULL OR file_size_bytes >= 0),
    storage_key        TEXT,
    -- lower-case hex; what the player verifies after download
    checksum_sha256    TEXT    CHECK (checksum_sha256 IS NULL OR length(checksum_sha256) = 64),
    -- media metadata
    width_px           INTEGER CHECK (width_px IS NULL OR width_px > 0),
    height_px          INTEGER CHECK (height_px IS NULL OR height_px > 0),
    duration_ms        BIGINT  CHECK (duration_ms IS NULL OR duration_ms >= 0),
    video_codec        TEXT,
    audio_codec        TEXT,
    bitrate_bps        BIGINT  CHECK (bitrate_bps IS NULL OR bitrate_bps >= 0),
    frame_rate_milli   INTEGER CHECK (frame_rate_milli IS NULL OR frame_rate_milli > 0),
    cdn_url            TEXT,
    thumbnail_url      TEXT,
    thumbnail_storage_key TEXT,
    -- §13.2 failure details, present exactly when status = 'FAILED'
    failure_reason     TEXT    CHECK (failure_reason IN (
                                   'INVALID_FORMAT', 'INVALID_CODEC', 'RESOLUTION_EXCEEDED',
                                   'DURATION_EXCEEDED', 'BITRATE_EXCEEDED', 'FILE_SIZE_EXCEEDED',
                                   'FILE_CORRUPT', 'CHECKSUM_MISMATCH', 'THUMBNAIL_FAILED',
                                   'PROCESSING_TIMEOUT', 'INTERNAL_ERROR')),
    failure_detail     TEXT,
    failed_at_utc      TEXT    CHECK (failed_at_utc LIKE '____-__-__T__:__:__.___Z'),
    -- §13.5: PROCESSING times out 10 minutes after this
    processing_started_at_utc TEXT
                               CHECK (processing_started_at_utc LIKE '____-__-__T__:__:__.___Z'),
    ready_at_utc       TEXT    CHECK (ready_at_utc LIKE '____-__-__T__:__:__.___Z'),
    created_by_user_id TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    deleted_at_utc     TEXT    CHECK (deleted_at_utc LIKE '____-__-__T__:__:__.___Z'),
    CHECK ((scope_type = 'TENANT' AND scope_venue_id IS NULL)
           OR (scope_type = 'VENUE' AND scope_venue_id IS NOT NULL)),
    CHECK (status <> 'FAILED' OR (failure_reason IS NOT NULL AND failed_at_utc IS NOT NULL)),
    CHECK (status = 'FAILED' OR failure_reason IS NULL),
    -- a READY asset can go into a manifest: it has what the player needs (§27.8.1)
    CHECK (status <> 'READY' OR (checksum_sha256 IS NOT NULL AND file_size_bytes IS NOT NULL)),
    UNIQUE (tenant_id, asset_id),
    FOREIGN KEY (tenant_id, scope_venue_id) REFERENCES venues (tenant_id, venue_id),
    FOREIGN KEY (tenant_id, created_by_user_id) REFERENCES users (tenant_id, user_id)
);
-- library lists: tenant scope is scope_venue_id IS NULL, a venue's own is = venue
CREATE INDEX ix_assets_list ON assets (tenant_id, scope_venue_id, created_at_utc, asset_id);
-- the §13.5 sweeper: UPLOADING/PROCESSING past their timeout, FAILED past retention
CREATE INDEX ix_assets_status ON assets (status, updated_at_utc);
CREATE INDEX ix_assets_checksum ON assets (tenant_id, checksum_sha256);

-- ---------------------------------------------------------------------------------------------
-- §26.7 Playlists
-- ---------------------------------------------------------------------------------------------

CREATE TABLE playlists (
    playlist_id        TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    scope_type         TEXT    NOT NULL CHECK (scope_type IN ('TENANT', 'VENUE')),
    scope_venue_id     TEXT,
    name               TEXT    NOT NULL CHECK (length(name) > 0),
    -- the ETag of the draft; bumped by every draft change
    draft_version      BIGINT  NOT NULL DEFAULT 1 CHECK (draft_version >= 1),
    -- the live snapshot in playlist_published; 0 = never published
    published_version  BIGINT  NOT NULL DEFAULT 0 CHECK (published_version >= 0),
    created_by_user_id TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    deleted_at_utc     TEXT    CHECK (deleted_at_utc LIKE '____-__-__T__:__:__.___Z'),
    CHECK ((scope_type = 'TENANT' AND scope_venue_id IS NULL)
           OR (scope_type = 'VENUE' AND scope_venue_id IS NOT NULL)),
    UNIQUE (tenant_id, playlist_id),
    FOREIGN KEY (tenant_id, scope_venue_id) REFERENCES venues (tenant_id, venue_id),
    FOREIGN KEY (tenant_id, created_by_user_id) REFERENCES users (tenant_id, user_id)
);
CREATE INDEX ix_playlists_list
    ON playlists (tenant_id, scope_venue_id, created_at_utc, playlist_id);

CREATE TABLE playlist_items (
    playlist_item_id   TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    playlist_id        TEXT    NOT NULL,
    asset_id           TEXT    NOT NULL,
    -- order within the draft; not UNIQUE so that a reorder may pass through duplicates
    sequence           INTEGER NOT NULL CHECK (sequence >= 0),
    duration_seconds   INTEGER NOT NULL CHECK (duration_seconds BETWEEN 1 AND 86400),
    enabled            INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    FOREIGN KEY (tenant_id, playlist_id) REFERENCES playlists (tenant_id, playlist_id)
        ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, asset_id) REFERENCES assets (tenant_id, asset_id)
);
CREATE INDEX ix_playlist_items_order ON playlist_items (playlist_id, sequence);
CREATE INDEX ix_playlist_items_asset ON playlist_items (asset_id);

-- Immutable snapshots: one row per publish of a playlist, its items below (§15, rollback §27.9).
CREATE TABLE playlist_published (
    playlist_published_id TEXT NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    playlist_id        TEXT    NOT NULL,
    published_version  BIGINT  NOT NULL CHECK (published_version >= 1),
    published_at_utc   TEXT    NOT NULL CHECK (published_at_utc LIKE '____-__-__T__:__:__.___Z'),
    published_by_user_id TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    UNIQUE (tenant_id, playlist_id, published_version),
    FOREIGN KEY (tenant_id, playlist_id) REFERENCES playlists (tenant_id, playlist_id),
    FOREIGN KEY (tenant_id, published_by_user_id) REFERENCES users (tenant_id, user_id)
);
CREATE INDEX ix_playlist_published_version ON playlist_published (playlist_id, published_version);

CREATE TABLE playlist_published_items (
    playlist_published_item_id TEXT NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    playlist_id        TEXT    NOT NULL,
    published_version  BIGINT  NOT NULL,
    asset_id           TEXT    NOT NULL,
    sequence           INTEGER NOT NULL CHECK (sequence >= 0),
    duration_seconds   INTEGER NOT NULL CHECK (duration_seconds BETWEEN 1 AND 86400),
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    FOREIGN KEY (tenant_id, playlist_id, published_version)
        REFERENCES playlist_published (tenant_id, playlist_id, published_version) ON DELETE CASCADE,
    -- an asset in a snapshot cannot be hard-deleted: players keep it (§28)
    FOREIGN KEY (tenant_id, asset_id) REFERENCES assets (tenant_id, asset_id)
);
-- the manifest path: a snapshot's items in order
CREATE UNIQUE INDEX ux_playlist_published_items_order
    ON playlist_published_items (playlist_id, published_version, sequence);
CREATE INDEX ix_playlist_published_items_asset ON playlist_published_items (asset_id);

-- ---------------------------------------------------------------------------------------------
-- §26.8 Venue scheduling (§7, §30, §31)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE venue_schedule_sets (
    venue_schedule_set_id TEXT NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    venue_id           TEXT    NOT NULL UNIQUE,
    draft_version      BIGINT  NOT NULL DEFAULT 1 CHECK (draft_version >= 1),
    published_version  BIGINT  NOT NULL DEFAULT 0 CHECK (published_version >= 0),
    created_by_user_id TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    FOREIGN KEY (tenant_id, venue_id) REFERENCES venues (tenant_id, venue_id),
    FOREIGN KEY (tenant_id, created_by_user_id) REFERENCES users (tenant_id, user_id)
);

-- Draft slots. days_of_week_mask: bit (d - 1) for ISO weekday d, 1 = Monday … 7 = Sunday
-- (Monday = 1, Sunday = 64). Minutes are venue-local (§30.3); end <= start wraps past midnight
-- (§30.4). target_id is a device_id or group_id by target_type (no foreign key: it points into
-- one of two tables; the application checks it belongs to the venue).
CREATE TABLE schedule_slots (
    slot_id            TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    venue_id           TEXT    NOT NULL,
    target_type        TEXT    NOT NULL CHECK (target_type IN ('DEVICE', 'GROUP')),
    target_id          TEXT    NOT NULL,
    playlist_id        TEXT    NOT NULL,
    days_of_week_mask  INTEGER NOT NULL CHECK (days_of_week_mask BETWEEN 1 AND 127),
    start_minutes      INTEGER NOT NULL CHECK (start_minutes BETWEEN 0 AND 1439),
    end_minutes        INTEGER NOT NULL CHECK (end_minutes BETWEEN 0 AND 1439),
    priority           INTEGER NOT NULL DEFAULT 0,
    valid_from_date    TEXT    CHECK (valid_from_date LIKE '____-__-__'),
    valid_to_date      TEXT    CHECK (valid_to_date LIKE '____-__-__'),
    enabled            INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_by_user_id TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    CHECK (valid_from_date IS NULL OR valid_to_date IS NULL OR valid_from_date <= valid_to_date),
    FOREIGN KEY (tenant_id, venue_id) REFERENCES venues (tenant_id, venue_id),
    FOREIGN KEY (tenant_id, playlist_id) REFERENCES playlists (tenant_id, playlist_id),
    FOREIGN KEY (tenant_id, created_by_user_id) REFERENCES users (tenant_id, user_id)
);
CREATE INDEX ix_schedule_slots_list
    ON schedule_slots (tenant_id, venue_id, created_at_utc, slot_id);
CREATE INDEX ix_schedule_slots_target ON schedule_slots (target_type, target_id);
CREATE INDEX ix_schedule_slots_playlist ON schedule_slots (playlist_id);

CREATE TABLE schedule_published (
    schedule_published_id TEXT NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    venue_id           TEXT    NOT NULL,
    published_version  BIGINT  NOT NULL CHECK (published_version >= 1),
    published_at_utc   TEXT    NOT NULL CHECK (published_at_utc LIKE '____-__-__T__:__:__.___Z'),
    published_by_user_id TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    UNIQUE (tenant_id, venue_id, published_version),
    FOREIGN KEY (tenant_id, venue_id) REFERENCES venues (tenant_id, venue_id),
    FOREIGN KEY (tenant_id, published_by_user_id) REFERENCES users (tenant_id, user_id)
);
CREATE INDEX ix_schedule_published_version ON schedule_published (venue_id, published_version);

-- A snapshot of the slots at a publish. slot_id is the draft slot it was copied from (the
-- resolver's stable-ID tie-break, §31.4); created_at_utc/updated_at_utc are copied from the
-- draft slot too, so "most recently updated wins" is decided from the snapshot alone.
CREATE TABLE schedule_published_slots (
    schedule_published_slot_id TEXT NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    venue_id           TEXT    NOT NULL,
    published_version  BIGINT  NOT NULL,
    slot_id            TEXT    NOT NULL,
    target_type        TEXT    NOT NULL CHECK (target_type IN ('DEVICE', 'GROUP')),
    target_id          TEXT    NOT NULL,
    playlist_id        TEXT    NOT NULL,
    days_of_week_mask  INTEGER NOT NULL CHECK (days_of_week_mask BETWEEN 1 AND 127),
    start_minutes      INTEGER NOT NULL CHECK (start_minutes BETWEEN 0 AND 1439),
    end_minutes        INTEGER NOT NULL CHECK (end_minutes BETWEEN 0 AND 1439),
    priority           INTEGER NOT NULL DEFAULT 0,
    valid_from_date    TEXT    CHECK (valid_from_date LIKE '____-__-__'),
    valid_to_date      TEXT    CHECK (valid_to_date LIKE '____-__-__'),
    enabled            INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    CHECK (valid_from_date IS NULL OR valid_to_date IS NULL OR valid_from_date <= valid_to_date),
    UNIQUE (venue_id, published_version, slot_id),
    FOREIGN KEY (tenant_id, venue_id, published_version)
        REFERENCES schedule_published (tenant_id, venue_id, published_version) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, playlist_id) REFERENCES playlists (tenant_id, playlist_id)
);
-- the manifest path: the live snapshot's slots for a device and for its group
CREATE INDEX ix_schedule_published_slots_target
    ON schedule_published_slots (venue_id, published_version, target_type, target_id);
CREATE INDEX ix_schedule_published_slots_playlist ON schedule_published_slots (playlist_id);

-- ---------------------------------------------------------------------------------------------
-- §26.9 Venue manifest epoch: bumped whenever anything that changes playback changes
-- ---------------------------------------------------------------------------------------------

CREATE TABLE venue_epochs (
    venue_id           TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    manifest_epoch     BIGINT  NOT NULL DEFAULT 0 CHECK (manifest_epoch >= 0),
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    FOREIGN KEY (tenant_id, venue_id) REFERENCES venues (tenant_id, venue_id)
);
CREATE INDEX ix_venue_epochs_tenant ON venue_epochs (tenant_id);

-- ---------------------------------------------------------------------------------------------
-- §26.10 Telemetry & commands (§17, §18, §27.8.2, §27.8.3)
-- ---------------------------------------------------------------------------------------------

-- The latest heartbeat of each device (§27.8.2), one row per device, overwritten. Reported ids
-- (playlist, asset) carry no foreign key: they describe what the device has, which may be gone.
CREATE TABLE device_status (
    device_id          TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    venue_id           TEXT    NOT NULL,
    last_heartbeat_at_utc TEXT CHECK (last_heartbeat_at_utc LIKE '____-__-__T__:__:__.___Z'),
    is_online          INTEGER NOT NULL DEFAULT 0 CHECK (is_online IN (0, 1)),
    device_time_utc    TEXT    CHECK (device_time_utc LIKE '____-__-__T__:__:__.___Z'),
    app_version        TEXT,
    state              TEXT    CHECK (state IN ('PLAYING', 'ERROR_SCREEN', 'PAIRING', 'BOOTING')),
    manifest_etag      TEXT,
    playback_playlist_id TEXT,
    playback_published_version BIGINT,
    playback_current_asset_id TEXT,
    playback_current_item_index INTEGER CHECK (playback_current_item_index >= 0),
    playback_loop_count BIGINT CHECK (playback_loop_count >= 0),
    cache_total_bytes  BIGINT  CHECK (cache_total_bytes >= 0),
    cache_used_bytes   BIGINT  CHECK (cache_used_bytes >= 0),
    cache_asset_count  INTEGER CHECK (cache_asset_count >= 0),
    cache_pending_downloads INTEGER CHECK (cache_pending_downloads >= 0),
    network_connected  INTEGER CHECK (network_connected IN (0, 1)),
    network_type       TEXT    CHECK (network_type IN ('ETHERNET', 'WIFI', 'NONE')),
    network_last_sync_at_utc TEXT
                               CHECK (network_last_sync_at_utc LIKE '____-__-__T__:__:__.___Z'),
    errors_playback_failures INTEGER CHECK (errors_playback_failures >= 0),
    errors_download_failures INTEGER CHECK (errors_download_failures >= 0),
    errors_manifest_fetch_failures INTEGER CHECK (errors_manifest_fetch_failures >= 0),
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    FOREIGN KEY (tenant_id, venue_id) REFERENCES venues (tenant_id, venue_id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, device_id) ON DELETE CASCADE
);
CREATE INDEX ix_device_status_venue ON device_status (tenant_id, venue_id, is_online);
-- the offline sweeper: online devices whose last heartbeat is too old
CREATE INDEX ix_device_status_heartbeat ON device_status (is_online, last_heartbeat_at_utc);

-- §27.8.3 events. event_time_utc is the device's clock; created_at_utc is when the server
-- received it, which is authoritative when the device clock is wrong (§30.9).
CREATE TABLE device_events (
    device_event_id    TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    venue_id           TEXT    NOT NULL,
    device_id          TEXT    NOT NULL,
    event_type         TEXT    NOT NULL CHECK (event_type IN (
                                   'APP_STARTED', 'PLAYBACK_FAILED', 'DOWNLOAD_FAILED',
                                   'MANIFEST_FETCH_FAILED', 'MANIFEST_STAGED', 'MANIFEST_APPLIED',
                                   'MANIFEST_REJECTED', 'OFFLINE_ENTERED', 'ONLINE_RESTORED',
                                   'FALLBACK_TO_PREVIOUS_MANIFEST', 'NO_PLAYABLE_CONTENT',
                                   'ERROR_SCREEN_ENTERED', 'LOCAL_MANIFEST_CORRUPT',
                                   'COMMAND_EXECUTED', 'COMMAND_FAILED', 'DEVICE_TOKEN_INVALID',
                                   'CACHE_EVICTION')),
    event_time_utc     TEXT    NOT NULL CHECK (event_time_utc LIKE '____-__-__T__:__:__.___Z'),
    payload_json       TEXT    NOT NULL DEFAULT '{}',
    severity           TEXT    NOT NULL CHECK (severity IN ('INFO', 'WARNING', 'ERROR')),
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    FOREIGN KEY (tenant_id, venue_id) REFERENCES venues (tenant_id, venue_id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, device_id) ON DELETE CASCADE
);
CREATE INDEX ix_device_events_device ON device_events (device_id, event_time_utc);
CREATE INDEX ix_device_events_venue ON device_events (tenant_id, venue_id, created_at_utc,
                                                      device_event_id);
-- retention: delete the oldest first
CREATE INDEX ix_device_events_created ON device_events (created_at_utc);

-- §18 / §28.7 commands: PENDING until the device fetches it (DELIVERED), then the device's
-- result (SUCCEEDED/FAILED); EXPIRED if it never was fetched in time.
CREATE TABLE device_commands (
    command_id         TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    venue_id           TEXT    NOT NULL,
    device_id          TEXT    NOT NULL,
    type               TEXT    NOT NULL CHECK (type IN (
                                   'REQUEST_MANIFEST_REFRESH', 'RESTART_PLAYBACK_LOOP',
                                   'CLEAR_CACHE_UNUSED', 'CLEAR_CACHE_ALL', 'REBOOT_APP',
                                   'SET_LOG_LEVEL')),
    parameters_json    TEXT    NOT NULL DEFAULT '{}',
    status             TEXT    NOT NULL DEFAULT 'PENDING'
                               CHECK (status IN ('PENDING', 'DELIVERED', 'SUCCEEDED', 'FAILED',
                                                 'EXPIRED')),
    issued_by_user_id  TEXT,
    result_json        TEXT,
    error_code         TEXT,
    error_message      TEXT,
    expires_at_utc     TEXT    CHECK (expires_at_utc LIKE '____-__-__T__:__:__.___Z'),
    delivered_at_utc   TEXT    CHECK (delivered_at_utc LIKE '____-__-__T__:__:__.___Z'),
    completed_at_utc   TEXT    CHECK (completed_at_utc LIKE '____-__-__T__:__:__.___Z'),
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    FOREIGN KEY (tenant_id, venue_id) REFERENCES venues (tenant_id, venue_id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, device_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, issued_by_user_id) REFERENCES users (tenant_id, user_id)
);
-- the player's poll: its commands by status, oldest first
CREATE INDEX ix_device_commands_device ON device_commands (device_id, status, created_at_utc);
CREATE INDEX ix_device_commands_venue ON device_commands (tenant_id, venue_id, created_at_utc,
                                                          command_id);

-- ---------------------------------------------------------------------------------------------
-- §26.11 Publishing history
-- ---------------------------------------------------------------------------------------------

-- One row per publish or rollback. entity_id is the playlist_id or the venue_schedule_set_id;
-- venue_id is NULL for a tenant-scoped playlist. previous_version is what was live before,
-- published_version what is live after, source_version the snapshot a rollback copied.
CREATE TABLE publish_events (
    publish_event_id   TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    venue_id           TEXT,
    type               TEXT    NOT NULL CHECK (type IN ('PLAYLIST_PUBLISH', 'PLAYLIST_ROLLBACK',
                                                        'SCHEDULE_PUBLISH', 'SCHEDULE_ROLLBACK')),
    entity_id          TEXT    NOT NULL,
    previous_version   BIGINT  CHECK (previous_version >= 0),
    published_version  BIGINT  NOT NULL CHECK (published_version >= 1),
    source_version     BIGINT  CHECK (source_version >= 1),
    published_by_user_id TEXT,
    published_at_utc   TEXT    NOT NULL CHECK (published_at_utc LIKE '____-__-__T__:__:__.___Z'),
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    CHECK (type NOT IN ('PLAYLIST_ROLLBACK', 'SCHEDULE_ROLLBACK') OR source_version IS NOT NULL),
    FOREIGN KEY (tenant_id, venue_id) REFERENCES venues (tenant_id, venue_id),
    FOREIGN KEY (tenant_id, published_by_user_id) REFERENCES users (tenant_id, user_id)
);
CREATE INDEX ix_publish_events_venue ON publish_events (tenant_id, venue_id, published_at_utc,
                                                        publish_event_id);
CREATE INDEX ix_publish_events_entity ON publish_events (tenant_id, entity_id, published_at_utc);

-- ---------------------------------------------------------------------------------------------
-- §26.12 Presence
-- ---------------------------------------------------------------------------------------------

CREATE TABLE editor_presence (
    presence_id        TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    resource_type      TEXT    NOT NULL CHECK (resource_type IN ('PLAYLIST', 'SCHEDULE_SET')),
    resource_id        TEXT    NOT NULL,
    user_id            TEXT    NOT NULL,
    expires_at_utc     TEXT    NOT NULL CHECK (expires_at_utc LIKE '____-__-__T__:__:__.___Z'),
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    -- one row per editor and resource, refreshed in place (INSERT … ON CONFLICT DO UPDATE)
    UNIQUE (tenant_id, resource_type, resource_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX ix_editor_presence_expiry ON editor_presence (expires_at_utc);

-- ---------------------------------------------------------------------------------------------
-- §25.9 Audit log: tenant-scoped, append-only. Actors and resources carry no foreign keys, so
-- that the record outlives what it talks about.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE audit_log (
    audit_log_id       TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    actor_type         TEXT    NOT NULL CHECK (actor_type IN ('USER', 'DEVICE', 'SYSTEM',
                                                              'ANONYMOUS')),
    actor_id           TEXT,
    -- dotted verb, e.g. auth.login, user.role_changed, device.paired, command.issued,
    -- playlist.published
    action             TEXT    NOT NULL CHECK (length(action) > 0),
    outcome            TEXT    NOT NULL DEFAULT 'SUCCESS'
                               CHECK (outcome IN ('SUCCESS', 'FAILURE', 'DENIED')),
    resource_type      TEXT,
    resource_id        TEXT,
    venue_id           TEXT,
    request_id         TEXT,
    ip                 TEXT,
    details_json       TEXT,
    created_at_utc     TEXT    NOT NULL CHECK (created_at_utc LIKE '____-__-__T__:__:__.___Z')
);
CREATE INDEX ix_audit_log_list ON audit_log (tenant_id, created_at_utc, audit_log_id);
CREATE INDEX ix_audit_log_resource ON audit_log (tenant_id, resource_type, resource_id,
                                                 created_at_utc);
