/* DL buffering (TS 29.244 5.2.3.1): the DL data report of each PDR and QFI, its re-arm, the
 * DL Buffering Duration given again, and what is discarded counted as dropped DL traffic. */
#include "test_util.h"

#define UE IP4 (10, 45, 0, 7)
#define UE2 IP4 (10, 45, 0, 8)
#define DN IP4 (10, 201, 0, 9)

typedef struct
{
  upf_pdr_t pdr[2];
  upf_far_t far[3]; /* (the third for a test's own) */
  upf_qer_t qer[2];
  upf_bar_t bar;
  upf_program_desc_t d;
} prog_t;

/* DL PDR 2 (UE) -> FAR 2, QER 1 (QFI 9); DL PDR 3 (UE2) -> FAR 3, QER 2 (QFI 5); both FARs
 * buffer and notify the CP; BAR 1. */
static void
buf_prog (prog_t *p)
{
  memset (p, 0, sizeof (*p));
  for (int i = 0; i < 2; i++)
    {
      p->pdr[i] = (upf_pdr_t){ .pdr_id = 2 + i,
                               .precedence = 100,
                               .source_interface = UPF_IF_CORE,
                               .pdi_flags = UPF_PDI_UE_IP,
                               .ue_ip = upf_ip4 (i ? UE2 : UE),
                               .ue_ip_plen = 128,
                               .outer_header_removal = UPF_OHR_NONE,
                               .far_id = 2 + i,
                               .qer_id = { 1 + i } };
      p->far[i] = (upf_far_t){ .far_id = 2 + i,
                               .apply_action = UPF_AA_BUFF | UPF_AA_NOCP,
                               .dest_interface = UPF_IF_ACCESS,
                               .dscp = UPF_DSCP_NONE };
      p->qer[i] = (upf_qer_t){ .qer_id = 1 + i, .qfi = i ? 5 : 9 };
    }
  p->bar = (upf_bar_t){ .bar_id = 1, .max_pkts = 64 };
  p->d = (upf_program_desc_t){
    .pdr = p->pdr, .far = p->far, .qer = p->qer, .bar = &p->bar, .n_pdr = 2, .n_far = 2, .n_qer = 2
  };
}

static void
put (upf_ctx_t *c, upf_session_t *s, prog_t *p)
{
  char err[128];
  if (upfcore_session_install (c, s, &p->d, err, sizeof (err)))
    fail_msg ("install: %s", err);
}

/* One DL packet to ue at now; its verdict must be BUFFER. Returns the DL data report it
 * raised as (PDR ID << 8 | QFI), 0 for none. */
static uint32_t
dl (upf_ctx_t *c, uint32_t ue, uint64_t now)
{
  uint8_t in[256], out[512];
  upf_verdict_t v;
  uint32_t il = mk_inner4 (in, DN, ue, UPF_PROTO_UDP, 1, 2, 10), got = 0;
  upfcore_dl_packet (c, 0, in, il, now, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_BUFFER);
  for (int e = 0; e < v.n_events; e++)
    if (v.events[e].type == UPF_EV_DL_DATA_REPORT)
      {
        assert_int_equal (got, 0);
        got = v.events[e].id << 8 | (uint32_t)(v.events[e].value & 0xff);
      }
  return got;
}

/* The first DL packet of each PDR whose FAR buffers and notifies is reported, once for that
 * PDR (and QFI): a packet of another PDR, or of the same PDR with another QFI, is reported
 * while the first report's paging runs (the CP tells their priorities apart). */
static void
test_report_per_pdr_and_qfi (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  (void)st;
  buf_prog (&p);
  upf_session_t *s = upfcore_session_create (c, 9);
  put (c, s, &p);
  assert_int_equal (dl (c, UE, 100), 2 << 8 | 9);
  assert_int_equal (dl (c, UE, 110), 0);
  assert_int_equal (dl (c, UE2, 120), 3 << 8 | 5);
  assert_int_equal (dl (c, UE2, 130), 0);
  assert_int_equal (dl (c, UE, 140), 0);
  /* the CP changes QER 1's QFI: PDR 2's packets go to another QoS flow, reported */
  p.qer[0].qfi = 7;
  put (c, s, &p);
  assert_int_equal (dl (c, UE, 150), 2 << 8 | 7);
  assert_int_equal (dl (c, UE, 160), 0);
  assert_int_equal (dl (c, UE2, 170), 0);
  assert_int_equal (upfcore_buffer_count (s), 8);
  upfcore_ctx_delete (c);
}

