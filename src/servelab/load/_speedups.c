/* The closed and open loops' per-request path in C: sockets, epoll, the common response,
 * the record.
 *
 * Why: client and server share the machine, so every microsecond the client spends per
 * request is taken from the server it measures. The pure-Python loops (loops.py, driver.py,
 * reactor.py, http11/connection.py) spend about 25 us of Python per request on top of the
 * kernel's work; wrk spends 3-6 us. This module runs the same loops with no Python frame
 * per request in the common case: a response whose head is the last one again, or a plain
 * one (a valid status line, one Content-Length, no Transfer-Encoding: plain_framing), with
 * its Content-Length body in the same read or in the next ones, recorded into the
 * Recorder's arrays.
 *
 * One source of truth for what is not common. The HTTP rules stay in Python: any other
 * head, a head split across reads, a chunked or close-delimited body, bytes past a
 * response, all go to http11.parse's ResponseParser (its feed and feed_eof, called from
 * here), which also fills the head cache this module reads (parse._HEADS). A request that
 * ends in an error, or any request when the Recorder keeps records, goes to Recorder.add
 * with a Response or an exception of the classes the Python connection makes; requests
 * given up on go to Recorder.add_unsent. The schedule's send times come from
 * Rate.offsets_ns. Behaviour is that of the pure loops, request for request; tests/load
 * runs both (servelab.load.speedups) and compares their records.
 *
 * What is mirrored from the pure loops, by name there:
 *   _User.next/done           closed_next, closed_done (think time, stop at limit/end)
 *   _OpenRun.tick/_dispatch   open_tick, open_dispatch, open_done, open_give_up (the
 *                             in-flight bound, held-back and late sends, the drain)
 *   Driver.send, _Retry       send_request, retry once on a kept-alive connection the
 *                             server had closed (nothing came back on it)
 *   Connection.*              conn_*, on a Slot (a closed loop's user has one; an open loop
 *                             keeps a pool of them, idle ones reused last-in first-out)
 *   Reactor.run's batch       completions of one epoll_wait are handled after it: every
 *                             finished connection is closed before any next request opens
 *   Reactor(precise=True)     an open loop's waits end on time to the microsecond (ppoll
 *                             on the epoll set for the last 2 ms, timer slack 1 ns)
 *   Driver._sweep             deadlines checked every sweep_ns
 *
 * Linux only (epoll); setup.py builds it as optional and servelab.load.speedups falls back
 * to the pure loops without it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE (64 * 1024)
#define MAX_HEAD (64 * 1024)
#define MAX_EVENTS 1024

/* ---------------------------------------------------------------------------------------- */
/* What setup() hands over from the Python side, once per process.                          */

typedef struct {
    PyObject *heads;              /* parse._HEADS: head bytes -> (Head, body length) */
    PyObject *heads_head_only;    /* parse._HEADS_HEAD_ONLY */
    PyObject *parser_type;        /* parse.ResponseParser */
    PyObject *head_type;          /* parse.Head */
    PyObject *response_type;      /* connection.Response */
    PyObject *protocol_error;     /* parse.ProtocolError */
    PyObject *server_disconnected;/* parse.ServerDisconnected */
    PyObject *incomplete_read;    /* parse.IncompleteRead */
    Py_ssize_t body_keep;         /* connection.BODY_KEEP */
    /* interned attribute and method names */
    PyObject *s_status, *s_keep_alive, *s_feed, *s_feed_eof, *s_buffered, *s_head_only,
        *s_append;
} Shared;

static Shared shared;
static int shared_ready = 0;

/* ---------------------------------------------------------------------------------------- */
/* A slot: one connection and the request on it. A closed loop's user has one slot; an     */
/* open loop has one per request it may have in flight, kept open (idle) between requests. */

typedef struct {
    /* the connection */
    int fd;                 /* -1: none, or closed */
    int waiting;            /* a request waits for its response (Connection._callback) */
    int got_bytes;
    int nodelay;
    int writing;            /* EPOLLOUT is watched */
    Py_ssize_t sent;        /* bytes of the request written */
    PyObject *data;         /* the request's bytes (borrowed from payloads) */
    PyObject *parser;       /* ResponseParser, when a response did not come whole */
    PyObject *head;         /* its Head, once the parser gave it */
    PyObject *body;         /* the body's first body_keep bytes, when records are kept */
    /* A known head came without all of its Content-Length body (a server that writes head
     * and body apart): the body's bytes still to come, read here rather than by a parser. */
    Py_ssize_t body_left;
    Py_ssize_t body_length;
    int head_status, head_keep_alive;
    int64_t deadline;
    /* the request */
    int reused;             /* it went on a kept-alive connection: retry once */
    int64_t index;
    PyObject *area;         /* borrowed from payloads */
    int64_t due;            /* its intended send time (a closed loop's: its start) */
    int64_t start;
} Slot;

/* How one request ended, handled after the epoll batch it ended in. */
typedef struct {
    int slot;
    int status;             /* fast path: the status (head is NULL) */
    int keep_alive;
    PyObject *head;         /* owned: the Head, or NULL */
    PyObject *body;         /* owned: bytes, or NULL */
    PyObject *exc;          /* owned: the error, or NULL */
    int64_t end;
} Completion;

typedef struct {
    int64_t when;
    uint64_t order;
    int slot;
} Wake;

typedef struct {
    /* settings */
    int open;               /* an open loop (run_open), else a closed one (run_closed) */
    int family;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    PyObject *payloads;     /* list of (area, bytes) */
    Py_ssize_t cycle;
    int64_t limit, end_ns, think_ns, timeout_ns, sweep_ns;
    int64_t end_by;         /* no deadline past this (an open loop's end) */
    int reuse, head_only, fast_record;
    PyObject *recorder;
    PyObject *heads;        /* borrowed: shared.heads or shared.heads_head_only */
    /* the fast record: the Recorder's arrays' append methods (service times: an open
     * loop's), and its start */
    PyObject *lat_append, *end_append, *status_append, *service_append;
    int64_t start_ns;
    /* state */
    int epfd;
    Slot *slots;
    int n_slots;
    int running;            /* closed: users still sending */
    int64_t next_index;
    int64_t in_flight, max_in_flight_seen;
    int64_t connections;
    int stopped;
    PyObject *failure;      /* owned: the first error a record raised */
    Completion *done;       /* completions waiting to be handled */
    int n_done, cap_done;
    Completion *soon;       /* call_soon's: handled in the next pass */
    int n_soon, cap_soon;
    Wake *wakes;            /* think-time heap */
    int n_wakes, cap_wakes;
    uint64_t wake_order;
    /* the open loop (_OpenRun): its schedule, its one pending tick, its pool */
    PyObject *offsets;      /* iterator of intended send times, ns after t0 */
    PyObject *why_unsent;
    int64_t t0, due, give_up_ns, tick_ns, full_until, late_ns, max_in_flight;
    int has_due, sending, waiting_for_slot, give_up_armed;
    int *idle, n_idle;      /* slots with an open connection and no request */
    int *unused, n_unused;  /* slots with no connection */
    int64_t held_back, delay_sum, delay_max, late; /* the fast record's share of these */
    int slack;              /* the thread's timer slack before the run, or -1 */
    /* the last head matched: compared byte for byte before the dict lookup */
    PyObject *last_key;
    PyObject *last_head;
    int last_status, last_keep_alive;
    Py_ssize_t last_length;
    char *buf;
} Loop;

