/*
 * GTP-U received into a session as downlink (TS 23.501 I-UPF, UL classifier, branching point:
 * a remote PSA sends downlink over N9 to this UPF's F-TEID; BUCP: the CP function sends the
 * data it buffered back over N4-u): a PDR with source interface Core (or CP-function) and a
 * local F-TEID takes the G-PDUs of that F-TEID as downlink. The session here is an I-UPF's:
 *   PDR 1  Access, F-TEID 0x100 on the N3 address, UE IP          -> FAR 1 to Core (decap)
 *   PDR 2  Core, F-TEID 0x300 on the N9 address, UE IP (prec 10)  -> FAR 2 to Access, GTP-U
 *                                                                     to the gNB, TEID 0x200
 *   PDR 3  Core, UE IP only (N6, prec 20)                         -> FAR 3 to Access, GTP-U
 *                                                                     to the gNB, TEID 0x201
 * QER 1 (DL MBR only) and URR 1 on every PDR.
 */
#include "test_util.h"

#define N3_UPF IP4 (10, 200, 0, 2)
#define N3_GNB IP4 (10, 200, 0, 1)
#define UE IP4 (10, 45, 0, 7)
#define DN IP4 (10, 201, 0, 9)
#define N9_UPF IP4 (10, 202, 0, 2)
#define N9_PSA IP4 (10, 202, 0, 1)
#define N9_TEID 0x300

typedef struct
{
  upf_pdr_t pdr[3];
  upf_far_t far[3];
  upf_qer_t qer[1];
  upf_urr_t urr[1];
  upf_bar_t bar;
  upf_program_desc_t d;
} iupf_t;

static void
mk_iupf (iupf_t *p, uint64_t mbr_dl_bps)
{
  unsigned i;
  memset (p, 0, sizeof (*p));
  for (i = 0; i < 3; i++)
    {
      upf_pdr_t *r = &p->pdr[i];
      r->pdr_id = i + 1;
      r->precedence = i == 2 ? 20 : 10;
      r->source_interface = i ? UPF_IF_CORE : UPF_IF_ACCESS;
      r->pdi_flags = (i < 2 ? UPF_PDI_FTEID : 0) | UPF_PDI_UE_IP;
      r->teid = i == 0 ? 0x100 : i == 1 ? N9_TEID : 0;
      r->fteid_addr = i == 0 ? upf_ip4 (N3_UPF) : i == 1 ? upf_ip4 (N9_UPF) : (upf_ip_t){ 0 };
      r->ue_ip = upf_ip4 (UE);
      r->ue_ip_plen = 128;
      r->outer_header_removal = i < 2 ? UPF_OHR_GTPU_UDP_IPV4 : UPF_OHR_NONE;
      r->far_id = i + 1;
      r->qer_id[0] = 1;
      r->urr_id[0] = 1;
    }
  p->far[0] = (upf_far_t){
    .far_id = 1, .apply_action = UPF_AA_FORW, .dest_interface = UPF_IF_CORE, .dscp = UPF_DSCP_NONE
  };
  for (i = 1; i < 3; i++)
    p->far[i] = (upf_far_t){ .far_id = i + 1,
                             .apply_action = UPF_AA_FORW,
                             .dest_interface = UPF_IF_ACCESS,
                             .ohc = UPF_OHC_GTPU,
                             .ohc_flags = UPF_OHC_F_PSC,
                             .ohc_teid = 0x200 + i - 1,
                             .ohc_peer = upf_ip4 (N3_GNB),
                             .ohc_src = upf_ip4 (N3_UPF),
                             .dscp = UPF_DSCP_NONE };
  p->qer[0] = (upf_qer_t){ .qer_id = 1, .mbr_dl_bps = mbr_dl_bps, .burst_bytes = 1500 };
  p->urr[0] = (upf_urr_t){ .urr_id = 1 };
  p->bar = (upf_bar_t){ .bar_id = 1, .max_pkts = 8 };
  p->d = (upf_program_desc_t){ .pdr = p->pdr,
                               .far = p->far,
                               .qer = p->qer,
                               .urr = p->urr,
                               .n_pdr = 3,
                               .n_far = 3,
                               .n_qer = 1,
                               .n_urr = 1 };
}

static upf_session_t *
install_iupf (upf_ctx_t *c, iupf_t *p)
{
  char err[128];
  upf_session_t *s = upfcore_session_create (c, 1);
  assert_non_null (s);
  if (upfcore_session_install (c, s, &p->d, err, sizeof (err)))
    fail_msg ("install: %s", err);
  return s;
}

/* An N9 downlink G-PDU: PSA -> our N9 address, TEID teid, DN -> UE, inner_len bytes; qfi >= 0
 * adds a DL PDU Session Container with that QFI. */
