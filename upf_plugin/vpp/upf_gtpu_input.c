/* SPDX-License-Identifier: Apache-2.0 */

/*
 * upf_gtpu_input.c: upf-gtpu4-input and upf-gtpu6-input, the uplink (N3/N9): GTP-U on UDP
 * 2152 of a local address (udp_register_dst_port, as the gtpu plugin). The core classifies
 * the whole frame (upf_ul_process_vec); the node then decapsulates (or re-encapsulates for
 * N9) and hands the packet to ip4/ip6-lookup in the FAR's network instance, answers echo
 * requests, sends error indications for unknown TEIDs, buffers, or drops with the core's
 * reason as the error counter. A G-PDU on the F-TEID of a Core or CP-function PDR (an I-UPF's
 * N9 downlink, the data the SMF buffered sent back) is downlink for the core: its verdict is
 * a FORWARD with the Access FAR's template, and upf_forward re-encapsulates it to the gNB as
 * it does N9 uplink forwarding (the core reports no redirect and no BUFFER for it). An End
 * Marker on such an F-TEID, or on any whose FARs forward on a GTP-U tunnel (indirect data
 * forwarding), is relayed (verdict END_MARKER): one End Marker per tunnel, sent as core-built
 * packets in the FARs' network instances (upf_send_end_markers), after the frame's packets.
 */
#include "upf_node.h"

/* Reply to the sender of the GTP-U message in b (outer header at l3): msg replaces the
 * packet, from our address and port 2152 to the sender's address and port. */
static_always_inline u16
upf_reply (vlib_buffer_t *b, u8 *outer, u32 len, const u8 *msg, u32 msg_len, int is_ip6)
{
  upf_outer_t o;
  u8 tmp[64];
  u32 hl;
  if (msg_len > sizeof (tmp) || upf_parse_outer (outer, len, &o) != UPF_MALFORMED_NONE)
    return UPF_NEXT_DROP;
  clib_memcpy_fast (tmp, msg, msg_len);
  hl = upf_ip_is4 (&o.dst) ? 28 : 48;
  clib_memcpy_fast (outer + hl, tmp, msg_len);
  hl = upf_build_ip_udp (outer, &o.dst, &o.src, UPF_GTPU_PORT, o.sport, outer + hl, msg_len);
  if (!hl)
    return UPF_NEXT_DROP;
  b->current_data = outer - b->data;
  b->current_length = hl + msg_len;
  b->flags |= VNET_BUFFER_F_LOCALLY_ORIGINATED;
  vnet_buffer (b)->sw_if_index[VLIB_TX] = vlib_buffer_get_ip_fib_index (b, !is_ip6);
  return is_ip6 ? UPF_NEXT_IP6_LOOKUP : UPF_NEXT_IP4_LOOKUP;
}

/* GTP-U path management: an Echo Response (TS 29.281 7.2.2) goes to the API clients as an
 * event of the plugin's (value = its sequence number, peer = its sender); then dropped with
 * the core's reason. */
static never_inline u16
upf_echo_response_event (vlib_node_runtime_t *node, vlib_buffer_t *b, const upf_verdict_t *v,
                         u8 *outer, u32 len, int is_ip6)
{
  vlib_main_t *vm = vlib_get_main ();
  upf_outer_t o;
  upf_gtpu_t g;
  upf_event_t ev;
  if (upf_parse_outer (outer, len, &o) == UPF_MALFORMED_NONE
      && upf_parse_gtpu (outer + o.payload_offset, o.payload_len, &g) == UPF_MALFORMED_NONE
      && g.has_seq)
    {
      clib_memset (&ev, 0, sizeof (ev));
      ev.type = UPF_PLUGIN_EV_ECHO_RESPONSE;
      ev.value = g.seq;
      ev.peer = o.src;
      ev.peer_af = is_ip6 ? UPF_EV_PEER_IP6 : UPF_EV_PEER_IP4;
      upf_event_post (vec_elt_at_index (upf_main.per_thread, vm->thread_index), &ev,
                      upf_now_ns (vm));
    }
  return upf_drop_next (node, b, v);
}

