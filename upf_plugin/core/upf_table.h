/*
 * upf_table.h: session lookup tables and the single-writer / many-reader publish scheme.
 *
 * Tables
 *   UL: (local F-TEID address, TEID) -> session (every local F-TEID: those of Access PDIs,
 *       and those of Core / CP-function PDIs, whose G-PDUs are downlink: upf_key_t.gtpu_dl).
 *   DL: (network instance, UE IP address / prefix) -> session, longest prefix first.
 *   Both are open-addressing hash tables (linear probing, power-of-two size, load <= 1/2)
 *   whose slots hold pointers to immutable entries. Lookup: 1 hash + expected ~1.5 probes.
 *   DL longest-prefix match probes once per prefix length present in the table (a 129-bit
 *   set kept by the writer), longest first: in practice {/32} or {/32, /64, /128} -> 1 to 3
 *   probes; worst case 33 (IPv4) or 129 (IPv6) probes.
 *
 * Concurrency: one writer thread (today pfcpd's local datapath, under its lock; the planned
 * VPP plugin's main thread), any number of reader threads.
 *   - Readers never lock and never write shared structures other than their own counters.
 *   - Everything a reader can reach is immutable once published: table entries, slot arrays,
 *     session programs. The entries live inside their program (upf_rules.h), so a packet
 *     needs no load from the session object; installing a program publishes the new
 *     program's entries in the slots of the session's keys (same key, new program) and then
 *     retires the old program, entries included. The writer changes
 *     things by building a new object and publishing its pointer with a release store (slot,
 *     table slot array, session->prog); readers load with acquire, so they see either the old
 *     or the new object, complete.
 *   - Old objects are retired, not freed: upf_epoch_retire () tags them with the global
 *     epoch; each reader announces upf_reader_enter () / upf_reader_exit () around a batch
 *     of packets. upf_epoch_reclaim () frees objects retired before the oldest epoch a reader
 *     is still inside. A reader that is outside (between batches) holds nothing. Retiring
 *     never allocates (the node is inside the retired object), so the writer's commit step
 *     cannot fail half-way.
 *   - Mutable per-packet state (URR counters, token buckets, DL buffer) is kept out of the
 *     program. Each such object must be updated by one datapath thread only: the local
 *     datapath has one thread; a multi-worker datapath (the planned VPP plugin) needs one
 *     replica per worker, summed when read, which does not exist yet.
 */
#ifndef included_upf_table_h
#define included_upf_table_h

#include <stdatomic.h>
#include "upf_rules.h"

#define UPF_MAX_READERS 64

typedef struct upf_session upf_session_t;

typedef struct
{
  uint32_t mask; /* n_slots - 1 */
  uint32_t n_used, n_tomb;
  upf_retired_t retire; /* writer only */
  _Atomic (upf_entry_t *) slots[];
} upf_slots_t;

typedef struct
{
  _Atomic (upf_slots_t *) cur;
  _Atomic uint64_t plen_set[3]; /* DL: prefix lengths present (bit plen) */
  uint32_t plen_count[129];     /* writer only */
} upf_table_t;

typedef struct
{
  _Atomic uint64_t epoch;
  _Atomic uint64_t reader[UPF_MAX_READERS]; /* 0 = outside, else epoch at enter */
  upf_retired_t *retired;                   /* writer only */
  uint64_t n_retired;
} upf_epoch_t;

/* Marker for a deleted slot. */
#define UPF_TOMBSTONE ((upf_entry_t *)(uintptr_t)1)

static inline uint64_t
upf_key_hash (const upf_key_t *k)
{
  uint64_t a, b, c;
  memcpy (&a, k->addr.b, 8);
  memcpy (&b, k->addr.b + 8, 8);
  c = ((uint64_t)k->id << 8) | k->plen;
  a ^= b * 0x9e3779b97f4a7c15ULL;
  a ^= c * 0xc2b2ae3d27d4eb4fULL;
  a ^= a >> 29;
  a *= 0xbf58476d1ce4e5b9ULL;
  a ^= a >> 32;
  return a;
}

