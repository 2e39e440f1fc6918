/*
 * natscope-net: the lab's network programs, in C so they are fast enough
 * to measure the kernel (NAT, conntrack, tracing overhead) rather than
 * themselves, also under software emulation in the micro-VM.
 *
 *   natscope-net serve --port P --name POD --node NODE --proto http|mysql [--workers N]
 *       A pod: answers every connection with its name, its node and the
 *       peer address it saw ("peer=ip:port"), so SNAT is visible from the
 *       pod's side. http answers a request; mysql speaks first, like
 *       MySQL's greeting.
 *   natscope-net request --proto http|mysql --timeout-ms T [--sport P] IP PORT
 *       One connection; prints one JSON line: outcome, latency, the local
 *       address used, and the pod's answer.
 *   natscope-net load --proto http|mysql --seconds S --workers W
 *                     [--src IP]... IP PORT
 *       Connections as fast as possible for S seconds, each from a distinct
 *       source address:port (no 4-tuple reuse, which would hit conntrack's
 *       TIME_WAIT reopen path); prints one JSON line with the count.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what) {
	fprintf(stderr, "natscope-net: %s: %s\n", what, strerror(errno));
	exit(2);
}

static const char *arg_value(int argc, char **argv, const char *name, const char *fallback) {
	for (int i = 0; i < argc - 1; i++)
		if (strcmp(argv[i], name) == 0) return argv[i + 1];
	return fallback;
}

/* ---- serve ---- */

static void handle(int fd, const char *name, const char *node, int http) {
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	char ip[INET_ADDRSTRLEN] = "?";
	char out[512];
	if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0) inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
	int port = ntohs(peer.sin_port);
	int n;
	if (http) {
		/* read the request head (one read is enough for the lab's clients) */
		char buf[1024];
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 2000) > 0) (void)!read(fd, buf, sizeof(buf));
		char body[256];
		int blen = snprintf(body, sizeof(body), "%s pod=%s node=%s peer=%s:%d\n", name, name, node, ip, port);
		n = snprintf(out, sizeof(out),
			     "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			     blen, body);
	} else {
		n = snprintf(out, sizeof(out), "%s pod=%s node=%s peer=%s:%d\n", name, name, node, ip, port);
	}
	(void)!write(fd, out, n);
	close(fd);
}

static int serve(int argc, char **argv) {
	int port = atoi(arg_value(argc, argv, "--port", "0"));
	const char *name = arg_value(argc, argv, "--name", "pod");
	const char *node = arg_value(argc, argv, "--node", "?");
	int http = strcmp(arg_value(argc, argv, "--proto", "http"), "http") == 0;
	int workers = atoi(arg_value(argc, argv, "--workers", "2"));
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "natscope-net serve: --port must be 1-65535\n");
		return 2;
	}
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
	if (bind(ls, (struct sockaddr *)&addr, sizeof(addr)) < 0) die("bind");
	if (listen(ls, 4096) < 0) die("listen");
	signal(SIGPIPE, SIG_IGN);
	printf("ready\n");
	fflush(stdout);
	/* all workers accept on the one socket, and die with the first one */
	for (int w = 1; w < workers; w++) {
		if (fork() == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			break;
		}
	}
	for (;;) {
		int fd = accept(ls, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) continue;
			die("accept");
		}
		handle(fd, name, node, http);
	}
}

/* ---- request ---- */

struct attempt {
	const char *outcome;
	double ms;
	char local[64];
	char reply[512];
};

static int wait_fd(int fd, short events, int timeout_ms) {
	struct pollfd p = {.fd = fd, .events = events};
	int r;
	do r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r;
}

static void one_connection(const struct sockaddr_in *dst, const struct sockaddr_in *src, int http, int timeout_ms,
			   struct attempt *a) {
	double start = now_ms();
	a->outcome = "error";
	a->local[0] = a->reply[0] = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0) return;
	if (src) {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)src, sizeof(*src)) < 0) goto out;
	}
	int r = connect(fd, (const struct sockaddr *)dst, sizeof(*dst));
	/* the local address is known once connect() has started, answered or not */
	struct sockaddr_in local;
	socklen_t len = sizeof(local);
	if (getsockname(fd, (struct sockaddr *)&local, &len) == 0) {
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &local.sin_addr, ip, sizeof(ip));
		snprintf(a->local, sizeof(a->local), "%s:%d", ip, ntohs(local.sin_port));
	}
	if (r < 0 && errno != EINPROGRESS) {
		a->outcome = errno == ECONNREFUSED ? "refused" : "error";
		goto out;
	}
	if (r < 0) {
		double left = timeout_ms - (now_ms() - start);
		if (wait_fd(fd, POLLOUT, left > 0 ? (int)left : 0) <= 0) {
			a->outcome = "timeout";
			goto out;
		}
		int err = 0;
		socklen_t elen = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
		if (err) {
			a->outcome = err == ECONNREFUSED ? "refused" : err == ETIMEDOUT ? "timeout" : "error";
			goto out;
		}
	}
	if (http) {
		static const char req[] = "GET / HTTP/1.0\r\nHost: natscope\r\n\r\n";
		(void)!write(fd, req, sizeof(req) - 1);
	}
	size_t got = 0;
	for (;;) {
		double left = timeout_ms - (now_ms() - start);
		if (left <= 0 || wait_fd(fd, POLLIN, (int)left) <= 0) {
			a->outcome = got ? "answered" : "timeout";
			break;
		}
		ssize_t n = read(fd, a->reply + got, sizeof(a->reply) - 1 - got);
		if (n <= 0) {
			a->outcome = got ? "answered" : (n == 0 ? "error" : "refused");
			break;
		}
		got += n;
		if (got >= sizeof(a->reply) - 1) {
			a->outcome = "answered";
			break;
		}
	}
	a->reply[got] = 0;
