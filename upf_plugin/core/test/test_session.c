/* Classification, QER, URR, BAR and table behaviour through the UL/DL entry points. */
#include "test_util.h"

#define N3_UPF IP4 (10, 200, 0, 2)
#define N3_GNB IP4 (10, 200, 0, 1)
#define UE IP4 (10, 45, 0, 7)
#define DN IP4 (10, 201, 0, 9)

typedef struct
{
  upf_pdr_t pdr[8];
  upf_far_t far[4];
  upf_qer_t qer[2];
  upf_urr_t urr[2];
  upf_sdf_t sdf[8];
  upf_dupl_t dupl[4];
  upf_bar_t bar;
  upf_program_desc_t d;
} prog_t;

/* UL PDR 1 (F-TEID 0x100, outer header removal) -> FAR 1 forward to CORE;
 * DL PDR 2 (UE IP) -> FAR 2 forward to ACCESS with GTP-U (TEID 0x200, PSC); QER 1 QFI 9;
 * URR 1 on both. */
static void
std_prog (prog_t *p, uint32_t teid, uint32_t ue)
{
  memset (p, 0, sizeof (*p));
  p->pdr[0] = (upf_pdr_t){ .pdr_id = 1,
                           .precedence = 100,
                           .source_interface = UPF_IF_ACCESS,
                           .pdi_flags = UPF_PDI_FTEID | UPF_PDI_UE_IP,
                           .teid = teid,
                           .fteid_addr = upf_ip4 (N3_UPF),
                           .ue_ip = upf_ip4 (ue),
                           .ue_ip_plen = 128,
                           .outer_header_removal = UPF_OHR_GTPU_UDP_IPV4,
                           .far_id = 1,
                           .qer_id = { 1 },
                           .urr_id = { 1 } };
  p->pdr[1] = (upf_pdr_t){ .pdr_id = 2,
                           .precedence = 100,
                           .source_interface = UPF_IF_CORE,
                           .pdi_flags = UPF_PDI_UE_IP,
                           .ue_ip = upf_ip4 (ue),
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
                           .dscp = 10 };
  p->qer[0] = (upf_qer_t){ .qer_id = 1, .qfi = 9 };
  p->urr[0] = (upf_urr_t){ .urr_id = 1 };
  p->d = (upf_program_desc_t){ .pdr = p->pdr,
                               .far = p->far,
                               .qer = p->qer,
                               .urr = p->urr,
                               .sdf = p->sdf,
                               .dupl = p->dupl,
                               .n_pdr = 2,
                               .n_far = 2,
                               .n_qer = 1,
                               .n_urr = 1 };
}

static upf_ctx_t *
ctx_new (void)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  assert_non_null (c);
  return c;
}

static upf_session_t *
install (upf_ctx_t *c, uint64_t seid, prog_t *p)
{
  char err[128];
  upf_session_t *s = upfcore_session_create (c, seid);
  assert_non_null (s);
  int rv = upfcore_session_install (c, s, &p->d, err, sizeof (err));
  if (rv)
    fail_msg ("install: %s", err);
  return s;
}

static uint32_t
ul_pkt (uint8_t *pkt, uint32_t teid, uint32_t src, uint32_t dst, uint8_t proto, uint16_t sp,
        uint16_t dp, uint32_t payload)
{
  uint8_t in[1600];
  uint32_t il = mk_inner4 (in, src, dst, proto, sp, dp, payload);
  return mk_gtpu4 (pkt, N3_GNB, N3_UPF, teid, 9, in, il);
}

