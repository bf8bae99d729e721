/* Two QERs on one PDR (a flow MBR and the session AMBR: a packet one of them drops takes no
 * tokens from the other); a packet dropped after the QERs (FAR DROP, exhausted quota) or
 * buffered takes no tokens; the PDU Session Container type of an N9 uplink G-PDU; a QER's
 * Paging Policy Indicator in the DL container. */
#include "test_util.h"

#define N3_UPF IP4 (10, 200, 0, 2)
#define N3_GNB IP4 (10, 200, 0, 1)
#define N9_PSA IP4 (10, 200, 0, 9)
#define UE IP4 (10, 45, 0, 7)
#define DN_A IP4 (10, 201, 0, 9)
#define DN_B IP4 (10, 201, 0, 10)

typedef struct
{
  upf_pdr_t pdr[4];
  upf_far_t far[2];
  upf_qer_t qer[2];
  upf_urr_t urr[1];
  upf_sdf_t sdf[1];
  upf_bar_t bar;
  upf_program_desc_t d;
} prog_t;

/* UL PDR 1 (F-TEID 0x100) -> FAR 1 to CORE; DL PDR 2 (UE IP, precedence 100) -> FAR 2 to
 * ACCESS with GTP-U (TEID 0x200, PSC). QER 1 (QFI 9) and URR 1 on both. */
static void
base_prog (prog_t *p)
{
  memset (p, 0, sizeof (*p));
  p->pdr[0] = (upf_pdr_t){ .pdr_id = 1,
                           .precedence = 100,
                           .source_interface = UPF_IF_ACCESS,
                           .pdi_flags = UPF_PDI_FTEID | UPF_PDI_UE_IP,
                           .teid = 0x100,
                           .fteid_addr = upf_ip4 (N3_UPF),
                           .ue_ip = upf_ip4 (UE),
                           .ue_ip_plen = 128,
                           .outer_header_removal = UPF_OHR_GTPU_UDP_IPV4,
                           .far_id = 1,
                           .qer_id = { 1 },
                           .urr_id = { 1 } };
  p->pdr[1] = (upf_pdr_t){ .pdr_id = 2,
                           .precedence = 100,
                           .source_interface = UPF_IF_CORE,
                           .pdi_flags = UPF_PDI_UE_IP,
                           .ue_ip = upf_ip4 (UE),
                           .ue_ip_plen = 128,
                           .outer_header_removal = UPF_OHR_NONE,
                           .far_id = 2,
                           .qer_id = { 1 },
                           .urr_id = { 1 } };
  p->far[0] = (upf_far_t){
    .far_id = 1, .apply_action = UPF_AA_FORW, .dest_interface = UPF_IF_CORE, .dscp = UPF_DSCP_NONE
  };
  p->far[1] = (upf_far_t){ .far_id = 2,
                           .apply_action = UPF_AA_FORW,
                           .dest_interface = UPF_IF_ACCESS,
                           .ohc = UPF_OHC_GTPU,
                           .ohc_flags = UPF_OHC_F_PSC,
                           .ohc_teid = 0x200,
                           .ohc_peer = upf_ip4 (N3_GNB),
                           .ohc_src = upf_ip4 (N3_UPF),
                           .dscp = UPF_DSCP_NONE };
  p->qer[0] = (upf_qer_t){ .qer_id = 1, .qfi = 9 };
  p->urr[0] = (upf_urr_t){ .urr_id = 1 };
  p->d = (upf_program_desc_t){ .pdr = p->pdr,
                               .far = p->far,
                               .qer = p->qer,
                               .urr = p->urr,
                               .sdf = p->sdf,
                               .n_pdr = 2,
                               .n_far = 2,
                               .n_qer = 1,
                               .n_urr = 1 };
}

static upf_session_t *
install (upf_ctx_t *c, uint64_t seid, prog_t *p)
{
  char err[128];
  upf_session_t *s = upfcore_session_create (c, seid);
  assert_non_null (s);
  if (upfcore_session_install (c, s, &p->d, err, sizeof (err)))
    fail_msg ("install: %s", err);
  return s;
}

/* Session AMBR QER 1 (DL 8 Mbit/s, a 10,000-byte bucket: ten 1000-byte packets) on the DL
 * PDR 2 (any flow) and on DL PDR 10 (from DN_A, precedence 10), which also has the flow QER 2
 * (DL 8 Mbit/s, a 2000-byte bucket). */
