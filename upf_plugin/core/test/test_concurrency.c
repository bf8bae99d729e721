/*
 * The URR marks: a packet thread and the control plane set and clear different bits of the
 * same flags words (upf_urrs_set / upf_urrs_clear) at once; no mark is lost.
 *
 * Single writer, many readers: reader threads push packets through the UL/DL entry points,
 * entering and leaving epochs around batches, while the writer keeps replacing programs,
 * adding and deleting sessions and reclaiming. Under the ASan build a reader touching a freed
 * program, entry or slot array aborts the test; every packet of the stable session must be
 * forwarded by one of the programs the writer published, never half of one.
 * (Both readers count into the same URR here, which the design leaves to one thread per
 * session's state: counts may be lost, which this test does not look at.)
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include "test_util.h"

#define N3_UPF IP4 (10, 200, 0, 2)
#define UE IP4 (10, 45, 0, 7)

static upf_ctx_t *ctx;
static atomic_int stop, started;
static atomic_ulong forwarded, bad;

static void
make_prog (upf_pdr_t *pdr, upf_far_t *far, upf_urr_t *urr, upf_program_desc_t *d, uint32_t teid,
           uint32_t ue, uint32_t gen)
{
  memset (pdr, 0, 2 * sizeof (*pdr));
  memset (far, 0, 2 * sizeof (*far));
  memset (urr, 0, sizeof (*urr));
  pdr[0] = (upf_pdr_t){ .pdr_id = 1,
                        .precedence = 1,
                        .source_interface = UPF_IF_ACCESS,
                        .pdi_flags = UPF_PDI_FTEID,
                        .teid = teid,
                        .fteid_addr = upf_ip4 (N3_UPF),
                        .far_id = 1,
                        .urr_id = { 1 } };
  pdr[1] = (upf_pdr_t){ .pdr_id = 2,
                        .precedence = 1,
                        .source_interface = UPF_IF_CORE,
                        .pdi_flags = UPF_PDI_UE_IP,
                        .ue_ip = upf_ip4 (ue),
                        .ue_ip_plen = 128,
                        .far_id = 2,
                        .urr_id = { 1 } };
  /* the FAR id encodes the generation: readers check they saw a coherent program */
  far[0] = (upf_far_t){ .far_id = 1000 + gen, .apply_action = UPF_AA_FORW };
  far[1] = (upf_far_t){ .far_id = 2,
                        .apply_action = UPF_AA_FORW,
                        .ohc = UPF_OHC_GTPU,
                        .ohc_teid = gen,
                        .ohc_peer = upf_ip4 (1),
                        .ohc_src = upf_ip4 (2),
                        .dscp = UPF_DSCP_NONE };
  pdr[0].far_id = far[0].far_id;
  urr->urr_id = 1;
  *d = (upf_program_desc_t){
    .pdr = pdr, .far = far, .urr = urr, .n_pdr = 2, .n_far = 2, .n_urr = 1
  };
}

static void *
reader (void *arg)
{
  unsigned id = (unsigned)(uintptr_t)arg;
  uint8_t in[128], pkt[256], out[512];
  upf_verdict_t v;
  upf_stats_t st; /* each reader thread counts into its own block */
  memset (&st, 0, sizeof (st));
  uint32_t il = mk_inner4 (in, UE, IP4 (8, 8, 8, 8), UPF_PROTO_UDP, 1, 2, 8);
  uint32_t n = mk_gtpu4 (pkt, 1, N3_UPF, 0x100, -1, in, il);
  uint32_t dl = mk_inner4 (in, IP4 (8, 8, 8, 8), UE, UPF_PROTO_UDP, 2, 1, 8);
  atomic_fetch_add (&started, 1);
  while (!atomic_load (&stop))
    {
      upf_reader_enter (&ctx->epoch, id);
      for (int i = 0; i < 64; i++)
        {
          upf_ul_process (ctx, &st, pkt, n, 1, &v);
          if (v.verdict == UPF_VERDICT_FORWARD && v.far_id >= 1000)
            atomic_fetch_add (&forwarded, 1);
          else
            atomic_fetch_add (&bad, 1);
          upf_dl_process (ctx, &st, 0, in, dl, 1, &v);
          if (v.verdict != UPF_VERDICT_FORWARD || !v.encap)
            atomic_fetch_add (&bad, 1);
          else
            upf_encap_write (v.encap, out, in, v.inner_len, 0, 0, 0);
          /* churned sessions: any verdict, but no crash */
          upf_ul_process (ctx, &st, pkt, n, 1, &v);
        }
      upf_reader_exit (&ctx->epoch, id);
    }
  return 0;
}

