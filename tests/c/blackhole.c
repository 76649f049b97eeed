/*
 * A loopback port whose connects never complete, for connect-timeout tests:
 * it listens with the smallest backlog and fills that backlog itself without
 * ever accepting, so the kernel drops further SYNs. Prints
 * "listening http://127.0.0.1:PORT" and exits after the given seconds
 * (default 60), so a forgotten one cannot linger.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	unsigned seconds = argc > 1 ? (unsigned)atoi(argv[1]) : 60;
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 0) != 0 ||
	    getsockname(s, (struct sockaddr *)&a, &len) != 0) {
		perror("blackhole");
		return 1;
	}
	for (int i = 0; i < 8; i++) { /* more than a backlog of 0 can hold */
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0 || fcntl(c, F_SETFL, O_NONBLOCK) != 0) {
			perror("blackhole");
			return 1;
		}
		connect(c, (struct sockaddr *)&a, sizeof a); /* EINPROGRESS: never completes */
	}
	printf("listening http://127.0.0.1:%d\n", ntohs(a.sin_port));
	fflush(stdout);
	sleep(seconds);
	return 0;
}