static void
test_ul_dl_forward_and_count (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p;
  upf_verdict_t v;
  uint8_t pkt[2048], in[256], out[2048];
  upf_usage_t u;
  (void)st;
  std_prog (&p, 0x100, UE);
  upf_session_t *s = install (c, 0x42, &p);

  uint32_t n = ul_pkt (pkt, 0x100, UE, DN, UPF_PROTO_UDP, 1000, 2000, 100);
  uint32_t o = upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (v.pdr_id, 1);
  assert_int_equal (v.far_id, 1);
  assert_int_equal (v.seid, 0x42);
  assert_int_equal (v.dest_interface, UPF_IF_CORE);
  assert_null (v.encap);
  assert_int_equal (o, 20 + 8 + 100);
  assert_memory_equal (out, pkt + 28 + 16, o); /* decapsulated inner packet */

  uint32_t il = mk_inner4 (in, DN, UE, UPF_PROTO_TCP, 443, 50000, 60);
  o = upfcore_dl_packet (c, 0, in, il, 2000, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (v.pdr_id, 2);
  assert_int_equal (v.qfi, 9);
  assert_int_equal (o, 44 + il);
  upf_outer_t ou;
  upf_gtpu_t g;
  assert_int_equal (upf_parse_outer (out, o, &ou), 0);
  assert_int_equal (upf_parse_gtpu (out + ou.payload_offset, ou.payload_len, &g), 0);
  assert_int_equal (g.teid, 0x200);
  assert_int_equal (g.qfi, 9);
  assert_int_equal (ou.tos, 10 << 2);
  assert_memory_equal (ou.dst.b + 12, "\x0a\xc8\x00\x01", 4);

  assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
  assert_int_equal (u.pkts[UPF_VOL_TOTAL], 2);
  assert_int_equal (u.bytes[UPF_VOL_UL], 128);
  assert_int_equal (u.bytes[UPF_VOL_DL], il);
  assert_int_equal (u.first_ns, 1000);
  assert_int_equal (u.last_ns, 2000);
  /* reset starts a new period */
  assert_int_equal (upfcore_read_urr (s, 1, &u, 1, 3000), 0);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
  assert_int_equal (u.pkts[UPF_VOL_TOTAL], 0);
  assert_int_equal (u.start_ns, 3000);

  /* unknown TEID: dropped, error indication built towards the sender */
  n = ul_pkt (pkt, 0x999, UE, DN, UPF_PROTO_UDP, 1, 2, 0);
  o = upfcore_ul_packet (c, pkt, n, 1, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_DROP);
  assert_int_equal (v.drop_reason, UPF_DROP_NO_SESSION);
  assert_int_equal (o, 28 + 24);
  assert_int_equal (upf_parse_outer (out, o, &ou), 0);
  assert_memory_equal (ou.dst.b + 12, "\x0a\xc8\x00\x01", 4);
  assert_int_equal (upf_parse_gtpu (out + 28, o - 28, &g), 0);
  assert_int_equal (g.type, UPF_GTPU_ERROR_INDICATION);
  assert_int_equal (upf_rd32 (out + 28 + 13), 0x999);
  /* unknown UE address */
  il = mk_inner4 (in, DN, UE + 1, UPF_PROTO_TCP, 443, 50000, 0);
  upfcore_dl_packet (c, 0, in, il, 1, &v, out, sizeof (out));
  assert_int_equal (v.drop_reason, UPF_DROP_NO_SESSION);
  /* wrong network instance */
  il = mk_inner4 (in, DN, UE, UPF_PROTO_TCP, 443, 50000, 0);
  upfcore_dl_packet (c, 3, in, il, 1, &v, out, sizeof (out));
  assert_int_equal (v.drop_reason, UPF_DROP_NO_SESSION);
  /* UE address spoofed in UL: PDI UE IP does not match */
  n = ul_pkt (pkt, 0x100, UE + 1, DN, UPF_PROTO_UDP, 1, 2, 0);
  upfcore_ul_packet (c, pkt, n, 1, &v, out, sizeof (out));
  assert_int_equal (v.drop_reason, UPF_DROP_NO_PDR);
  assert_int_equal (upfcore_stats (c)->drops[UPF_DROP_NO_PDR], 1);

  upfcore_session_delete (c, s);
  upfcore_ctx_delete (c);
}

/* The GTP-U-layer entry point (kernel UDP socket / VPP after ip4-udp-lookup). */
static void
test_ul_gtpu_entry (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p;
  upf_verdict_t v;
  uint8_t pkt[2048], out[2048];
  upf_ip_t local = upf_ip4 (N3_UPF), other = upf_ip4 (N3_UPF + 1);
  (void)st;
  std_prog (&p, 0x100, UE);
  install (c, 5, &p);
  uint32_t n = ul_pkt (pkt, 0x100, UE, DN, UPF_PROTO_UDP, 1, 2, 10);
  uint32_t o = upfcore_ul_gtpu_packet (c, &local, pkt + 28, n - 28, 1, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (v.inner_offset, 16);
  assert_int_equal (o, n - 44);
  assert_memory_equal (out, pkt + 44, o);
  /* the F-TEID is (address, TEID): the same TEID on another local address is unknown */
  o = upfcore_ul_gtpu_packet (c, &other, pkt + 28, n - 28, 1, &v, out, sizeof (out));
  assert_int_equal (v.drop_reason, UPF_DROP_NO_SESSION);
  upf_gtpu_t g;
  assert_int_equal (upf_parse_gtpu (out, o, &g), 0);
  assert_int_equal (g.type, UPF_GTPU_ERROR_INDICATION);
  /* received error indication -> event with its TEID Data I */
  uint8_t ei[40];
  uint32_t eil = upf_build_error_indication (0x200, &local, ei);
  upfcore_ul_gtpu_packet (c, &local, ei, eil, 1, &v, out, sizeof (out));
  assert_int_equal (v.drop_reason, UPF_DROP_GTPU_SIGNALLING);
  assert_int_equal (v.n_events, 1);
  assert_int_equal (v.events[0].type, UPF_EV_ERROR_INDICATION);
  assert_int_equal (v.events[0].value, 0x200);
  assert_int_equal (v.events[0].id, 0);
  /* its GTP-U Peer Address (IPv4: IPv4-mapped, as the core's addresses) */
  assert_int_equal (v.events[0].peer_af, UPF_EV_PEER_IP4);
  assert_memory_equal (v.events[0].peer.b, local.b, 16);
  /* an IPv6 GTP-U Peer Address: its 16 octets */
  upf_ip_t six = { .b = { 0x20, 0x01, 0x0d, 0xb8, [14] = 0xab, [15] = 1 } };
  eil = upf_build_error_indication (0x200, &six, ei);
  assert_int_equal (eil, 8 + 4 + 5 + 3 + 16);
  upfcore_ul_gtpu_packet (c, &local, ei, eil, 1, &v, out, sizeof (out));
  assert_int_equal (v.n_events, 1);
  assert_int_equal (v.events[0].type, UPF_EV_ERROR_INDICATION);
  assert_int_equal (v.events[0].value, 0x200);
  assert_int_equal (v.events[0].id, 0);
  assert_int_equal (v.events[0].peer_af, UPF_EV_PEER_IP6);
  assert_memory_equal (v.events[0].peer.b, six.b, 16);
  /* cut short inside the IPv6 address: no peer (the TEID alone), the event zeroed */
  upf_wr16 (ei + 2, 4 + 5 + 3 + 15);
  upfcore_ul_gtpu_packet (c, &local, ei, eil - 1, 1, &v, out, sizeof (out));
  assert_int_equal (v.n_events, 1);
  assert_int_equal (v.events[0].value, 0x200);
  assert_int_equal (v.events[0].peer_af, UPF_EV_PEER_NONE);
  upf_ip_t zero = { 0 };
  assert_memory_equal (v.events[0].peer.b, zero.b, 16);
  /* none: the TEID alone */
  eil = upf_build_error_indication (0x200, &local, ei);
  upf_wr16 (ei + 2, 4 + 5); /* (TEID Data I alone after the sequence number's 4 octets) */
  upfcore_ul_gtpu_packet (c, &local, ei, 8 + 4 + 5, 1, &v, out, sizeof (out));
  assert_int_equal (v.n_events, 1);
  assert_int_equal (v.events[0].value, 0x200);
  assert_int_equal (v.events[0].id, 0);
  assert_int_equal (v.events[0].peer_af, UPF_EV_PEER_NONE);
  assert_memory_equal (v.events[0].peer.b, zero.b, 16);
  /* end marker: consumed */
  uint32_t eml = upf_build_end_marker (0x100, 0, 0, ei);
  upfcore_ul_gtpu_packet (c, &local, ei, eml, 1, &v, out, sizeof (out));
  assert_int_equal (v.drop_reason, UPF_DROP_GTPU_SIGNALLING);
  /* an unknown comprehension-required extension header: notification back */
  uint8_t unk[24] = { 0x36, 255, 0, 16, 0, 0, 1, 0, 0x00, 0x2a, 0, 0xc7, 1, 0, 0, 0 };
  o = upfcore_ul_gtpu_packet (c, &local, unk, 24, 1, &v, out, sizeof (out));
  assert_int_equal (v.malformed, UPF_MALFORMED_EXT_UNKNOWN_REQUIRED);
  assert_int_equal (upf_parse_gtpu (out, o, &g), 0);
  assert_int_equal (g.type, UPF_GTPU_SUPPORTED_EXT_HDR_NOTIFICATION);
  assert_int_equal (g.seq, 0x2a);
  o = upfcore_ul_packet (c, pkt, n, 1, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  memcpy (pkt + 28, unk, 24);
  upf_wr16 (pkt + 2, 28 + 24);
  upf_wr16 (pkt + 24, 8 + 24);
  upf_wr16 (pkt + 10, 0);
  o = upfcore_ul_packet (c, pkt, 52, 1, &v, out, sizeof (out));
  assert_int_equal (v.malformed, UPF_MALFORMED_EXT_UNKNOWN_REQUIRED);
  assert_int_equal (o, 28 + 18);
  assert_int_equal (upf_parse_gtpu (out + 28, o - 28, &g), 0);
  assert_int_equal (g.type, UPF_GTPU_SUPPORTED_EXT_HDR_NOTIFICATION);
  /* an unknown message type is malformed */
  ei[1] = 77;
  upfcore_ul_gtpu_packet (c, &local, ei, eml, 1, &v, out, sizeof (out));
  assert_int_equal (v.malformed, UPF_MALFORMED_GTPU_UNEXPECTED_TYPE);
  upfcore_ctx_delete (c);
}

static void
test_echo_request (void **st)
{
  upf_ctx_t *c = ctx_new ();
  upf_verdict_t v;
  uint8_t pkt[64] = { 0 }, out[128];
  upf_outer_t o;
  upf_gtpu_t g;
  (void)st;
  pkt[0] = 0x45, upf_wr16 (pkt + 2, 40), pkt[8] = 64, pkt[9] = 17;
  upf_wr32 (pkt + 12, N3_GNB), upf_wr32 (pkt + 16, N3_UPF);
  upf_wr16 (pkt + 20, 33333), upf_wr16 (pkt + 22, 2152), upf_wr16 (pkt + 24, 20);
  uint8_t echo[12] = { 0x32, 1, 0, 4, 0, 0, 0, 0, 0x00, 0x07, 0, 0 };
  memcpy (pkt + 28, echo, 12);
  uint32_t n = upfcore_ul_packet (c, pkt, 40, 0, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_ECHO_REQUEST);
  assert_int_equal (upf_parse_outer (out, n, &o), 0);
  assert_int_equal (o.dport, 33333);
  assert_int_equal (o.sport, 2152);
  assert_int_equal (upf_parse_gtpu (out + 28, n - 28, &g), 0);
  assert_int_equal (g.type, UPF_GTPU_ECHO_RESPONSE);
  assert_int_equal (g.seq, 7);
  upfcore_ctx_delete (c);
}

/* SDF filters: precedence, protocol, ports in both directions, prefixes, ToS, SPI,
 * non-first fragments. */
static void
test_sdf_classification (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p;
  upf_verdict_t v;
  uint8_t pkt[2048], in[256], out[2048];
  (void)st;
  std_prog (&p, 0x100, UE);
  p.far[2] = (upf_far_t){ .far_id = 3, .apply_action = UPF_AA_DROP };
  /* DL PDR 10 (prec 10): TCP from 10.201.0.0/16 port 443 -> FAR 2 with QER 2 (QFI 5) */
  p.sdf[0] = (upf_sdf_t){ .remote = upf_ip4 (IP4 (10, 201, 0, 0)),
                          .remote_plen = 96 + 16,
                          .proto = UPF_PROTO_TCP,
                          .flags = UPF_SDF_PROTO | UPF_SDF_REMOTE_PORT,
                          .remote_port_lo = 443,
                          .remote_port_hi = 443 };
  /* DL PDR 11 (prec 5): UDP to UE ports 5000-5999, ToS 0xb8/0xfc -> drop FAR 3 */
  p.sdf[1] = (upf_sdf_t){ .proto = UPF_PROTO_UDP,
                          .flags = UPF_SDF_PROTO | UPF_SDF_UE_PORT | UPF_SDF_TOS,
                          .ue_port_lo = 5000,
                          .ue_port_hi = 5999,
                          .tos = 0xb8,
                          .tos_mask = 0xfc };
  /* DL PDR 12 (prec 7): ESP SPI 0x1234 -> drop */
  p.sdf[2]
    = (upf_sdf_t){ .proto = UPF_PROTO_ESP, .flags = UPF_SDF_PROTO | UPF_SDF_SPI, .spi = 0x1234 };
  p.pdr[2] = p.pdr[1];
  p.pdr[2].pdr_id = 10, p.pdr[2].precedence = 10, p.pdr[2].sdf_first = 0;
  p.pdr[2].sdf_count = 1, p.pdr[2].qer_id[0] = 2;
  p.pdr[3] = p.pdr[1];
  p.pdr[3].pdr_id = 11, p.pdr[3].precedence = 5, p.pdr[3].sdf_first = 1;
  p.pdr[3].sdf_count = 1, p.pdr[3].far_id = 3;
  p.pdr[4] = p.pdr[1];
  p.pdr[4].pdr_id = 12, p.pdr[4].precedence = 7, p.pdr[4].sdf_first = 2;
  p.pdr[4].sdf_count = 1, p.pdr[4].far_id = 3;
  /* UL PDR 13 (prec 10): the same filter 0 swapped: TCP to 10.201/16 port 443 */
  p.pdr[5] = p.pdr[0];
  p.pdr[5].pdr_id = 13, p.pdr[5].precedence = 10, p.pdr[5].sdf_first = 0;
  p.pdr[5].sdf_count = 1, p.pdr[5].far_id = 3;
  p.qer[1] = (upf_qer_t){ .qer_id = 2, .qfi = 5 };
  p.d.n_pdr = 6, p.d.n_far = 3, p.d.n_qer = 2, p.d.n_sdf = 3;
  upf_session_t *s = install (c, 1, &p);
  (void)s;

#define DL(src, proto, sp, dp, tos)                                                                \
  do                                                                                               \
    {                                                                                              \
      uint32_t il = mk_inner4 (in, src, UE, proto, sp, dp, 0);                                     \
      in[1] = tos;                                                                                 \
      upfcore_dl_packet (c, 0, in, il, 1, &v, out, sizeof (out));                                  \
    }                                                                                              \
  while (0)
  DL (DN, UPF_PROTO_TCP, 443, 40000, 0);
  assert_int_equal (v.pdr_id, 10);
  assert_int_equal (v.qfi, 5);
  DL (DN, UPF_PROTO_TCP, 444, 40000, 0); /* port outside */
  assert_int_equal (v.pdr_id, 2);
  DL (IP4 (10, 202, 0, 1), UPF_PROTO_TCP, 443, 40000, 0); /* prefix outside */
  assert_int_equal (v.pdr_id, 2);
  DL (DN, UPF_PROTO_UDP, 443, 40000, 0); /* protocol outside */
  assert_int_equal (v.pdr_id, 2);
  DL (DN, UPF_PROTO_UDP, 1, 5500, 0xb9); /* ToS matches under the mask */
  assert_int_equal (v.pdr_id, 11);
  assert_int_equal (v.drop_reason, UPF_DROP_FAR_DROP);
  DL (DN, UPF_PROTO_UDP, 1, 5500, 0x00);
  assert_int_equal (v.pdr_id, 2);
  DL (DN, UPF_PROTO_UDP, 1, 6000, 0xb8);
  assert_int_equal (v.pdr_id, 2);
  DL (DN, UPF_PROTO_ESP, 0, 0x1234, 0);
  assert_int_equal (v.pdr_id, 12);
  DL (DN, UPF_PROTO_ESP, 0, 0x1235, 0);
  assert_int_equal (v.pdr_id, 2);
  /* non-first fragment of a port-443 flow: no ports, so only the port-less PDR matches */
  {
    uint32_t il = mk_inner4 (in, DN, UE, UPF_PROTO_TCP, 443, 40000, 0);
    upf_wr16 (in + 6, 0x0100);
    upfcore_dl_packet (c, 0, in, il, 1, &v, out, sizeof (out));
    assert_int_equal (v.pdr_id, 2);
  }
  /* UL: swapped direction */
  uint32_t n = ul_pkt (pkt, 0x100, UE, DN, UPF_PROTO_TCP, 40000, 443, 0);
  upfcore_ul_packet (c, pkt, n, 1, &v, out, sizeof (out));
  assert_int_equal (v.pdr_id, 13);
  n = ul_pkt (pkt, 0x100, UE, DN, UPF_PROTO_TCP, 443, 40000, 0);
  upfcore_ul_packet (c, pkt, n, 1, &v, out, sizeof (out));
  assert_int_equal (v.pdr_id, 1);
  upfcore_ctx_delete (c);
}

/* Equal precedence: the lower PDR id wins, whatever the order PDRs were given in. */
static void
test_precedence_ties (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p;
  upf_verdict_t v;
  uint8_t in[256], out[512];
  (void)st;
  std_prog (&p, 0x100, UE);
  p.pdr[2] = p.pdr[1];
  p.pdr[2].pdr_id = 9, p.pdr[2].precedence = 50;
  p.pdr[3] = p.pdr[1];
  p.pdr[3].pdr_id = 7, p.pdr[3].precedence = 50;
  p.pdr[4] = p.pdr[1];
  p.pdr[4].pdr_id = 3, p.pdr[4].precedence = 60;
  p.d.n_pdr = 5;
  install (c, 1, &p);
  uint32_t il = mk_inner4 (in, DN, UE, UPF_PROTO_UDP, 1, 2, 0);
  upfcore_dl_packet (c, 0, in, il, 1, &v, out, sizeof (out));
  assert_int_equal (v.pdr_id, 7);
  upfcore_ctx_delete (c);
}

static void
test_build_errors (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p;
  char err[128];
  upf_sdf_t many[70];
  (void)st;
  std_prog (&p, 0x100, UE);
  p.pdr[1].far_id = 9;
  upf_session_t *s = upfcore_session_create (c, 1);
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), -EINVAL);
  assert_string_equal (err, "PDR 2: FAR 9 not defined");
  std_prog (&p, 0x100, UE);
  p.pdr[0].urr_id[1] = 5;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), -EINVAL);
  assert_string_equal (err, "PDR 1: URR 5 not defined");
  std_prog (&p, 0x100, UE);
  memset (many, 0, sizeof (many));
  p.d.sdf = many, p.d.n_sdf = 70, p.pdr[1].sdf_count = 70;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), -EINVAL);
  assert_non_null (strstr (err, "more than 64"));
  /* a second session cannot take an F-TEID / UE IP already in use */
  std_prog (&p, 0x100, UE);
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  upf_session_t *s2 = upfcore_session_create (c, 2);
  std_prog (&p, 0x100, UE + 1);
  assert_int_equal (upfcore_session_install (c, s2, &p.d, err, sizeof (err)), -EEXIST);
  std_prog (&p, 0x101, UE);
  assert_int_equal (upfcore_session_install (c, s2, &p.d, err, sizeof (err)), -EEXIST);
  assert_non_null (strstr (err, "UE IP"));
  std_prog (&p, 0x101, UE + 1);
  assert_int_equal (upfcore_session_install (c, s2, &p.d, err, sizeof (err)), 0);
  upfcore_session_delete (c, s2);
  upfcore_ctx_delete (c);
}