static void
test_readers_during_updates (void **st)
{
  upf_pdr_t pdr[2];
  upf_far_t far[2];
  upf_urr_t urr;
  upf_program_desc_t d;
  char err[128];
  pthread_t th[2];
  (void)st;
  ctx = upfcore_ctx_new (4); /* small: forces table growth (slot array swaps) */
  upf_session_t *s = upfcore_session_create (ctx, 1);
  make_prog (pdr, far, &urr, &d, 0x100, UE, 0);
  assert_int_equal (upfcore_session_install (ctx, s, &d, err, sizeof (err)), 0);
  for (uintptr_t i = 0; i < 2; i++)
    assert_int_equal (pthread_create (&th[i], 0, reader, (void *)(i + 1)), 0);
  /* on a loaded machine the readers may not run at once: swap only once they do */
  while (atomic_load (&started) < 2)
    sched_yield ();
  upf_session_t *churn[64] = { 0 };
  for (uint32_t gen = 1; gen <= 3000; gen++)
    {
      make_prog (pdr, far, &urr, &d, 0x100, UE, gen);
      assert_int_equal (upfcore_session_install (ctx, s, &d, err, sizeof (err)), 0);
      unsigned k = gen % 64;
      if (churn[k])
        upfcore_session_delete (ctx, churn[k]);
      churn[k] = upfcore_session_create (ctx, 100 + gen);
      make_prog (pdr, far, &urr, &d, 0x1000 + gen, IP4 (10, 46, gen >> 8, gen & 0xff), gen);
      assert_int_equal (upfcore_session_install (ctx, churn[k], &d, err, sizeof (err)), 0);
      upfcore_reclaim (ctx);
    }
  atomic_store (&stop, 1);
  for (int i = 0; i < 2; i++)
    pthread_join (th[i], 0);
  printf ("# %lu UL packets forwarded by readers during 3000 program swaps\n",
          (unsigned long)atomic_load (&forwarded));
  assert_int_equal (atomic_load (&bad), 0);
  assert_true (atomic_load (&forwarded) > 0);
  upfcore_ctx_delete (ctx);
}

/*
 * Two threads on one URR state, each setting its own mark, checking it is there in both
 * lines, clearing it and checking it is gone. Thread 0 stands for the packet path (a volume
 * quota's event: upf_urr_check's set). Thread 1 stands for the control plane's write that
 * runs alongside packets: an install's re-arm that does not hold the packet threads
 * (urr_rearm clearing a time quota's used-up mark, which upf_session_rearms leaves unheld);
 * its set, the tick's in the plugin, never runs alongside packets there and is here only to
 * give the clear a mark to clear. A read-modify-write that is not atomic loses the other
 * thread's set or clear.
 *
 * The rounds count only while both threads run: each publishes how many rounds it has
 * done, and a round counts as overlapping when the other's count moved during it. Both run
 * until each has MARK_ROUNDS overlapping rounds, or until MARK_DEADLINE_NS have passed.
 */
#define MARK_ROUNDS 50000
#define MARK_DEADLINE_NS 2000000000ULL
static upf_state_t mark_state __attribute__ ((aligned (64)));
static atomic_int mark_ready;
/* each thread's rounds done and rounds overlapping the other's, on a line of its own */
static struct
{
  atomic_ulong done, overlapped;
} __attribute__ ((aligned (64))) mark_progress[2];

typedef struct
{
  unsigned self;
  uint32_t f;
  unsigned long lost, rounds, overlapped;
} marker_t;

