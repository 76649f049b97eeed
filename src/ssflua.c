/*
 * ssflua: a Lua 5.4 host with the `ssf` module on its path.
 *
 * It behaves like the stock `lua` host (arg table, `...`, -e -l -i -v -),
 * adds --help and --version, and finds ssf's Lua files and C modules next to
 * the executable (../share/lua/5.4, ../lib/lua/5.4), so the build tree and an
 * installed prefix work the same with no environment set.
 *
 * libcurl is deliberately not linked here: it costs ~10 ms of dynamic loading
 * at every start. It lives in the `ssf.http` module, which is loaded only when
 * a script makes its first request (or for --version).
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "ssf_version.h"

/* From Debian's liblua5.4-cjson.a; its header declares only the first. */
extern int luaopen_cjson(lua_State *L);
extern int luaopen_cjson_safe(lua_State *L);

static const char *progname = "ssflua";
static lua_State *globalL = NULL;

static void print_usage(FILE *f)
{
	fprintf(f,
		"usage: %s [options] [script [args...]]\n"
		"Run Lua 5.4 scripts with the `ssf` module for Okta Shared Signals streams.\n"
		"\n"
		"Options:\n"
		"  -e stat     execute string 'stat'\n"
		"  -i          enter interactive mode after running the script\n"
		"  -l mod      require library 'mod' into global 'mod'\n"
		"  -l g=mod    require library 'mod' into global 'g'\n"
		"  -v          show version information\n"
		"  --emulate   run against the built-in Okta SSF emulator (also SSF_EMULATE=1)\n"
		"  --help      show this help and exit\n"
		"  --version   show ssf, Lua, libcurl and OpenSSL versions and exit\n"
		"  --          stop handling options\n"
		"  -           execute stdin and stop handling options\n"
		"\n"
		"Scripts (see README.md): scripts/rotate_receiver.lua, scripts/streams.lua.\n"
		"Configuration: OKTA_CLIENT_ORGURL and OKTA_CLIENT_TOKEN, or ssf.client{...}.\n"
		"Exit status: 0 on success, 1 on a script error, 2 on a usage error.\n",
		progname);
}

static void report_message(const char *msg)
{
	fprintf(stderr, "%s: %s\n", progname, msg);
	fflush(stderr);
}

static int report(lua_State *L, int status)
{
	if (status != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		report_message(msg ? msg : "(error object is not a string)");
		lua_pop(L, 1);
	}
	return status;
}

/* Ctrl-C and SIGTERM: like lua.c, stop the interpreter at the next hook,
 * with an error a script may catch to clean up ("interrupted!" for SIGINT,
 * "terminated!" for SIGTERM). A wait that is blocked in C is cut short by
 * ssf itself (see sigint.h). */
static volatile sig_atomic_t stop_signal;
/* The signal whose error was raised: if it ends the script, the process
 * dies of that signal, as a shell, timeout(1) or systemd expect. */
static int stopped_by;

static void stop_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	lua_sethook(L, NULL, 0, 0);
	stopped_by = stop_signal;
	luaL_error(L, stopped_by == SIGTERM ? "terminated!" : "interrupted!");
}

static void on_sigint(int sig)
{
	int mask = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;
	signal(sig, SIG_DFL); /* a second one kills the process */
	stop_signal = sig;
	lua_sethook(globalL, stop_hook, mask, 1);
}

/* The one-line message comes first, then the traceback (as lua.c does). */
static int msghandler(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (msg == NULL) {
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
			return 1;
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	}
	luaL_traceback(L, L, msg, 1);
	return 1;
}

static int docall(lua_State *L, int narg, int nres)
{
	int base = lua_gettop(L) - narg;
	lua_pushcfunction(L, msghandler);
	lua_insert(L, base);
	globalL = L;
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	int status = lua_pcall(L, narg, nres, base);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	lua_remove(L, base);
	return status;
}

static int dochunk(lua_State *L, int status)
{
	if (status == LUA_OK)
		status = docall(L, 0, 0);
	return report(L, status);
}

