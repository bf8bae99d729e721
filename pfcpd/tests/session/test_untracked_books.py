"""The URR books `UrrBook.created` makes are not tracked by the cyclic GC
(`_record.copy_untracked`): that holds only while a book's slots hold immutable values
that hold no other object, so that no reference cycle can go through a book. Checked here
after the usual life of a session's URR."""

from __future__ import annotations

from session_harness import Harness, cause

from pfcpd.pfcp import ies_scalar as S


def _immutable(value: object) -> bool:
    from pfcpd.session.usage import Counts

    if value is None or type(value) in (int, float, bool, str, bytes):
        return True
    if type(value) is tuple:
        return all(_immutable(v) for v in value)
    return type(value) is Counts and _immutable(value.values)


def test_the_untracked_books_hold_immutable_values_only(h: Harness) -> None:
    """What `_record.copy_untracked` relies on (the cyclic GC never sees a book that
    `UrrBook.created` made): after the usual life of a session's URR (traffic, reports,
    an Update URR, a periodic report), every slot of its book holds an immutable value that
    holds no other object (so no reference cycle can go through the book)."""
    import dataclasses
    import gc

    from session_harness import dl_far, dl_pdr, gtpu, qer, ul_far, ul_packet, ul_pdr, urr

    from pfcpd.pfcp import IEType as T
    from pfcpd.pfcp import ies_traffic as TR
    from pfcpd.session.usage import UrrBook

    rules = [ul_pdr(), dl_pdr(), ul_far(), dl_far(), qer(),
             urr(1, "PERIO", "VOLTH", MeasurementPeriod=S.MeasurementPeriod(10),
                 VolumeThreshold=TR.VolumeThreshold(total=500))]  # fmt: skip
    resp = h.establish(*rules)
    assert cause(resp) == 1
    from session_harness import created, up_seid

    seid = up_seid(resp)
    teid = created(resp)[1][T.F_TEID].teid  # type: ignore[attr-defined]
    (book,) = h.engine.sessions[seid].urrs.values()
    assert type(book) is UrrBook and not gc.is_tracked(book)
    for _ in range(5):
        h.dp.process_ul(gtpu(ul_packet("10.45.0.1", 200), teid))
    h.answer_all([m for m in h.advance(25.0) if m.msg_type == 56])
    from session_harness import g

    h.modify(seid, g(T.UPDATE_URR, S.URRID(1), TR.VolumeThreshold(total=10**8)))
    h.answer_all([m for m in h.advance(25.0) if m.msg_type == 56])
    for book in h.engine.sessions[seid].urrs.values():
        for f in dataclasses.fields(book):
            assert _immutable(getattr(book, f.name)), (f.name, getattr(book, f.name))