static void
test_qer_gate_and_mbr (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p;
  upf_verdict_t v;
  uint8_t in[2048], out[2048];
  upf_usage_t u;
  (void)st;
  std_prog (&p, 0x100, UE);
  /* 8 Mbit/s = 1,000,000 B/s, 10,000 byte bucket */
  p.qer[0].mbr_dl_bps = 8000000, p.qer[0].burst_bytes = 10000;
  upf_session_t *s = install (c, 1, &p);
  uint32_t il = mk_inner4 (in, DN, UE, UPF_PROTO_UDP, 1, 2, 1000 - 28);
  assert_int_equal (il, 1000);
  uint64_t t = 1000000000ULL;
  int passed = 0;
  for (int i = 0; i < 20; i++)
    {
      upfcore_dl_packet (c, 0, in, il, t, &v, out, sizeof (out));
      passed += v.verdict == UPF_VERDICT_FORWARD;
    }
  assert_int_equal (passed, 10); /* the bucket holds 10 packets */
  assert_int_equal (v.drop_reason, UPF_DROP_MBR);
  t += 3000000; /* 3 ms = 3000 bytes of tokens */
  passed = 0;
  for (int i = 0; i < 5; i++)
    {
      upfcore_dl_packet (c, 0, in, il, t, &v, out, sizeof (out));
      passed += v.verdict == UPF_VERDICT_FORWARD;
    }
  assert_int_equal (passed, 3);
  t += 60ULL * 1000000000ULL; /* a long pause refills to the depth only */
  passed = 0;
  for (int i = 0; i < 20; i++)
    {
      upfcore_dl_packet (c, 0, in, il, t, &v, out, sizeof (out));
      passed += v.verdict == UPF_VERDICT_FORWARD;
    }
  assert_int_equal (passed, 10);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
  assert_int_equal (u.pkts[UPF_VOL_DL], 23);
  assert_int_equal (u.dropped_dl_pkts, 22);
  assert_int_equal (u.dropped_dl_bytes, 22000);

  /* close the DL gate: dropped and counted; the URR keeps its counts across the swap */
  char err[128];
  p.qer[0].gate_dl = UPF_GATE_CLOSED;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  upfcore_dl_packet (c, 0, in, il, t, &v, out, sizeof (out));
  assert_int_equal (v.drop_reason, UPF_DROP_GATE_CLOSED);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 0, 0), 0);
  assert_int_equal (u.pkts[UPF_VOL_DL], 23);
  assert_int_equal (u.dropped_dl_pkts, 23);
  upfcore_ctx_delete (c);
}