static inline int64_t now_ns(void) {
    /* time.perf_counter_ns() on Linux: the clock the pure loop and the recorder use. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A new OSError for errno ``err``: OSError(err, strerror) picks its subclass, as the
 * socket module's errors do (ConnectionRefusedError, ConnectionResetError...). */
static PyObject *os_error(int err) {
    return PyObject_CallFunction(PyExc_OSError, "is", err, strerror(err));
}

static PyObject *new_exception(PyObject *type, const char *message) {
    return PyObject_CallFunction(type, "s", message);
}

/* The exception raised just now, as an object (NULL if none). */
static PyObject *fetch_exception(void) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL) return NULL;
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
}

/* ---------------------------------------------------------------------------------------- */
/* Lists that grow.                                                                        */

static int push_completion(Completion **list, int *n, int *cap, Completion c) {
    if (*n == *cap) {
        int grown = *cap ? *cap * 2 : 64;
        Completion *bigger = PyMem_Realloc(*list, (size_t)grown * sizeof(Completion));
        if (bigger == NULL) {
            Py_XDECREF(c.head);
            Py_XDECREF(c.body);
            Py_XDECREF(c.exc);
            PyErr_NoMemory();
            return -1;
        }
        *list = bigger;
        *cap = grown;
    }
    (*list)[(*n)++] = c;
    return 0;
}

static int wake_before(const Wake *a, const Wake *b) {
    return a->when < b->when || (a->when == b->when && a->order < b->order);
}

static int push_wake(Loop *L, int64_t when, int slot) {
    if (L->n_wakes == L->cap_wakes) {
        int grown = L->cap_wakes ? L->cap_wakes * 2 : 64;
        Wake *bigger = PyMem_Realloc(L->wakes, (size_t)grown * sizeof(Wake));
        if (bigger == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        L->wakes = bigger;
        L->cap_wakes = grown;
    }
    int i = L->n_wakes++;
    Wake w = {when, L->wake_order++, slot};
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!wake_before(&w, &L->wakes[parent])) break;
        L->wakes[i] = L->wakes[parent];
        i = parent;
    }
    L->wakes[i] = w;
    return 0;
}

static Wake pop_wake(Loop *L) {
    Wake top = L->wakes[0];
    Wake last = L->wakes[--L->n_wakes];
    int i = 0;
    for (;;) {
        int child = 2 * i + 1;
        if (child >= L->n_wakes) break;
        if (child + 1 < L->n_wakes && wake_before(&L->wakes[child + 1], &L->wakes[child]))
            child++;
        if (!wake_before(&L->wakes[child], &last)) break;
        L->wakes[i] = L->wakes[child];
        i = child;
    }
    if (L->n_wakes) L->wakes[i] = last;
    return top;
}

/* ---------------------------------------------------------------------------------------- */
/* Connections (http11/connection.py's Connection).                                        */

static void conn_reset_response(Slot *u) {
    Py_CLEAR(u->head);
    Py_CLEAR(u->body);
    u->body_left = 0;
}

static void conn_close(Slot *u) {
    if (u->fd >= 0) {
        close(u->fd); /* closing takes it out of the epoll set */
        u->fd = -1;
    }
    u->writing = 0;
    Py_CLEAR(u->parser);
}

/* The request failed with ``exc`` (owned): close, and hand it over (Connection._fail). */
static int conn_fail(Loop *L, int ui, PyObject *exc, Completion **list, int *n, int *cap) {
    Slot *u = &L->slots[ui];
    int64_t end = now_ns();
    conn_close(u);
    if (!u->waiting) { /* no request waits (a server's stray bytes): the close is all */
        Py_DECREF(exc);
        conn_reset_response(u);
        return 0;
    }
    u->waiting = 0;
    Completion c = {ui, 0, 0, u->head, NULL, exc, end};
    u->head = NULL; /* the completion owns it: a failure after the head keeps its status */
    Py_CLEAR(u->body);
    return push_completion(list, n, cap, c);
}

#define FAIL(L, ui, exc) conn_fail((L), (ui), (exc), &(L)->done, &(L)->n_done, &(L)->cap_done)

/* The response is whole (Connection._finish). ``status``/``keep`` from the fast path, or
 * -1 to read them from the parser's Head. */
static int conn_finish(Loop *L, int ui, int status, int keep) {
    Slot *u = &L->slots[ui];
    int64_t end = now_ns();
    PyObject *head = u->head;
    if (status < 0) {
        if (head == NULL) { /* the parser ends no response before its head */
            PyErr_SetString(PyExc_RuntimeError, "a response ended before its head");
            return -1;
        }
        PyObject *value = PyObject_GetAttr(head, shared.s_status);
        if (value == NULL) return -1;
        status = (int)PyLong_AsLong(value);
        Py_DECREF(value);
        if (status == -1 && PyErr_Occurred()) return -1;
        value = PyObject_GetAttr(head, shared.s_keep_alive);
        if (value == NULL) return -1;
        keep = PyObject_IsTrue(value);
        Py_DECREF(value);
        if (keep < 0) return -1;
    }
    /* Bytes after the response: no pipelining here, so the framing is off. */
    if (keep && u->parser != NULL) {
        PyObject *buffered = PyObject_GetAttr(u->parser, shared.s_buffered);
        if (buffered == NULL) return -1;
        int any = PyObject_IsTrue(buffered);
        Py_DECREF(buffered);
        if (any < 0) return -1;
        keep = !any;
    }
    if (keep) Py_CLEAR(u->parser); /* nothing buffered: the next response starts afresh */
    u->waiting = 0;
    if (!(keep && L->reuse)) conn_close(u); /* now: a server may wait for our FIN */
    Completion c = {ui, status, keep, u->head, u->body, NULL, end};
    u->head = NULL;
    u->body = NULL;
    return push_completion(&L->done, &L->n_done, &L->cap_done, c);
}

/* Keep the body's first bytes (records only). */
static int keep_body(Loop *L, Slot *u, const char *bytes, Py_ssize_t size) {
    if (L->fast_record) return 0;
    Py_ssize_t have = u->body == NULL ? 0 : PyBytes_GET_SIZE(u->body);
    if (have >= shared.body_keep) return 0;
    Py_ssize_t take = size < shared.body_keep - have ? size : shared.body_keep - have;
    if (u->body == NULL) {
        u->body = PyBytes_FromStringAndSize(bytes, take);
        return u->body == NULL ? -1 : 0;
    }
    PyObject *more = PyBytes_FromStringAndSize(bytes, take);
    if (more == NULL) return -1;
    PyBytes_Concat(&u->body, more);
    Py_DECREF(more);
    return u->body == NULL ? -1 : 0;
}

/* The parser's events for ``data``, as Connection.on_readable reads them. */
static int feed_parser(Loop *L, int ui, PyObject *events) {
    Slot *u = &L->slots[ui];
    Py_ssize_t count = PyList_GET_SIZE(events);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *event = PyList_GET_ITEM(events, i);
        if (PyBytes_CheckExact(event)) {
            if (keep_body(L, u, PyBytes_AS_STRING(event), PyBytes_GET_SIZE(event)) < 0)
                return -1;
        } else if (Py_TYPE(event) == (PyTypeObject *)shared.head_type) {
            Py_INCREF(event);
            Py_XSETREF(u->head, event);
        } else { /* END, always the last event */
            return conn_finish(L, ui, -1, 0);
        }
    }
    return 0;
}

