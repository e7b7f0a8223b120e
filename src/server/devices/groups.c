/* SPDX-License-Identifier: MIT */
/* groups.c — placeholder: being written (issue 7). */
#include "devices/devices.h"

int groups_register(struct app *app)
{
    (void)app;
    return 0;
}
