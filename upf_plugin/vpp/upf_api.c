/* SPDX-License-Identifier: Apache-2.0 */

/*
 * upf_api.c: the binary API (upf.api). Decodes a session program's tagged rules into the
 * core's install structures (upf_program_desc_t) and hands them to the writer (upf.c);
 * dumps, counters, interface and network instance bindings, event subscriptions.
 */
#include <vlibapi/api.h>
#include <vlibmemory/api.h>
#include <vnet/ip/ip_types_api.h>
#include <vnet/format_fns.h>

#include "upf.h"

#include <upf.api_enum.h>
#include <upf.api_types.h>

#define REPLY_MSG_ID_BASE upf_main.msg_id_base
#include <vlibapi/api_helper_macros.h>

static void
upf_api_addr (const vl_api_address_t *a, upf_ip_t *out)
{
  if (a->af == ADDRESS_IP6)
    clib_memcpy (out->b, a->un.ip6, 16);
  else
    *out = upf_ip4_from_bytes (a->un.ip4);
}

/* An API prefix as the core has it: 128-bit space (IPv4 /24 = 120, IPv4 /0 = 96: any IPv4
 * address). Length 0 is "any address of any family" (core plen 0) unless explicit. */
static int
upf_api_prefix (const vl_api_prefix_t *p, int explicit, upf_ip_t *addr, u8 *plen)
{
  int v6 = p->address.af == ADDRESS_IP6;
  if (p->len > (v6 ? 128 : 32))
    return -1;
  upf_api_addr (&p->address, addr);
  *plen = p->len == 0 && !explicit ? 0 : (u8)(v6 ? p->len : p->len + 96);
  return 0;
}

static void
upf_api_pdr (const vl_api_upf_pdr_t *a, upf_pdr_t *r)
{
  u32 k;
  clib_memset (r, 0, sizeof (*r));
  r->pdr_id = a->pdr_id;
  r->precedence = a->precedence;
  r->source_interface = a->source_interface;
  r->outer_header_removal = a->outer_header_removal;
  r->network_instance = a->network_instance;
  r->far_id = a->far_id;
  for (k = 0; k < UPF_MAX_QER_PER_PDR; k++)
    r->qer_id[k] = a->qer_ids[k];
  for (k = 0; k < UPF_MAX_URR_PER_PDR; k++)
    r->urr_id[k] = a->urr_ids[k];
  r->sdf_first = a->sdf_first;
  r->sdf_count = a->sdf_count;
  if (a->has_fteid)
    {
      r->pdi_flags |= UPF_PDI_FTEID;
      r->teid = a->teid;
      upf_api_addr (&a->fteid_addr, &r->fteid_addr);
    }
  if (a->has_qfi)
    {
      r->pdi_flags |= UPF_PDI_QFI;
      r->qfi = a->qfi;
    }
}

static void
upf_api_far (const vl_api_upf_far_t *a, upf_far_t *r)
{
  clib_memset (r, 0, sizeof (*r));
  r->far_id = a->far_id;
  r->apply_action = a->apply_action;
  r->dest_interface = a->destination_interface;
  r->ohc = a->ohc;
  r->ohc_flags = a->pdu_session_container ? UPF_OHC_F_PSC : 0;
  r->dscp = a->dscp;
  r->redirect_type = a->redirect_type;
  r->network_instance = a->network_instance;
  r->ohc_teid = a->ohc_teid;
  r->dupl_first = a->dupl_first;
  r->dupl_count = a->dupl_count;
  if (a->ohc != UPF_OHC_NONE)
    {
      upf_api_addr (&a->ohc_peer, &r->ohc_peer);
      upf_api_addr (&a->ohc_src, &r->ohc_src);
    }
  if (a->redirect_type == UPF_REDIRECT_IPV4 + 1 || a->redirect_type == UPF_REDIRECT_IPV6 + 1)
    upf_api_addr (&a->redirect_addr, &r->redirect_addr);
}

