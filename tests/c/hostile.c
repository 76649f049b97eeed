/*
 * A hostile HTTP peer for the receiver specs and benchmarks, on raw sockets.
 *
 *   hostile partial PORT RATE SECONDS AUTH
 *       RATE times a second for SECONDS: connect (from 127.0.0.2), send the
 *       start of a request, close.
 *   hostile slow PORT N SECONDS AUTH
 *       open N connections (from 127.0.0.2) and keep each one sending a
 *       header line every 2 s, never ending the headers, for SECONDS; then
 *       close them all.
 *   hostile raw PORT WAIT [CHUNK]
 *       send stdin as is (from 127.0.0.1), print what comes back, and exit 0
 *       when the server closed the connection within WAIT seconds, 3 when
 *       it held it open. With CHUNK, stdin goes in pieces of CHUNK bytes
 *       20 ms apart, as a slow but honest client sends.
 *
 * During partial and slow, a second thread pushes a legitimate request
 * (POST /ssf/events, Authorization AUTH, body "legit-N") from 127.0.0.1
 * every 0.25 s, each given 5 s for its answer; once the attacker has left,
 * it pushes every 0.05 s until one is answered 202 (for at most 30 s).
 * The last line printed is
 *   legit=N accepted=N recovery=SECONDS attack_open=N attack_dropped=N
 * where recovery is from the attacker leaving to the first 202 (-1: none),
 * attack_open the attacker's connections open at its end, attack_dropped
 * those the server had closed or refused. Every wait is bounded.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SLOW 4096

static int port;
static const char *auth;
static atomic_int attack_over;
static double left_at;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_for(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	nanosleep(&ts, NULL);
}

/* A socket from `from` to 127.0.0.1:port; blocking unless nonblock. */
static int dial(const char *from, int nonblock)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	inet_pton(AF_INET, from, &a.sin_addr);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	if (nonblock)
		fcntl(fd, F_SETFL, O_NONBLOCK);
	a.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Reads until the server closes or `until`; returns the bytes read. */
static size_t read_until(int fd, char *buf, size_t cap, double until, int *closed)
{
	size_t got = 0;
	*closed = 0;
	for (;;) {
		double left = until - now();
		if (left <= 0)
			return got;
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		char tmp[4096];
		ssize_t r = recv(fd, tmp, sizeof tmp, 0);
		if (r <= 0) {
			*closed = 1;
			return got;
		}
		size_t keep = (size_t)r < cap - got ? (size_t)r : cap - got;
		memcpy(buf + got, tmp, keep);
		got += keep;
	}
}

/* One legitimate push on a new connection: the status, 0 for none in 5 s. */
static int push(int n)
{
	int fd = dial("127.0.0.1", 0);
	if (fd < 0)
		return 0;
	char body[32], req[512];
	int blen = snprintf(body, sizeof body, "legit-%d", n);
	int len = snprintf(req, sizeof req,
			   "POST /ssf/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			   "Authorization: %s\r\nContent-Type: application/secevent+jwt\r\n"
			   "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
			   port, auth, blen, body);
	send_all(fd, req, (size_t)len);
	char buf[1024];
	int closed;
	double until = now() + 5;
	size_t got = 0;
	int status = 0;
	/* The status line is enough. */
	while (got < 12 && now() < until) {
		size_t r = read_until(fd, buf + got, sizeof buf - 1 - got,
				      got ? until : now() + 0.1, &closed);
		got += r;
		if (closed)
			break;
	}
	buf[got] = '\0';
	if (strncmp(buf, "HTTP/1.1 ", 9) == 0)
		status = atoi(buf + 9);
	close(fd);
	return status;
}

static int legit, accepted;
static double recovery = -1;

static void *pusher(void *arg)
{
	(void)arg;
	int n = 0;
	while (!attack_over) {
		legit++;
		if (push(++n) == 202)
			accepted++;
		sleep_for(0.25);
	}
	double give_up = left_at + 30;
	while (now() < give_up) {
		if (push(++n) == 202) {
			recovery = now() - left_at;
			break;
		}
		sleep_for(0.05);
	}
	return NULL;
}

