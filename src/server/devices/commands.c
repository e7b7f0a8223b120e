/* SPDX-License-Identifier: MIT */
/* commands.c — placeholder: being written (issue 7). */
#include "devices/devices.h"

int commands_register(struct app *app)
{
    (void)app;
    return 0;
}
