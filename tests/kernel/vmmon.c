/*
 * vmmon: the guest-side monitor of the kernel tier's pressure tests. It keeps sampling, and
 * printing, in a guest so short of memory that nothing else can fork or fault: every file it
 * reads is opened before it locks itself in memory (mlockall), it reads them with pread into
 * static buffers, formats with snprintf into a static buffer and writes with write(2).
 *
 *	vmmon [--dev NAME] [--pid PID] [--interval-ms MS] [--print S] [--poke S]
 *	      [--wedge S [--wedge-exit N]]
 *
 * Every MS milliseconds (default 200) it samples /proc/meminfo (MemFree, MemAvailable, Dirty,
 * Writeback), /proc/vmstat (pswpin, pswpout, oom_kill, allocstall_*), /proc/net/netstat
 * (TcpExt PFMemallocDrop), /proc/net/snmp (Tcp RetransSegs), /sys/block/NAME/stat (completed
 * reads, writes, discards, flushes and requests in flight) and /proc/PID/stat (state).
 *
 * Stall: the time during which NAME had requests in flight and completed none. The longest
 * stall, when it happened, and how often the watched process was seen in D state are the
 * figures the tests assert on. Every S seconds (default 5) one "VMMON ..." line; on SIGTERM or
 * SIGINT a "VMMON-SUMMARY ..." line, exit 0.
 *
 * --poke S: whenever a stall reaches S seconds (again), trigger the OOM killer once through sysrq f
 * ("VMMON-POKE"). A daemon whose allocations are GFP_NOIO (PR_SET_IO_FLUSHER) never invokes the
 * OOM killer itself; if the device makes progress again after a poke, that is what it was
 * waiting for (doc/oom-safety.md). The count is in the summary.
 *
 * --wedge S: once a stall reaches S seconds the guest is declared wedged: "VMMON-WEDGED", the
 * kernel stack of every thread of --pid ("VMMON-STACK"), the console loglevel is raised and sysrq l (CPU backtraces), w (blocked tasks) and m (memory)
 * are triggered through /proc/sysrq-trigger (pre-opened), then the summary, then
 * "GUEST-EXIT N wedged" (N from --wedge-exit, default 3) for tests/kernel/run.sh, and the
 * guest is reset with sysrq b (qemu runs with -no-reboot, so that ends the VM): a wedged guest
 * cannot fork a shell to end the test, and waiting for run.sh's timeout costs minutes of CI
 * time.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define VMMON_BUF 16384

struct vmmon_sample {
	double t;
	long mem_free, mem_avail, dirty, writeback; /* kB */
	long pswpin, pswpout, oom_kill, allocstall;
	long pfmemalloc_drop, retrans;
	long dev_ios, dev_inflight;
	char state; /* of --pid; 0 = not watched, '-' = gone */
};

static char vmmon_buf[VMMON_BUF];
static char vmmon_dents[8192];
static char vmmon_out[1024];
static volatile sig_atomic_t vmmon_stop;

static void
vmmon_on_signal(int sig)
{
	(void)sig;
	vmmon_stop = 1;
}

static double
vmmon_uptime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((format(printf, 1, 2))) static void
vmmon_say(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(vmmon_out, sizeof(vmmon_out) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(vmmon_out) - 2)
		n = (int)sizeof(vmmon_out) - 2;
	vmmon_out[n++] = '\n';
	if (write(STDOUT_FILENO, vmmon_out, (size_t)n) < 0)
		return;
}

/* Read all of fd (a proc or sysfs file) from offset 0 into vmmon_buf; NULL on failure. */
static const char *
vmmon_read(int fd)
{
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = pread(fd, vmmon_buf, sizeof(vmmon_buf) - 1, 0);
	if (n < 0)
		return NULL;
	vmmon_buf[n] = '\0';
	return vmmon_buf;
}

/* The number after "KEY" at the start of a line ("KEY:" in meminfo, "KEY " in vmstat). */
static long
vmmon_field(const char *text, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, key, kl) && (p[kl] == ':' || p[kl] == ' '))
			return strtol(p + kl + 1, NULL, 10);
	}
	return -1;
}

/*
 * /proc/net/netstat and /proc/net/snmp: pairs of lines "Prefix: name name ..." and
 * "Prefix: value value ...". The value of NAME in the PREFIX table.
 */
