/*
 * Fuzz-style robustness: random and mutated packets through the UL and DL entry points and
 * the parsers. Under the ASan+UBSan build any read past a packet (each packet is copied into
 * an exact-size heap block) or undefined behaviour aborts the test.
 * Seeds: GTP-U frames of <repo>/../shared/pcaps/gtpu-ran-to-upf-traffic.pcap (or
 * $UPF_PCAPS_DIR) when present, plus packets built here. Deterministic: fixed PRNG seed,
 * override with UPF_FUZZ_SEED; UPF_FUZZ_ITERS sets the iteration count.
 */
#include "test_util.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t
rnd (void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)rng;
}

#define MAX_SEEDS 64
static uint8_t *seed_pkt[MAX_SEEDS];
static uint32_t seed_len[MAX_SEEDS];
static unsigned n_seeds, n_pcap_seeds;

static void
add_seed (const uint8_t *p, uint32_t n)
{
  if (n_seeds >= MAX_SEEDS || n > 2000)
    return;
  seed_pkt[n_seeds] = malloc (n);
  memcpy (seed_pkt[n_seeds], p, n);
  seed_len[n_seeds++] = n;
}

/* Read classic pcap (Ethernet or Linux cooked or raw IP); keep IP packets to UDP 2152. */
static void
load_pcap (const char *path)
{
  FILE *f = fopen (path, "rb");
  uint8_t gh[24], rh[16], buf[65536];
  if (!f)
    return;
  if (fread (gh, 1, 24, f) != 24)
    goto out;
  int swap = gh[0] == 0xd4 || gh[0] == 0x4d; /* little-endian magic as read byte-wise */
  uint32_t linktype = swap
                        ? (uint32_t)(gh[20] | gh[21] << 8 | gh[22] << 16 | (uint32_t)gh[23] << 24)
                        : upf_rd32 (gh + 20);
  while (fread (rh, 1, 16, f) == 16)
    {
      uint32_t incl = swap ? (uint32_t)(rh[8] | rh[9] << 8 | rh[10] << 16 | (uint32_t)rh[11] << 24)
                           : upf_rd32 (rh + 8);
      uint32_t off = 0;
      if (incl > sizeof (buf) || fread (buf, 1, incl, f) != incl)
        break;
      if (linktype == 1)
        {
          off = 14;
          while (off + 4 <= incl && upf_rd16 (buf + off - 2) == 0x8100)
            off += 4;
        }
      else if (linktype == 113)
        off = 16;
      else if (linktype != 101 && linktype != 228 && linktype != 229)
        continue;
      upf_outer_t o;
      if (off < incl && upf_parse_outer (buf + off, incl - off, &o) == 0
          && (o.dport == 2152 || o.sport == 2152))
        {
          add_seed (buf + off, incl - off);
          n_pcap_seeds++;
        }
    }
out:
  fclose (f);
}

static upf_ctx_t *ctx;
static upf_session_t *sess;

