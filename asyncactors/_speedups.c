/* asyncactors._speedups: ObjectRef's fields and its ``await`` in C.
 *
 * ``RefBase`` is the base of ``asyncactors._ref.ObjectRef``. It holds the ref's
 * fields (plain object members with the names the Python code reads and
 * writes) and implements ``__await__`` (the ``am_await`` slot) without a Python
 * frame: the per-await cost of a call's result. Everything else stays in
 * Python, in ``ObjectRef``; ``_ref.py`` has the pure-Python twin of this type,
 * used when the extension is missing or ASYNCACTORS_NO_EXTENSIONS is on.
 *
 * What ``await ref`` does (as ``ObjectRef.__await__`` in Python):
 *   - done already: ``self._finished()``;
 *   - the running loop is not the ref's (or none runs):
 *     ``self._await_from_other_loop(running).__await__()``;
 *   - else a waiter joins ``_waiters`` (alone, or through ``self._add_waiter``),
 *     and ``_log`` becomes the "seen" marker. Outside an actor the waiter is a
 *     ``Waiter`` (below; the Python twin makes a future of the loop instead),
 *     which is also the iterator the awaiting code gets; inside an actor it is a
 *     future of the loop, and the awaiting code gets
 *     ``actor.blocking_wait(self, fut)``.
 * In Python 3.11 ``asyncio._get_running_loop()`` makes a getpid() system call
 * per ask, to tell a forked child that its parent's loop is not running there.
 * running_loop() reads the same record of the running loop and compares the
 * pid stored there with its own, kept up to date by an at-fork hook: the same
 * answer without the system call. On later Pythons, which make no such call,
 * it calls ``asyncio._get_running_loop()``.
 *
 * ``CallBase`` extends RefBase with the fields of the engine's call
 * (asyncactors/_backends/_local/call.py, Python twin ``_PyCallBase``), and
 * ``settle()`` resolves a batch's items with their results
 * (asyncactors/_backends/_local/batch_lane.py, Python twin ``_py_settle``).
 *
 * ``Pulse`` is the watchdog's monitor (asyncactors/_watchdog.py): a thread of
 * its own that watches the event loop's beats without the GIL, and takes it
 * only once they stop.
 *
 * All state is process-wide (statics), so the module serves one interpreter:
 * the first that imports it. Any other interpreter gets ImportError (and
 * _ref.py its pure-Python twin), and setup() takes effect once.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#ifndef MS_WINDOWS
#include <pthread.h>
#include <unistd.h>
#endif

typedef struct {
    PyObject_HEAD
    PyObject *exc;
    PyObject *log;
    PyObject *loop;
    PyObject *state;
    PyObject *value;
    PyObject *waiters;
    PyObject *weakreflist;
} RefBase;

/* Set once by setup(), from asyncactors._ref. */
static PyObject *future_type;     /* asyncio.Future */
static PyObject *base_create_future; /* BaseEventLoop.create_future */
static PyObject *get_running_loop; /* asyncio._get_running_loop */
static PyObject *actor_var;       /* _ref.actor_var */
static PyObject *seen;            /* _ref._SEEN */
static PyObject *ok_state;        /* _ref.OK, the _state of a ref with a value: 1 */

/* Interned names. */
static PyObject *str_finished;
static PyObject *str_await_from_other_loop;
static PyObject *str_await;
static PyObject *str_add_waiter;
static PyObject *str_blocking_wait;
static PyObject *str_create_future;
static PyObject *kwnames_loop;    /* ("loop",) */

/* One-entry caches of whether a loop type's create_future is BaseEventLoop's
 * (by type, strong references), each with the type's version tag when the
 * answer was found: assigning to the class (or a base) changes the tag, and
 * the answer is found again. A create_future set on a loop instance is not
 * seen (as the type's is what is looked at): such a loop gets a plain Future. */
typedef struct {
    PyTypeObject *type;
    unsigned int version;
} Known;

static Known plain_loop;
static Known own_loop;

static int
is_known(Known *known, PyTypeObject *type)
{
    return type == known->type && type->tp_version_tag != 0
           && type->tp_version_tag == known->version;
}

static void
remember(Known *known, PyTypeObject *type)
{
    Py_INCREF(type);
    Py_XSETREF(known->type, type);
    known->version = type->tp_version_tag; /* 0 (no tag) is never known */
}

/* Whether ``type``'s create_future is BaseEventLoop's (a plain asyncio.Future). */
static int
makes_plain_futures(PyTypeObject *type)
{
    if (is_known(&plain_loop, type)) {
        return 1;
    }
    if (is_known(&own_loop, type)) {
        return 0;
    }
    PyObject *create = PyObject_GetAttr((PyObject *)type, str_create_future);
    if (create == NULL) {
        return -1;
    }
    int plain = create == base_create_future;
    Py_DECREF(create);
    /* The lookup above gave the type a version tag, if one was left. */
    remember(plain ? &plain_loop : &own_loop, type);
    return plain;
}

/* The error of reading a field never set, as a slot of the Python twin raises it. */
static PyObject *
missing(RefBase *self, const char *name)
{
    PyErr_Format(PyExc_AttributeError, "'%.100s' object has no attribute '%s'",
                 Py_TYPE(self)->tp_name, name);
    return NULL;
}

#if PY_VERSION_HEX < 0x030C0000 && defined(HAVE_GETPID) && !defined(MS_WINDOWS)
#define READ_HOLDER 1
/* Python 3.11's _asyncio keeps the running loop of a thread in the thread
 * state's dict, in a holder with the pid of the process that set it
 * (Modules/_asynciomodule.c, PyRunningLoopHolder). The holder's type is checked
 * (name and size) before its fields are read; anything else asks asyncio. */
typedef struct {
    PyObject_HEAD
    PyObject *rl_loop;
    pid_t rl_pid;
} Holder;

static int read_holder;          /* setup() got _asyncio's own _get_running_loop */
static PyTypeObject *holder_type; /* the holder's type once checked */
static pid_t my_pid;              /* this process's pid, reset in a forked child */
static PyObject *str_running_key;

static int
is_holder(PyTypeObject *type)
{
    if (type == holder_type) {
        return 1;
    }
    if (holder_type == NULL && strcmp(type->tp_name, "_RunningLoopHolder") == 0
        && type->tp_basicsize == (Py_ssize_t)sizeof(Holder)) {
        holder_type = (PyTypeObject *)Py_NewRef(type);
        return 1;
    }
    return 0;
}
#endif

/* The running loop, as ``asyncio._get_running_loop()`` gives it (a new
 * reference; None when none runs). */
static PyObject *
running_loop(void)
{
#ifdef READ_HOLDER
    if (read_holder) {
        PyObject *dict = PyThreadState_GetDict(); /* borrowed */
        if (dict != NULL) {
            PyObject *rl = PyDict_GetItemWithError(dict, str_running_key); /* borrowed */
            if (rl == NULL && PyErr_Occurred()) {
                return NULL;
            }
            if (rl != NULL && is_holder(Py_TYPE(rl)) && ((Holder *)rl)->rl_pid == my_pid) {
                return Py_NewRef(((Holder *)rl)->rl_loop);
            }
        }
    }
#endif
    return PyObject_CallNoArgs(get_running_loop);
}

