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
 * In Python 3.11 ``asyncio._get_running_loop()`` makes a getpid() system call
 * per ask, to tell a forked child that its parent's loop is not running there.
 * running_loop() reads the same record of the running loop and compares the
 * pid stored there with its own, kept up to date by an at-fork hook: the same
 * answer without the system call. On later Pythons, which make no such call,
 * it calls ``asyncio._get_running_loop()``.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

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

/* Interned names. */
static PyObject *str_finished;
static PyObject *str_await_from_other_loop;
static PyObject *str_await;
static PyObject *str_add_waiter;
static PyObject *str_blocking_wait;
static PyObject *str_create_future;
static PyObject *kwnames_loop;    /* ("loop",) */

/* One-entry caches of whether a loop type's create_future is BaseEventLoop's
 * (by type, strong references). */
static PyTypeObject *plain_future_type;
static PyTypeObject *own_future_type;

static int
remember(PyTypeObject **slot, PyTypeObject *type)
{
    Py_INCREF(type);
    Py_XSETREF(*slot, type);
    return 1;
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

#ifdef READ_HOLDER
static PyObject *
after_fork(PyObject *module, PyObject *unused)
{
    my_pid = getpid();
    Py_RETURN_NONE;
}

static PyMethodDef after_fork_def = {
    "_after_fork", after_fork, METH_NOARGS, "Note the pid of this forked child.",
};

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

/* Keep my_pid right in forked children (os.register_at_fork). */
static int
track_pid(PyObject *module)
{
    my_pid = getpid();
    PyObject *hook = PyCFunction_NewEx(&after_fork_def, module, NULL);
    if (hook == NULL) {
        return -1;
    }
    PyObject *os = PyImport_ImportModule("os");
    if (os == NULL) {
        Py_DECREF(hook);
        return -1;
    }
    PyObject *reg = PyObject_GetAttrString(os, "register_at_fork");
    Py_DECREF(os);
    if (reg == NULL) {
        Py_DECREF(hook);
        return -1;
    }
    PyObject *kwargs = Py_BuildValue("{sO}", "after_in_child", hook);
    Py_DECREF(hook);
    if (kwargs == NULL) {
        Py_DECREF(reg);
        return -1;
    }
    PyObject *empty = PyTuple_New(0);
    PyObject *r = empty == NULL ? NULL : PyObject_Call(reg, empty, kwargs);
    Py_XDECREF(empty);
    Py_DECREF(kwargs);
    Py_DECREF(reg);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}
#endif

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
    PyObject *create = PyObject_GetAttr(base, str_create_future);
    if (create == NULL) {
        return NULL;
    }
    Py_XSETREF(future_type, Py_NewRef(fut));
    Py_XSETREF(base_create_future, create);
    Py_XSETREF(get_running_loop, Py_NewRef(get));
    Py_XSETREF(actor_var, Py_NewRef(var));
    Py_XSETREF(seen, Py_NewRef(marker));
    Py_CLEAR(plain_future_type);
    Py_CLEAR(own_future_type);
#ifdef READ_HOLDER
    read_holder = is_asyncio_getter(get);
#endif
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
#ifdef READ_HOLDER
        || intern(&str_running_key, "__asyncio_running_event_loop__") < 0
#endif
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
#ifdef READ_HOLDER
    if (track_pid(module) < 0) {
        return -1;
    }
#endif
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
