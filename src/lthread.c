/*
 * ssf.thread: Lua on a thread of its own, and string channels between
 * Lua states.
 *
 *   thread.channel()                 -> channel (shared by every state it is given to)
 *   channel:push(s)                  -> true | false (the channel is closed)
 *   channel:pop([timeout])           -> s | nil, "timeout" | nil, "closed"
 *                                       (no timeout: until a message or close)
 *                                       | nil, "interrupted" (Ctrl-C)
 *   channel:close()                  later pops drain what is queued, then say "closed"
 *   thread.start(module, ...)        -> thread; each extra argument is a string or a channel
 *   thread:join() / thread:close()   -> true | nil, message (what the thread raised)
 *                                       (also __close and __gc; idempotent)
 *   thread.readable(fd, timeout)     -> true | false (timeout) | nil, "interrupted"
 *
 * A started thread runs require(module)(...) in a fresh lua_State that has
 * the standard libraries (math.random seeded from the OS), the starting
 * state's package.path and package.cpath, and the C loaders of its
 * package.preload (ssflua links lua-cjson in and preloads it; stock lua5.4
 * finds it on cpath). It starts
 * with every signal blocked, so Ctrl-C and SIGTERM always reach the
 * script's thread. Only that new state ever runs on the new thread, and no
 * Lua state is touched by two threads: states share nothing but channels,
 * which hold copies of strings under a mutex.
 *
 * Stopping is one rule: joining a thread first closes every channel it was
 * started with, and a thread function returns once its channels are
 * closed. When the function returns (or raises), its channels are closed
 * too, so whoever waits on the other end learns at once that it is gone.
 * Threads still running at exit (os.exit skips the finalizers) are stopped
 * and joined the same way by an atexit handler, so a process never exits
 * with Lua still running beside it.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "compat.h"
#include <lualib.h>

#include "sigint.h"

#define CHANNEL_MT "ssf.thread.channel"
#define THREAD_MT "ssf.thread.thread"
#define HOLDER_MT "ssf.thread.holder"

/* Waits check Ctrl-C at least this often (seconds). */
#define SLICE 0.1
/* A channel refuses more than this many queued messages: a bound on what a
 * stuck reader can make the writer hold. */
#define MAX_QUEUED 100000
#define MAX_ARGS 16
#define MAX_PRELOADS 32

typedef struct message {
	struct message *next;
	size_t len;
	char data[];
} message;

typedef struct channel {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	message *head, *tail;
	size_t count;
	int closed;
	int refs; /* one per Lua handle and per thread that holds it */
} channel;

typedef struct preload {
	char *name;
	lua_CFunction open;
} preload;

typedef struct thread {
	pthread_t tid;
	int running; /* pthread_create succeeded and join has not happened */
	char *module, *path, *cpath;
	char *error; /* what the function raised, set by the thread */
	int nargs;
	struct {
		channel *ch; /* or NULL for a string */
		char *s;
		size_t len;
	} args[MAX_ARGS];
	int npreloads;
	preload preloads[MAX_PRELOADS];
	struct thread *next_live;
} thread;

static double monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Channels ---------------------------------------------------------- */

static channel *channel_new(void)
{
	channel *ch = calloc(1, sizeof *ch);
	if (ch == NULL)
		return NULL;
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_mutex_init(&ch->lock, NULL);
	pthread_cond_init(&ch->cond, &attr);
	pthread_condattr_destroy(&attr);
	ch->refs = 1;
	return ch;
}

static void channel_ref(channel *ch)
{
	pthread_mutex_lock(&ch->lock);
	ch->refs++;
	pthread_mutex_unlock(&ch->lock);
}

static void channel_unref(channel *ch)
{
	pthread_mutex_lock(&ch->lock);
	int last = --ch->refs == 0;
	pthread_mutex_unlock(&ch->lock);
	if (!last)
		return;
	for (message *m = ch->head, *next; m != NULL; m = next) {
		next = m->next;
		free(m);
	}
	pthread_mutex_destroy(&ch->lock);
	pthread_cond_destroy(&ch->cond);
	free(ch);
}