static void
setup_session (void)
{
  upf_pdr_t pdr[2] = {
    { .pdr_id = 1,
      .precedence = 1,
      .source_interface = UPF_IF_ACCESS,
      .pdi_flags = UPF_PDI_FTEID,
      .teid = 0x100,
      .fteid_addr = upf_ip4 (IP4 (10, 200, 0, 2)),
      .far_id = 1,
      .urr_id = { 1 } },
    { .pdr_id = 2,
      .precedence = 1,
      .source_interface = UPF_IF_CORE,
      .pdi_flags = UPF_PDI_UE_IP,
      .ue_ip = upf_ip4 (IP4 (10, 45, 0, 7)),
      .ue_ip_plen = 128,
      .far_id = 2,
      .urr_id = { 1 } },
  };
  /* UL: redirect (the rewrite runs on every forwarded packet) and two copies; DL: one */
  upf_dupl_t dupl[3] = {
    { .ohc = UPF_OHC_UDP, .ohc_port = 9, .ohc_peer = upf_ip4 (3), .ohc_src = upf_ip4 (2) },
    { .ohc = UPF_OHC_IP, .ohc_peer = { { 0xfd, [15] = 1 } }, .ohc_src = { { 0xfd, [15] = 2 } } },
    { .ohc = UPF_OHC_GTPU,
      .ohc_flags = UPF_OHC_F_PSC,
      .ohc_peer = upf_ip4 (3),
      .ohc_src = upf_ip4 (2) },
  };
  upf_far_t far[2] = {
    { .far_id = 1,
      .apply_action = UPF_AA_FORW | UPF_AA_DUPL,
      .dest_interface = UPF_IF_CORE,
      .redirect_type = UPF_REDIRECT_IPV4 + 1,
      .redirect_addr = upf_ip4 (IP4 (192, 0, 2, 1)),
      .dupl_first = 0,
      .dupl_count = 2 },
    { .far_id = 2,
      .apply_action = UPF_AA_FORW | UPF_AA_DUPL,
      .dupl_first = 2,
      .dupl_count = 1,
      .ohc = UPF_OHC_GTPU,
      .ohc_flags = UPF_OHC_F_PSC,
      .ohc_teid = 5,
      .ohc_peer = upf_ip4 (1),
      .ohc_src = upf_ip4 (2),
      .dscp = UPF_DSCP_NONE },
  };
  upf_urr_t urr = { .urr_id = 1 };
  upf_program_desc_t d = { .pdr = pdr,
                           .far = far,
                           .urr = &urr,
                           .dupl = dupl,
                           .n_pdr = 2,
                           .n_far = 2,
                           .n_urr = 1,
                           .n_dupl = 3 };
  char err[128];
  ctx = upfcore_ctx_new (16);
  sess = upfcore_session_create (ctx, 1);
  assert_int_equal (upfcore_session_install (ctx, sess, &d, err, sizeof (err)), 0);
}

static void
run_one (const uint8_t *src, uint32_t n)
{
  uint8_t *b = malloc (n ? n : 1), out[70000];
  upf_verdict_t v;
  upf_gtpu_t g;
  upf_inner_t in;
  memcpy (b, src, n);
  uint32_t o = upfcore_ul_packet (ctx, b, n, 1, &v, out, sizeof (out));
  assert_true (o <= sizeof (out));
  if (v.verdict == UPF_VERDICT_FORWARD)
    {
      assert_true ((uint32_t)v.inner_offset + v.inner_len <= n);
      assert_int_equal (v.n_dupl, 2);
      for (unsigned i = 0; i < v.n_dupl; i++)
        assert_true (upfcore_dupl_packet (&v, i, b + v.inner_offset, out, sizeof (out))
                     == v.dupl_encap[i].len + v.inner_len);
    }
  o = upfcore_dl_packet (ctx, 0, b, n, 1, &v, out, sizeof (out));
  if (v.verdict == UPF_VERDICT_FORWARD)
    {
      assert_true (v.inner_len <= n);
      assert_true (upfcore_dupl_packet (&v, 0, b, out, sizeof (out)) == 44u + v.inner_len);
    }
  {
    /* the redirect rewrite on its own, both families, on the raw (mutated) bytes */
    upf_ip_t to6 = { { 0xfd, [15] = 9 } }, to4 = upf_ip4 (IP4 (192, 0, 2, 1));
    upf_rewrite_dst (b, n, &to4);
    upf_rewrite_dst (b, n, &to6);
  }
  if (upf_parse_gtpu (b, n, &g) == 0)
    assert_true ((uint32_t)g.header_len + g.payload_len <= n);
  if (upf_parse_inner (b, n, &in) == 0)
    assert_true (in.total_len <= n && in.l4_offset <= in.total_len);
  free (b);
}

