/* asyncactors._speedups: ObjectRef's fields and its ``await`` in C.
 *
 * ``RefBase`` is the base of ``asyncactors._ref.ObjectRef``. It holds the ref's
 * fields (plain object members with the names the Python code reads and
 * writes) and implements ``__await__`` (the ``am_await`` slot) without a Python
 * frame: the per-await cost of a call's result. Everything else stays in
 * Python, in ``ObjectRef``; ``_ref.py`` has the pure-Python twin of this type,
 * used when the extension is missing or ASYNCACTORS_NO_EXTENSIONS is set.
 *
 * What ``await ref`` does (as ``ObjectRef.__await__`` in Python):
 *   - done already: ``self._finished()``;
 *   - the running loop is not the ref's (or none runs):
 *     ``self._await_from_other_loop(running).__await__()``;
 *   - else a waiter future of the loop joins ``_waiters`` (alone, or through
 *     ``self._add_waiter``), ``_log`` becomes the "seen" marker, and the
 *     awaiting code gets ``iter(fut)``, or, inside an actor,
 *     ``actor.blocking_wait(self, fut)``.
 * On asyncio's own loops (whose ``_thread_id`` names the thread running them)
 * the running loop is found by comparing that field with this thread, as the
 * engine's hot path does: ``asyncio._get_running_loop()`` makes a getpid()
 * system call per ask in Python 3.11.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <pythread.h>

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
static PyObject *base_loop_type;  /* asyncio.BaseEventLoop */
static PyObject *base_is_running; /* BaseEventLoop.is_running */
static PyObject *base_create_future; /* BaseEventLoop.create_future */
static PyObject *get_running_loop; /* asyncio._get_running_loop */
static PyObject *actor_var;       /* _ref.actor_var */
static PyObject *seen;            /* _ref._SEEN */

/* Interned names. */
static PyObject *str_finished;
static PyObject *str_await_from_other_loop;
static PyObject *str_await;
static PyObject *str_add_waiter;
static PyObject *str_blocking_wait;
static PyObject *str_thread_id;
static PyObject *str_is_running;
static PyObject *str_create_future;
static PyObject *kwnames_loop;    /* ("loop",) */

/* One-entry caches of what a loop type is, by type (strong references). */
static PyTypeObject *marked_type;   /* last type whose _thread_id is trusted */
static PyTypeObject *unmarked_type; /* last type whose is not */
static PyTypeObject *plain_future_type;  /* last type whose create_future is the base's */
static PyTypeObject *own_future_type;    /* last type with its own create_future */

static int
remember(PyTypeObject **slot, PyTypeObject *type)
{
    Py_INCREF(type);
    Py_XSETREF(*slot, type);
    return 1;
}

/* Whether ``type`` is one of asyncio's loops whose ``_thread_id`` names the
 * thread running it: a BaseEventLoop that keeps its is_running (see
 * _system._marking_loop). -1 on error. */
static int
is_marked(PyTypeObject *type)
{
    if (type == marked_type) {
        return 1;
    }
    if (type == unmarked_type) {
        return 0;
    }
    int sub = PyObject_IsSubclass((PyObject *)type, base_loop_type);
    if (sub < 0) {
        return -1;
    }
    if (sub) {
        PyObject *is_running = PyObject_GetAttr((PyObject *)type, str_is_running);
        if (is_running == NULL) {
            return -1;
        }
        sub = is_running == base_is_running;
        Py_DECREF(is_running);
    }
    if (sub) {
        return remember(&marked_type, type);
    }
    remember(&unmarked_type, type);
    return 0;
}

/* Whether ``type``'s create_future is BaseEventLoop's (a plain asyncio.Future). */
static int
makes_plain_futures(PyTypeObject *type)
{
    if (type == plain_future_type) {
        return 1;
    }
    if (type == own_future_type) {
        return 0;
    }
    PyObject *create = PyObject_GetAttr((PyObject *)type, str_create_future);
    if (create == NULL) {
        return -1;
    }
    int plain = create == base_create_future;
    Py_DECREF(create);
    if (plain) {
        return remember(&plain_future_type, type);
    }
    remember(&own_future_type, type);
    return 0;
}

/* The error of reading a field never set, as a slot of the Python twin raises it. */
static PyObject *
missing(RefBase *self, const char *name)
{
    PyErr_Format(PyExc_AttributeError, "'%.100s' object has no attribute '%s'",
                 Py_TYPE(self)->tp_name, name);
    return NULL;
}

/* The running loop (a new reference; None when none runs), knowing that the
 * ref belongs to ``loop``. */
