/*
 * netreserve statistics region: writer (create, claim, app counters) and reader (map,
 * lookup). All control plane except the counters themselves, which the datapath bumps in place.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/compiler.h"
#include "netreserve/stats.h"

struct field {
	const char *name;
	size_t off;
};

#define RF(n) { #n, offsetof(struct netreserve_ring_stats, n) }
static const struct field ring_fields[] = {
	RF(loops), RF(enters), RF(sqes), RF(cqes), RF(cq_overflow), RF(cq_overflow_flag),
	RF(stale_cqes), RF(unknown_cqes), RF(sq_full), RF(sqe_fail), RF(conns_attached),
	RF(conns_closed), RF(conns_active), RF(attach_fail), RF(sock_reserve_ok),
	RF(sock_reserve_eopnotsupp), RF(sock_reserve_err), RF(sock_reserve_errno),
	RF(sockopt_err), RF(sockopt_errno), RF(wakeups), RF(rx_bytes), RF(tx_bytes),
	RF(rx_enobufs), RF(rx_rearm), RF(tx_errors), RF(zc_sends), RF(zc_copied),
	RF(tx_nomem), RF(rx_nomem),
};
#undef RF

#define CF(n) { #n, offsetof(struct netreserve_conn_stats, n) }
static const struct field conn_fields[] = {
	CF(gen), CF(state), CF(rx_bytes), CF(rx_chunks), CF(rx_enobufs), CF(rx_rearm),
	CF(rx_paused), CF(rx_held_max), CF(tx_bytes), CF(tx_reqs), CF(tx_sqes), CF(tx_partial),
	CF(tx_errors), CF(tx_queued_max), CF(zc_sends), CF(zc_copied), CF(sock_reserve),
	CF(sndbuf), CF(rcvbuf), CF(close_err), CF(tx_nomem), CF(rx_nomem),
};
#undef CF

int
netreserve_stats_path(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "/dev/shm/ballast-%s-%ld", name ? name : "nr", (long)getpid());
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return n;
}

int
netreserve_stats_sweep(const char *dir, const char *name, unsigned int min_age_s)
{
	char prefix[64];
	int plen = snprintf(prefix, sizeof(prefix), "ballast-%s-", name ? name : "nr");
	if (plen < 0 || (size_t)plen >= sizeof(prefix))
		return -ENAMETOOLONG;
	if (!dir)
		dir = "/dev/shm";
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		int err = -errno;
		close(dfd);
		return err;
	}
	int removed = 0;
	time_t now = time(NULL);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, (size_t)plen) != 0)
			continue;
		char *end;
		errno = 0;
		long pid = strtol(e->d_name + plen, &end, 10);
		if (errno || *end || end == e->d_name + plen || pid <= 0 || pid > INT32_MAX)
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue; /* alive (or not ours to judge) */
		struct stat st;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (now - st.st_mtime < (time_t)min_age_s)
			continue;
		if (unlinkat(dfd, e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

static size_t
region_len(uint32_t max_rings, uint32_t max_conns)
{
	size_t n = sizeof(struct netreserve_stats_hdr) +
		   (size_t)max_rings * sizeof(struct netreserve_ring_stats) +
		   (size_t)max_conns * sizeof(struct netreserve_conn_stats);
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	return (n + pg - 1) & ~(pg - 1);
}

int
netreserve_stats_create(struct netreserve_stats_region *st, const char *path, const char *name,
			uint32_t max_rings, uint32_t max_conns)
{
	memset(st, 0, sizeof(*st));
	if (max_rings > 1024 || max_conns > (1u << 20))
		return -EINVAL;
	size_t len = region_len(max_rings, max_conns);
	int fd = -1;
	void *map;

	if (path) {
		if (strlen(path) >= sizeof(st->path))
			return -ENAMETOOLONG;
		/* The daemon runs as root and the conventional path is a predictable name in the
		 * world-writable /dev/shm: never follow a symlink planted there (O_TRUNC would
		 * empty whatever it points to). */
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0)
			return -errno;
		/* fallocate, not just ftruncate: tmpfs pages must exist before the datapath runs.
		 * posix_fallocate() returns its error instead of setting errno. */
		int err = ftruncate(fd, (off_t)len) < 0 ? -errno : -posix_fallocate(fd, 0, (off_t)len);
		if (err) {
			close(fd);
			unlink(path);
			return err;
		}
		map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	} else {
		map = mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	}
	if (map == MAP_FAILED) {
		int err = -errno;
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return err;
	}
	if (fd >= 0)
		close(fd);
	memset(map, 0, len);
	(void)mlock(map, len);  /* refusal: mlockall is the primary lock */

	st->hdr = map;
	st->len = len;
	st->rings = (struct netreserve_ring_stats *)((char *)map + sizeof(struct netreserve_stats_hdr));
	st->conns = (struct netreserve_conn_stats *)(st->rings + max_rings);
	if (path)
		snprintf(st->path, sizeof(st->path), "%s", path);

	struct netreserve_stats_hdr *h = st->hdr;
	h->version = 1;
	h->hdr_size = sizeof(*h);
	h->ring_size = sizeof(struct netreserve_ring_stats);
	h->conn_size = sizeof(struct netreserve_conn_stats);
	h->max_rings = max_rings;
	h->max_conns = max_conns;
	h->pid = (int32_t)getpid();
	if (name)
		snprintf(h->name, sizeof(h->name), "%s", name);
	/* magic last: a reader that sees it sees a complete header */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(h->magic, NETRESERVE_STATS_MAGIC, sizeof(h->magic));
	return 0;
}

void
netreserve_stats_destroy(struct netreserve_stats_region *st)
{
	if (st->hdr)
		munmap(st->hdr, st->len);
	if (st->path[0])
		unlink(st->path);
	memset(st, 0, sizeof(*st));
}

/* Each datapath thread creates its own ring (ring.h), so claims can race. */
static pthread_mutex_t claim_lock = PTHREAD_MUTEX_INITIALIZER;

int
netreserve_stats_claim(struct netreserve_stats_region *st, uint32_t nconns,
		       struct netreserve_ring_stats **ring, struct netreserve_conn_stats **conns)
{
	struct netreserve_stats_hdr *h = st->hdr;
	int ret = -ENOSPC;

	if (!h)
		return -ENOSPC;
	pthread_mutex_lock(&claim_lock);
	if (h->rings_used < h->max_rings && nconns <= h->max_conns - h->conns_used) {
		*ring = &st->rings[h->rings_used];
		*conns = &st->conns[h->conns_used];
		/* readers load these live: publish whole words */
		__atomic_store_n(&h->rings_used, h->rings_used + 1, __ATOMIC_RELEASE);
		__atomic_store_n(&h->conns_used, h->conns_used + nconns, __ATOMIC_RELEASE);
		ret = 0;
	}
	pthread_mutex_unlock(&claim_lock);
	return ret;
}

uint64_t *
netreserve_stats_app(struct netreserve_stats_region *st, unsigned int i, const char *name)
{
	if (!st->hdr || i >= NETRESERVE_STATS_APP_MAX)
		return NULL;
	if (name)
		snprintf(st->hdr->app_name[i], sizeof(st->hdr->app_name[i]), "%s", name);
	return &st->hdr->app[i];
}

int
netreserve_stats_map(const char *path, struct netreserve_stats_view *v)
{
	memset(v, 0, sizeof(*v));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	if ((size_t)sb.st_size < sizeof(struct netreserve_stats_hdr)) {
		close(fd);
		return -EINVAL;
	}
	void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	int err = map == MAP_FAILED ? -errno : 0;
	close(fd);
	if (err)
		return err;
	const struct netreserve_stats_hdr *h = map;
	if (memcmp(h->magic, NETRESERVE_STATS_MAGIC, sizeof(h->magic)) || h->version != 1 ||
	    h->hdr_size != sizeof(*h) || h->ring_size != sizeof(struct netreserve_ring_stats) ||
	    h->conn_size != sizeof(struct netreserve_conn_stats) ||
	    region_len(h->max_rings, h->max_conns) > (size_t)sb.st_size) {
		munmap(map, (size_t)sb.st_size);
		return -EPROTO;
	}
	v->hdr = h;
	v->len = (size_t)sb.st_size;
	v->rings = (const char *)map + h->hdr_size;
	v->conns = (const char *)v->rings + (size_t)h->max_rings * h->ring_size;
	return 0;
}

void
netreserve_stats_unmap(struct netreserve_stats_view *v)
{
	if (v->hdr)
		munmap((void *)v->hdr, v->len);
	memset(v, 0, sizeof(*v));
}

/*
 * The used counts are written live by another process (and the file could be anything a
 * reader is pointed at): only max_rings/max_conns were checked against the mapping, so never
 * walk past them.
 */
static uint32_t
view_rings_used(const struct netreserve_stats_hdr *h)
{
	uint32_t n = __atomic_load_n(&h->rings_used, __ATOMIC_RELAXED);
	return MIN(n, h->max_rings);
}

static uint32_t
view_conns_used(const struct netreserve_stats_hdr *h)
{
	uint32_t n = __atomic_load_n(&h->conns_used, __ATOMIC_RELAXED);
	return MIN(n, h->max_conns);
}

static int
find_field(const struct field *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(f[i].name, name))
			return (int)i;
	return -1;
}