static void
test_fuzz (void **st)
{
  uint8_t in[256], pkt[512], work[2100];
  const char *s;
  unsigned iters = 200000;
  (void)st;
  if ((s = getenv ("UPF_FUZZ_SEED")))
    rng = strtoull (s, 0, 0) | 1;
  if ((s = getenv ("UPF_FUZZ_ITERS")))
    iters = (unsigned)strtoul (s, 0, 0);
  setup_session ();

  char path[4096];
  const char *dir = getenv ("UPF_PCAPS_DIR");
  const char *root = getenv ("UPF_REPO_ROOT");
  if (dir)
    snprintf (path, sizeof (path), "%s/gtpu-ran-to-upf-traffic.pcap", dir);
  else
    snprintf (path, sizeof (path), "%s/../shared/pcaps/gtpu-ran-to-upf-traffic.pcap",
              root ? root : ".");
  load_pcap (path);
  if (!n_pcap_seeds)
    printf ("# pcap seeds skipped: %s not found or holds no GTP-U frames "
            "(set UPF_PCAPS_DIR); using built seeds only\n",
            path);
  else
    printf ("# %u GTP-U seed frames from %s\n", n_pcap_seeds, path);

  /* built seeds: valid UL G-PDUs (with/without PSC, TCP/UDP/ICMP/ESP), a DL packet */
  uint8_t protos[4] = { UPF_PROTO_TCP, UPF_PROTO_UDP, UPF_PROTO_ICMP, UPF_PROTO_ESP };
  for (int i = 0; i < 4; i++)
    {
      uint32_t il = mk_inner4 (in, IP4 (10, 45, 0, 7), IP4 (8, 8, 8, 8), protos[i], 1, 2, 20);
      add_seed (pkt, mk_gtpu4 (pkt, 1, IP4 (10, 200, 0, 2), 0x100, i & 1 ? 9 : -1, in, il));
      add_seed (in, mk_inner4 (in, IP4 (8, 8, 8, 8), IP4 (10, 45, 0, 7), protos[i], 1, 2, 20));
    }

  for (unsigned it = 0; it < iters; it++)
    {
      unsigned k = rnd () % n_seeds, mode = rnd () % 4;
      uint32_t n = seed_len[k];
      memcpy (work, seed_pkt[k], n);
      if (mode == 0)
        { /* random bytes, random length */
          n = rnd () % 200;
          for (uint32_t i = 0; i < n; i++)
            work[i] = (uint8_t)rnd ();
          if (n && rnd () % 2)
            work[0] = (uint8_t)(rnd () % 2 ? 0x45 : 0x60);
        }
      else
        { /* bit flips / byte sets focused on headers, then maybe truncate or extend */
          unsigned flips = 1 + rnd () % 6;
          for (unsigned f = 0; f < flips && n; f++)
            {
              uint32_t pos = rnd () % (n < 80 ? n : (rnd () % 4 ? 80 : n));
              if (rnd () % 2)
                work[pos] ^= (uint8_t)(1u << (rnd () % 8));
              else
                work[pos] = (uint8_t)rnd ();
            }
          if (mode == 2 && n)
            n = rnd () % n;
          if (mode == 3)
            {
              uint32_t extra = rnd () % 64;
              for (uint32_t i = 0; i < extra && n < sizeof (work); i++)
                work[n++] = (uint8_t)rnd ();
            }
        }
      run_one (work, n);
    }
  /* the datapath counted what it saw and survived */
  const upf_stats_t *stt = upfcore_stats (ctx);
  uint64_t mal = 0;
  for (unsigned i = 0; i < UPF_MALFORMED_N_REASONS; i++)
    mal += stt->malformed[i];
  assert_int_equal (stt->rx_pkts[UPF_DIR_UL], iters);
  assert_true (mal > iters / 4);
  printf ("# %u packets through UL and DL: %llu malformed (UL+DL), %llu forwarded\n", iters,
          (unsigned long long)mal,
          (unsigned long long)(2ULL * iters - stt->drops[UPF_DROP_MALFORMED]
                               - stt->drops[UPF_DROP_NO_SESSION] - stt->drops[UPF_DROP_NO_PDR]
                               - stt->drops[UPF_DROP_GTPU_SIGNALLING]));
  if (n_pcap_seeds)
    {
      /* the capture's frames are well-formed GTP-U: none of them is malformed */
      upf_verdict_t v;
      uint8_t out[4096];
      for (unsigned i = 0; i < n_pcap_seeds; i++)
        {
          upfcore_ul_packet (ctx, seed_pkt[i], seed_len[i], 1, &v, out, sizeof (out));
          assert_int_not_equal (v.drop_reason, UPF_DROP_MALFORMED);
        }
    }
  for (unsigned i = 0; i < n_seeds; i++)
    free (seed_pkt[i]);
  upfcore_ctx_delete (ctx);
}

int
main (void)
{
  const struct CMUnitTest tests[] = { cmocka_unit_test (test_fuzz) };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
