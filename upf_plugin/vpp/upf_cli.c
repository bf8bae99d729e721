/* SPDX-License-Identifier: Apache-2.0 */

/*
 * upf_cli.c: operator CLI: show sessions, counters and interfaces; bind interface roles
 * and network instances (what upf_interface_add_del / upf_nwi_add_del do over the API).
 */
#include <vnet/vnet.h>
#include <vnet/ip/format.h>

#include "upf.h"

static const char *upf_role_names[UPF_ROLE_N] = { "n3", "n6", "n9" };

u8 *
format_upf_role (u8 *s, va_list *args)
{
  u32 r = va_arg (*args, u32);
  return format (s, "%s", r < UPF_ROLE_N ? upf_role_names[r] : "?");
}

uword
unformat_upf_role (unformat_input_t *input, va_list *args)
{
  u32 *r = va_arg (*args, u32 *);
  u32 i;
  for (i = 0; i < UPF_ROLE_N; i++)
    if (unformat (input, upf_role_names[i]))
      {
        *r = i;
        return 1;
      }
  return 0;
}

u8 *
format_upf_ip (u8 *s, va_list *args)
{
  const upf_ip_t *a = va_arg (*args, const upf_ip_t *);
  if (upf_ip_is4 (a))
    return format (s, "%U", format_ip4_address, a->b + 12);
  return format (s, "%U", format_ip6_address, a->b);
}

static u8 *
format_upf_prefix (u8 *s, va_list *args)
{
  const upf_ip_t *a = va_arg (*args, const upf_ip_t *);
  u32 plen = va_arg (*args, u32);
  if (upf_ip_is4 (a))
    return format (s, "%U/%u", format_upf_ip, a, plen >= 96 ? plen - 96 : 0);
  return format (s, "%U/%u", format_upf_ip, a, plen);
}

static const char *upf_aa_names[] = { "drop", "forw", "buff", "nocp", "dupl" };

static u8 *
format_upf_apply_action (u8 *s, va_list *args)
{
  u32 aa = va_arg (*args, u32), i, first = 1;
  for (i = 0; i < ARRAY_LEN (upf_aa_names); i++)
    if (aa & (1 << i))
      {
        s = format (s, "%s%s", first ? "" : "|", upf_aa_names[i]);
        first = 0;
      }
  return first ? format (s, "none") : s;
}

