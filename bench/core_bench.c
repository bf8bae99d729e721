/*
 * core_bench: per-packet cost of the portable UPF core (upf_plugin/core), one core.
 *
 * 1,000,000 sessions, each with 16 SDF filters (4 PCC rules x 4 filters, each rule an UL and
 * a DL PDR sharing the filters, plus a match-all UL and DL PDR), a QER (QFI + MBR) and a URR.
 * Packets come from pre-built rings (random sessions, random flows). Cases:
 *   baseline UL : parse outer IP/UDP/GTP-U + (local addr, TEID) lookup + decap
 *   full UL     : upf_ul_process (lookup, classify, QER, URR, FAR) + decap
 *   baseline DL : parse inner IP + (NI, UE IP) lookup + encap rewrite
 *   full DL     : upf_dl_process (lookup, classify, QER, URR, FAR) + encap rewrite
 *   worst UL    : full UL on sessions whose 64 rules are all candidates, the last matches
 * Prints ns/packet, Mpps and the ratio to the UL baseline measured in the same run (cases
 * interleaved in 12 rounds of short chunks, the fastest chunk kept per case, which filters out
 * other tenants of a shared machine).
 * Usage: core_bench [n_sessions] (default 1000000); env UPF_BENCH_PKTS = packets per case over
 * all rounds (default 2400000).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "upf_corelib.h"
#include "upf_testpkt.h"

#define RING 65536
#define N_FILTERS 16
#define N_RULES 4
#define FILT_PER_R (N_FILTERS / N_RULES)

static uint64_t rng = 88172645463325252ULL;
static uint32_t
rnd (void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)rng;
}

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define N3_UPF 0x0ac80002u /* 10.200.0.2 */
#define N3_GNB 0x0ac80001u

static uint32_t
ue_addr (uint32_t i)
{
  return 0x0a000000u + 0x10000u + i; /* 10.1.0.0 + i */
}

/* filter j of every session: alternating TCP/UDP, remote 10.100.j.0/24, remote
 * port 8000+j (a few are ranges), UE ports any */
static void
mk_filter (upf_sdf_t *f, unsigned j)
{
  memset (f, 0, sizeof (*f));
  f->proto = j & 1 ? UPF_PROTO_UDP : UPF_PROTO_TCP;
  f->flags = UPF_SDF_PROTO | UPF_SDF_REMOTE_PORT;
  f->remote = upf_ip4 (0x0a640000u | (j << 8));
  f->remote_plen = 96 + 24;
  f->remote_port_lo = (uint16_t)(8000 + j);
  f->remote_port_hi = (uint16_t)(j % 5 == 4 ? 8000 + j + 100 : 8000 + j);
}

