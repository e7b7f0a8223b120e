/* SPDX-License-Identifier: MIT */
/*
 * test-merge.c — the three-way merge of a playlist draft (merge.h): identical inputs; each kind
 * of change on one side only (fields, name, order, adds, deletes), then on both; delete against
 * edit and against nothing; where added items land (same anchor, other anchors, start, end,
 * after an item the other side deleted, with a reorder); order conflicts; all conflicts at once
 * in their promised order; determinism; refused input; empty lists; a large draft; and
 * properties over random drafts (disjoint edits merge to both edit sets applied; a side that
 * did nothing yields the other side exactly; swapping the sides mirrors the conflicts).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../../../unit/cmocka-prelude.h"
#include "playlists/merge.h"

#define MAXI 64

/* A draft the tests can edit in place. */
struct tdoc {
    const char *name;
    struct merge_item it[MAXI];
    size_t n;
};

static void item_init(struct merge_item *x, const char *id)
{
    memset(x, 0, sizeof(*x));
    snprintf(x->id, sizeof(x->id), "%s", id);
    snprintf(x->asset_id, sizeof(x->asset_id), "asset-%.30s", id);
    x->duration_seconds = 10;
    x->enabled = true;
}

/* @ids: space-separated ids, each item with its default fields. */
static void tdoc_set(struct tdoc *d, const char *name, const char *ids)
{
    memset(d, 0, sizeof(*d));
    d->name = name;
    while (*ids) {
        size_t len = strcspn(ids, " ");
        if (len > 0) {
            char id[MERGE_ID_LEN];
            assert_true(len < sizeof(id) && d->n < MAXI);
            memcpy(id, ids, len);
            id[len] = '\0';
            item_init(&d->it[d->n++], id);
        }
        ids += len;
        ids += strspn(ids, " ");
    }
}

static struct merge_item *tdoc_get(struct tdoc *d, const char *id)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->it[i].id, id) == 0)
            return &d->it[i];
    fail_msg("no item %s", id);
    return NULL;
}

static struct merge_doc view(const struct tdoc *d)
{
    return (struct merge_doc){.name = d->name, .items = d->n ? d->it : NULL, .n_items = d->n};
}

static int merge3(const struct tdoc *b, const struct tdoc *t, const struct tdoc *m,
                  struct merge_result *r)
{
    struct merge_doc vb = view(b), vt = view(t), vm = view(m);
    return playlist_merge(&vb, &vt, &vm, r);
}

static bool item_equal(const struct merge_item *a, const struct merge_item *b)
{
    return strcmp(a->id, b->id) == 0 && memcmp(a->asset_id, b->asset_id, MERGE_ID_LEN) == 0 &&
           a->duration_seconds == b->duration_seconds && a->enabled == b->enabled;
}

static bool name_equal(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static void order_string(const struct merge_result *r, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->n_items && len < size; i++)
        len += snprintf(buf + len, size - len, "%s%s", i ? " " : "", r->items[i].id);
}

static void conflict_string(const struct merge_result *r, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->n_conflicts && len < size; i++) {
        const struct merge_conflict *c = &r->conflicts[i];
        const char *who = "";
        if (c->kind == MERGE_DELETED_AND_CHANGED)
            who = c->deleted_in_mine ? "(mine)" : "(theirs)";
        len += snprintf(buf + len, size - len, "%s%s/%s/%s%s", i ? " " : "",
                        c->item_id[0] ? c->item_id : "-", c->field,
                        merge_conflict_kind_name(c->kind), who);
    }
}

/* Merges and checks the draft: no conflicts, @ids in this order. */
static void expect_order(const struct tdoc *b, const struct tdoc *t, const struct tdoc *m,
                         const char *ids, struct merge_result *r)
{
    char got[2048], conflicts[2048];
    assert_int_equal(merge3(b, t, m, r), 0);
    conflict_string(r, conflicts, sizeof(conflicts));
    assert_string_equal(conflicts, "");
    assert_null(r->conflicts);
    order_string(r, got, sizeof(got));
    assert_string_equal(got, ids);
}

/* Merges and checks the draft equals @want exactly (name and items). */
static void expect_draft(const struct tdoc *b, const struct tdoc *t, const struct tdoc *m,
                         const struct tdoc *want)
{
    struct merge_result r;
    char conflicts[2048];
    assert_int_equal(merge3(b, t, m, &r), 0);
    conflict_string(&r, conflicts, sizeof(conflicts));
    assert_string_equal(conflicts, "");
    assert_true(name_equal(r.name, want->name));
    assert_int_equal(r.n_items, want->n);
    if (want->n == 0)
        assert_null(r.items);
    for (size_t i = 0; i < want->n; i++)
        if (!item_equal(&r.items[i], &want->it[i]))
            fail_msg("item %zu: got %s, want %s", i, r.items[i].id, want->it[i].id);
    merge_result_release(&r);
}

/* Merges and checks the conflicts (as conflict_string spells them), and that no draft came. */
static void expect_conflicts(const struct tdoc *b, const struct tdoc *t, const struct tdoc *m,
                             const char *want)
{
    struct merge_result r;
    char got[2048];
    assert_int_equal(merge3(b, t, m, &r), 0);
    conflict_string(&r, got, sizeof(got));
    assert_string_equal(got, want);
    assert_int_equal(r.n_items, 0);
    assert_null(r.items);
    assert_null(r.name);
    merge_result_release(&r);
}

/* ---- no change, and a change on one side only -------------------------------------------- */

static void identical(void **state)
{
    (void)state;
    struct tdoc b, t, m;
    struct merge_result r;
    tdoc_set(&b, "Lobby", "A B C");
    tdoc_set(&t, "Lobby", "A B C");
    tdoc_set(&m, "Lobby", "A B C");
    expect_draft(&b, &t, &m, &b);
    expect_draft(&b, &b, &b, &b);

    expect_order(&b, &t, &m, "A B C", &r);
    assert_ptr_equal(r.name, t.name); /* the name points into an input */
    merge_result_release(&r);
    assert_null(r.items);
    assert_int_equal(r.n_items, 0);
    merge_result_release(&r); /* twice is harmless */
    merge_result_release(NULL);
}

