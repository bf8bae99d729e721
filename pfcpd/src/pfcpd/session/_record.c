/* _record: the binary journal record of a session of the usual shape, written in C
 * (session/record.py has the format; session.py's Session.record tries this first).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

/* Binary session records.
 *
 * RecordWriter(session_type, one_book_type, book_type, fixed, zero, no_time, no_drops).write(
 * session) -> the binary record (record.py, version 3) of a session of the usual shape, as
 * Session.record writes it in Python, byte for byte; None for any other session, or
 * whenever a value is not as the usual session has it (then Session.record's Python path
 * decides, and writes it: binary or JSON). So it answers only when the Python path would
 * write the same octets: every check here implies the Python one (some are narrower: an
 * identity where Python compares, a falsy value only of a type whose truth runs no Python
 * code).
 *
 * The types' fields are slots (member descriptors): their offsets are found once, and
 * write() reads them in place, for objects of exactly these types. ``fixed`` is
 * record.FIXED_OCTETS, read (never written) by (node, ipv4, ipv6, name); the last key's
 * objects and octets are held (one entry), as sessions share those objects. ``zero``,
 * ``no_time``, ``no_drops``: usage.ZERO, NO_TIME, NO_DROPS (UrrBook.as_established
 * compares the book's fields with them by identity; NO_DROPS here too).
 *
 * A usual session's record (Session.record) cost ~12,900 instructions in Python (the checks,
 * UrrBook.as_established, the fixed octets' key, struct packing, the join), ~1,900 with
 * this (callgrind). */

enum
{
  S_UE,
  S_TEIDS,
  S_ESTABLISHED,
  S_BAR,
  S_GROUP,
  S_CSIDS,
  S_UP_SEID,
  S_CP_SEID,
  S_NODE,
  S_IPV4,
  S_IPV6,
  S_RZ,
  S_URRS,
  S_N
};
static const char *session_fields[S_N] = {
  "ue_kept", "teids_kept", "established_ntp", "bar_duration_s", "group_id",   "fq_csids", "up_seid",
  "cp_seid", "cp_node_id", "cp_ipv4",         "cp_ipv6",        "rules_blob", "urrs",
};
enum
{
  O_URR_ID,
  O_BOOK,
  O_N
};
static const char *one_book_fields[O_N] = { "urr_id", "book" };
/* UrrBook.as_established's fields, and the UR-SEQN */
enum
{
  B_SEQN,
  B_DP_SEEN,
  B_BASELINE,
  B_CONSUMED,
  B_START,
  B_METERING,
  B_VALIDITY,
  B_EXPIRED,
  B_INACTIVE,
  B_HELD,
  B_METERED,
  B_OWN_TIME,
  B_QUOTA_OVER,
  B_DURATION,
  B_INACTIVITY,
  B_BEFORE_END,
  B_GRANTS,
  B_DROPPED_BASE,
  B_HELD_TIMES,
  B_SEEN_TIMES,
  B_N
};
static const char *book_fields[B_N] = {
  "seqn",         "dp_seen",      "baseline",        "consumed",   "period_start_ntp",
  "metering_ntp", "validity_ntp", "quota_expired",   "inactive",   "quota_held",
  "metered_s",    "own_time",     "time_quota_over", "duration",   "inactivity",
  "before_end",   "time_grants",  "dropped_base",    "held_times", "seen_times",
};

#define RECORD_VERSION 3
/* HEAD ("!BQQQdIHH"), the URR books' count ("!H") and one book ("!IQ") */
#define HEAD_SIZE (1 + 8 + 8 + 8 + 8 + 4 + 2 + 2)
#define BOOKS_SIZE (2 + 4 + 8)

typedef struct
{
  PyObject_HEAD PyTypeObject *session_type, *one_book_type, *book_type;
  PyObject *fixed, *zero, *no_time, *no_drops;
  Py_ssize_t s_off[S_N], o_off[O_N], b_off[B_N];
  PyObject *memo_key[4], *memo_octets; /* the last fixed octets found, and their key */
} writer_t;

/* The offsets of ``names``' slots in ``type`` (member descriptors of objects); -1 and an
 * exception if one is not. */
static int
slot_offsets (PyTypeObject *type, const char **names, int n, Py_ssize_t *out)
{
  for (int i = 0; i < n; i++)
    {
      PyObject *d = PyObject_GetAttrString ((PyObject *)type, names[i]);
      if (!d)
        return -1;
      int ok = Py_IS_TYPE (d, &PyMemberDescr_Type)
               && ((PyMemberDescrObject *)d)->d_common.d_type == type
               && ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX;
      if (ok)
        out[i] = ((PyMemberDescrObject *)d)->d_member->offset;
      Py_DECREF (d);
      if (!ok)
        {
          PyErr_Format (PyExc_TypeError, "RecordWriter: %.100s.%s is not a slot", type->tp_name,
                        names[i]);
          return -1;
        }
    }
  return 0;
}

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

