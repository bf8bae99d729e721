/*
 * upf_session.c: writer-side session management (install / replace / delete a program),
 * DL buffer handling and time-driven URR/BAR work.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "upf_core.h"

#define UPF_DEFAULT_BUFFER_BYTES (64 * 1024)

int
upf_ctx_init (upf_ctx_t *ctx, uint32_t expected_sessions)
{
  memset (ctx, 0, sizeof (*ctx));
  atomic_store (&ctx->epoch.epoch, 1);
  if (upf_table_init (&ctx->ul, expected_sessions) < 0)
    return -ENOMEM;
  if (upf_table_init (&ctx->dl, expected_sessions) < 0)
    {
      upf_table_free (&ctx->ul);
      return -ENOMEM;
    }
  return 0;
}

void
upf_ctx_free (upf_ctx_t *ctx)
{
  while (ctx->sessions)
    upf_session_delete (ctx, ctx->sessions);
  for (unsigned i = 0; i < UPF_MAX_READERS; i++)
    atomic_store (&ctx->epoch.reader[i], 0);
  upf_epoch_reclaim (&ctx->epoch);
  upf_table_free (&ctx->ul);
  upf_table_free (&ctx->dl);
}

upf_session_t *
upf_session_create (upf_ctx_t *ctx, uint64_t seid)
{
  upf_session_t *s = calloc (1, sizeof (*s));
  if (!s)
    return 0;
  s->seid = seid;
  s->next = ctx->sessions;
  if (s->next)
    s->next->prev = s;
  ctx->sessions = s;
  return s;
}

/* Table keys a program needs: UL (F-TEID) for every PDR with a local F-TEID, DL (network
 * instance, UE IP prefix) for every non-access PDR with a UE IP address. */
typedef struct
{
  upf_key_t k;
  uint8_t dl;
} key_ref_t;

static unsigned
program_keys (const upf_program_t *p, key_ref_t *out)
{
  unsigned n = 0, i, j;
  if (!p)
    return 0;
  for (i = 0; i < p->n_pdr; i++)
    {
      const upf_pdr_t *r = &p->pdr[i];
      key_ref_t kr;
      memset (&kr, 0, sizeof (kr));
      if (r->pdi_flags & UPF_PDI_FTEID)
        {
          kr.k.addr = r->fteid_addr;
          kr.k.id = r->teid;
          kr.k.plen = 128;
          kr.dl = 0;
        }
      else if ((r->pdi_flags & UPF_PDI_UE_IP) && r->source_interface != UPF_IF_ACCESS)
        {
          kr.k.addr = r->ue_ip;
          upf_ip_mask (&kr.k.addr, r->ue_ip_plen);
          kr.k.id = r->network_instance;
          kr.k.plen = r->ue_ip_plen;
          kr.dl = 1;
        }
      else
        continue;
      for (j = 0; j < n; j++)
        if (out[j].dl == kr.dl && upf_key_eq (&out[j].k, &kr.k))
          break;
      if (j == n)
        out[n++] = kr;
    }
  return n;
}

static int
has_key (const key_ref_t *ks, unsigned n, const key_ref_t *k)
{
  for (unsigned i = 0; i < n; i++)
    if (ks[i].dl == k->dl && upf_key_eq (&ks[i].k, &k->k))
      return 1;
  return 0;
}

static void
retire_program (void *p)
{
  upf_program_free (p);
}

