/*
 * Writer-side robustness: install / replace / delete stay all-or-nothing when any allocation
 * fails (upf_mem_fail_at makes each one fail in turn; run under ASan in make test-core, which
 * also catches use-after-free, double free and leaks), and usage events are never lost when
 * the caller's event buffer or a verdict is full.
 */
#include "test_util.h"
#include "test_progs.h"
#include "upf_mem.h"

/* UL packet of 128 inner bytes on teid: its verdict. */
static upf_verdict_t
ul_from (upf_ctx_t *c, uint32_t teid, uint32_t ue)
{
  uint8_t in[256], pkt[512], out[512];
  upf_verdict_t v;
  uint32_t il = mk_inner4 (in, ue, DN, UPF_PROTO_UDP, 1000, 2000, 100);
  uint32_t n = mk_gtpu4 (pkt, N3_GNB, N3_UPF, teid, 9, in, il);
  upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out));
  return v;
}

static upf_verdict_t
ul (upf_ctx_t *c, uint32_t teid)
{
  return ul_from (c, teid, UE);
}

static upf_verdict_t
dl (upf_ctx_t *c, uint32_t ue)
{
  uint8_t in[256], out[512];
  upf_verdict_t v;
  uint32_t il = mk_inner4 (in, DN, ue, UPF_PROTO_UDP, 2000, 1000, 100);
  upfcore_dl_packet (c, 0, in, il, 1000, &v, out, sizeof (out));
  return v;
}

/* Run op with allocation n failing; returns 1 if that failure happened. */
#define WITH_FAILURE_AT(n, op)                                                                     \
  ({                                                                                               \
    upf_mem_fail_at (n);                                                                           \
    op;                                                                                            \
    int _hit = !upf_mem_fail_pending ();                                                           \
    upf_mem_fail_at (-1);                                                                          \
    _hit;                                                                                          \
  })

/* A first install into a table that has to grow (32 sessions fill 64 slots to 1/2). */
static void
test_install_all_or_nothing (void **st)
{
  (void)st;
  for (long n = 0;; n++)
    {
      upf_ctx_t *c = upfcore_ctx_new (16);
      prog_t p;
      char err[128];
      int rv = 0;
      upf_usage_t u;
      assert_non_null (c);
      for (uint32_t i = 0; i < 32; i++)
        {
          mk_prog (&p, 0x1000 + i, UE + 1 + i, 1, 1, 0, 0);
          install_ok (c, 0x1000 + i, &p);
        }
      upf_session_t *s = upfcore_session_create (c, 7);
      assert_non_null (s);
      mk_prog (&p, 0x100, UE, 2, 2, 1, 0);
      int hit = WITH_FAILURE_AT (n, rv = upfcore_session_install (c, s, &p.d, err, sizeof (err)));
      if (!hit)
        {
          /* every allocation of the install has failed once: done */
          assert_int_equal (rv, 0);
          assert_true (n > 5);
          upfcore_ctx_delete (c);
          break;
        }
      assert_int_equal (rv, -ENOMEM);
      /* nothing of it is visible: no keys, no state */
      assert_int_equal (ul (c, 0x100).drop_reason, UPF_DROP_NO_SESSION);
      assert_int_equal (dl (c, UE).drop_reason, UPF_DROP_NO_SESSION);
      assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), -ENOENT);
      assert_int_equal (upfcore_buffer_count (s), 0);
      /* the other sessions are untouched */
      assert_int_equal (ul_from (c, 0x1000, UE + 1).verdict, UPF_VERDICT_FORWARD);
      assert_int_equal (dl (c, UE + 32).verdict, UPF_VERDICT_FORWARD);
      /* and the same install succeeds afterwards */
      assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
      assert_int_equal (ul (c, 0x100).verdict, UPF_VERDICT_FORWARD);
      assert_int_equal (dl (c, UE).verdict, UPF_VERDICT_BUFFER);
      upfcore_ctx_delete (c);
    }
}