static uint64_t
mono_ns (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static int
mark_in_both (uint32_t f)
{
  return (__atomic_load_n (&mark_state.d[UPF_DIR_UL].flags, __ATOMIC_RELAXED) & f) == f
         && (__atomic_load_n (&mark_state.d[UPF_DIR_DL].flags, __ATOMIC_RELAXED) & f) == f;
}

static int
mark_in_either (uint32_t f)
{
  return ((__atomic_load_n (&mark_state.d[UPF_DIR_UL].flags, __ATOMIC_RELAXED)
           | __atomic_load_n (&mark_state.d[UPF_DIR_DL].flags, __ATOMIC_RELAXED))
          & f)
         != 0;
}

static void *
marker (void *arg)
{
  marker_t *m = arg;
  atomic_ulong *done = &mark_progress[m->self].done, *other = &mark_progress[!m->self].done;
  unsigned long n = 0, overlapped = 0;
  uint64_t deadline;
  atomic_fetch_add (&mark_ready, 1);
  while (atomic_load (&mark_ready) < 2)
    ;
  deadline = mono_ns () + MARK_DEADLINE_NS;
  while (overlapped < MARK_ROUNDS
         || atomic_load_explicit (&mark_progress[!m->self].overlapped, memory_order_relaxed)
              < MARK_ROUNDS)
    {
      unsigned long before = atomic_load_explicit (other, memory_order_relaxed);
      upf_urrs_set (&mark_state, m->f);
      m->lost += !mark_in_both (m->f);
      upf_urrs_clear (&mark_state, m->f);
      m->lost += mark_in_either (m->f);
      atomic_store_explicit (done, ++n, memory_order_relaxed);
      if (atomic_load_explicit (other, memory_order_relaxed) != before)
        atomic_store_explicit (&mark_progress[m->self].overlapped, ++overlapped,
                               memory_order_relaxed);
      if (!(n & 1023) && mono_ns () > deadline)
        break;
    }
  m->rounds = n;
  m->overlapped = overlapped;
  return 0;
}

static void
test_urr_marks_concurrent (void **st)
{
  pthread_t th[2];
  cpu_set_t cpus;
  uint64_t t0;
  /* the packet path's (upf_urr_check) and the control plane's (urr_rearm) */
  marker_t m[2] = { { .self = 0, .f = UPF_URRS_QUOTA_EXHAUSTED | UPF_URRS_QUOTA_RAISED },
                    { .self = 1, .f = UPF_URRS_TIME_QUOTA_EXHAUSTED } };
  int cpu[2], n_cpu = 0;
  (void)st;
  assert_int_equal (sched_getaffinity (0, sizeof (cpus), &cpus), 0);
  for (int c = 0; c < CPU_SETSIZE && n_cpu < 2; c++)
    if (CPU_ISSET (c, &cpus))
      cpu[n_cpu++] = c;
  if (n_cpu < 2)
    {
      printf ("# skipped: one CPU, the two threads' rounds would not run at once\n");
      skip ();
    }
  t0 = mono_ns ();
  /* one CPU each: the scheduler would otherwise leave both on one CPU while another
   * process keeps the other busy */
  for (int i = 0; i < 2; i++)
    {
      pthread_attr_t a;
      cpu_set_t one;
      CPU_ZERO (&one);
      CPU_SET (cpu[i], &one);
      assert_int_equal (pthread_attr_init (&a), 0);
      assert_int_equal (pthread_attr_setaffinity_np (&a, sizeof (one), &one), 0);
      assert_int_equal (pthread_create (&th[i], &a, marker, &m[i]), 0);
      pthread_attr_destroy (&a);
    }
  for (int i = 0; i < 2; i++)
    assert_int_equal (pthread_join (th[i], 0), 0);
  printf ("# marks lost: %lu (packet path), %lu (control plane); rounds overlapping the other "
          "thread's: %lu of %lu, %lu of %lu; %.0f ms\n",
          m[0].lost, m[1].lost, m[0].overlapped, m[0].rounds, m[1].overlapped, m[1].rounds,
          (double)(mono_ns () - t0) / 1e6);
  assert_int_equal (m[0].lost, 0);
  assert_int_equal (m[1].lost, 0);
  if (m[0].overlapped < MARK_ROUNDS || m[1].overlapped < MARK_ROUNDS)
    {
      printf ("# skipped: fewer than %d rounds of each thread overlapped the other's within "
              "%llu ms (a loaded machine): too few to find lost marks\n",
              MARK_ROUNDS, MARK_DEADLINE_NS / 1000000);
      skip ();
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = { cmocka_unit_test (test_urr_marks_concurrent),
                                      cmocka_unit_test (test_readers_during_updates) };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
