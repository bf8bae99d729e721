/*
 * upf_types.h: basic types, constants and error reasons of the portable UPF core.
 *
 * Conventions:
 *  - Addresses are 16 bytes (upf_ip_t). IPv4 addresses are stored IPv4-mapped
 *    (::ffff:a.b.c.d), so one prefix length space (0..128) serves both families:
 *    an IPv4 /24 is a /120 here. upf_ip4 () builds one.
 *  - Times are caller-provided nanoseconds (any monotonic clock); the core never reads a clock.
 *  - No allocation, locking or I/O happens in the per-packet functions.
 */
#ifndef included_upf_types_h
#define included_upf_types_h

#include <stdint.h>
#include <stddef.h>
#include <string.h>

#define UPF_GTPU_PORT 2152

/* For the functions that only prefetch (and read): GCC finds such a function pure (a
 * prefetch is no side effect to it) and deletes a call to it that it has not inlined yet,
 * prefetches and all; inlined from the start, the prefetches stay (VPP's always_inline,
 * spelled __always_inline__: VPP defines always_inline as a macro). */
#define UPF_ALWAYS_INLINE inline __attribute__ ((__always_inline__))

typedef struct
{
  uint8_t b[16];
} upf_ip_t;

static inline upf_ip_t
upf_ip4 (uint32_t host_order_addr)
{
  upf_ip_t a;
  memset (a.b, 0, 10);
  a.b[10] = a.b[11] = 0xff;
  a.b[12] = host_order_addr >> 24;
  a.b[13] = host_order_addr >> 16;
  a.b[14] = host_order_addr >> 8;
  a.b[15] = host_order_addr;
  return a;
}

/* Two 8-byte stores, not a byte loop: the parsers build two of these per packet. */
static inline upf_ip_t
upf_ip4_from_bytes (const uint8_t *p)
{
  upf_ip_t a;
  uint64_t w0 = 0, w1;
  uint32_t x;
  memcpy (&x, p, 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  w1 = 0xffff0000ULL | ((uint64_t)x << 32);
#else
  w1 = 0x0000ffff00000000ULL | x;
#endif
  memcpy (a.b, &w0, 8);
  memcpy (a.b + 8, &w1, 8);
  return a;
}

static inline int
upf_ip_is4 (const upf_ip_t *a)
{
  static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
  return memcmp (a->b, pfx, 12) == 0;
}

static inline uint64_t
upf_plen_mask64 (unsigned plen, unsigned w)
{
  unsigned bits = plen > 64 * w ? plen - 64 * w : 0;
  if (bits >= 64)
    return ~0ULL;
  return bits ? ~0ULL << (64 - bits) : 0;
}

/* A host-order 64-bit value as it is laid out in memory in network order (and back). */
static inline uint64_t
upf_be64 (uint64_t x)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return __builtin_bswap64 (x);
#else
  return x;
#endif
}

/* Word w (0, 1) of the mask of a plen-bit prefix, in memory order: an address word loaded
 * with memcpy, ANDed with it, keeps the prefix. */
static inline uint64_t
upf_plen_mask_mem (unsigned plen, unsigned w)
{
  return upf_be64 (upf_plen_mask64 (plen, w));
}

/* Word w (0, 1) of an address as loaded from memory (memory order, for masked compares). */
static inline uint64_t
upf_ip_mword (const upf_ip_t *a, unsigned w)
{
  uint64_t x;
  memcpy (&x, a->b + 8 * w, 8);
  return x;
}

/* 1 if a and b agree on the first plen bits (plen in 0..128). Branch-light: two masked
 * 64-bit compares. */
static inline int
upf_ip_prefix_match (const upf_ip_t *a, const upf_ip_t *b, unsigned plen)
{
  uint64_t d0 = (upf_ip_mword (a, 0) ^ upf_ip_mword (b, 0)) & upf_plen_mask_mem (plen, 0);
  uint64_t d1 = (upf_ip_mword (a, 1) ^ upf_ip_mword (b, 1)) & upf_plen_mask_mem (plen, 1);
  return (d0 | d1) == 0;
}

