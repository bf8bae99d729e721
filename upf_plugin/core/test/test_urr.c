/* URR volume thresholds and quotas against a reference that compares every limit with every
 * packet: the datapath's byte budget (upf_urr_account) must give the same events with the
 * same packets, through program replacements (new limits) and counter resets. */
#include "test_util.h"
#include "test_progs.h"

typedef struct
{
  uint64_t vol[3]; /* UPF_VOL_TOTAL, UL, DL */
  /* qu_raised: the quota's event raised since the last reset */
  int th_reported, qu_exhausted, qu_raised;
} ref_t;

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

/* 0 (unset) or a limit that packets of up to ~1.4 KB reach within the run */
static uint64_t
rnd_limit (void)
{
  return upf_test_rand (&rng) % 3 ? 0 : 1 + upf_test_rand (&rng) % 40000;
}

static void
rnd_limits (upf_urr_t *u)
{
  u->triggers = (uint16_t)(upf_test_rand (&rng) % 4); /* VOLTH, VOLQU, both, none */
  u->flags = upf_test_rand (&rng) % 2 ? UPF_URR_F_DROP_ON_QUOTA : 0;
  for (unsigned k = 0; k < 3; k++)
    {
      u->vol_threshold[k] = rnd_limit ();
      u->vol_quota[k] = rnd_limit ();
    }
}

static int
ref_quota_armed (const upf_urr_t *u)
{
  return (u->triggers & UPF_URR_T_VOLQU) && (u->vol_quota[0] || u->vol_quota[1] || u->vol_quota[2]);
}

/* The rules of upf_session_install for a URR whose program gives it new limits (old: its
 * limits before): new thresholds re-arm; armed quotas are used up (no event) when the counts
 * reach one and the quota's event was raised since the last reset, else re-armed; with none
 * armed, the mark stays. */
static void
ref_install (ref_t *r, const upf_urr_t *old, const upf_urr_t *u)
{
  int reached = 0;
  if (memcmp (old->vol_threshold, u->vol_threshold, sizeof (old->vol_threshold)))
    r->th_reported = 0;
  for (unsigned k = 0; k < 3; k++)
    if (u->vol_quota[k] && r->vol[k] >= u->vol_quota[k])
      reached = 1;
  if (ref_quota_armed (u))
    r->qu_exhausted = reached && r->qu_raised;
}

/* The rules of upf_urr_account, packet by packet: 1 = forwarded; events into ev/val. */
static int
ref_packet (ref_t *r, const upf_urr_t *u, unsigned vd, uint32_t len, int *ev, uint64_t *val,
            unsigned *n_ev)
{
  unsigned k;
  *n_ev = 0;
  if (r->qu_exhausted && (u->flags & UPF_URR_F_DROP_ON_QUOTA) && ref_quota_armed (u))
    return 0;
  r->vol[UPF_VOL_TOTAL] += len;
  r->vol[vd] += len;
  if ((u->triggers & UPF_URR_T_VOLTH) && !r->th_reported)
    for (k = 0; k < 3; k++)
      if (u->vol_threshold[k] && r->vol[k] >= u->vol_threshold[k])
        {
          ev[*n_ev] = UPF_EV_USAGE_THRESHOLD;
          val[(*n_ev)++] = k;
          r->th_reported = 1;
          break;
        }
  if ((u->triggers & UPF_URR_T_VOLQU) && !r->qu_exhausted)
    for (k = 0; k < 3; k++)
      if (u->vol_quota[k] && r->vol[k] >= u->vol_quota[k])
        {
          ev[*n_ev] = UPF_EV_USAGE_QUOTA;
          val[(*n_ev)++] = k;
          r->qu_exhausted = r->qu_raised = 1;
          break;
        }
  return 1;
}

