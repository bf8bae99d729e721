/*
 * upf_mem.h: the core's writer-side allocator. Every allocation of the core goes through
 * these functions, so a test can make any one of them fail (upf_mem_fail_at) and check that
 * install / replace / delete stay all-or-nothing. The per-packet functions never allocate.
 */
#ifndef included_upf_mem_h
#define included_upf_mem_h

#include <stddef.h>

void *upf_malloc (size_t n);
void *upf_calloc (size_t n, size_t size);
/* n bytes (rounded up to whole cache lines), zeroed, starting on a 64-byte boundary, from
 * huge-page advised chunks (upf_mem.c): the objects the packet path reads (programs, their
 * states, table slot arrays). Freed with upf_free_lines and the same n. */
void *upf_calloc_lines (size_t n);
void upf_free_lines (void *p, size_t n);
/* Bytes mapped for upf_calloc_lines objects (chunks in use or kept for reuse), and the
 * bytes of the objects in use (0 under ASan, where malloc holds them). */
size_t upf_mem_mapped (void);
size_t upf_mem_in_use (void);
void upf_free (void *p);

/* Test hook: the allocation n allocations from now fails (0 = the next one), once; -1 = none.
 * Not thread-safe: for single-threaded tests of the writer side. */
void upf_mem_fail_at (long n);
/* 1 while a failure set by upf_mem_fail_at () has not happened yet. */
int upf_mem_fail_pending (void);

#endif /* included_upf_mem_h */
