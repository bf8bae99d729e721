/*
 * upf_program.c: compile a session's rules (upf_program_desc_t) into an immutable program.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include "upf_core.h"
#include "upf_mem.h"

static int
fail (char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;
  if (err && errlen)
    {
      va_start (ap, fmt);
      vsnprintf (err, errlen, fmt, ap);
      va_end (ap);
    }
  return -1;
}

static size_t
align8 (size_t n)
{
  return (n + 7) & ~(size_t)7;
}

/* PDR order: precedence, then PDR id (lower first). */
static int
pdr_before (const upf_pdr_t *x, const upf_pdr_t *y)
{
  if (x->precedence != y->precedence)
    return x->precedence < y->precedence;
  return x->pdr_id < y->pdr_id;
}

/* Set the bucket bits of a port condition into bm[16]. */
/* bm[16]: packets without ports, which only rules without a port condition match */
static void
port_buckets (uint64_t *bm, int has, uint16_t lo, uint16_t hi, uint64_t bit)
{
  unsigned i;
  if (!has)
    {
      for (i = 0; i < 17; i++)
        bm[i] |= bit;
      return;
    }
  if ((uint32_t)hi - lo >= 15)
    {
      for (i = 0; i < 16; i++)
        bm[i] |= bit;
      return;
    }
  for (uint32_t p = lo; p <= hi; p++)
    bm[p & 15] |= bit;
}

static void
add_rule (upf_classifier_t *c, uint8_t pdr_index, uint8_t sdf_index, const upf_sdf_t *f)
{
  uint64_t bit = 1ULL << c->n_rules;
  unsigned i;
  c->rule_pdr[c->n_rules] = pdr_index;
  c->rule_sdf[c->n_rules] = sdf_index;
  c->n_rules++;
  if (f && (f->flags & UPF_SDF_PROTO))
    c->proto_bm[upf_proto_class (f->proto)] |= bit;
  else
    for (i = 0; i < UPF_PC_N; i++)
      c->proto_bm[i] |= bit;
  /* family: a filter with an IPv4 (or IPv6) prefix on either side only matches that family */
  {
    int v4 = 1, v6 = 1;
    if (f && f->remote_plen)
      {
        if (upf_ip_is4 (&f->remote) && f->remote_plen >= 96)
          v6 = 0;
        else
          v4 = 0;
      }
    if (f && f->ue_plen)
      {
        if (upf_ip_is4 (&f->ue) && f->ue_plen >= 96)
          v6 = 0;
        else
          v4 = 0;
      }
    if (v4)
      c->fam_bm[0] |= bit;
    if (v6)
      c->fam_bm[1] |= bit;
  }
  port_buckets (c->rport_bm, f && (f->flags & UPF_SDF_REMOTE_PORT), f ? f->remote_port_lo : 0,
                f ? f->remote_port_hi : 0, bit);
  port_buckets (c->uport_bm, f && (f->flags & UPF_SDF_UE_PORT), f ? f->ue_port_lo : 0,
                f ? f->ue_port_hi : 0, bit);
}