static void
test_urr_threshold_quota (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p;
  upf_verdict_t v;
  uint8_t pkt[2048], out[2048];
  char err[128];
  (void)st;
  std_prog (&p, 0x100, UE);
  p.urr[0].triggers = UPF_URR_T_VOLTH | UPF_URR_T_VOLQU;
  p.urr[0].flags = UPF_URR_F_DROP_ON_QUOTA;
  p.urr[0].vol_threshold[UPF_VOL_UL] = 250;
  p.urr[0].vol_quota[UPF_VOL_TOTAL] = 500;
  upf_session_t *s = install (c, 7, &p);
  uint32_t n = ul_pkt (pkt, 0x100, UE, DN, UPF_PROTO_UDP, 1, 2, 72); /* inner 100 bytes */
  int events[8] = { 0 };
  for (int i = 0; i < 7; i++)
    {
      upfcore_ul_packet (c, pkt, n, 1, &v, out, sizeof (out));
      if (i < 5)
        assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
      else
        assert_int_equal (v.drop_reason, UPF_DROP_QUOTA);
      for (int e = 0; e < v.n_events; e++)
        {
          events[i] = (int)v.events[e].type;
          assert_int_equal (v.events[e].id, 1);
          assert_int_equal (v.events[e].seid, 7);
        }
    }
  assert_int_equal (events[2], UPF_EV_USAGE_THRESHOLD); /* 300 >= 250 */
  assert_int_equal (events[4], UPF_EV_USAGE_QUOTA);     /* 500 >= 500 */
  assert_int_equal (events[0] + events[1] + events[3] + events[5] + events[6], 0);
  /* a new quota re-enables forwarding */
  p.urr[0].vol_quota[UPF_VOL_TOTAL] = 10000;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  upfcore_ul_packet (c, pkt, n, 1, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  upfcore_ctx_delete (c);
}

static void
test_time_threshold (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p;
  upf_verdict_t v;
  uint8_t pkt[2048], out[2048];
  upf_event_t ev[4];
  (void)st;
  std_prog (&p, 0x100, UE);
  p.urr[0].triggers = UPF_URR_T_TIMTH;
  p.urr[0].time_threshold_ns = 5000;
  upf_session_t *s = install (c, 7, &p);
  assert_int_equal (upfcore_tick (c, s, 100000, ev, 4), 0); /* no traffic yet */
  uint32_t n = ul_pkt (pkt, 0x100, UE, DN, UPF_PROTO_UDP, 1, 2, 0);
  upfcore_ul_packet (c, pkt, n, 10000, &v, out, sizeof (out));
  assert_int_equal (upfcore_tick (c, s, 14999, ev, 4), 0);
  assert_int_equal (upfcore_tick (c, s, 15000, ev, 4), 1);
  assert_int_equal (ev[0].type, UPF_EV_TIME_THRESHOLD);
  assert_int_equal (upfcore_tick (c, s, 16000, ev, 4), 0);
  upfcore_ctx_delete (c);
}

/* A Time Quota used up drops the URR's traffic until it is granted again: a program with
 * the same quota and grant (any other change of the session) keeps it used up, one with
 * the same value and another grant (TS 29.244 5.2.2.2.1: a new quota) re-arms it, used up
 * in turn with its own event. */
static void
test_time_quota_granted_again (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p;
  upf_verdict_t v;
  upf_usage_t u;
  uint8_t pkt[2048], out[2048];
  upf_event_t ev[4];
  char err[128];
  (void)st;
  std_prog (&p, 0x100, UE);
  p.urr[0].triggers = UPF_URR_T_TIMQU;
  p.urr[0].flags = UPF_URR_F_DROP_ON_QUOTA;
  p.urr[0].time_quota_ns = 5000;
  p.urr[0].time_quota_grant = 1;
  upf_session_t *s = install (c, 7, &p);
  uint32_t n = ul_pkt (pkt, 0x100, UE, DN, UPF_PROTO_UDP, 1, 2, 0);
  upfcore_ul_packet (c, pkt, n, 10000, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (upfcore_tick (c, s, 15000, ev, 4), 1);
  assert_int_equal (ev[0].type, UPF_EV_TIME_QUOTA);
  upfcore_ul_packet (c, pkt, n, 15001, &v, out, sizeof (out));
  assert_int_equal (v.drop_reason, UPF_DROP_QUOTA);
  /* the report reads the URR with reset: a new period, the quota still used up */
  assert_int_equal (upfcore_read_urr (s, 1, &u, 1, 16000), 0);
  assert_true (u.flags & UPF_URRS_TIME_QUOTA_EXHAUSTED);
  /* the same program again (no grant): used up, no second event */
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  upfcore_ul_packet (c, pkt, n, 17000, &v, out, sizeof (out));
  assert_int_equal (v.drop_reason, UPF_DROP_QUOTA);
  assert_int_equal (upfcore_tick (c, s, 30000, ev, 4), 0);
  /* the same value granted again: forwarded, used up 5000 ns after the read with reset
   * that follows the grant (no tick between them) */
  p.urr[0].time_quota_grant = 2;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 1, 30000), 0);
  assert_false (u.flags & UPF_URRS_TIME_QUOTA_EXHAUSTED);
  upfcore_ul_packet (c, pkt, n, 31000, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (upfcore_tick (c, s, 34999, ev, 4), 0);
  assert_int_equal (upfcore_tick (c, s, 35000, ev, 4), 1);
  assert_int_equal (ev[0].type, UPF_EV_TIME_QUOTA);
  upfcore_ul_packet (c, pkt, n, 35001, &v, out, sizeof (out));
  assert_int_equal (v.drop_reason, UPF_DROP_QUOTA);
  upfcore_ctx_delete (c);
}

/* The events of type t one tick at now raises (their value into *value). */
static unsigned
tick_events (upf_ctx_t *c, upf_session_t *s, uint64_t now, upf_event_type_t t, uint64_t *value)
{
  upf_event_t ev[8];
  unsigned n = upfcore_tick (c, s, now, ev, 8), k = 0;
  for (unsigned i = 0; i < n; i++)
    if (ev[i].type == t)
      {
        assert_int_equal (ev[i].id, 1);
        *value = ev[i].value;
        k++;
      }
  return k;
}

/* A Time Quota counts from its grant (TS 29.244 5.2.2.2.1): from the first packet for a
 * quota granted before the time metering starts, from the next tick for one granted while
 * it runs; the reads with reset of the reports meanwhile (periodic, thresholds) start new
 * measurement periods, which the time threshold counts from, not new quotas. */
static void
test_time_quota_counts_from_grant (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p;
  upf_verdict_t v;
  upf_usage_t u;
  uint8_t pkt[2048], out[2048];
  uint64_t val = 0;
  char err[128];
  (void)st;
  std_prog (&p, 0x100, UE);
  p.urr[0].triggers = UPF_URR_T_TIMQU | UPF_URR_T_TIMTH;
  p.urr[0].flags = UPF_URR_F_DROP_ON_QUOTA;
  p.urr[0].time_quota_ns = 10000;
  p.urr[0].time_threshold_ns = 2500;
  p.urr[0].time_quota_grant = 1;
  upf_session_t *s = install (c, 7, &p);
  uint32_t n = ul_pkt (pkt, 0x100, UE, DN, UPF_PROTO_UDP, 1, 2, 0);
  assert_int_equal (tick_events (c, s, 500, UPF_EV_TIME_QUOTA, &val), 0); /* no traffic */
  assert_int_equal (tick_events (c, s, 500, UPF_EV_TIME_THRESHOLD, &val), 0);
  upfcore_ul_packet (c, pkt, n, 1000, &v, out, sizeof (out)); /* the quota starts */
  /* periodic reports every 3000 ns, each a new period with its own time threshold */
  for (uint64_t t = 1000; t < 10000; t += 3000)
    {
      assert_int_equal (tick_events (c, s, t + 2499, UPF_EV_TIME_THRESHOLD, &val), 0);
      assert_int_equal (tick_events (c, s, t + 2500, UPF_EV_TIME_THRESHOLD, &val), 1);
      assert_int_equal (val, 2500);
      assert_int_equal (upfcore_read_urr (s, 1, &u, 1, t + 3000), 0);
      upfcore_ul_packet (c, pkt, n, t + 3100, &v, out, sizeof (out));
      assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
    }
  /* used up 10000 ns after the first packet, three periods later */
  assert_int_equal (tick_events (c, s, 10999, UPF_EV_TIME_QUOTA, &val), 0);
  assert_int_equal (tick_events (c, s, 11000, UPF_EV_TIME_QUOTA, &val), 1);
  assert_int_equal (val, 10000);
  upfcore_ul_packet (c, pkt, n, 11001, &v, out, sizeof (out));
  assert_int_equal (v.drop_reason, UPF_DROP_QUOTA);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 1, 12000), 0);
  assert_true (u.flags & UPF_URRS_TIME_QUOTA_EXHAUSTED);
  assert_int_equal (tick_events (c, s, 30000, UPF_EV_TIME_QUOTA, &val), 0); /* once a grant */
  /* granted again while the metering runs: the quota starts at the next tick */
  p.urr[0].time_quota_grant = 2;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  assert_int_equal (tick_events (c, s, 31000, UPF_EV_TIME_QUOTA, &val), 0);
  upfcore_ul_packet (c, pkt, n, 31500, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 1, 34000), 0);
  assert_false (u.flags & UPF_URRS_TIME_QUOTA_EXHAUSTED);
  /* another install of the same grant (a volume change, a report's re-install): kept */
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 1, 38000), 0);
  assert_int_equal (tick_events (c, s, 40999, UPF_EV_TIME_QUOTA, &val), 0);
  assert_int_equal (tick_events (c, s, 41000, UPF_EV_TIME_QUOTA, &val), 1);
  assert_int_equal (val, 10000);
  upfcore_ul_packet (c, pkt, n, 41001, &v, out, sizeof (out));
  assert_int_equal (v.drop_reason, UPF_DROP_QUOTA);
  /* another value, granted with no tick before the next read with reset: from that read */
  p.urr[0].time_quota_ns = 4000;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 1, 45000), 0);
  assert_int_equal (upfcore_read_urr (s, 1, &u, 1, 47000), 0);
  assert_int_equal (tick_events (c, s, 48999, UPF_EV_TIME_QUOTA, &val), 0);
  assert_int_equal (tick_events (c, s, 49000, UPF_EV_TIME_QUOTA, &val), 1);
  assert_int_equal (val, 4000);
  upfcore_ctx_delete (c);
}