/* Replacing a program: new F-TEID (key added and removed), new QER, new URR, a changed
 * threshold (which re-arms the reported one) and a FAR that now buffers (new buffer). */
static void
test_replace_all_or_nothing (void **st)
{
  (void)st;
  for (long n = 0;; n++)
    {
      upf_ctx_t *c = upfcore_ctx_new (16);
      prog_t a, b;
      char err[128];
      int rv = 0;
      upf_usage_t u;
      upf_verdict_t v;
      assert_non_null (c);
      mk_prog (&a, 0x100, UE, 1, 1, 0, 100);
      upf_session_t *s = install_ok (c, 7, &a);
      v = ul (c, 0x100); /* 128 bytes >= threshold 100: reported */
      assert_int_equal (v.n_events, 1);
      assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
      assert_true (u.flags & UPF_URRS_THRESHOLD_REPORTED);
      mk_prog (&b, 0x101, UE, 2, 2, 1, 1000);
      int hit = WITH_FAILURE_AT (n, rv = upfcore_session_install (c, s, &b.d, err, sizeof (err)));
      if (!hit)
        {
          assert_int_equal (rv, 0);
          assert_true (n > 3);
          assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
          assert_false (u.flags & UPF_URRS_THRESHOLD_REPORTED); /* re-armed */
          assert_int_equal (ul (c, 0x100).drop_reason, UPF_DROP_NO_SESSION);
          assert_int_equal (ul (c, 0x101).verdict, UPF_VERDICT_FORWARD);
          assert_int_equal (dl (c, UE).verdict, UPF_VERDICT_BUFFER);
          upfcore_ctx_delete (c);
          break;
        }
      assert_int_equal (rv, -ENOMEM);
      /* the old program still runs, its URR state as it was */
      assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
      assert_true (u.flags & UPF_URRS_THRESHOLD_REPORTED);
      assert_int_equal (u.pkts[UPF_VOL_TOTAL], 1);
      assert_int_equal (upfcore_read_urr (s, 2, &u, 0, 0), -ENOENT);
      assert_int_equal (ul (c, 0x101).drop_reason, UPF_DROP_NO_SESSION);
      v = ul (c, 0x100);
      assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
      assert_int_equal (v.n_events, 0); /* still reported: no second threshold event */
      assert_int_equal (dl (c, UE).verdict, UPF_VERDICT_FORWARD);
      assert_int_equal (upfcore_buffer_count (s), 0);
      upfcore_reclaim (c);
      upfcore_ctx_delete (c);
    }
}

/* A refused install (F-TEID of another session) changes nothing of the session's state. */
static void
test_refused_install_keeps_urr_state (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t a, b, other;
  char err[128];
  upf_usage_t u;
  (void)st;
  mk_prog (&a, 0x100, UE, 1, 1, 0, 100);
  upf_session_t *s = install_ok (c, 7, &a);
  mk_prog (&other, 0x300, UE + 1, 1, 1, 0, 0);
  install_ok (c, 8, &other);
  ul (c, 0x100);
  mk_prog (&b, 0x300, UE, 1, 3, 0, 1000); /* new threshold, new URRs, taken F-TEID */
  assert_int_equal (upfcore_session_install (c, s, &b.d, err, sizeof (err)), -EEXIST);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
  assert_true (u.flags & UPF_URRS_THRESHOLD_REPORTED);
  assert_int_equal (upfcore_read_urr (s, 2, &u, 0, 0), -ENOENT);
  assert_int_equal (ul (c, 0x100).n_events, 0);
  upfcore_ctx_delete (c);
}

/* Delete allocates nothing, so it cannot fail; reclaim frees everything (ASan: no leak, no
 * use after free by a packet processed after the delete). */