/*
 * Every single-side change: @edited is the side that changes (theirs or mine), @other stays
 * base. The result is the edited side exactly.
 */
static void one_side_changes(bool mine_changes)
{
    struct tdoc b, e, o;
    struct tdoc *t = mine_changes ? &o : &e, *m = mine_changes ? &e : &o;
    struct merge_result r;

    /* each field */
    for (int f = 0; f < 3; f++) {
        tdoc_set(&b, "P", "A B C");
        tdoc_set(&o, "P", "A B C");
        tdoc_set(&e, "P", "A B C");
        struct merge_item *x = tdoc_get(&e, "B");
        if (f == 0)
            snprintf(x->asset_id, sizeof(x->asset_id), "asset-new");
        else if (f == 1)
            x->duration_seconds = 99;
        else
            x->enabled = false;
        expect_draft(&b, t, m, &e);
    }
    /* all three fields of one item, and fields of several items */
    tdoc_set(&e, "P", "A B C");
    snprintf(tdoc_get(&e, "A")->asset_id, MERGE_ID_LEN, "x");
    tdoc_get(&e, "A")->duration_seconds = 1;
    tdoc_get(&e, "A")->enabled = false;
    tdoc_get(&e, "C")->duration_seconds = 3;
    expect_draft(&b, t, m, &e);

    /* the name */
    tdoc_set(&e, "Renamed", "A B C");
    expect_draft(&b, t, m, &e);
    assert_int_equal(merge3(&b, t, m, &r), 0);
    assert_ptr_equal(r.name, e.name);
    merge_result_release(&r);

    /* the order */
    tdoc_set(&e, "P", "C A B");
    expect_draft(&b, t, m, &e);
    tdoc_set(&e, "P", "C B A");
    expect_draft(&b, t, m, &e);

    /* adds: in the middle, at the start, at the end, several in a row */
    tdoc_set(&e, "P", "A X B C");
    expect_draft(&b, t, m, &e);
    tdoc_set(&e, "P", "X A B C");
    expect_draft(&b, t, m, &e);
    tdoc_set(&e, "P", "A B C X");
    expect_draft(&b, t, m, &e);
    tdoc_set(&e, "P", "X1 X2 A X3 X4 B C X5");
    expect_draft(&b, t, m, &e);

    /* deletes: one, the first and the last, all */
    tdoc_set(&e, "P", "A C");
    expect_draft(&b, t, m, &e);
    tdoc_set(&e, "P", "B");
    expect_draft(&b, t, m, &e);
    tdoc_set(&e, "P", "");
    expect_draft(&b, t, m, &e);

    /* everything at once */
    tdoc_set(&e, "Q", "X C Y A");
    tdoc_get(&e, "A")->enabled = false;
    expect_draft(&b, t, m, &e);
}

static void only_theirs_changed(void **state)
{
    (void)state;
    one_side_changes(false);
}

static void only_mine_changed(void **state)
{
    (void)state;
    one_side_changes(true);
}

/* ---- fields changed on both sides -------------------------------------------------------- */

static void both_changed_different_fields(void **state)
{
    (void)state;
    struct tdoc b, t, m, want;
    tdoc_set(&b, "P", "A B");
    tdoc_set(&t, "P", "A B");
    tdoc_set(&m, "P", "A B");
    tdoc_get(&t, "A")->duration_seconds = 30;
    tdoc_get(&m, "A")->enabled = false;
    snprintf(tdoc_get(&m, "B")->asset_id, MERGE_ID_LEN, "mine-asset");
    tdoc_get(&t, "B")->enabled = false;

    tdoc_set(&want, "P", "A B");
    tdoc_get(&want, "A")->duration_seconds = 30;
    tdoc_get(&want, "A")->enabled = false;
    snprintf(tdoc_get(&want, "B")->asset_id, MERGE_ID_LEN, "mine-asset");
    tdoc_get(&want, "B")->enabled = false;
    expect_draft(&b, &t, &m, &want);
    expect_draft(&b, &m, &t, &want);
}

static void both_changed_same_value(void **state)
{
    (void)state;
    struct tdoc b, t, m;
    struct merge_result r;
    tdoc_set(&b, "P", "A B");
    tdoc_set(&t, "New", "A B");
    tdoc_set(&m, "New", "A B");
    for (int i = 0; i < 2; i++) {
        struct tdoc *s = i ? &m : &t;
        snprintf(tdoc_get(s, "A")->asset_id, MERGE_ID_LEN, "same");
        tdoc_get(s, "A")->duration_seconds = 7;
        tdoc_get(s, "B")->enabled = false;
    }
    expect_draft(&b, &t, &m, &t);
    /* the agreed name is theirs' pointer */
    assert_int_equal(merge3(&b, &t, &m, &r), 0);
    assert_ptr_equal(r.name, t.name);
    merge_result_release(&r);
}

