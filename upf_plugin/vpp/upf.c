/* SPDX-License-Identifier: Apache-2.0 */

/*
 * upf.c: plugin registration, the main thread's writer side (sessions, network instances,
 * interface roles), events towards API clients and the plugin's process node (epoch
 * reclamation, time-driven URR/BAR work, event delivery).
 */
#include <vnet/plugin/plugin.h>
#include <vnet/fib/fib_table.h>
#include <vnet/udp/udp_local.h>
#include <vnet/feature/feature.h>
#include <vlib/threads.h>

#include "upf.h"
#include <upf_corelib.h>

upf_main_t upf_main;

#define UPF_EVENTS_PER_THREAD_MAX 65536
#define UPF_TICK_NS (100 * 1000000ULL)

/* Usage snapshot of every URR of the session's current program. */
static void
upf_usage_all (upf_vpp_session_t *vs, u32 *only_not_in, u32 n_keep, int reset, u64 now,
               upf_usage_t **usage)
{
  upf_program_t *p = atomic_load (&vs->core->prog);
  u32 i, k;
  if (!p)
    return;
  for (i = 0; i < p->n_urr; i++)
    {
      u32 id = p->urr[i].urr_id;
      upf_usage_t u;
      if (only_not_in)
        {
          for (k = 0; k < n_keep && only_not_in[k] != id; k++)
            ;
          if (k < n_keep)
            continue;
        }
      if (upf_session_read_urr (vs->core, id, &u, reset, now) == 0)
        vec_add1 (*usage, u);
    }
}

static int
upf_desc_may_tick (const upf_program_desc_t *d)
{
  u32 i;
  if (d->bar && d->bar->duration_ns)
    return 1;
  for (i = 0; i < d->n_urr; i++)
    if (d->urr[i].triggers & (UPF_URR_T_TIMTH | UPF_URR_T_TIMQU))
      return 1;
  return 0;
}

int
upf_send_ip (vlib_main_t *vm, const u8 *bytes, u32 len, u32 fib_index)
{
  u32 bi;
  vlib_buffer_t *b;
  vlib_frame_t *f;
  u32 *to_next;
  int is_ip6 = (bytes[0] >> 4) == 6;
  u32 node_index = is_ip6 ? ip6_lookup_node.index : ip4_lookup_node.index;
  if (len > vlib_buffer_get_default_data_size (vm) || vlib_buffer_alloc (vm, &bi, 1) != 1)
    return -1;
  b = vlib_get_buffer (vm, bi);
  clib_memcpy_fast (vlib_buffer_get_current (b), bytes, len);
  b->current_length = len;
  vnet_buffer (b)->sw_if_index[VLIB_RX] = 0;
  vnet_buffer (b)->sw_if_index[VLIB_TX] = fib_index;
  b->flags |= VNET_BUFFER_F_LOCALLY_ORIGINATED;
  f = vlib_get_frame_to_node (vm, node_index);
  to_next = vlib_frame_vector_args (f);
  to_next[0] = bi;
  f->n_vectors = 1;
  vlib_put_frame_to_node (vm, node_index, f);
  return 0;
}

int
upf_gtpu_echo_send (vlib_main_t *vm, const upf_ip_t *src, const upf_ip_t *dst, u16 seq)
{
  /* TS 29.281 5.1, 7.2.1: version 1, PT 1, S 1; type 1; length 4; TEID 0; sequence number,
   * N-PDU number 0, next extension header type 0 */
  u8 msg[12] = { 0x32, UPF_GTPU_ECHO_REQUEST, 0, 4, 0, 0, 0, 0, seq >> 8, seq & 0xff, 0, 0 };
  u8 pkt[64];
  u32 hl;
  if (upf_ip_is4 (src) != upf_ip_is4 (dst))
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
  hl = upf_build_ip_udp (pkt, src, dst, UPF_GTPU_PORT, UPF_GTPU_PORT, msg, sizeof (msg));
  if (!hl)
    return VNET_API_ERROR_INVALID_VALUE;
  clib_memcpy_fast (pkt + hl, msg, sizeof (msg));
  return upf_send_ip (vm, pkt, hl + sizeof (msg), 0) ? VNET_API_ERROR_UNSPECIFIED : 0;
}