/* Falsy, of a type whose truth runs no Python code: 1; else (truthy, or of another type) 0 */
static int
falsy (PyObject *v)
{
  if (v == Py_False || v == Py_None)
    return 1;
  if (PyLong_CheckExact (v) || PyFloat_CheckExact (v) || PyTuple_CheckExact (v))
    return PyObject_IsTrue (v) == 0;
  return 0;
}

/* An exact int from 0 to max: 0 and *out; else -1 (no exception left) */
static int
unsigned_of (PyObject *v, unsigned long long max, unsigned long long *out)
{
  if (!PyLong_CheckExact (v))
    return -1;
  unsigned long long x = PyLong_AsUnsignedLongLong (v);
  if (x == (unsigned long long)-1 && PyErr_Occurred ())
    {
      PyErr_Clear ();
      return -1;
    }
  if (x > max)
    return -1;
  *out = x;
  return 0;
}

static inline uint8_t *
put_be (uint8_t *p, unsigned long long x, int n)
{
  for (int i = n - 1; i >= 0; i--, x >>= 8)
    p[i] = (uint8_t)x;
  return p + n;
}

/* The URR book of a usual session: 1 and its URR ID and UR-SEQN when it is as established
 * at ``start`` (UrrBook.as_established); else 0. */
static int
book_as_established (writer_t *w, PyObject *books, PyObject *start, unsigned long long *urr_id,
                     unsigned long long *seqn)
{
  if (Py_TYPE (books) != w->one_book_type)
    return 0;
  PyObject *id = SLOT (books, w->o_off[O_URR_ID]), *book = SLOT (books, w->o_off[O_BOOK]);
  if (!id || !book || Py_TYPE (book) != w->book_type || unsigned_of (id, 0xFFFFFFFFu, urr_id) < 0)
    return 0;
  PyObject *b[B_N];
  for (int i = 0; i < B_N; i++)
    if (!(b[i] = SLOT (book, w->b_off[i])))
      return 0;
  PyObject *inactivity = b[B_INACTIVITY];
  return unsigned_of (b[B_SEQN], ~0ull, seqn) == 0 && b[B_DP_SEEN] == w->zero
         && b[B_BASELINE] == w->zero && b[B_CONSUMED] == w->zero && b[B_START] == start
         && b[B_METERING] == w->no_time && b[B_VALIDITY] == w->no_time && b[B_EXPIRED] == Py_False
         && b[B_INACTIVE] == Py_False && falsy (b[B_HELD]) && falsy (b[B_METERED])
         && falsy (b[B_OWN_TIME]) && falsy (b[B_QUOTA_OVER])
         && (falsy (b[B_DURATION])
             || (PyLong_CheckExact (inactivity) && PyObject_IsTrue (inactivity) == 0))
         && b[B_BEFORE_END] == w->no_time && falsy (b[B_GRANTS]) && b[B_DROPPED_BASE] == w->no_drops
         && b[B_HELD_TIMES] == Py_None && b[B_SEEN_TIMES] == Py_None;
}

/* The fixed octets of (node, ipv4, ipv6, name) in ``fixed`` (a new reference), NULL if not
 * there (no exception left). The key's items are held while it is looked up (comparing
 * keys could run Python code). */
static PyObject *
fixed_octets (writer_t *w, PyObject *key[4])
{
  if (w->memo_octets && key[0] == w->memo_key[0] && key[1] == w->memo_key[1]
      && key[2] == w->memo_key[2] && key[3] == w->memo_key[3])
    return Py_NewRef (w->memo_octets);
  PyObject *tuple = PyTuple_Pack (4, key[0], key[1], key[2], key[3]);
  if (!tuple)
    {
      PyErr_Clear ();
      return NULL;
    }
  PyObject *octets = PyDict_GetItemWithError (w->fixed, tuple);
  if (!octets || !PyBytes_CheckExact (octets) || PyBytes_GET_SIZE (octets) == 0)
    {
      Py_DECREF (tuple);
      PyErr_Clear ();
      return NULL;
    }
  Py_INCREF (octets);
  for (int i = 0; i < 4; i++)
    Py_XSETREF (w->memo_key[i], Py_NewRef (PyTuple_GET_ITEM (tuple, i)));
  Py_XSETREF (w->memo_octets, Py_NewRef (octets));
  Py_DECREF (tuple);
  return octets;
}