/* ``Waiter``: what ``await ref`` has its task wait on, outside an actor.
 *
 * asyncio's Task waits on any object that has ``_asyncio_future_blocking``,
 * a loop (``get_loop()``, else ``_loop``), ``add_done_callback(fn, context=)``,
 * ``result()`` and ``cancel(msg)`` (Modules/_asynciomodule.c, task_step's
 * generic branch, and asyncio/tasks.py for the Python Task). A waiter is that
 * for one await, in about half an asyncio.Future's memory, and it is its own
 * iterator (no FutureIter), with no Python call to make it (an
 * ``asyncio.Future(loop=)`` call builds a dict of its keyword argument and
 * calls ``loop.get_debug()``). Its ref sets it (``set_result``,
 * ``set_exception``: no-ops once it is done, as when its task cancelled it);
 * cancelling it (its task cancelled) cancels neither the ref nor its call.
 *
 * What the Task asks of it is cheap: its attributes make no object.
 * ``add_done_callback`` is the waiter itself, which adds a callback when called
 * (a method would be bound anew at each await), and there is no ``get_loop()``
 * (for the same reason; the Task, and asyncio.futures._get_loop, read ``_loop``
 * instead). A C Task's wakeup asks its argument for ``result()`` by a name
 * made at each call, which costs more than the rest of the await: a waiter
 * done with a value wakes a C Task with ``done_future``, an asyncio.Future done
 * with None that all waiters share, which the wakeup reads the fast way (it
 * reads only whether its argument failed: the value reaches the awaiting code
 * from the waiter, as the Task's next send() finds it done). A waiter that
 * failed or was cancelled, and any other callback, gets the waiter itself. */
typedef enum { WAITING = 0, WAIT_OK, WAIT_FAILED, WAIT_CANCELLED } WaitState;

typedef struct {
    PyObject_HEAD
    PyObject *loop;
    PyObject *callback; /* NULL, the lone callback, or (many) a list of (callback, context) */
    PyObject *extra;    /* waiting: the lone callback's context; failed: the exception's traceback */
    PyObject *result;   /* the value, the exception, or the cancel message (NULL: none) */
    vectorcallfunc vectorcall; /* the waiter called: add_done_callback */
    char state;         /* a WaitState */
    char blocking;      /* _asyncio_future_blocking */
    char yielded;       /* it gave itself to its task already */
    char many;          /* callback is a list */
} Waiter;

static PyTypeObject *waiter_type;
static PyObject *cancelled_error;     /* asyncio.CancelledError */
static PyObject *invalid_state_error; /* asyncio.InvalidStateError */
static PyObject *str_call_soon;
static PyObject *kwnames_context;     /* ("context",) */
static PyObject *task_kwnames;        /* the C Task's own ("context",), once seen */
static PyObject *done_future;         /* set by setup() */
static PyTypeObject *task_type;       /* _asyncio.Task (NULL: no C Task) */
static PyMethodDef *wakeup_def;       /* its wakeup callback's, once seen */

/* Whether ``cb`` is a C Task's wakeup (a builtin bound to a Task, whose
 * method, task_wakeup, is remembered once seen). */
static int
is_task_wakeup(PyObject *cb)
{
    if (!PyCFunction_Check(cb)) {
        return 0;
    }
    PyCFunctionObject *f = (PyCFunctionObject *)cb;
    if (f->m_ml == wakeup_def) {
        return 1;
    }
    if (wakeup_def == NULL && task_type != NULL && f->m_self != NULL
        && PyObject_TypeCheck(f->m_self, task_type)
        && strcmp(f->m_ml->ml_name, "task_wakeup") == 0) {
        wakeup_def = f->m_ml;
        return 1;
    }
    return 0;
}

static PyObject *waiter_add_done_callback(Waiter *w, PyObject *const *args, Py_ssize_t nargs,
                                          PyObject *kwnames);

static PyObject *
waiter_vectorcall(PyObject *w, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    return waiter_add_done_callback((Waiter *)w, args, PyVectorcall_NARGS(nargsf), kwnames);
}

static Waiter *
waiter_new(PyObject *loop)
{
    Waiter *w = PyObject_GC_New(Waiter, waiter_type);
    if (w == NULL) {
        return NULL;
    }
    w->loop = Py_NewRef(loop);
    w->callback = NULL;
    w->extra = NULL;
    w->result = NULL;
    w->vectorcall = waiter_vectorcall;
    w->state = WAITING;
    w->blocking = 0;
    w->yielded = 0;
    w->many = 0;
    PyObject_GC_Track(w);
    return w;
}

static int
call_soon(PyObject *loop, PyObject *fn, PyObject *arg, PyObject *context)
{
    PyObject *args[4] = {loop, fn, arg, context};
    PyObject *r;
    if (context == NULL) {
        r = PyObject_VectorcallMethod(str_call_soon, args, 3, NULL);
    }
    else {
        r = PyObject_VectorcallMethod(str_call_soon, args, 3, kwnames_context);
    }
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* Have the loop call the callbacks (once done), each once. */
static int
waiter_schedule(Waiter *w)
{
    PyObject *cb = w->callback;
    if (cb == NULL) {
        return 0;
    }
    PyObject *ctx = w->extra;
    w->callback = NULL;
    w->extra = NULL;
    int rc = 0;
    if (!w->many) {
        PyObject *arg = (PyObject *)w;
        if (w->state == WAIT_OK && done_future != NULL && is_task_wakeup(cb)) {
            arg = done_future;
        }
        rc = call_soon(w->loop, cb, arg, ctx);
    }
    else {
        w->many = 0;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(cb) && rc == 0; i++) {
            PyObject *pair = PyList_GET_ITEM(cb, i);
            rc = call_soon(w->loop, PyTuple_GET_ITEM(pair, 0), (PyObject *)w,
                           PyTuple_GET_ITEM(pair, 1));
        }
    }
    Py_DECREF(cb);
    Py_XDECREF(ctx);
    return rc;
}

