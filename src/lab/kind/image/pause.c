/*
 * pause: the office and vpn containers' only process. It keeps their network
 * namespace alive and exits on SIGTERM/SIGINT (as PID 1 it would otherwise
 * ignore them), like Kubernetes' own pause container. Everything those
 * containers do (routes, the VPN's rules, the office's requests) is run in
 * their namespace from the host with nsenter, so they need nothing else.
 */
#include <signal.h>
#include <unistd.h>

static void stop(int sig) {
	(void)sig;
	_exit(0);
}

int main(void) {
	signal(SIGTERM, stop);
	signal(SIGINT, stop);
	for (;;) pause();
}