static uint32_t
mk_n9 (uint8_t *pkt, uint32_t teid, int qfi, uint32_t inner_len)
{
  uint8_t inner[1500];
  uint32_t n = mk_inner4 (inner, DN, UE, UPF_PROTO_UDP, 53, 4000, inner_len - 28);
  n = mk_gtpu4 (pkt, N9_PSA, N9_UPF, teid, qfi, inner, n);
  if (qfi >= 0)
    pkt[28 + 13] = 0x00; /* PDU type 0: DL PDU SESSION INFORMATION */
  return n;
}

/* An N3 uplink G-PDU: gNB -> our N3 address, TEID 0x100, UE -> DN. */
static uint32_t
mk_n3 (uint8_t *pkt, uint32_t inner_len)
{
  uint8_t inner[1500];
  uint32_t n = mk_inner4 (inner, UE, DN, UPF_PROTO_UDP, 4000, 53, inner_len - 28);
  return mk_gtpu4 (pkt, N3_GNB, N3_UPF, 0x100, -1, inner, n);
}

static void
test_n9_downlink_reencapsulated_to_access (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  iupf_t p;
  upf_session_t *s;
  upf_verdict_t v;
  upf_usage_t u;
  uint8_t pkt[2048], out[2048];
  uint32_t n, len;
  (void)st;
  mk_iupf (&p, 0);
  s = install_iupf (c, &p);
  n = mk_n9 (pkt, N9_TEID, -1, 100);
  len = upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (v.pdr_id, 2);
  assert_int_equal (v.far_id, 2);
  assert_int_equal (v.dest_interface, UPF_IF_ACCESS);
  assert_non_null (v.encap);
  assert_int_equal (v.inner_len, 100);
  /* out: IPv4/UDP/GTP-U (with a PDU Session Container) to the gNB, TEID 0x200, then the
   * inner packet as received */
  assert_int_equal (len, v.encap->len + 100);
  assert_int_equal (upf_rd32 (out + 12), N3_UPF);
  assert_int_equal (upf_rd32 (out + 16), N3_GNB);
  assert_int_equal (upf_rd16 (out + 22), 2152);
  assert_int_equal (out[29], 255);
  assert_int_equal (upf_rd32 (out + 32), 0x200);
  assert_memory_equal (out + v.encap->len, pkt + v.inner_offset, 100);
  assert_int_equal (upf_rd32 (out + v.encap->len + 16), UE);
  /* counted as downlink */
  assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
  assert_int_equal (u.bytes[UPF_VOL_DL], 100);
  assert_int_equal (u.pkts[UPF_VOL_DL], 1);
  assert_int_equal (u.bytes[UPF_VOL_UL], 0);
  assert_int_equal (u.pkts[UPF_VOL_UL], 0);
  upfcore_ctx_delete (c);
}

static void
test_n6_packet_does_not_match_the_n9_pdr (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  iupf_t p;
  upf_verdict_t v;
  uint8_t pkt[256];
  uint32_t n;
  (void)st;
  mk_iupf (&p, 0);
  install_iupf (c, &p);
  /* PDR 2 (precedence 10, UE IP too) would win by precedence: its F-TEID keeps N6 out */
  n = mk_inner4 (pkt, DN, UE, UPF_PROTO_UDP, 53, 4000, 40);
  upf_dl_process (c, &c->stats, 0, pkt, n, 1000, &v);
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (v.pdr_id, 3);
  assert_int_equal (v.far_id, 3);
  /* without PDR 3 the session has no N6 key: no session for the UE address */
  p.d.n_pdr = 2;
  upfcore_ctx_delete (c);
  c = upfcore_ctx_new (16);
  install_iupf (c, &p);
  upf_dl_process (c, &c->stats, 0, pkt, n, 1000, &v);
  assert_int_equal (v.verdict, UPF_VERDICT_DROP);
  assert_int_equal (v.drop_reason, UPF_DROP_NO_SESSION);
  upfcore_ctx_delete (c);
}

static void
test_uplink_unaffected (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  iupf_t p;
  upf_session_t *s;
  upf_verdict_t v;
  upf_usage_t u;
  uint8_t pkt[256];
  uint32_t n;
  (void)st;
  mk_iupf (&p, 8 * 1000); /* a DL MBR of 1000 B/s: UL has none */
  s = install_iupf (c, &p);
  n = mk_n3 (pkt, 200);
  for (int i = 0; i < 20; i++)
    {
      upf_ul_process (c, &c->stats, pkt, n, 1000, &v);
      assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
      assert_int_equal (v.pdr_id, 1);
      assert_null (v.encap);
      assert_int_equal (v.inner_offset, 36);
    }
  assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
  assert_int_equal (u.bytes[UPF_VOL_UL], 20 * 200);
  assert_int_equal (u.bytes[UPF_VOL_DL], 0);
  /* the N9 F-TEID's TEID on the N3 address is no session's */
  n = mk_n9 (pkt, N9_TEID, -1, 100);
  upf_wr32 (pkt + 16, N3_UPF);
  upf_ul_process (c, &c->stats, pkt, n, 1000, &v);
  assert_int_equal (v.drop_reason, UPF_DROP_NO_SESSION);
  upfcore_ctx_delete (c);
}

