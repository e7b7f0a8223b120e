/* SPDX-License-Identifier: MIT */
/* pairing.c — placeholder: being written (issue 7). */
#include "devices/devices.h"

int pairing_register(struct app *app)
{
    (void)app;
    return 0;
}
