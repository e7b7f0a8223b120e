/* SPDX-License-Identifier: MIT */
/* cache.h — placeholder: being written (issue 8). */
#pragma once
