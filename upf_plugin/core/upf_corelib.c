/*
 * upf_corelib.c: the exported API of libupfcore.so (tests, pfcpd's embedded datapath).
 * Non-inline wrappers around the static inline per-packet functions, plus whole-packet
 * helpers that write the bytes to transmit into a caller buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "upf_core.h"
#include "upf_corelib.h"
#include "upf_mem.h"

upf_ctx_t *
upfcore_ctx_new (uint32_t expected_sessions)
{
  upf_ctx_t *ctx = upf_malloc (sizeof (*ctx));
  if (ctx && upf_ctx_init (ctx, expected_sessions) < 0)
    {
      upf_free (ctx);
      return 0;
    }
  return ctx;
}

void
upfcore_ctx_delete (upf_ctx_t *ctx)
{
  if (!ctx)
    return;
  upf_ctx_free (ctx);
  upf_free (ctx);
}

const upf_stats_t *
upfcore_stats (const upf_ctx_t *ctx)
{
  return &ctx->stats;
}

unsigned
upfcore_reclaim (upf_ctx_t *ctx)
{
  return upf_epoch_reclaim (&ctx->epoch);
}

upf_session_t *
upfcore_session_create (upf_ctx_t *ctx, uint64_t seid)
{
  return upf_session_create (ctx, seid);
}

int
upfcore_session_install (upf_ctx_t *ctx, upf_session_t *s, const upf_program_desc_t *d, char *err,
                         size_t errlen)
{
  upf_program_t *p;
  int rv;
  if (!ctx || !s || !d)
    {
      snprintf (err, errlen, "no context, session or descriptor (NULL)");
      return -EINVAL;
    }
  if ((rv = upf_program_build (d, &p, err, errlen)) < 0)
    return rv == -ENOMEM ? -ENOMEM : -EINVAL;
  rv = upf_session_install (ctx, s, p, err, errlen);
  if (rv < 0)
    upf_program_free (p);
  return rv;
}

void
upfcore_session_delete (upf_ctx_t *ctx, upf_session_t *s)
{
  if (ctx && s)
    upf_session_delete (ctx, s);
}

/* upfcore_session_put; *flush (flush NULL: not asked) = the packets the caller flushes after
 * it: the session's buffered packets when the install flushes the buffer (upf_session_flushes,
 * decided before it, as the VPP plugin decides), else 0. */
static upf_session_t *
session_put (upf_ctx_t *ctx, upf_session_t *s, uint64_t seid, const upf_program_desc_t *d,
             char *err, size_t errlen, unsigned *buffered, unsigned *flush)
{
  upf_session_t *created = 0;
  int flushes;
  if (!ctx || !buffered)
    {
      snprintf (err, errlen, "no context or result (NULL)");
      return 0;
    }
  flushes = flush && s && d && upf_session_flushes (s, d);
  if (!s && !(s = created = upf_session_create (ctx, seid)))
    {
      snprintf (err, errlen, "out of memory creating the session");
      return 0;
    }
  if (upfcore_session_install (ctx, s, d, err, errlen) < 0)
    {
      if (created)
        {
          upf_session_delete (ctx, created);
          upf_epoch_reclaim (&ctx->epoch);
        }
      return 0;
    }
  upf_epoch_reclaim (&ctx->epoch);
  *buffered = upfcore_buffer_count (s);
  if (flush)
    *flush = flushes ? *buffered : 0;
  return s;
}

upf_session_t *
upfcore_session_put (upf_ctx_t *ctx, upf_session_t *s, uint64_t seid, const upf_program_desc_t *d,
                     char *err, size_t errlen, unsigned *buffered)
{
  return session_put (ctx, s, seid, d, err, errlen, buffered, 0);
}

upf_session_t *
upfcore_session_put_args (upfcore_put_args_t *a)
{
  unsigned buffered, flush;
  upf_session_t *s;
  if (!a)
    return 0;
  s = session_put (a->ctx, a->session, a->seid, a->desc, a->err, (size_t)a->errlen, &buffered,
                   &flush);
  if (s)
    {
      a->buffered = buffered;
      a->flush = flush;
    }
  return s;
}

