/*
 * core_bench: per-packet cost of the portable UPF core (upf_plugin/core), one core.
 *
 * For each size (default 10,000, 100,000 and 1,000,000 sessions), sessions with 16 SDF
 * filters each (4 PCC rules x 4 filters, each rule an UL and a DL PDR sharing the filters,
 * plus a match-all UL and DL PDR), a QER (QFI + MBR) and a URR, plus 10,000 worst-case
 * sessions (63 filters that are all candidates, the match-all PDR last). Cases:
 *   UL baseline : parse outer IP/UDP/GTP-U + (local addr, TEID) lookup + decap
 *   UL full     : upf_ul_process_vec (lookup, classify, QER, URR, FAR) + decap
 *   UL scalar   : the same through upf_ul_process, one packet per call
 *   DL baseline : parse inner IP + (NI, UE IP) lookup + outer header into the headroom
 *   DL full     : upf_dl_process_vec_encap (lookup, classify, QER, URR, FAR, outer header
 *                 into the headroom)
 *   DL scalar   : the same through upf_dl_process
 *   UL worst    : UL full on the worst-case sessions
 * Every packet goes to a session drawn at random from all of them (a pool of 4096 packet
 * buffers with random flows gets each vector's session fields written before the vector is
 * timed); the baselines look up the same sessions in the same order, in vectors of 256 with
 * the same software-pipelined stages and prefetching as the vector entry points. Each vector
 * is timed with the TSC; a round's figure is its median vector (a vector the scheduler
 * interrupted, on a shared machine, does not count). Each case runs ROUNDS interleaved
 * rounds; the median over rounds is reported with the spread (min..max), in ns and TSC
 * clocks per packet (TSC frequency measured against CLOCK_MONOTONIC), and the writer-side
 * bytes per session (malloc and the core's cache-line objects in use, tables included).
 * Usage: core_bench [n_sessions ...]; env UPF_BENCH_ROUNDS (default 9), UPF_BENCH_PKTS =
 * packets per case per round (default 131072).
 *
 * core_bench install [n [rate]] (default 20,000, back to back): the writer side's stalls
 * instead. A new context sized as pfcpd's session_rate benchmark sizes it (262,144 expected
 * sessions), then n sessions of that benchmark's shape (an UL PDR on the F-TEID, a DL PDR on
 * the UE IP, 2 FARs, a QER, a URR) installed one by one, each timed, the i-th not before
 * i / rate seconds if a rate is given (busy waiting, as pfcpd's event loop is busy: its
 * establishment burst runs at ~22,000 a second): the context's creation time, the mean and
 * max install time, how many installs took over 1 ms (and how many of those spent over 1 ms
 * on the CPU, page faults included: the others waited, for a lock or a CPU), and the
 * transparent huge pages faulted in meanwhile (/proc/vmstat thp_fault_alloc, machine-wide).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif
#include "upf_corelib.h"
#include "upf_mem.h"
#include "upf_testpkt.h"

#define N_FILTERS 16
#define N_RULES 4
#define FILT_PER_R (N_FILTERS / N_RULES)
#define N_WORST 10000
#define VEC 256
#define POOL 4096
#define SLOT 192
#define HEADROOM 80 /* DL packets start this far into their slot: room for the outer header */

static uint64_t rng = 88172645463325252ULL;
#define rnd() upf_test_rand (&rng)

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

/* Session i's two FARs: UL forwarded to the core, DL in GTP-U to the gNB (TEID 0x80000000 | i),
   with ``ohc_flags`` and ``dscp``. */
