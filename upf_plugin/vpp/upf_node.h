/* SPDX-License-Identifier: Apache-2.0 */

/*
 * upf_node.h: what the UPF graph nodes share: next nodes, error counters, the trace record
 * and the verdict actions (decapsulate, encapsulate with the FAR's template, GTP-U replies).
 */
#ifndef included_upf_node_h
#define included_upf_node_h

#include <vlib/vlib.h>
#include <vnet/ip/ip4.h>
#include <vnet/ip/ip6.h>
#include "upf.h"

#define foreach_upf_next_with(m)                                                                   \
  m (DROP, "error-drop") m (IP4_LOOKUP, "ip4-lookup") m (IP6_LOOKUP, "ip6-lookup")
#define foreach_upf_next foreach_upf_next_with (_)

typedef enum
{
#define _(n, s) UPF_NEXT_##n,
  foreach_upf_next
#undef _
    UPF_N_NEXT,
} upf_next_t;

/* Node counters: the outcome of each packet (`show errors`: INFO for outcomes, ERROR for
 * losses). Drops by the core's reason follow, all ERROR. */
#define foreach_upf_error                                                                          \
  _ (FORWARDED, INFO, "packets forwarded")                                                         \
  _ (ECHO_RESPONSE, INFO, "GTP-U echo responses sent")                                             \
  _ (ERROR_INDICATION_SENT, INFO, "GTP-U error indications sent (unknown TEID)")                   \
  _ (EXT_HDR_NOTIFICATION_SENT, INFO, "GTP-U supported extension headers notifications sent")      \
  _ (BUFFERED, INFO, "packets buffered (FAR BUFF)")                                                \
  _ (NOT_OURS, INFO, "N6 packets for no session, passed on")                                       \
  _ (NO_FIB, ERROR, "network instance without FIB table")                                          \
  _ (CHAINED, ERROR, "chained buffers (not supported)")                                            \
  _ (DUPL_SENT, INFO, "duplicated copies sent (FAR DUPL)")                                         \
  _ (DUPL_FAILED, ERROR, "duplicated copies not sent (no buffer)")                                 \
  _ (END_MARKER_RELAYED, INFO, "GTP-U end markers received and relayed")                           \
  _ (END_MARKER_SENT, INFO, "GTP-U end markers sent relaying a received one")                      \
  _ (END_MARKER_FAILED, ERROR, "GTP-U end markers not relayed (no buffer, no FIB)")                \
  _ (HANDOFF, INFO, "packets handed to the session's owner thread")                                \
  _ (CONGESTION, ERROR, "handoff queue full, dropped")

typedef enum
{
#define _(n, sev, s) UPF_ERROR_##n,
  foreach_upf_error
#undef _
#define _(n, s) UPF_ERROR_DROP_##n,
    foreach_upf_drop_reason
#undef _
      UPF_N_ERROR,
} upf_error_t;

extern vlib_error_desc_t upf_error_counters[];

/* What the UPF input nodes' registrations share (the IPv6 ones are siblings of the IPv4
 * ones: their next nodes are those). */
#define upf_next_node_name(n, s) [UPF_NEXT_##n] = s,
#define UPF_INPUT_NODE_FIELDS                                                                      \
  .vector_size = sizeof (u32), .format_trace = format_upf_trace, .n_errors = UPF_N_ERROR,          \
  .error_counters = upf_error_counters
#define UPF_INPUT_NODE_NEXTS                                                                       \
  .n_next_nodes = UPF_N_NEXT, .next_nodes = { foreach_upf_next_with (upf_next_node_name) }

typedef struct
{
  u64 seid;
  u32 pdr_id, far_id;
  u32 teid;
  u32 next;
  u16 inner_len;
  u16 network_instance;
  u8 verdict, drop_reason, malformed, gtpu_type;
  u8 encap; /* 1 = an outer header was written */
  u8 dest_interface;
  u8 qfi;
  u8 n_events;
} upf_trace_t;

format_function_t format_upf_trace;

static_always_inline void
upf_trace (vlib_main_t *vm, vlib_node_runtime_t *node, vlib_buffer_t *b, const upf_verdict_t *v,
           u32 next)
{
  upf_trace_t *t;
  if (!(b->flags & VLIB_BUFFER_IS_TRACED))
    return;
  t = vlib_add_trace (vm, node, b, sizeof (*t));
  t->seid = v->seid;
  t->pdr_id = v->pdr_id;
  t->far_id = v->far_id;
  t->teid = v->teid;
  t->next = next;
  t->inner_len = v->inner_len;
  t->network_instance = v->network_instance;
  t->verdict = v->verdict;
  t->drop_reason = v->drop_reason;
  t->malformed = v->malformed;
  t->gtpu_type = v->gtpu_type;
  t->encap = v->verdict == UPF_VERDICT_FORWARD && v->encap;
  t->dest_interface = v->dest_interface;
  t->qfi = v->qfi;
  t->n_events = v->n_events;
}

/* How many verdicts ahead the nodes prefetch what acting on a verdict touches. */
#define UPF_VERDICT_PREFETCH 8

/* What forwarding with verdict v touches beyond the verdict and the packet's first line: the
 * FAR's template (in the session's program, read by the core's vector pass a whole frame
 * earlier and since evicted: a miss per packet otherwise, a third of the DL node) and the
 * headroom line(s) the outer header is written to. */
static_always_inline void
upf_prefetch_forward (const upf_verdict_t *v, const u8 *inner)
{
  u8 *t = (u8 *)v->encap;
  if (v->verdict != UPF_VERDICT_FORWARD || !t)
    return;
  clib_prefetch_load (t);
  clib_prefetch_load (t + sizeof (upf_encap_t) - 1);
  clib_prefetch_store ((u8 *)inner - 1);
  clib_prefetch_store ((u8 *)inner - CLIB_CACHE_LINE_BYTES);
}

