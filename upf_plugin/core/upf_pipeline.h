/*
 * upf_pipeline.h: per-packet entry points and their verdict + events API.
 *
 *   upf_ul_process (): outer IP/UDP/GTP-U in (N3/N9) -> (local addr, TEID) lookup ->
 *                      classify -> QER gate/MBR -> URR count -> FAR: decap and forward,
 *                      drop, buffer or notify; echo requests and error indications reported.
 *                      A G-PDU on the F-TEID of a Core or CP-function PDI (N9 downlink,
 *                      data the CP function returns) is downlink: DL classifier, QER, URR,
 *                      FAR (re-encapsulated to Access), as upf_gtpu_dl_finish says.
 *                      An End Marker on a local F-TEID whose FARs forward on GTP-U tunnels
 *                      is relayed on them (verdict END_MARKER, upf_end_marker_finish).
 *   upf_dl_process (): inner IP in (N6) -> (network instance, UE IP) lookup -> classify ->
 *                      QER -> URR -> FAR: encap rewrite (template), buffer (BAR), drop.
 *
 * Nothing here allocates, locks or does I/O. Counters are updated in place; events (usage
 * threshold/quota, DL data report, error indication) come back in the verdict for the
 * caller to forward to the control plane.
 *
 * What a FORWARD verdict asks of the caller besides sending the packet:
 *  - DUPL (n_dupl > 0): send a copy of the user packet (UL: the T-PDU as received; DL: the
 *    N6 packet) per duplicating parameter i, with dupl_encap[i] written in front of it
 *    (upf_encap_write; len 0 = the copy as is) towards dupl[i].dest_interface. At most
 *    UPF_MAX_DUPL_PER_FAR copies; the templates live in the program, like encap.
 *  - Redirect (redirect_type): IPv4/IPv6 server address in redirect_addr; the caller rewrites
 *    the destination (upf_rewrite_dst, done by upfcore_ul_*packet for UL). URL and SIP URI
 *    redirection needs an HTTP/SIP proxy in the path: reported only.
 * The pointers point into the session's program: valid while the reader holds it (upf_table.h).
 */
#ifndef included_upf_pipeline_h
#define included_upf_pipeline_h

#include "upf_table.h"

#define UPF_MAX_EVENTS 4
#define UPF_BUFFER_MAX_PKTS 256
/* DL data reports a buffer keeps (PDR and QFI pairs): the PDRs past them are not reported */
#define UPF_BUFFER_MAX_REPORTS 32
/* In a DL data report's value: the DSCP of the packet that raised it is in bits 8-13 (the
 * Paging Policy Indication of TS 29.244 8.2.27, for Paging Policy Differentiation) */
#define UPF_EV_DLDR_DSCP (1u << 14)

typedef enum
{
  UPF_VERDICT_DROP = 0,
  UPF_VERDICT_FORWARD = 1,      /* send inner (UL decap) or encap (DL / N9) to dest_interface */
  UPF_VERDICT_BUFFER = 2,       /* stored in the session's DL buffer (copy made by the caller) */
  UPF_VERDICT_ECHO_REQUEST = 3, /* answer with upf_build_echo_response () */
  UPF_VERDICT_END_MARKER = 4,   /* relay the received End Marker (upf_end_marker_finish) */
} upf_verdict_kind_t;

#define foreach_upf_drop_reason                                                                    \
  _ (NONE, "none")                                                                                 \
  _ (MALFORMED, "malformed packet")                                                                \
  _ (NO_SESSION, "no session for TEID / UE address")                                               \
  _ (NO_PDR, "no matching PDR")                                                                    \
  _ (GATE_CLOSED, "QER gate closed")                                                               \
  _ (MBR, "MBR exceeded")                                                                          \
  _ (FAR_DROP, "FAR apply action DROP")                                                            \
  _ (QUOTA, "usage quota exhausted")                                                               \
  _ (BUFFER_FULL, "DL buffer full")                                                                \
  _ (NO_BUFFER, "FAR says buffer but session has no buffer")                                       \
  _ (GTPU_SIGNALLING, "GTP-U signalling message consumed")                                         \
  _ (NO_ACTION, "FAR has no forwarding action")

typedef enum
{
#define _(n, s) UPF_DROP_##n,
  foreach_upf_drop_reason
#undef _
    UPF_DROP_N_REASONS,
} upf_drop_reason_t;

typedef enum
{
  UPF_EV_NONE = 0,
  UPF_EV_USAGE_THRESHOLD = 1,  /* id = urr_id, value = volume counter index that crossed */
  UPF_EV_USAGE_QUOTA = 2,      /* id = urr_id */
  UPF_EV_TIME_THRESHOLD = 3,   /* id = urr_id */
  UPF_EV_TIME_QUOTA = 4,       /* id = urr_id */
  UPF_EV_DL_DATA_REPORT = 5,   /* id = pdr_id, value = QFI | UPF_EV_DLDR_DSCP | DSCP << 8 */
  UPF_EV_BUFFER_EXPIRED = 6,   /* value = packets dropped */
  UPF_EV_ERROR_INDICATION = 7, /* value = TEID Data I of a received error indication, id 0,
                                * peer_af / peer = its GTP-U Peer Address */
} upf_event_type_t;

/* The GTP-U Peer Address of an event (upf_event_t peer_af). */
enum
{
  UPF_EV_PEER_NONE = 0,
  UPF_EV_PEER_IP4 = 4,
  UPF_EV_PEER_IP6 = 6,
};

/* An event: 40 bytes. peer_af and peer belong to ERROR_INDICATION (the peer that sent it,
 * TS 29.281 7.3.1); every other event has peer_af UPF_EV_PEER_NONE and peer zero. */
typedef struct
{
  uint16_t type;   /* upf_event_type_t */
  uint8_t peer_af; /* UPF_EV_PEER_*: the family of peer, NONE = no GTP-U Peer Address */
  uint8_t _pad;
  uint32_t id;
  uint64_t seid;
  uint64_t value;
  upf_ip_t peer; /* as every address of the core: an IPv4 one IPv4-mapped */
} upf_event_t;

_Static_assert(sizeof (upf_event_t) == 40, "an event is 40 bytes");

typedef struct
{
  uint8_t verdict;        /* upf_verdict_kind_t */
  uint8_t drop_reason;    /* upf_drop_reason_t */
  uint8_t malformed;      /* upf_malformed_t when drop_reason = MALFORMED */
  uint8_t dest_interface; /* FAR destination interface */
  uint8_t qfi;            /* QFI to put in the PDU Session Container */
  uint8_t rqi;
  uint8_t n_dupl; /* FAR DUPL: copies to send, dupl[0 .. n_dupl - 1] */
  uint8_t n_events;
  uint16_t inner_offset; /* UL: offset of the T-PDU in the packet */
  uint16_t inner_len;    /* length of the inner IP packet */
  uint16_t network_instance;
  uint8_t gtpu_type;
  uint8_t redirect_type; /* FAR redirect information: UPF_REDIRECT_* + 1, 0 = none */
  uint32_t pdr_id, far_id;
  uint32_t teid;      /* UL: received TEID */
  uint8_t redirected; /* set by the caller that rewrote the destination (upfcore_ul_*packet) */
  uint8_t ppi;        /* Paging Policy Indicator to put in a DL container: UPF_PPI_SET | PPI */
  uint8_t _pad[2];
  uint64_t seid;
  const upf_encap_t *encap;      /* outer header creation template, NULL = none (decap only) */
  const upf_dupl_t *dupl;        /* FAR DUPL: the duplicating parameters (destination, policy) */
  const upf_encap_t *dupl_encap; /* and their templates (len 0 = the packet as is) */
  const upf_ip_t *redirect_addr; /* redirect server address (UPF_REDIRECT_IPV4/IPV6) */
  upf_session_t *session;
  upf_event_t events[UPF_MAX_EVENTS];
} upf_verdict_t;

/*
 * Mutable per-session state kept across programs by id (URR, QER), in state blocks on the
 * session's list. A block holds the state of one URR and of one QER (either may be unused);
 * the install puts a new QER in the block of a new URR its PDR uses when it can, so
 * the usual shape (one QER, one URR) has one block. A block is three cache lines: one per
 * direction with everything a packet of that direction writes (the QER's token bucket of
 * the direction, the URR's counters of the direction, its byte budget and flags), so a
 * packet reads and writes one line of state; then the cold line (the starts of the
 * measurement period and of the time quota, dropped DL packets, the time quota before the
 * last grant and the grants, the writer's list link and ids; which halves are used is in
 * the UL line's flags, set before any reader sees the block: the cold line has no room
 * left).
 */
enum
{
  UPF_STATE_URR = 0,
  UPF_STATE_QER = 1,
};

typedef struct
{
  /* QER: the token bucket of the direction */
  uint64_t tokens_nb; /* tokens in nano-bytes (bytes x 1e9) */
  uint64_t q_last_ns; /* last policed packet time, 0 = bucket not started (full) */
  /* URR: the counters of the direction */
  uint64_t bytes, pkts;
  uint64_t last_ns;  /* last packet time of the direction, 0 = none yet */
  uint64_t first_ns; /* first packet time of the direction, 0 = none yet (UPF_URRS_SEEN) */
  /* Volume thresholds and quotas without reading them per packet: no limit still armed of
   * the URR budget_of (a program's address + the URR's index) can be reached before the
   * budgets of both directions are used up (upf_urr_check splits the distance to the
   * nearest one between them, at most 2^31 - 1 bytes each); budget_of NULL = to be
   * computed. */
  const void *budget_of;
  int32_t budget;
  /* UPF_URRS_*: the same in both lines (upf_urrs_set), except UPF_URRS_SEEN (per line);
   * the UL line's also hold the block's UPF_STATE_USED */
  uint32_t flags;
} upf_state_dir_t;
_Static_assert(sizeof (upf_state_dir_t) == 64, "a direction's state is one line");