static void
upf_api_qer (const vl_api_upf_qer_t *a, upf_qer_t *r)
{
  clib_memset (r, 0, sizeof (*r));
  r->qer_id = a->qer_id;
  r->gate_ul = a->gate_ul_closed ? UPF_GATE_CLOSED : UPF_GATE_OPEN;
  r->gate_dl = a->gate_dl_closed ? UPF_GATE_CLOSED : UPF_GATE_OPEN;
  r->qfi = a->qfi;
  r->rqi = a->rqi;
  r->burst_bytes = a->burst_bytes;
  r->mbr_ul_bps = a->mbr_ul;
  r->mbr_dl_bps = a->mbr_dl;
  r->gbr_ul_bps = a->gbr_ul;
  r->gbr_dl_bps = a->gbr_dl;
}

static void
upf_api_urr (const vl_api_upf_urr_t *a, upf_urr_t *r)
{
  u32 k;
  clib_memset (r, 0, sizeof (*r));
  r->urr_id = a->urr_id;
  r->triggers = a->triggers;
  r->flags = a->drop_on_quota ? UPF_URR_F_DROP_ON_QUOTA : 0;
  r->measurement_method = a->measurement_method;
  for (k = 0; k < 3; k++)
    {
      r->vol_threshold[k] = a->vol_threshold[k];
      r->vol_quota[k] = a->vol_quota[k];
    }
  r->time_threshold_ns = a->time_threshold_ns;
  r->time_quota_ns = a->time_quota_ns;
}

static int
upf_api_sdf (const vl_api_upf_sdf_t *a, upf_sdf_t *r)
{
  clib_memset (r, 0, sizeof (*r));
  r->flags = a->flags & ~(UPF_API_SDF_REMOTE_ADDR | UPF_API_SDF_UE_ADDR);
  r->proto = a->proto;
  r->tos = a->tos;
  r->tos_mask = a->tos_mask;
  r->remote_port_lo = a->remote_port_lo;
  r->remote_port_hi = a->remote_port_hi;
  r->ue_port_lo = a->ue_port_lo;
  r->ue_port_hi = a->ue_port_hi;
  r->spi = a->spi;
  r->flow_label = a->flow_label;
  if (upf_api_prefix (&a->remote, (a->flags & UPF_API_SDF_REMOTE_ADDR) != 0, &r->remote,
                      &r->remote_plen)
        < 0
      || upf_api_prefix (&a->ue, (a->flags & UPF_API_SDF_UE_ADDR) != 0, &r->ue, &r->ue_plen) < 0)
    return -1;
  return 0;
}

static void
upf_api_dupl (const vl_api_upf_dupl_t *a, upf_dupl_t *r)
{
  clib_memset (r, 0, sizeof (*r));
  r->dest_interface = a->destination_interface;
  r->ohc = a->ohc;
  r->ohc_flags = a->pdu_session_container ? UPF_OHC_F_PSC : 0;
  r->dscp = a->dscp;
  r->ohc_port = a->port;
  r->forwarding_policy = a->forwarding_policy;
  r->ohc_teid = a->teid;
  if (a->ohc != UPF_OHC_NONE)
    {
      upf_api_addr (&a->peer, &r->ohc_peer);
      upf_api_addr (&a->src, &r->ohc_src);
    }
}

/* Decoded program: vectors the descriptor points into. */
typedef struct
{
  upf_pdr_t *pdr;
  upf_far_t *far;
  upf_qer_t *qer;
  upf_urr_t *urr;
  upf_sdf_t *sdf;
  upf_dupl_t *dupl;
  upf_bar_t bar;
  u8 has_bar;
} upf_api_program_t;

static void
upf_api_program_free (upf_api_program_t *p)
{
  vec_free (p->pdr);
  vec_free (p->far);
  vec_free (p->qer);
  vec_free (p->urr);
  vec_free (p->sdf);
  vec_free (p->dupl);
}

