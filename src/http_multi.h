/* ssf.http's non-blocking side: many transfers on one curl multi handle
 * (see http_multi.c). */
#ifndef SSF_HTTP_MULTI_H
#define SSF_HTTP_MULTI_H

#include <lua.h>

/* http.multi{max_host_connections=} */
int ssf_http_multi_new(lua_State *L);
/* Creates the metatable; called once by luaopen_ssf_http. */
void ssf_http_multi_register(lua_State *L);

#endif
