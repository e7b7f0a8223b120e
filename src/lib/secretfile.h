/* SPDX-License-Identifier: MIT */
/*
 * secretfile.h — a small file of secrets under the data directory (the token keys, the media
 * signing key): read it, or create it once when it does not exist.
 */
#pragma once

#include <stddef.h>

/**
 * Reads @path into @buf (at most @cap - 1 bytes, NUL-terminated; its length in *@ret_len).
 * When the file does not exist it is first created with @initial: mode 0600, written to a
 * temporary name, fsynced and linked into place, so that two processes starting at once keep
 * the first one's secret (the other reads it). Never follows a symbolic link. -EPERM when
 * group or others may read the file, -EFBIG when it is larger than @cap - 1, else -errno.
 * The caller zeroes @buf after use (and @initial).
 */
int secret_file_read(const char *path, const char *initial, char *buf, size_t cap, size_t *ret_len);