static void
test_urr_budget_matches_reference (void **st)
{
  (void)st;
  for (unsigned round = 0; round < 300; round++)
    {
      upf_ctx_t *c = upfcore_ctx_new (16);
      prog_t p;
      ref_t ref;
      char err[128];
      mk_prog (&p, 0x100, UE, 0, 1, 0, 0);
      rnd_limits (&p.urr[0]);
      upf_session_t *s = install_ok (c, 7, &p);
      memset (&ref, 0, sizeof (ref));
      for (unsigned i = 0; i < 300; i++)
        {
          uint8_t in[1600], pkt[1700], out[1800];
          upf_verdict_t v;
          int ev[2];
          uint64_t val[2];
          unsigned n_ev, dl = upf_test_rand (&rng) % 2, x = upf_test_rand (&rng) % 100;
          uint32_t il, n;
          int fwd;
          if (x < 2)
            {
              /* new limits: changed thresholds / quotas re-arm (upf_session_install) */
              upf_urr_t old = p.urr[0];
              rnd_limits (&p.urr[0]);
              assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
              ref_install (&ref, &old, &p.urr[0]);
            }
          else if (x < 3)
            {
              /* a new measurement period: counters and the threshold re-armed */
              upf_usage_t u;
              assert_int_equal (upfcore_read_urr (s, 1, &u, 1, 1), 0);
              assert_int_equal (u.bytes[UPF_VOL_TOTAL], ref.vol[UPF_VOL_TOTAL]);
              assert_int_equal (u.bytes[UPF_VOL_UL], ref.vol[UPF_VOL_UL]);
              assert_int_equal (u.bytes[UPF_VOL_DL], ref.vol[UPF_VOL_DL]);
              memset (ref.vol, 0, sizeof (ref.vol));
              ref.th_reported = ref.qu_raised = 0;
            }
          il = mk_inner4 (in, dl ? DN : UE, dl ? UE : DN, UPF_PROTO_UDP, 1, 2,
                          upf_test_rand (&rng) % 1400);
          if (dl)
            upfcore_dl_packet (c, 0, in, il, 1000 + i, &v, out, sizeof (out));
          else
            {
              n = mk_gtpu4 (pkt, N3_GNB, N3_UPF, 0x100, -1, in, il);
              upfcore_ul_packet (c, pkt, n, 1000 + i, &v, out, sizeof (out));
            }
          fwd = ref_packet (&ref, &p.urr[0], dl ? UPF_VOL_DL : UPF_VOL_UL, il, ev, val, &n_ev);
          if (fwd)
            assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
          else
            assert_int_equal (v.drop_reason, UPF_DROP_QUOTA);
          assert_int_equal (v.n_events, n_ev);
          for (unsigned e = 0; e < n_ev; e++)
            {
              assert_int_equal (v.events[e].type, ev[e]);
              assert_int_equal (v.events[e].value, val[e]);
              assert_int_equal (v.events[e].id, 1);
            }
        }
      upfcore_ctx_delete (c);
    }
}

/* One UL packet of an inner length of 28 + payload octets to the session of mk_prog. */
static void
send_ul (upf_ctx_t *c, uint32_t payload, upf_verdict_t *v)
{
  uint8_t in[1600], pkt[1700], out[1800];
  uint32_t il = mk_inner4 (in, UE, DN, UPF_PROTO_UDP, 1, 2, payload);
  uint32_t n = mk_gtpu4 (pkt, N3_GNB, N3_UPF, 0x100, -1, in, il);
  upfcore_ul_packet (c, pkt, n, 1000, v, out, sizeof (out));
}

/* A packet a used-up quota drops is counted by no URR of its PDR: neither by the URRs
 * before the one whose quota is used up (nor do their thresholds see it), nor after. */
static void
test_urr_quota_drop_counted_by_none (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  upf_verdict_t v;
  upf_usage_t u;
  upf_session_t *s;
  (void)st;
  /* the PDRs count in URR 1 (a threshold the dropped packets would reach), then URR 2 (a
   * quota of two packets of 100 octets), then URR 3 (counts only) */
  mk_prog (&p, 0x100, UE, 0, 3, 0, 300);
  p.urr[1] = (upf_urr_t){
    .urr_id = 2, .triggers = UPF_URR_T_VOLQU, .flags = UPF_URR_F_DROP_ON_QUOTA, .vol_quota = { 200 }
  };
  p.urr[2] = (upf_urr_t){ .urr_id = 3 };
  s = install_ok (c, 7, &p);
  send_ul (c, 72, &v);
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (v.n_events, 0);
  send_ul (c, 72, &v); /* reaches the quota */
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (v.n_events, 1);
  assert_int_equal (v.events[0].type, UPF_EV_USAGE_QUOTA);
  assert_int_equal (v.events[0].id, 2);
  for (unsigned i = 0; i < 3; i++)
    {
      send_ul (c, 72, &v);
      assert_int_equal (v.drop_reason, UPF_DROP_QUOTA);
      assert_int_equal (v.n_events, 0); /* (URR 1's threshold, 300, not reached) */
    }
  for (uint32_t id = 1; id <= 3; id++)
    {
      assert_int_equal (upfcore_read_urr (s, id, &u, 0, 0), 0);
      assert_int_equal (u.bytes[UPF_VOL_TOTAL], 200);
      assert_int_equal (u.pkts[UPF_VOL_TOTAL], 2);
      assert_false (u.flags & UPF_URRS_THRESHOLD_REPORTED);
    }
  upfcore_ctx_delete (c);
}