static void channel_close(channel *ch)
{
	pthread_mutex_lock(&ch->lock);
	ch->closed = 1;
	pthread_cond_broadcast(&ch->cond);
	pthread_mutex_unlock(&ch->lock);
}

static channel **check_channel_ref(lua_State *L, int i)
{
	return luaL_checkudata(L, i, CHANNEL_MT);
}

static channel *check_channel(lua_State *L, int i)
{
	channel **ref = check_channel_ref(L, i);
	if (*ref == NULL)
		luaL_argerror(L, i, "channel released");
	return *ref;
}

/* Pushes a Lua handle on ch, taking over one reference the caller holds. */
static void push_channel(lua_State *L, channel *ch)
{
	channel **ref = ssf_newuserdata(L, sizeof *ref);
	*ref = ch;
	luaL_setmetatable(L, CHANNEL_MT);
}

static int l_channel(lua_State *L)
{
	channel **ref = ssf_newuserdata(L, sizeof *ref);
	*ref = NULL;
	luaL_setmetatable(L, CHANNEL_MT);
	*ref = channel_new();
	if (*ref == NULL)
		return luaL_error(L, "not enough memory");
	return 1;
}

static int channel_gc(lua_State *L)
{
	channel **ref = check_channel_ref(L, 1);
	if (*ref != NULL) {
		channel_unref(*ref);
		*ref = NULL;
	}
	return 0;
}

static int channel_push(lua_State *L)
{
	channel *ch = check_channel(L, 1);
	size_t len;
	const char *s = luaL_checklstring(L, 2, &len);
	message *m = malloc(sizeof *m + len);
	if (m == NULL)
		return luaL_error(L, "not enough memory");
	memcpy(m->data, s, len);
	m->len = len;
	m->next = NULL;
	pthread_mutex_lock(&ch->lock);
	int ok = !ch->closed && ch->count < MAX_QUEUED;
	if (ok) {
		if (ch->tail != NULL)
			ch->tail->next = m;
		else
			ch->head = m;
		ch->tail = m;
		ch->count++;
		pthread_cond_signal(&ch->cond);
	}
	pthread_mutex_unlock(&ch->lock);
	if (!ok)
		free(m);
	lua_pushboolean(L, ok);
	return 1;
}

/* A message between the queue and the Lua string made from it: if making
 * the string raises (out of memory), the holder's __gc frees it. */
static int holder_gc(lua_State *L)
{
	message **held = luaL_checkudata(L, 1, HOLDER_MT);
	free(*held);
	*held = NULL;
	return 0;
}

static int channel_pop(lua_State *L)
{
	channel *ch = check_channel(L, 1);
	int forever = lua_isnoneornil(L, 2);
	double timeout = forever ? -1 : luaL_checknumber(L, 2);
	luaL_argcheck(L, forever || (timeout >= 0 && timeout <= 1e9), 2, "timeout out of range");
	message **held = ssf_newuserdata(L, sizeof *held);
	*held = NULL;
	luaL_setmetatable(L, HOLDER_MT);

	/* A thread with SIGINT blocked (ssf.thread's own) is never
	 * interrupted: sigint.c leaves the handlers to the script's thread. */
	int watch = timeout != 0;
	ssf_sigint sig;
	if (watch)
		ssf_sigint_begin(&sig);
	double deadline = timeout < 0 ? -1 : monotonic() + timeout;
	int closed = 0;
	pthread_mutex_lock(&ch->lock);
	for (;;) {
		if (ch->head != NULL) {
			*held = ch->head;
			ch->head = (*held)->next;
			if (ch->head == NULL)
				ch->tail = NULL;
			ch->count--;
			break;
		}
		if (ch->closed) {
			closed = 1;
			break;
		}
		double now = monotonic();
		if ((deadline >= 0 && now >= deadline) || (watch && ssf_sigint_pending()))
			break;
		double until = now + SLICE;
		if (deadline >= 0 && deadline < until)
			until = deadline;
		struct timespec ts;
		ts.tv_sec = (time_t)until;
		ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
		pthread_cond_timedwait(&ch->cond, &ch->lock, &ts);
	}
	pthread_mutex_unlock(&ch->lock);
	int interrupted = watch && ssf_sigint_end(&sig);

	if (*held != NULL) {
		lua_pushlstring(L, (*held)->data, (*held)->len);
		free(*held);
		*held = NULL;
		return 1;
	}
	lua_pushnil(L);
	if (closed)
		lua_pushliteral(L, "closed");
	else if (interrupted)
		lua_pushliteral(L, "interrupted");
	else
		lua_pushliteral(L, "timeout");
	return 2;
}