static void both_changed_same_field_differently(void **state)
{
    (void)state;
    static const char *const want[] = {
        "B/assetId/BOTH_CHANGED",
        "B/durationSeconds/BOTH_CHANGED",
        "B/enabled/BOTH_CHANGED",
    };
    struct tdoc b, t, m;
    for (int f = 0; f < 3; f++) {
        tdoc_set(&b, "P", "A B C");
        tdoc_set(&t, "P", "A B C");
        tdoc_set(&m, "P", "A B C");
        struct merge_item *x = tdoc_get(&t, "B"), *y = tdoc_get(&m, "B");
        if (f == 0) {
            snprintf(x->asset_id, MERGE_ID_LEN, "theirs");
            snprintf(y->asset_id, MERGE_ID_LEN, "mine");
        } else if (f == 1) {
            x->duration_seconds = 1;
            y->duration_seconds = 2;
        } else {
            /* a bool cannot differ from base on both sides and from each other: one side
             * flips it (that merges), while durationSeconds clashes and alone is reported */
            x->enabled = false;
            x->duration_seconds = 1;
            y->duration_seconds = 2;
        }
        expect_conflicts(&b, &t, &m, f == 2 ? want[1] : want[f]);
    }

    /* every field of one item at once, and the name */
    tdoc_set(&b, "P", "A B C");
    tdoc_set(&t, "T", "A B C");
    tdoc_set(&m, "M", "A B C");
    snprintf(tdoc_get(&t, "C")->asset_id, MERGE_ID_LEN, "theirs");
    snprintf(tdoc_get(&m, "C")->asset_id, MERGE_ID_LEN, "mine");
    tdoc_get(&t, "C")->duration_seconds = 1;
    tdoc_get(&m, "C")->duration_seconds = 2;
    tdoc_get(&t, "A")->enabled = false; /* one side only: merges, but nothing is returned */
    expect_conflicts(&b, &t, &m,
                     "-/name/BOTH_CHANGED C/assetId/BOTH_CHANGED "
                     "C/durationSeconds/BOTH_CHANGED");

    /* "enabled" clashes only where there is no base: an item both sides added */
    tdoc_set(&b, "P", "A");
    tdoc_set(&t, "P", "A Z");
    tdoc_set(&m, "P", "A Z");
    tdoc_get(&m, "Z")->enabled = false;
    expect_conflicts(&b, &t, &m, "Z/enabled/BOTH_CHANGED");
}

static void name_rules(void **state)
{
    (void)state;
    struct tdoc b, t, m;
    struct merge_result r;
    tdoc_set(&b, NULL, "A");
    tdoc_set(&t, NULL, "A");
    tdoc_set(&m, NULL, "A");
    expect_order(&b, &t, &m, "A", &r);
    assert_null(r.name);
    merge_result_release(&r);

    /* NULL is "": theirs set "" — no change, mine's NULL is kept as theirs' pointer */
    t.name = "";
    expect_order(&b, &t, &m, "A", &r);
    assert_ptr_equal(r.name, t.name);
    merge_result_release(&r);

    t.name = "T";
    expect_order(&b, &t, &m, "A", &r);
    assert_ptr_equal(r.name, t.name);
    merge_result_release(&r);

    t.name = "";
    m.name = "M";
    expect_order(&b, &t, &m, "A", &r);
    assert_ptr_equal(r.name, m.name);
    merge_result_release(&r);

    b.name = "B";
    t.name = NULL; /* both renamed: theirs to nothing, mine to "M" */
    expect_conflicts(&b, &t, &m, "-/name/BOTH_CHANGED");
}

/* ---- deletes ----------------------------------------------------------------------------- */

static void delete_vs_edit(void **state)
{
    (void)state;
    struct tdoc b, t, m;
    /* mine deletes B, theirs edits it */
    tdoc_set(&b, "P", "A B C");
    tdoc_set(&t, "P", "A B C");
    tdoc_set(&m, "P", "A C");
    tdoc_get(&t, "B")->duration_seconds = 5;
    expect_conflicts(&b, &t, &m, "B/item/DELETED_AND_CHANGED(mine)");
    /* theirs deletes B, mine edits it (each field counts as a change) */
    for (int f = 0; f < 3; f++) {
        tdoc_set(&t, "P", "A C");
        tdoc_set(&m, "P", "A B C");
        struct merge_item *x = tdoc_get(&m, "B");
        if (f == 0)
            snprintf(x->asset_id, MERGE_ID_LEN, "other");
        else if (f == 1)
            x->duration_seconds = 5;
        else
            x->enabled = false;
        expect_conflicts(&b, &t, &m, "B/item/DELETED_AND_CHANGED(theirs)");
    }
    /* moving an item is not changing it: the delete wins */
    struct merge_result r;
    tdoc_set(&t, "P", "A C");
    tdoc_set(&m, "P", "B A C");
    expect_order(&b, &t, &m, "A C", &r);
    merge_result_release(&r);
    tdoc_set(&t, "P", "C B A");
    tdoc_set(&m, "P", "A C");
    expect_order(&b, &t, &m, "C A", &r);
    merge_result_release(&r);
}

static void delete_vs_unchanged(void **state)
{
    (void)state;
    struct tdoc b, t, m, want;
    tdoc_set(&b, "P", "A B C");
    tdoc_set(&t, "P", "A B C");
    tdoc_set(&m, "P", "A C");
    tdoc_set(&want, "P", "A C");
    expect_draft(&b, &t, &m, &want);
    expect_draft(&b, &m, &t, &want);
    /* the other side edited another item */
    tdoc_get(&t, "C")->enabled = false;
    tdoc_get(&want, "C")->enabled = false;
    expect_draft(&b, &t, &m, &want);
    tdoc_set(&m, "P", "A B C");
    tdoc_get(&m, "C")->enabled = false;
    tdoc_set(&t, "P", "A C");
    expect_draft(&b, &t, &m, &want);
}

static void both_delete(void **state)
{
    (void)state;
    struct tdoc b, t, m, want;
    tdoc_set(&b, "P", "A B C");
    tdoc_set(&t, "P", "A C");
    tdoc_set(&m, "P", "A C");
    tdoc_set(&want, "P", "A C");
    expect_draft(&b, &t, &m, &want);
    /* each side deleting a different item, and one deleted by both */
    tdoc_set(&b, "P", "A B C D");
    tdoc_set(&t, "P", "B D");
    tdoc_set(&m, "P", "C D");
    tdoc_set(&want, "P", "D");
    expect_draft(&b, &t, &m, &want);
}

/* ---- where added items land -------------------------------------------------------------- */

static void adds_same_anchor(void **state)
{
    (void)state;
    struct tdoc b, t, m;
    struct merge_result r;
    tdoc_set(&b, "P", "A B");
    tdoc_set(&t, "P", "A X B");
    tdoc_set(&m, "P", "A Y B");
    expect_order(&b, &t, &m, "A X Y B", &r);
    merge_result_release(&r);
    expect_order(&b, &m, &t, "A Y X B", &r);
    merge_result_release(&r);
    /* runs stay together, theirs' run first */
    tdoc_set(&t, "P", "A X1 X2 X3 B");
    tdoc_set(&m, "P", "A Y1 Y2 B");
    expect_order(&b, &t, &m, "A X1 X2 X3 Y1 Y2 B", &r);
    merge_result_release(&r);
    /* the added items keep their own fields */
    tdoc_get(&m, "Y2")->duration_seconds = 42;
    expect_order(&b, &t, &m, "A X1 X2 X3 Y1 Y2 B", &r);
    assert_int_equal(r.items[5].duration_seconds, 42);
    merge_result_release(&r);
}