/* Measurement before QoS enforcement (UPF_URR_F_BEFORE_QOS, MBQE): a packet its PDR's QER
 * drops (the gate closed, then the MBR exceeded) is counted by the URR that measures before
 * QoS enforcement, whose threshold it reaches, and by no other; a forwarded one by both. */
static void
test_urr_before_qos_counts_what_the_qer_drops (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  upf_verdict_t v;
  upf_usage_t u;
  upf_session_t *s;
  char err[128];
  (void)st;
  mk_prog (&p, 0x100, UE, 1, 2, 0, 250); /* URR 1 (before QoS) and URR 2: threshold 250 */
  p.urr[0].flags = UPF_URR_F_BEFORE_QOS;
  s = install_ok (c, 7, &p);
  send_ul (c, 72, &v); /* 100 octets forwarded: both count */
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  p.qer[0].gate_ul = UPF_GATE_CLOSED;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  for (unsigned i = 0; i < 2; i++)
    {
      send_ul (c, 72, &v);
      assert_int_equal (v.drop_reason, UPF_DROP_GATE_CLOSED);
    }
  /* the second drop took URR 1 to 300 octets: its threshold's event, with the drop */
  assert_int_equal (v.n_events, 1);
  assert_int_equal (v.events[0].type, UPF_EV_USAGE_THRESHOLD);
  assert_int_equal (v.events[0].id, 1);
  p.qer[0].gate_ul = UPF_GATE_OPEN;
  p.qer[0].mbr_ul_bps = 8000; /* a bucket of 150 octets, the clock still: one passes */
  p.qer[0].burst_bytes = 150;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  for (unsigned i = 0; i < 4; i++)
    {
      send_ul (c, 72, &v);
      assert_int_equal (v.verdict, i ? UPF_VERDICT_DROP : UPF_VERDICT_FORWARD);
      if (i)
        assert_int_equal (v.drop_reason, UPF_DROP_MBR);
    }
  assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
  assert_int_equal (u.pkts[UPF_VOL_UL], 7);
  assert_int_equal (u.bytes[UPF_VOL_UL], 700);
  assert_int_equal (upfcore_read_urr (s, 2, &u, 0, 0), 0);
  assert_int_equal (u.pkts[UPF_VOL_UL], 2);
  assert_int_equal (u.bytes[UPF_VOL_UL], 200);
  upfcore_ctx_delete (c);
}

/* A UL packet of 100 octets forwarded, with n_events events (a quota's, if one). */
static void
ul_forwarded (upf_ctx_t *c, unsigned n_events)
{
  upf_verdict_t v;
  send_ul (c, 72, &v);
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (v.n_events, n_events);
  if (n_events)
    assert_int_equal (v.events[0].type, UPF_EV_USAGE_QUOTA);
}

/* A UL packet of 100 octets dropped for a used-up quota, without an event. */
static void
ul_quota_dropped (upf_ctx_t *c)
{
  upf_verdict_t v;
  send_ul (c, 72, &v);
  assert_int_equal (v.drop_reason, UPF_DROP_QUOTA);
  assert_int_equal (v.n_events, 0);
}

/* Install for session 7 the program of mk_prog whose URR 1 has a volume quota of 150
 * octets and drops on it (as pfcpd compiles a quota). */
static upf_session_t *
install_quota_prog (upf_ctx_t *c, prog_t *p)
{
  mk_prog (p, 0x100, UE, 0, 1, 0, 0);
  p->urr[0] = (upf_urr_t){
    .urr_id = 1, .triggers = UPF_URR_T_VOLQU, .flags = UPF_URR_F_DROP_ON_QUOTA, .vol_quota = { 150 }
  };
  return install_ok (c, 7, p);
}

/* Install p with a total volume quota of q for its URR. */
static void
install_quota (upf_ctx_t *c, upf_session_t *s, prog_t *p, uint64_t q)
{
  char err[128];
  p->urr[0].vol_quota[UPF_VOL_TOTAL] = q;
  assert_int_equal (upfcore_session_install (c, s, &p->d, err, sizeof (err)), 0);
}

/* A volume quota used up stays used up (its URR's traffic dropped, no second event) through
 * a program arming no quota (a pause, INAM) and back to the quota (the pause rolled back),
 * through another quota the counts reach, and through a new one and back (a grant rolled
 * back); a new quota they do not reach re-arms it, the same value too once the counts were
 * reset (a grant after a Query URR's read); a quota the counts passed under another program,
 * its event never raised, raises it with the next packet. */
