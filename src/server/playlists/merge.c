/* SPDX-License-Identifier: MIT */
/*
 * merge.c — the three-way merge of a playlist draft (see merge.h for the contract).
 *
 * DESIGN: each list gets an index sorted by id, so every "is this id on that side" is a binary
 * search (O(n log n) overall, no quadratic string compares). One pass over theirs, then over the
 * items only mine holds, decides every item's fate and collects the item conflicts in the order
 * the contract promises; the name and the order are decided before that. Only when nothing
 * conflicts is the draft laid out: the surviving base items in the chosen order, and every added
 * item hung under its anchor (the nearest item before it on its own side that is in the result,
 * or the start). The anchors form a forest rooted at the start and the survivors; a preorder
 * walk of each root — children theirs first, then mine, each in its own side's order — is the
 * result.
 *
 * Rules decided here beyond the header (also written into merge.h):
 *   - a NULL name compares like ""; the result's name is the pointer of the side it came from;
 *   - moving an item is not changing it: only assetId, durationSeconds and enabled count for
 *     "deleted on one side and changed on the other";
 *   - an id that both sides added (not in base) is one item: its fields must be equal on both
 *     sides or conflict (BOTH_CHANGED); it is placed where theirs put it, and on mine's side it
 *     is an item in the result that mine's own additions may anchor on;
 *   - an id must be 1..36 characters and NUL-terminated within MERGE_ID_LEN (else -EINVAL); a
 *     NULL argument, or NULL items with a non-zero count, is -EINVAL too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "playlists/merge.h"

#define NONE SIZE_MAX

/* One input list and its index by id. */
struct side {
    const struct merge_item *items;
    size_t n;
    const struct merge_item **by_id;
};

struct merger {
    struct side b, t, m;
    /* where each item sits on the other sides (NONE: not there) */
    size_t *t_in_b, *t_in_m, *m_in_b, *m_in_t, *b_in_t, *b_in_m;
    /* the merged value of each base item that survives, by base position */
    struct merge_item *merged;
    struct merge_conflict *conflicts;
    size_t n_conflicts, cap_conflicts;
};

enum field { FIELD_ASSET, FIELD_DURATION, FIELD_ENABLED, N_FIELDS };

static const char *const field_names[N_FIELDS] = {
    [FIELD_ASSET] = "assetId",
    [FIELD_DURATION] = "durationSeconds",
    [FIELD_ENABLED] = "enabled",
};

static int cmp_item_ptr(const void *a, const void *b)
{
    const struct merge_item *const *x = a, *const *y = b;
    return strcmp((*x)->id, (*y)->id);
}

static int cmp_key_item(const void *key, const void *elem)
{
    const struct merge_item *const *y = elem;
    return strcmp(key, (*y)->id);
}

/* Indexes @d by id; -EINVAL for an empty, unterminated or repeated id. */
static int side_init(struct side *s, const struct merge_doc *d)
{
    s->items = d->items;
    s->n = d->n_items;
    s->by_id = NULL;
    if (s->n == 0)
        return 0;
    if (!s->items)
        return -EINVAL;
    for (size_t i = 0; i < s->n; i++) {
        size_t len = strnlen(s->items[i].id, MERGE_ID_LEN);
        if (len == 0 || len == MERGE_ID_LEN)
            return -EINVAL;
    }
    s->by_id = calloc(s->n, sizeof(*s->by_id));
    if (!s->by_id)
        return -ENOMEM;
    for (size_t i = 0; i < s->n; i++)
        s->by_id[i] = &s->items[i];
    qsort(s->by_id, s->n, sizeof(*s->by_id), cmp_item_ptr);
    for (size_t i = 1; i < s->n; i++)
        if (strcmp(s->by_id[i - 1]->id, s->by_id[i]->id) == 0)
            return -EINVAL;
    return 0;
}

static size_t side_find(const struct side *s, const char *id)
{
    if (s->n == 0)
        return NONE;
    const struct merge_item *const *hit =
        bsearch(id, s->by_id, s->n, sizeof(*s->by_id), cmp_key_item);
    return hit ? (size_t)(*hit - s->items) : NONE;
}

/* Fills @where[i] with the position on @other of @from's i-th item. */
static void side_locate(const struct side *from, const struct side *other, size_t *where)
{
    for (size_t i = 0; i < from->n; i++)
        where[i] = side_find(other, from->items[i].id);
}

static bool field_equal(const struct merge_item *a, const struct merge_item *b, enum field f)
{
    switch (f) {
    case FIELD_ASSET:
        return strncmp(a->asset_id, b->asset_id, MERGE_ID_LEN) == 0;
    case FIELD_DURATION:
        return a->duration_seconds == b->duration_seconds;
    case FIELD_ENABLED:
        return a->enabled == b->enabled;
    default:
        return true;
    }
}