static void adds_different_anchors(void **state)
{
    (void)state;
    struct tdoc b, t, m;
    struct merge_result r;
    tdoc_set(&b, "P", "A B C");
    tdoc_set(&t, "P", "A X B C");
    tdoc_set(&m, "P", "A B Y C");
    expect_order(&b, &t, &m, "A X B Y C", &r);
    merge_result_release(&r);
    tdoc_set(&t, "P", "A B C X");
    tdoc_set(&m, "P", "Y A B C");
    expect_order(&b, &t, &m, "Y A B C X", &r);
    merge_result_release(&r);
    /* mixed: runs at several anchors on both sides */
    tdoc_set(&t, "P", "X1 A X2 B X3 C");
    tdoc_set(&m, "P", "Y1 A B Y2 Y3 C Y4");
    expect_order(&b, &t, &m, "X1 Y1 A X2 B X3 Y2 Y3 C Y4", &r);
    merge_result_release(&r);
}

static void adds_at_start_and_end(void **state)
{
    (void)state;
    struct tdoc b, t, m;
    struct merge_result r;
    tdoc_set(&b, "P", "A B");
    tdoc_set(&t, "P", "X A B");
    tdoc_set(&m, "P", "Y A B");
    expect_order(&b, &t, &m, "X Y A B", &r);
    merge_result_release(&r);
    tdoc_set(&t, "P", "A B X");
    tdoc_set(&m, "P", "A B Y");
    expect_order(&b, &t, &m, "A B X Y", &r);
    merge_result_release(&r);
    /* into an empty base */
    tdoc_set(&b, "P", "");
    tdoc_set(&t, "P", "X1 X2");
    tdoc_set(&m, "P", "Y1 Y2");
    expect_order(&b, &t, &m, "X1 X2 Y1 Y2", &r);
    merge_result_release(&r);
}

static void add_after_deleted(void **state)
{
    (void)state;
    struct tdoc b, t, m;
    struct merge_result r;
    /* theirs adds X after B, mine deletes B: X follows A, the nearest survivor */
    tdoc_set(&b, "P", "A B C");
    tdoc_set(&t, "P", "A B X C");
    tdoc_set(&m, "P", "A C");
    expect_order(&b, &t, &m, "A X C", &r);
    merge_result_release(&r);
    /* ... and mine adds Y after A: theirs first */
    tdoc_set(&m, "P", "A Y C");
    expect_order(&b, &t, &m, "A X Y C", &r);
    merge_result_release(&r);
    /* mine adds after A, which theirs deleted: Y goes first */
    tdoc_set(&t, "P", "B C");
    tdoc_set(&m, "P", "A Y B C");
    expect_order(&b, &t, &m, "Y B C", &r);
    merge_result_release(&r);
    /* the fallback anchor is an item the same side added */
    tdoc_set(&t, "P", "A X1 B X2 C");
    tdoc_set(&m, "P", "A C");
    expect_order(&b, &t, &m, "A X1 X2 C", &r);
    merge_result_release(&r);
    /* theirs adds after D, which mine deleted (with B): X falls back to C, where Y is too */
    tdoc_set(&b, "P", "A B C D");
    tdoc_set(&t, "P", "A B C D X");
    tdoc_set(&m, "P", "A C Y");
    expect_order(&b, &t, &m, "A C X Y", &r);
    merge_result_release(&r);
    /* the anchor is the nearest one in the result, even when farther ones were deleted too */
    tdoc_set(&b, "P", "A B C D E");
    tdoc_set(&t, "P", "A B C D X E");
    tdoc_set(&m, "P", "A E");
    expect_order(&b, &t, &m, "A X E", &r);
    merge_result_release(&r);
}

static void reorder_and_add(void **state)
{
    (void)state;
    struct tdoc b, t, m;
    struct merge_result r;
    /* theirs reorders, mine adds after A: Y moves with A */
    tdoc_set(&b, "P", "A B C");
    tdoc_set(&t, "P", "C A B");
    tdoc_set(&m, "P", "A Y B C");
    expect_order(&b, &t, &m, "C A Y B", &r);
    merge_result_release(&r);
    /* mine reorders, theirs adds at the start and after C */
    tdoc_set(&t, "P", "X A B C Z");
    tdoc_set(&m, "P", "B C A");
    expect_order(&b, &t, &m, "X B C Z A", &r);
    merge_result_release(&r);
    /* the reordering side adds too */
    tdoc_set(&t, "P", "C X A B");
    tdoc_set(&m, "P", "A B Y C");
    expect_order(&b, &t, &m, "C X A B Y", &r);
    merge_result_release(&r);
}

static void reorder_both(void **state)
{
    (void)state;
    struct tdoc b, t, m;
    struct merge_result r;
    tdoc_set(&b, "P", "A B C D");
    tdoc_set(&t, "P", "D C B A");
    tdoc_set(&m, "P", "D C B A");
    expect_order(&b, &t, &m, "D C B A", &r);
    merge_result_release(&r);
    /* identical relative order, but different deletions and adds */
    tdoc_set(&t, "P", "D X C A");
    tdoc_set(&m, "P", "D B Y A");
    expect_order(&b, &t, &m, "D X Y A", &r);
    merge_result_release(&r);
    /* different orders: a conflict, whatever else merges */
    tdoc_set(&t, "P", "D C B A");
    tdoc_set(&m, "P", "B A D C");
    expect_conflicts(&b, &t, &m, "-/order/BOTH_CHANGED");
    tdoc_set(&t, "P", "B A C D X");
    tdoc_set(&m, "P", "A B D C");
    expect_conflicts(&b, &t, &m, "-/order/BOTH_CHANGED");
    /* only the survivors' order counts: an item one side moved and the other deleted */
    tdoc_set(&t, "P", "B C D A"); /* moved A last */
    tdoc_set(&m, "P", "B C D");   /* deleted A */
    expect_order(&b, &t, &m, "B C D", &r);
    merge_result_release(&r);
}