static PyObject *
waiter_set_result(Waiter *w, PyObject *value)
{
    if (w->state == WAITING) {
        w->state = WAIT_OK;
        Py_XSETREF(w->result, Py_NewRef(value));
        if (waiter_schedule(w) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyObject *
waiter_set_exception(Waiter *w, PyObject *exc)
{
    if (!PyExceptionInstance_Check(exc)) {
        PyErr_SetString(PyExc_TypeError, "set_exception() needs an exception instance");
        return NULL;
    }
    if (PyErr_GivenExceptionMatches(exc, PyExc_StopIteration)) {
        /* As asyncio.Future: raised from the waiter, it would end the awaiting
         * coroutine as a return. */
        PyErr_SetString(PyExc_TypeError,
                        "StopIteration interacts badly with generators and cannot be "
                        "raised into a Future");
        return NULL;
    }
    if (w->state == WAITING) {
        w->state = WAIT_FAILED;
        Py_XSETREF(w->result, Py_NewRef(exc));
        int rc = waiter_schedule(w);
        /* After waiter_schedule, which clears the callbacks' context from extra. */
        Py_XSETREF(w->extra, PyException_GetTraceback(exc));
        if (rc < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static void
waiter_raise_cancelled(Waiter *w)
{
    PyObject *exc = w->result == NULL ? PyObject_CallNoArgs(cancelled_error)
                                      : PyObject_CallOneArg(cancelled_error, w->result);
    if (exc != NULL) {
        PyErr_SetObject(cancelled_error, exc);
        Py_DECREF(exc);
    }
}

static void
waiter_raise_failure(Waiter *w)
{
    PyException_SetTraceback(w->result, w->extra == NULL ? Py_None : w->extra);
    PyErr_SetObject((PyObject *)Py_TYPE(w->result), w->result);
}

static PyObject *
waiter_result(Waiter *w, PyObject *Py_UNUSED(ignored))
{
    switch (w->state) {
    case WAIT_OK:
        return Py_NewRef(w->result);
    case WAIT_FAILED:
        waiter_raise_failure(w);
        return NULL;
    case WAIT_CANCELLED:
        waiter_raise_cancelled(w);
        return NULL;
    default:
        PyErr_SetString(invalid_state_error, "Result is not ready.");
        return NULL;
    }
}

static PyObject *
waiter_exception(Waiter *w, PyObject *Py_UNUSED(ignored))
{
    switch (w->state) {
    case WAIT_OK:
        Py_RETURN_NONE;
    case WAIT_FAILED:
        return Py_NewRef(w->result);
    case WAIT_CANCELLED:
        waiter_raise_cancelled(w);
        return NULL;
    default:
        PyErr_SetString(invalid_state_error, "Exception is not set.");
        return NULL;
    }
}

static PyObject *
waiter_done(Waiter *w, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(w->state != WAITING);
}

static PyObject *
waiter_cancelled(Waiter *w, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(w->state == WAIT_CANCELLED);
}

static PyObject *
waiter_cancel(Waiter *w, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"msg", NULL};
    PyObject *msg = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:cancel", kwlist, &msg)) {
        return NULL;
    }
    if (w->state != WAITING) {
        Py_RETURN_FALSE;
    }
    w->state = WAIT_CANCELLED;
    Py_XSETREF(w->result, msg == Py_None ? NULL : Py_NewRef(msg));
    if (waiter_schedule(w) < 0) {
        return NULL;
    }
    Py_RETURN_TRUE;
}

static PyObject *
waiter_add_done_callback(Waiter *w, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    PyObject *ctx = NULL;
    if (kwnames != task_kwnames || nargs != 1) {
        if (nargs != 1 || nkw > 1
            || (nkw == 1
                && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "context") != 0)) {
            PyErr_Format(PyExc_TypeError,
                         "add_done_callback() takes a callback and, by keyword, a context "
                         "(got %zd positional and %zd keyword arguments)", nargs, nkw);
            return NULL;
        }
        if (nkw == 1 && task_kwnames == NULL) {
            /* A Task passes the same tuple at each call: compared by identity from now on. */
            task_kwnames = Py_NewRef(kwnames);
        }
    }
    if (nkw == 1 && args[1] != Py_None) {
        ctx = Py_NewRef(args[1]);
    }
    else {
        ctx = PyContext_CopyCurrent();
        if (ctx == NULL) {
            return NULL;
        }
    }
    PyObject *fn = args[0];
    if (w->loop == NULL) { /* cleared by the GC */
        Py_DECREF(ctx);
        PyErr_SetString(PyExc_RuntimeError, "the waiter was cleared: it has no loop");
        return NULL;
    }
    if (w->state != WAITING) {
        int rc = call_soon(w->loop, fn, (PyObject *)w, ctx);
        Py_DECREF(ctx);
        if (rc < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    if (w->callback == NULL) {
        w->callback = Py_NewRef(fn);
        w->extra = ctx;
        Py_RETURN_NONE;
    }
    PyObject *pair = PyTuple_Pack(2, fn, ctx);
    Py_DECREF(ctx);
    if (pair == NULL) {
        return NULL;
    }
    if (!w->many) {
        PyObject *first = PyTuple_Pack(2, w->callback, w->extra);
        if (first == NULL) {
            Py_DECREF(pair);
            return NULL;
        }
        PyObject *list = PyList_New(2);
        if (list == NULL) {
            Py_DECREF(first);
            Py_DECREF(pair);
            return NULL;
        }
        PyList_SET_ITEM(list, 0, first);
        PyList_SET_ITEM(list, 1, pair);
        Py_SETREF(w->callback, list);
        Py_CLEAR(w->extra);
        w->many = 1;
        Py_RETURN_NONE;
    }
    int rc = PyList_Append(w->callback, pair);
    Py_DECREF(pair);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
waiter_remove_done_callback(Waiter *w, PyObject *fn)
{
    Py_ssize_t removed = 0;
    PyObject *cb = w->callback;
    if (cb == NULL) {
        return PyLong_FromSsize_t(0);
    }
    if (!w->many) {
        /* The comparison may run Python code (an __eq__) that adds, removes or
         * settles: the callback is held meanwhile, and cleared only if still the
         * lone one. */
        Py_INCREF(cb);
        int eq = PyObject_RichCompareBool(cb, fn, Py_EQ);
        if (eq > 0 && w->callback == cb && !w->many) {
            Py_CLEAR(w->callback);
            Py_CLEAR(w->extra);
            removed = 1;
        }
        Py_DECREF(cb);
        if (eq < 0) {
            return NULL;
        }
        return PyLong_FromSsize_t(removed);
    }
    PyObject *kept = PyList_New(0);
    if (kept == NULL) {
        return NULL;
    }
    Py_INCREF(cb);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(cb); i++) {
        PyObject *pair = PyList_GET_ITEM(cb, i);
        int eq = PyObject_RichCompareBool(PyTuple_GET_ITEM(pair, 0), fn, Py_EQ);
        if (eq < 0 || (!eq && PyList_Append(kept, pair) < 0)) {
            Py_DECREF(cb);
            Py_DECREF(kept);
            return NULL;
        }
        removed += eq;
    }
    Py_DECREF(cb);
    if (w->callback == cb) {
        Py_SETREF(w->callback, kept);
    }
    else {
        Py_DECREF(kept);
    }
    return PyLong_FromSsize_t(removed);
}

static PySendResult
waiter_am_send(Waiter *w, PyObject *arg, PyObject **presult)
{
    switch (w->state) {
    case WAITING:
        if (!w->yielded) {
            w->yielded = 1;
            w->blocking = 1;
            *presult = Py_NewRef(w);
            return PYGEN_NEXT;
        }
        PyErr_SetString(PyExc_RuntimeError, "await wasn't used with future");
        break;
    case WAIT_OK:
        *presult = Py_NewRef(w->result);
        return PYGEN_RETURN;
    case WAIT_FAILED:
        waiter_raise_failure(w);
        break;
    default:
        waiter_raise_cancelled(w);
        break;
    }
    *presult = NULL;
    return PYGEN_ERROR;
}

static PyObject *
waiter_next(Waiter *w)
{
    PyObject *r;
    PySendResult s = waiter_am_send(w, Py_None, &r);
    if (s == PYGEN_RETURN) {
        if (r == Py_None) {
            Py_DECREF(r);
            return NULL;
        }
        PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, r);
        Py_DECREF(r);
        if (stop != NULL) {
            PyErr_SetObject(PyExc_StopIteration, stop);
            Py_DECREF(stop);
        }
        return NULL;
    }
    return r;
}

/* As a future's iterator: what is sent is ignored. */
static PyObject *
waiter_send(Waiter *w, PyObject *Py_UNUSED(arg))
{
    PyObject *r = waiter_next(w);
    if (r == NULL && !PyErr_Occurred()) {
        /* tp_iternext may end without an exception; a send() method may not. */
        PyErr_SetNone(PyExc_StopIteration);
    }
    return r;
}

static PyObject *
waiter_get_blocking(Waiter *w, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(w->blocking);
}

static int
waiter_set_blocking(Waiter *w, PyObject *value, void *Py_UNUSED(closure))
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete _asyncio_future_blocking");
        return -1;
    }
    int b = PyObject_IsTrue(value);
    if (b < 0) {
        return -1;
    }
    w->blocking = (char)b;
    return 0;
}

static PyObject *
waiter_repr(Waiter *w)
{
    static const char *names[] = {"pending", "finished", "failed", "cancelled"};
    return PyUnicode_FromFormat("<%s %s>", Py_TYPE(w)->tp_name, names[(int)w->state]);
}

static int
waiter_traverse(Waiter *w, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(w));
    Py_VISIT(w->loop);
    Py_VISIT(w->callback);
    Py_VISIT(w->extra);
    Py_VISIT(w->result);
    return 0;
}

static int
waiter_clear(Waiter *w)
{
    /* Cleared by the GC (a cycle), it is done for good: nothing may schedule on its
     * loop any more. */
    if (w->state == WAITING) {
        w->state = WAIT_CANCELLED;
    }
    w->many = 0;
    Py_CLEAR(w->loop);
    Py_CLEAR(w->callback);
    Py_CLEAR(w->extra);
    Py_CLEAR(w->result);
    return 0;
}

static void
waiter_dealloc(Waiter *w)
{
    PyTypeObject *tp = Py_TYPE(w);
    PyObject_GC_UnTrack(w);
    waiter_clear(w);
    tp->tp_free((PyObject *)w);
    Py_DECREF(tp);
}

static PyMethodDef waiter_methods[] = {
    {"result", (PyCFunction)waiter_result, METH_NOARGS, NULL},
    {"exception", (PyCFunction)waiter_exception, METH_NOARGS, NULL},
    {"done", (PyCFunction)waiter_done, METH_NOARGS, NULL},
    {"cancelled", (PyCFunction)waiter_cancelled, METH_NOARGS, NULL},
    {"cancel", (PyCFunction)(void (*)(void))waiter_cancel, METH_VARARGS | METH_KEYWORDS, NULL},
    {"remove_done_callback", (PyCFunction)waiter_remove_done_callback, METH_O, NULL},
    {"set_result", (PyCFunction)waiter_set_result, METH_O, NULL},
    {"set_exception", (PyCFunction)waiter_set_exception, METH_O, NULL},
    {"send", (PyCFunction)waiter_send, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

/* ``waiter.add_done_callback`` is the waiter itself (see the top of Waiter). */
static PyObject *
waiter_get_add(Waiter *w, void *Py_UNUSED(closure))
{
    return Py_NewRef(w);
}

static PyGetSetDef waiter_getset[] = {
    {"add_done_callback", (getter)waiter_get_add, NULL, NULL, NULL},
    {"_asyncio_future_blocking", (getter)waiter_get_blocking, (setter)waiter_set_blocking, NULL, NULL},
    {NULL},
};

static PyMemberDef waiter_members[] = {
    {"_loop", T_OBJECT, offsetof(Waiter, loop), READONLY, NULL},
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(Waiter, vectorcall), READONLY, NULL},
    {NULL},
};

static PyType_Slot waiter_slots[] = {
    {Py_am_await, PyObject_SelfIter},
    {Py_am_send, waiter_am_send},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, waiter_next},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_repr, waiter_repr},
    {Py_tp_traverse, waiter_traverse},
    {Py_tp_clear, waiter_clear},
    {Py_tp_dealloc, waiter_dealloc},
    {Py_tp_methods, waiter_methods},
    {Py_tp_getset, waiter_getset},
    {Py_tp_members, waiter_members},
    {Py_tp_doc, "What 'await ref' gives its task to wait on: a future of one await."},
    {0, NULL},
};