static PyObject *
running_loop(PyObject *loop)
{
    if (loop != Py_None) {
        int marked = is_marked(Py_TYPE(loop));
        if (marked < 0) {
            return NULL;
        }
        if (marked) {
            PyObject *tid = PyObject_GetAttr(loop, str_thread_id);
            if (tid == NULL) {
                return NULL;
            }
            int here = 0;
            if (PyLong_CheckExact(tid)) {
                unsigned long id = PyLong_AsUnsignedLong(tid);
                if (id == (unsigned long)-1 && PyErr_Occurred()) {
                    PyErr_Clear();
                }
                else {
                    here = id == PyThread_get_thread_ident();
                }
            }
            Py_DECREF(tid);
            if (here) {
                return Py_NewRef(loop);
            }
        }
    }
    return PyObject_CallNoArgs(get_running_loop);
}

static PyObject *
ref_await(RefBase *self)
{
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
    PyObject *running = running_loop(loop);
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
    PyObject *fut;
    int plain = makes_plain_futures(Py_TYPE(running));
    if (plain < 0) {
        Py_DECREF(running);
        return NULL;
    }
    if (plain) {
        PyObject *args[1] = {running};
        fut = PyObject_Vectorcall(future_type, args, 0, kwnames_loop);
    }
    else {
        fut = PyObject_CallMethodNoArgs(running, str_create_future);
    }
    Py_DECREF(running);
    if (fut == NULL) {
        return NULL;
    }
    PyObject *waiters = self->waiters;
    if (waiters == NULL) {
        Py_DECREF(fut);
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
            return NULL;
        }
        Py_DECREF(r);
    }
    Py_XSETREF(self->log, Py_NewRef(seen));
    PyObject *actor;
    if (PyContextVar_Get(actor_var, NULL, &actor) < 0) {
        Py_DECREF(fut);
        return NULL;
    }
    PyObject *it;
    if (actor == NULL || actor == Py_None) {
        it = PyObject_GetIter(fut);
    }
    else {
        it = PyObject_CallMethodObjArgs(actor, str_blocking_wait, (PyObject *)self, fut, NULL);
    }
    Py_XDECREF(actor);
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
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    ref_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
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
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = ref_slots,
};

static PyObject *
setup(PyObject *module, PyObject *args)
{
    PyObject *fut, *base, *get, *var, *marker;
    if (!PyArg_ParseTuple(args, "OOOOO:setup", &fut, &base, &get, &var, &marker)) {
        return NULL;
    }
    if (!PyContextVar_CheckExact(var)) {
        PyErr_SetString(PyExc_TypeError, "setup() needs the actor ContextVar");
        return NULL;
    }
    PyObject *is_running = PyObject_GetAttr(base, str_is_running);
    if (is_running == NULL) {
        return NULL;
    }
    PyObject *create = PyObject_GetAttr(base, str_create_future);
    if (create == NULL) {
        Py_DECREF(is_running);
        return NULL;
    }
    Py_XSETREF(future_type, Py_NewRef(fut));
    Py_XSETREF(base_loop_type, Py_NewRef(base));
    Py_XSETREF(base_is_running, is_running);
    Py_XSETREF(base_create_future, create);
    Py_XSETREF(get_running_loop, Py_NewRef(get));
    Py_XSETREF(actor_var, Py_NewRef(var));
    Py_XSETREF(seen, Py_NewRef(marker));
    Py_CLEAR(marked_type);
    Py_CLEAR(unmarked_type);
    Py_CLEAR(plain_future_type);
    Py_CLEAR(own_future_type);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"setup", setup, METH_VARARGS,
     "setup(future_type, base_event_loop, get_running_loop, actor_var, seen): "
     "the objects of asyncactors._ref that RefBase's await uses."},
    {NULL, NULL, 0, NULL},
};

static int
intern(PyObject **slot, const char *name)
{
    *slot = PyUnicode_InternFromString(name);
    return *slot == NULL ? -1 : 0;
}

static int
module_exec(PyObject *module)
{
    if (intern(&str_finished, "_finished") < 0
        || intern(&str_await_from_other_loop, "_await_from_other_loop") < 0
        || intern(&str_await, "__await__") < 0
        || intern(&str_add_waiter, "_add_waiter") < 0
        || intern(&str_blocking_wait, "blocking_wait") < 0
        || intern(&str_thread_id, "_thread_id") < 0
        || intern(&str_is_running, "is_running") < 0
        || intern(&str_create_future, "create_future") < 0) {
        return -1;
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
    PyObject *type = PyType_FromModuleAndSpec(module, &ref_spec, NULL);
    if (type == NULL) {
        return -1;
    }
    if (PyModule_AddObject(module, "RefBase", type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
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
