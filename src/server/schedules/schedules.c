/* SPDX-License-Identifier: MIT */
/* schedules.c — placeholder: the schedule module is being written (issue 5). */
#include "schedules/schedules.h"

int schedules_register(struct app *app)
{
    return 0;
}
