/*
 * upf_session.c: writer-side session management (install / replace / delete a program),
 * DL buffer handling and time-driven URR/BAR work.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "upf_core.h"
#include "upf_mem.h"

#define UPF_DEFAULT_BUFFER_BYTES (64 * 1024)

int
upf_ctx_init (upf_ctx_t *ctx, uint32_t expected_sessions)
{
  memset (ctx, 0, sizeof (*ctx));
  atomic_store (&ctx->epoch.epoch, 1);
  if (upf_table_init (&ctx->ul, expected_sessions) < 0)
    return -ENOMEM;
  if (upf_table_init (&ctx->dl, expected_sessions) < 0)
    {
      upf_table_free (&ctx->ul);
      return -ENOMEM;
    }
  return 0;
}

void
upf_ctx_free (upf_ctx_t *ctx)
{
  while (ctx->sessions)
    upf_session_delete (ctx, ctx->sessions);
  /* no reader is left: everything retired can go */
  for (unsigned i = 0; i < UPF_MAX_READERS; i++)
    atomic_store (&ctx->epoch.reader[i], 0);
  upf_epoch_reclaim (&ctx->epoch);
  upf_table_free (&ctx->ul);
  upf_table_free (&ctx->dl);
}

upf_session_t *
upf_session_create (upf_ctx_t *ctx, uint64_t seid)
{
  upf_session_t *s = upf_calloc (1, sizeof (*s));
  if (!s)
    return 0;
  s->seid = seid;
  s->next = ctx->sessions;
  if (s->next)
    s->next->prev = s;
  ctx->sessions = s;
  return s;
}

/* Table keys of a program: its entries' (upf_program_build). */
typedef struct
{
  upf_key_t k;
  uint8_t dl;
} key_ref_t;

static unsigned
program_keys (const upf_program_t *p, key_ref_t *out)
{
  unsigned n = p ? p->n_entry : 0, i;
  for (i = 0; i < n; i++)
    {
      out[i].k = upf_prog_entry ((upf_program_t *)p, i)->key;
      out[i].dl = out[i].k.dl;
    }
  return n;
}

static int
has_key (const key_ref_t *ks, unsigned n, const key_ref_t *k)
{
  for (unsigned i = 0; i < n; i++)
    if (ks[i].dl == k->dl && upf_key_eq (&ks[i].k, &k->k))
      return 1;
  return 0;
}

static upf_table_t *
key_table (upf_ctx_t *ctx, const key_ref_t *k)
{
  return k->dl ? &ctx->dl : &ctx->ul;
}

static unsigned
program_retired (upf_retired_t *r)
{
  upf_program_t *p = upf_container_of (r, upf_program_t, retire);
  unsigned n = 1u + p->n_entry; /* the program and the table entries inside it */
  upf_program_free (p);
  return n;
}

/* The state block holding the URR (kind UPF_STATE_URR) or QER with this id, or NULL. */
static upf_state_t *
state_find (upf_state_t *l, uint32_t kind, uint32_t id)
{
  for (; l; l = l->next)
    if ((l->d[UPF_DIR_UL].flags & UPF_STATE_USED (kind))
        && (kind == UPF_STATE_URR ? l->urr_id : l->qer_id) == id)
      return l;
  return 0;
}

/* The state block of this URR (QER): the session's (kept across programs), one already made
 * for this install, else a new one put on *fresh; a new QER goes into the block of a new URR
 * (first choice: pref, the block of the URR its first PDR uses) whose QER half is free.
 * NULL = out of memory. */
static upf_state_t *
state_find_or_new (upf_state_t *kept, upf_state_t **fresh, uint32_t kind, uint32_t id,
                   upf_state_t *pref)
{
  upf_state_t *l = state_find (kept, kind, id);
  if (l || (l = state_find (*fresh, kind, id)))
    return l;
  if (kind == UPF_STATE_QER)
    {
      uint32_t q = UPF_STATE_USED (UPF_STATE_QER);
      if (pref && !(pref->d[UPF_DIR_UL].flags & q)
          && state_find (*fresh, UPF_STATE_URR, pref->urr_id) == pref)
        l = pref;
      for (upf_state_t *f = *fresh; f && !l; f = f->next)
        if (!(f->d[UPF_DIR_UL].flags & q))
          l = f;
      if (l)
        {
          l->qer_id = id;
          l->d[UPF_DIR_UL].flags |= q; /* a fresh block: no reader yet */
          return l;
        }
    }
  if (!(l = upf_calloc_lines (sizeof (upf_state_t))))
    return 0;
  if (kind == UPF_STATE_URR)
    l->urr_id = id;
  else
    l->qer_id = id;
  l->d[UPF_DIR_UL].flags = UPF_STATE_USED (kind);
  l->next = *fresh;
  *fresh = l;
  return l;
}

static void
state_list_free (upf_state_t *l)
{
  while (l)
    {
      upf_state_t *n = l->next;
      upf_free_lines (l, sizeof (upf_state_t));
      l = n;
    }
}

/* Put the list fresh in front of *list. */
static void
state_list_join (upf_state_t **list, upf_state_t *fresh)
{
  upf_state_t *l = fresh;
  if (!l)
    return;
  while (l->next)
    l = l->next;
  l->next = *list;
  *list = fresh;
}

/* 1 if the URR's counts reach one of r's volume quotas. */
static int
urr_vol_quota_reached (const upf_urr_state_t *u, const upf_urr_t *r)
{
  for (unsigned k = 0; k < 3; k++)
    if (r->vol_quota[k] && upf_urr_vol (u, k) >= r->vol_quota[k])
      return 1;
  return 0;
}

