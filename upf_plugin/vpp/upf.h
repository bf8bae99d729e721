/* SPDX-License-Identifier: Apache-2.0 */

/*
 * upf.h: the UPF plugin's main state, shared by its nodes, binary API and CLI.
 *
 * The portable core (upf_plugin/core) does the packet work: the nodes hand it vectors of
 * packets (upf_ul_process_vec / upf_dl_process_vec) and act on its verdicts. The main
 * thread is the core's single writer (sessions, tables); every thread that runs a UPF node
 * is a core reader (epoch slot = VPP thread index).
 *
 * Workers: the core's mutable per-session state (URR counters, QER token buckets, DL
 * buffer) has one writer. The plugin gives every session an owner thread,
 * upf_session_owner (seid), and the handoff nodes send each packet to its session's
 * owner before the core sees it, so that state is only written by its owner (see
 * README.md "Workers").
 */
#ifndef included_upf_vpp_h
#define included_upf_vpp_h

#include <vnet/vnet.h>
#include <vnet/ip/ip.h>
#include <vnet/fib/fib_source.h>
#include <vppinfra/lock.h>

#include <upf_core.h>

#define UPF_PLUGIN_VERSION_STRING "0.1.0"

/* Interface roles (upf.api upf_if_role). */
typedef enum
{
  UPF_ROLE_N3 = 0,
  UPF_ROLE_N6 = 1,
  UPF_ROLE_N9 = 2,
  UPF_ROLE_N,
} upf_role_t;

typedef struct
{
  u8 in_use;
  u32 ip4_table_id, ip6_table_id;
  u32 fib_index[2]; /* [0] IPv4, [1] IPv6 */
} upf_nwi_t;

typedef struct
{
  u32 sw_if_index;
  u8 role;
  u16 network_instance;
} upf_interface_t;

/* A GTP-U FAR's outer header creation, kept to send End Markers on a path switch. */
typedef struct
{
  u32 far_id;
  u32 teid;
  u16 network_instance;
  u8 with_psc;
  upf_ip_t peer, src;
} upf_far_path_t;

typedef struct
{
  u64 seid;
  u64 cookie;
  upf_session_t *core;
  upf_far_path_t *paths; /* vec */
  u16 n_pdr, n_far, n_qer, n_urr, n_sdf, n_dupl;
  u8 has_bar;
  u8 may_tick; /* time triggers, BAR duration: upf_session_tick runs for it */
} upf_vpp_session_t;

/* An event on its way from a packet thread to the API clients. */
typedef struct
{
  upf_event_t ev;
  u64 time_ns;
} upf_event_rec_t;

typedef struct
{
  CLIB_CACHE_LINE_ALIGN_MARK (cacheline0);
  upf_stats_t stats;       /* core counters of this thread */
  clib_spinlock_t lock;    /* events: this thread appends, the main thread takes */
  upf_event_rec_t *events; /* vec */
  u64 events_lost;
  upf_verdict_t *verdicts; /* vec, VLIB_FRAME_SIZE */
} upf_per_thread_t;

typedef struct
{
  u32 client_index;
  u32 client_pid;
} upf_event_client_t;

typedef struct
{
  upf_ctx_t ctx;                             /* core: tables, epochs (main thread writes) */
  upf_vpp_session_t *sessions;               /* pool */
  uword *session_by_seid;                    /* hash: seid -> pool index */
  upf_nwi_t *nwis;                           /* vec by network instance index */
  upf_interface_t *interfaces;               /* pool */
  u32 *interface_by_sw_if_index[UPF_ROLE_N]; /* vec: sw_if_index -> pool index + 1 */
  upf_per_thread_t *per_thread;              /* vec by thread index */
  upf_event_client_t *event_clients;         /* vec */
  u64 events_sent;
  u32 n_tick_sessions;

  /* handoff: frame queues to the owner thread's input nodes */
  u32 fq_gtpu4, fq_gtpu6, fq_n6_ip4, fq_n6_ip6;
  u32 first_worker, n_workers;

  fib_source_t fib_src;
  u16 msg_id_base;
  u32 gtpu4_input_index, gtpu6_input_index;
  u8 udp_ports_registered;

  vlib_main_t *vlib_main;
  vnet_main_t *vnet_main;
} upf_main_t;

extern upf_main_t upf_main;

