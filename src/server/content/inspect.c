/* SPDX-License-Identifier: MIT */
/* inspect.c — placeholder until the FFmpeg inspector lands (see inspect.h): every file fails
 * INTERNAL_ERROR, so nothing unchecked can ever become READY. */
#include "content/inspect.h"

#include <stdio.h>

int media_inspect_main(int argc, char **argv)
{
    puts("{\"ok\":false,\"reason\":\"INTERNAL_ERROR\",\"detail\":\"Media checks are not built yet.\"}");
    return 0;
}