static int dostring(lua_State *L, const char *s, const char *name)
{
	return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* -l [g=]mod: require mod and store it in global g (default: mod). */
static int dolibrary(lua_State *L, char *spec)
{
	char *eq = strchr(spec, '=');
	const char *modname = spec, *gname = spec;
	if (eq != NULL) {
		*eq = '\0';
		modname = eq + 1;
	}
	lua_getglobal(L, "require");
	lua_pushstring(L, modname);
	int status = docall(L, 1, 1);
	if (status == LUA_OK)
		lua_setglobal(L, gname);
	return report(L, status);
}

/* arg[0] is the script, negative indices the host's own arguments. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script)
{
	lua_createtable(L, argc - script - 1, script + 1);
	for (int i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i - script);
	}
	lua_setglobal(L, "arg");
}

static int pushargs(lua_State *L)
{
	if (lua_getglobal(L, "arg") != LUA_TTABLE)
		luaL_error(L, "'arg' is not a table");
	int n = (int)luaL_len(L, -1);
	luaL_checkstack(L, n + 3, "too many arguments to script");
	for (int i = 1; i <= n; i++)
		lua_rawgeti(L, -i, i);
	lua_remove(L, -n - 1);
	return n;
}

static int handle_script(lua_State *L, char **argv)
{
	const char *fname = argv[0];
	if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0)
		fname = NULL; /* stdin */
	int status = luaL_loadfile(L, fname);
	if (status == LUA_OK) {
		int n = pushargs(L);
		status = docall(L, n, LUA_MULTRET);
	}
	return report(L, status);
}

/* Prepend <prefix>/share/lua/5.4 and <prefix>/lib/lua/5.4, where the binary
 * is <prefix>/bin/ssflua, so `require "ssf"` finds this build's files first. */
static void add_exe_paths(lua_State *L)
{
	char exe[PATH_MAX];
	/* realpath also resolves a symlink to the binary (e.g. in /usr/bin). */
	if (realpath("/proc/self/exe", exe) == NULL)
		return; /* no procfs: the default paths still apply */
	for (int up = 0; up < 2; up++) { /* <prefix>/bin/ssflua -> <prefix> */
		char *slash = strrchr(exe, '/');
		if (slash == NULL)
			return;
		*slash = '\0';
	}

	lua_getglobal(L, "package");
	lua_getfield(L, -1, "path");
	lua_pushfstring(L, "%s/share/lua/5.4/?.lua;%s/share/lua/5.4/?/init.lua;%s", exe, exe,
			lua_tostring(L, -1));
	lua_setfield(L, -3, "path");
	lua_pop(L, 1);
	lua_getfield(L, -1, "cpath");
	lua_pushfstring(L, "%s/lib/lua/5.4/?.so;%s", exe, lua_tostring(L, -1));
	lua_setfield(L, -3, "cpath");
	lua_pop(L, 2);
}

static void preload(lua_State *L, const char *name, lua_CFunction f)
{
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, f);
	lua_setfield(L, -2, name);
	lua_pop(L, 1);
}

/* --version: loading ssf.http is what pulls in libcurl, so only this path
 * pays for it. */
static int print_versions(lua_State *L)
{
	printf("ssflua %s\n%s\n", SSF_VERSION, LUA_RELEASE);
	lua_getglobal(L, "require");
	lua_pushliteral(L, "ssf.http");
	int status = docall(L, 1, 1);
	if (status != LUA_OK)
		return report(L, status);
	lua_getfield(L, -1, "versions");
	status = docall(L, 0, 2);
	if (status != LUA_OK)
		return report(L, status);
	printf("%s\n%s\n", lua_tostring(L, -2), lua_tostring(L, -1));
	return LUA_OK;
}