/* End Markers (TS 29.281 7.3.2) to the old peer of every GTP-U FAR whose path changes to
 * another GTP-U path (SNDEM is an Update Forwarding Parameters flag: a FAR removed, or no
 * longer creating a GTP-U header, gets none). */
static void
upf_send_end_markers (vlib_main_t *vm, upf_far_path_t *old, upf_far_path_t *new)
{
  upf_far_path_t *o, *n;
  u8 pkt[128];
  vec_foreach (o, old)
  {
    int changed = 0;
    u32 len, fib;
    vec_foreach (n, new) if (n->far_id == o->far_id)
    {
      changed = n->teid != o->teid || memcmp (&n->peer, &o->peer, sizeof (o->peer));
      break;
    }
    if (!changed)
      continue;
    len = upfcore_build_end_marker (&o->src, &o->peer, o->teid, o->with_psc, 0, pkt, sizeof (pkt));
    fib = upf_nwi_fib_index (o->network_instance, !upf_ip_is4 (&o->peer));
    if (len && fib != ~0)
      upf_send_ip (vm, pkt, len, fib);
  }
}

typedef struct
{
  vlib_main_t *vm;
  u16 nwi;
  u32 sent;
} upf_flush_ctx_t;

/* A buffered DL packet re-run through the program now in force (main thread, workers held
 * at the barrier: it is the only thread touching the session's state): an N6 packet (local
 * NULL) through the N6 path, a G-PDU's GTP-U message through the GTP-U input on the address it
 * came to (an I-UPF's N9 downlink: classified by its F-TEID again). */
static void
upf_flush_one (void *arg, const uint8_t *pkt, uint32_t len, const upf_ip_t *local)
{
  upf_flush_ctx_t *fc = arg;
  upf_main_t *um = &upf_main;
  upf_verdict_t v;
  u8 out[2048];
  u64 now = upf_now_ns (fc->vm);
  u32 n = local ? upfcore_ul_gtpu_packet (&um->ctx, local, pkt, len, now, &v, out, sizeof (out))
                : upfcore_dl_packet (&um->ctx, fc->nwi, pkt, len, now, &v, out, sizeof (out));
  u32 k;
  for (k = 0; k < v.n_events; k++)
    upf_event_post (&um->per_thread[0], &v.events[k], upf_now_ns (fc->vm));
  if (n && v.verdict == UPF_VERDICT_FORWARD)
    {
      u32 fib = upf_nwi_fib_index (v.network_instance, (out[0] >> 4) == 6);
      if (fib != ~0)
        {
          upf_send_ip (fc->vm, out, n, fib);
          fc->sent++;
        }
    }
}

/* The network instance the session's DL buffer is flushed in (its packets classified as N6
 * downlink): the first N6 PDR's (not Access, a UE IP, no local F-TEID); 0 without one. */
static u16
upf_desc_dl_nwi (const upf_program_desc_t *d)
{
  u32 i;
  for (i = 0; i < d->n_pdr; i++)
    if (d->pdr[i].source_interface != UPF_IF_ACCESS && (d->pdr[i].pdi_flags & UPF_PDI_UE_IP)
        && !(d->pdr[i].pdi_flags & UPF_PDI_FTEID))
      return d->pdr[i].network_instance;
  return 0;
}

