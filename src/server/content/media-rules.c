/* SPDX-License-Identifier: MIT */
/* media-rules.c — placeholder. */
#include "content/media-rules.h"