static int
upf_api_decode (const vl_api_upf_session_add_del_t *mp, upf_api_program_t *p,
                upf_session_req_t *req, char *err, size_t errlen)
{
  u32 i;
  for (i = 0; i < mp->n_rules; i++)
    {
      const vl_api_upf_rule_t *r = &mp->rules[i];
      switch (r->kind)
        {
        case UPF_API_RULE_PDR:
          {
            upf_pdr_t *d;
            vec_add2 (p->pdr, d, 1);
            upf_api_pdr (&r->r.pdr, d);
            if (r->r.pdr.has_ue_ip)
              {
                d->pdi_flags |= UPF_PDI_UE_IP;
                if (upf_api_prefix (&r->r.pdr.ue_ip, 1, &d->ue_ip, &d->ue_ip_plen) < 0)
                  goto bad_prefix;
              }
            break;
          }
        case UPF_API_RULE_FAR:
          {
            upf_far_t *d;
            vec_add2 (p->far, d, 1);
            upf_api_far (&r->r.far, d);
            if (d->ohc == UPF_OHC_GTPU)
              {
                upf_far_path_t *fp;
                vec_add2 (req->paths, fp, 1);
                fp->far_id = d->far_id;
                fp->teid = d->ohc_teid;
                fp->network_instance = d->network_instance;
                fp->with_psc = (d->ohc_flags & UPF_OHC_F_PSC) != 0;
                fp->peer = d->ohc_peer;
                fp->src = d->ohc_src;
              }
            break;
          }
        case UPF_API_RULE_QER:
          {
            upf_qer_t *d;
            vec_add2 (p->qer, d, 1);
            upf_api_qer (&r->r.qer, d);
            break;
          }
        case UPF_API_RULE_URR:
          {
            upf_urr_t *d;
            vec_add2 (p->urr, d, 1);
            upf_api_urr (&r->r.urr, d);
            break;
          }
        case UPF_API_RULE_SDF:
          {
            upf_sdf_t *d;
            vec_add2 (p->sdf, d, 1);
            if (upf_api_sdf (&r->r.sdf, d) < 0)
              goto bad_prefix;
            break;
          }
        case UPF_API_RULE_DUPL:
          {
            upf_dupl_t *d;
            vec_add2 (p->dupl, d, 1);
            upf_api_dupl (&r->r.dupl, d);
            break;
          }
        case UPF_API_RULE_BAR:
          if (p->has_bar)
            {
              snprintf (err, errlen, "rule %u: a second BAR", i);
              return -1;
            }
          p->has_bar = 1;
          clib_memset (&p->bar, 0, sizeof (p->bar));
          p->bar.bar_id = r->r.bar.bar_id;
          p->bar.max_pkts = r->r.bar.max_pkts;
          p->bar.max_bytes = r->r.bar.max_bytes;
          p->bar.duration_ns = r->r.bar.duration_ns;
          break;
        default:
          snprintf (err, errlen, "rule %u: unknown kind %u", i, r->kind);
          return -1;
        }
      continue;
    bad_prefix:
      snprintf (err, errlen, "rule %u: prefix length out of range", i);
      return -1;
    }
  req->desc.pdr = p->pdr;
  req->desc.far = p->far;
  req->desc.qer = p->qer;
  req->desc.urr = p->urr;
  req->desc.sdf = p->sdf;
  req->desc.dupl = p->dupl;
  req->desc.bar = p->has_bar ? &p->bar : 0;
  req->desc.n_pdr = vec_len (p->pdr);
  req->desc.n_far = vec_len (p->far);
  req->desc.n_qer = vec_len (p->qer);
  req->desc.n_urr = vec_len (p->urr);
  req->desc.n_sdf = vec_len (p->sdf);
  req->desc.n_dupl = vec_len (p->dupl);
  return 0;
}

static void
upf_api_usage (vl_api_upf_usage_t *o, const upf_usage_t *u)
{
  o->urr_id = u->urr_id;
  o->flags = u->flags;
  o->bytes_total = u->bytes[UPF_VOL_TOTAL];
  o->bytes_ul = u->bytes[UPF_VOL_UL];
  o->bytes_dl = u->bytes[UPF_VOL_DL];
  o->pkts_total = u->pkts[UPF_VOL_TOTAL];
  o->pkts_ul = u->pkts[UPF_VOL_UL];
  o->pkts_dl = u->pkts[UPF_VOL_DL];
  o->dropped_dl_pkts = u->dropped_dl_pkts;
  o->dropped_dl_bytes = u->dropped_dl_bytes;
  o->first_ns = u->first_ns;
  o->last_ns = u->last_ns;
  o->start_ns = u->start_ns;
}