/* An exception from the parser: a ProtocolError (or ServerDisconnected at EOF) fails the
 * request; anything else is a bug and ends the run with it. */
static int parser_error(Loop *L, int ui, PyObject *expected) {
    if (!PyErr_ExceptionMatches(expected)) return -1;
    PyObject *exc = fetch_exception();
    if (exc == NULL) return -1;
    return FAIL(L, ui, exc);
}

static int ensure_parser(Loop *L, Slot *u) {
    if (u->parser != NULL) return 0;
    PyObject *kwargs = PyDict_New();
    if (kwargs == NULL) return -1;
    if (PyDict_SetItem(kwargs, shared.s_head_only, L->head_only ? Py_True : Py_False) < 0) {
        Py_DECREF(kwargs);
        return -1;
    }
    PyObject *args = PyTuple_New(0);
    if (args == NULL) {
        Py_DECREF(kwargs);
        return -1;
    }
    u->parser = PyObject_Call(shared.parser_type, args, kwargs);
    Py_DECREF(args);
    Py_DECREF(kwargs);
    return u->parser == NULL ? -1 : 0;
}

/* The server closed the connection (Connection._lost). */
static int conn_lost(Loop *L, int ui) {
    Slot *u = &L->slots[ui];
    if (!u->waiting) { /* an idle kept-alive connection: nothing is lost */
        conn_close(u);
        return 0;
    }
    if (u->body_left > 0) { /* ResponseParser.feed_eof's words for a body cut short */
        PyObject *exc = PyObject_CallFunction(
            shared.incomplete_read, "N",
            PyUnicode_FromFormat("%zd bytes read, %zd more expected",
                                 u->body_length - u->body_left, u->body_left));
        return exc == NULL ? -1 : FAIL(L, ui, exc);
    }
    if (ensure_parser(L, u) < 0) return -1;
    PyObject *events = PyObject_CallMethodNoArgs(u->parser, shared.s_feed_eof);
    if (events == NULL) return parser_error(L, ui, shared.server_disconnected);
    Py_DECREF(events);
    return conn_finish(L, ui, -1, 0); /* a body that ends at the close */
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Whether ``name`` (lower case) starts ``line`` case-insensitively, followed by blanks and
 * a colon (http11.parse's _FRAMING): where its value starts, or NULL. */
static const char *field_value(const char *line, const char *end, const char *name) {
    size_t n = strlen(name);
    if ((size_t)(end - line) < n) return NULL;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)line[i]) != name[i]) return NULL;
    const char *p = line + n;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    if (p >= end || *p != ':') return NULL;
    p++;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    return p;
}

static int contains_lower(const char *p, const char *end, const char *word) {
    size_t n = strlen(word);
    for (; (size_t)(end - p) >= n; p++) {
        size_t i = 0;
        while (i < n && lower((unsigned char)p[i]) == word[i]) i++;
        if (i == n) return 1;
    }
    return 0;
}

/* A head's framing read here, for the plain case only: a valid HTTP/1.x status line of a
 * final response, at most MAX_HEADERS lines, one Content-Length of digits alone, no
 * Transfer-Encoding. 1 with the framing, or 0: anything else (a chunked or close-delimited
 * body, a bad or repeated length, an interim response, a malformed head) is read by
 * http11.parse.read_framing, which also words every error. Its rules, for this case. */
static int plain_framing(Loop *L, const char *raw, Py_ssize_t size) {
    if (size < 12 || memcmp(raw, "HTTP/1.", 7) != 0 || (raw[7] != '0' && raw[7] != '1') ||
        raw[8] != ' ' || raw[9] < '1' || raw[9] > '9' || raw[10] < '0' || raw[10] > '9' ||
        raw[11] < '0' || raw[11] > '9' || (size > 12 && raw[12] != ' ' && raw[12] != '\r'))
        return 0;
    int status = (raw[9] - '0') * 100 + (raw[10] - '0') * 10 + (raw[11] - '0');
    if (status < 200) return 0;
    const char *end = raw + size;
    const char *line = memchr(raw, '\n', (size_t)size);
    int lines = 0, lengths = 0, said_close = 0, said_keep_alive = 0;
    long long length = -1;
    while (line != NULL) { /* ``line`` points at the '\n' of a CRLF */
        if (line[-1] != '\r') return 0;
        line++;
        if (++lines > 100) return 0; /* MAX_HEADERS: the parser says so */
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        const char *stop = eol == NULL ? end : eol - 1; /* the line's CR, or the head's end */
        if (eol != NULL && (eol == line || eol[-1] != '\r')) return 0;
        const char *value;
        if (field_value(line, stop, "transfer-encoding") != NULL) return 0;
        if ((value = field_value(line, stop, "content-length")) != NULL) {
            const char *v = value, *v_end = stop;
            while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t')) v_end--;
            if (++lengths > 1 || v_end == v || v_end - v > 18) return 0;
            length = 0;
            for (const char *d = v; d < v_end; d++) {
                if (*d < '0' || *d > '9') return 0;
                length = length * 10 + (*d - '0');
            }
        } else if ((value = field_value(line, stop, "connection")) != NULL) {
            said_close |= contains_lower(value, stop, "close");
            said_keep_alive |= contains_lower(value, stop, "keep-alive");
        }
        line = eol;
    }
    if (lengths != 1) return 0; /* no length: the body ends at the close */
    L->last_status = status;
    L->last_keep_alive = raw[7] == '0' ? said_keep_alive : !said_close;
    L->last_length = (L->head_only || status == 204 || status == 304) ? 0 : (Py_ssize_t)length;
    return 1;
}

/* A head's framing, by its bytes: 1 with it in L->last_*, or 0 for the parser to read. The
 * same head as the last one costs a memcmp; a plain head is read here (servelab's own
 * service stamps every response with its times, so its heads are never the same twice);
 * any other one may be in the parser's cache of heads it read before. */
