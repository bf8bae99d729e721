/*
 * upf_rules.h: session rules (TS 29.244 semantics) and the compiled session program.
 *
 * pfcpd's local datapath (pfcpd.datapath.local.engine) fills the plain structures below
 * (upf_pdr_t, upf_far_t, upf_qer_t, upf_urr_t, upf_sdf_t, upf_bar_t) from a session's rules and
 * calls upf_program_build () (through upfcore_session_install), which copies
 * them into one immutable block (upf_program_t) and compiles the classifier into a rule set
 * (upf_ruleset_t: classifiers + SDF filters) that sessions with equal ones share. A program is
 * never modified once published: a session modification builds a new program and swaps it in
 * whole (see upf_table.h for the publish / reclaim scheme). Mutable per-session state (URR
 * counters, QER token buckets, the DL buffer) lives outside the program, in objects owned by
 * the session and keyed by URR/QER id, so swapping a program never loses counts.
 *
 * Classification cost (upf_classify):
 *   The PDRs of each direction (UL: source interface ACCESS; DL: everything else, including
 *   those with a local F-TEID, whose GTP-U is downlink: upf_key_t.gtpu_dl) are
 *   expanded into at most UPF_MAX_RULES rules (one per SDF filter, or one match-all rule for a
 *   PDR without filters), sorted by precedence (lower value first, then PDR id). Each rule is
 *   a bit in 64-bit masks indexed by
 *     - protocol class (TCP, UDP, ICMP, ICMPv6, ESP, other): a rule with a protocol is in
 *       one class, "ip" (any) in all;
 *     - IP family (v4/v6);
 *     - remote port bucket (port & 15) and UE port bucket: a rule with a port range narrower
 *       than 16 sets the buckets its ports fall into, wider or absent sets all; packets
 *       without ports (ICMP, ESP, non-first fragments) use a "no port" mask holding only the
 *       rules without port conditions.
 *   A lookup is 3 table reads and ANDs (O(1); family and protocol class are one table),
 *   then candidates are verified in precedence order (count-trailing-zeros) against the
 *   PDI (TEID, QFI, UE IP; checked once when all rules of the direction share it, skipped
 *   when the table entry's key already asks exactly it) and the SDF filter, compiled into
 *   masked compares against a key built once per packet (upf_sdf_rt_t: prefixes, exact
 *   port ranges, ToS mask, SPI, flow label, no branch per condition); the first that
 *   passes wins. Common case: 1-2 verifications. Worst case: every rule of the direction is
 *   a candidate and only the last passes, i.e. UPF_MAX_RULES (64) verifications of about
 *   45 instructions each. bench/core_bench measures the common and worst case.
 */
#ifndef included_upf_rules_h
#define included_upf_rules_h

#include "upf_build.h"

#define UPF_MAX_RULES 64 /* rules (PDR x SDF filter) per direction per session */
#define UPF_MAX_PDR 255
#define UPF_MAX_FAR 255
#define UPF_MAX_SDF 255
#define UPF_MAX_QER_PER_PDR 2
#define UPF_MAX_URR_PER_PDR 4
#define UPF_MAX_DUPL_PER_FAR 2 /* duplicating parameters per FAR (DUPL) */
#define UPF_MAX_DUPL 255       /* duplicating parameters per session */
#define UPF_NONE8 0xff
#define UPF_NONE16 0xffff

/* PDI flags: which optional PDI members are set. */
#define UPF_PDI_FTEID 0x01 /* local F-TEID (teid, fteid_addr) */
#define UPF_PDI_UE_IP 0x02 /* UE IP address / prefix: source in UL, destination in DL */
#define UPF_PDI_QFI 0x04   /* QFI (UL: the PDU Session Container's QFI must match) */

/* Outer Header Removal description (TS 29.244 8.2.64). */
#define UPF_OHR_NONE 0xff
#define UPF_OHR_GTPU_UDP_IPV4 0
#define UPF_OHR_GTPU_UDP_IPV6 1
#define UPF_OHR_GTPU_UDP_IP 6

/* Apply Action (TS 29.244 8.2.26, octet 5). */
#define UPF_AA_DROP 0x01
#define UPF_AA_FORW 0x02
#define UPF_AA_BUFF 0x04
#define UPF_AA_NOCP 0x08
#define UPF_AA_DUPL 0x10

/* Outer header creation (TS 29.244 8.2.56). A FAR's own forwarding uses NONE or GTPU; its
 * duplicating parameters may use any of them. */
#define UPF_OHC_NONE 0     /* no outer header: the packet as is (plain IP) */
#define UPF_OHC_GTPU 1     /* GTP-U/UDP/IPv4 or IPv6, family of ohc_peer */
#define UPF_OHC_UDP 2      /* UDP/IPv4 or IPv6 to ohc_peer:ohc_port, the packet as payload */
#define UPF_OHC_IP 3       /* IPv4 or IPv6 header to ohc_peer (IP-in-IP, protocol 4 or 41) */
#define UPF_OHC_F_PSC 0x01 /* add a PDU Session Container (N3/N9) with the QFI */

#define UPF_DSCP_NONE 0xff

/* Gate status (TS 29.244 8.2.7). */
#define UPF_GATE_OPEN 0
#define UPF_GATE_CLOSED 1

