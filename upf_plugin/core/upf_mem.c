/*
 * upf_mem.c: allocator of the core's writer side (see upf_mem.h).
 */
#include <stdlib.h>
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