static PyObject *
writer_write (PyObject *self, PyObject *session)
{
  writer_t *w = (writer_t *)self;
  if (!w->session_type)
    {
      PyErr_SetString (PyExc_ValueError, "write(): RecordWriter not initialized");
      return NULL;
    }
  if (Py_TYPE (session) != w->session_type)
    Py_RETURN_NONE;
  PyObject *s[S_N];
  for (int i = 0; i < S_N; i++)
    if (!(s[i] = SLOT (session, w->s_off[i])))
      Py_RETURN_NONE;
  PyObject *ue = s[S_UE], *established = s[S_ESTABLISHED], *csids = s[S_CSIDS];
  unsigned long long up_seid, cp_seid, teid, urr_id, seqn;
  if (!PyTuple_CheckExact (ue) || PyTuple_GET_SIZE (ue) != 2 || !PyFloat_CheckExact (established)
      || s[S_BAR] != Py_None || s[S_GROUP] != Py_None || !PyTuple_CheckExact (csids)
      || PyTuple_GET_SIZE (csids) != 0 || unsigned_of (s[S_TEIDS], 0xFFFFFFFFu, &teid) < 0
      || unsigned_of (s[S_UP_SEID], ~0ull, &up_seid) < 0
      || unsigned_of (s[S_CP_SEID], ~0ull, &cp_seid) < 0)
    Py_RETURN_NONE;
  PyObject *name = PyTuple_GET_ITEM (ue, 0), *address = PyTuple_GET_ITEM (ue, 1);
  PyObject *node = s[S_NODE], *ipv4 = s[S_IPV4], *ipv6 = s[S_IPV6], *rz = s[S_RZ];
  if (!PyUnicode_CheckExact (name) || !PyUnicode_CheckExact (address)
      || !PyUnicode_CheckExact (node) || !(ipv4 == Py_None || PyUnicode_CheckExact (ipv4))
      || !(ipv6 == Py_None || PyUnicode_CheckExact (ipv6)) || !PyUnicode_IS_ASCII (address)
      || PyUnicode_GET_LENGTH (address) > 0xFFFF || !PyBytes_CheckExact (rz)
      || PyBytes_GET_SIZE (rz) > 0xFFFF
      || !book_as_established (w, s[S_URRS], established, &urr_id, &seqn))
    Py_RETURN_NONE;
  char start[8];
  if (PyFloat_Pack8 (PyFloat_AS_DOUBLE (established), start, 0) < 0)
    {
      PyErr_Clear ();
      Py_RETURN_NONE;
    }
  /* (the octets written below held: the lookup's key comparisons could run Python code) */
  PyObject *key[4] = { node, ipv4, ipv6, name };
  Py_INCREF (rz);
  Py_INCREF (address);
  PyObject *fixed = fixed_octets (w, key), *out = NULL;
  if (!fixed)
    {
      out = Py_NewRef (Py_None);
      goto done;
    }
  Py_ssize_t rz_len = PyBytes_GET_SIZE (rz), text_len = PyUnicode_GET_LENGTH (address);
  Py_ssize_t fixed_len = PyBytes_GET_SIZE (fixed);
  out = PyBytes_FromStringAndSize (NULL, HEAD_SIZE + rz_len + text_len + fixed_len + BOOKS_SIZE);
  if (!out)
    goto done;
  uint8_t *p = (uint8_t *)PyBytes_AS_STRING (out);
  *p++ = RECORD_VERSION;
  p = put_be (p, up_seid, 8);
  p = put_be (p, cp_seid, 8);
  p = put_be (p, cp_seid, 8); /* (the SEID of the CP's F-SEID: cp_seid) */
  memcpy (p, start, 8);
  p += 8;
  p = put_be (p, teid, 4);
  p = put_be (p, (unsigned long long)rz_len, 2);
  p = put_be (p, (unsigned long long)text_len, 2);
  memcpy (p, PyBytes_AS_STRING (rz), (size_t)rz_len);
  p += rz_len;
  memcpy (p, PyUnicode_DATA (address), (size_t)text_len);
  p += text_len;
  memcpy (p, PyBytes_AS_STRING (fixed), (size_t)fixed_len);
  p += fixed_len;
  p = put_be (p, 1, 2);
  p = put_be (p, urr_id, 4);
  put_be (p, seqn, 8);
done:
  Py_XDECREF (fixed);
  Py_DECREF (rz);
  Py_DECREF (address);
  return out;
}

