/* A small session program shape shared by the core tests (after test_util.h). */
#ifndef included_test_progs_h
#define included_test_progs_h

#define N3_UPF IP4 (10, 200, 0, 2)
#define N3_GNB IP4 (10, 200, 0, 1)
#define UE IP4 (10, 45, 0, 7)
#define DN IP4 (10, 201, 0, 9)

typedef struct
{
  upf_pdr_t pdr[4];
  upf_far_t far[2];
  upf_qer_t qer[2];
  upf_urr_t urr[4];
  upf_bar_t bar;
  upf_program_desc_t d;
} prog_t;

/* UL PDR 1 (F-TEID teid) -> FAR 1 to CORE; DL PDR 2 (UE IP ue) -> FAR 2 (forward with GTP-U,
 * or buffer when buffering); QER 1..n_qer, URR 1..n_urr on both; a BAR when buffering. */
static void
mk_prog (prog_t *p, uint32_t teid, uint32_t ue, unsigned n_qer, unsigned n_urr, int buffering,
         uint64_t threshold)
{
  unsigned i;
  memset (p, 0, sizeof (*p));
  for (i = 0; i < 2; i++)
    {
      upf_pdr_t *r = &p->pdr[i];
      r->pdr_id = i + 1;
      r->precedence = 100;
      r->source_interface = i ? UPF_IF_CORE : UPF_IF_ACCESS;
      r->pdi_flags = i ? UPF_PDI_UE_IP : UPF_PDI_FTEID | UPF_PDI_UE_IP;
      r->teid = teid;
      r->fteid_addr = upf_ip4 (N3_UPF);
      r->ue_ip = upf_ip4 (ue);
      r->ue_ip_plen = 128;
      r->outer_header_removal = i ? UPF_OHR_NONE : UPF_OHR_GTPU_UDP_IPV4;
      r->far_id = i + 1;
      for (unsigned q = 0; q < n_qer; q++)
        r->qer_id[q] = q + 1;
      for (unsigned u = 0; u < n_urr; u++)
        r->urr_id[u] = u + 1;
    }
  p->far[0] = (upf_far_t){
    .far_id = 1, .apply_action = UPF_AA_FORW, .dest_interface = UPF_IF_CORE, .dscp = UPF_DSCP_NONE
  };
  p->far[1] = (upf_far_t){ .far_id = 2,
                           .apply_action = buffering ? UPF_AA_BUFF | UPF_AA_NOCP : UPF_AA_FORW,
                           .dest_interface = UPF_IF_ACCESS,
                           .ohc = UPF_OHC_GTPU,
                           .ohc_teid = 0x200,
                           .ohc_peer = upf_ip4 (N3_GNB),
                           .ohc_src = upf_ip4 (N3_UPF),
                           .dscp = UPF_DSCP_NONE };
  for (i = 0; i < n_qer; i++)
    p->qer[i] = (upf_qer_t){ .qer_id = i + 1, .qfi = 9 };
  for (i = 0; i < n_urr; i++)
    p->urr[i]
      = (upf_urr_t){ .urr_id = i + 1, .triggers = UPF_URR_T_VOLTH, .vol_threshold = { threshold } };
  p->bar = (upf_bar_t){ .bar_id = 1, .max_pkts = 8 };
  p->d = (upf_program_desc_t){ .pdr = p->pdr,
                               .far = p->far,
                               .qer = p->qer,
                               .urr = p->urr,
                               .bar = buffering ? &p->bar : 0,
                               .n_pdr = 2,
                               .n_far = 2,
                               .n_qer = n_qer,
                               .n_urr = n_urr };
}

static upf_session_t *
install_ok (upf_ctx_t *c, uint64_t seid, prog_t *p)
{
  char err[128];
  upf_session_t *s = upfcore_session_create (c, seid);
  assert_non_null (s);
  if (upfcore_session_install (c, s, &p->d, err, sizeof (err)))
    fail_msg ("install: %s", err);
  return s;
}

#endif /* included_test_progs_h */
