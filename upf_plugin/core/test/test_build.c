/* GTP-U encapsulation and signalling message builders, checked by re-parsing and by
 * recomputing checksums independently. */
#include "test_util.h"

static int
csum_ok (const uint8_t *p, uint32_t n)
{
  return upf_csum_fold (upf_csum_add (0, p, n)) == 0;
}

static void
test_encap_ipv4_psc_dscp (void **st)
{
  upf_encap_t t;
  uint8_t buf[256], in[64];
  upf_outer_t o;
  upf_gtpu_t g;
  upf_ip_t s = upf_ip4 (IP4 (10, 200, 0, 2)), d = upf_ip4 (IP4 (10, 200, 0, 1));
  (void)st;
  uint32_t il = mk_inner4 (in, IP4 (8, 8, 8, 8), IP4 (10, 45, 0, 1), UPF_PROTO_UDP, 53, 999, 3);
  assert_int_equal (upf_encap_init (&t, &s, &d, 0xabcdef01, 1, 46), 0);
  assert_int_equal (t.len, 20 + 8 + 16);
  memcpy (buf + t.len, in, il);
  assert_int_equal (upf_encap_write (&t, buf, buf + t.len, il, 9, 1, 0), t.len);
  assert_true (csum_ok (buf, 20));
  assert_int_equal (buf[1], 46 << 2);
  assert_int_equal (upf_parse_outer (buf, t.len + il, &o), 0);
  assert_int_equal (upf_parse_gtpu (buf + o.payload_offset, o.payload_len, &g), 0);
  assert_int_equal (g.teid, 0xabcdef01);
  assert_true (g.has_pdu_session_container);
  assert_int_equal (g.pdu_type, UPF_PDU_TYPE_DL);
  assert_int_equal (g.qfi, 9);
  assert_true (g.rqi);
  assert_int_equal (g.payload_len, il);
  assert_memory_equal (buf + o.payload_offset + g.header_len, in, il);
  /* mixed families are refused */
  upf_ip_t v6 = { { 0x20, 0x01, [15] = 1 } };
  assert_int_equal (upf_encap_init (&t, &s, &v6, 1, 0, 0xff), -1);
}

static void
test_encap_ipv6_checksum (void **st)
{
  upf_encap_t t;
  uint8_t buf[256], in[64], pseudo[512];
  upf_ip_t s = { { 0xfd, 0, [15] = 2 } }, d = { { 0xfd, 0, [15] = 1 } };
  (void)st;
  uint32_t il = mk_inner4 (in, 1, 2, UPF_PROTO_ICMP, 0, 0, 5);
  assert_int_equal (upf_encap_init (&t, &s, &d, 77, 0, UPF_DSCP_NONE), 0);
  assert_int_equal (t.len, 40 + 8 + 8);
  memcpy (buf + t.len, in, il);
  upf_encap_write (&t, buf, buf + t.len, il, 0, 0, 0);
  /* independent check: pseudo header + UDP datagram sums to 0xffff */
  uint32_t ulen = 8 + 8 + il, n = 0;
  memcpy (pseudo, buf + 8, 32);
  n = 32;
  upf_wr32 (pseudo + n, ulen), n += 4;
  memset (pseudo + n, 0, 3), pseudo[n + 3] = 17, n += 4;
  memcpy (pseudo + n, buf + 40, ulen), n += ulen;
  assert_true (csum_ok (pseudo, n));
  assert_int_equal (upf_rd16 (buf + 4), ulen);
}

static void
test_echo_error_end_marker (void **st)
{
  uint8_t out[64];
  upf_gtpu_t g, req;
  (void)st;
  memset (&req, 0, sizeof (req));
  req.seq = 0x4242;
  uint32_t n = upf_build_echo_response (&req, out);
  assert_int_equal (upf_parse_gtpu (out, n, &g), 0);
  assert_int_equal (g.type, UPF_GTPU_ECHO_RESPONSE);
  assert_int_equal (g.seq, 0x4242);
  assert_int_equal (out[12], 14); /* Recovery IE */

  upf_ip_t a = upf_ip4 (IP4 (10, 200, 0, 2));
  n = upf_build_error_indication (0xdeadbeef, &a, out);
  assert_int_equal (n, 24);
  assert_int_equal (upf_parse_gtpu (out, n, &g), 0);
  assert_int_equal (g.type, UPF_GTPU_ERROR_INDICATION);
  assert_int_equal (out[12], 16);
  assert_int_equal (upf_rd32 (out + 13), 0xdeadbeef);
  assert_int_equal (out[17], 133);
  assert_int_equal (upf_rd16 (out + 18), 4);
  assert_memory_equal (out + 20, "\x0a\xc8\x00\x02", 4);

  n = upf_build_end_marker (0x55, 1, 7, out);
  assert_int_equal (upf_parse_gtpu (out, n, &g), 0);
  assert_int_equal (g.type, UPF_GTPU_END_MARKER);
  assert_int_equal (g.teid, 0x55);
  assert_int_equal (g.qfi, 7);
  assert_int_equal (g.payload_len, 0);
  n = upf_build_end_marker (0x55, 0, 0, out);
  assert_int_equal (n, 8);
}

/* An End Marker written on a FAR's GTP-U template (the relay of a received one) is the one
 * upf_build_end_marker builds for the template's tunnel: IPv4 and IPv6 (its UDP checksum),
 * with and without PDU Session Container. */