upf_session_t *
upfcore_session_put_slots (upfcore_put_slots_t *a)
{
  upf_program_desc_t *d;
  upf_pdr_t *pdr;
  upf_far_t *far;
  const upfcore_slot_t *sl;
  unsigned buffered, flush, i, n;
  upf_session_t *s;
  if (!a || !(d = a->desc))
    return 0;
  if (a->n_slot)
    {
      /* (the caller's tables, which it lets this write) */
      pdr = (upf_pdr_t *)d->pdr;
      far = (upf_far_t *)d->far;
      if (d->n_pdr > UPF_MAX_PDR || d->n_far > UPF_MAX_FAR)
        { /* (before its tables are read: the count below stays in range) */
          snprintf (a->err, (size_t)a->errlen, "too many rules (%u PDRs, %u FARs)", d->n_pdr,
                    d->n_far);
          return 0;
        }
      for (i = 0, n = d->n_pdr; i < d->n_far; i++)
        n += far[i].ohc == UPF_OHC_GTPU;
      if (a->n_slot != n || n > UPFCORE_MAX_SLOTS)
        {
          snprintf (a->err, (size_t)a->errlen, "%u slots for a descriptor of %u", a->n_slot, n);
          return 0;
        }
      for (i = 0, sl = a->slot; i < d->n_pdr; i++, sl++)
        {
          pdr[i].teid = sl->teid;
          pdr[i].fteid_addr = sl->addr[0];
          pdr[i].ue_ip = sl->addr[1];
        }
      for (i = 0; i < d->n_far; i++)
        if (far[i].ohc == UPF_OHC_GTPU)
          {
            far[i].ohc_teid = sl->teid;
            far[i].ohc_peer = sl->addr[0];
            far[i].ohc_src = sl->addr[1];
            sl++;
          }
    }
  s = session_put (a->ctx, a->session, a->seid, d, a->err, (size_t)a->errlen, &buffered, &flush);
  if (s)
    {
      a->buffered = buffered;
      a->flush = flush;
    }
  return s;
}

int
upfcore_session_remove (upf_ctx_t *ctx, upf_session_t *s, upf_usage_t *out, unsigned max)
{
  const upf_program_t *p;
  unsigned i, n;
  int rv;
  if (!ctx || !s || (!out && max))
    return -EINVAL;
  p = atomic_load (&s->prog);
  n = p ? p->n_urr : 0;
  if (n > max)
    return -ENOSPC;
  for (i = 0; i < n; i++)
    if ((rv = upf_session_read_urr (s, p->urr[i].urr_id, &out[i], 0, 0)) < 0)
      return rv;
  upf_session_delete (ctx, s);
  upf_epoch_reclaim (&ctx->epoch);
  return (int)n;
}

int
upfcore_session_remove_args (const upfcore_remove_args_t *a)
{
  if (!a)
    return -EINVAL;
  return upfcore_session_remove (a->ctx, a->session, a->out, a->max);
}

int
upfcore_read_urr (upf_session_t *s, uint32_t urr_id, upf_usage_t *out, int reset, uint64_t now_ns)
{
  if (!s || !out)
    return -EINVAL;
  return upf_session_read_urr (s, urr_id, out, reset, now_ns);
}

unsigned
upfcore_tick (upf_ctx_t *ctx, upf_session_t *s, uint64_t now_ns, upf_event_t *ev, unsigned max)
{
  if (!s || !ev)
    return 0;
  unsigned n = upf_session_tick (ctx, s, now_ns, ev, max), k;
  /* the tick's events have no GTP-U Peer Address: peer_af NONE, peer zero */
  for (k = 0; k < n; k++)
    {
      ev[k].peer_af = UPF_EV_PEER_NONE;
      ev[k]._pad = 0;
      ev[k].peer = (upf_ip_t){ 0 };
    }
  return n;
}

unsigned
upfcore_buffer_flush (upf_session_t *s, upf_buffer_cb_t cb, void *arg)
{
  if (!s || !cb)
    return 0;
  return upf_buffer_flush (s, cb, arg);
}

unsigned
upfcore_buffer_drop (upf_session_t *s)
{
  if (!s)
    return 0;
  return upf_buffer_drop (s);
}

int
upfcore_buffer_rearm_report (upf_session_t *s, uint32_t pdr_id, uint8_t qfi)
{
  if (!s)
    return 0;
  return upf_buffer_rearm_report (s, pdr_id, qfi);
}

unsigned
upfcore_buffer_count (const upf_session_t *s)
{
  return s && s->buffer ? s->buffer->n_pkts : 0;
}

int
upfcore_ul_process (upf_ctx_t *ctx, const uint8_t *pkt, uint32_t len, uint64_t now_ns,
                    upf_verdict_t *v)
{
  return upf_ul_process (ctx, &ctx->stats, pkt, len, now_ns, v);
}

