/* SPDX-License-Identifier: Apache-2.0 */

/*
 * upf_node.c: what the graph nodes share that is not per CPU variant: error counters, the
 * trace formatter, FAR DUPL copies, the N6 feature registrations.
 */
#include <vnet/feature/feature.h>
#include "upf_node.h"
#include <upf_corelib.h>

/* The stat segment names (/err/<node>/<name>) are the descriptions. */
vlib_error_desc_t upf_error_counters[] = {
#define _(n, sev, s) { .name = s, .desc = s, .severity = VL_COUNTER_SEVERITY_##sev },
  foreach_upf_error
#undef _
#define _(n, s)                                                                                    \
  { .name = "dropped: " s, .desc = "dropped: " s, .severity = VL_COUNTER_SEVERITY_ERROR },
    foreach_upf_drop_reason
#undef _
};

static const char *upf_verdict_str[]
  = { "drop", "forward", "buffer", "echo-request", "end-marker" };
static const char *upf_if_str[] = { "access", "core", "sgi-lan", "cp-function", "5g-vn" };

u8 *
format_upf_trace (u8 *s, va_list *args)
{
  CLIB_UNUSED (vlib_main_t * vm) = va_arg (*args, vlib_main_t *);
  CLIB_UNUSED (vlib_node_t * node) = va_arg (*args, vlib_node_t *);
  upf_trace_t *t = va_arg (*args, upf_trace_t *);
  u32 indent = format_get_indent (s);

  s = format (s, "upf: %s",
              t->verdict < ARRAY_LEN (upf_verdict_str) ? upf_verdict_str[t->verdict] : "?");
  if (t->verdict == UPF_VERDICT_DROP)
    {
      s = format (s, " (%s", upf_drop_reason_str (t->drop_reason));
      if (t->drop_reason == UPF_DROP_MALFORMED)
        s = format (s, ": %s", upf_malformed_str (t->malformed));
      s = format (s, ")");
    }
  s = format (s, " next %u", t->next);
  s = format (s, "\n%Useid 0x%llx pdr %u far %u", format_white_space, indent + 2, t->seid,
              t->pdr_id, t->far_id);
  if (t->teid || t->gtpu_type)
    s = format (s, " teid 0x%08x gtpu-type %u", t->teid, t->gtpu_type);
  if (t->verdict == UPF_VERDICT_FORWARD)
    s = format (s, "\n%Uto %s nwi %u%s qfi %u inner-len %u", format_white_space, indent + 2,
                t->dest_interface < ARRAY_LEN (upf_if_str) ? upf_if_str[t->dest_interface] : "?",
                t->network_instance, t->encap ? " gtpu-encap" : "", t->qfi, t->inner_len);
  if (t->n_events)
    s = format (s, " events %u", t->n_events);
  return s;
}

void
upf_send_dupl (vlib_main_t *vm, vlib_node_runtime_t *node, const upf_verdict_t *v, const u8 *inner)
{
  u8 out[2048];
  u32 i, n, fib;
  for (i = 0; i < v->n_dupl; i++)
    {
      n = upfcore_dupl_packet (v, i, inner, out, sizeof (out));
      /* copies go out in the FAR's network instance (duplicating parameters carry no
       * network instance of their own) */
      fib = n ? upf_nwi_fib_index (v->network_instance, (out[0] >> 4) == 6) : ~0;
      if (fib == ~0 || upf_send_ip (vm, out, n, fib) < 0)
        vlib_node_increment_counter (vm, node->node_index, UPF_ERROR_DUPL_FAILED, 1);
      else
        vlib_node_increment_counter (vm, node->node_index, UPF_ERROR_DUPL_SENT, 1);
    }
}

void
upf_send_end_markers (vlib_main_t *vm, vlib_node_runtime_t *node, const upf_verdict_t *v)
{
  u8 out[UPF_ENCAP_MAX_LEN];
  u32 info[6], i, n, fib;
  for (i = 0; (n = upfcore_end_marker_packet (v, i, out, sizeof (out), info)); i++)
    {
      fib = upf_nwi_fib_index (info[3], (out[0] >> 4) == 6);
      if (fib == ~0 || upf_send_ip (vm, out, n, fib) < 0)
        vlib_node_increment_counter (vm, node->node_index, UPF_ERROR_END_MARKER_FAILED, 1);
      else
        vlib_node_increment_counter (vm, node->node_index, UPF_ERROR_END_MARKER_SENT, 1);
    }
}

/* Both the input and the handoff node are features; upf_interface_add_del enables one. */
VNET_FEATURE_INIT (upf_n6_ip4_input, static) = {
  .arc_name = "ip4-unicast",
  .node_name = "upf-n6-ip4-input",
  .runs_before = VNET_FEATURES ("ip4-lookup"),
};

VNET_FEATURE_INIT (upf_n6_ip6_input, static) = {
  .arc_name = "ip6-unicast",
  .node_name = "upf-n6-ip6-input",
  .runs_before = VNET_FEATURES ("ip6-lookup"),
};

VNET_FEATURE_INIT (upf_n6_ip4_handoff, static) = {
  .arc_name = "ip4-unicast",
  .node_name = "upf-n6-ip4-handoff",
  .runs_before = VNET_FEATURES ("ip4-lookup"),
};

VNET_FEATURE_INIT (upf_n6_ip6_handoff, static) = {
  .arc_name = "ip6-unicast",
  .node_name = "upf-n6-ip6-handoff",
  .runs_before = VNET_FEATURES ("ip6-lookup"),
};
