/* SPDX-License-Identifier: MIT */
/* devices.c — placeholder: being written (issue 7). */
#include "devices/devices.h"

int devices_register(struct app *app)
{
    (void)app;
    return 0;
}