static void
ambr_prog (prog_t *p)
{
  base_prog (p);
  p->qer[0].mbr_dl_bps = 8000000, p->qer[0].burst_bytes = 10000;
  p->qer[1] = (upf_qer_t){ .qer_id = 2, .qfi = 9, .mbr_dl_bps = 8000000, .burst_bytes = 2000 };
  p->sdf[0] = (upf_sdf_t){ .remote = upf_ip4 (DN_A), .remote_plen = 128 };
  p->pdr[2] = p->pdr[1];
  p->pdr[2].pdr_id = 10, p->pdr[2].precedence = 10;
  p->pdr[2].sdf_first = 0, p->pdr[2].sdf_count = 1;
  p->pdr[2].qer_id[0] = 1, p->pdr[2].qer_id[1] = 2;
  p->d.n_pdr = 3, p->d.n_qer = 2, p->d.n_sdf = 1;
}

/* Sends n 1000-byte DL packets from src at time t; returns how many are forwarded, and the
 * last verdict in v. */
static int
send_dl (upf_ctx_t *c, uint32_t src, int n, uint64_t t, upf_verdict_t *v)
{
  uint8_t in[1100], out[1200];
  uint32_t il = mk_inner4 (in, src, UE, UPF_PROTO_UDP, 1, 2, 1000 - 28);
  int fwd = 0;
  assert_int_equal (il, 1000);
  for (int i = 0; i < n; i++)
    {
      upfcore_dl_packet (c, 0, in, il, t, v, out, sizeof (out));
      fwd += v->verdict == UPF_VERDICT_FORWARD;
    }
  return fwd;
}

static void
test_flow_mbr_drops_take_no_ambr_tokens (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  upf_verdict_t v;
  uint64_t t = 1000000000ULL;
  (void)st;
  ambr_prog (&p);
  install (c, 1, &p);
  /* flow A: QER 2's bucket lets 2 through, QER 2 drops the other 18 */
  assert_int_equal (send_dl (c, DN_A, 20, t, &v), 2);
  assert_int_equal (v.pdr_id, 10);
  assert_int_equal (v.drop_reason, UPF_DROP_MBR);
  /* flow B, at the same instant: the AMBR bucket lost only the 2 packets sent */
  assert_int_equal (send_dl (c, DN_B, 20, t, &v), 8);
  assert_int_equal (v.pdr_id, 2);
  assert_int_equal (v.drop_reason, UPF_DROP_MBR);
  /* and once the AMBR bucket is empty, flow A takes nothing from QER 2's refill: after 2 ms
   * (2000 bytes for each), A gets 2 packets (from both buckets), then B none */
  t += 2000000;
  assert_int_equal (send_dl (c, DN_A, 5, t, &v), 2);
  assert_int_equal (send_dl (c, DN_B, 5, t, &v), 0);
  upfcore_ctx_delete (c);
}

static void
test_closed_second_gate_takes_no_first_qer_tokens (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  upf_verdict_t v;
  uint64_t t = 1000000000ULL;
  (void)st;
  ambr_prog (&p);
  p.qer[1].gate_dl = UPF_GATE_CLOSED;
  install (c, 1, &p);
  assert_int_equal (send_dl (c, DN_A, 20, t, &v), 0);
  assert_int_equal (v.drop_reason, UPF_DROP_GATE_CLOSED);
  assert_int_equal (send_dl (c, DN_B, 20, t, &v), 10);
  upfcore_ctx_delete (c);
}

/* The other order, [flow QER 2, AMBR QER 1], with an AMBR of 80 Mbit/s: the packets the AMBR
 * (second) drops take nothing from the flow QER (first). */
static void
test_second_qer_drops_take_no_first_qer_tokens (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  upf_verdict_t v;
  uint64_t t = 1000000000ULL;
  (void)st;
  ambr_prog (&p);
  p.qer[0].mbr_dl_bps = 80000000; /* AMBR: 10,000 bytes a ms, 10 packets deep */
  p.qer[1].burst_bytes = 5000;    /* flow: 1000 bytes a ms, 5 packets deep */
  p.pdr[2].qer_id[0] = 2, p.pdr[2].qer_id[1] = 1;
  install (c, 1, &p);
  assert_int_equal (send_dl (c, DN_B, 8, t, &v), 8); /* AMBR: 2 left */
  assert_int_equal (send_dl (c, DN_A, 10, t, &v), 2);
  assert_int_equal (v.drop_reason, UPF_DROP_MBR); /* by the AMBR: the flow QER has 3 left */
  /* 1 ms: the AMBR is full again, the flow QER holds 3 + 1 packets */
  t += 1000000;
  assert_int_equal (send_dl (c, DN_A, 10, t, &v), 4);
  upfcore_ctx_delete (c);
}

