/* A URR's Time Quota across the programs that replace one another: a grant undone (the
 * program of the grant before installed again, as pfcpd's rollback of a change the journal
 * refused does) continues the quota before it, and a pause (a program arming no time quota:
 * INAM) holds the quota, which its resumption continues with the time left
 * (upf_session.c: urr_tq_rearm, urr_tq_clock). */
#include "test_util.h"
#include "test_progs.h"

/* One UL packet to the session of mk_prog at now: its verdict's drop reason (0: forwarded). */
static int
ul_at (upf_ctx_t *c, uint64_t now)
{
  uint8_t in[128], pkt[256], out[512];
  upf_verdict_t v;
  uint32_t il = mk_inner4 (in, UE, DN, UPF_PROTO_UDP, 1, 2, 44);
  uint32_t n = mk_gtpu4 (pkt, N3_GNB, N3_UPF, 0x100, -1, in, il);
  upfcore_ul_packet (c, pkt, n, now, &v, out, sizeof (out));
  if (v.verdict == UPF_VERDICT_FORWARD)
    return 0;
  assert_int_equal (v.verdict, UPF_VERDICT_DROP);
  return v.drop_reason;
}

/* The TIMQU events of URR 1 a tick at now raises (the time metered into *value). */
static unsigned
timqu (upf_ctx_t *c, upf_session_t *s, uint64_t now, uint64_t *value)
{
  upf_event_t ev[8];
  unsigned n = upfcore_tick (c, s, now, ev, 8), k = 0;
  for (unsigned i = 0; i < n; i++)
    if (ev[i].type == UPF_EV_TIME_QUOTA)
      {
        assert_int_equal (ev[i].id, 1);
        *value = ev[i].value;
        k++;
      }
  return k;
}

/* mk_prog's session (7) with URR 1 metering a time quota of q ns of grant g, dropping on it
 * (as pfcpd compiles it). */
static void
tq_prog (prog_t *p, uint64_t q, uint32_t g)
{
  mk_prog (p, 0x100, UE, 0, 1, 0, 0);
  p->urr[0] = (upf_urr_t){ .urr_id = 1,
                           .triggers = UPF_URR_T_TIMQU,
                           .flags = UPF_URR_F_DROP_ON_QUOTA,
                           .time_quota_ns = q,
                           .time_quota_grant = g };
}

static void
put (upf_ctx_t *c, upf_session_t *s, prog_t *p)
{
  char err[128];
  if (upfcore_session_install (c, s, &p->d, err, sizeof (err)))
    fail_msg ("install: %s", err);
}

/* A grant undone: the quota before it goes on from its own start (the first packet), not
 * from the undo; the grant of the same count given again later (the CP's next Time Quota,
 * after the undo took the count back) is a new quota; a grant undone after the quota before
 * it was used up leaves it used up (dropped, no second event). */
static void
test_time_quota_grant_undone (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p1, p2;
  uint64_t val = 0;
  upf_session_t *s;
  (void)st;
  tq_prog (&p1, 10000, 0);
  s = install_ok (c, 7, &p1);
  assert_int_equal (ul_at (c, 1000), 0); /* the quota starts */
  assert_int_equal (timqu (c, s, 3000, &val), 0);
  /* a new Time Quota (20000, grant 1), installed, ticked, then undone */
  tq_prog (&p2, 20000, 1);
  put (c, s, &p2);
  assert_int_equal (timqu (c, s, 4000, &val), 0); /* (it starts here) */
  put (c, s, &p1);
  assert_int_equal (timqu (c, s, 10999, &val), 0);
  assert_int_equal (timqu (c, s, 11000, &val), 1); /* 10000 after the first packet */
  assert_int_equal (val, 10000);
  assert_int_equal (ul_at (c, 11001), UPF_DROP_QUOTA);
  assert_int_equal (timqu (c, s, 15000, &val), 0); /* once */
  /* the CP's next grant, the count the undone one had: a new quota from the next tick */
  tq_prog (&p2, 10000, 1);
  put (c, s, &p2);
  assert_int_equal (timqu (c, s, 20000, &val), 0);
  assert_int_equal (ul_at (c, 20001), 0);
  assert_int_equal (timqu (c, s, 29999, &val), 0);
  assert_int_equal (timqu (c, s, 30000, &val), 1);
  assert_int_equal (val, 10000);
  /* used up, a grant (2) undone without a tick between: still used up, no second event */
  tq_prog (&p1, 10000, 2);
  put (c, s, &p1);
  put (c, s, &p2);
  assert_int_equal (ul_at (c, 31000), UPF_DROP_QUOTA);
  assert_int_equal (timqu (c, s, 50000, &val), 0);
  /* and undone after a tick that started it: the same */
  put (c, s, &p1);
  assert_int_equal (timqu (c, s, 51000, &val), 0);
  assert_int_equal (ul_at (c, 51001), 0);
  put (c, s, &p2);
  assert_int_equal (ul_at (c, 51002), UPF_DROP_QUOTA);
  assert_int_equal (timqu (c, s, 90000, &val), 0);
  upfcore_ctx_delete (c);
}

/* A read with reset (a report) between the grant and its undo starts no quota of its own:
 * the quota before goes on from its start. */