static PyType_Spec waiter_spec = {
    .name = "asyncactors._speedups.Waiter",
    .basicsize = sizeof(Waiter),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE
             | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = waiter_slots,
};

static PyObject *
ref_await(RefBase *self)
{
    if (future_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "asyncactors._speedups.setup() was not called");
        return NULL;
    }
    PyObject *state = self->state;
    if (state == NULL) {
        return missing(self, "_state");
    }
    int done = PyObject_IsTrue(state);
    if (done < 0) {
        return NULL;
    }
    if (done) {
        return PyObject_CallMethodNoArgs((PyObject *)self, str_finished);
    }
    PyObject *loop = self->loop;
    if (loop == NULL) {
        return missing(self, "_loop");
    }
    PyObject *running = running_loop();
    if (running == NULL) {
        return NULL;
    }
    if (running != loop || running == Py_None) {
        PyObject *coro = PyObject_CallMethodOneArg(
            (PyObject *)self, str_await_from_other_loop, running);
        Py_DECREF(running);
        if (coro == NULL) {
            return NULL;
        }
        PyObject *it = PyObject_CallMethodNoArgs(coro, str_await);
        Py_DECREF(coro);
        return it;
    }
    PyObject *actor;
    if (PyContextVar_Get(actor_var, NULL, &actor) < 0) {
        Py_DECREF(running);
        return NULL;
    }
    if (actor == Py_None) {
        Py_CLEAR(actor);
    }
    PyObject *fut;
    if (actor == NULL) {
        fut = (PyObject *)waiter_new(running);
    }
    else {
        int plain = makes_plain_futures(Py_TYPE(running));
        if (plain < 0) {
            Py_DECREF(running);
            Py_DECREF(actor);
            return NULL;
        }
        if (plain) {
            PyObject *args[1] = {running};
            fut = PyObject_Vectorcall(future_type, args, 0, kwnames_loop);
        }
        else {
            fut = PyObject_CallMethodNoArgs(running, str_create_future);
        }
    }
    Py_DECREF(running);
    if (fut == NULL) {
        Py_XDECREF(actor);
        return NULL;
    }
    PyObject *waiters = self->waiters;
    if (waiters == NULL) {
        Py_DECREF(fut);
        Py_XDECREF(actor);
        return missing(self, "_waiters");
    }
    if (waiters == Py_None) {
        self->waiters = Py_NewRef(fut);
        Py_DECREF(waiters);
    }
    else {
        PyObject *r = PyObject_CallMethodOneArg((PyObject *)self, str_add_waiter, fut);
        if (r == NULL) {
            Py_DECREF(fut);
            Py_XDECREF(actor);
            return NULL;
        }
        Py_DECREF(r);
    }
    Py_XSETREF(self->log, Py_NewRef(seen));
    if (actor == NULL) {
        return fut; /* the waiter is its own iterator */
    }
    PyObject *it = PyObject_CallMethodObjArgs(actor, str_blocking_wait, (PyObject *)self, fut, NULL);
    Py_DECREF(actor);
    Py_DECREF(fut);
    return it;
}

static int
ref_traverse(RefBase *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->exc);
    Py_VISIT(self->log);
    Py_VISIT(self->loop);
    Py_VISIT(self->state);
    Py_VISIT(self->value);
    Py_VISIT(self->waiters);
    return 0;
}

