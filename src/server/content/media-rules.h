/* SPDX-License-Identifier: MIT */
/* media-rules.h — placeholder. */
#pragma once