static void
test_n9_downlink_dl_mbr (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  iupf_t p;
  upf_session_t *s;
  upf_verdict_t v;
  upf_usage_t u;
  uint8_t pkt[2048];
  uint32_t n;
  (void)st;
  mk_iupf (&p, 8 * 1000); /* DL MBR 1000 B/s, bucket 1500 bytes */
  s = install_iupf (c, &p);
  n = mk_n9 (pkt, N9_TEID, -1, 1000);
  upf_ul_process (c, &c->stats, pkt, n, 1000, &v);
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  upf_ul_process (c, &c->stats, pkt, n, 1000, &v); /* 500 bytes left in the bucket */
  assert_int_equal (v.verdict, UPF_VERDICT_DROP);
  assert_int_equal (v.drop_reason, UPF_DROP_MBR);
  /* one second later 1000 more bytes */
  upf_ul_process (c, &c->stats, pkt, n, 1000 + 1000000000ULL, &v);
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
  assert_int_equal (u.bytes[UPF_VOL_DL], 2000);
  assert_int_equal (u.dropped_dl_pkts, 1);
  upfcore_ctx_delete (c);
}

static void
test_n9_downlink_qfi_and_teid (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  iupf_t p;
  upf_verdict_t v;
  uint8_t pkt[256];
  uint32_t n;
  (void)st;
  mk_iupf (&p, 0);
  p.pdr[1].pdi_flags |= UPF_PDI_QFI;
  p.pdr[1].qfi = 5;
  install_iupf (c, &p);
  n = mk_n9 (pkt, N9_TEID, 5, 100);
  upf_ul_process (c, &c->stats, pkt, n, 1000, &v);
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (v.pdr_id, 2);
  assert_int_equal (v.qfi, 5);
  /* another QFI: not PDR 2; nor PDR 3 (source Core, the UE address, no F-TEID: for N6) */
  n = mk_n9 (pkt, N9_TEID, 6, 100);
  upf_ul_process (c, &c->stats, pkt, n, 1000, &v);
  assert_int_equal (v.verdict, UPF_VERDICT_DROP);
  assert_int_equal (v.drop_reason, UPF_DROP_NO_PDR);
  n = mk_n9 (pkt, N9_TEID + 1, 5, 100);
  upf_ul_process (c, &c->stats, pkt, n, 1000, &v);
  assert_int_equal (v.drop_reason, UPF_DROP_NO_SESSION);
  upfcore_ctx_delete (c);
}

/* The RQI of the PSA's DL PDU Session Container reaches the gNB in the one the I-UPF writes
 * (TS 38.415 5.5.3.3), with the QFI; a container without RQI gives one without it. */
static void
test_n9_downlink_rqi_relayed (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  iupf_t p;
  upf_verdict_t v;
  uint8_t pkt[256], out[512];
  uint32_t n, len;
  (void)st;
  mk_iupf (&p, 0);
  install_iupf (c, &p);
  for (int rqi = 0; rqi < 2; rqi++)
    {
      n = mk_n9 (pkt, N9_TEID, 5, 100);
      pkt[28 + 14] |= (uint8_t)(rqi << 6);
      len = upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out));
      assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
      assert_int_equal (v.pdr_id, 2);
      assert_int_equal (v.rqi, rqi);
      assert_int_equal (len, 20 + 8 + 16 + 100);
      /* the outer GTP-U header's container: length, PDU type 0, RQI | QFI, no next */
      assert_int_equal (out[28 + 11], UPF_GTPU_EXT_PDU_SESSION_CONTAINER);
      assert_int_equal (out[28 + 13], UPF_PDU_TYPE_DL << 4);
      assert_int_equal (out[28 + 14], (rqi << 6) | 5);
    }
  upfcore_ctx_delete (c);
}

/* An N9 downlink G-PDU of 100 inner bytes with an 8-octet DL PDU Session Container: PPP
 * (ppp), QFI 5 and the PPI in its octet 3 (TS 38.415 5.5.2.1), then padding. */
