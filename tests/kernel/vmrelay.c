/*
 * vmrelay PORT: the host end of one guest->host forward of the kernel tier.
 *
 * run.sh gives qemu "-netdev user,restrict=on,guestfwd=tcp:10.0.2.100:G-cmd:vmrelay PORT".
 * For every TCP connection the guest opens to 10.0.2.100:G, libslirp starts
 * one vmrelay whose stdin and stdout are slirp's end of that connection. We
 * connect to 127.0.0.1:PORT (host loopback, the only address this program can
 * reach: it takes a port, never an address) and copy bytes both ways until
 * both directions are closed.
 *
 * Why a program of our own rather than "nc": neither slirp's socket nor nc's
 * has TCP_NODELAY, and iSCSI and NBD write a header and then a payload; on
 * loopback that stalls 40 ms per request on Nagle plus delayed ACK. Both of
 * our sockets get TCP_NODELAY, and TCP_QUICKACK (which the kernel clears
 * again by itself) is re-armed after every read.
 *
 * Nothing is printed on stdout or stderr: both belong to the guest's stream.
 * Self-contained (no config.h), so run.sh can also build it with a bare cc.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define VMRELAY_BUF_SIZE (256 * 1024)
/* After the guest closed its side, wait at most this long for the server. */
#define VMRELAY_DRAIN_MS 60000

static char vmrelay_buf[VMRELAY_BUF_SIZE];

static void
vmrelay_tune(int fd)
{
	int one = 1;

	/* Fails harmlessly when fd is not TCP (slirp may hand us a unix socket). */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

static int
vmrelay_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Move one read's worth of bytes from 'from' to 'to'. Returns 1 when data
 * moved, 0 at end of stream (the write side of 'to' is then shut down),
 * -errno on failure.
 */
static int
vmrelay_pump(int from, int to)
{
	ssize_t n;
	int r;

	do
		n = read(from, vmrelay_buf, sizeof(vmrelay_buf));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0) {
		(void)shutdown(to, SHUT_WR);
		return 0;
	}
	r = vmrelay_write_all(to, vmrelay_buf, (size_t)n);
	if (r < 0)
		return r;
	vmrelay_tune(from);
	return 1;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	int guest_open = 1, server_open = 1;
	char *end;
	long port;
	int s;

	if (argc != 2)
		return 2;
	errno = 0;
	port = strtol(argv[1], &end, 10);
	if (errno || *end || port <= 0 || port > 65535)
		return 2;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		return 1;
	vmrelay_tune(s);
	vmrelay_tune(STDIN_FILENO);
	vmrelay_tune(STDOUT_FILENO);

	while (guest_open || server_open) {
		struct pollfd p[2] = {
			{ .fd = guest_open ? STDIN_FILENO : -1, .events = POLLIN },
			{ .fd = server_open ? s : -1, .events = POLLIN },
		};
		int r = poll(p, 2, guest_open ? -1 : VMRELAY_DRAIN_MS);

		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (p[0].revents) {
			r = vmrelay_pump(STDIN_FILENO, s);
			if (r < 0)
				return 1;
			guest_open = r;
		}
		if (p[1].revents) {
			r = vmrelay_pump(s, STDOUT_FILENO);
			if (r < 0)
				return 1;
			server_open = r;
		}
	}
	return 0;
}