static int
writer_init (PyObject *self, PyObject *args, PyObject *kwargs)
{
  writer_t *w = (writer_t *)self;
  static char *kwlist[] = { "session_type", "one_book_type", "book_type", "fixed",
                            "zero",         "no_time",       "no_drops",  NULL };
  PyTypeObject *session_type, *one_book_type, *book_type;
  PyObject *fixed, *zero, *no_time, *no_drops;
  if (!PyArg_ParseTupleAndKeywords (args, kwargs, "O!O!O!O!OOO:RecordWriter", kwlist, &PyType_Type,
                                    &session_type, &PyType_Type, &one_book_type, &PyType_Type,
                                    &book_type, &PyDict_Type, &fixed, &zero, &no_time, &no_drops))
    return -1;
  if (w->session_type)
    {
      PyErr_SetString (PyExc_TypeError, "RecordWriter: already initialized");
      return -1;
    }
  if (slot_offsets (session_type, session_fields, S_N, w->s_off) < 0
      || slot_offsets (one_book_type, one_book_fields, O_N, w->o_off) < 0
      || slot_offsets (book_type, book_fields, B_N, w->b_off) < 0)
    return -1;
  w->session_type = (PyTypeObject *)Py_NewRef (session_type);
  w->one_book_type = (PyTypeObject *)Py_NewRef (one_book_type);
  w->book_type = (PyTypeObject *)Py_NewRef (book_type);
  w->fixed = Py_NewRef (fixed);
  w->zero = Py_NewRef (zero);
  w->no_time = Py_NewRef (no_time);
  w->no_drops = Py_NewRef (no_drops);
  return 0;
}

static void
writer_dealloc (PyObject *self)
{
  writer_t *w = (writer_t *)self;
  Py_XDECREF (w->session_type);
  Py_XDECREF (w->one_book_type);
  Py_XDECREF (w->book_type);
  Py_XDECREF (w->fixed);
  Py_XDECREF (w->zero);
  Py_XDECREF (w->no_time);
  Py_XDECREF (w->no_drops);
  for (int i = 0; i < 4; i++)
    Py_XDECREF (w->memo_key[i]);
  Py_XDECREF (w->memo_octets);
  Py_TYPE (self)->tp_free (self);
}

static PyMethodDef writer_methods[] = {
  { "write", writer_write, METH_O,
    "write(session) -> its binary record (of the usual shape), else None" },
  { NULL, NULL, 0, NULL },
};

static PyTypeObject writer_type = {
  PyVarObject_HEAD_INIT (NULL, 0).tp_name = "pfcpd.session._record.RecordWriter",
  .tp_basicsize = sizeof (writer_t),
  .tp_flags = Py_TPFLAGS_DEFAULT,
  .tp_doc = "RecordWriter(session_type, one_book_type, book_type, fixed, zero, no_time, "
            "no_drops): the binary records of usual sessions",
  .tp_new = PyType_GenericNew,
  .tp_init = writer_init,
  .tp_dealloc = writer_dealloc,
  .tp_methods = writer_methods,
};

/* copy_slots(obj) -> a new object of obj's type whose slots hold obj's values (the same
 * objects, referenced again), made without calling the type: usage.UrrBook.created copies
 * its rule's book this way, ~5,000 instructions fewer than the constructor's call with its
 * 46 arguments (callgrind). The type: a class of slots alone (every member an object slot of
 * the class itself, on ``object``, no __dict__ or __weakref__ slot); else TypeError.
 *
 * A type found so (its members filling the object after its header, one each) is kept, a
 * reference held: the next copies of its objects check nothing and copy the slots in one
 * run, ~1,000 instructions fewer per establishment (its Session, OneBook and UrrBook:
 * callgrind). At most CHECKED_TYPES are kept; the others are checked member by member at
 * each copy. */
#define CHECKED_TYPES 8
static PyTypeObject *checked_types[CHECKED_TYPES];

/* The type's members fill the object after its header, each slot one member's */
static int
slots_fill_object (PyTypeObject *type)
{
  Py_ssize_t n = 0, first = (Py_ssize_t)sizeof (PyObject);
  for (PyMemberDef *m = type->tp_members; m->name; m++, n++)
    {
      if ((m->offset - first) % (Py_ssize_t)sizeof (PyObject *) != 0)
        return 0;
      for (PyMemberDef *o = type->tp_members; o != m; o++)
        if (o->offset == m->offset)
          return 0;
    }
  return first + n * (Py_ssize_t)sizeof (PyObject *) == type->tp_basicsize;
}