static int
ref_clear(RefBase *self)
{
    Py_CLEAR(self->exc);
    Py_CLEAR(self->log);
    Py_CLEAR(self->loop);
    Py_CLEAR(self->state);
    Py_CLEAR(self->value);
    Py_CLEAR(self->waiters);
    return 0;
}

static void
ref_dealloc(RefBase *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    /* A long chain of refs (through _value, say) is freed without recursing
     * once per link in C (which overflows the stack). */
    Py_TRASHCAN_BEGIN(self, ref_dealloc)
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    ref_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
    Py_TRASHCAN_END
}

static PyMemberDef ref_members[] = {
    {"_exc", T_OBJECT_EX, offsetof(RefBase, exc), 0, NULL},
    {"_log", T_OBJECT_EX, offsetof(RefBase, log), 0, NULL},
    {"_loop", T_OBJECT_EX, offsetof(RefBase, loop), 0, NULL},
    {"_state", T_OBJECT_EX, offsetof(RefBase, state), 0, NULL},
    {"_value", T_OBJECT_EX, offsetof(RefBase, value), 0, NULL},
    {"_waiters", T_OBJECT_EX, offsetof(RefBase, waiters), 0, NULL},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(RefBase, weakreflist), READONLY, NULL},
    {NULL},
};

static PyType_Slot ref_slots[] = {
    {Py_am_await, ref_await},
    {Py_tp_traverse, ref_traverse},
    {Py_tp_clear, ref_clear},
    {Py_tp_dealloc, ref_dealloc},
    {Py_tp_members, ref_members},
    {Py_tp_doc, "The fields and await of asyncactors' ObjectRef, in C."},
    {0, NULL},
};

static PyType_Spec ref_spec = {
    .name = "asyncactors._speedups.RefBase",
    .basicsize = sizeof(RefBase),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = ref_slots,
};

/* ``CallBase``: RefBase with the fields of the engine's call
 * (asyncactors/_backends/_local/call.py, whose Python twin is _PyCallBase), so
 * that a call is one C struct: Python slots would cost its every dealloc a walk
 * over them. */
typedef struct {
    RefBase ref;
    PyObject *admit;
    PyObject *args;
    PyObject *attempts;
    PyObject *blocked;
    PyObject *core;
    PyObject *kwargs;
    PyObject *lane;
    PyObject *pos;
    PyObject *spec;
} CallBase;

static int
call_traverse(CallBase *self, visitproc visit, void *arg)
{
    Py_VISIT(self->admit);
    Py_VISIT(self->args);
    Py_VISIT(self->attempts);
    Py_VISIT(self->blocked);
    Py_VISIT(self->core);
    Py_VISIT(self->kwargs);
    Py_VISIT(self->lane);
    Py_VISIT(self->pos);
    Py_VISIT(self->spec);
    return ref_traverse(&self->ref, visit, arg);
}

static int
call_clear(CallBase *self)
{
    Py_CLEAR(self->admit);
    Py_CLEAR(self->args);
    Py_CLEAR(self->attempts);
    Py_CLEAR(self->blocked);
    Py_CLEAR(self->core);
    Py_CLEAR(self->kwargs);
    Py_CLEAR(self->lane);
    Py_CLEAR(self->pos);
    Py_CLEAR(self->spec);
    return ref_clear(&self->ref);
}

static void
call_dealloc(CallBase *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_TRASHCAN_BEGIN(self, call_dealloc)
    if (self->ref.weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    call_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
    Py_TRASHCAN_END
}

static PyMemberDef call_members[] = {
    {"_admit", T_OBJECT_EX, offsetof(CallBase, admit), 0, NULL},
    {"_args", T_OBJECT_EX, offsetof(CallBase, args), 0, NULL},
    {"_attempts", T_OBJECT_EX, offsetof(CallBase, attempts), 0, NULL},
    {"_blocked", T_OBJECT_EX, offsetof(CallBase, blocked), 0, NULL},
    {"_core", T_OBJECT_EX, offsetof(CallBase, core), 0, NULL},
    {"_kwargs", T_OBJECT_EX, offsetof(CallBase, kwargs), 0, NULL},
    {"_lane", T_OBJECT_EX, offsetof(CallBase, lane), 0, NULL},
    {"_pos", T_OBJECT_EX, offsetof(CallBase, pos), 0, NULL},
    {"_spec", T_OBJECT_EX, offsetof(CallBase, spec), 0, NULL},
    {NULL},
};

static PyType_Slot call_slots[] = {
    {Py_tp_traverse, call_traverse},
    {Py_tp_clear, call_clear},
    {Py_tp_dealloc, call_dealloc},
    {Py_tp_members, call_members},
    {Py_tp_doc, "The fields of asyncactors' engine call, in C (on RefBase)."},
    {0, NULL},
};

static PyType_Spec call_spec = {
    .name = "asyncactors._speedups.CallBase",
    .basicsize = sizeof(CallBase),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = call_slots,
};

#ifndef MS_WINDOWS
#define HAVE_PULSE 1
#include <errno.h>
#include <math.h>
#include <time.h>

/* The loop calls beat() every so often; the monitor thread polls the count of
 * beats and calls on_stale() only once none has come for stale_s. A Python
 * thread would take the GIL at each poll, and while it waits for the GIL, each
 * GIL release of the busy loop thread (one per loop iteration at least) costs
 * that thread a futex wake-up: about a tenth of its time on a loop of short
 * calls. This thread takes the GIL only when the loop has stopped beating,
 * which is when the loop thread holds it for long anyway. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;        /* under mu */
    int users;           /* under mu: the Pulse and its thread; the last frees it */
    unsigned long beats; /* atomic */
    unsigned long native_id; /* atomic: the thread's, once it runs (0 before) */
    double poll_s;
    double stale_s;
    PyObject *on_stale;  /* under mu, touched with the GIL held; NULL once stopping */
    PyInterpreterState *interp; /* the main one */
    int ready;           /* under mu: 1 once the thread has its thread state, -1 if none */
} Monitor;

typedef struct {
    PyObject_HEAD
    Monitor *m;
    pthread_t thread;
    pid_t pid; /* of the process whose thread runs; 0: none runs (not started, joined) */
} Pulse;

