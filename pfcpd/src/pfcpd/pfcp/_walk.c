/*
 * _walk.c: the IE walk of pfcpd's PFCP codec (pfcpd/pfcp/codec.py), in C.
 *
 * Decoding a Session Establishment Request visits ~50 IEs; in Python the loop around them
 * (TLV header, bounds, table lookups, cache lookups) cost more than the IE decoders
 * themselves. This module does that loop. The values are decoded by the IE classes' own
 * Python decoders (but for the usual forms of four per-session address IEs, decoded here
 * into the same objects: see decode_shortcut); every table (decoders, grouped IEs and their
 * mandatory and allowed children), every error message and every record of an ignored IE is
 * made in Python, handed over by codec.py through setup(), which compiles the tables into
 * bitmaps (codec.reload_tables() calls it again after a table changed). The decode cache
 * (IEs by their octets, bounded by bytes) is a table of its own here: see cache_get.
 *
 * walk(data, start, end, msg_type, ignored) -> list of the IEs of data[start:end]
 *   msg_type: the message whose tables of mandatory and expected IEs apply (-1: none);
 *   ignored:  list to which the IEs set aside are reported (see codec.py).
 * TS 29.244 clause 7.6 as applied here:
 *   7.6.9  an IE of a known type that is not expected where it is (not in the message's or
 *          group's table) is discarded without being interpreted (no value decoding, no
 *          mandatory children) and reported; an IE of a type this release does not know is
 *          kept as it arrived (RawIE: preserved, re-encoded byte for byte, never acted on);
 *   7.6.8  a mandatory IE with an incorrect value fails the message (cause 69, or 68 when
 *          the value is too short for its IE type); an optional one (incorrect or too short)
 *          is left out of the decoded IEs (treated as not present) and reported;
 *   7.6.7  an IE overrunning its container fails the message (68);
 *   7.6.6  a missing mandatory IE fails it (66).
 * setup_shortcuts({ie_type: (class, field names)}) -> the IE types the walk decodes itself
 *   (their usual forms; see decode_shortcut).
 * decode_ies(data, start, end, ignored=None): codec.decode_ies, walk() with no message's
 *   tables, in one call.
 *
 * encode_ies(ies) -> the TLV octets of the IEs: the encoder's loop (see codec.py), each leaf's
 *   value still its Python encode(); setup_encoder() hands over the encoding cache and the
 *   maker of its errors.
 * far_shape(raw), establishment_key(ies, leaves): shapes.far_shape and the loop of
 *   shapes.establishment_key (session/shapes.py), one Session Establishment Request's IEs
 *   walked in Python cost ~5% of its establishment.
 * ielist_get / ielist_get_all: IEList.get and IEList.get_all (ie.py), as instance methods
 *   (their reads of ``ies`` and ``type``: see attr_fast).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h> /* T_OBJECT_EX: the slots of Grouped, read and set in place */
#include <stdint.h>
#include <string.h>

#define MAX_GROUP_DEPTH 8
#define TABLE_TYPES 1024 /* every IE type in the tables is below this */
#define MESSAGE_TYPES 256

/* kinds of error(); codec.py turns them into CodecError with the right cause */
enum
{
  ERR_TRAILING = 1,
  ERR_OVERFLOW = 2,
  ERR_VENDOR_SHORT = 3,
  ERR_TOO_DEEP = 4,
  ERR_MISSING = 5,
  ERR_VALUE = 6,
  ERR_SHORT = 7,
};

typedef struct
{
  uint8_t bits[TABLE_TYPES / 8];
} typeset_t;

static int
typeset_has (const typeset_t *set, unsigned ie_type)
{
  return ie_type < TABLE_TYPES && (set->bits[ie_type >> 3] >> (ie_type & 7) & 1);
}

static void
typeset_add (typeset_t *set, unsigned ie_type)
{
  set->bits[ie_type >> 3] |= (uint8_t)(1u << (ie_type & 7));
}

/* What a message or a grouped IE must and may carry. The mandatory types are also listed
 * in ascending order (mand), so that the walk tracks which it saw in one bit each (bit i:
 * mand[i]) instead of in a set of every type. */
#define MAX_MANDATORY 64
typedef struct
{
  typeset_t mandatory;
  typeset_t allowed;
  int any; /* no table of expected IEs: any IE is expected */
  int n_mand;
  uint64_t all_mand; /* the bits of every mandatory type */
  uint16_t mand[MAX_MANDATORY];
} spec_t;

/* The bit of a mandatory type of spec (0: not mandatory there). */
static uint64_t
mandatory_bit (const spec_t *spec, unsigned ie_type)
{
  if (!typeset_has (&spec->mandatory, ie_type))
    return 0;
  for (int i = 0; i < spec->n_mand; i++)
    if (spec->mand[i] == ie_type)
      return (uint64_t)1 << i;
  return 0;
}

typedef struct
{
  PyObject *decoders;          /* dict: IE type -> decode(value octets) */
  Py_ssize_t cache_max_bytes;  /* bound of cache_bytes: the cache is emptied beyond it */
  Py_ssize_t cache_bytes;      /* what the entries cost, as cache_cost() counts it */
  PyObject *grouped;           /* Grouped(type, ies) */
  PyObject *raw;               /* RawIE(type, data) */
  PyObject *vendor;            /* VendorIE(type, enterprise_id, data) */
  PyObject *short_errors;      /* exception types of a decoder meaning "value too short" */
  PyObject *value_errors;      /* ... meaning "incorrect value" */
  PyObject *codec_error;       /* CodecError */
  PyObject *error;             /* error(kind, ie_type, detail, exc, mandatory) -> CodecError */
  PyObject *in_group;          /* in_group(codec_error, ie_type): prepend the group to its path */
  PyObject *ignore;            /* ignore(ignored, path, ie_type, octets, exc_or_None, within) */
  typeset_t known;             /* IE types of this release (others are kept raw anywhere) */
  typeset_t cacheable;         /* leaf IE types whose decoded values may be shared */
  spec_t *groups[TABLE_TYPES]; /* NULL: not a grouped IE type */
  spec_t *messages[MESSAGE_TYPES]; /* NULL: no tables for that message type */
  PyObject *str_type, *str_ies, *str_raw;
  PyObject *minus_one; /* -1: walk()'s msg_type of no message */
  /* Offsets of the slots type, ies and raw in a Grouped (a slots dataclass), when they are
   * plain object slots: a group is then made and copied by setting and reading them in
   * place, as their member descriptors do, without the generic attribute machinery (0:
   * unknown, through PyObject_SetAttr/GetAttr). */
  Py_ssize_t off_type, off_ies, off_raw;
  /* the type numbers as objects: the same object every time also makes the dict lookups
   * by type compare by identity */
  PyObject *type_objs[TABLE_TYPES];
} walk_config_t;

static walk_config_t cfg;

/* One walk() call: the message octets, where the IEs set aside go, the enclosing groups. */
typedef struct
{
  const uint8_t *data;
  PyObject *ignored;
  PyObject *within; /* borrowed: the list the IEs being walked go into (a group's ies) */
  int depth;
  PyObject *path[MAX_GROUP_DEPTH]; /* borrowed type numbers of the enclosing groups */
} walk_t;

/* The IE being decoded: its TLV is data[start:end], its value data[start + 4:end]. */
typedef struct
{
  Py_ssize_t start, end;
  unsigned type;
  PyObject *type_obj;
} tlv_t;

static const char *
value_of (const walk_t *w, const tlv_t *ie)
{
  return (const char *)w->data + ie->start + 4;
}

static Py_ssize_t
value_len (const tlv_t *ie)
{
  return ie->end - ie->start - 4;
}

static int
is_mandatory (const spec_t *spec, unsigned ie_type)
{
  return spec && typeset_has (&spec->mandatory, ie_type);
}

/* Raise the CodecError that codec.py's error() builds; always returns -1. */
static int
raise_error (int kind, unsigned ie_type, Py_ssize_t detail, PyObject *exc, int mandatory)
{
  PyObject *err = PyObject_CallFunction (cfg.error, "iInOi", kind, ie_type, detail,
                                         exc ? exc : Py_None, mandatory);
  if (err)
    {
      PyErr_SetObject ((PyObject *)Py_TYPE (err), err);
      Py_DECREF (err);
    }
  return -1;
}

static PyObject *
fetch_exception (void)
{
#if PY_VERSION_HEX >= 0x030C0000
  return PyErr_GetRaisedException ();
#else
  PyObject *type, *value, *tb;
  PyErr_Fetch (&type, &value, &tb);
  PyErr_NormalizeException (&type, &value, &tb);
  if (tb)
    PyException_SetTraceback (value, tb);
  Py_XDECREF (type);
  Py_XDECREF (tb);
  return value;
#endif
}

static void
restore_exception (PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
  PyErr_SetRaisedException (exc);
#else
  PyErr_Restore (Py_NewRef ((PyObject *)Py_TYPE (exc)), exc, PyException_GetTraceback (exc));
#endif
}

/* Report an IE set aside: exc is the decoder's exception, NULL for an unexpected IE. */
static int
report_ignored (const walk_t *w, const tlv_t *ie, PyObject *exc)
{
  PyObject *path = PyTuple_New (w->depth), *r;
  if (!path)
    return -1;
  for (int i = 0; i < w->depth; i++)
    PyTuple_SET_ITEM (path, i, Py_NewRef (w->path[i]));
  r = PyObject_CallFunction (cfg.ignore, "OOOy#OO", w->ignored, path, ie->type_obj,
                             value_of (w, ie), value_len (ie), exc ? exc : Py_None,
                             w->within ? w->within : Py_None);
  Py_DECREF (path);
  Py_XDECREF (r);
  return r ? 0 : -1;
}

/* A decoder failed. Returns -1 with the CodecError (or, for a decoder bug, its own exception:
 * decode() reports it as an internal error) set, or 0 when an incorrect optional IE was
 * reported as ignored. */
static int
decoder_failed (const walk_t *w, const tlv_t *ie, const spec_t *spec)
{
  int is_short = PyErr_ExceptionMatches (cfg.short_errors);
  if (!is_short && !PyErr_ExceptionMatches (cfg.value_errors))
    return -1;
  PyObject *exc = fetch_exception ();
  int rc;
  if (is_mandatory (spec, ie->type))
    rc = raise_error (is_short ? ERR_SHORT : ERR_VALUE, ie->type, 0, exc, 1);
  else
    rc = report_ignored (w, ie, exc);
  Py_DECREF (exc);
  return rc;
}

/* What an entry costs, in bytes: the key's octets, a decoded value that may hold as much
 * again (a text IE) or a template group's list slots (8 bytes per child TLV of 4 octets or
 * more: at most twice the octets), the fixed cost of the key object, the value's object and
 * the table's slots (24 bytes each, at most four per entry), and for a template, each of
 * its Grouped objects with its list (an empty nested group is 4 octets on the wire) and
 * each nested group's own octets (`raw`: the template's own are the key). An upper
 * estimate: the byte bound then bounds memory. */
#define CACHE_ENTRY_OVERHEAD 256
#define CACHE_GROUP_COST 128
#define CACHE_RAW_OVERHEAD 48 /* a bytes object's header */

static Py_ssize_t
cache_cost (PyObject *tlv, Py_ssize_t extra)
{
  return 3 * PyBytes_GET_SIZE (tlv) + CACHE_ENTRY_OVERHEAD + extra;
}

/* What the Grouped objects of a template cost beyond its key, itself included (depth
 * bounded by MAX_GROUP_DEPTH); nested: a group inside the template (its octets count). */
static Py_ssize_t
groups_cost (PyObject *group, int nested)
{
  Py_ssize_t n = CACHE_GROUP_COST;
  PyObject *ies = PyObject_GetAttr (group, cfg.str_ies);
  if (nested)
    {
      PyObject *raw = PyObject_GetAttr (group, cfg.str_raw);
      if (raw && PyBytes_Check (raw))
        n += CACHE_RAW_OVERHEAD + PyBytes_GET_SIZE (raw);
      Py_XDECREF (raw);
    }
  if (!ies)
    {
      PyErr_Clear ();
      return n;
    }
  if (PyList_Check (ies))
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE (ies); i++)
      {
        PyObject *child = PyList_GET_ITEM (ies, i);
        if (Py_TYPE (child) == (PyTypeObject *)cfg.grouped)
          n += groups_cost (child, 1);
      }
  Py_DECREF (ies);
  PyErr_Clear ();
  return n;
}

/* The decode cache: TLV octets -> a shared leaf IE or a template group. An open-addressing
 * table keyed by a 64-bit hash of the octets computed here from the datagram's buffer (a
 * hit makes no bytes object and runs no SipHash), each entry holding its octets (a bytes
 * object, compared in full to confirm a hash match) and its IE. The hash is seeded from
 * Python's hash secret (random per process unless PYTHONHASHSEED fixes it). Whatever the
 * hash, a lookup probes at most CACHE_PROBES slots from the octets' home slot. An insert
 * that finds none of them free doubles the table (by chance, a cluster), unless doubled it
 * would have more than CACHE_MAX_SPREAD slots per entry: then it replaces the entry at the
 * home slot. Octets that collide, by chance or made to, cost a bounded amount of work and
 * at worst stay uncached or push out the entry at their home slot. Entries are never removed one by
 * one but by replacement, so a lookup stops at the first free slot. The table also doubles when
 * half full; the byte bound (cache_bytes) bounds it. */
#define CACHE_PROBES 16
#define CACHE_MIN_SLOTS 256
#define CACHE_MAX_SPREAD 4

typedef struct
{
  uint32_t hash;
  uint32_t cost; /* what cache_cost() charged for it (cache_put keeps none beyond 32 bits) */
  PyObject *key; /* bytes: the TLV octets (NULL: a free slot) */
  PyObject *value;
} cache_entry_t;

static struct
{
  cache_entry_t *slots; /* NULL: no entry yet */
  size_t mask;          /* number of slots - 1 (a power of two) */
  size_t used;
  uint64_t seed[2];
  uint32_t hash_mask; /* the bits of the hash kept (tests keep fewer: cache_hash_bits) */
} ctab = { .hash_mask = UINT32_MAX };