static uint32_t
mk_n9_ppi (uint8_t *pkt, int ppp, uint8_t ppi)
{
  uint32_t n = mk_n9 (pkt, N9_TEID, 5, 100);
  uint8_t *g = pkt + 28;
  memmove (g + 20, g + 16, n - 28 - 16);
  g[12] = 2; /* length: 8 octets */
  g[14] = (uint8_t)((ppp ? 0x80 : 0) | 5);
  g[15] = (uint8_t)(ppi << 5);
  memset (g + 16, 0, 4); /* padding, then no next extension header */
  upf_wr16 (g + 2, (uint16_t)(upf_rd16 (g + 2) + 4));
  upf_wr16 (pkt + 24, (uint16_t)(upf_rd16 (pkt + 24) + 4));
  upf_wr16 (pkt + 2, (uint16_t)(n + 4));
  return n + 4;
}

/* The Paging Policy Indicator of the PSA's DL PDU Session Container reaches the gNB in the
 * container the I-UPF writes (8 octets: PPP | QFI, the PPI), on the scalar and the vector
 * path; a QER of the I-UPF's PDR that sets a PPI of its own wins; a container without PPP
 * gives one without it. */
static void
test_n9_downlink_ppi_relayed (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  iupf_t p;
  upf_verdict_t v, w;
  upf_gtpu_t g;
  upf_outer_t ou;
  uint8_t pkt[256], out[512];
  const uint8_t *pkts[1] = { pkt };
  uint32_t n, len;
  char err[128];
  (void)st;
  mk_iupf (&p, 0);
  upf_session_t *s = install_iupf (c, &p);
  for (int round = 0; round < 3; round++)
    {
      int ppp = round != 1, want = round == 2 ? 6 : 3;
      if (round == 2) /* the I-UPF's QER sets PPI 6 */
        {
          p.qer[0].ppi = UPF_PPI_SET | 6;
          assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
        }
      n = mk_n9_ppi (pkt, ppp, 3);
      assert_int_equal (upf_parse_gtpu (pkt + 28, n - 28, &g), 0);
      assert_int_equal (g.has_ppi, ppp);
      len = upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out));
      assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
      assert_int_equal (v.pdr_id, 2);
      assert_int_equal (v.ppi, ppp ? UPF_PPI_SET | want : 0);
      assert_int_equal (len, 20 + 8 + (ppp ? 20 : 16) + 100);
      assert_int_equal (upf_parse_outer (out, len, &ou), 0);
      assert_int_equal (upf_parse_gtpu (out + ou.payload_offset, ou.payload_len, &g), 0);
      assert_int_equal (g.teid, 0x200);
      assert_int_equal (g.pdu_type, UPF_PDU_TYPE_DL);
      assert_int_equal (g.qfi, 5);
      assert_int_equal (g.has_ppi, ppp);
      if (ppp)
        assert_int_equal (g.ppi, want);
      assert_memory_equal (out + len - 100, pkt + n - 100, 100);
      upf_ul_process_vec (c, &c->stats, pkts, &n, 1, 1000, &w);
      assert_int_equal (w.verdict, UPF_VERDICT_FORWARD);
      assert_int_equal (w.ppi, v.ppi);
    }
  upfcore_ctx_delete (c);
}

/* The vector entry point gives each packet of a mixed vector the scalar path's verdict. */
static void
test_vector_path (void **st)
{
  enum
  {
    N = 40
  };
  upf_ctx_t *c = upfcore_ctx_new (16);
  iupf_t p;
  upf_session_t *s;
  upf_verdict_t v[N], w;
  upf_usage_t u;
  static uint8_t bufs[N][256];
  const uint8_t *pkts[N];
  uint32_t lens[N];
  (void)st;
  mk_iupf (&p, 0);
  s = install_iupf (c, &p);
  for (int i = 0; i < N; i++)
    {
      lens[i] = i % 3 ? mk_n9 (bufs[i], N9_TEID, -1, 100) : mk_n3 (bufs[i], 60);
      pkts[i] = bufs[i];
    }
  upf_ul_process_vec (c, &c->stats, pkts, lens, N, 1000, v);
  for (int i = 0; i < N; i++)
    {
      upf_ul_process (c, &c->stats, pkts[i], lens[i], 1000, &w);
      assert_int_equal (v[i].verdict, UPF_VERDICT_FORWARD);
      assert_int_equal (v[i].verdict, w.verdict);
      assert_int_equal (v[i].pdr_id, i % 3 ? 2 : 1);
      assert_int_equal (v[i].pdr_id, w.pdr_id);
      assert_ptr_equal (v[i].encap, w.encap);
      assert_int_equal (v[i].inner_offset, w.inner_offset);
      assert_int_equal (v[i].inner_len, w.inner_len);
    }
  assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
  assert_int_equal (u.pkts[UPF_VOL_DL], 2 * 26);
  assert_int_equal (u.bytes[UPF_VOL_DL], 2 * 26 * 100);
  assert_int_equal (u.pkts[UPF_VOL_UL], 2 * 14);
  upfcore_ctx_delete (c);
}