static void added_on_both_sides(void **state)
{
    (void)state;
    struct tdoc b, t, m;
    struct merge_result r;
    /* the same id on both sides (not from the server, but defined): one item, theirs' place */
    tdoc_set(&b, "P", "A B");
    tdoc_set(&t, "P", "A Z B");
    tdoc_set(&m, "P", "A B Z");
    expect_order(&b, &t, &m, "A Z B", &r);
    merge_result_release(&r);
    /* mine's own adds may anchor on it */
    tdoc_set(&m, "P", "A B Z Y");
    expect_order(&b, &t, &m, "A Z Y B", &r);
    merge_result_release(&r);
    /* fields must agree */
    tdoc_get(&m, "Z")->duration_seconds = 3;
    snprintf(tdoc_get(&m, "Z")->asset_id, MERGE_ID_LEN, "other");
    expect_conflicts(&b, &t, &m, "Z/assetId/BOTH_CHANGED Z/durationSeconds/BOTH_CHANGED");
}

/* ---- all the conflicts at once, in order ------------------------------------------------- */

/* base P [A B C D E]; every kind of conflict; see the expected string */
static void many_conflicts_setup(struct tdoc *b, struct tdoc *t, struct tdoc *m)
{
    tdoc_set(b, "P", "A B C D E");
    tdoc_set(t, "T", "E B A C");            /* theirs: D deleted; order of {B C E}: E B C */
    tdoc_set(m, "M", "B D E C F");          /* mine: A deleted; order of {B C E}: B E C; F added */
    tdoc_get(t, "A")->enabled = false;      /* A: deleted in mine, changed in theirs */
    tdoc_get(m, "D")->duration_seconds = 7; /* D: deleted in theirs, changed in mine */
    snprintf(tdoc_get(t, "C")->asset_id, MERGE_ID_LEN, "t");
    snprintf(tdoc_get(m, "C")->asset_id, MERGE_ID_LEN, "m");
    tdoc_get(t, "C")->duration_seconds = 11;
    tdoc_get(m, "C")->duration_seconds = 12;
    tdoc_get(t, "C")->enabled = false; /* the same change: no conflict */
    tdoc_get(m, "C")->enabled = false;
    tdoc_get(t, "E")->duration_seconds = 5;
    tdoc_get(m, "E")->duration_seconds = 6;
    tdoc_get(m, "B")->enabled = false; /* one side: no conflict */
}

static void many_conflicts(void **state)
{
    (void)state;
    struct tdoc b, t, m;
    many_conflicts_setup(&b, &t, &m);
    expect_conflicts(&b, &t, &m,
                     "-/name/BOTH_CHANGED -/order/BOTH_CHANGED "
                     "E/durationSeconds/BOTH_CHANGED A/item/DELETED_AND_CHANGED(mine) "
                     "C/assetId/BOTH_CHANGED C/durationSeconds/BOTH_CHANGED "
                     "D/item/DELETED_AND_CHANGED(theirs)");
    /* the sides swapped: the same conflicts, in mine's (now theirs') order */
    expect_conflicts(&b, &m, &t,
                     "-/name/BOTH_CHANGED -/order/BOTH_CHANGED "
                     "D/item/DELETED_AND_CHANGED(mine) E/durationSeconds/BOTH_CHANGED "
                     "C/assetId/BOTH_CHANGED C/durationSeconds/BOTH_CHANGED "
                     "A/item/DELETED_AND_CHANGED(theirs)");
}

static void results_identical(const struct merge_result *x, const struct merge_result *y)
{
    assert_ptr_equal(x->name, y->name);
    assert_int_equal(x->n_items, y->n_items);
    assert_int_equal(x->n_conflicts, y->n_conflicts);
    if (x->n_items)
        assert_memory_equal(x->items, y->items, x->n_items * sizeof(*x->items));
    for (size_t i = 0; i < x->n_conflicts; i++) {
        const struct merge_conflict *a = &x->conflicts[i], *c = &y->conflicts[i];
        assert_memory_equal(a->item_id, c->item_id, MERGE_ID_LEN);
        assert_string_equal(a->field, c->field);
        assert_int_equal(a->kind, c->kind);
        assert_int_equal(a->deleted_in_mine, c->deleted_in_mine);
    }
}

static void deterministic(void **state)
{
    (void)state;
    struct tdoc b, t, m;
    struct merge_result r1, r2;
    many_conflicts_setup(&b, &t, &m);
    assert_int_equal(merge3(&b, &t, &m, &r1), 0);
    assert_int_equal(merge3(&b, &t, &m, &r2), 0);
    assert_int_equal(r1.n_conflicts, 7);
    results_identical(&r1, &r2);
    merge_result_release(&r1);
    merge_result_release(&r2);

    tdoc_set(&b, "P", "A B C D E");
    tdoc_set(&t, "P", "X1 A C B X2 D X3");
    tdoc_set(&m, "M", "Y1 A B Y2 C Y3 E Y4");
    tdoc_get(&t, "C")->duration_seconds = 4;
    tdoc_get(&m, "C")->enabled = false;
    assert_int_equal(merge3(&b, &t, &m, &r1), 0);
    assert_int_equal(merge3(&b, &t, &m, &r2), 0);
    assert_int_equal(r1.n_conflicts, 0);
    assert_int_equal(r1.n_items, 10);
    results_identical(&r1, &r2);
    char got[256];
    order_string(&r1, got, sizeof(got));
    /* E and D deleted (unchanged elsewhere): X3 and Y4 fall back to X2 and Y3 */
    assert_string_equal(got, "X1 Y1 A C Y3 Y4 B X2 X3 Y2");
    merge_result_release(&r1);
    merge_result_release(&r2);
}