struct upf_state
{
  upf_state_dir_t d[2]; /* [UPF_DIR_UL], [UPF_DIR_DL] */
  /* line 2: the URR's periods, its dropped DL packets, the QER's drops, the writer's */
  uint64_t start_ns; /* start of the measurement period, 0 = none yet (the first packet's) */
  /* writer: start of the URR's current Time Quota (upf_session_tick meters it from there),
   * 0 = the URR's time metering has not started (the quota starts with it: the first
   * packet, or a read with reset before any), UPF_TQ_ARMED = armed by an install while
   * the metering runs, started by the next tick or read with reset (their clock); with
   * UPF_TQ_HELD: the quota paused by a program arming none (upf_session.c says how) */
  uint64_t tq_start_ns;
  uint64_t dropped_dl_pkts, dropped_dl_bytes;
  /* writer: the quota before the last grant (its tq_start_ns, UPF_TQ_NONE: none kept,
   * UPF_TQ_SPENT: used up), which a program putting back its grant (tq_prev_grant: the
   * grant undone) continues; the grant (time_quota_grant) of the quota tq_start_ns meters */
  uint64_t tq_prev_ns;
  uint32_t tq_prev_grant, tq_grant;
  struct upf_state *next; /* writer: the session's list */
  uint32_t urr_id;        /* writer: the URR whose state this holds (UPF_STATE_USED) */
  uint32_t qer_id;        /* writer: the QER whose state this holds (UPF_STATE_USED) */
};
_Static_assert(sizeof (upf_state_t) == 192, "a state block is three lines");
_Static_assert(offsetof (upf_state_t, start_ns) == 128, "a packet updates one line");
#define UPF_TQ_ARMED UINT64_MAX
#define UPF_TQ_HELD (1ull << 63)      /* | the ns of the quota used: paused */
#define UPF_TQ_SINCE (1ull << 62)     /* with UPF_TQ_HELD, | its start: paused, not yet timed */
#define UPF_TQ_NONE (UINT64_MAX - 1)  /* tq_prev_ns: no quota kept */
#define UPF_TQ_SPENT (UINT64_MAX - 2) /* tq_prev_ns: the quota kept was used up */
#define UPF_URRS_THRESHOLD_REPORTED 0x01
#define UPF_URRS_QUOTA_EXHAUSTED 0x02
#define UPF_URRS_TIME_THRESHOLD_REPORTED 0x04
#define UPF_URRS_TIME_QUOTA_EXHAUSTED 0x08
/* the volume quota's event was raised since the counts' last reset (internal: not reported;
 * urr_rearm marks a quota the counts reach used up without an event only then) */
#define UPF_URRS_QUOTA_RAISED 0x40000000u
#define UPF_URRS_SEEN 0x80000000u /* first_ns is set (internal: not reported) */
/* In the UL line's flags only, set on a new block before any reader sees it, never cleared
 * (internal: not reported): the block's URR (QER) half is used, urr_id (qer_id) valid. */
#define UPF_STATE_USED(kind) (0x10000000u << (kind))
#define UPF_URRS_INTERNAL                                                                          \
  (UPF_URRS_SEEN | UPF_URRS_QUOTA_RAISED | UPF_STATE_USED (UPF_STATE_URR)                          \
   | UPF_STATE_USED (UPF_STATE_QER))

/*
 * Every change of a flags word is an atomic read-modify-write: the session's packet thread
 * sets its marks (a volume threshold's or quota's event, UPF_URRS_SEEN) while the control
 * plane may set or clear others in the same words without holding it (an install's re-arm,
 * upf_session_rearms says which installs hold it); a plain |= or &= of either would store
 * back a word read before the other's change and lose it (a mark lost raises its event a
 * second time; a clear lost keeps a quota used up). A set releases: a packet counts its
 * bytes, then marks the event they reach, and a re-arm that reads the mark with an acquiring
 * load (urr_marks, unheld by the packet threads) then reads those counts, on weakly ordered
 * CPUs too (on x86 a locked read-modify-write orders as much already). A clear is relaxed:
 * nothing read after it depends on it. A set or clear runs only when an event fires, on a
 * direction's first packet of a measurement period, or when the control plane acts; packets
 * test the flags with plain loads.
 */
static inline void
upf_urrs_dir_set (upf_state_dir_t *d, uint32_t f)
{
  __atomic_fetch_or (&d->flags, f, __ATOMIC_RELEASE);
}

static inline void
upf_urrs_dir_clear (upf_state_dir_t *d, uint32_t f)
{
  __atomic_fetch_and (&d->flags, ~f, __ATOMIC_RELAXED);
}

/* Set / clear URR flags (not UPF_URRS_SEEN) in both directions' lines, one after the other:
 * a reader may see a mark in one line before the other (upf_urrs_flags ORs them). */
static inline void
upf_urrs_set (upf_state_t *s, uint32_t f)
{
  upf_urrs_dir_set (&s->d[UPF_DIR_UL], f);
  upf_urrs_dir_set (&s->d[UPF_DIR_DL], f);
}

static inline void
upf_urrs_clear (upf_state_t *s, uint32_t f)
{
  upf_urrs_dir_clear (&s->d[UPF_DIR_UL], f);
  upf_urrs_dir_clear (&s->d[UPF_DIR_DL], f);
}

/* The URR's first packet time (the earlier direction's), 0 = none yet. */
static inline uint64_t
upf_urrs_first (const upf_state_t *s)
{
  uint64_t a = s->d[UPF_DIR_UL].first_ns, b = s->d[UPF_DIR_DL].first_ns;
  return !a ? b : !b ? a : a < b ? a : b;
}

/* The URR flags as reported. */
static inline uint32_t
upf_urrs_flags (const upf_state_t *s)
{
  return (s->d[UPF_DIR_UL].flags | s->d[UPF_DIR_DL].flags) & ~UPF_URRS_INTERNAL;
}

/* A buffered packet: where its octets are in the buffer's data, and the ID of the PDR whose
 * FAR buffered it (an ID, not an index: the program may change while the packet waits).
 * inner_offset 0: an N6 packet, stored as received. Else a G-PDU received on an F-TEID (the
 * N9 downlink of an I-UPF or V-UPF): stored as the local address it came to (upf_ip_t) and
 * its GTP-U message, whose user packet starts inner_offset octets into the message; the flush
 * re-runs it through the GTP-U input, so it is classified by its F-TEID again. */
typedef struct
{
  uint32_t offset, len;
  uint32_t pdr_id;
  uint32_t inner_offset;
} upf_buffered_t;

/* A DL data report raised: its PDR and QFI (0 = none). */
typedef struct
{
  uint32_t pdr_id;
  uint8_t qfi;
} upf_reported_t;

struct upf_buffer
{
  uint8_t *data;
  uint32_t cap_bytes;
  uint32_t used_bytes;
  uint16_t n_pkts;
  /* DL data reports raised (reported[0 .. n_reported - 1]): one per PDR and QFI under a FAR
   * that notifies the CP, until re-armed (upf_buffer_report) */
  uint8_t n_reported;
  /* the BAR's DL buffering duration changed since the last tick: the duration of what is
   * buffered counts from that tick (upf_session_tick), not from the first packet */
  uint8_t duration_restart;
  uint64_t first_ns; /* when the buffering duration started: the first buffered packet's time */
  uint64_t dropped_pkts;
  upf_buffered_t pkts[UPF_BUFFER_MAX_PKTS];
  upf_reported_t reported[UPF_BUFFER_MAX_REPORTS];
};

struct upf_session
{
  uint64_t seid;
  _Atomic (upf_program_t *) prog;
  /* writer-owned */
  upf_state_t *states; /* the URRs' and QERs' state blocks */
  upf_buffer_t *buffer;
  struct upf_session *prev, *next; /* ctx's session list (writer) */
  upf_retired_t retire;
};

/* Datapath counters by reason. The entry points take the block to count into: one per
 * reader thread (the planned VPP plugin: one per worker, summed when read); upf_ctx_t holds one for
 * single-threaded users such as libupfcore.so. */
typedef struct
{
  uint64_t rx_pkts[2];
  uint64_t malformed[UPF_MALFORMED_N_REASONS];
  uint64_t drops[UPF_DROP_N_REASONS];
  uint64_t events_deferred; /* events that did not fit a verdict: raised again by a later packet */
} upf_stats_t;

typedef struct
{
  upf_table_t ul, dl;
  upf_epoch_t epoch;
  upf_stats_t stats;
  upf_session_t *sessions;                      /* writer: all sessions, freed with the context */
  upf_ruleset_t *rulesets[UPF_RULESET_BUCKETS]; /* writer: shared rule sets (upf_rules.h) */
} upf_ctx_t;

/* 1 if the event was added; 0 if the verdict is full (the caller leaves the condition
 * unmarked, so a later packet raises it again: no event is lost). */
static inline int
upf_add_event (upf_verdict_t *v, upf_stats_t *st, uint32_t type, uint32_t id, uint64_t value)
{
  if (v->n_events >= UPF_MAX_EVENTS)
    {
      st->events_deferred++;
      return 0;
    }
  upf_event_t *e = &v->events[v->n_events++];
  e->type = (uint16_t)type;
  e->peer_af = UPF_EV_PEER_NONE;
  e->_pad = 0;
  e->id = id;
  e->seid = v->seid;
  e->value = value;
  e->peer = (upf_ip_t){ 0 };
  return 1;
}

/*
 * The DL data report of a downlink packet under a FAR that notifies the CP (TS 29.244
 * 5.2.3.1; NOCP is about downlink data: an uplink packet under such a FAR, as a V-UPF's
 * uplink FAR has until the home network's N9 tunnel is known, raises none): the first
 * packet of each PDR and QFI raises it (the CP tells their priorities apart: a packet
 * of another QoS flow may need paging again), the next ones of the same pair do not, until
 * re-armed: a discard (upf_buffer_drop), an install changing the PDR's FAR, or the writer for
 * a report the CP never got (upf_buffer_rearm_report, packet threads held). A report that
 * does not fit the verdict is raised by a later packet; past UPF_BUFFER_MAX_REPORTS pairs,
 * none is. Only the packet thread owning the session writes reported[] (under such a FAR).
 * The report carries the packet's QFI and DSCP (tos: its ToS / Traffic Class octet): the CP
 * chooses the paging policy from the DSCP (TS 29.244 7.5.8.2, TS 23.501 5.4.3).
 */
