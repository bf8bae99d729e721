/*
 * upf_parse.h: GTP-U v1 (TS 29.281) and inner IP packet parsing.
 *
 * Every parser gets (pointer, length) and checks each length before reading: a truncated or
 * lying packet returns an upf_malformed_t reason and nothing past p + len is ever read.
 * All functions are static inline so VPP graph nodes can inline them in their loops.
 */
#ifndef included_upf_parse_h
#define included_upf_parse_h

#include "upf_types.h"

/* GTP-U message types (TS 29.281 6.1). */
enum
{
  UPF_GTPU_ECHO_REQUEST = 1,
  UPF_GTPU_ECHO_RESPONSE = 2,
  UPF_GTPU_ERROR_INDICATION = 26,
  UPF_GTPU_SUPPORTED_EXT_HDR_NOTIFICATION = 31,
  UPF_GTPU_END_MARKER = 254,
  UPF_GTPU_G_PDU = 255,
};

/* GTP-U flags octet. */
#define UPF_GTPU_VER_MASK 0xe0
#define UPF_GTPU_VER1 0x20
#define UPF_GTPU_PT 0x10
#define UPF_GTPU_E 0x04
#define UPF_GTPU_S 0x02
#define UPF_GTPU_PN 0x01

/* Extension header types (TS 29.281 5.2.1, TS 38.415). */
enum
{
  UPF_GTPU_EXT_NONE = 0x00,
  UPF_GTPU_EXT_UDP_PORT = 0x40,
  UPF_GTPU_EXT_LONG_PDCP_PDU_NUMBER = 0x82,
  UPF_GTPU_EXT_PDU_SESSION_CONTAINER = 0x85,
  UPF_GTPU_EXT_PDCP_PDU_NUMBER = 0xc0,
};

#define UPF_GTPU_MAX_EXT_HEADERS 8

/* PDU Session Container PDU types (TS 38.415 5.5.2). */
enum
{
  UPF_PDU_TYPE_DL = 0,
  UPF_PDU_TYPE_UL = 1,
};

/* Outer IP + UDP, as parsed by upf_parse_outer (). */
typedef struct
{
  upf_ip_t src, dst;
  uint8_t ip_version;
  uint8_t tos;
  uint16_t sport, dport;
  uint16_t l4_offset;      /* UDP header offset from the packet start */
  uint16_t payload_offset; /* UDP payload offset */
  uint16_t payload_len;    /* UDP payload length (trimmed to the UDP length) */
} upf_outer_t;

/* GTP-U header and extension headers, as parsed by upf_parse_gtpu (). */
typedef struct
{
  uint8_t flags;
  uint8_t type;
  uint16_t length; /* GTP-U length field: octets after the first 8 */
  uint32_t teid;
  uint16_t seq;
  uint8_t npdu;
  uint8_t has_seq : 1;
  uint8_t has_npdu : 1;
  uint8_t has_pdu_session_container : 1;
  uint8_t has_udp_port : 1;
  uint8_t has_long_pdcp : 1;
  uint8_t rqi : 1;
  uint8_t has_ppi : 1;
  uint8_t pdu_type; /* UPF_PDU_TYPE_* when has_pdu_session_container */
  uint8_t qfi;
  uint8_t ppi;
  uint8_t n_ext;
  uint8_t unknown_ext_skipped;
  uint16_t udp_port;    /* from the UDP Port extension header */
  uint32_t long_pdcp;   /* long PDCP PDU number (18 bits) */
  uint16_t header_len;  /* bytes from GTP-U start to the payload (T-PDU) */
  uint16_t payload_len; /* T-PDU length */
} upf_gtpu_t;

/* Protocol numbers used by the classifier. */
enum
{
  UPF_PROTO_ICMP = 1,
  UPF_PROTO_TCP = 6,
  UPF_PROTO_UDP = 17,
  UPF_PROTO_ESP = 50,
  UPF_PROTO_ICMP6 = 58,
};

/* Inner (UE) packet, as parsed by upf_parse_inner (). */
typedef struct
{
  upf_ip_t src, dst;
  uint8_t ip_version;
  uint8_t proto;         /* IPv4 protocol / IPv6 final next header */
  uint8_t tos;           /* ToS / traffic class */
  uint8_t has_ports : 1; /* TCP/UDP with ports available */
  uint8_t has_spi : 1;   /* ESP with SPI available */
  uint8_t is_fragment : 1;
  uint8_t is_first_fragment : 1;
  uint8_t icmp_type, icmp_code;
  uint16_t sport, dport;
  uint32_t spi;
  uint32_t flow_label;
  uint16_t l4_offset;
  uint16_t total_len; /* IP total length (may be shorter than the buffer: padding) */
} upf_inner_t;

