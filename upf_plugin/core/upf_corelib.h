/*
 * upf_corelib.h: exported entry points of libupfcore.so (names prefixed upfcore_). VPP nodes use
 * the static inline functions of upf_core.h instead.
 */
#ifndef included_upf_corelib_h
#define included_upf_corelib_h

#include "upf_core.h"

#define UPF_API_VISIBLE __attribute__ ((visibility ("default")))

UPF_API_VISIBLE upf_ctx_t *upfcore_ctx_new (uint32_t expected_sessions);
UPF_API_VISIBLE void upfcore_ctx_delete (upf_ctx_t *ctx);
UPF_API_VISIBLE const upf_stats_t *upfcore_stats (const upf_ctx_t *ctx);
UPF_API_VISIBLE unsigned upfcore_reclaim (upf_ctx_t *ctx);
UPF_API_VISIBLE upf_session_t *upfcore_session_create (upf_ctx_t *ctx, uint64_t seid);
/* Build a program from d and install it (replacing the current one). 0 or -errno + err. */
UPF_API_VISIBLE int upfcore_session_install (upf_ctx_t *ctx, upf_session_t *s,
                                             const upf_program_desc_t *d, char *err, size_t errlen);
UPF_API_VISIBLE void upfcore_session_delete (upf_ctx_t *ctx, upf_session_t *s);
/* An install in one call (pfcpd's): s, or a new session seid when s is NULL, gets the program
 * of d (upfcore_session_install); then what no packet can still read is reclaimed (the caller
 * keeps packets out meanwhile, as around upfcore_reclaim). Returns the session, *buffered = its
 * buffered DL packets; NULL + err when refused (a session created here is deleted again, and
 * reclaimed; s keeps its program). */
UPF_API_VISIBLE upf_session_t *upfcore_session_put (upf_ctx_t *ctx, upf_session_t *s, uint64_t seid,
                                                    const upf_program_desc_t *d, char *err,
                                                    size_t errlen, unsigned *buffered);
/* upfcore_session_put's arguments in one block, its buffered count written back: a caller
 * for whom each argument of a call costs (pfcpd's ctypes converts every one) keeps the block,
 * writes what changes between installs and passes one pointer. */
typedef struct
{
  upf_ctx_t *ctx;
  upf_session_t *session; /* s: NULL creates session seid */
  uint64_t seid;
  const upf_program_desc_t *desc;
  char *err;
  uint64_t errlen;
  uint32_t buffered; /* out: *buffered */
  uint32_t flush;    /* out: the packets the caller flushes now (upfcore_buffer_flush) */
} upfcore_put_args_t;

/* upfcore_session_put (a->ctx, a->session, a->seid, a->desc, a->err, a->errlen, &a->buffered);
 * a->flush: whether the install flushes the buffer (upf_session_flushes, decided before it:
 * a PDR that buffers under the program in force does not under the new one), as the buffered
 * packets the caller flushes then (upfcore_buffer_flush), 0 when it flushes none. NULL a:
 * NULL. */
UPF_API_VISIBLE upf_session_t *upfcore_session_put_args (upfcore_put_args_t *a);
/* What differs between the sessions of one shape (pfcpd keeps a descriptor per shape of the
 * programs it installs): a PDR's TEID, F-TEID address (addr[0]) and UE address (addr[1]), or a
 * GTP-U FAR's outer header TEID, peer (addr[0]) and source (addr[1]). */
typedef struct
{
  uint32_t teid;
  upf_ip_t addr[2];
} upfcore_slot_t;

#define UPFCORE_MAX_SLOTS (UPF_MAX_PDR + UPF_MAX_FAR)

/* An install whose descriptor gets the session's own values first (upfcore_session_put_slots):
 * what changes between installs (n_slot, session, seid, desc, the slots) is adjacent, for a
 * caller that writes it in one go. */