extern vlib_node_registration_t upf_gtpu4_input_node;
extern vlib_node_registration_t upf_gtpu6_input_node;
extern vlib_node_registration_t upf_gtpu4_handoff_node;
extern vlib_node_registration_t upf_gtpu6_handoff_node;
extern vlib_node_registration_t upf_n6_ip4_input_node;
extern vlib_node_registration_t upf_n6_ip6_input_node;
extern vlib_node_registration_t upf_n6_ip4_handoff_node;
extern vlib_node_registration_t upf_n6_ip6_handoff_node;
extern vlib_node_registration_t upf_process_node;

/* The plugin clock handed to the core: ns since VPP started. */
static_always_inline u64
upf_now_ns (vlib_main_t *vm)
{
  return (u64)(vlib_time_now (vm) * 1e9);
}

/* The thread whose packet path owns a session's mutable state. */
static_always_inline u32
upf_session_owner (u64 seid)
{
  upf_main_t *um = &upf_main;
  if (um->n_workers == 0)
    return 0;
  return um->first_worker + (u32)(seid % um->n_workers);
}

static_always_inline upf_vpp_session_t *
upf_session_get (u64 seid)
{
  upf_main_t *um = &upf_main;
  uword *p = hash_get (um->session_by_seid, seid);
  return p ? pool_elt_at_index (um->sessions, p[0]) : 0;
}

/* FIB index for a network instance and family (is_ip6), ~0 if unbound. */
static_always_inline u32
upf_nwi_fib_index (u16 nwi, int is_ip6)
{
  upf_main_t *um = &upf_main;
  if (nwi >= vec_len (um->nwis) || !um->nwis[nwi].in_use)
    return ~0;
  return um->nwis[nwi].fib_index[is_ip6 != 0];
}

/* The network instance of an N6 interface (0 if it has no N6 role). */
static_always_inline u16
upf_n6_nwi (upf_main_t *um, u32 sw_if_index)
{
  u32 *by = um->interface_by_sw_if_index[UPF_ROLE_N6];
  if (sw_if_index >= vec_len (by) || !by[sw_if_index])
    return 0;
  return pool_elt_at_index (um->interfaces, by[sw_if_index] - 1)->network_instance;
}

/* upf.c: writer side (main thread). */
typedef struct
{
  u64 seid;
  u64 cookie;
  u8 op; /* UPF_API_SESSION_* */
  u8 send_end_marker;
  upf_program_desc_t desc;
  upf_far_path_t *paths; /* vec: the new program's GTP-U FARs, consumed */
} upf_session_req_t;

int upf_vpp_session_apply (upf_session_req_t *req, upf_usage_t **usage, char *err, size_t errlen);
int upf_session_read_usage (u64 seid, u32 urr_id, int reset, upf_usage_t **usage);
void upf_session_peek_usage (upf_vpp_session_t *vs, upf_usage_t **usage);
int upf_session_drop_buffered (u64 seid, u32 *n_dropped);
int upf_session_rearm_dl_report (u64 seid, u32 pdr_id, u8 qfi, int *rearmed);
int upf_nwi_add_del (u16 nwi, u32 ip4_table_id, u32 ip6_table_id, int is_add);
/* GTP-U path management: an Echo Request from src to dst (same family), sequence number seq,
 * routed in FIB table 0; its Echo Response comes back as a UPF_PLUGIN_EV_ECHO_RESPONSE event
 * (upf_gtpu_input.c). 0, or a VNET_API_ERROR_*. */
int upf_gtpu_echo_send (vlib_main_t *vm, const upf_ip_t *src, const upf_ip_t *dst, u16 seq);
/* An event type of the plugin's own, after the core's (upf.api UPF_API_EV_ECHO_RESPONSE). */
#define UPF_PLUGIN_EV_ECHO_RESPONSE 8
int upf_interface_add_del (u32 sw_if_index, upf_role_t role, u16 nwi, int is_add);
void upf_counters_sum (upf_stats_t *out, u64 *events_lost);
void upf_event_post (upf_per_thread_t *ptd, const upf_event_t *ev, u64 now_ns);
void upf_events_deliver (vlib_main_t *vm);
/* Send a prepared IP packet (a copy of bytes, len) to ip4/ip6-lookup in the FIB of
 * fib_index, from any thread; 0, or -1 when no buffer is available. */
int upf_send_ip (vlib_main_t *vm, const u8 *bytes, u32 len, u32 fib_index);

format_function_t format_upf_session;
format_function_t format_upf_role;
format_function_t format_upf_ip;
unformat_function_t unformat_upf_role;

#endif /* included_upf_vpp_h */