int
upfcore_dl_process (upf_ctx_t *ctx, uint16_t ni, const uint8_t *pkt, uint32_t len, uint64_t now_ns,
                    upf_verdict_t *v)
{
  return upf_dl_process (ctx, &ctx->stats, ni, pkt, len, now_ns, v);
}

/* The forwarded packet into out; ul: apply an IPv4/IPv6 redirect to the inner packet. */
static uint32_t
emit_forward (upf_verdict_t *v, const uint8_t *inner, uint8_t *out, uint32_t cap, int ul)
{
  uint32_t hl = v->encap ? upf_encap_len (v->encap, v->ppi) : 0;
  if (hl + v->inner_len > cap || hl + v->inner_len > 65535)
    return 0;
  memcpy (out + hl, inner, v->inner_len);
  if (ul && v->redirect_addr
      && (v->redirect_type == UPF_REDIRECT_IPV4 + 1 || v->redirect_type == UPF_REDIRECT_IPV6 + 1))
    v->redirected = (uint8_t)upf_rewrite_dst (out + hl, v->inner_len, v->redirect_addr);
  if (v->encap)
    upf_encap_write (v->encap, out, out + hl, v->inner_len, v->qfi, v->rqi, v->ppi);
  return hl + v->inner_len;
}

/* Reply to the sender of pkt (outer IP/UDP already validated) carrying msg. */
static uint32_t
emit_reply (const uint8_t *pkt, uint32_t len, const uint8_t *msg, uint32_t msg_len, uint8_t *out,
            uint32_t cap)
{
  upf_outer_t o;
  if (upf_parse_outer (pkt, len, &o) != UPF_MALFORMED_NONE || cap < 48 + msg_len)
    return 0;
  memcpy (out + (upf_ip_is4 (&o.dst) ? 28 : 48), msg, msg_len);
  return upf_build_ip_udp (out, &o.dst, &o.src, UPF_GTPU_PORT, o.sport,
                           out + (upf_ip_is4 (&o.dst) ? 28 : 48), msg_len)
         + msg_len;
}

/* A BUFFER verdict's packet stored in its session's DL buffer: an N6 packet as received
 * (local NULL), or a G-PDU's GTP-U message gp received on local (the user packet at
 * inner_offset into it), as the VPP plugin stores them. A full buffer turns the verdict into
 * a drop. 0: no packet to send. */
static uint32_t
store_buffered (upf_ctx_t *ctx, upf_verdict_t *v, const upf_ip_t *local, const uint8_t *gp,
                uint32_t inner_offset, uint64_t now_ns)
{
  int rv = local ? upf_buffer_store_gpdu (v->session, v->pdr_id, local, gp, inner_offset,
                                          v->inner_len, now_ns)
                 : upf_buffer_store (v->session, v->pdr_id, gp, v->inner_len, now_ns);
  if (rv < 0)
    {
      v->verdict = UPF_VERDICT_DROP;
      v->drop_reason = UPF_DROP_BUFFER_FULL;
      ctx->stats.drops[UPF_DROP_BUFFER_FULL]++;
    }
  return 0;
}

uint32_t
upfcore_ul_packet (upf_ctx_t *ctx, const uint8_t *pkt, uint32_t len, uint64_t now_ns,
                   upf_verdict_t *v, uint8_t *out, uint32_t cap)
{
  upf_ul_process (ctx, &ctx->stats, pkt, len, now_ns, v);
  if (v->verdict == UPF_VERDICT_FORWARD)
    return emit_forward (v, pkt + v->inner_offset, out, cap, 1);
  if (v->verdict == UPF_VERDICT_BUFFER)
    {
      /* (upf_ul_process parsed the outer header: this parse succeeds) */
      upf_outer_t o;
      upf_parse_outer (pkt, len, &o);
      return store_buffered (ctx, v, &o.dst, pkt + o.payload_offset,
                             v->inner_offset - o.payload_offset, now_ns);
    }
  if (v->verdict == UPF_VERDICT_ECHO_REQUEST)
    {
      upf_outer_t o;
      upf_gtpu_t g;
      uint8_t msg[16];
      if (upf_parse_outer (pkt, len, &o) != UPF_MALFORMED_NONE
          || upf_parse_gtpu (pkt + o.payload_offset, o.payload_len, &g) != UPF_MALFORMED_NONE)
        return 0;
      return emit_reply (pkt, len, msg, upf_build_echo_response (&g, msg), out, cap);
    }
  if (v->verdict == UPF_VERDICT_DROP && v->drop_reason == UPF_DROP_NO_SESSION
      && v->gtpu_type == UPF_GTPU_G_PDU)
    {
      upf_outer_t o;
      uint8_t msg[40];
      if (upf_parse_outer (pkt, len, &o) != UPF_MALFORMED_NONE)
        return 0;
      return emit_reply (pkt, len, msg, upf_build_error_indication (v->teid, &o.dst, msg), out,
                         cap);
    }
  if (v->malformed == UPF_MALFORMED_EXT_UNKNOWN_REQUIRED)
    {
      upf_outer_t o;
      uint8_t msg[32];
      if (upf_parse_outer (pkt, len, &o) != UPF_MALFORMED_NONE)
        return 0;
      return emit_reply (pkt, len, msg,
                         upf_build_supported_ext_hdr_notification (
                           o.payload_len >= 10 ? upf_rd16 (pkt + o.payload_offset + 8) : 0, msg),
                         out, cap);
    }
  return 0;
}