static void doREPL(lua_State *L)
{
	char line[4096];
	for (;;) {
		fputs("> ", stdout);
		fflush(stdout);
		if (fgets(line, sizeof line, stdin) == NULL)
			break;
		/* Try "return <line>" first so expressions print their value. */
		const char *ret = lua_pushfstring(L, "return %s", line);
		int status = luaL_loadbuffer(L, ret, strlen(ret), "=stdin");
		lua_remove(L, -2);
		if (status != LUA_OK) {
			lua_pop(L, 1);
			status = luaL_loadbuffer(L, line, strlen(line), "=stdin");
		}
		int base = lua_gettop(L);
		if (status == LUA_OK)
			status = docall(L, 0, LUA_MULTRET);
		if (status == LUA_OK) {
			int n = lua_gettop(L) - base + 1;
			if (n > 0) {
				lua_getglobal(L, "print");
				lua_insert(L, base);
				if (lua_pcall(L, n, 0, 0) != LUA_OK)
					report(L, LUA_ERRRUN);
			}
		} else {
			report(L, status);
		}
		lua_settop(L, base - 1 < 0 ? 0 : base - 1);
	}
	fputc('\n', stdout);
}

enum { HAS_E = 1, HAS_I = 2, HAS_V = 4, HAS_VERSION = 8, HAS_EMULATE = 16 };

/* Returns the index of the script in argv (argc if none), or -1 on a usage
 * error (with *bad set to the offending index). */
static int collect_args(char **argv, int *flags, int *bad)
{
	int i;
	for (i = 1; argv[i] != NULL; i++) {
		const char *a = argv[i];
		if (a[0] != '-')
			return i;
		if (strcmp(a, "--") == 0)
			return i + 1;
		if (strcmp(a, "-") == 0)
			return i;
		if (strcmp(a, "--help") == 0) {
			print_usage(stdout);
			exit(EXIT_SUCCESS);
		}
		if (strcmp(a, "--version") == 0) {
			*flags |= HAS_VERSION;
			continue;
		}
		if (strcmp(a, "--emulate") == 0) {
			*flags |= HAS_EMULATE;
			continue;
		}
		if (a[2] != '\0' && (a[1] == 'i' || a[1] == 'v')) {
			*bad = i;
			return -1;
		}
		switch (a[1]) {
		case 'i':
			*flags |= HAS_I | HAS_V;
			break;
		case 'v':
			*flags |= HAS_V;
			break;
		case 'e':
			*flags |= HAS_E;
			/* -e takes an argument, like -l */
			/* fallthrough */
		case 'l':
			if (a[2] == '\0') {
				i++;
				if (argv[i] == NULL || argv[i][0] == '-') {
					*bad = i - 1;
					return -1;
				}
			}
			break;
		default:
			*bad = i;
			return -1;
		}
	}
	return i;
}

static int run_args(lua_State *L, char **argv, int script)
{
	for (int i = 1; i < script; i++) {
		char opt = argv[i][1];
		if (opt != 'e' && opt != 'l')
			continue;
		char *extra = argv[i] + 2;
		if (*extra == '\0')
			extra = argv[++i];
		int status = opt == 'e' ? dostring(L, extra, "=(command line)")
					: dolibrary(L, extra);
		if (status != LUA_OK)
			return 0;
	}
	return 1;
}

/* --emulate, or SSF_EMULATE=1: only when asked. A script whose settings
 * went missing must fail with its config error, never quietly run against
 * a stand-in. */
static int emulate_wanted(int flags)
{
	const char *v = getenv("SSF_EMULATE");
	return (flags & HAS_EMULATE) || (v != NULL && *v != '\0' && strcmp(v, "0") != 0);
}

/* Starts the built-in emulator before anything runs and makes it the
 * configured org: its OKTA_CLIENT_* settings go into this process's
 * environment, so ssf.client() with no arguments, and the programs the
 * script runs, find it. Its threads have finished starting (ssf.emulator
 * waits for both) and sit idle until a request comes, and none can come
 * before its URL is published here, so setting the environment does not
 * race their getenv calls. SSF_EMULATE is cleared so that an
 * ssflua the script runs uses this emulator instead of starting another. */