/* URR reporting triggers handled by the core. */
#define UPF_URR_T_VOLTH 0x01         /* volume threshold */
#define UPF_URR_T_VOLQU 0x02         /* volume quota */
#define UPF_URR_T_TIMTH 0x04         /* time threshold */
#define UPF_URR_T_TIMQU 0x08         /* time quota */
#define UPF_URR_F_DROP_ON_QUOTA 0x01 /* drop once a quota is exhausted */
#define UPF_URR_F_BEFORE_QOS 0x02    /* counts packets its PDR's QERs drop too (MBQE) */

/* SDF filter flags. */
#define UPF_SDF_PROTO 0x01
#define UPF_SDF_REMOTE_PORT 0x02
#define UPF_SDF_UE_PORT 0x04
#define UPF_SDF_TOS 0x08
#define UPF_SDF_SPI 0x10
#define UPF_SDF_FLOW_LABEL 0x20

/*
 * SDF filter (TS 29.244 8.2.5), in the orientation of the flow description: an IPFilterRule
 * "permit out <proto> from <remote> <ports> to <ue> <ports>" describes DL packets; the same
 * filter matches UL packets with source and destination swapped (TS 29.244 5.2.1A.2A).
 * So fields are named remote/ue, not src/dst. "assigned" as the UE side = ue_plen 0 (the PDI's
 * UE IP address already constrains it). Prefix lengths are in the 128-bit space (IPv4 /24 =
 * 120); plen 0 = any. Port ranges are inclusive.
 */
typedef struct
{
  upf_ip_t remote;
  upf_ip_t ue;
  uint8_t remote_plen;
  uint8_t ue_plen;
  uint8_t proto;
  uint8_t flags; /* UPF_SDF_* */
  uint8_t tos;
  uint8_t tos_mask;
  uint16_t remote_port_lo, remote_port_hi;
  uint16_t ue_port_lo, ue_port_hi;
  uint16_t _pad;
  uint32_t spi;
  uint32_t flow_label;
} upf_sdf_t;

/*
 * An SDF filter as the packet path checks it (upf_sdf_rt_match): every condition a masked
 * compare against the packet's key (upf_match_t), OR-ed, no branch per condition. Addresses
 * are memory-order words ([0], [1] remote, [2], [3] UE), pre-masked; a port range is lo and
 * span = hi - lo of an unsigned compare (no condition: lo 0, span UINT32_MAX; a packet
 * without ports has port 0x10000, outside every range); SPI (bits 0-32) and flow label (bits
 * 33-53) are value + mask over the packet's spi_fl, where an absent SPI or flow label is a
 * bit no filter value has; protocol and ToS likewise over proto | tos << 8. A filter that
 * can never match (a reversed port range, a flow label of more than 20 bits) has bit 63 in
 * spi_fl and its mask, which no packet has. Compiled from upf_sdf_t (upf_sdf_compile) into
 * the rule set.
 */
typedef struct
{
  uint64_t addr[4];
  uint64_t mask[4];
  uint32_t rport_lo, rport_span, uport_lo, uport_span;
  uint64_t spi_fl, spi_fl_mask;
  uint32_t proto_tos, proto_tos_mask;
} upf_sdf_rt_t;
_Static_assert(sizeof (upf_sdf_rt_t) == 104, "a compiled SDF filter is 104 bytes");

typedef struct
{
  uint32_t pdr_id;
  uint32_t precedence; /* lower value = higher precedence */
  uint8_t source_interface;
  uint8_t pdi_flags; /* UPF_PDI_* */
  uint8_t qfi;
  uint8_t ue_ip_plen; /* 128-bit space; IPv4 /32 = 128 */
  uint8_t outer_header_removal;
  uint8_t _pad;
  uint16_t network_instance; /* index assigned by pfcpd; part of the DL table key */
  uint32_t teid;
  upf_ip_t fteid_addr;
  upf_ip_t ue_ip;
  uint32_t far_id;
  uint32_t qer_id[UPF_MAX_QER_PER_PDR]; /* 0 = none */
  uint32_t urr_id[UPF_MAX_URR_PER_PDR]; /* 0 = none */
  uint16_t sdf_first, sdf_count;        /* range in the descriptor's sdf array */
} upf_pdr_t;

/*
 * The PDI of a compiled PDR, the part that is the session's own: what classification (first
 * 32 bytes) and the writer's table keys read. A program keeps each distinct PDI once (the
 * PDRs of a direction usually share theirs: same F-TEID, same UE address), with the fields
 * its flags leave unset zeroed so equal PDIs compare equal. The rest of a PDR (id, order,
 * FAR/QER/URR indexes, filters) is in the shared rule set (upf_pdr_rule_t).
 */
typedef struct
{
  upf_ip_t ue_ip;
  uint32_t teid;
  uint8_t pdi_flags; /* UPF_PDI_* */
  uint8_t qfi;
  uint8_t ue_ip_plen;
  uint8_t source_interface;
  uint16_t network_instance;
  uint8_t _pad[6];
  upf_ip_t fteid_addr; /* writer: UL table key */
} upf_pdi_rt_t;
_Static_assert(sizeof (upf_pdi_rt_t) == 48, "a compiled PDI is 48 bytes");
_Static_assert(offsetof (upf_pdi_rt_t, fteid_addr) == 32, "match fields in the first 32 bytes");

