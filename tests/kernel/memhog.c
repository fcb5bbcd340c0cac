/*
 * memhog: the memory hog of the kernel tier's pressure tests, run in the guest.
 *
 *	memhog --mib N [--step MIB] [--verify]
 *		maps and touches N MiB of anonymous memory, STEP MiB at a time (default 16), every
 *		page stamped with its index; with --verify reads every page back once and checks
 *		the stamps (with swap on, that is the swap-in half). Exit 0 when all of it was
 *		touched (and verified), 1 on a wrong stamp, 2 on a usage error or a failed mmap.
 *	memhog --fill --keep-free MIB [--once] [--step MIB] [--seconds S]
 *		grows STEP MiB at a time whenever MemAvailable is above MIB, i.e. keeps the guest
 *		at its limit: every page the writer's writeback frees is taken again. With --once
 *		it stops growing the first time MemAvailable is down to MIB and holds what it has.
 *		Stops after S seconds (default: until killed) and exits 0.
 *
 * Progress goes to stdout, one line per 64 MiB ("memhog: 128 MiB t=1.4s") and at the end
 * ("MEMHOG-DONE ..."). SIGTERM during the read-back (busybox timeout) prints how far it got
 * ("MEMHOG-STOPPED ...") and exits 3. The hog makes itself the OOM killer's first choice
 * (oom_score_adj 1000): the daemons under test must not be picked instead. Guest helper only:
 * it allocates freely and never frees.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEMHOG_PAGE 4096
#define MEMHOG_MIB (1024 * 1024)
#define MEMHOG_MAGIC UINT64_C(0x6d656d686f670000)
#define MEMHOG_REPORT_MIB 64

static volatile sig_atomic_t memhog_stop;

static void
memhog_on_signal(int sig)
{
	(void)sig;
	memhog_stop = 1;
}

static double
memhog_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
memhog_oomable(void)
{
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, "1000\n", 5) != 5)
		perror("memhog: oom_score_adj");
	close(fd);
}

/* MemAvailable in MiB from /proc/meminfo, or -1 when it cannot be read. */
static long
memhog_available_mib(void)
{
	char buf[4096];
	int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	const char *p;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "MemAvailable:");
	if (!p)
		return -1;
	return strtol(p + 13, NULL, 10) / 1024;
}

/* Map and touch one chunk of MIB MiB; page number base + i gets stamp base + i. */
static uint8_t *
memhog_chunk(long mib, uint64_t base)
{
	size_t len = (size_t)mib * MEMHOG_MIB;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	for (size_t off = 0; off < len; off += MEMHOG_PAGE) {
		uint64_t stamp = MEMHOG_MAGIC ^ (base + off / MEMHOG_PAGE);

		/* Two words per page: the first and the last, so a torn page shows. */
		memcpy(p + off, &stamp, sizeof(stamp));
		memcpy(p + off + MEMHOG_PAGE - sizeof(stamp), &stamp, sizeof(stamp));
	}
	return p;
}