static const char PARTIAL[] = "POST /ssf/events HTTP/1.1\r\nHost: 127.0.0.1\r\n";

static void partial(double rate, double seconds, int *open, int *dropped)
{
	double start = now(), step = 1 / rate;
	for (int i = 0; now() < start + seconds; i++) {
		int fd = dial("127.0.0.2", 0);
		if (fd >= 0) {
			send_all(fd, PARTIAL, sizeof PARTIAL - 1);
			close(fd);
		} else {
			(*dropped)++;
		}
		double next = start + (i + 1) * step;
		if (next > now())
			sleep_for(next - now());
	}
	*open = 0;
}

static void slow(int n, double seconds, int *open, int *dropped)
{
	static int fds[MAX_SLOW];
	static double opened[MAX_SLOW];
	if (n > MAX_SLOW)
		n = MAX_SLOW;
	for (int i = 0; i < n; i++) {
		fds[i] = dial("127.0.0.2", 1);
		opened[i] = now();
	}
	double start = now(), next_line = start;
	while (now() < start + seconds) {
		int lines = now() >= next_line;
		if (lines)
			next_line += 2;
		for (int i = 0; i < n; i++) {
			if (fds[i] < 0)
				continue;
			struct pollfd p = { fds[i], POLLIN | POLLOUT, 0 };
			poll(&p, 1, 0);
			char tmp[512];
			if ((p.revents & (POLLERR | POLLHUP)) ||
			    ((p.revents & POLLIN) && recv(fds[i], tmp, sizeof tmp, 0) <= 0)) {
				close(fds[i]);
				fds[i] = -1;
				continue;
			}
			if (lines && (p.revents & POLLOUT)) {
				/* The request line first, then one header at a time. */
				const char *line = now() - opened[i] < 1.5 ? PARTIAL : "X-Slow: 1\r\n";
				send_all(fds[i], line, strlen(line));
			}
		}
		sleep_for(0.1);
	}
	*open = *dropped = 0;
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0) {
			(*open)++;
			close(fds[i]);
		} else {
			(*dropped)++;
		}
	}
}

static int raw(double wait, size_t chunk)
{
	static char req[1 << 20], buf[1 << 16];
	size_t n = fread(req, 1, sizeof req, stdin);
	int fd = dial("127.0.0.1", 0);
	if (fd < 0) {
		perror("hostile: connect");
		return 1;
	}
	for (size_t at = 0; at < n; at += chunk) {
		send_all(fd, req + at, n - at < chunk ? n - at : chunk);
		if (at + chunk < n)
			sleep_for(0.02);
	}
	int closed;
	size_t got = read_until(fd, buf, sizeof buf, now() + wait, &closed);
	fwrite(buf, 1, got, stdout);
	close(fd);
	return closed ? 0 : 3;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "raw") == 0) {
		port = atoi(argv[2]);
		return raw(atof(argv[3]), argc == 5 ? (size_t)atoi(argv[4]) : sizeof(size_t) << 40);
	}
	if (argc != 6) {
		fprintf(stderr, "usage: hostile partial|slow PORT RATE|N SECONDS AUTH\n"
				"       hostile raw PORT WAIT [CHUNK] <request\n");
		return 2;
	}
	port = atoi(argv[2]);
	auth = argv[5];
	double seconds = atof(argv[4]);
	pthread_t t;
	int open = 0, dropped = 0;
	if (pthread_create(&t, NULL, pusher, NULL) != 0)
		return 1;
	if (strcmp(argv[1], "partial") == 0)
		partial(atof(argv[3]), seconds, &open, &dropped);
	else
		slow(atoi(argv[3]), seconds, &open, &dropped);
	left_at = now();
	attack_over = 1;
	pthread_join(t, NULL);
	printf("legit=%d accepted=%d recovery=%.3f attack_open=%d attack_dropped=%d\n", legit,
	       accepted, recovery, open, dropped);
	return 0;
}