/* A compiled PDR's session-independent part, in precedence order in the rule set. */
typedef struct
{
  uint32_t pdr_id;
  uint8_t pdi;   /* index into the program's pdi[] */
  uint8_t far;   /* index into the program's far[] */
  uint8_t encap; /* the FAR's template in encap[], UPF_NONE8 = none */
  uint8_t _pad;
  uint8_t qer[UPF_MAX_QER_PER_PDR]; /* indexes into qer_rt[], UPF_NONE8 = none (first) */
  uint8_t urr[UPF_MAX_URR_PER_PDR]; /* indexes into urr[], UPF_NONE8 = none (first) */
} upf_pdr_rule_t;
_Static_assert(sizeof (upf_pdr_rule_t) == 16, "a compiled PDR rule is 16 bytes");

/*
 * Duplicating Parameters (TS 29.244 7.5.2.3-3, grouped IE: destination interface, outer
 * header creation, transport level marking, forwarding policy) of a FAR whose apply action
 * has DUPL (with FORW: only forwarded packets are copied). The copy is of the user packet as
 * received (UL: the decapsulated T-PDU, before a redirect rewrite; DL: the N6 packet), with
 * this outer header in front of it (none = the packet as is). At most UPF_MAX_DUPL_PER_FAR
 * per FAR (a small fixed bound, so nothing per packet allocates; more are refused). The compiler
 * turns each into an encapsulation template; the verdict of a forwarded packet points at the
 * FAR's parameters and templates (upf_verdict_t.dupl, .dupl_encap, .n_dupl), the caller sends
 * the copies. The forwarding policy is reported, not applied (an index chosen by pfcpd, as
 * network_instance; 0 = none).
 */
typedef struct
{
  uint8_t dest_interface;
  uint8_t ohc;                /* UPF_OHC_* */
  uint8_t ohc_flags;          /* UPF_OHC_F_PSC with UPF_OHC_GTPU */
  uint8_t dscp;               /* transport level marking, UPF_DSCP_NONE if absent */
  uint16_t ohc_port;          /* UDP destination port with UPF_OHC_UDP */
  uint16_t forwarding_policy; /* index of the Forwarding Policy identifier, 0 = none */
  uint32_t ohc_teid;
  upf_ip_t ohc_peer;
  upf_ip_t ohc_src; /* our address used as outer source (same family as ohc_peer) */
} upf_dupl_t;

/* TS 29.244 8.2.87 Redirect Address Type; upf_far_t.redirect_type holds it + 1. IPv4/IPv6:
 * redirect_addr, applied to UL by upf_rewrite_dst (upf_build.h). URL, SIP URI and type 4
 * ("IPv4 and IPv6 addresses") are reported in the verdict only. */
#define UPF_REDIRECT_IPV4 0
#define UPF_REDIRECT_IPV6 1
#define UPF_REDIRECT_URL 2
#define UPF_REDIRECT_SIP_URI 3

typedef struct
{
  uint32_t far_id;
  uint8_t apply_action; /* UPF_AA_* */
  uint8_t dest_interface;
  uint8_t ohc;           /* UPF_OHC_NONE or UPF_OHC_GTPU */
  uint8_t ohc_flags;     /* UPF_OHC_F_* */
  uint8_t dscp;          /* transport level marking, UPF_DSCP_NONE if absent */
  uint8_t redirect_type; /* UPF_REDIRECT_* + 1, 0 = none; reported in the verdict */
  uint16_t network_instance;
  uint32_t ohc_teid;
  uint16_t dupl_first; /* range in the descriptor's dupl array (used with UPF_AA_DUPL) */
  uint8_t dupl_count;  /* at most UPF_MAX_DUPL_PER_FAR */
  uint8_t _pad;
  upf_ip_t ohc_peer;      /* remote GTP-U endpoint */
  upf_ip_t ohc_src;       /* our GTP-U address used as outer source */
  upf_ip_t redirect_addr; /* server address for UPF_REDIRECT_IPV4/IPV6 (URL, SIP: unset) */
} upf_far_t;

/* A FAR as a compiled program keeps it: its outer header creation is a template in the
 * program's encap[] (only FARs that encapsulate have one), its redirect address an entry of
 * redirect[] (only FARs with redirect information have one). */
typedef struct
{
  uint32_t far_id;
  uint8_t apply_action; /* UPF_AA_* */
  uint8_t dest_interface;
  uint8_t redirect_type; /* UPF_REDIRECT_* + 1, 0 = none */
  uint8_t redirect;      /* index into the program's redirect[] when redirect_type */
  uint16_t network_instance;
  uint16_t dupl_first; /* range in the program's dupl[] (used with UPF_AA_DUPL) */
  uint8_t dupl_count;
  uint8_t encap; /* index into the program's encap[], UPF_NONE8 = none */
  uint8_t _pad[2];
} upf_far_rt_t;
_Static_assert(sizeof (upf_far_rt_t) == 16, "a compiled FAR is 16 bytes");

typedef struct
{
  uint32_t qer_id;
  uint8_t gate_ul, gate_dl; /* UPF_GATE_* */
  uint8_t qfi;              /* QFI to set on encapsulation, 0 = keep */
  uint8_t rqi;
  uint32_t burst_bytes; /* token bucket depth; 0 = max(MBR x 100 ms, 16 KiB) */
  /* Paging Policy Indicator (TS 29.244 8.2.116) for the DL PDU Session Container:
   * UPF_PPI_SET | PPI, 0 = none */
  uint8_t ppi;
  uint8_t _pad[3];
  uint64_t mbr_ul_bps, mbr_dl_bps; /* 0 = no policing */
  uint64_t gbr_ul_bps, gbr_dl_bps; /* recorded for marking/reporting */
} upf_qer_t;