uint32_t
upfcore_ul_gtpu_packet (upf_ctx_t *ctx, const upf_ip_t *local_addr, const uint8_t *gp, uint32_t len,
                        uint64_t now_ns, upf_verdict_t *v, uint8_t *out, uint32_t cap)
{
  upf_verdict_init (v);
  ctx->stats.rx_pkts[UPF_DIR_UL]++;
  upf_ul_process_gtpu (ctx, &ctx->stats, local_addr, gp, len, now_ns, v);
  if (v->verdict == UPF_VERDICT_FORWARD)
    return emit_forward (v, gp + v->inner_offset, out, cap, 1);
  if (v->verdict == UPF_VERDICT_BUFFER)
    return store_buffered (ctx, v, local_addr, gp, v->inner_offset, now_ns);
  if (v->verdict == UPF_VERDICT_ECHO_REQUEST && cap >= 16)
    {
      upf_gtpu_t g;
      if (upf_parse_gtpu (gp, len, &g) != UPF_MALFORMED_NONE)
        return 0;
      return upf_build_echo_response (&g, out);
    }
  if (v->verdict == UPF_VERDICT_DROP && v->drop_reason == UPF_DROP_NO_SESSION
      && v->gtpu_type == UPF_GTPU_G_PDU && cap >= 40)
    return upf_build_error_indication (v->teid, local_addr, out);
  if (v->malformed == UPF_MALFORMED_EXT_UNKNOWN_REQUIRED && cap >= 32)
    return upf_build_supported_ext_hdr_notification (len >= 10 ? upf_rd16 (gp + 8) : 0, out);
  return 0;
}

uint32_t
upfcore_dl_packet (upf_ctx_t *ctx, uint16_t ni, const uint8_t *pkt, uint32_t len, uint64_t now_ns,
                   upf_verdict_t *v, uint8_t *out, uint32_t cap)
{
  upf_dl_process (ctx, &ctx->stats, ni, pkt, len, now_ns, v);
  if (v->verdict == UPF_VERDICT_FORWARD)
    return emit_forward (v, pkt, out, cap, 0);
  if (v->verdict == UPF_VERDICT_BUFFER)
    return store_buffered (ctx, v, 0, pkt, 0, now_ns);
  return 0;
}

uint32_t
upfcore_dupl_packet (const upf_verdict_t *v, unsigned i, const uint8_t *inner, uint8_t *out,
                     uint32_t cap)
{
  const upf_encap_t *t;
  if (v->verdict != UPF_VERDICT_FORWARD || i >= v->n_dupl)
    return 0;
  t = &v->dupl_encap[i];
  if (t->len + v->inner_len > cap || t->len + v->inner_len > 65535)
    return 0;
  memcpy (out + t->len, inner, v->inner_len);
  if (t->len)
    upf_encap_write (t, out, out + t->len, v->inner_len, v->qfi, v->rqi, 0);
  return t->len + v->inner_len;
}