static void
set_fars (upf_far_t far[2], uint32_t i, uint8_t ohc_flags, uint8_t dscp)
{
  far[0] = (upf_far_t){
    .far_id = 1, .apply_action = UPF_AA_FORW, .dest_interface = UPF_IF_CORE, .dscp = UPF_DSCP_NONE
  };
  far[1] = (upf_far_t){ .far_id = 2,
                        .apply_action = UPF_AA_FORW,
                        .dest_interface = UPF_IF_ACCESS,
                        .ohc = UPF_OHC_GTPU,
                        .ohc_flags = ohc_flags,
                        .ohc_teid = 0x80000000u | i,
                        .ohc_peer = upf_ip4 (N3_GNB),
                        .ohc_src = upf_ip4 (N3_UPF),
                        .dscp = dscp };
}

/* Session i created and its program d installed; -1 (the reason printed) if refused. */
static int
create_and_install (upf_ctx_t *c, uint32_t i, const upf_program_desc_t *d)
{
  char err[128];
  upf_session_t *s = upfcore_session_create (c, i);
  if (!s || upfcore_session_install (c, s, d, err, sizeof (err)) < 0)
    {
      fprintf (stderr, "session %u: %s\n", i, s ? err : "cannot create");
      return -1;
    }
  return 0;
}

static int
install_session (upf_ctx_t *c, uint32_t i, int worst)
{
  upf_pdr_t pdr[2 * N_RULES + 2];
  upf_sdf_t sdf[64];
  upf_far_t far[2];
  upf_qer_t qer;
  upf_urr_t urr;
  unsigned n_pdr = 0, n_sdf, j;
  memset (pdr, 0, sizeof (pdr));
  set_fars (far, i, UPF_OHC_F_PSC, 46);
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
  return create_and_install (c, i, &d);
}

/* A session of bench/session_rate.py's shape: 2 PDRs, 2 FARs, 1 QER, 1 URR. */
static int
install_small (upf_ctx_t *c, uint32_t i)
{
  upf_pdr_t pdr[2];
  upf_far_t far[2];
  upf_qer_t qer = { .qer_id = 1, .qfi = 9, .mbr_ul_bps = 1000000000, .mbr_dl_bps = 1000000000 };
  upf_urr_t urr = { .urr_id = 1, .triggers = UPF_URR_T_VOLTH, .vol_threshold = { 1ULL << 40 } };
  memset (pdr, 0, sizeof (pdr));
  set_fars (far, i, 0, UPF_DSCP_NONE);
  pdr[0] = (upf_pdr_t){ .pdr_id = 1,
                        .precedence = 100,
                        .source_interface = UPF_IF_ACCESS,
                        .pdi_flags = UPF_PDI_FTEID | UPF_PDI_UE_IP,
                        .teid = i + 1,
                        .fteid_addr = upf_ip4 (N3_UPF),
                        .ue_ip = upf_ip4 (ue_addr (i)),
                        .ue_ip_plen = 128,
                        .outer_header_removal = 1,
                        .far_id = 1,
                        .qer_id = { 1 },
                        .urr_id = { 1 } };
  pdr[1] = pdr[0];
  pdr[1].pdr_id = 2;
  pdr[1].source_interface = UPF_IF_CORE;
  pdr[1].pdi_flags = UPF_PDI_UE_IP;
  pdr[1].outer_header_removal = 0;
  pdr[1].far_id = 2;
  upf_program_desc_t d = {
    .pdr = pdr, .far = far, .qer = &qer, .urr = &urr, .n_pdr = 2, .n_far = 2, .n_qer = 1, .n_urr = 1
  };
  return create_and_install (c, i, &d);
}

static long
thp_fault_alloc (void)
{
  FILE *f = fopen ("/proc/vmstat", "r");
  char name[64];
  long v, r = -1;
  if (!f)
    return -1;
  while (fscanf (f, "%63s %ld", name, &v) == 2)
    if (!strcmp (name, "thp_fault_alloc"))
      r = v;
  fclose (f);
  return r;
}