enum
{
  UPF_VOL_TOTAL = 0,
  UPF_VOL_UL = 1,
  UPF_VOL_DL = 2,
};

typedef struct
{
  uint32_t urr_id;
  uint16_t triggers; /* UPF_URR_T_* */
  uint8_t flags;     /* UPF_URR_F_* */
  uint8_t measurement_method;
  uint64_t vol_threshold[3]; /* bytes, [total, ul, dl], 0 = unset */
  uint64_t vol_quota[3];
  uint64_t time_threshold_ns, time_quota_ns;
  /* the Time Quota's grant: the control plane changes it at each grant, whatever the quota's
   * value (TS 29.244 5.2.2.2.1: a Time Quota in an Update URR is a new quota), and an
   * install of another grant than the quota's re-arms it, but for the grant before it (the
   * grant undone), whose quota continues as it was (urr_tq_rearm, upf_session.c) */
  uint32_t time_quota_grant;
  uint32_t _pad;
} upf_urr_t;
_Static_assert(sizeof (upf_urr_t) == 80, "a URR's limits are 80 bytes");

typedef struct
{
  uint32_t bar_id;
  uint16_t max_pkts; /* suggested buffering packets count; 0 = default 32 */
  uint16_t _pad;
  uint32_t max_bytes; /* 0 = default 64 KiB */
  /* the DL Buffering Duration's grant: the control plane changes it each time it gives the
   * duration (Update BAR of a Session Report Response), whatever its value; an install of
   * another grant than the replaced program's counts the duration of what is buffered from
   * then, as one of another value does (TS 29.244 8.2.29: the time the UP function is
   * requested to buffer) */
  uint32_t duration_grant;
  uint64_t duration_ns; /* DL buffering duration; 0 = until the FAR changes */
} upf_bar_t;
_Static_assert(sizeof (upf_bar_t) == 24, "a BAR is 24 bytes");

/* Everything pfcpd hands over for one session program. */
typedef struct
{
  const upf_pdr_t *pdr;
  const upf_far_t *far;
  const upf_qer_t *qer;
  const upf_urr_t *urr;
  const upf_sdf_t *sdf;
  const upf_bar_t *bar;   /* NULL = none */
  const upf_dupl_t *dupl; /* duplicating parameters, referenced by FAR dupl_first/count */
  uint32_t n_pdr, n_far, n_qer, n_urr, n_sdf, n_dupl;
} upf_program_desc_t;

/* A state block (upf_pipeline.h) holds the mutable state of one URR and of one QER. */
typedef struct upf_state upf_state_t;
typedef upf_state_t upf_urr_state_t;
typedef upf_state_t upf_qer_state_t;
typedef struct upf_buffer upf_buffer_t;

enum
{
  UPF_PC_OTHER,
  UPF_PC_TCP,
  UPF_PC_UDP,
  UPF_PC_ICMP,
  UPF_PC_ICMP6,
  UPF_PC_ESP,
  UPF_PC_N,
};

/* Per-direction classifier (see the cost comment above). */
typedef struct
{
  uint64_t proto_bm[UPF_PC_N];
  uint64_t fam_bm[2];
  uint64_t pf_bm[2][UPF_PC_N]; /* [IPv6][protocol class]: fam_bm & proto_bm */
  uint64_t rport_bm[17];       /* [port & 15], [16]: packets without ports */
  uint64_t uport_bm[17];
  uint16_t n_rules;
  uint8_t pdi; /* the PDI index all rules of the direction use (checked once), or UPF_NONE8 */
  uint8_t rule_pdr[UPF_MAX_RULES]; /* index into program pdr[] */
  uint8_t rule_sdf[UPF_MAX_RULES]; /* index into program sdf[], UPF_NONE8 = match all */
} upf_classifier_t;

enum
{
  UPF_DIR_UL = 0,
  UPF_DIR_DL = 1,
};

/* A QER as a compiled program keeps it: gates, marking and the policer constants derived at
 * build time (no divisions per packet), and its state object, in one cache line. */
typedef struct
{
  uint64_t Bps[2];      /* MBR [UL, DL] in bytes/s, 0 = no policing */
  uint64_t depth_nb[2]; /* bucket depth in nano-bytes */
  uint64_t max_dt[2];   /* refill interval after which the bucket is full (ns) */
  uint32_t qer_id;
  uint8_t gate[2]; /* [UPF_DIR_UL], [UPF_DIR_DL]: UPF_GATE_* */
  uint8_t qfi;     /* QFI to set on encapsulation, 0 = keep */
  uint8_t rqi : 1;
  uint8_t ppp : 1; /* a Paging Policy Indicator to set: ppi (0..7) */
  uint8_t ppi : 3;
  upf_qer_state_t *state; /* linked at install: the session's state of this QER id */
} upf_qer_rt_t;
_Static_assert(sizeof (upf_qer_rt_t) == 64, "a compiled QER is one cache line");

/*
 * What a program holds that does not depend on the session's addresses and TEIDs: the
 * classifiers, the SDF filters and the PDRs' rules (id, PDI / FAR / QER / URR indexes).
 * Immutable, and shared by every program of the context with the same ones
 * (upf_session_install interns it), so 1M sessions of one PCC rule set hold one copy, which
 * stays in cache. The PDRs' own PDI values (F-TEID, UE address, QFI) stay in each program.
 */