static void field_copy(struct merge_item *dst, const struct merge_item *src, enum field f)
{
    switch (f) {
    case FIELD_ASSET:
        memcpy(dst->asset_id, src->asset_id, MERGE_ID_LEN);
        break;
    case FIELD_DURATION:
        dst->duration_seconds = src->duration_seconds;
        break;
    case FIELD_ENABLED:
        dst->enabled = src->enabled;
        break;
    default:
        break;
    }
}

static bool item_changed(const struct merge_item *x, const struct merge_item *base)
{
    for (enum field f = 0; f < N_FIELDS; f++)
        if (!field_equal(x, base, f))
            return true;
    return false;
}

static int conflict_add(struct merger *mg, const char *item_id, const char *field,
                        enum merge_conflict_kind kind, bool deleted_in_mine)
{
    if (mg->n_conflicts == mg->cap_conflicts) {
        size_t cap = mg->cap_conflicts ? 2 * mg->cap_conflicts : 8;
        struct merge_conflict *c = realloc(mg->conflicts, cap * sizeof(*c));
        if (!c)
            return -ENOMEM;
        mg->conflicts = c;
        mg->cap_conflicts = cap;
    }
    struct merge_conflict *c = &mg->conflicts[mg->n_conflicts++];
    memset(c, 0, sizeof(*c));
    /* item ids were checked to fit */
    memcpy(c->item_id, item_id, strnlen(item_id, MERGE_ID_LEN - 1));
    c->field = field;
    c->kind = kind;
    c->deleted_in_mine = deleted_in_mine;
    return 0;
}

/*
 * Merges the fields of one item that both sides hold into @out (starting from theirs). @base is
 * NULL for an item both sides added: then the two must simply agree.
 */
