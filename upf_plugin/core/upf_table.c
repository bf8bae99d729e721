/*
 * upf_table.c: writer side of the lookup tables and epoch-based reclamation (see upf_table.h).
 */
#include <errno.h>
#include <stdlib.h>
#include "upf_core.h"

static upf_slots_t *
slots_new (uint32_t n)
{
  upf_slots_t *s = calloc (1, sizeof (*s) + (size_t)n * sizeof (s->slots[0]));
  if (s)
    s->mask = n - 1;
  return s;
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

static void
free_entries_and_slots (upf_slots_t *s)
{
  for (uint32_t i = 0; i <= s->mask; i++)
    {
      upf_entry_t *e = atomic_load (&s->slots[i]);
      if (e && e != UPF_TOMBSTONE)
        free (e);
    }
  free (s);
}

void
upf_table_free (upf_table_t *t)
{
  upf_slots_t *s = atomic_load (&t->cur);
  if (s)
    free_entries_and_slots (s);
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
  upf_epoch_retire (ep, free, old);
  return 0;
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

int
upf_table_add (upf_table_t *t, upf_epoch_t *ep, const upf_key_t *k, upf_session_t *sess,
               const upf_program_t *prog)
{
  upf_slots_t *s = atomic_load (&t->cur);
  upf_entry_t *e;
  if (upf_table_lookup_exact (t, k))
    return -EEXIST;
  if ((s->n_used + s->n_tomb + 1) * 2 > s->mask + 1)
    {
      uint32_t n = s->mask + 1;
      if ((s->n_used + 1) * 4 > n)
        n *= 2;
      if (rehash (t, ep, n) < 0)
        return -ENOMEM;
      s = atomic_load (&t->cur);
    }
  e = malloc (sizeof (*e));
  if (!e)
    return -ENOMEM;
  e->key = *k;
  e->session = sess;
  e->prog = prog;
  slots_insert (s, e);
  plen_ref (t, k->plen, +1);
  return 0;
}

int
upf_table_set_prog (upf_table_t *t, upf_epoch_t *ep, const upf_key_t *k, const upf_program_t *prog)
{
  upf_slots_t *s = atomic_load (&t->cur);
  uint32_t i = (uint32_t)upf_key_hash (k) & s->mask;
  for (;;)
    {
      upf_entry_t *e = atomic_load (&s->slots[i]), *n;
      if (!e)
        return -ENOENT;
      if (e != UPF_TOMBSTONE && upf_key_eq (&e->key, k))
        {
          n = malloc (sizeof (*n));
          if (!n)
            return -ENOMEM;
          *n = *e;
          n->prog = prog;
          atomic_store_explicit (&s->slots[i], n, memory_order_release);
          upf_epoch_retire (ep, free, e);
          return 0;
        }
      i = (i + 1) & s->mask;
    }
}

int
upf_table_del (upf_table_t *t, upf_epoch_t *ep, const upf_key_t *k)
{
  upf_slots_t *s = atomic_load (&t->cur);
  uint32_t i = (uint32_t)upf_key_hash (k) & s->mask;
  for (;;)
    {
      upf_entry_t *e = atomic_load (&s->slots[i]);
      if (!e)
        return -ENOENT;
      if (e != UPF_TOMBSTONE && upf_key_eq (&e->key, k))
        {
          atomic_store_explicit (&s->slots[i], UPF_TOMBSTONE, memory_order_release);
          s->n_used--;
          s->n_tomb++;
          plen_ref (t, k->plen, -1);
          upf_epoch_retire (ep, free, e);
          return 0;
        }
      i = (i + 1) & s->mask;
    }
}

void
upf_epoch_retire (upf_epoch_t *ep, void (*fn) (void *), void *ptr)
{
  upf_retired_t *r = malloc (sizeof (*r));
  if (!r)
    {
      /* Cannot defer: wait is not possible here, leak rather than risk a use-after-free. */
      return;
    }
  r->epoch = atomic_fetch_add (&ep->epoch, 1);
  r->fn = fn;
  r->ptr = ptr;
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
          r->fn (r->ptr);
          free (r);
          ep->n_retired--;
          n++;
        }
      else
        pp = &r->next;
    }
  return n;
}