static void
test_urr_used_up_quota_stays_used_up (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p, paused;
  upf_session_t *s;
  char err[128];
  (void)st;
  s = install_quota_prog (c, &p);
  ul_forwarded (c, 0);
  ul_forwarded (c, 1); /* 200: used up */
  ul_quota_dropped (c);
  /* paused: no quota applies (the URR still drops on a quota, as pfcpd compiles it) */
  mk_prog (&paused, 0x100, UE, 0, 1, 0, 0);
  paused.urr[0] = (upf_urr_t){ .urr_id = 1, .flags = UPF_URR_F_DROP_ON_QUOTA };
  assert_int_equal (upfcore_session_install (c, s, &paused.d, err, sizeof (err)), 0);
  ul_forwarded (c, 0); /* 300 */
  /* rolled back: the same quota, used up */
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  ul_quota_dropped (c);
  /* another quota the counts reach: the same exhaustion */
  install_quota (c, s, &p, 250);
  ul_quota_dropped (c);
  /* a new quota they do not reach: forwarded up to it, used up again with its event */
  install_quota (c, s, &p, 450);
  ul_forwarded (c, 0); /* 400 */
  ul_forwarded (c, 1); /* 500 */
  ul_quota_dropped (c);
  /* the same value again after the counts' reset (a Query URR's read): a new quota */
  {
    upf_usage_t u;
    assert_int_equal (upfcore_read_urr (s, 1, &u, 1, 1), 0);
    assert_true (u.flags & UPF_URRS_QUOTA_EXHAUSTED); /* (a reset alone keeps the mark) */
  }
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  for (unsigned i = 0; i < 4; i++)
    ul_forwarded (c, 0); /* 100 .. 400 */
  /* a quota of 350 put back (a grant of 1000 rolled back), which the counts passed under
   * the 1000 without its event: the next packet raises it (forwarded: the counts are read
   * with the event, the quota then used up) */
  install_quota (c, s, &p, 1000);
  install_quota (c, s, &p, 350);
  ul_forwarded (c, 1); /* 500 */
  ul_quota_dropped (c);
  /* a grant of 1000 rolled back now (the event raised): the 350 put back drops at once */
  install_quota (c, s, &p, 1000);
  install_quota (c, s, &p, 350);
  ul_quota_dropped (c);
  /* a time quota granted is not a new volume quota */
  p.urr[0].triggers |= UPF_URR_T_TIMQU;
  p.urr[0].time_quota_ns = 1000000000000ULL;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  ul_quota_dropped (c);
  upfcore_ctx_delete (c);
}

/* A URR removed with its quota used up (its counts read at the removal) and created again
 * with a new quota: the state it comes back to (kept since) is armed as a new URR's. */
static void
test_urr_recreated_has_a_new_quota (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p, none;
  upf_session_t *s;
  upf_usage_t u;
  char err[128];
  (void)st;
  s = install_quota_prog (c, &p);
  ul_forwarded (c, 0);
  ul_forwarded (c, 1);                                     /* 200: used up */
  assert_int_equal (upfcore_read_urr (s, 1, &u, 1, 1), 0); /* the removal's final read */
  mk_prog (&none, 0x100, UE, 0, 0, 0, 0);
  assert_int_equal (upfcore_session_install (c, s, &none.d, err, sizeof (err)), 0);
  install_quota (c, s, &p, 1000); /* created again */
  ul_forwarded (c, 0);
  upfcore_ctx_delete (c);
}

/* Which installs hold the packet threads (upf_session_rearms): those whose re-arm of a
 * kept URR a packet of the program in force could undo or change (new volume or time
 * thresholds, a new volume quota, the same quota in a state a packet changes the re-arm
 * of), in a program of two URRs either one's; not those that leave the marks as they are
 * whatever such a packet does, nor one arming no volume quota where the old program armed
 * one, nor a time quota's change (a mark only the control plane sets), nor a new URR or one
 * that comes back. */
