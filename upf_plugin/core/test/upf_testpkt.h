/*
 * upf_testpkt.h: packet builders for the core tests and bench/core_bench (IPv4 inner packets
 * and their GTP-U encapsulation).
 */
#ifndef included_upf_testpkt_h
#define included_upf_testpkt_h

#include "upf_core.h"

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))

/* xorshift64: reproducible pseudo-random numbers for tests and the benchmark. */
static inline uint32_t
upf_test_rand (uint64_t *state)
{
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return (uint32_t)*state;
}

/* Inner IPv4 packet with L4 header (TCP/UDP 20/8 bytes, ICMP 8, ESP 8) + payload zeros. */
static inline uint32_t
mk_inner4 (uint8_t *p, uint32_t src, uint32_t dst, uint8_t proto, uint16_t sport, uint16_t dport,
           uint32_t payload)
{
  uint32_t l4 = proto == UPF_PROTO_TCP ? 20 : 8, n = 20 + l4 + payload;
  memset (p, 0, n);
  p[0] = 0x45;
  upf_wr16 (p + 2, (uint16_t)n);
  p[8] = 64;
  p[9] = proto;
  upf_wr32 (p + 12, src);
  upf_wr32 (p + 16, dst);
  upf_wr16 (p + 10, upf_csum_fold (upf_csum_add (0, p, 20)));
  if (proto == UPF_PROTO_TCP || proto == UPF_PROTO_UDP)
    {
      upf_wr16 (p + 20, sport);
      upf_wr16 (p + 22, dport);
      if (proto == UPF_PROTO_UDP)
        upf_wr16 (p + 24, (uint16_t)(8 + payload));
      else
        p[32] = 0x50;
    }
  else if (proto == UPF_PROTO_ICMP)
    p[20] = 8;
  else if (proto == UPF_PROTO_ESP)
    upf_wr32 (p + 20, ((uint32_t)sport << 16) | dport);
  return n;
}

/* Outer IPv4/UDP/GTP-U G-PDU around inner; qfi >= 0 adds an UL PDU Session Container. */
static inline uint32_t
mk_gtpu4 (uint8_t *p, uint32_t src, uint32_t dst, uint32_t teid, int qfi, const uint8_t *inner,
          uint32_t inner_len)
{
  uint32_t gh = qfi >= 0 ? 16 : 8, n = 28 + gh + inner_len;
  uint8_t *g = p + 28;
  memset (p, 0, 28 + gh);
  p[0] = 0x45;
  upf_wr16 (p + 2, (uint16_t)n);
  p[8] = 64;
  p[9] = UPF_PROTO_UDP;
  upf_wr32 (p + 12, src);
  upf_wr32 (p + 16, dst);
  upf_wr16 (p + 20, 2152);
  upf_wr16 (p + 22, 2152);
  upf_wr16 (p + 24, (uint16_t)(n - 20));
  g[0] = 0x30;
  g[1] = 255;
  upf_wr16 (g + 2, (uint16_t)(gh - 8 + inner_len));
  upf_wr32 (g + 4, teid);
  if (qfi >= 0)
    {
      g[0] |= UPF_GTPU_E;
      g[11] = 0x85;
      g[12] = 1;
      g[13] = 0x10; /* UL PDU SESSION INFORMATION */
      g[14] = (uint8_t)qfi;
      g[15] = 0;
    }
  memcpy (p + 28 + gh, inner, inner_len);
  return n;
}

#endif /* included_upf_testpkt_h */
