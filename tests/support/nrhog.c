/*
 * nrhog: a memory hog for the fault tests. Run it inside the memory cgroup under test.
 *	nrhog mem MIB      maps and touches anonymous memory 1 MiB at a time up to MIB, then
 *	                   sleeps until killed (OOM-killed, or stalled at the limit when the
 *	                   cgroup's OOM killer is disabled)
 *	nrhog sock BYTES   fills a loopback TCP connection that nobody reads (SO_RCVBUF and
 *	                   SO_SNDBUF BYTES), eating the cgroup's socket-memory budget, then sleeps
 * With a third argument FILE it creates FILE once the target is reached (or it got stuck
 * trying for 2 s on the socket).
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Like stress-ng --oomable: make sure the OOM killer picks the hog, not the process under test
 * (which may have been refused oom_score_adj -1000 for lack of CAP_SYS_RESOURCE). */
static void
be_oomable(void)
{
	int fd = open("/proc/self/oom_score_adj", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1000\n", 5) != 5)
			perror("nrhog: oom_score_adj");
		close(fd);
	}
}

static void
mark(const char *file)
{
	if (file) {
		int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			close(fd);
	}
}

__attribute__((noreturn)) static void
hog_mem(long mib, const char *file)
{
	for (long i = 0; i < mib; i++) {
		char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
		if (p == MAP_FAILED) {
			perror("nrhog: mmap");
			break;
		}
		for (int off = 0; off < (1 << 20); off += 4096)
			p[off] = (char)i;
	}
	mark(file);
	for (;;)
		pause();
}

static int
hog_sock(int bytes, const char *file)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd = socket(AF_INET, SOCK_STREAM, 0);
	static char buf[65536];

	setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
	setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0 ||
	    connect(cfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("nrhog: socket");
		return 1;
	}
	int afd = accept(lfd, NULL, NULL);  /* never read */
	(void)afd;
	fcntl(cfd, F_SETFL, O_NONBLOCK);
	memset(buf, 0x5a, sizeof(buf));
	long total = 0;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ssize_t n = write(cfd, buf, sizeof(buf));
		if (n > 0) {
			total += n;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= 2)
			break;
		usleep(10000);
	}
	fprintf(stderr, "nrhog: %ld bytes queued in the socket pair\n", total);
	mark(file);
	for (;;)
		pause();
}

int
main(int argc, char **argv)
{
	if (argc < 3) {
		fputs("usage: nrhog mem MIB [FILE] | nrhog sock BYTES [FILE]\n", stderr);
		return 1;
	}
	const char *file = argc > 3 ? argv[3] : NULL;
	be_oomable();
	if (!strcmp(argv[1], "mem"))
		hog_mem(atol(argv[2]), file);
	if (!strcmp(argv[1], "sock"))
		return hog_sock(atoi(argv[2]), file);
	return 1;
}