static inline void
upf_ip_mask (upf_ip_t *a, unsigned plen)
{
  uint64_t w0, w1;
  memcpy (&w0, a->b, 8);
  memcpy (&w1, a->b + 8, 8);
  w0 &= upf_plen_mask_mem (plen, 0);
  w1 &= upf_plen_mask_mem (plen, 1);
  memcpy (a->b, &w0, 8);
  memcpy (a->b + 8, &w1, 8);
}

/* Retirement node (upf_table.h), embedded in every object the writer retires (table entries,
 * slot arrays, programs, sessions), so retiring never allocates and cannot fail. */
typedef struct upf_retired
{
  struct upf_retired *next;
  uint64_t epoch;
  unsigned (*fn) (struct upf_retired *); /* frees the object; returns the objects freed */
} upf_retired_t;

#define upf_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof (type, member)))

/* TS 29.244 8.2.2 Source Interface / 8.2.24 Destination Interface values. */
enum
{
  UPF_IF_ACCESS = 0,
  UPF_IF_CORE = 1,
  UPF_IF_SGI_LAN = 2,
  UPF_IF_CP_FUNCTION = 3,
  UPF_IF_5G_VN_INTERNAL = 4,
};

/* Why a packet was classified as malformed. Never read past the end of a buffer. */
#define foreach_upf_malformed                                                                      \
  _ (NONE, "ok")                                                                                   \
  _ (IP_TRUNCATED, "outer IP header truncated")                                                    \
  _ (IP_VERSION, "outer IP version not 4 or 6")                                                    \
  _ (IP_HEADER_LENGTH, "outer IPv4 header length invalid")                                         \
  _ (IP_TOTAL_LENGTH, "outer IP length exceeds packet or header")                                  \
  _ (IP_FRAGMENT, "outer IP fragment")                                                             \
  _ (NOT_UDP, "outer IP payload not UDP")                                                          \
  _ (UDP_TRUNCATED, "UDP header truncated")                                                        \
  _ (UDP_LENGTH, "UDP length invalid")                                                             \
  _ (NOT_GTPU_PORT, "UDP destination port not 2152")                                               \
  _ (GTPU_TRUNCATED, "GTP-U header truncated")                                                     \
  _ (GTPU_VERSION, "GTP version not 1")                                                            \
  _ (GTPU_PT, "GTP protocol type not GTP")                                                         \
  _ (GTPU_LENGTH, "GTP-U length exceeds packet or optional fields")                                \
  _ (EXT_LENGTH, "GTP-U extension header length zero or past the end")                             \
  _ (EXT_UNKNOWN_REQUIRED, "unknown comprehension-required extension header")                      \
  _ (EXT_CHAIN_TOO_LONG, "GTP-U extension header chain too long")                                  \
  _ (PDU_SESSION_CONTAINER, "PDU session container invalid")                                       \
  _ (GTPU_UNEXPECTED_TYPE, "GTP-U message type not expected here")                                 \
  _ (INNER_TRUNCATED, "inner IP header truncated")                                                 \
  _ (INNER_VERSION, "inner IP version not 4 or 6")                                                 \
  _ (INNER_HEADER_LENGTH, "inner IP header length invalid")                                        \
  _ (INNER_TOTAL_LENGTH, "inner IP length exceeds packet or header")                               \
  _ (INNER_EXT_HEADERS, "inner IPv6 extension headers invalid")                                    \
  _ (INNER_L4_TRUNCATED, "inner TCP/UDP/ICMP/ESP header truncated")

typedef enum
{
#define _(n, s) UPF_MALFORMED_##n,
  foreach_upf_malformed
#undef _
    UPF_MALFORMED_N_REASONS,
} upf_malformed_t;

const char *upf_malformed_str (unsigned reason);

#endif /* included_upf_types_h */