int
upf_session_install (upf_ctx_t *ctx, upf_session_t *s, upf_program_t *prog, char *err,
                     size_t errlen)
{
  upf_program_t *old = atomic_load (&s->prog);
  key_ref_t *nk, *ok;
  unsigned n_new, n_old, i, j;
  int rv = 0, needs_buffer = 0;

  if (prog->installed)
    {
      snprintf (err, errlen, "program already installed");
      return -EINVAL;
    }
  nk = calloc (UPF_MAX_PDR, sizeof (*nk));
  ok = calloc (UPF_MAX_PDR, sizeof (*ok));
  if (!nk || !ok)
    {
      free (nk);
      free (ok);
      snprintf (err, errlen, "out of memory");
      return -ENOMEM;
    }
  n_new = program_keys (prog, nk);
  n_old = program_keys (old, ok);

  /* 1. keys owned by another session: refuse before changing anything */
  for (i = 0; i < n_new; i++)
    {
      upf_session_t *o = nk[i].dl ? upf_table_lookup_exact (&ctx->dl, &nk[i].k)
                                  : upf_table_lookup_exact (&ctx->ul, &nk[i].k);
      if (o && o != s)
        {
          if (nk[i].dl)
            snprintf (err, errlen, "UE IP address already used by session 0x%llx",
                      (unsigned long long)o->seid);
          else
            snprintf (err, errlen, "F-TEID 0x%x already used by session 0x%llx", nk[i].k.id,
                      (unsigned long long)o->seid);
          rv = -EEXIST;
          goto done;
        }
    }

  /* 2. link mutable state objects by id (kept across programs), allocating new ones */
  for (i = 0; i < prog->n_urr; i++)
    {
      upf_urr_state_t *u;
      for (u = s->urr_states; u; u = u->next)
        if (u->urr_id == prog->urr[i].urr_id)
          break;
      if (!u)
        {
          u = calloc (1, sizeof (*u));
          if (!u)
            goto nomem;
          u->urr_id = prog->urr[i].urr_id;
          u->next = s->urr_states;
          s->urr_states = u;
        }
      else if (old)
        /* new threshold / quota values re-arm their one-shot events */
        for (j = 0; j < old->n_urr; j++)
          if (old->urr[j].urr_id == u->urr_id)
            {
              const upf_urr_t *a = &old->urr[j], *b = &prog->urr[i];
              if (memcmp (a->vol_threshold, b->vol_threshold, sizeof (a->vol_threshold))
                  || a->time_threshold_ns != b->time_threshold_ns)
                u->flags
                  &= ~(uint32_t)(UPF_URRS_THRESHOLD_REPORTED | UPF_URRS_TIME_THRESHOLD_REPORTED);
              if (memcmp (a->vol_quota, b->vol_quota, sizeof (a->vol_quota))
                  || a->time_quota_ns != b->time_quota_ns)
                u->flags &= ~(uint32_t)(UPF_URRS_QUOTA_EXHAUSTED | UPF_URRS_TIME_QUOTA_EXHAUSTED);
            }
      prog->urr_state[i] = u;
    }
  for (i = 0; i < prog->n_qer; i++)
    {
      upf_qer_state_t *q;
      for (q = s->qer_states; q; q = q->next)
        if (q->qer_id == prog->qer[i].qer_id)
          break;
      if (!q)
        {
          q = calloc (1, sizeof (*q));
          if (!q)
            goto nomem;
          q->qer_id = prog->qer[i].qer_id;
          q->next = s->qer_states;
          s->qer_states = q;
        }
      prog->qer_state[i] = q;
    }
  for (i = 0; i < prog->n_far; i++)
    if (prog->far[i].apply_action & (UPF_AA_BUFF | UPF_AA_NOCP))
      needs_buffer = 1;
  if (needs_buffer || prog->has_bar || s->buffer)
    {
      if (!s->buffer)
        {
          uint32_t cap
            = prog->has_bar && prog->bar.max_bytes ? prog->bar.max_bytes : UPF_DEFAULT_BUFFER_BYTES;
          upf_buffer_t *b = calloc (1, sizeof (*b));
          if (!b || !(b->data = malloc (cap)))
            {
              free (b);
              goto nomem;
            }
          b->cap_bytes = cap;
          s->buffer = b;
        }
      prog->buffer = s->buffer;
    }
  /* A changed buffering FAR re-arms the one-shot DL data report. */
  if (s->buffer && old)
    for (i = 0; i < prog->n_far; i++)
      for (j = 0; j < old->n_far; j++)
        if (old->far[j].far_id == prog->far[i].far_id
            && old->far[j].apply_action != prog->far[i].apply_action)
          s->buffer->report_sent = 0;

  /* 3. add new keys, publish, remove obsolete keys */
  for (i = 0; i < n_new; i++)
    if (!has_key (ok, n_old, &nk[i]))
      {
        int r = upf_table_add (nk[i].dl ? &ctx->dl : &ctx->ul, &ctx->epoch, &nk[i].k, s, prog);
        if (r < 0)
          {
            for (j = 0; j < i; j++)
              if (!has_key (ok, n_old, &nk[j]))
                upf_table_del (nk[j].dl ? &ctx->dl : &ctx->ul, &ctx->epoch, &nk[j].k);
            snprintf (err, errlen, "table insert failed (%d)", r);
            rv = r;
            goto done;
          }
      }
  /* keys kept from the old program: same entries, new program (allocation failures here
   * leave that key on the old program until the next install; reported, nothing lost) */
  for (i = 0; i < n_new; i++)
    if (has_key (ok, n_old, &nk[i]))
      if (upf_table_set_prog (nk[i].dl ? &ctx->dl : &ctx->ul, &ctx->epoch, &nk[i].k, prog) < 0)
        {
          snprintf (err, errlen, "out of memory while publishing");
          rv = -ENOMEM;
        }
  prog->installed = 1;
  prog->seid = s->seid;
  atomic_store_explicit (&s->prog, prog, memory_order_release);
  for (i = 0; i < n_old; i++)
    if (!has_key (nk, n_new, &ok[i]))
      upf_table_del (ok[i].dl ? &ctx->dl : &ctx->ul, &ctx->epoch, &ok[i].k);
  if (old)
    upf_epoch_retire (&ctx->epoch, retire_program, old);
  /* URR / QER state objects no longer referenced stay until the session is deleted, so a
   * later program reusing the id continues its counts and no reader can see them freed. */
done:
  free (nk);
  free (ok);
  return rv;
nomem:
  snprintf (err, errlen, "out of memory");
  rv = -ENOMEM;
  goto done;
}