/* QER 1 alone on the DL PDR 2: DL 8 Mbit/s, a 10,000-byte bucket (ten 1000-byte packets). */
static void
mbr_prog (prog_t *p)
{
  base_prog (p);
  p->qer[0].mbr_dl_bps = 8000000, p->qer[0].burst_bytes = 10000;
}

static void
put (upf_ctx_t *c, upf_session_t *s, prog_t *p)
{
  char err[128];
  if (upfcore_session_install (c, s, &p->d, err, sizeof (err)))
    fail_msg ("install: %s", err);
}

/* Packets the FAR drops take no tokens: once it forwards, at the same instant, the bucket is
 * full. */
static void
test_far_drop_takes_no_tokens (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  upf_verdict_t v;
  upf_session_t *s;
  uint64_t t = 1000000000ULL;
  (void)st;
  mbr_prog (&p);
  p.far[1].apply_action = UPF_AA_DROP;
  s = install (c, 1, &p);
  assert_int_equal (send_dl (c, DN_A, 20, t, &v), 0);
  assert_int_equal (v.drop_reason, UPF_DROP_FAR_DROP);
  p.far[1].apply_action = UPF_AA_FORW;
  put (c, s, &p);
  assert_int_equal (send_dl (c, DN_A, 20, t, &v), 10);
  assert_int_equal (v.drop_reason, UPF_DROP_MBR);
  upfcore_ctx_delete (c);
}

/* Packets an exhausted quota drops take no tokens: they are dropped for the quota, not for
 * the MBR, and once the quota is lifted the bucket holds what the packets sent left. */
static void
test_quota_drop_takes_no_tokens (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  upf_verdict_t v;
  upf_session_t *s;
  uint64_t t = 1000000000ULL;
  (void)st;
  mbr_prog (&p);
  p.urr[0].triggers = UPF_URR_T_VOLQU;
  p.urr[0].flags = UPF_URR_F_DROP_ON_QUOTA;
  p.urr[0].vol_quota[UPF_VOL_TOTAL] = 4000; /* four packets */
  s = install (c, 1, &p);
  assert_int_equal (send_dl (c, DN_A, 20, t, &v), 4);
  assert_int_equal (v.drop_reason, UPF_DROP_QUOTA);
  p.urr[0] = (upf_urr_t){ .urr_id = 1 };
  put (c, s, &p);
  assert_int_equal (send_dl (c, DN_A, 20, t, &v), 6);
  assert_int_equal (v.drop_reason, UPF_DROP_MBR);
  upfcore_ctx_delete (c);
}

/* Buffered packets take no tokens (a flush runs them through the rules then), nor do those
 * a full buffer drops. */
static void
test_buffered_packets_take_no_tokens (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  upf_verdict_t v;
  upf_session_t *s;
  uint64_t t = 1000000000ULL;
  (void)st;
  mbr_prog (&p);
  p.far[1].apply_action = UPF_AA_BUFF;
  p.bar = (upf_bar_t){ .bar_id = 1, .max_pkts = 4 };
  p.d.bar = &p.bar;
  s = install (c, 1, &p);
  assert_int_equal (send_dl (c, DN_A, 20, t, &v), 0);
  assert_int_equal (upfcore_buffer_count (s), 4);
  assert_int_equal (v.drop_reason, UPF_DROP_BUFFER_FULL);
  assert_int_equal (upfcore_buffer_drop (s), 4);
  p.far[1].apply_action = UPF_AA_FORW;
  put (c, s, &p);
  assert_int_equal (send_dl (c, DN_A, 20, t, &v), 10);
  upfcore_ctx_delete (c);
}

/* The octets of the PDU Session Container of a G-PDU: the 4 after the GTP-U header's 12. */
static const uint8_t *
psc_of (const uint8_t *out, uint32_t n)
{
  upf_outer_t ou;
  const uint8_t *g;
  assert_int_equal (upf_parse_outer (out, n, &ou), 0);
  g = out + ou.payload_offset;
  assert_true (g[0] & UPF_GTPU_E);
  assert_int_equal (g[11], UPF_GTPU_EXT_PDU_SESSION_CONTAINER);
  return g + 12;
}