typedef struct upf_ruleset
{
  upf_classifier_t cls[2];
  uint32_t n_sdf, n_pdr;
  uint32_t refs;                     /* writer: programs holding it */
  uint64_t hash;                     /* writer: of cls, counts, sdf and rule */
  struct upf_ruleset *next, **pprev; /* writer: intern chain; pprev NULL = not interned */
  upf_pdr_rule_t *rule;              /* n_pdr, after sdf[] in the same block */
  upf_sdf_rt_t *sdf_rt;              /* n_sdf, sdf[] compiled, after rule[] in the same block */
  upf_sdf_t sdf[];
} upf_ruleset_t;

/* Table key (upf_table.h). UL: (local F-TEID address, TEID); DL: (network instance, UE
 * address masked to plen). */
typedef struct
{
  upf_ip_t addr; /* UL: local F-TEID address; DL: UE address masked to plen */
  uint32_t id;   /* UL: TEID; DL: network instance */
  uint8_t plen;  /* DL: prefix length (128-bit space); UL: 128 */
  /* dl, pdi_implied and gtpu_dl: in a program's entries, neither hashed nor compared. dl:
   * its table (0 = UL, 1 = DL). pdi_implied: the key asks exactly what the direction's one
   * PDI asks (DL: a UE IP address only; UL: an F-TEID only), so a packet found
   * through it passes that PDI and upf_classify does not read it. gtpu_dl (UL table only):
   * the F-TEID's PDI has another source interface than Access (Core: an I-UPF's or
   * branching point's N9 downlink from a remote PSA; CP-function: the downlink data the CP
   * function buffered, sent back over N4-u), so a G-PDU received on it is downlink: its
   * inner packet is classified, policed, counted and forwarded as DL (upf_gtpu_dl_finish,
   * upf_pipeline.h). */
  uint8_t dl;
  uint8_t pdi_implied;
  uint8_t gtpu_dl;
} upf_key_t;

struct upf_program;

/*
 * A table entry: a key, the program of the session it belongs to, and a copy of the
 * program's packet-path header, so the line a lookup ends on is all a packet reads of the
 * program besides its per-packet arrays. Entries live inside their program and are as
 * immutable as it: an install publishes the new program's entries in the table slots and
 * retires the old program with its entries.
 */
typedef struct upf_entry
{
  upf_key_t key;
  const struct upf_program *prog; /* never NULL */
  uint64_t seid;                  /* the program's, set at install */
  struct upf_session *session;    /* the program's, set at install */
  const struct upf_ruleset *rs;   /* the program's (interned) rule set, set at install */
  /* byte offsets in the program of its URR state pointers, far[], pdi[], encap[] (qer_rt[]
   * is at UPF_PROG_HOT_OFFSET, the URR state pointers end where far[] starts) */
  uint16_t o_urr_state, o_pdi, o_far, o_encap;
} upf_entry_t;
_Static_assert(sizeof (upf_entry_t) == 64, "a table entry is one cache line");

/*
 * Compiled, immutable session program: one cache-line aligned allocation, plus its rule set.
 *   lines 0, 1   entry[UPF_DIR_UL]: the first UL key, entry[UPF_DIR_DL]: the first DL key
 *                (either unused when the program has no such key)
 *   lines 2-4    the program's identity and arrays, the writer's fields
 *   from byte UPF_PROG_HOT_OFFSET: qer_rt[], the URR state pointers, far[], pdi[], encap[]:
 *                what a packet reads after its entry, contiguous, in an order that puts
 *                what one packet reads in few lines: with one QER, one URR, two FARs and
 *                two PDIs (UL, DL), a UL packet reads the QER line and the next (URR
 *                state pointer, FARs, the match fields of the first PDI: the first 24
 *                bytes), a DL packet also the line of the second PDI and the one the
 *                template's used bytes fit in (upf_encap_t); then the rest (the URRs, read when a
 * URR's byte budget runs out (upf_urr_account), DUPL, redirect, BAR, further entries). So a UL (DL)
 * lookup that ends on entry[UPF_DIR_UL] (entry[UPF_DIR_DL]) knows from the entry's address alone
 * where the program's per-packet lines are, and prefetches them with the entry
 * (upf_prog_prefetch_from_entry).
 */
#define UPF_PROG_HOT_OFFSET 320
typedef struct upf_program
{
  /* lines 0, 1: table entries */
  upf_entry_t entry[2];
  /* line 2: identity and arrays (packets read the entries' copy) */
  uint64_t seid;
  struct upf_session *session; /* set at install */
  upf_ruleset_t *rs;           /* classifiers, PDR rules, SDF filters (shared) */
  upf_pdi_rt_t *pdi;           /* distinct PDIs (n_pdi) */
  upf_far_rt_t *far;
  upf_qer_rt_t *qer_rt;        /* n_qer, with their states (linked at install) */
  upf_urr_state_t **urr_state; /* n_urr: the URRs' states (linked at install) */
  upf_encap_t *encap;          /* n_encap: the templates of the FARs that encapsulate */
  /* line 3: the rule set seen through its parts (tools, tests), rarer packet-path data */
  const upf_classifier_t *cls; /* [UPF_DIR_UL], [UPF_DIR_DL]: in rs */
  const upf_pdr_rule_t *rule;  /* per PDR, by precedence: in rs */
  const upf_sdf_t *sdf;        /* in rs */
  upf_buffer_t *buffer;        /* linked at install when the session may buffer */
  upf_dupl_t *dupl;            /* duplicating parameters (n_dupl), FARs point into it */
  upf_encap_t *dupl_encap;     /* per duplicating parameter: its template (len 0 = none) */
  upf_ip_t *redirect;          /* n_redirect: redirect addresses (URL, SIP: unset) */
  const upf_bar_t *bar;        /* NULL = none */
  /* line 4: the writer's */
  upf_urr_t *urr;       /* n_urr, as given */
  upf_entry_t *entry_x; /* the entries after entry[0] and entry[1] */
  uint16_t n_pdr, n_pdi, n_far, n_qer, n_urr, n_sdf, n_dupl, n_encap, n_redirect, n_entry;
  uint8_t installed;    /* set by the writer before publication */
  uint8_t entry_used;   /* bit d: entry[d] holds a key */
  uint16_t lines;       /* size of the allocation in cache lines (upf_calloc_lines) */
  upf_retired_t retire; /* writer only */
} upf_program_t;
_Static_assert(sizeof (upf_program_t) == UPF_PROG_HOT_OFFSET, "the header is five lines");