static void
vl_api_upf_session_add_del_t_handler (vl_api_upf_session_add_del_t *mp)
{
  vl_api_upf_session_add_del_reply_t *rmp;
  upf_api_program_t prog = { 0 };
  upf_session_req_t req = { 0 };
  upf_usage_t *usage = 0;
  char err[128];
  int rv;
  u32 i, n;

  err[0] = 0;
  req.seid = mp->seid;
  req.cookie = mp->cookie;
  req.op = mp->op;
  req.send_end_marker = mp->send_end_marker;
  if (mp->op > UPF_API_SESSION_DELETE)
    {
      snprintf (err, sizeof (err), "unknown op %u", mp->op);
      rv = VNET_API_ERROR_INVALID_VALUE;
    }
  else if (mp->op != UPF_API_SESSION_DELETE
           && upf_api_decode (mp, &prog, &req, err, sizeof (err)) < 0)
    rv = VNET_API_ERROR_INVALID_VALUE;
  else
    rv = upf_vpp_session_apply (&req, &usage, err, sizeof (err));
  upf_api_program_free (&prog);
  vec_free (req.paths);

  n = vec_len (usage);
  REPLY_MACRO3_ZERO_END (VL_API_UPF_SESSION_ADD_DEL_REPLY, n * sizeof (vl_api_upf_usage_t), ({
                           memcpy (rmp->error, err, strnlen (err, sizeof (rmp->error) - 1));
                           rmp->now_ns = upf_now_ns (vlib_get_main ());
                           rmp->n_usage = n;
                           for (i = 0; i < n; i++)
                             upf_api_usage (&rmp->usage[i], &usage[i]);
                         }));
  vec_free (usage);
}

static void
upf_api_send_session (upf_vpp_session_t *vs, vl_api_registration_t *rp, u32 context)
{
  vl_api_upf_session_details_t *rmp;
  REPLY_MACRO_DETAILS4_END (VL_API_UPF_SESSION_DETAILS, rp, context, ({
                              rmp->seid = vs->seid;
                              rmp->cookie = vs->cookie;
                              rmp->n_pdr = vs->n_pdr;
                              rmp->n_far = vs->n_far;
                              rmp->n_qer = vs->n_qer;
                              rmp->n_urr = vs->n_urr;
                              rmp->n_sdf = vs->n_sdf;
                              rmp->n_dupl = vs->n_dupl;
                              rmp->has_bar = vs->has_bar;
                              rmp->buffered_pkts = vs->core->buffer ? vs->core->buffer->n_pkts : 0;
                              rmp->owner_thread = upf_session_owner (vs->seid);
                            }));
}

typedef void (upf_api_send_fn_t) (upf_vpp_session_t *vs, vl_api_registration_t *rp, u32 context);

/* A dump of one session (seid) or of all (seid ~0): one details message each. */
static void
upf_api_dump_sessions (u32 client_index, u32 context, u64 seid, upf_api_send_fn_t *send)
{
  upf_main_t *um = &upf_main;
  vl_api_registration_t *rp = vl_api_client_index_to_registration (client_index);
  upf_vpp_session_t *vs;
  if (!rp)
    return;
  if (seid != ~0ULL)
    {
      if ((vs = upf_session_get (seid)))
        send (vs, rp, context);
      return;
    }
  pool_foreach (vs, um->sessions) send (vs, rp, context);
}

static void
vl_api_upf_session_dump_t_handler (vl_api_upf_session_dump_t *mp)
{
  upf_api_dump_sessions (mp->client_index, mp->context, mp->seid, upf_api_send_session);
}

static void
vl_api_upf_usage_get_t_handler (vl_api_upf_usage_get_t *mp)
{
  vl_api_upf_usage_get_reply_t *rmp;
  upf_usage_t *usage = 0;
  int rv = upf_session_read_usage (mp->seid, mp->urr_id, mp->reset, &usage);
  u32 i, n = vec_len (usage);
  REPLY_MACRO3_ZERO_END (VL_API_UPF_USAGE_GET_REPLY, n * sizeof (vl_api_upf_usage_t), ({
                           rmp->now_ns = upf_now_ns (vlib_get_main ());
                           rmp->n_usage = n;
                           for (i = 0; i < n; i++)
                             upf_api_usage (&rmp->usage[i], &usage[i]);
                         }));
  vec_free (usage);
}