/*
 * New threshold values (b, the URR's in the program installed; a, in the one it replaces)
 * re-arm their one-shot events (a new time quota re-arms its own: urr_tq_rearm). A program
 * arming a volume quota the URR's counts do not reach clears its mark (a new quota:
 * forwarded, its own event when reached; pfcpd gives the datapath a quota less what was
 * read of it, so a genuine grant is never reached at install). One the counts reach is
 * marked used up without an event when the quota's event was raised since the counts' last
 * reset (UPF_URRS_QUOTA_RAISED: the same value again, another value they reach, the quota
 * put back by a rolled-back change: the exhaustion that event reports; TS 29.244 5.2.2.2.1,
 * reported once, not forwarded until a new quota), else cleared, so that the next packet raises the
 * event (the counts passed the quota under a program that armed another, or its event was
 * deferred). A program arming none (the measurement paused: INAM) keeps the mark, without effect
 * there (upf_urr_quota_drops).
 */
static void
urr_rearm_marks (const upf_urr_state_t *u, uint32_t f, const upf_urr_t *a, const upf_urr_t *b,
                 uint32_t *clr, uint32_t *set)
{
  *clr = *set = 0;
  if (memcmp (a->vol_threshold, b->vol_threshold, sizeof (a->vol_threshold))
      || a->time_threshold_ns != b->time_threshold_ns)
    *clr |= UPF_URRS_THRESHOLD_REPORTED | UPF_URRS_TIME_THRESHOLD_REPORTED;
  if (upf_urr_vol_quota_armed (b))
    {
      if (urr_vol_quota_reached (u, b) && (f & UPF_URRS_QUOTA_RAISED))
        *set |= UPF_URRS_QUOTA_EXHAUSTED;
      else
        *clr |= UPF_URRS_QUOTA_EXHAUSTED;
    }
}

/* Both lines' flags, UPF_URRS_QUOTA_RAISED included. Acquiring: the counts read after them
 * are at least those the packet that set a mark had counted (upf_urrs_dir_set releases). */
static uint32_t
urr_marks (const upf_urr_state_t *u)
{
  return (__atomic_load_n (&u->d[UPF_DIR_UL].flags, __ATOMIC_ACQUIRE)
          | __atomic_load_n (&u->d[UPF_DIR_DL].flags, __ATOMIC_ACQUIRE))
         & ~(UPF_URRS_SEEN | UPF_STATE_USED (UPF_STATE_URR) | UPF_STATE_USED (UPF_STATE_QER));
}

/*
 * The Time Quota of a URR's state u when a program arming b replaces one arming a (NULL: the
 * URR is new, or comes back after a program without it: a new quota). The grant of the
 * quota metered (tq_grant) tells a new quota (TS 29.244 5.2.2.2.1): another grant, or
 * another value under the same grant. A new quota starts now when the URR's time metering
 * runs (a packet seen, or a period started by a read with reset), else with the metering;
 * the install has no clock: the next tick or read with reset starts it with theirs
 * (tq_start_ns). Its mark is cleared (forwarded until it is used up in turn), and the quota
 * it replaces is kept (tq_prev_ns: its start, or UPF_TQ_SPENT when used up; tq_prev_grant)
 * for a program that puts that grant back (the grant undone: a change refused after its
 * install), which continues it as it was: from its own start, used up if it was.
 * A program arming no time quota (b->time_quota_ns 0: the measurement paused, INAM) holds
 * the quota (UPF_TQ_HELD | UPF_TQ_SINCE | its start, until a tick or read with reset, which
 * know the time, make it UPF_TQ_HELD | the time used; UPF_TQ_HELD alone: none used, the
 * quota armed, or not started with the metering yet), its mark kept without effect there
 * (upf_urr_quota_drops); one arming it again under the same grant (the measurement resumed,
 * TS 29.244 5.2.2.3.1) continues it with the time left: from the next tick or read with
 * reset, their clock less the time used (urr_tq_clock).
 */
static void
urr_tq_rearm (upf_urr_state_t *u, const upf_urr_t *a, const upf_urr_t *b, uint32_t f)
{
  uint64_t t = u->tq_start_ns;
  int held = t != UPF_TQ_ARMED && (t & UPF_TQ_HELD);
  if (!t) /* the quota starts with the metering: with it, if it has started (its start as it
           * is now: a read with reset moves the metering's) */
    t = u->start_ns ? u->start_ns : upf_urrs_first (u);
  if (!b->time_quota_ns)
    {
      if (a && a->time_quota_ns && !held)
        u->tq_start_ns = t && t != UPF_TQ_ARMED ? UPF_TQ_HELD | UPF_TQ_SINCE | t : UPF_TQ_HELD;
      return;
    }
  if (a && b->time_quota_grant == u->tq_grant
      && (held || (a->time_quota_ns && a->time_quota_ns == b->time_quota_ns)))
    {
      /* the same quota, resumed (held for no tick: its pause not timed) or going on */
      if (held && (t & UPF_TQ_SINCE))
        u->tq_start_ns = t & ~(UPF_TQ_HELD | UPF_TQ_SINCE);
      return;
    }
  if (a && b->time_quota_grant != u->tq_grant && b->time_quota_grant == u->tq_prev_grant
      && u->tq_prev_ns != UPF_TQ_NONE)
    {
      /* the grant undone: the quota before it continues */
      int spent = u->tq_prev_ns == UPF_TQ_SPENT;
      u->tq_start_ns = spent ? 0 : u->tq_prev_ns;
      u->tq_grant = b->time_quota_grant;
      u->tq_prev_ns = UPF_TQ_NONE;
      if (spent && !(f & UPF_URRS_TIME_QUOTA_EXHAUSTED))
        upf_urrs_set (u, UPF_URRS_TIME_QUOTA_EXHAUSTED);
      else if (!spent && (f & UPF_URRS_TIME_QUOTA_EXHAUSTED))
        upf_urrs_clear (u, UPF_URRS_TIME_QUOTA_EXHAUSTED);
      return;
    }
  /* a new quota */
  if (a && b->time_quota_grant != u->tq_grant)
    {
      u->tq_prev_ns = f & UPF_URRS_TIME_QUOTA_EXHAUSTED ? UPF_TQ_SPENT : t;
      u->tq_prev_grant = u->tq_grant;
    }
  else
    u->tq_prev_ns = UPF_TQ_NONE;
  u->tq_grant = b->time_quota_grant;
  u->tq_start_ns = u->start_ns || upf_urrs_first (u) ? UPF_TQ_ARMED : 0;
  if (f & UPF_URRS_TIME_QUOTA_EXHAUSTED)
    upf_urrs_clear (u, UPF_URRS_TIME_QUOTA_EXHAUSTED);
}

