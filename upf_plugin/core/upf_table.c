/*
 * upf_table.c: writer side of the lookup tables and epoch-based reclamation (see upf_table.h).
 */
#include <errno.h>
#include "upf_core.h"
#include "upf_mem.h"

static size_t
slots_size (uint32_t n)
{
  return sizeof (upf_slots_t) + (size_t)n * sizeof (_Atomic (upf_entry_t *));
}

static upf_slots_t *
slots_new (uint32_t n)
{
  upf_slots_t *s = upf_calloc_lines (slots_size (n));
  if (s)
    s->mask = n - 1;
  return s;
}

static void
slots_release (upf_slots_t *s)
{
  if (s)
    upf_free_lines (s, slots_size (s->mask + 1));
}

static unsigned
slots_free (upf_retired_t *r)
{
  slots_release (upf_container_of (r, upf_slots_t, retire));
  return 1;
}

int
upf_table_init (upf_table_t *t, uint32_t expected)
{
  uint32_t n = 64;
  memset (t, 0, sizeof (*t));
  while (n < expected * 2 && n < (1u << 31))
    n <<= 1;
  upf_slots_t *s = slots_new (n);
  if (!s)
    return -ENOMEM;
  atomic_store (&t->cur, s);
  return 0;
}

void
upf_table_free (upf_table_t *t)
{
  upf_slots_t *s = atomic_load (&t->cur);
  slots_release (s); /* the entries are their programs' */
  atomic_store (&t->cur, 0);
}

static void
slots_insert (upf_slots_t *s, upf_entry_t *e)
{
  uint32_t i = (uint32_t)upf_key_hash (&e->key) & s->mask;
  for (;;)
    {
      upf_entry_t *x = atomic_load_explicit (&s->slots[i], memory_order_relaxed);
      if (!x || x == UPF_TOMBSTONE)
        {
          if (x == UPF_TOMBSTONE)
            s->n_tomb--;
          s->n_used++;
          atomic_store_explicit (&s->slots[i], e, memory_order_release);
          return;
        }
      i = (i + 1) & s->mask;
    }
}

/* Rebuild into a new slot array (grow or purge tombstones), publish, retire the old one. */
static int
rehash (upf_table_t *t, upf_epoch_t *ep, uint32_t n)
{
  upf_slots_t *old = atomic_load (&t->cur), *s = slots_new (n);
  if (!s)
    return -ENOMEM;
  for (uint32_t i = 0; i <= old->mask; i++)
    {
      upf_entry_t *e = atomic_load (&old->slots[i]);
      if (e && e != UPF_TOMBSTONE)
        slots_insert (s, e);
    }
  atomic_store_explicit (&t->cur, s, memory_order_release);
  upf_epoch_retire (ep, &old->retire, slots_free);
  return 0;
}

/* Load (used + tombstones) stays <= 1/2 after n more inserts. */
int
upf_table_reserve (upf_table_t *t, upf_epoch_t *ep, uint32_t n)
{
  upf_slots_t *s = atomic_load (&t->cur);
  uint64_t size = (uint64_t)s->mask + 1;
  if (((uint64_t)s->n_used + s->n_tomb + n) * 2 <= size)
    return 0;
  /* purge tombstones into the same size if live entries leave room, else grow */
  while (((uint64_t)s->n_used + n) * 4 > size && size < (1ULL << 31))
    size *= 2;
  if (((uint64_t)s->n_used + n) * 2 > size)
    return -ENOMEM;
  return rehash (t, ep, (uint32_t)size);
}

static void
plen_ref (upf_table_t *t, uint8_t plen, int d)
{
  t->plen_count[plen] += (uint32_t)d;
  if (t->plen_count[plen] == (d > 0 ? 1u : 0u))
    {
      uint64_t bit = 1ULL << (plen & 63);
      if (d > 0)
        atomic_fetch_or (&t->plen_set[plen >> 6], bit);
      else
        atomic_fetch_and (&t->plen_set[plen >> 6], ~bit);
    }
}

void
upf_table_insert (upf_table_t *t, upf_entry_t *e)
{
  slots_insert (atomic_load (&t->cur), e);
  plen_ref (t, e->key.plen, +1);
}

/* Slot index holding key k, or -1. */
static int64_t
slot_of (upf_slots_t *s, const upf_key_t *k)
{
  uint32_t i = (uint32_t)upf_key_hash (k) & s->mask;
  for (;;)
    {
      upf_entry_t *e = atomic_load (&s->slots[i]);
      if (!e)
        return -1;
      if (e != UPF_TOMBSTONE && upf_key_eq (&e->key, k))
        return i;
      i = (i + 1) & s->mask;
    }
}

int
upf_table_replace (upf_table_t *t, upf_entry_t *n)
{
  upf_slots_t *s = atomic_load (&t->cur);
  int64_t i = slot_of (s, &n->key);
  if (i < 0)
    return -ENOENT;
  atomic_store_explicit (&s->slots[i], n, memory_order_release);
  return 0;
}

int
upf_table_del (upf_table_t *t, const upf_key_t *k)
{
  upf_slots_t *s = atomic_load (&t->cur);
  int64_t i = slot_of (s, k);
  if (i < 0)
    return -ENOENT;
  atomic_store_explicit (&s->slots[i], UPF_TOMBSTONE, memory_order_release);
  s->n_used--;
  s->n_tomb++;
  plen_ref (t, k->plen, -1);
  return 0;
}

void
upf_epoch_retire (upf_epoch_t *ep, upf_retired_t *r, unsigned (*fn) (upf_retired_t *))
{
  r->epoch = atomic_fetch_add (&ep->epoch, 1);
  r->fn = fn;
  r->next = ep->retired;
  ep->retired = r;
  ep->n_retired++;
}

unsigned
upf_epoch_reclaim (upf_epoch_t *ep)
{
  uint64_t min = UINT64_MAX;
  upf_retired_t **pp = &ep->retired;
  unsigned n = 0;
  if (!*pp)
    return 0; /* (nothing retired: the readers' scan, ~0.4 k instructions, spared) */
  for (unsigned i = 0; i < UPF_MAX_READERS; i++)
    {
      uint64_t e = atomic_load (&ep->reader[i]);
      if (e && e < min)
        min = e;
    }
  while (*pp)
    {
      upf_retired_t *r = *pp;
      /* retired at epoch E (then epoch became E+1): a reader that entered at <= E may hold it */
      if (r->epoch < min)
        {
          *pp = r->next;
          ep->n_retired--;
          n += r->fn (r);
        }
      else
        pp = &r->next;
    }
  return n;
}