uint32_t
upfcore_end_marker_packet (const upf_verdict_t *v, unsigned i, uint8_t *out, uint32_t cap,
                           uint32_t *info)
{
  upf_em_tunnel_t t;
  const upf_program_t *p;
  if (v->verdict != UPF_VERDICT_END_MARKER || !v->session)
    return 0;
  p = atomic_load_explicit (&v->session->prog, memory_order_acquire);
  if (!p || !upf_end_marker_tunnel (p, v->teid, i, v->qfi, &t) || cap < t.encap->len)
    return 0;
  info[0] = t.pdr_id;
  info[1] = t.far_id;
  info[2] = t.dest_interface;
  info[3] = t.network_instance;
  info[4] = t.qfi;
  info[5] = upf_rd32 (t.encap->hdr + t.encap->gtpu_offset + 4);
  return upf_encap_write_end_marker (t.encap, out, t.qfi);
}

uint32_t
upfcore_build_end_marker (const upf_ip_t *src, const upf_ip_t *dst, uint32_t teid, int with_psc,
                          uint8_t qfi, uint8_t *out, uint32_t cap)
{
  uint8_t msg[16];
  uint32_t n = upf_build_end_marker (teid, with_psc, qfi, msg), hl;
  if (cap < 48 + n)
    return 0;
  hl = upf_ip_is4 (dst) ? 28 : 48;
  memcpy (out + hl, msg, n);
  hl = upf_build_ip_udp (out, src, dst, UPF_GTPU_PORT, UPF_GTPU_PORT, out + hl, n);
  return hl ? hl + n : 0;
}

const char *
upfcore_malformed_str (unsigned r)
{
  return upf_malformed_str (r);
}

const char *
upfcore_drop_reason_str (unsigned r)
{
  return upf_drop_reason_str (r);
}

/* The structures the binding mirrors and every field of them: the binding checks sizes and
 * offsets against these at load (upfcore_sizeof, upfcore_offsetof). */
#define foreach_upfcore_struct                                                                     \
  _ (upf_ip_t)                                                                                     \
  _ (upf_sdf_t)                                                                                    \
  _ (upf_pdr_t)                                                                                    \
  _ (upf_far_t)                                                                                    \
  _ (upf_dupl_t)                                                                                   \
  _ (upf_qer_t)                                                                                    \
  _ (upf_urr_t)                                                                                    \
  _ (upf_bar_t)                                                                                    \
  _ (upf_program_desc_t)                                                                           \
  _ (upf_event_t)                                                                                  \
  _ (upf_verdict_t)                                                                                \
  _ (upf_usage_t)                                                                                  \
  _ (upfcore_put_args_t)                                                                           \
  _ (upfcore_slot_t)                                                                               \
  _ (upfcore_put_slots_t)                                                                          \
  _ (upfcore_remove_args_t)                                                                        \
  _ (upf_stats_t)