int
upf_vpp_session_apply (upf_session_req_t *req, upf_usage_t **usage, char *err, size_t errlen)
{
  upf_main_t *um = &upf_main;
  vlib_main_t *vm = vlib_get_main ();
  upf_vpp_session_t *vs = upf_session_get (req->seid);
  u64 now = upf_now_ns (vm);
  int rv;

  err[0] = 0;
  if (req->op == 2) /* DELETE */
    {
      if (!vs)
        {
          snprintf (err, errlen, "no session with SEID 0x%llx", (unsigned long long)req->seid);
          return VNET_API_ERROR_NO_SUCH_ENTRY;
        }
      /* the final counts: no packet thread may count in between */
      vlib_worker_thread_barrier_sync (vm);
      upf_usage_all (vs, 0, 0, 0, now, usage);
      upf_session_delete (&um->ctx, vs->core);
      vlib_worker_thread_barrier_release (vm);
      if (vs->may_tick)
        um->n_tick_sessions--;
      hash_unset (um->session_by_seid, vs->seid);
      vec_free (vs->paths);
      pool_put (um->sessions, vs);
      vec_free (req->paths);
      return 0;
    }

  if (req->op == 0 && vs)
    {
      snprintf (err, errlen, "SEID 0x%llx exists", (unsigned long long)req->seid);
      return VNET_API_ERROR_ENTRY_ALREADY_EXISTS;
    }
  if (req->op == 1 && !vs)
    {
      snprintf (err, errlen, "no session with SEID 0x%llx", (unsigned long long)req->seid);
      return VNET_API_ERROR_NO_SUCH_ENTRY;
    }

  if (!vs)
    {
      upf_session_t *s = upf_session_create (&um->ctx, req->seid);
      if (!s)
        {
          snprintf (err, errlen, "out of memory");
          return VNET_API_ERROR_TABLE_TOO_BIG;
        }
      rv = upfcore_session_install (&um->ctx, s, &req->desc, err, errlen);
      if (rv < 0)
        {
          upf_session_delete (&um->ctx, s);
          return rv == -ENOMEM ? VNET_API_ERROR_TABLE_TOO_BIG : VNET_API_ERROR_INVALID_VALUE;
        }
      pool_get_zero (um->sessions, vs);
      vs->seid = req->seid;
      vs->core = s;
      hash_set (um->session_by_seid, req->seid, vs - um->sessions);
    }
  else
    {
      u32 keep[UPF_MAX_PDR], n_keep = 0, i;
      int drops_urr = 0, flushes, sync;
      upf_program_t *old = atomic_load (&vs->core->prog);
      for (i = 0; i < req->desc.n_urr && n_keep < UPF_MAX_PDR; i++)
        keep[n_keep++] = req->desc.urr[i].urr_id;
      if (old)
        for (i = 0; i < old->n_urr; i++)
          {
            u32 k;
            for (k = 0; k < n_keep && keep[k] != old->urr[i].urr_id; k++)
              ;
            drops_urr |= k == n_keep;
          }
      /* A modification that ends URRs (their final counts), flushes the DL buffer
       * (upf_session_flushes: a PDR that buffers in force no longer buffers, however many
       * packets the buffer holds before the barrier: the worker may store one more),
       * re-arms a mark the session's worker also sets or whose re-arm its packets could
       * change (upf_session_rearms: new thresholds, a new volume quota, the same quota in
       * a state the next packet changes), or re-arms the DL data report while a FAR in
       * force notifies the CP (upf_session_rearms_report: a FAR's apply action changed, or
       * a notified PDR moved or removed) holds the workers; every other one is published
       * without stopping them. */
      flushes = upf_session_flushes (vs->core, &req->desc);
      sync = drops_urr || flushes || upf_session_rearms (vs->core, req->desc.urr, req->desc.n_urr)
             || upf_session_rearms_report (vs->core, &req->desc);
      if (sync)
        vlib_worker_thread_barrier_sync (vm);
      if (drops_urr)
        upf_usage_all (vs, keep, n_keep, 0, now, usage);
      rv = upfcore_session_install (&um->ctx, vs->core, &req->desc, err, errlen);
      if (rv == 0 && flushes)
        {
          upf_flush_ctx_t fc = { .vm = vm, .nwi = upf_desc_dl_nwi (&req->desc) };
          upf_buffer_flush (vs->core, upf_flush_one, &fc);
        }
      if (sync)
        vlib_worker_thread_barrier_release (vm);
      if (rv < 0)
        {
          vec_reset_length (*usage);
          return rv == -ENOMEM ? VNET_API_ERROR_TABLE_TOO_BIG : VNET_API_ERROR_INVALID_VALUE;
        }
      if (req->send_end_marker)
        upf_send_end_markers (vm, vs->paths, req->paths);
      if (vs->may_tick)
        um->n_tick_sessions--;
    }
  vec_free (vs->paths);
  vs->paths = req->paths;
  req->paths = 0;
  vs->cookie = req->cookie;
  vs->n_pdr = req->desc.n_pdr;
  vs->n_far = req->desc.n_far;
  vs->n_qer = req->desc.n_qer;
  vs->n_urr = req->desc.n_urr;
  vs->n_sdf = req->desc.n_sdf;
  vs->n_dupl = req->desc.n_dupl;
  vs->has_bar = req->desc.bar != 0;
  vs->may_tick = upf_desc_may_tick (&req->desc);
  if (vs->may_tick)
    um->n_tick_sessions++;
  return 0;
}

