/* SPDX-License-Identifier: MIT */
/*
 * merge.h — the three-way merge of a playlist draft (issue 5; sync-module.md rule 4:
 * conflicts resolved deterministically). Pure: no I/O, no clock, no allocation it does not
 * hand back.
 *
 * A draft is a name and an ordered list of items. Items are identified by their id; an item
 * the client adds gets a fresh id from the server before the merge, so "added" simply means
 * "not in base". Given the draft the client started from (base), the draft as it is now
 * (theirs: what other editors committed since) and the draft the client wants (mine), the
 * merge yields one draft or a list of conflicts, never both:
 *
 *   - a field (name; an item's assetId, durationSeconds, enabled) changed on one side only
 *     takes that side's value; changed identically on both sides is no conflict; changed
 *     differently on both sides is a conflict (BOTH_CHANGED);
 *   - an item deleted on one side and unchanged on the other is deleted; deleted on one side
 *     and changed on the other is a conflict (DELETED_AND_CHANGED, field "item"); deleted on
 *     both is deleted. "Changed" means a field differs from base: moving an item is not
 *     changing it;
 *   - items added on either side are all kept; an id both sides added (not in base) is one
 *     item, whose fields must be equal on both sides (else BOTH_CHANGED), placed as theirs
 *     placed it;
 *   - order: the relative order of the items that survive from base is taken from the side
 *     that changed it (if both changed it differently: a conflict on field "order", item id
 *     empty); each added item is placed right after the nearest item before it on its own side
 *     that is in the result (or first), and items placed at the same spot keep their own
 *     side's order, theirs before mine (an added item comes with the items anchored on it:
 *     base [A B], theirs [A X1 X2 B], mine [A Y B] give [A X1 X2 Y B]).
 * A NULL name compares like ""; the draft's name is the pointer of the side it was taken from
 * (theirs when the two agree). An id is 1 to 36 characters, NUL-terminated (else -EINVAL).
 * The result is a function of the three inputs only (deterministic): the same inputs give the
 * same draft or the same conflicts, in the same order: the playlist's own ("name", then
 * "order"), then by the item's position in theirs, then in mine for the items theirs no
 * longer holds; within an item by field name (assetId, durationSeconds, enabled, item).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MERGE_ID_LEN 37 /* a UUID and its NUL */

struct merge_item {
    char id[MERGE_ID_LEN];
    char asset_id[MERGE_ID_LEN];
    int32_t duration_seconds;
    bool enabled;
};

struct merge_doc {
    const char *name;
    const struct merge_item *items;
    size_t n_items;
};

enum merge_conflict_kind {
    MERGE_BOTH_CHANGED = 1,     /* the same field, different values on the two sides */
    MERGE_DELETED_AND_CHANGED,  /* deleted on one side, changed on the other */
};

struct merge_conflict {
    char item_id[MERGE_ID_LEN];         /* "" for the playlist itself (name, order) */
    const char *field;                  /* "name", "order", "assetId", "durationSeconds",
                                           "enabled", or "item" (for a deletion) */
    enum merge_conflict_kind kind;
    bool deleted_in_mine;               /* DELETED_AND_CHANGED: which side deleted */
};

struct merge_result {
    /* the merged draft (when n_conflicts == 0); name points into one of the inputs */
    const char *name;
    struct merge_item *items;
    size_t n_items;
    /* else the conflicts, and no draft */
    struct merge_conflict *conflicts;
    size_t n_conflicts;
};

/**
 * Merges @mine into @theirs relative to @base. Items are compared by id; ids are unique within
 * each list (a list with a duplicate id is refused: -EINVAL). Returns 0 with @ret filled
 * (release it with merge_result_release), or -ENOMEM / -EINVAL.
 */
int playlist_merge(const struct merge_doc *base, const struct merge_doc *theirs,
                   const struct merge_doc *mine, struct merge_result *ret);

void merge_result_release(struct merge_result *r);

/** The conflict kind as the API spells it ("BOTH_CHANGED", "DELETED_AND_CHANGED"). */
const char *merge_conflict_kind_name(enum merge_conflict_kind k);