static PyObject *
copy_of (PyObject *obj)
{
  PyTypeObject *type = Py_TYPE (obj);
  for (int i = 0; i < CHECKED_TYPES && checked_types[i]; i++)
    if (checked_types[i] == type)
      {
        PyObject *copy = type->tp_alloc (type, 0);
        if (!copy)
          return NULL;
        PyObject **from = (PyObject **)((char *)obj + sizeof (PyObject));
        PyObject **to = (PyObject **)((char *)copy + sizeof (PyObject));
        Py_ssize_t n = (type->tp_basicsize - (Py_ssize_t)sizeof (PyObject)) / sizeof (PyObject *);
        for (Py_ssize_t j = 0; j < n; j++)
          to[j] = Py_XNewRef (from[j]);
        return copy;
      }
  if (!(type->tp_flags & Py_TPFLAGS_HEAPTYPE) || type->tp_base != &PyBaseObject_Type
      || type->tp_dictoffset != 0 || type->tp_weaklistoffset != 0 || type->tp_itemsize != 0
      || !type->tp_members)
    {
      PyErr_Format (PyExc_TypeError, "copy_slots: %.100s is not a class of slots alone",
                    type->tp_name);
      return NULL;
    }
  for (PyMemberDef *m = type->tp_members; m->name; m++)
    if (m->type != T_OBJECT_EX || (m->flags & READONLY) || m->offset < (Py_ssize_t)sizeof (PyObject)
        || m->offset + (Py_ssize_t)sizeof (PyObject *) > type->tp_basicsize)
      {
        PyErr_Format (PyExc_TypeError, "copy_slots: %.100s.%s is not an object slot", type->tp_name,
                      m->name);
        return NULL;
      }
  if (slots_fill_object (type))
    for (int i = 0; i < CHECKED_TYPES; i++)
      if (!checked_types[i])
        {
          checked_types[i] = (PyTypeObject *)Py_NewRef (type);
          break;
        }
  PyObject *copy = type->tp_alloc (type, 0); /* (zeroed, tracked, a reference to its type) */
  if (!copy)
    return NULL;
  for (PyMemberDef *m = type->tp_members; m->name; m++)
    SLOT (copy, m->offset) = Py_XNewRef (SLOT (obj, m->offset));
  return copy;
}

static PyObject *
copy_slots (PyObject *module, PyObject *obj)
{
  (void)module;
  return copy_of (obj);
}

/* copy_untracked(obj) -> copy_slots(obj), not tracked by the cyclic GC: for an object whose
 * slots only ever hold immutable values that hold no reference cycle (ints, floats, tuples,
 * a usage.UrrBook's), which no cycle can go through. usage.UrrBook.created's books: the GC
 * then never traverses their 47 slots (each young collection traversed each new book twice).
 */
static PyObject *
copy_untracked (PyObject *module, PyObject *obj)
{
  (void)module;
  if (!PyType_IS_GC (Py_TYPE (obj)))
    {
      /* (a class of object slots is a GC type: checked, so that untracking never meets
       * an object the collector has no header for) */
      PyErr_Format (PyExc_TypeError, "copy_untracked: %.100s is not a GC type",
                    Py_TYPE (obj)->tp_name);
      return NULL;
    }
  PyObject *copy = copy_of (obj);
  if (copy)
    PyObject_GC_UnTrack (copy);
  return copy;
}

static PyMethodDef record_functions[] = {
  { "copy_slots", copy_slots, METH_O,
    "copy_slots(obj) -> a new object of obj's type (a class of slots alone) holding its "
    "slots' values" },
  { "copy_untracked", copy_untracked, METH_O,
    "copy_untracked(obj) -> copy_slots(obj), not tracked by the cyclic GC (for an object "
    "whose slots hold only immutable, acyclic values)" },
  { NULL, NULL, 0, NULL },
};

static struct PyModuleDef record_module = {
  PyModuleDef_HEAD_INIT,
  .m_name = "_record",
  .m_doc = "The binary journal records of usual sessions (see session/record.py), and "
           "copies of objects of slots (copy_slots, copy_untracked).",
  .m_size = -1,
  .m_methods = record_functions,
};

PyMODINIT_FUNC
PyInit__record (void)
{
  if (PyType_Ready (&writer_type) < 0)
    return NULL;
  PyObject *module = PyModule_Create (&record_module);
  if (module && PyModule_AddObjectRef (module, "RecordWriter", (PyObject *)&writer_type) < 0)
    Py_CLEAR (module);
  return module;
}
