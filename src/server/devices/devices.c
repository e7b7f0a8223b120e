/* SPDX-License-Identifier: MIT */
/* devices.c — placeholder routes: being written (issue 7); device_json() is real. */
#include "devices/devices.h"

#include "devices/devices-internal.h"

static json_t *text_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *device_json(const struct store_result *res, size_t i)
{
#define T(col) text_or_null(store_result_text(res, i, (col)))
    int64_t flag[4] = {0}, budget = 0;
    for (size_t f = 0; f < 4; f++)
        store_result_int(res, i, DC_LAUNCH_ON_BOOT + f, &flag[f]);
    store_result_int(res, i, DC_CACHE_BUDGET, &budget);
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:b,s:b,s:b,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o}",
                     "deviceId", T(DC_ID), "venueId", T(DC_VENUE), "name", T(DC_NAME), "groupId",
                     T(DC_GROUP), "timezone", T(DC_TIMEZONE), "runMode", T(DC_RUN_MODE),
                     "launchOnBoot", flag[0] != 0, "autoRelaunch", flag[1] != 0, "keepAwake",
                     flag[2] != 0, "watchdogReturnToForeground", flag[3] != 0, "orientation",
                     T(DC_ORIENTATION), "cacheBudgetBytes", (json_int_t)budget, "status",
                     T(DC_STATUS), "deviceHardwareId", T(DC_HARDWARE_ID), "appVersion",
                     T(DC_APP_VERSION), "lastSeenAtUtc", T(DC_LAST_SEEN), "createdAtUtc",
                     T(DC_CREATED), "updatedAtUtc", T(DC_UPDATED));
#undef T
}

int devices_register(struct app *app)
{
    (void)app;
    return 0;
}