static uint64_t
load(const void *base, size_t off)
{
	return __atomic_load_n((const uint64_t *)((const char *)base + off), __ATOMIC_RELAXED);
}

int
netreserve_stats_lookup(const struct netreserve_stats_view *v, const char *name, uint64_t *out)
{
	const struct netreserve_stats_hdr *h = v->hdr;
	unsigned long idx;
	char *end;
	int f;

	if (!strcmp(name, "ready")) {
		*out = __atomic_load_n(&h->ready, __ATOMIC_RELAXED);
		return 0;
	}
	if (!strcmp(name, "pid")) {
		*out = (uint64_t)h->pid;
		return 0;
	}
	if (!strncmp(name, "app.", 4)) {
		for (int i = 0; i < NETRESERVE_STATS_APP_MAX; i++)
			if (h->app_name[i][0] && !strncmp(h->app_name[i], name + 4, sizeof(h->app_name[i]))) {
				*out = load(h->app, (size_t)i * sizeof(uint64_t));
				return 0;
			}
		return -ENOENT;
	}
	if (!strncmp(name, "sum.", 4)) {
		f = find_field(conn_fields, ARRAY_SIZE(conn_fields), name + 4);
		if (f < 0)
			return -ENOENT;
		uint64_t sum = 0;
		uint32_t used = view_conns_used(h);
		for (uint32_t i = 0; i < used; i++)
			sum += load((const char *)v->conns + (size_t)i * h->conn_size, conn_fields[f].off);
		*out = sum;
		return 0;
	}
	bool ring = !strncmp(name, "ring", 4);
	if (!ring && strncmp(name, "conn", 4))
		return -ENOENT;
	idx = strtoul(name + 4, &end, 10);
	if (end == name + 4 || *end != '.')
		return -ENOENT;
	if (ring) {
		f = find_field(ring_fields, ARRAY_SIZE(ring_fields), end + 1);
		if (f < 0 || idx >= h->max_rings)
			return -ENOENT;
		*out = load((const char *)v->rings + idx * h->ring_size, ring_fields[f].off);
	} else {
		f = find_field(conn_fields, ARRAY_SIZE(conn_fields), end + 1);
		if (f < 0 || idx >= h->max_conns)
			return -ENOENT;
		*out = load((const char *)v->conns + idx * h->conn_size, conn_fields[f].off);
	}
	return 0;
}