/* A G-PDU received on a downlink F-TEID whose FAR buffers (NOCP: the DL data report names
 * its PDR and the QFI of its PDU Session Container) is stored as its GTP-U message with the
 * local address it came to, whether it arrived with its outer header (upfcore_ul_packet, as
 * the VPP plugin's GTP-U input) or at the GTP-U layer (upfcore_ul_gtpu_packet, the local
 * datapath's). Once the FAR forwards, the flush hands each back with that address and the
 * GTP-U input classifies it by its F-TEID again: PDR 2 sends them, in order, to the gNB. No
 * N6 PDR takes part (PDR 3 keeps its own FAR): an I-UPF's or V-UPF's buffering. Counted when
 * they leave; a discard counts the user packets' octets as dropped DL traffic. */
static void reinstall_iupf (upf_ctx_t *c, upf_session_t *s, iupf_t *p);
static int flushed_n, flushed_pdr[4], flushed_teid[4], flushed_len[4];
static upf_ctx_t *flush_ctx;

static void
flush_gtpu (void *arg, const uint8_t *pkt, uint32_t len, const upf_ip_t *local)
{
  upf_verdict_t v;
  uint8_t out[512];
  uint32_t n;
  upf_ip_t n9 = upf_ip4 (N9_UPF);
  (void)arg;
  assert_non_null (local);
  assert_memory_equal (local, &n9, sizeof (n9));
  n = upfcore_ul_gtpu_packet (flush_ctx, local, pkt, len, 3000, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_true (flushed_n < 4);
  flushed_pdr[flushed_n] = (int)v.pdr_id;
  flushed_teid[flushed_n] = (int)upf_rd32 (out + 28 + 4);
  flushed_len[flushed_n] = (int)(n - v.encap->len);
  flushed_n++;
}

static void
test_n9_downlink_buffered_and_flushed_by_its_fteid (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  iupf_t p;
  upf_session_t *s;
  upf_verdict_t v;
  upf_usage_t u;
  upf_ip_t n9 = upf_ip4 (N9_UPF);
  uint8_t pkt[256], out[512];
  uint32_t n;
  (void)st;
  mk_iupf (&p, 0);
  p.far[1].apply_action = UPF_AA_BUFF | UPF_AA_NOCP;
  p.d.bar = &p.bar;
  s = install_iupf (c, &p);
  n = mk_n9 (pkt, N9_TEID, 5, 100);
  assert_int_equal (upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out)), 0);
  assert_int_equal (v.verdict, UPF_VERDICT_BUFFER);
  assert_int_equal (v.pdr_id, 2);
  assert_int_equal (v.n_events, 1);
  assert_int_equal (v.events[0].type, UPF_EV_DL_DATA_REPORT);
  assert_int_equal (v.events[0].id, 2);
  assert_int_equal (v.events[0].value & 0xff, 5); /* the QFI */
  n = mk_n9 (pkt, N9_TEID, 5, 120);
  assert_int_equal (upfcore_ul_packet (c, pkt, n, 1100, &v, out, sizeof (out)), 0);
  assert_int_equal (v.verdict, UPF_VERDICT_BUFFER);
  assert_int_equal (v.n_events, 0);
  n = mk_n9 (pkt, N9_TEID, 5, 80);
  assert_int_equal (upfcore_ul_gtpu_packet (c, &n9, pkt + 28, n - 28, 1200, &v, out, sizeof (out)),
                    0);
  assert_int_equal (v.verdict, UPF_VERDICT_BUFFER);
  assert_int_equal (upfcore_buffer_count (s), 3);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
  assert_int_equal (u.bytes[UPF_VOL_DL], 0);
  p.far[1].apply_action = UPF_AA_FORW;
  reinstall_iupf (c, s, &p);
  flush_ctx = c;
  flushed_n = 0;
  assert_int_equal (upfcore_buffer_flush (s, flush_gtpu, 0), 3);
  assert_int_equal (flushed_n, 3);
  assert_int_equal (flushed_pdr[0], 2);
  assert_int_equal (flushed_pdr[2], 2);
  assert_int_equal (flushed_teid[0], 0x200);
  assert_int_equal (flushed_teid[2], 0x200);
  assert_int_equal (flushed_len[0], 100);
  assert_int_equal (flushed_len[1], 120);
  assert_int_equal (flushed_len[2], 80);
  assert_int_equal (upfcore_buffer_count (s), 0);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
  assert_int_equal (u.bytes[UPF_VOL_DL], 300);
  assert_int_equal (u.pkts[UPF_VOL_DL], 3);
  /* buffering again, then discarded (DROBU): the user packet's octets are dropped DL */
  p.far[1].apply_action = UPF_AA_BUFF;
  reinstall_iupf (c, s, &p);
  n = mk_n9 (pkt, N9_TEID, 5, 90);
  upfcore_ul_packet (c, pkt, n, 4000, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_BUFFER);
  assert_int_equal (upfcore_buffer_drop (s), 1);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
  assert_int_equal (u.dropped_dl_pkts, 1);
  assert_int_equal (u.dropped_dl_bytes, 90);
  upfcore_ctx_delete (c);
}