static int
install_session (upf_ctx_t *c, uint32_t i, int worst)
{
  upf_pdr_t pdr[2 * N_RULES + 2];
  upf_sdf_t sdf[64];
  upf_far_t far[2];
  upf_qer_t qer;
  upf_urr_t urr;
  char err[128];
  unsigned n_pdr = 0, n_sdf, j;
  memset (pdr, 0, sizeof (pdr));
  memset (far, 0, sizeof (far));
  far[0] = (upf_far_t){
    .far_id = 1, .apply_action = UPF_AA_FORW, .dest_interface = UPF_IF_CORE, .dscp = UPF_DSCP_NONE
  };
  far[1] = (upf_far_t){ .far_id = 2,
                        .apply_action = UPF_AA_FORW,
                        .dest_interface = UPF_IF_ACCESS,
                        .ohc = UPF_OHC_GTPU,
                        .ohc_flags = UPF_OHC_F_PSC,
                        .ohc_teid = 0x80000000u | i,
                        .ohc_peer = upf_ip4 (N3_GNB),
                        .ohc_src = upf_ip4 (N3_UPF),
                        .dscp = 46 };
  qer = (upf_qer_t){
    .qer_id = 1, .qfi = 9, .mbr_ul_bps = 100000000000ULL, .mbr_dl_bps = 100000000000ULL
  };
  urr = (upf_urr_t){ .urr_id = 1, .triggers = UPF_URR_T_VOLTH, .vol_threshold = { 1ULL << 50 } };
  if (!worst)
    {
      n_sdf = N_FILTERS;
      for (j = 0; j < N_FILTERS; j++)
        mk_filter (&sdf[j], j);
      for (j = 0; j < N_RULES; j++)
        {
          upf_pdr_t *u = &pdr[n_pdr++], *d = &pdr[n_pdr++];
          *u = (upf_pdr_t){ .pdr_id = 10 + j,
                            .precedence = 10 + j,
                            .source_interface = UPF_IF_ACCESS,
                            .pdi_flags = UPF_PDI_FTEID | UPF_PDI_UE_IP,
                            .teid = i,
                            .fteid_addr = upf_ip4 (N3_UPF),
                            .ue_ip = upf_ip4 (ue_addr (i)),
                            .ue_ip_plen = 128,
                            .far_id = 1,
                            .qer_id = { 1 },
                            .urr_id = { 1 },
                            .sdf_first = (uint16_t)(j * FILT_PER_R),
                            .sdf_count = FILT_PER_R };
          *d = *u;
          d->pdr_id = 100 + j;
          d->source_interface = UPF_IF_CORE;
          d->pdi_flags = UPF_PDI_UE_IP;
          d->far_id = 2;
        }
    }
  else
    {
      /* 63 filters that are all candidates for the probe packet (same protocol
       * and port bucket), with remote prefixes that do not match it; the
       * match-all PDR is last. */
      n_sdf = 63;
      for (j = 0; j < n_sdf; j++)
        {
          mk_filter (&sdf[j], 0);
          sdf[j].remote = upf_ip4 (0x0b000000u | (j << 8));
        }
      upf_pdr_t *u = &pdr[n_pdr++];
      *u = (upf_pdr_t){ .pdr_id = 10,
                        .precedence = 10,
                        .source_interface = UPF_IF_ACCESS,
                        .pdi_flags = UPF_PDI_FTEID | UPF_PDI_UE_IP,
                        .teid = i,
                        .fteid_addr = upf_ip4 (N3_UPF),
                        .ue_ip = upf_ip4 (ue_addr (i)),
                        .ue_ip_plen = 128,
                        .far_id = 1,
                        .qer_id = { 1 },
                        .urr_id = { 1 },
                        .sdf_first = 0,
                        .sdf_count = 63 };
    }
  pdr[n_pdr] = (upf_pdr_t){ .pdr_id = 1,
                            .precedence = 1000,
                            .source_interface = UPF_IF_ACCESS,
                            .pdi_flags = UPF_PDI_FTEID | UPF_PDI_UE_IP,
                            .teid = i,
                            .fteid_addr = upf_ip4 (N3_UPF),
                            .ue_ip = upf_ip4 (ue_addr (i)),
                            .ue_ip_plen = 128,
                            .far_id = 1,
                            .qer_id = { 1 },
                            .urr_id = { 1 } };
  n_pdr++;
  if (!worst)
    {
      pdr[n_pdr] = pdr[n_pdr - 1];
      pdr[n_pdr].pdr_id = 2;
      pdr[n_pdr].source_interface = UPF_IF_CORE;
      pdr[n_pdr].pdi_flags = UPF_PDI_UE_IP;
      pdr[n_pdr].far_id = 2;
      n_pdr++;
    }
  upf_program_desc_t d = { .pdr = pdr,
                           .far = far,
                           .qer = &qer,
                           .urr = &urr,
                           .sdf = sdf,
                           .n_pdr = n_pdr,
                           .n_far = 2,
                           .n_qer = 1,
                           .n_urr = 1,
                           .n_sdf = n_sdf };
  upf_session_t *s = upfcore_session_create (c, i);
  if (!s || upfcore_session_install (c, s, &d, err, sizeof (err)) < 0)
    {
      fprintf (stderr, "session %u: %s\n", i, err);
      return -1;
    }
  return 0;
}

/* inner IPv4 packet of 100 bytes */
static uint32_t
mk_inner (uint8_t *p, uint32_t src, uint32_t dst, uint8_t proto, uint16_t sp, uint16_t dp)
{
  return mk_inner4 (p, src, dst, proto, sp, dp, proto == UPF_PROTO_TCP ? 60 : 72);
}

static uint32_t
mk_ul (uint8_t *p, uint32_t teid, const uint8_t *in, uint32_t il)
{
  return mk_gtpu4 (p, N3_GNB, N3_UPF, teid, 9, in, il);
}

/* a flow of session i: mostly one of its filters (both directions), some
 * default traffic */
static void
pick_flow (uint32_t *rem, uint8_t *proto, uint16_t *rport, uint16_t *uport)
{
  unsigned j = rnd () % (N_FILTERS + 4);
  if (j >= N_FILTERS)
    {
      *rem = 0x08080808u;
      *proto = UPF_PROTO_UDP;
      *rport = 53;
    }
  else
    {
      *rem = 0x0a640000u | (j << 8) | (1 + rnd () % 200);
      *proto = j & 1 ? UPF_PROTO_UDP : UPF_PROTO_TCP;
      *rport = (uint16_t)(8000 + j);
    }
  *uport = (uint16_t)(1024 + rnd () % 60000);
}

typedef struct
{
  uint8_t *data; /* RING x 160 bytes */
  uint32_t len[RING];
} ring_t;