static void
test_time_quota_grant_undone_after_read (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p1, p2;
  uint64_t val = 0;
  upf_usage_t u;
  upf_session_t *s;
  (void)st;
  tq_prog (&p1, 10000, 3);
  s = install_ok (c, 7, &p1);
  assert_int_equal (ul_at (c, 1000), 0);
  tq_prog (&p2, 10000, 4);
  put (c, s, &p2);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 1, 5000), 0);
  put (c, s, &p1);
  assert_int_equal (timqu (c, s, 10999, &val), 0);
  assert_int_equal (timqu (c, s, 11000, &val), 1);
  upfcore_ctx_delete (c);
}

/* A pause (a program whose URR arms no time quota, as pfcpd compiles INAM) holds the quota:
 * no event and no quota drop while paused; its resumption (the quota's program again, the
 * same grant) continues it with the time left, from the first tick after it. */
static void
test_time_quota_paused_and_resumed (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p, paused;
  uint64_t val = 0;
  upf_usage_t u;
  upf_session_t *s;
  (void)st;
  tq_prog (&p, 10000, 1);
  s = install_ok (c, 7, &p);
  mk_prog (&paused, 0x100, UE, 0, 1, 0, 0);
  paused.urr[0] = (upf_urr_t){ .urr_id = 1, .flags = UPF_URR_F_DROP_ON_QUOTA };
  assert_int_equal (ul_at (c, 1000), 0);
  assert_int_equal (timqu (c, s, 4000, &val), 0);
  put (c, s, &paused); /* 4000 of the quota used (the next tick times it) */
  assert_int_equal (timqu (c, s, 5000, &val), 0);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 1, 6000), 0);
  assert_int_equal (timqu (c, s, 30000, &val), 0);
  assert_int_equal (ul_at (c, 30001), 0);
  put (c, s, &p); /* resumed: 6000 left from the next tick or read with reset */
  assert_int_equal (upfcore_read_urr (s, 1, &u, 1, 40000), 0); /* (discards the pause's) */
  assert_int_equal (timqu (c, s, 45999, &val), 0);
  assert_int_equal (timqu (c, s, 46000, &val), 1);
  assert_int_equal (val, 10000);
  assert_int_equal (ul_at (c, 46001), UPF_DROP_QUOTA);
  /* used up and paused: forwarded while paused (no quota applies), used up when resumed,
   * without a second event */
  put (c, s, &paused);
  assert_int_equal (ul_at (c, 47000), 0);
  assert_int_equal (timqu (c, s, 48000, &val), 0);
  put (c, s, &p);
  assert_int_equal (ul_at (c, 49000), UPF_DROP_QUOTA);
  assert_int_equal (timqu (c, s, 90000, &val), 0);
  /* a new grant while paused (resumed with it): a new quota, from the next tick */
  put (c, s, &paused);
  tq_prog (&p, 10000, 2);
  put (c, s, &p);
  assert_int_equal (timqu (c, s, 91000, &val), 0);
  assert_int_equal (ul_at (c, 91001), 0);
  assert_int_equal (timqu (c, s, 100999, &val), 0);
  assert_int_equal (timqu (c, s, 101000, &val), 1);
  upfcore_ctx_delete (c);
}

/* A pause undone before any tick (the pause's program, then the quota's again) loses none
 * of the quota's time; a quota paused before its metering started (no packet yet) is whole
 * when resumed. */
static void
test_time_quota_pause_without_tick (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p, paused;
  uint64_t val = 0;
  upf_session_t *s;
  (void)st;
  tq_prog (&p, 10000, 1);
  s = install_ok (c, 7, &p);
  mk_prog (&paused, 0x100, UE, 0, 1, 0, 0);
  paused.urr[0] = (upf_urr_t){ .urr_id = 1, .flags = UPF_URR_F_DROP_ON_QUOTA };
  put (c, s, &paused);
  assert_int_equal (timqu (c, s, 500, &val), 0);
  put (c, s, &p);
  assert_int_equal (timqu (c, s, 800, &val), 0); /* whole: from here */
  assert_int_equal (ul_at (c, 1000), 0);
  assert_int_equal (timqu (c, s, 10799, &val), 0);
  put (c, s, &paused);
  put (c, s, &p);
  assert_int_equal (timqu (c, s, 10800, &val), 1);
  assert_int_equal (val, 10000);
  upfcore_ctx_delete (c);
}

/* A URR removed by a program and back in a later one is a new URR: its quota is new, the
 * same grant included. */
static void
test_time_quota_urr_back_is_new (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p, without;
  uint64_t val = 0;
  upf_session_t *s;
  (void)st;
  tq_prog (&p, 10000, 0);
  s = install_ok (c, 7, &p);
  assert_int_equal (ul_at (c, 1000), 0);
  assert_int_equal (timqu (c, s, 11000, &val), 1);
  mk_prog (&without, 0x100, UE, 0, 0, 0, 0);
  put (c, s, &without);
  put (c, s, &p);
  assert_int_equal (ul_at (c, 12000), 0);
  assert_int_equal (timqu (c, s, 12500, &val), 0);
  assert_int_equal (timqu (c, s, 22499, &val), 0);
  assert_int_equal (timqu (c, s, 22500, &val), 1);
  upfcore_ctx_delete (c);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_time_quota_grant_undone),
    cmocka_unit_test (test_time_quota_grant_undone_after_read),
    cmocka_unit_test (test_time_quota_paused_and_resumed),
    cmocka_unit_test (test_time_quota_pause_without_tick),
    cmocka_unit_test (test_time_quota_urr_back_is_new),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