/* Entry i of the program's n_entry (used entry[0], entry[1], then entry_x). */
static inline upf_entry_t *
upf_prog_entry (upf_program_t *p, unsigned i)
{
  unsigned n0 = (unsigned)__builtin_popcount (p->entry_used);
  if (i < n0)
    return &p->entry[i == 0 && (p->entry_used & 1) ? 0 : 1];
  return &p->entry_x[i - n0];
}

/* The program's per-packet arrays, through the entry a lookup found. */
static inline const upf_qer_rt_t *
upf_e_qer (const upf_entry_t *e)
{
  return (const upf_qer_rt_t *)((const uint8_t *)e->prog + UPF_PROG_HOT_OFFSET);
}

static inline unsigned
upf_e_n_qer (const upf_entry_t *e)
{
  return (unsigned)(e->o_urr_state - UPF_PROG_HOT_OFFSET) / sizeof (upf_qer_rt_t);
}

static inline unsigned
upf_e_n_urr (const upf_entry_t *e)
{
  return (unsigned)(e->o_far - e->o_urr_state) / sizeof (void *);
}

static inline upf_urr_state_t *const *
upf_e_urr_state (const upf_entry_t *e)
{
  return (upf_urr_state_t *const *)((const uint8_t *)e->prog + e->o_urr_state);
}

static inline const upf_pdi_rt_t *
upf_e_pdi (const upf_entry_t *e)
{
  return (const upf_pdi_rt_t *)((const uint8_t *)e->prog + e->o_pdi);
}

static inline const upf_far_rt_t *
upf_e_far (const upf_entry_t *e)
{
  return (const upf_far_rt_t *)((const uint8_t *)e->prog + e->o_far);
}

static inline const upf_encap_t *
upf_e_encap (const upf_entry_t *e)
{
  return (const upf_encap_t *)((const uint8_t *)e->prog + e->o_encap);
}

static inline unsigned
upf_proto_class (uint8_t proto)
{
  switch (proto)
    {
    case UPF_PROTO_TCP:
      return UPF_PC_TCP;
    case UPF_PROTO_UDP:
      return UPF_PC_UDP;
    case UPF_PROTO_ICMP:
      return UPF_PC_ICMP;
    case UPF_PROTO_ICMP6:
      return UPF_PC_ICMP6;
    case UPF_PROTO_ESP:
      return UPF_PC_ESP;
    default:
      return UPF_PC_OTHER;
    }
}

/* upf_proto_class as one load (packet path). */
static const uint8_t upf_proto_class_tab[256] = {
  [UPF_PROTO_TCP] = UPF_PC_TCP,     [UPF_PROTO_UDP] = UPF_PC_UDP, [UPF_PROTO_ICMP] = UPF_PC_ICMP,
  [UPF_PROTO_ICMP6] = UPF_PC_ICMP6, [UPF_PROTO_ESP] = UPF_PC_ESP,
};
_Static_assert(UPF_PC_OTHER == 0, "unlisted protocols are class 0");

/* Match context: the fields of a packet that PDRs look at, and its key for the compiled SDF
 * filters (upf_match_key: in the orientation of the direction it was built for). */
typedef struct
{
  const upf_inner_t *in;
  uint32_t teid;
  uint8_t qfi;
  uint8_t has_teid;
  uint8_t has_qfi;
  uint64_t addr[4];      /* remote address, UE address: memory-order words */
  uint32_t rport, uport; /* 0x10000 when the packet has no ports */
  uint64_t spi_fl;       /* SPI or 1 << 32; flow label (IPv6) or 1 << 20, << 33 */
  uint32_t proto_tos;    /* proto | tos << 8 */
} upf_match_t;

/* The SDF key of a parsed packet, for direction dir (UL: remote = destination). */
static inline void
upf_match_key (upf_match_t *m, const upf_inner_t *in, unsigned dir)
{
  const upf_ip_t *remote = dir == UPF_DIR_UL ? &in->dst : &in->src;
  const upf_ip_t *ue = dir == UPF_DIR_UL ? &in->src : &in->dst;
  uint32_t no_ports = in->has_ports ? 0 : 0x10000;
  m->addr[0] = upf_ip_mword (remote, 0);
  m->addr[1] = upf_ip_mword (remote, 1);
  m->addr[2] = upf_ip_mword (ue, 0);
  m->addr[3] = upf_ip_mword (ue, 1);
  m->rport = (uint32_t)(dir == UPF_DIR_UL ? in->dport : in->sport) | no_ports;
  m->uport = (uint32_t)(dir == UPF_DIR_UL ? in->sport : in->dport) | no_ports;
  m->spi_fl = (in->has_spi ? in->spi : 1ULL << 32)
              | (uint64_t)(in->ip_version == 6 ? in->flow_label : 1u << 20) << 33;
  m->proto_tos = in->proto | (uint32_t)in->tos << 8;
}