/* Addresses compared and copied as two 8-byte words, the width the parsers and the key
 * builders store them with: a 16-byte load of two 8-byte stores just made cannot be
 * forwarded from the store buffer and waits for them (a stall of the order of 10 clocks). */
static inline int
upf_key_eq (const upf_key_t *a, const upf_key_t *b)
{
  return a->id == b->id && a->plen == b->plen
         && !((upf_ip_mword (&a->addr, 0) ^ upf_ip_mword (&b->addr, 0))
              | (upf_ip_mword (&a->addr, 1) ^ upf_ip_mword (&b->addr, 1)));
}

/* k->addr = a masked to plen bits, as two 8-byte words */
static inline void
upf_key_set_addr (upf_key_t *k, const upf_ip_t *a, unsigned plen)
{
  uint64_t w0 = upf_ip_mword (a, 0) & upf_plen_mask_mem (plen, 0);
  uint64_t w1 = upf_ip_mword (a, 1) & upf_plen_mask_mem (plen, 1);
  memcpy (k->addr.b, &w0, 8);
  memcpy (k->addr.b + 8, &w1, 8);
}

/*
 * Lookup in stages, so a vector of packets can hide the memory latency (VPP bihash shape):
 * hash the key, prefetch its bucket (upf_slots_prefetch), prefetch the entry the bucket
 * points to (upf_slots_prefetch_entry), then compare (upf_slots_find). One slot array is used
 * for all stages (upf_table_slots): a writer's rehash retires, never frees, the old one.
 */
static inline upf_slots_t *
upf_table_slots (upf_table_t *t)
{
  return atomic_load_explicit (&t->cur, memory_order_acquire);
}

static UPF_ALWAYS_INLINE void
upf_slots_prefetch (upf_slots_t *s, uint64_t h)
{
  __builtin_prefetch (&s->slots[(uint32_t)h & s->mask]);
}

/* Prefetch the entries of the key's probe sequence up to the first empty slot (at most 4:
 * at load <= 1/2 the sequence is short), so a collision does not cost a miss per probe. */
static UPF_ALWAYS_INLINE void
upf_slots_prefetch_entry (upf_slots_t *s, uint64_t h)
{
  uint32_t i = (uint32_t)h & s->mask;
  for (unsigned k = 0; k < 4; k++, i = (i + 1) & s->mask)
    {
      upf_entry_t *e = atomic_load_explicit (&s->slots[i], memory_order_acquire);
      if (!e)
        return;
      if (e != UPF_TOMBSTONE)
        __builtin_prefetch (e);
    }
}

static inline const upf_entry_t *
upf_slots_find (upf_slots_t *s, const upf_key_t *k, uint64_t h)
{
  uint32_t i = (uint32_t)h & s->mask;
  for (;;)
    {
      upf_entry_t *e = atomic_load_explicit (&s->slots[i], memory_order_acquire);
      if (!e)
        return 0;
      if (e != UPF_TOMBSTONE && upf_key_eq (&e->key, k))
        return e;
      i = (i + 1) & s->mask;
    }
}

static inline const upf_entry_t *
upf_table_find (upf_table_t *t, const upf_key_t *k)
{
  return upf_slots_find (upf_table_slots (t), k, upf_key_hash (k));
}

static inline upf_session_t *
upf_table_lookup_exact (upf_table_t *t, const upf_key_t *k)
{
  const upf_entry_t *e = upf_table_find (t, k);
  return e ? e->prog->session : 0;
}

static inline void
upf_ul_key (upf_key_t *k, const upf_ip_t *local_addr, uint32_t teid)
{
  upf_key_set_addr (k, local_addr, 128);
  k->id = teid;
  k->plen = 128;
  k->dl = 0;
  k->pdi_implied = k->gtpu_dl = 0;
}

static inline const upf_entry_t *
upf_ul_find (upf_table_t *t, const upf_ip_t *local_addr, uint32_t teid)
{
  upf_key_t k;
  upf_ul_key (&k, local_addr, teid);
  return upf_table_find (t, &k);
}

static inline upf_session_t *
upf_ul_lookup (upf_table_t *t, const upf_ip_t *local_addr, uint32_t teid)
{
  const upf_entry_t *e = upf_ul_find (t, local_addr, teid);
  return e ? e->prog->session : 0;
}