/* The Time Quota's start where the clock of a tick or read with reset (now_ns) starts or
 * resumes it (r: the URR in force, NULL = none): an armed quota starts, one held resumes
 * (the time used before its pause counted: it starts that long before now), one held
 * under a program arming none is timed (the time it was used, its pause seen now). */
static void
urr_tq_clock (upf_urr_state_t *u, const upf_urr_t *r, uint64_t now_ns)
{
  uint64_t t = u->tq_start_ns, used;
  if (t == UPF_TQ_ARMED)
    {
      u->tq_start_ns = now_ns;
      return;
    }
  if (!(t & UPF_TQ_HELD))
    return;
  if (t & UPF_TQ_SINCE)
    {
      t &= ~(UPF_TQ_HELD | UPF_TQ_SINCE);
      if (r && r->time_quota_ns)
        u->tq_start_ns = t;
      else
        u->tq_start_ns = UPF_TQ_HELD | (now_ns > t ? now_ns - t : 0);
      return;
    }
  if (r && r->time_quota_ns)
    {
      used = t & ~UPF_TQ_HELD;
      u->tq_start_ns = now_ns > used ? now_ns - used : 1;
    }
}

/* Writes only the marks that change: an install that leaves a mark as it is does not touch
 * its bit, whatever the packet path does to it meanwhile (upf_session_rearms). The time
 * quota's: urr_tq_rearm. */
static void
urr_rearm (upf_urr_state_t *u, const upf_urr_t *a, const upf_urr_t *b, int kept)
{
  uint32_t f = urr_marks (u), clr, set;
  urr_rearm_marks (u, f, a, b, &clr, &set);
  urr_tq_rearm (u, kept ? a : 0, b, f);
  if (f & clr)
    upf_urrs_clear (u, f & clr);
  if (set & ~f)
    upf_urrs_set (u, set & ~f);
}

/* The URR of the same id in p, else (none: a new URR, or one that comes back) 0. */
static const upf_urr_t *
urr_of (const upf_program_t *p, uint32_t urr_id)
{
  for (unsigned j = 0; p && j < p->n_urr; j++)
    if (p->urr[j].urr_id == urr_id)
      return &p->urr[j];
  return 0;
}

/*
 * The packet path sets UPF_URRS_THRESHOLD_REPORTED and UPF_URRS_QUOTA_EXHAUSTED (with
 * UPF_URRS_QUOTA_RAISED) under the program in force, until its thread sees the new one: after
 * the install's re-arm when it does not hold that thread. The time marks are the control
 * plane's alone (upf_session_tick), which the atomic clear keeps apart from the packet's
 * marks. So the install holds the packet threads when its re-arm of a URR the program in
 * force has could be undone by such a packet, or decided otherwise because of one:
 * - new thresholds (the mark cleared; a packet under the old ones sets it again);
 * - an armed volume quota, unless it is the old program's (same values) and the marks are
 *   one of the two stable states: neither used up nor raised (the re-arm leaves both
 *   clear; a packet reaching the quota sets both, which the re-arm then leaves set), or
 *   both with the counts reaching it (left set: no packet changes them). Any other state
 *   (used up after a reset, raised but re-armed for a later quota) or another quota is
 *   decided by the counts and marks that a packet of the old program changes.
 * A URR the program in force does not have needs neither: a new one (its state is new), or
 * one that comes back, which relies on the install that ended it having held the packet
 * threads (the VPP plugin does for every install that ends URRs, to read their final
 * counts: drops_urr in upf.c), so no packet of a program that counted into its state is
 * still running.
 */
int
upf_session_rearms (upf_session_t *s, const upf_urr_t *urr, unsigned n_urr)
{
  const upf_program_t *old = atomic_load (&s->prog);
  for (unsigned i = 0; i < n_urr; i++)
    {
      const upf_urr_t *b = &urr[i], *a = urr_of (old, b->urr_id);
      upf_urr_state_t *u = state_find (s->states, UPF_STATE_URR, b->urr_id);
      uint32_t f, clr, set, q = UPF_URRS_QUOTA_EXHAUSTED | UPF_URRS_QUOTA_RAISED;
      /* a new URR, or one that comes back: no packet still running counts into its state */
      if (!u || !a)
        continue;
      f = urr_marks (u);
      urr_rearm_marks (u, f, a, b, &clr, &set);
      if (clr & UPF_URRS_THRESHOLD_REPORTED)
        return 1;
      if (upf_urr_vol_quota_armed (b)
          && !(upf_urr_vol_quota_armed (a)
               && !memcmp (a->vol_quota, b->vol_quota, sizeof (a->vol_quota))
               && ((f & q) == 0 || ((f & q) == q && (set & UPF_URRS_QUOTA_EXHAUSTED)))))
        return 1;
    }
  return 0;
}

/* The FAR PDR pdr_id maps to in a program: its id and apply action (found 0: no such PDR). */
typedef struct
{
  uint32_t far_id;
  uint8_t apply_action;
  uint8_t found;
} pdr_far_t;

/* The FAR of p's PDR rule i. */
static pdr_far_t
rule_far (const upf_program_t *p, unsigned i)
{
  const upf_far_rt_t *f = &p->far[p->rule[i].far];
  return (pdr_far_t){ .far_id = f->far_id, .apply_action = f->apply_action, .found = 1 };
}

/* The FAR of PDR pdr_id in p (a program), or else in d (a descriptor, whose PDR names a FAR
 * its FARs do not have only when its build refuses it: as no PDR). */
