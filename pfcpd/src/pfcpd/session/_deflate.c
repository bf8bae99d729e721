/*
 * _deflate.c: a raw deflate encoder (RFC 1951) against a preset dictionary, for the
 * session's rules (session/packing.py).
 *
 * With zlib, a pack of the usual session's ~300 bytes of rules costs ~42,000 instructions (a
 * copy of a compressor that has the dictionary loaded, compress, flush); this encoder ~7,000.
 * It keeps the dictionary's hash chains from the start and does only what a short input
 * needs: greedy LZ77 matching against the dictionary and the input so far, within the
 * window, written as one fixed-Huffman block (RFC 1951 3.2.6), the final one. zlib's inflate
 * with the same dictionary and window reads it back (packing.unpack_rules).
 *
 * Deflater(dictionary, window_bits) -> an encoder against that dictionary (at most the
 *   window, 2 ** window_bits bytes, 9 <= window_bits <= 15); no match reaches farther back
 *   than the window, so an inflater with that window reads every stream.
 * Deflater.compress(data) -> the raw deflate stream of data (bytes).
 *
 * Positions count in one buffer, the dictionary then the input. A position's hash is that of
 * its three octets; the chains of the positions whose three octets are in the dictionary
 * are made once (dict_head, dict_prev); a call starts its heads from dict_head and chains
 * its other positions in a ring of the window's size (prev), so a chain runs from the
 * newest position through the input's to the dictionary's, and stops at the window's
 * edge.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MIN_MATCH 3
#define MAX_MATCH 258
#define HASH_BITS 10
#define HASH_SIZE (1u << HASH_BITS)
/* How hard a match is looked for (as zlib's level 3, but for the chain): at most MAX_CHAIN
 * candidates, a match of NICE_MATCH octets ends the search, and the positions inside a
 * match are chained only if it is at most INSERT_MAX long, or if the input is longer than
 * INSERT_ALL_FROM (many rules, which repeat one another). On the rules of the engine's
 * sessions (283-384 bytes) these make the streams zlib's level 3 makes, byte for byte, but
 * for a few a byte longer (all 108 packs of nine shapes and their modifications in
 * pfcpd/tests/session/test_deflate.py, 499 of 500 usual sessions in bench/rules_packing.py);
 * chaining every position would make them ~3% shorter for ~55% more work. On ~3 KiB of rules (16
 * PDRs) the streams are ~3% longer than zlib's, whose Huffman codes are made for the input (~8%
 * without chaining every position). */
#define MAX_CHAIN 8
#define NICE_MATCH 64
#define INSERT_MAX 6
#define INSERT_ALL_FROM 1024
#define MAX_DATA (1 << 28)
#define SLACK 8 /* zero octets after the input: matches compare 8 octets at a time */

/* The fixed Huffman codes, bit-reversed (deflate writes a code from its first bit), with
 * their lengths in bits: literals and the end of block, and for each match length its
 * symbol's code followed by the extra bits. */
static uint16_t lit_code[257];
static uint8_t lit_bits[257];
static uint32_t len_code[MAX_MATCH + 1];
static uint8_t len_bits[MAX_MATCH + 1];
/* Distance codes: their first distance and number of extra bits; the code of a distance d
 * is dist_sym[d - 1] for d <= 256, else dist_sym[256 + ((d - 1) >> 7)]. */
static uint16_t dist_base[30];
static uint8_t dist_extra[30];
static uint8_t dist_sym[512];
static uint8_t dist_rev[30];

static uint32_t
reverse_bits (uint32_t code, unsigned n)
{
  uint32_t r = 0;
  for (unsigned i = 0; i < n; i++, code >>= 1)
    r = r << 1 | (code & 1);
  return r;
}

/* The fixed code of literal/length symbol sym (RFC 1951 3.2.6), reversed; its length in
 * *bits. */
static uint32_t
fixed_code (unsigned sym, uint8_t *bits)
{
  if (sym < 144)
    return *bits = 8, reverse_bits (0x30 + sym, 8);
  if (sym < 256)
    return *bits = 9, reverse_bits (0x190 + sym - 144, 9);
  if (sym < 280)
    return *bits = 7, reverse_bits (sym - 256, 7);
  return *bits = 8, reverse_bits (0xc0 + sym - 280, 8);
}