/* Verdicts that are not a forwarded G-PDU: GTP-U signalling answered, drops counted. */
static never_inline u16
upf_ul_other (vlib_node_runtime_t *node, vlib_buffer_t *b, const upf_verdict_t *v, u8 *outer,
              u32 len, int is_ip6)
{
  u8 msg[40];
  u32 n;
  upf_outer_t o;
  upf_gtpu_t g;
  u16 next;
  if (v->verdict == UPF_VERDICT_ECHO_REQUEST)
    {
      if (upf_parse_outer (outer, len, &o) != UPF_MALFORMED_NONE
          || upf_parse_gtpu (outer + o.payload_offset, o.payload_len, &g) != UPF_MALFORMED_NONE)
        return UPF_NEXT_DROP;
      n = upf_build_echo_response (&g, msg);
      next = upf_reply (b, outer, len, msg, n, is_ip6);
      b->error = node->errors[UPF_ERROR_ECHO_RESPONSE];
      return next;
    }
  if (v->gtpu_type == UPF_GTPU_ECHO_RESPONSE)
    return upf_echo_response_event (node, b, v, outer, len, is_ip6);
  if (v->verdict == UPF_VERDICT_END_MARKER)
    {
      /* TS 29.281 7.3.2: relayed on the tunnels of its F-TEID's FARs (core-built packets,
       * as FAR DUPL copies are, sent by the caller once the frame is handed on); the
       * received one is consumed */
      b->error = node->errors[UPF_ERROR_END_MARKER_RELAYED];
      return UPF_NEXT_DROP;
    }
  if (v->drop_reason == UPF_DROP_NO_SESSION && v->gtpu_type == UPF_GTPU_G_PDU)
    {
      /* TS 29.281 7.3.1: a G-PDU for no context gets an Error Indication */
      if (upf_parse_outer (outer, len, &o) != UPF_MALFORMED_NONE)
        return upf_drop_next (node, b, v);
      n = upf_build_error_indication (v->teid, &o.dst, msg);
      next = upf_reply (b, outer, len, msg, n, is_ip6);
      b->error = node->errors[UPF_ERROR_ERROR_INDICATION_SENT];
      return next;
    }
  if (v->malformed == UPF_MALFORMED_EXT_UNKNOWN_REQUIRED)
    {
      if (upf_parse_outer (outer, len, &o) != UPF_MALFORMED_NONE)
        return upf_drop_next (node, b, v);
      n = upf_build_supported_ext_hdr_notification (
        o.payload_len >= 10 ? upf_rd16 (outer + o.payload_offset + 8) : 0, msg);
      next = upf_reply (b, outer, len, msg, n, is_ip6);
      b->error = node->errors[UPF_ERROR_EXT_HDR_NOTIFICATION_SENT];
      return next;
    }
  return upf_drop_next (node, b, v);
}