static void
test_urr_rearms_holding_packets (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p, two;
  upf_session_t *s;
  upf_usage_t u;
  char err[128];
  (void)st;
  s = install_quota_prog (c, &p);
#define REARMS() upf_session_rearms (s, p.d.urr, p.d.n_urr)
  assert_int_equal (REARMS (), 0); /* the same quota, neither used up nor raised */
  p.urr[0].vol_quota[UPF_VOL_TOTAL] = 450;
  assert_int_equal (REARMS (), 1); /* a new quota */
  p.urr[0].vol_quota[UPF_VOL_TOTAL] = 150;
  p.urr[0].time_quota_ns = 5000000000ULL;
  p.urr[0].triggers |= UPF_URR_T_TIMQU;
  assert_int_equal (REARMS (), 0); /* a time quota alone */
  p.urr[0].vol_threshold[UPF_VOL_TOTAL] = 1000;
  p.urr[0].triggers |= UPF_URR_T_VOLTH;
  assert_int_equal (REARMS (), 1); /* new thresholds */
  install_quota (c, s, &p, 150);
  assert_int_equal (REARMS (), 0);
  ul_forwarded (c, 0);
  ul_forwarded (c, 1);             /* 200 of 150: used up */
  assert_int_equal (REARMS (), 0); /* used up and raised, the counts reaching it: stays */
  install_quota (c, s, &p, 150);
  ul_quota_dropped (c);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 1, 1), 0);
  assert_int_equal (REARMS (), 1); /* used up, the counts reset: the re-arm clears it */
  /* the new program arms no quota (the old one did): the re-arm leaves the quota's marks */
  p.urr[0].triggers &= (uint16_t)~UPF_URR_T_VOLQU;
  assert_int_equal (REARMS (), 0);
  p.urr[0].triggers |= UPF_URR_T_VOLQU;
  p.urr[0].vol_quota[UPF_VOL_TOTAL] = 0;
  assert_int_equal (REARMS (), 0);
  p.urr[0].vol_quota[UPF_VOL_TOTAL] = 150;
  assert_int_equal (REARMS (), 1);
  install_quota (c, s, &p, 150);
  assert_int_equal (REARMS (), 0); /* neither, again */
  p.urr[0].time_threshold_ns = 2000000000ULL;
  p.urr[0].triggers |= UPF_URR_T_TIMTH;
  assert_int_equal (REARMS (), 1); /* a new time threshold alone: the thresholds' mark */
  p.urr[0].time_threshold_ns = 0;
  p.urr[0].triggers &= (uint16_t)~UPF_URR_T_TIMTH;
  assert_int_equal (REARMS (), 0);
  ul_forwarded (c, 0);
  ul_forwarded (c, 1);
  install_quota (c, s, &p, 450);
  /* raised, re-armed for a later quota: the next packets decide what the re-arm does */
  assert_int_equal (REARMS (), 1);
  /* a second URR, new: its state is new, no packet sees it before the install */
  mk_prog (&two, 0x100, UE, 0, 2, 0, 0);
  two.urr[0] = p.urr[0];
  two.urr[1] = (upf_urr_t){ .urr_id = 2, .triggers = UPF_URR_T_VOLQU, .vol_quota = { 10 } };
  assert_int_equal (upf_session_rearms (s, &two.urr[1], 1), 0);
  /* URR 1 ended, then back with another quota: no packet of the program in force counts
   * into its state */
  mk_prog (&two, 0x100, UE, 0, 0, 0, 0);
  assert_int_equal (upfcore_session_install (c, s, &two.d, err, sizeof (err)), 0);
  p.urr[0].vol_quota[UPF_VOL_TOTAL] = 1000;
  assert_int_equal (REARMS (), 0);
#undef REARMS
  upfcore_ctx_delete (c);
  /* two URRs in one program: either one's re-arm holds them */
  c = upfcore_ctx_new (16);
  mk_prog (&two, 0x100, UE, 0, 2, 0, 1000);
  two.urr[0] = (upf_urr_t){
    .urr_id = 1, .triggers = UPF_URR_T_VOLQU, .flags = UPF_URR_F_DROP_ON_QUOTA, .vol_quota = { 150 }
  };
  s = install_ok (c, 7, &two);
#define REARMS() upf_session_rearms (s, two.d.urr, two.d.n_urr)
  assert_int_equal (REARMS (), 0);
  two.urr[1].vol_threshold[UPF_VOL_TOTAL] = 2000;
  assert_int_equal (REARMS (), 1); /* the second one's new threshold */
  two.urr[1].vol_threshold[UPF_VOL_TOTAL] = 1000;
  two.urr[0].vol_quota[UPF_VOL_TOTAL] = 450;
  assert_int_equal (REARMS (), 1); /* the first one's new quota */
  two.urr[0].vol_quota[UPF_VOL_TOTAL] = 150;
  assert_int_equal (REARMS (), 0);
#undef REARMS
  upfcore_ctx_delete (c);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_urr_budget_matches_reference),
    cmocka_unit_test (test_urr_quota_drop_counted_by_none),
    cmocka_unit_test (test_urr_before_qos_counts_what_the_qer_drops),
    cmocka_unit_test (test_urr_used_up_quota_stays_used_up),
    cmocka_unit_test (test_urr_recreated_has_a_new_quota),
    cmocka_unit_test (test_urr_rearms_holding_packets),
  };
  return cmocka_run_group_tests (tests, 0, 0);
}
