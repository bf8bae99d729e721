/*
 * The vector entry points (upf_ul_process_vec, upf_dl_process_vec, upf_dl_process_vec_encap)
 * give the same verdicts, counters and URR/QER state as the scalar ones called on each packet
 * in order: two contexts with the same sessions, one fed packet by packet, one in vectors of
 * random sizes, with a random mix of valid, unknown, policed, buffered, signalling and
 * malformed packets; upf_dl_process_vec_encap writes the outer header the caller would.
 */
#include "test_util.h"
#include "test_progs.h"

#define N_SESS 40
#define N_PKTS 4000

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
#define rnd() upf_test_rand (&rng)

/* Session i: TEID 0x100 + i, UE + i; every 3rd buffers DL, every 4th polices UL at 8 kbit/s,
 * URR thresholds that cross; session 0's DL PDR is a /120 prefix (a second prefix length). */
static void
setup (upf_ctx_t *c)
{
  for (uint32_t i = 0; i < N_SESS; i++)
    {
      prog_t p;
      mk_prog (&p, 0x100 + i, UE + i, 1, 2, i % 3 == 0, 500 + 100 * i);
      if (i % 4 == 0)
        p.qer[0].mbr_ul_bps = 8000;
      if (i == 0)
        p.pdr[1].ue_ip_plen = 120;
      install_ok (c, 0x1000 + i, &p);
    }
}

/* A random UL (outer) or DL (inner) packet into p; returns its length. */
static uint32_t
random_packet (uint8_t *p, int ul)
{
  uint8_t in[256];
  uint32_t sess = rnd () % (N_SESS + 3); /* a few unknown sessions */
  uint32_t ue = UE + sess, kind = rnd () % 20, n;
  uint32_t il
    = mk_inner4 (in, ul ? ue : DN, ul ? DN : ue, rnd () & 1 ? UPF_PROTO_UDP : UPF_PROTO_TCP,
                 (uint16_t)rnd (), (uint16_t)rnd (), rnd () % 200);
  if (!ul)
    {
      memcpy (p, in, il);
      if (kind == 0)
        return il / 3; /* truncated */
      if (kind == 1)
        p[0] = 0x75; /* bad version */
      return il;
    }
  n = mk_gtpu4 (p, N3_GNB, N3_UPF, 0x100 + sess, kind == 2 ? -1 : 9, in, il);
  if (kind == 3)
    return 20 + (rnd () % 20); /* truncated outer */
  if (kind == 4)
    p[28 + 1] = 1; /* echo request */
  if (kind == 5)
    p[28 + 1] = 26; /* error indication without its IE: malformed */
  if (kind == 6)
    upf_wr16 (p + 22, 2153); /* not GTP-U */
  if (kind == 7)
    return n - il + 10; /* truncated inner */
  return n;
}

static void
assert_same_verdict (const upf_verdict_t *a, const upf_verdict_t *b)
{
  assert_int_equal (a->verdict, b->verdict);
  assert_int_equal (a->drop_reason, b->drop_reason);
  assert_int_equal (a->malformed, b->malformed);
  assert_int_equal (a->dest_interface, b->dest_interface);
  assert_int_equal (a->qfi, b->qfi);
  assert_int_equal (a->rqi, b->rqi);
  assert_int_equal (a->ppi, b->ppi);
  assert_int_equal (a->n_dupl, b->n_dupl);
  assert_int_equal (a->inner_offset, b->inner_offset);
  assert_int_equal (a->inner_len, b->inner_len);
  assert_int_equal (a->network_instance, b->network_instance);
  assert_int_equal (a->gtpu_type, b->gtpu_type);
  assert_int_equal (a->pdr_id, b->pdr_id);
  assert_int_equal (a->far_id, b->far_id);
  assert_int_equal (a->teid, b->teid);
  assert_int_equal (a->seid, b->seid);
  assert_int_equal (!a->encap, !b->encap);
  assert_int_equal (!a->session, !b->session);
  assert_int_equal (a->n_events, b->n_events);
  for (unsigned e = 0; e < a->n_events; e++)
    {
      assert_int_equal (a->events[e].type, b->events[e].type);
      assert_int_equal (a->events[e].id, b->events[e].id);
      assert_int_equal (a->events[e].seid, b->events[e].seid);
      assert_int_equal (a->events[e].value, b->events[e].value);
    }
}

