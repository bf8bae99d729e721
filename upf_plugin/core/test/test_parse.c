/* GTP-U and inner IP parsing: fields, extension header chain, strict length checks. */
#include "test_util.h"

static void
test_gpdu_plain (void **st)
{
  uint8_t in[128], pkt[256];
  upf_outer_t o;
  upf_gtpu_t g;
  (void)st;
  uint32_t il = mk_inner4 (in, IP4 (10, 0, 0, 1), IP4 (8, 8, 8, 8), UPF_PROTO_UDP, 1000, 53, 4);
  uint32_t n = mk_gtpu4 (pkt, IP4 (10, 200, 0, 1), IP4 (10, 200, 0, 2), 0x1234, -1, in, il);
  assert_int_equal (upf_parse_outer (pkt, n, &o), UPF_MALFORMED_NONE);
  assert_int_equal (o.dport, 2152);
  assert_int_equal (o.payload_len, n - 28);
  assert_int_equal (upf_parse_gtpu (pkt + o.payload_offset, o.payload_len, &g), 0);
  assert_int_equal (g.type, 255);
  assert_int_equal (g.teid, 0x1234);
  assert_int_equal (g.header_len, 8);
  assert_int_equal (g.payload_len, il);
  assert_false (g.has_pdu_session_container);
}

static void
test_psc_ul_and_dl (void **st)
{
  uint8_t in[128], pkt[256];
  upf_outer_t o;
  upf_gtpu_t g;
  (void)st;
  uint32_t il = mk_inner4 (in, IP4 (10, 0, 0, 1), IP4 (8, 8, 8, 8), UPF_PROTO_ICMP, 0, 0, 4);
  uint32_t n = mk_gtpu4 (pkt, IP4 (10, 200, 0, 1), IP4 (10, 200, 0, 2), 7, 9, in, il);
  assert_int_equal (upf_parse_outer (pkt, n, &o), 0);
  assert_int_equal (upf_parse_gtpu (pkt + 28, o.payload_len, &g), 0);
  assert_true (g.has_pdu_session_container);
  assert_int_equal (g.pdu_type, UPF_PDU_TYPE_UL);
  assert_int_equal (g.qfi, 9);
  assert_int_equal (g.header_len, 16);
  /* DL PDU session information with PPP + RQI: needs a two-word extension */
  uint8_t d[64]
    = { 0x34, 255, 0, 12, 0, 0, 0, 5, 0, 0, 0, 0x85, 2, 0x00, 0x80 | 0x40 | 5, 0xa0, 0, 0, 0, 0 };
  assert_int_equal (upf_parse_gtpu (d, 20, &g), 0);
  assert_true (g.rqi);
  assert_true (g.has_ppi);
  assert_int_equal (g.ppi, 5);
  assert_int_equal (g.qfi, 5);
  assert_int_equal (g.header_len, 20);
  assert_int_equal (g.payload_len, 0);
  /* PPP set but extension too short for the PPI octet */
  uint8_t d2[16] = { 0x34, 255, 0, 8, 0, 0, 0, 5, 0, 0, 0, 0x85, 1, 0x00, 0x80 | 5, 0 };
  assert_int_equal (upf_parse_gtpu (d2, 16, &g), UPF_MALFORMED_PDU_SESSION_CONTAINER);
  /* PDU type 2 is not a session container type we know */
  uint8_t d3[16] = { 0x34, 255, 0, 8, 0, 0, 0, 5, 0, 0, 0, 0x85, 1, 0x20, 5, 0 };
  assert_int_equal (upf_parse_gtpu (d3, 16, &g), UPF_MALFORMED_PDU_SESSION_CONTAINER);
}

static void
test_ext_chain (void **st)
{
  upf_gtpu_t g;
  (void)st;
  /* UDP port ext (0x40) -> unknown not-required (0x03) -> long PDCP (0x82) -> end */
  uint8_t p[] = { 0x34, 255,  0, 4 + 4 + 4 + 8, 0,    0,    0, 1,    0,    0,    0, 0x40, 1, 0x08,
                  0x68, 0x03, 1, 0xaa,          0xbb, 0x82, 2, 0x01, 0x23, 0x45, 0, 0,    0, 0 };
  assert_int_equal (upf_parse_gtpu (p, sizeof (p), &g), 0);
  assert_true (g.has_udp_port);
  assert_int_equal (g.udp_port, 0x0868);
  assert_int_equal (g.unknown_ext_skipped, 1);
  assert_true (g.has_long_pdcp);
  assert_int_equal (g.long_pdcp, 0x12345);
  assert_int_equal (g.n_ext, 3);
  assert_int_equal (g.header_len, sizeof (p));
  /* unknown comprehension-required type */
  uint8_t q[] = { 0x34, 255, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0xc3, 1, 0, 0, 0 };
  assert_int_equal (upf_parse_gtpu (q, sizeof (q), &g), UPF_MALFORMED_EXT_UNKNOWN_REQUIRED);
  /* zero-length extension */
  uint8_t z[] = { 0x34, 255, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0x40, 0, 0, 0, 0 };
  assert_int_equal (upf_parse_gtpu (z, sizeof (z), &g), UPF_MALFORMED_EXT_LENGTH);
  /* extension length runs past the GTP-U length */
  uint8_t l[] = { 0x34, 255, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0x40, 2, 0, 0, 0, 0, 0, 0, 0 };
  assert_int_equal (upf_parse_gtpu (l, sizeof (l), &g), UPF_MALFORMED_EXT_LENGTH);
  /* a chain longer than UPF_GTPU_MAX_EXT_HEADERS */
  uint8_t c[12 + 4 * 10];
  memset (c, 0, sizeof (c));
  c[0] = 0x34, c[1] = 255, c[3] = 4 + 40, c[11] = 0x01;
  for (int i = 0; i < 10; i++)
    c[12 + 4 * i] = 1, c[12 + 4 * i + 3] = 0x01;
  assert_int_equal (upf_parse_gtpu (c, sizeof (c), &g), UPF_MALFORMED_EXT_CHAIN_TOO_LONG);
}