#define SLOT 160
#define ROUNDS 12

static volatile uint64_t sink;

static double
run_ul_baseline (upf_ctx_t *c, ring_t *r, uint64_t n)
{
  uint64_t acc = 0;
  double t0 = now_s ();
  for (uint64_t k = 0; k < n; k++)
    {
      const uint8_t *p = r->data + (k & (RING - 1)) * SLOT;
      uint32_t len = r->len[k & (RING - 1)];
      upf_outer_t o;
      upf_gtpu_t g;
      if (upf_parse_outer (p, len, &o) || upf_parse_gtpu (p + o.payload_offset, o.payload_len, &g))
        continue;
      upf_session_t *s = upf_ul_lookup (&c->ul, &o.dst, g.teid);
      if (s)
        acc += (uintptr_t)(p + o.payload_offset + g.header_len) + g.payload_len + s->seid;
    }
  double t = now_s () - t0;
  sink += acc;
  return t;
}

static double
run_ul_full (upf_ctx_t *c, ring_t *r, uint64_t n, uint64_t *fwd)
{
  uint64_t acc = 0, f = 0;
  upf_verdict_t v;
  double t0 = now_s ();
  for (uint64_t k = 0; k < n; k++)
    {
      const uint8_t *p = r->data + (k & (RING - 1)) * SLOT;
      if ((k & 255) == 0)
        upf_reader_enter (&c->epoch, 0);
      upf_ul_process (c, &c->stats, p, r->len[k & (RING - 1)], k, &v);
      if (v.verdict == UPF_VERDICT_FORWARD)
        {
          f++;
          acc += (uintptr_t)(p + v.inner_offset) + v.inner_len + v.pdr_id;
        }
      if ((k & 255) == 255)
        upf_reader_exit (&c->epoch, 0);
    }
  upf_reader_exit (&c->epoch, 0);
  double t = now_s () - t0;
  sink += acc;
  *fwd = f;
  return t;
}

static double
run_dl_baseline (upf_ctx_t *c, ring_t *r, uint64_t n, const upf_encap_t *t)
{
  uint64_t acc = 0;
  uint8_t out[256];
  double t0 = now_s ();
  for (uint64_t k = 0; k < n; k++)
    {
      const uint8_t *p = r->data + (k & (RING - 1)) * SLOT;
      upf_inner_t in;
      if (upf_parse_inner (p, r->len[k & (RING - 1)], &in))
        continue;
      upf_session_t *s = upf_dl_lookup (&c->dl, 0, &in.dst);
      if (s)
        acc += upf_encap_write (t, out, p, in.total_len, 9, 0) + out[11] + s->seid;
    }
  double tt = now_s () - t0;
  sink += acc;
  return tt;
}

static double
run_dl_full (upf_ctx_t *c, ring_t *r, uint64_t n, uint64_t *fwd)
{
  uint64_t acc = 0, f = 0;
  upf_verdict_t v;
  uint8_t out[256];
  double t0 = now_s ();
  for (uint64_t k = 0; k < n; k++)
    {
      const uint8_t *p = r->data + (k & (RING - 1)) * SLOT;
      if ((k & 255) == 0)
        upf_reader_enter (&c->epoch, 0);
      upf_dl_process (c, &c->stats, 0, p, r->len[k & (RING - 1)], k, &v);
      if (v.verdict == UPF_VERDICT_FORWARD && v.encap)
        {
          f++;
          acc += upf_encap_write (v.encap, out, p, v.inner_len, v.qfi, v.rqi) + out[11];
        }
      if ((k & 255) == 255)
        upf_reader_exit (&c->epoch, 0);
    }
  upf_reader_exit (&c->epoch, 0);
  double t = now_s () - t0;
  sink += acc;
  *fwd = f;
  return t;
}

static long
rss_mib (void)
{
  FILE *f = fopen ("/proc/self/statm", "r");
  long pages = 0, rss = 0;
  if (f)
    {
      if (fscanf (f, "%ld %ld", &pages, &rss) != 2)
        rss = 0;
      fclose (f);
    }
  return rss * 4096 / (1024 * 1024);
}

static void
line (const char *name, double t, uint64_t n, double base_ns, const char *extra)
{
  double ns = t * 1e9 / (double)n;
  printf ("%-34s %8.1f ns/pkt %8.2f Mpps  x%.2f of UL baseline%s\n", name, ns, n / t / 1e6,
          ns / base_ns, extra);
}

