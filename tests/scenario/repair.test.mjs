// SPDX-License-Identifier: MIT
//
// repair.test.mjs — a device token refused with 401 sends the player back to pairing (§28.10
// "On repeated 401 responses: clear device token, enter pairing mode, display pairing screen";
// §25.10 "Devices receiving 401 should retry once then require re-pairing"; docs/marquee-player.md
// "Pairing": two 401s in a row clear the token and send DEVICE_TOKEN_INVALID once a new token
// exists; the player then pairs again).
//
// A real marquee-player (headless) is paired and plays; then the device is removed through the
// API (DELETE /v1/venues/{venueId}/devices/{deviceId}: its token is refused with 401
// INVALID_TOKEN from the next request, docs/devices.md). The player must:
//   - clear DIR/device-token;
//   - show the pairing screen again: a new timeline `pairing` event with a new code, and
//     `status` UNREGISTERED with that pairingCode (and no deviceId);
//   - stop showing content (the pairing screen replaces it: §28.10 displays the pairing screen,
//     and src/player/fsm.c "a device whose token is refused stops showing content"): the item on
//     screen ends, and nothing starts while the code waits to be claimed;
//   - once the new code is claimed, store the new token, play again, and send the server a
//     DEVICE_TOKEN_INVALID event (payload.httpStatus 401) as the new device.
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import { BACKEND } from '../api/lib/server.mjs';
import { pairPlayer, startPlayer } from './lib/player.mjs';
import { startWorld } from './lib/world.mjs';

/** The plays of a timeline: each `start` with the `end` that follows it, in file order. */
function playsOf(timeline) {
    const plays = [];
    let open = null;
    timeline.forEach((ev, line) => {
        if (ev.event === 'start') {
            open = { start: ev, end: null, line, endLine: null };
            plays.push(open);
        } else if (ev.event === 'end' && open) {
            open.end = ev;
            open.endLine = line;
            open = null;
        }
    });
    return plays;
}

const exists = async (p) => (await stat(p).catch(() => null)) !== null;