static long
vmmon_table(const char *text, const char *prefix, const char *name)
{
	size_t pl = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *vals, *h, *v;
		int col = -1, i = 0;

		if (strncmp(p, prefix, pl) || p[pl] != ':')
			continue;
		vals = strchr(p, '\n');
		if (!vals || strncmp(vals + 1, prefix, pl))
			return -1;
		vals++;
		/* find the column of name in the header line */
		for (h = p + pl + 1; *h && *h != '\n'; i++) {
			size_t nl;

			while (*h == ' ')
				h++;
			nl = strcspn(h, " \n");
			if (nl == strlen(name) && !strncmp(h, name, nl)) {
				col = i;
				break;
			}
			h += nl;
		}
		if (col < 0)
			return -1;
		v = vals + pl + 1;
		for (i = 0; i < col; i++) {
			while (*v == ' ')
				v++;
			v += strcspn(v, " \n");
		}
		return strtol(v, NULL, 10);
	}
	return -1;
}

/*
 * Print the kernel stack of every thread of the watched process (/proc/PID/task/TID/stack),
 * its name and state: where the daemon is when the device stalls. task_fd is an O_DIRECTORY
 * descriptor of /proc/PID/task opened at startup; getdents64 fills a static buffer.
 */
static void
vmmon_stacks(int task_fd)
{
	long n;

	if (task_fd < 0 || lseek(task_fd, 0, SEEK_SET) < 0)
		return;
	while ((n = syscall(SYS_getdents64, task_fd, vmmon_dents, sizeof(vmmon_dents))) > 0) {
		for (long off = 0; off < n;) {
			/* struct linux_dirent64: ino 8, off 8, reclen 2, type 1, name */
			unsigned short reclen;
			const char *name = vmmon_dents + off + 19;
			char rel[64], comm[64] = "?";
			const char *st;
			int fd;

			memcpy(&reclen, vmmon_dents + off + 16, sizeof(reclen));
			off += reclen;
			if (name[0] < '0' || name[0] > '9')
				continue;
			snprintf(rel, sizeof(rel), "%s/comm", name);
			fd = openat(task_fd, rel, O_RDONLY | O_CLOEXEC);
			if (fd >= 0 && (st = vmmon_read(fd)))
				snprintf(comm, sizeof(comm), "%.*s", (int)strcspn(st, "\n"), st);
			if (fd >= 0)
				close(fd);
			snprintf(rel, sizeof(rel), "%s/stat", name);
			fd = openat(task_fd, rel, O_RDONLY | O_CLOEXEC);
			st = fd >= 0 ? vmmon_read(fd) : NULL;
			st = st ? strrchr(st, ')') : NULL;
			vmmon_say("VMMON-STACK tid %s (%s) state %c:", name, comm,
				  st && st[1] == ' ' ? st[2] : '?');
			if (fd >= 0)
				close(fd);
			snprintf(rel, sizeof(rel), "%s/stack", name);
			fd = openat(task_fd, rel, O_RDONLY | O_CLOEXEC);
			if (fd >= 0 && (st = vmmon_read(fd)) && write(STDOUT_FILENO, st, strlen(st)) < 0)
				break;
			if (fd >= 0)
				close(fd);
		}
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "pid", required_argument, NULL, 'p' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "print", required_argument, NULL, 'P' },
		{ "wedge", required_argument, NULL, 'w' },
		{ "wedge-exit", required_argument, NULL, 'x' },
		{ "poke", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dev = NULL;
	long pid = 0, interval_ms = 200, print_s = 5, wedge_s = 0, wedge_exit = 3, poke_s = 0, pokes = 0;
	double last_poke = 0;
	int fd_mem, fd_vm, fd_net, fd_snmp, fd_dev = -1, fd_pid = -1, fd_task = -1, fd_sysrq, c;
	char path[256];
	struct vmmon_sample s, first;
	double last_progress, last_print, max_stall = 0, max_stall_at = 0, pid_gone_at = 0;
	long last_ios = -1, min_free = -1, max_dirty = 0, max_wb = 0, d_samples = 0, samples = 0;
	struct sigaction sa;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'p': pid = strtol(optarg, NULL, 10); break;
		case 'i': interval_ms = strtol(optarg, NULL, 10); break;
		case 'P': print_s = strtol(optarg, NULL, 10); break;
		case 'w': wedge_s = strtol(optarg, NULL, 10); break;
		case 'x': wedge_exit = strtol(optarg, NULL, 10); break;
		case 'k': poke_s = strtol(optarg, NULL, 10); break;
		default:
			fputs("usage: vmmon [--dev NAME] [--pid PID] [--interval-ms MS] [--print S]"
			      " [--poke S] [--wedge S [--wedge-exit N]]\n",
			      stderr);
			return 2;
		}
	}
	if (interval_ms <= 0 || print_s <= 0)
		return 2;
	/* --wedge resets the machine, --poke kills: only in a kernel-tier guest (run.sh's cmdline). */
	if (wedge_s > 0 || poke_s > 0) {
		int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
		const char *cmdline = fd >= 0 ? vmmon_read(fd) : NULL;

		if (fd >= 0)
			close(fd);
		if (!cmdline || !strstr(cmdline, "ballast.hung=")) {
			fputs("vmmon: --wedge/--poke only in a kernel-tier guest (no ballast.hung= on the"
			      " kernel command line)\n",
			      stderr);
			return 2;
		}
	}

	fd_mem = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	fd_vm = open("/proc/vmstat", O_RDONLY | O_CLOEXEC);
	fd_net = open("/proc/net/netstat", O_RDONLY | O_CLOEXEC);
	fd_snmp = open("/proc/net/snmp", O_RDONLY | O_CLOEXEC);
	fd_sysrq = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
	if (dev) {
		snprintf(path, sizeof(path), "/sys/block/%s/stat", dev);
		fd_dev = open(path, O_RDONLY | O_CLOEXEC);
		if (fd_dev < 0) {
			fprintf(stderr, "vmmon: %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	if (pid > 0) {
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		fd_pid = open(path, O_RDONLY | O_CLOEXEC);
		if (fd_pid < 0) {
			fprintf(stderr, "vmmon: %s: %s\n", path, strerror(errno));
			return 1;
		}
		snprintf(path, sizeof(path), "/proc/%ld/task", pid);
		fd_task = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd_mem < 0 || fd_vm < 0)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vmmon_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* Never the OOM killer's choice, never paged out: it must report a wedged guest. */
	{
		int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

		if (fd >= 0) {
			if (write(fd, "-1000\n", 6) < 0)
				perror("vmmon: oom_score_adj");
			close(fd);
		}
	}
	if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
		perror("vmmon: mlockall");

	memset(&first, 0, sizeof(first));
	memset(&s, 0, sizeof(s));
	last_progress = last_print = vmmon_uptime();
	for (bool have_first = false; !vmmon_stop; have_first = true) {
		const char *t;

		memset(&s, 0, sizeof(s));
		s.t = vmmon_uptime();
		if ((t = vmmon_read(fd_mem))) {
			s.mem_free = vmmon_field(t, "MemFree");
			s.mem_avail = vmmon_field(t, "MemAvailable");
			s.dirty = vmmon_field(t, "Dirty");
			s.writeback = vmmon_field(t, "Writeback");
		}
		if ((t = vmmon_read(fd_vm))) {
			s.pswpin = vmmon_field(t, "pswpin");
			s.pswpout = vmmon_field(t, "pswpout");
			s.oom_kill = vmmon_field(t, "oom_kill");
			s.allocstall = vmmon_field(t, "allocstall_normal") +
				       vmmon_field(t, "allocstall_movable");
		}
		s.pfmemalloc_drop = (t = vmmon_read(fd_net)) ?
					    vmmon_table(t, "TcpExt", "PFMemallocDrop") : -1;
		s.retrans = (t = vmmon_read(fd_snmp)) ? vmmon_table(t, "Tcp", "RetransSegs") : -1;
		s.dev_ios = -1;
		if ((t = vmmon_read(fd_dev))) {
			long f[17] = { 0 };
			int nf = 0;
			char *e;

			for (const char *p = t; nf < 17; p = e) {
				f[nf] = strtol(p, &e, 10);
				if (e == p)
					break;
				nf++;
			}
			/* fields: 1 reads, 5 writes, 9 in flight, 12 discards, 16 flushes */
			s.dev_ios = f[0] + f[4] + (nf > 11 ? f[11] : 0) + (nf > 15 ? f[15] : 0);
			s.dev_inflight = f[8];
		}
		if (fd_pid >= 0) {
			t = vmmon_read(fd_pid);
			const char *rp = t ? strrchr(t, ')') : NULL;

			s.state = rp && rp[1] == ' ' ? rp[2] : '-';
			if (s.state == 'D')
				d_samples++;
			if (s.state == '-' && pid_gone_at == 0) {
				pid_gone_at = s.t;
				vmmon_say("VMMON t=%.1f pid %ld is gone", s.t, pid);
			}
		}
		if (!have_first)
			first = s;
		samples++;

		/* progress: a completion, or nothing in flight */
		if (s.dev_ios != last_ios || s.dev_inflight == 0) {
			last_ios = s.dev_ios;
			last_progress = s.t;
		} else if (s.t - last_progress > max_stall) {
			max_stall = s.t - last_progress;
			max_stall_at = last_progress;
		}
		if (min_free < 0 || s.mem_free < min_free)
			min_free = s.mem_free;
		if (s.dirty > max_dirty)
			max_dirty = s.dirty;
		if (s.writeback > max_wb)
			max_wb = s.writeback;

		if (s.t - last_print >= (double)print_s) {
			last_print = s.t;
			vmmon_say("VMMON t=%.1f free=%ldk avail=%ldk dirty=%ldk wb=%ldk pswpout=%ld "
				  "pswpin=%ld oom_kill=%ld allocstall=%ld pfmdrop=%ld retrans=%ld "
				  "dev_ios=%ld inflight=%ld stall=%.1fs pid=%c",
				  s.t, s.mem_free, s.mem_avail, s.dirty, s.writeback,
				  s.pswpout - first.pswpout, s.pswpin - first.pswpin, s.oom_kill,
				  s.allocstall - first.allocstall, s.pfmemalloc_drop, s.retrans,
				  s.dev_ios, s.dev_inflight, s.t - last_progress,
				  s.state ? s.state : '.');
		}
		if (poke_s > 0 && s.t - last_progress >= (double)poke_s &&
		    s.t - last_poke >= (double)poke_s && fd_sysrq >= 0) {
			last_poke = s.t;
			pokes++;
			vmmon_say("VMMON-POKE %ld t=%.1f: no completion for %.1f s, %ld in flight, "
				  "free=%ldk: OOM killer via sysrq f",
				  pokes, s.t, s.t - last_progress, s.dev_inflight, s.mem_free);
			if (write(fd_sysrq, "f", 1) < 0)
				vmmon_say("VMMON-POKE failed: %s", strerror(errno));
		}
		if (wedge_s > 0 && s.t - last_progress >= (double)wedge_s)
			break;
		usleep((useconds_t)interval_ms * 1000);
	}

	bool wedged = !vmmon_stop;

	if (wedged) {
		vmmon_say("VMMON-WEDGED t=%.1f: %s had %ld requests in flight and completed none "
			  "for %.1f s; stacks of pid %ld and sysrq l w m follow",
			  s.t, dev ? dev : "?", s.dev_inflight, s.t - last_progress, pid);
		vmmon_stacks(fd_task);
		if (fd_sysrq >= 0) {
			static const char keys[] = "9lwm";

			for (size_t i = 0; i < sizeof(keys) - 1; i++) {
				if (write(fd_sysrq, &keys[i], 1) < 0)
					break;
				sleep(1);
			}
		}
	}
	vmmon_say("VMMON-SUMMARY samples=%ld secs=%.1f max_stall=%.1fs max_stall_at=%.1f "
		  "min_free=%ldk max_dirty=%ldk max_wb=%ldk oom_kill=%ld pswpout=%ld pswpin=%ld "
		  "allocstall=%ld pfmdrop=%ld retrans=%ld pid_D_samples=%ld pid_gone=%s pokes=%ld "
		  "wedged=%d",
		  samples, s.t - first.t, max_stall, max_stall_at, min_free, max_dirty, max_wb,
		  s.oom_kill - first.oom_kill, s.pswpout - first.pswpout, s.pswpin - first.pswpin,
		  s.allocstall - first.allocstall, s.pfmemalloc_drop, s.retrans, d_samples,
		  pid_gone_at > 0 ? "yes" : "no", pokes, wedged);
	if (wedged) {
		vmmon_say("GUEST-EXIT %ld wedged uptime=%.1f", wedge_exit, vmmon_uptime());
		sleep(1);
		/*
		 * sysrq b: emergency restart, no device shutdown (a clean power-off can itself
		 * hang in a starved guest: seen with swap on nbd0); qemu runs with -no-reboot,
		 * so the restart ends it.
		 */
		if (fd_sysrq < 0 || write(fd_sysrq, "b", 1) < 0)
			reboot(RB_POWER_OFF);
		sleep(5);
		reboot(RB_POWER_OFF);
		return (int)wedge_exit;
	}
	return 0;
}