/* A FAR whose apply action changes re-arms the report of its own PDRs only: the other PDR,
 * buffering under a FAR kept as it was, is not reported again. A discard (DROBU, the end of
 * the buffering duration) re-arms every PDR's. */
static void
test_report_rearm_per_far (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  (void)st;
  buf_prog (&p);
  upf_session_t *s = upfcore_session_create (c, 9);
  put (c, s, &p);
  assert_int_equal (dl (c, UE, 100), 2 << 8 | 9);
  assert_int_equal (dl (c, UE2, 110), 3 << 8 | 5);
  /* FAR 3 buffers without notifying, then notifies again: PDR 3 reported anew */
  p.far[1].apply_action = UPF_AA_BUFF;
  assert_int_equal (upf_session_rearms_report (s, &p.d), 1);
  put (c, s, &p);
  assert_int_equal (dl (c, UE2, 120), 0);
  p.far[1].apply_action = UPF_AA_BUFF | UPF_AA_NOCP;
  put (c, s, &p);
  assert_int_equal (dl (c, UE, 130), 0);
  assert_int_equal (dl (c, UE2, 140), 3 << 8 | 5);
  /* the CP discards what is buffered: each PDR's next packet is new downlink data */
  assert_int_equal (upfcore_buffer_drop (s), 5);
  assert_int_equal (dl (c, UE2, 150), 3 << 8 | 5);
  assert_int_equal (dl (c, UE, 160), 2 << 8 | 9);
  upfcore_ctx_delete (c);
}

/* A report the CP never got (its Session Report Request unanswered, or not sent) is re-armed
 * for its PDR and QFI alone: the pair's next packet raises it again, the other pairs stay
 * reported; a pair not reported is not changed. */
static void
test_report_rearmed_for_one_pair (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  (void)st;
  buf_prog (&p);
  upf_session_t *s = upfcore_session_create (c, 9);
  put (c, s, &p);
  assert_int_equal (upfcore_buffer_rearm_report (s, 2, 9), 0);
  assert_int_equal (dl (c, UE, 100), 2 << 8 | 9);
  assert_int_equal (dl (c, UE2, 110), 3 << 8 | 5);
  assert_int_equal (upfcore_buffer_rearm_report (s, 2, 5), 0);
  assert_int_equal (upfcore_buffer_rearm_report (s, 2, 9), 1);
  assert_int_equal (dl (c, UE2, 120), 0);
  assert_int_equal (dl (c, UE, 130), 2 << 8 | 9);
  assert_int_equal (dl (c, UE, 140), 0);
  assert_int_equal (upfcore_buffer_count (s), 5);
  assert_int_equal (upfcore_buffer_rearm_report (0, 2, 9), 0);
  upfcore_ctx_delete (c);
}

/* More PDRs reported than the buffer keeps reports of: the first UPF_BUFFER_MAX_REPORTS are
 * reported, the rest are not (no report twice for a PDR). */
