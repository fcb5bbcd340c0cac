/*
 * nrstat: reads a netreserve stats file (read-only mapping, no cooperation from the process
 * that writes it, which may sit in a memory cgroup at its limit).
 *	nrstat PATH            every counter, "name value" per line
 *	nrstat PATH NAME...    the named counters' values, one per line (exit 2 if one is unknown)
 * Exit 1 when the file cannot be mapped or is not a stats file.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "netreserve/stats.h"

static void
print_one(const char *name, uint64_t value, void *arg)
{
	(void)arg;
	printf("%s %" PRIu64 "\n", name, value);
}

int
main(int argc, char **argv)
{
	struct netreserve_stats_view v;
	int ret = 0;

	if (argc < 2) {
		fputs("usage: nrstat PATH [NAME...]\n", stderr);
		return 1;
	}
	int err = netreserve_stats_map(argv[1], &v);
	if (err < 0) {
		fprintf(stderr, "nrstat: %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	if (argc == 2)
		netreserve_stats_foreach(&v, print_one, NULL);
	for (int i = 2; i < argc; i++) {
		uint64_t val;
		if (netreserve_stats_lookup(&v, argv[i], &val) < 0) {
			fprintf(stderr, "nrstat: unknown counter %s\n", argv[i]);
			ret = 2;
			continue;
		}
		printf("%" PRIu64 "\n", val);
	}
	netreserve_stats_unmap(&v);
	return ret;
}