static void
test_header_errors (void **st)
{
  upf_gtpu_t g;
  (void)st;
  uint8_t v2[8] = { 0x50, 255, 0, 0, 0, 0, 0, 1 };
  assert_int_equal (upf_parse_gtpu (v2, 8, &g), UPF_MALFORMED_GTPU_VERSION);
  uint8_t pt[8] = { 0x20, 255, 0, 0, 0, 0, 0, 1 };
  assert_int_equal (upf_parse_gtpu (pt, 8, &g), UPF_MALFORMED_GTPU_PT);
  uint8_t lie[8] = { 0x30, 255, 0, 9, 0, 0, 0, 1 };
  assert_int_equal (upf_parse_gtpu (lie, 8, &g), UPF_MALFORMED_GTPU_LENGTH);
  uint8_t s_short[12] = { 0x32, 255, 0, 2, 0, 0, 0, 1, 0, 1, 0, 0 };
  assert_int_equal (upf_parse_gtpu (s_short, 12, &g), UPF_MALFORMED_GTPU_LENGTH);
  uint8_t echo[12] = { 0x32, 1, 0, 4, 0, 0, 0, 0, 0x12, 0x34, 0, 0 };
  assert_int_equal (upf_parse_gtpu (echo, 12, &g), 0);
  assert_int_equal (g.type, UPF_GTPU_ECHO_REQUEST);
  assert_true (g.has_seq);
  assert_int_equal (g.seq, 0x1234);
}

/* Every truncation of a valid packet is malformed (never a crash, never a read past the end:
 * the buffer is copied into an exact-size heap block so ASan sees any overrun). */
static void
test_every_truncation (void **st)
{
  uint8_t in[128], pkt[256];
  (void)st;
  uint32_t il = mk_inner4 (in, IP4 (10, 0, 0, 1), IP4 (8, 8, 8, 8), UPF_PROTO_TCP, 1, 2, 0);
  uint32_t n = mk_gtpu4 (pkt, IP4 (10, 200, 0, 1), IP4 (10, 200, 0, 2), 7, 9, in, il);
  for (uint32_t len = 0; len < n; len++)
    {
      uint8_t *b = malloc (len ? len : 1);
      upf_outer_t o;
      memcpy (b, pkt, len);
      assert_int_not_equal (upf_parse_outer (b, len, &o), UPF_MALFORMED_NONE);
      free (b);
    }
  /* truncations of the GTP-U part alone */
  for (uint32_t len = 0; len < n - 28; len++)
    {
      uint8_t *b = malloc (len ? len : 1);
      upf_gtpu_t g;
      memcpy (b, pkt + 28, len);
      assert_int_not_equal (upf_parse_gtpu (b, len, &g), UPF_MALFORMED_NONE);
      free (b);
    }
  /* inner truncations */
  for (uint32_t len = 0; len < il; len++)
    {
      uint8_t *b = malloc (len ? len : 1);
      upf_inner_t x;
      memcpy (b, in, len);
      assert_int_not_equal (upf_parse_inner (b, len, &x), UPF_MALFORMED_NONE);
      free (b);
    }
}