#define foreach_upfcore_field                                                                      \
  _ (upf_ip_t, b)                                                                                  \
  _ (upf_sdf_t, remote)                                                                            \
  _ (upf_sdf_t, ue)                                                                                \
  _ (upf_sdf_t, remote_plen)                                                                       \
  _ (upf_sdf_t, ue_plen)                                                                           \
  _ (upf_sdf_t, proto)                                                                             \
  _ (upf_sdf_t, flags)                                                                             \
  _ (upf_sdf_t, tos)                                                                               \
  _ (upf_sdf_t, tos_mask)                                                                          \
  _ (upf_sdf_t, remote_port_lo)                                                                    \
  _ (upf_sdf_t, remote_port_hi)                                                                    \
  _ (upf_sdf_t, ue_port_lo)                                                                        \
  _ (upf_sdf_t, ue_port_hi)                                                                        \
  _ (upf_sdf_t, _pad)                                                                              \
  _ (upf_sdf_t, spi)                                                                               \
  _ (upf_sdf_t, flow_label)                                                                        \
  _ (upf_pdr_t, pdr_id)                                                                            \
  _ (upf_pdr_t, precedence)                                                                        \
  _ (upf_pdr_t, source_interface)                                                                  \
  _ (upf_pdr_t, pdi_flags)                                                                         \
  _ (upf_pdr_t, qfi)                                                                               \
  _ (upf_pdr_t, ue_ip_plen)                                                                        \
  _ (upf_pdr_t, outer_header_removal)                                                              \
  _ (upf_pdr_t, _pad)                                                                              \
  _ (upf_pdr_t, network_instance)                                                                  \
  _ (upf_pdr_t, teid)                                                                              \
  _ (upf_pdr_t, fteid_addr)                                                                        \
  _ (upf_pdr_t, ue_ip)                                                                             \
  _ (upf_pdr_t, far_id)                                                                            \
  _ (upf_pdr_t, qer_id)                                                                            \
  _ (upf_pdr_t, urr_id)                                                                            \
  _ (upf_pdr_t, sdf_first)                                                                         \
  _ (upf_pdr_t, sdf_count)                                                                         \
  _ (upf_dupl_t, dest_interface)                                                                   \
  _ (upf_dupl_t, ohc)                                                                              \
  _ (upf_dupl_t, ohc_flags)                                                                        \
  _ (upf_dupl_t, dscp)                                                                             \
  _ (upf_dupl_t, ohc_port)                                                                         \
  _ (upf_dupl_t, forwarding_policy)                                                                \
  _ (upf_dupl_t, ohc_teid)                                                                         \
  _ (upf_dupl_t, ohc_peer)                                                                         \
  _ (upf_dupl_t, ohc_src)                                                                          \
  _ (upf_far_t, far_id)                                                                            \
  _ (upf_far_t, apply_action)                                                                      \
  _ (upf_far_t, dest_interface)                                                                    \
  _ (upf_far_t, ohc)                                                                               \
  _ (upf_far_t, ohc_flags)                                                                         \
  _ (upf_far_t, dscp)                                                                              \
  _ (upf_far_t, redirect_type)                                                                     \
  _ (upf_far_t, network_instance)                                                                  \
  _ (upf_far_t, ohc_teid)                                                                          \
  _ (upf_far_t, dupl_first)                                                                        \
  _ (upf_far_t, dupl_count)                                                                        \
  _ (upf_far_t, _pad)                                                                              \
  _ (upf_far_t, ohc_peer)                                                                          \
  _ (upf_far_t, ohc_src)                                                                           \
  _ (upf_far_t, redirect_addr)                                                                     \
  _ (upf_qer_t, qer_id)                                                                            \
  _ (upf_qer_t, gate_ul)                                                                           \
  _ (upf_qer_t, gate_dl)                                                                           \
  _ (upf_qer_t, qfi)                                                                               \
  _ (upf_qer_t, rqi)                                                                               \
  _ (upf_qer_t, burst_bytes)                                                                       \
  _ (upf_qer_t, ppi)                                                                               \
  _ (upf_qer_t, _pad)                                                                              \
  _ (upf_qer_t, mbr_ul_bps)                                                                        \
  _ (upf_qer_t, mbr_dl_bps)                                                                        \
  _ (upf_qer_t, gbr_ul_bps)                                                                        \
  _ (upf_qer_t, gbr_dl_bps)                                                                        \
  _ (upf_urr_t, urr_id)                                                                            \
  _ (upf_urr_t, triggers)                                                                          \
  _ (upf_urr_t, flags)                                                                             \
  _ (upf_urr_t, measurement_method)                                                                \
  _ (upf_urr_t, vol_threshold)                                                                     \
  _ (upf_urr_t, vol_quota)                                                                         \
  _ (upf_urr_t, time_threshold_ns)                                                                 \
  _ (upf_urr_t, time_quota_ns)                                                                     \
  _ (upf_urr_t, time_quota_grant)                                                                  \
  _ (upf_urr_t, _pad)                                                                              \
  _ (upf_bar_t, bar_id)                                                                            \
  _ (upf_bar_t, max_pkts)                                                                          \
  _ (upf_bar_t, _pad)                                                                              \
  _ (upf_bar_t, max_bytes)                                                                         \
  _ (upf_bar_t, duration_grant)                                                                    \
  _ (upf_bar_t, duration_ns)                                                                       \
  _ (upf_program_desc_t, pdr)                                                                      \
  _ (upf_program_desc_t, far)                                                                      \
  _ (upf_program_desc_t, qer)                                                                      \
  _ (upf_program_desc_t, urr)                                                                      \
  _ (upf_program_desc_t, sdf)                                                                      \
  _ (upf_program_desc_t, bar)                                                                      \
  _ (upf_program_desc_t, dupl)                                                                     \
  _ (upf_program_desc_t, n_pdr)                                                                    \
  _ (upf_program_desc_t, n_far)                                                                    \
  _ (upf_program_desc_t, n_qer)                                                                    \
  _ (upf_program_desc_t, n_urr)                                                                    \
  _ (upf_program_desc_t, n_sdf)                                                                    \
  _ (upf_program_desc_t, n_dupl)                                                                   \
  _ (upf_event_t, type)                                                                            \
  _ (upf_event_t, peer_af)                                                                         \
  _ (upf_event_t, _pad)                                                                            \
  _ (upf_event_t, id)                                                                              \
  _ (upf_event_t, seid)                                                                            \
  _ (upf_event_t, value)                                                                           \
  _ (upf_event_t, peer)                                                                            \
  _ (upf_verdict_t, verdict)                                                                       \
  _ (upf_verdict_t, drop_reason)                                                                   \
  _ (upf_verdict_t, malformed)                                                                     \
  _ (upf_verdict_t, dest_interface)                                                                \
  _ (upf_verdict_t, qfi)                                                                           \
  _ (upf_verdict_t, rqi)                                                                           \
  _ (upf_verdict_t, n_dupl)                                                                        \
  _ (upf_verdict_t, n_events)                                                                      \
  _ (upf_verdict_t, inner_offset)                                                                  \
  _ (upf_verdict_t, inner_len)                                                                     \
  _ (upf_verdict_t, network_instance)                                                              \
  _ (upf_verdict_t, gtpu_type)                                                                     \
  _ (upf_verdict_t, redirect_type)                                                                 \
  _ (upf_verdict_t, pdr_id)                                                                        \
  _ (upf_verdict_t, far_id)                                                                        \
  _ (upf_verdict_t, teid)                                                                          \
  _ (upf_verdict_t, redirected)                                                                    \
  _ (upf_verdict_t, ppi)                                                                           \
  _ (upf_verdict_t, _pad)                                                                          \
  _ (upf_verdict_t, seid)                                                                          \
  _ (upf_verdict_t, encap)                                                                         \
  _ (upf_verdict_t, dupl)                                                                          \
  _ (upf_verdict_t, dupl_encap)                                                                    \
  _ (upf_verdict_t, redirect_addr)                                                                 \
  _ (upf_verdict_t, session)                                                                       \
  _ (upf_verdict_t, events)                                                                        \
  _ (upfcore_put_args_t, ctx)                                                                      \
  _ (upfcore_put_args_t, session)                                                                  \
  _ (upfcore_put_args_t, seid)                                                                     \
  _ (upfcore_put_args_t, desc)                                                                     \
  _ (upfcore_put_args_t, err)                                                                      \
  _ (upfcore_put_args_t, errlen)                                                                   \
  _ (upfcore_put_args_t, buffered)                                                                 \
  _ (upfcore_put_args_t, flush)                                                                    \
  _ (upfcore_remove_args_t, ctx)                                                                   \
  _ (upfcore_remove_args_t, out)                                                                   \
  _ (upfcore_remove_args_t, max)                                                                   \
  _ (upfcore_remove_args_t, _pad)                                                                  \
  _ (upfcore_remove_args_t, session)                                                               \
  _ (upfcore_slot_t, teid)                                                                         \
  _ (upfcore_slot_t, addr)                                                                         \
  _ (upfcore_put_slots_t, ctx)                                                                     \
  _ (upfcore_put_slots_t, err)                                                                     \
  _ (upfcore_put_slots_t, errlen)                                                                  \
  _ (upfcore_put_slots_t, flush)                                                                   \
  _ (upfcore_put_slots_t, _pad)                                                                    \
  _ (upfcore_put_slots_t, buffered)                                                                \
  _ (upfcore_put_slots_t, n_slot)                                                                  \
  _ (upfcore_put_slots_t, session)                                                                 \
  _ (upfcore_put_slots_t, seid)                                                                    \
  _ (upfcore_put_slots_t, desc)                                                                    \
  _ (upfcore_put_slots_t, slot)                                                                    \
  _ (upf_usage_t, urr_id)                                                                          \
  _ (upf_usage_t, flags)                                                                           \
  _ (upf_usage_t, bytes)                                                                           \
  _ (upf_usage_t, pkts)                                                                            \
  _ (upf_usage_t, dropped_dl_pkts)                                                                 \
  _ (upf_usage_t, dropped_dl_bytes)                                                                \
  _ (upf_usage_t, first_ns)                                                                        \
  _ (upf_usage_t, last_ns)                                                                         \
  _ (upf_usage_t, start_ns)

