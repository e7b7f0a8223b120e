/* SPDX-License-Identifier: MIT */
/* The headers cmocka needs before its own, in the order it needs them. */
#pragma once
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
