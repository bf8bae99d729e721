/* SPDX-License-Identifier: Apache-2.0 */

/*
 * upf_n6_input.c: upf-n6-ip4-input and upf-n6-ip6-input, the downlink entry: features on
 * the ip4-unicast / ip6-unicast arcs of the interfaces with role N6 (README.md says why a
 * feature rather than a FIB entry per UE). The interface gives the network instance; the
 * core looks the destination up in its DL table (upf_dl_process_vec). A packet for a UE
 * is encapsulated with its FAR's template and sent to ip4/ip6-lookup in the FAR's network
 * instance, buffered, or dropped; a packet for no session continues on the arc.
 */
#include <vnet/feature/feature.h>
#include "upf_node.h"

/* A packet the core found malformed is dropped only when it is for a UE of the network
 * instance (the destination address read from the IP header as is); anything else is not
 * the UPF's to judge and continues on the arc. */
static never_inline int
upf_n6_malformed_is_ours (upf_main_t *um, u16 nwi, const u8 *pkt, u32 len)
{
  upf_ip_t dst;
  if (len >= 20 && (pkt[0] >> 4) == 4)
    dst = upf_ip4_from_bytes (pkt + 16);
  else if (len >= 40 && (pkt[0] >> 4) == 6)
    clib_memcpy_fast (dst.b, pkt + 24, 16);
  else
    return 0;
  return upf_dl_find (&um->ctx.dl, nwi, &dst) != 0;
}

static_always_inline uword
upf_n6_input_inline (vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame)
{
  upf_main_t *um = &upf_main;
  clib_thread_index_t ti = vm->thread_index;
  upf_per_thread_t *ptd = vec_elt_at_index (um->per_thread, ti);
  u32 *from = vlib_frame_vector_args (frame), n = frame->n_vectors, i, run, n_fwd = 0;
  u32 n_not_ours = 0;
  vlib_buffer_t *bufs[VLIB_FRAME_SIZE];
  const u8 *pkts[VLIB_FRAME_SIZE];
  u32 lens[VLIB_FRAME_SIZE];
  u16 nexts[VLIB_FRAME_SIZE], nwi[VLIB_FRAME_SIZE];
  upf_verdict_t *v = ptd->verdicts;
  u64 now = upf_now_ns (vm);

  u32 sw_if_index, last_sw_if_index = ~0;
  u16 last_nwi = 0;

  vlib_get_buffers (vm, from, bufs, n);
  for (i = 0; i < n; i++)
    {
      vlib_buffer_t *b = bufs[i];
      pkts[i] = vlib_buffer_get_current (b);
      lens[i] = b->flags & VLIB_BUFFER_NEXT_PRESENT ? 0 : b->current_length;
      /* a frame usually comes from one interface */
      sw_if_index = vnet_buffer (b)->sw_if_index[VLIB_RX];
      if (PREDICT_FALSE (sw_if_index != last_sw_if_index))
        {
          last_sw_if_index = sw_if_index;
          last_nwi = upf_n6_nwi (um, sw_if_index);
        }
      nwi[i] = last_nwi;
    }

  upf_reader_enter (&um->ctx.epoch, ti);
  /* the core takes one network instance per call: runs of packets from one instance */
  for (i = 0; i < n; i += run)
    {
      for (run = 1; i + run < n && nwi[i + run] == nwi[i]; run++)
        ;
      upf_dl_process_vec (&um->ctx, &ptd->stats, nwi[i], pkts + i, lens + i, run, now, v + i);
    }

  for (i = 0; i < n && i < UPF_VERDICT_PREFETCH; i++)
    upf_prefetch_forward (&v[i], pkts[i]);
  for (i = 0; i < n; i++)
    {
      vlib_buffer_t *b = bufs[i];
      u8 *pkt = (u8 *)pkts[i];
      if (i + UPF_VERDICT_PREFETCH < n)
        upf_prefetch_forward (&v[i + UPF_VERDICT_PREFETCH], pkts[i + UPF_VERDICT_PREFETCH]);
      if (PREDICT_TRUE (v[i].verdict == UPF_VERDICT_FORWARD))
        {
          if (PREDICT_FALSE (v[i].n_dupl))
            upf_send_dupl (vm, node, &v[i], pkt);
          nexts[i] = upf_forward (node, b, &v[i], pkt);
          n_fwd += nexts[i] != UPF_NEXT_DROP;
        }
      else if (v[i].verdict == UPF_VERDICT_BUFFER)
        nexts[i] = upf_buffer_next (node, b, &v[i], pkt, &ptd->stats, now);
      else if (v[i].drop_reason == UPF_DROP_NO_SESSION
               || (v[i].drop_reason == UPF_DROP_MALFORMED
                   && !upf_n6_malformed_is_ours (um, nwi[i], pkt, b->current_length)))
        {
          /* not for a UE: the rest of the arc (ip4/ip6-lookup) */
          vnet_feature_next_u16 (&nexts[i], b);
          n_not_ours++;
        }
      else if (PREDICT_FALSE (b->flags & VLIB_BUFFER_NEXT_PRESENT))
        {
          b->error = node->errors[UPF_ERROR_CHAINED];
          nexts[i] = UPF_NEXT_DROP;
        }
      else
        nexts[i] = upf_drop_next (node, b, &v[i]);
      upf_verdict_done (vm, node, ptd, b, &v[i], nexts[i], now);
    }
  upf_reader_exit (&um->ctx.epoch, ti);

  vlib_buffer_enqueue_to_next (vm, node, from, nexts, n);
  vlib_node_increment_counter (vm, node->node_index, UPF_ERROR_FORWARDED, n_fwd);
  vlib_node_increment_counter (vm, node->node_index, UPF_ERROR_NOT_OURS, n_not_ours);
  return n;
}

VLIB_NODE_FN (upf_n6_ip4_input_node)
(vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame)
{
  return upf_n6_input_inline (vm, node, frame);
}

VLIB_NODE_FN (upf_n6_ip6_input_node)
(vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame)
{
  return upf_n6_input_inline (vm, node, frame);
}

VLIB_REGISTER_NODE (upf_n6_ip4_input_node) = {
  .name = "upf-n6-ip4-input",
  UPF_INPUT_NODE_FIELDS,
  UPF_INPUT_NODE_NEXTS,
};

VLIB_REGISTER_NODE (upf_n6_ip6_input_node) = {
  .name = "upf-n6-ip6-input",
  UPF_INPUT_NODE_FIELDS,
  .sibling_of = "upf-n6-ip4-input",
};