static void
init_tables (void)
{
  for (unsigned c = 0; c <= 256; c++)
    lit_code[c] = (uint16_t)fixed_code (c, &lit_bits[c]);

  /* lengths 3..257: symbols 257..284, the first eight without extra bits, then four of
   * each number of extra bits from 1 to 5; 258: symbol 285 */
  unsigned base = 3;
  for (unsigned i = 0; i < 28; i++)
    {
      unsigned extra = i < 8 ? 0 : (i - 4) / 4;
      uint8_t bits;
      uint32_t code = fixed_code (257 + i, &bits);
      for (unsigned e = 0; e < (1u << extra) && base + e < MAX_MATCH; e++)
        {
          len_code[base + e] = code | e << bits;
          len_bits[base + e] = (uint8_t)(bits + extra);
        }
      base += 1u << extra;
    }
  uint8_t bits;
  len_code[MAX_MATCH] = fixed_code (285, &bits);
  len_bits[MAX_MATCH] = bits;

  /* distances: codes 0..3 without extra bits, then two of each number from 1 to 13 */
  unsigned d = 1;
  for (unsigned c = 0; c < 30; c++)
    {
      dist_extra[c] = (uint8_t)(c < 4 ? 0 : c / 2 - 1);
      dist_base[c] = (uint16_t)d;
      dist_rev[c] = (uint8_t)reverse_bits (c, 5);
      for (unsigned k = d; k < d + (1u << dist_extra[c]); k++)
        {
          if (k <= 256)
            dist_sym[k - 1] = (uint8_t)c;
          else if (((k - 1) & 127) == 0)
            dist_sym[256 + ((k - 1) >> 7)] = (uint8_t)c;
        }
      d += 1u << dist_extra[c];
    }
}

typedef struct
{
  PyObject ob_base; /* (PyObject_HEAD) */
  uint32_t dict_len;
  uint32_t window;    /* 2 ** window_bits: the farthest a match reaches back */
  uint32_t chained;   /* positions below this are chained in dict_prev, others in prev */
  int32_t *dict_head; /* [HASH_SIZE] the newest dictionary position of a hash, or -1 */
  int32_t *dict_prev; /* [chained] the next older position of the same hash, or -1 */
  int32_t *head;      /* [HASH_SIZE] a call's heads */
  int32_t *prev;      /* [window] a call's chains, by position modulo the window */
  uint8_t *buf;       /* the dictionary, then a call's input and SLACK zeros */
  size_t buf_size;
  uint8_t *out;
  size_t out_size;
} deflater_t;