static int start_emulator(lua_State *L)
{
	lua_getglobal(L, "require");
	lua_pushliteral(L, "ssf.emulator");
	int status = docall(L, 1, 1);
	if (status != LUA_OK)
		return report(L, status);
	lua_getfield(L, -1, "host");
	lua_remove(L, -2);
	status = docall(L, 0, 2); /* -> emulator, {NAME = value} */
	if (status != LUA_OK)
		return report(L, status);
	lua_pushnil(L);
	while (lua_next(L, -2) != 0) {
		setenv(lua_tostring(L, -2), lua_tostring(L, -1), 1);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	unsetenv("SSF_EMULATE");
	lua_getfield(L, -1, "org");
	fprintf(stderr,
		"%s: --emulate: using the built-in Okta SSF emulator at %s "
		"(a stand-in on this machine, not a real Okta org)\n",
		progname, lua_tostring(L, -1));
	fflush(stderr);
	lua_pop(L, 1);
	/* Held by the registry until lua_close, whose __gc stops it. */
	lua_setfield(L, LUA_REGISTRYINDEX, "ssflua.emulator");
	return LUA_OK;
}

struct run {
	int argc;
	char **argv;
	int status; /* exit status chosen by pmain */
};

static int pmain(lua_State *L)
{
	struct run *r = lua_touserdata(L, 1);
	char **argv = r->argv;
	int flags = 0, bad = 0;
	int script = collect_args(argv, &flags, &bad);

	r->status = EXIT_FAILURE;
	if (script < 0) {
		const char *a = argv[bad];
		if (a[1] == 'e' || a[1] == 'l')
			fprintf(stderr, "%s: '%s' needs an argument\n", progname, a);
		else
			fprintf(stderr, "%s: unrecognized option '%s'\n", progname, a);
		print_usage(stderr);
		r->status = 2;
		return 0;
	}

	luaL_checkversion(L);
	luaL_openlibs(L);
	preload(L, "cjson", luaopen_cjson);
	preload(L, "cjson.safe", luaopen_cjson_safe);
	add_exe_paths(L);
	create_arg_table(L, argv, r->argc, script == r->argc ? 0 : script);
	lua_gc(L, LUA_GCGEN, 0, 0);

	if (flags & HAS_VERSION) {
		if (print_versions(L) == LUA_OK)
			r->status = EXIT_SUCCESS;
		return 0;
	}
	if (flags & HAS_V)
		printf("ssflua %s (ssf %s, %s)\n", SSF_VERSION, SSF_VERSION, LUA_RELEASE);
	if (emulate_wanted(flags) && start_emulator(L) != LUA_OK)
		return 0;
	if (!run_args(L, argv, script))
		return 0;
	if (script < r->argc && handle_script(L, argv + script) != LUA_OK)
		return 0;
	if (flags & HAS_I) {
		doREPL(L);
	} else if (script == r->argc && !(flags & (HAS_E | HAS_V))) {
		if (isatty(STDIN_FILENO)) {
			printf("ssflua %s (%s)\n", SSF_VERSION, LUA_RELEASE);
			doREPL(L);
		} else if (dochunk(L, luaL_loadfile(L, NULL)) != LUA_OK) {
			return 0;
		}
	}
	r->status = EXIT_SUCCESS;
	return 0;
}

int main(int argc, char **argv)
{
	/* A receiver that hangs up must surface as an error, not kill us. */
	signal(SIGPIPE, SIG_IGN);

	lua_State *L = luaL_newstate();
	if (L == NULL) {
		report_message("cannot create state: not enough memory");
		return EXIT_FAILURE;
	}
	struct run r = { argc, argv, EXIT_FAILURE };
	lua_pushcfunction(L, pmain);
	lua_pushlightuserdata(L, &r);
	int status = lua_pcall(L, 1, 0, 0);
	report(L, status);
	lua_close(L);
	if ((status != LUA_OK || r.status != EXIT_SUCCESS) && stopped_by) {
		signal(stopped_by, SIG_DFL);
		raise(stopped_by);
	}
	return status == LUA_OK ? r.status : EXIT_FAILURE;
}
