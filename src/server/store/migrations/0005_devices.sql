-- SPDX-License-Identifier: MIT
-- 0005: devices (issue 7; spec §8, §17, §18, §26.4, §26.5, §26.10, §27.6–§27.8, §29.4.10;
-- device-content-sync-story.md): what pairing, device settings, remote commands, telemetry and
-- alerts need beyond the tables of 0001.

-- §11.1: the bytes a player may keep in its media cache (default 2 GB), sent in the manifest.
ALTER TABLE devices ADD COLUMN cache_budget_bytes BIGINT NOT NULL DEFAULT 2000000000
    CHECK (cache_budget_bytes > 0);

-- What the player said when it asked to pair, and what the claim chose for the new device.
ALTER TABLE device_pairings ADD COLUMN app_version TEXT;
ALTER TABLE device_pairings ADD COLUMN device_model TEXT;
ALTER TABLE device_pairings ADD COLUMN claimed_name TEXT;
ALTER TABLE device_pairings ADD COLUMN claimed_group_id TEXT;

-- A device's events carry the id the device gave them, so a batch sent again (its answer was
-- lost) adds nothing.
ALTER TABLE device_events ADD COLUMN client_event_id TEXT;
CREATE UNIQUE INDEX ux_device_events_client ON device_events (device_id, client_event_id);

-- The heartbeat's sync status (Synced, Syncing, Pending, Failed, Stale), the device clock's
-- distance from the server's when it was sent (server time is authoritative, §30.9), the
-- interval it promises, the files it holds (JSON array of {assetId, checksumSha256, bytes,
-- state}), and when online/offline last changed.
ALTER TABLE device_status ADD COLUMN sync_status TEXT
    CHECK (sync_status IN ('SYNCED', 'SYNCING', 'PENDING', 'FAILED', 'STALE'));
ALTER TABLE device_status ADD COLUMN clock_skew_ms BIGINT;
ALTER TABLE device_status ADD COLUMN heartbeat_interval_s INTEGER
    CHECK (heartbeat_interval_s > 0);
ALTER TABLE device_status ADD COLUMN inventory_json TEXT;
ALTER TABLE device_status ADD COLUMN online_changed_at_utc TEXT
    CHECK (online_changed_at_utc LIKE '____-__-__T__:__:__.___Z');

-- Commands of a device are delivered in the order they were issued: seq counts per device.
ALTER TABLE device_commands ADD COLUMN seq BIGINT;
CREATE UNIQUE INDEX ux_device_commands_seq ON device_commands (device_id, seq);

-- §29.4.10 alerts: opened and resolved by the server from what devices report. At most one
-- open alert of a kind per device.
CREATE TABLE device_alerts (
    alert_id           TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (tenant_id),
    venue_id           TEXT    NOT NULL,
    device_id          TEXT    NOT NULL,
    kind               TEXT    NOT NULL CHECK (kind IN ('DEVICE_OFFLINE', 'DOWNLOAD_FAILURES',
                                   'CACHE_NEARLY_FULL', 'ERRORS_RISING', 'SYNC_STALE')),
    severity           TEXT    NOT NULL CHECK (severity IN ('INFO', 'WARNING', 'ERROR')),
    status             TEXT    NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'RESOLVED')),
    details_json       TEXT    NOT NULL DEFAULT '{}',
    opened_at_utc      TEXT    NOT NULL CHECK (opened_at_utc LIKE '____-__-__T__:__:__.___Z'),
    resolved_at_utc    TEXT    CHECK (resolved_at_utc LIKE '____-__-__T__:__:__.___Z'),
    updated_at_utc     TEXT    NOT NULL CHECK (updated_at_utc LIKE '____-__-__T__:__:__.___Z'),
    CHECK ((status = 'OPEN') = (resolved_at_utc IS NULL)),
    FOREIGN KEY (tenant_id, venue_id) REFERENCES venues (tenant_id, venue_id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, device_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX ux_device_alerts_open ON device_alerts (device_id, kind)
    WHERE status = 'OPEN';
CREATE INDEX ix_device_alerts_venue ON device_alerts (tenant_id, venue_id, status, opened_at_utc,
                                                     alert_id);
CREATE INDEX ix_device_alerts_tenant ON device_alerts (tenant_id, status, opened_at_utc, alert_id);

-- The alert rules count a device's events by when they arrived; the command expiry sweeps the
-- live commands past their time.
CREATE INDEX ix_device_events_received ON device_events (device_id, created_at_utc);
CREATE INDEX ix_device_commands_expiry ON device_commands (expires_at_utc)
    WHERE status IN ('PENDING', 'DELIVERED');