static void
test_end_marker_on_template (void **st)
{
  static const uint8_t v6s[16] = { 0x20, 0x01, 0xd, 0xb8, [15] = 1 };
  static const uint8_t v6d[16] = { 0x20, 0x01, 0xd, 0xb8, [15] = 2 };
  upf_ip_t srcs[2] = { upf_ip4 (IP4 (10, 0, 0, 1)) }, dsts[2] = { upf_ip4 (IP4 (10, 0, 0, 2)) };
  (void)st;
  memcpy (srcs[1].b, v6s, 16);
  memcpy (dsts[1].b, v6d, 16);
  for (int f = 0; f < 2; f++)
    for (int psc = 0; psc < 2; psc++)
      {
        upf_encap_t t;
        uint8_t got[128], want[128], msg[16];
        uint32_t n, m, hl;
        assert_int_equal (
          upf_encap_init (&t, &srcs[f], &dsts[f], 0x1234, psc ? UPF_PSC_DL : 0, UPF_DSCP_NONE), 0);
        n = upf_encap_write_end_marker (&t, got, 7);
        m = upf_build_end_marker (0x1234, psc, psc ? 7 : 0, msg);
        hl = f ? 48 : 28;
        memcpy (want + hl, msg, m);
        assert_int_equal (upf_build_ip_udp (want, &srcs[f], &dsts[f], 2152, 2152, want + hl, m),
                          hl);
        assert_int_equal (n, hl + m);
        assert_memory_equal (got, want, n);
      }
}

static void
test_ip_udp_wrapper (void **st)
{
  uint8_t out[128], msg[16] = { 1, 2, 3 };
  upf_outer_t o;
  upf_ip_t s = upf_ip4 (IP4 (127, 0, 0, 1)), d = upf_ip4 (IP4 (127, 0, 0, 2));
  (void)st;
  memcpy (out + 28, msg, 16);
  uint32_t hl = upf_build_ip_udp (out, &s, &d, 2152, 40000, out + 28, 16);
  assert_int_equal (hl, 28);
  assert_true (csum_ok (out, 20));
  assert_int_equal (upf_parse_outer (out, hl + 16, &o), 0);
  assert_int_equal (o.dport, 40000);
  assert_int_equal (o.payload_len, 16);
}

static void
test_supported_ext_hdr_notification (void **st)
{
  uint8_t out[32];
  upf_gtpu_t g;
  (void)st;
  uint32_t n = upf_build_supported_ext_hdr_notification (0x1234, out);
  assert_int_equal (n, 18);
  assert_int_equal (upf_parse_gtpu (out, n, &g), 0);
  assert_int_equal (g.type, UPF_GTPU_SUPPORTED_EXT_HDR_NOTIFICATION);
  assert_int_equal (g.seq, 0x1234);
  assert_int_equal (out[12], 141);
  assert_int_equal (out[13], 4);
  assert_non_null (memchr (out + 14, 0x85, 4));
}

/* Outer IPv6 transport: a GTP-U G-PDU over IPv6 goes through upf_ul_process. */
static void
test_outer_ipv6_gpdu (void **st)
{
  uint8_t pkt[256], in[64];
  upf_outer_t o;
  (void)st;
  uint32_t il = mk_inner4 (in, IP4 (10, 45, 0, 7), IP4 (1, 1, 1, 1), UPF_PROTO_UDP, 1, 2, 0);
  memset (pkt, 0, 48 + 8);
  pkt[0] = 0x60;
  upf_wr16 (pkt + 4, (uint16_t)(8 + 8 + il));
  pkt[6] = 17;
  pkt[7] = 64;
  pkt[8] = 0xfd, pkt[23] = 1;
  pkt[24] = 0xfd, pkt[39] = 2;
  upf_wr16 (pkt + 40, 2152);
  upf_wr16 (pkt + 42, 2152);
  upf_wr16 (pkt + 44, (uint16_t)(8 + 8 + il));
  pkt[48] = 0x30, pkt[49] = 255;
  upf_wr16 (pkt + 50, (uint16_t)il);
  upf_wr32 (pkt + 52, 0x77);
  memcpy (pkt + 56, in, il);
  assert_int_equal (upf_parse_outer (pkt, 56 + il, &o), 0);
  assert_int_equal (o.ip_version, 6);
  assert_int_equal (o.payload_offset, 48);
  assert_int_equal (o.dst.b[15], 2);
  /* an IPv6 extension header before UDP is not accepted on the transport */
  pkt[6] = 0;
  assert_int_equal (upf_parse_outer (pkt, 56 + il, &o), UPF_MALFORMED_NOT_UDP);
  /* a lying payload length */
  pkt[6] = 17;
  upf_wr16 (pkt + 4, 500);
  assert_int_equal (upf_parse_outer (pkt, 56 + il, &o), UPF_MALFORMED_IP_TOTAL_LENGTH);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_encap_ipv4_psc_dscp),
    cmocka_unit_test (test_encap_ipv6_checksum),
    cmocka_unit_test (test_echo_error_end_marker),
    cmocka_unit_test (test_end_marker_on_template),
    cmocka_unit_test (test_ip_udp_wrapper),
    cmocka_unit_test (test_supported_ext_hdr_notification),
    cmocka_unit_test (test_outer_ipv6_gpdu),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