static int channel_close_l(lua_State *L)
{
	channel_close(check_channel(L, 1));
	return 0;
}

/* Threads ----------------------------------------------------------- */

/* Every thread started and not joined yet, for the atexit handler. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static thread *live;
static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;

static void thread_free(thread *t)
{
	for (int i = 0; i < t->nargs; i++) {
		if (t->args[i].ch != NULL)
			channel_unref(t->args[i].ch);
		free(t->args[i].s);
	}
	for (int i = 0; i < t->npreloads; i++)
		free(t->preloads[i].name);
	free(t->module);
	free(t->path);
	free(t->cpath);
	free(t->error);
	free(t);
}

static void close_channels(thread *t)
{
	for (int i = 0; i < t->nargs; i++)
		if (t->args[i].ch != NULL)
			channel_close(t->args[i].ch);
}

/* Closes t's channels and waits for it; 0 if it was already joined. */
static int thread_join(thread *t)
{
	pthread_mutex_lock(&live_lock);
	int running = t->running;
	t->running = 0;
	for (thread **p = &live; *p != NULL; p = &(*p)->next_live) {
		if (*p == t) {
			*p = t->next_live;
			break;
		}
	}
	pthread_mutex_unlock(&live_lock);
	if (!running)
		return 0;
	close_channels(t);
	pthread_join(t->tid, NULL);
	return 1;
}

static void join_all_at_exit(void)
{
	for (;;) {
		pthread_mutex_lock(&live_lock);
		thread *t = live;
		pthread_mutex_unlock(&live_lock);
		if (t == NULL)
			return;
		/* The handle stays with its Lua state, which is not closed on
		 * this path; only the thread is stopped. */
		thread_join(t);
	}
}

static void register_atexit(void)
{
	atexit(join_all_at_exit);
}

/* Seeds the new state's math.random from the OS. Lua 5.4 seeds a state
 * from the time and its own address, and the next thread's state is often
 * made where the last one was, within the same second; LuaJIT starts every
 * state from one constant. Either way two threads would draw the same
 * numbers. If the OS has no randomness to give, the state keeps its own
 * seed. */
static void seed_random(lua_State *L)
{
	uint64_t r[2];
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
		return;
	lua_getglobal(L, "math");
	lua_getfield(L, -1, "randomseed");
#if LUA_VERSION_NUM >= 504
	lua_pushinteger(L, (lua_Integer)(r[0] & INT64_MAX));
	lua_pushinteger(L, (lua_Integer)(r[1] & INT64_MAX));
	lua_call(L, 2, 0);
#else
	/* LuaJIT's seed is a double: 53 bits, held exactly. */
	lua_pushnumber(L, (lua_Number)(r[0] >> 11));
	lua_call(L, 1, 0);
#endif
	lua_pop(L, 1);
}