typedef struct
{
  upf_urr_state_t *urr;
  upf_qer_state_t *qer;
  upf_buffer_t *buffer;
  upf_session_t *s;
} session_garbage_t;

static void
free_session_garbage (void *arg)
{
  session_garbage_t *g = arg;
  while (g->urr)
    {
      upf_urr_state_t *n = g->urr->next;
      free (g->urr);
      g->urr = n;
    }
  while (g->qer)
    {
      upf_qer_state_t *n = g->qer->next;
      free (g->qer);
      g->qer = n;
    }
  if (g->buffer)
    free (g->buffer->data);
  free (g->buffer);
  free (g->s);
  free (g);
}

void
upf_session_delete (upf_ctx_t *ctx, upf_session_t *s)
{
  upf_program_t *old = atomic_load (&s->prog);
  key_ref_t *ok = calloc (UPF_MAX_PDR, sizeof (*ok));
  session_garbage_t *g = calloc (1, sizeof (*g));
  unsigned n_old, i;
  if (s->prev)
    s->prev->next = s->next;
  else
    ctx->sessions = s->next;
  if (s->next)
    s->next->prev = s->prev;
  if (ok)
    {
      n_old = program_keys (old, ok);
      for (i = 0; i < n_old; i++)
        upf_table_del (ok[i].dl ? &ctx->dl : &ctx->ul, &ctx->epoch, &ok[i].k);
      free (ok);
    }
  atomic_store (&s->prog, 0);
  if (old)
    upf_epoch_retire (&ctx->epoch, retire_program, old);
  if (g)
    {
      g->urr = s->urr_states;
      g->qer = s->qer_states;
      g->buffer = s->buffer;
      g->s = s;
      upf_epoch_retire (&ctx->epoch, free_session_garbage, g);
    }
}

int
upf_buffer_store (upf_session_t *s, const uint8_t *pkt, uint32_t len, uint64_t now_ns)
{
  upf_buffer_t *b = s->buffer;
  if (!b || b->n_pkts >= UPF_BUFFER_MAX_PKTS || b->used_bytes + len > b->cap_bytes)
    {
      if (b)
        b->dropped_pkts++;
      return -ENOSPC;
    }
  if (!b->n_pkts)
    b->first_ns = now_ns;
  memcpy (b->data + b->used_bytes, pkt, len);
  b->pkts[b->n_pkts].offset = b->used_bytes;
  b->pkts[b->n_pkts].len = len;
  b->n_pkts++;
  b->used_bytes += len;
  return 0;
}

unsigned
upf_buffer_flush (upf_session_t *s, upf_buffer_cb_t cb, void *arg)
{
  upf_buffer_t *b = s->buffer;
  unsigned n, i;
  if (!b)
    return 0;
  n = b->n_pkts;
  /* Empty first: cb may re-run upf_dl_process, which may buffer again. Packets are copied to
   * a scratch area so re-buffering cannot overwrite what is still being flushed. */
  if (n)
    {
      uint8_t *tmp = malloc (b->used_bytes ? b->used_bytes : 1);
      upf_buffered_t idx[UPF_BUFFER_MAX_PKTS];
      if (!tmp)
        return 0;
      memcpy (tmp, b->data, b->used_bytes);
      memcpy (idx, b->pkts, n * sizeof (idx[0]));
      b->n_pkts = 0;
      b->used_bytes = 0;
      b->first_ns = 0;
      for (i = 0; i < n; i++)
        cb (arg, tmp + idx[i].offset, idx[i].len);
      free (tmp);
    }
  return n;
}

