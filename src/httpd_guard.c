/*
 * Connection limits and the header deadline of the server under ssf.httpd:
 * a record per open connection (libmicrohttpd's "started" to "closed"
 * notifications), an accept policy that applies max_connections and
 * per_ip_limit, and the reaper's cut of connections whose headers are not
 * in by header_timeout.
 */
#define _POSIX_C_SOURCE 200809L

#include "httpd_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

conn_rec *rx_conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* Cuts the connections whose headers are overdue, with the lock held.
 * shutdown, not close: libmicrohttpd sees the stream end and closes the
 * connection itself. The descriptor is still open, as a record leaves the
 * list (on libmicrohttpd's "closed") before the descriptor is closed.
 * Returns the earliest header deadline left (0 if none). */
double rx_cut_late(rx_server *s, double now)
{
	double next = 0;
	for (conn_rec *c = s->conns; c != NULL; c = c->next) {
		if (c->header_deadline == 0)
			continue;
		if (c->header_deadline <= now) {
			shutdown(c->fd, SHUT_RDWR);
			c->header_deadline = 0;
			s->dropped++;
		} else if (next == 0 || c->header_deadline < next) {
			next = c->header_deadline;
		}
	}
	return next;
}

void rx_format_address(const struct sockaddr *sa, char *out)
{
	char host[INET6_ADDRSTRLEN], port[8];
	out[0] = '\0';
	if (sa == NULL)
		return;
	socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						  : sizeof(struct sockaddr_in);
	if (getnameinfo(sa, len, host, sizeof host, port, sizeof port,
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return;
	snprintf(out, RX_REMOTE_LEN, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

static int same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
			      &((const struct sockaddr_in *)b)->sin_addr, sizeof(struct in_addr)) == 0;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

static void copy_address(struct sockaddr_storage *to, const struct sockaddr *from, socklen_t len)
{
	memset(to, 0, sizeof *to);
	if (len > sizeof *to)
		len = sizeof *to;
	memcpy(to, from, len);
}

/* Before libmicrohttpd takes a new connection: the connection limits,
 * applied here (not by libmicrohttpd) so that refusals are counted. This
 * and rx_on_connection run on libmicrohttpd's one thread, so no connection
 * starts between a check and its record. */
enum MHD_Result rx_on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	rx_server *s = cls;
	struct sockaddr_storage from;
	copy_address(&from, addr, len);
	pthread_mutex_lock(&s->lock);
	size_t same = 0;
	for (conn_rec *c = s->conns; c != NULL; c = c->next)
		same += (size_t)same_host(&c->addr, &from);
	int ok = s->n_conns < s->max_connections && same < s->per_ip_limit;
	if (!ok)
		s->refused++;
	pthread_mutex_unlock(&s->lock);
	return ok ? MHD_YES : MHD_NO;
}

void rx_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	rx_server *s = cls;
	conn_rec *c = *socket_context;
	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (c == NULL)
			return;
		pthread_mutex_lock(&s->lock);
		if (c->prev)
			c->prev->next = c->next;
		else
			s->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		s->n_conns--;
		pthread_mutex_unlock(&s->lock);
		free(c);
		*socket_context = NULL;
		return;
	}
	const union MHD_ConnectionInfo *fd =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	const union MHD_ConnectionInfo *ca =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	/* Without a record the connection is served but not limited: there
	 * is no way to refuse it from here. */
	if (fd == NULL || ca == NULL || (c = calloc(1, sizeof *c)) == NULL)
		return;
	c->fd = fd->connect_fd;
	rx_format_address(ca->client_addr, c->remote);
	copy_address(&c->addr, ca->client_addr,
		     ca->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							    : sizeof(struct sockaddr_in));
	pthread_mutex_lock(&s->lock);
	c->header_deadline = rx_clock() + s->header_timeout;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	rx_new_deadline(s, c->header_deadline);
	pthread_mutex_unlock(&s->lock);
	*socket_context = c;
}
