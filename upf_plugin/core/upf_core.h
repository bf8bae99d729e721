/*
 * upf_core.h: the portable UPF rule engine (no VPP headers). Include this one header.
 *
 *   upf_types.h    addresses, malformed reasons
 *   upf_parse.h    GTP-U v1 + inner IP parsing (static inline)
 *   upf_build.h    GTP-U encapsulation, echo response, error indication, end marker
 *   upf_rules.h    PDR/FAR/QER/URR/BAR/SDF structures, compiled program, classifier
 *   upf_table.h    UL/DL lookup tables, single-writer / many-reader publish + epochs
 *   upf_pipeline.h per-packet UL/DL entry points, verdicts, events, counters
 */
#ifndef included_upf_core_h
#define included_upf_core_h

#include "upf_pipeline.h"

#endif /* included_upf_core_h */