unsigned
upf_buffer_drop (upf_session_t *s)
{
  upf_buffer_t *b = s->buffer;
  unsigned n;
  if (!b)
    return 0;
  n = b->n_pkts;
  b->dropped_pkts += n;
  b->n_pkts = 0;
  b->used_bytes = 0;
  b->first_ns = 0;
  return n;
}

unsigned
upf_session_tick (upf_ctx_t *ctx, upf_session_t *s, uint64_t now_ns, upf_event_t *ev,
                  unsigned max_ev)
{
  upf_program_t *p = atomic_load (&s->prog);
  unsigned n = 0, i;
  (void)ctx;
  if (!p)
    return 0;
#define EMIT(t, i_, v_)                                                                            \
  do                                                                                               \
    {                                                                                              \
      if (n < max_ev)                                                                              \
        {                                                                                          \
          ev[n].type = (t);                                                                        \
          ev[n].id = (i_);                                                                         \
          ev[n].seid = s->seid;                                                                    \
          ev[n].value = (v_);                                                                      \
          n++;                                                                                     \
        }                                                                                          \
    }                                                                                              \
  while (0)
  for (i = 0; i < p->n_urr; i++)
    {
      const upf_urr_t *r = &p->urr[i];
      upf_urr_state_t *u = p->urr_state[i];
      uint64_t start = u->start_ns ? u->start_ns : u->first_ns;
      if (!start || now_ns < start)
        continue;
      if ((r->triggers & UPF_URR_T_TIMTH) && r->time_threshold_ns
          && !(u->flags & UPF_URRS_TIME_THRESHOLD_REPORTED)
          && now_ns - start >= r->time_threshold_ns)
        {
          u->flags |= UPF_URRS_TIME_THRESHOLD_REPORTED;
          EMIT (UPF_EV_TIME_THRESHOLD, r->urr_id, now_ns - start);
        }
      if ((r->triggers & UPF_URR_T_TIMQU) && r->time_quota_ns
          && !(u->flags & UPF_URRS_TIME_QUOTA_EXHAUSTED) && now_ns - start >= r->time_quota_ns)
        {
          u->flags |= UPF_URRS_TIME_QUOTA_EXHAUSTED;
          EMIT (UPF_EV_TIME_QUOTA, r->urr_id, now_ns - start);
        }
    }
  if (p->buffer && p->buffer->n_pkts && p->has_bar && p->bar.duration_ns && p->buffer->first_ns
      && now_ns - p->buffer->first_ns >= p->bar.duration_ns)
    {
      unsigned d = upf_buffer_drop (s);
      EMIT (UPF_EV_BUFFER_EXPIRED, p->bar.bar_id, d);
    }
#undef EMIT
  return n;
}

int
upf_session_read_urr (upf_session_t *s, uint32_t urr_id, upf_usage_t *out, int reset,
                      uint64_t now_ns)
{
  upf_urr_state_t *u;
  for (u = s->urr_states; u; u = u->next)
    if (u->urr_id == urr_id)
      break;
  if (!u)
    return -ENOENT;
  out->urr_id = u->urr_id;
  out->flags = u->flags;
  memcpy (out->bytes, u->bytes, sizeof (out->bytes));
  memcpy (out->pkts, u->pkts, sizeof (out->pkts));
  out->dropped_dl_pkts = u->dropped_dl_pkts;
  out->dropped_dl_bytes = u->dropped_dl_bytes;
  out->first_ns = u->first_ns;
  out->last_ns = u->last_ns;
  out->start_ns = u->start_ns;
  if (reset)
    {
      /* New measurement period: quota-exhausted stays until the CP installs a new quota
       * (a program replacing this URR clears it through upf_session_install). */
      memset (u->bytes, 0, sizeof (u->bytes));
      memset (u->pkts, 0, sizeof (u->pkts));
      u->dropped_dl_pkts = u->dropped_dl_bytes = 0;
      u->first_ns = u->last_ns = 0;
      u->start_ns = now_ns;
      u->flags &= ~(uint32_t)(UPF_URRS_THRESHOLD_REPORTED | UPF_URRS_TIME_THRESHOLD_REPORTED);
    }
  return 0;
}