static int merge_fields(struct merger *mg, const struct merge_item *base,
                        const struct merge_item *t, const struct merge_item *m,
                        struct merge_item *out)
{
    if (out)
        memcpy(out, t, sizeof(*out));
    for (enum field f = 0; f < N_FIELDS; f++) {
        if (field_equal(t, m, f))
            continue;
        if (base && field_equal(t, base, f)) {
            if (out)
                field_copy(out, m, f);
        } else if (!base || !field_equal(m, base, f)) {
            int r = conflict_add(mg, t->id, field_names[f], MERGE_BOTH_CHANGED, false);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static bool name_equal(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The name per the field rule, or a conflict. */
static int merge_name(struct merger *mg, const struct merge_doc *base,
                      const struct merge_doc *theirs, const struct merge_doc *mine,
                      const char **ret_name)
{
    if (name_equal(mine->name, base->name) || name_equal(mine->name, theirs->name))
        *ret_name = theirs->name;
    else if (name_equal(theirs->name, base->name))
        *ret_name = mine->name;
    else
        return conflict_add(mg, "", "name", MERGE_BOTH_CHANGED, false);
    return 0;
}

static bool seq_equal(const size_t *a, const size_t *b, size_t n)
{
    return n == 0 || memcmp(a, b, n * sizeof(*a)) == 0;
}

/*
 * The order of the base items both sides kept (as base positions, @n of them) into @ret_order,
 * which points into @seq (3 * @n entries: base's, theirs', mine's order); NULL on a conflict.
 */
static int merge_order(struct merger *mg, size_t *seq, size_t n, const size_t **ret_order)
{
    size_t *sb = seq, *st = seq + n, *sm = seq + 2 * n;
    size_t ib = 0, it = 0, im = 0;

    for (size_t k = 0; k < mg->b.n; k++)
        if (mg->b_in_t[k] != NONE && mg->b_in_m[k] != NONE)
            sb[ib++] = k;
    for (size_t i = 0; i < mg->t.n; i++)
        if (mg->t_in_b[i] != NONE && mg->t_in_m[i] != NONE)
            st[it++] = mg->t_in_b[i];
    for (size_t j = 0; j < mg->m.n; j++)
        if (mg->m_in_b[j] != NONE && mg->m_in_t[j] != NONE)
            sm[im++] = mg->m_in_b[j];

    if (seq_equal(sm, sb, n) || seq_equal(sm, st, n))
        *ret_order = st;
    else if (seq_equal(st, sb, n))
        *ret_order = sm;
    else {
        *ret_order = NULL;
        return conflict_add(mg, "", "order", MERGE_BOTH_CHANGED, false);
    }
    return 0;
}

/*
 * Every item's fate, and its conflicts in the promised order: theirs' items in theirs' order,
 * then the items only mine holds in mine's order; per item, fields in name order.
 */
static int merge_items(struct merger *mg)
{
    int r;

    for (size_t i = 0; i < mg->t.n; i++) {
        const struct merge_item *t = &mg->t.items[i];
        size_t kb = mg->t_in_b[i], jm = mg->t_in_m[i];
        if (kb != NONE && jm != NONE)
            r = merge_fields(mg, &mg->b.items[kb], t, &mg->m.items[jm], &mg->merged[kb]);
        else if (kb == NONE && jm != NONE)
            r = merge_fields(mg, NULL, t, &mg->m.items[jm], NULL);
        else if (kb != NONE && item_changed(t, &mg->b.items[kb]))
            r = conflict_add(mg, t->id, "item", MERGE_DELETED_AND_CHANGED, true);
        else
            r = 0; /* added by theirs, or deleted by mine and untouched by theirs */
        if (r < 0)
            return r;
    }
    for (size_t j = 0; j < mg->m.n; j++) {
        const struct merge_item *m = &mg->m.items[j];
        size_t kb = mg->m_in_b[j];
        if (mg->m_in_t[j] != NONE || kb == NONE || !item_changed(m, &mg->b.items[kb]))
            continue;
        r = conflict_add(mg, m->id, "item", MERGE_DELETED_AND_CHANGED, false);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The forest of anchors: node 0 is the start, 1 + k base item k, then theirs', then mine's. */
struct forest {
    size_t *first, *last, *next, *parent;
    const struct merge_item **item;
};

static void forest_attach(struct forest *f, size_t anchor, size_t node)
{
    f->parent[node] = anchor;
    if (f->last[anchor] == NONE)
        f->first[anchor] = node;
    else
        f->next[f->last[anchor]] = node;
    f->last[anchor] = node;
}

/* Appends the descendants of @root, in preorder, to @out at *@pos. */
static void forest_emit_below(const struct forest *f, size_t root, struct merge_item *out,
                              size_t *pos)
{
    size_t n = f->first[root];
    while (n != NONE) {
        memcpy(&out[(*pos)++], f->item[n], sizeof(*out));
        if (f->first[n] != NONE) {
            n = f->first[n];
            continue;
        }
        while (n != root && f->next[n] == NONE)
            n = f->parent[n];
        n = n == root ? NONE : f->next[n];
    }
}

/* Hangs each added item under its anchor on its own side. */
static void forest_hang_added(struct merger *mg, struct forest *f)
{
    size_t nb = mg->b.n, nt = mg->t.n;
    size_t prev = 0;

    for (size_t i = 0; i < nt; i++) {
        size_t kb = mg->t_in_b[i];
        if (kb == NONE) {
            size_t node = 1 + nb + i;
            f->item[node] = &mg->t.items[i];
            forest_attach(f, prev, node);
            prev = node;
        } else if (mg->t_in_m[i] != NONE) {
            prev = 1 + kb;
        } /* else deleted by mine: not in the result */
    }
    prev = 0;
    for (size_t j = 0; j < mg->m.n; j++) {
        size_t kb = mg->m_in_b[j], it = mg->m_in_t[j];
        if (kb != NONE) {
            if (it != NONE)
                prev = 1 + kb;
        } else if (it != NONE) {
            prev = 1 + nb + it; /* added on both sides: placed by theirs */
        } else {
            size_t node = 1 + nb + nt + j;
            f->item[node] = &mg->m.items[j];
            forest_attach(f, prev, node);
            prev = node;
        }
    }
}

/* Lays the draft out: the survivors in @order (@n of them), each added item after its anchor. */
static int merge_layout(struct merger *mg, const size_t *order, size_t n,
                        struct merge_item **ret_items, size_t *ret_n)
{
    size_t nb = mg->b.n, nt = mg->t.n, nm = mg->m.n;
    size_t nodes = 1 + nb + nt + nm, total = n;
    struct forest f = {0};
    struct merge_item *out = NULL;
    int r = -ENOMEM;

    for (size_t i = 0; i < nt; i++)
        total += mg->t_in_b[i] == NONE;
    for (size_t j = 0; j < nm; j++)
        total += mg->m_in_b[j] == NONE && mg->m_in_t[j] == NONE;

    size_t *links = malloc(4 * nodes * sizeof(*links)); /* small enough: see playlist_merge */
    f.item = calloc(nodes, sizeof(*f.item));
    if (total > 0)
        out = calloc(total, sizeof(*out));
    if (!links || !f.item || (total > 0 && !out))
        goto done;
    for (size_t i = 0; i < 4 * nodes; i++)
        links[i] = NONE;
    f.first = links;
    f.last = links + nodes;
    f.next = links + 2 * nodes;
    f.parent = links + 3 * nodes;

    forest_hang_added(mg, &f);
    size_t pos = 0;
    forest_emit_below(&f, 0, out, &pos);
    for (size_t s = 0; s < n; s++) {
        memcpy(&out[pos++], &mg->merged[order[s]], sizeof(*out));
        forest_emit_below(&f, 1 + order[s], out, &pos);
    }
    *ret_items = out;
    *ret_n = total;
    out = NULL;
    r = 0;
done:
    free(out);
    free(f.item);
    free(links);
    return r;
}

static void merger_release(struct merger *mg)
{
    free(mg->b.by_id);
    free(mg->t.by_id);
    free(mg->m.by_id);
    free(mg->t_in_b); /* the one allocation behind all the position maps */
    free(mg->merged);
    free(mg->conflicts);
}

int playlist_merge(const struct merge_doc *base, const struct merge_doc *theirs,
                   const struct merge_doc *mine, struct merge_result *ret)
{
    struct merger mg = {0};
    size_t *seq = NULL;
    const char *name = NULL;
    const size_t *order = NULL;
    struct merge_item *items = NULL;
    size_t n_items = 0;
    int r;

    if (!base || !theirs || !mine || !ret)
        return -EINVAL;
    r = side_init(&mg.b, base);
    if (r >= 0)
        r = side_init(&mg.t, theirs);
    if (r >= 0)
        r = side_init(&mg.m, mine);
    if (r < 0)
        goto done;

    /* Lists that long cannot be in memory; refusing them keeps every size below from wrapping
     * (the largest is 4 * (1 + nb + nt + nm) positions in merge_layout). */
    size_t nb = mg.b.n, nt = mg.t.n, nm = mg.m.n;
    r = -ENOMEM;
    if (nb > SIZE_MAX / 256 || nt > SIZE_MAX / 256 || nm > SIZE_MAX / 256)
        goto done;
    mg.t_in_b = malloc((2 * (nb + nt + nm) + 1) * sizeof(size_t));
    mg.merged = nb ? calloc(nb, sizeof(*mg.merged)) : NULL;
    if (!mg.t_in_b || (nb && !mg.merged))
        goto done;
    mg.t_in_m = mg.t_in_b + nt;
    mg.m_in_b = mg.t_in_m + nt;
    mg.m_in_t = mg.m_in_b + nm;
    mg.b_in_t = mg.m_in_t + nm;
    mg.b_in_m = mg.b_in_t + nb;
    side_locate(&mg.t, &mg.b, mg.t_in_b);
    side_locate(&mg.t, &mg.m, mg.t_in_m);
    side_locate(&mg.m, &mg.b, mg.m_in_b);
    side_locate(&mg.m, &mg.t, mg.m_in_t);
    side_locate(&mg.b, &mg.t, mg.b_in_t);
    side_locate(&mg.b, &mg.m, mg.b_in_m);

    size_t n_kept = 0;
    for (size_t k = 0; k < nb; k++)
        n_kept += mg.b_in_t[k] != NONE && mg.b_in_m[k] != NONE;
    seq = malloc((3 * n_kept + 1) * sizeof(*seq));
    if (!seq)
        goto done;

    r = merge_name(&mg, base, theirs, mine, &name);
    if (r >= 0)
        r = merge_order(&mg, seq, n_kept, &order);
    if (r >= 0)
        r = merge_items(&mg);
    if (r >= 0 && mg.n_conflicts == 0)
        r = merge_layout(&mg, order, n_kept, &items, &n_items);
    if (r < 0)
        goto done;

    *ret = (struct merge_result){0};
    if (mg.n_conflicts > 0) {
        ret->conflicts = mg.conflicts;
        ret->n_conflicts = mg.n_conflicts;
        mg.conflicts = NULL;
    } else {
        ret->name = name;
        ret->items = items;
        ret->n_items = n_items;
    }
    r = 0;
done:
    free(seq);
    merger_release(&mg);
    return r;
}

void merge_result_release(struct merge_result *r)
{
    if (!r)
        return;
    free(r->items);
    free(r->conflicts);
    *r = (struct merge_result){0};
}

/* NULL for a value outside the enum: a caller's bug, made visible rather than spelled. */
const char *merge_conflict_kind_name(enum merge_conflict_kind k)
{
    switch (k) {
    case MERGE_BOTH_CHANGED:
        return "BOTH_CHANGED";
    case MERGE_DELETED_AND_CHANGED:
        return "DELETED_AND_CHANGED";
    default:
        return NULL;
    }
}