static void
upf_api_send_usage (upf_vpp_session_t *vs, vl_api_registration_t *rp, u32 context)
{
  vl_api_upf_session_usage_details_t *rmp;
  upf_usage_t *usage = 0;
  u32 i, n;
  upf_session_peek_usage (vs, &usage);
  n = vec_len (usage);
  REPLY_MACRO_DETAILS5_END (VL_API_UPF_SESSION_USAGE_DETAILS, n * sizeof (vl_api_upf_usage_t), rp,
                            context, ({
                              rmp->seid = vs->seid;
                              rmp->now_ns = upf_now_ns (vlib_get_main ());
                              rmp->n_usage = n;
                              for (i = 0; i < n; i++)
                                upf_api_usage (&rmp->usage[i], &usage[i]);
                            }));
  vec_free (usage);
}

static void
vl_api_upf_session_usage_dump_t_handler (vl_api_upf_session_usage_dump_t *mp)
{
  upf_api_dump_sessions (mp->client_index, mp->context, mp->seid, upf_api_send_usage);
}

static void
vl_api_upf_session_drop_buffered_t_handler (vl_api_upf_session_drop_buffered_t *mp)
{
  vl_api_upf_session_drop_buffered_reply_t *rmp;
  u32 n = 0;
  int rv = upf_session_drop_buffered (mp->seid, &n);
  REPLY_MACRO2_END (VL_API_UPF_SESSION_DROP_BUFFERED_REPLY, ({ rmp->n_dropped = n; }));
}

static void
vl_api_upf_nwi_add_del_t_handler (vl_api_upf_nwi_add_del_t *mp)
{
  vl_api_upf_nwi_add_del_reply_t *rmp;
  int rv = upf_nwi_add_del (mp->network_instance, mp->ip4_table_id, mp->ip6_table_id, mp->is_add);
  REPLY_MACRO_END (VL_API_UPF_NWI_ADD_DEL_REPLY);
}

static void
vl_api_upf_interface_add_del_t_handler (vl_api_upf_interface_add_del_t *mp)
{
  vl_api_upf_interface_add_del_reply_t *rmp;
  int rv = upf_interface_add_del (mp->sw_if_index, mp->role, mp->network_instance, mp->is_add);
  REPLY_MACRO_END (VL_API_UPF_INTERFACE_ADD_DEL_REPLY);
}

static void
vl_api_upf_interface_dump_t_handler (vl_api_upf_interface_dump_t *mp)
{
  upf_main_t *um = &upf_main;
  vl_api_registration_t *rp = vl_api_client_index_to_registration (mp->client_index);
  vl_api_upf_interface_details_t *rmp;
  upf_interface_t *it;
  u32 context = mp->context;
  if (!rp)
    return;
  pool_foreach (it, um->interfaces)
  {
    u16 nwi = it->network_instance;
    int bound = nwi < vec_len (um->nwis) && um->nwis[nwi].in_use;
    REPLY_MACRO_DETAILS4_END (VL_API_UPF_INTERFACE_DETAILS, rp, context, ({
                                rmp->sw_if_index = it->sw_if_index;
                                rmp->role = it->role;
                                rmp->network_instance = nwi;
                                rmp->ip4_table_id = bound ? um->nwis[nwi].ip4_table_id : ~0;
                                rmp->ip6_table_id = bound ? um->nwis[nwi].ip6_table_id : ~0;
                              }));
  }
}

static void
upf_api_counter (vl_api_upf_counter_t *c, u8 kind, u8 index, const char *name, u64 value)
{
  c->kind = kind;
  c->index = index;
  memcpy (c->name, name, strnlen (name, sizeof (c->name) - 1));
  c->value = value;
}