/* Compile an SDF filter for upf_sdf_rt_match (writer side). */
static inline void
upf_sdf_compile (const upf_sdf_t *f, upf_sdf_rt_t *c)
{
  int never = 0;
  memset (c, 0, sizeof (*c));
  for (unsigned w = 0; w < 2; w++)
    {
      c->mask[w] = upf_plen_mask_mem (f->remote_plen, w);
      c->addr[w] = upf_ip_mword (&f->remote, w) & c->mask[w];
      c->mask[2 + w] = upf_plen_mask_mem (f->ue_plen, w);
      c->addr[2 + w] = upf_ip_mword (&f->ue, w) & c->mask[2 + w];
    }
  c->rport_span = c->uport_span = UINT32_MAX;
  if (f->flags & UPF_SDF_REMOTE_PORT)
    {
      c->rport_lo = f->remote_port_lo;
      c->rport_span = (uint32_t)f->remote_port_hi - f->remote_port_lo;
      never |= f->remote_port_hi < f->remote_port_lo;
    }
  if (f->flags & UPF_SDF_UE_PORT)
    {
      c->uport_lo = f->ue_port_lo;
      c->uport_span = (uint32_t)f->ue_port_hi - f->ue_port_lo;
      never |= f->ue_port_hi < f->ue_port_lo;
    }
  if (f->flags & UPF_SDF_PROTO)
    {
      c->proto_tos |= f->proto;
      c->proto_tos_mask |= 0xff;
    }
  if (f->flags & UPF_SDF_TOS)
    {
      c->proto_tos |= (uint32_t)(f->tos & f->tos_mask) << 8;
      c->proto_tos_mask |= (uint32_t)f->tos_mask << 8;
    }
  if (f->flags & UPF_SDF_SPI)
    {
      c->spi_fl |= f->spi;
      c->spi_fl_mask |= (1ULL << 33) - 1;
    }
  if (f->flags & UPF_SDF_FLOW_LABEL)
    {
      c->spi_fl |= (uint64_t)(f->flow_label & 0xfffff) << 33;
      c->spi_fl_mask |= ((1ULL << 21) - 1) << 33;
      never |= f->flow_label > 0xfffff;
    }
  if (never)
    {
      c->spi_fl |= 1ULL << 63;
      c->spi_fl_mask |= 1ULL << 63;
    }
}

/* 1 if the packet of key m passes the compiled filter f (same result as upf_sdf_match). */
static inline int
upf_sdf_rt_match (const upf_sdf_rt_t *f, const upf_match_t *m)
{
  uint64_t d = ((m->addr[0] ^ f->addr[0]) & f->mask[0]) | ((m->addr[1] ^ f->addr[1]) & f->mask[1])
               | ((m->addr[2] ^ f->addr[2]) & f->mask[2]) | ((m->addr[3] ^ f->addr[3]) & f->mask[3])
               | ((m->spi_fl ^ f->spi_fl) & f->spi_fl_mask)
               | ((m->proto_tos ^ f->proto_tos) & f->proto_tos_mask);
  return (d == 0) & (m->rport - f->rport_lo <= f->rport_span)
         & (m->uport - f->uport_lo <= f->uport_span);
}

static inline int
upf_sdf_match (const upf_sdf_t *f, const upf_inner_t *in, unsigned dir)
{
  const upf_ip_t *remote = dir == UPF_DIR_UL ? &in->dst : &in->src;
  const upf_ip_t *ue = dir == UPF_DIR_UL ? &in->src : &in->dst;
  uint16_t rport = dir == UPF_DIR_UL ? in->dport : in->sport;
  uint16_t uport = dir == UPF_DIR_UL ? in->sport : in->dport;
  if ((f->flags & UPF_SDF_PROTO) && f->proto != in->proto)
    return 0;
  if (f->remote_plen && !upf_ip_prefix_match (remote, &f->remote, f->remote_plen))
    return 0;
  if (f->ue_plen && !upf_ip_prefix_match (ue, &f->ue, f->ue_plen))
    return 0;
  if (f->flags & UPF_SDF_REMOTE_PORT)
    {
      if (!in->has_ports || rport < f->remote_port_lo || rport > f->remote_port_hi)
        return 0;
    }
  if (f->flags & UPF_SDF_UE_PORT)
    {
      if (!in->has_ports || uport < f->ue_port_lo || uport > f->ue_port_hi)
        return 0;
    }
  if ((f->flags & UPF_SDF_TOS) && ((in->tos ^ f->tos) & f->tos_mask))
    return 0;
  if ((f->flags & UPF_SDF_SPI) && (!in->has_spi || in->spi != f->spi))
    return 0;
  if ((f->flags & UPF_SDF_FLOW_LABEL) && (in->ip_version != 6 || in->flow_label != f->flow_label))
    return 0;
  return 1;
}