static pdr_far_t
pdr_far (const upf_program_t *p, const upf_program_desc_t *d, uint32_t pdr_id)
{
  unsigned i, j;
  for (i = 0; p && i < p->n_pdr; i++)
    if (p->rule[i].pdr_id == pdr_id)
      return rule_far (p, i);
  for (i = 0; !p && d && i < d->n_pdr; i++)
    if (d->pdr[i].pdr_id == pdr_id)
      {
        for (j = 0; j < d->n_far; j++)
          if (d->far[j].far_id == d->pdr[i].far_id)
            return (pdr_far_t){ .far_id = d->far[j].far_id,
                                .apply_action = d->far[j].apply_action,
                                .found = 1 };
        break;
      }
  return (pdr_far_t){ 0 };
}

/* 1 if installing a FAR of this id and apply action in s re-arms the one-shot DL data
 * report: s has a DL buffer and old, the program in force, has a FAR of the id with another
 * apply action. */
static int
far_rearms_report (const upf_session_t *s, const upf_program_t *old, uint32_t far_id,
                   uint8_t apply_action)
{
  for (unsigned j = 0; s->buffer && old && j < old->n_far; j++)
    if (old->far[j].far_id == far_id)
      return old->far[j].apply_action != apply_action;
  return 0;
}

/* 1 if the DL data report of a PDR raised under the program in force, where the PDR's FAR is
 * was, is re-armed by an install where it is now (TS 29.244 5.2.3.1: the PDR buffers and
 * notifies anew, its next episode's first packet is reported): the new program does not have
 * the PDR (its report's slot is freed), or maps it to another FAR (Update PDR, FAR ID), or to
 * one that does not notify the CP, or whose apply action changed. */
static int
report_rearmed (pdr_far_t was, pdr_far_t now)
{
  return !now.found || !(now.apply_action & UPF_AA_NOCP) || !was.found || was.far_id != now.far_id
         || was.apply_action != now.apply_action;
}

/* 1 if installing the new program (prog, else the descriptor d) in s re-arms a DL data report
 * (buffer_rearm_reports): a FAR kept with another apply action, or a PDR whose FAR in old (the
 * program in force) notifies the CP and whose report the install re-arms (report_rearmed).
 * Only such PDRs have reports raised: each install keeps no other, and a packet raises one only
 * under such a FAR. Decided on the programs alone, not on the reports raised, which a packet
 * of old may add meanwhile. */
static int
install_rearms_report (const upf_session_t *s, const upf_program_t *old, const upf_program_t *prog,
                       const upf_program_desc_t *d)
{
  unsigned i, n_far = prog ? prog->n_far : d->n_far;
  if (!s->buffer || !old)
    return 0;
  for (i = 0; i < n_far; i++)
    if (prog ? far_rearms_report (s, old, prog->far[i].far_id, prog->far[i].apply_action)
             : far_rearms_report (s, old, d->far[i].far_id, d->far[i].apply_action))
      return 1;
  for (i = 0; i < old->n_pdr; i++)
    {
      pdr_far_t was = rule_far (old, i);
      if ((was.apply_action & UPF_AA_NOCP)
          && report_rearmed (was, pdr_far (prog, d, old->rule[i].pdr_id)))
        return 1;
    }
  return 0;
}

/* 1 if a FAR of p notifies the CP: packets of p may raise DL data reports (reported[]). */
static int
program_notifies (const upf_program_t *p)
{
  for (unsigned i = 0; p && i < p->n_far; i++)
    if (p->far[i].apply_action & UPF_AA_NOCP)
      return 1;
  return 0;
}

/*
 * The install re-arms reports by taking them out of the buffer's reported[]
 * (buffer_rearm_reports), which the packet path reads and appends to under a FAR that
 * notifies the CP (UPF_AA_NOCP). Without the packet threads held, a packet still running
 * the program in force could read a pair as not reported (after the install's re-arm, or
 * before it while the old FAR's report was not yet sent), raise the old FAR's report and
 * append it, or append while the install compacts the array: a spurious report for the old
 * FAR, and the new FAR's lost. Only such a FAR writes the array, so the install holds the
 * packet threads when it re-arms reports (install_rearms_report) and the program in force
 * has one.
 */
int
upf_session_rearms_report (upf_session_t *s, const upf_program_desc_t *d)
{
  const upf_program_t *old = atomic_load (&s->prog);
  return program_notifies (old) && install_rearms_report (s, old, 0, d);
}

/*
 * The DL data reports an install of prog re-arms (upf_buffer_report): those of a PDR prog
 * does not have, or maps to another FAR, to one that does not notify the CP, or to one that
 * changed its apply action (report_rearmed). A PDR whose FAR stays as it was is not reported
 * again. The array is changed only when no packet thread writes it: the program in force has
 * no FAR that notifies, or the install re-arms (install_rearms_report) and the caller holds
 * them (upf_session_rearms_report).
 */
static void
buffer_rearm_reports (upf_session_t *s, const upf_program_t *old, const upf_program_t *prog)
{
  upf_buffer_t *b = s->buffer;
  unsigned i, n = 0;
  if (!b || !b->n_reported)
    return;
  if (program_notifies (old) && !install_rearms_report (s, old, prog, 0))
    return;
  for (i = 0; i < b->n_reported; i++)
    {
      uint32_t pdr_id = b->reported[i].pdr_id;
      if (!report_rearmed (pdr_far (old, 0, pdr_id), pdr_far (prog, 0, pdr_id)))
        b->reported[n++] = b->reported[i];
    }
  b->n_reported = (uint8_t)n;
}