void
netreserve_stats_foreach(const struct netreserve_stats_view *v,
			 void (*fn)(const char *name, uint64_t value, void *arg), void *arg)
{
	const struct netreserve_stats_hdr *h = v->hdr;
	char name[64];

	fn("pid", (uint64_t)h->pid, arg);
	fn("ready", h->ready, arg);
	uint32_t rings_used = view_rings_used(h), conns_used = view_conns_used(h);
	for (uint32_t r = 0; r < rings_used; r++)
		for (size_t i = 0; i < ARRAY_SIZE(ring_fields); i++) {
			snprintf(name, sizeof(name), "ring%u.%s", r, ring_fields[i].name);
			fn(name, load((const char *)v->rings + r * h->ring_size, ring_fields[i].off),
			   arg);
		}
	for (uint32_t c = 0; c < conns_used; c++)
		for (size_t i = 0; i < ARRAY_SIZE(conn_fields); i++) {
			snprintf(name, sizeof(name), "conn%u.%s", c, conn_fields[i].name);
			fn(name, load((const char *)v->conns + c * h->conn_size, conn_fields[i].off),
			   arg);
		}
	for (int i = 0; i < NETRESERVE_STATS_APP_MAX; i++)
		if (h->app_name[i][0]) {
			snprintf(name, sizeof(name), "app.%.24s", h->app_name[i]);
			fn(name, load(h->app, (size_t)i * sizeof(uint64_t)), arg);
		}
}