/* A V-UPF's session before the home network's N9 tunnel is known (Open5GS's V-SMF in
 * home-routed roaming): the uplink FAR buffers and notifies too. An uplink G-PDU is stored as
 * its GTP-U message with the N3 address it came to, raises no DL data report (NOCP is about
 * downlink data), and once the FAR forwards the flush runs it through the GTP-U input again:
 * it leaves by FAR 1, decapsulated, counted as uplink then; discarded, it is no dropped DL
 * traffic. */
static int flushed_ul_n, flushed_ul_len;

static void
flush_ul (void *arg, const uint8_t *pkt, uint32_t len, const upf_ip_t *local)
{
  upf_verdict_t v;
  uint8_t out[512];
  upf_ip_t n3 = upf_ip4 (N3_UPF);
  (void)arg;
  assert_non_null (local);
  assert_memory_equal (local, &n3, sizeof (n3));
  flushed_ul_len
    = (int)upfcore_ul_gtpu_packet (flush_ctx, local, pkt, len, 3000, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (v.far_id, 1);
  assert_int_equal (upf_rd32 (out + 12), UE);
  flushed_ul_n++;
}

static void
test_uplink_buffered_without_a_report_and_flushed_by_its_fteid (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  iupf_t p;
  upf_session_t *s;
  upf_verdict_t v;
  upf_usage_t u;
  uint8_t pkt[256], out[512];
  uint32_t n;
  (void)st;
  mk_iupf (&p, 0);
  p.far[0].apply_action = UPF_AA_BUFF | UPF_AA_NOCP;
  p.d.bar = &p.bar;
  s = install_iupf (c, &p);
  n = mk_n3 (pkt, 110);
  assert_int_equal (upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out)), 0);
  assert_int_equal (v.verdict, UPF_VERDICT_BUFFER);
  assert_int_equal (v.pdr_id, 1);
  assert_int_equal (v.n_events, 0);
  assert_int_equal (upfcore_buffer_count (s), 1);
  p.far[0].apply_action = UPF_AA_FORW;
  reinstall_iupf (c, s, &p);
  flush_ctx = c;
  flushed_ul_n = 0;
  assert_int_equal (upfcore_buffer_flush (s, flush_ul, 0), 1);
  assert_int_equal (flushed_ul_n, 1);
  assert_int_equal (flushed_ul_len, 110);
  assert_int_equal (upfcore_buffer_count (s), 0);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
  assert_int_equal (u.pkts[UPF_VOL_UL], 1);
  assert_int_equal (u.bytes[UPF_VOL_UL], 110);
  /* buffered again and discarded: no dropped DL traffic (it is uplink) */
  p.far[0].apply_action = UPF_AA_BUFF;
  reinstall_iupf (c, s, &p);
  upfcore_ul_packet (c, pkt, n, 4000, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_BUFFER);
  assert_int_equal (upfcore_buffer_drop (s), 1);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
  assert_int_equal (u.dropped_dl_pkts, 0);
  assert_int_equal (u.dropped_dl_bytes, 0);
  upfcore_ctx_delete (c);
}

/* One F-TEID carries one direction: an Access and a Core PDI sharing it are refused. */
static void
test_fteid_of_both_directions_refused (void **st)
{
  iupf_t p;
  upf_program_t *prog;
  char err[160];
  (void)st;
  mk_iupf (&p, 0);
  p.pdr[1].teid = 0x100;
  p.pdr[1].fteid_addr = upf_ip4 (N3_UPF);
  assert_int_equal (upf_program_build (&p.d, &prog, err, sizeof (err)), -1);
  assert_non_null (strstr (err, "F-TEID"));
}

/* An End Marker from the PSA on the N9 F-TEID (with_psc: a PDU Session Container with qfi):
 * PSA -> our N9 address, TEID teid. */
/* Install p's program again in the session s (a modification). */
static void
reinstall_iupf (upf_ctx_t *c, upf_session_t *s, iupf_t *p)
{
  char err[128];
  if (upfcore_session_install (c, s, &p->d, err, sizeof (err)))
    fail_msg ("install: %s", err);
}