static void
test_delete_allocates_nothing (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t a;
  (void)st;
  mk_prog (&a, 0x100, UE, 2, 2, 1, 0);
  upf_session_t *s = install_ok (c, 7, &a);
  assert_int_equal (dl (c, UE).verdict, UPF_VERDICT_BUFFER);
  int hit = WITH_FAILURE_AT (0, upfcore_session_delete (c, s));
  assert_false (hit);
  assert_int_equal (ul (c, 0x100).drop_reason, UPF_DROP_NO_SESSION);
  assert_true (upfcore_reclaim (c) >= 4); /* program, session, two entries */
  upfcore_ctx_delete (c);
}

/* NULL sessions are refused, not dereferenced. */
static void
test_null_session (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t a;
  char err[128];
  upf_usage_t u;
  upf_event_t ev[4];
  (void)st;
  mk_prog (&a, 0x100, UE, 1, 1, 0, 0);
  assert_int_equal (upfcore_session_install (c, 0, &a.d, err, sizeof (err)), -EINVAL);
  assert_int_equal (upfcore_read_urr (0, 1, &u, 0, 0), -EINVAL);
  assert_int_equal (upfcore_tick (c, 0, 1, ev, 4), 0);
  assert_int_equal (upfcore_buffer_count (0), 0);
  assert_int_equal (upfcore_buffer_drop (0), 0);
  upfcore_session_delete (c, 0);
  upfcore_ctx_delete (c);
}

/* Time thresholds of two URRs cross together; the caller takes one event per call. */
static void
test_tick_events_not_lost (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t a;
  upf_event_t ev[4];
  unsigned seen = 0;
  (void)st;
  mk_prog (&a, 0x100, UE, 0, 2, 1, 0);
  for (unsigned i = 0; i < 2; i++)
    a.urr[i] = (upf_urr_t){ .urr_id = i + 1,
                            .triggers = UPF_URR_T_TIMTH | UPF_URR_T_TIMQU,
                            .time_threshold_ns = 1000,
                            .time_quota_ns = 2000 };
  a.bar.duration_ns = 500;
  upf_session_t *s = install_ok (c, 7, &a);
  ul (c, 0x100);                                             /* first packet at 1000 */
  assert_int_equal (dl (c, UE).verdict, UPF_VERDICT_BUFFER); /* buffered at 1000 */
  for (int k = 0; k < 5; k++)
    {
      unsigned n = upfcore_tick (c, s, 10000, ev, 1);
      assert_int_equal (n, 1);
      seen |= 1u << (ev[0].type * 2 + ev[0].id - 1);
    }
  assert_int_equal (upfcore_tick (c, s, 10000, ev, 1), 0);
  /* both URRs' time threshold and quota, and the buffer expiry: each exactly once */
  assert_int_equal (seen, (1u << (UPF_EV_TIME_THRESHOLD * 2))
                            | (1u << (UPF_EV_TIME_THRESHOLD * 2 + 1))
                            | (1u << (UPF_EV_TIME_QUOTA * 2)) | (1u << (UPF_EV_TIME_QUOTA * 2 + 1))
                            | (1u << (UPF_EV_BUFFER_EXPIRED * 2)));
  upfcore_ctx_delete (c);
}

/* One packet crosses the threshold and the quota of four URRs: 8 events, the verdict holds
 * UPF_MAX_EVENTS; the rest come with the next packet. */
static void
test_packet_events_not_lost (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t a;
  unsigned seen[UPF_EV_USAGE_QUOTA + 1][5], total = 0;
  (void)st;
  memset (seen, 0, sizeof (seen));
  mk_prog (&a, 0x100, UE, 0, 4, 0, 0);
  for (unsigned i = 0; i < 4; i++)
    a.urr[i] = (upf_urr_t){ .urr_id = i + 1,
                            .triggers = UPF_URR_T_VOLTH | UPF_URR_T_VOLQU,
                            .vol_threshold = { 10 },
                            .vol_quota = { 20 } };
  install_ok (c, 7, &a);
  for (int k = 0; k < 3; k++)
    {
      upf_verdict_t v = ul (c, 0x100);
      assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
      assert_true (v.n_events <= UPF_MAX_EVENTS);
      for (unsigned e = 0; e < v.n_events; e++)
        {
          assert_true (v.events[e].type == UPF_EV_USAGE_THRESHOLD
                       || v.events[e].type == UPF_EV_USAGE_QUOTA);
          seen[v.events[e].type][v.events[e].id]++;
          total++;
        }
    }
  assert_int_equal (total, 8);
  for (unsigned id = 1; id <= 4; id++)
    {
      assert_int_equal (seen[UPF_EV_USAGE_THRESHOLD][id], 1);
      assert_int_equal (seen[UPF_EV_USAGE_QUOTA][id], 1);
    }
  upfcore_ctx_delete (c);
}

