/* SPDX-License-Identifier: MIT */
/* fsm.c — placeholder: being written (issue 8). */
#include "player/fsm.h"
