/* SPDX-License-Identifier: MIT */
/* manifest.h — placeholder: being written (issue 8). */
#pragma once