static double
mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The deadline of a wait of ``s`` seconds, on the clock of the monitor's condition. */
static struct timespec
deadline_in(double s)
{
    struct timespec ts;
#ifdef __APPLE__
    clock_gettime(CLOCK_REALTIME, &ts); /* no pthread_condattr_setclock there */
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    double whole = floor(s);
    ts.tv_sec += (time_t)whole;
    ts.tv_nsec += (long)((s - whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec += 1;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Drop one user of ``m``, whose mutex the caller holds (and which this unlocks). */
static void
monitor_release(Monitor *m)
{
    int last = --m->users == 0;
    pthread_mutex_unlock(&m->mu);
    if (last) {
        pthread_cond_destroy(&m->cv);
        pthread_mutex_destroy(&m->mu);
        PyMem_RawFree(m);
    }
}

#if PY_VERSION_HEX >= 0x030D0000
#define IS_FINALIZING() Py_IsFinalizing()
#else
#define IS_FINALIZING() _Py_IsFinalizing()
#endif

/* Call on_stale() with the GIL, in the thread's own thread state ``ts``; whether
 * to go on polling. Once the interpreter finalizes (a Pulse may outlive it,
 * referenced from the frames of a daemon thread, which are never cleared), the
 * thread stops without touching it: ``ts`` may be freed. (Taking the GIL then
 * would end this thread, as it does a daemon thread.) */
static int
call_on_stale(Monitor *m, PyThreadState *ts)
{
    if (IS_FINALIZING()) {
        return 0;
    }
    PyEval_RestoreThread(ts);
    pthread_mutex_lock(&m->mu);
    PyObject *callback = m->stopping ? NULL : Py_XNewRef(m->on_stale);
    pthread_mutex_unlock(&m->mu);
    int go_on = 0;
    if (callback != NULL) {
        PyObject *r = PyObject_CallNoArgs(callback);
        if (r != NULL) {
            go_on = PyObject_IsTrue(r);
            Py_DECREF(r);
        }
        if (r == NULL || go_on < 0) {
            PyErr_WriteUnraisable(callback);
            go_on = 0;
        }
        Py_DECREF(callback);
    }
    PyEval_SaveThread();
    return go_on;
}

static void *
monitor_main(void *arg)
{
    Monitor *m = arg;
    __atomic_store_n(&m->native_id, PyThread_get_thread_native_id(), __ATOMIC_RELEASE);
    /* One thread state for the thread's life, made while start() waits with the
     * GIL: making one takes the runtime's lock of thread states, which a fork()
     * leaves held in the child if another thread had it then, and the child
     * hangs (before 3.13, os.fork() does not take that lock itself). While
     * start() holds the GIL, no Python code forks; PyGILState_Ensure at each
     * call would make (and delete) a thread state without the GIL each time. */
    PyThreadState *ts = PyThreadState_New(m->interp);
    unsigned long seen = __atomic_load_n(&m->beats, __ATOMIC_RELAXED);
    double changed = mono_now();
    pthread_mutex_lock(&m->mu);
    m->ready = ts != NULL ? 1 : -1;
    if (ts == NULL) {
        m->stopping = 1;
    }
    pthread_cond_broadcast(&m->cv);
    while (!m->stopping) {
        struct timespec at = deadline_in(m->poll_s);
        pthread_cond_timedwait(&m->cv, &m->mu, &at);
        if (m->stopping) {
            break;
        }
        unsigned long beats = __atomic_load_n(&m->beats, __ATOMIC_RELAXED);
        double now = mono_now();
        if (beats != seen) {
            seen = beats;
            changed = now;
            continue;
        }
        if (now - changed < m->stale_s) {
            continue;
        }
        pthread_mutex_unlock(&m->mu);
        int go_on = call_on_stale(m, ts);
        pthread_mutex_lock(&m->mu);
        if (!go_on) {
            m->stopping = 1;
        }
    }
    pthread_mutex_unlock(&m->mu);
    /* Once the interpreter finalizes, it deletes the thread state itself. */
    if (ts != NULL && !IS_FINALIZING()) {
        PyEval_RestoreThread(ts);
        PyThreadState_Clear(ts);
        PyThreadState_DeleteCurrent();
    }
    pthread_mutex_lock(&m->mu);
    monitor_release(m);
    return NULL;
}

static PyObject *
pulse_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) != 0 || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "Pulse() takes no arguments");
        return NULL;
    }
    Monitor *m = PyMem_RawCalloc(1, sizeof(Monitor));
    if (m == NULL) {
        return PyErr_NoMemory();
    }
    pthread_condattr_t attr;
    int err = pthread_condattr_init(&attr);
#ifndef __APPLE__
    if (err == 0) {
        err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    }
#endif
    if (err == 0) {
        err = pthread_cond_init(&m->cv, &attr);
        pthread_condattr_destroy(&attr);
        if (err == 0 && (err = pthread_mutex_init(&m->mu, NULL)) != 0) {
            pthread_cond_destroy(&m->cv);
        }
    }
    if (err != 0) {
        PyMem_RawFree(m);
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    m->users = 1;
    Pulse *self = (Pulse *)type->tp_alloc(type, 0);
    if (self == NULL) {
        pthread_mutex_lock(&m->mu);
        monitor_release(m);
        return NULL;
    }
    self->m = m;
    return (PyObject *)self;
}

/* Tell the thread to stop and take on_stale from it; the caller holds the GIL. */
static void
pulse_signal_stop(Pulse *self)
{
    Monitor *m = self->m;
    if (m == NULL) {
        return;
    }
    if (self->pid != 0 && self->pid != getpid()) {
        /* A forked child: the thread is the parent's (and its mutex maybe
         * held there for ever). Nothing runs here; the monitor is left. */
        self->m = NULL;
        self->pid = 0;
        Py_CLEAR(m->on_stale);
        return;
    }
    pthread_mutex_lock(&m->mu);
    m->stopping = 1;
    PyObject *callback = m->on_stale;
    m->on_stale = NULL;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    Py_XDECREF(callback);
}

static PyObject *
pulse_start(Pulse *self, PyObject *args)
{
    double poll_s, stale_s;
    PyObject *on_stale;
    if (!PyArg_ParseTuple(args, "ddO:start", &poll_s, &stale_s, &on_stale)) {
        return NULL;
    }
    if (!(poll_s > 0 && stale_s > 0 && isfinite(poll_s) && isfinite(stale_s))) {
        PyErr_SetString(PyExc_ValueError, "start(): poll_s and stale_s must be positive");
        return NULL;
    }
    if (!PyCallable_Check(on_stale)) {
        PyErr_SetString(PyExc_TypeError, "start(): on_stale must be callable");
        return NULL;
    }
    Monitor *m = self->m;
    if (m == NULL || self->pid != 0 || m->stopping) {
        PyErr_SetString(PyExc_RuntimeError, "a Pulse starts once");
        return NULL;
    }
    if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
        /* The thread's state is the main interpreter's (see module_exec). */
        PyErr_SetString(PyExc_RuntimeError, "a Pulse runs in the main interpreter only");
        return NULL;
    }
    pthread_mutex_lock(&m->mu);
    m->poll_s = poll_s;
    m->stale_s = stale_s;
    m->on_stale = Py_NewRef(on_stale);
    m->interp = PyInterpreterState_Main();
    m->users += 1;
    pthread_mutex_unlock(&m->mu);
    int err = pthread_create(&self->thread, NULL, monitor_main, m);
    int ready = 0;
    if (err == 0) {
        /* With the GIL held (see monitor_main); the thread needs no GIL for this. */
        pthread_mutex_lock(&m->mu);
        while ((ready = m->ready) == 0) {
            pthread_cond_wait(&m->cv, &m->mu);
        }
        pthread_mutex_unlock(&m->mu);
        if (ready < 0) {
            pthread_join(self->thread, NULL); /* it has ended, without the GIL */
        }
    }
    if (ready <= 0) {
        pthread_mutex_lock(&m->mu);
        if (err != 0) {
            m->users -= 1;
        }
        PyObject *callback = m->on_stale;
        m->on_stale = NULL;
        pthread_mutex_unlock(&m->mu);
        Py_DECREF(callback);
        if (err == 0) {
            return PyErr_NoMemory();
        }
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    self->pid = getpid();
    Py_RETURN_NONE;
}

static PyObject *
pulse_beat(Pulse *self, PyObject *Py_UNUSED(ignored))
{
    if (self->m != NULL) {
        __atomic_add_fetch(&self->m->beats, 1, __ATOMIC_RELAXED);
    }
    Py_RETURN_NONE;
}

