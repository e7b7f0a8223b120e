// SPDX-License-Identifier: MIT
//
// wait.mjs — polling until something holds, failing with a message that says what was awaited,
// for how long, and what things looked like instead.

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Calls @fn (sync or async) every @intervalMs until it returns something truthy, and resolves
 * that value. A throw from @fn counts as "not yet" (the last one is quoted if time runs out).
 *   timeoutMs  give up after this long (default 30000): rejects "timed out after … waiting for
 *              <what>", with the last error and, if given, what describe() says
 *   what       what is awaited, for the message
 *   failIf     checked before each try: a truthy answer (a string says why) fails at once
 *              (e.g. "the player exited")
 *   describe   () => string|Promise<string>: the state to print on failure
 */
export async function waitFor(fn, { timeoutMs = 30000, intervalMs = 100, what = 'a condition', failIf, describe } = {}) {
    const t0 = Date.now();
    let lastError = null;
    let tries = 0;
    for (;;) {
        if (failIf) {
            const why = await failIf();
            if (why) throw new Error(`gave up waiting for ${what}: ${why === true ? 'failIf' : why}${await state()}`);
        }
        tries += 1;
        try {
            const v = await fn();
            if (v) return v;
            lastError = null;
        } catch (e) {
            lastError = e;
        }
        if (Date.now() - t0 >= timeoutMs) {
            const last = lastError ? `\nlast error: ${lastError.stack || lastError.message || lastError}` : '';
            throw new Error(`timed out after ${timeoutMs} ms (${tries} tries) waiting for ${what}${last}${await state()}`);
        }
        await sleep(Math.min(intervalMs, Math.max(1, timeoutMs - (Date.now() - t0))));
    }

    async function state() {
        if (!describe) return '';
        try {
            return `\n${await describe()}`;
        } catch (e) {
            return `\n(describe failed: ${e.message})`;
        }
    }
}