/* Sessions with the same classifiers and filters share one rule set; the last one frees it. */
static void
test_rulesets_shared (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t a;
  upf_session_t *s[4];
  upf_sdf_t f = { .proto = UPF_PROTO_TCP, .flags = UPF_SDF_PROTO };
  (void)st;
  for (uint32_t i = 0; i < 4; i++)
    {
      mk_prog (&a, 0x100 + i, UE + i, 1, 1, 0, 0);
      if (i == 3)
        {
          a.d.sdf = &f;
          a.d.n_sdf = 1;
          a.pdr[0].sdf_count = 1;
        }
      s[i] = install_ok (c, 7 + i, &a);
    }
  const upf_program_t *p0 = s[0]->prog, *p1 = s[1]->prog, *p3 = s[3]->prog;
  assert_ptr_equal (p0->rs, p1->rs);
  assert_ptr_equal (p0->rs, s[2]->prog->rs);
  assert_int_equal (p0->rs->refs, 3);
  assert_ptr_not_equal (p3->rs, p0->rs);
  assert_ptr_equal (p0->cls, p0->rs->cls);
  /* still classifies per session (the PDI stays in each program) */
  assert_int_equal (ul_from (c, 0x101, UE + 1).verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (ul_from (c, 0x101, UE).drop_reason, UPF_DROP_NO_PDR);
  for (uint32_t i = 0; i < 4; i++)
    upfcore_session_delete (c, s[i]);
  upfcore_reclaim (c);
  for (unsigned b = 0; b < UPF_RULESET_BUCKETS; b++)
    assert_null (c->rulesets[b]);
  upfcore_ctx_delete (c);
}

/* upfcore_session_put of a new session: all or nothing, as upfcore_session_install, and a
 * session it created is gone again when the install fails. */
static void
test_put_all_or_nothing (void **st)
{
  (void)st;
  for (long n = 0;; n++)
    {
      upf_ctx_t *c = upfcore_ctx_new (16);
      prog_t p;
      char err[128];
      unsigned buffered = 99;
      upf_session_t *s = 0;
      assert_non_null (c);
      mk_prog (&p, 0x2000, UE + 1, 1, 1, 0, 0);
      upf_session_t *other = install_ok (c, 1, &p);
      mk_prog (&p, 0x100, UE, 2, 2, 1, 0);
      int hit = WITH_FAILURE_AT (
        n, s = upfcore_session_put (c, 0, 7, &p.d, err, sizeof (err), &buffered));
      if (!hit)
        {
          assert_non_null (s);
          assert_true (n > 5);
          assert_int_equal (buffered, 0);
          assert_int_equal (s->seid, 7);
          assert_ptr_equal (c->sessions, s); /* linked in */
          assert_int_equal (ul (c, 0x100).verdict, UPF_VERDICT_FORWARD);
          assert_int_equal (dl (c, UE).verdict, UPF_VERDICT_BUFFER);
          upfcore_ctx_delete (c);
          break;
        }
      assert_null (s);
      /* (the first allocation is the session's) */
      assert_string_equal (err, n ? "out of memory" : "out of memory creating the session");
      assert_ptr_equal (c->sessions, other); /* the session made for it is deleted */
      assert_null (other->next);
      assert_int_equal (ul (c, 0x100).drop_reason, UPF_DROP_NO_SESSION);
      assert_int_equal (dl (c, UE).drop_reason, UPF_DROP_NO_SESSION);
      assert_int_equal (ul_from (c, 0x2000, UE + 1).verdict, UPF_VERDICT_FORWARD);
      upfcore_ctx_delete (c);
    }
}

/* upfcore_session_put into an existing session: replaces its program, reports its buffered
 * packets; refused, the session keeps its program. */
static void
test_put_existing (void **st)
{
  (void)st;
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t a, b;
  char err[128];
  unsigned buffered = 99;
  assert_non_null (c);
  mk_prog (&a, 0x100, UE, 1, 1, 1, 0);
  upf_session_t *s = upfcore_session_put (c, 0, 7, &a.d, err, sizeof (err), &buffered);
  assert_non_null (s);
  assert_int_equal (buffered, 0);
  assert_int_equal (dl (c, UE).verdict, UPF_VERDICT_BUFFER);
  assert_int_equal (dl (c, UE).verdict, UPF_VERDICT_BUFFER);
  assert_ptr_equal (upfcore_session_put (c, s, 7, &a.d, err, sizeof (err), &buffered), s);
  assert_int_equal (buffered, 2);
  mk_prog (&b, 0x101, UE, 1, 1, 0, 0);
  assert_ptr_equal (upfcore_session_put (c, s, 7, &b.d, err, sizeof (err), &buffered), s);
  assert_int_equal (buffered, 2); /* (flushing is the caller's) */
  assert_int_equal (ul (c, 0x100).drop_reason, UPF_DROP_NO_SESSION);
  assert_int_equal (ul (c, 0x101).verdict, UPF_VERDICT_FORWARD);
  /* refused: a second session cannot take the first one's F-TEID; the first keeps it */
  buffered = 99;
  assert_null (upfcore_session_put (c, 0, 8, &b.d, err, sizeof (err), &buffered));
  assert_int_equal (buffered, 99);
  assert_ptr_equal (c->sessions, s);
  assert_null (s->next);
  assert_int_equal (ul (c, 0x101).verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (ul (c, 0x101).seid, 7);
  assert_null (upfcore_session_put (0, s, 7, &b.d, err, sizeof (err), &buffered));
  assert_null (upfcore_session_put (c, s, 7, &b.d, err, sizeof (err), 0));
  upfcore_ctx_delete (c);
}

/* upfcore_session_put_args: upfcore_session_put with the arguments of the block, the buffered
 * count written back into it (left as it was when refused). */
static void
test_put_args (void **st)
{
  (void)st;
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t a, b;
  char err[128];
  upfcore_put_args_t args = { .ctx = c, .seid = 7, .err = err, .errlen = sizeof (err) };
  assert_non_null (c);
  mk_prog (&a, 0x100, UE, 1, 1, 1, 0);
  args.desc = &a.d;
  args.buffered = 99;
  upf_session_t *s = upfcore_session_put_args (&args);
  assert_non_null (s);
  assert_int_equal (s->seid, 7);
  assert_int_equal (args.buffered, 0);
  assert_int_equal (dl (c, UE).verdict, UPF_VERDICT_BUFFER);
  args.session = s;
  assert_ptr_equal (upfcore_session_put_args (&args), s);
  assert_int_equal (args.buffered, 1);
  /* refused: a second session cannot take the first one's F-TEID */
  mk_prog (&b, 0x100, UE + 1, 1, 1, 0, 0);
  args.session = 0;
  args.seid = 8;
  args.desc = &b.d;
  assert_null (upfcore_session_put_args (&args));
  assert_int_equal (args.buffered, 1);
  assert_true (strlen (err) > 0);
  assert_ptr_equal (c->sessions, s);
  assert_null (s->next);
  assert_int_equal (ul (c, 0x100).seid, 7);
  assert_null (upfcore_session_put_args (0));
  upfcore_ctx_delete (c);
}

/* A session's slots for a program of mk_prog's shape: PDR 1 (F-TEID teid on N3_UPF, UE ue),
 * PDR 2 (UE ue; its F-TEID fields as mk_prog leaves them), FAR 2 (outer header TEID far_teid
 * to N3_GNB from N3_UPF). */
static void
mk_slots (upfcore_put_slots_t *a, uint32_t teid, uint32_t ue, uint32_t far_teid)
{
  a->n_slot = 3;
  a->slot[0] = (upfcore_slot_t){ .teid = teid, .addr = { upf_ip4 (N3_UPF), upf_ip4 (ue) } };
  a->slot[1] = (upfcore_slot_t){ .teid = teid, .addr = { upf_ip4 (N3_UPF), upf_ip4 (ue) } };
  a->slot[2] = (upfcore_slot_t){ .teid = far_teid, .addr = { upf_ip4 (N3_GNB), upf_ip4 (N3_UPF) } };
}

/* upfcore_session_put_slots: the slots written into the descriptor (which then is the one
 * mk_prog makes for those values), then upfcore_session_put; a wrong slot count refuses the
 * install and leaves the descriptor as it was; no slots: the descriptor as it is. */
static void
test_put_slots (void **st)
{
  (void)st;
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t a, want, before;
  char err[128];
  upfcore_put_slots_t *args = calloc (1, sizeof (*args));
  assert_non_null (c);
  assert_non_null (args);
  *args = (upfcore_put_slots_t){ .ctx = c, .err = err, .errlen = sizeof (err), .seid = 7 };
  mk_prog (&a, 0x100, UE, 1, 1, 0, 0);
  mk_prog (&want, 0x300, UE + 1, 1, 1, 0, 0);
  want.far[1].ohc_teid = 0x400;
  args->desc = &a.d;
  mk_slots (args, 0x300, UE + 1, 0x400);
  args->buffered = 99;
  upf_session_t *s = upfcore_session_put_slots (args);
  assert_non_null (s);
  assert_int_equal (s->seid, 7);
  assert_int_equal (args->buffered, 0);
  assert_memory_equal (a.pdr, want.pdr, sizeof (a.pdr));
  assert_memory_equal (a.far, want.far, sizeof (a.far));
  assert_int_equal (ul (c, 0x100).drop_reason, UPF_DROP_NO_SESSION);
  assert_int_equal (ul_from (c, 0x300, UE + 1).verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (dl (c, UE + 1).verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (dl (c, UE).drop_reason, UPF_DROP_NO_SESSION);
  /* a count other than the descriptor's PDRs and GTP-U FARs: refused, nothing written */
  before = a;
  args->session = 0;
  args->seid = 8;
  for (uint32_t n = 1; n < 6; n++)
    {
      if (n == 3)
        continue;
      mk_slots (args, 0x500, UE + 2, 0x600);
      args->n_slot = n;
      err[0] = 0;
      assert_null (upfcore_session_put_slots (args));
      assert_true (strlen (err) > 0);
      assert_memory_equal (a.pdr, before.pdr, sizeof (a.pdr));
      assert_memory_equal (a.far, before.far, sizeof (a.far));
    }
  assert_ptr_equal (c->sessions, s);
  assert_null (s->next);
  /* a descriptor claiming more PDRs than the library takes (a count that would wrap: 2^32 - 1
   * PDRs + 2 GTP-U FARs = 1 slot): refused before its tables are read, nothing written */
  mk_slots (args, 0x500, UE + 2, 0x600);
  args->n_slot = 1;
  a.d.n_pdr = 0xffffffffu;
  err[0] = 0;
  assert_null (upfcore_session_put_slots (args));
  assert_true (strlen (err) > 0);
  a.d.n_pdr = before.d.n_pdr;
  a.d.n_far = UPF_MAX_FAR + 1;
  args->n_slot = 3;
  assert_null (upfcore_session_put_slots (args));
  a.d.n_far = before.d.n_far;
  assert_memory_equal (a.pdr, before.pdr, sizeof (a.pdr));
  assert_memory_equal (a.far, before.far, sizeof (a.far));
  /* no slots: the descriptor as it is (session 7's values: refused, they are taken) */
  args->n_slot = 0;
  assert_null (upfcore_session_put_slots (args));
  assert_memory_equal (a.pdr, before.pdr, sizeof (a.pdr));
  /* a NULL context: the slots written, nothing installed */
  args->ctx = 0;
  mk_slots (args, 0x500, UE + 2, 0x600);
  assert_null (upfcore_session_put_slots (args));
  assert_int_equal (a.pdr[0].teid, 0x500);
  assert_ptr_equal (c->sessions, s);
  args->desc = 0;
  assert_null (upfcore_session_put_slots (args));
  assert_null (upfcore_session_put_slots (0));
  free (args);
  upfcore_ctx_delete (c);
}

/* upfcore_session_put_slots of a new session with each allocation failing in turn: nothing
 * is left (no session, no table entry), the descriptor has the slots; then it installs. */
static void
test_put_slots_all_or_nothing (void **st)
{
  (void)st;
  upfcore_put_slots_t *args = calloc (1, sizeof (*args));
  assert_non_null (args);
  for (long n = 0;; n++)
    {
      upf_ctx_t *c = upfcore_ctx_new (16);
      prog_t p, other;
      char err[128];
      upf_session_t *s = 0;
      assert_non_null (c);
      mk_prog (&other, 0x2000, UE + 1, 1, 1, 0, 0);
      upf_session_t *first = install_ok (c, 1, &other);
      mk_prog (&p, 0x100, UE + 5, 2, 2, 1, 0);
      *args = (upfcore_put_slots_t){
        .ctx = c, .err = err, .errlen = sizeof (err), .seid = 7, .desc = &p.d, .buffered = 99
      };
      mk_slots (args, 0x300, UE, 0x400);
      int hit = WITH_FAILURE_AT (n, s = upfcore_session_put_slots (args));
      assert_int_equal (p.pdr[0].teid, 0x300);
      if (!hit)
        {
          assert_non_null (s);
          assert_true (n > 5);
          assert_int_equal (args->buffered, 0);
          assert_ptr_equal (c->sessions, s);
          assert_int_equal (ul (c, 0x300).verdict, UPF_VERDICT_FORWARD);
          assert_int_equal (dl (c, UE).verdict, UPF_VERDICT_BUFFER);
          upfcore_ctx_delete (c);
          break;
        }
      assert_null (s);
      assert_int_equal (args->buffered, 99);
      assert_string_equal (err, n ? "out of memory" : "out of memory creating the session");
      assert_ptr_equal (c->sessions, first);
      assert_null (first->next);
      assert_int_equal (ul (c, 0x300).drop_reason, UPF_DROP_NO_SESSION);
      assert_int_equal (dl (c, UE).drop_reason, UPF_DROP_NO_SESSION);
      assert_int_equal (ul_from (c, 0x2000, UE + 1).verdict, UPF_VERDICT_FORWARD);
      upfcore_ctx_delete (c);
    }
  free (args);
}

/* upfcore_session_remove: each URR's usage as upfcore_read_urr has it, in the program's
 * order, then the session is gone; no room: nothing done. */
static void
test_remove_reads_then_deletes (void **st)
{
  (void)st;
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  upf_usage_t want[3], got[3];
  assert_non_null (c);
  mk_prog (&p, 0x100, UE, 1, 3, 0, 0);
  p.urr[0].urr_id = 30; /* (an order other than the IDs') */
  for (unsigned i = 0; i < p.d.n_pdr; i++)
    p.pdr[i].urr_id[0] = 30;
  upf_session_t *s = install_ok (c, 7, &p);
  assert_int_equal (ul (c, 0x100).verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (ul (c, 0x100).verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (dl (c, UE).verdict, UPF_VERDICT_FORWARD);
  memset (want, 0, sizeof (want));
  memset (got, 0xff, sizeof (got));
  for (unsigned i = 0; i < 3; i++)
    assert_int_equal (upfcore_read_urr (s, p.urr[i].urr_id, &want[i], 0, 0), 0);
  assert_int_equal (want[0].urr_id, 30);
  assert_int_equal (want[0].pkts[UPF_VOL_UL], 2);
  assert_int_equal (want[0].pkts[UPF_VOL_DL], 1);
  assert_int_equal (upfcore_session_remove (c, s, got, 2), -ENOSPC);
  assert_int_equal (ul (c, 0x100).verdict, UPF_VERDICT_FORWARD); /* still there */
  for (unsigned i = 0; i < 3; i++)
    assert_int_equal (upfcore_read_urr (s, p.urr[i].urr_id, &want[i], 0, 0), 0);
  assert_int_equal (want[0].pkts[UPF_VOL_UL], 3);
  assert_int_equal (upfcore_session_remove (c, s, got, 3), 3);
  assert_memory_equal (got, want, sizeof (want));
  assert_null (c->sessions);
  assert_int_equal (ul (c, 0x100).drop_reason, UPF_DROP_NO_SESSION);
  assert_int_equal (dl (c, UE).drop_reason, UPF_DROP_NO_SESSION);
  assert_int_equal (upfcore_session_remove (c, 0, got, 3), -EINVAL);
  upfcore_ctx_delete (c);
}

/* upfcore_session_remove_args: upfcore_session_remove with the arguments of the block. */
static void
test_remove_args (void **st)
{
  (void)st;
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  upf_usage_t want[2], got[2];
  upfcore_remove_args_t args = { .ctx = c, .out = got, .max = 1 };
  assert_non_null (c);
  mk_prog (&p, 0x100, UE, 1, 2, 0, 0);
  upf_session_t *s = install_ok (c, 7, &p);
  assert_int_equal (ul (c, 0x100).verdict, UPF_VERDICT_FORWARD);
  args.session = s;
  assert_int_equal (upfcore_session_remove_args (&args), -ENOSPC);
  assert_int_equal (ul (c, 0x100).verdict, UPF_VERDICT_FORWARD); /* still there */
  memset (want, 0, sizeof (want));
  memset (got, 0xff, sizeof (got));
  for (unsigned i = 0; i < 2; i++)
    assert_int_equal (upfcore_read_urr (s, p.urr[i].urr_id, &want[i], 0, 0), 0);
  assert_int_equal (want[1].pkts[UPF_VOL_UL], 2);
  args.max = 2;
  assert_int_equal (upfcore_session_remove_args (&args), 2);
  assert_memory_equal (got, want, sizeof (want));
  assert_null (c->sessions);
  assert_int_equal (ul (c, 0x100).drop_reason, UPF_DROP_NO_SESSION);
  args.session = 0;
  assert_int_equal (upfcore_session_remove_args (&args), -EINVAL);
  assert_int_equal (upfcore_session_remove_args (0), -EINVAL);
  upfcore_ctx_delete (c);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_install_all_or_nothing),
    cmocka_unit_test (test_replace_all_or_nothing),
    cmocka_unit_test (test_refused_install_keeps_urr_state),
    cmocka_unit_test (test_delete_allocates_nothing),
    cmocka_unit_test (test_null_session),
    cmocka_unit_test (test_tick_events_not_lost),
    cmocka_unit_test (test_packet_events_not_lost),
    cmocka_unit_test (test_rulesets_shared),
    cmocka_unit_test (test_put_all_or_nothing),
    cmocka_unit_test (test_put_existing),
    cmocka_unit_test (test_put_args),
    cmocka_unit_test (test_put_slots),
    cmocka_unit_test (test_put_slots_all_or_nothing),
    cmocka_unit_test (test_remove_reads_then_deletes),
    cmocka_unit_test (test_remove_args),
  };
  return cmocka_run_group_tests (tests, 0, 0);
}