static double
thread_cpu_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
bench_install (uint32_t n, double rate)
{
  long thp0 = thp_fault_alloc ();
  double t0 = now_s (), t1, sum = 0, max = 0;
  size_t mem0 = upf_mem_in_use ();
  uint32_t slow = 0, slow_cpu = 0;
  upf_ctx_t *c = upfcore_ctx_new (262144);
  if (!c)
    return -1;
  t1 = now_s ();
  for (uint32_t i = 0; i < n; i++)
    {
      double a, dt, cpu;
      while (rate > 0 && now_s () - t1 < i / rate)
        ;
      a = now_s ();
      cpu = thread_cpu_s ();
      if (install_small (c, i) < 0)
        return -1;
      cpu = thread_cpu_s () - cpu;
      dt = now_s () - a;
      sum += dt;
      max = dt > max ? dt : max;
      slow += dt > 1e-3;
      slow_cpu += dt > 1e-3 && cpu > 1e-3;
    }
  printf ("core_bench install: context for 262144 sessions created in %.2f ms; %u sessions%s "
          "(2 PDRs, 2 FARs, QER, URR; %.0f bytes each, tables included): install mean %.1f us, "
          "max %.2f ms, %u over 1 ms (%u on the CPU); thp_fault_alloc +%ld\n",
          (t1 - t0) * 1e3, n, rate > 0 ? " (paced)" : "", (double)(upf_mem_in_use () - mem0) / n,
          sum / n * 1e6, max * 1e3, slow, slow_cpu, thp_fault_alloc () - thp0);
  upfcore_ctx_delete (c);
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

static double
tsc_ghz (void)
{
#if defined(__x86_64__) || defined(__i386__)
  double t0 = now_s ();
  uint64_t c0 = __rdtsc ();
  while (now_s () - t0 < 0.2)
    ;
  return (double)(__rdtsc () - c0) / ((now_s () - t0) * 1e9);
#else
  return 1.0; /* clocks = ns where no TSC is read */
#endif
}

static inline uint64_t
clocks (void)
{
#if defined(__x86_64__) || defined(__i386__)
  return __rdtsc ();
#else
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
#endif
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

/* malloc in use plus the core's cache-line objects in use (upf_mem.c) */
static size_t
heap_in_use (void)
{
  struct mallinfo2 m = mallinfo2 ();
  return m.uordblks + m.hblkhd + upf_mem_in_use ();
}

static volatile uint64_t sink;

/* A pool of packet buffers with random flows; fill () writes the session fields of a vector. */
typedef struct
{
  uint8_t *data; /* POOL x SLOT */
  uint32_t len[POOL];
  const uint8_t *pkt[VEC];
  uint8_t *buf[VEC]; /* the same packets, writable (DL: outer headers go into the headroom) */
  uint32_t plen[VEC];
  uint32_t off; /* of a packet in its slot: DL HEADROOM, UL 0 */
  int ul;
} pool_t;

static pool_t pools[3]; /* UL, DL, UL to the worst-case sessions */

static void
pool_init (pool_t *p, int ul, int worst)
{
  uint8_t in[256];
  p->data = malloc ((size_t)POOL * SLOT);
  p->ul = ul;
  p->off = ul ? 0 : HEADROOM;
  for (uint32_t k = 0; k < POOL; k++)
    {
      uint32_t rem, il;
      uint8_t proto;
      uint16_t rp, up;
      uint8_t *d = p->data + (size_t)k * SLOT + p->off;
      pick_flow (&rem, &proto, &rp, &up);
      if (worst)
        rem = 0x08080808u, proto = UPF_PROTO_TCP, up = 1234, rp = 8000;
      if (ul)
        {
          il = mk_inner (in, ue_addr (0), rem, proto, up, rp);
          p->len[k] = mk_ul (d, 0, in, il);
        }
      else
        p->len[k] = mk_inner (d, rem, ue_addr (0), proto, rp, up);
    }
}

/* Vector number vi: packets for sessions first + rnd () % n (the caller seeds rng). */
static void
pool_fill (pool_t *p, uint32_t vi, uint32_t first, uint32_t n)
{
  for (uint32_t j = 0; j < VEC; j++)
    {
      uint32_t k = (vi * VEC + j) % POOL, i = first + rnd () % n;
      uint8_t *d = p->data + (size_t)k * SLOT + p->off;
      if (p->ul)
        {
          upf_wr32 (d + 32, i);                /* TEID */
          upf_wr32 (d + 44 + 12, ue_addr (i)); /* inner source */
        }
      else
        upf_wr32 (d + 16, ue_addr (i)); /* destination */
      p->pkt[j] = p->buf[j] = d;
      p->plen[j] = p->len[k];
    }
}

enum
{
  C_UL_BASE,
  C_UL_FULL,
  C_UL_SCALAR,
  C_DL_BASE,
  C_DL_FULL,
  C_DL_SCALAR,
  C_UL_WORST,
  C_N,
};

static const char *case_name[C_N] = {
  "UL baseline (parse+TEID+decap)",     "UL full pipeline", "UL full, scalar entry point",
  "DL baseline (parse+UE IP+encap)",    "DL full pipeline", "DL full, scalar entry point",
  "UL worst case (64 candidate rules)",
};

/* Each case's vector function is one symbol with everything it calls inlined, so a cache
 * simulator attributes its misses to it by name (valgrind --tool=cachegrind --cache-sim=yes,
 * then cg_annotate): the README gives the cache lines per packet measured that way. */
#define CASE_FN __attribute__ ((noinline, flatten)) static void

/*
 * The baselines look up the same sessions the way the vector entry points do: groups of
 * UPF_VEC_GROUP, software-pipelined (step i: parse group i and prefetch its slots, read the
 * slots of group i - 1 and prefetch their entries, find the entries of group i - 2), then
 * decapsulate (UL) or encapsulate (DL). They read the slot and the entry and nothing else
 * of a session.
 */
typedef struct
{
  upf_outer_t o[UPF_VEC_GROUP];
  upf_gtpu_t g[UPF_VEC_GROUP];
  upf_inner_t in[UPF_VEC_GROUP];
  upf_key_t k[UPF_VEC_GROUP];
  uint64_t h[UPF_VEC_GROUP];
  uint8_t ok[UPF_VEC_GROUP];
} base_group_t;

CASE_FN
ul_baseline_vec (upf_ctx_t *c, pool_t *p, uint64_t *acc)
{
  upf_slots_t *slots = upf_table_slots (&c->ul);
  base_group_t grp[3];
  const uint32_t n_grp = VEC / UPF_VEC_GROUP;
  for (uint32_t i = 0; i < n_grp + 2; i++)
    {
      uint32_t j;
      if (i < n_grp)
        {
          base_group_t *G = &grp[i % 3];
          for (j = 0; j < UPF_VEC_GROUP; j++)
            {
              const uint8_t *d = p->pkt[i * UPF_VEC_GROUP + j];
              G->ok[j]
                = !upf_parse_outer (d, p->plen[i * UPF_VEC_GROUP + j], &G->o[j])
                  && !upf_parse_gtpu (d + G->o[j].payload_offset, G->o[j].payload_len, &G->g[j]);
              if (!G->ok[j])
                continue;
              upf_ul_key (&G->k[j], &G->o[j].dst, G->g[j].teid);
              G->h[j] = upf_key_hash (&G->k[j]);
              upf_slots_prefetch (slots, G->h[j]);
            }
        }
      if (i >= 1 && i - 1 < n_grp)
        {
          base_group_t *G = &grp[(i - 1) % 3];
          for (j = 0; j < UPF_VEC_GROUP; j++)
            if (G->ok[j])
              upf_slots_prefetch_entry (slots, G->h[j]);
        }
      if (i >= 2)
        {
          base_group_t *G = &grp[(i - 2) % 3];
          for (j = 0; j < UPF_VEC_GROUP; j++)
            {
              const upf_entry_t *e = G->ok[j] ? upf_slots_find (slots, &G->k[j], G->h[j]) : 0;
              if (e)
                *acc += (uintptr_t)(p->pkt[(i - 2) * UPF_VEC_GROUP + j] + G->o[j].payload_offset
                                    + G->g[j].header_len)
                        + G->g[j].payload_len + (uintptr_t)e->prog;
            }
        }
    }
}

CASE_FN
dl_baseline_vec (upf_ctx_t *c, pool_t *p, const upf_encap_t *t, uint64_t *acc)
{
  upf_slots_t *slots = upf_table_slots (&c->dl);
  base_group_t grp[3];
  const uint32_t n_grp = VEC / UPF_VEC_GROUP;
  for (uint32_t i = 0; i < n_grp + 2; i++)
    {
      uint32_t j;
      if (i < n_grp)
        {
          base_group_t *G = &grp[i % 3];
          for (j = 0; j < UPF_VEC_GROUP; j++)
            {
              uint32_t x = i * UPF_VEC_GROUP + j;
              G->ok[j] = !upf_parse_inner (p->pkt[x], p->plen[x], &G->in[j])
                         && upf_dl_first_key (&c->dl, 0, &G->in[j].dst, &G->k[j]);
              if (!G->ok[j])
                continue;
              G->h[j] = upf_key_hash (&G->k[j]);
              upf_slots_prefetch (slots, G->h[j]);
            }
        }
      if (i >= 1 && i - 1 < n_grp)
        {
          base_group_t *G = &grp[(i - 1) % 3];
          for (j = 0; j < UPF_VEC_GROUP; j++)
            if (G->ok[j])
              upf_slots_prefetch_entry (slots, G->h[j]);
        }
      if (i >= 2)
        {
          base_group_t *G = &grp[(i - 2) % 3];
          for (j = 0; j < UPF_VEC_GROUP; j++)
            {
              const upf_entry_t *e = G->ok[j] ? upf_slots_find (slots, &G->k[j], G->h[j]) : 0;
              uint8_t *b = p->buf[(i - 2) * UPF_VEC_GROUP + j];
              if (e)
                *acc += upf_encap_write (t, b - t->len, b, G->in[j].total_len, 9, 0, 0)
                        + b[11 - (int)t->len] + (uintptr_t)e->prog;
            }
        }
    }
}

CASE_FN
ul_full_vec (upf_ctx_t *c, pool_t *p, uint64_t now, upf_verdict_t *v)
{
  upf_ul_process_vec (c, &c->stats, p->pkt, p->plen, VEC, now, v);
}

CASE_FN
ul_worst_vec (upf_ctx_t *c, pool_t *p, uint64_t now, upf_verdict_t *v)
{
  upf_ul_process_vec (c, &c->stats, p->pkt, p->plen, VEC, now, v);
}

CASE_FN
dl_full_vec (upf_ctx_t *c, pool_t *p, uint64_t now, upf_verdict_t *v, uint8_t *hlen)
{
  upf_dl_process_vec_encap (c, &c->stats, 0, p->buf, p->plen, VEC, now, v, hlen);
}

/* One vector of case cs; returns the clocks it took and counts forwarded packets. */
static uint64_t
run_vec (upf_ctx_t *c, int cs, pool_t *p, const upf_encap_t *t, uint64_t now, uint64_t *fwd)
{
  static upf_verdict_t v[VEC];
  static uint8_t hlen[VEC]; /* DL: outer header lengths */
  uint64_t acc = 0, t0, t1, f = 0;
  t0 = clocks ();
  switch (cs)
    {
    case C_UL_BASE:
      ul_baseline_vec (c, p, &acc);
      break;
    case C_DL_BASE:
      dl_baseline_vec (c, p, t, &acc);
      break;
    case C_UL_FULL:
    case C_UL_WORST:
    case C_UL_SCALAR:
      upf_reader_enter (&c->epoch, 0);
      if (cs == C_UL_SCALAR)
        for (uint32_t j = 0; j < VEC; j++)
          upf_ul_process (c, &c->stats, p->pkt[j], p->plen[j], now, &v[j]);
      else
        (cs == C_UL_WORST ? ul_worst_vec : ul_full_vec) (c, p, now, v);
      for (uint32_t j = 0; j < VEC; j++)
        if (v[j].verdict == UPF_VERDICT_FORWARD)
          {
            f++;
            acc += (uintptr_t)(p->pkt[j] + v[j].inner_offset) + v[j].inner_len + v[j].pdr_id;
          }
      upf_reader_exit (&c->epoch, 0);
      break;
    default:
      upf_reader_enter (&c->epoch, 0);
      if (cs == C_DL_SCALAR)
        for (uint32_t j = 0; j < VEC; j++)
          {
            upf_dl_process (c, &c->stats, 0, p->pkt[j], p->plen[j], now, &v[j]);
            hlen[j] = 0;
          }
      else
        dl_full_vec (c, p, now, v, hlen);
      /* the outer header goes into the packet's headroom: the vector entry point wrote it
       * in its pass; after the scalar entry point the caller writes it */
      for (uint32_t j = 0; j < VEC; j++)
        {
          uint8_t *b = p->buf[j];
          if (v[j].verdict != UPF_VERDICT_FORWARD || !v[j].encap)
            continue;
          f++;
          if (!hlen[j])
            hlen[j]
              = (uint8_t)upf_encap_write (v[j].encap, b - upf_encap_len (v[j].encap, v[j].ppi), b,
                                          v[j].inner_len, v[j].qfi, v[j].rqi, v[j].ppi);
          acc += hlen[j] + b[11 - (int)hlen[j]];
        }
      upf_reader_exit (&c->epoch, 0);
      break;
    }
  t1 = clocks ();
  sink += acc;
  *fwd += f;
  return t1 - t0;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median of x[0..n-1] (reorders x). */
static double
median (double *x, uint64_t n)
{
  qsort (x, n, sizeof (double), cmp_double);
  return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

static int
bench_size (uint32_t n_sess, unsigned rounds, uint64_t pkts_per_round, double ghz)
{
  size_t heap0 = heap_in_use (), heap1;
  upf_ctx_t *c = upfcore_ctx_new (n_sess + N_WORST);
  double t0 = now_s (), med[C_N], ns[C_N][64];
  uint64_t fwd[C_N], n_vec = pkts_per_round / VEC, now = 1;
  double *vclk = malloc (n_vec * sizeof (double));
  upf_encap_t tmpl;
  upf_ip_t a = upf_ip4 (N3_UPF), b = upf_ip4 (N3_GNB);

  if (!c || !vclk)
    return -1;
  for (uint32_t i = 0; i < n_sess; i++)
    if (install_session (c, i, 0) < 0)
      return -1;
  heap1 = heap_in_use ();
  for (uint32_t i = 0; i < N_WORST; i++)
    if (install_session (c, n_sess + i, 1) < 0)
      return -1;
  printf ("core_bench: %u sessions x %u SDF filters (+%u worst-case sessions x 63), setup %.1f s, "
          "RSS %ld MiB\n",
          n_sess, N_FILTERS, N_WORST, now_s () - t0, rss_mib ());
  printf ("  %.0f bytes per session (heap in use / sessions, tables included); TSC %.2f GHz; "
          "%u rounds x %lu packets per case, vectors of %u\n",
          (double)(heap1 - heap0) / n_sess, ghz, rounds, (unsigned long)(n_vec * VEC), VEC);
  upf_encap_init (&tmpl, &a, &b, 1, 1, 46);
  memset (fwd, 0, sizeof (fwd));
  for (unsigned r = 0; r < rounds; r++)
    {
      uint64_t seed = 0x5eed0000ULL + r;
      for (int cs = 0; cs < C_N; cs++)
        {
          pool_t *p = cs == C_UL_WORST ? &pools[2] : cs >= C_DL_BASE ? &pools[1] : &pools[0];
          uint32_t first = cs == C_UL_WORST ? n_sess : 0, n = cs == C_UL_WORST ? N_WORST : n_sess;
          rng = seed; /* every case of a round sees the same sessions in the same order */
          for (uint64_t vi = 0; vi < n_vec; vi++)
            {
              pool_fill (p, (uint32_t)vi, first, n);
              vclk[vi] = (double)run_vec (c, cs, p, &tmpl, now += 1000, &fwd[cs]);
            }
          ns[cs][r] = median (vclk, n_vec) / ghz / VEC;
        }
    }
  printf ("  %-36s %9s %9s %19s %8s\n", "case (median over rounds)", "ns/pkt", "clk/pkt",
          "spread min..max ns", "x base");
  for (int cs = 0; cs < C_N; cs++)
    {
      double sorted[64];
      memcpy (sorted, ns[cs], rounds * sizeof (double));
      med[cs] = median (sorted, rounds);
      char extra[48] = "";
      if (cs != C_UL_BASE && cs != C_DL_BASE)
        snprintf (extra, sizeof (extra), "  (%.0f%% forwarded)",
                  100.0 * (double)fwd[cs] / (double)(rounds * n_vec * VEC));
      printf ("  %-36s %9.1f %9.0f %8.1f..%-8.1f %8.2f%s\n", case_name[cs], med[cs], med[cs] * ghz,
              sorted[0], sorted[rounds - 1],
              med[cs] / med[cs >= C_DL_BASE && cs != C_UL_WORST ? C_DL_BASE : C_UL_BASE], extra);
    }
  printf ("UL full / UL baseline = %.2f (target < 2.0); DL full / DL baseline = %.2f\n",
          med[C_UL_FULL] / med[C_UL_BASE], med[C_DL_FULL] / med[C_DL_BASE]);
  upfcore_ctx_delete (c);
  free (vclk);
  malloc_trim (0);
  return 0;
}

int
main (int argc, char **argv)
{
  uint32_t sizes[16] = { 10000, 100000, 1000000 };
  unsigned n_sizes = 3, rounds;
  uint64_t pkts;
  double t0 = now_s (), ghz;
  if (argc > 1 && !strcmp (argv[1], "install"))
    return bench_install (argc > 2 ? (uint32_t)strtoul (argv[2], 0, 0) : 20000,
                          argc > 3 ? strtod (argv[3], 0) : 0)
           < 0;
  if (argc > 1)
    for (n_sizes = 0; n_sizes < 16 && (int)n_sizes + 1 < argc; n_sizes++)
      sizes[n_sizes] = (uint32_t)strtoul (argv[n_sizes + 1], 0, 0);
  rounds = getenv ("UPF_BENCH_ROUNDS") ? (unsigned)atoi (getenv ("UPF_BENCH_ROUNDS")) : 9;
  if (rounds < 1 || rounds > 64)
    rounds = 9;
  pkts = getenv ("UPF_BENCH_PKTS") ? strtoull (getenv ("UPF_BENCH_PKTS"), 0, 0) : 131072;
  if (pkts < VEC)
    pkts = VEC;
  ghz = tsc_ghz ();
  rng = 1;
  pool_init (&pools[0], 1, 0);
  pool_init (&pools[1], 0, 0);
  pool_init (&pools[2], 1, 1);
  for (unsigned i = 0; i < n_sizes; i++)
    if (bench_size (sizes[i], rounds, pkts, ghz) < 0)
      return 1;
  printf ("total %.1f s, RSS %ld MiB\n", now_s () - t0, rss_mib ());
  return 0;
}