/*
 * Buffering is per FAR (TS 29.244 5.2.3.1): the install flushes the DL buffer whenever a PDR
 * that buffers under the program in force no longer buffers under the new one (its FAR's
 * UPF_AA_BUFF cleared, the PDR moved to another FAR that does not buffer, or removed), even
 * when other PDRs still buffer. The flush re-runs every packet, in order, through the new
 * program: those of the PDRs that still buffer are stored again (their reports kept:
 * buffer_rearm_reports), the others go as the new program says.
 * Whether an install flushes is decided before it, without the packet threads held, so it
 * cannot rest on the buffer's count while a packet thread may still buffer: a packet of the
 * program in force stored after the count was read as zero would stay behind the new
 * program, delivered by nothing. The owner stores a packet only for a PDR whose FAR has
 * UPF_AA_BUFF in the program it runs; so the install flushes whenever such a PDR of the
 * program in force does not buffer in the new program, whatever the buffer holds when this
 * is called, and the caller holds the packet threads from the install through the flush (the
 * flush re-runs the packets through the new program, counting into state the owner writes).
 * The count is read only when no PDR of the program in force buffers: the install that
 * published it replaced any program with such a PDR while holding the packet threads (this
 * rule), so no packet thread writes the buffer (packets left in it, a flush that found no
 * memory, go now unless a PDR of the new program buffers).
 */
int
upf_session_flushes (upf_session_t *s, const upf_program_desc_t *d)
{
  const upf_program_t *old = atomic_load (&s->prog);
  unsigned i;
  int writers = 0;
  if (!s->buffer)
    return 0;
  for (i = 0; old && i < old->n_pdr; i++)
    if (rule_far (old, i).apply_action & UPF_AA_BUFF)
      {
        writers = 1;
        if (!(pdr_far (0, d, old->rule[i].pdr_id).apply_action & UPF_AA_BUFF))
          return 1;
      }
  if (writers)
    return 0;
  for (i = 0; i < d->n_pdr; i++)
    if (pdr_far (0, d, d->pdr[i].pdr_id).apply_action & UPF_AA_BUFF)
      return 0;
  return s->buffer->n_pkts != 0;
}

/*
 * Two phases. Prepare: check, then allocate everything the new program needs (state objects,
 * buffer, one table entry per key, table room) without changing what readers or the session
 * state see; any failure frees what was allocated and returns with nothing changed. Commit:
 * publish; nothing in it allocates, so it cannot fail half-way.
 */
int
upf_session_install (upf_ctx_t *ctx, upf_session_t *s, upf_program_t *prog, char *err,
                     size_t errlen)
{
  upf_program_t *old = atomic_load (&s->prog);
  key_ref_t nk[UPF_MAX_PDR], ok[UPF_MAX_PDR];
  upf_state_t *fresh = 0;
  upf_buffer_t *fresh_buffer = 0;
  unsigned n_new, n_old, i, j, n_add[2] = { 0, 0 };
  int needs_buffer = 0;

  if (prog->installed)
    {
      snprintf (err, errlen, "program already installed");
      return -EINVAL;
    }
  n_new = program_keys (prog, nk);
  n_old = program_keys (old, ok);

  /* keys owned by another session: refuse before changing anything */
  for (i = 0; i < n_new; i++)
    {
      upf_session_t *o = upf_table_lookup_exact (key_table (ctx, &nk[i]), &nk[i].k);
      if (o && o != s)
        {
          if (nk[i].dl)
            snprintf (err, errlen, "UE IP address already used by session 0x%llx",
                      (unsigned long long)o->seid);
          else
            snprintf (err, errlen, "F-TEID 0x%x already used by session 0x%llx", nk[i].k.id,
                      (unsigned long long)o->seid);
          return -EEXIST;
        }
      if (!has_key (ok, n_old, &nk[i]))
        n_add[nk[i].dl]++;
    }

  /* prepare: state objects by id (kept across programs), the DL buffer, entries, room */
  for (i = 0; i < prog->n_urr; i++)
    if (!(prog->urr_state[i]
          = state_find_or_new (s->states, &fresh, UPF_STATE_URR, prog->urr[i].urr_id, 0)))
      goto nomem;
  for (i = 0; i < prog->n_qer; i++)
    {
      /* the block of the first URR of the first PDR (by precedence) using the QER */
      upf_state_t *pref = 0;
      for (j = 0; j < prog->n_pdr && !pref; j++)
        if ((prog->rule[j].qer[0] == i || prog->rule[j].qer[1] == i)
            && prog->rule[j].urr[0] != UPF_NONE8)
          pref = prog->urr_state[prog->rule[j].urr[0]];
      if (!(prog->qer_rt[i].state
            = state_find_or_new (s->states, &fresh, UPF_STATE_QER, prog->qer_rt[i].qer_id, pref)))
        goto nomem;
    }
  for (i = 0; i < prog->n_far; i++)
    if (prog->far[i].apply_action & (UPF_AA_BUFF | UPF_AA_NOCP))
      needs_buffer = 1;
  if ((needs_buffer || prog->bar) && !s->buffer)
    {
      uint32_t cap
        = prog->bar && prog->bar->max_bytes ? prog->bar->max_bytes : UPF_DEFAULT_BUFFER_BYTES;
      if (!(fresh_buffer = upf_calloc (1, sizeof (*fresh_buffer)))
          || !(fresh_buffer->data = upf_malloc (cap)))
        goto nomem;
      fresh_buffer->cap_bytes = cap;
    }
  prog->buffer = s->buffer ? s->buffer : fresh_buffer;
  /* may move a table to a bigger slot array: same content, invisible to readers */
  if (upf_table_reserve (&ctx->ul, &ctx->epoch, n_add[0]) < 0
      || upf_table_reserve (&ctx->dl, &ctx->epoch, n_add[1]) < 0)
    goto nomem;

  /* commit: each URR's marks against its limits in the program it replaces; a URR that
   * comes back (its state kept since a program dropped it) against none, as a new one */
  if (old)
    for (i = 0; i < prog->n_urr; i++)
      {
        static const upf_urr_t no_limits;
        const upf_urr_t *was = &no_limits;
        for (j = 0; j < old->n_urr; j++)
          if (old->urr[j].urr_id == prog->urr[i].urr_id)
            {
              was = &old->urr[j];
              break;
            }
        if (was != &no_limits
            || state_find (fresh, UPF_STATE_URR, prog->urr[i].urr_id) != prog->urr_state[i])
          urr_rearm (prog->urr_state[i], was, &prog->urr[i], was != &no_limits);
      }
  /* the budgets were computed for the old program's limits (and its compiled URRs' addresses
   * may come back in a later program): the next packet of each URR computes it anew. A new
   * state, which no reader sees yet and whose counters are zero, gets its budget here, so
   * the first packet does not read the URR (no event can be due at zero; one that were
   * would be deferred to the first packet, as a full verdict defers it). */
  for (i = 0; i < prog->n_urr; i++)
    {
      upf_urr_state_t *u = prog->urr_state[i];
      u->d[UPF_DIR_UL].budget_of = u->d[UPF_DIR_DL].budget_of = 0;
      if (state_find (fresh, UPF_STATE_URR, prog->urr[i].urr_id) == u)
        {
          upf_stats_t st0;
          upf_verdict_t full;
          u->tq_grant = prog->urr[i].time_quota_grant; /* (its quota: not started) */
          u->tq_prev_ns = UPF_TQ_NONE;
          memset (&st0, 0, sizeof (st0));
          upf_verdict_init (&full);
          full.n_events = UPF_MAX_EVENTS;
          upf_urr_check (&st0, &prog->urr[i], u, (const uint8_t *)prog + i, &full);
          if (st0.events_deferred)
            u->d[UPF_DIR_UL].budget_of = u->d[UPF_DIR_DL].budget_of = 0;
        }
    }
  state_list_join (&s->states, fresh);
  if (fresh_buffer)
    s->buffer = fresh_buffer;
  /* A changed FAR re-arms the one-shot DL data reports of its PDRs
   * (upf_session_rearms_report says when the caller holds the packet threads for it). */
  buffer_rearm_reports (s, old, prog);
  /* A DL Buffering Duration that replaces another value, or none, or the same value given
   * again (another grant: the CP's Update BAR after each DL data report), counts from when
   * it is given (TS 29.244 8.2.29: the time the UP function is requested to buffer), not
   * from the first packet buffered before it: the next tick starts it for the packets held
   * then (packets buffered later start it). */
  if (old && s->buffer && s->buffer->n_pkts && prog->bar && prog->bar->duration_ns
      && !(old->bar && old->bar->duration_ns == prog->bar->duration_ns
           && old->bar->duration_grant == prog->bar->duration_grant))
    s->buffer->duration_restart = 1;
  prog->installed = 1;
  prog->seid = s->seid;
  prog->session = s;
  upf_ruleset_intern (ctx->rulesets, prog);
  for (i = 0; i < prog->n_entry; i++)
    {
      upf_entry_t *e = upf_prog_entry (prog, i);
      e->seid = prog->seid;
      e->session = prog->session;
      e->rs = prog->rs;
    }
  /* new keys, then keys kept from the old program (same key, entry carrying the new
   * program), publish, then remove the keys the new program no longer has */
  for (i = 0; i < n_new; i++)
    if (!has_key (ok, n_old, &nk[i]))
      upf_table_insert (key_table (ctx, &nk[i]), upf_prog_entry (prog, i));
    else
      upf_table_replace (key_table (ctx, &nk[i]), upf_prog_entry (prog, i));
  atomic_store_explicit (&s->prog, prog, memory_order_release);
  for (i = 0; i < n_old; i++)
    if (!has_key (nk, n_new, &ok[i]))
      upf_table_del (key_table (ctx, &ok[i]), &ok[i].k);
  /* the old program, and with it its entries the table no longer holds */
  if (old)
    upf_epoch_retire (&ctx->epoch, &old->retire, program_retired);
  /* URR / QER state objects no longer referenced stay until the session is deleted, so a
   * later program reusing the id continues its counts and no reader can see them freed. */
  return 0;

nomem:
  state_list_free (fresh);
  if (fresh_buffer)
    upf_free (fresh_buffer->data);
  upf_free (fresh_buffer);
  prog->buffer = 0;
  snprintf (err, errlen, "out of memory");
  return -ENOMEM;
}