/* format_upf_session (vs, detail) */
u8 *
format_upf_session (u8 *s, va_list *args)
{
  upf_vpp_session_t *vs = va_arg (*args, upf_vpp_session_t *);
  int detail = va_arg (*args, int);
  upf_program_t *p = atomic_load (&vs->core->prog);
  u32 indent = format_get_indent (s), i;

  s = format (s, "session seid 0x%llx owner-thread %u cookie 0x%llx", vs->seid,
              upf_session_owner (vs->seid), vs->cookie);
  s = format (s, "\n%Updr %u far %u qer %u urr %u sdf %u dupl %u bar %s buffered %u",
              format_white_space, indent + 2, vs->n_pdr, vs->n_far, vs->n_qer, vs->n_urr, vs->n_sdf,
              vs->n_dupl, vs->has_bar ? "yes" : "no",
              vs->core->buffer ? vs->core->buffer->n_pkts : 0);
  if (!detail || !p)
    return s;
  for (i = 0; i < p->n_pdr; i++)
    {
      const upf_pdr_rule_t *r = &p->rule[i];
      const upf_pdi_rt_t *d = &p->pdi[r->pdi];
      const upf_far_rt_t *f = &p->far[r->far];
      s = format (s, "\n%Updr %u src-if %u nwi %u", format_white_space, indent + 2, r->pdr_id,
                  d->source_interface, d->network_instance);
      if (d->pdi_flags & UPF_PDI_FTEID)
        s = format (s, " f-teid %U/0x%08x", format_upf_ip, &d->fteid_addr, d->teid);
      if (d->pdi_flags & UPF_PDI_UE_IP)
        s = format (s, " ue %U", format_upf_prefix, &d->ue_ip, (u32)d->ue_ip_plen);
      if (d->pdi_flags & UPF_PDI_QFI)
        s = format (s, " qfi %u", d->qfi);
      s = format (s, " -> far %u %U dst-if %u nwi %u%s", f->far_id, format_upf_apply_action,
                  (u32)f->apply_action, f->dest_interface, f->network_instance,
                  f->encap != UPF_NONE8 ? " gtpu-encap" : "");
    }
  for (i = 0; i < p->n_urr; i++)
    {
      upf_usage_t u;
      if (upf_session_read_urr (vs->core, p->urr[i].urr_id, &u, 0, 0) < 0)
        continue;
      s = format (s, "\n%Uurr %u bytes ul %llu dl %llu total %llu pkts ul %llu dl %llu",
                  format_white_space, indent + 2, u.urr_id, u.bytes[UPF_VOL_UL],
                  u.bytes[UPF_VOL_DL], u.bytes[UPF_VOL_TOTAL], u.pkts[UPF_VOL_UL],
                  u.pkts[UPF_VOL_DL]);
    }
  for (i = 0; i < p->n_qer; i++)
    s = format (s, "\n%Uqer %u gate ul %s dl %s mbr ul %llu dl %llu B/s", format_white_space,
                indent + 2, p->qer_rt[i].qer_id,
                p->qer_rt[i].gate[UPF_DIR_UL] == UPF_GATE_OPEN ? "open" : "closed",
                p->qer_rt[i].gate[UPF_DIR_DL] == UPF_GATE_OPEN ? "open" : "closed",
                p->qer_rt[i].Bps[UPF_DIR_UL], p->qer_rt[i].Bps[UPF_DIR_DL]);
  return s;
}

static clib_error_t *
upf_show_session_fn (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  upf_main_t *um = &upf_main;
  upf_vpp_session_t *vs;
  u64 seid = ~0ULL;
  int detail = 0;
  while (unformat_check_input (input) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (input, "seid %llx", &seid))
        ;
      else if (unformat (input, "detail"))
        detail = 1;
      else
        return clib_error_return (0, "unknown input '%U'", format_unformat_error, input);
    }
  if (seid != ~0ULL)
    {
      if (!(vs = upf_session_get (seid)))
        return clib_error_return (0, "no session with seid 0x%llx", seid);
      vlib_cli_output (vm, "%U", format_upf_session, vs, detail);
      return 0;
    }
  vlib_cli_output (vm, "%u sessions", pool_elts (um->sessions));
  pool_foreach (vs, um->sessions) vlib_cli_output (vm, "%U", format_upf_session, vs, detail);
  return 0;
}

VLIB_CLI_COMMAND (upf_show_session_command, static) = {
  .path = "show upf session",
  .short_help = "show upf session [seid <hex>] [detail]",
  .function = upf_show_session_fn,
};

static clib_error_t *
upf_show_counters_fn (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  upf_main_t *um = &upf_main;
  upf_stats_t st;
  u64 lost;
  u32 i;
  upf_counters_sum (&st, &lost);
  vlib_cli_output (vm, "%-48s %llu", "rx uplink", st.rx_pkts[UPF_DIR_UL]);
  vlib_cli_output (vm, "%-48s %llu", "rx downlink", st.rx_pkts[UPF_DIR_DL]);
  for (i = 1; i < UPF_DROP_N_REASONS; i++)
    if (st.drops[i])
      vlib_cli_output (vm, "drop: %-42s %llu", upf_drop_reason_str (i), st.drops[i]);
  for (i = 1; i < UPF_MALFORMED_N_REASONS; i++)
    if (st.malformed[i])
      vlib_cli_output (vm, "malformed: %-37s %llu", upf_malformed_str (i), st.malformed[i]);
  vlib_cli_output (vm, "%-48s %llu", "events sent", um->events_sent);
  vlib_cli_output (vm, "%-48s %llu", "events deferred", st.events_deferred);
  vlib_cli_output (vm, "%-48s %llu", "events lost", lost);
  vlib_cli_output (vm, "%-48s %u", "event subscribers", vec_len (um->event_clients));
  vlib_cli_output (vm, "%-48s %u", "sessions", pool_elts (um->sessions));
  vlib_cli_output (vm, "%-48s %llu", "objects awaiting reclamation", um->ctx.epoch.n_retired);
  return 0;
}