static unsigned flushed;
static upf_ctx_t *flush_ctx;
static void
flush_cb (void *arg, const uint8_t *pkt, uint32_t len, const upf_ip_t *local)
{
  upf_verdict_t v;
  uint8_t out[2048];
  (void)arg;
  assert_null (local); /* an N6 packet */
  upfcore_dl_packet (flush_ctx, 0, pkt, len, 5, &v, out, sizeof (out));
  if (v.verdict == UPF_VERDICT_FORWARD)
    flushed++;
}

static void
test_bar_buffering (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p;
  upf_verdict_t v;
  uint8_t in[2048], out[2048];
  char err[128];
  upf_event_t ev[4];
  (void)st;
  std_prog (&p, 0x100, UE);
  p.far[1].apply_action = UPF_AA_BUFF | UPF_AA_NOCP;
  p.bar = (upf_bar_t){ .bar_id = 1, .max_pkts = 3, .duration_ns = 1000000 };
  p.d.bar = &p.bar;
  upf_session_t *s = install (c, 9, &p);
  uint32_t il = mk_inner4 (in, DN, UE, UPF_PROTO_UDP, 1, 2, 10);
  int reports = 0;
  for (int i = 0; i < 5; i++)
    {
      upfcore_dl_packet (c, 0, in, il, 100, &v, out, sizeof (out));
      assert_int_equal (v.verdict, i < 3 ? UPF_VERDICT_BUFFER : UPF_VERDICT_DROP);
      for (int e = 0; e < v.n_events; e++)
        if (v.events[e].type == UPF_EV_DL_DATA_REPORT)
          {
            reports++;
            assert_int_equal (v.events[e].id, 2);
            assert_int_equal (v.events[e].value, 9 | UPF_EV_DLDR_DSCP);
            assert_int_equal (i, 0);
          }
    }
  assert_int_equal (reports, 1);
  assert_int_equal (upfcore_buffer_count (s), 3);
  /* FAR changes to FORW: flush re-runs the buffered packets through the new FAR */
  p.far[1].apply_action = UPF_AA_FORW;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  flush_ctx = c;
  flushed = 0;
  assert_int_equal (upfcore_buffer_flush (s, flush_cb, 0), 3);
  assert_int_equal (flushed, 3);
  assert_int_equal (upfcore_buffer_count (s), 0);
  /* back to buffering: the report is armed again; buffering duration expiry drops */
  p.far[1].apply_action = UPF_AA_BUFF | UPF_AA_NOCP;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  upfcore_dl_packet (c, 0, in, il, 2000, &v, out, sizeof (out));
  assert_int_equal (v.n_events, 1);
  assert_int_equal (upfcore_tick (c, s, 2000 + 999999, ev, 4), 0);
  assert_int_equal (upfcore_tick (c, s, 2000 + 1000000, ev, 4), 1);
  assert_int_equal (ev[0].type, UPF_EV_BUFFER_EXPIRED);
  assert_int_equal (ev[0].value, 1);
  assert_int_equal (upfcore_buffer_count (s), 0);
  upfcore_ctx_delete (c);
}

/* Downlink data after a discard is new: DROBU (upf_buffer_drop) and the end of the buffering
 * duration each re-arm the DL data report. A DL Buffering Duration given after packets were
 * buffered (Update BAR in the report's answer) counts from the tick after its install. */
static void
test_bar_report_after_discard (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p;
  upf_verdict_t v;
  uint8_t in[2048], out[2048];
  char err[128];
  upf_event_t ev[4];
  (void)st;
  std_prog (&p, 0x100, UE);
  p.far[1].apply_action = UPF_AA_BUFF | UPF_AA_NOCP;
  p.bar = (upf_bar_t){ .bar_id = 1, .max_pkts = 8 };
  p.d.bar = &p.bar;
  upf_session_t *s = install (c, 9, &p);
  uint32_t il = mk_inner4 (in, DN, UE, UPF_PROTO_UDP, 1, 2, 10);
  upfcore_dl_packet (c, 0, in, il, 100, &v, out, sizeof (out));
  assert_int_equal (v.n_events, 1);
  assert_int_equal (v.events[0].type, UPF_EV_DL_DATA_REPORT);
  upfcore_dl_packet (c, 0, in, il, 200, &v, out, sizeof (out));
  assert_int_equal (v.n_events, 0);
  /* the CP discards (DROBU) and keeps buffering: the next packet is reported */
  assert_int_equal (upfcore_buffer_drop (s), 2);
  upfcore_dl_packet (c, 0, in, il, 300, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_BUFFER);
  assert_int_equal (v.n_events, 1);
  assert_int_equal (v.events[0].type, UPF_EV_DL_DATA_REPORT);
  /* the CP's answer gives a buffering duration of 1000 ns at 500: it counts from the tick
   * after, not from the packet buffered at 300 */
  p.bar.duration_ns = 1000;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  assert_int_equal (upfcore_tick (c, s, 500, ev, 4), 0);
  assert_int_equal (upfcore_tick (c, s, 1499, ev, 4), 0);
  assert_int_equal (upfcore_buffer_count (s), 1);
  /* the same duration again (another change of the session) does not restart it */
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  assert_int_equal (upfcore_tick (c, s, 1500, ev, 4), 1);
  assert_int_equal (ev[0].type, UPF_EV_BUFFER_EXPIRED);
  assert_int_equal (ev[0].value, 1);
  /* after the duration's end, new downlink data is reported again */
  upfcore_dl_packet (c, 0, in, il, 1600, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_BUFFER);
  assert_int_equal (v.n_events, 1);
  assert_int_equal (v.events[0].type, UPF_EV_DL_DATA_REPORT);
  upfcore_ctx_delete (c);
}