static inline uint16_t
upf_rd16 (const uint8_t *p)
{
  return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
upf_rd32 (const uint8_t *p)
{
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void
upf_wr16 (uint8_t *p, uint16_t v)
{
  p[0] = v >> 8;
  p[1] = (uint8_t)v;
}

static inline void
upf_wr32 (uint8_t *p, uint32_t v)
{
  p[0] = v >> 24;
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/*
 * Parse outer IPv4/IPv6 + UDP. Outer fragments are not reassembled (reported IP_FRAGMENT).
 * IPv6 extension headers before UDP are not accepted on the transport (NOT_UDP).
 */
static inline upf_malformed_t
upf_parse_outer (const uint8_t *p, uint32_t len, upf_outer_t *o)
{
  uint32_t l4, ip_end;
  /* defined even when malformed (callers may read them after a failed parse) */
  o->payload_offset = 0;
  o->payload_len = 0;
  if (len < 1)
    return UPF_MALFORMED_IP_TRUNCATED;
  o->ip_version = p[0] >> 4;
  if (o->ip_version == 4)
    {
      uint32_t ihl = (p[0] & 0xf) * 4u, tot;
      if (len < 20)
        return UPF_MALFORMED_IP_TRUNCATED;
      if (ihl < 20 || ihl > len)
        return UPF_MALFORMED_IP_HEADER_LENGTH;
      tot = upf_rd16 (p + 2);
      if (tot > len || tot < ihl)
        return UPF_MALFORMED_IP_TOTAL_LENGTH;
      if (upf_rd16 (p + 6) & 0x3fff)
        return UPF_MALFORMED_IP_FRAGMENT;
      if (p[9] != UPF_PROTO_UDP)
        return UPF_MALFORMED_NOT_UDP;
      o->tos = p[1];
      o->src = upf_ip4_from_bytes (p + 12);
      o->dst = upf_ip4_from_bytes (p + 16);
      l4 = ihl;
      ip_end = tot;
    }
  else if (o->ip_version == 6)
    {
      uint32_t plen;
      if (len < 40)
        return UPF_MALFORMED_IP_TRUNCATED;
      plen = upf_rd16 (p + 4);
      if (plen + 40 > len || plen == 0)
        return UPF_MALFORMED_IP_TOTAL_LENGTH;
      if (p[6] != UPF_PROTO_UDP)
        return UPF_MALFORMED_NOT_UDP;
      o->tos = (uint8_t)(((p[0] & 0xf) << 4) | (p[1] >> 4));
      memcpy (o->src.b, p + 8, 16);
      memcpy (o->dst.b, p + 24, 16);
      l4 = 40;
      ip_end = 40 + plen;
    }
  else
    return UPF_MALFORMED_IP_VERSION;

  if (l4 + 8 > ip_end)
    return UPF_MALFORMED_UDP_TRUNCATED;
  {
    uint32_t ulen = upf_rd16 (p + l4 + 4);
    if (ulen < 8 || l4 + ulen > ip_end)
      return UPF_MALFORMED_UDP_LENGTH;
    o->sport = upf_rd16 (p + l4);
    o->dport = upf_rd16 (p + l4 + 2);
    o->l4_offset = (uint16_t)l4;
    o->payload_offset = (uint16_t)(l4 + 8);
    o->payload_len = (uint16_t)(ulen - 8);
  }
  return UPF_MALFORMED_NONE;
}

/*
 * Parse a GTP-U v1 header starting at p (the UDP payload), len = UDP payload length.
 * Walks the extension header chain: PDU Session Container (QFI, RQI, PPI), UDP Port,
 * Long PDCP PDU Number and PDCP PDU Number are decoded; unknown types whose two high bits
 * say "comprehension not required" (00, 01) are skipped; unknown "comprehension required"
 * types (10, 11) are reported as EXT_UNKNOWN_REQUIRED (the caller may answer with a
 * Supported Extension Headers Notification).
 */
static inline upf_malformed_t
upf_parse_gtpu (const uint8_t *p, uint32_t len, upf_gtpu_t *g)
{
  uint32_t end, off;
  uint8_t next;

  memset (g, 0, sizeof (*g));
  if (len < 8)
    return UPF_MALFORMED_GTPU_TRUNCATED;
  g->flags = p[0];
  if ((g->flags & UPF_GTPU_VER_MASK) != UPF_GTPU_VER1)
    return UPF_MALFORMED_GTPU_VERSION;
  if (!(g->flags & UPF_GTPU_PT))
    return UPF_MALFORMED_GTPU_PT;
  g->type = p[1];
  g->length = upf_rd16 (p + 2);
  g->teid = upf_rd32 (p + 4);
  end = 8u + g->length;
  if (end > len)
    return UPF_MALFORMED_GTPU_LENGTH;
  off = 8;
  if (!(g->flags & (UPF_GTPU_E | UPF_GTPU_S | UPF_GTPU_PN)))
    {
      g->header_len = 8;
      g->payload_len = g->length;
      return UPF_MALFORMED_NONE;
    }
  if (end < 12)
    return UPF_MALFORMED_GTPU_LENGTH;
  /* The usual N3 G-PDU: one UL PDU Session Container (4 octets) and nothing else; the same
   * result as the walk below, without it. */
  if (g->flags == (UPF_GTPU_VER1 | UPF_GTPU_PT | UPF_GTPU_E) && end >= 16
      && p[11] == UPF_GTPU_EXT_PDU_SESSION_CONTAINER && p[12] == 1
      && (p[13] >> 4) == UPF_PDU_TYPE_UL && p[15] == UPF_GTPU_EXT_NONE)
    {
      g->seq = upf_rd16 (p + 8);
      g->npdu = p[10];
      g->has_pdu_session_container = 1;
      g->pdu_type = UPF_PDU_TYPE_UL;
      g->qfi = p[14] & 0x3f;
      g->n_ext = 1;
      g->header_len = 16;
      g->payload_len = (uint16_t)(end - 16);
      return UPF_MALFORMED_NONE;
    }
  g->seq = upf_rd16 (p + 8);
  g->npdu = p[10];
  g->has_seq = !!(g->flags & UPF_GTPU_S);
  g->has_npdu = !!(g->flags & UPF_GTPU_PN);
  next = (g->flags & UPF_GTPU_E) ? p[11] : 0;
  off = 12;
  while (next != UPF_GTPU_EXT_NONE)
    {
      uint32_t elen;
      const uint8_t *e;
      if (g->n_ext >= UPF_GTPU_MAX_EXT_HEADERS)
        return UPF_MALFORMED_EXT_CHAIN_TOO_LONG;
      if (off + 1 > end)
        return UPF_MALFORMED_EXT_LENGTH;
      elen = p[off] * 4u;
      if (elen == 0 || off + elen > end)
        return UPF_MALFORMED_EXT_LENGTH;
      e = p + off + 1; /* content: elen - 2 octets */
      switch (next)
        {
        case UPF_GTPU_EXT_PDU_SESSION_CONTAINER:
          {
            uint8_t pdu_type = e[0] >> 4;
            if (pdu_type > UPF_PDU_TYPE_UL)
              return UPF_MALFORMED_PDU_SESSION_CONTAINER;
            g->has_pdu_session_container = 1;
            g->pdu_type = pdu_type;
            g->qfi = e[1] & 0x3f;
            if (pdu_type == UPF_PDU_TYPE_DL)
              {
                g->rqi = !!(e[1] & 0x40);
                if (e[1] & 0x80) /* PPP: PPI follows */
                  {
                    if (elen - 2 < 3)
                      return UPF_MALFORMED_PDU_SESSION_CONTAINER;
                    g->has_ppi = 1;
                    g->ppi = e[2] >> 5;
                  }
              }
            break;
          }
        case UPF_GTPU_EXT_UDP_PORT:
          g->has_udp_port = 1;
          g->udp_port = upf_rd16 (e);
          break;
        case UPF_GTPU_EXT_LONG_PDCP_PDU_NUMBER:
          if (elen < 8)
            return UPF_MALFORMED_EXT_LENGTH;
          g->has_long_pdcp = 1;
          g->long_pdcp = ((uint32_t)(e[0] & 0x03) << 16) | upf_rd16 (e + 1);
          break;
        case UPF_GTPU_EXT_PDCP_PDU_NUMBER:
          break;
        default:
          if (next & 0x80)
            return UPF_MALFORMED_EXT_UNKNOWN_REQUIRED;
          g->unknown_ext_skipped++;
          break;
        }
      g->n_ext++;
      next = p[off + elen - 1];
      off += elen;
    }
  g->header_len = (uint16_t)off;
  g->payload_len = (uint16_t)(end - off);
  return UPF_MALFORMED_NONE;
}

static inline unsigned
upf_ipv6_is_ext_header (uint8_t nh)
{
  return nh == 0 || nh == 43 || nh == 44 || nh == 60 || nh == 51;
}

static inline upf_malformed_t
upf_parse_l4 (const uint8_t *p, uint32_t off, uint32_t end, upf_inner_t *in)
{
  in->l4_offset = (uint16_t)off;
  /* the usual packet first: TCP or UDP, not a fragment (the same result as below) */
  if (__builtin_expect (
        !in->is_fragment && (in->proto == UPF_PROTO_TCP || in->proto == UPF_PROTO_UDP), 1))
    {
      if (off + (in->proto == UPF_PROTO_TCP ? 20u : 8u) > end)
        return UPF_MALFORMED_INNER_L4_TRUNCATED;
      in->has_ports = 1;
      in->sport = upf_rd16 (p + off);
      in->dport = upf_rd16 (p + off + 2);
      return UPF_MALFORMED_NONE;
    }
  if (in->is_fragment && !in->is_first_fragment)
    return UPF_MALFORMED_NONE; /* non-first fragment: no L4 header */
  switch (in->proto)
    {
    case UPF_PROTO_TCP:
    case UPF_PROTO_UDP:
      if (off + (in->proto == UPF_PROTO_TCP ? 20u : 8u) > end)
        {
          if (in->is_fragment && off + 4 <= end)
            break; /* tiny first fragment: ports only */
          return UPF_MALFORMED_INNER_L4_TRUNCATED;
        }
      break;
    case UPF_PROTO_ESP:
      if (off + 8 > end)
        return UPF_MALFORMED_INNER_L4_TRUNCATED;
      in->has_spi = 1;
      in->spi = upf_rd32 (p + off);
      return UPF_MALFORMED_NONE;
    case UPF_PROTO_ICMP:
    case UPF_PROTO_ICMP6:
      if (off + 4 > end)
        return UPF_MALFORMED_INNER_L4_TRUNCATED;
      in->icmp_type = p[off];
      in->icmp_code = p[off + 1];
      return UPF_MALFORMED_NONE;
    default:
      return UPF_MALFORMED_NONE;
    }
  in->has_ports = 1;
  in->sport = upf_rd16 (p + off);
  in->dport = upf_rd16 (p + off + 2);
  return UPF_MALFORMED_NONE;
}

/*
 * Parse the inner (UE) IPv4/IPv6 packet: addresses, protocol, ToS/traffic class, flow label,
 * ports (TCP/UDP), SPI (ESP), ICMP type/code. Fragments: is_fragment is set; a non-first
 * fragment has no ports (has_ports = 0) so port-matching filters cannot match it.
 * IPv6 extension headers (hop-by-hop, routing, destination options, fragment, AH) are walked.
 */
static inline upf_malformed_t
upf_parse_inner (const uint8_t *p, uint32_t len, upf_inner_t *in)
{
  uint32_t off, end;

  memset (in, 0, sizeof (*in));
  if (len < 1)
    return UPF_MALFORMED_INNER_TRUNCATED;
  in->ip_version = p[0] >> 4;
  if (in->ip_version == 4)
    {
      uint32_t ihl = (p[0] & 0xf) * 4u, frag;
      if (len < 20)
        return UPF_MALFORMED_INNER_TRUNCATED;
      if (ihl < 20 || ihl > len)
        return UPF_MALFORMED_INNER_HEADER_LENGTH;
      end = upf_rd16 (p + 2);
      if (end > len || end < ihl)
        return UPF_MALFORMED_INNER_TOTAL_LENGTH;
      in->tos = p[1];
      in->proto = p[9];
      frag = upf_rd16 (p + 6);
      if (frag & 0x3fff)
        {
          in->is_fragment = 1;
          in->is_first_fragment = (frag & 0x1fff) == 0;
        }
      in->src = upf_ip4_from_bytes (p + 12);
      in->dst = upf_ip4_from_bytes (p + 16);
      off = ihl;
    }
  else if (in->ip_version == 6)
    {
      uint8_t nh;
      unsigned n;
      if (len < 40)
        return UPF_MALFORMED_INNER_TRUNCATED;
      end = 40u + upf_rd16 (p + 4);
      if (end > len)
        return UPF_MALFORMED_INNER_TOTAL_LENGTH;
      in->tos = (uint8_t)(((p[0] & 0xf) << 4) | (p[1] >> 4));
      in->flow_label = ((uint32_t)(p[1] & 0xf) << 16) | upf_rd16 (p + 2);
      memcpy (in->src.b, p + 8, 16);
      memcpy (in->dst.b, p + 24, 16);
      nh = p[6];
      off = 40;
      for (n = 0; upf_ipv6_is_ext_header (nh); n++)
        {
          uint32_t hl;
          if (n >= 8 || off + 8 > end)
            return UPF_MALFORMED_INNER_EXT_HEADERS;
          if (nh == 44)
            {
              uint16_t fo = upf_rd16 (p + off + 2);
              in->is_fragment = 1;
              in->is_first_fragment = (fo & 0xfff8) == 0;
              hl = 8;
            }
          else if (nh == 51)
            hl = (p[off + 1] + 2u) * 4u;
          else
            hl = (p[off + 1] + 1u) * 8u;
          if (off + hl > end)
            return UPF_MALFORMED_INNER_EXT_HEADERS;
          nh = p[off];
          off += hl;
        }
      in->proto = nh;
    }
  else
    return UPF_MALFORMED_INNER_VERSION;
  in->total_len = (uint16_t)end;
  return upf_parse_l4 (p, off, end, in);
}

#endif /* included_upf_parse_h */