/* Every URR of a session as it stands, without holding the workers (upf_session_usage_dump). */
void
upf_session_peek_usage (upf_vpp_session_t *vs, upf_usage_t **usage)
{
  upf_usage_all (vs, 0, 0, 0, 0, usage);
}

/* Counter reads and resets hold the workers: the session's owner writes the counters. */
int
upf_session_read_usage (u64 seid, u32 urr_id, int reset, upf_usage_t **usage)
{
  vlib_main_t *vm = vlib_get_main ();
  upf_vpp_session_t *vs = upf_session_get (seid);
  upf_usage_t u;
  int rv = 0;
  if (!vs)
    return VNET_API_ERROR_NO_SUCH_ENTRY;
  vlib_worker_thread_barrier_sync (vm);
  if (urr_id == 0)
    upf_usage_all (vs, 0, 0, reset, upf_now_ns (vm), usage);
  else if (upf_session_read_urr (vs->core, urr_id, &u, reset, upf_now_ns (vm)) == 0)
    vec_add1 (*usage, u);
  else
    rv = VNET_API_ERROR_NO_SUCH_ENTRY;
  vlib_worker_thread_barrier_release (vm);
  return rv;
}

int
upf_session_drop_buffered (u64 seid, u32 *n_dropped)
{
  vlib_main_t *vm = vlib_get_main ();
  upf_vpp_session_t *vs = upf_session_get (seid);
  if (!vs)
    return VNET_API_ERROR_NO_SUCH_ENTRY;
  vlib_worker_thread_barrier_sync (vm);
  *n_dropped = upf_buffer_drop (vs->core);
  vlib_worker_thread_barrier_release (vm);
  return 0;
}

int
upf_session_rearm_dl_report (u64 seid, u32 pdr_id, u8 qfi, int *rearmed)
{
  vlib_main_t *vm = vlib_get_main ();
  upf_vpp_session_t *vs = upf_session_get (seid);
  if (!vs)
    return VNET_API_ERROR_NO_SUCH_ENTRY;
  /* the worker owning the session writes the reports raised (upf_buffer_report) */
  vlib_worker_thread_barrier_sync (vm);
  *rearmed = upf_buffer_rearm_report (vs->core, pdr_id, qfi);
  vlib_worker_thread_barrier_release (vm);
  return 0;
}

int
upf_nwi_add_del (u16 nwi, u32 ip4_table_id, u32 ip6_table_id, int is_add)
{
  upf_main_t *um = &upf_main;
  upf_nwi_t *n;
  if (!is_add)
    {
      if (nwi >= vec_len (um->nwis) || !um->nwis[nwi].in_use)
        return VNET_API_ERROR_NO_SUCH_ENTRY;
      n = &um->nwis[nwi];
      fib_table_unlock (n->fib_index[0], FIB_PROTOCOL_IP4, um->fib_src);
      fib_table_unlock (n->fib_index[1], FIB_PROTOCOL_IP6, um->fib_src);
      clib_memset (n, 0, sizeof (*n));
      return 0;
    }
  vec_validate (um->nwis, nwi);
  n = &um->nwis[nwi];
  if (n->in_use)
    {
      fib_table_unlock (n->fib_index[0], FIB_PROTOCOL_IP4, um->fib_src);
      fib_table_unlock (n->fib_index[1], FIB_PROTOCOL_IP6, um->fib_src);
    }
  n->in_use = 1;
  n->ip4_table_id = ip4_table_id;
  n->ip6_table_id = ip6_table_id;
  n->fib_index[0] = fib_table_find_or_create_and_lock (FIB_PROTOCOL_IP4, ip4_table_id, um->fib_src);
  n->fib_index[1] = fib_table_find_or_create_and_lock (FIB_PROTOCOL_IP6, ip6_table_id, um->fib_src);
  return 0;
}

/* The N6 feature: the input nodes, or with workers the handoff nodes in front of them. */
static void
upf_n6_feature (u32 sw_if_index, int enable)
{
  int h = vlib_num_workers () > 0;
  vnet_feature_enable_disable ("ip4-unicast", h ? "upf-n6-ip4-handoff" : "upf-n6-ip4-input",
                               sw_if_index, enable, 0, 0);
  vnet_feature_enable_disable ("ip6-unicast", h ? "upf-n6-ip6-handoff" : "upf-n6-ip6-input",
                               sw_if_index, enable, 0, 0);
}