static PyObject *
pulse_stop(Pulse *self, PyObject *Py_UNUSED(ignored))
{
    pid_t pid = self->pid;
    pulse_signal_stop(self);
    if (pid != 0 && self->pid == pid) {
        self->pid = 0;
        int err;
        if (pthread_equal(pthread_self(), self->thread)) {
            err = pthread_detach(self->thread); /* stopped from on_stale() itself */
        }
        else {
            Py_BEGIN_ALLOW_THREADS
            err = pthread_join(self->thread, NULL);
            Py_END_ALLOW_THREADS
        }
        if (err != 0) {
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    Py_RETURN_NONE;
}

static PyObject *
pulse_running(Pulse *self, void *Py_UNUSED(closure))
{
    int running = 0;
    Monitor *m = self->m;
    if (m != NULL && self->pid == getpid()) {
        pthread_mutex_lock(&m->mu);
        running = !m->stopping;
        pthread_mutex_unlock(&m->mu);
    }
    return PyBool_FromLong(running);
}

static PyObject *
pulse_native_id(Pulse *self, void *Py_UNUSED(closure))
{
    Monitor *m = self->m;
    unsigned long id = m == NULL ? 0 : __atomic_load_n(&m->native_id, __ATOMIC_ACQUIRE);
    if (id == 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromUnsignedLong(id);
}

static int
pulse_traverse(Pulse *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    /* The monitor reads on_stale only with the GIL, which the collector holds. */
    if (self->m != NULL) {
        Py_VISIT(self->m->on_stale);
    }
    return 0;
}

static int
pulse_clear(Pulse *self)
{
    pulse_signal_stop(self);
    return 0;
}

static void
pulse_dealloc(Pulse *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    pulse_signal_stop(self);
    Monitor *m = self->m;
    if (m != NULL) {
        if (self->pid != 0) {
            pthread_detach(self->thread); /* it frees the monitor if it is last */
        }
        pthread_mutex_lock(&m->mu);
        monitor_release(m);
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyMethodDef pulse_methods[] = {
    {"start", (PyCFunction)pulse_start, METH_VARARGS,
     "start(poll_s, stale_s, on_stale): start the monitor thread. Every poll_s it "
     "looks at the count of beats; once none has come for stale_s, it calls "
     "on_stale() with the GIL, every poll_s until one comes, and stops when "
     "on_stale() returns false."},
    {"beat", (PyCFunction)pulse_beat, METH_NOARGS, "beat(): the loop is alive (any thread)."},
    {"stop", (PyCFunction)pulse_stop, METH_NOARGS,
     "stop(): stop the monitor thread and wait for it to end."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef pulse_getset[] = {
    {"running", (getter)pulse_running, NULL, "Whether the monitor thread polls.", NULL},
    {"native_id", (getter)pulse_native_id, NULL,
     "The monitor thread's native id (as threading.get_native_id() gives it), once it "
     "runs; else None.", NULL},
    {NULL},
};

static PyType_Slot pulse_slots[] = {
    {Py_tp_new, pulse_new},
    {Py_tp_traverse, pulse_traverse},
    {Py_tp_clear, pulse_clear},
    {Py_tp_dealloc, pulse_dealloc},
    {Py_tp_methods, pulse_methods},
    {Py_tp_getset, pulse_getset},
    {Py_tp_doc, "The watchdog's monitor thread, which needs no GIL while the loop beats."},
    {0, NULL},
};

static PyType_Spec pulse_spec = {
    .name = "asyncactors._speedups.Pulse",
    .basicsize = sizeof(Pulse),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = pulse_slots,
};
#endif

#ifdef READ_HOLDER
/* Runs in the child of any fork(), os.fork() or not (a raw fork through
 * ctypes, an extension's own): getpid() is async-signal-safe. */
static void
after_fork_in_child(void)
{
    my_pid = getpid();
}

/* Whether ``get`` is _asyncio's C _get_running_loop, whose holder we may read. */
static int
is_asyncio_getter(PyObject *get)
{
    if (!PyCFunction_Check(get)) {
        return 0;
    }
    PyObject *owner = PyCFunction_GET_SELF(get);
    if (owner == NULL || !PyModule_Check(owner)) {
        return 0;
    }
    const char *name = PyModule_GetName(owner);
    if (name == NULL) {
        PyErr_Clear();
        return 0;
    }
    return strcmp(name, "_asyncio") == 0
           && strcmp(((PyCFunctionObject *)get)->m_ml->ml_name, "_get_running_loop") == 0;
}

/* Keep my_pid right in forked children. */
static int
track_pid(void)
{
    my_pid = getpid();
    int err = pthread_atfork(NULL, NULL, after_fork_in_child);
    if (err != 0) {
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}
#endif

static PyObject *
setup(PyObject *module, PyObject *args)
{
    PyObject *fut, *base, *get, *var, *marker, *done;
    if (!PyArg_ParseTuple(args, "OOOOOO:setup", &fut, &base, &get, &var, &marker, &done)) {
        return NULL;
    }
    if (!PyContextVar_CheckExact(var)) {
        PyErr_SetString(PyExc_TypeError, "setup() needs the actor ContextVar");
        return NULL;
    }
    PyObject *create = PyObject_GetAttr(base, str_create_future);
    if (create == NULL) {
        return NULL;
    }
    if (future_type != NULL) {
        /* Once only: refs made already await with these objects. The same
         * call again changes nothing; other objects (a second copy of _ref,
         * re-imported) must use the Python twin. */
        int same = fut == future_type && create == base_create_future
                   && get == get_running_loop && var == actor_var && marker == seen
                   && done == done_future;
        Py_DECREF(create);
        if (same) {
            Py_RETURN_NONE;
        }
        PyErr_SetString(PyExc_RuntimeError,
                        "asyncactors._speedups.setup() was already called with other objects");
        return NULL;
    }
    future_type = Py_NewRef(fut);
    base_create_future = create;
    get_running_loop = Py_NewRef(get);
    actor_var = Py_NewRef(var);
    seen = Py_NewRef(marker);
    done_future = Py_NewRef(done);
#ifdef READ_HOLDER
    read_holder = is_asyncio_getter(get);
#endif
    Py_RETURN_NONE;
}

/* Whether ``type`` is RefBase or a subclass of it (of any copy of this module). */
static int
is_ref_type(PyTypeObject *type)
{
    for (; type != NULL; type = type->tp_base) {
        if (type->tp_dealloc == (destructor)ref_dealloc) {
            return 1;
        }
    }
    return 0;
}

/* settle(items, results, start, item_type): what batch_lane.BatchCall._set_result
 * does for each item of a batch, from items[start] on, in C: while the item is of
 * item_type exactly (whose _set_result is ObjectRef's), is awaited once outside
 * an actor (its _waiters a Waiter) and its result is no exception, the item gets
 * the result (_waiters None, _state OK, _value the result) and so does its
 * waiter (which ignores it if its awaiter was cancelled). Returns the index of
 * the first item that is not such, which the caller settles itself: len(items)
 * once all are. */
static PyObject *
settle(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "settle() takes items, results, start, item_type");
        return NULL;
    }
    PyObject *items = args[0];
    PyObject *results = args[1];
    PyObject *item_type = args[3];
    if (!PyList_CheckExact(items) || !PyList_CheckExact(results)) {
        PyErr_SetString(PyExc_TypeError, "settle(): items and results must be lists");
        return NULL;
    }
    if (!PyType_Check(item_type) || !is_ref_type((PyTypeObject *)item_type)) {
        PyErr_SetString(PyExc_TypeError, "settle(): item_type must be a subclass of RefBase");
        return NULL;
    }
    Py_ssize_t i = PyLong_AsSsize_t(args[2]);
    if (i == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (i < 0) {
        PyErr_SetString(PyExc_ValueError, "settle(): start must be >= 0");
        return NULL;
    }
    if (future_type == NULL || waiter_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "asyncactors._speedups.setup() was not called");
        return NULL;
    }
    /* waiter_set_result() may run Python code (a loop's call_soon): the lists are
     * read afresh at each step, and what is used is held. */
    for (; i < PyList_GET_SIZE(items) && i < PyList_GET_SIZE(results); i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        PyObject *result = PyList_GET_ITEM(results, i);
        if ((PyObject *)Py_TYPE(item) != item_type || PyExceptionInstance_Check(result)) {
            break;
        }
        RefBase *ref = (RefBase *)item;
        PyObject *waiter = ref->waiters; /* its reference becomes ours */
        if (waiter == NULL || Py_TYPE(waiter) != waiter_type) {
            break;
        }
        Py_INCREF(item);
        Py_INCREF(result);
        ref->waiters = Py_NewRef(Py_None);
        Py_XSETREF(ref->state, Py_NewRef(ok_state));
        Py_XSETREF(ref->value, Py_NewRef(result));
        PyObject *r = waiter_set_result((Waiter *)waiter, result);
        Py_DECREF(waiter);
        Py_DECREF(result);
        Py_DECREF(item);
        if (r == NULL) {
            return NULL;
        }
        Py_DECREF(r);
    }
    return PyLong_FromSsize_t(i);
}

static PyMethodDef module_methods[] = {
    {"setup", setup, METH_VARARGS,
     "setup(future_type, base_event_loop, get_running_loop, actor_var, seen, done_future): "
     "the objects of asyncactors._ref that RefBase's await and Waiter use."},
    {"settle", (PyCFunction)(void (*)(void))settle, METH_FASTCALL,
     "settle(items, results, start, item_type): resolve each plain item awaited once "
     "outside an actor, from items[start] on, with its result; return the index of the "
     "first that is not such (len(items) once all are)."},
    {NULL, NULL, 0, NULL},
};

static int init_once(void);

static int
intern(PyObject **slot, const char *name)
{
    *slot = PyUnicode_InternFromString(name);
    return *slot == NULL ? -1 : 0;
}

/* The interpreter the module serves (see the top), once imported. */
static int64_t owner = -1;

static int
module_exec(PyObject *module)
{
    int64_t here = PyInterpreterState_GetID(PyInterpreterState_Get());
    if (here < 0) {
        return -1;
    }
    if (owner >= 0 && here != owner) {
        PyErr_SetString(PyExc_ImportError,
                        "asyncactors._speedups serves only the first interpreter that imports it");
        return -1;
    }
    if (owner < 0) {
        if (init_once() < 0) {
            return -1;
        }
        owner = here;
    }
    PyObject *type = PyType_FromModuleAndSpec(module, &ref_spec, NULL);
    if (type == NULL) {
        return -1;
    }
    PyObject *call = PyType_FromModuleAndSpec(module, &call_spec, type);
    if (PyModule_AddObject(module, "RefBase", type) < 0) {
        Py_DECREF(type);
        Py_XDECREF(call);
        return -1;
    }
    if (call == NULL) {
        return -1;
    }
    if (PyModule_AddObject(module, "CallBase", call) < 0) {
        Py_DECREF(call);
        return -1;
    }
    /* One type for every copy of the module: ObjectRef tells its waiters
     * from its callbacks by it (asyncactors._ref.WAITER). */
    if (waiter_type == NULL) {
        waiter_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &waiter_spec, NULL);
        if (waiter_type == NULL) {
            return -1;
        }
    }
    if (PyModule_AddObject(module, "Waiter", Py_NewRef(waiter_type)) < 0) {
        Py_DECREF(waiter_type);
        return -1;
    }
#ifdef HAVE_PULSE
    /* Its thread runs on_stale() in the main interpreter: another one (where
     * this module is the first's, see the top) has no Pulse, and the watchdog
     * uses its Python twin there. */
    if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
        return 0;
    }
    PyObject *pulse = PyType_FromModuleAndSpec(module, &pulse_spec, NULL);
    if (pulse == NULL) {
        return -1;
    }
    if (PyModule_AddObject(module, "Pulse", pulse) < 0) {
        Py_DECREF(pulse);
        return -1;
    }
#endif
    return 0;
}

/* What a re-import (after deleting the module from sys.modules) must not
 * repeat: leaking the first names, and a second at-fork hook. */
static int
init_once(void)
{
    if (intern(&str_finished, "_finished") < 0
        || intern(&str_await_from_other_loop, "_await_from_other_loop") < 0
        || intern(&str_await, "__await__") < 0
        || intern(&str_add_waiter, "_add_waiter") < 0
        || intern(&str_blocking_wait, "blocking_wait") < 0
#ifdef READ_HOLDER
        || intern(&str_running_key, "__asyncio_running_event_loop__") < 0
#endif
        || intern(&str_call_soon, "call_soon") < 0
        || intern(&str_create_future, "create_future") < 0) {
        return -1;
    }
    ok_state = PyLong_FromLong(1);
    if (ok_state == NULL) {
        return -1;
    }
    PyObject *context = PyUnicode_InternFromString("context");
    if (context == NULL) {
        return -1;
    }
    kwnames_context = PyTuple_Pack(1, context);
    Py_DECREF(context);
    if (kwnames_context == NULL) {
        return -1;
    }
    PyObject *exceptions = PyImport_ImportModule("asyncio.exceptions");
    if (exceptions == NULL) {
        return -1;
    }
    cancelled_error = PyObject_GetAttrString(exceptions, "CancelledError");
    invalid_state_error = PyObject_GetAttrString(exceptions, "InvalidStateError");
    Py_DECREF(exceptions);
    if (cancelled_error == NULL || invalid_state_error == NULL) {
        return -1;
    }
    PyObject *c_asyncio = PyImport_ImportModule("_asyncio");
    if (c_asyncio == NULL) {
        PyErr_Clear();
    }
    else {
        task_type = (PyTypeObject *)PyObject_GetAttrString(c_asyncio, "Task");
        Py_DECREF(c_asyncio);
        if (task_type == NULL) {
            PyErr_Clear();
        }
    }
    PyObject *loop = PyUnicode_InternFromString("loop");
    if (loop == NULL) {
        return -1;
    }
    kwnames_loop = PyTuple_Pack(1, loop);
    Py_DECREF(loop);
    if (kwnames_loop == NULL) {
        return -1;
    }
#ifdef READ_HOLDER
    if (track_pid() < 0) {
        return -1;
    }
#endif
    return 0;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#ifdef Py_mod_multiple_interpreters
    /* Isolated sub-interpreters refuse it before module_exec runs; legacy
     * ones are refused by module_exec. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "asyncactors._speedups",
    .m_doc = "C accelerator of asyncactors' ObjectRef (optional: _ref.py has a pure-Python twin).",
    .m_size = 0,
    .m_methods = module_methods,
    .m_slots = module_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
