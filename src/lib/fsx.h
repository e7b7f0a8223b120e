/* SPDX-License-Identifier: MIT */
/*
 * fsx.h — file-system changes that survive a power cut: the few system calls marquee makes
 * durable, each followed by the fsync() that makes it so.
 *
 * A rename() or unlink() changes a directory, and a directory entry reaches the disk only when
 * the directory itself is fsynced: fsyncing the file is not enough. So "write to a temporary
 * name, fsync, rename" is durable only with an fsync of the directory after the rename. The
 * helpers here do that last step; writing and fsyncing the file's data stays the caller's.
 *
 * All return 0 or -errno and never follow a symbolic link of their own accord (the final
 * component of a path handed to fsx_fsync_file() is opened with O_NOFOLLOW). Thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/** fsync()s the directory @path, so that the names created, renamed or removed in it so far
 *  are on disk. -ENOTDIR when it is not a directory. */
int fsx_fsync_dir(const char *path);

/** fsync()s the regular file @path (its data and size), whoever wrote it. -ELOOP on a symbolic
 *  link. */
int fsx_fsync_file(const char *path);

/** fsync()s the directory that holds @path ("." for a bare name). */
int fsx_fsync_parent(const char *path);

/**
 * rename(@from, @to), then fsync()s the directory of @to and, when it is another one, that of
 * @from. Nothing has changed when rename() fails; when an fsync fails (-EIO) the rename has
 * happened but may not survive a power cut.
 */
int fsx_rename(const char *from, const char *to);

/**
 * Replaces @path with @len bytes of @data atomically: a reader (or a power cut, when @durable)
 * sees the old file or the new one, never a part. Written to "<path>.tmp" with @mode (never
 * through a symbolic link), then — when @durable — fsync()ed and fsx_rename()d; else simply
 * renamed (a view rebuilt soon after, such as a status file). The temp file is removed on
 * failure. 0 or -errno.
 */
int fsx_write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool durable);

/** unlink(@path), then fsync()s its directory. -ENOENT (and nothing synced) when there was
 *  nothing to remove; on an fsync failure the name is gone but may come back after a power cut. */
int fsx_unlink(const char *path);

/** Creates the directory @path with @mode unless it already is one, then fsync()s its parent
 *  (in both cases: a name a killed process created may still be only in the page cache).
 *  -ENOTDIR when something else has the name. Does not create parents. */
int fsx_mkdir(const char *path, mode_t mode);