int
upf_interface_add_del (u32 sw_if_index, upf_role_t role, u16 nwi, int is_add)
{
  upf_main_t *um = &upf_main;
  vnet_main_t *vnm = vnet_get_main ();
  upf_interface_t *it;
  u32 *idx;
  if (role >= UPF_ROLE_N)
    return VNET_API_ERROR_INVALID_VALUE;
  if (!vnet_sw_interface_is_valid (vnm, sw_if_index))
    return VNET_API_ERROR_INVALID_SW_IF_INDEX;
  vec_validate_init_empty (um->interface_by_sw_if_index[role], sw_if_index, 0);
  idx = &um->interface_by_sw_if_index[role][sw_if_index];
  if (!is_add)
    {
      if (!*idx)
        return VNET_API_ERROR_NO_SUCH_ENTRY;
      if (role == UPF_ROLE_N6)
        upf_n6_feature (sw_if_index, 0);
      pool_put_index (um->interfaces, *idx - 1);
      *idx = 0;
      return 0;
    }
  if (*idx)
    it = pool_elt_at_index (um->interfaces, *idx - 1);
  else
    {
      pool_get_zero (um->interfaces, it);
      *idx = it - um->interfaces + 1;
      if (role == UPF_ROLE_N6)
        upf_n6_feature (sw_if_index, 1);
    }
  it->sw_if_index = sw_if_index;
  it->role = role;
  it->network_instance = nwi;
  return 0;
}

void
upf_counters_sum (upf_stats_t *out, u64 *events_lost)
{
  upf_main_t *um = &upf_main;
  upf_per_thread_t *ptd;
  u32 i;
  /* the main thread's buffer flushes count into the context's own block */
  *out = um->ctx.stats;
  *events_lost = 0;
  vec_foreach (ptd, um->per_thread)
  {
    out->rx_pkts[0] += ptd->stats.rx_pkts[0];
    out->rx_pkts[1] += ptd->stats.rx_pkts[1];
    for (i = 0; i < UPF_MALFORMED_N_REASONS; i++)
      out->malformed[i] += ptd->stats.malformed[i];
    for (i = 0; i < UPF_DROP_N_REASONS; i++)
      out->drops[i] += ptd->stats.drops[i];
    out->events_deferred += ptd->stats.events_deferred;
    *events_lost += ptd->events_lost;
  }
}

/* Packet threads queue events; the process node hands them to the API clients. */
void
upf_event_post (upf_per_thread_t *ptd, const upf_event_t *ev, u64 now_ns)
{
  upf_event_rec_t *r;
  clib_spinlock_lock (&ptd->lock);
  if (vec_len (ptd->events) >= UPF_EVENTS_PER_THREAD_MAX)
    ptd->events_lost++;
  else
    {
      vec_add2 (ptd->events, r, 1);
      r->ev = *ev;
      r->time_ns = now_ns;
    }
  clib_spinlock_unlock (&ptd->lock);
}

/* upf_api.c: sends a batch to every subscriber (main thread). */
void upf_api_send_events (upf_event_rec_t *recs);

void
upf_events_deliver (vlib_main_t *vm)
{
  upf_main_t *um = &upf_main;
  upf_per_thread_t *ptd;
  upf_event_rec_t *all = 0, *mine;
  vec_foreach (ptd, um->per_thread)
  {
    if (!vec_len (ptd->events))
      continue;
    clib_spinlock_lock (&ptd->lock);
    mine = ptd->events;
    ptd->events = 0;
    clib_spinlock_unlock (&ptd->lock);
    vec_append (all, mine);
    vec_free (mine);
  }
  if (vec_len (all))
    {
      um->events_sent += vec_len (all);
      upf_api_send_events (all);
    }
  vec_free (all);
}

/* Time-driven work (URR time thresholds/quotas, BAR buffering duration), workers held. */
static void
upf_tick (vlib_main_t *vm)
{
  upf_main_t *um = &upf_main;
  upf_vpp_session_t *vs;
  upf_event_t ev[8];
  u64 now = upf_now_ns (vm);
  u32 n, k;
  /* the tick writes type, id, seid and value: its events keep no GTP-U Peer Address */
  clib_memset (ev, 0, sizeof (ev));
  vlib_worker_thread_barrier_sync (vm);
  pool_foreach (vs, um->sessions)
  {
    if (!vs->may_tick && !(vs->core->buffer && vs->core->buffer->n_pkts))
      continue;
    n = upf_session_tick (&um->ctx, vs->core, now, ev, ARRAY_LEN (ev));
    for (k = 0; k < n; k++)
      upf_event_post (&um->per_thread[0], &ev[k], now);
  }
  vlib_worker_thread_barrier_release (vm);
}

