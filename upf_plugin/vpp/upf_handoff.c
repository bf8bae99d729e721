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

/* The packet's table key (UL: local address and TEID of a G-PDU; DL: the UE address at the
 * longest prefix length present); 0 when it has none (the packet stays on this thread). */
static_always_inline int
upf_handoff_key (upf_main_t *um, vlib_buffer_t *b, int is_dl, upf_key_t *k)
{
  if (is_dl)
    {
      upf_inner_t in;
      u16 nwi = upf_n6_nwi (um, vnet_buffer (b)->sw_if_index[VLIB_RX]);
      return upf_parse_inner (vlib_buffer_get_current (b), b->current_length, &in)
               == UPF_MALFORMED_NONE
             && upf_dl_first_key (&um->ctx.dl, nwi, &in.dst, k);
    }
  else
    {
      i16 l3 = vnet_buffer (b)->l3_hdr_offset;
      const u8 *outer = b->data + l3;
      upf_outer_t o;
      upf_gtpu_t g;
      if (upf_parse_outer (outer, b->current_data + b->current_length - l3, &o)
            != UPF_MALFORMED_NONE
          || upf_parse_gtpu (outer + o.payload_offset, o.payload_len, &g) != UPF_MALFORMED_NONE
          || g.type != UPF_GTPU_G_PDU)
        return 0;
      upf_ul_key (k, &o.dst, g.teid);
      return 1;
    }
}

/* The session's owner, from the entry's own copy of the SEID (no read of its program). */
static_always_inline u16
upf_handoff_owner (upf_main_t *um, upf_table_t *t, upf_slots_t *s, vlib_buffer_t *b, int is_dl,
                   const upf_key_t *k, u64 h, u32 ti)
{
  const upf_entry_t *e = upf_slots_find (s, k, h);
  if (!e && is_dl)
    {
      /* not at the longest prefix length: the other lengths, one probe each */
      upf_inner_t in;
      if (upf_parse_inner (vlib_buffer_get_current (b), b->current_length, &in)
          == UPF_MALFORMED_NONE)
        e = upf_dl_find (t, upf_n6_nwi (um, vnet_buffer (b)->sw_if_index[VLIB_RX]), &in.dst);
    }
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
  upf_key_t keys[VLIB_FRAME_SIZE];
  u64 hashes[VLIB_FRAME_SIZE];
  u8 has_key[VLIB_FRAME_SIZE];
  upf_table_t *t = is_dl ? &um->ctx.dl : &um->ctx.ul;
  upf_slots_t *s;

  vlib_get_buffers (vm, from, bufs, n);
  if (um->n_workers == 1)
    /* one owner for every session: no lookup */
    for (i = 0; i < n; i++)
      threads[i] = um->first_worker;
  else
    {
      upf_reader_enter (&um->ctx.epoch, ti);
      s = upf_table_slots (t);
      /* the frame's lookups in three passes, so that each pass's reads were prefetched
       * by the one before: keys and their slots, the slots' entries, the entries */
      for (i = 0; i < n; i++)
        if ((has_key[i] = upf_handoff_key (um, bufs[i], is_dl, &keys[i])))
          {
            hashes[i] = upf_key_hash (&keys[i]);
            upf_slots_prefetch (s, hashes[i]);
          }
      for (i = 0; i < n; i++)
        if (has_key[i])
          upf_slots_prefetch_entry (s, hashes[i]);
      for (i = 0; i < n; i++)
        threads[i]
          = has_key[i] ? upf_handoff_owner (um, t, s, bufs[i], is_dl, &keys[i], hashes[i], ti) : ti;
      upf_reader_exit (&um->ctx.epoch, ti);
    }

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