static inline void
upf_buffer_report (upf_buffer_t *b, upf_stats_t *st, upf_verdict_t *v, uint8_t tos)
{
  unsigned i, n = b->n_reported;
  for (i = 0; i < n; i++)
    if (b->reported[i].pdr_id == v->pdr_id && b->reported[i].qfi == v->qfi)
      return;
  if (n < UPF_BUFFER_MAX_REPORTS
      && upf_add_event (v, st, UPF_EV_DL_DATA_REPORT, v->pdr_id,
                        v->qfi | UPF_EV_DLDR_DSCP | (uint32_t)(tos >> 2) << 8))
    {
      b->reported[n] = (upf_reported_t){ .pdr_id = v->pdr_id, .qfi = v->qfi };
      b->n_reported = (uint8_t)(n + 1);
    }
}

static inline void
upf_verdict_init (upf_verdict_t *v)
{
  memset (v, 0, offsetof (upf_verdict_t, events));
}

static inline int
upf_drop (upf_stats_t *st, upf_verdict_t *v, upf_drop_reason_t r)
{
  v->verdict = UPF_VERDICT_DROP;
  v->drop_reason = (uint8_t)r;
  st->drops[r]++;
  return 0;
}

/* Token bucket policer (caller's ns clock): the bucket is refilled to now_ns and checked, not
 * debited (upf_police_take debits it once the packet is sent); returns 1 if the packet
 * conforms. */
static UPF_ALWAYS_INLINE int
upf_police (upf_qer_state_t *qs, const upf_qer_rt_t *rt, unsigned dir, uint32_t len,
            uint64_t now_ns)
{
  upf_state_dir_t *s = &qs->d[dir];
  uint64_t need = (uint64_t)len * 1000000000ULL, Bps = rt->Bps[dir], last, tokens;
  if (!Bps)
    return 1;
  last = s->q_last_ns;
  tokens = s->tokens_nb;
  if (last == 0)
    tokens = rt->depth_nb[dir];
  else if (now_ns > last)
    {
      uint64_t dt = now_ns - last;
      dt = dt > rt->max_dt[dir] ? rt->max_dt[dir] : dt;
      tokens += dt * Bps;
      tokens = tokens > rt->depth_nb[dir] ? rt->depth_nb[dir] : tokens;
    }
  if (now_ns > last)
    s->q_last_ns = now_ns;
  s->tokens_nb = tokens;
  return tokens >= need;
}

/* Debit a bucket upf_police found to hold len bytes' tokens. A QER listed twice on a PDR is
 * debited twice: the bucket then stops at empty. */
static inline void
upf_police_take (upf_qer_state_t *qs, const upf_qer_rt_t *rt, unsigned dir, uint32_t len)
{
  upf_state_dir_t *s = &qs->d[dir];
  uint64_t need = (uint64_t)len * 1000000000ULL;
  if (rt->Bps[dir])
    s->tokens_nb = s->tokens_nb > need ? s->tokens_nb - need : 0;
}

static inline void
upf_urr_count_drop_dl (const upf_entry_t *e, int pdr, unsigned dir, uint32_t len)
{
  const upf_pdr_rule_t *rule = &e->rs->rule[pdr];
  upf_urr_state_t *const *states = upf_e_urr_state (e);
  unsigned i;
  if (dir != UPF_DIR_DL)
    return;
  for (i = 0; i < UPF_MAX_URR_PER_PDR; i++)
    {
      uint8_t u = rule->urr[i];
      if (u == UPF_NONE8)
        break;
      states[u]->dropped_dl_pkts++;
      states[u]->dropped_dl_bytes += len;
    }
}

/* Volume counter UPF_VOL_* of a URR state. */
static inline uint64_t
upf_urr_vol (const upf_urr_state_t *s, unsigned k)
{
  return k == UPF_VOL_TOTAL ? s->d[UPF_DIR_UL].bytes + s->d[UPF_DIR_DL].bytes
                            : s->d[k == UPF_VOL_UL ? UPF_DIR_UL : UPF_DIR_DL].bytes;
}

/* A URR's volume thresholds and quotas against its counters (events for those reached),
 * then the budgets: how many bytes the nearest one still armed is away, split between the
 * directions (each counter grows by at most the sum of what both use up). */
static inline void
upf_urr_check (upf_stats_t *st, const upf_urr_t *r, upf_urr_state_t *s, const void *id,
               upf_verdict_t *v)
{
  int64_t budget = INT64_MAX;
  uint32_t flags = upf_urrs_flags (s);
  unsigned k;
  if ((r->triggers & UPF_URR_T_VOLTH) && !(flags & UPF_URRS_THRESHOLD_REPORTED))
    for (k = 0; k < 3; k++)
      if (r->vol_threshold[k] && upf_urr_vol (s, k) >= r->vol_threshold[k])
        {
          if (upf_add_event (v, st, UPF_EV_USAGE_THRESHOLD, r->urr_id, k))
            upf_urrs_set (s, UPF_URRS_THRESHOLD_REPORTED);
          break;
        }
  if ((r->triggers & UPF_URR_T_VOLQU) && !(flags & UPF_URRS_QUOTA_EXHAUSTED))
    for (k = 0; k < 3; k++)
      if (r->vol_quota[k] && upf_urr_vol (s, k) >= r->vol_quota[k])
        {
          if (upf_add_event (v, st, UPF_EV_USAGE_QUOTA, r->urr_id, k))
            upf_urrs_set (s, UPF_URRS_QUOTA_EXHAUSTED | UPF_URRS_QUOTA_RAISED);
          break;
        }
  flags = upf_urrs_flags (s);
  /* a distance of 2^63 or more, or a limit already passed (its event deferred), counts as
   * <= 0: checked again with the next packet */
  for (k = 0; k < 3; k++)
    {
      if ((r->triggers & UPF_URR_T_VOLTH) && !(flags & UPF_URRS_THRESHOLD_REPORTED)
          && r->vol_threshold[k])
        {
          int64_t d = (int64_t)(r->vol_threshold[k] - upf_urr_vol (s, k));
          budget = d < budget ? d : budget;
        }
      if ((r->triggers & UPF_URR_T_VOLQU) && !(flags & UPF_URRS_QUOTA_EXHAUSTED) && r->vol_quota[k])
        {
          int64_t d = (int64_t)(r->vol_quota[k] - upf_urr_vol (s, k));
          budget = d < budget ? d : budget;
        }
    }
  /* both above 0 after a packet: together less than budget used, no limit reached */
  budget = budget > 0 ? budget : 0;
  s->d[UPF_DIR_UL].budget = (int32_t)(budget / 2 < INT32_MAX ? budget / 2 : INT32_MAX);
  s->d[UPF_DIR_DL].budget
    = (int32_t)(budget - budget / 2 < INT32_MAX ? budget - budget / 2 : INT32_MAX);
  s->d[UPF_DIR_UL].budget_of = s->d[UPF_DIR_DL].budget_of = id;
}

/* The URR arms a volume quota. */
static inline int
upf_urr_vol_quota_armed (const upf_urr_t *r)
{
  return (r->triggers & UPF_URR_T_VOLQU) && (r->vol_quota[0] | r->vol_quota[1] | r->vol_quota[2]);
}

/* 1 if the URR r drops its PDRs' packets, the flags of its state saying a quota is used up.
 * A volume or time quota used up stays marked through a program that arms none (urr_rearm,
 * a pause: INAM): that program's URR does not drop for it. */
static inline int
upf_urr_quota_drops (const upf_urr_t *r, uint32_t flags)
{
  return (r->flags & UPF_URR_F_DROP_ON_QUOTA)
         && (((flags & UPF_URRS_TIME_QUOTA_EXHAUSTED) && r->time_quota_ns)
             || ((flags & UPF_URRS_QUOTA_EXHAUSTED) && upf_urr_vol_quota_armed (r)));
}

/* The packet of len bytes counted by the URR u (state us, its direction's line s; id: the
 * URR's identity in the program, upf_urr_check's), its limits checked when its budget runs
 * out. */
static UPF_ALWAYS_INLINE void
upf_urr_count (upf_stats_t *st, const upf_entry_t *e, uint8_t u, upf_urr_state_t *us,
               upf_state_dir_t *s, const void *id, uint32_t len, uint64_t now_ns, upf_verdict_t *v)
{
  int64_t b;
  s->bytes += len;
  s->pkts++;
  if (__builtin_expect (!(s->flags & UPF_URRS_SEEN), 0))
    {
      s->first_ns = now_ns; /* 0 = not yet, as before the first packet */
      if (now_ns)
        upf_urrs_dir_set (s, UPF_URRS_SEEN);
    }
  s->last_ns = now_ns;
  b = (int64_t)s->budget - len; /* <= 0: computed anew, so always > -2^32 */
  s->budget = (int32_t)b;
  if (__builtin_expect (s->budget_of != id || b <= 0, 0))
    upf_urr_check (st, &e->prog->urr[u], us, id, v);
}

/*
 * URR accounting for a packet about to be forwarded. Returns 0 if a quota says drop: one
 * URR of the PDR whose quota is used up drops the packet before any of them counts it (no
 * URR counts, nor raises an event for, a packet that is not forwarded).
 * Updates the first line of each URR state; reads the compiled URR only when the state's
 * budget runs out (a threshold or quota may be reached), when the program changed, or when a
 * quota is exhausted. Each counter grows by at most len per packet, so while the budget stays
 * above 0 no armed limit is reached: the events come with the same packets as when every
 * packet compared every limit.
 */