static void
memhog_usage(void)
{
	fputs("usage: memhog --mib N [--step MIB] [--verify]\n"
	      "       memhog --fill --keep-free MIB [--once] [--step MIB] [--seconds S]\n",
	      stderr);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "step", required_argument, NULL, 's' },
		{ "verify", no_argument, NULL, 'v' },
		{ "fill", no_argument, NULL, 'f' },
		{ "keep-free", required_argument, NULL, 'k' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "once", no_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	long mib = 0, step = 16, keep_free = -1, seconds = 0, done = 0, reported = 0;
	bool verify = false, fill = false, once = false, full = false;
	uint8_t **chunks;
	long nchunks = 0, maxchunks;
	double t0;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm': mib = strtol(optarg, NULL, 10); break;
		case 's': step = strtol(optarg, NULL, 10); break;
		case 'v': verify = true; break;
		case 'f': fill = true; break;
		case 'k': keep_free = strtol(optarg, NULL, 10); break;
		case 'S': seconds = strtol(optarg, NULL, 10); break;
		case 'o': once = true; break;
		default: memhog_usage(); return 2;
		}
	}
	if (step <= 0 || (fill ? keep_free < 0 : mib <= 0) || optind != argc) {
		memhog_usage();
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	memhog_oomable();
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = memhog_on_signal;
		sigaction(SIGTERM, &sa, NULL);
	}
	/* Fill mode may grow up to all of RAM: size the table for 64 GiB of chunks. */
	maxchunks = fill ? 65536 / step + 1 : mib / step + 2;
	chunks = calloc((size_t)maxchunks, sizeof(*chunks));
	if (!chunks)
		return 2;
	t0 = memhog_now();

	if (fill) {
		for (;;) {
			double t = memhog_now() - t0;
			long avail;

			if (memhog_stop || (seconds > 0 && t >= (double)seconds))
				break;
			avail = memhog_available_mib();
			if (full || (avail >= 0 && avail <= keep_free + step)) {
				if (once && !full)
					printf("memhog: holding %ld MiB t=%.1fs avail=%ld MiB\n", done, t,
					       avail);
				full = once;
				usleep(20000);
				continue;
			}
			if (nchunks == maxchunks)
				break;
			chunks[nchunks] = memhog_chunk(step, (uint64_t)done * (MEMHOG_MIB / MEMHOG_PAGE));
			if (!chunks[nchunks]) {
				usleep(20000);
				continue;
			}
			nchunks++;
			done += step;
			if (done - reported >= MEMHOG_REPORT_MIB) {
				reported = done;
				printf("memhog: %ld MiB t=%.1fs avail=%ld MiB\n", done, t, avail);
			}
		}
		printf("MEMHOG-DONE fill held=%ld MiB elapsed=%.1fs\n", done, memhog_now() - t0);
		return 0;
	}

	while (done < mib) {
		long n = mib - done < step ? mib - done : step;

		if (memhog_stop) {
			printf("MEMHOG-STOPPED mib=%ld touched=%ld MiB after %.1fs\n", mib, done,
			       memhog_now() - t0);
			return 3;
		}
		chunks[nchunks] = memhog_chunk(n, (uint64_t)done * (MEMHOG_MIB / MEMHOG_PAGE));
		if (!chunks[nchunks]) {
			printf("memhog: mmap of %ld MiB failed after %ld MiB: %s\n", n, done,
			       strerror(errno));
			return 2;
		}
		nchunks++;
		done += n;
		if (done - reported >= MEMHOG_REPORT_MIB || done == mib) {
			reported = done;
			printf("memhog: %ld MiB t=%.1fs\n", done, memhog_now() - t0);
		}
	}
	double touched = memhog_now() - t0;
	long bad = 0;

	if (verify) {
		uint64_t page = 0;

		for (long i = 0; i < nchunks; i++) {
			if (memhog_stop) {
				printf("MEMHOG-STOPPED mib=%ld touch=%.1fs verified=%ld MiB bad_pages=%ld "
				       "after %.1fs\n",
				       mib, touched, i * step, bad, memhog_now() - t0);
				return 3;
			}
			long n = (i + 1) * step <= mib ? step : mib - i * step;

			for (size_t off = 0; off < (size_t)n * MEMHOG_MIB; off += MEMHOG_PAGE) {
				uint64_t want = MEMHOG_MAGIC ^ page++, a, b;

				memcpy(&a, chunks[i] + off, sizeof(a));
				memcpy(&b, chunks[i] + off + MEMHOG_PAGE - sizeof(b), sizeof(b));
				if (a != want || b != want)
					bad++;
			}
			if ((i + 1) * step % 128 == 0)
				printf("memhog: verified %ld MiB t=%.1fs bad_pages=%ld\n", (i + 1) * step,
				       memhog_now() - t0, bad);
		}
	}
	printf("MEMHOG-DONE mib=%ld touch=%.1fs total=%.1fs verify=%s bad_pages=%ld\n", mib, touched,
	       memhog_now() - t0, verify ? "yes" : "no", bad);
	return bad ? 1 : 0;
}