static inline int
upf_pdi_match (const upf_pdi_rt_t *p, const upf_match_t *m, unsigned dir)
{
  (void)dir; /* the key m is in the direction's orientation: addr[2], addr[3] = UE */
  if ((p->pdi_flags & UPF_PDI_FTEID) && (!m->has_teid || m->teid != p->teid))
    return 0;
  if ((p->pdi_flags & UPF_PDI_QFI) && (!m->has_qfi || m->qfi != p->qfi))
    return 0;
  if ((p->pdi_flags & UPF_PDI_UE_IP) && p->ue_ip_plen == 128)
    return !((m->addr[2] ^ upf_ip_mword (&p->ue_ip, 0))
             | (m->addr[3] ^ upf_ip_mword (&p->ue_ip, 1)));
  if (p->pdi_flags & UPF_PDI_UE_IP)
    {
      uint64_t d0
        = (m->addr[2] ^ upf_ip_mword (&p->ue_ip, 0)) & upf_plen_mask_mem (p->ue_ip_plen, 0);
      uint64_t d1
        = (m->addr[3] ^ upf_ip_mword (&p->ue_ip, 1)) & upf_plen_mask_mem (p->ue_ip_plen, 1);
      if (d0 | d1)
        return 0;
    }
  return 1;
}

/* Highest-precedence matching PDR index of the direction, or -1 (e: the session's entry). */
static inline int
upf_classify (const upf_entry_t *e, unsigned dir, const upf_match_t *m)
{
  const upf_ruleset_t *rs = e->rs;
  const upf_pdi_rt_t *pdi = upf_e_pdi (e);
  const upf_classifier_t *c = &rs->cls[dir];
  /* the key's ports are 0x10000 without ports: bucket 16 */
  unsigned rb = (m->rport & 15) | ((m->rport >> 12) & 16);
  unsigned ub = (m->uport & 15) | ((m->uport >> 12) & 16);
  uint64_t cand = c->pf_bm[m->in->ip_version == 6][upf_proto_class_tab[m->proto_tos & 0xff]]
                  & c->rport_bm[rb] & c->uport_bm[ub];
  if (c->pdi != UPF_NONE8)
    {
      /* one PDI for all (the usual case: a direction's PDRs share the F-TEID / UE address) */
      if (!cand || (!e->key.pdi_implied && !upf_pdi_match (&pdi[c->pdi], m, dir)))
        return -1;
      while (cand)
        {
          unsigned r = (unsigned)__builtin_ctzll (cand);
          cand &= cand - 1;
          if (c->rule_sdf[r] == UPF_NONE8 || upf_sdf_rt_match (&rs->sdf_rt[c->rule_sdf[r]], m))
            return c->rule_pdr[r];
        }
      return -1;
    }
  while (cand)
    {
      unsigned r = (unsigned)__builtin_ctzll (cand);
      const upf_pdi_rt_t *p = &pdi[rs->rule[c->rule_pdr[r]].pdi];
      cand &= cand - 1;
      if (!upf_pdi_match (p, m, dir))
        continue;
      if (c->rule_sdf[r] != UPF_NONE8 && !upf_sdf_rt_match (&rs->sdf_rt[c->rule_sdf[r]], m))
        continue;
      return c->rule_pdr[r];
    }
  return -1;
}

/*
 * upf_classify for a G-PDU received on a downlink F-TEID (upf_key_t.gtpu_dl), its key m in
 * the DL orientation: among the DL rules, only those whose PDI has a local F-TEID, the
 * received TEID (and QFI, UE address, filters as upf_pdi_match and the SDF filter say). A
 * PDR without a local F-TEID is for the packets that arrive untunnelled (N6), as a PDR with
 * one is for its tunnel's only (an N6 packet has no TEID: upf_pdi_match refuses it). Not on
 * the fast path: no single-PDI shortcut.
 */
static inline int
upf_classify_gtpu_dl (const upf_entry_t *e, const upf_match_t *m)
{
  const upf_ruleset_t *rs = e->rs;
  const upf_pdi_rt_t *pdi = upf_e_pdi (e);
  const upf_classifier_t *c = &rs->cls[UPF_DIR_DL];
  unsigned rb = (m->rport & 15) | ((m->rport >> 12) & 16);
  unsigned ub = (m->uport & 15) | ((m->uport >> 12) & 16);
  uint64_t cand = c->pf_bm[m->in->ip_version == 6][upf_proto_class_tab[m->proto_tos & 0xff]]
                  & c->rport_bm[rb] & c->uport_bm[ub];
  while (cand)
    {
      unsigned r = (unsigned)__builtin_ctzll (cand);
      const upf_pdi_rt_t *p = &pdi[rs->rule[c->rule_pdr[r]].pdi];
      cand &= cand - 1;
      if (!(p->pdi_flags & UPF_PDI_FTEID) || !upf_pdi_match (p, m, UPF_DIR_DL))
        continue;
      if (c->rule_sdf[r] != UPF_NONE8 && !upf_sdf_rt_match (&rs->sdf_rt[c->rule_sdf[r]], m))
        continue;
      return c->rule_pdr[r];
    }
  return -1;
}

/* Build a program from a descriptor. Returns 0, or -1 (invalid rules) or -ENOMEM with a
 * message in err. */
int upf_program_build (const upf_program_desc_t *d, upf_program_t **out, char *err, size_t errlen);
/* Frees p and drops its reference to its rule set (freed with the last one). */
void upf_program_free (upf_program_t *p);
/* Rule sets interned per context: bucket count of the context's table. */
#define UPF_RULESET_BUCKETS 4096
/* Make p use the equal rule set of the table if there is one (freeing its own), else put
 * its own in the table. Writer side, before p is published; never allocates. */
void upf_ruleset_intern (upf_ruleset_t **table, upf_program_t *p);

#endif /* included_upf_rules_h */