/* Send the FAR DUPL copies of a forwarded packet (inner = the user packet as received). */
void upf_send_dupl (vlib_main_t *vm, vlib_node_runtime_t *node, const upf_verdict_t *v,
                    const u8 *inner);

/* Relay a received End Marker (verdict END_MARKER): one End Marker per tunnel of its
 * F-TEID's forwarding FARs (upfcore_end_marker_packet), each in its FAR's network instance. */
void upf_send_end_markers (vlib_main_t *vm, vlib_node_runtime_t *node, const upf_verdict_t *v);

/* A forwarded packet: inner is the user packet inside b's data; writes the outer header
 * (FAR outer header creation) in front of it and picks the lookup node and FIB. Returns
 * the next index, or UPF_NEXT_DROP with b->error set. */
static_always_inline u16
upf_forward (vlib_node_runtime_t *node, vlib_buffer_t *b, const upf_verdict_t *v, u8 *inner)
{
  u16 next;
  u32 fib;
  int is_ip6;
  u8 *start = inner;
  if (v->encap)
    {
      start = inner - upf_encap_len (v->encap, v->ppi);
      upf_encap_write (v->encap, start, inner, v->inner_len, v->qfi, v->rqi, v->ppi);
      is_ip6 = v->encap->is_ip6;
    }
  else
    is_ip6 = (inner[0] >> 4) == 6;
  fib = upf_nwi_fib_index (v->network_instance, is_ip6);
  if (PREDICT_FALSE (fib == ~0))
    {
      b->error = node->errors[UPF_ERROR_NO_FIB];
      return UPF_NEXT_DROP;
    }
  b->current_data = start - b->data;
  b->current_length = (inner - start) + v->inner_len;
  /* the header offsets of the received packet no longer describe this one */
  b->flags &= ~(VNET_BUFFER_F_L3_HDR_OFFSET_VALID | VNET_BUFFER_F_L4_HDR_OFFSET_VALID
                | VNET_BUFFER_F_IS_IP4 | VNET_BUFFER_F_IS_IP6);
  b->flags |= is_ip6 ? VNET_BUFFER_F_IS_IP6 : VNET_BUFFER_F_IS_IP4;
  vnet_buffer (b)->sw_if_index[VLIB_TX] = fib;
  next = is_ip6 ? UPF_NEXT_IP6_LOOKUP : UPF_NEXT_IP4_LOOKUP;
  return next;
}

static_always_inline u16
upf_drop_next (vlib_node_runtime_t *node, vlib_buffer_t *b, const upf_verdict_t *v)
{
  b->error = node->errors[UPF_ERROR_DROP_NONE + v->drop_reason];
  return UPF_NEXT_DROP;
}

/* A BUFFER verdict's packet stored (rv 0) or not (the buffer full): the vlib buffer is freed. */
static_always_inline u16
upf_buffer_stored (vlib_node_runtime_t *node, vlib_buffer_t *b, int rv, upf_stats_t *st)
{
  if (rv < 0)
    {
      st->drops[UPF_DROP_BUFFER_FULL]++;
      b->error = node->errors[UPF_ERROR_DROP_BUFFER_FULL];
    }
  else
    b->error = node->errors[UPF_ERROR_BUFFERED];
  return UPF_NEXT_DROP;
}

/* Store a BUFFER verdict's N6 packet in the session's DL buffer, as received. */
static_always_inline u16
upf_buffer_next (vlib_node_runtime_t *node, vlib_buffer_t *b, const upf_verdict_t *v, const u8 *pkt,
                 upf_stats_t *st, u64 now)
{
  return upf_buffer_stored (node, b,
                            upf_buffer_store (v->session, v->pdr_id, pkt, v->inner_len, now), st);
}

/* Store a BUFFER verdict's G-PDU (outer: its outer IP header, len octets) in the session's DL
 * buffer as its GTP-U message and the local address it came to (upf_buffer_store_gpdu: the
 * flush runs it through the GTP-U input again). */
static_always_inline u16
upf_buffer_gpdu_next (vlib_node_runtime_t *node, vlib_buffer_t *b, const upf_verdict_t *v,
                      const u8 *outer, u32 len, upf_stats_t *st, u64 now)
{
  upf_outer_t o;
  int rv = -1;
  /* (upf_ul_process parsed it: this parse succeeds) */
  if (upf_parse_outer (outer, len, &o) == UPF_MALFORMED_NONE)
    rv = upf_buffer_store_gpdu (v->session, v->pdr_id, &o.dst, outer + o.payload_offset,
                                v->inner_offset - o.payload_offset, v->inner_len, now);
  return upf_buffer_stored (node, b, rv, st);
}

static_always_inline void
upf_post_events (upf_per_thread_t *ptd, const upf_verdict_t *v, u64 now)
{
  u32 k;
  for (k = 0; k < v->n_events; k++)
    upf_event_post (ptd, &v->events[k], now);
}

/* After a packet's next node is chosen: its events, its trace record. */
static_always_inline void
upf_verdict_done (vlib_main_t *vm, vlib_node_runtime_t *node, upf_per_thread_t *ptd,
                  vlib_buffer_t *b, const upf_verdict_t *v, u16 next, u64 now)
{
  if (PREDICT_FALSE (v->n_events))
    upf_post_events (ptd, v, now);
  if (PREDICT_FALSE (node->flags & VLIB_NODE_FLAG_TRACE))
    upf_trace (vm, node, b, v, next);
}

#endif /* included_upf_node_h */