static inline int
upf_urr_account (upf_stats_t *st, const upf_entry_t *e, int pdr, unsigned dir, uint32_t len,
                 uint64_t now_ns, upf_verdict_t *v)
{
  const upf_pdr_rule_t *rule = &e->rs->rule[pdr];
  upf_urr_state_t *const *states = upf_e_urr_state (e);
  unsigned i;
  /* a quota used up drops the packet before any URR counts it: the quotas of the URRs after
   * the first (the usual shape has none), then the first's in the loop that counts */
  if (__builtin_expect (rule->urr[1] != UPF_NONE8, 0))
    {
      for (i = 1; i < UPF_MAX_URR_PER_PDR; i++)
        {
          uint8_t u = rule->urr[i];
          uint32_t flags;
          if (u == UPF_NONE8)
            break;
          flags = states[u]->d[dir].flags;
          if (__builtin_expect (flags & (UPF_URRS_QUOTA_EXHAUSTED | UPF_URRS_TIME_QUOTA_EXHAUSTED),
                                0)
              && upf_urr_quota_drops (&e->prog->urr[u], flags))
            return 0;
        }
    }
  for (i = 0; i < UPF_MAX_URR_PER_PDR; i++)
    {
      uint8_t u = rule->urr[i];
      const void *id;
      upf_urr_state_t *us;
      upf_state_dir_t *s;
      if (u == UPF_NONE8)
        break;
      id = (const uint8_t *)e->prog + u; /* the URR: the program is read only when needed */
      us = states[u];
      s = &us->d[dir];
      /* (the others' were checked above; one used up since, by the counting before it or a
       * tick meanwhile, counts the packet: it is forwarded, as checked) */
      if (__builtin_expect (s->flags & (UPF_URRS_QUOTA_EXHAUSTED | UPF_URRS_TIME_QUOTA_EXHAUSTED),
                            0)
          && i == 0 && upf_urr_quota_drops (&e->prog->urr[u], s->flags))
        return 0;
      upf_urr_count (st, e, u, us, s, id, len, now_ns, v);
    }
  return 1;
}

/*
 * A packet of the PDR pdr that one of its QERs drops (its gate closed, its MBR exceeded):
 * counted by the PDR's URRs that measure before QoS enforcement (UPF_URR_F_BEFORE_QOS:
 * Measurement Information MBQE, TS 29.244 8.2.68), as a forwarded packet is by every URR
 * (upf_urr_account); the others count only what is forwarded. Reads the compiled URRs: a
 * drop, not the forwarding path.
 */
static inline void
upf_urr_count_before_qos (upf_stats_t *st, const upf_entry_t *e, int pdr, unsigned dir,
                          uint32_t len, uint64_t now_ns, upf_verdict_t *v)
{
  const upf_pdr_rule_t *rule = &e->rs->rule[pdr];
  upf_urr_state_t *const *states = upf_e_urr_state (e);
  unsigned i;
  for (i = 0; i < UPF_MAX_URR_PER_PDR; i++)
    {
      uint8_t u = rule->urr[i];
      upf_urr_state_t *us;
      if (u == UPF_NONE8)
        break;
      if (!(e->prog->urr[u].flags & UPF_URR_F_BEFORE_QOS))
        continue;
      us = states[u];
      upf_urr_count (st, e, u, us, &us->d[dir], (const uint8_t *)e->prog + u, len, now_ns, v);
    }
}

/*
 * Prefetching. A packet reads, of its session: the table entry (which carries the program's
 * packet-path header), the program's per-packet arrays (upf_rules.h: from
 * UPF_PROG_HOT_OFFSET: qer_rt, URR state pointers, far, pdi, encap), and its direction's
 * line of the state blocks of the QERs and URRs its PDR uses (one block in the usual
 * shape). The rule set (classifiers, PDR rules, SDF filters) is shared by the sessions of
 * a PCC rule set and stays cached.
 */
/* The lines from UPF_PROG_HOT_OFFSET a packet of the usual shape (1 QER, 1 URR, 2 FARs,
 * 2 PDIs, 1 template) reads, as bit masks: UL the QER line and the next (URR state pointer,
 * FARs, UL PDI); DL those and the template's line (its PDI is implied by its entry's key,
 * upf_key_t). */
#define UPF_PROG_HOT_LINES_UL 0x3
#define UPF_PROG_HOT_LINES_DL 0xb

static UPF_ALWAYS_INLINE void
upf_prog_prefetch_hot (const upf_program_t *p, unsigned dir)
{
  const uint8_t *h = (const uint8_t *)p + UPF_PROG_HOT_OFFSET;
  unsigned lines = dir == UPF_DIR_UL ? UPF_PROG_HOT_LINES_UL : UPF_PROG_HOT_LINES_DL;
  for (unsigned i = 0; lines >> i; i++)
    if ((lines >> i) & 1)
      __builtin_prefetch (h + 64 * i);
}

/* From the slot's entry pointer alone, before the entry is read: the first UL (DL) key's
 * entry is line 0 (1) of its program. For another entry this prefetches the wrong lines
 * (harmless); upf_prog_prefetch_check then fetches the right ones. */
static UPF_ALWAYS_INLINE void
upf_prog_prefetch_from_entry (const upf_entry_t *e, unsigned dir)
{
  __builtin_prefetch (e);
  upf_prog_prefetch_hot ((const upf_program_t *)((uintptr_t)e - 64 * dir), dir);
}

static UPF_ALWAYS_INLINE void
upf_prog_prefetch_check (const upf_entry_t *e, unsigned dir)
{
  if ((uintptr_t)e->prog != (uintptr_t)e - 64 * dir)
    upf_prog_prefetch_hot (e->prog, dir);
}

/* The direction's lines of the states of the program's QERs and URRs (the first two of
 * each: the usual case is one QER and one URR in one block), once the entry and the
 * program's qer_rt / URR state lines are in. They are written, but prefetched for reading
 * (prefetcht0 on every x86-64; a line read first is written without another miss when no
 * other core holds it). */
static UPF_ALWAYS_INLINE void
upf_prog_prefetch_states (const upf_entry_t *e, unsigned dir)
{
  unsigned n_qer = upf_e_n_qer (e);
  unsigned n_urr = upf_e_n_urr (e);
  const upf_qer_rt_t *q = upf_e_qer (e);
  upf_urr_state_t *const *u = upf_e_urr_state (e);
  if (n_qer)
    __builtin_prefetch (&q[0].state->d[dir]);
  if (n_qer > 1)
    __builtin_prefetch (&q[1].state->d[dir]);
  if (n_urr && (!n_qer || u[0] != q[0].state))
    __builtin_prefetch (&u[0]->d[dir]);
  if (n_urr > 1)
    __builtin_prefetch (&u[1]->d[dir]);
}

/* Classify with the program's independent loads started first (scalar path). */
static inline int
upf_session_classify (const upf_entry_t *e, unsigned dir, const upf_match_t *m)
{
  upf_prog_prefetch_hot (e->prog, dir);
  upf_prog_prefetch_states (e, dir);
  return upf_classify (e, dir, m);
}

/* A QER on a packet of the PDR pdr: its gate, then its MBR policer (the bucket checked, not
 * debited), then its marking. Returns 1 when the packet passes, else drops it. */
static UPF_ALWAYS_INLINE int
upf_qer_apply (upf_stats_t *st, const upf_entry_t *e, unsigned dir, int pdr, uint32_t len,
               uint64_t now_ns, const upf_qer_rt_t *qer, upf_verdict_t *v)
{
  upf_qer_state_t *qs = qer->state;
  if (qer->gate[dir] == UPF_GATE_CLOSED)
    {
      upf_urr_count_drop_dl (e, pdr, dir, len);
      upf_urr_count_before_qos (st, e, pdr, dir, len, now_ns, v);
      return upf_drop (st, v, UPF_DROP_GATE_CLOSED);
    }
  if (!upf_police (qs, qer, dir, len, now_ns))
    {
      upf_urr_count_drop_dl (e, pdr, dir, len);
      upf_urr_count_before_qos (st, e, pdr, dir, len, now_ns, v);
      return upf_drop (st, v, UPF_DROP_MBR);
    }
  if (qer->qfi)
    v->qfi = qer->qfi;
  if (qer->rqi)
    v->rqi = 1;
  if (qer->ppp)
    v->ppi = (uint8_t)(UPF_PPI_SET | qer->ppi);
  return 1;
}

/*
 * Rule pipeline for one classified packet of a session: pdr = upf_classify's result (-1 =
 * none). len = inner packet length (what URRs count and MBRs police). Fills the verdict;
 * returns 1 when the packet is to be sent.
 */