static void
upf_start (vlib_main_t *vm)
{
  upf_main_t *um = &upf_main;
  um->n_workers = vlib_num_workers ();
  um->first_worker = 1;
  vlib_worker_thread_barrier_sync (vm);
  if (um->n_workers)
    {
      um->fq_gtpu4 = vlib_frame_queue_main_init (upf_gtpu4_input_node.index, 0);
      um->fq_gtpu6 = vlib_frame_queue_main_init (upf_gtpu6_input_node.index, 0);
      um->fq_n6_ip4 = vlib_frame_queue_main_init (upf_n6_ip4_input_node.index, 0);
      um->fq_n6_ip6 = vlib_frame_queue_main_init (upf_n6_ip6_input_node.index, 0);
    }
  /* GTP-U on UDP 2152 of every local address: straight to the input node with one
   * thread, through the handoff node to the session's owner with workers. */
  udp_register_dst_port (vm, UDP_DST_PORT_GTPU,
                         um->n_workers ? upf_gtpu4_handoff_node.index : upf_gtpu4_input_node.index,
                         1);
  udp_register_dst_port (vm, UDP_DST_PORT_GTPU6,
                         um->n_workers ? upf_gtpu6_handoff_node.index : upf_gtpu6_input_node.index,
                         0);
  um->udp_ports_registered = 1;
  vlib_worker_thread_barrier_release (vm);
}

static uword
upf_process (vlib_main_t *vm, vlib_node_runtime_t *rt, vlib_frame_t *f)
{
  upf_main_t *um = &upf_main;
  u64 last_tick = 0;
  upf_start (vm);
  while (1)
    {
      u64 now;
      vlib_process_wait_for_event_or_clock (vm, 10e-3);
      vlib_process_get_events (vm, 0);
      upf_epoch_reclaim (&um->ctx.epoch);
      now = upf_now_ns (vm);
      if (um->n_tick_sessions && now - last_tick >= UPF_TICK_NS)
        {
          last_tick = now;
          upf_tick (vm);
        }
      upf_events_deliver (vm);
    }
  return 0;
}

VLIB_REGISTER_NODE (upf_process_node) = {
  .function = upf_process,
  .type = VLIB_NODE_TYPE_PROCESS,
  .name = "upf-process",
};

static clib_error_t *
upf_init (vlib_main_t *vm)
{
  upf_main_t *um = &upf_main;
  upf_per_thread_t *ptd;
  um->vlib_main = vm;
  um->vnet_main = vnet_get_main ();
  if (upf_ctx_init (&um->ctx, 1024) < 0)
    return clib_error_return (0, "upf: out of memory");
  um->session_by_seid = hash_create (0, sizeof (uword));
  /* The threads configured (vlib_thread_init ran before the init functions): the workers
   * are started only after them, so vlib_get_n_threads () is still 1 here. */
  u32 n_threads = vlib_thread_main.n_vlib_mains;
  if (n_threads > UPF_MAX_READERS)
    return clib_error_return (0, "upf: at most %u threads", UPF_MAX_READERS);
  vec_validate_aligned (um->per_thread, n_threads - 1, CLIB_CACHE_LINE_BYTES);
  vec_foreach (ptd, um->per_thread)
  {
    clib_spinlock_init (&ptd->lock);
    vec_validate (ptd->verdicts, VLIB_FRAME_SIZE - 1);
  }
  um->fib_src = fib_source_allocate ("upf", FIB_SOURCE_PRIORITY_HI, FIB_SOURCE_BH_SIMPLE);
  return 0;
}

VLIB_INIT_FUNCTION (upf_init) = {
  .runs_after = VLIB_INITS ("ip_main_init", "udp_local_init"),
};

VLIB_PLUGIN_REGISTER () = {
  .version = UPF_PLUGIN_VERSION_STRING,
  .description = "5G User Plane Function (UPF): PFCP sessions, GTP-U, N3/N6/N9",
};