typedef struct
{
  upf_ctx_t *ctx;
  char *err;
  uint64_t errlen;
  uint32_t flush; /* out: the packets the caller flushes now (upfcore_put_args_t's) */
  uint32_t _pad;
  uint32_t buffered;      /* out: the session's buffered DL packets */
  uint32_t n_slot;        /* 0, or desc's PDRs + its FARs with GTP-U outer header creation */
  upf_session_t *session; /* NULL creates session seid */
  uint64_t seid;
  upf_program_desc_t *desc;
  upfcore_slot_t slot[UPFCORE_MAX_SLOTS];
} upfcore_put_slots_t;

/* upfcore_session_put (a->ctx, a->session, a->seid, a->desc, a->err, a->errlen, &a->buffered),
 * a->flush as upfcore_session_put_args writes it, the slots written into a->desc first (n_slot 0:
 * none): one per PDR in order, then one per FAR with GTP-U outer header creation in order; a desc
 * of more PDRs or FARs than the library takes, or an n_slot that is not that count, refuses the
 * install (NULL + err, desc unchanged, nothing read past its counts' limits). The slots are written
 * through desc's const table pointers: the caller's tables, which it lets this write. NULL a or
 * desc: NULL. (NULL ctx: the slots written, then refused as upfcore_session_put refuses it.) */
UPF_API_VISIBLE upf_session_t *upfcore_session_put_slots (upfcore_put_slots_t *a);
/* A removal in one call (pfcpd's): the usage of each URR of s's program (upfcore_read_urr, no
 * reset), in the order its descriptor gave them, into out; then s is deleted and reclaimed
 * (as above). Returns how many were written, or -ENOSPC (nothing done) when the program has
 * more than max URRs. */
UPF_API_VISIBLE int upfcore_session_remove (upf_ctx_t *ctx, upf_session_t *s, upf_usage_t *out,
                                            unsigned max);
/* upfcore_session_remove's arguments in one block (as upfcore_put_args_t's): what changes
 * between removals (max, session) is adjacent. */
typedef struct
{
  upf_ctx_t *ctx;
  upf_usage_t *out;
  uint32_t max;
  uint32_t _pad;
  upf_session_t *session;
} upfcore_remove_args_t;

/* upfcore_session_remove (a->ctx, a->session, a->out, a->max); NULL a: -EINVAL. */
UPF_API_VISIBLE int upfcore_session_remove_args (const upfcore_remove_args_t *a);
UPF_API_VISIBLE int upfcore_read_urr (upf_session_t *s, uint32_t urr_id, upf_usage_t *out,
                                      int reset, uint64_t now_ns);
UPF_API_VISIBLE unsigned upfcore_tick (upf_ctx_t *ctx, upf_session_t *s, uint64_t now_ns,
                                       upf_event_t *ev, unsigned max);
UPF_API_VISIBLE unsigned upfcore_buffer_flush (upf_session_t *s, upf_buffer_cb_t cb, void *arg);
UPF_API_VISIBLE unsigned upfcore_buffer_drop (upf_session_t *s);
UPF_API_VISIBLE int upfcore_buffer_rearm_report (upf_session_t *s, uint32_t pdr_id, uint8_t qfi);
UPF_API_VISIBLE unsigned upfcore_buffer_count (const upf_session_t *s);
UPF_API_VISIBLE int upfcore_ul_process (upf_ctx_t *ctx, const uint8_t *pkt, uint32_t len,
                                        uint64_t now_ns, upf_verdict_t *v);
UPF_API_VISIBLE int upfcore_dl_process (upf_ctx_t *ctx, uint16_t ni, const uint8_t *pkt,
                                        uint32_t len, uint64_t now_ns, upf_verdict_t *v);
