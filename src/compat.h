/*
 * The few differences between the Lua 5.4 C API and the Lua 5.1 API that
 * LuaJIT 2.1 exports, under names of the project's own (ssf_*), so that one
 * source builds the modules for both. Nothing here defines a lua_* or
 * luaL_* name: LuaJIT exports several 5.2/5.3 functions itself, and a
 * second definition would clash with it.
 *
 * What a header cannot fix is handled where it matters: LuaJIT's
 * lua_pushfstring knows no %I (format with LUA_INTEGER_FMT into a buffer),
 * and its luaL_checkinteger truncates 1.5 to 1 (ssf_checkinteger raises,
 * as 5.4 does).
 */
#ifndef SSF_COMPAT_H
#define SSF_COMPAT_H

#include <math.h>
#include <stddef.h>

#include <lauxlib.h>
#include <lua.h>

#if LUA_VERSION_NUM >= 504

#define ssf_newuserdata(L, size) lua_newuserdatauv((L), (size), 0)
#define ssf_rawlen(L, i) lua_rawlen((L), (i))
#define ssf_len(L, i) luaL_len((L), (i))
#define ssf_isinteger(L, i) lua_isinteger((L), (i))
#define ssf_pushfail(L) luaL_pushfail(L)
/* These return the type of the value pushed, as in 5.4. */
#define ssf_getfield(L, i, k) lua_getfield((L), (i), (k))
#define ssf_rawget(L, i) lua_rawget((L), (i))
#define ssf_rawgeti(L, i, n) lua_rawgeti((L), (i), (n))
#define ssf_checkinteger(L, i) luaL_checkinteger((L), (i))
#define ssf_optinteger(L, i, d) luaL_optinteger((L), (i), (d))
/* Pushes the table require's preload searcher reads. */
#define ssf_pushpreload(L) ((void)luaL_getsubtable((L), LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE))

/* A buffer of a size known in advance, filled in place. */
typedef struct ssf_Buffer {
	luaL_Buffer b;
} ssf_Buffer;

static inline char *ssf_buffinitsize(lua_State *L, ssf_Buffer *B, size_t size)
{
	return luaL_buffinitsize(L, &B->b, size);
}

static inline void ssf_pushresultsize(ssf_Buffer *B, size_t size)
{
	luaL_pushresultsize(&B->b, size);
}

#else /* Lua 5.1 ABI: LuaJIT 2.1 */

#define ssf_newuserdata(L, size) lua_newuserdata((L), (size))
#define ssf_rawlen(L, i) lua_objlen((L), (i))
#define ssf_len(L, i) ((lua_Integer)lua_objlen((L), (i)))
#define ssf_pushfail(L) lua_pushnil(L)

static inline int ssf_getfield(lua_State *L, int i, const char *k)
{
	lua_getfield(L, i, k);
	return lua_type(L, -1);
}

static inline int ssf_rawget(lua_State *L, int i)
{
	lua_rawget(L, i);
	return lua_type(L, -1);
}

static inline int ssf_rawgeti(lua_State *L, int i, int n)
{
	lua_rawgeti(L, i, n);
	return lua_type(L, -1);
}

/* A number with an exact integer value that lua_Integer holds. */
static inline int ssf_isinteger(lua_State *L, int i)
{
	if (lua_type(L, i) != LUA_TNUMBER)
		return 0;
	lua_Number n = lua_tonumber(L, i);
	/* 2^63 bounds lua_Integer (ptrdiff_t, 64 bits where LuaJIT runs). */
	return n == floor(n) && n >= -9223372036854775808.0 && n < 9223372036854775808.0;
}

static inline lua_Integer ssf_checkinteger(lua_State *L, int i)
{
	lua_Number n = luaL_checknumber(L, i);
	if (!ssf_isinteger(L, i))
		luaL_argerror(L, i, "number has no integer representation");
	return (lua_Integer)n;
}

/* Pushes the table require's preload searcher reads: package.preload
 * (5.1 keeps no registry entry for it that every build shares). */
static inline void ssf_pushpreload(lua_State *L)
{
	lua_getglobal(L, "package");
	if (lua_type(L, -1) != LUA_TTABLE)
		luaL_error(L, "the package library is not loaded");
	lua_getfield(L, -1, "preload");
	lua_remove(L, -2);
	if (lua_type(L, -1) != LUA_TTABLE)
		luaL_error(L, "package.preload is not a table");
}

static inline lua_Integer ssf_optinteger(lua_State *L, int i, lua_Integer d)
{
	return lua_isnoneornil(L, i) ? d : ssf_checkinteger(L, i);
}

/* The bytes live in a userdata on the stack until the string is made. */
typedef struct ssf_Buffer {
	lua_State *L;
	char *p;
} ssf_Buffer;

static inline char *ssf_buffinitsize(lua_State *L, ssf_Buffer *B, size_t size)
{
	B->L = L;
	B->p = lua_newuserdata(L, size ? size : 1);
	return B->p;
}

static inline void ssf_pushresultsize(ssf_Buffer *B, size_t size)
{
	lua_pushlstring(B->L, B->p, size);
	lua_remove(B->L, -2);
}

#endif

#endif