/* Which installs hold the packet threads for the DL data report's re-arm
 * (upf_session_rearms_report): a kept FAR whose apply action changes re-arms it, and a
 * packet of the program in force writes the reports raised (reported[]) only under a FAR that
 * notifies the CP. */
static void
test_bar_report_rearm_holds_packets (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p;
  upf_verdict_t v;
  uint8_t in[2048], out[2048];
  char err[128];
  upf_far_t more[3];
  upf_program_desc_t with_other;
  (void)st;
  std_prog (&p, 0x100, UE);
  p.far[1].apply_action = UPF_AA_BUFF | UPF_AA_NOCP;
  upf_session_t *s = install (c, 9, &p);
  uint32_t il = mk_inner4 (in, DN, UE, UPF_PROTO_UDP, 1, 2, 10);
  /* p's rules and a FAR the program in force does not have */
  more[0] = p.far[0];
  more[1] = p.far[1];
  more[2] = (upf_far_t){ .far_id = 99, .apply_action = UPF_AA_FORW };
  with_other = p.d;
  with_other.far = more;
  with_other.n_far = 3;
#define REARMS_REPORT() upf_session_rearms_report (s, &p.d)
  assert_int_equal (REARMS_REPORT (), 0);                           /* the same actions */
  assert_int_equal (upf_session_rearms_report (s, &with_other), 0); /* a FAR not kept */
  p.far[1].apply_action = UPF_AA_FORW;
  assert_int_equal (REARMS_REPORT (), 1); /* the NOCP FAR's action changes */
  p.far[1].apply_action = UPF_AA_BUFF | UPF_AA_NOCP;
  p.far[0].apply_action = UPF_AA_DROP;
  assert_int_equal (REARMS_REPORT (), 1); /* another FAR's: re-arms it too, NOCP in force */
  p.far[0].apply_action = UPF_AA_FORW;
  /* the report raised; buffering without notifying: the install re-arms it, held */
  upfcore_dl_packet (c, 0, in, il, 100, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_BUFFER);
  assert_int_equal (v.n_events, 1);
  assert_int_equal (v.events[0].type, UPF_EV_DL_DATA_REPORT);
  p.far[1].apply_action = UPF_AA_BUFF;
  assert_int_equal (REARMS_REPORT (), 1);
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  assert_int_equal (s->buffer->n_reported, 0);
  upfcore_dl_packet (c, 0, in, il, 200, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_BUFFER);
  assert_int_equal (v.n_events, 0);
  /* no FAR in force notifies: no packet writes the byte, the re-arm needs no hold */
  p.far[1].apply_action = UPF_AA_BUFF | UPF_AA_NOCP;
  assert_int_equal (REARMS_REPORT (), 0);
  p.far[1].apply_action = UPF_AA_FORW;
  assert_int_equal (REARMS_REPORT (), 0);
#undef REARMS_REPORT
  upfcore_ctx_delete (c);
}

/* Which installs flush the DL buffer (upf_session_flushes). The VPP plugin decides before
 * the install, without the workers held; the owner may store a packet of the program in force
 * between that decision and the barrier: here between the decision and the install. A
 * program that buffers replaced by one that does not flushes whatever the buffer held when
 * it was decided, so that packet goes out with the flush instead of staying behind. */
static void
test_bar_flush_decided_before_packets (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p, q;
  upf_verdict_t v;
  uint8_t in[2048], out[2048];
  char err[128];
  int flushes;
  (void)st;
  std_prog (&p, 0x100, UE);
  p.far[1].apply_action = UPF_AA_BUFF | UPF_AA_NOCP;
  upf_session_t *s = install (c, 9, &p);
  uint32_t il = mk_inner4 (in, DN, UE, UPF_PROTO_UDP, 1, 2, 10);
#define FLUSHES() upf_session_flushes (s, &p.d)
  assert_int_equal (FLUSHES (), 0); /* the new program buffers too: the packets wait */
  /* the buffer empty when deciding; a packet of the program in force stored after */
  p.far[1].apply_action = UPF_AA_FORW;
  assert_int_equal (upfcore_buffer_count (s), 0);
  flushes = FLUSHES ();
  upfcore_dl_packet (c, 0, in, il, 100, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_BUFFER);
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  flush_ctx = c;
  flushed = 0;
  if (flushes)
    upfcore_buffer_flush (s, flush_cb, 0);
  assert_int_equal (flushed, 1);
  assert_int_equal (upfcore_buffer_count (s), 0);
  /* forwarding in force, nothing buffered: nothing to flush, no hold */
  assert_int_equal (FLUSHES (), 0);
  /* a FAR that notifies without buffering stores no packet either */
  p.far[1].apply_action = UPF_AA_FORW | UPF_AA_NOCP;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  assert_int_equal (FLUSHES (), 0);
  /* packets left in the buffer under a program that cannot buffer (a flush that found no
   * memory): the next install that does not buffer flushes them, one that buffers keeps them */
  assert_int_equal (upf_buffer_store (s, 2, in, il, 300), 0);
  p.far[1].apply_action = UPF_AA_FORW;
  assert_int_equal (FLUSHES (), 1);
  p.far[1].apply_action = UPF_AA_BUFF;
  assert_int_equal (FLUSHES (), 0);
#undef FLUSHES
  /* a session without a DL buffer has nothing to flush */
  std_prog (&q, 0x101, UE + 1);
  upf_session_t *s2 = install (c, 10, &q);
  assert_null (s2->buffer);
  assert_int_equal (upf_session_flushes (s2, &q.d), 0);
  upfcore_ctx_delete (c);
}

/* Readers inside an epoch keep retired programs alive; leaving releases them. */
static void
test_epoch_reclaim (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p;
  char err[128];
  (void)st;
  std_prog (&p, 0x100, UE);
  upf_session_t *s = install (c, 1, &p);
  upf_reader_enter (&c->epoch, 3);
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  assert_int_equal (upfcore_reclaim (c), 0);
  upf_reader_exit (&c->epoch, 3);
  assert_int_equal (upfcore_reclaim (c), 3); /* program + its UL and DL entries */
  upf_reader_enter (&c->epoch, 3);
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  upf_reader_exit (&c->epoch, 3);
  upf_reader_enter (&c->epoch, 3);           /* entered after the retire: does not hold it */
  assert_int_equal (upfcore_reclaim (c), 3); /* program + its UL and DL entries */
  upf_reader_exit (&c->epoch, 3);
  upfcore_ctx_delete (c);
}