static int known_head(Loop *L, const char *raw, Py_ssize_t size) {
    PyObject *key = L->last_key;
    if (key != NULL && PyBytes_GET_SIZE(key) == size &&
        memcmp(PyBytes_AS_STRING(key), raw, (size_t)size) == 0)
        return 1;
    if (plain_framing(L, raw, size)) {
        key = PyBytes_FromStringAndSize(raw, size);
        if (key == NULL) return -1;
        Py_XSETREF(L->last_key, key);
        Py_CLEAR(L->last_head); /* made when a record or a failure needs it */
        return 1;
    }
    key = PyBytes_FromStringAndSize(raw, size);
    if (key == NULL) return -1;
    PyObject *framed = PyDict_GetItemWithError(L->heads, key); /* borrowed */
    if (framed == NULL) {
        Py_DECREF(key);
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject *head = PyTuple_GET_ITEM(framed, 0);
    Py_ssize_t length = PyLong_AsSsize_t(PyTuple_GET_ITEM(framed, 1));
    PyObject *status = PyObject_GetAttr(head, shared.s_status);
    PyObject *keep = status == NULL ? NULL : PyObject_GetAttr(head, shared.s_keep_alive);
    if (keep == NULL || (length == -1 && PyErr_Occurred())) {
        Py_DECREF(key);
        Py_XDECREF(status);
        Py_XDECREF(keep);
        return -1;
    }
    L->last_status = (int)PyLong_AsLong(status);
    L->last_keep_alive = PyObject_IsTrue(keep);
    Py_DECREF(status);
    Py_DECREF(keep);
    L->last_length = length;
    Py_XSETREF(L->last_key, key);
    Py_INCREF(head);
    Py_XSETREF(L->last_head, head);
    return 1;
}

/* The last head as a parse.Head (a new reference), made from its bytes if need be. */
static PyObject *last_head(Loop *L) {
    if (L->last_head == NULL) {
        L->last_head = PyObject_CallFunction(shared.head_type, "iOO", L->last_status,
                                             L->last_keep_alive ? Py_True : Py_False,
                                             L->last_key);
        if (L->last_head == NULL) return NULL;
    }
    Py_INCREF(L->last_head);
    return L->last_head;
}

static int conn_readable(Loop *L, int ui) {
    Slot *u = &L->slots[ui];
    ssize_t n = recv(u->fd, L->buf, READ_SIZE, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
        PyObject *exc = os_error(errno);
        return exc == NULL ? -1 : FAIL(L, ui, exc);
    }
    if (n == 0) return conn_lost(L, ui);
    if (!u->waiting) {
        PyObject *exc = new_exception(shared.protocol_error,
                                      "the server sent bytes no request asked for");
        return exc == NULL ? -1 : FAIL(L, ui, exc);
    }
    u->got_bytes = 1;
    if (u->body_left > 0) {
        /* The rest of a known head's body. Bytes past its end: no pipelining here, so the
         * framing is off and the connection is not reused (as the parser's ``buffered``). */
        Py_ssize_t take = n < u->body_left ? n : u->body_left;
        if (keep_body(L, u, L->buf, take) < 0) return -1;
        u->body_left -= take;
        if (u->body_left) return 0;
        return conn_finish(L, ui, u->head_status, u->head_keep_alive && take == n);
    }
    if (u->parser == NULL) {
        /* The common case: a whole response, with a head seen before, in one read
         * (parse.whole_response). */
        char *end = memmem(L->buf, (size_t)n, "\r\n\r\n", 4);
        if (end != NULL && end - L->buf <= MAX_HEAD) {
            Py_ssize_t head_size = end - L->buf;
            int known = known_head(L, L->buf, head_size);
            if (known < 0) return -1;
            Py_ssize_t start = head_size + 4;
            if (known && L->last_status >= 200 && L->last_length >= 0 &&
                start + L->last_length == n) {
                if (!L->fast_record) {
                    PyObject *head = last_head(L);
                    if (head == NULL) return -1;
                    Py_XSETREF(u->head, head);
                    if (keep_body(L, u, L->buf + start, n - start) < 0) return -1;
                    if (u->body == NULL) {
                        u->body = PyBytes_FromStringAndSize("", 0);
                        if (u->body == NULL) return -1;
                    }
                }
                return conn_finish(L, ui, L->last_status, L->last_keep_alive);
            }
            if (known && L->last_status >= 200 && L->last_length >= 0 &&
                start + L->last_length > n) {
                /* The head whole, and only part of its body: read the rest here. */
                PyObject *head = last_head(L);
                if (head == NULL) return -1;
                Py_XSETREF(u->head, head); /* a failure from here on keeps it */
                if (keep_body(L, u, L->buf + start, n - start) < 0) return -1;
                if (!L->fast_record && u->body == NULL) {
                    u->body = PyBytes_FromStringAndSize("", 0);
                    if (u->body == NULL) return -1;
                }
                u->body_length = L->last_length;
                u->body_left = L->last_length - (n - start);
                u->head_status = L->last_status;
                u->head_keep_alive = L->last_keep_alive;
                return 0;
            }
        }
        if (ensure_parser(L, u) < 0) return -1;
    }
    PyObject *data = PyBytes_FromStringAndSize(L->buf, n);
    if (data == NULL) return -1;
    PyObject *events = PyObject_CallMethodOneArg(u->parser, shared.s_feed, data);
    Py_DECREF(data);
    if (events == NULL) return parser_error(L, ui, shared.protocol_error);
    if (!PyList_Check(events)) {
        Py_DECREF(events);
        PyErr_SetString(PyExc_TypeError, "ResponseParser.feed must return a list");
        return -1;
    }
    int result = feed_parser(L, ui, events);
    Py_DECREF(events);
    return result;
}

static int watch_writes(Loop *L, int ui, int on) {
    Slot *u = &L->slots[ui];
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.u32 = (uint32_t)ui};
    if (epoll_ctl(L->epfd, EPOLL_CTL_MOD, u->fd, &ev) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    u->writing = on;
    return 0;
}

static int conn_writable(Loop *L, int ui) {
    Slot *u = &L->slots[ui];
    Py_ssize_t size = PyBytes_GET_SIZE(u->data);
    ssize_t n = send(u->fd, PyBytes_AS_STRING(u->data) + u->sent, (size_t)(size - u->sent),
                     MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
        PyObject *exc = os_error(errno);
        return exc == NULL ? -1 : FAIL(L, ui, exc);
    }
    u->sent += n;
    if (u->sent >= size) return watch_writes(L, ui, 0);
    return 0;
}

/* A new connection for user ``ui``: 0, or -2 with the OSError in *exc, or -1. */
static int conn_open(Loop *L, int ui, PyObject **exc) {
    Slot *u = &L->slots[ui];
    L->connections++;
    int fd = socket(L->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *exc = os_error(errno);
        return *exc == NULL ? -1 : -2;
    }
    if (connect(fd, (struct sockaddr *)&L->addr, L->addr_len) < 0 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        *exc = os_error(err);
        return *exc == NULL ? -1 : -2;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)ui};
    if (epoll_ctl(L->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int err = errno;
        close(fd);
        *exc = os_error(err);
        return *exc == NULL ? -1 : -2;
    }
    u->fd = fd;
    u->nodelay = 0;
    u->writing = 0;
    u->waiting = 0;
    Py_CLEAR(u->parser);
    conn_reset_response(u);
    return 0;
}

/* Write the request (Connection.send); a failure is handed over in the next pass. */
static int conn_send(Loop *L, int ui) {
    Slot *u = &L->slots[ui];
    u->waiting = 1;
    u->got_bytes = 0;
    u->sent = 0;
    conn_reset_response(u);
    Py_ssize_t size = PyBytes_GET_SIZE(u->data);
    ssize_t n = send(u->fd, PyBytes_AS_STRING(u->data), (size_t)size, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            n = 0; /* still connecting, or a full buffer: send when writable */
        } else {
            /* Never handled from inside send: the pure loop's _fail_soon. */
            PyObject *exc = os_error(errno);
            if (exc == NULL) return -1;
            return conn_fail(L, ui, exc, &L->soon, &L->n_soon, &L->cap_soon);
        }
    }
    u->sent = n;
    if (n < size) {
        if (!u->nodelay) { /* the rest must not wait for a delayed ACK (Nagle) */
            u->nodelay = 1;
            int one = 1;
            (void)setsockopt(u->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        return watch_writes(L, ui, 1);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Sending a request (driver.py's Driver.send and _Retry).                                 */

static int send_request(Loop *L, int ui) {
    Slot *u = &L->slots[ui];
    int64_t now = now_ns();
    u->deadline = now + L->timeout_ns < L->end_by ? now + L->timeout_ns : L->end_by;
    if (u->fd >= 0) {
        u->reused = 1;
        return conn_send(L, ui);
    }
    u->reused = 0;
    PyObject *exc = NULL;
    int opened = conn_open(L, ui, &exc);
    if (opened == -1) return -1;
    if (opened == -2) {
        Completion c = {ui, 0, 0, NULL, NULL, exc, now_ns()};
        return push_completion(&L->soon, &L->n_soon, &L->cap_soon, c);
    }
    return conn_send(L, ui);
}

static int retryable(PyObject *exc) {
    return PyObject_IsInstance(exc, shared.server_disconnected) == 1 ||
           PyObject_TypeCheck(exc, (PyTypeObject *)PyExc_ConnectionResetError) ||
           PyObject_TypeCheck(exc, (PyTypeObject *)PyExc_BrokenPipeError);
}

/* 1 when the request was sent again on a new connection (the completion is not the end),
 * 0 when it ends here (with a new error if the new connection could not be opened). */
static int retried(Loop *L, Completion *c) {
    Slot *u = &L->slots[c->slot];
    if (c->exc == NULL || !u->reused || u->got_bytes || !retryable(c->exc)) return 0;
    /* The server closed the kept-alive connection as it was reused: once more, on a new
     * one, with the same deadline. */
    u->reused = 0;
    PyObject *exc = NULL;
    int opened = conn_open(L, c->slot, &exc);
    if (opened == -1) return -1;
    if (opened == 0) return conn_send(L, c->slot) < 0 ? -1 : 1;
    Py_SETREF(c->exc, exc);
    c->end = now_ns();
    Py_CLEAR(c->head);
    return 0;
}

static int append(PyObject *method, PyObject *value) {
    if (value == NULL) return -1;
    PyObject *r = PyObject_CallOneArg(method, value);
    Py_DECREF(value);
    if (r == NULL) return -1;
    Py_DECREF(r);
    return 0;
}

/* The request on slot ``u`` ended: Recorder.add, or its arrays straight away. */
static int record(Loop *L, Slot *u, Completion *c) {
    if (c->exc == NULL && L->fast_record) {
        /* Recorder.add for a request answered, when no record is kept: the arrays. */
        if (append(L->lat_append, PyFloat_FromDouble((double)(c->end - u->due) * 1e-9)) < 0 ||
            append(L->end_append, PyFloat_FromDouble((double)(c->end - L->start_ns) * 1e-9)) < 0)
            return -1;
        if (L->service_append != NULL) {
            if (append(L->service_append,
                       PyFloat_FromDouble((double)(c->end - u->start) * 1e-9)) < 0)
                return -1;
            if (u->start != u->due) {
                int64_t delay = u->start - u->due;
                L->delay_sum += delay;
                if (delay > L->delay_max) L->delay_max = delay;
                if (delay > L->late_ns) L->late++;
            }
        }
        return append(L->status_append, PyLong_FromLong(c->status));
    }
    PyObject *response = Py_None;
    Py_INCREF(response);
    if (c->head != NULL) {
        PyObject *body = c->exc == NULL && c->body != NULL ? c->body : NULL;
        if (body == NULL) body = PyBytes_FromStringAndSize("", 0);
        else Py_INCREF(body);
        if (body == NULL) return -1;
        Py_DECREF(response);
        response = PyObject_CallFunction(shared.response_type, "OOO", c->head, body,
                                         c->exc == NULL && c->keep_alive ? Py_True : Py_False);
        Py_DECREF(body);
        if (response == NULL) return -1;
    }
    PyObject *r = PyObject_CallMethod(L->recorder, "add", "LOLLLOO", (long long)u->index,
                                      u->area, (long long)u->due, (long long)u->start,
                                      (long long)c->end, response,
                                      c->exc != NULL ? c->exc : Py_None);
    Py_DECREF(response);
    if (r == NULL) {
        /* An error from on_record or the records file ends the run with it (Driver.fail). */
        PyObject *error = fetch_exception();
        if (error == NULL) return -1;
        if (L->failure == NULL) L->failure = error;
        else Py_DECREF(error);
        L->stopped = 1;
        return 0;
    }
    Py_DECREF(r);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The closed loop (loops.py's _User, _ClosedRun).                                         */

static int closed_next(Loop *L, int ui, int stop) {
    Slot *u = &L->slots[ui];
    int64_t index = L->next_index;
    int64_t start = now_ns();
    if (stop || index >= L->limit || start >= L->end_ns || L->failure != NULL) {
        conn_close(u);
        conn_reset_response(u);
        if (--L->running == 0) L->stopped = 1;
        return 0;
    }
    L->next_index = index + 1;
    u->index = index;
    u->due = u->start = start;
    PyObject *pair = PyList_GET_ITEM(L->payloads, index % L->cycle);
    u->area = PyTuple_GET_ITEM(pair, 0);
    u->data = PyTuple_GET_ITEM(pair, 1);
    L->in_flight++;
    return send_request(L, ui);
}

static int closed_done(Loop *L, Completion *c) {
    int again = retried(L, c);
    if (again) return again < 0 ? -1 : 0;
    L->in_flight--;
    if (record(L, &L->slots[c->slot], c) < 0) return -1;
    if (!L->think_ns) return closed_next(L, c->slot, 0);
    int64_t now = now_ns();
    if (now + L->think_ns >= L->end_ns) return closed_next(L, c->slot, 1); /* its think
                                                     would outlive the duration: it is done */
    return push_wake(L, now + L->think_ns, c->slot);
}

/* ---------------------------------------------------------------------------------------- */
/* The open loop (loops.py's _OpenRun).                                                    */

/* The next intended send time from the schedule (``has_due`` 0 when it is over). */
static int open_advance(Loop *L) {
    PyObject *offset = PyIter_Next(L->offsets);
    if (offset == NULL) {
        L->has_due = 0;
        return PyErr_Occurred() ? -1 : 0;
    }
    long long ns = PyLong_AsLongLong(offset);
    Py_DECREF(offset);
    if (ns == -1 && PyErr_Occurred()) return -1;
    L->due = L->t0 + ns;
    L->has_due = 1;
    return 0;
}

static void open_stop_sending(Loop *L) {
    L->sending = 0;
    L->waiting_for_slot = 0;
    L->tick_ns = -1;
    L->give_up_armed = 0;
    if (L->in_flight == 0 || L->failure != NULL) L->stopped = 1;
}

/* The drain ran out: every request not sent yet is recorded unsent, from the schedule's
 * one iterator, which ends here (_OpenRun._give_up). */
static int open_give_up(Loop *L, int64_t now) {
    while (L->has_due) {
        L->held_back++; /* due before now, when every slot was taken */
        PyObject *pair = PyList_GET_ITEM(L->payloads, L->next_index % L->cycle);
        PyObject *r = PyObject_CallMethod(L->recorder, "add_unsent", "LOLLO",
                                          (long long)L->next_index, PyTuple_GET_ITEM(pair, 0),
                                          (long long)L->due, (long long)now, L->why_unsent);
        if (r == NULL) return -1;
        Py_DECREF(r);
        L->next_index++;
        if (open_advance(L) < 0) return -1;
    }
    open_stop_sending(L);
    return 0;
}

static int open_dispatch(Loop *L, int64_t due) {
    int ui = -1;
    while (L->n_idle) { /* the connection freed last, if the server has not closed it */
        int candidate = L->idle[--L->n_idle];
        if (L->slots[candidate].fd >= 0) {
            ui = candidate;
            break;
        }
        L->unused[L->n_unused++] = candidate;
    }
    if (ui < 0) ui = L->unused[--L->n_unused]; /* one is free: in_flight < max_in_flight */
    Slot *u = &L->slots[ui];
    int64_t index = L->next_index;
    PyObject *pair = PyList_GET_ITEM(L->payloads, index % L->cycle);
    u->index = index;
    u->area = PyTuple_GET_ITEM(pair, 0);
    u->data = PyTuple_GET_ITEM(pair, 1);
    u->due = due;
    u->start = now_ns();
    if (++L->in_flight > L->max_in_flight_seen) L->max_in_flight_seen = L->in_flight;
    return send_request(L, ui);
}

/* Send every request due by now, at most 16 in a row before letting responses in. */
static int open_tick(Loop *L) {
    L->tick_ns = -1;
    if (!L->sending) return 0; /* a request ended after the give-up: the schedule is over */
    for (int i = 0; i < 16; i++) {
        if (!L->has_due || L->failure != NULL) {
            open_stop_sending(L);
            return 0;
        }
        int64_t now = now_ns();
        if (L->due > now) {
            L->tick_ns = L->due;
            return 0;
        }
        if (L->in_flight >= L->max_in_flight) {
            L->full_until = now;
            if (now >= L->give_up_ns) return open_give_up(L, now);
            L->waiting_for_slot = 1; /* a request's end ticks again */
            L->give_up_armed = 1;
            return 0;
        }
        if (L->due <= L->full_until) L->held_back++;
        if (open_dispatch(L, L->due) < 0) return -1;
        L->next_index++;
        if (open_advance(L) < 0) return -1;
    }
    L->tick_ns = now_ns(); /* behind schedule: let responses in, then go on */
    return 0;
}

static int open_done(Loop *L, Completion *c) {
    int again = retried(L, c);
    if (again) return again < 0 ? -1 : 0;
    Slot *u = &L->slots[c->slot];
    L->in_flight--;
    if (u->fd >= 0) L->idle[L->n_idle++] = c->slot; /* kept alive: reused next */
    else L->unused[L->n_unused++] = c->slot;
    if (L->waiting_for_slot) {
        L->full_until = c->end; /* every slot was taken until this one freed */
        L->waiting_for_slot = 0;
        L->tick_ns = now_ns();
    }
    if (record(L, u, c) < 0) return -1;
    if (L->in_flight == 0 && !L->sending) L->stopped = 1;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The event loop (reactor.py's Reactor.run).                                              */

static void clear_completion(Completion *c) {
    Py_CLEAR(c->head);
    Py_CLEAR(c->body);
    Py_CLEAR(c->exc);
}

/* Handle the completions waiting in ``*list``; those not reached (an error, or the run
 * stopped before a call_soon) are dropped, as the pure reactor drops them. */
static int handle(Loop *L, Completion **list, int *n, int *cap, int stop_early) {
    int count = *n;
    if (!count) return 0;
    Completion *batch = *list;
    *list = NULL;
    *n = *cap = 0;
    int i = 0, result = 0;
    for (; i < count; i++) {
        if (stop_early && L->stopped) break;
        result = L->open ? open_done(L, &batch[i]) : closed_done(L, &batch[i]);
        clear_completion(&batch[i]);
        if (result < 0) {
            i++;
            break;
        }
    }
    for (; i < count; i++) clear_completion(&batch[i]);
    PyMem_Free(batch);
    return result;
}

static void sweep(Loop *L, int64_t now) {
    for (int i = 0; i < L->n_slots; i++) {
        Slot *u = &L->slots[i];
        if (u->fd >= 0 && u->waiting && now >= u->deadline) {
            PyObject *exc = new_exception(PyExc_TimeoutError, "timed out");
            if (exc == NULL || FAIL(L, i, exc) < 0) {
                PyErr_Clear(); /* out of memory for an exception: it times out next sweep */
                return;
            }
        }
    }
}

/* The earliest timer: the sweep, a think time, the open loop's tick or its give-up. */
static int64_t next_timer(Loop *L, int64_t sweep_at) {
    int64_t due = sweep_at;
    if (L->n_wakes && L->wakes[0].when < due) due = L->wakes[0].when;
    if (L->tick_ns >= 0 && L->tick_ns < due) due = L->tick_ns;
    if (L->give_up_armed && L->give_up_ns < due) due = L->give_up_ns;
    return due;
}

/* epoll_wait until ``due`` at the latest; a precise loop wakes on time to the microsecond:
 * epoll counts whole milliseconds (rounded up), so it waits until a millisecond before and
 * the rest with ppoll on the epoll set. */
static int wait_events(Loop *L, struct epoll_event *events, int64_t due, int now_only) {
    int64_t wait = now_only ? 0 : due - now_ns();
    int timeout;
    if (wait <= 0) {
        timeout = 0;
    } else if (!L->open || wait >= 2000000) {
        if (L->open) wait -= 1000000;
        timeout = (int)((wait + 999999) / 1000000);
    } else {
        struct pollfd pfd = {.fd = L->epfd, .events = POLLIN};
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)wait};
        int ready;
        Py_BEGIN_ALLOW_THREADS
        ready = ppoll(&pfd, 1, &ts, NULL);
        Py_END_ALLOW_THREADS
        if (ready < 0 && errno != EINTR) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -2;
        }
        timeout = 0;
    }
    int n;
    Py_BEGIN_ALLOW_THREADS
    n = epoll_wait(L->epfd, events, MAX_EVENTS, timeout);
    Py_END_ALLOW_THREADS
    if (n < 0) {
        if (errno == EINTR) return 0; /* the signal is checked by the caller */
        PyErr_SetFromErrno(PyExc_OSError);
        return -2;
    }
    return n;
}

static int run(Loop *L) {
    struct epoll_event events[MAX_EVENTS];
    int64_t sweep_at = now_ns() + L->sweep_ns;
    if (L->open) {
        if (open_tick(L) < 0) return -1;
    } else {
        L->running = L->n_slots;
        for (int i = 0; i < L->n_slots; i++)
            if (closed_next(L, i, 0) < 0) return -1;
        L->max_in_flight_seen = L->in_flight; /* no user ever has two in flight */
    }
    while (!L->stopped) {
        if (PyErr_CheckSignals() < 0) return -1; /* Ctrl-C ends the run here */
        int n = wait_events(L, events, next_timer(L, sweep_at), L->n_soon > 0);
        if (n == -2) return -1;
        for (int k = 0; k < n; k++) {
            int ui = (int)events[k].data.u32;
            uint32_t mask = events[k].events;
            Slot *u = &L->slots[ui];
            if (u->fd < 0) continue; /* closed earlier in this batch */
            if (mask == EPOLLIN) {
                if (conn_readable(L, ui) < 0) return -1;
                continue;
            }
            if (mask & EPOLLOUT) {
                if (conn_writable(L, ui) < 0) return -1;
                if (u->fd < 0) continue;
            }
            if (mask & ~(uint32_t)EPOLLOUT) {
                if (conn_readable(L, ui) < 0) return -1;
            }
        }
        /* Every connection of the batch is closed by now: record, then send on. */
        if (handle(L, &L->done, &L->n_done, &L->cap_done, 0) < 0) return -1;
        int64_t now = now_ns();
        if (now >= sweep_at) {
            sweep(L, now);
            sweep_at = now + L->sweep_ns;
            if (handle(L, &L->done, &L->n_done, &L->cap_done, 0) < 0) return -1;
        }
        if (handle(L, &L->soon, &L->n_soon, &L->cap_soon, 1) < 0) return -1;
        now = now_ns();
        while (!L->stopped && L->n_wakes && L->wakes[0].when <= now) {
            Wake w = pop_wake(L);
            if (closed_next(L, w.slot, 0) < 0) return -1;
        }
        if (!L->stopped && L->give_up_armed && now >= L->give_up_ns) {
            L->give_up_armed = 0;
            L->tick_ns = now; /* the drain is over: the tick gives up on what waits */
        }
        if (!L->stopped && L->tick_ns >= 0 && now >= L->tick_ns) {
            if (open_tick(L) < 0) return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Entry points.                                                                           */

static int parse_address(Loop *L, const char *host, int port) {
    memset(&L->addr, 0, sizeof L->addr);
    if (L->family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&L->addr;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1) goto bad;
        L->addr_len = sizeof *a;
        return 0;
    }
    if (L->family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&L->addr;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) goto bad;
        L->addr_len = sizeof *a;
        return 0;
    }
bad:
    PyErr_Format(PyExc_ValueError, "not a numeric address of family %d: %s", L->family, host);
    return -1;
}

static void loop_free(Loop *L) {
    if (L->slots != NULL) {
        for (int i = 0; i < L->n_slots; i++) {
            conn_close(&L->slots[i]);
            conn_reset_response(&L->slots[i]);
        }
        PyMem_Free(L->slots);
    }
    for (int i = 0; i < L->n_done; i++) clear_completion(&L->done[i]);
    for (int i = 0; i < L->n_soon; i++) clear_completion(&L->soon[i]);
    PyMem_Free(L->done);
    PyMem_Free(L->soon);
    PyMem_Free(L->wakes);
    PyMem_Free(L->idle);
    PyMem_Free(L->unused);
    PyMem_Free(L->buf);
    if (L->epfd >= 0) close(L->epfd);
    if (L->slack >= 0) (void)prctl(PR_SET_TIMERSLACK, (unsigned long)L->slack, 0, 0, 0);
    Py_XDECREF(L->lat_append);
    Py_XDECREF(L->end_append);
    Py_XDECREF(L->status_append);
    Py_XDECREF(L->service_append);
    Py_XDECREF(L->last_key);
    Py_XDECREF(L->last_head);
    Py_XDECREF(L->failure);
}

static int check_payloads(Loop *L) {
    L->cycle = PyList_GET_SIZE(L->payloads);
    if (L->cycle == 0) {
        PyErr_SetString(PyExc_ValueError, "no payloads");
        return -1;
    }
    for (Py_ssize_t i = 0; i < L->cycle; i++) {
        PyObject *pair = PyList_GET_ITEM(L->payloads, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            !PyBytes_Check(PyTuple_GET_ITEM(pair, 1))) {
            PyErr_SetString(PyExc_TypeError, "payloads must be (area, bytes) pairs");
            return -1;
        }
    }
    return 0;
}

/* What both loops set up: slots, the epoll set, the fast record's appends. */
static int loop_start(Loop *L, const char *host, int port, int slots) {
    if (!shared_ready) {
        PyErr_SetString(PyExc_RuntimeError, "servelab.load._speedups.setup() was not called");
        return -1;
    }
    if (slots < 1 || L->sweep_ns < 1) {
        PyErr_SetString(PyExc_ValueError, "no slots or no sweep interval");
        return -1;
    }
    if (check_payloads(L) < 0 || parse_address(L, host, port) < 0) return -1;
    L->heads = L->head_only ? shared.heads_head_only : shared.heads;
    L->n_slots = slots;
    L->slots = PyMem_Calloc((size_t)slots, sizeof(Slot));
    L->buf = PyMem_Malloc(READ_SIZE);
    if (L->slots == NULL || L->buf == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (int i = 0; i < slots; i++) L->slots[i].fd = -1;
    L->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (L->epfd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    if (!L->fast_record) return 0;
    PyObject *start = PyObject_GetAttrString(L->recorder, "start_ns");
    if (start == NULL) return -1;
    L->start_ns = PyLong_AsLongLong(start);
    Py_DECREF(start);
    if (PyErr_Occurred()) return -1;
    const char *names[4] = {"latencies", "ends", "statuses", "service_times"};
    PyObject **appends[4] = {&L->lat_append, &L->end_append, &L->status_append,
                             &L->service_append};
    for (int i = 0; i < 4; i++) {
        PyObject *array = PyObject_GetAttrString(L->recorder, names[i]);
        if (array == NULL) return -1;
        if (array != Py_None) *appends[i] = PyObject_GetAttr(array, shared.s_append);
        Py_DECREF(array);
        if (array != Py_None && *appends[i] == NULL) return -1;
    }
    if (L->lat_append == NULL || L->end_append == NULL || L->status_append == NULL) {
        PyErr_SetString(PyExc_TypeError, "the recorder has no latencies, ends or statuses");
        return -1;
    }
    return 0;
}

/* The run's end: its failure raised, else ``result`` built; everything closed either way. */
static PyObject *loop_finish(Loop *L, int ran, PyObject *(*build)(Loop *)) {
    PyObject *result = NULL;
    if (ran == 0) {
        if (L->failure != NULL) PyErr_SetObject((PyObject *)Py_TYPE(L->failure), L->failure);
        else result = build(L);
    }
    loop_free(L);
    Py_DECREF(L->payloads);
    Py_DECREF(L->recorder);
    Py_XDECREF(L->offsets);
    Py_XDECREF(L->why_unsent);
    return result;
}

static PyObject *closed_result(Loop *L) {
    return Py_BuildValue("LL", (long long)L->connections, (long long)L->max_in_flight_seen);
}

static PyObject *open_result(Loop *L) {
    return Py_BuildValue("LLLLLL", (long long)L->connections, (long long)L->max_in_flight_seen,
                         (long long)L->held_back, (long long)L->delay_sum,
                         (long long)L->delay_max, (long long)L->late);
}

PyDoc_STRVAR(run_closed_doc,
"run_closed(family, host, port, payloads, users, limit, end_ns, think_ns, timeout_ns,\n"
"           sweep_ns, reuse, head_only, recorder, fast_record) -> (connections, max_in_flight)\n"
"\n"
"The closed loop of loops.run_closed, from its users' start to their end: ``host`` is a\n"
"numeric address, ``payloads`` the driver's (area, request bytes) pairs, ``limit`` and\n"
"``end_ns`` (perf_counter_ns) when to stop. Each request ends in ``recorder.add`` or, with\n"
"``fast_record``, straight in the recorder's arrays. An error a record raised is raised\n"
"after every connection is closed.");

static PyObject *run_closed(PyObject *module, PyObject *args) {
    (void)module;
    Loop L;
    memset(&L, 0, sizeof L);
    L.epfd = -1;
    L.slack = -1;
    L.tick_ns = -1;
    L.end_by = INT64_MAX;
    const char *host;
    int port, users;
    long long limit, end_ns, think_ns, timeout_ns, sweep_ns;
    if (!PyArg_ParseTuple(args, "isiO!iLLLLLppOp", &L.family, &host, &port, &PyList_Type,
                          &L.payloads, &users, &limit, &end_ns, &think_ns, &timeout_ns,
                          &sweep_ns, &L.reuse, &L.head_only, &L.recorder, &L.fast_record))
        return NULL;
    L.limit = limit;
    L.end_ns = end_ns;
    L.think_ns = think_ns;
    L.timeout_ns = timeout_ns;
    L.sweep_ns = sweep_ns;
    Py_INCREF(L.payloads); /* held for the run: slots borrow its items */
    Py_INCREF(L.recorder);
    int ran = loop_start(&L, host, port, users) < 0 ? -1 : run(&L);
    return loop_finish(&L, ran, closed_result);
}

PyDoc_STRVAR(run_open_doc,
"run_open(family, host, port, payloads, offsets, t0, give_up_ns, end_by_ns, max_in_flight,\n"
"         timeout_ns, sweep_ns, reuse, head_only, recorder, fast_record, late_ns,\n"
"         why_unsent)\n"
"    -> (connections, max_in_flight, held_back, delay_sum_ns, delay_max_ns, late)\n"
"\n"
"The open loop of loops.run_open: request i is due at t0 + the i-th of ``offsets``\n"
"(perf_counter_ns), at most ``max_in_flight`` are in flight, what still waits at\n"
"``give_up_ns`` is recorded unsent with ``why_unsent``, and no request outlives\n"
"``end_by_ns``. held_back counts every request held back; the delays and late sends are\n"
"those of the requests recorded with ``fast_record`` (``recorder.add`` counts the others).");

static PyObject *run_open(PyObject *module, PyObject *args) {
    (void)module;
    Loop L;
    memset(&L, 0, sizeof L);
    L.open = 1;
    L.epfd = -1;
    L.slack = -1;
    L.tick_ns = -1;
    L.full_until = -1;
    L.sending = 1;
    const char *host;
    int port;
    long long t0, give_up_ns, end_by, max_in_flight, timeout_ns, sweep_ns, late_ns;
    if (!PyArg_ParseTuple(args, "isiO!OLLLLLLppOpLU", &L.family, &host, &port, &PyList_Type,
                          &L.payloads, &L.offsets, &t0, &give_up_ns, &end_by, &max_in_flight,
                          &timeout_ns, &sweep_ns, &L.reuse, &L.head_only, &L.recorder,
                          &L.fast_record, &late_ns, &L.why_unsent))
        return NULL;
    if (max_in_flight < 1 || max_in_flight > INT32_MAX / 2) {
        PyErr_SetString(PyExc_ValueError, "max_in_flight out of range");
        return NULL;
    }
    L.t0 = t0;
    L.give_up_ns = give_up_ns;
    L.end_by = end_by;
    L.max_in_flight = max_in_flight;
    L.timeout_ns = timeout_ns;
    L.sweep_ns = sweep_ns;
    L.late_ns = late_ns;
    L.limit = INT64_MAX;
    L.end_ns = INT64_MAX;
    Py_INCREF(L.payloads);
    Py_INCREF(L.recorder);
    Py_INCREF(L.offsets);
    Py_INCREF(L.why_unsent);
    int ran = -1;
    if (!PyIter_Check(L.offsets)) {
        PyErr_SetString(PyExc_TypeError, "offsets must be an iterator");
        goto out;
    }
    int slots = (int)max_in_flight;
    if (loop_start(&L, host, port, slots) < 0) goto out;
    L.idle = PyMem_Malloc((size_t)slots * sizeof(int));
    L.unused = PyMem_Malloc((size_t)slots * sizeof(int));
    if (L.idle == NULL || L.unused == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    for (int i = 0; i < slots; i++) L.unused[i] = slots - 1 - i; /* slot 0 first */
    L.n_unused = slots;
    /* Sleeps end up to the timer slack late (50 us by default): 1 ns while the schedule
     * runs, as the pure loop's precise reactor does (reactor.set_timer_slack). */
    int slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    if (slack >= 0 && prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0) == 0) L.slack = slack;
    if (open_advance(&L) < 0) goto out;
    ran = run(&L);
out:
    return loop_finish(&L, ran, open_result);
}

PyDoc_STRVAR(setup_doc,
"setup(heads, heads_head_only, parser_type, head_type, response_type, protocol_error,\n"
"      server_disconnected, incomplete_read, body_keep)\n"
"\n"
"The Python side's parts, once: the head caches and classes of http11.parse and\n"
"http11.connection (servelab.load.speedups calls it on import).");

static PyObject *setup(PyObject *module, PyObject *args) {
    (void)module;
    Shared s;
    memset(&s, 0, sizeof s);
    if (!PyArg_ParseTuple(args, "O!O!OOOOOOn", &PyDict_Type, &s.heads, &PyDict_Type,
                          &s.heads_head_only, &s.parser_type, &s.head_type, &s.response_type,
                          &s.protocol_error, &s.server_disconnected, &s.incomplete_read,
                          &s.body_keep))
        return NULL;
    if (!PyType_Check(s.head_type)) {
        PyErr_SetString(PyExc_TypeError, "head_type must be a class");
        return NULL;
    }
    PyObject **objects[] = {&s.heads, &s.heads_head_only, &s.parser_type, &s.head_type,
                            &s.response_type, &s.protocol_error, &s.server_disconnected,
                            &s.incomplete_read};
    for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++) Py_INCREF(*objects[i]);
    struct {
        PyObject **slot;
        const char *name;
    } names[] = {{&s.s_status, "status"},     {&s.s_keep_alive, "keep_alive"},
                 {&s.s_feed, "feed"},         {&s.s_feed_eof, "feed_eof"},
                 {&s.s_buffered, "buffered"}, {&s.s_head_only, "head_only"},
                 {&s.s_append, "append"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        *names[i].slot = PyUnicode_InternFromString(names[i].name);
        if (*names[i].slot == NULL) return NULL;
    }
    if (shared_ready) { /* a second setup replaces the first */
        PyObject **old[] = {&shared.heads, &shared.heads_head_only, &shared.parser_type,
                            &shared.head_type, &shared.response_type, &shared.protocol_error,
                            &shared.server_disconnected, &shared.incomplete_read,
                            &shared.s_status,
                            &shared.s_keep_alive, &shared.s_feed, &shared.s_feed_eof,
                            &shared.s_buffered, &shared.s_head_only,
                            &shared.s_append};
        for (size_t i = 0; i < sizeof old / sizeof old[0]; i++) Py_CLEAR(*old[i]);
    }
    shared = s;
    shared_ready = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"run_closed", run_closed, METH_VARARGS, run_closed_doc},
    {"run_open", run_open, METH_VARARGS, run_open_doc},
    {"setup", setup, METH_VARARGS, setup_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "servelab.load._speedups",
    "The closed and open loops' per-request path in C (servelab.load.speedups).",
    -1,
    methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module_def); }