/* An I-UPF: the UL FAR sends to the PSA over N9 (destination Core, GTP-U with a PDU Session
 * Container), the DL FAR to the gNB. RQI on the QER. */
static void
test_n9_uplink_psc_is_ul_pdu_session_information (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  upf_verdict_t v;
  uint8_t in[256], pkt[512], out[512];
  const uint8_t *psc;
  upf_gtpu_t g;
  upf_outer_t ou;
  uint32_t il, n, o;
  (void)st;
  base_prog (&p);
  p.far[0].ohc = UPF_OHC_GTPU;
  p.far[0].ohc_flags = UPF_OHC_F_PSC;
  p.far[0].ohc_teid = 0x777;
  p.far[0].ohc_peer = upf_ip4 (N9_PSA);
  p.far[0].ohc_src = upf_ip4 (N3_UPF);
  p.qer[0].rqi = 1;
  install (c, 1, &p);

  il = mk_inner4 (in, UE, DN_A, UPF_PROTO_UDP, 1000, 2000, 100);
  n = mk_gtpu4 (pkt, N3_GNB, N3_UPF, 0x100, 9, in, il);
  o = upfcore_ul_packet (c, pkt, n, 1, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_non_null (v.encap);
  assert_int_equal (o, 20 + 8 + 16 + il);
  psc = psc_of (out, o);
  assert_int_equal (psc[0], 1);    /* length: 4 octets */
  assert_int_equal (psc[1], 0x10); /* PDU type 1 (UL PDU SESSION INFORMATION), no QMP/SNP */
  assert_int_equal (psc[2], 9);    /* QFI; no RQI in an uplink container */
  assert_int_equal (psc[3], UPF_GTPU_EXT_NONE);
  assert_int_equal (upf_parse_outer (out, o, &ou), 0);
  assert_int_equal (upf_parse_gtpu (out + ou.payload_offset, ou.payload_len, &g), 0);
  assert_int_equal (g.teid, 0x777);
  assert_int_equal (g.pdu_type, UPF_PDU_TYPE_UL);
  assert_int_equal (g.qfi, 9);
  assert_memory_equal (out + o - il, in, il);

  /* the DL FAR towards the access side keeps the DL container, with RQI */
  il = mk_inner4 (in, DN_A, UE, UPF_PROTO_UDP, 2000, 1000, 100);
  o = upfcore_dl_packet (c, 0, in, il, 1, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  psc = psc_of (out, o);
  assert_int_equal (psc[1], 0x00);     /* PDU type 0 (DL PDU SESSION INFORMATION) */
  assert_int_equal (psc[2], 0x40 | 9); /* RQI | QFI */
  upfcore_ctx_delete (c);
}

/* The templates themselves: a UL one writes neither PDU type 0 nor RQI. */
static void
test_encap_ul_psc_template (void **st)
{
  upf_encap_t t;
  upf_ip_t a = upf_ip4 (N3_UPF), b = upf_ip4 (N9_PSA);
  uint8_t buf[128], inner[20] = { 0x45 };
  (void)st;
  assert_int_equal (upf_encap_psc (0, UPF_IF_CORE), UPF_PSC_NONE);
  assert_int_equal (upf_encap_psc (1, UPF_IF_CORE), UPF_PSC_UL);
  assert_int_equal (upf_encap_psc (1, UPF_IF_ACCESS), UPF_PSC_DL);
  assert_int_equal (upf_encap_psc (1, UPF_IF_SGI_LAN), UPF_PSC_DL);
  assert_int_equal (upf_encap_init (&t, &a, &b, 0x777, UPF_PSC_UL, 0xff), 0);
  assert_int_equal (t.len, 20 + 8 + 16);
  assert_int_equal (upf_encap_write (&t, buf, inner, sizeof (inner), 63, 1, 0), t.len);
  assert_int_equal (buf[28 + 13], UPF_PDU_TYPE_UL << 4);
  assert_int_equal (buf[28 + 14], 63);
  assert_int_equal (upf_encap_init (&t, &a, &b, 0x777, UPF_PSC_DL, 0xff), 0);
  upf_encap_write (&t, buf, inner, sizeof (inner), 63, 1, 0);
  assert_int_equal (buf[28 + 13], UPF_PDU_TYPE_DL << 4);
  assert_int_equal (buf[28 + 14], 0x40 | 63);
}

/* TS 29.244 Table 7.5.2.5-1 (Create QER), Paging Policy Indicator: the UPF sets it in the
 * outgoing packets. TS 38.415 5.5.2.1: the DL PDU SESSION INFORMATION carries PPP = 1 and
 * the PPI in its octet 3; the extension header grows from 4 to 8 octets (octet 3 and 3
 * octets of padding). The uplink and a QER without one are as before. */
static void
test_qer_ppi_in_dl_container (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  prog_t p;
  upf_verdict_t v;
  uint8_t in[256], pkt[512], out[512];
  const uint8_t *psc;
  upf_gtpu_t g;
  upf_outer_t ou;
  upf_session_t *s;
  char err[128];
  uint32_t il, n, o;
  (void)st;
  base_prog (&p);
  p.qer[0].ppi = UPF_PPI_SET | 5;
  s = install (c, 1, &p);

  il = mk_inner4 (in, DN_A, UE, UPF_PROTO_UDP, 2000, 1000, 100);
  o = upfcore_dl_packet (c, 0, in, il, 1, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (v.ppi, UPF_PPI_SET | 5);
  assert_int_equal (o, 20 + 8 + 20 + il);
  assert_int_equal (upf_encap_len (v.encap, v.ppi), 20 + 8 + 20);
  psc = psc_of (out, o);
  assert_int_equal (psc[0], 2);                   /* length: 8 octets */
  assert_int_equal (psc[1], 0x00);                /* PDU type 0, no QMP/SNP/MSNP */
  assert_int_equal (psc[2], 0x80 | 9);            /* PPP | QFI */
  assert_int_equal (psc[3], 5 << 5);              /* PPI | spare */
  assert_int_equal (psc[4] | psc[5] | psc[6], 0); /* padding */
  assert_int_equal (psc[7], UPF_GTPU_EXT_NONE);
  assert_int_equal (upf_csum_fold (upf_csum_add (0, out, 20)), 0);
  assert_int_equal (upf_rd16 (out + 2), o);
  assert_int_equal (upf_parse_outer (out, o, &ou), 0);
  assert_int_equal (upf_rd16 (out + 24), o - 20); /* UDP length */
  assert_int_equal (upf_parse_gtpu (out + ou.payload_offset, ou.payload_len, &g), 0);
  assert_int_equal (g.teid, 0x200);
  assert_int_equal (g.pdu_type, UPF_PDU_TYPE_DL);
  assert_int_equal (g.qfi, 9);
  assert_true (g.has_ppi);
  assert_int_equal (g.ppi, 5);
  assert_int_equal (g.payload_len, il);
  assert_memory_equal (out + o - il, in, il);

  /* the vector path writes the same header in front of the packet, in its headroom */
  {
    uint8_t vbuf[512], hl = 0, *vp = vbuf + 128;
    uint32_t vlen = il;
    upf_verdict_t vv;
    memcpy (vp, in, il);
    upf_dl_process_vec_encap (c, &c->stats, 0, &vp, &vlen, 1, 1, &vv, &hl);
    assert_int_equal (vv.verdict, UPF_VERDICT_FORWARD);
    assert_int_equal (vv.ppi, UPF_PPI_SET | 5);
    assert_int_equal (hl, 20 + 8 + 20);
    assert_memory_equal (vp - hl, out, hl);
  }

  /* PPI 0 is a value: PPP set, octet 3 zero */
  p.qer[0].ppi = UPF_PPI_SET | 0;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  o = upfcore_dl_packet (c, 0, in, il, 2, &v, out, sizeof (out));
  psc = psc_of (out, o);
  assert_int_equal (o, 20 + 8 + 20 + il);
  assert_int_equal (psc[2], 0x80 | 9);
  assert_int_equal (psc[3], 0);

  /* the uplink over N9 (a UL container) carries no PPI */
  base_prog (&p);
  p.far[0].ohc = UPF_OHC_GTPU;
  p.far[0].ohc_flags = UPF_OHC_F_PSC;
  p.far[0].ohc_teid = 0x777;
  p.far[0].ohc_peer = upf_ip4 (N9_PSA);
  p.far[0].ohc_src = upf_ip4 (N3_UPF);
  p.qer[0].ppi = UPF_PPI_SET | 5;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  il = mk_inner4 (in, UE, DN_A, UPF_PROTO_UDP, 1000, 2000, 100);
  n = mk_gtpu4 (pkt, N3_GNB, N3_UPF, 0x100, 9, in, il);
  o = upfcore_ul_packet (c, pkt, n, 3, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (o, 20 + 8 + 16 + il);
  psc = psc_of (out, o);
  assert_int_equal (psc[0], 1);
  assert_int_equal (psc[2], 9);

  /* the QER without it (an Update QER removing it): PPP 0, a 4-octet container again */
  base_prog (&p);
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  il = mk_inner4 (in, DN_A, UE, UPF_PROTO_UDP, 2000, 1000, 100);
  o = upfcore_dl_packet (c, 0, in, il, 4, &v, out, sizeof (out));
  assert_int_equal (v.ppi, 0);
  assert_int_equal (o, 20 + 8 + 16 + il);
  psc = psc_of (out, o);
  assert_int_equal (psc[0], 1);
  assert_int_equal (psc[2], 9);
  assert_int_equal (psc[3], UPF_GTPU_EXT_NONE);
  upfcore_ctx_delete (c);
}

/* An IPv6 outer header with a PPI: the UDP checksum covers the 4 octets more. */
static void
test_encap_ppi_ipv6_checksum (void **st)
{
  upf_encap_t t;
  upf_ip_t a = { { 0xfd, 0, [15] = 2 } }, b = { { 0xfd, 0, [15] = 1 } };
  uint8_t buf[256], inner[20] = { 0x45 }, pseudo[512];
  uint32_t n, ulen, k = 0;
  (void)st;
  assert_int_equal (upf_encap_init (&t, &a, &b, 0x777, UPF_PSC_DL, 0xff), 0);
  assert_int_equal (upf_encap_len (&t, UPF_PPI_SET | 7), t.len + 4);
  n = upf_encap_write (&t, buf, inner, sizeof (inner), 9, 0, UPF_PPI_SET | 7);
  assert_int_equal (n, 40 + 8 + 20);
  memcpy (buf + n, inner, sizeof (inner));
  assert_int_equal (buf[48 + 12], 2);
  assert_int_equal (buf[48 + 14], 0x80 | 9);
  assert_int_equal (buf[48 + 15], 7 << 5);
  ulen = n - 40 + sizeof (inner);
  assert_int_equal (upf_rd16 (buf + 4), ulen);
  assert_int_equal (upf_rd16 (buf + 44), ulen);
  assert_int_equal (upf_rd16 (buf + 48 + 2), ulen - 8 - 8);
  memcpy (pseudo, buf + 8, 32), k = 32;
  upf_wr32 (pseudo + k, ulen), k += 4;
  memset (pseudo + k, 0, 3), pseudo[k + 3] = UPF_PROTO_UDP, k += 4;
  memcpy (pseudo + k, buf + 40, ulen), k += ulen;
  assert_int_equal (upf_csum_fold (upf_csum_add (0, pseudo, k)), 0);
  /* a UL container has no PPI */
  assert_int_equal (upf_encap_init (&t, &a, &b, 0x777, UPF_PSC_UL, 0xff), 0);
  assert_int_equal (upf_encap_len (&t, UPF_PPI_SET | 7), t.len);
  assert_int_equal (upf_encap_write (&t, buf, inner, sizeof (inner), 9, 0, UPF_PPI_SET | 7), t.len);
  assert_int_equal (buf[48 + 14], 9);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_flow_mbr_drops_take_no_ambr_tokens),
    cmocka_unit_test (test_closed_second_gate_takes_no_first_qer_tokens),
    cmocka_unit_test (test_second_qer_drops_take_no_first_qer_tokens),
    cmocka_unit_test (test_far_drop_takes_no_tokens),
    cmocka_unit_test (test_quota_drop_takes_no_tokens),
    cmocka_unit_test (test_buffered_packets_take_no_tokens),
    cmocka_unit_test (test_n9_uplink_psc_is_ul_pdu_session_information),
    cmocka_unit_test (test_encap_ul_psc_template),
    cmocka_unit_test (test_qer_ppi_in_dl_container),
    cmocka_unit_test (test_encap_ppi_ipv6_checksum),
  };
  return cmocka_run_group_tests (tests, 0, 0);
}