static inline int
upf_session_apply_pdr (upf_stats_t *st, const upf_entry_t *e, unsigned dir, const upf_match_t *m,
                       uint32_t len, uint64_t now_ns, int pdr, upf_verdict_t *v)
{
  const upf_program_t *prog = e->prog;
  const upf_pdr_rule_t *rule;
  const upf_far_rt_t *far;

  if (!prog)
    return upf_drop (st, v, UPF_DROP_NO_PDR);
  v->session = e->session;
  v->seid = e->seid;
  if (pdr < 0)
    return upf_drop (st, v, UPF_DROP_NO_PDR);
  rule = &e->rs->rule[pdr];
  v->pdr_id = rule->pdr_id;
  far = &upf_e_far (e)[rule->far];
  v->far_id = far->far_id;
  v->qfi = m->has_qfi ? m->qfi : 0;

  /* QER: gates, then MBR policers, checked here and debited once the packet is sent (below):
   * a packet dropped on the way (a second QER, the FAR's DROP, a full buffer, an exhausted
   * quota) or buffered (it is policed when the buffer is flushed) takes no tokens. With two
   * QERs (a flow MBR and the session AMBR, say) a packet takes tokens from both buckets or
   * from neither. */
  _Static_assert(UPF_MAX_QER_PER_PDR == 2, "a PDR has no, one or two QERs");
  if (rule->qer[0] != UPF_NONE8)
    {
      if (!upf_qer_apply (st, e, dir, pdr, len, now_ns, &upf_e_qer (e)[rule->qer[0]], v))
        return 0;
      if (__builtin_expect (rule->qer[1] != UPF_NONE8, 0)
          && !upf_qer_apply (st, e, dir, pdr, len, now_ns, &upf_e_qer (e)[rule->qer[1]], v))
        return 0;
    }

  /* FAR apply action (forward only, the usual one, skips the checks). */
  if (__builtin_expect (far->apply_action != UPF_AA_FORW, 0))
    {
      if (far->apply_action & UPF_AA_DROP)
        {
          upf_urr_count_drop_dl (e, pdr, dir, len);
          return upf_drop (st, v, UPF_DROP_FAR_DROP);
        }
      if (far->apply_action & UPF_AA_BUFF)
        {
          upf_buffer_t *b = prog->buffer;
          uint32_t cap_pkts, cap_bytes;
          /* the caller stores the packet (upf_buffer_store, upf_buffer_store_gpdu): an N6
           * packet is flushed through the N6 path, a G-PDU (e->key.gtpu_dl: an I-UPF's N9
           * downlink) through the GTP-U input, classified by its F-TEID again */
          if (!b)
            return upf_drop (st, v, UPF_DROP_NO_BUFFER);
          cap_pkts = prog->bar && prog->bar->max_pkts ? prog->bar->max_pkts : 32;
          if (cap_pkts > UPF_BUFFER_MAX_PKTS)
            cap_pkts = UPF_BUFFER_MAX_PKTS;
          cap_bytes = b->cap_bytes;
          if (prog->bar && prog->bar->max_bytes && prog->bar->max_bytes < cap_bytes)
            cap_bytes = prog->bar->max_bytes;
          if ((far->apply_action & UPF_AA_NOCP) && dir == UPF_DIR_DL)
            upf_buffer_report (b, st, v, m->in->tos);
          if (b->n_pkts >= cap_pkts || b->used_bytes + len > cap_bytes)
            {
              b->dropped_pkts++;
              upf_urr_count_drop_dl (e, pdr, dir, len);
              return upf_drop (st, v, UPF_DROP_BUFFER_FULL);
            }
          v->verdict = UPF_VERDICT_BUFFER;
          return 0;
        }
      if (far->apply_action & UPF_AA_NOCP)
        {
          upf_buffer_t *b = prog->buffer;
          if (b && dir == UPF_DIR_DL)
            upf_buffer_report (b, st, v, m->in->tos);
        }
      if (!(far->apply_action & UPF_AA_FORW))
        return upf_drop (st, v, UPF_DROP_NO_ACTION);
    }
  if (!upf_urr_account (st, e, pdr, dir, len, now_ns, v))
    {
      upf_urr_count_drop_dl (e, pdr, dir, len);
      return upf_drop (st, v, UPF_DROP_QUOTA);
    }
  if (rule->qer[0] != UPF_NONE8)
    {
      const upf_qer_rt_t *q = &upf_e_qer (e)[rule->qer[0]];
      upf_police_take (q->state, q, dir, len);
      if (__builtin_expect (rule->qer[1] != UPF_NONE8, 0))
        {
          q = &upf_e_qer (e)[rule->qer[1]];
          upf_police_take (q->state, q, dir, len);
        }
    }
  v->verdict = UPF_VERDICT_FORWARD;
  v->dest_interface = far->dest_interface;
  v->network_instance = far->network_instance;
  v->encap = far->encap != UPF_NONE8 ? &upf_e_encap (e)[far->encap] : 0;
  if (__builtin_expect ((far->apply_action & UPF_AA_DUPL) && far->dupl_count, 0))
    {
      v->n_dupl = far->dupl_count;
      v->dupl = &prog->dupl[far->dupl_first];
      v->dupl_encap = &prog->dupl_encap[far->dupl_first];
    }
  if (__builtin_expect (far->redirect_type != 0, 0))
    {
      v->redirect_type = far->redirect_type;
      v->redirect_addr = &prog->redirect[far->redirect];
    }
  return 1;
}

/* Classify, then the rules (scalar path). */
static inline int
upf_session_apply (upf_stats_t *st, const upf_entry_t *e, unsigned dir, const upf_match_t *m,
                   uint32_t len, uint64_t now_ns, upf_verdict_t *v)
{
  int pdr = e->prog ? upf_session_classify (e, dir, m) : -1;
  return upf_session_apply_pdr (st, e, dir, m, len, now_ns, pdr, v);
}

static inline int
upf_drop_malformed (upf_stats_t *st, upf_verdict_t *v, upf_malformed_t r)
{
  v->malformed = (uint8_t)r;
  st->malformed[r]++;
  return upf_drop (st, v, UPF_DROP_MALFORMED);
}

/* UL, GTP-U header stage: 1 = a G-PDU or an End Marker to look up (g filled), 0 = done
 * (verdict set). */
static inline int
upf_ul_gtpu_head (upf_stats_t *st, const uint8_t *gp, uint32_t len, upf_gtpu_t *g, upf_verdict_t *v)
{
  upf_malformed_t r = upf_parse_gtpu (gp, len, g);
  if (r != UPF_MALFORMED_NONE)
    return upf_drop_malformed (st, v, r);
  v->gtpu_type = g->type;
  v->teid = g->teid;
  if (g->type == UPF_GTPU_G_PDU)
    return 1;
  if (g->type == UPF_GTPU_ECHO_REQUEST)
    {
      v->verdict = UPF_VERDICT_ECHO_REQUEST;
      return 0;
    }
  if (g->type == UPF_GTPU_ERROR_INDICATION)
    {
      /* TEID Data I (IE 16, fixed 4 octets) must come first; the GTP-U Peer Address (IE
       * 133, 4 or 16 octets) after it names the peer that sent it (TS 29.281 7.3.1): it
       * goes in the event's peer, so that the sessions sending to that TEID at that address
       * alone are told (gNBs number their TEIDs alike); none (peer_af NONE) when absent,
       * cut short or of another length. */
      const uint8_t *ie = gp + g->header_len;
      if (g->payload_len < 5 || ie[0] != 16)
        return upf_drop_malformed (st, v, UPF_MALFORMED_GTPU_LENGTH);
      if (upf_add_event (v, st, UPF_EV_ERROR_INDICATION, 0, upf_rd32 (ie + 1))
          && g->payload_len >= 8 && ie[5] == 133)
        {
          upf_event_t *e = &v->events[v->n_events - 1];
          uint16_t n = upf_rd16 (ie + 6);
          if (n == 4 && g->payload_len >= 8 + 4)
            {
              e->peer = upf_ip4_from_bytes (ie + 8);
              e->peer_af = UPF_EV_PEER_IP4;
            }
          else if (n == 16 && g->payload_len >= 8 + 16)
            {
              memcpy (e->peer.b, ie + 8, 16);
              e->peer_af = UPF_EV_PEER_IP6;
            }
        }
    }
  else if (g->type == UPF_GTPU_END_MARKER)
    return 1; /* looked up as a G-PDU: relayed (upf_end_marker_finish) */
  else if (g->type != UPF_GTPU_ECHO_RESPONSE && g->type != UPF_GTPU_SUPPORTED_EXT_HDR_NOTIFICATION)
    return upf_drop_malformed (st, v, UPF_MALFORMED_GTPU_UNEXPECTED_TYPE);
  upf_drop (st, v, UPF_DROP_GTPU_SIGNALLING);
  return 0;
}

/* UL: the inner packet of a G-PDU into in and the match context m. */
static inline upf_malformed_t
upf_ul_match (const uint8_t *gp, const upf_gtpu_t *g, upf_inner_t *in, upf_match_t *m)
{
  m->in = in;
  m->teid = g->teid;
  m->has_teid = 1;
  m->qfi = g->qfi;
  m->has_qfi = g->has_pdu_session_container;
  upf_malformed_t r = upf_parse_inner (gp + g->header_len, g->payload_len, in);
  if (r == UPF_MALFORMED_NONE)
    upf_match_key (m, in, UPF_DIR_UL);
  return r;
}

/* UL, after the lookup (s = the F-TEID's entry or NULL), the inner parse (r) and the
 * classification (pdr): the rules. */
static inline int
upf_ul_finish_pdr (upf_stats_t *st, const upf_entry_t *s, const upf_gtpu_t *g, upf_malformed_t r,
                   const upf_match_t *m, int pdr, uint64_t now_ns, upf_verdict_t *v)
{
  if (!s)
    return upf_drop (st, v, UPF_DROP_NO_SESSION);
  if (r != UPF_MALFORMED_NONE)
    return upf_drop_malformed (st, v, r);
  v->inner_offset = g->header_len;
  v->inner_len = m->in->total_len;
  return upf_session_apply_pdr (st, s, UPF_DIR_UL, m, m->in->total_len, now_ns, pdr, v);
}

/*
 * A G-PDU received on a downlink F-TEID (s->key.gtpu_dl: its PDI's source interface is Core,
 * an I-UPF's or branching point's N9 downlink from a remote PSA, or CP-function, the data the
 * CP function buffered sent back over N4-u), after the lookup and the inner parse (r; m
 * built by upf_ul_match): the inner packet is downlink. Its key is built again in the DL
 * orientation (UE = inner destination), it is classified against the DL PDRs with a local
 * F-TEID (upf_classify_gtpu_dl: the F-TEID matches the received TEID, a QFI PDI the PDU
 * Session Container's QFI; a PDR without F-TEID, for N6, does not take it, as no N6 packet,
 * without TEID, matches a PDR with one), and the DL rules apply: DL gate and MBR, DL counts, the
 * FAR (to Access: the caller writes v->encap in front of the inner packet, as for N9
 * forwarding). A buffering FAR buffers the G-PDU (the caller stores it with
 * upf_buffer_store_gpdu), which the flush runs through the GTP-U input again. Redirection
 * applies to uplink: not reported. The RQI of a received DL PDU Session Container goes on to the
 * access side with the packet (the PSA's reflective QoS reaches the UE through an I-UPF;
 * TS 38.415 5.5.3.3), as a QER's RQI does; so does its Paging Policy Indicator (PPP and the PPI,
 * TS 38.415 5.5.2.1: the PSA's paging policy reaches the NG-RAN through an I-UPF), unless a QER of
 * the PDR sets its own.
 */
static __attribute__ ((noinline, unused)) int
upf_gtpu_dl_finish (upf_stats_t *st, const upf_entry_t *s, const upf_gtpu_t *g, upf_malformed_t r,
                    upf_match_t *m, uint64_t now_ns, upf_verdict_t *v)
{
  int pdr, fwd;
  if (r != UPF_MALFORMED_NONE)
    return upf_drop_malformed (st, v, r);
  upf_match_key (m, m->in, UPF_DIR_DL);
  v->inner_offset = g->header_len;
  v->inner_len = m->in->total_len;
  upf_prog_prefetch_hot (s->prog, UPF_DIR_DL);
  upf_prog_prefetch_states (s, UPF_DIR_DL);
  pdr = upf_classify_gtpu_dl (s, m);
  v->rqi = g->rqi;
  v->ppi = g->has_ppi ? (uint8_t)(UPF_PPI_SET | g->ppi) : 0;
  fwd = upf_session_apply_pdr (st, s, UPF_DIR_DL, m, m->in->total_len, now_ns, pdr, v);
  v->redirect_type = 0;
  v->redirect_addr = 0;
  return fwd;
}