out:
	a->ms = now_ms() - start;
	close(fd);
}

static void json_string(const char *s) {
	putchar('"');
	for (; *s; s++) {
		unsigned char c = *s;
		if (c == '"' || c == '\\') printf("\\%c", c);
		else if (c == '\n') printf("\\n");
		else if (c == '\r') printf("\\r");
		else if (c < 0x20) printf("\\u%04x", c);
		else putchar(c);
	}
	putchar('"');
}

static int parse_target(int argc, char **argv, struct sockaddr_in *dst) {
	if (argc < 2) return -1;
	memset(dst, 0, sizeof(*dst));
	dst->sin_family = AF_INET;
	int port = atoi(argv[argc - 1]);
	if (port <= 0 || port > 65535 || inet_pton(AF_INET, argv[argc - 2], &dst->sin_addr) != 1) return -1;
	dst->sin_port = htons(port);
	return 0;
}

static int request(int argc, char **argv) {
	struct sockaddr_in dst;
	if (parse_target(argc, argv, &dst) < 0) {
		fprintf(stderr, "natscope-net request: usage: request --proto http|mysql --timeout-ms T IP PORT\n");
		return 2;
	}
	int http = strcmp(arg_value(argc, argv, "--proto", "http"), "http") == 0;
	int timeout_ms = atoi(arg_value(argc, argv, "--timeout-ms", "3000"));
	/* a chosen source port: the one flow natscope's rule tracing follows */
	int sport = atoi(arg_value(argc, argv, "--sport", "0"));
	if (sport < 0 || sport > 65535) {
		fprintf(stderr, "natscope-net request: --sport must be 1-65535\n");
		return 2;
	}
	struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY), .sin_port = htons(sport)};
	struct attempt a;
	signal(SIGPIPE, SIG_IGN);
	one_connection(&dst, sport ? &src : NULL, http, timeout_ms, &a);
	/* an HTTP answer's body is the pod's line */
	char *body = strstr(a.reply, "\r\n\r\n");
	printf("{\"outcome\":\"%s\",\"latencyMs\":%.1f,\"local\":", a.outcome, a.ms);
	json_string(a.local);
	printf(",\"reply\":");
	json_string(body ? body + 4 : a.reply);
	printf("}\n");
	return 0;
}

/* ---- load ---- */

static int load(int argc, char **argv) {
	struct sockaddr_in dst;
	if (parse_target(argc, argv, &dst) < 0) {
		fprintf(stderr, "natscope-net load: usage: load --proto http|mysql --seconds S --workers W [--src IP]... IP PORT\n");
		return 2;
	}
	int http = strcmp(arg_value(argc, argv, "--proto", "http"), "http") == 0;
	double seconds = atof(arg_value(argc, argv, "--seconds", "10"));
	int workers = atoi(arg_value(argc, argv, "--workers", "4"));
	struct in_addr srcs[64];
	int nsrc = 0;
	for (int i = 0; i < argc - 1 && nsrc < 64; i++)
		if (strcmp(argv[i], "--src") == 0 && inet_pton(AF_INET, argv[i + 1], &srcs[nsrc]) == 1) nsrc++;
	if (workers < 1 || workers > 64 || seconds <= 0) {
		fprintf(stderr, "natscope-net load: --workers 1-64 and --seconds > 0\n");
		return 2;
	}
	/* per-worker counters in shared memory */
	long *counts = mmap(NULL, sizeof(long) * 2 * workers, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counts == MAP_FAILED) die("mmap");
	memset(counts, 0, sizeof(long) * 2 * workers);
	signal(SIGPIPE, SIG_IGN);
	double start = now_ms();
	for (int w = 0; w < workers; w++) {
		if (fork() != 0) continue;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* worker w owns source ports 10000 + w, + workers, ... on every source address */
		int port = 10000 + w;
		int s = 0;
		struct attempt a;
		while (now_ms() - start < seconds * 1000) {
			struct sockaddr_in src = {.sin_family = AF_INET};
			struct sockaddr_in *srcp = NULL;
			if (nsrc > 0) {
				src.sin_addr = srcs[s];
				src.sin_port = htons(port);
				srcp = &src;
				if (++s == nsrc) {
					s = 0;
					port += workers;
					if (port > 65000) port = 10000 + w;
				}
			}
			one_connection(&dst, srcp, http, 2000, &a);
			if (strcmp(a.outcome, "answered") == 0) counts[2 * w]++;
			else counts[2 * w + 1]++;
		}
		_exit(0);
	}
	while (wait(NULL) > 0)
		;
	double elapsed = (now_ms() - start) / 1000;
	long ok = 0, failed = 0;
	for (int w = 0; w < workers; w++) {
		ok += counts[2 * w];
		failed += counts[2 * w + 1];
	}
	printf("{\"connections\":%ld,\"failed\":%ld,\"seconds\":%.2f,\"rate\":%.1f}\n", ok, failed, elapsed, ok / elapsed);
	return 0;
}

int main(int argc, char **argv) {
	if (argc >= 2 && strcmp(argv[1], "serve") == 0) return serve(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "request") == 0) return request(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "load") == 0) return load(argc, argv);
	fprintf(stderr, "usage: natscope-net serve|request|load ... (see the comment at the top of natscope-net.c)\n");
	return 2;
}