/* ---- refused input, empty input ---------------------------------------------------------- */

static void invalid(void **state)
{
    (void)state;
    struct tdoc ok, bad;
    struct merge_result r, sentinel;
    memset(&sentinel, 0xa5, sizeof(sentinel));
    tdoc_set(&ok, "P", "A B C");

    for (int which = 0; which < 3; which++) {
        const struct tdoc *b = which == 0 ? &bad : &ok, *t = which == 1 ? &bad : &ok,
                          *m = which == 2 ? &bad : &ok;
        /* a duplicate id, adjacent or not */
        tdoc_set(&bad, "P", "A B A");
        r = sentinel;
        assert_int_equal(merge3(b, t, m, &r), -EINVAL);
        assert_memory_equal(&r, &sentinel, sizeof(r)); /* untouched */
        tdoc_set(&bad, "P", "C C");
        assert_int_equal(merge3(b, t, m, &r), -EINVAL);
        /* an empty id */
        tdoc_set(&bad, "P", "A B C");
        bad.it[1].id[0] = '\0';
        assert_int_equal(merge3(b, t, m, &r), -EINVAL);
        /* an id with no NUL */
        tdoc_set(&bad, "P", "A B C");
        memset(bad.it[2].id, 'x', MERGE_ID_LEN);
        assert_int_equal(merge3(b, t, m, &r), -EINVAL);
        /* the longest id is fine */
        memset(bad.it[2].id, 'x', MERGE_ID_LEN - 1);
        bad.it[2].id[MERGE_ID_LEN - 1] = '\0';
        assert_int_equal(merge3(b, t, m, &r), 0);
        merge_result_release(&r);
    }

    struct merge_doc d = view(&ok), none = {.name = "P", .items = NULL, .n_items = 2};
    r = sentinel;
    assert_int_equal(playlist_merge(NULL, &d, &d, &r), -EINVAL);
    assert_int_equal(playlist_merge(&d, NULL, &d, &r), -EINVAL);
    assert_int_equal(playlist_merge(&d, &d, NULL, &r), -EINVAL);
    assert_int_equal(playlist_merge(&d, &d, &d, NULL), -EINVAL);
    assert_int_equal(playlist_merge(&d, &none, &d, &r), -EINVAL);
    assert_memory_equal(&r, &sentinel, sizeof(r));
}

static void empty_lists(void **state)
{
    (void)state;
    struct tdoc b, t, m;
    struct merge_result r;
    tdoc_set(&b, "P", "");
    tdoc_set(&t, "P", "");
    tdoc_set(&m, "P", "");
    expect_order(&b, &t, &m, "", &r);
    assert_null(r.items);
    assert_null(r.conflicts);
    assert_int_equal(r.n_conflicts, 0);
    merge_result_release(&r);
    /* everything deleted */
    tdoc_set(&b, "P", "A B");
    tdoc_set(&t, "P", "");
    tdoc_set(&m, "P", "B");
    expect_order(&b, &t, &m, "", &r);
    assert_null(r.items);
    merge_result_release(&r);
    /* only one side non-empty */
    tdoc_set(&b, "P", "");
    tdoc_set(&m, "P", "Y");
    expect_order(&b, &t, &m, "Y", &r);
    merge_result_release(&r);
}

static void kind_names(void **state)
{
    (void)state;
    assert_string_equal(merge_conflict_kind_name(MERGE_BOTH_CHANGED), "BOTH_CHANGED");
    assert_string_equal(merge_conflict_kind_name(MERGE_DELETED_AND_CHANGED), "DELETED_AND_CHANGED");
    assert_null(merge_conflict_kind_name(0));
    assert_null(merge_conflict_kind_name((enum merge_conflict_kind)99));
}

/* ---- large drafts ------------------------------------------------------------------------ */

struct big {
    struct merge_item *it;
    size_t n;
};

static void big_push(struct big *d, const char *prefix, size_t i)
{
    char id[MERGE_ID_LEN];
    snprintf(id, sizeof(id), "%s-%04u-0000-0000-000000000000", prefix, (unsigned)(i % 10000));
    item_init(&d->it[d->n++], id);
}

static void large(void **state)
{
    (void)state;
    enum { N = 1000 };
    struct big b = {calloc(N, sizeof(struct merge_item)), 0};
    struct big t = {calloc(2 * N, sizeof(struct merge_item)), 0};
    struct big m = {calloc(2 * N, sizeof(struct merge_item)), 0};
    assert_non_null(b.it);
    assert_non_null(t.it);
    assert_non_null(m.it);
    for (size_t i = 0; i < N; i++)
        big_push(&b, "0000base", i);
    /* theirs: every even item 1s longer, a chain of N adds after the first item (deep) */
    for (size_t i = 0; i < N; i++) {
        t.it[t.n] = b.it[i];
        if (i % 2 == 0)
            t.it[t.n].duration_seconds++;
        t.n++;
        if (i == 0)
            for (size_t k = 0; k < N - 1; k++)
                big_push(&t, "1theirs1", k);
    }
    /* mine: every third odd item deleted, an add after every other kept item */
    for (size_t i = 0; i < N; i++) {
        if (i % 2 == 1 && i % 3 == 0)
            continue;
        m.it[m.n++] = b.it[i];
        if (i % 2 == 0 && m.n < 2 * N)
            big_push(&m, "22mine22", i);
    }
    struct merge_doc vb = {"P", b.it, b.n}, vt = {"P", t.it, t.n}, vm = {"P", m.it, m.n};
    struct merge_result r;
    assert_int_equal(playlist_merge(&vb, &vt, &vm, &r), 0);
    assert_int_equal(r.n_conflicts, 0);
    size_t deleted = 0;
    for (size_t i = 0; i < N; i++)
        deleted += i % 2 == 1 && i % 3 == 0;
    assert_int_equal(r.n_items, N - deleted + (N - 1) + N / 2);
    /* base 0, its mine add after theirs' chain, then base 1 */
    assert_string_equal(r.items[0].id, b.it[0].id);
    assert_int_equal(r.items[0].duration_seconds, 11);
    assert_memory_equal(r.items[1].id, "1theirs1", 8);
    assert_memory_equal(r.items[N - 1].id, "1theirs1", 8);
    assert_memory_equal(r.items[N].id, "22mine22", 8);
    assert_string_equal(r.items[N + 1].id, b.it[1].id);
    merge_result_release(&r);
    free(b.it);
    free(t.it);
    free(m.it);
}