/* A tunnel an End Marker is relayed on (upf_end_marker_tunnel). */
typedef struct
{
  const upf_encap_t *encap; /* the FAR's GTP-U template (in the program) */
  uint32_t pdr_id, far_id;  /* the first PDR (by precedence) forwarding on it, its FAR */
  uint16_t network_instance;
  uint8_t dest_interface;
  uint8_t qfi; /* the QFI its PDU Session Container carries (if the template has one) */
} upf_em_tunnel_t;

/* The GTP-U template an End Marker received on the local F-TEID teid goes on along PDR r's
 * FAR (it has that F-TEID, its FAR forwards, neither drops nor buffers, with GTP-U outer
 * header creation), else NULL. */
static inline const upf_encap_t *
upf_end_marker_encap (const upf_program_t *p, const upf_pdr_rule_t *r, uint32_t teid)
{
  const upf_far_rt_t *far = &p->far[r->far];
  if (!(p->pdi[r->pdi].pdi_flags & UPF_PDI_FTEID) || p->pdi[r->pdi].teid != teid
      || (far->apply_action & (UPF_AA_FORW | UPF_AA_DROP | UPF_AA_BUFF)) != UPF_AA_FORW
      || far->encap == UPF_NONE8 || p->encap[far->encap].kind != UPF_ENCAP_GTPU)
    return 0;
  return &p->encap[far->encap];
}

/*
 * End Marker relay (TS 29.281 7.3.2; TS 23.502 4.9.1.2.3, 4.9.1.3.3: an I-UPF, UL CL or
 * branching point forwards the End Marker the PSA sends on the old N9 path to the NG-RAN;
 * TS 38.300 9.2.3: in handover with indirect data forwarding the source NG-RAN's End
 * Marker goes on to the target on the forwarding tunnel). The i-th (0, 1, ...) tunnel an End
 * Marker received on the local F-TEID teid of program p goes on: the PDRs whose PDI has that
 * F-TEID (whatever their source interface, QFI, UE address or filters: an End Marker has no
 * inner packet to match), in precedence order, whose FAR forwards (FORW, neither DROP nor
 * BUFF) with GTP-U outer header creation; each peer and TEID once (the first PDR's FAR's
 * template). The QFI: the PDR's QER's, as for a G-PDU, else rx_qfi (the received End
 * Marker's PDU Session Container's, 0 = none). 0 past the last.
 */
static inline int
upf_end_marker_tunnel (const upf_program_t *p, uint32_t teid, unsigned i, uint8_t rx_qfi,
                       upf_em_tunnel_t *out)
{
  unsigned k, j, n = 0;
  for (k = 0; k < p->n_pdr; k++)
    {
      const upf_pdr_rule_t *r = &p->rule[k];
      const upf_far_rt_t *far = &p->far[r->far];
      const upf_encap_t *t = upf_end_marker_encap (p, r, teid), *q;
      int seen = 0;
      if (!t)
        continue;
      for (j = 0; j < k && !seen; j++)
        seen = (q = upf_end_marker_encap (p, &p->rule[j], teid)) && upf_encap_same_tunnel (q, t);
      if (seen || n++ != i)
        continue;
      out->encap = t;
      out->pdr_id = r->pdr_id;
      out->far_id = far->far_id;
      out->network_instance = far->network_instance;
      out->dest_interface = far->dest_interface;
      out->qfi = rx_qfi;
      for (j = 0; j < UPF_MAX_QER_PER_PDR && r->qer[j] != UPF_NONE8; j++)
        if (p->qer_rt[r->qer[j]].qfi)
          out->qfi = p->qer_rt[r->qer[j]].qfi;
      return 1;
    }
  return 0;
}

/*
 * An End Marker received on a local F-TEID (s = its entry, NULL = none): relayed when the
 * F-TEID's PDRs forward on a GTP-U tunnel (upf_end_marker_tunnel): verdict END_MARKER, with
 * the session, the received TEID (teid), its PDU Session Container's QFI (qfi, 0 = none) and
 * the first tunnel (encap, pdr_id, far_id, dest_interface, network_instance); the caller sends
 * one End Marker per tunnel (upf_end_marker_tunnel on the session's program, from i = 0,
 * each written by upf_encap_write_end_marker). No QER gate or MBR, no URR counts it (it
 * carries no user data). Else dropped as GTP-U signalling, as an End Marker for no session
 * is (no Error Indication: TS 29.281 7.3.1 has one for G-PDUs only).
 */
static __attribute__ ((noinline, unused)) int
upf_end_marker_finish (upf_stats_t *st, const upf_entry_t *s, const upf_gtpu_t *g, upf_verdict_t *v)
{
  upf_em_tunnel_t t;
  uint8_t rx_qfi = g->has_pdu_session_container ? g->qfi : 0;
  if (!s || !upf_end_marker_tunnel (s->prog, g->teid, 0, rx_qfi, &t))
    return upf_drop (st, v, UPF_DROP_GTPU_SIGNALLING);
  v->verdict = UPF_VERDICT_END_MARKER;
  v->session = s->session;
  v->seid = s->seid;
  v->qfi = rx_qfi;
  v->encap = t.encap;
  v->pdr_id = t.pdr_id;
  v->far_id = t.far_id;
  v->dest_interface = t.dest_interface;
  v->network_instance = t.network_instance;
  return 0;
}

/* UL, after the lookup (s = the F-TEID's entry or NULL): inner packet, rules. */
static inline int
upf_ul_gtpu_finish (upf_stats_t *st, const upf_entry_t *s, const uint8_t *gp, const upf_gtpu_t *g,
                    uint64_t now_ns, upf_verdict_t *v)
{
  upf_inner_t in;
  upf_match_t m;
  upf_malformed_t r;
  int pdr;
  if (__builtin_expect (g->type == UPF_GTPU_END_MARKER, 0))
    return upf_end_marker_finish (st, s, g, v);
  r = upf_ul_match (gp, g, &in, &m);
  if (__builtin_expect (s && s->key.gtpu_dl, 0))
    return upf_gtpu_dl_finish (st, s, g, r, &m, now_ns, v);
  pdr = s && r == UPF_MALFORMED_NONE && s->prog ? upf_session_classify (s, UPF_DIR_UL, &m) : -1;
  return upf_ul_finish_pdr (st, s, g, r, &m, pdr, now_ns, v);
}

/*
 * Uplink at the GTP-U layer: gp = UDP payload (GTP-U message) received on our N3/N9 address
 * local_addr (what a VPP node after ip4-udp-lookup, or a kernel UDP socket, sees).
 * FORWARD: the inner packet is gp[inner_offset .. + inner_len]; when v->encap is set (N9
 * forwarding) the caller writes the new outer header in front of it with upf_encap_write ().
 * Unknown TEID: DROP/NO_SESSION with v->teid set (the caller may send an Error Indication).
 */
static inline int
upf_ul_process_gtpu (upf_ctx_t *ctx, upf_stats_t *st, const upf_ip_t *local_addr, const uint8_t *gp,
                     uint32_t len, uint64_t now_ns, upf_verdict_t *v)
{
  upf_gtpu_t g;
  if (!upf_ul_gtpu_head (st, gp, len, &g, v))
    return 0;
  return upf_ul_gtpu_finish (st, upf_ul_find (&ctx->ul, local_addr, g.teid), gp, &g, now_ns, v);
}

/* UL, outer IP/UDP stage: 0 = done (malformed: verdict set), else the outer header parsed. */
static inline int
upf_ul_outer (upf_stats_t *st, const uint8_t *pkt, uint32_t len, upf_outer_t *o, upf_verdict_t *v)
{
  upf_malformed_t r;
  upf_verdict_init (v);
  st->rx_pkts[UPF_DIR_UL]++;
  r = upf_parse_outer (pkt, len, o);
  if (r == UPF_MALFORMED_NONE && o->dport != UPF_GTPU_PORT)
    r = UPF_MALFORMED_NOT_GTPU_PORT;
  if (r != UPF_MALFORMED_NONE)
    {
      upf_drop_malformed (st, v, r);
      return 0;
    }
  return 1;
}

/*
 * Uplink: pkt = outer IP packet received on N3/N9, len = its length. As
 * upf_ul_process_gtpu (), with v->inner_offset relative to pkt.
 */
static inline int
upf_ul_process (upf_ctx_t *ctx, upf_stats_t *st, const uint8_t *pkt, uint32_t len, uint64_t now_ns,
                upf_verdict_t *v)
{
  upf_outer_t o;
  int rv;
  if (!upf_ul_outer (st, pkt, len, &o, v))
    return 0;
  rv = upf_ul_process_gtpu (ctx, st, &o.dst, pkt + o.payload_offset, o.payload_len, now_ns, v);
  v->inner_offset = (uint16_t)(v->inner_offset + o.payload_offset);
  return rv;
}

static inline void
upf_dl_match (const upf_inner_t *in, upf_match_t *m)
{
  m->in = in;
  m->teid = 0;
  m->has_teid = 0;
  m->qfi = 0;
  m->has_qfi = 0;
  upf_match_key (m, in, UPF_DIR_DL);
}

/* DL, after the lookup: rules. */
static inline int
upf_dl_finish (upf_stats_t *st, const upf_entry_t *s, const upf_inner_t *in, uint64_t now_ns,
               upf_verdict_t *v)
{
  upf_match_t m;
  if (!s)
    return upf_drop (st, v, UPF_DROP_NO_SESSION);
  upf_dl_match (in, &m);
  return upf_session_apply (st, s, UPF_DIR_DL, &m, in->total_len, now_ns, v);
}