/* The hash of the three octets at p (the fourth is read, not used). */
static inline uint32_t
hash3 (const uint8_t *p)
{
  uint32_t v;
  memcpy (&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v &= 0xffffff;
#else
  v >>= 8;
#endif
  return (v * 0x9e3779b1u) >> (32 - HASH_BITS);
}

/* How many octets from a and b agree, up to max; both have SLACK readable octets past
 * max. */
static inline uint32_t
match_length (const uint8_t *a, const uint8_t *b, uint32_t max)
{
  uint32_t len = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  while (len < max)
    {
      uint64_t x, y;
      memcpy (&x, a + len, 8);
      memcpy (&y, b + len, 8);
      if (x != y)
        {
          len += (uint32_t)__builtin_ctzll (x ^ y) >> 3;
          break;
        }
      len += 8;
    }
  return len < max ? len : max;
#else
  while (len < max && a[len] == b[len])
    len++;
  return len;
#endif
}

typedef struct
{
  uint8_t *out;
  uint64_t acc;
  unsigned n;
} bits_t;

/* Append the n low bits of v (n <= 32, acc then holds fewer than 64). */
static inline void
put_bits (bits_t *b, uint64_t v, unsigned n)
{
  b->acc |= v << b->n;
  b->n += n;
  if (b->n >= 32)
    {
      uint32_t w = (uint32_t)b->acc;
      b->out[0] = (uint8_t)w;
      b->out[1] = (uint8_t)(w >> 8);
      b->out[2] = (uint8_t)(w >> 16);
      b->out[3] = (uint8_t)(w >> 24);
      b->out += 4;
      b->acc >>= 32;
      b->n -= 32;
    }
}

static inline void
put_match (bits_t *b, uint32_t len, uint32_t dist)
{
  unsigned c = dist <= 256 ? dist_sym[dist - 1] : dist_sym[256 + ((dist - 1) >> 7)];
  uint64_t v = len_code[len];
  unsigned n = len_bits[len];
  v |= (uint64_t)dist_rev[c] << n;
  n += 5;
  v |= (uint64_t)(dist - dist_base[c]) << n;
  n += dist_extra[c];
  put_bits (b, v, n);
}

/* Deflate the n octets at buf + dict_len into out (room for the bound of compress);
 * returns the stream's length. */
static size_t
deflate_fixed (deflater_t *z, uint32_t n)
{
  const uint8_t *buf = z->buf;
  uint32_t start = z->dict_len, end = start + n;
  uint32_t wmask = z->window - 1;
  int32_t *head = z->head, *prev = z->prev;
  uint32_t insert_max = n > INSERT_ALL_FROM ? MAX_MATCH : INSERT_MAX;
  bits_t b = { .out = z->out, .acc = 0, .n = 0 };

  const int32_t *dict_prev = z->dict_prev;
  uint32_t window = z->window, chained = z->chained;

  memcpy (head, z->dict_head, HASH_SIZE * sizeof (head[0]));
  /* the dictionary's last positions, whose three octets reach into the input */
  for (uint32_t p = chained; p < start && p + MIN_MATCH <= end; p++)
    {
      uint32_t h = hash3 (buf + p);
      prev[p & wmask] = head[h];
      head[h] = (int32_t)p;
    }

  put_bits (&b, 1 | 1 << 1, 3); /* BFINAL, BTYPE 01: fixed Huffman codes */
  uint32_t cur = start;
  while (cur < end)
    {
      uint32_t best = MIN_MATCH - 1, best_dist = 0;
      if (end - cur >= MIN_MATCH)
        {
          uint32_t h = hash3 (buf + cur);
          uint32_t max = end - cur < MAX_MATCH ? end - cur : MAX_MATCH;
          uint32_t limit = cur > window ? cur - window : 0;
          int32_t cand = head[h];
          for (unsigned chain = MAX_CHAIN; cand >= 0 && (uint32_t)cand >= limit && chain; chain--)
            {
              uint32_t c = (uint32_t)cand;
              if (buf[c + best] == buf[cur + best] && buf[c] == buf[cur]
                  && buf[c + 1] == buf[cur + 1])
                {
                  uint32_t len = match_length (buf + c, buf + cur, max);
                  if (len > best)
                    {
                      best = len;
                      best_dist = cur - c;
                      if (len >= NICE_MATCH || len == max)
                        break;
                    }
                }
              cand = c >= chained ? prev[c & wmask] : dict_prev[c];
            }
          prev[cur & wmask] = head[h];
          head[h] = (int32_t)cur;
        }
      if (best >= MIN_MATCH)
        {
          put_match (&b, best, best_dist);
          uint32_t stop = cur + best;
          if (stop + MIN_MATCH > end)
            stop = end - (MIN_MATCH - 1);
          if (best <= insert_max)
            for (uint32_t p = cur + 1; p < stop; p++)
              {
                uint32_t h = hash3 (buf + p);
                prev[p & wmask] = head[h];
                head[h] = (int32_t)p;
              }
          cur += best;
        }
      else
        {
          put_bits (&b, lit_code[buf[cur]], lit_bits[buf[cur]]);
          cur++;
        }
    }
  put_bits (&b, lit_code[256], lit_bits[256]);
  for (; b.n > 0; b.n = b.n > 8 ? b.n - 8 : 0, b.acc >>= 8)
    *b.out++ = (uint8_t)b.acc;
  return (size_t)(b.out - z->out);
}

static int
grow (uint8_t **p, size_t *size, size_t need)
{
  if (need <= *size)
    return 0;
  uint8_t *q = PyMem_Realloc (*p, need);
  if (!q)
    {
      PyErr_NoMemory ();
      return -1;
    }
  *p = q;
  *size = need;
  return 0;
}

static PyObject *
deflater_compress (PyObject *self, PyObject *arg)
{
  deflater_t *z = (deflater_t *)self;
  if (!PyBytes_Check (arg))
    return PyErr_Format (PyExc_TypeError, "compress() takes bytes, not %.100s",
                         Py_TYPE (arg)->tp_name);
  if (!z->buf)
    {
      PyErr_SetString (PyExc_ValueError, "compress(): Deflater not initialized");
      return NULL;
    }
  Py_ssize_t n = PyBytes_GET_SIZE (arg);
  if (n > MAX_DATA)
    return PyErr_Format (PyExc_ValueError, "compress(): more than %d bytes", MAX_DATA);
  size_t total = z->dict_len + (size_t)n;
  /* 3 bits of header, at most 9 per octet, 7 of end of block, and the 4 octets that
   * writing 32 bits at a time may run over */
  size_t bound = (3 + 9 * (size_t)n + 7 + 7) / 8 + 8;
  if (grow (&z->buf, &z->buf_size, total + SLACK) < 0 || grow (&z->out, &z->out_size, bound) < 0)
    return NULL;
  memcpy (z->buf + z->dict_len, PyBytes_AS_STRING (arg), (size_t)n);
  memset (z->buf + total, 0, SLACK);
  size_t len = deflate_fixed (z, (uint32_t)n);
  return PyBytes_FromStringAndSize ((const char *)z->out, (Py_ssize_t)len);
}

static int
deflater_init (PyObject *self, PyObject *args, PyObject *kwargs)
{
  deflater_t *z = (deflater_t *)self;
  static char *kwlist[] = { "dictionary", "window_bits", NULL };
  Py_buffer dict;
  int window_bits;
  if (!PyArg_ParseTupleAndKeywords (args, kwargs, "y*i:Deflater", kwlist, &dict, &window_bits))
    return -1;
  if (z->buf)
    {
      PyBuffer_Release (&dict);
      PyErr_SetString (PyExc_TypeError, "Deflater: already initialized");
      return -1;
    }
  if (window_bits < 9 || window_bits > 15 || dict.len > (1 << window_bits))
    {
      PyBuffer_Release (&dict);
      PyErr_SetString (PyExc_ValueError,
                       "Deflater: window_bits from 9 to 15, a dictionary at most the window");
      return -1;
    }
  z->dict_len = (uint32_t)dict.len;
  z->window = 1u << window_bits;
  z->chained = z->dict_len >= MIN_MATCH - 1 ? z->dict_len - (MIN_MATCH - 1) : 0;
  z->dict_head = PyMem_Malloc (HASH_SIZE * sizeof (int32_t));
  z->dict_prev = PyMem_Malloc ((z->chained + 1) * sizeof (int32_t));
  z->head = PyMem_Malloc (HASH_SIZE * sizeof (int32_t));
  z->prev = PyMem_Malloc (z->window * sizeof (int32_t));
  z->buf_size = z->dict_len + 1024 + SLACK;
  z->buf = PyMem_Malloc (z->buf_size);
  if (!z->dict_head || !z->dict_prev || !z->head || !z->prev || !z->buf)
    {
      PyBuffer_Release (&dict);
      PyErr_NoMemory ();
      return -1;
    }
  memcpy (z->buf, dict.buf, z->dict_len);
  PyBuffer_Release (&dict);
  for (uint32_t h = 0; h < HASH_SIZE; h++)
    z->dict_head[h] = -1;
  for (uint32_t p = 0; p < z->chained; p++)
    {
      uint32_t h = hash3 (z->buf + p);
      z->dict_prev[p] = z->dict_head[h];
      z->dict_head[h] = (int32_t)p;
    }
  return 0;
}

static void
deflater_dealloc (PyObject *self)
{
  deflater_t *z = (deflater_t *)self;
  PyMem_Free (z->dict_head);
  PyMem_Free (z->dict_prev);
  PyMem_Free (z->head);
  PyMem_Free (z->prev);
  PyMem_Free (z->buf);
  PyMem_Free (z->out);
  Py_TYPE (self)->tp_free (self);
}

static PyMethodDef deflater_methods[] = {
  { "compress", deflater_compress, METH_O,
    "compress(data) -> the raw deflate stream of data against the dictionary" },
  { NULL, NULL, 0, NULL },
};

static PyTypeObject deflater_type = {
  PyVarObject_HEAD_INIT (NULL, 0).tp_name = "pfcpd.session._deflate.Deflater",
  .tp_basicsize = sizeof (deflater_t),
  .tp_flags = Py_TPFLAGS_DEFAULT,
  .tp_doc = "Deflater(dictionary, window_bits): raw deflate against a preset dictionary",
  .tp_new = PyType_GenericNew,
  .tp_init = deflater_init,
  .tp_dealloc = deflater_dealloc,
  .tp_methods = deflater_methods,
};

static struct PyModuleDef deflate_module = {
  PyModuleDef_HEAD_INIT,
  .m_name = "_deflate",
  .m_doc = "A raw deflate encoder against a preset dictionary (see session/packing.py).",
  .m_size = -1,
};

PyMODINIT_FUNC
PyInit__deflate (void)
{
  init_tables ();
  if (PyType_Ready (&deflater_type) < 0)
    return NULL;
  PyObject *module = PyModule_Create (&deflate_module);
  if (module && PyModule_AddObjectRef (module, "Deflater", (PyObject *)&deflater_type) < 0)
    Py_CLEAR (module);
  return module;
}