static unsigned
session_retired (upf_retired_t *r)
{
  upf_session_t *s = upf_container_of (r, upf_session_t, retire);
  state_list_free (s->states);
  if (s->buffer)
    upf_free (s->buffer->data);
  upf_free (s->buffer);
  upf_free (s);
  return 1;
}

void
upf_session_delete (upf_ctx_t *ctx, upf_session_t *s)
{
  upf_program_t *old = atomic_load (&s->prog);
  key_ref_t ok[UPF_MAX_PDR];
  unsigned n_old = program_keys (old, ok), i;
  if (s->prev)
    s->prev->next = s->next;
  else
    ctx->sessions = s->next;
  if (s->next)
    s->next->prev = s->prev;
  for (i = 0; i < n_old; i++)
    upf_table_del (key_table (ctx, &ok[i]), &ok[i].k);
  atomic_store (&s->prog, 0);
  if (old)
    upf_epoch_retire (&ctx->epoch, &old->retire, program_retired);
  upf_epoch_retire (&ctx->epoch, &s->retire, session_retired);
}

/*
 * A buffered packet of PDR pdr_id (len: what URRs count) is dropped: when the PDR is downlink
 * (its source interface is not Access), dropped DL traffic of the URRs of that PDR (TS 29.244
 * 5.2.2.2.1, 8.2.49: what the Dropped DL Traffic Threshold counts), as a packet the full
 * buffer drops is (upf_urr_count_drop_dl). The URRs are those
 * of the program in force: the packet was counted for no URR while it waited, and its fate
 * is decided now, as a flush re-runs it through the program in force; a PDR that program
 * no longer has counts it for none. Its URR states are the session's (kept until it is
 * deleted), whichever program links them.
 */