/* Vectors of 1..256 packets at one time each (a VPP frame); the scalar run gives each packet
 * of a vector the same time. */
#define HEADROOM UPF_ENCAP_MAX_LEN

static void
run (int ul, int encap)
{
  upf_ctx_t *a = upfcore_ctx_new (64), *b = upfcore_ctx_new (64);
  static uint8_t buf[N_PKTS][HEADROOM + 320];
  static upf_verdict_t va[N_PKTS], vb[N_PKTS];
  const uint8_t *pkts[N_PKTS];
  uint8_t *bufs[N_PKTS];
  static uint8_t encap_len[N_PKTS];
  uint32_t lens[N_PKTS], i, forwarded = 0, written = 0;
  assert_non_null (a);
  assert_non_null (b);
  setup (a);
  setup (b);
  for (i = 0; i < N_PKTS; i++)
    {
      lens[i] = random_packet (buf[i] + HEADROOM, ul);
      pkts[i] = bufs[i] = buf[i] + HEADROOM;
    }
  for (i = 0; i < N_PKTS;)
    {
      uint32_t n = 1 + rnd () % 256;
      uint64_t now = i * 1000ULL;
      if (n > N_PKTS - i)
        n = N_PKTS - i;
      for (uint32_t j = 0; j < n; j++)
        if (ul)
          upf_ul_process (a, &a->stats, pkts[i + j], lens[i + j], now, &va[i + j]);
        else
          upf_dl_process (a, &a->stats, 0, pkts[i + j], lens[i + j], now, &va[i + j]);
      if (ul)
        upf_ul_process_vec (b, &b->stats, pkts + i, lens + i, n, now, vb + i);
      else if (encap)
        upf_dl_process_vec_encap (b, &b->stats, 0, bufs + i, lens + i, n, now, vb + i,
                                  encap_len + i);
      else
        upf_dl_process_vec (b, &b->stats, 0, pkts + i, lens + i, n, now, vb + i);
      i += n;
    }
  for (i = 0; i < N_PKTS; i++)
    {
      assert_same_verdict (&va[i], &vb[i]);
      forwarded += va[i].verdict == UPF_VERDICT_FORWARD;
      if (encap && vb[i].verdict == UPF_VERDICT_FORWARD && vb[i].encap)
        {
          uint8_t want[UPF_ENCAP_MAX_LEN];
          uint32_t n = upf_encap_write (vb[i].encap, want, pkts[i], vb[i].inner_len, vb[i].qfi,
                                        vb[i].rqi, vb[i].ppi);
          assert_int_equal (encap_len[i], n);
          assert_memory_equal (pkts[i] - n, want, n);
          written++;
        }
      else
        assert_int_equal (encap_len[i], 0);
    }
  assert_true (forwarded > N_PKTS / 4);
  assert_true (!encap || written > N_PKTS / 4);
  assert_memory_equal (&a->stats, &b->stats, sizeof (a->stats));
  for (uint32_t s = 0; s < N_SESS; s++)
    {
      upf_session_t *sa = a->sessions, *sb = b->sessions;
      upf_usage_t ua, ub;
      for (uint32_t k = 0; k < s; k++)
        sa = sa->next, sb = sb->next;
      assert_int_equal (upfcore_read_urr (sa, 1, &ua, 0, 0), 0);
      assert_int_equal (upfcore_read_urr (sb, 1, &ub, 0, 0), 0);
      assert_memory_equal (&ua, &ub, sizeof (ua));
      assert_int_equal (upfcore_buffer_count (sa), upfcore_buffer_count (sb));
    }
  upfcore_ctx_delete (a);
  upfcore_ctx_delete (b);
}

static void
test_ul_vector_same_as_scalar (void **st)
{
  (void)st;
  run (1, 0);
}

static void
test_dl_vector_same_as_scalar (void **st)
{
  (void)st;
  run (0, 0);
}

static void
test_dl_vector_encap_writes_headers (void **st)
{
  (void)st;
  run (0, 1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_ul_vector_same_as_scalar),
    cmocka_unit_test (test_dl_vector_same_as_scalar),
    cmocka_unit_test (test_dl_vector_encap_writes_headers),
  };
  return cmocka_run_group_tests (tests, 0, 0);
}
