/*
 * upf_build.h: GTP-U encapsulation (outer header creation) and GTP-U signalling messages
 * built by the user plane: echo response, error indication, end marker (TS 29.281).
 *
 * Encapsulation uses a template (upf_encap_t) precomputed once when a FAR is compiled; the
 * per-packet work is a copy plus length/QFI/checksum fix-ups (upf_encap_write).
 */
#ifndef included_upf_build_h
#define included_upf_build_h

#include "upf_parse.h"

/* IPv6 40 + UDP 8 + GTP-U 12 + PDU Session Container 4, or 8 with a PPI (+pad) */
#define UPF_ENCAP_MAX_LEN 72

/* A packet's Paging Policy Indicator (TS 38.415 5.5.2.1, set from its QER's, TS 29.244
 * 8.2.116): UPF_PPI_SET | PPI (0..7); 0 = none (PPP 0). */
#define UPF_PPI_SET 0x80

/* What an encapsulation template writes in front of the packet. */
enum
{
  UPF_ENCAP_GTPU = 0, /* IP + UDP 2152 + GTP-U (+ PDU Session Container) */
  UPF_ENCAP_UDP = 1,  /* IP + UDP to a port, the packet as UDP payload */
  UPF_ENCAP_IP = 2,   /* IP only (IP-in-IP: protocol 4 or 41 from the inner version) */
};

/* The PDU Session Container (TS 38.415 5.5.2) a GTP-U template carries. */
enum
{
  UPF_PSC_NONE = 0,
  UPF_PSC_DL = 1, /* DL PDU SESSION INFORMATION (PDU type 0): PPP | RQI | QFI [, PPI] */
  UPF_PSC_UL = 2, /* UL PDU SESSION INFORMATION (PDU type 1): QFI (no RQI) */
};

/* The container of a FAR's GTP-U outer header creation (psc: the FAR asks for one): UL
 * towards the core (an I-UPF's or UL CL's uplink to the PSA over N9), DL otherwise (N3 or N9
 * towards the access side). */
static inline int
upf_encap_psc (int psc, unsigned dest_interface)
{
  if (!psc)
    return UPF_PSC_NONE;
  return dest_interface == UPF_IF_CORE ? UPF_PSC_UL : UPF_PSC_DL;
}

/* Outer header creation template. */
/* What a packet reads of it, the fields and the first len bytes of hdr, is contiguous from
 * its start: 52 bytes for GTP-U over IPv4 with a PDU Session Container. hdr is 8-byte
 * aligned (at an odd offset the copy of it costs DL about 40 clocks per packet). */
typedef struct
{
  uint8_t len;         /* bytes written in front of the inner packet */
  uint8_t is_ip6;      /* outer IPv6 */
  uint8_t has_psc;     /* a PDU Session Container is added */
  uint8_t qfi_offset;  /* offset of the QFI octet when has_psc */
  uint8_t udp_offset;  /* UDP header offset (IP header length) */
  uint8_t gtpu_offset; /* GTP-U header offset */
  uint8_t kind;        /* UPF_ENCAP_* */
  uint8_t rqi_bit;     /* RQI in the QFI octet: 0x40 in a DL container, 0 in a UL one */
  uint8_t hdr[UPF_ENCAP_MAX_LEN];
} upf_encap_t;
_Static_assert(offsetof (upf_encap_t, hdr) == 8, "the header template is 8-byte aligned");

static inline uint32_t
upf_csum_add (uint32_t sum, const uint8_t *p, uint32_t len)
{
  uint32_t i;
  for (i = 0; i + 1 < len; i += 2)
    sum += (uint32_t)((p[i] << 8) | p[i + 1]);
  if (len & 1)
    sum += (uint32_t)(p[len - 1] << 8);
  return sum;
}