static_always_inline uword
upf_gtpu_input_inline (vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame, int is_ip6)
{
  upf_main_t *um = &upf_main;
  clib_thread_index_t ti = vm->thread_index;
  upf_per_thread_t *ptd = vec_elt_at_index (um->per_thread, ti);
  u32 *from = vlib_frame_vector_args (frame), n = frame->n_vectors, i, n_fwd = 0, n_em = 0;
  vlib_buffer_t *bufs[VLIB_FRAME_SIZE];
  const u8 *pkts[VLIB_FRAME_SIZE];
  u32 lens[VLIB_FRAME_SIZE];
  u16 nexts[VLIB_FRAME_SIZE], em[VLIB_FRAME_SIZE];
  upf_verdict_t *v = ptd->verdicts;
  u64 now = upf_now_ns (vm);

  vlib_get_buffers (vm, from, bufs, n);
  for (i = 0; i < n; i++)
    {
      vlib_buffer_t *b = bufs[i];
      i16 l3 = vnet_buffer (b)->l3_hdr_offset;
      if (i + 4 < n)
        clib_prefetch_load (bufs[i + 4]->data);
      pkts[i] = b->data + l3;
      lens[i] = b->current_data + b->current_length - l3;
      if (PREDICT_FALSE (b->flags & VLIB_BUFFER_NEXT_PRESENT))
        lens[i] = 0; /* counted malformed (truncated) below */
    }

  upf_reader_enter (&um->ctx.epoch, ti);
  upf_ul_process_vec (&um->ctx, &ptd->stats, pkts, lens, n, now, v);

  /* N9: re-encapsulation reads the FAR's template */
  for (i = 0; i < n && i < UPF_VERDICT_PREFETCH; i++)
    upf_prefetch_forward (&v[i], pkts[i] + v[i].inner_offset);
  for (i = 0; i < n; i++)
    {
      vlib_buffer_t *b = bufs[i];
      u8 *outer = (u8 *)pkts[i];
      if (i + UPF_VERDICT_PREFETCH < n)
        {
          u32 j = i + UPF_VERDICT_PREFETCH;
          upf_prefetch_forward (&v[j], pkts[j] + v[j].inner_offset);
        }
      if (PREDICT_TRUE (v[i].verdict == UPF_VERDICT_FORWARD))
        {
          u8 *inner = outer + v[i].inner_offset;
          if (PREDICT_FALSE (v[i].redirect_type == UPF_REDIRECT_IPV4 + 1
                             || v[i].redirect_type == UPF_REDIRECT_IPV6 + 1))
            upf_rewrite_dst (inner, v[i].inner_len, v[i].redirect_addr);
          if (PREDICT_FALSE (v[i].n_dupl))
            upf_send_dupl (vm, node, &v[i], inner);
          /* A checksum the receiving interface left pending (af_packet, tap: a kernel
           * sender's CHECKSUM_PARTIAL) belongs to the removed outer header; the user packet
           * is complete. Left set, the output has one computed at a stale offset. */
          if (PREDICT_FALSE (b->flags & VNET_BUFFER_F_OFFLOAD))
            vnet_buffer_offload_flags_clear (b, vnet_buffer (b)->oflags);
          nexts[i] = upf_forward (node, b, &v[i], inner);
          n_fwd += nexts[i] != UPF_NEXT_DROP;
        }
      else if (v[i].verdict == UPF_VERDICT_BUFFER)
        nexts[i] = upf_buffer_gpdu_next (node, b, &v[i], outer, lens[i], &ptd->stats, now);
      else if (PREDICT_FALSE (b->flags & VLIB_BUFFER_NEXT_PRESENT))
        {
          b->error = node->errors[UPF_ERROR_CHAINED];
          nexts[i] = UPF_NEXT_DROP;
        }
      else
        {
          nexts[i] = upf_ul_other (node, b, &v[i], outer, lens[i], is_ip6);
          if (v[i].verdict == UPF_VERDICT_END_MARKER)
            em[n_em++] = i;
        }
      upf_verdict_done (vm, node, ptd, b, &v[i], nexts[i], now);
    }

  vlib_buffer_enqueue_to_next (vm, node, from, nexts, n);
  /* TS 29.281 7.3.2: an End Marker is the last packet on the old path. The relayed ones go
   * in frames of their own (upf_send_ip), dispatched in the order they are put: after this
   * frame's packets, so after the G-PDUs received before the End Marker. Still in the reader
   * epoch: the verdict's session and program are read. */
  for (i = 0; i < n_em; i++)
    upf_send_end_markers (vm, node, &v[em[i]]);
  upf_reader_exit (&um->ctx.epoch, ti);
  vlib_node_increment_counter (vm, node->node_index, UPF_ERROR_FORWARDED, n_fwd);
  return n;
}

VLIB_NODE_FN (upf_gtpu4_input_node)
(vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame)
{
  return upf_gtpu_input_inline (vm, node, frame, 0);
}

VLIB_NODE_FN (upf_gtpu6_input_node)
(vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame)
{
  return upf_gtpu_input_inline (vm, node, frame, 1);
}

VLIB_REGISTER_NODE (upf_gtpu4_input_node) = {
  .name = "upf-gtpu4-input",
  UPF_INPUT_NODE_FIELDS,
  UPF_INPUT_NODE_NEXTS,
};

VLIB_REGISTER_NODE (upf_gtpu6_input_node) = {
  .name = "upf-gtpu6-input",
  UPF_INPUT_NODE_FIELDS,
  .sibling_of = "upf-gtpu4-input",
};