static void
buffer_count_drop (const upf_program_t *p, uint32_t pdr_id, uint32_t len)
{
  unsigned i, k;
  for (i = 0; p && i < p->n_pdr; i++)
    if (p->rule[i].pdr_id == pdr_id)
      {
        const upf_pdr_rule_t *r = &p->rule[i];
        if (p->pdi[r->pdi].source_interface == UPF_IF_ACCESS)
          return; /* uplink (a V-UPF's, buffered until its N9 tunnel is known) */
        for (k = 0; k < UPF_MAX_URR_PER_PDR && r->urr[k] != UPF_NONE8; k++)
          {
            upf_urr_state_t *u = p->urr_state[r->urr[k]];
            u->dropped_dl_pkts++;
            u->dropped_dl_bytes += len;
          }
        return;
      }
}

/* The user packet's length of a buffered packet (what its URRs count). */
static uint32_t
buffered_inner_len (const upf_buffered_t *p)
{
  return p->inner_offset ? p->len - (uint32_t)sizeof (upf_ip_t) - p->inner_offset : p->len;
}

/* Stores head (head_len octets: none, or a G-PDU's local address) then pkt (len octets) as one
 * buffered packet; inner_len: what its URRs count when it is dropped. */
static int
buffer_put (upf_session_t *s, uint32_t pdr_id, const void *head, uint32_t head_len,
            const uint8_t *pkt, uint32_t len, uint32_t inner_offset, uint32_t inner_len,
            uint64_t now_ns)
{
  upf_buffer_t *b = s->buffer;
  upf_buffered_t *p;
  if (!b || b->n_pkts >= UPF_BUFFER_MAX_PKTS || b->used_bytes + head_len + len > b->cap_bytes)
    {
      if (b)
        b->dropped_pkts++;
      buffer_count_drop (atomic_load (&s->prog), pdr_id, inner_len);
      return -ENOSPC;
    }
  if (!b->n_pkts)
    b->first_ns = now_ns;
  p = &b->pkts[b->n_pkts];
  p->offset = b->used_bytes;
  p->len = head_len + len;
  p->pdr_id = pdr_id;
  p->inner_offset = inner_offset;
  if (head_len)
    memcpy (b->data + b->used_bytes, head, head_len);
  memcpy (b->data + b->used_bytes + head_len, pkt, len);
  b->n_pkts++;
  b->used_bytes += head_len + len;
  return 0;
}

int
upf_buffer_store (upf_session_t *s, uint32_t pdr_id, const uint8_t *pkt, uint32_t len,
                  uint64_t now_ns)
{
  return buffer_put (s, pdr_id, 0, 0, pkt, len, 0, len, now_ns);
}

int
upf_buffer_store_gpdu (upf_session_t *s, uint32_t pdr_id, const upf_ip_t *local, const uint8_t *gp,
                       uint32_t inner_offset, uint32_t inner_len, uint64_t now_ns)
{
  return buffer_put (s, pdr_id, local, sizeof (*local), gp, inner_offset + inner_len, inner_offset,
                     inner_len, now_ns);
}

/* Empties b: its packets (counted, copied or dropped, by the caller) and the duration of
 * what it held. */
static void
buffer_empty (upf_buffer_t *b)
{
  b->n_pkts = 0;
  b->used_bytes = 0;
  b->first_ns = 0;
  b->duration_restart = 0;
}

unsigned
upf_buffer_flush (upf_session_t *s, upf_buffer_cb_t cb, void *arg)
{
  upf_buffer_t *b = s->buffer;
  unsigned n, i;
  if (!b)
    return 0;
  n = b->n_pkts;
  /* Empty first: cb may re-run upf_dl_process, which may buffer again. Packets are copied to
   * a scratch area so re-buffering cannot overwrite what is still being flushed. */
  if (n)
    {
      uint8_t *tmp = upf_malloc (b->used_bytes ? b->used_bytes : 1);
      upf_buffered_t idx[UPF_BUFFER_MAX_PKTS];
      if (!tmp)
        return 0;
      uint64_t first_ns = b->first_ns;
      uint8_t restart = b->duration_restart;
      memcpy (tmp, b->data, b->used_bytes);
      memcpy (idx, b->pkts, n * sizeof (idx[0]));
      buffer_empty (b);
      for (i = 0; i < n; i++)
        {
          const uint8_t *at = tmp + idx[i].offset;
          upf_ip_t local;
          if (!idx[i].inner_offset)
            {
              cb (arg, at, idx[i].len, 0);
              continue;
            }
          memcpy (&local, at, sizeof (local));
          cb (arg, at + sizeof (local), idx[i].len - (uint32_t)sizeof (local), &local);
        }
      upf_free (tmp);
      /* Packets stored again (their PDR still buffers) were buffered all along: the DL
       * Buffering Duration still counts from when it started, not from the flush. */
      if (b->n_pkts && first_ns)
        {
          b->first_ns = first_ns;
          b->duration_restart = restart;
        }
    }
  return n;
}

unsigned
upf_buffer_drop (upf_session_t *s)
{
  upf_buffer_t *b = s->buffer;
  const upf_program_t *p = atomic_load (&s->prog);
  unsigned n, i;
  if (!b)
    return 0;
  n = b->n_pkts;
  b->dropped_pkts += n;
  for (i = 0; i < n; i++)
    buffer_count_drop (p, b->pkts[i].pdr_id, buffered_inner_len (&b->pkts[i]));
  buffer_empty (b);
  /* what arrives after a discard (the CP's DROBU, the buffering duration's end) is new
   * downlink data: the first packet of each PDR is reported again under a FAR that notifies
   * the CP */
  b->n_reported = 0;
  return n;
}

int
upf_buffer_rearm_report (upf_session_t *s, uint32_t pdr_id, uint8_t qfi)
{
  upf_buffer_t *b = s->buffer;
  unsigned i, n = 0;
  int found;
  if (!b)
    return 0;
  for (i = 0; i < b->n_reported; i++)
    if (b->reported[i].pdr_id != pdr_id || b->reported[i].qfi != qfi)
      b->reported[n++] = b->reported[i];
  found = n != b->n_reported;
  b->n_reported = (uint8_t)n;
  return found;
}