static uint64_t
hash_bytes (uint64_t h, const void *data, size_t n)
{
  const uint8_t *p = data;
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    {
      uint64_t w;
      memcpy (&w, p + i, 8);
      h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
      h ^= h >> 29;
    }
  for (; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/* The bucket of a rule set in the intern table (upf_ruleset_intern). Its classifiers are
 * not hashed, only compared (ruleset_eq): built from its rules and SDFs, they differ
 * little where those do not, and hashing their ~1.1 KB cost ~1.2 k instructions an
 * install, most of an install's hashing. */
static uint64_t
ruleset_hash (const upf_ruleset_t *rs)
{
  uint64_t h = hash_bytes (0xcbf29ce484222325ULL, &rs->n_sdf, sizeof (rs->n_sdf));
  h = hash_bytes (h, &rs->n_pdr, sizeof (rs->n_pdr));
  h = hash_bytes (h, rs->sdf, rs->n_sdf * sizeof (upf_sdf_t));
  return hash_bytes (h, rs->rule, rs->n_pdr * sizeof (upf_pdr_rule_t));
}

int
upf_program_build (const upf_program_desc_t *d, upf_program_t **out, char *err, size_t errlen)
{
  size_t sz, o_bar, o_pdi, o_far, o_encap, o_redir, o_dupl, o_dencap, o_qrt, o_us, o_urr, o_ent;
  upf_key_t keys[UPF_MAX_PDR];
  uint8_t key_pdi[UPF_MAX_PDR];
  upf_entry_t *key_entry[UPF_MAX_PDR];
  uint32_t n_key = 0, n_x;
  int primary[2];
  upf_ruleset_t *rs;
  upf_classifier_t *cls;
  uint16_t order[UPF_MAX_PDR];
  uint8_t pdr_pdi[UPF_MAX_PDR];
  upf_pdi_rt_t pdi[UPF_MAX_PDR];
  uint32_t n_pdi = 0, n_encap = 0, n_redirect = 0;
  upf_program_t *p;
  uint8_t *base;
  uint32_t i, j, k;

  *out = 0;
  if (d->n_pdr > UPF_MAX_PDR || d->n_far > UPF_MAX_FAR || d->n_qer > 255 || d->n_urr > 255
      || d->n_sdf > UPF_MAX_SDF || d->n_dupl > UPF_MAX_DUPL)
    return fail (err, errlen,
                 "too many rules (max %u PDRs, 255 FARs/QERs/URRs/SDF filters/duplicating "
                 "parameters)",
                 UPF_MAX_PDR);
  for (i = 0; i < d->n_pdr; i++)
    {
      const upf_pdr_t *r = &d->pdr[i];
      if ((uint32_t)r->sdf_first + r->sdf_count > d->n_sdf)
        return fail (err, errlen, "PDR %u: SDF filter range outside the filter list", r->pdr_id);
      if ((r->pdi_flags & UPF_PDI_UE_IP) && r->ue_ip_plen > 128)
        return fail (err, errlen, "PDR %u: UE IP prefix length > 128", r->pdr_id);
      for (j = 0; j < i; j++)
        if (d->pdr[j].pdr_id == r->pdr_id)
          return fail (err, errlen, "PDR %u defined twice", r->pdr_id);
    }
  for (i = 0; i < d->n_sdf; i++)
    if (d->sdf[i].remote_plen > 128 || d->sdf[i].ue_plen > 128)
      return fail (err, errlen, "SDF filter %u: prefix length > 128", i);
  for (i = 0; i < d->n_far; i++)
    {
      const upf_far_t *f = &d->far[i];
      if (f->ohc == UPF_OHC_GTPU && upf_ip_is4 (&f->ohc_peer) != upf_ip_is4 (&f->ohc_src))
        return fail (err, errlen, "FAR %u: outer header creation source and peer families differ",
                     f->far_id);
      if (f->ohc > UPF_OHC_GTPU)
        return fail (err, errlen, "FAR %u: unsupported outer header creation", f->far_id);
      if ((f->redirect_type == UPF_REDIRECT_IPV4 + 1 && !upf_ip_is4 (&f->redirect_addr))
          || (f->redirect_type == UPF_REDIRECT_IPV6 + 1 && upf_ip_is4 (&f->redirect_addr)))
        return fail (err, errlen, "FAR %u: redirect address not of the redirect type's family",
                     f->far_id);
      if (f->dupl_count > UPF_MAX_DUPL_PER_FAR)
        return fail (err, errlen, "FAR %u: more than %u duplicating parameters", f->far_id,
                     UPF_MAX_DUPL_PER_FAR);
      if ((uint32_t)f->dupl_first + f->dupl_count > d->n_dupl)
        return fail (err, errlen, "FAR %u: duplicating parameters outside the list", f->far_id);
      for (j = 0; j < f->dupl_count; j++)
        {
          const upf_dupl_t *u = &d->dupl[f->dupl_first + j];
          if (u->ohc > UPF_OHC_IP)
            return fail (err, errlen,
                         "FAR %u: duplicating parameter %u: unsupported outer header creation",
                         f->far_id, j);
          if (u->ohc != UPF_OHC_NONE && upf_ip_is4 (&u->ohc_peer) != upf_ip_is4 (&u->ohc_src))
            return fail (err, errlen,
                         "FAR %u: duplicating parameter %u: outer header creation source and "
                         "peer families differ",
                         f->far_id, j);
        }
    }

  /* PDRs sorted by precedence. */
  /* insertion sort: at most 255 PDRs, and no global state (qsort has no context) */
  for (i = 0; i < d->n_pdr; i++)
    {
      for (j = i; j > 0 && pdr_before (&d->pdr[i], &d->pdr[order[j - 1]]); j--)
        order[j] = order[j - 1];
      order[j] = (uint16_t)i;
    }
  /* Their distinct PDIs, unset fields zeroed. */
  for (i = 0; i < d->n_pdr; i++)
    {
      const upf_pdr_t *r = &d->pdr[order[i]];
      upf_pdi_rt_t c;
      memset (&c, 0, sizeof (c));
      c.pdi_flags = r->pdi_flags;
      c.source_interface = r->source_interface;
      c.network_instance = r->network_instance;
      if (r->pdi_flags & UPF_PDI_UE_IP)
        {
          c.ue_ip = r->ue_ip;
          c.ue_ip_plen = r->ue_ip_plen;
        }
      if (r->pdi_flags & UPF_PDI_FTEID)
        {
          c.teid = r->teid;
          c.fteid_addr = r->fteid_addr;
        }
      if (r->pdi_flags & UPF_PDI_QFI)
        c.qfi = r->qfi;
      for (j = 0; j < n_pdi && memcmp (&pdi[j], &c, sizeof (c)); j++)
        ;
      if (j == n_pdi)
        pdi[n_pdi++] = c;
      pdr_pdi[i] = (uint8_t)j;
    }

  for (i = 0; i < d->n_far; i++)
    {
      n_encap += d->far[i].ohc == UPF_OHC_GTPU;
      n_redirect += d->far[i].redirect_type != 0;
    }

  /* Table keys: UL (F-TEID) for every PDI with a local F-TEID, DL (network instance, UE IP
   * prefix) for every non-access PDI with a UE IP address and no F-TEID; distinct. An
   * F-TEID key of a non-access PDI (Core: N9 downlink from a remote PSA; CP-function: the
   * CP's buffered data sent back) is marked gtpu_dl: the G-PDUs received on it are
   * downlink, so it cannot also be an Access PDI's F-TEID (one key, one direction). */
  for (i = 0; i < n_pdi; i++)
    {
      upf_key_t k;
      memset (&k, 0, sizeof (k));
      if (pdi[i].pdi_flags & UPF_PDI_FTEID)
        {
          k.addr = pdi[i].fteid_addr;
          k.id = pdi[i].teid;
          k.plen = 128;
          k.gtpu_dl = pdi[i].source_interface != UPF_IF_ACCESS;
        }
      else if ((pdi[i].pdi_flags & UPF_PDI_UE_IP) && pdi[i].source_interface != UPF_IF_ACCESS)
        {
          k.addr = pdi[i].ue_ip;
          upf_ip_mask (&k.addr, pdi[i].ue_ip_plen);
          k.id = pdi[i].network_instance;
          k.plen = pdi[i].ue_ip_plen;
          k.dl = 1;
        }
      else
        continue;
      for (j = 0; j < n_key; j++)
        if (keys[j].dl == k.dl && upf_key_eq (&keys[j], &k))
          break;
      if (j < n_key && keys[j].gtpu_dl != k.gtpu_dl)
        return fail (err, errlen,
                     "F-TEID 0x%x: local F-TEID of both an Access PDI and another source "
                     "interface's (a tunnel carries one direction)",
                     k.id);
      if (j == n_key)
        {
          key_pdi[n_key] = (uint8_t)i;
          keys[n_key++] = k;
        }
    }
  /* entry[UPF_DIR_UL] = the first UL key (an Access F-TEID's if there is one: the UL
   * fast path prefetches from it, upf_prog_prefetch_from_entry), entry[UPF_DIR_DL] = the
   * first DL key, the others in entry_x, in PDI order */
  {
    int first[2] = { -1, -1 };
    for (i = 0; i < n_key; i++)
      if (first[keys[i].dl] < 0 && !keys[i].gtpu_dl)
        first[keys[i].dl] = (int)i;
    for (i = 0; i < n_key && first[0] < 0; i++)
      if (!keys[i].dl)
        first[0] = (int)i;
    n_x = n_key - (first[0] >= 0) - (first[1] >= 0);
    for (i = 0; i < 2; i++)
      primary[i] = first[i];
  }

  /* Layout (upf_rules.h): header and entries, what a packet reads, the rest. */
  sz = UPF_PROG_HOT_OFFSET;
  o_qrt = sz, sz += d->n_qer * sizeof (upf_qer_rt_t);
  o_us = sz, sz += d->n_urr * sizeof (void *);
  o_far = sz, sz += d->n_far * sizeof (upf_far_rt_t);
  o_pdi = sz, sz += n_pdi * sizeof (upf_pdi_rt_t);
  o_encap = sz, sz += align8 (n_encap * sizeof (upf_encap_t));
  o_urr = sz, sz += align8 (d->n_urr * sizeof (upf_urr_t));
  o_bar = sz, sz += d->bar ? align8 (sizeof (upf_bar_t)) : 0;
  o_redir = sz, sz += align8 (n_redirect * sizeof (upf_ip_t));
  o_dupl = sz, sz += align8 (d->n_dupl * sizeof (upf_dupl_t));
  o_dencap = sz, sz += align8 (d->n_dupl * sizeof (upf_encap_t));
  sz = (sz + 63) & ~(size_t)63;
  o_ent = sz, sz += n_x * sizeof (upf_entry_t);
  if (o_encap > 0xffff)
    return fail (err, errlen, "program too large");
  base = upf_calloc_lines (sz);
  rs
    = upf_calloc (1, sizeof (*rs) + d->n_sdf * sizeof (upf_sdf_t)
                       + d->n_pdr * sizeof (upf_pdr_rule_t) + 8 + d->n_sdf * sizeof (upf_sdf_rt_t));
  if (!base || !rs)
    {
      upf_free_lines (base, sz);
      upf_free (rs);
      fail (err, errlen, "out of memory");
      return -ENOMEM;
    }
  p = (upf_program_t *)base;
  p->lines = (uint16_t)((sz + 63) / 64);
  p->n_pdr = d->n_pdr;
  p->n_pdi = n_pdi;
  p->n_far = d->n_far;
  p->n_qer = d->n_qer;
  p->n_urr = d->n_urr;
  p->n_sdf = d->n_sdf;
  p->n_dupl = d->n_dupl;
  p->n_entry = n_key;
  p->pdi = (upf_pdi_rt_t *)(base + o_pdi);
  p->far = (upf_far_rt_t *)(base + o_far);
  p->encap = (upf_encap_t *)(base + o_encap);
  p->redirect = (upf_ip_t *)(base + o_redir);
  p->dupl = (upf_dupl_t *)(base + o_dupl);
  p->dupl_encap = (upf_encap_t *)(base + o_dencap);
  p->qer_rt = (upf_qer_rt_t *)(base + o_qrt);
  p->urr_state = (upf_urr_state_t **)(base + o_us);
  p->urr = (upf_urr_t *)(base + o_urr);
  p->entry_x = (upf_entry_t *)(base + o_ent);
  for (i = j = 0; i < n_key; i++)
    {
      upf_entry_t *e;
      if ((int)i == primary[keys[i].dl])
        {
          e = &p->entry[keys[i].dl];
          p->entry_used |= (uint8_t)(1u << keys[i].dl);
        }
      else
        e = &p->entry_x[j++];
      e->key = keys[i];
      key_entry[i] = e;
      e->prog = p;
      e->o_urr_state = (uint16_t)o_us;
      e->o_pdi = (uint16_t)o_pdi;
      e->o_far = (uint16_t)o_far;
      e->o_encap = (uint16_t)o_encap;
    }
  rs->refs = 1;
  rs->n_sdf = d->n_sdf;
  rs->n_pdr = d->n_pdr;
  rs->rule = (upf_pdr_rule_t *)(rs->sdf + d->n_sdf);
  rs->sdf_rt = (upf_sdf_rt_t *)(((uintptr_t)(rs->rule + d->n_pdr) + 7) & ~(uintptr_t)7);
  p->rs = rs;
  p->sdf = rs->sdf;
  p->rule = rs->rule;
  p->cls = cls = rs->cls;
  if (d->n_dupl)
    memcpy (p->dupl, d->dupl, d->n_dupl * sizeof (upf_dupl_t));
  for (i = 0; i < d->n_dupl; i++)
    {
      static const uint8_t kind[] = { 0, UPF_ENCAP_GTPU, UPF_ENCAP_UDP, UPF_ENCAP_IP };
      const upf_dupl_t *u = &p->dupl[i];
      if (u->ohc != UPF_OHC_NONE)
        upf_encap_init_kind (&p->dupl_encap[i], kind[u->ohc], &u->ohc_src, &u->ohc_peer,
                             u->ohc_teid, u->ohc_port, !!(u->ohc_flags & UPF_OHC_F_PSC), u->dscp);
    }
  for (i = 0; i < d->n_qer; i++)
    for (j = 0; j < 2; j++)
      {
        uint64_t bps = j == UPF_DIR_UL ? d->qer[i].mbr_ul_bps : d->qer[i].mbr_dl_bps;
        uint64_t Bps = bps / 8, burst = d->qer[i].burst_bytes;
        upf_qer_rt_t *rt = &p->qer_rt[i];
        rt->qer_id = d->qer[i].qer_id;
        rt->gate[UPF_DIR_UL] = d->qer[i].gate_ul;
        rt->gate[UPF_DIR_DL] = d->qer[i].gate_dl;
        rt->qfi = d->qer[i].qfi;
        rt->rqi = !!d->qer[i].rqi;
        rt->ppp = !!(d->qer[i].ppi & UPF_PPI_SET);
        rt->ppi = d->qer[i].ppi & 7;
        if (!burst)
          burst = Bps / 10 > 16384 ? Bps / 10 : 16384;
        if (burst > 0xffffffffULL)
          burst = 0xffffffffULL;
        rt->Bps[j] = bps ? (Bps ? Bps : 1) : 0;
        rt->depth_nb[j] = burst * 1000000000ULL;
        rt->max_dt[j] = rt->Bps[j] ? rt->depth_nb[j] / rt->Bps[j] + 1 : 0;
      }
  if (d->n_urr)
    memcpy (p->urr, d->urr, d->n_urr * sizeof (upf_urr_t));
  if (d->n_sdf)
    memcpy (rs->sdf, d->sdf, d->n_sdf * sizeof (upf_sdf_t));
  for (i = 0; i < d->n_sdf; i++)
    upf_sdf_compile (&rs->sdf[i], &rs->sdf_rt[i]);
  if (d->bar)
    {
      upf_bar_t *bar = (upf_bar_t *)(base + o_bar);
      *bar = *d->bar;
      p->bar = bar;
    }

  if (n_pdi)
    memcpy (p->pdi, pdi, n_pdi * sizeof (upf_pdi_rt_t));

  for (i = 0; i < d->n_far; i++)
    {
      const upf_far_t *f = &d->far[i];
      upf_far_rt_t *c = &p->far[i];
      for (j = 0; j < i; j++)
        if (p->far[j].far_id == f->far_id)
          goto dup_far;
      c->far_id = f->far_id;
      c->apply_action = f->apply_action;
      c->dest_interface = f->dest_interface;
      c->redirect_type = f->redirect_type;
      c->network_instance = f->network_instance;
      c->dupl_first = f->dupl_first;
      c->dupl_count = f->dupl_count;
      c->encap = UPF_NONE8;
      if (f->ohc == UPF_OHC_GTPU)
        {
          c->encap = (uint8_t)p->n_encap++;
          upf_encap_init (&p->encap[c->encap], &f->ohc_src, &f->ohc_peer, f->ohc_teid,
                          upf_encap_psc (f->ohc_flags & UPF_OHC_F_PSC, f->dest_interface), f->dscp);
        }
      if (f->redirect_type)
        {
          c->redirect = (uint8_t)p->n_redirect++;
          p->redirect[c->redirect] = f->redirect_addr;
        }
      continue;
    dup_far:
      fail (err, errlen, "FAR %u defined twice", f->far_id);
      upf_program_free (p);
      return -1;
    }

  for (i = 0; i < p->n_pdr; i++)
    {
      const upf_pdr_t *r = &d->pdr[order[i]];
      upf_pdr_rule_t *x = &rs->rule[i];
      x->pdr_id = r->pdr_id;
      x->pdi = pdr_pdi[i];
      x->far = x->encap = UPF_NONE8;
      for (j = 0; j < p->n_far; j++)
        if (p->far[j].far_id == r->far_id)
          x->far = (uint8_t)j;
      if (x->far == UPF_NONE8)
        {
          fail (err, errlen, "PDR %u: FAR %u not defined", r->pdr_id, r->far_id);
          upf_program_free (p);
          return -1;
        }
      x->encap = p->far[x->far].encap;
      for (k = 0; k < UPF_MAX_QER_PER_PDR; k++)
        {
          x->qer[k] = UPF_NONE8;
          if (!r->qer_id[k])
            continue;
          for (j = 0; j < p->n_qer; j++)
            if (p->qer_rt[j].qer_id == r->qer_id[k])
              x->qer[k] = (uint8_t)j;
          if (x->qer[k] == UPF_NONE8)
            {
              fail (err, errlen, "PDR %u: QER %u not defined", r->pdr_id, r->qer_id[k]);
              upf_program_free (p);
              return -1;
            }
        }
      for (k = 0; k < UPF_MAX_URR_PER_PDR; k++)
        {
          x->urr[k] = UPF_NONE8;
          if (!r->urr_id[k])
            continue;
          for (j = 0; j < p->n_urr; j++)
            if (p->urr[j].urr_id == r->urr_id[k])
              x->urr[k] = (uint8_t)j;
          if (x->urr[k] == UPF_NONE8)
            {
              fail (err, errlen, "PDR %u: URR %u not defined", r->pdr_id, r->urr_id[k]);
              upf_program_free (p);
              return -1;
            }
        }
      /* compact the lists so the per-packet loops stop at the first UPF_NONE8 */
      for (j = k = 0; k < UPF_MAX_QER_PER_PDR; k++)
        if (x->qer[k] != UPF_NONE8)
          x->qer[j++] = x->qer[k];
      for (; j < UPF_MAX_QER_PER_PDR; j++)
        x->qer[j] = UPF_NONE8;
      for (j = k = 0; k < UPF_MAX_URR_PER_PDR; k++)
        if (x->urr[k] != UPF_NONE8)
          x->urr[j++] = x->urr[k];
      for (; j < UPF_MAX_URR_PER_PDR; j++)
        x->urr[j] = UPF_NONE8;
    }

  /* Classifiers. */
  for (i = 0; i < p->n_pdr; i++)
    {
      const upf_pdr_t *r = &d->pdr[order[i]];
      upf_classifier_t *c = &cls[r->source_interface == UPF_IF_ACCESS ? UPF_DIR_UL : UPF_DIR_DL];
      uint32_t n = r->sdf_count ? r->sdf_count : 1;
      if (c->n_rules + n > UPF_MAX_RULES)
        {
          fail (err, errlen, "more than %u PDR x SDF filter rules in one direction", UPF_MAX_RULES);
          upf_program_free (p);
          return -1;
        }
      if (!r->sdf_count)
        add_rule (c, (uint8_t)i, UPF_NONE8, 0);
      for (k = 0; k < r->sdf_count; k++)
        add_rule (c, (uint8_t)i, (uint8_t)(r->sdf_first + k), &rs->sdf[r->sdf_first + k]);
    }
  for (k = 0; k < 2; k++)
    {
      upf_classifier_t *c = &cls[k];
      for (i = 0; i < 2; i++)
        for (j = 0; j < UPF_PC_N; j++)
          c->pf_bm[i][j] = c->fam_bm[i] & c->proto_bm[j];
      c->pdi = c->n_rules ? rs->rule[c->rule_pdr[0]].pdi : UPF_NONE8;
      for (j = 1; j < c->n_rules; j++)
        if (rs->rule[c->rule_pdr[j]].pdi != c->pdi)
          c->pdi = UPF_NONE8;
    }
  /* entries whose key implies their direction's one PDI */
  for (i = 0; i < n_key; i++)
    {
      upf_entry_t *e = key_entry[i];
      const upf_pdi_rt_t *x = &p->pdi[key_pdi[i]];
      unsigned dir = e->key.dl ? UPF_DIR_DL : UPF_DIR_UL;
      /* (a gtpu_dl key's PDI is no UL rule's: never implied; upf_classify_gtpu_dl checks) */
      e->key.pdi_implied = cls[dir].pdi == key_pdi[i]
                           && x->pdi_flags == (dir == UPF_DIR_DL ? UPF_PDI_UE_IP : UPF_PDI_FTEID);
    }
  rs->hash = ruleset_hash (rs);
  *out = p;
  return 0;
}

static void
ruleset_release (upf_ruleset_t *rs)
{
  if (!rs || --rs->refs)
    return;
  if (rs->pprev)
    {
      *rs->pprev = rs->next;
      if (rs->next)
        rs->next->pprev = rs->pprev;
    }
  upf_free (rs);
}

void
upf_program_free (upf_program_t *p)
{
  if (!p)
    return;
  ruleset_release (p->rs);
  upf_free_lines (p, (size_t)p->lines * 64);
}

static int
ruleset_eq (const upf_ruleset_t *a, const upf_ruleset_t *b)
{
  return a->hash == b->hash && a->n_sdf == b->n_sdf && a->n_pdr == b->n_pdr
         && !memcmp (a->cls, b->cls, sizeof (a->cls))
         && !memcmp (a->sdf, b->sdf, a->n_sdf * sizeof (upf_sdf_t))
         && !memcmp (a->rule, b->rule, a->n_pdr * sizeof (upf_pdr_rule_t));
}

void
upf_ruleset_intern (upf_ruleset_t **table, upf_program_t *p)
{
  upf_ruleset_t *rs = p->rs, **b, *x;
  if (rs->pprev)
    return;
  b = &table[rs->hash & (UPF_RULESET_BUCKETS - 1)];
  for (x = *b; x; x = x->next)
    if (ruleset_eq (x, rs))
      {
        x->refs++;
        ruleset_release (rs);
        p->rs = x;
        p->sdf = x->sdf;
        p->rule = x->rule;
        p->cls = x->cls;
        return;
      }
  rs->next = *b;
  if (rs->next)
    rs->next->pprev = &rs->next;
  rs->pprev = b;
  *b = rs;
}

const char *
upf_malformed_str (unsigned reason)
{
  static const char *s[] = {
#define _(n, str) str,
    foreach_upf_malformed
#undef _
  };
  return reason < UPF_MALFORMED_N_REASONS ? s[reason] : "unknown";
}

const char *
upf_drop_reason_str (unsigned reason)
{
  static const char *s[] = {
#define _(n, str) str,
    foreach_upf_drop_reason
#undef _
  };
  return reason < UPF_DROP_N_REASONS ? s[reason] : "unknown";
}
