/* SPDX-License-Identifier: MIT */
/* fsm.h — placeholder: being written (issue 8). */
#pragma once