/* DL, parse stage: 0 = done (malformed: verdict set), else in parsed. */
static inline int
upf_dl_head (upf_stats_t *st, const uint8_t *pkt, uint32_t len, upf_inner_t *in, upf_verdict_t *v)
{
  upf_malformed_t r;
  upf_verdict_init (v);
  st->rx_pkts[UPF_DIR_DL]++;
  r = upf_parse_inner (pkt, len, in);
  if (r != UPF_MALFORMED_NONE)
    {
      upf_drop_malformed (st, v, r);
      return 0;
    }
  v->inner_len = in->total_len;
  return 1;
}

/*
 * Downlink: pkt = inner IP packet received on N6 in network_instance.
 * FORWARD with v->encap: the caller writes upf_encap_write (v->encap, pkt -
 * upf_encap_len (v->encap, v->ppi), pkt, v->inner_len, v->qfi, v->rqi, v->ppi) into its
 * headroom.
 */
static inline int
upf_dl_process (upf_ctx_t *ctx, upf_stats_t *st, uint16_t network_instance, const uint8_t *pkt,
                uint32_t len, uint64_t now_ns, upf_verdict_t *v)
{
  upf_inner_t in;
  if (!upf_dl_head (st, pkt, len, &in, v))
    return 0;
  return upf_dl_finish (st, upf_dl_find (&ctx->dl, network_instance, &in.dst), &in, now_ns, v);
}

#define UPF_VEC_GROUP 16

typedef struct
{
  upf_gtpu_t g[UPF_VEC_GROUP];
  upf_inner_t in[UPF_VEC_GROUP];
  upf_match_t mt[UPF_VEC_GROUP];
  upf_key_t k[UPF_VEC_GROUP];
  uint64_t h[UPF_VEC_GROUP];
  const upf_entry_t *e[UPF_VEC_GROUP];
  uint16_t off[UPF_VEC_GROUP];
  uint8_t look[UPF_VEC_GROUP];  /* UL: a G-PDU to look up; DL: parsed */
  uint8_t probe[UPF_VEC_GROUP]; /* DL: first key built (k, h set, slot prefetched) */
  uint8_t r[UPF_VEC_GROUP];     /* UL: inner parse result */
  uint32_t base, n;
} upf_vec_group_t;

/* Packet j of G has its key hashed and its slot prefetched. */
static inline int
upf_vec_probe (const upf_vec_group_t *G, uint32_t j, unsigned dir)
{
  return dir == UPF_DIR_UL ? G->look[j] : G->probe[j];
}

/* Packet j of G, its session found, goes through classification and the rules. */
static inline int
upf_vec_classify (const upf_vec_group_t *G, uint32_t j, unsigned dir)
{
  return dir == UPF_DIR_UL ? G->r[j] == UPF_MALFORMED_NONE : G->look[j];
}

/* What the stages of one vector share. */
typedef struct
{
  upf_ctx_t *ctx;
  upf_stats_t *st;
  upf_slots_t *slots;
  const uint8_t *const *pkts;
  const uint32_t *lens;
  upf_verdict_t *v;
  uint8_t *const *bufs; /* DL: the packets, writable with headroom (upf_dl_process_vec_encap) */
  uint8_t *encap_len;   /* and the outer headers' lengths written there */
  uint64_t now_ns;
  uint16_t network_instance; /* DL */
} upf_vec_t;

/* Read the slots of the key's probe sequence (prefetched by the parse stage); prefetch the
 * entries and, from the first one's address, its program (usually the hit). */
static UPF_ALWAYS_INLINE void
upf_vec_slot (upf_slots_t *s, uint64_t h, unsigned dir)
{
  uint32_t i = (uint32_t)h & s->mask;
  int first = 1;
  for (unsigned k = 0; k < 4; k++, i = (i + 1) & s->mask)
    {
      upf_entry_t *e = atomic_load_explicit (&s->slots[i], memory_order_acquire);
      if (!e)
        return;
      if (e == UPF_TOMBSTONE)
        continue;
      if (first)
        upf_prog_prefetch_from_entry (e, dir);
      else
        __builtin_prefetch (e);
      first = 0;
    }
}

/* The stages copy what they use of V into locals first: the group's byte stores may alias V
 * for the compiler, which would reload it after each. */
static inline void
upf_ul_vec_parse (const upf_vec_t *V, upf_vec_group_t *G)
{
  upf_stats_t *st = V->st;
  upf_slots_t *slots = V->slots;
  const uint8_t *const *pkts = V->pkts;
  const uint32_t *lens = V->lens;
  upf_verdict_t *v = V->v;
  for (uint32_t j = 0; j < G->n; j++)
    {
      upf_outer_t o;
      uint32_t x = G->base + j;
      const uint8_t *gp;
      G->look[j] = 0;
      if (!upf_ul_outer (st, pkts[x], lens[x], &o, &v[x]))
        continue;
      gp = pkts[x] + o.payload_offset;
      G->look[j] = (uint8_t)upf_ul_gtpu_head (st, gp, o.payload_len, &G->g[j], &v[x]);
      if (!G->look[j])
        {
          v[x].inner_offset = o.payload_offset; /* as upf_ul_process */
          continue;
        }
      G->off[j] = o.payload_offset;
      G->r[j] = (uint8_t)upf_ul_match (gp, &G->g[j], &G->in[j], &G->mt[j]);
      upf_ul_key (&G->k[j], &o.dst, G->g[j].teid);
      G->h[j] = upf_key_hash (&G->k[j]);
      upf_slots_prefetch (slots, G->h[j]);
    }
}

static inline void
upf_dl_vec_parse (const upf_vec_t *V, upf_vec_group_t *G)
{
  upf_stats_t *st = V->st;
  upf_slots_t *slots = V->slots;
  upf_table_t *dl = &V->ctx->dl;
  const uint8_t *const *pkts = V->pkts;
  const uint32_t *lens = V->lens;
  upf_verdict_t *v = V->v;
  uint16_t ni = V->network_instance;
  for (uint32_t j = 0; j < G->n; j++)
    {
      uint32_t x = G->base + j;
      G->look[j] = (uint8_t)upf_dl_head (st, pkts[x], lens[x], &G->in[j], &v[x]);
      G->probe[j] = G->look[j] && upf_dl_first_key (dl, ni, &G->in[j].dst, &G->k[j]);
      if (!G->look[j])
        continue;
      upf_dl_match (&G->in[j], &G->mt[j]);
      if (!G->probe[j])
        continue;
      G->h[j] = upf_key_hash (&G->k[j]);
      upf_slots_prefetch (slots, G->h[j]);
    }
}

static UPF_ALWAYS_INLINE void
upf_vec_slots (const upf_vec_t *V, upf_vec_group_t *G, unsigned dir)
{
  upf_slots_t *slots = V->slots;
  for (uint32_t j = 0; j < G->n; j++)
    if (upf_vec_probe (G, j, dir))
      upf_vec_slot (slots, G->h[j], dir);
}

static inline void
upf_vec_find (const upf_vec_t *V, upf_vec_group_t *G, unsigned dir)
{
  upf_slots_t *slots = V->slots;
  upf_table_t *dl = &V->ctx->dl;
  uint16_t ni = V->network_instance;
  for (uint32_t j = 0; j < G->n; j++)
    {
      const upf_entry_t *e
        = upf_vec_probe (G, j, dir) ? upf_slots_find (slots, &G->k[j], G->h[j]) : 0;
      /* DL: the longest prefix hits in the common case (one prefix length per family) */
      if (dir == UPF_DIR_DL && !e && G->look[j])
        e = upf_dl_find (dl, ni, &G->in[j].dst);
      if (e && upf_vec_classify (G, j, dir))
        {
          upf_prog_prefetch_check (e, dir);
          upf_prog_prefetch_states (e, dir);
        }
      G->e[j] = e;
    }
}

static inline void
upf_vec_rules (const upf_vec_t *V, upf_vec_group_t *G, unsigned dir)
{
  upf_stats_t *st = V->st;
  upf_verdict_t *v = V->v;
  uint8_t *const *bufs = V->bufs;
  uint8_t *encap_len = V->encap_len;
  uint64_t now_ns = V->now_ns;
  for (uint32_t j = 0; j < G->n; j++)
    if (G->look[j])
      {
        upf_verdict_t *vj = &v[G->base + j];
        const upf_entry_t *e = G->e[j];
        int pdr;
        if (dir == UPF_DIR_UL && __builtin_expect (G->g[j].type == UPF_GTPU_END_MARKER, 0))
          {
            upf_end_marker_finish (st, e, &G->g[j], vj);
            vj->inner_offset = G->off[j];
            continue;
          }
        if (dir == UPF_DIR_UL && __builtin_expect (e && e->key.gtpu_dl, 0))
          {
            /* a downlink F-TEID: the inner packet is DL (upf_gtpu_dl_finish) */
            upf_gtpu_dl_finish (st, e, &G->g[j], (upf_malformed_t)G->r[j], &G->mt[j], now_ns, vj);
            vj->inner_offset = (uint16_t)(vj->inner_offset + G->off[j]);
            continue;
          }
        pdr = e && upf_vec_classify (G, j, dir) ? upf_classify (e, dir, &G->mt[j]) : -1;
        if (dir == UPF_DIR_UL)
          {
            upf_ul_finish_pdr (st, e, &G->g[j], (upf_malformed_t)G->r[j], &G->mt[j], pdr, now_ns,
                               vj);
            vj->inner_offset = (uint16_t)(vj->inner_offset + G->off[j]);
          }
        else if (!e)
          upf_drop (st, vj, UPF_DROP_NO_SESSION);
        else
          {
            int fwd = upf_session_apply_pdr (st, e, UPF_DIR_DL, &G->mt[j], G->in[j].total_len,
                                             now_ns, pdr, vj);
            /* the template is in cache now (prefetched with the program's lines) */
            if (bufs && fwd && vj->encap)
              {
                uint8_t *pkt = bufs[G->base + j];
                encap_len[G->base + j]
                  = (uint8_t)upf_encap_write (vj->encap, pkt - upf_encap_len (vj->encap, vj->ppi),
                                              pkt, vj->inner_len, vj->qfi, vj->rqi, vj->ppi);
              }
          }
      }
}

