/*
 * _udp.c: pfcpd's PFCP datagrams read and sent in batches (daemon/pfcp_socket.py, server.py).
 *
 * Per datagram, socket.recvfrom and socket.sendto cost a call with its argument parsing and,
 * for recvfrom, a source address made text by glibc's inet_ntop (vfprintf) and, on an IPv6
 * socket, parsed again by address.normalize. Here one call reads (recvmmsg) or sends
 * (sendmmsg) a batch, and an address is made (or parsed) once for the last few peers.
 *
 * receive(fd, count) -> [(data, (host, port)), ...]
 *   Up to ``count`` datagrams waiting on the non-blocking UDP socket ``fd`` (MSG_DONTWAIT),
 *   [] when none waits. The source is named as address.normalize names it: an IPv4 address
 *   in dotted decimal, an IPv4-mapped IPv6 address as the IPv4 one, an IPv6 address
 *   compressed as ipaddress does (lower-case hextets, the first longest run of two or more
 *   zero hextets as "::"), without a scope. The (host, port) tuples of the last SOURCES
 *   sources are kept and handed out again (immutable: sharing them is safe). An error but
 *   EAGAIN raises OSError, as recvfrom does.
 * send(fd, datagrams, ipv6) -> [(index, errno), ...]
 *   Sends each (data, (host, port)) of the list ``datagrams`` from the non-blocking UDP
 *   socket ``fd``, in order (sendmmsg, the GIL released); returns the datagrams that could
 *   not be sent, by index, with the error of each ([] when every one left). ``host`` is an
 *   IP address as text; on an IPv6 socket (``ipv6``) an IPv4 address is sent to as
 *   IPv4-mapped. An address that is not one (or an IPv6 one on an IPv4 socket, or a port out
 *   of range) fails its datagram (EINVAL, EAFNOSUPPORT) and no other. The addresses of the
 *   last DESTINATIONS destinations are kept parsed.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_DATAGRAM 65536 /* octets read per datagram (a UDP payload is at most 65,507) */
#define MAX_COUNT 1024     /* datagrams read per call at most */
#define SOURCES 16         /* source addresses kept as Python tuples */
#define DESTINATIONS 16    /* destinations kept parsed */
#define STACK_BATCH 64     /* datagrams sent per call without an allocation */

/* -- receive --------------------------------------------------------------------------------- */

typedef struct
{
  sa_family_t family; /* 0: unused */
  in_port_t port;
  unsigned char addr[16];
  PyObject *tuple; /* (host, port) */
} source_t;

static source_t sources[SOURCES];
static unsigned next_source;

static char *buffers; /* count slots of MAX_DATAGRAM octets (the GIL held while in use) */
static int buffer_slots;
static struct mmsghdr *rmsgs;
static struct iovec *riovs;
static struct sockaddr_in6 *rnames;

static int
reserve (int count)
{
  if (count <= buffer_slots)
    return 0;
  char *b = PyMem_RawRealloc (buffers, (size_t)count * MAX_DATAGRAM);
  if (!b)
    goto fail;
  buffers = b;
  struct mmsghdr *m = PyMem_RawRealloc (rmsgs, (size_t)count * sizeof *m);
  if (!m)
    goto fail;
  rmsgs = m;
  struct iovec *v = PyMem_RawRealloc (riovs, (size_t)count * sizeof *v);
  if (!v)
    goto fail;
  riovs = v;
  struct sockaddr_in6 *n = PyMem_RawRealloc (rnames, (size_t)count * sizeof *n);
  if (!n)
    goto fail;
  rnames = n;
  buffer_slots = count;
  /* Each slot ready for a read; after one, the slots read are made ready again (the kernel
     writes their msg_namelen, msg_flags and msg_len): no setup of every slot per call. */
  memset (m, 0, (size_t)count * sizeof *m);
  for (int i = 0; i < count; i++)
    {
      v[i].iov_base = b + (size_t)i * MAX_DATAGRAM;
      v[i].iov_len = MAX_DATAGRAM;
      m[i].msg_hdr.msg_name = &n[i];
      m[i].msg_hdr.msg_namelen = sizeof n[i];
      m[i].msg_hdr.msg_iov = &v[i];
      m[i].msg_hdr.msg_iovlen = 1;
    }
  return 0;
fail:
  PyErr_NoMemory ();
  return -1;
}