static void
test_inner_v4 (void **st)
{
  uint8_t p[128];
  upf_inner_t in;
  (void)st;
  uint32_t n = mk_inner4 (p, IP4 (10, 0, 0, 1), IP4 (1, 2, 3, 4), UPF_PROTO_TCP, 40000, 443, 10);
  p[1] = 0xb8;
  assert_int_equal (upf_parse_inner (p, n + 6, &in), 0); /* trailing padding ignored */
  assert_int_equal (in.total_len, n);
  assert_int_equal (in.proto, UPF_PROTO_TCP);
  assert_true (in.has_ports);
  assert_int_equal (in.sport, 40000);
  assert_int_equal (in.dport, 443);
  assert_int_equal (in.tos, 0xb8);
  assert_true (upf_ip_is4 (&in.src));
  assert_memory_equal (in.dst.b + 12, "\x01\x02\x03\x04", 4);
  /* non-first fragment: no ports */
  upf_wr16 (p + 6, 0x0010);
  assert_int_equal (upf_parse_inner (p, n, &in), 0);
  assert_true (in.is_fragment);
  assert_false (in.is_first_fragment);
  assert_false (in.has_ports);
  /* first fragment (MF, offset 0): ports */
  upf_wr16 (p + 6, 0x2000);
  assert_int_equal (upf_parse_inner (p, n, &in), 0);
  assert_true (in.is_first_fragment);
  assert_true (in.has_ports);
  /* ESP SPI */
  n = mk_inner4 (p, IP4 (10, 0, 0, 1), IP4 (1, 2, 3, 4), UPF_PROTO_ESP, 0xdead, 0xbeef, 0);
  assert_int_equal (upf_parse_inner (p, n, &in), 0);
  assert_true (in.has_spi);
  assert_int_equal (in.spi, 0xdeadbeef);
  /* lying total length / bad IHL / version */
  upf_wr16 (p + 2, (uint16_t)(n + 1));
  assert_int_equal (upf_parse_inner (p, n, &in), UPF_MALFORMED_INNER_TOTAL_LENGTH);
  p[0] = 0x44;
  assert_int_equal (upf_parse_inner (p, n, &in), UPF_MALFORMED_INNER_HEADER_LENGTH);
  p[0] = 0x55;
  assert_int_equal (upf_parse_inner (p, n, &in), UPF_MALFORMED_INNER_VERSION);
}

static void
test_inner_v6 (void **st)
{
  uint8_t p[128];
  upf_inner_t in;
  (void)st;
  memset (p, 0, sizeof (p));
  p[0] = 0x6b; /* tc 0xb5, flow label 0x12345 */
  p[1] = 0x51;
  p[2] = 0x23;
  p[3] = 0x45;
  p[6] = 0; /* hop-by-hop */
  p[7] = 64;
  p[8] = 0x20, p[9] = 0x01, p[23] = 1;
  p[24] = 0x20, p[25] = 0x01, p[39] = 2;
  p[40] = 44;            /* HBH: next = fragment, len 0 (8 bytes) */
  p[48] = UPF_PROTO_UDP; /* fragment header, offset 0, M=1 */
  p[51] = 1;
  upf_wr16 (p + 56, 5000);
  upf_wr16 (p + 58, 53);
  upf_wr16 (p + 4, 8 + 8 + 8);
  assert_int_equal (upf_parse_inner (p, 64, &in), 0);
  assert_int_equal (in.ip_version, 6);
  assert_int_equal (in.tos, 0xb5);
  assert_int_equal (in.flow_label, 0x12345);
  assert_int_equal (in.proto, UPF_PROTO_UDP);
  assert_true (in.is_fragment && in.is_first_fragment && in.has_ports);
  assert_int_equal (in.sport, 5000);
  assert_int_equal (in.dport, 53);
  /* later fragment: no ports */
  upf_wr16 (p + 50, 0x0008);
  assert_int_equal (upf_parse_inner (p, 64, &in), 0);
  assert_false (in.has_ports);
  /* ext header length past the end */
  p[41] = 9;
  assert_int_equal (upf_parse_inner (p, 64, &in), UPF_MALFORMED_INNER_EXT_HEADERS);
  /* payload length larger than the buffer */
  upf_wr16 (p + 4, 100);
  assert_int_equal (upf_parse_inner (p, 64, &in), UPF_MALFORMED_INNER_TOTAL_LENGTH);
}

static void
test_outer_errors (void **st)
{
  uint8_t in[64], pkt[256];
  upf_outer_t o;
  (void)st;
  uint32_t il = mk_inner4 (in, 1, 2, UPF_PROTO_UDP, 1, 2, 0);
  uint32_t n = mk_gtpu4 (pkt, 1, 2, 7, -1, in, il);
  upf_wr16 (pkt + 24, (uint16_t)(n - 20 + 1));
  assert_int_equal (upf_parse_outer (pkt, n, &o), UPF_MALFORMED_UDP_LENGTH);
  upf_wr16 (pkt + 24, (uint16_t)(n - 20));
  upf_wr16 (pkt + 6, 0x2000);
  assert_int_equal (upf_parse_outer (pkt, n, &o), UPF_MALFORMED_IP_FRAGMENT);
  upf_wr16 (pkt + 6, 0);
  pkt[9] = 6;
  assert_int_equal (upf_parse_outer (pkt, n, &o), UPF_MALFORMED_NOT_UDP);
  assert_string_equal (upf_malformed_str (UPF_MALFORMED_NOT_UDP), "outer IP payload not UDP");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_gpdu_plain),       cmocka_unit_test (test_psc_ul_and_dl),
    cmocka_unit_test (test_ext_chain),        cmocka_unit_test (test_header_errors),
    cmocka_unit_test (test_every_truncation), cmocka_unit_test (test_inner_v4),
    cmocka_unit_test (test_inner_v6),         cmocka_unit_test (test_outer_errors),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