static void
test_report_many_pdrs (void **st)
{
  enum
  {
    N = UPF_BUFFER_MAX_REPORTS + 4
  };
  upf_ctx_t *c = upfcore_ctx_new (16);
  upf_pdr_t pdr[N];
  upf_far_t far = { .far_id = 1,
                    .apply_action = UPF_AA_BUFF | UPF_AA_NOCP,
                    .dest_interface = UPF_IF_ACCESS,
                    .dscp = UPF_DSCP_NONE };
  upf_bar_t bar = { .bar_id = 1, .max_pkts = 255 };
  upf_program_desc_t d = { .pdr = pdr, .far = &far, .bar = &bar, .n_pdr = N, .n_far = 1 };
  char err[128];
  int reports = 0;
  (void)st;
  for (int i = 0; i < N; i++)
    pdr[i] = (upf_pdr_t){ .pdr_id = 10 + i,
                          .precedence = 100,
                          .source_interface = UPF_IF_CORE,
                          .pdi_flags = UPF_PDI_UE_IP,
                          .ue_ip = upf_ip4 (UE + i),
                          .ue_ip_plen = 128,
                          .outer_header_removal = UPF_OHR_NONE,
                          .far_id = 1 };
  upf_session_t *s = upfcore_session_create (c, 9);
  assert_int_equal (upfcore_session_install (c, s, &d, err, sizeof (err)), 0);
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < N; i++)
      {
        uint32_t r = dl (c, UE + i, 100);
        if (r)
          {
            assert_int_equal (round, 0);
            assert_true (i < UPF_BUFFER_MAX_REPORTS);
            assert_int_equal (r >> 8, 10 + i);
            reports++;
          }
      }
  assert_int_equal (reports, UPF_BUFFER_MAX_REPORTS);
  upfcore_ctx_delete (c);
}

/* The report carries the DSCP of the packet that raised it (the Paging Policy Indication,
 * TS 29.244 7.5.8.2: the CP chooses the paging policy from it) with its QFI; a packet of
 * another DSCP in the same PDR and QoS flow is not reported again. */
static void
test_report_dscp (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  uint8_t in[256], out[512];
  upf_verdict_t v;
  uint32_t il;
  (void)st;
  buf_prog (&p);
  upf_session_t *s = upfcore_session_create (c, 9);
  put (c, s, &p);
  il = mk_inner4 (in, DN, UE, UPF_PROTO_UDP, 1, 2, 10);
  in[1] = 46 << 2 | 1; /* DSCP EF, ECN ECT(1) */
  upf_wr16 (in + 10, 0);
  upf_wr16 (in + 10, upf_csum_fold (upf_csum_add (0, in, 20)));
  upfcore_dl_packet (c, 0, in, il, 100, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_BUFFER);
  assert_int_equal (v.n_events, 1);
  assert_int_equal (v.events[0].type, UPF_EV_DL_DATA_REPORT);
  assert_int_equal (v.events[0].value, 9 | UPF_EV_DLDR_DSCP | 46 << 8);
  in[1] = 10 << 2;
  upf_wr16 (in + 10, 0);
  upf_wr16 (in + 10, upf_csum_fold (upf_csum_add (0, in, 20)));
  upfcore_dl_packet (c, 0, in, il, 110, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_BUFFER);
  assert_int_equal (v.n_events, 0);
  upfcore_ctx_delete (c);
}

/* A DL Buffering Duration given again with the same value (the next paging's answer, Update
 * BAR) is another grant (duration_grant): it counts from the tick after its install, as a
 * changed value does; an install of the same grant (another change of the session) does not
 * restart it. */
static void
test_duration_granted_again (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  upf_event_t ev[4];
  (void)st;
  buf_prog (&p);
  upf_session_t *s = upfcore_session_create (c, 9);
  put (c, s, &p);
  assert_int_equal (dl (c, UE, 300), 2 << 8 | 9);
  /* the first answer: 1000 ns from the tick at 500 */
  p.bar.duration_ns = 1000;
  p.bar.duration_grant = 1;
  put (c, s, &p);
  assert_int_equal (upfcore_tick (c, s, 500, ev, 4), 0);
  /* the next answer at 1200 grants the same duration: it counts from the tick at 1200 */
  p.bar.duration_grant = 2;
  put (c, s, &p);
  assert_int_equal (upfcore_tick (c, s, 1200, ev, 4), 0);
  assert_int_equal (upfcore_tick (c, s, 1500, ev, 4), 0);
  assert_int_equal (upfcore_buffer_count (s), 1);
  /* the same grant installed again (another change) keeps the start */
  put (c, s, &p);
  assert_int_equal (upfcore_tick (c, s, 2199, ev, 4), 0);
  assert_int_equal (upfcore_tick (c, s, 2200, ev, 4), 1);
  assert_int_equal (ev[0].type, UPF_EV_BUFFER_EXPIRED);
  assert_int_equal (ev[0].value, 1);
  assert_int_equal (upfcore_buffer_count (s), 0);
  /* a grant with nothing buffered: the next packet starts the duration */
  p.bar.duration_grant = 3;
  put (c, s, &p);
  assert_int_equal (dl (c, UE, 3000), 2 << 8 | 9);
  assert_int_equal (upfcore_tick (c, s, 3999, ev, 4), 0);
  assert_int_equal (upfcore_tick (c, s, 4000, ev, 4), 1);
  upfcore_ctx_delete (c);
}