/*
 * Vector entry points: n packets per call, same verdicts and state changes as calling the
 * scalar entry point on each packet in order. They work in groups of UPF_VEC_GROUP packets,
 * in four stages, software-pipelined over four groups so that what a stage prefetches has
 * the other groups' stages to arrive in (VPP's bihash + quad-loop shape). Step i:
 *   parse   group i: parse, hash the table key, prefetch its slot
 *   slot    group i - 1: read the slots, prefetch the entries and, from their addresses, the
 *           programs' packet-path lines
 *   find    group i - 2: look up, check the program prefetch, prefetch the QER/URR states
 *   rules   group i - 3: classify, police, count, forward, in packet order
 * The per-session state changes all happen in "rules", in packet order. One driver serves
 * both directions (dir is a constant where it is inlined).
 */
static inline void
upf_vec_run (const upf_vec_t *V, uint32_t n, unsigned dir)
{
  upf_vec_group_t grp[4];
  uint32_t n_grp = (n + UPF_VEC_GROUP - 1) / UPF_VEC_GROUP;
  /* step i: parse group i, slots of i - 1, find of i - 2, rules of i - 3 */
  for (uint32_t i = 0; i < n_grp + 3; i++)
    {
      if (i < n_grp)
        {
          upf_vec_group_t *G = &grp[i & 3];
          G->base = i * UPF_VEC_GROUP;
          G->n = n - G->base < UPF_VEC_GROUP ? n - G->base : UPF_VEC_GROUP;
          if (dir == UPF_DIR_UL)
            upf_ul_vec_parse (V, G);
          else
            upf_dl_vec_parse (V, G);
        }
      if (i >= 1 && i - 1 < n_grp)
        upf_vec_slots (V, &grp[(i - 1) & 3], dir);
      if (i >= 2 && i - 2 < n_grp)
        upf_vec_find (V, &grp[(i - 2) & 3], dir);
      if (i >= 3)
        upf_vec_rules (V, &grp[(i - 3) & 3], dir);
    }
}

/* pkts[i] (lens[i] bytes): outer IP packets received on N3/N9; verdicts into v[i]. */
static inline void
upf_ul_process_vec (upf_ctx_t *ctx, upf_stats_t *st, const uint8_t *const *pkts,
                    const uint32_t *lens, uint32_t n, uint64_t now_ns, upf_verdict_t *v)
{
  upf_vec_t V = { .ctx = ctx,
                  .st = st,
                  .slots = upf_table_slots (&ctx->ul),
                  .pkts = pkts,
                  .lens = lens,
                  .v = v,
                  .now_ns = now_ns };
  upf_vec_run (&V, n, UPF_DIR_UL);
}

/* pkts[i] (lens[i] bytes): inner IP packets received on N6 in network_instance. */
static inline void
upf_dl_process_vec (upf_ctx_t *ctx, upf_stats_t *st, uint16_t network_instance,
                    const uint8_t *const *pkts, const uint32_t *lens, uint32_t n, uint64_t now_ns,
                    upf_verdict_t *v)
{
  upf_vec_t V = { .ctx = ctx,
                  .st = st,
                  .slots = upf_table_slots (&ctx->dl),
                  .pkts = pkts,
                  .lens = lens,
                  .v = v,
                  .now_ns = now_ns,
                  .network_instance = network_instance };
  upf_vec_run (&V, n, UPF_DIR_DL);
}

/*
 * As upf_dl_process_vec, and a FORWARD verdict with an encapsulation template has its outer
 * header written in front of the packet (at bufs[i] - encap_len[i], so each packet needs
 * UPF_ENCAP_MAX_LEN bytes of headroom) in the same pass, while the template is in cache:
 * encap_len[i] = the header's length, 0 = none written (the caller writes it, if any, as
 * after upf_dl_process_vec). Writing after the vector instead reads every template again,
 * 256 sessions' lines later.
 */
static inline void
upf_dl_process_vec_encap (upf_ctx_t *ctx, upf_stats_t *st, uint16_t network_instance,
                          uint8_t *const *bufs, const uint32_t *lens, uint32_t n, uint64_t now_ns,
                          upf_verdict_t *v, uint8_t *encap_len)
{
  upf_vec_t V = { .ctx = ctx,
                  .st = st,
                  .slots = upf_table_slots (&ctx->dl),
                  .pkts = (const uint8_t *const *)bufs,
                  .lens = lens,
                  .v = v,
                  .bufs = bufs,
                  .encap_len = encap_len,
                  .now_ns = now_ns,
                  .network_instance = network_instance };
  memset (encap_len, 0, n);
  upf_vec_run (&V, n, UPF_DIR_DL);
}

/* Writer side (upf_session.c). */
int upf_ctx_init (upf_ctx_t *ctx, uint32_t expected_sessions);
void upf_ctx_free (upf_ctx_t *ctx);
upf_session_t *upf_session_create (upf_ctx_t *ctx, uint64_t seid);
/* Link the program's state, update the UL/DL tables, publish. On error nothing changes and
 * the program is still the caller's. On success the session owns it. */
int upf_session_install (upf_ctx_t *ctx, upf_session_t *s, upf_program_t *prog, char *err,
                         size_t errlen);
void upf_session_delete (upf_ctx_t *ctx, upf_session_t *s);
/* 1 if installing a program with these URRs in s re-arms a mark that packets of the program
 * in force also set (a volume threshold's or quota's), or one whose re-arm those packets
 * could change: the caller holds the packet threads from the install to its return, so that
 * no packet of the old program marks the state after the re-arm. 0 = the install writes no
 * such mark and none of them depends on what those packets do meanwhile. */
int upf_session_rearms (upf_session_t *s, const upf_urr_t *urr, unsigned n_urr);
/* 1 if installing the program of d in s re-arms a one-shot DL data report (s having a DL
 * buffer: a FAR kept with another apply action, or a PDR whose FAR in force notifies the CP
 * and whose FAR in d is another FAR, does not notify, or is absent with the PDR) while
 * packets of the program in force may set it (one of its FARs has UPF_AA_NOCP): the caller
 * holds the packet threads from the install to its return. */
int upf_session_rearms_report (upf_session_t *s, const upf_program_desc_t *d);
/* 1 if installing the program of d in s flushes the DL buffer: a PDR whose FAR in force
 * buffers (UPF_AA_BUFF) has no FAR that buffers in d (another FAR, the same one without
 * UPF_AA_BUFF, or the PDR removed), whatever the buffer holds now (a packet of the program in
 * force may still be stored); or no PDR buffers in either program and the buffer holds
 * packets: the caller holds the packet threads from the install through upf_buffer_flush. */
int upf_session_flushes (upf_session_t *s, const upf_program_desc_t *d);

/* Datapath-thread side: DL buffer management. */
/* Copy an N6 packet that got UPF_VERDICT_BUFFER (under PDR pdr_id: the verdict's) into the
 * session's buffer; -ENOSPC when full: the packet is dropped, dropped DL traffic of that PDR's
 * URRs in the program in force when the PDR is downlink (the caller counts the drop
 * reason). */
int upf_buffer_store (upf_session_t *s, uint32_t pdr_id, const uint8_t *pkt, uint32_t len,
                      uint64_t now_ns);
/* The same for a G-PDU that got UPF_VERDICT_BUFFER: its GTP-U message gp (the user packet at
 * gp + inner_offset, inner_len octets: what URRs count) received on the local address. */
int upf_buffer_store_gpdu (upf_session_t *s, uint32_t pdr_id, const upf_ip_t *local,
                           const uint8_t *gp, uint32_t inner_offset, uint32_t inner_len,
                           uint64_t now_ns);
/* A buffered packet handed back: local NULL, an N6 packet (re-run with upf_dl_process);
 * else a GTP-U message received on local (re-run with upf_ul_process_gtpu). */
typedef void (*upf_buffer_cb_t) (void *arg, const uint8_t *pkt, uint32_t len,
                                 const upf_ip_t *local);
/* Empties the buffer, then hands every packet it held to cb in arrival order (cb re-runs
 * it: the FAR now in force decides; a packet whose PDR still buffers is stored again by cb,
 * and what cb stored again keeps the DL Buffering Duration counting from when it started; a
 * packet stored after this returns starts it anew). Returns the packet count. */
unsigned upf_buffer_flush (upf_session_t *s, upf_buffer_cb_t cb, void *arg);
/* Discards every buffered packet (the CP's DROBU, the end of the DL Buffering Duration):
 * each of a downlink PDR is dropped DL traffic of the URRs of its PDR in the program in force
 * (TS 29.244 5.2.2.2.1, 8.2.49: the Dropped DL Traffic Threshold). Returns the packet count.
 * The caller holds the packet threads (they write those URRs' states). */
unsigned upf_buffer_drop (upf_session_t *s);
/* Re-arms the DL data report of the PDR and QFI (qfi 0: none), as a discard does for every
 * pair: its next packet buffered under a FAR that notifies the CP raises it again. For a
 * report the CP never got (TS 29.244 5.2.3.1, 6.4: its Session Report Request unanswered, or
 * not sent). 1 if the pair was reported, else 0. The caller holds the packet threads (the
 * owner writes reported[]). */
int upf_buffer_rearm_report (upf_session_t *s, uint32_t pdr_id, uint8_t qfi);
/* Time-driven work: buffering duration expiry, time thresholds/quotas. */
unsigned upf_session_tick (upf_ctx_t *ctx, upf_session_t *s, uint64_t now_ns, upf_event_t *ev,
                           unsigned max_ev);

/* Counter read-out (summable snapshot). reset starts a new measurement period. */
typedef struct
{
  uint32_t urr_id;
  uint32_t flags;
  uint64_t bytes[3], pkts[3];
  uint64_t dropped_dl_pkts, dropped_dl_bytes;
  uint64_t first_ns, last_ns, start_ns;
} upf_usage_t;
int upf_session_read_urr (upf_session_t *s, uint32_t urr_id, upf_usage_t *out, int reset,
                          uint64_t now_ns);

const char *upf_drop_reason_str (unsigned reason);

#endif /* included_upf_pipeline_h */