describe(`re-pairing after a 401: marquee-player headless (${BACKEND})`, () => {
    let world;
    let player;

    before(async () => {
        world = await startWorld({
            media: {
                red: { type: 'image', color: 'red' },
                green: { type: 'image', color: 'green' },
            },
            items: [{ media: 'red', durationSeconds: 2 }, { media: 'green', durationSeconds: 2 }],
        });
    });
    after(async () => {
        if (player && !player.exitInfo) await player.kill9().catch(() => {});
        await world?.stop();
    });

    it('a removed device: the token is cleared, the pairing screen shows a new code, and the new claim plays again with DEVICE_TOKEN_INVALID sent', async () => {
        player = await startPlayer({
            server: world,
            config: { heartbeat_min_s: 5, poll_min_s: 1, poll_max_s: 2, command_poll_s: 2 },
        });
        const first = await pairPlayer(player, world.admin, world.venueId, { name: 'Repair screen 1' });
        await player.waitFor(async () => playsOf(await player.timeline()).some((p) => p.end?.outcome === 'ended'),
            { timeoutMs: 60000, what: 'content playing' });

        // remove the device: its token is refused from the next request
        const del = await world.admin.call('DELETE', `/v1/venues/${world.venueId}/devices/${first.deviceId}`, world.admin.token);
        assert.equal(del.res.status, 204, del.text);
        const before = (await player.timeline()).length;

        // the token goes, the pairing screen shows a code it never showed before
        const pairing = await player.waitFor(async () => {
            const tl = await player.timeline();
            const k = tl.findIndex((e, i) => i >= before && e.event === 'pairing' && e.code && e.code !== first.code);
            return k >= 0 ? { line: k, code: tl[k].code } : null;
        }, { timeoutMs: 60000, intervalMs: 100, what: 'a new pairing event after the 401s' });
        assert.match(pairing.code, /^[ACDEFHJKLMNPQRTUVWXY3479]{4}-[ACDEFHJKLMNPQRTUVWXY3479]{4}$/);
        assert.equal(await exists(player.tokenPath), false, 'DIR/device-token cleared');
        const st = await player.waitFor(async () => {
            const s = await player.status();
            return s.state === 'UNREGISTERED' && s.pairingCode === pairing.code ? s : null;
        }, { timeoutMs: 30000, intervalMs: 200, what: `status UNREGISTERED with pairingCode ${pairing.code}` });
        assert.equal(st.deviceId, null, 'no device while pairing');
        assert.equal(st.running, true);

        // content stops: whatever played had ended (or was cut) before the pairing screen showed,
        // and nothing starts while the code waits. Waited out: one status poll of the new pairing
        // (pollIntervalSeconds, 5 s: two items' time), seen by marqueed.
        const isStatusPoll = (l) => l.event === 'request' && l.route === '/v1/devices/pairing/status';
        const polls = world.srv.logs().filter(isStatusPoll).length;
        await player.waitFor(() => world.srv.logs().filter(isStatusPoll).length > polls,
            { timeoutMs: 60000, what: 'a pairing status poll for the new code' });
        const waiting = await player.timeline();
        const plays = playsOf(waiting);
        const last = plays.filter((p) => p.line < pairing.line).at(-1);
        assert.ok(last, 'something played before');
        assert.ok(last.end && last.endLine < pairing.line,
            `the item on screen ended before the pairing screen showed: ${JSON.stringify(last)}`);
        assert.ok(['ended', 'interrupted'].includes(last.end.outcome), JSON.stringify(last.end));
        assert.deepEqual(waiting.slice(pairing.line).filter((e) => e.event === 'start'), [],
            'no content starts while the pairing screen waits');
        assert.equal((await player.status()).state, 'UNREGISTERED');
        assert.equal(await exists(player.tokenPath), false, 'still no token');

        // the new code, claimed: a new device, the player plays again
        const claimMark = (await player.timeline()).length;
        const second = await pairPlayer(player, world.admin, world.venueId, { name: 'Repair screen 2' });
        assert.equal(second.code, pairing.code, 'the code claimed is the one the screen showed');
        assert.notEqual(second.deviceId, first.deviceId);
        await player.waitFor(async () => playsOf(await player.timeline())
            .some((p) => p.line >= claimMark && p.end?.outcome === 'ended'),
        { timeoutMs: 60000, what: 'content playing again after the new claim' });
        const st2 = await player.status();
        assert.equal(st2.state, 'PLAYING');
        assert.equal(st2.deviceId, second.deviceId);
        assert.equal(st2.pairingCode, null);

        // DEVICE_TOKEN_INVALID, sent with the new token, is the new device's
        const events = await player.waitFor(async () => {
            const r = world.admin.ok(await world.admin.call('GET',
                `/v1/venues/${world.venueId}/devices/${second.deviceId}/events?type=DEVICE_TOKEN_INVALID&limit=200`,
                world.admin.token));
            return r.items.length ? r.items : null;
        }, { timeoutMs: 60000, intervalMs: 500, what: 'DEVICE_TOKEN_INVALID on the new device' });
        assert.equal(events.length, 1, JSON.stringify(events));
        assert.equal(events[0].payload.httpStatus, 401, JSON.stringify(events[0]));
        // and the server knows the new device as online, playing
        const status = await player.waitFor(async () => {
            const r = world.admin.ok(await world.admin.call('GET',
                `/v1/venues/${world.venueId}/devices/${second.deviceId}/status`, world.admin.token));
            return r.online && r.state === 'PLAYING' ? r : null;
        }, { timeoutMs: 60000, intervalMs: 500, what: 'a heartbeat of the new device' });
        assert.equal(status.deviceId, second.deviceId);

        await player.stop();
    });
});
