/* Shared by the core tests: cmocka, the library, the packet builders (upf_testpkt.h). */
#ifndef included_test_util_h
#define included_test_util_h

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <cmocka.h>
#include "upf_corelib.h"
#include "upf_testpkt.h"

#endif
