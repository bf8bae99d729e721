/*
 * The compiled SDF filters (upf_sdf_compile + upf_sdf_rt_match, what the classifier checks)
 * decide as upf_sdf_match does on the filter as given: random filters (every condition,
 * prefixes of every length, reversed port ranges, flow labels wider than 20 bits) against
 * random parsed packets (IPv4/IPv6, TCP/UDP/ESP/ICMP/other, fragments), in both directions,
 * with the packets' fields often drawn from the filter so that most conditions are met.
 */
#include "test_util.h"

static uint64_t rng = 0x51f15eedULL;
#define rnd() upf_test_rand (&rng)

static void
rand_ip (upf_ip_t *a, int v6)
{
  if (v6)
    for (unsigned i = 0; i < 16; i++)
      a->b[i] = (uint8_t)(rnd () % 4 ? 0x20 + (i & 3) : rnd ());
  else
    *a = upf_ip4 (0x0a000000u | (rnd () % 4 ? rnd () % 512 : rnd ()));
}

/* a in the prefix b/plen, the bits after it random */
static void
near_ip (upf_ip_t *a, const upf_ip_t *b, unsigned plen)
{
  for (unsigned i = 0; i < 16; i++)
    {
      unsigned keep = plen > i * 8 ? plen - i * 8 : 0;
      uint8_t m = keep >= 8 ? 0xff : (uint8_t)(0xff00 >> keep);
      a->b[i] = (uint8_t)((b->b[i] & m) | (rnd () & ~m));
    }
}

static void
rand_filter (upf_sdf_t *f, int v6)
{
  static const uint8_t protos[] = { 6, 17, 50, 1, 58, 47 };
  memset (f, 0, sizeof (*f));
  f->flags = (uint8_t)(rnd () & rnd () & 0x3f); /* each condition in a quarter */
  f->proto = protos[rnd () % 6];
  rand_ip (&f->remote, v6);
  rand_ip (&f->ue, v6);
  f->remote_plen = (uint8_t)(rnd () % 3 ? (v6 ? 0 : 96) + rnd () % (v6 ? 129 : 33) : 0);
  f->ue_plen = (uint8_t)(rnd () % 3 ? (v6 ? 0 : 96) + rnd () % (v6 ? 129 : 33) : 0);
  f->remote_port_lo = (uint16_t)(rnd () % 2000);
  f->remote_port_hi = (uint16_t)(rnd () % 8 ? f->remote_port_lo + rnd () % 50 : rnd () % 2000);
  f->ue_port_lo = (uint16_t)(rnd () % 2000);
  f->ue_port_hi = (uint16_t)(rnd () % 8 ? f->ue_port_lo + rnd () % 50 : rnd () % 2000);
  f->tos = (uint8_t)rnd ();
  f->tos_mask = (uint8_t)(rnd () % 2 ? 0xfc : rnd ());
  f->spi = rnd () % 4 ? rnd () % 4 : rnd ();
  f->flow_label = rnd () % 8 ? rnd () % 4 : rnd () % 8 ? rnd () & 0xfffff : rnd ();
}

/* A packet whose fields are often the filter's (remote/UE as seen in direction dir). */
static void
rand_packet (upf_inner_t *in, const upf_sdf_t *f, int v6, unsigned dir)
{
  static const uint8_t protos[] = { 6, 17, 50, 1, 58, 47 };
  upf_ip_t *remote = dir == UPF_DIR_UL ? &in->dst : &in->src;
  upf_ip_t *ue = dir == UPF_DIR_UL ? &in->src : &in->dst;
  uint16_t *rport = dir == UPF_DIR_UL ? &in->dport : &in->sport;
  uint16_t *uport = dir == UPF_DIR_UL ? &in->sport : &in->dport;
  memset (in, 0, sizeof (*in));
  in->ip_version = (uint8_t)(rnd () % 16 ? (v6 ? 6 : 4) : (v6 ? 4 : 6));
  in->proto = rnd () % 2 ? f->proto : protos[rnd () % 6];
  if (rnd () % 3)
    near_ip (remote, &f->remote, f->remote_plen + (rnd () % 4 == 0));
  else
    rand_ip (remote, v6);
  if (rnd () % 3)
    near_ip (ue, &f->ue, f->ue_plen + (rnd () % 4 == 0));
  else
    rand_ip (ue, v6);
  in->is_fragment = rnd () % 8 == 0;
  in->is_first_fragment = in->is_fragment && rnd () % 2;
  if ((in->proto == 6 || in->proto == 17) && (!in->is_fragment || in->is_first_fragment))
    {
      in->has_ports = 1;
      *rport = (uint16_t)(f->remote_port_lo + rnd () % 60 - 5);
      *uport = (uint16_t)(f->ue_port_lo + rnd () % 60 - 5);
    }
  if (in->proto == 50 && rnd () % 4)
    {
      in->has_spi = 1;
      in->spi = rnd () % 2 ? f->spi : rnd () % 4;
    }
  in->tos = (uint8_t)(rnd () % 2 ? f->tos ^ (rnd () % 4) : rnd ());
  if (in->ip_version == 6)
    in->flow_label = rnd () % 2 ? f->flow_label & 0xfffff : rnd () % 4;
}

static void
test_compiled_filters_decide_as_the_filters (void **st)
{
  unsigned n_match = 0, n = 0;
  (void)st;
  for (unsigned i = 0; i < 20000; i++)
    {
      upf_sdf_t f;
      upf_sdf_rt_t c;
      int v6 = rnd () % 3 == 0;
      rand_filter (&f, v6);
      upf_sdf_compile (&f, &c);
      for (unsigned k = 0; k < 20; k++, n++)
        {
          upf_inner_t in;
          upf_match_t m;
          unsigned dir = rnd () % 2;
          int want, got;
          rand_packet (&in, &f, v6, dir);
          memset (&m, 0, sizeof (m));
          m.in = &in;
          upf_match_key (&m, &in, dir);
          want = upf_sdf_match (&f, &in, dir);
          got = upf_sdf_rt_match (&c, &m);
          if (want != got)
            fail_msg ("filter %u packet %u dir %u: upf_sdf_match %d, compiled %d (flags 0x%x)", i,
                      k, dir, want, got, f.flags);
          n_match += (unsigned)want;
        }
    }
  print_message ("%u of %u packets passed their filter\n", n_match, n);
  /* both outcomes are exercised */
  assert_true (n_match > n / 10);
  assert_true (n_match < n - n / 10);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_compiled_filters_decide_as_the_filters),
  };
  return cmocka_run_group_tests (tests, 0, 0);
}
