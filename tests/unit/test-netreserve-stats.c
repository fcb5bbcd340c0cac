/*
 * netreserve stats files: the sweep removes exactly the stale files of dead daemons
 * ("ballast-<name>-<dead pid>" older than the age limit) and nothing else.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netreserve/stats.h"
#include "tests/unit/unit.h"

static char dir[] = "/tmp/nr-sweep-XXXXXX";

/* Creates dir/name, its modification time age_s seconds in the past. */
static void
make_file(const char *name, int age_s)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	CU_ASSERT_FATAL(fd >= 0);
	time_t t = time(NULL) - age_s;
	struct timespec ts[2] = { { .tv_sec = t }, { .tv_sec = t } };
	CU_ASSERT_EQUAL(futimens(fd, ts), 0);
	close(fd);
}

static int
exists(const char *name)
{
	char p[256];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &st) == 0;
}

static void
test_sweep(void)
{
	char dead[64], dead_new[64], alive[64], other[64], link[64], p[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	CU_ASSERT_FATAL(child > 0);
	waitpid(child, NULL, 0); /* a pid that no longer exists */

	snprintf(dead, sizeof(dead), "ballast-ballastd-%d", (int)child);
	snprintf(alive, sizeof(alive), "ballast-ballastd-%d", (int)getpid());
	snprintf(other, sizeof(other), "ballast-targetd-%d", (int)child);
	make_file(dead, 3600);
	make_file(alive, 3600);
	make_file(other, 3600);
	make_file("ballast-ballastd-12x", 3600);
	/* a fresh file of a dead daemon: a test may still read it */
	pid_t child2 = fork();
	if (child2 == 0)
		_exit(0);
	waitpid(child2, NULL, 0);
	snprintf(dead_new, sizeof(dead_new), "ballast-ballastd-%d", (int)child2);
	make_file(dead_new, 0);
	/* a symlink named like a dead daemon's file is not followed or removed */
	pid_t child3 = fork();
	if (child3 == 0)
		_exit(0);
	waitpid(child3, NULL, 0);
	snprintf(link, sizeof(link), "ballast-ballastd-%d", (int)child3);
	snprintf(p, sizeof(p), "%s/%s", dir, link);
	CU_ASSERT_EQUAL(symlink(alive, p), 0);

	CU_ASSERT_EQUAL(netreserve_stats_sweep(dir, "ballastd", 600), 1);
	CU_ASSERT_FALSE(exists(dead));
	CU_ASSERT_TRUE(exists(alive));
	CU_ASSERT_TRUE(exists(other));
	CU_ASSERT_TRUE(exists("ballast-ballastd-12x"));
	CU_ASSERT_TRUE(exists(dead_new));
	CU_ASSERT_TRUE(exists(link));
	/* age 0: the fresh one goes too */
	CU_ASSERT_EQUAL(netreserve_stats_sweep(dir, "ballastd", 0), 1);
	CU_ASSERT_FALSE(exists(dead_new));
	CU_ASSERT_EQUAL(netreserve_stats_sweep("/nonexistent-dir", "ballastd", 0), -ENOENT);

	const char *names[] = { alive, other, "ballast-ballastd-12x", link };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

static const struct unit_test tests[] = {
	{ "sweep", test_sweep },
	{ NULL, NULL },
};

static const struct unit_suite suites[] = {
	{ "netreserve-stats", tests },
	{ NULL, NULL },
};

int
main(void)
{
	return unit_run(suites);
}
