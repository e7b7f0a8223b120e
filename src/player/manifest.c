/* SPDX-License-Identifier: MIT */
/* manifest.c — placeholder: being written (issue 8). */
#include "player/manifest.h"