/* The constants the binding uses, by their C name (upfcore_constant). */
#define foreach_upfcore_constant                                                                   \
  _ (UPF_MAX_EVENTS)                                                                               \
  _ (UPF_MAX_DUPL_PER_FAR)                                                                         \
  _ (UPF_MAX_QER_PER_PDR)                                                                          \
  _ (UPF_MAX_URR_PER_PDR)                                                                          \
  _ (UPFCORE_MAX_SLOTS)                                                                            \
  _ (UPF_MALFORMED_N_REASONS)                                                                      \
  _ (UPF_DROP_N_REASONS)                                                                           \
  _ (UPF_OHR_NONE)                                                                                 \
  _ (UPF_DSCP_NONE)                                                                                \
  _ (UPF_PDI_FTEID)                                                                                \
  _ (UPF_PDI_UE_IP)                                                                                \
  _ (UPF_PDI_QFI)                                                                                  \
  _ (UPF_SDF_PROTO)                                                                                \
  _ (UPF_SDF_REMOTE_PORT)                                                                          \
  _ (UPF_SDF_UE_PORT)                                                                              \
  _ (UPF_SDF_TOS)                                                                                  \
  _ (UPF_SDF_SPI)                                                                                  \
  _ (UPF_SDF_FLOW_LABEL)                                                                           \
  _ (UPF_OHC_NONE)                                                                                 \
  _ (UPF_OHC_GTPU)                                                                                 \
  _ (UPF_OHC_UDP)                                                                                  \
  _ (UPF_OHC_IP)                                                                                   \
  _ (UPF_OHC_F_PSC)                                                                                \
  _ (UPF_REDIRECT_IPV4)                                                                            \
  _ (UPF_REDIRECT_IPV6)                                                                            \
  _ (UPF_REDIRECT_URL)                                                                             \
  _ (UPF_REDIRECT_SIP_URI)                                                                         \
  _ (UPF_URR_T_VOLTH)                                                                              \
  _ (UPF_URR_T_VOLQU)                                                                              \
  _ (UPF_URR_T_TIMTH)                                                                              \
  _ (UPF_URR_T_TIMQU)                                                                              \
  _ (UPF_URR_F_DROP_ON_QUOTA)                                                                      \
  _ (UPF_URR_F_BEFORE_QOS)                                                                         \
  _ (UPF_GATE_OPEN)                                                                                \
  _ (UPF_GATE_CLOSED)                                                                              \
  _ (UPF_PPI_SET)                                                                                  \
  _ (UPF_AA_DROP)                                                                                  \
  _ (UPF_AA_FORW)                                                                                  \
  _ (UPF_AA_BUFF)                                                                                  \
  _ (UPF_AA_NOCP)                                                                                  \
  _ (UPF_AA_DUPL)                                                                                  \
  _ (UPF_IF_ACCESS)                                                                                \
  _ (UPF_IF_CORE)                                                                                  \
  _ (UPF_IF_SGI_LAN)                                                                               \
  _ (UPF_IF_CP_FUNCTION)                                                                           \
  _ (UPF_IF_5G_VN_INTERNAL)                                                                        \
  _ (UPF_VERDICT_DROP)                                                                             \
  _ (UPF_VERDICT_FORWARD)                                                                          \
  _ (UPF_VERDICT_BUFFER)                                                                           \
  _ (UPF_VERDICT_ECHO_REQUEST)                                                                     \
  _ (UPF_VERDICT_END_MARKER)                                                                       \
  _ (UPF_EV_USAGE_THRESHOLD)                                                                       \
  _ (UPF_EV_USAGE_QUOTA)                                                                           \
  _ (UPF_EV_TIME_THRESHOLD)                                                                        \
  _ (UPF_EV_TIME_QUOTA)                                                                            \
  _ (UPF_EV_DL_DATA_REPORT)                                                                        \
  _ (UPF_EV_BUFFER_EXPIRED)                                                                        \
  _ (UPF_EV_ERROR_INDICATION)                                                                      \
  _ (UPF_EV_PEER_IP4)                                                                              \
  _ (UPF_EV_PEER_IP6)

size_t
upfcore_sizeof (const char *name)
{
#define _(t)                                                                                       \
  if (name && !strcmp (name, #t))                                                                  \
    return sizeof (t);
  foreach_upfcore_struct
#undef _
    return 0;
}

long
upfcore_offsetof (const char *type, const char *field)
{
#define _(t, f)                                                                                    \
  if (type && field && !strcmp (type, #t) && !strcmp (field, #f))                                  \
    return (long)offsetof (t, f);
  foreach_upfcore_field
#undef _
    return -1;
}

int
upfcore_constant (const char *name, uint64_t *value)
{
#define _(c)                                                                                       \
  if (name && !strcmp (name, #c))                                                                  \
    {                                                                                              \
      *value = (uint64_t)(c);                                                                      \
      return 0;                                                                                    \
    }
  foreach_upfcore_constant
#undef _
    return -ENOENT;
}