static uint64_t
mix (uint64_t a, uint64_t b)
{
  __uint128_t r = (__uint128_t)a * b;
  return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t
load64 (const uint8_t *p)
{
  uint64_t v;
  memcpy (&v, p, 8);
  return v;
}

static uint64_t
load32 (const uint8_t *p)
{
  uint32_t v;
  memcpy (&v, p, 4);
  return v;
}

/* The cache's hash of the octets p[0:n]: 16 octets per 64x64->128-bit multiply, the length
 * and the seed mixed in; its low 32 bits are kept. */
static uint32_t
hash_octets (const uint8_t *p, size_t n)
{
  uint64_t h = ctab.seed[0] ^ (uint64_t)n * 0x9E3779B97F4A7C15ull, a, b;
  size_t left = n;
  while (left > 16)
    {
      h = mix (load64 (p) ^ ctab.seed[1], load64 (p + 8) ^ h);
      p += 16;
      left -= 16;
    }
  if (left >= 8) /* (the two words overlap below 16 octets) */
    {
      a = load64 (p);
      b = load64 (p + left - 8);
    }
  else if (left >= 4)
    {
      a = load32 (p);
      b = load32 (p + left - 4);
    }
  else if (left > 0)
    {
      a = (uint64_t)p[0] << 16 | (uint64_t)p[left >> 1] << 8 | p[left - 1];
      b = 0;
    }
  else
    a = b = 0;
  return (uint32_t)mix (ctab.seed[1] ^ (uint64_t)n, mix (a ^ ctab.seed[1], b ^ h)) & ctab.hash_mask;
}

/* The cached IE of the octets p[0:n] whose hash_octets is h (borrowed), or NULL. */
static PyObject *
cache_get (uint32_t h, const uint8_t *p, Py_ssize_t n)
{
  if (!ctab.slots)
    return NULL;
  for (size_t k = 0; k < CACHE_PROBES; k++)
    {
      const cache_entry_t *e = &ctab.slots[(h + k) & ctab.mask];
      if (!e->key)
        return NULL;
      if (e->hash == h && PyBytes_GET_SIZE (e->key) == n
          && memcmp (PyBytes_AS_STRING (e->key), p, (size_t)n) == 0)
        return e->value;
    }
  return NULL;
}

/* Release the entries of slots[0:n] (the table no longer holds them) and the array. */
static void
release_entries (cache_entry_t *slots, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (slots[i].key)
      {
        Py_DECREF (slots[i].key);
        Py_DECREF (slots[i].value);
      }
  PyMem_Free (slots);
}

static void v4_texts_clear (void);

/* Empty the cache (and the table of IPv4 texts: see v4_text). */
static void
cache_clear (void)
{
  cache_entry_t *slots = ctab.slots;
  size_t n = slots ? ctab.mask + 1 : 0;
  ctab.slots = NULL; /* (empty before anything is released) */
  ctab.mask = 0;
  ctab.used = 0;
  cfg.cache_bytes = 0;
  if (slots)
    release_entries (slots, n);
  v4_texts_clear ();
}

/* The slot for an entry of hash h and octets tlv: the entry of equal octets, else the first
 * free slot of its probes, else NULL. */
static cache_entry_t *
cache_slot (uint32_t h, PyObject *tlv)
{
  cache_entry_t *free_slot = NULL;
  for (size_t k = 0; k < CACHE_PROBES; k++)
    {
      cache_entry_t *e = &ctab.slots[(h + k) & ctab.mask];
      if (!e->key)
        {
          free_slot = e;
          break;
        }
      if (e->hash == h && PyBytes_GET_SIZE (e->key) == PyBytes_GET_SIZE (tlv)
          && memcmp (PyBytes_AS_STRING (e->key), PyBytes_AS_STRING (tlv),
                     (size_t)PyBytes_GET_SIZE (tlv))
               == 0)
        return e;
    }
  return free_slot;
}

/* Twice the slots (CACHE_MIN_SLOTS at first), the entries moved over; one that finds no
 * slot within its probes there is dropped. */
static int
cache_grow (void)
{
  size_t old_n = ctab.slots ? ctab.mask + 1 : 0, n = old_n ? 2 * old_n : CACHE_MIN_SLOTS;
  cache_entry_t *old = ctab.slots, *slots = PyMem_Calloc (n, sizeof (cache_entry_t));
  if (!slots)
    {
      PyErr_NoMemory ();
      return -1;
    }
  ctab.slots = slots;
  ctab.mask = n - 1;
  ctab.used = 0;
  for (size_t i = 0; i < old_n; i++)
    {
      if (!old[i].key)
        continue;
      cache_entry_t *e = cache_slot (old[i].hash, old[i].key);
      if (!e)
        continue; /* (left in old: released below) */
      *e = old[i];
      old[i].key = NULL;
      ctab.used++;
    }
  for (size_t i = 0; i < old_n; i++)
    if (old[i].key)
      cfg.cache_bytes -= old[i].cost;
  if (old)
    release_entries (old, old_n);
  return 0;
}

/* Cache ie under the octets tlv (hash h); extra: what its Grouped objects cost
 * (`groups_cost`, 0 for a leaf). */
static int
cache_put (uint32_t h, PyObject *tlv, PyObject *ie, Py_ssize_t extra)
{
  Py_ssize_t cost = cache_cost (tlv, extra);
  if (cost > cfg.cache_max_bytes || cost > (Py_ssize_t)UINT32_MAX)
    return 0; /* never cached: it alone exceeds the bound */
  if (cfg.cache_bytes + cost > cfg.cache_max_bytes)
    cache_clear ();
  if ((!ctab.slots || 2 * (ctab.used + 1) > ctab.mask + 1) && cache_grow () < 0)
    return -1;
  cache_entry_t *e = cache_slot (h, tlv);
  while (!e && 2 * (ctab.mask + 1) <= CACHE_MAX_SPREAD * (ctab.used + 1))
    {
      if (cache_grow () < 0)
        return -1;
      e = cache_slot (h, tlv);
    }
  if (!e)
    e = &ctab.slots[h & ctab.mask];
  PyObject *old_key = e->key, *old_value = e->value;
  if (old_key)
    {
      cfg.cache_bytes -= e->cost;
      ctab.used--;
    }
  e->hash = h;
  e->key = Py_NewRef (tlv);
  e->value = Py_NewRef (ie);
  e->cost = (uint32_t)cost;
  ctab.used++;
  cfg.cache_bytes += cost;
  Py_XDECREF (old_key); /* (released once the table holds the new entry) */
  Py_XDECREF (old_value);
  return 0;
}

/* Grouped(type_obj, children, raw), without the call through the dataclass __init__ (which
 * cost more than the rest of a group's decoding): Grouped is a slots class whose __init__
 * only stores these three fields. raw: the group's TLV octets, or None. */
static PyObject **
slot_at (PyObject *obj, Py_ssize_t offset)
{
  return (PyObject **)((char *)obj + offset);
}

/* The offset of the writable object slot ``name`` of ``type`` (0: not one). */
static Py_ssize_t
object_slot_offset (PyObject *type, PyObject *name)
{
  PyObject *d = PyObject_GetAttr (type, name);
  Py_ssize_t off = 0;
  if (!d)
    PyErr_Clear ();
  else if (Py_IS_TYPE (d, &PyMemberDescr_Type))
    {
      PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
      if (m->type == T_OBJECT_EX && !(m->flags & READONLY)
          && ((PyMemberDescrObject *)d)->d_common.d_type == (PyTypeObject *)type)
        off = m->offset;
    }
  Py_XDECREF (d);
  return off;
}

static PyObject *
new_group (PyObject *type_obj, PyObject *children, PyObject *raw)
{
  PyTypeObject *tp = (PyTypeObject *)cfg.grouped;
  PyObject *group = tp->tp_alloc (tp, 0);
  if (group && cfg.off_type)
    {
      /* (tp_alloc zeroed the slots) */
      *slot_at (group, cfg.off_type) = Py_NewRef (type_obj);
      *slot_at (group, cfg.off_ies) = Py_NewRef (children);
      *slot_at (group, cfg.off_raw) = Py_NewRef (raw);
      return group;
    }
  if (group
      && (PyObject_SetAttr (group, cfg.str_type, type_obj) < 0
          || PyObject_SetAttr (group, cfg.str_ies, children) < 0
          || PyObject_SetAttr (group, cfg.str_raw, raw) < 0))
    Py_CLEAR (group);
  return group;
}

static PyObject *copy_constant (PyObject *ie);
static PyObject *clone_group (PyObject *group);

/* clone_group of a group that is not a Grouped with its slots read in place (a template
 * made here always is one): through its attributes. */
static PyObject *
clone_group_generic (PyObject *group)
{
  PyObject *type = NULL, *ies = NULL, *raw = NULL, *copy = NULL, *result = NULL;
  if (!(type = PyObject_GetAttr (group, cfg.str_type))
      || !(ies = PyObject_GetAttr (group, cfg.str_ies)) || !PyList_Check (ies)
      || !(raw = PyObject_GetAttr (group, cfg.str_raw)))
    goto done;
  Py_ssize_t n = PyList_GET_SIZE (ies);
  if (!(copy = PyList_New (n)))
    goto done;
  for (Py_ssize_t i = 0; i < n; i++)
    {
      PyObject *child = PyList_GET_ITEM (ies, i);
      PyObject *item = Py_TYPE (child) == (PyTypeObject *)cfg.grouped ? clone_group (child)
                                                                      : copy_constant (child);
      if (!item)
        goto done;
      PyList_SET_ITEM (copy, i, item);
    }
  result = new_group (type, copy, raw);
done:
  Py_XDECREF (type);
  Py_XDECREF (ies);
  Py_XDECREF (raw);
  Py_XDECREF (copy);
  return result;
}

static unsigned
be16 (const uint8_t *p)
{
  return (unsigned)p[0] << 8 | p[1];
}

/* An empty list with room for the IEs of data[start:end] (one per TLV header there), into
 * which the walk puts them without growing it (see walk). */
static PyObject *
ie_list (const uint8_t *data, Py_ssize_t start, Py_ssize_t end)
{
  Py_ssize_t n = 0;
  for (Py_ssize_t off = start; off + 4 <= end; n++)
    off += 4 + (Py_ssize_t)be16 (data + off + 2);
  PyObject *list = PyList_New (n);
  if (list)
    Py_SET_SIZE (list, 0); /* (its n item slots stay allocated, NULL) */
  return list;
}

static int walk (walk_t *w, Py_ssize_t start, Py_ssize_t end, const spec_t *spec, PyObject *ies,
                 unsigned container);

static PyObject *
decode_group (walk_t *w, const tlv_t *ie, const spec_t *group_spec, int *same_every_time)
{
  PyObject *tlv, *children = NULL, *group = NULL, *template;
  Py_ssize_t ignored_before = PyList_GET_SIZE (w->ignored);
  const uint8_t *octets = w->data + ie->start;
  uint32_t h = hash_octets (octets, (size_t)(ie->end - ie->start));

  if ((template = cache_get (h, octets, ie->end - ie->start)))
    {
      Py_INCREF (template); /* (held while copied: the copy allocates) */
      group = clone_group (template);
      Py_DECREF (template);
      return group;
    }
  if (!(tlv = PyBytes_FromStringAndSize ((const char *)octets, ie->end - ie->start)))
    return NULL;
  if (w->depth >= MAX_GROUP_DEPTH)
    {
      raise_error (ERR_TOO_DEEP, ie->type, 0, NULL, 0);
      goto done;
    }
  if (!(children = ie_list (w->data, ie->start + 4, ie->end)))
    goto done;
  PyObject *outer = w->within;
  w->path[w->depth++] = ie->type_obj;
  w->within = children;
  int same = walk (w, ie->start + 4, ie->end, group_spec, children, ie->type);
  w->within = outer;
  w->depth--;
  if (same < 0)
    {
      if (PyErr_ExceptionMatches (cfg.codec_error))
        {
          PyObject *exc = fetch_exception ();
          PyObject *r = PyObject_CallFunctionObjArgs (cfg.in_group, exc, ie->type_obj, NULL);
          if (r)
            {
              Py_DECREF (r);
              restore_exception (exc);
            }
          else
            Py_DECREF (exc);
        }
      goto done;
    }
  /* A group that set IEs aside keeps no octets (they hold what its IEs do not), and is
   * decoded each time, so that each message reports them. */
  int complete = PyList_GET_SIZE (w->ignored) == ignored_before;
  if (!(group = new_group (ie->type_obj, children, complete ? tlv : Py_None)))
    goto done;
  if (same && complete)
    {
      PyObject *copy = clone_group (group); /* a private template: callers may change theirs */
      if (!copy || cache_put (h, tlv, copy, groups_cost (copy, 0)) < 0)
        Py_CLEAR (group);
      Py_XDECREF (copy);
    }
  else
    *same_every_time = 0;
done:
  Py_DECREF (tlv);
  Py_XDECREF (children);
  return group;
}

/* Call the IE type's decoder on its value. NULL: an exception is set, or (none set) the IE
 * was incorrect, optional and reported as ignored. */
static PyObject *
decode_value (const walk_t *w, const tlv_t *ie, PyObject *decoder, const spec_t *spec)
{
  PyObject *octets = PyBytes_FromStringAndSize (value_of (w, ie), value_len (ie));
  PyObject *value = octets ? PyObject_CallOneArg (decoder, octets) : NULL;
  Py_XDECREF (octets);
  if (!value && octets)
    decoder_failed (w, ie, spec);
  return value;
}

static PyObject *
decode_cacheable (const walk_t *w, const tlv_t *ie, const spec_t *spec)
{
  PyObject *tlv, *value, *decoder;
  const uint8_t *octets = w->data + ie->start;
  uint32_t h = hash_octets (octets, (size_t)(ie->end - ie->start));

  if ((value = cache_get (h, octets, ie->end - ie->start)))
    return Py_NewRef (value);
  if (!(decoder = PyDict_GetItemWithError (cfg.decoders, ie->type_obj)))
    {
      if (!PyErr_Occurred ())
        PyErr_Format (PyExc_LookupError, "no decoder for cacheable IE type %u", ie->type);
      return NULL;
    }
  if (!(value = decode_value (w, ie, decoder, spec)))
    return NULL;
  /* (the key is made after the decoder ran: the walk's buffer must not change during the
   * walk, which holds for the codec's callers: bytes, or buffers nothing else writes) */
  if (!(tlv = PyBytes_FromStringAndSize ((const char *)octets, ie->end - ie->start))
      || cache_put (h, tlv, value, 0) < 0)
    Py_CLEAR (value);
  Py_XDECREF (tlv);
  return value;
}

static PyObject *
keep_raw (const walk_t *w, const tlv_t *ie)
{
  return PyObject_CallFunction (cfg.raw, "Oy#", ie->type_obj, value_of (w, ie), value_len (ie));
}

/* Shortcuts: the usual forms of the per-session address IEs (never cached, decoded in
 * every request) are decoded here instead of by their Python decoders, into the same
 * objects: an instance of the IE class with every slot set, as its __init__ sets them.
 * Anything else of those types (another form, a short or odd value) goes to the Python
 * decoder as before. setup_shortcuts() hands over the classes (only where the decoder of
 * the type is the class's own) and the names of their fields, which must be the ones
 * below, in that order, each a plain object slot of the class. */
enum
{
  SC_FSEID,
  SC_FTEID,
  SC_UEIP,
  SC_OHC,
  SC_COUNT,
  SC_MAX_FIELDS = 7
};

static const unsigned sc_types[SC_COUNT] = { 57, 21, 93, 84 };
static const char *const sc_fields[SC_COUNT][SC_MAX_FIELDS + 1] = {
  { "seid", "ipv4", "ipv6", NULL },
  { "teid", "ipv4", "ipv6", "choose", "choose_v4", "choose_v6", "choose_id", NULL },
  { "ipv4", "ipv6", "source", "ipv6_prefix_delegation_bits", "ipv6_prefix_length", "choose_v4",
    "choose_v6", NULL },
  { "description", "teid", "ipv4", "ipv6", "port", "c_tag", "s_tag", NULL },
};

typedef struct
{
  PyObject *cls; /* NULL: no shortcut for this type */
  int n_fields;
  Py_ssize_t offsets[SC_MAX_FIELDS];
} shortcut_t;

static shortcut_t shortcuts[SC_COUNT];

static uint32_t
be32 (const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* IPv4 addresses as text, shared: the per-session address IEs carry the same few
 * addresses (the SMF's, the gNBs') session after session, and a str is immutable (the IE
 * classes' decoders share theirs too: ies_address._V4_TEXT). A direct-mapped table (the
 * address picks its slot; a miss replaces the text there), so that whatever addresses
 * arrive it holds at most V4_TEXT_SLOTS texts; cache_clear() empties it. */
#define V4_TEXT_SLOTS 256 /* (the top 8 bits of a multiplicative hash pick the slot) */

static struct
{
  uint32_t addr;
  PyObject *text; /* NULL: a free slot */
} v4_texts[V4_TEXT_SLOTS];

static void
v4_texts_clear (void)
{
  for (int i = 0; i < V4_TEXT_SLOTS; i++)
    Py_CLEAR (v4_texts[i].text);
}

/* IPv4 address text as inet_ntop writes it (dotted decimal, no leading zeros). */
static PyObject *
v4_text (const uint8_t *a)
{
  uint32_t addr = be32 (a);
  unsigned slot = (addr * 0x9E3779B1u) >> 24;
  if (v4_texts[slot].text && v4_texts[slot].addr == addr)
    return Py_NewRef (v4_texts[slot].text);
  char buf[16];
  int n = 0;
  for (int i = 0; i < 4; i++)
    {
      unsigned x = a[i];
      if (i)
        buf[n++] = '.';
      if (x >= 100)
        buf[n++] = (char)('0' + x / 100);
      if (x >= 10)
        buf[n++] = (char)('0' + x / 10 % 10);
      buf[n++] = (char)('0' + x % 10);
    }
  PyObject *text = PyUnicode_New (n, 127); /* (ASCII: no UTF-8 decoding) */
  if (!text)
    return NULL;
  memcpy (PyUnicode_1BYTE_DATA (text), buf, (size_t)n);
  v4_texts[slot].addr = addr;
  Py_XSETREF (v4_texts[slot].text, Py_NewRef (text));
  return text;
}

/* An instance of the shortcut's class with its slots set to fields[] (new references,
 * taken over; a NULL among them: an exception is set, everything is released). */
static PyObject *
shortcut_new (const shortcut_t *sc, PyObject **fields)
{
  PyObject *obj = NULL;
  int ok = 1;
  for (int i = 0; i < sc->n_fields; i++)
    ok &= fields[i] != NULL;
  if (ok)
    obj = ((PyTypeObject *)sc->cls)->tp_alloc ((PyTypeObject *)sc->cls, 0);
  for (int i = 0; i < sc->n_fields; i++)
    {
      if (obj)
        *slot_at (obj, sc->offsets[i]) = fields[i]; /* (tp_alloc zeroed the slots) */
      else
        Py_XDECREF (fields[i]);
    }
  return obj;
}

#define BOOL_OF(x) Py_NewRef ((x) ? Py_True : Py_False)
#define NONE Py_NewRef (Py_None)

/* The IE decoded by its shortcut, or NULL: with an exception set, a failure; without, not
 * a form the shortcut takes (the Python decoder decodes it). *constant set for a form that
 * is the same in every session (an F-TEID with CH, a UE IP Address without an address: the
 * UP function chooses them), cleared otherwise. */
static PyObject *
decode_shortcut (const walk_t *w, const tlv_t *ie, const shortcut_t *sc, int *constant)
{
  const uint8_t *v = (const uint8_t *)value_of (w, ie);
  Py_ssize_t n = value_len (ie);
  PyObject *f[SC_MAX_FIELDS];
  if (n < 1)
    return NULL;
  unsigned flags = v[0];
  *constant = 0;
  switch (sc - shortcuts)
    {
    case SC_FSEID: /* IPv4 only */
      if (n < 13 || (flags & 0x03) != 0x02)
        return NULL;
      f[0] = PyLong_FromUnsignedLongLong ((unsigned long long)be32 (v + 1) << 32 | be32 (v + 5));
      f[1] = v4_text (v + 9);
      f[2] = NONE;
      break;
    case SC_FTEID:
      if (flags & 0x04) /* CH */
        {
          if ((flags & 0x08) && n < 2)
            return NULL;
          *constant = 1;
          f[0] = NONE;
          f[1] = NONE;
          f[2] = NONE;
          f[3] = BOOL_OF (1);
          f[4] = BOOL_OF (flags & 0x01);
          f[5] = BOOL_OF (flags & 0x02);
          f[6] = flags & 0x08 ? PyLong_FromLong (v[1]) : NONE;
          break;
        }
      if ((flags & 0x08) || (flags & 0x03) != 0x01 || n < 9) /* IPv4 only */
        return NULL;
      f[0] = PyLong_FromUnsignedLong (be32 (v + 1));
      f[1] = v4_text (v + 5);
      f[2] = NONE;
      f[3] = BOOL_OF (0);
      f[4] = BOOL_OF (0);
      f[5] = BOOL_OF (0);
      f[6] = NONE;
      break;
    case SC_UEIP: /* no address (CHV4/CHV6), or an IPv4 address; no IPv6 prefix fields */
      if ((flags & 0x4B) == 0x02 && n >= 5)
        f[0] = v4_text (v + 1);
      else if (!(flags & 0x4B))
        {
          *constant = 1;
          f[0] = NONE;
        }
      else
        return NULL;
      f[1] = NONE;
      f[2] = BOOL_OF (flags & 0x04);
      f[3] = NONE;
      f[4] = NONE;
      f[5] = BOOL_OF (flags & 0x10);
      f[6] = BOOL_OF (flags & 0x20);
      break;
    case SC_OHC: /* GTP-U/UDP/IPv4 */
      if (n < 10 || flags != 0x01 || v[1] != 0x00)
        return NULL;
      f[0] = PyLong_FromLong (0x0100);
      f[1] = PyLong_FromUnsignedLong (be32 (v + 2));
      f[2] = v4_text (v + 6);
      f[3] = NONE;
      f[4] = NONE;
      f[5] = NONE;
      f[6] = NONE;
      break;
    default:
      return NULL;
    }
  return shortcut_new (sc, f);
}

/* The shortcut of an IE type, or NULL. */
static const shortcut_t *
shortcut_of (unsigned ie_type)
{
  for (int i = 0; i < SC_COUNT; i++)
    if (sc_types[i] == ie_type)
      return shortcuts[i].cls ? &shortcuts[i] : NULL;
  return NULL;
}

/* A new reference to a leaf of a template group to hand out: a fresh copy for one of a
 * shortcut's class (in a template: a constant form, see decode_shortcut; mutable, so
 * never shared), the leaf itself otherwise (immutable, shared). */
static PyObject *
copy_constant (PyObject *ie)
{
  PyTypeObject *tp = Py_TYPE (ie);
  const shortcut_t *sc = NULL;
  if (tp == (PyTypeObject *)shortcuts[SC_FTEID].cls)
    sc = &shortcuts[SC_FTEID];
  else if (tp == (PyTypeObject *)shortcuts[SC_UEIP].cls)
    sc = &shortcuts[SC_UEIP];
  else
    return Py_NewRef (ie);
  PyObject *copy = tp->tp_alloc (tp, 0);
  if (copy)
    for (int i = 0; i < sc->n_fields; i++)
      *slot_at (copy, sc->offsets[i]) = Py_XNewRef (*slot_at (ie, sc->offsets[i]));
  return copy;
}

/* A fresh copy of a (template) group: new Grouped objects, shared immutable leaves and
 * octets, fresh copies of its constant per-session leaves (see copy_constant). A template
 * is a Grouped made here: its slots are read in place and its leaves sorted by their type
 * alone (five of them per Session Establishment Request are copied, ~30 leaves). */
static PyObject *
clone_group (PyObject *group)
{
  PyObject *type, *ies, *raw, *copy, *result = NULL;
  if (!cfg.off_type || Py_TYPE (group) != (PyTypeObject *)cfg.grouped
      || !(type = *slot_at (group, cfg.off_type)) || !(ies = *slot_at (group, cfg.off_ies))
      || !(raw = *slot_at (group, cfg.off_raw)) || !PyList_Check (ies))
    return clone_group_generic (group);
  PyTypeObject *grouped = (PyTypeObject *)cfg.grouped;
  PyTypeObject *fteid = (PyTypeObject *)shortcuts[SC_FTEID].cls; /* (NULL: none) */
  PyTypeObject *ueip = (PyTypeObject *)shortcuts[SC_UEIP].cls;
  Py_ssize_t n = PyList_GET_SIZE (ies);
  /* (held while copied: the copy allocates, and a collection may run Python code) */
  Py_INCREF (type);
  Py_INCREF (ies);
  Py_INCREF (raw);
  if (!(copy = PyList_New (n)))
    goto done;
  for (Py_ssize_t i = 0; i < n; i++)
    {
      if (i >= PyList_GET_SIZE (ies))
        {
          PyErr_SetString (PyExc_RuntimeError, "a cached group changed while copied");
          goto done;
        }
      PyObject *child = PyList_GET_ITEM (ies, i), *item;
      PyTypeObject *tp = Py_TYPE (child);
      if (tp == grouped)
        item = clone_group (child);
      else if (tp == fteid || tp == ueip)
        item = copy_constant (child);
      else
        item = Py_NewRef (child); /* an immutable leaf: shared */
      if (!item)
        goto done;
      PyList_SET_ITEM (copy, i, item);
    }
  result = new_group (type, copy, raw);
done:
  Py_DECREF (type);
  Py_DECREF (ies);
  Py_DECREF (raw);
  Py_XDECREF (copy);
  return result;
}

/* One IE, new reference, or NULL (see decode_value). spec: the container's (NULL: none).
 * Clears *same_every_time unless the IE is the same in every session. */
static PyObject *
decode_ie (walk_t *w, const tlv_t *ie, const spec_t *spec, int *same_every_time)
{
  PyObject *decoder;
  const spec_t *group_spec;

  if (spec && !spec->any && typeset_has (&cfg.known, ie->type)
      && !typeset_has (&spec->allowed, ie->type))
    {
      report_ignored (w, ie, NULL); /* NULL, and no exception: discarded */
      return NULL;
    }
  if (typeset_has (&cfg.cacheable, ie->type))
    return decode_cacheable (w, ie, spec);
  if (ie->type < TABLE_TYPES && (group_spec = cfg.groups[ie->type]))
    return decode_group (w, ie, group_spec, same_every_time);
  const shortcut_t *sc = shortcut_of (ie->type);
  if (sc)
    {
      int constant;
      PyObject *value = decode_shortcut (w, ie, sc, &constant);
      if (!value || !constant)
        *same_every_time = 0;
      if (value || PyErr_Occurred ())
        return value;
    }
  *same_every_time = 0;
  if ((decoder = PyDict_GetItemWithError (cfg.decoders, ie->type_obj)))
    return decode_value (w, ie, decoder, spec);
  if (PyErr_Occurred ())
    return NULL;
  if (!(ie->type & 0x8000))
    return keep_raw (w, ie);
  if (value_len (ie) < 2)
    {
      raise_error (ERR_VENDOR_SHORT, ie->type, 0, NULL, 0);
      return NULL;
    }
  const uint8_t *v = (const uint8_t *)value_of (w, ie);
  return PyObject_CallFunction (cfg.vendor, "Oiy#", ie->type_obj, v[0] << 8 | v[1], v + 2,
                                value_len (ie) - 2);
}

/* Append the IEs of data[start:end] (the value of grouped IE container, 0: a message's) to
 * ies and check the mandatory ones. Returns 1 when all of them (recursively) are the same in
 * every session, so that their group may be cached, 0 when not, -1 with an exception set. */
static int
walk (walk_t *w, Py_ssize_t start, Py_ssize_t end, const spec_t *spec, PyObject *ies,
      unsigned container)
{
  int same_every_time = 1;
  Py_ssize_t off = start;
  uint64_t seen = 0; /* the mandatory types seen (bits as spec->all_mand) */
  int check = spec && spec->n_mand;

  while (off < end)
    {
      if (off + 4 > end)
        return raise_error (ERR_TRAILING, container, end - off, NULL, 0);
      tlv_t ie = { .start = off };
      ie.type = (unsigned)w->data[off] << 8 | w->data[off + 1];
      unsigned length = (unsigned)w->data[off + 2] << 8 | w->data[off + 3];
      ie.end = off = off + 4 + (Py_ssize_t)length;
      if (off > end)
        return raise_error (ERR_OVERFLOW, ie.type, length, NULL, 0);
      if (ie.type < TABLE_TYPES)
        ie.type_obj = Py_NewRef (cfg.type_objs[ie.type]);
      else if (!(ie.type_obj = PyLong_FromUnsignedLong (ie.type)))
        return -1;
      PyObject *decoded = decode_ie (w, &ie, spec, &same_every_time);
      Py_DECREF (ie.type_obj);
      if (!decoded)
        {
          if (PyErr_Occurred ())
            return -1;
          same_every_time = 0; /* set aside: treated as not present */
          continue;
        }
      Py_ssize_t k = PyList_GET_SIZE (ies);
      if (k < ((PyListObject *)ies)->allocated) /* (room made by ie_list) */
        {
          PyList_SET_ITEM (ies, k, decoded);
          Py_SET_SIZE (ies, k + 1);
        }
      else
        {
          int rc = PyList_Append (ies, decoded);
          Py_DECREF (decoded);
          if (rc < 0)
            return -1;
        }
      if (check)
        seen |= mandatory_bit (spec, ie.type);
    }
  if (check && seen != spec->all_mand) /* the lowest type missing */
    return raise_error (ERR_MISSING, spec->mand[__builtin_ctzll (~seen & spec->all_mand)], 0, NULL,
                        1);
  return same_every_time;
}

/* walk's arguments from a tuple, as PyArg_ParseTuple reads them (any bytes-like data). */
static PyObject *
walk_parsed (PyObject *args)
{
  Py_buffer buf;
  Py_ssize_t start, end;
  int msg_type;
  PyObject *ies;
  walk_t w = { 0 };

  if (!PyArg_ParseTuple (args, "y*nniO!:walk", &buf, &start, &end, &msg_type, &PyList_Type,
                         &w.ignored))
    return NULL;
  if (start < 0 || end > buf.len || start > end)
    {
      PyBuffer_Release (&buf);
      PyErr_SetString (PyExc_ValueError, "walk: start/end outside the data");
      return NULL;
    }
  w.data = (const uint8_t *)buf.buf;
  const spec_t *spec = msg_type >= 0 && msg_type < MESSAGE_TYPES ? cfg.messages[msg_type] : NULL;
  ies = w.within = ie_list (w.data, start, end);
  if (ies && walk (&w, start, end, spec, ies, 0) < 0)
    Py_CLEAR (ies);
  PyBuffer_Release (&buf);
  return ies;
}

/* walk(data, start, end, msg_type, ignored). The usual arguments (bytes, three ints in
 * range, a list) are read here; any others as PyArg_ParseTuple reads them (walk_parsed),
 * which also raises its errors. */
static PyObject *
py_walk (PyObject *Py_UNUSED (module), PyObject *const *args, Py_ssize_t nargs)
{
  if (!cfg.error)
    {
      PyErr_SetString (PyExc_RuntimeError, "pfcpd.pfcp._walk: setup() was not called");
      return NULL;
    }
  if (nargs == 5 && PyBytes_CheckExact (args[0]) && PyLong_CheckExact (args[1])
      && PyLong_CheckExact (args[2]) && PyLong_CheckExact (args[3]) && PyList_Check (args[4]))
    {
      Py_ssize_t start = PyLong_AsSsize_t (args[1]), end = PyLong_AsSsize_t (args[2]);
      long msg_type = PyLong_AsLong (args[3]);
      if (PyErr_Occurred ())
        PyErr_Clear (); /* (out of range: walk_parsed says so) */
      else if (msg_type >= INT_MIN && msg_type <= INT_MAX)
        {
          if (start < 0 || end > PyBytes_GET_SIZE (args[0]) || start > end)
            {
              PyErr_SetString (PyExc_ValueError, "walk: start/end outside the data");
              return NULL;
            }
          walk_t w = { 0 };
          w.data = (const uint8_t *)PyBytes_AS_STRING (args[0]);
          w.ignored = args[4];
          const spec_t *spec
            = msg_type >= 0 && msg_type < MESSAGE_TYPES ? cfg.messages[msg_type] : NULL;
          PyObject *data = Py_NewRef (args[0]); /* (held: decoders run Python code) */
          PyObject *ignored = Py_NewRef (args[4]);
          PyObject *ies = w.within = ie_list (w.data, start, end);
          if (ies && walk (&w, start, end, spec, ies, 0) < 0)
            Py_CLEAR (ies);
          Py_DECREF (data);
          Py_DECREF (ignored);
          return ies;
        }
    }
  PyObject *tuple = PyTuple_New (nargs);
  if (!tuple)
    return NULL;
  for (Py_ssize_t i = 0; i < nargs; i++)
    PyTuple_SET_ITEM (tuple, i, Py_NewRef (args[i]));
  PyObject *ies = walk_parsed (tuple);
  Py_DECREF (tuple);
  return ies;
}

/* decode_ies(data, start, end, ignored=None): codec.decode_ies, walk() of any IE expected at
 * this level (msg_type -1), in one call (the engine decodes stored rule groups with it,
 * some four per Session Modification Request); ignored None: a list of its own. */
static PyObject *
py_decode_ies (PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
  Py_ssize_t n_kw = kwnames ? PyTuple_GET_SIZE (kwnames) : 0;
  PyObject *ignored = nargs == 4 ? args[3] : Py_None;
  int bad = nargs < 3 || nargs + n_kw > 4;
  for (Py_ssize_t i = 0; !bad && i < n_kw; i++)
    {
      bad = PyUnicode_CompareWithASCIIString (PyTuple_GET_ITEM (kwnames, i), "ignored") != 0;
      ignored = args[nargs + i];
    }
  if (bad)
    {
      PyErr_SetString (PyExc_TypeError, "decode_ies(data, start, end, ignored=None)");
      return NULL;
    }
  PyObject *own = NULL;
  if (ignored == Py_None && !(ignored = own = PyList_New (0)))
    return NULL;
  PyObject *walk_args[5] = { args[0], args[1], args[2], cfg.minus_one, ignored };
  PyObject *ies = py_walk (module, walk_args, 5);
  Py_XDECREF (own);
  return ies;
}

/* The IE types of an iterable of ints into a typeset. */
static int
fill_typeset (typeset_t *set, PyObject *types)
{
  PyObject *it = PyObject_GetIter (types), *item;
  if (!it)
    return -1;
  while ((item = PyIter_Next (it)))
    {
      long t = PyLong_AsLong (item);
      Py_DECREF (item);
      if (t < 0 || t >= TABLE_TYPES)
        {
          if (!PyErr_Occurred ())
            PyErr_Format (PyExc_ValueError, "IE type %ld outside the tables (0-%d)", t,
                          TABLE_TYPES - 1);
          break;
        }
      typeset_add (set, (unsigned)t);
    }
  Py_DECREF (it);
  return PyErr_Occurred () ? -1 : 0;
}

/* specs[key] for every key of mandatory (dict: key -> IE types), with allowed (dict: key ->
 * IE types; absent: any). */
static int
compile_specs (spec_t **specs, long n_specs, PyObject *mandatory, PyObject *allowed)
{
  PyObject *key, *types;
  Py_ssize_t pos = 0;
  while (PyDict_Next (mandatory, &pos, &key, &types))
    {
      long k = PyLong_AsLong (key);
      if (k < 0 || k >= n_specs)
        {
          if (!PyErr_Occurred ())
            PyErr_Format (PyExc_ValueError, "table key %ld out of range", k);
          return -1;
        }
      spec_t *spec = PyMem_Calloc (1, sizeof (spec_t));
      if (!spec)
        {
          PyErr_NoMemory ();
          return -1;
        }
      specs[k] = spec;
      PyObject *may = PyDict_GetItemWithError (allowed, key);
      if (!may && PyErr_Occurred ())
        return -1;
      spec->any = !may;
      if (fill_typeset (&spec->mandatory, types) < 0
          || (may && fill_typeset (&spec->allowed, may) < 0))
        return -1;
      for (unsigned t = 0; t < TABLE_TYPES; t++)
        if (typeset_has (&spec->mandatory, t))
          {
            if (spec->n_mand == MAX_MANDATORY)
              {
                PyErr_Format (PyExc_ValueError, "more than %d mandatory IEs under key %ld",
                              MAX_MANDATORY, k);
                return -1;
              }
            spec->all_mand |= (uint64_t)1 << spec->n_mand;
            spec->mand[spec->n_mand++] = (uint16_t)t;
          }
    }
  return 0;
}

static void
free_specs (spec_t **specs, long n_specs)
{
  for (long i = 0; i < n_specs; i++)
    {
      PyMem_Free (specs[i]);
      specs[i] = NULL;
    }
}

static PyObject *
py_setup (PyObject *Py_UNUSED (module), PyObject *args)
{
  walk_config_t c = { 0 };
  PyObject *known, *cacheable, *groups, *allowed_children, *messages, *allowed_ies;
  if (!PyArg_ParseTuple (args, "O!OOO!O!O!O!nOOOO!O!OOOO:setup", &PyDict_Type, &c.decoders, &known,
                         &cacheable, &PyDict_Type, &groups, &PyDict_Type, &allowed_children,
                         &PyDict_Type, &messages, &PyDict_Type, &allowed_ies, &c.cache_max_bytes,
                         &c.grouped, &c.raw, &c.vendor, &PyTuple_Type, &c.short_errors,
                         &PyTuple_Type, &c.value_errors, &c.codec_error, &c.error, &c.in_group,
                         &c.ignore))
    return NULL;
  if (!PyType_Check (c.grouped) || c.cache_max_bytes < 1)
    {
      PyErr_SetString (PyExc_TypeError, "setup: grouped must be a type, cache_max_bytes >= 1");
      return NULL;
    }
  if (!cfg.str_type)
    {
      cfg.str_type = PyUnicode_InternFromString ("type");
      cfg.str_ies = PyUnicode_InternFromString ("ies");
      cfg.str_raw = PyUnicode_InternFromString ("raw");
      cfg.minus_one = PyLong_FromLong (-1);
      if (!cfg.str_type || !cfg.str_ies || !cfg.str_raw || !cfg.minus_one)
        return NULL;
      for (unsigned t = 0; t < TABLE_TYPES; t++)
        if (!(cfg.type_objs[t] = PyLong_FromUnsignedLong (t)))
          return NULL;
      /* the decode cache's seed, from Python's hash secret */
      for (int i = 0; i < 2; i++)
        {
          PyObject *b = PyBytes_FromString (i ? "pfcpd decode cache, 1" : "pfcpd decode cache, 0");
          Py_hash_t x = b ? PyObject_Hash (b) : -1;
          Py_XDECREF (b);
          if (x == -1 && PyErr_Occurred ())
            return NULL;
          ctab.seed[i] = (uint64_t)x * 0x9E3779B97F4A7C15ull ^ (uint64_t)x >> 29;
        }
    }
  free_specs (cfg.groups, TABLE_TYPES);
  free_specs (cfg.messages, MESSAGE_TYPES);
  memset (&cfg.known, 0, sizeof (cfg.known));
  memset (&cfg.cacheable, 0, sizeof (cfg.cacheable));
  if (fill_typeset (&cfg.known, known) < 0 || fill_typeset (&cfg.cacheable, cacheable) < 0
      || compile_specs (cfg.groups, TABLE_TYPES, groups, allowed_children) < 0
      || compile_specs (cfg.messages, MESSAGE_TYPES, messages, allowed_ies) < 0)
    {
      free_specs (cfg.groups, TABLE_TYPES);
      free_specs (cfg.messages, MESSAGE_TYPES);
      Py_CLEAR (cfg.error); /* walk() refuses to run on half-built tables */
      return NULL;
    }
  PyObject **fields[] = { &c.decoders,     &c.grouped,     &c.raw,   &c.vendor,   &c.short_errors,
                          &c.value_errors, &c.codec_error, &c.error, &c.in_group, &c.ignore };
  PyObject **old[]
    = { &cfg.decoders,     &cfg.grouped,     &cfg.raw,   &cfg.vendor,   &cfg.short_errors,
        &cfg.value_errors, &cfg.codec_error, &cfg.error, &cfg.in_group, &cfg.ignore };
  for (size_t i = 0; i < sizeof (fields) / sizeof (fields[0]); i++)
    {
      Py_INCREF (*fields[i]);
      Py_XSETREF (*old[i], *fields[i]);
    }
  cfg.off_type = object_slot_offset (cfg.grouped, cfg.str_type);
  cfg.off_ies = object_slot_offset (cfg.grouped, cfg.str_ies);
  cfg.off_raw = object_slot_offset (cfg.grouped, cfg.str_raw);
  if (!cfg.off_type || !cfg.off_ies || !cfg.off_raw)
    cfg.off_type = cfg.off_ies = cfg.off_raw = 0;
  cfg.cache_max_bytes = c.cache_max_bytes;
  cache_clear (); /* (it holds IEs decoded under the old tables) */
  Py_RETURN_NONE;
}

/* Fill table (decode or encode shortcuts) from {ie_type: (cls, field names)}: a type left
 * out, or whose class does not have exactly the expected fields as plain object slots, has
 * none. tlv (or NULL): each class's ``type``. Returns the types that have one. */
static PyObject *
fill_shortcuts (shortcut_t *table, unsigned *tlv, PyObject *classes, const char *what)
{
  if (!PyDict_Check (classes))
    {
      PyErr_Format (PyExc_TypeError, "%s: a dict", what);
      return NULL;
    }
  for (int i = 0; i < SC_COUNT; i++)
    Py_CLEAR (table[i].cls);
  PyObject *enabled = PyList_New (0);
  if (!enabled)
    return NULL;
  for (int i = 0; i < SC_COUNT; i++)
    {
      shortcut_t *sc = &table[i];
      PyObject *key = PyLong_FromUnsignedLong (sc_types[i]);
      if (!key)
        goto fail;
      PyObject *entry = PyDict_GetItemWithError (classes, key); /* borrowed */
      if (!entry || (tlv && i == SC_OHC)) /* (no encode shortcut for Outer Header Creation) */
        {
          Py_DECREF (key);
          if (PyErr_Occurred ())
            goto fail;
          continue;
        }
      PyObject *cls, *names;
      if (!PyArg_ParseTuple (entry, tlv ? "O!O!:setup_encode_shortcuts" : "O!O!:setup_shortcuts",
                             &PyType_Type, &cls, &PyTuple_Type, &names))
        {
          Py_DECREF (key);
          goto fail;
        }
      int n = 0;
      while (sc_fields[i][n])
        n++;
      int ok = PyTuple_GET_SIZE (names) == n;
      for (int k = 0; ok && k < n; k++)
        {
          PyObject *name = PyTuple_GET_ITEM (names, k);
          ok = PyUnicode_Check (name)
               && PyUnicode_CompareWithASCIIString (name, sc_fields[i][k]) == 0
               && (sc->offsets[k] = object_slot_offset (cls, name)) != 0;
        }
      if (ok && tlv)
        {
          PyObject *t = PyObject_GetAttrString (cls, "type");
          long v = t && PyLong_Check (t) ? PyLong_AsLong (t) : -1;
          Py_XDECREF (t);
          PyErr_Clear ();
          ok = v >= 0 && v <= 0x7FFF;
          tlv[i] = ok ? (unsigned)v : 0;
        }
      if (ok)
        {
          sc->cls = Py_NewRef (cls);
          sc->n_fields = n;
          ok = PyList_Append (enabled, key) == 0;
        }
      Py_DECREF (key);
      if (!ok && PyErr_Occurred ())
        goto fail;
    }
  return enabled;
fail:
  for (int i = 0; i < SC_COUNT; i++)
    Py_CLEAR (table[i].cls);
  Py_DECREF (enabled);
  return NULL;
}

/* setup_shortcuts({ie_type: (cls, field names)}): the classes of the decode shortcuts (see
 * decode_shortcut). Returns the types that have one. */
static PyObject *
py_setup_shortcuts (PyObject *Py_UNUSED (module), PyObject *classes)
{
  cache_clear (); /* (its templates' constant leaves are copied by these classes) */
  return fill_shortcuts (shortcuts, NULL, classes, "setup_shortcuts");
}

static PyObject *
py_cache_bytes (PyObject *Py_UNUSED (module), PyObject *Py_UNUSED (args))
{
  return PyLong_FromSsize_t (cfg.cache_bytes);
}

static PyObject *
py_cache_entries (PyObject *Py_UNUSED (module), PyObject *Py_UNUSED (args))
{
  PyObject *out = PyList_New (0);
  for (size_t i = 0; out && ctab.slots && i <= ctab.mask; i++)
    {
      const cache_entry_t *e = &ctab.slots[i];
      if (!e->key)
        continue;
      PyObject *pair = PyTuple_Pack (2, e->key, e->value);
      if (!pair || PyList_Append (out, pair) < 0)
        Py_CLEAR (out);
      Py_XDECREF (pair);
    }
  return out;
}

static PyObject *
py_cache_clear (PyObject *Py_UNUSED (module), PyObject *Py_UNUSED (args))
{
  cache_clear ();
  Py_RETURN_NONE;
}

/* cache_hash_bits(bits): keep only the low bits (0-32) of the cache's hash, the cache
 * emptied; fewer than 32 make octets collide, as tests do to exercise the probes. */
static PyObject *
py_cache_hash_bits (PyObject *Py_UNUSED (module), PyObject *arg)
{
  long bits = PyLong_AsLong (arg);
  if (bits == -1 && PyErr_Occurred ())
    return NULL;
  if (bits < 0 || bits > 32)
    {
      PyErr_SetString (PyExc_ValueError, "cache_hash_bits: 0 to 32 bits");
      return NULL;
    }
  cache_clear ();
  ctab.hash_mask = bits == 32 ? UINT32_MAX : ((uint32_t)1 << bits) - 1;
  Py_RETURN_NONE;
}

/* ---- encode_ies: the encoder's loop over IEs (codec.encode_ies documents what it does) ---- */

typedef struct
{
  PyObject *grouped;      /* Grouped: its children are encoded in place of a value */
  PyObject *vendor;       /* VendorIE: its type must have the enterprise bit */
  PyObject *encoded;      /* dict: id(leaf IE) -> (the IE, its TLV octets) */
  Py_ssize_t max_entries; /* the cache is emptied when full */
  Py_ssize_t max_value;   /* longest value octets kept */
  PyObject *error;        /* error(kind, ie_type, length) -> CodecError, or raises */
  PyObject *str_type, *str_ies, *str_encode, *str_cacheable, *enterprise_bit;
} encode_config_t;

static encode_config_t ecfg;

typedef struct
{
  char *p;
  Py_ssize_t len, cap;
} buf_t;

static int
buf_reserve (buf_t *b, Py_ssize_t more)
{
  if (b->len + more <= b->cap)
    return 0;
  Py_ssize_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more)
    cap *= 2;
  char *p = PyMem_Realloc (b->p, (size_t)cap);
  if (!p)
    {
      PyErr_NoMemory ();
      return -1;
    }
  b->p = p;
  b->cap = cap;
  return 0;
}

static int
buf_put (buf_t *b, const void *data, Py_ssize_t n)
{
  if (buf_reserve (b, n) < 0)
    return -1;
  memcpy (b->p + b->len, data, (size_t)n);
  b->len += n;
  return 0;
}

static void
put_tl (char *at, unsigned ie_type, Py_ssize_t n)
{
  at[0] = (char)(ie_type >> 8);
  at[1] = (char)ie_type;
  at[2] = (char)(n >> 8);
  at[3] = (char)n;
}

/* Raise what codec.py's error(kind, ie_type, length) makes (kinds: 1 vendor type without the
 * enterprise bit, 2 value longer than 65535 octets, 3 a type struct cannot pack: it raises
 * struct's own error). */
static int
encode_error (int kind, PyObject *ie_type, Py_ssize_t n)
{
  PyObject *exc = PyObject_CallFunction (ecfg.error, "iOn", kind, ie_type, n);
  if (exc)
    {
      PyErr_SetObject ((PyObject *)Py_TYPE (exc), exc);
      Py_DECREF (exc);
    }
  return -1;
}

/* The IE type of ie as a TLV type (0-65535), or -1 with the error struct.pack raises. */
static long
tlv_type (PyObject *type_obj, Py_ssize_t n)
{
  long t = PyLong_Check (type_obj) ? PyLong_AsLong (type_obj) : -1;
  if (t >= 0 && t <= 0xFFFF)
    return t;
  PyErr_Clear ();
  encode_error (3, type_obj, n);
  return -1;
}

static int encode_list (buf_t *b, PyObject *ies);

/* Encode shortcuts: the usual IPv4 forms of F-SEID, F-TEID and UE IP Address (per-session,
 * never cached, four of them in every Session Establishment Response) are encoded here from
 * their slots instead of by their Python encode(), into the same octets; any other form (or
 * a field of an unusual type: the shortcut takes exact bools, ints in range and the dotted
 * form inet_pton takes) goes to encode() as before. setup_encode_shortcuts() hands over the
 * classes (the same field tables as the decode shortcuts: sc_fields). */
static shortcut_t encode_shortcuts[SC_COUNT];
static unsigned encode_shortcut_tlv[SC_COUNT]; /* the class's IE type (its ``type``) */

/* The octets of an IPv4 address in text, as inet_pton (AF_INET) reads it: four decimal
 * numbers 0-255 without leading zeros, separated by dots. 1: done; 0: not that form. */
static int
v4_octets (PyObject *text, uint8_t out[4])
{
  if (!PyUnicode_CheckExact (text) || !PyUnicode_IS_ASCII (text))
    return 0;
  Py_ssize_t n = PyUnicode_GET_LENGTH (text);
  const char *p = (const char *)PyUnicode_1BYTE_DATA (text);
  int part = 0, digits = 0;
  unsigned value = 0;
  if (n < 7 || n > 15)
    return 0;
  for (Py_ssize_t i = 0; i < n; i++)
    {
      char c = p[i];
      if (c >= '0' && c <= '9')
        {
          if (digits && value == 0)
            return 0; /* a leading zero */
          value = value * 10 + (unsigned)(c - '0');
          if (value > 255)
            return 0;
          digits++;
        }
      else if (c == '.' && digits && part < 3)
        {
          out[part++] = (uint8_t)value;
          value = 0;
          digits = 0;
        }
      else
        return 0;
    }
  if (!digits || part != 3)
    return 0;
  out[3] = (uint8_t)value;
  return 1;
}

/* An int 0..max (an int subclass too, as struct packs it): 1 with *out set, 0 otherwise. */
static int
uint_in (PyObject *obj, unsigned long long max, unsigned long long *out)
{
  if (!obj || !PyLong_Check (obj))
    return 0;
  unsigned long long v = PyLong_AsUnsignedLongLong (obj);
  if (v == (unsigned long long)-1 && PyErr_Occurred ())
    {
      PyErr_Clear ();
      return 0;
    }
  if (v > max)
    return 0;
  *out = v;
  return 1;
}

static void
put_be (uint8_t *at, unsigned long long v, int n)
{
  for (int i = n - 1; i >= 0; i--, v >>= 8)
    at[i] = (uint8_t)v;
}

/* setup_encode_shortcuts({ie_type: (cls, field names)}): the classes of the encode
 * shortcuts (see encode_shortcut; F-SEID, F-TEID and UE IP Address). Returns the types that
 * have one. */
static PyObject *
py_setup_encode_shortcuts (PyObject *Py_UNUSED (module), PyObject *classes)
{
  return fill_shortcuts (encode_shortcuts, encode_shortcut_tlv, classes, "setup_encode_shortcuts");
}

/* Append ie's TLV when it is of a shortcut's class and in its usual form: 1 done, 0 not
 * taken (nothing appended), -1 error. */
static int
encode_shortcut (buf_t *b, PyObject *ie)
{
  int kind = -1;
  for (int i = 0; i < SC_COUNT; i++)
    if (encode_shortcuts[i].cls && Py_TYPE (ie) == (PyTypeObject *)encode_shortcuts[i].cls)
      kind = i;
  if (kind < 0)
    return 0;
  const shortcut_t *sc = &encode_shortcuts[kind];
  PyObject *f[SC_MAX_FIELDS];
  for (int i = 0; i < sc->n_fields; i++)
    if (!(f[i] = *slot_at (ie, sc->offsets[i])))
      return 0; /* (unset: encode() raises) */
  uint8_t v[13];
  int n;
  unsigned long long x;
  switch (kind)
    {
    case SC_FSEID: /* seid, ipv4, ipv6 */
      if (f[2] != Py_None || !uint_in (f[0], UINT64_MAX, &x) || !v4_octets (f[1], v + 9))
        return 0;
      v[0] = 0x02;
      put_be (v + 1, x, 8);
      n = 13;
      break;
    case SC_FTEID: /* teid, ipv4, ipv6, choose, choose_v4, choose_v6, choose_id */
      if (f[3] != Py_False || f[2] != Py_None || !uint_in (f[0], UINT32_MAX, &x)
          || !v4_octets (f[1], v + 5))
        return 0;
      v[0] = 0x01;
      put_be (v + 1, x, 4);
      n = 9;
      break;
    case SC_UEIP: /* ipv4, ipv6, source, pd bits, prefix length, choose_v4, choose_v6 */
      if (f[1] != Py_None || f[3] != Py_None || f[4] != Py_None || f[6] != Py_False
          || (f[2] != Py_True && f[2] != Py_False) || (f[5] != Py_True && f[5] != Py_False)
          || !v4_octets (f[0], v + 1))
        return 0;
      v[0] = (uint8_t)(0x02 | (f[2] == Py_True ? 0x04 : 0) | (f[5] == Py_True ? 0x10 : 0));
      n = 5;
      break;
    default:
      return 0;
    }
  if (buf_reserve (b, 4 + n) < 0)
    return -1;
  put_tl (b->p + b->len, encode_shortcut_tlv[kind], n);
  memcpy (b->p + b->len + 4, v, (size_t)n);
  b->len += 4 + n;
  return 1;
}

/* Append the TLV of one IE (a new reference held by the caller). */
static int
encode_one (buf_t *b, PyObject *ie)
{
  PyTypeObject *cls = Py_TYPE (ie);
  if ((PyObject *)cls == ecfg.grouped)
    {
      /* (the slots read in place when the walk knows them: see walk_config_t) */
      int in_place = cls == (PyTypeObject *)cfg.grouped && cfg.off_type
                     && *slot_at (ie, cfg.off_ies) && *slot_at (ie, cfg.off_type);
      PyObject *children
        = in_place ? Py_NewRef (*slot_at (ie, cfg.off_ies)) : PyObject_GetAttr (ie, ecfg.str_ies);
      if (!children)
        return -1;
      Py_ssize_t at = b->len;
      int rc = buf_reserve (b, 4);
      if (rc == 0)
        {
          b->len += 4;
          if (Py_EnterRecursiveCall (" in encode_ies"))
            rc = -1;
          else
            {
              rc = encode_list (b, children);
              Py_LeaveRecursiveCall ();
            }
        }
      Py_DECREF (children);
      if (rc < 0)
        return -1;
      Py_ssize_t n = b->len - at - 4;
      PyObject *type_obj = in_place && *slot_at (ie, cfg.off_type)
                             ? Py_NewRef (*slot_at (ie, cfg.off_type))
                             : PyObject_GetAttr (ie, ecfg.str_type);
      if (!type_obj)
        return -1;
      rc = -1;
      if (n > 0xFFFF)
        encode_error (2, type_obj, n);
      else
        {
          long t = tlv_type (type_obj, n);
          if (t >= 0)
            {
              put_tl (b->p + at, (unsigned)t, n);
              rc = 0;
            }
        }
      Py_DECREF (type_obj);
      return rc;
    }
  int taken = encode_shortcut (b, ie); /* (never in the encoding cache: not cacheable) */
  if (taken)
    return taken < 0 ? -1 : 0;
  PyObject *key = PyLong_FromVoidPtr (ie);
  if (!key)
    return -1;
  PyObject *entry = PyDict_GetItemWithError (ecfg.encoded, key); /* borrowed */
  if (entry && PyTuple_CheckExact (entry) && PyTuple_GET_SIZE (entry) == 2
      && PyTuple_GET_ITEM (entry, 0) == ie && PyBytes_CheckExact (PyTuple_GET_ITEM (entry, 1)))
    {
      PyObject *octets = PyTuple_GET_ITEM (entry, 1);
      Py_DECREF (key);
      return buf_put (b, PyBytes_AS_STRING (octets), PyBytes_GET_SIZE (octets));
    }
  if (PyErr_Occurred ())
    {
      Py_DECREF (key);
      return -1;
    }
  int rc = -1;
  Py_buffer value = { 0 };
  PyObject *type_obj = NULL, *tlv = NULL;
  PyObject *value_obj = PyObject_CallMethodNoArgs (ie, ecfg.str_encode);
  if (!value_obj || PyObject_GetBuffer (value_obj, &value, PyBUF_SIMPLE) < 0)
    goto out;
  type_obj = PyObject_GetAttr (ie, ecfg.str_type);
  if (!type_obj)
    goto out;
  Py_ssize_t n = value.len;
  if ((PyObject *)cls == ecfg.vendor)
    {
      /* (type & 0x8000, as Python computes it) */
      PyObject *bit = PyNumber_And (type_obj, ecfg.enterprise_bit);
      int has_bit = bit ? PyObject_IsTrue (bit) : -1;
      Py_XDECREF (bit);
      if (has_bit < 0)
        goto out;
      if (!has_bit)
        {
          encode_error (1, type_obj, n);
          goto out;
        }
    }
  if (n > 0xFFFF)
    {
      encode_error (2, type_obj, n);
      goto out;
    }
  long t = tlv_type (type_obj, n);
  if (t < 0)
    goto out;
  /* Kept when the IE is held elsewhere too (more than the caller's list and this call). */
  if (n <= ecfg.max_value && Py_REFCNT (ie) > 2)
    {
      PyObject *flag = PyObject_GetAttr ((PyObject *)cls, ecfg.str_cacheable);
      int cacheable = flag ? PyObject_IsTrue (flag) : -1;
      Py_XDECREF (flag);
      if (cacheable < 0)
        goto out;
      if (cacheable)
        {
          if (PyDict_GET_SIZE (ecfg.encoded) >= ecfg.max_entries)
            PyDict_Clear (ecfg.encoded);
          tlv = PyBytes_FromStringAndSize (NULL, 4 + n);
          if (!tlv)
            goto out;
          put_tl (PyBytes_AS_STRING (tlv), (unsigned)t, n);
          memcpy (PyBytes_AS_STRING (tlv) + 4, value.buf, (size_t)n);
          PyObject *pair = PyTuple_Pack (2, ie, tlv);
          if (!pair || PyDict_SetItem (ecfg.encoded, key, pair) < 0)
            {
              Py_XDECREF (pair);
              goto out;
            }
          Py_DECREF (pair);
          rc = buf_put (b, PyBytes_AS_STRING (tlv), 4 + n);
          goto out;
        }
    }
  if (buf_reserve (b, 4 + n) == 0)
    {
      put_tl (b->p + b->len, (unsigned)t, n);
      memcpy (b->p + b->len + 4, value.buf, (size_t)n);
      b->len += 4 + n;
      rc = 0;
    }
out:
  if (value.obj)
    PyBuffer_Release (&value);
  Py_XDECREF (value_obj);
  Py_XDECREF (type_obj);
  Py_XDECREF (tlv);
  Py_DECREF (key);
  return rc;
}

static int
encode_list (buf_t *b, PyObject *ies)
{
  PyObject *seq = PySequence_Fast (ies, "encode_ies: the IEs must be a sequence");
  if (!seq)
    return -1;
  int rc = 0;
  for (Py_ssize_t i = 0; rc == 0 && i < PySequence_Fast_GET_SIZE (seq); i++)
    {
      PyObject *ie = PySequence_Fast_GET_ITEM (seq, i);
      Py_INCREF (ie);
      rc = encode_one (b, ie);
      Py_DECREF (ie);
    }
  Py_DECREF (seq);
  return rc;
}

static PyObject *
py_encode_ies (PyObject *Py_UNUSED (module), PyObject *ies)
{
  if (!ecfg.error)
    {
      PyErr_SetString (PyExc_RuntimeError, "encode_ies: setup_encoder() not called");
      return NULL;
    }
  buf_t b = { 0 };
  PyObject *out = NULL;
  if (encode_list (&b, ies) == 0)
    out = PyBytes_FromStringAndSize (b.p ? b.p : "", b.len);
  PyMem_Free (b.p);
  return out;
}

static PyObject *
py_setup_encoder (PyObject *Py_UNUSED (module), PyObject *args)
{
  encode_config_t c = { 0 };
  if (!PyArg_ParseTuple (args, "OOO!nnO:setup_encoder", &c.grouped, &c.vendor, &PyDict_Type,
                         &c.encoded, &c.max_entries, &c.max_value, &c.error))
    return NULL;
  if (!PyType_Check (c.grouped) || !PyType_Check (c.vendor) || c.max_entries < 1)
    {
      PyErr_SetString (PyExc_TypeError, "setup_encoder: two types, max_entries >= 1");
      return NULL;
    }
  if (!ecfg.str_type)
    {
      ecfg.str_type = PyUnicode_InternFromString ("type");
      ecfg.str_ies = PyUnicode_InternFromString ("ies");
      ecfg.str_encode = PyUnicode_InternFromString ("encode");
      ecfg.str_cacheable = PyUnicode_InternFromString ("CACHEABLE");
      ecfg.enterprise_bit = PyLong_FromLong (0x8000);
      if (!ecfg.str_type || !ecfg.str_ies || !ecfg.str_encode || !ecfg.str_cacheable
          || !ecfg.enterprise_bit)
        return NULL;
    }
  PyObject **fields[] = { &c.grouped, &c.vendor, &c.encoded, &c.error };
  PyObject **old[] = { &ecfg.grouped, &ecfg.vendor, &ecfg.encoded, &ecfg.error };
  for (size_t i = 0; i < sizeof (fields) / sizeof (fields[0]); i++)
    {
      Py_INCREF (*fields[i]);
      Py_XSETREF (*old[i], *fields[i]);
    }
  ecfg.max_entries = c.max_entries;
  ecfg.max_value = c.max_value;
  Py_RETURN_NONE;
}

/* ---- The shape of a Session Establishment Request (session/shapes.py) ---- */

/* TS 29.244 IE types: Create FAR, Forwarding Parameters, Outer Header Creation. */
enum
{
  IE_CREATE_FAR = 3,
  IE_FORWARDING_PARAMETERS = 4,
  IE_OUTER_HEADER_CREATION = 84,
};

/* ---- Messages: header.decode_header, and codec.decode_datagram and codec.encode for a
 * datagram of one message, the usual case, in one call each ----
 *
 * header(data[, offset]) -> the Header at offset, or None when it is not a whole valid
 *   PFCP v1 header of a known message type (decode_header then says what is wrong);
 * message(data, header) -> the Message of data whose Header (at offset 0) is header: its
 *   IEs walked as walk() does, with the same errors (None: header not made by header());
 * decode_datagram(data, header=None) -> codec.decode_datagram: [message()] for a datagram
 *   of one message (no FO), the general code (Python, setup_datagram()) for the others;
 * encode_message(msg, follow_on) -> the datagram encode(msg, follow_on) makes, or None when
 *   the header fields are not the usual ones (no priority, a sequence number and a SEID
 *   in range, the datagram's length within 16 bits: encode then does it, or raises); of
 *   a Message, or of an EncodedMessage (setup_encoded()) whose body octets are unread;
 * setup_messages(Header, Message, known message types) hands over the classes: both slots
 * dataclasses, made here by setting their slots as their __init__ does. */

enum
{
  H_MSG_TYPE,
  H_SEQ,
  H_SEID,
  H_PRIORITY,
  H_FOLLOW_ON,
  H_VERSION,
  H_LENGTH,
  H_COUNT
};
static const char *const header_fields[]
  = { "msg_type", "seq", "seid", "priority", "follow_on", "version", "length", NULL };
enum
{
  M_MSG_TYPE,
  M_SEQ,
  M_IES,
  M_SEID,
  M_PRIORITY,
  M_IGNORED,
  M_COUNT
};
static const char *const message_fields[]
  = { "msg_type", "seq", "ies", "seid", "priority", "ignored", NULL };

typedef struct
{
  PyObject *cls; /* NULL: not set up */
  int n;
  Py_ssize_t off[H_COUNT];
} class_slots_t;

static class_slots_t header_class, message_class;
/* A Message subclass whose IEs are their octets (encoded.EncodedMessage: setup_encoded) and
 * the offset of that octets slot (``body``: bytes, or None once its IEs were read); cleared
 * by setup_messages. */
static PyObject *encoded_class;
static Py_ssize_t encoded_body_off;
static uint8_t known_messages[MESSAGE_TYPES];

/* cs = the slots of cls named names: 1, or 0 when one is not a plain object slot or when
 * fields (the names of the dataclass's fields, in order) are not exactly names: an object
 * made here sets every field, and nothing else (tp_alloc runs no __init__). */
static int
class_slots (class_slots_t *cs, PyObject *cls, const char *const *names, PyObject *fields)
{
  Py_CLEAR (cs->cls);
  int n = 0;
  for (; names[n]; n++)
    {
      if (n >= PyTuple_GET_SIZE (fields))
        return 0;
      PyObject *field = PyTuple_GET_ITEM (fields, n);
      if (!PyUnicode_Check (field) || PyUnicode_CompareWithASCIIString (field, names[n]) != 0)
        return 0;
      PyObject *name = PyUnicode_InternFromString (names[n]);
      if (!name)
        return -1;
      cs->off[n] = object_slot_offset (cls, name);
      Py_DECREF (name);
      if (!cs->off[n])
        return 0;
    }
  if (n != PyTuple_GET_SIZE (fields))
    return 0;
  cs->n = n;
  cs->cls = Py_NewRef (cls);
  return 1;
}

/* An instance of cs's class with its slots set to f[] (new references, taken over; a NULL
 * among them: an exception is set, everything is released). */
static PyObject *
new_with_slots (const class_slots_t *cs, PyObject **f)
{
  PyObject *obj = NULL;
  int ok = 1;
  for (int i = 0; i < cs->n; i++)
    ok &= f[i] != NULL;
  if (ok)
    obj = ((PyTypeObject *)cs->cls)->tp_alloc ((PyTypeObject *)cs->cls, 0);
  for (int i = 0; i < cs->n; i++)
    {
      if (obj)
        *slot_at (obj, cs->off[i]) = f[i]; /* (tp_alloc zeroed the slots) */
      else
        Py_XDECREF (f[i]);
    }
  return obj;
}

static PyObject *
py_setup_messages (PyObject *Py_UNUSED (module), PyObject *args)
{
  PyObject *header, *message, *known, *header_names, *message_names;
  if (!PyArg_ParseTuple (args, "O!O!OO!O!:setup_messages", &PyType_Type, &header, &PyType_Type,
                         &message, &known, &PyTuple_Type, &header_names, &PyTuple_Type,
                         &message_names))
    return NULL;
  /* encode_message reads an encoded_class instance through message_class's slot offsets:
   * another Message class would leave them another layout's (setup_encoded again after). */
  Py_CLEAR (encoded_class);
  encoded_body_off = 0;
  typeset_t set;
  memset (&set, 0, sizeof (set));
  if (fill_typeset (&set, known) < 0)
    return NULL;
  for (unsigned t = 0; t < MESSAGE_TYPES; t++)
    known_messages[t] = (uint8_t)typeset_has (&set, t);
  int h = class_slots (&header_class, header, header_fields, header_names);
  int m = h < 0 ? -1 : class_slots (&message_class, message, message_fields, message_names);
  if (h < 0 || m < 0)
    {
      Py_CLEAR (header_class.cls);
      Py_CLEAR (message_class.cls);
      return NULL;
    }
  return PyBool_FromLong (h && m);
}

static PyObject *
py_header (PyObject *Py_UNUSED (module), PyObject *const *args, Py_ssize_t nargs)
{
  if (nargs < 1 || nargs > 2)
    {
      PyErr_SetString (PyExc_TypeError, "header(data[, offset])");
      return NULL;
    }
  Py_ssize_t offset = 0;
  if (nargs == 2)
    {
      if (!PyLong_CheckExact (args[1]))
        Py_RETURN_NONE;
      offset = PyLong_AsSsize_t (args[1]);
      if (offset == -1 && PyErr_Occurred ())
        {
          PyErr_Clear ();
          Py_RETURN_NONE;
        }
    }
  PyObject *data = args[0];
  if (!header_class.cls || !PyBytes_CheckExact (data) || offset < 0
      || PyBytes_GET_SIZE (data) - offset < 4)
    Py_RETURN_NONE;
  Py_ssize_t avail = PyBytes_GET_SIZE (data) - offset;
  const uint8_t *p = (const uint8_t *)PyBytes_AS_STRING (data) + offset;
  unsigned flags = p[0], msg_type = p[1];
  Py_ssize_t length = (Py_ssize_t)be16 (p + 2);
  int has_seid = flags & 0x01;
  Py_ssize_t needed = has_seid ? 16 : 8;
  if (length + 4 < needed || avail < needed || flags >> 5 != 1 || !known_messages[msg_type]
      || avail < length + 4)
    Py_RETURN_NONE;
  uint32_t seq_word = be32 (p + (has_seid ? 12 : 4));
  PyObject *f[H_COUNT];
  f[H_MSG_TYPE] = PyLong_FromLong (msg_type);
  f[H_SEQ] = PyLong_FromUnsignedLong (seq_word >> 8);
  f[H_SEID]
    = has_seid ? PyLong_FromUnsignedLongLong ((unsigned long long)be32 (p + 4) << 32 | be32 (p + 8))
               : NONE;
  f[H_PRIORITY] = flags & 0x02 ? PyLong_FromLong ((seq_word & 0xFF) >> 4) : NONE;
  f[H_FOLLOW_ON] = BOOL_OF (flags & 0x04);
  f[H_VERSION] = PyLong_FromLong (1);
  f[H_LENGTH] = PyLong_FromSsize_t (length);
  return new_with_slots (&header_class, f);
}

static PyObject *
py_message (PyObject *Py_UNUSED (module), PyObject *const *args, Py_ssize_t nargs)
{
  if (nargs != 2)
    {
      PyErr_SetString (PyExc_TypeError, "message(data, header)");
      return NULL;
    }
  if (!cfg.error)
    {
      PyErr_SetString (PyExc_RuntimeError, "pfcpd.pfcp._walk: setup() was not called");
      return NULL;
    }
  PyObject *data = args[0], *header = args[1];
  if (!message_class.cls || !header_class.cls || !PyBytes_CheckExact (data)
      || Py_TYPE (header) != (PyTypeObject *)header_class.cls)
    Py_RETURN_NONE;
  PyObject *type_obj = *slot_at (header, header_class.off[H_MSG_TYPE]);
  PyObject *seq = *slot_at (header, header_class.off[H_SEQ]);
  PyObject *seid = *slot_at (header, header_class.off[H_SEID]);
  PyObject *priority = *slot_at (header, header_class.off[H_PRIORITY]);
  PyObject *length = *slot_at (header, header_class.off[H_LENGTH]);
  unsigned long long msg_type, n;
  if (!type_obj || !seq || !seid || !priority || !uint_in (type_obj, INT_MAX, &msg_type)
      || !uint_in (length, 0xFFFF, &n))
    Py_RETURN_NONE;
  Py_ssize_t start = seid == Py_None ? 8 : 16, end = 4 + (Py_ssize_t)n;
  if (end > PyBytes_GET_SIZE (data) || start > end)
    Py_RETURN_NONE;
  walk_t w = { 0 };
  w.data = (const uint8_t *)PyBytes_AS_STRING (data);
  const spec_t *spec = msg_type < MESSAGE_TYPES ? cfg.messages[msg_type] : NULL;
  /* (the header's values held before the walk, which calls Python decoders) */
  PyObject *f[M_COUNT]
    = { Py_NewRef (type_obj), Py_NewRef (seq), NULL, Py_NewRef (seid), Py_NewRef (priority), NULL };
  PyObject *ies = w.within = ie_list (w.data, start, end);
  w.ignored = PyList_New (0);
  if (!ies || !w.ignored || walk (&w, start, end, spec, ies, 0) < 0)
    {
      Py_XDECREF (ies);
      Py_XDECREF (w.ignored);
      for (int i = 0; i < M_COUNT; i++)
        Py_XDECREF (f[i]);
      return NULL;
    }
  f[M_IES] = ies;
  f[M_IGNORED] = w.ignored;
  return new_with_slots (&message_class, f);
}

/* decode_datagram(data, header=None): codec.decode_datagram. The usual case (one message,
 * no FO, its Header made by header()) is message()'s, here; anything else (or message()
 * saying None) goes to the general code, the Python function setup_datagram() handed over,
 * called with the same arguments. A CodecError gets the header and decoded_before ([]) as
 * the general code sets them. */
static PyObject *decode_datagram_general;

static PyObject *
py_decode_datagram (PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
  if (!decode_datagram_general)
    {
      PyErr_SetString (PyExc_RuntimeError, "pfcpd.pfcp._walk: setup_datagram() was not called");
      return NULL;
    }
  if (nargs == 2 && !kwnames && header_class.cls
      && Py_TYPE (args[1]) == (PyTypeObject *)header_class.cls
      && *slot_at (args[1], header_class.off[H_FOLLOW_ON]) == Py_False)
    {
      PyObject *msg = py_message (module, args, 2);
      if (!msg)
        {
          if (cfg.codec_error && PyErr_ExceptionMatches (cfg.codec_error))
            {
              PyObject *exc = fetch_exception (), *before = PyList_New (0);
              if (before && PyObject_SetAttrString (exc, "header", args[1]) == 0
                  && PyObject_SetAttrString (exc, "decoded_before", before) == 0)
                restore_exception (exc);
              else
                Py_DECREF (exc);
              Py_XDECREF (before);
            }
          return NULL;
        }
      if (msg != Py_None)
        {
          PyObject *out = PyList_New (1);
          if (!out)
            {
              Py_DECREF (msg);
              return NULL;
            }
          PyList_SET_ITEM (out, 0, msg);
          return out;
        }
      Py_DECREF (msg);
    }
  return PyObject_Vectorcall (decode_datagram_general, args, (size_t)nargs, kwnames);
}

static PyObject *
py_setup_datagram (PyObject *Py_UNUSED (module), PyObject *general)
{
  if (!PyCallable_Check (general))
    {
      PyErr_SetString (PyExc_TypeError, "setup_datagram: a callable");
      return NULL;
    }
  Py_XSETREF (decode_datagram_general, Py_NewRef (general));
  Py_RETURN_NONE;
}

/* The datagram of a message whose IEs are body (bytes): its header (header_len octets, the
 * fields as encode_message checked them), then body; Py_None (new reference) when its length
 * does not fit in 16 bits (encode then raises). */
static PyObject *
encoded_datagram (PyObject *body, Py_ssize_t header_len, unsigned long long msg_type,
                  unsigned long long seq_number, int has_seid, unsigned long long seid_value,
                  int follow_on)
{
  Py_ssize_t n = PyBytes_GET_SIZE (body);
  Py_ssize_t length = header_len - 4 + n;
  if (length > 0xFFFF)
    Py_RETURN_NONE;
  PyObject *out = PyBytes_FromStringAndSize (NULL, header_len + n);
  if (!out)
    return NULL;
  uint8_t *h = (uint8_t *)PyBytes_AS_STRING (out);
  h[0] = (uint8_t)(0x20 | (follow_on ? 0x04 : 0) | has_seid);
  h[1] = (uint8_t)msg_type;
  put_be (h + 2, (unsigned long long)length, 2);
  if (has_seid)
    put_be (h + 4, seid_value, 8);
  put_be (h + header_len - 4, seq_number << 8, 4);
  memcpy (h + header_len, PyBytes_AS_STRING (body), (size_t)n);
  return out;
}

/* setup_encoded(cls): cls is encoded.EncodedMessage (a subclass of the Message class
 * setup_messages was given, with a plain object slot ``body``): encode_message writes its
 * ``body`` octets, when bytes, after the header. False (and nothing set up) for a class
 * without that slot. */
static PyObject *
py_setup_encoded (PyObject *Py_UNUSED (module), PyObject *cls)
{
  Py_CLEAR (encoded_class);
  encoded_body_off = 0;
  if (!PyType_Check (cls) || !message_class.cls
      || !PyType_IsSubtype ((PyTypeObject *)cls, (PyTypeObject *)message_class.cls))
    Py_RETURN_FALSE;
  PyObject *name = PyUnicode_InternFromString ("body");
  if (!name)
    return NULL;
  Py_ssize_t off = object_slot_offset (cls, name);
  Py_DECREF (name);
  if (!off)
    Py_RETURN_FALSE;
  encoded_body_off = off;
  encoded_class = Py_NewRef (cls);
  Py_RETURN_TRUE;
}

static PyObject *
py_encode_message (PyObject *Py_UNUSED (module), PyObject *const *args, Py_ssize_t nargs)
{
  if (nargs != 2)
    {
      PyErr_SetString (PyExc_TypeError, "encode_message(msg, follow_on)");
      return NULL;
    }
  if (!ecfg.error)
    {
      PyErr_SetString (PyExc_RuntimeError, "encode_ies: setup_encoder() not called");
      return NULL;
    }
  PyObject *msg = args[0], *follow_on = args[1];
  if (!message_class.cls || (follow_on != Py_True && follow_on != Py_False))
    Py_RETURN_NONE;
  /* body: an EncodedMessage's IE octets, written as they are; else NULL, and ies encoded */
  PyObject *body = NULL;
  if (Py_TYPE (msg) != (PyTypeObject *)message_class.cls)
    {
      if (!encoded_class || Py_TYPE (msg) != (PyTypeObject *)encoded_class)
        Py_RETURN_NONE;
      body = *slot_at (msg, encoded_body_off);
      if (!body || !PyBytes_CheckExact (body))
        Py_RETURN_NONE; /* (its IEs were read: encode them) */
    }
  PyObject *type_obj = *slot_at (msg, message_class.off[M_MSG_TYPE]);
  PyObject *seq = *slot_at (msg, message_class.off[M_SEQ]);
  PyObject *ies = *slot_at (msg, message_class.off[M_IES]);
  PyObject *seid = *slot_at (msg, message_class.off[M_SEID]);
  PyObject *priority = *slot_at (msg, message_class.off[M_PRIORITY]);
  unsigned long long msg_type, seq_number, seid_value = 0;
  if ((!body && !ies) || !seid || priority != Py_None || !uint_in (type_obj, 0xFF, &msg_type)
      || !uint_in (seq, 0xFFFFFF, &seq_number))
    Py_RETURN_NONE;
  int has_seid = seid != Py_None;
  if (has_seid ? !uint_in (seid, UINT64_MAX, &seid_value) : (msg_type >= 50 && msg_type <= 57))
    Py_RETURN_NONE; /* (a session message needs a SEID: encode says so) */
  Py_ssize_t header_len = has_seid ? 16 : 8;
  if (body)
    return encoded_datagram (body, header_len, msg_type, seq_number, has_seid, seid_value,
                             follow_on == Py_True);
  buf_t b = { 0 };
  PyObject *out = NULL;
  Py_INCREF (ies);
  if (buf_reserve (&b, header_len) == 0)
    {
      b.len = header_len;
      if (encode_list (&b, ies) == 0)
        {
          Py_ssize_t length = b.len - 4;
          if (length > 0xFFFF)
            out = Py_NewRef (Py_None); /* (encode's header raises) */
          else
            {
              uint8_t *h = (uint8_t *)b.p;
              h[0] = (uint8_t)(0x20 | (follow_on == Py_True ? 0x04 : 0) | has_seid);
              h[1] = (uint8_t)msg_type;
              put_be (h + 2, (unsigned long long)length, 2);
              if (has_seid)
                put_be (h + 4, seid_value, 8);
              put_be (h + header_len - 4, seq_number << 8, 4);
              out = PyBytes_FromStringAndSize (b.p, b.len);
            }
        }
    }
  Py_DECREF (ies);
  PyMem_Free (b.p);
  return out;
}

/* shapes.far_shape of the TLV octets raw[0:n] of a Create FAR: a new bytes object, Py_None
 * (new reference) when its first Forwarding Parameters has no Outer Header Creation or it has
 * no Forwarding Parameters, NULL with ValueError when the octets are no well-formed TLVs. */
static PyObject *
far_shape_of (const uint8_t *raw, Py_ssize_t n)
{
  Py_ssize_t at = 4;
  while (at < n)
    {
      if (n - at < 4)
        goto malformed;
      unsigned ie_type = be16 (raw + at), length = be16 (raw + at + 2);
      Py_ssize_t stop = at + 4 + length;
      if (stop > n)
        goto malformed;
      if (ie_type != IE_FORWARDING_PARAMETERS)
        {
          at = stop;
          continue;
        }
      for (Py_ssize_t inner = at + 4; inner < stop;)
        {
          if (stop - inner < 4)
            goto malformed;
          Py_ssize_t child_stop = inner + 4 + be16 (raw + inner + 2);
          if (child_stop > stop)
            goto malformed;
          if (be16 (raw + inner) != IE_OUTER_HEADER_CREATION)
            {
              inner = child_stop;
              continue;
            }
          /* raw without the child's TLV, the lengths of the group and of the Forwarding
           * Parameters shortened by it */
          Py_ssize_t cut = child_stop - inner;
          PyObject *shape = PyBytes_FromStringAndSize (NULL, n - cut);
          if (!shape)
            return NULL;
          char *out = PyBytes_AS_STRING (shape);
          memcpy (out, raw, (size_t)inner);
          memcpy (out + inner, raw + child_stop, (size_t)(n - child_stop));
          put_tl (out, be16 (raw), n - cut - 4);
          put_tl (out + at, ie_type, length - cut);
          return shape;
        }
      Py_RETURN_NONE;
    }
  Py_RETURN_NONE;
malformed:
  PyErr_SetString (PyExc_ValueError, "far_shape: the octets are not a well-formed group");
  return NULL;
}

static PyObject *
py_far_shape (PyObject *Py_UNUSED (module), PyObject *raw)
{
  if (!PyBytes_Check (raw))
    {
      PyErr_SetString (PyExc_TypeError, "far_shape: raw must be bytes");
      return NULL;
    }
  return far_shape_of ((const uint8_t *)PyBytes_AS_STRING (raw), PyBytes_GET_SIZE (raw));
}

static PyObject *str_encode;

/* The element of establishment_key for one IE of the request (a new reference), Py_None
 * (borrowed: the request has no key) for a group without octets, or NULL with an exception;
 * *skip set for a leaf not among leaves. */
static PyObject *
key_part (PyObject *ie, PyObject *leaves, int *skip)
{
  PyObject *type = NULL, *raw = NULL, *part = NULL;
  *skip = 0;
  if (PyObject_TypeCheck (ie, (PyTypeObject *)cfg.grouped))
    {
      if (cfg.off_type && Py_IS_TYPE (ie, (PyTypeObject *)cfg.grouped)
          && *slot_at (ie, cfg.off_type) && *slot_at (ie, cfg.off_raw))
        {
          type = Py_NewRef (*slot_at (ie, cfg.off_type));
          raw = Py_NewRef (*slot_at (ie, cfg.off_raw));
        }
      else if (!(type = PyObject_GetAttr (ie, cfg.str_type))
               || !(raw = PyObject_GetAttr (ie, cfg.str_raw)))
        goto done;
      if (raw == Py_None)
        {
          part = Py_None;
          goto done;
        }
      if (!PyBytes_Check (raw))
        {
          PyErr_SetString (PyExc_TypeError, "establishment_key: a group's raw must be bytes");
          goto done;
        }
      int overflow = 0;
      long t = PyLong_Check (type) ? PyLong_AsLongAndOverflow (type, &overflow) : -1;
      if (t == -1 && PyErr_Occurred ())
        goto done;
      PyObject *shape = Py_NewRef (Py_None);
      if (t == IE_CREATE_FAR)
        {
          Py_DECREF (shape);
          shape = far_shape_of ((const uint8_t *)PyBytes_AS_STRING (raw), PyBytes_GET_SIZE (raw));
          if (!shape)
            goto done;
        }
      if (shape == Py_None)
        part = Py_NewRef (raw);
      else
        part = PyTuple_Pack (2, cfg.type_objs[IE_OUTER_HEADER_CREATION], shape);
      Py_DECREF (shape);
      goto done;
    }
  if (!(type = PyObject_GetAttr (ie, cfg.str_type)))
    goto done;
  int leaf = PySequence_Contains (leaves, type);
  if (leaf < 0)
    goto done;
  if (!leaf)
    {
      *skip = 1;
      goto done;
    }
  PyObject *value = PyObject_CallMethodNoArgs (ie, str_encode);
  if (value)
    {
      part = PyTuple_Pack (2, type, value);
      Py_DECREF (value);
    }
done:
  Py_XDECREF (type);
  Py_XDECREF (raw);
  return part;
}

/* establishment_key(ies, leaves): shapes.establishment_key of a request's IEs that the codec
 * set none aside of (see there). */
static PyObject *
py_establishment_key (PyObject *Py_UNUSED (module), PyObject *const *args, Py_ssize_t nargs)
{
  if (nargs != 2 || !PyList_Check (args[0]))
    {
      PyErr_SetString (PyExc_TypeError, "establishment_key(ies: list, leaves)");
      return NULL;
    }
  if (!cfg.grouped)
    {
      PyErr_SetString (PyExc_RuntimeError, "pfcpd.pfcp._walk: setup() was not called");
      return NULL;
    }
  PyObject *ies = args[0], *key = PyTuple_New (PyList_GET_SIZE (ies));
  Py_ssize_t n = 0;
  for (Py_ssize_t i = 0; key && i < PyList_GET_SIZE (ies); i++)
    {
      int skip;
      PyObject *ie = Py_NewRef (PyList_GET_ITEM (ies, i));
      PyObject *part = key_part (ie, args[1], &skip);
      Py_DECREF (ie);
      if (part == Py_None)
        {
          Py_DECREF (key);
          Py_RETURN_NONE;
        }
      if (!part && !skip)
        Py_CLEAR (key);
      else if (part && n == PyTuple_GET_SIZE (key))
        {
          /* (encode() grew the list) */
          Py_DECREF (part);
          Py_CLEAR (key);
          PyErr_SetString (PyExc_RuntimeError, "establishment_key: the IEs changed meanwhile");
        }
      else if (part)
        PyTuple_SET_ITEM (key, n++, part);
    }
  if (key && n < PyTuple_GET_SIZE (key) && _PyTuple_Resize (&key, n) < 0)
    return NULL;
  return key;
}

/* ---- IEList.get / IEList.get_all (ie.py): the first IE of a type, every IE of a type ---- */

static PyObject *str_list_ies, *str_list_type;

/* obj.name (a new reference), read without the generic lookup's machinery where it is a
 * plain object slot or a class attribute that is no descriptor on a class without instance
 * dicts, as that lookup would find it; NULL and no exception set: look it up. The IEs read
 * (a Grouped's or a Message's slots, the typed IE classes' ``type``) are of these kinds. */
static PyObject *
attr_fast (PyObject *obj, PyObject *name)
{
  PyTypeObject *tp = Py_TYPE (obj);
  if (tp->tp_getattro != PyObject_GenericGetAttr)
    return NULL;
  PyObject *descr = _PyType_Lookup (tp, name); /* (borrowed) */
  if (!descr)
    return NULL;
  if (Py_IS_TYPE (descr, &PyMemberDescr_Type))
    {
      PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
      if (m->type != T_OBJECT_EX || (m->flags & READ_RESTRICTED))
        return NULL;
      return Py_XNewRef (*slot_at (obj, m->offset)); /* (NULL, unset: the lookup raises) */
    }
  if (Py_TYPE (descr)->tp_descr_get || tp->tp_dictoffset
      || (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT))
    return NULL;
  return Py_NewRef (descr);
}

static PyObject *
attr_of (PyObject *obj, PyObject *name)
{
  PyObject *v = attr_fast (obj, name);
  return v ? v : PyObject_GetAttr (obj, name);
}

/* The IEs of self (its ies, as a list or tuple: a new reference), or NULL. */
static PyObject *
list_of (PyObject *self)
{
  PyObject *ies = attr_of (self, str_list_ies);
  if (!ies || PyList_CheckExact (ies))
    return ies;
  PyObject *seq = PySequence_Fast (ies, "ies must be a sequence");
  Py_DECREF (ies);
  return seq;
}

/* a == b for two ints (int subclasses too: IEType) compared as int compares them, values
 * within a long: 1 or 0; -1: not such a pair (PyObject_RichCompareBool decides). */
static int
int_equal (PyObject *a, PyObject *b)
{
  richcmpfunc cmp = PyLong_Type.tp_richcompare;
  int overflow_a, overflow_b;
  if (!PyLong_Check (a) || !PyLong_Check (b) || Py_TYPE (a)->tp_richcompare != cmp
      || Py_TYPE (b)->tp_richcompare != cmp)
    return -1;
  long x = PyLong_AsLongAndOverflow (a, &overflow_a);
  long y = PyLong_AsLongAndOverflow (b, &overflow_b);
  if (overflow_a || overflow_b)
    return -1;
  return x == y;
}

/* ie.type == ie_type: 1, 0, or -1 with an exception. */
static int
has_type (PyObject *ie, PyObject *ie_type)
{
  PyObject *t = attr_of (ie, str_list_type);
  if (!t)
    return -1;
  int eq = t == ie_type ? 1 : int_equal (t, ie_type);
  if (eq < 0)
    eq = PyObject_RichCompareBool (t, ie_type, Py_EQ);
  Py_DECREF (t);
  return eq;
}

static PyObject *
py_ielist_get (PyObject *Py_UNUSED (module), PyObject *const *args, Py_ssize_t nargs)
{
  if (nargs != 2)
    {
      PyErr_SetString (PyExc_TypeError, "get(ie_type) takes one argument");
      return NULL;
    }
  PyObject *seq = list_of (args[0]);
  if (!seq)
    return NULL;
  PyObject *found = NULL;
  int eq = 0;
  for (Py_ssize_t i = 0; eq == 0 && i < PySequence_Fast_GET_SIZE (seq); i++)
    {
      PyObject *ie = PySequence_Fast_GET_ITEM (seq, i);
      Py_INCREF (ie);
      eq = has_type (ie, args[1]);
      if (eq > 0)
        found = ie;
      else
        Py_DECREF (ie);
    }
  Py_DECREF (seq);
  if (eq < 0)
    return NULL;
  if (!found)
    Py_RETURN_NONE;
  return found;
}

static PyObject *
py_ielist_get_all (PyObject *Py_UNUSED (module), PyObject *const *args, Py_ssize_t nargs)
{
  if (nargs != 2)
    {
      PyErr_SetString (PyExc_TypeError, "get_all(ie_type) takes one argument");
      return NULL;
    }
  PyObject *seq = list_of (args[0]);
  if (!seq)
    return NULL;
  PyObject *out = PyList_New (0);
  for (Py_ssize_t i = 0; out && i < PySequence_Fast_GET_SIZE (seq); i++)
    {
      PyObject *ie = PySequence_Fast_GET_ITEM (seq, i);
      Py_INCREF (ie);
      int eq = has_type (ie, args[1]);
      if (eq < 0 || (eq > 0 && PyList_Append (out, ie) < 0))
        Py_CLEAR (out);
      Py_DECREF (ie);
    }
  Py_DECREF (seq);
  return out;
}

static PyMethodDef ielist_get_def
  = { "get", (PyCFunction)(void (*) (void))py_ielist_get, METH_FASTCALL,
      "get(ie_type) -> the first IE of that type, or None" };
static PyMethodDef ielist_get_all_def
  = { "get_all", (PyCFunction)(void (*) (void))py_ielist_get_all, METH_FASTCALL,
      "get_all(ie_type) -> every IE of that type, in order" };

/* module.name = an instance method (bound to the instance, as a function in a class body)
 * calling def. */
static int
add_method (PyObject *module, const char *name, PyMethodDef *def)
{
  PyObject *func = PyCFunction_New (def, NULL);
  if (!func)
    return -1;
  PyObject *method = PyInstanceMethod_New (func);
  Py_DECREF (func);
  if (!method)
    return -1;
  int rc = PyModule_AddObject (module, name, method);
  if (rc < 0)
    Py_DECREF (method);
  return rc;
}

static PyMethodDef walk_methods[] = {
  { "walk", (PyCFunction)(void (*) (void))py_walk, METH_FASTCALL,
    "walk(data, start, end, msg_type, ignored) -> the IEs of data[start:end]" },
  { "decode_ies", (PyCFunction)(void (*) (void))py_decode_ies, METH_FASTCALL | METH_KEYWORDS,
    "decode_ies(data, start, end, ignored=None) -> the IEs of data[start:end] (see codec.py)" },
  { "cache_bytes", py_cache_bytes, METH_NOARGS,
    "cache_bytes() -> what the decode cache's entries cost now, in bytes (its account)" },
  { "cache_entries", py_cache_entries, METH_NOARGS,
    "cache_entries() -> the decode cache's entries: [(TLV octets, IE or template group)]" },
  { "cache_clear", py_cache_clear, METH_NOARGS, "cache_clear(): empty the decode cache" },
  { "cache_hash_bits", py_cache_hash_bits, METH_O,
    "cache_hash_bits(bits): keep the low bits of the decode cache's hash (tests: collisions)" },
  { "setup", py_setup, METH_VARARGS,
    "setup(decoders, known, cacheable, groups, allowed_children, messages, allowed_ies, "
    "cache_max_bytes, Grouped, RawIE, VendorIE, short_errors, value_errors, CodecError, error, "
    "in_group, ignore)" },
  { "setup_shortcuts", py_setup_shortcuts, METH_O,
    "setup_shortcuts({ie_type: (class, field names)}) -> the IE types that have a shortcut" },
  { "encode_ies", py_encode_ies, METH_O,
    "encode_ies(ies) -> the TLV octets of the IEs (see codec.encode_ies)" },
  { "setup_encoder", py_setup_encoder, METH_VARARGS,
    "setup_encoder(Grouped, VendorIE, encoded, max_entries, max_value, error)" },
  { "setup_encode_shortcuts", py_setup_encode_shortcuts, METH_O,
    "setup_encode_shortcuts({ie_type: (class, field names)}) -> the IE types that have one" },
  { "setup_messages", py_setup_messages, METH_VARARGS,
    "setup_messages(Header, Message, known message types) -> whether both are taken" },
  { "header", (PyCFunction)(void (*) (void))py_header, METH_FASTCALL,
    "header(data[, offset]) -> the Header at offset, or None (see decode_header)" },
  { "message", (PyCFunction)(void (*) (void))py_message, METH_FASTCALL,
    "message(data, header) -> the Message of a datagram of one message, or None" },
  { "decode_datagram", (PyCFunction)(void (*) (void))py_decode_datagram,
    METH_FASTCALL | METH_KEYWORDS,
    "decode_datagram(data, header=None) -> the messages of a datagram (see codec.py)" },
  { "setup_datagram", py_setup_datagram, METH_O,
    "setup_datagram(general): the general code of decode_datagram" },
  { "encode_message", (PyCFunction)(void (*) (void))py_encode_message, METH_FASTCALL,
    "encode_message(msg, follow_on) -> encode(msg, follow_on), or None (see codec.encode)" },
  { "setup_encoded", py_setup_encoded, METH_O,
    "setup_encoded(cls): encode_message writes an instance's body octets (EncodedMessage)" },
  { "far_shape", py_far_shape, METH_O,
    "far_shape(raw) -> the octets of a Create FAR without its outer header (see shapes.py)" },
  { "establishment_key", (PyCFunction)(void (*) (void))py_establishment_key, METH_FASTCALL,
    "establishment_key(ies, leaves) -> the shape of a Session Establishment Request's IEs "
    "(see shapes.py)" },
  { NULL, NULL, 0, NULL },
};

static struct PyModuleDef walk_module = {
  PyModuleDef_HEAD_INIT,
  .m_name = "_walk",
  .m_doc = "The IE walk of pfcpd's PFCP codec (see codec.py).",
  .m_size = -1,
  .m_methods = walk_methods,
};

PyMODINIT_FUNC
PyInit__walk (void)
{
  str_list_ies = PyUnicode_InternFromString ("ies");
  str_list_type = PyUnicode_InternFromString ("type");
  str_encode = PyUnicode_InternFromString ("encode");
  if (!str_list_ies || !str_list_type || !str_encode)
    return NULL;
  PyObject *module = PyModule_Create (&walk_module);
  if (module
      && (add_method (module, "ielist_get", &ielist_get_def) < 0
          || add_method (module, "ielist_get_all", &ielist_get_all_def) < 0))
    Py_CLEAR (module);
  return module;
}