static char *
ipv4_text (char *out, const unsigned char *a)
{
  for (int i = 0; i < 4; i++)
    {
      unsigned v = a[i];
      if (v >= 100)
        *out++ = '0' + v / 100;
      if (v >= 10)
        *out++ = '0' + v / 10 % 10;
      *out++ = '0' + v % 10;
      if (i < 3)
        *out++ = '.';
    }
  return out;
}

/* As ipaddress.IPv6Address.compressed: the first longest run of two or more zero hextets is
   "::", each other hextet in lower-case hex without leading zeros. */
static char *
ipv6_text (char *out, const unsigned char *a)
{
  static const char hex[] = "0123456789abcdef";
  unsigned h[8];
  int best = -1, best_len = 0, run = -1;
  for (int i = 0; i < 8; i++)
    {
      h[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
      if (h[i] == 0)
        {
          if (run < 0)
            run = i;
          if (i - run + 1 > best_len)
            best = run, best_len = i - run + 1;
        }
      else
        run = -1;
    }
  if (best_len < 2)
    best = -1;
  for (int i = 0; i < 8; i++)
    {
      if (i == best)
        {
          *out++ = ':';
          *out++ = ':';
          i += best_len - 1;
          continue;
        }
      if (i > 0 && i != best + best_len)
        *out++ = ':';
      int started = 0;
      for (int shift = 12; shift >= 0; shift -= 4)
        {
          unsigned d = h[i] >> shift & 0xf;
          if (d || started || shift == 0)
            {
              *out++ = hex[d];
              started = 1;
            }
        }
    }
  return out;
}

static const unsigned char v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* The (host, port) tuple of a source address (a new reference), from the cache or made. */
static PyObject *
source_tuple (const struct sockaddr_in6 *name)
{
  source_t key;
  memset (&key, 0, sizeof key);
  key.family = name->sin6_family;
  if (key.family == AF_INET)
    {
      const struct sockaddr_in *sin = (const struct sockaddr_in *)name;
      key.port = sin->sin_port;
      memcpy (key.addr, &sin->sin_addr, 4);
    }
  else if (key.family == AF_INET6)
    {
      key.port = name->sin6_port;
      memcpy (key.addr, &name->sin6_addr, 16);
    }
  else
    return Py_BuildValue ("(si)", "", 0); /* (no source: not on a UDP socket) */
  for (int i = 0; i < SOURCES; i++)
    {
      source_t *s = &sources[i];
      if (s->family == key.family && s->port == key.port && !memcmp (s->addr, key.addr, 16))
        return Py_NewRef (s->tuple);
    }
  char text[INET6_ADDRSTRLEN + 1];
  char *end;
  if (key.family == AF_INET)
    end = ipv4_text (text, key.addr);
  else if (!memcmp (key.addr, v4_mapped_prefix, 12))
    end = ipv4_text (text, key.addr + 12);
  else
    end = ipv6_text (text, key.addr);
  PyObject *host = PyUnicode_FromStringAndSize (text, end - text);
  if (!host)
    return NULL;
  PyObject *port = PyLong_FromLong (ntohs (key.port));
  if (!port)
    {
      Py_DECREF (host);
      return NULL;
    }
  PyObject *tuple = PyTuple_Pack (2, host, port);
  Py_DECREF (host);
  Py_DECREF (port);
  if (!tuple)
    return NULL;
  source_t *slot = &sources[next_source++ % SOURCES];
  Py_XDECREF (slot->tuple);
  key.tuple = Py_NewRef (tuple);
  *slot = key;
  return tuple;
}

static PyObject *
udp_receive (PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
  (void)module;
  if (nargs != 2)
    return PyErr_Format (PyExc_TypeError, "receive() takes 2 arguments (%zd given)", nargs);
  long fd = PyLong_AsLong (args[0]);
  if (fd == -1 && PyErr_Occurred ())
    return NULL;
  long count = PyLong_AsLong (args[1]);
  if (count == -1 && PyErr_Occurred ())
    return NULL;
  if (count < 1 || count > MAX_COUNT)
    return PyErr_Format (PyExc_ValueError, "count must be 1 to %d", MAX_COUNT);
  if (reserve ((int)count) < 0)
    return NULL;
  int got;
  /* (the GIL kept: a non-blocking read, and the buffers are this module's) */
  while ((got = recvmmsg ((int)fd, rmsgs, (unsigned)count, MSG_DONTWAIT, NULL)) < 0)
    {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return PyList_New (0);
      if (errno != EINTR)
        return PyErr_SetFromErrno (PyExc_OSError);
      if (PyErr_CheckSignals () < 0)
        return NULL;
    }
  PyObject *list = PyList_New (got);
  if (!list)
    goto fail;
  for (int i = 0; i < got; i++)
    {
      PyObject *data = PyBytes_FromStringAndSize (riovs[i].iov_base, rmsgs[i].msg_len);
      if (!data)
        goto fail;
      if (rmsgs[i].msg_hdr.msg_namelen == 0)
        rnames[i].sin6_family = AF_UNSPEC;
      rmsgs[i].msg_hdr.msg_namelen = sizeof rnames[i];
      PyObject *source = source_tuple (&rnames[i]);
      if (!source)
        {
          Py_DECREF (data);
          goto fail;
        }
      PyObject *pair = PyTuple_New (2);
      if (!pair)
        {
          Py_DECREF (data);
          Py_DECREF (source);
          goto fail;
        }
      PyTuple_SET_ITEM (pair, 0, data);
      PyTuple_SET_ITEM (pair, 1, source);
      PyList_SET_ITEM (list, i, pair);
    }
  return list;
fail:
  for (int i = 0; i < got; i++)
    rmsgs[i].msg_hdr.msg_namelen = sizeof rnames[i];
  Py_XDECREF (list);
  return NULL;
}

/* source(packed, port): the (host, port) receive() names a source by, of a packed IPv4 (4
   octets) or IPv6 (16) address: for the tests. */
static PyObject *
udp_source (PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
  (void)module;
  if (nargs != 2 || !PyBytes_Check (args[0]))
    return PyErr_Format (PyExc_TypeError, "source() takes bytes and a port");
  long port = PyLong_AsLong (args[1]);
  if (port == -1 && PyErr_Occurred ())
    return NULL;
  if (port < 0 || port > 65535)
    return PyErr_Format (PyExc_ValueError, "port out of range");
  struct sockaddr_in6 name;
  memset (&name, 0, sizeof name);
  Py_ssize_t size = PyBytes_GET_SIZE (args[0]);
  if (size == 4)
    {
      struct sockaddr_in *sin = (struct sockaddr_in *)&name;
      sin->sin_family = AF_INET;
      sin->sin_port = htons ((in_port_t)port);
      memcpy (&sin->sin_addr, PyBytes_AS_STRING (args[0]), 4);
    }
  else if (size == 16)
    {
      name.sin6_family = AF_INET6;
      name.sin6_port = htons ((in_port_t)port);
      memcpy (&name.sin6_addr, PyBytes_AS_STRING (args[0]), 16);
    }
  else
    return PyErr_Format (PyExc_ValueError, "an address of 4 or 16 octets");
  return source_tuple (&name);
}

/* -- send ------------------------------------------------------------------------------------ */

typedef struct
{
  PyObject *host; /* 0: unused */
  long port;
  int ipv6; /* the socket's family */
  socklen_t len;
  struct sockaddr_in6 name; /* (a sockaddr_in for an IPv4 socket) */
} destination_t;

static destination_t destinations[DESTINATIONS];
static unsigned next_destination;

/* ``host``, ``port`` as a sockaddr of the socket's family: 0, or the errno failing the
   datagram. */
static int
destination (PyObject *host, long port, int ipv6, struct sockaddr_in6 *name, socklen_t *len)
{
  for (int i = 0; i < DESTINATIONS; i++)
    {
      destination_t *d = &destinations[i];
      if (d->host && d->port == port && d->ipv6 == ipv6
          && (d->host == host || PyUnicode_Compare (d->host, host) == 0))
        {
          *name = d->name;
          *len = d->len;
          return 0;
        }
    }
  if (PyErr_Occurred ()) /* (PyUnicode_Compare cannot fail on two str) */
    PyErr_Clear ();
  if (port < 0 || port > 65535)
    return EINVAL;
  Py_ssize_t size;
  const char *text = PyUnicode_AsUTF8AndSize (host, &size);
  if (!text)
    {
      PyErr_Clear ();
      return EINVAL;
    }
  if (size > INET6_ADDRSTRLEN)
    return EINVAL;
  memset (name, 0, sizeof *name);
  if (!strchr (text, ':'))
    {
      struct in_addr a;
      if (inet_pton (AF_INET, text, &a) != 1)
        return EINVAL;
      if (ipv6)
        {
          name->sin6_family = AF_INET6;
          name->sin6_port = htons ((in_port_t)port);
          memcpy (name->sin6_addr.s6_addr, v4_mapped_prefix, 12);
          memcpy (name->sin6_addr.s6_addr + 12, &a, 4);
          *len = sizeof (struct sockaddr_in6);
        }
      else
        {
          struct sockaddr_in *sin = (struct sockaddr_in *)name;
          sin->sin_family = AF_INET;
          sin->sin_port = htons ((in_port_t)port);
          sin->sin_addr = a;
          *len = sizeof (struct sockaddr_in);
        }
    }
  else
    {
      if (!ipv6)
        return EAFNOSUPPORT;
      if (inet_pton (AF_INET6, text, &name->sin6_addr) != 1)
        return EINVAL;
      name->sin6_family = AF_INET6;
      name->sin6_port = htons ((in_port_t)port);
      *len = sizeof (struct sockaddr_in6);
    }
  destination_t *d = &destinations[next_destination++ % DESTINATIONS];
  Py_XSETREF (d->host, Py_NewRef (host));
  d->port = port;
  d->ipv6 = ipv6;
  d->len = *len;
  d->name = *name;
  return 0;
}

static PyObject *
udp_send (PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
  (void)module;
  if (nargs != 3)
    return PyErr_Format (PyExc_TypeError, "send() takes 3 arguments (%zd given)", nargs);
  long fd = PyLong_AsLong (args[0]);
  if (fd == -1 && PyErr_Occurred ())
    return NULL;
  PyObject *list = args[1];
  if (!PyList_Check (list))
    return PyErr_Format (PyExc_TypeError, "send() wants a list, not %.100s",
                         Py_TYPE (list)->tp_name);
  int ipv6 = PyObject_IsTrue (args[2]);
  if (ipv6 < 0)
    return NULL;
  Py_ssize_t n = PyList_GET_SIZE (list);

  struct mmsghdr stack_msgs[STACK_BATCH];
  struct iovec stack_iovs[STACK_BATCH];
  struct sockaddr_in6 stack_names[STACK_BATCH];
  PyObject *stack_held[STACK_BATCH];
  Py_ssize_t stack_index[STACK_BATCH];
  int stack_errors[STACK_BATCH];
  struct mmsghdr *msgs = stack_msgs;
  struct iovec *iovs = stack_iovs;
  struct sockaddr_in6 *names = stack_names;
  PyObject **held = stack_held;    /* the data sent, held while the GIL is released */
  Py_ssize_t *index = stack_index; /* msgs[k] sends the datagram index[k] of the list */
  int *errors = stack_errors;      /* of each datagram of the list: 0 (sent) or an errno */
  PyObject *result = NULL;
  Py_ssize_t ready = 0, failures = 0;
  if (n > STACK_BATCH)
    {
      msgs = PyMem_Malloc (n * sizeof *msgs);
      iovs = PyMem_Malloc (n * sizeof *iovs);
      names = PyMem_Malloc (n * sizeof *names);
      held = PyMem_Malloc (n * sizeof *held);
      index = PyMem_Malloc (n * sizeof *index);
      errors = PyMem_Malloc (n * sizeof *errors);
      if (!msgs || !iovs || !names || !held || !index || !errors)
        {
          PyErr_NoMemory ();
          goto done;
        }
    }
  for (Py_ssize_t i = 0; i < n; i++)
    {
      PyObject *item = PyList_GET_ITEM (list, i);
      PyObject *data, *addr;
      if (!PyTuple_Check (item) || PyTuple_GET_SIZE (item) != 2
          || !PyBytes_Check (data = PyTuple_GET_ITEM (item, 0))
          || !PyTuple_Check (addr = PyTuple_GET_ITEM (item, 1)) || PyTuple_GET_SIZE (addr) < 2
          || !PyUnicode_Check (PyTuple_GET_ITEM (addr, 0))
          || !PyLong_Check (PyTuple_GET_ITEM (addr, 1)))
        {
          PyErr_SetString (PyExc_TypeError, "send() wants (bytes, (str, int)) pairs");
          goto release;
        }
      long port = PyLong_AsLong (PyTuple_GET_ITEM (addr, 1));
      if (port == -1 && PyErr_Occurred ())
        {
          PyErr_Clear ();
          port = -2; /* (out of range: EINVAL below) */
        }
      socklen_t len = 0;
      errors[i] = destination (PyTuple_GET_ITEM (addr, 0), port, ipv6, &names[ready], &len);
      if (errors[i])
        {
          failures++;
          continue;
        }
      held[ready] = Py_NewRef (data);
      index[ready] = i;
      iovs[ready].iov_base = PyBytes_AS_STRING (data);
      iovs[ready].iov_len = (size_t)PyBytes_GET_SIZE (data);
      memset (&msgs[ready].msg_hdr, 0, sizeof msgs[ready].msg_hdr);
      msgs[ready].msg_hdr.msg_name = &names[ready];
      msgs[ready].msg_hdr.msg_namelen = len;
      msgs[ready].msg_hdr.msg_iov = &iovs[ready];
      msgs[ready].msg_hdr.msg_iovlen = 1;
      ready++;
    }

  /* sendmmsg stops at the first datagram refused: that one fails, the rest are tried again
     (as one sendto each would be). */
  Py_ssize_t start = 0;
  Py_BEGIN_ALLOW_THREADS;
  while (start < ready)
    {
      Py_ssize_t left = ready - start;
      int sent = sendmmsg ((int)fd, msgs + start, left > MAX_COUNT ? MAX_COUNT : (unsigned)left,
                           MSG_DONTWAIT);
      if (sent > 0)
        start += sent;
      else if (sent < 0 && errno == EINTR)
        continue;
      else
        {
          errors[index[start++]] = sent < 0 ? errno : EAGAIN;
          failures++;
        }
    }
  Py_END_ALLOW_THREADS;
  result = PyList_New (failures);
  for (Py_ssize_t i = 0, k = 0; result && k < failures; i++)
    if (errors[i])
      {
        PyObject *item = Py_BuildValue ("(ni)", i, errors[i]);
        if (!item)
          Py_CLEAR (result);
        else
          PyList_SET_ITEM (result, k++, item);
      }
release:
  for (Py_ssize_t k = 0; k < ready; k++)
    Py_DECREF (held[k]);
done:
  if (msgs != stack_msgs)
    {
      PyMem_Free (msgs);
      PyMem_Free (iovs);
      PyMem_Free (names);
      PyMem_Free (held);
      PyMem_Free (index);
      PyMem_Free (errors);
    }
  return result;
}

/* -- module ---------------------------------------------------------------------------------- */

static PyMethodDef udp_functions[] = {
  { "receive", (PyCFunction)(void (*) (void))udp_receive, METH_FASTCALL,
    "receive(fd, count) -> up to count [(data, (host, port))] waiting on the UDP socket fd, "
    "the source named as address.normalize names it; [] when none waits" },
  { "send", (PyCFunction)(void (*) (void))udp_send, METH_FASTCALL,
    "send(fd, [(data, (host, port)), ...], ipv6) -> [(index, errno)] of the datagrams that "
    "could not be sent (in order, from the UDP socket fd; ipv6: its family)" },
  { "source", (PyCFunction)(void (*) (void))udp_source, METH_FASTCALL,
    "source(packed, port) -> the (host, port) receive() names that source by (for the tests)" },
  { NULL, NULL, 0, NULL },
};

static struct PyModuleDef udp_module = {
  PyModuleDef_HEAD_INIT,
  .m_name = "_udp",
  .m_doc = "pfcpd's PFCP datagrams read (recvmmsg) and sent (sendmmsg) in batches "
           "(see daemon/pfcp_socket.py).",
  .m_size = -1,
  .m_methods = udp_functions,
};

PyMODINIT_FUNC
PyInit__udp (void)
{
  return PyModule_Create (&udp_module);
}
