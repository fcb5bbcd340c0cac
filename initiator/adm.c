/* Entry point: not yet implemented. */
#include <config.h>

#include <stdio.h>

int
main(void)
{
	fputs("not yet implemented\n", stderr);
	return 1;
}