int
main (int argc, char **argv)
{
  uint32_t n_sess = argc > 1 ? (uint32_t)strtoul (argv[1], 0, 0) : 1000000;
  uint64_t n_pkts
    = getenv ("UPF_BENCH_PKTS") ? strtoull (getenv ("UPF_BENCH_PKTS"), 0, 0) : 2400000;
  uint32_t n_worst = 10000;
  upf_ctx_t *c = upfcore_ctx_new (n_sess + n_worst);
  ring_t *ul = calloc (1, sizeof (*ul)), *dl = calloc (1, sizeof (*dl)),
         *wu = calloc (1, sizeof (*wu));
  uint8_t in[256];
  uint64_t fwd;
  double t0 = now_s ();

  if (!c || !ul || !dl || !wu)
    return 1;
  ul->data = malloc ((size_t)RING * SLOT);
  dl->data = malloc ((size_t)RING * SLOT);
  wu->data = malloc ((size_t)RING * SLOT);
  for (uint32_t i = 0; i < n_sess; i++)
    if (install_session (c, i, 0) < 0)
      return 1;
  for (uint32_t i = 0; i < n_worst; i++)
    if (install_session (c, n_sess + i, 1) < 0)
      return 1;
  printf ("core_bench: %u sessions x %u SDF filters (+%u worst-case sessions x "
          "63), "
          "setup %.1f s, RSS %ld MiB\n",
          n_sess, N_FILTERS, n_worst, now_s () - t0, rss_mib ());

  for (uint32_t k = 0; k < RING; k++)
    {
      uint32_t i = rnd () % n_sess, rem, il;
      uint8_t proto;
      uint16_t rp, up;
      pick_flow (&rem, &proto, &rp, &up);
      il = mk_inner (in, ue_addr (i), rem, proto, up, rp);
      ul->len[k] = mk_ul (ul->data + (size_t)k * SLOT, i, in, il);
      pick_flow (&rem, &proto, &rp, &up);
      dl->len[k] = mk_inner (dl->data + (size_t)k * SLOT, rem, ue_addr (i), proto, rp, up);
      i = n_sess + rnd () % n_worst;
      il = mk_inner (in, ue_addr (i), 0x08080808u, UPF_PROTO_TCP, 1234, 8000);
      wu->len[k] = mk_ul (wu->data + (size_t)k * SLOT, i, in, il);
    }

  upf_encap_t tmpl;
  upf_ip_t a = upf_ip4 (N3_UPF), b = upf_ip4 (N3_GNB);
  upf_encap_init (&tmpl, &a, &b, 1, 1, 46);

  /* warm-up, then ROUNDS rounds of short interleaved chunks: each case keeps its fastest
   * chunk, which filters out the other tenants of a shared machine better than one long run */
  run_ul_baseline (c, ul, n_pkts / 4);
  double best[5] = { 1e9, 1e9, 1e9, 1e9, 1e9 };
  uint64_t f_ul = 0, f_dl = 0, f_w = 0, chunk = n_pkts / ROUNDS;
  for (int rep = 0; rep < ROUNDS; rep++)
    {
      double t;
      if ((t = run_ul_baseline (c, ul, chunk)) < best[0])
        best[0] = t;
      if ((t = run_ul_full (c, ul, chunk, &fwd)) < best[1])
        best[1] = t, f_ul = fwd;
      if ((t = run_dl_baseline (c, dl, chunk, &tmpl)) < best[2])
        best[2] = t;
      if ((t = run_dl_full (c, dl, chunk, &fwd)) < best[3])
        best[3] = t, f_dl = fwd;
      if ((t = run_ul_full (c, wu, chunk / 4, &fwd)) < best[4])
        best[4] = t, f_w = fwd;
    }
  n_pkts = chunk;
  double base = best[0] * 1e9 / (double)n_pkts;
  char x[96];
  line ("UL baseline (parse+TEID+decap)", best[0], n_pkts, base, "");
  snprintf (x, sizeof (x), "  (%.0f%% forwarded)", 100.0 * f_ul / n_pkts);
  line ("UL full pipeline", best[1], n_pkts, base, x);
  line ("DL baseline (parse+UE IP+encap)", best[2], n_pkts, base, "");
  snprintf (x, sizeof (x), "  (%.0f%% forwarded)", 100.0 * f_dl / n_pkts);
  line ("DL full pipeline", best[3], n_pkts, base, x);
  snprintf (x, sizeof (x), "  (%.0f%% forwarded)", 100.0 * f_w / (n_pkts / 4));
  line ("UL worst case (64 candidate rules)", best[4], n_pkts / 4, base, x);
  printf ("UL full / UL baseline = %.2f (target < 2.0); DL full / DL baseline = "
          "%.2f\n",
          best[1] / best[0], best[3] / best[2]);
  printf ("total %.1f s, RSS %ld MiB\n", now_s () - t0, rss_mib ());
  upfcore_ctx_delete (c);
  return 0;
}