static void
vl_api_upf_counters_get_t_handler (vl_api_upf_counters_get_t *mp)
{
  upf_main_t *um = &upf_main;
  vl_api_upf_counters_get_reply_t *rmp;
  upf_stats_t st;
  u64 lost;
  int rv = 0;
  u32 i, n = 2 + UPF_MALFORMED_N_REASONS + UPF_DROP_N_REASONS + 3;
  upf_counters_sum (&st, &lost);
  REPLY_MACRO3_ZERO_END (VL_API_UPF_COUNTERS_GET_REPLY, n * sizeof (vl_api_upf_counter_t), ({
                           vl_api_upf_counter_t *c = rmp->counters;
                           rmp->n_counters = n;
                           upf_api_counter (c++, 0, 0, "rx ul", st.rx_pkts[0]);
                           upf_api_counter (c++, 0, 1, "rx dl", st.rx_pkts[1]);
                           for (i = 0; i < UPF_MALFORMED_N_REASONS; i++)
                             upf_api_counter (c++, 1, i, upf_malformed_str (i), st.malformed[i]);
                           for (i = 0; i < UPF_DROP_N_REASONS; i++)
                             upf_api_counter (c++, 2, i, upf_drop_reason_str (i), st.drops[i]);
                           upf_api_counter (c++, 3, 0, "events deferred", st.events_deferred);
                           upf_api_counter (c++, 3, 1, "events lost", lost);
                           upf_api_counter (c++, 3, 2, "events sent", um->events_sent);
                         }));
}

static void
vl_api_want_upf_events_t_handler (vl_api_want_upf_events_t *mp)
{
  upf_main_t *um = &upf_main;
  vl_api_want_upf_events_reply_t *rmp;
  upf_event_client_t *c;
  int rv = 0;
  vec_foreach (c, um->event_clients) if (c->client_index == mp->client_index) break;
  if (mp->enable)
    {
      if (c == vec_end (um->event_clients))
        vec_add2 (um->event_clients, c, 1);
      c->client_index = mp->client_index;
      c->client_pid = mp->pid;
    }
  else if (c != vec_end (um->event_clients))
    vec_del1 (um->event_clients, c - um->event_clients);
  else
    rv = VNET_API_ERROR_INVALID_REGISTRATION;
  REPLY_MACRO_END (VL_API_WANT_UPF_EVENTS_REPLY);
}

#define UPF_EVENTS_PER_MSG 256

/* Called by the process node (main thread) with the events of all threads. */
void
upf_api_send_events (upf_event_rec_t *recs)
{
  upf_main_t *um = &upf_main;
  api_main_t *am = vlibapi_get_main ();
  u16 id = VL_API_UPF_EVENT + um->msg_id_base;
  void (*endian) (void *, bool) = am->msg_data[id].endian_handler;
  u32 i, k, n, total = vec_len (recs);

  for (i = 0; i < vec_len (um->event_clients);)
    {
      upf_event_client_t *c = &um->event_clients[i];
      vl_api_registration_t *rp = vl_api_client_index_to_registration (c->client_index);
      if (!rp)
        {
          /* the client went away: forget its subscription */
          vec_del1 (um->event_clients, i);
          continue;
        }
      for (k = 0; k < total; k += n)
        {
          vl_api_upf_event_t *mp;
          n = clib_min (total - k, UPF_EVENTS_PER_MSG);
          mp = vl_msg_api_alloc_zero (sizeof (*mp) + n * sizeof (vl_api_upf_event_record_t));
          mp->_vl_msg_id = id;
          mp->client_index = c->client_index;
          mp->pid = c->client_pid;
          mp->n_records = n;
          for (u32 j = 0; j < n; j++)
            {
              vl_api_upf_event_record_t *r = &mp->records[j];
              r->type = recs[k + j].ev.type;
              r->id = recs[k + j].ev.id;
              r->seid = recs[k + j].ev.seid;
              r->value = recs[k + j].ev.value;
              r->time_ns = recs[k + j].time_ns;
            }
          endian (mp, 1 /* to network */);
          vl_api_send_msg (rp, (u8 *)mp);
        }
      i++;
    }
}

#include <upf.api.c>

static clib_error_t *
upf_api_init (vlib_main_t *vm)
{
  upf_main_t *um = &upf_main;
  api_main_t *am = vlibapi_get_main ();
  um->msg_id_base = setup_message_id_table ();
  /* A session program is published without stopping the workers (upf.c says which
   * modifications hold them); reads and resets of counters take the barrier. */
  vl_api_set_msg_thread_safe (am, um->msg_id_base + VL_API_UPF_SESSION_ADD_DEL, 1);
  /* the usage cache refresh reads without stopping the workers */
  vl_api_set_msg_thread_safe (am, um->msg_id_base + VL_API_UPF_SESSION_USAGE_DUMP, 1);
  return 0;
}

VLIB_API_INIT_FUNCTION (upf_api_init);
