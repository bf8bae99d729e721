/*
 * upf_api.c: the exported API of libupfcore.so (tests, pfcpd's embedded datapath).
 * Non-inline wrappers around the static inline per-packet functions, plus whole-packet
 * helpers that write the bytes to transmit into a caller buffer.
 */
#include <errno.h>
#include <stdlib.h>
#include "upf_core.h"
#include "upf_api.h"

upf_ctx_t *
upfcore_ctx_new (uint32_t expected_sessions)
{
  upf_ctx_t *ctx = malloc (sizeof (*ctx));
  if (ctx && upf_ctx_init (ctx, expected_sessions) < 0)
    {
      free (ctx);
      return 0;
    }
  return ctx;
}

void
upfcore_ctx_delete (upf_ctx_t *ctx)
{
  upf_ctx_free (ctx);
  free (ctx);
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
  if (upf_program_build (d, &p, err, errlen) < 0)
    return -EINVAL;
  rv = upf_session_install (ctx, s, p, err, errlen);
  if (rv < 0)
    upf_program_free (p);
  return rv;
}

void
upfcore_session_delete (upf_ctx_t *ctx, upf_session_t *s)
{
  upf_session_delete (ctx, s);
}

int
upfcore_read_urr (upf_session_t *s, uint32_t urr_id, upf_usage_t *out, int reset, uint64_t now_ns)
{
  return upf_session_read_urr (s, urr_id, out, reset, now_ns);
}

unsigned
upfcore_tick (upf_ctx_t *ctx, upf_session_t *s, uint64_t now_ns, upf_event_t *ev, unsigned max)
{
  return upf_session_tick (ctx, s, now_ns, ev, max);
}

unsigned
upfcore_buffer_flush (upf_session_t *s, upf_buffer_cb_t cb, void *arg)
{
  return upf_buffer_flush (s, cb, arg);
}

unsigned
upfcore_buffer_drop (upf_session_t *s)
{
  return upf_buffer_drop (s);
}

unsigned
upfcore_buffer_count (const upf_session_t *s)
{
  return s->buffer ? s->buffer->n_pkts : 0;
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
  uint32_t hl = v->encap ? v->encap->len : 0;
  if (hl + v->inner_len > cap || hl + v->inner_len > 65535)
    return 0;
  memcpy (out + hl, inner, v->inner_len);
  if (ul && v->redirect_addr
      && (v->redirect_type == UPF_REDIRECT_IPV4 + 1 || v->redirect_type == UPF_REDIRECT_IPV6 + 1))
    v->redirected = (uint8_t)upf_rewrite_dst (out + hl, v->inner_len, v->redirect_addr);
  if (v->encap)
    upf_encap_write (v->encap, out, out + hl, v->inner_len, v->qfi, v->rqi);
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

uint32_t
upfcore_ul_packet (upf_ctx_t *ctx, const uint8_t *pkt, uint32_t len, uint64_t now_ns,
                   upf_verdict_t *v, uint8_t *out, uint32_t cap)
{
  upf_ul_process (ctx, &ctx->stats, pkt, len, now_ns, v);
  if (v->verdict == UPF_VERDICT_FORWARD)
    return emit_forward (v, pkt + v->inner_offset, out, cap, 1);
  if (v->verdict == UPF_VERDICT_ECHO_REQUEST)
    {
      upf_outer_t o;
      upf_gtpu_t g;
      uint8_t msg[16];
      upf_parse_outer (pkt, len, &o);
      upf_parse_gtpu (pkt + o.payload_offset, o.payload_len, &g);
      return emit_reply (pkt, len, msg, upf_build_echo_response (&g, msg), out, cap);
    }
  if (v->verdict == UPF_VERDICT_DROP && v->drop_reason == UPF_DROP_NO_SESSION
      && v->gtpu_type == UPF_GTPU_G_PDU)
    {
      upf_outer_t o;
      uint8_t msg[40];
      upf_parse_outer (pkt, len, &o);
      return emit_reply (pkt, len, msg, upf_build_error_indication (v->teid, &o.dst, msg), out,
                         cap);
    }
  if (v->malformed == UPF_MALFORMED_EXT_UNKNOWN_REQUIRED)
    {
      upf_outer_t o;
      uint8_t msg[32];
      upf_parse_outer (pkt, len, &o);
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
  if (v->verdict == UPF_VERDICT_ECHO_REQUEST && cap >= 16)
    {
      upf_gtpu_t g;
      upf_parse_gtpu (gp, len, &g);
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
  if (v->verdict == UPF_VERDICT_BUFFER
      && upf_buffer_store (v->session, pkt, v->inner_len, now_ns) < 0)
    {
      v->verdict = UPF_VERDICT_DROP;
      v->drop_reason = UPF_DROP_BUFFER_FULL;
      ctx->stats.drops[UPF_DROP_BUFFER_FULL]++;
    }
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
    upf_encap_write (t, out, out + t->len, v->inner_len, v->qfi, v->rqi);
  return t->len + v->inner_len;
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

size_t
upfcore_sizeof (const char *name)
{
#define S(t)                                                                                       \
  if (!strcmp (name, #t))                                                                          \
    return sizeof (t);
  S (upf_ip_t)
  S (upf_sdf_t)
  S (upf_pdr_t)
  S (upf_far_t)
  S (upf_dupl_t)
  S (upf_qer_t)
  S (upf_urr_t)
  S (upf_bar_t)
  S (upf_program_desc_t)
  S (upf_event_t)
  S (upf_verdict_t)
  S (upf_usage_t)
  S (upf_stats_t)
#undef S
  if (!strcmp (name, "UPF_MALFORMED_N_REASONS"))
    return UPF_MALFORMED_N_REASONS;
  if (!strcmp (name, "UPF_DROP_N_REASONS"))
    return UPF_DROP_N_REASONS;
  if (!strcmp (name, "UPF_MAX_EVENTS"))
    return UPF_MAX_EVENTS;
  if (!strcmp (name, "UPF_MAX_DUPL_PER_FAR"))
    return UPF_MAX_DUPL_PER_FAR;
  return 0;
}