unsigned
upf_session_tick (upf_ctx_t *ctx, upf_session_t *s, uint64_t now_ns, upf_event_t *ev,
                  unsigned max_ev)
{
  upf_program_t *p = atomic_load (&s->prog);
  unsigned n = 0, i;
  (void)ctx;
  if (!p)
    return 0;
/* An event goes out only when it fits in ev; a condition that does not fit stays unmarked
 * and is reported by the next call: no event is lost. */
#define EMIT(t, i_, v_)                                                                            \
  do                                                                                               \
    {                                                                                              \
      ev[n].type = (t);                                                                            \
      ev[n].id = (i_);                                                                             \
      ev[n].seid = s->seid;                                                                        \
      ev[n].value = (v_);                                                                          \
      n++;                                                                                         \
    }                                                                                              \
  while (0)
  /* The time threshold counts from the start of the measurement period, the time quota
   * from its own start (tq_start_ns: an install re-arming it while the time metering runs
   * leaves the start to this clock; a quota armed before the metering starts with it). */
  for (i = 0; i < p->n_urr && n < max_ev; i++)
    {
      const upf_urr_t *r = &p->urr[i];
      upf_urr_state_t *u = p->urr_state[i];
      uint64_t start = u->start_ns ? u->start_ns : upf_urrs_first (u), q_start;
      uint32_t flags = upf_urrs_flags (u);
      urr_tq_clock (u, r, now_ns);
      q_start = u->tq_start_ns ? u->tq_start_ns : start;
      if ((r->triggers & UPF_URR_T_TIMTH) && r->time_threshold_ns
          && !(flags & UPF_URRS_TIME_THRESHOLD_REPORTED) && start && now_ns >= start
          && now_ns - start >= r->time_threshold_ns)
        {
          upf_urrs_set (u, UPF_URRS_TIME_THRESHOLD_REPORTED);
          EMIT (UPF_EV_TIME_THRESHOLD, r->urr_id, now_ns - start);
        }
      if ((r->triggers & UPF_URR_T_TIMQU) && r->time_quota_ns
          && !(flags & UPF_URRS_TIME_QUOTA_EXHAUSTED) && q_start && !(q_start & UPF_TQ_HELD)
          && now_ns >= q_start && now_ns - q_start >= r->time_quota_ns && n < max_ev)
        {
          upf_urrs_set (u, UPF_URRS_TIME_QUOTA_EXHAUSTED);
          EMIT (UPF_EV_TIME_QUOTA, r->urr_id, now_ns - q_start);
        }
    }
  if (p->buffer && p->buffer->duration_restart)
    {
      p->buffer->duration_restart = 0;
      if (p->buffer->n_pkts)
        p->buffer->first_ns = now_ns;
    }
  if (p->buffer && p->buffer->n_pkts && p->bar && p->bar->duration_ns && p->buffer->first_ns
      && now_ns - p->buffer->first_ns >= p->bar->duration_ns && n < max_ev)
    {
      unsigned d = upf_buffer_drop (s);
      EMIT (UPF_EV_BUFFER_EXPIRED, p->bar->bar_id, d);
    }
#undef EMIT
  return n;
}

int
upf_session_read_urr (upf_session_t *s, uint32_t urr_id, upf_usage_t *out, int reset,
                      uint64_t now_ns)
{
  upf_urr_state_t *u = state_find (s->states, UPF_STATE_URR, urr_id);
  const upf_state_dir_t *ul, *dl;
  if (!u)
    return -ENOENT;
  ul = &u->d[UPF_DIR_UL];
  dl = &u->d[UPF_DIR_DL];
  out->urr_id = urr_id;
  out->flags = upf_urrs_flags (u);
  out->bytes[UPF_VOL_TOTAL] = ul->bytes + dl->bytes;
  out->bytes[UPF_VOL_UL] = ul->bytes;
  out->bytes[UPF_VOL_DL] = dl->bytes;
  out->pkts[UPF_VOL_TOTAL] = ul->pkts + dl->pkts;
  out->pkts[UPF_VOL_UL] = ul->pkts;
  out->pkts[UPF_VOL_DL] = dl->pkts;
  out->dropped_dl_pkts = u->dropped_dl_pkts;
  out->dropped_dl_bytes = u->dropped_dl_bytes;
  out->first_ns = upf_urrs_first (u);
  /* the caller's clock is monotonic: the later of the directions' last packets */
  out->last_ns = ul->last_ns > dl->last_ns ? ul->last_ns : dl->last_ns;
  out->start_ns = u->start_ns;
  if (reset)
    {
      /* New measurement period: quota-exhausted stays until the CP installs a new quota
       * (a program replacing this URR clears it through upf_session_install); the counts
       * its event was raised for are read (UPF_URRS_QUOTA_RAISED cleared). */
      for (unsigned d = 0; d < 2; d++)
        {
          upf_state_dir_t *x = &u->d[d];
          x->bytes = x->pkts = 0;
          x->budget_of = 0; /* counters and armed limits changed: the next packet checks */
          x->first_ns = x->last_ns = 0;
          upf_urrs_dir_clear (x, UPF_URRS_SEEN);
        }
      /* The time quota keeps its start, which the period's no longer tells: the time
       * metering's start when the quota started with it (the first packet; this read,
       * which starts the metering when no packet did), this read's clock when an install
       * armed or resumed it since the last tick (urr_tq_clock). A quota held (paused) by
       * the program in force does not start. */
      const upf_urr_t *r = urr_of (atomic_load (&s->prog), urr_id);
      urr_tq_clock (u, r, now_ns);
      if (!u->tq_start_ns && r && r->time_quota_ns)
        u->tq_start_ns = u->start_ns ? u->start_ns : out->first_ns ? out->first_ns : now_ns;
      u->dropped_dl_pkts = u->dropped_dl_bytes = 0;
      u->start_ns = now_ns;
      upf_urrs_clear (u, UPF_URRS_THRESHOLD_REPORTED | UPF_URRS_TIME_THRESHOLD_REPORTED
                           | UPF_URRS_QUOTA_RAISED);
    }
  return 0;
}
