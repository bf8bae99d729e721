/*
 * upf_key_t.pdi_implied: a table entry is marked only when its key asks exactly what the
 * direction's one PDI asks (DL: a UE IP address only; UL: an F-TEID only), and packets
 * classify the same whether the PDI check is skipped that way or made: a DL PDI that also
 * asks a QFI (which DL packets never carry) still refuses them, two DL PDIs with different
 * prefixes still choose by address.
 */
#include "test_util.h"
#include "test_progs.h"

static const upf_entry_t *
dl_entry (upf_ctx_t *c, uint32_t ue)
{
  upf_ip_t a = upf_ip4 (ue);
  return upf_dl_find (&c->dl, 0, &a);
}

static const upf_entry_t *
ul_entry (upf_ctx_t *c, uint32_t teid)
{
  upf_ip_t a = upf_ip4 (N3_UPF);
  return upf_ul_find (&c->ul, &a, teid);
}

/* A context holding session 1 with program p. */
static upf_ctx_t *
ctx_with (prog_t *p)
{
  upf_ctx_t *c = upfcore_ctx_new (16);
  install_ok (c, 1, p);
  return c;
}

static void
dl_verdict (upf_ctx_t *c, uint32_t ue, upf_verdict_t *v)
{
  uint8_t pkt[256];
  uint32_t n = mk_inner4 (pkt, DN, ue, UPF_PROTO_UDP, 53, 4000, 40);
  upf_dl_process (c, &c->stats, 0, pkt, n, 1000, v);
}

static void
test_usual_shape (void **st)
{
  upf_ctx_t *c;
  prog_t p;
  upf_verdict_t v;
  (void)st;
  mk_prog (&p, 0x100, UE, 1, 1, 0, 0);
  c = ctx_with (&p);
  /* DL PDI: UE IP only -> implied; UL PDI: F-TEID and UE IP -> checked */
  assert_int_equal (dl_entry (c, UE)->key.pdi_implied, 1);
  assert_int_equal (ul_entry (c, 0x100)->key.pdi_implied, 0);
  dl_verdict (c, UE, &v);
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (v.pdr_id, 2);
  upfcore_ctx_delete (c);
}

static void
test_ul_fteid_only (void **st)
{
  upf_ctx_t *c;
  prog_t p;
  (void)st;
  mk_prog (&p, 0x100, UE, 1, 1, 0, 0);
  p.pdr[0].pdi_flags = UPF_PDI_FTEID;
  c = ctx_with (&p);
  assert_int_equal (ul_entry (c, 0x100)->key.pdi_implied, 1);
  upfcore_ctx_delete (c);
}

static void
test_dl_pdi_with_qfi_still_refuses (void **st)
{
  upf_ctx_t *c;
  prog_t p;
  upf_verdict_t v;
  (void)st;
  mk_prog (&p, 0x100, UE, 1, 1, 0, 0);
  p.pdr[1].pdi_flags = UPF_PDI_UE_IP | UPF_PDI_QFI;
  p.pdr[1].qfi = 5;
  c = ctx_with (&p);
  assert_int_equal (dl_entry (c, UE)->key.pdi_implied, 0);
  dl_verdict (c, UE, &v);
  assert_int_equal (v.verdict, UPF_VERDICT_DROP);
  assert_int_equal (v.drop_reason, UPF_DROP_NO_PDR);
  upfcore_ctx_delete (c);
}

static void
test_two_dl_pdis_choose_by_address (void **st)
{
  upf_ctx_t *c;
  prog_t p;
  upf_verdict_t v;
  (void)st;
  mk_prog (&p, 0x100, UE, 1, 1, 0, 0);
  /* PDR 3: the /120 around UE, lower precedence than PDR 2 (UE itself) */
  p.pdr[2] = p.pdr[1];
  p.pdr[2].pdr_id = 3;
  p.pdr[2].precedence = 200;
  p.pdr[2].ue_ip_plen = 120;
  p.d.n_pdr = 3;
  c = ctx_with (&p);
  assert_int_equal (dl_entry (c, UE)->key.pdi_implied, 0);
  dl_verdict (c, UE, &v);
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (v.pdr_id, 2);
  dl_verdict (c, UE + 1, &v); /* in the /120 only */
  assert_int_equal (v.verdict, UPF_VERDICT_FORWARD);
  assert_int_equal (v.pdr_id, 3);
  upfcore_ctx_delete (c);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_usual_shape),
    cmocka_unit_test (test_ul_fteid_only),
    cmocka_unit_test (test_dl_pdi_with_qfi_still_refuses),
    cmocka_unit_test (test_two_dl_pdis_choose_by_address),
  };
  return cmocka_run_group_tests (tests, 0, 0);
}