/* One DL packet to ue from port sport at now; its verdict must be FORWARD. */
static void
dl_forwarded (upf_ctx_t *c, uint32_t ue, uint16_t sport, uint64_t now)
{
  uint8_t in[256], out[512];
  upf_verdict_t v;
  uint32_t il = mk_inner4 (in, DN, ue, UPF_PROTO_UDP, sport, 2, 10);
  upfcore_dl_packet (c, 0, in, il, now, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
}

/* What a flush (flush_all) did with the packets it re-ran: the source ports of those
 * forwarded, in order, and the DL data reports raised. */
static struct
{
  upf_ctx_t *c;
  uint64_t now;
  unsigned n_sent, n_reports;
  uint16_t sent[16];
} fl;

static void
flush_one (void *arg, const uint8_t *pkt, uint32_t len, const upf_ip_t *local)
{
  upf_verdict_t v;
  uint8_t out[512];
  (void)arg;
  assert_null (local); /* an N6 packet */
  upfcore_dl_packet (fl.c, 0, pkt, len, fl.now, &v, out, sizeof (out));
  for (int e = 0; e < v.n_events; e++)
    fl.n_reports += v.events[e].type == UPF_EV_DL_DATA_REPORT;
  if (v.verdict == UPF_VERDICT_FORWARD && fl.n_sent < 16)
    fl.sent[fl.n_sent++] = upf_rd16 (pkt + 20);
}

/* The caller's flush after an install (as the VPP plugin's and pfcpd's): every buffered
 * packet re-run through the program in force at now. Returns how many were handed over. */
static unsigned
flush_all (upf_ctx_t *c, upf_session_t *s, uint64_t now)
{
  memset (&fl, 0, sizeof (fl));
  fl.c = c;
  fl.now = now;
  return upfcore_buffer_flush (s, flush_one, 0);
}

/* A PDR the CP idles and resumes by moving it between FARs (Update PDR's FAR ID, TS 29.244
 * 7.5.4.2), no FAR changing its apply action. Moved to the FAR that forwards, its report is
 * re-armed, with the packet threads held for it (upf_session_rearms_report), so its next
 * idle period is reported again (5.2.3.1: each is a new buffering episode); the report of the
 * other PDR, under a FAR kept as it was, is not re-armed. A PDR moved to another FAR that
 * notifies is reported anew; a PDR removed frees its report's slot. */
static void
test_report_rearm_pdr_moved (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  (void)st;
  buf_prog (&p);
  /* FAR 2 forwards; FAR 4 buffers and notifies: PDR 2 idles on it */
  p.far[0].apply_action = UPF_AA_FORW;
  p.far[2] = p.far[1];
  p.far[2].far_id = 4;
  p.d.n_far = 3;
  p.pdr[0].far_id = 4;
  upf_session_t *s = upfcore_session_create (c, 9);
  put (c, s, &p);
  assert_int_equal (dl (c, UE, 100), 2 << 8 | 9);
  assert_int_equal (dl (c, UE2, 110), 3 << 8 | 5);
  /* the UE is back: PDR 2 to FAR 2; its packet goes, PDR 3's stays, not reported again */
  p.pdr[0].far_id = 2;
  assert_int_equal (upf_session_rearms_report (s, &p.d), 1);
  assert_int_equal (upf_session_flushes (s, &p.d), 1);
  put (c, s, &p);
  assert_int_equal (s->buffer->n_reported, 1);
  assert_int_equal (flush_all (c, s, 200), 2);
  assert_int_equal (fl.n_sent, 1);
  assert_int_equal (fl.n_reports, 0);
  assert_int_equal (upfcore_buffer_count (s), 1);
  dl_forwarded (c, UE, 1, 300);
  /* idle again: nothing notified is re-armed (no hold), PDR 3 still buffers (no flush); PDR
   * 2's next packet is reported, PDR 3's is not */
  p.pdr[0].far_id = 4;
  assert_int_equal (upf_session_rearms_report (s, &p.d), 0);
  assert_int_equal (upf_session_flushes (s, &p.d), 0);
  put (c, s, &p);
  assert_int_equal (dl (c, UE, 400), 2 << 8 | 9);
  assert_int_equal (dl (c, UE2, 410), 0);
  assert_int_equal (dl (c, UE, 420), 0);
  /* PDR 2 to FAR 3, which buffers and notifies too: reported anew, nothing flushed */
  p.pdr[0].far_id = 3;
  assert_int_equal (upf_session_rearms_report (s, &p.d), 1);
  assert_int_equal (upf_session_flushes (s, &p.d), 0);
  put (c, s, &p);
  assert_int_equal (dl (c, UE, 500), 2 << 8 | 9);
  assert_int_equal (dl (c, UE2, 510), 0);
  /* PDR 3 removed: its report's slot is freed (held), its packets flushed */
  p.d.n_pdr = 1;
  assert_int_equal (upf_session_rearms_report (s, &p.d), 1);
  assert_int_equal (upf_session_flushes (s, &p.d), 1);
  put (c, s, &p);
  assert_int_equal (s->buffer->n_reported, 1);
  assert_int_equal (s->buffer->reported[0].pdr_id, 2);
  upfcore_ctx_delete (c);
}

/* Buffering is per FAR (TS 29.244 5.2.3.1): the CP makes FAR 2 forward while FAR 3 still
 * buffers. The install flushes (upf_session_flushes, decided before it): FAR 2's packets go,
 * in their order; FAR 3's are stored again, not reported again, their DL Buffering Duration
 * still counting from its start. A FAR that keeps buffering under another apply action, or a
 * PDR that still buffers, flushes nothing. */
static void
test_flush_per_far (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  upf_event_t ev[4];
  uint8_t in[256];
  (void)st;
  buf_prog (&p);
  p.bar.duration_ns = 1000;
  p.bar.duration_grant = 1;
  upf_session_t *s = upfcore_session_create (c, 9);
  put (c, s, &p);
  for (uint16_t i = 1; i <= 4; i++)
    {
      uint32_t il = mk_inner4 (in, DN, i == 2 ? UE2 : UE, UPF_PROTO_UDP, i, 2, 10);
      upf_verdict_t v;
      uint8_t out[512];
      upfcore_dl_packet (c, 0, in, il, 100 + i, &v, out, sizeof (out));
      assert_int_equal (v.verdict, UPF_VERDICT_BUFFER);
    }
  /* FAR 3 buffers without notifying: it still buffers, nothing flushed */
  p.far[1].apply_action = UPF_AA_BUFF;
  assert_int_equal (upf_session_flushes (s, &p.d), 0);
  p.far[1].apply_action = UPF_AA_BUFF | UPF_AA_NOCP;
  /* FAR 2 forwards */
  p.far[0].apply_action = UPF_AA_FORW;
  assert_int_equal (upf_session_flushes (s, &p.d), 1);
  put (c, s, &p);
  assert_int_equal (flush_all (c, s, 600), 4);
  assert_int_equal (fl.n_sent, 3);
  assert_int_equal (fl.sent[0], 1);
  assert_int_equal (fl.sent[1], 3);
  assert_int_equal (fl.sent[2], 4);
  assert_int_equal (fl.n_reports, 0);
  assert_int_equal (upfcore_buffer_count (s), 1);
  assert_int_equal (dl (c, UE2, 700), 0);
  /* the duration from the first packet (101), not from the flush */
  assert_int_equal (upfcore_tick (c, s, 1100, ev, 4), 0);
  assert_int_equal (upfcore_tick (c, s, 1101, ev, 4), 1);
  assert_int_equal (ev[0].type, UPF_EV_BUFFER_EXPIRED);
  assert_int_equal (ev[0].value, 2);
  upfcore_ctx_delete (c);
}

/* The dropped DL counts of URR urr_id: packets, octets. */
static void
dropped_is (upf_session_t *s, uint32_t urr_id, uint64_t pkts, uint64_t bytes)
{
  upf_usage_t u;
  assert_int_equal (upfcore_read_urr (s, urr_id, &u, 0, 0), 0);
  assert_int_equal (u.dropped_dl_pkts, pkts);
  assert_int_equal (u.dropped_dl_bytes, bytes);
}

/* Buffered downlink the UP function discards (the CP's DROBU, the end of the DL Buffering
 * Duration, a packet the buffer has no room for) is dropped DL traffic (TS 29.244 5.2.2.2.1,
 * 8.2.49: what the Dropped DL Traffic Threshold counts) of the URRs of the PDR that buffered
 * it, as a packet the full buffer drops is: those of the program in force when it is dropped
 * (it was counted for no URR while it waited), none when that program lost the PDR. */
static void
test_discard_is_dropped_dl (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  upf_urr_t urr[3] = { { .urr_id = 1 }, { .urr_id = 2 }, { .urr_id = 3 } };
  upf_event_t ev[4];
  uint8_t in[256];
  uint32_t il = mk_inner4 (in, DN, UE, UPF_PROTO_UDP, 1, 2, 10);
  (void)st;
  buf_prog (&p);
  p.pdr[0].urr_id[0] = 1; /* PDR 2: URR 1 */
  p.pdr[1].urr_id[0] = 1; /* PDR 3: URRs 1 and 2 */
  p.pdr[1].urr_id[1] = 2;
  p.d.urr = urr;
  p.d.n_urr = 3;
  upf_session_t *s = upfcore_session_create (c, 9);
  put (c, s, &p);
  dl (c, UE, 100);
  dl (c, UE, 110);
  dl (c, UE2, 120);
  dropped_is (s, 1, 0, 0); /* buffered: not dropped */
  /* PDR 2 now goes to URR 3; the CP discards the buffer (DROBU) */
  p.pdr[0].urr_id[0] = 3;
  put (c, s, &p);
  assert_int_equal (upfcore_buffer_drop (s), 3);
  dropped_is (s, 1, 1, il);
  dropped_is (s, 2, 1, il);
  dropped_is (s, 3, 2, 2 * il);
  /* the DL Buffering Duration ends, PDR 3 removed meanwhile: its packet counts for no URR */
  p.bar.duration_ns = 1000;
  p.bar.duration_grant = 1;
  put (c, s, &p);
  dl (c, UE, 200);
  dl (c, UE2, 210);
  p.d.n_pdr = 1;
  put (c, s, &p);
  assert_int_equal (upfcore_tick (c, s, 1199, ev, 4), 0);
  assert_int_equal (upfcore_tick (c, s, 1200, ev, 4), 1);
  assert_int_equal (ev[0].type, UPF_EV_BUFFER_EXPIRED);
  assert_int_equal (ev[0].value, 2);
  dropped_is (s, 1, 1, il);
  dropped_is (s, 2, 1, il);
  dropped_is (s, 3, 3, 3 * il);
  /* a packet the buffer has no room for */
  while (upf_buffer_store (s, 2, in, il, 300) == 0)
    ;
  dropped_is (s, 3, 4, 4 * il);
  dropped_is (s, 1, 1, il);
  upfcore_ctx_delete (c);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_report_per_pdr_and_qfi),
    cmocka_unit_test (test_report_rearm_per_far),
    cmocka_unit_test (test_report_many_pdrs),
    cmocka_unit_test (test_report_dscp),
    cmocka_unit_test (test_duration_granted_again),
    cmocka_unit_test (test_discard_is_dropped_dl),
    cmocka_unit_test (test_report_rearm_pdr_moved),
    cmocka_unit_test (test_flush_per_far),
    cmocka_unit_test (test_report_rearmed_for_one_pair),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