VLIB_CLI_COMMAND (upf_show_counters_command, static) = {
  .path = "show upf counters",
  .short_help = "show upf counters",
  .function = upf_show_counters_fn,
};

static clib_error_t *
upf_show_interfaces_fn (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  upf_main_t *um = &upf_main;
  vnet_main_t *vnm = vnet_get_main ();
  upf_interface_t *it;
  upf_nwi_t *n;
  pool_foreach (it, um->interfaces)
    vlib_cli_output (vm, "%U role %U nwi %u", format_vnet_sw_if_index_name, vnm, it->sw_if_index,
                     format_upf_role, (u32)it->role, it->network_instance);
  vec_foreach (n, um->nwis) if (n->in_use) vlib_cli_output (
    vm, "nwi %u ip4-table %u ip6-table %u", n - um->nwis, n->ip4_table_id, n->ip6_table_id);
  return 0;
}

VLIB_CLI_COMMAND (upf_show_interfaces_command, static) = {
  .path = "show upf interfaces",
  .short_help = "show upf interfaces",
  .function = upf_show_interfaces_fn,
};

static clib_error_t *
upf_interface_fn (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  vnet_main_t *vnm = vnet_get_main ();
  u32 sw_if_index = ~0, role = ~0, nwi = 0;
  int is_add = 1, rv;
  while (unformat_check_input (input) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (input, "%U", unformat_vnet_sw_interface, vnm, &sw_if_index))
        ;
      else if (unformat (input, "role %U", unformat_upf_role, &role))
        ;
      else if (unformat (input, "nwi %u", &nwi))
        ;
      else if (unformat (input, "del"))
        is_add = 0;
      else
        return clib_error_return (0, "unknown input '%U'", format_unformat_error, input);
    }
  if (sw_if_index == ~0 || role == ~0 || nwi > 0xffff)
    return clib_error_return (0, "usage: %s", cmd->short_help);
  rv = upf_interface_add_del (sw_if_index, role, (u16)nwi, is_add);
  if (rv)
    return clib_error_return (0, "upf interface: %U", format_vnet_api_errno, rv);
  return 0;
}

VLIB_CLI_COMMAND (upf_interface_command, static) = {
  .path = "upf interface",
  .short_help = "upf interface <interface> role n3|n6|n9 [nwi <n>] [del]",
  .function = upf_interface_fn,
};

static clib_error_t *
upf_nwi_fn (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  u32 nwi = ~0, t4 = 0, t6 = ~0;
  int is_add = 1, rv;
  while (unformat_check_input (input) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (input, "%u", &nwi))
        ;
      else if (unformat (input, "table %u", &t4))
        ;
      else if (unformat (input, "ip6-table %u", &t6))
        ;
      else if (unformat (input, "del"))
        is_add = 0;
      else
        return clib_error_return (0, "unknown input '%U'", format_unformat_error, input);
    }
  if (nwi > 0xffff)
    return clib_error_return (0, "usage: %s", cmd->short_help);
  rv = upf_nwi_add_del ((u16)nwi, t4, t6 == ~0 ? t4 : t6, is_add);
  if (rv)
    return clib_error_return (0, "upf nwi: %U", format_vnet_api_errno, rv);
  return 0;
}

VLIB_CLI_COMMAND (upf_nwi_command, static) = {
  .path = "upf nwi",
  .short_help = "upf nwi <index> table <ip4-table-id> [ip6-table <ip6-table-id>] [del]",
  .function = upf_nwi_fn,
};