/* The new thread's body, run in protected mode in its own state. */
static int thread_main(lua_State *L)
{
	thread *t = lua_touserdata(L, 1);
	luaL_openlibs(L);
	seed_random(L);
	ssf_pushpreload(L);
	for (int i = 0; i < t->npreloads; i++) {
		lua_pushcfunction(L, t->preloads[i].open);
		lua_setfield(L, -2, t->preloads[i].name);
	}
	lua_pop(L, 1);
	lua_getglobal(L, "package");
	lua_pushstring(L, t->path);
	lua_setfield(L, -2, "path");
	lua_pushstring(L, t->cpath);
	lua_setfield(L, -2, "cpath");
	lua_pop(L, 1);

	/* The channel metatable, and a reference on this module for as long
	 * as the state lives (its C functions are in it). */
	lua_getglobal(L, "require");
	lua_pushliteral(L, "ssf.thread");
	lua_call(L, 1, 0);

	lua_getglobal(L, "require");
	lua_pushstring(L, t->module);
	lua_call(L, 1, 1);
	if (!lua_isfunction(L, -1))
		return luaL_error(L, "module '%s' did not return a function", t->module);
	luaL_checkstack(L, t->nargs, "too many arguments");
	for (int i = 0; i < t->nargs; i++) {
		if (t->args[i].ch != NULL) {
			channel_ref(t->args[i].ch);
			push_channel(L, t->args[i].ch);
		} else {
			lua_pushlstring(L, t->args[i].s, t->args[i].len);
		}
	}
	lua_call(L, t->nargs, 0);
	return 0;
}

static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
	return 1;
}

static void *thread_run(void *arg)
{
	thread *t = arg;
	lua_State *L = luaL_newstate();
	if (L == NULL) {
		t->error = strdup("cannot create a Lua state: not enough memory");
	} else {
		lua_pushcfunction(L, traceback);
		lua_pushcfunction(L, thread_main);
		lua_pushlightuserdata(L, t);
		if (lua_pcall(L, 1, 0, 1) != LUA_OK) {
			const char *msg = lua_tostring(L, -1);
			t->error = strdup(msg ? msg : "(error object is not a string)");
		}
		lua_close(L);
	}
	close_channels(t);
	return NULL;
}

static thread **check_thread_ref(lua_State *L)
{
	return luaL_checkudata(L, 1, THREAD_MT);
}

static char *dup_field(lua_State *L, int table, const char *field)
{
	lua_getfield(L, table, field);
	const char *s = lua_tostring(L, -1);
	char *copy = strdup(s ? s : "");
	lua_pop(L, 1);
	return copy;
}