/* Many sessions: the tables grow and lookups keep working; IPv6 /64 prefixes in DL. */
static void
test_tables_many (void **st)
{
  upf_ctx_t *c = upfcore_ctx_new (4);
  prog_t p;
  upf_verdict_t v;
  uint8_t pkt[256], in[128], out[256];
  upf_session_t *ss[3000];
  (void)st;
  for (unsigned i = 0; i < 3000; i++)
    {
      std_prog (&p, 0x1000 + i, IP4 (10, 46, i >> 8, i & 0xff));
      ss[i] = install (c, i, &p);
    }
  for (unsigned i = 0; i < 3000; i += 7)
    {
      uint32_t n = ul_pkt (pkt, 0x1000 + i, IP4 (10, 46, i >> 8, i & 0xff), DN, 17, 1, 2, 0);
      upfcore_ul_packet (c, pkt, n, 1, &v, out, sizeof (out));
      assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
      assert_int_equal (v.seid, i);
    }
  for (unsigned i = 0; i < 3000; i += 2)
    upfcore_session_delete (c, ss[i]);
  for (unsigned i = 0; i < 3000; i += 5)
    {
      uint32_t il = mk_inner4 (in, DN, IP4 (10, 46, i >> 8, i & 0xff), 17, 1, 2, 0);
      upfcore_dl_packet (c, 0, in, il, 1, &v, out, sizeof (out));
      assert_int_equal (v.verdict, i % 2 ? UPF_VERDICT_FORWARD : UPF_VERDICT_DROP);
    }
  /* IPv6 /64 UE prefix */
  std_prog (&p, 0x9999, 0);
  upf_ip_t pfx = { { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0x42 } };
  p.pdr[1].ue_ip = pfx, p.pdr[1].ue_ip_plen = 64;
  p.pdr[0].pdi_flags = UPF_PDI_FTEID;
  install (c, 99999, &p);
  memset (in, 0, 48);
  in[0] = 0x60, in[6] = 17, in[7] = 64;
  upf_wr16 (in + 4, 8);
  in[8] = 0x20, in[23] = 9;
  memcpy (in + 24, pfx.b, 8);
  in[39] = 0x77;
  upfcore_dl_packet (c, 0, in, 48, 1, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (v.seid, 99999);
  upfcore_ctx_delete (c);
}

/* IPv4 header checksum and TCP/UDP checksum (pseudo header) of an IPv4 packet, 0 = valid. */
static uint16_t
ip4_hdr_csum (const uint8_t *p)
{
  return upf_csum_fold (upf_csum_add (0, p, (p[0] & 0xf) * 4u));
}

static uint16_t
l4_csum4 (const uint8_t *p)
{
  uint32_t ihl = (p[0] & 0xf) * 4u, l4len = upf_rd16 (p + 2) - ihl;
  uint32_t sum = upf_csum_add (0, p + 12, 8) + p[9] + l4len;
  return upf_csum_fold (upf_csum_add (sum, p + ihl, l4len));
}

/* Give an inner IPv4 TCP/UDP packet a valid L4 checksum. */
static void
set_l4_csum4 (uint8_t *p)
{
  uint32_t off = 20 + (p[9] == UPF_PROTO_TCP ? 16 : 6);
  upf_wr16 (p + off, 0);
  upf_wr16 (p + off, l4_csum4 (p));
}

/* FAR DUPL: each duplicating parameter gets its own rewrite, built from the verdict's
 * templates: GTP-U (TEID, QFI, DSCP), UDP to a port, IP-in-IP, and the packet as is. */
static void
test_dupl_copies (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p;
  upf_verdict_t v;
  uint8_t pkt[2048], in[256], out[2048], dup[2048];
  upf_outer_t ou;
  upf_gtpu_t g;
  upf_ip_t li6 = { { 0xfd, 0, 0, 0x99, [15] = 1 } }, me6 = { { 0xfd, 0, 0, 0x99, [15] = 2 } };
  (void)st;
  std_prog (&p, 0x100, UE);
  p.far[0].apply_action = UPF_AA_FORW | UPF_AA_DUPL;
  p.far[0].dupl_first = 0, p.far[0].dupl_count = 2;
  p.dupl[0] = (upf_dupl_t){ .dest_interface = UPF_IF_ACCESS,
                            .ohc = UPF_OHC_GTPU,
                            .ohc_flags = UPF_OHC_F_PSC,
                            .dscp = 34,
                            .ohc_teid = 0x777,
                            .ohc_peer = upf_ip4 (IP4 (10, 200, 9, 1)),
                            .ohc_src = upf_ip4 (N3_UPF) };
  p.dupl[1] = (upf_dupl_t){ .dest_interface = UPF_IF_CP_FUNCTION,
                            .ohc = UPF_OHC_UDP,
                            .dscp = UPF_DSCP_NONE,
                            .ohc_port = 9999,
                            .forwarding_policy = 3,
                            .ohc_peer = upf_ip4 (IP4 (10, 200, 9, 2)),
                            .ohc_src = upf_ip4 (N3_UPF) };
  p.far[1].apply_action = UPF_AA_FORW | UPF_AA_DUPL;
  p.far[1].dupl_first = 2, p.far[1].dupl_count = 2;
  p.dupl[2] = (upf_dupl_t){ .dest_interface = UPF_IF_CORE, .ohc = UPF_OHC_NONE };
  p.dupl[3] = (upf_dupl_t){
    .dest_interface = UPF_IF_CORE, .ohc = UPF_OHC_IP, .ohc_peer = li6, .ohc_src = me6
  };
  p.d.n_dupl = 4;
  install (c, 0x42, &p);

  /* UL: forwarded (decapsulated) and two copies */
  uint32_t n = ul_pkt (pkt, 0x100, UE, DN, UPF_PROTO_UDP, 1000, 2000, 100);
  uint32_t o = upfcore_ul_packet (c, pkt, n, 1, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (o, 128);
  assert_int_equal (v.n_dupl, 2);
  assert_int_equal (v.dupl[0].dest_interface, UPF_IF_ACCESS);
  assert_int_equal (v.dupl[1].dest_interface, UPF_IF_CP_FUNCTION);
  assert_int_equal (v.dupl[1].forwarding_policy, 3);
  uint32_t d = upfcore_dupl_packet (&v, 0, pkt + v.inner_offset, dup, sizeof (dup));
  assert_int_equal (d, 44 + 128);
  assert_int_equal (upf_parse_outer (dup, d, &ou), 0);
  assert_int_equal (ip4_hdr_csum (dup), 0);
  assert_int_equal (ou.tos, 34 << 2);
  assert_memory_equal (ou.dst.b + 12, "\x0a\xc8\x09\x01", 4);
  assert_int_equal (upf_parse_gtpu (dup + ou.payload_offset, ou.payload_len, &g), 0);
  assert_int_equal (g.teid, 0x777);
  assert_int_equal (g.qfi, 9);
  assert_memory_equal (dup + 44, out, 128);
  d = upfcore_dupl_packet (&v, 1, pkt + v.inner_offset, dup, sizeof (dup));
  assert_int_equal (d, 28 + 128);
  assert_int_equal (upf_parse_outer (dup, d, &ou), 0);
  assert_int_equal (ip4_hdr_csum (dup), 0);
  assert_int_equal (ou.dport, 9999);
  assert_int_equal (ou.payload_len, 128);
  assert_memory_equal (ou.dst.b + 12, "\x0a\xc8\x09\x02", 4);
  assert_memory_equal (dup + 28, out, 128);
  /* out of range, or no room: nothing */
  assert_int_equal (upfcore_dupl_packet (&v, 2, pkt + v.inner_offset, dup, sizeof (dup)), 0);
  assert_int_equal (upfcore_dupl_packet (&v, 0, pkt + v.inner_offset, dup, 100), 0);

  /* DL: encapsulated to the gNB, a plain copy and an IP-in-IP (IPv6) copy */
  uint32_t il = mk_inner4 (in, DN, UE, UPF_PROTO_TCP, 443, 50000, 60);
  o = upfcore_dl_packet (c, 0, in, il, 2, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (o, 44 + il);
  assert_int_equal (v.n_dupl, 2);
  d = upfcore_dupl_packet (&v, 0, in, dup, sizeof (dup));
  assert_int_equal (d, il);
  assert_memory_equal (dup, in, il);
  d = upfcore_dupl_packet (&v, 1, in, dup, sizeof (dup));
  assert_int_equal (d, 40 + il);
  assert_int_equal (dup[0] >> 4, 6);
  assert_int_equal (dup[6], 4); /* next header: IPv4 */
  assert_int_equal (upf_rd16 (dup + 4), il);
  assert_memory_equal (dup + 24, li6.b, 16);
  assert_memory_equal (dup + 40, in, il);

  /* without DUPL in the apply action the parameters are not used */
  upf_session_t *s = upfcore_session_create (c, 0x43);
  char err[160];
  std_prog (&p, 0x101, UE + 1);
  p.far[1].dupl_count = 1;
  p.d.n_dupl = 1;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  il = mk_inner4 (in, DN, UE + 1, UPF_PROTO_TCP, 443, 50000, 0);
  upfcore_dl_packet (c, 0, in, il, 3, &v, out, sizeof (out));
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (v.n_dupl, 0);
  assert_int_equal (upfcore_dupl_packet (&v, 0, in, dup, sizeof (dup)), 0);

  /* refused: too many per FAR, outside the list, mixed families, unknown kind */
  p.far[1].dupl_count = UPF_MAX_DUPL_PER_FAR + 1;
  p.d.n_dupl = 4;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), -EINVAL);
  assert_string_equal (err, "FAR 2: more than 2 duplicating parameters");
  p.far[1].dupl_first = 3, p.far[1].dupl_count = 2;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), -EINVAL);
  assert_string_equal (err, "FAR 2: duplicating parameters outside the list");
  p.far[1].dupl_first = 0, p.far[1].dupl_count = 1;
  p.dupl[0] = (upf_dupl_t){ .ohc = UPF_OHC_GTPU, .ohc_peer = li6, .ohc_src = upf_ip4 (N3_UPF) };
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), -EINVAL);
  assert_non_null (strstr (err, "families differ"));
  p.dupl[0].ohc = UPF_OHC_IP + 1;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), -EINVAL);
  assert_non_null (strstr (err, "unsupported outer header creation"));
  upfcore_ctx_delete (c);
}