static inline uint16_t
upf_csum_fold (uint32_t sum)
{
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/*
 * Prepare a template of the given kind: outer IPv4 (both addresses IPv4-mapped) or IPv6,
 * then for GTPU: UDP 2152 -> 2152, GTP-U G-PDU with the peer's TEID; with_psc (UPF_PSC_*;
 * any other non-zero value is DL) adds a PDU Session Container (TS 38.415) whose QFI is set
 * per packet, and in a DL one the RQI. For UDP: UDP 2152 -> port.
 * For IP: nothing more. dscp < 64 sets the outer DSCP (transport level marking).
 * Returns 0, or -1 when the addresses are of different families.
 */
static inline int
upf_encap_init_kind (upf_encap_t *t, unsigned kind, const upf_ip_t *src, const upf_ip_t *dst,
                     uint32_t teid, uint16_t port, int with_psc, uint8_t dscp)
{
  uint8_t *h = t->hdr, *u, *g;
  uint8_t tos = dscp < 64 ? (uint8_t)(dscp << 2) : 0;
  memset (t, 0, sizeof (*t));
  if (upf_ip_is4 (src) != upf_ip_is4 (dst))
    return -1;
  t->kind = (uint8_t)kind;
  t->is_ip6 = !upf_ip_is4 (dst);
  if (!t->is_ip6)
    {
      h[0] = 0x45;
      h[1] = tos;
      h[6] = 0x40; /* DF */
      h[8] = 64;
      h[9] = UPF_PROTO_UDP;
      memcpy (h + 12, src->b + 12, 4);
      memcpy (h + 16, dst->b + 12, 4);
      t->udp_offset = 20;
    }
  else
    {
      h[0] = (uint8_t)(0x60 | (tos >> 4));
      h[1] = (uint8_t)(tos << 4);
      h[6] = UPF_PROTO_UDP;
      h[7] = 64;
      memcpy (h + 8, src->b, 16);
      memcpy (h + 24, dst->b, 16);
      t->udp_offset = 40;
    }
  if (kind == UPF_ENCAP_IP)
    {
      t->len = t->gtpu_offset = t->udp_offset;
      return 0;
    }
  u = h + t->udp_offset;
  upf_wr16 (u, UPF_GTPU_PORT);
  upf_wr16 (u + 2, kind == UPF_ENCAP_UDP ? port : UPF_GTPU_PORT);
  t->gtpu_offset = t->udp_offset + 8;
  t->len = t->gtpu_offset;
  if (kind == UPF_ENCAP_UDP)
    return 0;
  g = h + t->gtpu_offset;
  g[0] = UPF_GTPU_VER1 | UPF_GTPU_PT;
  g[1] = UPF_GTPU_G_PDU;
  upf_wr32 (g + 4, teid);
  t->len = t->gtpu_offset + 8;
  if (with_psc)
    {
      g[0] |= UPF_GTPU_E;
      g[11] = UPF_GTPU_EXT_PDU_SESSION_CONTAINER;
      g[12] = 1; /* length: 4 octets */
      if (with_psc == UPF_PSC_UL)
        g[13] = UPF_PDU_TYPE_UL << 4; /* UL PDU SESSION INFORMATION, QMP.. SNP 0 */
      else
        {
          g[13] = UPF_PDU_TYPE_DL << 4; /* DL PDU SESSION INFORMATION */
          t->rqi_bit = 0x40;
        }
      g[14] = 0; /* DL: PPP | RQI | QFI; UL: N3/N9 Delay Ind | spare | QFI */
      g[15] = UPF_GTPU_EXT_NONE;
      t->has_psc = 1;
      t->qfi_offset = t->gtpu_offset + 14;
      t->len = t->gtpu_offset + 16;
    }
  return 0;
}

/* GTP-U template (the FAR's outer header creation). */
static inline int
upf_encap_init (upf_encap_t *t, const upf_ip_t *src, const upf_ip_t *dst, uint32_t teid,
                int with_psc, uint8_t dscp)
{
  return upf_encap_init_kind (t, UPF_ENCAP_GTPU, src, dst, teid, 0, with_psc, dscp);
}

/*
 * The bytes upf_encap_write writes in front of a packet with the Paging Policy Indicator ppi
 * (UPF_PPI_SET | PPI, 0 = none): the template's, and 4 more for a DL PDU Session Container
 * carrying the PPI (TS 38.415 5.5.2.1: its octet 3, and 3 octets of padding to the 4-octet
 * unit of the extension header).
 */
static inline uint32_t
upf_encap_len (const upf_encap_t *t, uint8_t ppi)
{
  return t->len + (ppi && t->rqi_bit ? 4u : 0u);
}

/*
 * Write the outer headers for an inner packet of inner_len bytes into dst
 * (upf_encap_len (t, ppi) bytes; typically dst = inner - that in the buffer's headroom). qfi
 * (and rqi and ppi, in a DL one) go into the PDU Session Container when the template has one:
 * a ppi (UPF_PPI_SET | PPI) sets PPP and adds the PPI octet, the extension header then being
 * 8 octets long. inner is read for the IPv6 UDP checksum and, with UPF_ENCAP_IP, for its
 * version. Returns the number of bytes written.
 */
/* The template's len bytes to dst as 16-byte copies, the last one ending at len (headers are
 * 20 to 64 bytes): a variable-length memcpy becomes rep movs, tens of clocks per packet. */
static inline void
upf_encap_copy (uint8_t *dst, const upf_encap_t *t)
{
  uint32_t len = t->len, i;
  if (__builtin_expect (len < 16, 0))
    {
      memcpy (dst, t->hdr, len);
      return;
    }
  for (i = 0; i + 16 < len; i += 16)
    memcpy (dst + i, t->hdr + i, 16);
  memcpy (dst + len - 16, t->hdr + len - 16, 16);
}

static inline uint32_t
upf_encap_write (const upf_encap_t *t, uint8_t *dst, const uint8_t *inner, uint32_t inner_len,
                 uint8_t qfi, uint8_t rqi, uint8_t ppi)
{
  uint32_t len = upf_encap_len (t, ppi);
  uint32_t gtp_payload = len - t->gtpu_offset - 8u + inner_len;
  uint32_t udp_len = len - t->udp_offset + inner_len;
  uint8_t *u = dst + t->udp_offset;
  upf_encap_copy (dst, t);
  if (__builtin_expect (t->kind != UPF_ENCAP_GTPU, 0))
    {
      if (t->kind == UPF_ENCAP_IP)
        {
          uint8_t proto = inner_len && (inner[0] >> 4) == 6 ? 41 : 4;
          if (!t->is_ip6)
            {
              dst[9] = proto;
              upf_wr16 (dst + 2, (uint16_t)(t->len + inner_len));
              upf_wr16 (dst + 10, upf_csum_fold (upf_csum_add (0, dst, 20)));
            }
          else
            {
              dst[6] = proto;
              upf_wr16 (dst + 4, (uint16_t)inner_len);
            }
          return t->len;
        }
    }
  else
    upf_wr16 (dst + t->gtpu_offset + 2, (uint16_t)gtp_payload);
  upf_wr16 (u + 4, (uint16_t)udp_len);
  if (t->has_psc)
    dst[t->qfi_offset] = (uint8_t)((qfi & 0x3f) | (rqi ? t->rqi_bit : 0));
  if (__builtin_expect (len != t->len, 0))
    {
      /* the container is the template's last 4 octets: length 1 becomes 2, PPP is set and
       * the PPI octet, the padding and the Next Extension Header Type (none) follow */
      dst[t->qfi_offset - 2] = 2;
      dst[t->qfi_offset] |= 0x80;
      dst[t->qfi_offset + 1] = (uint8_t)((ppi & 7) << 5);
      memset (dst + t->len, 0, 4);
    }
  if (!t->is_ip6)
    {
      upf_wr16 (dst + 2, (uint16_t)(len + inner_len));
      upf_wr16 (dst + 10, upf_csum_fold (upf_csum_add (0, dst, 20)));
    }
  else
    {
      uint32_t sum;
      uint16_t c;
      upf_wr16 (dst + 4, (uint16_t)udp_len);
      sum = upf_csum_add (0, dst + 8, 32); /* pseudo header: addresses */
      sum += udp_len + UPF_PROTO_UDP;
      sum = upf_csum_add (sum, u, len - t->udp_offset);
      if ((len - t->udp_offset) & 1)
        return 0; /* cannot happen: headers are even-sized */
      sum = upf_csum_add (sum, inner, inner_len);
      c = upf_csum_fold (sum);
      upf_wr16 (u + 6, c ? c : 0xffff);
    }
  return len;
}

/*
 * Checksum field at csum after the 2n bytes at old were replaced by those at new (RFC 1624
 * incremental update, eq. 3). Call with old still holding the previous value.
 */
static inline uint16_t
upf_csum_update (uint16_t csum, const uint8_t *old, const uint8_t *new, uint32_t len)
{
  uint32_t sum = (uint16_t)~csum, i;
  for (i = 0; i + 1 < len; i += 2)
    sum += (uint16_t)~upf_rd16 (old + i) + (uint32_t)upf_rd16 (new + i);
  return upf_csum_fold (sum);
}

/*
 * Redirect (TS 29.244 5.4.7, Redirect Information with an IPv4/IPv6 server address): rewrite
 * the destination address of the IP packet pkt (len bytes) to `to` and fix the checksums the
 * address is part of: IPv4 header, TCP and UDP (pseudo header; an IPv4 UDP checksum of 0 stays
 * 0), ICMPv6 (pseudo header). A non-first fragment only gets its IP header fixed (its L4
 * checksum is in the first fragment, which gets the same rewrite). Returns 1 when rewritten,
 * 0 when the packet does not parse or its family differs from the address's.
 */
static inline int
upf_rewrite_dst (uint8_t *pkt, uint32_t len, const upf_ip_t *to)
{
  upf_inner_t in;
  uint8_t old[16];
  uint8_t *a, *c = 0;
  uint32_t alen, l4;
  if (upf_parse_inner (pkt, len, &in) != UPF_MALFORMED_NONE)
    return 0;
  if ((in.ip_version == 4) != upf_ip_is4 (to))
    return 0;
  alen = in.ip_version == 4 ? 4 : 16;
  a = pkt + (in.ip_version == 4 ? 16 : 24);
  l4 = in.l4_offset;
  memcpy (old, a, alen);
  memcpy (a, alen == 4 ? to->b + 12 : to->b, alen);
  if (alen == 4)
    upf_wr16 (pkt + 10, upf_csum_update (upf_rd16 (pkt + 10), old, a, 4));
  if (in.is_fragment && !in.is_first_fragment)
    return 1;
  if (in.proto == UPF_PROTO_TCP && l4 + 18 <= in.total_len)
    c = pkt + l4 + 16;
  else if (in.proto == UPF_PROTO_UDP && l4 + 8 <= in.total_len)
    c = pkt + l4 + 6;
  else if (in.proto == UPF_PROTO_ICMP6 && l4 + 4 <= in.total_len)
    c = pkt + l4 + 2;
  if (!c || (in.proto == UPF_PROTO_UDP && alen == 4 && upf_rd16 (c) == 0))
    return 1;
  {
    uint16_t n = upf_csum_update (upf_rd16 (c), old, a, alen);
    if (in.proto == UPF_PROTO_UDP && n == 0)
      n = 0xffff;
    upf_wr16 (c, n);
  }
  return 1;
}

/*
 * Write an outer IPv4/IPv6 + UDP header in front of a payload of payload_len bytes
 * (for echo responses and error indications). Returns header length (28 or 48) or 0 if the
 * address families differ.
 */
static inline uint32_t
upf_build_ip_udp (uint8_t *dst, const upf_ip_t *src_ip, const upf_ip_t *dst_ip, uint16_t sport,
                  uint16_t dport, const uint8_t *payload, uint32_t payload_len)
{
  upf_encap_t t;
  uint32_t hl;
  if (upf_encap_init (&t, src_ip, dst_ip, 0, 0, 0xff) < 0)
    return 0;
  hl = t.udp_offset + 8u;
  memcpy (dst, t.hdr, hl);
  upf_wr16 (dst + t.udp_offset, sport);
  upf_wr16 (dst + t.udp_offset + 2, dport);
  upf_wr16 (dst + t.udp_offset + 4, (uint16_t)(8 + payload_len));
  if (!t.is_ip6)
    {
      upf_wr16 (dst + 2, (uint16_t)(hl + payload_len));
      upf_wr16 (dst + 10, upf_csum_fold (upf_csum_add (0, dst, 20)));
    }
  else
    {
      uint32_t sum;
      uint16_t c;
      upf_wr16 (dst + 4, (uint16_t)(8 + payload_len));
      sum = upf_csum_add (0, dst + 8, 32) + 8 + payload_len + UPF_PROTO_UDP;
      sum = upf_csum_add (sum, dst + 40, 8);
      sum = upf_csum_add (sum, payload, payload_len);
      c = upf_csum_fold (sum);
      upf_wr16 (dst + 46, c ? c : 0xffff);
    }
  return hl;
}

/* GTP-U Echo Response to a parsed Echo Request: same sequence number, Recovery IE (value 0,
 * TS 29.281 8.2). Writes the GTP-U message into out (>= 14 bytes); returns its length. */
static inline uint32_t
upf_build_echo_response (const upf_gtpu_t *req, uint8_t *out)
{
  out[0] = UPF_GTPU_VER1 | UPF_GTPU_PT | UPF_GTPU_S;
  out[1] = UPF_GTPU_ECHO_RESPONSE;
  upf_wr16 (out + 2, 6);
  upf_wr32 (out + 4, 0);
  upf_wr16 (out + 8, req->seq);
  out[10] = 0;
  out[11] = 0;
  out[12] = 14; /* Recovery */
  out[13] = 0;
  return 14;
}

/* GTP-U Error Indication (TS 29.281 7.3.1) for a G-PDU received with an unknown TEID:
 * TEID Data I (IE 16) = that TEID, GTP-U Peer Address (IE 133) = our address the G-PDU was
 * sent to. Writes into out (>= 32 bytes); returns its length. */
static inline uint32_t
upf_build_error_indication (uint32_t teid, const upf_ip_t *local_addr, uint8_t *out)
{
  uint32_t alen = upf_ip_is4 (local_addr) ? 4 : 16, n;
  out[0] = UPF_GTPU_VER1 | UPF_GTPU_PT | UPF_GTPU_S;
  out[1] = UPF_GTPU_ERROR_INDICATION;
  upf_wr32 (out + 4, 0);
  upf_wr16 (out + 8, 0);
  out[10] = 0;
  out[11] = 0;
  out[12] = 16; /* TEID Data I */
  upf_wr32 (out + 13, teid);
  out[17] = 133; /* GTP-U Peer Address */
  upf_wr16 (out + 18, (uint16_t)alen);
  memcpy (out + 20, alen == 4 ? local_addr->b + 12 : local_addr->b, alen);
  n = 20 + alen;
  upf_wr16 (out + 2, (uint16_t)(n - 8));
  return n;
}

/* GTP-U End Marker (TS 29.281 7.3.2) towards a peer TEID; with_psc adds a DL PDU Session
 * Container carrying qfi. Writes into out (>= 16 bytes); returns its length. */
static inline uint32_t
upf_build_end_marker (uint32_t teid, int with_psc, uint8_t qfi, uint8_t *out)
{
  out[0] = UPF_GTPU_VER1 | UPF_GTPU_PT;
  out[1] = UPF_GTPU_END_MARKER;
  upf_wr32 (out + 4, teid);
  if (!with_psc)
    {
      upf_wr16 (out + 2, 0);
      return 8;
    }
  out[0] |= UPF_GTPU_E;
  upf_wr16 (out + 2, 8);
  out[8] = out[9] = out[10] = 0;
  out[11] = UPF_GTPU_EXT_PDU_SESSION_CONTAINER;
  out[12] = 1;
  out[13] = UPF_PDU_TYPE_DL << 4;
  out[14] = qfi & 0x3f;
  out[15] = 0;
  return 16;
}

/* Supported Extension Headers Notification (TS 29.281 7.2.2), the answer to a message carrying
 * an unknown comprehension-required extension header: Extension Header Type List (IE 141)
 * with the types this parser understands. Writes into out (>= 20 bytes); returns its length. */
static inline uint32_t
upf_build_supported_ext_hdr_notification (uint16_t seq, uint8_t *out)
{
  static const uint8_t types[]
    = { UPF_GTPU_EXT_UDP_PORT, UPF_GTPU_EXT_LONG_PDCP_PDU_NUMBER,
        UPF_GTPU_EXT_PDU_SESSION_CONTAINER, UPF_GTPU_EXT_PDCP_PDU_NUMBER };
  out[0] = UPF_GTPU_VER1 | UPF_GTPU_PT | UPF_GTPU_S;
  out[1] = UPF_GTPU_SUPPORTED_EXT_HDR_NOTIFICATION;
  upf_wr32 (out + 4, 0);
  upf_wr16 (out + 8, seq);
  out[10] = 0;
  out[11] = 0;
  out[12] = 141;
  out[13] = sizeof (types);
  memcpy (out + 14, types, sizeof (types));
  upf_wr16 (out + 2, (uint16_t)(14 + sizeof (types) - 8));
  return 14 + sizeof (types);
}

/* The GTP-U template's tunnel (peer address and TEID) is b's. */
static inline int
upf_encap_same_tunnel (const upf_encap_t *a, const upf_encap_t *b)
{
  uint32_t at = a->is_ip6 ? 24 : 16, alen = a->is_ip6 ? 16 : 4;
  return a->is_ip6 == b->is_ip6 && a->gtpu_offset == b->gtpu_offset
         && !memcmp (a->hdr + at, b->hdr + at, alen)
         && !memcmp (a->hdr + a->gtpu_offset + 4, b->hdr + b->gtpu_offset + 4, 4);
}

/* A GTP-U End Marker (TS 29.281 7.3.2) on a FAR's GTP-U template t: its outer IP/UDP and
 * GTP-U header with no T-PDU, message type 254, with the template's PDU Session Container
 * (if any) carrying qfi. Writes t->len bytes into dst; returns that length (0: t is not a
 * GTP-U template). */
static inline uint32_t
upf_encap_write_end_marker (const upf_encap_t *t, uint8_t *dst, uint8_t qfi)
{
  uint8_t *g = dst + t->gtpu_offset, old[2];
  if (t->kind != UPF_ENCAP_GTPU)
    return 0;
  upf_encap_write (t, dst, dst + t->len, 0, qfi, 0, 0);
  memcpy (old, g, 2);
  g[1] = UPF_GTPU_END_MARKER;
  if (t->is_ip6)
    {
      uint8_t *c = dst + t->udp_offset + 6;
      uint16_t n = upf_csum_update (upf_rd16 (c), old, g, 2);
      upf_wr16 (c, n ? n : 0xffff);
    }
  return t->len;
}

#endif /* included_upf_build_h */