static int l_start(lua_State *L)
{
	luaL_checkstring(L, 1);
	int nargs = lua_gettop(L) - 1;
	luaL_argcheck(L, nargs <= MAX_ARGS, MAX_ARGS + 2, "too many arguments");
	for (int i = 2; i <= lua_gettop(L); i++) {
		if (lua_type(L, i) != LUA_TSTRING)
			check_channel(L, i);
	}
	lua_getglobal(L, "package");
	int pkg = lua_gettop(L);
	luaL_checktype(L, pkg, LUA_TTABLE);
	ssf_pushpreload(L);
	int pre = lua_gettop(L);

	thread **ref = ssf_newuserdata(L, sizeof *ref);
	*ref = NULL;
	luaL_setmetatable(L, THREAD_MT);

	/* From here on nothing raises until the thread struct is complete
	 * and owned by the handle (or freed). */
	thread *t = calloc(1, sizeof *t);
	int ok = t != NULL;
	if (ok) {
		t->module = strdup(lua_tostring(L, 1));
		t->path = dup_field(L, pkg, "path");
		t->cpath = dup_field(L, pkg, "cpath");
		ok = t->module && t->path && t->cpath;
		for (int i = 0; ok && i < nargs; i++) {
			int idx = i + 2;
			t->nargs++;
			if (lua_type(L, idx) == LUA_TSTRING) {
				size_t len;
				const char *s = lua_tolstring(L, idx, &len);
				t->args[i].s = malloc(len ? len : 1);
				ok = t->args[i].s != NULL;
				if (ok)
					memcpy(t->args[i].s, s, len);
				t->args[i].len = len;
			} else {
				t->args[i].ch = *(channel **)lua_touserdata(L, idx);
				channel_ref(t->args[i].ch);
			}
		}
		/* Loaders that exist only as C functions in this host. */
		lua_pushnil(L);
		while (ok && lua_next(L, pre) != 0) {
			lua_CFunction f = lua_tocfunction(L, -1);
			if (lua_type(L, -2) == LUA_TSTRING && f != NULL
			    && t->npreloads < MAX_PRELOADS) {
				preload *p = &t->preloads[t->npreloads];
				p->name = strdup(lua_tostring(L, -2));
				p->open = f;
				ok = p->name != NULL;
				if (ok)
					t->npreloads++;
			}
			lua_pop(L, 1);
		}
	}
	if (ok) {
		pthread_once(&atexit_once, register_atexit);
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		pthread_mutex_lock(&live_lock);
		ok = pthread_create(&t->tid, NULL, thread_run, t) == 0;
		if (ok) {
			t->running = 1;
			t->next_live = live;
			live = t;
		}
		pthread_mutex_unlock(&live_lock);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (!ok) {
		if (t != NULL)
			thread_free(t);
		lua_pushnil(L);
		lua_pushliteral(L, "cannot start a thread (out of memory or threads)");
		return 2;
	}
	*ref = t;
	return 1;
}

static int thread_join_l(lua_State *L)
{
	thread **ref = check_thread_ref(L);
	thread *t = *ref;
	if (t == NULL) {
		lua_pushboolean(L, 1);
		return 1;
	}
	thread_join(t);
	int n = 1;
	if (t->error == NULL) {
		lua_pushboolean(L, 1);
	} else {
		/* Pushed while the handle still owns t, so a memory error
		 * leaves t to __gc. */
		lua_pushnil(L);
		lua_pushstring(L, t->error);
		n = 2;
	}
	*ref = NULL;
	thread_free(t);
	return n;
}

static int thread_gc(lua_State *L)
{
	thread **ref = check_thread_ref(L);
	if (*ref != NULL) {
		thread_join(*ref);
		thread_free(*ref);
		*ref = NULL;
	}
	return 0;
}

/* Waiting on a file descriptor ---------------------------------------- */

static int l_readable(lua_State *L)
{
	int fd = (int)ssf_checkinteger(L, 1);
	double timeout = luaL_checknumber(L, 2);
	luaL_argcheck(L, fd >= 0, 1, "not a file descriptor");
	luaL_argcheck(L, timeout >= 0 && timeout <= 1e9, 2, "timeout out of range");
	double deadline = monotonic() + timeout;
	int ready = 0;
	ssf_sigint sig;
	ssf_sigint_begin(&sig);
	while (!ssf_sigint_pending()) {
		double left = deadline - monotonic();
		if (left <= 0)
			break;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ms = left < SLICE ? (int)(left * 1000) + 1 : (int)(SLICE * 1000);
		int n = poll(&p, 1, ms);
		if (n > 0) {
			ready = 1; /* data, end of file or an error: a read will tell */
			break;
		}
		if (n < 0 && errno != EINTR)
			break;
	}
	if (ssf_sigint_end(&sig) && !ready) {
		lua_pushnil(L);
		lua_pushliteral(L, "interrupted");
		return 2;
	}
	lua_pushboolean(L, ready);
	return 1;
}

/* The module's only exported symbol (the build hides the rest). */
__attribute__((visibility("default"))) int luaopen_ssf_thread(lua_State *L);

int luaopen_ssf_thread(lua_State *L)
{
	static const luaL_Reg channel_methods[] = {
		{ "push", channel_push },
		{ "pop", channel_pop },
		{ "close", channel_close_l },
		{ NULL, NULL },
	};
	static const luaL_Reg thread_methods[] = {
		{ "join", thread_join_l },
		{ "close", thread_join_l },
		{ NULL, NULL },
	};
	static const luaL_Reg funcs[] = {
		{ "channel", l_channel },
		{ "start", l_start },
		{ "readable", l_readable },
		{ NULL, NULL },
	};
	if (luaL_newmetatable(L, CHANNEL_MT)) {
		luaL_newlib(L, channel_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, channel_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	if (luaL_newmetatable(L, THREAD_MT)) {
		luaL_newlib(L, thread_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, thread_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, thread_gc);
		lua_setfield(L, -2, "__close");
	}
	lua_pop(L, 1);
	if (luaL_newmetatable(L, HOLDER_MT)) {
		lua_pushcfunction(L, holder_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	luaL_newlib(L, funcs);
	return 1;
}