/* FAR redirect to an IPv4 address: the UL packet leaves with the new destination and valid
 * IPv4, UDP and TCP checksums; URL redirects and a family mismatch are only reported. */
static void
test_redirect_rewrite (void **st)
{
  upf_ctx_t *c = ctx_new ();
  prog_t p;
  upf_verdict_t v;
  uint8_t pkt[2048], in[256], out[2048];
  const uint32_t portal = IP4 (10, 201, 0, 80);
  (void)st;
  std_prog (&p, 0x100, UE);
  p.far[0].redirect_type = UPF_REDIRECT_IPV4 + 1;
  p.far[0].redirect_addr = upf_ip4 (portal);
  upf_session_t *s = install (c, 0x42, &p);

  for (unsigned proto = 0; proto < 2; proto++)
    {
      uint8_t pr = proto ? UPF_PROTO_TCP : UPF_PROTO_UDP;
      uint32_t il = mk_inner4 (in, UE, DN, pr, 40000, 80, 33);
      set_l4_csum4 (in);
      assert_int_equal (l4_csum4 (in), 0);
      uint32_t n = mk_gtpu4 (pkt, N3_GNB, N3_UPF, 0x100, 9, in, il);
      uint32_t o = upfcore_ul_packet (c, pkt, n, 1, &v, out, sizeof (out));
      assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
      assert_int_equal (v.redirect_type, UPF_REDIRECT_IPV4 + 1);
      assert_int_equal (v.redirected, 1);
      assert_int_equal (o, il);
      assert_int_equal (upf_rd32 (out + 16), portal);
      assert_int_equal (upf_rd32 (out + 12), UE);
      assert_int_equal (ip4_hdr_csum (out), 0);
      assert_int_equal (l4_csum4 (out), 0);
      /* the GTP-U-layer entry point does the same */
      upf_ip_t local = upf_ip4 (N3_UPF);
      o = upfcore_ul_gtpu_packet (c, &local, pkt + 28, n - 28, 1, &v, out, sizeof (out));
      assert_int_equal (v.redirected, 1);
      assert_int_equal (upf_rd32 (out + 16), portal);
      assert_int_equal (l4_csum4 (out), 0);
    }
  /* an IPv4 UDP checksum of 0 (none) stays 0 */
  uint32_t il = mk_inner4 (in, UE, DN, UPF_PROTO_UDP, 40000, 53, 4);
  uint32_t n = mk_gtpu4 (pkt, N3_GNB, N3_UPF, 0x100, 9, in, il);
  upfcore_ul_packet (c, pkt, n, 1, &v, out, sizeof (out));
  assert_int_equal (v.redirected, 1);
  assert_int_equal (upf_rd16 (out + 26), 0);
  assert_int_equal (ip4_hdr_csum (out), 0);
  /* DL is not redirected (reported only) */
  il = mk_inner4 (in, DN, UE, UPF_PROTO_UDP, 80, 40000, 4);
  std_prog (&p, 0x100, UE);
  p.far[1].redirect_type = UPF_REDIRECT_IPV4 + 1;
  p.far[1].redirect_addr = upf_ip4 (portal);
  char err[128];
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
  upfcore_dl_packet (c, 0, in, il, 1, &v, out, sizeof (out));
  assert_int_equal (v.redirect_type, UPF_REDIRECT_IPV4 + 1);
  assert_int_equal (v.redirected, 0);
  assert_memory_equal (out + 44, in, il);
  /* an IPv4 redirect type with an IPv6 address (or the reverse) is refused */
  std_prog (&p, 0x100, UE);
  p.far[0].redirect_type = UPF_REDIRECT_IPV4 + 1;
  p.far[0].redirect_addr.b[0] = 0xfd;
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), -EINVAL);
  assert_string_equal (err, "FAR 1: redirect address not of the redirect type's family");
  p.far[0].redirect_type = UPF_REDIRECT_IPV6 + 1;
  p.far[0].redirect_addr = upf_ip4 (portal);
  assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), -EINVAL);
  /* URL: reported, not rewritten; an IPv6 address for an IPv4 packet: not rewritten */
  for (unsigned k = 0; k < 2; k++)
    {
      std_prog (&p, 0x100, UE);
      p.far[0].redirect_type = k ? UPF_REDIRECT_IPV6 + 1 : UPF_REDIRECT_URL + 1;
      p.far[0].redirect_addr.b[0] = k ? 0xfd : 0;
      assert_int_equal (upfcore_session_install (c, s, &p.d, err, sizeof (err)), 0);
      il = mk_inner4 (in, UE, DN, UPF_PROTO_UDP, 40000, 80, 4);
      n = mk_gtpu4 (pkt, N3_GNB, N3_UPF, 0x100, 9, in, il);
      upfcore_ul_packet (c, pkt, n, 1, &v, out, sizeof (out));
      assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
      assert_int_equal (v.redirect_type, p.far[0].redirect_type);
      assert_int_equal (v.redirected, 0);
      assert_memory_equal (out, in, il);
    }
  upfcore_ctx_delete (c);
}

/* upf_rewrite_dst on truncated and fragmented packets: never past the end, fragments keep a
 * valid IPv4 header. */
static void
test_rewrite_dst_edges (void **st)
{
  uint8_t in[256];
  upf_ip_t to = upf_ip4 (IP4 (192, 0, 2, 1));
  (void)st;
  uint32_t il = mk_inner4 (in, UE, DN, UPF_PROTO_TCP, 1, 2, 0);
  for (uint32_t l = 0; l < il; l++)
    {
      uint8_t *copy = malloc (l ? l : 1); /* exact size so ASan sees any overread */
      memcpy (copy, in, l);
      if (l >= 4)
        upf_wr16 (copy + 2, (uint16_t)l); /* a consistent but truncated packet */
      upf_rewrite_dst (copy, l, &to);
      free (copy);
    }
  il = mk_inner4 (in, UE, DN, UPF_PROTO_UDP, 1, 2, 16);
  upf_wr16 (in + 6, 0x0010); /* non-first fragment: offset 128 bytes */
  upf_wr16 (in + 10, 0);
  upf_wr16 (in + 10, ip4_hdr_csum (in));
  uint8_t l4[16];
  memcpy (l4, in + 20, 16);
  assert_int_equal (upf_rewrite_dst (in, il, &to), 1);
  assert_int_equal (ip4_hdr_csum (in), 0);
  assert_memory_equal (in + 20, l4, 16); /* no L4 header there: untouched */
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_ul_dl_forward_and_count),
    cmocka_unit_test (test_ul_gtpu_entry),
    cmocka_unit_test (test_echo_request),
    cmocka_unit_test (test_sdf_classification),
    cmocka_unit_test (test_build_errors),
    cmocka_unit_test (test_precedence_ties),
    cmocka_unit_test (test_qer_gate_and_mbr),
    cmocka_unit_test (test_urr_threshold_quota),
    cmocka_unit_test (test_time_threshold),
    cmocka_unit_test (test_time_quota_granted_again),
    cmocka_unit_test (test_time_quota_counts_from_grant),
    cmocka_unit_test (test_bar_buffering),
    cmocka_unit_test (test_bar_report_after_discard),
    cmocka_unit_test (test_bar_report_rearm_holds_packets),
    cmocka_unit_test (test_bar_flush_decided_before_packets),
    cmocka_unit_test (test_epoch_reclaim),
    cmocka_unit_test (test_tables_many),
    cmocka_unit_test (test_dupl_copies),
    cmocka_unit_test (test_redirect_rewrite),
    cmocka_unit_test (test_rewrite_dst_edges),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
