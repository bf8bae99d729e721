/* SPDX-License-Identifier: Apache-2.0 */

/*
 * upf_handoff.c: with worker threads, every packet of a session is processed by the
 * session's owner thread (upf_session_owner), so URR counters, QER token buckets and the
 * DL buffer each have one writer. These nodes look the packet's session up (lock-free, as
 * the input nodes do) and hand it to the owner's input node through a frame queue (as
 * nat44-ed's handoff). Packets without a session stay on the receiving thread.
 *
 *   upf-gtpu4-handoff / upf-gtpu6-handoff: UDP 2152 (instead of the input nodes)
 *   upf-n6-ip4-handoff / upf-n6-ip6-handoff: the N6 feature (instead of the input nodes)
 */
#include <vnet/feature/feature.h>
#include "upf_node.h"

/* The entry's own copy of the SEID: no read of the program's line. */
static_always_inline u32
upf_entry_owner (const upf_entry_t *e, u32 ti)
{
  return e ? upf_session_owner (e->seid) : ti;
}

static_always_inline uword
upf_handoff_inline (vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame, int is_dl,
                    u32 fq)
{
  upf_main_t *um = &upf_main;
  clib_thread_index_t ti = vm->thread_index;
  u32 *from = vlib_frame_vector_args (frame), n = frame->n_vectors, i, n_enq;
  vlib_buffer_t *bufs[VLIB_FRAME_SIZE];
  u16 threads[VLIB_FRAME_SIZE];

  vlib_get_buffers (vm, from, bufs, n);
  upf_reader_enter (&um->ctx.epoch, ti);
  for (i = 0; i < n; i++)
    {
      vlib_buffer_t *b = bufs[i];
      const upf_entry_t *e = 0;
      if (is_dl)
        {
          upf_inner_t in;
          u16 nwi = upf_n6_nwi (um, vnet_buffer (b)->sw_if_index[VLIB_RX]);
          if (upf_parse_inner (vlib_buffer_get_current (b), b->current_length, &in)
              == UPF_MALFORMED_NONE)
            e = upf_dl_find (&um->ctx.dl, nwi, &in.dst);
        }
      else
        {
          i16 l3 = vnet_buffer (b)->l3_hdr_offset;
          const u8 *outer = b->data + l3;
          upf_outer_t o;
          upf_gtpu_t g;
          if (upf_parse_outer (outer, b->current_data + b->current_length - l3, &o)
                == UPF_MALFORMED_NONE
              && upf_parse_gtpu (outer + o.payload_offset, o.payload_len, &g) == UPF_MALFORMED_NONE
              && g.type == UPF_GTPU_G_PDU)
            e = upf_ul_find (&um->ctx.ul, &o.dst, g.teid);
        }
      threads[i] = upf_entry_owner (e, ti);
    }
  upf_reader_exit (&um->ctx.epoch, ti);

  n_enq = vlib_buffer_enqueue_to_thread (vm, node, fq, from, threads, n, 1);
  vlib_node_increment_counter (vm, node->node_index, UPF_ERROR_HANDOFF, n_enq);
  if (n_enq < n)
    vlib_node_increment_counter (vm, node->node_index, UPF_ERROR_CONGESTION, n - n_enq);
  return n;
}

VLIB_NODE_FN (upf_gtpu4_handoff_node)
(vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame)
{
  return upf_handoff_inline (vm, node, frame, 0, upf_main.fq_gtpu4);
}

VLIB_NODE_FN (upf_gtpu6_handoff_node)
(vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame)
{
  return upf_handoff_inline (vm, node, frame, 0, upf_main.fq_gtpu6);
}

VLIB_NODE_FN (upf_n6_ip4_handoff_node)
(vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame)
{
  return upf_handoff_inline (vm, node, frame, 1, upf_main.fq_n6_ip4);
}

VLIB_NODE_FN (upf_n6_ip6_handoff_node)
(vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame)
{
  return upf_handoff_inline (vm, node, frame, 1, upf_main.fq_n6_ip6);
}

/* The N6 handoff nodes are siblings of the input nodes: the feature arc's next index
 * that the input node follows (vnet_feature_next) was given to the enabled handoff node. */
VLIB_REGISTER_NODE (upf_gtpu4_handoff_node) = {
  .name = "upf-gtpu4-handoff",
  .vector_size = sizeof (u32),
  .n_errors = UPF_N_ERROR,
  .error_counters = upf_error_counters,
  .n_next_nodes = 1,
  .next_nodes = { [0] = "error-drop" },
};

VLIB_REGISTER_NODE (upf_gtpu6_handoff_node) = {
  .name = "upf-gtpu6-handoff",
  .vector_size = sizeof (u32),
  .n_errors = UPF_N_ERROR,
  .error_counters = upf_error_counters,
  .n_next_nodes = 1,
  .next_nodes = { [0] = "error-drop" },
};

VLIB_REGISTER_NODE (upf_n6_ip4_handoff_node) = {
  .name = "upf-n6-ip4-handoff",
  .vector_size = sizeof (u32),
  .n_errors = UPF_N_ERROR,
  .error_counters = upf_error_counters,
  .sibling_of = "upf-n6-ip4-input",
};

VLIB_REGISTER_NODE (upf_n6_ip6_handoff_node) = {
  .name = "upf-n6-ip6-handoff",
  .vector_size = sizeof (u32),
  .n_errors = UPF_N_ERROR,
  .error_counters = upf_error_counters,
  .sibling_of = "upf-n6-ip6-input",
};