static uint32_t
mk_em (uint8_t *pkt, uint32_t teid, int with_psc, uint8_t qfi)
{
  upf_ip_t src = upf_ip4 (N9_PSA), dst = upf_ip4 (N9_UPF);
  return upfcore_build_end_marker (&src, &dst, teid, with_psc, qfi, pkt, 128);
}

/* The End Marker relayed on tunnel i of verdict v: checks it is IPv4/UDP/GTP-U from our N3
 * address to the gNB, message type 254, TEID teid, a PDU Session Container with qfi when
 * psc; returns its FAR ID. */
static uint32_t
check_relayed (const upf_verdict_t *v, unsigned i, uint32_t teid, int psc, uint8_t qfi)
{
  uint8_t out[256];
  uint32_t info[6], n = upfcore_end_marker_packet (v, i, out, sizeof (out), info);
  upf_outer_t o;
  upf_gtpu_t g;
  assert_int_equal (n, psc ? 28 + 16 : 28 + 8);
  assert_int_equal (upf_parse_outer (out, n, &o), UPF_MALFORMED_NONE);
  assert_memory_equal (o.src.b, upf_ip4 (N3_UPF).b, 16);
  assert_memory_equal (o.dst.b, upf_ip4 (N3_GNB).b, 16);
  assert_int_equal (o.dport, 2152);
  assert_int_equal (upf_parse_gtpu (out + o.payload_offset, o.payload_len, &g), UPF_MALFORMED_NONE);
  assert_int_equal (g.type, UPF_GTPU_END_MARKER);
  assert_int_equal (g.teid, teid);
  assert_int_equal (g.payload_len, 0);
  assert_int_equal (g.has_pdu_session_container, psc);
  if (psc)
    assert_int_equal (g.qfi, qfi);
  assert_int_equal (info[2], UPF_IF_ACCESS);
  assert_int_equal (info[4], qfi);
  assert_int_equal (info[5], teid);
  return info[1];
}

/* TS 29.281 7.3.2, TS 23.502 4.9.1.3.3: the End Marker the PSA sends on the N9 path goes on
 * to the NG-RAN on the tunnel of the F-TEID's FAR, with its PDU Session Container's QFI;
 * nothing is counted, nothing policed. */
static void
test_end_marker_relayed_to_access (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  iupf_t p;
  upf_session_t *s;
  upf_verdict_t v;
  upf_usage_t u;
  uint8_t pkt[256], out[256];
  uint32_t n, info[6];
  (void)st;
  mk_iupf (&p, 8000); /* a DL MBR of 1 kB/s: a G-PDU of 1500 bytes would empty it */
  s = install_iupf (c, &p);
  n = mk_em (pkt, N9_TEID, 1, 5);
  assert_int_equal (upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out)), 0);
  assert_int_equal (v.verdict, UPF_VERDICT_END_MARKER);
  assert_int_equal (v.gtpu_type, UPF_GTPU_END_MARKER);
  assert_int_equal (v.seid, 1);
  assert_int_equal (v.teid, N9_TEID);
  assert_int_equal (v.pdr_id, 2);
  assert_int_equal (v.far_id, 2);
  assert_int_equal (v.qfi, 5);
  assert_int_equal (check_relayed (&v, 0, 0x200, 1, 5), 2);
  assert_int_equal (upfcore_end_marker_packet (&v, 1, out, sizeof (out), info), 0);
  /* without a container: the FAR's template still adds one, QFI 0 */
  n = mk_em (pkt, N9_TEID, 0, 0);
  upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_END_MARKER);
  check_relayed (&v, 0, 0x200, 1, 0);
  /* a QER's QFI is the one sent, as for a G-PDU */
  p.qer[0].qfi = 9;
  reinstall_iupf (c, s, &p);
  n = mk_em (pkt, N9_TEID, 1, 5);
  upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out));
  check_relayed (&v, 0, 0x200, 1, 9);
  /* without PDU Session Container in the FAR: none */
  p.far[1].ohc_flags = 0;
  reinstall_iupf (c, s, &p);
  upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out));
  check_relayed (&v, 0, 0x200, 0, 9);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
  assert_int_equal (u.pkts[UPF_VOL_DL] + u.pkts[UPF_VOL_UL], 0);
  assert_int_equal (c->stats.drops[UPF_DROP_GTPU_SIGNALLING], 0);
  upfcore_ctx_delete (c);
}

/* Not relayed (dropped as GTP-U signalling, no Error Indication): an End Marker for no
 * F-TEID, one whose F-TEID's FAR decapsulates (N3 -> N6), drops or buffers. */