/* ---- properties over random drafts ------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    /* xorshift64*: fixed seed, the same drafts every run */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 33) % n;
}

static void random_item(struct merge_item *x, const char *prefix, size_t i)
{
    char id[MERGE_ID_LEN];
    snprintf(id, sizeof(id), "%s%zu", prefix, i);
    item_init(x, id);
    snprintf(x->asset_id, sizeof(x->asset_id), "a%u", rnd(4));
    x->duration_seconds = (int32_t)rnd(5) + 1;
    x->enabled = rnd(2);
}

static void random_base(struct tdoc *b)
{
    static const char *const names[] = {"P", "Q", NULL, ""};
    memset(b, 0, sizeof(*b));
    b->name = names[rnd(4)];
    b->n = rnd(9);
    for (size_t i = 0; i < b->n; i++)
        random_item(&b->it[i], "b", i);
}

/* A value of field @f different from @x's (the same for the same @salt). */
static void field_change(struct merge_item *x, int f, unsigned salt)
{
    if (f == 0)
        snprintf(x->asset_id, sizeof(x->asset_id), "e%u", salt);
    else if (f == 1)
        x->duration_seconds += 10 + (int32_t)salt;
    else
        x->enabled = !x->enabled;
}

static void remove_at(struct tdoc *d, size_t i)
{
    memmove(&d->it[i], &d->it[i + 1], (d->n - i - 1) * sizeof(d->it[0]));
    d->n--;
}

static void shuffle(struct tdoc *d)
{
    for (size_t i = d->n; i > 1; i--) {
        size_t j = rnd((uint32_t)i);
        struct merge_item tmp = d->it[i - 1];
        d->it[i - 1] = d->it[j];
        d->it[j] = tmp;
    }
}

static size_t find(const struct tdoc *d, const char *id)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->it[i].id, id) == 0)
            return i;
    return SIZE_MAX;
}

/*
 * Edits on disjoint items and fields, deletes, adds at the end, and a reorder by a side when
 * the other adds nothing: the merge is both edit sets applied.
 */
static void property_disjoint(void **state)
{
    (void)state;
    static const char *const names[] = {"T", "M", "TM"};
    rng_state = 0x9E3779B97F4A7C15ULL;
    for (int iter = 0; iter < 2000; iter++) {
        struct tdoc b, t, m, want;
        random_base(&b);
        t = b;
        m = b;
        want = b;
        /* the name: untouched, one side, or both alike */
        switch (rnd(4)) {
        case 1:
            t.name = want.name = names[0];
            break;
        case 2:
            m.name = want.name = names[1];
            break;
        case 3:
            t.name = m.name = want.name = names[2];
            break;
        }
        /* per base item: nothing, field edits (each field: nobody, theirs, mine, both alike),
         * or a delete (theirs, mine, both) */
        bool del_t[MAXI] = {0}, del_m[MAXI] = {0};
        for (size_t i = 0; i < b.n; i++) {
            uint32_t what = rnd(6);
            if (what == 1) {
                for (int f = 0; f < 3; f++) {
                    uint32_t who = rnd(4);
                    unsigned salt = rnd(3);
                    if (who == 1 || who == 3)
                        field_change(&t.it[i], f, salt);
                    if (who == 2 || who == 3)
                        field_change(&m.it[i], f, salt);
                    if (who)
                        field_change(&want.it[i], f, salt);
                }
            } else if (what >= 2 && what <= 4) {
                del_t[i] = what != 3;
                del_m[i] = what != 2;
            }
        }
        for (size_t i = b.n; i-- > 0;) {
            if (del_t[i])
                remove_at(&t, i);
            if (del_m[i])
                remove_at(&m, i);
            if (del_t[i] || del_m[i])
                remove_at(&want, i);
        }
        size_t kt = rnd(4), km = rnd(4);
        /* a reorder by one side, which then decides the survivors' order */
        struct tdoc *mover = NULL;
        if (rnd(3) == 0 && km == 0)
            mover = &t;
        else if (rnd(3) == 0 && kt == 0)
            mover = &m;
        if (mover) {
            shuffle(mover);
            struct tdoc ordered = want;
            ordered.n = 0;
            for (size_t i = 0; i < mover->n; i++) {
                size_t at = find(&want, mover->it[i].id);
                if (at != SIZE_MAX)
                    ordered.it[ordered.n++] = want.it[at];
            }
            assert_int_equal(ordered.n, want.n);
            want = ordered;
        }
        for (size_t k = 0; k < kt; k++) {
            random_item(&t.it[t.n], "t", k);
            want.it[want.n++] = t.it[t.n++];
        }
        for (size_t k = 0; k < km; k++) {
            random_item(&m.it[m.n], "m", k);
            want.it[want.n++] = m.it[m.n++];
        }
        expect_draft(&b, &t, &m, &want);
    }
}

/* A random edit of @b: renames, field changes, deletes, a shuffle, adds anywhere. */
static void random_edit(const struct tdoc *b, struct tdoc *x, const char *add_prefix)
{
    *x = *b;
    if (rnd(4) == 0)
        x->name = rnd(2) ? "X" : NULL;
    for (size_t i = 0; i < x->n; i++)
        if (rnd(3) == 0)
            field_change(&x->it[i], (int)rnd(3), rnd(3));
    for (size_t i = x->n; i-- > 0;)
        if (rnd(4) == 0)
            remove_at(x, i);
    if (rnd(3) == 0)
        shuffle(x);
    size_t adds = rnd(4);
    for (size_t k = 0; k < adds; k++) {
        size_t at = rnd((uint32_t)x->n + 1);
        memmove(&x->it[at + 1], &x->it[at], (x->n - at) * sizeof(x->it[0]));
        x->n++;
        random_item(&x->it[at], add_prefix, k);
    }
}

