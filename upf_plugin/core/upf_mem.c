/*
 * upf_mem.c: allocator of the core's writer side (see upf_mem.h).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "upf_mem.h"

static long upf_mem_countdown = -1;

static int
upf_mem_should_fail (void)
{
  if (upf_mem_countdown < 0)
    return 0;
  return upf_mem_countdown-- == 0;
}

void *
upf_malloc (size_t n)
{
  return upf_mem_should_fail () ? 0 : malloc (n);
}

void *
upf_calloc (size_t n, size_t size)
{
  return upf_mem_should_fail () ? 0 : calloc (n, size);
}

/*
 * Cache-line objects. Objects up to UPF_SLAB_MAX_LINES lines come from 2 MiB chunks, one
 * free list per size in lines, so a session's program and states are dense (no allocator
 * header between them, no alignment padding) and their pages can be huge pages (the chunks
 * are advised for transparent huge pages: a packet's lookups then cost no page walk each).
 * Larger objects (table slot arrays) are mapped on their own, huge-page advised from 2 MiB.
 * Chunks are kept for reuse, never unmapped. Under AddressSanitizer every object is its own
 * aligned allocation, so use after free stays detectable.
 */
#define UPF_SLAB_CHUNK (2u << 20)
#define UPF_SLAB_MAX_LINES 32

#if defined(__SANITIZE_ADDRESS__)
#define UPF_MEM_SLAB 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UPF_MEM_SLAB 0
#endif
#endif
#ifndef UPF_MEM_SLAB
#define UPF_MEM_SLAB 1
#endif

typedef struct upf_slab_free
{
  struct upf_slab_free *next;
} upf_slab_free_t;

static struct
{
  pthread_mutex_t lock;
  upf_slab_free_t *free[UPF_SLAB_MAX_LINES + 1]; /* by size in lines */
  uint8_t *cur, *end;                            /* unused part of the newest chunk */
  size_t mapped;                                 /* bytes of chunks and mapped objects */
  size_t in_use;                                 /* bytes of the objects handed out */
} upf_slab = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t
lines_of (size_t n)
{
  return n ? (n + 63) / 64 : 1;
}

/* sz bytes (a multiple of 2 MiB, or any size below), 2 MiB aligned from 2 MiB on. */
static void *
map_region (size_t sz)
{
  size_t align = sz >= UPF_SLAB_CHUNK ? UPF_SLAB_CHUNK : 4096, span = sz + align - 4096;
  uint8_t *p = mmap (0, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *a;
  if (p == MAP_FAILED)
    return 0;
  a = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
  if (a > p)
    munmap (p, (size_t)(a - p));
  if (a + sz < p + span)
    munmap (a + sz, (size_t)(p + span - (a + sz)));
#ifdef MADV_HUGEPAGE
  if (sz >= UPF_SLAB_CHUNK)
    madvise (a, sz, MADV_HUGEPAGE);
#endif
  return a;
}

static size_t
map_size (size_t lines)
{
  size_t sz = lines * 64;
  if (sz >= UPF_SLAB_CHUNK)
    return (sz + UPF_SLAB_CHUNK - 1) & ~(size_t)(UPF_SLAB_CHUNK - 1);
  return (sz + 4095) & ~(size_t)4095;
}

void *
upf_calloc_lines (size_t n)
{
  size_t lines = lines_of (n);
  void *p = 0;
  if (upf_mem_should_fail ())
    return 0;
  if (!UPF_MEM_SLAB)
    {
      if ((p = aligned_alloc (64, lines * 64)))
        memset (p, 0, lines * 64);
      return p;
    }
  if (lines > UPF_SLAB_MAX_LINES)
    {
      if ((p = map_region (map_size (lines)))) /* zeroed by the kernel */
        {
          pthread_mutex_lock (&upf_slab.lock);
          upf_slab.mapped += map_size (lines);
          upf_slab.in_use += map_size (lines);
          pthread_mutex_unlock (&upf_slab.lock);
        }
      return p;
    }
  pthread_mutex_lock (&upf_slab.lock);
  if (upf_slab.free[lines])
    {
      p = upf_slab.free[lines];
      upf_slab.free[lines] = upf_slab.free[lines]->next;
    }
  else
    {
      if (!upf_slab.cur || upf_slab.cur + lines * 64 > upf_slab.end)
        {
          uint8_t *c = map_region (UPF_SLAB_CHUNK);
          if (c)
            {
              upf_slab.cur = c;
              upf_slab.end = c + UPF_SLAB_CHUNK;
              upf_slab.mapped += UPF_SLAB_CHUNK;
            }
        }
      if (upf_slab.cur && upf_slab.cur + lines * 64 <= upf_slab.end)
        {
          p = upf_slab.cur;
          upf_slab.cur += lines * 64;
        }
    }
  if (p)
    upf_slab.in_use += lines * 64;
  pthread_mutex_unlock (&upf_slab.lock);
  if (p)
    memset (p, 0, lines * 64);
  return p;
}

void
upf_free_lines (void *p, size_t n)
{
  size_t lines = lines_of (n);
  if (!p)
    return;
  if (!UPF_MEM_SLAB)
    {
      free (p);
      return;
    }
  if (lines > UPF_SLAB_MAX_LINES)
    {
      munmap (p, map_size (lines));
      pthread_mutex_lock (&upf_slab.lock);
      upf_slab.mapped -= map_size (lines);
      upf_slab.in_use -= map_size (lines);
      pthread_mutex_unlock (&upf_slab.lock);
      return;
    }
  pthread_mutex_lock (&upf_slab.lock);
  upf_slab.in_use -= lines * 64;
  ((upf_slab_free_t *)p)->next = upf_slab.free[lines];
  upf_slab.free[lines] = p;
  pthread_mutex_unlock (&upf_slab.lock);
}

size_t
upf_mem_mapped (void)
{
  size_t n;
  pthread_mutex_lock (&upf_slab.lock);
  n = upf_slab.mapped;
  pthread_mutex_unlock (&upf_slab.lock);
  return n;
}

size_t
upf_mem_in_use (void)
{
  size_t n;
  pthread_mutex_lock (&upf_slab.lock);
  n = upf_slab.in_use;
  pthread_mutex_unlock (&upf_slab.lock);
  return n;
}

void
upf_free (void *p)
{
  free (p);
}

void
upf_mem_fail_at (long n)
{
  upf_mem_countdown = n;
}

int
upf_mem_fail_pending (void)
{
  return upf_mem_countdown >= 0;
}