static void
test_end_marker_not_relayed (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  iupf_t p;
  upf_session_t *s;
  upf_verdict_t v;
  uint8_t pkt[256], out[256];
  uint32_t n;
  upf_ip_t gnb = upf_ip4 (N3_GNB), n3 = upf_ip4 (N3_UPF);
  (void)st;
  mk_iupf (&p, 0);
  s = install_iupf (c, &p);
  n = mk_em (pkt, 0x999, 0, 0);
  assert_int_equal (upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out)), 0);
  assert_int_equal (v.verdict, UPF_VERDICT_DROP);
  assert_int_equal (v.drop_reason, UPF_DROP_GTPU_SIGNALLING);
  n = upfcore_build_end_marker (&gnb, &n3, 0x100, 0, 0, pkt, sizeof (pkt));
  assert_int_equal (upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out)), 0);
  assert_int_equal (v.drop_reason, UPF_DROP_GTPU_SIGNALLING);
  assert_int_equal (upfcore_end_marker_packet (&v, 0, out, sizeof (out), (uint32_t[6]){ 0 }), 0);
  p.far[1].apply_action = UPF_AA_DROP;
  reinstall_iupf (c, s, &p);
  n = mk_em (pkt, N9_TEID, 0, 0);
  upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out));
  assert_int_equal (v.drop_reason, UPF_DROP_GTPU_SIGNALLING);
  assert_int_equal (c->stats.drops[UPF_DROP_GTPU_SIGNALLING], 3);
  upfcore_ctx_delete (c);
}

/* One End Marker per distinct tunnel of the F-TEID's PDRs: two PDRs on the N9 F-TEID whose
 * FARs go to two gNB TEIDs get one each; to the same TEID, one. The vector path agrees. */
static void
test_end_marker_once_per_tunnel (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  iupf_t p;
  upf_session_t *s;
  upf_verdict_t v, w[3];
  uint8_t pkt[256], out[256];
  const uint8_t *pkts[3] = { pkt, pkt, pkt };
  uint32_t n, lens[3], info[6];
  (void)st;
  mk_iupf (&p, 0);
  p.pdr[2].pdi_flags |= UPF_PDI_FTEID;
  p.pdr[2].teid = N9_TEID;
  p.pdr[2].fteid_addr = upf_ip4 (N9_UPF);
  p.pdr[2].outer_header_removal = UPF_OHR_GTPU_UDP_IPV4;
  s = install_iupf (c, &p);
  n = mk_em (pkt, N9_TEID, 0, 0);
  upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_END_MARKER);
  assert_int_equal (check_relayed (&v, 0, 0x200, 1, 0), 2);
  assert_int_equal (check_relayed (&v, 1, 0x201, 1, 0), 3);
  assert_int_equal (upfcore_end_marker_packet (&v, 2, out, sizeof (out), info), 0);
  lens[0] = lens[1] = lens[2] = n;
  upf_ul_process_vec (c, &c->stats, pkts, lens, 3, 1000, w);
  for (int i = 0; i < 3; i++)
    {
      assert_int_equal (w[i].verdict, UPF_VERDICT_END_MARKER);
      assert_ptr_equal (w[i].encap, v.encap);
      assert_int_equal (w[i].inner_offset, v.inner_offset);
      assert_int_equal (w[i].teid, N9_TEID);
    }
  p.far[2].ohc_teid = 0x200;
  reinstall_iupf (c, s, &p);
  upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out));
  assert_int_equal (check_relayed (&v, 0, 0x200, 1, 0), 2);
  assert_int_equal (upfcore_end_marker_packet (&v, 1, out, sizeof (out), info), 0);
  upfcore_ctx_delete (c);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_n9_downlink_reencapsulated_to_access),
    cmocka_unit_test (test_n6_packet_does_not_match_the_n9_pdr),
    cmocka_unit_test (test_uplink_unaffected),
    cmocka_unit_test (test_n9_downlink_dl_mbr),
    cmocka_unit_test (test_n9_downlink_qfi_and_teid),
    cmocka_unit_test (test_n9_downlink_rqi_relayed),
    cmocka_unit_test (test_n9_downlink_ppi_relayed),
    cmocka_unit_test (test_vector_path),
    cmocka_unit_test (test_n9_downlink_buffered_and_flushed_by_its_fteid),
    cmocka_unit_test (test_uplink_buffered_without_a_report_and_flushed_by_its_fteid),
    cmocka_unit_test (test_fteid_of_both_directions_refused),
    cmocka_unit_test (test_end_marker_relayed_to_access),
    cmocka_unit_test (test_end_marker_not_relayed),
    cmocka_unit_test (test_end_marker_once_per_tunnel),
  };
  return cmocka_run_group_tests (tests, 0, 0);
}
