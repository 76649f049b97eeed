/*
 * libFuzzer harness for parsers written in Lua (with ssf.http and ssf.jose
 * linked in and preloaded): it loads the script named
 * by SSF_FUZZ_SCRIPT (compiled in), which returns a function taking the
 * input. That function asserts the parser's invariants; any Lua error is a
 * finding and aborts, so libFuzzer keeps the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

extern int luaopen_cjson_safe(lua_State *L);
extern int luaopen_ssf_http(lua_State *L);
extern int luaopen_ssf_jose(lua_State *L);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	L = luaL_newstate();
	luaL_openlibs(L);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, luaopen_cjson_safe);
	lua_setfield(L, -2, "cjson.safe");
	lua_pushcfunction(L, luaopen_ssf_http);
	lua_setfield(L, -2, "ssf.http");
	lua_pushcfunction(L, luaopen_ssf_jose);
	lua_setfield(L, -2, "ssf.jose");
	lua_pop(L, 1);
	lua_getglobal(L, "package");
	lua_pushstring(L, SSF_LUA_DIR "/?.lua;" SSF_LUA_DIR "/?/init.lua");
	lua_setfield(L, -2, "path");
	lua_pop(L, 1);
	if (luaL_dofile(L, SSF_FUZZ_SCRIPT) != LUA_OK) {
		fprintf(stderr, "%s\n", lua_tostring(L, -1));
		abort();
	}
	lua_setfield(L, LUA_REGISTRYINDEX, "ssf.fuzz");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lua_getfield(L, LUA_REGISTRYINDEX, "ssf.fuzz");
	lua_pushlstring(L, (const char *)data, size);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
		fprintf(stderr, "%s\n", lua_tostring(L, -1));
		abort();
	}
	return 0;
}