/* DL key of the longest prefix length present (the first probe of upf_dl_find); 0 if the
 * table holds no prefix of the address's family. */
static inline int
upf_dl_first_key (upf_table_t *t, uint16_t network_instance, const upf_ip_t *ue_addr, upf_key_t *k)
{
  int w, lowest = upf_ip_is4 (ue_addr) ? 96 : 0;
  for (w = 2; w >= 0; w--)
    {
      uint64_t bits = atomic_load_explicit (&t->plen_set[w], memory_order_acquire);
      if (bits)
        {
          int plen = w * 64 + 63 - __builtin_clzll (bits);
          if (plen < lowest)
            return 0;
          k->id = network_instance;
          k->dl = 1;
          k->pdi_implied = k->gtpu_dl = 0;
          upf_key_set_addr (k, ue_addr, (unsigned)plen);
          k->plen = (uint8_t)plen;
          return 1;
        }
    }
  return 0;
}

static inline const upf_entry_t *
upf_dl_find (upf_table_t *t, uint16_t network_instance, const upf_ip_t *ue_addr)
{
  upf_key_t k;
  int w, lowest = upf_ip_is4 (ue_addr) ? 96 : 0;
  k.id = network_instance;
  k.dl = 1;
  k.pdi_implied = k.gtpu_dl = 0;
  for (w = 2; w >= 0; w--)
    {
      uint64_t bits = atomic_load_explicit (&t->plen_set[w], memory_order_acquire);
      while (bits)
        {
          int plen = w * 64 + 63 - __builtin_clzll (bits);
          const upf_entry_t *s;
          bits &= ~(1ULL << (plen - w * 64));
          if (plen < lowest)
            return 0;
          upf_key_set_addr (&k, ue_addr, (unsigned)plen);
          k.plen = (uint8_t)plen;
          if ((s = upf_table_find (t, &k)))
            return s;
        }
    }
  return 0;
}

static inline upf_session_t *
upf_dl_lookup (upf_table_t *t, uint16_t network_instance, const upf_ip_t *ue_addr)
{
  const upf_entry_t *e = upf_dl_find (t, network_instance, ue_addr);
  return e ? e->prog->session : 0;
}

static inline void
upf_reader_enter (upf_epoch_t *ep, unsigned reader)
{
  atomic_store (&ep->reader[reader], atomic_load (&ep->epoch));
}

static inline void
upf_reader_exit (upf_epoch_t *ep, unsigned reader)
{
  atomic_store_explicit (&ep->reader[reader], 0, memory_order_release);
}

/* Writer side (upf_table.c). Only upf_table_init and upf_table_reserve allocate; the other
 * functions cannot fail once the caller has checked what they require. */
int upf_table_init (upf_table_t *t, uint32_t expected_entries);
void upf_table_free (upf_table_t *t);
/* Make room for n more entries (may move to a bigger slot array, retiring the old one).
 * 0 or -ENOMEM (nothing changed). */
int upf_table_reserve (upf_table_t *t, upf_epoch_t *ep, uint32_t n);
/* Entries belong to their program (upf_rules.h): the table neither allocates nor frees
 * them; whoever replaces or removes one retires its program afterwards. */
/* Insert e (its key absent from t, room reserved with upf_table_reserve). */
void upf_table_insert (upf_table_t *t, upf_entry_t *e);
/* Replace the entry with e's key by e. -ENOENT if absent. */
int upf_table_replace (upf_table_t *t, upf_entry_t *e);
/* Remove the entry of k. -ENOENT if absent. */
int upf_table_del (upf_table_t *t, const upf_key_t *k);
/* Hand r to fn once no reader can still see the object holding it. */
void upf_epoch_retire (upf_epoch_t *ep, upf_retired_t *r, unsigned (*fn) (upf_retired_t *));
/* Frees what no reader can still see; returns the number of objects freed (a program counts
 * with the table entries inside it). */
unsigned upf_epoch_reclaim (upf_epoch_t *ep);

#endif /* included_upf_table_h */