/* A side that changed nothing yields the other side exactly; so do two identical sides. */
static void property_identity(void **state)
{
    (void)state;
    rng_state = 0xD1B54A32D192ED03ULL;
    for (int iter = 0; iter < 2000; iter++) {
        struct tdoc b, x;
        random_base(&b);
        random_edit(&b, &x, "x");
        expect_draft(&b, &x, &b, &x);
        expect_draft(&b, &b, &x, &x);
        expect_draft(&b, &x, &x, &x);
        expect_draft(&x, &x, &x, &x);
    }
}

static bool conflict_mirrors(const struct merge_conflict *a, const struct merge_conflict *c)
{
    return strcmp(a->item_id, c->item_id) == 0 && strcmp(a->field, c->field) == 0 &&
           a->kind == c->kind &&
           (a->kind != MERGE_DELETED_AND_CHANGED || a->deleted_in_mine != c->deleted_in_mine);
}

static int field_rank(const char *field)
{
    static const char *const order[] = {"name",    "order", "assetId", "durationSeconds",
                                        "enabled", "item"};
    for (int i = 0; i < 6; i++)
        if (strcmp(field, order[i]) == 0)
            return i;
    fail_msg("unknown field %s", field);
    return -1;
}

/* The promised order: the playlist's conflicts, then by position in theirs, then in mine. */
static void check_conflict_order(const struct merge_result *r, const struct tdoc *t,
                                 const struct tdoc *m)
{
    size_t prev_pos = 0;
    int prev_rank = -1;
    for (size_t i = 0; i < r->n_conflicts; i++) {
        const struct merge_conflict *c = &r->conflicts[i];
        size_t pos = 0;
        if (c->item_id[0]) {
            pos = find(t, c->item_id);
            pos = pos != SIZE_MAX ? 1 + pos : 1 + t->n + find(m, c->item_id);
        }
        int rank = field_rank(c->field);
        assert_true(pos > prev_pos || (pos == prev_pos && rank > prev_rank));
        prev_pos = pos;
        prev_rank = rank;
    }
}

/*
 * Arbitrary edits on both sides: swapping the sides mirrors the conflicts (the same set, the
 * deleting side flipped) or, without conflicts, yields the same items with the same values;
 * the conflicts come in the promised order; the draft holds each kept or added id once.
 */
static void property_symmetry(void **state)
{
    (void)state;
    rng_state = 0x243F6A8885A308D3ULL;
    size_t merged = 0, conflicted = 0;
    for (int iter = 0; iter < 2000; iter++) {
        struct tdoc b, t, m;
        struct merge_result r1, r2;
        random_base(&b);
        random_edit(&b, &t, "t");
        random_edit(&b, &m, rnd(8) ? "m" : "t"); /* sometimes the same new ids on both */
        assert_int_equal(merge3(&b, &t, &m, &r1), 0);
        assert_int_equal(merge3(&b, &m, &t, &r2), 0);
        assert_int_equal(r1.n_conflicts, r2.n_conflicts);
        check_conflict_order(&r1, &t, &m);
        check_conflict_order(&r2, &m, &t);
        for (size_t i = 0; i < r1.n_conflicts; i++) {
            bool found = false;
            for (size_t j = 0; j < r2.n_conflicts && !found; j++)
                found = conflict_mirrors(&r1.conflicts[i], &r2.conflicts[j]);
            assert_true(found);
        }
        if (r1.n_conflicts == 0) {
            merged++;
            assert_true(name_equal(r1.name, r2.name));
            assert_int_equal(r1.n_items, r2.n_items);
            size_t expected = 0;
            for (size_t i = 0; i < b.n; i++)
                expected += find(&t, b.it[i].id) != SIZE_MAX && find(&m, b.it[i].id) != SIZE_MAX;
            for (size_t i = 0; i < t.n; i++)
                expected += find(&b, t.it[i].id) == SIZE_MAX;
            for (size_t i = 0; i < m.n; i++)
                expected += find(&b, m.it[i].id) == SIZE_MAX && find(&t, m.it[i].id) == SIZE_MAX;
            assert_int_equal(r1.n_items, expected);
            for (size_t i = 0; i < r1.n_items; i++) {
                bool found = false;
                for (size_t j = 0; j < r2.n_items && !found; j++)
                    found = item_equal(&r1.items[i], &r2.items[j]);
                assert_true(found);
                for (size_t j = 0; j < i; j++)
                    assert_string_not_equal(r1.items[i].id, r1.items[j].id);
            }
        } else {
            conflicted++;
        }
        merge_result_release(&r1);
        merge_result_release(&r2);
    }
    /* the generator exercises both outcomes */
    assert_true(merged > 200 && conflicted > 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identical),
        cmocka_unit_test(only_theirs_changed),
        cmocka_unit_test(only_mine_changed),
        cmocka_unit_test(both_changed_different_fields),
        cmocka_unit_test(both_changed_same_value),
        cmocka_unit_test(both_changed_same_field_differently),
        cmocka_unit_test(name_rules),
        cmocka_unit_test(delete_vs_edit),
        cmocka_unit_test(delete_vs_unchanged),
        cmocka_unit_test(both_delete),
        cmocka_unit_test(adds_same_anchor),
        cmocka_unit_test(adds_different_anchors),
        cmocka_unit_test(adds_at_start_and_end),
        cmocka_unit_test(add_after_deleted),
        cmocka_unit_test(reorder_and_add),
        cmocka_unit_test(reorder_both),
        cmocka_unit_test(added_on_both_sides),
        cmocka_unit_test(many_conflicts),
        cmocka_unit_test(deterministic),
        cmocka_unit_test(invalid),
        cmocka_unit_test(empty_lists),
        cmocka_unit_test(kind_names),
        cmocka_unit_test(large),
        cmocka_unit_test(property_disjoint),
        cmocka_unit_test(property_identity),
        cmocka_unit_test(property_symmetry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
