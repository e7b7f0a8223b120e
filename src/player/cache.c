/* SPDX-License-Identifier: MIT */
/* cache.c — placeholder: being written (issue 8). */
#include "player/cache.h"