/* Whole-packet helpers: process and write the packet to transmit into out; return its length
 * (0 = nothing to send). UL: FORWARD -> inner packet (or re-encapsulated for N9), its
 * destination rewritten when the FAR redirects to an IPv4/IPv6 address of the packet's family
 * (v->redirected = 1; URL/SIP URI redirects are only reported in v->redirect_type);
 * ECHO_REQUEST -> echo response to the sender; DROP/NO_SESSION of a G-PDU -> error indication
 * to the sender; an unknown comprehension-required extension header -> Supported Extension
 * Headers Notification to the sender; END_MARKER -> nothing (upfcore_end_marker_packet builds
 * the End Markers it is relayed as). DL: FORWARD -> encapsulated packet; BUFFER -> stored in
 * the session. */
UPF_API_VISIBLE uint32_t upfcore_ul_packet (upf_ctx_t *ctx, const uint8_t *pkt, uint32_t len,
                                            uint64_t now_ns, upf_verdict_t *v, uint8_t *out,
                                            uint32_t cap);
/* UL at the GTP-U layer (kernel UDP socket on local_addr:2152): FORWARD -> inner packet (or
 * full outer packet for N9); ECHO_REQUEST -> the GTP-U echo response message; NO_SESSION of a
 * G-PDU -> the GTP-U error indication message; an unknown comprehension-required extension
 * header -> a Supported Extension Headers Notification (send these back to the sender);
 * END_MARKER -> nothing (upfcore_end_marker_packet). */
UPF_API_VISIBLE uint32_t upfcore_ul_gtpu_packet (upf_ctx_t *ctx, const upf_ip_t *local_addr,
                                                 const uint8_t *gp, uint32_t len, uint64_t now_ns,
                                                 upf_verdict_t *v, uint8_t *out, uint32_t cap);
UPF_API_VISIBLE uint32_t upfcore_dl_packet (upf_ctx_t *ctx, uint16_t ni, const uint8_t *pkt,
                                            uint32_t len, uint64_t now_ns, upf_verdict_t *v,
                                            uint8_t *out, uint32_t cap);
/* Copy i of a FORWARD verdict with n_dupl > 0 (FAR DUPL): the duplicating parameter's outer
 * header (if any) + the user packet inner (v->inner_len bytes: UL pkt + v->inner_offset as
 * received, DL the N6 packet) into out; returns its length, 0 = nothing (i out of range, no
 * room). Send it towards v->dupl[i].dest_interface. */
UPF_API_VISIBLE uint32_t upfcore_dupl_packet (const upf_verdict_t *v, unsigned i,
                                              const uint8_t *inner, uint8_t *out, uint32_t cap);
/* End Marker i (0, 1, ...) of an END_MARKER verdict: the received End Marker relayed on the
 * i-th tunnel of its F-TEID (upf_end_marker_tunnel, on the session's program in force), as
 * an outer IP/UDP/GTP-U packet into out; returns its length, 0 = none (past the last, no
 * room). info (6 values): that tunnel's PDR ID, FAR ID, destination interface, network
 * instance, the QFI its PDU Session Container carries, and its TEID. */
UPF_API_VISIBLE uint32_t upfcore_end_marker_packet (const upf_verdict_t *v, unsigned i,
                                                    uint8_t *out, uint32_t cap, uint32_t *info);
UPF_API_VISIBLE uint32_t upfcore_build_end_marker (const upf_ip_t *src, const upf_ip_t *dst,
                                                   uint32_t teid, int with_psc, uint8_t qfi,
                                                   uint8_t *out, uint32_t cap);
UPF_API_VISIBLE const char *upfcore_malformed_str (unsigned r);
UPF_API_VISIBLE const char *upfcore_drop_reason_str (unsigned r);
/* Layout and constants for the binding to check at load (one source: these headers).
 * sizeof a mirrored struct by name (0 = unknown); offsetof one of its fields (-1 = unknown);
 * the value of a constant by its C name (0, or -ENOENT). */
UPF_API_VISIBLE size_t upfcore_sizeof (const char *name);
UPF_API_VISIBLE long upfcore_offsetof (const char *type, const char *field);
UPF_API_VISIBLE int upfcore_constant (const char *name, uint64_t *value);

#endif /* included_upf_corelib_h */
