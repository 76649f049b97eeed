/*
 * The raw libcurl baseline for tests/bench: what the same work costs in C
 * with nothing but libcurl, bodies discarded (or scanned for one id).
 *   curl_loop URL TOKEN N                 N GETs of URL on one reused easy
 *                                         handle (one keep-alive connection)
 *   curl_loop --lifecycle ORG TOKEN       the 9 calls of a stream's lifecycle
 *   curl_loop --multi URL TOKEN N P       N GETs of URL, P at once on one
 *                                         curl_multi (at most P connections)
 * Prints the wall time in seconds.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

typedef struct body {
	char data[4096]; /* enough for one stream object; the rest is dropped */
	size_t len;
} body;

static size_t keep(char *p, size_t size, size_t n, void *ud)
{
	body *b = ud;
	size_t room = sizeof b->data - 1 - b->len, take = size * n < room ? size * n : room;
	memcpy(b->data + b->len, p, take);
	b->len += take;
	b->data[b->len] = '\0';
	return size * n;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p, (void)ud;
	return size * n;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct curl_slist *headers(const char *token, int json)
{
	char auth[512];
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
	struct curl_slist *h = curl_slist_append(NULL, auth);
	h = curl_slist_append(h, "Accept: application/json");
	if (json)
		h = curl_slist_append(h, "Content-Type: application/json");
	return h;
}

static int gets(const char *url, const char *token, long n)
{
	CURL *e = curl_easy_init();
	struct curl_slist *h = headers(token, 0);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	for (long i = 0; i < n; i++) {
		long status = 0;
		if (curl_easy_perform(e) != CURLE_OK ||
		    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200) {
			fprintf(stderr, "request %ld failed (HTTP %ld)\n", i, status);
			return 1;
		}
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return 0;
}

/* One call of the lifecycle on the reused handle e; fails unless 2xx. */
static int call(CURL *e, body *b, const char *method, const char *url, const char *json,
		struct curl_slist *h_get, struct curl_slist *h_json)
{
	b->len = 0;
	b->data[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") ? method : NULL);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, json ? h_json : h_get);
	if (json)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, json);
	long status = 0;
	if (curl_easy_perform(e) != CURLE_OK ||
	    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status < 200 ||
	    status > 299) {
		fprintf(stderr, "%s %s failed (HTTP %ld): %s\n", method, url, status, b->data);
		return 1;
	}
	return 0;
}

static int lifecycle(const char *org, const char *token)
{
	CURL *e = curl_easy_init();
	struct curl_slist *hg = headers(token, 0), *hj = headers(token, 1);
	body b;
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	char url[1024], json[1024], id[128];
	const char *cfg = "\"delivery\":{\"method\":\"urn:ietf:rfc:8935\",\"endpoint_url\":"
			  "\"https://receiver.example.com/ssf\"},\"events_requested\":"
			  "[\"https://schemas.openid.net/secevent/caep/event-type/session-revoked\"]";
	int rc = 0;
	snprintf(url, sizeof url, "%s/.well-known/ssf-configuration", org);
	rc |= call(e, &b, "GET", url, NULL, hg, hj);
	snprintf(url, sizeof url, "%s/api/v1/ssf/stream", org);
	rc |= call(e, &b, "GET", url, NULL, hg, hj);
	snprintf(json, sizeof json, "{%s}", cfg);
	rc |= call(e, &b, "POST", url, json, hg, hj);
	const char *p = strstr(b.data, "\"stream_id\":\"");
	if (rc || p == NULL || sscanf(p + 13, "%127[^\"]", id) != 1) {
		fprintf(stderr, "no stream_id in %s\n", b.data);
		return 1;
	}
	snprintf(url, sizeof url, "%s/api/v1/ssf/stream?stream_id=%s", org, id);
	rc |= call(e, &b, "GET", url, NULL, hg, hj);
	snprintf(url, sizeof url, "%s/api/v1/ssf/stream/status?stream_id=%s", org, id);
	rc |= call(e, &b, "GET", url, NULL, hg, hj);
	snprintf(url, sizeof url, "%s/api/v1/ssf/stream", org);
	snprintf(json, sizeof json, "{\"stream_id\":\"%s\",%s}", id, cfg);
	rc |= call(e, &b, "PATCH", url, json, hg, hj);
	rc |= call(e, &b, "PUT", url, json, hg, hj);
	snprintf(url, sizeof url, "%s/api/v1/ssf/stream/verification", org);
	snprintf(json, sizeof json, "{\"stream_id\":\"%s\"}", id);
	rc |= call(e, &b, "POST", url, json, hg, hj);
	snprintf(url, sizeof url, "%s/api/v1/ssf/stream?stream_id=%s", org, id);
	rc |= call(e, &b, "DELETE", url, NULL, hg, hj);
	curl_slist_free_all(hg);
	curl_slist_free_all(hj);
	curl_easy_cleanup(e);
	return rc;
}

static int fanout(const char *url, const char *token, long n, long parallel)
{
	CURLM *m = curl_multi_init();
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, parallel);
	struct curl_slist *h = headers(token, 0);
	long started = 0, done = 0;
	int running = 0, rc = 0;
	while (done < n) {
		while (started < n && started - done < parallel) {
			CURL *e = curl_easy_init();
			curl_easy_setopt(e, CURLOPT_URL, url);
			curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
			curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
			curl_multi_add_handle(m, e);
			started++;
		}
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int left;
		long before = done;
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			long status = 0;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			if (msg->data.result != CURLE_OK || status != 200) {
				fprintf(stderr, "a request failed (HTTP %ld)\n", status);
				rc = 1;
			}
			CURL *e = msg->easy_handle;
			curl_multi_remove_handle(m, e);
			curl_easy_cleanup(e);
			done++;
		}
		/* Waiting now, with finished slots not yet refilled, would
		 * leave them idle until the poll's timeout. */
		if (done == before && done < n)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	curl_slist_free_all(h);
	curl_multi_cleanup(m);
	return rc;
}

int main(int argc, char **argv)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	double t0 = now();
	int rc;
	if (argc == 4 && strcmp(argv[1], "--lifecycle") == 0)
		rc = lifecycle(argv[2], argv[3]);
	else if (argc == 6 && strcmp(argv[1], "--multi") == 0)
		rc = fanout(argv[2], argv[3], atol(argv[4]), atol(argv[5]));
	else if (argc == 4 && argv[1][0] != '-')
		rc = gets(argv[1], argv[2], atol(argv[3]));
	else {
		fprintf(stderr, "usage: curl_loop URL TOKEN N | --lifecycle ORG TOKEN | "
				"--multi URL TOKEN N PARALLEL\n");
		return 2;
	}
	printf("%.6f\n", now() - t0);
	curl_global_cleanup();
	return rc;
}
